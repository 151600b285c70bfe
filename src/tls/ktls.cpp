// Kernel TLS: secrets captured during the handshake, keys derived as RFC 8446 7.3 (TLS 1.3) and
// RFC 5246 6.3 / RFC 5288 (TLS 1.2 AES-GCM) say, and installed as linux/tls.h describes (see
// ktls.hpp).
#include "edgeshard/tls/ktls.hpp"

#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include <cerrno>
#include <cstring>

#include "edgeshard/tls/conn.hpp"
#include "ktls_track.hpp"

namespace es::tls {

KtlsKeys::~KtlsKeys() {
    OPENSSL_cleanse(this, sizeof *this);
}

KtlsTrack::~KtlsTrack() {
    OPENSSL_cleanse(client_secret, sizeof client_secret);
    OPENSSL_cleanse(server_secret, sizeof server_secret);
}

namespace {

int unhex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "<hex>" into out (at most cap bytes); the number of bytes, 0 when malformed or too long
std::size_t from_hex(const char* p, const char* end, unsigned char* out, std::size_t cap) {
    const std::size_t n = std::size_t(end - p);
    if (n == 0 || n % 2 != 0 || n / 2 > cap) return 0;
    for (std::size_t i = 0; i < n / 2; ++i) {
        const int hi = unhex(p[2 * i]), lo = unhex(p[2 * i + 1]);
        if (hi < 0 || lo < 0) return 0;
        out[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    return n / 2;
}

void put_be64(unsigned char* p, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        p[i] = static_cast<unsigned char>(v);
        v >>= 8;
    }
}

// TLS 1.2's PRF(master_secret, "key expansion", server_random + client_random) of RFC 5246 6.3
bool key_block(const char* md, const unsigned char* master, std::size_t master_len, const unsigned char* seed,
               std::size_t seed_len, unsigned char* out, std::size_t len) {
    static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "TLS1-PRF", nullptr);
    EVP_KDF_CTX* k = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
    if (!k) return false;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, const_cast<unsigned char*>(master),
                                          master_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, const_cast<unsigned char*>(seed), seed_len),
        OSSL_PARAM_construct_end(),
    };
    const bool ok = EVP_KDF_derive(k, out, len, params) == 1;
    EVP_KDF_CTX_free(k);
    return ok;
}

// One direction's crypto_info for setsockopt(SOL_TLS, TLS_TX / TLS_RX).
union CryptoInfo {
    tls12_crypto_info_aes_gcm_128 g128;
    tls12_crypto_info_aes_gcm_256 g256;
    tls12_crypto_info_chacha20_poly1305 cc;
};

// AES-GCM: the 4-byte implicit nonce (salt) then the 8 explicit bytes of the iv.
template <typename Gcm>
socklen_t fill_gcm(Gcm& g, const KtlsKeys& k, const KtlsDir& d) {
    g.info.version = k.version;
    g.info.cipher_type = k.cipher;
    std::memcpy(g.key, d.key, sizeof g.key);
    std::memcpy(g.salt, d.iv, sizeof g.salt);
    std::memcpy(g.iv, d.iv + 4, sizeof g.iv);
    put_be64(g.rec_seq, d.seq);
    return sizeof g;
}

socklen_t fill(CryptoInfo& ci, const KtlsKeys& k, const KtlsDir& d) {
    std::memset(&ci, 0, sizeof ci);
    switch (k.cipher) {
        case TLS_CIPHER_AES_GCM_128: return fill_gcm(ci.g128, k, d);
        case TLS_CIPHER_AES_GCM_256: return fill_gcm(ci.g256, k, d);
        default:
            ci.cc.info.version = k.version;
            ci.cc.info.cipher_type = k.cipher;
            std::memcpy(ci.cc.key, d.key, sizeof ci.cc.key);
            std::memcpy(ci.cc.iv, d.iv, sizeof ci.cc.iv);
            put_be64(ci.cc.rec_seq, d.seq);
            return sizeof ci.cc;
    }
}

std::string errno_text(const char* what, int e) {
    std::string s = std::string(what) + ": " + std::strerror(e);
    if (e == ENOENT) s += " (this kernel has no TLS upper-layer protocol: CONFIG_TLS, module tls)";
    return s;
}

}  // namespace

