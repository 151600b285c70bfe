// Totals carried across a zero-downtime reload.
//
// After a reload the old process keeps running while it drains. The new process shows totals that
// continue across the reload: what it renders is its own counters plus the totals carried from
// older generations, matched by name. Roles:
//   old process   export_totals(own_snapshot) -> text, sent to the new process (repeatedly while it
//                 drains, once more when it exits). `own_snapshot` is built WITHOUT carried values.
//   new process   import_totals(text) per old generation; keeps the last totals of every live old
//                 generation and a base (add() of the final totals of generations that exited);
//                 carried = base + sum of the live generations' last totals; passes &carried in
//                 BuildOptions::carried so build_snapshot() adds it after the shard merge.
//
// What is carried (everything else starts from this process's own values):
//   counters  stot, bin, bout, req_tot, hrsp_*, ereq, dreq, dresp, econ, eresp, wretr, wredis,
//             cli_abrt, srv_abrt, lbtot, connect, reuse, intercepted, log_drops, dcon,
//             maxconn_reached, and the sums and sample counts of qtime/ctime/rtime/ttime (so the
//             averages continue over every generation's samples). Summed.
//   maxima    smax, qmax. Combined with max (the old process's peak and ours did not coincide in
//             any way we can know, and a peak is not additive across time).
//   process   the cumulative `show info` values: the shard loop counters (CumConns = accepts,
//             MaxconnReached = accept_paused, CqOverflow, Enobufs, ...), CumReq, TotalBytesIn/Out,
//             DroppedLogs and PoolFailed. Summed. They continue even when the objects that
//             produced them are gone from the new config.
//   NOT       gauges (scur, qcur, inflight, idle_conn_cur, CurrConns, buffers_out): the old
//             process still shows its own live sessions; the new one shows only its own.
// Objects are matched by name: frontend by name, backend by name, server by (backend, server).
// Objects missing from the new config are not shown (their share of the process totals still
// is); new objects start from zero. Per-shard views (`show stat ... shards`, `show shards`,
// `show pools`) show this process's own values only, so a merged row of a carried snapshot is
// larger than the sum of its per-shard rows by exactly the carried amount.
//
// Wire format ("es-totals", line based, ASCII, '\n' ends every line):
//   es-totals 1
//   process accepts=12 loops=340 req_tot=10 bytes_in=999 ...
//   fe <name> stot=5 bin=100 smax=3 ...
//   be <name> stot=5 qmax=1 qtime_sum=40 qtime_n=4 ...
//   srv <backend> <server> stot=5 ...
//   pool <name> <object size> needed_avg=12
//   end
// Tokens are separated by exactly one space. Names are percent-encoded: every byte outside
// [A-Za-z0-9._:-] (space, '=', '%', controls, non-ASCII, ...) is written as %XX (uppercase hex).
// Values are unsigned decimal (at most 2^64-1). Fields are named, never positional: a reader
// ignores field names and line kinds it does not know, so fields and line kinds can be added
// without changing the version; the version changes only when the meaning of an existing field
// changes, and a reader rejects a version newer than its own. The final "end" line makes a
// truncated document detectable: without it the whole document is rejected.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "edgeshard/stats/snapshot.hpp"

namespace es::stats {

inline constexpr int kTotalsVersion = 1;

// The process-level cumulative values behind `show info`.
struct ProcessTotals {
    ShardValues shard;          // counters only; the gauges (conns, buffers_out) are never carried and stay 0
    std::uint64_t req_tot = 0;  // CumReq: sum of the frontends' req_tot
    std::uint64_t bytes_in = 0;     // TotalBytesIn: sum of the frontends' bin
    std::uint64_t bytes_out = 0;    // TotalBytesOut: sum of the frontends' bout
    std::uint64_t log_drops = 0;    // DroppedLogs: sum of the frontends' log_drops
    std::uint64_t pool_failed = 0;  // PoolFailed: sum of the pools' failed
};

// Name-keyed carried totals. The value structs are the snapshot's own, so a counter added to the
// snapshot is one more line in carry.cpp's field lists; their gauge members (scur, qcur, inflight,
// idle_conn_cur) are never read, written or exported here and stay 0.
struct Carried {
    template <typename V>
    using ByName = std::map<std::string, V, std::less<>>;

    ProcessTotals process;
    ByName<FrontendValues> frontends;
    ByName<BackendValues> backends;
    ByName<ByName<ServerValues>> servers;  // [backend name][server name]
    // Not a total: the exporting process's pool demand, needed_avg summed over its shards, keyed
    // by pool name then object size. Never rendered; it is what a new process passes to
    // pool::RawPool::hint_needed (divided among its own shards) so its pools start at the size
    // the old process was using. add() keeps the larger demand.
    ByName<std::map<std::size_t, std::uint64_t>> pool_needed;

    bool empty() const;
};

// The process's own totals from a snapshot built WITHOUT carried values (BuildOptions::carried
// null). Objects are taken from own.layout by name (objects sharing a name are summed); process totals
// from own.shard_total, own.fe and own.pools (a snapshot built without pool samples has none:
// PoolFailed then counts 0 and no pool demand is exported). A snapshot with carried values applied (own.carried_applied)
// already contains other generations' totals; extracting from it would count them twice, so it is refused: a
// counted bug (ES_BUG), and the result is empty (totals_of) or "" (export_totals), which
// import_totals rejects.
Carried totals_of(const Snapshot& own);
std::string export_totals(const Snapshot& own);

// Serializes carried totals as they are (for handing on what a process itself inherited).
std::string export_totals(const Carried& totals);

// Strict parser of the format above. On success replaces `out` and returns true. On any error
// (bad header, unsupported version, malformed token, bad escape, number out of range, duplicate
// object or field, missing "end", anything after it) returns false, leaves `out` unchanged and,
// when err is not null, sets a one-line reason with the line number. Never reads out of bounds,
// whatever the input.
bool import_totals(std::string_view text, Carried& out, std::string* err = nullptr);

// into += one: counters summed (saturating at 2^64-1), maxima combined with max, objects united by
// name, pool demands combined with max. For base + live generations.
void add(Carried& into, const Carried& one);

// Drops the objects that `layout` does not have (keeps the process totals, which do not depend on
// objects, and the pool demands). Bounds what a long chain of reloads with renamed objects keeps; rendering
// the same config is unchanged by it.
void retain_objects(Carried& c, const Layout& layout);

// Adds `c` into a freshly merged snapshot: matched objects' counters summed and maxima maxed,
// process totals into snap.carried_info, snap.carried_applied set. build_snapshot() calls it when
// BuildOptions::carried is set; calling it twice on one snapshot is a counted bug and does nothing.
// Per-shard values (snap.shards) are not touched.
void apply_carried(Snapshot& snap, const Carried& c);

}  // namespace es::stats
