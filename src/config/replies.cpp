// Error replies and the replies of rules: errorfile, errorfiles, errorloc/errorloc302/errorloc303 and
// http-error in proxies, the http-errors section, the payload of deny/return/http-error, and the error
// replies every proxy ends up with once every http-errors section is known.
//
// HAProxy 2.6 semantics; what differs is listed in README.md.
#include <fstream>
#include <sstream>
#include <algorithm>

#include "edgeshard/http/parser.hpp"
#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

namespace {

// The status codes errorfile, errorfiles and http-error accept (HAProxy 2.6).
constexpr int kErrorCodes[] = {200, 400, 401, 403, 404, 405, 407, 408, 410,
                               413, 425, 429, 500, 501, 502, 503, 504};
constexpr std::string_view kErrorCodesText =
    "200 400 401 403 404 405 407 408 410 413 425 429 500 501 502 503 504";

bool error_code_ok(long long c) {
    return std::find(std::begin(kErrorCodes), std::end(kErrorCodes), c) != std::end(kErrorCodes);
}

// A status code of errorfile, errorfiles, errorloc* or http-error; fails naming kw.
int error_code(const Line& line, const std::string& text, std::string_view kw) {
    const auto c = parse_integer(text);
    if (!c || !error_code_ok(*c))
        fail(line.at, squote(kw) + ": status code " + squote(text) +
                          " not handled (supported: " + std::string(kErrorCodesText) + ")");
    return static_cast<int>(*c);
}

// RFC 9110 reason phrases: the parser room's table (one table for the whole product)
std::string_view reason_phrase(int code) {
    const std::string_view r = http::reason_phrase(code);
    return r.empty() ? std::string_view("Other") : r;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// A reply built from parts: the content type is written only with a body.
std::string build_reply(int code, const std::string& ctype, bool has_body, const std::string& body,
                        const Headers& hdrs) {
    std::string r = "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason_phrase(code)) + "\r\n";
    if (has_body && !ctype.empty()) r += "content-type: " + ctype + "\r\n";
    r += "content-length: " + std::to_string(has_body ? body.size() : 0) + "\r\n";
    r += "cache-control: no-cache\r\n";
    for (const auto& [n, v] : hdrs) r += n + ": " + v + "\r\n";
    r += "\r\n";
    if (has_body) r += body;
    return r;
}

// An errorfile is a complete response, used as is. Returns its status code.
int check_raw_response(const std::string& raw, const std::string& path, const Location& at,
                       std::string_view kw, std::size_t max_size) {
    if (raw.empty())
        fail(at, squote(kw) + ": " + squote(path) + " is empty; it must hold a complete HTTP response");
    if (raw.compare(0, 5, "HTTP/") != 0)
        fail(at, squote(kw) + ": " + squote(path) +
                     " does not start with 'HTTP/': the file must hold a complete HTTP response "
                     "(status line, headers, blank line, body)");
    if (raw.find("\r\n\r\n") == std::string::npos && raw.find("\n\n") == std::string::npos)
        fail(at, squote(kw) + ": " + squote(path) + " has no blank line ending its headers");
    const auto sp = raw.find(' ');
    const auto eol = raw.find('\n');
    int status = 0;
    if (sp != std::string::npos && sp < eol && sp + 4 <= raw.size()) {
        const auto code = parse_integer(std::string_view(raw).substr(sp + 1, 3));
        if (code && *code >= 100 && *code <= 599 &&
            (sp + 4 == raw.size() || raw[sp + 4] == ' ' || raw[sp + 4] == '\r' || raw[sp + 4] == '\n'))
            status = static_cast<int>(*code);
    }
    if (status == 0) fail(at, squote(kw) + ": " + squote(path) + ": invalid status line");
    if (raw.size() > max_size)
        fail(at, squote(kw) + ": " + squote(path) + " is " + std::to_string(raw.size()) +
                     " bytes long; a reply must fit in one buffer (tune.bufsize " + std::to_string(max_size) +
                     ")");
    return status;
}

// errorfile <code> <file>, in a proxy or an http-errors section.
Reply errorfile_line(const ParseState& st, const Line& line) {
    const auto& code_text = arg_or_fail(line, 1, "errorfile", "a status code and a file");
    Reply r;
    r.status = error_code(line, code_text, "errorfile");
    const auto& path = arg_or_fail(line, 2, "errorfile", "a file name");
    no_more_args(line, 3, "errorfile");
    r.raw = read_whole(path, line.at, "errorfile");
    r.where = line.at;
    check_raw_response(r.raw, path, line.at, "errorfile", static_cast<std::size_t>(st.cfg.global.bufsize));
    return r;
}

// '%%' -> '%' in a value already checked with FmtUse::Reply.
std::string unescape_percent(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        out += s[i];
        if (s[i] == '%' && i + 1 < s.size() && s[i + 1] == '%') ++i;
    }
    return out;
}
const HttpErrors* find_http_errors(const Config& cfg, const std::string& name) {
    for (const auto& e : cfg.http_errors)
        if (e.name == name) return &e;
    return nullptr;
}

const HttpErrors& http_errors_or_fail(const Config& cfg, const std::string& name, const Location& at) {
    if (const auto* e = find_http_errors(cfg, name)) return *e;
    std::vector<std::string_view> names;
    for (const auto& e : cfg.http_errors) names.push_back(e.name);
    fail(at, "unknown http-errors section " + squote(name) + did_you_mean(name, names));
}

void set_error(std::vector<Reply>& errors, const Reply& r) {
    std::erase_if(errors, [&](const Reply& x) { return x.status == r.status; });
    errors.push_back(r);
}

}  // namespace

