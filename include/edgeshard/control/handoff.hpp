// The reload handoff (protocol v1, src/control/README.md "Reload"): how a new process takes the
// listening sockets and the runtime state of the running one over its control socket, and how
// the two talk afterwards until the old one exits.
//
// Both ends are plain blocking-with-deadline exchanges on a Unix stream socket: the new process
// runs them before it serves anything; the old process's control shard runs its side for one
// client at a time (a handful of small writes, bounded by kIoTimeoutMs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/check/checker.hpp"
#include "edgeshard/shard/runtime.hpp"

namespace es::control::handoff {

inline constexpr int kVersion = 1;
inline constexpr std::size_t kBatch = 200;      // descriptors per SCM_RIGHTS message
inline constexpr int kIoTimeoutMs = 5000;       // any single exchange of the protocol
inline constexpr std::size_t kMaxState = 64 << 20;

// What the running process hands over besides its sockets: its generation, the runtime server
// states and its cumulative counter totals (`stats::export_totals` text, which also carries the
// pools' demand).
struct State {
    int pid = 0;
    int generation = 1;
    int reloads = 0;  // reloads the sender has survived so far
    struct ServerState {
        std::string backend, server;
        int weight = 1;
        shard::ServerAdmin admin = shard::ServerAdmin::Ready;
        int maxconn = -1;  // a runtime maxconn (`set maxconn server`, an agent); -1: as configured
    };
    std::vector<ServerState> servers;
    // health-check state of the servers with `check` (a server DOWN stays DOWN after the reload)
    struct HealthState {
        std::string backend, server;
        check::Carried state;
    };
    std::vector<HealthState> health;
    std::string totals;  // stats::export_totals text, possibly empty
    // the TLS session ticket keys (tls::TicketKeys::encode), so clients resume after the reload;
    // the socket that carries them is the admin-level control socket
    std::string ticket_keys;
};

std::string encode_state(const State& s);
// Throws std::runtime_error on malformed text (never trusts counts or lengths it reads).
State decode_state(std::string_view text);

// ---- the old process's side

// Sends the greeting, every listener (descriptors attached in batches) and the state on `fd`.
// Returns "" or what failed.
std::string send_listeners(int fd, const std::vector<shard::ListenerRecord>& listeners, const State& st);
// Writes one frame "<kind> <len>\n<payload>" (after commit: totals, answer, final).
bool send_frame(int fd, std::string_view kind, std::string_view payload);

// ---- the new process's side

struct Taken {
    int fd = -1;  // the connection, kept open after the commit: the old process's lifeline to us
    int pid = 0;
    std::vector<shard::ListenerRecord> listeners;  // our copies of its sockets
    State state;
};

// Connects to `path`, asks for the listeners and the state. Throws std::runtime_error saying what
// went wrong (no such socket, not admin level, protocol error); nothing is left open then.
Taken take_over(const std::string& path);
// Tells the old process that we serve: it stops accepting on `adopted` and drains. Throws on a
// refusal or a timeout; the old process then keeps serving.
void commit(const Taken& t, const std::vector<int>& adopted);

// Reads one frame with a deadline: kind and payload, false on EOF, timeout or garbage.
bool read_frame(int fd, std::string& kind, std::string& payload, int timeout_ms);

}  // namespace es::control::handoff
