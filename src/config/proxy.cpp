// defaults / frontend / backend / listen keywords, bind and server lines.
//
// Policy (README.md): a keyword we implement is parsed into the snapshot; a keyword whose absence cannot
// change what a client or a server sees (logging, health checks, tuning, HTTP-only settings of a later
// room) is accepted with a warning; anything else that we do not implement is an error with a reason,
// because ignoring it would silently change traffic or security.
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>

#include "balance.hpp"
#include "http_internal.hpp"
#include "http_keywords.hpp"
#include "internal.hpp"
#include "proxy_lines.hpp"
#include "sections.hpp"

namespace es::config::detail {

namespace {

constexpr int kIntMax = std::numeric_limits<int>::max();

constexpr std::string_view kWhyLog = "the access log does not implement it in this version";
constexpr std::string_view kWhyHttp = "edgeshard's HTTP proxy does not implement it in this version";


// Accepted with a warning.
constexpr Entry kProxyIgnored[] = {
    {"log-format-sd", "rfc5424 lines carry no structured data in this version ('- -')"},
    {"error-log-format", "connection errors are not logged in this version"},
    {"description", kWhyInfo},
    {"guid", kWhyInfo},
    {"external-check", kWhyCheckKind},
    {"email-alert", "no e-mail is sent on a server state change: the 'mailers' section is skipped"},
    {"fullconn", "it only sizes 'minconn', which is not supported"},
    {"bind-process", "edgeshard has one process; every shard serves every frontend"},
    {"grace", "reserved for the reload work: not applied yet"},
    {"load-server-state-from-file",
     "runtime server states pass to the new process in the reload handoff; no state file is read"},
    {"server-state-file-name",
     "runtime server states pass to the new process in the reload handoff; no state file is read"},
};

// Keywords HAProxy removed, with the release that removed them and what replaces them (HAProxy
// 2.6's own list in cfgparse-listen.c and proxy.c, plus monitor-net): an error that says so, and
// never a did-you-mean suggestion.
struct Removed {
    std::string_view name, since, instead;  // instead: what to write ("use ... instead")
};
constexpr Removed kProxyRemoved[] = {
    {"reqrep", "2.1", "use 'http-request replace-path', 'http-request replace-uri' or 'http-request replace-header' instead"},
    {"cliexp", "2.1", "use 'http-request replace-path', 'http-request replace-uri' or 'http-request replace-header' instead"},
    {"reqirep", "2.1", "use 'http-request replace-header' instead"},
    {"reqdel", "2.1", "use 'http-request del-header' instead"},
    {"reqidel", "2.1", "use 'http-request del-header' instead"},
    {"reqdeny", "2.1", "use 'http-request deny' instead"},
    {"reqideny", "2.1", "use 'http-request deny' instead"},
    {"reqpass", "2.1", "remove it: a request that no rule stops goes through"},
    {"reqipass", "2.1", "remove it: a request that no rule stops goes through"},
    {"reqallow", "2.1", "use 'http-request allow' instead"},
    {"reqiallow", "2.1", "use 'http-request allow' instead"},
    {"reqtarpit", "2.1", "use 'http-request tarpit' instead"},
    {"reqitarpit", "2.1", "use 'http-request tarpit' instead"},
    {"reqadd", "2.1", "use 'http-request add-header' instead"},
    {"rsprep", "2.1", "use 'http-response replace-header' instead"},
    {"srvexp", "2.1", "use 'http-response replace-header' instead"},
    {"rspirep", "2.1", "use 'http-response replace-header' instead"},
    {"rspdel", "2.1", "use 'http-response del-header' instead"},
    {"rspidel", "2.1", "use 'http-response del-header' instead"},
    {"rspdeny", "2.1", "use 'http-response deny' instead"},
    {"rspideny", "2.1", "use 'http-response deny' instead"},
    {"rspadd", "2.1", "use 'http-response add-header' instead"},
    {"block", "2.1", "use 'http-request deny', which takes the same condition instead"},
    {"redispatch", "2.1", "use 'option redispatch' instead"},
    {"redisp", "2.1", "use 'option redispatch' instead"},
    {"contimeout", "2.1", "use 'timeout connect' instead"},
    {"clitimeout", "2.1", "use 'timeout client' instead"},
    {"srvtimeout", "2.1", "use 'timeout server' instead"},
    {"appsession", "1.6", "use 'cookie <name> insert' (or 'stick on') instead"},
    {"monitor-net", "2.4", "use 'monitor-uri', or 'http-request return status 200 if { src <net> }' instead"},
};

// Refused: an error with the reason.
constexpr Entry kProxyRefused[] = {
    {"compression", "compression is not supported"},
    {"cache", "caching is not supported"},
    {"filter", "filters are not supported"},
    {"http-send-name-header", "'http-send-name-header' is not supported in this version"},
    {"use-server", "'use-server' rules are not supported in this version"},
    {"force-persist", "persistence rules are not supported in this version"},
    {"ignore-persist", "persistence rules are not supported in this version"},
    {"dynamic-cookie-key", "dynamic cookies are not supported in this version: give each server its 'cookie'"},
    {"source", "choosing the source address of server connections is not supported yet"},
    {"rate-limit", "rate limits are not supported yet (refused rather than silently not limiting)"},
    {"disabled", "disabled proxies are not supported yet: comment the section out"},
    {"dispatch", "'dispatch' is not supported: declare a 'server'"},
};

// option NAME: accepted with a warning.
constexpr Entry kOptionIgnored[] = {
    {"dontlog-normal", "every request is logged, normal ones too"},
    {"logasap", "a request is logged when it ends, not when its response headers are sent"},
    {"log-separate-errors", "errors are logged at level info like the other requests"},
    {"socket-stats", "statistics are kept per frontend, not per listener, in this version"},
    {"spop-check", kWhyCheckKind},
    {"external-check", kWhyCheckKind},
    {"http-pretend-keepalive", kWhyHttp},
    {"http-buffer-request",
     "request bodies are streamed to the server as they arrive (no rule reads a body in this version)"},
    {"http-no-delay", kWhyHttp},
    {"http-ignore-probes", kWhyHttp},
    {"http-use-proxy-header", kWhyHttp},
    {"accept-invalid-http-request",
     "edgeshard's HTTP parser stays strict: an invalid request is still answered with 400"},
    {"accept-invalid-http-response",
     "edgeshard's HTTP parser stays strict: an invalid response is still answered with 502"},
    {"disable-h2-upgrade", "edgeshard speaks HTTP/1.1 only: it never upgrades a connection to HTTP/2"},
    {"idle-close-on-response", kWhyHttp},
    {"abortonclose", kWhyHttp},
    {"tcpka", "TCP keep-alive is not configurable yet"},
    {"clitcpka", "TCP keep-alive is not configurable yet"},
    {"srvtcpka", "TCP keep-alive is not configurable yet"},
    {"tcp-smart-accept", "edgeshard tunes its sockets itself"},
    {"tcp-smart-connect", "edgeshard tunes its sockets itself"},
    {"splice-auto", "edgeshard decides splicing itself (tune.es.splice-after, nosplice)"},
    {"splice-request", "edgeshard decides splicing itself (tune.es.splice-after, nosplice)"},
    {"splice-response", "edgeshard decides splicing itself (tune.es.splice-after, nosplice)"},
    {"contstats", "counters are always updated continuously"},
    {"independent-streams", "each direction already has its own timeout"},
};

constexpr Entry kOptionRefused[] = {
    {"h1-case-adjust-bogus-client",
     "header names cannot be re-cased in this version: a peer that needs it would get other names"},
    {"h1-case-adjust-bogus-server",
     "header names cannot be re-cased in this version: a peer that needs it would get other names"},
    {"prefer-last-server",
     "every request is balanced on its own in this version: requests that need the server of the previous "
     "one (NTLM-style authentication) would go elsewhere"},
    {"checkcache",
     "cacheable responses carrying cookies are not blocked in this version: they would reach shared caches"},
    {"transparent", "transparent proxying is not supported"},
    {"http_proxy", "forward proxying ('option http_proxy') is not supported"},
    {"nolinger", "'option nolinger' is not supported yet (it changes how connections close)"},
    {"originalto", "the X-Original-To header is not supported in this version"},
    {"http-restrict-req-hdr-names", "header name filtering is not supported in this version"},
};

// HAProxy's wording: "'timeout server' will be ignored because frontend 'f' has no backend capability".
void warn_capability(ParseState& st, const ProxyDraft& px, const Location& at, std::string_view kw,
                     unsigned need) {
    st.warn(at, squote(kw) + " is ignored because " + px.kind + " " + squote(px.name) + " has no " +
                    ((need & kCapFe) ? "frontend" : "backend") + " capability");
}

// ---- bind ----------------------------------------------------------------------------------------------

// The TLS words of a bind that edgeshard reads (parse_bind_tls_word), for "did you mean".
constexpr std::string_view kBindTlsBuilt[] = {
    "ssl",          "crt",           "crt-list",      "ca-file",        "crl-file",       "alpn",
    "ciphers",      "ciphersuites",  "curves",        "verify",         "ssl-min-ver",    "ssl-max-ver",
    "no-sslv3",     "no-tlsv10",     "no-tlsv11",     "no-tlsv12",      "no-tlsv13",      "strict-sni",
    "tls-ticket-keys", "no-tls-tickets", "prefer-client-ciphers", "crt-ignore-err", "ca-ignore-err", "ktls",
    "sigalgs",      "client-sigalgs", "no-ca-names", "ecdhe",     "ca-verify-file", "force-sslv3",
    "force-tlsv10", "force-tlsv11",  "force-tlsv12",  "force-tlsv13", "allow-0rtt"};
// HAProxy's TLS words of a bind that are not built yet: refused by name.
constexpr std::string_view kBindTls[] = {"npn",
                                         "generate-certificates",
                                         "ca-sign-file",
                                         "ca-sign-pass",
                                         "ssl-engine",
                                         "no-strict-sni",
                                         "quic-cc-algo",
                                         "quic-force-retry"};

struct BindRefused {
    std::string_view name;
    std::string_view why;
};
constexpr BindRefused kBindRefused[] = {
    {"accept-netscaler-cip", "NetScaler client IP insertion is not supported"},
    {"maxconn", "a per-bind 'maxconn' is not supported yet: use the frontend's 'maxconn'"},
    {"interface", "binding to an interface is not supported yet"},
    {"transparent", "transparent binds are not supported"},
    {"namespace", "network namespaces are not supported"},
    {"mss", "setting the MSS is not supported yet"},
    {"tfo", "TCP fast open is not supported yet"},
    {"defer-accept", "'defer-accept' is not supported yet"},
    {"tcp-ut", "'tcp-ut' is not supported yet"},
    {"proto", "'proto' is not supported (edgeshard speaks HTTP/1.1 only)"},
    {"mode", "'mode' only applies to unix socket binds, which are not supported"},
    {"user", "'user' only applies to unix socket binds, which are not supported"},
    {"group", "'group' only applies to unix socket binds, which are not supported"},
    {"uid", "'uid' only applies to unix socket binds, which are not supported"},
    {"gid", "'gid' only applies to unix socket binds, which are not supported"},
    {"level", "'level' only applies to the stats socket (declare it in 'global')"},
    {"expose-fd", "'expose-fd' only applies to the stats socket (declare it in 'global')"},
    {"severity-output", "'severity-output' only applies to the stats socket"},
};
// With one argument, accepted with a warning.
constexpr std::string_view kBindIgnored1[] = {"name", "id", "process", "thread", "shards", "nice", "label"};

// bind fd@N: a listening TCP socket given to the process as descriptor N, checked now as HAProxy does
Bind fd_bind(const std::string& item, const Location& at) {
    const std::string n = item.substr(3);
    const auto v = parse_integer(n);
    if (!v || *v < 0 || *v > 1 << 20) fail(at, "'bind' : invalid file descriptor " + squote(n) + " in " + squote(item));
    Bind b{SockAddr{}, item, at};
    b.fd = int(*v);
    b.addr.len = sizeof b.addr.ss;
    if (::getsockname(b.fd, reinterpret_cast<sockaddr*>(&b.addr.ss), &b.addr.len) != 0)
        fail(at, "'bind' : cannot use file descriptor " + squote(n) + " : " + std::string(std::strerror(errno)) + ".");
    int type = 0, listening = 0;
    socklen_t l = sizeof type;
    ::getsockopt(b.fd, SOL_SOCKET, SO_TYPE, &type, &l);
    l = sizeof listening;
    ::getsockopt(b.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l);
    if ((b.addr.family() != AF_INET && b.addr.family() != AF_INET6) || type != SOCK_STREAM)
        fail(at, "'bind' : file descriptor " + squote(n) +
                     " is not a TCP socket (fd@ takes a listening IPv4 or IPv6 TCP socket; unix sockets are not supported)");
    if (!listening)
        fail(at, "'bind' : file descriptor " + squote(n) + " is a TCP socket that is not listening (" + b.addr.text() +
                     "): the parent process must call listen() before handing it over");
    return b;
}

// "ADDR:PORT" or "ADDR:LOW-HIGH" (HAProxy port ranges: one listener per port), or fd@N.
void add_bind_addresses(ProxyDraft& px, const std::string& item, const Location& at) {
    if (item.starts_with("fd@")) {
        px.fe.binds.push_back(fd_bind(item, at));
        return;
    }
    if (item.starts_with("sockpair@"))
        fail(at, "'bind " + item + "': sockets received over a socket pair (a master process's) are not supported: "
                 "hand the listening socket over as a descriptor with fd@N, or let each process bind its address");
    const auto colon = item.rfind(':');
    const auto dash = colon == std::string::npos ? std::string::npos : item.find('-', colon);
    if (dash == std::string::npos) {
        px.fe.binds.push_back(Bind{addr_arg(item, at, "bind"), item, at});
        return;
    }
    const auto lo = parse_integer(item.substr(colon + 1, dash - colon - 1));
    const auto hi = parse_integer(item.substr(dash + 1));
    if (!lo || !hi || *lo < 1 || *hi > 65535 || *lo > *hi)
        fail(at, "'bind': invalid port range " + squote(item.substr(colon + 1)) +
                     " (expects LOW-HIGH within 1..65535)");
    if (*hi - *lo >= 1024)
        fail(at, "'bind': port range " + squote(item.substr(colon + 1)) + " is wider than 1024 ports");
    for (long long p = *lo; p <= *hi; ++p) {
        const std::string one = item.substr(0, colon + 1) + std::to_string(p);
        px.fe.binds.push_back(Bind{addr_arg(one, at, "bind"), one, at});
    }
}

// The TLS words of a bind line; true when `line.words[i]` was one (i moved past its argument).
bool parse_bind_tls_word(const Line& line, std::size_t& i, BindTlsOptions& t) {
    if (parse_shared_tls_word(line, i, t)) return true;
    const std::string& opt = line.words[i];
    if (opt == "crt") {
        t.o.crt.push_back(arg_or_fail(line, ++i, opt, "a certificate file or directory"));
    } else if (opt == "no-ca-names") {
        t.o.no_ca_names = true;
    } else if (opt == "ecdhe") {
        t.o.ecdhe = arg_or_fail(line, ++i, opt, "a named curve, e.g. prime256v1");
    } else if (opt == "ca-verify-file") {
        t.o.ca_verify_file = arg_or_fail(line, ++i, opt, "a PEM file of CA certificates (not named to clients)");
    } else if (opt == "prefer-client-ciphers") {
        t.o.prefer_client_ciphers = true;
    } else if (opt == "no-tls-tickets") {
        t.o.no_tickets = true;
    } else if (opt == "tls-ticket-keys") {
        t.o.ticket_keys = arg_or_fail(line, ++i, opt, "a file of base64 keys, one per line");
    } else if (opt == "crt-list") {
        t.crt_lists.push_back({arg_or_fail(line, ++i, opt, "a file listing certificates"), t.o.crt.size()});
    } else if (opt == "ca-file") {
        t.o.ca_file = arg_or_fail(line, ++i, opt, "a PEM file (or directory) of CA certificates");
    } else if (opt == "crl-file") {
        t.o.crl_file = arg_or_fail(line, ++i, opt, "a PEM file of certificate revocation lists");
    } else if (opt == "verify") {
        t.o.verify = verify_arg(line, i);
    } else if (opt == "ca-ignore-err" || opt == "crt-ignore-err") {
        const auto& a = arg_or_fail(line, ++i, opt, "'all' or a comma-separated list of error IDs");
        std::string error;
        if (!tls::parse_verify_errors(a, opt == "ca-ignore-err" ? t.o.ca_ignore : t.o.crt_ignore, error))
            fail(line.at, squote(opt) + ": " + error);
    } else if (opt == "strict-sni") {
        t.o.strict_sni = true;
    } else if (opt == "ktls") {
        const auto& a = arg_or_fail(line, ++i, opt, "'on' or 'off'");
        if (a != "on" && a != "off") fail(line.at, "'ktls': expects 'on' or 'off', not " + squote(a));
        t.o.ktls = a == "on";
    } else {
        return false;
    }
    return true;
}

void parse_bind(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& list = arg_or_fail(line, 1, "bind", "one or more addresses ADDR:PORT[,ADDR:PORT...]");
    const std::size_t first = px.fe.binds.size();
    std::size_t start = 0;
    while (start <= list.size()) {
        auto comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        const auto item = list.substr(start, comma - start);
        if (item.empty()) fail(line.at, "'bind': empty address in " + squote(list));
        add_bind_addresses(px, item, line.at);
        start = comma + 1;
    }
    int backlog = 0;
    bool v6only = false, v4v6 = false, accept_proxy = false;
    IgnoredWords ignored;
    BindTlsOptions tls;
    tls.where = line.at;
    bool ssl = false, tls_words = false;
    for (std::size_t i = 2; i < line.words.size(); ++i) {
        const auto& opt = line.words[i];
        if (parse_bind_tls_word(line, i, tls)) {
            tls_words = true;
            continue;
        }
        if (opt == "ssl") {
            ssl = true;
            continue;
        }
        if (opt == "npn") fail(line.at, "'bind' option 'npn' is obsolete and not supported: use 'alpn'");
        if (opt == "allow-0rtt") {
            // HAProxy accepts TLS 1.3 early data with it; without early data a client simply sends its
            // request after the handshake, so the line loads and says what it costs
            st.warn(line.at, "'bind' option 'allow-0rtt': 0-RTT early data is not accepted in this version "
                             "(it can be replayed): clients send their first request after the handshake, one "
                             "round trip later");
            tls_words = true;
            continue;
        }
        if (std::find(std::begin(kBindTls), std::end(kBindTls), opt) != std::end(kBindTls))
            fail(line.at, "'bind' option " + squote(opt) + " is not supported yet (TLS binds take 'ssl', 'crt', "
                          "'crt-list', 'alpn', 'ssl-min-ver', 'ssl-max-ver', 'ciphers', 'ciphersuites', 'curves', "
                          "'sigalgs', 'client-sigalgs', 'no-sslv3', 'no-tlsv1x', 'prefer-client-ciphers', "
                          "'no-tls-tickets', 'tls-ticket-keys', 'ca-file', 'ca-verify-file', 'crl-file', 'verify', "
                          "'no-ca-names', 'ecdhe', 'ca-ignore-err', 'crt-ignore-err', 'strict-sni')");
        for (const auto& r : kBindRefused)
            if (r.name == opt)
                fail(line.at, "'bind' option " + squote(opt) + " is not supported: " + std::string(r.why));
        if (opt == "backlog") {
            backlog = static_cast<int>(int_arg(line, ++i, "backlog", 1, kIntMax, "a positive integer"));
        } else if (opt == "accept-proxy") {
            accept_proxy = true;
        } else if (opt == "v6only") {
            v6only = true;
        } else if (opt == "v4v6") {
            v4v6 = true;
        } else if (std::find(std::begin(kBindIgnored1), std::end(kBindIgnored1), opt) !=
                   std::end(kBindIgnored1)) {
            const auto& v = arg_or_fail(line, ++i, opt, "a value");
            ignored.add(opt + " " + v, opt == "thread" || opt == "process" || opt == "shards"
                                           ? "every shard accepts on every bind"
                                           : kWhyInfo);
        } else {
            std::vector<std::string_view> known = {"backlog", "v6only", "v4v6", "accept-proxy"};
            // element-wise: GCC 12 -O2 reports a false -Warray-bounds on range insert here
            for (const auto& k : kBindIgnored1) known.push_back(k);
            for (const auto& k : kBindTlsBuilt) known.push_back(k);
            for (const auto& k : kBindTls) known.push_back(k);
            for (const auto& r : kBindRefused) known.push_back(r.name);
            fail(line.at, "unknown 'bind' option " + squote(opt) + did_you_mean(opt, known));
        }
    }
    if (v6only && v4v6) fail(line.at, "'bind': 'v6only' and 'v4v6' contradict each other");
    if (tls_words && !ssl) fail(line.at, "'bind': TLS options without 'ssl' (add 'ssl' to terminate TLS here)");
    if (ssl && tls.o.crt.empty() && tls.crt_lists.empty())
        fail(line.at, "'bind ... ssl' needs a certificate: add 'crt <file|dir>' or 'crt-list <file>'");
    tls.dir = relative_dir();  // its files are read once every file is parsed: from here (default-path)
    std::shared_ptr<const BindTlsOptions> shared_tls = ssl ? std::make_shared<const BindTlsOptions>(std::move(tls)) : nullptr;
    for (std::size_t i = first; i < px.fe.binds.size(); ++i) {
        auto& b = px.fe.binds[i];
        b.backlog = backlog;
        b.v6only = v6only;
        b.v4v6 = v4v6;
        b.accept_proxy = accept_proxy;
        b.tls = shared_tls;
        if ((v6only || v4v6) && b.addr.family() != AF_INET6)
            st.warn(line.at,
                    squote(v6only ? "v6only" : "v4v6") + " has no effect on IPv4 address " + squote(b.spec));
    }
    ignored.flush(st, line.at);
}

// ---- timeout / option / balance ------------------------------------------------------------------------

struct TimeoutKw {
    std::string_view name;
    unsigned cap;
    Millis Timeouts::*field;
};
constexpr TimeoutKw kTimeouts[] = {
    {"client", kCapFe, &Timeouts::client},
    {"client-fin", kCapFe, &Timeouts::client_fin},
    {"http-request", kCapFe | kCapBe, &Timeouts::http_request},
    {"http-keep-alive", kCapFe | kCapBe, &Timeouts::http_keep_alive},
    {"connect", kCapBe, &Timeouts::connect},
    {"server", kCapBe, &Timeouts::server},
    {"server-fin", kCapBe, &Timeouts::server_fin},
    {"tunnel", kCapBe, &Timeouts::tunnel},
    {"queue", kCapBe, &Timeouts::queue},
    {"check", kCapBe, &Timeouts::check},
};

void parse_timeout(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& which = arg_or_fail(line, 1, "timeout", "a timeout name and a time");
    const std::string kw = "timeout " + which;
    if (which == "tarpit") {
        time_arg(line, 2, kw);
        no_more_args(line, 3, kw);
        st.warn_ignored(line.at, {kw}, "'http-request tarpit' is not supported");
        return;
    }
    const TimeoutKw* t = nullptr;
    for (const auto& e : kTimeouts)
        if (e.name == which) t = &e;
    if (t == nullptr) {
        std::vector<std::string_view> names = {"tarpit"};
        for (const auto& e : kTimeouts) names.push_back(e.name);
        fail(line.at,
             "unknown keyword " + squote(kw) + " in " + squote(px.kind) + " section" +
                 did_you_mean(which, names) +
                 " (supported: client, client-fin, connect, server, server-fin, tunnel, queue, check, "
                 "http-request, http-keep-alive)");
    }
    const Millis v = time_arg(line, 2, kw);
    no_more_args(line, 3, kw);
    if ((px.cap & t->cap) == 0) return warn_capability(st, px, line.at, kw, t->cap);
    // Every half gets the value, as HAProxy copies all timeouts into each proxy; consumers read their side.
    if (has_fe(px)) px.fe.timeouts.*(t->field) = v;
    if (has_be(px)) px.be.timeouts.*(t->field) = v;
}

void parse_option(ParseState& st, ProxyDraft& px, const Line& line, bool negated) {
    const std::string kw = negated ? "no option" : "option";
    const auto& name = arg_or_fail(line, negated ? 2 : 1, kw, "an option name");
    const std::size_t next = negated ? 3 : 2;
    if (name == "redispatch") {
        int interval = -1;
        if (!negated && line.words.size() > next) {
            interval = static_cast<int>(int_arg(line, next, "option redispatch", -kIntMax, kIntMax,
                                                "an integer (0 disables, -N, N)"));
        }
        no_more_args(line, negated ? next : next + 1, kw + " redispatch");
        if (!has_be(px)) return warn_capability(st, px, line.at, kw + " redispatch", kCapBe);
        px.be.redispatch = !negated && interval != 0;
        px.be.redispatch_interval = interval == 0 ? -1 : interval;
        return;
    }
    if (name == "persist") {
        no_more_args(line, next, kw + " persist");
        if (!has_be(px)) return warn_capability(st, px, line.at, kw + " persist", kCapBe);
        px.be.persist = !negated;
        return;
    }
    if (http_option(st, px, line, name, negated) || log_option(st, px, line, name, negated) ||
        check_option(st, px, line, name, negated))
        return;
    if (const auto* e = find_entry(name, kOptionIgnored)) {
        st.warn_ignored(line.at, {kw + " " + name}, e->why);
        return;
    }
    if (const auto* e = find_entry(name, kOptionRefused))
        fail(line.at, squote("option " + name) + " is not supported: " + std::string(e->why));
    // options HAProxy removed (its messages in cfgparse-listen.c name the release)
    if (name == "forceclose")
        fail(line.at, "'option forceclose' was removed in HAProxy 2.0 and is not supported: remove it, or use "
                      "'option httpclose' if the server must see each connection closed");
    if (name == "http-tunnel")
        fail(line.at, "'option http-tunnel' was removed in HAProxy 2.1 and is not supported: remove it (requests are "
                      "parsed one by one on a kept-alive connection, and upgrades are tunnelled)");
    if (name == "http-use-htx")
        fail(line.at, "'option http-use-htx' was removed in HAProxy 2.1 and is not supported: remove it");
    std::vector<std::string_view> names = {"redispatch", "persist", "forwardfor",  "httpclose",  "http-server-close",
                                           "http-keep-alive", "httplog", "tcplog", "dontlognull", "httpchk",
                                           "allbackups", "log-health-checks", "tcp-check", "redis-check", "smtpchk"};
    add_names(names, kOptionIgnored);
    add_names(names, kOptionRefused);
    fail(line.at, "unknown option " + squote(name) + " in " + squote(px.kind) + " section" +
                      did_you_mean(name, names));
}

// ---- dispatch ------------------------------------------------------------------------------------------

void kw_mode(ParseState&, ProxyDraft& px, const Line& line) {
    const auto& m = arg_or_fail(line, 1, "mode", "tcp or http");
    Mode mode = Mode::Tcp;
    if (m == "tcp")
        mode = Mode::Tcp;
    else if (m == "http")
        mode = Mode::Http;
    else if (m == "health")
        fail(line.at, "'mode health' was removed from HAProxy; it is not supported");
    else
        fail(line.at, "'mode' expects tcp or http, got " + squote(m));
    no_more_args(line, 2, "mode");
    px.fe.mode = mode;
    px.be.mode = mode;
}

void kw_default_backend(ParseState&, ProxyDraft& px, const Line& line) {
    const auto& name = arg_or_fail(line, 1, "default_backend", "a backend name");
    if (name.find("%[") != std::string::npos)
        fail(line.at, "dynamic backend names need the HTTP/ACL room: 'default_backend' takes a plain name");
    no_more_args(line, 2, "default_backend");
    px.fe.default_backend = name;
    px.fe.default_backend_where = line.at;
    if (!is_defaults(px)) px.default_backend_explicit = true;
}

void kw_use_backend(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& name = arg_or_fail(line, 1, "use_backend", "a backend name");
    const bool dynamic = name.find("%[") != std::string::npos;
    if (dynamic) check_log_format(line, name, FmtUse::Request, "'use_backend'");
    const std::size_t cond = condition_start(line, 2);
    if (cond > 2)
        fail(line.at,
             "unexpected argument " + squote(line.words[2]) + " after " + squote("use_backend " + name));
    UseBackendRule rule;
    rule.backend = name;
    rule.dynamic = dynamic;
    rule.where = line.at;
    if (cond < line.words.size()) rule.cond = parse_condition(st, px, line, cond);
    if (!rule.cond.present && !dynamic) px.fe.use_backends.push_back(UseBackend{name, 0, line.at});
    px.fe.use_backend_rules.push_back(std::move(rule));
}

void kw_maxconn(ParseState&, ProxyDraft& px, const Line& line) {
    px.fe.maxconn = static_cast<int>(int_arg(line, 1, "maxconn", 1, kIntMax, "a positive integer"));
    no_more_args(line, 2, "maxconn");
}

void kw_backlog(ParseState&, ProxyDraft& px, const Line& line) {
    px.backlog = static_cast<int>(int_arg(line, 1, "backlog", 1, kIntMax, "a positive integer"));
    no_more_args(line, 2, "backlog");
}

void kw_retries(ParseState&, ProxyDraft& px, const Line& line) {
    px.be.retries = static_cast<int>(int_arg(line, 1, "retries", 0, kIntMax, "a non-negative integer"));
    no_more_args(line, 2, "retries");
}

void kw_http_reuse(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& mode = arg_or_fail(line, 1, "http-reuse", "never, safe, aggressive or always");
    HttpReuse r = HttpReuse::Safe;
    if (mode == "never")
        r = HttpReuse::Never;
    else if (mode == "safe")
        r = HttpReuse::Safe;
    else if (mode == "aggressive")
        r = HttpReuse::Aggressive;
    else if (mode == "always")
        r = HttpReuse::Always;
    else
        fail(line.at, "'http-reuse' expects never, safe, aggressive or always, got " + squote(mode) +
                          did_you_mean(mode, {"never", "safe", "aggressive", "always"}));
    no_more_args(line, 2, "http-reuse");
    if (!has_be(px)) return warn_capability(st, px, line.at, "http-reuse", kCapBe);
    px.be.http_reuse = r;
}

void kw_retry_on(ParseState& st, ProxyDraft& px, const Line& line) {
    static const std::vector<std::string_view> kTokens = {"none",
                                                          "conn-failure",
                                                          "empty-response",
                                                          "junk-response",
                                                          "response-timeout",
                                                          "0rtt-rejected",
                                                          "404",
                                                          "408",
                                                          "425",
                                                          "500",
                                                          "501",
                                                          "502",
                                                          "503",
                                                          "504",
                                                          "all-retryable-errors"};
    arg_or_fail(line, 1, "retry-on",
                "one or more of conn-failure, empty-response, junk-response, "
                "response-timeout, 0rtt-rejected, 404, 408, 425, 500-504, "
                "all-retryable-errors, none");
    std::vector<std::string> tokens;
    for (std::size_t i = 1; i < line.words.size(); ++i) {
        // HAProxy's token is conn-failure; earlier edgeshard versions wrote connect-failure
        const std::string t = line.words[i] == "connect-failure" ? "conn-failure" : line.words[i];
        if (std::find(kTokens.begin(), kTokens.end(), t) == kTokens.end())
            fail(line.at,
                 "'retry-on': unknown keyword " + squote(t) + did_you_mean(t, kTokens) +
                     " (conn-failure, empty-response, junk-response, response-timeout, 0rtt-rejected, "
                     "404, 408, 425, 500, 501, 502, 503, 504, all-retryable-errors, none)");
        if (std::find(tokens.begin(), tokens.end(), t) == tokens.end()) tokens.push_back(t);
    }
    if (tokens.size() > 1 && std::find(tokens.begin(), tokens.end(), "none") != tokens.end())
        fail(line.at, "'retry-on none' cannot be combined with other keywords");
    if (!has_be(px)) return warn_capability(st, px, line.at, "retry-on", kCapBe);
    px.be.retry_on = std::move(tokens);
}

void kw_bind(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_bind(st, px, line);
}
void kw_server(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_server(st, px, line);
}
void kw_server_template(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_server_template(st, px, line);
}
void kw_default_server(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_server_options(st, line, 1, px.default_server);
}
void kw_timeout(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_timeout(st, px, line);
}
void kw_option(ParseState& st, ProxyDraft& px, const Line& line) {
    parse_option(st, px, line, false);
}
void kw_enabled(ParseState&, ProxyDraft&, const Line& line) {
    no_more_args(line, 1, "enabled");
}

namespace {
TcpRule parse_tcp_action(ParseState& st, ProxyDraft& px, const Line& line, const std::string& kw, const std::string& sub,
                         bool response);
void add_tcp_rule(ParseState& st, const Line& line, const std::string& kw, std::vector<TcpRule>* (&lists)[2],
                  const TcpRule& rule);
}  // namespace

// tcp-request inspect-delay <time> | connection|session|content <action> [if|unless <cond>].
// HAProxy 2.6's other actions are refused by name: a rule that silently did nothing would let through
// what it was written to stop. Rules are kept on the frontend half, a backend's content rules on its
// own; what needs the mode (rules in a mode http proxy, payload fetches at accept) is checked when the
// section ends (acl.cpp check_tcp_rules), since 'mode' may come after them.
void kw_tcp_request(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::string& sub = arg_or_fail(line, 1, "tcp-request", "'inspect-delay', 'connection' or 'content'");
    if (sub == "inspect-delay") {
        const Millis v = time_arg(line, 2, "tcp-request inspect-delay");
        no_more_args(line, 3, "tcp-request inspect-delay");
        if (is_defaults(px) && px.name.empty())
            fail(line.at, "'tcp-request inspect-delay' is not allowed in an anonymous 'defaults' section (as in "
                          "HAProxy: name the section and use 'from <name>')");
        if (px.req_delay_set) {  // HAProxy keeps the first
            st.warn(line.at, "ignoring tcp-request inspect-delay (was already defined) in " + px.kind + " " + squote(px.name));
            return;
        }
        px.req_delay_set = true;
        if (has_fe(px)) px.fe.inspect_delay = v;
        if (has_be(px)) px.be.inspect_delay = v;
        return;
    }
    if (sub != "connection" && sub != "content" && sub != "session")
        fail(line.at, "'tcp-request' expects 'inspect-delay', 'connection' or 'content', got " + squote(sub) +
                          did_you_mean(sub, {"inspect-delay", "connection", "content", "session"}));
    const std::string kw = "tcp-request " + sub;
    if (is_defaults(px) && px.name.empty())  // HAProxy's message
        fail(line.at, kw + " is not allowed in anonymous 'defaults' sections");
    if (!has_fe(px) && sub != "content")
        fail(line.at, kw + " is not allowed because " + px.kind + " " + px.name + " is not a frontend (it runs when a "
                                                                            "frontend accepts a connection)");
    TcpRule rule = parse_tcp_action(st, px, line, kw, sub, false);
    // a frontend's (or listen's) rules on its half, a backend's content rules on its own; a defaults
    // section's on both, for the proxies it lends them to
    std::vector<TcpRule>* lists[2] = {nullptr, nullptr};
    if (has_fe(px))
        lists[0] = sub == "connection" ? &px.fe.tcp_conn_rules
                   : sub == "session"  ? &px.fe.tcp_sess_rules
                                       : &px.fe.tcp_content_rules;
    if (sub == "content" && (!has_fe(px) || is_defaults(px))) lists[1] = &px.be.tcp_content_rules;
    add_tcp_rule(st, line, kw, lists, rule);
}

// tcp-response inspect-delay <time> | content accept|reject|close|set-var|unset-var|sc-* [if|unless <cond>]: in
// backends, listens and named defaults (HAProxy's limits and messages).
void kw_tcp_response(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::string in = " in " + px.kind + " " + squote(px.name);
    if (line.words.size() < 2) fail(line.at, "missing argument for 'tcp-response'" + in);
    const std::string& sub = line.words[1];
    if (sub != "inspect-delay" && sub != "content")
        fail(line.at, "'tcp-response' expects 'inspect-delay' or 'content'" + in + " (got " + squote(sub) + ")");
    if ((is_defaults(px) && px.name.empty()) || (!is_defaults(px) && !has_be(px)))
        fail(line.at, "tcp-response " + sub + " is only allowed in 'backend' sections or 'defaults' section with a name");
    if (sub == "inspect-delay") {
        Millis v = 0;
        const std::string what = "'tcp-response inspect-delay' expects a positive delay in milliseconds," + in;
        if (line.words.size() < 3) fail(line.at, what);
        const TimeStatus ts = parse_time_status(line.words[2], v);
        if (ts != TimeStatus::Ok) {
            const std::string& w = line.words[2];
            const std::size_t bad = w.find_first_not_of("0123456789");
            fail(line.at, what + (bad != std::string::npos ? " (unexpected character " + squote(w.substr(bad, 1)) + ")" : ""));
        }
        no_more_args(line, 3, "tcp-response inspect-delay");
        if (px.rsp_delay_set) {
            st.warn(line.at, "ignoring tcp-response inspect-delay (was already defined)" + in);
            return;
        }
        px.rsp_delay_set = true;
        px.be.rsp_inspect_delay = v;
        return;
    }
    TcpRule rule = parse_tcp_action(st, px, line, "tcp-response content", "response", true);
    std::vector<TcpRule>* lists[2] = {&px.be.tcp_rsp_rules, nullptr};
    add_tcp_rule(st, line, "tcp-response content", lists, rule);
}

namespace {

// The action of a tcp-request/-response rule at words[2] and its condition. `sub`: connection, session,
// content, or "response".
TcpRule parse_tcp_action(ParseState& st, ProxyDraft& px, const Line& line, const std::string& kw, const std::string& sub,
                         bool response) {
    const std::string in = " in " + px.kind + " " + squote(px.name);
    if (response && line.words.size() < 3)
        fail(line.at, "'tcp-response content' expects 'accept', 'close', 'reject', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', "
                      "'sc-set-gpt0(*)', 'set-var(*)', 'set-var-fmt(*)', 'unset-var(*)'" + in + " (got '').");
    const std::string& act = arg_or_fail(line, 2, kw, "an action: accept or reject");
    TcpRule rule;
    rule.where = line.at;
    std::size_t line_off = 3;  // where `if`/`unless` may start
    if (response) {
        static const std::vector<std::string_view> kRsp = {"accept", "close", "reject", "sc-inc-gpc0", "sc-inc-gpc1",
                                                           "sc-set-gpt0", "set-var", "set-var-fmt", "unset-var"};
        const std::string base = act.substr(0, act.find('('));
        if (std::find(kRsp.begin(), kRsp.end(), base) == kRsp.end() || ((base.starts_with("set-var") || base == "unset-var" ||
                                                                          base.starts_with("sc-")) && base == act))
            fail(line.at, "'tcp-response content' expects 'accept', 'close', 'reject', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', "
                          "'sc-set-gpt0(*)', 'set-var(*)', 'set-var-fmt(*)', 'unset-var(*)'" + in + " (got " + squote(act) +
                          ")." + (closest(act, kRsp).empty() ? std::string() : " Did you mean " + squote(closest(act, kRsp)) + " maybe ?"));
        if (act == "close") rule.action = TcpAction::Close;
    }
    if (act == "close" && response) {
        // set above
    } else if (act == "accept") {
        rule.action = TcpAction::Accept;
    } else if (act == "reject") {
        rule.action = TcpAction::Reject;
    } else if (act == "expect-proxy") {
        if (sub != "connection")
            fail(line.at, "'expect-proxy' is a 'tcp-request connection' action: the PROXY header comes before "
                          "any content");
        const std::string& l4 = arg_or_fail(line, 3, "expect-proxy", "'layer4'");
        if (l4 != "layer4") fail(line.at, "'expect-proxy' expects 'layer4', got " + squote(l4));
        rule.action = TcpAction::ExpectProxy;
        line_off = 4;
    } else if (act.rfind("set-var(", 0) == 0 || act.rfind("unset-var(", 0) == 0 || act.rfind("set-var-fmt(", 0) == 0) {
        if (sub == "connection")
            fail(line.at, squote(kw + " " + act) + ": variables are not kept before the session starts in this "
                                                    "version: use 'tcp-request session " + act + "'");
        bool unset = false;
        line_off = parse_var_action(st, line, 2, condition_start(line, 3), kw, rule.var, unset, false);
        rule.action = unset ? TcpAction::UnsetVar : TcpAction::SetVar;
    } else if (act.rfind("track-sc", 0) == 0) {
        rule.action = TcpAction::TrackSc;
        line_off = parse_track(line, 2, condition_start(line, 3), kw, rule.track);
    } else if (act.rfind("sc-inc-gpc", 0) == 0 || act.rfind("sc-set-gpt", 0) == 0) {
        bool is_set = false;
        int which = 0;
        line_off = parse_sc_action(line, 2, condition_start(line, 3), kw, rule.track, which, rule.value, is_set,
                                   kw.starts_with("tcp-response"));
        rule.action = is_set ? TcpAction::ScSetGpt0 : TcpAction::ScIncGpc;
        if (!is_set) rule.value = which;
    } else {
        static const std::vector<std::string_view> kKnown = {
            "accept", "reject", "expect-proxy", "expect-netscaler-cip", "track-sc0", "track-sc1", "track-sc2",
            "sc-inc-gpc0", "sc-inc-gpc1", "sc-set-gpt0", "set-var", "unset-var", "silent-drop", "capture",
            "set-src", "set-dst", "set-mark", "set-tos", "do-resolve", "send-spoe-group", "switch-mode",
            "use-service", "set-priority-class", "set-log-level", "set-nice", "set-src-port", "set-dst-port"};
        constexpr const char* kSupported =
            " (supported: accept, reject, expect-proxy, track-sc0..2, sc-inc-gpc0, sc-inc-gpc1, sc-set-gpt0)";
        if (std::find(kKnown.begin(), kKnown.end(), act) != kKnown.end() || act.rfind("set-var", 0) == 0 ||
            act.rfind("lua.", 0) == 0 || act.rfind("sc-", 0) == 0)
            fail(line.at, "action " + squote(act) + " of " + squote(kw) + " is not supported in this version" +
                              kSupported);
        fail(line.at, "unknown action " + squote(act) + " for " + squote(kw) + did_you_mean(act, kKnown) + kSupported);
    }
    if (line.words.size() > line_off) {
        const std::string& w = line.words[line_off];
        if (w != "if" && w != "unless") {
            if (response)
                fail(line.at, squote(kw + " " + act) + " only accepts 'if' or 'unless'," + in + " (got " + squote(w) + ")");
            fail(line.at, "unexpected " + squote(w) + " after " + squote(kw + " " + act) +
                              " (expected 'if' or 'unless' and a condition)");
        }
        rule.cond = parse_condition(st, px, line, line_off);
    }
    return rule;
}

void add_tcp_rule(ParseState& st, const Line& line, const std::string& kw, std::vector<TcpRule>* (&lists)[2],
                  const TcpRule& rule) {
    const auto final_action = [](TcpAction a) { return a == TcpAction::Accept || a == TcpAction::Reject || a == TcpAction::Close; };
    const std::vector<TcpRule>& seen = lists[0] ? *lists[0] : *lists[1];
    if (!seen.empty() && !seen.back().cond.present && final_action(seen.back().action))
        st.warn(line.at, "this " + squote(kw) + " rule is never reached: the unconditional rule at " +
                             where_text(seen.back().where) + " decides first");
    for (auto* rules : lists)
        if (rules) rules->push_back(rule);
}

}  // namespace

struct Keyword {
    std::string_view name;
    unsigned caps;  // kCapFe / kCapBe: the side it configures; kCapDefaults: allowed in defaults
    bool strict;    // on a proxy without that side: error (true) or HAProxy's warning (false)
    void (*fn)(ParseState&, ProxyDraft&, const Line&);
};
constexpr unsigned kAll = kCapFe | kCapBe | kCapDefaults;
// `id N`: HAProxy's proxy id, the one the stats and the CLI give (config::assign_proxy_ids numbers the others).
void kw_id(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto id = static_cast<std::uint32_t>(int_arg(line, 1, "id", 1, kIntMax, "a positive integer"));
    no_more_args(line, 2, "id");
    for (const ProxyDraft& o : st.proxies)
        if (&o != &px && o.uuid == id)
            fail(line.at, px.kind + " " + squote(px.name) + " reuses the same custom ID " + std::to_string(id) +
                              " as " + o.kind + " " + squote(o.name) + " (declared at " + where_text(o.where) + ")");
    px.uuid = id;
}

constexpr Keyword kProxyKeywords[] = {
    {"id", kCapFe | kCapBe, false, kw_id},
    {"mode", kAll, false, kw_mode},
    {"timeout", kAll, false, kw_timeout},
    {"option", kAll, false, kw_option},
    {"bind", kCapFe, true, kw_bind},
    {"default_backend", kCapFe | kCapDefaults, true, kw_default_backend},
    {"use_backend", kCapFe, true, kw_use_backend},
    {"maxconn", kCapFe | kCapDefaults, false, kw_maxconn},
    {"backlog", kCapFe | kCapDefaults, false, kw_backlog},
    {"tcp-request", kCapFe | kCapBe | kCapDefaults, false, kw_tcp_request},
    {"tcp-response", kCapFe | kCapBe | kCapDefaults, false, kw_tcp_response},
    {"server", kCapBe, true, kw_server},
    {"server-template", kCapBe, true, kw_server_template},
    {"default-server", kCapBe | kCapDefaults, true, kw_default_server},
    {"balance", kCapBe | kCapDefaults, false, kw_balance},
    {"cookie", kCapBe | kCapDefaults, false, kw_cookie},
    {"retries", kCapBe | kCapDefaults, false, kw_retries},
    {"hash-type", kCapBe | kCapDefaults, false, kw_hash_type},
    {"http-reuse", kCapBe | kCapDefaults, false, kw_http_reuse},
    {"retry-on", kCapBe | kCapDefaults, false, kw_retry_on},
    {"http-check", kCapBe | kCapDefaults, false, kw_http_check},
    {"tcp-check", kCapBe | kCapDefaults, false, kw_tcp_check},
    {"enabled", kAll, false, kw_enabled},
    // HTTP (http_keywords.hpp)
    {"acl", kAll, true, kw_acl},
    {"http-request", kAll, true, kw_http_request},
    {"http-response", kAll, true, kw_http_response},
    {"http-after-response", kAll, true, kw_http_after_response},
    {"unique-id-format", kAll, false, kw_unique_id_format},
    {"unique-id-header", kAll, false, kw_unique_id_header},
    {"redirect", kCapFe | kCapBe, true, kw_redirect},
    {"errorfile", kAll, true, kw_errorfile},
    {"errorfiles", kAll, true, kw_errorfiles},
    {"errorloc", kAll, true, kw_errorloc},
    {"errorloc302", kAll, true, kw_errorloc},
    {"errorloc303", kAll, true, kw_errorloc},
    {"http-error", kAll, true, kw_http_error},
    {"log", kAll, true, kw_log},
    {"log-format", kCapFe | kCapDefaults, false, kw_log_format},
    {"log-tag", kCapFe | kCapBe | kCapDefaults, false, kw_log_tag},
    {"stats", kAll, true, kw_stats},
    {"monitor-uri", kCapFe | kCapDefaults, false, kw_monitor_uri},
    {"monitor", kCapFe, false, kw_monitor},
    {"stick-table", kCapFe | kCapBe, true, kw_stick_table},
    {"stick", kCapBe, true, kw_stick},
    {"capture", kAll, false, kw_capture},
    {"declare", kAll, false, kw_declare},
};

std::vector<std::string_view> proxy_keyword_names() {
    std::vector<std::string_view> v;
    for (const auto& k : kProxyKeywords) v.push_back(k.name);
    add_names(v, kProxyIgnored);
    add_names(v, kProxyRefused);
    v.push_back("no");
    return v;
}

}  // namespace

ProxyDraft builtin_defaults() {
    ProxyDraft d;
    d.cap = kCapFe | kCapBe | kCapDefaults;
    d.kind = "defaults";
    return d;
}

void parse_proxy_line(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& kw = line.words[0];
    if (kw == "no") {
        const std::string what = line.words.size() > 1 ? line.words[1] : "";
        if (what == "option") return parse_option(st, px, line, true);
        if (what == "log") return kw_no_log(st, px, line);
        fail(line.at, "'no' must be followed by 'option' or 'log' in " + squote(px.kind) + " section");
    }
    for (const auto& k : kProxyKeywords) {
        if (k.name != kw) continue;
        if (is_defaults(px)) {
            if ((k.caps & kCapDefaults) == 0)
                fail(line.at, squote(kw) + " is not allowed in 'defaults' section");
        } else if ((px.cap & k.caps & (kCapFe | kCapBe)) == 0) {
            if (k.strict) fail(line.at, squote(kw) + " is not allowed in " + squote(px.kind) + " section");
            return warn_capability(st, px, line.at, kw, k.caps);
        }
        return k.fn(st, px, line);
    }
    if (const auto* e = find_entry(kw, kProxyIgnored)) return st.warn_ignored(line.at, {kw}, e->why);
    if (const auto* e = find_entry(kw, kProxyRefused))
        fail(line.at, squote(kw) + " is not supported: " + std::string(e->why));
    for (const Removed& r : kProxyRemoved)
        if (r.name == kw)
            fail(line.at, squote(kw) + " was removed in HAProxy " + std::string(r.since) + " and is not supported: " +
                              std::string(r.instead));
    fail(line.at, "unknown keyword " + squote(kw) + " in " + squote(px.kind) + " section" +
                      did_you_mean(kw, proxy_keyword_names()));
}

void finish_proxy(ParseState& st, ProxyDraft& px) {
    finish_proxy_http(st, px);
    if (has_be(px)) finish_balance(st, px);
    if (has_fe(px) && px.fe.binds.empty()) {
        // HAProxy loads it and serves nothing with it (its id is still taken: assign_proxy_ids)
        if (px.kind == "frontend")
            st.warn(px.where, "frontend " + squote(px.name) +
                                  " has no 'bind' directive: it serves nothing (declare it as a backend if this was "
                                  "intended)");
        else
            st.warn(px.where, "listen " + squote(px.name) + " has no 'bind' line: only its backend part is used");
    }
    for (auto& b : px.fe.binds)
        if (b.backlog == 0) b.backlog = px.backlog;
    if (px.kind == "listen" && !px.default_backend_explicit) {
        // A listen section is a frontend whose default backend is itself.
        px.fe.default_backend = px.name;
        px.fe.default_backend_where = px.where;
    }
    std::vector<std::string> missing;
    if (has_fe(px) && !px.fe.binds.empty() && px.fe.timeouts.client <= 0) missing.push_back("client");
    if (has_be(px) && px.be.timeouts.connect <= 0) missing.push_back("connect");
    if (has_be(px) && px.be.timeouts.server <= 0) missing.push_back("server");
    if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) list += (list.empty() ? "" : ", ") + squote("timeout " + m);
        st.warn(px.where,
                "missing timeouts for " + px.kind + " " + squote(px.name) + ": " + list +
                    " (unset means edgeshard's built-in default, 0 means never; set them explicitly)");
    }
    if (has_be(px)) check_balance(px);
}

}  // namespace es::config::detail
