// tls::Conn: OpenSSL over the connection's own byte buffers, driven by the shard (see conn.hpp).
#include "edgeshard/tls/conn.hpp"

#include <openssl/err.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "ktls_track.hpp"
#include "seal.hpp"

namespace es::tls {

// OpenSSL's message callback on connections that track their records (defined below).
struct SealGlue {
    static void message(int write_p, int version, int type, const void* buf, std::size_t len, SSL* ssl, void* arg);
};

// The BIO between OpenSSL and a Conn's buffers: reads take from `in_` (an empty buffer is "retry
// later", never end of file), writes append to `out_` (always whole).
struct BioGlue {
    static SSL* attach(SSL_CTX* ctx, Conn* c);
    static BIO_METHOD* method() {
        static BIO_METHOD* m = [] {
            BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "edgeshard-tls");
            BIO_meth_set_write_ex(bm, write);
            BIO_meth_set_read_ex(bm, read);
            BIO_meth_set_ctrl(bm, ctrl);
            BIO_meth_set_create(bm, [](BIO* b) {
                BIO_set_init(b, 1);
                return 1;
            });
            return bm;
        }();
        return m;
    }
    static int write(BIO* b, const char* p, std::size_t n, std::size_t* done) {
        BIO_clear_retry_flags(b);
        auto* c = static_cast<Conn*>(BIO_get_data(b));
        if (c->seal_) {
            // sealing directly: OpenSSL's sequence numbers are behind, nothing it seals may reach
            // the peer (the alerts it sends are sealed again by SealGlue::message)
            *done = n;
            return 1;
        }
        std::size_t k = 0;
        if (c->win_ && c->out_.size() == 0) {  // in order: only while nothing waits in out_
            k = std::min(n, c->win_cap_ - c->win_used_);
            std::memcpy(c->win_ + c->win_used_, p, k);
            c->win_used_ += k;
        }
        if (k < n && !c->out_.append(p + k, n - k)) return 0;
        if (c->kt_) c->kt_->out.feed(p, n);
        *done = n;
        return 1;
    }
    static int read(BIO* b, char* p, std::size_t n, std::size_t* done) {
        BIO_clear_retry_flags(b);
        auto* c = static_cast<Conn*>(BIO_get_data(b));
        if (c->in_.size() > 0) {
            *done = c->in_.take(p, n);
        } else if (c->lent_n_ > 0) {
            *done = std::min(n, c->lent_n_);
            std::memcpy(p, c->lent_, *done);
            c->lent_ += *done;
            c->lent_n_ -= *done;
        } else {
            BIO_set_retry_read(b);
            *done = 0;
            return 0;
        }
        if (c->kt_ && c->ktls_bind_) c->kt_->in.feed(p, *done);  // receive counts: kernel TLS only
        return 1;
    }
    static long ctrl(BIO* b, int cmd, long /*num*/, void* /*ptr*/) {
        auto* c = static_cast<Conn*>(BIO_get_data(b));
        switch (cmd) {
            case BIO_CTRL_FLUSH: return 1;
            case BIO_CTRL_PENDING: return long(c->in_.size() + c->lent_n_);
            case BIO_CTRL_WPENDING: return long(c->out_.size());
            default: return 0;
        }
    }
};

bool Conn::Bytes::append(const char* src, std::size_t n) {
    char* at = reserve(n);
    if (!at) return false;
    std::memcpy(at, src, n);
    len += n;
    return true;
}

char* Conn::Bytes::reserve(std::size_t n) {
    if (off == len) off = len = 0;  // empty: rewind
    if (len + n > cap) {
        if (off > 0) {  // the front was consumed: slide what is left down first
            std::memmove(p, p + off, len - off);
            len -= off;
            off = 0;
        }
        if (len + n > cap) {
            std::size_t want = cap ? cap : 16384;
            while (want < len + n) want *= 2;
            char* np = static_cast<char*>(std::realloc(p, want));
            if (!np) return nullptr;
            p = np;
            cap = want;
        }
    }
    return p + len;
}

std::size_t Conn::Bytes::take(char* dst, std::size_t n) {
    n = std::min(n, size());
    std::memcpy(dst, p + off, n);
    off += n;
    if (off == len) off = len = 0;
    return n;
}

void Conn::Bytes::release() {
    if (size() != 0) return;
    std::free(p);
    p = nullptr;
    cap = off = len = 0;
}

Conn::Bytes::~Bytes() {
    std::free(p);
}

void Conn::trim() {
    in_.release();
    out_.release();
    if (ssl_) SSL_free_buffers(ssl_);  // OpenSSL's record buffers too, when they are empty
}

// A connection on `ctx` whose records go through `c`'s buffers; null when out of memory.
SSL* BioGlue::attach(SSL_CTX* ctx, Conn* c) {
    SSL* ssl = SSL_new(ctx);
    if (!ssl) return nullptr;
    BIO* bio = BIO_new(method());
    if (!bio) {
        SSL_free(ssl);
        return nullptr;
    }
    BIO_set_data(bio, c);
    SSL_set_bio(ssl, bio, bio);  // one BIO both ways: SSL owns it (one reference)
    return ssl;
}

