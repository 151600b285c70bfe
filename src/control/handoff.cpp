// The reload handoff, protocol v1 (see src/control/README.md "Reload" for the exchange).
#include "edgeshard/control/handoff.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <stdexcept>

#include "edgeshard/core/clock.hpp"

namespace es::control::handoff {

namespace {

// Names travel as single words: '%', whitespace and control bytes are %XX-escaped.
std::string esc(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string o;
    for (const unsigned char c : s) {
        if (c <= ' ' || c == '%' || c >= 0x7f) {
            o.push_back('%');
            o.push_back(kHex[c >> 4]);
            o.push_back(kHex[c & 15]);
        } else {
            o.push_back(char(c));
        }
    }
    return o.empty() ? "%" : o;  // "%" alone: the empty name
}

std::string unesc(std::string_view s) {
    if (s == "%") return {};
    std::string o;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            o.push_back(s[i]);
            continue;
        }
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        if (i + 2 >= s.size()) throw std::runtime_error("bad escape in a name");
        const int h = hex(s[i + 1]), l = hex(s[i + 2]);
        if (h < 0 || l < 0) throw std::runtime_error("bad escape in a name");
        o.push_back(char(h * 16 + l));
        i += 2;
    }
    return o;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> w;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        const std::size_t b = i;
        while (i < line.size() && line[i] != ' ') ++i;
        if (i > b) w.push_back(line.substr(b, i - b));
    }
    return w;
}

template <typename T>
T num(std::string_view s, const char* what) {
    T v{};
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) throw std::runtime_error(std::string("bad ") + what);
    return v;
}

// Waits until fd is ready for `events` or the deadline passes.
bool wait_fd(int fd, short events, std::int64_t deadline) {
    for (;;) {
        const std::int64_t left = deadline - core::now_ms();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, int(left));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

// Writes all of `data` (and the descriptors, with its first byte) before the deadline.
bool write_all(int fd, std::string_view data, const int* fds, std::size_t nfds, std::int64_t deadline) {
    std::size_t off = 0;
    bool fds_sent = nfds == 0;
    while (off < data.size()) {
        iovec iov{const_cast<char*>(data.data() + off), data.size() - off};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kBatch)];
        if (!fds_sent) {
            msg.msg_control = cbuf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            std::memset(cbuf, 0, sizeof cbuf);
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += std::size_t(n);
            fds_sent = true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd, POLLOUT, deadline)) return false;
            continue;
        }
        return false;
    }
    return true;
}

// A reader of the new process's side: bytes and descriptors in arrival order.
struct Reader {
    int fd;
    std::string buf;
    std::size_t pos = 0;
    std::deque<int> fds;
    std::int64_t deadline;

    ~Reader() {
        for (int f : fds) ::close(f);
    }

    bool fill() {
        char data[16384];
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kBatch)];
        for (;;) {
            iovec iov{data, sizeof data};
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf;
            msg.msg_controllen = sizeof cbuf;
            const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (!wait_fd(fd, POLLIN, deadline)) throw std::runtime_error("timed out waiting for the running process");
                continue;
            }
            if (n < 0) throw std::runtime_error(std::string("reading from the running process: ") + std::strerror(errno));
            for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
                const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (std::size_t i = 0; i < k; ++i) {
                    int f;
                    std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
                    fds.push_back(f);
                }
            }
            if (msg.msg_flags & MSG_CTRUNC) throw std::runtime_error("descriptors were truncated in transit");
            if (n == 0) return false;
            buf.append(data, std::size_t(n));
            return true;
        }
    }

    std::string line() {
        for (;;) {
            const std::size_t nl = buf.find('\n', pos);
            if (nl != std::string::npos) {
                std::string l = buf.substr(pos, nl - pos);
                pos = nl + 1;
                return l;
            }
            if (buf.size() - pos > 4096) throw std::runtime_error("protocol error: line too long");
            if (!fill()) throw std::runtime_error("the running process closed the connection");
        }
    }

    std::string bytes(std::size_t n) {
        while (buf.size() - pos < n)
            if (!fill()) throw std::runtime_error("the running process closed the connection");
        std::string s = buf.substr(pos, n);
        pos += n;
        return s;
    }
};

}  // namespace

std::string encode_state(const State& s) {
    std::string o = "es-state 1\n";
    o += "pid " + std::to_string(s.pid) + "\n";
    o += "generation " + std::to_string(s.generation) + "\n";
    o += "reloads " + std::to_string(s.reloads) + "\n";
    for (const auto& v : s.servers)
        o += "server " + esc(v.backend) + " " + esc(v.server) + " " + std::to_string(v.weight) + " " +
             std::to_string(int(v.admin)) + (v.maxconn >= 0 ? " " + std::to_string(v.maxconn) : std::string()) + "\n";
    for (const auto& h : s.health)
        o += "health " + esc(h.backend) + " " + esc(h.server) + " " + std::to_string(h.state.health) + " " +
             (h.state.up ? "1" : "0") + " " + std::to_string(h.state.failed) + " " +
             std::to_string(h.state.down_trans) +
             (h.state.agent_health >= 0 ? " " + std::to_string(h.state.agent_health) : std::string()) + "\n";
    if (!s.ticket_keys.empty()) o += "ticket-keys " + s.ticket_keys + "\n";
    o += "totals " + std::to_string(s.totals.size()) + "\n";
    o += s.totals;
    o += "end\n";
    return o;
}

