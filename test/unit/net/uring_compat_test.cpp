// uring_compat: the submissions liburing 2.3 cannot prepare, field by field as the kernel reads
// them, then on a real ring over loopback: an accept into a slot the kernel allocates (2.3's own
// helper would make it a plain accept), a setsockopt on that direct descriptor, and a regular fd
// installed for it. The last two need kernel 6.7 / 6.8 and are reported, not failed, before that.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "edgeshard/net/listener.hpp"
#include "edgeshard/shard/uring_compat.hpp"
#include "net_test.hpp"

namespace compat = es::shard::compat;

TEST_CASE("accept into a kernel-allocated slot: the target is IORING_FILE_INDEX_ALLOC itself") {
    io_uring_sqe sqe{};
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    compat::prep_accept_direct_alloc(&sqe, 5, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    CHECK(sqe.opcode == IORING_OP_ACCEPT);
    CHECK(sqe.fd == 5);
    CHECK(sqe.addr == reinterpret_cast<std::uint64_t>(&ss));
    CHECK(sqe.addr2 == reinterpret_cast<std::uint64_t>(&len));
    CHECK(sqe.accept_flags == unsigned(SOCK_CLOEXEC));
    CHECK(sqe.file_index == IORING_FILE_INDEX_ALLOC);  // not IORING_FILE_INDEX_ALLOC + 1 wrapped to 0
}

TEST_CASE("setsockopt on a direct descriptor: URING_CMD with the socket command and its operands") {
    io_uring_sqe sqe{};
    const int one = 1;
    compat::prep_setsockopt_fixed(&sqe, 7, IPPROTO_TCP, TCP_NODELAY, &one);
    CHECK(sqe.opcode == compat::kOpUringCmd);
    CHECK(sqe.fd == 7);
    CHECK((sqe.flags & IOSQE_FIXED_FILE) != 0);
    CHECK(std::uint32_t(sqe.off) == compat::kSocketUringOpSetsockopt);
    CHECK(std::uint32_t(sqe.addr) == std::uint32_t(IPPROTO_TCP));        // level
    CHECK(std::uint32_t(sqe.addr >> 32) == std::uint32_t(TCP_NODELAY));  // optname
    CHECK(sqe.splice_fd_in == int(sizeof(int)));                         // optlen
    CHECK(sqe.addr3 == reinterpret_cast<std::uint64_t>(&one));
}

TEST_CASE("a regular fd for a direct descriptor: FIXED_FD_INSTALL on the slot") {
    io_uring_sqe sqe{};
    compat::prep_fixed_fd_install(&sqe, 3);
    CHECK(sqe.opcode == compat::kOpFixedFdInstall);
    CHECK(sqe.fd == 3);
    CHECK((sqe.flags & IOSQE_FIXED_FILE) != 0);
}

TEST_CASE("on a real ring: allocated slots, setsockopt through the ring, an fd installed for a slot") {
    nettest::TestRing t;
    REQUIRE(io_uring_register_files_sparse(&t.ring, 4) == 0);
    const int l = es::net::open_listener(nettest::loopback_bind(), 16);
    const std::uint16_t port = nettest::local_port(l);
    const int c1 = nettest::connect_loopback(port);
    const int c2 = nettest::connect_loopback(port);

    // two accepts land in the first two free slots of the table, not in regular fds
    compat::prep_accept_direct_alloc(t.sqe(), l, nullptr, nullptr, 0);
    const auto a1 = t.submit();
    compat::prep_accept_direct_alloc(t.sqe(), l, nullptr, nullptr, 0);
    const auto a2 = t.submit();
    CHECK(a1.res == 0);
    CHECK(a2.res == 1);

    // setsockopt through the ring (6.7+), seen on a regular fd installed for the slot (6.8+)
    const int one = 1;
    compat::prep_setsockopt_fixed(t.sqe(), a1.res, IPPROTO_TCP, TCP_KEEPCNT, &one);
    const auto so = t.submit();
    compat::prep_fixed_fd_install(t.sqe(), a1.res);
    const auto inst = t.submit();
    if (so.res == -EINVAL || so.res == -EOPNOTSUPP || inst.res == -EINVAL) {
        MESSAGE("kernel before 6.8: socket setsockopt / FIXED_FD_INSTALL not checked (", so.res, ", ",
                inst.res, ")");
    } else {
        CHECK(so.res == 0);
        REQUIRE(inst.res >= 0);
        CHECK(nettest::int_option(inst.res, IPPROTO_TCP, TCP_KEEPCNT) == 1);
        CHECK(nettest::local_port(inst.res) == port);  // the accepted connection's own address
        close(inst.res);
    }
    close(c1);
    close(c2);
    close(l);
}
