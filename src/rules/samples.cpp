// What the ACLs and the rules both read from a request: url_decode, the elements of a header list and
// the client address as text. Calls nothing else in the room, so acl.cpp and rules.cpp need not call
// each other.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "edgeshard/core/ipv4_text.hpp"
#include "edgeshard/rules/rules.hpp"

namespace es::rules {

long url_decode(std::string_view in, char* out, std::size_t cap, bool query) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::size_t o = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return -1;
            const int hi = hex(in[i + 1]);
            const int lo = hex(in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = static_cast<char>(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && query) {
            c = ' ';
        }
        if (o >= cap) return -1;
        out[o++] = c;
    }
    return static_cast<long>(o);
}

bool next_list_element(std::string_view v, std::size_t& pos, std::string_view& elem) {
    if (pos > v.size()) return false;
    std::size_t i = pos;
    bool quoted = false;
    for (; i < v.size(); ++i) {
        const char c = v[i];
        if (quoted) {
            if (c == '\\' && i + 1 < v.size())
                ++i;
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            break;
        }
    }
    std::string_view e = v.substr(pos, i - pos);
    while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
    while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
    elem = e;
    pos = i + 1;
    return true;
}

std::size_t addr_text(const sockaddr_storage* ss, char* out, std::size_t cap) {
    if (ss == nullptr || cap == 0) return 0;
    const std::uint8_t* v4 = nullptr;
    if (ss->ss_family == AF_INET) {
        v4 = reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in*>(ss)->sin_addr);
    } else if (ss->ss_family == AF_INET6) {
        // an IPv4 client on a dual-stack listener reads as IPv4 (logs, X-Forwarded-For, %[src])
        const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            v4 = &a6->s6_addr[12];
        } else {
            const char* r = inet_ntop(AF_INET6, a6, out, static_cast<socklen_t>(cap));
            return r == nullptr ? 0 : std::strlen(out);
        }
    }
    if (v4 == nullptr || cap < core::kIpv4TextMax + 1) return 0;
    const std::size_t n = core::ipv4_text(v4, out);
    out[n] = '\0';
    return n;
}

int addr_port(const sockaddr_storage* ss) {
    if (ss == nullptr) return -1;
    if (ss->ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(ss)->sin_port);
    if (ss->ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(ss)->sin6_port);
    return -1;
}

}  // namespace es::rules
