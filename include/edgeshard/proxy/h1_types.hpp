// HTTP/1.1 objects of the proxy room (private to it), after HAProxy's h1c / h1s split:
//  - H1Conn: a client connection (socket, input, output, timer, what outlives one exchange);
//  - H1Stream: one request/response exchange on it (phases, framing, server choice, retries,
//    times and status for the log), held only while the exchange is open;
//  - H1SrvConn: a server connection, attached to one exchange or idle in the shard's per-server
//    pool. (Both sides are HTTP/1 connections; the client side keeps the short name because it
//    owns the exchanges, as HAProxy's frontend h1c owns its h1s.)
// Plus their output queues and the head buffers. Pooled per shard; op state is intrusive,
// nothing allocates per operation. Each has a flag word rendered by a show_*_flags() function
// (h1_flags.cpp) for debug output (EDGESHARD_TRACE_H1 in debug builds).
//
// Memory of an idle keep-alive connection: an idle client connection holds its H1Conn and
// nothing else (no stream, no receive buffer, no output segments, no notes), an idle pooled
// server connection its H1SrvConn. What only a message in flight needs lives in pooled objects
// taken when the message needs them and given back when it is done: H1Stream (the exchange),
// OutBlock (output segments and the send's iovec, while bytes are queued), HttpNotes (the request
// line for the access log and the load-balancing key, for the exchange) and HeadBuf (heads).
// bench/idle_mem measures the result.
#pragma once

#include <linux/time_types.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/http/parser.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/net/send_queue.hpp"
#include "edgeshard/proxy/ops.hpp"
#include "edgeshard/net/pipe.hpp"
#include "edgeshard/shard/timer_wheel.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/stick/table.hpp"

namespace es::tls {
class Conn;
}

namespace es::proxy {


// The HTTP names of the net room's queue types (net/send_queue.hpp): a head being gathered or
// written is a pooled block; output queues hold received buffers, heads, replies and pages.
using HeadBuf = net::Block;
using Seg = net::Seg;
using OutBlock = net::OutBlock;
using OutQ = net::SendQueue;

// Received bytes not yet consumed: provided buffers linked through their side records.
using InQ = net::BufChain;

struct H1Conn;
struct PpInfo;
struct H1Stream;
struct PageRequest;

// The flag word of a server connection (H1SrvConn::flags); show_c1_flags() renders it.
enum C1Flag : std::uint8_t {
    kC1NoSplice = 1u << 0,     // NOSPL: no pipe or no regular fd: this connection stays on the copy path
    kC1Spliced = 1u << 1,      // SPLD: the current response's body went by splice
    // BIG: a response on this connection was spliced: recvs are single-shot (one buffer each), so
    // the head of the next long body is seen before a multishot recv reads ahead of it into
    // buffers (up to 32 per wake-up) that would have to be copied out before the switch; cleared
    // by a body that continues on the buffer path, for which a multishot recv is cheaper
    kC1Big = 1u << 2,
    kC1Reused = 1u << 3,       // REUSED: carried at least one request before the current one
    kC1Released = 1u << 4,     // RELD: given back to the pool at the end of this turn
    kC1Counted = 1u << 5,      // CNT: holds a server slot (ServerSlot::cur)
    kC1Established = 1u << 6,  // EST: connected
};
std::string show_c1_flags(std::uint8_t flags);

struct H1SrvConn {
    core::ListNode idle_node;   // in the per-server idle list while pooled
    shard::Timer timer;         // idle purge while pooled
    H1Conn* owner = nullptr;
    H1Conn* priv_owner = nullptr;  // http-reuse never: idle, kept for this client connection only
    __kernel_timespec connect_ts{};
    net::Pipe* pipe = nullptr;  // a response body being spliced: server socket -> pipe -> client socket
    OutQ out;
    InQ in;
    std::uint32_t pipe_bytes = 0;  // in the pipe, not yet spliced to the client
    net::ConnSide sock;            // the server socket: slot, regular fd for splice(2), flag word
    int be = -1;
    int server = -1;
    int pending_ops = 0;
    std::uint8_t gen = 0;
    enum State : std::uint8_t { Connecting, Ready, Idle, Closing } state = Connecting;
    // Switching: the recv is stopping and what was received goes out first; Splicing: the rest of
    // the body moves by splice(2), then the connection is back on the buffer path
    enum Splice : std::uint8_t { NoSplice, Switching, Splicing } splice = NoSplice;
    std::uint8_t flags = 0;  // C1Flag
    std::uint8_t tls_sealed = 0;   // TLS: records at the front of `out` (the rest is plaintext)
    std::uint32_t sni_hash = 0;    // TLS with a per-request SNI: which name this connection sent
    std::uint16_t dport = 0;       // a server without a port (`port_map`): the port it went to
    config::SockAddr* mapped = nullptr;  // ... and the address given to its connect (owned)
    tls::Conn* tls = nullptr;      // TLS to the server (`server ... ssl`): the record layer

