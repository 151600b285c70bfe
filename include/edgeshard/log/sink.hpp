// The access-log sink: owned by the control shard, it drains every shard's log ring and writes the
// records to the targets of their frontend (config::Frontend::logs).
//
// Targets written: "stdout" / "fd@1", "stderr" / "fd@2", "file@<path>" (opened O_WRONLY|O_APPEND|
// O_CREAT at construction, mode 0640, reopened by reopen() after a logrotate). Other targets
// (syslog addresses: udp/tcp/unix) are accepted and skipped; every record that would have gone to
// one counts in SinkCounters::unsent.
// Formats (HAProxy's `log ... format <f>`):
//   raw       the bare line
//   rfc3164   "<PRI>Nov 22 20:50:01 edgeshard[pid]: line" (the default, HAProxy's "rfc3164")
//   local     same header as rfc3164 (HAProxy's "local" differs only in the hostname, never sent)
//   rfc5424   "<PRI>1 2026-11-22T20:50:01.123+01:00 host edgeshard pid - - line"
//   priority  "<PRI>line"
//   short     "<LEVEL>line" (the severity only, as HAProxy does)
//   timed     "<LEVEL>2026-11-22T20:50:01.123+01:00 line"
//   iso       "2026-11-22T20:50:01.123+01:00 line"
// PRI = facility * 8 + severity; access logs are emitted at severity "info" (6).
//
// Not thread safe: one thread (the control shard) calls drain() and reopen(). The rings are the
// only shared state, each read as its single consumer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/log/access_log.hpp"

namespace es::log {

struct SinkCounters {
    std::uint64_t records = 0;       // records drained from the rings
    std::uint64_t lines = 0;         // lines written (a record with two targets writes two)
    std::uint64_t bytes = 0;         // bytes written to all targets
    std::uint64_t write_errors = 0;  // failed writes (their lines are lost)
    std::uint64_t unsent = 0;        // lines for targets this version does not write (syslog)
    std::uint64_t unrouted = 0;      // records for no frontend, one without targets, or malformed
};

struct SinkOptions {
    int pid = 0;                     // 0 = getpid()
    std::string tag = "edgeshard";   // the syslog tag (HAProxy: "log-tag", default the program name)
    std::string hostname;            // rfc5424 HOSTNAME; empty = gethostname()
    std::size_t flush_bytes = 64 * 1024;  // a target's buffer is written when it reaches this size
};

class Sink {
public:
    // Builds the per-frontend routes from cfg.frontends[i].logs (frontend id i = index in
    // cfg.frontends) and opens the file targets. Throws std::runtime_error naming the target for an
    // unknown format or facility, or a file that cannot be opened.
    Sink(const config::Config& cfg, std::vector<Ring*> rings, SinkOptions opt = {});
    ~Sink();
    Sink(const Sink&) = delete;
    Sink& operator=(const Sink&) = delete;

    // Replaces the rings drained (e.g. once the shards have started). Null entries are skipped.
    void set_rings(std::vector<Ring*> rings);

    // Drains every ring once, writes each target's lines with as few write(2) calls as its buffer
    // allows (one per target for up to flush_bytes), and returns the number of records drained.
    std::size_t drain();

    // Reopens every file target (logrotate's postrotate). A file that cannot be reopened keeps its
    // old descriptor; returns the number of failures and, when err is given, their description.
    std::size_t reopen(std::string* err = nullptr);

    const SinkCounters& counters() const { return counters_; }
    // True when any frontend has a target this sink writes (the control shard may skip drain()
    // timers otherwise).
    bool writes_anything() const;

    enum class Style : std::uint8_t { Raw, Rfc3164, Rfc5424, Priority, Short, Timed, Iso };

private:
    struct Output {
        std::string name;  // "stdout", "stderr", or the path
        std::string path;  // empty for stdout/stderr
        int fd = -1;
        bool owned = false;
        std::string buf;
    };
    struct Route {
        int output = -1;  // index in outputs_, -1 = not written by this version (unsent)
        Style style = Style::Rfc3164;
        int pri = 134;
    };

    void write_line(Route r, std::string_view line, std::int64_t now_ms);
    void flush(Output& o);

    std::vector<Ring*> rings_;
    std::vector<Output> outputs_;
    std::vector<std::vector<Route>> routes_;  // [frontend id]
    SinkOptions opt_;
    std::string pid_text_;
    SinkCounters counters_;
};

// "local0" -> 16 ... (RFC 5424 §6.2.1 numbering, HAProxy's names); -1 when unknown.
int facility_code(std::string_view name);

}  // namespace es::log