State decode_state(std::string_view text) {
    State s;
    std::size_t pos = 0;
    auto next_line = [&]() -> std::string_view {
        const std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) throw std::runtime_error("state: truncated");
        const std::string_view l = text.substr(pos, nl - pos);
        pos = nl + 1;
        return l;
    };
    if (next_line() != "es-state 1") throw std::runtime_error("state: unknown version");
    for (;;) {
        const std::string_view l = next_line();
        const auto w = words(l);
        if (w.empty()) continue;
        if (w[0] == "end") break;
        if (w[0] == "pid" && w.size() == 2) {
            s.pid = num<int>(w[1], "pid");
        } else if (w[0] == "generation" && w.size() == 2) {
            s.generation = num<int>(w[1], "generation");
        } else if (w[0] == "reloads" && w.size() == 2) {
            s.reloads = num<int>(w[1], "reloads");
        } else if (w[0] == "server" && (w.size() == 5 || w.size() == 6)) {
            State::ServerState v;
            v.backend = unesc(w[1]);
            v.server = unesc(w[2]);
            v.weight = num<int>(w[3], "weight");
            const int a = num<int>(w[4], "admin state");
            if (a < 0 || a > 2 || v.weight < 0 || v.weight > 256) throw std::runtime_error("state: bad server line");
            v.admin = shard::ServerAdmin(a);
            if (w.size() == 6) v.maxconn = num<int>(w[5], "maxconn");
            s.servers.push_back(std::move(v));
        } else if (w[0] == "health" && (w.size() == 7 || w.size() == 8)) {
            State::HealthState h;
            h.backend = unesc(w[1]);
            h.server = unesc(w[2]);
            h.state.health = num<int>(w[3], "health");
            h.state.up = num<int>(w[4], "health state") != 0;
            h.state.failed = num<std::uint64_t>(w[5], "failed checks");
            h.state.down_trans = num<std::uint64_t>(w[6], "down transitions");
            if (w.size() == 8) h.state.agent_health = num<int>(w[7], "agent health");
            s.health.push_back(std::move(h));
        } else if (w[0] == "ticket-keys" && w.size() >= 3) {
            s.ticket_keys = std::string(l.substr(std::string_view("ticket-keys ").size()));
        } else if (w[0] == "totals" && w.size() == 2) {
            const auto n = num<std::size_t>(w[1], "totals length");
            if (n > text.size() - pos) throw std::runtime_error("state: truncated totals");
            s.totals = std::string(text.substr(pos, n));
            pos += n;
        }
        // unknown lines: a newer sender; skipped
    }
    return s;
}

std::string send_listeners(int fd, const std::vector<shard::ListenerRecord>& ls, const State& st) {
    const std::int64_t deadline = core::now_ms() + kIoTimeoutMs;
    const std::string hello = "handoff " + std::to_string(kVersion) + " pid=" + std::to_string(st.pid) +
                              " gen=" + std::to_string(st.generation) + " listeners=" + std::to_string(ls.size()) +
                              "\n";
    if (!write_all(fd, hello, nullptr, 0, deadline)) return "writing the greeting failed";
    for (std::size_t b = 0; b < ls.size(); b += kBatch) {
        const std::size_t e = std::min(ls.size(), b + kBatch);
        std::string lines;
        int fds[kBatch];
        for (std::size_t i = b; i < e; ++i) {
            const auto& l = ls[i];
            lines += "L " + std::to_string(l.seq) + " " + std::to_string(l.shard) + " " + esc(l.frontend) + "#" +
                     std::to_string(l.bind) + " " + esc(l.addr) + "\n";
            fds[i - b] = l.fd;
        }
        if (!write_all(fd, lines, fds, e - b, deadline)) return "sending the listening sockets failed";
    }
    const std::string state = encode_state(st);
    if (!write_all(fd, "state " + std::to_string(state.size()) + "\n" + state + "end\n", nullptr, 0, deadline))
        return "sending the state failed";
    return {};
}

bool send_frame(int fd, std::string_view kind, std::string_view payload) {
    std::string f;
    f.reserve(kind.size() + payload.size() + 24);
    f.append(kind).append(" ").append(std::to_string(payload.size())).append("\n").append(payload);
    return write_all(fd, f, nullptr, 0, core::now_ms() + kIoTimeoutMs);
}

