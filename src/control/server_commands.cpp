// The runtime server-state commands, after HAProxy's: `set server <b>/<s> state|weight`,
// `set weight`, `get weight`, `enable server`, `disable server` and `show servers state`.
// Parsing, name resolution and output are pure functions of Services::server_table(); a change
// goes through Services::set_server(), which bind_server_admin() implements over the running
// shards (and tests replace with a fake).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <limits>
#include <charconv>
#include <chrono>
#include <memory>
#include <thread>

#include "edgeshard/control/cli.hpp"
#include "edgeshard/control/server_admin.hpp"
#include "edgeshard/control/stats_views.hpp"
#include "edgeshard/proxy/admin.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stats/render.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace es::control {

namespace {

using shard::ServerAdmin;

constexpr std::string_view kUnavailable = "Runtime server states are not available.";
constexpr std::string_view kRequireServer = "Require 'backend/server'.";
constexpr std::string_view kSetServerUsage = "usage: set server <backend>/<server> state | weight | health | agent | addr | fqdn";
constexpr std::string_view kHealthUsage = "'set server <srv> health' expects 'up', 'stopping', or 'down'.";
constexpr std::string_view kStateUsage = "'set server <srv> state' expects 'ready', 'drain' and 'maint'.";

// HAProxy's admin flags (srv_admin_state) and operational states (srv_op_state) for the states
// we have: maint is forced maintenance (SRV_ADMF_FMAINT) and stops the server; drain is forced
// drain (SRV_ADMF_FDRAIN) and leaves it running. A server `disabled` in the configuration also
// carries the configuration-maintenance flag (SRV_ADMF_CMAINT) for the life of the process, as
// HAProxy prints it: 5 while in maintenance, 4 once enabled (running).
constexpr unsigned kAdmfFmaint = 0x01;
constexpr unsigned kAdmfCmaint = 0x04;
constexpr unsigned kAdmfRmaint = 0x20;  // SRV_ADMF_RMAINT: no address from the resolution
constexpr unsigned kAdmfFdrain = 0x08;
// Health-check columns for a server without `check`, as HAProxy prints them: health at `rise`
// (2) and no check flags; health 0 once the server has been in maintenance (it stays so: without
// checks nothing raises it again); for a server `disabled` in the configuration, health 0 and the
// check paused (CHK_ST_PAUSED) for the life of the process.
constexpr int kCheckHealthUp = 2;
constexpr unsigned kChkStPaused = 0x08;
constexpr int kOpStopped = 0;
constexpr int kOpRunning = 2;

constexpr std::string_view kStateHeader =
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

void line(std::string& out, std::string_view msg) {
    out.append(msg).push_back('\n');
}

bool have_runtime(const Context& ctx, bool need_set, bool json, std::string& out) {
    if (ctx.services.server_table && (!need_set || ctx.services.set_server)) return true;
    if (json) {
        stats::render_json_error(kUnavailable, out);
    } else {
        line(out, kUnavailable);
    }
    return false;
}

// "#<n>" names an object by its numeric id.
bool parse_id(std::string_view s, std::uint32_t& id) {
    if (s.size() < 2 || s[0] != '#') return false;
    const char* e = s.data() + s.size();
    const auto r = std::from_chars(s.data() + 1, e, id);
    return r.ec == std::errc() && r.ptr == e;
}

// A server by name, or by "#<id>" with its HAProxy id (`id N`, else its place from 1: config::server_ids).
bool find_server(const config::Backend& b, std::string_view name, std::size_t& srv) {
    for (std::size_t i = 0; i < b.servers.size(); ++i) {
        if (b.servers[i].name == name) {
            srv = i;
            return true;
        }
    }
    std::uint32_t id = 0;
    if (!parse_id(name, id) || id == 0) return false;
    const std::vector<std::uint32_t> ids = config::server_ids(b);
    for (std::size_t i = 0; i < ids.size(); ++i)
        if (ids[i] == id) {
            srv = i;
            return true;
        }
    return false;
}

struct Target {
    std::size_t be = 0;
    std::size_t srv = 0;
};

// "<backend>/<server>" (the first argument) to indexes into the table; "" or HAProxy's error.
std::string_view resolve(const ServerTable& t, std::span<const std::string_view> args, Target& out) {
    if (args.empty()) return kRequireServer;
    const std::string_view arg = args[0];
    const std::size_t slash = arg.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == arg.size()) return kRequireServer;
    if (!t.cfg || !t.servers || !find_backend(*t.cfg, arg.substr(0, slash), out.be) ||
        out.be >= t.servers->size())
        return "No such backend.";
    if (!find_server(t.cfg->backends[out.be], arg.substr(slash + 1), out.srv) ||
        out.srv >= (*t.servers)[out.be].size())
        return "No such server.";
    return {};
}


