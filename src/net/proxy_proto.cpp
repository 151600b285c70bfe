// The PROXY protocol, versions 1 and 2: parsing a received header and building one to send
// (see proxy_proto.hpp). Our own code, written from the specification and HAProxy 2.6's documented
// and observed behaviour.
#include "edgeshard/net/proxy_proto.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstdio>
#include <cstring>

namespace es::net::pp {

namespace {

constexpr std::uint8_t kSig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
enum : std::uint8_t {
    kTypeAlpn = 0x01,
    kTypeAuthority = 0x02,
    kTypeCrc32c = 0x03,
    kTypeNoop = 0x04,
    kTypeUniqueId = 0x05,
    kTypeSsl = 0x20,
    kSubSslVersion = 0x21,
    kSubSslCn = 0x22,
    kSubSslCipher = 0x23,
    kSubSslSigAlg = 0x24,
    kSubSslKeyAlg = 0x25,
    kClientSsl = 0x01,
    kClientCertConn = 0x02,
    kClientCertSess = 0x04,
};

constexpr std::array<std::uint32_t, 256> make_crc_table() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr auto kCrcTable = make_crc_table();

// A dotted quad, strictly: four decimal octets of 1 to 3 digits, each at most 255. HAProxy reads
// any digits here; a proxy in front of us never sends anything else, so we refuse it. The line's CR
// ends every scan (it is neither a digit nor a dot), so no bound is checked byte by byte.
bool read_ipv4(const char*& p, in_addr& out) {
    const char* q = p;
    std::uint32_t a = 0;
    for (int k = 0; k < 4; ++k) {
        if (k > 0 && *q++ != '.') return false;
        unsigned v = unsigned(*q) - '0';
        if (v > 9) return false;
        ++q;
        unsigned d = unsigned(*q) - '0';
        if (d <= 9) {
            v = v * 10 + d;
            d = unsigned(*++q) - '0';
            if (d <= 9) {
                v = v * 10 + d;
                ++q;
            }
        }
        if (v > 255) return false;
        a = (a << 8) | v;
    }
    p = q;
    out.s_addr = htonl(a);
    return true;
}

// 1 to 5 digits, at most 65535 (the CR ends the scan, as above).
bool read_port(const char*& p, std::uint16_t& out) {
    unsigned v = unsigned(*p) - '0';
    if (v > 9) return false;
    ++p;
    for (int k = 1; k < 5; ++k) {
        const unsigned d = unsigned(*p) - '0';
        if (d > 9) break;
        v = v * 10 + d;
        ++p;
    }
    if (v > 65535 || unsigned(*p) - '0' <= 9) return false;
    out = std::uint16_t(v);
    return true;
}

void set4(sockaddr_storage& ss, const void* addr, std::uint16_t port_net) {
    ss = sockaddr_storage{};
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    std::memcpy(&a->sin_addr, addr, 4);
    a->sin_port = port_net;
}

void set6(sockaddr_storage& ss, const void* addr, std::uint16_t port_net) {
    ss = sockaddr_storage{};
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    std::memcpy(&a->sin6_addr, addr, 16);
    a->sin6_port = port_net;
}

Err parse_v1(const std::uint8_t* buf, std::size_t n, Header& h) {
    const char* p = reinterpret_cast<const char*>(buf) + 6;
    const char* const lim = reinterpret_cast<const char*>(buf) + std::min<std::size_t>(n, 107);
    // the line's end: a header is one line of at most 107 bytes
    const char* eol = static_cast<const char*>(std::memchr(p, '\r', std::size_t(lim - p)));
    if (!eol || eol + 1 >= reinterpret_cast<const char*>(buf) + n) {
        // no CR yet: truncated while the bytes we have could still be a header, else not one
        return n < 107 ? Err::Truncated : Err::BadHdr;
    }
    if (eol[1] != '\n') return Err::BadHdr;
    h.version = 1;
    h.len = std::size_t(eol + 2 - reinterpret_cast<const char*>(buf));
    const std::string_view rest(p, std::size_t(eol - p));
    if (rest.substr(0, 7) == "UNKNOWN") {  // anything may follow UNKNOWN; the real addresses stay
        h.addrs = false;
        return Err::None;
    }
    const bool v4 = rest.substr(0, 5) == "TCP4 ";
    const bool v6 = rest.substr(0, 5) == "TCP6 ";
    if (!v4 && !v6) return Err::BadProto;
    p += 5;
    std::uint16_t sport = 0, dport = 0;
    if (v4) {
        in_addr s{}, d{};
        if (!read_ipv4(p, s) || *p++ != ' ') return Err::BadHdr;
        if (!read_ipv4(p, d) || *p++ != ' ') return Err::BadHdr;
        if (!read_port(p, sport) || *p++ != ' ') return Err::BadHdr;
        if (!read_port(p, dport) || p != eol) return Err::BadHdr;
        set4(h.src, &s, htons(sport));
        set4(h.dst, &d, htons(dport));
    } else {
        char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
        auto word = [&](char* out) {
            const char* s = p;
            while (p < eol && *p != ' ') ++p;
            const std::size_t len = std::size_t(p - s);
            if (len == 0 || len >= INET6_ADDRSTRLEN) return false;
            std::memcpy(out, s, len);
            out[len] = 0;
            return true;
        };
        in6_addr s{}, d{};
        if (!word(a) || p >= eol || *p++ != ' ' || inet_pton(AF_INET6, a, &s) != 1) return Err::BadHdr;
        if (!word(b) || p >= eol || *p++ != ' ' || inet_pton(AF_INET6, b, &d) != 1) return Err::BadHdr;
        if (!read_port(p, sport) || *p++ != ' ') return Err::BadHdr;
        if (!read_port(p, dport) || p != eol) return Err::BadHdr;
        set6(h.src, &s, htons(sport));
        set6(h.dst, &d, htons(dport));
    }
    h.addrs = true;
    return Err::None;
}

Err parse_v2(std::uint8_t* buf, std::size_t n, Header& h) {
    if (n < kV2Fixed) return Err::Truncated;
    if (std::memcmp(buf, kSig, sizeof kSig) != 0 || (buf[12] & 0xF0) != 0x20) return Err::NotHdr;
    const std::size_t body = (std::size_t(buf[14]) << 8) | buf[15];
    const std::size_t total = kV2Fixed + body;
    if (total > kMaxHeader) return Err::BadHdr;  // more TLVs than any proxy sends: refused, never half-read
    if (n < total) return Err::Truncated;
    h.version = 2;
    h.len = total;
    std::size_t off = kV2Fixed;
    switch (buf[12] & 0x0F) {
        case 0x01:  // PROXY
            if (buf[13] == 0x11) {
                if (body < 12) return Err::BadHdr;
                std::uint16_t sp, dp;
                std::memcpy(&sp, buf + 24, 2);
                std::memcpy(&dp, buf + 26, 2);
                set4(h.src, buf + 16, sp);
                set4(h.dst, buf + 20, dp);
                h.addrs = true;
                off += 12;
            } else if (buf[13] == 0x21) {
                if (body < 36) return Err::BadHdr;
                std::uint16_t sp, dp;
                std::memcpy(&sp, buf + 48, 2);
                std::memcpy(&dp, buf + 50, 2);
                set6(h.src, buf + 16, sp);
                set6(h.dst, buf + 32, dp);
                h.addrs = true;
                off += 36;
            } else {
                // UNIX, UDP or unspecified: the connection's own addresses stay. The address block's
                // size is the family's; its TLVs follow it.
                const std::uint8_t fam = buf[13] >> 4;
                const std::size_t alen = fam == 1 ? 12 : fam == 2 ? 36 : fam == 3 ? 216 : 0;
                if (body < alen) return Err::BadHdr;
                off += alen;
            }
            break;
        case 0x00:  // LOCAL: a health check or the sender's own connection; our addresses stay and
            // the protocol block is discarded whatever its family says (the specification)
            return Err::None;
        default:
            return Err::BadHdr;
    }
    while (off < total) {
        if (off + 3 > total) return Err::BadHdr;
        const std::uint8_t type = buf[off];
        const std::size_t len = (std::size_t(buf[off + 1]) << 8) | buf[off + 2];
        std::uint8_t* v = buf + off + 3;
        off += 3 + len;
        if (off > total) return Err::BadHdr;
        switch (type) {
            case kTypeCrc32c: {
                if (len != 4) return Err::BadHdr;
                std::uint32_t want;
                std::memcpy(&want, v, 4);
                std::memset(v, 0, 4);
                const std::uint32_t got = htonl(crc32c(buf, total));
                std::memcpy(v, &want, 4);
                if (got != want) return Err::BadHdr;
                h.has_crc = true;
                break;
            }
            case kTypeAuthority:
                if (len > kMaxAuthority) return Err::BadHdr;
                h.authority = std::string_view(reinterpret_cast<const char*>(v), len);
                break;
            case kTypeUniqueId:
                if (len > kMaxUniqueId) return Err::BadHdr;
                h.unique_id = std::string_view(reinterpret_cast<const char*>(v), len);
                break;
            case kTypeAlpn:
                h.alpn = std::string_view(reinterpret_cast<const char*>(v), len);
                break;
            default:
                break;  // NOOP, SSL, NETNS and custom types are skipped
        }
    }
    return Err::None;
}

std::uint8_t* put_tlv(std::uint8_t* p, std::uint8_t type, std::string_view v) {
    p[0] = type;
    p[1] = std::uint8_t(v.size() >> 8);
    p[2] = std::uint8_t(v.size());
    if (!v.empty()) std::memcpy(p + 3, v.data(), v.size());  // an empty view may have no data pointer
    return p + 3 + v.size();
}

bool is_ip(const sockaddr_storage* a) { return a && (a->ss_family == AF_INET || a->ss_family == AF_INET6); }

// The address as IPv6 (v4-mapped when it is IPv4), for a header whose two addresses differ in family.
void as_v6(const sockaddr_storage& a, std::uint8_t out[16], std::uint16_t& port) {
    if (a.ss_family == AF_INET6) {
        const auto& s = reinterpret_cast<const sockaddr_in6&>(a);
        std::memcpy(out, &s.sin6_addr, 16);
        port = s.sin6_port;
    } else {
        const auto& s = reinterpret_cast<const sockaddr_in&>(a);
        std::memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        std::memcpy(out + 12, &s.sin_addr, 4);
        port = s.sin_port;
    }
}

}  // namespace

std::uint32_t crc32c(const std::uint8_t* p, std::size_t n) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) c = kCrcTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return ~c;
}

