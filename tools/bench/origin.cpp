// `edgeshard-bench origin`: a fast origin on the same runtime as the clients, so benchmarks and
// tests need no third-party server.
//
//   http     answers every request with `--status` (200) and a body of `--body-size` bytes,
//            optionally after `--delay`; keep-alive and pipelining as the client asks; request
//            bodies (Content-Length or chunked) are read and discarded. `--fail KIND=PERCENT`
//            makes a deterministic share of requests fail on purpose: a status code (e.g.
//            503=5), `reset` (RST instead of an answer), `close` (FIN instead of an answer),
//            `hang` (no answer: the client's timeout), `garbage` (an answer that is not HTTP).
//   sink     reads and discards; echo sends back what it reads; source sends without end.
//
// Each thread has its own SO_REUSEPORT listener per address and its own ring.
#include <csignal>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common.hpp"
#include "edgeshard/config/parser.hpp"
#include "edgeshard/http/parser.hpp"
#include "loop.hpp"

namespace es::bench {

namespace {

enum class Kind : std::uint8_t { Http, Sink, Echo, Source };
enum class Fail : std::uint8_t { None, Status, Reset, Close, Hang, Garbage };

struct ListenSpec {
    Kind kind;
    std::string addr;
    std::vector<int> fds;  // one per thread
    std::uint16_t port = 0;
};

struct OriginOptions {
    std::uint64_t body_size = 64;
    unsigned status = 200;
    std::int64_t delay_ns = 0;
    unsigned chunk_size = 65536;
    Fail table[100] = {};
    unsigned fail_status[100] = {};
};

constexpr std::size_t kMaxHead = 64 * 1024;
constexpr unsigned kMaxDelayed = 256;

struct OConn {
    int fd = -1;
    std::size_t slot = 0;
    std::uint8_t gen = 0;
    Kind kind = Kind::Http;
    bool sending = false, closing = false, hung = false;
    // http request parsing
    enum class Rs : std::uint8_t { Head, Length, Chunked } rs = Rs::Head;
    std::uint64_t body_left = 0;
    std::size_t scanned = 0;
    std::string head;
    http::ChunkedScanner chunked{16384};
    // answers owed, in order: each with the time it is due and what it is
    std::int64_t due[kMaxDelayed] = {};
    std::uint8_t what[kMaxDelayed] = {};  // 0 = normal, else Fail + status index
    std::uint16_t status_of[kMaxDelayed] = {};
    unsigned q_head = 0, q_len = 0;
    bool head_only[kMaxDelayed] = {};
    bool close_after = false;
    bool delay_armed = false;
    __kernel_timespec delay_ts{};
    // current send
    const char* out = nullptr;
    std::size_t out_len = 0, out_off = 0;
    std::string scratch;
    // echo: received buffers waiting to go back
    std::uint16_t echo_first = net::BufRing::kNone, echo_last = net::BufRing::kNone;
    std::uint16_t echo_sending = net::BufRing::kNone;
};

std::atomic<bool> g_stop{false};

class OriginWorker {
public:
    OriginWorker(const Settings& s, const OriginOptions& o, std::vector<ListenSpec>& ls, unsigned index)
        : s_(s), o_(o), loop_(s, nullptr, 0) {
        for (auto& l : ls) listeners_.push_back({l.kind, l.fds[index]});
        std::string head = "HTTP/1.1 " + std::to_string(o.status) + " " +
                           std::string(http::reason_phrase(int(o.status))) +
                           "\r\nServer: edgeshard-bench\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                           std::to_string(o.body_size) + "\r\n\r\n";
        resp_head_len_ = head.size();
        resp_ = head;
        for (std::uint64_t i = 0; i < o.body_size; ++i) resp_ += char('A' + i % 26);
        const unsigned copies = resp_.size() <= 4096 ? 64 : 1;
        for (unsigned i = 0; i < copies; ++i) resp_many_ += resp_;
        source_.assign(o.chunk_size, 'S');
    }

