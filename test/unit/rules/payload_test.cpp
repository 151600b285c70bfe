// The mode tcp payload fetches: the ClientHello parser (payload.hpp) against a real hello that
// `openssl s_client -servername sni.example.com -alpn h2,http/1.1` (OpenSSL 3.0) sent, every
// truncation of it, corrupted copies and random bytes (each checked against exact-size heap copies,
// so ASan sees any read past the end), and the three-valued conditions and tcp-request rules on top.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "edgeshard/rules/payload.hpp"
#include "edgeshard/rules/rules.hpp"

using es::config::Acl;
using es::config::Condition;
using es::config::CondTerm;
using es::config::TcpAction;
using es::config::TcpRule;
using es::rules::Peek;
using es::rules::TcpVerdict;
using es::rules::Tri;
using es::rules::Txn;
using Match = es::config::Acl::Match;

namespace {

// 339 bytes: one handshake record holding the whole ClientHello.
const char* const kHelloHex =
    "160301014e0100014a0303b8145fe24a107b5a9e2c3de98404b77caf2582a5b6ce5bf1106f41935ae26d6a2058579109"
    "e2520c4369e4ceb4935063815d11bd5dd9bfa277cc5f53aaa682e778003e130213031301c02cc030009fcca9cca8ccaa"
    "c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000c3"
    "00000014001200000f736e692e6578616d706c652e636f6d000b000403000102000a00160014001d0017001e00190018"
    "01000101010201030104002300000010000e000c02683208687474702f312e310016000000170000000d002a00280403"
    "05030603080708080809080a080b080408050806040105010601030303010302040205020602002b0009080304030303"
    "020301002d00020101003300260024001d0020afc8ad28fb798224c5c2bcd79a203f90515cab8b26dcd387d23de97835"
    "8b7a3a";

std::string unhex(const char* h) {
    std::string out;
    for (std::size_t i = 0; h[i] && h[i + 1]; i += 2) {
        auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
        out.push_back(static_cast<char>(nib(h[i]) * 16 + nib(h[i + 1])));
    }
    return out;
}

const std::string& hello() {
    static const std::string h = unhex(kHelloHex);
    return h;
}

// An exact-size heap copy: a read one byte past `n` is a heap overflow ASan reports.
struct Exact {
    explicit Exact(std::string_view s) : p(new char[s.size() ? s.size() : 1]), n(s.size()) {
        if (n) std::memcpy(p.get(), s.data(), n);
    }
    std::string_view view() const { return {p.get(), n}; }
    std::unique_ptr<char[]> p;
    std::size_t n;
};

struct All {
    Peek sni, type, ver;
    std::string_view name;
    int hello_type = -1;
    std::int64_t version = -1;
};

All peek_all(std::string_view b) {
    All a;
    a.sni = es::rules::ssl_sni(b, a.name);
    a.type = es::rules::ssl_hello_type(b, a.hello_type);
    a.ver = es::rules::ssl_record_version(b, a.version);
    if (a.sni == Peek::Found) {
        // the name lies inside the input and is 1..255 bytes
        CHECK(a.name.data() >= b.data());
        CHECK(a.name.data() + a.name.size() <= b.data() + b.size());
        CHECK(!a.name.empty());
        CHECK(a.name.size() <= 255);
    }
    return a;
}

Acl acl(std::string fetch, Match m, std::vector<std::string> patterns = {},
        std::vector<Acl::IntRange> ranges = {}) {
    Acl a;
    a.name = "a";
    a.fetch = std::move(fetch);
    a.match = m;
    a.patterns = std::move(patterns);
    a.ranges = std::move(ranges);
    return a;
}

Condition cond(std::vector<std::vector<CondTerm>> any_of, bool unless = false) {
    Condition c;
    c.present = true;
    c.unless = unless;
    c.any_of = std::move(any_of);
    return c;
}

Txn txn(std::string_view payload, bool final) {
    Txn t;
    t.payload = payload;
    t.payload_final = final;
    return t;
}

}  // namespace

