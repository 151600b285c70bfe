// One-line descriptions of the `show stat` and `show info` fields (`... typed desc`, the stats page's tooltips).
//
// They say what edgeshard measures, which is not always what HAProxy does: where a value is derived
// differently (averages since start, maxima summed over shards) or is a constant because edgeshard has no
// such mechanism (Run_queue, BusyPolling), the description says so, so a reader of `typed desc` is not
// misled by HAProxy's documentation. Object types in parentheses: F frontend, B backend, S server.
// Cumulative counters count since the first start: totals carried across reloads are added in
// (stats/carry.hpp), so "since start" below includes the older generations.
#include <array>
#include <cstddef>
#include <string_view>

#include "edgeshard/stats/fields.hpp"

namespace es::stats {

namespace {

constexpr std::size_t kStatDescCount = kStatFieldCount;

// Indexed by `show stat` position (kStatFieldNames).
// clang-format off
constexpr std::array<std::string_view, kStatDescCount> kStatDesc = {
    /*   0 pxname */ "Proxy name: the frontend, backend or listen section",
    /*   1 svname */ "Server name, or FRONTEND / BACKEND on a proxy's own rows",
    /*   2 qcur */ "Requests waiting now in the backend's queue for a server slot",
    /*   3 qmax */ "Highest qcur seen (the shards' own peaks summed)",
    /*   4 scur */ "Sessions open now",
    /*   5 smax */ "Highest scur seen (the shards' own peaks summed)",
    /*   6 slim */ "Configured session limit, maxconn (F, S)",
    /*   7 stot */ "Total sessions: accepted (F), handled by the backend (B), connected to the server (S)",
    /*   8 bin */ "Bytes received from clients (F) or forwarded toward servers (B, S)",
    /*   9 bout */ "Bytes sent to clients (F) or received from servers (B, S)",
    /*  10 dreq */ "Requests denied by tcp-request content or http-request rules (F, B)",
    /*  11 dresp */ "Responses denied by tcp-response content or http-response rules (F, B, S)",
    /*  12 ereq */ "Request errors from clients: read errors, invalid or incomplete requests (F)",
    /*  13 econ */ "Attempts to connect to a server that failed (B, S)",
    /*  14 eresp */ "Response errors: server read errors and aborts (B, S)",
    /*  15 wretr */ "Connection attempts to a server that were retried (B, S)",
    /*  16 wredis */ "Requests redispatched to another server; for a server, times it was left (B, S)",
    /*  17 status */ "State: OPEN (F); UP or DOWN (B); UP, DOWN, NOLB, DRAIN, MAINT or no check (S)",
    /*  18 weight */ "Effective weight (S); weight of the usable servers of the serving tier (B)",
    /*  19 act */ "Usable active servers (B); 1 for an active server, 0 for a backup (S)",
    /*  20 bck */ "Usable backup servers (B); 1 for a backup server, 0 for an active one (S)",
    /*  21 chkfail */ "Failed health checks (S)",
    /*  22 chkdown */ "UP to DOWN transitions; for a backend, of the whole backend (B, S)",
    /*  23 lastchg */ "Seconds since the last UP/DOWN change (B, S)",
    /*  24 downtime */ "Seconds spent DOWN in total; for a backend, with no usable server (B, S)",
    /*  25 qlimit */ "Configured maxqueue of the server; empty when unlimited (S)",
    /*  26 pid */ "Relative process number, always 1",
    /*  27 iid */ "Numeric id of the proxy",
    /*  28 sid */ "Numeric id of the server within its backend (S); 0 on proxy rows",
    /*  29 throttle */ "Slowstart throttle now, percent; empty outside slowstart (S)",
    /*  30 lbtot */ "Times the load balancer picked this server (S) or a server of this backend (B)",
    /*  31 tracked */ "The backend/server whose health this server follows (track) (S)",
    /*  32 type */ "Row type: 0 frontend, 1 backend, 2 server, 3 listener",
    /*  33 rate */ "New sessions over the last second (F, B, S)",
    /*  34 rate_lim */ "Configured limit of new sessions per second (F)",
    /*  35 rate_max */ "Highest number of new sessions per second seen (F, B, S)",
    /*  36 check_status */ "Result of the last health check, such as L4OK, L7OK, L7STS or L4TOUT (S)",
    /*  37 check_code */ "Layer 5-7 code of the last health check, such as its HTTP status (S)",
    /*  38 check_duration */ "Duration of the last health check, ms (S)",
    /*  39 hrsp_1xx */ "HTTP responses with a 1xx status (F, B, S)",
    /*  40 hrsp_2xx */ "HTTP responses with a 2xx status (F, B, S)",
    /*  41 hrsp_3xx */ "HTTP responses with a 3xx status (F, B, S)",
    /*  42 hrsp_4xx */ "HTTP responses with a 4xx status (F, B, S)",
    /*  43 hrsp_5xx */ "HTTP responses with a 5xx status (F, B, S)",
    /*  44 hrsp_other */ "HTTP responses with any other status, protocol errors included (F, B, S)",
    /*  45 hanafail */ "Errors counted by passive health analysis, observe (S)",
    /*  46 req_rate */ "HTTP requests over the last second (F)",
    /*  47 req_rate_max */ "Highest number of HTTP requests per second seen (F)",
    /*  48 req_tot */ "HTTP requests received (F, B, S)",
    /*  49 cli_abrt */ "Transfers aborted by the client (F, B, S)",
    /*  50 srv_abrt */ "Transfers aborted by the server (B, S)",
    /*  51 comp_in */ "HTTP response bytes fed to the compressor (F, B)",
    /*  52 comp_out */ "HTTP response bytes produced by the compressor (F, B)",
    /*  53 comp_byp */ "HTTP response bytes that skipped compression for a CPU or bandwidth limit (F, B)",
    /*  54 comp_rsp */ "HTTP responses compressed (F, B)",
    /*  55 lastsess */ "Seconds since a session was last assigned (B, S)",
    /*  56 last_chk */ "Output or error text of the last health check (S)",
    /*  57 last_agt */ "Output or error text of the last agent check (S)",
    /*  58 qtime */ "Average time spent queued, ms, over every sample since start (B, S)",
    /*  59 ctime */ "Average time to connect to a server, ms, over every sample since start (B, S)",
    /*  60 rtime */ "Average server response time, ms, over every sample since start; 0 in TCP (B, S)",
    /*  61 ttime */ "Average total session time, ms, over every sample since start (B, S)",
    /*  62 agent_status */ "Result of the last agent check, such as L4OK, L7OK, L7STS or L4CON (S)",
    /*  63 agent_code */ "Numeric code the agent reported, if any (S)",
    /*  64 agent_duration */ "Duration of the last agent check, ms (S)",
    /*  65 check_desc */ "Readable explanation of check_status (S)",
    /*  66 agent_desc */ "Readable explanation of agent_status (S)",
    /*  67 check_rise */ "Successful checks in a row that bring the server UP, rise (S)",
    /*  68 check_fall */ "Failed checks in a row that bring the server DOWN, fall (S)",
    /*  69 check_health */ "Health check counter, from 0 to rise+fall-1 (S)",
    /*  70 agent_rise */ "Successful agent checks in a row that bring the server UP (S)",
    /*  71 agent_fall */ "Failed agent checks in a row that bring the server DOWN (S)",
    /*  72 agent_health */ "Agent check counter, from 0 to rise+fall-1 (S)",
    /*  73 addr */ "Server address as address:port, an IPv6 address in brackets (S)",
    /*  74 cookie */ "Persistence cookie value of the server (S) or cookie name of the backend (B)",
    /*  75 mode */ "Proxy mode: tcp or http",
    /*  76 algo */ "Load-balancing algorithm, as named by balance (B)",
    /*  77 conn_rate */ "Connections accepted over the last second (F)",
    /*  78 conn_rate_max */ "Highest number of connections accepted per second seen (F)",
    /*  79 conn_tot */ "Connections accepted (F)",
    /*  80 intercepted */ "Requests answered by the proxy itself: redirect, return, auth, stats, errors (F)",
    /*  81 dcon */ "Connections dropped after accept: tcp-request connection reject, no room or backend (F)",
    /*  82 dses */ "Sessions refused by tcp-request session rules (F)",
    /*  83 wrew */ "Header rewrites that failed (F, B, S)",
    /*  84 connect */ "New server connections opened for HTTP requests (B, S)",
    /*  85 reuse */ "HTTP requests sent over a reused idle server connection (B, S)",
    /*  86 cache_lookups */ "HTTP cache lookups (F, B)",
    /*  87 cache_hits */ "HTTP cache lookups that found the object (F, B)",
    /*  88 srv_icur */ "Idle server connections kept for reuse now (S)",
    /*  89 src_ilim */ "Limit on idle server connections kept for reuse (S)",
    /*  90 qtime_max */ "Longest time spent queued, ms (B, S)",
    /*  91 ctime_max */ "Longest time to connect to a server, ms (B, S)",
    /*  92 rtime_max */ "Longest server response time, ms (B, S)",
    /*  93 ttime_max */ "Longest total session time, ms (B, S)",
    /*  94 eint */ "Internal errors (F, B, S)",
    /*  95 idle_conn_cur */ "Idle server connections now; equal to srv_icur, pools do not split safe ones (S)",
    /*  96 safe_conn_cur */ "Idle server connections now that any request may reuse (S)",
    /*  97 used_conn_cur */ "Server connections in use now (S)",
    /*  98 need_conn_est */ "Estimated number of server connections needed (S)",
    /*  99 uweight */ "Weight set by configuration or CLI (S); its sum over the usable servers (B)",
    /* 100 agg_server_status */ "Servers by state; 0 in the CSV, as HAProxy 2.6 gives it (/metrics has the counts) (B)",
    /* 101 agg_server_check_status */ "Deprecated name of agg_server_status; 0, as HAProxy 2.6 gives it (B)",
    /* 102 agg_check_status */ "Servers by last check result; 0 in the CSV, as HAProxy 2.6 gives it (B)",
};
// clang-format on

// HAProxy 2.6's `show info` positions 0..71, and MaxconnReached at 73 (a later HAProxy's field). 72 is a
// later HAProxy's TotalWarnings, which edgeshard does not print: empty, as an unknown position.
constexpr int kInfoHaproxyCount = 74;
static_assert(kInfoHaproxyCount <= kInfoOwnBase, "HAProxy's positions would run into edgeshard's own");

// clang-format off
constexpr std::array<std::string_view, kInfoHaproxyCount> kInfoDesc = {
    /*  0 Name */ "Product name, edgeshard",
    /*  1 Version */ "Version of edgeshard",
    /*  2 Release_date */ "Release date of this version",
    /*  3 Nbthread */ "Shards running, one thread each",
    /*  4 Nbproc */ "Worker processes, always 1",
    /*  5 Process_num */ "Relative number of this process, always 1",
    /*  6 Pid */ "Operating system id of this process",
    /*  7 Uptime */ "Time since this process started, in days, hours, minutes and seconds",
    /*  8 Uptime_sec */ "Time since this process started, seconds",
    /*  9 Memmax_MB */ "Memory cap in MB; always 0: edgeshard sets no global memory limit",
    /* 10 PoolAlloc_MB */ "Memory allocated in the shards' pools, in MB of 1048576 bytes, rounded down",
    /* 11 PoolUsed_MB */ "Pool memory in use now, in MB of 1048576 bytes, rounded down",
    /* 12 PoolFailed */ "Pool allocations that failed since start",
    /* 13 Ulimit-n */ "File descriptor limit of the process, the RLIMIT_NOFILE soft limit",
    /* 14 Maxsock */ "Descriptors the process may hold; the same as Ulimit-n",
    /* 15 Maxconn */ "Global maxconn as applied, derived from the descriptor limit when not set",
    /* 16 Hard_maxconn */ "Hard connection limit of the process; the same as Maxconn",
    /* 17 CurrConns */ "Client connections open now, all shards",
    /* 18 CumConns */ "Client connections accepted since start",
    /* 19 CumReq */ "HTTP requests received by the frontends since start",
    /* 20 MaxSslConns */ "Limit on concurrent TLS connections; 0 means none",
    /* 21 CurrSslConns */ "Client TLS connections open now; TLS to servers is not counted",
    /* 22 CumSslConns */ "Connections accepted on TLS binds since start",
    /* 23 Maxpipes */ "Limit on pipes for splice(2), all shards: maxpipes, by default maxconn/4",
    /* 24 PipesUsed */ "Pipes in use by splice(2) now",
    /* 25 PipesFree */ "Pipes allocated and idle, ready for splice(2)",
    /* 26 ConnRate */ "Connections accepted over the last second",
    /* 27 ConnRateLimit */ "Limit on ConnRate; always 0: there is no maxconnrate",
    /* 28 MaxConnRate */ "Highest ConnRate since this process started, connections per second",
    /* 29 SessRate */ "Sessions created over the last second; equal to ConnRate, a connection is a session",
    /* 30 SessRateLimit */ "Limit on SessRate; always 0: there is no maxsessrate",
    /* 31 MaxSessRate */ "Highest SessRate since this process started, sessions per second",
    /* 32 SslRate */ "Connections accepted on TLS binds over the last second",
    /* 33 SslRateLimit */ "Limit on SslRate; always 0: there is no maxsslrate",
    /* 34 MaxSslRate */ "Highest SslRate since this process started, connections per second",
    /* 35 SslFrontendKeyRate */ "Full, not resumed, client TLS handshakes over the last second",
    /* 36 SslFrontendMaxKeyRate */ "Highest SslFrontendKeyRate since this process started, per second",
    /* 37 SslFrontendSessionReuse_pct */ "Percent of client TLS handshakes since start that resumed a session",
    /* 38 SslBackendKeyRate */ "Full, not resumed, TLS handshakes with servers over the last second",
    /* 39 SslBackendMaxKeyRate */ "Highest SslBackendKeyRate since this process started, per second",
    /* 40 SslCacheLookups */ "TLS session IDs looked up in the shards' session caches since start",
    /* 41 SslCacheMisses */ "TLS session ID lookups that found no session since start",
    /* 42 CompressBpsIn */ "Bytes per second fed to HTTP compression; always 0: edgeshard does not compress",
    /* 43 CompressBpsOut */ "Bytes per second out of HTTP compression; always 0: edgeshard does not compress",
    /* 44 CompressBpsRateLim */ "Limit on compression output, bytes per second; always 0: no compression",
    /* 45 ZlibMemUsage */ "Memory used by HTTP compression, bytes; edgeshard does not compress",
    /* 46 MaxZlibMemUsage */ "Memory cap for HTTP compression, bytes; edgeshard does not compress",
    /* 47 Tasks */ "Client connections plus servers' health and agent checks plus CLI connections",
    /* 48 Run_queue */ "Always 0: a shard has no run queue, it handles each completion in the turn it arrives",
    /* 49 Idle_pct */ "Percent of the last second the shard threads were idle, from their CPU clocks",
    /* 50 node */ "Node name: global node, by default the host name",
    /* 51 description */ "Node description: global description",
    /* 52 Stopping */ "1 while this process stops or drains after a reload, else 0",
    /* 53 Jobs */ "Listeners plus client connections plus CLI connections: what a soft stop waits for",
    /* 54 Unstoppable Jobs */ "Jobs a soft stop does not wait for; always 0",
    /* 55 Listeners */ "Listening sockets: each bind address and each stats socket",
    /* 56 ActivePeers */ "Active peers; always 0: stick tables are not replicated",
    /* 57 ConnectedPeers */ "Connected peers; always 0: stick tables are not replicated",
    /* 58 DroppedLogs */ "Access-log records dropped because a shard's log ring was full, since start",
    /* 59 BusyPolling */ "Always 0: the shards sleep in io_uring_enter, they never busy-poll",
    /* 60 FailedResolutions */ "Failed do-resolve actions: always 0 (that action is not supported)",
    /* 61 TotalBytesOut */ "Bytes sent to clients by all frontends since start",
    /* 62 TotalSplicdedBytesOut */ "Bytes moved by splice(2) either way, TCP flows and HTTP response bodies",
    /* 63 BytesOutRate */ "Bytes sent to clients over the last second",
    /* 64 DebugCommandsIssued */ "Expert-mode debug commands issued; always 0: edgeshard has none",
    /* 65 CumRecvLogs */ "Log messages received by log-forward listeners; always 0: none receive yet",
    /* 66 Build info */ "Version of this build",
    /* 67 Memmax_bytes */ "Memory cap in bytes; always 0: edgeshard sets no global memory limit",
    /* 68 PoolAlloc_bytes */ "Memory allocated in the shards' pools, bytes",
    /* 69 PoolUsed_bytes */ "Pool memory in use now, bytes",
    /* 70 Start_time_sec */ "Time this process started, seconds since the Unix epoch",
    /* 71 Tainted */ "Flags of unsafe or experimental features in use; always 0",
    /* 72 */ "",
    /* 73 MaxconnReached */ "Times a shard paused accepting at its share of the global maxconn, since start",
};

// edgeshard's own fields, from kInfoOwnBase, in rows.cpp info_fields' order (a new field goes at the end of
// both, so that its position here is the one `show info` prints).
constexpr std::array<std::string_view, 29> kInfoOwnDesc = {
    /* Shards */ "Shards: threads with their own io_uring, connections and counters",
    /* IoUringTier */ "io_uring tier found at start: full (splice, socket options) or basic (6.1 set)",
    /* TotalBytesIn */ "Bytes received from clients by all frontends since start",
    /* CqOverflow */ "Event-loop turns that found the io_uring completion queue overflowed",
    /* Enobufs */ "Multishot receives stopped because the shard's provided buffers ran out",
    /* ShortSends */ "Sends that completed partially and were resumed for the rest",
    /* SqFull */ "Times the submission queue was full and had to be submitted first",
    /* StaleCqes */ "Completions for objects already released, dropped",
    /* SpliceSwitches */ "TCP directions and HTTP response bodies switched to splice(2)",
    /* SpliceBytes */ "Bytes moved by splice(2), the count TotalSplicdedBytesOut shows too",
    /* CopyBytes */ "Bytes of mode tcp sessions received into provided buffers, the copy path",
    /* PipeMisses */ "Bulk flows that found no free pipe and stayed on the copy path",
    /* Loops */ "Event-loop turns of all shards",
    /* Wakeups */ "Times a sleeping shard was woken by its doorbell for a message from another thread",
    /* Generation */ "Reload generation of this process: 1 at first start, one more per reload",
    /* DrainSeconds */ "Seconds since this process began draining, after a reload or stop; -1 while serving",
    /* OldProcesses */ "Older generations still draining behind this process",
    /* SslHandshakes */ "Completed client TLS handshakes, full or resumed",
    /* SslResumed */ "Client TLS handshakes that resumed a session",
    /* SslHandshakeFailures */ "Client TLS handshakes that failed: bad hello, no common version or cipher",
    /* SslKtlsConns */ "Client TLS connections whose records the kernel took over (ktls on)",
    /* SslKtlsFallbacks */ "Connections on ktls on binds that kept user-space records",
    /* SslDirectSealConns */ "TLS connections whose records edgeshard seals itself (tune.es.ssl-direct-seal)",
    /* SslServerHandshakes */ "Completed TLS handshakes with servers, full or resumed",
    /* SslServerResumed */ "TLS handshakes with servers that resumed a session (ssl-reuse)",
    /* SslServerHandshakeFailures */ "TLS handshakes with servers that failed: verification, versions",
    /* ProxyHeaders */ "PROXY protocol headers received (accept-proxy, expect-proxy)",
    /* ProxyHeaderFailures */ "Connections closed for a missing, invalid or late PROXY protocol header",
    /* TlsTier */ "How TLS records are made: OpenSSL in user space, and whether kernel TLS is available",
};
// clang-format on

// A description is printed inside a quoted string (`typed desc`, JSON): a quote or a backslash would end or
// escape it, a control character would break the line. Checked at compile time so a new one cannot slip in.
constexpr bool quotable(std::string_view s) {
    for (const char c : s)
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
    return true;
}

// Every position has a description (but show info's 72): an initializer one short would leave the last empty.
template <std::size_t N>
constexpr bool all_valid(const std::array<std::string_view, N>& a, bool allow_empty_at_72) {
    for (std::size_t i = 0; i < N; ++i) {
        if (!quotable(a[i])) return false;
        if (a[i].empty() && !(allow_empty_at_72 && i == 72)) return false;
    }
    return true;
}

static_assert(all_valid(kStatDesc, false));
static_assert(all_valid(kInfoDesc, true));
static_assert(all_valid(kInfoOwnDesc, false));

}  // namespace

std::string_view stat_field_desc(std::size_t pos) {
    return pos < kStatDesc.size() ? kStatDesc[pos] : std::string_view{};
}

std::string_view info_field_desc(int pos) {
    if (pos >= 0 && pos < kInfoHaproxyCount) return kInfoDesc[std::size_t(pos)];
    if (pos >= kInfoOwnBase && std::size_t(pos - kInfoOwnBase) < kInfoOwnDesc.size())
        return kInfoOwnDesc[std::size_t(pos - kInfoOwnBase)];
    return {};
}

}  // namespace es::stats
