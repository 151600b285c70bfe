// The server side of TLS for one bind: certificates, SNI selection, protocol versions, ciphers and
// ALPN, as HAProxy's `bind ... ssl crt ...` keywords describe them, on OpenSSL 3.
//
// A BindTls is built once per shard from a BindOptions (a shard never shares OpenSSL objects with
// another: each context's session cache and counters are its own, so no OpenSSL lock is ever
// contended). Building it loads and checks every certificate: a missing file, a key that does not
// match its certificate, an unknown cipher or group or a bad version range is an error whose text
// names the file or the option; an expired (or not yet valid) certificate loads with a warning.
//
// One SSL_CTX per certificate, all with the bind's settings except what a crt-list line overrides.
// The first certificate declared is the default (a crt-list line with the `*` filter takes that
// place); the ClientHello's server name picks another (exact names first, then `*.domain`
// wildcards that cover one label, as in HAProxy), and a client without SNI or with an unknown name
// gets the default, unless `strict-sni` refuses it. Names come from the certificate's
// subjectAltName DNS entries, else its CN; a crt-list line with filters serves its filters.
//
// Client certificates (`verify optional|required`, `ca-file`, `crl-file`): verified by OpenSSL
// inside the handshake; a failed verification fails the handshake unless `ca-ignore-err` /
// `crt-ignore-err` covers the error, whatever the verify mode (HAProxy's rule).
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/tls/options.hpp"
#include "edgeshard/tls/tickets.hpp"

namespace es::tls {

class SessionCache;  // session_cache.hpp

int openssl_version(Version v);  // TLS1_2_VERSION ...; 0 for Any

// A context's protocol versions (ssl-min-ver / ssl-max-ver narrowed by no-tlsv1x), TLS <= 1.2
// ciphers and TLS 1.3 suites (either may be empty: OpenSSL's defaults); false and `error` (what to fix).
bool set_protocols(SSL_CTX* ctx, Version min_ver, Version max_ver, std::uint8_t no_versions, const std::string& ciphers,
                   const std::string& ciphersuites, std::string& error);
// `sigalgs` and `client-sigalgs` (OpenSSL's list syntax: "ECDSA+SHA256:rsa_pss_rsae_sha256");
// empty lists leave OpenSSL's defaults. False and `error` for a list OpenSSL refuses.
bool set_sigalgs(SSL_CTX* ctx, const std::string& sigalgs, const std::string& client_sigalgs, std::string& error);

class BindTls {
public:
    // nullptr and `error` set when the options cannot be honoured; `warnings` gets what loads but
    // deserves a word (an expired certificate, ALPN protocols edgeshard does not speak).
    // `cache`: the shard's session cache (null: resumption by session ID is off, as at `-c`).
    // Tickets are sealed with the bind's `tls-ticket-keys` file, else the process's keys
    // (process_ticket_keys(); none set: OpenSSL's own, per context).
    static std::unique_ptr<BindTls> make(const BindOptions& o, std::string& error, std::vector<std::string>& warnings,
                                         SessionCache* cache = nullptr);
    ~BindTls();
    BindTls(const BindTls&) = delete;
    BindTls& operator=(const BindTls&) = delete;