TEST_CASE("ClientHello: a real hello gives its server name, handshake type and record version") {
    const Exact e(hello());
    REQUIRE(e.n == 339);
    const All a = peek_all(e.view());
    REQUIRE(a.sni == Peek::Found);
    CHECK(a.name == "sni.example.com");
    REQUIRE(a.type == Peek::Found);
    CHECK(a.hello_type == 1);
    REQUIRE(a.ver == Peek::Found);
    CHECK(a.version == 3 * 65536 + 1);  // TLS 1.3 clients announce TLS 1.0 in the record layer
    // bytes after the record (the next flight) change nothing
    const Exact more(hello() + std::string("\x14\x03\x03\x00\x01\x01", 6));
    CHECK(peek_all(more.view()).name == "sni.example.com");
}

TEST_CASE("ClientHello: every truncation is 'not yet', never a value or an error") {
    for (std::size_t n = 0; n < hello().size(); ++n) {
        CAPTURE(n);
        const Exact e(std::string_view(hello()).substr(0, n));
        const All a = peek_all(e.view());
        CHECK(a.sni == Peek::NeedMore);
        CHECK(a.type == Peek::NeedMore);
        CHECK(a.ver == Peek::NeedMore);
    }
}

TEST_CASE("ClientHello: not TLS, not a hello, no server name, lying lengths") {
    for (std::string_view s :
         {std::string_view("GET / HTTP/1.1\r\n\r\n"), std::string_view("\x80\x2e\x01\x03\x01", 5),
          std::string_view("SSH-2.0-x\r\n")}) {
        const All a = peek_all(Exact(s).view());
        CHECK(a.sni == Peek::Absent);
        CHECK(a.type == Peek::Absent);
        CHECK(a.ver == Peek::Absent);
    }
    // an alert record: a record version, but no handshake
    const Exact alert(std::string_view("\x15\x03\x03\x00\x02\x02\x28", 7));
    CHECK(peek_all(alert.view()).ver == Peek::Found);
    CHECK(peek_all(alert.view()).type == Peek::Absent);
    CHECK(peek_all(alert.view()).sni == Peek::Absent);
    // a handshake record of version 2.x
    CHECK(peek_all(Exact(std::string_view("\x16\x02", 2)).view()).sni == Peek::Absent);
    // a ServerHello has a handshake type (2) and no server name
    std::string sh = hello();
    sh[5] = 2;
    CHECK(peek_all(Exact(sh).view()).sni == Peek::Absent);
    CHECK(peek_all(Exact(sh).view()).hello_type == 2);
    // the server_name extension renamed: a hello without SNI
    std::string nosni = hello();
    const auto at = nosni.find("sni.example.com");
    REQUIRE(at != std::string::npos);
    REQUIRE(nosni[at - 9] == 0);
    REQUIRE(nosni[at - 8] == 0);
    nosni[at - 9] = nosni[at - 8] = static_cast<char>(0xfa);
    CHECK(peek_all(Exact(nosni).view()).sni == Peek::Absent);
    CHECK(peek_all(Exact(nosni).view()).hello_type == 1);
    // a name longer than its extension, a list longer than the hello, a record above 2^14 + 2048
    std::string longname = hello();
    longname[at - 1] = static_cast<char>(0x7f);
    CHECK(peek_all(Exact(longname).view()).sni == Peek::Absent);
    std::string biglist = hello();
    biglist[at - 5] = static_cast<char>(0xff);
    CHECK(peek_all(Exact(biglist).view()).sni == Peek::Absent);
    std::string bigrec = hello();
    bigrec[3] = static_cast<char>(0x48);
    bigrec[4] = static_cast<char>(0x01);
    CHECK(peek_all(Exact(bigrec).view()).sni == Peek::Absent);
    // a hello longer than its record (spread over records): no SNI from the first record alone
    std::string spread = hello();
    spread[7] = static_cast<char>(spread[7] + 1);
    CHECK(peek_all(Exact(spread).view()).sni == Peek::Absent);
}

