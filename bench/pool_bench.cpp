// Pool alloc/free against the allocators it replaces (DESIGN.md §6, §10).
//
// Steady state: one alloc + one free per iteration with a working set held live, so the pool
// serves every alloc from its free list (the case a shard sees under constant load).
// Burst: 1024 allocs then 1024 frees per iteration (a connection storm arriving and leaving); the
// pool's history is warmed first so it keeps its objects between bursts.
#include <benchmark/benchmark.h>
#include <mimalloc.h>

#include <cstdlib>
#include <vector>

#include "edgeshard/pool/pool.hpp"

namespace {

constexpr std::size_t kObjSize = 256;  // about a session object
constexpr std::size_t kLive = 64;      // objects held across iterations (so the free list is not empty)
constexpr std::size_t kBurst = 1024;

struct PoolAlloc {
    es::pool::RawPool pool{"bench", kObjSize};
    void* alloc() { return pool.alloc(); }
    void free(void* p) { pool.free(p); }
};
struct MiAlloc {
    void* alloc() { return mi_malloc_aligned(kObjSize, 16); }
    void free(void* p) { mi_free(p); }
};
struct LibcAlloc {
    void* alloc() { return std::malloc(kObjSize); }
    void free(void* p) { std::free(p); }
};

template <typename A>
void BM_steady(benchmark::State& state) {
    A a;
    std::vector<void*> live;
    for (std::size_t i = 0; i < kLive; ++i) live.push_back(a.alloc());
    std::size_t k = 0;
    for (auto _ : state) {
        void* p = a.alloc();
        benchmark::DoNotOptimize(p);
        // free a different object than the one just taken, as a shard does (sessions end in a
        // different order from the one they start in)
        a.free(live[k]);
        live[k] = p;
        k = (k + 1) % kLive;
    }
    for (void* p : live) a.free(p);
    state.SetItemsProcessed(state.iterations());
}

template <typename A>
void BM_burst(benchmark::State& state) {
    A a;
    std::vector<void*> objs(kBurst);
    for (int warm = 0; warm < 4; ++warm) {
        for (auto& p : objs) p = a.alloc();
        for (void* p : objs) a.free(p);
    }
    for (auto _ : state) {
        for (auto& p : objs) p = a.alloc();
        benchmark::DoNotOptimize(objs.data());
        for (void* p : objs) a.free(p);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * std::int64_t(kBurst));
}

}  // namespace

BENCHMARK_TEMPLATE(BM_steady, PoolAlloc)->Name("steady/pool");
BENCHMARK_TEMPLATE(BM_steady, MiAlloc)->Name("steady/mi_malloc");
BENCHMARK_TEMPLATE(BM_steady, LibcAlloc)->Name("steady/malloc");
BENCHMARK_TEMPLATE(BM_burst, PoolAlloc)->Name("burst1024/pool");
BENCHMARK_TEMPLATE(BM_burst, MiAlloc)->Name("burst1024/mi_malloc");
BENCHMARK_TEMPLATE(BM_burst, LibcAlloc)->Name("burst1024/malloc");

BENCHMARK_MAIN();