Conn::Conn(const BindTls& bind) {
    SSL* ssl = BioGlue::attach(bind.default_ctx(), this);
    if (!ssl) return;
    SSL_set_accept_state(ssl);
    SSL_set_app_data(ssl, this);  // the verification callback finds the connection here
    if (bind.tracks()) kt_ = std::make_unique<KtlsTrack>();  // the keylog callback fills it
    // kernel TLS must know of a client KeyUpdate from the start; direct sealing installs the
    // callback when it starts (a call per record is not paid before)
    if (bind.ktls()) SSL_set_msg_callback(ssl, SealGlue::message);
    direct_tried_ = !bind.direct_seal();
    ktls_bind_ = bind.ktls();
    ssl_ = ssl;
}

Conn::Conn(const Upstream& up, std::string_view sni) : direct_tried_(true), to_server_(true) {
    SSL* ssl = BioGlue::attach(up.ctx(), this);
    if (!ssl) return;
    SSL_set_connect_state(ssl);
    const std::string name(sni);
    if (!name.empty()) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (up.verify()) {
        const std::string& host = name.empty() ? up.verifyhost() : name;
        if (!host.empty()) SSL_set1_host(ssl, host.c_str());
    }
    if (SSL_SESSION* s = up.session()) SSL_set_session(ssl, s);
    ssl_ = ssl;
}

Conn::~Conn() {
    // OpenSSL drops a session from the cache when its connection is freed without a close_notify
    // sent; a client that simply closes its socket has done nothing wrong, so an established,
    // healthy connection is marked closed first and its session stays resumable (a fatal error
    // already made it unresumable)
    if (ssl_ && established_ && !failed_) SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);
}

void Conn::feed(const char* p, std::size_t n) {
    if (!in_.append(p, n)) {
        failed_ = true;
        error_ = "out of memory for received records";
    }
}

// The BIO reads in_ (older bytes: a partial record) first, then the lent bytes, so a lend needs no
// copy while bytes wait; what OpenSSL leaves of the lent ones joins in_ (then empty) at unlend().
void Conn::lend(const char* p, std::size_t n) {
    if (lent_n_ > 0) unlend();  // (a lend not given back: its bytes go first)
    lent_ = p;
    lent_n_ = n;
}

void Conn::unlend() {
    const char* p = lent_;
    const std::size_t n = lent_n_;
    lent_ = nullptr;
    lent_n_ = 0;
    if (n > 0) feed(p, n);
}

void Conn::fail(const char* where, int ret) {
    failed_ = true;
    const int e = SSL_get_error(ssl_, ret);
    std::string why = take_errors();
    if (why.empty()) why = e == SSL_ERROR_SYSCALL ? "unexpected end of records" : "SSL error " + std::to_string(e);
    if (to_server_) {
        const long v = SSL_get_verify_result(ssl_);
        if (v != X509_V_OK) why += std::string(" (server certificate: ") + X509_verify_cert_error_string(v) + ")";
    }
    error_ = std::string(where) + ": " + why;
}

Conn::Step Conn::handshake() {
    if (failed_) return Step::Error;
    if (established_) return Step::Done;
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        settle();
        return Step::Done;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Step::More;
    fail("handshake", r);
    return Step::Error;
}

std::size_t Conn::read(char* dst, std::size_t cap) {
    if (failed_ || peer_closed_ || offloaded_ || cap == 0) return 0;
    // the error queue is kept empty (fail() takes what an error left), so SSL_get_error can be
    // trusted without clearing it before every call: a clear costs a thread-local lookup per record
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, dst, cap, &got);
    if (r == 1) {
        if (!established_ && SSL_is_init_finished(ssl_)) settle();
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
    if (failed_ || offloaded_) return false;
    if (seal_) {
        while (n > 0) {
            const std::size_t k = std::min(n, Sealer::kMaxPlain);
            if (!seal_record(23, p, k)) return false;
            p += k;
            n -= k;
        }
        return true;
    }
    while (n > 0) {
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
    return out_.size();
}

std::size_t Conn::buffered_in() const {
    return in_.size() + lent_n_;
}

std::size_t Conn::take_out(char* dst, std::size_t cap) {
    return out_.take(dst, cap);
}

void Conn::close() {
    if (closed_ || !ssl_ || failed_ || offloaded_) return;
    closed_ = true;
    if (!established_) return;  // nothing to say to a peer that never finished its handshake
    if (seal_) {
        static const char kCloseNotify[2] = {1, 0};  // warning, close_notify
        if (seal_record(21, kCloseNotify, sizeof kCloseNotify))
            SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_SENT_SHUTDOWN);
        return;
    }
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify; the peer's is not waited for
    ERR_clear_error();
}

