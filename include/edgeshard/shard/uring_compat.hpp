// The one place that knows liburing 2.3's gaps (DESIGN.md §5 rule 9, IO_URING.md §1).
// Newer kernel features are used through raw values here, always gated on the runtime probe.
#pragma once

#include <liburing.h>

#include <cstdint>

namespace es::shard::compat {

// Opcodes newer than liburing 2.3's enum (values from the kernel uapi).
inline constexpr std::uint8_t kOpUringCmd = 46;        // IORING_OP_URING_CMD (5.19; socket cmds 6.7)
inline constexpr std::uint8_t kOpFixedFdInstall = 54;  // IORING_OP_FIXED_FD_INSTALL (6.8)

inline constexpr std::uint32_t kSocketUringOpSetsockopt = 3;  // SOCKET_URING_OP_SETSOCKOPT (6.7)

// Accept one connection into a slot the kernel allocates. liburing 2.3's
// io_uring_prep_accept_direct() adds 1 to IORING_FILE_INDEX_ALLOC, which wraps to 0 and silently
// turns the accept into a plain one, so the target is set here directly.
inline void prep_accept_direct_alloc(io_uring_sqe* sqe, int fd, sockaddr* addr, socklen_t* len, int flags) {
    io_uring_prep_accept(sqe, fd, addr, len, flags);
    sqe->file_index = IORING_FILE_INDEX_ALLOC;
}

// setsockopt on a direct descriptor, without a regular fd. `optval` must stay valid until the CQE.
inline void prep_setsockopt_fixed(io_uring_sqe* sqe, int slot, int level, int optname, const void* optval,
                                  int optlen = sizeof(int)) {
    io_uring_prep_rw(kOpUringCmd, sqe, slot, nullptr, 0, 0);
    sqe->off = kSocketUringOpSetsockopt;  // cmd_op lives in the low 32 bits of off
    sqe->addr = std::uint64_t(std::uint32_t(level)) | (std::uint64_t(std::uint32_t(optname)) << 32);
    sqe->splice_fd_in = optlen;
    sqe->addr3 = reinterpret_cast<std::uint64_t>(optval);
    sqe->flags |= IOSQE_FIXED_FILE;
}

// Make a regular fd (O_CLOEXEC) that refers to the same file as a direct descriptor; the CQE
// result is the new fd. Used when a direction switches to splice(2), which needs real fds.
inline void prep_fixed_fd_install(io_uring_sqe* sqe, int slot) {
    io_uring_prep_rw(kOpFixedFdInstall, sqe, slot, nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
}

}  // namespace es::shard::compat
