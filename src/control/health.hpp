// The control shard's side of the health checks (src/check/): it owns the Checker, turns its
// changes into kServerAdmin messages to the data shards (health, shutdown-sessions, slowstart
// throttle), keeps the runtime table in step (a starting shard and a reload read it), follows each
// backend's availability, answers the CLI's health commands, fills `show stat`'s check columns and
// hands the checks' state to a successor. Private to the control room.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/check/checker.hpp"
#include "edgeshard/control/command.hpp"
#include "edgeshard/control/handoff.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace es::control {

class HealthControl {
public:
    // Starts the checks of rt's configuration from what a predecessor handed over (`inherited`),
    // and hooks the health commands into `services` (after bind_server_admin filled it).
    HealthControl(shard::Runtime& rt, Services& services,
                  const std::vector<handoff::State::HealthState>& inherited);

    int fd() const { return checker_ ? checker_->fd() : -1; }  // for the control loop's poll
    std::int64_t next_due_ms() const;
    void run(std::int64_t now_ms);
    void stop() { checker_.reset(); }  // a draining process checks nothing

    // `show stat`: the check columns and time since the last change of each server, and each
    // backend's availability history.
    void fill(std::vector<std::vector<stats::ServerState>>& servers, std::vector<stats::Snapshot::BackendState>& backends);
    // The reload handoff: every checked server's health.
    void handoff(std::vector<handoff::State::HealthState>& out) const;

    // Where state-change lines go besides stderr: the backend's `log` targets.
    void set_event_log(std::function<void(std::size_t be, int level, const std::string& line)> f) {
        event_log_ = std::move(f);
    }

    // A data shard's error limit for a server with `observe` (a kObserved message).
    void observed(std::size_t be, std::size_t sv, check::Observed last);

    // Runtime addresses (control/dns.hpp): the server's checks follow its new IP; a server without
    // an address (HAProxy's RMAINT, `reason` in its words) has its checks paused, and resumed when
    // it resolves again (`reason` then: the name it follows). Both log in HAProxy's words. The runtime table is already updated.
    void server_ip(std::size_t be, std::size_t sv, const config::SockAddr& ip);
    void server_rmaint(std::size_t be, std::size_t sv, bool rmaint, const std::string& reason, bool admin_line);
    // A state change on stderr and in the backend's log at `level` (syslog's); `warn`: "[WARNING]"
    // on stderr whatever the level (HAProxy's ha_warning beside a notice in the log).
    void log(std::size_t be, int level, const std::string& line, bool warn = false);

private:
    std::string agent_admin(std::size_t be, std::size_t sv, std::string_view what, std::int64_t now);
    std::int64_t sessions(std::size_t be, std::size_t sv) const;
    void log_admin_change(std::size_t be, std::size_t sv, shard::ServerAdmin from, shard::ServerAdmin to);
    bool post_health(std::size_t be, std::size_t sv, bool down);
    bool post_all(const shard::Message& m);  // to every running shard, never waiting
    void track_backends(std::int64_t now);  // logs a backend left without a server
    void settle_backends();                 // track_backends after health changes, if any

    struct BackendTrack {
        bool up = true;
        std::int64_t last_change_ms = 0, down_ms = 0, down_since_ms = -1;
        std::uint64_t down_trans = 0;
    };
    shard::Runtime& rt_;
    Services& services_;
    std::unique_ptr<check::Checker> checker_;
    std::vector<BackendTrack> be_track_;
    bool backends_dirty_ = false;  // a health change since the last track_backends
    std::function<void(std::size_t be, int level, const std::string& line)> event_log_;  // followed at every health change and every snapshot
};

}  // namespace es::control