    void run() {
        for (std::size_t i = 0; i < listeners_.size(); ++i) arm_accept(i);
        loop_.reactor().run(*this);
        for (auto& c : conns_)
            if (c && c->fd >= 0) ::close(c->fd);
    }
    std::uint64_t served() const { return served_; }
    shard::Reactor& reactor() { return loop_.reactor(); }

    void on_cqe(const shard::Cqe& e) {
        const shard::UserData u = shard::UserData::unpack(e.user_data);
        now_ = mono_ns();
        if (u.op == kOpAccept) {
            on_accept(unsigned(u.obj), e);
            return;
        }
        if (u.obj >= conns_.size() || !conns_[u.obj]) return;
        OConn& c = *conns_[u.obj];
        if (u.gen != c.gen) {
            if (u.op == kOpRecv && (e.flags & IORING_CQE_F_BUFFER)) {
                const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
                loop_.bufs().taken(bid);
                loop_.bufs().recycle(bid);
            }
            return;
        }
        switch (u.op) {
        case kOpRecv:
            on_recv(c, e);
            break;
        case kOpSend:
            if (e.flags & IORING_CQE_F_NOTIF) break;
            on_send(c, e.res);
            break;
        case kOpDelay:
            c.delay_armed = false;
            pump(c);
            break;
        default:
            break;
        }
    }
    void run_ready() {}
    bool has_ready() const { return false; }
    void on_message(const shard::Message& m) {
        if (m.kind == shard::Message::kStop) stop_ = true;
    }
    void on_timer(shard::Timer*) {}
    void end_of_turn() { loop_.bufs().publish(); }
    bool done() const { return stop_; }

private:
    std::uint64_t ud(std::uint8_t op, const OConn& c, std::size_t idx) const {
        return shard::UserData::pack_raw(op, c.gen, idx);
    }
    static std::size_t slot_of(const OConn& c) { return c.slot; }

    void arm_accept(std::size_t li) {
        io_uring_sqe* sqe = loop_.reactor().sqe();
        io_uring_prep_multishot_accept(sqe, listeners_[li].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, shard::UserData::pack_raw(kOpAccept, 0, li));
    }

    void on_accept(unsigned li, const shard::Cqe& e) {
        if (!(e.flags & IORING_CQE_F_MORE)) arm_accept(li);
        if (e.res < 0) return;
        const int fd = e.res;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::size_t slot;
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
        } else {
            slot = conns_.size();
            conns_.push_back(std::make_unique<OConn>());
        }
        OConn& c = *conns_[slot];
        const std::uint8_t gen = std::uint8_t(c.gen + 1);
        c.~OConn();
        new (&c) OConn();
        c.gen = gen;
        c.fd = fd;
        c.kind = listeners_[li].kind;
        c.slot = slot;
        if (c.kind == Kind::Source) {
            start_send(c, slot, source_.data(), source_.size());
        }
        loop_.recv_multishot(fd, ud(kOpRecv, c, slot));
    }

    void close_conn(OConn& c, std::size_t slot, bool reset = false) {
        if (c.fd < 0) return;
        if (reset) {
            // an abortive close: RST once the last reference goes, which the pending multishot
            // receive holds until SHUT_RD ends it
            linger l{1, 0};
            setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            ::shutdown(c.fd, SHUT_RD);
        } else {
            ::shutdown(c.fd, SHUT_RDWR);  // wakes the pending multishot receive
        }
        ::close(c.fd);
        c.fd = -1;
        ++c.gen;
        // buffers queued for echo go back to the ring
        for (std::uint16_t b = c.echo_first; b != net::BufRing::kNone;) {
            const std::uint16_t next = loop_.bufs().rec(b).next;
            loop_.bufs().recycle(b);
            b = next;
        }
        if (c.echo_sending != net::BufRing::kNone) loop_.bufs().recycle(c.echo_sending);
        c.echo_first = c.echo_last = c.echo_sending = net::BufRing::kNone;
        free_.push_back(slot);
    }

    void start_send(OConn& c, std::size_t slot, const char* p, std::size_t n) {
        c.out = p;
        c.out_len = n;
        c.out_off = 0;
        c.sending = true;
        loop_.send(c.fd, p, n, ud(kOpSend, c, slot));
    }