void change(Context& ctx, const Target& t, std::uint32_t op, std::uint32_t value, std::string& out) {
    const std::string err = ctx.services.set_server(t.be, t.srv, op, value);
    if (!err.empty()) line(out, err);
}

void set_state(Context& ctx, std::span<const std::string_view> args, ServerAdmin a, std::string& out) {
    if (!have_runtime(ctx, true, false, out)) return;
    Target t;
    const std::string_view err = resolve(ctx.services.server_table(), args, t);
    if (!err.empty()) return line(out, err);
    change(ctx, t, proxy::kAdminOpState, std::uint32_t(a), out);
}

void set_weight(Context& ctx, std::span<const std::string_view> args, std::size_t at, std::string& out) {
    if (!have_runtime(ctx, true, false, out)) return;
    const ServerTable table = ctx.services.server_table();
    Target t;
    std::string_view err = resolve(table, args, t);
    if (!err.empty()) return line(out, err);
    int w = 0;
    err = parse_weight(args.size() > at ? args[at] : std::string_view(),
                       table.cfg->backends[t.be].servers[t.srv].weight, w);
    if (!err.empty()) return line(out, err);
    change(ctx, t, proxy::kAdminOpWeight, std::uint32_t(w), out);
}

void health_admin(Context& ctx, const Target& t, std::string_view what, std::string& out) {
    if (!ctx.services.health_admin) return line(out, "Health checks are not available.");
    const std::string err = ctx.services.health_admin(t.be, t.srv, what);
    if (!err.empty()) line(out, err);
}

// set server <b>/<s> state ready|drain|maint | weight <w>[%]
void cmd_set_server(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (!have_runtime(ctx, true, false, out)) return;
    Target t;
    const std::string_view err = resolve(ctx.services.server_table(), args, t);
    if (!err.empty()) return line(out, err);
    const std::string_view what = args.size() > 1 ? args[1] : std::string_view();
    if (what == "weight") return set_weight(ctx, args, 2, out);
    if (what == "health") {
        const std::string_view h = args.size() > 2 ? args[2] : std::string_view();
        if (h != "up" && h != "stopping" && h != "down") return line(out, kHealthUsage);
        return health_admin(ctx, t, h, out);
    }
    if (what == "agent-send") {
        if (args.size() < 3) return line(out, "'set server <srv> agent-send' expects a string.");
        return health_admin(ctx, t, "agent-send:" + std::string(args[2]), out);
    }
    if (what == "agent") {
        // HealthControl answers: no agent, or not "up" / "down"
        return health_admin(ctx, t, "agent-" + std::string(args.size() > 2 ? args[2] : std::string_view()), out);
    }
    if (what == "addr" || what == "fqdn") {
        if (!ctx.services.set_server_addr) return line(out, "Server addresses cannot be changed in this process.");
        const std::string_view v = args.size() > 2 ? args[2] : std::string_view();
        if (what == "addr") {
            if (v.empty()) return line(out, "set server <b>/<s> addr requires an address and optionally a port.");
            const std::string_view port = args.size() > 4 && args[3] == "port" ? args[4] : std::string_view();
            out.append(ctx.services.set_server_addr(t.be, t.srv, v, port));
        } else {
            out.append(ctx.services.set_server_fqdn(t.be, t.srv, v));
        }
        return;
    }
    if (what != "state") return line(out, kSetServerUsage);
    const std::string_view st = args.size() > 2 ? args[2] : std::string_view();
    if (st == "ready") return set_state(ctx, args, ServerAdmin::Ready, out);
    if (st == "drain") return set_state(ctx, args, ServerAdmin::Drain, out);
    if (st == "maint") return set_state(ctx, args, ServerAdmin::Maint, out);
    line(out, kStateUsage);
}

