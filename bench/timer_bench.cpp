// Shard timer wheel (shard::TimerWheel, DESIGN.md §5 rule 7): what idle, retry and queue timers cost.
//
//   arm_cancel/N        schedule() + cancel() of one timer in a wheel already holding N timers
//                       (a connection that arms its timer at connect and closes before it fires)
//   rearm_none/N        the baseline: one request touches its connection (last_ms), no timer work
//   rearm_eager/N       one request on one of N connections: the idle deadline moves out and the
//                       timer is rescheduled at once (unlink + push into another slot)
//   rearm_lazy/N        the same requests with the proxy's pattern (Worker::schedule_idle): an
//                       armed timer earlier than the new deadline is left alone; when it fires the
//                       callback compares the real deadline and re-arms it once
//   advance/all_due/N   one tick in which all N timers are due (they fire and re-arm one tick on)
//   advance/lap_due/N   N timers spread over one lap (kSlots ticks): every timer visited is due
//   advance/30s/N       N timers spread over 30 s (HAProxy-typical `timeout client`): the slot of
//                       each tick also holds timers of later laps, which are walked but not due
//   next_due/...        next_due_ms(), called once per loop turn before the reactor waits
//
// Connections are objects sized like proxy::Session with the timer at the same place (first
// cache line), visited in a fixed pseudo-random order, so the wheel's list operations touch
// neighbours that are past L2 at 10k (10 MB) and past every cache at 100k, as in a busy shard.
// The rearm cases drive a simulated clock: every connection sends one request per second and
// the wheel is advanced once per 256 requests (one CQE batch), so their time per request
// includes the timer firings and slot walks the pattern causes. Each request first updates a
// field of its connection (the handler's work, which brings the line holding the timer into
// cache, as in the proxy); rearm_none does only that: subtract it to get the timer's share.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "edgeshard/proxy/tcp_types.hpp"
#include "edgeshard/shard/timer_wheel.hpp"