std::string_view err_text(Err e) {
    switch (e) {
        case Err::None: return "";
        case Err::Empty: return "Connection closed while waiting for PROXY protocol header";
        case Err::Abort: return "Connection error while waiting for PROXY protocol header";
        case Err::Timeout: return "Timeout while waiting for PROXY protocol header";
        case Err::Truncated: return "Truncated PROXY protocol header received";
        case Err::NotHdr: return "Received something which does not look like a PROXY protocol header";
        case Err::BadHdr: return "Received an invalid PROXY protocol header";
        case Err::BadProto: return "Received an unhandled protocol in the PROXY protocol header";
    }
    return "";
}

std::string_view err_code(Err e) {
    switch (e) {
        case Err::None: return "";
        case Err::Empty: return "PRX_EMPTY";
        case Err::Abort: return "PRX_ABORT";
        case Err::Timeout: return "PRX_TIMEOUT";
        case Err::Truncated: return "PRX_TRUNCATED";
        case Err::NotHdr: return "PRX_NOT_HDR";
        case Err::BadHdr: return "PRX_BAD_HDR";
        case Err::BadProto: return "PRX_BAD_PROTO";
    }
    return "";
}

Err parse(std::uint8_t* p, std::size_t n, Header& h) {
    // src/dst are written only when the header carries them (addrs)
    h.len = 0;
    h.version = 0;
    h.addrs = false;
    h.authority = h.unique_id = h.alpn = {};
    h.has_crc = false;
    if (n == 0) return Err::Empty;
    if (n < 6) {
        // too short to tell: truncated if what we have is the start of either version, else not a header
        const bool v1 = std::memcmp(p, "PROXY ", n) == 0;
        const bool v2 = std::memcmp(p, kSig, n) == 0;
        return v1 || v2 ? Err::Truncated : Err::NotHdr;
    }
    if (std::memcmp(p, "PROXY ", 6) == 0) return parse_v1(p, n, h);
    if (n < sizeof kSig) return std::memcmp(p, kSig, n) == 0 ? Err::Truncated : Err::NotHdr;
    return parse_v2(p, n, h);
}

