// The master process: see include/edgeshard/control/master.hpp.
//
// One poll loop over a signalfd, the master CLI's listener and its clients. Starting a worker is a
// synchronous step of that loop (the worker's start-up lines come through a pipe, as for a reload
// helper, and end with "]: ready: " or with the pipe closing); signals wait in the signalfd
// meanwhile. Old workers are not managed beyond being reaped: after the handoff's commit they drain
// and exit by themselves (`hard-stop-after`, `mworker-max-reloads` apply there).
#include "edgeshard/control/master.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/core/clock.hpp"
#include "edgeshard/core/version.hpp"

namespace es::control {

void sd_notify(const std::string& text) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    sockaddr_un sun{};
    const std::size_t len = std::strlen(path);
    if (len >= sizeof sun.sun_path) return;
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path, len);
    if (sun.sun_path[0] == '@') sun.sun_path[0] = '\0';  // abstract namespace
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    (void)sendto(fd, text.data(), text.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sun),
                 socklen_t(offsetof(sockaddr_un, sun_path) + len));
    close(fd);
}

bool read_startup(int fd, std::int64_t timeout_ms, std::string& out) {
    const std::int64_t deadline = core::now_ms() + timeout_ms;
    char buf[4096];
    for (;;) {
        int wait = -1;
        if (timeout_ms > 0) {
            const std::int64_t left = deadline - core::now_ms();
            if (left <= 0) return false;
            wait = int(std::min<std::int64_t>(left, 1000));
        }
        pollfd pf{fd, POLLIN, 0};
        const int r = ::poll(&pf, 1, wait);
        if (r < 0 && errno != EINTR) return true;
        if (r <= 0) continue;
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, std::size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return true;
    }
}

bool write_pid_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return false;
    std::fprintf(f, "%d\n", int(getpid()));
    return std::fclose(f) == 0;
}

namespace master {

std::string parse_cli_spec(const std::string& spec, Options& o) {
    std::vector<std::string> parts;
    for (std::size_t p = 0;;) {
        const std::size_t c = spec.find(',', p);
        parts.push_back(spec.substr(p, c == std::string::npos ? std::string::npos : c - p));
        if (c == std::string::npos) break;
        p = c + 1;
    }
    std::string path = parts[0];
    if (path.starts_with("unix@")) path.erase(0, 5);
    if (path.empty()) return "-S needs the path of the master CLI's unix socket";
    if (path.find('/') == std::string::npos && path.find(':') != std::string::npos)
        return "-S " + parts[0] + ": the master CLI listens on a unix socket path only (a TCP master CLI would "
               "give anyone who reaches the port the reload and every worker's admin commands)";
    if (path.size() > 100) return "-S " + path + ": the path is too long for a unix socket";
    o.cli_path = path;
    for (std::size_t i = 1; i < parts.size(); i += 2) {
        const std::string& k = parts[i];
        if (i + 1 >= parts.size()) return "-S: option '" + k + "' needs a value";
        const std::string& v = parts[i + 1];
        if (k == "mode") {
            char* end = nullptr;
            const unsigned long m = std::strtoul(v.c_str(), &end, 8);
            if (v.empty() || *end || m > 07777) return "-S: 'mode' expects an octal file mode such as 600, got '" + v + "'";
            o.cli_mode = unsigned(m);
        } else if (k == "level") {
            if (v == "user") o.cli_level = 0;
            else if (v == "operator") o.cli_level = 1;
            else if (v == "admin") o.cli_level = 2;
            else return "-S: 'level' expects user, operator or admin, got '" + v + "'";
        } else if (k == "uid" || k == "gid" || k == "user" || k == "group") {
            // the socket keeps the owner the master runs as (as `stats socket` does); its mode restricts it
        } else {
            return "-S: unsupported option '" + k + "' (supported: mode, level; uid, gid, user, group are ignored)";
        }
    }
    return {};
}

namespace {

constexpr std::int64_t kStartTimeoutMs = 180000;  // a worker that has not served by then is killed
constexpr int kForwardTimeoutMs = 10000;          // one command passed to a worker
constexpr std::size_t kMaxLine = 64 * 1024;

struct Worker {
    pid_t pid = 0;
    std::string sock;  // its private admin socket (the master's and the next worker's way in)
    std::int64_t started_ms = 0;
    int reloads = 0;  // reloads it has been through
    bool current = false;
};

struct Client {
    int fd = -1;
    std::string in;
    bool prompt = false;
    bool done = false;
    int level = 2;
    pid_t target = 0;  // 0: the master; else the worker commands go to
};

void say(const char* tag, const std::string& text) {
    std::fprintf(stderr, "%-11s(%d) : %s\n", tag, int(getpid()), text.c_str());
    std::fflush(stderr);
}

std::string exit_text(int status) {
    char b[96];
    if (WIFEXITED(status)) std::snprintf(b, sizeof b, "code %d (Exit)", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        std::snprintf(b, sizeof b, "code %d (%s)", 128 + WTERMSIG(status), strsignal(WTERMSIG(status)));
    else std::snprintf(b, sizeof b, "status %d", status);
    return b;
}

int exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

std::string uptime_text(std::int64_t ms) {
    const long long s = ms / 1000;
    char b[64];
    std::snprintf(b, sizeof b, "%lldd%02lldh%02lldm%02llds", s / 86400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    return b;
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(std::size_t(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 5000) <= 0) return false;
            continue;
        }
        return false;
    }
    return true;
}

class Master {
public:
    explicit Master(const Options& o) : o_(o), start_ms_(core::now_ms()) {}

