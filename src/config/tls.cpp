// TLS in the configuration: the global defaults (crt-base, ssl-default-bind-*) and the check of
// every TLS bind, whose certificates are loaded here once so that `-c` reports a bad file, key or
// option at the bind's line. The shards load their own copies at start (tls/README.md).
#include <map>
#include <sstream>

#include "edgeshard/tls/context.hpp"
#include "edgeshard/tls/ktls.hpp"
#include "edgeshard/tls/upstream.hpp"
#include "internal.hpp"
#include "sections.hpp"

namespace es::config::detail {

namespace {

std::string resolve(const std::string& base, const std::string& path) {
    if (base.empty() || path.empty() || path[0] == '/') return path;
    return base + (base.back() == '/' ? "" : "/") + path;
}

bool verify_word(std::string_view w, tls::Verify& out) {
    if (w == "none") out = tls::Verify::None;
    else if (w == "optional") out = tls::Verify::Optional;
    else if (w == "required") out = tls::Verify::Required;
    else return false;
    return true;
}

// crt-list options this version does not build: refused by name (HAProxy accepts them per line).
constexpr std::string_view kCrtListRefused[] = {"no-alpn", "npn", "crt", "key", "ocsp", "issuer",
                                                "sctl", "ocsp-update"};

// One crt-list file (HAProxy's format): `<crtfile> [[<options>...]] [[!]<filter>...]` per line,
// '#' comments and blank lines skipped. Certificate paths are relative to crt-base, ca-file and
// crl-file to ca-base. Errors name the config line and the list's line.
void read_crt_list(ParseState& st, const Location& at, const std::string& path, std::size_t after_crt,
                   std::vector<tls::CertLine>& out) {
    const Global& g = st.cfg.global;
    std::istringstream in(read_whole(path, at, "crt-list"));
    std::string text;
    int n = 0;
    std::size_t before = out.size();
    while (std::getline(in, text)) {
        ++n;
        if (!text.empty() && text.back() == '\r') text.pop_back();
        const std::string where = path + ":" + std::to_string(n);
        auto bad = [&](const std::string& why) { fail(at, "crt-list " + squote(path) + " line " + std::to_string(n) + ": " + why); };
        std::vector<std::string> words;
        std::istringstream ws(text);
        for (std::string w; ws >> w;) words.push_back(w);
        if (words.empty() || words[0][0] == '#') continue;
        tls::CertLine l;
        l.where = where;
        l.after_crt = after_crt;
        l.path = in_relative_dir(resolve(g.crt_base, words[0]));
        std::size_t i = 1;
        if (i < words.size() && words[i].front() == '[') {
            // the options: from '[' to the word that ends with ']', brackets stripped
            std::vector<std::string> opts;
            bool closed = false;
            for (; i < words.size() && !closed; ++i) {
                std::string w = words[i];
                if (w.front() == '[' && opts.empty() && i == 1) w.erase(0, 1);
                if (!w.empty() && w.back() == ']') {
                    w.pop_back();
                    closed = true;
                }
                if (!w.empty()) opts.push_back(w);
            }
            if (!closed) bad("missing ']' after the options");
            for (std::size_t k = 0; k < opts.size(); ++k) {
                const std::string& o = opts[k];
                auto arg = [&]() -> const std::string& {
                    if (k + 1 >= opts.size()) bad(squote(o) + " expects an argument");
                    return opts[++k];
                };
                if (o == "alpn") {
                    const std::string& a = arg();
                    if (!tls::split_alpn(a, l.alpn)) bad("'alpn': empty protocol name in " + squote(a));
                    l.alpn_set = true;
                } else if (o == "ciphers") {
                    l.ciphers = arg();
                } else if (o == "ciphersuites") {
                    l.ciphersuites = arg();
                } else if (o == "curves") {
                    l.curves = arg();
                } else if (o == "sigalgs") {
                    l.sigalgs = arg();
                } else if (o == "client-sigalgs") {
                    l.client_sigalgs = arg();
                } else if (o == "no-ca-names") {
                    l.no_ca_names = true;
                } else if (o == "ecdhe") {
                    l.ecdhe = arg();
                } else if (o == "ca-verify-file") {
                    l.ca_verify_file = resolve(g.ca_base, arg());
                } else if (o == "ssl-min-ver" || o == "ssl-max-ver") {
                    const std::string& a = arg();
                    tls::Version v{};
                    if (!tls::parse_version(a, v))
                        bad(squote(o) + ": unknown version " + squote(a) + " (SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3)");
                    (o == "ssl-min-ver" ? l.min_ver : l.max_ver) = v;
                    (o == "ssl-min-ver" ? l.min_set : l.max_set) = true;
                } else if (o == "verify") {
                    const std::string& a = arg();
                    if (!verify_word(a, l.verify)) bad("'verify' expects none, optional or required, got " + squote(a));
                    l.verify_set = true;
                } else if (o == "ca-file") {
                    l.ca_file = in_relative_dir(resolve(g.ca_base, arg()));
                } else if (o == "crl-file") {
                    l.crl_file = in_relative_dir(resolve(g.ca_base, arg()));
                } else if (o == "allow-0rtt") {  // as on a bind line: loads, early data is not accepted
                    st.warn(at, "crt-list " + squote(path) + " line " + std::to_string(n) +
                                    ": 'allow-0rtt': 0-RTT early data is not accepted in this version (it can be "
                                    "replayed): clients send their first request after the handshake");
                } else if (std::find(std::begin(kCrtListRefused), std::end(kCrtListRefused), o) !=
                           std::end(kCrtListRefused)) {
                    bad("option " + squote(o) + " is not supported in a crt-list yet (supported: alpn, ciphers, "
                        "ciphersuites, curves, ecdhe, sigalgs, client-sigalgs, ssl-min-ver, ssl-max-ver, verify, "
                        "ca-file, ca-verify-file, crl-file, no-ca-names)");
                } else {
                    bad("unknown option " + squote(o) + " (a crt-list line takes alpn, ciphers, ciphersuites, "
                        "curves, ecdhe, sigalgs, client-sigalgs, ssl-min-ver, ssl-max-ver, verify, ca-file, "
                        "ca-verify-file, crl-file, no-ca-names; bind-only options such as no-tls-tickets go on the "
                        "bind line)");
                }
            }
        }
        bool wildcard = false, negative = false;
        for (; i < words.size(); ++i) {
            std::string f = lower(words[i]);
            if (f.front() == '[') bad("options must come right after the certificate, before the filters");
            if (f.starts_with('!')) negative = true;
            else if (f.starts_with("*.")) wildcard = true;
            else if (f.find('*') != std::string::npos && f != "*")
                bad("filter " + squote(words[i]) + ": a wildcard is '*.' followed by a domain, or '*' alone");
            l.filters.push_back(std::move(f));
        }
        if (negative && !wildcard)
            st.warn(at, "crt-list " + squote(path) + " line " + std::to_string(n) +
                            ": a negative filter without a wildcard on the same line has no effect");
        out.push_back(std::move(l));
    }
    if (out.size() == before) fail(at, "crt-list " + squote(path) + " lists no certificate");
}

}  // namespace

tls::Verify verify_arg(const Line& line, std::size_t& i) {
    const std::string& opt = line.words[i];
    const auto& a = arg_or_fail(line, ++i, opt, "none, optional or required");
    tls::Verify v{};
    if (!verify_word(a, v)) fail(line.at, squote(opt) + " expects none, optional or required, got " + squote(a));
    return v;
}

tls::Version version_arg(const Line& line, std::size_t& i) {
    const std::string& opt = line.words[i];
    const auto& a = arg_or_fail(line, ++i, opt, "a version: SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3");
    tls::Version v{};
    if (!tls::parse_version(a, v))
        fail(line.at, squote(opt) + ": unknown version " + squote(a) + " (SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3)");
    return v;
}

std::vector<std::string> alpn_arg(const Line& line, std::size_t& i) {
    const std::string& a = arg_or_fail(line, ++i, "alpn", "a comma-separated protocol list, e.g. http/1.1");
    std::vector<std::string> out;
    if (!tls::split_alpn(a, out)) fail(line.at, "'alpn': empty protocol name in " + squote(a));
    return out;
}

bool parse_global_tls(ParseState& st, const Line& line) {
    const auto& kw = line.words[0];
    auto& g = st.cfg.global;
    // the keywords that take one word
    const struct {
        std::string_view kw;
        std::string* dst;
        const char* what;
    } kOneWord[] = {
        {"crt-base", &g.crt_base, "a directory"},
        {"ca-base", &g.ca_base, "a directory"},
        {"ssl-default-bind-ciphers", &g.ssl_bind.ciphers, "an OpenSSL cipher list"},
        {"ssl-default-bind-ciphersuites", &g.ssl_bind.ciphersuites, "a TLS 1.3 cipher suite list"},
        {"ssl-default-bind-sigalgs", &g.ssl_bind.sigalgs, "a colon-separated list of signature algorithms"},
        {"ssl-default-bind-client-sigalgs", &g.ssl_bind.client_sigalgs, "a colon-separated list of signature algorithms"},
        {"ssl-default-server-sigalgs", &g.ssl_server.sigalgs, "a colon-separated list of signature algorithms"},
        {"ssl-default-server-client-sigalgs", &g.ssl_server.client_sigalgs, "a colon-separated list of signature algorithms"},
        {"ssl-default-bind-curves", &g.ssl_bind.curves, "a colon-separated list of groups"},
        {"ssl-default-server-ciphers", &g.ssl_server.ciphers, "an OpenSSL cipher list"},
        {"ssl-default-server-ciphersuites", &g.ssl_server.ciphersuites, "a TLS 1.3 cipher suite list"},
        {"ssl-default-server-curves", &g.ssl_server.curves, "a colon-separated list of groups"},
    };
    for (const auto& e : kOneWord) {
        if (kw != e.kw) continue;
        *e.dst = arg_or_fail(line, 1, kw, e.what);
        no_more_args(line, 2, kw);
        return true;
    }
    if (kw == "ssl-default-bind-options") {
        arg_or_fail(line, 1, kw, "one or more options (ssl-min-ver, ssl-max-ver, no-tlsv1x, ...)");
        for (std::size_t i = 1; i < line.words.size(); ++i) {
            const auto& w = line.words[i];
            if (parse_version_word(line, i, g.ssl_bind)) {
                g.ssl_bind_versions = true;
            } else if (w == "prefer-client-ciphers") {
                g.ssl_bind.prefer_client_ciphers = true;
            } else if (w == "no-tls-tickets") {
                g.ssl_bind.no_tickets = true;
            } else if (w == "strict-sni") {
                g.ssl_bind.strict_sni = true;
            } else {
                fail(line.at, "'ssl-default-bind-options': option " + squote(w) +
                                  " is not supported (ssl-min-ver, ssl-max-ver, no-sslv3, no-tlsv10..no-tlsv13, "
                                  "force-sslv3, force-tlsv10..force-tlsv13, prefer-client-ciphers, no-tls-tickets, "
                                  "strict-sni)");
            }
        }
    } else if (kw == "ssl-server-verify") {
        const auto& v = arg_or_fail(line, 1, kw, "'none' or 'required'");
        if (v != "none" && v != "required") fail(line.at, "'ssl-server-verify' expects 'none' or 'required', got " + squote(v));
        g.ssl_server.verify = v == "required";
        no_more_args(line, 2, kw);
    } else if (kw == "ssl-default-server-options") {
        arg_or_fail(line, 1, kw, "one or more options (ssl-min-ver, ssl-max-ver, no-tlsv1x, no-tls-tickets)");
        for (std::size_t i = 1; i < line.words.size(); ++i) {
            const auto& w = line.words[i];
            if (parse_version_word(line, i, g.ssl_server)) {
                g.ssl_server_versions = true;
            } else if (w == "no-tls-tickets") {
                g.ssl_server.no_tickets = true;
            } else {
                fail(line.at, "'ssl-default-server-options': option " + squote(w) +
                                  " is not supported (ssl-min-ver, ssl-max-ver, no-sslv3, no-tlsv10..no-tlsv13, "
                                  "force-sslv3, force-tlsv10..force-tlsv13, no-tls-tickets)");
            }
        }
    } else if (kw == "tune.es.ssl-direct-seal") {
        // edgeshard's: after the handshake the records are sealed from the data path's bytes
        // straight into the send blocks (tls/seal.hpp); off: OpenSSL's own write path
        const std::string& a = line.words.size() > 1 ? line.words[1] : std::string();
        if (a != "on" && a != "off")
            fail(line.at, "'tune.es.ssl-direct-seal': expects 'on' or 'off'" + (a.empty() ? "" : ", not " + squote(a)));
        g.ssl_direct_seal = a == "on";
        no_more_args(line, 2, kw);
    } else if (kw == "tune.ssl.cachesize") {
        g.ssl_cachesize = int(int_arg(line, 1, kw, 0, 100000000, "a number of sessions (0 turns the cache off)"));
        no_more_args(line, 2, kw);
    } else if (kw == "tune.ssl.lifetime") {
        const Millis ms = time_arg(line, 1, kw);
        // HAProxy reads a bare number as seconds here (the only TLS timeout so expressed)
        const auto plain = parse_integer(line.words[1]);
        const long long s = plain ? *plain : ms / 1000;
        if (s < 1 || s > 7 * 24 * 3600)
            fail(line.at, "'tune.ssl.lifetime': " + squote(line.words[1]) + " is out of range (1s to 7d; TLS 1.3 "
                          "caps tickets at 7 days)");
        g.ssl_lifetime_s = int(s);
        no_more_args(line, 2, kw);
    } else if (kw == "tune.ssl.default-dh-param") {
        const long long bits = int_arg(line, 1, kw, 1024, 8192, "a DH group size in bits (2048, 3072, 4096...)");
        if (bits < 2048)
            st.warn(line.at, "'tune.ssl.default-dh-param " + line.words[1] +
                                 "': DHE uses the 2048-bit RFC 7919 group at the least");
        g.ssl_dh_bits = int(bits);
        no_more_args(line, 2, kw);
    } else {
        return false;
    }
    return true;
}

void finalize_tls(ParseState& st) {
    const auto& g = st.cfg.global;
    std::map<const BindTlsOptions*, std::shared_ptr<const BindTlsOptions>> done;  // one line's addresses share it
    bool ktls_warned = false;
    for (auto& f : st.cfg.frontends) {
        for (auto& b : f.binds) {
            if (!b.tls) continue;
            if (auto it = done.find(b.tls.get()); it != done.end()) {
                b.tls = it->second;
                continue;
            }
            const BindTlsOptions* orig = b.tls.get();
            auto t = std::make_shared<BindTlsOptions>(*orig);
            t->o.alpn_relayed = f.mode != Mode::Http;  // mode tcp: the server speaks the protocol
            set_relative_dir(t->dir);  // the files as the line's default-path sees them
            for (auto& c : t->o.crt) c = in_relative_dir(resolve(g.crt_base, c));
            t->o.crt_list.clear();
            for (const auto& l : t->crt_lists) read_crt_list(st, b.where, l.path, l.after_crt, t->o.crt_list);
            if (!t->o.ca_file.empty()) t->o.ca_file = in_relative_dir(resolve(g.ca_base, t->o.ca_file));
            if (!t->o.crl_file.empty()) t->o.crl_file = in_relative_dir(resolve(g.ca_base, t->o.crl_file));
            if (!t->o.ca_verify_file.empty()) t->o.ca_verify_file = in_relative_dir(resolve(g.ca_base, t->o.ca_verify_file));
            if (!t->o.strict_sni) t->o.strict_sni = g.ssl_bind.strict_sni;
            if (t->o.ciphers.empty()) t->o.ciphers = g.ssl_bind.ciphers;
            if (t->o.ciphersuites.empty()) t->o.ciphersuites = g.ssl_bind.ciphersuites;
            if (t->o.curves.empty()) t->o.curves = g.ssl_bind.curves;
            if (t->o.sigalgs.empty()) t->o.sigalgs = g.ssl_bind.sigalgs;
            if (t->o.client_sigalgs.empty()) t->o.client_sigalgs = g.ssl_bind.client_sigalgs;
            if (!t->o.prefer_client_ciphers) t->o.prefer_client_ciphers = g.ssl_bind.prefer_client_ciphers;
            if (!t->o.no_tickets) t->o.no_tickets = g.ssl_bind.no_tickets;
            if (!t->o.ticket_keys.empty()) t->o.ticket_keys = in_relative_dir(resolve(g.crt_base, t->o.ticket_keys));
            t->o.lifetime_s = g.ssl_lifetime_s;
            t->o.dh_bits = g.ssl_dh_bits;
            t->o.direct_seal = g.ssl_direct_seal;
            // the same in every shard and every process of a reload: frontend and bind line
            t->o.id = f.name + "@" + std::to_string(b.where.line);
            if (g.ssl_bind_versions && !t->min_set && !t->max_set && !t->no_set) {
                t->o.min_ver = g.ssl_bind.min_ver;
                t->o.max_ver = g.ssl_bind.max_ver;
                t->o.no_versions = g.ssl_bind.no_versions;
            }
            std::string error;
            std::vector<std::string> warnings;
            if (!tls::BindTls::make(t->o, error, warnings)) fail(b.where, "'bind ... ssl': " + error);
            for (const auto& w : warnings) st.warn(b.where, "'bind ... ssl': " + w);
            if (t->o.ktls && !ktls_warned) {
                const tls::KtlsSupport& k = tls::ktls_support();
                if (!k.tx || !k.rx) {
                    // once per load: every `ktls on` bind falls back the same way
                    st.warn(b.where, "'ktls on': kernel TLS is not available (" + k.detail +
                                         "): connections stay on user-space records");
                    ktls_warned = true;
                }
            }
            std::shared_ptr<const BindTlsOptions> final_opts = std::move(t);
            done.emplace(orig, final_opts);
            b.tls = final_opts;
        }
    }
    // servers reached over TLS: the global ssl-server-verify / ssl-default-server-* where the
    // line (or its default-server) said nothing; the contexts are built once here, so a missing
    // CA file or a bad option is reported at the server's line
    for (auto& be : st.cfg.backends) {
        for (auto& s : be.servers) {
            if (!s.tls) continue;
            auto t = std::make_shared<ServerTlsOptions>(*s.tls);
            if (!t->verify_set) t->o.verify = g.ssl_server.verify;
            if (!t->ciphers_set) t->o.ciphers = g.ssl_server.ciphers;
            if (!t->suites_set) t->o.ciphersuites = g.ssl_server.ciphersuites;
            if (t->o.curves.empty()) t->o.curves = g.ssl_server.curves;
            if (t->o.sigalgs.empty()) t->o.sigalgs = g.ssl_server.sigalgs;
            if (t->o.client_sigalgs.empty()) t->o.client_sigalgs = g.ssl_server.client_sigalgs;
            if (!t->tickets_set) t->o.no_tickets = g.ssl_server.no_tickets;
            if (g.ssl_server_versions && !t->min_set && !t->max_set && !t->no_set) {
                t->o.min_ver = g.ssl_server.min_ver;
                t->o.max_ver = g.ssl_server.max_ver;
                t->o.no_versions = g.ssl_server.no_versions;
            }
            set_relative_dir(t->dir);
            if (t->o.ca_file != "@system-ca") t->o.ca_file = in_relative_dir(resolve(g.ca_base, t->o.ca_file));
            t->o.crl_file = in_relative_dir(resolve(g.ca_base, t->o.crl_file));
            t->o.crt = in_relative_dir(resolve(g.crt_base, t->o.crt));
            if (be.mode != Mode::Http && t->sni == ServerTlsOptions::Sni::Hdr)
                fail(t->where, "server " + squote(be.name + "/" + s.name) + ": 'sni " +
                                   (t->sni_arg.empty() ? "req.hdr" : "req.hdr(" + t->sni_arg + ")") +
                                   "' reads a request header, which a 'mode tcp' backend does not parse (use "
                                   "str(<name>) or ssl_fc_sni)");
            std::string error;
            std::vector<std::string> warnings;
            if (!tls::Upstream::make(t->o, error, warnings))
                fail(t->where, "server " + squote(be.name + "/" + s.name) + ": " + error);
            for (const auto& w : warnings) st.warn(t->where, "server " + squote(be.name + "/" + s.name) + ": " + w);
            s.tls = std::move(t);
        }
    }
}

}  // namespace es::config::detail
