// The CLI's own commands: help, prompt, quit, show version.
#include "edgeshard/control/cli.hpp"
#include "edgeshard/config/parser.hpp"
#include "edgeshard/core/version.hpp"

namespace es::control {

namespace {

void cmd_help(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    out.append("The following commands are valid at this level:\n");
    append_help(ctx.commands, ctx.session.level, args, out);
}

void cmd_prompt(std::span<const std::string_view>, Context& ctx, std::string&) {
    ctx.session.interactive = !ctx.session.interactive;
}

void cmd_quit(std::span<const std::string_view>, Context& ctx, std::string&) {
    ctx.session.quit = true;
}

// HAProxy's `operator` and `user`: a session may lower its level, never raise it (the master CLI
// passes its clients' level this way)
void cmd_operator(std::span<const std::string_view>, Context& ctx, std::string&) {
    if (ctx.session.level > Level::Operator) ctx.session.level = Level::Operator;
}

void cmd_user(std::span<const std::string_view>, Context& ctx, std::string&) {
    ctx.session.level = Level::User;
}

void cmd_show_cli_level(std::span<const std::string_view>, Context& ctx, std::string& out) {
    out.append(level_name(ctx.session.level)).push_back('\n');
}

void cmd_show_version(std::span<const std::string_view>, Context&, std::string& out) {
    out.append(kVersion).push_back('\n');
}

// HAProxy's `set timeout cli <delay>`: this connection's idle timeout, in seconds unless a unit says otherwise.
void cmd_set_timeout(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (args.empty() || args[0] != "cli") {
        out.append("'set timeout' only supports 'cli'.\n");
        return;
    }
    if (args.size() < 2 || args[1].empty()) {
        out.append("Expects an integer value.\n");
        return;
    }
    std::string t(args[1]);
    if (t.find_first_not_of("0123456789") == std::string::npos) t += "s";  // (a bare number is seconds)
    const std::optional<config::Millis> ms = config::parse_time_ms(t);
    if (!ms || *ms < 1000) {
        out.append("Invalid timeout value.\n");
        return;
    }
    ctx.session.timeout_ms = *ms;
}

// HAProxy's `show backend`: "# name", then every backend (a listen's included) in the configuration's order.
void cmd_show_backend(std::span<const std::string_view>, Context& ctx, std::string& out) {
    out.append("# name\n");
    if (!ctx.services.server_table) return;
    const ServerTable t = ctx.services.server_table();
    if (t.cfg)
        for (const config::Backend& b : t.cfg->backends) out.append(b.name).push_back('\n');
}

// HAProxy's `show env [<name>]`: the process's environment, or one variable of it.
void cmd_show_env(std::span<const std::string_view> args, Context&, std::string& out) {
    for (char** e = environ; e && *e; ++e) {
        const std::string_view v(*e);
        if (!args.empty()) {
            if (v.size() <= args[0].size() || !v.starts_with(args[0]) || v[args[0].size()] != '=') continue;
            out.append(v).push_back('\n');
            return;
        }
        out.append(v).push_back('\n');
    }
    if (!args.empty()) out.append("Variable not found\n");
}

// HAProxy's `show cli sockets`: each stats socket, its level and the processes it serves (all, here).
void cmd_show_cli_sockets(std::span<const std::string_view>, Context& ctx, std::string& out) {
    out.append("# socket lvl processes\n");
    if (!ctx.services.server_table) return;
    const ServerTable t = ctx.services.server_table();
    if (!t.cfg) return;
    for (const config::StatsSocket& s : t.cfg->global.stats_sockets) {
        out.append(s.fd >= 0 ? "fd@" + std::to_string(s.fd) : "unix@" + s.path);
        out.push_back(' ');
        out.append(level_name(socket_level(s.level)));
        out.append(" all\n");
    }
}

// HAProxy's `show startup-logs`: the messages of the start (warnings, notices).
void cmd_show_startup_logs(std::span<const std::string_view>, Context& ctx, std::string& out) {
    if (ctx.services.startup_logs) out.append(*ctx.services.startup_logs);
}

void cmd_show_threads(std::span<const std::string_view>, Context& ctx, std::string& out) {
    if (ctx.services.show_threads) out.append(ctx.services.show_threads());
}

// HAProxy's `expert-mode [on|off]`: shows it, or allows the debug commands for this connection.
void cmd_expert_mode(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (args.empty()) {
        out.append(ctx.session.expert ? "expert-mode is ON\n" : "expert-mode is OFF\n");
        return;
    }
    if (args[0] != "on" && args[0] != "off") {
        out.append("'expert-mode' only supports 'on' and 'off'.\n");
        return;
    }
    ctx.session.expert = args[0] == "on";
}

// `debug dev loop <ms> [<shard>]` (expert mode): a data shard runs one loop turn for ms, as a stuck one would
// (HAProxy's loops the CLI's thread; here the point is the watchdog's view of a data shard).
void cmd_debug_dev_loop(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (!ctx.session.expert) {
        out.append("This command is restricted to expert mode only.\n");
        return;
    }
    std::int64_t ms = 0, shard = 0;
    auto num = [](std::string_view t, std::int64_t& v) {
        if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string_view::npos) return false;
        v = std::stoll(std::string(t));
        return true;
    };
    if (args.empty() || !num(args[0], ms) || (args.size() > 1 && !num(args[1], shard))) {
        out.append("Usage: debug dev loop <ms> [<shard>]\n");
        return;
    }
    if (!ctx.services.stall_shard) return;
    if (const std::string err = ctx.services.stall_shard(std::size_t(shard), ms); !err.empty())
        out.append(err).push_back('\n');
}

void cmd_show_proc(std::span<const std::string_view>, Context& ctx, std::string& out) {
    if (!ctx.services.show_proc) {
        out.append("Process list not available.\n");
        return;
    }
    out.append("#<PID> <generation> <role> <uptime_s> <conns> <reloads survived>\n");
    out.append(ctx.services.show_proc());
}

}  // namespace

