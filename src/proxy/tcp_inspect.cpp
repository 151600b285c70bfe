// Content inspection of L4 sessions: tcp-request content rules on the client's first bytes and
// use_backend conditions, before a backend is chosen (HAProxy 2.6 semantics). Only frontends with
// such rules come here (Frontend::tcp_inspect / tcp_route_cond, one test in start_session); the others
// never arm a receive before their server is connected.
//
//   accept -> begin_inspect: rules once; Wait -> client receive armed, inspect-delay timer
//   each arrival (on_early_recv; judged in place, or copied into the hold while waiting) -> inspect:
//                                                  Accept -> route (use_backend, default_backend)
//                                                  Reject -> close, dreq counted
//   delay over / hold full / client EOF -> inspect with missing bytes as no match
//   connected -> early_established: the held bytes, then what arrived while connecting, then the
//   ordinary copy/splice path.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/proxy/tcp.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/rules/rules.hpp"

namespace es::proxy {

using shard::UserData;

namespace {
std::uint64_t ud(std::uint8_t op, const Session* s) {
    return UserData::pack(op, s->gen, s);
}

// While connecting, bytes after the held ones wait in the queue up to this many buffers; then the
// client's receive stops until the server takes them (as transfer.cpp's high water mark).
constexpr std::uint32_t kEarlyHighWaterBufs = 8;
}  // namespace

// What the rules may hold: one tune.bufsize, as HAProxy's request buffer. A full hold ends the wait.
std::uint32_t TcpProxy::hold_cap() const {
    return std::min<std::uint32_t>(std::uint32_t(cfg_.global.bufsize), net::Block::kCap);
}

// Before a backend is chosen the frontend's rules run, after it (s->be set: assign_backend) the
// backend's, each with its own inspect-delay.
void TcpProxy::begin_inspect(Session* s) {
    const auto& fe = cfg_.frontends[s->fe];
    if (s->be < 0 && !fe.tcp_inspect) {  // conditional use_backend only: nothing to wait for
        route(s);
        return;
    }
    s->state = SessState::Inspecting;
    s->timer.kind = kTimerInspect;
    // no inspect-delay: the rules are evaluated once, now, on nothing (HAProxy; the config warns)
    const config::Millis delay = s->be < 0 ? fe.inspect_delay : cfg_.backends[std::size_t(s->be)].inspect_delay;
    s->inspect_until = r_.now_ms() + (delay > 0 ? delay : 0);
    inspect(s);
}

// Runs the content rules on what is held. Final (missing bytes are no match) once the delay is
// over, the hold is full or the client has shut its side; else a rule needing more bytes waits.
void TcpProxy::inspect(Session* s) {
    const auto& fe = cfg_.frontends[s->fe];
    const bool on_backend = s->be >= 0;
    const auto& rules = on_backend ? cfg_.backends[std::size_t(s->be)].tcp_content_rules : fe.tcp_content_rules;
    const auto& acls = on_backend ? cfg_.backends[std::size_t(s->be)].http.acls : fe.http.acls;
    const std::int64_t now = r_.now_ms();
    rules::Txn t;
    sockaddr_storage dst;
    rules::VarCtx vc;
    session_txn(s, t, dst, vc);
    const auto held = std::uint32_t(t.payload.size());
    t.payload_final = now >= s->inspect_until || held >= hold_cap() || s->side[kClient].has(net::kSideEof);
    rules::StickCtx sc;
    t.stick = w_.stick_ctx(sc, &s->trk, false);
    if (on_backend && t.stick) t.stick->backend = true;
    switch (rules::run_tcp_rules(rules, acls, t, nullptr, true)) {
        case rules::TcpVerdict::Wait: {
            if (!s->early) {
                s->early = true;
                if (!s->tls) arm_recv(s, kClient);  // (TLS: its receive is armed already, tcp_tls.cpp)
            }
            // the delay bounds the wait; `timeout client`, when shorter, bounds the client's silence
            std::int64_t d = s->inspect_until;
            const config::Millis tc = fe.timeouts.client;
            if (tc > 0) d = std::min<std::int64_t>(d, s->last_ms[kClient] + tc);
            r_.timers().schedule(&s->timer, d);
            return;
        }
        case rules::TcpVerdict::Reject:
        case rules::TcpVerdict::Close:  // (a tcp-response action only)
            st_.fe[s->fe].dreq.inc();  // HAProxy counts a content reject as a denied request (the backend's too)
            close_session(s);
            return;
        case rules::TcpVerdict::Accept:
            r_.timers().cancel(&s->timer);
            if (on_backend) backend_ready(s);
            else route(s);
            return;
    }
}

// tcp-response content: the rules run once the server is connected (on nothing yet), then again on each arrival
// of its bytes, which wait in the server direction's queue; final once the delay is over (none: at once), the
// queue holds a buffer's worth or the server shut its side.
void TcpProxy::begin_rsp_inspect(Session* s) {
    const config::Millis delay = cfg_.backends[std::size_t(s->be)].rsp_inspect_delay;
    s->rsp_inspect = true;
    s->rsp_until = r_.now_ms() + (delay > 0 ? delay : 0);
    rsp_inspect(s);
}

void TcpProxy::rsp_inspect(Session* s) {
    const auto& be = cfg_.backends[std::size_t(s->be)];
    rules::Txn t;
    sockaddr_storage dst;
    rules::VarCtx vc;
    session_txn(s, t, dst, vc);
    t.payload = server_bytes(s);
    t.payload_response = true;
    const Dir& d = s->dir[kServer];
    t.payload_final = r_.now_ms() >= s->rsp_until || d.q.bytes >= hold_cap() || s->side[kServer].has(net::kSideEof);
    rules::StickCtx sc;
    t.stick = w_.stick_ctx(sc, &s->trk, false);
    if (t.stick) t.stick->backend = true;
    switch (rules::run_tcp_rules(be.tcp_rsp_rules, be.http.acls, t, nullptr, true)) {
        case rules::TcpVerdict::Wait:
            schedule_idle(s);  // (its deadline includes the delay's end)
            return;
        case rules::TcpVerdict::Reject: {
            // HAProxy's denied response: nothing reaches the client, both sides close
            st_.fe[s->fe].dresp.inc();
            st_.be[s->be].dresp.inc();
            if (s->server >= 0) lbs_[std::size_t(s->be)]->server(s->server).c->dresp.inc();
            close_session(s);
            return;
        }
        case rules::TcpVerdict::Close:
            // what came goes to the client, then the session ends; later bytes of the server are dropped
            s->rsp_inspect = false;
            s->rsp_close = true;
            if (d.q.empty()) {
                close_session(s);
                return;
            }
            try_send(s, kServer);
            return;
        case rules::TcpVerdict::Accept:
            s->rsp_inspect = false;
            if (!d.q.empty()) {
                try_send(s, kServer);
            } else if (s->side[kServer].has(net::kSideEof)) {
                shutdown_side(s, kClient);
            }
            maybe_rearm(s, kServer);
            schedule_idle(s);
            return;
    }
}

// What the server sent so far, as one view: its one buffer in place, several copied (up to a buffer's worth).
std::string_view TcpProxy::server_bytes(const Session* s) const {
    const Dir& d = s->dir[kServer];
    if (d.q.empty()) return {};
    iovec v[kMaxIov];
    std::uint32_t total = 0;
    const int n = bufs_->fill_iov(d.q, v, kMaxIov, total);
    if (n == 1) return {static_cast<const char*>(v[0].iov_base), v[0].iov_len};
    thread_local std::string joined;
    joined.clear();
    for (int i = 0; i < n && joined.size() < hold_cap(); ++i)
        joined.append(static_cast<const char*>(v[i].iov_base), std::min<std::size_t>(v[i].iov_len, hold_cap() - joined.size()));
    return joined;
}

// use_backend rules in order on what is held (HAProxy evaluates them once, as final), else
// default_backend.
void TcpProxy::route(Session* s) {
    const auto& fe = cfg_.frontends[s->fe];
    rules::Txn t;
    sockaddr_storage dst;
    rules::VarCtx vc;
    session_txn(s, t, dst, vc);
    t.payload_final = true;
    assign_backend(s, rules::select_backend(fe, t));
}

// What the rules of a session read: its addresses, the listener's port, its TLS facts and what it
// holds of the client's first bytes, its variables. `dst` is where the carried destination is
// copied; `vc` must live as long as `t`.
void TcpProxy::session_txn(Session* s, rules::Txn& t, sockaddr_storage& dst, rules::VarCtx& vc) {
    t.cfg = &cfg_;
    t.src = s->peer.ss_family != AF_UNSPEC ? &s->peer : nullptr;
    t.dst_port = s->dst_port;
    if (s->pp && s->pp->has_dst) [[unlikely]] {
        s->pp->dst.get(dst);
        t.dst = &dst;
    }
    t.payload = held_bytes(s);
    t.proto_memo = &s->proto_memo;
    if (s->tls) t.tls = &s->tls->facts();
    t.vars = w_.var_ctx(vc, &s->vars);
    t.servers = w_.servers();
    arena_.reset();  // (a variable's value, an expression's: a key with converters, an ACL's sample)
    t.arena = &arena_;
}

// What the rules read: the hold, or the first received buffer itself while it is the only one (a
// hello that came in one segment is judged in place, without a copy).
std::string_view TcpProxy::held_bytes(const Session* s) const {
    if (s->held) return {s->held->data, s->held->len};
    if (s->tls) {  // TLS: the first block of plaintext (tcp_tls.cpp), up to the hold's size
        const net::SendQueue& q = s->tq[kServer];
        if (q.n == 0) return {};
        const net::Seg& sg = q.blk->seg[q.first];
        return {sg.p, std::min(sg.len, hold_cap())};
    }
    const Dir& d = s->dir[kClient];
    if (d.q.empty()) return {};
    iovec v{};
    std::uint32_t total = 0;
    bufs_->fill_iov(d.q, &v, 1, total);
    return {static_cast<const char*>(v.iov_base), v.iov_len};
}

// Copies a received buffer into the hold and gives it back to the ring. Bytes beyond the hold's
// room stay queued (dir q) behind it. False when no hold could be allocated (the buffer is still
// the caller's).
bool TcpProxy::hold(Session* s, std::uint16_t bid, std::uint32_t n) {
    if (!s->held) {
        s->held = holds_.make();
        if (!s->held) return false;
        s->held->len = 0;
        s->held->off = 0;
    }
    net::Block& b = *s->held;
    const std::uint32_t room = hold_cap() - b.len;
    const std::uint32_t take = std::min(room, n);
    std::memcpy(b.data + b.len, bufs_->data(bid), take);
    b.len += take;
    if (take == n) {
        bufs_->recycle(bid);
    } else {
        Dir& d = s->dir[kClient];
        bufs_->push(d.q, bid, n);
        bufs_->consume(d.q, take);
    }
    return true;
}

// A client receive completion before the server is connected: while inspecting, bytes join the
// hold and the rules run again; after the decision (connecting, queued, retrying) they are queued as
// an established session would queue them, until the high water mark stops the receive.
void TcpProxy::on_early_recv(Session* s, const shard::Cqe& e, bool more) {
    Side& sd = s->side[kClient];
    Dir& d = s->dir[kClient];
    if (e.res > 0 && (e.flags & IORING_CQE_F_BUFFER)) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        const auto n = std::uint32_t(e.res);
        d.moved += n;
        s->last_ms[kClient] = r_.now_ms();
        st_.shard.copy_bytes.add(n);
        if (s->state != SessState::Inspecting) {
            bufs_->push(d.q, bid, n);
            if (d.q.bytes >= kEarlyHighWaterBufs * bufs_->size()) cancel_recv(s, kClient);
            return;
        }
        if (!more) arm_recv(s, kClient);
        if (!s->held && d.q.empty()) {
            // the first bytes: judged in place; most hellos come whole in one segment and go on to
            // the server in this very buffer
            bufs_->push(d.q, bid, n);
            inspect(s);
            if (s->state != SessState::Inspecting || s->held || d.q.empty()) return;
            // still waiting: the bytes move to a hold so that a client dripping its hello holds
            // no ring buffer
            const std::uint16_t first = bufs_->pop(d.q);
            if (!hold(s, first, n)) {  // no memory for the hold: the client cannot be served
                bufs_->recycle(first);
                st_.fe[s->fe].ereq.inc();
                close_session(s);
            }
            return;
        }
        if (d.q.empty()) {  // (the hold exists here: the first bytes went to it above)
            if (!hold(s, bid, n)) {
                bufs_->recycle(bid);
                st_.fe[s->fe].ereq.inc();
                close_session(s);
                return;
            }
        } else {
            bufs_->push(d.q, bid, n);  // the hold is full: the rest waits behind it
        }
        inspect(s);
        return;
    }
    if (e.res == 0) {  // the client shut its side: nothing more will come, decide now
        sd.set(net::kSideEof);
        s->last_ms[kClient] = r_.now_ms();
        if (s->state == SessState::Inspecting) inspect(s);
        return;
    }
    if (e.res == -ENOBUFS) {
        st_.shard.enobufs.inc();
        if (s->state == SessState::Inspecting) starve(s, kClient);
        return;  // after the decision: established() arms the receive again
    }
    if (e.res == -ECANCELED) return;  // the high water mark while connecting: established() re-arms
    read_failed(s, kClient);
}

