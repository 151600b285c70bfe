// BindTls: certificates, SNI selection and the settings of a TLS bind (see context.hpp).
#include "edgeshard/tls/context.hpp"

#include <dirent.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "edgeshard/tls/ktls.hpp"
#include "edgeshard/tls/session_cache.hpp"

namespace es::tls {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// subjectAltName DNS entries, else the subject's CN: the names a certificate serves.
std::vector<std::string> cert_names(X509* x) {
    std::vector<std::string> out;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
            if (g->type != GEN_DNS) continue;
            const ASN1_IA5STRING* s = g->d.dNSName;
            out.push_back(lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                 std::size_t(ASN1_STRING_length(s)))));
        }
        GENERAL_NAMES_free(sans);
    }
    if (out.empty()) {
        char cn[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0) out.push_back(lower(cn));
    }
    return out;
}

// Files a `crt DIR` loads, in name order, as HAProxy does; the companion files it would read
// beside a certificate (keys, OCSP responses, issuers, SCTs) are not certificates themselves.
bool list_dir(const std::string& dir, std::vector<std::string>& out, std::string& error) {
    DIR* d = opendir(dir.c_str());
    if (!d) {
        error = "cannot open certificate directory '" + dir + "': " + std::strerror(errno);
        return false;
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(d)) {
        const std::string_view n(e->d_name);
        if (n.empty() || n[0] == '.') continue;
        bool skip = false;
        for (std::string_view ext : {".key", ".ocsp", ".issuer", ".sctl"})
            if (n.size() > ext.size() && n.substr(n.size() - ext.size()) == ext) skip = true;
        if (skip) continue;
        const std::string path = dir + (dir.ends_with('/') ? "" : "/") + std::string(n);
        struct stat st{};
        if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(path);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    if (names.empty()) {
        error = "certificate directory '" + dir + "' holds no certificate";
        return false;
    }
    out.insert(out.end(), names.begin(), names.end());
    return true;
}

// The ClientHello's server name picks the certificate; none or an unknown one keeps the default.
int on_servername(SSL* ssl, int* /*alert*/, void* arg) {
    const auto* bind = static_cast<const BindTls*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;
    if (SSL_CTX* ctx = bind->select(name)) {
        if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
    }
    return SSL_TLSEXT_ERR_OK;
}

// ALPN: the first of the client's protocols that the bind offers (the server's list is what
// edgeshard speaks); no overlap: the handshake goes on without ALPN, as HAProxy does.
int on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
            void* arg) {
    const auto* bind = static_cast<const BindTls*>(arg);
    const std::string& mine = bind->alpn_wire();
    for (unsigned i = 0; i < inlen;) {
        const unsigned n = in[i];
        if (i + 1 + n > inlen) break;
        for (std::size_t j = 0; j < mine.size();) {
            const auto m = static_cast<unsigned char>(mine[j]);
            if (m == n && std::memcmp(mine.data() + j + 1, in + i + 1, n) == 0) {
                *out = in + i + 1;
                *outlen = static_cast<unsigned char>(n);
                return SSL_TLSEXT_ERR_OK;
            }
            j += 1 + m;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

// Session tickets: sealed with the bind's encryption key, opened with any of its keys (a ticket
// opened with an older key is renewed: return 2). AES-CBC with HMAC-SHA256, as OpenSSL's own.
int on_ticket(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
    const auto* bind = static_cast<const BindTls*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    const TicketKeys* keys = bind ? bind->ticket_keys() : nullptr;
    if (!keys || keys->keys.empty()) return -1;
    const TicketKey* k = nullptr;
    if (enc) {
        k = &keys->keys[keys->enc];
        std::memcpy(name, k->name, 16);
        if (RAND_bytes(iv, 16) != 1) return -1;
        if (EVP_EncryptInit_ex(cctx, k->aes256 ? EVP_aes_256_cbc() : EVP_aes_128_cbc(), nullptr, k->aes, iv) != 1)
            return -1;
    } else {
        k = keys->find(name);
        if (!k) return 0;  // an unknown key: a full handshake, and a new ticket
        if (EVP_DecryptInit_ex(cctx, k->aes256 ? EVP_aes_256_cbc() : EVP_aes_128_cbc(), nullptr, k->aes, iv) != 1)
            return -1;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k->hmac), k->hmac_len()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
    return enc || k == &keys->keys[keys->enc] ? 1 : 2;
}

}  // namespace

const std::string& tier() {
    static const std::string t = [] {
        const KtlsSupport k = probe_ktls();
        std::string s = std::string("user-space records (") + OpenSSL_version(OPENSSL_VERSION) + "); kernel TLS ";
        if (k.tx && k.rx)
            s += "available (TX/RX: TLS 1.3 AES-GCM, CHACHA20-POLY1305, TLS 1.2 AES-GCM per connection, "
                 "not used by the data path yet)";
        else
            s += "not available (" + k.detail + ")";
        return s;
    }();
    return t;
}

std::string take_errors() {
    std::string out;
    char buf[256];
    while (unsigned long e = ERR_get_error()) {
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

bool parse_version(std::string_view name, Version& out) {
    static constexpr std::pair<std::string_view, Version> kNames[] = {
        {"SSLv3", Version::Ssl3},   {"TLSv1.0", Version::Tls10}, {"TLSv1.1", Version::Tls11},
        {"TLSv1.2", Version::Tls12}, {"TLSv1.3", Version::Tls13},
    };
    for (const auto& [n, v] : kNames) {
        if (n == name) {
            out = v;
            return true;
        }
    }
    return false;
}

int openssl_version(Version v) {
    switch (v) {
        case Version::Any: return 0;
        case Version::Ssl3: return SSL3_VERSION;
        case Version::Tls10: return TLS1_VERSION;
        case Version::Tls11: return TLS1_1_VERSION;
        case Version::Tls12: return TLS1_2_VERSION;
        case Version::Tls13: return TLS1_3_VERSION;
    }
    return 0;
}

BindTls::~BindTls() {
    for (Cert& c : certs_) SSL_CTX_free(c.ctx);
}

std::unique_ptr<BindTls> BindTls::make(const BindOptions& o, std::string& error, std::vector<std::string>& warnings,
                                       SessionCache* cache) {
    std::unique_ptr<BindTls> b(new BindTls());
    if (o.crt.empty()) {
        error = "'ssl' needs a certificate: add 'crt <file|dir>'";
        return nullptr;
    }
    b->cache_ = cache;
    // the session ID context: the bind's name, hashed down when longer than OpenSSL keeps
    b->sid_ctx_ = o.id.empty() ? std::string("edgeshard") : o.id;
    if (b->sid_ctx_.size() > SSL_MAX_SID_CTX_LENGTH) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256(reinterpret_cast<const unsigned char*>(b->sid_ctx_.data()), b->sid_ctx_.size(), md);
        b->sid_ctx_.assign(reinterpret_cast<const char*>(md), sizeof md);
    }
    if (!o.no_tickets) {
        if (!o.ticket_keys.empty()) {
            auto k = std::make_shared<TicketKeys>();
            if (!TicketKeys::load_file(o.ticket_keys, *k, error)) return nullptr;
            b->keys_ = std::move(k);
        } else {
            b->keys_ = process_ticket_keys();
        }
    }
    // ALPN: only what edgeshard speaks is offered
    for (const std::string& p : o.alpn) {
        if (p == "http/1.1") {
            b->alpn_wire_ += char(p.size());
            b->alpn_wire_ += p;
        } else if (p == "h2") {
            warnings.push_back("alpn 'h2': HTTP/2 is not offered yet, only http/1.1 is advertised");
        } else if (p == "http/1.0") {
            warnings.push_back("alpn 'http/1.0' is not advertised (http/1.1 covers HTTP/1.0 clients)");
        } else {
            error = "alpn '" + p + "': edgeshard speaks only http/1.1";
            return nullptr;
        }
    }
    std::vector<std::string> files;
    for (const std::string& c : o.crt) {
        struct stat st{};
        if (stat(c.c_str(), &st) != 0) {
            error = "cannot load certificate '" + c + "': " + std::strerror(errno);
            return nullptr;
        }
        if (S_ISDIR(st.st_mode)) {
            if (!list_dir(c, files, error)) return nullptr;
        } else {
            files.push_back(c);
        }
    }
    for (const std::string& f : files)
        if (!b->add_cert(o, f, error, warnings)) return nullptr;
    return b;
}

bool BindTls::configure(SSL_CTX* ctx, const BindOptions& o, std::string& error) {
    // no renegotiation (a TLS 1.2 client asking gets an alert), no compression, the server's cipher order
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 (o.prefer_client_ciphers ? 0 : SSL_OP_CIPHER_SERVER_PREFERENCE));
    // record buffers are kept while an exchange runs (SSL_MODE_RELEASE_BUFFERS would free and
    // allocate them around every record: 9% more CPU per GB on 1 MiB bodies) and given back when
    // the connection goes idle (tls::Conn::trim)
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    // the version range; no-<version> options narrow it from below or above (OpenSSL takes a range)
    Version lo = o.min_ver == Version::Any ? Version::Ssl3 : o.min_ver;
    Version hi = o.max_ver == Version::Any ? Version::Tls13 : o.max_ver;
    while (lo <= hi && (o.no_versions & (1u << unsigned(lo)))) lo = Version(unsigned(lo) + 1);
    while (hi >= lo && hi > Version::Ssl3 && (o.no_versions & (1u << unsigned(hi)))) hi = Version(unsigned(hi) - 1);
    if (lo > hi || (o.no_versions & (1u << unsigned(hi)))) {
        error = "no TLS version left: ssl-min-ver / ssl-max-ver / no-tlsv* exclude them all";
        return false;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, openssl_version(lo)) ||
        !SSL_CTX_set_max_proto_version(ctx, openssl_version(hi))) {
        error = "TLS version range not supported by this OpenSSL: " + take_errors();
        return false;
    }
    if (!o.ciphers.empty() && !SSL_CTX_set_cipher_list(ctx, o.ciphers.c_str())) {
        error = "ciphers '" + o.ciphers + "': no cipher OpenSSL knows (" + take_errors() + ")";
        return false;
    }
    if (!o.ciphersuites.empty() && !SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str())) {
        error = "ciphersuites '" + o.ciphersuites + "': not a TLS 1.3 suite list OpenSSL accepts (" + take_errors() + ")";
        return false;
    }
    if (!o.curves.empty() && !SSL_CTX_set1_groups_list(ctx, o.curves.c_str())) {
        error = "curves '" + o.curves + "': unknown group (" + take_errors() + ")";
        return false;
    }
    // DHE (TLS 1.2 DHE suites): an RFC 7919 group of tune.ssl.default-dh-param bits, else the
    // group OpenSSL matches to the certificate's key
    if (o.dh_bits > 0) {
        const char* group = o.dh_bits >= 8192 ? "ffdhe8192" : o.dh_bits >= 6144 ? "ffdhe6144"
                          : o.dh_bits >= 4096 ? "ffdhe4096" : o.dh_bits >= 3072 ? "ffdhe3072" : "ffdhe2048";
        EVP_PKEY* dh = nullptr;
        if (EVP_PKEY_CTX* pc = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr)) {
            OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
                OSSL_PARAM_construct_end(),
            };
            if (EVP_PKEY_paramgen_init(pc) != 1 || EVP_PKEY_CTX_set_params(pc, params) != 1 ||
                EVP_PKEY_paramgen(pc, &dh) != 1)
                dh = nullptr;
            EVP_PKEY_CTX_free(pc);
        }
        if (!dh || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
            EVP_PKEY_free(dh);
            error = std::string("DH group ") + group + " unavailable: " + take_errors();
            return false;
        }
    } else {
        SSL_CTX_set_dh_auto(ctx, 1);
    }
    // resumption: tickets sealed with keys every shard shares (tickets.hpp), else (no-tls-tickets)
    // session IDs in the shard's cache; both for tune.ssl.lifetime
    SSL_CTX_set_app_data(ctx, this);
    SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(sid_ctx_.data()),
                                   unsigned(sid_ctx_.size()));
    SSL_CTX_set_timeout(ctx, long(o.lifetime_s > 0 ? o.lifetime_s : 300));
    if (o.no_tickets)
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    else if (keys_)
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
    if (cache_)
        cache_->attach(ctx);
    else
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, this);
    if (!alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(ctx, on_alpn, this);
    return true;
}

