// Snapshot -> typed rows. The tags mirror what HAProxy sets for the same field, so a consumer
// that aggregates HAProxy's typed output by nature aggregates ours the same way. Values we do not
// track stay Empty (an empty CSV cell, no JSON object), exactly as HAProxy leaves unset fields;
// we never print a 0 for something we do not measure.
#include <string_view>

#include "edgeshard/core/version.hpp"
#include "edgeshard/stats/render.hpp"

namespace es::stats {

namespace {

constexpr std::int64_t kProcessNum = 1;  // one process: HAProxy's relative pid / processNum

const FrontendValues kNoFe{};
const BackendValues kNoBe{};
const ServerValues kNoSrv{};

const FrontendValues& fe_values(const Snapshot& snap, std::size_t fe, int shard) {
    if (shard < 0) return snap.fe[fe];
    const auto& ss = snap.shards[std::size_t(shard)];
    return fe < ss.fe.size() ? ss.fe[fe] : kNoFe;
}

const BackendValues& be_values(const Snapshot& snap, std::size_t be, int shard) {
    if (shard < 0) return snap.be[be];
    const auto& ss = snap.shards[std::size_t(shard)];
    return be < ss.be.size() ? ss.be[be] : kNoBe;
}

const ServerValues& srv_values(const Snapshot& snap, std::size_t be, std::size_t sv, int shard) {
    if (shard < 0) return snap.srv[be][sv];
    const auto& ss = snap.shards[std::size_t(shard)];
    if (be < ss.srv.size() && sv < ss.srv[be].size()) return ss.srv[be][sv];
    return kNoSrv;
}

std::string_view mode_name(bool http) {
    return http ? "http" : "tcp";
}

// A server's weight and admin state: the runtime ones when the snapshot has them.
ServerState server_state(const Snapshot& snap, std::size_t be, std::size_t sv) {
    if (be < snap.srv_runtime.size() && sv < snap.srv_runtime[be].size()) return snap.srv_runtime[be][sv];
    const Layout::Server& s = snap.layout->backends[be].servers[sv];
    ServerState r{s.weight, s.disabled ? ServerState::Admin::Maint : ServerState::Admin::Ready};
    if (s.unresolved) r.rmaint = 1;
    return r;
}

// The runtime state when the snapshot has one (its strings live in the snapshot).
const ServerState* runtime_state(const Snapshot& snap, std::size_t be, std::size_t sv) {
    if (be < snap.srv_runtime.size() && sv < snap.srv_runtime[be].size()) return &snap.srv_runtime[be][sv];
    return nullptr;
}

// A server takes traffic from the LB when it is ready (not in drain or maintenance), has a
// weight, and its health check (if any) says UP and not NOLB.
bool server_usable(const ServerState& r) {
    return r.admin == ServerState::Admin::Ready && r.weight > 0 && !r.down && r.rmaint != 1 &&
           (!r.check.enabled || (r.check.up && !r.check.nolb));
}

void fill_keys(StatRow& row, std::string_view px, std::string_view sv, std::uint32_t iid, std::uint32_t sid,
               ObjType type) {
    row[st::pxname] = Field::str(px, Origin::Key, Nature::Name, Scope::Service);
    row[st::svname] = Field::str(sv, Origin::Key, Nature::Name, Scope::Service);
    row[st::pid] = Field::u32(kProcessNum, Origin::Key);
    row[st::iid] = Field::u32(iid, Origin::Key, Nature::Gauge, Scope::Service);
    row[st::sid] = Field::u32(sid, Origin::Key, Nature::Gauge, Scope::Service);
    row[st::type] = Field::u32(std::int64_t(type), Origin::Config, Nature::Gauge, Scope::Service);
}

Field counter(std::uint64_t v) {
    return Field::u64(v, Origin::Metric, Nature::Counter);
}
Field gauge32(std::int64_t v) {
    return Field::u32(v, Origin::Metric, Nature::Gauge);
}
Field max32(std::int64_t v) {
    return Field::u32(v, Origin::Metric, Nature::Max);
}
Field limit32(std::int64_t v) {
    return Field::u32(v, Origin::Config, Nature::Limit);
}

Field rate32(std::uint64_t v) {
    return Field::u32(std::int64_t(v), Origin::Metric, Nature::Rate);
}

// A rate and its maximum, measured on the merged rows only (the control shard samples the totals): 0 before
// the first whole second, empty on a shard's own rows.
// (HAProxy tags a backend's pair as plain gauges: `plain`)
void fill_rate(StatRow& row, std::size_t cur_at, std::size_t max_at, int shard, const Snapshot::Rate* r,
               bool plain = false) {
    if (shard >= 0) return;
    row[cur_at] = plain ? gauge32(std::int64_t(r ? r->cur : 0)) : rate32(r ? r->cur : 0);
    row[max_at] = plain ? gauge32(std::int64_t(r ? r->max : 0)) : max32(std::int64_t(r ? r->max : 0));
}

// "Seconds since the last session", -1 for never (HAProxy's lastsess)
Field last_sess(const Snapshot& snap, std::int64_t at_ms) {
    if (at_ms <= 0) return Field::s32(-1, Origin::Metric, Nature::Age);
    return Field::s32(std::max<std::int64_t>(0, (snap.process.now_ms - at_ms) / 1000), Origin::Metric, Nature::Age);
}

// No compression (refused at load): HAProxy fills these for every frontend and backend.
void fill_comp(StatRow& row) {
    for (std::size_t at : {st::comp_in, st::comp_out, st::comp_byp, st::comp_rsp}) row[at] = counter(0);
}

void fill_hrsp(StatRow& row, const std::uint64_t (&h)[kHrspClasses]) {
    for (std::size_t i = 0; i < kHrspClasses; ++i) row[st::hrsp_1xx + i] = counter(h[i]);
}

// qtime/ctime/rtime/ttime and their maxima, in both modes as HAProxy (a tcp session has no response time:
// rtime stays 0; 0 too before the first sample)
void fill_times(StatRow& row, const TimeSum& q, const TimeSum& c, const TimeSum& r, const TimeSum& t) {
    row[st::qtime] = Field::u32(std::int64_t(q.avg()), Origin::Metric, Nature::Avg);
    row[st::ctime] = Field::u32(std::int64_t(c.avg()), Origin::Metric, Nature::Avg);
    row[st::rtime] = Field::u32(std::int64_t(r.avg()), Origin::Metric, Nature::Avg);
    row[st::ttime] = Field::u32(std::int64_t(t.avg()), Origin::Metric, Nature::Avg);
    row[st::qtime_max] = max32(std::int64_t(q.max));
    row[st::ctime_max] = max32(std::int64_t(c.max));
    row[st::rtime_max] = max32(std::int64_t(r.max));
    row[st::ttime_max] = max32(std::int64_t(t.max));
}

// What a backend and a server both report of their sessions, in both modes as HAProxy: when the last one came,
// the rules' failed rewrites and internal errors, the times, and the HTTP server connections opened and reused
// (0 for a tcp proxy).
template <typename V>
void fill_server_side(StatRow& row, const Snapshot& snap, const V& v) {
    row[st::lastsess] = last_sess(snap, v.last_sess_ms);
    row[st::wrew] = counter(v.wrew);
    row[st::eint] = counter(v.eint);
    fill_times(row, v.qtime, v.ctime, v.rtime, v.ttime);
    row[st::connect] = counter(v.connect);
    row[st::reuse] = counter(v.reuse);
}

}  // namespace

void fill_frontend_row(const Snapshot& snap, std::size_t fe, int shard, StatRow& row) {
    row.fill(Field{});
    const Layout::Frontend& cf = snap.layout->frontends[fe];
    const FrontendValues& v = fe_values(snap, fe, shard);
    fill_keys(row, cf.name, "FRONTEND", snap.fe_iid[fe], 0, ObjType::Frontend);
    row[st::scur] = gauge32(v.scur);
    row[st::smax] = max32(v.smax);
    // a frontend without maxconn takes the global one (HAProxy's)
    if (const int lim = cf.maxconn > 0 ? cf.maxconn : snap.process.maxconn; lim > 0) row[st::slim] = limit32(lim);
    row[st::stot] = counter(v.stot);
    row[st::bin] = counter(v.bin);
    row[st::bout] = counter(v.bout);
    row[st::ereq] = counter(v.ereq);
    row[st::status] = Field::str("OPEN", Origin::Status);
    const Snapshot::FrontendRates* fr = fe < snap.fe_rate.size() ? &snap.fe_rate[fe] : nullptr;
    fill_rate(row, st::rate, st::rate_max, shard, fr ? &fr->sess : nullptr);
    fill_rate(row, st::req_rate, st::req_rate_max, shard, fr ? &fr->req : nullptr);
    fill_rate(row, st::conn_rate, st::conn_rate_max, shard, fr ? &fr->conn : nullptr);
    row[st::rate_lim] = limit32(0);  // no `rate-limit sessions`
    row[st::conn_tot] = counter(v.stot + v.dcon);  // every accepted connection, a session or not
    row[st::req_tot] = counter(v.req_tot);  // (HAProxy fills it for tcp frontends too: their upgraded requests)
    fill_comp(row);
    row[st::wrew] = counter(v.wrew);
    row[st::eint] = counter(v.eint);
    row[st::mode] = Field::str(mode_name(cf.http), Origin::Config, Nature::Gauge, Scope::Service);
    row[st::dcon] = counter(v.dcon);
    row[st::dses] = counter(v.dses);
    // denials exist for every frontend, as in HAProxy (a TCP frontend's dreq counts tcp-request
    // content rejects); the HTTP fields exist for HTTP proxies only (a TCP frontend leaves them empty)
    row[st::dreq] = counter(v.dreq);
    row[st::dresp] = counter(v.dresp);
    if (cf.http) {
        fill_hrsp(row, v.hrsp);
        row[st::intercepted] = counter(v.intercepted);
        row[st::cache_lookups] = counter(0);  // no cache
        row[st::cache_hits] = counter(0);
    }
}

void fill_backend_row(const Snapshot& snap, std::size_t be, int shard, StatRow& row) {
    row.fill(Field{});
    const Layout::Backend& cb = snap.layout->backends[be];
    const BackendValues& v = be_values(snap, be, shard);
    fill_keys(row, cb.name, "BACKEND", snap.be_iid[be], 0, ObjType::Backend);

    std::int64_t act = 0, bck = 0, weight = 0, act_weight = 0, bck_weight = 0;
    for (std::size_t k = 0; k < cb.servers.size(); ++k) {
        const ServerState r = server_state(snap, be, k);
        if (!server_usable(r)) continue;
        if (cb.servers[k].backup) {
            ++bck;
            bck_weight += r.weight;
        } else {
            ++act;
            act_weight += r.weight;
        }
    }
    // the weight of the tier that serves: the active servers, else the backups (HAProxy)
    weight = act > 0 ? act_weight : bck_weight;
    row[st::qcur] = gauge32(v.qcur);
    row[st::qmax] = max32(v.qmax);
    row[st::scur] = gauge32(v.scur);
    row[st::smax] = max32(v.smax);
    // HAProxy's fullconn: a tenth of the maxconn of the frontends that route here, at least 1
    {
        std::int64_t sum = 0;
        for (std::size_t f : cb.feeders) {
            const int m = snap.layout->frontends[f].maxconn;
            sum += m > 0 ? m : snap.process.maxconn;
        }
        row[st::slim] = limit32(std::max<std::int64_t>(1, (sum + 9) / 10));
    }
    row[st::stot] = counter(v.stot);
    fill_rate(row, st::rate, st::rate_max, shard, be < snap.be_rate.size() ? &snap.be_rate[be] : nullptr, true);
    fill_server_side(row, snap, v);
    fill_comp(row);
    // HAProxy 2.6 fills them with 0 in the CSV (their counts are in its Prometheus exporter only)
    row[st::agg_server_status] = gauge32(0);
    row[st::agg_server_check_status] = gauge32(0);
    row[st::agg_check_status] = gauge32(0);
    row[st::bin] = counter(v.bin);
    row[st::bout] = counter(v.bout);
    row[st::econ] = counter(v.econ);
    row[st::eresp] = counter(v.eresp);
    row[st::wretr] = counter(v.wretr);
    row[st::wredis] = counter(v.wredis);
    // HAProxy: a backend is UP while it has weight to serve, or has no server at all (a stats page)
    row[st::status] = Field::str(act + bck > 0 || cb.servers.empty() ? "UP" : "DOWN", Origin::Status);
    if (be < snap.be_state.size()) {
        const Snapshot::BackendState& bs = snap.be_state[be];
        row[st::chkdown] = counter(bs.down_trans);
        row[st::lastchg] = Field::u32(bs.lastchg_s, Origin::Metric, Nature::Age);
        // (HAProxy gives no downtime for a backend without servers, a stats page's)
        if (!cb.servers.empty()) row[st::downtime] = Field::u32(bs.downtime_s, Origin::Metric, Nature::Counter);
    }
    row[st::weight] = Field::u32(weight, Origin::Metric, Nature::Avg);
    row[st::act] = gauge32(act);
    row[st::bck] = gauge32(bck);
    row[st::lbtot] = counter(v.lbtot);
    row[st::cli_abrt] = counter(v.cli_abrt);
    row[st::srv_abrt] = counter(v.srv_abrt);
    row[st::mode] = Field::str(mode_name(cb.http), Origin::Config, Nature::Gauge, Scope::Service);
    row[st::algo] = Field::str(cb.algo, Origin::Config, Nature::Gauge, Scope::Service);
    if (!cb.cookie.empty()) row[st::cookie] = Field::str(cb.cookie, Origin::Config, Nature::Gauge, Scope::Service);
    row[st::uweight] = Field::u32(weight, Origin::Metric, Nature::Avg);
    const bool http = cb.http;
    // in both modes, as HAProxy's stats_fill_be_stats (mode tcp: tcp-request/-response content rules)
    row[st::dreq] = counter(v.dreq);
    row[st::dresp] = counter(v.dresp);
    if (http) {
        fill_hrsp(row, v.hrsp);
        row[st::req_tot] = counter(v.req_tot);
        row[st::cache_lookups] = counter(0);  // no cache
        row[st::cache_hits] = counter(0);
    }
}

void fill_server_row(const Snapshot& snap, std::size_t be, std::size_t sv, int shard, StatRow& row) {
    row.fill(Field{});
    const Layout::Backend& cb = snap.layout->backends[be];
    const Layout::Server& cs = cb.servers[sv];
    const ServerValues& v = srv_values(snap, be, sv, shard);
    fill_keys(row, cb.name, cs.name, snap.be_iid[be], cs.server_id(), ObjType::Server);
    // a server has no queue of its own: what waits for it waits in its backend's queue
    row[st::qcur] = gauge32(0);
    row[st::qmax] = max32(0);
    row[st::scur] = gauge32(v.scur);
    row[st::smax] = max32(v.smax);
    fill_rate(row, st::rate, st::rate_max, shard,
              be < snap.srv_rate.size() && sv < snap.srv_rate[be].size() ? &snap.srv_rate[be][sv] : nullptr);
    fill_server_side(row, snap, v);
    {
        const ServerState* rt = runtime_state(snap, be, sv);
        const int lim = rt && rt->maxconn >= 0 ? rt->maxconn : cs.maxconn;
        if (lim > 0) row[st::slim] = limit32(lim);
    }
    row[st::stot] = counter(v.stot);
    row[st::bin] = counter(v.bin);
    row[st::bout] = counter(v.bout);
    row[st::econ] = counter(v.econ);
    row[st::eresp] = counter(v.eresp);
    row[st::wretr] = counter(v.wretr);
    row[st::wredis] = counter(v.wredis);
    // HAProxy prints "no check" for a running server without health checks.
    const ServerState rs = server_state(snap, be, sv);
    const ServerState* live = runtime_state(snap, be, sv);
    const CheckView* ck = live && live->check.enabled ? &live->check : nullptr;
    const bool unresolved = live && live->rmaint >= 0 ? live->rmaint == 1 : cs.unresolved;
    if (unresolved)
        row[st::status] = Field::str("MAINT (resolution)", Origin::Status);
    else if (rs.admin == ServerState::Admin::Maint)
        row[st::status] = Field::str("MAINT", Origin::Status);
    else if (live && !live->status.empty())
        row[st::status] = Field::str(live->status, Origin::Status);
    else if (rs.down)
        row[st::status] = Field::str("DOWN", Origin::Status);  // `set server ... health down`, or unchecked and DOWN
    else
        row[st::status] = Field::str(rs.admin == ServerState::Admin::Drain ? "DRAIN" : "no check", Origin::Status);
    row[st::weight] = Field::u32(rs.weight, Origin::Metric, Nature::Avg);
    row[st::act] = Field::u32(cs.backup ? 0 : 1, Origin::Status);
    row[st::bck] = Field::u32(cs.backup ? 1 : 0, Origin::Status);
    if (live && live->lastchg_s >= 0) row[st::lastchg] = Field::u32(live->lastchg_s, Origin::Metric, Nature::Age);
    if (ck) {
        if (ck->throttle < 100) row[st::throttle] = Field::u32(ck->throttle, Origin::Metric, Nature::Avg);
        row[st::chkfail] = counter(ck->failed);
        row[st::chkdown] = counter(ck->down_trans);
        row[st::downtime] = Field::u32(ck->downtime_s, Origin::Metric, Nature::Counter);
        row[st::check_status] = Field::str(ck->status, Origin::Metric, Nature::Output);
        if (ck->has_code) row[st::check_code] = Field::u32(ck->code, Origin::Metric, Nature::Output);
        if (ck->duration_ms >= 0)
            row[st::check_duration] = Field::u64(std::uint64_t(ck->duration_ms), Origin::Metric, Nature::Duration);
        row[st::check_desc] = Field::str(ck->desc, Origin::Metric, Nature::Output);
        row[st::last_chk] = Field::str(ck->info, Origin::Metric, Nature::Output);
        row[st::check_rise] = Field::u32(ck->rise, Origin::Config, Nature::Gauge, Scope::Service);
        row[st::check_fall] = Field::u32(ck->fall, Origin::Config, Nature::Gauge, Scope::Service);
        row[st::check_health] = Field::u32(ck->health, Origin::Config, Nature::Gauge, Scope::Service);
    }
    // HAProxy shows hanafail for the servers with `observe`, checked or not
    if (cs.observe) row[st::hanafail] = counter(ck ? ck->hana_failed : 0);
    if (const AgentView* ag = live && live->agent.enabled ? &live->agent : nullptr) {
        row[st::agent_status] = Field::str(ag->status, Origin::Metric, Nature::Output);
        if (ag->has_code) row[st::agent_code] = Field::u32(ag->code, Origin::Metric, Nature::Output);
        if (ag->duration_ms >= 0)
            row[st::agent_duration] = Field::u64(std::uint64_t(ag->duration_ms), Origin::Metric, Nature::Duration);
        row[st::agent_desc] = Field::str(ag->desc, Origin::Metric, Nature::Output);
        row[st::last_agt] = Field::str(ag->info, Origin::Metric, Nature::Output);
        row[st::agent_rise] = Field::u32(ag->rise, Origin::Config, Nature::Gauge, Scope::Service);
        row[st::agent_fall] = Field::u32(ag->fall, Origin::Config, Nature::Gauge, Scope::Service);
        row[st::agent_health] = Field::u32(ag->health, Origin::Config, Nature::Gauge, Scope::Service);
    }
    row[st::lbtot] = counter(v.lbtot);
    row[st::cli_abrt] = counter(v.cli_abrt);
    row[st::srv_abrt] = counter(v.srv_abrt);
    const std::string& addr = live && !live->addr.empty() ? live->addr : cs.addr;
    if (!addr.empty() && !unresolved) row[st::addr] = Field::str(addr, Origin::Config, Nature::Gauge, Scope::Service);
    if (!cs.cookie.empty()) row[st::cookie] = Field::str(cs.cookie, Origin::Config, Nature::Gauge, Scope::Service);
    row[st::mode] = Field::str(mode_name(cb.http), Origin::Config, Nature::Gauge, Scope::Service);
    row[st::uweight] = Field::u32(rs.weight, Origin::Metric, Nature::Avg);
    const bool http = cb.http;
    row[st::dresp] = counter(v.dresp);  // in both modes (HAProxy's stats_fill_sv_stats)
    // One pool of idle server connections per shard, all reusable by any request: HAProxy's
    // total (srv_icur) and its "unsafe idle" share (idle_conn_cur) are the same number here, its
    // "safe" share 0; in use: the connections carrying a session or connecting now; needed: those.
    row[st::srv_icur] = gauge32(v.idle_conn_cur);
    row[st::idle_conn_cur] = gauge32(v.idle_conn_cur);
    row[st::safe_conn_cur] = gauge32(0);
    row[st::used_conn_cur] = gauge32(v.inflight);
    row[st::need_conn_est] = gauge32(v.inflight);
    if (http) {
        // req_tot: HAProxy 2.6 fills it for HTTP servers too (stats_fill_sv_stats), whatever its
        // documentation's [.FB.] says
        row[st::req_tot] = counter(v.req_tot);
        fill_hrsp(row, v.hrsp);
    }
}

std::vector<InfoField> info_fields(const Snapshot& snap) {
    const ProcessView& p = snap.process;
    // Cumulative fields continue across a reload: own totals plus what older generations carried
    // (zero unless the snapshot was built with carried totals). CurrConns is a gauge: never carried.
    ShardValues t = snap.shard_total;
    merge_into(t, snap.carried_info.shard);

    std::uint64_t pool_alloc = 0, pool_used = 0, pool_failed = 0;
    for (const auto& pl : snap.pools) {
        pool_alloc += pl.allocated * pl.size;
        pool_used += pl.used * pl.size;
        pool_failed += pl.failed;
    }
    pool_failed += snap.carried_info.pool_failed;
    std::uint64_t bytes_in = snap.carried_info.bytes_in, bytes_out = snap.carried_info.bytes_out,
                  requests = snap.carried_info.req_tot, log_drops = snap.carried_info.log_drops;
    for (const auto& fe : snap.fe) {
        bytes_in += fe.bin;
        bytes_out += fe.bout;
        requests += fe.req_tot;
        log_drops += fe.log_drops;
    }
    const std::uint64_t mib = 1024 * 1024;

    std::vector<InfoField> f;
    f.reserve(100);
    auto add = [&f](int pos, std::string_view name, Field v) { f.push_back({pos, name, v}); };
    constexpr Origin M = Origin::Metric, C = Origin::Config;
    constexpr Nature G = Nature::Gauge, L = Nature::Limit, R = Nature::Rate, X = Nature::Max;
    const ProcessView::Rates rates = p.rates.value_or(ProcessView::Rates{});
    // HAProxy 2.6's positions, names, types and tags (its info_field order, as `show info typed` gives them);
    // what edgeshard has no equivalent of says so by its value, the same HAProxy gives when it is unused
    add(0, "Name", Field::str(kProduct, Origin::Product, Nature::Output, Scope::Service));
    add(1, "Version", Field::str(p.version, Origin::Product, Nature::Output, Scope::Service));
    add(2, "Release_date", Field::str(p.release_date, Origin::Product, Nature::Output, Scope::Service));
    add(3, "Nbthread", Field::u32(std::int64_t(p.nbshards), C, G, Scope::Service));
    add(4, "Nbproc", Field::u32(1, C, G, Scope::Service));
    add(5, "Process_num", Field::u32(kProcessNum, Origin::Key));
    add(6, "Pid", Field::u32(p.pid, Origin::Status));
    add(7, "Uptime", Field::str(snap.uptime_text, M, Nature::Duration));
    add(8, "Uptime_sec", Field::u32(p.uptime_s, M, Nature::Duration));
    add(9, "Memmax_MB", Field::u32(0, C, L));  // no global memory cap (HAProxy's -m): 0, as HAProxy without it
    add(10, "PoolAlloc_MB", Field::u32(std::int64_t(pool_alloc / mib)));
    add(11, "PoolUsed_MB", Field::u32(std::int64_t(pool_used / mib)));
    add(12, "PoolFailed", Field::u32(std::int64_t(pool_failed), M, Nature::Counter));
    add(13, "Ulimit-n", Field::u32(p.ulimit_n, C, L));
    add(14, "Maxsock", Field::u32(p.ulimit_n, C, L));  // the descriptors the process may hold
    add(15, "Maxconn", Field::u32(p.maxconn, C, L));
    add(16, "Hard_maxconn", Field::u32(p.maxconn, C, L));
    add(17, "CurrConns", Field::u32(t.conns));
    // HAProxy types CumConns and CumReq as u32; ours are u64 so they cannot wrap on a long-lived box.
    add(18, "CumConns", Field::u64(t.accepts));
    add(19, "CumReq", Field::u64(requests));
    add(20, "MaxSslConns", Field::u32(0, M, X));  // no maxsslconn limit
    add(21, "CurrSslConns", Field::u32(snap.shard_total.ssl_conns));
    add(22, "CumSslConns", Field::u64(t.ssl_accepts));
    add(23, "Maxpipes", Field::u32(p.maxpipes, C, L));
    add(24, "PipesUsed", Field::u32(std::int64_t(p.pipes_used.value_or(0))));
    add(25, "PipesFree", Field::u32(std::int64_t(p.pipes_free.value_or(0))));
    // a connection is a session here (no tcp-request connection stage apart): the two rates are one
    add(26, "ConnRate", Field::u32(std::int64_t(rates.conn), M, R));
    add(27, "ConnRateLimit", Field::u32(0, C, L));
    add(28, "MaxConnRate", Field::u32(std::int64_t(rates.max_conn), M, X));
    add(29, "SessRate", Field::u32(std::int64_t(rates.conn), M, R));
    add(30, "SessRateLimit", Field::u32(0, C, L));
    add(31, "MaxSessRate", Field::u32(std::int64_t(rates.max_conn), M, R));  // (HAProxy tags it a rate)
    add(32, "SslRate", Field::u32(std::int64_t(rates.ssl), M, R));
    add(33, "SslRateLimit", Field::u32(0, C, L));
    add(34, "MaxSslRate", Field::u32(std::int64_t(rates.max_ssl), M, X));
    // a key is computed for every full handshake (not for a resumed one)
    add(35, "SslFrontendKeyRate", Field::u32(std::int64_t(rates.ssl_key)));
    add(36, "SslFrontendMaxKeyRate", Field::u32(std::int64_t(rates.max_ssl_key), M, X));
    // HAProxy's is a rate ratio over the last second; this one is over the process's life (and
    // what a reload carried), so it does not jump between samples
    add(37, "SslFrontendSessionReuse_pct",
        Field::u32(t.ssl_handshakes ? std::int64_t(t.ssl_resumed * 100 / t.ssl_handshakes) : 0));
    add(38, "SslBackendKeyRate", Field::u32(std::int64_t(rates.ssl_srv_key), M, R));
    add(39, "SslBackendMaxKeyRate", Field::u32(std::int64_t(rates.max_ssl_srv_key), M, X));
    add(40, "SslCacheLookups", Field::u32(std::int64_t(t.ssl_cache_lookups), M, Nature::Counter));
    add(41, "SslCacheMisses", Field::u32(std::int64_t(t.ssl_cache_misses), M, Nature::Counter));
    // no compression (refused at load): nothing in, nothing out, no limit
    add(42, "CompressBpsIn", Field::u32(0, M, R));
    add(43, "CompressBpsOut", Field::u32(0, M, R));
    add(44, "CompressBpsRateLim", Field::u32(0, C, L));
    // HAProxy's tasks are its streams, checks and applets: here the connections, the servers' checks and
    // agents, and the CLI's connections
    add(47, "Tasks", Field::u32(t.conns + p.checks + p.cli_conns));
    // a shard has no run queue: its work arrives as completions, all handled in the turn they arrive
    add(48, "Run_queue", Field::u32(0));
    add(49, "Idle_pct", Field::u32(std::int64_t(rates.idle_pct), M, Nature::Avg));
    add(50, "node", Field::str(p.node, C, Nature::Output, Scope::Service));
    if (!p.description.empty())
        add(51, "description", Field::str(p.description, C, Nature::Output, Scope::Service));
    add(52, "Stopping", Field::u32(p.stopping ? 1 : 0));
    // HAProxy's jobs: listeners, connections and CLI connections, what a soft stop waits for
    add(53, "Jobs", Field::u32(p.listeners + t.conns + p.cli_conns));
    add(54, "Unstoppable Jobs", Field::u32(0));  // (the master CLI's in HAProxy; the master has its own)
    add(55, "Listeners", Field::u32(p.listeners));
    add(56, "ActivePeers", Field::u32(0));     // tables are not replicated: no peers
    add(57, "ConnectedPeers", Field::u32(0));
    add(58, "DroppedLogs", Field::u64(log_drops, M, G));
    add(59, "BusyPolling", Field::u32(0));  // the shards block in io_uring_enter, never busy-poll
    add(60, "FailedResolutions", Field::u32(0));  // (HAProxy's counts do-resolve actions, not supported)
    add(61, "TotalBytesOut", Field::u64(bytes_out, M, G));
    add(62, "TotalSplicdedBytesOut", Field::u64(t.splice_bytes, M, G));  // (HAProxy's spelling)
    add(63, "BytesOutRate", Field::u64(rates.bytes_out, M, R));
    add(64, "DebugCommandsIssued", Field::u32(0));  // no expert-mode debug commands
    add(65, "CumRecvLogs", Field::u32(0, M, Nature::Counter));  // no log-forward section receives yet
    add(66, "Build info", Field::str(p.version, Origin::Product, Nature::Output, Scope::Service));
    add(67, "Memmax_bytes", Field::u32(0, C, L));
    add(68, "PoolAlloc_bytes", Field::u64(pool_alloc, M, G));
    add(69, "PoolUsed_bytes", Field::u64(pool_used, M, G));
    add(70, "Start_time_sec", Field::u32(p.start_wall_s, M, Nature::Duration));
    add(71, "Tainted", Field::str("0", Origin::Status));
    // The shards' share of the global maxconn is what pauses accepting, so its pauses are
    // HAProxy's "global maxconn reached" events (a later HAProxy's name).
    add(73, "MaxconnReached", Field::u32(std::int64_t(t.accept_paused), M, Nature::Counter));
    // Ours.
    int pos = kInfoOwnBase;
    add(pos++, "Shards",
        Field::u32(std::int64_t(snap.shards.size()), Origin::Config, Nature::Gauge, Scope::Service));
    add(pos++, "IoUringTier", Field::str(p.tier, Origin::Config, Nature::Output));
    add(pos++, "TotalBytesIn", Field::u64(bytes_in));
    add(pos++, "CqOverflow", Field::u64(t.cq_overflow));
    add(pos++, "Enobufs", Field::u64(t.enobufs));
    add(pos++, "ShortSends", Field::u64(t.short_sends));
    add(pos++, "SqFull", Field::u64(t.sq_full));
    add(pos++, "StaleCqes", Field::u64(t.stale_cqes));
    add(pos++, "SpliceSwitches", Field::u64(t.splice_switches));
    add(pos++, "SpliceBytes", Field::u64(t.splice_bytes));
    add(pos++, "CopyBytes", Field::u64(t.copy_bytes));
    add(pos++, "PipeMisses", Field::u64(t.pipe_misses));
    add(pos++, "Loops", Field::u64(t.loops));
    add(pos++, "Wakeups", Field::u64(t.wakeups));
    add(pos++, "Generation", Field::u32(p.generation, Origin::Status));
    add(pos++, "DrainSeconds", Field::s32(p.drain_s, Origin::Metric, Nature::Duration));
    add(pos++, "OldProcesses", Field::u32(p.old_processes));
    add(pos++, "SslHandshakes", Field::u64(t.ssl_handshakes));
    add(pos++, "SslResumed", Field::u64(t.ssl_resumed));
    add(pos++, "SslHandshakeFailures", Field::u64(t.ssl_failures));
    add(pos++, "SslKtlsConns", Field::u64(t.ssl_ktls));
    add(pos++, "SslKtlsFallbacks", Field::u64(t.ssl_ktls_fallbacks));
    add(pos++, "SslDirectSealConns", Field::u64(t.ssl_direct));
    add(pos++, "SslServerHandshakes", Field::u64(t.ssl_srv_handshakes));
    add(pos++, "SslServerResumed", Field::u64(t.ssl_srv_resumed));
    add(pos++, "SslServerHandshakeFailures", Field::u64(t.ssl_srv_failures));
    add(pos++, "ProxyHeaders", Field::u64(t.pp_headers));
    add(pos++, "ProxyHeaderFailures", Field::u64(t.pp_failures));
    if (!p.tls_tier.empty()) add(pos++, "TlsTier", Field::str(p.tls_tier, Origin::Config, Nature::Output));
    return f;
}

}  // namespace es::stats
