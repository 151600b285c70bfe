// Worker: the HTTP/1.1 path (DESIGN.md §3). One HttpSession per client connection, one HttpConn
// per server connection; a server connection is attached to a session for one request and
// response, then goes back to the shard's per-server idle list (or closes).
//
// Request: client bytes arrive in provided buffers (InQ). A head that fits the first buffer is
// parsed in place; otherwise (or while it is incomplete) its bytes are gathered into a head buffer
// and the provided buffers go straight back to the ring, so a client dripping a head holds no
// receive buffer. The parsed head runs the rules, picks a backend and a server, and is rewritten
// into a head buffer (hop-by-hop headers dropped, header edits applied); the body follows as the
// very provided buffers it arrived in (zero copy), framed by Content-Length or followed by the
// chunked scanner. Bytes after the end of a message stay queued: pipelined requests are served in
// order, one at a time. The response takes the mirror path; a long Content-Length response body
// continues by splice(2) once its head is out (transfer.cpp, "HTTP response bodies by splice").
//
// Ordering guarantees: one send in flight per socket (OutQ), output only appended in message
// order; a request's response is fully queued before the next request is looked at.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/http/rules.hpp"
#include "edgeshard/net/uring_compat.hpp"
#include "edgeshard/proxy/worker.hpp"

namespace es::proxy {

using shard::UserData;

namespace {
std::uint64_t hud(std::uint8_t op, const HttpSession* s) { return UserData::pack(op, s->gen, s); }
std::uint64_t cud(std::uint8_t op, const HttpConn* c) { return UserData::pack(op, c->gen, c); }

config::Millis pos(config::Millis v) { return v > 0 ? v : 0; }
// first configured (> 0) of the candidates, else 0 (no timeout)
config::Millis first_of(config::Millis a, config::Millis b, config::Millis c = config::kUnset) {
    if (a > 0) return a;
    if (b > 0) return b;
    return pos(c);
}

constexpr std::uint32_t kHighWaterBufs = 8;  // queued bytes (in buffers) that stop the feeding recv
constexpr std::uint16_t kInBufsMax = 4;       // unconsumed received buffers that stop a recv
constexpr std::int64_t kLingerMs = 1000;      // after the last response of a closing connection
constexpr std::int64_t kPoolIdleMs = 5000;    // an idle server connection is closed after this
constexpr std::int64_t kPoolMaxPerServer = 512;  // idle connections kept per server and shard

struct Writer {
    char* p;
    std::uint32_t cap;
    std::uint32_t n = 0;
    bool overflow = false;
    void put(std::string_view s) {
        if (n + s.size() > cap) {
            overflow = true;
            return;
        }
        std::memcpy(p + n, s.data(), s.size());
        n += std::uint32_t(s.size());
    }
    void header(std::string_view name, std::string_view value) {
        put(name);
        put(": ");
        put(value);
        put("\r\n");
    }
};

void count_status(stats::Counter& c1, stats::Counter& c2, stats::Counter& c3, stats::Counter& c4,
                  stats::Counter& c5, stats::Counter& other, int status) {
    switch (status / 100) {
        case 1: c1.inc(); break;
        case 2: c2.inc(); break;
        case 3: c3.inc(); break;
        case 4: c4.inc(); break;
        case 5: c5.inc(); break;
        default: other.inc(); break;
    }
}
template <typename C>
void count_status(C& c, int status) {
    count_status(c.hrsp_1xx, c.hrsp_2xx, c.hrsp_3xx, c.hrsp_4xx, c.hrsp_5xx, c.hrsp_other, status);
}
}  // namespace

// ---------------------------------------------------------------- setup

std::uint32_t Worker::retry_status_bit(int status) {
    switch (status) {
        case 404: return kRetry404;
        case 408: return kRetry408;
        case 425: return kRetry425;
        case 500: return kRetry500;
        case 501: return kRetry501;
        case 502: return kRetry502;
        case 503: return kRetry503;
        case 504: return kRetry504;
        default: return 0;
    }
}

void Worker::http_init() {
    // retry-on, as bits (HAProxy's tokens; connect-failure is what the connect path always retries)
    for (const auto& b : cfg_.backends) {
        std::uint32_t m = 0;
        for (const auto& t : b.retry_on) {
            if (t == "connect-failure") m |= kRetryConnect;
            else if (t == "empty-response") m |= kRetryEmpty;
            else if (t == "junk-response") m |= kRetryJunk;
            else if (t == "response-timeout") m |= kRetryTimeout;
            else if (t == "all-retryable-errors")
                m |= kRetryConnect | kRetryEmpty | kRetryJunk | kRetryTimeout | kRetry500 | kRetry502 | kRetry503 |
                     kRetry504;
            else if (const std::uint32_t bit = retry_status_bit(std::atoi(t.c_str()))) m |= bit;
        }
        be_retry_.push_back(m);
    }
    idle_.resize(cfg_.backends.size());
    for (std::size_t b = 0; b < cfg_.backends.size(); ++b)
        idle_[b] = std::vector<core::ListNode>(cfg_.backends[b].servers.size());
    http_limits_.max_request_line = std::uint32_t(cfg_.global.max_request_line);
    http_limits_.max_headers = std::uint16_t(std::min<int>(cfg_.global.maxhdr, int(http::kMaxHeaders)));
    http_limits_.max_head = std::min<std::uint32_t>(std::uint32_t(cfg_.global.bufsize), HeadBuf::kCap - 8192);
    http_limits_.max_body = std::uint64_t(std::max<std::int64_t>(0, cfg_.global.max_body));
}

bool Worker::is_http_fe(std::uint32_t fe) const { return cfg_.frontends[fe].mode == config::Mode::Http; }

void Worker::http_accept(int slot, std::uint32_t fe, const sockaddr_storage* peer) {
    HttpSession* s = stopping_ ? nullptr : hsessions_.make();
    if (!s) {
        io_uring_sqe* sqe = r_.sqe();
        io_uring_prep_close_direct(sqe, unsigned(slot));
        io_uring_sqe_set_data64(sqe, UserData::pack_raw(kOpCancelAccept, 0, 0));
        st_.fe[fe].dcon.inc();
        return;
    }
    s->gen = ++gen_;
    s->fe = fe;
    s->slot = slot;
    s->timer.owner = s;
    s->timer.kind = kHTimerClient;
    if (peer) s->peer.set(*peer);
    const std::int64_t now = r_.now_ms();
    s->t_accept = s->t_req = s->last_cli = now;
    ++live_;
    s->all_node.prev = hall_.prev;
    s->all_node.next = &hall_;
    hall_.prev->next = &s->all_node;
    hall_.prev = &s->all_node;
    // limits: HTTP sessions count towards the same shard and frontend limits as L4 sessions; one
    // accepted in the same batch as a limit was reached waits, unread, until a slot frees
    const bool room = (p_.conn_limit == 0 || conns_ < p_.conn_limit) && fe_has_room(fe) && fe_pending_[fe] == 0;
    if (!room) {
        s->pending = true;
        hpending_.push_back(s);
        ++fe_pending_[fe];
        return;
    }
    h_start(s);
}

void Worker::h_start(HttpSession* s) {
    const std::uint32_t fe = s->fe;
    s->t_req = s->last_cli = r_.now_ms();
    s->counted_conn = true;
    ++conns_;
    ++fe_conns_[fe];
    st_.shard.conns.inc();
    auto& fc = st_.fe[fe];
    fc.scur.inc();
    fc.smax.update(fc.scur.get());
    h_arm_recv(s);
    h_schedule(s);
}

// ---------------------------------------------------------------- queues

void Worker::inq_push(InQ& q, std::uint16_t bid, std::uint32_t len) {
    net::BufRing::Rec& rec = bufs_->rec(bid);
    rec.next = net::BufRing::kNone;
    rec.off = 0;
    rec.len = len;
    if (q.tail == net::BufRing::kNone) q.head = bid;
    else bufs_->rec(q.tail).next = bid;
    q.tail = bid;
    q.bytes += len;
    ++q.nbufs;
}

std::uint16_t Worker::inq_pop(InQ& q) {
    const std::uint16_t b = q.head;
    q.head = bufs_->rec(b).next;
    if (q.head == net::BufRing::kNone) q.tail = net::BufRing::kNone;
    q.bytes -= bufs_->rec(b).len;
    --q.nbufs;
    return b;
}

void Worker::inq_drop(InQ& q) {
    while (!q.empty()) bufs_->recycle(inq_pop(q));
}

// A segment that cannot be queued (no memory for the queue's block) is freed at once and the
// queue is marked broken: the message it belonged to can no longer be delivered whole, so the
// owner closes (h_send_client, c_send).
void Worker::outq_push(OutQ& q, const Seg& sg) {
    ES_ASSERT(!q.full());
    if (!q.blk) {
        q.blk = outblocks_.make();
        if (!q.blk) {
            Seg lost = sg;
            seg_free(lost);
            q.broken = true;
            return;
        }
        q.first = 0;
    }
    if (sg.hb) sg.hb->queued = true;
    q.at(q.n) = sg;
    ++q.n;
    q.bytes += sg.len;
}

// An empty queue with no send in flight gives its block back: an idle connection holds none.
void Worker::outq_trim(OutQ& q) {
    if (q.blk && q.n == 0 && !q.inflight) {
        outblocks_.destroy(q.blk);
        q.blk = nullptr;
        q.first = 0;
    }
}

void Worker::seg_free(Seg& sg) {
    if (sg.bid != net::BufRing::kNone) bufs_->recycle(sg.bid);
    if (sg.hb) {
        sg.hb->queued = false;
        if (!sg.hb->keep) heads_.destroy(sg.hb);
    }
    delete sg.str;
    sg = Seg{};
}

void Worker::outq_drop(OutQ& q) {
    while (q.n > 0) {
        seg_free(q.at(0));
        q.first = std::uint8_t((q.first + 1) % OutQ::kCap);
        --q.n;
    }
    q.first = 0;
    q.bytes = 0;
    outq_trim(q);
}

// No MSG_WAITALL: a send completes as soon as the kernel took some bytes, so each completion is
// progress a peer made and the side's inactivity timeout restarts with it. With MSG_WAITALL a
// client reading slowly through a small window could hold one send (up to 16 buffers) longer
// than `timeout client` while reading steadily, and be cut. The rest is resumed by outq_sent.
bool Worker::outq_send(OutQ& q, int slot, std::uint64_t ud) {
    if (q.inflight || q.n == 0 || slot < 0) return false;
    OutBlock& b = *q.blk;
    int k = 0;
    std::uint32_t total = 0;
    for (; k < q.n; ++k) {
        Seg& sg = q.at(k);
        b.iov[k].iov_base = const_cast<char*>(sg.p);
        b.iov[k].iov_len = sg.len;
        total += sg.len;
    }
    b.msg = msghdr{};
    b.msg.msg_iov = b.iov;
    b.msg.msg_iovlen = std::size_t(k);
    q.sending = total;
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_sendmsg(sqe, slot, &b.msg, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud);
    q.inflight = true;
    return true;
}

// Consumes `sent` bytes from the front of the queue after a send completed.
void Worker::outq_sent(OutQ& q, std::uint32_t sent) {
    q.inflight = false;
    if (sent < q.sending) st_.shard.short_sends.inc();
    while (sent > 0 && q.n > 0) {
        Seg& sg = q.at(0);
        const std::uint32_t take = std::min(sent, sg.len);
        sg.p += take;
        sg.len -= take;
        sent -= take;
        q.bytes -= take;
        if (sg.len == 0) {
            seg_free(sg);
            q.first = std::uint8_t((q.first + 1) % OutQ::kCap);
            --q.n;
        }
    }
    outq_trim(q);
}

HeadBuf* Worker::new_head() {
    HeadBuf* h = heads_.make();
    if (h) {
        h->len = 0;
        h->off = 0;
    }
    return h;
}

// ---------------------------------------------------------------- client side I/O

void Worker::h_arm_recv(HttpSession* s) {
    if (s->recv_armed || s->cli_eof || s->slot < 0 || s->starved) return;
    queue_recv(s->slot, hud(kHOpCliRecv, s));
    ++s->pending_ops;
    s->recv_armed = true;
    s->recv_cancelling = false;
    // expected to send from now on: a pause our backpressure imposed is not the client's silence
    s->last_cli = r_.now_ms();
}

void Worker::h_cancel_recv(HttpSession* s) {
    if (!s->recv_armed || s->recv_cancelling) return;
    queue_cancel(hud(kHOpCliRecv, s), hud(kHOpCliCancel, s));
    ++s->pending_ops;
    s->recv_cancelling = true;
}

// The client recv runs while there is room: few unconsumed buffers, and a server queue below the
// high watermark. A lingering close keeps reading (and discarding) until EOF.
void Worker::h_maybe_rearm(HttpSession* s) {
    if (s->state != HState::Active || s->recv_armed) return;
    if (!s->shut_sent) {
        if (s->in.nbufs >= kInBufsMax) return;
        if (s->conn && s->conn->out.bytes >= kHighWaterBufs * bufs_->size()) return;
    }
    h_arm_recv(s);
}

void Worker::h_on_cli_recv(HttpSession* s, const shard::Cqe& e) {
    const bool more = e.flags & IORING_CQE_F_MORE;
    if (!more) {
        --s->pending_ops;
        s->recv_armed = false;
        s->recv_cancelling = false;
    }
    if (e.res > 0 && (e.flags & IORING_CQE_F_BUFFER)) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        if (s->state != HState::Active || s->shut_sent) {
            bufs_->recycle(bid);  // closing, or draining a lingering close
            if (s->state == HState::Active) {
                if (!more) h_arm_recv(s);
            } else {
                h_maybe_release(s);
            }
            return;
        }
        const auto n = std::uint32_t(e.res);
        const std::int64_t now = r_.now_ms();
        if (s->req == ReqPhase::Head && s->in.empty() && !s->req_acc) s->t_req = now;  // first byte of a request
        s->last_cli = now;
        if (s->req == ReqPhase::Body) s->req_expect = false;  // sending its body without waiting
        st_.fe[s->fe].bin.add(n);
        if (s->be >= 0) st_.be[s->be].bin.add(n);
        s->bytes_in += n;
        inq_push(s->in, bid, n);
        h_process_request(s);
        if (s->state != HState::Active) return;
        if (s->in.nbufs >= kInBufsMax ||
            (s->conn && s->conn->out.bytes >= kHighWaterBufs * bufs_->size()))
            h_cancel_recv(s);
        else if (!more)
            h_maybe_rearm(s);
        h_schedule(s);
        return;
    }
    if (s->state != HState::Active) {
        h_maybe_release(s);
        return;
    }
    if (e.res == 0) {
        s->cli_eof = true;
        h_on_cli_eof(s);
        return;
    }
    if (e.res == -ENOBUFS) {
        st_.shard.enobufs.inc();
        if (!s->starved) {
            s->starved = true;
            ++s->pending_ops;
            hstarved_.push_back(s);
        }
        return;
    }
    if (e.res == -ECANCELED) {
        h_maybe_rearm(s);
        return;
    }
    // reset by the client
    h_client_abort(s);
}

