// What a TLS bind asks for, as the configuration writes it (no OpenSSL here: the config room and
// everything that includes it stay free of OpenSSL's headers). tls::BindTls (context.hpp) turns it
// into OpenSSL contexts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace es::tls {

// TLS protocol versions as HAProxy names them (ssl-min-ver / ssl-max-ver, no-tlsv1x).
enum class Version : std::uint8_t { Any, Ssl3, Tls10, Tls11, Tls12, Tls13 };
// "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"; false for anything else
bool parse_version(std::string_view name, Version& out);
// An `alpn` argument ("h2,http/1.1") into its protocol names; false when one is empty.
bool split_alpn(std::string_view list, std::vector<std::string>& out);

// `verify` on a bind or a crt-list line: whether a client certificate is asked for and needed.
enum class Verify : std::uint8_t { None, Optional, Required };

// `ca-ignore-err` / `crt-ignore-err`: X509 verification error codes a handshake survives.
struct VerifyErrors {
    bool all = false;
    std::vector<int> codes;
    bool has(int code) const {
        if (all) return true;
        for (int c : codes)
            if (c == code) return true;
        return false;
    }
    bool empty() const { return !all && codes.empty(); }
};
// "all" or a comma-separated list of numbers and X509_V_ERR_* names. False and `error` on an
// unknown name or a bad number. (Implemented with OpenSSL's names in context.cpp.)
bool parse_verify_errors(std::string_view list, VerifyErrors& out, std::string& error);

// One certificate line of a `crt-list` file: `<crtfile> [[<options>...]] [[!]<filter>...]`. The
// options override the bind's for this certificate only; each is applied only when given.
struct CertLine {
    std::string path;                  // resolved against crt-base
    std::string where;                 // "list.txt:3", for messages
    std::vector<std::string> filters;  // lower case, as written: "a.test", "*.b.test", "!c.b.test", "*"
    std::size_t after_crt = 0;         // how many of the bind's `crt` came before its crt-list
    std::vector<std::string> alpn;
    bool alpn_set = false;
    bool min_set = false, max_set = false, verify_set = false;
    Version min_ver = Version::Any, max_ver = Version::Any;
    Verify verify = Verify::None;
    std::string ciphers, ciphersuites, curves, ca_file, crl_file;  // empty: the bind's
    std::string sigalgs, client_sigalgs;                           // empty: the bind's
    std::string ecdhe, ca_verify_file;                             // empty: the bind's
    bool no_ca_names = false;                                      // `no-ca-names` on the line
};

struct BindOptions {
    std::vector<std::string> crt;     // `crt` arguments: PEM files (chain and key) or directories
    std::vector<CertLine> crt_list;   // the lines of every `crt-list`, in order
    std::vector<std::string> alpn;    // protocols asked for, in order (`alpn h2,http/1.1`)
    bool alpn_relayed = false;        // mode tcp: the bytes go to a server as they are, which speaks
                                      // the protocol: every protocol asked for is advertised
    Version min_ver = Version::Tls12; // HAProxy 2.6's default floor for binds
    Version max_ver = Version::Any;
    std::uint8_t no_versions = 0;     // bits (1 << Version) from no-sslv3 / no-tlsv1x
    std::string ciphers;              // TLS <= 1.2 cipher list (OpenSSL syntax); empty: OpenSSL's default
    std::string ciphersuites;         // TLS 1.3 suites; empty: OpenSSL's default
    std::string curves;               // groups, e.g. "X25519:P-256"; empty: OpenSSL's default
    std::string ecdhe;                // `ecdhe <curve>`: the one group to use when `curves` is not given
    std::string sigalgs;              // `sigalgs`: signature algorithms offered for the handshake
                                      // (SSL_CTX_set1_sigalgs_list); empty: OpenSSL's default
    std::string client_sigalgs;       // `client-sigalgs`: those a client certificate may be signed with
    bool prefer_client_ciphers = false;  // else the server's order decides
    std::string ticket_keys;          // `tls-ticket-keys FILE`; empty: the process's rotating keys
    bool no_tickets = false;          // `no-tls-tickets`: resumption by session ID only
    std::string id;                   // names the bind the same way in every shard and process: the
                                      // session ID context (a session resumes only on its own bind)
    int lifetime_s = 300;             // tune.ssl.lifetime: how long a session or ticket resumes
    int dh_bits = 0;                  // tune.ssl.default-dh-param: the RFC 7919 group for DHE; 0: auto
    // client certificates
    Verify verify = Verify::None;     // `verify`: none asks for no certificate
    std::string ca_file;              // `ca-file`: the CAs that verify clients (their names go in the
                                      // CertificateRequest)
    std::string crl_file;             // `crl-file`: revocation lists, checked for the whole chain
    bool no_ca_names = false;         // `no-ca-names`: the CertificateRequest names no CA
    std::string ca_verify_file;       // `ca-verify-file`: CAs that verify clients without being named
                                      // in the CertificateRequest (typically the roots)
    VerifyErrors ca_ignore;           // `ca-ignore-err`: errors ignored at depth > 0
    VerifyErrors crt_ignore;          // `crt-ignore-err`: errors ignored on the client's certificate
    bool strict_sni = false;          // `strict-sni`: no SNI or an unknown name fails the handshake
    bool direct_seal = true;          // tune.ssl.direct-seal: after the handshake, records are sealed
                                      // straight from the data path's bytes (conn.hpp, direct())
    bool ktls = false;                // `ktls on`: hand each connection's records to the kernel after
                                      // the handshake when the kernel can (ktls.hpp)
};

