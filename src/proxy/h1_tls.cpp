// H1Proxy, TLS client connections (`bind ... ssl`): the record layer (tls::Conn) sits between the
// client socket and the request and response code, which see plaintext only.
//  - in: each receive's records go into the record layer and the provided buffer back to the ring
//    at once; plaintext is read into the connection's gathering block (H1Conn::req_acc), from
//    which heads are parsed and bodies forwarded as on the plain path. A full block leaves the
//    rest in the record layer until the request side makes room (h_process_request pulls again).
//    Ciphertext the layer holds past kTlsInMax stops the client recv (backpressure).
//  - out: the output queue fills with plaintext pieces as on the plain path; before a send, the
//    pieces not sealed yet become records (sealed straight into head blocks once the handshake is
//    over, tls/seal.hpp; the pieces are freed at once) and only records leave. H1Conn::tls_sealed counts the records at the front of the queue, so a
//    short send resumes inside its records and the queue is empty only once they are all sent.
//  - the handshake runs on the same receives; its flights leave through the same queue. A failed
//    handshake sends its alert and closes. A close after a response sends close_notify first.
//  - bodies to a TLS client are never spliced (the kernel would send them in clear).
//  - kernel TLS (`ktls on`, h_ktls_try): after the handshake the records may go to the kernel,
//    also after a request that came with the client's Finished (its records are counted); the
//    connection then leaves this file (kH1Tls cleared, kH1Ktls set) for the plain path.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "http_internal.hpp"

