// Captures (HAProxy 2.6): `capture request|response header <name> len <n>`, `capture cookie
// <prefix> len <n>`, `declare capture request|response len <n>`, and the slots `http-request
// capture <sample> len <n>` adds. Each frontend has its request and its response slots, numbered
// in declaration order per direction; the access log prints them (%hr %hs %hrl %hsl, %CC %CS).
// HAProxy's messages are kept, as the configurations that reach them were written for it.
#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

namespace {

// HAProxy's tune.http.cookielen: a cookie capture keeps at most this much
constexpr int kCookieLen = 63;
// slots a direction (the access log shows this many)
constexpr std::size_t kMaxSlots = 64;

// `len <n>` of a capture: a positive integer (HAProxy takes anything atol reads; 0 or less would
// capture nothing, or worse)
int capture_len(const Line& line, std::size_t i, const std::string& kw) {
    const auto n = parse_integer(line.words[i]);
    if (!n || *n <= 0 || *n > 65535)
        fail(line.at, squote(kw) + ": the capture length must be an integer from 1 to 65535, got " +
                          squote(line.words[i]));
    return int(*n);
}

}  // namespace

void kw_capture(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::string sub = line.words.size() > 1 ? line.words[1] : "";
    if (sub == "cookie") {
        if (is_defaults(px)) fail(line.at, "'capture cookie' not allowed in 'defaults' section.");
        if (line.words.size() < 5 || line.words[3] != "len")
            fail(line.at, "'capture' expects 'cookie' <cookie_name> 'len' <len>.");
        if (line.words.size() > 5)
            fail(line.at, "'capture cookie' cannot handle unexpected argument " + squote(line.words[5]) + ".");
        int len = capture_len(line, 4, "capture cookie");
        if (!has_fe(px)) {
            st.warn(line.at, "'capture' ignored because backend " + squote(px.name) + " has no frontend capability.");
            return;
        }
        if (len > kCookieLen) {
            st.warn(line.at, "truncating capture length to " + std::to_string(kCookieLen) + " bytes for frontend " +
                                 squote(px.name) + ".");
            len = kCookieLen;
        }
        if (!px.fe.cookie_capture.empty())
            st.warn(line.at, "'capture cookie' replaces the one declared before in " + px.kind + " " + squote(px.name) +
                                 " (there can be only one)");
        px.fe.cookie_capture = line.words[2];
        px.fe.cookie_capture_len = len;
        px.fe.cookie_capture_at = line.at;
        return;
    }
    if (sub == "request" || sub == "response") {
        const std::string kw = "capture " + sub;
        if (is_defaults(px)) fail(line.at, squote(kw) + " not allowed in 'defaults' section.");
        if (line.words.size() < 6 || line.words[2] != "header" || line.words[4] != "len")
            fail(line.at, squote(kw) + " expects 'header' <header_name> 'len' <len>.");
        if (line.words.size() > 6)
            fail(line.at, squote(kw) + " cannot handle unexpected argument " + squote(line.words[6]) + ".");
        const int len = capture_len(line, 5, kw);
        if (!has_fe(px)) {
            st.warn(line.at, "'capture' ignored because backend " + squote(px.name) + " has no frontend capability.");
            return;
        }
        CaptureSlot c;
        c.header = lower(line.words[3]);
        c.len = len;
        (sub == "request" ? px.fe.req_caps : px.fe.rsp_caps).push_back(std::move(c));
        return;
    }
    fail(line.at, "'capture' expects 'cookie' or 'request header' or 'response header'.");
}

