// HealthControl (health.hpp): the health checks seen from the control shard.
#include "health.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>

#include "edgeshard/control/server_admin.hpp"
#include "edgeshard/core/clock.hpp"
#include "edgeshard/proxy/admin.hpp"

namespace es::control {

namespace {

// HAProxy's status column for a server its checks or its agent judge: "UP", "UP 1/3" (going
// down), "DOWN 1/2" (going up), "NOLB", "DRAIN", "DRAIN (agent)", "DOWN (agent)", "no check".
std::string status_word(const check::Health& h, const check::Health* agent, bool drain) {
    const bool checked = h.enabled;
    const bool with_agent = agent && agent->enabled;
    if (h.up) {
        const bool going_down = checked && h.health < h.rise + h.fall - 1;
        const std::string tail =
            going_down ? " " + std::to_string(h.health - h.rise + 1) + "/" + std::to_string(h.fall) : std::string();
        if (drain) return with_agent ? "DRAIN (agent)" : "DRAIN" + tail;
        if (h.nolb) return "NOLB" + tail;
        return checked ? "UP" + tail : "no check";
    }
    if (with_agent && agent->health == 0) return "DOWN (agent)";
    if (checked && h.health > 0) return "DOWN " + std::to_string(h.health) + "/" + std::to_string(h.rise);
    return "DOWN";
}

shard::Message admin_msg(std::size_t be, std::size_t sv, std::uint32_t op, std::uint32_t value) {
    return proxy::encode_server_admin({std::uint32_t(be), std::uint32_t(sv), op, value});
}

}  // namespace

HealthControl::HealthControl(shard::Runtime& rt, Services& services,
                             const std::vector<handoff::State::HealthState>& inherited)
    : rt_(rt), services_(services) {
    const std::int64_t now = core::now_ms();
    check::Hooks hooks;
    hooks.changed = [this](std::size_t be, std::size_t sv, bool down) { return post_health(be, sv, down); };
    hooks.sessions = [this](std::size_t be, std::size_t sv) { return sessions(be, sv); };
    hooks.throttle = [this](std::size_t be, std::size_t sv, int pct) {
        return post_all(admin_msg(be, sv, proxy::kAdminOpThrottle, std::uint32_t(pct)));
    };
    hooks.admin_ready = [this](std::size_t be, std::size_t sv) {
        const auto& table = rt_.server_runtime();
        if (be >= table.size() || sv >= table[be].size()) return true;
        return table[be][sv].admin == shard::ServerAdmin::Ready && table[be][sv].weight > 0;
    };
    hooks.agent_admin = [this](std::size_t be, std::size_t sv, check::Hooks::Admin a) {
        const auto admin = a == check::Hooks::Admin::Drain   ? shard::ServerAdmin::Drain
                           : a == check::Hooks::Admin::Maint ? shard::ServerAdmin::Maint
                                                             : shard::ServerAdmin::Ready;
        const auto& table = rt_.server_runtime();
        if (be < table.size() && sv < table[be].size() && table[be][sv].admin == admin) return;
        if (services_.set_server) services_.set_server(be, sv, proxy::kAdminOpState, std::uint32_t(admin));
    };
    hooks.agent_weight = [this](std::size_t be, std::size_t sv, const std::string& v) -> std::string {
        int w = 0;
        const std::string_view err = parse_weight(v, rt_.config().backends[be].servers[sv].weight, w);
        if (!err.empty()) return std::string(err);
        const auto& table = rt_.server_runtime();
        if (be < table.size() && sv < table[be].size() && table[be][sv].weight == w) return {};
        return services_.set_server ? services_.set_server(be, sv, proxy::kAdminOpWeight, std::uint32_t(w)) : std::string();
    };
    hooks.agent_maxconn = [this](std::size_t be, std::size_t sv, const std::string& v) -> std::string {
        int n = 0;
        const std::string_view err = parse_maxconn(v, n);
        if (!err.empty()) return std::string(err);
        const auto& table = rt_.server_runtime();
        if (be < table.size() && sv < table[be].size() && table[be][sv].maxconn == n) return {};
        return services_.set_server ? services_.set_server(be, sv, proxy::kAdminOpMaxconn, std::uint32_t(n)) : std::string();
    };
    hooks.log = [this](const config::Backend& b, int level, const std::string& line) { log(b.id, level, line); };
    hooks.observing = [this](std::size_t be, std::size_t sv, bool counting) {
        post_all(admin_msg(be, sv, proxy::kAdminOpObserving, counting ? 1 : 0));  // a lost one costs one reset
    };
    auto carried = [&inherited](const std::string& be, const std::string& sv) -> const check::Carried* {
        for (const auto& h : inherited)
            if (h.backend == be && h.server == sv) return &h.state;
        return nullptr;
    };
    checker_ = std::make_unique<check::Checker>(rt_.config(), std::move(hooks), now, carried);
    be_track_.assign(rt_.config().backends.size(), BackendTrack{true, now, 0, -1, 0});

    // the shards start from the runtime table: a server a reload handed over as DOWN stays out of
    // rotation until its checks pass; one in maintenance has its checks paused
    const config::Config& cfg = rt_.config();
    auto& table = rt_.server_runtime();
    for (std::size_t b = 0; b < cfg.backends.size() && b < table.size(); ++b)
        for (std::size_t k = 0; k < cfg.backends[b].servers.size() && k < table[b].size(); ++k) {
            table[b][k].down = checker_->down(b, k);
            if (table[b][k].admin == shard::ServerAdmin::Maint) checker_->maintenance(b, k, true, now);
        }

    services_.health_admin = [this](std::size_t be, std::size_t sv, std::string_view what) -> std::string {
        const std::int64_t t = core::now_ms();
        if (what.substr(0, 6) == "agent-") return agent_admin(be, sv, what.substr(6), t);
        if (what == "enable" || what == "disable") {
            if (checker_) checker_->enable(be, sv, what == "enable", t);
            return {};
        }
        const auto f = what == "up"         ? check::Checker::Force::Up
                       : what == "stopping" ? check::Checker::Force::Stopping
                                            : check::Checker::Force::Down;
        if (checker_ && checker_->force(be, sv, f, t)) return {};
        // a server without `check` keeps what it is told (HAProxy marks it so too)
        auto& table = rt_.server_runtime();
        if (be < table.size() && sv < table[be].size()) table[be][sv].nolb = f == check::Checker::Force::Stopping;
        if (!post_health(be, sv, f != check::Checker::Force::Up))
            return "The change is recorded but some shard(s) did not take it (mailbox full); repeat the command.";
        return {};
    };
    // maintenance pauses a server's checks; leaving it resumes them (HAProxy)
    // (and an administrative change is logged in HAProxy's words, whoever asked for it)
    auto set = services_.set_server;
    services_.set_server = [set, this](std::size_t be, std::size_t sv, std::uint32_t op, std::uint32_t value) {
        const auto& table = rt_.server_runtime();
        const bool known = be < table.size() && sv < table[be].size();
        const shard::ServerAdmin before = known ? table[be][sv].admin : shard::ServerAdmin::Ready;
        std::string err = set(be, sv, op, value);
        if (op == proxy::kAdminOpState && checker_)
            checker_->maintenance(be, sv, value == std::uint32_t(shard::ServerAdmin::Maint), core::now_ms());
        if (op == proxy::kAdminOpState && known && table[be][sv].admin != before)
            log_admin_change(be, sv, before, table[be][sv].admin);
        track_backends(core::now_ms());
        return err;
    };
    auto base = services_.server_table;
    services_.server_table = [base, this] {
        ServerTable t = base();
        t.health = [this](std::size_t be, std::size_t sv) { return checker_ ? checker_->health(be, sv) : nullptr; };
        t.agent = [this](std::size_t be, std::size_t sv) { return checker_ ? checker_->agent(be, sv) : nullptr; };
        return t;
    };
}

// HAProxy's words on stderr ([WARNING] a server down, [NOTICE] one back) and to the backend's log
// targets at syslog severity `level` (a server down is an alert there, as HAProxy sends it).
void HealthControl::server_ip(std::size_t be, std::size_t sv, const config::SockAddr& ip) {
    if (checker_) checker_->set_ip(be, sv, ip);
}

// "Server be/s is going DOWN for maintenance (DNS NX status). 0 active and 0 backup servers left.
// 0 sessions active, 0 requeued, 0 remaining in queue." / "Server be/s ('name') is UP/READY
// (resolves again)." as HAProxy 2.6 logs them (srv_set_admin_flag, srv_clr_admin_flag).
void HealthControl::server_rmaint(std::size_t be, std::size_t sv, bool rmaint, const std::string& reason,
                                  bool admin_line) {
    const config::Backend& b = rt_.config().backends[be];
    const config::Server& s = b.servers[sv];
    const auto& table = rt_.server_runtime();
    const bool admin_maint = table[be][sv].admin == shard::ServerAdmin::Maint;
    if (checker_) checker_->maintenance(be, sv, rmaint || admin_maint, core::now_ms());
    int act = 0, bck = 0;
    for (std::size_t k = 0; k < table[be].size() && k < b.servers.size(); ++k)
        if (table[be][k].usable()) (b.servers[k].backup ? bck : act) += 1;
    const std::string name = std::string(s.backup ? "Backup " : "") + "Server " + b.name + "/" + s.name;
    if (rmaint) {
        if (admin_maint) return;  // already out: HAProxy says nothing more
        log(be, 1, name + " is going DOWN for maintenance (" + reason + ")" +
                       check::servers_left_text(act, bck, true, sessions(be, sv)));
    } else if (!admin_maint) {
        const check::Health* h = checker_ ? checker_->health(be, sv) : nullptr;
        const bool down = table[be][sv].down || (h && h->enabled && !h->up);
        const std::string host = reason.empty() ? s.hostname : reason;  // coming back: the name it follows
        log(be, 5, name + " ('" + host + "') is " + (down ? "DOWN" : "UP") + "/" +
                       (table[be][sv].admin == shard::ServerAdmin::Drain ? "DRAIN" : "READY") + " (resolves again).", true);
        if (admin_line)  // not for a server a SRV answer filled (HAProxy's srvrq_update_srv_status)
            log(be, 5, "Server " + b.name + "/" + s.name + " administratively READY thanks to valid DNS answer.", true);
    }
    backends_dirty_ = true;
}

void HealthControl::log(std::size_t be, int level, const std::string& line, bool warn) {
    std::fprintf(stderr, "%-10s (%d) : %s\n", level <= 0 ? "[ALERT]" : level <= 4 || warn ? "[WARNING]" : "[NOTICE]",
                 int(getpid()), line.c_str());
    if (event_log_) event_log_(be, level, line);
}

// A server's current sessions over every shard (their single-writer counters).
std::int64_t HealthControl::sessions(std::size_t be, std::size_t sv) const {
    std::int64_t n = 0;
    for (std::size_t i = 0; i < rt_.shard_count(); ++i) {
        const stats::ShardStats& s = rt_.shard_stats(i);
        if (be < s.n_be && be < s.n_srv.size() && sv < s.n_srv[be]) n += s.srv[be][sv].scur.get();
    }
    return n;
}

// "Server be/s enters drain state. 1 active and 0 backup servers online. ..." and the others of
// HAProxy's administrative changes (maintenance, drain, and leaving them).
void HealthControl::log_admin_change(std::size_t be, std::size_t sv, shard::ServerAdmin from, shard::ServerAdmin to) {
    using A = shard::ServerAdmin;
    const config::Backend& b = rt_.config().backends[be];
    const config::Server& s = b.servers[sv];
    const auto& table = rt_.server_runtime();
    int act = 0, bck = 0;
    for (std::size_t k = 0; k < table[be].size() && k < b.servers.size(); ++k)
        if (table[be][k].usable()) (b.servers[k].backup ? bck : act) += 1;
    const bool down = table[be][sv].down || to == A::Maint;
    const std::string name = std::string(s.backup ? "Backup " : "") + "Server " + b.name + "/" + s.name;
    const std::string more = check::servers_left_text(act, bck, down, down ? sessions(be, sv) : 0);
    const char* state = table[be][sv].down ? "DOWN" : "UP";
    if (to == A::Maint) {
        log(be, 1, name + " is going DOWN for maintenance" + more);
    } else if (from == A::Maint) {
        log(be, 5, name + " is " + state + "/" + (to == A::Drain ? "DRAIN" : "READY") + " (leaving forced maintenance).");
    } else if (to == A::Drain) {
        log(be, 5, name + " enters drain state" + more);
    } else {
        log(be, 5, name + " is " + state + " (leaving forced drain).");
    }
}

// `enable|disable agent`, `set server <b>/<s> agent up|down`, in HAProxy's words.
std::string HealthControl::agent_admin(std::size_t be, std::size_t sv, std::string_view what, std::int64_t now) {
    const check::Health* a = checker_ ? checker_->agent(be, sv) : nullptr;
    if (what.substr(0, 5) == "send:") {
        if (!a) return "agent checks are not enabled on this server.";
        checker_->agent_send(be, sv, std::string(what.substr(5)));
        return {};
    }
    if (what == "enable") return a ? (checker_->agent_enable(be, sv, true, now), std::string())
                                   : "Agent was not configured on this server, cannot enable.";
    if (what == "disable") {
        if (a) checker_->agent_enable(be, sv, false, now);
        return {};
    }
    if (!a || !a->enabled) return "agent checks are not enabled on this server.";
    if (what != "up" && what != "down") return "'set server <srv> agent' expects 'up' or 'down'.";
    checker_->agent_force(be, sv, what == "up", now);
    return {};
}

std::int64_t HealthControl::next_due_ms() const {
    return checker_ ? checker_->next_due_ms() : std::numeric_limits<std::int64_t>::max();
}

bool HealthControl::post_all(const shard::Message& m) {
    bool ok = true;
    for (std::size_t i = 0; i < rt_.shard_count(); ++i)
        if (rt_.running(i) && !rt_.post(i, m)) ok = false;
    return ok;
}

// A health change: the runtime table (a reload and a starting shard read it), then one message per
// running data shard. Never waits: a full mailbox makes it false and the checker sends the change
// again on its next run. A server going DOWN with `on-marked-down shutdown-sessions` has its
// sessions cut; an active one coming UP with `on-marked-up shutdown-backup-sessions` has the
// backups' sessions cut.
bool HealthControl::post_health(std::size_t be, std::size_t sv, bool down) {
    auto& table = rt_.server_runtime();
    if (be >= table.size() || sv >= table[be].size()) return true;
    const bool was = table[be][sv].down;
    table[be][sv].down = down;
    bool ok = post_all(admin_msg(be, sv, proxy::kAdminOpHealth, down ? 1 : 0));
    const config::Server& cs = rt_.config().backends[be].servers[sv];
    if (down && !was && cs.check.shutdown_on_down) ok = post_all(admin_msg(be, sv, proxy::kAdminOpShutdown, 0)) && ok;
    if (!down && was && !cs.backup && cs.check.shutdown_backup_on_up)
        ok = post_all(admin_msg(be, sv, proxy::kAdminOpShutdown, 1)) && ok;
    backends_dirty_ = true;  // followed (and logged) once the change's own line is out
    return ok;
}

// A backend is up while one of its servers can be picked (ready, weighted, not DOWN or NOLB).
void HealthControl::track_backends(std::int64_t now) {
    const config::Config& cfg = rt_.config();
    const auto& table = rt_.server_runtime();
    for (std::size_t b = 0; b < be_track_.size() && b < table.size(); ++b) {
        bool up = false;
        for (std::size_t k = 0; k < table[b].size() && k < cfg.backends[b].servers.size(); ++k)
            if (table[b][k].usable()) up = true;
        BackendTrack& t = be_track_[b];
        if (up == t.up) continue;
        t.up = up;
        t.last_change_ms = now;
        if (up) {
            t.down_ms += now - t.down_since_ms;
            t.down_since_ms = -1;
        } else {
            t.down_since_ms = now;
            ++t.down_trans;
            // HAProxy's words: quoted on stderr, bare and at "emerg" in the logs
            const std::string& name = cfg.backends[b].name;
            std::fprintf(stderr, "%-10s (%d) : backend '%s' has no server available!\n", "[ALERT]", int(getpid()),
                         name.c_str());
            if (event_log_) event_log_(b, 0, "backend " + name + " has no server available!");
        }
    }
}

void HealthControl::fill(std::vector<std::vector<stats::ServerState>>& st,
                         std::vector<stats::Snapshot::BackendState>& backends) {
    const std::int64_t now = core::now_ms();
    const ServerTable tbl = services_.server_table ? services_.server_table() : ServerTable{};
    for (std::size_t b = 0; b < st.size(); ++b)
        for (std::size_t k = 0; k < st[b].size(); ++k) {
            stats::ServerState& s = st[b][k];
            std::int64_t changed_s = -1;
            if (tbl.changed_s && b < tbl.changed_s->size() && k < (*tbl.changed_s)[b].size())
                changed_s = std::max<std::int64_t>(0, tbl.now_s - (*tbl.changed_s)[b][k]);
            const check::Health* h = checker_ ? checker_->health(b, k) : nullptr;
            const check::Health* ag = checker_ ? checker_->agent(b, k) : nullptr;
            if (ag && ag->enabled) {
                stats::AgentView& a = s.agent;
                a.enabled = true;
                a.status = std::string(ag->in_progress ? "* " : "") + check::status_name(ag->status);
                a.desc = check::status_desc(ag->status);
                a.info = ag->info;
                a.has_code = check::status_has_code(ag->status);
                a.code = ag->code;
                a.duration_ms = ag->status == check::Status::Ini ? -1 : ag->duration_ms;
                a.health = ag->health;
                a.rise = ag->rise;
                a.fall = ag->fall;
            }
            if (h && !h->paused) s.status = status_word(*h, ag, s.admin == stats::ServerState::Admin::Drain);
            if (!h && tbl.servers && b < tbl.servers->size() && k < (*tbl.servers)[b].size()) {
                const shard::ServerRuntime& r = (*tbl.servers)[b][k];
                if (r.down && r.nolb && s.admin == stats::ServerState::Admin::Ready) s.status = "NOLB";
            }
            if (!h || !h->enabled || h->paused) {  // no check, `disable health`, maintenance
                s.lastchg_s = changed_s;
                continue;
            }
            const std::int64_t since = (now - h->last_change_ms) / 1000;
            s.lastchg_s = changed_s >= 0 ? std::min(changed_s, since) : since;
            stats::CheckView& v = s.check;
            v.enabled = true;
            v.up = h->up;
            v.nolb = h->nolb;
            v.in_progress = h->in_progress;
            v.health = h->health;
            v.rise = h->rise;
            v.fall = h->fall;
            v.status = std::string(h->in_progress ? "* " : "") + check::status_name(h->status);
            v.desc = check::status_desc(h->status);
            v.info = h->info;
            v.has_code = check::status_has_code(h->status);
            v.code = h->code;
            v.duration_ms = h->status == check::Status::Ini || h->status == check::Status::Hana ? -1 : h->duration_ms;
            v.failed = h->failed;
            v.down_trans = h->down_trans;
            v.downtime_s = h->downtime_ms(now) / 1000;
            v.throttle = h->up ? h->throttle : 100;
            v.hana_failed = h->hana_failed;
            v.state = s.status;
        }
    track_backends(now);
    backends.resize(be_track_.size());
    for (std::size_t b = 0; b < be_track_.size(); ++b) {
        const BackendTrack& t = be_track_[b];
        backends[b] = {(now - t.last_change_ms) / 1000,
                       (t.down_ms + (t.down_since_ms >= 0 ? now - t.down_since_ms : 0)) / 1000, t.down_trans};
    }
}

void HealthControl::observed(std::size_t be, std::size_t sv, check::Observed last) {
    if (checker_) checker_->observed(be, sv, last, core::now_ms());
    settle_backends();
}

void HealthControl::run(std::int64_t now_ms) {
    if (checker_) checker_->run(now_ms);
    settle_backends();
}

void HealthControl::settle_backends() {
    if (!backends_dirty_) return;
    backends_dirty_ = false;
    track_backends(core::now_ms());
}

void HealthControl::handoff(std::vector<handoff::State::HealthState>& out) const {
    if (!checker_) return;
    const config::Config& cfg = rt_.config();
    for (std::size_t b = 0; b < cfg.backends.size(); ++b)
        for (std::size_t k = 0; k < cfg.backends[b].servers.size(); ++k)
            if (const check::Health* h = checker_->health(b, k)) {
                const check::Health* a = checker_->agent(b, k);
                out.push_back({cfg.backends[b].name, cfg.backends[b].servers[k].name,
                               {h->health, h->up, h->failed, h->down_trans, a ? a->health : -1}});
            }
}

}  // namespace es::control
