// ACLs and conditions: the 'acl' keyword (fetches, flags, matching methods, patterns), 'if'/'unless'
// conditions with anonymous and predefined ACLs, and what is checked once a proxy section ends (same-name
// ACLs OR-ed, no request fetch in an http-response condition).
//
// HAProxy 2.6 semantics; what differs is listed in README.md.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "edgeshard/http/parser.hpp"
#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

namespace {

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
    {"var", "var", Match::Str, true},
    {"path_reg", "path", Match::Reg, false},
    {"path_len", "path", Match::Len, false},
    {"url_len", "url", Match::Len, false},
    {"hdr_len", "hdr", Match::Len, true},
    {"url_reg", "url", Match::Reg, false},
    {"hdr_reg", "hdr", Match::Reg, true},
    {"hdr", "hdr", Match::Str, true},
    {"req.hdr", "hdr", Match::Str, true},
    {"hdr_beg", "hdr", Match::Beg, true},
    {"hdr_end", "hdr", Match::End, true},
    {"hdr_sub", "hdr", Match::Sub, true},
    {"hdr_dir", "hdr", Match::Dir, true},
    {"method", "method", Match::Str, false},
    {"src", "src", Match::Ip, false},
    {"dst", "dst", Match::Ip, false},
    {"always_true", "always_true", Match::Bool, false},
    {"always_false", "always_false", Match::Bool, false},
    {"http_auth", "http_auth", Match::Bool, true},
    {"http_auth_group", "http_auth_group", Match::Str, true},
    {"req.ver", "req.ver", Match::Str, false},
    {"req_ver", "req.ver", Match::Str, false},
    // mode tcp: the client's first bytes (held while tcp-request content rules decide) and the ports
    {"req.ssl_sni", "req.ssl_sni", Match::Str, false},
    {"req_ssl_sni", "req.ssl_sni", Match::Str, false},
    {"req.ssl_hello_type", "req.ssl_hello_type", Match::Int, false},
    {"req_ssl_hello_type", "req.ssl_hello_type", Match::Int, false},
    {"req.ssl_ver", "req.ssl_ver", Match::Int, false},
    {"req_ssl_ver", "req.ssl_ver", Match::Int, false},
    {"req.len", "req.len", Match::Int, false},
    {"req_len", "req.len", Match::Int, false},
    {"req.payload", "req.payload", Match::Bin, true},
    {"req.payload_lv", "req.payload_lv", Match::Bin, true},
    // the client's bytes parse as an HTTP request head (in mode http: always, the request was parsed)
    {"req.proto_http", "req.proto_http", Match::Bool, false},
    {"req_proto_http", "req.proto_http", Match::Bool, false},
    // tcp-response content: the server's first bytes (mode tcp), the response (mode http: res.len only)
    {"res.len", "res.len", Match::Int, false},
    {"res.payload", "res.payload", Match::Bin, true},
    {"res.payload_lv", "res.payload_lv", Match::Bin, true},
    {"src_port", "src_port", Match::Int, false},
    {"dst_port", "dst_port", Match::Int, false},
    {"status", "status", Match::Int, false},       // the response's (http-response / http-after-response)
    {"unique-id", "unique-id", Match::Str, false},  // the request's id (unique-id-format)
    {"url_param", "url_param", Match::Str, true},   // url_param(<name>): the query parameter's first value
    {"ssl_fc", "ssl_fc", Match::Bool, false},
    {"ssl_fc_sni", "ssl_fc_sni", Match::Str, false},
    {"ssl_fc_protocol", "ssl_fc_protocol", Match::Str, false},
    {"ssl_fc_cipher", "ssl_fc_cipher", Match::Str, false},
    {"ssl_fc_alpn", "ssl_fc_alpn", Match::Str, false},
    // client certificates (binds with `verify`): see tls::ClientCert
    {"ssl_c_used", "ssl_c_used", Match::Bool, false},
    {"ssl_fc_has_crt", "ssl_fc_has_crt", Match::Bool, false},
    {"ssl_c_verify", "ssl_c_verify", Match::Int, false},
    {"ssl_c_err", "ssl_c_err", Match::Int, false},
    {"ssl_c_ca_err", "ssl_c_ca_err", Match::Int, false},
    {"ssl_c_s_dn", "ssl_c_s_dn", Match::Str, false},
    {"ssl_c_i_dn", "ssl_c_i_dn", Match::Str, false},
    {"ssl_c_serial", "ssl_c_serial", Match::Str, false},
    {"ssl_c_sha1", "ssl_c_sha1", Match::Str, false},
    {"ssl_c_notafter", "ssl_c_notafter", Match::Str, false},
    {"ssl_c_notbefore", "ssl_c_notbefore", Match::Str, false},
};

