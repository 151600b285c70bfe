// ACL evaluation: fetches (path, url, hdr, method, src, req.ver, http_auth, always_*), matches
// (str, beg, end, sub, dir, found, ip, bool, with -i) and conditions. Nothing here allocates:
// address patterns are parsed per evaluation into stack buffers (a few hundred nanoseconds; the
// config is immutable, so there is nothing to invalidate and nothing to share between shards).
#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "edgeshard/core/net.hpp"
#include "edgeshard/rules/payload.hpp"
#include "edgeshard/rules/rules.hpp"
#include "internal.hpp"

namespace es::rules {

namespace {

using config::Acl;
using Match = config::Acl::Match;

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool eq(std::string_view a, std::string_view b, bool icase) {
    return icase ? http::iequals(a, b) : a == b;
}

bool begins(std::string_view s, std::string_view p, bool icase) {
    return s.size() >= p.size() && eq(s.substr(0, p.size()), p, icase);
}

bool ends(std::string_view s, std::string_view p, bool icase) {
    return s.size() >= p.size() && eq(s.substr(s.size() - p.size()), p, icase);
}

// First occurrence of `p` in `s` at or after `from`, or npos.
std::size_t find(std::string_view s, std::string_view p, std::size_t from, bool icase) {
    if (!icase) return s.find(p, from);
    if (p.size() > s.size()) return std::string_view::npos;
    for (std::size_t i = from; i + p.size() <= s.size(); ++i) {
        std::size_t k = 0;
        while (k < p.size() && lower(s[i + k]) == lower(p[k])) ++k;
        if (k == p.size()) return i;
    }
    return std::string_view::npos;
}

// -m dir: the pattern, without its leading and trailing slashes, appears in the subject as whole
// slash-delimited segments ("img" and "/img/" match "/static/img/a.png", "im" does not).
bool dir_match(std::string_view s, std::string_view p, bool icase) {
    while (!p.empty() && p.front() == '/') p.remove_prefix(1);
    while (!p.empty() && p.back() == '/') p.remove_suffix(1);
    if (p.empty()) return s.find('/') != std::string_view::npos;
    for (std::size_t at = find(s, p, 0, icase); at != std::string_view::npos;
         at = find(s, p, at + 1, icase)) {
        const bool left = at == 0 || s[at - 1] == '/';
        const std::size_t end = at + p.size();
        const bool right = end == s.size() || s[end] == '/';
        if (left && right) return true;
    }
    return false;
}

// -m dom: the pattern, without delimiters at its ends, appears in the subject as whole words
// delimited by '/', '?', '.' or ':' ("example.com" matches "www.example.com:443").
bool dom_match(std::string_view s, std::string_view p, bool icase) {
    auto delim = [](char c) { return c == '/' || c == '?' || c == '.' || c == ':'; };
    while (!p.empty() && delim(p.front())) p.remove_prefix(1);
    while (!p.empty() && delim(p.back())) p.remove_suffix(1);
    if (p.empty()) return false;
    for (std::size_t at = find(s, p, 0, icase); at != std::string_view::npos; at = find(s, p, at + 1, icase)) {
        const std::size_t end = at + p.size();
        if ((at == 0 || delim(s[at - 1])) && (end == s.size() || delim(s[end]))) return true;
    }
    return false;
}

// An address as 16 bytes: IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so an IPv4 pattern matches
// an IPv4 client and an IPv4-mapped IPv6 client alike. A network carries its mask beside it.
bool client_bytes(const sockaddr_storage* ss, unsigned char out[16]) {
    if (ss == nullptr) return false;
    if (ss->ss_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(ss);
        std::memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        std::memcpy(out + 12, &sin->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        std::memcpy(out, &reinterpret_cast<const sockaddr_in6*>(ss)->sin6_addr, 16);
        return true;
    }
    return false;
}


bool ip_match_any(const unsigned char addr[16], const Acl& acl) {
    for (const std::string& p : acl.patterns) {
        core::Net n;
        if (core::parse_net(p, n) && core::in_net(addr, n)) return true;
    }
    return false;
}

bool match_int(const Acl& acl, std::int64_t v);  // below

// One string sample against the ACL's patterns.
bool match_value(const Acl& acl, std::string_view v) {
    switch (acl.match) {
        case Match::Found:
            return true;
        case Match::Bool:
            return !v.empty();
        case Match::Ip: {
            core::Net n;
            if (v.find('/') != std::string_view::npos || !core::parse_net(v, n)) return false;
            return ip_match_any(n.addr, acl);
        }
        case Match::Reg:
            for (const core::Regex& re : acl.regexes)
                if (re.search(v)) return true;
            return false;
        case Match::Len:
            return match_int(acl, std::int64_t(v.size()));
        case Match::Int: {  // an integer sample, in its text form
            std::int64_t n = 0;
            return detail::smp_int(v, n) && match_int(acl, n);
        }
        default:
            break;
    }
    for (const std::string& p : acl.patterns) {
        bool ok = false;
        switch (acl.match) {
            case Match::Str:
                ok = eq(v, p, acl.icase);
                break;
            case Match::Beg:
                ok = begins(v, p, acl.icase);
                break;
            case Match::End:
                ok = ends(v, p, acl.icase);
                break;
            case Match::Sub:
                ok = find(v, p, 0, acl.icase) != std::string_view::npos;
                break;
            case Match::Dir:
                ok = dir_match(v, p, acl.icase);
                break;
            case Match::Dom:
                ok = dom_match(v, p, acl.icase);
                break;
            case Match::Bin:  // patterns hold the bytes their hex spelled: an exact comparison
                ok = v == p;
                break;
            default:
                break;
        }
        if (ok) return true;
    }
    return false;
}

// hdr(<name>): every element of every header of that name (all headers when no name), received
// and not removed, then those added by earlier rules.
bool match_headers(const Acl& acl, const Txn& t) {
    const http::MessageHead* msg = t.rsp != nullptr ? static_cast<const http::MessageHead*>(t.rsp) : t.req;
    auto one = [&](std::string_view name, std::string_view value) {
        if (!acl.arg.empty() && !http::iequals(name, acl.arg)) return false;
        std::size_t pos = 0;
        std::string_view elem;
        while (next_list_element(value, pos, elem))
            if (match_value(acl, elem)) return true;
        return false;
    };
    if (msg != nullptr) {
        for (std::uint16_t i = 0; i < msg->nheaders; ++i) {
            const http::Header& h = msg->headers[i];
            if (!h.removed && one(h.name, h.value)) return true;
        }
    }
    if (t.edits != nullptr) {
        for (int i = 0; i < t.edits->nadds; ++i)
            if (one(t.edits->adds[i].name, t.edits->adds[i].value)) return true;
    }
    return false;
}

// http_auth(<list>): the credentials are valid; http_auth_group(<list>) <g>...: and the user is
// in one of the groups
bool match_http_auth(const Acl& acl, const Txn& t) {
    if (t.cfg == nullptr || t.req == nullptr) return false;
    const config::Userlist* ul = nullptr;
    for (const config::Userlist& u : t.cfg->userlists)
        if (u.name == acl.arg) ul = &u;
    if (ul == nullptr) return false;
    // A proxy request (absolute-form target) carries its credentials in Proxy-Authorization, the
    // header the 407 challenge asks for.
    const std::string_view hname = t.req->absolute_form ? "proxy-authorization" : "authorization";
    for (std::uint16_t i = 0; i < t.req->nheaders; ++i) {
        const http::Header& h = t.req->headers[i];
        if (h.removed || !http::iequals(h.name, hname)) continue;
        const config::User* u = basic_auth_user(*ul, h.value);
        if (u == nullptr || acl.fetch == "http_auth") return u != nullptr;
        for (const std::string& g : acl.patterns)
            if (std::find(u->groups.begin(), u->groups.end(), g) != u->groups.end()) return true;
        return false;
    }
    return false;
}

// ssl_c_* and ssl_fc_has_crt. On a TLS connection of a bind that does not verify clients the
// booleans are false, the integers 0 (nothing was verified) and the strings absent; in clear,
// nothing matches.
bool match_client_cert(const Acl& acl, const Txn& t) {
    if (t.tls == nullptr) return false;
    const std::string_view f = acl.fetch;
    const tls::ClientCert* cc = t.tls->client;
    if (f == "ssl_c_used") return cc != nullptr && cc->used;
    if (f == "ssl_fc_has_crt") return cc != nullptr && cc->presented;
    if (f == "ssl_c_verify") return match_int(acl, cc ? cc->verify : 0);
    if (f == "ssl_c_err") return match_int(acl, cc ? cc->err : 0);
    if (f == "ssl_c_ca_err") return match_int(acl, cc ? cc->ca_err : 0);
    if (cc == nullptr || !cc->used) return false;
    std::string_view v;
    if (f == "ssl_c_s_dn" || f == "ssl_c_i_dn") {
        const std::string& dn = f == "ssl_c_s_dn" ? cc->s_dn : cc->i_dn;
        const std::size_t comma = acl.arg.find(',');
        const int occ = comma == std::string::npos ? 1 : std::atoi(acl.arg.c_str() + comma + 1);
        if (!tls::dn_entry(dn, std::string_view(acl.arg).substr(0, comma), occ, v)) return false;
    } else {
        v = f == "ssl_c_serial" ? cc->serial : f == "ssl_c_sha1" ? cc->sha1 : f == "ssl_c_notbefore" ? cc->not_before
                                                                                                   : cc->not_after;
    }
    return !v.empty() && match_value(acl, v);
}

bool match_addr(const Acl& acl, const sockaddr_storage* ss) {
    unsigned char addr[16];
    if (!client_bytes(ss, addr)) return false;
    if (acl.match == Match::Ip) return ip_match_any(addr, acl);
    char text[INET6_ADDRSTRLEN];
    const std::size_t n = addr_text(ss, text, sizeof(text));
    return match_value(acl, {text, n});
}

bool match_int(const Acl& acl, std::int64_t v) {
    if (acl.match == Match::Found) return true;
    for (const Acl::IntRange& r : acl.ranges)
        if (v >= r.lo && v <= r.hi) return true;
    return false;
}

// A fetch on the held client bytes: Yes/No once known, Miss while bytes may still change the result.
// `may_change`: a value found now can still change (req.len, req.payload to the end): a mismatch waits.
rules::Tri judge(bool found, bool need_more, bool matched, bool may_change, const Txn& t) {
    if (found && matched) return Tri::Yes;
    if (t.payload_final) return Tri::No;
    if (!found) return need_more ? Tri::Miss : Tri::No;
    return may_change ? Tri::Miss : Tri::No;
}

Tri eval_payload_acl(const Acl& acl, const Txn& t) {
    std::string_view f = acl.fetch;
    const std::string_view b = t.payload;
    if (f == "req.proto_http") {  // (first: the HTTP ACL, also read on every request of an http proxy)
        // HAProxy's: the bytes parse as a request head; an incomplete one waits, a bad one does not match
        if (t.payload_response) return Tri::No;  // (a request fetch: never the server's bytes)
        if (t.req != nullptr || t.payload_http) return Tri::Yes;
        if (b.empty()) return judge(false, true, false, false, t);
        Txn::ProtoMemo* memo = t.proto_memo;
        if (memo && memo->verdict >= 0 && memo->len == b.size()) return memo->verdict ? Tri::Yes : Tri::No;
        thread_local http::RequestHead head;  // (large: built once per thread, parse_request resets what it fills)
        std::size_t scanned = 0;
        const http::ParseResult pr = http::parse_request(b.data(), b.size(), http::Limits{}, head, scanned);
        if (pr.status == http::Status::NeedMore) return judge(false, true, false, false, t);
        const bool yes = pr.status != http::Status::Error;
        if (memo) *memo = {std::uint32_t(b.size()), std::int8_t(yes)};
        return yes ? Tri::Yes : Tri::No;
    }
    // a request fetch reads the client's bytes, a response fetch the server's (tcp-response content): never the other
    if (f.starts_with("res.") != t.payload_response) return Tri::No;
    if (f == "res.len") return judge(true, false, match_int(acl, std::int64_t(t.payload_http ? t.payload_size : b.size())), !t.payload_http, t);
    if (t.payload_http && f.starts_with("res.")) return Tri::No;  // HTTP mode: no raw response bytes (HAProxy's)
    if (f.starts_with("res.")) f = f == "res.payload" ? std::string_view("req.payload") : std::string_view("req.payload_lv");
    if (f == "req.len") return judge(true, false, match_int(acl, std::int64_t(b.size())), true, t);
    if (f == "req.payload") {
        if (b.size() < acl.off || (acl.len != 0 && b.size() - acl.off < acl.len)) return judge(false, true, false, false, t);
        const std::string_view v = b.substr(acl.off, acl.len == 0 ? std::string_view::npos : acl.len);
        return judge(true, false, match_value(acl, v), acl.len == 0, t);
    }
    if (f == "req.payload_lv") {  // a length field of acl.len bytes at acl.off, the data after it
        if (b.size() < std::size_t(acl.off) + acl.len) return judge(false, true, false, false, t);
        std::size_t n = 0;
        for (std::uint32_t k = 0; k < acl.len; ++k) n = n << 8 | static_cast<unsigned char>(b[acl.off + k]);
        const std::size_t at = std::size_t(acl.off) + acl.len;
        if (b.size() < at + n) return judge(false, true, false, false, t);
        return judge(true, false, match_value(acl, b.substr(at, n)), false, t);
    }
    Peek p = Peek::Absent;
    bool ok = false;
    if (f == "req.ssl_sni") {
        std::string_view name;
        p = ssl_sni(b, name);
        ok = p == Peek::Found && match_value(acl, name);
    } else if (f == "req.ssl_hello_type") {
        int type = 0;
        p = ssl_hello_type(b, type);
        ok = p == Peek::Found && match_int(acl, type);
    } else if (f == "req.ssl_ver") {
        std::int64_t ver = 0;
        p = ssl_record_version(b, ver);
        ok = p == Peek::Found && match_int(acl, ver);
    }
    return judge(p == Peek::Found, p == Peek::NeedMore, ok, false, t);
}

bool payload_fetch(std::string_view f) {
    return f.size() > 4 && f[0] == 'r' && f[1] == 'e' && (f[2] == 'q' || f[2] == 's') && f[3] == '.' && f != "req.ver";
}

}  // namespace

Tri eval_acl3(const Acl& acl, const Txn& t);

bool addr_in_network(const sockaddr_storage* ss, std::string_view network) {
    unsigned char a[16];
    core::Net n;
    return client_bytes(ss, a) && core::parse_net(network, n) && core::in_net(a, n);
}

// req.hdr_ip without an occurrence yields every value in an ACL (HAProxy's multi-valued fetches): the
// converters run on each, and any match matches.
bool hdr_ip_each(std::string_view expr) {
    if (!expr.starts_with("req.hdr_ip(") && !expr.starts_with("hdr_ip(")) return false;
    const std::size_t close = expr.find(')');
    return close != std::string_view::npos && expr.substr(0, close).find(',') == std::string_view::npos;
}

bool hdr_ip_any(const Acl& acl, const Txn& t) {
    const std::size_t open = acl.arg.find('('), close = acl.arg.find(')');
    const std::string_view name = std::string_view(acl.arg).substr(open + 1, close - open - 1);
    thread_local std::string expr;
    std::string_view n;
    if (!eval_sample(t, "req.hdr_cnt(" + std::string(name) + ")", n)) return false;
    const long count = std::strtol(std::string(n).c_str(), nullptr, 10);
    for (long k = 1; k <= count; ++k) {
        expr.assign(acl.arg, 0, close);
        expr += "," + std::to_string(k) + acl.arg.substr(close);
        std::string_view v;
        if (eval_sample(t, expr, v) && (acl.match == Match::Found || match_value(acl, v))) return true;
    }
    return false;
}

bool eval_acl(const Acl& acl, const Txn& t) {
    const std::string_view f = acl.fetch;
    if (f == "stick") {
        std::int64_t v = 0;
        if (!stick_fetch(acl, t, v)) return false;
        return acl.match == Match::Bool ? v != 0 : match_int(acl, v);
    }
    if (f == "var") {
        std::string_view v;
        if (!var_value(t, acl.arg, v)) return false;
        if (acl.match == Match::Int) {
            std::int64_t n = 0;
            const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
            return r.ec == std::errc() && r.ptr == v.data() + v.size() && match_int(acl, n);
        }
        return match_value(acl, v);
    }
    if (f == "sample") {  // a fetch with converters: its value as a value's sample expression gives it
        std::string_view v;
        if (hdr_ip_each(acl.arg)) return hdr_ip_any(acl, t);
        if (!eval_sample(t, acl.arg, v)) return false;  // no sample
        return acl.match == Match::Found || match_value(acl, v);
    }
    if (f == "always_true") return true;
    if (f == "always_false") return false;
    if (f == "hdr") return match_headers(acl, t);
    if (f == "src") return match_addr(acl, t.src);
    if (f == "dst") return match_addr(acl, t.dst);
    if (f == "http_auth" || f == "http_auth_group") return match_http_auth(acl, t);
    if (f == "src_port") {
        const int port = addr_port(t.src);
        return port >= 0 && match_int(acl, port);
    }
    if (f == "dst_port") return t.dst_port >= 0 && match_int(acl, t.dst_port);
    if (f == "status") return t.rsp != nullptr && match_int(acl, t.rsp->status);
    if (f == "url_param") {
        std::string_view v;
        if (t.req == nullptr || !url_param(t.req->target, acl.arg, v)) return false;
        return acl.match == Match::Found || match_value(acl, v);
    }
    if (f == "unique-id") {
        std::string_view v;
        if (t.uid == nullptr || !t.uid->unique_id(t, v)) return false;
        return acl.match == Match::Found || match_value(acl, v);
    }
    if (payload_fetch(f)) return eval_payload_acl(acl, t) == Tri::Yes;
    if (f == "ssl_fc") return t.tls != nullptr;
    if (f.starts_with("ssl_c_") || f == "ssl_fc_has_crt") return match_client_cert(acl, t);
    if (f.starts_with("ssl_fc_")) {
        if (t.tls == nullptr) return false;  // in clear: no value, no match
        const std::string_view v = f == "ssl_fc_sni"        ? t.tls->sni
                                   : f == "ssl_fc_protocol" ? t.tls->protocol
                                   : f == "ssl_fc_cipher"   ? t.tls->cipher
                                                            : t.tls->alpn;
        return !v.empty() && match_value(acl, v);
    }
    if (t.req == nullptr) return false;
    // rewrites change the request itself: HAProxy's path is the rewritten one (rules and use_backend see it)
    if (f == "path")
        return match_value(acl, t.req->path);
    if (f == "url") return match_value(acl, t.req->target);
    if (f == "method") return match_value(acl, t.req->method_text);
    if (f == "req.ver") return match_value(acl, t.req->version == 10 ? "1.0" : "1.1");
    return false;
}

Tri eval_acl3(const Acl& acl, const Txn& t) {
    if (payload_fetch(acl.fetch)) return eval_payload_acl(acl, t);
    return eval_acl(acl, t) ? Tri::Yes : Tri::No;
}

Tri eval_condition3(const config::Condition& c, const std::vector<config::Acl>& acls, const Txn& t) {
    if (!c.present) return Tri::Yes;
    Tri any = Tri::No;
    for (const std::vector<config::CondTerm>& group : c.any_of) {
        Tri all = Tri::Yes;
        for (const config::CondTerm& term : group) {
            Tri hit = Tri::No;
            for (int idx : term.acls) {
                if (idx < 0 || static_cast<std::size_t>(idx) >= acls.size()) continue;
                const Tri r = eval_acl3(acls[static_cast<std::size_t>(idx)], t);
                if (r == Tri::Yes) {
                    hit = Tri::Yes;
                    break;
                }
                if (r == Tri::Miss) hit = Tri::Miss;
            }
            if (term.negate && hit != Tri::Miss) hit = hit == Tri::Yes ? Tri::No : Tri::Yes;
            if (hit == Tri::No) {
                all = Tri::No;
                break;
            }
            if (hit == Tri::Miss) all = Tri::Miss;
        }
        if (all == Tri::Yes) {
            any = Tri::Yes;
            break;
        }
        if (all == Tri::Miss) any = Tri::Miss;
    }
    if (c.unless && any != Tri::Miss) any = any == Tri::Yes ? Tri::No : Tri::Yes;
    return any;
}

TcpVerdict run_tcp_rules(const std::vector<config::TcpRule>& rules, const std::vector<config::Acl>& acls,
                         const Txn& t, bool* expect_proxy, bool content) {
    for (const config::TcpRule& r : rules) {
        const Tri c = eval_condition3(r.cond, acls, t);
        if (c == Tri::Miss) return TcpVerdict::Wait;
        if (c != Tri::Yes) continue;
        switch (r.action) {  // every action but accept and reject lets the next rules run (HAProxy)
            case config::TcpAction::ExpectProxy:
                if (expect_proxy) *expect_proxy = true;
                continue;
            case config::TcpAction::TrackSc:
                track(r.track, t, content, false);
                continue;
            case config::TcpAction::ScIncGpc:
                sc_inc_gpc(r.track, r.value, t);
                continue;
            case config::TcpAction::ScSetGpt0:
                sc_set_gpt(r.track, r.value, t);
                continue;
            case config::TcpAction::SetVar:
                set_var(r.var, t);
                continue;
            case config::TcpAction::UnsetVar:
                unset_var(r.var, t);
                continue;
            case config::TcpAction::Accept:
                return TcpVerdict::Accept;
            case config::TcpAction::Reject:
                return TcpVerdict::Reject;
            case config::TcpAction::Close:
                return TcpVerdict::Close;
        }
    }
    return TcpVerdict::Accept;
}

bool eval_condition(const config::Condition& c, const std::vector<config::Acl>& acls, const Txn& t) {
    if (!c.present) return true;
    bool any = false;
    for (const std::vector<config::CondTerm>& group : c.any_of) {
        bool all = true;
        for (const config::CondTerm& term : group) {
            bool hit = false;
            for (int idx : term.acls) {
                if (idx >= 0 && static_cast<std::size_t>(idx) < acls.size() && eval_acl(acls[idx], t)) {
                    hit = true;
                    break;
                }
            }
            if (hit == term.negate) {
                all = false;
                break;
            }
        }
        if (all) {
            any = true;
            break;
        }
    }
    return c.unless ? !any : any;
}

}  // namespace es::rules
