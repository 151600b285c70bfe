// HTTP rules at request time: ACL evaluation, use_backend selection, http-request/http-response
// actions, header edits, replies (errorfile / http-errors / http-error / return / deny / redirect),
// basic auth against userlists, url_decode. Pure: no I/O, no allocation on the request path (a
// caller-provided arena holds what is built), read-only access to the config snapshot.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/http/parser.hpp"
#include "edgeshard/pool/pool.hpp"
#include "edgeshard/stick/table.hpp"

namespace es::rules {

// Bytes built while a request is processed (added headers, a redirect reply, an auth reply).
// Fixed capacity. When a rule's output does not fit, `overflow` is set and the rules answer the
// proxy's 500 reply (HAProxy's strict-mode, on by default: a failed rewrite is never forwarded
// half-done, and a failed auth or deny never lets the request through).
struct Arena {
    char buf[8192];
    std::size_t used = 0;
    bool overflow = false;
    void reset() { used = 0; overflow = false; }
    // copies `s` in and returns the stable view, or an empty view on overflow
    std::string_view put(std::string_view s);
};

// Builds one contiguous string in an arena from pieces. commit() returns it, or an empty view
// (with arena.overflow set and the arena as before) when it did not fit. Only one writer may be
// open on an arena at a time, and no put() may happen while it is open.
class ArenaWriter {
public:
    explicit ArenaWriter(Arena& a) : a_(a), start_(a.used), pos_(a.used) {}
    void add(std::string_view s);
    void add_uint(std::uint64_t v);
    // Where the next byte goes, and the case of what was written since such a mark (converters)
    std::size_t mark() const { return pos_; }
    std::string_view since(std::size_t from) const { return std::string_view(a_.buf + from, pos_ - from); }
    void rewind(std::size_t to) { pos_ = to; }
    void change_case(std::size_t from, bool upper);
    bool ok() const { return !failed_; }
    std::string_view commit();

private:
    Arena& a_;
    std::size_t start_;
    std::size_t pos_;
    bool failed_ = false;
};

// Headers to add to the outgoing message (after the received ones that survive).
struct HeaderEdits {
    // HAProxy bounds added headers only by the buffer (tune.http.maxhdr limits what is parsed): rules may
    // add more than a received message may carry; the head's buffer still bounds what is sent
    static constexpr int kMaxAdds = 256;
    struct Add {
        std::string_view name, value;
    };
    Add adds[kMaxAdds];
    int nadds = 0;
    // set-method: the method sent (the `method` fetch keeps answering the one received, as HAProxy's);
    // the target's rewrites change Txn::req itself (its target, path, query, authority point into the arena)
    std::string_view new_method;
    bool method_set = false;
    void reset() {
        nadds = 0;
        method_set = false;
    }
};

// Stick tables while rules run (track-sc*, sc-inc-gpc*, sc-set-gpt0, the sc_* / src_* fetches): the
// shard's tables, what the connection tracks (its Refs, taken from `pool` on the first track), the
// time, and which rules run. Null in Txn: the proxy has no table (nothing tracks, stick fetches
// do not match).
struct StickCtx {
    stick::Store* store = nullptr;
    stick::Refs** refs = nullptr;
    pool::ObjectPool<stick::Refs>* pool = nullptr;
    std::int64_t now = 0;
    bool backend = false;  // a backend's rules run (its tracks count its requests)
    int status = 0;        // http-response rules: the response's status (a track counts a 4xx/5xx)
};

// Variables (set-var, var()) of one connection: its `sess` ones and its current exchange's (`txn`,
// `req`, `res`), values copied into a fixed buffer (HAProxy bounds them too: tune.vars.*-max-size).
// Taken from the pool on the first set-var; exchange values are dropped when the exchange ends.
struct Vars {
    static constexpr int kSlots = 16;
    static constexpr int kBytes = 2048;
    struct Slot {
        std::uint16_t id, off, len;
        bool sess;
    };
    Slot slots[kSlots];
    int n = 0;
    std::uint16_t used = 0;
    char buf[kBytes];
    // the value of variable `id` (false: not set)
    bool get(std::uint16_t id, std::string_view& v) const;
    // false: no room (the variable is then not set, as HAProxy's limits do)
    bool set(std::uint16_t id, bool sess, std::string_view v);
    void unset(std::uint16_t id);
    void end_exchange();  // drops the txn/req/res values
    // drops the `req` scope's values (`cfg.vars` names them): HAProxy's request scope ends with the
    // request's processing (the response's rules and the log no longer see it)
    void end_request(const config::Config& cfg);
};
// Where `http-request|http-response capture` rules store a value (the frontend's slot; the proxy
// keeps them for the log line, and ignores a slot its frontend lacks).
struct CaptureSink {
    virtual void capture(bool response, std::uint32_t slot, std::string_view value) = 0;

protected:
    ~CaptureSink() = default;
};

struct Txn;
// The request's unique id (unique-id-format), built on its first use and kept for the exchange: the
// proxy's (false: no format, or no room).
struct UniqueIdSource {
    virtual bool unique_id(const Txn& t, std::string_view& out) = 0;

protected:
    ~UniqueIdSource() = default;
};

// The shard's servers as the nbsrv and srv_is_up fetches see them (the proxy's load-balancing state).
struct ServerView {
    // HAProxy's be_usable_srv: the operational active servers, else 1 when a backup serves (all of the
    // operational backups with `option allbackups`), else 0
    virtual int usable_servers(int be) const = 0;
    // up unless in maintenance or DOWN by its health check
    virtual bool server_up(int be, int srv) const = 0;

protected:
    ~ServerView() = default;
};

struct VarCtx {
    Vars** slot = nullptr;
    pool::ObjectPool<Vars>* pool = nullptr;
};

// What ACLs and rules look at.
struct Txn {
    http::RequestHead* req = nullptr;          // headers may be marked `removed` by del-header/set-header
    http::ResponseHead* rsp = nullptr;         // set while response rules run
    const sockaddr_storage* src = nullptr;  // client address (may be AF_UNSPEC when unknown)
    // the address the client connected to (a PROXY header's destination, else the local address),
    // null when the frontend keeps none (it has no rule, log or server that reads it)
    const sockaddr_storage* dst = nullptr;
    const config::Config* cfg = nullptr;
    Arena* arena = nullptr;
    HeaderEdits* edits = nullptr;
    // The frontend's HTTP part when a backend's rules run: deny/auth/500 replies come from the
    // rules' proxy first, then from this one (HAProxy: backend errorfiles, then frontend's).
    const config::HttpProxy* fallback = nullptr;
    const tls::Facts* tls = nullptr;  // the client connection's TLS handshake (null: in clear)
    // mode tcp: the client's first bytes held while tcp-request content rules decide, and whether more
    // may come (false while the inspect-delay runs and the hold has room and the client has not shut:
    // a fetch that needs more bytes then makes its rule wait). Final: missing bytes are no match.
    std::string_view payload;
    bool payload_final = true;
    // req.proto_http's verdict on the first `len` bytes, kept by the session between its evaluations (a
    // `tcp-request content ... if HTTP` then a `use_backend ... if HTTP` parse the head once); null: none
    struct ProtoMemo {
        std::uint32_t len = 0;
        std::int8_t verdict = -1;  // -1 unknown, 0 not HTTP, 1 HTTP
    };
    ProtoMemo* proto_memo = nullptr;
    // tcp-response content: `payload` is the server's first bytes (res.* fetches read it, req.* ones none); in
    // mode http there are no raw bytes (res.payload gives none) and res.len is the response's size so far
    bool payload_response = false;
    bool payload_http = false;
    std::size_t payload_size = 0;
    int dst_port = -1;  // the listener's port (mode tcp), -1 when unknown
    StickCtx* stick = nullptr;
    VarCtx* vars = nullptr;  // null: no variable is set anywhere in the configuration
    CaptureSink* captures = nullptr;  // null: the frontend keeps no capture
    UniqueIdSource* uid = nullptr;  // null: the frontend builds no unique id
    const ServerView* servers = nullptr;  // nbsrv, srv_is_up (null: none known, no sample)
    // fe_name, be_name: the frontend (Config::frontends index, -1: unknown) and the backend once the request
    // is routed (-1: not yet, be_name is then the frontend's, as HAProxy's stream starts on it)
    int fe = -1, be = -1;
    // strict-mode off in the rule list running: a rewrite that fails is skipped instead of failing the list
    bool soft_rewrite = false;
    // rewrites the rules could not do (HAProxy's wrew), for the proxy's counters
    std::uint16_t failed_rewrites = 0;
};

struct Verdict {
    enum Kind : std::uint8_t { Continue, Reply, Service } kind = Continue;
    int status = 0;           // of the reply
    std::string_view bytes;   // the full reply to send (static config data or built in the arena)
    bool denied = false;      // counts as dreq (deny), as opposed to return/redirect/auth
    bool internal = false;    // a 500 because a reply or a rewrite could not be built (HAProxy's eint)
    bool monitor = false;     // a monitor-uri answer: not logged, not counted as denied (HAProxy)
    std::string_view service; // Service: "prometheus-exporter"
};

// A condition over the ACLs of the proxy that owns it (see config::Condition). hdr() reads the
// response headers while response rules run (t.rsp set), else the request's; headers marked
// removed are not seen, headers added by earlier rules (t.edits) are.
bool eval_condition(const config::Condition& c, const std::vector<config::Acl>& acls, const Txn& t);
// One ACL: true when any value the fetch yields matches any pattern.
bool eval_acl(const config::Acl& acl, const Txn& t);

// A condition where bytes may still be missing (mode tcp content inspection): Miss when its result
// depends on bytes that have not arrived and may (t.payload_final false). HAProxy's three-valued
// logic: an AND group fails on any No, else misses on any Miss; an OR passes on any Yes, else misses
// on any Miss; `!` and `unless` keep Miss.
enum class Tri : std::uint8_t { No, Yes, Miss };
Tri eval_condition3(const config::Condition& c, const std::vector<config::Acl>& acls, const Txn& t);

// tcp-request connection/content rules in order: the first rule whose condition holds decides (accept
// or reject); none: Accept. Wait: a condition needs bytes that may still come (evaluate again on the
// next arrival, or with t.payload_final once the inspect-delay is over). A matching `expect-proxy`
// sets *expect_proxy and the rules go on.
// Track actions track at the session level for `tcp-request connection` rules (the connection's life),
// at the stream level for `content` ones (HAProxy: one exchange in mode http, the connection in tcp).
enum class TcpVerdict : std::uint8_t { Accept, Reject, Wait, Close };  // Close: tcp-response's
TcpVerdict run_tcp_rules(const std::vector<config::TcpRule>& rules, const std::vector<config::Acl>& acls,
                         const Txn& t, bool* expect_proxy = nullptr, bool content = false);

// Stick-table actions (rules/stick.cpp). A track at the stream level (`stream`) from http-request or
// http-response rules counts the request (HAProxy's http_action_track_sc: `http` true), and in a
// response the 4xx / 5xx it carries. False: nothing tracked (no key, no room, no stick context).
bool track(const config::TrackSpec& spec, const Txn& t, bool stream, bool http);
void sc_inc_gpc(const config::TrackSpec& spec, int which, const Txn& t);
// sc-set-gpt / sc-set-gpt0: the value, or the rule's expression's (no sample: the stored value is kept)
void sc_set_gpt(const config::TrackSpec& spec, std::int64_t value, const Txn& t);
// The stick-table key of a sample for table `tb` (false: no key: the sample is missing or does not
// convert to the table's type).
bool stick_key(const config::SampleExpr& s, const Txn& t, const config::StickTable& tb, stick::Key& k);
// The entry of map `m` a value finds with `match` (HAProxy's rules: exact, longest prefix for beg
// and ip, the first line in file order for the others): its index, -1 for none, -2 when the value
// is not an address (map_ip: no sample at all). map_regm fills `groups` with the captures.
long map_lookup(const config::MapFile& m, config::MapMatch match, std::string_view v,
                std::vector<std::string_view>* groups);
// unique-id-format `fmt` rendered (text, %%, %{+X}[o], %ci %cp %fi %fp %Ts %rt %pid, %[sample]) with `rt`
// the request's counter and `accept_sec` the unix time %Ts prints (the log's: the exchange's accept) (unique_id.cpp). False: an expression this version does not evaluate.
bool render_unique_id(const Txn& t, std::string_view fmt, std::int64_t rt, std::int64_t accept_sec, ArenaWriter& w);

// The maps the `map*` converters read on this thread: a data shard's own table (the configuration's maps,
// each replaced as a whole when the CLI changes it: add/set/del/clear map reach every shard as a message).
// Set once by each data shard's thread; unset (null), the configuration's are read.
void set_shard_maps(const std::vector<std::shared_ptr<const config::MapFile>>* maps);
// A sample expression as a log-format value writes it (`%[expr]`), into the arena (rules.cpp).
// `raw`: a binary sample keeps its bytes (as a key; the others end it at its first NUL, as text).
bool eval_sample(const Txn& t, std::string_view expr, std::string_view& out, bool raw = false);
// set-var / unset-var (vars.cpp); var(<name>): the value of a variable by its name (false: not set)
void set_var(const config::VarSet& v, const Txn& t);
void unset_var(const config::VarSet& v, const Txn& t);
bool var_value(const Txn& t, std::string_view name, std::string_view& out);
// The value of an ACL's stick fetch (sc_*, src_*); false: no sample (nothing tracked, not stored).
bool stick_fetch(const config::Acl& acl, const Txn& t, std::int64_t& v);

// http-request rules of one proxy, in order, until a final action. Header actions edit t.req
// (marking headers removed) and t.edits.
Verdict run_request_rules(const config::HttpProxy& px, Txn& t);
// The same for another list of rules (the stats page's `stats http-request`) of that proxy.
Verdict run_request_rules(const config::HttpProxy& px, const std::vector<config::HttpRule>& rules, Txn& t,
                          std::size_t own = 0);
// http-response rules (set-header, add-header, del-header, deny -> 502 reply).
Verdict run_response_rules(const config::HttpProxy& px, Txn& t);

// http-after-response rules on a response t.rsp (the server's, or a reply of the proxy's parsed back):
// the backend's (those inherited from its defaults section, then its own), then, when `fe` is not null
// (another proxy than the backend), the frontend's the same way. `allow` ends the list it is in. A rewrite
// that fails under strict-mode gives the 500 reply (its bytes are not rewritten again).
Verdict run_after_rules(const config::HttpProxy& be, const config::HttpProxy* fe, Txn& t);

// HAProxy's reason phrase for a status (http_get_reason: its own words for some codes, then one per class),
// what set-status writes when no reason is given.
std::string_view haproxy_reason(int status);

// The path part of a request target as HAProxy reads it (http_parse_path): the whole target in origin
// form, what follows the authority in absolute form; false for "", "*" and a target without a scheme.
bool target_path(std::string_view target, std::string_view& path_and_query);

// use_backend rules in order (first match), else default_backend_id (may be -1).
int select_backend(const config::Frontend& fe, const Txn& t);

// The reply for a status: the backend's configured one, else the frontend's, else a built-in
// HAProxy-like reply (HTTP/1.1 <code> <reason>, Content-Type text/html, Cache-Control no-cache,
// Content-Length, a short HTML body). Always non-empty for 400 403 404 405 408 413 414 421 429
// 431 500 501 502 503 504 505; any other code gets a generated built-in reply too.
std::string_view error_reply(int status, const config::HttpProxy* be, const config::HttpProxy* fe);

// Auth failure reply: 401 with exactly one `WWW-Authenticate: Basic realm="<realm>"`, or 407 with
// `Proxy-Authenticate` when the request is a proxy request (absolute-form target). When the proxy
// has its own reply for that status, it is used with its authenticate header replaced. Built in
// the arena.
std::string_view auth_reply(const http::RequestHead& req, std::string_view realm, const config::HttpProxy* be,
                            const config::HttpProxy* fe, Arena& arena);

// Checks an Authorization / Proxy-Authorization "Basic <b64>" value against a userlist: plain
// (insecure-password) compare, or crypt(3) for hashed passwords (results cached per thread, so
// a hash is computed once per distinct credential, not per request).
bool check_basic_auth(const config::Userlist& ul, std::string_view header_value);
// The user those credentials authenticate (null: none).
const config::User* basic_auth_user(const config::Userlist& ul, std::string_view header_value);

// url_decode: %XX sequences; '+' becomes a space only when `query` (query strings and form
// bodies), never in paths. Returns the decoded length, or -1 on an invalid escape ('%' not
// followed by two hex digits) or when the result does not fit in `cap`. `out` may be in.data()
// (decoding in place is safe: the output never overtakes the input).
long url_decode(std::string_view in, char* out, std::size_t cap, bool query);

// The next element of a comma-separated header value (RFC 9110 §5.6.1; commas inside a
// quoted-string do not separate), without surrounding spaces and tabs. Start with pos = 0; returns
// false when no element is left. An empty value yields one empty element, as in HAProxy's hdr().
bool next_list_element(std::string_view value, std::size_t& pos, std::string_view& elem);

// url_param(<name>): the first value of that parameter in the target's query (false: none).
bool url_param(std::string_view target, std::string_view name, std::string_view& out, char delim = 0);

// The client address as text ("192.0.2.7", "2001:db8::1") into `out`; returns the length, 0 when
// the address is unknown or not IP. `cap` >= 46 (INET6_ADDRSTRLEN) always fits.
std::size_t addr_text(const sockaddr_storage* ss, char* out, std::size_t cap);
// The client port, or -1 when unknown.
int addr_port(const sockaddr_storage* ss);
// True when the address is in `network` ("a.b.c.d[/len|/mask]", "v6[/len]"; IPv4 also matches an
// IPv4-mapped IPv6 address); false for an unknown address or a network that does not parse.
bool addr_in_network(const sockaddr_storage* ss, std::string_view network);

}  // namespace es::rules
