// The PROXY protocol codec: every reason a received header is refused (HAProxy 2.6's error codes),
// what a good one yields (addresses, length, TLVs), and headers we build read back by the parser
// (v1, v2 with each TLV option, CRC32C, mixed families, LOCAL / UNKNOWN without addresses).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <vector>

#include "edgeshard/net/proxy_proto.hpp"

namespace pp = es::net::pp;

namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

sockaddr_storage v4(const char* ip, int port) {
    sockaddr_storage ss{};
    auto& a = reinterpret_cast<sockaddr_in&>(ss);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a.sin_addr);
    a.sin_port = htons(std::uint16_t(port));
    return ss;
}

sockaddr_storage v6(const char* ip, int port) {
    sockaddr_storage ss{};
    auto& a = reinterpret_cast<sockaddr_in6&>(ss);
    a.sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    a.sin6_port = htons(std::uint16_t(port));
    return ss;
}

std::string text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
        inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
        port = ntohs(a.sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
        inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
        port = ntohs(a.sin6_port);
    }
    return std::string(buf) + ":" + std::to_string(port);
}

// The header's views point into the parsed bytes: they stay valid until the next call.
pp::Err parse(std::string bytes, pp::Header& h) {
    static std::string keep;
    keep = std::move(bytes);
    return pp::parse(reinterpret_cast<std::uint8_t*>(keep.data()), keep.size(), h);
}

pp::Err parse(const std::string& bytes) {
    pp::Header h;
    return parse(bytes, h);
}

std::string tlv(std::uint8_t type, const std::string& v) {
    std::string t(1, char(type));
    t += char(v.size() >> 8);
    t += char(v.size() & 0xff);
    return t + v;
}

// A v2 TCP4 header 192.0.2.10:40000 -> 198.51.100.1:80 with `tlvs` after the addresses.
std::string v2_tcp4(const std::string& tlvs, std::uint8_t ver_cmd = 0x21) {
    std::string addr("\xc0\x00\x02\x0a\xc6\x33\x64\x01\x9c\x40\x00\x50", 12);
    std::string h = kSig;
    h += char(ver_cmd);
    h += char(0x11);
    const std::size_t len = addr.size() + tlvs.size();
    h += char(len >> 8);
    h += char(len & 0xff);
    return h + addr + tlvs;
}

}  // namespace

TEST_CASE("proxy protocol: crc32c is Castagnoli's") {
    const char* s = "123456789";
    CHECK(pp::crc32c(reinterpret_cast<const std::uint8_t*>(s), 9) == 0xE3069283u);
}

