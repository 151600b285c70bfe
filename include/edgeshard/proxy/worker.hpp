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
#include <memory>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/pipe.hpp"
#include "edgeshard/pool/pool.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "edgeshard/proxy/session.hpp"
#include "edgeshard/shard/reactor.hpp"
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
    bool done() const { return stopping_ && live_ == 0 && listener_ops_ == 0; }

    std::vector<const pool::RawPool*> pools() const;
    const net::BufRing& buffers() const { return *bufs_; }

private:
    struct Listener {
        int fd = -1;
        std::uint32_t fe = 0;
        bool armed = false;
        bool cancelling = false;
        bool multishot = true;  // false: single-shot accepts, the client address is needed
        bool armed_multishot = false;
        sockaddr_storage peer{};
        socklen_t peer_len = 0;
    };

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
    void connect_failed(Session* s);
    void established(Session* s);
    void server_slot_freed(Session* s);

    // transfer path
    void arm_recv(Session* s, int side);
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
    bool accept_paused_ = false;
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
};

}  // namespace es::proxy
