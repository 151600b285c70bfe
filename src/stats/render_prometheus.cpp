// Prometheus text exposition (format 0.0.4) with HAProxy promex's metric names.
//
// Like promex, the dump is grouped by metric: each family is one HELP line, one TYPE line, then a
// sample per object. The values come from the same typed rows as `show stat` (fill_*_row), so a
// field HAProxy leaves empty for an object (slim without maxconn, HTTP fields on a TCP proxy) has
// no sample either. Each object's row is filled once, its samples appended to one buffer per family: the
// memory is the output's own size (a row refilled per family and object cost 45x the fills).
#include <cstdio>
#include <span>

#include "edgeshard/core/version.hpp"
#include "edgeshard/stats/render.hpp"
#include "order.hpp"

namespace es::stats {

namespace {

enum Kind : std::uint8_t { kGauge, kCounter };
enum ObjScope : std::uint8_t { kFe = 1, kBe = 2, kSv = 4 };
enum Special : std::uint8_t { kPlain, kStatus, kHrsp, kMsToSeconds, kCheckStatus };

struct ObjMetric {
    std::size_t pos;  // the `show stat` field the value comes from (kHrsp: hrsp_1xx)
    std::string_view name;
    Kind kind;
    std::uint8_t scopes;
    Special special;
    std::string_view help;
};

// promex's order (ST_F_* order) and names.
// clang-format off
constexpr ObjMetric kObjMetrics[] = {
    {st::qcur, "current_queue", kGauge, kBe | kSv, kPlain, "Number of current queued connections."},
    {st::qmax, "max_queue", kGauge, kBe | kSv, kPlain, "Highest value of queued connections encountered since process started."},
    {st::scur, "current_sessions", kGauge, kFe | kBe | kSv, kPlain, "Number of current sessions on the frontend, backend or server."},
    {st::smax, "max_sessions", kGauge, kFe | kBe | kSv, kPlain, "Highest value of current sessions encountered since process started."},
    {st::slim, "limit_sessions", kGauge, kFe | kBe | kSv, kPlain, "Frontend/listener/server's maxconn, backend's fullconn."},
    {st::stot, "sessions_total", kCounter, kFe | kBe | kSv, kPlain, "Total number of sessions since process started."},
    {st::bin, "bytes_in_total", kCounter, kFe | kBe | kSv, kPlain, "Total number of request bytes since process started."},
    {st::bout, "bytes_out_total", kCounter, kFe | kBe | kSv, kPlain, "Total number of response bytes since process started."},
    {st::dreq, "requests_denied_total", kCounter, kFe | kBe, kPlain, "Total number of denied requests since process started."},
    {st::dresp, "responses_denied_total", kCounter, kFe | kBe | kSv, kPlain, "Total number of denied responses since process started."},
    {st::ereq, "request_errors_total", kCounter, kFe, kPlain, "Total number of invalid requests since process started."},
    {st::econ, "connection_errors_total", kCounter, kBe | kSv, kPlain, "Total number of failed connections to server since the worker process started."},
    {st::eresp, "response_errors_total", kCounter, kBe | kSv, kPlain, "Total number of invalid responses since the worker process started."},
    {st::wretr, "retry_warnings_total", kCounter, kBe | kSv, kPlain, "Total number of server connection retries since the worker process started."},
    {st::wredis, "redispatch_warnings_total", kCounter, kBe | kSv, kPlain, "Total number of server redispatches due to connection failures since the worker process started."},
    {st::status, "status", kGauge, kFe | kBe | kSv, kStatus, "Current status of the service, per state label value."},
    {st::weight, "weight", kGauge, kBe | kSv, kPlain, "Server's effective weight, or sum of active servers' effective weights for a backend."},
    {st::act, "active_servers", kGauge, kBe, kPlain, "Total number of active UP servers with a non-zero weight."},
    {st::bck, "backup_servers", kGauge, kBe, kPlain, "Total number of backup UP servers with a non-zero weight."},
    {st::chkfail, "check_failures_total", kCounter, kSv, kPlain, "Total number of failed individual health checks per server/backend, since the worker process started."},
    {st::chkdown, "check_up_down_total", kCounter, kBe | kSv, kPlain, "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started."},
    {st::lastchg, "check_last_change_seconds", kGauge, kBe | kSv, kPlain, "How long ago the last server state changed, in seconds."},
    {st::downtime, "downtime_seconds_total", kCounter, kBe | kSv, kPlain, "Total downtime (in seconds) for the service."},
    {st::lbtot, "loadbalanced_total", kCounter, kBe | kSv, kPlain, "Total number of requests routed by load balancing since the worker process started."},
    {st::check_status, "check_status", kGauge, kSv, kCheckStatus, "Status of last health check, per state label value."},
    {st::check_code, "check_code", kGauge, kSv, kPlain, "layer5-7 code, if available of the last health check."},
    {st::check_duration, "check_duration_seconds", kGauge, kSv, kMsToSeconds, "Total duration of the latest server health check, in seconds."},
    {st::hrsp_1xx, "http_responses_total", kCounter, kFe | kBe | kSv, kHrsp, "Total number of HTTP responses, per status class (code label), since the worker process started."},
    {st::req_tot, "http_requests_total", kCounter, kFe | kBe, kPlain, "Total number of HTTP requests processed by this object since the worker process started."},
    {st::cli_abrt, "client_aborts_total", kCounter, kBe | kSv, kPlain, "Total number of requests or connections aborted by the client since the worker process started."},
    {st::srv_abrt, "server_aborts_total", kCounter, kBe | kSv, kPlain, "Total number of requests or connections aborted by the server since the worker process started."},
    {st::qtime, "queue_time_average_seconds", kGauge, kBe | kSv, kMsToSeconds, "Avg. queue time since the worker process started."},
    {st::ctime, "connect_time_average_seconds", kGauge, kBe | kSv, kMsToSeconds, "Avg. connect time since the worker process started."},
    {st::rtime, "response_time_average_seconds", kGauge, kBe | kSv, kMsToSeconds, "Avg. response time since the worker process started."},
    {st::ttime, "total_time_average_seconds", kGauge, kBe | kSv, kMsToSeconds, "Avg. total time since the worker process started."},
    {st::intercepted, "intercepted_requests_total", kCounter, kFe, kPlain, "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started."},
    {st::dcon, "denied_connections_total", kCounter, kFe, kPlain, "Total number of incoming connections blocked on a listener/frontend since the worker process started."},
    {st::dses, "denied_sessions_total", kCounter, kFe, kPlain, "Total number of incoming sessions blocked on a listener/frontend since the worker process started."},
    {st::connect, "connection_attempts_total", kCounter, kBe | kSv, kPlain, "Total number of outgoing connection attempts on this backend/server since the worker process started."},
    {st::reuse, "connection_reuses_total", kCounter, kBe | kSv, kPlain, "Total number of reused connection on this backend/server since the worker process started."},
    {st::srv_icur, "idle_connections_current", kGauge, kSv, kPlain, "Current number of idle connections available for reuse on this server."},
    {st::idle_conn_cur, "unsafe_idle_connections_current", kGauge, kSv, kPlain, "Current number of unsafe idle connections."},
    {st::uweight, "uweight", kGauge, kBe | kSv, kPlain, "Server's user weight, or sum of active servers' user weights for a backend."},
};
// clang-format on

// The families promex gives for HTTP proxies only, though `show stat` fills their fields for tcp ones too.
constexpr bool http_family(std::size_t pos) {
    return pos == st::req_tot || pos == st::connect || pos == st::reuse || pos == st::srv_icur ||
           pos == st::idle_conn_cur;
}

struct InfoMetric {
    int pos;  // `show info` position
    std::string_view name;
    Kind kind;
    std::string_view help;
};

// clang-format off
constexpr InfoMetric kInfoMetrics[] = {
    {3, "nbthread", kGauge, "Number of started threads (global.nbthread)."},
    {4, "nbproc", kGauge, "Number of started worker processes (historical, always 1)."},
    {5, "relative_process_id", kGauge, "Relative worker process number (1)."},
    {8, "uptime_seconds", kGauge, "How long ago this worker process was started (seconds)."},
    {70, "start_time_seconds", kGauge, "Start time in seconds."},
    {68, "pool_allocated_bytes", kGauge, "Amount of memory allocated in pools (in bytes)."},
    {69, "pool_used_bytes", kGauge, "Amount of pool memory currently used (in bytes)."},
    {12, "pool_failures_total", kCounter, "Number of failed pool allocations since this worker was started."},
    {13, "max_fds", kGauge, "Hard limit on the number of per-process file descriptors."},
    {15, "max_connections", kGauge, "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)."},
    {16, "hard_max_connections", kGauge, "Initial Maxconn as passed in the configuration or on the command line."},
    {17, "current_connections", kGauge, "Current number of connections on this worker process."},
    {18, "connections_total", kCounter, "Total number of connections on this worker process since started."},
    {19, "requests_total", kCounter, "Total number of requests on this worker process since started."},
    {21, "current_ssl_connections", kGauge, "Current number of opened SSL connections."},
    {22, "ssl_connections_total", kCounter, "Total number of opened SSL connections."},
    {26, "current_connection_rate", kGauge, "Current number of connections per second over last elapsed second."},
    {27, "limit_connection_rate", kGauge, "Configured maximum number of connections per second."},
    {28, "max_connection_rate", kGauge, "Maximum observed number of connections per second."},
    {29, "current_session_rate", kGauge, "Current number of sessions per second over last elapsed second."},
    {30, "limit_session_rate", kGauge, "Configured maximum number of sessions per second."},
    {31, "max_session_rate", kGauge, "Maximum observed number of sessions per second."},
    {32, "current_ssl_rate", kGauge, "Current number of SSL sessions per second over last elapsed second."},
    {33, "limit_ssl_rate", kGauge, "Configured maximum number of SSL sessions per second."},
    {34, "max_ssl_rate", kGauge, "Maximum observed number of SSL sessions per second."},
    {35, "current_frontend_ssl_key_rate", kGauge, "Current frontend SSL Key computation per second over last elapsed second."},
    {36, "max_frontend_ssl_key_rate", kGauge, "Maximum observed frontend SSL Key computation per second."},
    {37, "frontend_ssl_reuse", kGauge, "Percent of frontend SSL connections which did not require a new key."},
    {38, "current_backend_ssl_key_rate", kGauge, "Current backend SSL Key computation per second over last elapsed second."},
    {39, "max_backend_ssl_key_rate", kGauge, "Maximum observed backend SSL Key computation per second."},
    {40, "ssl_cache_lookups_total", kCounter, "Total number of SSL session ID lookups."},
    {41, "ssl_cache_misses_total", kCounter, "Total number of SSL session ID lookups that didn't find a session to reuse."},
    {23, "max_pipes", kGauge, "Hard limit on the number of pipes for splicing, 0=unlimited."},
    {24, "pipes_used_total", kCounter, "Current number of pipes in use in this worker process."},
    {25, "pipes_free_total", kCounter, "Current number of allocated and available pipes in this worker process."},
    {52, "stopping", kGauge, "1 if the worker process is currently stopping, otherwise zero."},
    {58, "dropped_logs_total", kCounter, "Total number of dropped logs for current worker process since started."},
    {61, "bytes_out_total", kCounter, "Total number of bytes emitted by current worker process since started."},
};
// clang-format on

std::string_view kind_name(Kind k) {
    return k == kCounter ? "counter" : "gauge";
}

// Label values: backslash, double quote and line feed escaped (exposition format §"Comments, help
// text, and type information" / "Line format").
void append_label_value(std::string& out, std::string_view v) {
    for (char c : v) {
        switch (c) {
            case '\\':
                out.append("\\\\");
                break;
            case '"':
                out.append("\\\"");
                break;
            case '\n':
                out.append("\\n");
                break;
            default:
                out.push_back(c);
        }
    }
}

// HELP text: backslash and line feed escaped.
void append_help(std::string& out, std::string_view v) {
    for (char c : v) {
        if (c == '\\') {
            out.append("\\\\");
        } else if (c == '\n') {
            out.append("\\n");
        } else {
            out.push_back(c);
        }
    }
}

void append_header(std::string& out, std::string_view prefix, std::string_view name, Kind kind,
                   std::string_view help) {
    out.append("# HELP ").append(prefix).append(name).push_back(' ');
    append_help(out, help);
    out.append("\n# TYPE ").append(prefix).append(name).push_back(' ');
    out.append(kind_name(kind)).push_back('\n');
}

void append_double(std::string& out, double v) {
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%.9g", v);
    if (n > 0) out.append(buf, std::size_t(n) < sizeof buf ? std::size_t(n) : sizeof buf - 1);
}

// Appends the numeric value of f; false for a field without a number (Empty, Str).
bool append_number(std::string& out, const Field& f, bool ms_to_s) {
    switch (f.type) {
        case FieldType::U32:
        case FieldType::U64:
            if (ms_to_s) {
                append_double(out, double(f.u) / 1000.0);
            } else {
                append_value_text(f, out);
            }
            return true;
        case FieldType::S32:
        case FieldType::S64:
            if (ms_to_s) {
                append_double(out, double(f.i) / 1000.0);
            } else {
                append_value_text(f, out);
            }
            return true;
        case FieldType::Flt:
            append_double(out, ms_to_s ? f.f / 1000.0 : f.f);
            return true;
        case FieldType::Empty:
        case FieldType::Str:
            return false;
    }
    return false;
}

struct Labels {
    std::string_view proxy;
    std::string_view server;  // empty for frontends and backends
};

void append_labels(std::string& out, const Labels& l, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
    out.append("{proxy=\"");
    append_label_value(out, l.proxy);
    out.push_back('"');
    if (!l.server.empty()) {
        out.append(",server=\"");
        append_label_value(out, l.server);
        out.push_back('"');
    }
    if (!extra_name.empty()) {
        out.push_back(',');
        out.append(extra_name).append("=\"");
        append_label_value(out, extra_value);
        out.push_back('"');
    }
    out.push_back('}');
}

constexpr std::string_view kFrontStates[] = {"DOWN", "UP"};
constexpr std::string_view kBackStates[] = {"DOWN", "UP"};
constexpr std::string_view kServerStates[] = {"DOWN", "UP", "MAINT", "DRAIN", "NOLB"};
constexpr std::string_view kCheckStates[] = {"HANA",   "SOCKERR", "L4OK",  "L4TOUT", "L4CON", "L6OK",
                                             "L6TOUT", "L6RSP",   "L7TOUT", "L7RSP", "L7OK",  "L7OKC",
                                             "L7STS",  "PROCERR", "PROCTOUT", "PROCOK"};
constexpr std::string_view kHrspCodes[kHrspClasses] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};

// Our `show stat` status strings mapped to promex's state label values.
std::string_view promex_state(ObjType t, std::string_view status) {
    if (t == ObjType::Server) {
        // "UP 1/3", "DOWN 1/2", "DRAIN 1/3": the state before the counts
        const std::string_view word = status.substr(0, status.find(' '));
        if (word == "MAINT") return "MAINT";
        if (word == "DOWN") return "DOWN";
        if (word == "DRAIN") return "DRAIN";
        if (word == "NOLB") return "NOLB";
        return "UP";  // "UP", "no check"
    }
    return status == "DOWN" || status == "STOP" ? "DOWN" : "UP";  // frontends print OPEN
}

// One object's samples of metric m. Returns false when it had none.
bool append_object(std::string& out, std::string_view family, const ObjMetric& m, ObjType t, const StatRow& row,
                   const Labels& l) {
    switch (m.special) {
        case kStatus: {
            const Field& f = row[st::status];
            if (f.type != FieldType::Str) return false;
            const std::string_view cur = promex_state(t, f.s);
            std::span<const std::string_view> states = kFrontStates;
            if (t == ObjType::Server) states = kServerStates;
            if (t == ObjType::Backend) states = kBackStates;
            for (std::string_view s : states) {
                out.append(family);
                append_labels(out, l, "state", s);
                out.append(s == cur ? " 1\n" : " 0\n");
            }
            return true;
        }
        case kHrsp: {
            bool any = false;
            for (std::size_t i = 0; i < kHrspClasses; ++i) {
                const Field& f = row[st::hrsp_1xx + i];
                if (f.empty()) continue;
                out.append(family);
                append_labels(out, l, "code", kHrspCodes[i]);
                out.push_back(' ');
                append_number(out, f, false);
                out.push_back('\n');
                any = true;
            }
            return any;
        }
        case kCheckStatus: {
            const Field& f = row[m.pos];
            if (f.type != FieldType::Str) return false;
            std::string_view cur = f.s;
            if (cur.substr(0, 2) == "* ") cur.remove_prefix(2);  // in progress
            for (std::string_view s : kCheckStates) {
                out.append(family);
                append_labels(out, l, "state", s);
                out.append(s == cur ? " 1\n" : " 0\n");
            }
            return true;
        }
        case kPlain:
        case kMsToSeconds: {
            const Field& f = row[m.pos];
            if (f.empty() || f.type == FieldType::Str) return false;
            out.append(family);
            append_labels(out, l);
            out.push_back(' ');
            append_number(out, f, m.special == kMsToSeconds);
            out.push_back('\n');
            return true;
        }
    }
    return false;
}

}  // namespace

