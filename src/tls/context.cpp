// BindTls: certificates, SNI selection and the settings of a TLS bind (see context.hpp).
#include "edgeshard/tls/context.hpp"

#include <dirent.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
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

#include "edgeshard/tls/conn.hpp"
#include "edgeshard/tls/ktls.hpp"
#include "edgeshard/tls/session_cache.hpp"

#include "ocsp_check.hpp"

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

// The server name in a ClientHello's server_name extension (RFC 6066: a list of typed names;
// the host_name one), empty when there is none or it is malformed (OpenSSL refuses it later).
std::string_view hello_server_name(SSL* ssl) {
    const unsigned char* p = nullptr;
    std::size_t len = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 2) return {};
    std::size_t list = (std::size_t(p[0]) << 8) | p[1];
    if (list + 2 != len) return {};
    p += 2;
    while (list >= 3) {
        const unsigned type = p[0];
        const std::size_t n = (std::size_t(p[1]) << 8) | p[2];
        if (n + 3 > list) return {};
        if (type == TLSEXT_NAMETYPE_host_name) return {reinterpret_cast<const char*>(p + 3), n};
        p += 3 + n;
        list -= 3 + n;
    }
    return {};
}

// The certificate is picked from the ClientHello, before OpenSSL chooses the version: a crt-list
// line's version range, verify mode and groups then apply (OpenSSL copies those into the
// connection when it is made, so they are set here; ciphers, ALPN, stapling and the CA names are
// read from the connection's context and follow it). No SNI, or an unknown name: the default,
// unless `strict-sni` refuses the handshake (unrecognized_name alert).
int on_client_hello(SSL* ssl, int* alert, void* arg) {
    const auto* bind = static_cast<const BindTls*>(arg);
    const std::string_view name = hello_server_name(ssl);
    const BindTls::Cert* c = name.empty() ? nullptr : bind->select_cert(name);
    if (!c) {
        if (bind->strict_sni()) {
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_CLIENT_HELLO_ERROR;
        }
        c = &bind->default_cert();
    }
    if (c->ctx == SSL_get_SSL_CTX(ssl)) return SSL_CLIENT_HELLO_SUCCESS;
    SSL_set_SSL_CTX(ssl, c->ctx);
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(c->ctx), SSL_CTX_get_verify_callback(c->ctx));
    SSL_set_min_proto_version(ssl, c->min_ver);
    SSL_set_max_proto_version(ssl, c->max_ver);
    if (!c->curves.empty() && SSL_set1_groups_list(ssl, c->curves.c_str()) != 1) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

