// Client certificates: the verification callback (what a failed check costs, per `ca-ignore-err` /
// `crt-ignore-err`), the facts the ssl_c_* fetches read, and the error names the configuration
// accepts. See context.hpp for where verification is switched on.
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "edgeshard/tls/conn.hpp"
#include "edgeshard/tls/context.hpp"

namespace es::tls {

namespace {

// OpenSSL's X509_V_ERR_* names (HAProxy accepts them beside the numbers, which change between
// OpenSSL versions).
#define ES_X509_ERR(n) {#n, n}
constexpr std::pair<std::string_view, int> kVerifyErrors[] = {
    ES_X509_ERR(X509_V_ERR_UNSPECIFIED),
    ES_X509_ERR(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT),
    ES_X509_ERR(X509_V_ERR_UNABLE_TO_GET_CRL),
    ES_X509_ERR(X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE),
    ES_X509_ERR(X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE),
    ES_X509_ERR(X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY),
    ES_X509_ERR(X509_V_ERR_CERT_SIGNATURE_FAILURE),
    ES_X509_ERR(X509_V_ERR_CRL_SIGNATURE_FAILURE),
    ES_X509_ERR(X509_V_ERR_CERT_NOT_YET_VALID),
    ES_X509_ERR(X509_V_ERR_CERT_HAS_EXPIRED),
    ES_X509_ERR(X509_V_ERR_CRL_NOT_YET_VALID),
    ES_X509_ERR(X509_V_ERR_CRL_HAS_EXPIRED),
    ES_X509_ERR(X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD),
    ES_X509_ERR(X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD),
    ES_X509_ERR(X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD),
    ES_X509_ERR(X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD),
    ES_X509_ERR(X509_V_ERR_OUT_OF_MEM),
    ES_X509_ERR(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
    ES_X509_ERR(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN),
    ES_X509_ERR(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
    ES_X509_ERR(X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE),
    ES_X509_ERR(X509_V_ERR_CERT_CHAIN_TOO_LONG),
    ES_X509_ERR(X509_V_ERR_CERT_REVOKED),
    ES_X509_ERR(X509_V_ERR_NO_ISSUER_PUBLIC_KEY),
    ES_X509_ERR(X509_V_ERR_PATH_LENGTH_EXCEEDED),
    ES_X509_ERR(X509_V_ERR_INVALID_PURPOSE),
    ES_X509_ERR(X509_V_ERR_CERT_UNTRUSTED),
    ES_X509_ERR(X509_V_ERR_CERT_REJECTED),
    ES_X509_ERR(X509_V_ERR_SUBJECT_ISSUER_MISMATCH),
    ES_X509_ERR(X509_V_ERR_AKID_SKID_MISMATCH),
    ES_X509_ERR(X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH),
    ES_X509_ERR(X509_V_ERR_KEYUSAGE_NO_CERTSIGN),
    ES_X509_ERR(X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER),
    ES_X509_ERR(X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION),
    ES_X509_ERR(X509_V_ERR_KEYUSAGE_NO_CRL_SIGN),
    ES_X509_ERR(X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION),
    ES_X509_ERR(X509_V_ERR_INVALID_NON_CA),
    ES_X509_ERR(X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED),
    ES_X509_ERR(X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE),
    ES_X509_ERR(X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED),
    ES_X509_ERR(X509_V_ERR_INVALID_EXTENSION),
    ES_X509_ERR(X509_V_ERR_INVALID_POLICY_EXTENSION),
    ES_X509_ERR(X509_V_ERR_NO_EXPLICIT_POLICY),
    ES_X509_ERR(X509_V_ERR_DIFFERENT_CRL_SCOPE),
    ES_X509_ERR(X509_V_ERR_UNSUPPORTED_EXTENSION_FEATURE),
    ES_X509_ERR(X509_V_ERR_UNNESTED_RESOURCE),
    ES_X509_ERR(X509_V_ERR_PERMITTED_VIOLATION),
    ES_X509_ERR(X509_V_ERR_EXCLUDED_VIOLATION),
    ES_X509_ERR(X509_V_ERR_SUBTREE_MINMAX),
    ES_X509_ERR(X509_V_ERR_APPLICATION_VERIFICATION),
    ES_X509_ERR(X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE),
    ES_X509_ERR(X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX),
    ES_X509_ERR(X509_V_ERR_UNSUPPORTED_NAME_SYNTAX),
    ES_X509_ERR(X509_V_ERR_CRL_PATH_VALIDATION_ERROR),
    ES_X509_ERR(X509_V_ERR_PATH_LOOP),
    ES_X509_ERR(X509_V_ERR_SUITE_B_INVALID_VERSION),
    ES_X509_ERR(X509_V_ERR_SUITE_B_INVALID_ALGORITHM),
    ES_X509_ERR(X509_V_ERR_SUITE_B_INVALID_CURVE),
    ES_X509_ERR(X509_V_ERR_SUITE_B_INVALID_SIGNATURE_ALGORITHM),
    ES_X509_ERR(X509_V_ERR_SUITE_B_LOS_NOT_ALLOWED),
    ES_X509_ERR(X509_V_ERR_SUITE_B_CANNOT_SIGN_P_384_WITH_P_256),
    ES_X509_ERR(X509_V_ERR_HOSTNAME_MISMATCH),
    ES_X509_ERR(X509_V_ERR_EMAIL_MISMATCH),
    ES_X509_ERR(X509_V_ERR_IP_ADDRESS_MISMATCH),
    ES_X509_ERR(X509_V_ERR_DANE_NO_MATCH),
    ES_X509_ERR(X509_V_ERR_EE_KEY_TOO_SMALL),
    ES_X509_ERR(X509_V_ERR_CA_KEY_TOO_SMALL),
    ES_X509_ERR(X509_V_ERR_CA_MD_TOO_WEAK),
    ES_X509_ERR(X509_V_ERR_INVALID_CALL),
    ES_X509_ERR(X509_V_ERR_STORE_LOOKUP),
    ES_X509_ERR(X509_V_ERR_NO_VALID_SCTS),
    ES_X509_ERR(X509_V_ERR_PROXY_SUBJECT_NAME_VIOLATION),
    ES_X509_ERR(X509_V_ERR_OCSP_VERIFY_NEEDED),
    ES_X509_ERR(X509_V_ERR_OCSP_VERIFY_FAILED),
    ES_X509_ERR(X509_V_ERR_OCSP_CERT_UNKNOWN),
    ES_X509_ERR(X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM),
    ES_X509_ERR(X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH),
    ES_X509_ERR(X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY),
    ES_X509_ERR(X509_V_ERR_INVALID_CA),
    ES_X509_ERR(X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA),
    ES_X509_ERR(X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN),
    ES_X509_ERR(X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA),
    ES_X509_ERR(X509_V_ERR_ISSUER_NAME_EMPTY),
    ES_X509_ERR(X509_V_ERR_SUBJECT_NAME_EMPTY),
    ES_X509_ERR(X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER),
    ES_X509_ERR(X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER),
    ES_X509_ERR(X509_V_ERR_EMPTY_SUBJECT_ALT_NAME),
    ES_X509_ERR(X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL),
    ES_X509_ERR(X509_V_ERR_CA_BCONS_NOT_CRITICAL),
    ES_X509_ERR(X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL),
    ES_X509_ERR(X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL),
    ES_X509_ERR(X509_V_ERR_CA_CERT_MISSING_KEY_USAGE),
    ES_X509_ERR(X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3),
    ES_X509_ERR(X509_V_ERR_EC_KEY_EXPLICIT_PARAMS),
};
#undef ES_X509_ERR

void hex_upper(const unsigned char* p, std::size_t n, std::string& out) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    out.resize(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out[2 * i] = kHex[p[i] >> 4];
        out[2 * i + 1] = kHex[p[i] & 15];
    }
}

// HAProxy's one-line DN: "/<short name>=<value>" per entry, in the certificate's order, values as
// their raw bytes.
void dn_text(const X509_NAME* name, std::string& out) {
    out.clear();
    for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
        const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(e);
        const int nid = OBJ_obj2nid(obj);
        const char* sn = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
        char oid[80];
        if (!sn) {
            OBJ_obj2txt(oid, sizeof oid, obj, 1);
            sn = oid;
        }
        const ASN1_STRING* v = X509_NAME_ENTRY_get_data(e);
        out += '/';
        out += sn;
        out += '=';
        out.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)), std::size_t(ASN1_STRING_length(v)));
    }
}

}  // namespace

