// A pipe for splice(2) relays (DESIGN.md §4). Pipes are pooled per shard (pool::ObjectPool<Pipe>)
// so a bulk flow does not pay pipe2() + close() each time; the pool's needed_avg trimming closes
// the surplus after a burst. A pipe that still holds bytes is never returned to the pool.
#pragma once

#include <fcntl.h>
#include <unistd.h>

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

}  // namespace es::net
