// Per-shard object pools with HAProxy's needed_avg trimming.
//
// A pool belongs to one shard: alloc() and free() are called only from the owning thread, so the
// free list needs no lock. The counters are single-writer (core::Counter) so `show pools` can read
// them from the control shard.
//
// Policy (DESIGN.md §6; src/pool/README.md has the reasoning and a worked example):
//  - needed_avg is a sliding average of `used` over the last kSamples (1024) frees, kept as the
//    fixed-point sliding sum S = needed_avg * kSamples (HAProxy's swrate). On each free, with u the
//    number of objects in use *including the one being freed*:
//        S = S - ceil(S / 1024) + u
//    The sample counts the freed object because it was needed: a pool that cycles one object
//    (used 0 -> 1 -> 0) has needed_avg 1 and keeps that object. Removing ceil(S/1024) rather than
//    floor lets S decay to exactly 0 on an idle pool and settle at exactly u*1024 for a steady u.
//    needed_avg() = ceil(S / 1024).
//  - When alloc() finds the free list empty (a miss), needed_avg is bumped up by a quarter of its
//    history towards `allocated` (A, counted after the miss, so it includes the new object):
//        if (S < A*1024) S = S + ceil((A*1024 - S) / 4)
//    i.e. S = 3/4 S + 1/4 (A*1024), rounded up. The gap to A shrinks to at most 3/4 of itself per
//    miss (never overshooting) and reaches exactly 0, so repeated misses converge on `allocated`
//    in about log_{4/3}(gap) misses (for a 1000-object gap, ~50 misses to zero, ~16 to 1%). While a
//    pool grows one miss per alloc, needed_avg trails allocated by about 3 objects. A miss never
//    lowers S.
//  - The pool is "crowded" when allocated >= 1.25 * needed_avg, evaluated exactly as
//    4*allocated >= 5*needed_avg (with integer needed_avg/4 a small pool, needed_avg < 4, would
//    count as crowded even when it holds only what it needs, and would churn the allocator).
//    free() of a crowded pool returns the object to the allocator; otherwise it keeps it.
//  - trim_idle(), called by the shard when it is idle, first records the current `used` as
//    kIdleWeight (64) samples (S = S - ceil(S*64/1024) + used*64: one idle call ages the history
//    like 64 frees), then releases free objects while the pool is crowded. Repeated idle calls
//    decay needed_avg towards `used`, so a pool shrinks after a spike even with no more frees
//    (history weight 1/e after 16 calls, ~5% after 48).
//  - hint_needed(n) raises S to at least n*1024 (needed_avg >= n) and never lowers it. A process
//    taking over from another at a reload calls it with the demand the old process saw, so its
//    free() calls keep objects up to 1.25 * n instead of trimming to nothing and re-growing one
//    miss at a time under the load that moves over. It allocates nothing; the hint is history like
//    any other and ages the same way (frees and trim_idle() decay it towards real use).
//  - A pool may have a hard limit on `allocated`; alloc() past it fails (returns nullptr) and counts
//    `failed`. A failed alloc() is not a miss and does not move needed_avg.
// Invariant, after every call: allocated == used + free_count().
// Memory comes from the shard's mimalloc heap (set with set_heap(), before the first alloc()) or
// from mimalloc's default heap (mi_malloc_aligned) when none is set. Objects are 16-byte aligned
// and their size is rounded up to a multiple of 16 (minimum 16).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "edgeshard/core/counter.hpp"

struct mi_heap_s;

namespace es::pool {

inline constexpr std::uint64_t kSamples = 1024;
inline constexpr std::uint64_t kIdleWeight = 64;  // samples one trim_idle() call is worth
inline constexpr std::size_t kAlign = 16;
// hint_needed() clamps to this many objects, so S and the trim arithmetic (S * kIdleWeight) stay
// far from 2^64 whatever the hint says.
inline constexpr std::uint64_t kMaxNeededHint = std::uint64_t(1) << 40;

struct PoolCounters {
    core::Counter allocated;   // objects obtained from the allocator and not yet returned to it
    core::Counter used;        // objects handed out and not yet freed
    core::Counter failed;      // alloc() that returned nullptr
    core::Counter needed_sum;  // needed_avg * kSamples (fixed-point sliding sum)
    core::Counter allocs;      // alloc() calls
    core::Counter misses;      // alloc() calls that went to the allocator
    core::Counter releases;    // objects given back to the allocator
    std::uint64_t needed_avg() const { return (needed_sum.get() + kSamples - 1) / kSamples; }
};

class RawPool {
  public:
    // size: object size in bytes (rounded up to 16); limit: max allocated (0 = unlimited)
    RawPool(std::string name, std::size_t size, std::uint64_t limit = 0);
    ~RawPool();
    RawPool(const RawPool&) = delete;
    RawPool& operator=(const RawPool&) = delete;

