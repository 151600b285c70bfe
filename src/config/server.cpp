// server and default-server lines: address, weight, maxconn, state, TLS to the server (`ssl verify
// ca-file sni alpn ...`), and the HAProxy options accepted with a warning or refused with a reason
// (README.md: warn or refuse).
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>

#include "edgeshard/net/proxy_proto.hpp"
#include "internal.hpp"
#include "proxy_lines.hpp"
#include "sections.hpp"

namespace es::config::detail {

namespace {

constexpr int kIntMax = std::numeric_limits<int>::max();

enum class Arg { None, Time, Int, Any };
struct ServerIgnored {
    std::string_view name;
    Arg arg;
    std::string_view why;
};
constexpr std::string_view kWhyPool = "server connection pools are per shard and sized by edgeshard";
constexpr ServerIgnored kServerIgnored[] = {
    {"check-via-socks4", Arg::None, kWhyCheck},
    {"check-alpn", Arg::Any, kWhyCheck},
    {"check-proto", Arg::Any, kWhyCheck},
    {"track", Arg::Any, kWhyCheck},
    {"pool-purge-delay", Arg::Time, kWhyPool},
    {"pool-max-conn", Arg::Any, kWhyPool},  // 0 is refused (parse_server_options)
    {"pool-low-conn", Arg::Int, kWhyPool},
};
// Options that ask for what edgeshard does anyway (they undo a default-server setting we refuse).
constexpr std::string_view kServerNoop[] = {"no-tfo"};
constexpr Entry kServerRefused[] = {
    {"minconn", "dynamic server limits are not supported yet"},
    {"maxqueue", "queue limits are not supported yet"},
    {"redir", "server redirects ('redir') are not supported in this version"},
    {"source", "choosing the source address of server connections is not supported yet"},
    {"usesrc", "choosing the source address of server connections is not supported yet"},
    {"namespace", "network namespaces are not supported"},
    {"tfo", "TCP fast open is not supported yet"},
    {"proto", "'proto' is not supported (edgeshard speaks HTTP/1.1 only)"},
    {"ws", "WebSocket settings are not supported in this version"},
    {"socks4", "SOCKS4 is not supported"},
    {"npn", "NPN is obsolete: use 'alpn'"},
    {"allow-0rtt", "0-RTT early data is not sent to servers (it can be replayed)"},
};

// `proxy-v2-options a,b,...`: the TLVs of the PROXY v2 headers sent (HAProxy's words).
std::uint16_t proxy_v2_options(const Line& line, const std::string& v) {
    static constexpr std::pair<std::string_view, std::uint16_t> kOpts[] = {
        {"ssl", net::pp::kOptSsl},           {"cert-cn", net::pp::kOptSslCn | net::pp::kOptSsl},
        {"ssl-cipher", net::pp::kOptSslCipher | net::pp::kOptSsl},
        {"authority", net::pp::kOptAuthority}, {"crc32c", net::pp::kOptCrc32c},
        {"unique-id", net::pp::kOptUniqueId}};
    std::uint16_t bits = 0;
    std::size_t p = 0;
    while (p <= v.size()) {
        const std::size_t c = std::min(v.find(',', p), v.size());
        const std::string o = v.substr(p, c - p);
        if (o == "cert-sig" || o == "cert-key")
            fail(line.at, "'proxy-v2-options " + o + "' is not supported in this version (the client certificate's "
                          "signature and key algorithms are not sent); supported: ssl, cert-cn, ssl-cipher, "
                          "authority, crc32c, unique-id");
        const auto* hit = std::find_if(std::begin(kOpts), std::end(kOpts), [&](const auto& e) { return e.first == o; });
        if (hit == std::end(kOpts)) {
            std::vector<std::string_view> names;
            for (const auto& e : kOpts) names.push_back(e.first);
            fail(line.at, "'proxy-v2-options' expects a comma-separated list among ssl, cert-cn, ssl-cipher, "
                          "cert-sig, cert-key, authority, crc32c and unique-id, got " + squote(o) + did_you_mean(o, names));
        }
        bits |= hit->second;
        p = c + 1;
    }
    return bits;
}

// `sni <expr>`: the forms edgeshard evaluates (see ServerTlsOptions).
void parse_sni_expr(const Line& line, const std::string& e, ServerTlsOptions& t) {
    auto inner = [&](std::string_view fn) -> std::optional<std::string> {
        if (e.size() > fn.size() + 2 && e.compare(0, fn.size(), fn) == 0 && e[fn.size()] == '(' && e.back() == ')')
            return e.substr(fn.size() + 1, e.size() - fn.size() - 2);
        return std::nullopt;
    };
    if (e == "ssl_fc_sni") {
        t.sni = ServerTlsOptions::Sni::FcSni;
    } else if (auto v = inner("str"); v && !v->empty()) {
        t.sni = ServerTlsOptions::Sni::Str;
        t.sni_arg = *v;
    } else if (auto h = inner("req.hdr") ? inner("req.hdr") : inner("hdr"); h && !h->empty() && h->find(',') == std::string::npos) {
        t.sni = ServerTlsOptions::Sni::Hdr;
        t.sni_arg = lower(*h);
    } else {
        fail(line.at, "'sni " + e + "': supported expressions are str(<name>), req.hdr(<name>), hdr(<name>) "
                      "and ssl_fc_sni");
    }
}

// The TLS words of a server line; true when `line.words[i]` was one (i moved past its argument).
bool parse_server_tls_word(const Line& line, std::size_t& i, ServerDefaults& sd) {
    ServerTlsOptions& t = sd.tls;
    if (parse_shared_tls_word(line, i, t)) return true;
    const std::string& opt = line.words[i];
    if (opt == "ssl") {
        sd.ssl = true;
    } else if (opt == "no-ssl") {
        sd.ssl = false;
    } else if (opt == "verify") {
        const auto& v = arg_or_fail(line, ++i, opt, "'none' or 'required'");
        if (v != "none" && v != "required") fail(line.at, "'verify' expects 'none' or 'required', got " + squote(v));
        t.o.verify = v == "required";
        t.verify_set = true;
    } else if (opt == "ca-file") {
        t.o.ca_file = arg_or_fail(line, ++i, opt, "a file of CA certificates (PEM), or @system-ca");
    } else if (opt == "crl-file") {
        t.o.crl_file = arg_or_fail(line, ++i, opt, "a file of CRLs (PEM)");
    } else if (opt == "verifyhost") {
        t.o.verifyhost = arg_or_fail(line, ++i, opt, "a host name");
    } else if (opt == "no-verifyhost") {
        t.o.verifyhost.clear();
    } else if (opt == "crt") {
        t.o.crt = arg_or_fail(line, ++i, opt, "a client certificate file (PEM with its key)");
    } else if (opt == "sni") {
        parse_sni_expr(line, arg_or_fail(line, ++i, opt, "a sample expression, e.g. req.hdr(host)"), t);
    } else if (opt == "ssl-reuse") {
        t.o.reuse = true;
    } else if (opt == "no-ssl-reuse") {
        t.o.reuse = false;
    } else if (opt == "no-tls-tickets") {
        t.o.no_tickets = true;
        t.tickets_set = true;
    } else if (opt == "tls-tickets") {
        t.o.no_tickets = false;
        t.tickets_set = true;
    } else {
        return false;
    }
    return true;
}

bool valid_server_name(const std::string& n) {
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
    });
}

}  // namespace

