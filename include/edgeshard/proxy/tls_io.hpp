// TLS on a shard's client connections, shared by both protocols (HTTP/1 and mode tcp): the
// shard's bind contexts and session cache, its output queues, and the two moves between a record
// layer (tls::Conn) and those queues. Owned by the Worker, built before the proxies.
//  - pull: a record layer's plaintext into pooled blocks;
//  - seal: the plaintext pieces queued behind a queue's records become records (sealed straight
//    into blocks once the handshake is over, tls/seal.hpp), so only records leave.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/net/send_queue.hpp"
#include "edgeshard/stats/counters.hpp"
#include "edgeshard/tls/conn.hpp"
#include "edgeshard/tls/session_cache.hpp"
#include "edgeshard/tls/upstream.hpp"

namespace es::tls {
struct CertUpdate;
}

namespace es::proxy {

// Ciphertext a record layer holds, not yet decrypted, that stops the connection's receive.
inline constexpr std::size_t kTlsInMax = 64 * 1024;
// A TLS connection seals its records itself (tls/seal.hpp) from its first plaintext piece this
// large on: below it OpenSSL's copies cost less than deriving the keys (a connection that only
// ever sends small pieces never derives them).
inline constexpr std::size_t kDirectSealMin = 8192;

// The server name to send (`server ... sni <expr>`) for the value `v` the expression gave: an
// SNI names a host, so a port is removed and an IP literal is not sent (RFC 6066 3); copied into
// `buf`; empty for none.
std::string_view server_name(std::string_view v, char* buf, std::size_t cap);

// A received buffer lent to a record layer for the handling of its completion: OpenSSL reads the
// records where they lie; when the guard ends, what is left (a partial record) is copied into the
// layer and the buffer goes back to the ring.
class LentBuffer {
public:
    LentBuffer(tls::Conn& t, net::BufRing& ring, std::uint16_t bid, std::uint32_t n) : t_(t), ring_(ring), bid_(bid) {
        t_.lend(ring_.data(bid_), n);
    }
    ~LentBuffer() {
        t_.unlend();
        ring_.recycle(bid_);
    }
    LentBuffer(const LentBuffer&) = delete;
    LentBuffer& operator=(const LentBuffer&) = delete;

private:
    tls::Conn& t_;
    net::BufRing& ring_;
    std::uint16_t bid_;
};

class TlsIo {
public:
    // Builds this shard's contexts for the TLS binds (tls/README.md: no OpenSSL object is shared
    // between shards). The configuration check loaded the same files already, so a failure here
    // means they changed since: throws, and the shard does not start.
    TlsIo(const config::Config& cfg, int nshards, stats::ShardStats& st, net::BufRing& bufs, net::SideIo& io);
    TlsIo(const TlsIo&) = delete;
    TlsIo& operator=(const TlsIo&) = delete;

    net::SendQueues sendq;  // the shard's output queues: blocks and queue blocks (only while bytes are queued)

    // the context of bind `bind` of frontend `fe`, null for a plain bind
    const tls::BindTls* bind(std::uint32_t fe, int bind) const {
        return bind >= 0 ? binds_[fe][std::size_t(bind)].get() : nullptr;
    }
    // A new client connection's record layer on `tb`, counted (SslConns, accepts); null when out of
    // memory.
    tls::Conn* accept_conn(const tls::BindTls& tb);
    // the client context for server `server` of backend `be`, null for a server reached in clear
    const tls::Upstream* upstream(int be, int server) const {
        return up_[std::size_t(be)][std::size_t(server)].get();
    }
    // Plaintext from a record layer into a gathering block (made when needed, compacted when
    // full, given back when it ends empty); returns the bytes taken. A full block leaves the rest
    // in the record layer until its reader consumed some.
    std::size_t pull(tls::Conn& t, net::Block*& acc);
    // The plaintext pieces of `q` behind its first `sealed` pieces (records) become records;
    // `sealed` then counts every piece. Until the handshake completes only its flights are
    // queued, in front of the pieces, which wait unsealed. A record that cannot be queued (no
    // memory) marks the queue broken: the connection must close.
    void seal(tls::Conn& t, net::SendQueue& q, std::uint8_t& sealed);
    // `commit ssl cert` / `set ssl ocsp-response` (shard::Message::kCertUpdate): this shard's
    // binds that load the file take the new certificate or response; frees the update when this
    // shard is the last to apply it
    void cert_update(tls::CertUpdate& u, int shard_id);

private:
    stats::ShardStats& st_;
    // this shard's session cache (resumption by session ID), shared by its TLS binds; declared
    // before them so that it outlives their contexts
    std::unique_ptr<tls::SessionCache> cache_;
    // [frontend][bind]: the contexts of the TLS binds (null: plain)
    std::vector<std::vector<std::shared_ptr<tls::BindTls>>> binds_;
    // [backend][server]: the client contexts for servers reached over TLS (null: in clear)
    std::vector<std::vector<std::unique_ptr<tls::Upstream>>> up_;
    char stage_[16384];  // small plaintext pieces gathered into one record (seal)
};

}  // namespace es::proxy
