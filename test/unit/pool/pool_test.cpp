// RawPool / ObjectPool: the needed_avg policy (steady state, spike, idle trim), limits, alignment
// and the allocated == used + free invariant against a model.
#include <doctest/doctest.h>

#include <mimalloc.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/pool/pool.hpp"

using es::pool::ObjectPool;
using es::pool::RawPool;

namespace {

void check_invariant(const RawPool& p) {
    const auto& c = p.counters();
    REQUIRE(c.allocated.get() == c.used.get() + p.free_count());
}

// Holds `k` objects at all times while cycling one: alloc a new one, free the oldest.
void cycle(RawPool& p, std::vector<void*>& live, std::size_t k, int rounds) {
    while (live.size() < k) live.push_back(p.alloc());
    for (int i = 0; i < rounds; ++i) {
        live.push_back(p.alloc());
        p.free(live.front());
        live.erase(live.begin());
    }
}

}  // namespace

TEST_CASE("size is rounded up to 16 and objects are 16-byte aligned") {
    RawPool a("a", 1);
    RawPool b("b", 17);
    RawPool c("c", 48);
    RawPool z("z", 0);
    CHECK(a.size() == 16);
    CHECK(b.size() == 32);
    CHECK(c.size() == 48);
    CHECK(z.size() == 16);
    std::vector<void*> objs;
    for (int i = 0; i < 100; ++i) {
        for (RawPool* p : {&a, &b, &c}) {
            void* o = p->alloc();
            REQUIRE(o);
            CHECK(reinterpret_cast<std::uintptr_t>(o) % 16 == 0);
            std::memset(o, 0xab, p->size());  // the whole rounded size is usable
            objs.push_back(o);
        }
    }
    for (std::size_t i = 0; i < objs.size(); ++i) (i % 3 == 0 ? a : i % 3 == 1 ? b : c).free(objs[i]);
}

TEST_CASE("a mimalloc heap backs the pool when set") {
    mi_heap_t* heap = mi_heap_new();
    {
        RawPool p("heap", 64);
        p.set_heap(heap);
        void* o = p.alloc();
        REQUIRE(o);
        CHECK(mi_heap_contains_block(heap, o));
        CHECK(reinterpret_cast<std::uintptr_t>(o) % 16 == 0);
        p.free(o);
    }
    mi_heap_delete(heap);
}

TEST_CASE("a single object cycling is kept: one miss, then no allocator traffic") {
    RawPool p("one", 64);
    for (int i = 0; i < 10000; ++i) {
        void* o = p.alloc();
        REQUIRE(o);
        p.free(o);
        check_invariant(p);
    }
    CHECK(p.counters().misses.get() == 1);
    CHECK(p.counters().releases.get() == 0);
    CHECK(p.counters().needed_avg() == 1);
    CHECK(p.counters().allocated.get() == 1);
}

TEST_CASE("steady state keeps its objects: misses stop growing after warm-up") {
    for (std::size_t k : {2u, 3u, 10u, 100u, 1000u}) {
        CAPTURE(k);
        RawPool p("steady", 128);
        std::vector<void*> live;
        cycle(p, live, k, 5000);
        const auto misses = p.counters().misses.get();
        const auto releases = p.counters().releases.get();
        cycle(p, live, k, 20000);
        CHECK(p.counters().misses.get() == misses);
        CHECK(p.counters().releases.get() == releases);
        // k in use plus the one in flight during a cycle
        CHECK(p.counters().needed_avg() >= k);
        CHECK(p.counters().needed_avg() <= k + 1);
        CHECK(p.counters().allocated.get() <= k + 1);
        check_invariant(p);
        for (void* o : live) p.free(o);
    }
}

TEST_CASE("repeated misses converge needed_avg on allocated") {
    RawPool p("grow", 32);
    std::vector<void*> live;
    for (int i = 0; i < 1000; ++i) {
        live.push_back(p.alloc());
        // growing one miss per alloc: needed_avg trails allocated by about 3 (gap' = 3/4 (gap + 1))
        if (i > 50) CHECK(p.counters().needed_avg() + 4 >= p.counters().allocated.get());
        CHECK(p.counters().needed_avg() <= p.counters().allocated.get());
    }
    CHECK(p.counters().misses.get() == 1000);
    for (void* o : live) p.free(o);
}

