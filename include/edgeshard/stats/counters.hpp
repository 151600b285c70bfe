// Per-shard counter blocks. Each shard owns one ShardStats, allocated on its own thread (so
// its pages sit on its NUMA node) and written only by that shard. The control shard reads the
// values with relaxed loads and merges them (stats/merge.hpp): sums for counters and gauges,
// maxima per their nature. Blocks are cache-line aligned so two shards never share a line.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "edgeshard/core/counter.hpp"

namespace es::stats {

using core::Counter;
using core::Gauge;
using core::MaxGauge;

// One timing sample (ms) into its sum, its count and its maximum (qtime, ctime, rtime, ttime).
inline void add_sample(Counter& sum, Counter& n, MaxGauge& max, std::int64_t ms) {
    sum.add(std::uint64_t(ms));
    n.inc();
    max.update(ms);
}

struct alignas(64) FrontendCounters {
    Gauge scur;        // current sessions
    MaxGauge smax;     // highest scur seen by this shard
    Counter stot;      // sessions accepted
    Counter bin;       // bytes from clients
    Counter bout;      // bytes to clients
    Counter dcon;      // connections refused (no backend, shard at its limit) after accept
    Counter dses;      // sessions refused by tcp-request session rules
    Counter ereq;      // request errors (client read errors)
    Counter cli_abrt;  // sessions aborted by the client (reset / error)
    Counter maxconn_reached;  // times accepting was paused because a maxconn was reached
    // HTTP (mode http)
    Counter req_tot;   // HTTP requests
    Counter hrsp_1xx;
    Counter hrsp_2xx;
    Counter hrsp_3xx;
    Counter hrsp_4xx;
    Counter hrsp_5xx;
    Counter hrsp_other;
    Counter dreq;         // requests denied by http-request rules (deny, auth failures are not)
    Counter intercepted;  // requests answered by the proxy itself (return, redirect, auth, stats, errors)
    Counter log_drops;    // access-log records dropped because the shard's log ring was full
    Counter dresp;        // responses denied by the frontend's http-response rules
    Counter wrew;         // header rewrites that failed (HAProxy's failed_rewrites)
    Counter eint;         // exchanges ended by an internal error (a reply or a rewrite that could not be built)

    // `clear counters [all]`, by the shard that writes them: the maxima back to the current level, with `all`
    // every counter to zero too (the gauges are levels: they stay)
    void clear(bool all) {
        smax.set(scur.get());
        if (!all) return;
        for (Counter* c : {&stot, &bin, &bout, &dcon, &dses, &ereq, &cli_abrt, &maxconn_reached, &req_tot, &hrsp_1xx,
                           &hrsp_2xx, &hrsp_3xx, &hrsp_4xx, &hrsp_5xx, &hrsp_other, &dreq, &intercepted, &log_drops,
                           &dresp, &wrew, &eint})
            c->set(0);
    }
};

struct alignas(64) ServerCounters {
    Gauge scur;
    MaxGauge smax;
    Counter stot;      // sessions that reached this server (connect succeeded)
    Counter bin;       // bytes sent to the server (client -> server)
    Counter bout;      // bytes received from the server
    Counter econ;      // connections that finally failed on this server
    Counter eresp;     // server-side read errors
    Counter wretr;     // connect retries on this server
    Counter wredis;    // redispatches away from this server
    Counter cli_abrt;
    Counter srv_abrt;
    Counter lbtot;     // times picked by the load balancer
    Gauge inflight;    // connects in progress + established (for leastconn and maxconn)
    // HTTP (mode http)
    Counter req_tot;   // HTTP requests
    Counter hrsp_1xx;
    Counter hrsp_2xx;
    Counter hrsp_3xx;
    Counter hrsp_4xx;
    Counter hrsp_5xx;
    Counter hrsp_other;
    Counter connect;   // new server connections opened for HTTP requests
    Counter reuse;     // HTTP requests sent over a reused (idle) server connection
    Counter dresp;     // responses denied by http-response rules
    Counter wrew;      // header rewrites that failed
    Counter eint;      // exchanges ended by an internal error
    // timing sums in ms, with their sample counts; the merge reports sum/count as HAProxy's
    // qtime/ctime/rtime/ttime (HAProxy averages its last 1024 samples; we average since start)
    Counter qtime_sum, qtime_n;
    Counter ctime_sum, ctime_n;
    Counter rtime_sum, rtime_n;
    Counter ttime_sum, ttime_n;
    MaxGauge qtime_max, ctime_max, rtime_max, ttime_max;  // the longest of each (ms; HAProxy's *_max)
    MaxGauge last_sess_ms;  // when the last session was assigned here (monotonic ms; HAProxy's lastsess)
    Gauge idle_conn_cur;  // idle (reusable) connections to this server held by the shard's pool

