// Dotted-quad text of an IPv4 address without inet_ntop(3): the access log and X-Forwarded-For
// write a client address per request, and glibc's inet_ntop spends most of its time on
// format-string machinery (a quarter of an `option httplog` line's rendering).
#pragma once

#include <cstddef>
#include <cstdint>

namespace es::core {

inline constexpr std::size_t kIpv4TextMax = 15;  // "255.255.255.255"

// Writes the four bytes (network order) as "a.b.c.d" into out (at least kIpv4TextMax bytes, not
// terminated) and returns the length.
inline std::size_t ipv4_text(const std::uint8_t* b, char* out) {
    char* p = out;
    for (int i = 0; i < 4; ++i) {
        unsigned v = b[i];
        if (i) *p++ = '.';
        if (v >= 100) {
            *p++ = char('0' + v / 100);
            v %= 100;
            *p++ = char('0' + v / 10);
            *p++ = char('0' + v % 10);
        } else if (v >= 10) {
            *p++ = char('0' + v / 10);
            *p++ = char('0' + v % 10);
        } else {
            *p++ = char('0' + v);
        }
    }
    return std::size_t(p - out);
}

}  // namespace es::core
