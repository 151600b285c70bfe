// tls: a bind's contexts (certificates, SNI, versions, ciphers, ALPN) and the user-space record
// layer, against a real OpenSSL client in the same process: records move between the two through
// memory, nothing touches a socket. Certificates are made here (P-256 keys, self-signed) in a
// fresh directory.
#include <doctest/doctest.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/tls/conn.hpp"
#include "edgeshard/tls/context.hpp"
#include "edgeshard/tls/ktls.hpp"
#include "edgeshard/tls/session_cache.hpp"
#include "edgeshard/tls/tickets.hpp"

using namespace es::tls;

#include "helpers.hpp"

TEST_CASE("tls: a TLS 1.3 handshake over memory, ALPN http/1.1, bytes both ways, close_notify") {
    TempDir d;
    make_cert(d.path + "/site.pem", "site.test", {"site.test"});
    BindOptions o;
    o.crt = {d.path + "/site.pem"};
    o.alpn = {"http/1.1"};
    auto b = bind_or_fail(o);
    Conn s(*b);
    REQUIRE(s.ok());
    Client c("site.test", std::string("\x02h2\x08http/1.1", 12));
    REQUIRE(handshake(c, s));
    CHECK(s.established());
    const Facts f = s.facts();
    CHECK(f.protocol == "TLSv1.3");
    CHECK(f.sni == "site.test");
    CHECK(f.alpn == "http/1.1");  // h2 asked first, not offered
    CHECK_FALSE(f.cipher.empty());
    CHECK(c.peer_cn() == "site.test");

    // client -> server: a request, in several records
    const std::string req = "GET / HTTP/1.1\r\nHost: site.test\r\n\r\n";
    std::size_t w = 0;
    REQUIRE(SSL_write_ex(c.ssl, req.data(), 10, &w) == 1);
    REQUIRE(SSL_write_ex(c.ssl, req.data() + 10, req.size() - 10, &w) == 1);
    c.to(s);
    CHECK(read_all(s) == req);
    // server -> client: 100 KiB (several records), byte-exact
    std::string body(100 * 1024, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = char('a' + i % 23);
    REQUIRE(s.write(body.data(), body.size()));
    CHECK(s.pending_out() > body.size());  // records carry their headers and tags
    c.from(s);
    CHECK(client_read_all(c) == body);
    char buf[64];
    std::size_t n = 0;
    // close_notify reaches the client
    s.close();
    c.from(s);
    CHECK(SSL_read_ex(c.ssl, buf, sizeof buf, &n) == 0);
    CHECK(SSL_get_error(c.ssl, 0) == SSL_ERROR_ZERO_RETURN);
    // and the client's reaches the server
    SSL_shutdown(c.ssl);
    c.to(s);
    CHECK(read_all(s).empty());
    CHECK(s.peer_closed());
    CHECK_FALSE(s.failed());
}

TEST_CASE("tls: lent records are read in place; a partial record's tail is kept across lends") {
    TempDir d;
    make_cert(d.path + "/site.pem", "site.test", {"site.test"});
    BindOptions o;
    o.crt = {d.path + "/site.pem"};
    auto b = bind_or_fail(o);
    Conn s(*b);
    Client c("site.test");
    REQUIRE(handshake(c, s));
    // 200 KiB from the client in records of 16 KiB, lent in pieces of 7,001 bytes that cut records
    // anywhere; each piece is overwritten once given back (as a recycled receive buffer would be)
    std::string body(200 * 1024, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = char('A' + i % 57);
    std::size_t w = 0;
    REQUIRE(SSL_write_ex(c.ssl, body.data(), body.size(), &w) == 1);
    std::string wire;
    char buf[16384];
    int n;
    while ((n = BIO_read(c.out, buf, sizeof buf)) > 0) wire.append(buf, std::size_t(n));
    std::string got;
    char piece[7001];
    char plain[4096];
    for (std::size_t off = 0; off < wire.size(); off += sizeof piece) {
        const std::size_t k = std::min(sizeof piece, wire.size() - off);
        std::memcpy(piece, wire.data() + off, k);
        s.lend(piece, k);
        CHECK(s.buffered_in() >= 1);
        // read only part of what is there, as a full queue would: the rest must stay readable
        std::size_t r = s.read(plain, sizeof plain);
        got.append(plain, r);
        s.unlend();
        std::memset(piece, 0xee, sizeof piece);
    }
    got += read_all(s);
    CHECK(got.size() == body.size());
    CHECK(got == body);
    CHECK(s.buffered_in() == 0);
    CHECK_FALSE(s.failed());
}

TEST_CASE("tls: SNI picks the certificate: exact names, one-label wildcards, the first one by default") {
    TempDir d;
    make_cert(d.path + "/a.pem", "default.test", {"default.test"});
    make_cert(d.path + "/b.pem", "b.test", {"b.test", "www.b.test"});
    make_cert(d.path + "/w.pem", "wild.test", {"*.wild.test"});
    BindOptions o;
    o.crt = {d.path + "/a.pem", d.path + "/b.pem", d.path + "/w.pem"};
    auto b = bind_or_fail(o);
    CHECK(b->cert_count() == 3);
    CHECK(b->names(2) == std::vector<std::string>{"*.wild.test"});
    check_sni(*b, {
        {"b.test", "b.test"},          {"WWW.B.Test", "b.test"},       {"x.wild.test", "wild.test"},
        {"wild.test", "default.test"}, {"a.x.wild.test", "default.test"}, {"nobody.test", "default.test"},
        {nullptr, "default.test"},
    });
}

TEST_CASE("tls: a certificate directory loads every certificate in name order, keys beside them") {
    TempDir d;
    const std::string dir = d.path + "/certs";
    mkdir(dir.c_str(), 0700);
    make_cert(dir + "/10-first.pem", "first.test", {"first.test"});
    EVP_PKEY* k = new_key();
    make_cert(dir + "/20-second.pem", "second.test", {"second.test"}, -1, 30, k, dir + "/20-second.pem.key");
    EVP_PKEY_free(k);
    BindOptions o;
    o.crt = {dir};
    auto b = bind_or_fail(o);
    REQUIRE(b->cert_count() == 2);  // the .key file is not a certificate
    CHECK(b->names(0) == std::vector<std::string>{"first.test"});
    Conn s(*b);
    Client c("second.test");
    REQUIRE(handshake(c, s));
    CHECK(c.peer_cn() == "second.test");
}

TEST_CASE("tls: version range: ssl-max-ver TLSv1.2 negotiates 1.2; a client below the floor fails cleanly") {
    OneCert one;
    BindOptions& o = one.o;
    o.max_ver = Version::Tls12;
    {
        auto b = bind_or_fail(o);
        Conn s(*b);
        Client c("s.test");
        REQUIRE(handshake(c, s));
        CHECK(s.facts().protocol == "TLSv1.2");
    }
    o.max_ver = Version::Any;
    o.no_versions = 1u << unsigned(Version::Tls12);  // no-tlsv12: only 1.3 is left
    {
        auto b = bind_or_fail(o);
        Conn s(*b);
        Client c("s.test", "", TLS1_2_VERSION);
        CHECK_FALSE(handshake(c, s));
        CHECK(s.failed());
        INFO("error: " << s.error());
        CHECK(s.error().find("unsupported protocol") != std::string::npos);
    }
    o.no_versions = (1u << unsigned(Version::Tls12)) | (1u << unsigned(Version::Tls13));
    CHECK(make_error(o).find("no TLS version left") != std::string::npos);
    Version v{};
    CHECK(parse_version("TLSv1.3", v));
    CHECK(v == Version::Tls13);
    CHECK_FALSE(parse_version("TLSv1.4", v));
}

TEST_CASE("tls: renegotiation is refused, with OpenSSL's records and while sealing directly") {
    OneCert one;
    BindOptions& o = one.o;
    o.max_ver = Version::Tls12;
    auto b = bind_or_fail(o);
    for (const bool sealing : {false, true}) {
        CAPTURE(sealing);
        Conn s(*b);
        Client c("s.test");
        Seen seen;
        seen.watch(c.ssl);
        REQUIRE(handshake(c, s));
        REQUIRE(s.write("hello", 5));  // OpenSSL's record first: the switch may come at any time
        if (sealing) REQUIRE(s.direct());  // the alert must then be sealed in this end's stream
        c.from(s);
        CHECK(client_read_all(c) == "hello");
        REQUIRE(SSL_renegotiate(c.ssl) == 1);
        SSL_do_handshake(c.ssl);
        c.to(s);
        CHECK(read_all(s).empty());
        c.from(s);
        // the client learns it with a no_renegotiation alert: its renegotiation does not complete
        char buf[64];
        std::size_t n = 0;
        SSL_read_ex(c.ssl, buf, sizeof buf, &n);
        CHECK(n == 0);
        CHECK(seen.alerts == 1);
        CHECK(seen.last_alert == SSL_AD_NO_RENEGOTIATION);
        CHECK(SSL_renegotiate_pending(c.ssl) == 1);
        CHECK_FALSE(s.failed());  // a warning: this end goes on
    }
}

TEST_CASE("tls: hostile input: a garbage or truncated ClientHello fails the connection, nothing else") {
    OneCert one;
    BindOptions& o = one.o;
    auto b = bind_or_fail(o);
    {
        Conn s(*b);
        const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";  // plain HTTP on a TLS port
        s.feed(junk.data(), junk.size());
        CHECK(s.handshake() == Conn::Step::Error);
        CHECK_FALSE(s.error().empty());
        CHECK(s.handshake() == Conn::Step::Error);  // stays failed
        char buf[16];
        CHECK(s.read(buf, sizeof buf) == 0);
        CHECK_FALSE(s.write("x", 1));
    }
    {
        // the first 20 bytes of a real ClientHello: the handshake waits for more, it does not fail
        Client c("s.test");
        SSL_do_handshake(c.ssl);
        char hello[4096];
        const int n = BIO_read(c.out, hello, sizeof hello);
        REQUIRE(n > 40);
        Conn s(*b);
        s.feed(hello, 20);
        CHECK(s.handshake() == Conn::Step::More);
        CHECK_FALSE(s.failed());
        s.feed(hello + 20, std::size_t(n - 20));
        CHECK(s.handshake() != Conn::Step::Error);
        CHECK(s.pending_out() > 0);  // the ServerHello flight
    }
    // another connection on the same bind is unaffected
    Conn s(*b);
    Client c("s.test");
    CHECK(handshake(c, s));
}

TEST_CASE("tls: configuration errors name what to fix; an expired certificate loads with a warning") {
    TempDir d;
    BindOptions o;
    CHECK(make_error(o).find("crt") != std::string::npos);
    o.crt = {d.path + "/missing.pem"};
    CHECK(make_error(o).find("missing.pem") != std::string::npos);
    // a key that is not the certificate's
    EVP_PKEY* other = new_key();
    make_cert(d.path + "/c.pem", "c.test", {"c.test"});
    {
        FILE* f = std::fopen((d.path + "/mismatch.pem").c_str(), "w");
        FILE* src = std::fopen((d.path + "/c.pem").c_str(), "r");
        X509* x = PEM_read_X509(src, nullptr, nullptr, nullptr);
        PEM_write_X509(f, x);
        PEM_write_PrivateKey(f, other, nullptr, nullptr, 0, nullptr, nullptr);
        X509_free(x);
        std::fclose(src);
        std::fclose(f);
    }
    EVP_PKEY_free(other);
    o.crt = {d.path + "/mismatch.pem"};
    CHECK(make_error(o).find("does not match") != std::string::npos);
    // a certificate without a key
    {
        FILE* f = std::fopen((d.path + "/nokey.pem").c_str(), "w");
        FILE* src = std::fopen((d.path + "/c.pem").c_str(), "r");
        X509* x = PEM_read_X509(src, nullptr, nullptr, nullptr);
        PEM_write_X509(f, x);
        X509_free(x);
        std::fclose(src);
        std::fclose(f);
    }
    o.crt = {d.path + "/nokey.pem"};
    CHECK(make_error(o).find("no private key") != std::string::npos);
    o.crt = {d.path + "/c.pem"};
    o.ciphers = "NOT-A-CIPHER";
    CHECK(make_error(o).find("NOT-A-CIPHER") != std::string::npos);
    o.ciphers.clear();
    o.ciphersuites = "TLS_NOPE";
    CHECK(make_error(o).find("TLS_NOPE") != std::string::npos);
    o.ciphersuites.clear();
    o.curves = "P-999";
    CHECK(make_error(o).find("P-999") != std::string::npos);
    o.curves.clear();
    o.alpn = {"spdy/3"};
    CHECK(make_error(o).find("spdy/3") != std::string::npos);
    o.alpn = {"h2", "http/1.1"};
    std::vector<std::string> w;
    bind_or_fail(o, &w);
    REQUIRE(w.size() == 1);
    CHECK(w[0].find("h2") != std::string::npos);
    // expired: loads (clients decide), with a warning
    make_cert(d.path + "/old.pem", "old.test", {"old.test"}, -30, -1);
    o.crt = {d.path + "/old.pem"};
    o.alpn.clear();
    bind_or_fail(o, &w);
    REQUIRE(w.size() == 1);
    CHECK(w[0].find("expired") != std::string::npos);
}

// ---- resumption: ticket keys shared between contexts (shards, processes), the session cache

namespace {

std::string b64key(unsigned char fill, std::size_t n) {
    std::string raw(n, char(fill));
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    out.resize(std::size_t(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                           reinterpret_cast<const unsigned char*>(raw.data()), int(n))));
    return out;
}

void write_file(const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
}

// A full handshake (reading the TLS 1.3 tickets) on `b`; returns the client's session.
SSL_SESSION* session_from(const BindTls& b, int max_ver) {
    Client c("s.test", "", max_ver);
    Conn s(b);
    REQUIRE(handshake(c, s));
    // TLS 1.3 tickets follow the handshake: let the client read them
    char buf[16];
    SSL_read(c.ssl, buf, sizeof buf);
    CHECK(!SSL_session_reused(c.ssl));
    return SSL_get1_session(c.ssl);  // the server side is freed without a close_notify: still resumable
}

bool resumes_on(const BindTls& b, SSL_SESSION* sess, int max_ver) {
    Client c("s.test", "", max_ver);
    SSL_set_session(c.ssl, sess);
    Conn s(b);
    REQUIRE(handshake(c, s));
    CHECK(bool(SSL_session_reused(c.ssl)) == s.resumed());
    return s.resumed();
}

}  // namespace

TEST_CASE("tls: ticket key files: HAProxy's format, the last three keys, the penultimate seals") {
    TempDir d;
    const std::string f = d.path + "/k";
    write_file(f, "# comment\n" + b64key(1, 80) + "\n\n" + b64key(2, 80) + "\n" + b64key(3, 80) + "\n" + b64key(4, 80) + "\n");
    TicketKeys k;
    std::string err;
    REQUIRE(TicketKeys::load_file(f, k, err));
    REQUIRE(k.keys.size() == 3);
    CHECK(k.keys[0].name[0] == 2);
    CHECK(k.keys[k.enc].name[0] == 3);
    CHECK(k.keys[0].aes256);
    write_file(f, b64key(1, 48) + "\n" + b64key(2, 48) + "\n" + b64key(3, 48) + "\n");
    REQUIRE(TicketKeys::load_file(f, k, err));
    CHECK(!k.keys[0].aes256);
    CHECK(k.keys[0].hmac_len() == 16);
    write_file(f, b64key(1, 48) + "\n" + b64key(2, 80) + "\n" + b64key(3, 48) + "\n");
    CHECK(!TicketKeys::load_file(f, k, err));
    CHECK(err.find("line 2") != std::string::npos);
    CHECK(err.find("mixes") != std::string::npos);
    write_file(f, b64key(1, 80) + "\n" + b64key(2, 64) + "\n");
    CHECK(!TicketKeys::load_file(f, k, err));
    CHECK(err.find("line 2") != std::string::npos);
    write_file(f, b64key(1, 80) + "\n" + b64key(2, 80) + "\n");
    CHECK(!TicketKeys::load_file(f, k, err));
    CHECK(err.find("at least 3") != std::string::npos);
    CHECK(!TicketKeys::load_file(d.path + "/none", k, err));
    CHECK(err.find("cannot open") != std::string::npos);
}

TEST_CASE("tls: process ticket keys rotate: a fresh key seals, the two before it still open; handoff text") {
    const TicketKeys g1 = TicketKeys::rotate({});
    REQUIRE(g1.keys.size() == 1);
    const TicketKeys g2 = TicketKeys::rotate(g1);
    const TicketKeys g3 = TicketKeys::rotate(g2);
    const TicketKeys g4 = TicketKeys::rotate(g3);
    CHECK(g2.keys.size() == 2);
    CHECK(g4.keys.size() == 3);
    CHECK(g3.find(g1.keys[0].name) != nullptr);
    CHECK(g4.find(g1.keys[0].name) == nullptr);  // two reloads later: gone
    CHECK(g4.find(g2.keys[0].name) != nullptr);
    CHECK(std::memcmp(g4.keys[g4.enc].name, g3.keys[0].name, 16) != 0);
    TicketKeys back;
    REQUIRE(TicketKeys::decode(g4.encode(), back));
    REQUIRE(back.keys.size() == 3);
    CHECK(back.enc == g4.enc);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(std::memcmp(back.keys[i].name, g4.keys[i].name, 16) == 0);
        CHECK(std::memcmp(back.keys[i].aes, g4.keys[i].aes, 32) == 0);
        CHECK(std::memcmp(back.keys[i].hmac, g4.keys[i].hmac, 32) == 0);
    }
    for (const char* bad : {"", "0", "5 " , "x QUJD", "0 !!!!", "3 QUJD"}) CHECK(!TicketKeys::decode(bad, back));
}

