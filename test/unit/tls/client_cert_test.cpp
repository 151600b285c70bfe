// tls: client certificates (verify none|optional|required, ca-file, crl-file, ca-ignore-err,
// crt-ignore-err and the facts the ssl_c_* fetches read), crt-list lines (filters, wildcards,
// negative filters, the default, per-line options) and strict-sni, against a real OpenSSL client
// in the same process. A test CA, its client certificates and a CRL are made here.
#include "helpers.hpp"

#include <openssl/x509.h>

namespace {

// A CA (self-signed, P-256) that signs client certificates and CRLs.
struct Ca {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    long next_serial = 100;
    Ca(const std::string& cn) {
        X509_set_version(cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), -86400);
        X509_gmtime_adj(X509_getm_notAfter(cert), 30 * 86400);
        X509_set_pubkey(cert, key);
        X509_NAME* name = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                   -1, 0);
        X509_set_issuer_name(cert, name);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
        for (auto [nid, val] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                                std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"}}) {
            X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, val);
            X509_add_ext(cert, ext, -1);
            X509_EXTENSION_free(ext);
        }
        REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
    }
    ~Ca() {
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    void write(const std::string& path) const {
        FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f != nullptr);
        PEM_write_X509(f, cert);
        std::fclose(f);
    }
    // A client certificate with the subject /C=FR/O=Acme/CN=<cn>, certificate and key in `path`;
    // returns its serial.
    long issue(const std::string& path, const std::string& cn, long to_days = 30) {
        EVP_PKEY* k = EVP_EC_gen("P-256");
        X509* x = X509_new();
        X509_set_version(x, 2);
        const long serial = next_serial++;
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
        X509_gmtime_adj(X509_getm_notBefore(x), -86400);
        X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
        X509_set_pubkey(x, k);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("FR"), -1, -1, 0);
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Acme"), -1, -1, 0);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                   -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(cert));
        REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
        FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f != nullptr);
        PEM_write_X509(f, x);
        PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(k);
        return serial;
    }
    // A CRL revoking `serials`, written to `path`.
    void crl(const std::string& path, const std::vector<long>& serials) const {
        X509_CRL* crl = X509_CRL_new();
        X509_CRL_set_version(crl, 1);
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(cert));
        ASN1_TIME* now = X509_gmtime_adj(nullptr, -3600);
        ASN1_TIME* next = X509_gmtime_adj(nullptr, 7 * 86400);
        X509_CRL_set1_lastUpdate(crl, now);
        X509_CRL_set1_nextUpdate(crl, next);
        for (long s : serials) {
            X509_REVOKED* r = X509_REVOKED_new();
            ASN1_INTEGER* n = ASN1_INTEGER_new();
            ASN1_INTEGER_set(n, s);
            X509_REVOKED_set_serialNumber(r, n);
            X509_REVOKED_set_revocationDate(r, now);
            X509_CRL_add0_revoked(crl, r);
            ASN1_INTEGER_free(n);
        }
        ASN1_TIME_free(now);
        ASN1_TIME_free(next);
        X509_CRL_sort(crl);
        REQUIRE(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
        FILE* f = std::fopen(path.c_str(), "w");
        REQUIRE(f != nullptr);
        PEM_write_X509_CRL(f, crl);
        std::fclose(f);
        X509_CRL_free(crl);
    }
};

// The client presents the certificate (and key) in `pem`.
void present(Client& c, const std::string& pem) {
    REQUIRE(SSL_use_certificate_file(c.ssl, pem.c_str(), SSL_FILETYPE_PEM) == 1);
    REQUIRE(SSL_use_PrivateKey_file(c.ssl, pem.c_str(), SSL_FILETYPE_PEM) == 1);
}

// After the client's handshake "completes" (TLS 1.3 clients finish before the server has checked
// their certificate), the server's verdict: true when the server accepted.
bool accepted(const std::string& server_pem_dir, BindTls& b, const char* client_pem, int max_ver = 0,
              Facts* facts = nullptr, std::unique_ptr<Conn>* keep = nullptr) {
    (void)server_pem_dir;
    auto s = std::make_unique<Conn>(b);
    Client c("s.test", "", max_ver);
    if (client_pem) present(c, client_pem);
    bool ok = handshake(c, *s);
    if (ok) {
        // TLS 1.3: the server's verdict on the client's certificate travels after the client's
        // Finished; a rejected client sees an alert on its first read
        ok = s->established() && !s->failed();
    }
    if (ok && facts) *facts = s->facts();
    if (keep) *keep = std::move(s);
    return ok;
}

