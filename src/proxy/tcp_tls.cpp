// TLS on L4 sessions: a TLS bind's client (`bind ... ssl` in a tcp frontend or listen: the records
// are opened and the plaintext relayed) and servers reached over TLS (`server ... ssl` in a tcp
// backend). Each side may have a record layer (tls::Conn: Session::tls for the client, ::stls for the
// server); while one does (kTlsUser), both directions move through Session::tq.
//  - accept on a TLS bind -> Handshake: the client's receive runs the handshake (its flights go out
//    through tq[kClient]), bounded by `timeout client` from the accept. A failed handshake sends its
//    alert and closes, counted and not logged.
//  - then the session is routed as a plain one (tcp_session.cpp, route_new), its content rules and
//    use_backend conditions seeing the TLS facts (ssl_fc_sni...) and the decrypted payload (the
//    first block of tq[kServer], which the rules read like the hold of a plain session).
//  - connected (tls_established): a TLS server gets its record layer and ClientHello; the request's
//    bytes wait unsealed behind the handshake's flights until it completes. A failed server handshake
//    (its certificate did not verify...) ends the session as a connection error.
//  - from a TLS side: each receive's records go into its layer and the provided buffer back to the
//    ring at once; plaintext is pulled into pooled blocks queued on the other side's tq. From a plain
//    side: the received buffers wait on the direction's chain (Dir::q) and join the other side's tq
//    as pieces while it has places. Before a send to a TLS side the pieces become records
//    (TlsIo::seal, sealed as they arrive, also behind a send in flight) and only records leave.
//    Past kHighWaterBufs buffers queued, plaintext waits in the layer; past kTlsInMax of ciphertext
//    the side's receive stops.
//  - ends: a side's FIN or close_notify is forwarded once what it sent before is out: as
//    close_notify then a shutdown to a TLS side, as a shutdown to a plain one.
//  - kernel TLS (`ktls on`, plain server): once established, the session stops the client's receive,
//    sends what is queued both ways, then hands the records to the kernel (tls_ktls_try): the session
//    is a plain one from then on (kTlsKernel), its server -> client direction free to splice into the
//    TLS socket. Unsupported: user space goes on.
//  - never spliced in user space (the kernel would move ciphertext as plaintext).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/proxy/tcp.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/tls/ktls.hpp"

