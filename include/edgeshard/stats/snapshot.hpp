// The merged stats snapshot: what the control shard renders.
//
// Inputs are plain views (Layout, ShardView, ProcessView) so the merge is a pure function that tests
// drive with hand-made counter blocks; the control room builds the views from the config snapshot
// and shard::Runtime (control/stats_views.hpp).
// Reading a ShardStats block from the control thread is allowed by its contract: every value is a
// single-writer relaxed atomic, read here with get() exactly once per snapshot.
//
// Merge rules follow the nature of each value (HAProxy's typed tags, management guide §9.2):
//   Counter, Gauge  summed over shards.
//   Max             the sum of the per-shard maxima. The true process-wide maximum lies between the
//                   largest per-shard maximum and this sum; the sum is exact when the shards peak
//                   together, which is the common case for a load balancer whose connections are
//                   spread by SO_REUSEPORT, and it is the safe side for capacity planning. Each
//                   shard's maximum is first raised to its current value, because a reader can see
//                   the gauge raised before the writer updated the maximum.
//   Limit           as configured, never summed (a frontend's maxconn is process-wide).
//   Name, Config    copied from the config snapshot.
// Pool needed_avg is summed too: each shard's average is its own demand, the sum is the process's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "edgeshard/stats/counters.hpp"
#include "edgeshard/stats/layout.hpp"

