// The access-log sink: owned by the control shard, it drains every shard's log ring and sends the
// records to the targets of their frontend (config::Frontend::logs).
//
// Targets (config::LogTarget::Kind):
//   stdout, stderr   buffered, one write(2) per drain (or per flush_bytes)
//   file@<path>      opened O_WRONLY|O_APPEND|O_CREAT at construction, mode 0640, reopened by reopen()
//   UDP syslog       one datagram per line on a non-blocking socket connected at construction,
//                    sent with sendmmsg(2) in batches at the end of each drain
//   unix socket      one datagram per line (SOCK_DGRAM, e.g. /dev/log), addressed per send so that a
//                    restarted syslog daemon is found again
// Nothing waits on a target: a write or send that would block or fails drops its lines and counts
// them (SinkCounters::dropped).
//
// Formats (HAProxy's `log ... format <f>`; checked against HAProxy 2.6's datagrams):
//   raw       the bare line
//   rfc3164   "<PRI>Nov 22 20:50:01 [host ]tag[pid]: line" (the default; host with log-send-hostname)
//   local     "<PRI>Nov 22 20:50:01 tag[pid]: line" (never a host name)
//   rfc5424   "<PRI>1 2026-11-22T20:50:01.123+01:00 host|- tag pid - - line"
//   priority  "<PRI>line"
//   short     "<LEVEL>line" (the severity only, as HAProxy does)
//   timed     "<LEVEL>2026-11-22T20:50:01.123+01:00 line"
//   iso       "2026-11-22T20:50:01.123+01:00 line"
// PRI = facility * 8 + severity. Access logs are emitted at severity "info" (6): a target whose
// maximum level is more severe (emerg..notice) gets nothing, a minimum level below info raises it
// (HAProxy's `<level> [<minlevel>]`). Each line, header included, is cut at the target's `len`
// (default 1024) and ends with '\n' (also in datagrams, as HAProxy sends them).
//
// Not thread safe: one thread (the control shard) calls drain() and reopen(). The rings are the
// only shared state, each read as its single consumer.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/log/access_log.hpp"

namespace es::log {

struct SinkCounters {
    std::uint64_t records = 0;       // records drained from the rings
    std::uint64_t lines = 0;         // lines written or sent (a record with two targets makes two)
    std::uint64_t bytes = 0;         // bytes written or sent to all targets
    std::uint64_t datagrams = 0;     // datagrams sent (UDP and unix targets)
    std::uint64_t write_errors = 0;  // failed writes or sends
    std::uint64_t dropped = 0;       // lines lost to a failed or would-block write or send
    std::uint64_t unrouted = 0;      // records for no frontend, one without targets, or malformed
};

struct SinkOptions {
    int pid = 0;                          // 0 = getpid()
    std::string tag = "edgeshard";        // the syslog tag when the configuration sets no log-tag
    std::string hostname;                 // log-send-hostname without a name: empty = gethostname()
    std::size_t flush_bytes = 64 * 1024;  // a target's buffer is written when it reaches this size
};

class Sink {
  public:
    // Builds the per-frontend routes from cfg.frontends[i].logs (frontend id i = index in
    // cfg.frontends), opens the file targets and the sockets. Throws std::runtime_error naming the
    // target for an unknown format or facility, a file that cannot be opened or a socket that cannot
    // be created.
    Sink(const config::Config& cfg, std::vector<Ring*> rings, SinkOptions opt = {});
    ~Sink();
    Sink(const Sink&) = delete;
    Sink& operator=(const Sink&) = delete;

    // Replaces the rings drained (e.g. once the shards have started). Null entries are skipped.
    void set_rings(std::vector<Ring*> rings);

    // Drains every ring once, writes each stream target's lines with as few write(2) calls as its
    // buffer allows (one per target for up to flush_bytes) and sends each datagram target's lines in
    // sendmmsg(2) batches; returns the number of records drained.
    std::size_t drain();

    // A server event of backend `be` (HAProxy's "Server be/s is DOWN, ..." lines) at syslog severity
    // `level` (1 alert .. 5 notice), written at once to the backend's targets whose level lets it
    // through. No-op for a backend without targets.
    void event(std::size_t be, int level, std::string_view line, std::int64_t now_ms);

    // Reopens every file target (logrotate's postrotate). A file that cannot be reopened keeps its
    // old descriptor; returns the number of failures and, when err is given, their description.
    std::size_t reopen(std::string* err = nullptr);

    const SinkCounters& counters() const { return counters_; }
    // True when any frontend has a target (the control shard may skip drain() timers otherwise).
    bool writes_anything() const;

    enum class Style : std::uint8_t { Raw, Rfc3164, Local, Rfc5424, Priority, Short, Timed, Iso };

    // The line as sent to a target (header, line cut at max_len with its header, then '\n'), appended
    // to out. Exposed for the tests: what a syslog server receives in one datagram.
    struct Header {
        Style style = Style::Rfc3164;
        int pri = 134;              // facility * 8 + severity
        std::string_view hostname;  // empty: none (rfc3164) or "-" (rfc5424)
        std::string_view tag;
        std::string_view pid;
        std::size_t max_len = kMaxLine;
    };
    static void format_line(const Header& h, std::string_view line, std::int64_t now_ms, std::string& out);

  private:
    struct Output {
        std::string name;  // "stdout", "stderr", the path, "udp:<addr>", "unix:<path>"
        std::string path;  // file targets (reopen)
        int fd = -1;
        bool owned = false;
        bool dgram = false;
        bool connected = false;  // a UDP socket connected at construction: sends carry no address
        sockaddr_storage dest{};
        socklen_t dest_len = 0;
        std::string buf;
        std::size_t pending = 0;                                     // lines in buf
        std::vector<std::pair<std::uint32_t, std::uint32_t>> spans;  // datagrams: offset, length in buf
    };
    struct Route {
        int output = -1;
        Header hdr;
        int facility = 16, max_level = 7, min_level = -1;  // events take their own severity
    };

    void write_line(const Route& r, std::string_view line, std::int64_t now_ms);
    void flush(Output& o);
    void send_datagrams(Output& o);

    std::vector<Ring*> rings_;
    std::vector<Output> outputs_;
    std::vector<std::vector<Route>> routes_;     // [frontend id]
    std::vector<std::vector<Route>> be_routes_;  // [backend id]: server events
    std::deque<std::string> tags_;            // the routes' tags (a deque: views into it stay valid)
    SinkOptions opt_;
    std::string pid_text_;
    std::string hostname_;  // log-send-hostname's host, empty when not configured
    SinkCounters counters_;
};

// "local0" -> 16 ... (RFC 5424 §6.2.1 numbering, HAProxy's names); -1 when unknown.
int facility_code(std::string_view name);
// "emerg" -> 0 ... "debug" -> 7; -1 when unknown.
int severity_code(std::string_view name);

}  // namespace es::log
