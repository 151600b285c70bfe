// The statistics commands. They live in the control room rather than in stats/ because stats is a
// leaf room (DESIGN.md §2): it renders snapshots and knows nothing of the CLI; this file is the
// thin adapter that parses the arguments, asks Services for a snapshot and calls a renderer.
#include "edgeshard/control/cli.hpp"
#include "edgeshard/stats/render.hpp"

namespace es::control {

namespace {

// An error in the form the request asked for: HAProxy's {"errorStr": ...} for a JSON request, a line otherwise.
void reply_error(bool json, std::string_view msg, std::string& out) {
    if (json) stats::render_json_error(msg, out);
    else out.append(msg).push_back('\n');
}

// `json` alone, or nothing (show pools, show shards); anything else is answered with the usage. False: refused.
bool parse_json_only(std::span<const std::string_view> args, std::string_view usage, bool& json, std::string& out) {
    json = wants_json(args);
    for (std::string_view a : args)
        if (a != "json") {
            reply_error(json, "unknown argument '" + std::string(a) + "'; usage: " + std::string(usage), out);
            return false;
        }
    return true;
}

bool have_stats(const Context& ctx, bool json, std::string& out) {
    if (ctx.services.snapshot) return true;
    reply_error(json, "statistics are not available", out);
    return false;
}

// `show info [typed|json] [desc] [float]` (HAProxy's; `float` asks for floats where HAProxy has them: every field
// here is an integer or a string, so it changes nothing).
void cmd_show_info(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    bool json = false, typed = false, desc = false;
    for (std::string_view a : args) {
        if (a == "json") json = true, typed = false;
        else if (a == "typed") typed = true, json = false;
        else if (a == "desc") desc = true;
        else if (a == "float") continue;
        else {
            reply_error(wants_json(args), "unknown argument '" + std::string(a) + "'; usage: show info [typed|json] [desc] [float]", out);
            return;
        }
    }
    if (!have_stats(ctx, json, out)) return;
    stats::BuildOptions o;
    o.frontends_only = true;  // (what show info reads: a scrape costs no server's counters)
    const stats::Snapshot snap = ctx.services.snapshot(o);
    if (json) stats::render_info_json(snap, out);
    else if (typed) stats::render_info_typed(snap, out, desc);
    else stats::render_info_text(snap, out);
}

// `show stat [domain proxy] [{<iid>|<proxy>} <type> <sid>] [typed|json] [desc] [up|no-maint]` (HAProxy's), and
// ours: `shards` (every object again per shard), `prometheus` (the text exposition).
void cmd_show_stat(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    constexpr std::string_view usage =
        "show stat [{<iid>|<proxy>} <type> <sid>] [typed|json] [desc] [up|no-maint] [shards] | prometheus";
    const bool json_err = wants_json(args);
    auto fail = [&](std::string_view msg) { reply_error(json_err, msg, out); };
    std::size_t i = 0;
    if (i < args.size() && args[i] == "domain") {
        if (i + 1 < args.size() && args[i + 1] == "proxy") {
            i += 2;
        } else if (i + 1 < args.size() && args[i + 1] == "dns") {
            return fail("the dns domain is not in 'show stat' here: 'show resolvers' gives the name servers' counters");
        } else {
            return fail("Invalid statistics domain.");
        }
    }
    auto keyword = [](std::string_view a) {
        return a == "typed" || a == "json" || a == "desc" || a == "up" || a == "no-maint" || a == "shards" ||
               a == "prometheus";
    };
    auto num = [](std::string_view t) {  // atoi's reading: leading digits, 0 when none
        std::int64_t v = 0;
        bool neg = false;
        std::size_t k = 0;
        if (k < t.size() && (t[k] == '-' || t[k] == '+')) neg = t[k++] == '-';
        for (; k < t.size() && t[k] >= '0' && t[k] <= '9'; ++k) v = v * 10 + (t[k] - '0');
        return neg ? -v : v;
    };
    stats::StatFilter filter;
    std::string_view proxy_word;  // the proxy selector, when given
    if (args.size() - i >= 3 && !keyword(args[i])) {
        // HAProxy's: a proxy's name stands for its id (resolved below, on the snapshot); -1 selects every proxy,
        // type and server
        proxy_word = args[i];
        filter.iid = num(args[i]);
        filter.types = num(args[i + 1]);
        filter.sid = num(args[i + 2]);
        i += 3;
    }
    bool json = false, typed = false, desc = false, shards = false, prometheus = false;
    for (; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a == "json") json = true, typed = false;
        else if (a == "typed") typed = true, json = false;
        else if (a == "desc") desc = true;
        else if (a == "up") filter.up = true;
        else if (a == "no-maint") filter.no_maint = true;
        else if (a == "shards") shards = true;
        else if (a == "prometheus") prometheus = true;
        else return fail("unknown argument '" + std::string(a) + "'; usage: " + std::string(usage));
    }
    if (prometheus && (json || typed || shards || filter.iid != -1 || filter.up || filter.no_maint))
        return fail("'prometheus' takes no other argument; usage: show stat prometheus");
    if (shards && typed) return fail("'shards' goes with the CSV and JSON forms, not 'typed'");
    if (!have_stats(ctx, json, out)) return;
    const stats::Snapshot snap = ctx.services.snapshot(stats::BuildOptions{shards});
    if (!proxy_word.empty()) {
        const stats::Layout& lay = *snap.layout;
        for (std::size_t k = 0; k < lay.frontends.size() && k < snap.fe_iid.size(); ++k)
            if (lay.frontends[k].name == proxy_word) filter.iid = snap.fe_iid[k];
        for (std::size_t k = 0; k < lay.backends.size() && k < snap.be_iid.size(); ++k)
            if (lay.backends[k].name == proxy_word) filter.iid = snap.be_iid[k];
        if (filter.iid == 0) return fail("No such proxy.");
    }
    if (prometheus) stats::render_prometheus(snap, out);
    else if (typed) stats::render_stat_typed(snap, out, filter, desc);
    else if (json) stats::render_stat_json(snap, shards, out, filter);
    else stats::render_stat_csv(snap, shards, out, filter);
}

// HAProxy's `clear counters [all]`: the maxima (operator), every counter (admin).
void cmd_clear_counters(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    const bool all = !args.empty() && args[0] == "all";
    if (all && ctx.session.level < Level::Admin) {
        out.append("Permission denied\n");
        return;
    }
    if (!ctx.services.clear_counters) return;
    if (const std::string err = ctx.services.clear_counters(all); !err.empty()) out.append(err).push_back('\n');
}

void cmd_show_schema(std::span<const std::string_view> args, Context&, std::string& out) {
    if (args.size() != 1 || args[0] != "json") {
        out.append("json parameter missing.\n");  // (HAProxy's words)
        return;
    }
    stats::render_schema_json(out);
}

void cmd_show_pools(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    bool json = false;
    if (!parse_json_only(args, "show pools [json]", json, out) || !have_stats(ctx, json, out)) return;
    const stats::Snapshot snap = ctx.services.snapshot({});
    if (json) stats::render_pools_json(snap, out);
    else stats::render_pools_text(snap, out);
}

void cmd_show_shards(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    bool json = false;
    if (!parse_json_only(args, "show shards [json]", json, out) || !have_stats(ctx, json, out)) return;
    const stats::Snapshot snap = ctx.services.snapshot({});
    if (json) stats::render_shards_json(snap, out);
    else stats::render_shards_text(snap, out);
}

}  // namespace

void register_stats_commands(CommandTable& t) {
    t.add({{"show", "info"},
           "[typed|json] [desc] [float]",
           "report information about the running process",
           Level::User,
           cmd_show_info});
    t.add({{"show", "stat"},
           "[{<iid>|<proxy>} <type> <sid>] [typed|json] [desc] [up|no-maint] [shards] | prometheus",
           "report counters for each proxy and server (shards: also per shard; prometheus: text exposition)",
           Level::User,
           cmd_show_stat});
    t.add({{"clear", "counters"},
           "[all]",
           "clear the maxima of the counters (all: every counter, as a restart)",
           Level::Operator,
           cmd_clear_counters});
    t.add({{"show", "schema"},
           "json",
           "report schema used for stats",
           Level::User,
           cmd_show_schema});
    t.add({{"show", "pools"},
           "[json]",
           "report information about the memory pools usage",
           Level::User,
           cmd_show_pools});
    t.add({{"show", "shards"},
           "[json]",
           "report placement, ring geometry and loop counters per shard",
           Level::User,
           cmd_show_shards});
}

}  // namespace es::control
