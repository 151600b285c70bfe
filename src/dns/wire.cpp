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

// An address of `family` from its raw bytes (4 or 16), port 0.
config::SockAddr ip_of(int family, const void* bytes) {
    config::SockAddr s;
    if (family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(&s.ss);
        in->sin_family = AF_INET;
        std::memcpy(&in->sin_addr, bytes, 4);
        s.len = sizeof(sockaddr_in);
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&s.ss);
        in6->sin6_family = AF_INET6;
        std::memcpy(&in6->sin6_addr, bytes, 16);
        s.len = sizeof(sockaddr_in6);
    }
    return s;
}

// Names compare without case and without a trailing dot.
bool same_name(std::string_view a, std::string_view b) {
    if (!a.empty() && a.back() == '.') a.remove_suffix(1);
    if (!b.empty() && b.back() == '.') b.remove_suffix(1);
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// The A and AAAA records of the additional section (the targets of a SRV answer), walked with
// c-ares' name expansion; a malformed section ends the walk with what was read.
void read_additional(std::span<const std::uint8_t> msg, std::vector<std::pair<std::string, config::SockAddr>>& out) {
    const std::uint8_t* base = msg.data();
    const int alen = int(msg.size());
    std::size_t p = kHeader;
    auto skip_name = [&]() -> bool {
        char* n = nullptr;
        long len = 0;
        if (p >= msg.size() || ares_expand_name(base + p, base, alen, &n, &len) != ARES_SUCCESS) return false;
        ares_free_string(n);
        p += std::size_t(len);
        return true;
    };
    const int qd = be16(base + 4), an = be16(base + 6), ns = be16(base + 8), ar = be16(base + 10);
    for (int i = 0; i < qd; ++i) {
        if (!skip_name() || p + 4 > msg.size()) return;
        p += 4;
    }
    for (int i = 0; i < an + ns + ar; ++i) {
        char* owner = nullptr;
        long len = 0;
        if (p >= msg.size() || ares_expand_name(base + p, base, alen, &owner, &len) != ARES_SUCCESS) return;
        std::string name(owner);
        ares_free_string(owner);
        p += std::size_t(len);
        if (p + 10 > msg.size()) return;
        const int type = be16(base + p), rdlen = be16(base + p + 8);
        p += 10;
        if (p + std::size_t(rdlen) > msg.size()) return;
        if (i >= an + ns && (type == kTypeA ? rdlen == 4 : type == kTypeAAAA && rdlen == 16)) {
            if (!name.empty() && name.back() == '.') name.pop_back();
            out.emplace_back(std::move(name), ip_of(type == kTypeA ? AF_INET : AF_INET6, base + p));
        }
        p += std::size_t(rdlen);
    }
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
    if (type == kTypeSRV) {
        ares_srv_reply* srv = nullptr;
        r = ares_parse_srv_reply(msg.data(), int(msg.size()), &srv);
        for (ares_srv_reply* s = srv; s; s = s->next) {
            std::string t = s->host ? s->host : "";
            if (!t.empty() && t.back() == '.') t.pop_back();
            if (!t.empty()) a.srv.push_back(Answer::Srv{std::move(t), s->port, s->priority, s->weight});
        }
        if (srv) ares_free_data(srv);
        if (r == ARES_SUCCESS && !a.srv.empty()) {
            a.verdict = Verdict::Valid;
            read_additional(msg, a.additional);
        } else {
            a.verdict = r == ARES_ENODATA || r == ARES_SUCCESS ? Verdict::Other : Verdict::Invalid;
        }
        return a;
    }
    if (type == kTypeA) {
        ares_addrttl ttl[kMaxRecords];
        r = ares_parse_a_reply(msg.data(), int(msg.size()), &host, ttl, &n);
        if (r == ARES_SUCCESS)
            for (int i = 0; i < n; ++i) a.addrs.push_back(ip_of(AF_INET, &ttl[i].ipaddr));
    } else {
        ares_addr6ttl ttl[kMaxRecords];
        r = ares_parse_aaaa_reply(msg.data(), int(msg.size()), &host, ttl, &n);
        if (r == ARES_SUCCESS)
            for (int i = 0; i < n; ++i) a.addrs.push_back(ip_of(AF_INET6, &ttl[i].ip6addr));
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
