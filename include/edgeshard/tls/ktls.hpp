// Kernel TLS: after the handshake, a tls::Conn can hand its record layer to the kernel (TCP_ULP
// "tls", then SOL_TLS TLS_TX and TLS_RX), so the data path sends and receives plaintext on the
// socket (send/recv, io_uring SEND/RECV, splice into the socket) and the kernel makes and opens
// the records. Conn::offload() (conn.hpp) does it per connection and says why when it cannot:
// the connection then stays on the user-space record layer, unchanged.
//
// OpenSSL 3.0 does not give out traffic keys, and its own kernel TLS needs a socket BIO (Conn has
// none), so keys are derived here from the handshake's secrets: TLS 1.3 from the application
// traffic secrets (captured with the context's keylog callback, which BindTls::enable_ktls()
// installs: off, it costs nothing), TLS 1.2 from the session's master secret and the two randoms.
// The record sequence numbers are counted: Conn parses the record headers that cross its BIO
// while kernel TLS is on (see KtlsTrack in src/tls/ktls_track.hpp).
//
// Offloaded: TLS 1.3 AES-128-GCM, AES-256-GCM and CHACHA20-POLY1305; TLS 1.2 AES-GCM suites.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace es::tls {

enum class Offload : std::uint8_t {
    Done,         // the kernel makes and opens the records now: plaintext on the socket
    Later,        // records wait in take_out(): send them, then ask again
    Unsupported,  // stays in user space (why says: cipher, version, kernel, buffered input...)
    Failed,       // the kernel took TX but refused RX: the socket is half-offloaded, close it
};

// One direction's key material, as the kernel wants it. `iv` is the whole 12-byte nonce base:
// TLS 1.3 and ChaCha20 write-iv; TLS 1.2 AES-GCM: the 4-byte implicit salt, then 8 bytes used
// as the first explicit nonce.
struct KtlsDir {
    unsigned char key[32] = {};
    unsigned char iv[12] = {};
    std::uint64_t seq = 0;  // the next record's sequence number
};

struct KtlsKeys {
    std::uint16_t version = 0;  // TLS_1_2_VERSION / TLS_1_3_VERSION (linux/tls.h)
    std::uint16_t cipher = 0;   // TLS_CIPHER_AES_GCM_128 / _256 / TLS_CIPHER_CHACHA20_POLY1305
    std::size_t key_len = 0;
    KtlsDir tx, rx;  // tx: what this end sends
    KtlsKeys() = default;
    KtlsKeys(const KtlsKeys&) = delete;
    KtlsKeys& operator=(const KtlsKeys&) = delete;
    ~KtlsKeys();  // wiped
};

// What this kernel can do, probed on a loopback TCP connection with a throw-away key.
struct KtlsSupport {
    bool ulp = false;    // TCP_ULP "tls" exists (module loaded or loadable)
    bool tx = false;     // TLS_TX accepted (AES-128-GCM, TLS 1.3)
    bool rx = false;     // TLS_RX accepted
    std::string detail;  // why not, when not
};
KtlsSupport probe_ktls();
// probe_ktls(), run once per process (thread-safe): what `ktls on` binds and tier() consult.
const KtlsSupport& ktls_support();

// Sends a close_notify alert on an offloaded socket (a record of type alert through a control
// message, as linux/tls.h describes). Never blocks (MSG_DONTWAIT): a full send buffer refuses it
// (EAGAIN) and the caller closes without it. False with errno set when the kernel refused it.
bool ktls_send_close_notify(int fd);

}  // namespace es::tls
