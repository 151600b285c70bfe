// One TLS connection's record layer in user space, driven by the shard's I/O (the TLS seam of
// net/conn_side.hpp): the side's receive completions feed ciphertext in, plaintext comes out for
// the protocol above; the protocol's plaintext goes in, records come out to be queued on the
// side. OpenSSL never touches a socket here: its BIO reads and writes two byte buffers of this
// object, so nothing blocks a shard (a handshake that needs more bytes says so and waits for the
// next receive). The buffers are plain: appended at the end, consumed from the front, rewound when
// empty, grown without zeroing (OpenSSL's memory BIO zeroes what it grows and moves what is left
// after each read: on 1 MiB bodies that was a quarter of the shard's CPU).
//
// Renegotiation is refused (SSL_OP_NO_RENEGOTIATION on the context: a TLS 1.2 client asking for
// it gets a no_renegotiation alert); close() queues a close_notify.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "edgeshard/tls/context.hpp"
#include "edgeshard/tls/ktls.hpp"
#include "edgeshard/tls/upstream.hpp"

namespace es::tls {

struct KtlsTrack;  // src/tls/ktls_track.hpp
class Sealer;      // src/tls/seal.hpp

class Conn {
public:
    enum class Step : std::uint8_t {
        More,   // needs more ciphertext (or has records to send first)
        Done,   // the handshake is complete; plaintext flows
        Error,  // fatal: alert (if any) is in the output, the connection must close
    };

    // A server connection on `bind`'s contexts (the default certificate until SNI picks one).
    explicit Conn(const BindTls& bind);
    // A client connection to a server (upstream.hpp): sends `sni` when not empty (and checks the
    // server's certificate against it, else against verifyhost, when verifying), offers the
    // server's last session. handshake() sends the ClientHello on its first call.
    Conn(const Upstream& up, std::string_view sni);
    ~Conn();
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    bool ok() const { return ssl_ != nullptr; }  // false: out of memory at construction
    // Ciphertext from the socket (copied; the caller may recycle its buffer at once).
    void feed(const char* p, std::size_t n);
    // Ciphertext from the socket, read by OpenSSL where it lies (no copy into the layer) until
    // unlend(), which copies what is left (a partial record) and must come before the caller
    // reuses the buffer. Bytes waiting in the layer are read first.
    void lend(const char* p, std::size_t n);
    void unlend();
    // Advances the handshake with what was fed. Records to send may be waiting in either case.
    Step handshake();
    bool established() const { return established_; }
    // Plaintext, at most `cap` bytes; 0 when none is ready. A fatal error or the peer's
    // close_notify set failed() / peer_closed().
    std::size_t read(char* dst, std::size_t cap);
    // Plaintext to encrypt; records go to the output. False on a fatal error.
    bool write(const char* p, std::size_t n);
    // Direct sealing (seal.hpp): once the handshake is over, a server connection on a bind with
    // direct_seal() makes its records itself, straight from the caller's bytes into the caller's
    // block (seal_into) or the output buffer (write): no copy into OpenSSL's write buffer, none out
    // of it. The first call decides (any time after the handshake: the records OpenSSL made until
    // then are counted): true from then on when the suite allows it (TLS 1.3 AES-GCM and
    // ChaCha20-Poly1305, TLS 1.2 AES-GCM), false for good otherwise. Kernel TLS is decided before
    // (offload() then says no). write() seals directly once this said true; the data path asks
    // at its first large response piece.
    bool direct();
    bool sealing() const { return seal_ != nullptr; }
    // Seals records of [p, p + n) into [dst + used, dst + cap) while whole records (or, at the
    // block's end, records of at least a few KiB) fit; advances `used`. Returns the plaintext bytes
    // taken (0: no room). Only while sealing() and nothing waits in pending_out() (order).
    // A cipher failure fails the connection (failed()).
    std::size_t seal_into(const char* p, std::size_t n, char* dst, std::size_t cap, std::size_t& used);
    // Records waiting to be sent, and taking them (up to cap bytes).
    // Records made by the next write() go straight into [p, p + cap) (the caller's send block)
    // as far as they fit, the rest into the output buffer: one copy less per byte. window_used()
    // says how much of the window was filled; the window ends with clear_window().
    void set_window(char* p, std::size_t cap) {
        win_ = p;
        win_cap_ = cap;
        win_used_ = 0;
    }
    std::size_t window_used() const { return win_used_; }
    void clear_window() { win_ = nullptr; win_cap_ = win_used_ = 0; }
    std::size_t pending_out() const;
    std::size_t buffered_in() const;  // ciphertext fed and not yet decrypted
    bool closing() const { return closed_; }  // close() was called
    std::size_t take_out(char* dst, std::size_t cap);
    // Queues a close_notify (once).
    void close();
    // Gives back the byte buffers that are empty (an idle connection holds none).
    void trim();

