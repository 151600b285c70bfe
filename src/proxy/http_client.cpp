// Worker, HTTP/1.1: the client side of a session (receive, send, EOF, lingering close) and the
// proxy's own replies (rules, errors, stats pages). See http.cpp for the whole path.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <new>
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

// ---------------------------------------------------------------- client side I/O

void H1Proxy::h_arm_recv(H1Conn* s) {
    if (s->page) return;  // waiting for a page: the next request is read once it is answered
    const int n = io_.recv(s->cli, hud(kHOpCliRecv, s));
    if (n == 0) return;
    s->pending_ops += n;
    // expected to send from now on: a pause our backpressure imposed is not the client's silence
    s->last_cli = r_.now_ms();
}

void H1Proxy::h_cancel_recv(H1Conn* s) {
    s->pending_ops += io_.cancel_recv(s->cli, hud(kHOpCliRecv, s), hud(kHOpCliCancel, s));
}

// The client recv runs while there is room: few unconsumed buffers, and a server queue below the
// high watermark. A lingering close keeps reading (and discarding) until EOF.
void H1Proxy::h_maybe_rearm(H1Conn* s) {
    if (s->state != HState::Active || s->cli.has(net::kSideRecv)) return;
    if (!s->cli.has(net::kSideShut)) {
        if (s->in.nbufs >= kInBufsMax) return;
        if (s->has(kH1Tls)) [[unlikely]] {
            // kernel TLS: the receive waits until the records are handed over (or not)
            if (s->has(kH1KtlsWait) && s->tls->established()) {
                h_ktls_try(s);
                return;
            }
            if (s->tls->buffered_in() >= kTlsInMax) return;
        }
        if (s->conn && s->conn->out.bytes >= kHighWaterBufs * bufs_->size()) return;
    }
    h_arm_recv(s);
}

void H1Proxy::h_on_cli_recv(H1Conn* s, const shard::Cqe& e) {
    const bool more = e.flags & IORING_CQE_F_MORE;
    if (!more) {
        --s->pending_ops;
        net::SideIo::recv_ended(s->cli);
    }
    if (e.res > 0 && (e.flags & IORING_CQE_F_BUFFER)) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
        if (s->state != HState::Active || s->cli.has(net::kSideShut)) {
            bufs_->recycle(bid);  // closing, or draining a lingering close
            if (s->state == HState::Active) {
                if (!more) h_arm_recv(s);
            } else {
                h_maybe_release(s);
            }
            return;
        }
        const auto n = std::uint32_t(e.res);
        if (s->has(kH1Tls)) [[unlikely]] {  // records (not once the kernel opens them: kH1Ktls)
            h_tls_recv(s, bid, n, more);
            return;
        }
        const std::int64_t now = r_.now_ms();
        if (s->req_phase() == ReqPhase::Head && s->in.empty() && !s->req_acc) s->t_req = now;  // first byte of a request
        s->last_cli = now;
        if (s->req_phase() == ReqPhase::Body) s->st->clear(kH1SExpect);  // sending its body without waiting
        st_.fe[s->fe].bin.add(n);
        if (s->be >= 0) st_.be[s->be].bin.add(n);
        s->bytes_in += n;
        bufs_->push(s->in, bid, n);
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
        s->cli.set(net::kSideEof);
        h_on_cli_eof(s);
        return;
    }
    if (e.res == -ENOBUFS) {
        st_.shard.enobufs.inc();
        if (!s->cli.has(net::kSideStarved)) {
            s->cli.set(net::kSideStarved);
            ++s->pending_ops;
            hstarved_.push_back(s);
        }
        return;
    }
    if (e.res == -ECANCELED) {
        h_maybe_rearm(s);
        return;
    }
    if (e.res == -EIO && s->has(kH1Ktls)) {
        // kernel TLS: a record that is not application data (close_notify, another alert): the
        // client's end
        s->cli.set(net::kSideEof);
        h_on_cli_eof(s);
        return;
    }
    // reset by the client
    h_client_abort(s);
}

