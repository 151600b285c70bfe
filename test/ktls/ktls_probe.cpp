// ktls_probe: proves tls::Conn::offload() on a kernel with TLS (run by test/integ/cases/
// slow_ktls_qemu.py inside a guest; runs anywhere, and says why when the kernel has none).
//
// For each version and cipher: a listener on 127.0.0.1, a real OpenSSL client in a thread (SSL
// over the socket itself), a server tls::Conn over the accepted socket driven with plain
// read/write, then offload(). After it the server speaks plaintext only and the kernel makes and
// opens the records: send() and recv(), io_uring SEND and RECV, splice() from a pipe into the
// socket, each checked byte for byte by the client (a pattern that never repeats at a short
// period), then close_notify both ways through control messages. One JSON line of results on
// stdout; exit 0 when every case was offloaded and every byte arrived, else 1.
//
// Usage: ktls_probe [--mib N]   (N MiB per direction and per path; default 2)
#include <arpa/inet.h>
#include <liburing.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "edgeshard/tls/conn.hpp"
#include "edgeshard/tls/context.hpp"
#include "edgeshard/tls/ktls.hpp"

using namespace es::tls;

namespace {

std::size_t g_chunk_total = 2u << 20;  // bytes per direction and per path

unsigned char pattern(std::uint64_t i) {
    return static_cast<unsigned char>((i * 131u) ^ (i >> 11) ^ (i >> 19));
}
void fill(unsigned char* p, std::size_t n, std::uint64_t off) {
    for (std::size_t i = 0; i < n; ++i) p[i] = pattern(off + i);
}
bool check(const unsigned char* p, std::size_t n, std::uint64_t off) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != pattern(off + i)) return false;
    return true;
}

std::string json_str(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
        o += c;
    }
    return o + "\"";
}

// A self-signed P-256 certificate and its key in one PEM file.
bool write_cert(const std::string& path) {
    EVP_PKEY* k = EVP_EC_gen("P-256");
    X509* x = X509_new();
    if (!k || !x) return false;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
    X509_set_pubkey(x, k);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ktls.test"),
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    bool ok = X509_sign(x, k, EVP_sha256()) > 0;
    FILE* f = std::fopen(path.c_str(), "w");
    ok = ok && f && PEM_write_X509(f, x) && PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
    if (f) std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    return ok;
}

bool write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w <= 0) return false;
        p += w;
        n -= std::size_t(w);
    }
    return true;
}

struct Case {
    const char* name;
    int version;        // TLS1_3_VERSION / TLS1_2_VERSION
    const char* suite;  // TLS 1.3 suite, or TLS 1.2 cipher
};

struct Result {
    std::string name, offload, why, cipher;
    std::uint64_t tx_seq = 0;
    bool plain_ok = false, uring_ok = false, splice_ok = false, recv_ok = false, uring_recv_ok = false;
    bool close_ok = false, client_ok = false;
    std::string client_error;
    double ms = 0;
    bool ok() const {
        return offload == "Done" && plain_ok && uring_ok && splice_ok && recv_ok && uring_recv_ok &&
               close_ok && client_ok;
    }
};

// The client: reads 3 paths' worth from the server (send, io_uring, splice) and checks every byte,
// writes 2 paths' worth (for recv and io_uring recv), then expects the server's close_notify and
// sends its own.
void client(int port, const Case& c, Result& r) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_min_proto_version(ctx, c.version);
    SSL_CTX_set_max_proto_version(ctx, c.version);
    if (c.version == TLS1_3_VERSION)
        SSL_CTX_set_ciphersuites(ctx, c.suite);
    else
        SSL_CTX_set_cipher_list(ctx, c.suite);
    SSL* ssl = SSL_new(ctx);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(std::uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto fail = [&](const std::string& why) {
        r.client_error = why + " " + take_errors();
        ::shutdown(fd, SHUT_RDWR);
    };
    std::vector<unsigned char> buf(65536);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        fail("connect");
    } else if (SSL_set_fd(ssl, fd), SSL_connect(ssl) != 1) {
        fail("SSL_connect");
    } else {
        [&] {
            std::uint64_t got = 0;
            while (got < 3 * g_chunk_total) {
                std::size_t n = 0;
                if (SSL_read_ex(ssl, buf.data(), buf.size(), &n) != 1)
                    return fail("read at " + std::to_string(got));
                if (!check(buf.data(), n, got)) return fail("wrong bytes near " + std::to_string(got));
                got += n;
            }
            std::uint64_t sent = 0;
            while (sent < 2 * g_chunk_total) {
                const std::size_t n = std::min<std::size_t>(buf.size(), 2 * g_chunk_total - sent);
                fill(buf.data(), n, sent);
                std::size_t w = 0;
                if (SSL_write_ex(ssl, buf.data(), n, &w) != 1) return fail("write");
                sent += w;
            }
            std::size_t n = 0;
            if (SSL_read_ex(ssl, buf.data(), buf.size(), &n) == 1 ||
                SSL_get_error(ssl, 0) != SSL_ERROR_ZERO_RETURN)
                return fail("no close_notify from the server");
            SSL_shutdown(ssl);  // ours
            r.client_ok = true;
        }();
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(fd);
}

