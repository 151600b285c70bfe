// The demo origin's server thread: one poll(2) loop over an eventfd (stop), the listener and the
// connections. Each connection is a tiny state machine:
//
//   Reading --request head complete--> Writing --response sent, keep-alive--> Reading
//      |                                  |
//      +--timeout/EOF/error--> closed     +--response sent, close--> Lingering --EOF/timeout--> closed
//
// While Writing the connection is polled for POLLOUT only, so a client that pipelines faster than
// it reads cannot grow our buffers; unread pipelined requests wait in `in` until the response is
// out. Nothing here is on the proxy's data path, so clarity wins over syscalls saved.
#include "edgeshard/origin/demo_origin.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace es::origin {

namespace {

constexpr std::size_t kMaxConns = 4096;
constexpr std::size_t kReadBudget = 64 * 1024;    // per readiness event, for fairness between clients
constexpr std::size_t kLingerBytes = 256 * 1024;  // discarded after an error reply before we give up
constexpr std::size_t kPatternBlock = 64 * 1024;  // a multiple of the pattern's period
constexpr std::int64_t kIdleMs = 300'000;         // keep-alive connection with no request
constexpr std::int64_t kRequestMs = 30'000;       // a request head started but not finished
constexpr std::int64_t kWriteMs = 60'000;         // no write progress
constexpr std::int64_t kLingerMs = 2'000;
constexpr std::int64_t kAcceptPauseMs = 100;  // after EMFILE and friends
constexpr std::uint64_t kMaxBodyDiscard = std::uint64_t(1) << 40;

std::int64_t mono_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Formats a socket address without the config room's helpers, so this file only needs the struct.
std::string sockaddr_text(const sockaddr_storage& ss) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
        inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
        port = ntohs(a.sin_port);
        return std::string(host) + ":" + std::to_string(port);
    }
    if (ss.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
        inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
        port = ntohs(a.sin6_port);
        return "[" + std::string(host) + "]:" + std::to_string(port);
    }
    return "<unknown address family>";
}

std::uint16_t sockaddr_port(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
    return 0;
}

// ---- request parsing: a pure function over the bytes received so far ----

bool is_tchar(unsigned char c) {
    if (c >= '0' && c <= '9') return true;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
    }
    return true;
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

enum class Parse { NeedMore, Ok, Bad, TooLarge, NotImplemented };

struct Request {
    std::string_view method;
    std::string_view target;
    int minor = 1;  // HTTP/1.minor
    bool conn_close = false;
    bool conn_keep_alive = false;
    std::uint64_t content_length = 0;
    std::size_t head_len = 0;  // bytes of the request head, including the blank line
};

// Checks a request line that may still be incomplete, so a peer that is not speaking HTTP gets its
// 400 as soon as its first bytes show it, not after it happens to send a blank line.
Parse check_request_line(std::string_view line, bool complete, Request& r) {
    std::size_t i = 0;
    while (i < line.size() && is_tchar(static_cast<unsigned char>(line[i]))) ++i;
    if (i == line.size()) return complete ? Parse::Bad : Parse::NeedMore;
    if (line[i] != ' ' || i == 0) return Parse::Bad;
    r.method = line.substr(0, i);
    const std::size_t t0 = ++i;
    while (i < line.size() && line[i] > 0x20 && line[i] < 0x7f) ++i;
    if (i == t0 && i < line.size()) return Parse::Bad;
    if (t0 < line.size() && line[t0] != '/') return Parse::Bad;  // origin-form only
    if (i == line.size()) return complete ? Parse::Bad : Parse::NeedMore;
    if (line[i] != ' ') return Parse::Bad;
    r.target = line.substr(t0, i - t0);
    const std::string_view version = line.substr(i + 1);
    constexpr std::string_view kPrefix = "HTTP/1.";
    const std::size_t n = std::min(version.size(), kPrefix.size());
    if (version.substr(0, n) != kPrefix.substr(0, n)) return Parse::Bad;
    if (version.size() <= kPrefix.size()) return complete ? Parse::Bad : Parse::NeedMore;
    if (version.size() != kPrefix.size() + 1 || version.back() < '0' || version.back() > '9')
        return Parse::Bad;
    r.minor = version.back() - '0';
    return complete ? Parse::Ok : Parse::NeedMore;
}

