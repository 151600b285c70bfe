// Per-shard load-balancing state for one backend (DESIGN.md §1: LB state is shard-local).
//
// Each shard balances on its own view: its share of every server's maxconn, its own connection
// counts for leastconn, its own round-robin position. With N shards, roundrobin is exact per
// shard and within N picks of exact overall; `source` is the same on every shard (a pure
// function of the client address and the configured weights).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::proxy {

struct ServerSlot {
    const config::Server* cfg = nullptr;
    stats::ServerCounters* c = nullptr;
    int limit = 0;  // this shard's share of maxconn, 0 = unlimited
    int cur = 0;    // connections connecting or established from this shard
    std::int64_t rr_current = 0;  // smooth weighted round-robin state
    bool usable() const { return !cfg->disabled && cfg->weight > 0; }
    bool has_room() const { return limit == 0 || cur < limit; }
};

class BackendLb {
public:
    static constexpr int kNone = -1;  // no usable server at all
    static constexpr int kFull = -2;  // usable servers exist but all are at their maxconn

    BackendLb(const config::Backend& be, stats::ServerCounters* counters, int nshards);

    // Picks a server for a new connection. `exclude` (or -1) is skipped when another usable
    // server exists (redispatch). `src` is the client address, used by `balance source`.
    int pick(const sockaddr_storage* src, int exclude);

    ServerSlot& server(int i) { return servers_[std::size_t(i)]; }
    std::size_t size() const { return servers_.size(); }
    const config::Backend& config() const { return *be_; }

    static std::uint32_t hash_addr(const sockaddr_storage* src);

private:
    int pick_rr(int exclude);
    int pick_leastconn(int exclude);
    int pick_source(const sockaddr_storage* src, int exclude);
    bool candidate(int i, int exclude) const;

    const config::Backend* be_;
    std::vector<ServerSlot> servers_;
    std::vector<std::uint16_t> source_map_;  // each usable server repeated `weight` times
    std::size_t lc_start_ = 0;               // rotates leastconn ties
};

}  // namespace es::proxy
