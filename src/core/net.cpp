// core::Net (see net.hpp).
#include "edgeshard/core/net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace es::core {

namespace {

void set_prefix(unsigned char* mask, unsigned bits) {
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned take = bits >= 8 ? 8 : bits;
        mask[i] = static_cast<unsigned char>(take == 0 ? 0 : 0xff << (8 - take));
        bits -= take;
    }
}

bool parse_uint(std::string_view s, unsigned max, unsigned& out) {
    if (s.empty() || s.size() > 3) return false;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > max) return false;
    out = v;
    return true;
}

}  // namespace

bool parse_net(std::string_view text, Net& n) {
    char buf[INET6_ADDRSTRLEN + 8];
    const std::size_t slash = text.find('/');
    const std::string_view host = text.substr(0, slash);
    if (host.empty() || host.size() >= sizeof(buf)) return false;
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = '\0';
    std::memset(n.addr, 0, sizeof(n.addr));
    in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        n.addr[10] = n.addr[11] = 0xff;
        std::memcpy(n.addr + 12, &a4, 4);
        unsigned bits = 32;
        if (slash != std::string_view::npos) {
            const std::string_view m = text.substr(slash + 1);
            if (m.find('.') != std::string_view::npos) {
                if (m.size() >= sizeof(buf)) return false;
                std::memcpy(buf, m.data(), m.size());
                buf[m.size()] = '\0';
                in_addr m4;
                if (inet_pton(AF_INET, buf, &m4) != 1) return false;
                set_prefix(n.mask, 96);
                std::memcpy(n.mask + 12, &m4, 4);
                n.bits = 96;
                for (unsigned i = 12; i < 16; ++i) n.bits += unsigned(__builtin_popcount(n.mask[i]));
                return true;
            }
            if (!parse_uint(m, 32, bits)) return false;
        }
        set_prefix(n.mask, 96 + bits);
        n.bits = 96 + bits;
        return true;
    }
    if (inet_pton(AF_INET6, buf, n.addr) != 1) return false;
    unsigned bits = 128;
    if (slash != std::string_view::npos && !parse_uint(text.substr(slash + 1), 128, bits)) return false;
    set_prefix(n.mask, bits);
    n.bits = bits;
    return true;
}

bool in_net(const unsigned char addr[16], const Net& n) {
    for (int i = 0; i < 16; ++i)
        if ((addr[i] & n.mask[i]) != (n.addr[i] & n.mask[i])) return false;
    return true;
}

}  // namespace es::core
