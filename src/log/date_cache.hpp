// Private to the log room: dates as log lines print them, formatted once per second per thread.
// A record then costs a copy of the cached text instead of a localtime_r + snprintf.
#pragma once

#include <time.h>

#include <cstdint>
#include <string_view>

namespace es::log::detail {

enum class DateKind : std::uint8_t {
    Local,    // "22/Nov/2026:20:50:01"        (%t %tr, local time)
    Gmt,      // "22/Nov/2026:20:50:01 +0000"  (%T)
    LocalTz,  // "22/Nov/2026:20:50:01 +0100"  (%Tl)
    Rfc3164,  // "Nov 22 20:50:01"             (syslog header, local time)
    Iso,      // "2026-11-22T20:50:01" with tz "+01:00" (RFC 5424 header, local time)
};
inline constexpr int kDateKinds = 5;

struct DateText {
    std::string_view text;
    std::string_view tz;  // Iso only
};

// Epoch second `sec` broken down as local time `utc_offset_s` seconds east of UTC (0: UTC), in
// plain arithmetic: glibc's localtime_r and gmtime_r both take its timezone lock, and a data shard
// takes no lock. tm_gmtoff is set, tm_wday/tm_yday/tm_isdst are not.
tm broken_down(std::int64_t sec, long utc_offset_s);

// The local time's offset from UTC, in seconds, as last published (publish_utc_offset).
long utc_offset();

// The text of epoch second `sec` in the calling thread's cache for `kind`. The views stay valid
// until the next call with the same kind on the same thread.
DateText cached_date(DateKind kind, std::int64_t sec);

// floor(ms / 1000) and the millisecond remainder, also for dates before 1970.
inline std::int64_t epoch_sec(std::int64_t ms) {
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}
inline int epoch_msec(std::int64_t ms) {
    return int(ms - epoch_sec(ms) * 1000);
}

}  // namespace es::log::detail