// Parses server options from words[first] on into sd (weight/maxconn/disabled, TLS), warning about the rest.
void parse_server_options(ParseState& st, const Line& line, std::size_t first, ServerDefaults& sd) {
    IgnoredWords ignored;
    for (std::size_t i = first; i < line.words.size(); ++i) {
        const auto& opt = line.words[i];
        if (parse_server_tls_word(line, i, sd)) continue;
        if (opt == "weight") {
            sd.weight = static_cast<int>(int_arg(line, ++i, "weight", 0, 256, "an integer from 0 to 256"));
        } else if (opt == "maxconn") {
            sd.maxconn =
                static_cast<int>(int_arg(line, ++i, "maxconn", 0, kIntMax, "a non-negative integer"));
        } else if (opt == "disabled") {
            sd.disabled = true;
        } else if (opt == "enabled") {
            sd.disabled = false;
        } else if (opt == "backup") {
            sd.backup = true;
        } else if (opt == "no-backup") {
            sd.backup = false;
        } else if (opt == "slowstart") {
            sd.check.slowstart = time_arg(line, ++i, opt);
        } else if (opt == "on-marked-down") {
            const auto& v = arg_or_fail(line, ++i, opt, "shutdown-sessions");
            if (v != "shutdown-sessions")
                fail(line.at, "'on-marked-down' expects 'shutdown-sessions', got " + squote(v));
            sd.check.shutdown_on_down = true;
        } else if (opt == "on-marked-up") {
            const auto& v = arg_or_fail(line, ++i, opt, "shutdown-backup-sessions");
            if (v != "shutdown-backup-sessions")
                fail(line.at, "'on-marked-up' expects 'shutdown-backup-sessions', got " + squote(v));
            sd.check.shutdown_backup_on_up = true;
        } else if (opt == "check-ssl") {
            sd.check.ssl = 1;
        } else if (opt == "no-check-ssl") {
            sd.check.ssl = 0;
        } else if (opt == "check-sni") {
            sd.check.sni = arg_or_fail(line, ++i, opt, "a server name for the checks' TLS handshakes");
        } else if (opt == "init-addr") {
            // init-addr {last | libc | none | <ip>}[,...]
            const auto& v = arg_or_fail(line, ++i, opt, "methods among last, libc, none or an IP address");
            sd.init_addr.clear();
            std::size_t p = 0;
            while (p <= v.size()) {
                const std::size_t c = std::min(v.find(',', p), v.size());
                const std::string m = v.substr(p, c - p);
                if (m != "last" && m != "libc" && m != "none" && !ip_only(m))
                    fail(line.at, "'init-addr' expects methods among last, libc, none or an IP address, got " +
                                      squote(m));
                sd.init_addr.push_back(m);
                p = c + 1;
            }
        } else if (opt == "resolvers") {
            sd.resolvers = arg_or_fail(line, ++i, opt, "the name of a resolvers section");
        } else if (opt == "resolve-prefer") {
            const auto& v = arg_or_fail(line, ++i, opt, "'ipv4' or 'ipv6'");
            if (v != "ipv4" && v != "ipv6") fail(line.at, "'resolve-prefer' expects 'ipv4' or 'ipv6', got " + squote(v));
            sd.resolve_family = v == "ipv4" ? AF_INET : AF_INET6;
        } else if (opt == "resolve-opts") {
            const auto& v = arg_or_fail(line, ++i, opt, "a list among allow-dup-ip, prevent-dup-ip and ignore-weight");
            for (std::size_t p = 0; p <= v.size();) {
                const std::size_t c = std::min(v.find(',', p), v.size());
                const std::string o = v.substr(p, c - p);
                if (o == "allow-dup-ip" || o == "prevent-dup-ip") sd.allow_dup_ip = o == "allow-dup-ip";
                else if (o == "ignore-weight") sd.ignore_weight = true;
                else
                    fail(line.at, "'resolve-opts' expects a comma-separated list among allow-dup-ip, prevent-dup-ip "
                                  "and ignore-weight, got " + squote(o) +
                                      did_you_mean(o, {"allow-dup-ip", "prevent-dup-ip", "ignore-weight"}));
                p = c + 1;
            }
        } else if (opt == "resolve-net") {
            const auto& v = arg_or_fail(line, ++i, opt, "a comma-separated list of networks (addr/len)");
            sd.resolve_net.clear();
            for (std::size_t p = 0; p <= v.size();) {
                const std::size_t c = std::min(v.find(',', p), v.size());
                const std::string n = v.substr(p, c - p);
                const std::size_t sl = n.find('/');
                auto a = ip_only(n.substr(0, sl));
                const int max = a && a->family() == AF_INET6 ? 128 : 32;
                int len = max;
                if (a && sl != std::string::npos) {
                    const std::string l = n.substr(sl + 1);
                    len = l.empty() || l.size() > 3 || !std::all_of(l.begin(), l.end(), ::isdigit) ? -1 : std::stoi(l);
                }
                if (!a || len < 0 || len > max)
                    fail(line.at, "'resolve-net' expects networks as addr/len (10.0.0.0/8, fd00::/8), got " + squote(n));
                sd.resolve_net.emplace_back(*a, len);
                p = c + 1;
            }
        } else if (opt == "send-proxy" || opt == "send-proxy-v2" || opt == "send-proxy-v2-ssl" ||
                   opt == "send-proxy-v2-ssl-cn") {
            sd.send_proxy = opt == "send-proxy" ? 1 : 2;
            if (opt != "send-proxy" && opt != "send-proxy-v2") sd.pp_opts |= net::pp::kOptSsl;
            if (opt == "send-proxy-v2-ssl-cn") sd.pp_opts |= net::pp::kOptSslCn;
        } else if (opt == "no-send-proxy" || opt == "no-send-proxy-v2" || opt == "no-send-proxy-v2-ssl" ||
                   opt == "no-send-proxy-v2-ssl-cn") {
            if (opt == "no-send-proxy" ? sd.send_proxy == 1 : sd.send_proxy == 2) sd.send_proxy = 0;
        } else if (opt == "proxy-v2-options") {
            sd.pp_opts |= proxy_v2_options(line, arg_or_fail(line, ++i, opt, "a list among ssl, cert-cn, ssl-cipher, "
                                                                         "cert-sig, cert-key, authority, crc32c, unique-id"));
        } else if (opt == "id") {
            sd.puid = static_cast<std::uint32_t>(int_arg(line, ++i, opt, 1, kIntMax, "a positive integer"));
        } else if (opt == "cookie") {
            sd.cookie = arg_or_fail(line, ++i, opt, "the value of the backend's persistence cookie for this server");
        } else if (opt == "check-send-proxy") {
            sd.check.send_proxy = true;
        } else if (opt == "agent-check" || opt == "no-agent-check") {
            sd.check.agent = opt == "agent-check";
        } else if (opt == "agent-port") {
            sd.check.agent_port = static_cast<int>(int_arg(line, ++i, opt, 1, 65535, "a port from 1 to 65535"));
        } else if (opt == "agent-inter") {
            sd.check.agent_inter = time_arg(line, ++i, opt);
            if (sd.check.agent_inter <= 0)
                fail(line.at, "'agent-inter' expects a positive time, got " + squote(line.words[i]));
        } else if (opt == "agent-send") {
            sd.check.agent_send = arg_or_fail(line, ++i, opt, "a string sent to the agent");
        } else if (opt == "agent-addr") {
            const auto& a = arg_or_fail(line, ++i, opt, "an IPv4 or IPv6 address for the agent");
            auto parsed = ip_only(a);
            if (!parsed)
                fail(line.at, "'agent-addr' expects an IPv4 or IPv6 address, got " + squote(a) +
                                  " (host names are not resolved in this version)");
            sd.check.agent_addr = *parsed;
        } else if (opt == "observe") {
            const auto& v = arg_or_fail(line, ++i, opt, "'layer4' or 'layer7'");
            if (v == "layer4") sd.check.observe = ServerCheck::Observe::Layer4;
            else if (v == "layer7") sd.check.observe = ServerCheck::Observe::Layer7;
            else if (v == "none") sd.check.observe = ServerCheck::Observe::None;
            else fail(line.at, "'observe' expects 'layer4' or 'layer7', got " + squote(v));
        } else if (opt == "error-limit") {
            sd.check.error_limit = static_cast<int>(int_arg(line, ++i, opt, 1, kIntMax, "a positive integer"));
        } else if (opt == "on-error") {
            const auto& v = arg_or_fail(line, ++i, opt, "fastinter, fail-check, sudden-death or mark-down");
            using E = ServerCheck::OnError;
            if (v == "fastinter") sd.check.on_error = E::FastInter;
            else if (v == "fail-check") sd.check.on_error = E::FailCheck;
            else if (v == "sudden-death") sd.check.on_error = E::SuddenDeath;
            else if (v == "mark-down") sd.check.on_error = E::MarkDown;
            else
                fail(line.at, "'on-error' expects fastinter, fail-check, sudden-death or mark-down, got " + squote(v) +
                                  did_you_mean(v, {"fastinter", "fail-check", "sudden-death", "mark-down"}));
        } else if (opt == "check") {
            sd.check.enabled = true;
        } else if (opt == "no-check") {
            sd.check.enabled = false;
        } else if (opt == "inter" || opt == "fastinter" || opt == "downinter") {
            const Millis v = time_arg(line, ++i, opt);
            if (v <= 0) fail(line.at, squote(opt) + " expects a positive time, got " + squote(line.words[i]));
            (opt == "inter" ? sd.check.inter : opt == "fastinter" ? sd.check.fastinter : sd.check.downinter) = v;
        } else if (opt == "rise" || opt == "fall") {
            const int v = static_cast<int>(int_arg(line, ++i, opt, 1, 1000000, "a positive integer"));
            (opt == "rise" ? sd.check.rise : sd.check.fall) = v;
        } else if (opt == "port") {
            sd.check.port = static_cast<int>(int_arg(line, ++i, opt, 1, 65535, "a port from 1 to 65535"));
        } else if (opt == "addr") {
            const auto& a = arg_or_fail(line, ++i, opt, "an IPv4 or IPv6 address for the checks");
            // an address alone (HAProxy's `addr`); the port comes from `port` or the server
            auto parsed = ip_only(a);
            if (!parsed)
                fail(line.at, "'addr' expects an IPv4 or IPv6 address (the checks' destination), got " + squote(a));
            sd.check.addr = *parsed;
        } else if (std::find(std::begin(kServerNoop), std::end(kServerNoop), opt) != std::end(kServerNoop)) {
            // nothing to do: this is edgeshard's behaviour already
        } else if (const auto* r = find_entry(opt, kServerRefused)) {
            fail(line.at, "server option " + squote(opt) + " is not supported: " + std::string(r->why));
        } else {
            const ServerIgnored* ign = nullptr;
            for (const auto& e : kServerIgnored)
                if (e.name == opt) ign = &e;
            if (ign == nullptr) {
                std::vector<std::string_view> known = {
                    "weight", "maxconn", "disabled", "enabled", "backup", "no-backup", "check", "no-check",
                    "inter", "fastinter", "downinter", "rise", "fall", "port", "addr", "check-ssl", "no-check-ssl",
                    "check-sni", "slowstart", "on-marked-down", "on-marked-up", "check-send-proxy", "init-addr", "agent-check",
                    "cookie", "id", "resolvers", "resolve-prefer", "resolve-opts", "resolve-net", "send-proxy", "send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "proxy-v2-options",
                    "no-send-proxy", "no-send-proxy-v2", "no-send-proxy-v2-ssl", "no-send-proxy-v2-ssl-cn",
                    "no-agent-check", "agent-port", "agent-inter", "agent-send", "agent-addr", "observe",
                    "error-limit", "on-error", "ssl", "no-ssl", "verify", "ca-file", "crl-file",
                    "verifyhost", "no-verifyhost", "crt", "sni", "alpn", "ssl-min-ver", "ssl-max-ver", "force-sslv3",
                    "force-tlsv10", "force-tlsv11", "force-tlsv12", "force-tlsv13", "ciphers",
                    "ciphersuites", "curves", "sigalgs", "client-sigalgs", "ssl-reuse", "no-ssl-reuse",
                    "no-tls-tickets", "tls-tickets"};
                for (const auto& e : kServerIgnored) known.push_back(e.name);
                known.insert(known.end(), std::begin(kServerNoop), std::end(kServerNoop));
                add_names(known, kServerRefused);
                fail(line.at, "unknown server option " + squote(opt) + did_you_mean(opt, known));
            }
            std::string word = opt;
            if (opt == "pool-max-conn") {
                const auto n = int_arg(line, i + 1, opt, -1, kIntMax, "-1 or a non-negative integer");
                if (n == 0)
                    fail(line.at,
                         "server option 'pool-max-conn 0' (no idle server connection kept) is not "
                         "supported per server: use 'http-reuse never' in the backend");
            }
            if (ign->arg == Arg::Time) {
                time_arg(line, ++i, opt);
            } else if (ign->arg == Arg::Int) {
                int_arg(line, ++i, opt, 0, kIntMax, "a non-negative integer");
            } else if (ign->arg == Arg::Any) {
                arg_or_fail(line, ++i, opt, "a value");
            }
            ignored.add(std::move(word), ign->why);
        }
    }
    ignored.flush(st, line.at);
}

