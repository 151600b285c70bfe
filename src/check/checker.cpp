// The health checker (include/edgeshard/check/checker.hpp; src/check/README.md).
#include "edgeshard/check/checker.hpp"

#include "verdict.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <regex.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <queue>
#include <random>
#include <stdexcept>

namespace es::check {

namespace {

constexpr std::size_t kMaxResponse = 16384;  // what an HTTP check reads at most (HAProxy: one buffer)

bool passed(Status s) {
    return s == Status::L4Ok || s == Status::L6Ok || s == Status::L7Ok || s == Status::L7OkC;
}

std::string ssl_error_text() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "TLS handshake failed";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

std::int64_t effective_inter(const config::ServerCheck& c, const Health& h) {
    if (!h.up && h.health == 0) return c.downinter > 0 ? c.downinter : c.inter;
    if (h.health > 0 && h.health < h.rise + h.fall - 1) return c.fastinter > 0 ? c.fastinter : c.inter;
    return c.inter;
}

}  // namespace

using detail::Regex;

struct Checker::Impl {
    struct Target {
        std::size_t be = 0, sv = 0;
        const config::Backend* b = nullptr;
        const config::Server* s = nullptr;
        sockaddr_storage addr{};
        socklen_t alen = 0;
        Health h;
        bool tls = false;  // checks speak TLS (check-ssl, or the server's `ssl`)
        // the check in flight
        int fd = -1;
        enum class Phase : std::uint8_t { Connecting, Handshake, Sending, Reading, Rules } phase = Phase::Connecting;
        const std::vector<config::TcpCheckStep>* rules = nullptr;  // a tcp-check ruleset
        std::size_t step = 0;    // the rule being run
        bool eof = false;        // the peer ended its side (tcp-check)
        bool expected = false;   // an expect rule passed
        bool want_out = false;   // TLS: OpenSSL asked to write before it can read on
        bool resync = false;     // the owner did not take the last change: tell it again
        std::string ok_info;     // the info of the last expect that passed (on-success)
        int ok_code = 0;
        SSL* ssl = nullptr;
        bool connected = false;
        std::int64_t start = 0, conn_deadline = 0, deadline = 0;
        std::string out;
        std::size_t out_off = 0;
        std::string in;
        std::int64_t next = 0;   // the next check's start while idle
        std::uint32_t gen = 0;   // timer entries of an older generation are stale
        bool sent_down = false;  // the state the shards were last told
    };
    struct Due {
        std::int64_t at;
        std::uint32_t idx, gen;
        bool operator>(const Due& o) const { return at > o.at; }
    };

    const config::Config& cfg;
    Hooks hooks;
    std::vector<Target> targets;
    std::vector<std::vector<int>> index;  // [be][sv] -> target, -1
    std::priority_queue<Due, std::vector<Due>, std::greater<Due>> timers;
    int ep = -1;
    SSL_CTX* tls_ctx = nullptr;  // for checks over TLS: no verification, as a check only asks "is it up"
    std::size_t flying = 0;
    std::vector<std::uint32_t> resyncs;  // targets whose last change the owner did not take
    struct Ramp {
        std::uint32_t idx;
        std::int64_t start, next;
    };
    std::vector<Ramp> ramps;  // slowstart: servers taking a growing share of their weight
    std::mt19937_64 rng{std::random_device{}()};
    // compiled regexes of the http-check expect rules, by backend
    std::vector<std::vector<Regex>> regexes;
    // and of the tcp-check ruleset, by backend and rule (null for the rules without one)
    std::vector<std::vector<Regex>> tcp_regexes;

    Impl(const config::Config& c, Hooks hk) : cfg(c), hooks(std::move(hk)) {}

    ~Impl() {
        for (Target& t : targets) close_check(t);
        if (ep >= 0) ::close(ep);
        if (tls_ctx) SSL_CTX_free(tls_ctx);
    }

    void arm(std::uint32_t i, std::int64_t at) {
        Target& t = targets[i];
        ++t.gen;
        timers.push({at, i, t.gen});
    }

    std::int64_t jitter(std::int64_t inter) {
        const int pct = cfg.global.spread_checks;
        if (pct <= 0 || inter <= 0) return inter;
        std::uniform_int_distribution<std::int64_t> d(-inter * pct / 100, inter * pct / 100);
        return std::max<std::int64_t>(1, inter + d(rng));
    }

