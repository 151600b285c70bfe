// The `map*` converters at run time (HAProxy 2.6's match types over a map file read at load,
// config::MapFile): which entry a value finds, and the value it gives.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "edgeshard/rules/rules.hpp"

namespace es::rules {

namespace {

bool delim(char c, std::string_view delims) { return delims.find(c) != std::string_view::npos; }

// HAProxy's match_word: `word` (its own leading and trailing delimiters dropped) appears in `v` as
// a sequence of whole words: a delimiter (or the start) before it and a delimiter (or the end)
// after it.
bool match_word(std::string_view v, std::string_view word, std::string_view delims) {
    while (!word.empty() && delim(word.front(), delims)) word.remove_prefix(1);
    while (!word.empty() && delim(word.back(), delims)) word.remove_suffix(1);
    if (word.empty()) return false;
    for (std::size_t at = v.find(word); at != std::string_view::npos; at = v.find(word, at + 1)) {
        const bool before = at == 0 || delim(v[at - 1], delims);
        const std::size_t end = at + word.size();
        const bool after = end == v.size() || delim(v[end], delims);
        if (before && after) return true;
    }
    return false;
}

// An address from text (IPv4 or IPv6); false when it is not one.
bool parse_ip(std::string_view v, sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN];
    if (v.empty() || v.size() >= sizeof buf) return false;
    std::memcpy(buf, v.data(), v.size());
    buf[v.size()] = '\0';
    ss = {};
    auto* in4 = reinterpret_cast<sockaddr_in*>(&ss);
    if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        return true;
    }
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

int prefix_len(std::string_view net) {
    const std::size_t slash = net.find('/');
    if (slash == std::string_view::npos) return net.find(':') == std::string_view::npos ? 32 : 128;
    int n = 0;
    for (char c : net.substr(slash + 1)) n = n * 10 + (c - '0');
    return n;
}

}  // namespace

long map_lookup(const config::MapFile& m, config::MapMatch k, std::string_view v, std::vector<std::string_view>* groups) {
    using config::MapMatch;
    const auto& e = m.entries;
    switch (k) {
        case MapMatch::Str: {
            const auto it = m.exact.find(std::string(v));
            return it == m.exact.end() ? -1 : long(it->second);
        }
        case MapMatch::Beg: {  // the longest prefix, the first of equal ones
            long best = -1;
            for (std::size_t n = 0; n < e.size(); ++n)
                if (v.starts_with(e[n].first) && (best < 0 || e[n].first.size() > e[std::size_t(best)].first.size()))
                    best = long(n);
            return best;
        }
        case MapMatch::End:
            for (std::size_t n = 0; n < e.size(); ++n)
                if (v.ends_with(e[n].first)) return long(n);
            return -1;
        case MapMatch::Sub:
            for (std::size_t n = 0; n < e.size(); ++n)
                if (v.find(e[n].first) != std::string_view::npos) return long(n);
            return -1;
        case MapMatch::Dir:
        case MapMatch::Dom: {
            const std::string_view delims = k == MapMatch::Dir ? "/?" : "/?.:";
            for (std::size_t n = 0; n < e.size(); ++n)
                if (match_word(v, e[n].first, delims)) return long(n);
            return -1;
        }
        case MapMatch::Reg:
        case MapMatch::Regm:
            for (std::size_t n = 0; n < m.regs.size(); ++n) {
                if (k == MapMatch::Reg ? m.regs[n].search(v) : m.regs[n].match(v, *groups)) return long(n);
            }
            return -1;
        case MapMatch::Ip: {  // the longest network holding the address
            sockaddr_storage ss;
            if (!parse_ip(v, ss)) return -2;  // not an address: no sample at all (HAProxy's cast fails)
            long best = -1;
            int best_len = -1;
            for (std::size_t n = 0; n < m.nets.size(); ++n) {
                const int len = prefix_len(m.nets[n]);
                if (len > best_len && addr_in_network(&ss, m.nets[n])) {
                    best = long(n);
                    best_len = len;
                }
            }
            return best;
        }
    }
    return -1;
}

}  // namespace es::rules
