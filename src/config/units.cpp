// Units (time, size, addresses), message helpers (ParseState::warn too), text helpers and the environment
// overlay.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "internal.hpp"

namespace es::config {

namespace {

std::string format_error(const Location& at, const std::string& message) {
    return detail::where_text(at) + ": " + message;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Unsigned decimal without sign; false on overflow of max.
bool parse_unsigned(std::string_view s, std::uint64_t max, std::uint64_t& out) {
    if (!all_digits(s)) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (max - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
    std::uint64_t v = 0;
    if (!parse_unsigned(s, 65535, v) || v == 0) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

}  // namespace

ConfigError::ConfigError(Location at, const std::string& msg)
    : std::runtime_error(format_error(at, msg)), where(std::move(at)), message(msg) {}

// ---- SockAddr / Config lookups -------------------------------------------------------------------------

std::string SockAddr::host() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
    return buf;
}

std::string SockAddr::text() const {
    if (ss.ss_family == AF_INET) return host() + ":" + std::to_string(port());
    if (ss.ss_family == AF_INET6) return "[" + host() + "]:" + std::to_string(port());
    return "";
}

std::uint16_t SockAddr::port() const {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}

void SockAddr::set_port(std::uint16_t port) {
    if (ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
    else if (ss.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
}

const Backend* Config::find_backend(const std::string& name) const {
    for (const auto& b : backends)
        if (b.name == name) return &b;
    return nullptr;
}

const Frontend* Config::find_frontend(const std::string& name) const {
    for (const auto& f : frontends)
        if (f.name == name) return &f;
    return nullptr;
}

const Userlist* Config::find_userlist(const std::string& name) const {
    for (const auto& u : userlists)
        if (u.name == name) return &u;
    return nullptr;
}

// ---- public unit parsers -------------------------------------------------------------------------------

std::optional<Millis> parse_time_ms(std::string_view s) {
    Millis v = 0;
    if (detail::parse_time_status(s, v) != detail::TimeStatus::Ok) return std::nullopt;
    return v;
}

std::optional<std::int64_t> parse_size(std::string_view s) {
    std::uint64_t mult = 1;
    if (!s.empty()) {
        switch (s.back()) {
            case 'k':
            case 'K':
                mult = 1ull << 10;
                break;
            case 'm':
            case 'M':
                mult = 1ull << 20;
                break;
            case 'g':
            case 'G':
                mult = 1ull << 30;
                break;
            default:
                break;
        }
        if (mult != 1) s.remove_suffix(1);
    }
    const auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    std::uint64_t v = 0;
    if (!parse_unsigned(s, max / mult, v)) return std::nullopt;
    return static_cast<std::int64_t>(v * mult);
}

std::optional<SockAddr> parse_addr(std::string_view s) {
    std::string_view host;
    std::string_view port_text;
    bool bracketed = false;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
            return std::nullopt;
        host = s.substr(1, close - 1);
        port_text = s.substr(close + 2);
        bracketed = true;
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = s.substr(0, colon);
        port_text = s.substr(colon + 1);
    }
    const auto port = parse_port(port_text);
    if (!port) return std::nullopt;

    SockAddr a;
    const std::string h(host);
    if (h.find('\0') != std::string::npos) return std::nullopt;
    if (!bracketed && (h.empty() || h == "*")) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&a.ss);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = htons(*port);
        a.len = sizeof(sockaddr_in);
        return a;
    }
    if (bracketed || h.find(':') != std::string::npos) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
        if (inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) != 1) return std::nullopt;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(*port);
        a.len = sizeof(sockaddr_in6);
        return a;
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.ss);
    if (inet_pton(AF_INET, h.c_str(), &sin->sin_addr) != 1) return std::nullopt;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(*port);
    a.len = sizeof(sockaddr_in);
    return a;
}

std::optional<SockAddr> parse_ip(const std::string& text) {
    if (text.empty() || text == "*") return std::nullopt;
    auto a = parse_addr(text.find(':') != std::string::npos ? "[" + text + "]:1" : text + ":1");
    if (a) a->set_port(0);
    return a;
}

