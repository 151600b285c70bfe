// core::Counter / Gauge / MaxGauge semantics, and the single-writer contract: a concurrent reader
// sees the writer's relaxed stores in order and never a torn or decreasing value.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "edgeshard/core/counter.hpp"

using es::core::Counter;
using es::core::Gauge;
using es::core::MaxGauge;

TEST_CASE("Counter adds, increments and can be set") {
    Counter c;
    CHECK(c.get() == 0);
    c.inc();
    c.add(41);
    CHECK(c.get() == 42);
    c.add(0);
    CHECK(c.get() == 42);
    c.set(7);
    CHECK(c.get() == 7);
    c.set(UINT64_MAX);
    c.inc();  // unsigned wrap, as the stats merge expects of a 64-bit counter
    CHECK(c.get() == 0);
}

TEST_CASE("Gauge goes up and down") {
    Gauge g;
    g.inc();
    g.inc();
    g.add(5);
    CHECK(g.get() == 7);
    g.dec();
    g.add(-6);
    CHECK(g.get() == 0);
    g.set(-3);  // the type allows it even though users keep levels >= 0 by contract
    CHECK(g.get() == -3);
}

TEST_CASE("MaxGauge keeps the highest value offered") {
    MaxGauge m;
    CHECK(m.get() == 0);
    m.update(5);
    m.update(3);
    CHECK(m.get() == 5);
    m.update(9);
    m.update(9);
    CHECK(m.get() == 9);
    m.update(-1);
    CHECK(m.get() == 9);
    m.set(2);  // a reset (clear counters) may lower it
    CHECK(m.get() == 2);
    m.update(1);
    CHECK(m.get() == 2);
}

TEST_CASE("the counter types are plain 64-bit atomics that need no lock") {
    CHECK(sizeof(Counter) == 8);
    CHECK(sizeof(Gauge) == 8);
    CHECK(sizeof(MaxGauge) == 8);
    CHECK(std::atomic<std::uint64_t>::is_always_lock_free);
}

TEST_CASE("a reader on another thread only sees monotonic values from a single writer") {
    constexpr std::uint64_t kIncrements = 10'000'000;
    Counter c;
    MaxGauge m;
    std::atomic<bool> reader_ready{false};
    std::atomic<bool> done{false};
    std::uint64_t reads = 0, regressions = 0, last = 0, last_max = 0, max_regressions = 0, mid = 0;

    std::thread reader([&] {
        reader_ready.store(true, std::memory_order_release);
        while (!done.load(std::memory_order_acquire)) {
            const std::uint64_t v = c.get();
            const auto mv = std::uint64_t(m.get());
            if (v < last) ++regressions;
            if (mv < last_max) ++max_regressions;
            if (v > 0 && v < kIncrements) ++mid;
            last = v;
            last_max = mv;
            ++reads;
        }
        last = c.get();
    });
    std::thread writer([&] {
        while (!reader_ready.load(std::memory_order_acquire)) {
        }
        for (std::uint64_t i = 0; i < kIncrements; ++i) {
            c.inc();
            if ((i & 1023) == 0) m.update(std::int64_t(i));
        }
        done.store(true, std::memory_order_release);
    });
    writer.join();
    reader.join();
    CHECK(regressions == 0);
    CHECK(max_regressions == 0);
    CHECK(reads > 0);
    // Whether the reader was scheduled while the writer ran is up to the machine, so only warn.
    WARN(mid > 0);
    CHECK(last == kIncrements);  // after the release/acquire hand-off the final value is visible
    CHECK(c.get() == kIncrements);
}
