// RawPool: the free list and the needed_avg policy. The formulas and why they are shaped this way
// are in include/edgeshard/pool/pool.hpp and src/pool/README.md.
#include "edgeshard/pool/pool.hpp"

#include <mimalloc.h>

#include <algorithm>

#include "edgeshard/core/assert.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ES_POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ES_POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ES_POOL_POISON(p, n) ((void)(p), (void)(n))
#define ES_POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace es::pool {

namespace {

constexpr std::size_t round_size(std::size_t size) {
    if (size < sizeof(void*)) size = sizeof(void*);
    return (size + kAlign - 1) & ~(kAlign - 1);
}

}  // namespace

RawPool::RawPool(std::string name, std::size_t size, std::uint64_t limit)
    : name_(std::move(name)), size_(round_size(size)), limit_(limit) {}

RawPool::~RawPool() {
    release_all_free();
    // Objects still out are not ours to free (their owner may still touch them); leaking them is
    // survivable, so this is a counted bug rather than a crash.
    ES_BUG(c_.used.get() == 0, "pool destroyed with objects still in use");
}

bool RawPool::crowded() const {
    return 4 * c_.allocated.get() >= 5 * c_.needed_avg();
}

void* RawPool::backend_alloc() {
    return heap_ ? mi_heap_malloc_aligned(heap_, size_, kAlign) : mi_malloc_aligned(size_, kAlign);
}

void RawPool::backend_free(void* p) {
    mi_free(p);
    c_.allocated.add(std::uint64_t(-1));
    c_.releases.inc();
}

// Objects on the free list are poisoned under ASan (all but the link while it is being read), so
// a use after destroy() is reported even though the memory was never returned to the allocator.
void RawPool::push_free(void* p) {
    auto* n = static_cast<FreeNode*>(p);
    n->next = free_;
    free_ = n;
    ++nfree_;
    ES_POOL_POISON(p, size_);
}

void* RawPool::pop_free() {
    FreeNode* n = free_;
    ES_POOL_UNPOISON(n, size_);
    free_ = n->next;
    --nfree_;
    return n;
}

void* RawPool::alloc_slow() {
    c_.allocs.inc();
    if (free_) {
        c_.used.inc();
        return pop_free();
    }
    if (limit_ != 0 && c_.allocated.get() >= limit_) {
        c_.failed.inc();
        return nullptr;
    }
    c_.misses.inc();
    void* p = backend_alloc();
    if (!p) {
        c_.failed.inc();
        return nullptr;
    }
    c_.allocated.inc();
    c_.used.inc();
    // A miss means the history under-estimates the need: move a quarter of the way to `allocated`,
    // rounding up so the gap closes completely instead of stalling at a few units.
    const std::uint64_t target = c_.allocated.get() * kSamples;
    const std::uint64_t sum = c_.needed_sum.get();
    if (sum < target) c_.needed_sum.set(sum + (target - sum + 3) / 4);
    return p;
}

void RawPool::free_slow(void* p) {
    if (!p) return;
    const std::uint64_t used = c_.used.get();
    ES_BUG(used > 0, "pool free() without a matching alloc()");
    const std::uint64_t sum = c_.needed_sum.get();
    c_.needed_sum.set(sum - (sum + kSamples - 1) / kSamples + used);
    if (used > 0) c_.used.set(used - 1);
    if (crowded()) {
        backend_free(p);
    } else {
        push_free(p);
    }
}

std::size_t RawPool::trim_idle() {
    const std::uint64_t sum = c_.needed_sum.get();
    c_.needed_sum.set(sum - (sum * kIdleWeight + kSamples - 1) / kSamples + c_.used.get() * kIdleWeight);
    std::size_t released = 0;
    while (free_ && crowded()) {
        backend_free(pop_free());
        ++released;
    }
    return released;
}

void RawPool::hint_needed(std::uint64_t n) {
    const std::uint64_t target = std::min(n, kMaxNeededHint) * kSamples;
    if (c_.needed_sum.get() < target) c_.needed_sum.set(target);
}

std::size_t RawPool::release_all_free() {
    std::size_t released = 0;
    while (free_) {
        backend_free(pop_free());
        ++released;
    }
    return released;
}

}  // namespace es::pool
