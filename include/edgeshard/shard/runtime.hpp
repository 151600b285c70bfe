// The set of running data shards as the control shard sees them.
//
// main() builds a Runtime from a validated config snapshot, calls start() (which returns once
// every shard is pinned, has its ring, listeners and pools, and has published its stats block),
// then runs the control shard. Everything returned by the accessors below is stable from the
// end of start() until stop() returns; the counters inside are single-writer values owned by the
// shards and must be read with their get() (relaxed loads), never written.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/pool/pool.hpp"
#include "edgeshard/shard/control_link.hpp"
#include "edgeshard/shard/mailbox.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::log {
class Ring;
}

namespace es::shard {

struct ShardInfo {
    int id = 0;
    int cpu = -1;        // OS CPU number the shard thread is pinned to
    int numa_node = -1;  // -1 when unknown
    std::string tier;    // io_uring tier in use, e.g. "full" or "basic"
    unsigned sq_entries = 0;
    unsigned cq_entries = 0;
    unsigned buffers = 0;  // provided buffers in the shard's recv ring
    unsigned bufsize = 0;
    int conn_limit = 0;    // this shard's share of the global maxconn
};

// A server's state set at runtime (`set server ... state`, `set weight`), as the control shard
// holds it. Data shards get each change as a message (Message::kServerAdmin) and start with the
// table as it was when they started (a reload carries it to the new process).
enum class ServerAdmin : std::uint8_t { Ready = 0, Drain = 1, Maint = 2 };
struct ServerRuntime {
    int weight = 1;  // current weight (the configured one until `set weight`)
    ServerAdmin admin = ServerAdmin::Ready;
    bool down = false;  // the control shard's health checks say DOWN
    bool nolb = false;  // ... or a server without checks was told `health stopping` (down for new
                        // traffic; shown as NOLB)
    int maxconn = -1;   // `set maxconn server` or an agent's "maxconn:"; -1: as configured
    config::SockAddr addr;  // the address connections go to: the configured one, or the last DNS
                            // answer or `set server addr` (dns/resolver.hpp)
    bool rmaint = false;    // no address (init-addr none, a DNS error past its hold): HAProxy's
                            // "MAINT (resolution)", whatever the admin state
    // takes new traffic: ready, weighted and not DOWN (HAProxy's usable server)
    bool usable() const { return admin == ServerAdmin::Ready && weight > 0 && !down && !rmaint; }
};

// A listening socket as the reload handoff describes it. `seq` numbers every listener of a
// process (shard-major, in bind order); `addr` is the bind address as SockAddr::text() prints it.
struct ListenerRecord {
    int seq = 0;
    int shard = 0;
    std::string frontend;
    int bind = 0;  // index of the bind line in its frontend
    std::string addr;
    int fd = -1;
};

class Shard;

// Sizes a shard's statistics block for `cfg`: one counter block per frontend, backend and server.
void make_stats(stats::ShardStats& st, const config::Config& cfg);

class Runtime {
public:
    explicit Runtime(std::shared_ptr<const config::Config> cfg);
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // Starts the shards; throws std::runtime_error with a clear message on failure
    // (bind error, io_uring missing, pinning impossible ...). All started shards are stopped first.
    // With inherited listeners (a reload), every bind whose address matches inherited sockets
    // takes them over instead of creating its own: with as many shards as sockets, one each; with
    // more shards, the extra shards create sockets that join the SO_REUSEPORT group; with fewer,
    // a shard serves several. Inherited sockets no bind wants are closed here (the old process
    // still holds its own copy). With `paused`, no shard accepts until resume_accept().
    void start(std::vector<ListenerRecord> inherited = {}, bool paused = false);
    void resume_accept();
    // Before start(): the process-wide needed_avg of each pool by name (the old process's demand
    // in a reload); each shard starts its pools with its share.
    void set_pool_hints(std::vector<std::pair<std::string, std::uint64_t>> totals) { pool_hints_ = std::move(totals); }
    // seqs of the inherited listeners taken over by start()
    const std::vector<int>& adopted() const { return adopted_; }
    // This process's listeners, for the handoff (fds stay owned by the shards).
    std::vector<ListenerRecord> listener_table() const;
    // Soft stop: every shard stops accepting on the listeners in `taken` (seqs another process
    // now serves) and drains; listeners not taken keep accepting until their queue is empty.
    void soft_stop(const std::vector<int>& taken);
    bool soft_stopped() const { return soft_stopped_; }
    // Every shard's loop has ended (drained after a soft stop, or stopped).
    bool all_finished() const;
    // Connections currently open on all shards (relaxed reads).
    std::int64_t live_connections() const;
    // Asks every shard to stop, closes listeners, waits for the threads. Idempotent.
    void stop();

