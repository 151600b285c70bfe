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
void Checker::Impl::say_change(const Target& t, const char* what, int level) {
    const bool down = !t.h.up;
    const auto [act, bck] = servers_left(t.be);
    say(t, level,
        std::string(t.s->backup ? "Backup Server " : "Server ") + t.b->name + "/" + t.s->name + " is " + what +
            reason_text(t) + ". " + std::to_string(act) + " active and " + std::to_string(bck) +
            (down ? " backup servers left." : " backup servers online.") + (bck && !act ? " Running on backup." : "") +
            (down ? " " + std::to_string(hooks.sessions ? hooks.sessions(t.be, t.sv) : 0) +
                        " sessions active, 0 requeued, 0 remaining in queue."
                  : std::string(" 0 sessions requeued, 0 total in queue.")));
    if (down && act == 0 && bck == 0) say(t, 1, "backend '" + t.b->name + "' has no server available!");
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
    const int top = h.rise + h.fall - 1;
    if (passed(st)) {
        if (h.health < top) {
            ++h.health;
            if (h.health >= h.rise) h.health = top;
        }
    } else if (h.health > 0) {
        ++h.failed;
        --h.health;
        if (h.health < h.rise) h.health = 0;
    }
    const bool report = st != prev_status || h.health != prev_health;
    if (t.b->check.log_health_checks && report) {
        const bool upish = h.health >= h.rise;
        std::string l = std::string("Health check for ") + (t.s->backup ? "backup " : "") + "server " +
                        t.b->name + "/" + t.s->name + (st == Status::L7OkC ? " conditionally " : " ") +
                        (passed(st) ? "succeeded" : "failed") + reason_text(t) + ", status: " +
                        std::to_string(upish ? h.health - h.rise + 1 : h.health) + "/" +
                        std::to_string(upish ? h.fall : h.rise) + " " + (upish ? "UP" : "DOWN") + ".";
        say(t, 4, l);
    }
    if (h.up && h.health == 0) {
        // UP (or NOLB) -> DOWN
        h.up = false;
        h.nolb = false;
        ++h.down_trans;
        h.down_since_ms = now;
        h.last_change_ms = now;
        tell(t, true);
        say_change(t, "DOWN", 4);
    } else if (!h.up && h.health >= h.rise) {
        h.up = true;
        h.nolb = st == Status::L7OkC;
        h.down_ms += now - h.down_since_ms;
        h.down_since_ms = -1;
        h.last_change_ms = now;
        tell(t, h.nolb);
        start_ramp(t, now);
        say_change(t, h.nolb ? "stopping" : "UP", 5);
    } else if (h.up && st == Status::L7OkC && !h.nolb) {
        h.nolb = true;
        h.last_change_ms = now;
        tell(t, true);
        say_change(t, "stopping", 4);
    } else if (h.up && h.nolb && passed(st) && st != Status::L7OkC) {
        h.nolb = false;
        h.last_change_ms = now;
        tell(t, false);
        say_change(t, "UP", 5);
    }
    t.next = now + jitter(effective_inter(t.s->check, h));
    arm(i, t.next);
}
}  // namespace es::check
