// The built-in demo origin: a small HTTP/1.1 server on one background thread, started by the
// `es.demo-origin ADDR:PORT` global keyword so that `edgeshard` run with its embedded default
// config proxies to something real. It stands in for an application server behind the proxy: it
// is not a data shard, uses poll(2) over non-blocking sockets, and shares nothing with the
// shards (they reach it over TCP like any backend).
//
// Routes (GET and HEAD; other methods on these paths get 405, other paths 404):
//   /          200 text/plain "edgeshard demo origin: hello from ADDR:PORT\nrequests served: N\n"
//              (ADDR:PORT is the local address the client reached, N counts every answered
//              request including this one)
//   /bytes/N   200 application/octet-stream, N bytes (N <= kMaxBytes, else 400) where byte i is
//              kBytesPattern[i % 64]: 63 printable characters then '\n', so a client can verify
//              what it received at any offset.
// Protocol: HTTP/1.0 and 1.1, keep-alive as the version and `Connection` dictate, pipelining,
// request bodies with Content-Length are read and discarded. A request head must end within
// kMaxHeader bytes (else 431 and close); anything malformed, including a peer that is not
// speaking HTTP at all, gets 400 and close; Transfer-Encoding gets 501 and close. Closes are
// lingering (shutdown, drain, close) so the error reply is not lost to a reset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "edgeshard/config/config.hpp"

namespace es::origin {

inline constexpr std::uint64_t kMaxBytes = std::uint64_t(64) << 20;
inline constexpr std::size_t kMaxHeader = 16 * 1024;
inline constexpr char kBytesPattern[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-\n";
static_assert(sizeof(kBytesPattern) == 65, "the /bytes pattern has a period of 64");

inline char bytes_pattern_at(std::uint64_t offset) {
    return kBytesPattern[offset % 64];
}

class DemoOrigin {
  public:
    explicit DemoOrigin(const config::SockAddr& addr);
    ~DemoOrigin();  // stop()
    DemoOrigin(const DemoOrigin&) = delete;
    DemoOrigin& operator=(const DemoOrigin&) = delete;

    // Binds and listens on the caller's thread (throws std::runtime_error naming the address on
    // any socket/bind/listen error), then starts the server thread. A second call while running
    // does nothing.
    void start();
    // Wakes the thread through an eventfd, joins it and closes every socket. Idempotent.
    void stop();
    // The bound port once started (the kernel's choice when the address asked for port 0),
    // otherwise the configured one.
    std::uint16_t port() const;
    std::uint64_t requests_served() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace es::origin