// HKDF-Expand-Label(secret, label, "", len) of RFC 8446 7.1, with OpenSSL's TLS 1.3 KDF
bool hkdf_expand_label(const char* md, const unsigned char* secret, std::size_t secret_len, const char* label,
                  unsigned char* out, std::size_t len) {
    // The KDF is fetched once for the process, and each thread keeps a context per digest with
    // the digest and mode set: a fetch (of the KDF, or of the digest named in a parameter) searches
    // the provider's tables under a lock, and direct sealing derives keys on every connection.
    static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "TLS13-KDF", nullptr);
    struct Cached {
        std::string md;
        EVP_KDF_CTX* k = nullptr;
        ~Cached() { EVP_KDF_CTX_free(k); }  // wipes the last key
    };
    thread_local Cached cache[2];  // SHA256 and SHA384 suites
    Cached& c = std::strcmp(md, cache[0].md.c_str()) == 0 || cache[0].md.empty() ? cache[0] : cache[1];
    if (!kdf) return false;
    if (c.md != md) {
        EVP_KDF_CTX_free(c.k);
        c.md.clear();
        c.k = EVP_KDF_CTX_new(kdf);
        int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
        static const char kPrefix[] = "tls13 ";
        const OSSL_PARAM fixed[] = {
            OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md), 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, const_cast<char*>(kPrefix), sizeof kPrefix - 1),
            OSSL_PARAM_construct_end(),
        };
        if (!c.k || EVP_KDF_CTX_set_params(c.k, fixed) != 1) return false;
        c.md = md;
    }
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(secret), secret_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, const_cast<char*>(label), std::strlen(label)),
        OSSL_PARAM_construct_end(),
    };
    return EVP_KDF_derive(c.k, out, len, params) == 1;
}

// Reaches into Conn for the keylog callback (a friend of Conn).
struct KtlsGlue {
    // "LABEL <client random> <secret>", once per secret (OpenSSL's NSS key log format). The server
    // derives CLIENT_TRAFFIC_SECRET_0 when the client's Finished arrives: the record counts then
    // mark where each direction's application keys begin.
    static void keylog(const SSL* ssl, const char* line) {
        auto* c = static_cast<Conn*>(BIO_get_data(SSL_get_rbio(ssl)));
        if (!c || !c->kt_) return;
        KtlsTrack& t = *c->kt_;
        const char* sp1 = std::strchr(line, ' ');
        const char* sp2 = sp1 ? std::strchr(sp1 + 1, ' ') : nullptr;
        if (!sp2) return;
        const std::string_view label(line, std::size_t(sp1 - line));
        const char* end = sp2 + 1 + std::strlen(sp2 + 1);
        if (label == "SERVER_TRAFFIC_SECRET_0") {
            t.server_len = from_hex(sp2 + 1, end, t.server_secret, sizeof t.server_secret);
        } else if (label == "CLIENT_TRAFFIC_SECRET_0") {
            t.client_len = from_hex(sp2 + 1, end, t.client_secret, sizeof t.client_secret);
            t.marked = true;
            t.out_mark = t.out.records;
            t.in_mark = t.in.records;
        }
    }
};

void BindTls::capture_secrets() {
    for (Cert& c : certs_) SSL_CTX_set_keylog_callback(c.ctx, KtlsGlue::keylog);
}

void BindTls::enable_ktls() {
    ktls_ = true;
    capture_secrets();
}

bool Conn::ktls_keys(KtlsKeys& k, std::string& why) const {
    return derive_keys(k, why, false);
}

