// HTTP keywords of proxy sections (acl and conditions, http-request/http-response, redirect, error replies,
// logs, the stats page, HTTP options), the userlist and http-errors sections, and what is resolved once
// every file is read (error replies, http-errors references, userlist references).
//
// HAProxy 2.6 semantics; what differs is listed in README.md.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "edgeshard/http/parser.hpp"
#include "internal.hpp"

namespace es::config::detail {

namespace {

// HAProxy 2.6's predefined formats, verbatim.
constexpr std::string_view kHttpLogFormat =
    "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs "
    "%{+Q}r";
constexpr std::string_view kTcpLogFormat =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
constexpr std::string_view kClfLogFormat =
    "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc "
    "%sc "
    "%rc %sq %bq %CC %CS %hrl %hsl";

// The status codes errorfile, errorfiles and http-error accept (HAProxy 2.6).
constexpr int kErrorCodes[] = {200, 400, 401, 403, 404, 405, 407, 408, 410,
                               413, 425, 429, 500, 501, 502, 503, 504};
constexpr std::string_view kErrorCodesText =
    "200 400 401 403 404 405 407 408 410 413 425 429 500 501 502 503 504";

bool error_code_ok(long long c) {
    return std::find(std::begin(kErrorCodes), std::end(kErrorCodes), c) != std::end(kErrorCodes);
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// RFC 9110 token characters (header names).
bool is_token(std::string_view s) {
    constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
    return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != std::string_view::npos;
    });
}

bool has_ctl(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

std::string read_whole(const std::string& path, const Location& at, std::string_view kw) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(at, squote(kw) + ": cannot read " + squote(path) + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail(at, squote(kw) + ": error while reading " + squote(path));
    return ss.str();
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

void warn_no_fe(ParseState& st, const ProxyDraft& px, const Location& at, std::string_view kw) {
    st.warn(at, squote(kw) + " is ignored because " + px.kind + " " + squote(px.name) +
                    " has no frontend capability");
}

// ---- ACLs ------------------------------------------------------------------------------------------------

using Match = Acl::Match;

struct FetchDef {
    std::string_view name;   // as written
    std::string_view fetch;  // as stored
    Match match;             // the match its suffix implies
    bool needs_arg;
};
constexpr FetchDef kFetches[] = {
    {"path", "path", Match::Str, false},
    {"path_beg", "path", Match::Beg, false},
    {"path_end", "path", Match::End, false},
    {"path_sub", "path", Match::Sub, false},
    {"path_dir", "path", Match::Dir, false},
    {"url", "url", Match::Str, false},
    {"url_beg", "url", Match::Beg, false},
    {"url_end", "url", Match::End, false},
    {"url_sub", "url", Match::Sub, false},
    {"url_dir", "url", Match::Dir, false},
    {"hdr", "hdr", Match::Str, true},
    {"req.hdr", "hdr", Match::Str, true},
    {"hdr_beg", "hdr", Match::Beg, true},
    {"hdr_end", "hdr", Match::End, true},
    {"hdr_sub", "hdr", Match::Sub, true},
    {"hdr_dir", "hdr", Match::Dir, true},
    {"method", "method", Match::Str, false},
    {"src", "src", Match::Ip, false},
    {"always_true", "always_true", Match::Bool, false},
    {"always_false", "always_false", Match::Bool, false},
    {"http_auth", "http_auth", Match::Bool, true},
    {"req.ver", "req.ver", Match::Str, false},
    {"req_ver", "req.ver", Match::Str, false},
};

// HAProxy fetches this version does not evaluate: refused with that reason rather than "unknown".
constexpr std::string_view kFetchesRefused[] = {"path_reg",
                                                "path_dom",
                                                "path_len",
                                                "path_end_reg",
                                                "url_reg",
                                                "url_dom",
                                                "url_len",
                                                "url_param",
                                                "urlp",
                                                "url_ip",
                                                "url_port",
                                                "hdr_reg",
                                                "hdr_dom",
                                                "hdr_cnt",
                                                "hdr_val",
                                                "hdr_ip",
                                                "hdr_len",
                                                "req.hdr_cnt",
                                                "req.fhdr",
                                                "req.hdrs",
                                                "base",
                                                "base_beg",
                                                "base_end",
                                                "base_sub",
                                                "base_dir",
                                                "base_dom",
                                                "base_reg",
                                                "base32",
                                                "query",
                                                "cook",
                                                "cook_val",
                                                "cook_cnt",
                                                "req.cook",
                                                "req.cook_cnt",
                                                "req.cook_val",
                                                "dst",
                                                "dst_port",
                                                "src_port",
                                                "http_auth_group",
                                                "http_auth_user",
                                                "http_auth_pass",
                                                "status",
                                                "res.hdr",
                                                "shdr",
                                                "req.len",
                                                "req_len",
                                                "req.body",
                                                "req.body_size",
                                                "nbsrv",
                                                "be_id",
                                                "fe_id",
                                                "var",
                                                "ssl_fc",
                                                "ssl_fc_sni",
                                                "req.ssl_sni",
                                                "req_ssl_sni",
                                                "req.proto_http",
                                                "req_proto_http",
                                                "sc_http_req_rate",
                                                "src_conn_cur",
                                                "src_http_req_rate",
                                                "capture.req.hdr",
                                                "hdr_beg_reg",
                                                "int",
                                                "str",
                                                "env",
                                                "date",
                                                "rand"};

struct Predefined {
    std::string_view name;
    std::string_view fetch;
    Match match;
    std::initializer_list<std::string_view> patterns;
};
const Predefined kPredefined[] = {
    {"TRUE", "always_true", Match::Bool, {}},          {"FALSE", "always_false", Match::Bool, {}},
    {"HTTP", "always_true", Match::Bool, {}},  // every request of an http proxy is valid HTTP
    {"HTTP_1.0", "req.ver", Match::Str, {"1.0"}},      {"HTTP_1.1", "req.ver", Match::Str, {"1.1"}},
    {"HTTP_URL_SLASH", "url", Match::Beg, {"/"}},      {"HTTP_URL_STAR", "url", Match::Str, {"*"}},
    {"LOCALHOST", "src", Match::Ip, {"127.0.0.1/8"}},  {"METH_CONNECT", "method", Match::Str, {"CONNECT"}},
    {"METH_DELETE", "method", Match::Str, {"DELETE"}}, {"METH_GET", "method", Match::Str, {"GET", "HEAD"}},
    {"METH_HEAD", "method", Match::Str, {"HEAD"}},     {"METH_OPTIONS", "method", Match::Str, {"OPTIONS"}},
    {"METH_POST", "method", Match::Str, {"POST"}},     {"METH_PUT", "method", Match::Str, {"PUT"}},
    {"METH_TRACE", "method", Match::Str, {"TRACE"}},
};
constexpr std::string_view kPredefinedRefused[] = {"HTTP_CONTENT", "HTTP_URL_ABS", "RDP_COOKIE",
                                                   "REQ_CONTENT", "WAIT_END"};

bool valid_acl_name(std::string_view n) {
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
    });
}

// "10.0.0.0/8", "10.0.0.0/255.0.0.0" (becomes /8), "127.0.0.1", "::1/128". nullopt when invalid.
std::optional<std::string> normalize_network(std::string_view p) {
    const auto slash = p.find('/');
    const std::string addr(p.substr(0, slash));
    const bool v6 = addr.find(':') != std::string::npos;
    unsigned char buf[16];
    if (addr.empty() || inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1) return std::nullopt;
    if (slash == std::string_view::npos) return addr;
    const auto mask = p.substr(slash + 1);
    const int max = v6 ? 128 : 32;
    if (const auto n = parse_integer(mask); n && !mask.empty() && mask.front() != '-') {
        if (*n > max) return std::nullopt;
        return addr + "/" + std::to_string(*n);
    }
    if (v6) return std::nullopt;
    in_addr m{};
    if (inet_pton(AF_INET, std::string(mask).c_str(), &m) != 1) return std::nullopt;
    const std::uint32_t bits = ntohl(m.s_addr);
    int len = 0;
    while (len < 32 && (bits & (0x80000000u >> len)) != 0) ++len;
    if (len < 32 && (bits << len) != 0) return std::nullopt;  // not a contiguous mask
    return addr + "/" + std::to_string(len);
}

std::vector<std::string_view> fetch_names() {
    std::vector<std::string_view> v;
    for (const auto& f : kFetches) v.push_back(f.name);
    return v;
}

std::string supported_fetches() {
    return "path, path_beg, path_end, path_sub, path_dir, url, url_beg, url_end, url_sub, url_dir, "
           "hdr(<name>), "
           "hdr_beg, hdr_end, hdr_sub, hdr_dir, method, src, req.ver, http_auth(<userlist>), always_true, "
           "always_false";
}

// acl words [first, last): <criterion> [flags] [patterns...]. what names the ACL in messages.
Acl parse_acl_words(ParseState& st, const Line& line, std::size_t first, std::size_t last,
                    const std::string& name) {
    const std::string what = name.front() == '{' ? "anonymous ACL" : "ACL " + squote(name);
    if (first >= last) fail(line.at, what + ": missing sample fetch (criterion)");
    const std::string& crit = line.words[first];
    Acl acl;
    acl.name = name;
    acl.where = line.at;

    const auto paren = crit.find('(');
    const auto close = paren == std::string::npos ? std::string::npos : crit.find(')', paren);
    if (paren != std::string::npos && close == std::string::npos)
        fail(line.at, what + ": missing ')' in " + squote(crit));
    const auto comma = crit.find(',', close == std::string::npos ? 0 : close);
    if (comma != std::string::npos)
        fail(line.at,
             what + ": converters (" + squote(crit.substr(comma)) + ") are not supported in this version");
    if (close != std::string::npos && close + 1 != crit.size())
        fail(line.at, what + ": unexpected " + squote(crit.substr(close + 1)) + " after " +
                          squote(crit.substr(0, close + 1)));
    const std::string fname = crit.substr(0, paren);
    std::string arg;
    bool has_parens = false;
    if (paren != std::string::npos) {
        arg = crit.substr(paren + 1, close - paren - 1);
        has_parens = true;
    }
    const FetchDef* def = nullptr;
    for (const auto& f : kFetches)
        if (f.name == fname) def = &f;
    if (def == nullptr) {
        if (std::find(std::begin(kFetchesRefused), std::end(kFetchesRefused), fname) !=
            std::end(kFetchesRefused)) {
            const bool regex = fname.find("_reg") != std::string::npos;
            fail(line.at, what + ": sample fetch " + squote(fname) + " is not supported in this version" +
                              (regex ? " (regular expressions are not supported)" : "") +
                              " (supported: " + supported_fetches() + ")");
        }
        fail(line.at, what + ": unknown sample fetch " + squote(fname) + did_you_mean(fname, fetch_names()) +
                          " (supported: " + supported_fetches() + ")");
    }
    acl.fetch = std::string(def->fetch);
    acl.fetch_written = fname;
    acl.match = def->match;
    if (def->needs_arg && (arg.empty()))
        fail(line.at, what + ": " + squote(fname) + " needs an argument, e.g. " +
                          (acl.fetch == "http_auth" ? "'http_auth(users)'" : squote(fname + "(host)")));
    if (!def->needs_arg && has_parens && !arg.empty())
        fail(line.at, what + ": " + squote(fname) + " takes no argument, got " + squote(crit));
    if (acl.fetch == "hdr") {
        if (arg.find(',') != std::string::npos)
            fail(line.at, what + ": header occurrence arguments (" + squote(crit) +
                              ") are not supported in this version; write " + squote(fname + "(<name>)"));
        if (!is_token(arg)) fail(line.at, what + ": invalid header name " + squote(arg));
        acl.arg = lower(arg);
    } else if (acl.fetch == "http_auth") {
        acl.arg = arg;
        st.userlist_refs.emplace_back(arg, line.at);
    }

    bool explicit_match = false;
    bool end_of_flags = false;
    std::size_t i = first + 1;
    for (; i < last; ++i) {
        const std::string& w = line.words[i];
        if (w.size() < 2 || w.front() != '-') break;
        if (w == "-i") {
            acl.icase = true;
        } else if (w == "-n") {
            // "no DNS resolution": patterns are numeric already
        } else if (w == "--") {
            end_of_flags = true;
            ++i;
            break;
        } else if (w == "-m") {
            if (i + 1 >= last) fail(line.at, what + ": '-m' expects a matching method");
            const std::string& m = line.words[++i];
            static const std::vector<std::string_view> kMethods = {"str", "beg",   "end", "sub",
                                                                   "dir", "found", "ip",  "bool"};
            if (m == "str")
                acl.match = Match::Str;
            else if (m == "beg")
                acl.match = Match::Beg;
            else if (m == "end")
                acl.match = Match::End;
            else if (m == "sub")
                acl.match = Match::Sub;
            else if (m == "dir")
                acl.match = Match::Dir;
            else if (m == "found")
                acl.match = Match::Found;
            else if (m == "ip")
                acl.match = Match::Ip;
            else if (m == "bool")
                acl.match = Match::Bool;
            else if (m == "reg" || m == "dom" || m == "len" || m == "int" || m == "bin")
                fail(line.at, what + ": matching method '-m " + m + "' is not supported in this version " +
                                  "(supported: str, beg, end, sub, dir, found, ip, bool)");
            else
                fail(line.at, what + ": unknown matching method " + squote(m) + did_you_mean(m, kMethods));
            explicit_match = true;
        } else if (w == "-f") {
            if (i + 1 >= last) fail(line.at, what + ": '-f' expects a file name");
            const std::string& path = line.words[++i];
            std::istringstream in(read_whole(path, line.at, "acl -f"));
            std::string l;
            while (std::getline(in, l)) {
                if (!l.empty() && l.back() == '\r') l.pop_back();
                const auto b = l.find_first_not_of(" \t");
                if (b == std::string::npos || l[b] == '#') continue;
                acl.patterns.push_back(l.substr(b));
            }
        } else if (w == "-u" || w == "-M") {
            fail(line.at, what + ": flag " + squote(w) + " is not supported in this version");
        } else {
            fail(line.at, what + ": unknown flag " + squote(w) +
                              " (flags: -i, -m <method>, -f <file>, -n, --; write '--' before a pattern that "
                              "starts with '-')");
        }
    }
    for (; i < last; ++i) acl.patterns.push_back(line.words[i]);

    const bool bool_fetch = def->match == Match::Bool;
    if (bool_fetch) {
        if (explicit_match && acl.match != Match::Bool && acl.match != Match::Found)
            fail(line.at, what + ": " + squote(fname) + " is a boolean: only '-m bool' or '-m found' apply");
        if (!acl.patterns.empty())
            fail(line.at,
                 what + ": " + squote(fname) + " takes no pattern, got " + squote(acl.patterns.front()));
    } else if (acl.fetch == "src") {
        if (acl.match != Match::Ip && acl.match != Match::Found)
            fail(line.at, what + ": 'src' supports '-m ip' (the default) and '-m found' only");
    } else if (acl.match == Match::Ip) {
        fail(line.at, what + ": '-m ip' applies to addresses ('src') only in this version");
    } else if (acl.match == Match::Bool) {
        fail(line.at, what + ": '-m bool' applies to boolean fetches only");
    }
    if (acl.match == Match::Ip) {
        for (auto& p : acl.patterns) {
            auto n = normalize_network(p);
            if (!n)
                fail(line.at,
                     what + ": " + squote(p) +
                         " is not an IPv4/IPv6 address or network (numeric only, e.g. 10.0.0.0/8, ::1)");
            p = *n;
        }
    }
    if (acl.match == Match::Found && !acl.patterns.empty())
        st.warn(line.at, what + ": patterns are ignored with '-m found'");
    if (acl.patterns.empty() && !bool_fetch && acl.match != Match::Found && acl.match != Match::Bool &&
        !end_of_flags) {
        st.warn(line.at, what +
                             ": no pattern to match against, so it never matches (add '--' if this is "
                             "intended, or use '-m found' to test for presence)");
    }
    return acl;
}

std::vector<Acl>& acls_of(ProxyDraft& px) {
    return has_fe(px) ? px.fe.http.acls : px.be.http.acls;
}

void add_acl(ProxyDraft& px, const Acl& acl) {
    each_http(px, [&](HttpProxy& h) { h.acls.push_back(acl); });
}

int find_acl(const std::vector<Acl>& acls, std::string_view name) {
    for (std::size_t i = 0; i < acls.size(); ++i)
        if (acls[i].name == name) return static_cast<int>(i);
    return -1;
}

int lookup_acl(ParseState&, ProxyDraft& px, const Line& line, const std::string& name) {
    auto& acls = acls_of(px);
    if (const int i = find_acl(acls, name); i >= 0) return i;
    for (const auto& p : kPredefined) {
        if (p.name != name) continue;
        Acl a;
        a.name = name;
        a.fetch = std::string(p.fetch);
        a.fetch_written = name;
        a.match = p.match;
        for (auto pat : p.patterns) a.patterns.emplace_back(pat);
        a.where = line.at;
        add_acl(px, a);
        return static_cast<int>(acls_of(px).size() - 1);
    }
    if (std::find(std::begin(kPredefinedRefused), std::end(kPredefinedRefused), name) !=
        std::end(kPredefinedRefused))
        fail(line.at, "predefined ACL " + squote(name) + " is not supported in this version");
    std::vector<std::string_view> names;
    for (const auto& a : acls)
        if (a.name.front() != '{') names.push_back(a.name);
    for (const auto& p : kPredefined) names.push_back(p.name);
    std::string msg = "no such ACL " + squote(name) + " in " + px.kind + " " + squote(px.name);
    if (std::find(px.defaults_acls.begin(), px.defaults_acls.end(), name) != px.defaults_acls.end())
        msg += " (ACLs declared in a 'defaults' section are not inherited: declare it in this section)";
    else
        msg += did_you_mean(name, names) + " (an ACL must be declared before the rules that use it)";
    fail(line.at, msg);
}

// ---- rules -----------------------------------------------------------------------------------------------

bool is_final(HttpAction a) {
    return a == HttpAction::Allow || a == HttpAction::Deny || a == HttpAction::Return ||
           a == HttpAction::Redirect || a == HttpAction::Auth || a == HttpAction::UseService;
}

void add_rule(ParseState& st, ProxyDraft& px, const HttpRule& rule, bool response) {
    const auto& list = has_fe(px) ? (response ? px.fe.http.response_rules : px.fe.http.request_rules)
                                  : (response ? px.be.http.response_rules : px.be.http.request_rules);
    if (!list.empty() && is_final(list.back().action) && !list.back().cond.present) {
        st.warn(rule.where, std::string("previous '") + (response ? "http-response" : "http-request") +
                                "' rule at " + where_text(list.back().where) +
                                " is final and has no condition: this rule is never evaluated");
    }
    each_http(px, [&](HttpProxy& h) { (response ? h.response_rules : h.request_rules).push_back(rule); });
}

// ---- log-format values ----------------------------------------------------------------------------------

// Where a log-format value is used: what the request path can evaluate there (src/http/rules.cpp expand()).
enum class FmtUse {
    Request,   // http-request set-header/add-header, set-path, redirect: request and client known
    Response,  // http-response set-header/add-header: response headers and client known
    Reply,     // 'hdr' of return/deny/http-error: built once at start, only literal text
};

std::string supported_in(FmtUse use) {
    switch (use) {
        case FmtUse::Request:
            return "%[src], %[src_port], %[path], %[url], %[query], %[method], %[hdr(<name>)], "
                   "%[req.hdr(<name>)], %ci, %cp, and %% for a literal '%'";
        case FmtUse::Response:
            return "%[src], %[src_port], %[hdr(<name>)] and %[res.hdr(<name>)] (the response's headers), "
                   "%ci, %cp, and %% for a literal '%'";
        case FmtUse::Reply:
            break;
    }
    return "literal text and %% for a literal '%' (the reply is built once, at start)";
}

// Why a sample expression written in a value cannot be used there; empty when it is evaluated.
std::string sample_problem(std::string_view expr, FmtUse use) {
    if (use == FmtUse::Reply) return "sample expressions are not evaluated in replies in this version";
    // the fetch ends at its argument list's ')' (or at the first ','); a ',' after it starts converters
    const auto paren = expr.find('(');
    const auto first_comma = expr.find(',');
    const auto fetch_end =
        paren != std::string_view::npos && paren < first_comma ? expr.find(')', paren) : first_comma;
    if (fetch_end != std::string_view::npos) {
        const auto conv = expr.find(',', fetch_end);
        if (conv != std::string_view::npos)
            return "converters (" + squote(expr.substr(conv)) + ") are not supported in this version";
    }
    if (expr == "src" || expr == "src_port") return {};
    if (expr == "path" || expr == "url" || expr == "query" || expr == "method") {
        if (use == FmtUse::Request) return {};
        return squote(expr) + " needs the request, which 'http-response' rules do not see in this version";
    }
    for (std::string_view prefix : {"hdr(", "req.hdr(", "res.hdr("}) {
        if (expr.substr(0, prefix.size()) != prefix) continue;
        if (expr.back() != ')') return "missing ')' in " + squote(expr);
        const auto name = expr.substr(prefix.size(), expr.size() - prefix.size() - 1);
        if (name.find(',') != std::string_view::npos)
            return "header occurrence arguments are not supported in this version; write " +
                   squote(std::string(prefix) + std::string(name.substr(0, name.find(','))) + ")") +
                   " (the value's last element, as HAProxy's default)";
        if (!is_token(name)) return "invalid header name " + squote(name);
        if (prefix == "req.hdr(" && use == FmtUse::Response)
            return "'req.hdr' reads the request's headers, which 'http-response' rules cannot see (HAProxy "
                   "refuses it there too): use 'hdr' or 'res.hdr' for the response's";
        if (prefix == "res.hdr(" && use == FmtUse::Request)
            return "'res.hdr' reads the response's headers, which do not exist yet in 'http-request' rules";
        return {};
    }
    const auto name = expr.substr(0, expr.find('('));
    return "sample fetch " + squote(name) + " is not evaluated in this version";
}

// A log-format string (HAProxy 8.2.4) as a header value, redirect target or path: every '%' construct
// must be one the request path evaluates. Anything else is refused: it would be sent as written (or as
// something else), while HAProxy sends its value. what names the rule in messages.
void check_log_format(const Line& line, const std::string& value, FmtUse use, const std::string& what) {
    auto refuse = [&](const std::string& construct, const std::string& why) {
        fail(line.at, what + ": " + squote(construct) + " in " + squote(value) + ": " + why +
                          "; supported here: " + supported_in(use));
    };
    for (std::size_t i = value.find('%'); i != std::string::npos; i = value.find('%', i)) {
        if (i + 1 >= value.size()) refuse("%", "truncated after '%' (write '%%' for a literal '%')");
        const char c = value[i + 1];
        if (c == '%') {
            i += 2;
        } else if (c == '[') {
            const auto close = value.find(']', i + 2);
            if (close == std::string::npos) refuse(value.substr(i), "missing ']'");
            const std::string expr = value.substr(i + 2, close - i - 2);
            if (const std::string why = sample_problem(expr, use); !why.empty())
                refuse(value.substr(i, close - i + 1), why);
            i = close + 1;
        } else if (c == '{') {
            const auto close = value.find('}', i + 2);
            refuse(value.substr(i, close == std::string::npos ? std::string::npos : close - i + 1),
                   "log-format flags ('%{...}') are not supported in this version");
        } else if (std::isalpha(static_cast<unsigned char>(c))) {
            std::size_t j = i + 1;
            while (j < value.size() && std::isalpha(static_cast<unsigned char>(value[j]))) ++j;
            const std::string var = value.substr(i + 1, j - i - 1);
            if (use == FmtUse::Reply || (var != "ci" && var != "cp"))
                refuse("%" + var, use == FmtUse::Reply
                                      ? "variables are not evaluated in replies in this version"
                                      : "log-format variable '%" + var +
                                            "' is not evaluated here in this version (write '%%' for "
                                            "a literal '%')");
            i = j;
        } else {
            refuse(value.substr(i, 2), "unexpected character after '%' (write '%%' for a literal '%')");
        }
    }
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

// '%%' -> '%' in a value already checked with FmtUse::Reply.
std::string unescape_percent(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        out += s[i];
        if (s[i] == '%' && i + 1 < s.size() && s[i + 1] == '%') ++i;
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

enum class ReplyKind { Deny, Return, HttpError };

struct ParsedReply {
    int status = 0;
    bool has_reply = false;
    Reply reply;
    std::string content_type;
    std::string section;  // errorfiles <name>: resolved at the end
};

// words [start, end) of deny / return / http-error.
ParsedReply parse_reply(ParseState& st, const Line& line, std::size_t start, std::size_t end, ReplyKind kind,
                        int default_status, std::string_view kw) {
    const std::string k(kw);
    ParsedReply out;
    out.status = default_status;
    enum class Payload { None, String, File, Errorfile, Errorfiles } payload = Payload::None;
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
            const auto c = parse_integer(v);
            if (kind == ReplyKind::HttpError) {
                if (!c || !error_code_ok(*c))
                    fail(line.at, squote(k) + ": status code " + squote(v) +
                                      " not handled (supported: " + std::string(kErrorCodesText) + ")");
            } else if (!c || *c < 200 || *c > 599) {
                fail(line.at, squote(k) + ": unexpected status code " + squote(v) + " (expects 200 to 599)");
            }
            out.status = static_cast<int>(*c);
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
            fail(line.at,
                 squote(k) + ": " + squote(w) +
                     " (a log-format body) is not supported in this version; use 'string' or 'file'");
        } else if (w == "hdr") {
            const std::string& n = value(i, "a header name and a value");
            const std::string& v = value(i, "a header value");
            if (!is_token(n)) fail(line.at, squote(k) + ": invalid header name " + squote(n));
            if (has_ctl(v))
                fail(line.at,
                     squote(k) + ": the value of header " + squote(n) + " contains a control character");
            check_log_format(line, v, FmtUse::Reply, squote(k + " hdr " + n));
            const auto ln = lower(n);
            if (ln == "content-length" || ln == "content-type" || ln == "transfer-encoding")
                fail(line.at, squote(k) + ": header " + squote(n) + " is set by the reply itself");
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
    const bool body_payload = payload == Payload::String || payload == Payload::File;
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
    switch (payload) {
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

void apply_reply(ProxyDraft& px, HttpRule& r, ParsedReply&& p, bool response) {
    r.status = p.status;
    r.content_type = p.content_type;
    r.has_reply = p.has_reply;
    r.reply = std::move(p.reply);
    if (!p.section.empty()) {
        const auto& list = has_fe(px) ? (response ? px.fe.http.response_rules : px.fe.http.request_rules)
                                      : (response ? px.be.http.response_rules : px.be.http.request_rules);
        px.pending_replies.push_back(PendingReply{response, list.size(), p.section, p.status, r.where});
    }
}

constexpr std::string_view kRequestActions[] = {"allow",    "deny",       "return",     "redirect",
                                                "auth",     "set-header", "add-header", "del-header",
                                                "set-path", "use-service"};
constexpr std::string_view kResponseActions[] = {"allow", "deny", "set-header", "add-header", "del-header"};
constexpr std::string_view kActionsRefused[] = {"replace-header",
                                                "replace-value",
                                                "set-var",
                                                "set-var-fmt",
                                                "unset-var",
                                                "capture",
                                                "set-query",
                                                "set-uri",
                                                "set-method",
                                                "set-pathq",
                                                "replace-path",
                                                "replace-pathq",
                                                "replace-uri",
                                                "set-log-level",
                                                "set-nice",
                                                "set-tos",
                                                "set-mark",
                                                "track-sc0",
                                                "track-sc1",
                                                "track-sc2",
                                                "sc-inc-gpc",
                                                "sc-inc-gpc0",
                                                "sc-inc-gpc1",
                                                "sc-set-gpt0",
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
                                                "strict-mode",
                                                "set-timeout",
                                                "send-spoe-group",
                                                "set-priority-class",
                                                "set-priority-offset",
                                                "set-bandwidth-limit",
                                                "set-status",
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
        check_log_format(line, r.value, kw == "http-response" ? FmtUse::Response : FmtUse::Request,
                         squote(kw + " " + act + " " + r.name));
    }
    if (!is_token(r.name)) fail(line.at, squote(kw + " " + act) + ": invalid header name " + squote(r.name));
}

[[noreturn]] void unknown_action(const Line& line, const std::string& kw, const std::string& act,
                                 const std::string_view* first, const std::string_view* last) {
    if (act.rfind("lua.", 0) == 0) fail(line.at, squote(kw + " " + act) + ": Lua is not supported");
    if (std::find(std::begin(kActionsRefused), std::end(kActionsRefused), act) != std::end(kActionsRefused) ||
        act.rfind("track-sc", 0) == 0 || act.rfind("sc-", 0) == 0)
        fail(line.at, squote(kw) + " action " + squote(act) + " is not supported in this version");
    std::vector<std::string_view> names(first, last);
    std::string list;
    for (auto n : names) list += (list.empty() ? "" : ", ") + std::string(n);
    fail(line.at, "unknown " + squote(kw) + " action " + squote(act) + did_you_mean(act, names) +
                      " (supported: " + list + ")");
}

}  // namespace

// ---- shared with proxy.cpp -------------------------------------------------------------------------------

std::size_t condition_start(const Line& line, std::size_t from) {
    for (std::size_t i = from; i < line.words.size(); ++i)
        if (line.words[i] == "if" || line.words[i] == "unless") return i;
    return line.words.size();
}

Condition parse_condition(ParseState& st, ProxyDraft& px, const Line& line, std::size_t idx) {
    Condition c;
    c.present = true;
    c.unless = line.words[idx] == "unless";
    const std::string kw = line.words[idx];
    if (idx + 1 >= line.words.size()) fail(line.at, "missing condition after " + squote(kw));
    std::vector<CondTerm> group;
    bool neg = false;
    for (std::size_t i = idx + 1; i < line.words.size(); ++i) {
        std::string_view w = line.words[i];
        if (w == "or" || w == "||") {
            if (group.empty() || neg) fail(line.at, "condition: " + squote(w) + " needs an ACL on each side");
            c.any_of.push_back(std::move(group));
            group.clear();
            continue;
        }
        while (!w.empty() && w.front() == '!') {
            neg = !neg;
            w.remove_prefix(1);
        }
        if (w.empty()) continue;
        CondTerm term;
        term.negate = neg;
        neg = false;
        if (w == "{") {
            std::size_t close = i + 1;
            while (close < line.words.size() && line.words[close] != "}") ++close;
            if (close >= line.words.size())
                fail(line.at, "condition: missing '}' to close the anonymous ACL");
            if (close == i + 1) fail(line.at, "condition: empty anonymous ACL '{ }'");
            const std::string name = "{anonymous#" + std::to_string(acls_of(px).size()) + "}";
            add_acl(px, parse_acl_words(st, line, i + 1, close, name));
            term.acls.push_back(static_cast<int>(acls_of(px).size() - 1));
            i = close;
        } else if (w.front() == '{') {
            fail(line.at, "condition: '{' must be followed by a space (write '{ " + std::string(w.substr(1)) +
                              " ... }')");
        } else if (w.back() == '}') {
            fail(line.at, "condition: unexpected " + squote(w) + " ('}' must be preceded by a space)");
        } else if (w == "if" || w == "unless") {
            fail(line.at, "condition: unexpected " + squote(w) + " inside a condition");
        } else {
            term.acls.push_back(lookup_acl(st, px, line, std::string(w)));
        }
        group.push_back(std::move(term));
    }
    if (neg) fail(line.at, "condition: '!' must be followed by an ACL");
    if (group.empty()) fail(line.at, "condition: missing ACL after " + squote(c.any_of.empty() ? kw : "or"));
    c.any_of.push_back(std::move(group));
    return c;
}

void kw_acl(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& name = arg_or_fail(line, 1, "acl", "a name, a sample fetch and patterns");
    if (!valid_acl_name(name))
        fail(line.at,
             "invalid ACL name " + squote(name) + ": use letters, digits, '-', '_', '.' and ':' only");
    if (name == "or") fail(line.at, "ACL name 'or' is reserved");
    if (line.words.size() < 3) fail(line.at, "ACL " + squote(name) + ": missing sample fetch (criterion)");
    if (is_defaults(px) && px.name.empty())
        fail(line.at, "'acl' is not allowed in an anonymous 'defaults' section");
    Acl acl = parse_acl_words(st, line, 2, line.words.size(), name);
    if (is_defaults(px)) {
        st.warn_ignored(line.at, {"acl " + name},
                        "ACLs of a 'defaults' section are not inherited by the proxies that use it");
        if (std::find(px.defaults_acls.begin(), px.defaults_acls.end(), name) == px.defaults_acls.end())
            px.defaults_acls.push_back(name);
        return;
    }
    add_acl(px, acl);
}

void kw_http_request(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::string kw = "http-request";
    if (is_defaults(px))
        fail(line.at,
             "'http-request' rules are not supported in 'defaults' sections: declare them in each "
             "frontend, backend or listen");
    const auto& act = arg_or_fail(line, 1, kw, "an action");
    const std::size_t end = condition_start(line, 2);
    HttpRule r;
    r.where = line.at;
    ParsedReply reply;
    bool with_reply = false;
    if (act == "allow") {
        r.action = HttpAction::Allow;
        if (end > 2)
            fail(line.at, "unexpected argument " + squote(line.words[2]) + " after 'http-request allow'");
    } else if (act == "deny") {
        r.action = HttpAction::Deny;
        reply = parse_reply(st, line, 2, end, ReplyKind::Deny, 403, "http-request deny");
        with_reply = true;
    } else if (act == "return") {
        r.action = HttpAction::Return;
        reply = parse_reply(st, line, 2, end, ReplyKind::Return, 200, "http-request return");
        with_reply = true;
    } else if (act == "redirect") {
        parse_redirect(line, 2, end, r, "http-request redirect", true);
    } else if (act == "auth") {
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
    } else if (act == "set-header" || act == "add-header" || act == "del-header") {
        parse_header_action(line, end, r, kw);
    } else if (act == "set-path") {
        if (end != 3) fail(line.at, "'http-request set-path' expects exactly 1 argument <format>");
        r.action = HttpAction::SetPath;
        r.value = line.words[2];
        if (r.value.empty() || has_ctl(r.value))
            fail(line.at, "'http-request set-path': invalid path " + squote(r.value));
        check_log_format(line, r.value, FmtUse::Request, "'http-request set-path'");
    } else if (act == "use-service") {
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
    } else {
        unknown_action(line, kw, act, std::begin(kRequestActions), std::end(kRequestActions));
    }
    if (end < line.words.size()) r.cond = parse_condition(st, px, line, end);
    if (with_reply) apply_reply(px, r, std::move(reply), false);
    add_rule(st, px, r, false);
}

void kw_http_response(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::string kw = "http-response";
    if (is_defaults(px))
        fail(line.at,
             "'http-response' rules are not supported in 'defaults' sections: declare them in each "
             "frontend, backend or listen");
    const auto& act = arg_or_fail(line, 1, kw, "an action");
    const std::size_t end = condition_start(line, 2);
    HttpRule r;
    r.where = line.at;
    ParsedReply reply;
    bool with_reply = false;
    if (act == "allow") {
        r.action = HttpAction::Allow;
        if (end > 2)
            fail(line.at, "unexpected argument " + squote(line.words[2]) + " after 'http-response allow'");
    } else if (act == "deny") {
        r.action = HttpAction::Deny;
        reply = parse_reply(st, line, 2, end, ReplyKind::Deny, 502, "http-response deny");
        with_reply = true;
    } else if (act == "set-header" || act == "add-header" || act == "del-header") {
        parse_header_action(line, end, r, kw);
    } else {
        unknown_action(line, kw, act, std::begin(kResponseActions), std::end(kResponseActions));
    }
    if (end < line.words.size()) r.cond = parse_condition(st, px, line, end);
    if (with_reply) apply_reply(px, r, std::move(reply), true);
    add_rule(st, px, r, true);
}

void kw_redirect(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::size_t end = condition_start(line, 1);
    HttpRule r;
    r.where = line.at;
    parse_redirect(line, 1, end, r, "redirect", false);
    if (end < line.words.size()) r.cond = parse_condition(st, px, line, end);
    px.redirects.push_back(std::move(r));
}

// ---- error replies ---------------------------------------------------------------------------------------

void kw_errorfile(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& code_text = arg_or_fail(line, 1, "errorfile", "a status code and a file");
    const auto code = parse_integer(code_text);
    if (!code || !error_code_ok(*code))
        fail(line.at, "'errorfile': status code " + squote(code_text) +
                          " not handled (supported: " + std::string(kErrorCodesText) + ")");
    const auto& path = arg_or_fail(line, 2, "errorfile", "a file name");
    no_more_args(line, 3, "errorfile");
    ErrorDirective d;
    d.reply.status = static_cast<int>(*code);
    d.reply.raw = read_whole(path, line.at, "errorfile");
    d.reply.where = line.at;
    d.at = line.at;
    check_raw_response(d.reply.raw, path, line.at, "errorfile",
                       static_cast<std::size_t>(st.cfg.global.bufsize));
    px.errors.push_back(std::move(d));
}

void kw_errorfiles(ParseState&, ProxyDraft& px, const Line& line) {
    ErrorDirective d;
    d.from_section = true;
    d.section = arg_or_fail(line, 1, "errorfiles", "the name of an http-errors section");
    d.at = line.at;
    for (std::size_t i = 2; i < line.words.size(); ++i) {
        const auto c = parse_integer(line.words[i]);
        if (!c || !error_code_ok(*c))
            fail(line.at, "'errorfiles': status code " + squote(line.words[i]) +
                              " not handled (supported: " + std::string(kErrorCodesText) + ")");
        d.codes.push_back(static_cast<int>(*c));
    }
    px.errors.push_back(std::move(d));
}

void kw_errorloc(ParseState&, ProxyDraft& px, const Line& line) {
    const auto& kw = line.words[0];
    const auto& code_text = arg_or_fail(line, 1, kw, "a status code and a URL");
    const auto code = parse_integer(code_text);
    if (!code || !error_code_ok(*code))
        fail(line.at, squote(kw) + ": status code " + squote(code_text) +
                          " not handled (supported: " + std::string(kErrorCodesText) + ")");
    const auto& url = arg_or_fail(line, 2, kw, "a URL");
    if (has_ctl(url)) fail(line.at, squote(kw) + ": the URL contains a control character");
    no_more_args(line, 3, kw);
    const int redirect = kw == "errorloc303" ? 303 : 302;
    ErrorDirective d;
    d.reply.status = static_cast<int>(*code);
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

// ---- logs ------------------------------------------------------------------------------------------------

namespace {

constexpr std::string_view kFacilities[] = {"kern",   "user",   "mail",   "daemon", "auth",   "syslog",
                                            "lpr",    "news",   "uucp",   "cron",   "auth2",  "ftp",
                                            "ntp",    "audit",  "alert",  "cron2",  "local0", "local1",
                                            "local2", "local3", "local4", "local5", "local6", "local7"};
constexpr std::string_view kLevels[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
constexpr std::string_view kLogFormats[] = {"local", "rfc3164", "rfc5424", "priority",
                                            "short", "timed",   "iso",     "raw"};
// What one access-log record can hold when the shard renders it (log::kMaxLine: the config room does not
// depend on the log room).
constexpr std::size_t kMaxRenderedLine = 1024;

int level_rank(std::string_view level) {
    for (std::size_t i = 0; i < std::size(kLevels); ++i)
        if (kLevels[i] == level) return static_cast<int>(i);
    return -1;
}

template <std::size_t N>
bool in(std::string_view w, const std::string_view (&table)[N]) {
    return std::find(std::begin(table), std::end(table), w) != std::end(table);
}
template <std::size_t N>
std::vector<std::string_view> vec(const std::string_view (&table)[N]) {
    return {std::begin(table), std::end(table)};
}

// The syslog server of a UDP target: "ADDR[:PORT]" after an optional udp@/udp4@/udp6@/ipv4@/ipv6@ prefix,
// numeric, port 514 when none is written (HAProxy's default).
SockAddr parse_syslog_addr(const Line& line, const std::string& target, std::string_view addr, int family) {
    const bool v6_bracketed = !addr.empty() && addr.front() == '[';
    const auto close = addr.find(']');
    bool has_port = false;
    if (v6_bracketed)
        has_port = close != std::string_view::npos && close + 1 < addr.size() && addr[close + 1] == ':';
    else
        has_port = addr.find(':') != std::string_view::npos;  // IPv6 without brackets: the last colon
    const std::string full = std::string(addr) + (has_port ? "" : ":514");
    const auto a = parse_addr(full);
    if (!a || addr.empty() ||
        (!v6_bracketed && (addr.front() == ':' || addr.front() == '*') && family != AF_INET6)) {
        fail(line.at, "'log': " + squote(target) +
                          " is not a numeric IPv4/IPv6 syslog address with an optional port (e.g. "
                          "127.0.0.1:514, udp@[::1]:514); host names are not resolved (no DNS at boot)");
    }
    if (family != 0 && a->family() != family)
        fail(line.at, "'log': " + squote(target) + ": the address does not match its family prefix");
    return *a;
}

// What a log line sends to, from its first word. Refuses what this version would not send: a target
// accepted and never written would look like a working log configuration.
void parse_log_destination(const Line& line, LogTarget& t) {
    const std::string& w = t.target;
    const auto at_sign = w.find('@');
    const std::string prefix = at_sign == std::string::npos ? "" : w.substr(0, at_sign);
    const std::string rest = at_sign == std::string::npos ? w : w.substr(at_sign + 1);
    if (w == "stdout" || w == "fd@1") {
        t.kind = LogTarget::Kind::Stdout;
    } else if (w == "stderr" || w == "fd@2") {
        t.kind = LogTarget::Kind::Stderr;
    } else if (prefix == "fd") {
        fail(line.at, "'log " + w + "': only fd@1 (stdout) and fd@2 (stderr) are supported as descriptors");
    } else if (prefix == "file") {
        if (rest.empty()) fail(line.at, "'log file@' expects a path after 'file@'");
        t.kind = LogTarget::Kind::File;
        t.path = rest;
    } else if (prefix == "unix" || (at_sign == std::string::npos && !w.empty() && w.front() == '/')) {
        if (rest.empty() || rest.front() != '/')
            fail(line.at, "'log " + w + "': expects an absolute unix socket path, e.g. unix@/dev/log");
        if (rest.size() > 107) fail(line.at, "'log " + w + "': a unix socket path holds at most 107 bytes");
        t.kind = LogTarget::Kind::Unix;
        t.path = rest;
    } else if (prefix == "tcp" || prefix == "tcp4" || prefix == "tcp6") {
        fail(line.at, "'log " + w +
                          "': syslog over TCP is not supported in this version (nothing would be sent); "
                          "use a UDP server ('udp@ADDR:PORT' or 'ADDR:PORT') or a unix socket ('/dev/log')");
    } else if (prefix == "ring") {
        fail(line.at, "'log " + w +
                          "': ring buffers are not supported in this version (the 'ring' section is "
                          "skipped); use a UDP server ('ADDR:PORT'), a unix socket, stdout, stderr or file@");
    } else if (prefix.empty() || prefix == "udp" || prefix == "udp4" || prefix == "udp6" ||
               prefix == "ipv4" || prefix == "ipv6") {
        const int family = prefix == "udp4" || prefix == "ipv4"   ? AF_INET
                           : prefix == "udp6" || prefix == "ipv6" ? AF_INET6
                                                                  : 0;
        t.kind = LogTarget::Kind::Udp;
        t.addr = parse_syslog_addr(line, w, rest, family);
    } else {
        fail(line.at, "'log': unsupported target " + squote(w) +
                          " (supported: stdout, stderr, fd@1, fd@2, file@<path>, <addr>[:<port>] with an "
                          "optional udp@, udp4@, udp6@, ipv4@ or ipv6@ prefix, unix@<path> or an absolute "
                          "path)");
    }
}

LogTarget parse_log_target(ParseState& st, const Line& line) {
    LogTarget t;
    t.where = line.at;
    t.target =
        arg_or_fail(line, 1, "log",
                    "a target (stdout, stderr, file@<path>, a syslog address, a unix socket) and a facility");
    if (has_ctl(t.target)) fail(line.at, "'log': invalid target " + squote(t.target));
    parse_log_destination(line, t);
    t.format = "rfc3164";
    std::size_t i = 2;
    while (i < line.words.size()) {
        const auto& w = line.words[i];
        if (w == "len") {
            t.len = static_cast<int>(int_arg(line, i + 1, "log len", 80, 65535, "a length from 80 to 65535"));
            i += 2;
        } else if (w == "format") {
            const auto& f = arg_or_fail(line, i + 1, "log format", "a log format");
            if (!in(f, kLogFormats))
                fail(line.at, "'log format': unknown format " + squote(f) +
                                  did_you_mean(f, vec(kLogFormats)) +
                                  " (local, rfc3164, rfc5424, priority, short, timed, iso, raw)");
            t.format = f;
            i += 2;
        } else if (w == "sample") {
            fail(line.at, "'log ... sample' (log sampling) is not supported in this version");
        } else {
            break;
        }
    }
    const auto& fac =
        arg_or_fail(line, i, "log", "a syslog facility (kern, user, daemon, local0..local7...)");
    if (!in(fac, kFacilities))
        fail(line.at,
             "'log': unknown facility " + squote(fac) + did_you_mean(fac, vec(kFacilities)) +
                 " (one of the 24 syslog facilities: kern, user, mail, daemon, ..., local0..local7)");
    t.facility = fac;
    ++i;
    if (i < line.words.size()) {
        if (!in(line.words[i], kLevels))
            fail(line.at, "'log': unknown level " + squote(line.words[i]) +
                              did_you_mean(line.words[i], vec(kLevels)) +
                              " (emerg alert crit err warning notice info debug)");
        t.level = line.words[i++];
    }
    if (i < line.words.size()) {
        if (!in(line.words[i], kLevels))
            fail(line.at, "'log': unknown minimum level " + squote(line.words[i]) +
                              did_you_mean(line.words[i], vec(kLevels)));
        t.min_level = line.words[i++];
    }
    no_more_args(line, i, "log");
    if (t.len > static_cast<int>(kMaxRenderedLine))
        st.warn(line.at, "'log ... len " + std::to_string(t.len) + "': access-log lines longer than " +
                             std::to_string(kMaxRenderedLine) +
                             " bytes are cut there by the shards before they are sent; 'len' only shortens "
                             "lines in this version");
    if (!t.level.empty() && level_rank(t.level) < level_rank("info"))
        st.warn(line.at, "'log " + t.target + " ... " + t.level +
                             "': edgeshard sends only access logs, at "
                             "severity 'info', so this target receives nothing (HAProxy would send its "
                             "process events there: server state changes, start and stop)");
    return t;
}

}  // namespace

void parse_global_log(ParseState& st, const Line& line) {
    if (line.words.size() > 1 && line.words[1] == "global")
        fail(line.at, "'log global' only applies to proxies; in 'global', give a target");
    st.cfg.global.logs.push_back(parse_log_target(st, line));
}

void kw_log(ParseState& st, ProxyDraft& px, const Line& line) {
    std::vector<LogTarget> add;
    if (line.words.size() > 1 && line.words[1] == "global") {
        no_more_args(line, 2, "log global");
        add = st.cfg.global.logs;  // HAProxy copies the global targets known at this point
    } else {
        add.push_back(parse_log_target(st, line));
    }
    if (!has_fe(px)) {
        st.warn_ignored(line.at, {"log"}, "access logs are written by frontends");
        return;
    }
    px.fe.logs.insert(px.fe.logs.end(), add.begin(), add.end());
}

void kw_no_log(ParseState&, ProxyDraft& px, const Line& line) {
    no_more_args(line, 2, "no log");
    px.fe.logs.clear();
}

void check_syslog_word(const Line& line, std::string_view kw, const std::string& value) {
    const bool ok =
        !value.empty() && value.size() <= 255 && std::all_of(value.begin(), value.end(), [](char c) {
            return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
        });
    if (!ok)
        fail(line.at, squote(kw) +
                          " expects printable ASCII without blanks (it goes into the syslog header), got " +
                          squote(value));
}

void kw_log_tag(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& tag = arg_or_fail(line, 1, "log-tag", "a tag");
    no_more_args(line, 2, "log-tag");
    check_syslog_word(line, "log-tag", tag);
    if (!has_fe(px)) return warn_no_fe(st, px, line.at, "log-tag");
    px.fe.log_tag = tag;
}

void kw_log_format(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& fmt = arg_or_fail(line, 1, "log-format", "a format string");
    if (line.words.size() > 2)
        fail(line.at, "'log-format' expects only one argument (quote the format or escape its spaces), got " +
                          std::to_string(line.words.size() - 1));
    if (!has_fe(px)) return warn_no_fe(st, px, line.at, "log-format");
    px.fe.log_format = fmt;
    px.httplog = false;
}

bool http_option(ParseState& st, ProxyDraft& px, const Line& line, const std::string& name, bool negated) {
    const std::size_t next = negated ? 3 : 2;
    const std::string kw = std::string(negated ? "no option " : "option ") + name;
    if (name == "forwardfor") {
        bool if_none = false;
        std::string header = "X-Forwarded-For", except;
        if (negated) {
            no_more_args(line, next, kw);
        } else {
            for (std::size_t i = next; i < line.words.size(); ++i) {
                const auto& w = line.words[i];
                if (w == "except") {
                    const auto& net = arg_or_fail(line, ++i, kw + " except", "a network");
                    const auto n = normalize_network(net);
                    if (!n)
                        fail(line.at, squote(kw + " except") + ": " + squote(net) +
                                          " is not a numeric IPv4/IPv6 network");
                    except = *n;
                } else if (w == "header") {
                    header = arg_or_fail(line, ++i, kw + " header", "a header name");
                    if (!is_token(header))
                        fail(line.at, squote(kw + " header") + ": invalid header name " + squote(header));
                } else if (w == "if-none") {
                    if_none = true;
                } else {
                    fail(line.at, squote(kw) + ": unknown argument " + squote(w) +
                                      did_you_mean(w, {"except", "header", "if-none"}) +
                                      " (expects except <network>, header <name>, if-none)");
                }
            }
        }
        each_http(px, [&](HttpProxy& h) {
            h.forwardfor = !negated;
            h.forwardfor_header = header;
            h.forwardfor_except = except;
            h.forwardfor_if_none = if_none;
        });
        return true;
    }
    if (name == "httpclose" || name == "http-server-close" || name == "http-keep-alive") {
        no_more_args(line, next, kw);
        each_http(px, [&](HttpProxy& h) {
            if (name == "http-keep-alive") {
                if (!negated) h.httpclose = h.server_close = false;
            } else if (name == "httpclose") {
                h.httpclose = !negated;
            } else {
                h.server_close = !negated;
            }
            h.http_keep_alive = !h.httpclose && !h.server_close;
        });
        return true;
    }
    if (name == "httplog" || name == "httpslog") {
        // HAProxy's httpslog is httplog plus TLS fields; edgeshard has no TLS listener yet, so those
        // fields would all be empty: the httplog line is what such a frontend logs.
        const bool tls = name == "httpslog";
        bool clf = false;
        if (!tls && !negated && line.words.size() > next) {
            if (line.words[next] != "clf")
                fail(line.at, "'option httplog' expects nothing or 'clf', got " + squote(line.words[next]));
            clf = true;
        }
        no_more_args(line, clf ? next + 1 : next, kw);
        if (!has_fe(px)) {
            warn_no_fe(st, px, line.at, kw);
            return true;
        }
        if (negated) {
            if (px.httplog) px.fe.log_format.clear();
            px.httplog = false;
            return true;
        }
        if (tls)
            st.warn(line.at,
                    "'option httpslog' falls back to 'option httplog': there are no TLS fields to log "
                    "(TLS binds are not supported in this version)");
        px.fe.log_format = std::string(clf ? kClfLogFormat : kHttpLogFormat);
        px.httplog = true;
        return true;
    }
    if (name == "tcplog") {
        no_more_args(line, next, kw);
        if (!has_fe(px)) return true;  // HAProxy accepts it in backends, without effect
        if (negated) {
            if (px.fe.log_format == kTcpLogFormat) px.fe.log_format.clear();
            return true;
        }
        px.fe.log_format = std::string(kTcpLogFormat);
        px.httplog = false;
        return true;
    }
    if (name == "dontlognull") {
        no_more_args(line, next, kw);
        if (!has_fe(px)) {
            warn_no_fe(st, px, line.at, kw);
            return true;
        }
        px.fe.dontlognull = !negated;
        return true;
    }
    return false;
}

// ---- stats page ------------------------------------------------------------------------------------------

void kw_stats(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& sub = arg_or_fail(line, 1, "stats", "enable, uri, refresh, realm or auth");
    const std::string kw = "stats " + sub;
    if (sub == "socket" || sub == "timeout" || sub == "maxconn" || sub == "bind-process")
        fail(line.at, squote(kw) + " belongs in the 'global' section");
    if (!has_fe(px))
        fail(line.at,
             "the stats page in a backend is not supported in this version: declare it in a frontend "
             "or listen section ('stats enable', 'stats uri')");
    auto& s = px.fe.stats;
    if (sub == "enable") {
        no_more_args(line, 2, kw);
    } else if (sub == "uri") {
        const auto& uri = arg_or_fail(line, 2, kw, "a path starting with '/'");
        if (uri.empty() || uri.front() != '/' || has_ctl(uri) || uri.find(' ') != std::string::npos)
            fail(line.at, squote(kw) + " expects a path starting with '/', got " + squote(uri));
        no_more_args(line, 3, kw);
        s.uri = uri;
    } else if (sub == "refresh") {
        s.refresh = time_arg(line, 2, kw);
        no_more_args(line, 3, kw);
    } else if (sub == "realm") {
        s.realm = arg_or_fail(line, 2, kw, "a realm");
        if (has_ctl(s.realm) || s.realm.find('"') != std::string::npos)
            fail(line.at, squote(kw) + ": the realm must not contain quotes or control characters");
        no_more_args(line, 3, kw);
    } else if (sub == "auth") {
        const auto& cred = arg_or_fail(line, 2, kw, "<user>:<password>");
        const auto colon = cred.find(':');
        if (colon == std::string::npos || colon == 0)
            fail(line.at, squote(kw) + " expects <user>:<password>, got " + squote(cred));
        no_more_args(line, 3, kw);
        s.auth.push_back(cred);
    } else if (sub == "hide-version" || sub == "show-legends" || sub == "show-node" || sub == "show-desc" ||
               sub == "show-modules") {
        st.warn_ignored(line.at, {kw},
                        sub == "hide-version" ? "the stats page still shows edgeshard's version"
                                              : "the stats page has a fixed layout");
        return;
    } else if (sub == "admin" || sub == "http-request" || sub == "scope") {
        fail(line.at, squote(kw) + " is not supported in this version");
    } else {
        fail(line.at, "unknown keyword " + squote(kw) +
                          did_you_mean(sub, {"enable", "uri", "refresh", "realm", "auth", "hide-version",
                                             "show-legends", "show-node", "show-desc", "admin", "scope"}) +
                          " (supported: stats enable, uri, refresh, realm, auth)");
    }
    s.enabled = true;  // every stats keyword enables the page, as in HAProxy
    s.where = line.at;
}

// ---- userlist / http-errors sections ---------------------------------------------------------------------

namespace {

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto c = s.find(',', start);
        if (c == std::string::npos) c = s.size();
        if (c > start) out.push_back(s.substr(start, c - start));
        start = c + 1;
    }
    return out;
}

bool looks_like_crypt(const std::string& h) {
    if (!h.empty() && h.front() == '$') return h.find('$', 1) != std::string::npos;
    return h.size() == 13;  // traditional DES
}

}  // namespace

void parse_userlist_line(ParseState& st, const Line& line) {
    auto& ul = st.userlist;
    const auto& kw = line.words[0];
    if (kw == "user") {
        const auto& name = arg_or_fail(line, 1, "user", "a user name");
        for (const auto& u : ul.list.users) {
            if (u.name == name) {
                st.warn(line.at,
                        "ignoring duplicated user " + squote(name) + " in userlist " + squote(ul.list.name));
                return;
            }
        }
        User u;
        u.name = name;
        bool has_password = false;
        for (std::size_t i = 2; i < line.words.size(); ++i) {
            const auto& w = line.words[i];
            if (w == "password" || w == "insecure-password") {
                if (has_password) fail(line.at, "user " + squote(name) + ": only one password may be given");
                u.password = arg_or_fail(line, ++i, w, "a password");
                u.insecure = w == "insecure-password";
                has_password = true;
                if (!u.insecure && !looks_like_crypt(u.password))
                    st.warn(line.at,
                            "user " + squote(name) +
                                ": the password does not look like a crypt(3) hash ('$id$salt$hash'); "
                                "use 'insecure-password' for a clear-text password");
            } else if (w == "groups") {
                for (auto& g :
                     split_commas(arg_or_fail(line, ++i, "groups", "a comma-separated list of groups")))
                    u.groups.push_back(std::move(g));
            } else {
                fail(line.at, "user " + squote(name) + ": unknown argument " + squote(w) +
                                  did_you_mean(w, {"password", "insecure-password", "groups"}) +
                                  " (expects password <hash>, insecure-password <password>, groups <g1,g2>)");
            }
        }
        if (!has_password)
            st.warn(line.at, "user " + squote(name) + " has no password: it can never authenticate");
        ul.list.users.push_back(std::move(u));
        ul.user_at.push_back(line.at);
    } else if (kw == "group") {
        const auto& name = arg_or_fail(line, 1, "group", "a group name");
        for (const auto& g : ul.groups)
            if (g.name == name)
                fail(line.at, "group " + squote(name) + " is already declared in userlist " +
                                  squote(ul.list.name) + " at " + where_text(g.at));
        UserlistDraft::Group g{name, {}, line.at};
        for (std::size_t i = 2; i < line.words.size(); ++i) {
            if (line.words[i] != "users")
                fail(line.at, "group " + squote(name) + ": unknown argument " + squote(line.words[i]) +
                                  " (expects users <u1,u2>)");
            for (auto& u : split_commas(arg_or_fail(line, ++i, "users", "a comma-separated list of users")))
                g.users.push_back(std::move(u));
        }
        ul.groups.push_back(std::move(g));
    } else {
        fail(line.at, "unknown keyword " + squote(kw) + " in 'userlist' section" +
                          did_you_mean(kw, {"user", "group"}));
    }
}

void finish_userlist(ParseState& st) {
    auto& ul = st.userlist;
    for (std::size_t i = 0; i < ul.list.users.size(); ++i) {
        for (const auto& g : ul.list.users[i].groups) {
            const bool known =
                std::any_of(ul.groups.begin(), ul.groups.end(), [&](const auto& x) { return x.name == g; });
            if (!known)
                fail(ul.user_at[i], "userlist " + squote(ul.list.name) + ": no such group " + squote(g) +
                                        " specified in user " + squote(ul.list.users[i].name));
        }
    }
    for (const auto& g : ul.groups) {
        for (const auto& name : g.users) {
            auto it = std::find_if(ul.list.users.begin(), ul.list.users.end(),
                                   [&](const User& u) { return u.name == name; });
            if (it == ul.list.users.end())
                fail(g.at, "userlist " + squote(ul.list.name) + ": no such user " + squote(name) +
                               " specified in group " + squote(g.name));
            if (std::find(it->groups.begin(), it->groups.end(), g.name) == it->groups.end())
                it->groups.push_back(g.name);
        }
        ul.list.groups.push_back(g.name);
    }
    st.cfg.userlists.push_back(std::move(ul.list));
    st.userlist = UserlistDraft{};
}

void parse_http_errors_line(ParseState& st, const Line& line) {
    const auto& kw = line.words[0];
    if (kw != "errorfile")
        fail(line.at, "unknown keyword " + squote(kw) + " in 'http-errors' section" +
                          did_you_mean(kw, {"errorfile"}) + " (only 'errorfile <code> <file>')");
    const auto& code_text = arg_or_fail(line, 1, "errorfile", "a status code and a file");
    const auto code = parse_integer(code_text);
    if (!code || !error_code_ok(*code))
        fail(line.at, "'errorfile': status code " + squote(code_text) +
                          " not handled (supported: " + std::string(kErrorCodesText) + ")");
    const auto& path = arg_or_fail(line, 2, "errorfile", "a file name");
    no_more_args(line, 3, "errorfile");
    Reply r;
    r.status = static_cast<int>(*code);
    r.raw = read_whole(path, line.at, "errorfile");
    r.where = line.at;
    check_raw_response(r.raw, path, line.at, "errorfile", static_cast<std::size_t>(st.cfg.global.bufsize));
    auto& replies = st.cfg.http_errors.back().replies;
    std::erase_if(replies, [&](const Reply& x) { return x.status == r.status; });
    replies.push_back(std::move(r));
}

// ---- end of a proxy section and of the configuration -----------------------------------------------------

namespace {

void fix_terms(const std::vector<Acl>& acls, Condition& c) {
    for (auto& group : c.any_of) {
        for (auto& term : group) {
            const std::string name = acls[static_cast<std::size_t>(term.acls.front())].name;
            term.acls.clear();
            for (std::size_t i = 0; i < acls.size(); ++i)
                if (acls[i].name == name) term.acls.push_back(static_cast<int>(i));
        }
    }
}

void fix_proxy_terms(HttpProxy& h) {
    for (auto& r : h.request_rules) fix_terms(h.acls, r.cond);
    for (auto& r : h.response_rules) fix_terms(h.acls, r.cond);
}

// http-response conditions run on the response: the request is not kept for them (rules.cpp gets no
// request there), so an ACL that reads the request would silently never match. HAProxy refuses path, url,
// req.hdr and http_auth there too; it evaluates method and req.ver, which this version cannot.
void check_response_conditions(const HttpProxy& h) {
    for (const auto& r : h.response_rules) {
        for (const auto& group : r.cond.any_of) {
            for (const auto& term : group) {
                for (int i : term.acls) {
                    const Acl& a = h.acls[static_cast<std::size_t>(i)];
                    const bool request_hdr = a.fetch == "hdr" && a.fetch_written.rfind("req", 0) == 0;
                    if (a.fetch != "path" && a.fetch != "url" && a.fetch != "method" &&
                        a.fetch != "req.ver" && a.fetch != "http_auth" && !request_hdr)
                        continue;
                    const std::string name =
                        a.name.front() == '{' ? "an anonymous ACL" : "ACL " + squote(a.name);
                    fail(r.where,
                         "'http-response' condition: " + name + " (" + where_text(a.where) + ") uses " +
                             squote(a.fetch_written) +
                             ", which reads the request: 'http-response' rules do not see the request "
                             "in this version, so it would never match (usable there: hdr() on the "
                             "response's headers, src, always_true, always_false)");
                }
            }
        }
    }
}

bool layer7_balance(Balance b) {
    return b == Balance::Uri || b == Balance::Hdr;
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

void finish_proxy_http(ParseState& st, ProxyDraft& px) {
    // The 'redirect' keyword runs after the http-request rules, as in HAProxy.
    each_http(px, [&](HttpProxy& h) {
        h.request_rules.insert(h.request_rules.end(), px.redirects.begin(), px.redirects.end());
    });
    px.redirects.clear();
    each_http(px, fix_proxy_terms);
    for (auto& r : px.fe.use_backend_rules) fix_terms(px.fe.http.acls, r.cond);
    each_http(px, [](HttpProxy& h) { check_response_conditions(h); });

    const bool fe_tcp = has_fe(px) && px.fe.mode == Mode::Tcp;
    const bool be_tcp = has_be(px) && px.be.mode == Mode::Tcp;
    if (fe_tcp) {
        for (const auto& r : px.fe.use_backend_rules)
            if (r.cond.present)
                fail(r.where,
                     "a conditional 'use_backend' needs 'mode http' (in mode tcp only an unconditional "
                     "'use_backend NAME' is supported)");
        if (px.fe.stats.enabled)
            st.warn(px.fe.stats.where, "the stats page of " + px.kind + " " + squote(px.name) +
                                           " is ignored: it needs 'mode http'");
        if (px.httplog) {
            st.warn(px.where, "'option httplog' not usable with " + px.kind + " " + squote(px.name) +
                                  " (needs 'mode http'): falling back to 'option tcplog'");
            px.fe.log_format = std::string(kTcpLogFormat);
        }
    }
    if (fe_tcp || be_tcp) {
        const HttpProxy& h = fe_tcp ? px.fe.http : px.be.http;
        if (!h.request_rules.empty())
            st.warn(h.request_rules.front().where, "'http-request' rules of " + px.kind + " " +
                                                       squote(px.name) +
                                                       " are ignored: they need 'mode http'");
        if (!h.response_rules.empty())
            st.warn(h.response_rules.front().where, "'http-response' rules of " + px.kind + " " +
                                                        squote(px.name) +
                                                        " are ignored: they need 'mode http'");
    }
    if (be_tcp && layer7_balance(px.be.balance)) {
        st.warn(px.where, std::string("layer 7 hash 'balance ") +
                              (px.be.balance == Balance::Uri ? "uri" : "hdr") + "' is not possible for " +
                              px.kind + " " + squote(px.name) +
                              " (needs 'mode http'): falling back to roundrobin");
        px.be.balance = Balance::RoundRobin;
        px.be.balance_arg.clear();
    }
}

void resolve_http(ParseState& st) {
    auto& cfg = st.cfg;
    for (const auto& [name, at] : st.userlist_refs) {
        if (cfg.find_userlist(name) == nullptr) {
            std::vector<std::string_view> names;
            for (const auto& u : cfg.userlists) names.push_back(u.name);
            fail(at, "unknown userlist " + squote(name) + " referenced by 'http_auth'" +
                         did_you_mean(name, names));
        }
    }
    for (auto& px : st.proxies) {
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
                    st.warn(d.at, "http-errors section " + squote(d.section) +
                                      " has no errorfile for status " + std::to_string(code) +
                                      ": HAProxy's default reply is used");
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
        each_http(px, [&](HttpProxy& h) {
            h.errors = errors;
            h.max_body = cfg.global.max_body;
        });
    }
}

}  // namespace es::config::detail
