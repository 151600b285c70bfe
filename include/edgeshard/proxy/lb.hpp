// Per-shard load-balancing state for one backend (DESIGN.md §1: LB state is shard-local).
//
// Each shard balances on its own view: its share of every server's maxconn, its own connection
// counts for leastconn and random, its own round-robin position and random generator. With N
// shards, roundrobin is exact per shard and within N picks of exact overall. The hashing
// algorithms (source, uri, hdr) are the same on every shard: the server is a pure function of the
// key, the configured servers and their weights (and of which servers can take the request now).
//
// Hashing (balance source | uri | hdr) follows `hash-type`, as HAProxy 2.6 does it by default, so that an
// HAProxy box and an edgeshard box with the same servers send a key to the same server (an ECMP migration):
//   key hash    uri and hdr keys through hash-type's function (sdbm by default, djb2, wt6, crc32), the
//               source address's 32-bit words xored; then HAProxy's full_hash with `avalanche`.
//   map-based   HAProxy's table (lb_map.c): the serving servers' weights, divided by the configured weights'
//               greatest common divisor, fill a table of their sum in HAProxy's order; hash % size picks.
//               Shares are exact; any change of the serving set rebuilds the table and moves most keys.
//   consistent  HAProxy's points (lb_chash.c): a server of id P owns full_hash(P * 4096 + j) for j below its
//               weight x 16; a key goes to the nearer of the points around its hash among the servers that
//               can take it, so a server going out moves only its own keys.
// `tune.es.lb-hash own` selects edgeshard's own map and ring instead (a 64-bit string hash, an interleaved
// map, up to 1024 points per weight unit placed by the server's name, a key to the first point at or
// after its hash): finer balance, and points that follow names when servers are added or removed, at the
// price of HAProxy's mapping.
//
// Health (the control shard's checks) marks a slot down; `backup` servers serve only while no active
// server is operational (up, ready, weighted): then the first operational backup in configuration
// order, or every backup with `option allbackups` (HAProxy's rules).
//
// Runtime server states (`set server ... state`, `set weight`; see proxy/admin.hpp) change a
// slot's admin state and weight on each shard:
//   ready  picked in proportion to its runtime weight (weight 0: never picked);
//   drain  never picked for a new connection or request; those it has finish (HAProxy's drain);
//   maint  the same for picking (HAProxy's maint kills nothing either); `disabled` in the
//          configuration starts a server in maint.
// Changing them is a control-path operation and may allocate: the map-based table is rebuilt from
// the usable servers and their runtime weights (as HAProxy recomputes its map when a server goes
// up or down, which moves most keys); the consistent ring keeps its scale (fixed by the configured
// weights) and gives each server runtime weight * scale points, so a weight change adds or removes
// only that server's points and moves only keys to or from it, while drain and maint keep the
// points and skip them at pick time.
//
// Picks never allocate: the map and the ring are built by the constructor and by the setters.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stats/counters.hpp"

namespace es::proxy {

struct ServerSlot {
    const config::Server* cfg = nullptr;
    const config::SockAddr* addr = nullptr;  // where connections go (BackendLb::set_addr), never null
    stats::ServerCounters* c = nullptr;
    int limit = 0;                // this shard's share of maxconn, 0 = unlimited
    bool observing = false;       // observe: errors were reported (here or by another shard) and no success yet
    int cur = 0;                  // connections connecting or established from this shard
    std::int64_t rr_current = 0;  // smooth weighted round-robin state
    int weight = 0;               // runtime weight: the configured one until `set weight`
    int throttle = 100;           // slowstart: the percent of `weight` it takes while ramping up
    shard::ServerAdmin admin = shard::ServerAdmin::Ready;  // `disabled` in the configuration: Maint
    bool down = false;    // its health check says DOWN (the control shard's kAdminOpHealth)
    bool rmaint = false;  // no address (init-addr none, DNS): out of service whatever its admin state
    bool backup = false;  // `backup` in the configuration
    bool in_tier = true;  // in the set that serves now: the active servers, or the backups when no
                          // active one is operational (all of them with `option allbackups`, else the first)
    // Up, ready and weighted: counts for "is any active server left" (HAProxy's srv_act / srv_bck).
    bool operational() const { return admin == shard::ServerAdmin::Ready && weight > 0 && !down && !rmaint; }
    // Eligible for a new connection or request (maxconn aside).
    bool usable() const { return operational() && in_tier; }
    // A retry goes back to the server that failed whatever its health says, as HAProxy's does;
    // drain, maintenance or weight 0 send it elsewhere, and so does DOWN with `option redispatch`.
    bool retryable(bool redispatch) const {
        return admin == shard::ServerAdmin::Ready && weight > 0 && !rmaint && !(redispatch && down);
    }
    // The weight the dynamic algorithms (roundrobin, leastconn, random) use, in sixteenths: `weight`
    // x 16, or its slowstart share rounded up, so a weight-1 server ramps too (HAProxy's scale).
    // Map-based hashing ignores slowstart, as HAProxy's does; the consistent ring scales its points.
    int eweight() const {
        return weight <= 0 ? 0 : throttle >= 100 ? weight * 16 : (weight * 16 * throttle + 99) / 100;
    }
    bool has_room() const { return limit == 0 || cur < limit; }
};

// What a pick may hash, filled by the caller from the connection or the request. Views must stay
// valid for the duration of the call only.
struct PickInput {
    const sockaddr_storage* src = nullptr;  // client address (balance source); AF_INET or AF_INET6
    std::string_view uri;                   // request target as received (balance uri); empty: none
    std::string_view hdr;                   // value of the header named by hdr_name() (balance hdr)
    bool has_hdr = false;                   // false: the request has no such header
};

class BackendLb;

// The shard's backends as the rules' nbsrv / srv_is_up read them.
class LbView final : public rules::ServerView {
  public:
    LbView(const config::Config& cfg, const std::vector<std::unique_ptr<BackendLb>>& lbs) : cfg_(cfg), lbs_(lbs) {}
    int usable_servers(int be) const override;
    bool server_up(int be, int srv) const override;

