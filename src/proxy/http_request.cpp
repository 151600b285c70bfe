// Worker, HTTP/1.1: request analysis (head parsing, rules, backend and server choice), body
// forwarding in both directions and tunnels. See http.cpp for the whole path.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <type_traits>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/http/parser.hpp"
#include "edgeshard/proxy/page.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/stats/render.hpp"
#include "edgeshard/shard/uring_compat.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "http_internal.hpp"

namespace es::proxy {

using shard::UserData;
using namespace h1;

// ---------------------------------------------------------------- request analysis

// Moves every received byte into the gathering buffer and returns the buffers to the ring.
// False when the head would not fit (the caller answers 431).
bool H1Proxy::gather(InQ& q, HeadBuf*& acc) {
    if (!acc) {
        acc = sendq_.new_block();
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
        bufs_->recycle(bufs_->pop(q));
    }
    return true;
}

void H1Proxy::h_process_request(H1Conn* s) {
    if (s->flags & (kH1InParse | kH1Tls)) [[unlikely]] {  // one test for the two rare cases
        if (s->has(kH1InParse)) return;  // re-entered from the head being parsed: its caller's loop goes on
        h_process_request_tls(s);
        return;
    }
    h_process_request_loop(s);
    if (s->state == HState::Active && s->conn) c_send(s->conn);
}

// TLS: plaintext waits in the record layer while the gathering block is full: take more each time
// the request side made room.
void H1Proxy::h_process_request_tls(H1Conn* s) {
    for (int round = 0; round < 64 && s->state == HState::Active; ++round) {
        const std::size_t got = h_tls_pull(s);
        h_process_request_loop(s);
        if (got == 0) break;
    }
    if (s->state == HState::Active && s->conn) c_send(s->conn);
}

void H1Proxy::h_process_request_loop(H1Conn* s) {
    for (int guard = 0; guard < 64 && s->state == HState::Active; ++guard) {
        switch (s->req_phase()) {
            case ReqPhase::Head:
                if (s->rsp_phase() != RspPhase::None || s->out.bytes > kHighWaterBufs * bufs_->size()) return;
                if (!h_parse_request(s)) return;
                break;
            case ReqPhase::Body:
                if (s->st->post) [[unlikely]] {  // an admin POST to the stats page: no server
                    if (!h_collect_post(s)) return;
                    break;
                }
                if (!s->conn || s->conn->priv_owner) return;  // waiting for this request's server connection
                if (!h_forward_body(s, s->in, s->req_acc, s->conn->out, s->st->req_body, s->st->req_left, s->st->req_chunks,
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
bool H1Proxy::h_parse_request(H1Conn* s) {
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
    s->set(kH1InParse);
    h_start_request(s, req, base, len);
    s->clear(kH1InParse);
    if (s->state != HState::Active) return false;
    // consume the head (unless answering it already dropped the input)
    if (in_place ? s->in.head != bid0 : s->req_acc != acc0) return true;
    if (in_place) {
        net::BufRing::Rec& rec = bufs_->rec(s->in.head);
        rec.off += req.head_len;
        rec.len -= req.head_len;
        s->in.bytes -= req.head_len;
        if (rec.len == 0) bufs_->recycle(bufs_->pop(s->in));
    } else {
        s->req_acc->off += req.head_len;
        if (s->req_acc->off == s->req_acc->len) {
            sendq_.blocks.destroy(s->req_acc);
            s->req_acc = nullptr;
        }
    }
    return true;
}

// The exchange's facts (times, method, framing) and, when the frontend logs, its request line.
[[gnu::always_inline]] inline bool H1Proxy::h_begin_exchange(H1Conn* s, const http::RequestHead& req, const char* base) {
    const auto& fe = cfg_.frontends[s->fe];
    H1Stream* const x = h_new_stream(s);  // fresh: no status, times unset, nothing logged
    if (!x) {
        h_close(s);  // no memory for the exchange: not even a reply can be tracked
        return false;
    }
    ++s->nreq;
    x->t_head = r_.now_ms();
    x->method = req.method;
    x->set_to(kH1SHead, req.method == http::Method::Head);
    x->set_to(kH1SUpgrade, req.upgrade);
    x->set_to(kH1SExpect, req.expect_continue);
    // request line for the log (notes are taken only when the frontend logs)
    if (p_.log_ring && w_.fe_formats_[s->fe]) {
        HttpNotes* nt = h_notes(s);
        if (!nt) {
            h_reply_error(s, 500, "out of memory for request notes");
            return false;
        }
        const std::size_t rl = std::size_t(req.target.data() + req.target.size() - base) + 9;
        const std::size_t n = std::min<std::size_t>(rl, sizeof nt->reqline);
        std::memcpy(nt->reqline, base, n);
        nt->reqline_len = std::uint16_t(n);
    }
    st_.fe[s->fe].req_tot.inc();
    if (!req.wants_keep_alive() || fe.http.httpclose) s->set(kH1CloseAfter);
    x->set_to(kH1SHttp10, req.version == 10);
    x->req_body = req.body;
    x->req_left = req.content_length;
    x->req = (req.body == http::BodyKind::None || (req.body == http::BodyKind::Length && req.content_length == 0))
                 ? ReqPhase::Done
                 : ReqPhase::Body;
    return true;
}

namespace {

// HAProxy's http_stats_check_uri: GET, HEAD or POST whose path (and query) starts with the uri.
bool stats_uri_matches(const config::StatsPage& sp, const http::RequestHead& req) {
    if (!sp.enabled) return false;
    if (req.method != http::Method::Get && req.method != http::Method::Head && req.method != http::Method::Post)
        return false;
    const std::string_view u = sp.uri;
    const std::size_t q = u.find('?');
    if (q == std::string_view::npos) return req.path.starts_with(u);
    return req.path == u.substr(0, q) && req.query.starts_with(u.substr(q + 1));
}

}  // namespace

bool H1Proxy::h_stats_page(H1Conn* s, const http::RequestHead& req, const config::StatsPage& sp, int be, rules::Txn& t) {
    const auto& fe = cfg_.frontends[s->fe];
    s->st->set(kH1SStats);
    if (be >= 0) {
        s->st->set(kH1SStatsBe);
        st_.be[be].last_sess_ms.update(r_.now_ms());  // (HAProxy's lastsess counts the page, its stot does not)
    }
    s->st->term[0] = 'L';  // a local answer, at the request (HAProxy's LR)
    s->st->term[1] = 'R';
    // HAProxy's order: the admin level (`stats admin` conditions, on the proxy that holds the page),
    // then the page's `stats http-request` rules
    const config::HttpProxy& hp = be >= 0 ? cfg_.backends[std::size_t(be)].http : fe.http;
    bool admin = false;
    for (const config::Condition& c : sp.admin)
        if (rules::eval_condition(c, hp.acls, t)) {
            admin = true;
            break;
        }
    if (!sp.rules.empty()) {
        const rules::Verdict v = rules::run_request_rules(hp, sp.rules, t);
        h_rule_trouble(s, t, v);
        if (v.kind == rules::Verdict::Reply) {
            if (v.denied) {
                st_.fe[s->fe].dreq.inc();
                if (be >= 0) st_.be[std::size_t(be)].dreq.inc();
                s->st->term[0] = 'P';
            }
            if (v.status == 401 || v.status == 407) s->set(kH1CloseAfter);  // as after `stats auth`'s challenge
            h_local_reply(s, v.status, v.bytes);
            return false;
        }
    }
    if (!sp.users.users.empty()) {
        // `stats auth`: Basic credentials, else 401 with the page's realm (HAProxy's default one)
        const http::Header* a = req.find("authorization");
        if (!a || !rules::check_basic_auth(sp.users, a->value)) {
            const std::string_view realm = sp.realm.empty() ? std::string_view("HAProxy Statistics") : std::string_view(sp.realm);
            const config::HttpProxy* bh = be >= 0 ? &cfg_.backends[std::size_t(be)].http : nullptr;
            s->set(kH1CloseAfter);  // HAProxy closes after the challenge, keep-alive asked or not
            h_local_reply(s, req.absolute_form ? 407 : 401, rules::auth_reply(req, realm, bh, &fe.http, arena_));
            return false;
        }
    }
    if (req.method == http::Method::Post) {
        if (!admin) {
            // without the admin level, HAProxy answers with the page's result: denied
            rules::ArenaWriter w(arena_);
            w.add(stats::admin_redirect(sp.uri, req.target, int(sp.refresh / 1000), stats::AdminResult::Deny));
            h_local_reply(s, 303, w.commit());
            return false;
        }
        PageRequest* rq = new (std::nothrow) PageRequest;
        if (!rq) {
            h_local_reply(s, 503, h_error(s, 503));
            return false;
        }
        rq->kind = PageKind::Stats;
        rq->frontend = s->fe;
        rq->backend = be;
        rq->admin = rq->post = true;
        rq->target.assign(req.target);
        // HAProxy runs the actions once the whole body is in its buffer; a body the buffer cannot
        // hold (the head included, less the room it keeps for rewrites) is EXCD
        const std::size_t room = std::size_t(cfg_.global.bufsize) - std::min<std::size_t>(std::size_t(cfg_.global.bufsize), kPostReserve);
        rq->body_room = std::uint32_t(room > req.head_len ? room - req.head_len : 0);
        s->st->post = rq;
        if (s->st->req == ReqPhase::Body && s->st->has(kH1SExpect)) {
            // the client waits for a word before it sends the body (HAProxy answers for its applets)
            static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
            sendq_.push(s->out, Seg{k100.data(), std::uint32_t(k100.size())});
            s->st->clear(kH1SExpect);
            h_send_client(s);
        }
        if (s->st->req == ReqPhase::Done) (void)h_collect_post(s);
        return false;
    }
    h_serve_page(s, req, 0, be, admin);
    return false;
}

// The admin POST's body, gathered whole from what the client sent (HAProxy waits for it in its
// buffer): then the page request with it goes to the control shard, which runs the actions and
// answers the redirect. A body the buffer cannot hold gets HAProxy's EXCD at once, and the
// connection closes after it (the rest of the body is not read).
bool H1Proxy::h_collect_post(H1Conn* s) {
    H1Stream* const x = s->st;
    PageRequest* const rq = x->post;
    bool done = x->req == ReqPhase::Done;
    // the bytes of the body at p (of avail), by its framing; false: a framing error (answered)
    auto eat = [&](const char* p, std::size_t avail, std::size_t& used) {
        if (x->req_body == http::BodyKind::Chunked) {
            const http::ChunkedScanner::Step st = x->req_chunks.feed(p, avail);
            if (st.status == http::Status::Error) return false;
            used = st.used;
            done = st.status == http::Status::Done;
        } else {
            used = std::size_t(std::min<std::uint64_t>(avail, x->req_left));
            x->req_left -= used;
            done = x->req_left == 0;
        }
        if (rq->body.size() <= rq->body_room) rq->body.append(p, std::min(used, rq->body_room + 1 - rq->body.size()));
        return true;
    };
    std::size_t used = 0;
    if (!done && s->req_acc && s->req_acc->off < s->req_acc->len) {
        if (!eat(s->req_acc->data + s->req_acc->off, s->req_acc->len - s->req_acc->off, used)) {
            h_body_error(s, true);
            return false;
        }
        s->req_acc->off += std::uint32_t(used);
        if (s->req_acc->off == s->req_acc->len) {
            sendq_.blocks.destroy(s->req_acc);
            s->req_acc = nullptr;
        }
    }
    while (!done && !s->in.empty() && rq->body.size() <= rq->body_room) {
        net::BufRing::Rec& rec = bufs_->rec(s->in.head);
        if (!eat(bufs_->data(s->in.head) + rec.off, rec.len, used)) {
            h_body_error(s, true);
            return false;
        }
        rec.off += std::uint32_t(used);
        rec.len -= std::uint32_t(used);
        s->in.bytes -= used;
        if (rec.len == 0) bufs_->recycle(bufs_->pop(s->in));
    }
    if (rq->body.size() > rq->body_room) {
        const config::StatsPage& sp = rq->backend >= 0 ? cfg_.backends[std::size_t(rq->backend)].stats : cfg_.frontends[s->fe].stats;
        rules::ArenaWriter w(arena_);
        w.add(stats::admin_redirect(sp.uri, rq->target, int(sp.refresh / 1000), stats::AdminResult::Excd));
        x->post = nullptr;
        delete rq;
        h_local_reply(s, 303, w.commit());
        return false;
    }
    if (!done) return false;  // more to come
    x->req = ReqPhase::Done;
    x->post = nullptr;
    if (x->req_body == http::BodyKind::Chunked) {
        std::string data;
        (void)http::dechunk(rq->body, data);  // the scanner accepted the framing
        rq->body.swap(data);
    }
    h_ask_page(s, rq);
    return false;
}

// The frontend's http-request rules, then its stats page (HAProxy's order: the rules may deny the page,
// and the page is matched on the request as they leave it).
[[gnu::always_inline]] inline bool H1Proxy::h_frontend_rules(H1Conn* s, const http::RequestHead& req, rules::Txn& t) {
    const auto& fe = cfg_.frontends[s->fe];
    const rules::Verdict v = rules::run_request_rules(fe.http, t);
    h_rule_trouble(s, t, v);
    if (v.kind == rules::Verdict::Reply) {
        if (v.denied) st_.fe[s->fe].dreq.inc();
        if (v.denied && s->trk) [[unlikely]] w_.stick().count_http_err(*s->trk, r_.now_ms());  // HAProxy's deny
        if (v.monitor) s->st->set(kH1SLogged);  // monitor-uri: never logged (HAProxy)
        // HAProxy's termination state: a deny is the proxy's doing (PR), a return, redirect or
        // auth challenge a local answer (LR)
        s->st->term[0] = v.denied ? 'P' : 'L';
        s->st->term[1] = 'R';
        if (t.uid) [[unlikely]] {  // a request answered by the rules still logs its id
            std::string_view id;
            (void)h_unique_id(s, t, id);
        }
        h_local_reply(s, v.status, v.bytes);
        return false;
    }
    if (v.kind == rules::Verdict::Service) {
        h_serve_page(s, req, 1);
        return false;
    }
    if (stats_uri_matches(fe.stats, req)) [[unlikely]] {
        // a listen's page is its backend's session in HAProxy (its lastsess moves)
        if (fe.own_backend_id >= 0) st_.be[fe.own_backend_id].last_sess_ms.update(r_.now_ms());
        return h_stats_page(s, req, fe.stats, -1, t);
    }
    return true;
}

// use_backend / default_backend; the session counts in its backend from its first request there.
[[gnu::always_inline]] inline bool H1Proxy::h_switch_backend(H1Conn* s, rules::Txn& t) {
    const auto& fe = cfg_.frontends[s->fe];
    const int be = s->has(kH1Upgraded) ? s->be : rules::select_backend(fe, t);
    if (be < 0) {
        h_local_reply(s, 503, rules::error_reply(503, nullptr, &fe.http));
        return false;
    }
    if (s->be != be) {
        if (s->has(kH1CountedBe)) {
            st_.be[s->be].scur.dec();
            s->clear(kH1CountedBe);
        }
        s->be = be;
    }
    t.be = be;  // be_name from now on
    // HAProxy counts a backend's sessions per stream, one per request (as our servers' are): stot
    // per request, scur the requests in progress (h_request_done ends one)
    auto& bc = st_.be[be];
    if (!s->has(kH1CountedBe)) {
        s->set(kH1CountedBe);
        bc.scur.inc();
        bc.smax.update(bc.scur.get());
    }
    bc.stot.inc();
    bc.last_sess_ms.update(r_.now_ms());
    bc.req_tot.inc();
    return true;
}

// The backend's tcp-request content and http-request rules (a listen section's run once, as its frontend's).
[[gnu::always_inline]] inline bool H1Proxy::h_backend_rules(H1Conn* s, const http::RequestHead& req, rules::Txn& t) {
    const auto& fe = cfg_.frontends[s->fe];
    const auto& bcfg = cfg_.backends[std::size_t(s->be)];
    if (fe.own_backend_id != s->be) {
        t.fallback = &fe.http;
        if (t.stick) [[unlikely]] t.stick->backend = true;
        // the backend's tcp-request content rules first (HAProxy's inspect step on the backend): a
        // reject closes as the frontend's does, counted on the frontend only
        if (!bcfg.tcp_content_rules.empty()) [[unlikely]] {
            if (rules::run_tcp_rules(bcfg.tcp_content_rules, bcfg.http.acls, t, nullptr, true) ==
                rules::TcpVerdict::Reject) {
                st_.fe[s->fe].dreq.inc();
                s->set(kH1CloseAfter);
                h_close(s);
                return false;
            }
        }
        const rules::Verdict v = rules::run_request_rules(bcfg.http, t);
        h_rule_trouble(s, t, v);
        if (v.kind == rules::Verdict::Reply) {
            if (v.denied) {
                st_.fe[s->fe].dreq.inc();
                st_.be[s->be].dreq.inc();
                if (s->trk) [[unlikely]] w_.stick().count_http_err(*s->trk, r_.now_ms());
            }
            s->st->term[0] = v.denied ? 'P' : 'L';
            s->st->term[1] = 'R';
            if (t.uid) [[unlikely]] {
                std::string_view id;
                (void)h_unique_id(s, t, id);
            }
            h_local_reply(s, v.status, v.bytes);
            return false;
        }
        if (v.kind == rules::Verdict::Service) {
            h_serve_page(s, req, 1);
            return false;
        }
    }
    // a backend's stats page, after its rules (a listen's is its frontend's)
    if (stats_uri_matches(bcfg.stats, req)) [[unlikely]]
        return h_stats_page(s, req, bcfg.stats, s->be, t);
    if (bcfg.http.httpclose) s->set(kH1CloseAfter);
    s->st->retries_left = bcfg.retries;
    if (!bcfg.stick_rules.empty()) [[unlikely]]
        s->st->stick_srv = std::int16_t(w_.stick_rules(std::uint32_t(s->be), t, s->trk));
    return true;
}

// The head the server gets: hop-by-hop headers and those `Connection` names dropped, rule edits,
// connection handling, the chunked framing, X-Forwarded-For. Held in pend_head until a server
// connection takes it.
[[gnu::always_inline]] inline bool H1Proxy::h_write_request_head(H1Conn* s, const http::RequestHead& req, const sockaddr_storage& peer) {
    const auto& fe = cfg_.frontends[s->fe];
    const auto& bcfg = cfg_.backends[std::size_t(s->be)];
    HeadBuf* hb = sendq_.new_block();
    if (!hb) {
        h_reply_error(s, 500, "out of head buffers");
        return false;
    }
    Writer w{hb->data, HeadBuf::kCap};
    w.put(edits_.method_set ? edits_.new_method : req.method_text);
    w.put(" ");
    w.put(req.target);  // rewrites (set-path, set-uri...) point it at the arena
    w.put(" HTTP/1.1\r\n");
    if (bcfg.cookie.mode != config::CookieSpec::Mode::None && h_cookie_request(s, req)) [[unlikely]] {
        for (std::uint16_t i = 0; i < req.nheaders; ++i) {
            const http::Header& h = req.headers[i];
            if (h.hop || h.removed) continue;
            if (http::iequals(h.name, "cookie")) h_cookie_write_req(w, h, bcfg.cookie);
            else w.header(h.name, h.value);
        }
    } else {
        for (std::uint16_t i = 0; i < req.nheaders; ++i) {
            const http::Header& h = req.headers[i];
            if (h.hop || h.removed) continue;
            w.header(h.name, h.value);
        }
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
        (ffp.forwardfor_except.empty() || !rules::addr_in_network(&peer, ffp.forwardfor_except))) {
        char ab[INET6_ADDRSTRLEN];
        const std::string_view ip(ab, rules::addr_text(&peer, ab, sizeof ab));
        if (!ip.empty()) w.header(ffp.forwardfor_header, ip);
    }
    for (int i = 0; i < edits_.nadds; ++i) w.header(edits_.adds[i].name, edits_.adds[i].value);
    if (!fe.unique_id_header.empty() && s->st->notes && s->st->notes->uid_done) [[unlikely]]
        w.header(fe.unique_id_header, std::string_view(s->st->notes->uid, s->st->notes->uid_len));
    w.put("\r\n");
    if (w.overflow) {
        sendq_.blocks.destroy(hb);
        h_reply_error(s, 431, "request head too large after rewriting");
        return false;
    }
    hb->len = w.n;
    s->st->rsp = RspPhase::Head;
    s->st->rsp_scanned = 0;
    if (s->st->pend_head) sendq_.blocks.destroy(s->st->pend_head);
    s->st->pend_head = hb;
    return true;
}

// What `balance uri` / `balance hdr()` hash, kept for the picks after this one (queue, retries):
// the target (path and query) as received, or the header's value.
[[gnu::always_inline]] inline bool H1Proxy::h_balance_key(H1Conn* s, const http::RequestHead& req) {
    const auto& bcfg = cfg_.backends[std::size_t(s->be)];
    if (bcfg.balance.algo != config::Balance::Uri && bcfg.balance.algo != config::Balance::Hdr) return true;
    std::string_view hval;
    bool has_hval = false;
    if (bcfg.balance.algo == config::Balance::Hdr) {
        if (const http::Header* h = req.find(lbs_[std::size_t(s->be)]->hdr_name())) {
            hval = h->value;
            has_hval = true;
        }
    }
    HttpNotes* nt = h_notes(s);
    if (!nt) {
        sendq_.blocks.destroy(s->st->pend_head);
        s->st->pend_head = nullptr;
        h_reply_error(s, 500, "out of memory for request notes");
        return false;
    }
    const std::string_view key = has_hval ? hval : req.target;
    const std::size_t n = std::min<std::size_t>(key.size(), sizeof nt->lb_key);
    std::memcpy(nt->lb_key, key.data(), n);
    nt->lb_key_len = std::uint16_t(n);
    nt->lb_has_hdr = has_hval;
    return true;
}

// Chunk framing that arrived with the head is checked before any server is involved.
[[gnu::always_inline]] inline bool H1Proxy::h_check_body_start(H1Conn* s, const http::RequestHead& req, const char* base,
                                 std::size_t avail) {
    if (req.body != http::BodyKind::Chunked || avail <= req.head_len) return true;
    http::ChunkedScanner probe;
    if (probe.feed(base + req.head_len, avail - req.head_len).status == http::Status::Error) {
        sendq_.blocks.destroy(s->st->pend_head);
        s->st->pend_head = nullptr;
        h_reply_error(s, 400, "invalid chunked request body");
        return false;
    }
    return true;
}

// A complete request head, in the order of HAProxy's request analysers: the exchange starts
// (its facts and framing), the frontend's rules, backend switching, the backend's rules, the
// outgoing head, the balancing key, an early look at the body's framing, then the server
// connection (h_assign_server). Each analyser either passes or has answered the request itself
// (a local reply, a page, an error) and returns false.
void H1Proxy::h_start_request(H1Conn* s, http::RequestHead& req, const char* base, std::size_t avail) {
    if (!h_begin_exchange(s, req, base)) return;
    arena_.reset();
    edits_.reset();
    sockaddr_storage peer, dst;
    rules::Txn t;
    rules::VarCtx vc;
    h_txn(s, t, peer, dst, vc);
    t.req = &req;
    rules::StickCtx sc;
    t.stick = w_.stick_ctx(sc, &s->trk, false);
    if (s->nreq == 1 && !cfg_.frontends[s->fe].tcp_sess_rules.empty() && !s->has(kH1Upgraded)) [[unlikely]] {
        // tcp-request session: once, before the first request (the handshake is done by now)
        const auto& fe = cfg_.frontends[s->fe];
        if (rules::run_tcp_rules(fe.tcp_sess_rules, fe.http.acls, t) == rules::TcpVerdict::Reject) {
            st_.fe[s->fe].dses.inc();  // HAProxy's denied sessions
            h_close(s);
            return;
        }
        if (s->trk) w_.stick().count_session(*s->trk, r_.now_ms());
    }
    // HAProxy's order: `tcp-request content` rules (each request is a stream), then the request
    // counts on everything tracked so far (stream_inc_http_req_ctr), then the http-request rules
    // (a connection upgraded from a tcp frontend ran them on its raw bytes before its first request; HAProxy runs
    // them again for each later stream)
    if (const auto& fe = cfg_.frontends[s->fe];
        !fe.tcp_content_rules.empty() && !(s->nreq == 1 && s->has(kH1Upgraded))) [[unlikely]] {
        if (rules::run_tcp_rules(fe.tcp_content_rules, fe.http.acls, t, nullptr, true) == rules::TcpVerdict::Reject) {
            st_.fe[s->fe].dreq.inc();
            s->set(kH1CloseAfter);
            h_close(s);
            return;
        }
    }
    UidWriter uw(this, s);
    if (!cfg_.frontends[s->fe].unique_id_format.empty()) [[unlikely]] t.uid = &uw;
    // captures: the head as it came, before any rule (HAProxy's)
    CapWriter cw(this, s);
    if (h_captures(s) && s->st->notes) [[unlikely]] {
        h_capture_head(s, req, false);
        t.captures = &cw;
    }
    if (s->trk) [[unlikely]] w_.stick().count_http_req(*s->trk, r_.now_ms());
    if (!h_frontend_rules(s, req, t)) return;
    if (!h_switch_backend(s, t)) return;
    if (!h_backend_rules(s, req, t)) return;
    if (t.uid) [[unlikely]] {  // not used by a rule: built now, after them (HAProxy's)
        std::string_view id;
        (void)h_unique_id(s, t, id);
    }
    if (!h_write_request_head(s, req, peer)) return;
    if (!h_balance_key(s, req)) return;
    if (!h_check_body_start(s, req, base, avail)) return;
    h_assign_server(s, -1);
}


namespace {
// A new stream is a copy of this one: one block copy instead of a store per member.
static_assert(std::is_trivially_copyable_v<H1Stream>);
const H1Stream kFreshStream;
}  // namespace

// A new exchange on a connection that has none (nullptr: no memory).
H1Stream* H1Proxy::h_new_stream(H1Conn* s) {
    ES_ASSERT(!s->st);
    s->st = streams_.make(kFreshStream);
    // HAProxy's %rt counts every request of the process from 0: each shard counts its own and
    // interleaves them (shard k of n gives k, k + n, k + 2n...), unique without a shared counter
    if (s->st) s->st->rt = std::uint32_t(rt_seq_++ * std::uint64_t(p_.nshards) + std::uint64_t(p_.shard_id));
    return s->st;
}

// The exchange is over (the connection waits for its next request, or is freed): its stream and
// what it holds go back to their pools. A replay head still queued is freed once sent.
void H1Proxy::h_end_stream(H1Conn* s) {
    H1Stream* x = s->st;
    if (!x) return;
    if (x->replay || x->notes || x->rsp_acc || x->pend_head || x->post) [[unlikely]] {
        h_drop_replay(s);
        h_drop_notes(s);
        delete x->post;
        for (HeadBuf* hb : {x->rsp_acc, x->pend_head})
            if (hb) sendq_.blocks.destroy(hb);
    }
    streams_.destroy(x);
    s->st = nullptr;
}

// The notes of the current request, taken from the pool on first use (nullptr: no memory).
HttpNotes* H1Proxy::h_notes(H1Conn* s) {
    if (!s->st->notes) s->st->notes = notes_.make();
    return s->st->notes;
}

void H1Proxy::h_free_notes(H1Conn* s) {
    if (s->st->notes->caps) [[unlikely]] h_free_caps(s->st->notes);
    notes_.destroy(s->st->notes);
    s->st->notes = nullptr;
}

// Forwards body bytes of one message from an input (a gathering buffer first, then provided
// buffers) to an output queue. True when the body is complete (state moved on).
bool H1Proxy::h_forward_body(H1Conn* s, InQ& in, HeadBuf*& acc, OutQ& out, http::BodyKind kind,
                            std::uint64_t& left, http::ChunkedScanner& chunks, bool request) {
    auto finish = [&]() {
        if (request) {
            s->st->req = ReqPhase::Done;
        } else {
            s->st->rsp = RspPhase::Done;
        }
    };
    if (kind == http::BodyKind::Length && left == 0) {
        finish();
        return true;
    }
    const std::uint32_t high = kHighWaterBufs * bufs_->size();
    // How many of the `avail` bytes at `p` belong to this message (`take`) and whether it ends
    // there (`done`), by its framing. False: a framing error, already answered.
    auto frame = [&](const char* p, std::size_t avail, std::size_t& take, bool& done) {
        take = avail;
        done = false;
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
        return true;
    };
    // 1. bytes left in the gathering buffer after the head
    if (acc && acc->off < acc->len) {
        if (out.full() || out.bytes >= high) return false;
        const char* p = acc->data + acc->off;
        const std::size_t avail = acc->len - acc->off;
        std::size_t take;
        bool done;
        if (!frame(p, avail, take, done)) return false;
        if (!request) h_count_out(s, take);
        if (take > 0) {
            if (take == avail) {
                sendq_.push(out, Seg{p, std::uint32_t(take), net::BufRing::kNone, acc});
                acc = nullptr;
            } else {
                // the message ends inside: what follows moves to a fresh gathering buffer
                HeadBuf* rest = sendq_.new_block();
                if (!rest) {
                    h_reply_error(s, 500, "out of head buffers");
                    return false;
                }
                std::memcpy(rest->data, p + take, avail - take);
                rest->len = std::uint32_t(avail - take);
                acc->len = acc->off + std::uint32_t(take);
                sendq_.push(out, Seg{p, std::uint32_t(take), net::BufRing::kNone, acc});
                acc = rest;
            }
        }
        if (done) {
            finish();
            return true;
        }
        if (acc && acc->off < acc->len) return false;
        if (acc) {
            sendq_.blocks.destroy(acc);
            acc = nullptr;
        }
    }
    // 2. provided buffers
    while (!in.empty()) {
        if (out.full() || out.bytes >= high) return false;
        const std::uint16_t b = in.head;
        net::BufRing::Rec& rec = bufs_->rec(b);
        const char* p = bufs_->data(b) + rec.off;
        std::size_t take;
        bool done;
        if (!frame(p, rec.len, take, done)) return false;
        if (!request) h_count_out(s, take);
        if (take == rec.len) {
            bufs_->pop(in);
            sendq_.push(out, Seg{p, std::uint32_t(take), b, nullptr});
        } else {
            // the message ends inside this buffer: the rest (the next message) is gathered
            if (!acc) acc = sendq_.new_block();
            if (!acc || acc->len + (rec.len - take) > HeadBuf::kCap) {
                h_reply_error(s, 500, "out of head buffers");
                return false;
            }
            std::memcpy(acc->data + acc->len, p + take, rec.len - take);
            acc->len += std::uint32_t(rec.len - take);
            bufs_->pop(in);
            if (take > 0) sendq_.push(out, Seg{p, std::uint32_t(take), b, nullptr});
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

void H1Proxy::h_body_error(H1Conn* s, bool request) {
    if (request) {
        st_.fe[s->fe].ereq.inc();
        // the head has gone to the server already: the exchange cannot be repaired
        s->st->term[0] = 'C';
        s->st->term[1] = 'D';
        if (s->conn) c_release(s->conn, false), s->conn = nullptr;
        if (s->rsp_phase() == RspPhase::Head && s->out.n == 0 && s->st->status == 0) {
            h_reply_error(s, 400, "invalid chunked request body");
            return;
        }
        h_close(s);
    } else {
        h_server_failed(s, true);
    }
}

void H1Proxy::h_tunnel(H1Conn* s, InQ& in, HeadBuf*& acc, OutQ& out) {
    const bool to_client = &out == &s->out;
    if (acc && acc->off < acc->len && !out.full()) {
        if (to_client) h_count_out(s, acc->len - acc->off);
        sendq_.push(out, Seg{acc->data + acc->off, acc->len - acc->off, net::BufRing::kNone, acc});
        acc = nullptr;
    }
    while (!in.empty() && !out.full()) {
        const std::uint16_t b = in.head;
        const net::BufRing::Rec& rec = bufs_->rec(b);
        bufs_->pop(in);
        if (to_client) h_count_out(s, rec.len);
        sendq_.push(out, Seg{bufs_->data(b) + rec.off, rec.len, b, nullptr});
    }
}

void H1Proxy::h_txn(H1Conn* s, rules::Txn& t, sockaddr_storage& peer, sockaddr_storage& dst, rules::VarCtx& vc) {
    s->peer.get(peer);
    t.src = &peer;
    if (s->pp && s->pp->has_dst && w_.fe_rules_dst_[s->fe]) [[unlikely]] {  // only where a rule reads it
        s->pp->dst.get(dst);
        t.dst = &dst;
        t.dst_port = rules::addr_port(&dst);
    }
    t.tls = s->tls ? &s->tls->facts() : nullptr;  // no call: the facts were read at the handshake
    t.cfg = &cfg_;
    t.arena = &arena_;
    t.edits = &edits_;
    t.vars = w_.var_ctx(vc, &s->vars);
    t.servers = w_.servers();
    t.fe = int(s->fe);
    t.be = s->has(kH1CountedBe) ? s->be : -1;
}

// The request's unique id: rendered once from the frontend's unique-id-format with `t` (the request as
// the rules left it so far), then kept in the notes for the header, the rules and the log.
bool H1Proxy::h_unique_id(H1Conn* s, const rules::Txn& t, std::string_view& out) {
    const auto& fe = cfg_.frontends[s->fe];
    if (fe.unique_id_format.empty() || !s->st) return false;
    HttpNotes* nt = h_notes(s);
    if (!nt) return false;
    if (!nt->uid_done) {
        nt->uid_done = true;
        uid_arena_.reset();
        rules::ArenaWriter w(uid_arena_);
        // %Ts: the exchange's start, as the log's (from the accept for a connection's first request)
        const std::int64_t start = s->nreq <= 1 ? s->t_accept : s->t_ready;
        if (rules::render_unique_id(t, fe.unique_id_format, s->st->rt, (w_.wall_offset_ms_ + start) / 1000, w)) {
            const std::string_view v = w.commit();
            nt->uid_len = std::uint8_t(std::min<std::size_t>(v.size(), sizeof nt->uid));
            std::memcpy(nt->uid, v.data(), nt->uid_len);
        } else {
            (void)w.commit();
        }
    }
    out = std::string_view(nt->uid, nt->uid_len);
    return true;
}

void H1Proxy::h_count_rule_trouble(H1Conn* s, rules::Txn& t, const rules::Verdict& v) {
    const std::uint64_t n = t.failed_rewrites;
    t.failed_rewrites = 0;
    stats::ServerCounters* sc =
        s->be >= 0 && s->st && s->st->server >= 0 ? lbs_[std::size_t(s->be)]->server(s->st->server).c : nullptr;
    auto count = [&](auto& c) {
        c.wrew.add(n);
        if (v.internal) c.eint.inc();
    };
    count(st_.fe[s->fe]);
    if (s->be >= 0) count(st_.be[s->be]);
    if (sc) count(*sc);
}

}  // namespace es::proxy