// Both directions for the kernel; TX alone (tx_only) for direct sealing, which leaves receiving to
// OpenSSL: then records read already do not matter.
bool Conn::derive_keys(KtlsKeys& k, std::string& why, bool tx_only) const {
    if (!tx_only && !ktls_bind_) {
        why = to_server_ ? "connections to servers are not offloaded" : "kernel TLS is off for this bind";
        return false;
    }
    if (!kt_) {
        why = seal_ ? "records are sealed directly in user space already" : "the secrets were not kept";
        return false;
    }
    if (!established_ || failed_ || closed_ || peer_closed_) {
        why = !established_ ? "the handshake is not complete" : "the connection is closing or failed";
        return false;
    }
    if (!tx_only && (buffered_in() > 0 || SSL_has_pending(ssl_))) {
        why = "received records are buffered in user space (the kernel would never see them)";
        return false;
    }
    const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
    const EVP_MD* md = c ? SSL_CIPHER_get_handshake_digest(c) : nullptr;
    if (!md) {
        why = "no cipher";
        return false;
    }
    const char* md_name = EVP_MD_get0_name(md);
    const int ver = SSL_version(ssl_);
    if (ver == TLS1_3_VERSION) {
        k.version = TLS_1_3_VERSION;
        switch (SSL_CIPHER_get_protocol_id(c)) {
            case 0x1301:
                k.cipher = TLS_CIPHER_AES_GCM_128, k.key_len = 16;
                break;
            case 0x1302:
                k.cipher = TLS_CIPHER_AES_GCM_256, k.key_len = 32;
                break;
            case 0x1303:
                k.cipher = TLS_CIPHER_CHACHA20_POLY1305, k.key_len = 32;
                break;
            default:
                why = std::string("cipher ") + SSL_CIPHER_get_name(c) + " is not offloaded";
                return false;
        }
        const KtlsTrack& t = *kt_;
        if (!t.marked || t.client_len == 0 || t.server_len == 0) {
            why = "the handshake's traffic secrets were not captured";
            return false;
        }
        if (!tx_only && t.key_update) {
            why = "the client updated its key (KeyUpdate): the record count no longer gives the kernel its key";
            return false;
        }
        k.tx.seq = t.out.records - t.out_mark;  // session tickets and anything written since
        k.rx.seq = t.in.records - t.in_mark;    // the client's records read already (its request, often)
        if (!hkdf_expand_label(md_name, t.server_secret, t.server_len, "key", k.tx.key, k.key_len) ||
            !hkdf_expand_label(md_name, t.server_secret, t.server_len, "iv", k.tx.iv, 12) ||
            (!tx_only && (!hkdf_expand_label(md_name, t.client_secret, t.client_len, "key", k.rx.key, k.key_len) ||
                          !hkdf_expand_label(md_name, t.client_secret, t.client_len, "iv", k.rx.iv, 12)))) {
            why = "TLS 1.3 key derivation failed";
            return false;
        }
        return true;
    }
    if (ver != TLS1_2_VERSION) {
        why = std::string(SSL_get_version(ssl_)) + " is not offloaded";
        return false;
    }
    k.version = TLS_1_2_VERSION;
    switch (SSL_CIPHER_get_cipher_nid(c)) {
        case NID_aes_128_gcm:
            k.cipher = TLS_CIPHER_AES_GCM_128, k.key_len = 16;
            break;
        case NID_aes_256_gcm:
            k.cipher = TLS_CIPHER_AES_GCM_256, k.key_len = 32;
            break;
        default:
            why = std::string("TLS 1.2 cipher ") + SSL_CIPHER_get_name(c) +
                  " is not offloaded (AES-GCM suites only)";
            return false;
    }
    // the master secret is the session's (OpenSSL gives it out); the key block holds, for an AEAD
    // suite, no MAC keys, then client_write_key, server_write_key, client and server 4-byte salts
    unsigned char master[48];
    const std::size_t mlen = SSL_SESSION_get_master_key(SSL_get_session(ssl_), master, sizeof master);
    unsigned char seed[13 + 2 * SSL3_RANDOM_SIZE];
    std::memcpy(seed, "key expansion", 13);
    SSL_get_server_random(ssl_, seed + 13, SSL3_RANDOM_SIZE);
    SSL_get_client_random(ssl_, seed + 13 + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE);
    unsigned char kb[2 * 32 + 2 * 4];
    const std::size_t kl = k.key_len;
    const bool ok = mlen > 0 && key_block(md_name, master, mlen, seed, sizeof seed, kb, 2 * kl + 8);
    OPENSSL_cleanse(master, sizeof master);
    if (!ok) {
        OPENSSL_cleanse(kb, sizeof kb);
        why = "TLS 1.2 key derivation failed";
        return false;
    }
    std::memcpy(k.rx.key, kb, kl);
    std::memcpy(k.tx.key, kb + kl, kl);
    std::memcpy(k.rx.iv, kb + 2 * kl, 4);
    std::memcpy(k.tx.iv, kb + 2 * kl + 4, 4);
    OPENSSL_cleanse(kb, sizeof kb);
    // no key changes after the handshake in TLS 1.2 (renegotiation is refused): the counts since
    // each side's change_cipher_spec are the sequence numbers (the Finished messages were 0)
    k.tx.seq = kt_->out.after_ccs;
    k.rx.seq = kt_->in.after_ccs;
    put_be64(k.tx.iv + 4, k.tx.seq);  // the first explicit nonce: unique per key, as the sequence is
    put_be64(k.rx.iv + 4, k.rx.seq);  // (not used on receive: each record carries its own)
    return true;
}

