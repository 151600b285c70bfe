// The `map*` converters at run time (HAProxy 2.6's match types over a map file read at load,
// config::MapFile): which entry a value finds, and the value it gives.
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

}  // namespace

long map_lookup(const config::MapFile& m, config::MapMatch k, std::string_view v, std::vector<std::string_view>* groups) {
    using config::MapMatch;
    const auto& e = m.entries;
    switch (k) {
        case MapMatch::Str: {
            const auto it = m.exact.find(v);
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
            core::Net a;
            if (v.find('/') != std::string_view::npos || !core::parse_net(v, a))
                return -2;  // not an address: no sample at all (HAProxy's cast fails)
            long best = -1;
            for (std::size_t n = 0; n < m.nets.size(); ++n)
                if ((best < 0 || m.nets[n].bits > m.nets[std::size_t(best)].bits) && core::in_net(a.addr, m.nets[n]))
                    best = long(n);
            return best;
        }
    }
    return -1;
}

}  // namespace es::rules
