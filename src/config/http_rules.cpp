// http-request and http-response rules, and the 'redirect' keyword (stored as a request rule evaluated
// after the http-request ones).
//
// HAProxy 2.6 semantics; what differs is listed in README.md.
#include <algorithm>

#include "edgeshard/http/parser.hpp"
#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

namespace {

bool is_final(HttpAction a) {
    return a == HttpAction::Allow || a == HttpAction::Deny || a == HttpAction::Return ||
           a == HttpAction::Redirect || a == HttpAction::Auth || a == HttpAction::UseService;
}

enum class RuleKind { Request, Response, After };

std::vector<HttpRule>& rules_of(HttpProxy& h, RuleKind k) {
    return k == RuleKind::Request ? h.request_rules : k == RuleKind::Response ? h.response_rules : h.after_rules;
}

const char* kind_word(RuleKind k) {
    return k == RuleKind::Request ? "http-request" : k == RuleKind::Response ? "http-response" : "http-after-response";
}

void add_rule(ParseState& st, ProxyDraft& px, const HttpRule& rule, RuleKind kind) {
    auto& list = rules_of(has_fe(px) ? px.fe.http : px.be.http, kind);
    if (!list.empty() && is_final(list.back().action) && !list.back().cond.present) {
        st.warn(rule.where, std::string("previous '") + kind_word(kind) + "' rule at " + where_text(list.back().where) +
                                " is final and has no condition: this rule is never evaluated");
    }
    each_http(px, [&](HttpProxy& h) { rules_of(h, kind).push_back(rule); });
}

// A literal string as a log-format value: HAProxy's 'redirect' keyword takes its target as written,
// while the rule it becomes is expanded like the other redirects.
std::string escape_percent(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '%') out += '%';
        out += c;
    }
    return out;
}

// words [start, end): location|prefix|scheme <to> [code <n>] [drop-query]
// log_format: the target is a log-format string (http-request redirect); else it is taken as written
// (the 'redirect' keyword, as in HAProxy).
void parse_redirect(const Line& line, std::size_t start, std::size_t end, HttpRule& r, std::string_view kw,
                    bool log_format) {
    const std::string k(kw);
    if (start >= end) fail(line.at, squote(k) + " expects location, prefix or scheme, got nothing");
    const std::string& kind = line.words[start];
    if (kind != "location" && kind != "prefix" && kind != "scheme")
        fail(line.at, squote(k) + " expects location, prefix or scheme, got " + squote(kind) +
                          did_you_mean(kind, {"location", "prefix", "scheme"}));
    if (start + 1 >= end) fail(line.at, squote(k + " " + kind) + " expects a target, got nothing");
    r.action = HttpAction::Redirect;
    r.redirect_kind = kind;
    r.value = line.words[start + 1];
    r.status = 302;
    if (has_ctl(r.value)) fail(line.at, squote(k) + ": the target contains a control character");
    if (log_format)
        check_log_format(line, r.value, FmtUse::Request, squote(k + " " + kind));
    else
        r.value = escape_percent(r.value);
    for (std::size_t i = start + 2; i < end; ++i) {
        const std::string& w = line.words[i];
        if (w == "code") {
            if (i + 1 >= end)
                fail(line.at, squote(k) + ": 'code' expects 301, 302, 303, 307 or 308, got nothing");
            const auto c = parse_integer(line.words[++i]);
            if (!c || (*c != 301 && *c != 302 && *c != 303 && *c != 307 && *c != 308))
                fail(line.at, squote(k) + ": unsupported HTTP code " + squote(line.words[i]) +
                                  " (must be one of 301, 302, 303, 307 or 308)");
            r.status = static_cast<int>(*c);
        } else if (w == "drop-query") {
            r.drop_query = true;
        } else if (w == "append-slash" || w == "set-cookie" || w == "clear-cookie") {
            fail(line.at, squote(k) + ": option " + squote(w) + " is not supported in this version");
        } else {
            fail(line.at,
                 squote(k) + ": unknown option " + squote(w) +
                     did_you_mean(w, {"code", "drop-query", "append-slash", "set-cookie", "clear-cookie"}) +
                     " (expects code <n> or drop-query)");
        }
    }
}