bool uring_io(int fd, bool send, std::uint64_t& off, std::uint64_t total, std::string& why) {
    io_uring ring;
    if (int e = io_uring_queue_init(4, &ring, 0); e < 0) {
        why = std::string("io_uring_queue_init: ") + std::strerror(-e);
        return false;
    }
    std::vector<unsigned char> buf(65536);
    const std::uint64_t end = off + total;
    bool ok = true;
    while (ok && off < end) {
        const std::size_t n = std::min<std::uint64_t>(buf.size(), end - off);
        if (send) fill(buf.data(), n, off);
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (send)
            io_uring_prep_send(sqe, fd, buf.data(), n, MSG_NOSIGNAL);
        else
            io_uring_prep_recv(sqe, fd, buf.data(), n, 0);
        io_uring_submit(&ring);
        io_uring_cqe* cqe = nullptr;
        if (io_uring_wait_cqe(&ring, &cqe) != 0) {
            why = "io_uring_wait_cqe";
            ok = false;
            break;
        }
        const int res = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        if (res <= 0) {
            why = std::string(send ? "io_uring send: " : "io_uring recv: ") +
                  (res ? std::strerror(-res) : "end");
            ok = false;
        } else if (!send && !check(buf.data(), std::size_t(res), off)) {
            why = "io_uring recv: wrong bytes near " + std::to_string(off);
            ok = false;
        } else {
            off += std::uint64_t(res);  // a short send: the rest goes next turn
        }
    }
    io_uring_queue_exit(&ring);
    return ok;
}

