// Worker, HTTP/1.1: response analysis and the end of an exchange (pooling or closing the server
// connection, keep-alive or close towards the client). See http.cpp for the whole path.
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

// ---------------------------------------------------------------- response analysis

void H1Proxy::h_process_response(H1Conn* s) {
    if (s->conn && s->conn->tls) [[unlikely]] {
        h_process_response_tls(s);
        return;
    }
    h_process_response_loop(s);
}

void H1Proxy::h_process_response_loop(H1Conn* s) {
    for (int guard = 0; guard < 64 && s->state == HState::Active && s->conn; ++guard) {
        H1SrvConn* c = s->conn;
        switch (s->rsp_phase()) {
            case RspPhase::None:
                return;
            case RspPhase::Head:
                if (!h_parse_response(s)) return;
                break;
            case RspPhase::Body:
                if (c->splice == H1SrvConn::Splicing) {
                    h_pump(s);
                    return;
                }
                if (!h_forward_body(s, c->in, s->st->rsp_acc, s->out, s->st->rsp_body, s->st->rsp_left, s->st->rsp_chunks, false)) {
                    if (s->state != HState::Active || s->conn != c) return;
                    if (c->sock.has(net::kSideEof) && c->in.empty() && !s->st->rsp_acc) {
                        h_server_ended_body(s);
                        return;
                    }
                    h_send_client(s);
                    // a long Content-Length body continues by splice (transfer.cpp)
                    if (s->state == HState::Active && s->conn == c) h_maybe_splice(s);
                    return;
                }
                if (c->splice == H1SrvConn::Switching) {
                    // the body ended with bytes received before the recv stopped: no splice needed
                    c->splice = H1SrvConn::NoSplice;
                    if (c->pipe) {
                        w_.put_pipe(c->pipe, true);
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
                h_tunnel(s, c->in, s->st->rsp_acc, s->out);
                h_send_client(s);
                return;
        }
    }
}

bool H1Proxy::h_parse_response(H1Conn* s) {
    H1SrvConn* c = s->conn;
    const char* base;
    std::size_t len;
    bool in_place = false;
    if (!s->st->rsp_acc && c->in.nbufs == 1) {
        const net::BufRing::Rec& rec = bufs_->rec(c->in.head);
        base = bufs_->data(c->in.head) + rec.off;
        len = rec.len;
        in_place = true;
    } else {
        if (c->in.empty() && (!s->st->rsp_acc || s->st->rsp_acc->off == s->st->rsp_acc->len)) return false;
        if (!gather(c->in, s->st->rsp_acc)) {
            h_server_failed(s, true);
            return false;
        }
        base = s->st->rsp_acc->data + s->st->rsp_acc->off;
        len = s->st->rsp_acc->len - s->st->rsp_acc->off;
    }
    http::ResponseHead& rsp = rsp_head_;
    std::size_t scanned = s->st->rsp_scanned;
    const http::ParseResult pr = http::parse_response(base, len, http_limits_, s->st->method, rsp, scanned);
    s->st->rsp_scanned = std::uint32_t(scanned);
    if (pr.status == http::Status::NeedMore) {
        if (in_place && !gather(c->in, s->st->rsp_acc)) {
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
    observe(s->be, s->st->server, shard::observed_status(rsp.status));
    s->st->rsp_scanned = 0;
    if (s->out.n + 2 > OutQ::kCap) return false;  // room for the head first
    const bool interim = rsp.status >= 100 && rsp.status < 200 && rsp.status != 101;
    if (s->st->t_rsp < 0 && !interim) {
        s->st->t_rsp = r_.now_ms();
        const std::int64_t rt = s->st->t_rsp - (s->st->t_connected >= 0 ? s->st->t_connected : s->st->t_head);
        stats::BackendCounters& bc = st_.be[s->be];
        stats::add_sample(bc.rtime_sum, bc.rtime_n, bc.rtime_max, rt);
        auto* sc = lbs_[std::size_t(s->be)]->server(s->st->server).c;
        stats::add_sample(sc->rtime_sum, sc->rtime_n, sc->rtime_max, rt);
    }
    const auto& fe = cfg_.frontends[s->fe];
    const auto& bcfg = cfg_.backends[std::size_t(s->be)];
    arena_.reset();
    edits_.reset();
    if (s->vars && !interim) [[unlikely]] s->vars->end_request(cfg_);  // the response's rules see no req.* variable
    rules::Txn t;
    sockaddr_storage peer, dst;
    rules::VarCtx vc;
    h_txn(s, t, peer, dst, vc);
    t.rsp = &rsp;
    bool denied = false;
    rules::StickCtx sc;
    t.stick = w_.stick_ctx(sc, &s->trk, true);
    if (t.stick && !interim) [[unlikely]] {
        sc.status = rsp.status;
        if (s->trk && stick::http_err_status(rsp.status)) w_.stick().count_http_err(*s->trk, sc.now);
        if (s->trk && stick::http_fail_status(rsp.status)) w_.stick().count_http_fail(*s->trk, sc.now);
    }
    UidWriter uw(this, s);
    if (!cfg_.frontends[s->fe].unique_id_format.empty()) [[unlikely]] t.uid = &uw;
    CapWriter cw(this, s);
    if (!interim && h_captures(s) && s->st->notes) [[unlikely]] {
        h_capture_head(s, rsp, true);  // before any rule (HAProxy's)
        t.captures = &cw;
    }
    if (!interim && !bcfg.tcp_rsp_rules.empty()) [[unlikely]] {
        // the backend's tcp-response content rules, once per response, before its http-response ones: no raw bytes
        // here (res.payload gives none), res.len is what came of the response so far (HAProxy's HTX size)
        t.payload_response = t.payload_http = true;
        t.payload_size = len;
        t.payload_final = true;
        const rules::TcpVerdict tv = rules::run_tcp_rules(bcfg.tcp_rsp_rules, bcfg.http.acls, t, nullptr, true);
        t.payload_response = t.payload_http = false;
        if (tv == rules::TcpVerdict::Reject) {  // HAProxy's: the client gets nothing and is closed, no 502
            st_.fe[s->fe].dresp.inc();
            st_.be[s->be].dresp.inc();
            if (s->st->server >= 0) lbs_[std::size_t(s->be)]->server(s->st->server).c->dresp.inc();
            h_close(s);
            return false;
        }
        if (tv == rules::TcpVerdict::Close) s->set(kH1CloseAfter);  // this response, then the connection ends
    }
    std::string_view reply;     // denied: the reply instead of the server's response
    bool after_failed = false;  // a rewrite of http-after-response failed: its 500 goes as it is
    bool counts_deny = false;   // an http-response deny (a return is not one)
    if (!interim) {
        if (bcfg.stores_response) [[unlikely]]
            w_.stick_store_response(std::uint32_t(s->be), s->st->server, t);
        t.fallback = &fe.http;
        rules::Verdict v = rules::run_response_rules(bcfg.http, t);
        if (v.kind == rules::Verdict::Continue && fe.own_backend_id != s->be) v = rules::run_response_rules(fe.http, t);
        h_rule_trouble(s, t, v);
        denied = v.kind == rules::Verdict::Reply;
        counts_deny = v.denied;
        reply = v.bytes;
        const config::HttpProxy* first = nullptr;
        const config::HttpProxy* second = nullptr;
        if (!denied && h_after_lists(s, first, second)) [[unlikely]] {
            v = rules::run_after_rules(*first, second, t);
            h_rule_trouble(s, t, v);
            after_failed = denied = v.kind == rules::Verdict::Reply;
            reply = v.bytes;
        }
    }
    HeadBuf* hb = sendq_.new_block();
    if (!hb) {
        h_server_failed(s, false);
        return false;
    }
    const bool upgrade = rsp.status == 101 || (s->st->method == http::Method::Connect && rsp.status / 100 == 2);
    if (!interim && !upgrade) {
        // keep-alive towards the client: the client asked for it and the response is delimited
        if (rsp.body == http::BodyKind::UntilClose) s->set(kH1CloseAfter);
        // draining: the client learns from this response that the connection ends with it, so it
        // never sends a request we would not answer
        if (w_.draining_) s->set(kH1CloseAfter);
    }
    Writer w{hb->data, HeadBuf::kCap};
    if (denied) {
        if (counts_deny && !after_failed) {
            st_.be[s->be].dresp.inc();
            st_.fe[s->fe].dreq.inc();
        }
        sendq_.blocks.destroy(hb);
        // discard the server's response: the connection is not reusable
        c_release(c, false);
        s->conn = nullptr;
        s->st->rsp = RspPhase::None;
        s->st->set(kH1SReplied);
        s->set(kH1CloseAfter);
        if (reply.empty()) reply = h_error(s, 502);
        // (the server's response is discarded unread: neither connection is kept)
        if (!h_queue_final(s, after_failed ? reply : h_after_reply(s, reply), 502, true)) return false;
        h_request_done(s, true);
        return false;
    }
    w.put(rsp.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    char code[4] = {char('0' + rsp.status / 100), char('0' + rsp.status / 10 % 10), char('0' + rsp.status % 10), 0};
    w.put(std::string_view(code, 3));
    w.put(" ");
    w.put(rsp.reason);
    w.put("\r\n");
    const bool ck = bcfg.cookie.mode != config::CookieSpec::Mode::None && !interim && s->st->server >= 0;
    if (ck) [[unlikely]] {
        for (std::uint16_t i = 0; i < rsp.nheaders; ++i) {
            const http::Header& h = rsp.headers[i];
            if (h.hop || h.removed) continue;
            if (http::iequals(h.name, "set-cookie")) h_cookie_server_set(s, h, w);
            else w.header(h.name, h.value);
        }
    } else {
        for (std::uint16_t i = 0; i < rsp.nheaders; ++i) {
            const http::Header& h = rsp.headers[i];
            if (h.hop || h.removed) continue;
            w.header(h.name, h.value);
        }
    }
    if (upgrade) {
        if (rsp.status == 101) {
            w.put("Connection: upgrade\r\n");
            if (const http::Header* u = rsp.find("upgrade")) w.header("Upgrade", u->value);
        }
    } else if (!interim) {
        if (rsp.body == http::BodyKind::Chunked) w.put("Transfer-Encoding: chunked\r\n");
        if (s->has(kH1CloseAfter)) w.put("Connection: close\r\n");
        else if (s->st->has(kH1SHttp10)) w.put("Connection: keep-alive\r\n");
    }
    for (int i = 0; i < edits_.nadds; ++i) w.header(edits_.adds[i].name, edits_.adds[i].value);
    if (ck) [[unlikely]] h_cookie_insert(s, rsp, w);
    w.put("\r\n");
    if (w.overflow) {
        sendq_.blocks.destroy(hb);
        h_server_failed(s, true);
        return false;
    }
    hb->len = w.n;
    sendq_.push(s->out, Seg{hb->data, hb->len, net::BufRing::kNone, hb});
    h_count_out(s, hb->len);
    // consume the head from its input
    if (in_place) {
        net::BufRing::Rec& rec = bufs_->rec(c->in.head);
        rec.off += rsp.head_len;
        rec.len -= rsp.head_len;
        c->in.bytes -= rsp.head_len;
        if (rec.len == 0) bufs_->recycle(bufs_->pop(c->in));
    } else {
        s->st->rsp_acc->off += rsp.head_len;
        if (s->st->rsp_acc->off == s->st->rsp_acc->len) {
            sendq_.blocks.destroy(s->st->rsp_acc);
            s->st->rsp_acc = nullptr;
        }
    }
    if (interim) {  // 100 Continue & co: the final response follows
        s->st->clear(kH1SExpect);  // a client waiting for a 100 Continue may send its body now
        h_send_client(s);
        return true;
    }
    s->st->status = rsp.status;
    // counted as the head goes out (as HAProxy does): an exchange cut later still has its status
    count_status(st_.fe[s->fe], rsp.status);
    count_status(st_.be[s->be], rsp.status);
    count_status(*lbs_[std::size_t(s->be)]->server(s->st->server).c, rsp.status);
    if (!rsp.wants_keep_alive()) s->st->set(kH1SSrvClose);
    if (upgrade) {
        s->st->rsp = RspPhase::Tunnel;
        s->st->req = ReqPhase::Tunnel;
        if (s->req_acc || !s->in.empty()) h_process_request(s);
        h_send_client(s);
        h_schedule(s);
        return true;
    }
    s->st->rsp_body = rsp.body;
    s->st->rsp_left = rsp.content_length;
    s->st->rsp_chunks.reset();
    s->st->rsp = rsp.body == http::BodyKind::None ? RspPhase::Done : RspPhase::Body;
    // no send yet: the head leaves together with the body bytes already here (one segment for a
    // small response; the Body and Done phases send)
    return true;
}

// The response is fully queued for the client.
void H1Proxy::h_response_done(H1Conn* s) {
    H1SrvConn* c = s->conn;
    if (c && s->rsp_phase() != RspPhase::Sent && (s->req_phase() == ReqPhase::Body || c->out.n > 0 || c->out.inflight) &&
        !c->sock.has(net::kSideEof) && !c->sock.has(net::kSideReset) && !s->st->has(kH1SSrvClose) && c->state == H1SrvConn::Ready) {
        // The server answered before it had the whole request: as HAProxy does, the rest of the
        // request still goes to it (a server may answer first and read on), and the exchange
        // ends when it has all of it (h_maybe_end_sent); cutting here would lose the request's end.
        s->st->rsp = RspPhase::Sent;
        h_send_client(s);
        h_maybe_end_sent(s);
        return;
    }
    s->st->rsp = RspPhase::None;
    // the connection goes back to the pool if it is clean: request fully sent, nothing extra
    // received, server keeps it open
    // Bytes still in the socket after the response are not a response to anything we sent (one
    // request at a time): such a connection must not be pooled, or the next request sent on it
    // would be answered with them.
    const bool reusable = c && s->req_phase() == ReqPhase::Done && c->in.empty() && !s->st->rsp_acc && !c->sock.has(net::kSideEof) &&
                          !c->sock.has(net::kSideSockNonEmpty) && !s->st->has(kH1SSrvClose) && c->out.n == 0 && c->state == H1SrvConn::Ready;
    if (s->req_phase() != ReqPhase::Done) s->set(kH1CloseAfter);  // the server answered before the body ended
    if (c) {
        if (c->has(kC1Spliced)) c->set(kC1Big);
        c->clear(kC1Spliced);
        s->conn = nullptr;
        c_release(c, reusable);
    }
    if (s->st->rsp_acc) {
        sendq_.blocks.destroy(s->st->rsp_acc);
        s->st->rsp_acc = nullptr;
    }
    s->st->clear(kH1SSrvClose);
    h_request_done(s, false);
}

// End of one request/response exchange (served by a server or answered locally).
void H1Proxy::h_request_done(H1Conn* s, bool local) {
    const std::int64_t now = r_.now_ms();
    const int st = s->st->status;
    if (local) count_status(st_.fe[s->fe], st);  // a server's status was counted with its head
    if (!local && s->be >= 0) {
        const std::int64_t tt = now - s->t_req;
        stats::BackendCounters& bc = st_.be[s->be];
        stats::add_sample(bc.ttime_sum, bc.ttime_n, bc.ttime_max, tt);
        if (s->st->server >= 0) {
            auto* sc = lbs_[std::size_t(s->be)]->server(s->st->server).c;
            stats::add_sample(sc->ttime_sum, sc->ttime_n, sc->ttime_max, tt);
        }
    } else if (local && s->be >= 0 && (st >= 500 || s->st->has(kH1SStatsBe))) {
        count_status(st_.be[s->be], st);  // a backend's own page counts there, as HAProxy's
    }
    if (s->has(kH1CountedBe)) {  // the request leaves its backend (HAProxy's stream ends)
        st_.be[s->be].scur.dec();
        s->clear(kH1CountedBe);
    }
    const std::uint64_t bytes_in = s->bytes_in;
    h_log(s);
    s->bytes_in = 0;  // (what came since this exchange's log line; the log cleared it if it logs)
    if (s->trk) [[unlikely]] h_stick_done(s, st, local, bytes_in);
    if (s->vars) [[unlikely]] s->vars->end_exchange();
    h_drop_notes(s);
    h_send_client(s);
    s->st->server = -1;
    if (s->state != HState::Active) return;
    if (s->has(kH1CloseAfter) || s->req_phase() != ReqPhase::Done) {
        // a lingering close is needed only if the client may still be sending: a request not
        // fully read, bytes already queued behind it, or an answer to a request we rejected
        s->set_to(kH1Linger, s->req_phase() != ReqPhase::Done || !s->in.empty() || s->req_acc || (local && st >= 400));
        s->st->req = ReqPhase::Done;  // read nothing more
        s->st->rsp = RspPhase::None;
        if (s->out.n == 0) h_linger(s);
        else h_cancel_recv(s);
        h_schedule(s);
        return;
    }
    // keep-alive: the exchange is over (its stream goes back to the pool: an idle connection
    // holds none); the next request, maybe already pipelined, starts a new one
    h_end_stream(s);
    s->t_req = s->t_ready = now;
    s->req_scanned = 0;
    if (s->cli.has(net::kSideEof) && s->in.empty() && !s->req_acc) {
        if (s->out.n == 0) h_close(s);
        else s->set(kH1CloseAfter);
        return;
    }
    h_process_request(s);
    if (s->state != HState::Active) return;
    h_maybe_rearm(s);
    h_schedule(s);
}

// A response that ended before its request (RspPhase::Sent) completes the exchange once the
// request's last byte has been taken by the server.
void H1Proxy::h_maybe_end_sent(H1Conn* s) {
    if (s->rsp_phase() != RspPhase::Sent || s->req_phase() != ReqPhase::Done) return;
    H1SrvConn* c = s->conn;
    if (c && (c->out.n > 0 || c->out.inflight)) return;
    h_response_done(s);
}

// Detaches a connection from its session: back to the idle pool when reusable, else closed.
void H1Proxy::c_release(H1SrvConn* c, bool reusable) {
    ServerSlot& srv = lbs_[std::size_t(c->be)]->server(c->server);
    H1Conn* s = c->owner;
    c->owner = nullptr;
    if (s && s->st && s->st->server >= 0) {
        --srv.cur;
        srv.c->inflight.dec();
        srv.c->scur.dec();
    }
    const auto& bcfg = cfg_.backends[std::size_t(c->be)];
    // a connection that began with a PROXY header speaks for this client only (HAProxy 2.6 hashes
    // the header into the connection's identity): kept for it as with http-reuse never
    const bool priv = bcfg.http_reuse == config::HttpReuse::Never || srv.cfg->send_proxy;
    if (reusable && !w_.stopping_ && priv && c->state == H1SrvConn::Ready && s &&
        s->state == HState::Active && !s->has(kH1CloseAfter)) {
        // http-reuse never: never shared, but kept for the next request of the same client connection
        c->state = H1SrvConn::Idle;
        c->priv_owner = s;
        s->conn = c;
        const config::Millis ts = bcfg.timeouts.server;
        r_.timers().schedule(&c->timer, r_.now_ms() + (ts > 0 ? std::min<std::int64_t>(ts, kPoolIdleMs) : kPoolIdleMs));
        c_maybe_rearm(c);
    } else if (reusable && !w_.stopping_ && !priv && c->state == H1SrvConn::Ready &&
               srv.c->idle_conn_cur.get() < kPoolMaxPerServer && (!c->tls || c->tls->buffered_in() == 0)) {
        c->state = H1SrvConn::Idle;
        if (c->tls) c->tls->trim();  // an idle connection holds no TLS buffer
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

void H1Proxy::c_close(H1SrvConn* c) {
    if (c->state == H1SrvConn::Closing) return;
    if (c->priv_owner) {
        c->priv_owner->conn = nullptr;
        c->priv_owner = nullptr;
    } else if (c->state == H1SrvConn::Idle) {
        c->idle_node.unlink();
        lbs_[std::size_t(c->be)]->server(c->server).c->idle_conn_cur.dec();
    }
    c->state = H1SrvConn::Closing;
    r_.timers().cancel(&c->timer);
    c->clear(kC1Established);
    c->pending_ops += io_.close(c->sock, cud(kHOpSrvCancel, c), cud(kHOpSrvClose, c));
    c_splice_close(c);
    bufs_->drop(c->in);
    if (!c->out.inflight) sendq_.drop(c->out);
    c->owner = nullptr;
    c_maybe_release(c);
}

void H1Proxy::c_maybe_release(H1SrvConn* c) {
    if (c->state != H1SrvConn::Closing || c->pending_ops != 0 || c->has(kC1Released)) return;
    c->set(kC1Released);
    --hconns_live_;
    creleased_.push_back(c);
}

// The exchange is over for the stick tables: its bytes count, what it tracked is given back
// (conn_cur), and a 5xx the proxy answered itself counts as a failure (HAProxy's server errors).
void H1Proxy::h_stick_done(H1Conn* s, int status, bool local, std::uint64_t bytes_in) {
    stick::Store& store = w_.stick();
    const std::int64_t now = r_.now_ms();
    if (local && stick::http_fail_status(status)) store.count_http_fail(*s->trk, now);
    store.count_bytes(*s->trk, bytes_in, s->st->bytes_out, now);
    store.end_stream(*s->trk, now);
}

}  // namespace es::proxy