TEST_CASE("tls: tickets sealed on one shard's context open on another's, TLS 1.3 and 1.2; other keys do not") {
    OneCert c;
    c.o.id = "fe@3";
    set_process_ticket_keys(std::make_shared<const TicketKeys>(TicketKeys::rotate({})));
    auto shard_a = bind_or_fail(c.o);
    auto shard_b = bind_or_fail(c.o);
    for (int ver : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        CAPTURE(ver);
        SSL_SESSION* sess = session_from(*shard_a, ver);
        CHECK(resumes_on(*shard_b, sess, ver));
        CHECK(resumes_on(*shard_a, sess, ver));
        // another bind (session ID context) does not take it
        BindOptions other = c.o;
        other.id = "fe@9";
        auto foreign = bind_or_fail(other);
        CHECK(!resumes_on(*foreign, sess, ver));
        // the next process: rotated keys still open it
        set_process_ticket_keys(std::make_shared<const TicketKeys>(TicketKeys::rotate(*process_ticket_keys())));
        auto next = bind_or_fail(c.o);
        CHECK(resumes_on(*next, sess, ver));
        SSL_SESSION_free(sess);
    }
    set_process_ticket_keys(nullptr);
}

TEST_CASE("tls: no-tls-tickets: the session cache resumes by ID on its shard, counts lookups and misses, stays bounded") {
    OneCert c;
    c.o.no_tickets = true;
    c.o.id = "fe@3";
    es::core::Counter lookups, misses;
    SessionCache cache_a(2, &lookups, &misses), cache_b(2, nullptr, nullptr);
    std::string err;
    std::vector<std::string> w;
    auto a = BindTls::make(c.o, err, w, &cache_a);
    auto b = BindTls::make(c.o, err, w, &cache_b);
    REQUIRE(a);
    REQUIRE(b);
    for (int ver : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        CAPTURE(ver);
        const auto l0 = lookups.get(), m0 = misses.get();
        SSL_SESSION* sess = session_from(*a, ver);
        CHECK(cache_a.size() >= 1);
        CHECK(resumes_on(*a, sess, ver));
        CHECK(!resumes_on(*b, sess, ver));  // another shard's cache does not have it
        CHECK(lookups.get() == l0 + 1);
        CHECK(misses.get() == m0);
        SSL_SESSION_free(sess);
    }
    // bounded: more sessions than the capacity evict the least recently used
    for (int i = 0; i < 5; ++i) SSL_SESSION_free(session_from(*a, TLS1_2_VERSION));
    CHECK(cache_a.size() == 2);
}