void H1Proxy::h_on_cli_eof(H1Conn* s) {
    if (s->cli.has(net::kSideShut)) {  // lingering close done
        h_close(s);
        return;
    }
    switch (s->req_phase()) {
        case ReqPhase::Head:
            // between requests: a normal end of a keep-alive connection (a TLS client that leaves
            // before its first request may leave handshake records unsent: still a normal end)
            if (s->in.empty() && !s->req_acc && s->rsp_phase() == RspPhase::None &&
                (s->out.n == 0 || (s->tls && s->nreq == 0))) {
                // a connection that never sent a request is logged as HAProxy 2.6 logs it (400,
                // <BADREQ>, CR) unless `option dontlognull`; a kept-alive one ends silently
                if (s->nreq == 0 && !s->st && !cfg_.frontends[s->fe].dontlognull &&
                    (!s->tls || s->tls->established()))
                    h_log_badreq(s);
                h_close(s);
                return;
            }
            if (s->rsp_phase() == RspPhase::None && !(s->st && s->st->has(kH1SReplied))) {
                if (!s->st) h_log_badreq(s);  // a partial request head: 400, <BADREQ>, CR
                h_client_abort(s);
                return;
            }
            s->set(kH1CloseAfter);
            return;
        case ReqPhase::Body:
            h_client_abort(s);
            return;
        case ReqPhase::Done:
            // the client half-closed after its request: answer it, then close
            s->set(kH1CloseAfter);
            if (s->rsp_phase() == RspPhase::None && s->out.n == 0 && s->st->has(kH1SReplied)) h_close(s);
            return;
        case ReqPhase::Tunnel:
            // half-close: the FIN goes on to the server once what the client sent before it is
            // out; the server's direction stays open until it closes (or `timeout server-fin`)
            if (!s->conn) h_close(s);
            else h_tunnel_shut_server(s);
            return;
    }
}

void H1Proxy::h_tunnel_shut_server(H1Conn* s) {
    H1SrvConn* c = s->conn;
    if (c->sock.has(net::kSideShut) || c->out.n > 0 || c->out.inflight || c->sock.slot < 0) return;
    if (c->sock.has(net::kSideEof)) {
        h_close(s);  // both directions are done
        return;
    }
    c->pending_ops += io_.shutdown(c->sock, cud(kHOpSrvShut, c));
}

void H1Proxy::c_on_shut(H1SrvConn* c) {
    --c->pending_ops;
    c->pending_ops += io_.shut_done(c->sock, cud(kHOpSrvClose, c));
    c_maybe_release(c);
}

// HAProxy's line for a client that left before a complete request head: status 400, no request
// line, termination state CR, the head's timers -1.
void H1Proxy::h_log_badreq(H1Conn* s) {
    if (!p_.log_ring || !w_.fe_formats_[s->fe]) return;
    H1Stream* x = s->st ? s->st : h_new_stream(s);
    if (!x) return;
    x->t_head = -1;
    x->status = 400;
    x->term[0] = 'C';
    x->term[1] = 'R';
    h_log(s);
}

void H1Proxy::h_client_abort(H1Conn* s) {
    st_.fe[s->fe].cli_abrt.inc();
    H1Stream* const x = s->st;  // none between exchanges: nothing to log
    if (s->be >= 0) {
        st_.be[s->be].cli_abrt.inc();
        if (x && x->server >= 0) lbs_[std::size_t(s->be)]->server(x->server).c->cli_abrt.inc();
    }
    if (x) {
        x->term[0] = 'C';
        if (!x->has(kH1SLogged)) {
            if (x->status != 0 || x->req == ReqPhase::Tunnel) x->term[1] = 'D';  // during the data phase
            h_log(s);
        }
    }
    h_close(s);
}