bool read_frame(int fd, std::string& kind, std::string& payload, int timeout_ms) {
    // byte-at-a-time up to the newline keeps the stream in step without a buffer shared across calls
    const std::int64_t deadline = core::now_ms() + timeout_ms;
    std::string head;
    for (;;) {
        char c;
        const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
        if (n == 1) {
            if (c == '\n') break;
            head.push_back(c);
            if (head.size() > 64) return false;
            continue;
        }
        if (n == 0) return false;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (!wait_fd(fd, POLLIN, deadline)) return false;
    }
    const auto w = words(head);
    if (w.size() != 2) return false;
    std::size_t len = 0;
    try {
        len = num<std::size_t>(w[1], "length");
    } catch (const std::exception&) {
        return false;
    }
    if (len > kMaxState) return false;
    kind = std::string(w[0]);
    payload.assign(len, '\0');
    std::size_t got = 0;
    while (got < len) {
        const ssize_t n = ::recv(fd, payload.data() + got, len - got, MSG_DONTWAIT);
        if (n > 0) {
            got += std::size_t(n);
            continue;
        }
        if (n == 0) return false;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (!wait_fd(fd, POLLIN, deadline)) return false;
    }
    return true;
}

Taken take_over(const std::string& path) {
    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path) throw std::runtime_error("-x " + path + ": path too long");
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw std::runtime_error(std::string("-x: socket: ") + std::strerror(errno));
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
        const int e = errno;
        ::close(fd);
        throw std::runtime_error("-x " + path + ": cannot reach the running process: " + std::strerror(e));
    }
    Taken t;
    try {
        const std::int64_t deadline = core::now_ms() + kIoTimeoutMs;
        if (!write_all(fd, "_handoff " + std::to_string(kVersion) + "\n", nullptr, 0, deadline))
            throw std::runtime_error("sending the request failed");
        Reader r{fd, {}, 0, {}, deadline};
        const std::string hello = r.line();
        const auto w = words(hello);
        if (w.size() < 5 || w[0] != "handoff") {
            std::string why = hello;
            while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
            throw std::runtime_error("the running process refused: " + (why.empty() ? std::string("no answer") : why) +
                                     " (the stats socket needs 'level admin')");
        }
        if (num<int>(w[1], "version") != kVersion) throw std::runtime_error("protocol version mismatch");
        std::size_t n = 0;
        for (const auto& x : w) {
            if (x.starts_with("pid=")) t.pid = num<int>(x.substr(4), "pid");
            if (x.starts_with("listeners=")) n = num<std::size_t>(x.substr(10), "listener count");
        }
        if (n > 65536) throw std::runtime_error("protocol error: listener count");
        for (std::size_t i = 0; i < n; ++i) {
            const std::string l = r.line();
            const auto lw = words(l);
            if (lw.size() != 5 || lw[0] != "L") throw std::runtime_error("protocol error: listener line");
            if (r.fds.empty()) throw std::runtime_error("protocol error: a listener came without its socket");
            shard::ListenerRecord rec;
            rec.fd = r.fds.front();
            r.fds.pop_front();
            t.listeners.push_back(rec);  // owned by t from here
            auto& back = t.listeners.back();
            back.seq = num<int>(lw[1], "seq");
            back.shard = num<int>(lw[2], "shard");
            const std::string id = unesc(lw[3]);
            const std::size_t hash = id.rfind('#');
            if (hash == std::string::npos) throw std::runtime_error("protocol error: bind identity");
            back.frontend = id.substr(0, hash);
            back.bind = num<int>(std::string_view(id).substr(hash + 1), "bind index");
            back.addr = unesc(lw[4]);
        }
        const std::string sl = r.line();
        const auto sw = words(sl);
        if (sw.size() != 2 || sw[0] != "state") throw std::runtime_error("protocol error: state");
        const auto len = num<std::size_t>(sw[1], "state length");
        if (len > kMaxState) throw std::runtime_error("protocol error: state too large");
        t.state = decode_state(r.bytes(len));
        if (r.line() != "end") throw std::runtime_error("protocol error: end");
        if (t.pid == 0) t.pid = t.state.pid;
    } catch (const std::exception& e) {
        for (auto& l : t.listeners) ::close(l.fd);
        ::close(fd);
        throw std::runtime_error(std::string("-x ") + path + ": " + e.what());
    }
    t.fd = fd;
    return t;
}

void commit(const Taken& t, const std::vector<int>& adopted) {
    std::string line = "_commit ";
    if (adopted.empty()) line += "-";
    for (std::size_t i = 0; i < adopted.size(); ++i) line += (i ? "," : "") + std::to_string(adopted[i]);
    line += "\n";
    const std::int64_t deadline = core::now_ms() + kIoTimeoutMs;
    if (!write_all(t.fd, line, nullptr, 0, deadline)) throw std::runtime_error("commit: the running process is gone");
    std::string answer;
    for (;;) {
        char c;
        const ssize_t n = ::recv(t.fd, &c, 1, MSG_DONTWAIT);
        if (n == 1) {
            if (c == '\n') break;
            answer.push_back(c);
            if (answer.size() > 256) break;
            continue;
        }
        if (n == 0) throw std::runtime_error("commit: the running process closed the connection");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) throw std::runtime_error("commit: read failed");
        if (!wait_fd(t.fd, POLLIN, deadline)) throw std::runtime_error("commit: no answer from the running process");
    }
    if (answer != "committed") throw std::runtime_error("commit refused: " + answer);
}

}  // namespace es::control::handoff
