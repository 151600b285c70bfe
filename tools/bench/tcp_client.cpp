// The tcp client: N flows over T threads. `up` sends without pause (a sink or a proxy in front
// of one at the other end), `down` only reads (a source at the other end), `both` does both at
// once (an echo, or a proxy in front of one). Bytes are counted per flow and per second of the
// measured period; Jain's fairness index over the flows comes with the result.
#include <unistd.h>

#include <string>
#include <vector>

#include "common.hpp"
#include "loop.hpp"

namespace es::bench {

namespace {

constexpr std::int64_t kReconnectDelayNs = 10'000'000;
constexpr std::int64_t kTickNs = 100'000'000;

struct TFlow {
    int fd = -1;
    std::uint8_t gen = 0;
    bool connecting = false, sending = false;
    std::int64_t last_io_ns = 0;
    std::int64_t retry_at = 0;
    Flow bytes;
};

class TcpWorker {
public:
    TcpWorker(const Settings& s, unsigned index, std::int64_t start_ns, Progress* progress, const std::string& payload)
        : s_(s),
          measure_ns_(start_ns + std::int64_t(s.warmup_s * 1e9)),
          end_ns_(measure_ns_ + std::int64_t(s.duration_s * 1e9)),
          progress_(progress),
          payload_(payload),
          loop_(s, payload_.data(), payload_.size()) {
        for (unsigned c = index; c < s.connections; c += s.threads) flows_.push_back(TFlow{});
        res_.timeline.resize(std::size_t(s.duration_s + 0.999999));
        send_ = s.direction != "down";
        recv_ = s.direction != "up";
    }
    ~TcpWorker() {
        for (TFlow& f : flows_)
            if (f.fd >= 0) ::close(f.fd);
    }

    Result run() {
        now_ = mono_ns();
        for (TFlow& f : flows_) connect(f);
        arm_tick();
        loop_.reactor().run(*this);
        res_.elapsed_s = double(std::min(mono_ns(), end_ns_) - measure_ns_) / 1e9;
        if (res_.elapsed_s < 0) res_.elapsed_s = 0;
        for (const TFlow& f : flows_) res_.flows.push_back(f.bytes);
        flush_progress();
        return std::move(res_);
    }

