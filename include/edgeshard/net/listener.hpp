// Listening sockets: one SO_REUSEPORT socket per (bind, shard), created in shard order so the
// kernel's reuseport group index matches the shard index. They are plain fds (not direct
// descriptors) so the reload handoff can pass them with SCM_RIGHTS.
#pragma once

#include <string>

#include "edgeshard/config/config.hpp"

namespace es::net {

// Throws std::runtime_error naming the bind line and the errno text. Without listen_now the
// socket is bound but not listening: it is not in the SO_REUSEPORT group yet, so no connection
// can queue on it (a process taking over in a reload listens only once it has committed).
int open_listener(const config::Bind& b, int backlog, bool listen_now = true);
// listen(2) on a socket opened without listen_now; 0 or an errno value.
int start_listening(int fd, const config::Bind& b, int backlog);

}  // namespace es::net
