// The HTTP/1 proxy's state machines, driven without sockets (h1_harness.hpp): each case plays the
// kernel's part, completing the ops the proxy records, and checks what goes to each side, in
// which order, and the flag words left behind.
#include <doctest/doctest.h>

#include <cerrno>
#include <string>

#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/proxy/h1_types.hpp"
#include "h1_harness.hpp"

using namespace es;
using namespace es::proxy;
using es::proxy::test::H1Harness;
using es::proxy::test::Recorded;
using K = es::net::SideOp;

namespace {

constexpr int kCli = 5;  // the client connection's direct descriptor

#define SKIP_WITHOUT_URING()                                          \
    do {                                                              \
        if (!H1Harness::available()) {                                \
            MESSAGE("io_uring unavailable here: case skipped");      \
            return;                                                   \
        }                                                             \
    } while (0)

// A client connection accepted as `slot`, its (multishot) receive armed.
void open_client(H1Harness& h, int slot = kCli) {
    h.accept(slot);
    CHECK(h.expect(K::Recv, slot).op.flag);
}

// A GET on a new connection: client head -> new server connection -> head sent; returns the
// server slot with the request's send completed.
int get_to_server(H1Harness& h, const std::string& req, const std::string& expect_head) {
    h.deliver(kCli, req);
    const int srv = h.open_server();
    CHECK(h.send_done(srv) == expect_head);
    return srv;
}

// One exchange on a new client connection; its server connection is left idle in the pool.
int pooled_after_one_exchange(H1Harness& h) {
    open_client(h);
    const std::string r1 = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
    const int srv = get_to_server(h, r1, r1);
    const std::string p1 = "HTTP/1.1 204 No Content\r\n\r\n";
    h.deliver(srv, p1);
    CHECK(h.send_done(kCli) == p1);
    h.end_turn();
    REQUIRE(h.conn(srv).state == H1SrvConn::Idle);
    return srv;
}

// The pooled connection `srv` closed under `req`: no 502, `req` goes again on a new connection
// and its response reaches the client.
void replayed(H1Harness& h, int srv, const std::string& req) {
    h.expect_quiet(kCli);
    const int srv2 = h.open_server();
    CHECK(srv2 != srv);
    CHECK(h.send_done(srv2) == req);  // the very same head, once more
    h.end_turn();
    const std::string rsp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    h.deliver(srv2, rsp);
    CHECK(h.send_done(kCli) == rsp);
    h.end_turn();
    CHECK(h.server_stats().wretr.get() == 1);
    CHECK(h.server_stats().connect.get() == 2);
    CHECK(h.server_stats().reuse.get() == 1);
    CHECK(h.server_stats().hrsp_5xx.get() == 0);
    CHECK(h.conn(srv2).state == H1SrvConn::Idle);
}

}  // namespace

TEST_CASE("h1: a GET goes to a new server connection, the response comes back, both sides stay open") {
    SKIP_WITHOUT_URING();
    H1Harness h;
    h.accept(kCli);
    const Recorded cli_recv = h.expect(K::Recv, kCli);
    CHECK(cli_recv.op.flag);  // multishot
    CHECK(net::show_side_flags(h.session(kCli).cli.flags) == "RECV");

    h.deliver(kCli,
              "GET /a?x=1 HTTP/1.1\r\n"
              "Host: example.test\r\n"
              "Connection: keep-alive, X-Hop\r\n"
              "Keep-Alive: timeout=5\r\n"
              "X-Hop: 1\r\n"
              "TE: trailers\r\n"
              "Proxy-Connection: keep-alive\r\n"
              "User-Agent: t/1\r\n"
              "\r\n");
    // nothing goes to the client; a server socket is made
    h.expect_quiet(kCli);
    const Recorded so = h.expect_socket();
    CHECK(so.family == AF_INET);
    const int srv = h.complete_socket(so);
    const Recorded conn = h.expect(K::Connect, srv);
    CHECK(conn.op.ud2 != 0);  // `timeout connect`: a linked timeout
    h.expect_quiet(srv);      // the head waits for the connection
    h.complete_connect(conn);
    CHECK(h.expect(K::Recv, srv).op.flag);
    // hop-by-hop headers (Connection, those it names, Keep-Alive, TE, Proxy-Connection) are dropped;
    // the rest goes as received; HTTP/1.1 towards the server keeps the connection by default
    const Recorded head = h.expect(K::Send, srv);
    CHECK(h.sent(head) ==
          "GET /a?x=1 HTTP/1.1\r\n"
          "Host: example.test\r\n"
          "User-Agent: t/1\r\n"
          "\r\n");
    h.complete_send(head);
    h.end_turn();
    CHECK(show_c1_flags(h.conn(srv).flags) == "EST");

    const std::string rsp =
        "HTTP/1.1 200 OK\r\n"
        "Content-Length: 5\r\n"
        "X-Served-By: s1\r\n"
        "\r\n"
        "hello";
    h.deliver(srv, rsp);
    CHECK(h.send_done(kCli) == rsp);  // byte for byte, head and body in one send
    h.end_turn();

    // keep-alive: the client's multishot receive is the one armed at accept, still armed
    h.expect_quiet(kCli);
    CHECK(h.in_flight(K::Recv, kCli));
    const H1Conn& s = h.session(kCli);
    CHECK(net::show_side_flags(s.cli.flags) == "RECV");
    CHECK(show_h1_flags(s.flags) == "CNTC|LINGER");  // no longer FIRST, no CLOSE; its request left the backend
    CHECK(s.st == nullptr);  // between exchanges: no stream held
    CHECK(s.conn == nullptr);
    // the server connection is idle in the pool, its receive armed to see the server close it
    h.expect_quiet(srv);
    CHECK(h.conn(srv).state == H1SrvConn::Idle);
    CHECK(h.conn(srv).owner == nullptr);
    CHECK(net::show_side_flags(h.conn(srv).sock.flags) == "RECV");
    CHECK(h.server_stats().idle_conn_cur.get() == 1);
    CHECK(h.server_stats().connect.get() == 1);
    CHECK(h.server_stats().hrsp_2xx.get() == 1);
    CHECK(h.stats().fe[0].req_tot.get() == 1);
}

