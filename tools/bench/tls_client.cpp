// TLS for the http client: OpenSSL over two memory BIOs per connection (see tls_client.hpp).
#include "tls_client.hpp"

#include <openssl/err.h>

#include <algorithm>
#include <stdexcept>

#include "common.hpp"
#include "edgeshard/tls/context.hpp"

namespace es::bench {

namespace {

using tls::take_errors;  // OpenSSL's error queue as text (the tls room's)

// "h2,http/1.1" in ALPN's wire format (each name prefixed by its length)
std::string alpn_wire(const std::string& list) {
    std::string w;
    std::size_t i = 0;
    while (i <= list.size()) {
        std::size_t j = list.find(',', i);
        if (j == std::string::npos) j = list.size();
        const std::string name = list.substr(i, j - i);
        if (name.empty() || name.size() > 255)
            throw UsageError("--alpn: protocol names of 1 to 255 bytes, got '" + list + "'");
        w += char(name.size());
        w += name;
        i = j + 1;
    }
    return w;
}

}  // namespace

TlsClientCtx::TlsClientCtx(const Settings& s, unsigned connections)
    : keep_(std::min(std::max(2 * connections, 2u), 256u)), sni_(s.sni), resume_(s.tls_resume) {
    sessions_.reserve(keep_);
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + take_errors());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_options(ctx_, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    int v = 0;
    if (s.tls_version == "1.2") v = TLS1_2_VERSION;
    if (s.tls_version == "1.3") v = TLS1_3_VERSION;
    if (v && (!SSL_CTX_set_min_proto_version(ctx_, v) || !SSL_CTX_set_max_proto_version(ctx_, v))) {
        SSL_CTX_free(ctx_);
        throw std::runtime_error("--tls-version " + s.tls_version + ": not supported by this OpenSSL");
    }
    auto refuse = [&](const std::string& what) {
        const std::string e = take_errors();
        SSL_CTX_free(ctx_);
        throw UsageError(what + (e.empty() ? "" : " (" + e + ")"));
    };
    if (!s.ciphers.empty() && !SSL_CTX_set_cipher_list(ctx_, s.ciphers.c_str()))
        refuse("--ciphers: OpenSSL knows none of '" + s.ciphers + "'");
    if (!s.ciphersuites.empty() && !SSL_CTX_set_ciphersuites(ctx_, s.ciphersuites.c_str()))
        refuse("--ciphersuites: OpenSSL refuses '" + s.ciphersuites + "'");
    if (!s.alpn.empty()) {
        std::string w;
        try {
            w = alpn_wire(s.alpn);
        } catch (...) {
            SSL_CTX_free(ctx_);
            throw;
        }
        // returns 0 on success, unlike most of OpenSSL
        const auto* wire = reinterpret_cast<const unsigned char*>(w.data());
        if (SSL_CTX_set_alpn_protos(ctx_, wire, unsigned(w.size())) != 0)
            refuse("--alpn: OpenSSL refuses '" + s.alpn + "'");
    }
    if (resume_) {
        // the client cache mode is what makes OpenSSL call on_new_session; the internal store
        // stays off: this object keeps the one session it offers
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx_, on_new_session);
        SSL_CTX_set_app_data(ctx_, this);
    } else {
        SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    }
}

TlsClientCtx::~TlsClientCtx() {
    for (SSL_SESSION* x : sessions_) SSL_SESSION_free(x);
    SSL_CTX_free(ctx_);
}

int TlsClientCtx::on_new_session(SSL* ssl, SSL_SESSION* sess) {
    auto* self = static_cast<TlsClientCtx*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (!self || !SSL_SESSION_is_resumable(sess)) return 0;
    auto& v = self->sessions_;
    if (v.size() == self->keep_) {  // the oldest goes
        SSL_SESSION_free(v.front());
        v.erase(v.begin());
    }
    v.push_back(sess);
    return 1;  // the reference is ours now
}

SSL* TlsClientCtx::new_ssl() {
    SSL* ssl = SSL_new(ctx_);
    if (!ssl) return nullptr;
    SSL_set_connect_state(ssl);
    if (!sni_.empty()) SSL_set_tlsext_host_name(ssl, sni_.c_str());
    if (resume_) {
        // a TLS 1.3 session is spent once a handshake resumed it (OpenSSL marks it so: tickets
        // are single use); TLS 1.2 sessions stay
        while (!sessions_.empty() && !SSL_SESSION_is_resumable(sessions_.back())) {
            SSL_SESSION_free(sessions_.back());
            sessions_.pop_back();
        }
        if (!sessions_.empty()) SSL_set_session(ssl, sessions_.back());
    }
    return ssl;
}

TlsLink::TlsLink(TlsLink&& o) noexcept
    : ssl_(o.ssl_),
      rbio_(o.rbio_),
      wbio_(o.wbio_),
      out_(std::move(o.out_)),
      out_len_(o.out_len_),
      started_ns_(o.started_ns_),
      established_(o.established_),
      peer_closed_(o.peer_closed_),
      failed_(o.failed_) {
    o.ssl_ = nullptr;
    o.rbio_ = o.wbio_ = nullptr;
    o.out_len_ = 0;
}

bool TlsLink::start(TlsClientCtx& ctx, std::int64_t now_ns) {
    reset();
    ssl_ = ctx.new_ssl();
    if (!ssl_) return false;
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    if (!rbio_ || !wbio_) {
        BIO_free(rbio_);
        BIO_free(wbio_);
        rbio_ = wbio_ = nullptr;
        reset();
        return false;
    }
    // an empty input BIO means "wait for the next receive", not end of file
    BIO_set_mem_eof_return(rbio_, -1);
    SSL_set_bio(ssl_, rbio_, wbio_);
    started_ns_ = now_ns;
    return true;
}

void TlsLink::reset() {
    if (ssl_) {
        if (established_ && !failed_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(ssl_);  // frees both BIOs
    }
    ssl_ = nullptr;
    rbio_ = wbio_ = nullptr;
    out_len_ = 0;
    established_ = peer_closed_ = failed_ = false;
}

bool TlsLink::feed(const char* p, std::size_t n) {
    std::size_t done = 0;
    return BIO_write_ex(rbio_, p, n, &done) == 1 && done == n;
}

TlsLink::Step TlsLink::handshake() {
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        established_ = true;
        return Step::Done;
    }
    const int e = SSL_get_error(ssl_, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? Step::More : Step::Error;
}

long TlsLink::read(char* dst, std::size_t cap) {
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, dst, cap, &got);
    if (r == 1) return long(got);
    switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        peer_closed_ = true;
        return -1;
    default:
        return -1;
    }
}

bool TlsLink::write(const char* p, std::size_t n) {
    std::size_t done = 0;
    // the output BIO grows, so a write never waits: all or a fatal error
    return SSL_write_ex(ssl_, p, n, &done) == 1 && done == n;
}

std::size_t TlsLink::stage() {
    if (out_len_ || !wbio_) return 0;
    const std::size_t n = BIO_ctrl_pending(wbio_);
    if (n == 0) return 0;
    if (out_.size() < n) out_.resize(n);
    std::size_t got = 0;
    if (BIO_read_ex(wbio_, out_.data(), n, &got) != 1) return 0;
    out_len_ = got;
    return got;
}

std::string TlsLink::error(const char* otherwise) {
    std::string e = take_errors();
    return e.empty() ? otherwise : e;
}

}  // namespace es::bench