// show resolvers [<id>]: each name server's counters (HAProxy's text).
void cmd_show_resolvers(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    const std::string_view id = args.empty() ? std::string_view() : args[0];
    if (!ctx.services.show_resolvers) return;
    if (!ctx.services.show_resolvers(id, out)) line(out, "Can't find that resolvers section");
}

// set maxconn server <b>/<s> <n>
void cmd_set_maxconn_server(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (!have_runtime(ctx, true, false, out)) return;
    if (args.empty() || args[0] != "server") return line(out, "'set maxconn' only supports 'server' in this version.");
    args = args.subspan(1);
    Target t;
    std::string_view err = resolve(ctx.services.server_table(), args, t);
    if (!err.empty()) return line(out, err);
    int n = 0;
    err = parse_maxconn(args.size() > 1 ? args[1] : std::string_view(), n);
    if (!err.empty()) return line(out, err);
    change(ctx, t, proxy::kAdminOpMaxconn, std::uint32_t(n), out);
}

void cmd_set_weight(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    set_weight(ctx, args, 1, out);
}

void health_switch(std::span<const std::string_view> args, Context& ctx, std::string_view what, std::string& out) {
    if (!have_runtime(ctx, true, false, out)) return;
    Target t;
    const std::string_view err = resolve(ctx.services.server_table(), args, t);
    if (!err.empty()) return line(out, err);
    health_admin(ctx, t, what, out);
}

void cmd_enable_health(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    health_switch(args, ctx, "enable", out);
}

void cmd_disable_health(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    health_switch(args, ctx, "disable", out);
}

// `enable|disable agent <b>/<s>`: a server's agent checks (HAProxy's answers for one without).
void cmd_enable_agent(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    health_switch(args, ctx, "agent-enable", out);
}

void cmd_disable_agent(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    health_switch(args, ctx, "agent-disable", out);
}

void cmd_enable_server(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    set_state(ctx, args, ServerAdmin::Ready, out);
}

void cmd_disable_server(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    set_state(ctx, args, ServerAdmin::Maint, out);
}

// shutdown sessions server <b>/<s>: cuts what is on the server now; prints nothing when done
void cmd_shutdown_sessions(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (!have_runtime(ctx, true, false, out)) return;
    if (!ctx.services.shutdown_server) return line(out, "Sessions cannot be shut down in this process.");
    Target t;
    const std::string_view err = resolve(ctx.services.server_table(), args, t);
    if (!err.empty()) return line(out, err);
    const std::string e = ctx.services.shutdown_server(t.be, t.srv);
    if (!e.empty()) line(out, e);
}

// "<current> (initial <configured>)"
void cmd_get_weight(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (!have_runtime(ctx, false, false, out)) return;
    const ServerTable table = ctx.services.server_table();
    Target t;
    const std::string_view err = resolve(table, args, t);
    if (!err.empty()) return line(out, err);
    out.append(std::to_string((*table.servers)[t.be][t.srv].weight))
        .append(" (initial ")
        .append(std::to_string(table.cfg->backends[t.be].servers[t.srv].weight))
        .append(")\n");
}

