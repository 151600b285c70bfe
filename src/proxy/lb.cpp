#include "edgeshard/proxy/lb.hpp"

#include "edgeshard/core/assert.hpp"
#include "edgeshard/core/hash.hpp"
#include "edgeshard/proxy/admin.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <utility>

namespace es::proxy {

namespace {

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;  // 2^64 / phi: spreads consecutive integers
constexpr std::uint64_t kStrSeed = 0x2d358dccaa6c78a5ULL;
constexpr std::uint64_t kRingSeed = 0x8bb84b93962eacc9ULL;

std::uint64_t rotl(std::uint64_t x, int r) {
    return (x << r) | (x >> (64 - r));
}

// Full 64-bit avalanche (the MurmurHash3 finaliser constants): each input bit flips each output
// bit with probability close to 1/2.
std::uint64_t avalanche(std::uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

std::uint32_t fold(std::uint64_t h) {
    return std::uint32_t(h ^ (h >> 32));
}

// One 8-byte word into the state: the word is scrambled on its own (multiply, rotate, multiply:
// every bit reaches the high half), then folded in and the state is rotated and stepped so the
// order of words matters. The length is mixed in up front so zero tails do not collide.
std::uint64_t absorb(std::uint64_t h, std::uint64_t w) {
    w *= 0x87c37b91114253d5ULL;
    w = rotl(w, 31);
    w *= 0x4cf5ad432745937fULL;
    h ^= w;
    return rotl(h, 27) * 5 + 0x52dce729;
}

// An IPv4 or IPv6 address's bytes in network order (empty for another family or none)
std::string_view addr_bytes(const sockaddr_storage* ss) {
    if (ss != nullptr && ss->ss_family == AF_INET)
        return {reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in*>(ss)->sin_addr), 4};
    if (ss != nullptr && ss->ss_family == AF_INET6)
        return {reinterpret_cast<const char*>(&reinterpret_cast<const sockaddr_in6*>(ss)->sin6_addr), 16};
    return {};
}

std::uint64_t hash64(std::string_view s, std::uint64_t seed) {
    const char* p = s.data();
    std::size_t n = s.size();
    std::uint64_t h = seed ^ (std::uint64_t(n) * kGolden);
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        h = absorb(h, w);
    }
    if (n > 0) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, n);
        h = absorb(h, w);
    }
    return avalanche(h);
}

}  // namespace

BackendLb::BackendLb(const config::Backend& be, stats::ServerCounters* counters, int nshards,
                     std::uint64_t seed)
    : be_(&be), nshards_(nshards > 0 ? nshards : 1) {
    servers_.resize(be.servers.size());
    addrs_.resize(be.servers.size());
    for (std::size_t i = 0; i < be.servers.size(); ++i) {
        ServerSlot& s = servers_[i];
        s.cfg = &be.servers[i];
        addrs_[i] = s.cfg->addr;
        s.addr = &addrs_[i];
        s.rmaint = s.cfg->unresolved;
        s.c = &counters[i];
        s.weight = s.cfg->weight;
        s.admin = s.cfg->disabled ? shard::ServerAdmin::Maint : shard::ServerAdmin::Ready;
        s.backup = s.cfg->backup;
        s.limit = share(s.cfg->maxconn);
    }
    draws_ = be.balance.random_draws > 0 ? be.balance.random_draws : 1;
    puids_ = config::server_ids(be);  // HAProxy's ids (`balance first` follows them, `stick` tables store them)
    if (be.balance.algo == config::Balance::First) {
        std::vector<std::pair<std::uint32_t, std::uint32_t>> ids;
        for (std::size_t i = 0; i < puids_.size(); ++i) ids.emplace_back(puids_[i], std::uint32_t(i));
        std::sort(ids.begin(), ids.end());
        for (const auto& [id, i] : ids) first_order_.push_back(i);
    }
    if (seed == 0) {
        // each shard builds its own instance: its address and the boot clock differ per shard
        // and per process, so no two generators draw in step
        seed = std::uint64_t(reinterpret_cast<std::uintptr_t>(this)) ^
               std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) * kGolden;
    }
    rng_ = avalanche(seed ^ (std::uint64_t(be.id) + 1) * kGolden);
    compute_tiers();
    if (be.balance.hashed()) {
        ES_ASSERT(servers_.size() <= config::kMaxHashedServers);  // the configuration refuses more
        // HAProxy's map divides the configured weights by their greatest common divisor (init_server_map)
        for (const ServerSlot& s : servers_)
            if (s.cfg->weight > 0) map_wmult_ = map_wmult_ == 0 ? std::uint32_t(s.cfg->weight) : std::gcd(map_wmult_, std::uint32_t(s.cfg->weight));
        if (map_wmult_ == 0) map_wmult_ = 1;
        if (be.balance.hash_type == config::HashType::Consistent) {
            // the scale comes from the configured weights once: runtime weight changes add or
            // remove points of one server and never move the others' points
            std::uint64_t total = 0;
            for (const ServerSlot& s : servers_)
                if (s.cfg->weight > 0) total += std::uint64_t(s.cfg->weight);
            ring_scale_ = std::clamp<std::uint64_t>(kRingPoints / std::max<std::uint64_t>(total, 1),
                                                    kRingMinScale, kRingMaxScale);
            build_ring();
        } else {
            build_map();
        }
    }
}