// A server written with a host name gets its address now, at load, as HAProxy's `init-addr` says:
// "libc" asks getaddrinfo (any family unless a prefix says, the first answer, as HAProxy's
// str2ip2), an IP address is taken as it is, "none" starts the server in maintenance without an
// address, "last" (a server-state-file's address) has nothing to read here. Nothing found is an
// error naming the line, unless -dr: then maintenance, with a warning.
void resolve_server(ParseState& st, const ProxyDraft& px, const Line& line, const HostPort& hp,
                    const ServerDefaults& sd, Server& s) {
    s.hostname = hp.host;
    const std::string who = "server " + squote(px.name + "/" + s.name);
    auto with_port = [&](SockAddr a) {
        a.set_port(hp.port);
        return a;
    };
    for (const std::string& m : sd.init_addr) {
        if (m == "last") continue;
        if (m == "none") {
            if (sd.resolvers.empty())
                st.warn(line.at, who + ": " + squote(hp.host) + " is not resolved (init-addr none) and has no "
                                       "'resolvers': it stays in maintenance");
            s.addr = with_port(*ip_only(hp.family == AF_INET6 ? "::" : "0.0.0.0"));
            s.unresolved = true;
            s.disabled = sd.resolvers.empty();  // with resolvers, a DNS answer brings it in service
            return;
        }
        if (m != "libc") {
            auto a = ip_only(m);
            if (a && (hp.family == 0 || a->family() == hp.family)) {
                s.addr = with_port(*a);
                return;
            }
            continue;
        }
        // HAProxy asks the resolver only for a valid name (labels of at most 63 bytes)
        bool valid = true;
        for (std::size_t p = 0, n = 0; p <= hp.host.size(); ++p, ++n) {
            if (p == hp.host.size() || hp.host[p] == '.') {
                if (n > 63) valid = false;
                n = std::size_t(-1);
            }
        }
        if (!valid) continue;
        addrinfo hints{};
        hints.ai_family = hp.family ? hp.family : AF_UNSPEC;
        hints.ai_socktype = SOCK_DGRAM;
        addrinfo* res = nullptr;
        if (::getaddrinfo(hp.host.c_str(), nullptr, &hints, &res) == 0 && res) {
            SockAddr a;
            std::memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
            a.len = socklen_t(res->ai_addrlen);
            ::freeaddrinfo(res);
            if (a.ss.ss_family == AF_INET || a.ss.ss_family == AF_INET6) {
                s.addr = with_port(a);
                return;
            }
        } else if (res) {
            ::freeaddrinfo(res);
        }
    }
    if (!st.load.ignore_resolve_failures)
        fail(line.at, who + ": could not resolve address " + squote(hp.host) +
                          " (init-addr: add 'none' to start it in maintenance, or run with -dr)");
    st.warn(line.at, who + ": could not resolve address " + squote(hp.host) + ": it starts in maintenance (-dr)");
    s.addr = with_port(*ip_only(hp.family == AF_INET6 ? "::" : "0.0.0.0"));
    s.unresolved = true;
    s.disabled = sd.resolvers.empty();
}

