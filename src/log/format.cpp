// log-format compilation and rendering.
//
// A format is compiled at boot into a flat list of items (literal slice, separator, or variable
// with flags); render() walks it once and writes into the caller's buffer through a cursor that
// silently stops at the end, so a long request line truncates the record instead of overflowing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <climits>
#include <cstdio>
#include <stdexcept>

#include "date_cache.hpp"
#include "edgeshard/core/ipv4_text.hpp"
#include "edgeshard/log/access_log.hpp"

namespace es::log {

// HAProxy's `option httplog` and `option tcplog` (configuration manual §8.2.3 and §8.2.2).
const std::string_view kHttpLogFormat =
    "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
const std::string_view kTcpLogFormat = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

enum class Format::Var : std::uint8_t {
    Literal,
    Separator,
    ClientIp, ClientPort, FrontendIp, FrontendPort, ServerIp, ServerPort,
    AcceptDate, RequestDate, GmtDate, LocalDate, Timestamp, Millis, Pid, Hostname,
    FrontendTransport, Frontend, Backend, Server,
    TR, Tw, Tc, Tr, Ta, Tt, Th, Ti, Tq, Td, Tu,
    Status, BytesRead, BytesUploaded, TermState, TermStateCookie,
    ActConn, FeConn, BeConn, SrvConn, Retries, SrvQueue, BackendQueue,
    Method, Uri, Version, Path, Query, RequestLine,
    CapReq, CapRsp,          // %hr %hs: "{v0|v1}" (nothing without slots of that direction)
    CapReqList, CapRspList,  // %hrl %hsl: "v0 v1", a value not captured as "-"
    CapReqHdr, CapRspHdr,    // %[capture.req.hdr(N)] %[capture.res.hdr(N)]: slot N as it is ("-": none)
    Sample,                  // %[expr]: the value the proxy evaluated at log time (Fields::samples)
    CliCookie, SrvCookie,    // %CC %CS: `capture cookie` ("-" without)
    UniqueId, RequestCounter,  // %ID %rt
};

namespace detail {

namespace {

constexpr const char* kMonths[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct CachedDate {
    std::int64_t sec = LLONG_MIN;
    char text[40];
    char tz[8];
    std::uint8_t len = 0, tzlen = 0;
};

thread_local CachedDate t_dates[kDateKinds];

std::atomic<long> g_utc_offset{0};  // seconds east of UTC, written by the control thread

// Days since 1970-01-01 -> civil date (proleptic Gregorian), for any day count: the 400-year era,
// the day of the era, the year of the era, then a March-based day of year and month.
void civil_from_days(std::int64_t z, int& y, int& m, int& d) {
    z += 719468;  // days from 0000-03-01 to 1970-01-01
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = std::uint32_t(z - era * 146097);                          // [0, 146096]
    const std::uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
    const std::uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);          // [0, 365]
    const std::uint32_t mp = (5 * doy + 2) / 153;                               // March = 0
    d = int(doy - (153 * mp + 2) / 5 + 1);
    m = int(mp < 10 ? mp + 3 : mp - 9);
    y = int(std::int64_t(yoe) + era * 400 + (m <= 2 ? 1 : 0));
}

}  // namespace

tm broken_down(std::int64_t sec, long utc_offset_s) {
    const std::int64_t t = sec + utc_offset_s;
    std::int64_t days = t / 86400;
    std::int64_t rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        --days;
    }
    tm v{};
    int y = 1970, m = 1, d = 1;
    civil_from_days(days, y, m, d);
    v.tm_year = y - 1900;
    v.tm_mon = m - 1;
    v.tm_mday = d;
    v.tm_hour = int(rem / 3600);
    v.tm_min = int(rem / 60 % 60);
    v.tm_sec = int(rem % 60);
    v.tm_gmtoff = utc_offset_s;
    return v;
}

long utc_offset() { return g_utc_offset.load(std::memory_order_relaxed); }

DateText cached_date(DateKind kind, std::int64_t sec) {
    CachedDate& c = t_dates[int(kind)];
    if (c.sec != sec) {
        const tm tmv = broken_down(sec, kind == DateKind::Gmt ? 0 : utc_offset());
        const long off_min = tmv.tm_gmtoff / 60;
        const char sign = off_min < 0 ? '-' : '+';
        const long aoff = off_min < 0 ? -off_min : off_min;
        const char* mon = kMonths[tmv.tm_mon < 0 || tmv.tm_mon > 11 ? 0 : tmv.tm_mon];
        int n = 0;
        switch (kind) {
            case DateKind::Local:
                n = std::snprintf(c.text, sizeof c.text, "%02d/%s/%04d:%02d:%02d:%02d", tmv.tm_mday, mon,
                                  tmv.tm_year + 1900, tmv.tm_hour, tmv.tm_min, tmv.tm_sec);
                break;
            case DateKind::Gmt:
            case DateKind::LocalTz:
                n = std::snprintf(c.text, sizeof c.text, "%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld", tmv.tm_mday,
                                  mon, tmv.tm_year + 1900, tmv.tm_hour, tmv.tm_min, tmv.tm_sec,
                                  kind == DateKind::Gmt ? '+' : sign, kind == DateKind::Gmt ? 0L : aoff / 60,
                                  kind == DateKind::Gmt ? 0L : aoff % 60);
                break;
            case DateKind::Rfc3164:
                n = std::snprintf(c.text, sizeof c.text, "%s %2d %02d:%02d:%02d", mon, tmv.tm_mday, tmv.tm_hour,
                                  tmv.tm_min, tmv.tm_sec);
                break;
            case DateKind::Iso: {
                n = std::snprintf(c.text, sizeof c.text, "%04d-%02d-%02dT%02d:%02d:%02d", tmv.tm_year + 1900,
                                  tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour, tmv.tm_min, tmv.tm_sec);
                const int z = std::snprintf(c.tz, sizeof c.tz, "%c%02ld:%02ld", sign, aoff / 60 % 100, aoff % 60);
                c.tzlen = std::uint8_t(z > 0 && z < int(sizeof c.tz) ? z : 0);
                break;
            }
        }
        c.len = std::uint8_t(n > 0 && n < int(sizeof c.text) ? n : 0);
        c.sec = sec;
    }
    return {std::string_view(c.text, c.len), std::string_view(c.tz, c.tzlen)};
}

}  // namespace detail

