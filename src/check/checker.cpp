// The health checker (include/edgeshard/check/checker.hpp; src/check/README.md): its probes, its
// timers and the public calls. probe.cpp moves the bytes, state.cpp applies the results.
#include "impl.hpp"

#include <netinet/in.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace es::check {

using detail::Regex;

Checker::Impl::~Impl() {
    for (Target& t : targets) close_check(t);
    if (ep >= 0) ::close(ep);
    if (tls_ctx) SSL_CTX_free(tls_ctx);
}

void Checker::Impl::arm(std::uint32_t i, std::int64_t at) {
    Target& t = targets[i];
    ++t.gen;
    timers.push({at, i, t.gen});
}

std::int64_t Checker::Impl::jitter(std::int64_t inter) {
    const int pct = cfg.global.spread_checks;
    if (pct <= 0 || inter <= 0) return inter;
    std::uniform_int_distribution<std::int64_t> d(-inter * pct / 100, inter * pct / 100);
    return std::max<std::int64_t>(1, inter + d(rng));
}
namespace {

// agent-check: a probe of its own towards agent-addr (or the server's address) and agent-port,
// linked to the server's health probe; HAProxy's agents have rise = fall = 1 and start UP.
// `health`: 1, or what a reload carried.
void add_agent(Checker::Impl& m, std::size_t b, std::size_t k, std::int64_t now_ms, int health) {
    const config::Server& s = m.cfg.backends[b].servers[k];
    Checker::Impl::Target t;
    t.be = b;
    t.sv = k;
    t.b = &m.cfg.backends[b];
    t.s = &s;
    t.agent = true;
    t.agent_send = s.check.agent_send;
    t.addr = s.check.agent_addr ? *s.check.agent_addr : s.addr;
    t.addr.set_port(std::uint16_t(s.check.agent_port));
    t.h.enabled = true;
    t.h.rise = t.h.fall = 1;
    t.h.health = std::clamp(health, 0, 1);
    t.h.last_change_ms = now_ms;
    const int hc = m.index[b][k];
    t.other = hc;
    m.agents[b][k] = int(m.targets.size());
    m.targets[std::size_t(hc)].other = int(m.targets.size());
    m.targets.push_back(std::move(t));
}

}  // namespace

Checker::Checker(const config::Config& cfg, Hooks hooks, std::int64_t now_ms,
                 const std::function<const Carried*(const std::string&, const std::string&)>& carried)
    : impl_(std::make_unique<Impl>(cfg, std::move(hooks))) {
    Impl& m = *impl_;
    m.index.resize(cfg.backends.size());
    m.agents.resize(cfg.backends.size());
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
        m.agents[b].assign(be.servers.size(), -1);
        for (std::size_t k = 0; k < be.servers.size(); ++k) {
            const config::Server& s = be.servers[k];
            if (!s.check.enabled && !s.check.agent) continue;
            Impl::Target t;
            t.be = b;
            t.sv = k;
            t.b = &be;
            t.s = &s;
            // `addr` and `port` (an `addr` without `port` keeps the server's port)
            t.addr = s.check.addr ? *s.check.addr : s.addr;
            t.addr.set_port(s.check.port > 0 ? std::uint16_t(s.check.port) : s.addr.port());
            t.tls = s.check.ssl == 1 || (s.check.ssl == -1 && s.tls && s.check.port == 0 && !s.check.addr);
            t.rules = rules;
            if (rules && !rules->empty() && (*rules)[0].kind == config::TcpCheckStep::Kind::Connect) {
                // tcp-check connect [port <p>] [ssl]
                const config::TcpCheckStep& c0 = (*rules)[0];
                if (c0.port > 0) t.addr.set_port(std::uint16_t(c0.port));
                if (c0.ssl) t.tls = true;
            }
            t.proxy_line = s.check.send_proxy || (rules && !rules->empty() && (*rules)[0].send_proxy);
            Health& h = t.h;
            h.enabled = s.check.enabled;  // false: a server with an agent alone (never checked itself)
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
            if (s.check.agent) {
                const Carried* c = carried ? carried(be.name, s.name) : nullptr;
                add_agent(m, b, k, now_ms, c && c->agent_health >= 0 ? c->agent_health : 1);
            }
        }
    }
    if (m.targets.empty()) return;
    for (const auto& t : m.targets)
        if (t.tls && !m.tls_ctx) {
            m.tls_ctx = SSL_CTX_new(TLS_client_method());
            if (!m.tls_ctx) throw std::runtime_error("health checks: SSL_CTX_new failed: " + detail::ssl_error_text());
            SSL_CTX_set_verify(m.tls_ctx, SSL_VERIFY_NONE, nullptr);
            SSL_CTX_set_mode(m.tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        }
    m.ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (m.ep < 0) throw std::runtime_error(std::string("health checks: epoll_create1: ") + std::strerror(errno));
    // the first checks spread over the shortest interval (or max-spread-checks)
    std::int64_t window = std::numeric_limits<std::int64_t>::max();
    // what is checked: every health check and every agent (a server with an agent alone has a
    // health entry that carries its state but never connects)
    std::vector<std::uint32_t> probes;
    for (std::size_t i = 0; i < m.targets.size(); ++i) {
        const auto& t = m.targets[i];
        if (!t.agent && !t.s->check.enabled) continue;
        probes.push_back(std::uint32_t(i));
        window = std::min<std::int64_t>(window, t.agent ? t.s->check.agent_inter : t.s->check.inter);
    }
    if (cfg.global.max_spread_checks > 0) window = std::min<std::int64_t>(window, cfg.global.max_spread_checks);
    const std::size_t n = probes.size();
    for (std::size_t i = 0; i < n; ++i) m.arm(probes[i], now_ms + std::int64_t(i) * window / std::int64_t(n));
}

