// Worker: the shard application. Dispatch of completions, messages and timers to the L4 proxy
// (TcpProxy) and the HTTP/1 proxy (H1Proxy), the end of a turn, housekeeping, and the services
// the two share (pipe pool, log ring, connect chain). Listeners, limits and drain: accept.cpp.
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/tcp.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/shard/uring_compat.hpp"
#include "edgeshard/proxy/tcp_types.hpp"

namespace es::proxy {

using shard::UserData;

ShardCtx::ShardCtx(Worker& w)
    : w_(w), cfg_(w.cfg_), p_(w.p_), r_(w.r_), st_(w.st_), bufs_(w.bufs_.get()), io_(w.io_), lbs_(w.lbs_) {}

Worker::Worker(const config::Config& cfg, const WorkerParams& p, shard::Reactor& r, stats::ShardStats& st)
    : cfg_(cfg),
      p_(p),
      r_(r),
      st_(st),
      bufs_(std::make_unique<net::BufRing>(r.ring(), 0, unsigned(cfg.global.buffers_per_shard),
                                           unsigned(cfg.global.bufsize))),
      io_(r, *bufs_, p.sockopt_ok),
      pipes_("pipe", std::uint64_t(p.maxpipes)),
      stick_(cfg) {
    for (const auto& l : p_.listeners) {
        Listener L;
        L.fd = l.fd;
        L.fe = l.fe;
        L.bind = l.bind;
        // `balance source` needs the client address: multishot accept cannot return one per
        // connection, so such frontends use single-shot accepts with an address buffer
        const bool src = reaches_backend(cfg_, l.fe, [](const config::Backend& b) {
            return b.balance.algo == config::Balance::Source;
        });
        L.multishot = !src && !frontend_needs_addr(cfg_, l.fe);
        listeners_.push_back(L);
    }
    for (std::size_t b = 0; b < cfg_.backends.size(); ++b)
        lbs_.push_back(std::make_unique<BackendLb>(cfg_.backends[b], st_.srv[b].get(), p_.nshards));
    apply_initial_server_states();
    fe_conns_.assign(cfg_.frontends.size(), 0);
    pp_scratch_ = std::make_unique<std::uint8_t[]>(net::pp::kMaxHeader);
    fe_pending_.assign(cfg_.frontends.size(), 0);
    housekeeping_timer_.kind = kTimerHousekeeping;
    drain_timer_.kind = kTimerDrain;
    trim_timer_.kind = kTimerTrim;
    accept_paused_ = p_.accept_paused;
    tls_ = std::make_unique<TlsIo>(cfg_, p_.nshards, st_, *bufs_, io_);
    tcp_ = std::make_unique<TcpProxy>(*this);
    h1_ = std::make_unique<H1Proxy>(*this);
    tcp_->pools(pools_);
    pools_.push_back(&pipes_.raw());
    pools_.push_back(&prefaces_.raw());
    pools_.push_back(&pp_infos_.raw());
    if (!stick_.empty()) pools_.push_back(&stick_refs_.raw());
    if (!cfg_.vars.empty()) pools_.push_back(&vars_.raw());
    h1_->pools(pools_);
    for (const auto& [name, n] : p_.pool_hints)
        for (pool::RawPool* rp : pools_)
            if (rp->name() == name) rp->hint_needed(n);
    wall_offset_ms_ = p_.wall_offset_ms;
    fe_formats_.resize(cfg_.frontends.size());
    if (p_.log_ring) {
        for (std::size_t f = 0; f < cfg_.frontends.size(); ++f) {
            const auto& fe = cfg_.frontends[f];
            if (!fe.log_format.empty() && !fe.logs.empty()) fe_formats_[f] = std::make_unique<log::Format>(fe.log_format);
        }
    }
    for (std::uint32_t f = 0; f < cfg_.frontends.size(); ++f) {
        fe_rules_dst_.push_back(frontend_uses_dst(cfg_, f));
        // (a server without a port is reached on the client's port)
        const bool maps_ports = reaches_backend(cfg_, f, [](const config::Backend& b) {
            for (const auto& s : b.servers)
                if (s.port_map) return true;
            return false;
        });
        fe_needs_dst_.push_back(frontend_sends_proxy(cfg_, f) || fe_rules_dst_.back() || maps_ports ||
                                (fe_formats_[f] && fe_formats_[f]->uses_frontend_addr()));
    }
}

// An HTTP frontend needs each client's address (multishot accepts cannot return it) when it logs,
// adds X-Forwarded-For, or matches `src` ACLs, in itself or any backend it can route to; a tcp
// frontend when it logs or its tcp-request rules or use_backend conditions read `src` or `src_port`.
bool Worker::frontend_needs_addr(const config::Config& cfg, std::uint32_t f) {
    const auto& fe = cfg.frontends[f];
    using SF = config::SampleExpr::Fetch;
    auto key_src = [](const config::SampleExpr& k) {
        return k.fetch == SF::Src || k.fetch == SF::SrcPort || (k.fetch == SF::Expr && text_reads_addr("%[" + k.text + "]", true));
    };
    // stick tables: a key made of the client's address, or a src_* fetch
    auto stick_needs = [&](const config::HttpProxy& px) {
        for (const auto& a : px.acls)
            if (a.fetch == "stick" && a.stick_sc < 0) return true;
        for (const auto& r : px.request_rules)
            if (r.action == config::HttpAction::TrackSc && key_src(r.track.key)) return true;
        for (const auto& r : px.response_rules)
            if (r.action == config::HttpAction::TrackSc && key_src(r.track.key)) return true;
        return false;
    };
    auto px_needs = [&](const config::HttpProxy& px) {
        return px.forwardfor || stick_needs(px) || http_reads_addr(px, true);
    };
    for (const auto& u : fe.use_backend_rules)
        if (u.dynamic && text_reads_addr(u.backend, true)) return true;
    if (text_reads_addr(fe.unique_id_format, true)) return true;
    if (!fe.log_format.empty() && !fe.logs.empty()) return true;
    if (frontend_sends_proxy(cfg, f)) return true;  // the header carries the client's address
    auto tcp_rules_need = [&](const std::vector<config::TcpRule>& rules) {
        for (const auto& r : rules)
            if ((r.action == config::TcpAction::TrackSc && key_src(r.track.key)) ||
                (r.action == config::TcpAction::SetVar && !r.var.literal &&
                 (r.var.fmt ? text_reads_addr(r.var.expr, true) : r.var.expr.starts_with("src"))))
                return true;
        return false;
    };
    auto tcp_acls_need = [](const std::vector<config::Acl>& acls) {
        for (const auto& a : acls)
            if (a.fetch == "src" || a.fetch == "src_port" || (a.fetch == "stick" && a.stick_sc < 0)) return true;
        return false;
    };
    for (const auto* rules : {&fe.tcp_conn_rules, &fe.tcp_sess_rules, &fe.tcp_content_rules})
        if (tcp_rules_need(*rules)) return true;
    const bool stick_be = reaches_backend(cfg, f, [&](const config::Backend& be) {
        for (const auto& r : be.stick_rules)
            if (key_src(r.key)) return true;
        // a backend's tcp-request content rules (their ACLs are the backend's)
        if (tcp_rules_need(be.tcp_rsp_rules) || (!be.tcp_rsp_rules.empty() && tcp_acls_need(be.http.acls))) return true;
        return !be.tcp_content_rules.empty() && (tcp_rules_need(be.tcp_content_rules) || tcp_acls_need(be.http.acls));
    });
    if (stick_be) return true;
    if (fe.mode != config::Mode::Http) {
        return tcp_acls_need(fe.http.acls);  // mode tcp: its ACLs serve tcp-request rules and use_backend only
    }
    if (px_needs(fe.http)) return true;
    return reaches_backend(cfg, f, [&](const config::Backend& be) {
        return px_needs(be.http) || be.balance.algo == config::Balance::Source;
    });
}


bool Worker::push_log(std::uint32_t fe, std::string_view line) {
    // record: u16 frontend id, then the line (the control shard's sink routes it to the frontend's targets)
    char rec[2 + 2048];
    const std::size_t n = std::min<std::size_t>(line.size(), sizeof rec - 2);
    rec[0] = char(fe & 0xff);
    rec[1] = char(fe >> 8);
    std::memcpy(rec + 2, line.data(), n);
    return p_.log_ring->push(std::string_view(rec, n + 2));
}

Worker::~Worker() {
    for (net::Pipe* p : idle_pipes_) pipes_.destroy(p);
    for (auto& l : listeners_)
        if (l.fd >= 0) ::close(l.fd);
}


std::vector<const pool::RawPool*> Worker::pools() const { return {pools_.begin(), pools_.end()}; }

bool Worker::is_http_fe(std::uint32_t fe) const { return cfg_.frontends[fe].mode == config::Mode::Http; }

bool Worker::done() const {
    return (stopping_ || draining_) && live_ == 0 && listener_ops_ == 0 && h1_->conns_live() == 0;
}

void Worker::stale(const shard::Cqe& e) {
    st_.shard.stale_cqes.inc();
    if (e.flags & IORING_CQE_F_BUFFER) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        bufs_->recycle(bid);
    }
}