TEST_CASE("h1: pipelined requests reach the server one at a time, responses in order") {
    SKIP_WITHOUT_URING();
    H1Harness h;
    open_client(h);
    const std::string r1 = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string r2 = "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    const int srv = get_to_server(h, r1 + r2, r1);  // one receive, only the first goes
    h.end_turn();
    h.expect_quiet(srv);

    const std::string p1 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n#1";
    const std::string p2 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n#2";
    h.deliver(srv, p1);
    // the first response is queued for the client, then the second request goes out, on the
    // same (pooled) server connection: no new socket
    const Recorded c1 = h.expect(K::Send, kCli);
    CHECK(h.sent(c1) == p1);
    const Recorded s2 = h.expect(K::Send, srv);
    CHECK(h.sent(s2) == r2);
    CHECK(c1.seq < s2.seq);
    CHECK(h.server_stats().connect.get() == 1);
    CHECK(h.server_stats().reuse.get() == 1);
    h.complete_send(s2);
    h.end_turn();

    // the second response waits behind the first one's send (one send in flight per socket)
    h.deliver(srv, p2);
    h.expect_quiet(kCli);
    h.complete_send(c1);
    CHECK(h.send_done(kCli) == p2);
    h.end_turn();
    CHECK(h.stats().fe[0].req_tot.get() == 2);
    CHECK(h.conn(srv).state == H1SrvConn::Idle);
}

TEST_CASE("h1: Expect: 100-continue: head first, the 100 to the client, then the body, then the response") {
    SKIP_WITHOUT_URING();
    H1Harness h;
    open_client(h);
    const std::string head =
        "POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    const int srv = get_to_server(h, head, head);  // Expect is end to end: forwarded as is
    REQUIRE(h.session(kCli).st != nullptr);
    CHECK(show_h1s_flags(h.session(kCli).st->flags) == "EXP");
    CHECK(h.session(kCli).st->req == ReqPhase::Body);
    h.end_turn();

    h.deliver(srv, "HTTP/1.1 100 Continue\r\n\r\n");
    const Recorded cont = h.expect(K::Send, kCli);
    CHECK(h.sent(cont) == "HTTP/1.1 100 Continue\r\n\r\n");
    CHECK(show_h1s_flags(h.session(kCli).st->flags).empty());
    h.expect_quiet(srv);  // nothing of the body yet
    h.complete_send(cont);
    h.end_turn();

    h.deliver(kCli, "hello");
    CHECK(h.send_done(srv) == "hello");
    CHECK(h.session(kCli).st->req == ReqPhase::Done);
    h.end_turn();

    const std::string fin = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    h.deliver(srv, fin);
    CHECK(h.send_done(kCli) == fin);
    h.end_turn();
    CHECK(h.server_stats().hrsp_1xx.get() == 0);  // interim responses are not counted as the status
    CHECK(h.server_stats().hrsp_2xx.get() == 1);
    CHECK(h.conn(srv).state == H1SrvConn::Idle);
}