TEST_CASE("ClientHello: random mutations and truncations stay in bounds") {
    std::mt19937 rng(12345);
    const std::string& h = hello();
    int found = 0;
    for (int i = 0; i < 60000; ++i) {
        std::string b = h;
        const int flips = 1 + int(rng() % 4);
        for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng());
        b.resize(rng() % (b.size() + 1));
        const All a = peek_all(Exact(b).view());
        found += a.sni == Peek::Found;
    }
    for (int i = 0; i < 20000; ++i) {  // random bytes behind a handshake record header
        std::string b("\x16\x03\x01", 3);
        const std::size_t n = rng() % 600;
        b.push_back(static_cast<char>(n >> 8));
        b.push_back(static_cast<char>(n & 0xff));
        b.push_back('\x01');
        for (std::size_t k = 0; k < n; ++k) b.push_back(static_cast<char>(rng()));
        b.resize(rng() % (b.size() + 1));
        peek_all(Exact(b).view());
    }
    CHECK(found > 0);  // most single flips outside the name's lengths keep a name
}

TEST_CASE("payload ACLs: three-valued conditions while bytes may still come") {
    const std::string& h = hello();
    const std::vector<Acl> acls = {
        acl("req.ssl_hello_type", Match::Int, {}, {{1, 1}}),               // 0
        acl("req.ssl_sni", Match::End, {".example.com"}),                  // 1
        acl("req.len", Match::Int, {}, {{11, INT64_MAX}}),                 // 2
        acl("req.payload", Match::Bin, {std::string("\x16\x03\x01", 3)}),  // 3
        acl("always_true", Match::Bool),                                   // 4
        acl("always_false", Match::Bool),                                  // 5
        acl("req.ssl_sni", Match::Dom, {"example.com"}),                   // 6
    };
    std::vector<Acl> a = acls;
    a[3].off = 0;
    a[3].len = 3;
    auto c1 = [](int i, bool neg = false) { return cond({{CondTerm{{i}, neg}}}); };
    // nothing yet: Miss while bytes may come, No once final
    CHECK(es::rules::eval_condition3(c1(0), a, txn("", false)) == Tri::Miss);
    CHECK(es::rules::eval_condition3(c1(0), a, txn("", true)) == Tri::No);
    CHECK(es::rules::eval_condition3(c1(0, true), a, txn("", false)) == Tri::Miss);  // '!' keeps Miss
    CHECK(es::rules::eval_condition3(cond({{CondTerm{{0}, false}}}, true), a, txn("", false)) == Tri::Miss);
    // half a hello, then all of it
    const std::string_view half = std::string_view(h).substr(0, 100);
    CHECK(es::rules::eval_condition3(c1(1), a, txn(half, false)) == Tri::Miss);
    CHECK(es::rules::eval_condition3(c1(1), a, txn(h, false)) == Tri::Yes);
    CHECK(es::rules::eval_condition3(c1(6), a, txn(h, false)) == Tri::Yes);
    CHECK(es::rules::eval_condition3(c1(3), a, txn(half.substr(0, 2), false)) == Tri::Miss);
    CHECK(es::rules::eval_condition3(c1(3), a, txn(half, false)) == Tri::Yes);
    // plain text is known not to be a hello at once
    CHECK(es::rules::eval_condition3(c1(0), a, txn("GET /", false)) == Tri::No);
    // req.len may still grow: a mismatch waits, a match does not
    CHECK(es::rules::eval_condition3(c1(2), a, txn("12345", false)) == Tri::Miss);
    CHECK(es::rules::eval_condition3(c1(2), a, txn("12345", true)) == Tri::No);
    CHECK(es::rules::eval_condition3(c1(2), a, txn("123456789012", false)) == Tri::Yes);
    // AND: a No decides; OR: a Yes decides; otherwise Miss
    CHECK(es::rules::eval_condition3(cond({{CondTerm{{0}, false}, CondTerm{{5}, false}}}), a,
                                     txn("", false)) == Tri::No);
    CHECK(es::rules::eval_condition3(cond({{CondTerm{{0}, false}, CondTerm{{4}, false}}}), a,
                                     txn("", false)) == Tri::Miss);
    CHECK(es::rules::eval_condition3(cond({{CondTerm{{0}, false}}, {CondTerm{{4}, false}}}), a,
                                     txn("", false)) == Tri::Yes);
    // the two-valued evaluation (use_backend) treats missing bytes as no match
    CHECK_FALSE(es::rules::eval_acl(a[1], txn(half, true)));
    CHECK(es::rules::eval_acl(a[1], txn(h, true)));
}

