#include "edgeshard/net/listener.hpp"

#include <linux/filter.h>
#include <fcntl.h>
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
    if (b.fd >= 0) {  // fd@N: the given socket, one duplicate per shard (the kernel shares its queue between them)
        const int fd = ::fcntl(b.fd, F_DUPFD_CLOEXEC, 3);
        const int fl = fd < 0 ? -1 : ::fcntl(fd, F_GETFL);
        if (fd < 0 || fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
            const int e = errno;
            if (fd >= 0) ::close(fd);
            throw std::runtime_error(b.where.file + ":" + std::to_string(b.where.line) + ": cannot use file descriptor " +
                                     std::to_string(b.fd) + " (" + b.spec + "): " + std::strerror(e));
        }
        if (client_first) delay_acks(fd);
        return fd;
    }
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

int steer_by_source(int fd, unsigned group) {
    if (group == 0) {
        const int zero = 0;
        if (setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof zero) != 0 && errno != ENOENT)
            return errno;
        return 0;
    }
    // offsets from the network header (SKF_NET_OFF): the program runs on the SYN once the TCP header
    // is pulled, so the addresses are reached through the kernel's negative-offset loads
    constexpr std::uint32_t kNet = std::uint32_t(SKF_NET_OFF);
    sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kNet + 0),        // version and IHL
        /* 1 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
        /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 0),        // IPv4 (4): to 3; IPv6 (6): to 5
        /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 12),       // IPv4 source address
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JA, 10, 0, 0),                // to 15
        /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 8),        // IPv6: xor of the source's words
        /* 6 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
        /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 12),
        /* 8 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
        /* 9 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
        /* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 16),
        /* 11 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
        /* 12 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
        /* 13 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNet + 20),
        /* 14 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
        /* 15 */ BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9E3779B1u),   // spread (Fibonacci hashing)
        /* 16 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
        /* 17 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, group),
        /* 18 */ BPF_STMT(BPF_RET | BPF_A, 0),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) return errno;
    return 0;
}

}  // namespace es::net
