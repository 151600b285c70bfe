// One data shard's application: listeners, L4 sessions, load balancing, pools and counters.
// It is the handler the shard's Reactor runs (see reactor.hpp for the order of a turn).
//
// L4 session (DESIGN.md §4):
//   accept (multishot, direct descriptor) -> pick server -> socket + TCP_NODELAY + connect with a
//   linked timeout -> multishot recv on both sides from the shard's buffer ring -> each received
//   buffer is queued on its direction and sent to the other side with sendmsg (MSG_WAITALL, one
//   send in flight per direction, short sends resumed) -> buffers recycled when sent.
//   Backpressure: a direction whose unsent bytes pass the high watermark cancels its recv and
//   re-arms it once drained below the low watermark. Half-close: EOF on one side becomes
//   shutdown(SHUT_WR) on the other once the queue is empty; the session ends when both
//   directions are shut. Bulk flows: once a direction has moved `splice-after` bytes in full
//   buffers, it stops its recv, drains, and moves to splice(2) through a pooled pipe, driven by
//   one-shot POLL_ADD readiness (never IORING_OP_SPLICE, which always runs in io-wq workers).
//   Close: cancel every op on both fds, close the direct descriptors, and release the session
//   at the end of the turn in which its last CQE arrived.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/http/parser.hpp"
#include "edgeshard/http/rules.hpp"
#include "edgeshard/log/access_log.hpp"
#include "edgeshard/proxy/http_session.hpp"
#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/pipe.hpp"
#include "edgeshard/pool/pool.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "edgeshard/proxy/page.hpp"
#include "edgeshard/proxy/page_waits.hpp"
#include "edgeshard/proxy/session.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::proxy {

struct WorkerParams {
    int shard_id = 0;
    int nshards = 1;
    int conn_limit = 0;                // this shard's share of the global maxconn
    std::vector<int> fe_limits;        // this shard's share of each frontend's maxconn (0 = none)
    struct ListenerSpec {
        int fd;
        std::uint32_t fe;
    };
    std::vector<ListenerSpec> listeners;
    bool splice_ok = false;   // the kernel can install regular fds for direct descriptors
    bool sockopt_ok = false;  // TCP_NODELAY can be set on direct descriptors
    int maxpipes = 0;         // this shard's pipe cap
    // HTTP
    log::Ring* log_ring = nullptr;  // this shard's access-log ring (nullptr: no frontend logs)
    // where this shard asks the control shard for the stats pages (proxy/page.hpp); null: none
    shard::ControlLink* to_control = nullptr;
    std::int64_t wall_offset_ms = 0;  // wall clock ms - monotonic ms, for log dates
    // runtime server states to start with, by [backend][server] (empty: as configured)
    std::vector<std::vector<shard::ServerRuntime>> servers;
    bool accept_paused = false;  // listeners taken over in a reload: accept only after kResumeAccept
    // needed_avg hints by pool name for this shard (a reload: the old process's demand)
    std::vector<std::pair<std::string, std::uint64_t>> pool_hints;
};



class Worker {
public:
    Worker(const config::Config& cfg, const WorkerParams& p, shard::Reactor& r, stats::ShardStats& st);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    void start();  // arms the listeners and the housekeeping timer

    // Reactor handler interface
    void on_cqe(const shard::Cqe& e);
    void run_ready();
    bool has_ready() const { return !ready_.empty(); }
    void on_message(const shard::Message& m);
    void on_timer(shard::Timer* t);
    void end_of_turn();
    // stopped, or drained after a soft stop: no connection, no accept, no pooled server connection left
    bool done() const { return (stopping_ || draining_) && live_ == 0 && listener_ops_ == 0 && hconns_live_ == 0; }

    std::vector<const pool::RawPool*> pools() const;
    static bool frontend_needs_addr(const config::Config& cfg, std::uint32_t fe);
    const net::BufRing& buffers() const { return *bufs_; }

private:
    // runtime server states (proxy/admin.cpp)
    void apply_initial_server_states();
    void on_server_admin(const shard::Message& m);

    struct Listener {
        int fd = -1;
        std::uint32_t fe = 0;
        bool armed = false;
        bool cancelling = false;
        bool multishot = true;  // false: single-shot accepts, the client address is needed
        bool armed_multishot = false;
        sockaddr_storage peer{};
        socklen_t peer_len = 0;
        bool retired = false;  // a soft stop ended its accepting for good
        bool keep = false;     // draining, but no other process took it: accept until its queue is empty
    };
    // soft stop (reload, SIGUSR1): see worker.cpp "drain"
    void begin_drain(const std::vector<std::uint8_t>* keep);
    void drain_tick();
    void retire_listener(std::size_t li);
    void http_drain_tick();

    // accept path
    static constexpr int kNearLimit = 64;
    bool want_multishot(std::size_t li) const;
    void arm_accept(std::size_t li);
    void pause_accept(std::size_t li);
    void update_accepting();
    void on_accept(std::size_t li, const shard::Cqe& e);
    bool fe_has_room(std::uint32_t fe) const;
    void start_session(Session* s);
    void start_pending();

    // connect path
    void connect_server(Session* s, int exclude);
    void connect_to(Session* s, int server);
    void on_socket(Session* s, int res);
    void on_connect(Session* s, int res);
    int connect_chain(int slot, const config::SockAddr& addr, config::Millis ct, __kernel_timespec& ts,
                      std::uint64_t ud_opt, std::uint64_t ud_conn, std::uint64_t ud_timeout);
    int cancel_and_close(int& slot, bool shut_inflight, int& deferred, std::uint64_t ud_cancel,
                         std::uint64_t ud_close);
    int close_deferred(int& deferred, std::uint64_t ud_close);
    void connect_failed(Session* s);
    void established(Session* s);
    void server_slot_freed(Session* s);