namespace es::proxy {

using shard::UserData;

namespace {
std::uint64_t ud(std::uint8_t op, const Session* s) { return UserData::pack(op, s->gen, s); }

constexpr std::uint32_t kHighWaterBufs = 8;  // as transfer.cpp: queued bytes (in buffers) that stop reading
constexpr std::uint32_t kLowWaterBufs = 2;

// The record layer of `side` while its records are made in user space, else null (in clear, or
// the kernel's).
tls::Conn* layer(const Session* s, int side) {
    if (side == kServer) return s->stls;
    return (s->tlsf & kTlsKernel) ? nullptr : s->tls;
}
}  // namespace

void TcpProxy::tls_recv(Session* s, int side, const shard::Cqe& e, bool more) {
    Side& sd = s->side[side];
    const int other = 1 - side;
    if (e.res > 0 && (e.flags & IORING_CQE_F_BUFFER)) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        const auto n = std::uint32_t(e.res);
        if (s->state == SessState::Closing) {
            bufs_->recycle(bid);
            maybe_release(s);
            return;
        }
        s->last_ms[side] = r_.now_ms();
        st_.shard.copy_bytes.add(n);
        tls::Conn* lp = layer(s, side);
        if (!lp) {
            // a plain side: its buffers wait on the direction's chain, queued for the other side
            // (and sealed, if that side is TLS) by tls_send
            s->dir[side].moved += n;
            count_bytes(s, side, n);
            bufs_->push(s->dir[side].q, bid, n);
            tls_send(s, other);
            if (s->state == SessState::Closing) return;
            if (s->tq[other].bytes >= kHighWaterBufs * bufs_->size() || !s->dir[side].q.empty())
                cancel_recv(s, side);
            else if (!more)
                tls_maybe_rearm(s, side);
            return;
        }
        tls::Conn& t = *lp;
        const LentBuffer lent(t, *bufs_, bid, n);  // read in place: a fresh completion starts at the buffer's start
        if (!t.established()) {
            const tls::Conn::Step step = t.handshake();
            if (step == tls::Conn::Step::Error) {
                if (side == kServer) {
                    tls_server_failed(s);
                    return;
                }
                // the alert (if any) goes out, then the session closes
                st_.shard.ssl_failures.inc();
                s->tlsf |= kTlsFailed;
                tls_send(s, kClient);
                if (s->state != SessState::Closing && !s->tq[kClient].inflight) close_session(s);
                else if (sd.has(net::kSideRecv)) cancel_recv(s, kClient);
                return;
            }
            tls_send(s, side);  // the handshake's next flight
            if (s->state == SessState::Closing) return;
            if (step == tls::Conn::Step::More) {
                if (!more) tls_maybe_rearm(s, side);
                return;
            }
            if (side == kClient) {
                tls_handshake_done(s);
                if (s->state == SessState::Closing) return;
            } else {
                st_.shard.ssl_srv_handshakes.inc();
                if (t.resumed()) st_.shard.ssl_srv_resumed.inc();
                tls_send(s, kServer);  // what the client sent meanwhile, sealed now
                if (s->state == SessState::Closing) return;
                if (s->side[kClient].has(net::kSideEof)) tls_side_ended(s, kClient);  // it waited for the handshake
                if (s->state == SessState::Closing) return;
            }
        }
        tls_pull(s, side);
        if (s->state == SessState::Closing || !tls_layer_state(s, side)) return;
        if (s->state == SessState::Inspecting) {
            inspect(s);  // more plaintext for the content rules
            if (s->state == SessState::Closing) return;
        }
        if (s->state == SessState::Established) tls_send(s, other);  // what came before an end goes first
        if (s->state == SessState::Closing) return;
        if (sd.has(net::kSideEof)) {  // close_notify
            tls_side_ended(s, side);
            return;
        }
        if (side == kClient && s->state == SessState::Established && (s->tlsf & kTlsWait)) {
            // kernel TLS: no receive may bring records the kernel would not count
            if (sd.has(net::kSideRecv)) cancel_recv(s, kClient);
            else tls_ktls_try(s);
        } else if (t.buffered_in() >= kTlsInMax || s->tq[other].bytes >= kHighWaterBufs * bufs_->size()) {
            cancel_recv(s, side);
        } else if (!more) {
            tls_maybe_rearm(s, side);
        }
        return;
    }
    if (s->state == SessState::Closing) {
        maybe_release(s);
        return;
    }
    if (e.res == 0) {  // orderly EOF from this side
        if (side == kServer && s->stls && !s->stls->established()) {
            tls_server_failed(s);  // the server closed during its handshake
            return;
        }
        sd.set(net::kSideEof);
        s->last_ms[side] = r_.now_ms();
        tls_side_ended(s, side);
        return;
    }
    if (e.res == -ENOBUFS) {
        st_.shard.enobufs.inc();
        starve(s, side);
        return;
    }
    if (e.res == -ECANCELED) {
        if ((s->tlsf & kTlsWait) && s->state == SessState::Established) tls_ktls_try(s);
        else tls_maybe_rearm(s, side);
        return;
    }
    if (s->state == SessState::Handshake) {  // reset during the handshake: a failed one
        st_.shard.ssl_failures.inc();
        close_session(s);
        return;
    }
    if (side == kServer && s->stls && !s->stls->established()) {
        tls_server_failed(s);
        return;
    }
    read_failed(s, side);
}