Parse parse_header(std::string_view line, Request& r, bool& have_length) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Parse::Bad;
    const std::string_view name = line.substr(0, colon);
    for (char c : name) {
        if (!is_tchar(static_cast<unsigned char>(c))) return Parse::Bad;  // also rejects "Name :"
    }
    const std::string_view value = trim_ows(line.substr(colon + 1));
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7f) return Parse::Bad;
    }
    if (iequals(name, "connection")) {
        std::string_view rest = value;
        while (!rest.empty()) {
            const std::size_t comma = rest.find(',');
            const std::string_view tok = trim_ows(rest.substr(0, comma));
            if (iequals(tok, "close")) r.conn_close = true;
            if (iequals(tok, "keep-alive")) r.conn_keep_alive = true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    } else if (iequals(name, "content-length")) {
        if (value.empty() || value.size() > 15) return Parse::Bad;
        std::uint64_t v = 0;
        for (char c : value) {
            if (c < '0' || c > '9') return Parse::Bad;
            v = v * 10 + std::uint64_t(c - '0');
        }
        if (v > kMaxBodyDiscard) return Parse::Bad;
        if (have_length && v != r.content_length) return Parse::Bad;  // conflicting framing
        r.content_length = v;
        have_length = true;
    } else if (iequals(name, "transfer-encoding")) {
        return Parse::NotImplemented;
    }
    return Parse::Ok;
}

// Lines end in CRLF or a bare LF (tolerated, as most servers do). A bare CR inside a line is a
// control character and rejected.
Parse parse_request(std::string_view buf, Request& r) {
    r = Request{};
    std::size_t pos = 0;
    // RFC 9112 §2.2: ignore empty lines before the request line
    while (pos < buf.size() && (buf[pos] == '\r' || buf[pos] == '\n')) {
        if (buf[pos] == '\r' && (pos + 1 >= buf.size() || buf[pos + 1] != '\n')) {
            if (pos + 1 >= buf.size()) return Parse::NeedMore;
            return Parse::Bad;
        }
        pos += buf[pos] == '\r' ? 2 : 1;
        if (pos > 64) return Parse::Bad;
    }
    bool have_length = false;
    bool first = true;
    while (true) {
        const std::size_t nl = buf.find('\n', pos);
        if (nl == std::string_view::npos) {
            if (buf.size() >= kMaxHeader) return Parse::TooLarge;
            if (first) {
                std::string_view partial = buf.substr(pos);
                if (!partial.empty() && partial.back() == '\r') partial.remove_suffix(1);
                return check_request_line(partial, false, r) == Parse::Bad ? Parse::Bad : Parse::NeedMore;
            }
            return Parse::NeedMore;
        }
        if (nl + 1 > kMaxHeader) return Parse::TooLarge;
        std::string_view line = buf.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = nl + 1;
        if (first) {
            const Parse p = check_request_line(line, true, r);
            if (p != Parse::Ok) return p;
            first = false;
            continue;
        }
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t') return Parse::Bad;  // obsolete line folding
        const Parse p = parse_header(line, r, have_length);
        if (p != Parse::Ok) return p;
    }
    r.head_len = pos;
    return Parse::Ok;
}

// ---- responses ----

const char* reason(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 431:
            return "Request Header Fields Too Large";
        case 501:
            return "Not Implemented";
        default:
            return "Unknown";
    }
}

std::string http_date() {
    char buf[64];
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    const std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf, n);
}

// A /bytes/N suffix as a size; false when it is not all digits (then the path is not ours: 404).
bool parse_size(std::string_view s, std::uint64_t& out) {
    if (s.empty() || s.size() > 19) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + std::uint64_t(c - '0');
    }
    out = v;
    return true;
}

const char* pattern_block() {
    static const std::string block = [] {
        std::string b(kPatternBlock, '\0');
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = bytes_pattern_at(i);
        return b;
    }();
    return block.data();
}

enum class State { Reading, Writing, Lingering };

struct Conn {
    int fd = -1;
    State state = State::Reading;
    std::string in;   // received, not yet parsed
    std::string out;  // response head and small body still to send
    std::size_t out_off = 0;
    std::uint64_t body_off = 0;  // pattern body: next offset and total
    std::uint64_t body_len = 0;
    std::uint64_t discard = 0;  // request body bytes still to drop before the next request
    std::size_t lingered = 0;
    bool close_after = false;
    bool peer_eof = false;  // the client half-closed: answer what is buffered, then close
    bool dead = false;
    std::int64_t deadline = 0;
    std::string local;  // "ADDR:PORT" the client reached, for the / body
};

}  // namespace

