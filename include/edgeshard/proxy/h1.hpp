// The HTTP/1 proxy of one data shard: client connections (H1Conn) and their exchanges (H1Stream),
// server connections (H1SrvConn, attached for one exchange or idle in the per-server pools), request and response
// analysis, bodies, splice, local replies, timers and the access log. The shard application
// (Worker) owns it, accepts its connections, dispatches its completions (proxy/ops.hpp) and
// timers, and shares with it the shard's services: the ring, buffers, the connection-side ops,
// the load balancers, the pipe pool, connection accounting and the log ring.
//
// See src/proxy/README.md, "Life of an HTTP request", for the order in which a request visits
// the files that implement this class.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/http/parser.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/net/send_queue.hpp"
#include "edgeshard/pool/pool.hpp"
#include "edgeshard/log/access_log.hpp"
#include "edgeshard/proxy/h1_types.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "edgeshard/proxy/shard_ctx.hpp"
#include "edgeshard/proxy/tls_io.hpp"
#include "edgeshard/proxy/page.hpp"
#include "edgeshard/proxy/page_waits.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/stats/counters.hpp"
#include "edgeshard/tls/conn.hpp"
#include "edgeshard/tls/session_cache.hpp"
#include "edgeshard/tls/upstream.hpp"
#include "edgeshard/tls/certinfo.hpp"

namespace es::proxy {

namespace h1 {
struct Writer;
}

class H1Proxy : ShardCtx {
public:
    explicit H1Proxy(Worker& w);
    H1Proxy(const H1Proxy&) = delete;
    H1Proxy& operator=(const H1Proxy&) = delete;