TEST_CASE("a spike then frees releases down to about 1.25 x needed_avg") {
    RawPool p("spike", 256);
    std::vector<void*> live;
    cycle(p, live, 10, 5000);  // a history of 10-11 in use
    for (int i = 0; i < 2000; ++i) live.push_back(p.alloc());
    const auto peak = p.counters().allocated.get();
    CHECK(peak >= 2010);
    // back to the steady 10
    while (live.size() > 10) {
        p.free(live.back());
        live.pop_back();
        check_invariant(p);
    }
    const auto& c = p.counters();
    CHECK(c.releases.get() > 0);
    CHECK(c.allocated.get() < peak);
    // free() releases the one object it is given while allocated >= 1.25 * needed_avg; needed_avg
    // falls a little faster than one object per free here, so the pool ends within a few % above it.
    const double target = 1.25 * double(c.needed_avg());
    CHECK(double(c.allocated.get()) >= target - 1);
    CHECK(double(c.allocated.get()) <= target * 1.05);
    check_invariant(p);
    for (void* o : live) p.free(o);
}

TEST_CASE("trim_idle shrinks a pool after a spike") {
    RawPool p("idle", 64);
    std::vector<void*> live;
    cycle(p, live, 5, 2000);
    for (int i = 0; i < 1000; ++i) live.push_back(p.alloc());
    while (live.size() > 5) {
        p.free(live.back());
        live.pop_back();
    }
    const auto before = p.counters().allocated.get();
    CHECK(before > 100);  // the frees alone keep ~1.25 x a needed_avg still inflated by the spike
    std::size_t total = 0;
    for (int i = 0; i < 400; ++i) total += p.trim_idle();
    const auto& c = p.counters();
    CHECK(total == before - c.allocated.get());
    CHECK(c.needed_avg() == 5);  // decayed to what is in use now
    CHECK(c.allocated.get() <= 6);
    CHECK(c.allocated.get() >= 5);
    check_invariant(p);
    // an idle pool with nothing in use ends empty
    for (void* o : live) p.free(o);
    live.clear();
    for (int i = 0; i < 400; ++i) p.trim_idle();
    CHECK(c.needed_avg() == 0);
    CHECK(c.allocated.get() == 0);
    CHECK(p.free_count() == 0);
}

TEST_CASE("trim_idle does not release what the pool needs") {
    RawPool p("keep", 64);
    std::vector<void*> live;
    cycle(p, live, 20, 3000);
    const auto allocated = p.counters().allocated.get();
    for (int i = 0; i < 100; ++i) CHECK(p.trim_idle() <= 1);
    CHECK(p.counters().allocated.get() + 1 >= allocated);
    for (void* o : live) p.free(o);
}

TEST_CASE("hint_needed raises needed_avg, never lowers it and allocates nothing") {
    RawPool p("hint", 64);
    const auto& c = p.counters();
    p.hint_needed(100);
    CHECK(c.needed_avg() == 100);
    CHECK(c.needed_sum.get() == 100 * es::pool::kSamples);
    CHECK(c.allocated.get() == 0);
    CHECK(c.misses.get() == 0);
    CHECK(c.allocs.get() == 0);
    CHECK(p.free_count() == 0);
    p.hint_needed(10);  // lower: no effect
    CHECK(c.needed_avg() == 100);
    p.hint_needed(0);
    CHECK(c.needed_avg() == 100);
    p.hint_needed(250);
    CHECK(c.needed_avg() == 250);
    // an absurd hint is clamped, and the trim arithmetic keeps working on it
    p.hint_needed(UINT64_MAX);
    CHECK(c.needed_avg() == es::pool::kMaxNeededHint);
    for (int i = 0; i < 2000; ++i) p.trim_idle();
    CHECK(c.needed_avg() == 0);
    CHECK(c.allocated.get() == 0);
}

