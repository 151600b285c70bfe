// One data shard's application: the handler the shard's Reactor runs (see reactor.hpp for the
// order of a turn). It owns the shard's listeners and their limits (accept.cpp), the two protocol
// proxies, TcpProxy (tcp.hpp: L4 sessions) and H1Proxy (h1.hpp: HTTP/1 connections), and what
// they share: the provided-buffer ring, the connection-side ops (net::SideIo), the load balancers,
// the pipe pool, connection accounting and the access-log ring. Completions are dispatched by
// their op's owner (ops.hpp), timers by their kind; the end of a turn releases what ended in it.
// See src/proxy/README.md for the life of a request through these files.
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
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/log/access_log.hpp"
#include "edgeshard/proxy/h1_types.hpp"
#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/net/pipe.hpp"
#include "edgeshard/pool/pool.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "edgeshard/proxy/preface.hpp"
#include "edgeshard/proxy/tcp_types.hpp"
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
        int bind = -1;  // index in the frontend's binds (its TLS settings, if any)
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



class H1Proxy;
class TcpProxy;
class TlsIo;

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
    bool has_ready() const;
    void on_message(const shard::Message& m);
    void on_timer(shard::Timer* t);
    void end_of_turn();
    // stopped, or drained after a soft stop: no connection, no accept, no pooled server connection left
    bool done() const;

    std::vector<const pool::RawPool*> pools() const;
    static bool frontend_needs_addr(const config::Config& cfg, std::uint32_t fe);
    // a backend the frontend may route to sends PROXY headers to its servers (the client's
    // addresses, both ends, are needed)
    static bool frontend_sends_proxy(const config::Config& cfg, std::uint32_t fe);
    // `pred` holds for a backend frontend `fe` may route to (default_backend or any use_backend)
    template <typename P>
    static bool reaches_backend(const config::Config& cfg, std::uint32_t fe, P&& pred) {
        const auto& f = cfg.frontends[fe];
        if (f.default_backend_id >= 0 && pred(cfg.backends[std::size_t(f.default_backend_id)])) return true;
        for (const auto& u : f.use_backend_rules) {  // every use_backend, plain or conditional
            if (!u.dynamic && pred(cfg.backends[u.backend_id])) return true;
            if (u.dynamic)  // a name known per request: any backend
                for (const auto& b : cfg.backends)
                    if (pred(b)) return true;
        }
        return false;
    }
    static bool frontend_uses_dst(const config::Config& cfg, std::uint32_t fe);
    // one end's address (client: src, %ci, %cp; else dst, %fi, %fp) read by a log-format text, or
    // anywhere a proxy's HTTP part evaluates samples
    static bool text_reads_addr(std::string_view v, bool client);
    static bool http_reads_addr(const config::HttpProxy& px, bool client);
    const net::BufRing& buffers() const { return *bufs_; }

    // A client connection accepted on frontend `fe` (direct descriptor `slot`, `peer` its address
    // or nullptr): the tail of every accept completion, public so that tests start connections
    // the way a listener does.
    void accept_conn(int slot, std::uint32_t fe, const sockaddr_storage* peer, int bind = -1);
    // Tests: every connection-side op goes to `rec` instead of the ring (net::SideIo::set_recorder).
    void set_side_recorder(net::SideOpRecorder* rec) { io_.set_recorder(rec); }