void kw_declare(ParseState&, ProxyDraft& px, const Line& line) {
    if (is_defaults(px)) fail(line.at, "'declare' not available in default section");
    if (!has_fe(px)) fail(line.at, "'declare' only available in frontend or listen section");
    if (line.words.size() < 2)
        fail(line.at, "'declare' needs a second keyword that specify the type of declaration ('capture')");
    if (line.words[1] != "capture")
        fail(line.at, "unknown declaration type " + squote(line.words[1]) + " (supports 'capture')");
    const std::string dir = line.words.size() > 2 ? line.words[2] : "";
    if (dir != "request" && dir != "response")
        fail(line.at, "'declare capture' requires a direction ('request' or 'response')");
    if (line.words.size() < 4 || line.words[3] != "len")
        fail(line.at, "'declare capture' requires a capture length ('len')");
    if (line.words.size() < 5)
        fail(line.at, "'declare capture': 'len' requires a numeric value that represents the capture length");
    const auto n = parse_integer(line.words[4]);
    if (!n) fail(line.at, "'declare capture': cannot parse the length " + squote(line.words[4]) + ".");
    if (*n <= 0) fail(line.at, "length must be > 0");
    if (*n > 65535) fail(line.at, "'declare capture': the length must be at most 65535");
    if (line.words.size() > 5) fail(line.at, "'declare capture' cannot handle unexpected argument " + squote(line.words[5]));
    (dir == "request" ? px.fe.req_caps : px.fe.rsp_caps).push_back(CaptureSlot{{}, int(*n)});
}

std::size_t parse_capture_action(ParseState&, ProxyDraft& px, const Line& line, std::size_t end, bool response,
                                 HttpRule& r) {
    const std::string kw = response ? "http-response capture" : "http-request capture";
    const std::string who = "error detected in " + std::string(has_fe(px) ? "frontend" : "backend") + " " +
                            squote(px.name) + " while parsing " + squote(kw) + " rule : ";
    if (end < 5) fail(line.at, who + (response ? "expects <expression> id <idx>." : "expects <expression> [ 'len' <length> | id <idx> ]."));
    const std::string& expr = line.words[2];
    const std::string& how = line.words[3];
    check_log_format(line, "%[" + expr + "]", response ? FmtUse::Response : FmtUse::Request, squote(kw));
    r.action = HttpAction::Capture;
    r.value = expr;
    if (how == "id") {
        const auto n = parse_integer(line.words[4]);
        if (!n || *n < 0 || *n > 65535) fail(line.at, who + "cannot parse id " + squote(line.words[4]) + ".");
        r.status = int(*n);
        r.capture_check = has_fe(px);  // a frontend's slot is known now; a backend uses its frontends'
        return 5;
    }
    if (response || how != "len")
        fail(line.at, who + (response ? "expects 'id', found " : "expects 'len' or 'id', found ") + squote(how) + ".");
    if (!has_fe(px)) fail(line.at, who + "proxy " + squote(px.name) + " has no frontend capability.");
    const auto n = parse_integer(line.words[4]);
    if (!n || *n <= 0) fail(line.at, who + "length must be > 0.");
    if (*n > 65535) fail(line.at, who + "the length must be at most 65535.");
    r.status = int(px.fe.req_caps.size());
    px.fe.req_caps.push_back(CaptureSlot{{}, int(*n)});
    return 5;
}

void check_captures(ParseState& st, const ProxyDraft& px) {
    if (!has_fe(px) || is_defaults(px)) return;
    for (const bool response : {false, true}) {
        const auto& rules = response ? px.fe.http.response_rules : px.fe.http.request_rules;
        const auto& slots = response ? px.fe.rsp_caps : px.fe.req_caps;
        for (const HttpRule& r : rules)
            if (r.action == HttpAction::Capture && r.capture_check && std::size_t(r.status) >= slots.size())
                fail(r.where, "Proxy " + squote(px.name) + ": unable to find capture id '" + std::to_string(r.status) +
                                  "' referenced by " + (response ? "http-response" : "http-request") + " capture rule.");
        if (slots.size() > kMaxSlots)
            fail(px.where, px.kind + " " + squote(px.name) + " declares " + std::to_string(slots.size()) + " " +
                               (response ? "response" : "request") + " captures: at most " + std::to_string(kMaxSlots) +
                               " are supported");
    }
    if (px.fe.mode == Mode::Tcp && !px.fe.cookie_capture.empty())
        st.warn(px.fe.cookie_capture_at,
                "'capture' statement ignored for frontend " + squote(px.name) + " as it requires HTTP mode.");
}

}  // namespace es::config::detail
