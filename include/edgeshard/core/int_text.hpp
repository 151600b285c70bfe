// HAProxy's read_int64 (its tools.c): an optional sign, then the decimal digits up to the first other character,
// saturated at the 64-bit limits. The casts of string samples to integers use it: the rules' converters and the
// stick tables' integer keys read "12abc" as 12 and "abc" as 0, as HAProxy does.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace es::core {

// `used`: how many characters were read (null: not wanted).
inline std::int64_t read_int64(std::string_view s, std::size_t* used = nullptr) {
    std::size_t i = 0;
    bool neg = false;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    std::uint64_t v = 0;
    bool over = false;  // past 2^64-1: saturated either way
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (!over && (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, unsigned(s[i] - '0'), &v))) over = true;
        ++i;
    }
    if (used) *used = i;
    constexpr std::uint64_t kMin = std::uint64_t(1) << 63;
    if (neg) return over || v >= kMin ? LLONG_MIN : -static_cast<std::int64_t>(v);
    return over || v > std::uint64_t(LLONG_MAX) ? LLONG_MAX : static_cast<std::int64_t>(v);
}

}  // namespace es::core
