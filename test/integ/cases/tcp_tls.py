#!/usr/bin/env python3
"""TLS termination on `mode tcp` frontends (`bind ... ssl crt` in a tcp frontend): the proxy opens the
records and relays plaintext to plain servers (echo servers, some sending a banner that names them).
The same configuration runs against HAProxy 2.6 with ES_TEST_PEER=haproxy.
  - 64 MiB sent and echoed back through one TLS 1.3 session at the same time, and 16 MiB over TLS 1.2,
    byte-exact (sha256), with a client that reads while it writes;
  - `use_backend ... if { ssl_fc_sni ... }` routes on the handshake's SNI (-i exact, -m end), no SNI
    goes to default_backend; the server speaks first (its banner arrives before the client sends);
  - `alpn h2,http/1.1` is advertised as it is (the server speaks the protocol): a client offering h2
    gets h2; one offering only an unknown protocol gets none;
  - `tcp-request content` rules read the decrypted payload: `reject if { req.payload(0,4) -m str QUIT }`
    closes (counted as denied), `accept if { req.len ge 4 }` forwards;
  - ends: the client's close_notify reaches the server as a FIN; the server's close reaches the client
    as close_notify (Python's unwrap() completes, and a read to the end raises no ragged-EOF error);
    a close_notify right behind 4 MiB to a slow server (it waits in the record layer behind the
    plaintext the proxy cannot queue yet) still reaches the server as a FIN after the last byte;
  - bad input: plain text on the TLS port and a truncated ClientHello with a FIN get the connection
    closed without any server connection; a stalled half ClientHello is closed at `timeout client`
    (1.5 s) from the accept; sessions running meanwhile are not disturbed;
  - client certificates on a tcp bind: `verify required` refuses a client without one (nothing reaches
    a server); with `verify optional`, `use_backend ... if { ssl_c_s_dn(CN) -m str alice }` routes on
    the verified certificate;
  - servers reached over TLS from a tcp backend (`server ... ssl verify required ca-file F sni str(...)`,
    and `sni ssl_fc_sni` behind a TLS bind), a Python TLS echo server: 8 MiB echoed byte-exact from a
    plain client and from a TLS client (TLS on both sides), the SNI the server saw; a server whose
    certificate does not verify (another CA) gets no byte and the client's connection is closed; a
    plain client accepted by a content rule and queued for a `maxconn 1` TLS server sends 60 small
    segments while it waits (each received on its own): they all arrive, in order, behind the server's
    handshake;
  - edgeshard only: `show info` counts the handshakes and the failures (client and server side),
    `show stat` the denied session, the server's connection errors and the bytes of each backend
    (plaintext, both directions).
"""
import hashlib
import os
import select
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import reload_lib  # noqa: E402
import tls_lib  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def ctx(max_tls12=False, alpn=None, cert=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cert:
        c.load_cert_chain(cert)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if max_tls12:
        c.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        c.set_alpn_protocols(alpn)
    return c


def tls_connect(port, sni="site.test", **kw):
    raw = socket.create_connection((L, port), timeout=10)
    return ctx(**kw).wrap_socket(raw, server_hostname=sni, suppress_ragged_eofs=False)


def echo_loop(s, n, what, again):
    """Sends n random bytes on the non-blocking socket `s` and reads the echo at the same time (one
    thread); `again`: the exceptions that mean "not now"."""
    data = os.urandom(n)
    sent, got, hsh = 0, 0, hashlib.sha256()
    deadline = time.monotonic() + 60
    while got < n:
        check(time.monotonic() < deadline, f"{what}: stalled at {sent} sent, {got} received")
        _, w, _ = select.select([s], [s] if sent < n else [], [], 5)
        if w and sent < n:
            try:
                sent += s.send(data[sent:sent + (256 << 10)])
            except again:
                pass
        while True:  # everything readable now (TLS: also what waits decrypted in the SSL object)
            try:
                d = s.recv(1 << 20)
            except again:
                break
            check(len(d) > 0, f"{what}: the connection ended after {got} of {n} bytes")
            hsh.update(d)
            got += len(d)
    check_eq(hsh.hexdigest(), hashlib.sha256(data).hexdigest(), f"{what}: echoed bytes (sha256)")
    s.setblocking(True)
    s.settimeout(10)


def echo_through(port, n, what, **kw):
    """n random bytes echoed through a TLS connection, then close_notify both ways; the version."""
    s = tls_connect(port, **kw)
    s.setblocking(False)
    echo_loop(s, n, what, (ssl.SSLWantWriteError, ssl.SSLWantReadError))
    version = s.version()
    s.unwrap()  # close_notify both ways (the client's becomes a FIN, the server's close comes back as one)
    s.close()
    return version


def read_exact(s, n, what):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        check(len(d) > 0, f"{what}: EOF after {buf!r}")
        buf += d
    return buf


def closed_within(sock, seconds, what):
    """The proxy closes `sock` (EOF or reset) within `seconds`; returns the time it took."""
    t0 = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, ssl.SSLEOFError, socket.timeout) as e:
        check(not isinstance(e, socket.timeout), f"{what}: still open after {seconds}s")
    return time.monotonic() - t0


