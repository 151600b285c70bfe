// tls::Conn: OpenSSL over memory BIOs, driven by the shard (see conn.hpp).
#include "edgeshard/tls/conn.hpp"

#include <openssl/err.h>

#include <climits>

namespace es::tls {

Conn::Conn(const BindTls& bind) {
    SSL* ssl = SSL_new(bind.default_ctx());
    if (!ssl) return;
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    if (!in_ || !out_) {
        BIO_free(in_);
        BIO_free(out_);
        in_ = out_ = nullptr;
        SSL_free(ssl);
        return;
    }
    // an empty input BIO means "no more for now", not end of file
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl, in_, out_);
    SSL_set_accept_state(ssl);
    ssl_ = ssl;
}

Conn::~Conn() {
    SSL_free(ssl_);  // frees both BIOs
}

void Conn::feed(const char* p, std::size_t n) {
    while (n > 0) {
        const int chunk = n > std::size_t(INT_MAX) ? INT_MAX : int(n);
        const int w = BIO_write(in_, p, chunk);
        if (w <= 0) {
            failed_ = true;
            error_ = "out of memory for received records";
            return;
        }
        p += w;
        n -= std::size_t(w);
    }
}

void Conn::fail(const char* where, int ret) {
    failed_ = true;
    const int e = SSL_get_error(ssl_, ret);
    std::string why = take_errors();
    if (why.empty()) why = e == SSL_ERROR_SYSCALL ? "unexpected end of records" : "SSL error " + std::to_string(e);
    error_ = std::string(where) + ": " + why;
}

Conn::Step Conn::handshake() {
    if (failed_) return Step::Error;
    if (established_) return Step::Done;
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        established_ = true;
        return Step::Done;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Step::More;
    fail("handshake", r);
    return Step::Error;
}

std::size_t Conn::read(char* dst, std::size_t cap) {
    if (failed_ || peer_closed_ || cap == 0) return 0;
    ERR_clear_error();
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, dst, cap, &got);
    if (r == 1) {
        if (!established_ && SSL_is_init_finished(ssl_)) established_ = true;
        return got;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        peer_closed_ = true;  // close_notify
        return 0;
    }
    fail("read", r);
    return 0;
}

bool Conn::write(const char* p, std::size_t n) {
    if (failed_) return false;
    while (n > 0) {
        ERR_clear_error();
        std::size_t done = 0;
        const int r = SSL_write_ex(ssl_, p, n, &done);
        if (r != 1) {
            fail("write", r);  // a memory BIO never refuses bytes: anything else is fatal
            return false;
        }
        p += done;
        n -= done;
    }
    return true;
}

std::size_t Conn::pending_out() const {
    return out_ ? std::size_t(BIO_ctrl_pending(out_)) : 0;
}

std::size_t Conn::buffered_in() const {
    return in_ ? std::size_t(BIO_ctrl_pending(in_)) : 0;
}

std::size_t Conn::take_out(char* dst, std::size_t cap) {
    const std::size_t n = std::min(cap, pending_out());
    if (n == 0) return 0;
    const int r = BIO_read(out_, dst, int(std::min<std::size_t>(n, INT_MAX)));
    return r > 0 ? std::size_t(r) : 0;
}

void Conn::close() {
    if (closed_ || !ssl_ || failed_) return;
    closed_ = true;
    if (!established_) return;  // nothing to say to a peer that never finished its handshake
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify; the peer's is not waited for
    ERR_clear_error();
}

Facts Conn::facts() const {
    Facts f;
    if (!ssl_) return f;
    f.protocol = SSL_get_version(ssl_);
    if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl_)) f.cipher = SSL_CIPHER_get_name(c);
    if (const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) f.sni = sni;
    const unsigned char* a = nullptr;
    unsigned alen = 0;
    SSL_get0_alpn_selected(ssl_, &a, &alen);
    if (a && alen) f.alpn = std::string_view(reinterpret_cast<const char*>(a), alen);
    return f;
}

}  // namespace es::tls
