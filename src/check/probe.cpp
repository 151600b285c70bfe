// A check's bytes (impl.hpp): the socket, TLS, the request, the tcp-check rules and the agent's
// line, and the deadlines of a check in flight.
#include "impl.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "edgeshard/net/proxy_proto.hpp"

namespace es::check {

namespace {
constexpr std::size_t kMaxResponse = 16384;  // what a check reads at most (HAProxy: one buffer)
}  // namespace

std::string detail::ssl_error_text() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "TLS handshake failed";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

using detail::ssl_error_text;

void Checker::Impl::wait_read(Target& t, std::uint32_t i) { want(t, i, t.want_out ? EPOLLOUT : EPOLLIN | EPOLLRDHUP); }

void Checker::Impl::close_check(Target& t) {
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

void Checker::Impl::start(std::uint32_t i, std::int64_t now) {
    Target& t = targets[i];
    t.h.in_progress = true;
    t.connected = false;
    t.phase = Target::Phase::Connecting;
    t.h.info.clear();  // HAProxy clears the detail and the code when a check starts
    t.h.code = 0;
    t.eof = false;
    t.want_out = false;
    t.start = now;
    const std::int64_t inter = t.agent ? t.s->check.agent_inter : t.s->check.inter;
    const std::int64_t tcheck = t.b->timeouts.check;
    if (tcheck > 0) {
        std::int64_t tc = t.b->timeouts.connect > 0 ? std::min<std::int64_t>(t.b->timeouts.connect, inter) : inter;
        t.conn_deadline = now + tc;
    } else {
        t.conn_deadline = now + inter;
    }
    t.deadline = t.conn_deadline;
    t.fd = ::socket(t.addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t.fd < 0) {
        finish(i, now, Status::SockErr, 0, std::strerror(errno));
        return;
    }
    ++flying;
    const int one = 1;
    ::setsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const int r = ::connect(t.fd, reinterpret_cast<const sockaddr*>(&t.addr.ss), t.addr.len);
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

void Checker::Impl::want(Target& t, std::uint32_t i, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = i;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, t.fd, &ev);
}

// After the connection (and the TLS handshake): a TCP check is done, an HTTP check sends.
void Checker::Impl::connected_step(std::uint32_t i, std::int64_t now) {
    Target& t = targets[i];
    if (t.agent) {
        t.phase = Target::Phase::Agent;
        t.in.clear();
        t.out = t.agent_send;
        t.out_off = 0;
        run_agent(i, now);
        return;
    }
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
ssize_t Checker::Impl::write_some(std::uint32_t i, std::int64_t now, const char* p, std::size_t n) {
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
bool Checker::Impl::read_some(std::uint32_t i, std::int64_t now) {
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

std::string Checker::Impl::where(const Target& t) {
    if (!user_rules(t)) return {};
    return detail::where(*t.rules, !t.connected || t.phase == Target::Phase::Handshake, t.step);
}

// tcp-check: runs the rules from t.step as far as the socket allows.
void Checker::Impl::run_rules(std::uint32_t i, std::int64_t now) {
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
                if (r.time_at >= 0 && t.out.size() >= std::size_t(r.time_at) + 4) {
                    const auto secs = static_cast<std::uint32_t>(std::time(nullptr));
                    for (int k = 0; k < 4; ++k) t.out[std::size_t(r.time_at + k)] = char(secs >> (24 - 8 * k));
                }
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
        const bool last = t.eof || t.in.size() >= kMaxResponse;
        detail::Verdict v = r.custom != config::TcpCheckStep::Custom::None
                                ? detail::eval_custom(r, t.in, last)
                                : detail::eval_expect(r, rule_regex(t.be, t.step), t.in, last, t.step, user_rules(t));
        if (v.wait) return wait_read(t, i);
        if (v.status == Status::L7Ok) {
            t.expected = true;
            t.ok_code = v.code;
            t.ok_info = v.info;
            t.ok_status = r.ok_status;
            ++t.step;
            continue;
        }
        if (v.info.empty() && t.in.empty()) v.info = "TCPCHK got an empty response at step " + std::to_string(t.step + 1);
        finish(i, now, v.status, v.code, v.info);
        return;
    }
    std::string info = t.ok_info;
    if (info.empty() && user_rules(t)) info = "(tcp-check)";
    const Status ok = t.ok_status ? Status(t.ok_status) : Status::L7Ok;
    finish(i, now, t.expected ? ok : t.tls ? Status::L6Ok : Status::L4Ok, t.ok_code, info);
}

// agent-check: agent-send, then the agent's first line.
void Checker::Impl::run_agent(std::uint32_t i, std::int64_t now) {
    Target& t = targets[i];
    while (t.out_off < t.out.size()) {
        const ssize_t n = write_some(i, now, t.out.data() + t.out_off, t.out.size() - t.out_off);
        if (n <= 0) return;  // failed (finished), or waits for room
        t.out_off += std::size_t(n);
    }
    if (!read_some(i, now)) return;
    const detail::AgentAnswer a = detail::parse_agent(t.in, t.eof || t.in.size() >= kMaxResponse);
    if (a.wait) return wait_read(t, i);
    agent_result(i, now, a);
}

// check-send-proxy / tcp-check connect send-proxy: a PROXY protocol v1 line naming the check
// connection's own addresses, before anything else (a TLS handshake too). A fresh connection's
// send buffer takes it whole.
bool Checker::Impl::send_proxy_line(std::uint32_t i, std::int64_t now) {
    Target& t = targets[i];
    sockaddr_storage src{}, dst{};
    socklen_t sl = sizeof src, dl = sizeof dst;
    net::pp::Source ps;  // no addresses: "PROXY UNKNOWN"
    if (::getsockname(t.fd, reinterpret_cast<sockaddr*>(&src), &sl) == 0 &&
        ::getpeername(t.fd, reinterpret_cast<sockaddr*>(&dst), &dl) == 0) {
        ps.src = &src;
        ps.dst = &dst;
    }
    char line[128];
    const std::size_t len = net::pp::build_v1(ps, line, sizeof line);
    const ssize_t n = ::send(t.fd, line, len, MSG_NOSIGNAL);
    if (n == ssize_t(len)) return true;
    finish(i, now, Status::SockErr, 0, n < 0 ? std::strerror(errno) : "the PROXY line was not sent whole");
    return false;
}

const regex_t* Checker::Impl::rule_regex(std::size_t be, std::size_t step) const {
    auto& v = tcp_regexes[be];
    return step < v.size() && v[step] ? v[step].get() : nullptr;
}

// Moves a check as far as its socket allows.
void Checker::Impl::io_step(std::uint32_t i, std::int64_t now) {
    Target& t = targets[i];
    if (t.phase == Target::Phase::Rules) {
        run_rules(i, now);
        return;
    }
    if (t.phase == Target::Phase::Agent) {
        run_agent(i, now);
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

void Checker::Impl::on_event(std::uint32_t i, std::uint32_t events, std::int64_t now) {
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
        else t.deadline = t.start + (t.agent ? t.s->check.agent_inter : t.s->check.inter);
        arm(i, t.deadline);
        if (t.proxy_line && !send_proxy_line(i, now)) return;
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
void Checker::Impl::evaluate_http(std::uint32_t i, std::int64_t now, bool last) {
    Target& t = targets[i];
    const detail::Verdict v = detail::eval_http(t.b->check, regexes[t.be], t.in, last, t.h.up);
    if (!v.wait) finish(i, now, v.status, v.code, v.info);
}

void Checker::Impl::on_deadline(std::uint32_t i, std::int64_t now) {
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
    if (t.phase == Target::Phase::Agent) {
        finish(i, now, Status::L7Tout, 0, {});
        return;
    }
    if (t.phase == Target::Phase::Rules) {
        const std::uint8_t tout = t.step < t.rules->size() ? (*t.rules)[t.step].tout_status : 0;
        finish(i, now, tout ? Status(tout) : Status::L7Tout, 0, where(t));
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
}  // namespace es::check