void Worker::h_on_cli_eof(HttpSession* s) {
    if (s->shut_sent) {  // lingering close done
        h_close(s);
        return;
    }
    switch (s->req) {
        case ReqPhase::Head:
            if (s->in.empty() && !s->req_acc && s->rsp == RspPhase::None && s->out.n == 0) {
                h_close(s);  // between requests: a normal end of a keep-alive connection
                return;
            }
            if (s->rsp == RspPhase::None && !s->replied) {
                h_client_abort(s);  // a partial request head
                return;
            }
            s->close_after = true;
            return;
        case ReqPhase::Body:
            h_client_abort(s);
            return;
        case ReqPhase::Done:
            // the client half-closed after its request: answer it, then close
            s->close_after = true;
            if (s->rsp == RspPhase::None && s->out.n == 0 && s->replied) h_close(s);
            return;
        case ReqPhase::Tunnel:
            // half-close: the FIN goes on to the server once what the client sent before it is
            // out; the server's direction stays open until it closes (or `timeout server-fin`)
            if (!s->conn) h_close(s);
            else h_tunnel_shut_server(s);
            return;
    }
}

void Worker::h_tunnel_shut_server(HttpSession* s) {
    HttpConn* c = s->conn;
    if (c->shut_inflight || c->out.n > 0 || c->out.inflight || c->slot < 0) return;
    if (c->eof) {
        h_close(s);  // both directions are done
        return;
    }
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_shutdown(sqe, c->slot, SHUT_WR);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, cud(kHOpSrvShut, c));
    ++c->pending_ops;
    c->shut_inflight = true;
}

void Worker::c_on_shut(HttpConn* c) {
    --c->pending_ops;
    c->shut_inflight = false;
    c->pending_ops += close_deferred(c->deferred_close, cud(kHOpSrvClose, c));
    c_maybe_release(c);
}

void Worker::h_client_abort(HttpSession* s) {
    st_.fe[s->fe].cli_abrt.inc();
    if (s->be >= 0) {
        st_.be[s->be].cli_abrt.inc();
        if (s->server >= 0) lbs_[std::size_t(s->be)]->server(s->server).c->cli_abrt.inc();
    }
    s->term[0] = 'C';
    if (s->nreq > 0 && !s->logged) {
        if (s->status != 0 || s->req == ReqPhase::Tunnel) s->term[1] = 'D';  // during the data phase
        h_log(s);
    }
    h_close(s);
}

void Worker::h_send_client(HttpSession* s) {
    if (s->out.broken) {
        if (s->state == HState::Active) {
            s->term[0] = 'R';  // a resource (memory) ran out
            h_close(s);
        }
        return;
    }
    if (!s->out.inflight && s->out.n > 0) s->last_cli = r_.now_ms();  // an idle queue starts a period
    if (outq_send(s->out, s->slot, hud(kHOpCliSend, s))) ++s->pending_ops;
}

void Worker::h_on_cli_send(HttpSession* s, int res) {
    --s->pending_ops;
    if (s->state != HState::Active) {
        s->out.inflight = false;
        outq_drop(s->out);
        h_maybe_release(s);
        return;
    }
    if (res < 0) {
        s->out.inflight = false;
        h_client_abort(s);
        return;
    }
    outq_sent(s->out, std::uint32_t(res));
    s->last_cli = r_.now_ms();
    if (s->out.n > 0) h_send_client(s);
    // room again for the response body
    if (s->conn && s->rsp != RspPhase::None) {
        h_process_response(s);
        if (s->state != HState::Active) return;
        if (s->conn) c_maybe_rearm(s->conn);
    }
    if (s->out.n == 0 && s->close_after && s->req != ReqPhase::Tunnel && s->rsp == RspPhase::None) {
        h_linger(s);
        return;
    }
    if (s->req == ReqPhase::Tunnel && s->conn && s->conn->eof && s->out.n == 0) {
        h_close(s);
        return;
    }
    h_schedule(s);
}

// A connection that ends after a response: send FIN, then read and discard until the client
// closes (or a short timeout), so unread request bytes cannot turn our close into a reset that
// destroys the response in flight.
void Worker::h_linger(HttpSession* s) {
    if (s->shut_sent || s->state != HState::Active) return;
    if (s->cli_eof || !s->linger) {
        // nothing unread can be pending: close(2) sends the FIN after the response, no reset
        h_close(s);
        return;
    }
    s->shut_sent = true;
    s->shut_inflight = true;
    inq_drop(s->in);
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_shutdown(sqe, s->slot, SHUT_WR);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, hud(kHOpCliShut, s));
    ++s->pending_ops;
    h_arm_recv(s);
    h_schedule(s);
}

void Worker::h_on_cli_shut(HttpSession* s, int res) {
    --s->pending_ops;
    s->shut_inflight = false;
    s->pending_ops += close_deferred(s->deferred_close, hud(kHOpCliClose, s));
    if (s->state != HState::Active) {
        h_maybe_release(s);
        return;
    }
    if (res < 0) h_close(s);
}

// ---------------------------------------------------------------- request analysis

// Moves every received byte into the gathering buffer and returns the buffers to the ring.
// False when the head would not fit (the caller answers 431).
bool Worker::gather(InQ& q, HeadBuf*& acc) {
    if (!acc) {
        acc = new_head();
        if (!acc) return false;
    }
    while (!q.empty()) {
        const std::uint16_t b = q.head;
        net::BufRing::Rec& rec = bufs_->rec(b);
        if (acc->off > 0 && acc->len + rec.len > HeadBuf::kCap) {
            std::memmove(acc->data, acc->data + acc->off, acc->len - acc->off);
            acc->len -= acc->off;
            acc->off = 0;
        }
        if (acc->len + rec.len > HeadBuf::kCap) return false;
        std::memcpy(acc->data + acc->len, bufs_->data(b) + rec.off, rec.len);
        acc->len += rec.len;
        bufs_->recycle(inq_pop(q));
    }
    return true;
}

void Worker::h_process_request(HttpSession* s) {
    if (s->in_parse) return;  // re-entered from the head being parsed: its caller's loop goes on
    h_process_request_loop(s);
    if (s->state == HState::Active && s->conn) c_send(s->conn);
}

void Worker::h_process_request_loop(HttpSession* s) {
    for (int guard = 0; guard < 64 && s->state == HState::Active; ++guard) {
        switch (s->req) {
            case ReqPhase::Head:
                if (s->rsp != RspPhase::None || s->out.bytes > kHighWaterBufs * bufs_->size()) return;
                if (!h_parse_request(s)) return;
                break;
            case ReqPhase::Body:
                if (!s->conn || s->conn->priv_owner) return;  // waiting for this request's server connection
                if (!h_forward_body(s, s->in, s->req_acc, s->conn->out, s->req_body, s->req_left, s->req_chunks,
                                    true))
                    return;
                break;
            case ReqPhase::Done:
                return;
            case ReqPhase::Tunnel:
                if (s->conn) h_tunnel(s, s->in, s->req_acc, s->conn->out);
                if (s->conn) c_send(s->conn);
                return;
        }
    }
}

// Parses the next request head. True when the state moved on (call again), false to wait.
bool Worker::h_parse_request(HttpSession* s) {
    const char* base;
    std::size_t len;
    bool in_place = false;
    if (!s->req_acc && !s->in.empty() && s->in.nbufs == 1) {
        const net::BufRing::Rec& rec = bufs_->rec(s->in.head);
        base = bufs_->data(s->in.head) + rec.off;
        len = rec.len;
        in_place = true;
    } else {
        if (s->in.empty() && (!s->req_acc || s->req_acc->len == s->req_acc->off)) return false;
        if (!gather(s->in, s->req_acc)) {
            h_reply_error(s, 431, "request head too large");
            return false;
        }
        base = s->req_acc->data + s->req_acc->off;
        len = s->req_acc->len - s->req_acc->off;
    }
    http::RequestHead& req = req_head_;
    std::size_t scanned = s->req_scanned;
    http::ParseResult pr = http::parse_request(base, len, http_limits_, req, scanned);
    s->req_scanned = std::uint32_t(scanned);
    if (pr.status == http::Status::NeedMore) {
        if (in_place) {
            // keep nothing in provided buffers while a head is incomplete
            if (!gather(s->in, s->req_acc)) h_reply_error(s, 431, "request head too large");
        }
        return false;
    }
    if (pr.status == http::Status::Error) {
        h_reply_error(s, pr.error, pr.why);
        return false;
    }
    s->req_scanned = 0;
    const std::uint16_t bid0 = s->in.head;
    HeadBuf* const acc0 = s->req_acc;
    s->in_parse = true;
    h_start_request(s, req, base, len);
    s->in_parse = false;
    if (s->state != HState::Active) return false;
    // consume the head (unless answering it already dropped the input)
    if (in_place ? s->in.head != bid0 : s->req_acc != acc0) return true;
    if (in_place) {
        net::BufRing::Rec& rec = bufs_->rec(s->in.head);
        rec.off += req.head_len;
        rec.len -= req.head_len;
        s->in.bytes -= req.head_len;
        if (rec.len == 0) bufs_->recycle(inq_pop(s->in));
    } else {
        s->req_acc->off += req.head_len;
        if (s->req_acc->off == s->req_acc->len) {
            heads_.destroy(s->req_acc);
            s->req_acc = nullptr;
        }
    }
    return true;
}

