// Worker: runtime server states (`set server`, `set weight`) and health (the control shard's
// checks), applied from control messages.
//
// The control shard owns the table (shard::Runtime::server_runtime()) and sends each change to
// every shard as a kServerAdmin message (format in proxy/admin.hpp). A shard applies it to its own
// BackendLb between two turns, so a pick never sees a half-made change. Connections and requests
// already on a server are left alone whatever its new state (HAProxy: drain and maint kill
// nothing); only new picks follow the change. A change can give sessions waiting in a backend
// queue a server with room (a server back from maint, a weight raised from 0), so they are
// started at once instead of waiting for a slot to be freed.
#include "edgeshard/proxy/admin.hpp"

#include <limits>
#include <memory>

#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/tcp.hpp"

namespace es::proxy {

namespace {

bool any_room(const BackendLb& lb) {
    for (std::size_t i = 0; i < lb.size(); ++i) {
        const ServerSlot& s = lb.server(int(i));
        if (s.usable() && s.has_room()) return true;
    }
    return false;
}

}  // namespace

// The table a shard starts with: empty means "as configured", which is how every BackendLb is
// built. Rows or entries beyond the configuration are ignored (the table is built from the same
// configuration, so that only happens in tests that hand-make it).
void Worker::apply_initial_server_states() {
    const std::size_t n = std::min(p_.servers.size(), lbs_.size());
    for (std::size_t b = 0; b < n; ++b) lbs_[b]->set_states(p_.servers[b]);
}

// The control shard counts a server's consecutive errors over every shard: each error is a
// message, and so is the first success after errors (it resets the count). A shard knows there are
// errors to reset from its own reports and from the control shard (kAdminOpObserving, sent when the
// count leaves or returns to 0). A healthy server costs no message at all. A full mailbox loses an
// error (the count is short of one) or keeps the reset for the next success.
void ShardCtx::observe_slow(int be, ServerSlot& s, shard::Observed o) {
    const config::ServerCheck& ck = s.cfg->check;
    if (!ck.enabled || !p_.to_control) return;  // HAProxy observes only checked servers
    const int effect = shard::observed_effect(o, ck.observe == config::ServerCheck::Observe::Layer4 ? 4 : 7);
    if (effect == 0 || (effect == 2 && !s.observing)) return;
    const bool sent = p_.to_control->post(
        std::size_t(p_.shard_id),
        shard::Message{shard::Message::kObserved, std::uint64_t(std::uint32_t(be)) << 32 | std::uint32_t(s.cfg->id),
                       std::uint64_t(o)});
    if (effect == 1) s.observing = true;
    else if (sent) s.observing = false;
}

void Worker::on_server_admin(const shard::Message& m) {
    const ServerAdminChange c = decode_server_admin(m);
    if (c.backend >= lbs_.size()) return;
    BackendLb& lb = *lbs_[c.backend];
    if (c.server >= lb.size()) return;
    if (c.op == kAdminOpShutdown) {
        // HAProxy's on-marked-down shutdown-sessions / on-marked-up shutdown-backup-sessions, or
        // the administrator's `shutdown sessions server` / "Kill Sessions"
        const bool backups = c.value == 1;
        auto on_target = [&](int srv) {
            if (srv < 0 || std::size_t(srv) >= lb.size()) return false;
            return backups ? lb.server(srv).backup : srv == int(c.server);
        };
        tcp_->shutdown_sessions(int(c.backend), on_target);
        h1_->http_shutdown_sessions(int(c.backend), on_target, c.value == 2 ? 'K' : 'D');
        return;
    }
    bool ok = false;
    if (c.op == kAdminOpState) {
        if (c.value <= std::uint32_t(shard::ServerAdmin::Maint))
            ok = lb.set_admin(int(c.server), shard::ServerAdmin(c.value));
    } else if (c.op == kAdminOpWeight) {
        if (c.value <= std::uint32_t(kMaxWeight)) ok = lb.set_weight(int(c.server), int(c.value));
    } else if (c.op == kAdminOpHealth) {
        if (c.value <= 1) ok = lb.set_down(int(c.server), c.value == 1);
    } else if (c.op == kAdminOpThrottle) {
        ok = lb.set_throttle(int(c.server), int(c.value));
    } else if (c.op == kAdminOpObserving) {
        lb.server(int(c.server)).observing = c.value != 0;
        return;
    } else if (c.op == kAdminOpMaxconn) {
        ok = c.value <= std::uint32_t(std::numeric_limits<int>::max()) && lb.set_maxconn(int(c.server), int(c.value));
    }
    if (ok) serve_queues(c.backend);
}

// Waiting sessions: start as many as the backend now has room for. Each start takes a slot, so
// the loops end when the servers are full again or the queue is empty.
void Worker::serve_queues(std::uint32_t be) {
    BackendLb& lb = *lbs_[be];
    tcp_->serve_queue(be, [&lb] { return any_room(lb); });
    while (h1_->queued(be) > 0 && any_room(lb)) {
        const std::size_t before = h1_->queued(be);
        h1_->h_server_slot_freed(int(be));
        if (h1_->queued(be) == before) break;
    }
}

// A server's new address (DNS, `set server addr`) or its loss. Connections already made stay
// where they are; the idle ones to the old address are closed so that no request goes there
// again; sessions queued for want of a server may now start.
void Worker::on_server_addr(const shard::Message& m) {
    const std::unique_ptr<AddrUpdate> u(reinterpret_cast<AddrUpdate*>(m.b));
    const auto be = std::uint32_t(m.a >> 32), srv = std::uint32_t(m.a);
    if (be < lbs_.size() && srv < lbs_[be]->size() && lbs_[be]->set_addr(int(srv), u->addr, u->rmaint)) {
        h1_->http_close_idle(int(be), [srv](int k) { return k == int(srv); });
        serve_queues(be);
    }
}

// A map's new version from the CLI: it replaces this shard's one (the old one is freed with its last holder).
void Worker::on_map_update(const shard::Message& m) {
    auto* u = reinterpret_cast<MapUpdate*>(m.a);
    if (u->index < maps_.size()) maps_[u->index] = u->map;
    if (u->pending.fetch_sub(1) == 1) delete u;
}

// `clear counters [all]`: this shard's own counters (it is their only writer).
void Worker::on_clear_counters(const shard::Message& m) {
    auto* ask = reinterpret_cast<ClearAsk*>(m.a);
    for (std::size_t f = 0; f < st_.n_fe; ++f) st_.fe[f].clear(ask->all);
    for (std::size_t b = 0; b < st_.n_be; ++b) {
        st_.be[b].clear(ask->all);
        for (std::size_t k = 0; k < st_.n_srv[b]; ++k) st_.srv[b][k].clear(ask->all);
    }
    release(ask);
}

}  // namespace es::proxy
