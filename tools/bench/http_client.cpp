// The http client: N connections over T threads, each thread one io_uring (the shard runtime's
// Reactor) with multishot receives into a provided-buffer ring.
//
// Closed loop: each connection keeps `pipeline` requests outstanding and sends the next as soon
// as a response completes; latency runs from the actual send (or, for a new connection per
// request, from the connect).
//
// Open loop: request k of connection c is due at start + c*I/C + k*I, with I = connections/rate;
// a request is sent when it is due and fewer than `pipeline` are outstanding, and its latency runs
// from the time it was DUE, not from when it could be sent. A server that stalls therefore shows
// every request it delayed, as a user arriving at that rate would see it (no coordinated
// omission). Requests due after the measured period are not sent.
//
// https: the worker is instantiated with kTls, and each connection slot gets a TlsLink
// (tls_client.hpp). The receive path feeds ciphertext to OpenSSL and parses the plaintext it
// returns; sends carry the records it made. Requests wait for the handshake, which starts when the
// TCP connect completes, so with --close a request's latency includes it. A connection that fails
// before its handshake completes (an alert, a peer that is not TLS, a close, no answer within
// --timeout) is a `tls` error. The plaintext worker (kTls = false) compiles none of this.
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <cstdio>
#include <string>
#include <vector>

#include "edgeshard/net/proxy_proto.hpp"
#include "common.hpp"
#include "edgeshard/http/parser.hpp"
#include "loop.hpp"
#include "tls_client.hpp"

namespace es::bench {

namespace {

constexpr std::size_t kMaxHead = 64 * 1024;
constexpr std::int64_t kReconnectDelayNs = 10'000'000;  // after a failed connect
constexpr std::int64_t kTickNs = 100'000'000;

struct Conn {
    unsigned id = 0;
    int fd = -1;
    std::uint8_t gen = 0;
    bool connecting = false, recv_armed = false, sending = false, paced = false;
    std::uint32_t outstanding = 0;  // sent (or being sent), not yet answered
    std::uint32_t unsent = 0;       // requests of the send in flight not yet fully written
    std::uint64_t seq_sent = 0;     // requests handed to send over the connection slot's life
    std::uint64_t seq_done = 0;     // responses completed (or given up)
    std::size_t send_off = 0, send_len = 0;
    std::int64_t started_ns[64] = {};  // closed loop: start time by seq % 64
    std::int64_t last_io_ns = 0;
    std::int64_t connect_ns = 0;
    // response parsing
    enum class Rs : std::uint8_t { Head, Length, Chunked, UntilClose } rs = Rs::Head;
    std::uint64_t body_left = 0;
    std::uint16_t status = 0;
    bool close_after = false;
    std::size_t scanned = 0;
    std::string head;
    http::ChunkedScanner chunked{16384};
};

template <bool kTls>
class HttpWorker {
public:
    HttpWorker(const Settings& s, unsigned index, std::int64_t start_ns, Progress* progress,
               const std::string& request)
        : s_(s),
          measure_ns_(start_ns + std::int64_t(s.warmup_s * 1e9)),
          end_ns_(measure_ns_ + std::int64_t(s.duration_s * 1e9)),
          start_ns_(start_ns),
          progress_(progress),
          req_(request),
          wire_(build_wire(request, s.pipeline)),
          loop_(s, wire_.data(), wire_.size()),
          method_(http::method_of(s.method)) {
        // connections i, i+T, i+2T... belong to thread i
        for (unsigned c = index; c < s.connections; c += s.threads) conns_.emplace_back();
        for (unsigned i = 0; i < conns_.size(); ++i) conns_[i].id = index + i * s.threads;
        res_.timeline.resize(std::size_t(s.duration_s + 0.999999));
        if (s.rate > 0) interval_ns_ = double(s.connections) / s.rate * 1e9;
        if (s.proxy_header) {
            // a fixed client 192.0.2.<thread>:40000 -> 198.51.100.1:80 (the proxy only reads it)
            sockaddr_storage src{}, dst{};
            auto& a = reinterpret_cast<sockaddr_in&>(src);
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(0xC0000200u + (index & 0xff));
            a.sin_port = htons(40000);
            auto& b = reinterpret_cast<sockaddr_in&>(dst);
            b.sin_family = AF_INET;
            b.sin_addr.s_addr = htonl(0xC6336401u);
            b.sin_port = htons(80);
            net::pp::Source ps;
            ps.src = &src;
            ps.dst = &dst;
            pp_.resize(net::pp::kMaxHeader);
            pp_.resize(s.proxy_header == 1 ? net::pp::build_v1(ps, pp_.data(), pp_.size())
                                           : net::pp::build_v2(ps, 0, reinterpret_cast<std::uint8_t*>(pp_.data()),
                                                               pp_.size()));
        }
        if constexpr (kTls) {
            tctx_ = std::make_unique<TlsClientCtx>(s, unsigned(conns_.size()));
            links_.resize(conns_.size());
            res_.tls.emplace();
        }
    }
    ~HttpWorker() {
        for (Conn& c : conns_)
            if (c.fd >= 0) ::close(c.fd);
    }