namespace es::stats {

// Plain copies of the counter blocks (one read of each value).
// hrsp[] is indexed by status class: 0 = 1xx .. 4 = 5xx, 5 = other (HAProxy's hrsp_other).
inline constexpr std::size_t kHrspClasses = 6;

// Timing sums (ms) with their sample counts; avg() is what `show stat` reports as qtime/ctime/
// rtime/ttime. Summing sums and counts over shards gives the exact process-wide mean.
struct TimeSum {
    std::uint64_t sum = 0, n = 0;
    std::uint64_t max = 0;  // the longest sample
    std::uint64_t avg() const { return n ? sum / n : 0; }
};

struct FrontendValues {
    std::int64_t scur = 0, smax = 0;
    std::uint64_t stot = 0, bin = 0, bout = 0, dcon = 0, dses = 0, ereq = 0, cli_abrt = 0, maxconn_reached = 0;
    std::uint64_t req_tot = 0, hrsp[kHrspClasses] = {}, dreq = 0, dresp = 0, intercepted = 0, log_drops = 0;
    std::uint64_t wrew = 0, eint = 0;
};

struct ServerValues {
    std::int64_t scur = 0, smax = 0, inflight = 0, idle_conn_cur = 0;
    std::int64_t last_sess_ms = 0;  // 0: never
    std::uint64_t stot = 0, bin = 0, bout = 0, econ = 0, eresp = 0, wretr = 0, wredis = 0, cli_abrt = 0,
                  srv_abrt = 0, lbtot = 0;
    std::uint64_t req_tot = 0, hrsp[kHrspClasses] = {}, connect = 0, reuse = 0, dresp = 0, wrew = 0, eint = 0;
    TimeSum qtime, ctime, rtime, ttime;
};

struct BackendValues {
    std::int64_t scur = 0, smax = 0, qcur = 0, qmax = 0;
    std::int64_t last_sess_ms = 0;  // 0: never
    std::uint64_t stot = 0, bin = 0, bout = 0, econ = 0, eresp = 0, wretr = 0, wredis = 0, cli_abrt = 0,
                  srv_abrt = 0, lbtot = 0;
    std::uint64_t req_tot = 0, hrsp[kHrspClasses] = {}, connect = 0, reuse = 0, dreq = 0, dresp = 0;
    std::uint64_t wrew = 0, eint = 0;
    TimeSum qtime, ctime, rtime, ttime;
};

struct ShardValues {
    std::uint64_t loops = 0, cqes = 0, submits = 0, cq_overflow = 0, enobufs = 0, short_sends = 0,
                  sq_full = 0, accepts = 0, accept_paused = 0, splice_switches = 0, splice_bytes = 0,
                  copy_bytes = 0, pipe_misses = 0, mailbox_msgs = 0, wakeups = 0, stale_cqes = 0,
                  timers_fired = 0, page_asks = 0, page_timeouts = 0, page_fails = 0, ssl_accepts = 0,
                  ssl_handshakes = 0, ssl_resumed = 0, ssl_failures = 0, pp_headers = 0, pp_failures = 0, ssl_ktls = 0, ssl_ktls_fallbacks = 0, ssl_direct = 0,
                  ssl_cache_lookups = 0, ssl_cache_misses = 0,
                  ssl_srv_handshakes = 0, ssl_srv_resumed = 0, ssl_srv_failures = 0;
    std::int64_t conns = 0, buffers_out = 0, ssl_conns = 0;
};

FrontendValues read_values(const FrontendCounters& c);
ServerValues read_values(const ServerCounters& c);
BackendValues read_values(const BackendCounters& c);
ShardValues read_values(const ShardCounters& c);

// into += one, by nature (see the header comment).
void merge_into(FrontendValues& into, const FrontendValues& one);
void merge_into(ServerValues& into, const ServerValues& one);
void merge_into(BackendValues& into, const BackendValues& one);
void merge_into(ShardValues& into, const ShardValues& one);

// One pool's counters as read once (the control room samples the pools: control::sample_pool).
struct PoolSample {
    std::string name;
    std::size_t size = 0;
    std::uint64_t allocated = 0, used = 0, failed = 0, needed_avg = 0;
};

// What the build reads from one shard. stats may be null (a shard that failed to publish): its
// values count as zero and `show shards` shows what is known.
struct ShardView {
    int id = 0;
    int cpu = -1;
    const ShardStats* stats = nullptr;
    std::vector<PoolSample> pools;
    ShardPlace info;
};

struct ProcessView {
    int pid = 0;
    std::int64_t now_ms = 0;  // the monotonic clock the shards stamp with (lastsess counts from it)
    std::int64_t uptime_s = 0;
    std::int64_t start_wall_s = 0;
    std::string version;
    std::string tier;  // io_uring tier of the process ("full", "basic", ...)
    std::string tls_tier;  // how TLS records are made (tls::tier())
    std::size_t nbshards = 0;
    int maxconn = 0;  // global maxconn as applied (after RLIMIT_NOFILE derivation)
    int maxpipes = 0;
    std::int64_t ulimit_n = 0;  // 0 = unknown
    bool stopping = false;
    // reloads: this process's generation (1 = first start, +1 per reload), seconds since it began
    // draining (-1: serving), and how many older generations are still draining behind it
    int generation = 1;
    std::int64_t drain_s = -1;
    int old_processes = 0;
    std::optional<std::uint64_t> pipes_used, pipes_free;  // absent until the splice room reports them
    // per-second rates over the last whole second sampled by the control shard, and their maxima
    // since start (HAProxy's ConnRate, SslRate, SslFrontendKeyRate... in `show info`); absent
    // before the first two samples
    struct Rates {
        std::uint64_t conn = 0, ssl = 0, ssl_key = 0, ssl_srv_key = 0;
        std::uint64_t max_conn = 0, max_ssl = 0, max_ssl_key = 0, max_ssl_srv_key = 0;
        std::uint64_t bytes_out = 0;  // BytesOutRate: bytes to clients per second
        std::uint64_t idle_pct = 100;  // Idle_pct: the shards' threads' idle share of the last second
    };
    std::optional<Rates> rates;
    // the rest of HAProxy 2.6's `show info` (rows.cpp info_fields says what each is here)
    std::string release_date;  // Release_date: this version's
    std::string node;          // global `node` (default: the host name)
    std::string description;   // global `description` (absent when empty, as HAProxy)
    int maxsslconn = 0;        // global maxsslconn (0: none)
    std::int64_t listeners = 0;  // listening sockets: each bind address, the stats sockets
    std::int64_t cli_conns = 0;  // CLI connections open now (HAProxy counts them in Jobs)
    std::int64_t checks = 0;     // servers with active checks (each is one of HAProxy's tasks)
};

struct Carried;  // stats/carry.hpp

struct BuildOptions {
    // Keep each shard's per-object values (for `show stat ... shards`); costs one copy of every
    // frontend/backend/server value set per shard, so it is off unless asked for.
    bool per_shard_objects = false;
    // Totals carried from older generations across a reload (stats/carry.hpp), added to the merged
    // values after the shard merge; null = this process's own values only. Read during the call
    // only. A snapshot built with it cannot be exported (export_totals refuses it).
    const Carried* carried = nullptr;
    // `show info`: the frontends' values only (its byte and request totals); backends and servers read as zero
    bool frontends_only = false;
};

// Process-level totals carried across a reload that `show info` adds to its cumulative fields
// (filled by apply_carried, zero otherwise).
struct CarriedInfo {
    ShardValues shard;  // added to shard_total's counters for CumConns, MaxconnReached, CqOverflow, ...
    // CumReq, TotalBytesIn/Out, DroppedLogs: the share of frontends that are not in this config
    // (matched frontends already carry theirs in `fe`)
    std::uint64_t req_tot = 0, bytes_in = 0, bytes_out = 0, log_drops = 0;
    std::uint64_t pool_failed = 0;  // PoolFailed
};

struct PoolSummary {
    struct PerShard {
        int shard = 0;
        std::uint64_t allocated = 0, used = 0, failed = 0, needed_avg = 0;
    };
    std::string name;
    std::size_t size = 0;
    std::uint64_t allocated = 0, used = 0, failed = 0, needed_avg = 0;
    std::vector<PerShard> shards;
};

struct ShardSnapshot {
    int id = 0;
    int cpu = -1;
    ShardPlace info;
    bool has_stats = false;
    ShardValues counters;
    // filled only with BuildOptions::per_shard_objects; indexed like the config
    std::vector<FrontendValues> fe;
    std::vector<BackendValues> be;
    std::vector<std::vector<ServerValues>> srv;
};

struct Snapshot {
    // Names, ids and weights are read from the layout at render time: it must outlive the snapshot
    // (the control shard builds it once from the config snapshot and keeps it until shutdown).
    const Layout* layout = nullptr;
    ProcessView process;
    std::vector<std::uint32_t> fe_iid, be_iid;       // HAProxy-style proxy ids (see assign_proxy_ids)
    // runtime weight and admin state by [backend][server] (`set server`); empty: as configured
    std::vector<std::vector<ServerState>> srv_runtime;
    // Per-object rates over the last whole second and their maxima since start (HAProxy's rate, rate_max,
    // req_rate, conn_rate...), sampled by the control shard; empty: not sampled (the cells stay empty)
    struct Rate {
        std::uint64_t cur = 0, max = 0;
    };
    struct FrontendRates {
        Rate sess, req, conn;
    };
    std::vector<FrontendRates> fe_rate;
    std::vector<Rate> be_rate;
    std::vector<std::vector<Rate>> srv_rate;
    // a backend's availability history (any server usable or not), by backend; empty: unknown
    struct BackendState {
        std::int64_t lastchg_s = 0;     // since it last went UP or DOWN (or the start)
        std::int64_t downtime_s = 0;    // total time without a usable server
        std::uint64_t down_trans = 0;   // times it was left without a usable server
    };
    std::vector<BackendState> be_state;
    std::vector<FrontendValues> fe;
    std::vector<BackendValues> be;
    std::vector<std::vector<ServerValues>> srv;
    std::vector<ShardSnapshot> shards;
    ShardValues shard_total;
    std::vector<PoolSummary> pools;  // merged by (name, size), in first-seen order
    std::string uptime_text;         // "0d 1h02m03s", referenced by the Uptime info field
    bool per_shard_objects = false;
    // Set when totals carried from older generations were added (BuildOptions::carried): fe, be,
    // srv and carried_info then include them; shards, shard_total and pools never do.
    bool carried_applied = false;
    CarriedInfo carried_info;
};

// `layout` must outlive the snapshot (Snapshot::layout points to it).
Snapshot build_snapshot(const Layout& layout, const ProcessView& proc, std::span<const ShardView> shards,
                        const BuildOptions& opt = {});

// Proxy ids (`iid`, JSON `proxyId`): the layout's (HAProxy's, from the configuration) when it has them;
// otherwise 1-based, frontends first in config order, then backends, a backend named like a frontend (a
// `listen` section) sharing its id.
void assign_proxy_ids(const Layout& layout, std::vector<std::uint32_t>& fe_iid, std::vector<std::uint32_t>& be_iid);

// Uptime as HAProxy prints it: "3d 4h05m06s".
std::string format_uptime(std::int64_t seconds);

}  // namespace es::stats