// What a server line asks for when edgeshard connects to the server over TLS (HAProxy's
// `server ... ssl verify ... ca-file ... sni ... alpn ...`).
struct ServerOptions {
    bool verify = true;               // `verify required` (HAProxy's default, ssl-server-verify) or `none`
    std::string ca_file;              // CAs the server's chain must lead to; "@system-ca": the system's
    std::string crl_file;             // revoked certificates (checks the server's own certificate)
    std::string verifyhost;           // the name to check when no SNI is sent
    std::string crt;                  // a client certificate (and key) to present, when the server asks
    std::vector<std::string> alpn;    // protocols offered (`alpn http/1.1`)
    Version min_ver = Version::Tls12;
    Version max_ver = Version::Any;
    std::uint8_t no_versions = 0;
    std::string ciphers, ciphersuites, curves;
    std::string sigalgs, client_sigalgs;  // `sigalgs` / `client-sigalgs`; empty: OpenSSL's defaults
    bool reuse = true;                // `ssl-reuse` (default) / `no-ssl-reuse`: resume the last session
    bool no_tickets = false;          // `no-tls-tickets`: do not ask for tickets
};

// The client certificate of a connection on a bind that verifies clients (`verify optional` or
// `required`): computed once, when the handshake completes; absent on every other bind.
struct ClientCert {
    bool used = false;       // ssl_c_used: the session carries a client certificate (also resumed)
    bool presented = false;  // ssl_fc_has_crt: the client sent one in this handshake
    long verify = 0;         // ssl_c_verify: the X509 verification result (0: ok)
    int err = 0;             // ssl_c_err: the first error on the client's certificate (depth 0)
    int ca_err = 0;          // ssl_c_ca_err: the first error on its chain (depth > 0)
    std::string s_dn, i_dn;  // "/C=FR/O=Acme/CN=foo": subject and issuer, one line
    std::string serial;      // upper-case hex, as HAProxy's `hex` converter prints it
    std::string sha1;        // SHA-1 of the DER certificate, upper-case hex
    std::string not_before, not_after;  // the ASN.1 time as written: YYMMDDhhmmssZ
};

// The value of `entry` ("CN") in a one-line DN, its `occ`-th occurrence from the start (occ > 0)
// or the end (occ < 0); false when there is none. The whole DN when `entry` is empty.
bool dn_entry(std::string_view dn, std::string_view entry, int occ, std::string_view& out);

// What the handshake settled, for the sample fetches (ssl_fc_*) and the log.
struct Facts {
    std::string_view protocol;  // "TLSv1.3"
    std::string_view cipher;    // "TLS_AES_128_GCM_SHA256"
    std::string_view sni;       // empty without SNI
    std::string_view alpn;      // empty when none was agreed
    const ClientCert* client = nullptr;  // binds with `verify optional|required` only
};

}  // namespace es::tls