Checker::~Checker() = default;

Checker::Impl::Target* target_of(Checker::Impl& m, std::size_t be, std::size_t sv) {
    if (be >= m.index.size() || sv >= m.index[be].size() || m.index[be][sv] < 0) return nullptr;
    return &m.targets[std::size_t(m.index[be][sv])];
}

void Checker::set_ip(std::size_t be, std::size_t sv, const config::SockAddr& ip) {
    Impl& m = *impl_;
    auto move = [&ip](Impl::Target& t) {
        config::SockAddr a = ip;
        a.set_port(t.addr.port());
        t.addr = a;
    };
    if (Impl::Target* t = target_of(m, be, sv); t && !t->s->check.addr) move(*t);
    if (be < m.agents.size() && sv < m.agents[be].size() && m.agents[be][sv] >= 0) {
        Impl::Target& a = m.targets[std::size_t(m.agents[be][sv])];
        if (!a.s->check.agent_addr) move(a);
    }
}

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
    // leaving maintenance: UP at `rise`, checked at once (DOWN while its agent says so)
    t->h.health = t->h.rise;
    if (m.agent_down(*t)) {
        if (t->h.up) {
            t->h.up = false;
            ++t->h.down_trans;
            t->h.down_since_ms = now;
            t->h.last_change_ms = now;
        }
        if (!t->sent_down) m.tell(*t, true);
        if (t->s->check.enabled && t->h.enabled) m.arm(i, now);
        return true;
    }
    if (!t->h.up) {
        t->h.up = true;
        t->h.down_ms += now - t->h.down_since_ms;
        t->h.down_since_ms = -1;
        t->h.last_change_ms = now;
    }
    t->h.nolb = false;
    if (t->sent_down) m.tell(*t, false);
    m.start_ramp(*t, now);
    if (t->h.enabled && t->s->check.enabled) m.arm(i, now);
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
    if (!t || !t->s->check.enabled) return false;
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

const Health* Checker::agent(std::size_t be, std::size_t sv) const {
    const Impl& m = *impl_;
    if (be >= m.agents.size() || sv >= m.agents[be].size() || m.agents[be][sv] < 0) return nullptr;
    return &m.targets[std::size_t(m.agents[be][sv])].h;
}

bool Checker::agent_enable(std::size_t be, std::size_t sv, bool on, std::int64_t now) {
    Impl& m = *impl_;
    if (!agent(be, sv)) return false;
    Impl::Target& a = m.targets[std::size_t(m.agents[be][sv])];
    if (on == a.h.enabled) return true;
    a.h.enabled = on;
    if (on) {
        m.arm(m.idx(a), now);
    } else {
        m.close_check(a);
        ++a.gen;  // no more agent checks; its answers no longer count (HAProxy re-judges at the next check)
    }
    return true;
}

bool Checker::agent_force(std::size_t be, std::size_t sv, bool up, std::int64_t now) {
    Impl& m = *impl_;
    if (!agent(be, sv)) return false;
    Impl::Target& a = m.targets[std::size_t(m.agents[be][sv])];
    Impl::Target& hc = m.targets[std::size_t(a.other)];
    a.h.health = up ? a.h.rise + a.h.fall - 1 : 0;
    Health& h = hc.h;
    // HAProxy sets the server running or stopped at once, whatever its health check says
    if (up && !h.up) {
        h.up = true;
        h.nolb = false;
        h.down_ms += now - h.down_since_ms;
        h.down_since_ms = -1;
        h.last_change_ms = now;
        m.start_ramp(hc, now);
        m.tell(hc, false);
        m.say_change(hc, std::string(", changed from CLI"), "UP", 5);
    } else if (!up && h.up) {
        h.up = false;
        h.nolb = false;
        ++h.down_trans;
        h.down_since_ms = now;
        h.last_change_ms = now;
        m.tell(hc, true);
        m.say_change(hc, std::string(", changed from CLI"), "DOWN", 1);
    }
    return true;
}

bool Checker::agent_send(std::size_t be, std::size_t sv, std::string text) {
    Impl& m = *impl_;
    if (!agent(be, sv)) return false;
    m.targets[std::size_t(m.agents[be][sv])].agent_send = std::move(text);
    return true;
}

void Checker::observed(std::size_t be, std::size_t sv, Observed last, std::int64_t now) {
    Impl& m = *impl_;
    Impl::Target* t = target_of(m, be, sv);
    if (!t || !t->s->check.enabled || !t->h.enabled || t->h.paused) return;
    const config::ServerCheck& ck = t->s->check;
    const int effect = shard::observed_effect(last, ck.observe == config::ServerCheck::Observe::Layer4 ? 4 : 7);
    const bool counting = t->errors > 0;
    if (effect == 2) t->errors = 0;
    if (effect == 1 && ++t->errors >= ck.error_limit) {
        t->errors = 0;
        m.observed(*t, last, now);
    }
    if ((t->errors > 0) != counting && m.hooks.observing) m.hooks.observing(be, sv, t->errors > 0);
}

bool Checker::down(std::size_t be, std::size_t sv) const {
    const Health* h = health(be, sv);
    return h && (!h->up || h->nolb);
}

}  // namespace es::check
