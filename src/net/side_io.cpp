#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <liburing.h>

#include "edgeshard/core/flags.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/shard/uring_compat.hpp"
#include "edgeshard/shard/reactor.hpp"

namespace es::net {

namespace {
constexpr int kOne = 1;
}

std::string show_side_flags(std::uint16_t flags) {
    static constexpr core::FlagName kNames[] = {
        {kSideRecv, "RECV"},   {kSideRecvCancel, "RCAN"},   {kSideStarved, "STRV"},    {kSideEof, "EOF"},
        {kSideReset, "RST"},   {kSideShut, "SHUT"},         {kSideShutFlight, "SHTF"}, {kSideInstalling, "INST"},
        {kSidePollIn, "PIN"},  {kSidePollOut, "POUT"},      {kSideSockNonEmpty, "MORE"},
    };
    return core::show_flags(flags, kNames);
}

int SideIo::recv(ConnSide& s, std::uint64_t ud, bool multishot) {
    if (!s.can_recv()) return 0;
    if (!record({SideOp::Recv, s.slot, ud, 0, multishot})) {
        io_uring_sqe* sqe = r_.sqe();
        // len 0: the selected buffer's size
        if (multishot) io_uring_prep_recv_multishot(sqe, s.slot, nullptr, 0, 0);
        else io_uring_prep_recv(sqe, s.slot, nullptr, 0, 0);
        sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
        sqe->buf_group = bufs_.group();
        io_uring_sqe_set_data64(sqe, ud);
    }
    s.set(kSideRecv);
    s.clear(kSideRecvCancel);
    return 1;
}

int SideIo::cancel_recv(ConnSide& s, std::uint64_t recv_ud, std::uint64_t ud) {
    if (!s.has(kSideRecv) || s.has(kSideRecvCancel)) return 0;
    if (!record({SideOp::CancelRecv, s.slot, ud, recv_ud})) {
        io_uring_sqe* sqe = r_.sqe();
        io_uring_prep_cancel64(sqe, recv_ud, 0);
        io_uring_sqe_set_data64(sqe, ud);
    }
    s.set(kSideRecvCancel);
    return 1;
}

int SideIo::socket(int family, std::uint64_t ud) {
    if (record({SideOp::Socket, family, ud})) return 1;
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_socket_direct_alloc(sqe, family, SOCK_STREAM, 0, 0);
    io_uring_sqe_set_data64(sqe, ud);
    return 1;
}

int SideIo::connect(const ConnSide& s, const sockaddr* addr, socklen_t len, std::int64_t timeout_ms,
                    __kernel_timespec& ts, std::uint64_t ud_opt, std::uint64_t ud_conn, std::uint64_t ud_timeout) {
    // recorded: the connect and its timeout (ud2 0 when there is none); no setsockopt to complete
    if (record({SideOp::Connect, s.slot, ud_conn, timeout_ms > 0 ? ud_timeout : 0})) return timeout_ms > 0 ? 2 : 1;
    r_.reserve(3);
    int ops = 0;
    io_uring_sqe* sqe;
    if (sockopt_ok_) {
        sqe = r_.sqe();
        shard::compat::prep_setsockopt_fixed(sqe, s.slot, IPPROTO_TCP, TCP_NODELAY, &kOne);
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_sqe_set_data64(sqe, ud_opt);
        ++ops;
    }
    sqe = r_.sqe();
    io_uring_prep_connect(sqe, s.slot, addr, len);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud_conn);
    ++ops;
    if (timeout_ms > 0) {
        sqe->flags |= IOSQE_IO_LINK;
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (timeout_ms % 1000) * 1000000;
        sqe = r_.sqe();
        io_uring_prep_link_timeout(sqe, &ts, 0);
        io_uring_sqe_set_data64(sqe, ud_timeout);
        ++ops;
    }
    return ops;
}

int SideIo::shutdown(ConnSide& s, std::uint64_t ud) {
    if (!record({SideOp::Shutdown, s.slot, ud})) {
        io_uring_sqe* sqe = r_.sqe();
        io_uring_prep_shutdown(sqe, s.slot, SHUT_WR);
        sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, ud);
    }
    s.set(kSideShut | kSideShutFlight);
    return 1;
}