void apply_reply(ProxyDraft& px, HttpRule& r, ParsedReply&& p, bool response) {
    r.status = p.status;
    r.content_type = p.content_type;
    r.has_reply = p.has_reply;
    r.reply = std::move(p.reply);
    r.lf_reply = p.lf;
    r.lf_has_body = p.lf_has_body;
    r.lf_body = std::move(p.lf_body);
    r.lf_hdrs = std::move(p.lf_hdrs);
    if (!p.section.empty()) {
        const auto& list = has_fe(px) ? (response ? px.fe.http.response_rules : px.fe.http.request_rules)
                                      : (response ? px.be.http.response_rules : px.be.http.request_rules);
        px.pending_replies.push_back(PendingReply{response, list.size(), p.section, p.status, r.where});
    }
}

constexpr std::string_view kRequestActions[] = {"allow",       "deny",        "return",      "redirect",   "auth",
                                                "set-header",  "add-header",  "del-header",  "set-path",   "use-service",
                                                "track-sc0",   "track-sc1",   "track-sc2",   "sc-inc-gpc0", "sc-inc-gpc1",
                                                "sc-set-gpt0", "capture",     "replace-header", "replace-value",
                                                "replace-path", "replace-pathq", "replace-uri", "set-query",
                                                "set-uri",     "set-method",  "set-pathq",   "strict-mode"};
// HAProxy 2.6's list, less what this version does not have (ot-group, set-var-fmt)
constexpr std::string_view kAfterActions[] = {"add-header",  "allow",      "capture",     "del-header",
                                              "replace-header", "replace-value", "set-header", "set-status",
                                              "strict-mode", "set-var(*)", "set-var-fmt(*)", "unset-var(*)"};
constexpr std::string_view kResponseActions[] = {"allow",     "deny",      "set-header",  "add-header",  "del-header",
                                                 "track-sc0", "track-sc1", "track-sc2",   "sc-inc-gpc0", "sc-inc-gpc1",
                                                 "sc-set-gpt0", "capture", "replace-header", "replace-value",
                                                 "set-status", "strict-mode", "return"};
constexpr std::string_view kActionsRefused[] = {"set-log-level",
                                                "set-nice",
                                                "set-tos",
                                                "set-mark",
                                                "sc-inc-gpc",
                                                "add-acl",
                                                "del-acl",
                                                "set-map",
                                                "del-map",
                                                "cache-use",
                                                "cache-store",
                                                "early-hint",
                                                "normalize-uri",
                                                "reject",
                                                "silent-drop",
                                                "tarpit",
                                                "wait-for-body",
                                                "wait-for-handshake",
                                                "do-resolve",
                                                "set-dst",
                                                "set-dst-port",
                                                "set-src",
                                                "set-src-port",
                                                "disable-l7-retry",
                                                "set-timeout",
                                                "send-spoe-group",
                                                "set-priority-class",
                                                "set-priority-offset",
                                                "set-bandwidth-limit",
                                                "redirect",
                                                "return",
                                                "auth",
                                                "use-service",
                                                "set-path"};