    Result run() {
        for (Conn& c : conns_) {
            if (open_loop()) {
                schedule(c, due_ns(c, 0));
            } else {
                start_connect(c);
            }
        }
        arm_tick();
        loop_.reactor().run(*this);
        res_.elapsed_s = double(std::min(mono_ns(), end_ns_) - measure_ns_) / 1e9;
        if (res_.elapsed_s < 0) res_.elapsed_s = 0;
        flush_progress();
        return std::move(res_);
    }

    // ---- Reactor handler ----
    void on_cqe(const shard::Cqe& e) {
        const shard::UserData u = shard::UserData::unpack(e.user_data);
        now_ = mono_ns();
        switch (u.op) {
        case kOpPace:
            pace_armed_ = INT64_MAX;
            return;
        case kOpTick:
            on_tick();
            return;
        default:
            break;
        }
        Conn& c = conns_[u.obj];
        if (u.gen != c.gen) {
            // a completion of an earlier socket of this slot: only its buffer matters
            if (u.op == kOpRecv && (e.flags & IORING_CQE_F_BUFFER)) recycle(e);
            return;
        }
        switch (u.op) {
        case kOpConnect:
            on_connect(c, e.res);
            break;
        case kOpSend:
            if (e.flags & IORING_CQE_F_NOTIF) break;  // send_zc: the buffer is free again
            on_send(c, e.res);
            break;
        case kOpProxyHeader:
            on_proxy_header(c, e.res);
            break;
        case kOpRecv:
            on_recv(c, e);
            break;
        default:
            break;
        }
    }
    void run_ready() {
        now_ = mono_ns();
        while (!pace_.empty() && pace_.top().first <= now_) {
            const unsigned i = pace_.top().second;
            pace_.pop();
            Conn& c = conns_[i];
            c.paced = false;
            kick(c);
        }
    }
    bool has_ready() const { return !pace_.empty() && pace_.top().first <= mono_ns(); }
    void on_message(const shard::Message&) {}
    void on_timer(shard::Timer*) {}
    void end_of_turn() {
        loop_.bufs().publish();
        if (!pace_.empty() && pace_.top().first < pace_armed_ && !done()) {
            pace_armed_ = pace_.top().first;
            loop_.timeout_at(&pace_ts_, pace_armed_, shard::UserData::pack_raw(kOpPace, 0, 0));
        }
    }
    bool done() const { return now_ >= end_ns_; }

private:
    static std::string build_wire(const std::string& req, unsigned depth) {
        std::string w;
        w.reserve(req.size() * depth);
        for (unsigned i = 0; i < depth; ++i) w += req;
        return w;
    }
    bool open_loop() const { return interval_ns_ > 0; }
    bool measuring() const { return now_ >= measure_ns_ && now_ < end_ns_; }
    std::uint64_t ud(std::uint8_t op, const Conn& c) const {
        return shard::UserData::pack_raw(op, c.gen, std::uint64_t(&c - conns_.data()));
    }
    std::int64_t due_ns(const Conn& c, std::uint64_t seq) const {
        const double offset = interval_ns_ * double(c.id) / double(s_.connections);
        return start_ns_ + std::int64_t(offset + double(seq) * interval_ns_);
    }
    void schedule(Conn& c, std::int64_t at) {
        if (c.paced) return;
        c.paced = true;
        pace_.push({at, unsigned(&c - conns_.data())});
    }
    void recycle(const shard::Cqe& e) {
        const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        loop_.bufs().taken(bid);
        loop_.bufs().recycle(bid);
    }