    void close_check(Target& t) {
        t.h.in_progress = false;
        if (t.ssl) {
            SSL_free(t.ssl);
            t.ssl = nullptr;
            ERR_clear_error();
        }
        if (t.fd >= 0) {
            // an abortive close, as HAProxy's checks do: no TIME_WAIT per check on this host
            linger l{1, 0};
            ::setsockopt(t.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            ::close(t.fd);  // also leaves the epoll set
            t.fd = -1;
            --flying;
        }
        t.out.clear();
        t.in.clear();
        t.in.shrink_to_fit();
    }

    void start(std::uint32_t i, std::int64_t now) {
        Target& t = targets[i];
        t.h.in_progress = true;
        t.connected = false;
        t.phase = Target::Phase::Connecting;
        t.h.info.clear();  // HAProxy clears the detail and the code when a check starts
        t.h.code = 0;
        t.eof = false;
        t.want_out = false;
        t.start = now;
        const config::ServerCheck& c = t.s->check;
        const std::int64_t tcheck = t.b->timeouts.check;
        if (tcheck > 0) {
            std::int64_t tc = t.b->timeouts.connect > 0 ? std::min<std::int64_t>(t.b->timeouts.connect, c.inter) : c.inter;
            t.conn_deadline = now + tc;
        } else {
            t.conn_deadline = now + c.inter;
        }
        t.deadline = t.conn_deadline;
        t.fd = ::socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (t.fd < 0) {
            finish(i, now, Status::SockErr, 0, std::strerror(errno));
            return;
        }
        ++flying;
        const int one = 1;
        ::setsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const int r = ::connect(t.fd, reinterpret_cast<const sockaddr*>(&t.addr), t.alen);
        if (r != 0 && errno != EINPROGRESS) {
            finish(i, now, Status::L4Con, 0, std::strerror(errno) + where(t));
            return;
        }
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.u32 = i;
        if (::epoll_ctl(ep, EPOLL_CTL_ADD, t.fd, &ev) != 0) {
            finish(i, now, Status::SockErr, 0, std::strerror(errno));
            return;
        }
        arm(i, t.deadline);
    }

    void want(Target& t, std::uint32_t i, std::uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u32 = i;
        ::epoll_ctl(ep, EPOLL_CTL_MOD, t.fd, &ev);
    }

    // Waits for input, or for room when OpenSSL must write first (a TLS read that wants to write).
    void wait_read(Target& t, std::uint32_t i) { want(t, i, t.want_out ? EPOLLOUT : EPOLLIN | EPOLLRDHUP); }

    // After the connection (and the TLS handshake): a TCP check is done, an HTTP check sends.
    void connected_step(std::uint32_t i, std::int64_t now) {
        Target& t = targets[i];
        if (t.b->check.kind == config::CheckKind::Tcp) {
            finish(i, now, t.tls ? Status::L6Ok : Status::L4Ok, 0, {});
            return;
        }
        if (t.rules) {
            t.phase = Target::Phase::Rules;
            t.step = !t.rules->empty() && (*t.rules)[0].kind == config::TcpCheckStep::Kind::Connect ? 1 : 0;
            t.eof = false;
            t.expected = false;
            t.ok_info.clear();
            t.ok_code = 0;
            t.in.clear();
            t.out.clear();
            t.out_off = 0;
            run_rules(i, now);
            return;
        }
        t.out = detail::http_request(t.b->check);
        t.out_off = 0;
        t.phase = Target::Phase::Sending;
        io_step(i, now);
    }

    // Bytes out: >0 sent, 0 would block (interest set), <0 failed (the check is finished).
    ssize_t write_some(std::uint32_t i, std::int64_t now, const char* p, std::size_t n) {
        Target& t = targets[i];
        if (t.ssl) {
            ERR_clear_error();
            const int r = SSL_write(t.ssl, p, int(n));
            if (r > 0) return r;
            const int e = SSL_get_error(t.ssl, r);
            if (e == SSL_ERROR_WANT_READ) return want(t, i, EPOLLIN), 0;
            if (e == SSL_ERROR_WANT_WRITE) return want(t, i, EPOLLOUT), 0;
            finish(i, now, Status::SockErr, 0, ssl_error_text());
            return -1;
        }
        const ssize_t r = ::send(t.fd, p, n, MSG_NOSIGNAL);
        if (r > 0) return r;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return want(t, i, EPOLLOUT), 0;
        finish(i, now, Status::SockErr, 0, std::strerror(r < 0 ? errno : EPIPE));
        return -1;
    }

    // Reads what is there into t.in (up to kMaxResponse); sets t.eof. False: the check is finished.
    bool read_some(std::uint32_t i, std::int64_t now) {
        Target& t = targets[i];
        t.want_out = false;
        for (;;) {
            char buf[4096];
            const std::size_t room = kMaxResponse - t.in.size();
            if (room == 0 || t.eof) return true;
            const std::size_t ask = std::min(room, sizeof buf);
            if (t.ssl) {
                ERR_clear_error();
                const int r = SSL_read(t.ssl, buf, int(ask));
                if (r > 0) {
                    t.in.append(buf, std::size_t(r));
                    continue;
                }
                const int e = SSL_get_error(t.ssl, r);
                if (e == SSL_ERROR_WANT_READ) return true;
                if (e == SSL_ERROR_WANT_WRITE) {
                    t.want_out = true;
                    return true;
                }
                ERR_clear_error();
                t.eof = true;
                return true;
            }
            const ssize_t n = ::recv(t.fd, buf, ask, 0);
            if (n > 0) {
                t.in.append(buf, std::size_t(n));
                continue;
            }
            if (n == 0) {
                t.eof = true;
                return true;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            if (t.in.empty()) {
                finish(i, now, Status::SockErr, 0, std::strerror(errno));
                return false;
            }
            t.eof = true;
            return true;
        }
    }

    // A user tcp-check ruleset (not a built-in protocol check): HAProxy names the step in its messages.
    static bool user_rules(const Target& t) { return t.rules && t.b->check.builtin.empty(); }
    static std::string where(const Target& t) {
        if (!user_rules(t)) return {};
        return detail::where(*t.rules, !t.connected || t.phase == Target::Phase::Handshake, t.step);
    }


    // tcp-check: runs the rules from t.step as far as the socket allows.
    void run_rules(std::uint32_t i, std::int64_t now) {
        Target& t = targets[i];
        const auto& rules = *t.rules;
        while (t.step < rules.size()) {
            const config::TcpCheckStep& r = rules[t.step];
            if (r.kind == config::TcpCheckStep::Kind::Connect) {
                ++t.step;
                continue;
            }
            if (r.kind == config::TcpCheckStep::Kind::Send) {
                if (t.out.empty()) {
                    t.in.clear();  // HAProxy: a send starts a new exchange
                    t.eof = false;
                    t.out = r.data;
                    t.out_off = 0;
                }
                while (t.out_off < t.out.size()) {
                    const ssize_t n = write_some(i, now, t.out.data() + t.out_off, t.out.size() - t.out_off);
                    if (n < 0) return;
                    if (n == 0) return;  // waits for room
                    t.out_off += std::size_t(n);
                }
                t.out.clear();
                t.out_off = 0;
                ++t.step;
                wait_read(t, i);
                continue;
            }
            // expect
            if (!read_some(i, now)) return;
            const detail::Verdict v = detail::eval_expect(r, rule_regex(t.be, t.step), t.in,
                                                          t.eof || t.in.size() >= kMaxResponse, t.step, user_rules(t));
            if (v.wait) return wait_read(t, i);
            if (v.status == Status::L7Ok) {
                t.expected = true;
                t.ok_code = v.code;
                t.ok_info = v.info;
                ++t.step;
                continue;
            }
            finish(i, now, v.status, v.code, v.info);
            return;
        }
        std::string info = t.ok_info;
        if (info.empty() && user_rules(t)) info = "(tcp-check)";
        finish(i, now, t.expected ? Status::L7Ok : t.tls ? Status::L6Ok : Status::L4Ok, t.ok_code, info);
    }

    const regex_t* rule_regex(std::size_t be, std::size_t step) const {
        auto& v = tcp_regexes[be];
        return step < v.size() && v[step] ? v[step].get() : nullptr;
    }

    // Moves a check as far as its socket allows.
    void io_step(std::uint32_t i, std::int64_t now) {
        Target& t = targets[i];
        if (t.phase == Target::Phase::Rules) {
            run_rules(i, now);
            return;
        }
        if (t.phase == Target::Phase::Handshake) {
            ERR_clear_error();
            const int r = SSL_connect(t.ssl);
            if (r == 1) {
                connected_step(i, now);
                return;
            }
            const int e = SSL_get_error(t.ssl, r);
            if (e == SSL_ERROR_WANT_READ) return want(t, i, EPOLLIN);
            if (e == SSL_ERROR_WANT_WRITE) return want(t, i, EPOLLOUT);
            finish(i, now, Status::L6Rsp, 0, ssl_error_text());
            return;
        }
        if (t.phase == Target::Phase::Sending) {
            while (t.out_off < t.out.size()) {
                ssize_t n;
                if (t.ssl) {
                    ERR_clear_error();
                    const int r = SSL_write(t.ssl, t.out.data() + t.out_off, int(t.out.size() - t.out_off));
                    if (r <= 0) {
                        const int e = SSL_get_error(t.ssl, r);
                        if (e == SSL_ERROR_WANT_READ) return want(t, i, EPOLLIN);
                        if (e == SSL_ERROR_WANT_WRITE) return want(t, i, EPOLLOUT);
                        finish(i, now, Status::L7Rsp, 0, "send: " + ssl_error_text());
                        return;
                    }
                    n = r;
                } else {
                    n = ::send(t.fd, t.out.data() + t.out_off, t.out.size() - t.out_off, MSG_NOSIGNAL);
                    if (n < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK) return want(t, i, EPOLLOUT);
                        finish(i, now, Status::SockErr, 0, std::strerror(errno));
                        return;
                    }
                }
                t.out_off += std::size_t(n);
            }
            t.phase = Target::Phase::Reading;
            want(t, i, EPOLLIN | EPOLLRDHUP);
        }
        // Reading
        if (!read_some(i, now)) return;
        evaluate_http(i, now, t.eof || t.in.size() >= kMaxResponse);
        if (t.fd >= 0) wait_read(t, i);
    }

    void on_event(std::uint32_t i, std::uint32_t events, std::int64_t now) {
        if (i >= targets.size()) return;
        Target& t = targets[i];
        if (t.fd < 0) return;
        if (!t.connected) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(t.fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0 || (events & EPOLLERR)) {
                finish(i, now, Status::L4Con, 0, std::strerror(err ? err : ECONNRESET) + where(t));
                return;
            }
            if (!(events & EPOLLOUT)) {
                if (events & EPOLLHUP) finish(i, now, Status::L4Con, 0, std::strerror(ECONNRESET) + where(t));
                return;
            }
            t.connected = true;
            // the rest of the check: `timeout check` after the connect, or what is left of `inter`
            if (t.b->timeouts.check > 0) t.deadline = now + t.b->timeouts.check;
            else t.deadline = t.start + t.s->check.inter;
            arm(i, t.deadline);
            if (t.tls) {
                t.ssl = SSL_new(tls_ctx);
                if (!t.ssl || SSL_set_fd(t.ssl, t.fd) != 1) {
                    finish(i, now, Status::SockErr, 0, ssl_error_text());
                    return;
                }
                if (!t.s->check.sni.empty()) SSL_set_tlsext_host_name(t.ssl, t.s->check.sni.c_str());
                t.phase = Target::Phase::Handshake;
                io_step(i, now);
                return;
            }
            connected_step(i, now);
            return;
        }
        io_step(i, now);
    }