// ssl_c_s_dn / ssl_c_i_dn take an optional "<entry>[,<occ>]" (HAProxy's third argument, the
// rfc2253 format, is not built): returns the normalized "<entry>,<occ>", or fails.
std::string dn_arg(const Line& line, const std::string& what, const std::string& fname, const std::string& arg) {
    if (arg.empty()) return {};
    const auto c1 = arg.find(',');
    const std::string entry = arg.substr(0, c1);
    std::string occ = "1";
    if (c1 != std::string::npos) {
        const auto c2 = arg.find(',', c1 + 1);
        if (c2 != std::string::npos)
            fail(line.at, what + ": " + squote(fname) + ": the <format> argument (" + squote(arg.substr(c2 + 1)) +
                              ") is not supported in this version (the DN is given in its one-line form)");
        occ = arg.substr(c1 + 1);
        const auto n = parse_integer(occ);
        if (!n || *n < -1000 || *n > 1000)
            fail(line.at, what + ": " + squote(fname) + ": occurrence " + squote(occ) + " is not an integer");
    }
    if (entry.empty() && occ != "0" && occ != "1")
        fail(line.at, what + ": " + squote(fname) + ": an occurrence needs an entry name, e.g. " +
                          squote(fname + "(OU,2)"));
    for (char ch : entry)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_')
            fail(line.at, what + ": " + squote(fname) + ": invalid DN entry name " + squote(entry));
    return entry.empty() ? std::string() : entry + "," + occ;
}

// HAProxy fetches this version does not evaluate: refused with that reason rather than "unknown".
constexpr std::string_view kFetchesRefused[] = {"path_dom",
                                                "path_end_reg",
                                                "url_dom",
                                                "urlp",
                                                "url_ip",
                                                "url_port",
                                                "hdr_dom",
                                                "hdr_cnt",
                                                "hdr_val",
                                                "hdr_ip",
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
                                                "base_len",
                                                "base32",
                                                "query",
                                                "cook",
                                                "cook_val",
                                                "cook_cnt",
                                                "req.cook",
                                                "req.cook_cnt",
                                                "req.cook_val",
                                                "http_auth_user",
                                                "http_auth_pass",
                                                "res.hdr",
                                                "shdr",
                                                "req.body",
                                                "req.body_size",
                                                "nbsrv",
                                                "be_id",
                                                "fe_id",
                                                "capture.req.hdr",
                                                "hdr_beg_reg",
                                                "int",
                                                "str",
                                                "env",
                                                "date",
                                                "rand",
                                                "req.rdp_cookie",
                                                "req_rdp_cookie",
                                                "req.ssl_alpn",
                                                "req.ssl_ec_ext",
                                                "req.ssl_st_ext",
                                                "req.ssl_keyshare_groups",
                                                "so_id",
                                                "dst_conn",
                                                "dst_is_local",
                                                "src_is_local"};

