// The L4 proxy: moving bytes between the two sides of a session. The copy path (provided buffers,
// sendmsg) and the splice path.
#include <fcntl.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/shard/uring_compat.hpp"
#include "edgeshard/proxy/tcp.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/proxy/tcp_types.hpp"
#include "edgeshard/tls/ktls.hpp"

namespace es::proxy {

using shard::UserData;

namespace {
std::uint64_t ud(std::uint8_t op, const Session* s) { return UserData::pack(op, s->gen, s); }

// A direction stops reading once this much is waiting to be sent, and reads again below the low
// mark: enough to keep one sendmsg of several buffers in flight while the next ones arrive.
constexpr std::uint32_t kHighWaterBufs = 8;
constexpr std::uint32_t kLowWaterBufs = 2;

}  // namespace

void TcpProxy::arm_recv(Session* s, int side) {
    Side& sd = s->side[side];
    const int n = io_.recv(sd, ud(std::uint8_t(kOpRecv0 + side), s));
    if (n == 0) return;
    s->pending_ops += n;
    // the side is expected to send from now on: a time it was held back by the other side's
    // backpressure is not its inactivity (see idle_deadline)
    s->last_ms[side] = r_.now_ms();
}

// The shard's buffer ring ran dry under `side`'s receive: re-armed once enough buffers are back
// (end_of_turn).
void TcpProxy::starve(Session* s, int side) {
    Side& sd = s->side[side];
    if (sd.has(net::kSideStarved)) return;
    sd.set(net::kSideStarved);
    ++s->pending_ops;  // the starved list holds a reference
    starved_.push_back(s);
}

void TcpProxy::cancel_recv(Session* s, int side) {
    s->pending_ops += io_.cancel_recv(s->side[side], ud(std::uint8_t(kOpRecv0 + side), s), ud(kOpCancel, s));
}

// Re-arm the recv feeding direction `dir` when nothing holds it back.
void TcpProxy::maybe_rearm(Session* s, int dir) {
    Side& src = s->side[dir];
    const Dir& d = s->dir[dir];
    if (s->tlsf & kTlsUser) [[unlikely]] {
        tls_maybe_rearm(s, dir);
        return;
    }
    if (s->state != SessState::Established || !src.can_recv()) return;
    if (d.mode != Dir::Copy) return;
    if (d.q.bytes > kLowWaterBufs * bufs_->size()) return;
    arm_recv(s, dir);
}

void TcpProxy::on_recv(Session* s, int side, const shard::Cqe& e) {
    Side& sd = s->side[side];
    Dir& d = s->dir[side];
    const bool more = e.flags & IORING_CQE_F_MORE;
    if (!more) {
        --s->pending_ops;
        net::SideIo::recv_ended(sd);
    }
    if (s->tlsf & kTlsUser) [[unlikely]] {
        tls_recv(s, side, e, more);  // records in user space (tcp_tls.cpp)
        return;
    }
    if (__builtin_expect(s->early && s->state != SessState::Established && s->state != SessState::Closing, 0)) {
        on_early_recv(s, e, more);  // the client's bytes before the server is there (tcp_inspect.cpp)
        if (s->state == SessState::Upgrading) [[unlikely]] maybe_upgrade(s);  // its last receive ended
        return;
    }
    if (e.res > 0 && (e.flags & IORING_CQE_F_BUFFER)) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        if (s->state != SessState::Established) {
            bufs_->recycle(bid);
            maybe_release(s);
            return;
        }
        const auto n = std::uint32_t(e.res);
        if (side == kServer && s->rsp_close) [[unlikely]] {  // tcp-response `close`: what comes after it never goes
            bufs_->recycle(bid);
            return;
        }
        bufs_->push(d.q, bid, n);
        d.moved += n;
        s->last_ms[side] = r_.now_ms();
        st_.shard.copy_bytes.add(n);
        count_bytes(s, side, n);
        if (side == kServer && s->rsp_inspect) [[unlikely]] {
            rsp_inspect(s);  // tcp-response content: held until the rules decide (tcp_inspect.cpp)
            if (s->state != SessState::Established) return;
            if (s->rsp_inspect && d.q.bytes >= kHighWaterBufs * bufs_->size()) cancel_recv(s, side);
            if (!more) maybe_rearm(s, side);
            return;
        }
        try_send(s, side);
        // a direction that keeps filling whole buffers past the threshold is bulk: move it to splice
        if (p_.splice_ok && cfg_.global.splice && d.mode == Dir::Copy && !d.no_splice &&
            d.moved >= std::uint64_t(cfg_.global.splice_threshold) && n == bufs_->size()) {
            begin_switch(s, side);
        } else if (d.q.bytes >= kHighWaterBufs * bufs_->size()) {
            cancel_recv(s, side);  // backpressure: the other side is not keeping up
        }
        if (!more) maybe_rearm(s, side);
        return;
    }
    if (s->state != SessState::Established) {
        maybe_release(s);
        return;
    }
    // orderly EOF from this side (with kernel TLS, a record that is not application data:
    // close_notify or another alert, which the kernel reports as EIO): forward it once everything
    // before it is sent
    if (e.res == 0 || (e.res == -EIO && side == kClient && (s->tlsf & kTlsKernel))) {
        sd.set(net::kSideEof);
        s->last_ms[side] = r_.now_ms();
        if (side == kServer && s->rsp_inspect) [[unlikely]] {
            rsp_inspect(s);  // nothing more will come: the rules decide now (an accept forwards the EOF)
            return;
        }
        if (d.mode == Dir::Switching) d.mode = Dir::Copy;
        if (!d.send_inflight && d.q.empty()) shutdown_side(s, 1 - side);
        schedule_idle(s);
        return;
    }
    if (e.res == -ENOBUFS) {
        // the shard's buffer ring ran dry: wait until enough buffers come back, then re-arm
        st_.shard.enobufs.inc();
        if (d.mode == Dir::Switching) {  // the recv was about to stop anyway: finish the switch
            maybe_start_splice(s, side);
            return;
        }
        starve(s, side);
        return;
    }
    if (e.res == -ECANCELED) {
        if (d.mode == Dir::Switching) maybe_start_splice(s, side);
        else maybe_rearm(s, side);
        return;
    }
    read_failed(s, side);
}

