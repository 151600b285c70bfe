// TLS towards a server (HAProxy's `server ... ssl`): one shard's client context for one server
// line, built from tls::ServerOptions. It verifies the server's chain against `ca-file` (unless
// `verify none`), checks the name (the SNI sent, else `verifyhost`), offers ALPN, presents a client
// certificate when configured, and keeps the server's last session so that the next connection
// resumes it (`ssl-reuse`, on by default: a resumed handshake costs the server no key exchange).
// Like BindTls, an Upstream belongs to one shard; nothing in it is shared.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "edgeshard/tls/options.hpp"

namespace es::tls {

class Upstream {
public:
    // nullptr and `error` (what to fix) when the options cannot be honoured.
    static std::unique_ptr<Upstream> make(const ServerOptions& o, std::string& error, std::vector<std::string>& warnings);
    ~Upstream();
    Upstream(const Upstream&) = delete;
    Upstream& operator=(const Upstream&) = delete;

    SSL_CTX* ctx() const { return ctx_; }
    bool verify() const { return verify_; }
    const std::string& verifyhost() const { return verifyhost_; }
    // The session a new connection offers (null: none kept, or ssl-reuse is off).
    SSL_SESSION* session() const { return reuse_ ? last_ : nullptr; }

private:
    Upstream() = default;
    static int on_new_session(SSL* ssl, SSL_SESSION* sess);
    SSL_CTX* ctx_ = nullptr;
    SSL_SESSION* last_ = nullptr;
    bool verify_ = true;
    bool reuse_ = true;
    std::string verifyhost_;
};

}  // namespace es::tls
