// Rewriting rules: replace-header / replace-value, the request target and method (replace-path,
// replace-pathq, replace-uri, set-path, set-pathq, set-query, set-uri, set-method), set-status, and the
// http-after-response lists. HAProxy 2.6 semantics (doc/configuration.txt 4.2; README.md "Rewrites").
#include <cctype>
#include <vector>

#include "internal.hpp"

namespace es::rules {

namespace {

using config::HttpAction;
using config::HttpRule;

// The regex's groups of the last match, per thread (the vector keeps its capacity: no allocation
// once warm).
std::vector<std::string_view>& groups() {
    thread_local std::vector<std::string_view> g;
    return g;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

// HAProxy's exp_replace: the format's result with \0..\9 (the match, its groups; an unset group is
// nothing), \xHH (a byte) and \<other> (that character). False on a lone '\' at the end or a bad \x.
bool detail::put_replacement(ArenaWriter& w, std::string_view fmt, const std::vector<std::string_view>& g) {
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        const std::size_t run = fmt.find('\\', i);
        if (run != i) {
            w.add(fmt.substr(i, run == std::string_view::npos ? std::string_view::npos : run - i));
            if (run == std::string_view::npos) break;
            i = run;
        }
        if (++i >= fmt.size()) return false;
        const char c = fmt[i];
        if (c >= '0' && c <= '9') {
            const std::size_t n = std::size_t(c - '0');
            if (n < g.size()) w.add(g[n]);
        } else if (c == 'x') {
            const int hi = i + 1 < fmt.size() ? hex_digit(fmt[i + 1]) : -1;
            const int lo = i + 2 < fmt.size() ? hex_digit(fmt[i + 2]) : -1;
            if (hi < 0 || lo < 0) return false;
            const char b = char(hi * 16 + lo);
            w.add(std::string_view(&b, 1));
            i += 2;
        } else {
            w.add(std::string_view(&fmt[i], 1));
        }
    }
    return true;
}

namespace {

using detail::put_replacement;

// The format of a replace-* rule, expanded once per rule (HAProxy builds it before matching).
bool replacement_format(const HttpRule& r, const Txn& t, std::string_view& fmt) {
    return detail::expand(t, r.value, fmt);
}

bool is_scheme_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// After "scheme://" (its length), or 0 when the target has no scheme.
std::size_t scheme_end(std::string_view uri) {
    if (uri.empty() || !std::isalpha(static_cast<unsigned char>(uri[0]))) return 0;
    std::size_t i = 1;
    while (i < uri.size() && is_scheme_char(uri[i])) ++i;
    return uri.substr(i, 3) == "://" ? i + 3 : 0;
}

// HAProxy's http_parse_authority(no_userinfo): from after the scheme (or the start) to the first '/',
// without a userinfo part. `end` receives where the authority ends.
std::string_view authority_of(std::string_view uri, std::size_t& end) {
    std::size_t start = scheme_end(uri), p = start;
    while (p < uri.size() && uri[p] != '/') {
        if (uri[p++] == '@') start = p;
    }
    end = p;
    return uri.substr(start, p - start);
}

// The request's target becomes `nt` (in the arena): the parser's view of it follows (path, query,
// authority), as HAProxy's fetches read the current start line.
void set_target(http::RequestHead& req, std::string_view nt) {
    req.target = nt;
    std::string_view pq;
    req.path = target_path(nt, pq) ? pq.substr(0, pq.find('?')) : std::string_view();
    const std::size_t q = nt.find('?');
    req.query = q == std::string_view::npos ? std::string_view() : nt.substr(q + 1);
    req.absolute_form = scheme_end(nt) != 0;
    std::size_t aend = 0;
    req.authority = req.absolute_form ? authority_of(nt, aend) : std::string_view();
}

// set-uri / replace-uri: a target with an authority gives its value to every Host header (HAProxy's
// http_update_host); an origin-form or "*" one leaves them.
bool update_host(http::RequestHead& req, std::string_view nt) {
    if (nt.empty() || nt == "*" || nt.front() == '/') return true;
    std::size_t end = 0;
    const std::string_view auth = authority_of(nt, end);
    if (auth.empty()) return false;
    for (std::uint16_t i = 0; i < req.nheaders; ++i) {
        http::Header& h = req.headers[i];
        if (!h.removed && http::iequals(h.name, "host")) h.value = auth;
    }
    req.host = auth;
    return true;
}

// replace-header on Host of a request whose target has an authority: the authority follows (HAProxy's
// http_update_authority).
bool update_authority(Txn& t, std::string_view host) {
    http::RequestHead& req = *t.req;
    if (!req.absolute_form) return true;
    std::size_t end = 0;
    const std::string_view auth = authority_of(req.target, end);
    if (auth.empty() || auth == host) return true;
    ArenaWriter w(*t.arena);
    w.add(req.target.substr(0, std::size_t(auth.data() - req.target.data())));
    w.add(host);
    w.add(req.target.substr(end));
    const std::string_view nt = w.commit();
    if (!w.ok()) return false;
    set_target(req, nt);
    return true;
}

// The elements of a header value as HAProxy's http_find_header(full=0) cuts them: at commas outside
// quoted strings; each raw element keeps its blanks (the caller trims for matching).
std::size_t element_end(std::string_view v, std::size_t from) {
    bool quoted = false;
    for (std::size_t i = from; i < v.size(); ++i) {
        const char c = v[i];
        if (quoted) {
            if (c == '\\' && i + 1 < v.size()) ++i;
            else if (c == '"') quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            return i;
        }
    }
    return v.size();
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// replace-header (whole values) / replace-value (elements) on every header of that name.
// One value as replace-header (the whole value) or replace-value (each element) leaves it: `out` is the
// new value in the arena, or `v` itself when nothing matched. The format is expanded once per rule, on
// its first match (`fmt`, `have_fmt`). False: no room.
bool rewrite_value(const HttpRule& r, Txn& t, bool per_element, std::string_view v, std::string_view& fmt,
                   bool& have_fmt, std::string_view& out) {
    auto& g = groups();
    out = v;
    std::size_t p = 0, e = v.size();
    if (per_element) {  // the first element that matches (most values have none)
        for (;; p = e + 1) {
            e = element_end(v, p);
            if (r.re.match(trim(v.substr(p, e - p)), g)) break;
            if (e >= v.size()) return true;
        }
    } else if (!r.re.match(v, g)) {
        return true;
    }
    if (!have_fmt && !(have_fmt = replacement_format(r, t, fmt))) return false;
    ArenaWriter w(*t.arena);
    // the elements before the first match are kept as received (their commas included); a replaced
    // element loses the blanks around it, the elements are joined by a bare ','
    w.add(v.substr(0, p));
    for (;;) {
        const std::string_view raw = v.substr(p, e - p);
        if (!per_element || r.re.match(trim(raw), g)) {
            if (!put_replacement(w, fmt, g)) return false;
        } else {
            w.add(raw);
        }
        if (!per_element || e >= v.size()) break;
        w.add(",");
        p = e + 1;
        e = element_end(v, p);
    }
    out = w.commit();
    return w.ok() && detail::single_line(out);
}

// replace-header / replace-value on every header of that name (received ones, then those added by
// earlier rules).
bool replace_header(const HttpRule& r, http::MessageHead* msg, Txn& t, bool per_element) {
    if (msg == nullptr || t.arena == nullptr) return false;
    std::string_view fmt;
    bool have_fmt = false;
    for (std::uint16_t i = 0; i < msg->nheaders; ++i) {
        http::Header& h = msg->headers[i];
        if (h.removed || !http::iequals(h.name, r.name)) continue;
        std::string_view nv;
        if (!rewrite_value(r, t, per_element, h.value, fmt, have_fmt, nv)) return false;
        if (nv.data() == h.value.data()) continue;  // nothing matched
        h.value = nv;
        if (t.req != nullptr && msg == t.req && http::iequals(h.name, "host")) {
            t.req->host = h.value;
            if (!update_authority(t, h.value)) return false;
        }
    }
    if (t.edits != nullptr)
        for (int i = 0; i < t.edits->nadds; ++i) {
            auto& a = t.edits->adds[i];
            if (http::iequals(a.name, r.name) && !rewrite_value(r, t, per_element, a.value, fmt, have_fmt, a.value))
                return false;
        }
    return true;
}

// The request line's rewrites. False: the rewrite failed (no room).
bool rewrite_request(const HttpRule& r, Txn& t) {
    if (t.req == nullptr || t.arena == nullptr || t.edits == nullptr) return false;
    http::RequestHead& req = *t.req;
    const std::string_view uri = req.target;
    auto& g = groups();
    std::string_view value;  // the new path / query / uri / method
    std::string_view subject;
    const bool has_path = target_path(uri, subject);
    switch (r.action) {
        case HttpAction::ReplacePath:
        case HttpAction::ReplacePathq:
        case HttpAction::ReplaceUri: {
            if (r.action == HttpAction::ReplaceUri) subject = uri;
            else if (!has_path) return true;
            else if (r.action == HttpAction::ReplacePath) subject = subject.substr(0, subject.find('?'));
            if (subject.empty() || !r.re.match(subject, g)) return true;
            std::string_view fmt;
            if (!replacement_format(r, t, fmt)) return false;
            ArenaWriter w(*t.arena);
            if (!put_replacement(w, fmt, g)) return false;
            value = w.commit();
            if (!w.ok()) return false;
            break;
        }
        default:
            if (!detail::expand(t, r.value, value)) return false;
            break;
    }
    if (!detail::single_line(value)) return false;
    if (r.action == HttpAction::SetMethod) {
        t.edits->new_method = value;
        t.edits->method_set = true;
        return true;
    }
    ArenaWriter w(*t.arena);
    switch (r.action) {
        case HttpAction::SetPath:
        case HttpAction::SetPathq:
        case HttpAction::ReplacePath:
        case HttpAction::ReplacePathq: {
            // HAProxy's http_replace_req_path: without a path the whole target is replaced
            std::string_view p;
            if (!target_path(uri, p)) p = uri;
            const bool with_qs = r.action == HttpAction::SetPathq || r.action == HttpAction::ReplacePathq;
            const std::size_t plen = with_qs ? p.size() : std::min(p.size(), p.find('?'));
            w.add(uri.substr(0, std::size_t(p.data() - uri.data())));
            w.add(value);
            w.add(p.substr(plen));
            break;
        }
        case HttpAction::SetQuery: {
            // HAProxy's http_replace_req_query: a '?' is added only for a non-empty query, and never removed
            const std::size_t q = uri.find('?');
            if (q != std::string_view::npos) {
                w.add(uri.substr(0, q + 1));
                w.add(value);
            } else {
                w.add(uri);
                if (!value.empty()) {
                    w.add("?");
                    w.add(value);
                }
            }
            break;
        }
        case HttpAction::SetUri:
        case HttpAction::ReplaceUri:
            w.add(value);
            break;
        default:
            return true;
    }
    const std::string_view nt = w.commit();
    if (!w.ok()) return false;
    set_target(req, nt);
    if (r.action == HttpAction::SetUri || r.action == HttpAction::ReplaceUri) return update_host(req, nt);
    return true;
}

bool set_status(const HttpRule& r, Txn& t) {
    if (t.rsp == nullptr) return false;
    t.rsp->status = std::uint16_t(r.status);
    t.rsp->reason = r.value.empty() ? haproxy_reason(r.status) : std::string_view(r.value);
    return true;
}

// One proxy's list: the rules of its defaults section, then its own (strict-mode on again at its own
// first rule); an `allow` ends both, as HAProxy's.
Verdict after_proxy(const config::HttpProxy& px, Txn& t) {
    for (std::size_t i = 0; i < px.after_rules.size(); ++i) {
        if (i == 0 || i == px.after_own) t.soft_rewrite = false;
        const HttpRule& r = px.after_rules[i];
        if (!eval_condition(r.cond, px.acls, t)) continue;
        bool ok = true;
        switch (r.action) {
            case HttpAction::Allow:
                return {};
            case HttpAction::SetHeader:
            case HttpAction::AddHeader:
            case HttpAction::DelHeader:
                ok = detail::header_action(r, t.rsp, t);
                break;
            case HttpAction::ReplaceHeader:
            case HttpAction::ReplaceValue:
                ok = replace_header(r, t.rsp, t, r.action == HttpAction::ReplaceValue);
                break;
            case HttpAction::SetStatus:
                ok = set_status(r, t);
                break;
            case HttpAction::StrictMode:
                t.soft_rewrite = r.status == 0;
                break;
            case HttpAction::SetVar:
                set_var(r.var, t);
                break;
            case HttpAction::UnsetVar:
                unset_var(r.var, t);
                break;
            case HttpAction::Capture: {
                std::string_view v;
                if (t.captures && eval_sample(t, r.value, v)) t.captures->capture(true, std::uint32_t(r.status), v);
                break;
            }
            default:
                break;  // the configuration accepts no other action here
        }
        if (!ok) ++t.failed_rewrites;
        if (!ok && !t.soft_rewrite) {
            Verdict v;
            v.internal = true;
            v.kind = Verdict::Reply;
            v.status = 500;
            v.bytes = error_reply(500, &px, t.fallback);
            return v;
        }
    }
    return {};
}

}  // namespace

namespace detail {

bool rewrite_action(const HttpRule& r, Txn& t, bool response) {
    switch (r.action) {
        case HttpAction::ReplaceHeader:
        case HttpAction::ReplaceValue:
            return replace_header(r, response ? static_cast<http::MessageHead*>(t.rsp) : t.req, t,
                                  r.action == HttpAction::ReplaceValue);
        case HttpAction::SetStatus:
            return set_status(r, t);
        case HttpAction::StrictMode:
            t.soft_rewrite = r.status == 0;
            return true;
        default:
            return rewrite_request(r, t);
    }
}

}  // namespace detail

bool target_path(std::string_view uri, std::string_view& p) {
    if (uri.empty() || uri == "*") return false;
    if (uri.front() == '/') {
        p = uri;
        return true;
    }
    if (scheme_end(uri) == 0) return false;
    std::size_t end = 0;
    (void)authority_of(uri, end);
    if (end >= uri.size()) return false;
    p = uri.substr(end);
    return true;
}

Verdict run_after_rules(const config::HttpProxy& be, const config::HttpProxy* fe, Txn& t) {
    Verdict v = after_proxy(be, t);
    if (v.kind != Verdict::Continue || fe == nullptr) return v;
    return after_proxy(*fe, t);
}

std::string_view haproxy_reason(int status) {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 102: return "Processing";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 203: return "Non-Authoritative Information";
        case 204: return "No Content";
        case 205: return "Reset Content";
        case 206: return "Partial Content";
        case 207: return "Multi-Status";
        case 210: return "Content Different";
        case 226: return "IM Used";
        case 300: return "Multiple Choices";
        case 301: return "Moved Permanently";
        case 302: return "Moved Temporarily";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 305: return "Use Proxy";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 310: return "Too many Redirects";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 407: return "Proxy Authentication Required";
        case 408: return "Request Time-out";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Request Entity Too Large";
        case 414: return "Request-URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Requested range unsatisfiable";
        case 417: return "Expectation failed";
        case 418: return "I'm a teapot";
        case 421: return "Misdirected Request";
        case 422: return "Unprocessable Content";
        case 423: return "Locked";
        case 424: return "Method failure";
        case 425: return "Too Early";
        case 426: return "Upgrade Required";
        case 428: return "Precondition Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 449: return "Retry With";
        case 450: return "Blocked by Windows Parental Controls";
        case 451: return "Unavailable For Legal Reasons";
        case 456: return "Unrecoverable Error";
        case 499: return "client has closed connection";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway or Proxy Error";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Time-out";
        case 505: return "HTTP Version not supported";
        case 506: return "Variant also negotiate";
        case 507: return "Insufficient storage";
        case 508: return "Loop detected";
        case 509: return "Bandwidth Limit Exceeded";
        case 510: return "Not extended";
        case 511: return "Network authentication required";
        case 520: return "Web server is returning an unknown error";
        default: break;
    }
    if (status >= 100 && status <= 199) return "Informational";
    if (status >= 200 && status <= 299) return "Success";
    if (status >= 300 && status <= 399) return "Redirection";
    if (status >= 400 && status <= 499) return "Client Error";
    if (status >= 500 && status <= 599) return "Server Error";
    return "Other";
}

}  // namespace es::rules