std::size_t build_v1(const Source& s, char* out, std::size_t cap) {
    if (!is_ip(s.src) || !is_ip(s.dst)) {
        static constexpr char kUnknown[] = "PROXY UNKNOWN\r\n";
        if (cap < sizeof kUnknown - 1) return 0;
        std::memcpy(out, kUnknown, sizeof kUnknown - 1);
        return sizeof kUnknown - 1;
    }
    char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN + 8];
    std::uint16_t sp, dp;
    const bool v4 = s.src->ss_family == AF_INET && s.dst->ss_family == AF_INET;
    if (v4) {
        const auto& x = reinterpret_cast<const sockaddr_in&>(*s.src);
        const auto& y = reinterpret_cast<const sockaddr_in&>(*s.dst);
        inet_ntop(AF_INET, &x.sin_addr, a, sizeof a);
        inet_ntop(AF_INET, &y.sin_addr, b, sizeof b);
        sp = x.sin_port;
        dp = y.sin_port;
    } else {
        std::uint8_t x[16], y[16];
        as_v6(*s.src, x, sp);
        as_v6(*s.dst, y, dp);
        inet_ntop(AF_INET6, x, a, sizeof a);
        inet_ntop(AF_INET6, y, b, sizeof b);
    }
    const int n = std::snprintf(out, cap, "PROXY %s %s %s %u %u\r\n", v4 ? "TCP4" : "TCP6", a, b, unsigned(ntohs(sp)),
                                unsigned(ntohs(dp)));
    return n > 0 && std::size_t(n) < cap ? std::size_t(n) : 0;
}