void render_prometheus(const Snapshot& snap, std::string& out) {
    const Layout& lay = *snap.layout;

    // Process metrics, from the `show info` fields (same values, same omissions).
    const std::vector<InfoField> info = info_fields(snap);
    for (const InfoMetric& m : kInfoMetrics) {
        for (const InfoField& f : info) {
            if (f.pos != m.pos || f.value.empty() || f.value.type == FieldType::Str) continue;
            append_header(out, "haproxy_process_", m.name, m.kind, m.help);
            out.append("haproxy_process_").append(m.name).push_back(' ');
            append_number(out, f.value, false);
            out.push_back('\n');
            break;
        }
    }
    append_header(out, "haproxy_process_", "build_info", kGauge, "Build info");
    out.append("haproxy_process_build_info{version=\"");
    append_label_value(out, snap.process.version.empty() ? std::string_view(kVersion) : snap.process.version);
    out.append("\"} 1\n");

    StatRow row;
    struct Pass {
        ObjScope scope;
        std::string_view prefix;
    };
    constexpr Pass passes[] = {{kFe, "haproxy_frontend_"}, {kBe, "haproxy_backend_"}, {kSv, "haproxy_server_"}};
    // Each object's row is filled once per pass and its samples go to one buffer per family; the families are
    // then written in promex's order, each header before its samples (a family without a sample, an HTTP
    // metric in a TCP-only config, is left out). Memory: the output's own size.
    constexpr std::size_t kMetrics = sizeof(kObjMetrics) / sizeof(kObjMetrics[0]);
    std::vector<std::string> bufs(kMetrics);
    std::vector<std::string> families(kMetrics);
    for (const Pass& p : passes) {
        for (std::size_t k = 0; k < kMetrics; ++k) {
            bufs[k].clear();
            families[k].assign(p.prefix).append(kObjMetrics[k].name);
        }
        auto one = [&](ObjType t, const Labels& l, bool http) {
            for (std::size_t k = 0; k < kMetrics; ++k) {
                const ObjMetric& m = kObjMetrics[k];
                if (!(m.scopes & p.scope) || (!http && http_family(m.pos))) continue;
                std::string& b = bufs[k];
                const std::size_t before = b.size();
                if (!append_object(b, families[k], m, t, row, l)) b.resize(before);
            }
        };
        if (p.scope == kFe) {
            for (std::size_t i = 0; i < lay.frontends.size(); ++i) {
                fill_frontend_row(snap, i, -1, row);
                one(ObjType::Frontend, {lay.frontends[i].name, {}}, lay.frontends[i].http);
            }
        } else if (p.scope == kBe) {
            for (std::size_t i = 0; i < lay.backends.size(); ++i) {
                fill_backend_row(snap, i, -1, row);
                one(ObjType::Backend, {lay.backends[i].name, {}}, lay.backends[i].http);
            }
        } else {
            for (std::size_t b = 0; b < lay.backends.size(); ++b) {
                for (std::size_t s = 0; s < lay.backends[b].servers.size(); ++s) {
                    fill_server_row(snap, b, s, -1, row);
                    one(ObjType::Server, {lay.backends[b].name, lay.backends[b].servers[s].name}, lay.backends[b].http);
                }
            }
        }
        for (std::size_t k = 0; k < kMetrics; ++k) {
            if (bufs[k].empty()) continue;
            const ObjMetric& m = kObjMetrics[k];
            append_header(out, p.prefix, m.name, m.kind, m.help);
            out.append(bufs[k]);
        }
    }
}

std::string render_prometheus(const Snapshot& snap) {
    std::string out;
    render_prometheus(snap, out);
    return out;
}

}  // namespace es::stats
