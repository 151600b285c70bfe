// Counter update costs (DESIGN.md §7, IO_URING.md §5): why shards use single-writer counters.
//
//   single_writer     core::Counter::inc(): relaxed load + relaxed store, a plain mov/add/mov
//   atomic_fetch_add  std::atomic::fetch_add with its result used: `lock xadd`
//   rseq_percpu_add   read cpu_id from glibc's rseq area, plain add into that CPU's slot
//   rseq_percpu_lock  the same with a lock-prefixed add (safe without a critical section)
//   2 threads         each its own cache line / both on one atomic / both on one line (false sharing)
//
// The 2-thread cases only show contention when the two threads run on two CPUs at once; pinned to
// a single CPU (taskset -c 1) they are time-sliced and measure the single-thread cost. The results
// file records both pinnings.
#include <benchmark/benchmark.h>
#include <sys/rseq.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "edgeshard/core/counter.hpp"

namespace {

struct alignas(64) Slot {
    std::atomic<std::uint64_t> v{0};
};
static_assert(sizeof(Slot) == 64);

constexpr std::size_t kMaxCpus = 1024;
Slot g_percpu[kMaxCpus];
Slot g_shared;
Slot g_own[2];
struct alignas(64) SameLine {
    es::core::Counter a;
    es::core::Counter b;
};
SameLine g_same_line;
// Single-thread subjects live at namespace scope, like a shard's heap-allocated counter block: a
// local whose address never escapes lets the compiler delete the whole loop, atomics or not.
struct alignas(64) OwnCounter {
    es::core::Counter c;
};
OwnCounter g_counter;
Slot g_private;

// glibc (2.35+) registered this thread's struct rseq at thread pointer + __rseq_offset; the kernel
// keeps cpu_id current on every return to user space. __rseq_size == 0 means glibc did not
// register it (old kernel, or GLIBC_TUNABLES=glibc.pthread.rseq=0).
bool rseq_available() {
    return __rseq_size > 0;
}

inline const volatile struct rseq* rseq_area() {
    return reinterpret_cast<const volatile struct rseq*>(static_cast<char*>(__builtin_thread_pointer()) +
                                                         __rseq_offset);
}

inline std::uint32_t rseq_cpu_id() {
    return rseq_area()->cpu_id;
}

// An rseq-*style* per-CPU add: read cpu_id, then a plain (non-locked) add into that CPU's slot.
// Without a registered rseq critical section (start/commit/abort IPs, as librseq's
// rseq_load_add_store does) this is only correct while the thread cannot migrate or be preempted
// by another writer of the same slot between the load and the store: a migration in that window
// makes two CPUs' writers race on one slot and lose updates. Guaranteeing that is exactly what a
// pinned, single-writer shard already does, which is why shards use core::Counter and skip the
// cpu_id lookup altogether.
inline void percpu_plain_add(std::uint64_t n) {
    auto& v = g_percpu[rseq_cpu_id() % kMaxCpus].v;
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

inline void percpu_lock_add(std::uint64_t n) {
    g_percpu[rseq_cpu_id() % kMaxCpus].v.fetch_add(n, std::memory_order_relaxed);
}

void BM_single_writer(benchmark::State& state) {
    es::core::Counter& c = g_counter.c;
    for (auto _ : state) c.inc();
    benchmark::DoNotOptimize(c.get());
    state.SetItemsProcessed(state.iterations());
}

void BM_atomic_fetch_add(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(g_private.v.fetch_add(1, std::memory_order_relaxed));
    state.SetItemsProcessed(state.iterations());
}

void BM_rseq_cpu_id_read(benchmark::State& state) {
    if (!rseq_available()) {
        state.SkipWithError("rseq not registered by glibc");
        return;
    }
    for (auto _ : state) benchmark::DoNotOptimize(rseq_cpu_id());
    state.SetItemsProcessed(state.iterations());
}

void BM_rseq_percpu_add(benchmark::State& state) {
    if (!rseq_available()) {
        state.SkipWithError("rseq not registered by glibc");
        return;
    }
    for (auto _ : state) percpu_plain_add(1);
    state.SetItemsProcessed(state.iterations());
}

void BM_rseq_percpu_lock_add(benchmark::State& state) {
    if (!rseq_available()) {
        state.SkipWithError("rseq not registered by glibc");
        return;
    }
    for (auto _ : state) percpu_lock_add(1);
    state.SetItemsProcessed(state.iterations());
}

// ---- two threads ----

void BM_2t_own_counter(benchmark::State& state) {
    auto& v = g_own[state.thread_index() % 2].v;
    for (auto _ : state) v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    state.SetItemsProcessed(state.iterations());
}

void BM_2t_shared_atomic(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(g_shared.v.fetch_add(1, std::memory_order_relaxed));
    state.SetItemsProcessed(state.iterations());
}

void BM_2t_same_line(benchmark::State& state) {
    es::core::Counter& c = state.thread_index() % 2 ? g_same_line.b : g_same_line.a;
    for (auto _ : state) c.inc();
    state.SetItemsProcessed(state.iterations());
}

void BM_2t_rseq_percpu_add(benchmark::State& state) {
    if (!rseq_available()) {
        state.SkipWithError("rseq not registered by glibc");
        return;
    }
    for (auto _ : state) percpu_plain_add(1);
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_single_writer)->Name("single_writer");
BENCHMARK(BM_atomic_fetch_add)->Name("atomic_fetch_add");
BENCHMARK(BM_rseq_cpu_id_read)->Name("rseq_cpu_id_read");
BENCHMARK(BM_rseq_percpu_add)->Name("rseq_percpu_add");
BENCHMARK(BM_rseq_percpu_lock_add)->Name("rseq_percpu_lock_add");
BENCHMARK(BM_2t_own_counter)->Name("2t/own_counter")->Threads(2);
BENCHMARK(BM_2t_shared_atomic)->Name("2t/shared_atomic")->Threads(2);
BENCHMARK(BM_2t_same_line)->Name("2t/same_line")->Threads(2);
BENCHMARK(BM_2t_rseq_percpu_add)->Name("2t/rseq_percpu_add")->Threads(2);

BENCHMARK_MAIN();