void publish_utc_offset() {
    const time_t now = time(nullptr);
    tm v{};
    if (localtime_r(&now, &v)) detail::g_utc_offset.store(v.tm_gmtoff, std::memory_order_relaxed);
}

namespace {

using Var = Format::Var;

constexpr std::uint8_t kQuote = 1, kHex = 2, kEscape = 4;

struct Name {
    std::string_view name;
    Var var;
};

// clang-format off
constexpr Name kNames[] = {
    {"ci", Var::ClientIp}, {"cp", Var::ClientPort}, {"fi", Var::FrontendIp}, {"fp", Var::FrontendPort},
    {"si", Var::ServerIp}, {"sp", Var::ServerPort},
    {"t", Var::AcceptDate}, {"tr", Var::RequestDate}, {"T", Var::GmtDate}, {"Tl", Var::LocalDate},
    {"Ts", Var::Timestamp}, {"ms", Var::Millis}, {"pid", Var::Pid}, {"H", Var::Hostname},
    {"ft", Var::FrontendTransport}, {"f", Var::Frontend}, {"b", Var::Backend}, {"s", Var::Server},
    {"TR", Var::TR}, {"Tw", Var::Tw}, {"Tc", Var::Tc}, {"Tr", Var::Tr}, {"Ta", Var::Ta}, {"Tt", Var::Tt},
    {"Th", Var::Th}, {"Ti", Var::Ti}, {"Tq", Var::Tq}, {"Td", Var::Td}, {"Tu", Var::Tu},
    {"ST", Var::Status}, {"B", Var::BytesRead}, {"U", Var::BytesUploaded},
    {"ts", Var::TermState}, {"tsc", Var::TermStateCookie},
    {"ac", Var::ActConn}, {"fc", Var::FeConn}, {"bc", Var::BeConn}, {"sc", Var::SrvConn}, {"rc", Var::Retries},
    {"sq", Var::SrvQueue}, {"bq", Var::BackendQueue},
    {"HM", Var::Method}, {"HU", Var::Uri}, {"HV", Var::Version}, {"HP", Var::Path}, {"HQ", Var::Query},
    {"r", Var::RequestLine},
    {"hr", Var::CapReq}, {"hs", Var::CapRsp}, {"hrl", Var::CapReqList}, {"hsl", Var::CapRspList},
    {"CC", Var::CliCookie}, {"CS", Var::SrvCookie}, {"ID", Var::UniqueId}, {"rt", Var::RequestCounter},
};
// clang-format on

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

[[noreturn]] void fail(std::string_view fmt, std::string msg) {
    msg.append(" in log-format '").append(fmt).append("'");
    throw std::runtime_error(msg);
}

// A cursor that never writes past its end. `printed` tracks whether the last item produced output
// (HAProxy's separator rule: no separator right after a variable that printed nothing).
struct Out {
    char* p;
    char* end;

