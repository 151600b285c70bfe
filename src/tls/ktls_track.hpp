// What a Conn keeps while kernel TLS is on for its bind (BindTls::enable_ktls()): the application
// traffic secrets of TLS 1.3 (from the keylog callback) and the record counts that give the
// sequence numbers the kernel must continue from. Private to the tls room.
#pragma once

#include <cstddef>
#include <cstdint>

namespace es::tls {

// HKDF-Expand-Label(secret, label, "", len) of RFC 8446 7.1 with OpenSSL's TLS 1.3 KDF; `md` is
// the suite's hash ("SHA256", "SHA384"). ktls.cpp.
bool hkdf_expand_label(const char* md, const unsigned char* secret, std::size_t secret_len, const char* label,
                       unsigned char* out, std::size_t len);

// Counts the records in one direction of the byte stream (headers only: 5 bytes, the length
// says how much to skip), and how many came after the last change_cipher_spec record (TLS 1.2:
// the sequence number restarts at 0 with the new keys after it).
struct RecordCounter {
    std::uint64_t records = 0;    // headers seen
    std::uint64_t after_ccs = 0;  // headers seen since the last change_cipher_spec
    unsigned char hdr[5] = {};
    std::uint8_t hlen = 0;
    std::size_t body_left = 0;
    void feed(const char* p, std::size_t n) {
        while (n > 0) {
            if (body_left > 0) {
                const std::size_t k = n < body_left ? n : body_left;
                body_left -= k;
                p += k;
                n -= k;
                continue;
            }
            hdr[hlen++] = static_cast<unsigned char>(*p++);
            --n;
            if (hlen < 5) continue;
            hlen = 0;
            body_left = std::size_t(hdr[3]) << 8 | hdr[4];
            ++records;
            if (hdr[0] == 20)
                after_ccs = 0;  // change_cipher_spec
            else
                ++after_ccs;
        }
    }
};

struct KtlsTrack {
    RecordCounter out, in;  // records this end wrote, records OpenSSL read (counted on kernel-TLS binds only:
                            // direct sealing needs no receive count)
    // TLS 1.3: the counts when the peer's application secret was derived (the server does it on
    // the client's Finished: every record written before used handshake keys, every one after
    // it, the session tickets first, application keys)
    bool marked = false;
    bool key_update = false;  // the peer sent a TLS 1.3 KeyUpdate (its traffic key changed)
    std::uint64_t out_mark = 0, in_mark = 0;
    unsigned char client_secret[64] = {}, server_secret[64] = {};
    std::size_t client_len = 0, server_len = 0;
    ~KtlsTrack();  // wipes the secrets
};

}  // namespace es::tls
