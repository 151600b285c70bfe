// tls::Upstream: a shard's client context for one TLS server line (see upstream.hpp).
#include "edgeshard/tls/upstream.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <cstring>

#include "edgeshard/tls/context.hpp"

namespace es::tls {

Upstream::~Upstream() {
    SSL_SESSION_free(last_);
    SSL_CTX_free(ctx_);
}

int Upstream::on_new_session(SSL* ssl, SSL_SESSION* sess) {
    auto* up = static_cast<Upstream*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (!up || !up->reuse_ || !SSL_SESSION_is_resumable(sess)) return 0;
    SSL_SESSION_free(up->last_);
    up->last_ = sess;
    return 1;  // the reference is ours
}

std::unique_ptr<Upstream> Upstream::make(const ServerOptions& o, std::string& error, std::vector<std::string>& warnings) {
    ERR_clear_error();
    std::unique_ptr<Upstream> u(new Upstream());
    u->ctx_ = SSL_CTX_new(TLS_client_method());
    if (!u->ctx_) {
        error = "out of memory for a TLS context";
        return nullptr;
    }
    SSL_CTX* ctx = u->ctx_;
    u->verify_ = o.verify;
    u->reuse_ = o.reuse;
    u->verifyhost_ = o.verifyhost;
    SSL_CTX_set_app_data(ctx, u.get());
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | (o.no_tickets ? SSL_OP_NO_TICKET : 0));
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (!set_protocols(ctx, o.min_ver, o.max_ver, o.no_versions, o.ciphers, o.ciphersuites, error)) return nullptr;
    if (!o.curves.empty() && !SSL_CTX_set1_groups_list(ctx, o.curves.c_str())) {
        error = "curves '" + o.curves + "': unknown group (" + take_errors() + ")";
        return nullptr;
    }
    if (!set_sigalgs(ctx, o.sigalgs, o.client_sigalgs, error)) return nullptr;
    if (o.verify) {
        if (o.ca_file.empty()) {
            error = "'verify required' (the default for TLS servers) needs 'ca-file <file>' (or '@system-ca'); "
                    "on a network where the server is trusted, write 'verify none' on the server line or "
                    "'ssl-server-verify none' in global";
            return nullptr;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    if (o.ca_file == "@system-ca") {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            error = "ca-file @system-ca: cannot load the system's CA store: " + take_errors();
            return nullptr;
        }
    } else if (!o.ca_file.empty() && SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1) {
        error = "cannot load CA file '" + o.ca_file + "': " + take_errors();
        return nullptr;
    }
    if (!o.crl_file.empty()) {
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP* lk = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (!lk || X509_load_crl_file(lk, o.crl_file.c_str(), X509_FILETYPE_PEM) <= 0) {
            error = "cannot load CRL file '" + o.crl_file + "': " + take_errors();
            return nullptr;
        }
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }
    if (!o.crt.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx, o.crt.c_str()) != 1) {
            error = "cannot load client certificate '" + o.crt + "': " + take_errors();
            return nullptr;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o.crt.c_str(), SSL_FILETYPE_PEM) != 1 &&
            SSL_CTX_use_PrivateKey_file(ctx, (o.crt + ".key").c_str(), SSL_FILETYPE_PEM) != 1) {
            ERR_clear_error();
            error = "client certificate '" + o.crt + "' has no usable private key (neither in the file nor in '" +
                    o.crt + ".key')";
            return nullptr;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            ERR_clear_error();
            error = "client certificate '" + o.crt + "': the private key does not match the certificate";
            return nullptr;
        }
    }
    std::string wire;
    for (const std::string& p : o.alpn) {
        if (p != "http/1.1" && p != "http/1.0") {
            if (p == "h2")
                warnings.push_back("alpn 'h2' towards a server: edgeshard speaks HTTP/1.1 to servers, h2 is not offered");
            else {
                error = "alpn '" + p + "': edgeshard speaks only http/1.1 to servers";
                return nullptr;
            }
            continue;
        }
        wire += char(p.size());
        wire += p;
    }
    if (!wire.empty() &&
        SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()), unsigned(wire.size())) != 0) {
        error = "alpn: " + take_errors();
        return nullptr;
    }
    // the server's last session, for the next connection (resumption costs it no key exchange);
    // OpenSSL keeps none itself
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    return u;
}

}  // namespace es::tls