    // Decides an HTTP check once the response allows it (`last`: no more bytes will come).
    void evaluate_http(std::uint32_t i, std::int64_t now, bool last) {
        Target& t = targets[i];
        const detail::Verdict v = detail::eval_http(t.b->check, regexes[t.be], t.in, last, t.h.up);
        if (!v.wait) finish(i, now, v.status, v.code, v.info);
    }

    void on_deadline(std::uint32_t i, std::int64_t now) {
        Target& t = targets[i];
        if (t.fd < 0) {
            start(i, now);
            return;
        }
        if (!t.connected) {
            finish(i, now, Status::L4Tout, 0, where(t));
            return;
        }
        if (t.phase == Target::Phase::Handshake) {
            finish(i, now, Status::L6Tout, 0, where(t));
            return;
        }
        if (t.phase == Target::Phase::Rules) {
            finish(i, now, Status::L7Tout, 0, where(t));
            return;
        }
        // an HTTP check whose response ended without a verdict yet (no body end seen) is judged on
        // what came; nothing at all is a timeout
        if (!t.in.empty() && t.in.find("\r\n") != std::string::npos) {
            evaluate_http(i, now, true);
            if (t.fd < 0) return;
        }
        finish(i, now, Status::L7Tout, 0, {});
    }

    std::pair<int, int> servers_left(std::size_t be) {
        int act = 0, bck = 0;
        const config::Backend& b = cfg.backends[be];
        for (std::size_t k = 0; k < b.servers.size(); ++k) {
            const int ti = index[be][k];
            if (ti >= 0) {
                const Health& h = targets[std::size_t(ti)].h;
                if (!h.up || h.nolb) continue;
            }
            if (hooks.admin_ready && !hooks.admin_ready(be, k)) continue;
            (b.servers[k].backup ? bck : act) += 1;
        }
        return {act, bck};
    }