Result run(const Case& c, const std::string& cert) {
    Result r;
    r.name = c.name;
    const auto t0 = std::chrono::steady_clock::now();
    BindOptions o;
    o.crt = {cert};
    o.min_ver = o.max_ver = c.version == TLS1_3_VERSION ? Version::Tls13 : Version::Tls12;
    (c.version == TLS1_3_VERSION ? o.ciphersuites : o.ciphers) = c.suite;
    std::string err;
    std::vector<std::string> warnings;
    auto bind = BindTls::make(o, err, warnings);
    if (!bind) {
        r.why = "bind: " + err;
        return r;
    }
    bind->enable_ktls();
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 1) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
        r.why = std::string("listen: ") + std::strerror(errno);
        return r;
    }
    std::thread cl(client, int(ntohs(a.sin_port)), std::cref(c), std::ref(r));
    const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(lfd);
    [&] {
        Conn s(*bind);
        std::vector<char> buf(65536);
        // the handshake in user space, as the shard does it: records in, records out
        for (;;) {
            const Conn::Step st = s.handshake();
            std::size_t n;
            while ((n = s.take_out(buf.data(), buf.size())) > 0)
                if (!write_all(fd, buf.data(), n)) return void(r.why = "write during the handshake");
            if (st == Conn::Step::Done) break;
            if (st == Conn::Step::Error) return void(r.why = "handshake: " + s.error());
            const ssize_t got = ::read(fd, buf.data(), buf.size());
            if (got <= 0) return void(r.why = "read during the handshake");
            s.feed(buf.data(), std::size_t(got));
        }
        r.cipher = s.facts().cipher;
        KtlsKeys k;
        if (s.ktls_keys(k, r.why)) r.tx_seq = k.tx.seq;
        const Offload off = s.offload(fd, r.why);
        r.offload = off == Offload::Done          ? "Done"
                    : off == Offload::Later       ? "Later"
                    : off == Offload::Unsupported ? "Unsupported"
                                                  : "Failed";
        if (off != Offload::Done) return;
        // server -> client: send(), io_uring SEND, splice from a pipe
        std::uint64_t out = 0;
        r.plain_ok = true;
        while (r.plain_ok && out < g_chunk_total) {
            const std::size_t n = std::min<std::uint64_t>(buf.size(), g_chunk_total - out);
            fill(reinterpret_cast<unsigned char*>(buf.data()), n, out);
            const ssize_t w = ::send(fd, buf.data(), n, MSG_NOSIGNAL);
            if (w <= 0) {
                r.plain_ok = false;
                r.why = std::string("send: ") + std::strerror(errno);
            } else {
                out += std::uint64_t(w);
            }
        }
        if (!r.plain_ok) return;
        r.uring_ok = uring_io(fd, true, out, g_chunk_total, r.why);
        if (!r.uring_ok) return;
        int p[2];
        if (::pipe(p) != 0) return void(r.why = "pipe");
        const std::uint64_t end = out + g_chunk_total;
        r.splice_ok = true;
        while (r.splice_ok && out < end) {
            const std::size_t n = std::min<std::uint64_t>(16384, end - out);
            fill(reinterpret_cast<unsigned char*>(buf.data()), n, out);
            if (!write_all(p[1], buf.data(), n)) {
                r.splice_ok = false;
                r.why = "pipe write";
                break;
            }
            std::size_t left = n;
            while (left > 0) {
                const ssize_t sp = ::splice(p[0], nullptr, fd, nullptr, left, SPLICE_F_MOVE);
                if (sp <= 0) {
                    r.splice_ok = false;
                    r.why = std::string("splice: ") + std::strerror(errno);
                    break;
                }
                left -= std::size_t(sp);
            }
            out += n;
        }
        ::close(p[0]);
        ::close(p[1]);
        if (!r.splice_ok) return;
        // client -> server: recv(), io_uring RECV
        std::uint64_t in = 0;
        r.recv_ok = true;
        while (r.recv_ok && in < g_chunk_total) {
            const std::size_t want = std::min<std::uint64_t>(buf.size(), g_chunk_total - in);
            const ssize_t got = ::recv(fd, buf.data(), want, 0);
            if (got <= 0 || !check(reinterpret_cast<unsigned char*>(buf.data()), std::size_t(got), in)) {
                r.recv_ok = false;
                r.why = got <= 0 ? std::string("recv: ") + (got ? std::strerror(errno) : "end")
                                 : "recv: wrong bytes";
            } else {
                in += std::uint64_t(got);
            }
        }
        if (!r.recv_ok) return;
        r.uring_recv_ok = uring_io(fd, false, in, g_chunk_total, r.why);
        if (!r.uring_recv_ok) return;
        // close_notify: ours through a control message, the client's seen as an alert record
        if (!ktls_send_close_notify(fd))
            return void(r.why = std::string("close_notify: ") + std::strerror(errno));
        char data[64];
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(unsigned char))];
        iovec iov{data, sizeof data};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        const ssize_t got = ::recvmsg(fd, &m, 0);
        const cmsghdr* cm = CMSG_FIRSTHDR(&m);
        const int type =
            cm && cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE ? *CMSG_DATA(cm) : -1;
        r.close_ok = got == 2 && type == 21 && data[0] == 1 && data[1] == 0;
        if (!r.close_ok)
            r.why = "the client's close_notify: got " + std::to_string(got) + " bytes of record type " +
                    std::to_string(type);
    }();
    ::shutdown(fd, SHUT_RDWR);  // a client still waiting gives up
    cl.join();
    ::close(fd);
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--mib") == 0) g_chunk_total = std::size_t(std::atof(argv[i + 1]) * 1048576);
    char dir[] = "/tmp/ktls-probe-XXXXXX";
    if (!mkdtemp(dir) || !write_cert(std::string(dir) + "/c.pem")) {
        std::printf("{\"ok\":false,\"error\":\"cannot write a certificate under /tmp\"}\n");
        return 1;
    }
    const std::string cert = std::string(dir) + "/c.pem";
    const Case cases[] = {
        {"TLSv1.3 AES-128-GCM", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"},
        {"TLSv1.3 AES-256-GCM", TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384"},
        {"TLSv1.3 CHACHA20-POLY1305", TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256"},
        {"TLSv1.2 AES-128-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {"TLSv1.2 AES-256-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384"},
    };
    utsname u{};
    uname(&u);
    const KtlsSupport sup = probe_ktls();
    std::string out = "{\"kernel\":" + json_str(u.release) + ",\"tier\":" + json_str(tier()) +
                      ",\"probe\":{\"ulp\":" + (sup.ulp ? "true" : "false") +
                      ",\"tx\":" + (sup.tx ? "true" : "false") + ",\"rx\":" + (sup.rx ? "true" : "false") +
                      ",\"detail\":" + json_str(sup.detail) +
                      "},\"bytes_per_path\":" + std::to_string(g_chunk_total) + ",\"cases\":[";
    bool all = true;
    for (const Case& c : cases) {
        const Result r = run(c, cert);
        all = all && r.ok();
        if (out.back() != '[') out += ',';
        auto b = [](bool v) { return v ? "true" : "false"; };
        char ms[32];
        std::snprintf(ms, sizeof ms, "%.0f", r.ms);
        out += "{\"name\":" + json_str(r.name) + ",\"cipher\":" + json_str(r.cipher) +
               ",\"offload\":" + json_str(r.offload) + ",\"why\":" + json_str(r.why) +
               ",\"tx_seq\":" + std::to_string(r.tx_seq) + ",\"send\":" + b(r.plain_ok) +
               ",\"uring_send\":" + b(r.uring_ok) + ",\"splice\":" + b(r.splice_ok) +
               ",\"recv\":" + b(r.recv_ok) + ",\"uring_recv\":" + b(r.uring_recv_ok) +
               ",\"close_notify\":" + b(r.close_ok) + ",\"client_ok\":" + b(r.client_ok) +
               ",\"client_error\":" + json_str(r.client_error) + ",\"ms\":" + ms + ",\"ok\":" + b(r.ok()) +
               "}";
    }
    out += std::string("],\"ok\":") + (all ? "true" : "false") + "}";
    std::printf("%s\n", out.c_str());
    std::fflush(stdout);
    ::unlink(cert.c_str());
    ::rmdir(dir);
    return all ? 0 : 1;
}
