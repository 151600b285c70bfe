#include "edgeshard/net/listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace es::net {

namespace {

void delay_acks(int fd) {
    const int zero = 0;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);  // best effort: a packet saved
}

}  // namespace

int open_listener(const config::Bind& b, int backlog, bool listen_now, bool client_first) {
    const int fd = ::socket(b.addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    auto fail = [&](const char* what) {
        const int e = errno;
        if (fd >= 0) ::close(fd);
        throw std::runtime_error(b.where.file + ":" + std::to_string(b.where.line) + ": cannot " + what + " " +
                                 b.addr.text() + ": " + std::strerror(e));
    };
    if (fd < 0) fail("create a socket for");
    const int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) fail("set SO_REUSEADDR on");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) fail("set SO_REUSEPORT on");
    // accepted sockets inherit TCP_NODELAY: the proxy forwards what it has at once, it never
    // wants Nagle to hold a small write back
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (b.addr.family() == AF_INET6 && (b.v6only || b.v4v6)) {
        const int v6 = b.v6only ? 1 : 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6) != 0) fail("set IPV6_V6ONLY on");
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&b.addr.ss), b.addr.len) != 0) fail("bind");
    if (listen_now) {
        if (::listen(fd, b.backlog > 0 ? b.backlog : backlog) != 0) fail("listen on");
        if (client_first) delay_acks(fd);
    }
    return fd;
}

int start_listening(int fd, const config::Bind& b, int backlog, bool client_first) {
    if (::listen(fd, b.backlog > 0 ? b.backlog : backlog) != 0) return errno;
    if (client_first) delay_acks(fd);
    return 0;
}

}  // namespace es::net