void Worker::h_start_request(HttpSession* s, http::RequestHead& req, const char* base, std::size_t avail) {
    const auto& fe = cfg_.frontends[s->fe];
    ++s->nreq;
    s->logged = false;
    s->t_head = r_.now_ms();
    s->status = 0;
    s->bytes_out = 0;
    s->t_queue = s->t_connect = s->t_connected = s->t_rsp = -1;
    s->term[0] = s->term[1] = '-';
    s->replied = false;
    s->tries = 0;
    s->method = req.method;
    s->req_head_method = req.method == http::Method::Head;
    s->req_upgrade = req.upgrade;
    s->req_expect = req.expect_continue;
    // request line for the log (notes are taken only when the frontend logs)
    if (p_.log_ring && fe_formats_[s->fe]) {
        HttpNotes* nt = h_notes(s);
        if (!nt) {
            h_reply_error(s, 500, "out of memory for request notes");
            return;
        }
        const std::size_t rl = std::size_t(req.target.data() + req.target.size() - base) + 9;
        const std::size_t n = std::min<std::size_t>(rl, sizeof nt->reqline);
        std::memcpy(nt->reqline, base, n);
        nt->reqline_len = std::uint16_t(n);
    }
    st_.fe[s->fe].req_tot.inc();
    if (!req.wants_keep_alive() || fe.http.httpclose) s->close_after = true;
    s->client_http10 = req.version == 10;
    s->req_body = req.body;
    s->req_left = req.content_length;
    s->req_chunks.reset();
    s->req = (req.body == http::BodyKind::None || (req.body == http::BodyKind::Length && req.content_length == 0))
                 ? ReqPhase::Done
                 : ReqPhase::Body;

    arena_.reset();
    edits_.reset();
    http::Txn t;
    t.req = &req;
    sockaddr_storage peer;
    s->peer.get(peer);
    t.src = &peer;
    t.cfg = &cfg_;
    t.arena = &arena_;
    t.edits = &edits_;

    // the stats page of this frontend
    const std::string_view su = std::string_view(fe.stats.uri).substr(0, fe.stats.uri.find('?'));
    if (fe.stats.enabled && (req.path == su || (req.path.size() == su.size() + 4 && req.path.starts_with(su) &&
                                                req.path.ends_with(";csv")))) {
        h_serve_page(s, req, 0);
        return;
    }
    http::Verdict v = http::run_request_rules(fe.http, t);
    if (v.kind == http::Verdict::Reply) {
        if (v.denied) st_.fe[s->fe].dreq.inc();
        h_local_reply(s, v.status, v.bytes);
        return;
    }
    if (v.kind == http::Verdict::Service) {
        h_serve_page(s, req, 1);
        return;
    }
    const int be = http::select_backend(fe, t);
    if (be < 0) {
        h_local_reply(s, 503, http::error_reply(503, nullptr, &fe.http));
        return;
    }
    if (s->be != be) {
        if (s->counted_be) {
            st_.be[s->be].scur.dec();
            s->counted_be = false;
        }
        s->be = be;
    }
    const auto& bcfg = cfg_.backends[std::size_t(be)];
    auto& bc = st_.be[be];
    if (!s->counted_be) {
        s->counted_be = true;
        bc.stot.inc();
        bc.scur.inc();
        bc.smax.update(bc.scur.get());
    }
    bc.req_tot.inc();
    if (fe.own_backend_id != be) {  // a listen section's rules run once, as its frontend's
        t.fallback = &fe.http;
        v = http::run_request_rules(bcfg.http, t);
        if (v.kind == http::Verdict::Reply) {
            if (v.denied) {
                st_.fe[s->fe].dreq.inc();
                bc.dreq.inc();
            }
            h_local_reply(s, v.status, v.bytes);
            return;
        }
        if (v.kind == http::Verdict::Service) {
            h_serve_page(s, req, 1);
            return;
        }
    }
    if (bcfg.http.httpclose) s->close_after = true;

    // the outgoing head
    HeadBuf* hb = new_head();
    if (!hb) {
        h_reply_error(s, 500, "out of head buffers");
        return;
    }
    Writer w{hb->data, HeadBuf::kCap};
    w.put(req.method_text);
    w.put(" ");
    if (!edits_.new_path.empty()) {
        w.put(edits_.new_path);
        if (!req.query.empty() || req.target.find('?') != std::string_view::npos) {
            w.put("?");
            w.put(req.query);
        }
    } else {
        w.put(req.target);
    }
    w.put(" HTTP/1.1\r\n");
    for (std::uint16_t i = 0; i < req.nheaders; ++i) {
        const http::Header& h = req.headers[i];
        if (h.hop || h.removed) continue;
        w.header(h.name, h.value);
    }
    if (req.upgrade) {
        w.put("Connection: upgrade\r\n");
        if (const http::Header* u = req.find("upgrade")) w.header("Upgrade", u->value);
    } else if (bcfg.http.server_close || bcfg.http.httpclose || fe.http.httpclose) {
        w.put("Connection: close\r\n");
    }
    if (req.body == http::BodyKind::Chunked) w.put("Transfer-Encoding: chunked\r\n");
    const config::HttpProxy& ffp = fe.http.forwardfor ? fe.http : bcfg.http;
    if (ffp.forwardfor && !(ffp.forwardfor_if_none && req.find(ffp.forwardfor_header)) &&
        (ffp.forwardfor_except.empty() || !http::addr_in_network(&peer, ffp.forwardfor_except))) {
        char ab[INET6_ADDRSTRLEN];
        const std::string_view ip(ab, http::addr_text(&peer, ab, sizeof ab));
        if (!ip.empty()) w.header(ffp.forwardfor_header, ip);
    }
    for (int i = 0; i < edits_.nadds; ++i) w.header(edits_.adds[i].name, edits_.adds[i].value);
    w.put("\r\n");
    if (w.overflow) {
        heads_.destroy(hb);
        h_reply_error(s, 431, "request head too large after rewriting");
        return;
    }
    hb->len = w.n;
    s->rsp = RspPhase::Head;
    s->rsp_scanned = 0;
    if (s->pend_head) heads_.destroy(s->pend_head);
    s->pend_head = hb;
    s->retries_left = bcfg.retries;
    // server choice
    std::string_view hval;
    bool has_hval = false;
    if (bcfg.balance == config::Balance::Hdr) {
        if (const http::Header* h = req.find(lbs_[std::size_t(be)]->hdr_name())) {
            hval = h->value;
            has_hval = true;
        }
    }
    if (bcfg.balance == config::Balance::Uri || bcfg.balance == config::Balance::Hdr) {
        // keep what `balance uri` / `balance hdr()` hash: the target (path and query) as
        // received, or the header's value; picks after this one (queue, retries) read it
        HttpNotes* nt = h_notes(s);
        if (!nt) {
            heads_.destroy(s->pend_head);
            s->pend_head = nullptr;
            h_reply_error(s, 500, "out of memory for request notes");
            return;
        }
        const std::string_view key = has_hval ? hval : req.target;
        const std::size_t n = std::min<std::size_t>(key.size(), sizeof nt->lb_key);
        std::memcpy(nt->lb_key, key.data(), n);
        nt->lb_key_len = std::uint16_t(n);
        nt->lb_has_hdr = has_hval;
    }
    if (req.body == http::BodyKind::Chunked && avail > req.head_len) {
        // chunk framing that arrived with the head is checked before any server is involved
        http::ChunkedScanner probe;
        if (probe.feed(base + req.head_len, avail - req.head_len).status == http::Status::Error) {
            heads_.destroy(s->pend_head);
            s->pend_head = nullptr;
            h_reply_error(s, 400, "invalid chunked request body");
            return;
        }
    }
    h_assign_server(s, -1);
}

PickInput Worker::h_pick_input(const HttpSession* s, sockaddr_storage& src) const {
    PickInput in;
    s->peer.get(src);
    in.src = &src;
    if (const HttpNotes* nt = s->notes) {
        const std::string_view key(nt->lb_key, nt->lb_key_len);
        in.uri = key;
        in.hdr = key;
        in.has_hdr = nt->lb_has_hdr;
    }
    return in;
}

// The notes of the current request, taken from the pool on first use (nullptr: no memory).
HttpNotes* Worker::h_notes(HttpSession* s) {
    if (!s->notes) s->notes = notes_.make();
    return s->notes;
}

void Worker::h_drop_notes(HttpSession* s) {
    if (s->notes) {
        notes_.destroy(s->notes);
        s->notes = nullptr;
    }
}

