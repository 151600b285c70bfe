// Access-log sink: rings -> per-frontend routes -> buffered targets.
#include "edgeshard/log/sink.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "date_cache.hpp"

namespace es::log {

namespace {

constexpr int kSeverityInfo = 6;

struct FacilityName {
    std::string_view name;
    int code;
};

constexpr FacilityName kFacilities[] = {
    {"kern", 0},    {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},    {"syslog", 5},
    {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},    {"auth2", 10},  {"ftp", 11},
    {"ntp", 12},    {"audit", 13},  {"alert", 14},  {"cron2", 15},  {"local0", 16}, {"local1", 17},
    {"local2", 18}, {"local3", 19}, {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
};

bool parse_style(std::string_view f, Sink::Style& s) {
    if (f.empty() || f == "rfc3164" || f == "local") {
        s = Sink::Style::Rfc3164;
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

}  // namespace

int facility_code(std::string_view name) {
    for (const auto& f : kFacilities)
        if (f.name == name) return f.code;
    return -1;
}

Sink::Sink(const config::Config& cfg, std::vector<Ring*> rings, SinkOptions opt)
    : rings_(std::move(rings)), opt_(std::move(opt)) {
    if (opt_.pid == 0) opt_.pid = int(getpid());
    append_int(pid_text_, opt_.pid);
    if (opt_.hostname.empty()) {
        char host[256] = {};
        if (gethostname(host, sizeof host - 1) == 0) opt_.hostname = host;
        if (opt_.hostname.empty()) opt_.hostname = "-";
    }

    auto output_for = [this](const std::string& target) -> int {
        std::string name, path;
        int fd = -1;
        if (target == "stdout" || target == "fd@1") {
            name = "stdout";
            fd = STDOUT_FILENO;
        } else if (target == "stderr" || target == "fd@2") {
            name = "stderr";
            fd = STDERR_FILENO;
        } else if (target.starts_with("file@")) {
            path = target.substr(5);
            name = path;
            if (path.empty()) throw std::runtime_error("log target 'file@' has no path");
        } else {
            return -1;
        }
        for (std::size_t i = 0; i < outputs_.size(); ++i)
            if (outputs_[i].name == name) return int(i);
        Output o;
        o.name = name;
        o.path = path;
        if (!path.empty()) {
            o.fd = open_append(path);
            if (o.fd < 0)
                throw std::runtime_error("cannot open log file '" + path + "': " + std::strerror(errno));
            o.owned = true;
        } else {
            o.fd = fd;
        }
        o.buf.reserve(opt_.flush_bytes + 2 * kMaxLine);
        outputs_.push_back(std::move(o));
        return int(outputs_.size() - 1);
    };

    try {
        routes_.resize(cfg.frontends.size());
        for (std::size_t i = 0; i < cfg.frontends.size(); ++i) {
            for (const config::LogTarget& t : cfg.frontends[i].logs) {
                Route r;
                if (!parse_style(t.format, r.style))
                    throw std::runtime_error("log target '" + t.target + "': unknown format '" + t.format + "'");
                const int fac = facility_code(t.facility.empty() ? std::string_view("local0") : t.facility);
                if (fac < 0)
                    throw std::runtime_error("log target '" + t.target + "': unknown facility '" + t.facility +
                                             "'");
                r.pri = fac * 8 + kSeverityInfo;
                r.output = output_for(t.target);
                routes_[i].push_back(r);
            }
        }
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

void Sink::write_line(Route r, std::string_view line, std::int64_t now_ms) {
    if (r.output < 0) {
        ++counters_.unsent;
        return;
    }
    Output& o = outputs_[std::size_t(r.output)];
    std::string& b = o.buf;
    const std::int64_t sec = detail::epoch_sec(now_ms);
    switch (r.style) {
        case Style::Raw:
            break;
        case Style::Rfc3164:
            b.push_back('<');
            append_int(b, r.pri);
            b.push_back('>');
            b.append(detail::cached_date(detail::DateKind::Rfc3164, sec).text);
            b.push_back(' ');
            b.append(opt_.tag).push_back('[');
            b.append(pid_text_).append("]: ");
            break;
        case Style::Rfc5424:
            b.push_back('<');
            append_int(b, r.pri);
            b.append(">1 ");
            append_iso(b, now_ms);
            b.push_back(' ');
            b.append(opt_.hostname).push_back(' ');
            b.append(opt_.tag).push_back(' ');
            b.append(pid_text_).append(" - - ");
            break;
        case Style::Priority:
            b.push_back('<');
            append_int(b, r.pri);
            b.push_back('>');
            break;
        case Style::Short:
            b.push_back('<');
            append_int(b, r.pri & 7);
            b.push_back('>');
            break;
        case Style::Timed:
            b.push_back('<');
            append_int(b, r.pri & 7);
            b.push_back('>');
            append_iso(b, now_ms);
            b.push_back(' ');
            break;
        case Style::Iso:
            append_iso(b, now_ms);
            b.push_back(' ');
            break;
    }
    b.append(line).push_back('\n');
    ++counters_.lines;
    if (b.size() >= opt_.flush_bytes) flush(o);
}

void Sink::flush(Output& o) {
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
    counters_.bytes += done;
    o.buf.clear();
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
        if (!o.owned) continue;
        flush(o);
        const int fd = open_append(o.path);
        if (fd < 0) {
            ++failures;
            if (err) {
                if (!err->empty()) err->append("; ");
                err->append("cannot reopen log file '").append(o.path).append("': ").append(std::strerror(errno));
            }
            continue;
        }
        ::close(o.fd);
        o.fd = fd;
    }
    return failures;
}

}  // namespace es::log