bool BackendLb::set_weight(int i, int weight) {
    if (i < 0 || std::size_t(i) >= servers_.size() || weight < 0 || weight > kMaxWeight) return false;
    ServerSlot& s = servers_[std::size_t(i)];
    if (s.weight == weight) return true;
    s.weight = weight;
    rebuild(true);
    return true;
}

bool BackendLb::set_admin(int i, shard::ServerAdmin admin) {
    if (i < 0 || std::size_t(i) >= servers_.size()) return false;
    if (admin != shard::ServerAdmin::Ready && admin != shard::ServerAdmin::Drain &&
        admin != shard::ServerAdmin::Maint)
        return false;
    ServerSlot& s = servers_[std::size_t(i)];
    if (s.admin == admin) return true;
    s.admin = admin;
    rebuild(false);
    return true;
}

bool BackendLb::set_addr(int i, const config::SockAddr& addr, bool rmaint) {
    if (i < 0 || std::size_t(i) >= servers_.size()) return false;
    if (addr.family() == AF_INET || addr.family() == AF_INET6) addrs_[std::size_t(i)] = addr;
    else if (!rmaint) return false;  // a server in service needs an address
    ServerSlot& s = servers_[std::size_t(i)];
    if (s.rmaint == rmaint) return true;
    s.rmaint = rmaint;
    rebuild(false);
    return true;
}

bool BackendLb::set_down(int i, bool down) {
    if (i < 0 || std::size_t(i) >= servers_.size()) return false;
    ServerSlot& s = servers_[std::size_t(i)];
    if (s.down == down) return true;
    s.down = down;
    rebuild(false);
    return true;
}

// The server's limit is split evenly; every shard keeps at least one slot so no shard is starved of
// a server outright.
int BackendLb::share(int maxconn) const { return maxconn > 0 ? std::max(1, maxconn / nshards_) : 0; }

bool BackendLb::set_maxconn(int i, int maxconn) {
    if (i < 0 || std::size_t(i) >= servers_.size() || maxconn < 0) return false;
    servers_[std::size_t(i)].limit = share(maxconn);
    return true;
}

bool BackendLb::set_throttle(int i, int pct) {
    if (i < 0 || std::size_t(i) >= servers_.size() || pct < 1 || pct > 100) return false;
    ServerSlot& s = servers_[std::size_t(i)];
    if (s.throttle == pct) return true;
    s.throttle = pct;
    rebuild(true);
    return true;
}

void BackendLb::compute_tiers() {
    bool any_active = false;
    for (const ServerSlot& s : servers_)
        if (!s.backup && s.operational()) any_active = true;
    on_backup_ = !any_active;
    bool first = true;
    for (ServerSlot& s : servers_) {
        if (any_active) {
            s.in_tier = !s.backup;
        } else if (be_->allbackups) {
            s.in_tier = s.backup;
        } else {
            s.in_tier = s.backup && s.operational() && first;
            if (s.in_tier) first = false;
        }
    }
}

bool BackendLb::set_states(const std::vector<shard::ServerRuntime>& states) {
    const std::size_t n = std::min(states.size(), servers_.size());
    for (std::size_t i = 0; i < n; ++i) {
        const auto a = states[i].admin;
        if (states[i].weight < 0 || states[i].weight > kMaxWeight) return false;
        if (a != shard::ServerAdmin::Ready && a != shard::ServerAdmin::Drain &&
            a != shard::ServerAdmin::Maint)
            return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
        servers_[i].weight = states[i].weight;
        servers_[i].admin = states[i].admin;
        servers_[i].down = states[i].down;
        servers_[i].rmaint = states[i].rmaint;
        if (states[i].addr.family() == AF_INET || states[i].addr.family() == AF_INET6) addrs_[i] = states[i].addr;
        if (states[i].maxconn >= 0) servers_[i].limit = share(states[i].maxconn);
    }
    rebuild(true);
    return true;
}