TEST_CASE("a hinted pool keeps what the previous process needed through idle trims") {
    // Two fresh pools (a process that just took over): a burst of 100 that goes away, 8 idle
    // turns, then the burst again. The hinted one was told the old process needed 400.
    auto run = [](RawPool& p) {
        std::vector<void*> live;
        for (int i = 0; i < 100; ++i) live.push_back(p.alloc());
        for (void* o : live) p.free(o);
        live.clear();
        for (int i = 0; i < 8; ++i) p.trim_idle();
        const auto kept = p.free_count();
        const auto misses = p.counters().misses.get();
        for (int i = 0; i < 100; ++i) live.push_back(p.alloc());
        const auto regrow = p.counters().misses.get() - misses;
        for (void* o : live) p.free(o);
        check_invariant(p);
        return std::pair<std::uint64_t, std::uint64_t>(kept, regrow);
    };
    RawPool plain("plain", 64);
    RawPool hinted("hinted", 64);
    hinted.hint_needed(400);
    const auto [plain_kept, plain_regrow] = run(plain);
    const auto [hinted_kept, hinted_regrow] = run(hinted);
    CHECK(hinted_kept == 100);
    CHECK(hinted_regrow == 0);
    CHECK(hinted.counters().releases.get() == 0);
    CHECK(plain_kept < 100);  // trimmed after the burst ...
    CHECK(plain_regrow > 0);  // ... and re-grown by misses when it came back
    CHECK(plain_kept + plain_regrow == 100);

    // The hint is a prior, not a floor: real use replaces it at the usual pace (~1024 frees).
    RawPool aged("aged", 64);
    aged.hint_needed(400);
    std::vector<void*> live;
    cycle(aged, live, 1, 10000);
    CHECK(aged.counters().needed_avg() <= 2);
    for (void* o : live) aged.free(o);
}

TEST_CASE("hard limit: alloc fails past it and counts failed") {
    RawPool p("limited", 32, 3);
    void* a = p.alloc();
    void* b = p.alloc();
    void* c = p.alloc();
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    CHECK(p.alloc() == nullptr);
    CHECK(p.alloc() == nullptr);
    CHECK(p.counters().failed.get() == 2);
    CHECK(p.counters().allocs.get() == 5);
    CHECK(p.counters().misses.get() == 3);
    CHECK(p.counters().allocated.get() == 3);
    p.free(b);
    void* d = p.alloc();  // the limit is on allocated: a freed (or released) slot is available again
    CHECK(d);
    CHECK(p.counters().failed.get() == 2);
    CHECK(p.counters().allocated.get() == 3);
    p.free(a);
    p.free(c);
    p.free(d);
    check_invariant(p);
}

TEST_CASE("release_all_free empties the free list") {
    RawPool p("all", 32);
    std::vector<void*> live;
    cycle(p, live, 50, 100);
    for (void* o : live) p.free(o);
    const auto free_before = p.free_count();
    CHECK(free_before > 0);
    CHECK(p.release_all_free() == free_before);
    CHECK(p.counters().allocated.get() == 0);
    check_invariant(p);
}

TEST_CASE("destroying a pool with objects in use counts a bug and does not crash") {
    const auto bugs = es::core::bug_count();
    void* leaked = nullptr;
    {
        RawPool p("leaky", 32);
        leaked = p.alloc();
        p.free(p.alloc());
    }
    CHECK(es::core::bug_count() == bugs + 1);
    mi_free(leaked);
}

namespace {
struct Tracked {
    static inline int ctors = 0;
    static inline int dtors = 0;
    int a;
    std::uint64_t b[3];
    explicit Tracked(int x) : a(x), b{1, 2, 3} { ++ctors; }
    ~Tracked() { ++dtors; }
};

struct Throwing {
    explicit Throwing(bool fail) {
        if (fail) throw 42;
    }
};
}  // namespace