    void on_send(OConn& c, int res) {
        const std::size_t slot = slot_of(c);
        if (res <= 0) {
            c.sending = false;
            close_conn(c, slot);
            return;
        }
        c.out_off += std::size_t(res);
        if (c.out_off < c.out_len) {
            loop_.send(c.fd, c.out + c.out_off, c.out_len - c.out_off, ud(kOpSend, c, slot));
            return;
        }
        c.sending = false;
        switch (c.kind) {
        case Kind::Source:
            start_send(c, slot, source_.data(), source_.size());
            return;
        case Kind::Echo:
            loop_.bufs().recycle(c.echo_sending);
            c.echo_sending = net::BufRing::kNone;
            echo_next(c, slot);
            return;
        case Kind::Http:
            if (c.closing) {
                close_conn(c, slot);
                return;
            }
            pump(c);
            return;
        case Kind::Sink:
            return;
        }
    }

    void on_recv(OConn& c, const shard::Cqe& e) {
        const std::size_t slot = slot_of(c);
        const bool more = e.flags & IORING_CQE_F_MORE;
        if (e.res <= 0) {
            if (e.res == -ENOBUFS) {
                loop_.recv_multishot(c.fd, ud(kOpRecv, c, slot));
                return;
            }
            // a peer that half-closes still gets what it is owed: the echo of every byte it sent,
            // the answers to the requests it sent
            if (e.res == 0 && c.kind == Kind::Echo && (c.sending || c.echo_first != net::BufRing::kNone)) {
                c.closing = true;
                return;
            }
            if (e.res == 0 && c.kind == Kind::Http && !c.hung && (c.sending || c.q_len > 0)) {
                c.close_after = true;
                if (c.q_len == 0) c.closing = true;
                return;
            }
            close_conn(c, slot);
            return;
        }
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        loop_.bufs().taken(bid);
        const std::uint8_t gen = c.gen;
        switch (c.kind) {
        case Kind::Echo: {
            net::BufRing::Rec& r = loop_.bufs().rec(bid);
            r.next = net::BufRing::kNone;
            r.off = 0;
            r.len = std::uint32_t(e.res);
            if (c.echo_last == net::BufRing::kNone) {
                c.echo_first = c.echo_last = bid;
            } else {
                loop_.bufs().rec(c.echo_last).next = bid;
                c.echo_last = bid;
            }
            if (!c.sending) echo_next(c, slot);
            break;
        }
        case Kind::Http:
            consume(c, slot, loop_.bufs().data(bid), std::size_t(e.res));
            loop_.bufs().recycle(bid);
            break;
        default:
            loop_.bufs().recycle(bid);
            break;
        }
        if (gen == c.gen && !more) loop_.recv_multishot(c.fd, ud(kOpRecv, c, slot));
    }

    void echo_next(OConn& c, std::size_t slot) {
        const std::uint16_t b = c.echo_first;
        if (b == net::BufRing::kNone) {
            if (c.closing) close_conn(c, slot);  // the peer half-closed and has all of it back
            return;
        }
        c.echo_first = loop_.bufs().rec(b).next;
        if (c.echo_first == net::BufRing::kNone) c.echo_last = net::BufRing::kNone;
        c.echo_sending = b;
        start_send(c, slot, loop_.bufs().data(b), loop_.bufs().rec(b).len);
    }

    Fail pick(unsigned& status) {
        const unsigned i = unsigned(request_no_++ % 100);
        status = o_.fail_status[i];
        return o_.table[i];
    }

