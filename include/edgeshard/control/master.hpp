// The master process (`-W`, `-Ws`, `master-worker`): HAProxy's master-worker model on top of our
// reload handoff, so HAProxy's own systemd unit (Type=notify, `ExecReload=kill -USR2 $MAINPID`,
// `-S /run/haproxy-master.sock`) runs edgeshard unchanged.
//
// The master is small and single-threaded: it never reads traffic nor loads a configuration after
// the first check. It runs the worker (this same binary, the same command line without the master's
// options) and keeps its PID for the service manager across reloads. A reload (SIGUSR2, SIGHUP, the
// master CLI's `reload`) starts a new worker that takes the running one's sockets and state over
// through the worker's private admin socket (`-x`, src/control/README.md "Reload"); the old worker
// drains and exits by itself, and a new worker that fails to start leaves the running one serving.
// The master CLI (`-S`) answers `show proc`, `reload`, `show version`, and passes `@1 <command>`,
// `@!<pid> <command>` to the workers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace es::control {

// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to $NOTIFY_SOCKET.
void sd_notify(const std::string& text);

// A starting process's lines through its start-up pipe (EDGESHARD_STARTUP_FD) end with this mark once it serves.
inline constexpr std::string_view kReadyMark = "]: ready: ";
// Reads a start-up pipe until its writer closes it (appended to `out`); false when `timeout_ms` (> 0) passed first.
bool read_startup(int fd, std::int64_t timeout_ms, std::string& out);
// HAProxy's PID file: this process's PID and a newline; false (errno set) when it cannot be written.
bool write_pid_file(const std::string& path);

namespace master {

struct Options {
    std::string exe;                        // the binary the workers run (/proc/self/exe at start)
    std::vector<std::string> worker_args;   // argv of a worker (argv[0] first), without -W/-Ws/-S/-D/-p/-x/-sf/-st
    std::string cli_path;                   // -S: the master CLI's unix socket ("" none)
    unsigned cli_mode = 0600;               // -S ...,mode,<octal>
    int cli_level = 2;                      // -S ...,level,user|operator|admin (0, 1, 2)
    std::string pidfile;                    // -p: the master's PID, written once the first worker serves
    bool exit_on_failure = true;            // `master-worker no-exit-on-failure` clears it
    bool daemon = false;                    // -D: stderr goes to /dev/null once the first worker serves
    int startup_fd = -1;                    // told the first worker's start-up lines, closed when it is over
};

// Parses -S's argument: "<path>[,<option>,<value>]..." (HAProxy's bind options separated by commas).
// Returns "" or what is wrong; fills path, mode and level.
std::string parse_cli_spec(const std::string& spec, Options& o);

// Runs the master until every worker is gone; returns the process's exit status.
int run(const Options& o);

}  // namespace master
}  // namespace es::control
