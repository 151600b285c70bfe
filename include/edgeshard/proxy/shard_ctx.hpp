// What the shard application (Worker) shares with its protocol proxies (TcpProxy, H1Proxy):
// references into the Worker, bound once when a proxy is made. A proxy reaches the rest of the
// shard (connection accounting, the pipe pool, the log ring) through `w_`.
#pragma once

#include <memory>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "edgeshard/shard/observe.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::proxy {

class Worker;
struct WorkerParams;

struct ShardCtx {
    explicit ShardCtx(Worker& w);  // worker.cpp

    Worker& w_;
    const config::Config& cfg_;
    const WorkerParams& p_;
    shard::Reactor& r_;
    stats::ShardStats& st_;
    net::BufRing* bufs_;
    net::SideIo& io_;
    std::vector<std::unique_ptr<BackendLb>>& lbs_;

    // Passive checks (`observe`): what this shard saw of server `srv` of backend `be`. A server
    // without `observe` costs one test; with it, errors (and the success that ends them) go to the
    // control shard, which counts them against the error-limit (admin.cpp).
    void observe(int be, int srv, shard::Observed o) {
        if (be < 0 || srv < 0) return;
        ServerSlot& s = lbs_[std::size_t(be)]->server(srv);
        if (s.cfg->check.observe != config::ServerCheck::Observe::None) [[unlikely]]
            observe_slow(be, s, o);
    }
    void observe_slow(int be, ServerSlot& s, shard::Observed o);
};

}  // namespace es::proxy
