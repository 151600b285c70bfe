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

#include "edgeshard/stats/snapshot.hpp"

namespace es::control {

// HAProxy's CLI levels. A socket without `level admin` serves `user`; a command runs when the
// session's level is at least the command's. `operator` exists so later commands can use it.
enum class Level : std::uint8_t { User = 0, Operator = 1, Admin = 2 };
std::string_view level_name(Level l);

// Per-connection state commands may change.
struct Session {
    Level level = Level::User;
    bool interactive = false;  // `prompt`: keep the connection, print "> " after each answer
    bool quit = false;         // `quit`: close once the pending output is written
};

// What the commands read. The control shard fills it over the running shards; tests fill it with
// fakes. snapshot() builds a fresh merged snapshot on each call; an empty function means the
// statistics are not available (commands answer with an error, they do not crash).
struct Services {
    std::function<stats::Snapshot(const stats::BuildOptions&)> snapshot;
};

class CommandTable;

struct Context {
    const CommandTable& commands;
    const Services& services;
    Session& session;
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