namespace {

using es::shard::Timer;
using es::shard::TimerWheel;

constexpr std::int64_t kStart = 1'000'000'000;  // ms; any epoch works, the wheel only uses deltas
constexpr std::int64_t kTimeoutMs = 30'000;
constexpr std::int64_t kRequestIntervalMs = 1'000;  // per connection
constexpr int kBatch = 256;                         // CQEs per reactor batch: one advance() per batch
constexpr std::int64_t kLapMs = TimerWheel::kSlots * TimerWheel::kTickMs;

struct Conn {
    Timer timer;
    std::int64_t last_ms = 0;
    std::uint64_t bytes = 0;
    char rest[sizeof(es::proxy::Session) - sizeof(Timer) - 2 * sizeof(std::int64_t)];
};
static_assert(sizeof(Conn) >= sizeof(es::proxy::Session));

std::unique_ptr<Conn[]> make_conns(std::size_t n) {
    std::unique_ptr<Conn[]> c(new Conn[n]);
    for (std::size_t i = 0; i < n; ++i) c[i].timer.owner = &c[i];
    return c;
}

std::vector<std::uint32_t> permutation(std::size_t n, std::uint32_t seed) {
    std::vector<std::uint32_t> p(n);
    std::iota(p.begin(), p.end(), 0u);
    std::mt19937 rng(seed);
    std::shuffle(p.begin(), p.end(), rng);
    return p;
}

// ---------------------------------------------------------------- arm + cancel

void BM_arm_cancel(benchmark::State& state) {
    const auto n = std::size_t(state.range(0));
    TimerWheel w(kStart);
    auto conns = make_conns(n);
    std::mt19937 rng(1);
    std::uniform_int_distribution<std::int64_t> due(1, kTimeoutMs);
    for (std::size_t i = 0; i < n; ++i) w.schedule(&conns[i].timer, kStart + due(rng));
    // connect timeouts of fresh connections: 5 s, spread by the arrival time within a lap
    constexpr std::size_t kFresh = 64;
    Timer fresh[kFresh];
    std::int64_t when[1024];
    for (auto& x : when) x = kStart + 5'000 + std::uniform_int_distribution<std::int64_t>(0, kLapMs)(rng);
    std::size_t k = 0;
    for (auto _ : state) {
        Timer* t = &fresh[k % kFresh];
        w.schedule(t, when[k % 1024]);
        benchmark::ClobberMemory();  // the links written by schedule() must exist before cancel()
        w.cancel(t);
        ++k;
    }
    benchmark::DoNotOptimize(w.size());
    state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------- idle re-arm per request

enum class Rearm { None, Eager, Lazy };

template <Rearm M>
void BM_rearm(benchmark::State& state) {
    const auto n = std::size_t(state.range(0));
    TimerWheel w(kStart);
    auto conns = make_conns(n);
    const auto order = permutation(n, 7);
    // each connection's last request is spread over the last second
    std::int64_t now_us = kStart * 1000;
    const std::int64_t step_us = kRequestIntervalMs * 1000 / std::int64_t(n);
    // Timers armed at a random point of the last timeout (as lazily kept timers are), so
    // firings are spread evenly in time instead of coming in one wave every 30 s.
    std::mt19937 rng(5);
    std::uniform_int_distribution<std::int64_t> phase(1, kTimeoutMs);
    for (std::size_t i = 0; i < n; ++i) {
        Conn& c = conns[order[i]];
        c.last_ms = kStart - kRequestIntervalMs + std::int64_t(i) * step_us / 1000;
        w.schedule(&c.timer, kStart + phase(rng));
    }
    std::int64_t fired = 0, expired = 0;
    std::int64_t now = kStart;
    auto on_timer = [&](Timer* t) {
        Conn* c = static_cast<Conn*>(t->owner);
        ++fired;
        const std::int64_t d = c->last_ms + kTimeoutMs;
        if (now >= d) {
            ++expired;  // never with one request per second; counted to show it
            w.schedule(t, now + kTimeoutMs);
        } else {
            w.schedule(t, d);
        }
    };
    std::size_t k = 0;
    int b = 0;
    auto request = [&] {
        Conn& c = conns[order[k]];
        if (++k == n) k = 0;
        now_us += step_us;
        now = now_us / 1000;
        c.bytes += 1448;  // the handler's own work on the connection brings its line in
        c.last_ms = now;
        const std::int64_t d = now + kTimeoutMs;
        if constexpr (M == Rearm::Lazy) {
            if (!c.timer.armed() || c.timer.when_ms > d) w.schedule(&c.timer, d);
        } else if constexpr (M == Rearm::Eager) {
            w.schedule(&c.timer, d);
        }
        if (M != Rearm::None && ++b == kBatch) {
            b = 0;
            w.advance(now, on_timer);
        }
    };
    // Steady state first: the wheel turns a full lap before timing.
    const std::int64_t warm = kLapMs * 1000 / step_us;
    for (std::int64_t i = 0; i < warm; ++i) request();
    fired = expired = 0;
    for (auto _ : state) request();
    benchmark::DoNotOptimize(w.size());
    state.SetItemsProcessed(state.iterations());
    state.counters["fired/req"] = benchmark::Counter(double(fired), benchmark::Counter::kAvgIterations);
    state.counters["expired"] = double(expired);
}

// ---------------------------------------------------------------- advance

// All N timers due in the next tick; each re-arms one tick on, so every iteration fires N.
void BM_advance_all_due(benchmark::State& state) {
    const auto n = std::size_t(state.range(0));
    TimerWheel w(kStart);
    auto conns = make_conns(n);
    std::int64_t now = kStart;
    for (std::size_t i = 0; i < n; ++i) w.schedule(&conns[i].timer, now + TimerWheel::kTickMs);
    std::int64_t fired = 0;
    for (auto _ : state) {
        now += TimerWheel::kTickMs;
        w.advance(now, [&](Timer* t) {
            ++fired;
            w.schedule(t, now + TimerWheel::kTickMs);
        });
    }
    if (std::size_t(fired) != n * std::size_t(state.iterations()))
        state.SkipWithError("not every timer fired");
    state.SetItemsProcessed(fired);  // ns per timer fired
}

// N timers due uniformly over `span_ms`; one tick per iteration, fired timers re-arm span_ms on,
// so the distribution stays the same. Time = one advance() of one tick.
void advance_spread(benchmark::State& state, std::int64_t span_ms) {
    const auto n = std::size_t(state.range(0));
    TimerWheel w(kStart);
    auto conns = make_conns(n);
    std::mt19937 rng(3);
    std::uniform_int_distribution<std::int64_t> due(1, span_ms);
    for (std::size_t i = 0; i < n; ++i) w.schedule(&conns[i].timer, kStart + due(rng));
    std::int64_t now = kStart, fired = 0;
    for (auto _ : state) {
        now += TimerWheel::kTickMs;
        w.advance(now, [&](Timer* t) {
            ++fired;
            w.schedule(t, now + span_ms);
        });
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["fired/tick"] = benchmark::Counter(double(fired), benchmark::Counter::kAvgIterations);
    state.counters["armed/slot"] = double(n) / TimerWheel::kSlots;
}

void BM_advance_lap_due(benchmark::State& state) {
    advance_spread(state, kLapMs);
}
void BM_advance_30s(benchmark::State& state) {
    advance_spread(state, kTimeoutMs);
}

// ---------------------------------------------------------------- next_due_ms

// `offsets` are the armed timers' distances from now (ms); empty = an idle shard.
void next_due(benchmark::State& state, std::vector<std::int64_t> offsets) {
    TimerWheel w(kStart);
    std::vector<Timer> timers(offsets.size());
    for (std::size_t i = 0; i < offsets.size(); ++i) w.schedule(&timers[i], kStart + offsets[i]);
    std::int64_t now = kStart;
    for (auto _ : state) {
        benchmark::ClobberMemory();  // the wheel's state is re-read every time, as in the loop
        benchmark::DoNotOptimize(w.next_due_ms(now));
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["result_ms"] = double(w.next_due_ms(now));
}

void BM_next_due_empty(benchmark::State& state) {
    next_due(state, {});
}
void BM_next_due_1_near(benchmark::State& state) {
    next_due(state, {8});
}
void BM_next_due_1_far(benchmark::State& state) {
    next_due(state, {kLapMs - 8});  // e.g. one idle connection whose timer fired and re-armed
}
void BM_next_due_1_beyond_lap(benchmark::State& state) {
    next_due(state, {kTimeoutMs});  // lands in a slot ~330 ticks on; its real due time is 7 laps later
}
void BM_next_due_16_spread(benchmark::State& state) {
    std::vector<std::int64_t> o;
    for (int i = 1; i <= 16; ++i) o.push_back(i * kLapMs / 16 - 1);
    next_due(state, o);
}
void BM_next_due_dense(benchmark::State& state) {
    std::vector<std::int64_t> o;
    for (std::int64_t i = 0; i < state.range(0); ++i) o.push_back(1 + i * kTimeoutMs / state.range(0));
    next_due(state, o);
}

}  // namespace

BENCHMARK(BM_arm_cancel)->Name("arm_cancel")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK_TEMPLATE(BM_rearm, Rearm::None)->Name("rearm_none")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK_TEMPLATE(BM_rearm, Rearm::Eager)->Name("rearm_eager")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK_TEMPLATE(BM_rearm, Rearm::Lazy)->Name("rearm_lazy")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_advance_all_due)->Name("advance/all_due")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_advance_lap_due)->Name("advance/lap_due")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_advance_30s)->Name("advance/30s")->Arg(1000)->Arg(10000)->Arg(100000);
BENCHMARK(BM_next_due_empty)->Name("next_due/empty");
BENCHMARK(BM_next_due_1_near)->Name("next_due/1_near");
BENCHMARK(BM_next_due_1_far)->Name("next_due/1_far");
BENCHMARK(BM_next_due_1_beyond_lap)->Name("next_due/1_30s");
BENCHMARK(BM_next_due_16_spread)->Name("next_due/16_spread");
BENCHMARK(BM_next_due_dense)->Name("next_due/dense")->Arg(1000)->Arg(100000);

BENCHMARK_MAIN();
