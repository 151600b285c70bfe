// What zero-copy sends would save on the TLS bulk path, measured on this box: a sender thread
// (pinned) fills 32 KiB blocks the way direct sealing does (every byte written just before the
// send, as a cipher writes its output) and sends them over a loopback TCP connection with io_uring
// (SINGLE_ISSUER, DEFER_TASKRUN), a receiver thread (pinned elsewhere) drains them. Modes:
//   send       IORING_OP_SEND from plain heap blocks (today's path: the kernel copies each block)
//   zc         IORING_OP_SEND_ZC from the same blocks (pages pinned per send, notification CQE)
//   zc-fixed   IORING_OP_SEND_ZC from registered buffers (IORING_RECVSEND_FIXED_BUF: no pinning)
// Prints one JSON line per mode and round: bytes, sender CPU seconds (CLOCK_THREAD_CPUTIME_ID),
// CPU per GB, and for zc modes how many notifications said the kernel copied anyway.
//   sendzc [--bytes N] [--rounds R] [--send-cpu C] [--recv-cpu C] [--inflight K]
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr unsigned kBlock = 32768;
// Linux 6.2 values liburing 2.3 does not name (IO_URING.md): ask the notification to say whether
// the kernel copied after all, and that answer's bit
constexpr unsigned kZcReportUsage = 1u << 3;  // IORING_SEND_ZC_REPORT_USAGE
constexpr unsigned kNotifCopied = 1u << 31;   // IORING_NOTIF_USAGE_ZC_COPIED

void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

double thread_cpu() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

double now() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

void die(const char* what, int e) {
    std::fprintf(stderr, "sendzc: %s: %s\n", what, std::strerror(e));
    std::exit(1);
}

// A connected loopback pair: {sender, receiver}.
void pair(int& a, int& b) {
    const int l = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa) || listen(l, 1) ||
        getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len))
        die("listen", errno);
    a = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(a, reinterpret_cast<sockaddr*>(&sa), sizeof sa)) die("connect", errno);
    b = accept(l, nullptr, nullptr);
    close(l);
    const int one = 1;
    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct Result {
    double cpu = 0, wall = 0;
    unsigned long long copied_notifs = 0, notifs = 0;
};

// The sender: blocks cycle through `inflight` slots; a slot is written again only when its send
// (and, zero-copy, its notification) completed.
Result run_sender(int fd, const std::string& mode, unsigned long long bytes, unsigned inflight, int cpu) {
    pin(cpu);
    io_uring ring;
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (int r = io_uring_queue_init_params(256, &ring, &p); r < 0) die("io_uring_queue_init", -r);
    std::vector<char*> blk(inflight);
    std::vector<iovec> iov(inflight);
    for (unsigned i = 0; i < inflight; ++i) {
        blk[i] = static_cast<char*>(aligned_alloc(4096, kBlock));
        std::memset(blk[i], 0, kBlock);
        iov[i] = {blk[i], kBlock};
    }
    const bool zc = mode != "send", fixed = mode == "zc-fixed";
    if (fixed)
        if (int r = io_uring_register_buffers(&ring, iov.data(), inflight); r < 0) die("register_buffers", -r);
    std::vector<int> busy(inflight, 0);  // completions still due for a slot (send, notification)
    Result res;
    const double c0 = thread_cpu(), w0 = now();
    unsigned long long sent = 0, queued = 0;
    unsigned next = 0;
    unsigned char fill = 1;
    while (sent < bytes) {
        // fill and queue every free slot
        while (queued < bytes && busy[next] == 0) {
            std::memset(blk[next], fill++, kBlock);  // the "cipher's output": every byte written
            io_uring_sqe* sqe = io_uring_get_sqe(&ring);
            if (!zc)
                io_uring_prep_send(sqe, fd, blk[next], kBlock, MSG_WAITALL);
            else if (fixed)
                io_uring_prep_send_zc_fixed(sqe, fd, blk[next], kBlock, MSG_WAITALL, kZcReportUsage, next);
            else
                io_uring_prep_send_zc(sqe, fd, blk[next], kBlock, MSG_WAITALL, kZcReportUsage);
            sqe->user_data = next;
            busy[next] = zc ? 2 : 1;
            queued += kBlock;
            next = (next + 1) % inflight;
        }
        io_uring_submit_and_wait(&ring, 1);
        io_uring_cqe* cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++n;
            const unsigned slot = unsigned(cqe->user_data);
            if (cqe->flags & IORING_CQE_F_NOTIF) {
                ++res.notifs;
                if (unsigned(cqe->res) & kNotifCopied) ++res.copied_notifs;
                --busy[slot];
                continue;
            }
            if (cqe->res < 0) die("send", -cqe->res);
            if (unsigned(cqe->res) != kBlock) die("short send", EIO);
            sent += kBlock;
            --busy[slot];
            if (zc && !(cqe->flags & IORING_CQE_F_MORE)) --busy[slot];  // no notification will come
        }
        io_uring_cq_advance(&ring, n);
    }
    // notifications still due
    for (;;) {
        bool due = false;
        for (int b : busy) due = due || b > 0;
        if (!due) break;
        io_uring_submit_and_wait(&ring, 1);
        io_uring_cqe* cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++n;
            if (cqe->flags & IORING_CQE_F_NOTIF) {
                ++res.notifs;
                if (unsigned(cqe->res) & kNotifCopied) ++res.copied_notifs;
            }
            --busy[unsigned(cqe->user_data)];
        }
        io_uring_cq_advance(&ring, n);
    }
    res.cpu = thread_cpu() - c0;
    res.wall = now() - w0;
    io_uring_queue_exit(&ring);
    for (char* b : blk) free(b);
    return res;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned long long bytes = 2ULL << 30;
    int rounds = 3, send_cpu = 1, recv_cpu = 0;
    unsigned inflight = 16;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--bytes") bytes = std::strtoull(argv[i + 1], nullptr, 10);
        else if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
        else if (a == "--send-cpu") send_cpu = std::atoi(argv[i + 1]);
        else if (a == "--recv-cpu") recv_cpu = std::atoi(argv[i + 1]);
        else if (a == "--inflight") inflight = unsigned(std::atoi(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: sendzc [--bytes N] [--rounds R] [--send-cpu C] [--recv-cpu C] [--inflight K]\n");
            return 2;
        }
    }
    bytes = bytes / kBlock * kBlock;
    for (int r = 1; r <= rounds; ++r) {
        for (const char* mode : {"send", "zc", "zc-fixed"}) {
            int a, b;
            pair(a, b);
            std::thread rx([&] {
                pin(recv_cpu);
                std::vector<char> buf(1 << 18);
                unsigned long long got = 0;
                while (got < bytes) {
                    const ssize_t n = recv(b, buf.data(), buf.size(), 0);
                    if (n <= 0) break;
                    got += std::size_t(n);
                }
            });
            const Result res = run_sender(a, mode, bytes, inflight, send_cpu);
            rx.join();
            close(a);
            close(b);
            std::printf("{\"round\": %d, \"mode\": \"%s\", \"bytes\": %llu, \"sender_cpu_s\": %.3f, \"wall_s\": %.3f, "
                        "\"cpu_s_per_gb\": %.4f, \"notifications\": %llu, \"copied\": %llu}\n",
                        r, mode, bytes, res.cpu, res.wall, res.cpu / (double(bytes) / 1e9), res.notifs,
                        res.copied_notifs);
            std::fflush(stdout);
        }
    }
    return 0;
}