    void put(char c) {
        if (p < end) *p++ = c;
    }
    void put(std::string_view s) {
        const std::size_t room = std::size_t(end - p);
        const std::size_t n = s.size() < room ? s.size() : room;
        std::memcpy(p, s.data(), n);
        p += n;
    }
    template <typename Int>
    void num(Int v, bool hex) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v, hex ? 16 : 10);
        if (hex)  // HAProxy prints %X: upper case
            for (char* c = buf; c < r.ptr; ++c)
                if (*c >= 'a' && *c <= 'f') *c = char(*c - 'a' + 'A');
        put(std::string_view(buf, std::size_t(r.ptr - buf)));
    }
};

constexpr char kHexDigits[] = "0123456789ABCDEF";

// HAProxy's log encoding of network strings: non-printable bytes, '"' and '#' as "#XX"; a captured
// value (`capture`) also its block's punctuation '{' '|' '}'.
void put_encoded(Out& o, std::string_view s, bool escape, bool captured = false) {
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '#' || (captured && (c == '{' || c == '|' || c == '}'))) {
            o.put('#');
            o.put(kHexDigits[c >> 4]);
            o.put(kHexDigits[c & 15]);
        } else if (escape && (c == '\\' || c == ']')) {
            o.put('\\');
            o.put(char(c));
        } else {
            o.put(char(c));
        }
    }
}

// %hr / %hs: "{v0|v1|...}"; nothing when the frontend has no slot of that direction
void put_capture_block(Out& o, const Captured* v, std::size_t n) {
    if (n == 0) return;
    o.put('{');
    for (std::size_t i = 0; i < n; ++i) {
        if (i) o.put('|');
        if (v[i].len > 0) put_encoded(o, std::string_view(v[i].p, std::size_t(v[i].len)), false, true);
    }
    o.put('}');
}

// %hrl / %hsl: the values separated by spaces, one not captured as "-" (quoted: each value, "" for
// one not captured)
void put_capture_list(Out& o, const Captured* v, std::size_t n, bool quote) {
    for (std::size_t i = 0; i < n; ++i) {
        if (i) o.put(' ');
        if (quote) o.put('"');
        if (v[i].len > 0) put_encoded(o, std::string_view(v[i].p, std::size_t(v[i].len)), false, true);
        else if (v[i].len < 0 && !quote) o.put('-');
        if (quote) o.put('"');
    }
}

void put_name(Out& o, std::string_view s, bool escape) {
    if (s.empty()) {
        o.put('-');
        return;
    }
    if (!escape) {
        o.put(s);
        return;
    }
    for (char c : s) {
        if (c == '"' || c == '\\' || c == ']') o.put('\\');
        o.put(c);
    }
}

