// Direct sealing: TLS records made from the data path's plaintext with OpenSSL's AEAD ciphers
// (see seal.hpp).
#include "seal.hpp"

#include <linux/tls.h>
#include <openssl/crypto.h>

#include <atomic>
#include <cstring>

#include "edgeshard/tls/ktls.hpp"
#include "ktls_track.hpp"

namespace es::tls {

std::uint64_t Sealer::rotate_after = std::uint64_t(1) << 23;

namespace {

// The ciphers, fetched once for the process (an implicit fetch at each context would search the
// provider's tables every time).
const EVP_CIPHER* cipher_for(std::uint16_t c) {
    static EVP_CIPHER* g128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
    static EVP_CIPHER* g256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    static EVP_CIPHER* cc = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    switch (c) {
        case TLS_CIPHER_AES_GCM_128: return g128;
        case TLS_CIPHER_AES_GCM_256: return g256;
        case TLS_CIPHER_CHACHA20_POLY1305: return cc;
        default: return nullptr;
    }
}

// Each key gets a number once (per process, so a freed sealer's reused address cannot pass for it);
// a thread's cipher context remembers the number of the key it holds.
std::uint64_t next_key_id() {
    static std::atomic<std::uint64_t> n{0};
    return n.fetch_add(1, std::memory_order_relaxed) + 1;
}

struct KeyedCtx {
    const EVP_CIPHER* cipher = nullptr;
    EVP_CIPHER_CTX* ctx = nullptr;
    std::uint64_t key_id = 0;
    ~KeyedCtx() { EVP_CIPHER_CTX_free(ctx); }  // wipes the key schedule
};
thread_local KeyedCtx t_ctx[3];  // a shard's: one per suite (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305)

void put_be64(unsigned char* p, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        p[i] = static_cast<unsigned char>(v);
        v >>= 8;
    }
}

}  // namespace

Sealer::~Sealer() {
    OPENSSL_cleanse(key_, sizeof key_);
    OPENSSL_cleanse(iv_, sizeof iv_);
    OPENSSL_cleanse(secret_, sizeof secret_);
}

bool Sealer::init(const KtlsKeys& k, const char* md, const unsigned char* secret, std::size_t secret_len) {
    cipher_ = cipher_for(k.cipher);
    if (!cipher_ || secret_len > sizeof secret_ || k.key_len > sizeof key_) return false;
    tls13_ = k.version == TLS_1_3_VERSION;
    key_len_ = k.key_len;
    std::memcpy(key_, k.tx.key, key_len_);
    key_id_ = next_key_id();
    seq_ = k.tx.seq;
    std::memcpy(iv_, k.tx.iv, sizeof iv_);
    if (tls13_) {
        std::memcpy(secret_, secret, secret_len);
        secret_len_ = secret_len;
        md_ = md;
    }
    return keyed() != nullptr;
}

EVP_CIPHER_CTX* Sealer::keyed() {
    KeyedCtx& t = t_ctx[key_len_ == 16 ? 0 : cipher_ == cipher_for(TLS_CIPHER_AES_GCM_256) ? 1 : 2];
    if (t.key_id == key_id_ && t.cipher == cipher_) return t.ctx;
    if (!t.ctx && !(t.ctx = EVP_CIPHER_CTX_new())) return nullptr;
    t.key_id = 0;
    if (EVP_EncryptInit_ex(t.ctx, t.cipher == cipher_ ? nullptr : cipher_, nullptr, key_, nullptr) != 1)
        return nullptr;
    t.cipher = cipher_;
    t.key_id = key_id_;
    return t.ctx;
}

bool Sealer::rotate() {
    // RFC 8446 7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length)
    unsigned char next[sizeof secret_];
    bool ok = hkdf_expand_label(md_, secret_, secret_len_, "traffic upd", next, secret_len_);
    if (ok) {
        std::memcpy(secret_, next, secret_len_);
        ok = hkdf_expand_label(md_, secret_, secret_len_, "key", key_, key_len_) &&
             hkdf_expand_label(md_, secret_, secret_len_, "iv", iv_, sizeof iv_);
    }
    OPENSSL_cleanse(next, sizeof next);
    key_id_ = next_key_id();  // the thread's context holds the old key: keyed() again
    seq_ = 0;
    return ok;
}

std::size_t Sealer::seal_one(std::uint8_t type, const char* p, std::size_t n, char* out) {
    auto* o = reinterpret_cast<unsigned char*>(out);
    unsigned char nonce[12];
    std::memcpy(nonce, iv_, sizeof nonce);
    unsigned char seqb[8];
    put_be64(seqb, seq_);
    int len = 0;
    std::size_t body;  // the record's length field
    unsigned char* ct; // where the ciphertext goes
    if (tls13_) {
        // TLSCiphertext: opaque_type application_data, legacy version 0x0303, then the inner
        // plaintext (content, its real type) and the tag; the header is the additional data
        for (int i = 0; i < 8; ++i) nonce[4 + i] ^= seqb[i];
        body = n + 1 + 16;
        o[0] = 23;
        ct = o + 5;
    } else {
        // RFC 5288: the nonce is the 4-byte salt and 8 explicit bytes sent in front of the
        // ciphertext (the sequence number: unique per key); the additional data is the sequence
        // number, the type, the version and the plaintext's length
        std::memcpy(nonce + 4, seqb, 8);
        body = 8 + n + 16;
        o[0] = type;
        std::memcpy(o + 5, seqb, 8);
        ct = o + 13;
    }
    o[1] = 3;
    o[2] = 3;
    o[3] = static_cast<unsigned char>(body >> 8);
    o[4] = static_cast<unsigned char>(body);
    EVP_CIPHER_CTX* ctx = keyed();
    if (!ctx) return 0;
    bool ok = EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1;
    if (tls13_) {
        ok = ok && EVP_EncryptUpdate(ctx, nullptr, &len, o, 5) == 1;
    } else {
        unsigned char aad[13];
        std::memcpy(aad, seqb, 8);
        aad[8] = type;
        aad[9] = 3;
        aad[10] = 3;
        aad[11] = static_cast<unsigned char>(n >> 8);
        aad[12] = static_cast<unsigned char>(n);
        ok = ok && EVP_EncryptUpdate(ctx, nullptr, &len, aad, sizeof aad) == 1;
    }
    ok = ok && EVP_EncryptUpdate(ctx, ct, &len, reinterpret_cast<const unsigned char*>(p), int(n)) == 1;
    std::size_t at = n;
    if (tls13_) {
        ok = ok && EVP_EncryptUpdate(ctx, ct + at, &len, &type, 1) == 1;
        ++at;
    }
    ok = ok && EVP_EncryptFinal_ex(ctx, ct + at, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, ct + at) == 1;
    if (!ok) return 0;
    ++seq_;
    return 5 + body;
}

std::size_t Sealer::seal(std::uint8_t type, const char* p, std::size_t n, char* out) {
    std::size_t pre = 0;
    if (update_pending()) {
        // RFC 8446 4.6.3: a KeyUpdate (update_not_requested), sealed with the current key; the
        // records after it use the next one
        static const char kUpdate[kKeyUpdateLen] = {24, 0, 0, 1, 0};
        pre = seal_one(22, kUpdate, sizeof kUpdate, out);
        if (pre == 0 || !rotate()) return 0;
        update_due_ = false;
    }
    const std::size_t r = seal_one(type, p, n, out + pre);
    return r == 0 ? 0 : pre + r;
}

}  // namespace es::tls
