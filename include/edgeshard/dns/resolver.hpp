// Runtime DNS resolution of server host names (HAProxy 2.6's `resolvers`, doc/configuration.txt
// 5.3), run by the control shard (DESIGN.md §9b): UDP sockets to the name servers on its own epoll
// descriptor (one descriptor in the control loop's poll set), deadlines checked by run(); nothing
// blocks and a data shard never waits on it. What it finds reaches the owner through Hooks (the
// control shard turns them into messages to the data shards).
//
// Semantics, as HAProxy's:
//   - the servers of a resolvers section that follow the same name with the same preferred family
//     share one resolution; it runs every `timeout resolve`. A query goes to every name server at
//     once and the first valid answer wins; errors count only once every name server has answered.
//     The preferred type (AAAA unless `resolve-prefer ipv4`) falls back to the other one at once on
//     an error answer; without a valid answer the query is sent again every `timeout retry`, at most
//     `resolve_retries` times, then the error (nx, refused, timeout, other) is reported.
//   - the answers' addresses are kept as records, each until `hold obsolete` after the last answer
//     that held it. A server keeps the record it took while it lives; otherwise it takes the best:
//     the preferred family first, then a `resolve-net` network, then an address no other server of
//     its backend on that name holds (one that is held is skipped, unless `resolve-opts
//     allow-dup-ip`), then its current address. A valid answer with nothing to take puts the
//     server in maintenance ("No IP for server"); an error does so once the error has lasted
//     `hold nx|refused|timeout|other` since the last valid answer. A valid answer with an address
//     brings it back.
//   - `show resolvers` counts per name server what HAProxy counts.
//   - SRV labels (`server-template srv 3 _http._tcp.name`): each SRV record of the answer, in its
//     order, takes the first free server of the label (one that holds no record), which gets the
//     record's target as its name and the record's port (and weight, (w + 255) / 256, unless
//     `resolve-opts ignore-weight`); its address comes from the answer's additional section, or
//     else from resolving the target. A record gone from the answers (past `hold obsolete`, or
//     the SRV name failing past its hold) frees its server ("entry removed from SRV record").
// Not done: name servers over TCP (refused by the configuration), `hold valid` (HAProxy uses it to
// share answers between requesters, which one resolution per name already does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "edgeshard/config/config.hpp"

namespace es::dns {

struct Hooks {
    // The server's new address (the IP: the caller keeps the server's port). `by` names who found it,
    // as HAProxy does: "<resolvers>/<nameserver>", or "DNS cache" for a server sharing the answer.
    std::function<void(std::size_t be, std::size_t sv, const config::SockAddr& ip, const std::string& by)> set_addr;
    // The server leaves service without an address (`reason`, HAProxy's words: "DNS NX status"...),
    // or comes back with the address set_addr gave (`reason` then: kByAnswer or kBySrv).
    std::function<void(std::size_t be, std::size_t sv, bool rmaint, const std::string& reason)> set_rmaint;
    // A server of a SRV label takes a SRV record (its target, port and weight: -1 with
    // `resolve-opts ignore-weight`), or gives it up (target empty, port 0).
    std::function<void(std::size_t be, std::size_t sv, const std::string& target, std::uint16_t port, int weight)>
        srv_target;
};

inline constexpr std::string_view kByAnswer = "valid DNS answer";        // its own name resolved
inline constexpr std::string_view kBySrv = "DNS additional record";       // a SRV answer carried it

class Resolver {
public:
    Resolver(const config::Config& cfg, Hooks hooks);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    int fd() const;  // for the control loop's poll; -1 when no server is resolved at run time
    std::int64_t next_due_ms() const;
    void run(std::int64_t now_ms);  // reads the answers, sends the queries that are due

    // `show resolvers [section]`: HAProxy's text. False when `section` names no resolvers section.
    bool show(std::string_view section, std::string& out) const;

    // True when the server follows a name at run time (it has `resolvers`).
    bool resolves(std::size_t be, std::size_t sv) const;
    // `set server <b>/<s> fqdn <name>`: the server follows `name` from now on, resolved at once.
    // "", or "srv" for a server of a SRV label (its names come from the SRV records).
    std::string set_fqdn(std::size_t be, std::size_t sv, std::string_view name, std::int64_t now_ms);
    // `set server <b>/<s> addr`: the server's address in use (it stays until the record the server
    // took is gone from the answers, as in HAProxy).
    void set_current(std::size_t be, std::size_t sv, const config::SockAddr& ip);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace es::dns
