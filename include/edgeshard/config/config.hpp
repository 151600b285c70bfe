// The configuration snapshot: what the parser produces and every room reads.
// It is built once at boot (or per reload), validated, then shared read-only by all shards:
// nothing in here is ever written after the shards start. A change is a new snapshot.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "edgeshard/core/net.hpp"
#include "edgeshard/core/regex.hpp"
#include "edgeshard/tls/options.hpp"

namespace es::config {

// Durations are milliseconds; kUnset means "not configured" (the consumer applies its default).
using Millis = std::int64_t;
inline constexpr Millis kUnset = -1;

struct Location {
    std::string file;  // as given on the command line, or "<embedded>"
    int line = 0;
};

// A resolved socket address (IPv4 or IPv6, numeric only: no DNS at boot or on the data path).
struct SockAddr {
    sockaddr_storage ss{};
    socklen_t len = 0;
    std::string text() const;  // "127.0.0.1:80" or "[::1]:80"
    std::string host() const;  // "127.0.0.1" or "::1" (no port, no brackets); "" for another family
    int family() const { return ss.ss_family; }
    std::uint16_t port() const;
    void set_port(std::uint16_t port);  // no-op for a family other than IPv4/IPv6
};

enum class Mode { Tcp, Http };
enum class Balance { RoundRobin, LeastConn, Source, Uri, Hdr, Random, First };  // balance <algorithm>
enum class HashType { MapBased, Consistent };              // hash-type map-based|consistent
enum class HashFn : std::uint8_t { Sdbm, Djb2, Wt6, Crc32 };  // hash-type <method> <function> (sdbm by default)
enum class HttpReuse { Never, Safe, Aggressive, Always };  // http-reuse (HAProxy default: safe)

// ---- Stick tables (HAProxy 2.6 `stick-table`, configuration.txt 4.2 and 7.3.3) ----------------
// The data a table may store, in HAProxy's order (which is also the order `show table` prints).
enum class StickData : std::uint8_t {
    ServerId, Gpt0, Gpc0, Gpc0Rate, ConnCnt, ConnRate, ConnCur, SessCnt, SessRate, HttpReqCnt, HttpReqRate,
    HttpErrCnt, HttpErrRate, BytesInCnt, BytesInRate, BytesOutCnt, BytesOutRate, Gpc1, Gpc1Rate, ServerKey,
    HttpFailCnt, HttpFailRate,
    // the arrays (HAProxy 2.5+: `store gpt(N),gpc(N),gpc_rate(N,<period>)`), N elements each
    Gpt, Gpc, GpcRate, kCount
};
inline constexpr int kStickData = int(StickData::kCount);
// Whether a data type is a rate (a frequency counter over a period given in its store option).
inline constexpr bool stick_is_rate(StickData d) {
    return d == StickData::Gpc0Rate || d == StickData::ConnRate || d == StickData::SessRate ||
           d == StickData::HttpReqRate || d == StickData::HttpErrRate || d == StickData::BytesInRate ||
           d == StickData::BytesOutRate || d == StickData::Gpc1Rate || d == StickData::HttpFailRate ||
           d == StickData::GpcRate;
}
inline constexpr bool stick_is_array(StickData d) {
    return d == StickData::Gpt || d == StickData::Gpc || d == StickData::GpcRate;
}

// stick-table type ip|ipv6|integer|string [len N]|binary [len N] size N [expire T] [nopurge] [store ...]
// One per proxy that declares it, named after the proxy (a listen's is shared by its two halves).
struct StickTable {
    std::string name;
    enum class Type : std::uint8_t { Ip, Ipv6, Integer, String, Binary } type = Type::Ip;
    std::uint32_t key_len = 4;   // bytes: ip 4, ipv6 16, integer 4, string/binary `len` (32 by default)
    std::uint32_t size = 0;      // entries at most, per table
    Millis expire = 0;           // an entry untouched this long is removed (0: never)
    bool nopurge = false;        // full: new keys are not stored (instead of removing the oldest)
    std::uint32_t store = 0;     // bit (1 << StickData) per stored data type
    std::uint32_t period[kStickData] = {};  // a rate's period in ms
    std::uint8_t elems[kStickData] = {};    // an array's number of elements (gpt, gpc, gpc_rate: 1..100)
    Location where;
    bool stores(StickData d) const { return (store >> unsigned(d)) & 1u; }
    // elements of a stored datum: an array's size, 1 for the others, 0 when not stored
    unsigned count(StickData d) const { return !stores(d) ? 0u : stick_is_array(d) ? elems[int(d)] : 1u; }
};

// A sample fetched as a stick-table key (`track-sc0 <key>`, `stick on <key>`): the fetches that
// make sense as a client's identity, without converters.
struct SampleExpr {
    // Expr: any other sample expression (converters included), evaluated as a value's `%[...]` is and cast to
    // the table's key type as HAProxy's smp_to_stkey does
    enum class Fetch : std::uint8_t { Src, Dst, SrcPort, DstPort, Hdr, Path, Url, Base, SslFcSni, ReqSslSni, Expr } fetch =
        Fetch::Src;
    std::string arg;   // Hdr: the lower-case header name
    int occ = -1;      // Hdr: which occurrence (HAProxy's sample default: -1, the last)
    bool full = false; // req.fhdr: a whole header line (hdr and req.hdr split values at commas)
    std::string text;  // as written, for messages
};

// set-var(<scope>.<name>) <expr> / unset-var(<scope>.<name>): a variable, interned in Config::vars
// ("txn.name"); `sess` lives as long as the connection, `txn`, `req` and `res` as one exchange.
// The expression is a literal (`str(...)`, `int(...)`) or a sample as written in a log-format value.
struct VarSet {
    std::uint16_t id = 0;
    bool sess = false;
    bool literal = false;
    bool fmt = false;         // set-var-fmt: `expr` is a log-format string (an empty result still sets it)
    bool ifnotempty = false;  // set-var-fmt(<var>,ifnotempty): not set when the result is empty
    std::string expr;  // the literal's text, the sample expression (rules' sample()) or the format
};

// track-sc<N> <key> [table <t>] (tcp-request connection|content, http-request, http-response)
struct TrackSpec {
    std::uint8_t sc = 0;
    // sc-inc-gpc(<idx>,<sc>) / sc-set-gpt(<idx>,<sc>): the array element (`array`); the legacy gpc0 / gpc1 / gpt0
    // actions otherwise. sc-set-gpt*: `value_expr` is the value's sample expression (empty: the rule's integer)
    std::uint8_t idx = 0;
    bool array = false;
    std::string value_expr;
    int table = -1;          // index into Config::tables
    std::string table_name;  // as written (empty: the proxy's own table)
    SampleExpr key;
};

// ---- HTTP (mode http) -----------------------------------------------------------------------
// acl <name> <fetch>[(<arg>)] [-i] [-m str|beg|end|sub|found|ip] <pattern>...
// Fetches: path path_beg path_end path_sub path_dir url url_beg hdr(<name>) hdr_beg(<name>)
// hdr_end(<name>) hdr_sub(<name>) hdr_cnt? (no) method src always_true always_false
// http_auth(<userlist>) req.ver. "path_beg" is stored as fetch "path" + Match::Beg, "hdr_beg(x)" as
// fetch "hdr", arg "x", Match::Beg; an explicit -m overrides the suffix's match. Also parsed: url_end,
// url_sub, url_dir, hdr_dir, req.hdr(<name>) (= hdr), req_ver (= req.ver). Header names are lower-cased;
// req.ver patterns are "1.0"/"1.1" (no "HTTP/"); Ip patterns are normalized to "addr" or "addr/len".
struct Acl {
    std::string name;
    std::string fetch;  // "path", "url", "hdr", "method", "src", "always_true", "always_false", "http_auth",
                        // "req.ver"
    std::string arg;    // header name for hdr(), userlist for http_auth(), "<entry>,<occ>" for ssl_c_s_dn()
    std::string fetch_written;  // as written ("path_beg", "req.hdr", "METH_GET"): for checks and messages
    enum class Match : std::uint8_t { Str, Beg, End, Sub, Dir, Dom, Found, Ip, Bool, Int, Bin, Reg, Len } match = Match::Str;
    bool icase = false;                 // -i
    std::vector<std::string> patterns;  // for Ip: "10.0.0.0/8", "127.0.0.1", "::1/128"; for Bin: hex digits
    // Int and Len (the sample's length): each pattern as an inclusive range, parsed once ("1", "1:3", ":3", "gt 0", and for
    // req.ssl_ver the dotted "3.1" = 3 * 65536 + 1); `patterns` keeps the text for messages.
    struct IntRange {
        std::int64_t lo, hi;
    };
    std::vector<IntRange> ranges;
    // Reg: each pattern compiled (PCRE2, with -i caseless), in the order of `patterns`
    std::vector<core::Regex> regexes;
    // req.payload(<offset>,<length>): the window (length 0: from the offset to the end of what is held)
    std::uint32_t off = 0, len = 0;
    // sc_* / sc<N>_* / src_* fetches (fetch "stick"): the counter (-1: src_*, the client address
    // looked up), the table (-1: the tracked entry's own, or for src_* the proxy's), what is read
    std::int8_t stick_sc = -1;
    int stick_table = -1;
    enum class StickOp : std::uint8_t { Data, KBytes, Tracked, Trackers, IncGpc0, IncGpc1, ClrGpc0, ClrGpc1, IncGpc, ClrGpc } stick_op =
        StickOp::Data;
    StickData stick_data = StickData::ConnCnt;
    std::uint32_t stick_idx = 0;  // an array's element (sc_get_gpc(<idx>,<sc>), src_get_gpt(<idx>)...)
    Location where;
};

// "if|unless" <terms>: an OR ("or" / "||") of ANDs of ACL references, each possibly negated ("!").
// An anonymous ACL in braces ("{ path_beg /x }") is appended to the proxy's acls under a generated
// name. Several ACLs declared with the same name are OR-ed (HAProxy), so a term lists them all.
struct CondTerm {
    std::vector<int> acls;  // indexes into the owning proxy's `acls`
    bool negate = false;
};
struct Condition {
    bool present = false;  // false: unconditional
    bool unless = false;
    // a rule of a named defaults section: its names are the defaults' ACLs, which serve that section's
    // rules only (HAProxy 2.6); the proxy's own rules name its own
    bool defaults_scope = false;
    std::vector<std::vector<CondTerm>> any_of;  // OR over groups, AND inside a group
};

// A complete HTTP response as sent on the wire ("HTTP/1.1 503 Service Unavailable\r\n...\r\n\r\nbody").
// errorfile contents are used as is (HAProxy semantics: the file is a full response); built replies
// get Content-Length, Content-Type and Cache-Control: no-cache, and "Connection: close" is NOT in
// them: the proxy adds connection handling when it sends a reply.
struct Reply {
    int status = 0;
    std::string raw;
    Location where;
};

enum class HttpAction : std::uint8_t {
    Allow,   // stop evaluating rules
    Deny,    // deny [deny_status <code>] [content-type <t> string|file <x>]: the proxy's reply for the status
             // (403)
    Return,  // return status <code> [content-type <t>] [string <s>|file <f>|errorfile <f>|errorfiles <name>]
    Redirect,       // redirect location|prefix|scheme <str> [code 301|302|303|307|308] [drop-query]
    Auth,           // auth [realm <r>]: 401/407 (the condition usually is "unless { http_auth(list) }")
    SetHeader,      // set-header <name> <fmt>
    AddHeader,      // add-header <name> <fmt>
    DelHeader,      // del-header <name>
    ReplaceHeader,  // replace-header <name> <regex> <fmt>: each value of the header the regex finds a match in
                    // becomes <fmt> with \0..\9 expanded (`re`, `name`, `value`)
    UseService,     // use-service prometheus-exporter
    SetPath,        // set-path <fmt>
    SetVar,         // set-var(<scope>.<name>) <expr>
    UnsetVar,       // unset-var(<scope>.<name>)
    TrackSc,        // track-sc<N> <key> [table <t>]
    ScIncGpc,       // sc-inc-gpc0(<N>) / sc-inc-gpc1(<N>): `status` = 0|1, `track.sc` = N
    ScSetGpt0,      // sc-set-gpt0(<N>) <int>: `status` = the value
    Capture,        // capture <sample> len <n> | id <n>: `value` = the sample, `status` = the slot
    ReplaceValue,   // replace-value <name> <regex> <fmt>: the same per comma-separated element
    ReplacePath,    // replace-path <regex> <fmt>: the path (no query) when the regex matches it
    ReplacePathq,   // replace-pathq <regex> <fmt>: the path and its query
    ReplaceUri,     // replace-uri <regex> <fmt>: the whole target (Host follows an absolute one)
    SetQuery,       // set-query <fmt>
    SetUri,         // set-uri <fmt> (Host follows an absolute one)
    SetMethod,      // set-method <fmt> (the `method` fetch keeps the method received)
    SetPathq,       // set-pathq <fmt>: path and query
    SetStatus,      // set-status <code> [reason <str>]: `status`, the reason in `value` (empty: the code's)
    StrictMode,     // strict-mode on|off: `status` 1 for on (a failed rewrite then fails the rule set)
};

struct HttpRule {
    HttpAction action = HttpAction::Allow;
    int status = 0;             // deny/return status, redirect code (default 302)
    std::string name;           // header name; realm for auth; service name for use-service
    std::string value;          // header value (log-format string); redirect target; set-path value
    std::string redirect_kind;  // "location" | "prefix" | "scheme"
    bool drop_query = false;
    std::string content_type;
    bool has_reply = false;  // return/deny with its own body: `reply` holds the full response
    Reply reply;
    // return/deny whose body (lf-string, lf-file) or `hdr` values are log-format strings: built per request
    // (status, content_type, then these); has_reply is false
    bool lf_reply = false;
    bool lf_has_body = false;
    std::string lf_body;
    std::vector<std::pair<std::string, std::string>> lf_hdrs;  // name, log-format value
    bool monitor = false;    // made from monitor-uri / monitor fail: neither logged nor counted as denied
    TrackSpec track;         // TrackSc, ScIncGpc, ScSetGpt0
    VarSet var;              // SetVar, UnsetVar
    bool capture_check = false;  // Capture: a frontend's rule, its slot (`status`) checked at load
    core::Regex re;              // replace-header/-value/-path/-pathq/-uri (case-sensitive, compiled at load)
    Condition cond;
    Location where;
};

// tcp-request connection|content accept|reject [if|unless <cond>] (mode tcp frontends and listens).
// ExpectProxy: `tcp-request connection expect-proxy layer4`, the connection starts with a PROXY
// protocol header (not final: the rules after it still run)
// Close (tcp-response only): what the server sent so far reaches the client, then both sides close.
enum class TcpAction : std::uint8_t { Accept, Reject, ExpectProxy, TrackSc, ScIncGpc, ScSetGpt0, SetVar, UnsetVar, Close };
struct TcpRule {
    TcpAction action = TcpAction::Accept;
    TrackSpec track;  // TrackSc, ScIncGpc (gpc index in `value`), ScSetGpt0
    VarSet var;       // SetVar, UnsetVar
    int value = 0;
    Condition cond;
    Location where;
};

struct UseBackendRule {
    std::string backend;  // a name, or with `dynamic` a log-format string evaluated per request
    std::uint32_t backend_id = 0;
    bool dynamic = false;  // `use_backend %[...]`: the name is known per request (no such backend:
                           // the rules end and default_backend applies, as HAProxy's)
    Condition cond;  // unconditional when !cond.present
    Location where;
};

struct User {
    std::string name;
    std::string password;   // crypt(3) hash, or the plain text when `insecure`
    bool insecure = false;  // insecure-password
    std::vector<std::string> groups;
};
struct Userlist {
    std::string name;
    std::vector<User> users;
    std::vector<std::string> groups;
    Location where;
};

// resolvers <name>: the name servers a server's host name is resolved with at run time (HAProxy
// 2.6 semantics, doc/configuration.txt 5.3; run by the control shard: dns/resolver.hpp).
struct Nameserver {
    std::string name;
    SockAddr addr;  // UDP
    Location where;
};
struct Resolvers {
    std::string name;
    std::vector<Nameserver> nameservers;  // nameserver lines and parse-resolv-conf, in order
    int resolve_retries = 3;              // queries sent before giving up (a timeout costs one)
    int timeout_resolve_ms = 1000;        // between two resolutions of a name
    int timeout_retry_ms = 1000;          // before a query without a valid answer is sent again
    // hold <status>: how long a name keeps its servers after its last valid answer when the answers
    // are now in that status (then they go to maintenance); obsolete: how long an address missing
    // from the answers is still kept
    int hold_valid_ms = 10000, hold_nx_ms = 30000, hold_other_ms = 30000, hold_refused_ms = 30000,
        hold_timeout_ms = 30000, hold_obsolete_ms = 0;
    int accepted_payload_size = 512;  // announced with EDNS0 above 512; larger answers are dropped
    Location where;
};

// http-errors <name>: errorfile <code> <file> lines, used by "errorfiles <name> [code...]"
struct HttpErrors {
    std::string name;
    std::vector<Reply> replies;
    Location where;
};

// log <target> [len <n>] [format <f>] <facility> [<level> [<minlevel>]]
// Targets: stdout / fd@1, stderr / fd@2, "file@<path>" (edgeshard extension, appended), a UDP syslog
// server ("127.0.0.1:514", "udp@[::1]:514", "ipv4@10.0.0.1", port 514 when none is written) and a
// unix datagram socket ("/dev/log", "unix@/dev/log"). The parser refuses what is not sent (tcp@,
// ring@, abns@, other fd@, host names).
struct LogTarget {
    enum class Kind : std::uint8_t { Stdout, Stderr, File, Udp, Unix };
    Kind kind = Kind::Stdout;
    std::string target;  // as written: "stdout", "file@/var/log/es.log", "127.0.0.1:514", "/dev/log"...
    std::string path;    // File: the file; Unix: the socket path
    SockAddr addr;       // Udp: the syslog server
    std::string format;  // "raw" | "rfc3164" | "rfc5424" | "short" | "local" | "priority" | "timed" | "iso"
                         // (the parser writes "rfc3164" when none is given)
    std::string facility = "local0";
    Location where;
    int len = 0;            // "len <n>": maximum line length with its header, 80..65535 (0 = not given: 1024)
    std::string level;      // maximum level sent (emerg..debug); empty = every level
    std::string min_level;  // minimum level (more severe messages are capped to it); empty = none
};

// Shared by frontends and backends: the HTTP part of a proxy section.
struct HttpProxy {
    std::vector<Acl> acls;
    // http-request, http-response and http-after-response, in order. Each list starts with the rules
    // of the named defaults section the proxy uses (after the monitor-uri rules); `*_own` is the index
    // of the proxy's own first rule. As in HAProxy, the two run as one list (an `allow` among the
    // defaults' ends the proxy's own too) with strict-mode back on at the proxy's own first rule.
    std::vector<HttpRule> request_rules;
    std::vector<HttpRule> response_rules;
    std::vector<HttpRule> after_rules;
    std::size_t request_own = 0;
    std::size_t response_own = 0;
    std::size_t after_own = 0;
    std::vector<Reply> errors;  // effective error replies by status (errorfile, errorfiles, http-error)
    bool forwardfor = false;    // option forwardfor [header <name>] [except <net>] [if-none]
    std::string forwardfor_header = "X-Forwarded-For";
    bool forwardfor_if_none = false;
    std::string forwardfor_except;  // a network "127.0.0.0/8" or empty
    Location forwardfor_at;         // the line that set it (a defaults section's when inherited)
    bool http_keep_alive = true;    // false with option httpclose / http-server-close (server side)
    bool server_close = false;      // option http-server-close
    bool httpclose = false;         // option httpclose
    std::int64_t max_body = 0;      // tune.es.max-body / http-request body limit (0 = none) -> 413
};

// stats enable / stats uri <path> / stats refresh <t> / stats realm / stats auth user:pass (HTML+CSV page)
struct StatsPage {
    bool enabled = false;
    std::string uri = "/haproxy?stats";  // HAProxy's default
    Millis refresh = 0;
    Userlist users;  // `stats auth user:password` lines: the page's Basic credentials (passwords in clear)
    std::string realm;
    std::vector<std::string> scopes;  // stats scope: the proxies shown (empty: all; "." resolved to its own)
    bool hide_version = false;        // stats hide-version
    // `stats http-request allow|deny|auth [realm R] [if|unless COND]`: run before the page (and
    // before the `stats auth` check, which HAProxy refuses alongside them)
    std::vector<HttpRule> rules;
    // `stats admin if|unless COND` lines: the first that matches gives the admin level (the page's
    // forms and its POST actions); none: no admin level
    std::vector<Condition> admin;
    Location where;
};

struct Timeouts {
    Millis connect = kUnset;
    Millis client = kUnset;
    Millis server = kUnset;
    Millis tunnel = kUnset;
    Millis client_fin = kUnset;
    Millis server_fin = kUnset;
    Millis queue = kUnset;
    // Added by the config room. 0 in any field means "no timeout" (HAProxy semantics).
    Millis check = kUnset;            // timeout check: read timeout of a health check (check room)
    Millis http_request = kUnset;     // timeout http-request (HTTP room)
    Millis http_keep_alive = kUnset;  // timeout http-keep-alive (HTTP room)
};

// `bind ... ssl ...`: TLS termination. The options as written; crt-base and the global
// ssl-default-bind-* settings are applied when the configuration is complete (finalize).
struct BindTlsOptions {
    tls::BindOptions o;
    struct CrtList {
        std::string path;           // as written (HAProxy does not apply crt-base to the list itself)
        std::size_t after_crt = 0;  // how many `crt` came before it on the line
    };
    std::vector<CrtList> crt_lists;  // read when the configuration is complete (crt-base, ca-base known)
    bool min_set = false, max_set = false, no_set = false;  // the version range was given on the bind
    std::string dir;  // relative file names are read from here (`default-path` at the line; "": cwd)
    Location where;
};

struct Bind {
    SockAddr addr;     // with `fd`: the descriptor's own address (getsockname at load)
    std::string spec;  // the address as written, for messages and the listener handoff
    Location where;
    // bind fd@N: the listening TCP socket this process was given as descriptor N (systemd socket activation, a
    // test harness); every shard accepts on a duplicate of it (one socket: no reuseport group, no steering)
    int fd = -1;
    int backlog = 0;      // listen(2) backlog ("backlog" on the bind or the frontend); 0 = the net room's default
    bool v6only = false;  // "v6only": an IPv6 wildcard bind accepts IPv6 only (IPV6_V6ONLY=1)
    bool v4v6 = false;    // "v4v6": an IPv6 wildcard bind also accepts IPv4 (IPV6_V6ONLY=0)
    bool accept_proxy = false;  // "accept-proxy": every connection starts with a PROXY protocol header
    std::shared_ptr<const BindTlsOptions> tls;  // `ssl`: TLS termination (shared by the addresses of one line)
};

// `server ... ssl ...`: TLS to the server. The options as written on the server line (or its
// default-server); global ssl-server-verify / ssl-default-server-* and ca-base are applied when the
// configuration is complete.
struct ServerTlsOptions {
    tls::ServerOptions o;
    // `sni <expr>`: the server name sent, from a sample expression (HAProxy's). Supported: str(NAME),
    // req.hdr(NAME) / hdr(NAME) (the request's header as sent to the server, port removed: an SNI
    // carries no port), ssl_fc_sni (the client's own SNI).
    enum class Sni : std::uint8_t { None, Str, Hdr, FcSni } sni = Sni::None;
    std::string sni_arg;
    bool verify_set = false, min_set = false, max_set = false, no_set = false;
    bool ciphers_set = false, suites_set = false, tickets_set = false;
    std::string dir;  // relative file names are read from here (`default-path` at the line; "": cwd)
    Location where;
};

// `server ... check` and its timing words (HAProxy's defaults). The checks run on the control shard
// (src/check/); the backend says what a check is (BackendCheck).
struct ServerCheck {
    bool enabled = false;  // check (no-check clears it)
    Millis inter = 2000;   // between two checks while the server is fully UP or fully DOWN
    Millis fastinter = 0;  // while it is changing state (0: inter)
    Millis downinter = 0;  // while it is DOWN (0: inter)
    int rise = 2;          // consecutive successes to go UP
    int fall = 3;          // consecutive failures to go DOWN
    int port = 0;          // port: checks go to this port (0: the server's)
    std::optional<SockAddr> addr;  // addr: checks go to this address (the port as above)
    int ssl = -1;          // check-ssl 1, no-check-ssl 0; -1: as the server (`ssl`) unless `port` or `addr` is set
    Millis slowstart = 0;  // slowstart: the weight ramps from 0 to 100% over this time after the server comes UP
    bool shutdown_on_down = false;        // on-marked-down shutdown-sessions: its sessions are cut when it goes DOWN
    bool shutdown_backup_on_up = false;   // on-marked-up shutdown-backup-sessions: the backups' sessions are cut when it comes UP
    std::string sni;       // check-sni: the server name the checks send
    bool send_proxy = false;  // check-send-proxy: a PROXY protocol v1 line opens each check connection
    // agent-check: a second probe reads a line from the server's agent (HAProxy's words: a weight
    // "75%", "drain", "maint", "ready", "up", "down"...); agent-port is required
    bool agent = false;
    int agent_port = 0;
    Millis agent_inter = 2000;     // agent-inter
    std::string agent_send;        // agent-send: sent on each agent connection
    std::optional<SockAddr> agent_addr;  // agent-addr (the port is agent-port)
    // observe layer4|layer7: the shards count the server's consecutive errors; at error-limit the
    // on-error action applies (HAProxy 2.6)
    enum class Observe : std::uint8_t { None, Layer4, Layer7 } observe = Observe::None;
    int error_limit = 10;
    enum class OnError : std::uint8_t { FastInter, FailCheck, SuddenDeath, MarkDown } on_error = OnError::FailCheck;
};

struct Server {
    std::string name;
    std::uint32_t id = 0;  // index inside its backend
    SockAddr addr;
    std::string hostname;  // the host name written (resolved at load: `init-addr`); empty for an address
    // written without a port (`10.0.0.2`) or with an offset (`10.0.0.2:+1`, `:-1`): connections go to
    // the port the client connected to (a PROXY header's destination port), plus port_offset; addr's
    // port is 0
    bool port_map = false;
    int port_offset = 0;
    bool unresolved = false;  // no address (init-addr none, -dr): in maintenance for good ("MAINT (resolution)")
    int weight = 1;   // 0..256 as in HAProxy; 0 = takes no new traffic from the LB
    int maxconn = 0;  // 0 = unlimited
    bool disabled = false;
    bool backup = false;  // backup: takes traffic only when no active server is up (option allbackups)
    // send-proxy (1) / send-proxy-v2 (2): a PROXY protocol header opens each connection to the server,
    // with the v2 TLVs of `proxy-v2-options` (net::pp::V2Opt bits)
    std::uint8_t send_proxy = 0;
    std::uint16_t pp_opts = 0;
    std::string cookie;  // `cookie VALUE`: the persistence cookie's value for this server (empty: none)
    std::uint32_t puid = 0;  // HAProxy's server id: `id N` as written, else its position in the backend from 1 (an
                             // id written on another takes the next free one): `balance first`, stick tables, sid
    // `resolvers R`: the host name is resolved again at run time (index into Config::resolvers, -1:
    // never), preferring `resolve-prefer` (AF_INET6 by default, as HAProxy) and the `resolve-net`
    // networks; two servers of a backend on the same name take different addresses unless
    // `resolve-opts allow-dup-ip`
    int resolvers = -1;
    bool srv_label = false;  // `hostname` is a DNS SRV label ("_http._tcp.name"): the SRV records give
                             // the target and port, the target's records the address
    bool ignore_weight = false;  // resolve-opts ignore-weight: SRV weights are not applied
    int resolve_family = AF_INET6;
    bool allow_dup_ip = false;
    std::vector<std::pair<SockAddr, int>> resolve_net;  // network address, prefix length
    ServerCheck check;
    std::shared_ptr<const ServerTlsOptions> tls;  // null: the server is reached in clear
    Location where;
};

// What a backend's health check is: a TCP connect (the default), or `option httpchk` with its
// `http-check send` and `http-check expect` lines (HAProxy 2.6 semantics).
enum class CheckKind : std::uint8_t { Tcp, Http, TcpCheck };
// One step of a `tcp-check` ruleset (`option tcp-check` and its lines, or a built-in ruleset:
// `option redis-check`, `option smtpchk`).
struct TcpCheckStep {
    enum class Kind : std::uint8_t { Connect, Send, Expect };
    enum class Match : std::uint8_t { String, RString, Binary, RBinary };
    // The protocol checks whose answers a pattern cannot judge (HAProxy's "custom" expects): a
    // MySQL handshake packet, the MySQL packet that follows it, an LDAPv3 bindResponse.
    enum class Custom : std::uint8_t { None, MysqlHello, MysqlOk, LdapBind };
    Kind kind = Kind::Send;
    int port = 0;          // connect port <p> (0: the server's, or its check `port`)
    bool ssl = false;      // connect ssl
    bool send_proxy = false;  // connect send-proxy: a PROXY protocol v1 line first
    std::string data;      // send / send-binary: the bytes
    int time_at = -1;      // send: the current time (seconds, 4 bytes big-endian) at this offset (ssl-hello-chk)
    Custom custom = Custom::None;
    Match match = Match::String;
    bool negate = false;
    std::string pattern;   // expect: bytes (string, binary) or a POSIX extended regex (rbinary: on the hex dump)
    int min_recv = -1;     // expect min-recv
    std::uint8_t error_status = 0;  // 0: L7RSP; else a check::Status value (error-status L7STS, L4CON, L6RSP...)
    std::uint8_t ok_status = 0;     // ok-status: the result when the ruleset ends on this rule (0: L7OK)
    std::uint8_t tout_status = 0;   // tout-status: the result of a timeout at this rule (0: L7TOUT)
    int error_payload = -1;         // the info of a failure is the response from this offset (pgsql-check)
    std::string on_success, on_error;  // the info text of the result (plain text)
    bool info_first_line = false;      // built-in rulesets: the info is the response's first line
    bool status_from_reply = false;    // smtpchk: the code is the reply's first three digits
    std::string comment;
};
struct CheckExpect {
    enum class Kind : std::uint8_t { Default, Status, RStatus, String, RString };
    Kind kind = Kind::Default;  // Default: a 2xx or 3xx status passes
    bool negate = false;        // `expect !...`
    std::string pattern;        // the status list, string or regex as written
    std::vector<std::pair<int, int>> statuses;  // Status: ranges from "200,301-302"
};
struct BackendCheck {
    CheckKind kind = CheckKind::Tcp;
    std::string method = "OPTIONS";  // option httpchk [<method>] <uri> [<version>]; http-check send meth|uri|ver
    std::string uri = "/";
    std::string version = "HTTP/1.0";
    std::vector<std::pair<std::string, std::string>> headers;  // http-check send hdr, or after "\r\n" in <version>
    std::string body;                                          // http-check send body
    std::vector<CheckExpect> expects;  // http-check expect lines: all must pass (none: 2xx or 3xx)
    std::vector<TcpCheckStep> steps;   // kind TcpCheck: the ruleset (an implicit connect first unless it starts with one)
    std::vector<TcpCheckStep> builtin; // option redis-check / smtpchk: the ruleset they stand for
    bool disable_on_404 = false;     // http-check disable-on-404: a 404 puts an UP server in NOLB
    bool log_health_checks = false;  // option log-health-checks
    Location where;                  // the option httpchk line (for errors)
};

// balance <algorithm> [<arguments>] and hash-type, parsed once by the configuration: the balancer reads
// these fields as they are (it never parses text and has nothing to refuse). Only the fields of `algo`
// are meaningful; the others keep their defaults.
struct BalanceSpec {
    Balance algo = Balance::RoundRobin;
    HashType hash_type = HashType::MapBased;  // source, uri and hdr
    HashFn hash_fn = HashFn::Sdbm;            // uri and hdr keys (source xors the address's words, as HAProxy's)
    bool hash_avalanche = false;              // hash-type ... avalanche: HAProxy's full_hash after the function
    // tune.es.lb-hash own: edgeshard's own map, ring and hash instead of HAProxy's (finer balance, points
    // that follow server names); the default keeps HAProxy's, so both send a key to the same server
    bool own_hash = false;
    // balance uri [whole] [len <n>] [depth <n>] [path-only]
    std::uint32_t uri_len = 0;    // 1..2147483647; 0 = no limit
    std::uint32_t uri_depth = 0;  // 1..2147483647; 0 = no limit
    bool uri_whole = false;       // keep the query string
    bool uri_path_only = false;   // an absolute-form target hashes its path only
    // balance hdr(<name>): an RFC 9110 token, as written (matched case-insensitively)
    std::string hdr_name;
    bool hdr_domain_only = false;  // use_domain_only: only when written inside the parentheses (see README)
    int random_draws = 2;          // balance random(<draws>): 1..100
    // Algorithms that hash a key (source, uri, hdr): at most kMaxHashedServers servers.
    bool hashed() const { return algo == Balance::Source || algo == Balance::Uri || algo == Balance::Hdr; }
};
// The balancer keeps server indexes of hashing algorithms in 16 bits; the configuration refuses more.
inline constexpr std::size_t kMaxHashedServers = 65535;

// `cookie NAME insert|rewrite|prefix [indirect] [nocache] [postonly] [preserve] [httponly] [secure]
// [domain D]...`: HAProxy's cookie persistence (a request carrying a server's `cookie` value goes to
// that server while it is up). Mode None: no persistence cookie; Passive (no mode written): the
// application sets the cookie to the server's value itself, requests are only read.
struct CookieSpec {
    enum class Mode : std::uint8_t { None, Passive, Insert, Rewrite, Prefix } mode = Mode::None;
    std::string name;
    bool indirect = false, nocache = false, postonly = false, preserve = false, httponly = false, secure = false;
    std::vector<std::string> domains;
    Location where;
};

// stick on|match|store-request <key> [table <t>] [if|unless <cond>]: a backend's persistence on a
// stick table (the server's id is stored under the key; a request whose key is known goes to it)
struct StickRule {
    enum class Kind : std::uint8_t { On, Match, StoreRequest, StoreResponse } kind = Kind::On;
    SampleExpr key;
    int table = -1;
    std::string table_name;  // as written (empty: the backend's own table)
    Condition cond;  // over the backend's ACLs
    Location where;
};

struct Backend {
    std::string name;
    std::uint32_t id = 0;  // index in Config::backends
    std::uint32_t uuid = 0;  // HAProxy's proxy id (`id N`, else assigned as HAProxy does: assign_proxy_ids)
    Mode mode = Mode::Tcp;
    BalanceSpec balance;
    // `stats ...` in a backend: the page is served to the requests routed here whose path starts
    // with its uri (after the backend's http-request rules, as HAProxy); a listen's page is its
    // frontend's
    StatsPage stats;
    Timeouts timeouts;
    int retries = 3;             // HAProxy default
    bool redispatch = false;     // option redispatch
    int redispatch_interval = -1;  // HAProxy semantics: -1 = on the last retry, P>0 = every Pth retry
    std::vector<Server> servers;
    bool allbackups = false;  // option allbackups: every backup server takes traffic, not the first
    CookieSpec cookie;
    int table = -1;                       // its own stick-table (index into Config::tables), -1: none
    std::vector<StickRule> stick_rules;   // in order: the first matching `match` decides the server
    bool stores_response = false;         // one of them is `stick store-response`
    bool persist = false;     // option persist: a cookie sends to its server even when it is DOWN
    BackendCheck check;
    // `log` lines of the backend (or `log global`): where its servers' state changes go (HAProxy
    // sends "Server be/s is DOWN..." to the backend's loggers); log-tag as a frontend's
    std::vector<LogTarget> logs;
    std::string log_tag;
    Location where;
    // HTTP
    HttpReuse http_reuse = HttpReuse::Safe;
    // retry-on: default "conn-failure"; also empty-response, junk-response, response-timeout,
    // 0rtt-rejected, 404, 408, 425, 500, 501, 502, 503, 504, all-retryable-errors, none (alone).
    // Stored as the tokens written.
    std::vector<std::string> retry_on = {"conn-failure"};
    HttpProxy http;
    // tcp-request content rules of a backend (its defaults' first): they run once the backend is
    // chosen, after the frontend's (mode http: before the backend's http-request rules; mode tcp:
    // on the client's held bytes, waiting up to the backend's inspect-delay). ACLs in http.acls.
    Millis inspect_delay = kUnset;
    std::vector<TcpRule> tcp_content_rules;
    // tcp-response content rules (its defaults' first): on the server's first bytes, held from the client until
    // they decide (mode tcp; `rsp_inspect_delay` bounds the wait, none: one evaluation when the server is
    // connected), on each response head in mode http. ACLs in http.acls.
    Millis rsp_inspect_delay = kUnset;
    std::vector<TcpRule> tcp_rsp_rules;
};

struct UseBackend {
    std::string backend;
    std::uint32_t backend_id = 0;
    Location where;
};

// One capture slot of a frontend (`capture request|response header <name> len <n>`, `declare
// capture request|response len <n>`, `http-request capture <sample> len <n>`): numbered per
// direction in declaration order, as HAProxy's.
struct CaptureSlot {
    std::string header;  // lower case; empty: filled by capture rules only
    int len = 0;
};

struct Frontend {
    std::string name;
    std::uint32_t id = 0;  // index in Config::frontends
    std::uint32_t uuid = 0;  // HAProxy's proxy id (a listen's halves share it: assign_proxy_ids)
    Mode mode = Mode::Tcp;
    std::vector<Bind> binds;
    int maxconn = 0;  // 0 = only the global limit applies
    Timeouts timeouts;
    std::vector<CaptureSlot> req_caps, rsp_caps;  // the access log's %hr %hs (HAProxy's captures)
    std::string cookie_capture;  // `capture cookie <prefix> len <n>` (%CC %CS); empty: none
    // unique-id-format: the log-format each request's id is built from (empty: no id); unique-id-header:
    // the request header that carries it to the server (empty: none)
    std::string unique_id_format;
    std::string unique_id_header;
    int cookie_capture_len = 0;
    Location cookie_capture_at;
    std::string default_backend;
    int default_backend_id = -1;  // -1 = none (connections are closed)
    Location default_backend_where;  // the line that named default_backend (may be in a defaults section)
    std::vector<UseBackend> use_backends;  // plain (unconditional) use_backend: the first one wins
    Location where;
    // mode tcp: tcp-request rules (ACLs in http.acls). `tcp_conn_rules` run at accept, before any byte;
    // `tcp_content_rules` on the client's first bytes, held until they decide (or `inspect_delay`
    // passes: kUnset or 0 = evaluated once on what is there). `tcp_inspect`: the session holds the
    // client's bytes before choosing a backend (content rules or an inspect-delay); `tcp_route_cond`: a
    // use_backend has a condition (evaluated when the backend is chosen). Set when the section ends.
    Millis inspect_delay = kUnset;
    std::vector<TcpRule> tcp_conn_rules;
    std::vector<TcpRule> tcp_content_rules;
    // `tcp-request session`: once per connection, after the PROXY header and the TLS handshake
    // (mode tcp) or before the first request (mode http), before any content rule; what they track
    // lasts the connection
    std::vector<TcpRule> tcp_sess_rules;
    bool tcp_inspect = false;
    bool tcp_route_cond = false;
    // declared `mode tcp` and served as mode http, its only backend being mode http (HAProxy's upgrade of the
    // connection to HTTP; config/validate.cpp upgrade_to_http): `mode` says Http, the stats say tcp
    bool tcp_to_http = false;
    // declared `mode tcp`, some of its content rules or use_backend conditions pick a mode http backend: such a
    // connection goes from the L4 session to the HTTP proxy once chosen (proxy/tcp_session.cpp upgrade)
    bool tcp_upgrades = false;
    int table = -1;  // its own stick-table (index into Config::tables), -1: none
    // some rule tracks the client's address (track-sc* src): the listeners steer each client address
    // to one shard so that its entries are counted in one place (net/listener.cpp)
    bool tracks_src = false;
    // HTTP
    std::vector<UseBackendRule> use_backend_rules;  // every use_backend, conditional or not, in order
    HttpProxy http;
    StatsPage stats;
    // access log: option httplog / option tcplog / log-format <fmt>, resolved to one format string
    // (empty = no access log); `log global` copies the global targets; dontlognull etc. as flags
    std::string log_format;
    Location log_format_where;  // the line that wrote it (a defaults section's, when inherited)
    std::vector<LogTarget> logs;
    std::string log_tag;  // log-tag in the proxy: the syslog tag of its lines (empty = the global one)
    // monitor-uri <uri>: a request for exactly this URI is answered by the proxy itself (200 "Service
    // ready", or 503 when `monitor fail` says so), before any http-request rule; empty: none
    std::string monitor_uri;
    Location monitor_at;
    bool dontlognull = false;
    // A listen section: the id of its own backend half. That half carries the same ACLs and http-request/
    // http-response rules as this frontend (a listen is one proxy): when this frontend routes to it, its
    // rules must run once, not twice. -1 for a plain frontend.
    int own_backend_id = -1;
};

enum class StatsLevel { User, Operator, Admin };

struct StatsSocket {
    std::string path;  // "" for fd@N
    int fd = -1;       // fd@N: a listening unix stream socket the process was given (systemd socket activation)
    unsigned mode = 0600;
    bool level_admin = false;                   // kept equal to (level == StatsLevel::Admin)
    StatsLevel level = StatsLevel::Operator;    // HAProxy's default level is "operator"
    bool expose_fd_listeners = false;
    Location where;
};

// One entry per shard, in the order written; a later entry for the same shard replaces the earlier one
// (the parser already did that). Entries for shards beyond the shard count are to be ignored, as HAProxy
// ignores thread ids above nbthread ("cpu-map 1/all ..." expands to threads 1..64).
// cpus is a set: with several CPUs the shard may run on any of them (HAProxy "cpu-map 1/1-4 0-3" gives
// each of threads 1-4 the whole set 0-3; "auto:" and the bare "cpu-map 1-4 0-3" form map one-to-one).
struct CpuMap {
    int shard = 0;  // 0-based shard index ("cpu-map 1 3" maps thread 1 = shard 0 to CPU 3)
    std::vector<int> cpus;  // sorted, unique
    Location where;
};

struct Global {
    std::string crt_base;          // crt-base: where relative `crt` paths are
    std::string ca_base;           // ca-base: where relative `ca-file` / `crl-file` paths are
    tls::BindOptions ssl_bind;     // ssl-default-bind-ciphers / -ciphersuites / -curves / -options
    bool ssl_bind_versions = false;  // ssl-default-bind-options set a version range
    int ssl_cachesize = 20000;       // tune.ssl.cachesize: sessions kept for resumption by ID, all shards together
    int ssl_lifetime_s = 300;        // tune.ssl.lifetime: how long a session (or ticket) resumes
    bool ssl_direct_seal = true;     // tune.es.ssl-direct-seal: records sealed from the data path's bytes
    int ssl_dh_bits = 0;             // tune.ssl.default-dh-param; 0: OpenSSL picks by the key's size
    tls::ServerOptions ssl_server;   // ssl-server-verify, ssl-default-server-ciphers / -ciphersuites / -options
    bool ssl_server_versions = false;  // ssl-default-server-options set a version range
    int spread_checks = 0;  // spread-checks: +/- this percent of random on every check interval (0..50)
    int max_spread_checks = -1;  // max-spread-checks (ms): the first checks spread over at most this (-1: inter)
    int maxconn = 0;   // 0 = derived from RLIMIT_NOFILE at boot
    int nbthread = 0;  // 0 = one shard per CPU the process may run on
    std::vector<CpuMap> cpu_maps;
    std::vector<StatsSocket> stats_sockets;
    Millis stats_timeout = 10000;
    bool master_worker = false;          // master-worker: as -W (src/control/master.cpp)
    bool master_exit_on_failure = true;  // master-worker no-exit-on-failure clears it
    std::string pidfile;                 // pidfile: as -p (-p wins)
    // tune.es.watchdog-warn / -panic: a data shard that has run one loop turn this long without coming back is
    // reported (a warning with its state), then the process dumps every shard's state and aborts; 0: off
    Millis watchdog_warn_ms = 1000;
    Millis watchdog_panic_ms = 10000;
    std::string node;         // node: the name `show info` and the stats page give (empty: the host name)
    std::string description;  // description: the words after it, joined by spaces (show info, the stats page)
    // edgeshard tuning extensions (HAProxy has no equivalent; names are ours)
    int ring_entries = 1024;         // tune.es.ring-entries: SQ size per shard ring (CQ = 4x)
    int bufsize = 16384;             // tune.bufsize: one provided buffer
    int buffers_per_shard = 4096;    // tune.es.buffers: provided buffers per shard (power of two)
    int maxpipes = 0;                // maxpipes: 0 = maxconn / 4 (HAProxy default)
    int pipesize = 0;                // tune.pipesize: 0 = kernel default
    std::int64_t splice_threshold = 256 * 1024;  // tune.es.splice-after: bytes before a direction may splice
    bool splice = true;              // "nosplice" in global turns splicing off
    // tune.es.steer-clients on|off: frontends that track clients by address in stick tables send
    // each client address to one shard (exact per-client counts; one address's load on one core)
    bool steer_clients = true;
    // tune.es.lb-hash haproxy|own: hashing balancers pick as HAProxy 2.6 does (the default) or with edgeshard's
    // own map and ring (BalanceSpec::own_hash)
    bool lb_hash_own = false;
    std::string demo_origin;         // es.demo-origin ADDR:PORT: run the built-in demo origin there
    std::vector<LogTarget> logs;  // global "log" lines (used by "log global")
    std::string log_tag;          // log-tag: the syslog tag (empty = "edgeshard", the program name)
    bool log_send_hostname = false;  // log-send-hostname [<name>]: put a hostname in syslog headers
    std::string log_hostname;        // its <name>; empty = the system's host name
    int log_ring_size = 1 << 20;  // tune.es.log-ring: bytes of each shard's access-log ring
    int maxhdr = 101;             // tune.http.maxhdr
    int max_request_line = 8192;  // tune.es.max-request-line (414 beyond)
    // tune.es.max-body: request body limit, copied into every HttpProxy::max_body (0 = none)
    std::int64_t max_body = 0;
    // reload and soft stop
    Millis hard_stop_after = 0;      // hard-stop-after: a draining process ends its connections after this (0 = never)
    Millis close_spread_time = 0;    // close-spread-time: idle connections of a draining process close over this window
    Millis drain_idle_after = 2000;  // es.drain-idle-after: a draining keep-alive connection quiet this long is closed
    int max_reloads = 50;            // mworker-max-reloads: an old process that survived this many reloads is stopped
    Location where;
};

// A map file the `map*` converters read (HAProxy's two-column pattern file), read once at load,
// with the indexes its converters use (src/config/maps.cpp).
enum class MapMatch : std::uint8_t { Str, Beg, Sub, Dir, Dom, End, Reg, Regm, Ip };
struct MapFile {
    std::string path;                                          // as written in the configuration
    std::vector<std::pair<std::string, std::string>> entries;  // key, value; in file order
    std::vector<std::uint32_t> lines;                          // each entry's line in the file
    struct KeyHash {  // looked up with the request's string_view, no copy
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::uint32_t, KeyHash, std::equal_to<>> exact;  // map / map_str: key -> first entry
    std::vector<core::Regex> regs;                             // map_reg / map_regm: per entry
    std::vector<core::Net> nets;                               // map_ip: per entry, parsed
    // what its converters need built (index_map); int_values: a `_int` converter reads the values
    bool want_exact = false, want_regs = false, want_nets = false, int_values = false;
    // each entry's id, what `show map` prints and `del map #<id>` names (stable while the entry lives)
    std::vector<std::uint64_t> ids;
    std::vector<MapMatch> matches;  // the match types its converters use, in first-use order (`get map`)
};
// Builds the indexes `m` wants (after loading, or after a change on the CLI): "" or what is wrong
// (a key that is no valid regex or address, a value that is not an integer), naming the entry.
std::string index_map(MapFile& m);
// "map_<match>[_<out>](<file>[,<default>])" (`map` is `map_str`; out: `str` or `int`): false when
// `conv` is not a map converter's name with its arguments.
bool parse_map_converter(std::string_view conv, MapMatch& match, bool& int_out, std::string_view& file,
                         std::string_view& def, bool& has_def);

// A `regsub(<regex>,<subst>[,<flags>])` converter's regex, compiled at load (flag `i`: caseless), found by
// the converter's argument text as written (from after "regsub(" to its ')').
struct Regsub {
    std::string args;
    core::Regex re;
    bool global = false;  // flag `g`: every match, not only the first
};

// Where the item of a sample expression that starts at `from` ends: the next `stop` (',' between the fetch
// and each converter, ']' closing a log-format's %[...]) outside argument lists and their quotes, or the
// size. HAProxy reads argument lists with quotes (make_arg_list), so `regsub(",",;)` is one converter.
std::size_t sample_item_end(std::string_view s, std::size_t from, char stop);

// A converter's argument list as HAProxy's make_arg_list reads it (`in`: the text after the '('): split at
// ',' and ended by ')' outside quotes, quotes removed, \\ \<space> \" \' \r \n \t unescaped, into a fixed
// buffer (nothing allocated: the rules read it per request). `end[k]`: where argument k ends in `in`.
struct ConvArgs {
    static constexpr int kMax = 4;  // one more than any converter takes: an extra one is seen
    std::string_view v[kMax];
    std::size_t end[kMax] = {};
    int n = 0;
    bool closed = false;  // a ')' ended the list
    char buf[512];
};
// The number of arguments read (at most kMax), -1 when they do not fit in the buffer.
int read_conv_args(std::string_view in, ConvArgs& a);
// A stick-table data type's name as the configuration and `show table` write it ("http_req_rate", "gpc"), and
// back (-1: none of them).
std::string_view stick_data_name(StickData d);
int stick_data_type(std::string_view name);
// A stick-table fetch (sc_*, sc<N>_*, src_*, with the arrays' index forms) read into `acl`'s stick fields, its
// table's name in `acl.arg`: nullopt when the name is not one, "" when read, else why not (config/stick.cpp).
std::optional<std::string> stick_fetch_spec(const std::string& fname, const std::string& arg, Acl& acl);
// The table_* converters (HAProxy 2.6, configuration.txt 7.3.1): what each reads of the entry its input names;
// `indexed`: an array element's index comes first (table_gpc(<idx>[,<table>])). Null: not one.
struct TableConv {
    std::string_view name;
    Acl::StickOp op;
    StickData d;
    bool indexed;
};
const TableConv* table_conv(std::string_view name);

struct Config {
    Global global;
    std::vector<Regsub> regsubs;  // the regsub converters of every sample expression
    std::vector<Userlist> userlists;
    std::vector<Resolvers> resolvers;
    std::vector<HttpErrors> http_errors;
    std::vector<StickTable> tables;
    std::vector<std::shared_ptr<MapFile>> maps;  // read by the `map*` converters
    std::vector<std::string> vars;  // variables set anywhere, "scope.name" (VarSet::id indexes it)
    std::vector<Frontend> frontends;
    std::vector<Backend> backends;
    // The proxy sections in their order (a frontend without bind too, which HAProxy numbers): the `id` written
    // (0: none), the frontend and backend they made (-1: none). assign_proxy_ids reads it.
    struct ProxySlot {
        std::uint32_t written_id = 0;
        int fe = -1, be = -1;
    };
    std::vector<ProxySlot> proxy_slots;
    std::vector<std::string> files;   // the files it was read from, in order
    std::vector<std::string> warnings;  // "file:line: keyword 'x' is accepted and ignored: why"
    std::vector<std::string> notices;   // .notice / .diag: "[NOTICE] parsing [file:line]: 'message'."

    const Backend* find_backend(const std::string& name) const;
    const Regsub* find_regsub(std::string_view args) const {
        for (const Regsub& r : regsubs)
            if (r.args == args) return &r;
        return nullptr;
    }
    const Frontend* find_frontend(const std::string& name) const;
    const Userlist* find_userlist(const std::string& name) const;
};

// HAProxy's proxy ids (`iid` in the stats, `show servers state`...): the CLI's own proxy first when there is a
// stats socket (HAProxy's GLOBAL), then each proxy in its order, those without `id N` numbered by their place
// (the next free number: an id written elsewhere is skipped). Run again when a stats socket is added later.
void assign_proxy_ids(Config& cfg);
// HAProxy's server ids of a backend, by position: `id N` as written, else the position from 1 or the next free
// number after it (cfgparse's next_id, bumped for every server). The parser stores them in Server::puid.
std::vector<std::uint32_t> server_ids(const Backend& b);

}  // namespace es::config