void Worker::start() {
    maps_.assign(cfg_.maps.begin(), cfg_.maps.end());
    rules::set_shard_maps(&maps_);  // this shard's thread reads its own table from now on
    for (std::size_t i = 0; i < listeners_.size(); ++i) arm_accept(i);  // unless accept_paused_
    r_.timers().schedule(&housekeeping_timer_, r_.now_ms() + 1000);
}

// ---------------------------------------------------------------- dispatch

void Worker::on_cqe(const shard::Cqe& e) {
    const UserData u = UserData::unpack(e.user_data);
    switch (op_owner(u.op)) {
        case OpOwner::Listener:
            if (u.op == kOpAccept) on_accept(std::size_t(u.obj), e);
            return;
        case OpOwner::HttpClient: h1_->http_on_client_cqe(u, e); return;
        case OpOwner::HttpServer: h1_->http_on_server_cqe(u, e); return;
        case OpOwner::L4Session: break;
        case OpOwner::Preface: pp_on_cqe(u, e); return;
        case OpOwner::None: ES_BUG(false, "unknown op in user_data"); return;
    }
    tcp_->on_cqe(u, e);
}

void Worker::on_message(const shard::Message& m) {
    if (m.kind == shard::Message::kPageAnswer) {
        h1_->h_page_answer(m);
        return;
    }
    if (m.kind == shard::Message::kServerAdmin) {
        on_server_admin(m);
        return;
    }
    if (m.kind == shard::Message::kServerAddr) {
        on_server_addr(m);
        return;
    }
    if (m.kind == shard::Message::kMapUpdate) {
        on_map_update(m);
        return;
    }
    if (m.kind == shard::Message::kStall) {  // `debug dev loop` (expert mode): a turn that does not come back
        const std::int64_t until = core::now_ms() + std::int64_t(m.a);
        while (core::now_ms() < until) {
        }
        return;
    }
    if (m.kind == shard::Message::kClearCounters) {
        on_clear_counters(m);
        return;
    }
    if (m.kind == shard::Message::kStickQuery) {
        stick_query(*reinterpret_cast<stick::Query*>(m.a));
        return;
    }
    if (m.kind == shard::Message::kCertUpdate) {
        tls_->cert_update(*reinterpret_cast<tls::CertUpdate*>(m.a), p_.shard_id);
        return;
    }
    if (m.kind == shard::Message::kResumeAccept) {
        accept_paused_ = false;
        if (!draining_) update_accepting();
        return;
    }
    if (m.kind == shard::Message::kSoftStop) {
        begin_drain(reinterpret_cast<const std::vector<std::uint8_t>*>(m.a));
        return;
    }
    if (m.kind == shard::Message::kStop && !stopping_) {
        stopping_ = true;
        for (std::size_t i = 0; i < listeners_.size(); ++i) pause_accept(i);
        // hard stop: every connection ends now (soft stop/drain belongs to the reload path)
        pp_stop();
        tcp_->stop();
        h1_->http_stop();
        r_.timers().cancel(&housekeeping_timer_);
        r_.timers().cancel(&trim_timer_);
        r_.timers().cancel(&drain_timer_);
    }
}

