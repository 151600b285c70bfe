// edgeshardctl: send one CLI request to edgeshard's control socket and print the answer.
//
//   edgeshardctl [-s SOCKET] [-t TIMEOUT_S] COMMAND WORDS...
//   edgeshardctl -s /run/edgeshard.sock show stat json
//   edgeshardctl 'show info; show pools'
//
// The words are joined with spaces and sent as one line; the server answers and closes the
// connection (non-interactive CLI), and the whole answer goes to stdout unchanged.
// Exit status: 0 answered, 1 usage or local error (stdout closed), 2 cannot connect or the
// connection failed, 3 timeout.
// Dependency-free on purpose (libc + the C++ standard library): it must build and run on a box
// where only the binary was copied.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr const char* kDefaultSocket = "/tmp/edgeshard.sock";
constexpr int kExitUsage = 1;
constexpr int kExitLocal = 1;
constexpr int kExitConnect = 2;
constexpr int kExitTimeout = 3;

void usage(std::FILE* to) {
    std::fprintf(to,
                 "usage: edgeshardctl [-s SOCKET] [-t TIMEOUT_S] COMMAND [WORDS...]\n"
                 "  -s SOCKET   control socket (default: $EDGESHARD_SOCKET, else %s)\n"
                 "  -t SECONDS  give up after this long (default 10; fractions allowed)\n"
                 "  -h          this help\n"
                 "Commands are the server's CLI commands, e.g. 'help', 'show info', 'show stat json';\n"
                 "several may be given separated by ';'.\n"
                 "Exit status: 0 ok, 1 usage or local error, 2 connection failure, 3 timeout.\n",
                 kDefaultSocket);
}

std::int64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Waits for `events` on fd until the deadline. Returns 1 ready, 0 timeout, -1 error.
int wait_for(int fd, short events, std::int64_t deadline) {
    for (;;) {
        const std::int64_t left = deadline - now_ms();
        if (left <= 0) return 0;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, int(left > 60000 ? 60000 : left));
        if (n > 0) return 1;
        if (n < 0 && errno != EINTR) return -1;
    }
}

bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= std::size_t(w);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    const char* env = std::getenv("EDGESHARD_SOCKET");
    std::string path = env && *env ? env : kDefaultSocket;
    double timeout_s = 10.0;

    int i = 1;
    for (; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        }
        if (a == "-s" || a == "-t") {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "edgeshardctl: %s needs a value\n", a.c_str());
                usage(stderr);
                return kExitUsage;
            }
            const char* v = argv[++i];
            if (a == "-s") {
                path = v;
            } else {
                char* end = nullptr;
                timeout_s = std::strtod(v, &end);
                if (!end || *end || !(timeout_s > 0)) {
                    std::fprintf(stderr, "edgeshardctl: bad timeout '%s' (seconds, > 0)\n", v);
                    return kExitUsage;
                }
            }
            continue;
        }
        if (a == "--") {
            ++i;
            break;
        }
        if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "edgeshardctl: unknown option '%s'\n", a.c_str());
            usage(stderr);
            return kExitUsage;
        }
        break;
    }
    if (i >= argc) {
        usage(stderr);
        return kExitUsage;
    }
    std::string request;
    for (; i < argc; ++i) {
        if (!request.empty()) request.push_back(' ');
        request += argv[i];
    }
    request.push_back('\n');

    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path) {
        std::fprintf(stderr, "edgeshardctl: socket path too long: %s\n", path.c_str());
        return kExitUsage;
    }
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);

    const std::int64_t deadline = now_ms() + std::int64_t(timeout_s * 1000);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        std::fprintf(stderr, "edgeshardctl: socket: %s\n", std::strerror(errno));
        return kExitConnect;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0) {
        // A Unix socket whose backlog is full answers EAGAIN: wait for it like a TCP connect.
        if (errno != EAGAIN && errno != EINPROGRESS) {
            std::fprintf(stderr, "edgeshardctl: cannot connect to %s: %s\n", path.c_str(),
                         std::strerror(errno));
            return kExitConnect;
        }
        const int r = wait_for(fd, POLLOUT, deadline);
        if (r == 0) {
            std::fprintf(stderr, "edgeshardctl: timeout connecting to %s\n", path.c_str());
            return kExitTimeout;
        }
        if (r < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0) {
            std::fprintf(stderr, "edgeshardctl: cannot connect to %s: %s\n", path.c_str(),
                         std::strerror(errno));
            return kExitConnect;
        }
    }

    std::size_t sent = 0;
    while (sent < request.size()) {
        const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            const int r = wait_for(fd, POLLOUT, deadline);
            if (r == 0) {
                std::fprintf(stderr, "edgeshardctl: timeout sending to %s\n", path.c_str());
                return kExitTimeout;
            }
            if (r > 0) continue;
        }
        std::fprintf(stderr, "edgeshardctl: send to %s: %s\n", path.c_str(), std::strerror(errno));
        return kExitConnect;
    }
    // Nothing more to say: the server may treat our end of stream as the end of the request.
    ::shutdown(fd, SHUT_WR);

    char buf[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (!write_all(STDOUT_FILENO, buf, std::size_t(n))) {
                std::fprintf(stderr, "edgeshardctl: writing to stdout: %s\n", std::strerror(errno));
                return kExitLocal;
            }
            continue;
        }
        if (n == 0) break;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            const int r = wait_for(fd, POLLIN, deadline);
            if (r == 0) {
                std::fprintf(stderr, "edgeshardctl: timeout waiting for the answer from %s\n", path.c_str());
                return kExitTimeout;
            }
            if (r > 0) continue;
        }
        std::fprintf(stderr, "edgeshardctl: receive from %s: %s\n", path.c_str(), std::strerror(errno));
        return kExitConnect;
    }
    ::close(fd);
    return 0;
}