struct DemoOrigin::Impl {
    sockaddr_storage want{};
    socklen_t want_len = 0;
    std::atomic<std::uint16_t> bound_port{0};
    std::atomic<std::uint64_t> served{0};
    int listen_fd = -1;
    int wake_fd = -1;
    std::thread thread;
    std::vector<Conn> conns;
    std::int64_t accept_paused_until = 0;

    void run();
    void accept_all(std::int64_t now);
    void on_event(Conn& c, short revents, std::int64_t now);
    void drive(Conn& c, std::int64_t now);
    bool write_some(Conn& c, std::int64_t now);
    void respond(Conn& c, const Request* r, int status, std::int64_t now);
    void on_timeout(Conn& c, std::int64_t now);
    void close_conn(Conn& c);
    void close_all();
};

void DemoOrigin::Impl::close_conn(Conn& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.dead = true;
}

void DemoOrigin::Impl::close_all() {
    for (Conn& c : conns) close_conn(c);
    conns.clear();
    if (listen_fd >= 0) ::close(listen_fd);
    if (wake_fd >= 0) ::close(wake_fd);
    listen_fd = wake_fd = -1;
}

void DemoOrigin::Impl::respond(Conn& c, const Request* r, int status, std::int64_t now) {
    std::string body;
    std::uint64_t pattern_len = 0;
    const char* type = "text/plain";
    const bool head = r && r->method == "HEAD";
    // Replies to requests we could not parse (r == nullptr) always close: the framing is lost.
    const bool keep =
        r && !c.peer_eof && (r->minor >= 1 ? !r->conn_close : (r->conn_keep_alive && !r->conn_close));
    const std::uint64_t n = served.fetch_add(1, std::memory_order_relaxed) + 1;
    switch (status) {
        case 200:
            if (r->target.starts_with("/bytes/")) {
                parse_size(r->target.substr(7), pattern_len);
                type = "application/octet-stream";
            } else {
                if (c.local.empty()) {
                    sockaddr_storage ss{};
                    socklen_t len = sizeof ss;
                    c.local = getsockname(c.fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0
                                  ? sockaddr_text(ss)
                                  : "?";
                }
                body = "edgeshard demo origin: hello from " + c.local +
                       "\nrequests served: " + std::to_string(n) + "\n";
            }
            break;
        case 400:
            body = "bad request\n";
            break;
        case 404:
            body = "not found\n";
            break;
        case 405:
            body = "method not allowed\n";
            break;
        case 408:
            body = "request timeout\n";
            break;
        case 431:
            body = "request header fields too large\n";
            break;
        case 501:
            body = "not implemented\n";
            break;
        default:
            body = "\n";
            break;
    }
    if (status == 400 && r && r->target.starts_with("/bytes/")) body = "size must be at most 67108864\n";
    c.out.clear();
    c.out_off = 0;
    c.out += "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
    c.out += "Server: edgeshard-demo-origin\r\nDate: " + http_date() + "\r\n";
    c.out += "Content-Type: " + std::string(type) + "\r\n";
    c.out += "Content-Length: " + std::to_string(pattern_len ? pattern_len : body.size()) + "\r\n";
    if (status == 405) c.out += "Allow: GET, HEAD\r\n";
    if (!keep) {
        c.out += "Connection: close\r\n";
    } else if (r->minor == 0) {
        c.out += "Connection: keep-alive\r\n";
    }
    c.out += "\r\n";
    if (!head) c.out += body;
    c.body_off = 0;
    c.body_len = head ? 0 : pattern_len;
    c.close_after = !keep;
    c.state = State::Writing;
    c.deadline = now + kWriteMs;
}

// Sends what it can; true when the response is fully out. Closes the connection on a send error.
bool DemoOrigin::Impl::write_some(Conn& c, std::int64_t now) {
    const char* block = pattern_block();
    while (c.out_off < c.out.size() || c.body_off < c.body_len) {
        iovec iov[2];
        int n_iov = 0;
        if (c.out_off < c.out.size()) iov[n_iov++] = {c.out.data() + c.out_off, c.out.size() - c.out_off};
        if (c.body_off < c.body_len) {
            const std::size_t start = c.body_off % kPatternBlock;
            const std::size_t len =
                std::size_t(std::min<std::uint64_t>(c.body_len - c.body_off, kPatternBlock - start));
            iov[n_iov++] = {const_cast<char*>(block + start), len};
        }
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = std::size_t(n_iov);
        const ssize_t sent = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) close_conn(c);
            return false;
        }
        std::size_t left = std::size_t(sent);
        const std::size_t from_out = std::min(left, c.out.size() - c.out_off);
        c.out_off += from_out;
        left -= from_out;
        c.body_off += left;
        c.deadline = now + kWriteMs;
    }
    return true;
}

