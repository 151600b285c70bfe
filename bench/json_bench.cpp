// `show stat json` cost (DESIGN.md §7, §10): 10 frontends, 10 backends x 10 servers, 2 shards.
//
//   build+render   what the control shard does per command: read both shards' counter blocks,
//                  merge them, render the JSON
//   render         the renderer alone on a prepared snapshot
//   ... shards     `show stat json shards`: merged rows plus every row again per shard
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>

#include <memory>
#include <string>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/control/stats_views.hpp"
#include "edgeshard/stats/counters.hpp"
#include "edgeshard/stats/render.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace {

namespace config = es::config;
namespace stats = es::stats;

constexpr std::size_t kFrontends = 10;
constexpr std::size_t kBackends = 10;
constexpr std::size_t kServers = 10;
constexpr int kShards = 2;

config::SockAddr v4(std::uint32_t host, std::uint16_t port) {
    config::SockAddr a;
    auto* in = reinterpret_cast<sockaddr_in*>(&a.ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(host);
    a.len = sizeof(sockaddr_in);
    return a;
}

struct Fixture {
    config::Config cfg;
    stats::Layout layout;
    std::vector<std::unique_ptr<stats::ShardStats>> blocks;
    std::vector<stats::ShardView> views;
    stats::ProcessView proc;

    Fixture() {
        for (std::size_t b = 0; b < kBackends; ++b) {
            config::Backend be;
            be.name = "be_app" + std::to_string(b);
            be.id = std::uint32_t(b);
            be.mode = config::Mode::Http;
            for (std::size_t s = 0; s < kServers; ++s) {
                config::Server sv;
                sv.name = "srv" + std::to_string(s);
                sv.id = std::uint32_t(s);
                sv.addr = v4(0x0a000000u + std::uint32_t(b * 256 + s + 1), 8080);
                be.servers.push_back(sv);
            }
            cfg.backends.push_back(be);
        }
        for (std::size_t f = 0; f < kFrontends; ++f) {
            config::Frontend fe;
            fe.name = "fe_web" + std::to_string(f);
            fe.id = std::uint32_t(f);
            fe.mode = config::Mode::Http;
            fe.default_backend = cfg.backends[f].name;
            fe.default_backend_id = int(f);
            config::Bind bind;
            bind.addr = v4(0x7f000001u, std::uint16_t(8000 + f));
            bind.spec = "127.0.0.1:" + std::to_string(8000 + f);
            fe.binds.push_back(bind);
            cfg.frontends.push_back(fe);
        }
        layout = es::control::stats_layout(cfg);
        for (int sh = 0; sh < kShards; ++sh) {
            auto st = std::make_unique<stats::ShardStats>();
            st->shard_id = sh;
            st->cpu = sh;
            st->n_fe = kFrontends;
            st->n_be = kBackends;
            st->fe = std::make_unique<stats::FrontendCounters[]>(kFrontends);
            st->be = std::make_unique<stats::BackendCounters[]>(kBackends);
            for (std::size_t b = 0; b < kBackends; ++b) {
                st->srv.push_back(std::make_unique<stats::ServerCounters[]>(kServers));
                st->n_srv.push_back(kServers);
            }
            // realistic magnitudes, so number formatting does real work
            const std::uint64_t k = std::uint64_t(sh + 1) * 1'000'003;
            st->shard.loops.add(k * 50);
            st->shard.accepts.add(k);
            for (std::size_t f = 0; f < kFrontends; ++f) {
                st->fe[f].stot.add(k + f);
                st->fe[f].bin.add(k * 713 + f);
                st->fe[f].bout.add(k * 20'011 + f);
                st->fe[f].scur.add(std::int64_t(10 + f));
                st->fe[f].smax.update(std::int64_t(100 + f));
            }
            for (std::size_t b = 0; b < kBackends; ++b) {
                st->be[b].stot.add(k + b);
                st->be[b].bin.add(k * 713);
                st->be[b].bout.add(k * 20'011);
                for (std::size_t s = 0; s < kServers; ++s) {
                    auto& sc = st->srv[b][s];
                    sc.stot.add(k / 10 + s);
                    sc.lbtot.add(k / 10 + s);
                    sc.bin.add(k * 71 + s);
                    sc.bout.add(k * 2'001 + s);
                    sc.scur.add(std::int64_t(s));
                    sc.smax.update(std::int64_t(10 + s));
                }
            }
            blocks.push_back(std::move(st));
        }
        for (int sh = 0; sh < kShards; ++sh) {
            stats::ShardView v;
            v.id = sh;
            v.cpu = sh;
            v.stats = blocks[std::size_t(sh)].get();
            v.pools.push_back({"session", 512, 1200, 1000, 0, 1100});
            v.pools.push_back({"conn", 256, 2400, 2000, 0, 2100});
            views.push_back(v);
        }
        proc.pid = 4242;
        proc.uptime_s = 86'400;
        proc.version = "0.1.0";
        proc.tier = "full";
        proc.nbshards = kShards;
        proc.maxconn = 100'000;
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

void BM_build_and_render(benchmark::State& state) {
    Fixture& f = fixture();
    const bool per_shard = state.range(0) != 0;
    std::string out;
    std::size_t bytes = 0;
    for (auto _ : state) {
        stats::BuildOptions opt;
        opt.per_shard_objects = per_shard;
        const stats::Snapshot snap = stats::build_snapshot(f.layout, f.proc, f.views, opt);
        out.clear();
        stats::render_stat_json(snap, per_shard, out);
        bytes = out.size();
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["json_bytes"] = double(bytes);
    state.SetBytesProcessed(std::int64_t(bytes) * state.iterations());
}

void BM_render_only(benchmark::State& state) {
    Fixture& f = fixture();
    const bool per_shard = state.range(0) != 0;
    stats::BuildOptions opt;
    opt.per_shard_objects = per_shard;
    const stats::Snapshot snap = stats::build_snapshot(f.layout, f.proc, f.views, opt);
    std::string out;
    for (auto _ : state) {
        out.clear();
        stats::render_stat_json(snap, per_shard, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["json_bytes"] = double(out.size());
    state.SetBytesProcessed(std::int64_t(out.size()) * state.iterations());
}

}  // namespace

BENCHMARK(BM_build_and_render)->Name("show_stat_json/build+render")->Arg(0)->ArgName("shards");
BENCHMARK(BM_build_and_render)->Name("show_stat_json/build+render")->Arg(1)->ArgName("shards");
BENCHMARK(BM_render_only)->Name("show_stat_json/render")->Arg(0)->ArgName("shards");
BENCHMARK(BM_render_only)->Name("show_stat_json/render")->Arg(1)->ArgName("shards");

BENCHMARK_MAIN();
