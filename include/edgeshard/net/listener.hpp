// Listening sockets: one SO_REUSEPORT socket per (bind, shard), created in shard order so the
// kernel's reuseport group index matches the shard index. They are plain fds (not direct
// descriptors) so the reload handoff can pass them with SCM_RIGHTS.
#pragma once

#include <string>

#include "edgeshard/config/config.hpp"

namespace es::net {

// Throws std::runtime_error naming the bind line and the errno text.
int open_listener(const config::Bind& b, int backlog);

}  // namespace es::net