int SideIo::shut_done(ConnSide& s, std::uint64_t ud_close) {
    s.clear(kSideShutFlight);
    if (s.deferred_close < 0) return 0;
    const int n = close_slot(s.deferred_close, ud_close);
    s.deferred_close = -1;
    return n;
}

int SideIo::poll(ConnSide& s, bool out, std::uint64_t ud) {
    const std::uint16_t f = out ? kSidePollOut : kSidePollIn;
    if (s.has(f) || s.slot < 0) return 0;
    if (!record({SideOp::Poll, s.slot, ud, 0, out})) {
        io_uring_sqe* sqe = r_.sqe();
        io_uring_prep_poll_add(sqe, s.slot, out ? POLLOUT : POLLIN);
        sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, ud);
    }
    s.set(f);
    return 1;
}

int SideIo::install(ConnSide& s, std::uint64_t ud) {
    if (s.fd >= 0 || s.has(kSideInstalling) || s.slot < 0) return 0;
    if (!record({SideOp::Install, s.slot, ud})) {
        io_uring_sqe* sqe = r_.sqe();
        shard::compat::prep_fixed_fd_install(sqe, s.slot);
        io_uring_sqe_set_data64(sqe, ud);
    }
    s.set(kSideInstalling);
    return 1;
}

void SideIo::install_done(ConnSide& s, int res) {
    s.clear(kSideInstalling);
    if (res < 0) return;
    if (s.fd >= 0 || s.slot < 0) {  // closed meanwhile (or installed twice): not ours to keep
        ::close(res);
        return;
    }
    s.fd = res;
}

int SideIo::close(ConnSide& s, std::uint64_t ud_cancel, std::uint64_t ud_close) {
    int ops = 0;
    if (s.slot >= 0) {
        if (!record({SideOp::Close, s.slot, ud_close, ud_cancel, s.has(kSideShutFlight)})) {
            io_uring_sqe* sqe = r_.sqe();
            io_uring_prep_cancel_fd(sqe, s.slot, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
            io_uring_sqe_set_data64(sqe, ud_cancel);
        }
        ++ops;
        // an in-flight SHUT_WR resolves the slot when io-wq issues it: the slot must stay ours
        // until its completion (DESIGN 5.10); shut_done() closes it then
        if (s.has(kSideShutFlight)) s.deferred_close = s.slot;
        else if (rec_) ++ops;  // recorded with the cancel above
        else ops += close_slot(s.slot, ud_close);
        s.slot = -1;
    }
    if (s.fd >= 0) {
        ::close(s.fd);  // the regular fd installed for splice(2)
        s.fd = -1;
    }
    return ops;
}

int SideIo::reset_slot(int slot, std::uint64_t ud_opt, std::uint64_t ud_close) {
    if (!sockopt_ok_) return close_slot(slot, ud_close);
    if (record({SideOp::CloseSlot, slot, ud_close})) return 1;
    static const linger kAbort{1, 0};  // read by the kernel when the op runs: static storage
    r_.reserve(2);
    io_uring_sqe* sqe = r_.sqe();
    shard::compat::prep_setsockopt_fixed(sqe, slot, SOL_SOCKET, SO_LINGER, &kAbort, int(sizeof kAbort));
    sqe->flags |= IOSQE_IO_HARDLINK;
    io_uring_sqe_set_data64(sqe, ud_opt);
    sqe = r_.sqe();
    io_uring_prep_close_direct(sqe, unsigned(slot));
    io_uring_sqe_set_data64(sqe, ud_close);
    return 2;
}

int SideIo::close_slot(int slot, std::uint64_t ud_close) {
    if (record({SideOp::CloseSlot, slot, ud_close})) return 1;
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_close_direct(sqe, unsigned(slot));
    io_uring_sqe_set_data64(sqe, ud_close);
    return 1;
}

}  // namespace es::net