void parse_header_action(const Line& line, std::size_t end, HttpRule& r, const std::string& kw) {
    const std::string& act = line.words[1];
    if (act == "del-header") {
        if (end < 3) fail(line.at, squote(kw + " del-header") + " expects a header name, got nothing");
        r.action = HttpAction::DelHeader;
        r.name = line.words[2];
        if (end > 3) {
            if (line.words[3] != "-m" || end < 5)
                fail(line.at,
                     "unexpected argument " + squote(line.words[3]) + " after " + squote(kw + " del-header"));
            if (line.words[4] != "str")
                fail(line.at, squote(kw + " del-header") + ": '-m " + line.words[4] +
                                  "' is not supported in this version (only '-m str')");
            if (end > 5)
                fail(line.at,
                     "unexpected argument " + squote(line.words[5]) + " after " + squote(kw + " del-header"));
        }
    } else {
        if (end != 4)
            fail(line.at, squote(kw + " " + act) + " expects exactly 2 arguments: a header name and a value");
        r.action = act == "set-header" ? HttpAction::SetHeader : HttpAction::AddHeader;
        r.name = line.words[2];
        r.value = line.words[3];
        if (has_ctl(r.value))
            fail(line.at, squote(kw + " " + act) + ": the value contains a control character");
        check_log_format(line, r.value,
                         kw == "http-request"    ? FmtUse::Request
                         : kw == "http-response" ? FmtUse::Response
                                                 : FmtUse::After,
                         squote(kw + " " + act + " " + r.name));
    }
    if (!http::is_token(r.name))
        fail(line.at, squote(kw + " " + act) + ": invalid header name " + squote(r.name));
}

[[noreturn]] void unknown_action(const Line& line, const std::string& kw, const std::string& act,
                                 const std::string_view* first, const std::string_view* last) {
    if (act.rfind("lua.", 0) == 0) fail(line.at, squote(kw + " " + act) + ": Lua is not supported");
    if (act == "set-var" || act == "set-var-fmt" || act == "unset-var")  // HAProxy's message
        fail(line.at, "invalid or incomplete action " + squote(act) +
                          ". Expects 'set-var(<var-name>)', 'set-var-fmt(<var-name>)' or 'unset-var(<var-name>)'");
    if (std::find(std::begin(kActionsRefused), std::end(kActionsRefused), act) != std::end(kActionsRefused) ||
        act.rfind("track-sc", 0) == 0 || act.rfind("sc-", 0) == 0)
        fail(line.at, squote(kw) + " action " + squote(act) + " is not supported in this version");
    std::vector<std::string_view> names(first, last);
    std::string list;
    for (auto n : names) list += (list.empty() ? "" : ", ") + std::string(n);
    fail(line.at, "unknown " + squote(kw) + " action " + squote(act) + did_you_mean(act, names) +
                      " (supported: " + list + ")");
}

// HAProxy's words for a rule whose arguments are wrong, naming the section.
[[noreturn]] void rule_error(const ProxyDraft& px, const Line& line, const std::string& what, const std::string& msg) {
    fail(line.at, "error detected in " + (is_defaults(px) ? std::string("defaults") : px.kind) + " " +
                      squote(px.name) + " while parsing " + squote(what) + " rule : " + msg + ".");
}

// A rewrite's regex, compiled case-sensitive (HAProxy's regex_comp(cs=1, cap=1)); its message on failure.
void compile_rewrite_regex(const ProxyDraft& px, const Line& line, const std::string& what, const std::string& pattern,
                           core::Regex& re, bool uri) {
    const std::string err = re.compile(pattern, false);
    if (err.empty()) return;
    const auto at = err.rfind(" at offset ");
    const std::string text = at == std::string::npos ? err : err.substr(0, at);
    const std::string off = at == std::string::npos ? "0" : err.substr(at + 11);
    rule_error(px, line, what,
               std::string(uri ? "failed to parse the regex : " : "") + "regex '" + pattern + "' is invalid (error=" +
                   text + ", erroffset=" + off + ")");
}

// Words after the arguments that are not a condition (HAProxy's message).
void no_extra(const Line& line, std::size_t at, std::size_t end, const std::string& what) {
    if (at < end)
        fail(line.at, squote(what) + " expects either 'if' or 'unless' followed by a condition but found " +
                          squote(line.words[at]) + ".");
}

