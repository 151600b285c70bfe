// The sessions of one data shard waiting for a page from the control shard (proxy/page.hpp), by
// handle. A fixed number of slots: the wait list, and so the memory and the control shard's work
// a shard can ask for, is bounded; a shard whose slots are all taken answers 503 at once.
//
// A handle is (sequence << 16) | (slot + 1): never 0, and different for every wait, so an answer
// that comes back after its session left (closed, timed out) finds the slot empty or holding a
// later wait, and is recognised as stale. The handle travels in the request and its answer; the
// session keeps only slot + 1 (a byte) to leave the list when it closes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace es::proxy {

template <typename T>
class PageWaits {
public:
    static constexpr std::size_t kMaxSlots = 255;  // slot + 1 fits the session's byte

    explicit PageWaits(std::size_t slots) : slots_(slots < kMaxSlots ? slots : kMaxSlots) {
        for (std::size_t i = slots_.size(); i > 0; --i) free_.push_back(std::uint8_t(i - 1));
    }

    // A handle for `who`, or 0 when every slot is taken.
    std::uint64_t add(T* who) {
        if (free_.empty()) return 0;
        const std::uint8_t i = free_.back();
        free_.pop_back();
        Slot& s = slots_[i];
        s.who = who;
        s.seq = ++seq_;
        ++used_;
        return handle(i, s.seq);
    }

    // The waiter the handle names, taken off the list; null when the handle is stale.
    T* take(std::uint64_t h) {
        const std::size_t i = std::size_t(h & 0xffff);
        if (i == 0 || i > slots_.size()) return nullptr;
        Slot& s = slots_[i - 1];
        if (!s.who || handle(std::uint8_t(i - 1), s.seq) != h) return nullptr;
        T* who = s.who;
        release(std::uint8_t(i - 1));
        return who;
    }

    // The waiter in slot `slot1 - 1` leaves (the session closes): its answer will be stale.
    void remove(std::uint8_t slot1) {
        if (slot1 == 0 || slot1 > slots_.size() || !slots_[slot1 - 1u].who) return;
        release(std::uint8_t(slot1 - 1u));
    }

    // slot + 1 of a handle add() returned (what the session keeps)
    static std::uint8_t slot_of(std::uint64_t h) { return std::uint8_t(h & 0xff); }

    std::size_t size() const { return used_; }
    std::size_t capacity() const { return slots_.size(); }

private:
    struct Slot {
        T* who = nullptr;
        std::uint32_t seq = 0;
    };
    static std::uint64_t handle(std::uint8_t i, std::uint32_t seq) {
        return (std::uint64_t(seq) << 16) | (std::uint64_t(i) + 1);
    }
    void release(std::uint8_t i) {
        slots_[i].who = nullptr;
        free_.push_back(i);
        --used_;
    }

    std::vector<Slot> slots_;
    std::vector<std::uint8_t> free_;  // LIFO
    std::uint32_t seq_ = 0;
    std::size_t used_ = 0;
};

}  // namespace es::proxy
