// The provided-buffer ring keeps a hot working set: the kernel is handed the buffers returned
// most recently, and only as many as recent turns needed. Checked against a real ring, with reads
// from a pipe that select a buffer the way socket receives do.
#include <doctest/doctest.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <vector>

#include "edgeshard/net/buf_ring.hpp"

namespace {

struct Ring {
    io_uring ring{};
    int fds[2] = {-1, -1};
    Ring() {
        REQUIRE(io_uring_queue_init(64, &ring, 0) == 0);
        REQUIRE(pipe(fds) == 0);
    }
    ~Ring() {
        io_uring_queue_exit(&ring);
        close(fds[0]);
        close(fds[1]);
    }
    // one read of a byte with buffer selection: the buffer id the kernel chose, or -errno
    int read_one(es::net::BufRing& br) {
        REQUIRE(write(fds[1], "x", 1) == 1);
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_read(sqe, fds[0], nullptr, br.size(), 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = br.group();
        io_uring_submit(&ring);
        io_uring_cqe* cqe = nullptr;
        REQUIRE(io_uring_wait_cqe(&ring, &cqe) == 0);
        const int res = cqe->res;
        const unsigned flags = cqe->flags;
        io_uring_cqe_seen(&ring, cqe);
        if (res < 0) {
            char c;
            REQUIRE(read(fds[0], &c, 1) == 1);  // drain the byte the failed read left
            return res;
        }
        REQUIRE((flags & IORING_CQE_F_BUFFER) != 0);
        const auto bid = std::uint16_t(flags >> IORING_CQE_BUFFER_SHIFT);
        br.taken(bid);
        return bid;
    }
};

}  // namespace

TEST_CASE("a returned buffer is the next one the kernel fills (hot reuse)") {
    Ring r;
    es::net::BufRing br(&r.ring, 3, 1024, 4096);
    CHECK(br.in_ring() < 1024);  // a working set, not the whole ring
    CHECK(br.in_ring() >= 64);
    int cur = r.read_one(br);
    REQUIRE(cur >= 0);
    std::set<int> seen{cur};
    for (int i = 0; i < 2000; ++i) {
        // one buffer in use at a time, returned each turn: the kernel keeps being handed the same
        // few hot buffers instead of walking all 1024
        br.recycle(std::uint16_t(cur));
        br.publish();
        cur = r.read_one(br);
        REQUIRE(cur >= 0);
        seen.insert(cur);
    }
    CHECK(seen.size() <= 256u);  // a full ring would have cycled through all 1024
    CHECK(br.out() <= 1u);
}

TEST_CASE("a turn that drains the ring grows the working set; every buffer stays usable") {
    Ring r;
    es::net::BufRing br(&r.ring, 4, 1024, 512);
    const unsigned start = br.in_ring();
    std::vector<int> held;
    // take everything the ring holds in one turn, then more: the ring runs dry
    for (unsigned i = 0; i < start; ++i) held.push_back(r.read_one(br));
    CHECK(br.in_ring() == 0);
    CHECK(r.read_one(br) == -ENOBUFS);
    br.publish();  // drained: the next working set is larger
    CHECK(br.in_ring() > start);
    // hold every buffer of the shard: true starvation, nothing left to publish
    while (br.available() > 0) {
        const int b = r.read_one(br);
        if (b < 0) {
            br.publish();
            continue;
        }
        held.push_back(b);
    }
    CHECK(held.size() == 1024u);
    CHECK(std::set<int>(held.begin(), held.end()).size() == 1024u);  // no buffer handed out twice
    CHECK(r.read_one(br) == -ENOBUFS);
    for (int b : held) br.recycle(std::uint16_t(b));
    br.publish();
    CHECK(br.out() == 0u);
    CHECK(br.available() == 1024u);
    CHECK(br.in_ring() <= 1024u);
    CHECK(r.read_one(br) >= 0);
}