namespace es::proxy {

using shard::UserData;
using namespace h1;

void H1Proxy::h_tls_recv(H1Conn* s, std::uint16_t bid, std::uint32_t n, bool more) {
    tls::Conn& t = *s->tls;
    s->last_cli = r_.now_ms();
    st_.fe[s->fe].bin.add(n);
    if (s->be >= 0) st_.be[s->be].bin.add(n);
    s->bytes_in += n;
    const LentBuffer lent(t, *bufs_, bid, n);  // read in place: a fresh completion starts at the buffer's start
    if (!t.established()) {
        const tls::Conn::Step step = t.handshake();
        if (step == tls::Conn::Step::Error) {
            // the alert (if any) goes out, then the connection closes; nothing was logged
            st_.shard.ssl_failures.inc();
            s->set(kH1CloseAfter);
            s->clear(kH1Linger);
            h_send_client(s);
            if (s->state != HState::Active) return;
            if (s->out.n == 0) h_close(s);
            else h_cancel_recv(s);
            return;
        }
        h_send_client(s);  // the handshake's next flight
        if (s->state != HState::Active) return;
        if (step == tls::Conn::Step::More) {
            if (!more) h_maybe_rearm(s);
            h_schedule(s);
            return;
        }
        st_.shard.ssl_handshakes.inc();
        if (t.resumed()) st_.shard.ssl_resumed.inc();
        s->t_ready = s->t_req = r_.now_ms();  // %Th ends here; %Ti runs until the first request byte
        if (s->has(kH1KtlsWait) && t.buffered_in() == 0) [[unlikely]] {
            // nothing of the client's data read yet: stop the receive, send the tickets, then
            // the kernel takes over (h_ktls_try, at their completions)
            if (s->cli.has(net::kSideRecv)) h_cancel_recv(s);
            h_ktls_try(s);
            if (s->state == HState::Active) h_schedule(s);
            return;
        }
        // else the request came with the client's Finished (TLS 1.3, a resumed TLS 1.2): it is
        // read here, and the kernel takes over after it (below), its records counted
    }
    h_process_request(s);
    if (s->state != HState::Active) return;
    if (t.failed()) {
        h_client_abort(s);  // a bad record: nothing more can be read
        return;
    }
    if (t.peer_closed() && !s->cli.has(net::kSideEof)) {
        s->cli.set(net::kSideEof);  // close_notify: the client sends nothing more
        h_on_cli_eof(s);
        return;
    }
    if (s->has(kH1KtlsWait)) [[unlikely]] {
        // records read in user space after the handshake (a request sent with the Finished, or
        // just after it): the kernel takes over from the next record once they are all read and
        // the tickets are out (offload() refuses, and the connection stays here, when plaintext
        // is still buffered or the client changed its key)
        if (s->cli.has(net::kSideRecv)) h_cancel_recv(s);
        h_ktls_try(s);
        if (s->state == HState::Active) h_schedule(s);
        return;
    }
    if (t.buffered_in() >= kTlsInMax || (s->conn && s->conn->out.bytes >= kHighWaterBufs * bufs_->size()))
        h_cancel_recv(s);
    else if (!more)
        h_maybe_rearm(s);
    if (!s->st && s->out.n == 0) t.trim();  // idle between exchanges: no TLS buffer held
    h_schedule(s);
}

void H1Proxy::h_tls_seal(H1Conn* s) { w_.tls_->seal(*s->tls, s->out, s->tls_sealed); }

// A client's plaintext into the request's gathering block.
std::size_t H1Proxy::h_tls_pull(H1Conn* s) {
    tls::Conn& t = *s->tls;
    if (!t.established() || t.failed()) return 0;
    const bool idle = !s->req_acc || s->req_acc->len == s->req_acc->off;
    const std::size_t total = w_.tls_->pull(t, s->req_acc);
    if (total > 0 && idle && !s->st) s->t_req = r_.now_ms();  // first byte of a request
    if (!s->req_acc) s->req_scanned = 0;
    return total;
}

// Before a close that follows a response: queue close_notify. True while it is being sent.
// Kernel TLS: the kernel sends it at once (or, with a full send buffer, not at all: the FIN follows).
bool H1Proxy::h_tls_close_notify(H1Conn* s) {
    if (s->has(kH1Ktls)) {
        if (s->cli.fd >= 0) (void)tls::ktls_send_close_notify(s->cli.fd);
        return false;
    }
    tls::Conn& t = *s->tls;
    if (t.closing() || !t.established() || t.failed()) return false;
    t.close();
    h_send_client(s);
    return s->state == HState::Active && s->out.n > 0;
}

// Kernel TLS (`ktls on`): once the handshake is done, its last records (TLS 1.3 tickets) are
// sent, no receive is in flight (one could bring records the kernel would not count) and the
// client socket has a regular fd (setsockopt needs one), the record layer goes to the kernel.
// Called at each of those completions while kH1KtlsWait is set; does nothing until all hold.
// Done: plaintext on the socket from now on (kH1Ktls: the plain receive and send paths, splice).
// Unsupported (cipher, version, kernel): user-space records as before. Failed: the socket is
// half-offloaded: closed.
void H1Proxy::h_ktls_try(H1Conn* s) {
    if (s->state != HState::Active || !s->has(kH1KtlsWait)) return;
    if (s->cli.has(net::kSideRecv) || s->out.n > 0 || s->out.inflight) return;  // back at their completion
    tls::Conn& t = *s->tls;
    if (s->cli.fd < 0) {
        s->pending_ops += io_.install(s->cli, UserData::pack(kHOpCliInstall, s->gen, s));
        if (!s->cli.has(net::kSideInstalling)) {  // no regular fd to be had: user space
            st_.shard.ssl_ktls_fallbacks.inc();
            s->clear(kH1KtlsWait);
            h_maybe_rearm(s);
        }
        return;
    }
    std::string why;
    switch (t.offload(s->cli.fd, why)) {
        case tls::Offload::Done:
            s->clear(kH1KtlsWait);
            s->clear(kH1Tls);
            s->set(kH1Ktls);
            st_.shard.ssl_ktls.inc();
            t.trim();
            break;
        case tls::Offload::Later:  // records still in the layer: they go first
            h_send_client(s);
            return;
        case tls::Offload::Unsupported:
            st_.shard.ssl_ktls_fallbacks.inc();
            s->clear(kH1KtlsWait);
            break;
        case tls::Offload::Failed:
            s->clear(kH1KtlsWait);
            h_close(s);
            return;
    }
    h_maybe_rearm(s);
    if (s->state == HState::Active) h_schedule(s);
}

// ---------------------------------------------------------------- TLS to servers

namespace {

// The last `name:` header of a request head as sent to the server, port removed; empty when absent.
std::string_view head_header(const HeadBuf* head, std::string_view name) {
    if (!head) return {};
    const std::string_view h(head->data, head->len);
    std::string_view found;
    std::size_t pos = h.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < h.size()) {
        const std::size_t start = pos + 2;
        const std::size_t end = h.find("\r\n", start);
        if (end == std::string_view::npos || end == start) break;  // the blank line ends the head
        const std::string_view line = h.substr(start, end - start);
        if (line.size() > name.size() && line[name.size()] == ':') {
            bool same = true;
            for (std::size_t i = 0; i < name.size() && same; ++i)
                same = (line[i] | 0x20) == (name[i] | 0x20);
            if (same) found = line.substr(name.size() + 1);
        }
        pos = end;
    }
    while (!found.empty() && (found.front() == ' ' || found.front() == '\t')) found.remove_prefix(1);
    while (!found.empty() && (found.back() == ' ' || found.back() == '\t')) found.remove_suffix(1);
    return found;
}

}  // namespace

// The server name to send for this request (`sni <expr>`): empty for none. An SNI names a host:
// a port is removed and an IP literal is not sent (RFC 6066 3).
std::string_view H1Proxy::c_tls_sni(H1Conn* s, const config::ServerTlsOptions& t, const HeadBuf* head, char* buf,
                                    std::size_t cap) const {
    std::string_view v;
    switch (t.sni) {
        case config::ServerTlsOptions::Sni::None: return {};
        case config::ServerTlsOptions::Sni::Str: v = t.sni_arg; break;
        case config::ServerTlsOptions::Sni::FcSni: v = s && s->tls ? s->tls->facts().sni : std::string_view(); break;
        case config::ServerTlsOptions::Sni::Hdr: v = head_header(head, t.sni_arg); break;
    }
    return server_name(v, buf, cap);
}

