// Shard-local hashed timer wheel (DESIGN.md §5 rule 7): idle, retry and queue timers live here,
// not as one kernel timeout per connection. Timers are intrusive; scheduling never allocates.
//
// Resolution is kTickMs; a timer fires on the first advance() at or after its due tick (never
// early). Timers further out than the wheel span stay in their slot and are skipped until their
// round comes. Callers that push deadlines forward on every event (idle timeouts) should not
// reschedule each time: let the timer fire, compare against the real deadline, and re-arm
// (lazy rescheduling), which keeps the hot path free of wheel operations.
#pragma once

#include <cstdint>

#include "edgeshard/core/intrusive_list.hpp"

namespace es::shard {

struct Timer {
    core::ListNode node;
    std::int64_t when_ms = 0;
    std::uint8_t kind = 0;   // owner-defined
    void* owner = nullptr;   // owner-defined
    bool armed() const { return node.linked(); }
};

class TimerWheel {
public:
    static constexpr int kSlots = 1024;  // power of two
    static constexpr std::int64_t kTickMs = 4;

    explicit TimerWheel(std::int64_t now_ms) : cur_tick_(now_ms / kTickMs) {}
    TimerWheel(const TimerWheel&) = delete;
    TimerWheel& operator=(const TimerWheel&) = delete;

    void schedule(Timer* t, std::int64_t when_ms) {
        if (t->armed()) t->node.unlink(); else ++count_;
        t->when_ms = when_ms;
        std::int64_t tick = (when_ms + kTickMs - 1) / kTickMs;
        if (tick <= cur_tick_) tick = cur_tick_ + 1;
        const int s = int(tick & (kSlots - 1));
        push(s, t);
    }
    void cancel(Timer* t) {
        if (!t->armed()) return;
        t->node.unlink();
        --count_;
        // the slot bit is cleared lazily by advance()/next_due_ms()
    }
    std::size_t size() const { return count_; }

    // Fires every timer due at now_ms. The callback may schedule or cancel any timer (including
    // the one it got); newly scheduled timers never fire in the same call.
    template <typename F>
    void advance(std::int64_t now_ms, F&& fire) {
        const std::int64_t target = now_ms / kTickMs;
        if (count_ == 0) {
            cur_tick_ = target;
            return;
        }
        // at most one full lap: every slot is visited once, later rounds are re-checked by when_ms
        std::int64_t steps = target - cur_tick_;
        if (steps > kSlots) steps = kSlots;
        for (std::int64_t i = 1; i <= steps; ++i) {
            const int s = int((cur_tick_ + i) & (kSlots - 1));
            if (!(bits_[s >> 6] & (std::uint64_t(1) << (s & 63)))) continue;
            run_slot(s, now_ms, fire);
        }
        cur_tick_ = target;
    }

    // Milliseconds until the earliest occupied slot (an upper bound on the first due timer's
    // time, within a tick); -1 when no timer is armed. Bounded to one lap.
    std::int64_t next_due_ms(std::int64_t now_ms) {
        if (count_ == 0) return -1;
        // word by word from the slot after the current tick, wrapping once: at most 17 words,
        // where a bit-by-bit walk of an almost empty wheel costs ~1k tests every loop turn
        const int start = int((cur_tick_ + 1) & (kSlots - 1));
        for (int k = 0; k <= kWords; ++k) {
            const int w = ((start >> 6) + k) & (kWords - 1);
            std::uint64_t m = bits_[w];
            if (k == 0) {
                m &= ~std::uint64_t(0) << (start & 63);
            } else if (k == kWords) {
                m &= (start & 63) ? (std::uint64_t(1) << (start & 63)) - 1 : 0;
            }
            while (m) {
                const int b = __builtin_ctzll(m);
                m &= m - 1;
                const int s = (w << 6) | b;
                if (!slots_[s].linked()) {
                    bits_[w] &= ~(std::uint64_t(1) << b);  // emptied by cancels: clear lazily
                    continue;
                }
                const std::int64_t due = (cur_tick_ + 1 + ((s - start) & (kSlots - 1))) * kTickMs;
                return due > now_ms ? due - now_ms : 0;
            }
        }
        return kSlots * kTickMs;
    }

private:
    void push(int s, Timer* t) {
        core::ListNode* head = &slots_[s];
        t->node.prev = head->prev;
        t->node.next = head;
        head->prev->next = &t->node;
        head->prev = &t->node;
        bits_[s >> 6] |= std::uint64_t(1) << (s & 63);
    }
    static Timer* from(core::ListNode* n) {
        return reinterpret_cast<Timer*>(reinterpret_cast<char*>(n) - offsetof(Timer, node));
    }
    template <typename F>
    void run_slot(int s, std::int64_t now_ms, F& fire) {
        // detach the due ones first so callbacks can re-schedule into this same slot safely
        core::ListNode due;
        core::ListNode* head = &slots_[s];
        for (core::ListNode* n = head->next; n != head;) {
            core::ListNode* nx = n->next;
            Timer* t = from(n);
            if (t->when_ms <= now_ms) {
                n->unlink();
                n->prev = due.prev;
                n->next = &due;
                due.prev->next = n;
                due.prev = n;
            }
            n = nx;
        }
        if (!head->linked()) bits_[s >> 6] &= ~(std::uint64_t(1) << (s & 63));
        while (due.linked()) {
            core::ListNode* n = due.next;
            n->unlink();
            --count_;
            fire(from(n));
        }
    }

    core::ListNode slots_[kSlots];
    static constexpr int kWords = kSlots / 64;  // a power of two
    std::uint64_t bits_[kWords] = {};
    std::int64_t cur_tick_;
    std::size_t count_ = 0;
};

}  // namespace es::shard