void register_cli_commands(CommandTable& t) {
    t.add({{"help"}, "[<command>]", "list matching or all commands", Level::User, cmd_help});
    t.add({{"prompt"}, "", "toggle interactive mode with prompt", Level::User, cmd_prompt});
    t.add({{"quit"}, "", "disconnect", Level::User, cmd_quit});
    t.add({{"operator"}, "", "lower the level of the current CLI session to operator", Level::User, cmd_operator});
    t.add({{"user"}, "", "lower the level of the current CLI session to user", Level::User, cmd_user});
    t.add({{"show", "cli", "level"}, "", "display the level of the current CLI session", Level::User,
           cmd_show_cli_level});
    t.add({{"show", "proc"}, "", "list this process and the older ones still draining after reloads", Level::User,
           cmd_show_proc});
    t.add(
        {{"show", "version"}, "", "show the version of the current process", Level::User, cmd_show_version});
    t.add({{"show", "backend"}, "", "list the backends", Level::User, cmd_show_backend});
    t.add({{"show", "threads"}, "", "show every shard's thread and loop state (the watchdog's view)", Level::User,
           cmd_show_threads});
    t.add({{"expert-mode"}, "[on|off]", "show or change the expert mode (debug commands) of this connection",
           Level::Admin, cmd_expert_mode});
    t.add({{"debug", "dev", "loop"}, "<ms> [<shard>]", "a data shard runs one loop turn for <ms> (expert mode)",
           Level::Admin, cmd_debug_dev_loop});
    t.add({{"show", "env"}, "[<name>]", "dump the environment variables of the process", Level::Operator, cmd_show_env});
    t.add({{"show", "cli", "sockets"}, "", "list the CLI sockets and their level", Level::User, cmd_show_cli_sockets});
    t.add({{"show", "startup-logs"}, "", "report the messages of the start", Level::Operator, cmd_show_startup_logs});
    t.add({{"set", "timeout"}, "cli <delay>", "change this connection's idle timeout (seconds)", Level::User,
           cmd_set_timeout});
}

}  // namespace es::control
