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
//   edgeshardctl -s /run/edgeshard.sock reload
// Dependency-free on purpose (libc + the C++ standard library): it must build and run on a box
// where only the binary was copied.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

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
                 "several may be given separated by ';'. 'reload' starts a new edgeshard with the running\n"
                 "one's command line plus -x SOCKET -sf PID, waits until it has taken over and prints\n"
                 "Success=1 and its PID, or Success=0 and its errors (exit status 1).\n"
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


// Sends one request line and collects the whole answer into `out` (or copies it to stdout when
// out is null). Returns 0 or an exit status.
int query(const std::string& path, const std::string& request, std::int64_t deadline, std::string* out) {
    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path) {
        std::fprintf(stderr, "edgeshardctl: socket path too long: %s\n", path.c_str());
        return kExitUsage;
    }
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);

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
        if (n > 0 && out) {
            out->append(buf, std::size_t(n));
            continue;
        }
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
                ::close(fd);
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

// `edgeshardctl reload`: starts a new process with the running one's command line plus
// `-x SOCKET -sf PID`, waits for it to take over, and reports. Its own output goes where the
// running process's goes; its start-up messages come back to us through EDGESHARD_STARTUP_FD.
int reload(const std::string& path, std::int64_t deadline) {
    std::string info;
    if (int rc = query(path, "show info\n", deadline, &info)) return rc;
    int pid = 0;
    for (std::size_t p = 0; (p = info.find("Pid: ", p)) != std::string::npos; ++p)
        if (p == 0 || info[p - 1] == '\n') pid = std::atoi(info.c_str() + p + 5);
    if (pid <= 0) {
        std::printf("Success=0\nthe process on %s did not tell its PID\n", path.c_str());
        return kExitLocal;
    }
    const std::string proc = "/proc/" + std::to_string(pid);
    std::string cmdline;
    if (FILE* f = std::fopen((proc + "/cmdline").c_str(), "rb")) {
        char b[4096];
        std::size_t n;
        while ((n = std::fread(b, 1, sizeof b, f)) > 0) cmdline.append(b, n);
        std::fclose(f);
    }
    std::vector<std::string> args;
    for (std::size_t p = 0; p < cmdline.size();) {
        const std::size_t z = cmdline.find('\0', p);
        args.push_back(cmdline.substr(p, z == std::string::npos ? std::string::npos : z - p));
        if (z == std::string::npos) break;
        p = z + 1;
    }
    char exe[4096], cwd[4096];
    const ssize_t el = ::readlink((proc + "/exe").c_str(), exe, sizeof exe - 1);
    const ssize_t cl = ::readlink((proc + "/cwd").c_str(), cwd, sizeof cwd - 1);
    if (args.empty() || el <= 0 || cl <= 0) {
        std::printf("Success=0\ncannot read the command line of PID %d (%s)\n", pid, std::strerror(errno));
        return kExitLocal;
    }
    exe[el] = '\0';
    cwd[cl] = '\0';
    // the same options, without an earlier reload's -x/-sf/-st
    std::vector<std::string> keep;
    for (std::size_t k = 1; k < args.size(); ++k) {
        if (args[k] == "-x") {
            ++k;
            continue;
        }
        if (args[k] == "-sf" || args[k] == "-st") {
            while (k + 1 < args.size() && !args[k + 1].empty() && args[k + 1][0] >= '0' && args[k + 1][0] <= '9') ++k;
            continue;
        }
        keep.push_back(args[k]);
    }
    std::string exe_path = exe;
    const std::string deleted = " (deleted)";  // the binary was replaced on disk: run the new one
    if (exe_path.size() > deleted.size() && exe_path.compare(exe_path.size() - deleted.size(), deleted.size(), deleted) == 0)
        exe_path.resize(exe_path.size() - deleted.size());
    char abs_sock[4096];
    std::string sock = path;
    if (!sock.empty() && sock[0] != '/' && ::getcwd(abs_sock, sizeof abs_sock)) sock = std::string(abs_sock) + "/" + sock;

    int pfd[2];
    if (::pipe2(pfd, O_CLOEXEC) != 0) {
        std::printf("Success=0\npipe: %s\n", std::strerror(errno));
        return kExitLocal;
    }
    const pid_t child = ::fork();
    if (child < 0) {
        std::printf("Success=0\nfork: %s\n", std::strerror(errno));
        return kExitLocal;
    }
    if (child == 0) {
        ::setsid();
        if (::chdir(cwd) != 0) _exit(127);
        // where the running process writes, so logs to stdout/stderr continue in the same place;
        // a socket (systemd's journal) cannot be reopened through /proc: then ours are kept, which
        // under ExecReload are the same unit's journal streams
        for (int fdn = 1; fdn <= 2; ++fdn) {
            const std::string src = proc + "/fd/" + std::to_string(fdn);
            const int t = ::open(src.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
            if (t >= 0) {
                ::dup2(t, fdn);
                ::close(t);
            }
        }
        const int nul = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (nul >= 0) {
            ::dup2(nul, 0);
            ::close(nul);
        }
        const int sfd = ::dup(pfd[1]);  // without O_CLOEXEC: inherited
        const std::string env = "EDGESHARD_STARTUP_FD=" + std::to_string(sfd);
        ::putenv(const_cast<char*>(env.c_str()));
        std::vector<std::string> argv_s = {args[0]};
        for (const auto& a : keep) argv_s.push_back(a);
        argv_s.push_back("-x");
        argv_s.push_back(sock);
        argv_s.push_back("-sf");
        argv_s.push_back(std::to_string(pid));
        std::vector<char*> av;
        for (auto& a : argv_s) av.push_back(a.data());
        av.push_back(nullptr);
        ::execv(exe_path.c_str(), av.data());
        _exit(127);
    }
    ::close(pfd[1]);
    // the start-up messages, until the new process closes the pipe (ready, or gone)
    std::string msgs;
    char buf[4096];
    for (;;) {
        const int r = wait_for(pfd[0], POLLIN, deadline);
        if (r <= 0) {
            std::printf("Success=0\nthe new process (PID %d) did not finish starting in time\n%s", int(child), msgs.c_str());
            return kExitTimeout;
        }
        const ssize_t n = ::read(pfd[0], buf, sizeof buf);
        if (n > 0) {
            msgs.append(buf, std::size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    ::close(pfd[0]);
    int status = 0;
    const pid_t w = ::waitpid(child, &status, WNOHANG);
    const bool ready = msgs.find("ready:") != std::string::npos && w == 0;
    if (!ready) {
        if (w == 0) ::waitpid(child, &status, 0);
        std::printf("Success=0\n%s", msgs.c_str());
        if (WIFEXITED(status)) std::printf("the new process exited with status %d\n", WEXITSTATUS(status));
        return kExitLocal;
    }
    std::printf("Success=1\nPid: %d\n%s", int(child), msgs.c_str());
    return 0;
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

    const std::int64_t deadline = now_ms() + std::int64_t(timeout_s * 1000);
    if (request == "reload\n") return reload(path, deadline);
    return query(path, request, deadline, nullptr);
}