// After plaintext was pulled from `side`'s layer: a bad record ends the session (false); a
// close_notify ends the side (its receive stops; the caller forwards the end after what came before).
bool TcpProxy::tls_layer_state(Session* s, int side) {
    const tls::Conn* lp = layer(s, side);
    if (!lp) return true;
    if (lp->failed()) {  // a bad record: nothing more can be read
        read_failed(s, side);
        return false;
    }
    Side& sd = s->side[side];
    if (lp->peer_closed() && !sd.has(net::kSideEof)) {
        sd.set(net::kSideEof);
        s->last_ms[side] = r_.now_ms();
        if (sd.has(net::kSideRecv)) cancel_recv(s, side);
    }
    return true;
}

// The handshake completed: counted, then the session is routed as a plain one would be.
void TcpProxy::tls_handshake_done(Session* s) {
    tls::Conn& t = *s->tls;
    st_.shard.ssl_handshakes.inc();
    if (t.resumed()) st_.shard.ssl_resumed.inc();
    r_.timers().cancel(&s->timer);
    route_new(s);  // Handshake -> Inspecting, Queued, Connecting (or closed)
}

// The plaintext of `side`'s record layer into blocks queued for the other side: appended to the last
// block while no send reads it, so the content rules see what arrived in one piece. Returns the
// bytes taken.
std::size_t TcpProxy::tls_pull(Session* s, int side) {
    tls::Conn* lp = layer(s, side);
    if (!lp || !lp->established() || lp->failed()) return 0;
    tls::Conn& t = *lp;
    net::SendQueues& sq = w_.tls_->sendq;
    net::SendQueue& q = s->tq[1 - side];
    // while the other side's handshake runs its flights need places in front of the plaintext
    const tls::Conn* to = layer(s, 1 - side);
    const int max_pieces = to && !to->established() ? net::SendQueue::kCap / 2 : net::SendQueue::kCap;
    std::size_t total = 0;
    while (q.bytes < kHighWaterBufs * bufs_->size()) {
        net::Seg* tail = q.n > s->tls_sealed[1 - side] && !q.inflight ? &q.at(q.n - 1) : nullptr;
        if (tail && tail->hb && tail->len < net::Block::kCap && tail->p + tail->len == tail->hb->data + tail->hb->len) {
            net::Block* b = tail->hb;
            const std::size_t got = t.read(b->data + b->len, net::Block::kCap - b->len);
            if (got == 0) break;
            b->len += std::uint32_t(got);
            tail->len += std::uint32_t(got);
            q.bytes += std::uint32_t(got);
            total += got;
            continue;
        }
        if (q.n >= max_pieces) break;
        net::Block* b = sq.new_block();
        if (!b) break;  // no memory now: the bytes wait in the layer
        const std::size_t got = t.read(b->data, net::Block::kCap);
        if (got == 0) {
            sq.blocks.destroy(b);
            break;
        }
        b->len = std::uint32_t(got);
        sq.push(q, net::Seg{b->data, b->len, net::BufRing::kNone, b});
        total += got;
    }
    if (total > 0) {
        s->dir[side].moved += total;
        if (s->state == SessState::Established) count_bytes(s, side, total);
    }
    if (q.broken) close_session(s);
    return total;
}