    // transfer path
    void arm_recv(Session* s, int side);
    void queue_recv(int slot, std::uint64_t user_data);
    void queue_cancel(std::uint64_t target, std::uint64_t user_data);
    void on_recv(Session* s, int side, const shard::Cqe& e);
    void count_bytes(Session* s, int side, std::uint64_t n);
    void read_failed(Session* s, int side);
    void try_send(Session* s, int dir);
    void on_send(Session* s, int side, int res);
    void shutdown_side(Session* s, int side);
    void on_shutdown(Session* s, int side, int res);
    void cancel_recv(Session* s, int side);
    void maybe_rearm(Session* s, int dir);

    // splice path
    void begin_switch(Session* s, int dir);
    void maybe_start_splice(Session* s, int dir);
    void on_install(Session* s, int side, int res);
    void pump(Session* s, int dir);
    net::Pipe* get_pipe();
    void put_pipe(net::Pipe* p, bool clean);
    void arm_poll(Session* s, int side, bool out);
    void on_poll(Session* s, int side, bool out, int res);

    // lifecycle
    void schedule_idle(Session* s);
    std::int64_t idle_deadline(const Session* s) const;
    void close_session(Session* s);
    void drop_queue(Dir& d);
    void op_done(Session* s);
    void maybe_release(Session* s);
    void release(Session* s);
    void housekeeping();

    void count_abort(Session* s, int side);

    // ---- HTTP (http.cpp)
    void http_init();
    bool is_http_fe(std::uint32_t fe) const;
    void http_accept(int slot, std::uint32_t fe, const sockaddr_storage* peer);
    void h_start(HttpSession* s);
    void http_on_cqe(const shard::UserData& u, const shard::Cqe& e);
    void http_end_of_turn();
    void http_stop();
    void stale(const shard::Cqe& e);
    void inq_push(InQ& q, std::uint16_t bid, std::uint32_t len);
    std::uint16_t inq_pop(InQ& q);
    void inq_drop(InQ& q);
    void outq_push(OutQ& q, const Seg& sg);
    void seg_free(Seg& sg);
    void outq_drop(OutQ& q);
    void outq_trim(OutQ& q);
    bool outq_send(OutQ& q, int slot, std::uint64_t ud);
    void outq_sent(OutQ& q, std::uint32_t sent);
    HeadBuf* new_head();
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
    void h_page_answer(const shard::Message& m);
    void h_server_slot_freed(int be);
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
    // session it does nothing: http_on_cqe computes the deadline once, after the handler.
    void h_schedule(HttpSession* s) {
        if (s != hsched_after_) h_schedule_now(s);
    }
    void h_schedule_now(HttpSession* s);
    void h_on_timer(shard::Timer* t);
    void h_close(HttpSession* s);
    void h_maybe_release(HttpSession* s);
    void h_op_done(HttpSession* s);
    void h_log(HttpSession* s);
    bool push_log(std::uint32_t fe, std::string_view line);
    void tcp_log(Session* s);
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

    const config::Config& cfg_;
    WorkerParams p_;
    shard::Reactor& r_;
    stats::ShardStats& st_;
    std::unique_ptr<net::BufRing> bufs_;
    pool::ObjectPool<Session> sessions_;
    pool::ObjectPool<net::Pipe> pipes_;
    std::vector<Listener> listeners_;
    std::vector<std::unique_ptr<BackendLb>> lbs_;
    std::vector<int> fe_conns_;
    std::vector<int> fe_pending_;  // accepted beyond a limit, per frontend
    int conns_ = 0;   // started sessions (count towards the limits)
    int live_ = 0;    // sessions allocated and not yet released
    int listener_ops_ = 0;
    bool stopping_ = false;
    bool draining_ = false;
    bool accept_paused_ = false;  // listeners taken over in a reload wait for kResumeAccept
    std::int64_t drain_start_ = 0;
    shard::Timer drain_timer_;
    std::vector<Session*> pending_;   // accepted beyond a limit, waiting for a slot (FIFO)
    std::vector<std::vector<Session*>> queues_;  // per backend: waiting for a server slot
    std::vector<Session*> ready_;     // splice pumps to continue next turn
    std::vector<Session*> starved_;   // recvs ended by ENOBUFS, re-armed when buffers return
    std::vector<Session*> released_;  // freed at end of turn
    core::ListNode all_;              // every live session (for stop)
    std::vector<net::Pipe*> idle_pipes_;
    bool pipes_taken_ = false;
    shard::Timer housekeeping_timer_;
    std::uint8_t gen_ = 0;

    // ---- HTTP state
    pool::ObjectPool<HttpSession> hsessions_;
    pool::ObjectPool<HttpConn> hconns_;
    pool::ObjectPool<HeadBuf> heads_;
    pool::ObjectPool<OutBlock> outblocks_{"http_outq"};  // output queue blocks (only while bytes are queued)
    pool::ObjectPool<HttpNotes> notes_{"http_notes"};     // per-request notes (log line, balance key)
    PageWaits<HttpSession> pages_{kPageWaitSlots};       // sessions waiting for a page from the control shard
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
    // handler (http_on_cqe), not at every h_schedule inside it
    HttpSession* hsched_after_ = nullptr;
    http::Limits http_limits_;
    http::RequestHead req_head_;   // the head being processed (one at a time per shard)
    http::ResponseHead rsp_head_;
    http::Arena arena_;
    http::HeaderEdits edits_;
    std::vector<std::unique_ptr<log::Format>> fe_formats_;
    std::int64_t wall_offset_ms_ = 0;
};

}  // namespace es::proxy