namespace detail {

// ---- messages ------------------------------------------------------------------------------------------

void fail(const Location& at, const std::string& message) {
    throw ConfigError(at, message);
}

std::string where_text(const Location& at) {
    if (at.line <= 0) return at.file;
    return at.file + ":" + std::to_string(at.line);
}

std::string squote(std::string_view s) {
    return "'" + std::string(s) + "'";
}

void ParseState::warn(const Location& at, const std::string& message) {
    cfg.warnings.push_back(where_text(at) + ": " + message);
}

void ParseState::warn_ignored(const Location& at, const std::vector<std::string>& words,
                              std::string_view why) {
    if (words.empty()) return;
    std::string list;
    for (const auto& w : words) list += (list.empty() ? "" : ", ") + squote(w);
    if (words.size() == 1)
        warn(at, "keyword " + list + " is accepted and ignored: " + std::string(why));
    else
        warn(at, "keywords " + list + " are accepted and ignored: " + std::string(why));
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Damerau (adjacent transposition) distance: "timoeut" is one typo away from "timeout".
    const std::size_t n = a.size(), m = b.size();
    std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
    for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= n; ++i) {
        for (std::size_t j = 1; j <= m; ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[n][m];
}

}  // namespace

std::string closest(std::string_view word, const std::vector<std::string_view>& candidates) {
    if (word.empty() || word.size() > 64) return "";
    std::string_view best;
    std::size_t best_d = std::numeric_limits<std::size_t>::max();
    for (auto c : candidates) {
        const auto d = edit_distance(word, c);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    // One edit for short words, two from 5 letters, three from 9: beyond that a "hint" is noise.
    const std::size_t limit = word.size() < 5 ? 1 : (word.size() < 9 ? 2 : 3);
    if (best.empty() || best_d == 0 || best_d > limit) return "";
    return std::string(best);
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
    const auto c = closest(word, candidates);
    return c.empty() ? std::string() : "; did you mean " + squote(c) + "?";
}

// ---- environment ---------------------------------------------------------------------------------------

std::optional<std::string> Env::get(const std::string& name) const {
    if (const auto it = overlay_.find(name); it != overlay_.end()) return it->second;
    if (cleared_ && std::find(kept_.begin(), kept_.end(), name) == kept_.end()) return std::nullopt;
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
}

void Env::reset_except(const std::vector<std::string>& keep) {
    // Values set through the overlay are dropped too, unless kept, as resetenv does in HAProxy.
    std::map<std::string, std::optional<std::string>> next;
    for (const auto& k : keep) {
        if (auto v = get(k)) next[k] = *v;
    }
    overlay_ = std::move(next);
    cleared_ = true;
    kept_ = keep;
}

// ---- numbers -------------------------------------------------------------------------------------------

TimeStatus parse_time_status(std::string_view s, Millis& out) {
    std::size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    if (digits == 0) return TimeStatus::Bad;
    const auto unit = s.substr(digits);
    std::uint64_t mult_ms = 0;  // 0 = microseconds
    if (unit.empty() || unit == "ms") {
        mult_ms = 1;
    } else if (unit == "us") {
        mult_ms = 0;
    } else if (unit == "s") {
        mult_ms = 1000;
    } else if (unit == "m") {
        mult_ms = 60'000;
    } else if (unit == "h") {
        mult_ms = 3'600'000;
    } else if (unit == "d") {
        mult_ms = 86'400'000;
    } else {
        return TimeStatus::Bad;
    }
    constexpr std::uint64_t kMax = std::numeric_limits<std::int32_t>::max();  // HAProxy's timer limit
    std::uint64_t v = 0;
    if (!parse_unsigned(s.substr(0, digits), std::numeric_limits<std::uint64_t>::max() / 1000, v))
        return TimeStatus::Overflow;
    std::uint64_t ms = 0;
    if (mult_ms == 0) {
        ms = (v + 999) / 1000;  // round up: "500us" must not become "no timeout"
    } else {
        if (v > kMax / mult_ms) return TimeStatus::Overflow;
        ms = v * mult_ms;
    }
    if (ms > kMax) return TimeStatus::Overflow;
    out = static_cast<Millis>(ms);
    return TimeStatus::Ok;
}

std::optional<long long> parse_integer(std::string_view s) {
    if (s.empty()) return std::nullopt;
    const bool neg = s.front() == '-';
    const auto digits = neg ? s.substr(1) : s;
    if (!all_digits(digits)) return std::nullopt;
    long long v = 0;
    const auto* first = s.data();
    const auto* last = s.data() + s.size();
    const auto [p, ec] = std::from_chars(first, last, v);
    if (ec != std::errc() || p != last) return std::nullopt;
    return v;
}

// ---- argument helpers ----------------------------------------------------------------------------------

const std::string& arg_or_fail(const Line& line, std::size_t idx, std::string_view kw,
                               std::string_view what) {
    if (idx >= line.words.size())
        fail(line.at, squote(kw) + " expects " + std::string(what) + ", got nothing");
    return line.words[idx];
}

long long int_arg(const Line& line, std::size_t idx, std::string_view kw, long long lo, long long hi,
                  std::string_view what) {
    const auto& w = arg_or_fail(line, idx, kw, what);
    const auto v = parse_integer(w);
    if (!v || *v < lo || *v > hi)
        fail(line.at, squote(kw) + " expects " + std::string(what) + ", got " + squote(w));
    return *v;
}

Millis time_arg(const Line& line, std::size_t idx, std::string_view kw) {
    constexpr std::string_view kWhat = "a time (a number with an optional unit us, ms, s, m, h or d)";
    const auto& w = arg_or_fail(line, idx, kw, kWhat);
    Millis v = 0;
    switch (parse_time_status(w, v)) {
        case TimeStatus::Ok:
            return v;
        case TimeStatus::Overflow:
            fail(line.at, "timer overflow in " + squote(w) + " for " + squote(kw) +
                              " (the maximum is 2147483647 ms, about 24.8 days)");
        case TimeStatus::Bad:
            break;
    }
    fail(line.at, squote(kw) + " expects " + std::string(kWhat) + ", got " + squote(w));
}

std::int64_t size_arg(const Line& line, std::size_t idx, std::string_view kw, std::int64_t lo,
                      std::int64_t hi) {
    const std::string what = "a size in bytes with an optional k, m or g suffix, from " + std::to_string(lo) +
                             " to " + std::to_string(hi);
    const auto& w = arg_or_fail(line, idx, kw, what);
    const auto v = parse_size(w);
    if (!v || *v < lo || *v > hi) fail(line.at, squote(kw) + " expects " + what + ", got " + squote(w));
    return *v;
}

void no_more_args(const Line& line, std::size_t count, std::string_view kw) {
    if (line.words.size() > count)
        fail(line.at, "unexpected argument " + squote(line.words[count]) + " after " + squote(kw));
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool has_ctl(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

namespace {
thread_local std::string g_relative_dir;  // one parse at a time per thread (the parser sets it per file)
}  // namespace

const std::string& relative_dir() { return g_relative_dir; }
void set_relative_dir(std::string dir) { g_relative_dir = std::move(dir); }
std::string in_relative_dir(const std::string& path) {
    if (g_relative_dir.empty() || path.empty() || path[0] == '/') return path;
    return g_relative_dir + (g_relative_dir.back() == '/' ? "" : "/") + path;
}

std::string read_whole(const std::string& path, const Location& at, std::string_view kw) {
    std::ifstream in(in_relative_dir(path), std::ios::binary);
    if (!in) fail(at, squote(kw) + ": cannot read " + squote(path) + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail(at, squote(kw) + ": error while reading " + squote(path));
    return ss.str();
}

std::optional<SockAddr> ip_only(const std::string& text) { return parse_ip(text); }

std::optional<HostPort> host_port_arg(const std::string& text, bool port_optional) {
    HostPort hp;
    std::string_view s = text;
    if (const auto at_sign = s.find('@'); at_sign != std::string_view::npos) {
        const auto prefix = s.substr(0, at_sign);
        if (prefix == "ipv4" || prefix == "tcp4") hp.family = AF_INET;
        else if (prefix == "ipv6" || prefix == "tcp6") hp.family = AF_INET6;
        else if (prefix != "tcp") return std::nullopt;
        s.remove_prefix(at_sign + 1);
    }
    const auto colon = s.rfind(':');
    std::uint64_t port = 0;
    if (colon == std::string_view::npos && port_optional) {
        // a name alone: the port is given elsewhere (a server without one)
    } else if (colon == std::string_view::npos || colon == 0 || s.find(':') != colon) {
        return std::nullopt;
    } else if (!parse_unsigned(s.substr(colon + 1), 65535, port) || port == 0) {
        return std::nullopt;
    }
    const std::string_view host = s.substr(0, colon);
    // RFC 1123 names: letters, digits, '-', '.', and '_' (seen in service names); not all digits
    // and dots (that is an IPv4 address, numeric or malformed)
    bool alpha = false;
    for (char c : host) {
        if (std::isalpha(static_cast<unsigned char>(c))) alpha = true;
        else if (!std::isdigit(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return std::nullopt;
    }
    if (!alpha || host.size() > 253 || host.front() == '.' || host.front() == '-') return std::nullopt;
    hp.host = std::string(host);
    hp.port = std::uint16_t(port);
    return hp;
}

SockAddr addr_arg(const std::string& text, const Location& at, std::string_view what) {
    std::string_view s = text;
    int want_family = 0;
    if (const auto at_sign = s.find('@'); at_sign != std::string_view::npos) {
        const auto prefix = s.substr(0, at_sign);
        if (prefix == "ipv4" || prefix == "tcp4") {
            want_family = AF_INET;
        } else if (prefix == "ipv6" || prefix == "tcp6") {
            want_family = AF_INET6;
        } else if (prefix == "tcp") {
            want_family = 0;
        } else if (prefix == "unix" || prefix == "abns" || prefix == "fd" || prefix == "sockpair" ||
                   prefix == "uxst" || prefix == "uxdg") {
            fail(at, squote(what) + ": " + squote(text) + " is not a TCP address; only numeric IPv4/IPv6 " +
                         "addresses with a port are supported here");
        } else {
            fail(at, squote(what) + ": unsupported address prefix " + squote(std::string(prefix) + "@") +
                         " in " + squote(text) + " (supported: ipv4@, ipv6@, tcp@, tcp4@, tcp6@)");
        }
        s.remove_prefix(at_sign + 1);
    }
    std::string any6;  // "ipv6@:80" and "ipv6@*:80" mean the IPv6 wildcard, as in HAProxy
    if (want_family == AF_INET6 && (s.rfind(":", 0) == 0 || s.rfind("*:", 0) == 0) &&
        s.find(':', s.front() == '*' ? 2 : 1) == std::string_view::npos) {
        any6 = "[::]" + std::string(s.substr(s.find(':')));
        s = any6;
    }
    if (!s.empty() && s.front() == '/')
        fail(at, squote(what) + ": " + squote(text) +
                     " is a unix socket path; only TCP addresses are supported here");
    auto a = parse_addr(s);
    if (!a) {
        const auto colon = s.rfind(':');
        const auto port = colon == std::string_view::npos ? std::string_view() : s.substr(colon + 1);
        if (colon == std::string_view::npos || (s.front() != '[' && s.find(':') == colon && port.empty()))
            fail(at,
                 squote(what) + ": " + squote(text) + " has no port (write ADDR:PORT, e.g. 127.0.0.1:80)");
        if (!port.empty() && (port.front() == '+' || port.front() == '-'))
            fail(at, squote(what) + ": port offsets such as " + squote(port) + " are not supported");
        if (port.find('-') != std::string_view::npos)
            fail(at, squote(what) + ": port ranges such as " + squote(port) + " are not supported here");
        std::uint64_t pv = 0;
        if (!parse_unsigned(port, 65535, pv) || pv == 0)
            fail(at, squote(what) + ": invalid port " + squote(port) + " in " + squote(text) +
                         " (expects 1..65535)");
        fail(at, squote(what) + ": " + squote(text) + " is not a numeric IPv4 or IPv6 address " +
                     "(host names are not resolved: no DNS at boot)");
    }
    if (want_family != 0 && a->family() != want_family)
        fail(at, squote(what) + ": " + squote(text) + ": the address does not match its family prefix");
    return *a;
}

}  // namespace detail
}  // namespace es::config
