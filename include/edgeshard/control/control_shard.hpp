// The control shard: what the main thread becomes once the data shards run.
//
//   shard::Runtime rt(cfg); rt.start();
//   control::ControlShard cs(rt);
//   cs.run(signal_fd);   // returns on SIGINT/SIGTERM (read from the signalfd)
//   rt.stop();
//
// run() owns the `stats socket`s of the config: it creates them (atomically replacing a stale or
// previous process's socket file), serves the CLI on them with poll(2), and removes the files it
// created when it returns (not a file a newer process has put in their place). It never blocks on
// a client: every client socket is non-blocking, its input is capped at kMaxRequestLine, its
// output is written as the socket accepts it, and `stats timeout` closes idle clients.
// It never touches a shard's ring: statistics are read from the shards' single-writer counters.
#pragma once

#include "edgeshard/control/handoff.hpp"

#include <memory>
#include <string>

#include "edgeshard/shard/runtime.hpp"

namespace es::control {

// The messages the start printed (the banner, notices, warnings), kept for `show startup-logs`; main appends
// to it before the control shard starts, which only reads it.
std::string& startup_log();

// SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT print the thread and its backtrace on stderr, then take their
// default action (the core dump). Not installed under AddressSanitizer, which reports these itself.
// (control/watchdog.cpp)
void install_crash_handlers();

// Where this process stands in a chain of reloads (filled by main; the defaults are a first start).
struct Lineage {
    int generation = 1;
    int predecessor_fd = -1;       // after a takeover: the connection to the process we replaced
    int predecessor_pid = 0;
    std::string inherited_totals;  // its cumulative totals at the handoff (stats::export_totals text)
    std::vector<handoff::State::HealthState> inherited_health;  // its servers' health-check state
};

class ControlShard {
  public:
    explicit ControlShard(shard::Runtime& rt, Lineage lineage = {});
    ~ControlShard();
    ControlShard(const ControlShard&) = delete;
    ControlShard& operator=(const ControlShard&) = delete;

    // Throws std::runtime_error (naming the path and the reason) when a stats socket cannot be
    // created; sockets created before the failure are removed. Afterwards it does not throw:
    // client errors close that client. signal_fd: a signalfd (or any fd) whose readability means
    // "stop"; one read of up to 128 bytes consumes it. Pass -1 to serve until the process dies.
    void run(int signal_fd);
    // The two halves of opening the stats sockets, for a reload: prepare() listens at temporary
    // names (throws like run()), publish() renames them over their paths once the process has
    // committed. run() does both if they were not done.
    void prepare();
    void publish();

  private:
    bool prepared_ = false;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace es::control