    int conns_live() const { return hconns_live_; }  // server connections, pooled or attached
    void pools(std::vector<pool::RawPool*>& out);
    void start_pending();      // accepted beyond a limit: start those that now have room
    void http_drain_tick();    // soft stop: close idle client connections
    void h_on_timer(shard::Timer* t);
    std::size_t queued(std::size_t be) const { return hqueues_[be].size(); }
    // a new client connection, on bind `bind` of frontend `fe` (-1: not known, plain)
    void http_accept(int slot, std::uint32_t fe, const sockaddr_storage* peer, int bind = -1, PpInfo* pp = nullptr,
                     stick::Refs* trk = nullptr);
    // A mode tcp frontend's connection that its content rules sent to mode http backend `be` (TcpProxy::upgrade):
    // its socket (no op in flight), the bytes read so far (`first`, then the buffers of `rest`, taken), what its
    // session carried; it already holds a connection slot.
    void adopt(const net::ConnSide& cli, std::uint32_t fe, const sockaddr_storage& peer, PpInfo* pp, stick::Refs* trk,
               rules::Vars* vars, int be, std::string_view first, net::BufChain& rest, std::int64_t t_accept);
    void http_on_client_cqe(const shard::UserData& u, const shard::Cqe& e);  // ops owned by HttpClient
    void http_on_server_cqe(const shard::UserData& u, const shard::Cqe& e);  // ops owned by HttpServer
    void http_end_of_turn();
    void http_stop();                 // hard stop: every connection closes now
    // Cuts the exchanges of backend `be` on a server `on(server)` names (one waiting for its
    // response gets a 502), and drops its idle server connections: a health change
    // (on-marked-down shutdown-sessions, why 'D') or the administrator (why 'K').
    void http_shutdown_sessions(int be, const std::function<bool(int)>& on, char why = 'D');
    // Closes the pooled idle connections of the backend's servers `on` accepts (a new address).
    void http_close_idle(int be, const std::function<bool(int)>& on);
    void h_server_slot_freed(int be); // a server of `be` has room: start a queued exchange
    void h_page_answer(const shard::Message& m);  // the control shard's answer to a page request

private:
    void http_init();
    void h_start(H1Conn* s);
    bool gather(InQ& q, HeadBuf*& acc);
    // client side
    void h_arm_recv(H1Conn* s);
    void h_cancel_recv(H1Conn* s);
    void h_maybe_rearm(H1Conn* s);
    void h_on_cli_recv(H1Conn* s, const shard::Cqe& e);
    // TLS (h1_tls.cpp): records in, plaintext to the request side; plaintext out, records queued
    void h_tls_recv(H1Conn* s, std::uint16_t bid, std::uint32_t n, bool more);
    std::size_t h_tls_pull(H1Conn* s);
    void h_tls_seal(H1Conn* s);
    // TLS to servers (h1_tls.cpp): the connection's record layer, its SNI, handshake, plaintext pull
    std::string_view c_tls_sni(H1Conn* s, const config::ServerTlsOptions& t, const HeadBuf* head, char* buf,
                               std::size_t cap) const;
    bool c_tls_start(H1SrvConn* c, H1Conn* s, const HeadBuf* head);
    void c_tls_recv(H1SrvConn* c, std::uint16_t bid, std::uint32_t n, bool more);
    void c_tls_failed(H1SrvConn* c);
    std::size_t c_tls_pull(H1Conn* s, H1SrvConn* c);
    void h_process_response_tls(H1Conn* s);
    void h_process_response_loop(H1Conn* s);
    bool h_tls_close_notify(H1Conn* s);
    // kernel TLS (`ktls on`, h1_tls.cpp): hands the records to the kernel once it may
    void h_ktls_try(H1Conn* s);
    void h_on_cli_eof(H1Conn* s);
    void h_client_abort(H1Conn* s);
    void h_send_client(H1Conn* s);
    void h_on_cli_send(H1Conn* s, int res);
    void h_linger(H1Conn* s);
    void h_on_cli_shut(H1Conn* s, int res);
    void h_process_request(H1Conn* s);
    void h_process_request_loop(H1Conn* s);
    void h_process_request_tls(H1Conn* s);
    bool h_parse_request(H1Conn* s);
    void h_start_request(H1Conn* s, http::RequestHead& req, const char* base, std::size_t avail);
    // request analysers, in order (http_request.cpp)
    bool h_begin_exchange(H1Conn* s, const http::RequestHead& req, const char* base);
    bool h_frontend_rules(H1Conn* s, const http::RequestHead& req, rules::Txn& t);
    // What a rule list could not do, counted on the frontend, the backend and the server it has: failed rewrites
    // (wrew, then cleared from `t`) and a 500 of the rules' own (eint). One test when nothing failed.
    void h_rule_trouble(H1Conn* s, rules::Txn& t, const rules::Verdict& v) {
        if ((t.failed_rewrites | std::uint16_t(v.internal)) != 0) [[unlikely]] h_count_rule_trouble(s, t, v);
    }
    void h_count_rule_trouble(H1Conn* s, rules::Txn& t, const rules::Verdict& v);
    bool h_switch_backend(H1Conn* s, rules::Txn& t);
    bool h_backend_rules(H1Conn* s, const http::RequestHead& req, rules::Txn& t);
    bool h_write_request_head(H1Conn* s, const http::RequestHead& req, const sockaddr_storage& peer);
    bool h_balance_key(H1Conn* s, const http::RequestHead& req);
    void h_log_badreq(H1Conn* s);
    // cookie persistence (http_cookie.cpp)
    bool h_cookie_request(H1Conn* s, const http::RequestHead& req);
    void h_cookie_write_req(h1::Writer& w, const http::Header& h, const config::CookieSpec& ck);
    int h_persist_pick(H1Conn* s, int exclude);
    void h_cookie_server_set(H1Conn* s, const http::Header& h, h1::Writer& w);
    void h_cookie_insert(H1Conn* s, const http::ResponseHead& rsp, h1::Writer& w);
    bool h_check_body_start(H1Conn* s, const http::RequestHead& req, const char* base, std::size_t avail);
    PickInput h_pick_input(const H1Conn* s, sockaddr_storage& src) const;
    H1Stream* h_new_stream(H1Conn* s);
    void h_end_stream(H1Conn* s);
    HttpNotes* h_notes(H1Conn* s);
    // inline tests, out-of-line frees: both run at least once per exchange, from other files
    void h_drop_notes(H1Conn* s) {
        if (s->st && s->st->notes) h_free_notes(s);
    }
    void h_free_notes(H1Conn* s);
    void h_assign_server(H1Conn* s, int exclude);
    void h_use_server(H1Conn* s, int i);
    void h_attach_ready(H1Conn* s);
    bool h_forward_body(H1Conn* s, InQ& in, HeadBuf*& acc, OutQ& out, http::BodyKind kind,
                        std::uint64_t& left, http::ChunkedScanner& chunks, bool request);
    void h_body_error(H1Conn* s, bool request);
    void h_tunnel(H1Conn* s, InQ& in, HeadBuf*& acc, OutQ& out);
    std::string_view h_error(H1Conn* s, int status) const;
    bool h_queue_reply(H1Conn* s, std::string_view bytes, bool close);
    static int reply_status(std::string_view bytes);
    void h_local_reply(H1Conn* s, int status, std::string_view bytes);
    // http-after-response on a reply the proxy makes (a rule's, a redirect, an error, a page): the reply
    // as the rules leave it (in the arena, or in *big when given and the arena is too small), or `bytes`
    // itself when no list applies (the usual case: one test). Never for the parser's own errors (HAProxy's
    // mux answers those below the rules).
    std::string_view h_after_reply(H1Conn* s, std::string_view bytes, std::string* big = nullptr) {
        const config::HttpProxy* first = nullptr;
        const config::HttpProxy* second = nullptr;
        if (!h_after_lists(s, first, second)) [[likely]] return bytes;
        return h_after_rewrite(s, bytes, *first, second, big);
    }
    // The lists a reply runs through: the backend's when the exchange has one (then the frontend's too,
    // unless the backend is the frontend's own, a listen), else the frontend's alone. Inline: every
    // response asks.
    bool h_after_lists(const H1Conn* s, const config::HttpProxy*& first, const config::HttpProxy*& second) const {
        const auto& fe = cfg_.frontends[s->fe];
        const bool routed = s->has(kH1CountedBe) && s->be >= 0;
        first = routed ? &cfg_.backends[std::size_t(s->be)].http : &fe.http;
        second = routed && fe.own_backend_id != s->be ? &fe.http : nullptr;
        return !first->after_rules.empty() || (second != nullptr && !second->after_rules.empty());
    }
    std::string_view h_after_rewrite(H1Conn* s, std::string_view bytes, const config::HttpProxy& first,
                                     const config::HttpProxy* second, std::string* big);
    // Queues the final reply of an exchange that ends with the proxy's answer (after http-after-response),
    // copying what lives in the arena into a head buffer; sets the logged status. False: no memory, the
    // session was closed.
    bool h_queue_final(H1Conn* s, std::string_view bytes, int status, bool close);
    void h_reply_error(H1Conn* s, int status, const char* why);
    void h_serve_page(H1Conn* s, const http::RequestHead& req, int kind, int backend = -1, bool admin = false);
    void h_ask_page(H1Conn* s, PageRequest* rq);
    // captures (http_capture.cpp)
    void http_init_captures();
    char* h_caps(H1Conn* s);
    void h_free_caps(HttpNotes* nt);
    void h_capture_head(H1Conn* s, const http::MessageHead& m, bool response);
    static constexpr std::size_t kMaxLogCaps = 64;  // slots a direction the log shows (the config's bound)
    void h_log_caps(H1Conn* s, log::Fields& f, log::Captured* req, log::Captured* rsp);
    bool h_captures(const H1Conn* s) const { return !caps_.empty() && caps_[s->fe].size != 0; }
    struct CapWriter final : rules::CaptureSink {
        H1Proxy* p;
        H1Conn* s;
        CapWriter(H1Proxy* px, H1Conn* c) : p(px), s(c) {}
        void capture(bool response, std::uint32_t slot, std::string_view value) override;
    };
    // A log format's sample expressions at log time, into `out` (their text in uid_arena_).
    void h_log_samples(H1Conn* s, const log::Fields& f, const std::vector<std::string>& exprs, std::string_view* out,
                       std::size_t n);
    // The rules' view of a connection: its client address, the address it reached (where a rule reads it),
    // its TLS facts, the configuration, the shard's arena and edits, its variables (`peer`, `dst` and `vc`
    // live in the caller's frame).
    void h_txn(H1Conn* s, rules::Txn& t, sockaddr_storage& peer, sockaddr_storage& dst, rules::VarCtx& vc);
    // the request's unique id (unique-id-format): built with `t` on its first use, kept in the notes
    bool h_unique_id(H1Conn* s, const rules::Txn& t, std::string_view& out);
    struct UidWriter final : rules::UniqueIdSource {
        H1Proxy* p;
        H1Conn* s;
        UidWriter(H1Proxy* px, H1Conn* c) : p(px), s(c) {}
        bool unique_id(const rules::Txn& t, std::string_view& out) override { return p->h_unique_id(s, t, out); }
    };
    std::uint16_t h_mapped_port(const H1Conn* s, const config::Server& sv) const;  // sends it to the control shard; the session waits
    // An admin POST to the stats page: its body is gathered (HAProxy's bound), then its actions are
    // asked for. False: waiting for more of the body (or answered).
    bool h_collect_post(H1Conn* s);
    // A local answer counts as the frontend's `intercepted` unless the request was routed to a
    // backend first (a backend's stats page, its 503 for want of a server...): HAProxy counts it
    // only when the frontend is the proxy that answers (a listen's backend stage is its own).
    bool h_intercepted(const H1Conn* s) const {
        return !s->has(kH1CountedBe) || cfg_.frontends[s->fe].own_backend_id == s->be;
    }
    // The stats page of `sp` (a frontend's, or with be >= 0 a backend's) when the request asks for
    // it: its credentials, then the page. False: the request was answered.
    bool h_stats_page(H1Conn* s, const http::RequestHead& req, const config::StatsPage& sp, int be, rules::Txn& t);
    void h_server_failed(H1Conn* s, bool bad_response);
    void h_server_ended_body(H1Conn* s);
    void h_abort_reply(H1Conn* s, int status);
    void h_count_out(H1Conn* s, std::uint64_t n);
    bool h_replay(H1Conn* s, H1SrvConn* c, std::uint32_t why);
    void h_keep_for_replay(H1Conn* s, bool reused);
    static std::uint32_t retry_status_bit(int status);
    enum RetryOn : std::uint32_t {
        kRetryConnect = 1u << 0,
        kRetryEmpty = 1u << 1,
        kRetryJunk = 1u << 2,
        kRetryTimeout = 1u << 3,
        kRetry404 = 1u << 4,
        kRetry408 = 1u << 5,
        kRetry425 = 1u << 6,
        kRetry500 = 1u << 7,
        kRetry501 = 1u << 8,
        kRetry502 = 1u << 9,
        kRetry503 = 1u << 10,
        kRetry504 = 1u << 11,
    };
    void h_drop_replay(H1Conn* s) {
        if (s->st && s->st->replay) h_free_replay(s);
    }
    void h_free_replay(H1Conn* s);
    void h_process_response(H1Conn* s);
    bool h_parse_response(H1Conn* s);
    void h_response_done(H1Conn* s);
    void h_stick_done(H1Conn* s, int status, bool local, std::uint64_t bytes_in);
    void h_request_done(H1Conn* s, bool local);
    std::int64_t h_deadline(const H1Conn* s, int* why) const;
    // Re-arms the session's timer for its current deadline. Inside a completion handler of that
    // session it does nothing: the completion handler (http.cpp) computes the deadline once, after the handler.
    void h_schedule(H1Conn* s) {
        if (s != hsched_after_) h_schedule_now(s);
    }
    void h_schedule_now(H1Conn* s);
    void h_close(H1Conn* s);
    void h_maybe_release(H1Conn* s);
    void h_op_done(H1Conn* s);
    void h_log(H1Conn* s);
    // server connections
    void c_connect(H1SrvConn* c);
    void c_on_socket(H1SrvConn* c, int res);
    void c_on_connect(H1SrvConn* c, int res);
    void c_connect_failed(H1SrvConn* c, int res);
    void c_arm_recv(H1SrvConn* c);
    void c_cancel_recv(H1SrvConn* c);
    void c_maybe_rearm(H1SrvConn* c);
    void c_send(H1SrvConn* c);
    void c_on_send(H1SrvConn* c, int res);
    void c_on_recv(H1SrvConn* c, const shard::Cqe& e);
    void c_release(H1SrvConn* c, bool reusable);
    void c_close(H1SrvConn* c);
    void c_maybe_release(H1SrvConn* c);
    void c_op_done(H1SrvConn* c);
    // response bodies by splice (transfer.cpp)
    void h_maybe_splice(H1Conn* s);
    void h_splice_fallback(H1SrvConn* c);
    void h_pump(H1Conn* s);
    void h_splice_done(H1Conn* s);
    void h_on_cli_install(H1Conn* s, int res);
    void h_on_cli_poll(H1Conn* s);
    void c_on_install(H1SrvConn* c, int res);
    void c_on_poll(H1SrvConn* c);
    void c_on_shut(H1SrvConn* c);
    void h_tunnel_shut_server(H1Conn* s);
    void h_maybe_end_sent(H1Conn* s);
    void c_splice_close(H1SrvConn* c);