    void tell(Target& t, bool down) {
        t.sent_down = down;
        const bool ok = !hooks.changed || hooks.changed(t.be, t.sv, down);
        if (!ok && !t.resync) resyncs.push_back(std::uint32_t(&t - targets.data()));
        t.resync = !ok;
    }

    // slowstart: ceil(elapsed * 100 / slowstart), 1..100
    static int ramp_pct(std::int64_t elapsed, std::int64_t slowstart) {
        if (slowstart <= 0 || elapsed >= slowstart) return 100;
        const std::int64_t p = (elapsed * 100 + slowstart - 1) / slowstart;
        return int(std::clamp<std::int64_t>(p, 1, 100));
    }

    // A server back UP with `slowstart` starts at a small share of its weight.
    void start_ramp(Target& t, std::int64_t now) {
        const std::int64_t ss = t.s->check.slowstart;
        if (ss <= 0) return;
        const std::uint32_t i = std::uint32_t(&t - targets.data());
        for (auto& r : ramps)
            if (r.idx == i) {
                r.start = now;
                r.next = now;
                return;
            }
        ramps.push_back({i, now, now});
        update_ramps(now);
    }

    void update_ramps(std::int64_t now) {
        for (std::size_t k = 0; k < ramps.size();) {
            Ramp& r = ramps[k];
            Target& t = targets[r.idx];
            if (!t.h.up || t.h.paused) {  // gone again: its next UP starts a new ramp
                t.h.throttle = 100;
                ramps[k] = ramps.back();
                ramps.pop_back();
                continue;
            }
            if (now >= r.next) {
                const std::int64_t ss = t.s->check.slowstart;
                const int pct = ramp_pct(now - r.start, ss);
                if (pct != t.h.throttle || r.next == r.start) {
                    t.h.throttle = pct;
                    if (hooks.throttle && !hooks.throttle(t.be, t.sv, pct)) {
                        r.next = now;  // not taken: again on the next run
                        ++k;
                        continue;
                    }
                }
                if (pct >= 100) {
                    ramps[k] = ramps.back();
                    ramps.pop_back();
                    continue;
                }
                r.next = now + std::max<std::int64_t>(1000, ss / 20);
            }
            ++k;
        }
    }

