// Records this end seals itself once the handshake is over (Conn's direct sealing): the plaintext
// is encrypted straight from where the data path holds it into the block that will be sent, with
// OpenSSL's AEAD ciphers (EVP: AES-GCM, ChaCha20-Poly1305), as RFC 8446 5.2 (TLS 1.3) and RFC 5246
// 6.2.3.3 with RFC 5288 (TLS 1.2 AES-GCM) frame them. OpenSSL's own write path copies each
// record's plaintext into its write buffer, seals it there, and the record is copied again to be
// sent: two copies of every byte this saves (see tls/README.md, "Direct sealing").
//
// The keys and the next sequence number come from the same place kernel TLS takes them
// (Conn::ktls_keys, TX only): after the switch OpenSSL keeps the receiving side and writes nothing
// that reaches the peer; the alerts it would send are sealed here (Conn's message callback), and a
// TLS 1.3 KeyUpdate the peer requests is answered here (update_due). Private to the tls room.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>

namespace es::tls {

struct KtlsKeys;

class Sealer {
public:
    static constexpr std::size_t kMaxPlain = 16384;  // the largest record plaintext (RFC 8446 5.1)
    // Records after which TLS 1.3 rotates its key on its own (RFC 8446 5.5: AES-GCM keys seal at
    // most 2^24.5 full records; rotated well before). A test may lower it.
    static std::uint64_t rotate_after;

    Sealer() = default;
    Sealer(const Sealer&) = delete;
    Sealer& operator=(const Sealer&) = delete;
    ~Sealer();  // wipes the keys

    // Takes the TX half of `k` (and, TLS 1.3, the traffic secret it came from, for key updates,
    // with `md`, the suite's hash name). False when OpenSSL refuses the cipher.
    bool init(const KtlsKeys& k, const char* md, const unsigned char* secret, std::size_t secret_len);
    // Bytes a record adds to its plaintext.
    std::size_t overhead() const { return tls13_ ? 5 + 1 + 16 : 5 + 8 + 16; }
    // One record of content `type` (23 application data, 21 alert, 22 handshake) holding [p, p+n),
    // n <= kMaxPlain, written to `out`, which has room for n + overhead(). Returns the record's
    // size, 0 when the cipher failed (the connection must close). A key update the peer asked for
    // (or the rotation count) goes first: then room for one more small record is needed
    // (room_needed() says how much in all).
    std::size_t seal(std::uint8_t type, const char* p, std::size_t n, char* out);
    std::size_t room_needed(std::size_t n) const {
        return n + overhead() + (update_pending() ? kKeyUpdateLen + overhead() : 0);
    }
    bool tls13() const { return tls13_; }
    std::uint64_t seq() const { return seq_; }
    // The peer's KeyUpdate asked for ours (TLS 1.3): it goes out before the next record.
    void request_update() { update_due_ = tls13_; }
    bool update_pending() const { return update_due_ || (tls13_ && seq_ >= rotate_after); }

private:
    static constexpr std::size_t kKeyUpdateLen = 5;  // handshake header + request_update
    std::size_t seal_one(std::uint8_t type, const char* p, std::size_t n, char* out);
    bool rotate();  // TLS 1.3: the next traffic secret, its key and iv; sequence 0
    EVP_CIPHER_CTX* keyed();  // the thread's cipher context for this suite, holding this key
    // A connection keeps its key, not a cipher context (about 1.3 KB with OpenSSL's key schedule
    // and GHASH table): the thread keeps one context per suite and keys it again when the
    // connection it seals for changes (an AES key expansion and a GHASH setup, well under a
    // microsecond), so an idle TLS connection costs what it did before direct sealing.
    const EVP_CIPHER* cipher_ = nullptr;
    std::uint64_t key_id_ = 0;  // this key's number in the process (0: none)
    unsigned char key_[32] = {};
    bool tls13_ = false;
    bool update_due_ = false;
    std::size_t key_len_ = 0;
    std::uint64_t seq_ = 0;
    unsigned char iv_[12] = {};
    unsigned char secret_[64] = {};
    std::size_t secret_len_ = 0;
    const char* md_ = nullptr;  // a static name from OpenSSL
};

}  // namespace es::tls