void Conn::settle() {
    established_ = true;
    Facts& f = facts_;
    f.protocol = SSL_get_version(ssl_);
    if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl_)) f.cipher = SSL_CIPHER_get_name(c);
    if (const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) f.sni = sni;
    const unsigned char* a = nullptr;
    unsigned alen = 0;
    SSL_get0_alpn_selected(ssl_, &a, &alen);
    if (a && alen) f.alpn = std::string_view(reinterpret_cast<const char*>(a), alen);
    // client certificates: computed here once, and only where the bind asks for them
    if (!to_server_ && (SSL_get_verify_mode(ssl_) & SSL_VERIFY_PEER)) {
        if (ClientCert* cc = client_facts()) {
            client_cert_facts(ssl_, *cc);
            f.client = cc;
        }
    }
}

// OpenSSL's messages on a connection that tracks its records (kernel TLS, direct sealing):
//  - a TLS 1.3 KeyUpdate from the peer: the record counts no longer give the kernel its receive key
//    (offload() refuses), and one with update_requested asks a sealing connection for its own;
//  - while sealing directly: an alert OpenSSL sends is sealed again in this end's stream (its own
//    record was dropped by the BIO), a handshake message it would send cannot be (none is expected:
//    renegotiation is refused, and its answer to a key update request is dropped: it is answered
//    here).
void SealGlue::message(int write_p, int /*version*/, int type, const void* buf, std::size_t len, SSL* ssl,
                       void* /*arg*/) {
    auto* c = static_cast<Conn*>(BIO_get_data(SSL_get_rbio(ssl)));
    if (!c) return;
    const auto* b = static_cast<const unsigned char*>(buf);
    if (!write_p && type == SSL3_RT_HANDSHAKE && len >= 1 && b[0] == SSL3_MT_KEY_UPDATE && c->kt_)
        c->kt_->key_update = true;
    if (!c->seal_) return;
    if (write_p) {
        if (type == SSL3_RT_ALERT && len == 2) {
            (void)c->seal_record(21, static_cast<const char*>(buf), 2);
        } else if (type == SSL3_RT_HANDSHAKE && len >= 1 && b[0] == SSL3_MT_KEY_UPDATE) {
            // OpenSSL answering a key update request itself (it may, inside SSL_read): the
            // answer is sealed here (request_update above), its own is dropped
        } else if (type == SSL3_RT_HANDSHAKE && !c->failed_) {
            c->failed_ = true;
            c->error_ = "write: a handshake message after the handshake (not sent)";
        }
    } else if (type == SSL3_RT_HANDSHAKE && len >= 5 && b[0] == SSL3_MT_KEY_UPDATE &&
               b[4] == SSL_KEY_UPDATE_REQUESTED) {
        c->seal_->request_update();
    }
}

bool Conn::direct() {
    if (seal_) return true;
    if (direct_tried_ || !established_ || failed_ || closed_ || offloaded_) return false;
    direct_tried_ = true;
    KtlsKeys k;
    std::string why;
    if (derive_keys(k, why, true)) {
        const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
        const char* md = EVP_MD_get0_name(SSL_CIPHER_get_handshake_digest(c));
        auto s = std::unique_ptr<Sealer>(new (std::nothrow) Sealer());
        if (s && s->init(k, md, kt_->server_secret, kt_->server_len)) {
            seal_ = std::move(s);
            SSL_set_msg_callback(ssl_, SealGlue::message);
        }
    }
    kt_.reset();  // the counts and secrets are of no more use (kernel TLS was decided before)
    return seal_ != nullptr;
}

bool Conn::seal_record(std::uint8_t type, const char* p, std::size_t n) {
    if (failed_) return false;
    char* at = out_.reserve(seal_->room_needed(n));
    const std::size_t r = at ? seal_->seal(type, p, n, at) : 0;
    if (r == 0) {
        failed_ = true;
        error_ = at ? "write: sealing a record failed" : "write: out of memory for records";
        return false;
    }
    out_.len += r;
    return true;
}

std::size_t Conn::seal_into(const char* p, std::size_t n, char* dst, std::size_t cap, std::size_t& used) {
    // at a block's end a shorter record fills the rest, down to this much plaintext: below it the
    // per-record cost (header, tag, a cipher call) outweighs a fuller block
    constexpr std::size_t kMinPiece = 4096;
    std::size_t taken = 0;
    while (n > 0 && !failed_) {
        const std::size_t room = cap - used;
        std::size_t k = std::min(n, Sealer::kMaxPlain);
        const std::size_t need = seal_->room_needed(k);
        if (need > room) {
            const std::size_t fixed = seal_->room_needed(0);
            if (room <= fixed + kMinPiece) break;
            k = room - fixed;
        }
        const std::size_t r = seal_->seal(23, p, k, dst + used);
        if (r == 0) {
            failed_ = true;
            error_ = "write: sealing a record failed";
            break;
        }
        used += r;
        p += k;
        n -= k;
        taken += k;
    }
    return taken;
}

ClientCert* Conn::client_facts() {
    if (!client_) client_.reset(new (std::nothrow) ClientCert());
    return client_.get();
}

}  // namespace es::tls
