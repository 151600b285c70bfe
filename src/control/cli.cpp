// Command table, request splitting and dispatch: the CLI protocol without any socket.
#include "edgeshard/control/cli.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "edgeshard/control/server_admin.hpp"
#include "edgeshard/stats/render.hpp"

namespace es::control {

namespace {

bool prefix_of(std::span<const std::string_view> keys, std::span<const std::string_view> words) {
    if (keys.size() > words.size()) return false;
    return std::equal(keys.begin(), keys.end(), words.begin());
}

std::string join(std::span<const std::string_view> words) {
    std::string s;
    for (std::string_view w : words) {
        if (!s.empty()) s.push_back(' ');
        s.append(w);
    }
    return s;
}

// One command (already split into words): run it and append its answer and end marker.
void run_one(std::span<const std::string_view> words, Context& ctx, std::string& out) {
    const std::size_t start = out.size();
    const Command* cmd = ctx.commands.find(words);
    if (!cmd) {
        out.append("Unknown command: '").append(join(words)).append("'\n");
        // Narrow the list to the commands sharing the first word when there are any ("show foo"
        // lists the show commands), as HAProxy does.
        std::span<const std::string_view> filter = words.first(1);
        bool any = false;
        for (const auto& c : ctx.commands.commands())
            if (c.level <= ctx.session.level && c.words.front() == words.front()) any = true;
        if (!any) filter = {};
        out.append("The following commands are valid at this level:\n");
        append_help(ctx.commands, ctx.session.level, filter, out);
    } else if (cmd->level > ctx.session.level) {
        out.append("Permission denied\n");
    } else {
        const auto args = words.subspan(cmd->words.size());
        // Handlers do not throw by design; what can still escape (bad_alloc while building a
        // large snapshot) must cost one answer, never the control shard.
        try {
            cmd->handler(args, ctx, out);
        } catch (const std::exception& e) {
            out.resize(start);
            if (wants_json(args)) {
                stats::render_json_error(e.what(), out);
            } else {
                out.append("Internal error: ").append(e.what()).push_back('\n');
            }
        }
        if (ctx.session.quit) return;  // `quit` answers nothing, not even the end marker
    }
    if (out.size() > start && out.back() != '\n') out.push_back('\n');
    out.append(ctx.session.interactive ? "\n> " : "\n");
}

}  // namespace

std::string_view level_name(Level l) {
    switch (l) {
        case Level::User:
            return "user";
        case Level::Operator:
            return "operator";
        case Level::Admin:
            return "admin";
    }
    return "user";
}

void CommandTable::add(Command c) {
    if (c.words.empty() || !c.handler) throw std::logic_error("cli: command without keywords or handler");
    for (const auto& other : cmds_)
        if (other.words == c.words) throw std::logic_error("cli: command registered twice: " + join(c.words));
    cmds_.push_back(std::move(c));
}

const Command* CommandTable::find(std::span<const std::string_view> words) const {
    const Command* best = nullptr;
    for (const auto& c : cmds_)
        if (prefix_of(c.words, words) && (!best || c.words.size() > best->words.size())) best = &c;
    return best;
}

std::vector<std::string> split_commands(std::string_view line) {
    std::vector<std::string> cmds(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (c == '\\' && i + 1 < line.size()) {
            // keep the escape for split_words, which resolves it inside the word
            cmds.back().push_back(c);
            cmds.back().push_back(line[++i]);
        } else if (c == ';') {
            cmds.emplace_back();
        } else {
            cmds.back().push_back(c);
        }
    }
    return cmds;
}

std::vector<std::string> split_words(std::string_view command) {
    std::vector<std::string> words;
    bool in_word = false;
    for (std::size_t i = 0; i < command.size(); ++i) {
        char c = command[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            in_word = false;
            continue;
        }
        if (!in_word) {
            words.emplace_back();
            in_word = true;
        }
        if (c == '\\' && i + 1 < command.size()) c = command[++i];
        words.back().push_back(c);
    }
    return words;
}

void dispatch(std::string_view line, Context& ctx, std::string& out) {
    bool any = false;
    for (const std::string& cmd : split_commands(line)) {
        const auto owned = split_words(cmd);
        if (owned.empty()) continue;
        any = true;
        const std::vector<std::string_view> words(owned.begin(), owned.end());
        run_one(words, ctx, out);
        if (ctx.session.quit) return;
    }
    // An empty line re-prompts an interactive session (a non-interactive one just ends).
    if (!any && ctx.session.interactive) out.append("> ");
}

std::string dispatch(std::string_view line, Context& ctx) {
    std::string out;
    dispatch(line, ctx, out);
    return out;
}

void append_help(const CommandTable& table, Level level, std::span<const std::string_view> filter,
                 std::string& out) {
    constexpr std::size_t kColumn = 36;
    for (const auto& c : table.commands()) {
        if (c.level > level) continue;
        // a filter matches a command whose keywords start with it, or that it starts with
        // ("help show stat json" still shows "show stat")
        const std::size_t n = std::min(filter.size(), c.words.size());
        if (!std::equal(filter.begin(), filter.begin() + std::ptrdiff_t(n), c.words.begin())) continue;
        std::string left = join(c.words);
        if (!c.usage.empty()) left.append(" ").append(c.usage);
        out.append("  ").append(left);
        if (left.size() < kColumn) out.append(kColumn - left.size(), ' ');
        out.append(" : ").append(c.help).push_back('\n');
    }
}

bool wants_json(std::span<const std::string_view> args) {
    return std::find(args.begin(), args.end(), std::string_view("json")) != args.end();
}

void register_all_commands(CommandTable& t) {
    register_cli_commands(t);
    register_stats_commands(t);
    register_server_commands(t);
    register_ssl_commands(t);
    register_stick_commands(t);
    register_map_commands(t);
}

}  // namespace es::control
