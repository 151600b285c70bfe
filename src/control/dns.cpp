// DnsControl (dns.hpp): runtime server addresses on the control shard.
#include "dns.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "edgeshard/config/parser.hpp"
#include "edgeshard/core/clock.hpp"
#include "edgeshard/proxy/admin.hpp"

namespace es::control {

namespace {

// HAProxy's rule for a name set at run time (invalid_domainchar): letters, digits, '-', '_', '.'.
bool valid_fqdn(std::string_view n) {
    if (n.empty() || n.size() > 255) return false;
    for (char c : n)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

}  // namespace

DnsControl::DnsControl(shard::Runtime& rt, Services& services, HealthControl& health) : rt_(rt), health_(health) {
    const config::Config& cfg = rt_.config();
    fqdn_.resize(cfg.backends.size());
    bool any = false;
    for (std::size_t b = 0; b < cfg.backends.size(); ++b)
        for (const auto& s : cfg.backends[b].servers) {
            fqdn_[b].push_back(s.srv_label ? std::string() : s.hostname);  // a SRV label's servers: their target
            any = any || s.resolvers >= 0;
        }
    if (any) {
        dns::Hooks hooks;
        hooks.set_addr = [this](std::size_t be, std::size_t sv, const config::SockAddr& ip, const std::string& by) {
            set_ip(be, sv, ip, by);
        };
        hooks.set_rmaint = [this](std::size_t be, std::size_t sv, bool rmaint, const std::string& reason) {
            set_rmaint(be, sv, rmaint, reason);
        };
        hooks.srv_target = [this, &services](std::size_t be, std::size_t sv, const std::string& target, std::uint16_t port,
                                             int weight) {
            fqdn_[be][sv] = target;
            shard::ServerRuntime& r = rt_.server_runtime()[be][sv];
            r.addr.set_port(port);
            if (!r.rmaint) post(be, sv);
            if (weight >= 0 && weight != r.weight && services.set_server)
                services.set_server(be, sv, proxy::kAdminOpWeight, std::uint32_t(std::min(weight, proxy::kMaxWeight)));
        };
        resolver_ = std::make_unique<dns::Resolver>(cfg, std::move(hooks));
    }
    services.set_server_addr = [this](std::size_t be, std::size_t sv, std::string_view addr, std::string_view port) {
        return cli_addr(be, sv, addr, port);
    };
    services.set_server_fqdn = [this](std::size_t be, std::size_t sv, std::string_view fqdn) {
        return cli_fqdn(be, sv, fqdn);
    };
    services.server_fqdn = [this](std::size_t be, std::size_t sv) -> std::string {
        return be < fqdn_.size() && sv < fqdn_[be].size() ? fqdn_[be][sv] : std::string();
    };
    services.show_resolvers = [this](std::string_view section, std::string& out) {
        if (!resolver_) return section.empty();  // no runtime resolution: nothing to show
        return resolver_->show(section, out);
    };
}

std::int64_t DnsControl::next_due_ms() const {
    std::int64_t due = resolver_ ? resolver_->next_due_ms() : std::numeric_limits<std::int64_t>::max();
    if (!pending_.empty()) due = std::min<std::int64_t>(due, core::now_ms() + 10);
    return due;
}

void DnsControl::run(std::int64_t now_ms) {
    flush();
    if (resolver_) resolver_->run(now_ms);
}

// The table's address of the server, to one shard (its own copy: the shard frees it). False: that
// shard's mailbox is full.
bool DnsControl::send(std::size_t be, std::size_t sv, std::size_t shard) {
    const shard::ServerRuntime& r = rt_.server_runtime()[be][sv];
    auto* u = new proxy::AddrUpdate;
    u->addr = r.addr;
    u->rmaint = r.rmaint;
    shard::Message m;
    m.kind = shard::Message::kServerAddr;
    m.a = std::uint64_t(be) << 32 | std::uint32_t(sv);
    m.b = reinterpret_cast<std::uintptr_t>(u);
    if (rt_.post(shard, m)) return true;
    delete u;
    return false;
}

void DnsControl::post(std::size_t be, std::size_t sv) {
    // drop what an earlier change left waiting for this server: the table holds the latest
    std::erase_if(pending_, [&](const Pending& p) { return p.be == be && p.sv == sv; });
    for (std::size_t i = 0; i < rt_.shard_count(); ++i)
        if (rt_.running(i) && !send(be, sv, i)) pending_.push_back(Pending{be, sv, i});
}

// What found a full mailbox, again (the table's latest address, not the one that failed).
void DnsControl::flush() {
    if (pending_.empty()) return;
    std::vector<Pending> again;
    again.swap(pending_);
    for (const Pending& p : again)
        if (rt_.running(p.shard) && !send(p.be, p.sv, p.shard)) pending_.push_back(p);
}

// "be/s changed its IP from A to B by dns/ns1." (HAProxy's srv_update_addr: a warning and a
// notice in the backend's log).
void DnsControl::set_ip(std::size_t be, std::size_t sv, const config::SockAddr& ip, const std::string& by) {
    shard::ServerRuntime& r = rt_.server_runtime()[be][sv];
    const config::Backend& b = rt_.config().backends[be];
    const std::string old = r.rmaint || r.addr.host().empty() ? std::string("(none)") : r.addr.host();
    config::SockAddr a = ip;
    a.set_port(r.addr.port());
    r.addr = a;
    health_.server_ip(be, sv, a);
    health_.log(be, 5, b.name + "/" + b.servers[sv].name + " changed its IP from " + old + " to " + a.host() + " by " +
                           by + ".", true);
    if (!r.rmaint) post(be, sv);  // else set_rmaint(false) follows and posts
}

void DnsControl::set_rmaint(std::size_t be, std::size_t sv, bool rmaint, const std::string& reason) {
    shard::ServerRuntime& r = rt_.server_runtime()[be][sv];
    if (r.rmaint == rmaint) return;
    r.rmaint = rmaint;
    post(be, sv);
    // coming back: the name it follows, and whether its own answer (not a SRV one) brought it back
    health_.server_rmaint(be, sv, rmaint, rmaint ? reason : fqdn_[be][sv], reason == dns::kByAnswer);
}

// set server <b>/<s> addr <ip> [port <p>]: HAProxy's srv_update_addr_port answers.
std::string DnsControl::cli_addr(std::size_t be, std::size_t sv, std::string_view addr, std::string_view port) {
    shard::ServerRuntime& r = rt_.server_runtime()[be][sv];
    std::string msg;
    bool changed = false;
    config::SockAddr next = r.addr;
    const std::string by = " by 'stats socket command'\n";
    const std::optional<config::SockAddr> parsed = config::parse_ip(std::string(addr));
    if (!parsed) return "Invalid addr '" + std::string(addr) + "'" + by;
    config::SockAddr ip = *parsed;
    if (r.rmaint || r.addr.host().empty())
        return "Update for the current server address family is only supported through configuration file" + by;
    ip.set_port(r.addr.port());
    const bool same = ip.host() == r.addr.host();
    if (same) {
        msg = "no need to change the addr";
    } else {
        msg = "IP changed from '" + r.addr.host() + "' to '" + std::string(addr) + "'";
        next = ip;
        changed = true;
    }
    if (!port.empty()) {
        msg += ", ";
        const std::string p(port);
        char* end = nullptr;
        errno = 0;
        const long v = std::strtol(p.c_str(), &end, 10);
        if (errno != 0 || end == p.c_str() || p[0] == '+' || p[0] == '-' || v < 0 || v > 65535) {
            if (!p.empty() && (p[0] == '+' || p[0] == '-'))
                return msg + "port maps ('+N', '-N') are not supported in this version" + by;
            return msg + "problem converting port '" + p + "' to an int" + by;
        }
        if (std::uint16_t(v) != r.addr.port()) {
            msg += "port changed from '" + std::to_string(r.addr.port()) + "' to '" + std::to_string(v) + "'";
            next.set_port(std::uint16_t(v));
            changed = true;
        } else {
            msg += "no need to change the port";
        }
    }
    msg += by;
    if (changed) {
        r.addr = next;
        if (resolver_) resolver_->set_current(be, sv, next);
        health_.server_ip(be, sv, next);
    }
    // HAProxy also takes the server out of a resolution's maintenance: it has an address now
    if (r.rmaint && rt_.config().backends[be].servers[sv].resolvers >= 0) {
        set_rmaint(be, sv, false, {});
    } else if (changed) {
        post(be, sv);
    }
    return msg;
}

// set server <b>/<s> fqdn <name>: HAProxy's srv_update_fqdn answers.
std::string DnsControl::cli_fqdn(std::size_t be, std::size_t sv, std::string_view fqdn) {
    if (fqdn.empty()) return "set server <b>/<s> fqdn requires a FQDN.\n";
    if (!resolver_ || !resolver_->resolves(be, sv)) return "set server <b>/<s> fqdn failed because no resolution is configured.\n";
    const config::Backend& b = rt_.config().backends[be];
    if (b.servers[sv].srv_label) return "set server <b>/<s> fqdn failed because SRV resolution is configured.\n";
    std::string& cur = fqdn_[be][sv];
    if (cur == fqdn) return "no need to change the FDQN by 'stats socket command'\n";
    if (!valid_fqdn(fqdn) || fqdn.find("..") != std::string_view::npos)
        return "could not update " + b.name + "/" + b.servers[sv].name + " FQDN by 'stats socket command'\n";
    std::string msg = b.name + "/" + b.servers[sv].name + " changed its FQDN from " + (cur.empty() ? "(null)" : cur) + " to " +
                      std::string(fqdn) + " by 'stats socket command'\n";
    cur = std::string(fqdn);
    resolver_->set_fqdn(be, sv, fqdn, core::now_ms());
    return msg;
}

}  // namespace es::control
