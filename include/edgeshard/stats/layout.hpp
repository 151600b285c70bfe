// What the statistics know of the process around them, as plain values: the objects of the
// configuration (names, ids and the few settings a row shows), a server's runtime state and a
// shard's placement. The control room fills them from the config snapshot and the runtime
// (control/stats_views.hpp), so this room depends on core alone (DESIGN.md §2: stats is a leaf
// every room may use) and its tests build these values by hand.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace es::stats {

// The objects, in configuration order: indexes here are the indexes of the counter blocks.
struct Layout {
    struct Server {
        std::string name;
        int id = 0;       // position in its backend (sid = id + 1)
        int maxconn = 0;  // 0: no limit (slim empty)
        int weight = 1;   // as configured
        bool disabled = false;
        std::string addr;  // "10.0.0.1:80", "[::1]:80"; "" when unset
        bool backup = false;
        bool observe = false;  // observe layer4|layer7 (its hanafail column is shown)
        bool unresolved = false;  // no address (init-addr none): "MAINT (resolution)", no addr
        std::string cookie;       // `cookie VALUE` (the cookie column)
        std::uint32_t sid = 0;    // HAProxy's server id (0: id + 1)
        std::uint32_t server_id() const { return sid != 0 ? sid : std::uint32_t(id + 1); }  // `sid`
    };
    struct Frontend {
        std::string name;
        int maxconn = 0;
        bool http = false;  // mode http (HTTP fields are filled for HTTP proxies only)
        std::uint32_t iid = 0;  // HAProxy's proxy id (0: numbered by assign_proxy_ids)
    };
    struct Backend {
        std::string name;
        bool http = false;
        std::string algo = "roundrobin";  // HAProxy's `balance` name
        std::string cookie;               // the persistence cookie's name (the cookie column)
        std::vector<Server> servers;
        std::uint32_t iid = 0;
        // the frontends whose default_backend or static use_backend it is (HAProxy sizes fullconn, `slim`, from
        // their maxconn)
        std::vector<std::size_t> feeders;
    };
    std::vector<Frontend> frontends;
    std::vector<Backend> backends;
    // The proxies in the configuration's order (a listen: both halves), as HAProxy lists them; empty: the
    // frontends, each followed by the backend of its name, then the other backends
    struct Proxy {
        int fe = -1, be = -1;
    };
    std::vector<Proxy> proxies;
};

// A server's weight and administrative state as set at runtime (`set server`, `set weight`).
// A server's health-check state as HAProxy's check columns show it (filled by the control shard
// from its checker; `enabled` false: the server has no `check`).
struct CheckView {
    bool enabled = false;
    bool up = true;
    bool nolb = false;
    bool in_progress = false;
    int health = 0, rise = 0, fall = 0;
    std::string status;  // "L4OK", "* L4OK" while a check is in progress (check_status)
    std::string state;   // the status column: "UP", "UP 1/3", "DOWN 1/2", "NOLB", "DRAIN"...
    std::string desc;    // "Layer4 check passed"
    std::string info;    // the last check's detail (last_chk)
    bool has_code = false;
    int code = 0;
    std::int64_t duration_ms = -1;  // -1: no check finished yet
    std::uint64_t failed = 0, down_trans = 0;
    std::int64_t downtime_s = 0;
    int throttle = 100;  // slowstart: the percent of its weight it takes now
    std::uint64_t hana_failed = 0;  // hanafail: passive checks that reached their error limit
};

// A server's agent (agent-check): its last answer as HAProxy's agent_* columns show it.
struct AgentView {
    bool enabled = false;
    std::string status, desc, info;  // agent_status ("L7OK", "* L7OK"), agent_desc, last_agt
    bool has_code = false;
    int code = 0;
    std::int64_t duration_ms = -1;
    int health = 0, rise = 0, fall = 0;
};

struct ServerState {
    enum class Admin : std::uint8_t { Ready = 0, Drain = 1, Maint = 2 };
    int weight = 1;
    Admin admin = Admin::Ready;
    std::int64_t lastchg_s = -1;  // seconds since the last state change (-1: unknown)
    bool down = false;            // not to be picked for health (a check, or `set server ... health down`)
    CheckView check;
    AgentView agent;
    std::string status;  // the status column when checks or an agent decide it ("UP 1/3", "DOWN (agent)"...)
    int maxconn = -1;    // the runtime maxconn (`set maxconn server`, an agent); -1: as configured
    std::string addr;    // the runtime address ("10.0.0.1:80"); "": as configured
    int rmaint = -1;     // 1: no address (DNS, init-addr none): "MAINT (resolution)"; 0: resolved; -1: as configured
};

// Where a shard runs and how its ring is sized (`show shards`).
struct ShardPlace {
    int numa_node = -1;  // -1 when unknown
    std::string tier;    // io_uring tier, "full" or "basic"
    unsigned sq_entries = 0;
    unsigned cq_entries = 0;
    unsigned buffers = 0;
    unsigned bufsize = 0;
    int conn_limit = 0;
};

}  // namespace es::stats
