#include "edgeshard/control/stats_views.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

namespace es::control {

namespace {

std::string_view algo_name(config::Balance b) {
    switch (b) {
        case config::Balance::RoundRobin:
            return "roundrobin";
        case config::Balance::LeastConn:
            return "leastconn";
        case config::Balance::Source:
            return "source";
        case config::Balance::Uri:
            return "uri";
        case config::Balance::Hdr:
            return "hdr";
        case config::Balance::Random:
            return "random";
        case config::Balance::First:
            return "first";
    }
    return "";
}

}  // namespace

stats::Layout stats_layout(const config::Config& cfg) {
    stats::Layout l;
    l.frontends.reserve(cfg.frontends.size());
    for (const config::Frontend& f : cfg.frontends)
        l.frontends.push_back({f.name, f.maxconn, f.mode == config::Mode::Http && !f.tcp_to_http,  // (HAProxy shows
                               f.uuid});                                                            // it as tcp)
    l.backends.reserve(cfg.backends.size());
    for (const config::Backend& b : cfg.backends) {
        stats::Layout::Backend lb;
        lb.name = b.name;
        lb.http = b.mode == config::Mode::Http;
        lb.algo = algo_name(b.balance.algo);
        if (b.cookie.mode != config::CookieSpec::Mode::None) lb.cookie = b.cookie.name;
        lb.servers.reserve(b.servers.size());
        for (const config::Server& s : b.servers)
            lb.servers.push_back({s.name, int(s.id), s.maxconn, s.weight, s.disabled, server_addr(s, s.addr), s.backup,
                                  s.check.observe != config::ServerCheck::Observe::None, s.unresolved, s.cookie, s.puid});
        lb.iid = b.uuid;
        l.backends.push_back(std::move(lb));
    }
    for (const config::Config::ProxySlot& p : cfg.proxy_slots)
        if (p.fe >= 0 || p.be >= 0) l.proxies.push_back({p.fe, p.be});
    // HAProxy's tot_fe_maxconn: a frontend counts once per backend its default_backend or a static use_backend names
    for (const config::Frontend& f : cfg.frontends) {
        std::vector<int> seen;
        auto feed = [&](int be) {
            if (be < 0 || std::find(seen.begin(), seen.end(), be) != seen.end()) return;
            seen.push_back(be);
            l.backends[std::size_t(be)].feeders.push_back(f.id);
        };
        feed(f.default_backend_id);
        for (const config::UseBackendRule& u : f.use_backend_rules)
            if (!u.dynamic) feed(int(u.backend_id));
        for (const config::UseBackend& u : f.use_backends) feed(int(u.backend_id));
    }
    return l;
}

void assign_proxy_ids(const config::Config& cfg, std::vector<std::uint32_t>& fe_iid,
                      std::vector<std::uint32_t>& be_iid) {
    stats::Layout names;  // the configuration's ids (HAProxy's), else numbered from the names
    for (const config::Frontend& f : cfg.frontends) names.frontends.push_back({f.name, 0, false, f.uuid});
    for (const config::Backend& b : cfg.backends) names.backends.push_back({b.name, false, {}, {}, {}, b.uuid});
    stats::assign_proxy_ids(names, fe_iid, be_iid);
}

std::string server_addr(const config::Server& s, const config::SockAddr& a) {
    std::string t = format_addr(a);
    if (s.port_map && !t.empty()) {
        // HAProxy prints a port-less server's offset where the port goes, signed: `:0`, `:1`, `:-1`
        t.resize(t.rfind(':') + 1);
        t += std::to_string(s.port_offset);
    }
    return t;
}

std::string format_addr(const config::SockAddr& a) {
    char host[INET6_ADDRSTRLEN] = {};
    if (a.ss.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&a.ss);
        if (!inet_ntop(AF_INET, &in->sin_addr, host, sizeof host)) return {};
        std::string s(host);
        s.push_back(':');
        s.append(std::to_string(ntohs(in->sin_port)));
        return s;
    }
    if (a.ss.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a.ss);
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host)) return {};
        std::string s("[");
        s.append(host).append("]:").append(std::to_string(ntohs(in6->sin6_port)));
        return s;
    }
    return {};
}

stats::PoolSample sample_pool(const pool::RawPool& p) {
    const auto& c = p.counters();
    return stats::PoolSample{p.name(), p.size(), c.allocated.get(), c.used.get(), c.failed.get(), c.needed_avg()};
}

stats::ShardPlace shard_place(const shard::ShardInfo& in) {
    return stats::ShardPlace{in.numa_node, in.tier,    in.sq_entries, in.cq_entries,
                             in.buffers,   in.bufsize, in.conn_limit};
}

std::vector<std::vector<stats::ServerState>> server_states(
    const std::vector<std::vector<shard::ServerRuntime>>& table, const config::Config* cfg) {
    std::vector<std::vector<stats::ServerState>> out(table.size());
    for (std::size_t b = 0; b < table.size(); ++b) {
        out[b].reserve(table[b].size());
        for (const shard::ServerRuntime& r : table[b])
            out[b].push_back({r.weight, stats::ServerState::Admin(std::uint8_t(r.admin)), -1, r.down, {}, {}, {}, r.maxconn,
                              cfg && b < cfg->backends.size() && out[b].size() < cfg->backends[b].servers.size()
                                  ? server_addr(cfg->backends[b].servers[out[b].size()], r.addr)
                                  : format_addr(r.addr),
                              r.rmaint ? 1 : 0});
    }
    return out;
}

}  // namespace es::control
