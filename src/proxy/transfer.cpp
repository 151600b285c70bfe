// Worker: moving bytes. The copy path (provided buffers, sendmsg) and the splice path.
#include <fcntl.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/shard/uring_compat.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/proxy/session.hpp"

namespace es::proxy {

using shard::UserData;

namespace {
std::uint64_t ud(std::uint8_t op, const Session* s) { return UserData::pack(op, s->gen, s); }

// A direction stops reading once this much is waiting to be sent, and reads again below the low
// mark: enough to keep one sendmsg of several buffers in flight while the next ones arrive.
constexpr std::uint32_t kHighWaterBufs = 8;
constexpr std::uint32_t kLowWaterBufs = 2;
// splice rounds per pump before yielding to the rest of the shard
constexpr int kPumpBudget = 8;

// One readiness poll on a direct descriptor, armed at most once (`armed` says whether it is); the
// owner's pending_ops counts it until its completion.
template <typename Owner>
void poll_once(shard::Reactor& r, bool& armed, int slot, unsigned events, std::uint64_t user_data, Owner* o) {
    if (armed) return;
    armed = true;
    io_uring_sqe* sqe = r.sqe();
    io_uring_prep_poll_add(sqe, slot, events);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, user_data);
    ++o->pending_ops;
}
}  // namespace

// A multishot recv into the shard's provided buffers on a direct descriptor.
void Worker::queue_recv(int slot, std::uint64_t user_data) {
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_recv_multishot(sqe, slot, nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = bufs_->group();
    io_uring_sqe_set_data64(sqe, user_data);
}

// Cancels the operation whose user_data is `target`; the cancel completes as `user_data`.
void Worker::queue_cancel(std::uint64_t target, std::uint64_t user_data) {
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, user_data);
}

void Worker::arm_recv(Session* s, int side) {
    Side& sd = s->side[side];
    if (sd.recv_armed || sd.eof || sd.slot < 0) return;
    queue_recv(sd.slot, ud(std::uint8_t(kOpRecv0 + side), s));
    ++s->pending_ops;
    sd.recv_armed = true;
    sd.recv_cancelling = false;
    // the side is expected to send from now on: a time it was held back by the other side's
    // backpressure is not its inactivity (see idle_deadline)
    sd.last_ms = r_.now_ms();
}

void Worker::cancel_recv(Session* s, int side) {
    Side& sd = s->side[side];
    if (!sd.recv_armed || sd.recv_cancelling) return;
    queue_cancel(ud(std::uint8_t(kOpRecv0 + side), s), ud(kOpCancel, s));
    ++s->pending_ops;
    sd.recv_cancelling = true;
}

// Re-arm the recv feeding direction `dir` when nothing holds it back.
void Worker::maybe_rearm(Session* s, int dir) {
    Side& src = s->side[dir];
    const Dir& d = s->dir[dir];
    if (s->state != SessState::Established || src.recv_armed || src.eof || src.starved) return;
    if (d.mode != Dir::Copy) return;
    if (d.qbytes > kLowWaterBufs * bufs_->size()) return;
    arm_recv(s, dir);
}