struct StateRow {
    std::uint32_t be_id = 0;
    std::string_view be_name;
    std::uint32_t srv_id = 0;
    std::string_view srv_name;
    std::string addr = "-";
    int port = 0;
    int op_state = kOpRunning;
    unsigned admin_state = 0;
    std::string_view admin;
    int check_status = 1;  // HAProxy's HCHK_STATUS_INI
    int check_result = 0;
    int check_health = kCheckHealthUp;
    unsigned check_state = 0;
    int check_port = 0;
    unsigned agent_state = 0;  // CHK_ST_* of the agent: CONFIGURED 0x2, ENABLED 0x4, AGENT 0x10
    std::string agent_addr = "-";
    std::string fqdn = "-";  // the host name the server follows (written on its line, or `set server fqdn`)
    std::string_view srvrecord = "-";  // the SRV label its name comes from
    int agent_port = 0;
    int uweight = 0;
    int iweight = 0;
    std::int64_t since_change = 0;
};

StateRow make_row(const ServerTable& t, const Services& sv, std::uint32_t be_id, std::size_t be, std::size_t srv) {
    const config::Backend& cb = t.cfg->backends[be];
    const config::Server& cs = cb.servers[srv];
    const shard::ServerRuntime& r = (*t.servers)[be][srv];
    StateRow row;
    row.be_id = be_id;
    row.be_name = cb.name;
    row.srv_id = cs.puid != 0 ? cs.puid : std::uint32_t(srv + 1);  // HAProxy's server id
    row.srv_name = cs.name;
    // the runtime address (DNS, `set server addr`); a table built by hand (tests) has none: the configured one
    const config::SockAddr& ra = r.addr.family() != 0 ? r.addr : cs.addr;
    if (std::string host = ra.host(); !host.empty()) {
        row.addr = std::move(host);
        row.port = ra.port();
    }
    switch (r.admin) {
        case ServerAdmin::Maint:
            row.op_state = kOpStopped;
            row.admin_state = kAdmfFmaint;
            row.admin = "maint";
            break;
        case ServerAdmin::Drain:
            row.admin_state = kAdmfFdrain;
            row.admin = "drain";
            break;
        case ServerAdmin::Ready:
        default:
            row.admin = "ready";
            break;
    }
    if (r.rmaint) {  // no address (DNS): HAProxy's SRV_ADMF_RMAINT, the address cleared
        row.op_state = kOpStopped;
        row.admin_state |= kAdmfRmaint;
        row.addr = "-";
    }
    if (cs.disabled) {
        row.admin_state |= kAdmfCmaint;
        row.check_health = 0;
        row.check_state = kChkStPaused;
    }
    if (r.admin == ServerAdmin::Maint || (t.maint_seen && be < t.maint_seen->size() &&
                                          srv < (*t.maint_seen)[be].size() && (*t.maint_seen)[be][srv] != 0))
        row.check_health = 0;
    const check::Health* h = t.health ? t.health(be, srv) : nullptr;
    if (h && !cs.check.enabled) {  // an agent alone: the server's state is the agent's verdict
        if (r.admin != ServerAdmin::Maint && !h->up) row.op_state = kOpStopped;
    } else if (h) {
        // HAProxy's numbers: HCHK_STATUS_* and CHK_RES_* in their enum order, CHK_ST_* flags
        static constexpr int kStatusNum[] = {0, 1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 4, 3};
        row.check_status = kStatusNum[std::size_t(h->status)];
        switch (h->status) {
            case check::Status::Unknown:
            case check::Status::Ini:
                row.check_result = 0;
                break;
            case check::Status::L4Ok:
            case check::Status::L6Ok:
            case check::Status::L7Ok:
                row.check_result = 3;
                break;
            case check::Status::L7OkC:
                row.check_result = 4;
                break;
            default:
                row.check_result = 2;
                break;
        }
        row.check_health = h->health;
        row.check_state = 0x2 | (h->enabled ? 0x4u : 0u) | (h->in_progress ? 0x1u : 0u) | (h->paused ? 0x8u : 0u);
        row.check_port = cs.check.port;
        if (r.admin != ServerAdmin::Maint) row.op_state = !h->up ? kOpStopped : h->nolb ? 3 : kOpRunning;
    } else if (r.down) {
        row.op_state = kOpStopped;  // `set server ... health down` on a server without `check`
    }
    if (const check::Health* a = t.agent ? t.agent(be, srv) : nullptr) {
        row.agent_state = 0x12 | (a->enabled ? 0x4u : 0u) | (a->in_progress ? 0x1u : 0u);
        row.agent_port = cs.check.agent_port;
        std::string ah = (cs.check.agent_addr ? *cs.check.agent_addr : cs.addr).host();
        if (!ah.empty()) row.agent_addr = std::move(ah);
    }
    if (std::string f = sv.server_fqdn ? sv.server_fqdn(be, srv) : cs.hostname; !f.empty()) row.fqdn = std::move(f);
    if (cs.srv_label) {
        row.srvrecord = cs.hostname;
        if (row.fqdn == cs.hostname) row.fqdn = "-";  // no record held yet
        if (row.fqdn == "-") row.port = 0;
    }
    row.uweight = r.weight;
    row.iweight = cs.weight;
    if (t.changed_s && be < t.changed_s->size() && srv < (*t.changed_s)[be].size())
        row.since_change = std::max<std::int64_t>(0, t.now_s - (*t.changed_s)[be][srv]);
    return row;
}