TEST_CASE("proxy protocol: v1 lines") {
    pp::Header h;
    const std::string line = "PROXY TCP4 192.0.2.10 198.51.100.1 40000 80\r\n";
    REQUIRE(parse(line + "GET / HTTP/1.1\r\n", h) == pp::Err::None);
    CHECK(h.version == 1);
    CHECK(h.len == line.size());
    CHECK(h.addrs);
    CHECK(text(h.src) == "192.0.2.10:40000");
    CHECK(text(h.dst) == "198.51.100.1:80");

    REQUIRE(parse("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", h) == pp::Err::None);
    CHECK(text(h.src) == "2001:db8::1:1");
    CHECK(text(h.dst) == "2001:db8::2:65535");

    // UNKNOWN: the connection's own addresses stay; anything may follow it (the specification)
    REQUIRE(parse("PROXY UNKNOWN\r\n", h) == pp::Err::None);
    CHECK_FALSE(h.addrs);
    CHECK(h.len == 15);
    REQUIRE(parse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest", h) == pp::Err::None);
    CHECK(h.len == 35);

    // refused, with HAProxy's reasons
    CHECK(parse("GET / HTTP/1.1\r\n\r\n") == pp::Err::NotHdr);
    CHECK(parse("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n") == pp::Err::BadProto);
    CHECK(parse("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n") == pp::Err::BadHdr);
    CHECK(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n") == pp::Err::BadHdr);          // LF before CR
    CHECK(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2GET / HTTP/1.1\r\n") == pp::Err::BadHdr);
    CHECK(parse("PROXY TCP4 999.1.1.1 5.6.7.8 1 2\r\n") == pp::Err::BadHdr);           // HAProxy wraps it
    CHECK(parse("PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n") == pp::Err::BadHdr);
    CHECK(parse("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n") == pp::Err::BadHdr);
    CHECK(parse("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n") == pp::Err::BadHdr);
    // truncated: HAProxy 2.6 does not wait for the rest of a header that came in part
    CHECK(parse("PROXY TCP4 1.2.3.4 5.6") == pp::Err::Truncated);
    CHECK(parse("PROX") == pp::Err::Truncated);
    CHECK(parse("GET") == pp::Err::NotHdr);
    // no CR within 107 bytes: not a header whatever follows
    CHECK(parse("PROXY TCP4 " + std::string(120, '1')) == pp::Err::BadHdr);
}

TEST_CASE("proxy protocol: v2 headers and their TLVs") {
    pp::Header h;
    const std::string tlvs = tlv(0x02, "example.com") + tlv(0x05, "id-42") + tlv(0x04, "pad") + tlv(0x01, "h2");
    const std::string hdr = v2_tcp4(tlvs);
    REQUIRE(parse(hdr + "payload", h) == pp::Err::None);
    CHECK(h.version == 2);
    CHECK(h.len == hdr.size());
    CHECK(text(h.src) == "192.0.2.10:40000");
    CHECK(text(h.dst) == "198.51.100.1:80");
    CHECK(h.authority == "example.com");
    CHECK(h.unique_id == "id-42");
    CHECK(h.alpn == "h2");

    // a CRC32C TLV must match the whole header computed with the field zeroed
    std::string with_crc = v2_tcp4(tlv(0x03, std::string(4, '\0')) + tlv(0x02, "a.example"));
    const std::uint32_t c = htonl(pp::crc32c(reinterpret_cast<const std::uint8_t*>(with_crc.data()), with_crc.size()));
    std::memcpy(with_crc.data() + 16 + 12 + 3, &c, 4);
    REQUIRE(parse(with_crc, h) == pp::Err::None);
    CHECK(h.has_crc);
    with_crc[with_crc.size() - 1] ^= 1;  // one bit of the authority changed
    CHECK(parse(with_crc) == pp::Err::BadHdr);

    // LOCAL: the block is discarded, whatever it holds
    REQUIRE(parse(v2_tcp4("", 0x20), h) == pp::Err::None);
    CHECK_FALSE(h.addrs);
    CHECK(h.len == 28);

    CHECK(parse(v2_tcp4("", 0x11)) == pp::Err::NotHdr);  // version 1 in a v2 signature
    CHECK(parse(v2_tcp4("", 0x22)) == pp::Err::BadHdr);  // command 2
    CHECK(parse(v2_tcp4(std::string("\x02\x00\x32", 3) + "example.com")) == pp::Err::BadHdr);  // TLV past the end
    CHECK(parse(v2_tcp4(tlv(0x03, "abc"))) == pp::Err::BadHdr);                      // CRC32C of 3 bytes
    CHECK(parse(v2_tcp4(tlv(0x02, std::string(256, 'a')))) == pp::Err::BadHdr);     // AUTHORITY > 255
    CHECK(parse(v2_tcp4(tlv(0x05, std::string(129, 'a')))) == pp::Err::BadHdr);     // UNIQUE_ID > 128
    CHECK(parse(v2_tcp4(tlv(0xe0, std::string(1100, 'a')))) == pp::Err::BadHdr);    // beyond what we read
    // a TCP4 block of 4 bytes
    std::string shortblk = kSig + std::string("\x21\x11\x00\x04\x01\x02\x03\x04", 8);
    CHECK(parse(shortblk) == pp::Err::BadHdr);
    // truncated: the signature cut, the addresses cut
    CHECK(parse(kSig.substr(0, 8)) == pp::Err::Truncated);
    CHECK(parse(v2_tcp4("").substr(0, 22)) == pp::Err::Truncated);
    // UNSPEC family with the PROXY command: accepted, the real addresses stay (the specification)
    REQUIRE(parse(kSig + std::string("\x21\x00\x00\x00", 4), h) == pp::Err::None);
    CHECK_FALSE(h.addrs);
}

TEST_CASE("proxy protocol: the headers we send read back") {
    const sockaddr_storage src = v4("192.0.2.10", 40000), dst = v4("198.51.100.1", 80);
    pp::Source s;
    s.src = &src;
    s.dst = &dst;
    char line[128];
    const std::size_t n = pp::build_v1(s, line, sizeof line);
    CHECK(std::string(line, n) == "PROXY TCP4 192.0.2.10 198.51.100.1 40000 80\r\n");

    // mixed families: TCP6 with the IPv4 address mapped
    const sockaddr_storage src6 = v6("2001:db8::1", 5);
    s.src = &src6;
    const std::size_t n6 = pp::build_v1(s, line, sizeof line);
    CHECK(std::string(line, n6) == "PROXY TCP6 2001:db8::1 ::ffff:198.51.100.1 5 80\r\n");

    // nothing known: UNKNOWN, LOCAL
    pp::Source none;
    CHECK(std::string(line, pp::build_v1(none, line, sizeof line)) == "PROXY UNKNOWN\r\n");
    std::uint8_t buf[pp::kMaxHeader];
    const std::size_t nl = pp::build_v2(none, 0, buf, sizeof buf);
    REQUIRE(nl == 16);
    CHECK(buf[12] == 0x20);

    // v2 with every option, read back
    s.src = &src;
    s.authority = "site.test";
    s.tls = true;
    s.tls_version = "TLSv1.3";
    s.tls_cipher = "TLS_AES_128_GCM_SHA256";
    s.tls_cn = "alice";
    s.cert_sess = s.cert_conn = true;
    s.alpn = "http/1.1";
    const std::uint16_t all = pp::kOptCrc32c | pp::kOptAuthority | pp::kOptUniqueId | pp::kOptSsl | pp::kOptSslCn |
                              pp::kOptSslCipher;
    const std::size_t n2 = pp::build_v2(s, all, buf, sizeof buf);
    REQUIRE(n2 > 16 + 12);
    pp::Header h;
    REQUIRE(pp::parse(buf, n2, h) == pp::Err::None);
    CHECK(h.len == n2);
    CHECK(h.has_crc);
    CHECK(text(h.src) == "192.0.2.10:40000");
    CHECK(text(h.dst) == "198.51.100.1:80");
    CHECK(h.authority == "site.test");
    CHECK(h.alpn == "http/1.1");
    CHECK(h.unique_id.empty());  // sent empty: there is no unique id to send
    const std::string wire(reinterpret_cast<char*>(buf), n2);
    CHECK(wire.find(std::string("\x05\x00\x00", 3)) != std::string::npos);  // the empty UNIQUE_ID TLV
    const auto ssl = wire.find('\x20', 28);
    REQUIRE(ssl != std::string::npos);
    CHECK(std::uint8_t(wire[ssl + 3]) == 0x07);  // SSL, certificate on this connection and in the session
    CHECK(wire.find("alice") != std::string::npos);
    CHECK(wire.find("TLS_AES_128_GCM_SHA256") != std::string::npos);
    CHECK(wire.find("TLSv1.3") != std::string::npos);
    // too small a buffer: nothing half-written is returned
    CHECK(pp::build_v2(s, all, buf, 40) == 0);
}
