// The CLI command table (STYLE habit 9, after HAProxy's `cli_kw` lists): each room that owns data
// registers its commands as {keywords, usage, help, level, handler} through an explicit function;
// register_all_commands() (cli.hpp) is the one list that calls them. Nothing registers itself
// from a static constructor.
//
// A handler is a plain function: it gets the words after its keywords, a Context giving access to
// the session and to the data services, and appends its answer to `out`. The dispatcher (cli.hpp)
// adds HAProxy's end-of-answer marker, so handlers never print it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/check/checker.hpp"
#include "edgeshard/config/config.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stats/snapshot.hpp"
#include "edgeshard/stick/table.hpp"

namespace es::control {

// HAProxy's CLI levels: a socket serves its `level` (operator when it says none, as HAProxy); a command runs
// when the session's level is at least the command's.
enum class Level : std::uint8_t { User = 0, Operator = 1, Admin = 2 };
std::string_view level_name(Level l);
// A stats socket's `level` as the CLI's (HAProxy's default is operator).
inline Level socket_level(config::StatsLevel l) {
    return l == config::StatsLevel::Admin ? Level::Admin : l == config::StatsLevel::Operator ? Level::Operator : Level::User;
}

// Per-connection state commands may change.
struct Session {
    Level level = Level::User;
    bool interactive = false;  // `prompt`: keep the connection, print "> " after each answer
    bool quit = false;         // `quit`: close once the pending output is written
    std::int64_t timeout_ms = 0;  // `set timeout cli`: this connection's idle timeout (0: the socket's)
    bool expert = false;          // `expert-mode on`: the debug commands are allowed (HAProxy's)
};

// Runtime server states as the server commands see them (src/control/server_commands.cpp).
// Pointers stay valid until the command that asked for them returns (control thread only).
struct ServerTable {
    const config::Config* cfg = nullptr;  // the configuration the data shards run
    // current state by [backend][server] of `cfg`
    const std::vector<std::vector<shard::ServerRuntime>>* servers = nullptr;
    // steady-clock second of each server's last change, same shape; null: unknown (shown as 0)
    const std::vector<std::vector<std::int64_t>>* changed_s = nullptr;
    // non-zero for a server put in maintenance at least once since start, same shape; null: none
    // (HAProxy drops a server's check health to 0 then, and shows it so until a check passes)
    const std::vector<std::vector<std::uint8_t>>* maint_seen = nullptr;
    std::int64_t now_s = 0;  // the same clock, now
    // the health check of a server (null: no `check`, or no checker)
    std::function<const check::Health*(std::size_t be, std::size_t srv)> health;
    // its agent (agent-check; null: none)
    std::function<const check::Health*(std::size_t be, std::size_t srv)> agent;
};

// What the commands read. The control shard fills it over the running shards; tests fill it with
// fakes. snapshot() builds a fresh merged snapshot on each call; an empty function means the
// statistics are not available (commands answer with an error, they do not crash).
struct Services {
    std::function<stats::Snapshot(const stats::BuildOptions&)> snapshot;
    // Runtime server states; both empty: the server commands answer that they are not available.
    // server_table() returns the current table. set_server() changes one server: `op` and
    // `value` as in proxy/admin.hpp (kAdminOpState with a shard::ServerAdmin, kAdminOpWeight with
    // 0..256), indexes already checked against the table; it records the change, sends it to
    // every data shard, and returns "" or an error text for the client. bind_server_admin()
    // (control/server_admin.hpp) fills both over a running shard::Runtime.
    std::function<ServerTable()> server_table;
    std::function<std::string(std::size_t backend, std::size_t server, std::uint32_t op, std::uint32_t value)>
        set_server;
    // `shutdown sessions server <b>/<s>` and the stats page's "Kill Sessions": every data shard
    // cuts the sessions and exchanges on that server; "" or an error text.
    std::function<std::string(std::size_t backend, std::size_t server)> shutdown_server;
    // Health checks: `set server <b>/<s> health up|stopping|down`, `enable|disable health <b>/<s>`
    // (`what`: "up", "stopping", "down", "enable", "disable"); "" or an error text. Empty: the
    // commands answer that health checks are not available.
    std::function<std::string(std::size_t backend, std::size_t server, std::string_view what)> health_admin;
    // Server addresses and runtime DNS (control/dns.hpp): `set server <b>/<s> addr <ip> [port <p>]`
    // and `set server <b>/<s> fqdn <name>` (the answer, HAProxy's text with its newline), the name a
    // server follows now (`show servers state`), `show resolvers [<id>]` (false: no such section).
    std::function<std::string(std::size_t be, std::size_t srv, std::string_view addr, std::string_view port)>
        set_server_addr;
    std::function<std::string(std::size_t be, std::size_t srv, std::string_view fqdn)> set_server_fqdn;
    std::function<std::string(std::size_t be, std::size_t srv)> server_fqdn;
    std::function<bool(std::string_view section, std::string& out)> show_resolvers;
    // Stick tables (`show table`, `clear table`): posts the query to every data shard and waits for
    // their answers (false: not all answered in time). Empty: no tables to ask.
    std::function<bool(stick::Query&)> stick_query;
    // `show proc`: one line per live process of the reload chain, this one first; empty: unavailable.
    std::function<std::string()> show_proc;
    // `clear counters [all]` on every shard and in the control shard's samples; "" or what went wrong.
    std::function<std::string(bool all)> clear_counters;
    // `show threads` (the watchdog's view of every shard) and `debug dev loop` (a shard runs one turn for ms).
    std::function<std::string()> show_threads;
    std::function<std::string(std::size_t shard, std::int64_t ms)> stall_shard;
    // The messages of the start (`show startup-logs`); null: none kept.
    const std::string* startup_logs = nullptr;
    // TLS certificates (`show/set/commit/abort ssl cert`): the control shard's store (null:
    // unavailable), and the function that sends a committed certificate to every data shard
    // ("" or what went wrong).
    struct CertStore* certs = nullptr;
    std::function<std::string(const std::string& path, const std::string& pem)> commit_cert;
    // `set ssl ocsp-response`: sends a checked response for the certificate file `path` to every
    // data shard ("" or what went wrong).
    std::function<std::string(const std::string& path, const std::string& der)> update_ocsp;
    // Maps (`show/get/add/set/del/clear map`): the control shard's current versions (null: unavailable),
    // and the function that sends a new version of map `index` to every data shard ("" or what went wrong).
    struct MapStore* maps = nullptr;
    std::function<std::string(std::size_t index, std::shared_ptr<const config::MapFile> map)> update_map;
};

// The maps as the CLI changed them: the configuration's, each replaced as a whole by a change (the data
// shards get the same versions: proxy::MapUpdate).
struct MapStore {
    std::vector<std::shared_ptr<const config::MapFile>> maps;  // Config::maps' order (`show map` ids)
    std::uint64_t next_id = 0;                                 // the last entry id given
};

// The certificates the TLS binds load, as the control shard knows them (`show ssl cert`), and the
// one transaction `set ssl cert` opens (HAProxy allows one at a time).
struct CertStore {
    std::vector<std::string> files;              // in configuration order
    std::vector<std::string> pem;                // the committed text of each file
    std::string tx_path, tx_pem;                 // the open transaction (tx_path empty: none)
    int find(std::string_view path) const {
        for (std::size_t i = 0; i < files.size(); ++i)
            if (files[i] == path) return int(i);
        return -1;
    }
};

class CommandTable;

struct Context {
    const CommandTable& commands;
    const Services& services;
    Session& session;
    // the lines after a command line ending in "<<", up to an empty line (HAProxy's payloads:
    // `set ssl cert <file> <<`); empty for other commands
    std::string_view payload = {};
};

using Handler = void (*)(std::span<const std::string_view> args, Context& ctx, std::string& out);

struct Command {
    std::vector<std::string_view> words;  // keywords, e.g. {"show", "stat"}; string literals
    std::string_view usage;               // what follows the keywords in `help`, e.g. "[json] [shards]"
    std::string_view help;                // one line
    Level level = Level::User;
    Handler handler = nullptr;
};

class CommandTable {
  public:
    // Boot time only. Throws std::logic_error on an empty keyword list, a missing handler or
    // keywords already registered: those are programming errors caught by the first start.
    void add(Command c);
    // The command whose keywords are the longest prefix of `words`, or nullptr.
    const Command* find(std::span<const std::string_view> words) const;
    const std::vector<Command>& commands() const { return cmds_; }

  private:
    std::vector<Command> cmds_;
};

}  // namespace es::control