// HAProxy's server-state format version 1: the columns we have are filled; health-check and
// agent columns read as HAProxy prints them for a server without checks (check status 1 =
// "initialising", result 0, health and state as above, agent 0), ids are never forced, there is
// no FQDN, SRV record or SSL.
void append_text_row(const StateRow& r, std::string& out) {
    out.append(std::to_string(r.be_id)).push_back(' ');
    out.append(r.be_name).push_back(' ');
    out.append(std::to_string(r.srv_id)).push_back(' ');
    out.append(r.srv_name).push_back(' ');
    out.append(r.addr).push_back(' ');
    out.append(std::to_string(r.op_state)).push_back(' ');
    out.append(std::to_string(r.admin_state)).push_back(' ');
    out.append(std::to_string(r.uweight)).push_back(' ');
    out.append(std::to_string(r.iweight)).push_back(' ');
    out.append(std::to_string(r.since_change));
    out.push_back(' ');
    out.append(std::to_string(r.check_status)).push_back(' ');
    out.append(std::to_string(r.check_result)).push_back(' ');
    out.append(std::to_string(r.check_health)).push_back(' ');
    out.append(std::to_string(r.check_state)).push_back(' ');
    out.append(std::to_string(r.agent_state));
    out.append(" 0 0 ").append(r.fqdn).push_back(' ');
    out.append(std::to_string(r.port));
    out.push_back(' ');
    out.append(r.srvrecord).append(" 0 ");
    out.append(std::to_string(r.check_port));
    out.append(" - ").append(r.agent_addr).push_back(' ');
    out.append(std::to_string(r.agent_port)).push_back('\n');
}

