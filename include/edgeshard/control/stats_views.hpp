// The statistics' view of this process: the configuration snapshot, the pools and the runtime
// turned into the stats room's plain inputs (stats/layout.hpp, stats/snapshot.hpp). The stats room
// is a leaf that knows nothing of config, pools or shards; this is where they meet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/pool/pool.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stats/layout.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace es::control {

// Every frontend, backend and server of the configuration, in its order.
stats::Layout stats_layout(const config::Config& cfg);

// Proxy ids as `show stat` prints them (HAProxy's: config::assign_proxy_ids).
void assign_proxy_ids(const config::Config& cfg, std::vector<std::uint32_t>& fe_iid,
                      std::vector<std::uint32_t>& be_iid);

// "127.0.0.1:80", "[::1]:80"; "" for an unset address. Numeric only (no resolver).
std::string format_addr(const config::SockAddr& a);
// A server's address as `show stat` prints it: format_addr, but a server without a port shows its
// offset where the port goes (`:0`, `:1`, `:-1`), as HAProxy's.
std::string server_addr(const config::Server& s, const config::SockAddr& a);

// One read of a pool's counters (relaxed single-writer values).
stats::PoolSample sample_pool(const pool::RawPool& p);

stats::ShardPlace shard_place(const shard::ShardInfo& in);

// The runtime table as the snapshot shows it; with `cfg`, servers without a port show their offset.
std::vector<std::vector<stats::ServerState>> server_states(
    const std::vector<std::vector<shard::ServerRuntime>>& table, const config::Config* cfg = nullptr);

}  // namespace es::control