namespace {

// HAProxy's port-less forms: an address or name alone (the client's port) or with `:+N` / `:-N`
// (an offset from it). True with `host` the address or name without the port part (its prefix
// kept), and the offset.
bool port_mapping(const std::string& addr, std::string& host, int& offset) {
    const std::size_t at = addr.find('@');
    const std::string_view rest = std::string_view(addr).substr(at == std::string::npos ? 0 : at + 1);
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
        if (rest.empty()) return false;
        offset = 0;
        host = addr;
        return true;
    }
    const std::string_view tail = rest.substr(colon + 1);
    if (tail.size() < 2 || (tail[0] != '+' && tail[0] != '-') || rest.find(':') != colon) return false;
    const std::string_view digits = tail.substr(1);
    if (digits.find_first_not_of("0123456789") != std::string_view::npos) return false;
    const std::optional<long long> n = parse_integer(digits);
    if (!n || *n > 65535) return false;
    offset = tail[0] == '-' ? -int(*n) : int(*n);
    host = addr.substr(0, addr.size() - tail.size() - 1);
    return true;
}

// One server of a `server` line, or of a `server-template` line (its name numbered, its options
// read once per server: the line is short and the template small).
void add_server(ParseState& st, ProxyDraft& px, const Line& line, const std::string& name, const std::string& addr,
                std::size_t first_opt) {
    for (const auto& s : px.be.servers)
        if (s.name == name)
            fail(line.at,
                 "server " + squote(px.name + "/" + name) + " is already declared at " + where_text(s.where));
    Server s;
    s.name = name;
    // a DNS SRV label ("_http._tcp.svc.local", HAProxy's rule: a leading underscore) has no port:
    // the SRV records give the targets and their ports at run time
    const bool srv_label = !addr.empty() && addr[0] == '_';
    std::string host;
    s.port_map = !srv_label && port_mapping(addr, host, s.port_offset);
    std::optional<HostPort> hp;
    if (s.port_map) {
        // an address (port 0), else a name to resolve
        const std::string bare = host.substr(host.find('@') == std::string::npos ? 0 : host.find('@') + 1);
        if (const auto ip = ip_only(bare)) s.addr = *ip;
        else if (!(hp = host_port_arg(host, true)))
            fail(line.at, "'server " + name + "': " + squote(addr) + " is not an address or a host name");
    } else if (!srv_label) {
        hp = host_port_arg(addr);
        if (!hp) s.addr = addr_arg(addr, line.at, "server " + name);
    }
    s.where = line.at;
    ServerDefaults sd = px.default_server;
    parse_server_options(st, line, first_opt, sd);
    if (hp) resolve_server(st, px, line, *hp, sd, s);  // a port-less name: port 0
    if (srv_label) {
        if (sd.resolvers.empty())
            fail(line.at, "server " + squote(px.name + "/" + name) + ": " + squote(addr) +
                              " is a DNS SRV label: it needs 'resolvers <section>' (the SRV records are read at run time)");
        s.hostname = addr.substr(0, addr.find(':'));
        s.srv_label = true;
        s.addr = *ip_only("0.0.0.0");
        s.unresolved = true;  // in maintenance until a SRV record and its target's address fill it
    }
    s.weight = sd.weight;
    s.maxconn = sd.maxconn;
    s.disabled = s.disabled || sd.disabled;  // or no address (init-addr none, -dr)
    s.backup = sd.backup;
    s.send_proxy = sd.send_proxy;
    s.pp_opts = sd.pp_opts;
    s.cookie = sd.cookie;
    s.puid = sd.puid;
    s.resolve_family = sd.resolve_family;
    s.allow_dup_ip = sd.allow_dup_ip;
    s.ignore_weight = sd.ignore_weight;
    s.resolve_net = sd.resolve_net;
    if (!sd.resolvers.empty()) st.resolvers_refs.push_back({px.name, name, sd.resolvers, line.at});
    for (const auto& o : px.be.servers)
        if (s.puid && o.puid == s.puid)
            fail(line.at, "server " + squote(px.name + "/" + name) + " has the same ID as server " +
                              squote(px.name + "/" + o.name) + " (" + where_text(o.where) + ")");
    s.check = sd.check;
    if (s.port_map && s.check.enabled && s.check.port == 0)
        fail(line.at, "backend " + squote(px.name) + ": server " + squote(name) +
                          " has neither service port nor check port (a server without a port needs 'port <n>' "
                          "to be checked)");
    if (s.check.agent && s.check.agent_port == 0)
        fail(line.at, "server " + squote(px.name + "/" + name) + ": 'agent-check' needs an agent port ('agent-port <port>')");
    if (sd.ssl) {
        auto t = std::make_shared<ServerTlsOptions>(sd.tls);
        t->where = line.at;
        t->dir = relative_dir();  // its files are read once every file is parsed: from here (default-path)
        s.tls = std::move(t);
    }
    px.be.servers.push_back(std::move(s));
}

}  // namespace

