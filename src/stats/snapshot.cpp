#include "edgeshard/stats/snapshot.hpp"

#include "edgeshard/stats/carry.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

namespace es::stats {

namespace {

// A reader can observe the gauge raised before the writer updated its maximum (the writer does
// scur.inc() then smax.update()), so a shard's maximum is never reported below its current value.
std::int64_t max_of(std::int64_t max, std::int64_t cur) {
    return std::max(max, cur);
}

// Reads the per-object blocks of one shard, tolerating a block sized for a different config
// (missing objects read as zero rather than out of bounds).
void read_objects(const Layout& lay, const ShardStats& st, std::vector<FrontendValues>& fe,
                  std::vector<BackendValues>& be, std::vector<std::vector<ServerValues>>& srv, bool fe_only) {
    fe.assign(lay.frontends.size(), FrontendValues{});
    be.assign(lay.backends.size(), BackendValues{});
    srv.resize(lay.backends.size());
    for (std::size_t b = 0; b < lay.backends.size(); ++b) srv[b].assign(lay.backends[b].servers.size(), {});

    const std::size_t nfe = std::min(lay.frontends.size(), st.fe ? st.n_fe : 0);
    for (std::size_t i = 0; i < nfe; ++i) fe[i] = read_values(st.fe[i]);
    if (fe_only) return;
    const std::size_t nbe = std::min(lay.backends.size(), st.be ? st.n_be : 0);
    for (std::size_t i = 0; i < nbe; ++i) be[i] = read_values(st.be[i]);
    const std::size_t nsb = std::min({lay.backends.size(), st.srv.size(), st.n_srv.size()});
    for (std::size_t b = 0; b < nsb; ++b) {
        if (!st.srv[b]) continue;
        const std::size_t ns = std::min(srv[b].size(), st.n_srv[b]);
        for (std::size_t s = 0; s < ns; ++s) srv[b][s] = read_values(st.srv[b][s]);
    }
}

template <typename C>
void read_hrsp(const C& c, std::uint64_t (&h)[kHrspClasses]) {
    h[0] = c.hrsp_1xx.get();
    h[1] = c.hrsp_2xx.get();
    h[2] = c.hrsp_3xx.get();
    h[3] = c.hrsp_4xx.get();
    h[4] = c.hrsp_5xx.get();
    h[5] = c.hrsp_other.get();
}

void add_hrsp(std::uint64_t (&a)[kHrspClasses], const std::uint64_t (&b)[kHrspClasses]) {
    for (std::size_t i = 0; i < kHrspClasses; ++i) a[i] += b[i];
}

// Reads one timing sum and its count. The writer bumps the sum before the count (or the other
// way), so a reader may pair a sum with a count one sample off; the average stays within one
// sample of the truth, which is the precision an average of ms values has anyway.
TimeSum read_time(const Counter& sum, const Counter& n, const core::MaxGauge& max) {
    return TimeSum{sum.get(), n.get(), std::uint64_t(std::max<std::int64_t>(0, max.get()))};
}

void add_time(TimeSum& a, const TimeSum& b) {
    a.sum += b.sum;
    a.n += b.n;
    a.max = std::max(a.max, b.max);
}

template <typename V, typename C>
void read_server_side_http(V& v, const C& c) {
    v.req_tot = c.req_tot.get();
    read_hrsp(c, v.hrsp);
    v.connect = c.connect.get();
    v.reuse = c.reuse.get();
    v.dresp = c.dresp.get();
    v.wrew = c.wrew.get();
    v.eint = c.eint.get();
    v.last_sess_ms = c.last_sess_ms.get();
    v.qtime = read_time(c.qtime_sum, c.qtime_n, c.qtime_max);
    v.ctime = read_time(c.ctime_sum, c.ctime_n, c.ctime_max);
    v.rtime = read_time(c.rtime_sum, c.rtime_n, c.rtime_max);
    v.ttime = read_time(c.ttime_sum, c.ttime_n, c.ttime_max);
}

template <typename V>
void merge_server_side_http(V& a, const V& b) {
    a.req_tot += b.req_tot;
    add_hrsp(a.hrsp, b.hrsp);
    a.connect += b.connect;
    a.reuse += b.reuse;
    a.dresp += b.dresp;
    a.wrew += b.wrew;
    a.eint += b.eint;
    a.last_sess_ms = std::max(a.last_sess_ms, b.last_sess_ms);
    add_time(a.qtime, b.qtime);
    add_time(a.ctime, b.ctime);
    add_time(a.rtime, b.rtime);
    add_time(a.ttime, b.ttime);
}

}  // namespace

FrontendValues read_values(const FrontendCounters& c) {
    FrontendValues v;
    v.scur = c.scur.get();
    v.smax = max_of(c.smax.get(), v.scur);
    v.stot = c.stot.get();
    v.bin = c.bin.get();
    v.bout = c.bout.get();
    v.dcon = c.dcon.get();
    v.dses = c.dses.get();
    v.ereq = c.ereq.get();
    v.cli_abrt = c.cli_abrt.get();
    v.maxconn_reached = c.maxconn_reached.get();
    v.req_tot = c.req_tot.get();
    read_hrsp(c, v.hrsp);
    v.dreq = c.dreq.get();
    v.dresp = c.dresp.get();
    v.intercepted = c.intercepted.get();
    v.log_drops = c.log_drops.get();
    v.wrew = c.wrew.get();
    v.eint = c.eint.get();
    return v;
}

ServerValues read_values(const ServerCounters& c) {
    ServerValues v;
    v.scur = c.scur.get();
    v.smax = max_of(c.smax.get(), v.scur);
    v.inflight = c.inflight.get();
    v.stot = c.stot.get();
    v.bin = c.bin.get();
    v.bout = c.bout.get();
    v.econ = c.econ.get();
    v.eresp = c.eresp.get();
    v.wretr = c.wretr.get();
    v.wredis = c.wredis.get();
    v.cli_abrt = c.cli_abrt.get();
    v.srv_abrt = c.srv_abrt.get();
    v.lbtot = c.lbtot.get();
    v.idle_conn_cur = c.idle_conn_cur.get();
    read_server_side_http(v, c);
    return v;
}

BackendValues read_values(const BackendCounters& c) {
    BackendValues v;
    v.scur = c.scur.get();
    v.smax = max_of(c.smax.get(), v.scur);
    v.qcur = c.qcur.get();
    v.qmax = max_of(c.qmax.get(), v.qcur);
    v.stot = c.stot.get();
    v.bin = c.bin.get();
    v.bout = c.bout.get();
    v.econ = c.econ.get();
    v.eresp = c.eresp.get();
    v.wretr = c.wretr.get();
    v.wredis = c.wredis.get();
    v.cli_abrt = c.cli_abrt.get();
    v.srv_abrt = c.srv_abrt.get();
    v.lbtot = c.lbtot.get();
    v.dreq = c.dreq.get();
    read_server_side_http(v, c);
    return v;
}

ShardValues read_values(const ShardCounters& c) {
    ShardValues v;
    v.loops = c.loops.get();
    v.cqes = c.cqes.get();
    v.submits = c.submits.get();
    v.cq_overflow = c.cq_overflow.get();
    v.enobufs = c.enobufs.get();
    v.short_sends = c.short_sends.get();
    v.sq_full = c.sq_full.get();
    v.accepts = c.accepts.get();
    v.accept_paused = c.accept_paused.get();
    v.splice_switches = c.splice_switches.get();
    v.splice_bytes = c.splice_bytes.get();
    v.copy_bytes = c.copy_bytes.get();
    v.pipe_misses = c.pipe_misses.get();
    v.mailbox_msgs = c.mailbox_msgs.get();
    v.wakeups = c.wakeups.get();
    v.stale_cqes = c.stale_cqes.get();
    v.timers_fired = c.timers_fired.get();
    v.page_asks = c.page_asks.get();
    v.page_timeouts = c.page_timeouts.get();
    v.ssl_accepts = c.ssl_accepts.get();
    v.ssl_handshakes = c.ssl_handshakes.get();
    v.ssl_ktls = c.ssl_ktls.get();
    v.ssl_ktls_fallbacks = c.ssl_ktls_fallbacks.get();
    v.ssl_direct = c.ssl_direct.get();
    v.ssl_resumed = c.ssl_resumed.get();
    v.ssl_failures = c.ssl_failures.get();
    v.pp_headers = c.pp_headers.get();
    v.pp_failures = c.pp_failures.get();
    v.ssl_cache_lookups = c.ssl_cache_lookups.get();
    v.ssl_cache_misses = c.ssl_cache_misses.get();
    v.ssl_srv_handshakes = c.ssl_srv_handshakes.get();
    v.ssl_srv_resumed = c.ssl_srv_resumed.get();
    v.ssl_srv_failures = c.ssl_srv_failures.get();
    v.ssl_conns = c.ssl_conns.get();
    v.page_fails = c.page_fails.get();
    v.conns = c.conns.get();
    v.buffers_out = c.buffers_out.get();
    return v;
}

void merge_into(FrontendValues& a, const FrontendValues& b) {
    a.scur += b.scur;
    a.smax = std::max(a.smax, b.smax);  // Max: the largest shard's, raised by the sampled peak (see README)
    a.stot += b.stot;
    a.bin += b.bin;
    a.bout += b.bout;
    a.dcon += b.dcon;
    a.dses += b.dses;
    a.ereq += b.ereq;
    a.cli_abrt += b.cli_abrt;
    a.maxconn_reached += b.maxconn_reached;
    a.req_tot += b.req_tot;
    add_hrsp(a.hrsp, b.hrsp);
    a.dreq += b.dreq;
    a.dresp += b.dresp;
    a.intercepted += b.intercepted;
    a.log_drops += b.log_drops;
    a.wrew += b.wrew;
    a.eint += b.eint;
}

void merge_into(ServerValues& a, const ServerValues& b) {
    a.scur += b.scur;
    a.smax = std::max(a.smax, b.smax);
    a.inflight += b.inflight;
    a.stot += b.stot;
    a.bin += b.bin;
    a.bout += b.bout;
    a.econ += b.econ;
    a.eresp += b.eresp;
    a.wretr += b.wretr;
    a.wredis += b.wredis;
    a.cli_abrt += b.cli_abrt;
    a.srv_abrt += b.srv_abrt;
    a.lbtot += b.lbtot;
    a.idle_conn_cur += b.idle_conn_cur;
    merge_server_side_http(a, b);
}

void merge_into(BackendValues& a, const BackendValues& b) {
    a.scur += b.scur;
    a.smax = std::max(a.smax, b.smax);
    a.qcur += b.qcur;
    a.qmax = std::max(a.qmax, b.qmax);
    a.stot += b.stot;
    a.bin += b.bin;
    a.bout += b.bout;
    a.econ += b.econ;
    a.eresp += b.eresp;
    a.wretr += b.wretr;
    a.wredis += b.wredis;
    a.cli_abrt += b.cli_abrt;
    a.srv_abrt += b.srv_abrt;
    a.lbtot += b.lbtot;
    a.dreq += b.dreq;
    merge_server_side_http(a, b);
}

void merge_into(ShardValues& a, const ShardValues& b) {
    a.loops += b.loops;
    a.cqes += b.cqes;
    a.submits += b.submits;
    a.cq_overflow += b.cq_overflow;
    a.enobufs += b.enobufs;
    a.short_sends += b.short_sends;
    a.sq_full += b.sq_full;
    a.accepts += b.accepts;
    a.accept_paused += b.accept_paused;
    a.splice_switches += b.splice_switches;
    a.splice_bytes += b.splice_bytes;
    a.copy_bytes += b.copy_bytes;
    a.pipe_misses += b.pipe_misses;
    a.mailbox_msgs += b.mailbox_msgs;
    a.wakeups += b.wakeups;
    a.stale_cqes += b.stale_cqes;
    a.timers_fired += b.timers_fired;
    a.page_asks += b.page_asks;
    a.page_timeouts += b.page_timeouts;
    a.page_fails += b.page_fails;
    a.ssl_accepts += b.ssl_accepts;
    a.ssl_handshakes += b.ssl_handshakes;
    a.ssl_ktls += b.ssl_ktls;
    a.ssl_ktls_fallbacks += b.ssl_ktls_fallbacks;
    a.ssl_direct += b.ssl_direct;
    a.ssl_resumed += b.ssl_resumed;
    a.ssl_failures += b.ssl_failures;
    a.pp_headers += b.pp_headers;
    a.pp_failures += b.pp_failures;
    a.ssl_cache_lookups += b.ssl_cache_lookups;
    a.ssl_cache_misses += b.ssl_cache_misses;
    a.ssl_srv_handshakes += b.ssl_srv_handshakes;
    a.ssl_srv_resumed += b.ssl_srv_resumed;
    a.ssl_srv_failures += b.ssl_srv_failures;
    a.ssl_conns += b.ssl_conns;
    a.conns += b.conns;
    a.buffers_out += b.buffers_out;
}

void assign_proxy_ids(const Layout& lay, std::vector<std::uint32_t>& fe_iid, std::vector<std::uint32_t>& be_iid) {
    fe_iid.resize(lay.frontends.size());
    be_iid.resize(lay.backends.size());
    bool given = !lay.frontends.empty() || !lay.backends.empty();
    for (const auto& f : lay.frontends) given = given && f.iid != 0;
    for (const auto& b : lay.backends) given = given && b.iid != 0;
    if (given) {  // the configuration's (config::assign_proxy_ids)
        for (std::size_t i = 0; i < lay.frontends.size(); ++i) fe_iid[i] = lay.frontends[i].iid;
        for (std::size_t i = 0; i < lay.backends.size(); ++i) be_iid[i] = lay.backends[i].iid;
        return;
    }
    std::unordered_map<std::string_view, std::uint32_t> by_name;
    std::uint32_t next = 1;
    for (std::size_t i = 0; i < lay.frontends.size(); ++i) {
        fe_iid[i] = next++;
        by_name.emplace(lay.frontends[i].name, fe_iid[i]);
    }
    for (std::size_t i = 0; i < lay.backends.size(); ++i) {
        auto it = by_name.find(lay.backends[i].name);
        be_iid[i] = it != by_name.end() ? it->second : next++;
    }
}

std::string format_uptime(std::int64_t seconds) {
    if (seconds < 0) seconds = 0;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%lldd %lldh%02lldm%02llds", static_cast<long long>(seconds / 86400),
                  static_cast<long long>(seconds / 3600 % 24), static_cast<long long>(seconds / 60 % 60),
                  static_cast<long long>(seconds % 60));
    return buf;
}