// One send of what is queued for side `dst`: a plain source side's buffers join the queue first;
// to a TLS side the plaintext pieces are sealed and only records leave; nothing to the server
// before it is connected.
void TcpProxy::tls_send(Session* s, int dst) {
    if (s->state == SessState::Closing) return;
    if (dst == kServer && s->state != SessState::Established) return;  // sent once connected (tls_established)
    net::SendQueues& sq = w_.tls_->sendq;
    net::SendQueue& q = s->tq[dst];
    // the other side's received buffers join the queue as pieces while it has places; the rest
    // waits in the direction's chain, in order, that side's receive stopped
    // (not while that side's handshake runs: its flights must find places in front of them)
    net::BufChain& c = s->dir[1 - dst].q;
    const tls::Conn* lp_dst = layer(s, dst);
    const bool hold_back = lp_dst && !lp_dst->established();
    while (!c.empty() && !q.full() && !hold_back) {
        const net::BufRing::Rec& r = bufs_->rec(c.head);
        const net::Seg sg{bufs_->data(c.head) + r.off, r.len, c.head, nullptr};
        bufs_->pop(c);
        sq.push(q, sg);
    }
    int max = net::SendQueue::kCap;
    if (tls::Conn* lp = layer(s, dst)) {
        // sealed as soon as they arrive, also behind a send in flight: the cipher reads the bytes
        // while the receive's copy left them in the cache
        w_.tls_->seal(*lp, q, s->tls_sealed[dst]);
        max = s->tls_sealed[dst];
    }
    if (q.broken) {  // no memory for a record: the stream would have a hole
        close_session(s);
        return;
    }
    if (q.inflight) return;  // the rest goes at its completion
    if (sq.send(q, s->side[dst], ud(std::uint8_t(kOpSend0 + dst), s), max)) ++s->pending_ops;
}

void TcpProxy::tls_on_send(Session* s, int dst, int res) {
    net::SendQueues& sq = w_.tls_->sendq;
    net::SendQueue& q = s->tq[dst];
    const int from = 1 - dst;
    if (s->state == SessState::Closing) {
        q.inflight = false;
        sq.drop(q);
        maybe_release(s);
        return;
    }
    if (res < 0) {  // -EPIPE, -ECONNRESET: the receiving side is gone
        q.inflight = false;
        if (s->state == SessState::Handshake || (s->tlsf & kTlsFailed)) {
            if (!(s->tlsf & kTlsFailed)) st_.shard.ssl_failures.inc();
        } else {
            count_abort(s, dst);
        }
        close_session(s);
        return;
    }
    const std::uint8_t queued = q.n;
    if (sq.sent(q, std::uint32_t(res))) st_.shard.short_sends.inc();
    if (layer(s, dst)) s->tls_sealed[dst] = std::uint8_t(s->tls_sealed[dst] - (queued - q.n));  // records sent in full
    s->last_ms[dst] = r_.now_ms();
    if (s->tlsf & kTlsFailed) {  // the alert is out
        if (q.n > 0) tls_send(s, kClient);
        else close_session(s);
        return;
    }
    tls_pull(s, from);  // room for what waits in the source's layer (a close_notify too)
    if (s->state == SessState::Closing || !tls_layer_state(s, from)) return;
    const tls::Conn* to = layer(s, dst);
    if (q.n > 0 || !s->dir[from].q.empty() || (to && to->pending_out() > 0)) tls_send(s, dst);
    if (s->state == SessState::Closing) return;
    if (q.n == 0 && !q.inflight) {
        sq.trim(q);
        const net::SendQueue& o = s->tq[from];
        if (o.n == 0 && !o.inflight && s->dir[dst].q.empty()) {  // quiet: no TLS buffer held
            if (tls::Conn* lp = layer(s, kClient)) lp->trim();
            if (s->stls) s->stls->trim();
        }
        if (s->side[from].has(net::kSideEof)) tls_side_ended(s, from);
        if (s->state == SessState::Closing) return;
        if (s->tlsf & kTlsWait) {
            tls_ktls_try(s);
            return;
        }
    }
    tls_maybe_rearm(s, from);  // the direction feeding dst
    schedule_idle(s);
}

// Re-arms the receive of `side` when nothing holds it back.
void TcpProxy::tls_maybe_rearm(Session* s, int side) {
    Side& sd = s->side[side];
    if (s->state == SessState::Closing || !sd.can_recv() || (s->tlsf & kTlsFailed)) return;
    if (side == kClient) {
        if (s->state == SessState::Established && (s->tlsf & kTlsWait) && s->tls->established()) {
            tls_ktls_try(s);  // no receive now: the kernel may take the records
            return;
        }
    } else if (s->state != SessState::Established || (s->tlsf & kTlsWait)) {
        return;
    }
    const tls::Conn* lp = layer(s, side);
    if (lp && lp->buffered_in() >= kTlsInMax) return;
    if (s->tq[1 - side].bytes > kLowWaterBufs * bufs_->size() || !s->dir[side].q.empty()) return;
    arm_recv(s, side);
}