// The map holds only usable servers, so any change of state or weight rebuilds it; the ring
// holds every server of non-zero runtime weight whatever its state, so only a weight change does.
void BackendLb::rebuild(bool weights_changed) {
    for (ServerSlot& s : servers_) s.rr_current = 0;
    compute_tiers();
    if (!be_->balance.hashed()) return;
    if (be_->balance.hash_type == config::HashType::Consistent) {
        if (weights_changed) build_ring();
    } else {
        build_map();
    }
}

// Each usable server appears `weight` times. Entry k of a server of weight w sits at (k + 1/2) / w
// of the cycle and the table is sorted by that position, so servers are interleaved: a server
// whose entry is skipped (excluded, full) passes its keys to a mix of the others rather than
// to a single neighbour.
void BackendLb::build_map() {
    if (!be_->balance.own_hash) return build_map_haproxy();
    struct Entry {
        std::uint32_t k, w;
        std::uint16_t srv;
    };
    std::vector<Entry> entries;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        const ServerSlot& s = servers_[i];
        if (!s.usable()) continue;
        const auto w = std::uint32_t(s.weight);
        for (std::uint32_t k = 0; k < w; ++k) entries.push_back({k, w, std::uint16_t(i)});
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        const std::uint64_t pa = std::uint64_t(2 * a.k + 1) * b.w;
        const std::uint64_t pb = std::uint64_t(2 * b.k + 1) * a.w;
        return pa != pb ? pa < pb : a.srv < b.srv;
    });
    map_.clear();
    map_.reserve(entries.size());
    for (const Entry& e : entries) map_.push_back(e.srv);
}

// Points belong to every server of non-zero runtime weight, those in maintenance or draining
// included: their points are skipped at pick time, which is exactly "its keys go to the next
// points", and their return moves back only their own keys. A point's position depends only on
// the server's name and the point's rank, so servers keep their points across configuration
// edits, across weight changes (a server of weight w owns ranks 1..w * scale) and on every shard.
void BackendLb::build_ring() {
    ring_hash_.clear();
    ring_server_.clear();
    if (!be_->balance.own_hash) return build_ring_haproxy();
    std::uint64_t total = 0;
    for (const ServerSlot& s : servers_)
        if (s.weight > 0) total += std::uint64_t(s.weight);
    if (total == 0) return;
    const std::uint64_t scale = ring_scale_;
    std::vector<std::pair<std::uint32_t, std::uint16_t>> points;
    points.reserve(std::size_t(total * scale));
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        const ServerSlot& s = servers_[i];
        if (s.weight <= 0) continue;
        const std::uint64_t base = hash64(s.cfg->name, kRingSeed);
        // slowstart: the first points of its rank order only, so it gains keys as it ramps
        const std::uint64_t full = std::uint64_t(s.weight) * scale;
        const std::uint64_t n = s.throttle >= 100 ? full : std::max<std::uint64_t>(1, (full * std::uint64_t(s.throttle) + 99) / 100);
        for (std::uint64_t j = 0; j < n; ++j)
            points.emplace_back(fold(avalanche(base + (j + 1) * kGolden)), std::uint16_t(i));
    }
    std::sort(points.begin(), points.end());
    ring_hash_.reserve(points.size());
    ring_server_.reserve(points.size());
    for (const auto& [h, i] : points) {
        ring_hash_.push_back(h);
        ring_server_.push_back(i);
    }
}