void Worker::h_assign_server(HttpSession* s, int exclude) {
    BackendLb& lb = *lbs_[std::size_t(s->be)];
    sockaddr_storage src;
    const int i = lb.pick(h_pick_input(s, src), exclude);
    if (i == BackendLb::kNone) {
        st_.be[s->be].econ.inc();
        s->term[0] = 's';
        s->term[1] = 'C';
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    if (i == BackendLb::kFull) {
        s->queued = true;
        s->t_queue = r_.now_ms();
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
void Worker::h_use_server(HttpSession* s, int i) {
    BackendLb& lb = *lbs_[std::size_t(s->be)];
    ServerSlot& srv = lb.server(i);
    const auto& bcfg = cfg_.backends[std::size_t(s->be)];
    s->server = i;
    s->last_srv = r_.now_ms();  // `timeout server` counts from here
    ++srv.cur;
    srv.c->inflight.inc();
    // a server's sessions are the requests it is serving (HAProxy counts streams, not connections)
    srv.c->stot.inc();
    srv.c->scur.inc();
    srv.c->smax.update(srv.c->scur.get());
    srv.c->lbtot.inc();
    srv.c->req_tot.inc();
    st_.be[s->be].lbtot.inc();
    if (s->t_queue >= 0) {
        const std::int64_t q = r_.now_ms() - s->t_queue;
        st_.be[s->be].qtime_sum.add(std::uint64_t(q));
        st_.be[s->be].qtime_n.inc();
        srv.c->qtime_sum.add(std::uint64_t(q));
        srv.c->qtime_n.inc();
    }
    HttpConn* c = nullptr;
    if (s->conn) {
        HttpConn* own = s->conn;
        if (own->priv_owner == s && own->server == i && own->be == s->be && own->state == HttpConn::Idle) {
            c = own;  // http-reuse never: this client connection's own server connection
            c->priv_owner = nullptr;
            c->state = HttpConn::Ready;
            r_.timers().cancel(&c->timer);
        } else if (own->priv_owner == s) {
            c_close(own);  // private to this client, but another server was picked
        } else {
            s->conn = nullptr;
            c_release(own, false);
        }
        s->conn = nullptr;
    }
    const bool may_share = !s->force_new && (bcfg.http_reuse == config::HttpReuse::Always ||
                                             bcfg.http_reuse == config::HttpReuse::Aggressive ||
                                             (bcfg.http_reuse == config::HttpReuse::Safe && !s->first_req));
    s->force_new = false;
    if (!c && may_share) {
        core::ListNode& head = idle_[std::size_t(s->be)][std::size_t(i)];
        if (head.linked()) {
            core::ListNode* n = head.next;  // most recently used first
            c = reinterpret_cast<HttpConn*>(reinterpret_cast<char*>(n) - offsetof(HttpConn, idle_node));
            n->unlink();
            r_.timers().cancel(&c->timer);
            srv.c->idle_conn_cur.dec();
            c->state = HttpConn::Ready;
        }
    }
    s->first_req = false;
    if (c) {
        c->owner = s;
        c->reused = true;
        // a pooled connection may have been closed by the server just now: keep a bodiless
        // request's head so it can be sent again on a new connection (h_replay)
        h_keep_for_replay(s, true);
        s->conn = c;
        srv.c->reuse.inc();
        st_.be[s->be].reuse.inc();
        s->t_connect = s->t_connected = r_.now_ms();
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
    c->gen = ++gen_;
    c->be = s->be;
    c->server = i;
    c->owner = s;
    c->timer.owner = c;
    c->timer.kind = kHTimerConnIdle;
    ++hconns_live_;
    s->conn = c;
    s->t_connect = r_.now_ms();
    srv.c->connect.inc();
    st_.be[s->be].connect.inc();
    // the head (and any body that follows) queue on the connection while it connects
    h_keep_for_replay(s, false);
    if (s->pend_head) {
        outq_push(c->out, Seg{s->pend_head->data, s->pend_head->len, net::BufRing::kNone, s->pend_head});
        s->pend_head = nullptr;
    }
    h_process_request(s);
    c_connect(c);
}

// A connection ready to carry the current request: queue the head, forward what body is there.
void Worker::h_attach_ready(HttpSession* s) {
    HttpConn* c = s->conn;
    if (s->pend_head) {
        outq_push(c->out, Seg{s->pend_head->data, s->pend_head->len, net::BufRing::kNone, s->pend_head});
        s->pend_head = nullptr;
    }
    s->last_srv = r_.now_ms();
    // sends once the body bytes already here are queued too (when called while the head is being
    // parsed, the request loop around it sends), so a small request leaves as one segment
    h_process_request(s);
    if (s->state != HState::Active) return;
    c_maybe_rearm(c);
    h_schedule(s);
}

// Forwards body bytes of one message from an input (a gathering buffer first, then provided
// buffers) to an output queue. True when the body is complete (state moved on).
bool Worker::h_forward_body(HttpSession* s, InQ& in, HeadBuf*& acc, OutQ& out, http::BodyKind kind,
                            std::uint64_t& left, http::ChunkedScanner& chunks, bool request) {
    auto finish = [&]() {
        if (request) {
            s->req = ReqPhase::Done;
        } else {
            s->rsp = RspPhase::Done;
        }
    };
    if (kind == http::BodyKind::Length && left == 0) {
        finish();
        return true;
    }
    const std::uint32_t high = kHighWaterBufs * bufs_->size();
    // 1. bytes left in the gathering buffer after the head
    if (acc && acc->off < acc->len) {
        if (out.full() || out.bytes >= high) return false;
        const char* p = acc->data + acc->off;
        const std::size_t avail = acc->len - acc->off;
        std::size_t take = avail;
        bool done = false;
        if (kind == http::BodyKind::Length) {
            if (take >= left) {
                take = std::size_t(left);
                done = true;
            }
            left -= take;
        } else if (kind == http::BodyKind::Chunked) {
            const http::ChunkedScanner::Step st = chunks.feed(p, avail);
            if (st.status == http::Status::Error) {
                h_body_error(s, request);
                return false;
            }
            take = st.used;
            done = st.status == http::Status::Done;
        }
        if (!request) h_count_out(s, take);
        if (take > 0) {
            if (take == avail) {
                outq_push(out, Seg{p, std::uint32_t(take), net::BufRing::kNone, acc});
                acc = nullptr;
            } else {
                // the message ends inside: what follows moves to a fresh gathering buffer
                HeadBuf* rest = new_head();
                if (!rest) {
                    h_reply_error(s, 500, "out of head buffers");
                    return false;
                }
                std::memcpy(rest->data, p + take, avail - take);
                rest->len = std::uint32_t(avail - take);
                acc->len = acc->off + std::uint32_t(take);
                outq_push(out, Seg{p, std::uint32_t(take), net::BufRing::kNone, acc});
                acc = rest;
            }
        }
        if (done) {
            finish();
            return true;
        }
        if (acc && acc->off < acc->len) return false;
        if (acc) {
            heads_.destroy(acc);
            acc = nullptr;
        }
    }
    // 2. provided buffers
    while (!in.empty()) {
        if (out.full() || out.bytes >= high) return false;
        const std::uint16_t b = in.head;
        net::BufRing::Rec& rec = bufs_->rec(b);
        const char* p = bufs_->data(b) + rec.off;
        std::size_t take = rec.len;
        bool done = false;
        if (kind == http::BodyKind::Length) {
            if (take >= left) {
                take = std::size_t(left);
                done = true;
            }
            left -= take;
        } else if (kind == http::BodyKind::Chunked) {
            const http::ChunkedScanner::Step st = chunks.feed(p, rec.len);
            if (st.status == http::Status::Error) {
                h_body_error(s, request);
                return false;
            }
            take = st.used;
            done = st.status == http::Status::Done;
        }
        if (!request) h_count_out(s, take);
        if (take == rec.len) {
            inq_pop(in);
            outq_push(out, Seg{p, std::uint32_t(take), b, nullptr});
        } else {
            // the message ends inside this buffer: the rest (the next message) is gathered
            if (!acc) acc = new_head();
            if (!acc || acc->len + (rec.len - take) > HeadBuf::kCap) {
                h_reply_error(s, 500, "out of head buffers");
                return false;
            }
            std::memcpy(acc->data + acc->len, p + take, rec.len - take);
            acc->len += std::uint32_t(rec.len - take);
            inq_pop(in);
            if (take > 0) outq_push(out, Seg{p, std::uint32_t(take), b, nullptr});
            else bufs_->recycle(b);
            // later buffers stay queued behind the gathered bytes: gather them too, in order
            if (!in.empty() && !gather(in, acc)) {
                h_reply_error(s, 431, "request head too large");
                return false;
            }
        }
        if (done) {
            finish();
            return true;
        }
    }
    return false;
}

void Worker::h_body_error(HttpSession* s, bool request) {
    if (request) {
        st_.fe[s->fe].ereq.inc();
        // the head has gone to the server already: the exchange cannot be repaired
        s->term[0] = 'C';
        s->term[1] = 'D';
        if (s->conn) c_release(s->conn, false), s->conn = nullptr;
        if (s->rsp == RspPhase::Head && s->out.n == 0 && s->status == 0) {
            h_reply_error(s, 400, "invalid chunked request body");
            return;
        }
        h_close(s);
    } else {
        h_server_failed(s, true);
    }
}

void Worker::h_tunnel(HttpSession* s, InQ& in, HeadBuf*& acc, OutQ& out) {
    const bool to_client = &out == &s->out;
    if (acc && acc->off < acc->len && !out.full()) {
        if (to_client) h_count_out(s, acc->len - acc->off);
        outq_push(out, Seg{acc->data + acc->off, acc->len - acc->off, net::BufRing::kNone, acc});
        acc = nullptr;
    }
    while (!in.empty() && !out.full()) {
        const std::uint16_t b = in.head;
        const net::BufRing::Rec& rec = bufs_->rec(b);
        inq_pop(in);
        if (to_client) h_count_out(s, rec.len);
        outq_push(out, Seg{bufs_->data(b) + rec.off, rec.len, b, nullptr});
    }
}

// Bytes of a server's response forwarded to the client: the log's %B and the `bout` counters
// (bytes a server sent beyond its message are not forwarded, so not counted).
[[gnu::always_inline]] inline void Worker::h_count_out(HttpSession* s, std::uint64_t n) {
    s->bytes_out += n;
    st_.fe[s->fe].bout.add(n);
    st_.be[s->be].bout.add(n);
    if (s->server >= 0) lbs_[std::size_t(s->be)]->server(s->server).c->bout.add(n);
}

// ---------------------------------------------------------------- local replies

std::string_view Worker::h_error(HttpSession* s, int status) const {
    const config::HttpProxy* be = s->be >= 0 ? &cfg_.backends[std::size_t(s->be)].http : nullptr;
    return http::error_reply(status, be, &cfg_.frontends[s->fe].http);
}

// Queues a complete reply with connection handling added after its status line. True when its
// last segment is queued (the caller may then hand that segment what owns the bytes).
bool Worker::h_queue_reply(HttpSession* s, std::string_view bytes, bool close) {
    const std::size_t eol = bytes.find("\r\n");
    if (eol == std::string_view::npos || s->out.n + 3 > OutQ::kCap) {
        s->close_after = true;
        return false;
    }
    static constexpr std::string_view kClose = "connection: close\r\n";
    static constexpr std::string_view kKeep = "connection: keep-alive\r\n";
    // HTTP/1.1 keeps the connection by default: the reply then goes out exactly as configured
    if (!close && !s->client_http10) {
        outq_push(s->out, Seg{bytes.data(), std::uint32_t(bytes.size())});
        s->bytes_out += bytes.size();
        return !s->out.broken;
    }
    outq_push(s->out, Seg{bytes.data(), std::uint32_t(eol + 2)});
    const std::string_view ch = close ? kClose : kKeep;
    outq_push(s->out, Seg{ch.data(), std::uint32_t(ch.size())});
    outq_push(s->out, Seg{bytes.data() + eol + 2, std::uint32_t(bytes.size() - eol - 2)});
    s->bytes_out += bytes.size() + ch.size();
    return !s->out.broken;
}

int Worker::reply_status(std::string_view bytes) {
    // "HTTP/1.x NNN ..."
    if (bytes.size() < 12) return 0;
    int v = 0;
    for (int i = 9; i < 12; ++i) {
        const char ch = bytes[std::size_t(i)];
        if (ch < '0' || ch > '9') return 0;
        v = v * 10 + (ch - '0');
    }
    return v;
}

// The proxy answers the request itself (rules, stats, no server). Keep-alive continues when the
// request had no body left unread; the rest of a body is not worth reading: the connection closes.
void Worker::h_local_reply(HttpSession* s, int status, std::string_view bytes) {
    if (bytes.empty()) bytes = http::error_reply(status, nullptr, &cfg_.frontends[s->fe].http);
    s->replied = true;
    if (s->pend_head) {
        heads_.destroy(s->pend_head);
        s->pend_head = nullptr;
    }
    st_.fe[s->fe].intercepted.inc();
    if (s->req == ReqPhase::Body) s->close_after = true;  // an unread body is not worth reading
    if (draining_) s->close_after = true;                 // the last answer on this connection
    // the arena may hold the reply: copy what is not static config data into a head buffer
    if (bytes.data() >= arena_.buf && bytes.data() < arena_.buf + sizeof arena_.buf) {
        HeadBuf* hb = new_head();
        if (!hb || bytes.size() > HeadBuf::kCap) {
            if (hb) heads_.destroy(hb);
            h_close(s);
            return;
        }
        std::memcpy(hb->data, bytes.data(), bytes.size());
        hb->len = std::uint32_t(bytes.size());
        bytes = std::string_view(hb->data, hb->len);
        // the head buffer must live until sent: hand it to the segment that holds the body
        if (h_queue_reply(s, bytes, s->close_after)) s->out.at(s->out.n - 1).hb = hb;
        else heads_.destroy(hb);
    } else {
        h_queue_reply(s, bytes, s->close_after);
    }
    s->status = reply_status(bytes);
    if (s->status == 0) s->status = status;
    h_request_done(s, true);
}

void Worker::h_reply_error(HttpSession* s, int status, const char* why) {
    (void)why;
    st_.fe[s->fe].ereq.inc();
    if (status == 408) {
        s->term[0] = 'c';
        s->term[1] = 'R';
    } else {
        s->term[0] = 'P';
        s->term[1] = 'R';
    }
    s->close_after = true;
    if (s->nreq == 0 || s->req == ReqPhase::Head) {
        ++s->nreq;
        st_.fe[s->fe].req_tot.inc();
        if (s->notes) s->notes->reqline_len = 0;
        s->t_head = r_.now_ms();
    }
    inq_drop(s->in);
    if (s->req_acc) {
        heads_.destroy(s->req_acc);
        s->req_acc = nullptr;
    }
    s->req = ReqPhase::Done;
    s->replied = true;
    const std::string_view bytes = h_error(s, status);
    h_queue_reply(s, bytes, true);
    s->status = status;
    h_request_done(s, true);
}

// A page rendered by the shard: kind 0 = the stats page (HTML or ;csv), 1 = Prometheus metrics.
void Worker::h_serve_page(HttpSession* s, const http::RequestHead& req, int kind) {
    std::string body;
    std::string ctype;
    if (p_.render_page) body = p_.render_page(kind, cfg_.frontends[s->fe].stats.uri, req.target, ctype);
    if (ctype.empty()) {
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    auto* page = new std::string;
    page->reserve(body.size() + 160);
    *page += "HTTP/1.1 200 OK\r\ncontent-type: ";
    *page += ctype;
    *page += "\r\ncache-control: no-cache\r\ncontent-length: ";
    *page += std::to_string(s->req_head_method ? 0 : body.size());
    *page += "\r\n\r\n";
    if (!s->req_head_method) *page += body;
    s->replied = true;
    if (s->pend_head) {
        heads_.destroy(s->pend_head);
        s->pend_head = nullptr;
    }
    st_.fe[s->fe].intercepted.inc();
    if (s->req == ReqPhase::Body) s->close_after = true;
    if (h_queue_reply(s, *page, s->close_after)) s->out.at(s->out.n - 1).str = page;
    else delete page;
    s->status = 200;
    h_request_done(s, true);
}

// ---------------------------------------------------------------- server connections

void Worker::c_connect(HttpConn* c) {
    const ServerSlot& srv = lbs_[std::size_t(c->be)]->server(c->server);
    c->state = HttpConn::Connecting;
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_socket_direct_alloc(sqe, srv.cfg->addr.family(), SOCK_STREAM, 0, 0);
    io_uring_sqe_set_data64(sqe, cud(kHOpSrvSocket, c));
    ++c->pending_ops;
}

void Worker::c_on_socket(HttpConn* c, int res) {
    --c->pending_ops;
    if (c->state == HttpConn::Closing) {
        if (res >= 0) {
            io_uring_sqe* sqe = r_.sqe();
            io_uring_prep_close_direct(sqe, unsigned(res));
            io_uring_sqe_set_data64(sqe, cud(kHOpSrvClose, c));
            ++c->pending_ops;
        }
        c_maybe_release(c);
        return;
    }
    if (res < 0) {
        c_connect_failed(c, res);
        return;
    }
    c->slot = res;
    const ServerSlot& srv = lbs_[std::size_t(c->be)]->server(c->server);
    c->pending_ops += connect_chain(res, srv.cfg->addr, cfg_.backends[std::size_t(c->be)].timeouts.connect,
                                    c->connect_ts, cud(kHOpSrvSockopt, c), cud(kHOpSrvConnect, c),
                                    cud(kHOpSrvTimeout, c));
}

void Worker::c_on_connect(HttpConn* c, int res) {
    --c->pending_ops;
    if (c->state == HttpConn::Closing) {
        c_maybe_release(c);
        return;
    }
    if (res != 0) {
        io_uring_sqe* sqe = r_.sqe();
        io_uring_prep_close_direct(sqe, unsigned(c->slot));
        io_uring_sqe_set_data64(sqe, cud(kHOpSrvClose, c));
        ++c->pending_ops;
        c->slot = -1;
        c_connect_failed(c, res);
        return;
    }
    c->state = HttpConn::Ready;
    c->established = true;
    ServerSlot& srv = lbs_[std::size_t(c->be)]->server(c->server);
    c_arm_recv(c);
    HttpSession* s = c->owner;
    if (!s) return;
    s->t_connected = r_.now_ms();
    s->last_srv = s->t_connected;
    const std::int64_t ct = s->t_connected - s->t_connect;
    st_.be[s->be].ctime_sum.add(std::uint64_t(ct));
    st_.be[s->be].ctime_n.inc();
    srv.c->ctime_sum.add(std::uint64_t(ct));
    srv.c->ctime_n.inc();
    h_process_request(s);
    if (s->state != HState::Active) return;
    c_send(c);
    h_maybe_rearm(s);
    h_schedule(s);
}

// Connect failed (refused, timed out, no socket): HAProxy's retries and redispatch, with the
// request (still unsent, queued on the dead connection) moved to the next attempt.
void Worker::c_connect_failed(HttpConn* c, int res) {
    HttpSession* s = c->owner;
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
    if (c->out.n > 0 && c->out.at(0).hb && !c->out.inflight) {
        Seg& sg = c->out.at(0);
        head = sg.hb;
        head->len = std::uint32_t(sg.p - head->data) + sg.len;  // untouched: nothing was sent
        sg.hb = nullptr;
    }
    // body buffers already moved to the connection cannot be replayed in order: give up on retrying
    const bool replayable = head && c->out.n == 1;
    c_close(c);
    --srv.cur;
    srv.c->inflight.dec();
    srv.c->scur.dec();
    const auto& be = cfg_.backends[std::size_t(s->be)];
    if (s->retries_left <= 0 || !replayable) {
        if (head) heads_.destroy(head);
        srv.c->econ.inc();
        st_.be[s->be].econ.inc();
        h_server_slot_freed(s->be);
        // the linked timeout cancels the connect: a timeout (s), else refused or failed (S)
        s->term[0] = res == -ECANCELED || res == -ETIMEDOUT ? 's' : 'S';
        s->term[1] = 'C';
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    s->pend_head = head;
    --s->retries_left;
    ++s->tries;
    srv.c->wretr.inc();
    st_.be[s->be].wretr.inc();
    bool redispatch = false;
    if (be.redispatch) {
        if (be.redispatch_interval < 0) redispatch = s->retries_left == -be.redispatch_interval - 1;
        else if (be.redispatch_interval > 0) redispatch = s->tries % be.redispatch_interval == 0;
    }
    h_server_slot_freed(s->be);
    const int failed = s->server;
    s->server = -1;
    if (redispatch) {
        srv.c->wredis.inc();
        st_.be[s->be].wredis.inc();
        h_assign_server(s, failed);
        return;
    }
    s->retry_server = failed;
    s->timer.kind = kHTimerRetry;
    const config::Millis ct = be.timeouts.connect;
    const config::Millis wait = (ct > 0 && ct < 1000) ? ct : 1000;
    r_.timers().schedule(&s->timer, r_.now_ms() + wait);
}

void Worker::h_server_slot_freed(int be) {
    auto& q = hqueues_[std::size_t(be)];
    while (!q.empty()) {
        HttpSession* w = q.front();
        BackendLb& lb = *lbs_[std::size_t(be)];
        sockaddr_storage src;
        const int i = lb.pick(h_pick_input(w, src), -1);
        if (i == BackendLb::kFull) return;
        q.erase(q.begin());
        w->queued = false;
        st_.be[be].qcur.dec();
        if (i == BackendLb::kNone) {
            h_local_reply(w, 503, h_error(w, 503));
            continue;
        }
        h_use_server(w, i);
        return;
    }
}

void Worker::c_arm_recv(HttpConn* c) {
    // a body being spliced reads with splice(2); the recv comes back once it is done
    if (c->recv_armed || c->eof || c->slot < 0 || c->starved || c->splice != HttpConn::NoSplice) return;
    if (c->big) {
        // single-shot: one buffer (len 0 = the selected buffer's size), see HttpConn::big
        io_uring_sqe* sqe = r_.sqe();
        io_uring_prep_recv(sqe, c->slot, nullptr, 0, 0);
        sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
        sqe->buf_group = bufs_->group();
        io_uring_sqe_set_data64(sqe, cud(kHOpSrvRecv, c));
    } else {
        queue_recv(c->slot, cud(kHOpSrvRecv, c));
    }
    ++c->pending_ops;
    c->recv_armed = true;
    c->recv_cancelling = false;
    // expected to send from now on: a pause a slow client imposed is not the server's silence
    if (c->owner) c->owner->last_srv = r_.now_ms();
}

void Worker::c_cancel_recv(HttpConn* c) {
    if (!c->recv_armed || c->recv_cancelling) return;
    queue_cancel(cud(kHOpSrvRecv, c), cud(kHOpSrvCancel, c));
    ++c->pending_ops;
    c->recv_cancelling = true;
}

void Worker::c_maybe_rearm(HttpConn* c) {
    if (c->state == HttpConn::Closing || c->recv_armed || c->state == HttpConn::Connecting) return;
    if (c->in.nbufs >= kInBufsMax) return;
    if (c->owner && c->owner->out.bytes >= kHighWaterBufs * bufs_->size()) return;
    c_arm_recv(c);
}

void Worker::c_send(HttpConn* c) {
    if (c->out.broken) {
        if (HttpSession* s = c->owner; s && s->state == HState::Active) {
            s->term[0] = 'R';
            h_close(s);  // releases c unreusable
        } else {
            c_close(c);
        }
        return;
    }
    if (c->state != HttpConn::Ready) return;
    if (c->owner && !c->out.inflight && c->out.n > 0) c->owner->last_srv = r_.now_ms();
    if (outq_send(c->out, c->slot, cud(kHOpSrvSend, c))) ++c->pending_ops;
}

void Worker::c_on_send(HttpConn* c, int res) {
    --c->pending_ops;
    if (c->state == HttpConn::Closing) {
        c->out.inflight = false;
        outq_drop(c->out);
        c_maybe_release(c);
        return;
    }
    HttpSession* s = c->owner;
    if (res < 0) {
        c->out.inflight = false;
        if (s) {
            if (h_replay(s, c, kRetryEmpty)) return;
            s->term[0] = 'S';
            h_server_failed(s, false);
        } else {
            c_close(c);
        }
        return;
    }
    outq_sent(c->out, std::uint32_t(res));
    if (c->out.n > 0) c_send(c);
    if (!s) return;
    s->last_srv = r_.now_ms();
    h_process_request(s);
    if (s->state != HState::Active) return;
    if (s->conn) c_send(s->conn);
    if (s->req == ReqPhase::Tunnel && s->cli_eof && s->conn) {
        h_tunnel_shut_server(s);
        return;
    }
    h_maybe_end_sent(s);
    if (s->state != HState::Active) return;
    h_maybe_rearm(s);
}

void Worker::c_on_recv(HttpConn* c, const shard::Cqe& e) {
    const bool more = e.flags & IORING_CQE_F_MORE;
    if (!more) {
        --c->pending_ops;
        c->recv_armed = false;
        c->recv_cancelling = false;
    }
    HttpSession* s = c->owner;
    if (e.res > 0 && (e.flags & IORING_CQE_F_BUFFER)) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        if (c->state == HttpConn::Closing || !s) {
            bufs_->recycle(bid);
            if (c->state == HttpConn::Idle) c_close(c);  // bytes on an idle connection: not reusable
            else c_maybe_release(c);
            return;
        }
        const auto n = std::uint32_t(e.res);
        c->sock_nonempty = e.flags & IORING_CQE_F_SOCK_NONEMPTY;
        s->last_srv = r_.now_ms();
        inq_push(c->in, bid, n);
        h_process_response(s);
        if (c->state == HttpConn::Closing) return;
        // a body that goes on on the buffer path reads best with a multishot recv
        if (c->big && s->conn == c && s->rsp == RspPhase::Body && c->splice == HttpConn::NoSplice) c->big = false;
        if (c->owner && (c->in.nbufs >= kInBufsMax || c->owner->out.bytes >= kHighWaterBufs * bufs_->size()))
            c_cancel_recv(c);
        else if (!more)
            c_maybe_rearm(c);
        return;
    }
    if (c->state == HttpConn::Closing) {
        c_maybe_release(c);
        return;
    }
    if (c->splice == HttpConn::Switching && s && !more && (e.res == -ENOBUFS || e.res == -ECANCELED)) {
        h_process_response(s);  // the recv has stopped: the switch to splice goes on
        return;
    }
    if (e.res == -ENOBUFS) {
        st_.shard.enobufs.inc();
        if (!c->starved) {
            c->starved = true;
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
    c->eof = true;
    if (!s) {
        c_close(c);  // an idle connection closed by the server
        return;
    }
    if (e.res < 0) {
        c->reset = true;
        st_.be[s->be].eresp.inc();
        lbs_[std::size_t(c->be)]->server(c->server).c->eresp.inc();
    }
    if (s->rsp == RspPhase::Body) {
        // Every byte the server sent before its FIN (or reset) reaches the client first: what is
        // still queued here waits for room on the client side (h_on_cli_send processes the
        // response again), and h_process_response ends the body once the queue is drained.
        h_process_response(s);
        return;
    }
    if (s->rsp == RspPhase::Tunnel) {
        h_tunnel(s, c->in, s->rsp_acc, s->out);
        h_send_client(s);
        if (s->out.n == 0) h_close(s);
        else s->close_after = true;
        return;
    }
    if (s->rsp == RspPhase::Head && !c->in.empty()) {
        h_process_response(s);  // a response that came with the close
        if (s->state != HState::Active || s->rsp != RspPhase::Head) return;
    }
    if (h_replay(s, c, kRetryEmpty)) return;
    s->term[0] = 'S';
    h_server_failed(s, false);
}

// A reused connection that ends before any byte of the response (the server closed it while it
// sat in the pool, racing our request) gets the request again on a new connection, once, when
// the request had no body: nothing of it can have been processed. HAProxy's answer to this race
// is `http-reuse safe` alone (and l7 retries); this also spares later requests of a connection.
// With `retry-on` (empty-response, junk-response, response-timeout, a status), a bodiless request is
// also sent again on a new connection while `retries` allow, as HAProxy's layer-7 retries do.
bool Worker::h_replay(HttpSession* s, HttpConn* c, std::uint32_t why) {
    HeadBuf* hb = s->replay;
    if (!hb || !c || s->rsp != RspPhase::Head || s->status != 0) return false;
    if (why == kRetryEmpty && (!c->in.empty() || s->rsp_acc)) return false;  // part of a response came
    const bool race = why == kRetryEmpty && c->reused;  // not the server's fault: does not use a retry
    if (!race) {
        if (!(be_retry_[std::size_t(s->be)] & why) || s->retries_left <= 0) return false;
        --s->retries_left;
    }
    if (s->rsp_acc) {
        heads_.destroy(s->rsp_acc);
        s->rsp_acc = nullptr;
    }
    s->rsp_scanned = 0;
    const int srvi = s->server;
    s->replay = nullptr;
    s->conn = nullptr;
    c_release(c, false);  // closes it; its queue lets go of the head
    hb->keep = false;
    if (hb->queued) return false;  // still under an in-flight send: cannot be queued twice
    auto* sc = lbs_[std::size_t(s->be)]->server(srvi).c;
    sc->wretr.inc();
    st_.be[s->be].wretr.inc();
    ++s->tries;
    s->pend_head = hb;
    s->force_new = true;
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
void Worker::h_keep_for_replay(HttpSession* s, bool reused) {
    h_drop_replay(s);
    if (s->req != ReqPhase::Done || !s->pend_head) return;
    if (!reused && (be_retry_[std::size_t(s->be)] & ~kRetryConnect) == 0) return;
    s->pend_head->keep = true;
    s->replay = s->pend_head;
}

void Worker::h_drop_replay(HttpSession* s) {
    HeadBuf* hb = s->replay;
    if (!hb) return;
    s->replay = nullptr;
    hb->keep = false;
    if (!hb->queued) heads_.destroy(hb);
}

// The server closed (or reset) its side while a response body was being forwarded, and every
// byte it sent before is queued for the client. A body delimited by the close is complete (RFC
// 9112 section 6.3); any other body is cut short.
void Worker::h_server_ended_body(HttpSession* s) {
    HttpConn* c = s->conn;
    if (s->rsp_body == http::BodyKind::UntilClose && !c->reset) {
        s->rsp = RspPhase::Done;
        s->close_after = true;
        h_send_client(s);
        h_response_done(s);
        return;
    }
    s->term[0] = 'S';
    h_server_failed(s, false);
}

// The server side failed mid-exchange: answer 502 if nothing of the response went out yet,
// else cut the client (a truncated response must never look complete): what is already queued
// for it is sent, then the connection is closed without the rest of the message.
void Worker::h_server_failed(HttpSession* s, bool bad_response) {
    if (s->be >= 0) {
        st_.be[s->be].srv_abrt.inc();
        if (s->server >= 0) {
            auto* sc = lbs_[std::size_t(s->be)]->server(s->server).c;
            sc->srv_abrt.inc();
            if (bad_response) sc->eresp.inc();
        }
        if (bad_response) st_.be[s->be].eresp.inc();
    }
    if (s->conn) {
        c_release(s->conn, false);
        s->conn = nullptr;
    }
    if (s->rsp == RspPhase::Head && s->status == 0) {
        s->term[1] = 'H';
        if (s->req_acc == nullptr && s->rsp_acc) {
            heads_.destroy(s->rsp_acc);
            s->rsp_acc = nullptr;
        }
        s->rsp = RspPhase::None;
        s->replied = true;
        s->close_after = true;
        inq_drop(s->in);
        h_queue_reply(s, h_error(s, 502), true);
        s->status = 502;
        h_request_done(s, true);
        return;
    }
    s->term[1] = 'D';
    h_log(s);
    h_drop_notes(s);
    s->server = -1;
    // the bytes already queued are a valid prefix of the response: send them, then close
    s->linger = s->req != ReqPhase::Done || !s->in.empty() || s->req_acc;
    s->close_after = true;
    s->req = ReqPhase::Done;
    s->rsp = RspPhase::None;
    h_send_client(s);
    if (s->state != HState::Active) return;
    if (s->out.n == 0) h_linger(s);
    else h_cancel_recv(s);
    h_schedule(s);
}

// ---------------------------------------------------------------- response analysis

void Worker::h_process_response(HttpSession* s) {
    for (int guard = 0; guard < 64 && s->state == HState::Active && s->conn; ++guard) {
        HttpConn* c = s->conn;
        switch (s->rsp) {
            case RspPhase::None:
                return;
            case RspPhase::Head:
                if (!h_parse_response(s)) return;
                break;
            case RspPhase::Body:
                if (c->splice == HttpConn::Splicing) {
                    h_pump(s);
                    return;
                }
                if (!h_forward_body(s, c->in, s->rsp_acc, s->out, s->rsp_body, s->rsp_left, s->rsp_chunks, false)) {
                    if (s->state != HState::Active || s->conn != c) return;
                    if (c->eof && c->in.empty() && !s->rsp_acc) {
                        h_server_ended_body(s);
                        return;
                    }
                    h_send_client(s);
                    // a long Content-Length body continues by splice (transfer.cpp)
                    if (s->state == HState::Active && s->conn == c) h_maybe_splice(s);
                    return;
                }
                if (c->splice == HttpConn::Switching) {
                    // the body ended with bytes received before the recv stopped: no splice needed
                    c->splice = HttpConn::NoSplice;
                    if (c->pipe) {
                        put_pipe(c->pipe, true);
                        c->pipe = nullptr;
                    }
                }
                h_send_client(s);
                break;
            case RspPhase::Done:
                h_response_done(s);
                return;
            case RspPhase::Sent:
                return;
            case RspPhase::Tunnel:
                h_tunnel(s, c->in, s->rsp_acc, s->out);
                h_send_client(s);
                return;
        }
    }
}

bool Worker::h_parse_response(HttpSession* s) {
    HttpConn* c = s->conn;
    const char* base;
    std::size_t len;
    bool in_place = false;
    if (!s->rsp_acc && c->in.nbufs == 1) {
        const net::BufRing::Rec& rec = bufs_->rec(c->in.head);
        base = bufs_->data(c->in.head) + rec.off;
        len = rec.len;
        in_place = true;
    } else {
        if (c->in.empty() && (!s->rsp_acc || s->rsp_acc->off == s->rsp_acc->len)) return false;
        if (!gather(c->in, s->rsp_acc)) {
            h_server_failed(s, true);
            return false;
        }
        base = s->rsp_acc->data + s->rsp_acc->off;
        len = s->rsp_acc->len - s->rsp_acc->off;
    }
    http::ResponseHead& rsp = rsp_head_;
    std::size_t scanned = s->rsp_scanned;
    const http::ParseResult pr = http::parse_response(base, len, http_limits_, s->method, rsp, scanned);
    s->rsp_scanned = std::uint32_t(scanned);
    if (pr.status == http::Status::NeedMore) {
        if (in_place && !gather(c->in, s->rsp_acc)) {
            if (h_replay(s, c, kRetryJunk)) return false;
            h_server_failed(s, true);
        }
        return false;
    }
    if (pr.status == http::Status::Error) {
        if (h_replay(s, c, kRetryJunk)) return false;
        h_server_failed(s, true);
        return false;
    }
    if (const std::uint32_t st_bit = retry_status_bit(rsp.status); st_bit && h_replay(s, c, st_bit)) return false;
    h_drop_replay(s);  // the server answered: no replay
    s->rsp_scanned = 0;
    if (s->out.n + 2 > OutQ::kCap) return false;  // room for the head first
    const bool interim = rsp.status >= 100 && rsp.status < 200 && rsp.status != 101;
    if (s->t_rsp < 0 && !interim) {
        s->t_rsp = r_.now_ms();
        const std::int64_t rt = s->t_rsp - (s->t_connected >= 0 ? s->t_connected : s->t_head);
        st_.be[s->be].rtime_sum.add(std::uint64_t(rt));
        st_.be[s->be].rtime_n.inc();
        auto* sc = lbs_[std::size_t(s->be)]->server(s->server).c;
        sc->rtime_sum.add(std::uint64_t(rt));
        sc->rtime_n.inc();
    }
    const auto& fe = cfg_.frontends[s->fe];
    const auto& bcfg = cfg_.backends[std::size_t(s->be)];
    arena_.reset();
    edits_.reset();
    http::Txn t;
    t.req = nullptr;
    t.rsp = &rsp;
    sockaddr_storage peer;
    s->peer.get(peer);
    t.src = &peer;
    t.cfg = &cfg_;
    t.arena = &arena_;
    t.edits = &edits_;
    bool denied = false;
    if (!interim) {
        t.fallback = &fe.http;
        http::Verdict v = http::run_response_rules(bcfg.http, t);
        if (v.kind == http::Verdict::Continue && fe.own_backend_id != s->be) v = http::run_response_rules(fe.http, t);
        denied = v.kind == http::Verdict::Reply;
    }
    HeadBuf* hb = new_head();
    if (!hb) {
        h_server_failed(s, false);
        return false;
    }
    const bool upgrade = rsp.status == 101 || (s->method == http::Method::Connect && rsp.status / 100 == 2);
    if (!interim && !upgrade) {
        // keep-alive towards the client: the client asked for it and the response is delimited
        if (rsp.body == http::BodyKind::UntilClose) s->close_after = true;
        // draining: the client learns from this response that the connection ends with it, so it
        // never sends a request we would not answer
        if (draining_) s->close_after = true;
    }
    Writer w{hb->data, HeadBuf::kCap};
    if (denied) {
        st_.be[s->be].dresp.inc();
        st_.fe[s->fe].dreq.inc();
        heads_.destroy(hb);
        // discard the server's response: the connection is not reusable
        c_release(c, false);
        s->conn = nullptr;
        s->rsp = RspPhase::None;
        s->replied = true;
        s->close_after = true;
        h_queue_reply(s, h_error(s, 502), true);
        s->status = 502;
        h_request_done(s, true);
        return false;
    }
    w.put(rsp.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    char code[4] = {char('0' + rsp.status / 100), char('0' + rsp.status / 10 % 10), char('0' + rsp.status % 10), 0};
    w.put(std::string_view(code, 3));
    w.put(" ");
    w.put(rsp.reason);
    w.put("\r\n");
    for (std::uint16_t i = 0; i < rsp.nheaders; ++i) {
        const http::Header& h = rsp.headers[i];
        if (h.hop || h.removed) continue;
        w.header(h.name, h.value);
    }
    if (upgrade) {
        if (rsp.status == 101) {
            w.put("Connection: upgrade\r\n");
            if (const http::Header* u = rsp.find("upgrade")) w.header("Upgrade", u->value);
        }
    } else if (!interim) {
        if (rsp.body == http::BodyKind::Chunked) w.put("Transfer-Encoding: chunked\r\n");
        if (s->close_after) w.put("Connection: close\r\n");
        else if (s->client_http10) w.put("Connection: keep-alive\r\n");
    }
    for (int i = 0; i < edits_.nadds; ++i) w.header(edits_.adds[i].name, edits_.adds[i].value);
    w.put("\r\n");
    if (w.overflow) {
        heads_.destroy(hb);
        h_server_failed(s, true);
        return false;
    }
    hb->len = w.n;
    outq_push(s->out, Seg{hb->data, hb->len, net::BufRing::kNone, hb});
    h_count_out(s, hb->len);
    // consume the head from its input
    if (in_place) {
        net::BufRing::Rec& rec = bufs_->rec(c->in.head);
        rec.off += rsp.head_len;
        rec.len -= rsp.head_len;
        c->in.bytes -= rsp.head_len;
        if (rec.len == 0) bufs_->recycle(inq_pop(c->in));
    } else {
        s->rsp_acc->off += rsp.head_len;
        if (s->rsp_acc->off == s->rsp_acc->len) {
            heads_.destroy(s->rsp_acc);
            s->rsp_acc = nullptr;
        }
    }
    if (interim) {  // 100 Continue & co: the final response follows
        s->req_expect = false;  // a client waiting for a 100 Continue may send its body now
        h_send_client(s);
        return true;
    }
    s->status = rsp.status;
    // counted as the head goes out (as HAProxy does): an exchange cut later still has its status
    count_status(st_.fe[s->fe], rsp.status);
    count_status(st_.be[s->be], rsp.status);
    count_status(*lbs_[std::size_t(s->be)]->server(s->server).c, rsp.status);
    if (!rsp.wants_keep_alive()) s->srv_close = true;
    if (upgrade) {
        s->rsp = RspPhase::Tunnel;
        s->req = ReqPhase::Tunnel;
        if (s->req_acc || !s->in.empty()) h_process_request(s);
        h_send_client(s);
        h_schedule(s);
        return true;
    }
    s->rsp_body = rsp.body;
    s->rsp_left = rsp.content_length;
    s->rsp_chunks.reset();
    s->rsp = rsp.body == http::BodyKind::None ? RspPhase::Done : RspPhase::Body;
    // no send yet: the head leaves together with the body bytes already here (one segment for a
    // small response; the Body and Done phases send)
    return true;
}

// The response is fully queued for the client.
void Worker::h_response_done(HttpSession* s) {
    HttpConn* c = s->conn;
    if (c && s->rsp != RspPhase::Sent && (s->req == ReqPhase::Body || c->out.n > 0 || c->out.inflight) &&
        !c->eof && !c->reset && !s->srv_close && c->state == HttpConn::Ready) {
        // The server answered before it had the whole request: as HAProxy does, the rest of the
        // request still goes to it (a server may answer first and read on), and the exchange
        // ends when it has all of it (h_maybe_end_sent); cutting here would lose the request's end.
        s->rsp = RspPhase::Sent;
        h_send_client(s);
        h_maybe_end_sent(s);
        return;
    }
    s->rsp = RspPhase::None;
    // the connection goes back to the pool if it is clean: request fully sent, nothing extra
    // received, server keeps it open
    // Bytes still in the socket after the response are not a response to anything we sent (one
    // request at a time): such a connection must not be pooled, or the next request sent on it
    // would be answered with them.
    const bool reusable = c && s->req == ReqPhase::Done && c->in.empty() && !s->rsp_acc && !c->eof &&
                          !c->sock_nonempty && !s->srv_close && c->out.n == 0 && c->state == HttpConn::Ready;
    if (s->req != ReqPhase::Done) s->close_after = true;  // the server answered before the body ended
    if (c) {
        if (c->spliced) c->big = true;
        c->spliced = false;
        s->conn = nullptr;
        c_release(c, reusable);
    }
    if (s->rsp_acc) {
        heads_.destroy(s->rsp_acc);
        s->rsp_acc = nullptr;
    }
    s->srv_close = false;
    h_request_done(s, false);
}

// End of one request/response exchange (served by a server or answered locally).
void Worker::h_request_done(HttpSession* s, bool local) {
    const std::int64_t now = r_.now_ms();
    const int st = s->status;
    if (local) count_status(st_.fe[s->fe], st);  // a server's status was counted with its head
    if (!local && s->be >= 0) {
        const std::int64_t tt = now - s->t_req;
        st_.be[s->be].ttime_sum.add(std::uint64_t(tt));
        st_.be[s->be].ttime_n.inc();
        if (s->server >= 0) {
            auto* sc = lbs_[std::size_t(s->be)]->server(s->server).c;
            sc->ttime_sum.add(std::uint64_t(tt));
            sc->ttime_n.inc();
        }
    } else if (local && s->be >= 0 && st >= 500) {
        count_status(st_.be[s->be], st);
    }
    h_log(s);
    h_drop_notes(s);
    h_send_client(s);
    s->server = -1;
    if (s->state != HState::Active) return;
    if (s->close_after || s->req != ReqPhase::Done) {
        // a lingering close is needed only if the client may still be sending: a request not
        // fully read, bytes already queued behind it, or an answer to a request we rejected
        s->linger = s->req != ReqPhase::Done || !s->in.empty() || s->req_acc || (local && st >= 400);
        s->req = ReqPhase::Done;  // read nothing more
        s->rsp = RspPhase::None;
        if (s->out.n == 0) h_linger(s);
        else h_cancel_recv(s);
        h_schedule(s);
        return;
    }
    // keep-alive: the next request (maybe already pipelined)
    s->req = ReqPhase::Head;
    s->rsp = RspPhase::None;
    s->replied = false;
    s->t_req = now;
    s->req_scanned = 0;
    if (s->cli_eof && s->in.empty() && !s->req_acc) {
        if (s->out.n == 0) h_close(s);
        else s->close_after = true;
        return;
    }
    h_process_request(s);
    if (s->state != HState::Active) return;
    h_maybe_rearm(s);
    h_schedule(s);
}

// A response that ended before its request (RspPhase::Sent) completes the exchange once the
// request's last byte has been taken by the server.
void Worker::h_maybe_end_sent(HttpSession* s) {
    if (s->rsp != RspPhase::Sent || s->req != ReqPhase::Done) return;
    HttpConn* c = s->conn;
    if (c && (c->out.n > 0 || c->out.inflight)) return;
    h_response_done(s);
}

// Detaches a connection from its session: back to the idle pool when reusable, else closed.
void Worker::c_release(HttpConn* c, bool reusable) {
    ServerSlot& srv = lbs_[std::size_t(c->be)]->server(c->server);
    HttpSession* s = c->owner;
    c->owner = nullptr;
    if (s && s->server >= 0) {
        --srv.cur;
        srv.c->inflight.dec();
        srv.c->scur.dec();
    }
    const auto& bcfg = cfg_.backends[std::size_t(c->be)];
    if (reusable && !stopping_ && bcfg.http_reuse == config::HttpReuse::Never && c->state == HttpConn::Ready && s &&
        s->state == HState::Active && !s->close_after) {
        // http-reuse never: never shared, but kept for the next request of the same client connection
        c->state = HttpConn::Idle;
        c->priv_owner = s;
        s->conn = c;
        const config::Millis ts = bcfg.timeouts.server;
        r_.timers().schedule(&c->timer, r_.now_ms() + (ts > 0 ? std::min<std::int64_t>(ts, kPoolIdleMs) : kPoolIdleMs));
        c_maybe_rearm(c);
    } else if (reusable && !stopping_ && bcfg.http_reuse != config::HttpReuse::Never && c->state == HttpConn::Ready &&
               srv.c->idle_conn_cur.get() < kPoolMaxPerServer) {
        c->state = HttpConn::Idle;
        core::ListNode& head = idle_[std::size_t(c->be)][std::size_t(c->server)];
        c->idle_node.next = head.next;
        c->idle_node.prev = &head;
        head.next->prev = &c->idle_node;
        head.next = &c->idle_node;
        srv.c->idle_conn_cur.inc();
        const config::Millis ts = cfg_.backends[std::size_t(c->be)].timeouts.server;
        const std::int64_t idle = ts > 0 ? std::min<std::int64_t>(ts, kPoolIdleMs) : kPoolIdleMs;
        r_.timers().schedule(&c->timer, r_.now_ms() + idle);
        c_maybe_rearm(c);
    } else {
        c_close(c);
    }
    if (s) h_server_slot_freed(c->be);
}

void Worker::c_close(HttpConn* c) {
    if (c->state == HttpConn::Closing) return;
    if (c->priv_owner) {
        c->priv_owner->conn = nullptr;
        c->priv_owner = nullptr;
    } else if (c->state == HttpConn::Idle) {
        c->idle_node.unlink();
        lbs_[std::size_t(c->be)]->server(c->server).c->idle_conn_cur.dec();
    }
    c->state = HttpConn::Closing;
    r_.timers().cancel(&c->timer);
    c->established = false;
    if (c->slot >= 0)
        c->pending_ops += cancel_and_close(c->slot, c->shut_inflight, c->deferred_close, cud(kHOpSrvCancel, c),
                                           cud(kHOpSrvClose, c));
    c_splice_close(c);
    inq_drop(c->in);
    if (!c->out.inflight) outq_drop(c->out);
    c->owner = nullptr;
    c_maybe_release(c);
}

void Worker::c_maybe_release(HttpConn* c) {
    if (c->state != HttpConn::Closing || c->pending_ops != 0 || c->released) return;
    c->released = true;
    --hconns_live_;
    creleased_.push_back(c);
}

// ---------------------------------------------------------------- timers and close

// One deadline per session, by phase (HAProxy semantics):
//  - waiting for a request head: `timeout http-request` from its first byte; before any byte of
//    a later request, `timeout http-keep-alive` (else http-request) from the end of the previous
//    one; either falls back to `timeout client`
//  - queued: `timeout queue` (else connect)
//  - tunnel: `timeout tunnel` (else client/server) on silence of both sides
//  - lingering close: one second
//  - otherwise each side's timeout counts that side's inactivity only while the side is expected
//    to act: `timeout client` while the client should send (a request body we are reading, not
//    paused by our own backpressure, not waiting for a 100 Continue) or acknowledge (bytes queued
//    for it); `timeout server` likewise while a response is awaited or read, or request bytes are
//    queued for it. A client waiting for a slow server, or a server held back because the client
//    reads slowly, is not idle. `last_cli` / `last_srv` move on every byte received or sent, and
//    when a send starts on an idle queue (so a queue filled after a long wait gets a full period).
// inlined into both callers: it runs after every completion of a session (h_schedule_now)
[[gnu::always_inline]] inline std::int64_t Worker::h_deadline(const HttpSession* s, int* why) const {
    const auto& ft = cfg_.frontends[s->fe].timeouts;
    const config::Timeouts* bt = s->be >= 0 ? &cfg_.backends[std::size_t(s->be)].timeouts : nullptr;
    if (s->shut_sent) {
        *why = 0;
        return s->last_cli + (ft.client_fin > 0 ? std::min<std::int64_t>(ft.client_fin, kLingerMs) : kLingerMs);
    }
    if (s->queued) {
        *why = 3;
        const config::Millis q = first_of(bt->queue, bt->connect, 5000);
        return s->t_queue + q;
    }
    if (s->req == ReqPhase::Tunnel) {
        *why = 4;
        const config::Millis t = bt ? first_of(bt->tunnel, ft.client, bt->server) : pos(ft.client);
        if (!s->cli_eof && !(s->conn && s->conn->eof)) return t > 0 ? std::max(s->last_cli, s->last_srv) + t : -1;
        // one direction is shut: the -fin timeouts, where set, bound each side, and a side that
        // sent its FIN is timed only while it has bytes to acknowledge
        const HttpConn* c = s->conn;
        const bool cli_on = !s->cli_eof || s->out.n > 0;
        const bool srv_on = c && (!c->eof || c->out.n > 0);
        const config::Millis tc = cli_on ? first_of(ft.client_fin, t) : 0;
        const config::Millis ts = bt && srv_on ? first_of(bt->server_fin, t) : 0;
        std::int64_t d = tc > 0 ? s->last_cli + tc : -1;
        if (ts > 0 && (d < 0 || s->last_srv + ts < d)) {
            d = s->last_srv + ts;
            *why = 7;  // the server side's
        }
        return d;
    }
    if (s->req == ReqPhase::Head && s->rsp == RspPhase::None && s->out.n == 0) {
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
    const config::Millis tc = s->cli_eof ? first_of(ft.client_fin, ft.client) : pos(ft.client);
    const bool cli_sends = s->req == ReqPhase::Body && (s->recv_armed || s->starved) && !s->req_expect;
    const bool cli_acks = s->out.n > 0 || s->cli_poll_out;
    if (tc > 0 && (cli_sends || cli_acks)) d = s->last_cli + tc;
    const HttpConn* c = s->conn;
    if (bt && c && c->state == HttpConn::Ready && s->rsp != RspPhase::None) {
        const bool srv_sends = s->rsp == RspPhase::Head ||
                               (s->rsp == RspPhase::Body && (c->recv_armed || c->starved || c->poll_in ||
                                                             c->splice == HttpConn::Switching));
        const bool srv_acks = c->out.n > 0;
        const config::Millis ts = pos(bt->server);
        if (ts > 0 && (srv_sends || srv_acks) && (d < 0 || s->last_srv + ts < d)) {
            d = s->last_srv + ts;
            *why = 6;
        }
    }
    return d;
}

void Worker::h_schedule_now(HttpSession* s) {
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

void Worker::h_on_timer(shard::Timer* t) {
    if (t->kind == kHTimerConnIdle) {
        HttpConn* c = static_cast<HttpConn*>(t->owner);
        if (c->state == HttpConn::Idle) c_close(c);
        return;
    }
    HttpSession* s = static_cast<HttpSession*>(t->owner);
    if (s->state != HState::Active) return;
    if (t->kind == kHTimerRetry) {
        const int srvi = s->retry_server;
        s->timer.kind = kHTimerClient;
        const ServerSlot& slot = lbs_[std::size_t(s->be)]->server(srvi);
        // back to the server that failed, unless it was put in drain or maintenance meanwhile
        if (slot.usable() && slot.has_room()) h_use_server(s, srvi);
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
        case 0:  // lingering close over
            h_close(s);
            return;
        case 1:  // a request head that did not complete in time
            h_reply_error(s, 408, "timeout http-request");
            return;
        case 2:  // idle keep-alive connection
            h_close(s);
            return;
        case 3: {  // no server slot in time
            auto& q = hqueues_[std::size_t(s->be)];
            q.erase(std::remove(q.begin(), q.end(), s), q.end());
            s->queued = false;
            st_.be[s->be].qcur.dec();
            s->term[0] = 's';
            s->term[1] = 'Q';
            h_local_reply(s, 503, h_error(s, 503));
            return;
        }
        case 4:  // a tunnel idle too long (or its half-closed client side)
        case 7:  // the server side of a half-closed tunnel (`timeout server-fin`)
            s->term[0] = why == 7 ? 's' : 'c';
            s->term[1] = 'D';
            h_close(s);
            return;
        case 6:  // server silent
            if (h_replay(s, s->conn, kRetryTimeout)) return;
            s->term[0] = 's';
            if (s->rsp == RspPhase::Head && s->status == 0) {
                s->term[1] = 'H';
                h_abort_reply(s, 504);
                return;
            }
            s->term[1] = 'D';
            st_.be[s->be].srv_abrt.inc();
            if (s->server >= 0) lbs_[std::size_t(s->be)]->server(s->server).c->srv_abrt.inc();
            h_log(s);
            h_close(s);
            return;
        default:  // the client did not send or acknowledge in time
            s->term[0] = 'c';
            s->term[1] = 'D';
            st_.fe[s->fe].cli_abrt.inc();
            if (s->req == ReqPhase::Body && s->status == 0 && s->out.n == 0) {
                // stalled inside its request body, nothing of a response sent yet: say so (408)
                // rather than close without a word; the server connection is not reusable
                if (s->be >= 0) st_.be[s->be].cli_abrt.inc();
                s->linger = true;
                inq_drop(s->in);
                if (s->req_acc) {
                    heads_.destroy(s->req_acc);
                    s->req_acc = nullptr;
                }
                s->req = ReqPhase::Done;
                h_abort_reply(s, 408);
                return;
            }
            h_log(s);
            h_close(s);
            return;
    }
}

// The exchange ends with the proxy's own error reply although its request went (at least in
// part) to a server: that connection is not reusable, and the client's closes after the reply.
void Worker::h_abort_reply(HttpSession* s, int status) {
    if (s->conn) {
        c_release(s->conn, false);
        s->conn = nullptr;
    }
    s->rsp = RspPhase::None;
    s->replied = true;
    s->close_after = true;
    h_queue_reply(s, h_error(s, status), true);
    s->status = status;
    h_request_done(s, true);
}

void Worker::h_close(HttpSession* s) {
    if (s->state == HState::Closing) return;
    if (s->req == ReqPhase::Tunnel && !s->logged) h_log(s);  // a tunnel is logged when it ends
    s->state = HState::Closing;
    r_.timers().cancel(&s->timer);
    if (s->queued) {
        auto& q = hqueues_[std::size_t(s->be)];
        q.erase(std::remove(q.begin(), q.end(), s), q.end());
        s->queued = false;
        st_.be[s->be].qcur.dec();
    }
    if (s->conn) {
        HttpConn* c = s->conn;
        s->conn = nullptr;
        c_release(c, false);
    }
    if (s->slot >= 0)
        s->pending_ops += cancel_and_close(s->slot, s->shut_inflight, s->deferred_close, hud(kHOpCliCancel, s),
                                           hud(kHOpCliClose, s));
    if (s->cli_fd >= 0) {
        ::close(s->cli_fd);  // the regular fd installed for splice(2); the slot's close is queued above
        s->cli_fd = -1;
    }
    inq_drop(s->in);
    if (!s->out.inflight) outq_drop(s->out);
    if (s->pending) {
        hpending_.erase(std::remove(hpending_.begin(), hpending_.end(), s), hpending_.end());
        --fe_pending_[s->fe];
        s->pending = false;
    }
    h_drop_replay(s);
    h_drop_notes(s);
    for (HeadBuf** h : {&s->req_acc, &s->rsp_acc, &s->pend_head}) {
        if (*h) {
            heads_.destroy(*h);
            *h = nullptr;
        }
    }
    if (s->counted_be) {
        st_.be[s->be].scur.dec();
        s->counted_be = false;
    }
    if (s->counted_conn) {
        s->counted_conn = false;
        --conns_;
        --fe_conns_[s->fe];
        st_.shard.conns.dec();
        st_.fe[s->fe].scur.dec();
        start_pending();
        update_accepting();
    }
    h_maybe_release(s);
}

void Worker::h_maybe_release(HttpSession* s) {
    if (s->state != HState::Closing || s->pending_ops != 0 || s->released) return;
    s->released = true;
    s->all_node.unlink();
    --live_;
    hreleased_.push_back(s);
}

void Worker::h_op_done(HttpSession* s) {
    --s->pending_ops;
    ES_ASSERT(s->pending_ops >= 0);
    h_maybe_release(s);
}

void Worker::c_op_done(HttpConn* c) {
    --c->pending_ops;
    ES_ASSERT(c->pending_ops >= 0);
    c_maybe_release(c);
}

// ---------------------------------------------------------------- dispatch, end of turn, stop

void Worker::http_on_cqe(const UserData& u, const shard::Cqe& e) {
    if (u.op <= kHOpCliClose) {
        HttpSession* s = u.ptr<HttpSession>();
        if (s->gen != u.gen || s->released) {
            stale(e);
            return;
        }
        hsched_after_ = s;
        switch (u.op) {
            case kHOpCliRecv: h_on_cli_recv(s, e); break;
            case kHOpCliSend: h_on_cli_send(s, e.res); break;
            case kHOpCliShut: h_on_cli_shut(s, e.res); break;
            case kHOpCliInstall: h_on_cli_install(s, e.res); break;
            case kHOpCliPollOut: h_on_cli_poll(s); break;
            default: hsched_after_ = nullptr; h_op_done(s); return;
        }
        // what each side is expected to do may have changed: the deadline follows (a closed
        // session is not released before the end of the turn, so `s` is still readable)
        hsched_after_ = nullptr;
        h_schedule_now(s);
        return;
    }
    HttpConn* c = u.ptr<HttpConn>();
    if (c->gen != u.gen || c->released) {
        stale(e);
        return;
    }
    HttpSession* s = c->owner;
    hsched_after_ = s;
    switch (u.op) {
        case kHOpSrvSocket: c_on_socket(c, e.res); break;
        case kHOpSrvConnect: c_on_connect(c, e.res); break;
        case kHOpSrvRecv: c_on_recv(c, e); break;
        case kHOpSrvSend: c_on_send(c, e.res); break;
        case kHOpSrvInstall: c_on_install(c, e.res); break;
        case kHOpSrvPollIn: c_on_poll(c); break;
        case kHOpSrvShut: c_on_shut(c); break;
        default: hsched_after_ = nullptr; c_op_done(c); return;
    }
    hsched_after_ = nullptr;
    if (s) h_schedule_now(s);
}

void Worker::stale(const shard::Cqe& e) {
    st_.shard.stale_cqes.inc();
    if (e.flags & IORING_CQE_F_BUFFER) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        bufs_->recycle(bid);
    }
}

void Worker::http_end_of_turn() {
    if ((!hstarved_.empty() || !cstarved_.empty()) && bufs_->available() >= bufs_->count() / 4) {
        std::vector<HttpSession*> again;
        again.swap(hstarved_);
        for (HttpSession* s : again) {
            s->starved = false;
            if (s->state == HState::Active) h_maybe_rearm(s);
            h_op_done(s);
        }
        std::vector<HttpConn*> cagain;
        cagain.swap(cstarved_);
        for (HttpConn* c : cagain) {
            c->starved = false;
            if (c->state != HttpConn::Closing) c_maybe_rearm(c);
            c_op_done(c);
        }
    }
    // whatever was queued after the close (the queue's block, its segments) goes with the object
    for (HttpSession* s : hreleased_) {
        outq_drop(s->out);
        h_drop_notes(s);
        hsessions_.destroy(s);
    }
    hreleased_.clear();
    for (HttpConn* c : creleased_) {
        outq_drop(c->out);
        hconns_.destroy(c);
    }
    creleased_.clear();
}

void Worker::http_stop() {
    for (core::ListNode* n = hall_.next; n != &hall_;) {
        core::ListNode* nx = n->next;
        HttpSession* s =
            reinterpret_cast<HttpSession*>(reinterpret_cast<char*>(n) - offsetof(HttpSession, all_node));
        h_close(s);
        n = nx;
    }
    for (auto& per_be : idle_) {
        for (core::ListNode& head : per_be) {
            while (head.linked()) {
                HttpConn* c =
                    reinterpret_cast<HttpConn*>(reinterpret_cast<char*>(head.next) - offsetof(HttpConn, idle_node));
                c_close(c);
            }
        }
    }
}

// Drain (see worker.cpp): closes the keep-alive connections whose client stayed quiet since the
// drain began or since its last exchange, each after `es.drain-idle-after` plus its own offset in
// `close-spread-time`; once no session is left, the pooled server connections go too.
void Worker::http_drain_tick() {
    const std::int64_t now = r_.now_ms();
    const config::Global& g = cfg_.global;
    for (core::ListNode* n = hall_.next; n != &hall_;) {
        core::ListNode* nx = n->next;
        HttpSession* s =
            reinterpret_cast<HttpSession*>(reinterpret_cast<char*>(n) - offsetof(HttpSession, all_node));
        n = nx;
        if (s->state != HState::Active || s->pending || s->queued || s->shut_sent) continue;
        const bool idle = s->req == ReqPhase::Head && s->rsp == RspPhase::None && s->out.n == 0 && !s->out.inflight &&
                          s->in.empty() && !(s->req_acc && s->req_acc->len > s->req_acc->off);
        if (!idle) continue;
        std::int64_t wait = pos(g.drain_idle_after);
        if (g.close_spread_time > 0)
            wait += std::int64_t((s->gen * 0x9E3779B97F4A7C15ull) >> 33) % g.close_spread_time;
        if (now - std::max(s->last_cli, drain_start_) >= wait) h_close(s);
    }
    if (live_ == 0) {
        for (auto& per_be : idle_) {
            for (core::ListNode& head : per_be) {
                while (head.linked()) {
                    HttpConn* c =
                        reinterpret_cast<HttpConn*>(reinterpret_cast<char*>(head.next) - offsetof(HttpConn, idle_node));
                    c_close(c);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- access log

void Worker::h_log(HttpSession* s) {
    s->logged = true;
    if (!p_.log_ring || !fe_formats_[s->fe]) return;
    const std::int64_t now = r_.now_ms();
    log::Fields f;
    s->peer.get(f.client);
    f.accept_epoch_ms = wall_offset_ms_ + s->t_req;
    f.frontend = cfg_.frontends[s->fe].name;
    f.backend = s->be >= 0 ? std::string_view(cfg_.backends[std::size_t(s->be)].name) : f.frontend;
    const int srvi = s->server;
    f.server = (s->be >= 0 && srvi >= 0) ? std::string_view(cfg_.backends[std::size_t(s->be)].servers[std::size_t(srvi)].name)
                                         : std::string_view("<NOSRV>");
    f.TR = s->t_head - s->t_req;
    f.Tw = s->t_queue >= 0 ? (s->t_connect >= 0 ? s->t_connect : now) - s->t_queue : (s->t_connect >= 0 ? 0 : -1);
    f.Tc = (s->t_connected >= 0 && s->t_connect >= 0) ? s->t_connected - s->t_connect : -1;
    f.Tr = (s->t_rsp >= 0 && s->t_connected >= 0) ? s->t_rsp - s->t_connected : -1;
    f.Ta = now - s->t_req;
    f.Tt = now - s->t_accept;
    f.status = s->status ? s->status : -1;
    f.bytes_read = s->bytes_out;
    f.bytes_uploaded = s->bytes_in;
    f.term[0] = s->term[0];
    f.term[1] = s->term[1];
    f.term[2] = '-';
    f.term[3] = '-';
    f.actconn = conns_;
    f.feconn = fe_conns_[s->fe];
    f.beconn = s->be >= 0 ? int(st_.be[s->be].scur.get()) : 0;
    f.retries = s->tries;
    const std::string_view rl = s->notes ? std::string_view(s->notes->reqline, s->notes->reqline_len)
                                         : std::string_view();
    f.request_line = rl;
    const std::size_t sp1 = rl.find(' ');
    if (sp1 != std::string_view::npos) {
        f.method = rl.substr(0, sp1);
        const std::size_t sp2 = rl.rfind(' ');
        if (sp2 > sp1) {
            f.uri = rl.substr(sp1 + 1, sp2 - sp1 - 1);
            f.version = rl.substr(sp2 + 1);
            const std::size_t q = f.uri.find('?');
            f.path = f.uri.substr(0, q);
            if (q != std::string_view::npos) f.query = f.uri.substr(q + 1);
        }
    }
    f.http = true;
    if (!log::emit(*p_.log_ring, std::uint16_t(s->fe), *fe_formats_[s->fe], f)) st_.fe[s->fe].log_drops.inc();
    s->bytes_in = 0;
}

}  // namespace es::proxy
