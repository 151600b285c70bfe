// The client side of TLS for `edgeshard-bench http https://...`, on OpenSSL 3.
//
// OpenSSL never touches a socket: each connection's SSL reads from one memory BIO, which the
// worker fills with the ciphertext its io_uring receives brought, and writes to another, which the
// worker drains into the buffer its next io_uring send points at. A handshake is a state machine
// driven by those completions: handshake() says More (waiting for the peer), Done or Error, and
// never blocks.
//
// One TlsClientCtx per load thread (an SSL_CTX is not shared across threads, so none of its locks
// is ever contended), one TlsLink per connection slot.
//
// Resumption: the context keeps the sessions the peer issued on this thread (TLS 1.2 at the end
// of a handshake, TLS 1.3 in NewSessionTickets after it; both reach on_new_session) and offers
// the newest on each new connection. More than one is kept because OpenSSL spends a TLS 1.3
// session when a handshake resumes it (single-use tickets): with several connections per thread,
// one session would be spent by the first and the others would fall back to full handshakes.
// A server sends more tickets than it takes (OpenSSL: two per handshake), so the stock lasts.
//
// A load generator does not verify the peer's certificate (SSL_VERIFY_NONE): it measures a
// server, it does not trust one.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common.hpp"

namespace es::bench {

class TlsClientCtx {
public:
    // Throws std::runtime_error when OpenSSL refuses a setting (an unknown cipher, ...).
    // `connections`: how many this thread runs (sizes the stock of sessions kept).
    TlsClientCtx(const Settings& s, unsigned connections);
    ~TlsClientCtx();
    TlsClientCtx(const TlsClientCtx&) = delete;
    TlsClientCtx& operator=(const TlsClientCtx&) = delete;

    // A client SSL with the SNI set and, when resuming, the newest session not yet spent offered;
    // nullptr when OpenSSL is out of memory.
    SSL* new_ssl();

private:
    static int on_new_session(SSL* ssl, SSL_SESSION* sess);
    SSL_CTX* ctx_ = nullptr;
    std::vector<SSL_SESSION*> sessions_;  // oldest first; at most keep_
    std::size_t keep_;
    std::string sni_;
    bool resume_ = true;
};

// One connection slot's TLS: the SSL of the connection open in the slot (none when closed) and
// the buffer of records being sent.
class TlsLink {
public:
    enum class Step : std::uint8_t { More, Done, Error };

    TlsLink() = default;
    ~TlsLink() { reset(); }
    TlsLink(const TlsLink&) = delete;
    TlsLink& operator=(const TlsLink&) = delete;
    TlsLink(TlsLink&& o) noexcept;
    TlsLink& operator=(TlsLink&&) = delete;

    // A new connection: a new SSL, the ClientHello waiting to be staged. False on out of memory.
    bool start(TlsClientCtx& ctx, std::int64_t now_ns);
    // The connection closed: the SSL is freed (no close_notify is sent: the socket is gone). A
    // connection that completed its handshake and did not fail() ends as if shut down, so OpenSSL
    // keeps its session resumable (SSL_free otherwise marks the session bad).
    void reset();
    // The connection failed: reset() will not vouch for its session.
    void failed() { failed_ = true; }
    bool active() const { return ssl_ != nullptr; }
    bool established() const { return established_; }
    std::int64_t started_ns() const { return started_ns_; }
    SSL* ssl() const { return ssl_; }

    // Ciphertext from the socket (copied; the receive buffer may go back to the ring at once).
    bool feed(const char* p, std::size_t n);
    Step handshake();
    // Plaintext into [dst, dst + cap): > 0 bytes, 0 none until more ciphertext comes, -1 the end
    // (peer_closed() after a close_notify, else a fatal error with error()).
    long read(char* dst, std::size_t cap);
    bool peer_closed() const { return peer_closed_; }
    // Plaintext to encrypt; the records wait for stage(). False on a fatal error.
    bool write(const char* p, std::size_t n);
    // Moves every waiting record into the send buffer, unless a send from it is in flight, and
    // returns the bytes to send from out_data() (0: nothing). sent() frees the buffer again.
    std::size_t stage();
    const char* out_data() const { return out_.data(); }
    void sent() { out_len_ = 0; }
    // Why the connection failed: OpenSSL's error queue (emptied), else `otherwise`.
    std::string error(const char* otherwise);

private:
    SSL* ssl_ = nullptr;
    BIO* rbio_ = nullptr;  // ciphertext in (owned by ssl_)
    BIO* wbio_ = nullptr;  // records out (owned by ssl_)
    std::vector<char> out_;  // kept across the slot's connections: sized once by the largest flight
    std::size_t out_len_ = 0;
    std::int64_t started_ns_ = 0;
    bool established_ = false;
    bool peer_closed_ = false;
    bool failed_ = false;
};

}  // namespace es::bench