    int run() {
        sigset_t set;
        sigemptyset(&set);
        for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP, SIGCHLD}) sigaddset(&set, s);
        for (int s : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP}) signal(s, SIG_DFL);
        sigprocmask(SIG_BLOCK, &set, &saved_mask_);
        signal(SIGPIPE, SIG_IGN);
        sfd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd_ < 0) return fail(std::string("signalfd: ") + std::strerror(errno));
        if (!make_dir()) return 1;
        if (!o_.cli_path.empty() && !open_cli()) {
            cleanup();
            return 1;
        }
        std::string lines;
        if (!spawn(nullptr, lines)) {
            if (o_.startup_fd >= 0) {
                (void)!::write(o_.startup_fd, lines.data(), lines.size());
                ::close(o_.startup_fd);
            }
            cleanup();
            return 1;
        }
        if (!o_.pidfile.empty() && !write_pid_file(o_.pidfile))
            say("[WARNING]", "cannot write the PID file " + o_.pidfile + ": " + std::strerror(errno));
        if (o_.startup_fd >= 0) {
            (void)!::write(o_.startup_fd, lines.data(), lines.size());
            ::close(o_.startup_fd);
        }
        if (o_.daemon) {
            const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
            if (null >= 0) {
                ::dup2(null, 2);
                ::close(null);
            }
        }
        sd_notify("READY=1\nMAINPID=" + std::to_string(getpid()) + "\n");
        loop();
        say("[WARNING]", "All workers exited. Exiting... (" + std::to_string(code_) + ")");
        cleanup();
        return code_;
    }

