// The control shard's side of runtime DNS (dns/resolver.hpp) and of server addresses: it owns the
// Resolver, keeps the runtime table's addresses in step (a starting shard, `show stat` and
// `show servers state` read them), sends each change to the data shards as a kServerAddr message,
// moves the server's checks with it, logs in HAProxy's words, and answers `show resolvers`,
// `set server <b>/<s> addr` and `set server <b>/<s> fqdn`. Private to the control room.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/control/command.hpp"
#include "edgeshard/dns/resolver.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "health.hpp"

namespace es::control {

class DnsControl {
public:
    DnsControl(shard::Runtime& rt, Services& services, HealthControl& health);

    int fd() const { return resolver_ ? resolver_->fd() : -1; }  // for the control loop's poll
    std::int64_t next_due_ms() const;
    void run(std::int64_t now_ms);
    void stop() { resolver_.reset(); }  // a draining process resolves nothing

private:
    void set_ip(std::size_t be, std::size_t sv, const config::SockAddr& ip, const std::string& by);
    void set_rmaint(std::size_t be, std::size_t sv, bool rmaint, const std::string& reason);
    std::string cli_addr(std::size_t be, std::size_t sv, std::string_view addr, std::string_view port);
    std::string cli_fqdn(std::size_t be, std::size_t sv, std::string_view fqdn);
    void post(std::size_t be, std::size_t sv);  // the table's address of the server, to every shard
    bool send(std::size_t be, std::size_t sv, std::size_t shard);
    void flush();                               // posts that found a full mailbox, again

    shard::Runtime& rt_;
    HealthControl& health_;
    std::unique_ptr<dns::Resolver> resolver_;
    std::vector<std::vector<std::string>> fqdn_;  // the name each server follows (set server fqdn)
    struct Pending {
        std::size_t be, sv, shard;
    };
    std::vector<Pending> pending_;
};

}  // namespace es::control
