// Worker, HTTP/1.1: server connections (connect, send, receive, replay and retries after a
// failure). See http.cpp for the whole path.
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

// ---------------------------------------------------------------- server choice

PickInput H1Proxy::h_pick_input(const H1Conn* s, sockaddr_storage& src) const {
    PickInput in;
    s->peer.get(src);
    in.src = &src;
    if (const HttpNotes* nt = s->st->notes) {
        const std::string_view key(nt->lb_key, nt->lb_key_len);
        in.uri = key;
        in.hdr = key;
        in.has_hdr = nt->lb_has_hdr;
    }
    return in;
}

void H1Proxy::h_assign_server(H1Conn* s, int exclude) {
    BackendLb& lb = *lbs_[std::size_t(s->be)];
    sockaddr_storage src;
    int i = s->st->ck_srv >= 0 ? h_persist_pick(s, exclude) : BackendLb::kNone;
    if (i == BackendLb::kNone && s->st->stick_srv >= 0) [[unlikely]] {  // stick match / stick on
        if (s->st->stick_srv == exclude) s->st->stick_srv = -1;
        else i = lb.server(s->st->stick_srv).has_room() ? s->st->stick_srv : BackendLb::kFull;
    }
    if (i == BackendLb::kNone) i = lb.pick(h_pick_input(s, src), exclude);
    if (i == BackendLb::kNone) {
        st_.be[s->be].econ.inc();
        s->st->term[0] = 'S';  // HAProxy 2.6 logs SC for "no server available" (seen on 2.6.12)
        s->st->term[1] = 'C';
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    if (i == BackendLb::kFull) {
        s->st->set(kH1SQueued);
        s->st->t_queue = r_.now_ms();
        hqueues_[std::size_t(s->be)].push_back(s);
        auto& bc = st_.be[s->be];
        bc.qcur.inc();
        bc.qmax.update(bc.qcur.get());
        h_schedule(s);
        return;
    }
    h_use_server(s, i);
}

// Takes a server connection for the current request: the session's own (http-reuse never), an
// idle one from the pool (not for the first request of a session under http-reuse safe), or a
// new one.
void H1Proxy::h_use_server(H1Conn* s, int i) {
    BackendLb& lb = *lbs_[std::size_t(s->be)];
    ServerSlot& srv = lb.server(i);
    const auto& bcfg = cfg_.backends[std::size_t(s->be)];
    s->st->server = i;
    s->st->last_srv = r_.now_ms();  // `timeout server` counts from here
    if (s->trk && s->trk->store[0].e) [[unlikely]] w_.stick_commit(s->trk, std::uint32_t(s->be), i);
    ++srv.cur;
    srv.c->inflight.inc();
    // a server's sessions are the requests it is serving (HAProxy counts streams, not connections)
    srv.c->stot.inc();
    srv.c->last_sess_ms.update(r_.now_ms());
    srv.c->scur.inc();
    srv.c->smax.update(srv.c->scur.get());
    srv.c->lbtot.inc();
    srv.c->req_tot.inc();
    st_.be[s->be].lbtot.inc();
    if (s->st->t_queue >= 0) {
        const std::int64_t q = r_.now_ms() - s->st->t_queue;
        stats::BackendCounters& bc = st_.be[s->be];
        stats::add_sample(bc.qtime_sum, bc.qtime_n, bc.qtime_max, q);
        stats::add_sample(srv.c->qtime_sum, srv.c->qtime_n, srv.c->qtime_max, q);
    }
    H1SrvConn* c = nullptr;
    if (s->conn) {
        H1SrvConn* own = s->conn;
        if (own->priv_owner == s && own->server == i && own->be == s->be && own->state == H1SrvConn::Idle) {
            c = own;  // http-reuse never: this client connection's own server connection
            c->priv_owner = nullptr;
            c->state = H1SrvConn::Ready;
            r_.timers().cancel(&c->timer);
        } else if (own->priv_owner == s) {
            c_close(own);  // private to this client, but another server was picked
        } else {
            s->conn = nullptr;
            c_release(own, false);
        }
        s->conn = nullptr;
    }
    const bool may_share = !s->st->has(kH1SForceNew) && !srv.cfg->send_proxy && (bcfg.http_reuse == config::HttpReuse::Always ||
                                             bcfg.http_reuse == config::HttpReuse::Aggressive ||
                                             (bcfg.http_reuse == config::HttpReuse::Safe && !s->has(kH1FirstReq)));
    s->st->clear(kH1SForceNew);
    if (!c && may_share) {
        core::ListNode& head = idle_[std::size_t(s->be)][std::size_t(i)];
        core::ListNode* n = head.linked() ? head.next : nullptr;  // most recently used first
        if (n && w_.tls_->upstream(s->be, i)) [[unlikely]] {
            // TLS with a per-request SNI: only a connection that sent the same name serves it
            const auto& t = *bcfg.servers[std::size_t(i)].tls;
            if (t.sni == config::ServerTlsOptions::Sni::Hdr || t.sni == config::ServerTlsOptions::Sni::FcSni) {
                char buf[256];
                const std::string_view want = c_tls_sni(s, t, s->st->pend_head, buf, sizeof buf);
                const std::uint32_t h = want.empty() ? 0 : tls_name_hash(want);
                while (n != &head &&
                       reinterpret_cast<H1SrvConn*>(reinterpret_cast<char*>(n) - offsetof(H1SrvConn, idle_node))->sni_hash != h)
                    n = n->next;
                if (n == &head) n = nullptr;
            }
        }
        if (n && srv.cfg->port_map) [[unlikely]] {
            // a server without a port: only a connection to this client's port serves it
            const std::uint16_t want = h_mapped_port(s, *srv.cfg);
            while (n != &head &&
                   reinterpret_cast<H1SrvConn*>(reinterpret_cast<char*>(n) - offsetof(H1SrvConn, idle_node))->dport != want)
                n = n->next;
            if (n == &head) n = nullptr;
        }
        if (n) {
            c = reinterpret_cast<H1SrvConn*>(reinterpret_cast<char*>(n) - offsetof(H1SrvConn, idle_node));
            n->unlink();
            r_.timers().cancel(&c->timer);
            srv.c->idle_conn_cur.dec();
            c->state = H1SrvConn::Ready;
        }
    }
    s->clear(kH1FirstReq);
    if (c) {
        c->owner = s;
        c->set(kC1Reused);
        // a pooled connection may have been closed by the server just now: keep a bodiless
        // request's head so it can be sent again on a new connection (h_replay)
        h_keep_for_replay(s, true);
        s->conn = c;
        srv.c->reuse.inc();
        st_.be[s->be].reuse.inc();
        s->st->t_connect = s->st->t_connected = r_.now_ms();
        h_attach_ready(s);
        return;
    }
    c = hconns_.make();
    if (!c) {
        --srv.cur;
        srv.c->inflight.dec();
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    c->gen = ++w_.gen_;
    c->be = s->be;
    c->server = i;
    c->owner = s;
    c->timer.owner = c;
    c->timer.kind = kHTimerConnIdle;
    ++hconns_live_;
    if (w_.tls_->upstream(s->be, i) && !c_tls_start(c, s, s->st->pend_head)) [[unlikely]] {
        --hconns_live_;
        hconns_.destroy(c);
        --srv.cur;
        srv.c->inflight.dec();
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    s->conn = c;
    s->st->t_connect = r_.now_ms();
    srv.c->connect.inc();
    st_.be[s->be].connect.inc();
    // the head (and any body that follows) queue on the connection while it connects
    h_keep_for_replay(s, false);
    if (srv.cfg->send_proxy) [[unlikely]] {
        // the PROXY header goes first, in clear (before a TLS server's ClientHello: counted as sealed)
        sockaddr_storage src;
        s->peer.get(src);
        std::string* h = w_.pp_header(*srv.cfg, &src, s->pp, s->tls ? &s->tls->facts() : nullptr);
        sendq_.push(c->out, Seg{h->data(), std::uint32_t(h->size()), net::BufRing::kNone, nullptr, h});
        if (c->tls) c->tls_sealed = 1;
    }
    if (s->st->pend_head) {
        sendq_.push(c->out, Seg{s->st->pend_head->data, s->st->pend_head->len, net::BufRing::kNone, s->st->pend_head});
        s->st->pend_head = nullptr;
    }
    h_process_request(s);
    c_connect(c);
}

// The port a server without one is reached on for this client: the port it connected to (a
// PROXY header's destination port), plus the server's offset, modulo 2^16 as HAProxy's.
std::uint16_t H1Proxy::h_mapped_port(const H1Conn* s, const config::Server& sv) const {
    int p = 0;
    if (s->pp && s->pp->has_dst) {
        sockaddr_storage d;
        s->pp->dst.get(d);
        p = rules::addr_port(&d);
    }
    return std::uint16_t(p + sv.port_offset);
}

// A connection ready to carry the current request: queue the head, forward what body is there.
void H1Proxy::h_attach_ready(H1Conn* s) {
    H1SrvConn* c = s->conn;
    if (s->st->pend_head) {
        sendq_.push(c->out, Seg{s->st->pend_head->data, s->st->pend_head->len, net::BufRing::kNone, s->st->pend_head});
        s->st->pend_head = nullptr;
    }
    s->st->last_srv = r_.now_ms();
    // sends once the body bytes already here are queued too (when called while the head is being
    // parsed, the request loop around it sends), so a small request leaves as one segment
    h_process_request(s);
    if (s->state != HState::Active) return;
    c_maybe_rearm(c);
    h_schedule(s);
}

// ---------------------------------------------------------------- server connections

void H1Proxy::c_connect(H1SrvConn* c) {
    const ServerSlot& srv = lbs_[std::size_t(c->be)]->server(c->server);
    c->state = H1SrvConn::Connecting;
    c->pending_ops += io_.socket(srv.addr->family(), cud(kHOpSrvSocket, c));
}

void H1Proxy::c_on_socket(H1SrvConn* c, int res) {
    --c->pending_ops;
    if (c->state == H1SrvConn::Closing) {
        if (res >= 0) c->pending_ops += io_.close_slot(res, cud(kHOpSrvClose, c));
        c_maybe_release(c);
        return;
    }
    if (res < 0) {
        c_connect_failed(c, res);
        return;
    }
    c->sock.slot = res;
    const ServerSlot& srv = lbs_[std::size_t(c->be)]->server(c->server);
    if (srv.cfg->port_map) [[unlikely]] c->dport = c->owner ? h_mapped_port(c->owner, *srv.cfg) : 0;
    const config::SockAddr* dst = Worker::server_dst(srv, c->dport, c->mapped);
    if (!dst) [[unlikely]] {
        c->pending_ops += io_.close_slot(c->sock.slot, cud(kHOpSrvClose, c));
        c->sock.slot = -1;
        c_connect_failed(c, -ENOMEM);
        return;
    }
    c->pending_ops += w_.connect_chain(c->sock, *dst, cfg_.backends[std::size_t(c->be)].timeouts.connect,
                                    c->connect_ts, cud(kHOpSrvSockopt, c), cud(kHOpSrvConnect, c),
                                    cud(kHOpSrvTimeout, c));
}

void H1Proxy::c_on_connect(H1SrvConn* c, int res) {
    --c->pending_ops;
    if (c->state == H1SrvConn::Closing) {
        c_maybe_release(c);
        return;
    }
    if (res != 0) {
        c->pending_ops += io_.close_slot(c->sock.slot, cud(kHOpSrvClose, c));
        c->sock.slot = -1;
        observe(c->be, c->server, shard::Observed::L4Err);
        c_connect_failed(c, res);
        return;
    }
    observe(c->be, c->server, shard::Observed::L4Ok);
    c->state = H1SrvConn::Ready;
    c->set(kC1Established);
    ServerSlot& srv = lbs_[std::size_t(c->be)]->server(c->server);
    c_arm_recv(c);
    H1Conn* s = c->owner;
    if (!s) return;
    if (c->tls && c->tls->handshake() == tls::Conn::Step::Error) [[unlikely]] {  // the ClientHello is queued by c_send
        c_tls_failed(c);
        return;
    }
    s->st->t_connected = r_.now_ms();
    s->st->last_srv = s->st->t_connected;
    const std::int64_t ct = s->st->t_connected - s->st->t_connect;
    stats::BackendCounters& bc = st_.be[s->be];
    stats::add_sample(bc.ctime_sum, bc.ctime_n, bc.ctime_max, ct);
    stats::add_sample(srv.c->ctime_sum, srv.c->ctime_n, srv.c->ctime_max, ct);
    h_process_request(s);
    if (s->state != HState::Active) return;
    c_send(c);
    h_maybe_rearm(s);
    h_schedule(s);
}

// Connect failed (refused, timed out, no socket): HAProxy's retries and redispatch, with the
// request (still unsent, queued on the dead connection) moved to the next attempt.
void H1Proxy::c_connect_failed(H1SrvConn* c, int res) {
    H1Conn* s = c->owner;
    BackendLb& lb = *lbs_[std::size_t(c->be)];
    ServerSlot& srv = lb.server(c->server);
    c->owner = nullptr;
    if (!s) {
        c_close(c);
        return;
    }
    s->conn = nullptr;
    // take the unsent request back
    HeadBuf* head = nullptr;
    const std::uint8_t first = c->out.n > 0 && c->out.at(0).str ? 1 : 0;  // a PROXY header (made again)
    if (c->out.n > first && c->out.at(first).hb && !c->out.inflight) {
        Seg& sg = c->out.at(first);
        head = sg.hb;
        head->len = std::uint32_t(sg.p - head->data) + sg.len;  // untouched: nothing was sent
        sg.hb = nullptr;
    }
    // body buffers already moved to the connection cannot be replayed in order: give up on retrying
    const bool replayable = head && c->out.n == first + 1;
    c_close(c);
    --srv.cur;
    srv.c->inflight.dec();
    srv.c->scur.dec();
    const auto& be = cfg_.backends[std::size_t(s->be)];
    if (s->st->retries_left <= 0 || !replayable) {
        if (head) sendq_.blocks.destroy(head);
        srv.c->econ.inc();
        st_.be[s->be].econ.inc();
        h_server_slot_freed(s->be);
        // the linked timeout cancels the connect: a timeout (s), else refused or failed (S)
        s->st->term[0] = res == -ECANCELED || res == -ETIMEDOUT ? 's' : 'S';
        s->st->term[1] = 'C';
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    s->st->pend_head = head;
    --s->st->retries_left;
    ++s->st->tries;
    srv.c->wretr.inc();
    st_.be[s->be].wretr.inc();
    bool redispatch = false;
    if (be.redispatch) {
        if (be.redispatch_interval < 0) redispatch = s->st->retries_left == -be.redispatch_interval - 1;
        else if (be.redispatch_interval > 0) redispatch = s->st->tries % be.redispatch_interval == 0;
    }
    h_server_slot_freed(s->be);
    const int failed = s->st->server;
    s->st->server = -1;
    if (redispatch) {
        srv.c->wredis.inc();
        st_.be[s->be].wredis.inc();
        h_assign_server(s, failed);
        return;
    }
    s->st->retry_server = failed;
    s->timer.kind = kHTimerRetry;
    const config::Millis ct = be.timeouts.connect;
    const config::Millis wait = (ct > 0 && ct < 1000) ? ct : 1000;
    r_.timers().schedule(&s->timer, r_.now_ms() + wait);
}

void H1Proxy::h_server_slot_freed(int be) {
    auto& q = hqueues_[std::size_t(be)];
    while (!q.empty()) {
        H1Conn* w = q.front();
        BackendLb& lb = *lbs_[std::size_t(be)];
        sockaddr_storage src;
        int i = w->st->ck_srv >= 0 ? h_persist_pick(w, -1) : BackendLb::kNone;
        if (i == BackendLb::kNone) i = lb.pick(h_pick_input(w, src), -1);
        if (i == BackendLb::kFull) return;
        q.erase(q.begin());
        w->st->clear(kH1SQueued);
        st_.be[be].qcur.dec();
        if (i == BackendLb::kNone) {
            h_local_reply(w, 503, h_error(w, 503));
            continue;
        }
        h_use_server(w, i);
        return;
    }
}

void H1Proxy::c_arm_recv(H1SrvConn* c) {
    // a body being spliced reads with splice(2); the recv comes back once it is done
    if (c->splice != H1SrvConn::NoSplice) return;
    // single-shot after a spliced body (one buffer each), see H1SrvConn::big
    const int n = io_.recv(c->sock, cud(kHOpSrvRecv, c), !c->has(kC1Big));
    if (n == 0) return;
    c->pending_ops += n;
    // expected to send from now on: a pause a slow client imposed is not the server's silence
    if (c->owner && c->owner->st) c->owner->st->last_srv = r_.now_ms();
}

void H1Proxy::c_cancel_recv(H1SrvConn* c) {
    c->pending_ops += io_.cancel_recv(c->sock, cud(kHOpSrvRecv, c), cud(kHOpSrvCancel, c));
}

void H1Proxy::c_maybe_rearm(H1SrvConn* c) {
    if (c->state == H1SrvConn::Closing || c->sock.has(net::kSideRecv) || c->state == H1SrvConn::Connecting) return;
    if (c->in.nbufs >= kInBufsMax) return;
    if (c->owner && c->owner->out.bytes >= kHighWaterBufs * bufs_->size()) return;
    if (c->tls && c->tls->buffered_in() >= kTlsInMax) [[unlikely]] return;
    c_arm_recv(c);
}

void H1Proxy::c_send(H1SrvConn* c) {
    if (c->out.broken) {
        if (H1Conn* s = c->owner; s && s->state == HState::Active) {
            if (s->st) s->st->term[0] = 'R';
            h_close(s);  // releases c unreusable
        } else {
            c_close(c);
        }
        return;
    }
    if (c->state != H1SrvConn::Ready) return;
    if (c->owner && c->owner->st && !c->out.inflight && c->out.n > 0) c->owner->st->last_srv = r_.now_ms();
    if (c->tls) [[unlikely]] {
        if (!c->out.inflight) w_.tls_->seal(*c->tls, c->out, c->tls_sealed);  // only records leave
        if (c->out.broken) {
            c_send(c);
            return;
        }
        if (sendq_.send(c->out, c->sock, cud(kHOpSrvSend, c), c->tls_sealed)) ++c->pending_ops;
        return;
    }
    if (sendq_.send(c->out, c->sock, cud(kHOpSrvSend, c))) ++c->pending_ops;
}

void H1Proxy::c_on_send(H1SrvConn* c, int res) {
    --c->pending_ops;
    if (c->state == H1SrvConn::Closing) {
        c->out.inflight = false;
        sendq_.drop(c->out);
        c_maybe_release(c);
        return;
    }
    H1Conn* s = c->owner;
    if (res < 0) {
        c->out.inflight = false;
        if (s) {
            if (h_replay(s, c, kRetryEmpty)) return;
            s->st->term[0] = 'S';
            h_server_failed(s, false);
        } else {
            c_close(c);
        }
        return;
    }
    if (c->tls) [[unlikely]] {
        const std::uint8_t queued = c->out.n;
        if (sendq_.sent(c->out, std::uint32_t(res))) st_.shard.short_sends.inc();
        c->tls_sealed = std::uint8_t(c->tls_sealed - (queued - c->out.n));  // records sent in full
    } else if (sendq_.sent(c->out, std::uint32_t(res))) {
        st_.shard.short_sends.inc();
    }
    if (c->out.n > 0) c_send(c);
    if (!s) return;
    s->st->last_srv = r_.now_ms();
    h_process_request(s);
    if (s->state != HState::Active) return;
    if (s->conn) c_send(s->conn);
    if (s->req_phase() == ReqPhase::Tunnel && s->cli.has(net::kSideEof) && s->conn) {
        h_tunnel_shut_server(s);
        return;
    }
    h_maybe_end_sent(s);
    if (s->state != HState::Active) return;
    h_maybe_rearm(s);
}

void H1Proxy::c_on_recv(H1SrvConn* c, const shard::Cqe& e) {
    const bool more = e.flags & IORING_CQE_F_MORE;
    if (!more) {
        --c->pending_ops;
        c->sock.clear(net::kSideRecv);
        c->sock.clear(net::kSideRecvCancel);
    }
    H1Conn* s = c->owner;
    if (e.res > 0 && (e.flags & IORING_CQE_F_BUFFER)) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        if (c->tls && c->state != H1SrvConn::Closing) [[unlikely]] {
            c_tls_recv(c, bid, std::uint32_t(e.res), more);
            return;
        }
        if (c->state == H1SrvConn::Closing || !s) {
            bufs_->recycle(bid);
            if (c->state == H1SrvConn::Idle) c_close(c);  // bytes on an idle connection: not reusable
            else c_maybe_release(c);
            return;
        }
        const auto n = std::uint32_t(e.res);
        if (e.flags & IORING_CQE_F_SOCK_NONEMPTY) c->sock.set(net::kSideSockNonEmpty);
        else c->sock.clear(net::kSideSockNonEmpty);
        s->st->last_srv = r_.now_ms();
        bufs_->push(c->in, bid, n);
        h_process_response(s);
        if (c->state == H1SrvConn::Closing) return;
        // a body that goes on on the buffer path reads best with a multishot recv
        if (c->has(kC1Big) && s->conn == c && s->rsp_phase() == RspPhase::Body && c->splice == H1SrvConn::NoSplice) c->clear(kC1Big);
        if (c->owner && (c->in.nbufs >= kInBufsMax || c->owner->out.bytes >= kHighWaterBufs * bufs_->size()))
            c_cancel_recv(c);
        else if (!more)
            c_maybe_rearm(c);
        return;
    }
    if (c->state == H1SrvConn::Closing) {
        c_maybe_release(c);
        return;
    }
    if (c->splice == H1SrvConn::Switching && s && !more && (e.res == -ENOBUFS || e.res == -ECANCELED)) {
        h_process_response(s);  // the recv has stopped: the switch to splice goes on
        return;
    }
    if (e.res == -ENOBUFS) {
        st_.shard.enobufs.inc();
        if (!c->sock.has(net::kSideStarved)) {
            c->sock.set(net::kSideStarved);
            ++c->pending_ops;
            cstarved_.push_back(c);
        }
        return;
    }
    if (e.res == -ECANCELED) {
        c_maybe_rearm(c);
        return;
    }
    // EOF or reset
    c->sock.set(net::kSideEof);
    if (!s) {
        c_close(c);  // an idle connection closed by the server
        return;
    }
    if (e.res < 0) {
        c->sock.set(net::kSideReset);
        st_.be[s->be].eresp.inc();
        lbs_[std::size_t(c->be)]->server(c->server).c->eresp.inc();
    }
    if (s->rsp_phase() == RspPhase::Body) {
        // Every byte the server sent before its FIN (or reset) reaches the client first: what is
        // still queued here waits for room on the client side (h_on_cli_send processes the
        // response again), and h_process_response ends the body once the queue is drained.
        h_process_response(s);
        return;
    }
    if (s->rsp_phase() == RspPhase::Tunnel) {
        h_tunnel(s, c->in, s->st->rsp_acc, s->out);
        h_send_client(s);
        if (s->out.n == 0) h_close(s);
        else s->set(kH1CloseAfter);
        return;
    }
    if (s->rsp_phase() == RspPhase::Head && !c->in.empty()) {
        h_process_response(s);  // a response that came with the close
        if (s->state != HState::Active || s->rsp_phase() != RspPhase::Head) return;
    }
    if (h_replay(s, c, kRetryEmpty)) return;
    s->st->term[0] = 'S';
    h_server_failed(s, false);
}

// A reused connection that ends before any byte of the response (the server closed it while it
// sat in the pool, racing our request) gets the request again on a new connection, once, when
// the request had no body: nothing of it can have been processed. HAProxy's answer to this race
// is `http-reuse safe` alone (and l7 retries); this also spares later requests of a connection.
// With `retry-on` (empty-response, junk-response, response-timeout, a status), a bodiless request is
// also sent again on a new connection while `retries` allow, as HAProxy's layer-7 retries do.
bool H1Proxy::h_replay(H1Conn* s, H1SrvConn* c, std::uint32_t why) {
    HeadBuf* hb = s->st->replay;
    if (!hb || !c || s->rsp_phase() != RspPhase::Head || s->st->status != 0) return false;
    if (why == kRetryEmpty && (!c->in.empty() || s->st->rsp_acc)) return false;  // part of a response came
    const bool race = why == kRetryEmpty && c->has(kC1Reused);  // not the server's fault: does not use a retry
    if (!race) {
        if (!(be_retry_[std::size_t(s->be)] & why) || s->st->retries_left <= 0) return false;
        --s->st->retries_left;
    }
    if (s->st->rsp_acc) {
        sendq_.blocks.destroy(s->st->rsp_acc);
        s->st->rsp_acc = nullptr;
    }
    s->st->rsp_scanned = 0;
    const int srvi = s->st->server;
    s->st->replay = nullptr;
    s->conn = nullptr;
    c_release(c, false);  // closes it; its queue lets go of the head
    hb->keep = false;
    if (hb->queued) {
        // still under the send in flight (the server's FIN came before its completion): the send
        // only reads the head, but a block is queued once, so the replay goes with a copy; the
        // closed connection frees the original when its send completes
        HeadBuf* copy = sendq_.new_block();
        if (!copy) return false;
        std::memcpy(copy->data, hb->data, hb->len);
        copy->len = hb->len;
        hb = copy;
    }
    auto* sc = lbs_[std::size_t(s->be)]->server(srvi).c;
    sc->wretr.inc();
    st_.be[s->be].wretr.inc();
    ++s->st->tries;
    s->st->pend_head = hb;
    s->st->set(kH1SForceNew);
    if (!race && cfg_.backends[std::size_t(s->be)].redispatch && lbs_[std::size_t(s->be)]->size() > 1) {
        sc->wredis.inc();
        st_.be[s->be].wredis.inc();
        h_assign_server(s, srvi);
    } else {
        h_use_server(s, srvi);
    }
    return true;
}

// Keeps a bodiless request's head after it is sent when it may have to be sent again: over a
// reused connection (the pool race), or when the backend retries on layer-7 conditions.
void H1Proxy::h_keep_for_replay(H1Conn* s, bool reused) {
    h_drop_replay(s);
    if (s->req_phase() != ReqPhase::Done || !s->st->pend_head) return;
    if (!reused && (be_retry_[std::size_t(s->be)] & ~kRetryConnect) == 0) return;
    s->st->pend_head->keep = true;
    s->st->replay = s->st->pend_head;
}

void H1Proxy::h_free_replay(H1Conn* s) {
    HeadBuf* hb = s->st->replay;
    s->st->replay = nullptr;
    hb->keep = false;
    if (!hb->queued) sendq_.blocks.destroy(hb);
}

// The server closed (or reset) its side while a response body was being forwarded, and every
// byte it sent before is queued for the client. A body delimited by the close is complete (RFC
// 9112 section 6.3); any other body is cut short.
void H1Proxy::h_server_ended_body(H1Conn* s) {
    H1SrvConn* c = s->conn;
    if (s->st->rsp_body == http::BodyKind::UntilClose && !c->sock.has(net::kSideReset)) {
        s->st->rsp = RspPhase::Done;
        s->set(kH1CloseAfter);
        h_send_client(s);
        h_response_done(s);
        return;
    }
    s->st->term[0] = 'S';
    h_server_failed(s, false);
}

// The server side failed mid-exchange: answer 502 if nothing of the response went out yet,
// else cut the client (a truncated response must never look complete): what is already queued
// for it is sent, then the connection is closed without the rest of the message.
void H1Proxy::h_server_failed(H1Conn* s, bool bad_response) {
    if (s->be >= 0 && s->st->server >= 0 && s->rsp_phase() == RspPhase::Head && s->st->status == 0) {
        // observe layer7: no response came (a head that does not parse, a reset, a close)
        observe(s->be, s->st->server,
                bad_response                                        ? shard::Observed::HttpHdrRsp
                : s->conn && s->conn->sock.has(net::kSideReset)     ? shard::Observed::ReadError
                                                                    : shard::Observed::BrokenPipe);
    }
    if (s->be >= 0) {
        st_.be[s->be].srv_abrt.inc();
        if (s->st->server >= 0) {
            auto* sc = lbs_[std::size_t(s->be)]->server(s->st->server).c;
            sc->srv_abrt.inc();
            if (bad_response) sc->eresp.inc();
        }
        if (bad_response) st_.be[s->be].eresp.inc();
    }
    if (s->conn) {
        c_release(s->conn, false);
        s->conn = nullptr;
    }
    if (s->rsp_phase() == RspPhase::Head && s->st->status == 0) {
        s->st->term[1] = 'H';
        if (s->req_acc == nullptr && s->st->rsp_acc) {
            sendq_.blocks.destroy(s->st->rsp_acc);
            s->st->rsp_acc = nullptr;
        }
        s->st->rsp = RspPhase::None;
        s->st->set(kH1SReplied);
        s->set(kH1CloseAfter);
        bufs_->drop(s->in);
        if (!h_queue_final(s, h_after_reply(s, h_error(s, 502)), 502, true)) return;
        h_request_done(s, true);
        return;
    }
    s->st->term[1] = 'D';
    h_log(s);
    h_drop_notes(s);
    s->st->server = -1;
    // the bytes already queued are a valid prefix of the response: send them, then close
    s->set_to(kH1Linger, s->req_phase() != ReqPhase::Done || !s->in.empty() || s->req_acc);
    s->set(kH1CloseAfter);
    s->st->req = ReqPhase::Done;
    s->st->rsp = RspPhase::None;
    h_send_client(s);
    if (s->state != HState::Active) return;
    if (s->out.n == 0) h_linger(s);
    else h_cancel_recv(s);
    h_schedule(s);
}

}  // namespace es::proxy
