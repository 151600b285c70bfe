// The L4 session object (private to the proxy room): two connection sides and two directions.
// Pooled per shard; all op state is intrusive so an operation never allocates.
#pragma once

#include <linux/time_types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>

#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/proxy/ops.hpp"
#include "edgeshard/net/pipe.hpp"
#include "edgeshard/net/send_queue.hpp"
#include "edgeshard/shard/timer_wheel.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/stick/table.hpp"

namespace es::tls {
class Conn;
}

namespace es::proxy {

struct PpInfo;


// Inspecting: tcp-request content rules are deciding on the client's first bytes (no backend yet).
// Handshake: a TLS bind's handshake is running (no backend yet).
// Upgrading: a content rule chose a mode http backend; the client's receive is stopping, then the connection goes to
// the HTTP proxy (H1Proxy::adopt) with the bytes read so far, and the session ends without a log line.
enum class SessState : std::uint8_t { Pending, Handshake, Inspecting, Queued, Connecting, Retrying, Established, Closing, Upgrading };
enum TimerKind : std::uint8_t { kTimerIdle = 1, kTimerRetry, kTimerQueue, kTimerConnectWait, kTimerHousekeeping, kTimerDrain, kTimerTrim, kTimerInspect, kTimerHandshake, kTimerPreface };

inline constexpr int kClient = 0;
inline constexpr int kServer = 1;
inline constexpr int kMaxIov = 16;

// One end of the session: the socket and its ops.
using Side = net::ConnSide;

// Data flowing from side `d` to side `1 - d`.
struct Dir {
    net::BufChain q;  // received on side d, waiting to be sent to the other side
    bool send_inflight = false;
    std::uint32_t send_len = 0;
    enum Mode : std::uint8_t { Copy, Switching, Splice } mode = Copy;
    bool no_splice = false;
    bool queued_ready = false;
    net::Pipe* pipe = nullptr;
    std::uint32_t pipe_bytes = 0;
    std::uint64_t moved = 0;  // bytes received on this direction
    iovec iov[kMaxIov];
    msghdr msg{};
};

struct Session {
    core::ListNode all_node;
    shard::Timer timer;
    SessState state = SessState::Pending;
    std::uint8_t gen = 0;
    std::uint32_t fe = 0;
    int be = -1;
    int server = -1;
    int stick_srv = -1;  // the server a `stick match|on` rule found (-1: none)
    int up_be = -1;      // Upgrading: the mode http backend the connection goes to
    rules::Txn::ProtoMemo proto_memo;  // req.proto_http on the held bytes (the HTTP ACL), between evaluations
    int retries_left = 0;
    int tries = 0;  // retries done (for the redispatch interval)
    int pending_ops = 0;
    bool counted_conn = false;  // holds a shard/frontend connection slot
    bool counted_srv = false;   // holds a server slot (connecting or established)
    bool srv_established = false;
    bool queued = false;
    bool released = false;
    // Content inspection (frontends with tcp-request content rules): the client's receive is armed
    // before a backend is chosen (`early`); its first bytes are copied into `held` (the provided buffers
    // go back at once, so a client dripping its hello holds none) until the rules decide, and are sent to
    // the server before anything else. Bytes that arrive after the decision, while connecting, wait in
    // dir[kClient].q as on an established session.
    bool early = false;
    std::uint16_t dst_port = 0;      // the listener's port (dst_port)
    config::SockAddr* mapped = nullptr;  // a server without a port: the address its connect took (owned)
    net::Block* held = nullptr;
    std::int64_t inspect_until = 0;  // the inspect-delay's end (ms, monotonic)
    // tcp-response content (the backend's rules): the server's bytes wait in dir[kServer].q, unsent, until the
    // rules decide (`rsp_inspect`, bounded by `rsp_until`); `rsp_close`: a `close` let through what came, then
    // the session ends
    bool rsp_inspect = false;
    bool rsp_close = false;
    std::int64_t rsp_until = 0;
    Side side[2];
    std::int64_t last_ms[2] = {0, 0};  // when each side last made progress (timeouts)
    Dir dir[2];
    sockaddr_storage peer{};
    __kernel_timespec connect_ts{};
    // for the tcplog record (ms, monotonic; -1 = did not happen)
    std::int64_t t_accept = 0;
    std::int64_t t_connect = -1;
    std::int64_t t_connected = -1;
    // TLS (tcp_tls.cpp): the record layers of a TLS bind's client (`tls`) and of a server reached
    // over TLS (`stls`). While either side's records are made and opened in user space (kTlsUser)
    // both directions move through `tq` (tq[side]: what goes to that side, records to a TLS side,
    // plaintext to a plain one) instead of `dir`; once the kernel took the client's records
    // (kTlsKernel, plain server only) the session is a plain one again.
    tls::Conn* tls = nullptr;
    tls::Conn* stls = nullptr;
    net::SendQueue tq[2];
    std::uint8_t tls_sealed[2] = {0, 0};  // the first pieces of tq[side] that are records
    std::uint8_t tlsf = 0;                // kTls* bits
    bool pp_sent = false;                 // the PROXY header went to the server (send-proxy)
    PpInfo* pp = nullptr;                 // a PROXY header's addresses and TLVs, the local address (preface.hpp)
    stick::Refs* trk = nullptr;           // what it tracks in stick tables (stick/table.hpp)
    rules::Vars* vars = nullptr;          // its variables (set-var)
    std::string* pp_out = nullptr;        // the PROXY header being sent
};

enum : std::uint8_t {
    kTlsUser = 1u << 0,     // records in user space: the tq path
    kTlsWait = 1u << 1,     // `ktls on`: offered to the kernel once the session is established and quiet
    kTlsKernel = 1u << 2,   // the kernel makes and opens the records: plaintext on the client socket
    kTlsFailed = 1u << 3,   // the handshake failed: close once its alert is out
};

}  // namespace es::proxy
