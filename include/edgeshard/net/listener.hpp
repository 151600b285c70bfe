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
// client_first (HTTP frontends: the client speaks first): accepted connections start with
// delayed ACKs (TCP_QUICKACK off, set once listening: listen(2) resets it), so the ACK of the
// request leaves with the response instead of in a packet of its own (HAProxy's
// tcp-smart-accept, on by default in HTTP mode).
int open_listener(const config::Bind& b, int backlog, bool listen_now = true, bool client_first = false);
// listen(2) on a socket opened without listen_now; 0 or an errno value.
int start_listening(int fd, const config::Bind& b, int backlog, bool client_first = false);

// Steers each client address to one socket of the reuseport group `fd` is in (`group` sockets):
// a classic BPF program hashes the source address of the SYN (IPv4, or the four words of an IPv6
// address) and returns hash % group, so every connection of one client lands on the same shard
// (stick tables count a client in one place). 0 or an errno value. `group` 0 detaches the program
// (the kernel's 4-tuple hash again).
int steer_by_source(int fd, unsigned group);

}  // namespace es::net
