// A pipe for splice(2) relays (DESIGN.md §4). Pipes are pooled per shard (pool::ObjectPool<Pipe>)
// so a bulk flow does not pay pipe2() + close() each time; the pool's needed_avg trimming closes
// the surplus after a burst. A pipe that still holds bytes is never returned to the pool.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace es::net {

// Capacity asked for when tune.pipesize is not set. Measured on the peer harness (one TCP stream,
// loopback): 512 KiB pipes move a byte for ~15% less proxy CPU than the 64 KiB kernel default,
// because each splice(2) pair moves 8x more per call. Pipes only hold data while a bulk flow is
// in flight; where the kernel refuses the size (fs.pipe-user-pages-soft for unprivileged users,
// fs.pipe-max-size) the pipe keeps the kernel's default.
inline constexpr int kDefaultPipeSize = 512 * 1024;

struct Pipe {
    int rd = -1;
    int wr = -1;
    unsigned capacity = 65536;

    explicit Pipe(int size_hint) {
        int p[2];
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
            rd = p[0];
            wr = p[1];
            int got = size_hint > 0 ? fcntl(wr, F_SETPIPE_SZ, size_hint) : -1;
            if (got <= 0) got = fcntl(wr, F_GETPIPE_SZ);
            if (got > 0) capacity = unsigned(got);
        }
    }
    ~Pipe() {
        if (rd >= 0) ::close(rd);
        if (wr >= 0) ::close(wr);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    bool ok() const { return rd >= 0; }
};

// Splice rounds (pipe filled, pipe drained) a relay runs before yielding to the rest of the shard.
inline constexpr int kSpliceBudget = 8;

// One non-blocking splice(2) between a socket and a pipe (the socket's file must be O_NONBLOCK:
// SPLICE_F_NONBLOCK covers only the pipe). `held` is what the pipe holds.
enum class Spliced : std::uint8_t {
    Moved,    // n bytes moved
    Blocked,  // EAGAIN: wait for readiness
    Closed,   // splice_in only: the socket's peer sent FIN
    Failed,   // an error (a reset, a broken pipe)
};
struct SpliceStep {
    Spliced what;
    std::uint32_t n;
};

// Pipe -> socket: what the pipe holds, as far as the socket takes it.
inline SpliceStep splice_out(const Pipe& p, std::uint32_t& held, int out_fd) {
    const ssize_t n = ::splice(p.rd, nullptr, out_fd, nullptr, held, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
        held -= std::uint32_t(n);
        return {Spliced::Moved, std::uint32_t(n)};
    }
    return {n < 0 && errno == EAGAIN ? Spliced::Blocked : Spliced::Failed, 0};
}

// Socket -> pipe: at most `want` bytes (never past a message end the caller knows of).
inline SpliceStep splice_in(const Pipe& p, std::uint32_t& held, int in_fd, std::size_t want) {
    const ssize_t n = ::splice(in_fd, nullptr, p.wr, nullptr, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
        held += std::uint32_t(n);
        return {Spliced::Moved, std::uint32_t(n)};
    }
    if (n == 0) return {Spliced::Closed, 0};
    return {errno == EAGAIN ? Spliced::Blocked : Spliced::Failed, 0};
}

}  // namespace es::net
