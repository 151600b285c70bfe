// The per-thread io_uring base shared by the http and tcp clients and the origin: the shard
// runtime's Reactor and provided-buffer ring, the send helper that applies the registered-buffer
// and send_zc settings, a pacing timer at absolute CLOCK_MONOTONIC times, and a periodic tick.
#pragma once

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <queue>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::bench {

enum Op : std::uint8_t {
    kOpConnect = shard::kFirstHandlerOp,
    kOpSend,
    kOpRecv,
    kOpPace,
    kOpTick,
    kOpAccept,
    kOpDelay,
    kOpProxyHeader,
};

inline constexpr std::uint64_t kNsPerSec = 1'000'000'000;

// One thread's ring, receive buffers and optional registered send buffer.
class Loop {
public:
    Loop(const Settings& s, const char* send_buf, std::size_t send_len)
        : reactor_(params(s), counters_), bufs_(reactor_.ring(), 0, s.buffers, s.buffer_size), s_(s) {
        if (s.registered_buffers && send_len > 0) {
            iovec iov{const_cast<char*>(send_buf), send_len};
            const int r = io_uring_register_buffers(reactor_.ring(), &iov, 1);
            if (r < 0)
                throw std::runtime_error(std::string("io_uring_register_buffers: ") + std::strerror(-r) +
                                         " (RLIMIT_MEMLOCK?)");
            fixed_base_ = send_buf;
        }
        if (s.napi_busy_poll_us) {
            struct {
                std::uint32_t busy_poll_to;
                std::uint8_t prefer_busy_poll;
                std::uint8_t pad[3];
                std::uint64_t resv;
            } napi{s.napi_busy_poll_us, 1, {}, 0};
            // IORING_REGISTER_NAPI (27, kernel 6.9); liburing 2.3 has no wrapper
            const long r = syscall(__NR_io_uring_register, reactor_.ring()->ring_fd, 27, &napi, 1);
            if (r < 0)
                throw std::runtime_error(std::string("io_uring NAPI busy poll (IORING_REGISTER_NAPI, kernel 6.9+): ") +
                                         std::strerror(errno));
        }
    }

    shard::Reactor& reactor() { return reactor_; }
    net::BufRing& bufs() { return bufs_; }

    static shard::Reactor::Params params(const Settings& s) {
        shard::Reactor::Params p;
        p.sq_entries = s.ring_entries;
        p.files = 16;
        p.batch = s.batch;
        return p;
    }

    // A send of [p, p+len) on fd. p must lie in the registered buffer when one is registered.
    void send(int fd, const char* p, std::size_t len, std::uint64_t ud) {
        io_uring_sqe* sqe = reactor_.sqe();
        const bool zc = s_.send_zc_threshold && len >= s_.send_zc_threshold;
        if (zc) {
            if (fixed_base_) {
                io_uring_prep_send_zc_fixed(sqe, fd, p, len, MSG_NOSIGNAL, 0, 0);
            } else {
                io_uring_prep_send_zc(sqe, fd, p, len, MSG_NOSIGNAL, 0);
            }
        } else if (fixed_base_) {
            // plain SEND with a fixed buffer is EINVAL (6.18); WRITE_FIXED works on sockets
            io_uring_prep_write_fixed(sqe, fd, p, unsigned(len), 0, 0);
        } else {
            io_uring_prep_send(sqe, fd, p, len, MSG_NOSIGNAL);
        }
        io_uring_sqe_set_data64(sqe, ud);
    }

    void recv_multishot(int fd, std::uint64_t ud) {
        io_uring_sqe* sqe = reactor_.sqe();
        io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = bufs_.group();
        io_uring_sqe_set_data64(sqe, ud);
    }

    void connect(int fd, const Settings& s, std::uint64_t ud) {
        io_uring_sqe* sqe = reactor_.sqe();
        io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&s.addr), s.addrlen);
        io_uring_sqe_set_data64(sqe, ud);
    }

    // An absolute CLOCK_MONOTONIC timeout; ts must live until the next submit (the caller keeps it).
    void timeout_at(__kernel_timespec* ts, std::int64_t at_ns, std::uint64_t ud) {
        ts->tv_sec = at_ns / std::int64_t(kNsPerSec);
        ts->tv_nsec = at_ns % std::int64_t(kNsPerSec);
        io_uring_sqe* sqe = reactor_.sqe();
        io_uring_prep_timeout(sqe, ts, 0, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(sqe, ud);
    }

private:
    stats::ShardCounters counters_{};
    shard::Reactor reactor_;
    net::BufRing bufs_;
    const Settings& s_;
    const char* fixed_base_ = nullptr;
};

// A new non-blocking TCP socket with the settings' options. -errno on failure.
inline int client_socket(const Settings& s) {
    const int fd = ::socket(s.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s.busy_poll_us) {
        int v = int(s.busy_poll_us);
        setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &v, sizeof v);
    }
    return fd;
}

}  // namespace es::bench