void append_json_row(const StateRow& r, rapidjson::Writer<rapidjson::StringBuffer>& w) {
    auto str = [&](const char* k, std::string_view v) {
        w.Key(k);
        w.String(v.data(), rapidjson::SizeType(v.size()));
    };
    w.StartObject();
    w.Key("be_id");
    w.Uint(r.be_id);
    str("be_name", r.be_name);
    w.Key("srv_id");
    w.Uint(r.srv_id);
    str("srv_name", r.srv_name);
    str("srv_addr", r.addr);
    w.Key("srv_port");
    w.Int(r.port);
    w.Key("srv_op_state");
    w.Int(r.op_state);
    w.Key("srv_admin_state");
    w.Uint(r.admin_state);
    str("srv_admin", r.admin);
    w.Key("srv_uweight");
    w.Int(r.uweight);
    w.Key("srv_iweight");
    w.Int(r.iweight);
    w.Key("srv_time_since_last_change");
    w.Int64(r.since_change);
    str("srv_fqdn", r.fqdn);
    str("srvrecord", r.srvrecord);
    w.Key("srv_agent_state");
    w.Uint(r.agent_state);
    str("srv_agent_addr", r.agent_addr);
    w.Key("srv_agent_port");
    w.Int(r.agent_port);
    w.EndObject();
}

// show servers state [<backend>] [json]
void cmd_show_servers_state(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    const bool json = wants_json(args);
    if (!have_runtime(ctx, false, json, out)) return;
    auto fail = [&](std::string_view msg) {
        if (json) {
            stats::render_json_error(msg, out);
        } else {
            line(out, msg);
        }
    };
    std::string_view name;
    for (std::string_view a : args) {
        if (a == "json") continue;
        if (!name.empty()) return fail("usage: show servers state [<backend>] [json]");
        name = a;
    }
    const ServerTable t = ctx.services.server_table();
    if (!t.cfg || !t.servers) return fail(kUnavailable);
    std::size_t only = 0;
    if (!name.empty() && (!find_backend(*t.cfg, name, only) || only >= t.servers->size()))
        return fail("Can't find backend.");
    std::vector<std::uint32_t> fe_iid, be_iid;
    assign_proxy_ids(*t.cfg, fe_iid, be_iid);
    const std::size_t nbe = std::min(t.cfg->backends.size(), t.servers->size());
    const std::size_t first = name.empty() ? 0 : only;
    const std::size_t last = name.empty() ? nbe : only + 1;

    if (!json) {
        out.append("1\n").append(kStateHeader).push_back('\n');
        for (std::size_t b = first; b < last; ++b) {
            const std::size_t ns = std::min(t.cfg->backends[b].servers.size(), (*t.servers)[b].size());
            for (std::size_t s = 0; s < ns; ++s) append_text_row(make_row(t, ctx.services, be_iid[b], b, s), out);
        }
        return;
    }
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("version");
    w.Int(1);
    w.Key("servers");
    w.StartArray();
    for (std::size_t b = first; b < last; ++b) {
        const std::size_t ns = std::min(t.cfg->backends[b].servers.size(), (*t.servers)[b].size());
        for (std::size_t s = 0; s < ns; ++s) append_json_row(make_row(t, ctx.services, be_iid[b], b, s), w);
    }
    w.EndArray();
    w.EndObject();
    out.append(sb.GetString(), sb.GetSize()).push_back('\n');
}

std::int64_t steady_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// The control side of bind_server_admin: when each server last changed (for
// srv_time_since_last_change). The table itself lives in the Runtime.
struct AdminState {
    std::vector<std::vector<std::int64_t>> changed_s;
    std::vector<std::vector<std::uint8_t>> maint_seen;
};

}  // namespace

// A backend by name, or by "#<id>" with the proxy id `show stat` (iid) and `show servers state`
// (be_id) print. Only servers' backends count: a frontend of the same id is not one.
bool find_backend(const config::Config& cfg, std::string_view name, std::size_t& be) {
    for (std::size_t i = 0; i < cfg.backends.size(); ++i) {
        if (cfg.backends[i].name == name) {
            be = i;
            return true;
        }
    }
    std::uint32_t id = 0;
    if (!parse_id(name, id)) return false;
    std::vector<std::uint32_t> fe_iid, be_iid;
    assign_proxy_ids(cfg, fe_iid, be_iid);
    for (std::size_t i = 0; i < be_iid.size(); ++i) {
        if (be_iid[i] == id) {
            be = i;
            return true;
        }
    }
    return false;
}