// The server is connected: the held bytes go first, in one send of their own; what arrived while
// connecting follows from the queue (try_send, once the held send completed).
void TcpProxy::early_established(Session* s) {
    Dir& d = s->dir[kClient];
    const std::uint32_t early = (s->held ? s->held->len : 0) + d.q.bytes;
    if (early > 0) count_bytes(s, kClient, early);
    if (s->held && s->held->len > 0) {
        send_held(s);
    } else {
        if (s->held) {
            holds_.destroy(s->held);
            s->held = nullptr;
        }
        try_send(s, kClient);
    }
    maybe_rearm(s, kClient);
    if (s->side[kClient].has(net::kSideEof) && !d.send_inflight && d.q.empty()) shutdown_side(s, kServer);
}

void TcpProxy::send_held(Session* s) {
    Dir& d = s->dir[kClient];
    net::Block& b = *s->held;
    d.iov[0].iov_base = b.data + b.off;
    d.iov[0].iov_len = b.len - b.off;
    d.msg = msghdr{};
    d.msg.msg_iov = d.iov;
    d.msg.msg_iovlen = 1;
    d.send_len = b.len - b.off;
    s->pending_ops += io_.sendmsg(s->side[kServer], &d.msg, MSG_WAITALL, ud(kOpSend1, s));
    d.send_inflight = true;
}

void TcpProxy::on_held_sent(Session* s, int res) {
    Dir& d = s->dir[kClient];
    if (s->state != SessState::Established) {
        bufs_->drop(d.q);
        maybe_release(s);  // the hold is freed with the session
        return;
    }
    if (res <= 0 && d.send_len > 0) {  // -EPIPE, -ECONNRESET: the server is gone
        count_abort(s, kServer);
        close_session(s);
        return;
    }
    net::Block& b = *s->held;
    b.off += std::uint32_t(res);
    s->last_ms[kServer] = r_.now_ms();
    if (b.off < b.len) {
        st_.shard.short_sends.inc();
        send_held(s);
        return;
    }
    holds_.destroy(s->held);
    s->held = nullptr;
    if (!d.q.empty()) {
        try_send(s, kClient);
    } else if (s->side[kClient].has(net::kSideEof)) {
        shutdown_side(s, kServer);
    } else if (d.mode == Dir::Switching) {
        maybe_start_splice(s, kClient);
    }
    maybe_rearm(s, kClient);
}

}  // namespace es::proxy
