// Worker, HTTP/1.1: the client side of a session (receive, send, EOF, lingering close) and the
// proxy's own replies (rules, errors, stats pages). See http.cpp for the whole path.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/http/rules.hpp"
#include "edgeshard/net/uring_compat.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "http_internal.hpp"

namespace es::proxy {

using shard::UserData;
using namespace h1;

// ---------------------------------------------------------------- client side I/O

void Worker::h_arm_recv(HttpSession* s) {
    if (s->recv_armed || s->cli_eof || s->slot < 0 || s->starved || s->page) return;
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
    if (s->out.n == 0 && s->close_after && s->req != ReqPhase::Tunnel && s->rsp == RspPhase::None && !s->page) {
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

// A statistics page: kind 0 = the `stats uri` page (HTML, ;csv, ;json), 1 = Prometheus metrics.
// The shard does not build it (that would read every other shard's counters): it asks the control
// shard (proxy/page.hpp) and the session waits, its client read paused, until h_page_answer, the
// page deadline (h_deadline: kPageWaitMs, then 503) or its close (h_close leaves the wait list,
// and the answer, when it comes, is deleted).
void Worker::h_serve_page(HttpSession* s, const http::RequestHead& req, int kind) {
    if (s->pend_head) {
        heads_.destroy(s->pend_head);
        s->pend_head = nullptr;
    }
    if (s->req == ReqPhase::Body) s->close_after = true;  // an unread body is not worth reading
    st_.shard.page_asks.inc();
    const std::uint64_t h = p_.to_control ? pages_.add(s) : 0;
    bool asked = false;
    if (h != 0) {
        PageRequest* rq = nullptr;
        try {
            rq = new PageRequest{kind == 1 ? PageKind::Prometheus : PageKind::Stats, s->req_head_method, s->fe,
                                 r_.now_ms(), std::string(req.target)};
        } catch (const std::bad_alloc&) {
            rq = nullptr;
        }
        asked = rq && p_.to_control->post(std::size_t(p_.shard_id),
                                          shard::Message{shard::Message::kPageRequest,
                                                         reinterpret_cast<std::uint64_t>(rq), h});
        if (!asked) {
            delete rq;
            (void)pages_.take(h);
        }
    }
    if (!asked) {
        // too many sessions waiting, or the mailbox is full: the control shard is behind
        st_.shard.page_fails.inc();
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    s->page = PageWaits<HttpSession>::slot_of(h);
    h_cancel_recv(s);
    h_schedule(s);
}

// The control shard's answer: the whole response, queued as it is (the segment owns the string
// and deletes it once sent), or none (503). An answer whose session left is deleted here.
void Worker::h_page_answer(const shard::Message& m) {
    std::unique_ptr<std::string> page(reinterpret_cast<std::string*>(m.a));
    HttpSession* s = pages_.take(answer_handle(m));
    if (!s || s->state != HState::Active) return;
    s->page = 0;
    const int status = answer_status(m);
    if (!page) {
        // status 0: the control shard saw the request past the bound (this shard's timer was
        // about to fire): a timeout; otherwise it could not render the page
        if (status == 0) st_.shard.page_timeouts.inc();
        else st_.shard.page_fails.inc();
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    if (status != 200) st_.shard.page_fails.inc();
    s->replied = true;
    st_.fe[s->fe].intercepted.inc();
    if (draining_) s->close_after = true;  // the last answer on this connection
    if (h_queue_reply(s, *page, s->close_after)) s->out.at(s->out.n - 1).str = page.release();
    s->status = status;
    h_request_done(s, true);
}

}  // namespace es::proxy
