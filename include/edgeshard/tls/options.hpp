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

struct BindOptions {
    std::vector<std::string> crt;     // `crt` arguments: PEM files (chain and key) or directories
    std::vector<std::string> alpn;    // protocols asked for, in order (`alpn h2,http/1.1`)
    Version min_ver = Version::Tls12; // HAProxy 2.6's default floor for binds
    Version max_ver = Version::Any;
    std::uint8_t no_versions = 0;     // bits (1 << Version) from no-sslv3 / no-tlsv1x
    std::string ciphers;              // TLS <= 1.2 cipher list (OpenSSL syntax); empty: OpenSSL's default
    std::string ciphersuites;         // TLS 1.3 suites; empty: OpenSSL's default
    std::string curves;               // groups, e.g. "X25519:P-256"; empty: OpenSSL's default
    bool prefer_client_ciphers = false;  // else the server's order decides
    std::string ticket_keys;          // `tls-ticket-keys FILE`; empty: the process's rotating keys
    bool no_tickets = false;          // `no-tls-tickets`: resumption by session ID only
    std::string id;                   // names the bind the same way in every shard and process: the
                                      // session ID context (a session resumes only on its own bind)
    int lifetime_s = 300;             // tune.ssl.lifetime: how long a session or ticket resumes
    int dh_bits = 0;                  // tune.ssl.default-dh-param: the RFC 7919 group for DHE; 0: auto
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
    bool reuse = true;                // `ssl-reuse` (default) / `no-ssl-reuse`: resume the last session
    bool no_tickets = false;          // `no-tls-tickets`: do not ask for tickets
};

// What the handshake settled, for the sample fetches (ssl_fc_*) and the log.
struct Facts {
    std::string_view protocol;  // "TLSv1.3"
    std::string_view cipher;    // "TLS_AES_128_GCM_SHA256"
    std::string_view sni;       // empty without SNI
    std::string_view alpn;      // empty when none was agreed
};

}  // namespace es::tls