// The rewriting actions: replace-header/-value, replace-path/-pathq/-uri, set-query/-uri/-method/-pathq,
// set-status, strict-mode. False: `act` is none of them (or not one this rule kind has).
bool parse_rewrite(const ProxyDraft& px, const Line& line, std::size_t end, HttpRule& r, RuleKind kind) {
    const std::string& act = line.words[1];
    const std::string what = std::string(kind_word(kind)) + " " + act;
    const FmtUse use = kind == RuleKind::Request ? FmtUse::Request
                       : kind == RuleKind::Response ? FmtUse::Response
                                                    : FmtUse::After;
    if (act == "replace-header" || act == "replace-value") {
        if (end < 5) rule_error(px, line, what, "expects exactly 3 arguments");
        no_extra(line, 5, end, what);
        r.action = act == "replace-header" ? HttpAction::ReplaceHeader : HttpAction::ReplaceValue;
        r.name = line.words[2];
        if (!http::is_token(r.name)) rule_error(px, line, what, "invalid header name " + squote(r.name));
        compile_rewrite_regex(px, line, what, line.words[3], r.re, false);
        r.value = line.words[4];
        if (has_ctl(r.value)) rule_error(px, line, what, "the format contains a control character");
        check_log_format(line, r.value, use, squote(what));
        return true;
    }
    if (act == "set-status" && kind != RuleKind::Request) {
        if (end < 3) rule_error(px, line, what, "expects 1 argument: <status>; or 3 arguments: <status> reason <fmt>");
        const auto code = parse_integer(line.words[2]);
        if (!code || *code < 100 || *code > 999)
            rule_error(px, line, what, "expects an integer status code between 100 and 999");
        r.action = HttpAction::SetStatus;
        r.status = int(*code);
        std::size_t at = 3;
        if (at + 1 < end && line.words[at] == "reason" && !line.words[at + 1].empty()) {
            r.value = line.words[at + 1];
            if (has_ctl(r.value)) rule_error(px, line, what, "the reason contains a control character");
            at += 2;
        }
        no_extra(line, at, end, what);
        return true;
    }
    if (act == "strict-mode") {
        if (end < 3) rule_error(px, line, what, "expects exactly 1 argument, 'on' or 'off'");
        if (line.words[2] != "on" && line.words[2] != "off")
            rule_error(px, line, what, "Unexpected value " + squote(line.words[2]) + ". Only 'on' and 'off' are supported");
        no_extra(line, 3, end, what);
        r.action = HttpAction::StrictMode;
        r.status = line.words[2] == "on" ? 1 : 0;
        return true;
    }
    if (kind != RuleKind::Request) return false;
    if (act == "replace-path" || act == "replace-pathq" || act == "replace-uri") {
        if (end != 4 || line.words[3].empty())
            rule_error(px, line, what, "expects exactly 2 arguments <match-regex> and <replace-format>");
        r.action = act == "replace-path"    ? HttpAction::ReplacePath
                   : act == "replace-pathq" ? HttpAction::ReplacePathq
                                            : HttpAction::ReplaceUri;
        compile_rewrite_regex(px, line, what, line.words[2], r.re, true);
        r.value = line.words[3];
        if (has_ctl(r.value)) rule_error(px, line, what, "the format contains a control character");
        check_log_format(line, r.value, use, squote(what));
        return true;
    }
    if (act == "set-path" || act == "set-pathq" || act == "set-query" || act == "set-uri" || act == "set-method") {
        if (end != 3 || line.words[2].empty()) rule_error(px, line, what, "expects exactly 1 argument <format>");
        r.action = act == "set-path"    ? HttpAction::SetPath
                   : act == "set-pathq" ? HttpAction::SetPathq
                   : act == "set-query" ? HttpAction::SetQuery
                   : act == "set-uri"   ? HttpAction::SetUri
                                        : HttpAction::SetMethod;
        r.value = line.words[2];
        if (has_ctl(r.value)) rule_error(px, line, what, "the format contains a control character");
        check_log_format(line, r.value, use, squote(what));
        return true;
    }
    return false;
}

