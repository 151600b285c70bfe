// The L4 (mode tcp) sessions of one data shard: the session's life from accept to close.
// Transfer and splice are in transfer.cpp.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/log/access_log.hpp"
#include "edgeshard/proxy/tcp.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/worker.hpp"

namespace es::proxy {

using shard::UserData;

namespace {
std::uint64_t ud(std::uint8_t op, const Session* s) { return UserData::pack(op, s->gen, s); }

config::Millis or_unset(config::Millis v) { return v > 0 ? v : config::kUnset; }
}  // namespace

TcpProxy::TcpProxy(Worker& w)
    : ShardCtx(w),
      sessions_("session", std::uint64_t(w.p_.conn_limit) + 1024),
      holds_("tcp_hold", std::uint64_t(w.p_.conn_limit) + 1024) {
    queues_.resize(cfg_.backends.size());
}

void TcpProxy::pools(std::vector<pool::RawPool*>& out) {
    out.push_back(&sessions_.raw());
    out.push_back(&holds_.raw());
}


// A connection accepted on a tcp frontend. `peer`: its address, when the listener asked for it.
void TcpProxy::accept(int slot, std::uint32_t fe, const sockaddr_storage* peer, std::uint16_t dst_port, int bind,
                      PpInfo* pp, stick::Refs* trk) {
    Session* s = w_.stopping_ ? nullptr : sessions_.make();
    if (const tls::BindTls* tb = w_.tls_->bind(fe, bind); s && tb) [[unlikely]] {
        if ((s->tls = w_.tls_->accept_conn(*tb))) {
            s->tlsf = std::uint8_t(tb->ktls() ? kTlsUser | kTlsWait : kTlsUser);
        } else {
            sessions_.destroy(s);
            s = nullptr;
        }
    }
    if (!s) {
        io_.close_slot(slot, UserData::pack_raw(kOpCancelAccept, 0, 0));
        st_.fe[fe].dcon.inc();
        w_.pp_free(pp);
        w_.stick_end(trk, 0, 0);
        return;
    }
    s->gen = ++w_.gen_;
    s->fe = fe;
    s->pp = pp;
    s->trk = trk;
    s->side[kClient].slot = slot;
    s->last_ms[kClient] = r_.now_ms();
    s->t_accept = s->last_ms[kClient];
    s->timer.owner = s;
    s->dst_port = dst_port;
    if (peer) s->peer = *peer;
    ++w_.live_;
    // all_ list: used by stop
    s->all_node.link_before(all_);

    if (w_.may_start(fe)) {
        start_session(s);
    } else {
        // accepted in the same batch as the limit was reached: it waits (unserved, like in the
        // backlog) until a slot frees; it is never refused
        s->state = SessState::Pending;
        pending_.push_back(s);
        ++w_.fe_pending_[fe];
    }
}

// Sessions accepted beyond a limit start, in order, as the limits leave room.
void TcpProxy::start_pending() {
    w_.start_waiting(pending_, [this](Session* s) { start_session(s); });
}

void TcpProxy::on_cqe(const UserData& u, const shard::Cqe& e) {
    Session* s = u.ptr<Session>();
    if (s->gen != u.gen || s->released) {
        w_.stale(e);  // a completion for an earlier life of this object: its buffer still goes back
        return;
    }
    switch (u.op) {
        case kOpSocket: on_socket(s, e.res); break;
        case kOpSockopt: op_done(s); break;  // a failure shows up on the linked connect
        case kOpConnect: on_connect(s, e.res); break;
        case kOpConnTimeout: op_done(s); break;
        case kOpRecv0: on_recv(s, 0, e); break;
        case kOpRecv1: on_recv(s, 1, e); break;
        case kOpSend0: on_send(s, 0, e.res); break;
        case kOpSend1: on_send(s, 1, e.res); break;
        case kOpShut0: on_shutdown(s, 0, e.res); break;
        case kOpShut1: on_shutdown(s, 1, e.res); break;
        case kOpPollIn0: on_poll(s, 0, false, e.res); break;
        case kOpPollIn1: on_poll(s, 1, false, e.res); break;
        case kOpPollOut0: on_poll(s, 0, true, e.res); break;
        case kOpPollOut1: on_poll(s, 1, true, e.res); break;
        case kOpInstall0: on_install(s, 0, e.res); break;
        case kOpInstall1: on_install(s, 1, e.res); break;
        case kOpPpSend: on_pp_sent(s, e.res); break;
        case kOpCancel:
            op_done(s);
            if (s->state == SessState::Upgrading) [[unlikely]] maybe_upgrade(s);  // the client's receive cancelled
            break;
        case kOpClose: op_done(s); break;
        default: ES_BUG(false, "unknown op in user_data"); break;
    }
}

void TcpProxy::on_timer(shard::Timer* t) {
    Session* s = static_cast<Session*>(t->owner);
    switch (t->kind) {
        case kTimerIdle: {
            if (s->state != SessState::Established) return;
            if (s->rsp_inspect && r_.now_ms() >= s->rsp_until) [[unlikely]] {
                rsp_inspect(s);  // tcp-response inspect-delay over: the rules decide on what came
                return;
            }
            const std::int64_t d = idle_deadline(s);
            if (d < 0) return;
            if (r_.now_ms() >= d) {
                close_session(s);  // inactivity timeout
            } else {
                r_.timers().schedule(&s->timer, d);
            }
            return;
        }
        case kTimerRetry:
            // a plain retry goes back to the server that failed (HAProxy semantics)
            if (s->state == SessState::Retrying) {
                const ServerSlot& slot = lbs_[std::size_t(s->be)]->server(s->server);
                // unless it was put in drain or maintenance meanwhile
                if (slot.retryable(cfg_.backends[std::size_t(s->be)].redispatch) && slot.has_room())
                    connect_to(s, s->server);
                else connect_server(s, -1);  // its slot went to a queued session meanwhile
            }
            return;
        case kTimerHandshake:
            if (s->state != SessState::Handshake) return;
            st_.shard.ssl_failures.inc();  // a handshake that did not complete in time: a failed one
            close_session(s);
            return;
        case kTimerInspect: {
            if (s->state != SessState::Inspecting) return;
            const std::int64_t now = r_.now_ms();
            const config::Millis tc = cfg_.frontends[s->fe].timeouts.client;
            if (now >= s->inspect_until) {
                inspect(s);  // the delay is over: the rules decide on what is held
            } else if (tc > 0 && now >= s->last_ms[kClient] + tc) {
                close_session(s);  // `timeout client` ran out before the delay (see inspect)
            } else {
                r_.timers().schedule(&s->timer, tc > 0 ? std::min(s->inspect_until, s->last_ms[kClient] + tc)
                                                       : s->inspect_until);
            }
            return;
        }
        case kTimerQueue:
            if (s->state == SessState::Queued) {
                // no server slot freed in time: HAProxy answers 503 in HTTP; in TCP the client is closed
                auto& q = queues_[std::size_t(s->be)];
                q.erase(std::remove(q.begin(), q.end(), s), q.end());
                s->queued = false;
                st_.be[s->be].qcur.dec();
                st_.be[s->be].econ.inc();
                close_session(s);
            }
            return;
        default: return;
    }
}

void TcpProxy::stop() {
    for (core::ListNode* n = all_.next; n != &all_;) {
        core::ListNode* nx = n->next;
        Session* s = reinterpret_cast<Session*>(reinterpret_cast<char*>(n) - offsetof(Session, all_node));
        close_session(s);
        n = nx;
    }
}

void TcpProxy::shutdown_sessions(int be, const std::function<bool(int)>& on) {
    for (core::ListNode* n = all_.next; n != &all_;) {
        core::ListNode* nx = n->next;
        Session* s = reinterpret_cast<Session*>(reinterpret_cast<char*>(n) - offsetof(Session, all_node));
        if (s->be == be && s->counted_srv && on(s->server)) close_session(s);
        n = nx;
    }
}

void TcpProxy::end_of_turn() {
    // ENOBUFS: re-arm starved recvs once a quarter of the ring is back (re-arming sooner only spins)
    if (!starved_.empty() && bufs_->available() >= bufs_->count() / 4) {
        std::vector<Session*> again;
        again.swap(starved_);
        for (Session* s : again) {
            for (int side = 0; side < 2; ++side) {
                if (!s->side[side].has(net::kSideStarved)) continue;
                s->side[side].clear(net::kSideStarved);
                if (s->tlsf & kTlsUser) tls_maybe_rearm(s, side);
                else if (s->state == SessState::Established) maybe_rearm(s, side);
                else if (s->state == SessState::Inspecting) arm_recv(s, side);
            }
            op_done(s);  // the starved list held a reference
            if (s->state == SessState::Upgrading) [[unlikely]] maybe_upgrade(s);
        }
    }
}

void TcpProxy::release_ended() {
    for (Session* s : released_) {
        delete s->mapped;
        sessions_.destroy(s);
    }
    released_.clear();
}

// A server of `be` may have room (a state or weight change): start waiting sessions while it has.
void TcpProxy::serve_queue(std::size_t be, const std::function<bool()>& room) {
    auto& q = queues_[be];
    while (!q.empty() && room()) {
        Session* s = q.front();
        q.erase(q.begin());
        s->queued = false;
        st_.be[be].qcur.dec();
        r_.timers().cancel(&s->timer);
        connect_server(s, -1);
    }
}

// One tcplog record per L4 connection, when it ends.
void TcpProxy::tcp_log(Session* s) {
    if (!p_.log_ring || !w_.fe_formats_[s->fe]) return;
    if (s->tls && !s->tls->established()) return;  // a failed TLS handshake is counted, not logged
    // option dontlognull: a connection whose client sent nothing (a health probe, a port scan)
    if (cfg_.frontends[s->fe].dontlognull && s->dir[kClient].moved == 0) return;
    const std::int64_t now = r_.now_ms();
    log::Fields f;
    f.http = false;
    f.client = s->peer;
    if (s->pp && s->pp->has_dst) s->pp->dst.get(f.frontend_addr);
    f.accept_epoch_ms = w_.wall_offset_ms_ + s->t_accept;
    f.frontend = cfg_.frontends[s->fe].name;
    f.backend = s->be >= 0 ? std::string_view(cfg_.backends[std::size_t(s->be)].name) : f.frontend;
    f.server = (s->be >= 0 && s->server >= 0)
                   ? std::string_view(cfg_.backends[std::size_t(s->be)].servers[std::size_t(s->server)].name)
                   : std::string_view("<NOSRV>");
    f.Tw = s->t_connect >= 0 ? 0 : -1;
    f.Tc = s->t_connected >= 0 ? s->t_connected - s->t_connect : -1;
    f.Tt = now - s->t_accept;
    f.Ta = f.Tt;
    f.bytes_read = s->dir[kServer].moved;
    f.bytes_uploaded = s->dir[kClient].moved;
    f.actconn = w_.conns_;
    f.feconn = w_.fe_conns_[s->fe];
    f.beconn = s->be >= 0 ? int(st_.be[s->be].scur.get()) : 0;
    f.retries = s->tries;
    // the format's sample expressions, on what the session still knows: its addresses, TLS facts, variables
    const auto& exprs = w_.fe_formats_[s->fe]->samples();
    if (!exprs.empty()) [[unlikely]] {
        rules::Txn t;
        sockaddr_storage dst;
        rules::VarCtx vc;
        session_txn(s, t, dst, vc);
        t.fe = int(s->fe);
        t.be = s->be;
        t.payload = {};
        arena_.reset();
        t.arena = &arena_;
        const std::size_t n = std::min(exprs.size(), std::size(log_samples_));
        for (std::size_t i = 0; i < n; ++i) {
            log_samples_[i] = {};
            std::string_view v;
            if (!exprs[i].starts_with("capture.") && rules::eval_sample(t, exprs[i], v)) log_samples_[i] = v;
        }
        f.samples = log_samples_;
        f.n_samples = n;
    }
    if (!log::emit(*p_.log_ring, std::uint16_t(s->fe), *w_.fe_formats_[s->fe], f)) st_.fe[s->fe].log_drops.inc();
}

void TcpProxy::start_session(Session* s) {
    s->counted_conn = true;
    w_.conn_started(s->fe);
    if (s->tls) [[unlikely]] {
        // a TLS bind: the handshake first (tcp_tls.cpp), bounded by `timeout client` from the
        // accept as HAProxy 2.6 bounds it; the rules and the backend come once it is done
        s->state = SessState::Handshake;
        const config::Millis tc = cfg_.frontends[s->fe].timeouts.client;
        s->timer.kind = kTimerHandshake;
        if (tc > 0) r_.timers().schedule(&s->timer, s->t_accept + tc);
        arm_recv(s, kClient);
        return;
    }
    route_new(s);
}

// The backend of a new session (after its TLS handshake on a TLS bind): the content rules and
// conditional use_backend decide, else the first unconditional use_backend or the default.
void TcpProxy::route_new(Session* s) {
    const auto& fe = cfg_.frontends[s->fe];
    if (!fe.tcp_sess_rules.empty()) [[unlikely]] {
        // tcp-request session: after the PROXY header and the TLS handshake, before any content
        rules::Txn t;
        sockaddr_storage dst;
        rules::VarCtx vc;
        session_txn(s, t, dst, vc);
        rules::StickCtx sc;
        t.stick = w_.stick_ctx(sc, &s->trk, false);
        if (rules::run_tcp_rules(fe.tcp_sess_rules, fe.http.acls, t) == rules::TcpVerdict::Reject) {
            st_.fe[s->fe].dses.inc();  // HAProxy's denied sessions
            close_session(s);
            return;
        }
        if (s->trk) w_.stick().count_session(*s->trk, r_.now_ms());
    }
    // the one test a frontend without tcp-request content rules or conditional use_backend pays
    if (__builtin_expect(fe.tcp_inspect || fe.tcp_route_cond, 0)) {
        begin_inspect(s);
        return;
    }
    assign_backend(s, !fe.use_backends.empty() ? int(fe.use_backends.front().backend_id) : fe.default_backend_id);
}

void TcpProxy::assign_backend(Session* s, int be) {
    if (be < 0) {
        st_.fe[s->fe].dcon.inc();
        close_session(s);
        return;
    }
    if (cfg_.backends[std::size_t(be)].mode == config::Mode::Http) [[unlikely]] {
        if (s->tls) {  // only a dynamic use_backend gets here: the configuration refuses the static forms
            st_.fe[s->fe].dcon.inc();
            close_session(s);
            return;
        }
        upgrade(s, be);  // HAProxy's upgrade of the connection to HTTP (config: Frontend::tcp_upgrades)
        return;
    }
    s->be = be;
    s->retries_left = cfg_.backends[std::size_t(be)].retries;
    stats::BackendCounters& bc = st_.be[be];
    bc.stot.inc();
    bc.last_sess_ms.update(r_.now_ms());
    bc.scur.inc();
    bc.smax.update(bc.scur.get());
    if (!cfg_.backends[std::size_t(be)].tcp_content_rules.empty()) [[unlikely]] {
        begin_inspect(s);  // the backend's tcp-request content rules first (tcp_inspect.cpp)
        return;
    }
    backend_ready(s);
}

// A content rule (or a use_backend condition) chose a mode http backend: the connection becomes an HTTP one, as
// HAProxy upgrades it. The client's receive stops first (what it still brings joins the queue behind the held bytes,
// on_early_recv), then maybe_upgrade hands the socket, those bytes, the PROXY facts, the tracked entries and the
// variables to the HTTP proxy, which parses the request from the first byte; this session ends without a log line
// or a backend count (the HTTP side logs and counts each request).
void TcpProxy::upgrade(Session* s, int be) {
    ES_ASSERT(!s->tls);  // (assign_backend refuses TLS sessions)
    r_.timers().cancel(&s->timer);
    s->state = SessState::Upgrading;
    s->up_be = be;
    if (s->side[kClient].has(net::kSideRecv)) cancel_recv(s, kClient);
    maybe_upgrade(s);
}

void TcpProxy::maybe_upgrade(Session* s) {
    if (s->state != SessState::Upgrading || s->pending_ops != 0) return;
    net::ConnSide cli = s->side[kClient];
    s->side[kClient] = net::ConnSide{};  // detached: ending this session closes nothing
    std::string_view first;
    if (s->held) first = {s->held->data + s->held->off, s->held->len - s->held->off};
    net::BufChain rest = s->dir[kClient].q;
    s->dir[kClient].q = net::BufChain{};
    PpInfo* pp = s->pp;
    stick::Refs* trk = s->trk;
    rules::Vars* vars = s->vars;
    s->pp = nullptr;
    s->trk = nullptr;
    s->vars = nullptr;
    s->counted_conn = false;  // the HTTP connection holds the slot from now on
    w_.h1_->adopt(cli, s->fe, s->peer, pp, trk, vars, s->up_be, first, rest, s->t_accept);
    close_session(s);
}

// The backend let the session through: persistence, then a server.
void TcpProxy::backend_ready(Session* s) {
    const int be = s->be;
    if (!cfg_.backends[std::size_t(be)].stick_rules.empty()) [[unlikely]] {
        rules::Txn t;
        sockaddr_storage dst;
        rules::VarCtx vc;
        session_txn(s, t, dst, vc);
        s->stick_srv = w_.stick_rules(std::uint32_t(be), t, s->trk);
    }
    connect_server(s, -1);
}

void TcpProxy::connect_server(Session* s, int exclude) {
    BackendLb& lb = *lbs_[std::size_t(s->be)];
    int i = BackendLb::kNone;
    if (s->stick_srv >= 0) [[unlikely]] {  // stick match / stick on
        if (s->stick_srv == exclude) s->stick_srv = -1;
        else i = lb.server(s->stick_srv).has_room() ? s->stick_srv : BackendLb::kFull;
    }
    if (i == BackendLb::kNone) i = lb.pick(&s->peer, exclude);
    if (i == BackendLb::kNone) {
        st_.be[s->be].econ.inc();
        close_session(s);
        return;
    }
    if (i == BackendLb::kFull) {
        // every usable server is at its maxconn: wait in the backend queue (HAProxy's queue),
        // bounded by `timeout queue`, else `timeout connect`
        s->state = SessState::Queued;
        s->queued = true;
        queues_[std::size_t(s->be)].push_back(s);
        auto& bc = st_.be[s->be];
        bc.qcur.inc();
        bc.qmax.update(bc.qcur.get());
        const auto& t = cfg_.backends[std::size_t(s->be)].timeouts;
        const config::Millis qt = t.queue > 0 ? t.queue : (t.connect > 0 ? t.connect : 5000);
        s->timer.kind = kTimerQueue;
        r_.timers().schedule(&s->timer, r_.now_ms() + qt);
        return;
    }
    connect_to(s, i);
}

void TcpProxy::connect_to(Session* s, int i) {
    ServerSlot& srv = lbs_[std::size_t(s->be)]->server(i);
    s->server = i;
    s->counted_srv = true;
    if (s->trk && s->trk->store[0].e) [[unlikely]] w_.stick_commit(s->trk, std::uint32_t(s->be), i);
    ++srv.cur;
    srv.c->inflight.inc();
    srv.c->lbtot.inc();
    st_.be[s->be].lbtot.inc();
    s->state = SessState::Connecting;
    if (s->t_connect < 0) s->t_connect = r_.now_ms();
    s->pending_ops += io_.socket(srv.addr->family(), ud(kOpSocket, s));
}

void TcpProxy::on_socket(Session* s, int res) {
    --s->pending_ops;
    if (s->state == SessState::Closing) {
        if (res >= 0) s->pending_ops += io_.close_slot(res, ud(kOpClose, s));
        maybe_release(s);
        return;
    }
    if (res < 0) {  // -ENFILE (table full), -ENOMEM: a local failure, handled as a connect failure
        connect_failed(s);
        return;
    }
    s->side[kServer].slot = res;
    // setsockopt -> connect -> link_timeout must reach the kernel in one submission: a chain cut
    // by an SQ-full flush would leave the connect without its timeout
    const ServerSlot& srv = lbs_[std::size_t(s->be)]->server(s->server);
    // a server without a port: the port the client connected to (a PROXY header's destination
    // port), plus the offset, modulo 2^16 as HAProxy's
    const config::SockAddr* dst =
        Worker::server_dst(srv, std::uint16_t(int(s->dst_port) + srv.cfg->port_offset), s->mapped);
    if (!dst) [[unlikely]] {
        s->pending_ops += io_.close_slot(s->side[kServer].slot, ud(kOpClose, s));
        s->side[kServer].slot = -1;
        connect_failed(s);
        return;
    }
    s->pending_ops += w_.connect_chain(s->side[kServer], *dst, cfg_.backends[std::size_t(s->be)].timeouts.connect,
                                    s->connect_ts, ud(kOpSockopt, s), ud(kOpConnect, s), ud(kOpConnTimeout, s));
}

void TcpProxy::on_connect(Session* s, int res) {
    --s->pending_ops;
    if (s->state == SessState::Closing) {
        maybe_release(s);
        return;
    }
    if (res == 0) {
        observe(s->be, s->server, shard::Observed::L4Ok);
        established(s);
        return;
    }
    // failed, refused or timed out (-ECANCELED by the linked timeout): drop this socket
    s->pending_ops += io_.close_slot(s->side[kServer].slot, ud(kOpClose, s));
    s->side[kServer].slot = -1;
    observe(s->be, s->server, shard::Observed::L4Err);
    connect_failed(s);
}

// HAProxy semantics: `retries N` more attempts after the first; with `option redispatch`
// (interval -1) the last retry goes to another server, with interval P every Pth retry does.
// A retry on the same server waits min(timeout connect, 1s) so a restarting server is not
// hammered; a redispatch goes at once.
void TcpProxy::connect_failed(Session* s) {
    BackendLb& lb = *lbs_[std::size_t(s->be)];
    const int failed = s->server;
    ServerSlot& srv = lb.server(failed);
    --srv.cur;
    srv.c->inflight.dec();
    s->counted_srv = false;
    const auto& be = cfg_.backends[std::size_t(s->be)];
    if (s->retries_left <= 0) {
        srv.c->econ.inc();
        st_.be[s->be].econ.inc();
        server_slot_freed(s);
        close_session(s);
        return;
    }
    --s->retries_left;
    ++s->tries;
    srv.c->wretr.inc();
    st_.be[s->be].wretr.inc();
    bool redispatch = false;
    if (be.redispatch) {
        if (be.redispatch_interval < 0) redispatch = s->retries_left == -be.redispatch_interval - 1;
        else if (be.redispatch_interval > 0) redispatch = s->tries % be.redispatch_interval == 0;
    }
    server_slot_freed(s);
    if (redispatch) {
        srv.c->wredis.inc();
        st_.be[s->be].wredis.inc();
        connect_server(s, failed);
        return;
    }
    s->state = SessState::Retrying;
    s->timer.kind = kTimerRetry;
    const config::Millis ct = be.timeouts.connect;
    const config::Millis wait = (ct > 0 && ct < 1000) ? ct : 1000;
    r_.timers().schedule(&s->timer, r_.now_ms() + wait);
}

void TcpProxy::server_slot_freed(Session* s) {
    auto& q = queues_[std::size_t(s->be)];
    if (q.empty()) return;
    Session* w = q.front();
    q.erase(q.begin());
    w->queued = false;
    st_.be[w->be].qcur.dec();
    r_.timers().cancel(&w->timer);
    connect_server(w, -1);
}

void TcpProxy::established(Session* s) {
    s->state = SessState::Established;
    s->srv_established = true;
    s->t_connected = r_.now_ms();
    ServerSlot& srv = lbs_[std::size_t(s->be)]->server(s->server);
    srv.c->stot.inc();
    srv.c->last_sess_ms.update(s->t_connected);
    if (s->t_connect >= 0) {  // connect time (HAProxy's ctime; a tcp session has no response time: rtime 0)
        const std::int64_t ct = s->t_connected - s->t_connect;
        stats::add_sample(srv.c->ctime_sum, srv.c->ctime_n, srv.c->ctime_max, ct);
        stats::BackendCounters& bc = st_.be[s->be];
        stats::add_sample(bc.ctime_sum, bc.ctime_n, bc.ctime_max, ct);
    }
    srv.c->scur.inc();
    srv.c->smax.update(srv.c->scur.get());
    const std::int64_t now = r_.now_ms();
    s->last_ms[kClient] = now;
    s->last_ms[kServer] = now;
    if (srv.cfg->send_proxy && !s->pp_sent) [[unlikely]] {
        pp_send(s);
        return;
    }
    established_io(s);
}

// `send-proxy*`: the PROXY header leaves in a send of its own before any byte of the session
// (before a TLS server's ClientHello too), then the session starts as any other.
void TcpProxy::pp_send(Session* s) {
    const ServerSlot& srv = lbs_[std::size_t(s->be)]->server(s->server);
    s->pp_out = w_.pp_header(*srv.cfg, &s->peer, s->pp, s->tls ? &s->tls->facts() : nullptr);
    Dir& d = s->dir[kClient];  // nothing goes to the server before it: its send slot is free
    d.iov[0].iov_base = s->pp_out->data();
    d.iov[0].iov_len = s->pp_out->size();
    d.msg = msghdr{};
    d.msg.msg_iov = d.iov;
    d.msg.msg_iovlen = 1;
    s->pending_ops += io_.sendmsg(s->side[kServer], &d.msg, MSG_WAITALL, ud(kOpPpSend, s));
}

void TcpProxy::on_pp_sent(Session* s, int res) {
    --s->pending_ops;
    const bool whole = s->pp_out && res == int(s->pp_out->size());
    delete s->pp_out;
    s->pp_out = nullptr;
    if (s->state != SessState::Established) {
        maybe_release(s);
        return;
    }
    if (!whole) {  // -EPIPE, -ECONNRESET: the server is gone
        count_abort(s, kServer);
        close_session(s);
        return;
    }
    s->pp_sent = true;
    s->last_ms[kServer] = r_.now_ms();
    established_io(s);
}

void TcpProxy::established_io(Session* s) {
    if ((s->tlsf & kTlsUser) || w_.tls_->upstream(s->be, s->server)) [[unlikely]] {
        tls_established(s);  // a TLS side: what the client sent meanwhile goes first (tcp_tls.cpp)
        return;
    }
    if (__builtin_expect(s->early, 0)) {
        early_established(s);  // the client's held bytes go first (tcp_inspect.cpp)
    } else {
        arm_recv(s, kClient);
    }
    arm_recv(s, kServer);
    schedule_idle(s);
    if (!cfg_.backends[std::size_t(s->be)].tcp_rsp_rules.empty()) [[unlikely]]
        begin_rsp_inspect(s);  // tcp-response content (tcp_inspect.cpp)
}

// Inactivity deadline (-1 = none). `timeout client` bounds the client side's silence (no byte
// read from or written to it), `timeout server` the server side's, each only while that side is
// expected to act (HAProxy's meaning): to send (its read is armed, not held back because the
// other side is slow to take what it sent) or to acknowledge (bytes queued or in a pipe for it).
// A server held back by a slow client is not idle, nor a client held back by a slow server.
// `timeout tunnel`, when set, replaces both with one bound on both sides being idle. Once a side
// is half-closed the -fin variants apply when configured.
std::int64_t TcpProxy::idle_deadline(const Session* s) const {
    const auto& ft = cfg_.frontends[s->fe].timeouts;
    const auto& bt = cfg_.backends[std::size_t(s->be)].timeouts;
    const bool half = (s->side[0].flags | s->side[1].flags) & (net::kSideEof | net::kSideShut);
    const std::int64_t lc = s->last_ms[kClient], ls = s->last_ms[kServer];
    if (!half && or_unset(bt.tunnel) > 0) return std::max(lc, ls) + bt.tunnel;
    config::Millis tc = or_unset(ft.client), ts = or_unset(bt.server);
    if (half) {
        if (or_unset(ft.client_fin) > 0) tc = ft.client_fin;
        if (or_unset(bt.server_fin) > 0) ts = bt.server_fin;
        if (or_unset(bt.tunnel) > 0 && tc <= 0 && ts <= 0) return std::max(lc, ls) + bt.tunnel;
    }
    auto expected = [s](int x) {
        const Side& sd = s->side[x];
        const Dir& to = s->dir[1 - x];  // bytes flowing towards side x
        const bool sends = !sd.has(net::kSideEof) &&
                           (sd.has(net::kSideRecv | net::kSideStarved | net::kSidePollIn) || s->dir[x].mode == Dir::Switching);
        const bool acks = to.q.bytes > 0 || to.send_inflight || to.pipe_bytes > 0 || sd.has(net::kSidePollOut) ||
                          s->tq[x].n > 0 || s->tq[x].inflight;
        return sends || acks;
    };
    std::int64_t d = -1;
    if (tc > 0 && expected(kClient)) d = lc + tc;
    if (ts > 0 && expected(kServer)) d = d < 0 ? ls + ts : std::min(d, ls + ts);
    if (d < 0 && (tc > 0 || ts > 0)) {
        // nothing is expected of either side (a transition): still bounded, by both being idle
        d = std::max(lc, ls) + std::max(tc, ts);
    }
    return d;
}

void TcpProxy::schedule_idle(Session* s) {
    if (s->state != SessState::Established) return;  // a closing session must not re-arm its timer
    std::int64_t d = idle_deadline(s);
    if (s->rsp_inspect) [[unlikely]] d = d < 0 ? s->rsp_until : std::min(d, s->rsp_until);
    s->timer.kind = kTimerIdle;
    if (d < 0) {
        r_.timers().cancel(&s->timer);
        return;
    }
    // lazily: an armed timer earlier than d simply re-checks when it fires
    if (!s->timer.armed() || s->timer.when_ms > d) r_.timers().schedule(&s->timer, d);
}

void TcpProxy::count_abort(Session* s, int side) {
    if (s->be < 0) return;
    stats::ServerCounters* sc = s->server >= 0 ? lbs_[std::size_t(s->be)]->server(s->server).c : nullptr;
    if (side == kClient) {
        st_.fe[s->fe].cli_abrt.inc();
        st_.be[s->be].cli_abrt.inc();
        if (sc) sc->cli_abrt.inc();
    } else {
        st_.be[s->be].srv_abrt.inc();
        if (sc) sc->srv_abrt.inc();
    }
}

void TcpProxy::close_session(Session* s) {
    if (s->state == SessState::Closing) return;
    const SessState was = s->state;
    s->state = SessState::Closing;
    r_.timers().cancel(&s->timer);
    if (was == SessState::Pending) {
        pending_.erase(std::remove(pending_.begin(), pending_.end(), s), pending_.end());
        --w_.fe_pending_[s->fe];
    }
    if (s->queued) {
        auto& q = queues_[std::size_t(s->be)];
        q.erase(std::remove(q.begin(), q.end(), s), q.end());
        s->queued = false;
        st_.be[s->be].qcur.dec();
    }
    for (int side = 0; side < 2; ++side) {
        s->pending_ops += io_.close(s->side[side], ud(kOpCancel, s), ud(kOpClose, s));
        Dir& d = s->dir[side];
        if (!d.send_inflight) bufs_->drop(d.q);  // else on_send() drops it: the send may still read them
        if (!s->tq[side].inflight && s->tq[side].blk) w_.tls_->sendq.drop(s->tq[side]);
        if (d.pipe) {
            w_.put_pipe(d.pipe, d.pipe_bytes == 0);
            d.pipe = nullptr;
            d.pipe_bytes = 0;
        }
    }
    if (s->counted_srv && s->be >= 0) {
        ServerSlot& srv = lbs_[std::size_t(s->be)]->server(s->server);
        --srv.cur;
        srv.c->inflight.dec();
        s->counted_srv = false;
        if (s->srv_established) {
            srv.c->scur.dec();
            // the session's whole time (HAProxy's ttime of a tcp server and backend: accept to close)
            const std::int64_t tt = r_.now_ms() - s->t_accept;
            stats::add_sample(srv.c->ttime_sum, srv.c->ttime_n, srv.c->ttime_max, tt);
            stats::BackendCounters& bc = st_.be[s->be];
            stats::add_sample(bc.ttime_sum, bc.ttime_n, bc.ttime_max, tt);
        }
        server_slot_freed(s);
    }
    if (s->counted_conn) tcp_log(s);
    if (s->be >= 0 && s->counted_conn) st_.be[s->be].scur.dec();
    if (s->counted_conn) {
        s->counted_conn = false;
        w_.conn_ended(s->fe);
    }
    maybe_release(s);
}

void TcpProxy::op_done(Session* s) {
    --s->pending_ops;
    ES_ASSERT(s->pending_ops >= 0);
    maybe_release(s);
}

// A closing session is released once no operation can complete on it any more; the memory goes
// back to the pool at the end of the turn, after every CQE of this batch has been dispatched.
void TcpProxy::maybe_release(Session* s) {
    if (s->state == SessState::Closing && s->pending_ops == 0 && !s->released) release(s);
}

void TcpProxy::release(Session* s) {
    if (s->held) {  // no send can read it any more: the session's last op has completed
        holds_.destroy(s->held);
        s->held = nullptr;
    }
    if (s->tls || s->stls) [[unlikely]] tls_release(s);
    if (s->pp) [[unlikely]] {
        w_.pp_free(s->pp);
        s->pp = nullptr;
    }
    delete s->pp_out;  // a send of it may have been cut by the close; no op reads it any more
    s->pp_out = nullptr;
    if (s->trk) [[unlikely]]
        w_.stick_end(s->trk, s->dir[kClient].moved, s->dir[kServer].moved);
    if (s->vars) [[unlikely]] w_.vars_end(s->vars);
    s->released = true;
    s->all_node.unlink();
    --w_.live_;
    released_.push_back(s);
}

}  // namespace es::proxy
