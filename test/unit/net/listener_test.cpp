// Listening sockets (net::open_listener / start_listening): the options every listener carries,
// bound-but-not-listening sockets for a reload, the backlog from the bind line or the default,
// several shards on one port, IPv6 only/dual stack, and errors that name the bind line without
// leaking the socket. Loopback only, ports from the kernel.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "edgeshard/net/listener.hpp"
#include "net_test.hpp"

using nettest::int_option;
using nettest::loopback_bind;

namespace {

// A listening socket reports its backlog in TCP_INFO (tcpi_sacked holds sk_max_ack_backlog).
unsigned listen_backlog(int fd) {
    tcp_info ti{};
    socklen_t len = sizeof ti;
    REQUIRE(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
    return ti.tcpi_sacked;
}

struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

// Whether this host has the IPv6 loopback (a container may have IPv6 disabled).
bool have_ipv6_loopback() {
    const int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_addr = in6addr_loopback;
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&in6), sizeof in6) == 0;
    close(fd);
    return ok;
}

}  // namespace

TEST_CASE("a listener is non-blocking, close-on-exec, reusable by port and without Nagle") {
    const auto b = loopback_bind();
    Fd l{es::net::open_listener(b, 16)};
    REQUIRE(l.fd >= 0);
    CHECK((fcntl(l.fd, F_GETFL) & O_NONBLOCK) != 0);
    CHECK((fcntl(l.fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(int_option(l.fd, SOL_SOCKET, SO_REUSEADDR) == 1);
    CHECK(int_option(l.fd, SOL_SOCKET, SO_REUSEPORT) == 1);
    CHECK(int_option(l.fd, IPPROTO_TCP, TCP_NODELAY) == 1);  // inherited by accepted sockets
    CHECK(int_option(l.fd, SOL_SOCKET, SO_ACCEPTCONN) == 1);
    CHECK(int_option(l.fd, SOL_SOCKET, SO_TYPE) == SOCK_STREAM);
    CHECK(nettest::local_port(l.fd) != 0);

    // an accepted connection inherits TCP_NODELAY
    Fd c{nettest::connect_loopback(nettest::local_port(l.fd))};
    int a = -1;
    for (int i = 0; i < 1000 && a < 0; ++i) {
        a = accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (a < 0) usleep(1000);
    }
    REQUIRE(a >= 0);
    Fd accepted{a};
    CHECK(int_option(accepted.fd, IPPROTO_TCP, TCP_NODELAY) == 1);
}

TEST_CASE("without listen_now the socket is bound but takes no connection until start_listening") {
    const auto b = loopback_bind();
    Fd l{es::net::open_listener(b, 16, false)};
    REQUIRE(l.fd >= 0);
    const std::uint16_t port = nettest::local_port(l.fd);
    CHECK(port != 0);
    CHECK(int_option(l.fd, SOL_SOCKET, SO_ACCEPTCONN) == 0);
    CHECK(es::net::start_listening(l.fd, b, 16) == 0);
    CHECK(int_option(l.fd, SOL_SOCKET, SO_ACCEPTCONN) == 1);
    CHECK(nettest::local_port(l.fd) == port);
}

TEST_CASE("the backlog is the bind line's when it has one, the caller's otherwise") {
    auto b = loopback_bind();
    {
        Fd l{es::net::open_listener(b, 11)};
        CHECK(listen_backlog(l.fd) == 11u);
    }
    b.backlog = 7;
    {
        Fd l{es::net::open_listener(b, 11)};
        CHECK(listen_backlog(l.fd) == 7u);
    }
    {
        Fd l{es::net::open_listener(b, 11, false)};
        REQUIRE(es::net::start_listening(l.fd, b, 11) == 0);
        CHECK(listen_backlog(l.fd) == 7u);
    }
}

TEST_CASE("one socket per shard on the same address: they share the port") {
    Fd first{es::net::open_listener(loopback_bind(), 16)};
    const std::uint16_t port = nettest::local_port(first.fd);
    Fd second{es::net::open_listener(loopback_bind(port), 16)};
    Fd third{es::net::open_listener(loopback_bind(port), 16, false)};
    CHECK(nettest::local_port(second.fd) == port);
    CHECK(nettest::local_port(third.fd) == port);
}

TEST_CASE("IPv6: a loopback listener; on the wildcard, v6only and v4v6 set IPV6_V6ONLY") {
    if (!have_ipv6_loopback()) {
        MESSAGE("no IPv6 loopback on this host: IPv6 listener checks not run");
        return;
    }
    {
        Fd l{es::net::open_listener(loopback_bind(0, true), 16)};
        CHECK(int_option(l.fd, SOL_SOCKET, SO_ACCEPTCONN) == 1);
        CHECK(nettest::local_port(l.fd) != 0);
    }
    // IPV6_V6ONLY only means something on the wildcard (the kernel sets it for any other address).
    // Bound, not listening: nothing can reach these sockets.
    auto b = loopback_bind(0, true);
    reinterpret_cast<sockaddr_in6*>(&b.addr.ss)->sin6_addr = in6addr_any;
    b.v6only = true;
    {
        Fd l{es::net::open_listener(b, 16, false)};
        CHECK(int_option(l.fd, IPPROTO_IPV6, IPV6_V6ONLY) == 1);
    }
    b.v6only = false;
    b.v4v6 = true;
    {
        Fd l{es::net::open_listener(b, 16, false)};
        CHECK(int_option(l.fd, IPPROTO_IPV6, IPV6_V6ONLY) == 0);
    }
    b.v4v6 = false;  // neither: the system's default (net.ipv6.bindv6only)
    Fd probe{socket(AF_INET6, SOCK_STREAM, 0)};
    const int system_default = int_option(probe.fd, IPPROTO_IPV6, IPV6_V6ONLY);
    Fd l{es::net::open_listener(b, 16, false)};
    CHECK(int_option(l.fd, IPPROTO_IPV6, IPV6_V6ONLY) == system_default);
}

TEST_CASE("a bind that fails names the config line and the address, and closes the socket") {
    // the port is held by a socket that does not share it
    Fd holder{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    const auto any = loopback_bind();
    REQUIRE(bind(holder.fd, reinterpret_cast<const sockaddr*>(&any.addr.ss), any.addr.len) == 0);
    REQUIRE(listen(holder.fd, 4) == 0);
    const std::uint16_t port = nettest::local_port(holder.fd);
    const std::string where = "test.cfg:12: cannot bind 127.0.0.1:" + std::to_string(port) + ": ";
    const int before = nettest::open_fd_count();
    CHECK_THROWS_WITH_AS(es::net::open_listener(loopback_bind(port), 16), doctest::Contains(where.c_str()),
                         std::runtime_error);
    CHECK(nettest::open_fd_count() == before);
}

TEST_CASE("start_listening reports the errno instead of throwing") {
    const auto b = loopback_bind();
    CHECK(es::net::start_listening(-1, b, 16) == EBADF);
    Fd udp{socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    CHECK(es::net::start_listening(udp.fd, b, 16) == EOPNOTSUPP);
}
