#include "edgeshard/stats/fields.hpp"

#include <charconv>
#include <cstdio>
#include <limits>
#include <string>

namespace es::stats {

namespace {

std::int64_t clamp(std::int64_t v, std::int64_t lo, std::int64_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

Field make(FieldType t, Origin o, Nature n, Scope sc) {
    Field f;
    f.type = t;
    f.origin = o;
    f.nature = n;
    f.scope = sc;
    return f;
}

}  // namespace

std::string_view origin_name(Origin o) {
    switch (o) {
        case Origin::Metric:
            return "Metric";
        case Origin::Status:
            return "Status";
        case Origin::Key:
            return "Key";
        case Origin::Config:
            return "Config";
        case Origin::Product:
            return "Product";
    }
    return "Unknown";
}

std::string_view nature_name(Nature n) {
    switch (n) {
        case Nature::Gauge:
            return "Gauge";
        case Nature::Limit:
            return "Limit";
        case Nature::Min:
            return "Min";
        case Nature::Max:
            return "Max";
        case Nature::Rate:
            return "Rate";
        case Nature::Counter:
            return "Counter";
        case Nature::Duration:
            return "Duration";
        case Nature::Age:
            return "Age";
        case Nature::Time:
            return "Time";
        case Nature::Name:
            return "Name";
        case Nature::Output:
            return "Output";
        case Nature::Avg:
            return "Avg";
    }
    return "Unknown";
}

std::string_view scope_name(Scope s) {
    switch (s) {
        case Scope::Process:
            return "Process";
        case Scope::Service:
            return "Service";
        case Scope::System:
            return "System";
        case Scope::Cluster:
            return "Cluster";
    }
    return "Unknown";
}

std::string_view type_name(FieldType t) {
    switch (t) {
        case FieldType::Empty:
            return "empty";
        case FieldType::S32:
            return "s32";
        case FieldType::U32:
            return "u32";
        case FieldType::S64:
            return "s64";
        case FieldType::U64:
            return "u64";
        case FieldType::Flt:
            return "flt";
        case FieldType::Str:
            return "str";
    }
    return "empty";
}

std::string_view obj_type_name(ObjType t) {
    switch (t) {
        case ObjType::Frontend:
            return "Frontend";
        case ObjType::Backend:
            return "Backend";
        case ObjType::Server:
            return "Server";
    }
    return "Unknown";
}

Field Field::u32(std::int64_t v, Origin o, Nature n, Scope sc) {
    Field f = make(FieldType::U32, o, n, sc);
    f.u = std::uint64_t(clamp(v, 0, std::numeric_limits<std::uint32_t>::max()));
    return f;
}

Field Field::u64(std::uint64_t v, Origin o, Nature n, Scope sc) {
    Field f = make(FieldType::U64, o, n, sc);
    f.u = v;
    return f;
}

Field Field::s32(std::int64_t v, Origin o, Nature n, Scope sc) {
    Field f = make(FieldType::S32, o, n, sc);
    f.i = clamp(v, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max());
    return f;
}

Field Field::s64(std::int64_t v, Origin o, Nature n, Scope sc) {
    Field f = make(FieldType::S64, o, n, sc);
    f.i = v;
    return f;
}

Field Field::flt(double v, Origin o, Nature n, Scope sc) {
    Field f = make(FieldType::Flt, o, n, sc);
    f.f = v;
    return f;
}

Field Field::str(std::string_view v, Origin o, Nature n, Scope sc) {
    Field f = make(FieldType::Str, o, n, sc);
    f.s = v;
    return f;
}

void append_value_text(const Field& f, std::string& out) {
    char buf[32];
    switch (f.type) {
        case FieldType::Empty:
            return;
        case FieldType::S32:
        case FieldType::S64: {
            auto r = std::to_chars(buf, buf + sizeof buf, f.i);
            out.append(buf, r.ptr);
            return;
        }
        case FieldType::U32:
        case FieldType::U64: {
            auto r = std::to_chars(buf, buf + sizeof buf, f.u);
            out.append(buf, r.ptr);
            return;
        }
        case FieldType::Flt: {
            const int n = std::snprintf(buf, sizeof buf, "%g", f.f);
            if (n > 0) out.append(buf, std::size_t(n) < sizeof buf ? std::size_t(n) : sizeof buf - 1);
            return;
        }
        case FieldType::Str:
            out.append(f.s);
            return;
    }
}

// HAProxy 2.x `show stat` columns 0..99, in order. Scrapers (Telegraf, Datadog, the Prometheus
// haproxy_exporter) find columns by these names, some older ones by position.
// clang-format off
const std::array<std::string_view, kStatFieldCount> kStatFieldNames = {
    /*  0 */ "pxname", "svname", "qcur", "qmax", "scur",
    /*  5 */ "smax", "slim", "stot", "bin", "bout",
    /* 10 */ "dreq", "dresp", "ereq", "econ", "eresp",
    /* 15 */ "wretr", "wredis", "status", "weight", "act",
    /* 20 */ "bck", "chkfail", "chkdown", "lastchg", "downtime",
    /* 25 */ "qlimit", "pid", "iid", "sid", "throttle",
    /* 30 */ "lbtot", "tracked", "type", "rate", "rate_lim",
    /* 35 */ "rate_max", "check_status", "check_code", "check_duration", "hrsp_1xx",
    /* 40 */ "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other",
    /* 45 */ "hanafail", "req_rate", "req_rate_max", "req_tot", "cli_abrt",
    /* 50 */ "srv_abrt", "comp_in", "comp_out", "comp_byp", "comp_rsp",
    /* 55 */ "lastsess", "last_chk", "last_agt", "qtime", "ctime",
    /* 60 */ "rtime", "ttime", "agent_status", "agent_code", "agent_duration",
    /* 65 */ "check_desc", "agent_desc", "check_rise", "check_fall", "check_health",
    /* 70 */ "agent_rise", "agent_fall", "agent_health", "addr", "cookie",
    /* 75 */ "mode", "algo", "conn_rate", "conn_rate_max", "conn_tot",
    /* 80 */ "intercepted", "dcon", "dses", "wrew", "connect",
    /* 85 */ "reuse", "cache_lookups", "cache_hits", "srv_icur", "src_ilim",
    /* 90 */ "qtime_max", "ctime_max", "rtime_max", "ttime_max", "eint",
    /* 95 */ "idle_conn_cur", "safe_conn_cur", "used_conn_cur", "need_conn_est", "uweight",
    /* 100 */ "agg_server_status", "agg_server_check_status", "agg_check_status",
};
// clang-format on

}  // namespace es::stats
