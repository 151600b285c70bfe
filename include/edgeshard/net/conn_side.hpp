// One side of a proxied connection (a client socket or a server socket) and the io_uring ops that
// drive it. The L4 session has two, an HTTP client connection one and each HTTP server connection
// one; all of them are driven by the same SideIo, so arming a receive, cancelling it, shutting the
// write side down, installing a regular fd for splice(2), polling for readiness, the connect chain
// and a close that waits for the last op are written once.
//
// The owner keeps the count of its ops in flight (every SideIo call returns how many it queued)
// and the user_data of each op: SideIo knows nothing of sessions or protocols.
//
// The seam for a TLS layer is here: a layer that sits between the socket and the protocol above
// takes the receive completions of this side (ciphertext) and hands plaintext up, and takes the
// protocol's plaintext sends and queues ciphertext on this side; the protocol code keeps talking
// to "its side". With kernel TLS the socket does the record layer itself, and the side is used as
// it is now (buffers in, buffers out), with the handshake done before the first receive is armed.
#pragma once

#include <linux/time_types.h>
#include <sys/socket.h>

#include <liburing.h>

#include <cstdint>
#include <string>

#include "edgeshard/shard/reactor.hpp"

namespace es::net {

class BufRing;

// The flag word of a ConnSide (HAProxy's connection flag words, with the same kind of renderer:
// show_side_flags). A flag says what is in flight or what has happened on the socket; what the
// protocol above makes of it stays with the protocol.
enum SideFlag : std::uint16_t {
    kSideRecv = 1u << 0,         // RECV: a receive is in flight (multishot or single)
    kSideRecvCancel = 1u << 1,   // RCAN: its cancel is in flight
    kSideStarved = 1u << 2,      // STRV: ENOBUFS ended the receive; re-armed when buffers come back
    kSideEof = 1u << 3,          // EOF: the peer's FIN was read
    kSideReset = 1u << 4,        // RST: the read side ended with an error, not a FIN
    kSideShut = 1u << 5,         // SHUT: our SHUT_WR was sent (or is in flight)
    kSideShutFlight = 1u << 6,   // SHTF: SHUT_WR in flight; the slot's close waits for its completion
    kSideInstalling = 1u << 7,   // INST: FIXED_FD_INSTALL in flight (a regular fd for splice(2))
    kSidePollIn = 1u << 8,       // PIN: a one-shot POLLIN is armed
    kSidePollOut = 1u << 9,      // POUT: a one-shot POLLOUT is armed
    kSideSockNonEmpty = 1u << 10,// MORE: the last receive left bytes in the socket
};

struct ConnSide {
    int slot = -1;            // direct descriptor (-1: none)
    int fd = -1;              // regular fd, installed for splice(2) only, closed with the side
    int deferred_close = -1;  // a slot whose close waits for the in-flight SHUT_WR
    std::uint16_t flags = 0;

    bool has(std::uint16_t f) const { return (flags & f) != 0; }
    void set(std::uint16_t f) { flags = std::uint16_t(flags | f); }
    void clear(std::uint16_t f) { flags = std::uint16_t(flags & ~f); }
    // a receive may be armed: open, none in flight, no FIN yet, not waiting for buffers
    bool can_recv() const { return slot >= 0 && !has(kSideRecv | kSideEof | kSideStarved); }
};

// "RECV|EOF" (empty for none): the flag word for debug output and assertions' messages.
std::string show_side_flags(std::uint16_t flags);

// What a SideIo would have queued, handed to a recorder instead of the ring: the seam that lets a
// test drive a protocol's state machines with completions it makes up (no socket, no kernel op).
struct SideOp {
    enum Kind : std::uint8_t { Recv, CancelRecv, Socket, Connect, Send, Shutdown, Poll, Install, Close, CloseSlot };
    Kind kind;
    int slot;                   // the side's slot (Socket: the address family)
    std::uint64_t ud;           // the completion's user_data (Connect: the connect's; Close: the close's)
    std::uint64_t ud2 = 0;      // CancelRecv: the receive's; Close: the cancel's; Connect: the timeout's
    bool flag = false;          // Recv: multishot; Poll: POLLOUT
    const msghdr* msg = nullptr;  // Send: what the kernel would read until the completion
};
class SideOpRecorder {
public:
    virtual ~SideOpRecorder() = default;
    virtual void op(const SideOp& o) = 0;
};

// Queues the ops of connection sides on one shard's ring. Every call returns the number of ops it
// queued (0 when there was nothing to do); the caller adds it to its ops-in-flight count.
class SideIo {
public:
    SideIo(shard::Reactor& r, const BufRing& bufs, bool sockopt_ok) : r_(r), bufs_(bufs), sockopt_ok_(sockopt_ok) {}