// words [start, end) of deny / return / http-error.
ParsedReply parse_reply(ParseState& st, const Line& line, std::size_t start, std::size_t end, ReplyKind kind,
                        int default_status, std::string_view kw) {
    const std::string k(kw);
    ParsedReply out;
    out.status = default_status;
    enum class Payload { None, String, File, Errorfile, Errorfiles, LfString, LfFile } payload = Payload::None;
    // log-format values are evaluated where the rule runs (a reply of http-error is built once: literal only)
    const FmtUse use = kind == ReplyKind::HttpError ? FmtUse::Reply
                       : kw.starts_with("http-response") ? FmtUse::Response
                                                         : FmtUse::Request;
    bool lf_hdr = false;  // a hdr value with a log-format construct
    std::string payload_word;
    std::string body;
    std::string raw;
    Headers hdrs;
    bool status_given = false;
    auto value = [&](std::size_t& i, std::string_view what) -> const std::string& {
        if (i + 1 >= end)
            fail(line.at, squote(k) + ": " + squote(line.words[i]) + " expects " + std::string(what) +
                              ", got nothing");
        return line.words[++i];
    };
    for (std::size_t i = start; i < end; ++i) {
        const std::string& w = line.words[i];
        if (w == "status" || (kind == ReplyKind::Deny && w == "deny_status")) {
            const std::string& v = value(i, "a status code");
            if (kind == ReplyKind::HttpError) {
                out.status = error_code(line, v, k);
            } else {
                const auto c = parse_integer(v);
                if (!c || *c < 200 || *c > 599)
                    fail(line.at,
                         squote(k) + ": unexpected status code " + squote(v) + " (expects 200 to 599)");
                out.status = static_cast<int>(*c);
            }
            status_given = true;
        } else if (w == "content-type") {
            out.content_type = value(i, "a content type");
            if (has_ctl(out.content_type))
                fail(line.at, squote(k) + ": the content type contains a control character");
        } else if (w == "string" || w == "file" || w == "errorfile" || w == "errorfiles") {
            if (payload != Payload::None)
                fail(line.at, squote(k) + ": unexpected " + squote(w) + " argument, " + squote(payload_word) +
                                  " already defined");
            payload_word = w;
            const std::string& v = value(i, w == "string"       ? "a string"
                                            : w == "errorfiles" ? "an http-errors name"
                                                                : "a file name");
            if (w == "string") {
                payload = Payload::String;
                body = v;
            } else if (w == "file") {
                payload = Payload::File;
                body = read_whole(v, line.at, k + " file");
            } else if (w == "errorfile") {
                payload = Payload::Errorfile;
                raw = read_whole(v, line.at, k + " errorfile");
                out.status = check_raw_response(raw, v, line.at, k + " errorfile",
                                                static_cast<std::size_t>(st.cfg.global.bufsize));
            } else {
                payload = Payload::Errorfiles;
                out.section = v;
            }
        } else if (w == "lf-string" || w == "lf-file") {
            if (kind == ReplyKind::HttpError)
                fail(line.at, squote(k) + ": " + squote(w) +
                                  " (a log-format body) is not supported in 'http-error' in this version; use 'string' or 'file'");
            if (payload != Payload::None)
                fail(line.at, squote(k) + ": unexpected " + squote(w) + " argument, " + squote(payload_word) +
                                  " already defined");
            payload_word = w;
            const std::string& v = value(i, w == "lf-string" ? "a log-format string" : "a file name");
            payload = w == "lf-string" ? Payload::LfString : Payload::LfFile;
            if (w == "lf-file") {
                std::ifstream in(in_relative_dir(v), std::ios::binary);
                if (!in) fail(line.at, squote(k) + ": error opening file " + squote(v) + ".");
                std::ostringstream ss;
                ss << in.rdbuf();
                body = ss.str();
            } else {
                body = v;
            }
            check_log_format(line, body, use, squote(k) + " " + w);
        } else if (w == "hdr") {
            const std::string& n = value(i, "a header name and a value");
            const std::string& v = value(i, "a header value");
            if (n.empty() || v.empty()) fail(line.at, squote(k) + ": 'hdr' expects <name> and <value> as arguments.");
            if (!http::is_token(n)) fail(line.at, squote(k) + ": invalid header name " + squote(n));
            if (has_ctl(v))
                fail(line.at,
                     squote(k) + ": the value of header " + squote(n) + " contains a control character");
            check_log_format(line, v, use, squote(k + " hdr " + n));
            const auto ln = lower(n);
            if (ln == "content-length" || ln == "content-type" || ln == "transfer-encoding")
                fail(line.at, squote(k) + ": header " + squote(n) + " is set by the reply itself");
            bool fmt = false;  // a construct other than %%
            for (std::size_t p = v.find('%'); p != std::string::npos; p = v.find('%', p + 2))
                if (p + 1 >= v.size() || v[p + 1] != '%') fmt = true;
            lf_hdr |= fmt;
            out.lf_hdrs.emplace_back(n, v);
            hdrs.emplace_back(n, unescape_percent(v));
        } else if (w == "default-errorfiles") {
            fail(line.at, squote(k) + ": 'default-errorfiles' is not supported in this version");
        } else {
            std::vector<std::string_view> known = {"status", "content-type", "string",
                                                   "file",   "errorfile",    "errorfiles",
                                                   "hdr",    "lf-string",    "lf-file"};
            if (kind == ReplyKind::Deny) known.push_back("deny_status");
            fail(line.at, squote(k) + ": unknown argument " + squote(w) + did_you_mean(w, known));
        }
    }
    const bool body_payload = payload == Payload::String || payload == Payload::File || payload == Payload::LfString ||
                              payload == Payload::LfFile;
    const bool lf_payload = payload == Payload::LfString || payload == Payload::LfFile;
    if (lf_payload && out.content_type.empty())
        fail(line.at, squote(k) + ": a content type must be defined with a log-format payload.");
    if (body_payload && (out.status == 204 || out.status == 304) && (lf_payload || !body.empty()))
        fail(line.at, squote(k) + ": No body expected for " + std::to_string(out.status) + " responses.");
    if (body_payload && !body.empty() && out.content_type.empty())
        fail(line.at,
             squote(k) + ": a content type must be defined ('content-type <type>') with a non-empty body");
    if ((payload == Payload::Errorfile || payload == Payload::Errorfiles) && !hdrs.empty())
        fail(line.at, squote(k) + ": 'hdr' cannot be combined with " + squote(payload_word) +
                          " (the file is a complete response)");
    if (!out.content_type.empty() && !body_payload) {
        st.warn(line.at, squote(k) + ": content-type " + squote(out.content_type) +
                             " is ignored because the reply has no 'string' or 'file' body");
        out.content_type.clear();
    }
    if (payload == Payload::Errorfile && status_given)
        st.warn(line.at, squote(k) + ": the status comes from the errorfile's status line (" +
                             std::to_string(out.status) + ")");
    out.reply.where = line.at;
    out.reply.status = out.status;
    if (payload == Payload::LfString || payload == Payload::LfFile ||
        (lf_hdr && !(kind == ReplyKind::Deny && payload == Payload::None))) {
        // built per request (rules/rules.cpp): the status, content type, body and hdr values as written
        out.lf = true;
        out.lf_has_body = body_payload;
        out.lf_body = body;
        return out;
    }
    out.lf_hdrs.clear();
    switch (payload) {
        case Payload::LfString:
        case Payload::LfFile:
        case Payload::String:
        case Payload::File:
            out.has_reply = true;
            out.reply.raw = build_reply(out.status, out.content_type, true, body, hdrs);
            break;
        case Payload::Errorfile:
            out.has_reply = true;
            out.reply.raw = std::move(raw);
            break;
        case Payload::Errorfiles:
            out.has_reply = true;  // raw filled once every http-errors section is known
            break;
        case Payload::None:
            if (kind == ReplyKind::Deny && !hdrs.empty())
                fail(line.at, squote(k) +
                                  ": 'hdr' on a deny without a body is not supported in this version; "
                                  "give the reply a body ('content-type <t> string <s>')");
            if (kind != ReplyKind::Deny) {
                out.has_reply = true;
                out.reply.raw = build_reply(out.status, "", false, "", hdrs);
            }
            break;
    }
    return out;
}

