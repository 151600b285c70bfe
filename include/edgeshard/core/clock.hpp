// Monotonic clocks. The shard loop samples now_ms() once per turn and passes it down, so the
// data path reads the clock once per batch rather than once per event.
#pragma once

#include <cstdint>
#include <ctime>

namespace es::core {

inline std::int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
inline std::int64_t now_ms() { return now_ns() / 1000000; }

inline std::int64_t wall_s() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}
inline std::int64_t wall_ms() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace es::core