// Kernel TLS: the keys and sequence numbers offload() would install are checked against records
// OpenSSL itself made (both ends' records open with them), so a wrong label, key block layout,
// salt or sequence shows up here, without a kernel that has TLS.
namespace {

struct Aead {
    const KtlsKeys& k;
    // Opens one record made with `d` at `seq`; the plaintext (TLS 1.3: content type removed) and
    // its type, or false.
    bool open(const KtlsDir& d, std::uint64_t seq, const std::string& rec, std::string& plain, int& type) const {
        if (rec.size() < 5 + 16) return false;
        const unsigned char* r = reinterpret_cast<const unsigned char*>(rec.data());
        const std::size_t len = std::size_t(r[3]) << 8 | r[4];
        if (rec.size() != 5 + len) return false;
        unsigned char nonce[12];
        std::memcpy(nonce, d.iv, 12);
        const unsigned char* body = r + 5;
        std::size_t blen = len;
        unsigned char aad[13];
        std::size_t aad_len = 5;
        if (k.version == 0x0303) {  // TLS 1.2 AES-GCM: salt + explicit nonce; AAD = seq, type, version, length
            std::memcpy(nonce + 4, body, 8);
            body += 8;
            blen -= 8;
            for (int i = 0; i < 8; ++i) aad[i] = static_cast<unsigned char>(seq >> (56 - 8 * i));
            aad[8] = r[0];
            aad[9] = r[1];
            aad[10] = r[2];
            aad[11] = static_cast<unsigned char>((blen - 16) >> 8);
            aad[12] = static_cast<unsigned char>(blen - 16);
            aad_len = 13;
        } else {  // TLS 1.3 (RFC 8446 5.3): iv XOR the padded sequence; AAD = the record header
            for (int i = 0; i < 8; ++i) nonce[4 + i] ^= static_cast<unsigned char>(seq >> (56 - 8 * i));
            std::memcpy(aad, r, 5);
        }
        const EVP_CIPHER* ciph = k.cipher == 51 ? EVP_aes_128_gcm() : k.cipher == 52 ? EVP_aes_256_gcm()
                                                                                    : EVP_chacha20_poly1305();
        EVP_CIPHER_CTX* cx = EVP_CIPHER_CTX_new();
        std::string out(blen - 16, '\0');
        int n = 0, m = 0;
        bool ok = EVP_DecryptInit_ex(cx, ciph, nullptr, nullptr, nullptr) == 1 &&
                  EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
                  EVP_DecryptInit_ex(cx, nullptr, nullptr, d.key, nonce) == 1 &&
                  EVP_DecryptUpdate(cx, nullptr, &n, aad, int(aad_len)) == 1 &&
                  EVP_DecryptUpdate(cx, reinterpret_cast<unsigned char*>(out.data()), &n, body, int(blen - 16)) == 1 &&
                  EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_AEAD_SET_TAG, 16, const_cast<unsigned char*>(body + blen - 16)) == 1 &&
                  EVP_DecryptFinal_ex(cx, reinterpret_cast<unsigned char*>(out.data()) + n, &m) == 1;
        EVP_CIPHER_CTX_free(cx);
        if (!ok) return false;
        type = r[0];
        if (k.version != 0x0303) {  // inner plaintext: content, type, zero padding
            while (!out.empty() && out.back() == '\0') out.pop_back();
            if (out.empty()) return false;
            type = static_cast<unsigned char>(out.back());
            out.pop_back();
        }
        plain = out;
        return true;
    }
};

