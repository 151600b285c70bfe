#include "net_test.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// Runs before doctest's main: without io_uring the room cannot be tested at all.
const bool uring_available = [] {
    io_uring r{};
    const int e = io_uring_queue_init(8, &r, 0);
    if (e < 0) {
        std::fprintf(stderr, "unit_net: skipped: io_uring is unavailable here (io_uring_queue_init: %s)\n",
                     std::strerror(-e));
        std::exit(77);
    }
    io_uring_queue_exit(&r);
    return true;
}();

}  // namespace

namespace nettest {

TestRing::TestRing(unsigned entries) { REQUIRE(io_uring_queue_init(entries, &ring, 0) == 0); }

TestRing::~TestRing() { io_uring_queue_exit(&ring); }

io_uring_sqe* TestRing::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    REQUIRE(s != nullptr);
    return s;
}

TestRing::Cqe TestRing::submit() {
    REQUIRE(io_uring_submit(&ring) >= 1);
    io_uring_cqe* cqe = nullptr;
    REQUIRE(io_uring_wait_cqe(&ring, &cqe) == 0);
    const Cqe c{cqe->res, cqe->flags};
    io_uring_cqe_seen(&ring, cqe);
    return c;
}

es::config::Bind loopback_bind(std::uint16_t port, bool v6) {
    es::config::Bind b;
    if (v6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&b.addr.ss);
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        in6->sin6_port = htons(port);
        b.addr.len = sizeof(sockaddr_in6);
    } else {
        auto* in = reinterpret_cast<sockaddr_in*>(&b.addr.ss);
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in->sin_port = htons(port);
        b.addr.len = sizeof(sockaddr_in);
    }
    b.spec = b.addr.text();
    b.where = {"test.cfg", 12};
    return b;
}

std::uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
    return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

int connect_loopback(std::uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in.sin_port = htons(port);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0);
    return fd;
}

int int_option(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    REQUIRE(getsockopt(fd, level, name, &v, &len) == 0);
    return v;
}

bool fd_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

int open_fd_count() {
    DIR* d = opendir("/proc/self/fd");
    REQUIRE(d != nullptr);
    int n = 0;
    while (readdir(d) != nullptr) ++n;
    closedir(d);
    return n;
}

}  // namespace nettest