void parse_server(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& name = arg_or_fail(line, 1, "server", "a name and an address");
    if (!valid_server_name(name))
        fail(line.at,
             "invalid server name " + squote(name) + ": use letters, digits, '-', '_', '.' and ':' only");
    add_server(st, px, line, name, arg_or_fail(line, 2, "server " + name, "an address ADDR:PORT"), 3);
}

// server-template <prefix> <num | low-high> <fqdn>[:<port>] [params*]: servers <prefix><n> for n in
// the range, each on the same name (HAProxy 2.6). Their addresses come from the name at load
// (init-addr) and, with `resolvers`, from its answers at run time: each server takes an address
// no other server of the backend has (unless allow-dup-ip), the ones left without stay in
// maintenance. With a SRV label (a name starting with '_', no port), each SRV record fills a free
// server with its target and port, and the target's address.
void parse_server_template(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& prefix = arg_or_fail(line, 1, "server-template", "a prefix, a number or range and an FQDN");
    if (!valid_server_name(prefix))
        fail(line.at, "invalid server-template prefix " + squote(prefix) + ": use letters, digits, '-', '_', '.' and ':' only");
    const auto& range = arg_or_fail(line, 2, "server-template " + prefix, "a number of servers or a range <low>-<high>");
    const auto& fqdn = arg_or_fail(line, 3, "server-template " + prefix, "an FQDN[:port]");
    auto num = [&](const std::string& t) -> long {
        if (t.empty() || t.size() > 6 || !std::all_of(t.begin(), t.end(), ::isdigit)) return -1;
        return std::stol(t);
    };
    const std::size_t dash = range.find('-');
    long lo = 1, hi = num(range);
    if (dash != std::string::npos) {
        lo = num(range.substr(0, dash));
        hi = num(range.substr(dash + 1));
    }
    if (lo < 1 || hi < lo || hi - lo >= 4096)
        fail(line.at, "server-template " + squote(prefix) + ": expects a number of servers (1 to 4096) or a range "
                      "<low>-<high> of positive numbers, got " + squote(range));
    for (long n = lo; n <= hi; ++n) add_server(st, px, line, prefix + std::to_string(n), fqdn, 4);
}

}  // namespace es::config::detail
