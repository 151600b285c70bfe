#!/usr/bin/env python3
"""A `mode tcp` frontend whose only backend is `mode http` (HAProxy upgrades the connection to HTTP; real
files do this when `defaults` says `mode tcp` and only the backend says `mode http`). The same file runs
through HAProxy 2.6 with ES_TEST_PEER=haproxy; every value asserted is what 2.6.12 does:
  - two requests on one client connection: both answered, each through the backend's `http-request
    set-header` (the origin sees it) and `http-response set-header` (the client sees it); the connection
    stays open between them (keep-alive), and the origin's connection is reused;
  - an HTTP/1.0 request: answered, then the connection closes;
  - a malformed request: 400, and it never reaches the origin;
  - the frontend's `option tcplog` writes one line per request, naming `fe be_http/s1`;
  - `show stat`: the frontend is still a tcp one (mode field), the backend an http one;
  - the frontend's own `http-request` and `http-response` rules act on every request (HAProxy runs them on
    the upgraded streams, though it warns they are ignored); its `option forwardfor` does not.
HTTP beside another protocol on one port (frontend fe2: `tcp-request inspect-delay`, `tcp-request content accept
if HTTP`, `use_backend be_http if HTTP`, `default_backend be_tcp`, an echo server):
  - two requests on one connection: both through be_http's rules, the frontend's own http-request rule too;
  - a request head sent in three pieces 200 ms apart waits for the whole head, then goes to be_http;
  - bytes that are not HTTP go to the tcp backend (echoed back);
  - the tcplog lines name `fe2 be_http/s1` per request and `fe2 be_tcp/e` for the other connection;
  - behind a PROXY header (fe3, `accept-proxy`) with `tcp-request content track-sc0 src`: the backend's `%[src]`
    is the carried address, and its stick entry counts conn_cnt 2 and http_req_cnt 2 for two requests on one
    connection (HAProxy runs the content rules again for each request after the first).
A dynamic `use_backend be_%[var(sess.kind)]` naming the http backend (fe4) upgrades the connection the same way.
edgeshard only: such a frontend with a TLS bind is refused by `-c`, naming the line and the way to serve it.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


class Origin:
    """A keep-alive HTTP/1.1 origin: answers every request with the X-Via header it got and its path."""

    def __init__(self, h):
        self.lock = threading.Lock()
        self.requests = []
        self.fe_headers = []  # what the frontend's ignored http rules and options would have added
        self.srcs = []  # X-Src: the client address the backend's rule saw
        self.conns = 0
        self.srv = h.threaded_server(self._handle, name="origin", conn_timeout=20)
        self.port = self.srv.port

    def _handle(self, c, idx, srv):
        with self.lock:
            self.conns += 1
        buf = b""
        while True:
            head, buf = eslib.recv_head(c, buf)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            via = ""
            for l in lines[1:]:
                k, _, v = l.partition(":")
                if k.strip().lower() == "x-via":
                    via = v.strip()
                if k.strip().lower() in ("x-fe", "x-forwarded-for"):
                    with self.lock:
                        self.fe_headers.append(l)
                if k.strip().lower() == "x-src":
                    with self.lock:
                        self.srcs.append(v.strip())
            with self.lock:
                self.requests.append(path)
            body = f"path={path} via={via}".encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def seen(self):
        with self.lock:
            return list(self.requests), self.conns


def main(h):
    origin = Origin(h)
    syslog = eslib.UdpLog()
    h.servers.append(syslog)
    port = eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.global_section(sock, nbthread=1) + eslib.defaults_section(connect="1s", client="5s", server="5s") +
           eslib.section("frontend fe", f"""
               bind {L}:{port}
               option tcplog
               log {L}:{syslog.port} local0
               option forwardfor
               http-request set-header X-Fe yes
               http-response set-header X-Fe-Resp yes
               default_backend be_http""") +
           eslib.section("backend be_http", f"""
               mode http
               http-request set-header X-Via edge
               http-request set-header X-Src %[src]
               http-response set-header X-Resp yes
               server s1 {L}:{origin.port}"""))
    echo = h.echo_server(banner=b"")
    port2 = eslib.free_port()
    cfg += (eslib.section("frontend fe2", f"""
                bind {L}:{port2}
                option tcplog
                log {L}:{syslog.port} local0
                tcp-request inspect-delay 2s
                tcp-request content accept if HTTP
                http-request set-header X-Fe yes
                use_backend be_http if HTTP
                default_backend be_tcp""") +
            eslib.section("backend be_tcp", f"""
                server e {L}:{echo.port}"""))
    port3 = eslib.free_port()
    cfg += (eslib.section("frontend fe3", f"""
                bind {L}:{port3} accept-proxy
                tcp-request inspect-delay 2s
                tcp-request content track-sc0 src table st
                tcp-request content accept if HTTP
                use_backend be_http if HTTP
                default_backend be_tcp""") +
            eslib.section("backend st", """
                stick-table type ip size 1k store http_req_cnt,conn_cnt"""))
    port4 = eslib.free_port()
    cfg += eslib.section("frontend fe4", f"""
                bind {L}:{port4}
                tcp-request inspect-delay 2s
                tcp-request content set-var(sess.kind) str(http) if HTTP
                tcp-request content accept if HTTP
                use_backend be_%[var(sess.kind)] if HTTP
                default_backend be_tcp""")
    eslib.start_proxy(h, cfg, ports=[port, port2, port3, port4], sock=sock)

    c = eslib.HttpClient(port, timeout=5)
    try:
        c.send(eslib.http_request_bytes("GET", "/one"))
        r1 = c.read_response()
        check_eq((r1.status, r1.body), (200, b"path=/one via=edge"), "the first request, through the backend's rule")
        check_eq(r1.header("x-resp"), "yes", "the backend's http-response rule")
        check_eq(r1.header("x-fe-resp"), "yes", "the frontend's http-response rule")
        c.send(eslib.http_request_bytes("GET", "/two"))
        r2 = c.read_response()
        check_eq((r2.status, r2.body), (200, b"path=/two via=edge"), "a second request on the same connection")
    finally:
        c.close()
    seen, conns = origin.seen()
    check_eq(seen, ["/one", "/two"], "the origin got both requests")
    got = sorted(x.lower().replace(" ", "") for x in origin.fe_headers)
    check_eq(got, ["x-fe:yes", "x-fe:yes"],
             "the tcp frontend's http-request rule acts on each request; its option forwardfor does not")
    check_eq(conns, 1, "one origin connection served both")

    c = eslib.HttpClient(port, timeout=5)
    try:
        c.send(eslib.http_request_bytes("GET", "/old", version="HTTP/1.0"))
        r = c.read_response()
        check_eq((r.status, r.body), (200, b"path=/old via=edge"), "an HTTP/1.0 request")
        how, _, _ = c.wait_closed(5)
        check_eq(how, "eof", "an HTTP/1.0 exchange ends the connection")
    finally:
        c.close()

    before = origin.seen()[0]
    resp, how, err = eslib.raw_exchange(port, b"BAD REQ\r\n\r\n")
    check(resp is not None and resp.status == 400, f"a malformed request gets 400 ({how}, {err})")
    check_eq(origin.seen()[0], before, "the malformed request never reached the origin")

    line = syslog.wait_for(" fe be_http/s1 ", 5)
    eslib.poll_until(lambda: len([x for x in syslog.lines if " fe be_http/s1 " in x]) >= 3, 5,
                     what=f"a tcplog line per request (got {syslog.lines!r})")
    log(f"tcplog line: {line}")

    st = eslib.stat_map(eslib.ctl_json(sock, "show stat json"))
    fe_mode = st.get(("fe", "FRONTEND"), {}).get("mode")
    be_mode = st.get(("be_http", "BACKEND"), {}).get("mode")
    check_eq((fe_mode, be_mode), ("tcp", "http"), "show stat: the frontend stays tcp, the backend is http")

    # ---- HTTP beside another protocol on one port
    origin.fe_headers.clear()
    c = eslib.HttpClient(port2, timeout=5)
    try:
        for path in ("/mux1", "/mux2"):
            c.send(eslib.http_request_bytes("GET", path))
            r = c.read_response()
            check_eq((r.status, r.body, r.header("x-resp")), (200, f"path={path} via=edge".encode(), "yes"),
                     f"{path} on fe2 through be_http's rules")
    finally:
        c.close()
    got = sorted(x.lower().replace(" ", "") for x in origin.fe_headers)
    check_eq(got, ["x-fe:yes", "x-fe:yes"], "fe2's own http-request rule acts on each upgraded request")
    raw = eslib.http_request_bytes("GET", "/slow", version="HTTP/1.0")
    sk = eslib.connect(port2)
    try:
        for piece in (raw[:5], raw[5:14], raw[14:]):
            sk.sendall(piece)
            time.sleep(0.2)
        how, data, _ = eslib.wait_eof(sk, 5)
    finally:
        sk.close()
    check(data.startswith(b"HTTP/1.1 200") and data.endswith(b"path=/slow via=edge"),
          f"a head sent in three pieces waits whole, then goes to be_http ({how}): {data[-80:]!r}")
    sk = eslib.connect(port2)
    try:
        sk.sendall(b"HELLO tcp\r\n")
        got_tcp = eslib.recv_exact(sk, 11, timeout=5, what="the echo of a non-HTTP hello")
    finally:
        sk.close()
    check_eq(got_tcp, b"HELLO tcp\r\n", "bytes that are not HTTP go to the tcp backend")
    syslog.wait_for(" fe2 be_tcp/e ", 5)
    eslib.poll_until(lambda: len([x for x in syslog.lines if " fe2 be_http/s1 " in x]) >= 3, 5,
                     what=f"a tcplog line per upgraded request (got {syslog.lines!r})")

    # ---- behind a PROXY sender, tracking the carried address: what the session carried goes on with it
    origin.srcs.clear()
    c = eslib.HttpClient(port3, timeout=5)
    try:
        c.send(b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\n" + eslib.http_request_bytes("GET", "/pp1"))
        r = c.read_response()
        check_eq(r.status, 200, "an upgraded request behind a PROXY header")
        c.send(eslib.http_request_bytes("GET", "/pp2"))
        r = c.read_response()
        check_eq(r.status, 200, "its second request")
    finally:
        c.close()
    check_eq(origin.srcs, ["192.0.2.7", "192.0.2.7"], "the backend's %[src] is the carried address")
    table = eslib.ctl_raw(sock, "show table st")
    check("key=192.0.2.7 " in table and "conn_cnt=2" in table and "http_req_cnt=2" in table,
          f"the entry tracked before the upgrade counts both requests (the content rules run again per request, "
          f"HAProxy's): {table!r}")

    # ---- the http backend named per connection (a dynamic use_backend): the connection is upgraded too
    c = eslib.HttpClient(port4, timeout=5)
    try:
        for path in ("/dyn1", "/dyn2"):
            c.send(eslib.http_request_bytes("GET", path))
            r = c.read_response()
            check_eq((r.status, r.body), (200, f"path={path} via=edge".encode()),
                     f"{path} on fe4: use_backend be_%[var(sess.kind)] names be_http")
    finally:
        c.close()
    sk = eslib.connect(port4)
    try:
        sk.sendall(b"HELLO dyn\r\n")
        got_tcp = eslib.recv_exact(sk, 11, timeout=5, what="the echo of a non-HTTP hello on fe4")
    finally:
        sk.close()
    check_eq(got_tcp, b"HELLO dyn\r\n", "fe4: bytes that are not HTTP go to the default tcp backend")

    if eslib.on_edgeshard():
        import tls_lib  # noqa: E402
        pem = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
        text = (eslib.global_section(None, nbthread=1) + eslib.defaults_section() +
                eslib.section("frontend fe", f"""
                    bind {L}:{port} ssl crt {pem}
                    tcp-request inspect-delay 2s
                    tcp-request content accept if HTTP
                    use_backend be_http if HTTP
                    default_backend be_tcp""") +
                eslib.section("backend be_http", f"""
                    mode http
                    server s1 {L}:{origin.port}""") +
                eslib.section("backend be_tcp", f"""
                    server s1 {L}:{origin.port}"""))
        eslib.check_refused(h, text, "use_backend be_http if HTTP",
                            ["terminates TLS", "'mode http' frontend of their own"],
                            "HTTP after content rules on a TLS bind")
    log(f"tcp frontend, http backend: keep-alive through the backend's rules, 1 origin connection, HTTP/1.0 closed, "
        f"400 kept from the origin, tcplog per request, stats fe={fe_mode} be={be_mode}; HTTP and a tcp protocol "
        f"on one port: upgraded requests, a slow head, a non-HTTP hello echoed")


if __name__ == "__main__":
    eslib.run_http(main)