void H1Proxy::h_send_client(H1Conn* s) {
    if (s->out.broken) {
        if (s->state == HState::Active) {
            if (s->st) s->st->term[0] = 'R';  // a resource (memory) ran out
            h_close(s);
        }
        return;
    }
    if (!s->out.inflight) {
        if (s->has(kH1Tls)) [[unlikely]] h_tls_seal(s);  // plaintext becomes records (not with kH1Ktls)
        if (s->out.n > 0) s->last_cli = r_.now_ms();  // an idle queue starts a period
    }
    if (sendq_.send(s->out, s->cli, hud(kHOpCliSend, s))) ++s->pending_ops;
}

void H1Proxy::h_on_cli_send(H1Conn* s, int res) {
    --s->pending_ops;
    if (s->state != HState::Active) {
        s->out.inflight = false;
        sendq_.drop(s->out);
        h_maybe_release(s);
        return;
    }
    if (res < 0) {
        s->out.inflight = false;
        h_client_abort(s);
        return;
    }
    if (s->has(kH1Tls)) [[unlikely]] {
        const std::uint8_t queued = s->out.n;
        if (sendq_.sent(s->out, std::uint32_t(res))) st_.shard.short_sends.inc();
        s->tls_sealed = std::uint8_t(s->tls_sealed - (queued - s->out.n));  // records sent in full
        if (s->has(kH1KtlsWait) && s->out.n == 0) {  // the handshake's last records are out
            h_ktls_try(s);
            if (s->state != HState::Active) return;
        }
    } else if (sendq_.sent(s->out, std::uint32_t(res))) {
        st_.shard.short_sends.inc();
    }
    s->last_cli = r_.now_ms();
    if (s->out.n > 0) h_send_client(s);
    // room again for the response body
    if (s->conn && s->rsp_phase() != RspPhase::None) {
        h_process_response(s);
        if (s->state != HState::Active) return;
        if (s->conn) c_maybe_rearm(s->conn);
    }
    if (s->out.n == 0 && s->has(kH1CloseAfter) && s->req_phase() != ReqPhase::Tunnel && s->rsp_phase() == RspPhase::None && !s->page) {
        h_linger(s);
        return;
    }
    if (s->req_phase() == ReqPhase::Tunnel && s->conn && s->conn->sock.has(net::kSideEof) && s->out.n == 0) {
        h_close(s);
        return;
    }
    if (s->has(kH1Tls) && !s->st && s->out.n == 0) [[unlikely]] s->tls->trim();  // idle between exchanges: no TLS buffer held
    h_schedule(s);
}

// A connection that ends after a response: send FIN, then read and discard until the client
// closes (or a short timeout), so unread request bytes cannot turn our close into a reset that
// destroys the response in flight.
void H1Proxy::h_linger(H1Conn* s) {
    if (s->cli.has(net::kSideShut) || s->state != HState::Active) return;
    if (s->tls && h_tls_close_notify(s)) [[unlikely]] return;  // the close_notify goes first; back here once it is sent
    if (s->cli.has(net::kSideEof) || !s->has(kH1Linger)) {
        // nothing unread can be pending: close(2) sends the FIN after the response, no reset
        h_close(s);
        return;
    }
    bufs_->drop(s->in);
    s->pending_ops += io_.shutdown(s->cli, hud(kHOpCliShut, s));
    h_arm_recv(s);
    h_schedule(s);
}

void H1Proxy::h_on_cli_shut(H1Conn* s, int res) {
    --s->pending_ops;
    s->pending_ops += io_.shut_done(s->cli, hud(kHOpCliClose, s));
    if (s->state != HState::Active) {
        h_maybe_release(s);
        return;
    }
    if (res < 0) h_close(s);
}

// ---------------------------------------------------------------- local replies

std::string_view H1Proxy::h_error(H1Conn* s, int status) const {
    const config::HttpProxy* be = s->be >= 0 ? &cfg_.backends[std::size_t(s->be)].http : nullptr;
    return rules::error_reply(status, be, &cfg_.frontends[s->fe].http);
}