// http-request, http-response and http-after-response lines: the same syntax, fewer actions after the request.
void parse_rule(ParseState& st, ProxyDraft& px, const Line& line, RuleKind kind) {
    const bool response = kind != RuleKind::Request;
    const std::string kw = kind_word(kind);
    // named defaults lend their rules to the proxies using them (parser.cpp start_section); HAProxy's message
    if (is_defaults(px) && px.name.empty()) fail(line.at, squote(kw) + " not allowed in anonymous 'defaults' section.");
    const auto& act = arg_or_fail(line, 1, kw, "an action");
    const std::size_t end = condition_start(line, 2);
    HttpRule r;
    r.where = line.at;
    ParsedReply reply;
    bool with_reply = false;
    if (kind == RuleKind::After && act != "add-header" && act != "allow" && act != "capture" && act != "del-header" &&
        act != "replace-header" && act != "replace-value" && act != "set-header" && act != "set-status" &&
        act != "strict-mode" && act.rfind("set-var(", 0) != 0 && act.rfind("unset-var(", 0) != 0 &&
        act.rfind("set-var-fmt(", 0) != 0) {
        std::string list;
        for (auto n : kAfterActions) list += (list.empty() ? "'" : ", '") + std::string(n) + "'";
        fail(line.at, "'http-after-response' expects " + list + ", but got " + squote(act) + "." +
                          did_you_mean(act, std::vector<std::string_view>(std::begin(kAfterActions), std::end(kAfterActions))));
    }
    if (parse_rewrite(px, line, end, r, kind)) {
        // done
    } else if (act == "allow") {
        r.action = HttpAction::Allow;
        if (end > 2)
            fail(line.at, "unexpected argument " + squote(line.words[2]) + " after " + squote(kw + " allow"));
    } else if (act == "deny") {
        r.action = HttpAction::Deny;
        reply = parse_reply(st, line, 2, end, ReplyKind::Deny, response ? 502 : 403, kw + " deny");
        with_reply = true;
    } else if (act == "set-header" || act == "add-header" || act == "del-header") {
        parse_header_action(line, end, r, kw);
    } else if (kind != RuleKind::After && act == "return") {
        r.action = HttpAction::Return;
        reply = parse_reply(st, line, 2, end, ReplyKind::Return, 200, kw + " return");
        with_reply = true;
    } else if (!response && act == "redirect") {
        parse_redirect(line, 2, end, r, "http-request redirect", true);
    } else if (!response && act == "auth") {
        r.action = HttpAction::Auth;
        r.name = px.name;  // HAProxy's default realm: the proxy's name
        if (end > 2) {
            if (line.words[2] != "realm" || end < 4)
                fail(line.at, "'http-request auth' expects 'realm <realm>', got " + squote(line.words[2]));
            r.name = line.words[3];
            if (has_ctl(r.name) || r.name.find('"') != std::string::npos)
                fail(line.at, "'http-request auth': the realm must not contain quotes or control characters");
            if (end > 4)
                fail(line.at, "unexpected argument " + squote(line.words[4]) + " after 'http-request auth'");
        }
    } else if (!response && act == "use-service") {
        if (end < 3) fail(line.at, "'http-request use-service' expects a service name, got nothing");
        if (line.words[2] != "prometheus-exporter")
            fail(line.at, "'http-request use-service': unknown service " + squote(line.words[2]) +
                              did_you_mean(line.words[2], {"prometheus-exporter"}) +
                              " (supported: prometheus-exporter)");
        if (end > 3)
            fail(line.at,
                 "unexpected argument " + squote(line.words[3]) + " after 'http-request use-service'");
        r.action = HttpAction::UseService;
        r.name = line.words[2];
    } else if (act.rfind("set-var(", 0) == 0 || act.rfind("unset-var(", 0) == 0 || act.rfind("set-var-fmt(", 0) == 0) {
        bool unset = false;
        const std::size_t at = parse_var_action(st, line, 1, end, kw, r.var, unset, response);
        if (at < end) fail(line.at, "unexpected " + squote(line.words[at]) + " after " + squote(kw + " " + act));
        r.action = unset ? HttpAction::UnsetVar : HttpAction::SetVar;
    } else if (act == "capture") {
        const std::size_t at = parse_capture_action(st, px, line, end, response, r);
        if (at < end) fail(line.at, "unexpected " + squote(line.words[at]) + " after " + squote(kw + " capture"));
    } else if (act.rfind("track-sc", 0) == 0) {
        r.action = HttpAction::TrackSc;
        const std::size_t at = parse_track(line, 1, end, kw, r.track);
        if (at < end) fail(line.at, "unexpected " + squote(line.words[at]) + " after " + squote(kw + " " + act));
    } else if (act.rfind("sc-inc-gpc", 0) == 0 || act.rfind("sc-set-gpt", 0) == 0) {
        bool is_set = false;
        int which = 0, value = 0;
        const std::size_t at = parse_sc_action(line, 1, end, kw, r.track, which, value, is_set, response);
        if (at < end) fail(line.at, "unexpected " + squote(line.words[at]) + " after " + squote(kw + " " + act));
        r.action = is_set ? HttpAction::ScSetGpt0 : HttpAction::ScIncGpc;
        r.status = is_set ? value : which;
    } else if (response) {
        unknown_action(line, kw, act, std::begin(kResponseActions), std::end(kResponseActions));
    } else {
        unknown_action(line, kw, act, std::begin(kRequestActions), std::end(kRequestActions));
    }
    if (end < line.words.size()) r.cond = parse_condition(st, px, line, end);
    if (with_reply) apply_reply(px, r, std::move(reply), response);
    add_rule(st, px, r, kind);
}

}  // namespace

