// The watchdog (see watchdog.hpp).
#include "watchdog.hpp"

#include "edgeshard/control/control_shard.hpp"

#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "edgeshard/core/clock.hpp"

namespace es::control {

namespace {

// The stuck shard's backtrace: the watchdog signals its thread, whose handler records the frames here.
constexpr int kBacktraceSignal = 38;  // SIGRTMIN+4 on Linux/glibc: unused by the process
void* g_frames[64];
std::atomic<int> g_nframes{-1};

void on_backtrace_signal(int) {
    const int n = ::backtrace(g_frames, 64);
    g_nframes.store(n, std::memory_order_release);
}

bool under_valgrind() {
    const char* p = std::getenv("LD_PRELOAD");
    return p != nullptr && std::strstr(p, "vgpreload") != nullptr;
}

void put(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n <= 0) return;
        off += std::size_t(n);
    }
}

}  // namespace

Watchdog::Watchdog(const config::Global& g) : warn_ms_(g.watchdog_warn_ms), panic_ms_(g.watchdog_panic_ms) {
    // under valgrind every turn is ~50x slower: a panic there would only measure the instrumentation
    if (under_valgrind()) panic_ms_ = 0;
    void* warm[4];
    ::backtrace(warm, 4);  // loads what backtrace() needs now, not in a signal handler
    struct sigaction sa {};
    sa.sa_handler = on_backtrace_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(kBacktraceSignal, &sa, nullptr);
}

std::int64_t Watchdog::next_due_ms(std::int64_t now_ms) const {
    if (warn_ms_ <= 0 && panic_ms_ <= 0) return 1000;
    return last_ms_ < 0 ? 0 : std::max<std::int64_t>(0, last_ms_ + kCheckMs - now_ms);
}

std::int64_t Watchdog::stalled_ms(std::size_t i, std::int64_t now_ms) const {
    return i < seen_.size() ? now_ms - seen_[i].progress_ms : 0;
}

void Watchdog::check(const shard::Runtime& rt, std::int64_t now_ms) {
    if (warn_ms_ <= 0 && panic_ms_ <= 0) return;
    if (last_ms_ >= 0 && now_ms - last_ms_ < kCheckMs) return;
    // a control loop that itself did not run for a while (the whole process stopped, SIGSTOP, a debugger) cannot
    // tell what the shards did meanwhile: their watch starts again from now
    const bool gap = last_ms_ >= 0 && now_ms - last_ms_ > 10 * kCheckMs;
    last_ms_ = now_ms;
    if (gap)
        for (Seen& s : seen_) s.progress_ms = now_ms;
    const std::size_t n = rt.shard_count();
    if (seen_.size() < n) seen_.resize(n, Seen{0, now_ms, false});
    for (std::size_t i = 0; i < n; ++i) {
        Seen& s = seen_[i];
        if (!rt.running(i)) {
            s.progress_ms = now_ms;
            continue;
        }
        const stats::ShardCounters& c = rt.shard_stats(i).shard;
        const std::uint64_t loops = c.loops.get();
        if (c.waiting.get() != 0 || loops != s.loops) {
            if (s.warned)
                std::fprintf(stderr, "[WARNING] watchdog: shard %zu is running again after %" PRId64 " ms\n", i,
                             now_ms - s.progress_ms);
            s.loops = loops;
            s.progress_ms = now_ms;
            s.warned = false;
            continue;
        }
        const std::int64_t stalled = now_ms - s.progress_ms;
        if (warn_ms_ > 0 && stalled >= warn_ms_ && !s.warned) {
            s.warned = true;
            std::fprintf(stderr, "[WARNING] watchdog: shard %zu has run one loop turn for %" PRId64 " ms: %s\n", i,
                         stalled, shard_state(rt, i, now_ms).c_str());
        }
        if (panic_ms_ > 0 && stalled >= panic_ms_) panic(rt, i, now_ms);
    }
}