private:
    // runtime server states (proxy/admin.cpp)
    void apply_initial_server_states();
    void on_server_admin(const shard::Message& m);
    void on_server_addr(const shard::Message& m);  // kServerAddr (admin.cpp)
    void on_map_update(const shard::Message& m);   // kMapUpdate (admin.cpp)
    void on_clear_counters(const shard::Message& m);  // kClearCounters (admin.cpp)
    // the maps this shard's rules read (rules::set_shard_maps): the configuration's, each replaced as a
    // whole by a kMapUpdate
    std::vector<std::shared_ptr<const config::MapFile>> maps_;
    void serve_queues(std::uint32_t be);           // start the sessions a change gave room to

    struct Listener {
        int fd = -1;
        std::uint32_t fe = 0;
        int bind = -1;
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

    // accept path
    static constexpr int kNearLimit = 64;
    static constexpr std::int64_t kFastTrimMs = 100;  // pool trims while they release objects (housekeeping)
    bool want_multishot(std::size_t li) const;
    void arm_accept(std::size_t li);
    void pause_accept(std::size_t li);
    void update_accepting();
    void on_accept(std::size_t li, const shard::Cqe& e);
    bool fe_has_room(std::uint32_t fe) const;
    void start_pending();
    // connection accounting, shared by both protocols (accept.cpp)
    bool shard_full() const { return p_.conn_limit > 0 && conns_ >= p_.conn_limit; }
    // a new connection on `fe` may start now (no limit reached, nobody waiting before it)
    bool may_start(std::uint32_t fe) const { return !shard_full() && fe_has_room(fe) && fe_pending_[fe] == 0; }
    // the connection's protocol starts (`pp`: what its preface learnt, owned by the session from here)
    void start_conn(int slot, std::uint32_t fe, const sockaddr_storage* peer, int bind, PpInfo* pp,
                    stick::Refs* trk = nullptr);
    // before the protocol (preface.cpp): the PROXY header, the local address of a wildcard bind
    void pp_begin(int slot, std::uint32_t fe, const sockaddr_storage* peer, int bind, bool header,
                  stick::Refs* trk);
    void pp_on_cqe(const shard::UserData& u, const shard::Cqe& e);
    void pp_on_timer(Preface* p);
    void pp_peek(Preface* p);
    void pp_fail(Preface* p, net::pp::Err why, const sockaddr_storage* carried = nullptr);
    void pp_log(const Preface* p, net::pp::Err why, const sockaddr_storage* carried);
    void pp_finish(Preface* p);
    void pp_maybe_release(Preface* p);
    void pp_stop();
    PpInfo* pp_local(std::uint32_t fe, int bind);
    bool pp_wildcard(std::uint32_t fe, int bind) const;  // its local address must be asked for
    bool pp_wildcard_addr(std::uint32_t fe, int bind) const;  // the bind's address is a wildcard
    // The PROXY header a `send-proxy*` server gets first: the client's address `src`, the
    // destination and TLVs from `pp`, the client's TLS handshake (`tls`, null in clear). Owned by the
    // caller (a send queue's segment deletes it once sent).
    std::string* pp_header(const config::Server& srv, const sockaddr_storage* src, const PpInfo* pp,
                           const tls::Facts* tls);  // frontends sending PROXY headers: dst from a concrete bind
    void pp_free(PpInfo* pp) {
        if (pp) pp_infos_.destroy(pp);
    }
    void conn_started(std::uint32_t fe);  // counts towards the shard's and the frontend's limits
    void conn_ended(std::uint32_t fe);    // frees its slot: waiting connections start, accepting resumes
    // Starts, in order, the connections in `q` (accepted beyond a limit) that now have room.
    template <typename T, typename Start>
    void start_waiting(std::vector<T*>& q, Start&& start) {
        std::size_t k = 0;
        while (k < q.size() && !shard_full()) {
            T* s = q[k];
            if (!fe_has_room(s->fe)) {
                ++k;
                continue;
            }
            q.erase(q.begin() + std::ptrdiff_t(k));
            --fe_pending_[s->fe];
            start(s);
        }
    }
    // Where a connection to `srv` goes: its address, or for a server without a port (port_map) a
    // copy in `keep` (made once per connection, which frees it) with `port`; null without memory.
    static const config::SockAddr* server_dst(const ServerSlot& srv, std::uint16_t port, config::SockAddr*& keep);
    int connect_chain(const net::ConnSide& side, const config::SockAddr& addr, config::Millis ct,
                      __kernel_timespec& ts, std::uint64_t ud_opt, std::uint64_t ud_conn, std::uint64_t ud_timeout);





    void housekeeping();
    std::size_t trim_pools();  // one trim_idle() of every pool: the objects released
    net::Pipe* get_pipe();
    void put_pipe(net::Pipe* p, bool clean);

    // ---- shared with the protocols (tcp.hpp, h1.hpp)
    friend struct ShardCtx;
    friend class TcpProxy;
    friend class H1Proxy;
    bool is_http_fe(std::uint32_t fe) const;
    void stale(const shard::Cqe& e);
    bool push_log(std::uint32_t fe, std::string_view line);

    const config::Config& cfg_;
    WorkerParams p_;
    shard::Reactor& r_;
    stats::ShardStats& st_;
    std::unique_ptr<net::BufRing> bufs_;
    net::SideIo io_;  // the ops of every connection side (net/conn_side.hpp)
    pool::ObjectPool<net::Pipe> pipes_;
    std::vector<Listener> listeners_;
    std::vector<std::unique_ptr<BackendLb>> lbs_;
    LbView lb_view_{cfg_, lbs_};  // the rules' nbsrv / srv_is_up
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
    std::vector<net::Pipe*> idle_pipes_;
    bool pipes_taken_ = false;
    shard::Timer housekeeping_timer_;
    shard::Timer trim_timer_;  // pool trims every kFastTrimMs while they release objects
    std::uint8_t gen_ = 0;

    // prefaces (preface.cpp)
    pool::ObjectPool<Preface> prefaces_{"preface"};
    pool::ObjectPool<PpInfo> pp_infos_{"pp_info"};
    core::ListNode prefaces_all_;
    // per frontend: the address each client connected to is needed (frontend_sends_proxy, %fi/%fp logged)
    std::vector<std::uint8_t> fe_needs_dst_;
    std::vector<std::uint8_t> fe_rules_dst_;  // per frontend: frontend_uses_dst (rules read dst: Txn::dst is set)
    std::unique_ptr<std::uint8_t[]> pp_scratch_;  // where consumed headers go (never read)
    std::unique_ptr<log::Format> pp_log_fmt_;      // the head of HAProxy's embryonic log line

    // stick tables (stick/table.hpp): this shard's tables, and what each connection tracks
    stick::Store stick_;
    pool::ObjectPool<stick::Refs> stick_refs_{"stick_refs"};
    pool::ObjectPool<rules::Vars> vars_{"vars"};
  public:
    // the context the rules see: null when there is no table at all (the common case costs nothing)
    rules::StickCtx* stick_ctx(rules::StickCtx& c, stick::Refs** refs, bool backend) {
        if (stick_.empty()) return nullptr;
        c.store = &stick_;
        c.refs = refs;
        c.pool = &stick_refs_;
        c.now = r_.now_ms();
        c.backend = backend;
        return &c;
    }
    // a connection ends: what it tracked is given back (conn_cur, the entries' trackers)
    void stick_end(stick::Refs*& r, std::uint64_t bytes_in, std::uint64_t bytes_out) {
        if (r == nullptr) return;
        stick_.count_bytes(*r, bytes_in, bytes_out, r_.now_ms());
        stick_.end_session(*r, r_.now_ms());
        stick_refs_.destroy(r);
        r = nullptr;
    }
    stick::Store& stick() { return stick_; }
    const rules::ServerView* servers() const { return &lb_view_; }
    // the variables' context (null when no rule sets a variable)
    rules::VarCtx* var_ctx(rules::VarCtx& c, rules::Vars** slot) {
        if (cfg_.vars.empty()) return nullptr;
        c.slot = slot;
        c.pool = &vars_;
        return &c;
    }
    void vars_end(rules::Vars*& v) {
        if (v == nullptr) return;
        vars_.destroy(v);
        v = nullptr;
    }
    // The `stick` rules of backend `be` for a request (proxy/stick.cpp): the server its key is stuck
    // to (-1: none, or not usable), and the entries of `stick on` / `store-request` staged in `refs`
    // (taken from the pool when needed) until stick_commit() gives them the server chosen.
    int stick_rules(std::uint32_t be, const rules::Txn& t, stick::Refs*& refs);
    void stick_commit(stick::Refs* refs, std::uint32_t be, int server);
    // `stick store-response`: the response's keys get the server that answered
    void stick_store_response(std::uint32_t be, int server, const rules::Txn& t);
    void stick_query(stick::Query& q);  // kStickQuery (show table / clear table)
  private:

    std::vector<pool::RawPool*> pools_;  // every pool of the shard's proxy (show pools, idle trims)
    std::unique_ptr<TlsIo> tls_;     // TLS binds and output queues, shared by both protocols
    std::unique_ptr<TcpProxy> tcp_;  // the tcp frontends' sessions
    std::unique_ptr<H1Proxy> h1_;  // the HTTP/1 frontends' connections
    std::vector<std::unique_ptr<log::Format>> fe_formats_;
    std::int64_t wall_offset_ms_ = 0;
};

}  // namespace es::proxy