void put_ip(Out& o, const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN];
    switch (ss.ss_family) {
        case AF_INET: {
            const auto* b = reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in&>(ss).sin_addr);
            o.put(std::string_view(buf, core::ipv4_text(b, buf)));
            return;
        }
        case AF_INET6:
            if (inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf, sizeof buf)) {
                o.put(std::string_view(buf));
                return;
            }
            break;
        case AF_UNIX:
            o.put("unix");
            return;
        default:
            break;
    }
    o.put('-');
}

void put_port(Out& o, const sockaddr_storage& ss, bool hex) {
    switch (ss.ss_family) {
        case AF_INET:
            o.num(unsigned(ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port)), hex);
            return;
        case AF_INET6:
            o.num(unsigned(ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port)), hex);
            return;
        case AF_UNIX:
            o.put("unix");
            return;
        default:
            o.put('-');
            return;
    }
}

void put_date(Out& o, detail::DateKind kind, std::int64_t ms, bool with_ms) {
    const detail::DateText d = detail::cached_date(kind, detail::epoch_sec(ms));
    o.put(d.text);
    if (with_ms) {
        const int m = detail::epoch_msec(ms);
        o.put('.');
        o.put(char('0' + m / 100));
        o.put(char('0' + m / 10 % 10));
        o.put(char('0' + m % 10));
    }
}

// The host name, read once per thread (gethostname is a syscall).
std::string_view host_name() {
    thread_local char name[256] = {};
    thread_local std::size_t len = std::size_t(-1);
    if (len == std::size_t(-1)) {
        if (gethostname(name, sizeof name - 1) != 0) name[0] = '\0';
        len = std::strlen(name);
    }
    return std::string_view(name, len);
}

}  // namespace

