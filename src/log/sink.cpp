// Access-log sink: rings -> per-frontend routes -> buffered stream targets and datagram targets.
#include "edgeshard/log/sink.hpp"

#include <fcntl.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "date_cache.hpp"

namespace es::log {

namespace {

constexpr int kSeverityInfo = 6;
// Datagrams per sendmmsg(2) call: one call per drain tick for a busy target, a bounded stack frame.
constexpr std::size_t kBatch = 64;

struct Name {
    std::string_view name;
    int code;
};

constexpr Name kFacilities[] = {
    {"kern", 0},    {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},    {"syslog", 5},
    {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},    {"auth2", 10},  {"ftp", 11},
    {"ntp", 12},    {"audit", 13},  {"alert", 14},  {"cron2", 15},  {"local0", 16}, {"local1", 17},
    {"local2", 18}, {"local3", 19}, {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
};
constexpr Name kSeverities[] = {{"emerg", 0},   {"alert", 1},  {"crit", 2}, {"err", 3},
                                {"warning", 4}, {"notice", 5}, {"info", 6}, {"debug", 7}};

bool parse_style(std::string_view f, Sink::Style& s) {
    if (f.empty() || f == "rfc3164") {
        s = Sink::Style::Rfc3164;
    } else if (f == "local") {
        s = Sink::Style::Local;
    } else if (f == "raw") {
        s = Sink::Style::Raw;
    } else if (f == "rfc5424") {
        s = Sink::Style::Rfc5424;
    } else if (f == "priority") {
        s = Sink::Style::Priority;
    } else if (f == "short") {
        s = Sink::Style::Short;
    } else if (f == "timed") {
        s = Sink::Style::Timed;
    } else if (f == "iso") {
        s = Sink::Style::Iso;
    } else {
        return false;
    }
    return true;
}

std::int64_t wall_ms() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int open_append(const std::string& path) {
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

void append_int(std::string& s, long v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    s.append(buf, r.ptr);
}

void append_iso(std::string& s, std::int64_t ms) {
    const detail::DateText d = detail::cached_date(detail::DateKind::Iso, detail::epoch_sec(ms));
    const int m = detail::epoch_msec(ms);
    s.append(d.text);
    s.push_back('.');
    s.push_back(char('0' + m / 100));
    s.push_back(char('0' + m / 10 % 10));
    s.push_back(char('0' + m % 10));
    s.append(d.tz);
}

std::runtime_error target_error(const config::LogTarget& t, const std::string& what, int err) {
    return std::runtime_error("log target '" + t.target + "': " + what + ": " + std::strerror(err));
}

}  // namespace

int facility_code(std::string_view name) {
    for (const auto& f : kFacilities)
        if (f.name == name) return f.code;
    return -1;
}

int severity_code(std::string_view name) {
    for (const auto& s : kSeverities)
        if (s.name == name) return s.code;
    return -1;
}

Sink::Sink(const config::Config& cfg, std::vector<Ring*> rings, SinkOptions opt)
    : rings_(std::move(rings)), opt_(std::move(opt)) {
    if (opt_.pid == 0) opt_.pid = int(getpid());
    append_int(pid_text_, opt_.pid);
    if (cfg.global.log_send_hostname) {
        hostname_ = cfg.global.log_hostname;
        if (hostname_.empty()) hostname_ = opt_.hostname;
        if (hostname_.empty()) {
            char host[256] = {};
            if (gethostname(host, sizeof host - 1) == 0) hostname_ = host;
        }
    }

    auto output_for = [this](const config::LogTarget& t) -> int {
        using Kind = config::LogTarget::Kind;
        std::string name;
        switch (t.kind) {
            case Kind::Stdout:
                name = "stdout";
                break;
            case Kind::Stderr:
                name = "stderr";
                break;
            case Kind::File:
                name = t.path;
                break;
            case Kind::Udp:
                name = "udp:" + t.addr.text();
                break;
            case Kind::Unix:
                name = "unix:" + t.path;
                break;
        }
        for (std::size_t i = 0; i < outputs_.size(); ++i)
            if (outputs_[i].name == name) return int(i);
        Output o;
        o.name = name;
        switch (t.kind) {
            case Kind::Stdout:
                o.fd = STDOUT_FILENO;
                break;
            case Kind::Stderr:
                o.fd = STDERR_FILENO;
                break;
            case Kind::File:
                if (t.path.empty()) throw std::runtime_error("log target '" + t.target + "' has no path");
                o.path = t.path;
                o.fd = open_append(t.path);
                if (o.fd < 0)
                    throw std::runtime_error("cannot open log file '" + t.path +
                                             "': " + std::strerror(errno));
                o.owned = true;
                break;
            case Kind::Udp:
                o.dgram = true;
                o.fd = ::socket(t.addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (o.fd < 0) throw target_error(t, "socket", errno);
                o.owned = true;
                std::memcpy(&o.dest, &t.addr.ss, sizeof o.dest);
                o.dest_len = t.addr.len;
                // Connected once: the kernel routes once, and a send needs no address. When it cannot
                // be connected now (no route yet), every send names the address, as HAProxy does.
                o.connected = ::connect(o.fd, reinterpret_cast<const sockaddr*>(&o.dest), o.dest_len) == 0;
                break;
            case Kind::Unix: {
                o.dgram = true;
                sockaddr_un sun{};
                if (t.path.empty() || t.path.size() >= sizeof sun.sun_path)
                    throw std::runtime_error("log target '" + t.target + "': invalid unix socket path");
                sun.sun_family = AF_UNIX;
                std::memcpy(sun.sun_path, t.path.c_str(), t.path.size() + 1);
                std::memcpy(&o.dest, &sun, sizeof sun);
                o.dest_len = socklen_t(offsetof(sockaddr_un, sun_path) + t.path.size() + 1);
                o.fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (o.fd < 0) throw target_error(t, "socket", errno);
                o.owned = true;
                // Not connected: a syslog daemon that restarts binds a new socket at the same path,
                // and addressing each send reaches it (a connected socket would stay refused).
                break;
            }
        }
        o.buf.reserve(opt_.flush_bytes + 2 * kMaxLine);
        if (o.dgram) o.spans.reserve(kBatch * 4);
        outputs_.push_back(std::move(o));
        return int(outputs_.size() - 1);
    };

    // The routes of one proxy's `log` lines. Access records are "info": a target whose level is
    // below that gets no route for them (`access`); server events keep every route and are
    // filtered per message.
    auto build = [&](const std::vector<config::LogTarget>& logs, const std::string& own_tag, bool access,
                     std::vector<Route>& out) {
        const std::string& tag = !own_tag.empty()                 ? own_tag
                                 : !cfg.global.log_tag.empty() ? cfg.global.log_tag
                                                               : opt_.tag;
        for (const config::LogTarget& t : logs) {
            Route r;
            if (!parse_style(t.format, r.hdr.style))
                throw std::runtime_error("log target '" + t.target + "': unknown format '" + t.format + "'");
            const int fac = facility_code(t.facility.empty() ? std::string_view("local0") : t.facility);
            if (fac < 0)
                throw std::runtime_error("log target '" + t.target + "': unknown facility '" + t.facility + "'");
            const int max_level = t.level.empty() ? 7 : severity_code(t.level);
            const int min_level = t.min_level.empty() ? -1 : severity_code(t.min_level);
            if (max_level < 0 || (!t.min_level.empty() && min_level < 0))
                throw std::runtime_error("log target '" + t.target + "': unknown level");
            // HAProxy: only messages at least as severe as the level are sent; a minimum level
            // caps more severe messages down to it. Access records are "info".
            if (access && kSeverityInfo > max_level) continue;
            r.facility = fac;
            r.max_level = max_level;
            r.min_level = min_level;
            r.hdr.pri = fac * 8 + std::max(kSeverityInfo, min_level);
            r.hdr.max_len = t.len > 0 ? std::size_t(t.len) : kMaxLine;
            r.output = output_for(t);
            out.push_back(r);
        }
        for (Route& r : out) {
            if (tags_.empty() || tags_.back() != tag) tags_.push_back(tag);
            r.hdr.tag = tags_.back();
            r.hdr.pid = pid_text_;
            r.hdr.hostname = hostname_;
        }
    };
    try {
        routes_.resize(cfg.frontends.size());
        for (std::size_t i = 0; i < cfg.frontends.size(); ++i)
            build(cfg.frontends[i].logs, cfg.frontends[i].log_tag, true, routes_[i]);
        be_routes_.resize(cfg.backends.size());
        for (std::size_t i = 0; i < cfg.backends.size(); ++i)
            build(cfg.backends[i].logs, cfg.backends[i].log_tag, false, be_routes_[i]);
    } catch (...) {
        for (Output& o : outputs_)
            if (o.owned) ::close(o.fd);
        throw;
    }
}

Sink::~Sink() {
    for (Output& o : outputs_) {
        flush(o);
        if (o.owned && o.fd >= 0) ::close(o.fd);
    }
}

void Sink::set_rings(std::vector<Ring*> rings) {
    rings_ = std::move(rings);
}

bool Sink::writes_anything() const {
    return !outputs_.empty();
}

void Sink::event(std::size_t be, int level, std::string_view line, std::int64_t now_ms) {
    if (be >= be_routes_.size()) return;
    for (const Route& r : be_routes_[be]) {
        if (level > r.max_level) continue;
        Route e = r;
        e.hdr.pri = r.facility * 8 + std::max(level, r.min_level);
        write_line(e, line, now_ms);
        flush(outputs_[std::size_t(r.output)]);
    }
}

void Sink::format_line(const Header& h, std::string_view line, std::int64_t now_ms, std::string& b) {
    const std::size_t start = b.size();
    const std::int64_t sec = detail::epoch_sec(now_ms);
    switch (h.style) {
        case Style::Raw:
            break;
        case Style::Rfc3164:
        case Style::Local:
            b.push_back('<');
            append_int(b, h.pri);
            b.push_back('>');
            b.append(detail::cached_date(detail::DateKind::Rfc3164, sec).text);
            b.push_back(' ');
            if (h.style == Style::Rfc3164 && !h.hostname.empty()) b.append(h.hostname).push_back(' ');
            b.append(h.tag).push_back('[');
            b.append(h.pid).append("]: ");
            break;
        case Style::Rfc5424:
            b.push_back('<');
            append_int(b, h.pri);
            b.append(">1 ");
            append_iso(b, now_ms);
            b.push_back(' ');
            b.append(h.hostname.empty() ? std::string_view("-") : h.hostname).push_back(' ');
            b.append(h.tag).push_back(' ');
            b.append(h.pid).append(" - - ");
            break;
        case Style::Priority:
            b.push_back('<');
            append_int(b, h.pri);
            b.push_back('>');
            break;
        case Style::Short:
            b.push_back('<');
            append_int(b, h.pri & 7);
            b.push_back('>');
            break;
        case Style::Timed:
            b.push_back('<');
            append_int(b, h.pri & 7);
            b.push_back('>');
            append_iso(b, now_ms);
            b.push_back(' ');
            break;
        case Style::Iso:
            append_iso(b, now_ms);
            b.push_back(' ');
            break;
    }
    // `len` bounds the line with its header, the final '\n' aside (HAProxy's datagrams: len + 1).
    const std::size_t used = b.size() - start;
    if (used < h.max_len)
        b.append(line.substr(0, h.max_len - used));
    else
        b.resize(start + h.max_len);
    b.push_back('\n');
}

void Sink::write_line(const Route& r, std::string_view line, std::int64_t now_ms) {
    Output& o = outputs_[std::size_t(r.output)];
    const std::size_t start = o.buf.size();
    format_line(r.hdr, line, now_ms, o.buf);
    ++o.pending;
    if (o.dgram) {
        o.spans.emplace_back(std::uint32_t(start), std::uint32_t(o.buf.size() - start));
        if (o.buf.size() >= opt_.flush_bytes) send_datagrams(o);
    } else if (o.buf.size() >= opt_.flush_bytes) {
        flush(o);
    }
}

void Sink::flush(Output& o) {
    if (o.dgram) return send_datagrams(o);
    std::size_t done = 0;
    while (done < o.buf.size()) {
        const ssize_t n = ::write(o.fd, o.buf.data() + done, o.buf.size() - done);
        if (n > 0) {
            done += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        // EAGAIN on a non-blocking stdout, ENOSPC, EBADF...: the rest of this batch is lost and
        // counted; the control shard must never wait on a log target.
        ++counters_.write_errors;
        break;
    }
    // lines wholly written count as written; the one cut by a failure and those after it as dropped
    const std::size_t complete =
        done == o.buf.size() ? o.pending : std::size_t(std::count(o.buf.data(), o.buf.data() + done, '\n'));
    counters_.lines += complete;
    counters_.dropped += o.pending - complete;
    counters_.bytes += done;
    o.buf.clear();
    o.pending = 0;
}

void Sink::send_datagrams(Output& o) {
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    std::size_t i = 0;
    const std::size_t total = o.spans.size();
    while (i < total) {
        const std::size_t n = std::min(kBatch, total - i);
        for (std::size_t k = 0; k < n; ++k) {
            iov[k].iov_base = o.buf.data() + o.spans[i + k].first;
            iov[k].iov_len = o.spans[i + k].second;
            msgs[k] = {};
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
            if (!o.connected) {
                msgs[k].msg_hdr.msg_name = &o.dest;
                msgs[k].msg_hdr.msg_namelen = o.dest_len;
            }
        }
        const int sent = ::sendmmsg(o.fd, msgs, unsigned(n), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            for (int k = 0; k < sent; ++k) counters_.bytes += msgs[k].msg_len;
            counters_.datagrams += std::uint64_t(sent);
            counters_.lines += std::uint64_t(sent);
            i += std::size_t(sent);
            continue;
        }
        if (sent < 0 && errno == EINTR) continue;
        ++counters_.write_errors;
        // A connected UDP socket reports a port unreachable from an earlier datagram on the next send
        // (ECONNREFUSED): that datagram is lost, the following ones may pass. Anything else (a full
        // socket buffer, no listener on a unix socket, no route) drops the rest of this drain's
        // datagrams rather than retrying on the control shard.
        if (sent < 0 && errno == ECONNREFUSED && o.connected) {
            ++counters_.dropped;
            ++i;
            continue;
        }
        counters_.dropped += total - i;
        break;
    }
    o.buf.clear();
    o.spans.clear();
    o.pending = 0;
}

std::size_t Sink::drain() {
    const std::int64_t now = wall_ms();
    std::size_t total = 0;
    for (Ring* ring : rings_) {
        if (!ring) continue;
        total += ring->drain([&](std::string_view rec) {
            std::uint16_t fe = 0;
            std::string_view line;
            if (!split_record(rec, fe, line) || fe >= routes_.size() || routes_[fe].empty()) {
                ++counters_.unrouted;
                return;
            }
            for (const Route& r : routes_[fe]) write_line(r, line, now);
        });
    }
    counters_.records += total;
    for (Output& o : outputs_)
        if (!o.buf.empty()) flush(o);
    return total;
}

std::size_t Sink::reopen(std::string* err) {
    std::size_t failures = 0;
    for (Output& o : outputs_) {
        if (!o.owned || o.path.empty()) continue;
        flush(o);
        const int fd = open_append(o.path);
        if (fd < 0) {
            ++failures;
            if (err) {
                if (!err->empty()) err->append("; ");
                err->append("cannot reopen log file '")
                    .append(o.path)
                    .append("': ")
                    .append(std::strerror(errno));
            }
            continue;
        }
        ::close(o.fd);
        o.fd = fd;
    }
    return failures;
}

}  // namespace es::log