TEST_CASE("h1: a pooled connection the server closed before answering: the request goes again on a new one") {
    SKIP_WITHOUT_URING();
    H1Harness h;  // http-reuse safe (the default): a second request may use a pooled connection
    const int srv = pooled_after_one_exchange(h);
    const std::string r2 = "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    h.deliver(kCli, r2);
    CHECK_FALSE(h.in_flight(K::Socket, -1));
    CHECK(h.send_done(srv) == r2);  // on the pooled connection
    CHECK(show_c1_flags(h.conn(srv).flags) == "REUSED|EST");
    h.end_turn();
    // the server's FIN, before any byte of the response (it closed the idle connection just as
    // the request went out)
    h.end_recv(srv, 0);
    h.complete_close(h.expect(K::Close, srv));
    replayed(h, srv, r2);
}

TEST_CASE("h1: the replay holds when the server's FIN is seen before the request's send completes") {
    SKIP_WITHOUT_URING();
    H1Harness h;
    const int srv = pooled_after_one_exchange(h);
    const std::string r2 = "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    h.deliver(kCli, r2);
    const Recorded s2 = h.expect(K::Send, srv);  // on the pooled connection
    CHECK(h.sent(s2) == r2);
    // the FIN completes first, the send after it (the head is still under the send meanwhile)
    h.end_recv(srv, 0);
    const Recorded close = h.expect(K::Close, srv);
    h.complete_send(s2);
    h.complete_close(close);
    replayed(h, srv, r2);
}

TEST_CASE("h1: a short send to the client is resumed with exactly the rest") {
    SKIP_WITHOUT_URING();
    H1Harness h;
    open_client(h);
    const std::string r = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const int srv = get_to_server(h, r, r);
    const std::string p = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    h.deliver(srv, p);
    const Recorded first = h.expect(K::Send, kCli);
    REQUIRE(h.sent(first) == p);
    const int part = int(p.size()) - 7;
    h.complete_send(first, part);
    const Recorded rest = h.expect(K::Send, kCli);
    CHECK(h.sent(rest) == p.substr(std::size_t(part)));
    CHECK(h.stats().shard.short_sends.get() == 1);
    h.complete_send(rest);
    h.end_turn();
    h.expect_quiet(kCli);
    CHECK(h.session(kCli).out.n == 0);
    CHECK_FALSE(h.session(kCli).out.inflight);
}

TEST_CASE("h1: ENOBUFS stops a server receive until the end of a turn finds buffers back") {
    SKIP_WITHOUT_URING();
    // 64 buffers: a starved receive is re-armed once 16 (a quarter) are free
    H1Harness h(H1Harness::config("", "", "tune.es.buffers 64"));
    REQUIRE(h.worker().buffers().count() == 64);
    constexpr int kSlow = 5, kFast = 6;  // two client connections
    open_client(h, kSlow);
    open_client(h, kFast);
    const std::string rs = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n";
    h.deliver(kSlow, rs);
    const int srv_slow = h.open_server();
    CHECK(h.send_done(srv_slow) == rs);
    const std::string rf = "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n";
    h.deliver(kFast, rf);
    const int srv_fast = h.open_server();
    CHECK(h.send_done(srv_fast) == rf);
    h.end_turn();

    // the slow client's response body arrives in 50 one-byte buffers in one batch, while its
    // head is still being sent: they wait for the client (the proxy asks to stop the receive,
    // the kernel had already filled them)
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    h.deliver(srv_slow, head);
    const Recorded first = h.expect(K::Send, kSlow);
    CHECK(h.sent(first) == head);  // no body bytes came with it: the head goes alone
    std::string body;
    for (int i = 0; i < 50; ++i) {
        body += char('a' + i % 26);
        h.deliver(srv_slow, body.substr(body.size() - 1));
    }
    h.complete_cancel(h.expect(K::CancelRecv, srv_slow));
    // the ring is dry: the other connection's receive ends with ENOBUFS
    h.end_recv(srv_fast, -ENOBUFS);
    CHECK(h.stats().shard.enobufs.get() == 1);
    CHECK(net::show_side_flags(h.conn(srv_fast).sock.flags) == "STRV");
    REQUIRE(h.worker().buffers().available() < 16);
    h.end_turn();
    h.expect_quiet(srv_fast);  // still short of buffers: no receive

    // the slow client takes the head, then the first body bytes: their buffers come back
    std::string got = h.complete_send(first);
    const Recorded second = h.expect(K::Send, kSlow);
    h.end_turn();
    h.expect_quiet(srv_fast);
    got += h.complete_send(second);
    CHECK(h.worker().buffers().available() >= 16);
    h.expect_quiet(srv_fast);  // not before the end of the turn
    h.end_turn();
    CHECK(h.expect(K::Recv, srv_fast).op.flag);
    CHECK(net::show_side_flags(h.conn(srv_fast).sock.flags) == "RECV");

    // both exchanges complete
    const std::string pf = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast";
    h.deliver(srv_fast, pf);
    CHECK(h.send_done(kFast) == pf);
    got += h.drain_sends(kSlow);  // the rest of what was received; the server receive comes back
    h.end_turn();
    h.expect(K::Recv, srv_slow);
    const std::string tail(50, 'z');
    h.deliver(srv_slow, tail);
    got += h.drain_sends(kSlow);
    CHECK(got == head + body + tail);
    h.end_turn();
    CHECK(h.conn(srv_slow).state == H1SrvConn::Idle);
    CHECK(h.conn(srv_fast).state == H1SrvConn::Idle);
}