// Bytes read from `side`: HAProxy's bin is the client -> server direction, bout the other, on the
// frontend, the backend and the server alike. Counted when read, so a closed session's totals
// are exact.
void TcpProxy::count_bytes(Session* s, int side, std::uint64_t n) {
    stats::ServerCounters* sc = lbs_[std::size_t(s->be)]->server(s->server).c;
    if (side == kClient) {
        st_.fe[s->fe].bin.add(n);
        st_.be[s->be].bin.add(n);
        sc->bin.add(n);
    } else {
        st_.fe[s->fe].bout.add(n);
        st_.be[s->be].bout.add(n);
        sc->bout.add(n);
    }
}

// A read error (reset) on `side` ends the session: a request error on the client side, a
// response error on the server side.
void TcpProxy::read_failed(Session* s, int side) {
    if (side == kServer) {
        lbs_[std::size_t(s->be)]->server(s->server).c->eresp.inc();
        st_.be[s->be].eresp.inc();
    } else {
        st_.fe[s->fe].ereq.inc();
    }
    count_abort(s, side);
    close_session(s);
}

void TcpProxy::try_send(Session* s, int dir) {
    Dir& d = s->dir[dir];
    if (d.send_inflight || d.q.empty() || s->state != SessState::Established) return;
    if (dir == kServer && s->rsp_inspect) [[unlikely]] return;  // held for the tcp-response rules
    const int dst = 1 - dir;
    const int n = bufs_->fill_iov(d.q, d.iov, kMaxIov, d.send_len);
    d.msg = msghdr{};
    d.msg.msg_iov = d.iov;
    d.msg.msg_iovlen = std::size_t(n);
    // kernel TLS refuses MSG_WAITALL (EOPNOTSUPP): a short send is resumed by on_send all the same
    const int flags = (s->tlsf & kTlsKernel) ? 0 : MSG_WAITALL;
    s->pending_ops += io_.sendmsg(s->side[dst], &d.msg, flags, ud(std::uint8_t(kOpSend0 + dst), s));
    d.send_inflight = true;
}

