// The provided-buffer ring keeps a hot working set: the kernel is handed the buffers returned
// most recently, and only as many as recent turns needed. Checked against a real ring, with reads
// from a pipe that select a buffer the way socket receives do. Also its bookkeeping: sizes it
// refuses, buffer geometry and side records, what recycle() and publish() each change, and one
// registration per buffer group.
#include <doctest/doctest.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgeshard/net/buf_ring.hpp"
#include "net_test.hpp"

namespace {

struct Ring {
    nettest::TestRing t;
    io_uring& ring = t.ring;
    int fds[2] = {-1, -1};
    Ring() { REQUIRE(pipe(fds) == 0); }
    ~Ring() {
        close(fds[0]);
        close(fds[1]);
    }
    // one read of a byte with buffer selection: the buffer id the kernel chose, or -errno
    int read_one(es::net::BufRing& br, char byte = 'x') {
        REQUIRE(write(fds[1], &byte, 1) == 1);
        io_uring_sqe* sqe = t.sqe();
        io_uring_prep_read(sqe, fds[0], nullptr, br.size(), 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = br.group();
        const auto [res, flags] = t.submit();
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

TEST_CASE("sizes the kernel cannot take are refused before anything is registered") {
    Ring r;
    for (unsigned count : {0u, 3u, 1000u, 65536u}) {
        CAPTURE(count);
        CHECK_THROWS_WITH_AS(es::net::BufRing(&r.ring, 1, count, 64), doctest::Contains("power of two"),
                             std::runtime_error);
    }
    es::net::BufRing br(&r.ring, 1, 32768, 64);  // the largest, in the group the refusals left free
    CHECK(br.count() == 32768u);
}

TEST_CASE("geometry: buffers are size bytes apart, each with its own side record") {
    Ring r;
    es::net::BufRing br(&r.ring, 2, 64, 256);
    CHECK(br.group() == 2u);
    CHECK(br.count() == 64u);
    CHECK(br.size() == 256u);
    CHECK(br.out() == 0u);
    CHECK(br.available() == 64u);
    CHECK(br.in_ring() == 64u);  // a ring smaller than the working set is handed over whole
    for (std::uint16_t b = 0; b < 64; ++b) {
        CHECK(br.data(b) == br.data(0) + std::size_t(b) * 256);
        std::memset(br.data(b), b, 256);  // every byte of every buffer is writable
        br.rec(b) = {std::uint16_t(63 - b), b, 256u - b};
    }
    for (std::uint16_t b = 0; b < 64; ++b) {
        CHECK(br.data(b)[0] == char(b));
        CHECK(br.data(b)[255] == char(b));
        CHECK(br.rec(b).next == 63 - b);
        CHECK(br.rec(b).off == b);
        CHECK(br.rec(b).len == 256u - b);
    }
}

TEST_CASE("the kernel fills the buffer the completion names, in the group the read asked for") {
    Ring r;
    es::net::BufRing a(&r.ring, 5, 64, 128);
    es::net::BufRing b(&r.ring, 6, 64, 128);
    const int bid = r.read_one(a, 'A');
    REQUIRE(bid >= 0);
    CHECK(a.data(std::uint16_t(bid))[0] == 'A');
    CHECK(a.out() == 1u);
    CHECK(b.out() == 0u);
    CHECK(b.in_ring() == 64u);  // the other group was not touched
    const int bid2 = r.read_one(b, 'B');
    REQUIRE(bid2 >= 0);
    CHECK(b.data(std::uint16_t(bid2))[0] == 'B');
    CHECK(a.data(std::uint16_t(bid))[0] == 'A');
}

TEST_CASE("recycle() only returns a buffer to the application's stack; publish() hands it over") {
    Ring r;
    es::net::BufRing br(&r.ring, 7, 1024, 64);
    const unsigned start = br.in_ring();
    std::vector<int> held;
    for (int i = 0; i < 10; ++i) held.push_back(r.read_one(br));
    CHECK(br.out() == 10u);
    CHECK(br.in_ring() == start - 10);
    for (int b : held) br.recycle(std::uint16_t(b));
    CHECK(br.out() == 0u);
    CHECK(br.available() == 1024u);
    CHECK(br.in_ring() == start - 10);  // nothing visible to the kernel yet
    br.publish();
    CHECK(br.in_ring() == start);  // topped up again
    // quiet turns keep the working set where it is: nothing taken, nothing to add
    for (int i = 0; i < 10; ++i) br.publish();
    CHECK(br.in_ring() == start);
}

TEST_CASE("one registration per buffer group; a destroyed ring frees its group") {
    Ring r;
    {
        es::net::BufRing first(&r.ring, 9, 64, 64);
        CHECK_THROWS_WITH_AS(es::net::BufRing(&r.ring, 9, 64, 64),
                             doctest::Contains("io_uring_register_buf_ring"), std::runtime_error);
        CHECK(r.read_one(first) >= 0);  // the refused duplicate left the first one working
    }
    es::net::BufRing again(&r.ring, 9, 64, 64);
    CHECK(r.read_one(again) >= 0);
}