bool BindTls::add_cert(const BindOptions& o, const std::string& path, std::string& error,
                       std::vector<std::string>& warnings) {
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        error = "out of memory for a TLS context";
        return false;
    }
    certs_.push_back(Cert{path, {}, ctx});  // freed with the BindTls from here on
    if (!configure(ctx, o, error)) return false;
    if (SSL_CTX_use_certificate_chain_file(ctx, path.c_str()) != 1) {
        error = "cannot load certificate '" + path + "': " + take_errors();
        return false;
    }
    // the key: in the same PEM, else in '<file>.key' beside it (HAProxy's convention)
    EVP_PKEY* key = nullptr;
    std::string key_path = path;
    for (const std::string& kp : {path, path + ".key"}) {
        if (FILE* f = std::fopen(kp.c_str(), "r")) {
            key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
            std::fclose(f);
        }
        ERR_clear_error();
        if (key) {
            key_path = kp;
            break;
        }
    }
    if (!key) {
        error = "certificate '" + path + "' has no private key (neither in the file nor in '" + path + ".key')";
        return false;
    }
    if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1) {
        EVP_PKEY_free(key);
        ERR_clear_error();
        error = "certificate '" + path + "': the private key in '" + key_path + "' does not match the certificate";
        return false;
    }
    const int used = SSL_CTX_use_PrivateKey(ctx, key);
    EVP_PKEY_free(key);
    if (used != 1) {
        error = "certificate '" + path + "': cannot use its private key: " + take_errors();
        return false;
    }
    X509* x = SSL_CTX_get0_certificate(ctx);
    certs_.back().names = cert_names(x);
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        warnings.push_back("certificate '" + path + "' has expired");
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        warnings.push_back("certificate '" + path + "' is not valid yet");
    return true;
}

SSL_CTX* BindTls::select(std::string_view name) const {
    const std::string n = lower(name);
    for (const Cert& c : certs_)
        for (const std::string& cn : c.names)
            if (cn == n) return c.ctx;
    // "*.example.com" covers "a.example.com", not "example.com" nor "a.b.example.com"
    const std::size_t dot = n.find('.');
    if (dot == std::string::npos || dot == 0) return nullptr;
    const std::string_view parent = std::string_view(n).substr(dot);
    for (const Cert& c : certs_)
        for (const std::string& cn : c.names)
            if (cn.size() == parent.size() + 1 && cn[0] == '*' && std::string_view(cn).substr(1) == parent) return c.ctx;
    return nullptr;
}

}  // namespace es::tls