// Queues a complete reply with connection handling added after its status line. True when its
// last segment is queued (the caller may then hand that segment what owns the bytes).
bool H1Proxy::h_queue_reply(H1Conn* s, std::string_view bytes, bool close) {
    // a HEAD request gets the head alone (its content-length still the body's, as HAProxy sends it)
    if (s->st && s->st->has(kH1SHead)) [[unlikely]] {
        const std::size_t end = bytes.find("\r\n\r\n");
        if (end != std::string_view::npos) bytes = bytes.substr(0, end + 4);
    }
    const std::size_t eol = bytes.find("\r\n");
    if (eol == std::string_view::npos || s->out.n + 3 > OutQ::kCap) {
        s->set(kH1CloseAfter);
        return false;
    }
    static constexpr std::string_view kClose = "connection: close\r\n";
    static constexpr std::string_view kKeep = "connection: keep-alive\r\n";
    // HTTP/1.1 keeps the connection by default: the reply then goes out exactly as configured
    if (!close && !s->st->has(kH1SHttp10)) {
        sendq_.push(s->out, Seg{bytes.data(), std::uint32_t(bytes.size())});
        s->st->bytes_out += bytes.size();
        return !s->out.broken;
    }
    sendq_.push(s->out, Seg{bytes.data(), std::uint32_t(eol + 2)});
    const std::string_view ch = close ? kClose : kKeep;
    sendq_.push(s->out, Seg{ch.data(), std::uint32_t(ch.size())});
    sendq_.push(s->out, Seg{bytes.data() + eol + 2, std::uint32_t(bytes.size() - eol - 2)});
    s->st->bytes_out += bytes.size() + ch.size();
    return !s->out.broken;
}

