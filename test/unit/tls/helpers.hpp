// Helpers the tls unit tests share: certificates made in a fresh directory, and a real OpenSSL
// client moving records to and from a server Conn through memory.
#pragma once

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

[[maybe_unused]] EVP_PKEY* new_key() { return EVP_EC_gen("P-256"); }

// A self-signed certificate for `cn` with the given DNS names, valid from `from_days` to `to_days`
// relative to now, written with its key to `path` (key in the same PEM unless key_path is given).
[[maybe_unused]] void make_cert(const std::string& path, const std::string& cn, const std::vector<std::string>& dns, long from_days = -1,
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

[[maybe_unused]] std::unique_ptr<BindTls> bind_or_fail(const BindOptions& o, std::vector<std::string>* warnings = nullptr) {
    std::string err;
    std::vector<std::string> w;
    auto b = BindTls::make(o, err, w);
    INFO("error: " << err);
    REQUIRE(b != nullptr);
    if (warnings) *warnings = w;
    return b;
}

[[maybe_unused]] std::string make_error(const BindOptions& o) {
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
        // freed without close_notify: keep the session resumable (OpenSSL would mark it not)
        if (SSL_is_init_finished(ssl)) SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
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
[[maybe_unused]] bool handshake(Client& c, Conn& s) {
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

// For each SNI (nullptr: none), the CN of the certificate a handshake with `b` presents.
struct SniCase {
    const char* sni;
    const char* cn;
};
[[maybe_unused]] void check_sni(const BindTls& b, std::initializer_list<SniCase> cases) {
    for (const SniCase& k : cases) {
        CAPTURE(k.sni ? k.sni : "(no SNI)");
        Conn s(b);
        Client c(k.sni);
        REQUIRE(handshake(c, s));
        CHECK(c.peer_cn() == k.cn);
    }
}

// What the client sees of the server's handshake and alert messages (SSL_set_msg_callback).
struct Seen {
    int key_updates = 0;
    int alerts = 0;
    int last_alert = -1;
    static void cb(int write_p, int, int type, const void* buf, std::size_t len, SSL*, void* arg) {
        auto* s = static_cast<Seen*>(arg);
        const auto* b = static_cast<const unsigned char*>(buf);
        if (write_p) return;
        if (type == SSL3_RT_HANDSHAKE && len >= 1 && b[0] == SSL3_MT_KEY_UPDATE) ++s->key_updates;
        if (type == SSL3_RT_ALERT && len == 2) {
            ++s->alerts;
            s->last_alert = b[1];
        }
    }
    void watch(SSL* ssl) {
        SSL_set_msg_callback(ssl, cb);
        SSL_set_msg_callback_arg(ssl, this);
    }
};

// Plaintext the client can read now (what the server's records carried so far).
[[maybe_unused]] std::string client_read_all(Client& c) {
    std::string got;
    char buf[16384];
    std::size_t n = 0;
    while (SSL_read_ex(c.ssl, buf, sizeof buf, &n) == 1) got.append(buf, n);
    return got;
}

[[maybe_unused]] std::string read_all(Conn& s) {
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = s.read(buf, sizeof buf)) > 0) out.append(buf, n);
    return out;
}

}  // namespace