void Worker::on_timer(shard::Timer* t) {
    if (t->kind == kTimerHousekeeping) {
        housekeeping();
        return;
    }
    if (t->kind == kTimerDrain) {
        drain_tick();
        return;
    }
    if (t->kind == kTimerTrim) {
        if (trim_pools() > 0 && !stopping_) r_.timers().schedule(&trim_timer_, r_.now_ms() + kFastTrimMs);
        return;
    }
    if (t->kind == kTimerPreface) {
        pp_on_timer(static_cast<Preface*>(t->owner));
        return;
    }
    if (t->kind >= kHTimerClient) {
        h1_->h_on_timer(t);
        return;
    }
    tcp_->on_timer(t);
}

void Worker::end_of_turn() {
    tcp_->end_of_turn();
    h1_->http_end_of_turn();
    bufs_->publish();
    tcp_->release_ended();
    st_.shard.buffers_out.set(std::int64_t(bufs_->out()));
}

// Pipes are reused while empty (a pipe2() + close() per bulk flow otherwise); the idle stack is
// trimmed by housekeeping when it went unused for a whole period.
net::Pipe* Worker::get_pipe() {
    if (!idle_pipes_.empty()) {
        net::Pipe* p = idle_pipes_.back();
        idle_pipes_.pop_back();
        pipes_taken_ = true;
        return p;
    }
    net::Pipe* p = pipes_.make(cfg_.global.pipesize > 0 ? cfg_.global.pipesize : net::kDefaultPipeSize);
    if (p && !p->ok()) {
        pipes_.destroy(p);
        p = nullptr;
    }
    return p;
}

