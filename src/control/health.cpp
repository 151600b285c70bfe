// HealthControl (health.hpp): the health checks seen from the control shard.
#include "health.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>

#include "edgeshard/core/clock.hpp"
#include "edgeshard/proxy/admin.hpp"

namespace es::control {

namespace {

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
    hooks.sessions = [this](std::size_t be, std::size_t sv) {
        std::int64_t n = 0;
        for (std::size_t i = 0; i < rt_.shard_count(); ++i) {
            const stats::ShardStats& s = rt_.shard_stats(i);
            if (be < s.n_be && be < s.n_srv.size() && sv < s.n_srv[be]) n += s.srv[be][sv].scur.get();
        }
        return n;
    };
    hooks.throttle = [this](std::size_t be, std::size_t sv, int pct) {
        return post_all(admin_msg(be, sv, proxy::kAdminOpThrottle, std::uint32_t(pct)));
    };
    hooks.admin_ready = [this](std::size_t be, std::size_t sv) {
        const auto& table = rt_.server_runtime();
        if (be >= table.size() || sv >= table[be].size()) return true;
        return table[be][sv].admin == shard::ServerAdmin::Ready && table[be][sv].weight > 0;
    };
    hooks.log = [](const config::Backend&, int level, const std::string& line) {
        // HAProxy's own words on stderr ([WARNING] a state change, [ALERT] no server left)
        std::fprintf(stderr, "%-10s (%d) : %s\n", level <= 1 ? "[ALERT]" : level <= 4 ? "[WARNING]" : "[NOTICE]",
                     int(getpid()), line.c_str());
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
        if (what == "enable" || what == "disable") {
            if (checker_) checker_->enable(be, sv, what == "enable", t);
            return {};
        }
        const auto f = what == "up"         ? check::Checker::Force::Up
                       : what == "stopping" ? check::Checker::Force::Stopping
                                            : check::Checker::Force::Down;
        if (checker_ && checker_->force(be, sv, f, t)) return {};
        // a server without `check` keeps what it is told (HAProxy marks it so too)
        if (!post_health(be, sv, f != check::Checker::Force::Up))
            return "The change is recorded but some shard(s) did not take it (mailbox full); repeat the command.";
        return {};
    };
    // maintenance pauses a server's checks; leaving it resumes them (HAProxy)
    auto set = services_.set_server;
    services_.set_server = [set, this](std::size_t be, std::size_t sv, std::uint32_t op, std::uint32_t value) {
        std::string err = set(be, sv, op, value);
        if (op == proxy::kAdminOpState && checker_)
            checker_->maintenance(be, sv, value == std::uint32_t(shard::ServerAdmin::Maint), core::now_ms());
        return err;
    };
    auto base = services_.server_table;
    services_.server_table = [base, this] {
        ServerTable t = base();
        t.health = [this](std::size_t be, std::size_t sv) { return checker_ ? checker_->health(be, sv) : nullptr; };
        return t;
    };
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
    track_backends(core::now_ms());
    return ok;
}

// A backend is up while one of its servers can be picked (ready, weighted, not DOWN or NOLB).
void HealthControl::track_backends(std::int64_t now) {
    const config::Config& cfg = rt_.config();
    const auto& table = rt_.server_runtime();
    for (std::size_t b = 0; b < be_track_.size() && b < table.size(); ++b) {
        bool up = false;
        for (std::size_t k = 0; k < table[b].size() && k < cfg.backends[b].servers.size(); ++k) {
            const shard::ServerRuntime& r = table[b][k];
            if (r.admin == shard::ServerAdmin::Ready && r.weight > 0 && !r.down) up = true;
        }
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
            v.duration_ms = h->status == check::Status::Ini ? -1 : h->duration_ms;
            v.failed = h->failed;
            v.down_trans = h->down_trans;
            v.downtime_s = h->downtime_ms(now) / 1000;
            v.throttle = h->up ? h->throttle : 100;
            // HAProxy's status column: "UP", "UP 1/3" (going down), "DOWN 1/2" (going up), "NOLB", "DRAIN"
            const bool drain = s.admin == stats::ServerState::Admin::Drain;
            if (h->up) {
                const bool going_down = h->health < h->rise + h->fall - 1;
                const std::string base = drain ? "DRAIN" : h->nolb ? "NOLB" : "UP";
                v.state = going_down
                              ? base + " " + std::to_string(h->health - h->rise + 1) + "/" + std::to_string(h->fall)
                              : base;
            } else {
                v.state = h->health > 0 ? "DOWN " + std::to_string(h->health) + "/" + std::to_string(h->rise) : "DOWN";
            }
        }
    track_backends(now);
    backends.resize(be_track_.size());
    for (std::size_t b = 0; b < be_track_.size(); ++b) {
        const BackendTrack& t = be_track_[b];
        backends[b] = {(now - t.last_change_ms) / 1000,
                       (t.down_ms + (t.down_since_ms >= 0 ? now - t.down_since_ms : 0)) / 1000, t.down_trans};
    }
}

void HealthControl::handoff(std::vector<handoff::State::HealthState>& out) const {
    if (!checker_) return;
    const config::Config& cfg = rt_.config();
    for (std::size_t b = 0; b < cfg.backends.size(); ++b)
        for (std::size_t k = 0; k < cfg.backends[b].servers.size(); ++k)
            if (const check::Health* h = checker_->health(b, k))
                out.push_back({cfg.backends[b].name, cfg.backends[b].servers[k].name,
                               {h->health, h->up, h->failed, h->down_trans}});
}

}  // namespace es::control