// ---- error replies ---------------------------------------------------------------------------------------

void kw_errorfile(ParseState& st, ProxyDraft& px, const Line& line) {
    ErrorDirective d;
    d.reply = errorfile_line(st, line);
    d.at = line.at;
    px.errors.push_back(std::move(d));
}

void kw_errorfiles(ParseState&, ProxyDraft& px, const Line& line) {
    ErrorDirective d;
    d.from_section = true;
    d.section = arg_or_fail(line, 1, "errorfiles", "the name of an http-errors section");
    d.at = line.at;
    for (std::size_t i = 2; i < line.words.size(); ++i) {
        d.codes.push_back(error_code(line, line.words[i], "errorfiles"));
    }
    px.errors.push_back(std::move(d));
}

void kw_errorloc(ParseState&, ProxyDraft& px, const Line& line) {
    const auto& kw = line.words[0];
    const int code = error_code(line, arg_or_fail(line, 1, kw, "a status code and a URL"), kw);
    const auto& url = arg_or_fail(line, 2, kw, "a URL");
    if (has_ctl(url)) fail(line.at, squote(kw) + ": the URL contains a control character");
    no_more_args(line, 3, kw);
    const int redirect = kw == "errorloc303" ? 303 : 302;
    ErrorDirective d;
    d.reply.status = code;
    d.reply.raw = "HTTP/1.1 " + std::to_string(redirect) + " " + std::string(reason_phrase(redirect)) +
                  "\r\ncontent-length: 0\r\nlocation: " + url + "\r\ncache-control: no-cache\r\n\r\n";
    d.reply.where = line.at;
    d.at = line.at;
    px.errors.push_back(std::move(d));
}

