// Active health checks (DESIGN.md §9b: on the control shard, never on a data shard). One Checker
// runs every `server ... check` of the configuration from the control loop: non-blocking sockets
// on its own epoll descriptor (one descriptor in the control loop's poll set) and a deadline per
// check, so a peer that stalls, resets or answers garbage costs one socket until its timeout and
// never blocks the loop.
//
// Semantics are HAProxy 2.6's (doc/configuration.txt, "check", "inter", "rise", "fall", "option
// httpchk", "http-check"):
//   - health runs from 0 to rise + fall - 1; a server is UP from `rise` on. A success adds one
//     (and jumps to the top once `rise` is reached), a failure takes one (and drops to 0 below
//     `rise`). A server starts UP at health `rise`: one failure takes it DOWN before its first
//     success, then it takes `fall` failures in a row.
//   - the next check is `inter` after the last one ends, `fastinter` while the health is between
//     its ends, `downinter` while DOWN; `spread-checks` adds +/- that percent of random; the first
//     checks are spread over `inter` (or `max-spread-checks`).
//   - `slowstart`: a server that comes UP (from DOWN or maintenance) takes a growing share of its
//     weight, recomputed every max(1 s, slowstart / 20) until it reaches 100%.
//   - timeouts: without `timeout check`, `inter` bounds the whole check; with it, the connect is
//     bounded by min(`timeout connect`, `inter`) and the rest by `timeout check`.
//   - a TCP check passes when the connection is accepted (L4OK; L4CON with the error, L4TOUT);
//     over TLS (`check-ssl`, or a server with `ssl` and neither `port` nor `addr`) when the
//     handshake completes (L6OK; L6RSP, L6TOUT) and HTTP checks speak through it;
//     an HTTP check (`option httpchk`) sends the request and passes on a 2xx/3xx status, or on
//     its `http-check expect` rules (L7OK; L7STS, L7RSP, L7TOUT); `http-check disable-on-404`
//     turns a 404 from an UP server into NOLB (up, no new traffic: a weight of 0 on the shards).
// A state change goes to the owner through Hooks::changed (the control shard records it and sends
// it to every data shard) and is logged in HAProxy's words through Hooks::log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/shard/observe.hpp"

namespace es::check {

// HAProxy's check statuses (the `check_status` column), in its order.
enum class Status : std::uint8_t {
    Unknown, Ini, SockErr, L4Ok, L4Tout, L4Con, L6Ok, L6Tout, L6Rsp, L7Tout, L7Rsp, L7Ok, L7OkC, L7Sts,
    Hana,     // a passive check's error limit ("Health analyze")
    Checked,  // an agent answer without a health word ("No status change")
};
const char* status_name(Status s);  // "L4OK"
const char* status_desc(Status s);  // "Layer4 check passed"
// The statuses that carry a response code (HAProxy: status >= HCHK_STATUS_L57DATA).
inline bool status_has_code(Status s) { return s == Status::L7Ok || s == Status::L7OkC || s == Status::L7Sts; }

// One checked server as the CLI and the statistics read it.
struct Health {
    bool enabled = false;  // configured with `check` and not disabled by `disable health`
    bool paused = false;   // the server is in maintenance: no checks
    int rise = 2, fall = 3;
    int health = 0;    // 0 .. rise + fall - 1
    bool up = true;    // HAProxy's cur_state != STOPPED
    bool nolb = false; // disable-on-404: up, takes no new traffic
    bool in_progress = false;
    Status status = Status::Ini;
    int code = 0;                  // HTTP status of the last check (status_has_code)
    std::int64_t duration_ms = -1; // of the last finished check
    std::string info;              // the last check's detail ("Connection refused", a reason phrase)
    std::uint64_t failed = 0;      // chkfail: failed checks
    std::uint64_t down_trans = 0;  // chkdown: UP -> DOWN transitions
    std::uint64_t hana_failed = 0; // hanafail: passive checks that reached their error limit
    std::int64_t last_change_ms = 0;  // steady clock of the last UP/DOWN change (or the start)
    std::int64_t down_ms = 0;         // time spent DOWN before down_since_ms
    std::int64_t down_since_ms = -1;  // DOWN since then (-1: up)
    int throttle = 100;               // slowstart: the percent of its weight it takes now
    std::int64_t downtime_ms(std::int64_t now) const {
        return down_ms + (down_since_ms >= 0 ? now - down_since_ms : 0);
    }
};

// What a reload carries for one server (control/handoff.hpp "health" lines).
struct Carried {
    int health = 0;
    bool up = true;
    std::uint64_t failed = 0, down_trans = 0;
    int agent_health = -1;  // the agent's health (0 or 1); -1: the server had no agent
};

struct Hooks {
    // A server's traffic state changed: `down` (not to be picked) after UP -> DOWN or NOLB, false
    // after DOWN -> UP. The owner records it and tells the data shards; false when a shard could
    // not take it now (a full mailbox): the checker calls again on its next run().
    std::function<bool(std::size_t be, std::size_t sv, bool down)> changed;
    // Whether a server is ready and weighted by the runtime commands (maint, drain or weight 0 do
    // not count as "servers left" in the log line).
    std::function<bool(std::size_t be, std::size_t sv)> admin_ready;
    // A log line in HAProxy's words (`level`: syslog severity, 1 alert, 4 warning, 5 notice).
    std::function<void(const config::Backend& be, int level, const std::string& line)> log;
    // The server's current sessions over every shard (the "N sessions active" of a DOWN line).
    std::function<std::int64_t(std::size_t be, std::size_t sv)> sessions;
    // slowstart: the server takes `pct` percent (1..100) of its weight; false as for `changed`.
    std::function<bool(std::size_t be, std::size_t sv, int pct)> throttle;
    // An agent's answer: an administrative state ("ready", "drain", "maint"), then a weight ("75%")
    // or a maxconn ("maxconn:30" as "30"); each returns a warning text (empty: applied).
    enum class Admin : std::uint8_t { Ready, Drain, Maint };
    std::function<void(std::size_t be, std::size_t sv, Admin a)> agent_admin;
    std::function<std::string(std::size_t be, std::size_t sv, const std::string& weight)> agent_weight;
    std::function<std::string(std::size_t be, std::size_t sv, const std::string& maxconn)> agent_maxconn;
    // observe: the server's count of consecutive errors left 0 (true) or came back to it (false);
    // the shards learn it so that a success on any of them resets the count.
    std::function<void(std::size_t be, std::size_t sv, bool counting)> observing;
};

// HAProxy's tail of a server state-change line (its srv_append_more): ". 1 active and 0 backup
// servers left. 2 sessions active, 0 requeued, 0 remaining in queue." for a server going down
// (`down`), "... online. 0 sessions requeued, 0 total in queue." otherwise. The queues are per
// backend here: nothing is requeued.
std::string servers_left_text(int active, int backup, bool down, std::int64_t sessions);

// What a data shard saw go wrong with a server (`observe`; shard/observe.hpp).
using shard::Observed;
const char* observed_desc(Observed o);  // HAProxy's text: "Wrong http response"

class Checker {
public:
    // Every server with `check` in `cfg` (which must outlive the checker). `carried` (may be
    // null) gives the state a reload handed over, looked up by backend and server name.
    Checker(const config::Config& cfg, Hooks hooks, std::int64_t now_ms,
            const std::function<const Carried*(const std::string& be, const std::string& sv)>& carried = {});
    ~Checker();
    Checker(const Checker&) = delete;
    Checker& operator=(const Checker&) = delete;