    void consume(OConn& c, std::size_t slot, const char* p, std::size_t n) {
        const std::uint8_t gen = c.gen;
        while (n > 0 && gen == c.gen && !c.hung) {
            switch (c.rs) {
            case OConn::Rs::Head: {
                const char* h = p;
                std::size_t hl = n;
                const std::size_t before = c.head.size();
                if (before) {
                    if (before + n > kMaxHead) {
                        close_conn(c, slot);
                        return;
                    }
                    c.head.append(p, n);
                    h = c.head.data();
                    hl = c.head.size();
                }
                const http::ParseResult r = http::parse_request(h, hl, limits_, rq_, c.scanned);
                if (r.status == http::Status::Error) {
                    close_conn(c, slot);
                    return;
                }
                if (r.status == http::Status::NeedMore) {
                    if (!before) c.head.assign(p, n);
                    return;
                }
                const std::size_t used = rq_.head_len - before;
                p += used;
                n -= used;
                c.head.clear();
                c.scanned = 0;
                owe(c, slot, rq_.method == http::Method::Head, !rq_.wants_keep_alive());
                if (rq_.body == http::BodyKind::Length) {
                    c.rs = OConn::Rs::Length;
                    c.body_left = rq_.content_length;
                } else if (rq_.body == http::BodyKind::Chunked) {
                    c.rs = OConn::Rs::Chunked;
                    c.chunked.reset();
                }
                break;
            }
            case OConn::Rs::Length: {
                const std::size_t take = n < c.body_left ? n : std::size_t(c.body_left);
                c.body_left -= take;
                p += take;
                n -= take;
                if (c.body_left == 0) c.rs = OConn::Rs::Head;
                break;
            }
            case OConn::Rs::Chunked: {
                const http::ChunkedScanner::Step st = c.chunked.feed(p, n);
                if (st.status == http::Status::Error) {
                    close_conn(c, slot);
                    return;
                }
                p += st.used;
                n -= st.used;
                if (st.status == http::Status::Done) c.rs = OConn::Rs::Head;
                break;
            }
            }
        }
        if (gen == c.gen) pump(c);
    }

    void owe(OConn& c, std::size_t, bool head_only, bool close_after) {
        if (c.q_len == kMaxDelayed || c.close_after) return;  // pipelined beyond what we queue: dropped
        const unsigned i = (c.q_head + c.q_len) % kMaxDelayed;
        unsigned status = 0;
        const Fail f = pick(status);
        c.due[i] = now_ + o_.delay_ns;
        c.what[i] = std::uint8_t(f);
        c.status_of[i] = std::uint16_t(status);
        c.head_only[i] = head_only;
        ++c.q_len;
        if (close_after) c.close_after = true;
    }

    // Sends the answers that are due, in order.
    void pump(OConn& c) {
        if (c.sending || c.fd < 0 || c.q_len == 0 || c.hung) return;
        const std::size_t slot = slot_of(c);
        const unsigned i = c.q_head;
        if (c.due[i] > now_) {
            if (!c.delay_armed) {
                c.delay_armed = true;
                loop_.timeout_at(&c.delay_ts, c.due[i], ud(kOpDelay, c, slot));
            }
            return;
        }
        const Fail f = Fail(c.what[i]);
        switch (f) {
        case Fail::Reset:
            close_conn(c, slot, true);
            return;
        case Fail::Close:
            close_conn(c, slot);
            return;
        case Fail::Hang:
            c.hung = true;  // the client's timeout ends it
            return;
        case Fail::Garbage:
            c.q_head = (i + 1) % kMaxDelayed;
            --c.q_len;
            c.closing = true;
            start_send(c, slot, "NOT HTTP AT ALL\r\n\r\n", 19);
            return;
        case Fail::Status: {
            c.q_head = (i + 1) % kMaxDelayed;
            --c.q_len;
            ++served_;
            c.scratch = "HTTP/1.1 " + std::to_string(c.status_of[i]) + " " +
                        std::string(http::reason_phrase(c.status_of[i])) +
                        "\r\nServer: edgeshard-bench\r\nContent-Length: 0\r\n\r\n";
            if (c.q_len == 0 && c.close_after) c.closing = true;
            start_send(c, slot, c.scratch.data(), c.scratch.size());
            return;
        }
        case Fail::None:
            break;
        }
        // as many due, normal, same-kind answers as fit in one send
        unsigned k = 0;
        const bool ho = c.head_only[i];
        const unsigned max = unsigned(resp_many_.size() / resp_.size());
        while (k < c.q_len && k < max) {
            const unsigned j = (i + k) % kMaxDelayed;
            if (c.due[j] > now_ || c.what[j] != 0 || c.head_only[j] != ho) break;
            ++k;
        }
        if (ho) k = 1;
        c.q_head = (i + k) % kMaxDelayed;
        c.q_len -= k;
        served_ += k;
        if (c.q_len == 0 && c.close_after) c.closing = true;
        if (ho) {
            start_send(c, slot, resp_.data(), resp_head_len_);
        } else {
            start_send(c, slot, resp_many_.data(), resp_.size() * k);
        }
    }