void kw_http_error(ParseState& st, ProxyDraft& px, const Line& line) {
    if (line.words.size() < 2 || line.words[1] != "status")
        fail(line.at,
             "'http-error' expects 'status <code>' first" +
                 (line.words.size() > 1 ? ", got " + squote(line.words[1]) : std::string(", got nothing")));
    auto p = parse_reply(st, line, 1, line.words.size(), ReplyKind::HttpError, 0, "http-error");
    ErrorDirective d;
    d.at = line.at;
    if (!p.section.empty()) {
        d.from_section = true;
        d.section = p.section;
        d.codes = {p.status};
    } else {
        d.reply = std::move(p.reply);
        d.reply.status = p.status;
    }
    px.errors.push_back(std::move(d));
}

void parse_http_errors_line(ParseState& st, const Line& line) {
    const auto& kw = line.words[0];
    if (kw != "errorfile")
        fail(line.at, "unknown keyword " + squote(kw) + " in 'http-errors' section" +
                          did_you_mean(kw, {"errorfile"}) + " (only 'errorfile <code> <file>')");
    Reply r = errorfile_line(st, line);
    auto& replies = st.cfg.http_errors.back().replies;
    std::erase_if(replies, [&](const Reply& x) { return x.status == r.status; });
    replies.push_back(std::move(r));
}

void resolve_error_replies(ParseState& st, ProxyDraft& px) {
    const auto& cfg = st.cfg;
    std::vector<Reply> errors;
    for (const auto& d : px.errors) {
        if (!d.from_section) {
            set_error(errors, d.reply);
            continue;
        }
        const auto& sec = http_errors_or_fail(cfg, d.section, d.at);
        if (d.codes.empty()) {
            for (const auto& r : sec.replies) set_error(errors, r);
            continue;
        }
        for (int code : d.codes) {
            const auto it = std::find_if(sec.replies.begin(), sec.replies.end(),
                                         [&](const Reply& r) { return r.status == code; });
            if (it == sec.replies.end())
                st.warn(d.at, "http-errors section " + squote(d.section) + " has no errorfile for status " +
                                  std::to_string(code) + ": HAProxy's default reply is used");
            else
                set_error(errors, *it);
        }
    }
    for (const auto& p : px.pending_replies) {
        const auto& sec = http_errors_or_fail(cfg, p.section, p.at);
        const auto it = std::find_if(sec.replies.begin(), sec.replies.end(),
                                     [&](const Reply& r) { return r.status == p.status; });
        if (it == sec.replies.end())
            fail(p.at, "http-errors section " + squote(p.section) + " has no errorfile for status " +
                           std::to_string(p.status));
        each_http(px, [&](HttpProxy& h) {
            auto& rule = (p.response ? h.response_rules : h.request_rules)[p.index];
            rule.reply.raw = it->raw;
            rule.reply.status = it->status;
        });
    }
    each_http(px, [&](HttpProxy& h) { h.errors = errors; });
}

}  // namespace es::config::detail