// OCSP stapling: the certificate's response, to a client that asked (status_request).
int on_status(SSL* ssl, void* arg) {
    const auto* c = static_cast<const BindTls::Cert*>(arg);
    if (!c || c->ocsp.empty()) return SSL_TLSEXT_ERR_NOACK;
    auto* der = static_cast<unsigned char*>(OPENSSL_malloc(c->ocsp.size()));
    if (!der) return SSL_TLSEXT_ERR_NOACK;
    std::memcpy(der, c->ocsp.data(), c->ocsp.size());
    if (SSL_set_tlsext_status_ocsp_resp(ssl, der, long(c->ocsp.size())) != 1) {
        OPENSSL_free(der);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

// ALPN: the first of the client's protocols that the bind offers (the server's list is what
// edgeshard speaks); no overlap: the handshake goes on without ALPN, as HAProxy does.
int on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
            void* arg) {
    const auto* cert = static_cast<const BindTls::Cert*>(arg);
    const std::string& mine = cert->alpn_wire;
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
        const KtlsSupport& k = ktls_support();
        std::string s = std::string("user-space records (") + OpenSSL_version(OPENSSL_VERSION) + "); kernel TLS ";
        if (k.tx && k.rx)
            s += "available (TX/RX: TLS 1.3 AES-GCM, CHACHA20-POLY1305, TLS 1.2 AES-GCM per connection, "
                 "used by binds with `ktls on`)";
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

bool split_alpn(std::string_view list, std::vector<std::string>& out) {
    std::vector<std::string> names;
    std::size_t s = 0;
    while (s <= list.size()) {
        std::size_t c = list.find(',', s);
        if (c == std::string_view::npos) c = list.size();
        if (c == s) return false;
        names.emplace_back(list.substr(s, c - s));
        s = c + 1;
    }
    out = std::move(names);
    return true;
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

bool set_sigalgs(SSL_CTX* ctx, const std::string& sigalgs, const std::string& client_sigalgs, std::string& error) {
    if (!sigalgs.empty() && SSL_CTX_set1_sigalgs_list(ctx, sigalgs.c_str()) != 1) {
        error = "sigalgs '" + sigalgs + "': unknown signature algorithm (names such as ECDSA+SHA256 or "
                "rsa_pss_rsae_sha256, colon-separated) " + take_errors();
        return false;
    }
    if (!client_sigalgs.empty() && SSL_CTX_set1_client_sigalgs_list(ctx, client_sigalgs.c_str()) != 1) {
        error = "client-sigalgs '" + client_sigalgs + "': unknown signature algorithm (names such as "
                "ECDSA+SHA256 or rsa_pss_rsae_sha256, colon-separated) " + take_errors();
        return false;
    }
    return true;
}

bool set_protocols(SSL_CTX* ctx, Version min_ver, Version max_ver, std::uint8_t no_versions, const std::string& ciphers,
                   const std::string& ciphersuites, std::string& error) {
    // the version range; no-<version> options narrow it from below or above (OpenSSL takes a range)
    Version lo = min_ver == Version::Any ? Version::Ssl3 : min_ver;
    Version hi = max_ver == Version::Any ? Version::Tls13 : max_ver;
    while (lo <= hi && (no_versions & (1u << unsigned(lo)))) lo = Version(unsigned(lo) + 1);
    while (hi >= lo && hi > Version::Ssl3 && (no_versions & (1u << unsigned(hi)))) hi = Version(unsigned(hi) - 1);
    if (lo > hi || (no_versions & (1u << unsigned(hi)))) {
        error = "no TLS version left: ssl-min-ver / ssl-max-ver / no-tlsv* exclude them all";
        return false;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, openssl_version(lo)) ||
        !SSL_CTX_set_max_proto_version(ctx, openssl_version(hi))) {
        error = "TLS version range not supported by this OpenSSL: " + take_errors();
        return false;
    }
    if (!ciphers.empty() && !SSL_CTX_set_cipher_list(ctx, ciphers.c_str())) {
        error = "ciphers '" + ciphers + "': no cipher OpenSSL knows (" + take_errors() + ")";
        return false;
    }
    if (!ciphersuites.empty() && !SSL_CTX_set_ciphersuites(ctx, ciphersuites.c_str())) {
        error = "ciphersuites '" + ciphersuites + "': not a TLS 1.3 suite list OpenSSL accepts (" + take_errors() + ")";
        return false;
    }
    return true;
}

BindTls::~BindTls() {
    for (Cert& c : certs_) SSL_CTX_free(c.ctx);
}

namespace {

// ALPN: only what edgeshard speaks is offered, or every protocol asked for when the bytes are
// relayed to a server that speaks it (mode tcp)
bool make_alpn_wire(const std::vector<std::string>& protos, bool relayed, std::string& wire, std::string& error,
               std::vector<std::string>& warnings) {
    for (const std::string& p : protos) {
        if (relayed && p.size() <= 255) {
            wire += char(p.size());
            wire += p;
        } else if (p == "http/1.1") {
            wire += char(p.size());
            wire += p;
        } else if (p == "h2") {
            warnings.push_back("alpn 'h2': HTTP/2 is not offered yet, only http/1.1 is advertised");
        } else if (p == "http/1.0") {
            warnings.push_back("alpn 'http/1.0' is not advertised (http/1.1 covers HTTP/1.0 clients)");
        } else {
            error = "alpn '" + p + "': edgeshard speaks only http/1.1";
            return false;
        }
    }
    return true;
}

// The files a `crt` or a crt-list line names: the file, or a directory's certificates.
bool crt_files_of(const std::string& c, std::vector<std::string>& files, std::string& error) {
    struct stat st{};
    if (stat(c.c_str(), &st) != 0) {
        error = "cannot load certificate '" + c + "': " + std::strerror(errno);
        return false;
    }
    if (S_ISDIR(st.st_mode)) return list_dir(c, files, error);
    files.push_back(c);
    return true;
}

// A crt-list line's options over the bind's.
BindOptions line_options(const BindOptions& o, const CertLine& l) {
    BindOptions r = o;
    if (l.alpn_set) r.alpn = l.alpn;
    if (l.min_set) r.min_ver = l.min_ver;
    if (l.max_set) r.max_ver = l.max_ver;
    if (l.verify_set) r.verify = l.verify;
    if (!l.ciphers.empty()) r.ciphers = l.ciphers;
    if (!l.ciphersuites.empty()) r.ciphersuites = l.ciphersuites;
    if (!l.curves.empty()) r.curves = l.curves;
    if (!l.ca_file.empty()) r.ca_file = l.ca_file;
    if (!l.crl_file.empty()) r.crl_file = l.crl_file;
    if (!l.sigalgs.empty()) r.sigalgs = l.sigalgs;
    if (!l.ecdhe.empty()) r.ecdhe = l.ecdhe;
    if (!l.ca_verify_file.empty()) r.ca_verify_file = l.ca_verify_file;
    if (!l.client_sigalgs.empty()) r.client_sigalgs = l.client_sigalgs;
    if (l.no_ca_names) r.no_ca_names = true;
    return r;
}

}  // namespace

std::unique_ptr<BindTls> BindTls::make(const BindOptions& o, std::string& error, std::vector<std::string>& warnings,
                                       SessionCache* cache) {
    std::unique_ptr<BindTls> b(new BindTls());
    if (o.crt.empty() && o.crt_list.empty()) {
        error = "'ssl' needs a certificate: add 'crt <file|dir>' or 'crt-list <file>'";
        return nullptr;
    }
    b->cache_ = cache;
    b->strict_sni_ = o.strict_sni;
    b->direct_seal_ = o.direct_seal;
    b->ca_ignore_ = o.ca_ignore;
    b->crt_ignore_ = o.crt_ignore;
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
    // certificates in the order the bind declares them: each `crt`, and the lines of each
    // crt-list where it was written among them
    auto add_line = [&](const CertLine& l) {
        const BindOptions lo = line_options(o, l);
        std::vector<std::string> files;
        if (!crt_files_of(l.path, files, error)) {
            error = l.where + ": " + error;
            return false;
        }
        for (const std::string& f : files) {
            if (!b->add_cert(lo, f, &l, error, warnings)) {
                error = l.where + ": " + error;
                return false;
            }
        }
        return true;
    };
    std::size_t next_line = 0;
    for (std::size_t i = 0; i <= o.crt.size(); ++i) {
        for (; next_line < o.crt_list.size() && o.crt_list[next_line].after_crt <= i; ++next_line)
            if (!add_line(o.crt_list[next_line])) return nullptr;
        if (i == o.crt.size()) break;
        std::vector<std::string> files;
        if (!crt_files_of(o.crt[i], files, error)) return nullptr;
        for (const std::string& f : files)
            if (!b->add_cert(o, f, nullptr, error, warnings)) return nullptr;
    }
    if (b->certs_.empty()) {
        error = "no certificate loaded";
        return nullptr;
    }
    // a crt-list line with the '*' filter is the default (HAProxy's explicit default)
    for (std::size_t i = 0; i < b->certs_.size(); ++i) {
        const Cert& c = b->certs_[i];
        if (c.filtered && std::find(c.names.begin(), c.names.end(), "*") != c.names.end()) {
            b->default_ = i;
            break;
        }
    }
    if (b->direct_seal_) b->capture_secrets();
    return b;
}

namespace {

// `ca-file` and `crl-file` go into the context's store; `verify` decides whether the client is
// asked for a certificate (the CA names from ca-file go with the request) and whether it must send
// one. Without verify the files are still loaded, so a bad one is an error at `-c`, as in HAProxy.
bool configure_verify(SSL_CTX* ctx, const BindOptions& o, std::string& error) {
    if (o.verify != Verify::None && o.ca_file.empty() && o.ca_verify_file.empty()) {
        error = std::string("'verify ") + (o.verify == Verify::Required ? "required" : "optional") +
                "' needs a 'ca-file' (or 'ca-verify-file') to verify client certificates with";
        return false;
    }
    // `ca-verify-file`: in the store, not in the request's names (HAProxy: the roots, while
    // ca-file holds the intermediates clients are told about)
    if (!o.ca_verify_file.empty() && SSL_CTX_load_verify_file(ctx, o.ca_verify_file.c_str()) != 1) {
        error = "cannot load ca-verify-file '" + o.ca_verify_file + "': " + take_errors();
        return false;
    }
    if (!o.ca_file.empty()) {
        std::vector<std::string> files;
        struct stat st{};
        if (stat(o.ca_file.c_str(), &st) != 0) {
            error = "cannot load ca-file '" + o.ca_file + "': " + std::strerror(errno);
            return false;
        }
        if (S_ISDIR(st.st_mode)) {  // every .pem, .crt and .cer of the directory
            DIR* d = opendir(o.ca_file.c_str());
            while (dirent* e = d ? readdir(d) : nullptr) {
                const std::string_view n(e->d_name);
                if (n.empty() || n[0] == '.') continue;
                for (std::string_view ext : {".pem", ".crt", ".cer"})
                    if (n.size() > ext.size() && n.substr(n.size() - ext.size()) == ext)
                        files.push_back(o.ca_file + "/" + std::string(n));
            }
            if (d) closedir(d);
            std::sort(files.begin(), files.end());
            if (files.empty()) {
                error = "ca-file directory '" + o.ca_file + "' holds no .pem, .crt or .cer file";
                return false;
            }
        } else {
            files.push_back(o.ca_file);
        }
        STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
        for (const std::string& f : files) {
            if (SSL_CTX_load_verify_file(ctx, f.c_str()) != 1 ||
                (names && SSL_add_file_cert_subjects_to_stack(names, f.c_str()) != 1)) {
                sk_X509_NAME_pop_free(names, X509_NAME_free);
                error = "cannot load ca-file '" + f + "': " + take_errors();
                return false;
            }
        }
        if (o.no_ca_names)
            sk_X509_NAME_pop_free(names, X509_NAME_free);  // `no-ca-names`: the request names none
        else
            SSL_CTX_set_client_CA_list(ctx, names);  // the context owns the names
    }
    if (!o.crl_file.empty()) {
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_LOOKUP* lu = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (!lu || X509_load_crl_file(lu, o.crl_file.c_str(), X509_FILETYPE_PEM) <= 0) {
            error = "cannot load crl-file '" + o.crl_file + "': " + (errno ? std::string(std::strerror(errno)) + "; " : "") +
                    take_errors();
            return false;
        }
        // every certificate of the chain is checked: a CRL is needed for each CA
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    const int mode = o.verify == Verify::None       ? SSL_VERIFY_NONE
                     : o.verify == Verify::Optional ? SSL_VERIFY_PEER
                                                    : SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, mode == SSL_VERIFY_NONE ? nullptr : verify_client);
    return true;
}

}  // namespace

int BindTls::replace_ocsp(const std::string& path, const std::string& der) {
    int n = 0;
    for (Cert& c : certs_) {
        if (c.path != path) continue;
        c.ocsp = der;
        SSL_CTX_set_tlsext_status_cb(c.ctx, on_status);
        SSL_CTX_set_tlsext_status_arg(c.ctx, &c);
        ++n;
    }
    return n;
}

OcspCheck check_ocsp(std::string_view der, X509* leaf, X509* issuer, std::string& why) {
    const auto* q = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<OCSP_RESPONSE, decltype(&OCSP_RESPONSE_free)> resp(d2i_OCSP_RESPONSE(nullptr, &q, long(der.size())),
                                                                      OCSP_RESPONSE_free);
    auto refuse = [&](std::string w) {
        ERR_clear_error();
        why = std::move(w);
        return OcspCheck::Refused;
    };
    if (!resp) return refuse("not a DER OCSP response");
    if (OCSP_response_status(resp.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        return refuse(std::string("its status is '") + OCSP_response_status_str(OCSP_response_status(resp.get())) +
                      "'");
    std::unique_ptr<OCSP_BASICRESP, decltype(&OCSP_BASICRESP_free)> basic(OCSP_response_get1_basic(resp.get()),
                                                                          OCSP_BASICRESP_free);
    if (!basic) return refuse("no basic response in it");
    if (OCSP_resp_count(basic.get()) != 1)
        return refuse("it holds " + std::to_string(OCSP_resp_count(basic.get())) +
                      " certificate statuses, not exactly one");
    if (!issuer) return OcspCheck::NoIssuer;
    std::unique_ptr<OCSP_CERTID, decltype(&OCSP_CERTID_free)> id(OCSP_cert_to_id(nullptr, leaf, issuer),
                                                                 OCSP_CERTID_free);
    int status = 0, reason = 0;
    ASN1_GENERALIZEDTIME *rev = nullptr, *thisupd = nullptr, *nextupd = nullptr;
    if (!id || OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &rev, &thisupd, &nextupd) != 1) {
        ERR_clear_error();
        return OcspCheck::NotThisCert;
    }
    if (status != V_OCSP_CERTSTATUS_GOOD)
        return refuse(std::string("it says the certificate is '") + OCSP_cert_status_str(status) + "'");
    if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) return refuse("it has expired or is not valid yet");
    return OcspCheck::Ok;
}

bool BindTls::load_ocsp(Cert& c, std::string& error, std::vector<std::string>& warnings) {
    const std::string p = c.path + ".ocsp";
    FILE* f = std::fopen(p.c_str(), "rb");
    if (!f) {
        if (errno == ENOENT) return true;
        error = "cannot read OCSP response '" + p + "': " + std::strerror(errno);
        return false;
    }
    std::string der;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) der.append(buf, n);
    std::fclose(f);
    if (der.empty()) return true;  // stapling waits for a response (HAProxy allows an empty file)
    auto ignore = [&](const std::string& why) {
        warnings.push_back("OCSP response '" + p + "' ignored: " + why);
        ERR_clear_error();
        return true;
    };
    // the issuer: in the certificate's chain, else in '<crt>.issuer'
    X509* leaf = SSL_CTX_get0_certificate(c.ctx);
    STACK_OF(X509)* chain = nullptr;
    SSL_CTX_get0_chain_certs(c.ctx, &chain);
    X509* issuer = nullptr;
    for (int i = 0; chain && i < sk_X509_num(chain); ++i)
        if (X509_check_issued(sk_X509_value(chain, i), leaf) == X509_V_OK) issuer = sk_X509_value(chain, i);
    std::unique_ptr<X509, decltype(&X509_free)> file_issuer(nullptr, X509_free);
    if (!issuer) {
        if (FILE* fi = std::fopen((c.path + ".issuer").c_str(), "r")) {
            file_issuer.reset(PEM_read_X509(fi, nullptr, nullptr, nullptr));
            std::fclose(fi);
        }
        if (file_issuer && X509_check_issued(file_issuer.get(), leaf) == X509_V_OK) issuer = file_issuer.get();
    }
    std::string why;
    switch (check_ocsp(der, leaf, issuer, why)) {
        case OcspCheck::Ok: break;
        case OcspCheck::NotThisCert: return ignore("it is not about this certificate");
        case OcspCheck::Refused: return ignore(why);
        case OcspCheck::NoIssuer:
            ERR_clear_error();
            error = "certificate '" + c.path + "': its OCSP response '" + p +
                    "' cannot be checked without the issuer's certificate: add it to the PEM or to '" + c.path +
                    ".issuer'";
            return false;
    }
    c.ocsp = std::move(der);
    SSL_CTX_set_tlsext_status_cb(c.ctx, on_status);
    SSL_CTX_set_tlsext_status_arg(c.ctx, &c);
    return true;
}

bool BindTls::configure(Cert& cert, const BindOptions& o, std::string& error, std::vector<std::string>& warnings) {
    SSL_CTX* ctx = cert.ctx;
    // no renegotiation (a TLS 1.2 client asking gets an alert), no compression, the server's cipher order
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 (o.prefer_client_ciphers ? 0 : SSL_OP_CIPHER_SERVER_PREFERENCE));
    // record buffers are kept while an exchange runs (SSL_MODE_RELEASE_BUFFERS would free and
    // allocate them around every record: 9% more CPU per GB on 1 MiB bodies) and given back when
    // the connection goes idle (tls::Conn::trim)
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (!set_protocols(ctx, o.min_ver, o.max_ver, o.no_versions, o.ciphers, o.ciphersuites, error)) return false;
    // `ecdhe <curve>` is the one group when `curves` is not given (HAProxy's order)
    const std::string& groups = o.curves.empty() ? o.ecdhe : o.curves;
    if (!groups.empty() && !SSL_CTX_set1_groups_list(ctx, groups.c_str())) {
        error = std::string(o.curves.empty() ? "ecdhe '" : "curves '") + groups + "': unknown group (" +
                take_errors() + ")";
        return false;
    }
    if (!set_sigalgs(ctx, o.sigalgs, o.client_sigalgs, error)) return false;
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
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, this);
    cert.min_ver = int(SSL_CTX_get_min_proto_version(ctx));
    cert.max_ver = int(SSL_CTX_get_max_proto_version(ctx));
    cert.curves = groups;
    if (!make_alpn_wire(o.alpn, o.alpn_relayed, cert.alpn_wire, error, warnings)) return false;
    if (!cert.alpn_wire.empty()) SSL_CTX_set_alpn_select_cb(ctx, on_alpn, &cert);
    return configure_verify(ctx, o, error);
}