    void on_cqe(const shard::Cqe& e) {
        const shard::UserData u = shard::UserData::unpack(e.user_data);
        now_ = mono_ns();
        if (u.op == kOpTick) {
            on_tick();
            return;
        }
        TFlow& f = flows_[u.obj];
        if (u.gen != f.gen) {
            if (u.op == kOpRecv && (e.flags & IORING_CQE_F_BUFFER)) recycle(e);
            return;
        }
        switch (u.op) {
        case kOpConnect:
            f.connecting = false;
            if (e.res < 0) {
                fail(f, &Errors::connect);
                return;
            }
            f.last_io_ns = now_;
            if (recv_) loop_.recv_multishot(f.fd, ud(kOpRecv, f));
            if (send_) send(f);
            break;
        case kOpSend:
            if (e.flags & IORING_CQE_F_NOTIF) break;
            f.sending = false;
            if (e.res <= 0) {
                fail(f, &Errors::write);
                return;
            }
            f.last_io_ns = now_;
            if (measuring()) {
                f.bytes.sent += std::uint64_t(e.res);
                res_.bytes_sent += std::uint64_t(e.res);
                sec().bytes += std::uint64_t(e.res);
                bytes_delta_ += std::uint64_t(e.res);
            }
            if (!done()) send(f);
            break;
        case kOpRecv:
            if (e.res > 0) {
                recycle(e);
                f.last_io_ns = now_;
                if (measuring()) {
                    f.bytes.received += std::uint64_t(e.res);
                    res_.bytes_received += std::uint64_t(e.res);
                    sec().bytes += std::uint64_t(e.res);
                    bytes_delta_ += std::uint64_t(e.res);
                }
                if (!(e.flags & IORING_CQE_F_MORE)) loop_.recv_multishot(f.fd, ud(kOpRecv, f));
            } else if (e.res == -ENOBUFS) {
                loop_.recv_multishot(f.fd, ud(kOpRecv, f));
            } else {
                fail(f, &Errors::read);
            }
            break;
        default:
            break;
        }
    }
    void run_ready() {}
    bool has_ready() const { return false; }
    void on_message(const shard::Message&) {}
    void on_timer(shard::Timer*) {}
    void end_of_turn() { loop_.bufs().publish(); }
    bool done() const { return now_ >= end_ns_; }

private:
    bool measuring() const { return now_ >= measure_ns_ && now_ < end_ns_; }
    std::uint64_t ud(std::uint8_t op, const TFlow& f) const {
        return shard::UserData::pack_raw(op, f.gen, std::uint64_t(&f - flows_.data()));
    }
    Second& sec() {
        std::size_t i = std::size_t((now_ - measure_ns_) / std::int64_t(kNsPerSec));
        if (i >= res_.timeline.size()) i = res_.timeline.size() - 1;
        return res_.timeline[i];
    }
    void recycle(const shard::Cqe& e) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        loop_.bufs().taken(bid);
        loop_.bufs().recycle(bid);
    }
    void connect(TFlow& f) {
        if (done()) return;
        const int fd = client_socket(s_);
        if (fd < 0) {
            if (measuring()) ++res_.errors.connect;
            f.retry_at = now_ + kReconnectDelayNs;
            return;
        }
        ++f.gen;
        f.fd = fd;
        f.connecting = true;
        f.sending = false;
        f.last_io_ns = now_;
        loop_.connect(fd, s_, ud(kOpConnect, f));
    }
    void send(TFlow& f) {
        if (f.sending || f.fd < 0) return;
        f.sending = true;
        loop_.send(f.fd, payload_.data(), payload_.size(), ud(kOpSend, f));
    }
    void fail(TFlow& f, std::uint64_t Errors::*kind) {
        if (measuring()) {
            ++(res_.errors.*kind);
            ++errors_delta_;
        }
        if (f.fd >= 0) {
            ::shutdown(f.fd, SHUT_RDWR);
            ::close(f.fd);
        }
        f.fd = -1;
        ++f.gen;
        f.connecting = f.sending = false;
        f.retry_at = now_ + kReconnectDelayNs;
    }
    void on_tick() {
        for (TFlow& f : flows_) {
            if (f.fd < 0) {
                if (now_ >= f.retry_at) connect(f);
                continue;
            }
            if (now_ - f.last_io_ns > std::int64_t(s_.timeout_ms) * 1'000'000)
                fail(f, f.connecting ? &Errors::connect : &Errors::timeout);
        }
        flush_progress();
        arm_tick();
    }
    void arm_tick() {
        if (done()) return;
        std::int64_t at = now_ + kTickNs / 10;  // reconnects wait at most 10 ms
        if (at > end_ns_) at = end_ns_;
        loop_.timeout_at(&tick_ts_, at, shard::UserData::pack_raw(kOpTick, 0, 0));
    }
    void flush_progress() {
        if (!progress_) return;
        progress_->bytes.fetch_add(bytes_delta_, std::memory_order_relaxed);
        progress_->errors.fetch_add(errors_delta_, std::memory_order_relaxed);
        bytes_delta_ = errors_delta_ = 0;
    }

    const Settings& s_;
    const std::int64_t measure_ns_, end_ns_;
    Progress* progress_;
    const std::string& payload_;
    Loop loop_;
    std::vector<TFlow> flows_;
    Result res_;
    bool send_ = true, recv_ = false;
    std::int64_t now_ = 0;
    __kernel_timespec tick_ts_{};
    std::uint64_t bytes_delta_ = 0, errors_delta_ = 0;
};

}  // namespace

Result run_tcp(const Settings& s, Progress* progress) {
    std::string payload(s.chunk_size, 'x');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = char('a' + i % 26);
    std::vector<Result> parts(s.threads);
    const std::int64_t start = mono_ns() + 20'000'000;
    run_threads(s, [&](unsigned i, int) {
        TcpWorker w(s, i, start, progress, payload);
        while (mono_ns() < start) usleep(1000);
        parts[i] = w.run();
    });
    return merge_parts(parts);
}

}  // namespace es::bench