    struct L {
        Kind kind;
        int fd;
    };
    const Settings& s_;
    const OriginOptions& o_;
    Loop loop_;
    std::vector<L> listeners_;
    std::vector<std::unique_ptr<OConn>> conns_;
    std::vector<std::size_t> free_;
    std::string resp_, resp_many_, source_;
    std::size_t resp_head_len_ = 0;
    std::int64_t now_ = 0;
    std::uint64_t served_ = 0, request_no_ = 0;
    bool stop_ = false;
    http::Limits limits_{65536, 65536, 128, 0};
    http::RequestHead rq_;
};

int listen_socket(const std::string& text, std::uint16_t port_override) {
    // port 0 (the kernel picks) is fine here, though not in a proxy's config
    const bool any_port = text.size() > 2 && text.compare(text.size() - 2, 2, ":0") == 0;
    auto a = config::parse_addr(any_port ? text.substr(0, text.size() - 1) + "1" : text);
    if (a && any_port && !port_override) {
        if (a->ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(a->ss).sin_port = 0;
        else reinterpret_cast<sockaddr_in6&>(a->ss).sin6_port = 0;
    }
    if (!a) throw UsageError("listen address: expected ADDR:PORT, got '" + text + "'");
    if (port_override) {
        if (a->ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(a->ss).sin_port = htons(port_override);
        else reinterpret_cast<sockaddr_in6&>(a->ss).sin6_port = htons(port_override);
    }
    const int fd = ::socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a->ss), a->len) != 0 || ::listen(fd, 4096) != 0)
        throw std::runtime_error("cannot listen on " + a->text() + ": " + std::strerror(errno));
    return fd;
}

std::uint16_t bound_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port)
                                   : ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
}

const char* kind_name(Kind k) {
    switch (k) {
    case Kind::Http: return "http";
    case Kind::Sink: return "sink";
    case Kind::Echo: return "echo";
    case Kind::Source: return "source";
    }
    return "?";
}

void parse_fail(OriginOptions& o, const std::string& v, unsigned& used) {
    const std::size_t eq = v.find('=');
    if (eq == std::string::npos) throw UsageError("--fail: KIND=PERCENT, e.g. 503=5, reset=2, hang=1, garbage=1");
    const std::string kind = v.substr(0, eq);
    char* end = nullptr;
    const unsigned long pct = std::strtoul(v.c_str() + eq + 1, &end, 10);
    if (*end || pct == 0 || used + pct > 100) throw UsageError("--fail: percentages from 1 and adding up to at most 100");
    Fail f;
    unsigned status = 0;
    if (kind == "reset") f = Fail::Reset;
    else if (kind == "close") f = Fail::Close;
    else if (kind == "hang") f = Fail::Hang;
    else if (kind == "garbage") f = Fail::Garbage;
    else {
        status = unsigned(std::strtoul(kind.c_str(), &end, 10));
        if (*end || status < 100 || status > 599) throw UsageError("--fail: unknown kind '" + kind + "'");
        f = Fail::Status;
    }
    for (unsigned i = 0; i < pct; ++i) {
        o.table[used + i] = f;
        o.fail_status[used + i] = status;
    }
    used += unsigned(pct);
}

}  // namespace