// HAProxy's map (lb_map.c recalc_server_map): the serving servers' effective weights (the weight divided by the
// configured weights' greatest common divisor, rounded up) fill a table of their sum; each slot goes to the server
// whose accumulated score is highest, the first declared on ties, so the table is the same as HAProxy's for the
// same servers and weights and a key's `hash % size` lands on the same server.
void BackendLb::build_map_haproxy() {
    map_.clear();
    std::vector<std::uint32_t> ew(servers_.size(), 0);
    std::uint32_t tot = 0;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        const ServerSlot& s = servers_[i];
        if (!s.usable()) continue;
        ew[i] = (std::uint32_t(s.weight) + map_wmult_ - 1) / map_wmult_;
        tot += ew[i];
    }
    if (tot == 0) return;
    map_.reserve(tot);
    std::vector<std::int64_t> score(servers_.size(), 0);
    for (std::uint32_t o = 0; o < tot; ++o) {
        int best = -1;
        std::int64_t max = 0;
        for (std::size_t i = 0; i < servers_.size(); ++i) {
            if (ew[i] == 0) continue;
            if (tot == 1) {
                best = int(i);
                break;
            }
            score[i] += ew[i];
            const std::int64_t v = (score[i] + tot) / tot;
            if (best < 0 || v > max) {
                max = v;
                best = int(i);
            }
        }
        map_.push_back(std::uint16_t(best));
        if (tot != 1) score[std::size_t(best)] -= tot;
    }
}

// HAProxy's consistent ring (lb_chash.c): a server of id P and effective weight W (its weight x 16, less while
// it ramps up in slowstart) owns the points full_hash(P * 4096 + j) for j < W; a key goes to the nearer of the
// points around its hash among the servers that can take it (HAProxy's tree holds only those).
void BackendLb::build_ring_haproxy() {
    std::vector<std::pair<std::uint32_t, std::uint16_t>> points;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        const ServerSlot& s = servers_[i];
        const int w = s.eweight();
        for (int j = 0; j < w; ++j)
            points.emplace_back(core::hash::avalanche(puids_[i] * 4096u + std::uint32_t(j)), std::uint16_t(i));
    }
    std::sort(points.begin(), points.end());  // equal points: the first declared server first (a stable order)
    ring_hash_.reserve(points.size());
    ring_server_.reserve(points.size());
    for (const auto& [h, i] : points) {
        ring_hash_.push_back(h);
        ring_server_.push_back(i);
    }
}

std::uint32_t BackendLb::key_hash(std::string_view key) const {
    const config::BalanceSpec& b = be_->balance;
    if (b.own_hash) return hash_str(key);
    std::uint32_t h = 0;
    switch (b.hash_fn) {
        case config::HashFn::Djb2: h = core::hash::djb2(key); break;
        case config::HashFn::Wt6: h = core::hash::wt6(key); break;
        case config::HashFn::Crc32: h = core::hash::crc32(key); break;
        case config::HashFn::Sdbm:
        default: h = core::hash::sdbm(key); break;
    }
    return b.hash_avalanche ? core::hash::avalanche(h) : h;
}

// HAProxy's get_server_sh: the address's 32-bit words (host order) xored, then the avalanche if asked
std::uint32_t BackendLb::source_hash(const sockaddr_storage* src) const {
    const config::BalanceSpec& b = be_->balance;
    if (b.own_hash) return hash_addr(src);
    const std::string_view a = addr_bytes(src);
    const auto* p = reinterpret_cast<const unsigned char*>(a.data());
    const std::size_t len = a.size();
    std::uint32_t h = 0;
    for (std::size_t l = 0; l + 4 <= len; l += 4)
        h ^= std::uint32_t(p[l]) << 24 | std::uint32_t(p[l + 1]) << 16 | std::uint32_t(p[l + 2]) << 8 | p[l + 3];
    return b.hash_avalanche ? core::hash::avalanche(h) : h;
}

bool BackendLb::candidate(int i, int exclude) const {
    const ServerSlot& s = servers_[std::size_t(i)];
    return i != exclude && s.usable() && s.has_room();
}

bool BackendLb::any_candidate(int exclude) const {
    for (std::size_t i = 0; i < servers_.size(); ++i)
        if (candidate(int(i), exclude)) return true;
    return false;
}

