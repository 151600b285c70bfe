// HTTP/1.1 objects of the proxy room (private to it): the client-side transaction holder
// (HttpSession), the server connection (HttpConn, attached to a session or idle in the shard's
// per-server pool), their output queues and the head buffers. Pooled per shard; op state is
// intrusive, nothing allocates per operation.
//
// Memory of an idle keep-alive connection: an idle client connection holds its HttpSession and
// nothing else (no receive buffer, no output segments, no notes), an idle pooled server
// connection its HttpConn. What only a message in flight needs lives in pooled extensions taken
// when the message needs them and given back when it is done: OutBlock (output segments and the
// send's iovec, while bytes are queued), HttpNotes (the request line for the access log and the
// load-balancing key, for the exchange) and HeadBuf (heads). bench/idle_mem measures the result.
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
#include "edgeshard/net/pipe.hpp"
#include "edgeshard/shard/timer_wheel.hpp"

namespace es::proxy {

// Client-side ops first, up to kHOpCliClose (dispatch tells a session from a connection by that).
enum HttpOp : std::uint8_t {
    kHOpCliRecv = 40,
    kHOpCliSend,
    kHOpCliShut,
    kHOpCliCancel,
    kHOpCliInstall,  // FIXED_FD_INSTALL: a regular fd for splice(2)
    kHOpCliPollOut,  // room on the client socket for spliced bytes
    kHOpCliClose,
    kHOpSrvSocket,
    kHOpSrvSockopt,
    kHOpSrvConnect,
    kHOpSrvTimeout,
    kHOpSrvRecv,
    kHOpSrvSend,
    kHOpSrvCancel,
    kHOpSrvClose,
    kHOpSrvInstall,
    kHOpSrvPollIn,   // bytes on the server socket for the spliced body
    kHOpSrvShut,     // SHUT_WR: the client half-closed a tunnel
};

// A message head being gathered (a head split over receive buffers) or a head written for the
// other side. Sized for the largest head the proxy accepts plus what rules may add.
struct HeadBuf {
    static constexpr std::uint32_t kCap = 32768;
    // user-provided: the pool's value-initialisation must not zero 32 KiB per head
    HeadBuf() {}  // NOLINT(modernize-use-equals-default)
    std::uint32_t len = 0;
    std::uint32_t off = 0;  // consumed prefix (gathering)
    bool queued = false;    // referenced by an output queue segment
    bool keep = false;      // kept after it is sent: the request may be replayed (see h_replay)
    char data[kCap];
};

// One piece of bytes waiting to be sent: a provided buffer (returned to the ring when sent), a
// head buffer (returned to its pool) or static bytes (a configured reply).
struct Seg {
    const char* p = nullptr;
    std::uint32_t len = 0;
    std::uint16_t bid = net::BufRing::kNone;
    HeadBuf* hb = nullptr;
    std::string* str = nullptr;  // a rendered page (stats, metrics): deleted when sent
};

// The segments of an output queue and the iovec/msghdr of its send. Pooled per shard and held
// only while the queue has bytes or a send in flight (the kernel reads iov and msg until the send
// completes), so an idle connection holds none.
struct OutBlock {
    static constexpr int kCap = 16;
    Seg seg[kCap];
    iovec iov[kCap];
    msghdr msg{};
};

struct OutQ {
    static constexpr int kCap = OutBlock::kCap;
    OutBlock* blk = nullptr;   // taken by the first push, given back when empty and not sending
    std::uint32_t bytes = 0;   // queued, not yet sent
    std::uint32_t sending = 0; // bytes of the send in flight
    std::uint8_t first = 0;
    std::uint8_t n = 0;
    bool inflight = false;
    bool broken = false;       // a segment could not be queued (no memory): the owner must close
    bool full() const { return n == kCap; }
    Seg& at(int i) { return blk->seg[(first + i) % kCap]; }  // requires blk (i.e. n > 0 or a push)
};

// Received bytes not yet consumed: provided buffers linked through their side records.
struct InQ {
    std::uint16_t head = net::BufRing::kNone;
    std::uint16_t tail = net::BufRing::kNone;
    std::uint32_t bytes = 0;
    std::uint16_t nbufs = 0;
    bool empty() const { return head == net::BufRing::kNone; }
};

struct HttpSession;

struct HttpConn {
    core::ListNode idle_node;   // in the per-server idle list while pooled
    shard::Timer timer;         // idle purge while pooled
    HttpSession* owner = nullptr;
    HttpSession* priv_owner = nullptr;  // http-reuse never: idle, kept for this client connection only
    __kernel_timespec connect_ts{};
    net::Pipe* pipe = nullptr;  // a response body being spliced: server socket -> pipe -> client socket
    OutQ out;
    InQ in;
    std::uint32_t pipe_bytes = 0;  // in the pipe, not yet spliced to the client
    int slot = -1;
    int deferred_close = -1;       // a slot whose close waits for the in-flight shutdown (c_on_shut)
    int fd = -1;                   // regular fd for splice(2): installed on first use, closed with the connection
    int be = -1;
    int server = -1;
    int pending_ops = 0;
    std::uint8_t gen = 0;
    enum State : std::uint8_t { Connecting, Ready, Idle, Closing } state = Connecting;
    // Switching: the recv is stopping and what was received goes out first; Splicing: the rest of
    // the body moves by splice(2), then the connection is back on the buffer path
    enum Splice : std::uint8_t { NoSplice, Switching, Splicing } splice = NoSplice;
    bool installing = false;
    bool poll_in = false;
    bool no_splice = false;  // no pipe or no regular fd: this connection stays on the copy path
    bool spliced = false;    // the current response's body went by splice
    // a response on this connection was spliced: recvs are single-shot (one buffer each), so the
    // head of the next long body is seen before a multishot recv reads ahead of it into buffers
    // (up to 32 per wake-up) that would have to be copied out before the switch; cleared by a
    // body that continues on the buffer path, for which a multishot recv is cheaper
    bool big = false;
    bool recv_armed = false;
    bool recv_cancelling = false;
    bool starved = false;
    bool eof = false;
    bool reset = false;          // the server's side ended with an error (a reset), not a FIN
    bool sock_nonempty = false;  // the last receive left bytes in the socket (IORING_CQE_F_SOCK_NONEMPTY)
    bool shut_inflight = false;  // SHUT_WR in flight: the slot is closed only after its completion
    bool reused = false;     // carried at least one request before the current one
    bool released = false;
    bool counted = false;    // holds a server slot (ServerSlot::cur)
    bool established = false;
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
    std::uint16_t reqline_len = 0;
    std::uint16_t lb_key_len = 0;
    bool lb_has_hdr = false;
    char reqline[240];
    char lb_key[128];
};

enum class ReqPhase : std::uint8_t { Head, Body, Done, Tunnel };
// Sent: the response is fully queued for the client while the request body still goes to the
// server (the server answered early); the exchange ends when the server has it all.
enum class RspPhase : std::uint8_t { None, Head, Body, Done, Tunnel, Sent };
enum class HState : std::uint8_t { Active, Closing };
enum HTimer : std::uint8_t { kHTimerClient = 20, kHTimerRetry, kHTimerQueue, kHTimerConnIdle };

// Fields are grouped by size so the object packs without holes: an idle keep-alive connection
// holds exactly this (see the note at the top of this file).
struct HttpSession {
    core::ListNode all_node;
    shard::Timer timer;
    HttpConn* conn = nullptr;
    HeadBuf* req_acc = nullptr;   // a request head gathered across buffers
    HeadBuf* rsp_acc = nullptr;
    HeadBuf* pend_head = nullptr; // the outgoing request head while no server connection is attached
    HeadBuf* replay = nullptr;    // the head of a bodiless request sent over a reused connection
    HttpNotes* notes = nullptr;   // this request's notes, when anything needs them (HttpNotes)
    std::uint64_t req_left = 0;   // Content-Length body bytes still to forward
    std::uint64_t rsp_left = 0;
    std::uint64_t bytes_out = 0;  // to the client, this request
    std::uint64_t bytes_in = 0;   // from the client, this request
    http::ChunkedScanner req_chunks;
    http::ChunkedScanner rsp_chunks;
    // per-request facts for the log and the timers (ms, monotonic)
    std::int64_t t_accept = 0;
    std::int64_t t_req = 0;        // first byte of this request (or end of the previous one)
    std::int64_t t_head = 0;       // request head complete
    std::int64_t t_queue = -1;     // entered the backend queue
    std::int64_t t_connect = -1;   // connect issued
    std::int64_t t_connected = -1;
    std::int64_t t_rsp = -1;       // response head received
    std::int64_t last_cli = 0;     // last activity on the client side
    std::int64_t last_srv = 0;
    OutQ out;                      // bytes for the client
    InQ in;                        // client bytes not yet consumed (pipelined requests wait here)
    PeerAddr peer;
    std::uint32_t req_scanned = 0; // head bytes the parser already looked at (a head fits a HeadBuf)
    std::uint32_t rsp_scanned = 0;
    std::uint32_t fe = 0;
    std::uint32_t nreq = 0;
    int be = -1;
    int server = -1;
    int retries_left = 0;
    int retry_server = -1;
    int tries = 0;
    int pending_ops = 0;
    int slot = -1;
    int deferred_close = -1;
    int status = 0;
    int cli_fd = -1;               // regular fd for splice(2): installed on first use, closed with the session
    std::uint8_t gen = 0;
    HState state = HState::Active;
    http::Method method = http::Method::Get;
    ReqPhase req = ReqPhase::Head;
    RspPhase rsp = RspPhase::None;
    http::BodyKind req_body = http::BodyKind::None;
    http::BodyKind rsp_body = http::BodyKind::None;
    char term[3] = "--";
    bool released = false;
    bool counted_conn = false;
    bool counted_be = false;
    bool recv_armed = false;
    bool recv_cancelling = false;
    bool starved = false;
    bool cli_eof = false;
    bool close_after = false;    // close the client connection once the current response is sent
    bool shut_sent = false;      // lingering close: SHUT_WR sent, draining the client until EOF
    bool shut_inflight = false;
    bool queued = false;
    bool replied = false;        // the current request was answered by the proxy itself
    bool first_req = true;       // http-reuse safe: the first request of a session uses its own connection
    bool req_upgrade = false;
    bool req_expect = false;
    bool req_head_method = false;
    bool srv_close = false;      // the server does not keep the connection after this response
    bool client_http10 = false;  // HTTP/1.0 client asking for keep-alive: say so in the response
    bool in_parse = false;       // a request head is being processed (its bytes are not consumed yet)
    bool pending = false;        // accepted beyond a limit: not started, nothing read yet
    bool linger = true;          // closing must drain the client first (see h_linger)
    bool force_new = false;      // the next server connection must be a new one (a replay)
    bool cli_installing = false;
    bool cli_poll_out = false;
    bool logged = true;          // the current exchange has its access-log line (or none is open)
    std::uint8_t page = 0;       // waiting for a page from the control shard: its PageWaits slot + 1
};

}  // namespace es::proxy