void Worker::put_pipe(net::Pipe* p, bool clean) {
    if (clean && !stopping_) idle_pipes_.push_back(p);
    else pipes_.destroy(p);  // a pipe that still holds bytes cannot serve another flow
}

void Worker::run_ready() { tcp_->run_ready(); }

bool Worker::has_ready() const { return tcp_->has_ready(); }

std::size_t Worker::trim_pools() {
    std::size_t released = 0;
    for (pool::RawPool* rp : pools_) released += rp->trim_idle();
    return released;
}

void Worker::housekeeping() {
    if (!stick_.empty()) stick_.expire(r_.now_ms());
    if (!pipes_taken_) {
        for (std::size_t k = idle_pipes_.size() / 2 + idle_pipes_.size() % 2; k > 0; --k) {
            pipes_.destroy(idle_pipes_.back());
            idle_pipes_.pop_back();
        }
    }
    pipes_taken_ = false;
    // Pools shrink after a burst by their idle trims (src/pool/README.md). Once a second ages a
    // burst's history by 1/16; while trims keep releasing objects (a burst is being given back)
    // they run every kFastTrimMs instead, until one releases nothing: a burst's leftovers are
    // mostly gone within a couple of seconds, and a quiet shard still wakes once a second.
    if (!trim_timer_.armed() && trim_pools() > 0 && !stopping_)
        r_.timers().schedule(&trim_timer_, r_.now_ms() + kFastTrimMs);
    start_pending();
    update_accepting();
    if (!stopping_) r_.timers().schedule(&housekeeping_timer_, r_.now_ms() + 1000);
}

void Worker::start_pending() {
    tcp_->start_pending();
    h1_->start_pending();
}

// setsockopt(TCP_NODELAY) -> connect -> link_timeout (net::SideIo::connect) to a server address.
// Returns the number of operations queued.
const config::SockAddr* Worker::server_dst(const ServerSlot& srv, std::uint16_t port, config::SockAddr*& keep) {
    if (!srv.cfg->port_map) [[likely]] return srv.addr;
    // the connect reads the address when it is submitted: it must outlive this turn
    if (!keep) keep = new (std::nothrow) config::SockAddr;
    if (!keep) return nullptr;
    *keep = *srv.addr;
    keep->set_port(port);
    return keep;
}

int Worker::connect_chain(const net::ConnSide& side, const config::SockAddr& addr, config::Millis ct,
                          __kernel_timespec& ts, std::uint64_t ud_opt, std::uint64_t ud_conn,
                          std::uint64_t ud_timeout) {
    return io_.connect(side, reinterpret_cast<const sockaddr*>(&addr.ss), addr.len, ct, ts, ud_opt, ud_conn,
                       ud_timeout);
}

}  // namespace es::proxy
