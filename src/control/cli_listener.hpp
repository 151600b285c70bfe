// The stats sockets' files: a unix socket bound under a temporary name beside its path, listening, then
// renamed over the path once the process serves (the path never names a socket that does not listen yet, and
// a previous process's socket is replaced in one step, as HAProxy does for reloads); removed at the end unless
// a newer process renamed its own over it. `fd@N` sockets are the ones given, duplicated. Private to the
// control room.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "edgeshard/config/config.hpp"
#include "edgeshard/control/command.hpp"

namespace es::control {

struct CliListener {
    int fd = -1;
    std::string path;  // "" for fd@N
    dev_t dev = 0;     // the file we put in place (cleanup removes only that one)
    ino_t ino = 0;
    Level level = Level::User;
    std::int64_t paused_until_ms = 0;  // accepting pauses after EMFILE/ENFILE
    std::string tmp;   // where it listens until publish_cli_listener() renames it
};

// Throws with the socket, the step and the error.
CliListener open_cli_listener(const config::StatsSocket& s);
// Renames the socket into place; a failure is reported on stderr and the temporary removed.
void publish_cli_listener(CliListener& l);
// Closes it and removes its file (published: only if it is still ours).
void close_cli_listener(const CliListener& l, bool published);

}  // namespace es::control