int origin_main(const std::vector<std::string>& args) {
    Settings s;
    s.scenario = "http";
    OriginOptions o;
    std::vector<ListenSpec> ls;
    unsigned fail_used = 0;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") throw UsageError("");
        if (i + 1 >= args.size()) throw UsageError(a + ": needs a value");
        const std::string& v = args[++i];
        if (a == "--http") ls.push_back({Kind::Http, v, {}, 0});
        else if (a == "--tcp-sink") ls.push_back({Kind::Sink, v, {}, 0});
        else if (a == "--tcp-echo") ls.push_back({Kind::Echo, v, {}, 0});
        else if (a == "--tcp-source") ls.push_back({Kind::Source, v, {}, 0});
        else if (a == "--body-size") {
            auto sz = config::parse_size(v);
            if (!sz || *sz < 0 || *sz > (std::int64_t(64) << 20)) throw UsageError("--body-size: 0 to 64m");
            o.body_size = std::uint64_t(*sz);
        } else if (a == "--status") {
            o.status = unsigned(std::strtoul(v.c_str(), nullptr, 10));
            if (o.status < 200 || o.status > 599) throw UsageError("--status: 200 to 599");
        } else if (a == "--delay") {
            auto ms = config::parse_time_ms(v);
            if (!ms) throw UsageError("--delay: a time (20ms, 1s)");
            o.delay_ns = std::int64_t(*ms) * 1000000;
        } else if (a == "--fail") {
            parse_fail(o, v, fail_used);
        } else if (a == "--chunk-size") {
            auto sz = config::parse_size(v);
            if (!sz || *sz < 1 || *sz > (16 << 20)) throw UsageError("--chunk-size: 1 to 16m");
            o.chunk_size = unsigned(*sz);
        } else if (!apply_setting(s, a.rfind("--", 0) == 0 ? a.substr(2) : a, v)) {
            throw UsageError("unknown option " + a);
        }
    }
    if (ls.empty()) throw UsageError("origin: at least one of --http, --tcp-sink, --tcp-echo, --tcp-source");
    s.connections = s.threads;
    s.pin = s.pin.empty() ? "none" : s.pin;
    // target only feeds the pinning/knob checks here
    s.target = "127.0.0.1:1";
    resolve(s);
    for (auto& l : ls) {
        for (unsigned t = 0; t < s.threads; ++t) {
            const int fd = listen_socket(l.addr, l.port);
            if (t == 0) l.port = bound_port(fd);
            l.fds.push_back(fd);
        }
        std::printf("listening %s %s -> port %u\n", kind_name(l.kind), l.addr.c_str(), unsigned(l.port));
    }
    std::fflush(stdout);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // threads inherit the mask; only sigwait takes them

    std::vector<OriginWorker*> workers(s.threads, nullptr);
    std::vector<std::uint64_t> served(s.threads, 0);
    std::mutex mu;
    std::condition_variable cv;
    unsigned ready = 0;
    std::thread waiter([&] {
        int sig = 0;
        sigwait(&set, &sig);
        std::unique_lock<std::mutex> g(mu);
        cv.wait(g, [&] { return ready == s.threads; });
        g_stop = true;
        for (OriginWorker* w : workers) {
            if (!w) continue;
            shard::Message m;
            m.kind = shard::Message::kStop;
            w->reactor().inbox().push(m);
            w->reactor().ring_doorbell();
        }
    });
    try {
        run_threads(s, [&](unsigned i, int) {
            std::unique_ptr<OriginWorker> w;
            try {
                w = std::make_unique<OriginWorker>(s, o, ls, i);
            } catch (...) {
                {
                    std::lock_guard<std::mutex> g(mu);
                    ++ready;
                }
                cv.notify_all();
                kill(getpid(), SIGTERM);  // the other threads stop too
                throw;
            }
            {
                std::lock_guard<std::mutex> g(mu);
                workers[i] = w.get();
                ++ready;
            }
            cv.notify_all();
            w->run();
            std::lock_guard<std::mutex> g(mu);
            served[i] = w->served();
            workers[i] = nullptr;
        });
    } catch (...) {
        if (!g_stop) pthread_kill(waiter.native_handle(), SIGTERM);
        waiter.join();
        throw;
    }
    waiter.join();
    std::uint64_t total = 0;
    for (auto n : served) total += n;
    std::fprintf(stderr, "edgeshard-bench origin: %llu responses served\n", (unsigned long long)total);
    return 0;
}

}  // namespace es::bench