bool BindTls::add_cert(const BindOptions& o, const std::string& path, const CertLine* line, std::string& error,
                       std::vector<std::string>& warnings) {
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        error = "out of memory for a TLS context";
        return false;
    }
    certs_.push_back(Cert{});  // the context is freed with the BindTls from here on
    Cert& cert = certs_.back();
    cert.path = path;
    cert.ctx = ctx;
    cert.opts = std::make_shared<const BindOptions>(o);
    if (line) cert.where = line->where;
    // ALPN warnings once per bind, not once per certificate
    std::vector<std::string> quiet;
    if (!configure(cert, o, error, certs_.size() == 1 || (line && line->alpn_set) ? warnings : quiet)) return false;
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
    bool filters = false;
    if (line) {
        for (const std::string& f : line->filters) {
            if (f.starts_with('!')) {
                if (f.size() > 1 && f[1] != '*') cert.negatives.push_back(f.substr(1));  // "!*..." is ignored
            } else {
                cert.names.push_back(f);
            }
            filters = true;
        }
    }
    cert.filtered = filters;
    if (!filters) cert.names = cert_names(x);
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        warnings.push_back("certificate '" + path + "' has expired");
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        warnings.push_back("certificate '" + path + "' is not valid yet");
    return load_ocsp(cert, error, warnings);
}