    const config::Config& config() const { return *cfg_; }
    std::size_t shard_count() const;
    const ShardInfo& shard_info(std::size_t i) const;
    const stats::ShardStats& shard_stats(std::size_t i) const;
    // Calls f with shard i's pools while they exist: a shard that has ended (drained after a
    // reload, or stopped) has none. The shard cannot free them during the call (its end waits for
    // the call to return; see runtime.cpp "visits"). Control thread only.
    void with_shard_pools(std::size_t i, const std::function<void(const std::vector<const pool::RawPool*>&)>& f) const;

    std::int64_t start_wall_s() const { return start_wall_s_; }
    std::int64_t start_mono_ms() const { return start_mono_ms_; }
    const std::string& tier() const { return tier_; }
    int global_maxconn() const { return maxconn_; }

    // Sends a message to one shard (push, then the doorbell). False when its mailbox is full (the
    // caller retries later) or its loop has ended (running() is false: nobody will read it).
    // Control thread only (each mailbox has one producer).
    bool post(std::size_t shard, const Message& m);
    // post(), retried while the mailbox is full (it empties within a turn of that shard's loop), for at most
    // patience_ms; false when the shard does not run or did not take it in time. Control thread.
    bool post_patiently(std::size_t shard, const Message& m, int patience_ms = 500);
    // Shard i's loop runs: what post() delivers will be handled. Control thread.
    bool running(std::size_t shard) const;
    // CPU time shard i's thread has used (ns; the kernel's per-thread clock, read from outside), or -1 when it
    // does not run. `show info`'s Idle_pct. Control thread.
    std::int64_t shard_cpu_ns(std::size_t shard) const;
    // Sends a signal to shard i's thread (the watchdog's backtrace); false when it does not run.
    bool signal_shard(std::size_t shard, int sig) const;
    // The data shards' messages to the control shard (start() creates it; it lives as long as
    // the Runtime). Each shard posts into its own mailbox; the control thread reads them all.
    ControlLink& control_link() { return *link_; }

    // Runtime server states by [backend][server], initialised from the config by the constructor.
    // The control thread owns it: it changes an entry and then posts the change to every shard.
    // Changes made before start() are what the shards start with.
    std::vector<std::vector<ServerRuntime>>& server_runtime() { return servers_; }
    const std::vector<std::vector<ServerRuntime>>& server_runtime() const { return servers_; }

    // Access-log rings, one per shard (null entries when no frontend logs); drained by the control shard.
    std::vector<log::Ring*> log_rings() const;

private:
    void steer_listeners();
    std::shared_ptr<const config::Config> cfg_;
    std::vector<std::unique_ptr<Shard>> shards_;
    std::unique_ptr<ControlLink> link_;
    std::int64_t start_wall_s_ = 0;
    std::int64_t start_mono_ms_ = 0;
    std::string tier_;
    int maxconn_ = 0;
    std::vector<std::vector<ServerRuntime>> servers_;
    std::vector<int> adopted_;
    std::vector<std::pair<std::string, std::uint64_t>> pool_hints_;
    std::vector<std::vector<std::uint8_t>> keep_;  // per shard, per listener: kept while draining
    bool soft_stopped_ = false;
};

}  // namespace es::shard