// The first record in `bytes` (which must start at a record boundary).
std::string first_record(const std::string& bytes) {
    REQUIRE(bytes.size() >= 5);
    const std::size_t len = std::size_t(static_cast<unsigned char>(bytes[3])) << 8 | static_cast<unsigned char>(bytes[4]);
    REQUIRE(bytes.size() >= 5 + len);
    return bytes.substr(0, 5 + len);
}

std::string drain(Conn& s) {
    std::string out;
    char buf[16384];
    std::size_t n;
    while ((n = s.take_out(buf, sizeof buf)) > 0) out.append(buf, n);
    return out;
}

}  // namespace

TEST_CASE("tls: kernel TLS keys open the records OpenSSL makes, both ways, TLS 1.3 and 1.2 AES-GCM, ChaCha20") {
    struct Case {
        const char* name;
        int ver;
        const char* suite;  // TLS 1.3 suite or TLS 1.2 cipher
        int cipher;         // linux/tls.h
        bool app_before;    // records exchanged before the keys are taken
    } cases[] = {
        {"1.3 AES-128-GCM", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 51, false},
        {"1.3 AES-256-GCM", TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", 52, false},
        {"1.3 CHACHA20", TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", 54, false},
        {"1.3 AES-128-GCM, server wrote first", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 51, true},
        {"1.2 AES-128-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", 51, false},
        {"1.2 AES-256-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", 52, false},
        {"1.2 AES-256-GCM, both wrote first", TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", 52, true},
    };
    for (const Case& t : cases) {
        CAPTURE(t.name);
        OneCert oc;
        oc.o.direct_seal = false;  // OpenSSL's own records
        if (t.ver == TLS1_3_VERSION)
            oc.o.ciphersuites = t.suite;
        else
            oc.o.ciphers = t.suite;
        auto b = bind_or_fail(oc.o);
        b->enable_ktls();
        Conn s(*b);
        Client c(nullptr, "", t.ver, t.ver);
        REQUIRE(handshake(c, s));
        char buf[4096];
        std::size_t n = 0;
        if (t.app_before) {
            REQUIRE(s.write("early", 5));
            c.from(s);
            REQUIRE(SSL_read_ex(c.ssl, buf, sizeof buf, &n) == 1);
            if (t.ver == TLS1_2_VERSION) {  // TLS 1.2: the client's records are counted too
                REQUIRE(SSL_write_ex(c.ssl, "hi", 2, &n) == 1);
                c.to(s);
                CHECK(read_all(s) == "hi");
            }
        }
        KtlsKeys k;
        std::string why;
        REQUIRE_MESSAGE(s.ktls_keys(k, why), why);
        CHECK(k.cipher == t.cipher);
        CHECK(k.version == (t.ver == TLS1_3_VERSION ? 0x0304 : 0x0303));
        if (t.ver == TLS1_3_VERSION) CHECK(k.tx.seq >= (t.app_before ? 2u : 1u));  // session tickets went first
        if (t.ver == TLS1_2_VERSION) CHECK(k.rx.seq == (t.app_before ? 2u : 1u));  // the Finished, then "hi"
        Aead a{k};
        // server -> client: the next record the server makes opens with tx at tx.seq
        REQUIRE(s.write("from the server", 15));
        std::string plain;
        int type = 0;
        CHECK(a.open(k.tx, k.tx.seq, first_record(drain(s)), plain, type));
        CHECK(plain == "from the server");
        CHECK(type == 23);
        // client -> server: the client's next record opens with rx at rx.seq
        while (SSL_read_ex(c.ssl, buf, sizeof buf, &n) == 1) {
        }  // the client takes the tickets (and anything else) first
        REQUIRE(SSL_write_ex(c.ssl, "from the client", 15, &n) == 1);
        std::string rec(16384, '\0');
        const int got = BIO_read(c.out, rec.data(), int(rec.size()));
        REQUIRE(got > 0);
        rec.resize(std::size_t(got));
        CHECK(a.open(k.rx, k.rx.seq, first_record(rec), plain, type));
        CHECK(plain == "from the client");
        // one more each way: sequence numbers advance by one per record
        REQUIRE(s.write("again", 5));
        CHECK(a.open(k.tx, k.tx.seq + 1, first_record(drain(s)), plain, type));
        CHECK(plain == "again");
    }
}

TEST_CASE("tls: kernel TLS falls back, saying why: off, cipher, version, buffered or early records, no kernel") {
    OneCert oc;
    std::string why;
    KtlsKeys k;
    {  // off for the bind
        auto b = bind_or_fail(oc.o);
        Conn s(*b);
        Client c;
        REQUIRE(handshake(c, s));
        CHECK_FALSE(s.ktls_keys(k, why));
        CHECK(why.find("off") != std::string::npos);
        CHECK(s.offload(-1, why) == Offload::Unsupported);
    }
    {  // TLS 1.3 AES-128-CCM: not offloaded
        BindOptions o = oc.o;
        o.ciphersuites = "TLS_AES_128_CCM_SHA256";
        auto b = bind_or_fail(o);
        b->enable_ktls();
        Conn s(*b);
        Client c;
        SSL_CTX_set_ciphersuites(c.ctx, "TLS_AES_128_CCM_SHA256");
        SSL_set_ciphersuites(c.ssl, "TLS_AES_128_CCM_SHA256");
        REQUIRE(handshake(c, s));
        CHECK_FALSE(s.ktls_keys(k, why));
        CHECK(why.find("TLS_AES_128_CCM_SHA256") != std::string::npos);
    }
    {  // TLS 1.2 CBC: not offloaded
        BindOptions o = oc.o;
        o.ciphers = "ECDHE-ECDSA-AES128-SHA256";
        auto b = bind_or_fail(o);
        b->enable_ktls();
        Conn s(*b);
        Client c(nullptr, "", TLS1_2_VERSION);
        REQUIRE(handshake(c, s));
        CHECK_FALSE(s.ktls_keys(k, why));
        CHECK(why.find("AES-GCM suites only") != std::string::npos);
    }
    oc.o.direct_seal = false;  // records made by OpenSSL until the kernel takes them
    auto b = bind_or_fail(oc.o);
    b->enable_ktls();
    {  // TLS 1.3: the client's application record still buffered: refused; once read, counted
        Conn s(*b);
        Client c;
        REQUIRE(handshake(c, s));
        std::size_t n = 0;
        REQUIRE(SSL_write_ex(c.ssl, "x", 1, &n) == 1);
        c.to(s);
        CHECK_FALSE(s.ktls_keys(k, why));
        CHECK(why.find("buffered") != std::string::npos);
        CHECK(read_all(s) == "x");
        KtlsKeys k2;
        REQUIRE_MESSAGE(s.ktls_keys(k2, why), why);
        CHECK(k2.rx.seq == 1);  // the request came first: the kernel opens the client's second record
        Aead a{k2};
        REQUIRE(SSL_write_ex(c.ssl, "next", 4, &n) == 1);
        std::string rec(16384, '\0'), plain;
        rec.resize(std::size_t(BIO_read(c.out, rec.data(), int(rec.size()))));
        int type = 0;
        CHECK(a.open(k2.rx, k2.rx.seq, first_record(rec), plain, type));
        CHECK(plain == "next");
    }
    {  // TLS 1.3: the client updated its key: the counts no longer give its key
        Conn s(*b);
        Client c;
        REQUIRE(handshake(c, s));
        REQUIRE(SSL_key_update(c.ssl, SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
        std::size_t n = 0;
        REQUIRE(SSL_write_ex(c.ssl, "x", 1, &n) == 1);
        c.to(s);
        CHECK(read_all(s) == "x");
        CHECK_FALSE(s.ktls_keys(k, why));
        CHECK(why.find("KeyUpdate") != std::string::npos);
    }
    {  // records not yet taken: Later; then a socket without kernel TLS (or a bad one): Unsupported
        Conn s(*b);
        Client c;
        REQUIRE(handshake(c, s));
        REQUIRE(s.write("x", 1));
        CHECK(s.offload(-1, why) == Offload::Later);
        drain(s);
        CHECK(s.offload(-1, why) == Offload::Unsupported);
        CHECK(why.find("TCP_ULP") != std::string::npos);
        CHECK_FALSE(s.offloaded());
        REQUIRE(s.write("still in user space", 19));  // nothing changed
    }
    const KtlsSupport sup = probe_ktls();
    CHECK((sup.tx && sup.rx) == (tier().find("kernel TLS available (TX/RX") != std::string::npos));
    if (!sup.ulp) CHECK_FALSE(sup.detail.empty());
}