bool parse_verify_errors(std::string_view list, VerifyErrors& out, std::string& error) {
    out = VerifyErrors{};
    if (list == "all") {
        out.all = true;
        return true;
    }
    std::size_t s = 0;
    while (s <= list.size()) {
        std::size_t c = list.find(',', s);
        if (c == std::string_view::npos) c = list.size();
        const std::string_view w = list.substr(s, c - s);
        s = c + 1;
        if (w.empty()) {
            error = "empty error ID in '" + std::string(list) + "'";
            return false;
        }
        int code = -1;
        if (w.find_first_not_of("0123456789") == std::string_view::npos) {
            if (w.size() > 6) {
                error = "error ID '" + std::string(w) + "' is out of range";
                return false;
            }
            code = std::atoi(std::string(w).c_str());
        } else {
            for (const auto& [n, v] : kVerifyErrors)
                if (n == w) code = v;
            if (code < 0) {
                error = "unknown error ID '" + std::string(w) +
                        "' (a number or an OpenSSL name such as X509_V_ERR_CERT_HAS_EXPIRED, or 'all')";
                return false;
            }
        }
        out.codes.push_back(code);
    }
    return true;
}

bool dn_entry(std::string_view dn, std::string_view entry, int occ, std::string_view& out) {
    if (entry.empty()) {
        out = dn;
        return !dn.empty();
    }
    // the entries' starts: a '/' followed by a short name and '='; values may hold '/' themselves
    // (HAProxy's format is ambiguous there), so an entry starts only where a known-shape name follows
    std::vector<std::string_view> values;
    std::size_t i = 0;
    while (i < dn.size()) {
        if (dn[i] != '/') {
            ++i;
            continue;
        }
        const std::size_t eq = dn.find('=', i + 1);
        if (eq == std::string_view::npos) break;
        std::size_t end = dn.find('/', eq + 1);
        // a '/' inside a value: the next entry starts at a '/' followed by "<name>="
        while (end != std::string_view::npos) {
            const std::size_t e2 = dn.find('=', end + 1);
            const std::size_t s2 = dn.find('/', end + 1);
            if (e2 != std::string_view::npos && (s2 == std::string_view::npos || e2 < s2)) break;
            end = s2;
        }
        if (end == std::string_view::npos) end = dn.size();
        if (dn.substr(i + 1, eq - i - 1) == entry) values.push_back(dn.substr(eq + 1, end - eq - 1));
        i = end;
    }
    if (occ == 0) occ = 1;
    const long n = long(values.size());
    const long idx = occ > 0 ? occ - 1 : n + occ;
    if (idx < 0 || idx >= n) return false;
    out = values[std::size_t(idx)];
    return true;
}