// Runs the connection's state machine as far as it goes without waiting: write the pending
// response, then parse the next request already buffered, and so on.
void DemoOrigin::Impl::drive(Conn& c, std::int64_t now) {
    while (!c.dead) {
        if (c.state == State::Writing) {
            if (!write_some(c, now)) return;
            c.out.clear();
            c.out_off = 0;
            if (c.close_after && c.peer_eof) {
                close_conn(c);
                return;
            }
            if (c.close_after) {
                // lingering close: stop sending, drain what the peer still sends, then close, so the
                // reply is not destroyed by a reset caused by unread input
                ::shutdown(c.fd, SHUT_WR);
                c.state = State::Lingering;
                c.deadline = now + kLingerMs;
                c.in.clear();
                return;
            }
            c.state = State::Reading;
            c.deadline = 0;
        }
        if (c.state != State::Reading) return;
        if (c.discard > 0) {
            const std::size_t n = std::size_t(std::min<std::uint64_t>(c.discard, c.in.size()));
            c.in.erase(0, n);
            c.discard -= n;
            if (c.discard > 0) {
                if (c.peer_eof) close_conn(c);
                c.deadline = now + kRequestMs;
                return;
            }
        }
        if (c.in.empty()) {
            if (c.peer_eof) close_conn(c);
            c.deadline = now + kIdleMs;
            return;
        }
        Request r;
        const Parse p = parse_request(c.in, r);
        switch (p) {
            case Parse::NeedMore:
                if (c.peer_eof) {
                    close_conn(c);  // a request cut short by the client's FIN is dropped
                    return;
                }
                // the request timer starts with the request's first byte and is not extended by more
                if (c.deadline == 0 || c.deadline > now + kRequestMs) c.deadline = now + kRequestMs;
                return;
            case Parse::Bad:
                respond(c, nullptr, 400, now);
                continue;
            case Parse::TooLarge:
                respond(c, nullptr, 431, now);
                continue;
            case Parse::NotImplemented:
                respond(c, nullptr, 501, now);
                continue;
            case Parse::Ok:
                break;
        }
        std::string_view path = r.target.substr(0, r.target.find('?'));
        std::uint64_t size = 0;
        int status = 404;
        const bool known = path == "/" || (path.starts_with("/bytes/") && parse_size(path.substr(7), size));
        if (known) {
            if (r.method != "GET" && r.method != "HEAD") {
                status = 405;
            } else if (path != "/" && size > kMaxBytes) {
                status = 400;
            } else {
                status = 200;
            }
        }
        // respond() reads r's views into c.in, so erase the head only afterwards
        r.target = path;
        respond(c, &r, status, now);
        c.discard = r.content_length;
        c.in.erase(0, r.head_len);
    }
}

void DemoOrigin::Impl::on_event(Conn& c, short revents, std::int64_t now) {
    if (revents & POLLNVAL) {
        close_conn(c);
        return;
    }
    if (c.state == State::Writing) {
        drive(c, now);
        return;
    }
    char buf[16 * 1024];
    std::size_t budget = kReadBudget;
    while (budget > 0) {
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 || (n == 0 && c.state == State::Lingering)) {
            close_conn(c);
            return;
        }
        if (n == 0) {
            // FIN after the request (e.g. `printf ... | nc`): still answer what is buffered
            c.peer_eof = true;
            break;
        }
        if (c.state == State::Lingering) {
            c.lingered += std::size_t(n);
            if (c.lingered > kLingerBytes) {
                close_conn(c);
                return;
            }
        } else {
            c.in.append(buf, std::size_t(n));
        }
        budget -= std::min(budget, std::size_t(n));
        // stop reading once a full head may be buffered: parse before growing further
        if (c.state == State::Reading && c.in.size() > kMaxHeader) break;
    }
    if (c.state == State::Reading) drive(c, now);
}

void DemoOrigin::Impl::on_timeout(Conn& c, std::int64_t now) {
    if (c.state == State::Reading && (!c.in.empty() || c.discard > 0)) {
        c.in.clear();
        c.discard = 0;
        respond(c, nullptr, 408, now);
        drive(c, now);
        return;
    }
    close_conn(c);
}

void DemoOrigin::Impl::accept_all(std::int64_t now) {
    while (conns.size() < kMaxConns) {
        const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                accept_paused_until = now + kAcceptPauseMs;  // poll would report the listener again at once
            }
            return;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        Conn c;
        c.fd = fd;
        c.deadline = now + kIdleMs;
        conns.push_back(std::move(c));
    }
}

