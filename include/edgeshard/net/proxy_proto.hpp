// The PROXY protocol (haproxy.org/download/2.6/doc/proxy-protocol.txt), versions 1 and 2: the
// header a proxy in front of us sends first on a connection to carry the client's addresses
// (`bind ... accept-proxy`, `tcp-request connection expect-proxy layer4`), and the header we send
// first on a server connection (`server ... send-proxy`, `send-proxy-v2`, `proxy-v2-options`).
// Parsing follows HAProxy 2.6's reading of the spec, error for error: the whole header must be in
// the first bytes read (a sender writes it at once; HAProxy fails a truncated one rather than
// waiting), v1 addresses are strict, a v2 TLV must end inside the header, a CRC32C TLV must match,
// AUTHORITY is at most 255 bytes and UNIQUE_ID at most 128.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace es::net::pp {

// A v1 line is at most 107 bytes; a v2 header is 16 bytes plus its length. We read at most this
// many bytes of a header (TLVs included): AWS, GCP and Azure headers are well under 300 bytes.
constexpr std::size_t kMaxHeader = 1024;
constexpr std::size_t kV2Fixed = 16;
constexpr std::size_t kMaxAuthority = 255;
constexpr std::size_t kMaxUniqueId = 128;

// HAProxy's connection error codes for the PROXY header (CO_ER_PRX_*), with its messages.
enum class Err : std::uint8_t { None, Empty, Abort, Timeout, Truncated, NotHdr, BadHdr, BadProto };
std::string_view err_text(Err e);  // "Received something which does not look like a PROXY protocol header"
std::string_view err_code(Err e);  // "PRX_NOT_HDR"

struct Header {
    std::size_t len = 0;          // bytes of the header, to consume before the payload
    std::uint8_t version = 0;     // 1 or 2
    bool addrs = false;           // src/dst carried (TCP4/TCP6, PROXY command); false: LOCAL, UNKNOWN, other family
    sockaddr_storage src{}, dst{};
    // v2 TLVs, pointing into the parsed bytes (empty: absent)
    std::string_view authority, unique_id, alpn;
    bool has_crc = false;         // a CRC32C TLV was present (and matched)
};

// Parses the first `n` bytes read from a connection (`p` is modified: a CRC32C field is zeroed to
// check it). Err::None with h filled, or the reason the connection must be closed.
Err parse(std::uint8_t* p, std::size_t n, Header& h);

// What a server line asks for (`send-proxy`, `send-proxy-v2`, `proxy-v2-options`).
enum V2Opt : std::uint16_t {
    kOptCrc32c = 1u << 0,
    kOptAuthority = 1u << 1,
    kOptUniqueId = 1u << 2,
    kOptSsl = 1u << 3,        // PP2_TYPE_SSL with the version
    kOptSslCn = 1u << 4,      // its client certificate's CN
    kOptSslCipher = 1u << 5,
    kOptCertSig = 1u << 6,
    kOptCertKey = 1u << 7,
};

// What the header we send says about the client connection.
struct Source {
    const sockaddr_storage* src = nullptr;  // null or not IPv4/IPv6: v1 UNKNOWN, v2 LOCAL
    const sockaddr_storage* dst = nullptr;
    std::string_view authority;  // the received AUTHORITY TLV, else the TLS SNI
    std::string_view unique_id;  // sent (empty when none: HAProxy without unique-id-format) with kOptUniqueId
    std::string_view alpn;       // the client's negotiated ALPN (sent whenever known, as HAProxy)
    bool tls = false;            // the client connection is TLS (PP2_CLIENT_SSL)
    std::string_view tls_version, tls_cipher, tls_cn, tls_sig_alg, tls_key_alg;
    bool cert_sess = false;      // the TLS session carries a client certificate
    bool cert_conn = false;      // ... presented on this connection (not resumed)
    std::uint32_t verify = 0;    // its verification result (0: ok)
};

// Writes a v1 line ("PROXY TCP4 a b p q\r\n", mixed families as TCP6 with v4-mapped addresses,
// "PROXY UNKNOWN\r\n" without addresses) into out (at least 108 bytes); returns its length.
std::size_t build_v1(const Source& s, char* out, std::size_t cap);
// Writes a v2 header with the TLVs `opts` asks for; returns its length, 0 when it does not fit.
std::size_t build_v2(const Source& s, std::uint16_t opts, std::uint8_t* out, std::size_t cap);

// CRC32C (Castagnoli), as the v2 CRC32C TLV uses.
std::uint32_t crc32c(const std::uint8_t* p, std::size_t n);

}  // namespace es::net::pp