  private:
    const config::Config& cfg_;
    const std::vector<std::unique_ptr<BackendLb>>& lbs_;
};

class BackendLb {
  public:
    static constexpr int kNone = -1;  // no usable server at all
    static constexpr int kFull = -2;  // usable servers exist but all are at their maxconn

    // Consistent-hash ring sizing: a server of weight w owns w * scale points, where
    // scale = clamp(kRingPoints / total weight, kRingMinScale, kRingMaxScale) and the total
    // counts every server of non-zero configured weight (disabled ones too, so a server going
    // down or up never rescales the others; a runtime weight change does not rescale either).
    // The balance between servers is within about 1/sqrt(w * scale) of exact: 3% for a weight-1
    // server in a small farm, 25% at the floor of 16 points per weight unit (HAProxy's own
    // density). While the total weight stays at or below
    // kRingPoints / kRingMaxScale (64), the scale is fixed and a configuration change moves only
    // the share of the servers added or removed; beyond it the ring is capped at kRingPoints
    // points, so a change of total weight also moves keys in proportion to the change of scale.
    static constexpr std::uint32_t kRingPoints = 1u << 16;
    static constexpr std::uint32_t kRingMinScale = 16;
    static constexpr std::uint32_t kRingMaxScale = 1024;

    // Boot time. `nshards` splits each server's maxconn; `seed` seeds this instance's generator
    // for balance random. 0 (the default) derives a seed from the instance's address and the
    // clock, which differ per shard and per process; a fixed seed replays the same draws (tests).
    // The backend's id is mixed in, so one fixed seed per shard is enough. Reads the typed `balance`
    // of the backend as the configuration built it (no text, nothing to refuse; a hashing algorithm
    // has at most config::kMaxHashedServers servers).
    BackendLb(const config::Backend& be, stats::ServerCounters* counters, int nshards,
              std::uint64_t seed = 0);

    // Picks a server for a new connection or request. `exclude` (or -1) is skipped when another
    // usable server exists (redispatch). Returns a server index, kNone or kFull.
    //   roundrobin, leastconn  ignore the input
    //   source                 hashes in.src; round-robin when it is not an IPv4/IPv6 address
    //   uri                    hashes uri_key(in.uri); round-robin when in.uri is empty
    //   hdr                    hashes hdr_key(in.hdr); round-robin when the header is absent
    //                          or its key is empty (HAProxy semantics)
    //   random                 `balance.random_draws` servers drawn in proportion to weight, the least
    //                          loaded (cur / weight) wins
    // Weights are the runtime weights (ServerSlot::weight).
    // A hashed key whose server is not usable (maint, drain, weight 0), excluded or full goes to
    // the next server in map or ring order, which is the same on every shard.
    int pick(const PickInput& in, int exclude);

    // The L4 entry point: only `balance source` looks at the address.
    int pick(const sockaddr_storage* src, int exclude) {
        PickInput in;
        in.src = src;
        return pick(in, exclude);
    }