struct Setup {
    TempDir d;
    Ca ca{"Test CA"};
    Ca other{"Other CA"};
    BindOptions o;
    std::string good, bad, revoked;
    long revoked_serial = 0;
    Setup() {
        make_cert(d.path + "/s.pem", "s.test", {"s.test"});
        o.crt = {d.path + "/s.pem"};
        ca.write(d.path + "/ca.pem");
        good = d.path + "/alice.pem";
        ca.issue(good, "alice");
        bad = d.path + "/mallory.pem";
        other.issue(bad, "mallory");
        revoked = d.path + "/bob.pem";
        revoked_serial = ca.issue(revoked, "bob");
        o.ca_file = d.path + "/ca.pem";
    }
};

}  // namespace

TEST_CASE("tls client certificates: verify required") {
    Setup st;
    st.o.verify = Verify::Required;
    auto b = bind_or_fail(st.o);
    for (int v : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        CAPTURE(v);
        Facts f;
        std::unique_ptr<Conn> keep;
        REQUIRE(accepted(st.d.path, *b, st.good.c_str(), v, &f, &keep));
        REQUIRE(f.client != nullptr);
        CHECK(f.client->used);
        CHECK(f.client->presented);
        CHECK(f.client->verify == 0);
        CHECK(f.client->err == 0);
        CHECK(f.client->s_dn == "/C=FR/O=Acme/CN=alice");
        CHECK(f.client->i_dn == "/CN=Test CA");
        CHECK(f.client->serial == "64");  // 100
        CHECK(f.client->sha1.size() == 40);
        CHECK(f.client->not_after.size() == 13);  // YYMMDDhhmmssZ
        CHECK_FALSE(accepted(st.d.path, *b, nullptr, v));         // no certificate
        CHECK_FALSE(accepted(st.d.path, *b, st.bad.c_str(), v));  // another CA's
    }
}