SSL_CTX* BindTls::select(std::string_view name) const {
    const Cert* c = select_cert(name);
    return c ? c->ctx : nullptr;
}

const BindTls::Cert* BindTls::select_cert(std::string_view name) const {
    const std::string n = lower(name);
    // exact names (a line's negative filters name no certificate)
    for (const Cert& c : certs_)
        for (const std::string& cn : c.names)
            if (cn == n) return &c;
    // "*.example.com" covers "a.example.com", not "example.com" nor "a.b.example.com"; a negative
    // filter of the same crt-list line takes the name back from its wildcard
    const std::size_t dot = n.find('.');
    if (dot == std::string::npos || dot == 0) return nullptr;
    const std::string_view parent = std::string_view(n).substr(dot);
    for (const Cert& c : certs_) {
        if (std::find(c.negatives.begin(), c.negatives.end(), n) != c.negatives.end()) continue;
        for (const std::string& cn : c.names)
            if (cn.size() == parent.size() + 1 && cn[0] == '*' && std::string_view(cn).substr(1) == parent) return &c;
    }
    return nullptr;
}

bool crt_files(const std::string& path, std::vector<std::string>& files, std::string& error) {
    return crt_files_of(path, files, error);
}

int BindTls::replace_cert(const std::string& path, const std::string& pem, std::string& error) {
    // every check first, on a scratch context: nothing changes unless all of it loads
    auto load_into = [&](SSL_CTX* ctx) -> bool {
        BIO* b = BIO_new_mem_buf(pem.data(), int(pem.size()));
        X509* leaf = b ? PEM_read_bio_X509(b, nullptr, nullptr, nullptr) : nullptr;
        bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
        while (ok) {
            X509* extra = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
            if (!extra) break;
            if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
                X509_free(extra);
                ok = false;
            }
        }
        X509_free(leaf);
        BIO_free(b);
        ERR_clear_error();
        if (!ok) {
            error = "no usable certificate in it";
            return false;
        }
        b = BIO_new_mem_buf(pem.data(), int(pem.size()));
        EVP_PKEY* key = b ? PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr) : nullptr;
        BIO_free(b);
        const bool key_ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
        EVP_PKEY_free(key);
        ERR_clear_error();
        if (!key_ok) error = "its private key is missing or does not match the certificate";
        return key_ok;
    };
    int replaced = 0;
    for (Cert& c : certs_) {
        if (c.path != path) continue;
        SSL_CTX* fresh = SSL_CTX_new(TLS_server_method());
        if (!fresh) {
            error = "out of memory for a TLS context";
            return replaced ? replaced : -1;
        }
        SSL_CTX* old = c.ctx;
        c.ctx = fresh;  // configure() sets the new context up for this certificate (its callbacks' argument)
        std::vector<std::string> quiet;
        if (!configure(c, *c.opts, error, quiet) || !load_into(fresh)) {
            c.ctx = old;
            SSL_CTX_free(fresh);
            return replaced ? replaced : -1;
        }
        if (!c.filtered) c.names = cert_names(SSL_CTX_get0_certificate(fresh));
        c.ocsp.clear();  // the file's OCSP response was about the previous certificate
        SSL_CTX_free(old);  // connections made with it hold their own reference
        ++replaced;
    }
    if (replaced > 0 && tracks()) capture_secrets();  // the new contexts capture their secrets too
    return replaced;
}

}  // namespace es::tls