void DemoOrigin::Impl::run() {
    std::vector<pollfd> pfds;
    while (true) {
        std::int64_t now = mono_ms();
        const bool accepting = conns.size() < kMaxConns && now >= accept_paused_until;
        pfds.clear();
        pfds.push_back({wake_fd, POLLIN, 0});
        pfds.push_back({accepting ? listen_fd : -1, POLLIN, 0});  // a negative fd is skipped by poll
        std::int64_t next = accepting ? -1 : accept_paused_until;
        for (const Conn& c : conns) {
            pfds.push_back({c.fd, short(c.state == State::Writing ? POLLOUT : POLLIN), 0});
            if (c.deadline > 0 && (next < 0 || c.deadline < next)) next = c.deadline;
        }
        const int timeout = next < 0 ? -1 : int(std::clamp<std::int64_t>(next - now, 0, 60'000));
        const int rc = ::poll(pfds.data(), pfds.size(), timeout);
        if (rc < 0 && errno != EINTR) {
            std::fprintf(stderr, "edgeshard: demo origin: poll: %s\n", std::strerror(errno));
            return;
        }
        if (pfds[0].revents) return;  // stop()
        now = mono_ms();
        const std::size_t n_polled = pfds.size() - 2;
        for (std::size_t i = 0; i < n_polled; ++i) {
            Conn& c = conns[i];
            if (rc > 0 && pfds[i + 2].revents) on_event(c, pfds[i + 2].revents, now);
            if (!c.dead && c.deadline > 0 && now >= c.deadline) on_timeout(c, now);
        }
        std::erase_if(conns, [](const Conn& c) { return c.dead; });
        if (rc > 0 && (pfds[1].revents & POLLIN)) accept_all(now);
    }
}

DemoOrigin::DemoOrigin(const config::SockAddr& addr) : impl_(std::make_unique<Impl>()) {
    impl_->want = addr.ss;
    impl_->want_len = addr.len;
    impl_->bound_port.store(sockaddr_port(addr.ss), std::memory_order_relaxed);
}

DemoOrigin::~DemoOrigin() {
    stop();
}

void DemoOrigin::start() {
    Impl& m = *impl_;
    if (m.thread.joinable()) return;
    const std::string where = sockaddr_text(m.want);
    auto fail = [&](const char* what) {
        const std::string msg =
            std::string("demo origin ") + where + ": " + what + ": " + std::strerror(errno);
        m.close_all();
        throw std::runtime_error(msg);
    };
    if (m.want_len == 0 || (m.want.ss_family != AF_INET && m.want.ss_family != AF_INET6)) {
        errno = EAFNOSUPPORT;
        fail("no usable address");
    }
    m.listen_fd = ::socket(m.want.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m.listen_fd < 0) fail("socket");
    const int one = 1;
    ::setsockopt(m.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // a reloaded process starts its own demo origin beside the draining one's
    ::setsockopt(m.listen_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(m.listen_fd, reinterpret_cast<const sockaddr*>(&m.want), m.want_len) < 0) fail("bind");
    if (::listen(m.listen_fd, 1024) < 0) fail("listen");
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    if (::getsockname(m.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
        m.bound_port.store(sockaddr_port(bound), std::memory_order_relaxed);
    }
    m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m.wake_fd < 0) fail("eventfd");

    // The thread starts with every signal blocked so process signals keep going to the threads
    // that handle them (main's signalfd / handlers), never to this helper.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    try {
        m.thread = std::thread([&m] {
            pthread_setname_np(pthread_self(), "es-demo-origin");
            try {
                m.run();
            } catch (const std::exception& e) {
                // only allocation failure can get here; the proxy keeps running without its demo
                std::fprintf(stderr, "edgeshard: demo origin stopped: %s\n", e.what());
            }
        });
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        m.close_all();
        throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void DemoOrigin::stop() {
    Impl& m = *impl_;
    if (!m.thread.joinable()) return;
    const std::uint64_t one = 1;
    // eventfd writes of 8 bytes succeed unless the counter would overflow, which one write cannot do
    [[maybe_unused]] const ssize_t n = ::write(m.wake_fd, &one, sizeof one);
    m.thread.join();
    m.close_all();
}

std::uint16_t DemoOrigin::port() const {
    return impl_->bound_port.load(std::memory_order_relaxed);
}

std::uint64_t DemoOrigin::requests_served() const {
    return impl_->served.load(std::memory_order_relaxed);
}

}  // namespace es::origin