TEST_CASE("ObjectPool constructs on make and destroys on destroy") {
    Tracked::ctors = Tracked::dtors = 0;
    {
        ObjectPool<Tracked> pool("tracked");
        CHECK(pool.raw().size() == 32);
        std::vector<Tracked*> v;
        for (int i = 0; i < 100; ++i) v.push_back(pool.make(i));
        CHECK(Tracked::ctors == 100);
        for (int i = 0; i < 100; ++i) {
            CHECK(v[i]->a == i);
            CHECK(v[i]->b[2] == 3);
        }
        for (int i = 0; i < 50; ++i) pool.destroy(v[i]);
        CHECK(Tracked::dtors == 50);
        // reused slots are constructed afresh
        for (int i = 0; i < 50; ++i) v[i] = pool.make(1000 + i);
        CHECK(Tracked::ctors == 150);
        for (int i = 0; i < 50; ++i) CHECK(v[i]->a == 1000 + i);
        for (Tracked* t : v) pool.destroy(t);
        CHECK(Tracked::dtors == 150);
        CHECK(pool.raw().counters().used.get() == 0);
    }
    CHECK(Tracked::ctors == Tracked::dtors);
}

TEST_CASE("ObjectPool gives the slot back when the constructor throws") {
    ObjectPool<Throwing> pool("throwing");
    CHECK_THROWS(pool.make(true));
    CHECK(pool.raw().counters().used.get() == 0);
    Throwing* t = pool.make(false);
    REQUIRE(t);
    pool.destroy(t);
    check_invariant(pool.raw());
}

TEST_CASE("ObjectPool honours the limit") {
    Tracked::ctors = Tracked::dtors = 0;
    ObjectPool<Tracked> pool("limited", 2);
    Tracked* a = pool.make(1);
    Tracked* b = pool.make(2);
    CHECK(pool.make(3) == nullptr);
    CHECK(Tracked::ctors == 2);  // no construction on a failed alloc
    pool.destroy(a);
    pool.destroy(b);
}

TEST_CASE("randomized 100k operations keep the counters consistent with a model") {
    std::mt19937_64 rng(20261122);
    for (std::uint64_t limit : {std::uint64_t(0), std::uint64_t(300)}) {
        CAPTURE(limit);
        RawPool p("random", 40, limit);
        std::vector<std::pair<void*, std::uint64_t>> live;  // object, stamp written into it
        std::set<void*> live_set;
        std::uint64_t allocs = 0, failed = 0, stamp = 0;
        // phases with different alloc/free mixes make the pool grow, shrink and idle-trim
        for (int op = 0; op < 100000; ++op) {
            const int phase = (op / 5000) % 4;
            const unsigned alloc_pct = phase == 0 ? 70 : phase == 1 ? 50 : phase == 2 ? 30 : 50;
            const unsigned r = unsigned(rng() % 100);
            if (r < alloc_pct) {
                void* o = p.alloc();
                ++allocs;
                if (!o) {
                    ++failed;
                    REQUIRE(limit != 0);
                    REQUIRE(p.counters().allocated.get() == limit);
                    REQUIRE(p.free_count() == 0);
                } else {
                    REQUIRE(reinterpret_cast<std::uintptr_t>(o) % 16 == 0);
                    REQUIRE(live_set.insert(o).second);  // never handed out twice
                    ++stamp;
                    std::memcpy(static_cast<char*>(o) + 32, &stamp, sizeof stamp);
                    live.emplace_back(o, stamp);
                }
            } else if (!live.empty()) {
                const std::size_t i = rng() % live.size();
                auto [o, s] = live[i];
                std::uint64_t got;
                std::memcpy(&got, static_cast<char*>(o) + 32, sizeof got);
                REQUIRE(got == s);  // nobody else wrote into a live object
                live[i] = live.back();
                live.pop_back();
                live_set.erase(o);
                p.free(o);
            }
            if (phase == 3 && r % 10 == 0) p.trim_idle();
            const auto& c = p.counters();
            REQUIRE(c.used.get() == live.size());
            REQUIRE(c.allocated.get() == c.used.get() + p.free_count());
            REQUIRE(c.allocs.get() == allocs);
            REQUIRE(c.failed.get() == failed);
            REQUIRE(c.misses.get() - c.releases.get() == c.allocated.get());
            if (limit) REQUIRE(c.allocated.get() <= limit);
        }
        if (limit) CHECK(failed > 0);
        for (auto& [o, s] : live) p.free(o);
        check_invariant(p);
    }
}
