// Worker, HTTP/1.1: a session's deadline (which timeout runs, and from when), its timer, and
// closing a session. See http.cpp for the whole path.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/shard/uring_compat.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "http_internal.hpp"

namespace es::proxy {

using shard::UserData;
using namespace h1;

// ---------------------------------------------------------------- timers and close

// One deadline per session, by phase (HAProxy semantics):
//  - waiting for a request head: `timeout http-request` from its first byte; before any byte of
//    a later request, `timeout http-keep-alive` (else http-request) from the end of the previous
//    one; either falls back to `timeout client`
//  - queued: `timeout queue` (else connect)
//  - tunnel: `timeout tunnel` (else client/server) on silence of both sides
//  - lingering close: one second
//  - waiting for a statistics page from the control shard: kPageWaitMs from the request head
//  - otherwise each side's timeout counts that side's inactivity only while the side is expected
//    to act: `timeout client` while the client should send (a request body we are reading, not
//    paused by our own backpressure, not waiting for a 100 Continue) or acknowledge (bytes queued
//    for it); `timeout server` likewise while a response is awaited or read, or request bytes are
//    queued for it. A client waiting for a slow server, or a server held back because the client
//    reads slowly, is not idle. `last_cli` / `last_srv` move on every byte received or sent, and
//    when a send starts on an idle queue (so a queue filled after a long wait gets a full period).
// inlined into both callers: it runs after every completion of a session (h_schedule_now)
[[gnu::always_inline]] inline std::int64_t H1Proxy::h_deadline(const H1Conn* s, int* why) const {
    const auto& ft = cfg_.frontends[s->fe].timeouts;
    // the backend's timeouts are looked up only where a branch needs them (most calls do not)
    auto backend_timeouts = [&]() -> const config::Timeouts* {
        return s->be >= 0 ? &cfg_.backends[std::size_t(s->be)].timeouts : nullptr;
    };
    if (s->page) {
        *why = 8;
        return s->st->t_head + kPageWaitMs;
    }
    if (s->cli.has(net::kSideShut)) {
        *why = 0;
        return s->last_cli + (ft.client_fin > 0 ? std::min<std::int64_t>(ft.client_fin, kLingerMs) : kLingerMs);
    }
    const H1Stream* const x = s->st;  // none: between exchanges
    if (x && x->has(kH1SQueued)) {
        *why = 3;
        const config::Timeouts* bt = backend_timeouts();
        const config::Millis q = first_of(bt->queue, bt->connect, 5000);
        return x->t_queue + q;
    }
    if (x && x->req == ReqPhase::Tunnel) {
        *why = 4;
        const config::Timeouts* bt = backend_timeouts();
        const config::Millis t = bt ? first_of(bt->tunnel, ft.client, bt->server) : pos(ft.client);
        if (!s->cli.has(net::kSideEof) && !(s->conn && s->conn->sock.has(net::kSideEof))) return t > 0 ? std::max(s->last_cli, x->last_srv) + t : -1;
        // one direction is shut: the -fin timeouts, where set, bound each side, and a side that
        // sent its FIN is timed only while it has bytes to acknowledge
        const H1SrvConn* c = s->conn;
        const bool cli_on = !s->cli.has(net::kSideEof) || s->out.n > 0;
        const bool srv_on = c && (!c->sock.has(net::kSideEof) || c->out.n > 0);
        const config::Millis tc = cli_on ? first_of(ft.client_fin, t) : 0;
        const config::Millis ts = bt && srv_on ? first_of(bt->server_fin, t) : 0;
        std::int64_t d = tc > 0 ? s->last_cli + tc : -1;
        if (ts > 0 && (d < 0 || x->last_srv + ts < d)) {
            d = x->last_srv + ts;
            *why = 7;  // the server side's
        }
        return d;
    }
    if (!x && s->out.n == 0) {  // waiting for a request head
        if (s->tls && !s->tls->established()) [[unlikely]] {
            // the TLS handshake: `timeout client` from the accept, as HAProxy 2.6 bounds it
            *why = 9;
            const config::Millis t = first_of(ft.client, ft.http_request);
            return t > 0 ? s->t_req + t : -1;
        }
        const bool started = !s->in.empty() || (s->req_acc && s->req_acc->len > s->req_acc->off);
        *why = started ? 1 : 2;
        config::Millis t;
        if (!started && s->nreq > 0) t = first_of(ft.http_keep_alive, ft.http_request, ft.client);
        else t = first_of(ft.http_request, ft.client);
        return t > 0 ? s->t_req + t : -1;
    }
    std::int64_t d = -1;
    *why = 5;
    // a client that half-closed after its request only acknowledges: `timeout client-fin` if set
    const config::Millis tc = s->cli.has(net::kSideEof) ? first_of(ft.client_fin, ft.client) : pos(ft.client);
    const bool cli_sends = x && x->req == ReqPhase::Body && (s->cli.has(net::kSideRecv) || s->cli.has(net::kSideStarved)) && !x->has(kH1SExpect);
    const bool cli_acks = s->out.n > 0 || s->cli.has(net::kSidePollOut);
    if (tc > 0 && (cli_sends || cli_acks)) d = s->last_cli + tc;
    const H1SrvConn* c = s->conn;
    if (c && c->state == H1SrvConn::Ready && x && x->rsp != RspPhase::None && s->be >= 0) {
        const config::Timeouts* bt = backend_timeouts();
        const bool srv_sends = x->rsp == RspPhase::Head ||
                               (x->rsp == RspPhase::Body && (c->sock.has(net::kSideRecv) || c->sock.has(net::kSideStarved) || c->sock.has(net::kSidePollIn) ||
                                                             c->splice == H1SrvConn::Switching));
        const bool srv_acks = c->out.n > 0;
        const config::Millis ts = pos(bt->server);
        if (ts > 0 && (srv_sends || srv_acks) && (d < 0 || x->last_srv + ts < d)) {
            d = x->last_srv + ts;
            *why = 6;
        }
    }
    return d;
}

void H1Proxy::h_schedule_now(H1Conn* s) {
    if (s->state != HState::Active) return;
    if (s->timer.kind == kHTimerRetry && s->timer.armed()) return;
    int why = 0;
    const std::int64_t d = h_deadline(s, &why);
    s->timer.kind = kHTimerClient;
    if (d < 0) {
        r_.timers().cancel(&s->timer);
        return;
    }
    if (!s->timer.armed() || s->timer.when_ms > d) r_.timers().schedule(&s->timer, d);
}

void H1Proxy::h_on_timer(shard::Timer* t) {
    if (t->kind == kHTimerConnIdle) {
        H1SrvConn* c = static_cast<H1SrvConn*>(t->owner);
        if (c->state == H1SrvConn::Idle) c_close(c);
        return;
    }
    H1Conn* s = static_cast<H1Conn*>(t->owner);
    if (s->state != HState::Active) return;
    if (t->kind == kHTimerRetry) {
        const int srvi = s->st->retry_server;
        s->timer.kind = kHTimerClient;
        const ServerSlot& slot = lbs_[std::size_t(s->be)]->server(srvi);
        // back to the server that failed, unless it was put in drain or maintenance meanwhile
        if (slot.retryable(cfg_.backends[std::size_t(s->be)].redispatch) && slot.has_room()) h_use_server(s, srvi);
        else h_assign_server(s, -1);
        return;
    }
    int why = 0;
    const std::int64_t d = h_deadline(s, &why);
    if (d < 0) return;
    if (r_.now_ms() < d) {
        r_.timers().schedule(&s->timer, d);
        return;
    }
    switch (why) {
        case 8:  // no statistics page from the control shard in time: unavailable
            pages_.remove(s->page);
            s->page = 0;
            st_.shard.page_timeouts.inc();
            h_local_reply(s, 503, h_error(s, 503));
            return;
        case 0:  // lingering close over
            h_close(s);
            return;
        case 1:  // a request head that did not complete in time
            h_reply_error(s, 408, "timeout http-request");
            return;
        case 2:  // idle keep-alive connection
            h_close(s);
            return;
        case 9:  // a TLS handshake that did not complete in time: a failed one
            st_.shard.ssl_failures.inc();
            h_close(s);
            return;
        case 3: {  // no server slot in time
            auto& q = hqueues_[std::size_t(s->be)];
            q.erase(std::remove(q.begin(), q.end(), s), q.end());
            s->st->clear(kH1SQueued);
            st_.be[s->be].qcur.dec();
            s->st->term[0] = 's';
            s->st->term[1] = 'Q';
            h_local_reply(s, 503, h_error(s, 503));
            return;
        }
        case 4:  // a tunnel idle too long (or its half-closed client side)
        case 7:  // the server side of a half-closed tunnel (`timeout server-fin`)
            s->st->term[0] = why == 7 ? 's' : 'c';
            s->st->term[1] = 'D';
            h_close(s);
            return;
        case 6:  // server silent
            if (h_replay(s, s->conn, kRetryTimeout)) return;
            s->st->term[0] = 's';
            if (s->rsp_phase() == RspPhase::Head && s->st->status == 0) {
                s->st->term[1] = 'H';
                observe(s->be, s->st->server, shard::Observed::ReadTimeout);
                h_abort_reply(s, 504);
                return;
            }
            s->st->term[1] = 'D';
            st_.be[s->be].srv_abrt.inc();
            if (s->st->server >= 0) lbs_[std::size_t(s->be)]->server(s->st->server).c->srv_abrt.inc();
            h_log(s);
            h_close(s);
            return;
        default: {  // the client did not send or acknowledge in time
            st_.fe[s->fe].cli_abrt.inc();
            H1Stream* const x = s->st;
            if (!x) {  // between exchanges, a response still unacknowledged: nothing left to log
                h_close(s);
                return;
            }
            x->term[0] = 'c';
            x->term[1] = 'D';
            if (x->req == ReqPhase::Body && x->status == 0 && s->out.n == 0) {
                // stalled inside its request body, nothing of a response sent yet: say so (408)
                // rather than close without a word; the server connection is not reusable
                if (s->be >= 0) st_.be[s->be].cli_abrt.inc();
                s->set(kH1Linger);
                bufs_->drop(s->in);
                if (s->req_acc) {
                    sendq_.blocks.destroy(s->req_acc);
                    s->req_acc = nullptr;
                }
                x->req = ReqPhase::Done;
                h_abort_reply(s, 408);
                return;
            }
            if (!x->has(kH1SLogged)) h_log(s);  // an exchange logged at its end is not logged twice
            h_close(s);
            return;
        }
    }
}

// The exchange ends with the proxy's own error reply although its request went (at least in
// part) to a server: that connection is not reusable, and the client's closes after the reply.
void H1Proxy::h_abort_reply(H1Conn* s, int status) {
    if (s->conn) {
        c_release(s->conn, false);
        s->conn = nullptr;
    }
    s->st->rsp = RspPhase::None;
    s->st->set(kH1SReplied);
    s->set(kH1CloseAfter);
    if (!h_queue_final(s, h_after_reply(s, h_error(s, status)), status, true)) return;
    h_request_done(s, true);
}

void H1Proxy::h_close(H1Conn* s) {
    if (s->state == HState::Closing) return;
    if (s->req_phase() == ReqPhase::Tunnel && !s->st->has(kH1SLogged)) h_log(s);  // a tunnel is logged when it ends
    s->state = HState::Closing;
    r_.timers().cancel(&s->timer);
    if (s->page) {
        pages_.remove(s->page);  // its answer, when it comes, is deleted (h_page_answer)
        s->page = 0;
    }
    if (s->st && s->st->has(kH1SQueued)) {
        auto& q = hqueues_[std::size_t(s->be)];
        q.erase(std::remove(q.begin(), q.end(), s), q.end());
        s->st->clear(kH1SQueued);
        st_.be[s->be].qcur.dec();
    }
    if (s->conn) {
        H1SrvConn* c = s->conn;
        s->conn = nullptr;
        c_release(c, false);
    }
    s->pending_ops += io_.close(s->cli, hud(kHOpCliCancel, s), hud(kHOpCliClose, s));
    bufs_->drop(s->in);
    if (!s->out.inflight) sendq_.drop(s->out);
    if (s->has(kH1Pending)) {
        hpending_.erase(std::remove(hpending_.begin(), hpending_.end(), s), hpending_.end());
        --w_.fe_pending_[s->fe];
        s->clear(kH1Pending);
    }
    h_drop_replay(s);
    h_drop_notes(s);
    // the stream itself stays until the connection is freed (completions may still name it)
    for (HeadBuf** h : {&s->req_acc, s->st ? &s->st->rsp_acc : nullptr, s->st ? &s->st->pend_head : nullptr}) {
        if (h && *h) {
            sendq_.blocks.destroy(*h);
            *h = nullptr;
        }
    }
    if (s->has(kH1CountedBe)) {
        st_.be[s->be].scur.dec();
        s->clear(kH1CountedBe);
    }
    if (s->has(kH1CountedConn)) {
        s->clear(kH1CountedConn);
        w_.conn_ended(s->fe);
    }
    h_maybe_release(s);
}

void H1Proxy::h_maybe_release(H1Conn* s) {
    if (s->state != HState::Closing || s->pending_ops != 0 || s->has(kH1Released)) return;
    s->set(kH1Released);
    s->all_node.unlink();
    --w_.live_;
    hreleased_.push_back(s);
}

void H1Proxy::h_op_done(H1Conn* s) {
    --s->pending_ops;
    ES_ASSERT(s->pending_ops >= 0);
    h_maybe_release(s);
}

void H1Proxy::c_op_done(H1SrvConn* c) {
    --c->pending_ops;
    ES_ASSERT(c->pending_ops >= 0);
    c_maybe_release(c);
}

}  // namespace es::proxy
