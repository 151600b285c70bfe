// What check results do (impl.hpp): HAProxy's rise/fall arithmetic, the server's state with its
// agent, the messages to the shards, slowstart ramps and the log lines.
#include "impl.hpp"

#include <algorithm>
#include <limits>

namespace es::check {

namespace {

bool passed(Status s) {
    return s == Status::L4Ok || s == Status::L6Ok || s == Status::L7Ok || s == Status::L7OkC;
}

std::int64_t effective_inter(const config::ServerCheck& c, const Health& h) {
    if (!h.up && h.health == 0) return c.downinter > 0 ? c.downinter : c.inter;
    if (h.health > 0 && h.health < h.rise + h.fall - 1) return c.fastinter > 0 ? c.fastinter : c.inter;
    return c.inter;
}

}  // namespace

std::pair<int, int> Checker::Impl::servers_left(std::size_t be) {
    int act = 0, bck = 0;
    const config::Backend& b = cfg.backends[be];
    for (std::size_t k = 0; k < b.servers.size(); ++k) {
        const int ti = index[be][k];
        if (ti >= 0) {
            const Health& h = targets[std::size_t(ti)].h;
            if (!h.up || h.nolb) continue;
        }
        if (hooks.admin_ready && !hooks.admin_ready(be, k)) continue;
        (b.servers[k].backup ? bck : act) += 1;
    }
    return {act, bck};
}

void Checker::Impl::tell(Target& t, bool down) {
    t.sent_down = down;
    const bool ok = !hooks.changed || hooks.changed(t.be, t.sv, down);
    if (!ok && !t.resync) resyncs.push_back(std::uint32_t(&t - targets.data()));
    t.resync = !ok;
}

// slowstart: ceil(elapsed * 100 / slowstart), 1..100
int Checker::Impl::ramp_pct(std::int64_t elapsed, std::int64_t slowstart) {
    if (slowstart <= 0 || elapsed >= slowstart) return 100;
    const std::int64_t p = (elapsed * 100 + slowstart - 1) / slowstart;
    return int(std::clamp<std::int64_t>(p, 1, 100));
}

// A server back UP with `slowstart` starts at a small share of its weight.
void Checker::Impl::start_ramp(Target& t, std::int64_t now) {
    const std::int64_t ss = t.s->check.slowstart;
    if (ss <= 0) return;
    const std::uint32_t i = std::uint32_t(&t - targets.data());
    for (auto& r : ramps)
        if (r.idx == i) {
            r.start = now;
            r.next = now;
            return;
        }
    ramps.push_back({i, now, now});
    update_ramps(now);
}

void Checker::Impl::update_ramps(std::int64_t now) {
    for (std::size_t k = 0; k < ramps.size();) {
        Ramp& r = ramps[k];
        Target& t = targets[r.idx];
        if (!t.h.up || t.h.paused) {  // gone again: its next UP starts a new ramp
            t.h.throttle = 100;
            ramps[k] = ramps.back();
            ramps.pop_back();
            continue;
        }
        if (now >= r.next) {
            const std::int64_t ss = t.s->check.slowstart;
            const int pct = ramp_pct(now - r.start, ss);
            if (pct != t.h.throttle || r.next == r.start) {
                t.h.throttle = pct;
                if (hooks.throttle && !hooks.throttle(t.be, t.sv, pct)) {
                    r.next = now;  // not taken: again on the next run
                    ++k;
                    continue;
                }
            }
            if (pct >= 100) {
                ramps[k] = ramps.back();
                ramps.pop_back();
                continue;
            }
            r.next = now + std::max<std::int64_t>(1000, ss / 20);
        }
        ++k;
    }
}

std::int64_t Checker::Impl::next_ramp() const {
    std::int64_t n = std::numeric_limits<std::int64_t>::max();
    for (const auto& r : ramps) n = std::min(n, r.next);
    return n;
}

// Changes the owner could not deliver (a shard's full mailbox) go again, once per turn.
void Checker::Impl::resync_all() {
    if (resyncs.empty()) return;
    std::vector<std::uint32_t> again;
    again.swap(resyncs);
    for (std::uint32_t i : again) {
        Target& t = targets[i];
        if (!t.resync) continue;
        t.resync = false;
        tell(t, t.sent_down);
    }
}

void Checker::Impl::say(const Target& t, int level, const std::string& line) {
    if (hooks.log) hooks.log(*t.b, level, line);
}

std::string Checker::Impl::reason_text(const Target& t) {
    std::string o = std::string(", reason: ") + status_desc(t.h.status);
    if (status_has_code(t.h.status)) o += ", code: " + std::to_string(t.h.code);
    if (!t.h.info.empty()) o += ", info: \"" + detail::log_quote(t.h.info) + "\"";
    if (t.h.duration_ms >= 0) o += ", check duration: " + std::to_string(t.h.duration_ms) + "ms";
    return o;
}

// HAProxy's state-change line ("Server be/s1 is DOWN, reason: ... 1 active and 0 backup servers
// left. ..."), and its alert when a backend has no server left.
void Checker::Impl::say_change(const Target& t, const Target& why, const char* what, int level) {
    say_change(t, reason_text(why), what, level);
}

void Checker::Impl::say_change(const Target& t, const std::string& reason, const char* what, int level) {
    const bool down = !t.h.up;
    const auto [act, bck] = servers_left(t.be);
    say(t, level,
        std::string(t.s->backup ? "Backup Server " : "Server ") + t.b->name + "/" + t.s->name + " is " + what +
            reason + servers_left_text(act, bck, down, down && hooks.sessions ? hooks.sessions(t.be, t.sv) : 0));
}

void Checker::Impl::finish(std::uint32_t i, std::int64_t now, Status st, int code, std::string info) {
    Target& t = targets[i];
    close_check(t);
    Health& h = t.h;
    const Status prev_status = h.status;
    const int prev_health = h.health;
    h.status = st;
    h.code = code;
    h.info = std::move(info);
    h.duration_ms = now - t.start;
    account(t, st);
    report(t, st, st != prev_status || h.health != prev_health);
    settle(t.agent ? targets[std::size_t(t.other)] : t, t, now, st);
    reschedule(t, now);
}

// HAProxy's arithmetic: a pass adds one (to the top once `rise` is reached), a failure takes one (to
// 0 below `rise`). An agent that cannot be reached or answers no health word changes nothing: only
// its "down" (L7STS) is a failure.
void Checker::Impl::account(Target& t, Status st) {
    Health& h = t.h;
    const int top = h.rise + h.fall - 1;
    if (passed(st)) {
        if (h.health < top) {
            ++h.health;
            if (h.health >= h.rise) h.health = top;
        }
    } else if (st != Status::Checked && (!t.agent || st == Status::L7Sts) && h.health > 0) {
        ++h.failed;
        --h.health;
        if (h.health < h.rise) h.health = 0;
    }
}

// option log-health-checks: every result that changed the status or the health
void Checker::Impl::report(const Target& t, Status st, bool changed) {
    const Health& h = t.h;
    if (!t.b->check.log_health_checks || !changed || st == Status::Checked) return;
    const bool upish = h.health >= h.rise;
    say(t, 4,
        std::string(t.agent ? "Agent" : "Health") + " check for " + (t.s->backup ? "backup " : "") + "server " +
            t.b->name + "/" + t.s->name + (st == Status::L7OkC ? " conditionally " : " ") +
            (passed(st) ? "succeeded" : "failed") + reason_text(t) + ", status: " +
            std::to_string(upish ? h.health - h.rise + 1 : h.health) + "/" + std::to_string(upish ? h.fall : h.rise) +
            " " + (upish ? "UP" : "DOWN") + ".");
}

bool Checker::Impl::agent_down(const Target& hc) const {
    if (hc.other < 0) return false;
    const Health& a = targets[std::size_t(hc.other)].h;
    return a.enabled && a.health < a.rise;
}

// The server's state from its health check and its agent (HAProxy: UP only when neither says
// otherwise; only the health check makes it NOLB). `why` is the probe whose result this is. A
// server in maintenance keeps its state until it leaves it.
void Checker::Impl::settle(Target& hc, const Target& why, std::int64_t now, Status st) {
    Health& h = hc.h;
    if (h.paused) return;
    const bool check_ok = !hc.s->check.enabled || !h.enabled || h.health >= h.rise;
    const bool ok = check_ok && !agent_down(hc);
    if (h.up && !ok) {
        // UP (or NOLB) -> DOWN
        h.up = false;
        h.nolb = false;
        ++h.down_trans;
        h.down_since_ms = now;
        h.last_change_ms = now;
        tell(hc, true);
        say_change(hc, why, "DOWN", 1);  // LOG_ALERT, as HAProxy sends it
    } else if (!h.up && ok && (why.agent ? passed(st) : h.health >= h.rise)) {
        h.up = true;
        h.nolb = !why.agent && st == Status::L7OkC;
        h.down_ms += now - h.down_since_ms;
        h.down_since_ms = -1;
        h.last_change_ms = now;
        tell(hc, h.nolb);
        start_ramp(hc, now);
        say_change(hc, why, h.nolb ? "stopping" : "UP", 5);
    } else if (why.agent) {
        return;
    } else if (h.up && st == Status::L7OkC && !h.nolb) {
        h.nolb = true;
        h.last_change_ms = now;
        tell(hc, true);
        say_change(hc, why, "stopping", 4);
    } else if (h.up && h.nolb && passed(st) && st != Status::L7OkC) {
        h.nolb = false;
        h.last_change_ms = now;
        tell(hc, false);
        say_change(hc, why, "UP", 5);
    }
}

// The next check: `inter`, `fastinter` or `downinter` as the health says (an agent: `agent-inter`);
// `fastinter` once after a passive check's error limit.
void Checker::Impl::reschedule(Target& t, std::int64_t now) {
    std::int64_t inter = t.agent ? t.s->check.agent_inter : effective_inter(t.s->check, t.h);
    if (t.fast_next && t.s->check.fastinter > 0) inter = t.s->check.fastinter;
    t.fast_next = false;
    t.next = now + jitter(inter);
    arm(idx(t), t.next);
}

// An agent's line (HAProxy's words, in any order, the last of a kind winning): the administrative
// state first, then the weight and maxconn, then the health ("up", "down", "stopped", "fail" with
// an optional "# description").
void Checker::Impl::agent_result(std::uint32_t i, std::int64_t now, const detail::AgentAnswer& a) {
    Target& t = targets[i];
    if (!t.h.enabled) {  // disabled while the answer was on its way: ignored, and no next check
        close_check(t);
        return;
    }
    if (a.incomplete) {
        finish(i, now, t.h.status, t.h.code, "Ignoring incomplete line from agent");
        return;
    }
    if (a.admin && hooks.agent_admin) hooks.agent_admin(t.be, t.sv, *a.admin);
    std::string warn;
    if (!a.weight.empty() && hooks.agent_weight) warn = hooks.agent_weight(t.be, t.sv, a.weight);
    if (!a.maxconn.empty() && hooks.agent_maxconn) {
        std::string w = hooks.agent_maxconn(t.be, t.sv, a.maxconn);
        if (warn.empty()) warn = std::move(w);
    }
    if (!a.health.empty()) {
        const bool up = a.health == "up";
        t.h.health = up ? t.h.rise + t.h.fall - 1 : 0;
        std::string msg = a.desc;
        if (msg.empty() || up) msg = !a.error.empty() ? a.error : !warn.empty() ? warn : msg;
        finish(i, now, up ? Status::L7Ok : Status::L7Sts, 0,
               "via agent : " + a.health + (msg.empty() ? "" : " (" + msg + ")"));
    } else if (!a.error.empty()) {
        finish(i, now, Status::Checked, 0, "agent reports an error : " + a.error);
    } else if (!warn.empty()) {
        finish(i, now, Status::Checked, 0, "agent warns : " + warn);
    } else {
        finish(i, now, Status::Checked, 0, {});
    }
}

// A data shard's error limit (observe): HAProxy's on-error actions, applied as a failed check of
// status HANA (without touching a check in flight).
void Checker::Impl::observed(Target& t, Observed last, std::int64_t now) {
    Health& h = t.h;
    ++h.hana_failed;
    t.fast_next = true;
    using E = config::ServerCheck::OnError;
    const E mode = t.s->check.on_error;
    if (mode != E::FastInter) {
        if (mode == E::SuddenDeath && h.health > h.rise) h.health = h.rise + 1;
        if (mode == E::MarkDown) h.health = h.rise;
        const Status prev_status = h.status;
        const int prev_health = h.health;
        h.status = Status::Hana;
        h.code = 0;
        h.info = "Detected " + std::to_string(t.s->check.error_limit) +
                 " consecutive errors, last one was: " + observed_desc(last);
        h.duration_ms = -1;
        account(t, Status::Hana);
        report(t, Status::Hana, h.status != prev_status || h.health != prev_health);
        settle(t, t, now, Status::Hana);
    }
    // the next check comes after `fastinter` (HAProxy wakes the check up)
    const std::int64_t fast = t.s->check.fastinter;
    if (t.fd < 0 && fast > 0 && now + fast < t.next) {
        t.next = now + fast;
        t.fast_next = false;
        arm(idx(t), t.next);
    }
}
}  // namespace es::check
