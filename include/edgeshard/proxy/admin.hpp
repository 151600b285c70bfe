// Runtime server states on the wire between the control shard and the data shards.
//
// A change (`set server <b>/<s> state ...`, `set weight ...`) travels as one
// shard::Message::kServerAdmin per data shard:
//   a = backend index << 32 | server index   (indexes into Config::backends / Backend::servers)
//   b = op << 32 | value
//     op kAdminOpState   value = shard::ServerAdmin as an integer (0 ready, 1 drain, 2 maint)
//     op kAdminOpWeight  value = the new runtime weight, 0..kMaxWeight
//     op kAdminOpHealth  value = 0 UP, 1 DOWN (the control shard's health checks, src/check/)
//     op kAdminOpShutdown value = 0: cut the sessions on this server (on-marked-down
//                        shutdown-sessions); 1: cut those on the backend's backup servers
//                        (on-marked-up shutdown-backup-sessions; the server index is ignored);
//                        2: cut the sessions on this server for the administrator (killed)
//     op kAdminOpThrottle value = 1..100: the percent of its weight the server takes (slowstart)
//     op kAdminOpMaxconn value = the server's maxconn (0: none), split over the shards
//     op kAdminOpObserving value = 1: the control shard counts errors of this server (observe),
//                        so the next success a shard sees must reset them; 0: the count is back to 0
// A shard ignores a message whose indexes, op or value are out of range (proxy/admin.cpp).
#pragma once

#include <atomic>
#include <memory>

#include <cstdint>

#include "edgeshard/config/config.hpp"
#include "edgeshard/shard/mailbox.hpp"

namespace es::proxy {

// `clear counters [all]` asked of every data shard (Message::kClearCounters): `pending` counts the shards it was
// posted to and the asker; each shard clears its counters and drops its reference, the asker waits for its to
// be the last; whoever drops the last frees it.
struct ClearAsk {
    bool all = false;
    std::atomic<int> pending{0};
};
// Drops one reference (the shard's, or the asker's); frees the ask when it was the last.
inline void release(ClearAsk* a) {
    if (a->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) delete a;
}

inline constexpr std::uint32_t kAdminOpState = 1;
inline constexpr std::uint32_t kAdminOpWeight = 2;
inline constexpr std::uint32_t kAdminOpHealth = 3;
inline constexpr std::uint32_t kAdminOpShutdown = 4;
inline constexpr std::uint32_t kAdminOpThrottle = 5;  // value = 1..100: slowstart's share of the weight
inline constexpr std::uint32_t kAdminOpMaxconn = 6;
inline constexpr std::uint32_t kAdminOpObserving = 7;

// HAProxy's bound for a server weight, in the configuration and at runtime.
inline constexpr int kMaxWeight = 256;

struct ServerAdminChange {
    std::uint32_t backend = 0;
    std::uint32_t server = 0;
    std::uint32_t op = 0;
    std::uint32_t value = 0;
};

inline shard::Message encode_server_admin(const ServerAdminChange& c) {
    shard::Message m;
    m.kind = shard::Message::kServerAdmin;
    m.a = std::uint64_t(c.backend) << 32 | c.server;
    m.b = std::uint64_t(c.op) << 32 | c.value;
    return m;
}

// A server's address on its way to one shard (shard::Message::kServerAddr, b = this): each shard
// gets its own, and deletes it once applied. rmaint: the server has no address (DNS) and leaves
// service (`addr` is then unused); otherwise connections go to `addr` (port included) and the
// server's idle connections to the old address are closed.
struct AddrUpdate {
    config::SockAddr addr;
    bool rmaint = false;
};

// A map changed on the CLI (add/set/del/clear map): the whole new version, which every data shard
// puts in place of map `index` in its table (rules::set_shard_maps); the last shard to apply it deletes
// this holder (the map itself lives while a shard or the control shard keeps it).
struct MapUpdate {
    std::size_t index = 0;
    std::shared_ptr<const config::MapFile> map;
    std::atomic<int> pending{0};
};

inline ServerAdminChange decode_server_admin(const shard::Message& m) {
    ServerAdminChange c;
    c.backend = std::uint32_t(m.a >> 32);
    c.server = std::uint32_t(m.a);
    c.op = std::uint32_t(m.b >> 32);
    c.value = std::uint32_t(m.b);
    return c;
}

}  // namespace es::proxy