HttpRule parse_stats_rule(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::string kw = "stats http-request";
    const auto& act = arg_or_fail(line, 2, kw, "allow, deny or auth");
    const std::size_t end = condition_start(line, 3);
    HttpRule r;
    r.where = line.at;
    if (act == "allow") {
        r.action = HttpAction::Allow;
        if (end > 3) fail(line.at, "unexpected argument " + squote(line.words[3]) + " after " + squote(kw + " allow"));
    } else if (act == "deny") {
        r.action = HttpAction::Deny;
        ParsedReply p = parse_reply(st, line, 3, end, ReplyKind::Deny, 403, kw + " deny");
        if (p.lf)
            fail(line.at, squote(kw + " deny") + ": log-format bodies and header values are not supported here "
                                                 "(use 'string' and literal 'hdr' values)");
        if (!p.section.empty())
            fail(line.at, squote(kw + " deny") + ": replies from an http-errors section are not supported here "
                                                 "(use 'deny_status', or 'errorfile' in the section)");
        r.status = p.status;
        r.content_type = p.content_type;
        r.has_reply = p.has_reply;
        r.reply = std::move(p.reply);
    } else if (act == "auth") {
        r.action = HttpAction::Auth;
        r.name = "HAProxy Statistics";  // HAProxy's default realm for the stats page's rules
        if (end > 3) {
            if (line.words[3] != "realm" || end < 5)
                fail(line.at, squote(kw + " auth") + " expects 'realm <realm>', got " + squote(line.words[3]));
            r.name = line.words[4];
            if (has_ctl(r.name) || r.name.find('"') != std::string::npos)
                fail(line.at, squote(kw + " auth") + ": the realm must not contain quotes or control characters");
            if (end > 5)
                fail(line.at, "unexpected argument " + squote(line.words[5]) + " after " + squote(kw + " auth"));
        }
    } else {
        fail(line.at, squote(kw) + " supports 'allow', 'deny' and 'auth' (the actions HAProxy runs on the stats "
                                   "page), got " + squote(act) + did_you_mean(act, {"allow", "deny", "auth"}));
    }
    if (end < line.words.size()) r.cond = parse_condition(st, px, line, end);
    return r;
}

void kw_http_request(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_rule(st, px, line, RuleKind::Request);
}

void kw_http_response(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_rule(st, px, line, RuleKind::Response);
}

void kw_http_after_response(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_rule(st, px, line, RuleKind::After);
}

void kw_redirect(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::size_t end = condition_start(line, 1);
    HttpRule r;
    r.where = line.at;
    parse_redirect(line, 1, end, r, "redirect", false);
    if (end < line.words.size()) r.cond = parse_condition(st, px, line, end);
    px.redirects.push_back(std::move(r));
}

}  // namespace es::config::detail
