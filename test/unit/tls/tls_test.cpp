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
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/tls/conn.hpp"
#include "edgeshard/tls/context.hpp"

using namespace es::tls;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/es-tls-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

EVP_PKEY* new_key() { return EVP_EC_gen("P-256"); }

// A self-signed certificate for `cn` with the given DNS names, valid from `from_days` to `to_days`
// relative to now, written with its key to `path` (key in the same PEM unless key_path is given).
void make_cert(const std::string& path, const std::string& cn, const std::vector<std::string>& dns, long from_days = -1,
               long to_days = 30, EVP_PKEY* key = nullptr, const std::string& key_path = "") {
    EVP_PKEY* k = key ? key : new_key();
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
    X509_set_pubkey(x, k);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (!dns.empty()) {
        std::string san;
        for (const auto& d : dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
        REQUIRE(ext != nullptr);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(x, k, EVP_sha256()) > 0);
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    PEM_write_X509(f, x);
    if (key_path.empty()) PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    if (!key_path.empty()) {
        FILE* kf = std::fopen(key_path.c_str(), "w");
        REQUIRE(kf != nullptr);
        PEM_write_PrivateKey(kf, k, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(kf);
    }
    X509_free(x);
    if (!key) EVP_PKEY_free(k);
}

// The usual set-up: a fresh directory with one certificate for s.test, and options naming it.
struct OneCert {
    TempDir d;
    BindOptions o;
    OneCert() {
        make_cert(d.path + "/s.pem", "s.test", {"s.test"});
        o.crt = {d.path + "/s.pem"};
    }
};

std::unique_ptr<BindTls> bind_or_fail(const BindOptions& o, std::vector<std::string>* warnings = nullptr) {
    std::string err;
    std::vector<std::string> w;
    auto b = BindTls::make(o, err, w);
    INFO("error: " << err);
    REQUIRE(b != nullptr);
    if (warnings) *warnings = w;
    return b;
}

std::string make_error(const BindOptions& o) {
    std::string err;
    std::vector<std::string> w;
    auto b = BindTls::make(o, err, w);
    CHECK(b == nullptr);
    return err;
}

// A client (real OpenSSL) connected to a server Conn through memory.
struct Client {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = nullptr;
    BIO* in = nullptr;   // records from the server
    BIO* out = nullptr;  // records for the server
    explicit Client(const char* sni = nullptr, const std::string& alpn_wire = "", int max_ver = 0, int min_ver = 0) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        if (max_ver) SSL_CTX_set_max_proto_version(ctx, max_ver);
        if (min_ver) SSL_CTX_set_min_proto_version(ctx, min_ver);
        ssl = SSL_new(ctx);
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in, -1);
        BIO_set_mem_eof_return(out, -1);
        SSL_set_bio(ssl, in, out);
        SSL_set_connect_state(ssl);
        if (sni) SSL_set_tlsext_host_name(ssl, sni);
        if (!alpn_wire.empty())
            SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn_wire.data()), unsigned(alpn_wire.size()));
    }
    ~Client() {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
    // client records -> server
    void to(Conn& s) {
        char buf[16384];
        int n;
        while ((n = BIO_read(out, buf, sizeof buf)) > 0) s.feed(buf, std::size_t(n));
    }
    // server records -> client
    void from(Conn& s) {
        char buf[16384];
        std::size_t n;
        while ((n = s.take_out(buf, sizeof buf)) > 0) BIO_write(in, buf, int(n));
    }
    std::string peer_cn() const {
        X509* x = SSL_get1_peer_certificate(ssl);
        if (!x) return "";
        char cn[256] = {0};
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
        X509_free(x);
        return cn;
    }
};

// Runs both handshakes to the end (or a failure). True when both completed.
bool handshake(Client& c, Conn& s) {
    for (int i = 0; i < 20; ++i) {
        const int cr = SSL_do_handshake(c.ssl);
        const int ce = cr == 1 ? SSL_ERROR_NONE : SSL_get_error(c.ssl, cr);  // before the server touches the error queue
        c.to(s);
        const Conn::Step st = s.handshake();
        c.from(s);
        if (st == Conn::Step::Error) return false;
        if (cr == 1 && st == Conn::Step::Done) return true;
        if (ce != SSL_ERROR_NONE && ce != SSL_ERROR_WANT_READ && ce != SSL_ERROR_WANT_WRITE) return false;
    }
    return false;
}

std::string read_all(Conn& s) {
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = s.read(buf, sizeof buf)) > 0) out.append(buf, n);
    return out;
}

}  // namespace

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
    std::string got;
    char buf[16384];
    std::size_t n = 0;
    while (SSL_read_ex(c.ssl, buf, sizeof buf, &n) == 1) got.append(buf, n);
    CHECK(got == body);
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
    struct Case {
        const char* sni;
        const char* cn;
    } cases[] = {
        {"b.test", "b.test"},          {"WWW.B.Test", "b.test"},       {"x.wild.test", "wild.test"},
        {"wild.test", "default.test"}, {"a.x.wild.test", "default.test"}, {"nobody.test", "default.test"},
        {nullptr, "default.test"},
    };
    for (const Case& k : cases) {
        CAPTURE(k.sni ? k.sni : "(no SNI)");
        Conn s(*b);
        Client c(k.sni);
        REQUIRE(handshake(c, s));
        CHECK(c.peer_cn() == k.cn);
    }
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

TEST_CASE("tls: renegotiation is refused") {
    OneCert one;
    BindOptions& o = one.o;
    o.max_ver = Version::Tls12;
    auto b = bind_or_fail(o);
    Conn s(*b);
    Client c("s.test");
    REQUIRE(handshake(c, s));
    REQUIRE(SSL_renegotiate(c.ssl) == 1);
    SSL_do_handshake(c.ssl);
    c.to(s);
    CHECK(read_all(s).empty());
    c.from(s);
    // the client learns it with a no_renegotiation alert: its renegotiation does not complete
    char buf[64];
    std::size_t n = 0;
    SSL_read_ex(c.ssl, buf, sizeof buf, &n);
    CHECK(SSL_renegotiate_pending(c.ssl) == 1);
    CHECK(n == 0);
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