std::size_t build_v2(const Source& s, std::uint16_t opts, std::uint8_t* out, std::size_t cap) {
    // worst case before the TLVs: 16 + 36; every TLV is bounded below
    auto room = [&](std::uint8_t* p, std::size_t need) { return std::size_t(p - out) + need <= cap; };
    if (cap < kV2Fixed + 36) return 0;
    std::memcpy(out, kSig, sizeof kSig);
    std::uint8_t* p = out + kV2Fixed;
    if (!is_ip(s.src) || !is_ip(s.dst)) {
        out[12] = 0x20;  // LOCAL
        out[13] = 0x00;
    } else if (s.src->ss_family == AF_INET && s.dst->ss_family == AF_INET) {
        out[12] = 0x21;
        out[13] = 0x11;
        const auto& x = reinterpret_cast<const sockaddr_in&>(*s.src);
        const auto& y = reinterpret_cast<const sockaddr_in&>(*s.dst);
        std::memcpy(p, &x.sin_addr, 4);
        std::memcpy(p + 4, &y.sin_addr, 4);
        std::memcpy(p + 8, &x.sin_port, 2);
        std::memcpy(p + 10, &y.sin_port, 2);
        p += 12;
    } else {
        out[12] = 0x21;
        out[13] = 0x21;
        std::uint16_t sp, dp;
        as_v6(*s.src, p, sp);
        as_v6(*s.dst, p + 16, dp);
        std::memcpy(p + 32, &sp, 2);
        std::memcpy(p + 34, &dp, 2);
        p += 36;
    }
    std::uint8_t* crc = nullptr;
    if (opts & kOptCrc32c) {
        if (!room(p, 7)) return 0;
        crc = p + 3;
        p = put_tlv(p, kTypeCrc32c, std::string_view("\0\0\0\0", 4));
    }
    auto tlv = [&](std::uint8_t type, std::string_view v) {
        if (!p || !room(p, 3 + v.size())) {
            p = nullptr;
            return;
        }
        p = put_tlv(p, type, v);
    };
    if (!s.alpn.empty()) tlv(kTypeAlpn, s.alpn);
    if ((opts & kOptAuthority) && !s.authority.empty()) tlv(kTypeAuthority, s.authority);
    if (opts & kOptUniqueId) tlv(kTypeUniqueId, s.unique_id);
    if (p && (opts & kOptSsl)) {
        // PP2_TYPE_SSL: client flags (1), verify (4), then the sub-TLVs
        if (!room(p, 8)) return 0;
        std::uint8_t* head = p;
        p += 3;
        p[0] = 0;
        std::memset(p + 1, 0, 4);
        if (s.tls) {
            p[0] = kClientSsl;
            if (s.cert_sess) {
                p[0] |= kClientCertSess;
                const std::uint32_t v = htonl(s.verify);
                std::memcpy(p + 1, &v, 4);
                if (s.cert_conn) p[0] |= kClientCertConn;
            }
        }
        p += 5;
        if (s.tls) {
            if (!s.tls_version.empty()) tlv(kSubSslVersion, s.tls_version);
            if ((opts & kOptSslCn) && !s.tls_cn.empty()) tlv(kSubSslCn, s.tls_cn);
            if ((opts & kOptCertKey) && !s.tls_key_alg.empty()) tlv(kSubSslKeyAlg, s.tls_key_alg);
            if ((opts & kOptCertSig) && !s.tls_sig_alg.empty()) tlv(kSubSslSigAlg, s.tls_sig_alg);
            if ((opts & kOptSslCipher) && !s.tls_cipher.empty()) tlv(kSubSslCipher, s.tls_cipher);
        }
        if (p) {
            const std::size_t len = std::size_t(p - head) - 3;
            head[0] = kTypeSsl;
            head[1] = std::uint8_t(len >> 8);
            head[2] = std::uint8_t(len);
        }
    }
    if (!p) return 0;
    const std::size_t total = std::size_t(p - out);
    out[14] = std::uint8_t((total - kV2Fixed) >> 8);
    out[15] = std::uint8_t(total - kV2Fixed);
    if (crc) {
        const std::uint32_t c = htonl(crc32c(out, total));
        std::memcpy(crc, &c, 4);
    }
    return total;
}

}  // namespace es::net::pp