// The server is connected: a TLS server gets its record layer and the ClientHello; what the client
// sent meanwhile goes first (behind the handshake), then both directions run.
void TcpProxy::tls_established(Session* s) {
    if (const tls::Upstream* up = w_.tls_->upstream(s->be, s->server)) {
        const auto& o = *cfg_.backends[std::size_t(s->be)].servers[std::size_t(s->server)].tls;
        std::string_view v;
        if (o.sni == config::ServerTlsOptions::Sni::Str) v = o.sni_arg;
        else if (o.sni == config::ServerTlsOptions::Sni::FcSni && s->tls) v = s->tls->facts().sni;
        char buf[256];
        s->stls = new (std::nothrow) tls::Conn(*up, server_name(v, buf, sizeof buf));
        if (!s->stls || !s->stls->ok() || s->stls->handshake() == tls::Conn::Step::Error) {
            tls_server_failed(s);
            return;
        }
        // kernel TLS needs the session to become a plain one: not with a TLS server
        s->tlsf = std::uint8_t((s->tlsf | kTlsUser) & ~kTlsWait);
    }
    if (s->held) {  // a plain client's bytes held while the rules inspected them go first
        net::Block* b = w_.tls_->sendq.new_block();
        if (!b) {
            close_session(s);
            return;
        }
        b->len = s->held->len - s->held->off;
        std::memcpy(b->data, s->held->data + s->held->off, b->len);
        holds_.destroy(s->held);
        s->held = nullptr;
        w_.tls_->sendq.push(s->tq[kServer], net::Seg{b->data, b->len, net::BufRing::kNone, b});
    }
    const std::uint32_t early = s->tq[kServer].bytes + s->dir[kClient].q.bytes;
    if (early > 0) count_bytes(s, kClient, early);
    if (s->tlsf & kTlsWait) {
        // kernel TLS: the client's receive stops and what is queued goes; then the kernel takes the
        // records (tls_ktls_try, at those completions)
        if (s->side[kClient].has(net::kSideRecv)) cancel_recv(s, kClient);
        tls_send(s, kServer);
        if (s->state == SessState::Closing) return;
        tls_ktls_try(s);
        if (s->state == SessState::Established) schedule_idle(s);
        return;
    }
    tls_send(s, kServer);
    if (s->state == SessState::Closing) return;
    if (s->side[kClient].has(net::kSideEof)) tls_side_ended(s, kClient);
    if (s->state == SessState::Closing) return;
    tls_maybe_rearm(s, kClient);
    tls_maybe_rearm(s, kServer);
    schedule_idle(s);
}

// The handshake with a server failed (its certificate did not verify, no common version, a reset):
// a connection error for the server and the backend.
void TcpProxy::tls_server_failed(Session* s) {
    st_.shard.ssl_srv_failures.inc();
    lbs_[std::size_t(s->be)]->server(s->server).c->econ.inc();
    st_.be[s->be].econ.inc();
    close_session(s);
}

