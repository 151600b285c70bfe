// Certificates at run time (HAProxy's `show ssl cert`, `set ssl cert`, `commit ssl cert`): the
// files a bind loads, what a certificate says (in HAProxy's `show ssl cert <file>` lines), and the
// checks a new certificate passes before it replaces one in the shards.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/tls/options.hpp"

namespace es::tls {

// The certificate files one `crt` argument or crt-list line names: the file, or a directory's
// certificates in name order (companion files skipped), as BindTls loads them.
bool crt_files(const std::string& path, std::vector<std::string>& files, std::string& error);
// Every certificate file a bind loads: its `crt` arguments and its crt-list lines (unreadable
// ones skipped: the configuration check reported them).
std::vector<std::string> cert_files(const BindOptions& o);

// HAProxy's detail lines for the first certificate of `pem` (and its chain): Serial, notBefore,
// notAfter, Subject Alternative Name, Algorithm, SHA1 FingerPrint, Subject, Issuer, Chain
// Subject/Issuer. Empty and `error` set when `pem` holds no certificate.
std::string describe_cert(std::string_view pem, std::string& error);

// A `set ssl cert` payload applied over the current PEM of a file: the payload's certificate and
// chain, with its own key or, when it has none, the current one; the key must match the
// certificate. False and `error` (what to fix) otherwise. `out` is the PEM text to load.
bool merge_cert_payload(std::string_view current, std::string_view payload, std::string& out, std::string& error);

// `set ssl ocsp-response`: which of the certificates (`pems`: the files' texts, certificate then
// chain; `files`: their names, for a `<file>.issuer` beside one) the DER OCSP response `der` is
// about, with the checks a `.ocsp` file passes at load: a successful response, one status, about
// the certificate (its issuer from the chain or `<file>.issuer`), good, within its validity.
// -1 and `error` (HAProxy's wording where it has one) otherwise.
int match_ocsp(std::string_view der, const std::vector<std::string>& files, const std::vector<std::string>& pems,
               std::string& error);

// A committed certificate on its way to the shards (shard::Message::kCertUpdate): immutable once
// posted; the last shard to apply it frees it.
struct CertUpdate {
    std::string path;  // the file as the configuration names it
    std::string pem;   // certificate, chain and key
    std::string ocsp;  // `set ssl ocsp-response`: the DER response to staple (then pem is unused)
    bool ocsp_only = false;
    std::atomic<int> pending{0};  // shards that have not applied it yet
};

}  // namespace es::tls
