// Start-up probe (DESIGN.md §5 rule 2): checks every io_uring setup flag, opcode and feature the
// data path uses, on a throw-away ring created the way shards create theirs, and names a tier.
//   full:  everything, including splice for bulk L4 flows (FIXED_FD_INSTALL, 6.8) and socket
//          options on direct descriptors (URING_CMD setsockopt, 6.7)
//   basic: the required set only (6.1+); bulk flows stay on the copy path, TCP_NODELAY is not
//          set on server connections
// Anything missing from the required set is a refusal, with what is missing and how to fix it.
#pragma once

#include <string>

namespace es::shard {

struct ProbeResult {
    bool ok = false;
    std::string tier;       // "full" or "basic" when ok
    std::string error;      // why not, with a hint, when !ok
    std::string details;    // one line: kernel, features, optional opcodes
    bool fixed_fd_install = false;
    bool sockopt_cmd = false;
};

ProbeResult probe_io_uring();

}  // namespace es::shard