std::string_view parse_weight(std::string_view s, int initial, int& w) {
    if (s.empty()) return "Require <weight> or <weight%>.";
    const bool relative = s.back() == '%';
    const std::string_view num = relative ? s.substr(0, s.size() - 1) : s;
    std::int64_t v = 0;
    const char* b = num.data();
    const char* e = b + num.size();
    const auto r = std::from_chars(b, e, v);
    // HAProxy's texts, word for word
    if (r.ptr == b) return "Empty weight string empty or preceded by garbage";
    if (r.ptr != e) return "Trailing garbage in weight string";
    const bool negative = num[0] == '-';
    if (relative) {
        if (negative) return "Relative weight must be positive.";
        if (r.ec == std::errc::result_out_of_range || v > 100 * proxy::kMaxWeight)
            v = 100 * proxy::kMaxWeight;
        w = int(std::min<std::int64_t>(std::int64_t(initial) * v / 100, proxy::kMaxWeight));
        return {};
    }
    if (r.ec != std::errc() || v < 0 || v > proxy::kMaxWeight)
        return "Absolute weight can only be between 0 and 256 inclusive.";
    w = int(v);
    return {};
}

std::string_view parse_maxconn(std::string_view s, int& n) {
    if (s.empty()) return "Require <maxconn>.";
    std::int64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    // HAProxy's texts
    if (r.ptr == s.data()) return "maxconn string empty or preceded by garbage";
    if (r.ptr != s.data() + s.size()) return "Trailing garbage in maxconn string";
    if (r.ec != std::errc() || v < 0 || v > std::numeric_limits<int>::max()) return "Value out of range.";
    n = int(v);
    return {};
}

void register_server_commands(CommandTable& t) {
    t.add({{"set", "server"},
           "<bk>/<srv> state ready|drain|maint | weight <w>[%]",
           "change a server's administrative state or weight",
           Level::Admin,
           cmd_set_server});
    t.add({{"show", "resolvers"}, "[<id>]", "dump the name servers' counters of a resolvers section (or all)",
           Level::User, cmd_show_resolvers});
    t.add({{"set", "weight"},
           "<bk>/<srv> (<w>|<w>%)",
           "change a server's weight (absolute 0-256, or relative to the configured weight)",
           Level::Admin,
           cmd_set_weight});
    t.add({{"set", "maxconn"},
           "server <bk>/<srv> <n>",
           "change a server's maxconn (0: no limit)",
           Level::Admin,
           cmd_set_maxconn_server});
    t.add({{"get", "weight"},
           "<bk>/<srv>",
           "report a server's current and initial weight",
           Level::User,
           cmd_get_weight});
    t.add({{"enable", "health"}, "<bk>/<srv>", "resume a server's health checks", Level::Admin, cmd_enable_health});
    t.add({{"disable", "health"}, "<bk>/<srv>", "stop a server's health checks (it counts as UP)", Level::Admin,
           cmd_disable_health});
    t.add({{"enable", "agent"}, "<bk>/<srv>", "resume a server's agent checks", Level::Admin, cmd_enable_agent});
    t.add({{"disable", "agent"}, "<bk>/<srv>", "stop a server's agent checks", Level::Admin, cmd_disable_agent});
    t.add({{"enable", "server"},
           "<bk>/<srv>",
           "take a server out of maintenance (= set server <bk>/<srv> state ready)",
           Level::Admin,
           cmd_enable_server});
    t.add({{"disable", "server"},
           "<bk>/<srv>",
           "put a server in maintenance (= set server <bk>/<srv> state maint)",
           Level::Admin,
           cmd_disable_server});
    t.add({{"shutdown", "sessions", "server"},
           "<bk>/<srv>",
           "kill the sessions and requests on a server",
           Level::Admin,
           cmd_shutdown_sessions});
    t.add({{"show", "servers", "state"},
           "[<bk>] [json]",
           "report the servers' runtime state (HAProxy server-state format 1)",
           Level::User,
           cmd_show_servers_state});
}