Snapshot build_snapshot(const Layout& lay, const ProcessView& proc, std::span<const ShardView> shards,
                        const BuildOptions& opt) {
    Snapshot snap;
    snap.layout = &lay;
    snap.process = proc;
    snap.per_shard_objects = opt.per_shard_objects;
    snap.uptime_text = format_uptime(proc.uptime_s);
    assign_proxy_ids(lay, snap.fe_iid, snap.be_iid);

    snap.fe.assign(lay.frontends.size(), FrontendValues{});
    snap.be.assign(lay.backends.size(), BackendValues{});
    snap.srv.resize(lay.backends.size());
    for (std::size_t b = 0; b < lay.backends.size(); ++b)
        snap.srv[b].assign(lay.backends[b].servers.size(), {});

    // One scratch set reused per shard when per-shard values are not kept.
    std::vector<FrontendValues> fe;
    std::vector<BackendValues> be;
    std::vector<std::vector<ServerValues>> srv;
    std::unordered_map<std::string, std::size_t> pool_index;  // "name\0size" -> index in snap.pools

    snap.shards.reserve(shards.size());
    for (const ShardView& view : shards) {
        ShardSnapshot ss;
        ss.id = view.id;
        ss.cpu = view.cpu;
        ss.info = view.info;
        if (view.stats) {
            ss.has_stats = true;
            ss.counters = read_values(view.stats->shard);
            merge_into(snap.shard_total, ss.counters);
            read_objects(lay, *view.stats, fe, be, srv, opt.frontends_only);
            for (std::size_t i = 0; i < fe.size(); ++i) merge_into(snap.fe[i], fe[i]);
            for (std::size_t i = 0; i < be.size(); ++i) merge_into(snap.be[i], be[i]);
            for (std::size_t b = 0; b < srv.size(); ++b)
                for (std::size_t s = 0; s < srv[b].size(); ++s) merge_into(snap.srv[b][s], srv[b][s]);
            if (opt.per_shard_objects) {
                ss.fe = std::move(fe);
                ss.be = std::move(be);
                ss.srv = std::move(srv);
                fe.clear();
                be.clear();
                srv.clear();
            }
        } else if (opt.per_shard_objects) {
            ss.fe.assign(lay.frontends.size(), FrontendValues{});
            ss.be.assign(lay.backends.size(), BackendValues{});
            ss.srv.resize(lay.backends.size());
            for (std::size_t b = 0; b < lay.backends.size(); ++b)
                ss.srv[b].assign(lay.backends[b].servers.size(), {});
        }

        for (const PoolSample& p : view.pools) {
            std::string key = p.name;
            key.push_back('\0');
            key += std::to_string(p.size);
            auto [it, fresh] = pool_index.try_emplace(std::move(key), snap.pools.size());
            if (fresh) {
                PoolSummary sum;
                sum.name = p.name;
                sum.size = p.size;
                snap.pools.push_back(std::move(sum));
            }
            PoolSummary& sum = snap.pools[it->second];
            sum.allocated += p.allocated;
            sum.used += p.used;
            sum.failed += p.failed;
            sum.needed_avg += p.needed_avg;
            sum.shards.push_back({view.id, p.allocated, p.used, p.failed, p.needed_avg});
        }
        snap.shards.push_back(std::move(ss));
    }
    // a process-wide maximum is never below the current process-wide level (the sum just read)
    for (auto& v : snap.fe) v.smax = std::max(v.smax, v.scur);
    for (auto& v : snap.be) {
        v.smax = std::max(v.smax, v.scur);
        v.qmax = std::max(v.qmax, v.qcur);
    }
    for (auto& b : snap.srv)
        for (auto& v : b) v.smax = std::max(v.smax, v.scur);
    // After the whole merge, so per-shard values and shard_total stay this process's own.
    if (opt.carried) apply_carried(snap, *opt.carried);
    return snap;
}

}  // namespace es::stats
