// Typed stat fields, modelled on HAProxy's typed output (management guide §9.1-9.3).
//
// A field carries a value and three tags that say how to aggregate and read it:
//   origin  where the value comes from (Metric, Status, Key, Config, Product)
//   nature  what it is (Gauge, Limit, Max, Counter, Duration, Age, Name, Output, Avg, ...)
//   scope   whether it is process-local or a property of the service (Process, Service, ...)
// The tag values and their JSON spellings are HAProxy's, so tools that read HAProxy's
// `show stat json` / `show info json` read ours. The name and position of a field come from the
// table it belongs to (kStatFieldNames for `show stat`, the info list for `show info`), not from
// the field itself, so a row of fields is a plain array indexed by position.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace es::stats {

enum class Origin : std::uint8_t { Metric, Status, Key, Config, Product };
enum class Nature : std::uint8_t {
    Gauge,
    Limit,
    Min,
    Max,
    Rate,
    Counter,
    Duration,
    Age,
    Time,
    Name,
    Output,
    Avg
};
enum class Scope : std::uint8_t { Process, Service, System, Cluster };
// Empty = "no value": CSV leaves the cell empty, JSON omits the field, text omits the line.
enum class FieldType : std::uint8_t { Empty, S32, U32, S64, U64, Flt, Str };

std::string_view origin_name(Origin o);
std::string_view nature_name(Nature n);
std::string_view scope_name(Scope s);
std::string_view type_name(FieldType t);

// Largest integer a JSON reader is guaranteed to hold exactly (RFC 7159 §6): 2^53 - 1.
inline constexpr std::int64_t kJsonIntMax = (std::int64_t(1) << 53) - 1;

// One typed value. Strings are views: the producer guarantees the characters outlive the row
// (config names, static literals, or storage owned by the Snapshot the row was filled from).
struct Field {
    FieldType type = FieldType::Empty;
    Origin origin = Origin::Metric;
    Nature nature = Nature::Gauge;
    Scope scope = Scope::Process;
    std::int64_t i = 0;   // S32, S64
    std::uint64_t u = 0;  // U32, U64
    double f = 0;         // Flt
    std::string_view s;   // Str

    bool empty() const { return type == FieldType::Empty; }

    // u32/s32 saturate instead of wrapping: a gauge read mid-update must not print as 4 billion.
    static Field u32(std::int64_t v, Origin o = Origin::Metric, Nature n = Nature::Gauge,
                     Scope sc = Scope::Process);
    static Field u64(std::uint64_t v, Origin o = Origin::Metric, Nature n = Nature::Counter,
                     Scope sc = Scope::Process);
    static Field s32(std::int64_t v, Origin o = Origin::Metric, Nature n = Nature::Gauge,
                     Scope sc = Scope::Process);
    static Field s64(std::int64_t v, Origin o = Origin::Metric, Nature n = Nature::Gauge,
                     Scope sc = Scope::Process);
    static Field flt(double v, Origin o = Origin::Metric, Nature n = Nature::Avg, Scope sc = Scope::Process);
    static Field str(std::string_view v, Origin o = Origin::Metric, Nature n = Nature::Gauge,
                     Scope sc = Scope::Process);
};

// Appends the value as text (integers in decimal, floats with up to 6 significant digits,
// strings raw). Empty appends nothing.
void append_value_text(const Field& f, std::string& out);

// `show stat` columns: HAProxy 2.6's positions and names for 0..102 (up to `agg_check_status`).
// Positions are part of the contract with scrapers that index CSV columns by number.
inline constexpr std::size_t kStatFieldCount = 103;
extern const std::array<std::string_view, kStatFieldCount> kStatFieldNames;

// One-line descriptions (`show stat typed desc`, `show info typed desc`, `show schema json`): of `show stat` field
// `pos` ("" past the end), of `show info` field `pos` (HAProxy 2.6's positions, ours from kInfoOwnBase; "" unknown).
std::string_view stat_field_desc(std::size_t pos);
std::string_view info_field_desc(int pos);

namespace st {  // the positions we fill, named after HAProxy's ST_F_* enum
inline constexpr std::size_t pxname = 0, svname = 1, qcur = 2, qmax = 3, scur = 4, smax = 5, slim = 6,
                             stot = 7, bin = 8, bout = 9, dreq = 10, dresp = 11, ereq = 12, econ = 13,
                             eresp = 14, wretr = 15, wredis = 16, status = 17, weight = 18, act = 19,
                             bck = 20, chkfail = 21, chkdown = 22, lastchg = 23, downtime = 24, qlimit = 25,
                             pid = 26, iid = 27, sid = 28, throttle = 29, lbtot = 30, tracked = 31, type = 32, check_status = 36, check_code = 37,
                             check_duration = 38, last_chk = 56, check_desc = 65, check_rise = 67,
                             check_fall = 68, check_health = 69, hanafail = 45, last_agt = 57,
                             agent_status = 62, agent_code = 63, agent_duration = 64, agent_desc = 66,
                             agent_rise = 70, agent_fall = 71, agent_health = 72,
                             hrsp_1xx = 39, hrsp_2xx = 40, hrsp_3xx = 41, hrsp_4xx = 42, hrsp_5xx = 43,
                             hrsp_other = 44, req_tot = 48, cli_abrt = 49, srv_abrt = 50, qtime = 58,
                             ctime = 59, rtime = 60, ttime = 61, addr = 73, cookie = 74, mode = 75, algo = 76,
                             intercepted = 80, dcon = 81, dses = 82, connect = 84, reuse = 85, srv_icur = 88,
                             idle_conn_cur = 95, uweight = 99, rate = 33, rate_lim = 34, rate_max = 35,
                             req_rate = 46, req_rate_max = 47, comp_in = 51, comp_out = 52, comp_byp = 53,
                             comp_rsp = 54, lastsess = 55, conn_rate = 77, conn_rate_max = 78, conn_tot = 79,
                             wrew = 83, cache_lookups = 86, cache_hits = 87, qtime_max = 90, ctime_max = 91,
                             rtime_max = 92, ttime_max = 93, eint = 94, safe_conn_cur = 96, used_conn_cur = 97,
                             need_conn_est = 98, agg_server_status = 100, agg_server_check_status = 101,
                             agg_check_status = 102;
}  // namespace st

// `type` column values (HAProxy's STATS_TYPE_*).
enum class ObjType : std::uint8_t { Frontend = 0, Backend = 1, Server = 2 };
std::string_view obj_type_name(ObjType t);  // "Frontend", "Backend", "Server" (JSON objType)

using StatRow = std::array<Field, kStatFieldCount>;

// One `show info` line: HAProxy's position and name where HAProxy has the field, ours from
// kInfoOwnBase on for fields HAProxy does not have.
inline constexpr int kInfoOwnBase = 100;
struct InfoField {
    int pos = 0;
    std::string_view name;
    Field value;
};

}  // namespace es::stats
