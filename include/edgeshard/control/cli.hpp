// The CLI protocol, as a pure function of (request line, context) so it is tested without sockets.
//
// HAProxy's rules, which scripts written for HAProxy rely on:
//  - a request line may hold several commands separated by ';' ("\;" is a literal semicolon, and
//    a backslash escapes the next character inside a word);
//  - every answer ends with an empty line ("\n" after the answer's last line) so a reader knows
//    where it stops; in interactive mode (after `prompt`) the marker is "\n> " instead;
//  - `quit` ends the session: the commands after it on the same line are not run;
//  - an unknown command answers "Unknown command: '<cmd>'" and the commands valid at the
//    session's level; a command above the session's level answers "Permission denied";
//  - a command asked for JSON that fails answers {"errorStr":"..."}.
// Whether the connection stays open (interactive or not) is the caller's business: it reads
// ctx.session after each line.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/control/command.hpp"

namespace es::control {

// Longest request line accepted; a client sending more without a newline is disconnected.
inline constexpr std::size_t kMaxRequestLine = 64 * 1024;

std::vector<std::string> split_commands(std::string_view line);
std::vector<std::string> split_words(std::string_view command);

// Runs every command of one request line (without its "\n") and appends the answers to out.
void dispatch(std::string_view line, Context& ctx, std::string& out);
std::string dispatch(std::string_view line, Context& ctx);

// The command list shown by `help` and after an unknown command: commands at or below `level`
// whose keywords start with `filter` (all when empty).
void append_help(const CommandTable& table, Level level, std::span<const std::string_view> filter,
                 std::string& out);

// True when the arguments ask for JSON output (the word "json" appears).
bool wants_json(std::span<const std::string_view> args);

// Registration functions, one per room that owns commands, and the one list that calls them.
void register_cli_commands(CommandTable& t);    // help, prompt, quit, show version
void register_stats_commands(CommandTable& t);  // show info / stat / pools / shards
void register_ssl_commands(CommandTable& t);    // show / set / commit / abort ssl cert
void register_stick_commands(CommandTable& t);  // show table, clear table
void register_map_commands(CommandTable& t);    // show / get / add / set / del / clear map
// The maps as the configuration loaded them, and a new version of one sent to every data shard
// (map_commands.cpp): Services::maps and Services::update_map.
MapStore load_map_store(const config::Config& cfg);
std::string post_map_update(shard::Runtime& rt, std::size_t index, std::shared_ptr<const config::MapFile> map);
// The data shards' answers to a stick-table query (stick_commands.cpp): Services::stick_query.
bool ask_shards(shard::Runtime& rt, stick::Query& q);
// The certificate files of every TLS bind, read as they are now (the shards loaded the same).
CertStore load_cert_store(const config::Config& cfg);
// A committed certificate to every data shard (shard::Message::kCertUpdate); the last shard to
// apply it frees it, one whose mailbox stays full is not waited for. "" or what went wrong.
// With `ocsp` (set ssl ocsp-response): the certificates of `path` staple that DER response instead.
std::string post_cert_update(shard::Runtime& rt, const std::string& path, const std::string& pem,
                             const std::string* ocsp = nullptr);
void register_all_commands(CommandTable& t);

}  // namespace es::control