    bool failed() const { return failed_; }
    bool peer_closed() const { return peer_closed_; }
    const std::string& error() const { return error_; }  // why it failed, for the log and counters
    // What the handshake settled; read once when it completes (empty before). The views stay
    // valid for the connection's life.
    const Facts& facts() const { return facts_; }
    bool resumed() const { return ssl_ && SSL_session_reused(ssl_) == 1; }
    SSL* ssl() const { return ssl_; }
    // The client certificate's facts while the handshake verifies it (made on first use, only on
    // binds that verify clients); null elsewhere.
    ClientCert* client_facts();

    // Kernel TLS (ktls.hpp), for a server connection on a bind with enable_ktls(): hands the
    // record layer to the kernel on `fd`, the connected socket this Conn's records travel on.
    // Call it once the handshake is Done and everything take_out() held was sent (else Later:
    // TLS 1.3 session tickets are sent that way, and counted), with no received record left
    // unread (records read already, such as a request sent with the client's Finished, are
    // counted: the kernel opens the next one) and no KeyUpdate received from the client (its key
    // changed under the count: Unsupported).
    // Done: from now on plaintext goes to send()/recv() on `fd` and this Conn makes no records
    // (read() gives 0, write() fails, close() does nothing; ktls_send_close_notify() says
    // goodbye). Unsupported: nothing changed on the socket, the connection goes on in user
    // space; `why` says what refused. Failed: see Offload.
    Offload offload(int fd, std::string& why);
    bool offloaded() const { return offloaded_; }
    // The keys and sequence numbers offload() would install (for tests and diagnostics); false
    // and `why` when the connection cannot be offloaded. Checks the same conditions as offload().
    bool ktls_keys(KtlsKeys& out, std::string& why) const;

private:
    friend struct KtlsGlue;
    friend struct SealGlue;
    bool derive_keys(KtlsKeys& k, std::string& why, bool tx_only) const;
    std::unique_ptr<KtlsTrack> kt_;  // only on binds with kernel TLS or direct sealing on
    std::unique_ptr<Sealer> seal_;   // direct sealing engaged
    bool direct_tried_ = false;      // direct() decided
    bool ktls_bind_ = false;         // the bind has kernel TLS on
    bool seal_record(std::uint8_t type, const char* p, std::size_t n);  // one record into out_
    bool offloaded_ = false;
    void fail(const char* where, int ret);
    SSL* ssl_ = nullptr;
    struct Bytes {  // appended at the end, consumed from the front
        char* p = nullptr;
        std::size_t cap = 0, off = 0, len = 0;
        std::size_t size() const { return len - off; }
        bool append(const char* src, std::size_t n);
        char* reserve(std::size_t n);  // room for n more bytes at the end (then len += what was used)
        std::size_t take(char* dst, std::size_t n);
        void release();  // frees the memory when empty
        ~Bytes();
    };
    friend struct BioGlue;
    Bytes in_;   // ciphertext from the peer, not yet read by OpenSSL
    const char* lent_ = nullptr;  // lent ciphertext (lend()), read after in_
    std::size_t lent_n_ = 0;
    Bytes out_;  // records for the peer, not yet taken
    char* win_ = nullptr;  // see set_window()
    std::size_t win_cap_ = 0, win_used_ = 0;
    void settle();  // the handshake completed: facts_
    Facts facts_;
    std::unique_ptr<ClientCert> client_;  // binds that verify clients only: one pointer elsewhere
    bool established_ = false;
    bool failed_ = false;
    bool peer_closed_ = false;
    bool closed_ = false;
    bool to_server_ = false;  // a connection to a server (Upstream), not from a client
    std::string error_;
};

// OpenSSL's verification callback for client certificates (verify.cpp): records the first errors
// in the connection's ClientCert and applies the bind's ca-ignore-err / crt-ignore-err.
int verify_client(int ok, X509_STORE_CTX* xs);
// ssl_c_* facts of a completed handshake (verify.cpp).
void client_cert_facts(SSL* ssl, ClientCert& cc);

}  // namespace es::tls
