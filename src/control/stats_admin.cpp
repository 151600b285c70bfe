// The stats page's admin actions (`stats admin if ...`): what a POST of its form does, as HAProxy
// 2.6 reads it (stats_process_http_post). The data shard checks the admin level, collects the body
// and sends it here with the page request; the actions go through the same services as the CLI's
// `set server`, `enable|disable health|agent` and `shutdown sessions server`.
#include <string>
#include <vector>

#include "edgeshard/control/pages.hpp"
#include "edgeshard/control/server_admin.hpp"
#include "edgeshard/proxy/admin.hpp"
#include "edgeshard/rules/rules.hpp"

namespace es::control {

namespace {

enum class Act : std::uint8_t {
    None, Ready, Drain, Maint, Shutdown, Dhlth, Ehlth, Hrunn, Hnolb, Hdown, Dagent, Eagent, Arunn, Adown,
    Disable, Enable, Stop, Start,  // the form's former values
};

Act action_of(std::string_view v) {
    static constexpr std::pair<std::string_view, Act> kActs[] = {
        {"ready", Act::Ready},   {"drain", Act::Drain},     {"maint", Act::Maint},   {"shutdown", Act::Shutdown},
        {"dhlth", Act::Dhlth},   {"ehlth", Act::Ehlth},     {"hrunn", Act::Hrunn},   {"hnolb", Act::Hnolb},
        {"hdown", Act::Hdown},   {"dagent", Act::Dagent},   {"eagent", Act::Eagent}, {"arunn", Act::Arunn},
        {"adown", Act::Adown},   {"disable", Act::Disable}, {"enable", Act::Enable}, {"stop", Act::Stop},
        {"start", Act::Start},
    };
    for (const auto& [name, a] : kActs)
        if (name == v) return a;
    return Act::None;
}

// HAProxy's key buffer (LINESIZE): a parameter of 2048 bytes or more is refused
constexpr std::size_t kMaxParam = 2047;

// One server's action: true when it counts (HAProxy counts a server as altered only when the
// action applies to it: checks to disable exist, an agent is configured...).
bool apply(Act a, std::size_t be, std::size_t sv, const config::Server& cs, const Services& svc) {
    const ServerTable tbl = svc.server_table ? svc.server_table() : ServerTable{};
    const shard::ServerRuntime* rt =
        tbl.servers && be < tbl.servers->size() && sv < (*tbl.servers)[be].size() ? &(*tbl.servers)[be][sv] : nullptr;
    const shard::ServerAdmin now = rt ? rt->admin : shard::ServerAdmin::Ready;
    auto state = [&](shard::ServerAdmin to) {
        if (svc.set_server) svc.set_server(be, sv, proxy::kAdminOpState, std::uint32_t(to));
        return true;
    };
    auto health = [&](std::string_view what) {
        if (svc.health_admin) svc.health_admin(be, sv, what);
        return true;
    };
    const check::Health* agent = tbl.agent ? tbl.agent(be, sv) : nullptr;
    switch (a) {
        case Act::Ready: return state(shard::ServerAdmin::Ready);
        case Act::Drain: return state(shard::ServerAdmin::Drain);
        case Act::Maint: return state(shard::ServerAdmin::Maint);
        case Act::Disable: return now != shard::ServerAdmin::Maint && state(shard::ServerAdmin::Maint);
        case Act::Enable: return now == shard::ServerAdmin::Maint && state(shard::ServerAdmin::Ready);
        case Act::Stop: return now != shard::ServerAdmin::Drain && state(shard::ServerAdmin::Drain);
        case Act::Start: return now == shard::ServerAdmin::Drain && state(shard::ServerAdmin::Ready);
        case Act::Dhlth: return cs.check.enabled && health("disable");
        case Act::Ehlth: return cs.check.enabled && health("enable");
        case Act::Hrunn: return health("up");
        case Act::Hnolb: return health("stopping");
        case Act::Hdown: return health("down");
        case Act::Dagent: return cs.check.agent && health("agent-disable");
        case Act::Eagent: return cs.check.agent && health("agent-enable");
        case Act::Arunn: return agent && agent->enabled && health("agent-up");
        case Act::Adown: return agent && agent->enabled && health("agent-down");
        case Act::Shutdown:
            if (svc.shutdown_server) svc.shutdown_server(be, sv);
            return true;
        case Act::None: break;
    }
    return false;
}

}  // namespace

stats::AdminResult run_stats_admin(std::string_view body, const config::Config& cfg, const Services& svc) {
    // the parameters from the last to the first: a '&' at the very start belongs to the first one
    std::vector<std::string_view> params;
    for (std::size_t end = body.size(); end > 0;) {
        std::size_t amp = body.rfind('&', end - 1);
        if (amp == 0 || amp == std::string_view::npos) {
            params.push_back(body.substr(0, end));
            break;
        }
        params.push_back(body.substr(amp + 1, end - amp - 1));
        end = amp;
        if (end == 0) break;
    }
    std::size_t be = 0;
    bool have_be = false;
    Act act = Act::None;
    int total = 0, altered = 0;
    std::size_t deferred = params.size();  // the first server named before the backend and action
    std::string key, value;
    for (std::size_t i = 0; i < params.size(); ++i) {
        const std::string_view p = params[i];
        if (p.size() > kMaxParam) return stats::AdminResult::Errp;
        const std::size_t eq = p.find('=');
        const std::string_view k = p.substr(0, eq), v = eq == std::string_view::npos ? std::string_view() : p.substr(eq + 1);
        key.resize(k.size());
        value.resize(v.size());
        const long kl = rules::url_decode(k, key.data(), key.size(), true);
        const long vl = rules::url_decode(v, value.data(), value.size(), true);
        if (kl < 0 || vl < 0) break;  // HAProxy stops reading at a bad escape
        key.resize(std::size_t(kl));
        value.resize(std::size_t(vl));
        // HAProxy's strings end at a NUL
        if (const std::size_t z = key.find('\0'); z != std::string::npos) key.resize(z);
        if (const std::size_t z = value.find('\0'); z != std::string::npos) value.resize(z);
        if (!have_be && key == "b") {
            if (!find_backend(cfg, value, be)) return stats::AdminResult::Errp;
            have_be = true;
        } else if (act == Act::None && key == "action") {
            act = action_of(value);
            if (act == Act::None) return stats::AdminResult::Errp;
        } else if (key == "s") {
            if (!have_be || act == Act::None) {
                if (deferred == params.size()) deferred = i;
            } else {
                const auto& servers = cfg.backends[be].servers;
                std::size_t sv = 0;
                while (sv < servers.size() && servers[sv].name != value) ++sv;
                ++total;
                if (sv < servers.size() && apply(act, be, sv, servers[sv], svc)) ++altered;
                else if (sv < servers.size()) --total;  // an action that does not apply counts nowhere
            }
        }
        if (deferred < params.size() && have_be && act != Act::None) {
            i = deferred - 1;  // now that both are known, the servers named before them (the loop's ++ wraps)
            deferred = params.size();
        }
    }
    if (total == 0) return stats::AdminResult::None;
    if (altered == 0) return stats::AdminResult::Errp;
    return altered == total ? stats::AdminResult::Done : stats::AdminResult::Part;
}

}  // namespace es::control
