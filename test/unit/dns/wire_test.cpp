// Queries and answers as the runtime resolvers build and judge them (dns/wire.hpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "edgeshard/dns/wire.hpp"

using namespace es::dns;

namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, int v) {
    b.push_back(std::uint8_t(v >> 8));
    b.push_back(std::uint8_t(v));
}

Bytes name(const std::string& n) {
    Bytes b;
    std::size_t p = 0;
    while (p < n.size()) {
        std::size_t d = n.find('.', p);
        if (d == std::string::npos) d = n.size();
        b.push_back(std::uint8_t(d - p));
        b.insert(b.end(), n.begin() + long(p), n.begin() + long(d));
        p = d + 1;
    }
    b.push_back(0);
    return b;
}

struct Rr {
    std::string owner;
    int type;
    Bytes data;
};

// An answer with flags `flags` (QR set by the caller), the question (qname, qtype) and records.
Bytes answer(int id, int flags, const std::string& qname, int qtype, const std::vector<Rr>& rrs, int qdcount = 1) {
    Bytes b;
    put16(b, id);
    put16(b, flags);
    put16(b, qdcount);
    put16(b, int(rrs.size()));
    put16(b, 0);
    put16(b, 0);
    const Bytes q = name(qname);
    b.insert(b.end(), q.begin(), q.end());
    put16(b, qtype);
    put16(b, 1);
    for (const Rr& r : rrs) {
        const Bytes o = name(r.owner);
        b.insert(b.end(), o.begin(), o.end());
        put16(b, r.type);
        put16(b, 1);
        put16(b, 0);
        put16(b, 60);  // TTL
        put16(b, int(r.data.size()));
        b.insert(b.end(), r.data.begin(), r.data.end());
    }
    return b;
}

constexpr int kOk = 0x8180;  // QR, RD, RA, NOERROR

}  // namespace

TEST_CASE("a query: the id, one question, recursion desired, EDNS0 only above 512 bytes") {
    const Bytes q = build_query("app.svc.test", kTypeA, 0x1234, 512);
    REQUIRE(q.size() > 12);
    CHECK(message_id(q) == 0x1234);
    CHECK((q[2] & 0x01) == 1);        // RD
    CHECK((q[4] << 8 | q[5]) == 1);   // QDCOUNT
    CHECK((q[10] << 8 | q[11]) == 0); // ARCOUNT: no OPT record
    const Bytes e = build_query("app.svc.test", kTypeAAAA, 7, 8192);
    CHECK((e[10] << 8 | e[11]) == 1);  // the OPT record announcing 8192 bytes
    CHECK(message_id(Bytes{1}) == -1);
}

TEST_CASE("answers judged as HAProxy's resolvers judge them") {
    const std::string n = "app.svc.test";
    SUBCASE("valid A records, in order") {
        const Answer a = parse_answer(answer(1, kOk, n, kTypeA, {{n, kTypeA, {127, 0, 0, 2}}, {n, kTypeA, {127, 0, 0, 3}}}), n, kTypeA);
        CHECK(a.verdict == Verdict::Valid);
        REQUIRE(a.addrs.size() == 2);
        CHECK(a.addrs[0].host() == "127.0.0.2");
        CHECK(a.addrs[1].host() == "127.0.0.3");
        CHECK(a.cnames == 0);
    }
    SUBCASE("AAAA, and the name compares without case") {
        Bytes v6(16, 0);
        v6[15] = 1;
        const Answer a = parse_answer(answer(1, kOk, "APP.svc.TEST", kTypeAAAA, {{n, kTypeAAAA, v6}}), n, kTypeAAAA);
        CHECK(a.verdict == Verdict::Valid);
        REQUIRE(a.addrs.size() == 1);
        CHECK(a.addrs[0].host() == "::1");
    }
    SUBCASE("a CNAME followed to its address") {
        Bytes target = name("real.svc.test");
        const Answer a = parse_answer(
            answer(1, kOk, n, kTypeA, {{n, 5, target}, {"real.svc.test", kTypeA, {10, 0, 0, 9}}}), n, kTypeA);
        CHECK(a.verdict == Verdict::Valid);
        CHECK(a.cnames == 1);
        REQUIRE(a.addrs.size() == 1);
        CHECK(a.addrs[0].host() == "10.0.0.9");
    }
    SUBCASE("rcodes and flags") {
        CHECK(parse_answer(answer(1, 0x8183, n, kTypeA, {}), n, kTypeA).verdict == Verdict::Nx);
        CHECK(parse_answer(answer(1, 0x8185, n, kTypeA, {}), n, kTypeA).verdict == Verdict::Refused);
        CHECK(parse_answer(answer(1, 0x8182, n, kTypeA, {}), n, kTypeA).verdict == Verdict::Other);  // SERVFAIL
        CHECK(parse_answer(answer(1, 0x8380, n, kTypeA, {}), n, kTypeA).verdict == Verdict::Truncated);
        CHECK(parse_answer(answer(1, kOk, n, kTypeA, {}), n, kTypeA).verdict == Verdict::AnyErr);  // NODATA
    }
    SUBCASE("not an answer to the question asked") {
        CHECK(parse_answer(answer(1, kOk, "other.svc.test", kTypeA, {{"other.svc.test", kTypeA, {1, 2, 3, 4}}}), n, kTypeA)
                  .verdict == Verdict::Invalid);
        CHECK(parse_answer(answer(1, kOk, n, kTypeAAAA, {}), n, kTypeA).verdict == Verdict::Invalid);  // another type
        CHECK(parse_answer(answer(1, 0x0100, n, kTypeA, {}), n, kTypeA).verdict == Verdict::Invalid);  // a query
        CHECK(parse_answer(answer(1, kOk, n, kTypeA, {}, 2), n, kTypeA).verdict == Verdict::Invalid);  // 2 questions
    }
    SUBCASE("records of another type only, and garbage") {
        CHECK(parse_answer(answer(1, kOk, n, kTypeA, {{n, 16, {3, 'a', 'b', 'c'}}}), n, kTypeA).verdict == Verdict::Other);
        const Bytes whole = answer(1, kOk, n, kTypeA, {{n, kTypeA, {127, 0, 0, 2}}});
        const Bytes cut(whole.begin(), whole.begin() + long(whole.size()) - 3);  // the address cut short
        CHECK(parse_answer(cut, n, kTypeA).verdict == Verdict::Invalid);
        CHECK(parse_answer(Bytes(5, 0xff), n, kTypeA).verdict == Verdict::Invalid);
    }
}
