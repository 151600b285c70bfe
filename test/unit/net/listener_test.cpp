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
#include <cstdint>
#include <cstring>
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

}  // namespace

namespace {

// Segments the client side of a connection has received: TCP_INFO's tcpi_segs_in (Linux 4.2),
// which glibc's struct tcp_info stops short of: read at its offset in linux/tcp.h's.
unsigned segs_in(int fd) {
    unsigned char ti[256] = {};
    socklen_t len = sizeof ti;
    REQUIRE(getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == 0);
    constexpr std::size_t kSegsIn = 140;  // after 104 bytes of glibc's fields, 4 u64 rates/counts, segs_out
    REQUIRE(len >= kSegsIn + 4);
    std::uint32_t v = 0;
    std::memcpy(&v, ti + kSegsIn, sizeof v);
    return v;
}

// One exchange on a fresh connection to `l`: the client sends a request, the server reads it,
// answers 5 ms later; returns the segments the client received (SYN-ACK, the response, and a
// pure ACK of the request unless it left with the response).
unsigned exchange_segments(int l) {
    Fd c{nettest::connect_loopback(nettest::local_port(l))};
    int a = -1;
    for (int i = 0; i < 1000 && a < 0; ++i) {
        a = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
        if (a < 0) usleep(1000);
    }
    REQUIRE(a >= 0);
    Fd accepted{a};
    static const char kReq[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(send(c.fd, kReq, sizeof kReq - 1, 0) == ssize_t(sizeof kReq - 1));
    char buf[256];
    ssize_t n = -1;
    for (int i = 0; i < 1000 && n <= 0; ++i) {
        n = recv(accepted.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) usleep(1000);
    }
    REQUIRE(n == ssize_t(sizeof kReq - 1));
    usleep(5000);  // the server thinks (well under the 40 ms delayed-ACK timer)
    static const char kRsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    REQUIRE(send(accepted.fd, kRsp, sizeof kRsp - 1, 0) == ssize_t(sizeof kRsp - 1));
    for (int i = 0; i < 1000 && recv(c.fd, buf, sizeof buf, MSG_DONTWAIT) <= 0; ++i) usleep(1000);
    return segs_in(c.fd);
}

}  // namespace

TEST_CASE("client_first (HTTP) listeners delay ACKs: the request's ACK leaves with the response") {
    const auto b = loopback_bind();
    Fd plain{es::net::open_listener(b, 16)};
    Fd http{es::net::open_listener(b, 16, true, true)};
    Fd later{es::net::open_listener(b, 16, false, true)};
    REQUIRE(es::net::start_listening(later.fd, b, 16, true) == 0);
    CHECK(int_option(plain.fd, IPPROTO_TCP, TCP_QUICKACK) == 1);
    CHECK(int_option(http.fd, IPPROTO_TCP, TCP_QUICKACK) == 0);  // set after listen(2), which resets it
    CHECK(int_option(later.fd, IPPROTO_TCP, TCP_QUICKACK) == 0);
    CHECK(exchange_segments(plain.fd) == 3u);  // SYN-ACK, a pure ACK of the request, the response
    CHECK(exchange_segments(http.fd) == 2u);   // SYN-ACK, the response carrying the ACK
    CHECK(exchange_segments(later.fd) == 2u);
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