Format::Format(std::string_view fmt) : source_(fmt) {
    std::uint8_t global_flags = 0;  // set by %{...}o
    std::size_t i = 0;
    const std::size_t n = fmt.size();
    auto add_literal = [&](std::string_view s) {
        if (!items_.empty() && items_.back().var == Var::Literal &&
            items_.back().off + items_.back().len == text_.size()) {
            items_.back().len += std::uint32_t(s.size());
        } else {
            items_.push_back({Var::Literal, 0, std::uint32_t(text_.size()), std::uint32_t(s.size())});
        }
        text_.append(s);
    };
    while (i < n) {
        const char c = fmt[i];
        if (c == ' ') {
            while (i < n && fmt[i] == ' ') ++i;
            items_.push_back({Var::Separator, 0, 0, 0});
            continue;
        }
        if (c != '%') {
            std::size_t j = i;
            while (j < n && fmt[j] != '%' && fmt[j] != ' ') ++j;
            add_literal(fmt.substr(i, j - i));
            i = j;
            continue;
        }
        ++i;
        if (i >= n) fail(fmt, "a '%' ends the format (write '%%' for a percent sign)");
        if (fmt[i] == '%') {
            add_literal("%");
            ++i;
            continue;
        }
        std::uint8_t flags = global_flags;
        const std::size_t pct = i - 1;
        if (fmt[i] == '{') {
            const std::size_t close = fmt.find('}', i);
            if (close == std::string_view::npos) fail(fmt, "unterminated '%{' flags");
            std::string_view opts = fmt.substr(i + 1, close - i - 1);
            i = close + 1;
            while (!opts.empty()) {
                const std::size_t comma = opts.find(',');
                std::string_view o = opts.substr(0, comma);
                opts = comma == std::string_view::npos ? std::string_view() : opts.substr(comma + 1);
                if (o.size() != 2 || (o[0] != '+' && o[0] != '-'))
                    fail(fmt, "unknown log-format flag '" + std::string(o) + "'");
                std::uint8_t bit = 0;
                switch (o[1]) {
                    case 'Q':
                        bit = kQuote;
                        break;
                    case 'X':
                        bit = kHex;
                        break;
                    case 'E':
                        bit = kEscape;
                        break;
                    default:
                        fail(fmt, "unknown log-format flag '" + std::string(o) + "'");
                }
                flags = o[0] == '+' ? std::uint8_t(flags | bit) : std::uint8_t(flags & ~bit);
            }
        }
        // %{flags}o: the flags hold for every variable after it (HAProxy's "o" option)
        if (flags != global_flags || (pct + 1 < n && fmt[pct + 1] == '{')) {
            if (i < n && fmt[i] == 'o' && (i + 1 >= n || !is_alpha(fmt[i + 1]))) {
                global_flags = flags;
                ++i;
                continue;
            }
            if (i >= n || (fmt[i] != '[' && !is_alpha(fmt[i])))
                fail(fmt, "parse argument modifier without variable name near '" +
                              std::string(fmt.substr(pct, i - pct)) + "'");
        }
        if (fmt[i] == '[') {
            // a sample expression: it ends at the first ']' after it (one in an argument list is the
            // argument's); capture.req.hdr(N) / capture.res.hdr(N) are read here, the others are
            // evaluated by the proxy at log time (the configuration checked them)
            std::size_t close = i + 1;
            int depth = 0;
            bool sq = false, dq = false;
            for (; close < n; ++close) {
                const char ch = fmt[close];
                if (depth > 0 && ch == '"' && !sq) dq = !dq;
                else if (depth > 0 && ch == '\'' && !dq) sq = !sq;
                else if (sq || dq) continue;
                else if (ch == '(') ++depth;
                else if (ch == ')' && depth > 0) --depth;
                else if (depth == 0 && (ch == ']' || ch == ' ')) break;
            }
            const std::string_view e = fmt.substr(i + 1, close - i - 1);
            if (e.empty()) fail(fmt, "missing fetch method in '%[" + std::string(fmt.substr(i + 1)) + "'");
            if (close >= n) fail(fmt, "missing ']' after '" + std::string(e) + "'");
            if (fmt[close] != ']') fail(fmt, "expected ']' after '" + std::string(e) + "', but found '" + fmt[close] + "'");
            const bool req = e.starts_with("capture.req.hdr("), rsp = e.starts_with("capture.res.hdr(");
            std::uint32_t idx = 0;
            bool cap = (req || rsp) && e.back() == ')';
            if (cap) {
                const std::string_view num = e.substr(16, e.size() - 17);
                const auto r = std::from_chars(num.data(), num.data() + num.size(), idx);
                cap = !num.empty() && r.ec == std::errc() && r.ptr == num.data() + num.size();
            }
            if (cap) {
                items_.push_back({req ? Var::CapReqHdr : Var::CapRspHdr, flags, idx, 0});
            } else {
                items_.push_back({Var::Sample, flags, std::uint32_t(samples_.size()), 0});
                samples_.emplace_back(e);
            }
            i = close + 1;
            continue;
        }
        std::size_t j = i;
        while (j < n && is_alpha(fmt[j])) ++j;
        const std::string_view name = fmt.substr(i, j - i);
        if (name.empty()) fail(fmt, "a variable name must follow '%'");
        const Name* found = nullptr;
        for (const Name& k : kNames)
            if (k.name == name) found = &k;
        if (!found) fail(fmt, "unknown log-format variable '%" + std::string(name) + "'");
        items_.push_back({found->var, flags, 0, 0});
        i = j;
    }
}

bool Format::uses_frontend_addr() const {
    for (const Item& it : items_)
        if (it.var == Var::FrontendIp || it.var == Var::FrontendPort) return true;
    return false;
}

