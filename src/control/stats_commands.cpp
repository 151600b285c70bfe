// The statistics commands. They live in the control room rather than in stats/ because stats is a
// leaf room (DESIGN.md §2): it renders snapshots and knows nothing of the CLI; this file is the
// thin adapter that parses the arguments, asks Services for a snapshot and calls a renderer.
#include "edgeshard/control/cli.hpp"
#include "edgeshard/stats/render.hpp"

namespace es::control {

namespace {

struct Flags {
    bool json = false;
    bool shards = false;
    bool prometheus = false;
};

// Accepts the words `json` (and `shards` where allowed) in any order. On anything else it writes
// the error (JSON or text, per the request) and returns false.
bool parse_flags(std::span<const std::string_view> args, bool allow_shards, std::string_view usage, Flags& f,
                 std::string& out, bool allow_prometheus = false) {
    f.json = wants_json(args);
    for (std::string_view a : args) {
        if (a == "json") continue;
        if (allow_shards && a == "shards") {
            f.shards = true;
            continue;
        }
        if (allow_prometheus && a == "prometheus") {
            f.prometheus = true;
            continue;
        }
        std::string msg = "unknown argument '";
        msg.append(a).append("'; usage: ").append(usage);
        if (f.json) {
            stats::render_json_error(msg, out);
        } else {
            out.append(msg).push_back('\n');
        }
        return false;
    }
    return true;
}

bool have_stats(const Context& ctx, const Flags& f, std::string& out) {
    if (ctx.services.snapshot) return true;
    constexpr std::string_view msg = "statistics are not available";
    if (f.json) {
        stats::render_json_error(msg, out);
    } else {
        out.append(msg).push_back('\n');
    }
    return false;
}

void cmd_show_info(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    Flags f;
    if (!parse_flags(args, false, "show info [json]", f, out) || !have_stats(ctx, f, out)) return;
    const stats::Snapshot snap = ctx.services.snapshot({});
    if (f.json) {
        stats::render_info_json(snap, out);
    } else {
        stats::render_info_text(snap, out);
    }
}

void cmd_show_stat(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    Flags f;
    // The usage line names the common forms; `help` lists `prometheus` too.
    constexpr std::string_view usage = "show stat [json] [shards]";
    if (!parse_flags(args, true, usage, f, out, true) || !have_stats(ctx, f, out)) return;
    if (f.prometheus && (f.json || f.shards)) {
        constexpr std::string_view msg = "'prometheus' takes no other argument; usage: show stat prometheus";
        if (f.json) {
            stats::render_json_error(msg, out);
        } else {
            out.append(msg).push_back('\n');
        }
        return;
    }
    const stats::Snapshot snap = ctx.services.snapshot(stats::BuildOptions{f.shards});
    if (f.prometheus) {
        stats::render_prometheus(snap, out);
    } else if (f.json) {
        stats::render_stat_json(snap, f.shards, out);
    } else {
        stats::render_stat_csv(snap, f.shards, out);
    }
}

void cmd_show_pools(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    Flags f;
    if (!parse_flags(args, false, "show pools [json]", f, out) || !have_stats(ctx, f, out)) return;
    const stats::Snapshot snap = ctx.services.snapshot({});
    if (f.json) {
        stats::render_pools_json(snap, out);
    } else {
        stats::render_pools_text(snap, out);
    }
}

void cmd_show_shards(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    Flags f;
    if (!parse_flags(args, false, "show shards [json]", f, out) || !have_stats(ctx, f, out)) return;
    const stats::Snapshot snap = ctx.services.snapshot({});
    if (f.json) {
        stats::render_shards_json(snap, out);
    } else {
        stats::render_shards_text(snap, out);
    }
}

}  // namespace

void register_stats_commands(CommandTable& t) {
    t.add({{"show", "info"},
           "[json]",
           "report information about the running process",
           Level::User,
           cmd_show_info});
    t.add({{"show", "stat"},
           "[json] [shards] | prometheus",
           "report counters for each proxy and server (shards: also per shard; prometheus: text exposition)",
           Level::User,
           cmd_show_stat});
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
