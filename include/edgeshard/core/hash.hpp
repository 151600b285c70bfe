// HAProxy's hash functions (its hash.c, as configuration.txt names them for `hash-type` and the converters):
// sdbm, djb2, wt6, crc32 (zlib's), crc32c (Castagnoli's) and full_hash, the "avalanche" applied after any of
// them. The balancers and the converters share them, so a key hashes as HAProxy's does wherever it is read.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace es::core::hash {

namespace detail {
constexpr std::array<std::uint32_t, 256> crc_table(std::uint32_t poly) {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? poly : 0);
        t[i] = c;
    }
    return t;
}
inline constexpr auto kCrc32 = crc_table(0xEDB88320u);
inline constexpr auto kCrc32c = crc_table(0x82F63B78u);
inline std::uint32_t crc(const std::array<std::uint32_t, 256>& tab, std::string_view in) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : in) c = tab[(c ^ b) & 0xFF] ^ (c >> 8);
    return ~c;
}
inline std::uint32_t rotl(std::uint32_t x, unsigned r) {
    r &= 31;
    return r ? (x << r) | (x >> (32 - r)) : x;
}
}  // namespace detail

inline std::uint32_t crc32(std::string_view in) { return detail::crc(detail::kCrc32, in); }
inline std::uint32_t crc32c(std::string_view in) { return detail::crc(detail::kCrc32c, in); }

inline std::uint32_t djb2(std::string_view in) {
    std::uint32_t h = 5381;
    for (unsigned char b : in) h = h * 33 + b;
    return h;
}

inline std::uint32_t sdbm(std::string_view in) {
    std::uint32_t h = 0;
    for (unsigned char b : in) h = b + (h << 6) + (h << 16) - h;
    return h;
}

// HAProxy's own hash (hash_wt6)
inline std::uint32_t wt6(std::string_view in) {
    std::uint32_t h0 = 0xa53c965au, h1 = 0x5ca6953au;
    unsigned s0 = 6, s1 = 18;
    for (unsigned char c : in) {
        h0 = ~(h0 ^ c);
        h1 = ~(h1 + c);
        const std::uint32_t n0 = detail::rotl(h1, s0), n1 = detail::rotl(h0, s1);
        h0 = n0;
        h1 = n1;
        const std::uint32_t t = ((h0 >> 16) ^ h1) & 0xffff;
        s0 = t & 31;
        s1 = t >> 11;
    }
    return h0 ^ h1;
}

// Bob Jenkins' integer hash then a multiplication (HAProxy's full_hash): the "avalanche" of the hashes
inline std::uint32_t avalanche(std::uint32_t a) {
    a = (a + 0x7ed55d16) + (a << 12);
    a = (a ^ 0xc761c23c) ^ (a >> 19);
    a = (a + 0x165667b1) + (a << 5);
    a = (a + 0xd3a2646c) ^ (a << 9);
    a = (a + 0xfd7046c5) + (a << 3);
    a = (a ^ 0xb55a4f09) ^ (a >> 16);
    return a * 3221225473u;
}

}  // namespace es::core::hash
