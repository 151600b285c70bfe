// Access logs: 'log' targets (in global and in proxies), 'log global', 'no log', 'log-format', 'log-tag',
// the options that pick a predefined format (httplog, httpslog, tcplog) and 'option dontlognull'.
//
// HAProxy 2.6 semantics; what differs is listed in README.md.
#include <sys/socket.h>

#include <algorithm>

#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

namespace {

// HAProxy 2.6's predefined formats, verbatim.
constexpr std::string_view kHttpLogFormat =
    "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs "
    "%{+Q}r";
constexpr std::string_view kTcpLogFormat =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
constexpr std::string_view kClfLogFormat =
    "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc "
    "%sc "
    "%rc %sq %bq %CC %CS %hrl %hsl";

void warn_no_fe(ParseState& st, const ProxyDraft& px, const Location& at, std::string_view kw) {
    st.warn(at, squote(kw) + " is ignored because " + px.kind + " " + squote(px.name) +
                    " has no frontend capability");
}

constexpr std::string_view kFacilities[] = {"kern",   "user",   "mail",   "daemon", "auth",   "syslog",
                                            "lpr",    "news",   "uucp",   "cron",   "auth2",  "ftp",
                                            "ntp",    "audit",  "alert",  "cron2",  "local0", "local1",
                                            "local2", "local3", "local4", "local5", "local6", "local7"};
constexpr std::string_view kLevels[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
constexpr std::string_view kLogFormats[] = {"local", "rfc3164", "rfc5424", "priority",
                                            "short", "timed",   "iso",     "raw"};
// What one access-log record can hold when the shard renders it (log::kMaxLine: the config room does not
// depend on the log room).
constexpr std::size_t kMaxRenderedLine = 1024;

int level_rank(std::string_view level) {
    for (std::size_t i = 0; i < std::size(kLevels); ++i)
        if (kLevels[i] == level) return static_cast<int>(i);
    return -1;
}

template <std::size_t N>
bool in(std::string_view w, const std::string_view (&table)[N]) {
    return std::find(std::begin(table), std::end(table), w) != std::end(table);
}
template <std::size_t N>
std::vector<std::string_view> vec(const std::string_view (&table)[N]) {
    return {std::begin(table), std::end(table)};
}

// The syslog server of a UDP target: "ADDR[:PORT]" after an optional udp@/udp4@/udp6@/ipv4@/ipv6@ prefix,
// numeric, port 514 when none is written (HAProxy's default).
SockAddr parse_syslog_addr(const Line& line, const std::string& target, std::string_view addr, int family) {
    const bool v6_bracketed = !addr.empty() && addr.front() == '[';
    const auto close = addr.find(']');
    bool has_port = false;
    if (v6_bracketed)
        has_port = close != std::string_view::npos && close + 1 < addr.size() && addr[close + 1] == ':';
    else
        has_port = addr.find(':') != std::string_view::npos;  // IPv6 without brackets: the last colon
    const std::string full = std::string(addr) + (has_port ? "" : ":514");
    const auto a = parse_addr(full);
    if (!a || addr.empty() ||
        (!v6_bracketed && (addr.front() == ':' || addr.front() == '*') && family != AF_INET6)) {
        fail(line.at, "'log': " + squote(target) +
                          " is not a numeric IPv4/IPv6 syslog address with an optional port (e.g. "
                          "127.0.0.1:514, udp@[::1]:514); host names are not resolved (no DNS at boot)");
    }
    if (family != 0 && a->family() != family)
        fail(line.at, "'log': " + squote(target) + ": the address does not match its family prefix");
    return *a;
}

// What a log line sends to, from its first word. Refuses what this version would not send: a target
// accepted and never written would look like a working log configuration.
void parse_log_destination(const Line& line, LogTarget& t) {
    const std::string& w = t.target;
    const auto at_sign = w.find('@');
    const std::string prefix = at_sign == std::string::npos ? "" : w.substr(0, at_sign);
    const std::string rest = at_sign == std::string::npos ? w : w.substr(at_sign + 1);
    if (w == "stdout" || w == "fd@1") {
        t.kind = LogTarget::Kind::Stdout;
    } else if (w == "stderr" || w == "fd@2") {
        t.kind = LogTarget::Kind::Stderr;
    } else if (prefix == "fd") {
        fail(line.at, "'log " + w + "': only fd@1 (stdout) and fd@2 (stderr) are supported as descriptors");
    } else if (prefix == "file") {
        if (rest.empty()) fail(line.at, "'log file@' expects a path after 'file@'");
        t.kind = LogTarget::Kind::File;
        t.path = rest;
    } else if (prefix == "unix" || (at_sign == std::string::npos && !w.empty() && w.front() == '/')) {
        if (rest.empty() || rest.front() != '/')
            fail(line.at, "'log " + w + "': expects an absolute unix socket path, e.g. unix@/dev/log");
        if (rest.size() > 107) fail(line.at, "'log " + w + "': a unix socket path holds at most 107 bytes");
        t.kind = LogTarget::Kind::Unix;
        t.path = rest;
    } else if (prefix == "tcp" || prefix == "tcp4" || prefix == "tcp6") {
        fail(line.at, "'log " + w +
                          "': syslog over TCP is not supported in this version (nothing would be sent); "
                          "use a UDP server ('udp@ADDR:PORT' or 'ADDR:PORT') or a unix socket ('/dev/log')");
    } else if (prefix == "ring") {
        fail(line.at, "'log " + w +
                          "': ring buffers are not supported in this version (the 'ring' section is "
                          "skipped); use a UDP server ('ADDR:PORT'), a unix socket, stdout, stderr or file@");
    } else if (prefix.empty() || prefix == "udp" || prefix == "udp4" || prefix == "udp6" ||
               prefix == "ipv4" || prefix == "ipv6") {
        const int family = prefix == "udp4" || prefix == "ipv4"   ? AF_INET
                           : prefix == "udp6" || prefix == "ipv6" ? AF_INET6
                                                                  : 0;
        t.kind = LogTarget::Kind::Udp;
        t.addr = parse_syslog_addr(line, w, rest, family);
    } else {
        fail(line.at, "'log': unsupported target " + squote(w) +
                          " (supported: stdout, stderr, fd@1, fd@2, file@<path>, <addr>[:<port>] with an "
                          "optional udp@, udp4@, udp6@, ipv4@ or ipv6@ prefix, unix@<path> or an absolute "
                          "path)");
    }
}

LogTarget parse_log_target(ParseState& st, const Line& line) {
    LogTarget t;
    t.where = line.at;
    t.target =
        arg_or_fail(line, 1, "log",
                    "a target (stdout, stderr, file@<path>, a syslog address, a unix socket) and a facility");
    if (has_ctl(t.target)) fail(line.at, "'log': invalid target " + squote(t.target));
    parse_log_destination(line, t);
    t.format = "rfc3164";
    std::size_t i = 2;
    while (i < line.words.size()) {
        const auto& w = line.words[i];
        if (w == "len") {
            t.len = static_cast<int>(int_arg(line, i + 1, "log len", 80, 65535, "a length from 80 to 65535"));
            i += 2;
        } else if (w == "format") {
            const auto& f = arg_or_fail(line, i + 1, "log format", "a log format");
            if (!in(f, kLogFormats))
                fail(line.at, "'log format': unknown format " + squote(f) +
                                  did_you_mean(f, vec(kLogFormats)) +
                                  " (local, rfc3164, rfc5424, priority, short, timed, iso, raw)");
            t.format = f;
            i += 2;
        } else if (w == "sample") {
            fail(line.at, "'log ... sample' (log sampling) is not supported in this version");
        } else {
            break;
        }
    }
    const auto& fac =
        arg_or_fail(line, i, "log", "a syslog facility (kern, user, daemon, local0..local7...)");
    if (!in(fac, kFacilities))
        fail(line.at,
             "'log': unknown facility " + squote(fac) + did_you_mean(fac, vec(kFacilities)) +
                 " (one of the 24 syslog facilities: kern, user, mail, daemon, ..., local0..local7)");
    t.facility = fac;
    ++i;
    if (i < line.words.size()) {
        if (!in(line.words[i], kLevels))
            fail(line.at, "'log': unknown level " + squote(line.words[i]) +
                              did_you_mean(line.words[i], vec(kLevels)) +
                              " (emerg alert crit err warning notice info debug)");
        t.level = line.words[i++];
    }
    if (i < line.words.size()) {
        if (!in(line.words[i], kLevels))
            fail(line.at, "'log': unknown minimum level " + squote(line.words[i]) +
                              did_you_mean(line.words[i], vec(kLevels)));
        t.min_level = line.words[i++];
    }
    no_more_args(line, i, "log");
    if (t.len > static_cast<int>(kMaxRenderedLine))
        st.warn(line.at, "'log ... len " + std::to_string(t.len) + "': access-log lines longer than " +
                             std::to_string(kMaxRenderedLine) +
                             " bytes are cut there by the shards before they are sent; 'len' only shortens "
                             "lines in this version");
    if (!t.level.empty() && level_rank(t.level) < level_rank("info"))
        st.warn(line.at, "'log " + t.target + " ... " + t.level +
                             "': edgeshard sends only access logs, at "
                             "severity 'info', so this target receives nothing (HAProxy would send its "
                             "process events there: server state changes, start and stop)");
    return t;
}

}  // namespace

void parse_global_log(ParseState& st, const Line& line) {
    if (line.words.size() > 1 && line.words[1] == "global")
        fail(line.at, "'log global' only applies to proxies; in 'global', give a target");
    st.cfg.global.logs.push_back(parse_log_target(st, line));
}

void kw_log(ParseState& st, ProxyDraft& px, const Line& line) {
    std::vector<LogTarget> add;
    if (line.words.size() > 1 && line.words[1] == "global") {
        no_more_args(line, 2, "log global");
        add = st.cfg.global.logs;  // HAProxy copies the global targets known at this point
    } else {
        add.push_back(parse_log_target(st, line));
    }
    // a frontend writes its access log there; a backend its servers' state changes
    if (has_be(px)) px.be.logs.insert(px.be.logs.end(), add.begin(), add.end());
    if (has_fe(px)) px.fe.logs.insert(px.fe.logs.end(), add.begin(), add.end());
}

void kw_no_log(ParseState&, ProxyDraft& px, const Line& line) {
    no_more_args(line, 2, "no log");
    px.fe.logs.clear();
    px.be.logs.clear();
}

void check_syslog_word(const Line& line, std::string_view kw, const std::string& value) {
    const bool ok =
        !value.empty() && value.size() <= 255 && std::all_of(value.begin(), value.end(), [](char c) {
            return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
        });
    if (!ok)
        fail(line.at, squote(kw) +
                          " expects printable ASCII without blanks (it goes into the syslog header), got " +
                          squote(value));
}

void kw_log_tag(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& tag = arg_or_fail(line, 1, "log-tag", "a tag");
    no_more_args(line, 2, "log-tag");
    check_syslog_word(line, "log-tag", tag);
    if (has_be(px)) px.be.log_tag = tag;
    if (!has_fe(px)) {
        if (!has_be(px)) warn_no_fe(st, px, line.at, "log-tag");
        return;
    }
    px.fe.log_tag = tag;
}

void kw_log_format(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& fmt = arg_or_fail(line, 1, "log-format", "a format string");
    if (line.words.size() > 2)
        fail(line.at, "'log-format' expects only one argument (quote the format or escape its spaces), got " +
                          std::to_string(line.words.size() - 1));
    if (!has_fe(px)) return warn_no_fe(st, px, line.at, "log-format");
    check_log_samples(line, fmt);
    px.fe.log_format = fmt;
    px.fe.log_format_where = line.at;  // errors found when it is compiled name this line
    px.httplog = false;
}

bool log_option(ParseState& st, ProxyDraft& px, const Line& line, const std::string& name, bool negated) {
    const std::size_t next = negated ? 3 : 2;
    const std::string kw = std::string(negated ? "no option " : "option ") + name;
    if (name == "httplog" || name == "httpslog") {
        // HAProxy's httpslog is httplog plus TLS fields; edgeshard has no TLS listener yet, so those
        // fields would all be empty: the httplog line is what such a frontend logs.
        const bool tls = name == "httpslog";
        bool clf = false;
        if (!tls && !negated && line.words.size() > next) {
            if (line.words[next] != "clf")
                fail(line.at, "'option httplog' expects nothing or 'clf', got " + squote(line.words[next]));
            clf = true;
        }
        no_more_args(line, clf ? next + 1 : next, kw);
        if (!has_fe(px)) {
            warn_no_fe(st, px, line.at, kw);
            return true;
        }
        if (negated) {
            if (px.httplog) px.fe.log_format.clear();
            px.httplog = false;
            return true;
        }
        if (tls)
            st.warn(line.at,
                    "'option httpslog' falls back to 'option httplog': there are no TLS fields to log "
                    "(TLS binds are not supported in this version)");
        px.fe.log_format = std::string(clf ? kClfLogFormat : kHttpLogFormat);
        px.httplog = true;
        return true;
    }
    if (name == "tcplog") {
        no_more_args(line, next, kw);
        if (!has_fe(px)) return true;  // HAProxy accepts it in backends, without effect
        if (negated) {
            if (px.fe.log_format == kTcpLogFormat) px.fe.log_format.clear();
            return true;
        }
        px.fe.log_format = std::string(kTcpLogFormat);
        px.httplog = false;
        return true;
    }
    if (name == "dontlognull") {
        no_more_args(line, next, kw);
        if (!has_fe(px)) {
            warn_no_fe(st, px, line.at, kw);
            return true;
        }
        px.fe.dontlognull = !negated;
        return true;
    }
    return false;
}

void httplog_to_tcplog(ParseState& st, ProxyDraft& px) {
    if (!px.httplog) return;
    st.warn(px.where, "'option httplog' not usable with " + px.kind + " " + squote(px.name) +
                          " (needs 'mode http'): falling back to 'option tcplog'");
    px.fe.log_format = std::string(kTcpLogFormat);
}

}  // namespace es::config::detail