TEST_CASE("req.proto_http (the HTTP ACL): a request head, waiting for an incomplete one") {
    const std::vector<Acl> a = {acl("req.proto_http", Match::Bool)};
    const auto c = cond({{CondTerm{{0}, false}}});
    CHECK(es::rules::eval_condition3(c, a, txn("", false)) == Tri::Miss);
    CHECK(es::rules::eval_condition3(c, a, txn("GET / HTTP/1.1\r\nHo", false)) == Tri::Miss);
    CHECK(es::rules::eval_condition3(c, a, txn("GET / HTTP/1.1\r\nHo", true)) == Tri::No);
    CHECK(es::rules::eval_condition3(c, a, txn("GET / HTTP/1.1\r\nHost: a\r\n\r\n", false)) == Tri::Yes);
    CHECK(es::rules::eval_condition3(c, a, txn("HELLO tcp\r\n", false)) == Tri::No);  // not HTTP: known at once
    CHECK(es::rules::eval_condition3(c, a, txn(hello(), false)) == Tri::No);
    CHECK(es::rules::eval_acl(a[0], txn("POST /x HTTP/1.0\r\n\r\nbody", true)));
}

TEST_CASE("tcp-request rules: accept, reject, wait") {
    const std::string& h = hello();
    const std::vector<Acl> a = {acl("req.ssl_hello_type", Match::Int, {}, {{1, 1}})};
    std::vector<TcpRule> rules(2);
    rules[0].action = TcpAction::Accept;
    rules[0].cond = cond({{CondTerm{{0}, false}}});
    rules[1].action = TcpAction::Reject;
    CHECK(es::rules::run_tcp_rules(rules, a, txn("", false)) == TcpVerdict::Wait);
    CHECK(es::rules::run_tcp_rules(rules, a, txn(std::string_view(h).substr(0, 9), false)) ==
          TcpVerdict::Wait);
    CHECK(es::rules::run_tcp_rules(rules, a, txn(h, false)) == TcpVerdict::Accept);
    CHECK(es::rules::run_tcp_rules(rules, a, txn("hello", false)) == TcpVerdict::Reject);
    CHECK(es::rules::run_tcp_rules(rules, a, txn("", true)) == TcpVerdict::Reject);  // delay over
    CHECK(es::rules::run_tcp_rules({}, a, txn("", false)) == TcpVerdict::Accept);    // no rule: accept
}

TEST_CASE("ports and dom matches") {
    Txn t;
    sockaddr_storage ss{};
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(40000);
    t.src = &ss;
    t.dst_port = 443;
    CHECK(es::rules::eval_acl(acl("src_port", Match::Int, {}, {{40000, 40000}}), t));
    CHECK_FALSE(es::rules::eval_acl(acl("src_port", Match::Int, {}, {{1, 1024}}), t));
    CHECK(es::rules::eval_acl(acl("dst_port", Match::Int, {}, {{443, 443}}), t));
    t.dst_port = -1;
    CHECK_FALSE(es::rules::eval_acl(acl("dst_port", Match::Found), t));
    Txn h;
    h.payload = hello();
    CHECK_FALSE(es::rules::eval_acl(acl("req.ssl_sni", Match::Dom, {"ample.com"}), h));
    CHECK(es::rules::eval_acl(acl("req.ssl_sni", Match::Dom, {".sni."}), h));
    CHECK(es::rules::eval_acl(acl("req.ssl_sni", Match::Beg, {"sni."}), h));
}
