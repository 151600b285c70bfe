// The L4 (mode tcp) proxy of one data shard: sessions from accept to close (tcp_session.cpp)
// and the bytes between their two sides, by buffers or splice(2) (transfer.cpp). The shard
// application (Worker) owns it, hands it the connections its tcp frontends accept, dispatches its
// completions (proxy/ops.hpp) and timers, and shares with it the shard's services.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/pool/pool.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "edgeshard/proxy/shard_ctx.hpp"
#include "edgeshard/proxy/tls_io.hpp"
#include "edgeshard/proxy/tcp_types.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::proxy {

class TcpProxy : ShardCtx {
public:
    explicit TcpProxy(Worker& w);
    TcpProxy(const TcpProxy&) = delete;
    TcpProxy& operator=(const TcpProxy&) = delete;

    // a new client connection; `dst_port`: the port of the listener that accepted it, `bind` its
    // bind line (TLS binds terminate TLS)
    void accept(int slot, std::uint32_t fe, const sockaddr_storage* peer, std::uint16_t dst_port, int bind,
                PpInfo* pp = nullptr, stick::Refs* trk = nullptr);
    void start_pending();  // accepted beyond a limit: start those that now have room
    void on_cqe(const shard::UserData& u, const shard::Cqe& e);
    void on_timer(shard::Timer* t);
    void run_ready();      // splice pumps that spent their budget last turn
    bool has_ready() const { return !ready_.empty(); }
    void end_of_turn();    // re-arms receives that ran out of buffers, once buffers are back
    void release_ended();  // frees the sessions whose last completion came this turn
    void stop();           // hard stop: every session closes now
    // Cuts the sessions of backend `be` whose server `on(server)` names (a health change: on-marked-down).
    void shutdown_sessions(int be, const std::function<bool(int)>& on);
    // a server of `be` may have room: start waiting sessions while room() says so
    void serve_queue(std::size_t be, const std::function<bool()>& room);
    void pools(std::vector<pool::RawPool*>& out);

private:
    void start_session(Session* s);
    void route_new(Session* s);
    void assign_backend(Session* s, int be);
    void upgrade(Session* s, int be);  // to the HTTP proxy, once no op is in flight (maybe_upgrade)
    void maybe_upgrade(Session* s);
    void backend_ready(Session* s);

    // content inspection (tcp-request content rules, conditional use_backend)
    void begin_inspect(Session* s);
    void begin_rsp_inspect(Session* s);
    void rsp_inspect(Session* s);
    std::string_view server_bytes(const Session* s) const;
    void inspect(Session* s);
    void route(Session* s);
    bool hold(Session* s, std::uint16_t bid, std::uint32_t n);
    void on_early_recv(Session* s, const shard::Cqe& e, bool more);
    void early_established(Session* s);
    void send_held(Session* s);
    void on_held_sent(Session* s, int res);
    std::uint32_t hold_cap() const;
    std::string_view held_bytes(const Session* s) const;
    void session_txn(Session* s, rules::Txn& t, sockaddr_storage& dst, rules::VarCtx& vc);
    rules::Arena arena_;  // what the rules of a session build (a variable's value), reset per evaluation
    std::string_view log_samples_[64];  // a log line's sample values (tcp_log), while it is written
    void tcp_log(Session* s);

    // TLS binds (tcp_tls.cpp): the handshake, records in and out, kernel TLS
    void tls_recv(Session* s, int side, const shard::Cqe& e, bool more);
    void tls_handshake_done(Session* s);
    std::size_t tls_pull(Session* s, int side);
    bool tls_layer_state(Session* s, int side);
    void tls_send(Session* s, int dst);
    void tls_on_send(Session* s, int dst, int res);
    void tls_maybe_rearm(Session* s, int side);
    void tls_established(Session* s);
    void tls_side_ended(Session* s, int side);
    void tls_ktls_try(Session* s);
    void tls_ktls_refused(Session* s);
    void tls_resume(Session* s);
    void tls_server_failed(Session* s);
    void tls_release(Session* s);

    // connect path
    void connect_server(Session* s, int exclude);
    void connect_to(Session* s, int server);
    void on_socket(Session* s, int res);
    void on_connect(Session* s, int res);
    void connect_failed(Session* s);
    void established(Session* s);
    void established_io(Session* s);  // after the PROXY header, if any: the directions start
    void pp_send(Session* s);         // send-proxy: the header to the server first
    void on_pp_sent(Session* s, int res);
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
    void starve(Session* s, int side);
    void maybe_rearm(Session* s, int dir);

    // splice path
    void begin_switch(Session* s, int dir);
    void maybe_start_splice(Session* s, int dir);
    void on_install(Session* s, int side, int res);
    void pump(Session* s, int dir);
    void arm_poll(Session* s, int side, bool out);
    void on_poll(Session* s, int side, bool out, int res);

    // lifecycle
    void schedule_idle(Session* s);
    std::int64_t idle_deadline(const Session* s) const;
    void close_session(Session* s);
    void op_done(Session* s);
    void maybe_release(Session* s);
    void release(Session* s);

    void count_abort(Session* s, int side);

    pool::ObjectPool<Session> sessions_;
    pool::ObjectPool<net::Block> holds_;         // the client's first bytes while rules inspect them
    std::vector<Session*> pending_;              // accepted beyond a limit, waiting for a slot (FIFO)
    std::vector<std::vector<Session*>> queues_;  // per backend: waiting for a server slot
    std::vector<Session*> ready_;                // splice pumps to continue next turn
    std::vector<Session*> starved_;              // recvs ended by ENOBUFS, re-armed when buffers return
    std::vector<Session*> released_;             // freed at end of turn
    core::ListNode all_;                         // every live session (for stop)
};

}  // namespace es::proxy