int BackendLb::pick(const PickInput& in, int exclude) {
    // a redispatch excludes the failed server only when another usable one exists
    if (exclude >= 0) {
        bool other = false;
        for (std::size_t i = 0; i < servers_.size(); ++i)
            if (int(i) != exclude && servers_[i].usable()) other = true;
        if (!other) exclude = -1;
    }
    int r;
    switch (be_->balance.algo) {
        case config::Balance::LeastConn:
            r = pick_leastconn(exclude);
            break;
        case config::Balance::Source:
            if (in.src && (in.src->ss_family == AF_INET || in.src->ss_family == AF_INET6))
                r = pick_hashed(source_hash(in.src), exclude);
            else
                r = pick_rr(exclude);
            break;
        case config::Balance::Uri:
            r = in.uri.empty() ? pick_rr(exclude) : pick_hashed(key_hash(uri_key(in.uri)), exclude);
            break;
        case config::Balance::Hdr: {
            const std::string_view key = in.has_hdr ? hdr_key(in.hdr) : std::string_view();
            r = key.empty() ? pick_rr(exclude) : pick_hashed(key_hash(key), exclude);
            break;
        }
        case config::Balance::Random:
            r = pick_random(exclude);
            break;
        case config::Balance::First:
            // the first server, in configuration order, with a free slot (HAProxy's `first`: fill one
            // server up to its maxconn before the next takes anything)
            r = -1;
            for (std::size_t k = 0; k < first_order_.size() && r < 0; ++k)
                if (candidate(int(first_order_[k]), exclude)) r = int(first_order_[k]);
            break;
        case config::Balance::RoundRobin:
        default:
            r = pick_rr(exclude);
            break;
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
        s.rr_current += s.eweight();
        total += s.eweight();
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
        if (std::int64_t(a.cur) * b.eweight() < std::int64_t(b.cur) * a.eweight()) best = int(i);
    }
    if (best >= 0) lc_start_ = std::size_t(best + 1) % n;
    return best;
}

// splitmix64: one add and a 64-bit avalanche per draw; passes BigCrush, and needs no more state
// than a counter, which suits one generator per backend per shard.
std::uint32_t BackendLb::next_random() {
    rng_ += kGolden;
    return std::uint32_t(avalanche(rng_) >> 32);
}

// Power of `draws` choices: each draw takes a candidate with probability weight / total weight of
// the candidates; the least loaded draw (cur / weight, compared without division) wins, the first
// one on a tie. Two draws already avoid the most loaded servers almost always, while keeping the
// spread of random choice across shards (shards do not see each other's load).
int BackendLb::pick_random(int exclude) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < servers_.size(); ++i)
        if (candidate(int(i), exclude)) total += std::uint64_t(servers_[i].eweight());
    if (total == 0) return -1;
    int best = -1;
    for (int d = 0; d < draws_; ++d) {
        // total < 2^32 (65535 servers of weight <= 256 would be 2^24): multiply-shift maps a
        // 32-bit draw onto [0, total) with a bias below total / 2^32
        std::uint64_t r = (std::uint64_t(next_random()) * total) >> 32;
        int got = -1;
        for (std::size_t i = 0; i < servers_.size(); ++i) {
            if (!candidate(int(i), exclude)) continue;
            const auto w = std::uint64_t(servers_[i].eweight());
            if (r < w) {
                got = int(i);
                break;
            }
            r -= w;
        }
        if (got < 0) continue;  // unreachable: r < total
        if (best < 0) {
            best = got;
            continue;
        }
        const ServerSlot& a = servers_[std::size_t(got)];
        const ServerSlot& b = servers_[std::size_t(best)];
        if (std::int64_t(a.cur) * b.eweight() < std::int64_t(b.cur) * a.eweight()) best = got;
    }
    return best;
}