    // Runtime server state (control path: may allocate, never called per request). Out of range
    // index, weight outside 0..kMaxWeight (proxy/admin.hpp) or unknown state: false, nothing
    // changes. Changing anything resets the round-robin position of every server so the new
    // weights are followed exactly from the next pick.
    bool set_weight(int i, int weight);
    // HAProxy's server id (`id N`, else the lowest free one in declaration order) and back
    std::uint32_t puid(int i) const { return puids_[std::size_t(i)]; }
    int by_puid(std::uint64_t id) const {
        for (std::size_t i = 0; i < puids_.size(); ++i)
            if (puids_[i] == id) return int(i);
        return -1;
    }
    bool set_admin(int i, shard::ServerAdmin admin);
    // Health from the control shard's checks: a DOWN server leaves every algorithm (a consistent
    // ring keeps its points and skips them, so only its keys move); backups take over when no active
    // server is operational.
    bool set_down(int i, bool down);
    // slowstart: the percent (1..100) of its weight a server takes; the ring and the map follow.
    bool set_throttle(int i, int pct);
    // `set maxconn server` / an agent's "maxconn:N": the server's limit (0: none), split over the
    // shards as at boot.
    bool set_maxconn(int i, int maxconn);
    // Servers of the tier that serves now, and whether that tier is the backups (for tests and logs).
    bool on_backup() const { return on_backup_; }
    // Applies a whole backend's table at once (one rebuild); entries beyond size() are ignored,
    // servers beyond the table keep their state. False when an entry is invalid (nothing changes).
    bool set_states(const std::vector<shard::ServerRuntime>& states);
    // A new address for server i (DNS, `set server addr`), or none (rmaint: out of service).
    bool set_addr(int i, const config::SockAddr& addr, bool rmaint);

    ServerSlot& server(int i) { return servers_[std::size_t(i)]; }
    const ServerSlot& server(int i) const { return servers_[std::size_t(i)]; }
    std::size_t size() const { return servers_.size(); }
    const config::Backend& config() const { return *be_; }

    // balance hdr: the header the caller looks up (case-insensitively) and passes as PickInput::hdr.
    // Empty for other algorithms.
    std::string_view hdr_name() const { return be_->balance.hdr_name; }

    // The part of a request target that balance uri hashes: from the start, or from the first
    // '/' of the path with `path-only` (an absolute-form "http://host/p?q" hashes "/p"); up to the
    // '?' unless `whole`; at most `len` characters; and only the first `depth` directories (the
    // key stops before the (depth+1)-th '/': "/a/b/c" at depth 2 is "/a/b"). A view into `uri`.
    std::string_view uri_key(std::string_view uri) const;

    // The part of the header value that balance hdr hashes: the whole value, or with
    // use_domain_only the label before the top-level domain ("www.example.co" -> "example"),
    // ignoring a ":port" and a trailing '.'; a value without a dot is used whole. A view into `value`.
    std::string_view hdr_key(std::string_view value) const;

    // Points on the consistent-hash ring (0 unless hash-type consistent on a hashing algorithm).
    std::size_t ring_points() const { return ring_hash_.size(); }

    static std::uint32_t hash_addr(const sockaddr_storage* src);

    // 32-bit string hash used for uri and hdr keys and for ring points: 8 bytes at a time with a
    // multiply-rotate mix, then a full 64-bit avalanche folded to 32 bits. Every input bit
    // affects every output bit, so `% n` on the result is as uniform as `>> k`. Identical on
    // every shard and every little-endian host.
    static std::uint32_t hash_str(std::string_view s);

  private:
    int share(int maxconn) const;
    int pick_rr(int exclude);
    int pick_leastconn(int exclude);
    int pick_random(int exclude);
    int pick_hashed(std::uint32_t h, int exclude);
    int pick_map(std::uint32_t h, int exclude);
    int pick_ring(std::uint32_t h, int exclude);
    bool candidate(int i, int exclude) const;
    bool any_candidate(int exclude) const;
    std::uint32_t next_random();
    void build_map();
    void build_ring();
    void build_map_haproxy();
    void build_ring_haproxy();
    std::uint32_t key_hash(std::string_view key) const;             // uri, hdr: `hash-type`'s function
    std::uint32_t source_hash(const sockaddr_storage* src) const;   // source
    void rebuild(bool weights_changed);  // after a runtime change
    void compute_tiers();

    const config::Backend* be_;
    int nshards_ = 1;
    std::vector<ServerSlot> servers_;
    std::vector<config::SockAddr> addrs_;  // ServerSlot::addr points here (sized once)
    std::vector<std::uint32_t> first_order_;  // balance first: server indexes by id (HAProxy's order)
    std::vector<std::uint32_t> puids_;        // each server's id (HAProxy's puid)
    std::vector<std::uint16_t> map_;          // map-based: each usable server `weight` times, interleaved
    std::vector<std::uint32_t> ring_hash_;    // consistent: point positions, ascending
    std::vector<std::uint16_t> ring_server_;  // consistent: the server owning each point
    std::uint64_t ring_scale_ = 0;            // consistent: points per weight unit, fixed at boot (own hashing)
    std::uint32_t map_wmult_ = 0;             // HAProxy's map: the configured weights' greatest common divisor
    std::size_t lc_start_ = 0;                // rotates leastconn ties
    std::uint64_t rng_ = 0;                   // splitmix64 state (balance random)
    int draws_ = 2;
    bool on_backup_ = false;
};

}  // namespace es::proxy
