// Runtime server states on the CLI: `set server`, `set weight`, `get weight`, `enable server`,
// `disable server`, `show servers state` (src/control/server_commands.cpp; the commands and their
// output are described in src/control/README.md).
#pragma once

#include <string_view>

#include "edgeshard/config/config.hpp"
#include "edgeshard/control/command.hpp"

namespace es::shard {
class Runtime;
}

namespace es::control {

// Registers the server-state commands (`set`, `enable` and `disable` at admin level; `get weight`
// and `show servers state` at user level). Called from register_all_commands().
void register_server_commands(CommandTable& t);

// Fills services.server_table and services.set_server over a running runtime. set_server updates
// rt.server_runtime() (so a reload carries the change) and posts one kServerAdmin message to every
// data shard, retrying a full mailbox for up to kPostPatienceMs per shard; a shard that does not
// take it in time makes the command answer an error naming it (the table keeps the change).
// Control thread only; `rt` must outlive `services`.
inline constexpr int kPostPatienceMs = 250;
void bind_server_admin(Services& services, shard::Runtime& rt);

// A backend by name, or by "#<id>" with the proxy id `show stat` prints (iid): its index in
// cfg.backends. Frontends are not backends, whatever their id.
bool find_backend(const config::Config& cfg, std::string_view name, std::size_t& be);

// `<w>` (absolute, 0..256) or `<p>%` (of the configured weight `initial`, capped at 256) into `w`;
// "" or HAProxy's error text. `set weight` and the agents' weights read it.
std::string_view parse_weight(std::string_view s, int initial, int& w);
// `<n>`: a server's maxconn (0: none); "" or HAProxy's error text. `set maxconn server` and the
// agents' "maxconn:" read it.
std::string_view parse_maxconn(std::string_view s, int& n);

}  // namespace es::control
