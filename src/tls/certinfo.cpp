// Certificates at run time: files of a bind, HAProxy's `show ssl cert` details, payload checks
// (see certinfo.hpp).
#include "edgeshard/tls/certinfo.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "edgeshard/tls/context.hpp"

#include "ocsp_check.hpp"

namespace es::tls {

namespace {

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr mem_bio(std::string_view s) {
    return BioPtr(BIO_new_mem_buf(s.data(), int(s.size())));
}

std::vector<X509Ptr> read_certs(std::string_view pem) {
    std::vector<X509Ptr> out;
    BioPtr b = mem_bio(pem);
    while (X509* x = b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr) out.emplace_back(x);
    ERR_clear_error();
    return out;
}

PkeyPtr read_key(std::string_view pem) {
    BioPtr b = mem_bio(pem);
    PkeyPtr k(b ? PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr) : nullptr);
    ERR_clear_error();
    return k;
}

std::string bio_text(BIO* b) {
    char* p = nullptr;
    const long n = BIO_get_mem_data(b, &p);
    return n > 0 ? std::string(p, std::size_t(n)) : std::string();
}

// "/C=FR/O=x/CN=y", HAProxy's form
std::string dn_text(const X509_NAME* n) {
    std::string out;
    for (int i = 0; i < X509_NAME_entry_count(n); ++i) {
        const X509_NAME_ENTRY* e = X509_NAME_get_entry(n, i);
        const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        const char* sn = nid != NID_undef ? OBJ_nid2sn(nid) : "UNDEF";
        const ASN1_STRING* v = X509_NAME_ENTRY_get_data(e);
        out += '/';
        out += sn;
        out += '=';
        out.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)), std::size_t(ASN1_STRING_length(v)));
    }
    return out;
}

std::string time_text(const ASN1_TIME* t) {
    BioPtr b(BIO_new(BIO_s_mem()));
    ASN1_TIME_print(b.get(), t);
    return bio_text(b.get());
}

}  // namespace

std::vector<std::string> cert_files(const BindOptions& o) {
    std::vector<std::string> out;
    std::string ignored;
    for (const std::string& c : o.crt) crt_files(c, out, ignored);
    for (const CertLine& l : o.crt_list) crt_files(l.path, out, ignored);
    return out;
}

std::string describe_cert(std::string_view pem, std::string& error) {
    const auto certs = read_certs(pem);
    if (certs.empty()) {
        error = "no certificate in it";
        return {};
    }
    X509* x = certs.front().get();
    std::string out;
    {
        const ASN1_INTEGER* serial = X509_get0_serialNumber(x);
        BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
        char* hex = bn ? BN_bn2hex(bn) : nullptr;
        out += "Serial: " + std::string(hex ? hex : "") + "\n";
        OPENSSL_free(hex);
        BN_free(bn);
    }
    out += "notBefore: " + time_text(X509_get0_notBefore(x)) + "\n";
    out += "notAfter: " + time_text(X509_get0_notAfter(x)) + "\n";
    out += "Subject Alternative Name: ";
    if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr))) {
        bool first = true;
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
            if (g->type != GEN_DNS) continue;
            out += first ? "DNS:" : ", DNS:";
            out.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                       std::size_t(ASN1_STRING_length(g->d.dNSName)));
            first = false;
        }
        GENERAL_NAMES_free(sans);
    }
    out += "\n";
    if (EVP_PKEY* pk = X509_get0_pubkey(x)) {
        const int id = EVP_PKEY_get_base_id(pk);
        const char* name = id == EVP_PKEY_RSA ? "RSA" : id == EVP_PKEY_EC ? "EC" : id == EVP_PKEY_DSA ? "DSA" : "";
        out += "Algorithm: " + std::string(name) + std::to_string(EVP_PKEY_get_bits(pk)) + "\n";
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    X509_digest(x, EVP_sha1(), md, &mdlen);
    out += "SHA1 FingerPrint: ";
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (unsigned i = 0; i < mdlen; ++i) {
        out += kHex[md[i] >> 4];
        out += kHex[md[i] & 15];
    }
    out += "\n";
    out += "Subject: " + dn_text(X509_get_subject_name(x)) + "\n";
    out += "Issuer: " + dn_text(X509_get_issuer_name(x)) + "\n";
    for (std::size_t i = 1; i < certs.size(); ++i) {
        out += "Chain Subject: " + dn_text(X509_get_subject_name(certs[i].get())) + "\n";
        out += "Chain Issuer: " + dn_text(X509_get_issuer_name(certs[i].get())) + "\n";
    }
    return out;
}

bool merge_cert_payload(std::string_view current, std::string_view payload, std::string& out, std::string& error) {
    const auto certs = read_certs(payload);
    if (certs.empty()) {
        error = "the payload holds no PEM certificate";
        return false;
    }
    PkeyPtr key = read_key(payload);
    const bool own_key = key != nullptr;
    if (!key) key = read_key(current);
    if (!key) {
        error = "no private key: neither in the payload nor in the current certificate";
        return false;
    }
    if (X509_check_private_key(certs.front().get(), key.get()) != 1) {
        ERR_clear_error();
        error = own_key ? "the private key in the payload does not match its certificate"
                        : "the payload has no key and the current key does not match the new certificate";
        return false;
    }
    BioPtr b(BIO_new(BIO_s_mem()));
    for (const auto& x : certs) PEM_write_bio_X509(b.get(), x.get());
    PEM_write_bio_PrivateKey(b.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    out = bio_text(b.get());
    return true;
}

int match_ocsp(std::string_view der, const std::vector<std::string>& files, const std::vector<std::string>& pems,
               std::string& error) {
    for (std::size_t i = 0; i < pems.size(); ++i) {
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pems[i].data(), int(pems[i].size())), BIO_free);
        std::vector<std::unique_ptr<X509, decltype(&X509_free)>> certs;  // the certificate, then its chain
        while (X509* x = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr)
            certs.emplace_back(x, X509_free);
        ERR_clear_error();
        if (certs.empty()) continue;
        X509* leaf = certs[0].get();
        X509* issuer = nullptr;
        for (std::size_t k = 1; k < certs.size() && !issuer; ++k)
            if (X509_check_issued(certs[k].get(), leaf) == X509_V_OK) issuer = certs[k].get();
        if (!issuer && i < files.size()) {  // else '<file>.issuer', as at load
            if (FILE* f = std::fopen((files[i] + ".issuer").c_str(), "r")) {
                certs.emplace_back(PEM_read_X509(f, nullptr, nullptr, nullptr), X509_free);
                std::fclose(f);
                if (certs.back() && X509_check_issued(certs.back().get(), leaf) == X509_V_OK) issuer = certs.back().get();
            }
        }
        std::string why;
        switch (check_ocsp(der, leaf, issuer, why)) {
            case OcspCheck::Ok: return int(i);
            case OcspCheck::Refused: error = "OCSP response ignored: " + why; return -1;
            case OcspCheck::NotThisCert:
            case OcspCheck::NoIssuer: break;
        }
    }
    ERR_clear_error();
    error = "OCSP single response: Certificate ID does not match any certificate or issuer.";
    return -1;
}

}  // namespace es::tls
