// Direct sealing (src/tls/seal.hpp): after the handshake a server Conn makes its records itself;
// a real OpenSSL client is the judge of every record, key update and alert.
#include "helpers.hpp"

#include "../../../src/tls/seal.hpp"

namespace {

std::string pattern(std::size_t n, int salt) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = char('a' + (i * 7 + std::size_t(salt)) % 26);
    return s;
}

struct Suite {
    const char* name;
    int ver;
    const char* suite;  // TLS 1.3 suite or TLS 1.2 cipher
};
const Suite kSuites[] = {
    {"1.3 AES-128-GCM", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"},
    {"1.3 AES-256-GCM", TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384"},
    {"1.3 CHACHA20-POLY1305", TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256"},
    {"1.2 AES-128-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"1.2 AES-256-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384"},
};

BindOptions suite_options(const OneCert& oc, const Suite& t) {
    BindOptions o = oc.o;
    if (t.ver == TLS1_3_VERSION)
        o.ciphersuites = t.suite;
    else
        o.ciphers = t.suite;
    return o;
}

}  // namespace

TEST_CASE("tls seal: every offered AEAD suite, TLS 1.3 and 1.2: bodies byte-exact, both ways, close_notify") {
    for (const Suite& t : kSuites) {
        CAPTURE(t.name);
        OneCert oc;
        auto b = bind_or_fail(suite_options(oc, t));
        Conn s(*b);
        Client c(nullptr, "", t.ver, t.ver);
        REQUIRE(handshake(c, s));
        // the client's request first (TLS 1.3: after the tickets), as on the data path
        std::size_t n = 0;
        REQUIRE(SSL_write_ex(c.ssl, "GET", 3, &n) == 1);
        c.to(s);
        CHECK(read_all(s) == "GET");
        const std::string body = pattern(100 * 1024 + 17, 1);
        CHECK_FALSE(s.sealing());  // decided by the first direct()
        REQUIRE(s.direct());
        REQUIRE(s.write(body.data(), body.size()));
        CHECK(s.sealing());
        CHECK(s.pending_out() > body.size());
        c.from(s);
        CHECK(client_read_all(c) == body);
        // receiving stays OpenSSL's: more from the client, then more from the server
        REQUIRE(SSL_write_ex(c.ssl, "again", 5, &n) == 1);
        c.to(s);
        CHECK(read_all(s) == "again");
        REQUIRE(s.write("tail", 4));
        c.from(s);
        CHECK(client_read_all(c) == "tail");
        s.close();
        c.from(s);
        char buf[64];
        CHECK(SSL_read_ex(c.ssl, buf, sizeof buf, &n) == 0);
        CHECK(SSL_get_error(c.ssl, 0) == SSL_ERROR_ZERO_RETURN);
        CHECK_FALSE(s.failed());
    }
}

TEST_CASE("tls seal: records sealed into the caller's block fill it, each at most 16 KiB of plaintext") {
    for (const Suite& t : kSuites) {
        CAPTURE(t.name);
        OneCert oc;
        auto b = bind_or_fail(suite_options(oc, t));
        Conn s(*b);
        Client c(nullptr, "", t.ver, t.ver);
        REQUIRE(handshake(c, s));
        c.from(s);  // the tickets (TLS 1.3)
        REQUIRE(s.direct());
        const std::string body = pattern(1024 * 1024 + 5, 2);
        std::string wire;
        std::size_t at = 0;
        std::vector<char> block(32768);
        int blocks = 0;
        while (at < body.size()) {
            std::size_t used = 0;
            const std::size_t took = s.seal_into(body.data() + at, body.size() - at, block.data(), block.size(), used);
            REQUIRE(took > 0);
            at += took;
            if (at < body.size()) CHECK(used + 4096 + 64 > block.size());  // full but for a small tail
            // each record's header: at most 16 KiB plaintext plus the suite's overhead
            for (std::size_t r = 0; r < used;) {
                const std::size_t len = std::size_t(std::uint8_t(block[r + 3])) << 8 | std::uint8_t(block[r + 4]);
                CHECK(len <= 16384 + 8 + 16 + 1);
                r += 5 + len;
                CHECK(r <= used);
            }
            wire.append(block.data(), used);
            ++blocks;
        }
        CHECK(blocks <= 34);  // 1 MiB in 32 KiB blocks, nearly full
        CHECK_FALSE(s.failed());
        BIO_write(c.in, wire.data(), int(wire.size()));
        CHECK(client_read_all(c) == body);
        // no room for a record: nothing taken
        std::size_t used = 0;
        CHECK(s.seal_into("x", 1, block.data(), 20, used) == 0);
        CHECK(used == 0);
    }
}

TEST_CASE("tls seal: connections of one suite take turns on the thread's cipher context, each with its own key") {
    OneCert oc;
    auto b = bind_or_fail(oc.o);
    Conn s1(*b), s2(*b);
    Client c1, c2;
    REQUIRE(handshake(c1, s1));
    REQUIRE(handshake(c2, s2));
    REQUIRE((s1.direct() && s2.direct()));
    std::string want1, want2;
    for (int i = 0; i < 6; ++i) {
        const std::string a = pattern(3000 + std::size_t(i) * 5000, i), z = pattern(20000 - std::size_t(i) * 3000, i + 7);
        REQUIRE(s1.write(a.data(), a.size()));
        REQUIRE(s2.write(z.data(), z.size()));
        want1 += a;
        want2 += z;
    }
    CHECK((s1.sealing() && s2.sealing()));
    c1.from(s1);
    c2.from(s2);
    CHECK(client_read_all(c1) == want1);
    CHECK(client_read_all(c2) == want2);
}

TEST_CASE("tls seal: off for the bind, a CBC or CCM suite, a connection to a server: OpenSSL's records, unchanged") {
    OneCert oc;
    struct Case {
        const char* name;
        bool off;
        int ver;
        const char* ciphers;
        const char* suites;
    } cases[] = {
        {"tune.ssl.direct-seal off", true, 0, nullptr, nullptr},
        {"TLS 1.2 CBC", false, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256", nullptr},
        {"TLS 1.3 AES-128-CCM", false, TLS1_3_VERSION, nullptr, "TLS_AES_128_CCM_SHA256"},
    };
    for (const Case& k : cases) {
        CAPTURE(k.name);
        BindOptions o = oc.o;
        o.direct_seal = !k.off;
        if (k.ciphers) o.ciphers = k.ciphers;
        if (k.suites) o.ciphersuites = k.suites;
        auto b = bind_or_fail(o);
        Conn s(*b);
        Client c(nullptr, "", k.ver, k.ver);
        if (k.suites) SSL_set_ciphersuites(c.ssl, k.suites);
        REQUIRE(handshake(c, s));
        const std::string body = pattern(40000, 3);
        REQUIRE(s.write(body.data(), body.size()));
        CHECK_FALSE(s.sealing());
        CHECK_FALSE(s.direct());
        c.from(s);
        CHECK(client_read_all(c) == body);
    }
}

TEST_CASE("tls seal: TLS 1.3 key updates: the client's request is answered, and the key rotates on its own") {
    OneCert oc;
    oc.o.ciphersuites = "TLS_AES_256_GCM_SHA384";
    auto b = bind_or_fail(oc.o);
    Conn s(*b);
    Client c(nullptr, "", TLS1_3_VERSION, TLS1_3_VERSION);
    Seen seen;
    seen.watch(c.ssl);
    REQUIRE(handshake(c, s));
    REQUIRE(s.direct());
    REQUIRE(s.write("one", 3));
    c.from(s);
    CHECK(client_read_all(c) == "one");
    for (int round = 1; round <= 2; ++round) {
        CAPTURE(round);
        // the client updates its key and asks for ours; its next record carries both
        REQUIRE(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
        std::size_t n = 0;
        REQUIRE(SSL_write_ex(c.ssl, "ping", 4, &n) == 1);
        c.to(s);
        CHECK(read_all(s) == "ping");
        CHECK(seen.key_updates == round - 1);
        const std::string body = pattern(50000, round);
        INFO(s.error());
        REQUIRE(s.write(body.data(), body.size()));
        c.from(s);
        CHECK(client_read_all(c) == body);  // opened with the next key: the KeyUpdate came first
        CHECK(seen.key_updates == round);
    }
    // the sealer's own rotation (RFC 8446 5.5), with a tiny limit: every few records a KeyUpdate
    const std::uint64_t saved = Sealer::rotate_after;
    Sealer::rotate_after = 3;
    const std::string big = pattern(16384 * 10, 9);
    REQUIRE(s.write(big.data(), big.size()));
    Sealer::rotate_after = saved;
    c.from(s);
    CHECK(client_read_all(c) == big);
    CHECK(seen.key_updates >= 2 + 3);
    CHECK_FALSE(s.failed());
}
