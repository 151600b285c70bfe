#include "edgeshard/shard/probe.hpp"

#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "edgeshard/shard/uring_compat.hpp"

namespace es::shard {

namespace {

struct Need {
    int op;
    const char* name;
};

// Opcodes the data path cannot do without.
const Need kRequired[] = {
    {IORING_OP_ACCEPT, "ACCEPT"},         {IORING_OP_RECV, "RECV"},
    {IORING_OP_SENDMSG, "SENDMSG"},       {IORING_OP_CONNECT, "CONNECT"},
    {IORING_OP_SOCKET, "SOCKET"},         {IORING_OP_SHUTDOWN, "SHUTDOWN"},
    {IORING_OP_CLOSE, "CLOSE"},           {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT"}, {IORING_OP_POLL_ADD, "POLL_ADD"},
    {IORING_OP_READ, "READ"},
};

std::string setup_error(int err) {
    std::string m = "io_uring_setup failed: ";
    m += std::strerror(err);
    if (err == EPERM)
        m += ". io_uring is forbidden for this process: check `sysctl kernel.io_uring_disabled` (must be 0, or 1 "
             "with this user in kernel.io_uring_group) and the container's seccomp profile (Docker's default "
             "profile blocks io_uring_setup; run with a profile that allows io_uring_setup/enter/register)";
    else if (err == ENOSYS)
        m += ". this kernel has no io_uring (CONFIG_IO_URING=n); edgeshard needs Linux 6.1 or later";
    else if (err == EINVAL)
        m += ". the kernel rejects IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN; edgeshard needs Linux 6.1 or later";
    else if (err == ENOMEM)
        m += ". not enough locked memory for the ring (RLIMIT_MEMLOCK; systemd: LimitMEMLOCK=)";
    return m;
}

}  // namespace

ProbeResult probe_io_uring() {
    ProbeResult r;
    io_uring ring;
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP |
              IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = 64;
    const int ret = io_uring_queue_init_params(16, &ring, &p);
    if (ret < 0) {
        r.error = setup_error(-ret);
        return r;
    }
    std::string missing;
    if (!(p.features & IORING_FEAT_NODROP)) missing += " FEAT_NODROP";
    if (!(p.features & IORING_FEAT_FAST_POLL)) missing += " FEAT_FAST_POLL";
    if (!(p.features & IORING_FEAT_EXT_ARG)) missing += " FEAT_EXT_ARG";
    io_uring_probe* pr = io_uring_get_probe_ring(&ring);
    if (!pr) {
        missing += " REGISTER_PROBE";
    } else {
        for (const auto& n : kRequired)
            if (!io_uring_opcode_supported(pr, n.op)) (missing += " OP_") += n.name;
        r.fixed_fd_install = pr->last_op >= compat::kOpFixedFdInstall &&
                             io_uring_opcode_supported(pr, compat::kOpFixedFdInstall);
        const bool uring_cmd = pr->last_op >= compat::kOpUringCmd &&
                               io_uring_opcode_supported(pr, compat::kOpUringCmd);
        io_uring_free_probe(pr);
        // URING_CMD exists since 5.19 but socket setsockopt only since 6.7: try it for real
        if (uring_cmd && io_uring_register_files_sparse(&ring, 4) == 0) {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            io_uring_prep_socket_direct(sqe, AF_INET, SOCK_STREAM, 0, 0, 0);
            sqe->flags |= IOSQE_IO_LINK;
            static const int one = 1;
            sqe = io_uring_get_sqe(&ring);
            compat::prep_setsockopt_fixed(sqe, 0, SOL_SOCKET, SO_KEEPALIVE, &one);
            io_uring_submit_and_wait(&ring, 2);
            io_uring_cqe* cqe;
            int results[2] = {-1, -1};
            for (int i = 0; i < 2 && io_uring_peek_cqe(&ring, &cqe) == 0; ++i) {
                results[i] = cqe->res;
                io_uring_cqe_seen(&ring, cqe);
            }
            r.sockopt_cmd = results[0] == 0 && results[1] == 0;
        }
    }
    // provided buffer rings (5.19) and multishot accept/recv (6.0) are checked by registering one
    if (missing.empty()) {
        const size_t sz = sizeof(io_uring_buf) * 8;
        void* mem = mmap(nullptr, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<unsigned long>(mem);
        reg.ring_entries = 8;
        reg.bgid = 7;
        if (mem == MAP_FAILED || io_uring_register_buf_ring(&ring, &reg, 0) != 0)
            missing += " REGISTER_PBUF_RING";
        if (mem != MAP_FAILED) munmap(mem, sz);
    }
    io_uring_queue_exit(&ring);

    utsname u{};
    uname(&u);
    r.details = std::string("kernel ") + u.release + ", features 0x" + [&] {
        char b[16];
        std::snprintf(b, sizeof b, "%x", p.features);
        return std::string(b);
    }() + ", splice path " + (r.fixed_fd_install ? "yes" : "no (needs FIXED_FD_INSTALL, Linux 6.8)") +
                ", sockopt on direct fds " + (r.sockopt_cmd ? "yes" : "no (Linux 6.7)");
    if (!missing.empty()) {
        r.error = "io_uring on this kernel lacks what edgeshard needs:" + missing + " (" + r.details +
                  "); edgeshard needs Linux 6.1 or later with io_uring enabled";
        return r;
    }
    r.ok = true;
    r.tier = (r.fixed_fd_install && r.sockopt_cmd) ? "full" : "basic";
    return r;
}

}  // namespace es::shard
