// Drives one shard's HTTP/1 proxy (proxy::Worker) without sockets. Every op a connection side
// would queue is recorded instead (net::SideIo's recorder), and the test plays the kernel: it
// completes recorded ops with the results it chooses, in the order it chooses, and ends turns.
// The Worker, its buffer ring and its Reactor are real (the ring exists but sees no op), so the
// io_uring setup must be available: available() says whether it is.
//
// A session starts with accept(slot) as a listener's completion would start it. Each recorded op
// is expected once, in order per slot (expect); completions name the op they complete. Received
// bytes go into provided buffers the harness picks (fresh ids, in increasing order) and reach
// the proxy as a receive completion naming that buffer. A recorded send's bytes are read from
// its msghdr, which stays valid until the send is completed.
//
// finish() (or the destructor) stops the worker and completes every op still in flight the way
// the kernel would after a hard stop (cancelled, closed), until the worker is done: every
// session, server connection and pooled object must have been released by then.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/proxy/h1_types.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::proxy::test {

using Kind = net::SideOp::Kind;
using net::SideOp;

std::string kind_name(Kind k);

// One recorded op and its place in the order of recording.
struct Recorded {
    SideOp op{};
    int seq = -1;
    int family = 0;  // Socket: the address family (op.slot holds it; `slot` is -1)
    int slot() const { return op.kind == SideOp::Socket ? -1 : op.slot; }
};

class H1Harness final : public net::SideOpRecorder {
public:
    static constexpr int kFirstServerSlot = 100;  // server sockets get 100, 101, ... in order

    // False where io_uring (a ring with a provided-buffer ring) cannot be set up: skip then.
    static bool available();
    // mode http; frontend `fe` -> backend `be` with one server `s1` on 127.0.0.1:9. The extra
    // lines go at the end of their section (each line without its indentation).
    static std::string config(std::string_view backend_lines = "", std::string_view frontend_lines = "",
                              std::string_view global_lines = "");

    explicit H1Harness(const std::string& cfg_text = config());
    ~H1Harness() override;
    H1Harness(const H1Harness&) = delete;
    H1Harness& operator=(const H1Harness&) = delete;

    Worker& worker() { return *worker_; }
    stats::ShardStats& stats() { return *stats_; }
    stats::ServerCounters& server_stats() { return stats_->srv[0][0]; }

    // A client connection accepted on the frontend as direct descriptor `slot`.
    void accept(int slot);
    void end_turn();

    // ---- recorded ops
    // The next op on `slot` not expected yet must be of kind `k` (else the test fails, with the
    // log of ops). Ops on other slots may come before it.
    Recorded expect(Kind k, int slot);
    Recorded expect_socket();  // the next Socket op not expected yet
    // Nothing was recorded on `slot` that was not expected yet.
    void expect_quiet(int slot);
    bool recorded(Kind k) const;  // an op of this kind anywhere in the log (Socket: any family)
    std::string dump() const;     // the log, with what is expected already and what is in flight

    // ---- completions (the kernel's side)
    // Bytes received on `slot`'s armed receive: one completion per provided buffer; `more`
    // (IORING_CQE_F_MORE) on the last says the multishot receive stays armed.
    void deliver(int slot, std::string_view bytes, bool more = true);
    // The armed receive on `slot` ends with `res` (0: the peer's FIN; -ENOBUFS, -ECONNRESET ...).
    void end_recv(int slot, int res);
    // Socket: a new direct descriptor (the next server slot), returned.
    int complete_socket(const Recorded& r);
    // Connect (and its linked timeout, cancelled by the connect's success).
    void complete_connect(const Recorded& r, int res = 0);
    // The bytes a recorded send hands the kernel.
    std::string sent(const Recorded& r) const;
    // A send completion: `n` bytes taken (all of them when n < 0); returns them (the msghdr
    // may be reused once the send is completed).
    std::string complete_send(const Recorded& r, int n = -1);
    // A recv cancel: the receive ends with -ECANCELED (when still armed), then the cancel.
    void complete_cancel(const Recorded& r);
    // Close: every other op in flight on the slot is cancelled, then the cancel and the close
    // complete (only the cancel when a SHUT_WR in flight defers the close).
    void complete_close(const Recorded& r);
    // Any other op, with its result.
    void complete(const Recorded& r, int res, std::uint32_t flags = 0);

    // ---- shortcuts
    // Socket -> slot -> Connect -> connected, and the receive armed on it: the server slot.
    int open_server();
    // The next send on `slot`, completed in full: its bytes.
    std::string send_done(int slot);
    // Completes the sends on `slot` (and those they lead to) until none is in flight: their bytes.
    std::string drain_sends(int slot);

    // ---- the objects behind a slot (from the user_data of their latest op)
    H1Conn& session(int slot) const;
    H1SrvConn& conn(int slot) const;
    bool in_flight(Kind k, int slot) const;  // an op of that kind on `slot` awaits a completion

    // Stops the worker and completes everything in flight until it is done (see the top).
    void finish();

private:
    // an expected completion: a recorded op, or its second completion (a connect's linked
    // timeout, a close's cancel)
    struct Pending {
        int seq;  // the op's place in the log
        std::uint64_t ud;
        Kind kind;
        int slot;
        bool multishot = false;
        bool timeout = false;   // a connect's linked timeout
        bool cancel_all = false;  // a close's cancel of every op on the slot
    };
    void op(const SideOp& o) override;
    void stop_and_drain();
    void cqe(std::uint64_t ud, int res, std::uint32_t flags);
    Pending* find_pending(std::uint64_t ud, bool timeout = false, bool cancel_all = false);
    void drop_pending(std::uint64_t ud, bool timeout = false, bool cancel_all = false);
    const Pending* armed_recv(int slot) const;
    std::uint64_t owner_ud(int slot, bool server) const;

    std::unique_ptr<config::Config> cfg_;
    std::unique_ptr<stats::ShardStats> stats_;
    std::unique_ptr<shard::Reactor> reactor_;
    WorkerParams params_;
    std::unique_ptr<Worker> worker_;
    std::vector<Recorded> log_;
    std::vector<bool> expected_;
    std::vector<Pending> pending_;
    std::vector<std::pair<int, std::uint64_t>> server_uds_;  // server slot -> its connection's op
    unsigned next_bid_ = 0;
    int next_server_slot_ = kFirstServerSlot;
    std::uint64_t bugs_at_start_ = 0;
    bool finished_ = false;
};

}  // namespace es::proxy::test