TEST_CASE("h1: a malformed request head gets a 400 and never reaches a server") {
    SKIP_WITHOUT_URING();
    H1Harness h;
    open_client(h);
    h.deliver(kCli, "GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n");
    const Recorded rep = h.expect(K::Send, kCli);
    const std::string bytes = h.sent(rep);
    CHECK(bytes.rfind("HTTP/1.1 400 ", 0) == 0);
    CHECK(bytes.find("\r\nconnection: close\r\n") != std::string::npos);
    CHECK(show_h1_flags(h.session(kCli).flags).find("CLOSE") != std::string::npos);
    CHECK(h.stats().fe[0].ereq.get() == 1);
    CHECK(h.stats().fe[0].hrsp_4xx.get() == 1);
    // the rejected head got an exchange of its own, for the reply and its log line
    REQUIRE(h.session(kCli).st != nullptr);
    CHECK(h.session(kCli).st->status == 400);
    CHECK(std::string(h.session(kCli).st->term) == "PR");
    CHECK(h.session(kCli).nreq == 1);
    // the client is not read while the reply goes out ...
    const Recorded cancel = h.expect(K::CancelRecv, kCli);
    h.complete_send(rep);
    // ... then a lingering close: FIN after the reply, and the client read until it closes
    const Recorded shut = h.expect(K::Shutdown, kCli);
    h.complete_cancel(cancel);
    h.expect(K::Recv, kCli);
    h.complete(shut, 0);
    h.end_recv(kCli, 0);
    h.complete_close(h.expect(K::Close, kCli));
    h.end_turn();
    CHECK_FALSE(h.recorded(K::Socket));
    CHECK_FALSE(h.recorded(K::Connect));
    CHECK(h.stats().be[0].req_tot.get() == 0);
    CHECK(h.stats().shard.conns.get() == 0);  // the client connection is gone
    CHECK(h.stats().fe[0].scur.get() == 0);
}

TEST_CASE("h1: a head rejected after a keep-alive exchange reports only its own facts") {
    SKIP_WITHOUT_URING();
    H1Harness h;
    open_client(h);
    const std::string r1 = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
    const int srv = get_to_server(h, r1, r1);
    const std::string p1 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n#1";
    h.deliver(srv, p1);
    CHECK(h.send_done(kCli) == p1);
    h.end_turn();
    CHECK(h.session(kCli).st == nullptr);  // idle between exchanges
    CHECK(h.conn(srv).state == H1SrvConn::Idle);

    h.deliver(kCli, "GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n");
    const Recorded rep = h.expect(K::Send, kCli);
    REQUIRE(h.session(kCli).st != nullptr);
    const H1Stream& x = *h.session(kCli).st;
    CHECK(x.status == 400);
    // nothing of the first exchange leaks into the second: no server, no connect, no response
    // head time, and the bytes are the reply's alone
    CHECK(x.server == -1);
    CHECK(x.t_connect == -1);
    CHECK(x.t_connected == -1);
    CHECK(x.t_rsp == -1);
    CHECK(x.tries == 0);
    CHECK(x.bytes_out == h.sent(rep).size());
    CHECK(h.session(kCli).nreq == 2);
    CHECK(h.stats().fe[0].req_tot.get() == 2);
    CHECK(h.server_stats().req_tot.get() == 1);  // the rejected head never reached the server
}
