// The configuration snapshot: what the parser produces and every room reads.
// It is built once at boot (or per reload), validated, then shared read-only by all shards:
// nothing in here is ever written after the shards start. A change is a new snapshot.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace es::config {

// Durations are milliseconds; kUnset means "not configured" (the consumer applies its default).
using Millis = std::int64_t;
inline constexpr Millis kUnset = -1;

struct Location {
    std::string file;  // as given on the command line, or "<embedded>"
    int line = 0;
};

// A resolved socket address (IPv4 or IPv6, numeric only: no DNS at boot or on the data path).
struct SockAddr {
    sockaddr_storage ss{};
    socklen_t len = 0;
    std::string text() const;  // "127.0.0.1:80" or "[::1]:80"
    int family() const { return ss.ss_family; }
    std::uint16_t port() const;
};

enum class Mode { Tcp, Http };
enum class Balance { RoundRobin, LeastConn, Source };

struct Timeouts {
    Millis connect = kUnset;
    Millis client = kUnset;
    Millis server = kUnset;
    Millis tunnel = kUnset;
    Millis client_fin = kUnset;
    Millis server_fin = kUnset;
    Millis queue = kUnset;
    // Added by the config room. 0 in any field means "no timeout" (HAProxy semantics).
    Millis check = kUnset;            // timeout check: read timeout of a health check (check room)
    Millis http_request = kUnset;     // timeout http-request (HTTP room)
    Millis http_keep_alive = kUnset;  // timeout http-keep-alive (HTTP room)
};

struct Bind {
    SockAddr addr;
    std::string spec;  // the address as written, for messages and the listener handoff
    Location where;
    int backlog = 0;      // listen(2) backlog ("backlog" on the bind or the frontend); 0 = the net room's default
    bool v6only = false;  // "v6only": an IPv6 wildcard bind accepts IPv6 only (IPV6_V6ONLY=1)
    bool v4v6 = false;    // "v4v6": an IPv6 wildcard bind also accepts IPv4 (IPV6_V6ONLY=0)
};

struct Server {
    std::string name;
    std::uint32_t id = 0;  // index inside its backend
    SockAddr addr;
    int weight = 1;   // 0..256 as in HAProxy; 0 = takes no new traffic from the LB
    int maxconn = 0;  // 0 = unlimited
    bool disabled = false;
    Location where;
};

struct Backend {
    std::string name;
    std::uint32_t id = 0;  // index in Config::backends
    Mode mode = Mode::Tcp;
    Balance balance = Balance::RoundRobin;
    Timeouts timeouts;
    int retries = 3;             // HAProxy default
    bool redispatch = false;     // option redispatch
    int redispatch_interval = -1;  // HAProxy semantics: -1 = on the last retry, P>0 = every Pth retry
    std::vector<Server> servers;
    Location where;
};

struct UseBackend {
    std::string backend;
    std::uint32_t backend_id = 0;
    Location where;
};

struct Frontend {
    std::string name;
    std::uint32_t id = 0;  // index in Config::frontends
    Mode mode = Mode::Tcp;
    std::vector<Bind> binds;
    int maxconn = 0;  // 0 = only the global limit applies
    Timeouts timeouts;
    std::string default_backend;
    int default_backend_id = -1;  // -1 = none (connections are closed)
    Location default_backend_where;  // the line that named default_backend (may be in a defaults section)
    std::vector<UseBackend> use_backends;  // plain (unconditional) use_backend: the first one wins
    Location where;
};

enum class StatsLevel { User, Operator, Admin };

struct StatsSocket {
    std::string path;
    unsigned mode = 0600;
    bool level_admin = false;                   // kept equal to (level == StatsLevel::Admin)
    StatsLevel level = StatsLevel::Operator;    // HAProxy's default level is "operator"
    bool expose_fd_listeners = false;
    Location where;
};

// One entry per shard, in the order written; a later entry for the same shard replaces the earlier one
// (the parser already did that). Entries for shards beyond the shard count are to be ignored, as HAProxy
// ignores thread ids above nbthread ("cpu-map 1/all ..." expands to threads 1..64).
// cpus is a set: with several CPUs the shard may run on any of them (HAProxy "cpu-map 1/1-4 0-3" gives
// each of threads 1-4 the whole set 0-3; "auto:" and the bare "cpu-map 1-4 0-3" form map one-to-one).
struct CpuMap {
    int shard = 0;  // 0-based shard index ("cpu-map 1 3" maps thread 1 = shard 0 to CPU 3)
    std::vector<int> cpus;  // sorted, unique
    Location where;
};

struct Global {
    int maxconn = 0;   // 0 = derived from RLIMIT_NOFILE at boot
    int nbthread = 0;  // 0 = one shard per CPU the process may run on
    std::vector<CpuMap> cpu_maps;
    std::vector<StatsSocket> stats_sockets;
    Millis stats_timeout = 10000;
    // edgeshard tuning extensions (HAProxy has no equivalent; names are ours)
    int ring_entries = 1024;         // tune.es.ring-entries: SQ size per shard ring (CQ = 4x)
    int bufsize = 16384;             // tune.bufsize: one provided buffer
    int buffers_per_shard = 4096;    // tune.es.buffers: provided buffers per shard (power of two)
    int maxpipes = 0;                // maxpipes: 0 = maxconn / 4 (HAProxy default)
    int pipesize = 0;                // tune.pipesize: 0 = kernel default
    std::int64_t splice_threshold = 256 * 1024;  // tune.es.splice-after: bytes before a direction may splice
    bool splice = true;              // "nosplice" in global turns splicing off
    std::string demo_origin;         // es.demo-origin ADDR:PORT: run the built-in demo origin there
    Location where;
};

struct Config {
    Global global;
    std::vector<Frontend> frontends;
    std::vector<Backend> backends;
    std::vector<std::string> files;   // the files it was read from, in order
    std::vector<std::string> warnings;  // "file:line: keyword 'x' is accepted and ignored: why"

    const Backend* find_backend(const std::string& name) const;
    const Frontend* find_frontend(const std::string& name) const;
};

}  // namespace es::config