int H1Proxy::reply_status(std::string_view bytes) {
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
void H1Proxy::h_local_reply(H1Conn* s, int status, std::string_view bytes) {
    if (bytes.empty()) bytes = rules::error_reply(status, nullptr, &cfg_.frontends[s->fe].http);
    if (!s->st && !h_new_stream(s)) {
        h_close(s);  // no memory to track even a reply
        return;
    }
    s->st->set(kH1SReplied);
    if (s->st->pend_head) {
        sendq_.blocks.destroy(s->st->pend_head);
        s->st->pend_head = nullptr;
    }
    if (h_intercepted(s)) st_.fe[s->fe].intercepted.inc();
    if (s->req_phase() == ReqPhase::Body) s->set(kH1CloseAfter);  // an unread body is not worth reading
    if (w_.draining_) s->set(kH1CloseAfter);                 // the last answer on this connection
    if (!h_queue_final(s, h_after_reply(s, bytes), status, s->has(kH1CloseAfter))) return;
    h_request_done(s, true);
}

bool H1Proxy::h_queue_final(H1Conn* s, std::string_view bytes, int status, bool close) {
    // the arena may hold the reply: copy what is not static config data into a head buffer
    if (bytes.data() >= arena_.buf && bytes.data() < arena_.buf + sizeof arena_.buf) {
        HeadBuf* hb = sendq_.new_block();
        if (!hb || bytes.size() > HeadBuf::kCap) {
            if (hb) sendq_.blocks.destroy(hb);
            h_close(s);
            return false;
        }
        std::memcpy(hb->data, bytes.data(), bytes.size());
        hb->len = std::uint32_t(bytes.size());
        bytes = std::string_view(hb->data, hb->len);
        // the head buffer must live until sent: hand it to the segment that holds the body
        if (h_queue_reply(s, bytes, close)) s->out.at(s->out.n - 1).hb = hb;
        else sendq_.blocks.destroy(hb);
    } else {
        h_queue_reply(s, bytes, close);
    }
    s->st->status = reply_status(bytes);
    if (s->st->status == 0) s->st->status = status;
    return true;
}

// The reply parsed back (it is one of ours: a configured errorfile that does not parse is sent as it
// is), the rules run on its head, then the reply written again: status line, the headers the rules left
// and added, the body.
std::string_view H1Proxy::h_after_rewrite(H1Conn* s, std::string_view bytes, const config::HttpProxy& first,
                                          const config::HttpProxy* second, std::string* big) {
    const bool in_arena = bytes.data() >= arena_.buf && bytes.data() < arena_.buf + sizeof arena_.buf;
    if (!in_arena) arena_.reset();
    edits_.reset();
    http::ResponseHead& rsp = reply_head_;
    std::size_t scanned = 0;
    if (http::parse_response(bytes.data(), bytes.size(), http_limits_, http::Method::Get, rsp, scanned).status !=
        http::Status::Done)
        return bytes;
    rules::Txn t;
    sockaddr_storage peer, dst;
    rules::VarCtx vc;
    h_txn(s, t, peer, dst, vc);
    t.rsp = &rsp;
    t.fallback = &cfg_.frontends[s->fe].http;
    UidWriter uw(this, s);
    if (!cfg_.frontends[s->fe].unique_id_format.empty()) t.uid = &uw;
    const rules::Verdict v = rules::run_after_rules(first, second, t);
    h_rule_trouble(s, t, v);
    if (v.kind == rules::Verdict::Reply) return v.bytes;  // a rewrite failed: HAProxy's 500, as it is
    const std::string_view body = bytes.substr(rsp.head_len);
    auto write = [&](auto& out) {
        out.add("HTTP/1.1 ");
        char code[3] = {char('0' + rsp.status / 100 % 10), char('0' + rsp.status / 10 % 10), char('0' + rsp.status % 10)};
        out.add(std::string_view(code, 3));
        out.add(" ");
        out.add(rsp.reason);
        out.add("\r\n");
        for (std::uint16_t i = 0; i < rsp.nheaders; ++i) {
            const http::Header& h = rsp.headers[i];
            if (h.removed) continue;
            out.add(h.name), out.add(": "), out.add(h.value), out.add("\r\n");
        }
        for (int i = 0; i < edits_.nadds; ++i)
            out.add(edits_.adds[i].name), out.add(": "), out.add(edits_.adds[i].value), out.add("\r\n");
        out.add("\r\n");
        out.add(body);
    };
    rules::ArenaWriter w(arena_);
    write(w);
    const std::string_view rebuilt = w.commit();
    if (w.ok()) return rebuilt;
    if (big == nullptr) return h_error(s, 500);
    struct StrOut {
        std::string& s;
        void add(std::string_view v) { s.append(v); }
    } so{*big};
    big->clear();
    write(so);
    return *big;
}

void H1Proxy::h_reply_error(H1Conn* s, int status, const char* why) {
    (void)why;
    st_.fe[s->fe].ereq.inc();
    // a head rejected before its exchange began gets one of its own, to be answered and logged
    const bool fresh = !s->st;
    if (fresh && !h_new_stream(s)) {
        h_close(s);
        return;
    }
    H1Stream* const x = s->st;
    x->term[0] = status == 408 ? 'c' : 'P';
    x->term[1] = 'R';
    s->set(kH1CloseAfter);
    if (fresh) {
        ++s->nreq;
        st_.fe[s->fe].req_tot.inc();
        x->t_head = -1;  // no head was read: the log's TR and Tq are -1 (HAProxy's <BADREQ>)
    }
    bufs_->drop(s->in);
    if (s->req_acc) {
        sendq_.blocks.destroy(s->req_acc);
        s->req_acc = nullptr;
    }
    s->st->req = ReqPhase::Done;
    s->st->set(kH1SReplied);
    const std::string_view bytes = h_error(s, status);
    h_queue_reply(s, bytes, true);
    s->st->status = status;
    h_request_done(s, true);
}

// A statistics page: kind 0 = the `stats uri` page (HTML, ;csv, ;json), 1 = Prometheus metrics.
// The shard does not build it (that would read every other shard's counters): it asks the control
// shard (proxy/page.hpp) and the session waits, its client read paused, until h_page_answer, the
// page deadline (h_deadline: kPageWaitMs, then 503) or its close (h_close leaves the wait list,
// and the answer, when it comes, is deleted).
void H1Proxy::h_serve_page(H1Conn* s, const http::RequestHead& req, int kind, int backend, bool admin) {
    if (s->st->pend_head) {
        sendq_.blocks.destroy(s->st->pend_head);
        s->st->pend_head = nullptr;
    }
    if (s->req_phase() == ReqPhase::Body) s->set(kH1CloseAfter);  // an unread body is not worth reading
    PageRequest* rq = nullptr;
    try {
        rq = new PageRequest;
        rq->kind = kind == 1 ? PageKind::Prometheus : PageKind::Stats;
        rq->head = s->st->has(kH1SHead);
        rq->frontend = s->fe;
        rq->target.assign(req.target);
        rq->backend = backend;
        rq->admin = admin;
    } catch (const std::bad_alloc&) {
        delete rq;
        rq = nullptr;
    }
    h_ask_page(s, rq);
}

// Sends the page request (null: none could be made) to the control shard; the session waits for
// the answer with its client's reads stopped.
void H1Proxy::h_ask_page(H1Conn* s, PageRequest* rq) {
    st_.shard.page_asks.inc();
    const std::uint64_t h = rq && p_.to_control ? pages_.add(s) : 0;
    bool asked = false;
    if (h != 0) {
        rq->asked_ms = r_.now_ms();
        asked = p_.to_control->post(std::size_t(p_.shard_id),
                                    shard::Message{shard::Message::kPageRequest, reinterpret_cast<std::uint64_t>(rq), h});
        if (!asked) (void)pages_.take(h);
    }
    if (!asked) {
        delete rq;
        // too many sessions waiting, or the mailbox is full: the control shard is behind
        st_.shard.page_fails.inc();
        h_local_reply(s, 503, h_error(s, 503));
        return;
    }
    s->page = PageWaits<H1Conn>::slot_of(h);
    h_cancel_recv(s);
    h_schedule(s);
}

// The control shard's answer: the whole response, queued as it is (the segment owns the string
// and deletes it once sent), or none (503). An answer whose session left is deleted here.
void H1Proxy::h_page_answer(const shard::Message& m) {
    std::unique_ptr<std::string> page(reinterpret_cast<std::string*>(m.a));
    H1Conn* s = pages_.take(answer_handle(m));
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
    if (status >= 500) st_.shard.page_fails.inc();
    s->st->set(kH1SReplied);
    // HAProxy counts a page its frontend answered as intercepted; one a backend answered counts as
    // that backend's request (its BACKEND row)
    if (h_intercepted(s)) st_.fe[s->fe].intercepted.inc();
    if (w_.draining_) s->set(kH1CloseAfter);  // the last answer on this connection
    const config::HttpProxy* first = nullptr;
    const config::HttpProxy* second = nullptr;
    if (h_after_lists(s, first, second)) [[unlikely]] {
        // http-after-response runs on the page too (HAProxy skips only the http-response rules there)
        std::unique_ptr<std::string> out;
        try {
            out = std::make_unique<std::string>();
        } catch (const std::bad_alloc&) {
            h_close(s);
            return;
        }
        const std::string_view b = h_after_rewrite(s, *page, *first, second, out.get());
        if (b.data() == out->data()) {
            page = std::move(out);
        } else if (b.data() != page->data()) {  // rebuilt in the arena, or the 500 of a failed rewrite
            if (!h_queue_final(s, b, status, s->has(kH1CloseAfter))) return;
            h_request_done(s, true);
            return;
        }
        s->st->status = reply_status(*page);
        if (s->st->status == 0) s->st->status = status;
    } else {
        s->st->status = status;
    }
    if (h_queue_reply(s, *page, s->has(kH1CloseAfter))) s->out.at(s->out.n - 1).str = page.release();
    h_request_done(s, true);
}

}  // namespace es::proxy