    void start_connect(Conn& c) {
        if (done()) return;
        const int fd = client_socket(s_);
        if (fd < 0) {
            if (measuring()) ++res_.errors.connect;
            schedule(c, now_ + kReconnectDelayNs);
            return;
        }
        ++c.gen;
        c.fd = fd;
        c.connecting = true;
        c.recv_armed = c.sending = false;
        c.outstanding = c.unsent = 0;
        c.rs = Conn::Rs::Head;
        c.head.clear();
        c.scanned = 0;
        c.connect_ns = c.last_io_ns = now_ ? now_ : mono_ns();
        loop_.connect(fd, s_, ud(kOpConnect, c));
    }

    void close_conn(Conn& c) {
        if constexpr (kTls) link(c).reset();
        if (c.fd >= 0) {
            // the pending multishot receive holds the socket open past close(): shutdown ends
            // it (its completion carries an old generation and is ignored)
            ::shutdown(c.fd, SHUT_RDWR);
            ::close(c.fd);
        }
        c.fd = -1;
        ++c.gen;
        c.connecting = c.recv_armed = c.sending = false;
        // requests that were outstanding are lost: an open-loop slot moves on to the next due one
        c.seq_done = c.seq_sent;
        c.outstanding = c.unsent = 0;
    }

    void fail(Conn& c, std::uint64_t Errors::*kind) {
        if (measuring()) {
            ++(res_.errors.*kind);
            ++errors_delta_;
        }
        close_conn(c);
        kick(c);
    }

    void on_connect(Conn& c, int res) {
        c.connecting = false;
        if (res < 0) {
            if (measuring()) {
                ++res_.errors.connect;
                ++errors_delta_;
            }
            close_conn(c);
            schedule(c, now_ + kReconnectDelayNs);
            return;
        }
        c.last_io_ns = now_;
        loop_.recv_multishot(c.fd, ud(kOpRecv, c));
        c.recv_armed = true;
        if (s_.proxy_header) {  // the header leaves first, in a send of its own
            c.sending = true;
            loop_.send(c.fd, pp_.data(), pp_.size(), ud(kOpProxyHeader, c));
            return;
        }
        if constexpr (kTls) {
            start_tls(c);
            return;
        }
        kick(c);
    }

    void on_proxy_header(Conn& c, int res) {
        c.sending = false;
        if (res != int(pp_.size())) {
            fail(c, &Errors::write);
            return;
        }
        if constexpr (kTls) {
            start_tls(c);
            return;
        }
        kick(c);
    }

    // Sends whatever may be sent now, connects when closed, or waits for the next due time.
    void kick(Conn& c) {
        if (done()) return;
        if (c.fd < 0) {
            if (open_loop()) {
                const std::int64_t due = due_ns(c, c.seq_sent);
                if (due > now_) {
                    schedule(c, due);
                    return;
                }
            }
            start_connect(c);
            return;
        }
        if (c.connecting || c.sending) return;
        if constexpr (kTls) {
            if (!link(c).established()) return;  // requests wait for the handshake
        }
        std::uint32_t n = s_.pipeline - c.outstanding;
        if (!s_.keepalive && c.seq_sent > c.seq_done) n = 0;  // one request per connection
        if (open_loop()) {
            std::uint32_t due = 0;
            while (due < n && due_ns(c, c.seq_sent + due) <= now_) ++due;
            if (due < n && c.outstanding + due < s_.pipeline) schedule(c, due_ns(c, c.seq_sent + due));
            n = due;
        }
        if (n == 0) return;
        if (due_ns(c, c.seq_sent) >= end_ns_ && open_loop()) return;
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint64_t seq = c.seq_sent + i;
            c.started_ns[seq % 64] = open_loop() ? due_ns(c, seq) : (s_.keepalive ? now_ : c.connect_ns);
        }
        c.seq_sent += n;
        c.outstanding += n;
        if (measuring()) res_.requests += n;
        if constexpr (kTls) {
            if (!link(c).write(wire_.data(), std::size_t(n) * req_.size())) {
                tls_fail(c, "SSL_write failed");
                return;
            }
            flush(c);
            return;
        }
        c.send_off = 0;
        c.send_len = std::size_t(n) * req_.size();
        c.sending = true;
        loop_.send(c.fd, wire_.data(), c.send_len, ud(kOpSend, c));
    }

