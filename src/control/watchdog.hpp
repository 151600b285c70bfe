// The watchdog: the control shard watches every data shard's loop. A shard that has neither finished a loop
// turn nor gone to sleep waiting for work for `tune.es.watchdog-warn` gets a warning with its state; past
// `tune.es.watchdog-panic` the process writes a dump (every shard's thread, CPU, loop counters, ring, connections,
// the stuck shard's backtrace) to stderr and to a file, then aborts (a core dump where the system allows).
// `show threads` prints the same state live. Private to the control room.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgeshard/shard/runtime.hpp"

namespace es::control {

class Watchdog {
public:
    explicit Watchdog(const config::Global& g);
    // Called by the control loop at least every kCheckMs (the loop's poll timeout is bounded by next_due_ms).
    void check(const shard::Runtime& rt, std::int64_t now_ms);
    std::int64_t next_due_ms(std::int64_t now_ms) const;
    // `show threads`: one block per shard (and the control thread), the stuck ones marked.
    std::string show_threads(const shard::Runtime& rt, std::int64_t now_ms) const;
    static constexpr std::int64_t kCheckMs = 100;

private:
    struct Seen {
        std::uint64_t loops = 0;
        std::int64_t progress_ms = 0;  // the last time it finished a turn or slept
        bool warned = false;
    };
    std::int64_t stalled_ms(std::size_t i, std::int64_t now_ms) const;
    std::string shard_state(const shard::Runtime& rt, std::size_t i, std::int64_t now_ms) const;
    [[noreturn]] void panic(const shard::Runtime& rt, std::size_t stuck, std::int64_t now_ms);

    std::int64_t warn_ms_, panic_ms_;
    std::vector<Seen> seen_;
    std::int64_t last_ms_ = -1;
};

}  // namespace es::control
