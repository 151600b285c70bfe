// The control shard's CLI server: Unix stream sockets served with poll(2) on the main thread.
//
// Loop order, and why:
//   1. poll: signal fd, clients, listeners; timeout = the nearest idle deadline, at most 1 s so
//      periodic work (health checks, log forwarding) can hook in without a new wakeup source.
//   2. the signal fd first: once a stop is asked, nothing else is worth doing.
//   3. clients before listeners: new clients are appended to the vector, so serving the existing
//      ones first keeps the poll results' indexes valid.
//   4. idle expiry, then removal of closed clients (compaction happens in one place only).
#include "edgeshard/control/control_shard.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgeshard/control/cli.hpp"
#include "edgeshard/core/clock.hpp"
#include "edgeshard/core/version.hpp"
#include "edgeshard/log/sink.hpp"

namespace es::control {

namespace {

constexpr std::size_t kMaxClients = 64;  // per process; more are accepted and closed at once
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kOutHighWater = 1 << 20;  // stop reading a client whose answers pile up
constexpr std::int64_t kTickMs = 1000;
constexpr std::int64_t kLogTickMs = 50;  // access logs reach their targets within this
constexpr std::int64_t kAcceptPauseMs = 100;  // after EMFILE/ENFILE, so a full table cannot spin us
constexpr std::int64_t kDefaultStatsTimeoutMs = 10000;

std::runtime_error sock_error(const std::string& what, const std::string& path, int err) {
    return std::runtime_error("stats socket " + path + ": " + what + ": " + std::strerror(err));
}

}  // namespace

struct ControlShard::Impl {
    struct Listener {
        int fd = -1;
        std::string path;
        dev_t dev = 0;
        ino_t ino = 0;
        Level level = Level::User;
        std::int64_t paused_until_ms = 0;
    };

    struct Client {
        int fd = -1;
        Session session;
        std::string in;
        std::string out;
        std::size_t out_off = 0;
        std::int64_t last_ms = 0;
        bool read_closed = false;  // peer shut down its side (or we stopped reading)
        bool done = false;         // answer the pending output, then close
        bool closed = false;
    };

    shard::Runtime& rt;
    CommandTable table;
    Services services;
    std::vector<Listener> listeners;
    std::vector<Client> clients;
    std::int64_t idle_timeout_ms = kDefaultStatsTimeoutMs;

    explicit Impl(shard::Runtime& r) : rt(r), sink(r.config(), r.log_rings()) {
        register_all_commands(table);
        services.snapshot = [this](const stats::BuildOptions& opt) { return runtime_snapshot(rt, opt); };
        const auto t = rt.config().global.stats_timeout;
        if (t > 0) idle_timeout_ms = t;
    }

    ~Impl() {
        sink.drain();
        cleanup();
    }

    log::Sink sink;  // access logs: every shard's ring, drained each tick

    void open_listeners() {
        for (const auto& s : rt.config().global.stats_sockets) listeners.push_back(open_one(s));
    }