    std::int64_t next_ramp() const {
        std::int64_t n = std::numeric_limits<std::int64_t>::max();
        for (const auto& r : ramps) n = std::min(n, r.next);
        return n;
    }

    // Changes the owner could not deliver (a shard's full mailbox) go again, once per turn.
    void resync_all() {
        if (resyncs.empty()) return;
        std::vector<std::uint32_t> again;
        again.swap(resyncs);
        for (std::uint32_t i : again) {
            Target& t = targets[i];
            if (!t.resync) continue;
            t.resync = false;
            tell(t, t.sent_down);
        }
    }

    void say(const Target& t, int level, const std::string& line) {
        if (hooks.log) hooks.log(*t.b, level, line);
    }

    std::string reason_text(const Target& t) {
        std::string o = std::string(", reason: ") + status_desc(t.h.status);
        if (status_has_code(t.h.status)) o += ", code: " + std::to_string(t.h.code);
        if (!t.h.info.empty()) o += ", info: \"" + detail::log_quote(t.h.info) + "\"";
        if (t.h.duration_ms >= 0) o += ", check duration: " + std::to_string(t.h.duration_ms) + "ms";
        return o;
    }

    // HAProxy's state-change line ("Server be/s1 is DOWN, reason: ... 1 active and 0 backup servers
    // left. ..."), and its alert when a backend has no server left.
    void say_change(const Target& t, const char* what, int level) {
        const bool down = !t.h.up;
        const auto [act, bck] = servers_left(t.be);
        say(t, level,
            std::string(t.s->backup ? "Backup Server " : "Server ") + t.b->name + "/" + t.s->name + " is " + what +
                reason_text(t) + ". " + std::to_string(act) + " active and " + std::to_string(bck) +
                (down ? " backup servers left." : " backup servers online.") + (bck && !act ? " Running on backup." : "") +
                (down ? " " + std::to_string(hooks.sessions ? hooks.sessions(t.be, t.sv) : 0) +
                            " sessions active, 0 requeued, 0 remaining in queue."
                      : std::string(" 0 sessions requeued, 0 total in queue.")));
        if (down && act == 0 && bck == 0) say(t, 1, "backend '" + t.b->name + "' has no server available!");
    }