// Side `side` sent its last byte (FIN, or close_notify): forwarded to the other side once what it
// sent before is out, as close_notify then a shutdown to a TLS side, as a shutdown to a plain one.
void TcpProxy::tls_side_ended(Session* s, int side) {
    if (s->state == SessState::Handshake) {  // nothing to forward: the handshake did not complete
        st_.shard.ssl_failures.inc();
        close_session(s);
        return;
    }
    if (s->state == SessState::Inspecting) {
        inspect(s);  // the rules decide on what arrived
        return;
    }
    if (s->state != SessState::Established) return;  // tls_established looks again
    if (side == kClient && (s->tlsf & kTlsWait)) {  // the client is done: nothing to hand over
        s->tlsf &= std::uint8_t(~kTlsWait);
        st_.shard.ssl_ktls_fallbacks.inc();
        tls_maybe_rearm(s, kServer);
        if (s->state != SessState::Established) return;
    }
    const int other = 1 - side;
    const net::SendQueue& q = s->tq[other];
    const tls::Conn* from = layer(s, side);
    if (q.n > 0 || q.inflight || !s->dir[side].q.empty() || (from && from->buffered_in() > 0))
        return;  // back at the send's completion
    tls::Conn* to = layer(s, other);
    if (to && !to->established() && !to->failed()) return;  // after its handshake (tls_recv)
    if (to && to->established() && !to->closing() && !to->failed()) {
        to->close();  // close_notify, then the FIN once it is sent
        tls_send(s, other);
        return;
    }
    shutdown_side(s, other);
    schedule_idle(s);
}

// Kernel TLS: once the session is established, no client receive is in flight and nothing waits to
// be sent either way, the records go to the kernel. Called at each of those completions while
// kTlsWait is set; does nothing until all hold.
void TcpProxy::tls_ktls_try(Session* s) {
    if (s->state != SessState::Established || !(s->tlsf & kTlsWait)) return;
    Side& cli = s->side[kClient];
    if (cli.has(net::kSideRecv | net::kSideInstalling)) return;
    for (const net::SendQueue& q : s->tq)
        if (q.n > 0 || q.inflight) return;
    if (!s->dir[kServer].q.empty() || !s->dir[kClient].q.empty()) return;
    tls::Conn& t = *s->tls;
    if (cli.fd < 0) {
        s->pending_ops += io_.install(cli, ud(kOpInstall0, s));  // back here at its completion (on_install)
        if (!cli.has(net::kSideInstalling)) tls_ktls_refused(s);  // no regular fd to be had: user space
        return;
    }
    std::string why;
    switch (t.offload(cli.fd, why)) {
        case tls::Offload::Done:
            s->tlsf = kTlsKernel;
            st_.shard.ssl_ktls.inc();
            t.trim();
            // the client's receive may bring alerts the kernel reports as errors: it is not
            // spliced; the server -> client direction may splice into the TLS socket
            s->dir[kClient].no_splice = true;
            tls_resume(s);
            return;
        case tls::Offload::Later:  // records still in the layer: they go first
            tls_send(s, kClient);
            return;
        case tls::Offload::Unsupported:
            tls_ktls_refused(s);
            return;
        case tls::Offload::Failed:  // the socket is half-offloaded
            close_session(s);
            return;
    }
}

// Kernel TLS cannot take this session's records (cipher, version, no regular fd): user space goes on.
void TcpProxy::tls_ktls_refused(Session* s) {
    st_.shard.ssl_ktls_fallbacks.inc();
    tls_resume(s);
}

// The kernel-TLS decision is made: both directions run again, on the path it chose.
void TcpProxy::tls_resume(Session* s) {
    s->tlsf &= std::uint8_t(~kTlsWait);
    if (s->side[kClient].has(net::kSideEof)) {
        if (s->tlsf & kTlsUser) tls_side_ended(s, kClient);
        else shutdown_side(s, kServer);
    }
    if (s->state != SessState::Established) return;
    maybe_rearm(s, kClient);
    maybe_rearm(s, kServer);
    schedule_idle(s);
}

// The session's last completion came: its queues and record layers go.
void TcpProxy::tls_release(Session* s) {
    for (net::SendQueue& q : s->tq) w_.tls_->sendq.drop(q);
    s->tls_sealed[0] = s->tls_sealed[1] = 0;
    if (s->tls) st_.shard.ssl_conns.dec();
    delete s->tls;
    delete s->stls;
    s->tls = s->stls = nullptr;
    s->tlsf = 0;
}

}  // namespace es::proxy