void TcpProxy::on_send(Session* s, int dst, int res) {
    --s->pending_ops;
    if (s->tq[dst].inflight) [[unlikely]] {
        tls_on_send(s, dst, res);  // records to the client, or its plaintext to the server (tcp_tls.cpp)
        return;
    }
    const int dir = 1 - dst;
    Dir& d = s->dir[dir];
    d.send_inflight = false;
    if (__builtin_expect(s->held != nullptr && dir == kClient, 0)) {
        on_held_sent(s, res);  // the bytes held while the rules inspected them (tcp_inspect.cpp)
        return;
    }
    if (s->state != SessState::Established) {
        bufs_->drop(d.q);
        maybe_release(s);
        return;
    }
    if (res == -EAGAIN) {
        // SENDMSG honours the file's O_NONBLOCK (set once a direction splices): a full socket
        // can come back as -EAGAIN instead of being retried by the kernel. Wait for room, resend.
        arm_poll(s, dst, true);
        return;
    }
    if (res < 0) {  // -EPIPE, -ECONNRESET: the receiving side is gone
        count_abort(s, dst);
        close_session(s);
        return;
    }
    auto left = std::uint32_t(res);
    if (left < d.send_len) st_.shard.short_sends.inc();
    bufs_->consume(d.q, left);
    s->last_ms[dst] = r_.now_ms();
    if (!d.q.empty()) {
        try_send(s, dir);  // the rest, including the unsent tail of a short send
    } else if (dir == kServer && s->rsp_close) [[unlikely]] {
        close_session(s);  // tcp-response `close`: what came before it is out
        return;
    } else if (s->side[dir].has(net::kSideEof)) {
        shutdown_side(s, dst);
    } else if (d.mode == Dir::Switching) {
        maybe_start_splice(s, dir);
    }
    maybe_rearm(s, dir);
}

// IORING_OP_SHUTDOWN always runs in an io-wq worker, and a fixed-file op resolves its slot only
// when it is issued: the slot must stay ours until the shutdown completes (close_session defers
// the close of a side whose shutdown is in flight), or a late shutdown would hit whichever new
// connection the kernel put in the slot. When the other direction has already ended, no shutdown
// is needed at all: the session ends and close() sends the FIN.
void TcpProxy::shutdown_side(Session* s, int side) {
    Side& sd = s->side[side];
    if (sd.has(net::kSideShut) || sd.slot < 0) return;
    // kernel TLS: close_notify before the FIN (or, with a full send buffer, the FIN alone)
    if (side == kClient && (s->tlsf & kTlsKernel) && sd.fd >= 0) [[unlikely]] (void)tls::ktls_send_close_notify(sd.fd);
    if (sd.has(net::kSideEof) && s->side[1 - side].has(net::kSideShut)) {
        sd.set(net::kSideShut);
        close_session(s);
        return;
    }
    s->pending_ops += io_.shutdown(sd, ud(std::uint8_t(kOpShut0 + side), s));
    schedule_idle(s);
}

void TcpProxy::on_shutdown(Session* s, int side, int res) {
    --s->pending_ops;
    s->pending_ops += io_.shut_done(s->side[side], ud(kOpClose, s));
    if (s->state != SessState::Established) {
        maybe_release(s);
        return;
    }
    // both directions forwarded their EOF: the session is over. A failed shutdown (-ENOTCONN:
    // the peer already reset) ends it too.
    if (res < 0 || (s->side[0].has(net::kSideShut) && s->side[1].has(net::kSideShut))) close_session(s);
}

// ---------------------------------------------------------------- splice

void TcpProxy::begin_switch(Session* s, int dir) {
    Dir& d = s->dir[dir];
    d.mode = Dir::Switching;
    cancel_recv(s, dir);
    // the switch completes when the recv has ended and the queue has drained (ordering: bytes
    // already read into buffers go out before any spliced byte)
}

void TcpProxy::maybe_start_splice(Session* s, int dir) {
    Dir& d = s->dir[dir];
    Side& src = s->side[dir];
    if (d.mode != Dir::Switching || src.has(net::kSideRecv) || d.send_inflight || !d.q.empty())
        return;
    if (src.has(net::kSideEof)) {
        d.mode = Dir::Copy;
        shutdown_side(s, 1 - dir);
        return;
    }
    if (!d.pipe) {
        net::Pipe* p = w_.get_pipe();
        if (!p) {
            st_.shard.pipe_misses.inc();
            d.no_splice = true;
            d.mode = Dir::Copy;
            maybe_rearm(s, dir);
            return;
        }
        d.pipe = p;
    }
    bool need = false;
    for (int side = 0; side < 2; ++side) {
        Side& sd = s->side[side];
        if (sd.fd >= 0) continue;
        need = true;
        s->pending_ops += io_.install(sd, ud(std::uint8_t(kOpInstall0 + side), s));
    }
    if (need) return;
    d.mode = Dir::Splice;
    st_.shard.splice_switches.inc();
    pump(s, dir);
}