    void finish(std::uint32_t i, std::int64_t now, Status st, int code, std::string info) {
        Target& t = targets[i];
        close_check(t);
        Health& h = t.h;
        const Status prev_status = h.status;
        const int prev_health = h.health;
        h.status = st;
        h.code = code;
        h.info = std::move(info);
        h.duration_ms = now - t.start;
        const int top = h.rise + h.fall - 1;
        if (passed(st)) {
            if (h.health < top) {
                ++h.health;
                if (h.health >= h.rise) h.health = top;
            }
        } else if (h.health > 0) {
            ++h.failed;
            --h.health;
            if (h.health < h.rise) h.health = 0;
        }
        const bool report = st != prev_status || h.health != prev_health;
        if (t.b->check.log_health_checks && report) {
            const bool upish = h.health >= h.rise;
            std::string l = std::string("Health check for ") + (t.s->backup ? "backup " : "") + "server " +
                            t.b->name + "/" + t.s->name + (st == Status::L7OkC ? " conditionally " : " ") +
                            (passed(st) ? "succeeded" : "failed") + reason_text(t) + ", status: " +
                            std::to_string(upish ? h.health - h.rise + 1 : h.health) + "/" +
                            std::to_string(upish ? h.fall : h.rise) + " " + (upish ? "UP" : "DOWN") + ".";
            say(t, 4, l);
        }
        if (h.up && h.health == 0) {
            // UP (or NOLB) -> DOWN
            h.up = false;
            h.nolb = false;
            ++h.down_trans;
            h.down_since_ms = now;
            h.last_change_ms = now;
            tell(t, true);
            say_change(t, "DOWN", 4);
        } else if (!h.up && h.health >= h.rise) {
            h.up = true;
            h.nolb = st == Status::L7OkC;
            h.down_ms += now - h.down_since_ms;
            h.down_since_ms = -1;
            h.last_change_ms = now;
            tell(t, h.nolb);
            start_ramp(t, now);
            say_change(t, h.nolb ? "stopping" : "UP", 5);
        } else if (h.up && st == Status::L7OkC && !h.nolb) {
            h.nolb = true;
            h.last_change_ms = now;
            tell(t, true);
            say_change(t, "stopping", 4);
        } else if (h.up && h.nolb && passed(st) && st != Status::L7OkC) {
            h.nolb = false;
            h.last_change_ms = now;
            tell(t, false);
            say_change(t, "UP", 5);
        }
        t.next = now + jitter(effective_inter(t.s->check, h));
        arm(i, t.next);
    }
};

Checker::Checker(const config::Config& cfg, Hooks hooks, std::int64_t now_ms,
                 const std::function<const Carried*(const std::string&, const std::string&)>& carried)
    : impl_(std::make_unique<Impl>(cfg, std::move(hooks))) {
    Impl& m = *impl_;
    m.index.resize(cfg.backends.size());
    m.regexes.resize(cfg.backends.size());
    m.tcp_regexes.resize(cfg.backends.size());
    for (std::size_t b = 0; b < cfg.backends.size(); ++b) {
        const config::Backend& be = cfg.backends[b];
        m.index[b].assign(be.servers.size(), -1);
        for (const config::CheckExpect& e : be.check.expects)
            m.regexes[b].push_back(e.kind == config::CheckExpect::Kind::RStatus || e.kind == config::CheckExpect::Kind::RString
                                       ? detail::compile(e.pattern)
                                       : detail::no_regex());
        const std::vector<config::TcpCheckStep>* rules = nullptr;
        if (be.check.kind == config::CheckKind::TcpCheck) {
            rules = be.check.builtin.empty() ? &be.check.steps : &be.check.builtin;
            for (const config::TcpCheckStep& st : *rules)
                m.tcp_regexes[b].push_back(st.kind == config::TcpCheckStep::Kind::Expect &&
                                                   (st.match == config::TcpCheckStep::Match::RString ||
                                                    st.match == config::TcpCheckStep::Match::RBinary)
                                               ? detail::compile(st.pattern)
                                               : detail::no_regex());
        }
        for (std::size_t k = 0; k < be.servers.size(); ++k) {
            const config::Server& s = be.servers[k];
            if (!s.check.enabled) continue;
            Impl::Target t;
            t.be = b;
            t.sv = k;
            t.b = &be;
            t.s = &s;
            const config::SockAddr& a = s.check.addr ? *s.check.addr : s.addr;
            std::memcpy(&t.addr, &a.ss, a.len);
            t.alen = a.len;
            if (s.check.port > 0) {
                if (t.addr.ss_family == AF_INET)
                    reinterpret_cast<sockaddr_in*>(&t.addr)->sin_port = htons(std::uint16_t(s.check.port));
                else if (t.addr.ss_family == AF_INET6)
                    reinterpret_cast<sockaddr_in6*>(&t.addr)->sin6_port = htons(std::uint16_t(s.check.port));
            } else if (s.check.addr) {
                // `addr` without `port`: the server's port
                const std::uint16_t port = s.addr.ss.ss_family == AF_INET
                                               ? reinterpret_cast<const sockaddr_in*>(&s.addr.ss)->sin_port
                                               : reinterpret_cast<const sockaddr_in6*>(&s.addr.ss)->sin6_port;
                if (t.addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&t.addr)->sin_port = port;
                else if (t.addr.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&t.addr)->sin6_port = port;
            }
            t.tls = s.check.ssl == 1 || (s.check.ssl == -1 && s.tls && s.check.port == 0 && !s.check.addr);
            t.rules = rules;
            if (rules && !rules->empty() && (*rules)[0].kind == config::TcpCheckStep::Kind::Connect) {
                // tcp-check connect [port <p>] [ssl]
                const config::TcpCheckStep& c0 = (*rules)[0];
                if (c0.port > 0) {
                    if (t.addr.ss_family == AF_INET)
                        reinterpret_cast<sockaddr_in*>(&t.addr)->sin_port = htons(std::uint16_t(c0.port));
                    else if (t.addr.ss_family == AF_INET6)
                        reinterpret_cast<sockaddr_in6*>(&t.addr)->sin6_port = htons(std::uint16_t(c0.port));
                }
                if (c0.ssl) t.tls = true;
            }
            Health& h = t.h;
            h.enabled = true;
            h.rise = s.check.rise;
            h.fall = s.check.fall;
            h.health = h.rise;  // HAProxy: a server starts UP, one failure from DOWN
            h.up = true;
            h.last_change_ms = now_ms;
            if (carried) {
                if (const Carried* c = carried(be.name, s.name)) {
                    h.up = c->up;
                    h.health = std::clamp(c->health, 0, h.rise + h.fall - 1);
                    if (h.up && h.health < h.rise) h.health = h.rise;
                    if (!h.up && h.health >= h.rise) h.health = h.rise - 1;
                    h.failed = c->failed;
                    h.down_trans = c->down_trans;
                    if (!h.up) h.down_since_ms = now_ms;
                }
            }
            t.sent_down = !h.up;
            m.index[b][k] = int(m.targets.size());
            m.targets.push_back(std::move(t));
        }
    }
    if (m.targets.empty()) return;
    for (const auto& t : m.targets)
        if (t.tls && !m.tls_ctx) {
            m.tls_ctx = SSL_CTX_new(TLS_client_method());
            if (!m.tls_ctx) throw std::runtime_error("health checks: SSL_CTX_new failed: " + ssl_error_text());
            SSL_CTX_set_verify(m.tls_ctx, SSL_VERIFY_NONE, nullptr);
            SSL_CTX_set_mode(m.tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        }
    m.ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (m.ep < 0) throw std::runtime_error(std::string("health checks: epoll_create1: ") + std::strerror(errno));
    // the first checks spread over the shortest interval (or max-spread-checks)
    std::int64_t window = std::numeric_limits<std::int64_t>::max();
    for (const auto& t : m.targets) window = std::min<std::int64_t>(window, t.s->check.inter);
    if (cfg.global.max_spread_checks > 0) window = std::min<std::int64_t>(window, cfg.global.max_spread_checks);
    const std::size_t n = m.targets.size();
    for (std::size_t i = 0; i < n; ++i) m.arm(std::uint32_t(i), now_ms + std::int64_t(i) * window / std::int64_t(n));
}

Checker::~Checker() = default;

namespace {
Checker::Impl::Target* target_of(Checker::Impl& m, std::size_t be, std::size_t sv) {
    if (be >= m.index.size() || sv >= m.index[be].size() || m.index[be][sv] < 0) return nullptr;
    return &m.targets[std::size_t(m.index[be][sv])];
}
}  // namespace

bool Checker::maintenance(std::size_t be, std::size_t sv, bool on, std::int64_t now) {
    Impl& m = *impl_;
    Impl::Target* t = target_of(m, be, sv);
    if (!t) return false;
    const std::uint32_t i = std::uint32_t(t - m.targets.data());
    if (on == t->h.paused) return true;
    t->h.paused = on;
    if (on) {
        m.close_check(*t);
        ++t->gen;  // no check while in maintenance
        t->h.health = 0;
        return true;
    }
    // leaving maintenance: UP at `rise`, checked at once
    t->h.health = t->h.rise;
    if (!t->h.up) {
        t->h.up = true;
        t->h.down_ms += now - t->h.down_since_ms;
        t->h.down_since_ms = -1;
        t->h.last_change_ms = now;
    }
    t->h.nolb = false;
    if (t->sent_down) m.tell(*t, false);
    m.start_ramp(*t, now);
    if (t->h.enabled) m.arm(i, now);
    return true;
}

bool Checker::force(std::size_t be, std::size_t sv, Force f, std::int64_t now) {
    Impl& m = *impl_;
    Impl::Target* t = target_of(m, be, sv);
    if (!t) return false;
    Health& h = t->h;
    const bool was_up = h.up;
    if (f == Force::Down) {
        h.health = 0;
        if (h.up) {
            h.up = false;
            ++h.down_trans;
            h.down_since_ms = now;
        }
        h.nolb = false;
    } else {
        h.health = h.rise + h.fall - 1;
        if (!h.up) {
            h.up = true;
            h.down_ms += now - h.down_since_ms;
            h.down_since_ms = -1;
            m.start_ramp(*t, now);
        }
        h.nolb = f == Force::Stopping;
    }
    if (was_up != h.up) h.last_change_ms = now;
    const bool down = !h.up || h.nolb;
    if (down != t->sent_down) m.tell(*t, down);
    return true;
}

bool Checker::enable(std::size_t be, std::size_t sv, bool on, std::int64_t now) {
    Impl& m = *impl_;
    Impl::Target* t = target_of(m, be, sv);
    if (!t) return false;
    const std::uint32_t i = std::uint32_t(t - m.targets.data());
    if (on == t->h.enabled) return true;
    t->h.enabled = on;
    if (!on) {
        m.close_check(*t);
        ++t->gen;
        // unchecked: considered UP (HAProxy), at the top of its health for when checks resume
        Health& h = t->h;
        if (!h.up) {
            h.up = true;
            h.down_ms += now - h.down_since_ms;
            h.down_since_ms = -1;
            h.last_change_ms = now;
        }
        h.nolb = false;
        h.health = h.rise + h.fall - 1;
        if (t->sent_down) m.tell(*t, false);
        return true;
    }
    if (!t->h.paused) m.arm(i, now);
    const bool down = !t->h.up || t->h.nolb;
    if (down != t->sent_down) m.tell(*t, down);
    return true;
}

int Checker::fd() const { return impl_->ep; }

std::int64_t Checker::next_due_ms() const {
    auto& m = *impl_;
    const std::int64_t ramp = m.next_ramp();
    const std::int64_t due = [&] {
        while (!m.timers.empty()) {
            const Impl::Due& d = m.timers.top();
            if (d.gen == m.targets[d.idx].gen) return d.at;
            m.timers.pop();
        }
        return std::numeric_limits<std::int64_t>::max();
    }();
    return std::min(due, ramp);
}

void Checker::run(std::int64_t now) {
    Impl& m = *impl_;
    if (m.ep < 0) return;
    // one pass: what stays ready is seen on the next turn, after the deadlines below
    epoll_event evs[256];
    const int n = ::epoll_wait(m.ep, evs, 256, 0);
    for (int k = 0; k < n; ++k) m.on_event(evs[k].data.u32, evs[k].events, now);
    m.resync_all();
    if (!m.ramps.empty()) m.update_ramps(now);
    while (!m.timers.empty()) {
        const Impl::Due d = m.timers.top();
        if (d.gen != m.targets[d.idx].gen) {
            m.timers.pop();
            continue;
        }
        if (d.at > now) break;
        m.timers.pop();
        ++m.targets[d.idx].gen;
        m.on_deadline(d.idx, now);
    }
}

std::size_t Checker::in_flight() const { return impl_->flying; }
std::size_t Checker::checked() const { return impl_->targets.size(); }

const Health* Checker::health(std::size_t be, std::size_t sv) const {
    const Impl& m = *impl_;
    if (be >= m.index.size() || sv >= m.index[be].size() || m.index[be][sv] < 0) return nullptr;
    return &m.targets[std::size_t(m.index[be][sv])].h;
}

bool Checker::down(std::size_t be, std::size_t sv) const {
    const Health* h = health(be, sv);
    return h && (!h->up || h->nolb);
}

}  // namespace es::check