    // nullptr when the limit is reached or the allocator fails. The hit (an object on the free
    // list) and the plain free are inline: they run several times per request on the data path.
    void* alloc() {
#if !defined(__SANITIZE_ADDRESS__)
        if (free_) [[likely]] {
            c_.allocs.inc();
            c_.used.inc();
            FreeNode* n = free_;
            free_ = n->next;
            --nfree_;
            return n;
        }
#endif
        return alloc_slow();
    }
    // p must come from this pool's alloc()
    void free(void* p) {
#if !defined(__SANITIZE_ADDRESS__)
        const std::uint64_t used = c_.used.get();
        if (p && used > 0) [[likely]] {
            const std::uint64_t sum = c_.needed_sum.get();
            const std::uint64_t nsum = sum - (sum + kSamples - 1) / kSamples + used;
            c_.needed_sum.set(nsum);
            c_.used.set(used - 1);
            // crowded(), on the sum just computed
            if (4 * c_.allocated.get() < 5 * ((nsum + kSamples - 1) / kSamples)) [[likely]] {
                auto* n = static_cast<FreeNode*>(p);
                n->next = free_;
                free_ = n;
                ++nfree_;
            } else {
                backend_free(p);
            }
            return;
        }
#endif
        free_slow(p);
    }
    std::size_t trim_idle();         // returns the number of objects released
    std::size_t release_all_free();  // memory pressure / shutdown: releases every free object
    // needed_avg = max(needed_avg, min(n, kMaxNeededHint)); no allocation, owning shard only.
    void hint_needed(std::uint64_t n);

    // 4*allocated >= 5*needed_avg: what free() and trim_idle() test (public for `show pools`)
    bool is_crowded() const { return crowded(); }

    void set_heap(mi_heap_s* heap) { heap_ = heap; }
    const std::string& name() const { return name_; }
    std::size_t size() const { return size_; }
    std::uint64_t limit() const { return limit_; }
    const PoolCounters& counters() const { return c_; }
    std::uint64_t free_count() const { return nfree_; }

  private:
    struct FreeNode {
        FreeNode* next;
    };
    bool crowded() const;
    void* alloc_slow();
    void free_slow(void* p);
    void* backend_alloc();
    void backend_free(void* p);
    void push_free(void* p);
    void* pop_free();

    std::string name_;
    std::size_t size_;
    std::uint64_t limit_;
    FreeNode* free_ = nullptr;
    std::uint64_t nfree_ = 0;
    mi_heap_s* heap_ = nullptr;
    PoolCounters c_;
};

// Typed front: objects are constructed on make() and destroyed on destroy(), so a pooled object
// is always fully initialised by its constructor.
template <typename T>
class ObjectPool {
    static_assert(alignof(T) <= kAlign, "pooled objects are 16-byte aligned");

  public:
    explicit ObjectPool(std::string name, std::uint64_t limit = 0)
        : raw_(std::move(name), sizeof(T), limit) {}
    template <typename... A>
    T* make(A&&... a) {
        void* p = raw_.alloc();
        if (!p) return nullptr;
        if constexpr (std::is_nothrow_constructible_v<T, A&&...>) {
            return new (p) T(std::forward<A>(a)...);
        } else {
            // boot-time types may throw from their constructor: give the slot back so `used` stays true
            try {
                return new (p) T(std::forward<A>(a)...);
            } catch (...) {
                raw_.free(p);
                throw;
            }
        }
    }
    void destroy(T* t) {
        t->~T();
        raw_.free(t);
    }
    RawPool& raw() { return raw_; }
    const RawPool& raw() const { return raw_; }

  private:
    RawPool raw_;
};

}  // namespace es::pool