    bool has(std::uint8_t f) const { return (flags & f) != 0; }
    void set(std::uint8_t f) { flags = std::uint8_t(flags | f); }
    void clear(std::uint8_t f) { flags = std::uint8_t(flags & ~f); }
    void set_to(std::uint8_t f, bool on) { on ? set(f) : clear(f); }
};

// The client address, compact (28 bytes instead of a 128-byte sockaddr_storage): AF_INET and
// AF_INET6 in full, any other family (AF_UNIX binds, unknown) by its family alone, which is all
// the log, the rules and the balancers look at for those.
struct PeerAddr {
    union {
        sa_family_t family;
        sockaddr_in in4;
        sockaddr_in6 in6;
    } u{};
    void set(const sockaddr_storage& ss) {
        u = {};
        if (ss.ss_family == AF_INET) std::memcpy(&u.in4, &ss, sizeof u.in4);
        else if (ss.ss_family == AF_INET6) std::memcpy(&u.in6, &ss, sizeof u.in6);
        else u.family = ss.ss_family;
    }
    void get(sockaddr_storage& out) const {
        out = sockaddr_storage{};
        if (u.family == AF_INET) std::memcpy(&out, &u.in4, sizeof u.in4);
        else if (u.family == AF_INET6) std::memcpy(&out, &u.in6, sizeof u.in6);
        else out.ss_family = u.family;
    }
};

// Per-request copies that must outlive the parsed head, taken only when something will read
// them: the request line (for the access log, when the frontend logs) and the key `balance uri`
// / `balance hdr()` hash (for picks after the head is gone: queue, retries, redispatch).
struct HttpNotes {
    char* caps = nullptr;  // the frontend's capture slots (H1Proxy::h_caps), when one was stored
    // the request's unique id (unique-id-format), built on its first use (HAProxy caps it at 127 bytes)
    bool uid_done = false;
    std::uint8_t uid_len = 0;
    char uid[127];
    std::uint16_t reqline_len = 0;
    std::uint16_t lb_key_len = 0;
    bool lb_has_hdr = false;
    char reqline[240];
    char lb_key[128];
};

// The flag word of a client connection (H1Conn::flags); show_h1_flags() renders it.
enum H1Flag : std::uint16_t {
    kH1Released = 1u << 0,     // RELD: freed at the end of this turn
    kH1CountedConn = 1u << 1,  // CNTC: holds a shard/frontend connection slot
    kH1CountedBe = 1u << 2,    // CNTB: counted in its backend's scur
    kH1Pending = 1u << 3,      // PEND: accepted beyond a limit: not started, nothing read yet
    kH1Linger = 1u << 4,       // LINGER: closing must drain the client first (see h_linger)
    kH1CloseAfter = 1u << 5,   // CLOSE: close once the current response is sent
    kH1FirstReq = 1u << 6,     // FIRST: http-reuse safe: the first request uses its own connection
    kH1InParse = 1u << 7,      // PARSE: a request head is being processed (its bytes are not consumed yet)
    kH1Tls = 1u << 8,          // TLS: records go through H1Conn::tls (a TLS bind, not offloaded)
    kH1Ktls = 1u << 9,         // KTLS: the kernel makes and opens the records: plaintext on the socket
                               // (H1Conn::tls stays for the facts; kH1Tls is cleared)
    kH1KtlsWait = 1u << 10,    // KTLSW: handshake done on a `ktls on` bind: receive stopped, waiting
                               // for the tickets to be sent to hand the records to the kernel
    kH1Upgraded = 1u << 11,    // UPG: a mode tcp frontend's connection whose content rules chose a mode http
                               // backend (TcpProxy::upgrade): that backend (`be`) serves every request, the
                               // frontend's tcp-request session rules and its first content rules already ran
};
std::string show_h1_flags(std::uint16_t flags);

// The flag word of an exchange (H1Stream::flags); show_h1s_flags() renders it.
enum H1SFlag : std::uint16_t {
    kH1SQueued = 1u << 0,      // QUEUED: waiting in the backend queue for a server slot
    kH1SReplied = 1u << 1,     // LOCAL: answered by the proxy itself
    kH1SUpgrade = 1u << 2,     // UPG: the request asks for an upgrade
    kH1SExpect = 1u << 3,      // EXP: the request waits for 100-continue
    kH1SHead = 1u << 4,        // HEAD: a HEAD request (the response has no body)
    kH1SSrvClose = 1u << 5,    // SCLOSE: the server does not keep the connection after this response
    kH1SForceNew = 1u << 6,    // NEW: the next server connection must be a new one (a replay)
    kH1SLogged = 1u << 7,      // LOGGED: the exchange has its access-log line
    kH1SHttp10 = 1u << 8,      // H10: HTTP/1.0 client asking for keep-alive: say so in the response
    kH1SCookieKept = 1u << 9,  // CKKEEP: the server set the persistence cookie and `preserve` keeps it
    kH1SStats = 1u << 10,      // STATS: the stats page answers (logged as the server <STATS>)
    kH1SStatsBe = 1u << 11,    // STATSBE: ... the page of the backend (its row counts the answer)
};
std::string show_h1s_flags(std::uint16_t flags);

// Where the exchange's request and response are (H1Stream::req, ::rsp). A client connection
// without a stream is between exchanges: it reads as Head / None.
enum class ReqPhase : std::uint8_t {
    Head,    // the request head is awaited (or being parsed)
    Body,    // request body bytes go to the server
    Done,    // the whole request is in (or nothing more is read: the connection closes after the response)
    Tunnel,  // after a 101 or a 2xx to CONNECT: bytes flow both ways until a side closes
};
enum class RspPhase : std::uint8_t {
    None,    // no response expected yet (no request sent, or the exchange answered locally)
    Head,    // the response head is awaited
    Body,    // response body bytes go to the client
    Done,    // the response is complete
    Tunnel,  // see ReqPhase::Tunnel
    // the response is fully queued for the client while the request body still goes to the
    // server (the server answered early); the exchange ends when the server has it all
    Sent,
};
enum class HState : std::uint8_t { Active, Closing };
enum HTimer : std::uint8_t { kHTimerClient = 20, kHTimerRetry, kHTimerQueue, kHTimerConnIdle };

// One request/response exchange on a client connection (HAProxy's h1s): taken from its pool when
// a request head is complete (or the proxy answers a head it rejects), given back when the
// exchange ends and the connection waits for the next request, or when the connection is freed.
// An idle keep-alive connection holds none.
struct H1Stream {
    HeadBuf* rsp_acc = nullptr;   // a response head gathered across buffers
    HeadBuf* pend_head = nullptr; // the outgoing request head while no server connection is attached
    HeadBuf* replay = nullptr;    // the head of a bodiless request sent over a reused connection
    HttpNotes* notes = nullptr;   // this request's notes, when anything needs them (HttpNotes)
    std::uint64_t req_left = 0;   // Content-Length body bytes still to forward
    std::uint64_t rsp_left = 0;
    std::uint64_t bytes_out = 0;  // to the client, this exchange
    http::ChunkedScanner req_chunks;
    http::ChunkedScanner rsp_chunks;
    // facts for the log and the timers (ms, monotonic)
    std::int64_t t_head = 0;       // request head complete
    std::int64_t t_queue = -1;     // entered the backend queue
    std::int64_t t_connect = -1;   // connect issued
    std::int64_t t_connected = -1;
    std::int64_t t_rsp = -1;       // response head received
    std::int64_t last_srv = 0;     // last activity on the server side
    std::uint32_t rsp_scanned = 0; // response head bytes the parser already looked at
    std::uint32_t rt = 0;          // %rt: this shard's exchange counter, spread over the shards (h_new_stream)
    int server = -1;               // the server of this exchange (index in its backend)
    int retries_left = 0;
    int retry_server = -1;
    int tries = 0;
    int status = 0;
    std::uint16_t flags = 0;       // H1SFlag
    http::Method method = http::Method::Get;
    ReqPhase req = ReqPhase::Head;
    RspPhase rsp = RspPhase::None;
    http::BodyKind req_body = http::BodyKind::None;
    http::BodyKind rsp_body = http::BodyKind::None;
    char term[3] = "--";
    // cookie persistence (http_cookie.cpp): the server the request's cookie names (-1: none or not
    // usable) and the log's letters for the request's cookie and the response's
    std::int16_t ck_srv = -1;
    char ck_req = '-', ck_rsp = '-';
    std::int16_t stick_srv = -1;  // the server a `stick match|on` rule found for the request (-1: none)
    PageRequest* post = nullptr;  // an admin POST to the stats page, its body being gathered (owned)

