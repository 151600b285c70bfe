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
#include "edgeshard/tls/context.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <signal.h>
#include <sys/signalfd.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "edgeshard/control/cli.hpp"
#include "dns.hpp"
#include "health.hpp"
#include "edgeshard/proxy/admin.hpp"
#include "cli_listener.hpp"
#include "watchdog.hpp"
#include "edgeshard/control/handoff.hpp"
#include "edgeshard/control/rates.hpp"
#include "edgeshard/control/pages.hpp"
#include "edgeshard/stats/carry.hpp"
#include "edgeshard/control/server_admin.hpp"
#include "edgeshard/control/stats_views.hpp"
#include "edgeshard/core/clock.hpp"
#include "edgeshard/core/version.hpp"
#include "edgeshard/log/sink.hpp"

namespace es::control {

std::string& startup_log() {
    static std::string log;
    return log;
}


namespace {

constexpr std::size_t kMaxClients = 64;  // per process; more are accepted and closed at once
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kOutHighWater = 1 << 20;  // stop reading a client whose answers pile up
constexpr std::int64_t kTickMs = 1000;
constexpr std::int64_t kLogTickMs = 50;  // access logs reach their targets within this
constexpr std::int64_t kAcceptPauseMs = 100;  // after EMFILE/ENFILE, so a full table cannot spin us
constexpr std::int64_t kDefaultStatsTimeoutMs = 10000;
constexpr std::int64_t kAnswerRetryMs = 5;  // a shard's full mailbox is tried again this soon

}  // namespace

struct ControlShard::Impl {
    using Listener = CliListener;

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
        bool handoff = false;  // took our listeners; its next line is `_commit` (or it goes away)
    };

    // a newer process that took over from us; we answer it until we exit
    struct Successor {
        int fd = -1;
        std::string in;
    };

    shard::Runtime& rt;
    const stats::Layout layout;  // the configuration's objects, as the snapshots name them
    Lineage lin;
    int reloads = 0;  // reloads this process has survived
    bool draining = false;
    bool hard_stopped = false;
    std::int64_t drain_start_ms = 0;
    std::vector<Successor> successors;
    // the process we took over from, while it drains
    int pred_fd = -1;
    stats::Carried pred_last;  // its latest cumulative totals
    stats::Carried base;       // final totals of generations that have exited
    std::int64_t next_totals_ms = 0;
    RateSampler rates;  // show info's per-second rates
    Watchdog watchdog{rt.config().global};  // the data shards' loops
    // show info's facts the configuration fixes, counted once: `node` (the host name when unset), the listening
    // sockets (bind addresses and stats sockets), the servers' checks and agents
    std::string node;
    std::int64_t listener_count = 0, check_count = 0;
    void count_static_facts() {
        const config::Config& cfg = rt.config();
        node = cfg.global.node;
        if (node.empty()) {  // HAProxy's default: the host name
            char host[256] = {};
            if (gethostname(host, sizeof host - 1) == 0) node = host;
        }
        listener_count = std::int64_t(cfg.global.stats_sockets.size());
        for (const auto& f : cfg.frontends) listener_count += std::int64_t(f.binds.size());
        for (const auto& b : cfg.backends)
            for (const auto& sv : b.servers) check_count += (sv.check.enabled ? 1 : 0) + (sv.check.agent ? 1 : 0);
    }
    int pred_old = 0;  // generations still draining behind our predecessor (from its totals frames)
    bool published = false;
    CommandTable table;
    Services services;
    CertStore certs;
    MapStore maps;
    std::vector<Listener> listeners;
    std::vector<Client> clients;
    std::int64_t idle_timeout_ms = kDefaultStatsTimeoutMs;
    // a client's idle timeout: its own (`set timeout cli`), else the socket's
    std::int64_t idle_ms(const Client& c) const {
        return c.session.timeout_ms > 0 ? c.session.timeout_ms : idle_timeout_ms;
    }
    // page answers a shard's full mailbox did not take yet, per shard, in order
    std::vector<std::deque<shard::Message>> answers;
    // totals of older generations (base + the predecessor's last), added to every snapshot
    std::optional<stats::Carried> carried;
    bool cleared = false;  // `clear counters all` ran: a draining predecessor's totals are not added any more
    std::unique_ptr<HealthControl> health;  // the health checks and what they change (health.hpp)
    std::unique_ptr<DnsControl> dns;        // server addresses and runtime DNS (dns.hpp)