    int fd() const;                     // the epoll descriptor to poll for input; -1: nothing checked
    std::int64_t next_due_ms() const;   // the nearest deadline or check start; INT64_MAX: none
    void run(std::int64_t now_ms);      // ready sockets, then deadlines and due checks
    std::size_t in_flight() const;      // checks with a socket open
    std::size_t checked() const;        // servers with `check`

    // nullptr for a server without `check` (or with an agent alone: then `enabled` is false).
    const Health* health(std::size_t be, std::size_t sv) const;
    // The server's agent (agent-check): its last answer (status, info, duration) and its health
    // (rise = fall = 1, as HAProxy's agents); nullptr without one.
    const Health* agent(std::size_t be, std::size_t sv) const;
    // UP, NOLB or DOWN as the shards see it (true: not to be picked).
    bool down(std::size_t be, std::size_t sv) const;

    // Runtime commands (HAProxy's). False: the server has no `check`.
    //   maintenance(true): checks pause and the health drops to 0; (false): they resume at once
    //     from health `rise` (UP, one failure from DOWN), as HAProxy leaves maintenance.
    //   force(Up|Stopping|Down): `set server <b>/<s> health up|stopping|down`: the health jumps
    //     to the top (up, stopping = NOLB) or to 0; the next checks go on from there.
    //   enable(false): `disable health`: no more checks, the last result is ignored and the
    //     server counts as UP; enable(true) resumes the checks at once.
    enum class Force : std::uint8_t { Up, Stopping, Down };
    bool maintenance(std::size_t be, std::size_t sv, bool on, std::int64_t now_ms);
    bool force(std::size_t be, std::size_t sv, Force f, std::int64_t now_ms);
    bool enable(std::size_t be, std::size_t sv, bool on, std::int64_t now_ms);
    //   agent_enable: `enable|disable agent` (a disabled agent's answers are ignored).
    //   agent_force: `set server <b>/<s> agent up|down`: the agent's health to the top or 0, and the
    //     server UP or DOWN at once.
    bool agent_enable(std::size_t be, std::size_t sv, bool on, std::int64_t now_ms);
    bool agent_force(std::size_t be, std::size_t sv, bool up, std::int64_t now_ms);
    //   set_ip: the server has a new address (DNS, `set server addr`): its check and its agent
    //     connect there from the next probe on, at their own ports, unless an `addr` /
    //     `agent-addr` of their own sends them elsewhere.
    void set_ip(std::size_t be, std::size_t sv, const config::SockAddr& ip);
    //   agent_send: `set server <b>/<s> agent-send <text>`: what the agent is sent from now on.
    bool agent_send(std::size_t be, std::size_t sv, std::string text);
    // What a data shard saw of a server with `observe`: an error, or the success that ends a run of
    // them. At `error-limit` consecutive errors the server's `on-error` action applies (fastinter,
    // fail-check, sudden-death, mark-down).
    void observed(std::size_t be, std::size_t sv, Observed last, std::int64_t now_ms);

    struct Impl;  // checker.cpp

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace es::check
