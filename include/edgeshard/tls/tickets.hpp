// Session ticket keys (RFC 5077 tickets in TLS 1.2, stateless PSK tickets in TLS 1.3): what lets a
// client resume on any shard and after a reload.
//
// Every shard encrypts tickets with the same keys, so a ticket issued by one shard opens on all
// of them. Two sources:
// - a bind's `tls-ticket-keys FILE` (HAProxy's format: one base64 key per line, 48 bytes for
//   AES-128 or 80 for AES-256, at least three; the last three are used, the penultimate encrypts,
//   so appending a key and reloading rotates them across a fleet);
// - otherwise the process's own keys: made at start, handed to the next process at a reload
//   (control/handoff), which makes a fresh key for encryption and keeps the two before it for
//   decryption only. A ticket opened with an older key is renewed. A reload therefore rotates
//   the key and keeps every ticket younger than two reloads valid.
// A key set is immutable once built; shards read it, nobody writes it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace es::tls {

// Base64 (standard alphabet, padded; no whitespace inside) to bytes; false on anything else.
bool base64_decode(std::string_view in, std::string& out);

struct TicketKey {
    unsigned char name[16];  // the first bytes of a ticket: which key sealed it
    unsigned char aes[32];   // AES-128 uses the first 16
    unsigned char hmac[32];  // HMAC-SHA256 key; 16 bytes with AES-128
    bool aes256 = true;
    std::size_t hmac_len() const { return aes256 ? 32 : 16; }
};

struct TicketKeys {
    static constexpr std::size_t kKept = 3;  // keys that open tickets (HAProxy's TLS_TICKETS_NO)
    std::vector<TicketKey> keys;
    std::size_t enc = 0;  // the key that seals new tickets

    // HAProxy's key file. False and `error` ("line 4: ...") on a bad file.
    static bool load_file(const std::string& path, TicketKeys& out, std::string& error);
    // A fresh AES-256 key for encryption, followed by up to two keys of `previous` (its encryption
    // key first) that still open tickets. `previous` may be empty.
    static TicketKeys rotate(const TicketKeys& previous);
    // "ENC B64 B64 ..." for the reload handoff; decode() refuses anything malformed.
    std::string encode() const;
    static bool decode(std::string_view text, TicketKeys& out);
    // The key named `name` (a ticket's first 16 bytes), else nullptr.
    const TicketKey* find(const unsigned char* name) const;
};

// The process's own keys, set once in main before any shard starts; null before.
void set_process_ticket_keys(std::shared_ptr<const TicketKeys> keys);
const std::shared_ptr<const TicketKeys>& process_ticket_keys();

}  // namespace es::tls