std::string Watchdog::shard_state(const shard::Runtime& rt, std::size_t i, std::int64_t now_ms) const {
    const shard::ShardInfo& in = rt.shard_info(i);
    const stats::ShardCounters& c = rt.shard_stats(i).shard;
    char buf[512];
    const bool waiting = c.waiting.get() != 0;
    const std::int64_t st = stalled_ms(i, now_ms);
    std::snprintf(buf, sizeof buf,
                  "thread %" PRId64 " on CPU %d, %s; loops=%" PRIu64 " cqes=%" PRIu64 " submits=%" PRIu64
                  " mailbox_msgs=%" PRIu64 " wakeups=%" PRIu64 " conns=%" PRId64 " ssl_conns=%" PRId64
                  " buffers_out=%" PRId64 " ring sq=%u cq=%u",
                  c.tid.get(), in.cpu,
                  !rt.running(i) ? "not running"
                  : waiting      ? "waiting for work"
                                 : (std::string("in a loop turn for ") + std::to_string(st) + " ms").c_str(),
                  c.loops.get(), c.cqes.get(), c.submits.get(), c.mailbox_msgs.get(), c.wakeups.get(), c.conns.get(),
                  c.ssl_conns.get(), c.buffers_out.get(), in.sq_entries, in.cq_entries);
    return buf;
}

std::string Watchdog::show_threads(const shard::Runtime& rt, std::int64_t now_ms) const {
    std::string out;
    for (std::size_t i = 0; i < rt.shard_count(); ++i) {
        const bool stuck = rt.running(i) && warn_ms_ > 0 && rt.shard_stats(i).shard.waiting.get() == 0 &&
                           stalled_ms(i, now_ms) >= warn_ms_;
        out += stuck ? ">" : " ";
        out += "Shard " + std::to_string(i) + (stuck ? " (STUCK)" : "") + ": " + shard_state(rt, i, now_ms) + "\n";
    }
    out += " Control: thread " + std::to_string(::gettid()) + " (this CLI, health checks, DNS, logs)\n";
    return out;
}

void Watchdog::panic(const shard::Runtime& rt, std::size_t stuck, std::int64_t now_ms) {
    std::string dump = "[ALERT] watchdog: PANIC: shard " + std::to_string(stuck) + " has run one loop turn for " +
                       std::to_string(now_ms - seen_[stuck].progress_ms) +
                       " ms (tune.es.watchdog-panic); the process aborts. State of every shard:\n";
    for (std::size_t i = 0; i < rt.shard_count(); ++i)
        dump += (i == stuck ? ">" : " ") + std::string("shard ") + std::to_string(i) + ": " +
                shard_state(rt, i, now_ms) + "\n";
    dump += "Backtrace of shard " + std::to_string(stuck) + ":\n";
    g_nframes.store(-1, std::memory_order_relaxed);
    if (rt.signal_shard(stuck, kBacktraceSignal)) {
        const std::int64_t until = core::now_ms() + 1000;
        while (g_nframes.load(std::memory_order_acquire) < 0 && core::now_ms() < until) std::this_thread::yield();
    }
    const char* dir = std::getenv("TMPDIR");
    const std::string path = std::string(dir && *dir ? dir : "/tmp") + "/edgeshard-panic-" +
                             std::to_string(::getpid()) + ".txt";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int nframes = g_nframes.load(std::memory_order_acquire);
    for (const int out : {2, fd}) {
        if (out < 0) continue;
        put(out, dump);
        if (nframes > 0) ::backtrace_symbols_fd(g_frames, nframes, out);
        else put(out, "  (the shard's thread did not answer the signal)\n");
    }
    if (fd >= 0) {
        ::close(fd);
        put(2, "[ALERT] watchdog: the dump is in " + path + "\n");
    }
    std::abort();
}

#if !defined(__SANITIZE_ADDRESS__)
namespace {

void on_fatal_signal(int sig) {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    char head[160];
    const int n = std::snprintf(head, sizeof head, "[ALERT] fatal signal %d (%s) in thread %d (%s); backtrace:\n",
                                sig, strsignal(sig), int(::gettid()), name);
    if (n > 0) (void)!::write(2, head, std::size_t(n));
    void* frames[64];
    const int nf = ::backtrace(frames, 64);
    ::backtrace_symbols_fd(frames, nf, 2);
    ::raise(sig);  // the handler was reset (SA_RESETHAND): the default action, a core dump where allowed
}

}  // namespace
#endif

void install_crash_handlers() {
#if defined(__SANITIZE_ADDRESS__)
    return;  // AddressSanitizer reports these itself
#else
    void* warm[4];
    ::backtrace(warm, 4);
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (const int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) sigaction(sig, &sa, nullptr);
#endif
}

}  // namespace es::control
