// HTTP/1 response bodies by splice(2): server socket -> pipe -> client socket.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "edgeshard/net/pipe.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "http_internal.hpp"

namespace es::proxy {

using shard::UserData;
using namespace h1;

// ---------------------------------------------------------------- HTTP response bodies by splice
//
// A Content-Length response body with more than `tune.es.splice-after` bytes left once its head
// (and the body bytes that came with it) went to the client moves the rest by splice(2), server
// socket -> pipe -> client socket, like an L4 bulk direction (the same pipe pool, regular fds from
// FIXED_FD_INSTALL, non-blocking splice(2) driven by one-shot POLL_ADD; never IORING_OP_SPLICE,
// which always runs in an io-wq worker):
//   Switching: the server recv is cancelled; bytes received before it stops are forwarded on the
//     buffer path; once the client queue is empty and no send is in flight, both sockets get a
//     regular fd (kept for the life of the connection) and O_NONBLOCK, and a pipe is taken.
//   Splicing: h_pump() moves at most the bytes the body still has (never past the message end: a
//     pipelined response or junk stays in the socket for the buffer path), counting them as read
//     (frontend/backend/server bout, the log's bytes) and in the shard's splice counters.
//   Done: O_NONBLOCK is cleared (the io_uring sends of the buffer path expect blocking sockets),
//     the pipe goes back empty, the response ends as on the buffer path (pooling, keep-alive,
//     the next pipelined request). A server that closes early: what the pipe holds reaches the
//     client, then the client is cut (a truncated response never looks complete).
// Only while the request was fully sent (nothing queued towards the server) and nothing else is
// queued for the client, so no io_uring send ever meets a non-blocking socket.
// A kernel TLS client (kH1Ktls) is spliced to as well: the kernel makes the records of what the
// pipe gives it. A client with user-space records (kH1Tls) never is: the body would go in clear.

void H1Proxy::h_maybe_splice(H1Conn* s) {
    H1SrvConn* c = s->conn;
    if (c->splice == H1SrvConn::NoSplice) {
        if (!p_.splice_ok || !cfg_.global.splice || c->has(kC1NoSplice) || s->has(kH1Tls) || s->st->rsp_body != http::BodyKind::Length ||
            s->st->rsp_left <= std::uint64_t(std::max<std::int64_t>(0, cfg_.global.splice_threshold)) ||
            s->req_phase() != ReqPhase::Done || c->out.n > 0 || c->out.inflight || c->state != H1SrvConn::Ready)
            return;
        c->splice = H1SrvConn::Switching;
        c_cancel_recv(c);
    }
    if (c->splice != H1SrvConn::Switching) return;
    // bytes already received go out first, in order
    if (c->sock.has(net::kSideRecv) || !c->in.empty() || s->st->rsp_acc || s->out.n > 0 || s->out.inflight) return;
    if (!c->pipe) {
        c->pipe = w_.get_pipe();
        if (!c->pipe) {
            st_.shard.pipe_misses.inc();
            h_splice_fallback(c);
            return;
        }
    }
    if (s->cli.fd < 0 || c->sock.fd < 0) {
        s->pending_ops += io_.install(s->cli, UserData::pack(kHOpCliInstall, s->gen, s));
        c->pending_ops += io_.install(c->sock, UserData::pack(kHOpSrvInstall, c->gen, c));
        return;
    }  // the install completions come back here
    // splice(2) on a socket blocks unless its file is O_NONBLOCK (SPLICE_F_NONBLOCK covers only
    // the pipe); F_SETFL changes only the status flags, and a socket has no other one set
    if (fcntl(s->cli.fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(c->sock.fd, F_SETFL, O_NONBLOCK) < 0) {
        fcntl(s->cli.fd, F_SETFL, 0);
        fcntl(c->sock.fd, F_SETFL, 0);
        h_splice_fallback(c);
        return;
    }
    c->splice = H1SrvConn::Splicing;
    st_.shard.splice_switches.inc();
    h_pump(s);
}

// No pipe or no regular fd: this connection's bodies stay on the buffer path.
void H1Proxy::h_splice_fallback(H1SrvConn* c) {
    c->set(kC1NoSplice);
    c->splice = H1SrvConn::NoSplice;
    if (c->pipe) {
        w_.put_pipe(c->pipe, c->pipe_bytes == 0);
        c->pipe = nullptr;
        c->pipe_bytes = 0;
    }
    c_maybe_rearm(c);
}

void H1Proxy::h_pump(H1Conn* s) {
    H1SrvConn* c = s->conn;
    if (!c || c->splice != H1SrvConn::Splicing || s->state != HState::Active) return;
    const std::uint64_t cli_poll = UserData::pack(kHOpCliPollOut, s->gen, s);
    const std::uint64_t srv_poll = UserData::pack(kHOpSrvPollIn, c->gen, c);
    for (int round = 0; round < net::kSpliceBudget; ++round) {
        if (c->pipe_bytes > 0) {
            const net::SpliceStep o = net::splice_out(*c->pipe, c->pipe_bytes, s->cli.fd);
            if (o.what == net::Spliced::Moved) {
                s->last_cli = r_.now_ms();
                if (c->pipe_bytes > 0) continue;
            } else if (o.what == net::Spliced::Blocked) {
                s->pending_ops += io_.poll(s->cli, true, cli_poll);
                return;
            } else {
                h_client_abort(s);  // the client is gone (EPIPE, ECONNRESET)
                return;
            }
        }
        if (s->st->rsp_left == 0) {
            h_splice_done(s);
            return;
        }
        if (c->sock.has(net::kSideEof)) {
            // the server closed before the end of the body: the client gets what came, then a cut
            s->st->term[0] = 'S';
            h_server_failed(s, false);
            return;
        }
        const std::size_t want = std::size_t(std::min<std::uint64_t>(s->st->rsp_left, c->pipe->capacity));
        const net::SpliceStep i = net::splice_in(*c->pipe, c->pipe_bytes, c->sock.fd, want);
        if (i.what == net::Spliced::Moved) {
            s->st->rsp_left -= i.n;
            s->st->bytes_out += i.n;
            s->st->last_srv = r_.now_ms();
            st_.shard.splice_bytes.add(i.n);
            st_.fe[s->fe].bout.add(i.n);
            st_.be[s->be].bout.add(i.n);
            lbs_[std::size_t(c->be)]->server(c->server).c->bout.add(i.n);
        } else if (i.what == net::Spliced::Closed) {
            c->sock.set(net::kSideEof);
        } else if (i.what == net::Spliced::Blocked) {
            c->pending_ops += io_.poll(c->sock, false, srv_poll);
            return;
        } else {
            st_.be[s->be].eresp.inc();
            lbs_[std::size_t(c->be)]->server(c->server).c->eresp.inc();
            c->sock.set(net::kSideEof);
            s->st->term[0] = 'S';
            h_server_failed(s, false);
            return;
        }
    }
    // budget spent with data still flowing: yield to the rest of the shard and continue when the
    // side with work is ready (at once, usually)
    if (c->pipe_bytes > 0) s->pending_ops += io_.poll(s->cli, true, cli_poll);
    else c->pending_ops += io_.poll(c->sock, false, srv_poll);
}

// The body has reached the client socket in full: back to the buffer path.
void H1Proxy::h_splice_done(H1Conn* s) {
    H1SrvConn* c = s->conn;
    // The last receive's "more in the socket" flag predates the spliced body. Whether the server
    // sent anything beyond the body decides whether the connection may be pooled: one peek on
    // the (still non-blocking) regular fd, cheap next to the body it ends.
    char probe;
    const ssize_t extra = ::recv(c->sock.fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (extra > 0) c->sock.set(net::kSideSockNonEmpty);
    else c->sock.clear(net::kSideSockNonEmpty);
    if (extra == 0) c->sock.set(net::kSideEof);
    fcntl(s->cli.fd, F_SETFL, 0);
    fcntl(c->sock.fd, F_SETFL, 0);
    w_.put_pipe(c->pipe, true);
    c->pipe = nullptr;
    c->splice = H1SrvConn::NoSplice;
    c->set(kC1Spliced);
    s->st->rsp = RspPhase::Done;
    h_response_done(s);
}

void H1Proxy::h_on_cli_install(H1Conn* s, int res) {
    --s->pending_ops;
    net::SideIo::install_done(s->cli, res);  // closes the fd if the side is closed
    if (s->state != HState::Active) {
        h_maybe_release(s);
        return;
    }
    if (s->has(kH1KtlsWait)) [[unlikely]] {  // the fd kernel TLS is set on (or none: user space)
        if (res < 0) {
            st_.shard.ssl_ktls_fallbacks.inc();
            s->clear(kH1KtlsWait);
            h_maybe_rearm(s);
        } else {
            h_ktls_try(s);
        }
        return;
    }
    if (res < 0) {
        if (s->conn && s->conn->splice == H1SrvConn::Switching) h_splice_fallback(s->conn);
        return;
    }
    if (s->conn && s->conn->splice == H1SrvConn::Switching) h_maybe_splice(s);
}

void H1Proxy::c_on_install(H1SrvConn* c, int res) {
    --c->pending_ops;
    net::SideIo::install_done(c->sock, res);  // closes the fd if the side is closed
    if (c->state == H1SrvConn::Closing) {
        c_maybe_release(c);
        return;
    }
    if (res < 0) {
        if (c->splice == H1SrvConn::Switching) h_splice_fallback(c);
        return;
    }
    if (c->splice == H1SrvConn::Switching && c->owner) h_maybe_splice(c->owner);
}

void H1Proxy::h_on_cli_poll(H1Conn* s) {
    --s->pending_ops;
    net::SideIo::poll_done(s->cli, true);
    if (s->state != HState::Active) {
        h_maybe_release(s);
        return;
    }
    h_pump(s);  // errors and hang-ups show up as the next splice's result
}

void H1Proxy::c_on_poll(H1SrvConn* c) {
    --c->pending_ops;
    net::SideIo::poll_done(c->sock, false);
    if (c->state == H1SrvConn::Closing) {
        c_maybe_release(c);
        return;
    }
    if (c->owner && c->splice == H1SrvConn::Splicing) h_pump(c->owner);
}

// At close (the regular fd is closed with the side): a pipe that may still hold bytes (never
// reused then).
void H1Proxy::c_splice_close(H1SrvConn* c) {
    if (c->pipe) {
        w_.put_pipe(c->pipe, c->pipe_bytes == 0);
        c->pipe = nullptr;
        c->pipe_bytes = 0;
    }
    c->splice = H1SrvConn::NoSplice;
}

}  // namespace es::proxy