    Impl(shard::Runtime& r, Lineage l) : rt(r), layout(stats_layout(r.config())), lin(std::move(l)), sink(r.config(), r.log_rings()) {
        pred_fd = lin.predecessor_fd;
        if (!lin.inherited_totals.empty()) {
            std::string err;
            if (!stats::import_totals(lin.inherited_totals, pred_last, &err))
                std::fprintf(stderr, "edgeshard: reload: the previous process's totals were not understood: %s\n",
                             err.c_str());
            update_carried();
        }
        count_static_facts();
        register_all_commands(table);
        services.snapshot = [this](const stats::BuildOptions& opt) { return snapshot(opt); };
        bind_server_admin(services, rt);
        services.show_proc = [this]() { return show_proc(); };
        services.clear_counters = [this](bool all) { return clear_counters(all); };
        services.startup_logs = &startup_log();
        services.show_threads = [this]() { return watchdog.show_threads(rt, core::now_ms()); };
        services.stall_shard = [this](std::size_t shard, std::int64_t ms) -> std::string {
            if (shard >= rt.shard_count() || !rt.running(shard)) return "No such shard.";
            if (!rt.post(shard, shard::Message{shard::Message::kStall, std::uint64_t(ms), 0}))
                return "The shard's mailbox is full; try again.";
            return {};
        };
        services.stick_query = [this](stick::Query& q) { return ask_shards(rt, q); };
        maps = load_map_store(rt.config());
        services.maps = &maps;
        services.update_map = [this](std::size_t i, std::shared_ptr<const config::MapFile> m) {
            return post_map_update(rt, i, std::move(m));
        };
        certs = load_cert_store(rt.config());
        services.certs = &certs;
        services.commit_cert = [this](const std::string& path, const std::string& pem) { return post_cert_update(rt, path, pem); };
        services.update_ocsp = [this](const std::string& path, const std::string& der) {
            return post_cert_update(rt, path, std::string(), &der);
        };
        const auto t = rt.config().global.stats_timeout;
        if (t > 0) idle_timeout_ms = t;
        health = std::make_unique<HealthControl>(rt, services, lin.inherited_health);
        // servers' state changes also go to their backend's log targets (HAProxy's send_log)
        health->set_event_log([this](std::size_t be, int level, const std::string& line) {
            sink.event(be, level, line, core::wall_ms());
        });
        dns = std::make_unique<DnsControl>(rt, services, *health);
    }

    ~Impl() {
        sink.drain();
        cleanup();
        for (auto& q : answers)
            for (const shard::Message& m : q) proxy::release_page_message(m);
    }

    log::Sink sink;  // access logs: every shard's ring, drained each tick

    void open_listeners() {
        for (const auto& s : rt.config().global.stats_sockets) listeners.push_back(open_cli_listener(s));
    }

    // Puts the sockets opened by open_listeners() in place of their paths.
    void publish_listeners() {
        if (published) return;
        published = true;
        for (auto& l : listeners) publish_cli_listener(l);
    }

    // Removes our socket files, but not one a newer process has renamed over ours.
    void cleanup() {
        for (auto& c : clients)
            if (!c.closed) ::close(c.fd);
        clients.clear();
        for (auto& sc : successors) ::close(sc.fd);
        successors.clear();
        if (pred_fd >= 0) ::close(pred_fd);
        pred_fd = -1;
        for (const auto& l : listeners) close_cli_listener(l, published);
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
            pos = nl + 1;
            if (line.starts_with("_handoff") || c.handoff) {
                handoff_line(c, line);
                if (c.closed || c.handoff) break;
                continue;
            }
            // a command line ending in "<<" takes the lines after it, up to an empty line, as its
            // payload (HAProxy's `set ssl cert <file> <<`)
            if (line.size() >= 2 && line.ends_with("<<") && (line.size() == 2 || line[line.size() - 3] == ' ')) {
                std::size_t end = pos, body_end = std::string::npos;
                for (;;) {
                    const std::size_t e = c.in.find('\n', end);
                    if (e == std::string::npos) break;
                    std::string_view l(c.in.data() + end, e - end);
                    if (l.empty() || l == "\r") {
                        body_end = end;
                        end = e + 1;
                        break;
                    }
                    end = e + 1;
                }
                if (body_end == std::string::npos) {
                    if (!c.read_closed) {  // the payload is not complete yet
                        pos = std::size_t(line.data() - c.in.data());
                        break;
                    }
                    body_end = end = c.in.size();
                }
                ctx.payload = std::string_view(c.in.data() + pos, body_end - pos);
                dispatch(line.substr(0, line.size() - 2), ctx, c.out);
                ctx.payload = {};
                pos = end;
                if (c.session.quit || !c.session.interactive) c.done = true;
                continue;
            }
            if (!line.empty() && line[0] == '@') {
                c.out += route(line, c.session.level);
                if (c.session.quit || !c.session.interactive) c.done = true;
                continue;
            }
            dispatch(line, ctx, c.out);
            if (c.session.quit || !c.session.interactive) c.done = true;
        }
        if (c.closed) return;
        c.in.erase(0, pos);
        if (c.handoff) {
            // waits for `_commit`; a peer gone before committing voids the handoff: nothing changed
            if (c.read_closed) {
                c.handoff = false;
                close_client(c);
            }
            return;
        }
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

