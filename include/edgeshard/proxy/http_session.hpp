// HTTP/1.1 objects of the proxy room (private to it): the client-side transaction holder
// (HttpSession), the server connection (HttpConn, attached to a session or idle in the shard's
// per-server pool), their output queues and the head buffers. Pooled per shard; op state is
// intrusive, nothing allocates per operation.
#pragma once

#include <linux/time_types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>

#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/http/parser.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/shard/timer_wheel.hpp"

namespace es::proxy {

enum HttpOp : std::uint8_t {
    kHOpCliRecv = 40,
    kHOpCliSend,
    kHOpCliShut,
    kHOpCliCancel,
    kHOpCliClose,
    kHOpSrvSocket,
    kHOpSrvSockopt,
    kHOpSrvConnect,
    kHOpSrvTimeout,
    kHOpSrvRecv,
    kHOpSrvSend,
    kHOpSrvCancel,
    kHOpSrvClose,
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

struct OutQ {
    static constexpr int kCap = 16;
    Seg seg[kCap];
    std::uint8_t first = 0;
    std::uint8_t n = 0;
    bool inflight = false;
    std::uint32_t bytes = 0;   // queued, not yet sent
    std::uint32_t sending = 0; // bytes of the send in flight
    iovec iov[kCap];
    msghdr msg{};
    bool full() const { return n == kCap; }
    Seg& at(int i) { return seg[(first + i) % kCap]; }
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
    std::uint8_t gen = 0;
    int slot = -1;
    int be = -1;
    int server = -1;
    int pending_ops = 0;
    enum State : std::uint8_t { Connecting, Ready, Idle, Closing } state = Connecting;
    bool recv_armed = false;
    bool recv_cancelling = false;
    bool starved = false;
    bool eof = false;
    bool reused = false;     // carried at least one request before the current one
    bool released = false;
    bool counted = false;    // holds a server slot (ServerSlot::cur)
    bool established = false;
    HttpSession* owner = nullptr;
    HttpSession* priv_owner = nullptr;  // http-reuse never: idle, kept for this client connection only
    InQ in;
    OutQ out;
    __kernel_timespec connect_ts{};
};

enum class ReqPhase : std::uint8_t { Head, Body, Done, Tunnel };
enum class RspPhase : std::uint8_t { None, Head, Body, Done, Tunnel };
enum class HState : std::uint8_t { Active, Closing };
enum HTimer : std::uint8_t { kHTimerClient = 20, kHTimerRetry, kHTimerQueue, kHTimerConnIdle };

struct HttpSession {
    core::ListNode all_node;
    shard::Timer timer;
    std::uint8_t gen = 0;
    HState state = HState::Active;
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
    bool lb_has_hdr = false;
    bool in_parse = false;
    bool pending = false;        // accepted beyond a limit: not started, nothing read yet
    bool linger = true;          // closing must drain the client first (see h_linger)       // a request head is being processed (its bytes are not consumed yet)
    std::uint32_t fe = 0;
    int be = -1;
    int server = -1;
    int retries_left = 0;
    int retry_server = -1;
    int tries = 0;
    int pending_ops = 0;
    int slot = -1;
    int deferred_close = -1;
    http::Method method = http::Method::Get;
    ReqPhase req = ReqPhase::Head;
    RspPhase rsp = RspPhase::None;
    std::uint64_t req_left = 0;   // Content-Length body bytes still to forward
    std::uint64_t rsp_left = 0;
    http::BodyKind req_body = http::BodyKind::None;
    http::BodyKind rsp_body = http::BodyKind::None;
    http::ChunkedScanner req_chunks;
    http::ChunkedScanner rsp_chunks;
    std::size_t req_scanned = 0;
    std::size_t rsp_scanned = 0;
    HeadBuf* req_acc = nullptr;   // a request head gathered across buffers
    HeadBuf* rsp_acc = nullptr;
    HeadBuf* pend_head = nullptr; // the outgoing request head while no server connection is attached
    HeadBuf* replay = nullptr;    // the head of a bodiless request sent over a reused connection
    bool force_new = false;       // the next server connection must be a new one (a replay)
    HttpConn* conn = nullptr;
    InQ in;                       // client bytes not yet consumed (pipelined requests wait here)
    OutQ out;                     // bytes for the client
    sockaddr_storage peer{};
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
    int status = 0;
    std::uint64_t bytes_out = 0;   // to the client, this request
    std::uint64_t bytes_in = 0;    // from the client, this request
    std::uint32_t nreq = 0;
    char term[3] = "--";
    // the request line for the log (copied: the head buffer is gone by the time the log is written)
    std::uint16_t reqline_len = 0;
    char reqline[240];
    // what `balance uri` / `balance hdr()` hash (the target or the header value, truncated)
    std::uint16_t lb_uri_len = 0;
    char lb_key[128];
};

}  // namespace es::proxy
