// What a connection carries from before its protocol starts (src/proxy/preface.cpp): the PROXY
// protocol header a proxy in front of us sent (`bind ... accept-proxy`, `tcp-request connection
// expect-proxy layer4`) and, for frontends that send PROXY headers to their servers, the address
// the client connected to.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "edgeshard/core/intrusive_list.hpp"
#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/net/proxy_proto.hpp"
#include "edgeshard/proxy/h1_types.hpp"
#include "edgeshard/shard/timer_wheel.hpp"
#include "edgeshard/stick/table.hpp"

namespace es::proxy {

// Held by an H1Conn or an L4 Session that has one (null otherwise): an idle connection of a
// frontend without PROXY headers pays a pointer.
struct PpInfo {
    PeerAddr dst;               // the destination: carried by the header, else the local address
    bool has_dst = false;
    std::string authority;      // v2 TLVs received (sent on with proxy-v2-options authority, ...)
    std::string unique_id;
    std::string alpn;
};

// A connection whose protocol has not started yet: its PROXY header is being read, or its local
// address learnt (FIXED_FD_INSTALL + getsockname for a wildcard bind).
struct Preface {
    core::ListNode all_node;
    shard::Timer timer;
    sockaddr_storage peer{};   // the connection's own client address (kept for LOCAL and UNKNOWN)
    std::int64_t deadline = 0; // `timeout client` from the accept (HAProxy 2.6's bound on the header)
    std::int64_t t_accept = 0;
    net::ConnSide cli;
    PpInfo* pp = nullptr;
    stick::Refs* trk = nullptr;  // what tcp-request connection rules tracked
    std::uint32_t fe = 0;
    int bind = -1;
    int ops = 0;               // ops in flight
    std::uint16_t hdr_len = 0; // the header's length, consumed by the eat
    std::uint8_t gen = 0;
    bool has_peer = false;
    bool want_header = false;  // a PROXY header must come first
    bool failed = false;       // closing: released once no op is in flight
};

}  // namespace es::proxy