std::size_t Format::render(const Fields& f, char* out, std::size_t cap) const {
    Out o{out, out + cap};
    bool last_space = true;  // no separator at the start of a line
    for (const Item& it : items_) {
        if (it.var == Var::Separator) {
            if (!last_space) o.put(' ');
            last_space = true;
            continue;
        }
        if (it.var == Var::Literal) {
            o.put(std::string_view(text_.data() + it.off, it.len));
            last_space = false;
            continue;
        }
        const bool q = it.flags & kQuote, hex = it.flags & kHex, esc = it.flags & kEscape;
        char* const start = o.p;
        if (it.var == Var::CapReqList || it.var == Var::CapRspList) {
            if (it.var == Var::CapReqList) put_capture_list(o, f.req_caps, f.n_req_caps, q);
            else put_capture_list(o, f.rsp_caps, f.n_rsp_caps, q);
            if (o.p != start) last_space = false;
            continue;
        }
        if (q) o.put('"');
        switch (it.var) {
            case Var::ClientIp:
                put_ip(o, f.client);
                break;
            case Var::ClientPort:
                put_port(o, f.client, hex);
                break;
            case Var::FrontendIp:
                put_ip(o, f.frontend_addr);
                break;
            case Var::FrontendPort:
                put_port(o, f.frontend_addr, hex);
                break;
            case Var::ServerIp:
                put_ip(o, f.server_addr);
                break;
            case Var::ServerPort:
                put_port(o, f.server_addr, hex);
                break;
            case Var::AcceptDate:
                put_date(o, detail::DateKind::Local, f.accept_epoch_ms, true);
                break;
            case Var::RequestDate:
                put_date(o, detail::DateKind::Local, f.request_epoch_ms ? f.request_epoch_ms : f.accept_epoch_ms,
                         true);
                break;
            case Var::GmtDate:
                put_date(o, detail::DateKind::Gmt, f.accept_epoch_ms, false);
                break;
            case Var::LocalDate:
                put_date(o, detail::DateKind::LocalTz, f.accept_epoch_ms, false);
                break;
            case Var::Timestamp:
                o.num(detail::epoch_sec(f.accept_epoch_ms), hex);
                break;
            case Var::Millis: {
                const int m = detail::epoch_msec(f.accept_epoch_ms);
                if (hex) {
                    o.num(m, true);
                } else {
                    o.put(char('0' + m / 100));
                    o.put(char('0' + m / 10 % 10));
                    o.put(char('0' + m % 10));
                }
                break;
            }
            case Var::Pid:
                o.num(long(getpid()), hex);
                break;
            case Var::Hostname:
                put_name(o, host_name(), esc);
                break;
            case Var::FrontendTransport:
                put_name(o, f.frontend, esc);
                if (f.ssl) o.put('~');
                break;
            case Var::Frontend:
                put_name(o, f.frontend, esc);
                break;
            case Var::Backend:
                put_name(o, f.backend, esc);
                break;
            case Var::Server:
                put_name(o, f.server.empty() ? std::string_view("<NOSRV>") : f.server, esc);
                break;
            case Var::TR:
                o.num(f.TR, hex);
                break;
            case Var::Tw:
                o.num(f.Tw, hex);
                break;
            case Var::Tc:
                o.num(f.Tc, hex);
                break;
            case Var::Tr:
                o.num(f.Tr, hex);
                break;
            case Var::Ta:
                o.num(f.Ta, hex);
                break;
            case Var::Tt:
                o.num(f.Tt, hex);
                break;
            case Var::Th:
                o.num(f.Th, hex);
                break;
            case Var::Ti:
                o.num(f.Ti, hex);
                break;
            case Var::Tq:  // HAProxy: Th + Ti + TR, -1 when the request head never completed
                o.num(f.TR < 0 ? -1 : f.Th + f.Ti + f.TR, hex);
                break;
            case Var::Td: {  // the data transfer: Tt - (Tq + Tw + Tc + Tr), -1 when one of them is
                const bool known = f.TR >= 0 && f.Tw >= 0 && f.Tc >= 0 && f.Tr >= 0;
                o.num(known ? f.Tt - (f.Th + f.Ti + f.TR + f.Tw + f.Tc + f.Tr) : -1, hex);
                break;
            }
            case Var::Tu:  // as seen by the client, idle time apart
                o.num(f.Tt - f.Ti, hex);
                break;
            case Var::Status:
                o.num(f.status, hex);
                break;
            case Var::BytesRead:
                o.num(f.bytes_read, hex);
                break;
            case Var::BytesUploaded:
                o.num(f.bytes_uploaded, hex);
                break;
            case Var::TermState:
                o.put(std::string_view(f.term, 2));
                break;
            case Var::TermStateCookie:
                o.put(std::string_view(f.term, 4));
                break;
            case Var::ActConn:
                o.num(f.actconn, hex);
                break;
            case Var::FeConn:
                o.num(f.feconn, hex);
                break;
            case Var::BeConn:
                o.num(f.beconn, hex);
                break;
            case Var::SrvConn:
                o.num(f.srv_conn, hex);
                break;
            case Var::Retries:
                o.num(f.retries, hex);
                break;
            case Var::SrvQueue:
                o.num(f.srv_queue, hex);
                break;
            case Var::BackendQueue:
                o.num(f.backend_queue, hex);
                break;
            case Var::Method:
                if (f.method.empty()) o.put(f.request_line.empty() ? "<BADREQ>" : "-");  // no request: HAProxy's word
                put_encoded(o, f.method, esc);
                break;
            case Var::Uri:
                if (f.uri.empty()) o.put(f.request_line.empty() ? "<BADREQ>" : "-");  // no request: HAProxy's word
                put_encoded(o, f.uri, esc);
                break;
            case Var::Version:
                if (f.version.empty()) o.put(f.request_line.empty() ? "<BADREQ>" : "-");  // no request: HAProxy's word
                put_encoded(o, f.version, esc);
                break;
            case Var::Path:
                if (f.path.empty()) o.put(f.request_line.empty() ? "<BADREQ>" : "-");  // no request: HAProxy's word
                put_encoded(o, f.path, esc);
                break;
            case Var::Query:
                put_encoded(o, f.query, esc);
                break;
            case Var::RequestLine:
                if (f.request_line.empty()) {
                    o.put("<BADREQ>");
                } else {
                    put_encoded(o, f.request_line, esc);
                }
                break;
            case Var::CapReq:
                put_capture_block(o, f.req_caps, f.n_req_caps);
                break;
            case Var::CapRsp:
                put_capture_block(o, f.rsp_caps, f.n_rsp_caps);
                break;
            case Var::CapReqList:
            case Var::CapRspList:
                break;  // written before the switch (quoted per value)
            case Var::Sample: {
                // HAProxy prints the value as it is (+E escapes '"' '\' ']'); "-" for none or empty; a NUL
                // ends it; CR and LF are written #0D #0A so that a line stays a line
                const std::string_view v = it.off < f.n_samples ? f.samples[it.off] : std::string_view();
                const std::size_t nul = v.find('\0');
                const std::string_view shown = v.substr(0, nul);
                if (shown.empty()) {
                    if (!q) o.put('-');
                    break;
                }
                for (char ch : shown) {
                    if (ch == '\r' || ch == '\n') {
                        o.put(ch == '\r' ? "#0D" : "#0A");
                        continue;
                    }
                    if (esc && (ch == '"' || ch == '\\' || ch == ']')) o.put('\\');
                    o.put(ch);
                }
                break;
            }
            case Var::CapReqHdr:
            case Var::CapRspHdr: {
                const bool rq = it.var == Var::CapReqHdr;
                const Captured* v = rq ? f.req_caps : f.rsp_caps;
                const std::size_t n = rq ? f.n_req_caps : f.n_rsp_caps;
                if (it.off < n && v[it.off].len > 0) o.put(std::string_view(v[it.off].p, std::size_t(v[it.off].len)));
                else if (!q) o.put('-');
                break;
            }
            case Var::CliCookie:
                put_name(o, f.cli_cookie, esc);
                break;
            case Var::SrvCookie:
                put_name(o, f.srv_cookie, esc);
                break;
            case Var::UniqueId:
                if (!f.unique_id.empty()) put_encoded(o, f.unique_id, esc);
                else if (!q) o.put('-');
                break;
            case Var::RequestCounter:
                if (f.rt >= 0) o.num(long(f.rt), hex);
                else o.put('-');
                break;
            case Var::Literal:
            case Var::Separator:
                break;
        }
        if (q) o.put('"');
        if (o.p != start) last_space = false;
    }
    return std::size_t(o.p - out);
}

}  // namespace es::log