    // ---- reload: our side as the old process
    std::string cumulative_totals() {
        stats::Carried c = stats::totals_of(snapshot({}, true));
        if (carried) stats::add(c, *carried);
        return stats::export_totals(c);
    }

    handoff::State handoff_state() {
        handoff::State st;
        st.pid = int(getpid());
        st.generation = lin.generation;
        st.reloads = reloads;
        const config::Config& cfg = rt.config();
        const auto& table = rt.server_runtime();
        for (std::size_t b = 0; b < cfg.backends.size() && b < table.size(); ++b)
            for (std::size_t k = 0; k < cfg.backends[b].servers.size() && k < table[b].size(); ++k)
                st.servers.push_back({cfg.backends[b].name, cfg.backends[b].servers[k].name, table[b][k].weight,
                                      table[b][k].admin, table[b][k].maxconn});
        health->handoff(st.health);
        st.totals = cumulative_totals();
        if (const auto& keys = tls::process_ticket_keys()) st.ticket_keys = keys->encode();
        return st;
    }

    void refuse(Client& c, const std::string& why) {
        c.out += why + "\n";
        c.handoff = false;
        c.done = true;
    }

    // `_handoff 1` then `_commit <seqs>`: a new process takes our listeners over.
    void handoff_line(Client& c, std::string_view line) {
        if (!c.handoff) {
            if (c.session.level < Level::Admin) return refuse(c, "refused: the stats socket needs 'level admin'");
            if (line != "_handoff 1") return refuse(c, "refused: unsupported handoff version");
            if (draining) return refuse(c, "refused: this process is already stopping");
            flush(c, core::now_ms());
            const std::string err = handoff::send_listeners(c.fd, rt.listener_table(), handoff_state());
            if (!err.empty()) {
                std::fprintf(stderr, "edgeshard: reload: %s\n", err.c_str());
                close_client(c);
                return;
            }
            c.handoff = true;
            return;
        }
        if (!line.starts_with("_commit ")) {
            c.handoff = false;
            close_client(c);  // anything else is a broken peer: the handoff is void
            return;
        }
        std::vector<int> taken;
        std::string_view list = line.substr(8);
        while (!list.empty() && list != "-") {
            const std::size_t comma = list.find(',');
            const std::string_view one = list.substr(0, comma);
            int v = 0;
            const auto r = std::from_chars(one.data(), one.data() + one.size(), v);
            if (r.ec == std::errc() && r.ptr == one.data() + one.size()) taken.push_back(v);
            if (comma == std::string_view::npos) break;
            list.remove_prefix(comma + 1);
        }
        if (draining) return refuse(c, "refused: this process is already stopping");
        begin_drain(taken);
        ++reloads;
        if (pred_fd >= 0) (void)::send(pred_fd, "_aged\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
        // the answer is the last thing the client reads on this connection as a CLI client
        static constexpr std::string_view kOk = "committed\n";
        if (::send(c.fd, kOk.data(), kOk.size(), MSG_NOSIGNAL) != ssize_t(kOk.size())) {
            close_client(c);
            return;
        }
        successors.push_back({c.fd, {}});
        c.fd = -1;
        c.closed = true;
        c.handoff = false;
        check_age();
    }

    void begin_drain(const std::vector<int>& taken) {
        if (draining) return;
        draining = true;
        health->stop();  // a stopping process checks nothing (HAProxy): its successor does
        dns->stop();     // nor resolves
        drain_start_ms = core::now_ms();
        rt.soft_stop(taken);
    }

    // mworker-max-reloads: an old process that has survived that many reloads stops now
    void check_age() {
        const int max = rt.config().global.max_reloads;
        if (draining && reloads > max && !hard_stopped) {
            std::fprintf(stderr, "edgeshard[%d]: survived %d reloads (mworker-max-reloads %d): stopping now\n",
                         int(getpid()), reloads, max);
            hard_stop();
        }
    }

    void hard_stop() {
        if (hard_stopped) return;
        hard_stopped = true;
        rt.stop();
    }

    // a line from a newer process, after the commit
    void successor_line(Successor& sc, std::string_view line) {
        if (line == "_totals") {
            const std::string olds = std::to_string(pred_fd >= 0 ? 1 + pred_old : 0);
            if (!handoff::send_frame(sc.fd, "olds", olds) || !handoff::send_frame(sc.fd, "totals", cumulative_totals())) {
                ::close(sc.fd);
                sc.fd = -1;
            }
        } else if (line.starts_with("_cmd ")) {
            // forwarded by a newer process: the first word is the level its client has
            std::string_view rest = line.substr(5);
            const std::size_t sp = rest.find(' ');
            const std::string_view lvl = rest.substr(0, sp);
            Level level = Level::User;
            if (lvl == "admin") level = Level::Admin;
            else if (lvl == "operator") level = Level::Operator;
            rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
            const std::string out = !rest.empty() && rest[0] == '@' ? route(rest, level) : run_local(rest, level);
            if (!handoff::send_frame(sc.fd, "answer", out)) {
                ::close(sc.fd);
                sc.fd = -1;
            }
        } else if (line == "_aged") {
            ++reloads;
            if (pred_fd >= 0) (void)::send(pred_fd, "_aged\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
            check_age();
        }
    }

    void on_successor(Successor& sc) {
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(sc.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                sc.in.append(buf, std::size_t(n));
                if (sc.in.size() > kMaxRequestLine) break;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                ::close(sc.fd);
                sc.fd = -1;
                return;
            }
            break;
        }
        std::size_t pos = 0;
        for (;;) {
            const std::size_t nl = sc.in.find('\n', pos);
            if (nl == std::string::npos) break;
            successor_line(sc, std::string_view(sc.in).substr(pos, nl - pos));
            if (sc.fd < 0) return;
            pos = nl + 1;
        }
        sc.in.erase(0, pos);
        if (sc.in.size() > kMaxRequestLine) {
            ::close(sc.fd);
            sc.fd = -1;
        }
    }

    // ---- reload: our side as the new process
    void update_carried() {
        carried = base;
        if (!cleared) stats::add(*carried, pred_last);
        stats::retain_objects(*carried, layout);
    }

    // `clear counters [all]`: every shard clears its own (a message), the control shard its sampled maxima; `all`
    // also drops what older processes carried over (and what a draining one still adds: "as a restart")
    std::string clear_counters(bool all) {
        std::string missed;
        auto* ask = new proxy::ClearAsk;
        ask->all = all;
        ask->pending.store(1, std::memory_order_relaxed);  // the asker's
        const shard::Message m{shard::Message::kClearCounters, reinterpret_cast<std::uintptr_t>(ask), 0};
        for (std::size_t i = 0; i < rt.shard_count(); ++i) {
            if (!rt.running(i)) continue;
            ask->pending.fetch_add(1, std::memory_order_relaxed);
            if (!rt.post_patiently(i, m)) {
                ask->pending.fetch_sub(1, std::memory_order_relaxed);
                missed += (missed.empty() ? "" : ", ") + std::to_string(i);
            }
        }
        // answered once every shard cleared (as HAProxy's, the next `show stat` sees it), at most 1 s
        const std::int64_t until = core::now_ms() + 1000;
        while (ask->pending.load(std::memory_order_acquire) > 1 && core::now_ms() < until) std::this_thread::yield();
        proxy::release(ask);
        rates.clear();
        if (all) {
            cleared = true;
            base = stats::Carried{};
            update_carried();
        }
        if (!missed.empty()) return "Shard(s) " + missed + " did not take it (mailbox full); repeat the command.";
        return {};
    }

    void predecessor_gone() {
        // its last totals are its final ones as far as we can know
        stats::add(base, pred_last);
        pred_last = stats::Carried{};
        ::close(pred_fd);
        pred_fd = -1;
        pred_old = 0;
        update_carried();
    }

    // One unsolicited-or-polled frame from the predecessor; false once it is gone.
    bool take_frame(const std::string& kind, const std::string& payload) {
        if (kind == "olds") {
            pred_old = std::atoi(payload.c_str());
        } else if (kind == "totals" || kind == "final") {
            stats::Carried c;
            if (stats::import_totals(payload, c)) pred_last = std::move(c);
            if (kind == "final") {
                predecessor_gone();
                return false;
            }
            update_carried();
        }
        return true;
    }

    void on_predecessor() {
        std::string kind, payload;
        if (!handoff::read_frame(pred_fd, kind, payload, handoff::kIoTimeoutMs)) {
            predecessor_gone();
            return;
        }
        take_frame(kind, payload);
    }

    // `show proc`: this process, then the older ones still draining (asked through the chain)
    std::string show_proc() {
        const std::int64_t up = std::max<std::int64_t>(0, (core::now_ms() - rt.start_mono_ms()) / 1000);
        std::string o;
        char line[256];
        std::snprintf(line, sizeof line, "pid=%d generation=%d role=%s uptime_s=%lld conns=%lld reloads=%d\n",
                      int(getpid()), lin.generation, draining ? "old" : "current", static_cast<long long>(up),
                      static_cast<long long>(rt.live_connections()), reloads);
        o += line;
        if (pred_fd >= 0) {
            // the older processes' lines, without their header and end-of-answer line
            const std::string more = forward("user show proc");
            std::size_t p = 0;
            while (p < more.size()) {
                std::size_t nl = more.find('\n', p);
                if (nl == std::string::npos) nl = more.size();
                const std::string_view l(more.data() + p, nl - p);
                if (!l.empty() && l[0] != '#') o.append(l).push_back('\n');
                p = nl + 1;
            }
        }
        return o;
    }

    // One CLI line in this process, at `level`, outside any client session.
    std::string run_local(std::string_view line, Level level) {
        Session sess;
        sess.level = level;
        Context ctx{table, services, sess};
        std::string out;
        dispatch(line, ctx, out);
        return out;
    }

    // `@!<pid> <command>` (HAProxy's master CLI form): runs the command in that process of the
    // reload chain, this one or an older one still draining, with the caller's level.
    std::string route(std::string_view line, Level level) {
        std::size_t sp = line.find(' ');
        const std::string_view target = line.substr(0, sp);
        std::string_view cmd = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
        while (!cmd.empty() && cmd.front() == ' ') cmd.remove_prefix(1);
        int pid = 0;
        if (target.size() > 2 && target[1] == '!') {
            const auto r = std::from_chars(target.data() + 2, target.data() + target.size(), pid);
            if (r.ec != std::errc() || r.ptr != target.data() + target.size()) pid = 0;
        }
        if (pid <= 0 || cmd.empty()) return "Usage: @!<pid> <command> (see `show proc`)\n\n";
        if (pid == int(getpid())) return run_local(cmd, level);
        if (pred_fd < 0) return "Can't find the process. See `show proc`.\n\n";
        const std::string_view lvl = level == Level::Admin ? "admin" : level == Level::Operator ? "operator" : "user";
        std::string fwd(lvl);
        fwd.push_back(' ');
        fwd.append(line);
        std::string out = forward(fwd);
        return out.empty() ? std::string("Can't find the process. See `show proc`.\n\n") : out;
    }

    // Runs a command in the process we took over from; "" when it is gone or silent. `cmd` starts
    // with the level the command runs at.
    std::string forward(std::string_view cmd) {
        if (pred_fd < 0) return {};
        std::string line = "_cmd ";
        line.append(cmd).push_back('\n');
        if (::send(pred_fd, line.data(), line.size(), MSG_NOSIGNAL) != ssize_t(line.size())) {
            predecessor_gone();
            return {};
        }
        for (;;) {
            std::string kind, payload;
            if (!handoff::read_frame(pred_fd, kind, payload, handoff::kIoTimeoutMs)) {
                predecessor_gone();
                return {};
            }
            if (kind == "answer") return payload;
            if (!take_frame(kind, payload)) return {};
        }
    }

    // Work of each turn for the reload: hard-stop-after, and the end of an old process.
    // True when this process is done (drained, and no older generation depends on us).
    bool reload_turn(std::int64_t now) {
        if (pred_fd >= 0 && now >= next_totals_ms) {
            next_totals_ms = now + kTickMs;
            if (::send(pred_fd, "_totals\n", 8, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
                predecessor_gone();
        }
        if (!draining) return false;
        const config::Millis hsa = rt.config().global.hard_stop_after;
        if (hsa > 0 && now - drain_start_ms >= hsa && !hard_stopped) hard_stop();
        if (!rt.all_finished()) return false;
        // an older generation still draining reports its totals through us: wait for it
        if (pred_fd >= 0) return false;
        const std::string fin = cumulative_totals();
        for (auto& sc : successors)
            if (sc.fd >= 0) (void)handoff::send_frame(sc.fd, "final", fin);
        return true;
    }

    // The merged snapshot of the running shards: what `show stat`, `show info` and the HTTP pages
    // render. Built on the control thread only, so nothing it reads needs a lock: the shards'
    // counters are single-writer relaxed values, their pools are read during a visit
    // (Runtime::with_shard_pools), and the rest (server table, reload status, carried totals) is
    // this thread's own. With the totals carried from older generations unless opt.carried is set
    // or `own` (this process's values only: what it exports to a newer generation).
    stats::Snapshot snapshot(const stats::BuildOptions& opt, bool own = false) {
        const std::size_t n = rt.shard_count();
        std::vector<stats::ShardView> views;
        views.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const shard::ShardInfo& info = rt.shard_info(i);
            stats::ShardView v;
            v.id = info.id;
            v.cpu = info.cpu;
            v.info = shard_place(info);
            v.stats = &rt.shard_stats(i);
            rt.with_shard_pools(i, [&v](const std::vector<const pool::RawPool*>& pools) {
                for (const pool::RawPool* p : pools)
                    if (p) v.pools.push_back(sample_pool(*p));
            });
            views.push_back(std::move(v));
        }

        const config::Config& cfg = rt.config();
        stats::ProcessView p;
        p.pid = int(getpid());
        p.now_ms = core::now_ms();
        p.uptime_s = std::max<std::int64_t>(0, (core::now_ms() - rt.start_mono_ms()) / 1000);
        p.start_wall_s = rt.start_wall_s();
        p.version = kVersion;
        p.tier = rt.tier();
        p.tls_tier = tls::tier();
        p.rates = rates.rates();
        p.generation = lin.generation;
        p.stopping = draining;
        p.drain_s = draining ? (core::now_ms() - drain_start_ms) / 1000 : -1;
        p.old_processes = pred_fd >= 0 ? 1 + pred_old : 0;
        p.nbshards = n;
        p.maxconn = rt.global_maxconn();
        // HAProxy's default when `maxpipes` is not set: a quarter of maxconn.
        p.maxpipes = cfg.global.maxpipes > 0 ? cfg.global.maxpipes : p.maxconn / 4;
        rlimit rl{};
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            p.ulimit_n = std::int64_t(rl.rlim_cur);
        p.release_date = kReleaseDate;
        p.node = node;
        p.description = cfg.global.description;
        p.listeners = listener_count;
        p.checks = check_count;
        p.cli_conns = std::int64_t(clients.size());
        stats::BuildOptions o = opt;
        if (own) o.carried = nullptr;
        else if (!o.carried && carried) o.carried = &*carried;
        stats::Snapshot snap = stats::build_snapshot(layout, p, views, o);
        rates.fill_objects(snap);
        if (!rt.server_runtime().empty() && !opt.frontends_only) {
            snap.srv_runtime = server_states(rt.server_runtime(), &rt.config());
            health->fill(snap.srv_runtime, snap.be_state);
        }
        return snap;
    }

    // ---- what the data shards send: stats pages they ask for (proxy/page.hpp), passive checks' error limits
    // Every request waiting in the shards' mailboxes is answered in this turn, from one snapshot
    // (the costly part: every shard's counters read once). A shard's session waits at most
    // kPageWaitMs for the answer; a late one finds the session gone and is deleted there, and a
    // request already older than that is answered without a page (nothing rendered).
    void serve_pages() {
        shard::ControlLink& link = rt.control_link();
        if (answers.size() < link.shards()) answers.resize(link.shards());
        std::optional<stats::Snapshot> snap;
        for (std::size_t i = 0; i < link.shards(); ++i) {
            shard::Message m;
            while (link.pop(i, m)) {
                if (m.kind == shard::Message::kObserved) {  // a passive check's error limit
                    if (health)
                        health->observed(std::size_t(m.a >> 32), std::size_t(std::uint32_t(m.a)),
                                         shard::Observed(std::uint8_t(m.b)));
                    continue;
                }
                if (m.kind != shard::Message::kPageRequest) {
                    proxy::release_page_message(m);
                    continue;
                }
                const std::unique_ptr<proxy::PageRequest> rq(reinterpret_cast<proxy::PageRequest*>(m.a));
                std::unique_ptr<std::string> response;
                int status = 503;
                // past the bound its session has (or is about to get) its 503: nothing is rendered
                if (core::now_ms() - rq->asked_ms >= proxy::kPageWaitMs) {
                    answers[i].push_back(proxy::page_answer(m.b, 0, nullptr));
                    flush_answers(i);
                    continue;
                }
                try {
                    std::optional<proxy::PageAnswer> a;
                    if (rq->post) {
                        a = admin_answer(rt.config(), *rq, services);
                        snap.reset();  // what the next page shows must include the change
                    } else {
                        if (!snap) snap = snapshot({});
                        a = render_page(*snap, rt.config(), *rq);
                    }
                    if (a) {
                        status = a->status;
                        response = std::make_unique<std::string>(std::move(a->response));
                    }
                } catch (const std::exception&) {
                    response.reset();  // out of memory while rendering: the shard replies 503
                }
                answers[i].push_back(proxy::page_answer(m.b, status, response.release()));
                flush_answers(i);  // each page leaves as soon as it is rendered
            }
        }
        for (std::size_t i = 0; i < answers.size(); ++i) flush_answers(i);
    }

    // Posts shard i's queued answers; a full mailbox keeps the rest for the next turn, a shard
    // whose loop has ended gets none (nobody waits there any more).
    void flush_answers(std::size_t i) {
        auto& q = answers[i];
        while (!q.empty()) {
            if (rt.post(i, q.front())) {
                q.pop_front();
            } else if (!rt.running(i)) {
                for (const shard::Message& m : q) proxy::release_page_message(m);
                q.clear();
            } else {
                break;
            }
        }
    }

    bool answers_waiting() const {
        for (const auto& q : answers)
            if (!q.empty()) return true;
        return false;
    }

    void serve(int signal_fd) {
        std::vector<pollfd> pfds;
        std::int64_t offset_sec = -1;
        for (;;) {
            const std::int64_t now = core::now_ms();
            if (reload_turn(now)) return;
            rates.sample(rt, now);
            watchdog.check(rt, now);
            pfds.clear();
            const bool have_sig = signal_fd >= 0;
            if (have_sig) pfds.push_back({signal_fd, POLLIN, 0});
            const std::size_t client_base = pfds.size();
            if (now / 1000 != offset_sec) {  // the shards' log dates follow a daylight-saving change
                offset_sec = now / 1000;
                log::publish_utc_offset();
            }
            sink.drain();
            std::int64_t timeout = sink.writes_anything() ? kLogTickMs : kTickMs;
            timeout = std::min(timeout, rates.next_due_ms(now));  // (the sessions' peaks for smax)
            timeout = std::min(timeout, watchdog.next_due_ms(now));
            if (draining) timeout = std::min<std::int64_t>(timeout, 50);  // notices the shards ending
            for (const auto& c : clients) {
                short ev = 0;
                if (wants_read(c)) ev |= POLLIN;
                if (c.out_off < c.out.size()) ev |= POLLOUT;
                pfds.push_back({c.fd, ev, 0});
                if (!c.handoff) timeout = std::min(timeout, std::max<std::int64_t>(0, c.last_ms + idle_ms(c) - now));
            }
            const std::size_t listener_base = pfds.size();
            for (const auto& l : listeners) {
                const bool paused = l.paused_until_ms > now;
                if (paused) timeout = std::min(timeout, l.paused_until_ms - now);
                pfds.push_back({l.fd, short(paused ? 0 : POLLIN), 0});
            }
            const std::size_t succ_base = pfds.size();
            for (const auto& sc : successors) pfds.push_back({sc.fd, POLLIN, 0});
            const std::size_t pred_idx = pfds.size();
            if (pred_fd >= 0) pfds.push_back({pred_fd, POLLIN, 0});
            const std::size_t link_idx = pfds.size();
            pfds.push_back({rt.control_link().fd(), POLLIN, 0});
            if (health->fd() >= 0) {
                pfds.push_back({health->fd(), POLLIN, 0});
                const std::int64_t due = health->next_due_ms();
                if (due != std::numeric_limits<std::int64_t>::max())
                    timeout = std::min(timeout, std::max<std::int64_t>(0, due - now));
            }
            if (dns->fd() >= 0) pfds.push_back({dns->fd(), POLLIN, 0});
            if (const std::int64_t due = dns->next_due_ms(); due != std::numeric_limits<std::int64_t>::max())
                timeout = std::min(timeout, std::max<std::int64_t>(0, due - now));
            if (answers_waiting()) timeout = std::min<std::int64_t>(timeout, kAnswerRetryMs);

            // the data shards ring only while we sleep: a request already waiting means no sleep
            if (rt.control_link().sleep()) timeout = 0;
            const int n = ::poll(pfds.data(), pfds.size(), int(timeout));
            rt.control_link().wake();
            if (n < 0 && errno != EINTR && errno != ENOMEM) {
                // EFAULT/EINVAL cannot happen with our arguments: say so and stop like on a signal.
                std::fprintf(stderr, "edgeshard: control: poll: %s; stopping\n", std::strerror(errno));
                return;
            }
            const std::int64_t t = core::now_ms();

            if (n > 0 && have_sig && (pfds[0].revents & (POLLIN | POLLERR | POLLHUP))) {
                signalfd_siginfo si{};
                const ssize_t r = ::read(signal_fd, &si, sizeof si);
                if (r == ssize_t(sizeof si) && si.ssi_signo == SIGUSR1) {
                    // soft stop (HAProxy's SIGUSR1): stop accepting, drain, exit
                    if (!draining)
                        std::fprintf(stderr, "edgeshard[%d]: soft stop: draining\n", int(getpid()));
                    begin_drain({});
                } else {
                    return;
                }
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
                        } else if ((re & POLLERR) || (c.handoff && (re & POLLHUP))) {
                            close_client(c);
                        }
                    }
                    if (!c.closed) flush(c, t);
                }
                for (std::size_t i = 0; i < listeners.size(); ++i)
                    if (pfds[listener_base + i].revents & POLLIN) accept_all(listeners[i], t);
                for (std::size_t i = 0; i < pred_idx - succ_base; ++i)
                    if (pfds[succ_base + i].revents & (POLLIN | POLLHUP | POLLERR)) on_successor(successors[i]);
                if (pred_idx < link_idx && pred_fd >= 0 && (pfds[pred_idx].revents & (POLLIN | POLLHUP | POLLERR)))
                    on_predecessor();
            }
            health->run(core::now_ms());
            dns->run(core::now_ms());
            serve_pages();
            for (auto& c : clients)
                if (!c.closed && !c.handoff && t - c.last_ms >= idle_ms(c)) close_client(c);
            std::erase_if(clients, [](const Client& c) { return c.closed; });
            std::erase_if(successors, [](const Successor& sc) { return sc.fd < 0; });
        }
    }
};

ControlShard::ControlShard(shard::Runtime& rt, Lineage lineage)
    : impl_(std::make_unique<Impl>(rt, std::move(lineage))) {}

ControlShard::~ControlShard() = default;

void ControlShard::prepare() {
    if (prepared_) return;
    prepared_ = true;
    try {
        impl_->open_listeners();
    } catch (...) {
        impl_->cleanup();
        throw;
    }
}

void ControlShard::publish() { impl_->publish_listeners(); }

void ControlShard::run(int signal_fd) {
    prepare();
    publish();
    impl_->serve(signal_fd);
    impl_->cleanup();
}

}  // namespace es::control
