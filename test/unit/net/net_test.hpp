// Helpers shared by the net room's unit tests.
//
// Nothing here talks to the network: sockets bind 127.0.0.1 (or ::1) on a port the kernel picks.
// A test that needs io_uring makes its own TestRing; where io_uring is unavailable (kernel,
// seccomp profile, kernel.io_uring_disabled) the binary exits 77 before any test runs, saying
// why (net_test.cpp), and meson reports it skipped.
#pragma once

#include <liburing.h>

#include <cstdint>

#include "edgeshard/config/config.hpp"

namespace nettest {

// An io_uring of the test's own; submit() sends what was prepared and waits for one completion.
struct TestRing {
    io_uring ring{};
    explicit TestRing(unsigned entries = 64);
    ~TestRing();
    TestRing(const TestRing&) = delete;
    TestRing& operator=(const TestRing&) = delete;

    struct Cqe {
        int res;
        unsigned flags;
    };
    io_uring_sqe* sqe();
    Cqe submit();
};

// A bind line as the parser produces it: 127.0.0.1 (or ::1 with v6) on `port` (0 = the kernel
// picks), written at test.cfg:12.
es::config::Bind loopback_bind(std::uint16_t port = 0, bool v6 = false);
std::uint16_t local_port(int fd);
int connect_loopback(std::uint16_t port);  // a blocking TCP connection to 127.0.0.1:port
int int_option(int fd, int level, int name);
bool fd_open(int fd);
int open_fd_count();  // entries of /proc/self/fd

}  // namespace nettest
