// H1Proxy, TLS client connections (`bind ... ssl`): the record layer (tls::Conn) sits between the
// client socket and the request and response code, which see plaintext only.
//  - in: each receive's records go into the record layer and the provided buffer back to the ring
//    at once; plaintext is read into the connection's gathering block (H1Conn::req_acc), from
//    which heads are parsed and bodies forwarded as on the plain path. A full block leaves the
//    rest in the record layer until the request side makes room (h_process_request pulls again).
//    Ciphertext the layer holds past kTlsInMax stops the client recv (backpressure).
//  - out: the output queue fills with plaintext pieces as on the plain path; before a send, the
//    pieces not sealed yet become records (copied into head blocks; the pieces are freed at once)
//    and only records leave. H1Conn::tls_sealed counts the records at the front of the queue, so a
//    short send resumes inside its records and the queue is empty only once they are all sent.
//  - the handshake runs on the same receives; its flights leave through the same queue. A failed
//    handshake sends its alert and closes. A close after a response sends close_notify first.
//  - bodies to a TLS client are never spliced (the kernel would send them in clear).
#include <cstring>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "http_internal.hpp"

namespace es::proxy {

using namespace h1;

void H1Proxy::h_tls_recv(H1Conn* s, std::uint16_t bid, std::uint32_t n, bool more) {
    tls::Conn& t = *s->tls;
    s->last_cli = r_.now_ms();
    st_.fe[s->fe].bin.add(n);
    if (s->be >= 0) st_.be[s->be].bin.add(n);
    s->bytes_in += n;
    t.feed(bufs_->data(bid), n);  // a fresh completion: its bytes start at the buffer's start
    bufs_->recycle(bid);
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
    if (t.buffered_in() >= kTlsInMax || (s->conn && s->conn->out.bytes >= kHighWaterBufs * bufs_->size()))
        h_cancel_recv(s);
    else if (!more)
        h_maybe_rearm(s);
    if (!s->st && s->out.n == 0) t.trim();  // idle between exchanges: no TLS buffer held
    h_schedule(s);
}

// Plaintext from the record layer into the gathering block; returns the bytes taken.
std::size_t H1Proxy::h_tls_pull(H1Conn* s) {
    tls::Conn& t = *s->tls;
    if (!t.established() || t.failed()) return 0;
    std::size_t total = 0;
    for (;;) {
        HeadBuf* a = s->req_acc;
        if (!a) {
            a = s->req_acc = sendq_.new_block();
            if (!a) break;  // no memory now: the bytes wait in the record layer
        }
        if (a->len == HeadBuf::kCap) {
            if (a->off == 0) break;  // full: the request side must consume first
            std::memmove(a->data, a->data + a->off, a->len - a->off);
            a->len -= a->off;
            a->off = 0;
        }
        const bool empty = a->len == a->off;
        const std::size_t got = t.read(a->data + a->len, HeadBuf::kCap - a->len);
        if (got == 0) break;
        if (empty && !s->st) s->t_req = r_.now_ms();  // first byte of a request
        a->len += std::uint32_t(got);
        total += got;
    }
    if (s->req_acc && s->req_acc->len == s->req_acc->off) {  // an idle connection holds no block
        sendq_.blocks.destroy(s->req_acc);
        s->req_acc = nullptr;
        s->req_scanned = 0;
    }
    return total;
}

// The plaintext pieces behind the records already queued become records. Records are moved into
// head blocks as they are made, so the record layer's output buffer stays one record deep.
void H1Proxy::h_tls_seal(H1Conn* s) {
    tls::Conn& t = *s->tls;
    OutQ& q = s->out;
    ES_ASSERT(!q.inflight);
    // the pieces leave the queue first (their bytes are copied into records below); records take
    // their places, up to the queue's capacity (what does not fit waits in the record layer)
    Seg pieces[OutQ::kCap];
    int np = 0;
    for (int i = s->tls_sealed; i < q.n; ++i) {
        pieces[np++] = q.at(i);
        q.bytes -= q.at(i).len;
    }
    q.n = s->tls_sealed;
    HeadBuf* cur = nullptr;  // the block records are being moved into
    auto drain = [&]() {
        while (t.pending_out() > 0) {
            if (cur && cur->len == HeadBuf::kCap) {
                sendq_.push(q, Seg{cur->data, cur->len, net::BufRing::kNone, cur});  // its place was kept
                cur = nullptr;
            }
            if (!cur) {
                if (q.full()) return;  // no place for another block: the rest waits in the record layer
                cur = sendq_.new_block();
                if (!cur) {
                    q.broken = true;  // the record stream would have a hole: the connection must close
                    return;
                }
            }
            cur->len += std::uint32_t(t.take_out(cur->data + cur->len, HeadBuf::kCap - cur->len));
        }
    };
    // one write: its records go straight into the current block (the window) while they fit
    auto write = [&](const char* p, std::size_t n) {
        if (t.pending_out() == 0 && !q.broken) {
            if (cur && cur->len == HeadBuf::kCap) {
                sendq_.push(q, Seg{cur->data, cur->len, net::BufRing::kNone, cur});
                cur = nullptr;
            }
            if (!cur && !q.full()) cur = sendq_.new_block();
            if (cur) t.set_window(cur->data + cur->len, HeadBuf::kCap - cur->len);
        }
        if (!t.write(p, n)) q.broken = true;
        if (cur) cur->len += std::uint32_t(t.window_used());
        t.clear_window();
        drain();
    };
    // small pieces (a response head and its short body) are staged together so they leave as one
    // record: a record per piece would cost a seal and 22 bytes each, and the peer one more open
    std::size_t staged = 0;
    for (int i = 0; i < np; ++i) {
        Seg& sg = pieces[i];
        if (staged + sg.len > sizeof tls_stage_ && staged > 0) {
            write(tls_stage_, staged);
            staged = 0;
        }
        if (sg.len >= sizeof tls_stage_) {
            write(sg.p, sg.len);
        } else {
            std::memcpy(tls_stage_ + staged, sg.p, sg.len);
            staged += sg.len;
        }
        sendq_.free(sg);
    }
    if (staged > 0) write(tls_stage_, staged);
    drain();
    if (cur && cur->len > 0) sendq_.push(q, Seg{cur->data, cur->len, net::BufRing::kNone, cur});  // its place was kept
    else if (cur) sendq_.blocks.destroy(cur);
    s->tls_sealed = q.n;
    if (q.n == 0) sendq_.trim(q);
}

// Before a close that follows a response: queue close_notify. True while it is being sent.
bool H1Proxy::h_tls_close_notify(H1Conn* s) {
    tls::Conn& t = *s->tls;
    if (t.closing() || !t.established() || t.failed()) return false;
    t.close();
    h_send_client(s);
    return s->state == HState::Active && s->out.n > 0;
}

}  // namespace es::proxy