namespace {

// Posts `m` to every data shard, waiting up to kPostPatienceMs for a full mailbox (it empties
// within a turn of that shard's loop): the shards that did not take it ("1, 3"), or "".
std::string post_every_shard(shard::Runtime& rt, const shard::Message& m) {
    std::string missed;
    for (std::size_t i = 0; i < rt.shard_count(); ++i) {
        if (!rt.post_patiently(i, m, kPostPatienceMs)) {
            if (!missed.empty()) missed.append(", ");
            missed.append(std::to_string(i));
        }
    }
    return missed;
}

}  // namespace

void bind_server_admin(Services& services, shard::Runtime& rt) {
    auto st = std::make_shared<AdminState>();
    const std::int64_t now = steady_s();
    for (const auto& row : rt.server_runtime()) {
        st->changed_s.emplace_back(row.size(), now);
        st->maint_seen.emplace_back(row.size(), 0);
    }

    services.server_table = [&rt, st] {
        ServerTable t;
        t.cfg = &rt.config();
        t.servers = &rt.server_runtime();
        t.changed_s = &st->changed_s;
        t.maint_seen = &st->maint_seen;
        t.now_s = steady_s();
        return t;
    };

    services.set_server = [&rt, st](std::size_t be, std::size_t srv, std::uint32_t op,
                                    std::uint32_t value) -> std::string {
        auto& table = rt.server_runtime();
        if (be >= table.size() || srv >= table[be].size()) return "No such server.";
        shard::ServerRuntime& r = table[be][srv];
        bool changed = false;
        if (op == proxy::kAdminOpHealth) {
            if (value > 1) return "Invalid server health.";
            changed = r.down != (value == 1);
            r.down = value == 1;
        } else if (op == proxy::kAdminOpState) {
            if (value > std::uint32_t(ServerAdmin::Maint)) return "Invalid server state.";
            changed = r.admin != ServerAdmin(value);
            r.admin = ServerAdmin(value);
            if (r.admin == ServerAdmin::Maint && be < st->maint_seen.size() &&
                srv < st->maint_seen[be].size())
                st->maint_seen[be][srv] = 1;
        } else if (op == proxy::kAdminOpWeight) {
            if (value > std::uint32_t(proxy::kMaxWeight))
                return "Absolute weight can only be between 0 and 256 inclusive.";
            changed = r.weight != int(value);
            r.weight = int(value);
        } else if (op == proxy::kAdminOpMaxconn) {
            if (value > std::uint32_t(std::numeric_limits<int>::max())) return "Invalid maxconn value.";
            r.maxconn = int(value);
        } else {
            return "Invalid server change.";
        }
        if (changed && be < st->changed_s.size() && srv < st->changed_s[be].size())
            st->changed_s[be][srv] = steady_s();

        // Every shard gets the change, even when the table already held it: a shard that missed
        // an earlier message catches up this way.
        const std::string missed =
            post_every_shard(rt, proxy::encode_server_admin({std::uint32_t(be), std::uint32_t(srv), op, value}));
        if (!missed.empty())
            return "The change is recorded but shard(s) " + missed +
                   " did not take it (mailbox full or shard stopped); repeat the command.";
        return {};
    };

    services.shutdown_server = [&rt](std::size_t be, std::size_t srv) -> std::string {
        const auto& table = rt.server_runtime();
        if (be >= table.size() || srv >= table[be].size()) return "No such server.";
        const std::string missed = post_every_shard(
            rt, proxy::encode_server_admin({std::uint32_t(be), std::uint32_t(srv), proxy::kAdminOpShutdown, 2}));
        if (!missed.empty())
            return "Shard(s) " + missed + " did not take it (mailbox full or shard stopped); repeat the command.";
        return {};
    };
}

}  // namespace es::control
