// net::Pipe, the splice relay's pipe: non-blocking and close-on-exec at both ends, its capacity
// the size the kernel really gave (the size asked for, or the kernel's default where refused),
// closed when destroyed, and as the proxy holds them: in a pool::ObjectPool, a slot reused for a
// fresh pipe.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "edgeshard/net/pipe.hpp"
#include "edgeshard/pool/pool.hpp"
#include "net_test.hpp"

using nettest::fd_open;

TEST_CASE("both ends are non-blocking and close-on-exec, and bytes go through") {
    es::net::Pipe p(0);
    REQUIRE(p.ok());
    for (int fd : {p.rd, p.wr}) {
        CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    }
    char c;
    CHECK(read(p.rd, &c, 1) == -1);
    CHECK(errno == EAGAIN);  // an empty pipe never blocks a shard
    REQUIRE(write(p.wr, "splice", 6) == 6);
    char got[8] = {};
    REQUIRE(read(p.rd, got, sizeof got) == 6);
    CHECK(std::strcmp(got, "splice") == 0);
}

TEST_CASE("capacity is what the kernel gave") {
    // no hint: the kernel's default size
    es::net::Pipe plain(0);
    REQUIRE(plain.ok());
    CHECK(plain.capacity == unsigned(fcntl(plain.wr, F_GETPIPE_SZ)));
    // the default hint (512 KiB) or, where the kernel refuses it for this user, its default
    es::net::Pipe big(es::net::kDefaultPipeSize);
    REQUIRE(big.ok());
    CHECK(big.capacity == unsigned(fcntl(big.wr, F_GETPIPE_SZ)));
    CHECK((big.capacity == unsigned(es::net::kDefaultPipeSize) || big.capacity == plain.capacity));
    // an odd size is rounded up by the kernel (whole pages, a power of two of them)
    es::net::Pipe odd(100000);
    REQUIRE(odd.ok());
    CHECK(odd.capacity == unsigned(fcntl(odd.wr, F_GETPIPE_SZ)));
    CHECK((odd.capacity >= 100000u || odd.capacity == plain.capacity));
}

TEST_CASE("destroying a pipe closes both ends") {
    int rd, wr;
    {
        es::net::Pipe p(0);
        REQUIRE(p.ok());
        rd = p.rd;
        wr = p.wr;
        CHECK(fd_open(rd));
        CHECK(fd_open(wr));
    }
    CHECK_FALSE(fd_open(rd));
    CHECK_FALSE(fd_open(wr));
}

TEST_CASE("pooled pipes: make() opens a pipe, destroy() closes it, a reused slot gets a new one") {
    es::pool::ObjectPool<es::net::Pipe> pool("pipe");
    es::net::Pipe* a = pool.make(0);
    REQUIRE(a != nullptr);
    REQUIRE(a->ok());
    const int rd = a->rd;
    REQUIRE(write(a->wr, "x", 1) == 1);
    pool.destroy(a);
    CHECK_FALSE(fd_open(rd));
    CHECK(pool.raw().counters().used.get() == 0);
    es::net::Pipe* b = pool.make(0);  // the freed slot, with a fresh, empty pipe
    REQUIRE(b != nullptr);
    REQUIRE(b->ok());
    char c;
    CHECK(read(b->rd, &c, 1) == -1);
    CHECK(errno == EAGAIN);
    pool.destroy(b);
}
