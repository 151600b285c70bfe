#include "edgeshard/shard/reactor.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ES_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define ES_ON_VALGRIND() false
#endif
#include <cstdlib>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace es::shard {

Reactor::Reactor(const Params& p, stats::ShardCounters& c)
    : c_(c), timers_(core::now_ms()), now_ms_(core::now_ms()) {
    batch_limit_ = p.batch == 0 ? 1 : (p.batch > kBatch ? kBatch : p.batch);
    io_uring_params ip{};
    ip.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
               IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL;
    // CQ sized for the worst case: multishot recv per connection side plus sends, accepts and
    // cancels in flight; overflow is counted and alarmed on, never relied upon
    ip.cq_entries = p.sq_entries * 4;
    const int r = io_uring_queue_init_params(p.sq_entries, &ring_, &ip);
    if (r < 0) throw std::runtime_error(std::string("io_uring_queue_init: ") + std::strerror(-r));
    sq_entries_ = ring_.sq.ring_entries;
    cq_entries_ = ring_.cq.ring_entries;
    // children (health-check helpers, reload exec) must not inherit the ring mappings
    io_uring_ring_dontfork(&ring_);
    // the registered ring fd saves an fget/fput per io_uring_enter
    io_uring_register_ring_fd(&ring_);
    const int fr = io_uring_register_files_sparse(&ring_, p.files);
    if (fr < 0)
        throw std::runtime_error("io_uring_register_files_sparse(" + std::to_string(p.files) +
                                 "): " + std::strerror(-fr) + " (raise RLIMIT_NOFILE or lower maxconn)");
    // io-wq serves what cannot complete inline (SHUTDOWN always goes there); its workers inherit
    // the shard's CPU pinning, and a cap keeps a burst of closes from spawning a thread per op
    unsigned iowq[2] = {2, 4};  // bounded, unbounded
    io_uring_register_iowq_max_workers(&ring_, iowq);
    // valgrind (3.19) treats io_uring_enter as a non-blocking syscall: a shard sleeping in it keeps
    // valgrind's global lock and every other thread stops. Under valgrind (or when asked) the
    // shard sleeps in poll(2) on the ring fd instead, which valgrind knows blocks, and then
    // collects completions with a non-waiting enter. Natively the check costs nothing.
    // It polls an eventfd registered with the ring: with DEFER_TASKRUN the kernel signals it when
    // it queues completion work, whereas poll(2) on the ring fd itself is not woken for that.
    if (ES_ON_VALGRIND() || std::getenv("EDGESHARD_POLL_WAIT") != nullptr) {
        wait_evfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wait_evfd_ >= 0 && io_uring_register_eventfd(&ring_, wait_evfd_) == 0) {
            poll_wait_ = true;
        } else if (wait_evfd_ >= 0) {
            close(wait_evfd_);
            wait_evfd_ = -1;
        }
    }
    doorbell_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (doorbell_fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
    arm_doorbell();
}

Reactor::~Reactor() {
    io_uring_queue_exit(&ring_);
    if (doorbell_fd_ >= 0) close(doorbell_fd_);
    if (wait_evfd_ >= 0) close(wait_evfd_);
}

io_uring_sqe* Reactor::sqe_slow() {
    c_.sq_full.inc();
    io_uring_sqe* s;
    while ((s = io_uring_get_sqe(&ring_)) == nullptr) {
        const int r = io_uring_submit(&ring_);
        if (r < 0 && r != -EAGAIN && r != -EBUSY && r != -EINTR) {
            // the ring is unusable; nothing sensible can continue on this shard
            std::fprintf(stderr, "edgeshard: fatal: io_uring_submit: %s\n", std::strerror(-r));
            std::abort();
        }
    }
    return s;
}

void Reactor::arm_doorbell() {
    io_uring_sqe* s = sqe();
    io_uring_prep_read(s, doorbell_fd_, &doorbell_buf_, sizeof doorbell_buf_, 0);
    io_uring_sqe_set_data64(s, UserData::pack_raw(kOpDoorbell, 0, 0));
}

void Reactor::ring_doorbell() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!sleeping_.load(std::memory_order_relaxed)) return;
    const std::uint64_t one = 1;
    ssize_t w = ::write(doorbell_fd_, &one, sizeof one);
    (void)w;  // EAGAIN means the counter is already non-zero: the shard will wake anyway
}

void Reactor::wait(bool block, std::int64_t timeout_ms) {
    c_.submits.inc();
    if (!block) {
        // work is pending: submit, and collect whatever completed, without sleeping
        io_uring_submit_and_get_events(&ring_);
        return;
    }
    c_.waiting.set(1);  // (the watchdog does not count a shard waiting for work as stuck)
    struct Awake {
        stats::ShardCounters& c;
        ~Awake() { c.waiting.set(0); }
    } awake{c_};
    if (poll_wait_) {
        io_uring_submit(&ring_);
        io_uring_get_events(&ring_);  // runs deferred task work already queued
        if (io_uring_cq_ready(&ring_) == 0) {
            pollfd pfd{wait_evfd_, POLLIN, 0};
            ::poll(&pfd, 1, timeout_ms >= 0 ? int(timeout_ms) : -1);
        }
        std::uint64_t n;
        ssize_t rd = ::read(wait_evfd_, &n, sizeof n);
        (void)rd;
        io_uring_get_events(&ring_);
        return;
    }
    io_uring_cqe* cqe = nullptr;
    int r;
    if (timeout_ms >= 0) {
        __kernel_timespec ts{};
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (timeout_ms % 1000) * 1000000;
        r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    } else {
        r = io_uring_submit_and_wait(&ring_, 1);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
        std::fprintf(stderr, "edgeshard: io_uring wait: %s\n", std::strerror(-r));
    }
}

}  // namespace es::shard