struct Predefined {
    std::string_view name;
    std::string_view fetch;
    Match match;
    std::initializer_list<std::string_view> patterns;
};
const Predefined kPredefined[] = {
    {"TRUE", "always_true", Match::Bool, {}},          {"FALSE", "always_false", Match::Bool, {}},
    {"HTTP", "req.proto_http", Match::Bool, {}},  // always true in an http proxy (its requests parsed)
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

std::vector<std::string_view> fetch_names() {
    std::vector<std::string_view> v;
    for (const auto& f : kFetches) v.push_back(f.name);
    return v;
}

std::string supported_fetches() {
    return "path, path_beg, path_end, path_sub, path_dir, path_reg, path_len, url, url_beg, url_end, url_sub, "
           "url_dir, url_reg, url_len, var(<scope>.<name>), hdr(<name>), "
           "hdr_beg, hdr_end, hdr_sub, hdr_dir, hdr_reg, hdr_len, method, src, req.ver, http_auth(<userlist>), "
           "http_auth_group(<userlist>), always_true, "
           "always_false, ssl_fc, ssl_fc_sni, ssl_fc_protocol, ssl_fc_cipher, ssl_fc_alpn, ssl_fc_has_crt, ssl_c_used, "
           "ssl_c_verify, ssl_c_err, ssl_c_ca_err, ssl_c_s_dn([<entry>[,<occ>]]), ssl_c_i_dn([<entry>[,<occ>]]), "
           "ssl_c_serial, ssl_c_sha1, ssl_c_notbefore, ssl_c_notafter, status (in response rules); in mode tcp also req.ssl_sni, "
           "req.ssl_hello_type, req.ssl_ver, req.len, req.payload(<offset>,<length>), req.payload_lv(<offset>,<length>), src_port, "
           "dst_port; in tcp-response content res.len, res.payload(<offset>,<length>), res.payload_lv(<offset>,<length>)";
}

// Whether a sample expression gives an integer: its last converter's output, else its fetch's.
bool sample_gives_int(std::string_view expr) {
    std::size_t at = sample_item_end(expr, 0, ',');
    std::string_view last = expr.substr(0, at);
    bool fetch = true;
    while (at < expr.size()) {
        const std::size_t end = sample_item_end(expr, at + 1, ',');
        if (end > at + 1) last = expr.substr(at + 1, end - at - 1), fetch = false;
        at = end;
    }
    const std::string_view name = last.substr(0, last.find('('));
    if (fetch) {
        Acl a;
        if (const auto why = stick_fetch_spec(std::string(name), "", a); why && a.stick_op != Acl::StickOp::Tracked) return true;
        for (std::string_view f : {"int", "req.hdr_cnt", "hdr_cnt", "res.hdr_cnt", "base32", "req.body_size", "nbsrv",
                                   "src_port", "dst_port", "status"})
            if (name == f) return true;
        return false;
    }
    if (table_conv(name) != nullptr) return true;
    for (std::string_view c : {"crc32", "crc32c", "djb2", "sdbm", "wt6", "xxh32", "xxh64", "xxh3", "hex2i", "add", "sub",
                               "mul", "div", "mod", "and", "or", "xor", "neg", "cpl", "length", "nbsrv"})
        if (name == c) return true;
    return false;
}

bool int_fetch(std::string_view f) {
    return f == "stick" || f == "req.ssl_hello_type" || f == "req.ssl_ver" || f == "req.len" || f == "res.len" || f == "src_port" ||
           f == "dst_port" || f == "ssl_c_verify" || f == "ssl_c_err" || f == "ssl_c_ca_err" || f == "status";
}

// One integer of an int pattern: decimal, or for req.ssl_ver a dotted version MAJOR[.MINOR]
// (HAProxy's notation: 3.1 is TLS 1.0's record version 0x0301 = 3 * 65536 + 1).
std::optional<std::int64_t> int_value(std::string_view t, bool dotted) {
    if (dotted) {
        const auto dot = t.find('.');
        const auto major = parse_integer(t.substr(0, dot));
        if (!major || *major < 0 || *major > 255 || t.substr(0, dot).empty()) return std::nullopt;
        std::int64_t minor = 0;
        if (dot != std::string_view::npos) {
            const auto m = parse_integer(t.substr(dot + 1));
            if (!m || *m < 0 || *m > 255 || t.substr(dot + 1).empty()) return std::nullopt;
            minor = *m;
        }
        return *major * 65536 + minor;
    }
    if (t.empty() || (t.front() == '+')) return std::nullopt;
    const auto v = parse_integer(t);
    if (!v) return std::nullopt;
    return *v;
}

// Int patterns: "N", "N:M", ":M", "N:", or an operator (eq ge gt le lt) and the value after it.
void parse_int_patterns(const Line& line, const std::string& what, Acl& acl) {
    constexpr std::int64_t kMin = INT64_MIN, kMax = INT64_MAX;
    const bool dotted = acl.fetch == "req.ssl_ver";
    const char* form = dotted ? " (expected a version MAJOR.MINOR, a range 'A:B', ':B', 'A:', or eq|ge|gt|le|lt "
                                "and a version)"
                              : " (expected an integer, a range 'A:B', ':B', 'A:', or eq|ge|gt|le|lt and an "
                                "integer)";
    for (std::size_t i = 0; i < acl.patterns.size(); ++i) {
        const std::string& p = acl.patterns[i];
        auto bad = [&](const std::string& t) { fail(line.at, what + ": invalid integer pattern " + squote(t) + form); };
        if (p == "eq" || p == "ge" || p == "gt" || p == "le" || p == "lt") {
            if (i + 1 >= acl.patterns.size()) fail(line.at, what + ": " + squote(p) + " expects a value after it");
            const auto v = int_value(acl.patterns[++i], dotted);
            if (!v) bad(acl.patterns[i]);
            Acl::IntRange r{*v, *v};
            if (p == "ge") r.hi = kMax;
            if (p == "gt") r = {*v == kMax ? kMax : *v + 1, *v == kMax ? kMax - 1 : kMax};
            if (p == "le") r.lo = kMin;
            if (p == "lt") r = {*v == kMin ? kMin + 1 : kMin, *v == kMin ? kMin : *v - 1};
            acl.ranges.push_back(r);
            continue;
        }
        const auto colon = p.find(':');
        if (colon == std::string::npos) {
            const auto v = int_value(p, dotted);
            if (!v) bad(p);
            acl.ranges.push_back({*v, *v});
            continue;
        }
        const std::string_view a = std::string_view(p).substr(0, colon), b = std::string_view(p).substr(colon + 1);
        if (a.empty() && b.empty()) bad(p);
        const auto lo = a.empty() ? std::optional<std::int64_t>(kMin) : int_value(a, dotted);
        const auto hi = b.empty() ? std::optional<std::int64_t>(kMax) : int_value(b, dotted);
        if (!lo || !hi) bad(p);
        if (*lo > *hi) fail(line.at, what + ": empty range " + squote(p) + " (the first bound is above the second)");
        acl.ranges.push_back({*lo, *hi});
    }
}

// -m bin patterns: hex digits, an even number of them; stored as the bytes they spell.
void parse_bin_patterns(const Line& line, const std::string& what, Acl& acl) {
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (auto& p : acl.patterns) {
        std::string out;
        bool ok = !p.empty() && p.size() % 2 == 0;
        for (std::size_t i = 0; ok && i < p.size(); i += 2) {
            const int h = nib(p[i]), l = nib(p[i + 1]);
            if (h < 0 || l < 0) ok = false;
            else out.push_back(static_cast<char>(h * 16 + l));
        }
        if (!ok)
            fail(line.at, what + ": invalid binary pattern " + squote(p) +
                              " ('-m bin' expects an even number of hex digits, e.g. 160301)");
        p = std::move(out);
    }
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
    // a fetch with converters (lower, upper, map*): the sample expression of values, evaluated whole
    std::size_t comma = std::string::npos;
    for (std::size_t i = 0, depth = 0; i < crit.size() && comma == std::string::npos; ++i) {
        if (crit[i] == '(') ++depth;
        else if (crit[i] == ')' && depth > 0) --depth;
        else if (crit[i] == ',' && depth == 0) comma = i;
    }
    // a fetch with converters, or a typed fetch (bar url_param(<name>), kept for its own matching): evaluated as
    // a value's sample expression is
    const std::string bare = crit.substr(0, crit.find('('));
    const bool payload = bare == "req.len" || bare == "req.payload" || bare == "req.payload_lv" || bare == "res.len" ||
                         bare == "res.payload" || bare == "res.payload_lv";  // kept for waiting on more bytes
    const bool sample_expr = comma != std::string::npos ||
                             (!payload && typed_fetch_problem(crit) &&
                              !(bare == "url_param" && crit.find(',') == std::string::npos && crit.find('(') != std::string::npos));
    g_conv_in_acl = true;
    const std::string expr_why = sample_expr ? sample_expr_problem(crit, FmtUse::Request) : std::string();
    g_conv_in_acl = false;
    if (sample_expr)
        if (const std::string& why = expr_why; !why.empty())
            fail(line.at, "error detected while parsing ACL " + squote(name) + " : " + why + " in ACL expression " +
                              squote(crit) + " (" + what + ")");
    if (!sample_expr && close != std::string::npos && close + 1 != crit.size())
        fail(line.at, what + ": unexpected " + squote(crit.substr(close + 1)) + " after " +
                          squote(crit.substr(0, close + 1)));
    const std::string fname = sample_expr ? crit : crit.substr(0, paren);
    std::string arg;
    bool has_parens = false;
    if (paren != std::string::npos && !sample_expr) {
        arg = crit.substr(paren + 1, close - paren - 1);
        has_parens = true;
    }
    const FetchDef* def = nullptr;
    static constexpr FetchDef kSample{"", "sample", Match::Str, false};
    if (sample_expr) def = &kSample;
    for (const auto& f : kFetches)
        if (f.name == fname && !sample_expr) def = &f;
    static constexpr FetchDef kStickInt{"", "stick", Match::Int, false};
    static constexpr FetchDef kStickBool{"", "stick", Match::Bool, false};
    const bool stick = def == nullptr && parse_stick_fetch(line, what, fname, arg, acl);
    if (stick) def = acl.match == Match::Bool ? &kStickBool : &kStickInt;
    if (def == nullptr) {
        if (std::find(std::begin(kFetchesRefused), std::end(kFetchesRefused), fname) !=
            std::end(kFetchesRefused)) {
            fail(line.at, what + ": sample fetch " + squote(fname) + " is not supported in this version" +
                              " (supported: " + supported_fetches() + ")");
        }
        fail(line.at, what + ": unknown sample fetch " + squote(fname) + did_you_mean(fname, fetch_names()) +
                          " (supported: " + supported_fetches() + ")");
    }
    acl.fetch = std::string(def->fetch);
    acl.fetch_written = fname;
    acl.match = def->match;
    if (stick) {
        // the argument (counter number, table) was read by parse_stick_fetch
    } else if (def->needs_arg && (arg.empty()))
        fail(line.at, what + ": " + squote(fname) + " needs an argument, e.g. " +
                          (acl.fetch == "http_auth"     ? "'http_auth(users)'"
                           : acl.fetch == "req.payload" ? squote(fname + "(0,3)")
                                                        : squote(fname + "(host)")));
    const bool dn = acl.fetch == "ssl_c_s_dn" || acl.fetch == "ssl_c_i_dn";
    if (!stick && !def->needs_arg && !dn && has_parens && !arg.empty())
        fail(line.at, what + ": " + squote(fname) + " takes no argument, got " + squote(crit));
    if (dn) {
        acl.arg = dn_arg(line, what, fname, arg);
    } else if (acl.fetch == "hdr") {
        if (arg.find(',') != std::string::npos)
            fail(line.at, what + ": header occurrence arguments (" + squote(crit) +
                              ") are not supported in this version; write " + squote(fname + "(<name>)"));
        if (!http::is_token(arg)) fail(line.at, what + ": invalid header name " + squote(arg));
        acl.arg = lower(arg);
    } else if (acl.fetch == "http_auth" || acl.fetch == "http_auth_group") {
        acl.arg = arg;
        st.userlist_refs.emplace_back(arg, line.at);
    } else if (acl.fetch == "var") {
        bool sess = false;
        if (const std::string why = var_name_problem(arg, sess); !why.empty()) fail(line.at, what + ": " + why);
        acl.arg = arg;
    } else if (acl.fetch == "sample") {
        acl.arg = crit;
    } else if (acl.fetch == "url_param") {
        acl.arg = arg;
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
            static const std::vector<std::string_view> kMethods = {"str", "beg",   "end",  "sub", "dir", "dom",
                                                                   "found", "ip", "bool", "int", "bin", "reg", "len"};
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
            else if (m == "dom")
                acl.match = Match::Dom;
            else if (m == "int")
                acl.match = Match::Int;
            else if (m == "bin")
                acl.match = Match::Bin;
            else if (m == "found")
                acl.match = Match::Found;
            else if (m == "ip")
                acl.match = Match::Ip;
            else if (m == "bool")
                acl.match = Match::Bool;
            else if (m == "reg")
                acl.match = Match::Reg;
            else if (m == "len")
                acl.match = Match::Len;
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
    // an expression whose last step gives an integer matches integers by default (HAProxy's pattern type follows
    // the sample's)
    if (acl.fetch == "sample" && !explicit_match && sample_gives_int(crit)) acl.match = Match::Int;
    // binary fetches are matched as hexadecimal text, whatever its case
    if (acl.fetch == "ssl_c_serial" || acl.fetch == "ssl_c_sha1") acl.icase = true;

    const bool bool_fetch = def->match == Match::Bool;
    if (acl.fetch == "http_auth_group") {
        // the patterns are groups of the userlist (checked once it is known)
        if (explicit_match) fail(line.at, what + ": 'http_auth_group' matches group names only: no '-m'");
        if (acl.patterns.empty()) fail(line.at, what + ": 'http_auth_group': no groups specified");
        for (const std::string& g : acl.patterns) st.auth_group_refs.push_back({arg, g, line.at});
    } else if (bool_fetch) {
        if (explicit_match && acl.match != Match::Bool && acl.match != Match::Found)
            fail(line.at, what + ": " + squote(fname) + " is a boolean: only '-m bool' or '-m found' apply");
        if (!acl.patterns.empty())
            fail(line.at,
                 what + ": " + squote(fname) + " takes no pattern, got " + squote(acl.patterns.front()));
    } else if (acl.fetch == "src" || acl.fetch == "dst") {
        if (acl.match != Match::Ip && acl.match != Match::Found)
            fail(line.at, what + ": " + squote(acl.fetch) + " supports '-m ip' (the default) and '-m found' only");
    } else if (int_fetch(acl.fetch)) {
        if (acl.match != Match::Int && acl.match != Match::Found)
            fail(line.at, what + ": " + squote(fname) + " is an integer: only '-m int' (the default) and '-m found' "
                                                      "apply in this version");
    } else if (acl.match == Match::Int && acl.fetch != "var" && acl.fetch != "sample") {
        fail(line.at, what + ": '-m int' applies to integer fetches only in this version (req.ssl_hello_type, "
                             "req.ssl_ver, req.len, src_port, dst_port, ssl_c_verify, ssl_c_err, ssl_c_ca_err)");
    } else if (acl.match == Match::Bin && !acl.fetch.starts_with("req.payload") && !acl.fetch.starts_with("res.payload")) {
        fail(line.at, what + ": '-m bin' applies to 'req.payload' only in this version");
    } else if (acl.fetch == "req.payload" && acl.match == Match::Dir) {
        fail(line.at, what + ": 'req.payload' supports '-m bin' (the default), str, beg, end, sub and found");
    } else if (acl.match == Match::Ip) {
        fail(line.at, what + ": '-m ip' applies to addresses ('src') only in this version");
    } else if (acl.match == Match::Bool) {
        fail(line.at, what + ": '-m bool' applies to boolean fetches only");
    }
    if (acl.fetch == "req.payload" || acl.fetch == "res.payload" || acl.fetch == "req.payload_lv" ||
        acl.fetch == "res.payload_lv") {
        // <fetch>(<offset>,<length>): both decimal, as HAProxy requires; payload_lv: where the length field is and
        // its size (1..4 bytes, big-endian), the data right after it
        const bool lv = acl.fetch.ends_with("_lv");
        const auto comma = arg.find(',');
        const auto off = comma == std::string::npos ? std::nullopt : parse_integer(arg.substr(0, comma));
        const auto len = comma == std::string::npos ? std::nullopt : parse_integer(arg.substr(comma + 1));
        if (!off || !len || *off < 0 || *len < 0 || *off > 65536 || *len > 65536 || arg.substr(0, comma).empty() ||
            arg.substr(comma + 1).empty() || (lv && (*len < 1 || *len > 4)))
            fail(line.at, what + ": " + squote(fname) + " expects '(<offset>,<length>)' with 0..65536 each, got " +
                              squote(crit) + (lv ? " (the length field: 1 to 4 bytes)" : " (length 0: to the end of what was sent)"));
        acl.off = static_cast<std::uint32_t>(*off);
        acl.len = static_cast<std::uint32_t>(*len);
        acl.arg = arg;
    }
    if (acl.match == Match::Reg) {
        for (const std::string& p : acl.patterns) {
            core::Regex re;
            const std::string err = re.compile(p, acl.icase);
            if (!err.empty()) fail(line.at, what + ": invalid regular expression " + squote(p) + ": " + err);
            acl.regexes.push_back(std::move(re));
        }
    }
    if (acl.match == Match::Int || acl.match == Match::Len) parse_int_patterns(line, what, acl);
    if (acl.match == Match::Bin) parse_bin_patterns(line, what, acl);
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

int find_acl(const std::vector<Acl>& acls, std::string_view name, std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to && i < acls.size(); ++i)
        if (acls[i].name == name) return static_cast<int>(i);
    return -1;
}

// The ACLs a condition of `px` may name: a defaults section's own; in a proxy, those after the ones its
// defaults section lent (they serve that section's rules only)
std::size_t own_acls_from(const ProxyDraft& px) {
    return is_defaults(px) ? 0 : px.acls_inherited;
}

int lookup_acl(ParseState&, ProxyDraft& px, const Line& line, const std::string& name) {
    auto& acls = acls_of(px);
    if (const int i = find_acl(acls, name, own_acls_from(px), acls.size()); i >= 0) return i;
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
    for (std::size_t i = own_acls_from(px); i < acls.size(); ++i)
        if (acls[i].name.front() != '{') names.push_back(acls[i].name);
    for (const auto& p : kPredefined) names.push_back(p.name);
    std::string msg = "no such ACL " + squote(name) + " in " + px.kind + " " + squote(px.name);
    if (const int i = find_acl(acls, name, 0, own_acls_from(px)); i >= 0)
        msg += " (ACLs declared in a 'defaults' section (" + where_text(acls[std::size_t(i)].where) +
               ") serve that section's rules only: declare it in this section)";
    else
        msg += did_you_mean(name, names) + " (an ACL must be declared before the rules that use it)";
    fail(line.at, msg);
}

void fix_proxy_terms(HttpProxy& h, std::size_t lent) {
    for (auto* list : {&h.request_rules, &h.response_rules, &h.after_rules})
        for (auto& r : *list) fix_terms(h.acls, r.cond, lent);
}

// http-response conditions run on the response: the request is not kept for them (rules.cpp gets no
// request there), so an ACL that reads the request would silently never match. HAProxy refuses path, url,
// req.hdr and http_auth there too; it evaluates method and req.ver, which this version cannot.
void check_response_conditions(const HttpProxy& h) {
    for (const auto* list : {&h.response_rules, &h.after_rules}) {
        const std::string kw = list == &h.response_rules ? "'http-response'" : "'http-after-response'";
        for (const auto& r : *list) {
            for (const auto& group : r.cond.any_of) {
                for (const auto& term : group) {
                    for (int i : term.acls) {
                        const Acl& a = h.acls[static_cast<std::size_t>(i)];
                        const bool request_hdr = a.fetch == "hdr" && a.fetch_written.rfind("req", 0) == 0;
                        if (a.fetch != "path" && a.fetch != "url" && a.fetch != "method" && a.fetch != "req.ver" &&
                            a.fetch != "http_auth" && !request_hdr)
                            continue;
                        const std::string name = a.name.front() == '{' ? "an anonymous ACL" : "ACL " + squote(a.name);
                        fail(r.where, kw + " condition: " + name + " (" + where_text(a.where) + ") uses " +
                                          squote(a.fetch_written) + ", which reads the request: " + kw +
                                          " rules do not see the request in this version, so it would never match "
                                          "(usable there: hdr() on the response's headers, status, var(), src, "
                                          "always_true, always_false; keep a request value with "
                                          "'http-request set-var(txn.<name>)')");
                    }
                }
            }
        }
    }
}

}  // namespace

void fix_terms(const std::vector<Acl>& acls, Condition& c, std::size_t lent) {
    // a defaults section's rule names the ACLs it lent, the proxy's own rules the others
    const std::size_t from = c.defaults_scope ? 0 : lent;
    const std::size_t to = c.defaults_scope && lent != 0 ? lent : acls.size();
    for (auto& group : c.any_of) {
        for (auto& term : group) {
            const std::string name = acls[static_cast<std::size_t>(term.acls.front())].name;
            term.acls.clear();
            for (std::size_t i = from; i < to; ++i)
                if (acls[i].name == name) term.acls.push_back(static_cast<int>(i));
        }
    }
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
    c.defaults_scope = is_defaults(px);
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
    if (is_defaults(px) && px.name.empty()) fail(line.at, "'acl' not allowed in anonymous 'defaults' section.");
    add_acl(px, parse_acl_words(st, line, 2, line.words.size(), name));
}

bool acl_reads_payload(const Acl& a) {
    return a.fetch == "req.ssl_sni" || a.fetch == "req.ssl_hello_type" || a.fetch == "req.ssl_ver" ||
           a.fetch == "req.len" || a.fetch == "req.payload" || a.fetch == "req.payload_lv";
}

namespace {

// The first ACL of the condition that reads the client's bytes, or null.
const Acl* payload_acl(const std::vector<Acl>& acls, const Condition& c) {
    for (const auto& group : c.any_of)
        for (const auto& term : group)
            for (int i : term.acls)
                if (acl_reads_payload(acls[static_cast<std::size_t>(i)])) return &acls[static_cast<std::size_t>(i)];
    return nullptr;
}

std::string acl_label(const Acl& a) {
    if (a.name.front() == '{') return squote(a.fetch_written);
    return "ACL " + squote(a.name) + " (" + where_text(a.where) + ", " + squote(a.fetch_written) + ")";
}

}  // namespace

// End of a proxy section: what tcp-request rules and the L4 fetches need from the mode, and the flags
// the L4 session reads (`tcp_inspect`, `tcp_route_cond`).
void check_tcp_rules(ParseState& st, ProxyDraft& px) {
    auto check_http_acls = [&](const HttpProxy& h, Mode mode) {
        if (mode != Mode::Http) return;
        for (const Acl& a : h.acls)
            if (acl_reads_payload(a))
                fail(a.where, (a.name.front() == '{' ? std::string("anonymous ACL") : "ACL " + squote(a.name)) +
                                  ": sample fetch " + squote(a.fetch_written) +
                                  " is supported in 'mode tcp' proxies only in this version");
    };
    if (has_fe(px)) check_http_acls(px.fe.http, px.fe.mode);
    if (has_be(px)) check_http_acls(px.be.http, px.be.mode);
    // mode http: content rules run at the start of each request, before the http-request rules (HAProxy:
    // one stream per request), on what the request head holds: the client's raw bytes are not inspected
    auto check_http_content = [&](const std::vector<TcpRule>& rules, const std::vector<Acl>& acls) {
        for (const TcpRule& r : rules) {
            const Acl* a = payload_acl(acls, r.cond);
            if (a != nullptr || (r.action == TcpAction::TrackSc && r.track.key.fetch == SampleExpr::Fetch::ReqSslSni))
                fail(r.where, "'tcp-request content' rule in a 'mode http' " + px.kind + ": " +
                                  (a ? acl_label(*a) : squote(r.track.key.text)) +
                                  " reads the client's raw bytes, which are inspected in 'mode tcp' only in this "
                                  "version (use the HTTP fetches of 'http-request' rules)");
        }
    };
    // a fetch of the other direction never matches: HAProxy's warnings (acl_cond_kw_conflicts)
    auto other_direction = [&](const std::vector<TcpRule>& rules, const std::vector<Acl>& acls, bool response,
                               const std::string& owner) {
        const std::string kw = response ? "tcp-response content" : "tcp-request content";
        for (const TcpRule& r : rules)
            for (const auto& group : r.cond.any_of)
                for (const auto& term : group)
                    for (int i : term.acls) {
                        const Acl& a = acls[std::size_t(i)];
                        const bool bad = response ? acl_reads_payload(a) : a.fetch.starts_with("res.");
                        if (!bad) continue;
                        const std::string where = "'" + owner + " " + kw + " rule'";
                        if (a.name.front() == '{')
                            st.warn(r.where, "anonymous acl will never match in " + squote(kw) + " because it uses keyword " +
                                                 squote(a.fetch_written) + " which is incompatible with " + where);
                        else
                            st.warn(r.where, "acl " + squote(a.name) + " will never match in " + squote(kw) +
                                                 " because it only involves keywords that are incompatible with " + where);
                    }
    };
    if (has_be(px) && !is_defaults(px)) {
        other_direction(px.be.tcp_rsp_rules, px.be.http.acls, true, "backend");
        other_direction(px.be.tcp_content_rules, px.be.http.acls, false, "backend");
    }
    if (has_fe(px) && !is_defaults(px)) other_direction(px.fe.tcp_content_rules, px.fe.http.acls, false, "frontend");
    if (has_be(px) && !is_defaults(px) && px.be.mode == Mode::Http) check_http_content(px.be.tcp_content_rules, px.be.http.acls);
    if (has_be(px) && !is_defaults(px) && px.be.mode == Mode::Tcp && px.be.inspect_delay <= 0) {
        for (const TcpRule& r : px.be.tcp_content_rules) {
            if (const Acl* a = payload_acl(px.be.http.acls, r.cond)) {
                st.warn(r.where, "'tcp-request content' rule reads the request's contents (" + acl_label(*a) +
                                     ") but " + px.kind + " " + squote(px.name) +
                                     " has no 'tcp-request inspect-delay': the rules are evaluated once, when "
                                     "the backend is chosen, on whatever has arrived; set 'tcp-request inspect-delay'");
                break;
            }
        }
    }
    if (!has_fe(px) || is_defaults(px)) return;
    Frontend& fe = px.fe;
    for (const TcpRule& r : fe.tcp_conn_rules)
        if (const Acl* a = payload_acl(fe.http.acls, r.cond))
            fail(r.where, "'tcp-request connection' rule: " + acl_label(*a) +
                              " reads the client's data, which does not exist yet when a connection is "
                              "accepted, so it would never match (use 'tcp-request content')");
    for (const TcpRule& r : fe.tcp_sess_rules)
        if (const Acl* a = payload_acl(fe.http.acls, r.cond))
            fail(r.where, "'tcp-request session' rule: " + acl_label(*a) +
                              " reads the client's data, which is not read yet when a session starts, so it "
                              "would never match (use 'tcp-request content')");
    for (const auto* list : {&fe.tcp_conn_rules, &fe.tcp_sess_rules})
        for (const TcpRule& r : *list)
            if (r.action == TcpAction::TrackSc && r.track.key.fetch == SampleExpr::Fetch::ReqSslSni)
                fail(r.where, "'tcp-request " + std::string(list == &fe.tcp_conn_rules ? "connection" : "session") +
                                  "' rule: the key " + squote(r.track.key.text) +
                                  " reads the client's data, which is not read yet at that point (use 'tcp-request "
                                  "content')");
    if (fe.mode == Mode::Http) {  // (connection rules run at the accept in both modes: Worker::accept_conn)
        check_http_content(fe.tcp_content_rules, fe.http.acls);
        return;
    }
    fe.tcp_inspect = !fe.tcp_content_rules.empty();
    for (const UseBackendRule& r : fe.use_backend_rules) fe.tcp_route_cond = fe.tcp_route_cond || r.cond.present || r.dynamic;
    if (fe.inspect_delay <= 0) {
        for (const TcpRule& r : fe.tcp_content_rules) {
            if (const Acl* a = payload_acl(fe.http.acls, r.cond)) {
                st.warn(r.where, "'tcp-request content' rule reads the request's contents (" + acl_label(*a) +
                                     ") but " + px.kind + " " + squote(px.name) +
                                     " has no 'tcp-request inspect-delay': the rules are evaluated once, when "
                                     "the connection starts, on whatever has arrived (usually nothing); set "
                                     "'tcp-request inspect-delay'");
                break;
            }
        }
    }
    for (const UseBackendRule& r : fe.use_backend_rules) {
        const Acl* a = payload_acl(fe.http.acls, r.cond);
        if (a == nullptr) continue;
        if (fe.tcp_content_rules.empty() || fe.inspect_delay <= 0)
            st.warn(r.where, "'use_backend' reads the request's contents (" + acl_label(*a) + ") but " +
                                 px.kind + " " + squote(px.name) +
                                 " does not wait for them: the backend is chosen once the 'tcp-request content' "
                                 "rules have decided, which without rules and an inspect-delay is at once (add "
                                 "'tcp-request inspect-delay' and e.g. 'tcp-request content accept if { "
                                 "req.ssl_hello_type 1 }')");
        break;
    }
}

void resolve_acl_terms(ProxyDraft& px) {
    const std::size_t lent = is_defaults(px) ? 0 : px.acls_inherited;
    each_http(px, [&](HttpProxy& h) { fix_proxy_terms(h, lent); });
    for (auto& r : px.fe.use_backend_rules) fix_terms(px.fe.http.acls, r.cond, lent);
    for (auto* list : {&px.fe.tcp_conn_rules, &px.fe.tcp_sess_rules, &px.fe.tcp_content_rules})
        for (auto& r : *list) fix_terms(px.fe.http.acls, r.cond, lent);
    for (auto* list : {&px.be.tcp_content_rules, &px.be.tcp_rsp_rules})
        for (auto& r : *list) fix_terms(px.be.http.acls, r.cond, lent);
    each_http(px, [](HttpProxy& h) { check_response_conditions(h); });
}

}  // namespace es::config::detail