    // Binds to a temporary name beside the path, sets the mode, listens, then renames over the
    // path: the path never points at a socket that is not yet listening, and a previous process's
    // socket is replaced in one step (HAProxy does the same for reloads).
    Listener open_one(const config::StatsSocket& s) {
        Listener l;
        l.path = s.path;
        l.level = s.level_admin ? Level::Admin : Level::User;
        const std::string tmp = s.path + "." + std::to_string(getpid()) + ".tmp";
        sockaddr_un sun{};
        if (tmp.size() >= sizeof sun.sun_path) throw sock_error("path too long", s.path, ENAMETOOLONG);

        struct stat st {};
        if (lstat(s.path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
            throw std::runtime_error("stats socket " + s.path +
                                     ": exists and is not a socket, not replacing it");

        l.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l.fd < 0) throw sock_error("socket", s.path, errno);
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, tmp.c_str(), tmp.size() + 1);
        unlink(tmp.c_str());  // a leftover from a crashed start with our pid
        auto fail = [&](const char* what) {
            const int err = errno;
            ::close(l.fd);
            unlink(tmp.c_str());
            return sock_error(what, s.path, err);
        };
        if (bind(l.fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0) throw fail("bind");
        if (chmod(tmp.c_str(), s.mode) < 0) throw fail("chmod");
        if (listen(l.fd, 64) < 0) throw fail("listen");
        if (rename(tmp.c_str(), s.path.c_str()) < 0) throw fail("rename into place");
        if (lstat(s.path.c_str(), &st) == 0) {
            l.dev = st.st_dev;
            l.ino = st.st_ino;
        }
        return l;
    }

    // Removes our socket files, but not one a newer process has renamed over ours.
    void cleanup() {
        for (auto& c : clients)
            if (!c.closed) ::close(c.fd);
        clients.clear();
        for (auto& l : listeners) {
            ::close(l.fd);
            struct stat st {};
            if (lstat(l.path.c_str(), &st) == 0 && st.st_dev == l.dev && st.st_ino == l.ino)
                unlink(l.path.c_str());
        }
        listeners.clear();
    }

    void close_client(Client& c) {
        if (c.closed) return;
        ::close(c.fd);
        c.closed = true;
    }

    void accept_all(Listener& l, std::int64_t now) {
        for (;;) {
            const int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                    l.paused_until_ms = now + kAcceptPauseMs;
                return;  // EAGAIN or an error we cannot fix here
            }
            if (clients.size() >= kMaxClients) {
                ::close(fd);
                continue;
            }
            Client c;
            c.fd = fd;
            c.session.level = l.level;
            c.last_ms = now;
            clients.push_back(std::move(c));
        }
    }

    // Runs the complete lines buffered for c. Non-interactive sessions answer one line and end;
    // `prompt` keeps the session, `quit` ends it.
    void run_lines(Client& c) {
        Context ctx{table, services, c.session};
        std::size_t pos = 0;
        while (!c.done) {
            const std::size_t nl = c.in.find('\n', pos);
            if (nl == std::string::npos) break;
            std::string_view line(c.in.data() + pos, nl - pos);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            dispatch(line, ctx, c.out);
            pos = nl + 1;
            if (c.session.quit || !c.session.interactive) c.done = true;
        }
        c.in.erase(0, pos);
        // The peer will send nothing more: an unterminated last line is still a request
        // (`printf 'show info' | socat ...` works with HAProxy).
        if (c.read_closed && !c.done) {
            if (!c.in.empty()) dispatch(c.in, ctx, c.out);
            c.done = true;
        }
        if (c.done) c.in.clear();
    }