    SSL_CTX* default_ctx() const { return certs_[default_].ctx; }
    std::size_t cert_count() const { return certs_.size(); }
    // The context whose certificate serves `name` (exact, then one-label wildcard; a crt-list
    // line with filters serves its filters instead of its certificate's names), else nullptr.
    SSL_CTX* select(std::string_view name) const;
    // The names a loaded certificate serves (for `show ssl cert` and tests).
    const std::vector<std::string>& names(std::size_t i) const { return certs_[i].names; }
    const std::string& path(std::size_t i) const { return certs_[i].path; }
    // The ALPN protocols offered by the default certificate, in wire format (length-prefixed).
    const std::string& alpn_wire() const { return certs_[default_].alpn_wire; }
    const TicketKeys* ticket_keys() const { return keys_.get(); }
    // `commit ssl cert`: the certificates loaded from `path` take `pem` (certificate, chain, key)
    // in new contexts; connections already made keep the old ones (OpenSSL counts references).
    // Returns how many were replaced (0: this bind does not load that file); -1 and `error` when
    // `pem` cannot be used, in which case nothing changed.
    int replace_cert(const std::string& path, const std::string& pem, std::string& error);
    // `set ssl ocsp-response`: the certificates loaded from `path` staple `der` from now on
    // (checked by the control shard: tls::match_ocsp). How many were updated.
    int replace_ocsp(const std::string& path, const std::string& der);
    bool strict_sni() const { return strict_sni_; }
    const VerifyErrors& ca_ignore() const { return ca_ignore_; }
    const VerifyErrors& crt_ignore() const { return crt_ignore_; }
    // Whether a certificate has an OCSP response to staple (tests, `show ssl cert`).
    bool stapling(std::size_t i) const { return !certs_[i].ocsp.empty(); }

    // One certificate and what is particular to it (a crt-list line's options). Public for the
    // OpenSSL callbacks in context.cpp.
    struct Cert {
        std::string path;
        std::string where;               // "list.txt:3" for a crt-list line; empty for a crt
        std::vector<std::string> names;  // lower case; "*.example.com" for wildcards
        bool filtered = false;           // a crt-list line with filters: `names` are its positive filters
        std::vector<std::string> negatives;  // "!name" filters of the line
        std::string alpn_wire;
        std::string curves;              // set on the connection when this certificate is chosen
        int min_ver = 0, max_ver = 0;    // likewise (OpenSSL fixes a connection's range at SSL_new)
        std::string ocsp;                // DER OCSP response to staple; empty: none
        std::shared_ptr<const BindOptions> opts;  // what it was configured with (replace_cert)
        SSL_CTX* ctx = nullptr;
    };
    const Cert* select_cert(std::string_view name) const;
    const Cert& default_cert() const { return certs_[default_]; }
    // Kernel TLS (ktls.hpp): lets Conn::offload() work on this bind's connections, by capturing
    // each handshake's TLS 1.3 traffic secrets (a keylog callback on every context) and counting
    // records. Off (the default), none of it runs. Call before the first Conn is made.
    void enable_ktls();
    bool ktls() const { return ktls_; }
    // Direct sealing (Conn::direct(), BindOptions::direct_seal): needs the same secrets.
    bool direct_seal() const { return direct_seal_; }
    // Connections of this bind capture their secrets and count records (kernel TLS or direct sealing).
    bool tracks() const { return ktls_ || direct_seal_; }

private:
    BindTls() = default;
    // `line`: the crt-list line the certificate comes from (null for a `crt`).
    bool add_cert(const BindOptions& o, const std::string& path, const CertLine* line, std::string& error,
                  std::vector<std::string>& warnings);
    bool configure(Cert& c, const BindOptions& o, std::string& error, std::vector<std::string>& warnings);
    bool load_ocsp(Cert& c, std::string& error, std::vector<std::string>& warnings);
    std::deque<Cert> certs_;  // a deque: callbacks hold pointers to its elements
    std::size_t default_ = 0;
    std::string sid_ctx_;                     // session ID context (from BindOptions::id)
    std::shared_ptr<const TicketKeys> keys_;  // null: OpenSSL's own ticket keys
    SessionCache* cache_ = nullptr;
    bool strict_sni_ = false;
    VerifyErrors ca_ignore_, crt_ignore_;
    bool ktls_ = false;
    bool direct_seal_ = false;
    void capture_secrets();  // the keylog callback on every context (ktls.cpp)
};

// The TLS tier of this process, probed once: records in user space (OpenSSL's version), and
// whether the kernel could take them over (probe_ktls(): TCP_ULP "tls", TLS_TX and TLS_RX on a
// loopback connection; binds with `ktls on` hand their connections to it).
// For `-v` and `show info` (TlsTier).
const std::string& tier();

// The text of OpenSSL's error queue (emptied), for messages: "error:0A000086:...: certificate verify failed".
std::string take_errors();

}  // namespace es::tls