// A new connection to a TLS server: its record layer, with the SNI this request asks for. False
// when out of memory.
bool H1Proxy::c_tls_start(H1SrvConn* c, H1Conn* s, const HeadBuf* head) {
    const tls::Upstream* up = w_.tls_->upstream(c->be, c->server);
    const auto& t = *cfg_.backends[std::size_t(c->be)].servers[std::size_t(c->server)].tls;
    char buf[256];
    const std::string_view sni = c_tls_sni(s, t, head, buf, sizeof buf);
    c->tls = new (std::nothrow) tls::Conn(*up, sni);
    if (!c->tls || !c->tls->ok()) {
        delete c->tls;
        c->tls = nullptr;
        return false;
    }
    c->sni_hash = sni.empty() ? 0 : tls_name_hash(sni);
    c->set(kC1NoSplice);  // the kernel would read the records, not the body
    return true;
}

// The records a server sent: the handshake, then plaintext for the response side.
void H1Proxy::c_tls_recv(H1SrvConn* c, std::uint16_t bid, std::uint32_t n, bool more) {
    tls::Conn& t = *c->tls;
    const LentBuffer lent(t, *bufs_, bid, n);  // read in place: a fresh completion starts at the buffer's start
    H1Conn* s = c->owner;
    if (!s || c->state != H1SrvConn::Ready) {
        // an idle (pooled) connection: TLS 1.3 tickets and key updates arrive here; any plaintext
        // is a response nobody asked for, and the connection is no longer reusable
        char scratch[512];
        if (!t.established() || t.read(scratch, sizeof scratch) > 0 || t.failed() || t.peer_closed()) c_close(c);
        else if (!more) c_maybe_rearm(c);
        return;
    }
    s->st->last_srv = r_.now_ms();
    if (!t.established()) {
        const tls::Conn::Step step = t.handshake();
        if (step == tls::Conn::Step::Error) {
            c_tls_failed(c);
            return;
        }
        if (step == tls::Conn::Step::Done) {
            st_.shard.ssl_srv_handshakes.inc();
            if (t.resumed()) st_.shard.ssl_srv_resumed.inc();
        }
        c_send(c);  // the next flight; once established, the request sealed behind it
        if (c->state == H1SrvConn::Closing || s->conn != c) return;
        if (step == tls::Conn::Step::More) {
            if (!more) c_maybe_rearm(c);
            return;
        }
    }
    h_process_response(s);
    if (c->state == H1SrvConn::Closing || s->state != HState::Active || s->conn != c) return;
    if (t.failed()) {  // a bad record: nothing more can be read from this server
        s->st->term[0] = 'S';
        h_server_failed(s, true);
        return;
    }
    if (t.buffered_in() >= kTlsInMax || s->out.bytes >= kHighWaterBufs * bufs_->size()) c_cancel_recv(c);
    else if (!more) c_maybe_rearm(c);
}

// The handshake with a server failed (its certificate did not verify, no common version...): a
// connection error, so retries and redispatch apply as to a refused connect. The records queued
// in front of the request go; the request is back at the front of the queue.
void H1Proxy::c_tls_failed(H1SrvConn* c) {
    st_.shard.ssl_srv_failures.inc();
    if (!c->out.inflight) {
        while (c->tls_sealed > 0 && c->out.n > 0) {
            Seg& sg = c->out.at(0);
            c->out.bytes -= sg.len;
            sendq_.free(sg);
            c->out.first = std::uint8_t((c->out.first + 1) % OutQ::kCap);
            --c->out.n;
            --c->tls_sealed;
        }
    }
    c_connect_failed(c, -EPROTO);
}

// A server's plaintext into the response's gathering block.
std::size_t H1Proxy::c_tls_pull(H1Conn* s, H1SrvConn* c) {
    tls::Conn& t = *c->tls;
    if (!t.established() || t.failed() || !s->st) return 0;
    return w_.tls_->pull(t, s->st->rsp_acc);
}

// TLS: plaintext waits in the server's record layer while the gathering block is full: take more
// each time the response side made room.
void H1Proxy::h_process_response_tls(H1Conn* s) {
    for (int round = 0; round < 64 && s->state == HState::Active; ++round) {
        H1SrvConn* c = s->conn;
        if (!c || !c->tls) {
            if (c) h_process_response_loop(s);
            return;
        }
        const std::size_t got = c_tls_pull(s, c);
        h_process_response_loop(s);
        if (got == 0) break;
    }
}

}  // namespace es::proxy
