// Worker: the HTTP/1.1 path (DESIGN.md §3). One H1Conn per client connection, one H1SrvConn
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
//
// Files: http.cpp (setup, queues, dispatch, end of turn, access log), http_client.cpp (client
// side I/O, local replies), http_request.cpp (request analysis, bodies, tunnels), http_server.cpp
// (server connections), http_response.cpp (response analysis, end of an exchange),
// http_timers.cpp (deadlines, timers, close), transfer.cpp (response bodies by splice).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <map>
#include <new>
#include <stdexcept>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/shard/uring_compat.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "http_internal.hpp"

namespace es::proxy {

using shard::UserData;
using namespace h1;

// ---------------------------------------------------------------- setup

std::uint32_t H1Proxy::retry_status_bit(int status) {
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

H1Proxy::H1Proxy(Worker& w)
    : ShardCtx(w),
      hsessions_("http_session", std::uint64_t(w.p_.conn_limit) + 1024),
      hconns_("http_conn"),
      sendq_(w.tls_->sendq) {
    hqueues_.resize(cfg_.backends.size());
    http_init();
    http_init_captures();
}

void H1Proxy::pools(std::vector<pool::RawPool*>& out) {
    for (pool::RawPool* rp : {&hsessions_.raw(), &streams_.raw(), &hconns_.raw(), &sendq_.blocks.raw(), &sendq_.outblocks.raw(),
                              &notes_.raw()})
        out.push_back(rp);
    if (caps_pool_) out.push_back(caps_pool_.get());
}

// Client connections accepted beyond a limit start, in order, as the limits leave room.
void H1Proxy::start_pending() {
    w_.start_waiting(hpending_, [this](H1Conn* s) {
        s->clear(kH1Pending);
        h_start(s);
    });
}

void H1Proxy::http_init() {
    // retry-on, as bits (HAProxy's tokens; conn-failure is what the connect path always retries)
    for (const auto& b : cfg_.backends) {
        std::uint32_t m = 0;
        for (const auto& t : b.retry_on) {
            if (t == "conn-failure") m |= kRetryConnect;
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

void H1Proxy::http_accept(int slot, std::uint32_t fe, const sockaddr_storage* peer, int bind, PpInfo* pp,
                          stick::Refs* trk) {
    H1Conn* s = w_.stopping_ ? nullptr : hsessions_.make();
    const tls::BindTls* tb = w_.tls_->bind(fe, bind);
    if (s && tb) {
        if ((s->tls = w_.tls_->accept_conn(*tb))) {
            s->set(kH1Tls);
            if (tb->ktls()) [[unlikely]] s->set(kH1KtlsWait);  // offered to the kernel after the handshake
        } else {
            hsessions_.destroy(s);
            s = nullptr;
        }
    }
    if (!s) {
        io_.close_slot(slot, UserData::pack_raw(kOpCancelAccept, 0, 0));
        st_.fe[fe].dcon.inc();
        w_.pp_free(pp);
        w_.stick_end(trk, 0, 0);
        return;
    }
    s->gen = ++w_.gen_;
    s->fe = fe;
    s->pp = pp;
    s->trk = trk;
    s->cli.slot = slot;
    s->timer.owner = s;
    s->timer.kind = kHTimerClient;
    if (peer) s->peer.set(*peer);
    const std::int64_t now = r_.now_ms();
    s->t_accept = s->t_req = s->t_ready = s->last_cli = now;
    ++w_.live_;
    s->all_node.link_before(hall_);
    // limits: HTTP sessions count towards the same shard and frontend limits as L4 sessions; one
    // accepted in the same batch as a limit was reached waits, unread, until a slot frees
    if (!w_.may_start(fe)) {
        s->set(kH1Pending);
        hpending_.push_back(s);
        ++w_.fe_pending_[fe];
        return;
    }
    h_start(s);
}

void H1Proxy::adopt(const net::ConnSide& cli, std::uint32_t fe, const sockaddr_storage& peer, PpInfo* pp,
                    stick::Refs* trk, rules::Vars* vars, int be, std::string_view first, net::BufChain& rest,
                    std::int64_t t_accept) {
    H1Conn* s = w_.stopping_ ? nullptr : hsessions_.make();
    HeadBuf* acc = nullptr;
    if (s && !first.empty()) {
        acc = first.size() <= HeadBuf::kCap ? sendq_.new_block() : nullptr;
        if (!acc) {
            hsessions_.destroy(s);
            s = nullptr;
        } else {
            std::memcpy(acc->data, first.data(), first.size());
            acc->len = std::uint32_t(first.size());
            acc->off = 0;
        }
    }
    if (!s) {
        io_.close_slot(cli.slot, UserData::pack_raw(kOpCancelAccept, 0, 0));
        bufs_->drop(rest);
        w_.pp_free(pp);
        w_.stick_end(trk, 0, 0);
        if (vars) w_.vars_end(vars);
        w_.conn_ended(fe);  // the slot the session held
        return;
    }
    s->gen = ++w_.gen_;
    s->fe = fe;
    s->pp = pp;
    s->trk = trk;
    s->vars = vars;
    s->cli = cli;
    s->timer.owner = s;
    s->timer.kind = kHTimerClient;
    s->peer.set(peer);
    const std::int64_t now = r_.now_ms();
    s->t_accept = t_accept;
    s->t_req = s->t_ready = s->last_cli = now;
    ++w_.live_;
    s->all_node.link_before(hall_);
    s->set(kH1CountedConn);
    s->set(kH1Upgraded);
    s->be = be;
    s->req_acc = acc;
    const std::uint64_t n = first.size() + rest.bytes;
    st_.fe[fe].bin.add(n);
    s->bytes_in += n;
    // the bytes as receives would have brought them: one buffer at a time (a head is gathered only while it is
    // incomplete; what follows a complete one waits in the buffers as body)
    h_process_request(s);
    while (!rest.empty()) {
        if (s->state != HState::Active) {
            bufs_->drop(rest);
            return;
        }
        bufs_->move_front(rest, s->in);
        h_process_request(s);
    }
    if (s->state != HState::Active) return;
    if (s->cli.has(net::kSideEof)) h_on_cli_eof(s);
    else h_maybe_rearm(s);
    if (s->state == HState::Active) h_schedule(s);
}

void H1Proxy::h_start(H1Conn* s) {
    const std::uint32_t fe = s->fe;
    s->t_req = s->last_cli = r_.now_ms();
    s->set(kH1CountedConn);
    w_.conn_started(fe);
    h_arm_recv(s);
    h_schedule(s);
}

// ---------------------------------------------------------------- queues

// ---------------------------------------------------------------- dispatch, end of turn, stop

#ifndef NDEBUG
namespace {
// Debug builds: EDGESHARD_TRACE_H1=1 prints every HTTP completion with the flag words of its
// objects, e.g. "h1-srv-recv res=512 srv=EST|REUSED sock=RECV conn=CNTC|CNTB|LINGER stream=-".
const bool kTraceH1 = std::getenv("EDGESHARD_TRACE_H1") != nullptr;

void trace_h1(const UserData& u, const shard::Cqe& e) {
    if (op_owner(u.op) == OpOwner::HttpClient) {
        const H1Conn* s = u.ptr<H1Conn>();
        std::fprintf(stderr, "%s res=%d conn=%s stream=%s cli=%s\n", op_name(u.op), e.res, show_h1_flags(s->flags).c_str(),
                     s->st ? show_h1s_flags(s->st->flags).c_str() : "-", net::show_side_flags(s->cli.flags).c_str());
        return;
    }
    const H1SrvConn* c = u.ptr<H1SrvConn>();
    const H1Conn* o = c->owner;
    std::fprintf(stderr, "%s res=%d srv=%s sock=%s conn=%s stream=%s\n", op_name(u.op), e.res, show_c1_flags(c->flags).c_str(),
                 net::show_side_flags(c->sock.flags).c_str(), o ? show_h1_flags(o->flags).c_str() : "-",
                 o && o->st ? show_h1s_flags(o->st->flags).c_str() : "-");
}
}  // namespace
#endif

void H1Proxy::http_on_client_cqe(const UserData& u, const shard::Cqe& e) {
    H1Conn* s = u.ptr<H1Conn>();
    if (s->gen != u.gen || s->has(kH1Released)) {
        w_.stale(e);
        return;
    }
#ifndef NDEBUG
    if (kTraceH1) trace_h1(u, e);
#endif
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
}

void H1Proxy::http_on_server_cqe(const UserData& u, const shard::Cqe& e) {
    H1SrvConn* c = u.ptr<H1SrvConn>();
    if (c->gen != u.gen || c->has(kC1Released)) {
        w_.stale(e);
        return;
    }
    H1Conn* s = c->owner;
#ifndef NDEBUG
    if (kTraceH1) trace_h1(u, e);
#endif
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


void H1Proxy::http_end_of_turn() {
    if ((!hstarved_.empty() || !cstarved_.empty()) && bufs_->available() >= bufs_->count() / 4) {
        std::vector<H1Conn*> again;
        again.swap(hstarved_);
        for (H1Conn* s : again) {
            s->cli.clear(net::kSideStarved);
            if (s->state == HState::Active) h_maybe_rearm(s);
            h_op_done(s);
        }
        std::vector<H1SrvConn*> cagain;
        cagain.swap(cstarved_);
        for (H1SrvConn* c : cagain) {
            c->sock.clear(net::kSideStarved);
            if (c->state != H1SrvConn::Closing) c_maybe_rearm(c);
            c_op_done(c);
        }
    }
    // whatever was queued after the close (the queue's block, its segments) goes with the object
    for (H1Conn* s : hreleased_) {
        sendq_.drop(s->out);
        h_end_stream(s);
        if (s->tls) {
            st_.shard.ssl_conns.dec();
            delete s->tls;
        }
        w_.pp_free(s->pp);
        if (s->trk) [[unlikely]] w_.stick_end(s->trk, 0, 0);
        if (s->vars) [[unlikely]] w_.vars_end(s->vars);
        hsessions_.destroy(s);
    }
    hreleased_.clear();
    for (H1SrvConn* c : creleased_) {
        sendq_.drop(c->out);
        delete c->tls;
        delete c->mapped;
        hconns_.destroy(c);
    }
    creleased_.clear();
}

void H1Proxy::http_stop() {
    for (core::ListNode* n = hall_.next; n != &hall_;) {
        core::ListNode* nx = n->next;
        H1Conn* s =
            reinterpret_cast<H1Conn*>(reinterpret_cast<char*>(n) - offsetof(H1Conn, all_node));
        h_close(s);
        n = nx;
    }
    for (auto& per_be : idle_) {
        for (core::ListNode& head : per_be) {
            while (head.linked()) {
                H1SrvConn* c =
                    reinterpret_cast<H1SrvConn*>(reinterpret_cast<char*>(head.next) - offsetof(H1SrvConn, idle_node));
                c_close(c);
            }
        }
    }
}

void H1Proxy::http_shutdown_sessions(int be, const std::function<bool(int)>& on, char why) {
    for (core::ListNode* n = hall_.next; n != &hall_;) {
        core::ListNode* nx = n->next;
        H1Conn* s = reinterpret_cast<H1Conn*>(reinterpret_cast<char*>(n) - offsetof(H1Conn, all_node));
        n = nx;
        if (!s->conn || s->conn->be != be || !on(s->conn->server) || s->state != HState::Active) continue;
        // HAProxy's 'D' (the server went down) or 'K' (killed by the administrator)
        if (s->st) s->st->term[0] = why;
        if (s->st && s->rsp_phase() == RspPhase::Head && s->st->status == 0 && s->out.n == 0) {
            // nothing of a response yet: the client is told, as HAProxy tells it (502)
            s->st->term[1] = 'H';
            if (s->st->server >= 0) lbs_[std::size_t(be)]->server(s->st->server).c->eresp.inc();
            st_.be[std::size_t(be)].eresp.inc();
            s->set(kH1Linger);
            h_abort_reply(s, 502);
            continue;
        }
        h_close(s);
    }
    http_close_idle(be, on);
}

void H1Proxy::http_close_idle(int be, const std::function<bool(int)>& on) {
    if (be >= 0 && std::size_t(be) < idle_.size())
        for (std::size_t k = 0; k < idle_[std::size_t(be)].size(); ++k) {
            if (!on(int(k))) continue;
            core::ListNode& head = idle_[std::size_t(be)][k];
            while (head.linked()) {
                H1SrvConn* c =
                    reinterpret_cast<H1SrvConn*>(reinterpret_cast<char*>(head.next) - offsetof(H1SrvConn, idle_node));
                c_close(c);
            }
        }
}

// Drain (see worker.cpp): closes the keep-alive connections whose client stayed quiet since the
// drain began or since its last exchange, each after `es.drain-idle-after` plus its own offset in
// `close-spread-time`; once no session is left, the pooled server connections go too.
void H1Proxy::http_drain_tick() {
    const std::int64_t now = r_.now_ms();
    const config::Global& g = cfg_.global;
    for (core::ListNode* n = hall_.next; n != &hall_;) {
        core::ListNode* nx = n->next;
        H1Conn* s =
            reinterpret_cast<H1Conn*>(reinterpret_cast<char*>(n) - offsetof(H1Conn, all_node));
        n = nx;
        if (s->state != HState::Active || s->has(kH1Pending) || s->st || s->cli.has(net::kSideShut)) continue;
        const bool idle = s->out.n == 0 && !s->out.inflight &&
                          s->in.empty() && !(s->req_acc && s->req_acc->len > s->req_acc->off);
        if (!idle) continue;
        std::int64_t wait = pos(g.drain_idle_after);
        if (g.close_spread_time > 0)
            wait += std::int64_t((s->gen * 0x9E3779B97F4A7C15ull) >> 33) % g.close_spread_time;
        if (now - std::max(s->last_cli, w_.drain_start_) >= wait) h_close(s);
    }
    if (w_.live_ == 0) {
        for (auto& per_be : idle_) {
            for (core::ListNode& head : per_be) {
                while (head.linked()) {
                    H1SrvConn* c =
                        reinterpret_cast<H1SrvConn*>(reinterpret_cast<char*>(head.next) - offsetof(H1SrvConn, idle_node));
                    c_close(c);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- access log

void H1Proxy::h_log(H1Conn* s) {
    H1Stream* const x = s->st;
    if (!x || x->has(kH1SLogged)) return;  // no exchange open, or already logged (or never: monitor-uri)
    x->set(kH1SLogged);
    if (!p_.log_ring || !w_.fe_formats_[s->fe]) return;
    const std::int64_t now = r_.now_ms();
    log::Fields f;
    s->peer.get(f.client);
    if (s->pp && s->pp->has_dst) s->pp->dst.get(f.frontend_addr);
    // HAProxy's clocks per exchange: from the accept for the first request of a connection, from the
    // end of the previous exchange for the others; %Th the handshake, %Ti the idle time before the
    // request's first byte, %TR the head, %Ta what follows
    const bool first = s->nreq <= 1;
    const std::int64_t start = first ? s->t_accept : s->t_ready;
    f.Th = first ? s->t_ready - s->t_accept : 0;
    f.Ti = s->t_req > s->t_ready ? s->t_req - s->t_ready : 0;
    f.accept_epoch_ms = w_.wall_offset_ms_ + start;
    f.request_epoch_ms = w_.wall_offset_ms_ + s->t_req;
    f.frontend = cfg_.frontends[s->fe].name;
    f.backend = s->be >= 0 ? std::string_view(cfg_.backends[std::size_t(s->be)].name) : f.frontend;
    const int srvi = x->server;
    f.server = (s->be >= 0 && srvi >= 0) ? std::string_view(cfg_.backends[std::size_t(s->be)].servers[std::size_t(srvi)].name)
               : x->has(kH1SStats)        ? std::string_view("<STATS>")
                                          : std::string_view("<NOSRV>");
    f.TR = x->t_head < 0 ? -1 : x->t_head - s->t_req;
    f.Tw = x->t_queue >= 0 ? (x->t_connect >= 0 ? x->t_connect : now) - x->t_queue : (x->t_connect >= 0 ? 0 : -1);
    f.Tc = (x->t_connected >= 0 && x->t_connect >= 0) ? x->t_connected - x->t_connect : -1;
    f.Tr = (x->t_rsp >= 0 && x->t_connected >= 0) ? x->t_rsp - x->t_connected : -1;
    f.Tt = now - start;
    f.Ta = f.Tt - f.Th - f.Ti;
    f.status = x->status ? x->status : -1;
    f.bytes_read = x->bytes_out;
    f.bytes_uploaded = s->bytes_in;
    f.term[0] = x->term[0];
    f.term[1] = x->term[1];
    f.term[2] = x->ck_req;  // cookie persistence letters ('-' without a persistence cookie)
    f.term[3] = x->ck_rsp;
    f.actconn = w_.conns_;
    f.feconn = w_.fe_conns_[s->fe];
    f.beconn = s->be >= 0 ? int(st_.be[s->be].scur.get()) : 0;
    f.retries = x->tries;
    f.rt = x->rt;
    if (x->notes && x->notes->uid_done) f.unique_id = std::string_view(x->notes->uid, x->notes->uid_len);
    const std::string_view rl = x->notes ? std::string_view(x->notes->reqline, x->notes->reqline_len)
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
            if (q != std::string_view::npos) f.query = f.uri.substr(q);  // with its "?"
        }
    }
    f.http = true;
    // captures: a request that never began (<BADREQ>) has no notes and prints no block
    log::Captured req_caps[kMaxLogCaps], rsp_caps[kMaxLogCaps];
    if (x->notes && h_captures(s)) [[unlikely]] h_log_caps(s, f, req_caps, rsp_caps);
    // the format's sample expressions, evaluated now (the request and response heads are gone: the
    // configuration let only what is known at log time through)
    const auto& exprs = w_.fe_formats_[s->fe]->samples();
    if (!exprs.empty()) [[unlikely]] {
        if (s->vars) s->vars->end_request(cfg_);  // (also when no response came)
        const std::size_t n = std::min(exprs.size(), std::size(log_samples_));
        h_log_samples(s, f, exprs, log_samples_, n);
        f.samples = log_samples_;
        f.n_samples = n;
    }
    if (!log::emit(*p_.log_ring, std::uint16_t(s->fe), *w_.fe_formats_[s->fe], f)) st_.fe[s->fe].log_drops.inc();
    s->bytes_in = 0;
}

// What HAProxy still knows when it logs: variables (but the request scope, swapped out once the request
// went on), the connection's addresses and TLS facts, the unique id if it was built, and, kept from the
// exchange, the method (a known one), the status of a server's response and the request line's parts.
void H1Proxy::h_log_samples(H1Conn* s, const log::Fields& f, const std::vector<std::string>& exprs,
                            std::string_view* out, std::size_t n) {
    H1Stream* const x = s->st;
    rules::Txn t;
    sockaddr_storage peer, dst;
    rules::VarCtx vc;
    h_txn(s, t, peer, dst, vc);
    t.arena = &uid_arena_;
    t.edits = nullptr;
    uid_arena_.reset();
    for (std::size_t i = 0; i < n; ++i) {
        const std::string& e = exprs[i];
        out[i] = {};
        if (e == "method") {
            if (x->method != http::Method::Other && !f.method.empty()) out[i] = f.method;
        } else if (e == "status") {
            if (x->t_rsp >= 0 && x->status > 0) {  // a server's response (none for the proxy's own)
                rules::ArenaWriter w(uid_arena_);
                w.add_uint(std::uint64_t(x->status));
                out[i] = w.commit();
            }
        } else if (e == "capture.req.method") {
            out[i] = f.method;
        } else if (e == "capture.req.uri") {
            out[i] = f.uri;
        } else if (e == "capture.req.ver") {
            out[i] = f.version;
        } else if (e == "unique-id" || e.starts_with("unique-id,")) {
            if (x->notes && x->notes->uid_done) {  // built during the exchange (never now: HAProxy's "-")
                UidWriter uw(this, s);
                t.uid = &uw;
                (void)rules::eval_sample(t, e, out[i]);
                t.uid = nullptr;
            }
        } else {
            std::string_view v;
            if (rules::eval_sample(t, e, v)) out[i] = v;
        }
    }
}

}  // namespace es::proxy