private:
    Options o_;
    std::int64_t start_ms_;
    sigset_t saved_mask_{};
    int sfd_ = -1;
    int lfd_ = -1;
    std::string dir_;
    std::vector<Worker> workers_;
    std::vector<Client> clients_;
    int seq_ = 0;
    int reloads_ = 0, failed_ = 0;
    bool last_failed_ = false;
    bool stopping_ = false;
    bool reload_asked_ = false;
    int code_ = 0;

    int fail(const std::string& msg) {
        say("[ALERT]", msg);
        return 1;
    }

    Worker* current() {
        for (auto& w : workers_)
            if (w.current) return &w;
        return nullptr;
    }

    Worker* by_pid(pid_t pid) {
        for (auto& w : workers_)
            if (w.pid == pid) return &w;
        return nullptr;
    }

    // A directory only we can enter holds the workers' admin sockets.
    bool make_dir() {
        const char* base = std::getenv("RUNTIME_DIRECTORY");  // systemd's RuntimeDirectory=
        if (!base || !*base || std::strchr(base, ':')) base = std::getenv("TMPDIR");
        if (!base || !*base) base = "/tmp";
        std::string t = std::string(base) + "/edgeshard-master." + std::to_string(getpid()) + ".XXXXXX";
        if (!::mkdtemp(t.data())) {
            fail("cannot make a private directory for the workers' sockets under " + std::string(base) + ": " +
                 std::strerror(errno));
            return false;
        }
        dir_ = t;
        return true;
    }

    bool open_cli() {
        struct stat st {};
        if (::lstat(o_.cli_path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
            fail("-S " + o_.cli_path + ": exists and is not a socket, not replacing it");
            return false;
        }
        const std::string tmp = o_.cli_path + "." + std::to_string(getpid()) + ".tmp";
        sockaddr_un sun{};
        if (tmp.size() >= sizeof sun.sun_path) {
            fail("-S " + o_.cli_path + ": path too long");
            return false;
        }
        lfd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, tmp.c_str(), tmp.size() + 1);
        ::unlink(tmp.c_str());
        if (lfd_ < 0 || ::bind(lfd_, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 ||
            ::chmod(tmp.c_str(), o_.cli_mode) != 0 || ::listen(lfd_, 16) != 0 ||
            ::rename(tmp.c_str(), o_.cli_path.c_str()) != 0) {
            const int e = errno;
            ::unlink(tmp.c_str());
            fail("-S " + o_.cli_path + ": cannot listen: " + std::strerror(e));
            return false;
        }
        return true;
    }

    void cleanup() {
        for (auto& c : clients_) ::close(c.fd);
        clients_.clear();
        if (lfd_ >= 0) {
            ::close(lfd_);
            ::unlink(o_.cli_path.c_str());
            lfd_ = -1;
        }
        if (!dir_.empty()) {
            // the workers remove their own sockets; a killed one's may be left
            for (int k = 1; k <= seq_; ++k) ::unlink((dir_ + "/worker." + std::to_string(k) + ".sock").c_str());
            ::rmdir(dir_.c_str());
            dir_.clear();
        }
        if (sfd_ >= 0) ::close(sfd_);
        sfd_ = -1;
    }

    // Starts a worker (taking `from`'s sockets over when given) and waits until it serves or fails.
    // `lines` gets what it said while starting.
    bool spawn(const Worker* from, std::string& lines) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) {
            fail(std::string("pipe: ") + std::strerror(errno));
            return false;
        }
        const std::string sock = dir_ + "/worker." + std::to_string(++seq_) + ".sock";
        const pid_t me = getpid();
        const pid_t pid = ::fork();
        if (pid < 0) {
            ::close(p[0]);
            ::close(p[1]);
            fail(std::string("fork: ") + std::strerror(errno));
            return false;
        }
        if (pid == 0) {
            // the worker stops when the master is gone (SIGTERM: a hard stop, as systemd's would be)
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != me) _exit(1);
            sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
            const int w = ::dup(p[1]);  // without O_CLOEXEC: the worker's start-up pipe
            setenv("EDGESHARD_STARTUP_FD", std::to_string(w).c_str(), 1);
            setenv("EDGESHARD_WORKER_SOCKET", sock.c_str(), 1);
            unsetenv("NOTIFY_SOCKET");  // the master speaks to the service manager
            std::vector<std::string> args = o_.worker_args;
            if (from) {
                args.push_back("-x");
                args.push_back(from->sock);
            }
            std::vector<char*> av;
            for (auto& a : args) av.push_back(a.data());
            av.push_back(nullptr);
            ::execv(o_.exe.c_str(), av.data());
            std::fprintf(stderr, "edgeshard: cannot run %s: %s\n", o_.exe.c_str(), std::strerror(errno));
            _exit(127);
        }
        ::close(p[1]);
        say("[NOTICE]", "New worker (" + std::to_string(pid) + ") forked");
        const bool timed_out = !read_startup(p[0], kStartTimeoutMs, lines);
        ::close(p[0]);
        int status = 0;
        pid_t got = ::waitpid(pid, &status, WNOHANG);
        const bool ok = !timed_out && got == 0 && lines.find(kReadyMark) != std::string::npos;
        if (!ok) {
            if (got == 0) {
                ::kill(pid, timed_out ? SIGKILL : SIGTERM);
                got = ::waitpid(pid, &status, 0);
            }
            if (timed_out) lines += "edgeshard: the worker did not serve within " + std::to_string(kStartTimeoutMs / 1000) + " s\n";
            say("[ALERT]", "Loading failure! The worker (" + std::to_string(pid) + ") exited with " + exit_text(status));
            return false;
        }
        for (auto& w : workers_) w.current = false;
        Worker nw;
        nw.pid = pid;
        nw.sock = sock;
        nw.started_ms = core::now_ms();
        nw.current = true;
        workers_.push_back(nw);
        say("[NOTICE]", "Loading success.");
        return true;
    }

    void reload() {
        reload_asked_ = false;
        if (stopping_) return;
        say("[NOTICE]", "Reloading edgeshard");
        sd_notify("RELOADING=1\nSTATUS=Reloading Configuration.\n");
        ++reloads_;
        for (auto& w : workers_) ++w.reloads;
        std::string lines;
        Worker* cur = current();
        const bool ok = spawn(cur, lines);
        if (ok) {
            last_failed_ = false;
            failed_ = 0;  // HAProxy's count: the failed reloads since the last one that worked
            sd_notify("READY=1\nSTATUS=Ready.\n");
        } else {
            ++failed_;
            last_failed_ = true;
            say("[WARNING]", std::string("Reload failed: ") +
                                 (cur ? "the worker (" + std::to_string(cur->pid) + ") keeps serving the previous configuration"
                                      : "no worker serves"));
            sd_notify("READY=1\nSTATUS=Reload failed!\n");
        }
    }

    void forward_signal(int sig) {
        for (const auto& w : workers_) ::kill(w.pid, sig);
    }

    void on_signal() {
        signalfd_siginfo si{};
        while (::read(sfd_, &si, sizeof si) == ssize_t(sizeof si)) {
            const int sig = int(si.ssi_signo);
            if (sig == SIGCHLD) {
                reap();
            } else if (sig == SIGUSR2 || sig == SIGHUP) {
                reload_asked_ = true;
            } else if (sig == SIGTERM || sig == SIGINT || sig == SIGUSR1) {
                if (!stopping_) say("[WARNING]", "Exiting Master process...");
                stopping_ = true;
                sd_notify("STOPPING=1\n");
                forward_signal(sig);  // USR1: the workers drain first; TERM/INT: they stop now
            }
        }
    }

    void reap() {
        for (;;) {
            int status = 0;
            const pid_t pid = ::waitpid(-1, &status, WNOHANG);
            if (pid <= 0) return;
            Worker* w = by_pid(pid);
            if (!w) continue;
            const bool was_current = w->current;
            if (was_current && !stopping_) {
                say("[ALERT]", "Current worker (" + std::to_string(pid) + ") exited with " + exit_text(status));
                if (o_.exit_on_failure) {
                    say("[ALERT]", "exit-on-failure: killing every process with SIGTERM");
                    stopping_ = true;
                    code_ = exit_code(status) ? exit_code(status) : 1;
                    for (const auto& o : workers_)
                        if (o.pid != pid) ::kill(o.pid, SIGTERM);
                }
            } else if (was_current) {
                say("[ALERT]", "Current worker (" + std::to_string(pid) + ") exited with " + exit_text(status));
            } else {
                say("[WARNING]", "Former worker (" + std::to_string(pid) + ") exited with " + exit_text(status));
            }
            workers_.erase(workers_.begin() + (w - workers_.data()));
        }
    }

    // ---- the master CLI

    std::string show_proc() const {
        std::string o;
        char line[256];
        std::snprintf(line, sizeof line, "%-15s %-15s %-15s %-15s %-15s\n", "#<PID>", "<type>", "<reloads>", "<uptime>",
                      "<version>");
        o += line;
        const std::int64_t now = core::now_ms();
        const std::string mr = std::to_string(reloads_) + " [failed: " + std::to_string(failed_) + "]";
        std::snprintf(line, sizeof line, "%-15d %-15s %-15s %-15s %s\n", int(getpid()), "master", mr.c_str(),
                      uptime_text(now - start_ms_).c_str(), kVersion);
        o += line;
        o += "# workers\n";
        for (const auto& w : workers_)
            if (w.current) {
                std::snprintf(line, sizeof line, "%-15d %-15s %-15d %-15s %s\n", int(w.pid), "worker", w.reloads,
                              uptime_text(now - w.started_ms).c_str(), kVersion);
                o += line;
            }
        bool olds = false;
        for (const auto& w : workers_)
            if (!w.current) {
                if (!olds) o += "# old workers\n";
                olds = true;
                std::snprintf(line, sizeof line, "%-15d %-15s %-15d %-15s %s\n", int(w.pid), "worker", w.reloads,
                              uptime_text(now - w.started_ms).c_str(), kVersion);
                o += line;
            }
        o += "# programs\n\n";
        return o;
    }

    static std::string help_text() {
        return "  @!<pid>                                 : send a command to the <pid> process\n"
               "  @<relative pid>                         : send a command to the <relative pid> process\n"
               "  @master                                 : send a command to the master process\n"
               "  operator                                : lower the level of the current CLI session to operator\n"
               "  reload                                  : reload edgeshard\n"
               "  show cli level                          : display the level of the current CLI session\n"
               "  show proc                               : show processes status\n"
               "  show version                            : show version of the current process\n"
               "  user                                    : lower the level of the current CLI session to user\n"
               "  help [<command>]                        : list matching or all commands\n"
               "  prompt                                  : toggle interactive mode with prompt\n"
               "  quit                                    : disconnect\n";
    }

    // "@", "@master", "@1", "@!<pid>": the process it names (0 the master), or -1.
    pid_t resolve_target(std::string_view t) {
        if (t == "@" || t == "@master") return 0;
        if (t == "@1") {
            const Worker* w = current();
            return w ? w->pid : -1;
        }
        if (t.size() > 2 && t[1] == '!') {
            const long v = std::strtol(std::string(t.substr(2)).c_str(), nullptr, 10);
            if (v > 0 && by_pid(pid_t(v))) return pid_t(v);
        }
        return -1;
    }

    // A command to a worker: through the current worker's admin socket, an old worker's through the
    // current one (its reload chain reaches every older process still draining).
    std::string forward(pid_t target, std::string_view cmd, int level) {
        const Worker* cur = current();
        if (!cur) return "No worker serves.\n\n";
        std::string line;
        if (level == 0) line = "user; ";
        else if (level == 1) line = "operator; ";
        if (target != cur->pid) line += "@!" + std::to_string(target) + " ";
        line.append(cmd);
        line.push_back('\n');
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, cur->sock.c_str(), cur->sock.size() + 1);
        timeval tv{kForwardTimeoutMs / 1000, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 || !write_all(fd, line)) {
            if (fd >= 0) ::close(fd);
            return "Can't reach the worker (" + std::to_string(cur->pid) + ").\n\n";
        }
        std::string out;
        char buf[16384];
        for (;;) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                out.append(buf, std::size_t(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        ::close(fd);
        return out;
    }

    // One command of a client's line.
    void command(Client& c, std::string_view cmd, std::string& out) {
        while (!cmd.empty() && (cmd.front() == ' ' || cmd.front() == '\t')) cmd.remove_prefix(1);
        while (!cmd.empty() && (cmd.back() == ' ' || cmd.back() == '\t' || cmd.back() == '\r')) cmd.remove_suffix(1);
        if (cmd.empty()) return;
        pid_t target = c.target;
        if (cmd[0] == '@') {
            const std::size_t sp = cmd.find_first_of(" \t");
            const std::string_view t = cmd.substr(0, sp);
            const pid_t p = resolve_target(t);
            if (p < 0) {
                out += "Can't find the target PID matching the prefix '" + std::string(t) + "'\n";
                return;
            }
            std::string_view rest = sp == std::string_view::npos ? std::string_view() : cmd.substr(sp);
            while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
            if (rest.empty()) {
                c.target = p;  // a prefix alone: the following commands go there
                return;
            }
            target = p;
            cmd = rest;
        }
        if (target != 0 && cmd != "prompt" && cmd != "quit") {
            if (!by_pid(target)) {
                c.target = 0;
                out += "Can't find the target PID matching the prefix '@!" + std::to_string(target) + "'\n";
                return;
            }
            out += forward(target, cmd, c.level);
            return;
        }
        if (cmd == "prompt") {
            c.prompt = !c.prompt;
        } else if (cmd == "quit") {
            c.done = true;
        } else if (cmd == "help" || cmd.starts_with("help ")) {
            out += "The following commands are valid at this level:\n" + help_text();
        } else if (cmd == "show proc") {
            out += show_proc();
        } else if (cmd == "show version") {
            out += std::string(kVersion) + "\n\n";
        } else if (cmd == "show cli level") {
            out += std::string(c.level == 2 ? "admin" : c.level == 1 ? "operator" : "user") + "\n";
        } else if (cmd == "operator") {
            if (c.level > 1) c.level = 1;
        } else if (cmd == "user") {
            c.level = 0;
        } else if (cmd == "reload") {
            if (c.level < 1) {
                out += "Permission denied\n\n";
                return;
            }
            reload_asked_ = true;  // after this client is answered; the connection closes (HAProxy's)
            c.done = true;
        } else {
            out += "Unknown command, but maybe one of the following ones is a better match:\n" + help_text() + "\n";
        }
    }

    std::string prompt_text(const Client& c) const {
        if (c.target != 0) return std::to_string(c.target) + "> ";
        return last_failed_ ? "master[ReloadFailed]> " : "master> ";
    }

    void on_client(Client& c) {
        char buf[4096];
        bool eof = false;
        for (;;) {
            const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                c.in.append(buf, std::size_t(n));
                if (c.in.size() > kMaxLine) {
                    c.done = true;
                    return;
                }
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            eof = n == 0;  // what is buffered is still answered
            break;
        }
        while (!c.done) {
            std::size_t nl = c.in.find('\n');
            if (nl == std::string::npos) {
                if (!eof || c.in.empty()) break;
                nl = c.in.size();  // the last line without its newline
            }
            const std::string line = c.in.substr(0, nl);
            c.in.erase(0, std::min(nl + 1, c.in.size()));
            std::string out;
            const bool was_prompt = c.prompt;
            std::size_t p = 0;
            for (;;) {  // commands separated by ';'
                const std::size_t s = line.find(';', p);
                command(c, std::string_view(line).substr(p, s == std::string::npos ? std::string::npos : s - p), out);
                if (s == std::string::npos || c.done) break;
                p = s + 1;
            }
            if (c.prompt && !c.done) out += prompt_text(c);
            if (!out.empty() && !write_all(c.fd, out)) c.done = true;
            // without a prompt, a session is one line (HAProxy's CLI)
            if (!c.prompt && !was_prompt) c.done = true;
        }
        if (eof) c.done = true;
    }

    void accept_clients() {
        for (;;) {
            const int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) return;
            Client c;
            c.fd = fd;
            c.level = o_.cli_level;
            clients_.push_back(std::move(c));
        }
    }

    void loop() {
        while (!(stopping_ && workers_.empty())) {
            std::vector<pollfd> pf;
            pf.push_back({sfd_, POLLIN, 0});
            if (lfd_ >= 0) pf.push_back({lfd_, POLLIN, 0});
            for (const auto& c : clients_) pf.push_back({c.fd, POLLIN, 0});
            const int r = ::poll(pf.data(), pf.size(), 1000);
            if (r < 0 && errno != EINTR) break;
            if (pf[0].revents) on_signal();
            if (lfd_ >= 0 && pf[1].revents) accept_clients();
            const std::size_t base = lfd_ >= 0 ? 2 : 1;
            for (std::size_t i = base; i < pf.size(); ++i)
                if (pf[i].revents) on_client(clients_[i - base]);
            for (std::size_t i = 0; i < clients_.size();)
                if (clients_[i].done) {
                    ::close(clients_[i].fd);
                    clients_.erase(clients_.begin() + std::ptrdiff_t(i));
                } else {
                    ++i;
                }
            if (reload_asked_) reload();
        }
    }
};

}  // namespace

int run(const Options& o) {
    Master m(o);
    return m.run();
}

}  // namespace master
}  // namespace es::control