    pool::ObjectPool<H1Conn> hsessions_;
    pool::ObjectPool<H1SrvConn> hconns_;
    net::SendQueues& sendq_;  // the shard's output queues (TlsIo owns them: both protocols use them)
    pool::ObjectPool<H1Stream> streams_{"http_stream"};   // exchanges (only while one is open)
    pool::ObjectPool<HttpNotes> notes_{"http_notes"};     // per-request notes (log line, balance key)
    // each frontend's capture slots in a block, and the pool of blocks (none: no captures anywhere)
    struct CapLayout {
        static constexpr std::uint32_t kNone = 0xffffffffu;
        struct Slot {
            std::uint32_t off;
            int len;
        };
        std::vector<Slot> req, rsp;
        std::uint32_t cookie_cli = kNone, cookie_srv = kNone;
        std::uint32_t size = 0;
    };
    std::vector<CapLayout> caps_;
    std::unique_ptr<pool::RawPool> caps_pool_;
    std::vector<std::vector<core::ListNode>> idle_;  // [backend][server]: idle server connections, MRU first
    std::vector<std::vector<H1Conn*>> hqueues_;  // [backend]: sessions waiting for a server slot
    std::vector<H1Conn*> hstarved_;
    std::vector<H1Conn*> hpending_;
    std::vector<std::uint32_t> be_retry_;  // [backend]: retry-on as RetryOn bits  // accepted beyond a limit, waiting for a slot (FIFO)
    std::vector<H1SrvConn*> cstarved_;
    std::vector<H1Conn*> hreleased_;
    std::vector<H1SrvConn*> creleased_;
    core::ListNode hall_;
    int hconns_live_ = 0;
    // the session whose completion is being handled: its deadline is computed once, after the
    // handler (http_on_client_cqe, http_on_server_cqe), not at every h_schedule inside it
    H1Conn* hsched_after_ = nullptr;
    http::Limits http_limits_;
    http::RequestHead req_head_;   // the head being processed (one at a time per shard)
    http::ResponseHead rsp_head_;
    http::ResponseHead reply_head_;  // a reply of the proxy's, parsed back for http-after-response
    rules::Arena arena_;
    rules::Arena uid_arena_;      // where a unique id is built (while a rule's own writer is open on arena_)
    std::uint64_t rt_seq_ = 0;    // exchanges this shard began (%rt)
    std::string_view log_samples_[64];  // a log line's sample values (h_log_samples), while it is written
    rules::HeaderEdits edits_;
    PageWaits<H1Conn> pages_{kPageWaitSlots};  // sessions waiting for a page from the control shard
};

}  // namespace es::proxy