    bool has(H1SFlag f) const { return (flags & f) != 0; }
    void set(H1SFlag f) { flags = std::uint16_t(flags | f); }
    void clear(H1SFlag f) { flags = std::uint16_t(flags & ~f); }
    void set_to(H1SFlag f, bool on) { on ? set(f) : clear(f); }
};

// A client connection (HAProxy's h1c): its socket, its input and output, its timer and what
// outlives one exchange. `st` is the current exchange, null between exchanges. Fields are grouped
// by size so the object packs without holes: an idle keep-alive connection holds exactly this
// (see the note at the top of this file).
struct H1Conn {
    core::ListNode all_node;
    shard::Timer timer;
    H1Stream* st = nullptr;       // the current exchange
    H1SrvConn* conn = nullptr;    // the exchange's server connection (or, with http-reuse never, the kept one)
    HeadBuf* req_acc = nullptr;   // a request head gathered across buffers (and body bytes behind it)
    std::int64_t t_accept = 0;
    std::int64_t t_req = 0;        // first byte of this request (or end of the previous one)
    std::int64_t t_ready = 0;      // ready for this request: the handshake's end, or the previous exchange's
    std::int64_t last_cli = 0;     // last activity on the client side
    std::uint64_t bytes_in = 0;    // from the client since the last log line
    OutQ out;                      // bytes for the client
    InQ in;                        // client bytes not yet consumed (pipelined requests wait here)
    PeerAddr peer;
    std::uint32_t req_scanned = 0; // head bytes the parser already looked at (a head fits a HeadBuf)
    std::uint32_t fe = 0;
    std::uint32_t nreq = 0;
    int be = -1;                   // the backend the connection counts in (its last exchange's)
    int pending_ops = 0;
    net::ConnSide cli;             // the client socket: slot, regular fd for splice(2), flag word
    std::uint16_t flags = kH1FirstReq | kH1Linger;  // H1Flag
    std::uint8_t gen = 0;
    std::uint8_t page = 0;         // waiting for a page from the control shard: its PageWaits slot + 1
    HState state = HState::Active;
    std::uint8_t tls_sealed = 0;   // TLS: the first pieces of `out` that are records (the rest is plaintext)
    tls::Conn* tls = nullptr;      // TLS bind: the record layer (null: plain)
    PpInfo* pp = nullptr;          // a PROXY header's addresses and TLVs, the local address (preface.hpp)
    stick::Refs* trk = nullptr;    // what it tracks in stick tables (stick/table.hpp), from the first track
    rules::Vars* vars = nullptr;   // its variables (set-var), from the first one set

    // The current exchange's phases; between exchanges a request head is awaited, no response.
    ReqPhase req_phase() const { return st ? st->req : ReqPhase::Head; }
    RspPhase rsp_phase() const { return st ? st->rsp : RspPhase::None; }
    bool has(H1Flag f) const { return (flags & f) != 0; }
    void set(H1Flag f) { flags = std::uint16_t(flags | f); }
    void clear(H1Flag f) { flags = std::uint16_t(flags & ~f); }
    void set_to(H1Flag f, bool on) { on ? set(f) : clear(f); }
};

}  // namespace es::proxy
