// Cross-shard messages (DESIGN.md §1): a bounded single-producer single-consumer ring per
// (sender, receiver) pair, plus a doorbell rung only when the receiver sleeps.
//
// Protocol (no lost wake-ups, no doorbell while the receiver is busy):
//   producer: push(); seq_cst fence; if (receiver.sleeping) ring the doorbell.
//   receiver: sleeping = true; seq_cst fence; if a mailbox is non-empty, skip the sleep;
//             otherwise wait in the kernel (the doorbell completes the wait); sleeping = false.
// Either the producer sees `sleeping` or the receiver sees the message: the two fences order
// the store of one side before the load of the other.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace es::shard {

struct Message {
    enum Kind : std::uint32_t {
        kNone = 0,
        kStop = 1,         // hard stop: every connection ends now
        kSoftStop = 2,     // stop accepting and drain (a reload committed, or SIGUSR1); a = grace ms
        kServerAdmin = 3,  // a = backend << 32 | server; b = op << 32 | value (see proxy/admin.cpp)
        kResumeAccept = 4, // start accepting (a process that took over listeners, once committed)
        kPageRequest = 5,  // data shard -> control shard: a stats page is asked (see proxy/page.hpp)
        kPageAnswer = 6,   // control shard -> data shard: the page (see proxy/page.hpp)
        kCertUpdate = 7,   // control shard -> data shard: a = tls::CertUpdate* (commit ssl cert, set ssl ocsp-response)
        kObserved = 8,     // data shard -> control shard: a = backend << 32 | server, b = shard::Observed
                           // (a passive check's error, or the success after errors: shard/observe.hpp)
        kServerAddr = 9,   // control shard -> data shard: a = backend << 32 | server, b = proxy::AddrUpdate*
                           // (a server's new address from DNS or `set server addr`: proxy/admin.hpp)
        kStickQuery = 10,  // control shard -> data shard: a = stick::Query* (show table / clear table)
        kMapUpdate = 11,   // control shard -> data shard: a = proxy::MapUpdate* (add/set/del/clear map)
        kClearCounters = 12,  // control shard -> data shard: `clear counters`; a = proxy::ClearAsk*
        kStall = 13,          // control shard -> data shard: `debug dev loop`: run one turn for a = ms (the watchdog's test)
    };
    std::uint32_t kind = kNone;
    std::uint64_t a = 0;
    std::uint64_t b = 0;
};

class Mailbox {
public:
    explicit Mailbox(std::uint32_t capacity_pow2 = 256)
        : mask_(capacity_pow2 - 1), slots_(new Message[capacity_pow2]) {}

    // Producer side. False when full: the caller keeps the message and retries later.
    bool push(const Message& m) {
        const auto t = tail_.load(std::memory_order_relaxed);
        if (t - head_cache_ > mask_) {
            head_cache_ = head_.load(std::memory_order_acquire);
            if (t - head_cache_ > mask_) return false;
        }
        slots_[t & mask_] = m;
        tail_.store(t + 1, std::memory_order_release);
        return true;
    }
    // Consumer side.
    bool pop(Message& m) {
        const auto h = head_.load(std::memory_order_relaxed);
        if (h == tail_cache_) {
            tail_cache_ = tail_.load(std::memory_order_acquire);
            if (h == tail_cache_) return false;
        }
        m = slots_[h & mask_];
        head_.store(h + 1, std::memory_order_release);
        return true;
    }
    bool empty_for_consumer() const {
        return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_acquire);
    }

private:
    const std::uint32_t mask_;
    std::unique_ptr<Message[]> slots_;
    alignas(64) std::atomic<std::uint64_t> head_{0};
    std::uint64_t tail_cache_ = 0;  // consumer's view of tail
    alignas(64) std::atomic<std::uint64_t> tail_{0};
    std::uint64_t head_cache_ = 0;  // producer's view of head
};

}  // namespace es::shard
