#include "edgeshard/proxy/lb.hpp"

#include <netinet/in.h>

#include <cstring>

namespace es::proxy {

BackendLb::BackendLb(const config::Backend& be, stats::ServerCounters* counters, int nshards) : be_(&be) {
    servers_.resize(be.servers.size());
    for (std::size_t i = 0; i < be.servers.size(); ++i) {
        ServerSlot& s = servers_[i];
        s.cfg = &be.servers[i];
        s.c = &counters[i];
        if (s.cfg->maxconn > 0) {
            // the server's limit is split evenly; every shard keeps at least one slot so no
            // shard is starved of a server outright
            s.limit = s.cfg->maxconn / nshards;
            if (s.limit == 0) s.limit = 1;
        }
        if (s.usable())
            for (int w = 0; w < s.cfg->weight; ++w) source_map_.push_back(std::uint16_t(i));
    }
}

bool BackendLb::candidate(int i, int exclude) const {
    const ServerSlot& s = servers_[std::size_t(i)];
    return i != exclude && s.usable() && s.has_room();
}

int BackendLb::pick(const sockaddr_storage* src, int exclude) {
    // a redispatch excludes the failed server only when another usable one exists
    if (exclude >= 0) {
        bool other = false;
        for (std::size_t i = 0; i < servers_.size(); ++i)
            if (int(i) != exclude && servers_[i].usable()) other = true;
        if (!other) exclude = -1;
    }
    int r;
    switch (be_->balance) {
        case config::Balance::LeastConn: r = pick_leastconn(exclude); break;
        case config::Balance::Source: r = pick_source(src, exclude); break;
        case config::Balance::RoundRobin:
        default: r = pick_rr(exclude); break;
    }
    if (r >= 0) return r;
    for (const auto& s : servers_)
        if (s.usable()) return kFull;
    return kNone;
}

// Smooth weighted round-robin: every candidate gains its weight, the richest is picked and pays
// the total. Over any window of sum(weights) picks each server gets exactly its weight, and the
// picks are spread out rather than bunched.
int BackendLb::pick_rr(int exclude) {
    int best = -1;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        if (!candidate(int(i), exclude)) continue;
        ServerSlot& s = servers_[i];
        s.rr_current += s.cfg->weight;
        total += s.cfg->weight;
        if (best < 0 || s.rr_current > servers_[std::size_t(best)].rr_current) best = int(i);
    }
    if (best >= 0) servers_[std::size_t(best)].rr_current -= total;
    return best;
}

// Fewest connections relative to weight (cur_a / w_a < cur_b / w_b, compared without division);
// ties go to the next server after the last pick so equal servers alternate.
int BackendLb::pick_leastconn(int exclude) {
    const std::size_t n = servers_.size();
    int best = -1;
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (lc_start_ + k) % n;
        if (!candidate(int(i), exclude)) continue;
        if (best < 0) {
            best = int(i);
            continue;
        }
        const ServerSlot& a = servers_[i];
        const ServerSlot& b = servers_[std::size_t(best)];
        if (std::int64_t(a.cur) * b.cfg->weight < std::int64_t(b.cur) * a.cfg->weight) best = int(i);
    }
    if (best >= 0) lc_start_ = std::size_t(best + 1) % n;
    return best;
}

std::uint32_t BackendLb::hash_addr(const sockaddr_storage* src) {
    // 32-bit avalanche over the address bytes (port excluded: the same client keeps its server)
    const unsigned char* p = nullptr;
    std::size_t len = 0;
    if (src && src->ss_family == AF_INET) {
        p = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in*>(src)->sin_addr);
        len = 4;
    } else if (src && src->ss_family == AF_INET6) {
        p = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in6*>(src)->sin6_addr);
        len = 16;
    }
    std::uint32_t h = 0x9e3779b9u;
    for (std::size_t i = 0; i < len; ++i) {
        h ^= p[i];
        h *= 0x01000193u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

// Map-based source hashing: the same address always lands on the same entry of a map where each
// server appears `weight` times. If that server is excluded or full, the following entries are
// tried in map order, which is the same on every shard.
int BackendLb::pick_source(const sockaddr_storage* src, int exclude) {
    if (source_map_.empty()) return -1;
    const std::size_t n = source_map_.size();
    const std::size_t start = hash_addr(src) % n;
    for (std::size_t k = 0; k < n; ++k) {
        const int i = source_map_[(start + k) % n];
        if (candidate(i, exclude)) return i;
    }
    return -1;
}

}  // namespace es::proxy