Offload Conn::offload(int fd, std::string& why) {
    if (offloaded_) return Offload::Done;
    if (out_.size() > 0) {
        why = "records wait to be sent";
        return Offload::Later;
    }
    KtlsKeys k;
    if (!ktls_keys(k, why)) return Offload::Unsupported;
    if (::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", 3) != 0) {
        why = errno_text("TCP_ULP \"tls\"", errno);
        return Offload::Unsupported;
    }
    // TX first: when the kernel refuses it the upper layer stays in its pass-through state and the
    // socket carries user-space records as before
    CryptoInfo ci;
    socklen_t len = fill(ci, k, k.tx);
    int r = ::setsockopt(fd, SOL_TLS, TLS_TX, &ci, len);
    const int etx = errno;
    if (r != 0) {
        OPENSSL_cleanse(&ci, sizeof ci);
        why = errno_text("TLS_TX", etx);
        return Offload::Unsupported;
    }
    len = fill(ci, k, k.rx);
    r = ::setsockopt(fd, SOL_TLS, TLS_RX, &ci, len);
    const int erx = errno;
    OPENSSL_cleanse(&ci, sizeof ci);
    offloaded_ = true;  // records are the kernel's from here on, whatever RX says
    kt_.reset();
    if (r != 0) {
        why = errno_text("TLS_RX (after TLS_TX was accepted)", erx);
        return Offload::Failed;
    }
    return Offload::Done;
}

KtlsSupport probe_ktls() {
    KtlsSupport s;
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int afd = -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (lfd >= 0 && cfd >= 0 && ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::listen(lfd, 1) == 0 && ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen) == 0 &&
        ::connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
        afd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (afd < 0) {
        // no loopback: an unconnected socket still tells whether the upper layer exists
        // (ENOTCONN when it does, loading its module if needed; ENOENT when it does not)
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        s.ulp = fd >= 0 && (::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", 3) == 0 || errno == ENOTCONN);
        if (fd >= 0) ::close(fd);
        s.detail = s.ulp ? "TCP_ULP \"tls\" exists; TX/RX not probed (no loopback connection)"
                         : "no TCP_ULP \"tls\" in this kernel";
    } else if (::setsockopt(cfd, SOL_TCP, TCP_ULP, "tls", 3) != 0) {
        s.detail =
            errno == ENOENT ? "no TCP_ULP \"tls\" in this kernel" : errno_text("TCP_ULP \"tls\"", errno);
    } else {
        s.ulp = true;
        tls12_crypto_info_aes_gcm_128 ci{};  // a throw-away zero key on a connection no record crosses
        ci.info.version = TLS_1_3_VERSION;
        ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
        s.tx = ::setsockopt(cfd, SOL_TLS, TLS_TX, &ci, sizeof ci) == 0;
        if (!s.tx) s.detail = errno_text("TLS_TX refused", errno);
        s.rx = ::setsockopt(cfd, SOL_TLS, TLS_RX, &ci, sizeof ci) == 0;
        if (!s.rx) s.detail += (s.detail.empty() ? "" : "; ") + errno_text("TLS_RX refused", errno);
    }
    for (int fd : {lfd, cfd, afd})
        if (fd >= 0) ::close(fd);
    return s;
}

bool ktls_send_close_notify(int fd) {
    unsigned char alert[2] = {1, 0};  // warning, close_notify
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(unsigned char))] = {};
    iovec iov{alert, sizeof alert};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_TLS;
    c->cmsg_type = TLS_SET_RECORD_TYPE;
    c->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *CMSG_DATA(c) = 21;  // alert
    return ::sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == ssize_t(sizeof alert);
}

const KtlsSupport& ktls_support() {
    static const KtlsSupport k = probe_ktls();
    return k;
}

}  // namespace es::tls