// Runs for every certificate of the client's chain, deepest first. Records the first error at
// depth 0 (ssl_c_err) and above (ssl_c_ca_err); an error the bind ignores lets the handshake go on
// (OpenSSL keeps it as the verify result: ssl_c_verify still says it), any other fails it with the
// alert OpenSSL matches to the error, whatever the verify mode.
int verify_client(int ok, X509_STORE_CTX* xs) {
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* conn = ssl ? static_cast<Conn*>(SSL_get_app_data(ssl)) : nullptr;
    ClientCert* cc = conn ? conn->client_facts() : nullptr;
    if (cc) cc->presented = true;
    if (ok) return 1;
    const int depth = X509_STORE_CTX_get_error_depth(xs);
    const int err = X509_STORE_CTX_get_error(xs);
    const auto* bind = static_cast<const BindTls*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (depth > 0) {
        if (cc && cc->ca_err == 0) cc->ca_err = err;
        if (bind && bind->ca_ignore().has(err)) {
            ERR_clear_error();
            return 1;
        }
        return 0;
    }
    if (cc && cc->err == 0) cc->err = err;
    if (bind && bind->crt_ignore().has(err)) {
        ERR_clear_error();
        return 1;
    }
    return 0;
}

void client_cert_facts(SSL* ssl, ClientCert& cc) {
    cc.verify = SSL_get_verify_result(ssl);
    X509* x = SSL_get0_peer_certificate(ssl);
    cc.used = x != nullptr;
    if (!x) return;
    dn_text(X509_get_subject_name(x), cc.s_dn);
    dn_text(X509_get_issuer_name(x), cc.i_dn);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(x);
    hex_upper(ASN1_STRING_get0_data(serial), std::size_t(ASN1_STRING_length(serial)), cc.serial);
    unsigned char md[SHA_DIGEST_LENGTH];
    unsigned len = 0;
    if (X509_digest(x, EVP_sha1(), md, &len) == 1) hex_upper(md, len, cc.sha1);
    auto time_text = [](const ASN1_TIME* t, std::string& out) {
        out.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(t)), std::size_t(ASN1_STRING_length(t)));
    };
    time_text(X509_get0_notBefore(x), cc.not_before);
    time_text(X509_get0_notAfter(x), cc.not_after);
}

}  // namespace es::tls