std::uint32_t BackendLb::hash_addr(const sockaddr_storage* src) {
    // 32-bit avalanche over the address bytes (port excluded: the same client keeps its server)
    const std::string_view a = addr_bytes(src);
    const auto* p = reinterpret_cast<const unsigned char*>(a.data());
    const std::size_t len = a.size();
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

std::uint32_t BackendLb::hash_str(std::string_view s) {
    return fold(hash64(s, kStrSeed));
}

std::string_view BackendLb::uri_key(std::string_view uri) const {
    const config::BalanceSpec& b = be_->balance;
    std::string_view k = uri;
    if (b.uri_path_only && !k.empty() && k[0] != '/') {
        // absolute-form: skip "scheme://authority"; a target without a path has the path "/"
        const std::size_t scheme = k.find("://");
        if (scheme != std::string_view::npos) {
            const std::size_t p = k.find_first_of("/?#", scheme + 3);
            if (p == std::string_view::npos || k[p] != '/') return "/";
            k.remove_prefix(p);
        }
    }
    std::size_t n = k.size();
    if (b.uri_len != 0 && n > b.uri_len) n = b.uri_len;
    // memchr, not a byte loop: the key is read on every request (the same cut as HAProxy's get_server_uh)
    if (!b.uri_whole)
        if (const void* q = std::memchr(k.data(), '?', n)) n = std::size_t(static_cast<const char*>(q) - k.data());
    if (b.uri_depth != 0) {
        std::uint32_t slashes = 0;
        const char* const end = k.data() + n;
        for (const char* p = k.data(); p < end && (p = static_cast<const char*>(std::memchr(p, '/', std::size_t(end - p)))) != nullptr; ++p)
            if (++slashes > b.uri_depth) return k.substr(0, std::size_t(p - k.data()));
    }
    return k.substr(0, n);
}

std::string_view BackendLb::hdr_key(std::string_view value) const {
    if (!be_->balance.hdr_domain_only) return value;
    std::string_view v = value;
    if (!v.empty() && v[0] == '[') return v;  // an IPv6 literal has no domain
    const std::size_t colon = v.rfind(':');
    if (colon != std::string_view::npos) v = v.substr(0, colon);
    if (!v.empty() && v.back() == '.') v.remove_suffix(1);
    const std::size_t last = v.rfind('.');
    if (last == std::string_view::npos) return v;
    const std::size_t prev = last == 0 ? std::string_view::npos : v.rfind('.', last - 1);
    const std::size_t start = prev == std::string_view::npos ? 0 : prev + 1;
    return v.substr(start, last - start);
}

int BackendLb::pick_hashed(std::uint32_t h, int exclude) {
    return be_->balance.hash_type == config::HashType::Consistent ? pick_ring(h, exclude)
                                                                  : pick_map(h, exclude);
}

// Map-based: the key lands on entry h % size. If that server is excluded or full, the following
// entries are tried in map order, which is the same on every shard.
int BackendLb::pick_map(std::uint32_t h, int exclude) {
    if (map_.empty() || !any_candidate(exclude)) return -1;
    const std::size_t n = map_.size();
    std::size_t pos = h % n;
    for (std::size_t k = 0; k < n; ++k) {
        const int i = map_[pos];
        if (candidate(i, exclude)) return i;
        if (++pos == n) pos = 0;
    }
    return -1;
}

// Consistent: the first point at or after h (wrapping), then onwards past servers that cannot
// take the request. any_candidate() first, so a farm where everything is full answers in O(servers)
// rather than a walk of the whole ring.
int BackendLb::pick_ring(std::uint32_t h, int exclude) {
    if (ring_hash_.empty()) return -1;
    const std::size_t n = ring_hash_.size();
    std::size_t pos =
        std::size_t(std::lower_bound(ring_hash_.begin(), ring_hash_.end(), h) - ring_hash_.begin());
    if (pos == n) pos = 0;
    if (!be_->balance.own_hash) {
        // HAProxy's chash_get_server_hash: the first point at or after h and the one before it (wrapping), among
        // the servers that can take the request; the nearer wins, the one before on a tie. No candidate at all:
        // the walk comes back to where it started.
        std::size_t next = pos, prev = pos == 0 ? n - 1 : pos - 1;
        std::size_t k = 0;
        while (!candidate(ring_server_[next], exclude)) {
            if (++k == n) return -1;
            next = next + 1 == n ? 0 : next + 1;
        }
        while (!candidate(ring_server_[prev], exclude)) prev = prev == 0 ? n - 1 : prev - 1;
        const std::uint32_t dp = h - ring_hash_[prev], dn = ring_hash_[next] - h;
        return dp <= dn ? ring_server_[prev] : ring_server_[next];
    }
    if (!any_candidate(exclude)) return -1;
    for (std::size_t k = 0; k < n; ++k) {
        const int i = ring_server_[pos];
        if (candidate(i, exclude)) return i;
        if (++pos == n) pos = 0;
    }
    return -1;
}

int LbView::usable_servers(int be) const {
    if (be < 0 || std::size_t(be) >= lbs_.size()) return 0;
    const BackendLb& lb = *lbs_[std::size_t(be)];
    int act = 0, bck = 0;
    for (std::size_t i = 0; i < lb.size(); ++i) {
        const ServerSlot& s = lb.server(int(i));
        if (!s.operational()) continue;
        (s.backup ? bck : act) += 1;
    }
    if (act > 0) return act;
    if (bck > 0) return cfg_.backends[std::size_t(be)].allbackups ? bck : 1;
    return 0;
}

bool LbView::server_up(int be, int srv) const {
    if (be < 0 || std::size_t(be) >= lbs_.size() || srv < 0 || std::size_t(srv) >= lbs_[std::size_t(be)]->size())
        return false;
    const ServerSlot& s = lbs_[std::size_t(be)]->server(srv);
    return s.admin != shard::ServerAdmin::Maint && !s.down && !s.rmaint;
}

}  // namespace es::proxy