    void on_send(Conn& c, int res) {
        if (res <= 0) {
            c.sending = false;
            if constexpr (kTls) {
                if (!link(c).established()) {
                    tls_fail(c, res < 0 ? std::strerror(-res) : "a send during the handshake wrote nothing");
                    return;
                }
            }
            fail(c, &Errors::write);
            return;
        }
        if (measuring()) res_.bytes_sent += std::uint64_t(res);
        c.last_io_ns = now_;
        c.send_off += std::size_t(res);
        if (c.send_off < c.send_len) {
            loop_.send(c.fd, send_base(c) + c.send_off, c.send_len - c.send_off, ud(kOpSend, c));
            return;
        }
        c.sending = false;
        if constexpr (kTls) {
            link(c).sent();
            flush(c);  // records made while this send was in flight
        }
        kick(c);
    }

    void on_recv(Conn& c, const shard::Cqe& e) {
        const bool more = e.flags & IORING_CQE_F_MORE;
        if (e.res > 0) {
            const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
            loop_.bufs().taken(bid);
            const char* p = loop_.bufs().data(bid);
            const std::size_t n = std::size_t(e.res);
            c.last_io_ns = now_;
            if (measuring()) {
                res_.bytes_received += n;
                sec().bytes += n;
            }
            const std::uint8_t gen = c.gen;
            if constexpr (kTls) {
                on_ciphertext(c, p, n);
            } else {
                consume(c, p, n);
            }
            loop_.bufs().recycle(bid);
            if (gen != c.gen) return;  // the connection was closed while consuming
            if (!more) rearm(c);
            return;
        }
        if (e.res == -ENOBUFS) {
            rearm(c);
            return;
        }
        if constexpr (kTls) {
            if (!link(c).established()) {
                // reset or closed during the handshake: the server did not want this handshake
                tls_fail(c, e.res < 0 ? std::strerror(-e.res)
                                      : "the peer closed the connection during the handshake");
                return;
            }
        }
        if (e.res == 0) {
            on_eof(c);
            return;
        }
        fail(c, &Errors::read);
    }

    // The peer closed (a FIN, or with TLS its close_notify).
    void on_eof(Conn& c) {
        if (c.rs == Conn::Rs::UntilClose && c.outstanding) {
            complete(c);
            close_conn(c);
            kick(c);
            return;
        }
        if (c.outstanding == 0) {
            close_conn(c);  // the server closed an idle connection
            kick(c);
            return;
        }
        fail(c, &Errors::read);
    }

    const char* send_base(const Conn& c) const {
        if constexpr (kTls) {
            return link(c).out_data();
        } else {
            return wire_.data();
        }
    }

    // ---- TLS (kTls only) ----
    TlsLink& link(const Conn& c) { return links_[std::size_t(&c - conns_.data())]; }
    const TlsLink& link(const Conn& c) const { return links_[std::size_t(&c - conns_.data())]; }

    // The TCP connect completed: a new SSL and its ClientHello.
    void start_tls(Conn& c) {
        TlsLink& t = link(c);
        if (!t.start(*tctx_, now_) || t.handshake() == TlsLink::Step::Error) {
            tls_fail(c, "could not start a handshake (out of memory?)");
            return;
        }
        flush(c);
    }

    // Sends the records waiting in c's link, unless a send is in flight (its completion calls
    // this again).
    void flush(Conn& c) {
        if (c.sending) return;
        const std::size_t n = link(c).stage();
        if (n == 0) return;
        c.send_off = 0;
        c.send_len = n;
        c.sending = true;
        loop_.send(c.fd, link(c).out_data(), n, ud(kOpSend, c));
    }

    void on_ciphertext(Conn& c, const char* p, std::size_t n) {
        TlsLink& t = link(c);
        if (!t.feed(p, n)) {
            tls_fail(c, "out of memory for received records");
            return;
        }
        if (!t.established()) {
            switch (t.handshake()) {
            case TlsLink::Step::More:
                flush(c);
                return;
            case TlsLink::Step::Error:
                tls_fail(c);
                return;
            case TlsLink::Step::Done:
                on_handshake(c, t);
                break;
            }
        }
        const std::uint8_t gen = c.gen;
        for (;;) {
            const long k = t.read(plain_, sizeof plain_);
            if (k > 0) {
                consume(c, plain_, std::size_t(k));
                if (gen != c.gen) return;  // consuming closed the connection (and freed its SSL)
                continue;
            }
            if (k == 0) break;
            if (t.peer_closed()) {
                on_eof(c);
            } else {
                tls_fail(c);
            }
            return;
        }
        kick(c);   // requests first, so that a handshake's last flight and the first
        flush(c);  // requests leave in one send
    }

