// What the proxy-section parsers share (proxy.cpp: defaults/frontend/backend/listen keywords and
// bind lines; server.cpp: server and default-server lines): the tables of accepted-with-a-warning and
// refused words, and the per-line collection of ignored words. Not part of the room's interface.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "internal.hpp"

namespace es::config::detail {

inline constexpr std::string_view kWhyCheck =
    "not performed in this version (health checks are: 'check' with a TCP connect, or 'option httpchk')";
inline constexpr std::string_view kWhyCheckKind =
    "this check kind is not performed in this version: servers with 'check' are checked by a TCP connect instead";
inline constexpr std::string_view kWhyInfo = "informational only";
struct Entry {
    std::string_view name;
    std::string_view why;
};

inline const Entry* find_entry(std::string_view name, const Entry* first, const Entry* last) {
    for (const Entry* e = first; e != last; ++e)
        if (e->name == name) return e;
    return nullptr;
}
template <std::size_t N>
inline const Entry* find_entry(std::string_view name, const Entry (&table)[N]) {
    return find_entry(name, table, table + N);
}
template <std::size_t N>
inline void add_names(std::vector<std::string_view>& v, const Entry (&table)[N]) {
    for (const auto& e : table) v.push_back(e.name);
}

// TLS words a bind line and a server line share ---------------------------------------------------

// alpn, ssl-min-ver, ssl-max-ver, ciphers, ciphersuites, curves, sigalgs, client-sigalgs,
// no-sslv3/no-tlsv1x and force-sslv3/force-tlsv1x, into `t.o` (a BindTlsOptions or a ServerTlsOptions: their options carry the
// same fields) with the flags that say a value was given. True when `line.words[i]` was one of them
// (i moved past its argument).
template <typename TlsDraft>
bool parse_shared_tls_word(const Line& line, std::size_t& i, TlsDraft& t) {
    const std::string& opt = line.words[i];
    constexpr const char* kSigalgs = "a colon-separated list of signature algorithms, e.g. ECDSA+SHA256";
    if (opt == "alpn") {
        t.o.alpn = alpn_arg(line, i);
    } else if (const unsigned v = parse_version_word(line, i, t.o)) {
        t.min_set = t.min_set || (v & kVerMin);
        t.max_set = t.max_set || (v & kVerMax);
        t.no_set = t.no_set || (v & kVerNo);
    } else if (opt == "ciphers") {
        t.o.ciphers = arg_or_fail(line, ++i, opt, "an OpenSSL cipher list");
        if constexpr (requires { t.ciphers_set; }) t.ciphers_set = true;
    } else if (opt == "ciphersuites") {
        t.o.ciphersuites = arg_or_fail(line, ++i, opt, "a TLS 1.3 cipher suite list");
        if constexpr (requires { t.suites_set; }) t.suites_set = true;
    } else if (opt == "curves") {
        t.o.curves = arg_or_fail(line, ++i, opt, "a colon-separated list of groups, e.g. X25519:P-256");
    } else if (opt == "sigalgs") {
        t.o.sigalgs = arg_or_fail(line, ++i, opt, kSigalgs);
    } else if (opt == "client-sigalgs") {
        t.o.client_sigalgs = arg_or_fail(line, ++i, opt, kSigalgs);
    } else {
        return false;
    }
    return true;
}

// Options collected per line and warned about once per reason ---------------------------------------

class IgnoredWords {
  public:
    void add(std::string word, std::string_view why) {
        for (auto& g : groups_) {
            if (g.why == why) {
                g.words.push_back(std::move(word));
                return;
            }
        }
        groups_.push_back({why, {std::move(word)}});
    }
    void flush(ParseState& st, const Location& at) {
        for (const auto& g : groups_) st.warn_ignored(at, g.words, g.why);
        groups_.clear();
    }

  private:
    struct Group {
        std::string_view why;
        std::vector<std::string> words;
    };
    std::vector<Group> groups_;
};

// server.cpp
void parse_server_options(ParseState& st, const Line& line, std::size_t first, ServerDefaults& sd);
void parse_server(ParseState& st, ProxyDraft& px, const Line& line);
void parse_server_template(ParseState& st, ProxyDraft& px, const Line& line);

}  // namespace es::config::detail