    void clear(bool all) {
        smax.set(scur.get());
        for (MaxGauge* m : {&qtime_max, &ctime_max, &rtime_max, &ttime_max}) m->set(0);
        if (!all) return;
        last_sess_ms.set(0);
        for (Counter* c : {&stot, &bin, &bout, &econ, &eresp, &wretr, &wredis, &cli_abrt, &srv_abrt, &lbtot, &req_tot,
                           &hrsp_1xx, &hrsp_2xx, &hrsp_3xx, &hrsp_4xx, &hrsp_5xx, &hrsp_other, &connect, &reuse, &dresp,
                           &wrew, &eint, &qtime_sum, &qtime_n, &ctime_sum, &ctime_n, &rtime_sum, &rtime_n, &ttime_sum,
                           &ttime_n})
            c->set(0);
    }
};

struct alignas(64) BackendCounters {
    Gauge scur;
    MaxGauge smax;
    Counter stot;
    Counter bin;
    Counter bout;
    Counter econ;
    Counter eresp;
    Counter wretr;
    Counter wredis;
    Counter cli_abrt;
    Counter srv_abrt;
    Counter lbtot;
    Gauge qcur;        // sessions waiting for a server slot
    MaxGauge qmax;
    // HTTP (mode http)
    Counter req_tot;   // HTTP requests
    Counter hrsp_1xx;
    Counter hrsp_2xx;
    Counter hrsp_3xx;
    Counter hrsp_4xx;
    Counter hrsp_5xx;
    Counter hrsp_other;
    Counter connect;   // new server connections opened for HTTP requests
    Counter reuse;     // HTTP requests sent over a reused (idle) server connection
    Counter dresp;     // responses denied by http-response rules
    Counter wrew;      // header rewrites that failed
    Counter eint;      // exchanges ended by an internal error
    // timing sums in ms, with their sample counts; the merge reports sum/count as HAProxy's
    // qtime/ctime/rtime/ttime (HAProxy averages its last 1024 samples; we average since start)
    Counter qtime_sum, qtime_n;
    Counter ctime_sum, ctime_n;
    Counter rtime_sum, rtime_n;
    Counter ttime_sum, ttime_n;
    MaxGauge qtime_max, ctime_max, rtime_max, ttime_max;  // the longest of each (ms; HAProxy's *_max)
    MaxGauge last_sess_ms;  // when the last session was assigned here (monotonic ms; HAProxy's lastsess)
    Counter dreq;

    void clear(bool all) {
        smax.set(scur.get());
        qmax.set(qcur.get());
        for (MaxGauge* m : {&qtime_max, &ctime_max, &rtime_max, &ttime_max}) m->set(0);
        if (!all) return;
        last_sess_ms.set(0);
        for (Counter* c : {&stot, &bin, &bout, &econ, &eresp, &wretr, &wredis, &cli_abrt, &srv_abrt, &lbtot, &req_tot,
                           &hrsp_1xx, &hrsp_2xx, &hrsp_3xx, &hrsp_4xx, &hrsp_5xx, &hrsp_other, &connect, &reuse, &dresp,
                           &dreq, &wrew, &eint, &qtime_sum, &qtime_n, &ctime_sum, &ctime_n, &rtime_sum, &rtime_n,
                           &ttime_sum, &ttime_n})
            c->set(0);
    }
};

struct alignas(64) ShardCounters {
    Counter loops;            // loop turns
    Counter cqes;             // completions reaped
    Counter submits;          // io_uring_enter calls that submitted or waited
    Counter cq_overflow;      // turns that saw IORING_SQ_CQ_OVERFLOW
    Counter enobufs;          // multishot recv ended by buffer ring exhaustion
    Counter short_sends;      // sends that completed short and were resumed
    Counter sq_full;          // SQE requests that had to flush the SQ first
    Counter accepts;          // connections accepted
    Counter accept_paused;    // times accepting was paused (maxconn)
    Gauge conns;              // current client connections on this shard
    Counter splice_switches;  // L4 directions and HTTP response bodies switched to splice(2)
    Counter splice_bytes;     // bytes moved by splice(2) (L4 and HTTP bodies)
    Counter copy_bytes;       // bytes moved through provided buffers
    Counter pipe_misses;      // bulk flows that found no free pipe
    Counter mailbox_msgs;     // messages received from other shards / control
    Counter wakeups;          // doorbells received
    Counter stale_cqes;       // completions for a released object generation (dropped)
    Counter timers_fired;
    Gauge buffers_out;        // provided buffers held by the application
    // stats pages (`stats uri`, prometheus-exporter) asked of the control shard
    Counter page_asks;        // asked
    Counter page_timeouts;    // no answer within the bound: answered 503
    Counter page_fails;       // answered 5xx at once (too many waiting, mailbox full) or by the control shard
    // TLS client connections (TLS binds)
    Gauge ssl_conns;          // current
    Counter ssl_accepts;      // accepted on a TLS bind
    Counter ssl_handshakes;   // completed handshakes (full or resumed)
    Counter ssl_resumed;      // of those, resumed sessions
    Counter ssl_failures;     // handshakes that failed (bad hello, no common version or cipher...)
    Counter pp_headers;       // PROXY protocol headers received (accept-proxy, expect-proxy)
    Counter pp_failures;      // connections closed for a missing, bad or late PROXY header
    Counter ssl_ktls;         // connections whose records the kernel took over (`ktls on`)
    Counter ssl_ktls_fallbacks;  // `ktls on` connections left on user-space records (data came with the
                                 // client's Finished, cipher, no fd)
    Counter ssl_direct;       // connections whose records edgeshard seals itself (tls/seal.hpp)
    Counter ssl_cache_lookups;  // session IDs looked up in the shard's session cache
    Counter ssl_cache_misses;   // of those, not found
    // TLS to servers (`server ... ssl`)
    Counter ssl_srv_handshakes;  // completed handshakes with servers
    Counter ssl_srv_resumed;     // of those, resumed (ssl-reuse)
    Counter ssl_srv_failures;    // handshakes with servers that failed (verification, versions...)
    // the watchdog's view (control/watchdog.cpp): 1 while the shard sleeps in the kernel waiting for work, and
    // the shard thread's kernel id
    Gauge waiting;
    Gauge tid;
};

// One shard's full block. Sized from the config snapshot at shard start.
struct ShardStats {
    int shard_id = 0;
    int cpu = -1;
    ShardCounters shard;
    std::unique_ptr<FrontendCounters[]> fe;
    std::unique_ptr<BackendCounters[]> be;
    std::vector<std::unique_ptr<ServerCounters[]>> srv;  // [backend][server]
    std::size_t n_fe = 0, n_be = 0;
    std::vector<std::size_t> n_srv;
};

}  // namespace es::stats