    void on_handshake(Conn& c, TlsLink& t) {
        TlsStats& st = *res_.tls;
        SSL* ssl = t.ssl();
        if (st.version.empty()) {
            st.version = SSL_get_version(ssl);
            st.cipher = SSL_get_cipher_name(ssl);
            const unsigned char* a = nullptr;
            unsigned alen = 0;
            SSL_get0_alpn_selected(ssl, &a, &alen);
            if (a) st.alpn.assign(reinterpret_cast<const char*>(a), alen);
        }
        c.last_io_ns = now_;
        if (!measuring()) return;
        ++st.handshakes;
        if (SSL_session_reused(ssl) == 1) {
            ++st.resumed;
        } else {
            ++st.full;
        }
        const std::int64_t took = now_ - t.started_ns();
        st.handshake_ns.record(took > 0 ? std::uint64_t(took) : 0);
    }

    // `why` when OpenSSL's error queue says nothing (a close, a reset, a timeout).
    void tls_fail(Conn& c, const char* why = "OpenSSL failed without a reason") {
        TlsLink& t = link(c);
        if (measuring() && res_.tls->error.empty()) res_.tls->error = t.error(why);
        ERR_clear_error();
        t.failed();
        fail(c, &Errors::tls);
    }

    void rearm(Conn& c) {
        if (c.fd < 0) return;
        loop_.recv_multishot(c.fd, ud(kOpRecv, c));
    }

    Second& sec() {
        std::size_t i = std::size_t((now_ - measure_ns_) / std::int64_t(kNsPerSec));
        if (i >= res_.timeline.size()) i = res_.timeline.size() - 1;
        return res_.timeline[i];
    }

    void consume(Conn& c, const char* p, std::size_t n) {
        const std::uint8_t gen = c.gen;
        while (n > 0 && gen == c.gen) {
            if (c.outstanding == 0) {
                // bytes nobody asked for
                fail(c, &Errors::parse);
                return;
            }
            switch (c.rs) {
            case Conn::Rs::Head: {
                const char* h = p;
                std::size_t hl = n;
                const std::size_t before = c.head.size();
                if (before) {
                    if (before + n > kMaxHead) {
                        fail(c, &Errors::parse);
                        return;
                    }
                    c.head.append(p, n);
                    h = c.head.data();
                    hl = c.head.size();
                }
                const http::ParseResult r = http::parse_response(h, hl, limits_, method_, rh_, c.scanned);
                if (r.status == http::Status::Error) {
                    fail(c, &Errors::parse);
                    return;
                }
                if (r.status == http::Status::NeedMore) {
                    if (!before) {
                        if (n > kMaxHead) {
                            fail(c, &Errors::parse);
                            return;
                        }
                        c.head.assign(p, n);
                    }
                    return;
                }
                const std::size_t used = rh_.head_len - before;
                p += used;
                n -= used;
                c.head.clear();
                c.scanned = 0;
                c.status = rh_.status;
                c.close_after = !rh_.wants_keep_alive();
                if (rh_.status >= 100 && rh_.status < 200 && rh_.status != 101) {
                    if (measuring()) ++res_.status[1];
                    break;  // an interim response: the final one follows
                }
                switch (rh_.body) {
                case http::BodyKind::None:
                    complete(c);
                    break;
                case http::BodyKind::Length:
                    c.rs = Conn::Rs::Length;
                    c.body_left = rh_.content_length;
                    break;
                case http::BodyKind::Chunked:
                    c.rs = Conn::Rs::Chunked;
                    c.chunked.reset();
                    break;
                case http::BodyKind::UntilClose:
                    c.rs = Conn::Rs::UntilClose;
                    break;
                }
                break;
            }
            case Conn::Rs::Length: {
                const std::size_t take = n < c.body_left ? n : std::size_t(c.body_left);
                c.body_left -= take;
                p += take;
                n -= take;
                if (c.body_left == 0) complete(c);
                break;
            }
            case Conn::Rs::Chunked: {
                const http::ChunkedScanner::Step st = c.chunked.feed(p, n);
                if (st.status == http::Status::Error) {
                    fail(c, &Errors::parse);
                    return;
                }
                p += st.used;
                n -= st.used;
                if (st.status == http::Status::Done) complete(c);
                break;
            }
            case Conn::Rs::UntilClose:
                n = 0;
                break;
            }
        }
    }