    void on_readable(Client& c, std::int64_t now) {
        char buf[kReadChunk];
        for (;;) {
            const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                c.last_ms = now;
                c.in.append(buf, std::size_t(n));
                run_lines(c);
                if (c.done) return;
                if (c.in.size() > kMaxRequestLine) {
                    close_client(c);  // a request line longer than any command: not a CLI client
                    return;
                }
                if (c.out.size() - c.out_off > kOutHighWater) return;
                continue;
            }
            if (n == 0) {
                c.read_closed = true;
                run_lines(c);
                return;
            }
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) close_client(c);
            return;
        }
    }

    void flush(Client& c, std::int64_t now) {
        while (c.out_off < c.out.size()) {
            const ssize_t n =
                ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) {
                c.out_off += std::size_t(n);
                c.last_ms = now;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            close_client(c);  // EPIPE, ECONNRESET: the reader is gone
            return;
        }
        c.out.clear();
        c.out_off = 0;
        if (c.done) close_client(c);
    }

    bool wants_read(const Client& c) const {
        return !c.done && !c.read_closed && c.out.size() - c.out_off <= kOutHighWater;
    }

    void serve(int signal_fd) {
        std::vector<pollfd> pfds;
        for (;;) {
            const std::int64_t now = core::now_ms();
            pfds.clear();
            const bool have_sig = signal_fd >= 0;
            if (have_sig) pfds.push_back({signal_fd, POLLIN, 0});
            const std::size_t client_base = pfds.size();
            sink.drain();
            std::int64_t timeout = sink.writes_anything() ? kLogTickMs : kTickMs;
            for (const auto& c : clients) {
                short ev = 0;
                if (wants_read(c)) ev |= POLLIN;
                if (c.out_off < c.out.size()) ev |= POLLOUT;
                pfds.push_back({c.fd, ev, 0});
                timeout = std::min(timeout, std::max<std::int64_t>(0, c.last_ms + idle_timeout_ms - now));
            }
            const std::size_t listener_base = pfds.size();
            for (const auto& l : listeners) {
                const bool paused = l.paused_until_ms > now;
                if (paused) timeout = std::min(timeout, l.paused_until_ms - now);
                pfds.push_back({l.fd, short(paused ? 0 : POLLIN), 0});
            }

            const int n = ::poll(pfds.data(), pfds.size(), int(timeout));
            if (n < 0 && errno != EINTR && errno != ENOMEM) {
                // EFAULT/EINVAL cannot happen with our arguments: say so and stop like on a signal.
                std::fprintf(stderr, "edgeshard: control: poll: %s; stopping\n", std::strerror(errno));
                return;
            }
            const std::int64_t t = core::now_ms();

            if (n > 0 && have_sig && (pfds[0].revents & (POLLIN | POLLERR | POLLHUP))) {
                char sink[128];
                [[maybe_unused]] const ssize_t r = ::read(signal_fd, sink, sizeof sink);
                return;
            }
            if (n > 0) {
                const std::size_t nclients = listener_base - client_base;
                for (std::size_t i = 0; i < nclients; ++i) {
                    Client& c = clients[i];
                    const short re = pfds[client_base + i].revents;
                    if (re & POLLNVAL) {
                        close_client(c);
                        continue;
                    }
                    if (re & (POLLIN | POLLHUP | POLLERR)) {
                        if (wants_read(c)) {
                            on_readable(c, t);
                        } else if (re & POLLERR) {
                            close_client(c);
                        }
                    }
                    if (!c.closed) flush(c, t);
                }
                for (std::size_t i = 0; i < listeners.size(); ++i)
                    if (pfds[listener_base + i].revents & POLLIN) accept_all(listeners[i], t);
            }
            for (auto& c : clients)
                if (!c.closed && t - c.last_ms >= idle_timeout_ms) close_client(c);
            std::erase_if(clients, [](const Client& c) { return c.closed; });
        }
    }
};

ControlShard::ControlShard(shard::Runtime& rt) : impl_(std::make_unique<Impl>(rt)) {}

ControlShard::~ControlShard() = default;

void ControlShard::run(int signal_fd) {
    try {
        impl_->open_listeners();
    } catch (...) {
        impl_->cleanup();
        throw;
    }
    impl_->serve(signal_fd);
    impl_->cleanup();
}

stats::Snapshot runtime_snapshot(const shard::Runtime& rt, const stats::BuildOptions& opt) {
    const std::size_t n = rt.shard_count();
    std::vector<stats::ShardView> views;
    views.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const shard::ShardInfo& info = rt.shard_info(i);
        stats::ShardView v;
        v.id = info.id;
        v.cpu = info.cpu;
        v.info = &info;
        v.stats = &rt.shard_stats(i);
        for (const pool::RawPool* p : rt.shard_pools(i))
            if (p) v.pools.push_back(stats::sample_pool(*p));
        views.push_back(std::move(v));
    }

    const config::Config& cfg = rt.config();
    stats::ProcessView p;
    p.pid = int(getpid());
    p.uptime_s = std::max<std::int64_t>(0, (core::now_ms() - rt.start_mono_ms()) / 1000);
    p.start_wall_s = rt.start_wall_s();
    p.version = kVersion;
    p.tier = rt.tier();
    p.nbshards = n;
    p.maxconn = rt.global_maxconn();
    // HAProxy's default when `maxpipes` is not set: a quarter of maxconn.
    p.maxpipes = cfg.global.maxpipes > 0 ? cfg.global.maxpipes : p.maxconn / 4;
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        p.ulimit_n = std::int64_t(rl.rlim_cur);
    return stats::build_snapshot(cfg, p, views, opt);
}

}  // namespace es::control
