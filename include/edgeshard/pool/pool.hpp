// Per-shard object pools with HAProxy's needed_avg trimming.
//
// A pool belongs to one shard: alloc() and free() are called only from the owning thread, so the
// free list needs no lock. The counters are single-writer (core::Counter) so `show pools` can read
// them from the control shard.
//
// Policy (DESIGN.md §6):
//  - needed_avg is a sliding average of `used` over the last kSamples (1024) frees.
//  - When alloc() finds the free list empty (a miss), needed_avg is bumped up by a quarter of its
//    history towards `allocated`, so a pool that keeps missing grows its target quickly.
//  - free() returns the object to the allocator instead of the free list when
//    allocated >= 1.25 * needed_avg (the pool is "crowded"); otherwise it keeps it.
//  - trim_idle(), called by the shard when it is idle, releases free objects while the pool is
//    crowded, so a pool shrinks after a spike even with no more frees.
//  - A pool may have a hard limit on `allocated`; alloc() past it fails (returns nullptr) and counts
//    `failed`.
// Memory comes from the shard's mimalloc heap (set with set_heap()) or malloc when none is set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <utility>

#include "edgeshard/core/counter.hpp"

struct mi_heap_s;

namespace es::pool {

inline constexpr std::uint64_t kSamples = 1024;

struct PoolCounters {
    core::Counter allocated;  // objects obtained from the allocator and not yet returned to it
    core::Counter used;       // objects handed out and not yet freed
    core::Counter failed;     // alloc() that returned nullptr
    core::Counter needed_sum; // needed_avg * kSamples (fixed-point sliding sum)
    core::Counter allocs;     // alloc() calls
    core::Counter misses;     // alloc() calls that went to the allocator
    core::Counter releases;   // objects given back to the allocator
    std::uint64_t needed_avg() const { return (needed_sum.get() + kSamples - 1) / kSamples; }
};

class RawPool {
public:
    // size: object size in bytes (rounded up to 16); limit: max allocated (0 = unlimited)
    RawPool(std::string name, std::size_t size, std::uint64_t limit = 0);
    ~RawPool();
    RawPool(const RawPool&) = delete;
    RawPool& operator=(const RawPool&) = delete;

    void* alloc();           // nullptr when the limit is reached or the allocator fails
    void free(void* p);      // p must come from this pool's alloc()
    std::size_t trim_idle(); // returns the number of objects released
    std::size_t release_all_free();

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
    void* backend_alloc();
    void backend_free(void* p);

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
public:
    explicit ObjectPool(std::string name, std::uint64_t limit = 0) : raw_(std::move(name), sizeof(T), limit) {}
    template <typename... A>
    T* make(A&&... a) {
        void* p = raw_.alloc();
        if (!p) return nullptr;
        return new (p) T(std::forward<A>(a)...);
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