class TlsEcho:
    """A TLS echo server (Python ssl, a thread per connection): echoes until the client's EOF or
    close_notify, then closes. Records the SNI of each handshake and counts the payload bytes."""

    def __init__(self, pem):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pem)
        self.names, self.bytes_in, self.handshakes = [], 0, 0
        self.ctx.sni_callback = lambda sock, name, c: self.names.append(name)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((L, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(30)
            t = self.ctx.wrap_socket(c, server_side=True)
            self.handshakes += 1
            while True:
                d = t.recv(1 << 16)
                if not d:
                    break
                self.bytes_in += len(d)
                t.sendall(d)
            try:
                t.unwrap()
            except (OSError, ssl.SSLError):
                pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def stop(self):
        self.lsock.close()


def plain_echo_through(port, n, what):
    """As echo_through, over a plain connection, ended by the client's FIN."""
    s = eslib.connect(port, timeout=10)
    s.setblocking(False)
    echo_loop(s, n, what, (BlockingIOError,))
    s.shutdown(socket.SHUT_WR)
    check_eq(s.recv(1), b"", f"{what}: the server's close reaches the client after the client's FIN")
    s.close()


def recv_plain(s, n):
    buf = b""
    s.settimeout(10)
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            break
        buf += d
    return buf


class SlowSink:
    """Reads slowly (64 KiB every 5 ms) until EOF, then answers b"got <n>" and closes."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((L, 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            c.settimeout(30)
            n = 0
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    n += len(d)
                    time.sleep(0.005)
                c.sendall(b"got %d" % n)
            except OSError:
                pass
            c.close()


def close_notify_behind_bulk(port, n):
    """Sends n bytes then close_notify (no TCP FIN) through memory BIOs; returns the server's answer."""
    raw = socket.create_connection((L, port), timeout=20)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx().wrap_bio(inc, out, server_hostname="site.test")

    def flush():
        data = out.read()
        if data:
            raw.sendall(data)

    def pump_in():
        d = raw.recv(65536)
        if not d:
            inc.write_eof()
        else:
            inc.write(d)
        return d

    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            pump_in()
    flush()
    obj.write(os.urandom(n))
    flush()
    try:
        obj.unwrap()  # close_notify out; the server's comes later
    except ssl.SSLWantReadError:
        pass
    flush()
    answer = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            answer += obj.read(65536)
            continue
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            break
        if not pump_in():
            break
    raw.close()
    return answer


def settle(server):
    """Waits until the sessions of the steps before have reached and left `server` (a client that
    closes right after its handshake still makes the proxy connect)."""
    time.sleep(0.3)
    eslib.poll_until(lambda: server.current == 0, 10, what="the earlier sessions to end")


def info(px):
    return reload_lib.show_info(px.sock)


def main(h):
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test", "*.b.test", "a.test"])
    ca = tls_lib.make_ca(h, "ca", "Test CA")
    other_ca = tls_lib.make_ca(h, "other", "Other CA")
    origin_pem = tls_lib.make_cert(h, "origin", "origin.test", ["origin.test", "x.b.test"], ca=ca)
    tls_echo = TlsEcho(origin_pem)
    sink = SlowSink()
    cli_ca = tls_lib.make_ca(h, "clients", "Clients CA")
    alice = tls_lib.make_client_cert(h, "alice", "alice", cli_ca)
    echo = h.echo_server(name="echo")
    srv_a = h.echo_server(banner=b"A:", name="a")
    srv_b = h.echo_server(banner=b"B:", name="b")
    sock = h.sock_path()
    p_route, p_insp, p_short = eslib.free_port(), eslib.free_port(), eslib.free_port()
    p_up, p_both, p_bad = eslib.free_port(), eslib.free_port(), eslib.free_port()
    p_req, p_opt, p_sink = eslib.free_port(), eslib.free_port(), eslib.free_port()
    p_q = eslib.free_port()
    cfg = (eslib.global_section(sock, nbthread=2)
           + eslib.defaults_section(connect="2s", client="10s", server="10s")
           + eslib.section("frontend fe_route", f"""
                bind {L}:{p_route} ssl crt {site} alpn h2,http/1.1
                use_backend be_a if {{ ssl_fc_sni -i a.test }}
                use_backend be_b if {{ ssl_fc_sni -m end .b.test }}
                default_backend be_echo
            """)
           + eslib.section("frontend fe_insp", f"""
                bind {L}:{p_insp} ssl crt {site}
                tcp-request inspect-delay 3s
                tcp-request content reject if {{ req.payload(0,4) -m str QUIT }}
                tcp-request content accept if {{ req.len ge 4 }}
                default_backend be_echo
            """)
           + eslib.section("frontend fe_short", f"""
                bind {L}:{p_short} ssl crt {site}
                timeout client 1500ms
                default_backend be_echo
            """)
           + eslib.section("frontend fe_req", f"""
                bind {L}:{p_req} ssl crt {site} ca-file {cli_ca[0]} verify required
                default_backend be_echo
            """)
           + eslib.section("frontend fe_opt", f"""
                bind {L}:{p_opt} ssl crt {site} ca-file {cli_ca[0]} verify optional
                use_backend be_a if {{ ssl_c_s_dn(CN) -m str alice }}
                default_backend be_echo
            """)
           + eslib.section("frontend fe_sink", f"""
                bind {L}:{p_sink} ssl crt {site}
                default_backend be_sink
            """)
           + eslib.section("backend be_sink", f"server k {L}:{sink.port}")
           + eslib.section("frontend fe_q", f"""
                bind {L}:{p_q}
                tcp-request inspect-delay 3s
                tcp-request content accept if {{ req.len ge 3 }}
                default_backend be_tls_q
            """)
           + eslib.section("backend be_tls_q",
                           f"timeout queue 10s\nserver t {L}:{tls_echo.port} ssl verify none maxconn 1")
           + eslib.section("frontend fe_up", f"""
                bind {L}:{p_up}
                default_backend be_tls
            """)
           + eslib.section("frontend fe_both", f"""
                bind {L}:{p_both} ssl crt {site}
                default_backend be_tls_fcsni
            """)
           + eslib.section("frontend fe_bad", f"""
                bind {L}:{p_bad}
                default_backend be_tls_bad
            """)
           + eslib.section("backend be_tls",
                           f"server t {L}:{tls_echo.port} ssl verify required ca-file {ca[0]} sni str(origin.test)")
           + eslib.section("backend be_tls_fcsni", f"server t {L}:{tls_echo.port} ssl verify none sni ssl_fc_sni")
           + eslib.section("backend be_tls_bad",
                           f"server t {L}:{tls_echo.port} ssl verify required ca-file {other_ca[0]} sni str(origin.test)")
           + eslib.section("backend be_echo", f"server e {L}:{echo.port}")
           + eslib.section("backend be_a", f"server a {L}:{srv_a.port}")
           + eslib.section("backend be_b", f"server b {L}:{srv_b.port}"))
    px = eslib.start_proxy(h, cfg, ports=[p_route, p_insp, p_short, p_up, p_both, p_bad, p_req, p_opt, p_sink, p_q],
                           sock=sock)
    before = info(px) if eslib.on_edgeshard() else None

    # 1) bulk both ways, TLS 1.3 and 1.2
    check_eq(echo_through(p_route, 64 * MiB, "64 MiB TLS 1.3"), "TLSv1.3", "version negotiated")
    check_eq(echo_through(p_route, 16 * MiB, "16 MiB TLS 1.2", max_tls12=True), "TLSv1.2", "version negotiated")
    log("64 MiB (TLS 1.3) and 16 MiB (TLS 1.2) echoed byte-exact through the TLS tcp frontend")

    # 2) routing on the handshake's SNI; the server speaks first
    for sni, banner in (("a.test", b"A:"), ("A.TEST", b"A:"), ("x.b.test", b"B:")):
        s = tls_connect(p_route, sni=sni)
        check_eq(read_exact(s, 2, f"SNI {sni}"), banner, f"SNI {sni}: the server reached (its banner)")
        s.sendall(b"hello")
        check_eq(read_exact(s, 5, f"SNI {sni} echo"), b"hello", f"SNI {sni}: echo")
        s.close()
    s = tls_connect(p_route, sni=None)
    s.sendall(b"ping")
    check_eq(read_exact(s, 4, "no SNI"), b"ping", "no SNI: default_backend (plain echo, no banner)")
    s.close()
    log("ssl_fc_sni routes (-i, -m end), no SNI goes to default_backend")

    # 3) ALPN relayed as configured
    s = tls_connect(p_route, sni=None, alpn=["h2", "http/1.1"])
    check_eq(s.selected_alpn_protocol(), "h2", "ALPN h2 offered: h2 agreed (relayed to the server as is)")
    s.close()
    s = tls_connect(p_route, sni=None, alpn=["imap"])
    check_eq(s.selected_alpn_protocol(), None, "ALPN: an unknown protocol is not agreed")
    s.close()
    log("alpn h2,http/1.1 advertised as configured on a tcp bind")

    # 4) content rules on the decrypted payload
    settle(echo)
    accepts = echo.accepts
    s = tls_connect(p_insp, sni=None)
    s.sendall(b"QUIT now")
    closed_within(s, 3, "QUIT: rejected")
    s.close()
    check_eq(echo.accepts, accepts, "a rejected session reaches no server")
    s = tls_connect(p_insp, sni=None)
    s.sendall(b"HE")
    time.sleep(0.2)
    s.sendall(b"LO!")
    check_eq(read_exact(s, 5, "HELO"), b"HELO!", "req.len ge 4 on two records: accepted, bytes in order")
    s.close()
    log("tcp-request content rules read the decrypted payload (reject QUIT, accept req.len ge 4)")

    # 5) ends: the server's close is close_notify; a read to the end raises no ragged-EOF error
    s = tls_connect(p_route, sni=None)
    s.sendall(b"bye")
    check_eq(read_exact(s, 3, "bye"), b"bye", "echo before the end")
    raw_shut = s.unwrap()  # the client's close_notify -> FIN to the echo server -> it closes -> close_notify
    raw_shut.close()
    log("close_notify both ways")
    answer = close_notify_behind_bulk(p_sink, 4 * MiB)
    check_eq(answer, b"got %d" % (4 * MiB), "close_notify behind 4 MiB to a slow server: a FIN after the last byte")
    log("a close_notify queued behind 4 MiB reaches the slow server as a FIN after the last byte")

    # 6) bad input: nothing reaches a server; a stalled handshake ends at timeout client
    settle(echo)
    accepts = echo.accepts
    keep = tls_connect(p_route, sni=None)  # a session running meanwhile
    keep.sendall(b"alive")
    check_eq(read_exact(keep, 5, "session before bad input"), b"alive", "session before bad input")
    c = eslib.connect(p_route)
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    closed_within(c, 5, "plain text on the TLS port")
    c.close()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx().wrap_bio(inc, out, server_hostname="site.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    c = eslib.connect(p_route)
    c.sendall(hello[:len(hello) // 2])
    c.shutdown(socket.SHUT_WR)
    closed_within(c, 5, "half a ClientHello and a FIN")
    c.close()
    c = eslib.connect(p_short)
    c.sendall(hello[:len(hello) // 2])
    took = closed_within(c, 6, "stalled handshake")
    c.close()
    check(1.0 <= took <= 4.0, f"stalled handshake closed after {took:.2f}s (timeout client 1500ms)")
    keep.sendall(b"still")
    check_eq(read_exact(keep, 5, "session after bad input"), b"still", "the running session is not disturbed")
    keep.close()
    time.sleep(0.2)
    check_eq(echo.accepts, accepts + 1, "no server connection for the bad handshakes (only the running session)")
    log(f"bad handshakes closed, none reached a server; stalled handshake closed after {took:.2f}s")

    # 7) client certificates
    settle(echo)
    accepts = echo.accepts
    try:
        s = tls_connect(p_req, sni=None)
        s.sendall(b"x")
        closed_within(s, 5, "verify required, no certificate")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        pass  # refused in the handshake (TLS 1.2) or at the first read (TLS 1.3)
    s = tls_connect(p_req, sni=None, cert=alice)
    s.sendall(b"cert")
    check_eq(read_exact(s, 4, "verify required, alice"), b"cert", "verify required: a certificate from the CA is served")
    s.close()
    s = tls_connect(p_opt, sni=None, cert=alice)
    check_eq(read_exact(s, 2, "ssl_c_s_dn alice"), b"A:", "use_backend on ssl_c_s_dn(CN): alice reaches be_a")
    s.close()
    s = tls_connect(p_opt, sni=None)
    s.sendall(b"anon")
    check_eq(read_exact(s, 4, "verify optional, no certificate"), b"anon", "no certificate: default_backend")
    s.close()
    settle(echo)
    check_eq(echo.accepts, accepts + 2, "the refused client reached no server")
    log("client certificates on a tcp bind: verify required refuses none, ssl_c_s_dn(CN) routes")

    # 8) servers reached over TLS
    plain_echo_through(p_up, 8 * MiB, "plain client -> TLS server, 8 MiB")
    check_eq(tls_echo.names[-1:], ["origin.test"], "SNI sent to the server (sni str(origin.test))")
    check_eq(echo_through(p_both, 8 * MiB, "TLS client -> TLS server, 8 MiB", sni="x.b.test"), "TLSv1.3",
             "client's version")
    check_eq(tls_echo.names[-1:], ["x.b.test"], "SNI sent to the server (sni ssl_fc_sni)")
    for i in range(4):  # over two shards: at least two on one shard, where the second resumes (ssl-reuse)
        c = eslib.connect(p_up)
        c.sendall(b"again")
        check_eq(recv_plain(c, 5), b"again", f"short session {i} to the TLS server")
        c.close()
    first = eslib.connect(p_q)  # holds the server's one slot
    first.sendall(b"1st")
    check_eq(recv_plain(first, 3), b"1st", "the first session reaches the maxconn 1 server")
    second = eslib.connect(p_q)
    second.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pieces = [b"%03d," % i for i in range(60)]
    for p in pieces:  # queued: each segment a receive of its own
        second.sendall(p)
        time.sleep(0.005)
    first.close()  # the slot frees: the second connects, handshakes, then sends what waited
    want = b"".join(pieces)
    check_eq(recv_plain(second, len(want)), want, "60 segments sent while queued arrive in order after the handshake")
    second.close()
    got = tls_echo.bytes_in
    c = eslib.connect(p_bad)
    c.sendall(b"secret")
    closed_within(c, 5, "a server whose certificate does not verify")
    c.close()
    time.sleep(0.2)
    check_eq(tls_echo.bytes_in, got, "no byte reaches a server whose certificate did not verify")
    log("tcp backends reach servers over TLS: 8 MiB echoed from a plain and a TLS client, SNI str() and "
        "ssl_fc_sni sent, a server failing verification gets nothing")
    tls_echo.stop()

    if eslib.on_edgeshard():
        after = info(px)
        srv_fail = int(after["SslServerHandshakeFailures"]) - int(before["SslServerHandshakeFailures"])
        check(srv_fail >= 1, f"SslServerHandshakeFailures counted the server that did not verify (+{srv_fail})")
        srv_hs = int(after["SslServerHandshakes"]) - int(before["SslServerHandshakes"])
        srv_res = int(after["SslServerResumed"]) - int(before["SslServerResumed"])
        check_eq(srv_hs, 8, "SslServerHandshakes: one per session to a TLS server")
        check(srv_res >= 1, f"SslServerResumed: sessions to the server resume earlier ones on their shard ({srv_res})")
        hs = int(after["SslHandshakes"]) - int(before["SslHandshakes"])
        fails = int(after["SslHandshakeFailures"]) - int(before["SslHandshakeFailures"])
        check(hs >= 12, f"SslHandshakes counted the tcp sessions' handshakes (+{hs})")
        check(fails >= 3, f"SslHandshakeFailures counted the bad handshakes (+{fails})")
        st = eslib.stat_map(eslib.ctl_json(px.sock, "show stat json"))
        log(f"show info: +{hs} handshakes, +{fails} failures")
        dreq = eslib.num(st[("fe_insp", "FRONTEND")]["dreq"])
        check(dreq >= 1, f"fe_insp dreq counts the rejected session ({dreq})")
        be = st[("be_echo", "BACKEND")]
        check(eslib.num(be["bin"]) >= 80 * MiB and eslib.num(be["bout"]) >= 80 * MiB,
              f"be_echo bytes in/out count the plaintext both ways ({be['bin']}, {be['bout']})")
        econ = eslib.num(st[("be_tls_bad", "t")]["econ"])
        check(econ >= 1, f"be_tls_bad/t econ counts the failed server handshake ({econ})")
        for b in ("be_tls", "be_tls_fcsni"):
            row = st[(b, "BACKEND")]
            check(eslib.num(row["bin"]) >= 8 * MiB and eslib.num(row["bout"]) >= 8 * MiB,
                  f"{b} bytes in/out count the plaintext both ways ({row['bin']}, {row['bout']})")


if __name__ == "__main__":
    eslib.run(main)
