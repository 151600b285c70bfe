// The HTTP/1 proxy of one data shard: client connections (HttpSession), server connections
// (HttpConn, attached for one exchange or idle in the per-server pools), request and response
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
#include "edgeshard/proxy/h1_types.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "edgeshard/proxy/shard_ctx.hpp"
#include "edgeshard/proxy/page.hpp"
#include "edgeshard/proxy/page_waits.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::proxy {

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
    void http_accept(int slot, std::uint32_t fe, const sockaddr_storage* peer);  // a new client connection
    void http_on_client_cqe(const shard::UserData& u, const shard::Cqe& e);  // ops owned by HttpClient
    void http_on_server_cqe(const shard::UserData& u, const shard::Cqe& e);  // ops owned by HttpServer
    void http_end_of_turn();
    void http_stop();                 // hard stop: every connection closes now
    void h_server_slot_freed(int be); // a server of `be` has room: start a queued exchange
    void h_page_answer(const shard::Message& m);  // the control shard's answer to a page request

private:
    void http_init();
    void h_start(HttpSession* s);
    bool gather(InQ& q, HeadBuf*& acc);
    // client side
    void h_arm_recv(HttpSession* s);
    void h_cancel_recv(HttpSession* s);
    void h_maybe_rearm(HttpSession* s);
    void h_on_cli_recv(HttpSession* s, const shard::Cqe& e);
    void h_on_cli_eof(HttpSession* s);
    void h_client_abort(HttpSession* s);
    void h_send_client(HttpSession* s);
    void h_on_cli_send(HttpSession* s, int res);
    void h_linger(HttpSession* s);
    void h_on_cli_shut(HttpSession* s, int res);
    void h_process_request(HttpSession* s);
    void h_process_request_loop(HttpSession* s);
    bool h_parse_request(HttpSession* s);
    void h_start_request(HttpSession* s, http::RequestHead& req, const char* base, std::size_t avail);
    // request analysers, in order (http_request.cpp)
    bool h_begin_exchange(HttpSession* s, const http::RequestHead& req, const char* base);
    bool h_frontend_rules(HttpSession* s, const http::RequestHead& req, rules::Txn& t);
    bool h_switch_backend(HttpSession* s, rules::Txn& t);
    bool h_backend_rules(HttpSession* s, const http::RequestHead& req, rules::Txn& t);
    bool h_write_request_head(HttpSession* s, const http::RequestHead& req, const sockaddr_storage& peer);
    bool h_balance_key(HttpSession* s, const http::RequestHead& req);
    bool h_check_body_start(HttpSession* s, const http::RequestHead& req, const char* base, std::size_t avail);
    PickInput h_pick_input(const HttpSession* s, sockaddr_storage& src) const;
    HttpNotes* h_notes(HttpSession* s);
    void h_drop_notes(HttpSession* s);
    void h_assign_server(HttpSession* s, int exclude);
    void h_use_server(HttpSession* s, int i);
    void h_attach_ready(HttpSession* s);
    bool h_forward_body(HttpSession* s, InQ& in, HeadBuf*& acc, OutQ& out, http::BodyKind kind,
                        std::uint64_t& left, http::ChunkedScanner& chunks, bool request);
    void h_body_error(HttpSession* s, bool request);
    void h_tunnel(HttpSession* s, InQ& in, HeadBuf*& acc, OutQ& out);
    std::string_view h_error(HttpSession* s, int status) const;
    bool h_queue_reply(HttpSession* s, std::string_view bytes, bool close);
    static int reply_status(std::string_view bytes);
    void h_local_reply(HttpSession* s, int status, std::string_view bytes);
    void h_reply_error(HttpSession* s, int status, const char* why);
    void h_serve_page(HttpSession* s, const http::RequestHead& req, int kind);
    void h_server_failed(HttpSession* s, bool bad_response);
    void h_server_ended_body(HttpSession* s);
    void h_abort_reply(HttpSession* s, int status);
    void h_count_out(HttpSession* s, std::uint64_t n);
    bool h_replay(HttpSession* s, HttpConn* c, std::uint32_t why);
    void h_keep_for_replay(HttpSession* s, bool reused);
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
    void h_drop_replay(HttpSession* s);
    void h_process_response(HttpSession* s);
    bool h_parse_response(HttpSession* s);
    void h_response_done(HttpSession* s);
    void h_request_done(HttpSession* s, bool local);
    std::int64_t h_deadline(const HttpSession* s, int* why) const;
    // Re-arms the session's timer for its current deadline. Inside a completion handler of that
    // session it does nothing: the completion handler (http.cpp) computes the deadline once, after the handler.
    void h_schedule(HttpSession* s) {
        if (s != hsched_after_) h_schedule_now(s);
    }
    void h_schedule_now(HttpSession* s);
    void h_close(HttpSession* s);
    void h_maybe_release(HttpSession* s);
    void h_op_done(HttpSession* s);
    void h_log(HttpSession* s);
    // server connections
    void c_connect(HttpConn* c);
    void c_on_socket(HttpConn* c, int res);
    void c_on_connect(HttpConn* c, int res);
    void c_connect_failed(HttpConn* c, int res);
    void c_arm_recv(HttpConn* c);
    void c_cancel_recv(HttpConn* c);
    void c_maybe_rearm(HttpConn* c);
    void c_send(HttpConn* c);
    void c_on_send(HttpConn* c, int res);
    void c_on_recv(HttpConn* c, const shard::Cqe& e);
    void c_release(HttpConn* c, bool reusable);
    void c_close(HttpConn* c);
    void c_maybe_release(HttpConn* c);
    void c_op_done(HttpConn* c);
    // response bodies by splice (transfer.cpp)
    void h_maybe_splice(HttpSession* s);
    void h_splice_fallback(HttpConn* c);
    void h_pump(HttpSession* s);
    void h_splice_done(HttpSession* s);
    void h_on_cli_install(HttpSession* s, int res);
    void h_on_cli_poll(HttpSession* s);
    void c_on_install(HttpConn* c, int res);
    void c_on_poll(HttpConn* c);
    void c_on_shut(HttpConn* c);
    void h_tunnel_shut_server(HttpSession* s);
    void h_maybe_end_sent(HttpSession* s);
    void c_splice_close(HttpConn* c);

    pool::ObjectPool<HttpSession> hsessions_;
    pool::ObjectPool<HttpConn> hconns_;
    net::SendQueues sendq_;  // output queues: head blocks and queue blocks (only while bytes are queued)
    pool::ObjectPool<HttpNotes> notes_{"http_notes"};     // per-request notes (log line, balance key)
    std::vector<std::vector<core::ListNode>> idle_;  // [backend][server]: idle server connections, MRU first
    std::vector<std::vector<HttpSession*>> hqueues_;  // [backend]: sessions waiting for a server slot
    std::vector<HttpSession*> hstarved_;
    std::vector<HttpSession*> hpending_;
    std::vector<std::uint32_t> be_retry_;  // [backend]: retry-on as RetryOn bits  // accepted beyond a limit, waiting for a slot (FIFO)
    std::vector<HttpConn*> cstarved_;
    std::vector<HttpSession*> hreleased_;
    std::vector<HttpConn*> creleased_;
    core::ListNode hall_;
    int hconns_live_ = 0;
    // the session whose completion is being handled: its deadline is computed once, after the
    // handler (http_on_client_cqe, http_on_server_cqe), not at every h_schedule inside it
    HttpSession* hsched_after_ = nullptr;
    http::Limits http_limits_;
    http::RequestHead req_head_;   // the head being processed (one at a time per shard)
    http::ResponseHead rsp_head_;
    rules::Arena arena_;
    rules::HeaderEdits edits_;
    PageWaits<HttpSession> pages_{kPageWaitSlots};  // sessions waiting for a page from the control shard
};

}  // namespace es::proxy
