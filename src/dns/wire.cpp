// DNS queries and answers on c-ares' wire format (dns/wire.hpp).
#include "edgeshard/dns/wire.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>

#include <cstring>

namespace es::dns {

namespace {

constexpr int kClassIn = 1;
constexpr std::size_t kHeader = 12;
constexpr int kMaxRecords = 64;  // addresses kept from one answer

std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }

// Names compare without case and without a trailing dot.
bool same_name(std::string_view a, std::string_view b) {
    if (!a.empty() && a.back() == '.') a.remove_suffix(1);
    if (!b.empty() && b.back() == '.') b.remove_suffix(1);
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::vector<std::uint8_t> build_query(std::string_view name, int type, std::uint16_t id, int payload) {
    unsigned char* buf = nullptr;
    int len = 0;
    const std::string n(name);
    if (ares_create_query(n.c_str(), kClassIn, type, id, 1, &buf, &len, payload > 512 ? payload : 0) != ARES_SUCCESS)
        return {};
    std::vector<std::uint8_t> out(buf, buf + len);
    ares_free_string(buf);
    return out;
}

int message_id(std::span<const std::uint8_t> msg) { return msg.size() < 2 ? -1 : be16(msg.data()); }

Answer parse_answer(std::span<const std::uint8_t> msg, std::string_view name, int type) {
    Answer a;
    if (msg.size() < kHeader || !(msg[2] & 0x80)) return a;  // too short, or a query
    const int rcode = msg[3] & 0x0f;
    if (msg[2] & 0x02) {
        a.verdict = Verdict::Truncated;
        return a;
    }
    if (rcode == 3) {
        a.verdict = Verdict::Nx;
        return a;
    }
    if (rcode == 5) {
        a.verdict = Verdict::Refused;
        return a;
    }
    if (rcode != 0) {
        a.verdict = Verdict::Other;
        return a;
    }
    // the answer must be to the question asked: one question, our name, our type
    if (be16(msg.data() + 4) != 1) return a;
    char* qname = nullptr;
    long enclen = 0;
    if (ares_expand_name(msg.data() + kHeader, msg.data(), int(msg.size()), &qname, &enclen) != ARES_SUCCESS) return a;
    const bool same = same_name(qname, name);
    ares_free_string(qname);
    const std::size_t qtype_at = kHeader + std::size_t(enclen);
    if (!same || qtype_at + 4 > msg.size() || be16(msg.data() + qtype_at) != type) return a;
    if (be16(msg.data() + 6) == 0) {
        a.verdict = Verdict::AnyErr;
        return a;
    }
    hostent* host = nullptr;
    int n = kMaxRecords;
    int r;
    if (type == kTypeA) {
        ares_addrttl ttl[kMaxRecords];
        r = ares_parse_a_reply(msg.data(), int(msg.size()), &host, ttl, &n);
        if (r == ARES_SUCCESS)
            for (int i = 0; i < n; ++i) {
                config::SockAddr s;
                auto* in = reinterpret_cast<sockaddr_in*>(&s.ss);
                in->sin_family = AF_INET;
                in->sin_addr = ttl[i].ipaddr;
                s.len = sizeof(sockaddr_in);
                a.addrs.push_back(s);
            }
    } else {
        ares_addr6ttl ttl[kMaxRecords];
        r = ares_parse_aaaa_reply(msg.data(), int(msg.size()), &host, ttl, &n);
        if (r == ARES_SUCCESS)
            for (int i = 0; i < n; ++i) {
                config::SockAddr s;
                auto* in6 = reinterpret_cast<sockaddr_in6*>(&s.ss);
                in6->sin6_family = AF_INET6;
                std::memcpy(&in6->sin6_addr, &ttl[i].ip6addr, 16);
                s.len = sizeof(sockaddr_in6);
                a.addrs.push_back(s);
            }
    }
    if (host) {
        for (char** al = host->h_aliases; al && *al; ++al) ++a.cnames;
        ares_free_hostent(host);
    }
    if (r == ARES_SUCCESS && !a.addrs.empty()) a.verdict = Verdict::Valid;
    else if (r == ARES_ENODATA) a.verdict = Verdict::Other;  // records, none of the asked type
    else a.verdict = Verdict::Invalid;
    return a;
}

}  // namespace es::dns