    void complete(Conn& c) {
        const std::uint64_t seq = c.seq_done++;
        --c.outstanding;
        c.rs = Conn::Rs::Head;
        if (measuring()) {
            const std::int64_t lat = now_ - c.started_ns[seq % 64];
            const std::uint64_t v = lat > 0 ? std::uint64_t(lat) : 0;
            res_.lat.record(v);
            Second& sc = sec();
            sc.lat.record(v);
            ++sc.completed;
            ++res_.responses;
            ++completed_delta_;
            ++res_.status[c.status >= 100 && c.status < 600 ? c.status / 100 : 0];
        }
        if (c.close_after || !s_.keepalive) {
            if (c.outstanding == 0) {
                close_conn(c);
                kick(c);
            }
            return;
        }
        kick(c);
    }

    void on_tick() {
        now_ = mono_ns();
        for (Conn& c : conns_) {
            bool handshaking = false;
            if constexpr (kTls) handshaking = c.fd >= 0 && !c.connecting && !link(c).established();
            const bool waiting = c.connecting || c.outstanding > 0 || handshaking;
            if (c.fd >= 0 && waiting && now_ - c.last_io_ns > std::int64_t(s_.timeout_ms) * 1'000'000) {
                if (c.connecting) {
                    fail(c, &Errors::connect);
                } else if (handshaking) {
                    if constexpr (kTls) tls_fail(c, "no handshake within --timeout");
                } else {
                    fail(c, &Errors::timeout);
                }
            }
        }
        flush_progress();
        arm_tick();
    }
    void arm_tick() {
        if (done()) return;
        std::int64_t at = (now_ ? now_ : mono_ns()) + kTickNs;
        if (at > end_ns_) at = end_ns_;
        loop_.timeout_at(&tick_ts_, at, shard::UserData::pack_raw(kOpTick, 0, 0));
    }
    void flush_progress() {
        if (!progress_) return;
        progress_->completed.fetch_add(completed_delta_, std::memory_order_relaxed);
        progress_->errors.fetch_add(errors_delta_, std::memory_order_relaxed);
        completed_delta_ = errors_delta_ = 0;
    }

    const Settings& s_;
    const std::int64_t measure_ns_, end_ns_, start_ns_;
    Progress* progress_;
    const std::string req_;
    const std::string wire_;
    std::string pp_;  // --proxy-header: the header every connection starts with
    Loop loop_;
    const http::Method method_;
    std::vector<Conn> conns_;
    Result res_;
    double interval_ns_ = 0;
    std::int64_t now_ = 0;
    using Due = std::pair<std::int64_t, unsigned>;
    std::priority_queue<Due, std::vector<Due>, std::greater<Due>> pace_;
    std::int64_t pace_armed_ = INT64_MAX;
    __kernel_timespec pace_ts_{}, tick_ts_{};
    http::Limits limits_{65536, 65536, 128, 0};
    http::ResponseHead rh_;
    std::uint64_t completed_delta_ = 0, errors_delta_ = 0;
    // https only: empty (and never touched) in the plaintext worker
    std::unique_ptr<TlsClientCtx> tctx_;
    std::vector<TlsLink> links_;
    char plain_[kTls ? 16384 : 1];  // decrypted bytes on their way to the response parser
};

std::string build_request(const Settings& s) {
    std::string r = s.method + " " + s.path + " HTTP/1.1\r\nHost: " + s.host + "\r\n";
    for (const auto& h : s.headers) r += h + "\r\n";
    if (!s.keepalive) r += "Connection: close\r\n";
    if (s.body_size) r += "Content-Length: " + std::to_string(s.body_size) + "\r\n";
    r += "\r\n";
    for (std::uint64_t i = 0; i < s.body_size; ++i) r += char('a' + i % 26);
    return r;
}

}  // namespace

Result run_http(const Settings& s, Progress* progress) {
    const std::string req = build_request(s);
    std::vector<Result> parts(s.threads);
    const std::int64_t start = mono_ns() + 20'000'000;  // every thread set up before the first send
    run_threads(s, [&](unsigned i, int) {
        auto go = [&](auto& w) {
            while (mono_ns() < start) usleep(1000);
            parts[i] = w.run();
        };
        if (s.tls) {
            HttpWorker<true> w(s, i, start, progress, req);
            go(w);
        } else {
            HttpWorker<false> w(s, i, start, progress, req);
            go(w);
        }
    });
    return merge_parts(parts);
}

}  // namespace es::bench