    // A receive into the shard's provided buffers: multishot, or single-shot (one buffer).
    int recv(ConnSide& s, std::uint64_t ud, bool multishot = true);
    // Cancels the receive armed with `recv_ud`; the cancel completes as `ud`.
    int cancel_recv(ConnSide& s, std::uint64_t recv_ud, std::uint64_t ud);
    // A receive completion without IORING_CQE_F_MORE: the receive is over.
    static void recv_ended(ConnSide& s) { s.clear(kSideRecv | kSideRecvCancel); }

    // A new socket as a direct descriptor (blocking: io_uring polls it, and SENDMSG keeps
    // MSG_WAITALL semantics only while the file is not O_NONBLOCK).
    int socket(int family, std::uint64_t ud);
    // setsockopt(TCP_NODELAY) -> connect -> link_timeout(ms) on s.slot, reserved so an SQ-full
    // flush never splits the chain (a connect cut from its timeout could wait forever). `ts` must
    // live until the timeout completes.
    int connect(const ConnSide& s, const sockaddr* addr, socklen_t len, std::int64_t timeout_ms,
                __kernel_timespec& ts, std::uint64_t ud_opt, std::uint64_t ud_conn, std::uint64_t ud_timeout);
    // sendmsg on the side's slot (MSG_NOSIGNAL is added). Inline: one per exchange and direction.
    int sendmsg(const ConnSide& s, const msghdr* msg, unsigned flags, std::uint64_t ud) {
        if (record({SideOp::Send, s.slot, ud, 0, false, msg})) return 1;
        io_uring_sqe* sqe = r_.sqe();
        io_uring_prep_sendmsg(sqe, s.slot, msg, flags | MSG_NOSIGNAL);
        sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, ud);
        return 1;
    }
    // SHUT_WR. The op goes to io-wq and resolves the slot when issued: the slot must not be closed
    // or reused before its completion (close() defers, shut_done() closes).
    int shutdown(ConnSide& s, std::uint64_t ud);
    // The SHUT_WR completed: runs the close close() deferred, if any.
    int shut_done(ConnSide& s, std::uint64_t ud_close);
    // A one-shot readiness poll, armed at most once per direction.
    int poll(ConnSide& s, bool out, std::uint64_t ud);
    static void poll_done(ConnSide& s, bool out) { s.clear(out ? kSidePollOut : kSidePollIn); }
    // FIXED_FD_INSTALL: a regular fd for splice(2). install_done() takes the completion.
    int install(ConnSide& s, std::uint64_t ud);
    static void install_done(ConnSide& s, int res);
    // Cancels every op on the slot and closes it (the close waits for an in-flight SHUT_WR), and
    // closes the regular fd. The side is closed afterwards (slot -1).
    int close(ConnSide& s, std::uint64_t ud_cancel, std::uint64_t ud_close);
    // Closes a slot that has no op in flight (a failed connect, a socket made for a closed owner).
    int close_slot(int slot, std::uint64_t ud_close);
    // Closes with a reset (SO_LINGER 0, then the close, hard-linked: the close runs whatever the
    // setsockopt did); a plain close where setsockopt on a direct descriptor is not available.
    // `ud_opt` completes the setsockopt. Returns the ops submitted.
    int reset_slot(int slot, std::uint64_t ud_opt, std::uint64_t ud_close);

    // Tests: every op goes to `rec` instead of the ring (the flag words change as they would).
    void set_recorder(SideOpRecorder* rec) { rec_ = rec; }

private:
    bool record(const SideOp& o) {
        if (__builtin_expect(rec_ == nullptr, 1)) return false;
        rec_->op(o);
        return true;
    }

    shard::Reactor& r_;
    const BufRing& bufs_;
    bool sockopt_ok_;
    SideOpRecorder* rec_ = nullptr;
};

}  // namespace es::net