void TcpProxy::on_install(Session* s, int side, int res) {
    --s->pending_ops;
    Side& sd = s->side[side];
    net::SideIo::install_done(sd, res);  // closes the fd if the side is closed
    if (s->state != SessState::Established) {
        maybe_release(s);
        return;
    }
    if (s->tlsf & kTlsWait) [[unlikely]] {  // the fd kernel TLS is set on (tcp_tls.cpp)
        if (res < 0) {
            tls_ktls_refused(s);
            return;
        }
        const int fl = fcntl(sd.fd, F_GETFL);  // as below: a later splice must not block
        fcntl(sd.fd, F_SETFL, fl | O_NONBLOCK);
        tls_ktls_try(s);
        return;
    }
    if (res < 0) {
        // cannot get a regular fd: these directions stay on the copy path
        for (int dir = 0; dir < 2; ++dir) {
            Dir& d = s->dir[dir];
            if (d.mode != Dir::Switching) continue;
            d.mode = Dir::Copy;
            d.no_splice = true;
            maybe_rearm(s, dir);
        }
        return;
    }
    // splice(2) on a socket blocks unless the file is O_NONBLOCK (SPLICE_F_NONBLOCK covers only
    // the pipe); the flag is shared with the direct descriptor, which on_send() copes with
    const int fl = fcntl(sd.fd, F_GETFL);
    fcntl(sd.fd, F_SETFL, fl | O_NONBLOCK);
    for (int dir = 0; dir < 2; ++dir) maybe_start_splice(s, dir);
}



void TcpProxy::arm_poll(Session* s, int side, bool out) {
    s->pending_ops += io_.poll(s->side[side], out, ud(std::uint8_t((out ? kOpPollOut0 : kOpPollIn0) + side), s));
}

void TcpProxy::on_poll(Session* s, int side, bool out, int res) {
    --s->pending_ops;
    net::SideIo::poll_done(s->side[side], out);
    if (s->state != SessState::Established) {
        maybe_release(s);
        return;
    }
    (void)res;  // errors and hang-ups show up as the next send or splice result
    const int dir = out ? 1 - side : side;
    if (s->dir[dir].mode == Dir::Splice) pump(s, dir);
    else if (out) try_send(s, dir);
}

// Moves bytes src -> pipe -> dst with non-blocking splice(2) until one side would block, then
// waits for readiness. The pipe is drained completely before it is refilled, so at most one
// pipe's worth of data sits in the proxy per direction.
void TcpProxy::pump(Session* s, int dir) {
    Dir& d = s->dir[dir];
    if (d.mode != Dir::Splice || s->state != SessState::Established) return;
    const int dst = 1 - dir;
    Side& in = s->side[dir];
    Side& out = s->side[dst];
    for (int round = 0; round < net::kSpliceBudget; ++round) {
        if (d.pipe_bytes > 0) {
            const net::SpliceStep o = net::splice_out(*d.pipe, d.pipe_bytes, out.fd);
            if (o.what == net::Spliced::Moved) {
                s->last_ms[dst] = r_.now_ms();
                if (d.pipe_bytes > 0) continue;
            } else if (o.what == net::Spliced::Blocked) {
                arm_poll(s, dst, true);
                return;
            } else {
                count_abort(s, dst);
                close_session(s);
                return;
            }
        }
        if (in.has(net::kSideEof)) {
            shutdown_side(s, dst);
            return;
        }
        const net::SpliceStep i = net::splice_in(*d.pipe, d.pipe_bytes, in.fd, d.pipe->capacity);
        if (i.what == net::Spliced::Moved) {
            d.moved += i.n;
            s->last_ms[dir] = r_.now_ms();
            st_.shard.splice_bytes.add(i.n);
            count_bytes(s, dir, i.n);
        } else if (i.what == net::Spliced::Closed) {
            in.set(net::kSideEof);
            schedule_idle(s);
        } else if (i.what == net::Spliced::Blocked) {
            arm_poll(s, dir, false);
            return;
        } else {
            read_failed(s, dir);
            return;
        }
    }
    // budget spent with data still flowing: continue next turn, after other connections
    if (!d.queued_ready) {
        d.queued_ready = true;
        ++s->pending_ops;
        ready_.push_back(s);
    }
}

void TcpProxy::run_ready() {
    if (ready_.empty()) return;
    std::vector<Session*> batch;
    batch.swap(ready_);
    for (Session* s : batch) {
        bool want[2] = {false, false};
        int held = 0;
        for (int dir = 0; dir < 2; ++dir) {
            if (!s->dir[dir].queued_ready) continue;
            s->dir[dir].queued_ready = false;
            want[dir] = true;
            ++held;
        }
        if (held == 0) continue;  // listed twice; handled by the first entry
        for (int dir = 0; dir < 2; ++dir)
            if (want[dir]) pump(s, dir);
        s->pending_ops -= held;
        maybe_release(s);
    }
}

}  // namespace es::proxy
