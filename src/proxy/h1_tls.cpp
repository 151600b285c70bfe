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

// Plaintext from a record layer into a gathering block (made when needed, compacted when full,
// given back when it ends empty: an idle connection holds none); returns the bytes taken. A full
// block leaves the rest in the record layer until its reader consumed some.
std::size_t H1Proxy::tls_pull(tls::Conn& t, HeadBuf*& acc) {
    std::size_t total = 0;
    for (;;) {
        if (!acc && !(acc = sendq_.new_block())) break;  // no memory now: the bytes wait in the layer
        HeadBuf* a = acc;
        if (a->len == HeadBuf::kCap) {
            if (a->off == 0) break;  // full: the reader must consume first
            std::memmove(a->data, a->data + a->off, a->len - a->off);
            a->len -= a->off;
            a->off = 0;
        }
        const std::size_t got = t.read(a->data + a->len, HeadBuf::kCap - a->len);
        if (got == 0) break;
        a->len += std::uint32_t(got);
        total += got;
    }
    if (acc && acc->len == acc->off) {
        sendq_.blocks.destroy(acc);
        acc = nullptr;
    }
    return total;
}

// A client's plaintext into the request's gathering block.
std::size_t H1Proxy::h_tls_pull(H1Conn* s) {
    tls::Conn& t = *s->tls;
    if (!t.established() || t.failed()) return 0;
    const bool idle = !s->req_acc || s->req_acc->len == s->req_acc->off;
    const std::size_t total = tls_pull(t, s->req_acc);
    if (total > 0 && idle && !s->st) s->t_req = r_.now_ms();  // first byte of a request
    if (!s->req_acc) s->req_scanned = 0;
    return total;
}

// The plaintext pieces behind the records already queued become records. Records are moved into
// head blocks as they are made, so the record layer's output buffer stays one record deep. Until
// the handshake completes (a connection to a server), only its flights are queued, in front of
// the pieces, which wait unsealed (the send takes the records alone: `sealed` counts them).
void H1Proxy::tls_seal(tls::Conn& t, OutQ& q, std::uint8_t& sealed) {
    ES_ASSERT(!q.inflight);
    // the pieces leave the queue first (their bytes are copied into records below); records take
    // their places, up to the queue's capacity (what does not fit waits in the record layer)
    Seg pieces[OutQ::kCap];
    int np = 0;
    for (int i = sealed; i < q.n; ++i) {
        pieces[np++] = q.at(i);
        q.bytes -= q.at(i).len;
    }
    q.n = sealed;
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
        bool direct = t.sealing();
        if (!direct && n >= kDirectSealMin && t.direct()) {  // decided at the first large piece
            st_.shard.ssl_direct.inc();
            direct = true;
        }
        if (direct) {
            // sealed straight from the piece into blocks, block after block, while the queue has
            // places (tls/seal.hpp); what does not fit waits in the record layer, in order
            while (n > 0 && t.pending_out() == 0 && !q.broken) {
                if (!cur) {
                    if (q.full()) break;
                    cur = sendq_.new_block();
                    if (!cur) {
                        q.broken = true;
                        return;
                    }
                }
                std::size_t used = cur->len;
                const std::size_t took = t.seal_into(p, n, cur->data, HeadBuf::kCap, used);
                cur->len = std::uint32_t(used);
                p += took;
                n -= took;
                if (t.failed()) {
                    q.broken = true;
                    return;
                }
                if (n > 0) {  // full
                    sendq_.push(q, Seg{cur->data, cur->len, net::BufRing::kNone, cur});
                    cur = nullptr;
                }
            }
            if (n > 0 && !q.broken && !t.write(p, n)) q.broken = true;
            drain();
            return;
        }
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
    const bool plain_ok = t.established();
    if (plain_ok) {
        // small pieces (a response head and its short body) are staged together so they leave as
        // one record: a record per piece would cost a seal and 22 bytes each, and the peer one more open
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
    }
    drain();
    if (cur && cur->len > 0) sendq_.push(q, Seg{cur->data, cur->len, net::BufRing::kNone, cur});  // its place was kept
    else if (cur) sendq_.blocks.destroy(cur);
    sealed = q.n;
    if (!plain_ok) {
        for (int i = 0; i < np; ++i) {  // back behind the flights, in order
            if (q.full()) {
                q.broken = true;
                sendq_.free(pieces[i]);
                continue;
            }
            sendq_.push(q, pieces[i]);
        }
    }
    if (q.n == 0) sendq_.trim(q);
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
    if (!v.empty() && v.front() == '[') return {};  // [v6]:port
    if (const std::size_t colon = v.rfind(':'); colon != std::string_view::npos) v = v.substr(0, colon);
    if (v.empty() || v.size() >= cap) return {};
    bool ip = true;
    for (char ch : v) ip = ip && ((ch >= '0' && ch <= '9') || ch == '.');
    if (ip) return {};
    std::memcpy(buf, v.data(), v.size());
    return std::string_view(buf, v.size());
}

// A new connection to a TLS server: its record layer, with the SNI this request asks for. False
// when out of memory.
bool H1Proxy::c_tls_start(H1SrvConn* c, H1Conn* s, const HeadBuf* head) {
    const tls::Upstream* up = tls_up_[std::size_t(c->be)][std::size_t(c->server)].get();
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
    t.feed(bufs_->data(bid), n);  // a fresh completion: its bytes start at the buffer's start
    bufs_->recycle(bid);
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
    return tls_pull(t, s->st->rsp_acc);
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

// ---------------------------------------------------------------- certificates at run time

void H1Proxy::tls_cert_update(tls::CertUpdate& u) {
    // the addresses of one bind line share its BindTls: each is updated once
    std::vector<const tls::BindTls*> done;
    for (auto& per : tls_binds_)
        for (auto& b : per) {
            if (!b || std::find(done.begin(), done.end(), b.get()) != done.end()) continue;
            done.push_back(b.get());
            if (u.ocsp_only) {
                b->replace_ocsp(u.path, u.ocsp);
                continue;
            }
            std::string error;
            if (b->replace_cert(u.path, u.pem, error) < 0)
                std::fprintf(stderr, "edgeshard: shard %d: commit ssl cert %s: %s\n", w_.p_.shard_id, u.path.c_str(),
                             error.c_str());
        }
    if (u.pending.fetch_sub(1) == 1) delete &u;
}

}  // namespace es::proxy