void Worker::on_recv(Session* s, int side, const shard::Cqe& e) {
    Side& sd = s->side[side];
    Dir& d = s->dir[side];
    const bool more = e.flags & IORING_CQE_F_MORE;
    if (!more) {
        --s->pending_ops;
        sd.recv_armed = false;
        sd.recv_cancelling = false;
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
        net::BufRing::Rec& rec = bufs_->rec(bid);
        rec.next = net::BufRing::kNone;
        rec.off = 0;
        rec.len = n;
        if (d.qtail == net::BufRing::kNone) d.qhead = bid;
        else bufs_->rec(d.qtail).next = bid;
        d.qtail = bid;
        d.qbytes += n;
        d.moved += n;
        sd.last_ms = r_.now_ms();
        st_.shard.copy_bytes.add(n);
        count_bytes(s, side, n);
        try_send(s, side);
        // a direction that keeps filling whole buffers past the threshold is bulk: move it to splice
        if (p_.splice_ok && cfg_.global.splice && d.mode == Dir::Copy && !d.no_splice &&
            d.moved >= std::uint64_t(cfg_.global.splice_threshold) && n == bufs_->size()) {
            begin_switch(s, side);
        } else if (d.qbytes >= kHighWaterBufs * bufs_->size()) {
            cancel_recv(s, side);  // backpressure: the other side is not keeping up
        }
        if (!more) maybe_rearm(s, side);
        return;
    }
    if (s->state != SessState::Established) {
        maybe_release(s);
        return;
    }
    if (e.res == 0) {
        // orderly EOF from this side: forward it once everything before it is sent
        sd.eof = true;
        sd.last_ms = r_.now_ms();
        if (d.mode == Dir::Switching) d.mode = Dir::Copy;
        if (!d.send_inflight && d.qhead == net::BufRing::kNone) shutdown_side(s, 1 - side);
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
        if (!sd.starved) {
            sd.starved = true;
            ++s->pending_ops;  // the starved list holds a reference
            starved_.push_back(s);
        }
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
void Worker::count_bytes(Session* s, int side, std::uint64_t n) {
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
void Worker::read_failed(Session* s, int side) {
    if (side == kServer) {
        lbs_[std::size_t(s->be)]->server(s->server).c->eresp.inc();
        st_.be[s->be].eresp.inc();
    } else {
        st_.fe[s->fe].ereq.inc();
    }
    count_abort(s, side);
    close_session(s);
}

void Worker::try_send(Session* s, int dir) {
    Dir& d = s->dir[dir];
    if (d.send_inflight || d.qhead == net::BufRing::kNone || s->state != SessState::Established) return;
    const int dst = 1 - dir;
    std::uint8_t n = 0;
    std::uint32_t total = 0;
    for (std::uint16_t b = d.qhead; b != net::BufRing::kNone && n < kMaxIov; b = bufs_->rec(b).next) {
        const net::BufRing::Rec& rec = bufs_->rec(b);
        d.iov[n].iov_base = bufs_->data(b) + rec.off;
        d.iov[n].iov_len = rec.len;
        total += rec.len;
        ++n;
    }
    d.iovcnt = n;
    d.send_len = total;
    d.msg = msghdr{};
    d.msg.msg_iov = d.iov;
    d.msg.msg_iovlen = n;
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_sendmsg(sqe, s->side[dst].slot, &d.msg, MSG_WAITALL | MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud(std::uint8_t(kOpSend0 + dst), s));
    ++s->pending_ops;
    d.send_inflight = true;
}

void Worker::on_send(Session* s, int dst, int res) {
    --s->pending_ops;
    const int dir = 1 - dst;
    Dir& d = s->dir[dir];
    d.send_inflight = false;
    if (s->state != SessState::Established) {
        drop_queue(d);
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
    while (left > 0 && d.qhead != net::BufRing::kNone) {
        net::BufRing::Rec& rec = bufs_->rec(d.qhead);
        const std::uint32_t take = left < rec.len ? left : rec.len;
        rec.off += take;
        rec.len -= take;
        left -= take;
        d.qbytes -= take;
        if (rec.len == 0) {
            const std::uint16_t b = d.qhead;
            d.qhead = rec.next;
            if (d.qhead == net::BufRing::kNone) d.qtail = net::BufRing::kNone;
            bufs_->recycle(b);
        }
    }
    s->side[dst].last_ms = r_.now_ms();
    if (d.qhead != net::BufRing::kNone) {
        try_send(s, dir);  // the rest, including the unsent tail of a short send
    } else if (s->side[dir].eof) {
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
void Worker::shutdown_side(Session* s, int side) {
    Side& sd = s->side[side];
    if (sd.shut_sent || sd.slot < 0) return;
    sd.shut_sent = true;
    if (sd.eof && s->side[1 - side].shut_sent) {
        close_session(s);
        return;
    }
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_shutdown(sqe, sd.slot, SHUT_WR);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud(std::uint8_t(kOpShut0 + side), s));
    ++s->pending_ops;
    sd.shut_inflight = true;
    schedule_idle(s);
}

void Worker::on_shutdown(Session* s, int side, int res) {
    --s->pending_ops;
    Side& sd = s->side[side];
    sd.shut_inflight = false;
    s->pending_ops += close_deferred(sd.deferred_close, ud(kOpClose, s));
    if (s->state != SessState::Established) {
        maybe_release(s);
        return;
    }
    // both directions forwarded their EOF: the session is over. A failed shutdown (-ENOTCONN:
    // the peer already reset) ends it too.
    if (res < 0 || (s->side[0].shut_sent && s->side[1].shut_sent)) close_session(s);
}

// ---------------------------------------------------------------- splice

void Worker::begin_switch(Session* s, int dir) {
    Dir& d = s->dir[dir];
    d.mode = Dir::Switching;
    cancel_recv(s, dir);
    // the switch completes when the recv has ended and the queue has drained (ordering: bytes
    // already read into buffers go out before any spliced byte)
}

void Worker::maybe_start_splice(Session* s, int dir) {
    Dir& d = s->dir[dir];
    Side& src = s->side[dir];
    if (d.mode != Dir::Switching || src.recv_armed || d.send_inflight || d.qhead != net::BufRing::kNone) return;
    if (src.eof) {
        d.mode = Dir::Copy;
        shutdown_side(s, 1 - dir);
        return;
    }
    if (!d.pipe) {
        net::Pipe* p = get_pipe();
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
        if (sd.installing) continue;
        sd.installing = true;
        io_uring_sqe* sqe = r_.sqe();
        shard::compat::prep_fixed_fd_install(sqe, sd.slot);
        io_uring_sqe_set_data64(sqe, ud(std::uint8_t(kOpInstall0 + side), s));
        ++s->pending_ops;
    }
    if (need) return;
    d.mode = Dir::Splice;
    st_.shard.splice_switches.inc();
    pump(s, dir);
}

void Worker::on_install(Session* s, int side, int res) {
    --s->pending_ops;
    Side& sd = s->side[side];
    sd.installing = false;
    if (s->state != SessState::Established) {
        if (res >= 0) ::close(res);
        maybe_release(s);
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
    const int fl = fcntl(res, F_GETFL);
    fcntl(res, F_SETFL, fl | O_NONBLOCK);
    sd.fd = res;
    for (int dir = 0; dir < 2; ++dir) maybe_start_splice(s, dir);
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

void Worker::arm_poll(Session* s, int side, bool out) {
    Side& sd = s->side[side];
    poll_once(r_, out ? sd.poll_out : sd.poll_in, sd.slot, out ? POLLOUT : POLLIN,
              ud(std::uint8_t((out ? kOpPollOut0 : kOpPollIn0) + side), s), s);
}

void Worker::on_poll(Session* s, int side, bool out, int res) {
    --s->pending_ops;
    (out ? s->side[side].poll_out : s->side[side].poll_in) = false;
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
void Worker::pump(Session* s, int dir) {
    Dir& d = s->dir[dir];
    if (d.mode != Dir::Splice || s->state != SessState::Established) return;
    const int dst = 1 - dir;
    Side& in = s->side[dir];
    Side& out = s->side[dst];
    for (int round = 0; round < kPumpBudget; ++round) {
        if (d.pipe_bytes > 0) {
            const ssize_t n = ::splice(d.pipe->rd, nullptr, out.fd, nullptr, d.pipe_bytes,
                                       SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                d.pipe_bytes -= std::uint32_t(n);
                out.last_ms = r_.now_ms();
                if (d.pipe_bytes > 0) continue;
            } else if (n < 0 && errno == EAGAIN) {
                arm_poll(s, dst, true);
                return;
            } else {
                count_abort(s, dst);
                close_session(s);
                return;
            }
        }
        if (in.eof) {
            shutdown_side(s, dst);
            return;
        }
        const ssize_t n = ::splice(in.fd, nullptr, d.pipe->wr, nullptr, d.pipe->capacity,
                                   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
            const auto k = std::uint64_t(n);
            d.pipe_bytes += std::uint32_t(n);
            d.moved += k;
            in.last_ms = r_.now_ms();
            st_.shard.splice_bytes.add(k);
            count_bytes(s, dir, k);
        } else if (n == 0) {
            in.eof = true;
            schedule_idle(s);
        } else if (errno == EAGAIN) {
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

void Worker::run_ready() {
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


// ---------------------------------------------------------------- HTTP response bodies by splice
//
// A Content-Length response body with more than `tune.es.splice-after` bytes left once its head
// (and the body bytes that came with it) went to the client moves the rest by splice(2), server
// socket -> pipe -> client socket, like an L4 bulk direction (the same pipe pool, regular fds from
// FIXED_FD_INSTALL, non-blocking splice(2) driven by one-shot POLL_ADD; never IORING_OP_SPLICE,
// which always runs in an io-wq worker):
//   Switching: the server recv is cancelled; bytes received before it stops are forwarded on the
//     buffer path; once the client queue is empty and no send is in flight, both sockets get a
//     regular fd (kept for the life of the connection) and O_NONBLOCK, and a pipe is taken.
//   Splicing: h_pump() moves at most the bytes the body still has (never past the message end: a
//     pipelined response or junk stays in the socket for the buffer path), counting them as read
//     (frontend/backend/server bout, the log's bytes) and in the shard's splice counters.
//   Done: O_NONBLOCK is cleared (the io_uring sends of the buffer path expect blocking sockets),
//     the pipe goes back empty, the response ends as on the buffer path (pooling, keep-alive,
//     the next pipelined request). A server that closes early: what the pipe holds reaches the
//     client, then the client is cut (a truncated response never looks complete).
// Only while the request was fully sent (nothing queued towards the server) and nothing else is
// queued for the client, so no io_uring send ever meets a non-blocking socket.

void Worker::h_maybe_splice(HttpSession* s) {
    HttpConn* c = s->conn;
    if (c->splice == HttpConn::NoSplice) {
        if (!p_.splice_ok || !cfg_.global.splice || c->no_splice || s->rsp_body != http::BodyKind::Length ||
            s->rsp_left <= std::uint64_t(std::max<std::int64_t>(0, cfg_.global.splice_threshold)) ||
            s->req != ReqPhase::Done || c->out.n > 0 || c->out.inflight || c->state != HttpConn::Ready)
            return;
        c->splice = HttpConn::Switching;
        c_cancel_recv(c);
    }
    if (c->splice != HttpConn::Switching) return;
    // bytes already received go out first, in order
    if (c->recv_armed || !c->in.empty() || s->rsp_acc || s->out.n > 0 || s->out.inflight) return;
    if (!c->pipe) {
        c->pipe = get_pipe();
        if (!c->pipe) {
            st_.shard.pipe_misses.inc();
            h_splice_fallback(c);
            return;
        }
    }
    bool need = false;
    if (s->cli_fd < 0) {
        need = true;
        if (!s->cli_installing) {
            s->cli_installing = true;
            io_uring_sqe* sqe = r_.sqe();
            shard::compat::prep_fixed_fd_install(sqe, s->slot);
            io_uring_sqe_set_data64(sqe, UserData::pack(kHOpCliInstall, s->gen, s));
            ++s->pending_ops;
        }
    }
    if (c->fd < 0) {
        need = true;
        if (!c->installing) {
            c->installing = true;
            io_uring_sqe* sqe = r_.sqe();
            shard::compat::prep_fixed_fd_install(sqe, c->slot);
            io_uring_sqe_set_data64(sqe, UserData::pack(kHOpSrvInstall, c->gen, c));
            ++c->pending_ops;
        }
    }
    if (need) return;  // the install completions come back here
    // splice(2) on a socket blocks unless its file is O_NONBLOCK (SPLICE_F_NONBLOCK covers only
    // the pipe); F_SETFL changes only the status flags, and a socket has no other one set
    if (fcntl(s->cli_fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) {
        fcntl(s->cli_fd, F_SETFL, 0);
        fcntl(c->fd, F_SETFL, 0);
        h_splice_fallback(c);
        return;
    }
    c->splice = HttpConn::Splicing;
    st_.shard.splice_switches.inc();
    h_pump(s);
}

// No pipe or no regular fd: this connection's bodies stay on the buffer path.
void Worker::h_splice_fallback(HttpConn* c) {
    c->no_splice = true;
    c->splice = HttpConn::NoSplice;
    if (c->pipe) {
        put_pipe(c->pipe, c->pipe_bytes == 0);
        c->pipe = nullptr;
        c->pipe_bytes = 0;
    }
    c_maybe_rearm(c);
}

void Worker::h_pump(HttpSession* s) {
    HttpConn* c = s->conn;
    if (!c || c->splice != HttpConn::Splicing || s->state != HState::Active) return;
    for (int round = 0; round < kPumpBudget; ++round) {
        if (c->pipe_bytes > 0) {
            const ssize_t n = ::splice(c->pipe->rd, nullptr, s->cli_fd, nullptr, c->pipe_bytes,
                                       SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                c->pipe_bytes -= std::uint32_t(n);
                s->last_cli = r_.now_ms();
                if (c->pipe_bytes > 0) continue;
            } else if (n < 0 && errno == EAGAIN) {
                poll_once(r_, s->cli_poll_out, s->slot, POLLOUT, UserData::pack(kHOpCliPollOut, s->gen, s), s);
                return;
            } else {
                h_client_abort(s);  // the client is gone (EPIPE, ECONNRESET)
                return;
            }
        }
        if (s->rsp_left == 0) {
            h_splice_done(s);
            return;
        }
        if (c->eof) {
            // the server closed before the end of the body: the client gets what came, then a cut
            s->term[0] = 'S';
            h_server_failed(s, false);
            return;
        }
        const std::size_t want = std::size_t(std::min<std::uint64_t>(s->rsp_left, c->pipe->capacity));
        const ssize_t n = ::splice(c->fd, nullptr, c->pipe->wr, nullptr, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
            const auto k = std::uint64_t(n);
            c->pipe_bytes += std::uint32_t(n);
            s->rsp_left -= k;
            s->bytes_out += k;
            s->last_srv = r_.now_ms();
            st_.shard.splice_bytes.add(k);
            st_.fe[s->fe].bout.add(k);
            st_.be[s->be].bout.add(k);
            lbs_[std::size_t(c->be)]->server(c->server).c->bout.add(k);
        } else if (n == 0) {
            c->eof = true;
        } else if (errno == EAGAIN) {
            poll_once(r_, c->poll_in, c->slot, POLLIN, UserData::pack(kHOpSrvPollIn, c->gen, c), c);
            return;
        } else {
            st_.be[s->be].eresp.inc();
            lbs_[std::size_t(c->be)]->server(c->server).c->eresp.inc();
            c->eof = true;
            s->term[0] = 'S';
            h_server_failed(s, false);
            return;
        }
    }
    // budget spent with data still flowing: yield to the rest of the shard and continue when the
    // side with work is ready (at once, usually)
    if (c->pipe_bytes > 0) {
        poll_once(r_, s->cli_poll_out, s->slot, POLLOUT, UserData::pack(kHOpCliPollOut, s->gen, s), s);
    } else {
        poll_once(r_, c->poll_in, c->slot, POLLIN, UserData::pack(kHOpSrvPollIn, c->gen, c), c);
    }
}

// The body has reached the client socket in full: back to the buffer path.
void Worker::h_splice_done(HttpSession* s) {
    HttpConn* c = s->conn;
    // The last receive's "more in the socket" flag predates the spliced body. Whether the server
    // sent anything beyond the body decides whether the connection may be pooled: one peek on
    // the (still non-blocking) regular fd, cheap next to the body it ends.
    char probe;
    const ssize_t extra = ::recv(c->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    c->sock_nonempty = extra > 0;
    if (extra == 0) c->eof = true;
    fcntl(s->cli_fd, F_SETFL, 0);
    fcntl(c->fd, F_SETFL, 0);
    put_pipe(c->pipe, true);
    c->pipe = nullptr;
    c->splice = HttpConn::NoSplice;
    c->spliced = true;
    s->rsp = RspPhase::Done;
    h_response_done(s);
}

void Worker::h_on_cli_install(HttpSession* s, int res) {
    --s->pending_ops;
    s->cli_installing = false;
    if (s->state != HState::Active) {
        if (res >= 0) ::close(res);
        h_maybe_release(s);
        return;
    }
    if (res < 0) {
        if (s->conn && s->conn->splice == HttpConn::Switching) h_splice_fallback(s->conn);
        return;
    }
    s->cli_fd = res;
    if (s->conn && s->conn->splice == HttpConn::Switching) h_maybe_splice(s);
}

void Worker::c_on_install(HttpConn* c, int res) {
    --c->pending_ops;
    c->installing = false;
    if (c->state == HttpConn::Closing) {
        if (res >= 0) ::close(res);
        c_maybe_release(c);
        return;
    }
    if (res < 0) {
        if (c->splice == HttpConn::Switching) h_splice_fallback(c);
        return;
    }
    c->fd = res;
    if (c->splice == HttpConn::Switching && c->owner) h_maybe_splice(c->owner);
}

void Worker::h_on_cli_poll(HttpSession* s) {
    --s->pending_ops;
    s->cli_poll_out = false;
    if (s->state != HState::Active) {
        h_maybe_release(s);
        return;
    }
    h_pump(s);  // errors and hang-ups show up as the next splice's result
}

void Worker::c_on_poll(HttpConn* c) {
    --c->pending_ops;
    c->poll_in = false;
    if (c->state == HttpConn::Closing) {
        c_maybe_release(c);
        return;
    }
    if (c->owner && c->splice == HttpConn::Splicing) h_pump(c->owner);
}

// At close: the regular fd and a pipe that may still hold bytes (never reused then).
void Worker::c_splice_close(HttpConn* c) {
    if (c->fd >= 0) {
        ::close(c->fd);
        c->fd = -1;
    }
    if (c->pipe) {
        put_pipe(c->pipe, c->pipe_bytes == 0);
        c->pipe = nullptr;
        c->pipe_bytes = 0;
    }
    c->splice = HttpConn::NoSplice;
}

}  // namespace es::proxy