TEST_CASE("tls client certificates: verify optional lets a client without one in, not a bad one") {
    Setup st;
    st.o.verify = Verify::Optional;
    auto b = bind_or_fail(st.o);
    Facts f;
    std::unique_ptr<Conn> keep;
    REQUIRE(accepted(st.d.path, *b, nullptr, 0, &f, &keep));
    REQUIRE(f.client != nullptr);
    CHECK_FALSE(f.client->used);
    CHECK_FALSE(f.client->presented);
    CHECK(accepted(st.d.path, *b, st.good.c_str()));
    CHECK_FALSE(accepted(st.d.path, *b, st.bad.c_str()));  // a bad certificate fails whatever the mode

    // crt-ignore-err covers the error: the handshake goes on, and the facts say what was wrong
    std::string err;
    REQUIRE(parse_verify_errors("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE",
                                st.o.crt_ignore, err));
    auto b2 = bind_or_fail(st.o);
    REQUIRE(accepted(st.d.path, *b2, st.bad.c_str(), 0, &f, &keep));
    REQUIRE(f.client != nullptr);
    CHECK(f.client->used);
    CHECK(f.client->verify != 0);  // the last error OpenSSL met; ssl_c_err keeps the first
    CHECK(f.client->err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    CHECK(f.client->s_dn == "/C=FR/O=Acme/CN=mallory");
    REQUIRE(parse_verify_errors("all", st.o.crt_ignore, err));
    auto b3 = bind_or_fail(st.o);
    CHECK(accepted(st.d.path, *b3, st.bad.c_str()));
}

TEST_CASE("tls client certificates: verify none asks for nothing; ca-file alone loads") {
    Setup st;
    auto b = bind_or_fail(st.o);
    Facts f;
    std::unique_ptr<Conn> keep;
    REQUIRE(accepted(st.d.path, *b, st.bad.c_str(), 0, &f, &keep));
    CHECK(f.client == nullptr);  // a bind that does not verify pays nothing
}

TEST_CASE("tls client certificates: crl-file revokes") {
    Setup st;
    st.o.verify = Verify::Required;
    st.ca.crl(st.d.path + "/ca.crl", {st.revoked_serial});
    st.o.crl_file = st.d.path + "/ca.crl";
    auto b = bind_or_fail(st.o);
    CHECK(accepted(st.d.path, *b, st.good.c_str()));
    CHECK_FALSE(accepted(st.d.path, *b, st.revoked.c_str()));
    // ignored: the handshake goes on and ssl_c_err says revoked
    std::string err;
    REQUIRE(parse_verify_errors("23", st.o.crt_ignore, err));  // X509_V_ERR_CERT_REVOKED
    auto b2 = bind_or_fail(st.o);
    Facts f;
    std::unique_ptr<Conn> keep;
    REQUIRE(accepted(st.d.path, *b2, st.revoked.c_str(), 0, &f, &keep));
    REQUIRE(f.client != nullptr);
    CHECK(f.client->err == X509_V_ERR_CERT_REVOKED);
}

TEST_CASE("tls client certificates: configuration errors") {
    Setup st;
    st.o.verify = Verify::Required;
    st.o.ca_file.clear();
    CHECK(make_error(st.o).find("'verify required' needs a 'ca-file'") != std::string::npos);
    st.o.verify = Verify::Optional;
    CHECK(make_error(st.o).find("'verify optional' needs a 'ca-file'") != std::string::npos);
    st.o.ca_file = st.d.path + "/nope.pem";
    CHECK(make_error(st.o).find("cannot load ca-file") != std::string::npos);
    st.o.ca_file = st.d.path + "/ca.pem";
    st.o.crl_file = st.d.path + "/nope.crl";
    CHECK(make_error(st.o).find("cannot load crl-file") != std::string::npos);
    VerifyErrors e;
    std::string err;
    CHECK_FALSE(parse_verify_errors("X509_V_ERR_NOPE", e, err));
    CHECK(err.find("unknown error ID 'X509_V_ERR_NOPE'") != std::string::npos);
    CHECK_FALSE(parse_verify_errors("10,,2", e, err));
    REQUIRE(parse_verify_errors("10,X509_V_ERR_CERT_REVOKED", e, err));
    CHECK(e.has(10));
    CHECK(e.has(X509_V_ERR_CERT_REVOKED));
    CHECK_FALSE(e.has(2));
}

TEST_CASE("tls client certificates: DN entries") {
    std::string_view v;
    const std::string dn = "/C=FR/OU=a/OU=b/CN=x/y";
    REQUIRE(dn_entry(dn, "CN", 1, v));
    CHECK(v == "x/y");
    REQUIRE(dn_entry(dn, "OU", 2, v));
    CHECK(v == "b");
    REQUIRE(dn_entry(dn, "OU", -1, v));
    CHECK(v == "b");
    REQUIRE(dn_entry(dn, "OU", -2, v));
    CHECK(v == "a");
    CHECK_FALSE(dn_entry(dn, "OU", 3, v));
    CHECK_FALSE(dn_entry(dn, "L", 1, v));
    REQUIRE(dn_entry(dn, "", 0, v));
    CHECK(v == dn);
}

TEST_CASE("tls crt-list: filters, wildcards, negative filters, the default and per-line options") {
    TempDir d;
    make_cert(d.path + "/first.pem", "first.test", {"first.test"});
    make_cert(d.path + "/named.pem", "named.test", {"named.test"});
    make_cert(d.path + "/w.pem", "w.test", {"w.test"});
    make_cert(d.path + "/secure.pem", "secure.test", {"secure.test"});
    BindOptions o;
    auto line = [&](const std::string& f, std::vector<std::string> filters) {
        CertLine l;
        l.path = d.path + "/" + f;
        l.where = "list:" + std::to_string(o.crt_list.size() + 1);
        l.filters = std::move(filters);
        o.crt_list.push_back(l);
        return &o.crt_list.back();
    };
    line("first.pem", {});                                         // no filter: its own names; the default
    line("named.pem", {"alias.test", "other.test"});               // filters replace the certificate's names
    line("w.pem", {"*.w.test", "!secure.w.test", "!*.ignored"});  // a wildcard, one name taken back
    CertLine* sec = line("secure.pem", {"tls12.test"});
    sec->max_ver = Version::Tls12;
    sec->max_set = true;
    auto b = bind_or_fail(o);
    CHECK(b->cert_count() == 4);
    check_sni(*b, {
        {"first.test", "first.test"}, {"alias.test", "named.test"}, {"other.test", "named.test"},
        {"named.test", "first.test"},  // filtered: the certificate's own name is not served
        {"a.w.test", "w.test"},       {"secure.w.test", "first.test"}, {"w.test", "first.test"},
        {nullptr, "first.test"},
    });
    // the line's ssl-max-ver applies to the connection that picked it
    Conn s(*b);
    Client c("tls12.test");
    REQUIRE(handshake(c, s));
    CHECK(c.peer_cn() == "secure.test");
    CHECK(s.facts().protocol == "TLSv1.2");

    // a '*' filter makes the line the default; a crt declared first is the default otherwise
    BindOptions o2 = o;
    o2.crt_list[2].filters.push_back("*");
    auto b2 = bind_or_fail(o2);
    {
        Conn s2(*b2);
        Client c2(nullptr);
        REQUIRE(handshake(c2, s2));
        CHECK(c2.peer_cn() == "w.test");
    }
    BindOptions o3 = o;
    make_cert(d.path + "/crt.pem", "crt.test", {"crt.test"});
    o3.crt = {d.path + "/crt.pem"};
    for (auto& l : o3.crt_list) l.after_crt = 1;  // `crt X crt-list L`
    auto b3 = bind_or_fail(o3);
    {
        Conn s3(*b3);
        Client c3("nobody.test");
        REQUIRE(handshake(c3, s3));
        CHECK(c3.peer_cn() == "crt.test");
    }
    // a missing certificate names the list's line
    BindOptions o4 = o;
    o4.crt_list[1].path = d.path + "/missing.pem";
    CHECK(make_error(o4).find("list:2: cannot load certificate") != std::string::npos);
    // a per-line verify without a CA
    BindOptions o5 = o;
    o5.crt_list[0].verify = Verify::Required;
    o5.crt_list[0].verify_set = true;
    CHECK(make_error(o5).find("list:1: 'verify required' needs a 'ca-file'") != std::string::npos);
}

TEST_CASE("tls crt-list: a line's verify applies to the certificate it serves") {
    Setup st;
    st.o.ca_file.clear();
    CertLine l;
    l.path = st.d.path + "/s.pem";
    l.where = "list:1";
    l.filters = {"secure.test"};
    l.verify = Verify::Required;
    l.verify_set = true;
    l.ca_file = st.d.path + "/ca.pem";
    st.o.crt_list.push_back(l);
    auto b = bind_or_fail(st.o);
    {
        Conn s(*b);
        Client c("secure.test");
        CHECK_FALSE((handshake(c, s) && s.established() && !s.failed()));  // asked, none given
    }
    {
        Conn s(*b);
        Client c("secure.test");
        present(c, st.good);
        REQUIRE(handshake(c, s));
        REQUIRE(s.facts().client != nullptr);
        CHECK(s.facts().client->s_dn == "/C=FR/O=Acme/CN=alice");
    }
    {
        Conn s(*b);
        Client c("s.test");  // the bind's own certificate: no verification
        REQUIRE(handshake(c, s));
        CHECK(s.facts().client == nullptr);
    }
}

TEST_CASE("tls strict-sni: no SNI or an unknown name fails the handshake") {
    TempDir d;
    make_cert(d.path + "/a.pem", "a.test", {"a.test"});
    BindOptions o;
    o.crt = {d.path + "/a.pem"};
    o.strict_sni = true;
    auto b = bind_or_fail(o);
    for (const char* sni : {static_cast<const char*>(nullptr), "nobody.test"}) {
        CAPTURE(sni ? sni : "(none)");
        Conn s(*b);
        Client c(sni);
        CHECK_FALSE(handshake(c, s));
        CHECK(s.failed());
    }
    Conn s(*b);
    Client c("A.test");
    CHECK(handshake(c, s));
}

TEST_CASE("tls crt-list: a line's no-ca-names and client-sigalgs shape its CertificateRequest") {
    Setup st;
    st.o.ca_file.clear();
    CertLine l;
    l.path = st.d.path + "/s.pem";
    l.where = "list:1";
    l.filters = {"quiet.test"};
    l.verify = Verify::Optional;
    l.verify_set = true;
    l.ca_file = st.d.path + "/ca.pem";
    l.no_ca_names = true;
    l.client_sigalgs = "ECDSA+SHA384";
    st.o.crt_list.push_back(l);
    CertLine named = l;
    named.filters = {"named.test"};
    named.no_ca_names = false;
    named.client_sigalgs.clear();
    st.o.crt_list.push_back(named);
    auto b = bind_or_fail(st.o);
    auto request = [&](const char* sni, int& ca_names, std::string& sigalgs) {
        Conn s(*b);
        Client c(sni, "", TLS1_2_VERSION);
        REQUIRE(handshake(c, s));
        const STACK_OF(X509_NAME)* names = SSL_get0_peer_CA_list(c.ssl);
        ca_names = names ? sk_X509_NAME_num(names) : 0;
        sigalgs.clear();
        const int n = SSL_get_sigalgs(c.ssl, -1, nullptr, nullptr, nullptr, nullptr, nullptr);
        for (int i = 0; i < n; ++i) {
            int sign = 0, hash = 0;
            SSL_get_sigalgs(c.ssl, i, &sign, &hash, nullptr, nullptr, nullptr);
            sigalgs += std::string(sigalgs.empty() ? "" : ":") + OBJ_nid2sn(sign) + "+" + OBJ_nid2sn(hash);
        }
    };
    int names = -1;
    std::string algs;
    request("quiet.test", names, algs);
    CHECK(names == 0);
    CHECK(algs == "id-ecPublicKey+SHA384");  // the one algorithm asked for
    request("named.test", names, algs);
    CHECK(names == 1);  // the line's ca-file subject
    CHECK(algs.find(":") != std::string::npos);  // OpenSSL's default list
}
