// One shard's io_uring and its loop (DESIGN.md §5).
//
// The ring is created on the shard thread after pinning, with SINGLE_ISSUER|DEFER_TASKRUN, a CQ
// four times the SQ, the ring fd registered and a sparse direct-descriptor table. Only this
// thread ever submits to it (the control shard talks to it through the mailbox + doorbell).
//
// One turn of run(), in this order and for these reasons:
//   1. reap every CQE into a local batch and advance the CQ once: the CQ is free again before
//      any handler submits, and handlers never run inside the kernel's ring memory;
//   2. dispatch the batch to the handler (a switch on the op in user_data);
//   3. run the handler's ready queue (work deferred by handlers: no recursion between handlers);
//   4. drain the mailbox (control messages are rare and never urgent within a turn);
//   5. fire due timers (after I/O, so activity seen in this turn pushes idle deadlines out);
//   6. end_of_turn(): objects closed in this turn are released now that none of this turn's
//      completions can name them, and recycled buffers are published to the kernel at once;
//   7. one io_uring_enter that submits everything prepared and waits for at least one CQE or
//      the next timer (or returns at once when work is already pending).
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "edgeshard/core/clock.hpp"
#include "edgeshard/shard/mailbox.hpp"
#include "edgeshard/shard/timer_wheel.hpp"
#include "edgeshard/shard/user_data.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::shard {

// Ops owned by the reactor itself; handler ops start at kFirstHandlerOp.
enum ReactorOp : std::uint8_t { kOpNone = 0, kOpDoorbell = 1, kFirstHandlerOp = 8 };

struct Cqe {
    std::uint64_t user_data;
    std::int32_t res;
    std::uint32_t flags;
};

class Reactor {
public:
    struct Params {
        unsigned sq_entries = 1024;
        unsigned files = 1024;  // direct descriptor table size
        unsigned batch = 256;   // 256: reap until the CQ is empty; fewer: at most this many CQEs per turn
    };

    // Must be called on the shard thread. Throws std::runtime_error on failure.
    Reactor(const Params& p, stats::ShardCounters& c);
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    io_uring* ring() { return &ring_; }
    unsigned sq_entries() const { return sq_entries_; }
    unsigned cq_entries() const { return cq_entries_; }

    // A free SQE; when the SQ is full, what is queued is submitted first. Never null.
    io_uring_sqe* sqe() {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        if (__builtin_expect(s == nullptr, 0)) s = sqe_slow();
        return s;
    }

    // Makes sure the next n sqe() calls come from the same submission (linked chains must not
    // be split by an SQ-full flush).
    void reserve(unsigned n) {
        if (io_uring_sq_space_left(&ring_) < n) {
            c_.sq_full.inc();
            io_uring_submit(&ring_);
        }
    }

    TimerWheel& timers() { return timers_; }
    std::int64_t now_ms() const { return now_ms_; }

    // Cross-thread side: producers push into inbox() then call ring_doorbell().
    Mailbox& inbox() { return inbox_; }
    void ring_doorbell();  // thread-safe; a no-op unless the shard sleeps

    // Handler H provides:
    //   void on_cqe(const Cqe&);  void run_ready();  bool has_ready() const;
    //   void on_message(const Message&);  void on_timer(Timer*);  void end_of_turn();
    //   bool done() const;
    template <typename H>
    void run(H& h);

private:
    io_uring_sqe* sqe_slow();
    void arm_doorbell();
    void wait(bool block, std::int64_t timeout_ms);

    io_uring ring_{};
    unsigned sq_entries_ = 0, cq_entries_ = 0;
    stats::ShardCounters& c_;
    TimerWheel timers_;
    std::int64_t now_ms_;
    Mailbox inbox_;
    int doorbell_fd_ = -1;
    std::uint64_t doorbell_buf_ = 0;
    bool poll_wait_ = false;  // sleep in poll(2) on wait_evfd_ (under valgrind)
    int wait_evfd_ = -1;
    alignas(64) std::atomic<bool> sleeping_{false};

    static constexpr unsigned kBatch = 256;
    unsigned batch_limit_ = kBatch;
    Cqe batch_[kBatch];
};

template <typename H>
void Reactor::run(H& h) {
    while (!h.done()) {
        // 1-2. reap in batches of batch_limit_, advance once per batch, then dispatch
        for (;;) {
            unsigned n = 0;
            unsigned head;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                batch_[n++] = Cqe{cqe->user_data, cqe->res, cqe->flags};
                if (n == batch_limit_) break;
            }
            if (n == 0) break;
            io_uring_cq_advance(&ring_, n);
            c_.cqes.add(n);
            now_ms_ = core::now_ms();
            for (unsigned i = 0; i < n; ++i) {
                const Cqe& e = batch_[i];
                if (UserData::unpack(e.user_data).op == kOpDoorbell) {
                    c_.wakeups.inc();
                    arm_doorbell();
                    continue;
                }
                h.on_cqe(e);
            }
            if (n < batch_limit_ || batch_limit_ < kBatch) break;  // a smaller batch ends the turn
        }
        c_.loops.inc();
        if (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW) c_.cq_overflow.inc();
        now_ms_ = core::now_ms();
        // 3. deferred work
        h.run_ready();
        // 4. mailbox
        Message m;
        while (inbox_.pop(m)) {
            c_.mailbox_msgs.inc();
            h.on_message(m);
        }
        // 5. timers
        timers_.advance(now_ms_, [&](Timer* t) {
            c_.timers_fired.inc();
            h.on_timer(t);
        });
        // 6. release and publish
        h.end_of_turn();
        if (h.done()) break;
        // 7. submit + wait
        sleeping_.store(true, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        const bool pending = h.has_ready() || !inbox_.empty_for_consumer();
        wait(!pending, timers_.next_due_ms(now_ms_));
        sleeping_.store(false, std::memory_order_relaxed);
    }
    io_uring_submit(&ring_);
}

}  // namespace es::shard
