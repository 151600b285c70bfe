#!/usr/bin/env python3
"""`balance first` (servers with `maxconn 2`, nbthread 1), mode http and mode tcp, as HAProxy 2.6 does
it (the same file runs through HAProxy with ES_TEST_PEER=haproxy; every value asserted is what 2.6.12
does). Three origins s1, s2, s3 answer with `X-Server: sN` (http; a request to /hold/<key> is held by
the origin until the test sets the key's Event) or send the banner `sN` at once and echo (tcp).
  1. Idle servers: every new request (each on its own client connection) and every new tcp connection
     goes to s1, the first server in declaration order (10 each).
  2. Filling: 2 held requests/connections on s1 -> the 3rd and 4th go to s2, the 5th and 6th to s3;
     show stat: scur 2/2/2. The 7th waits in the backend queue (`timeout queue 5s`): no answer and no
     server connection, the BACKEND row shows qcur 1. Releasing one request on s2 (http) / closing one
     client connection of s2 (tcp) frees a slot: the queued one is served by that server (s2) at once.
     The 8th, with everything full again, is served by s1 once a held s1 request is released.
  3. With every server idle again the next request goes to s1 again (no stickiness to the last used).
  4. `set server be/s1 state maint`: new requests go to s2; `state ready`: back to s1.
     `state drain` on s1: new requests go to s2 too (drain = weight 0 for new traffic).
  5. Queue timeout: a backend with one server `maxconn 1` and `timeout queue 1s`: a 2nd request while
     the first is held gets 503 after ~1 s; tcp: the 2nd connection is closed (FIN) after ~1 s
     with no byte.
  6. `id`: `server s1 ... id 3`, `server s2 ... id 1`, `server s3 ... id 2` -> s2 first, then (s2 full)
     s3, then s1. HAProxy orders `balance first` by server id, not by declaration order.
     HAProxy-only: edgeshard may refuse the `id` keyword (then it must say so naming the line).
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


class Origin:
    """HTTP/1.1 origin `name`: one request per connection (`Connection: close`), `X-Server: name`.
    /hold/<key> is answered only once gate(key) is set (bounded: 15 s, then 500)."""

    def __init__(self, h, name, gates):
        self.name = name
        self.gates = gates
        self.lock = threading.Lock()
        self.got = []   # paths received, in order
        self.srv = h.threaded_server(self._handle, name=name, conn_timeout=20)
        self.port = self.srv.port

    def _handle(self, c, idx, srv):
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        path = buf.split(b" ", 2)[1].decode()
        with self.lock:
            self.got.append(path)
        status = "200 OK"
        if path.startswith("/hold/"):
            if not self.gates.get(path).wait(15):
                status = "500 Held Too Long"
        body = self.name.encode()
        c.sendall(f"HTTP/1.1 {status}\r\nX-Server: {self.name}\r\nContent-Length: {len(body)}\r\n"
                  f"Connection: close\r\n\r\n".encode() + body)

    def seen(self):
        with self.lock:
            return list(self.got)


class Gates(dict):
    def get(self, key):
        return self.setdefault(key, threading.Event())


def held_request(port, key, origins, gates, want):
    """Sends GET /hold/<key> on a new connection and waits until origin `want` holds it
    (Failure naming where it went otherwise). Returns the open client."""
    gates.get(f"/hold/{key}")
    c = eslib.HttpClient(port, timeout=10)
    c.send(eslib.http_request_bytes("GET", f"/hold/{key}"))
    where = eslib.poll_until(lambda: [n for n, o in origins.items() if f"/hold/{key}" in o.seen()], 5,
                             what=f"an origin to receive /hold/{key}")
    check_eq(where, [want], f"/hold/{key}: the origin that received it")
    return c


def release(gates, key, c, want):
    gates.get(f"/hold/{key}").set()
    r = c.read_response(timeout=5)
    c.close()
    check_eq((r.status, r.header("x-server")), (200, want), f"/hold/{key}: the answer once released")


def get(port, path="/"):
    r = eslib.http_get(port, path, timeout=5)
    check_eq(r.status, 200, f"GET {path}: status ({r.brief()})")
    return r.header("x-server")


def tcp_conn(port, timeout=5.0):
    """A tcp connection through the proxy: (socket, banner or None if none within `timeout`)."""
    s = eslib.connect(port, timeout=5)
    if timeout <= 0:
        return s, None
    s.settimeout(timeout)
    try:
        b = s.recv(2)
    except socket.timeout:
        return s, None
    return s, b.decode() or None


def tcp_name(s, timeout=5.0):
    return eslib.recv_exact(s, 2, timeout=timeout, what="server banner").decode()


def tcp_once(es, be, port):
    """One tcp connection: its server, then closed; waits until the backend has no session left
    (a closed client connection frees its server slot only once the proxy has seen the close)."""
    s, name = tcp_conn(port)
    s.close()
    eslib.poll_until(lambda: eslib.num(es.stats()[(be, "BACKEND")].get("scur")) == 0, 5,
                     what=f"{be} scur back to 0")
    return name


def scur(es, be, names):
    m = es.stats()
    return [eslib.num(m[(be, n)].get("scur")) for n in names]


def qcur(es, be):
    return eslib.num(es.stats()[(be, "BACKEND")].get("qcur"))


def main(h):
    sock = h.sock_path()
    gates = Gates()
    origins = {n: Origin(h, n, gates) for n in ("s1", "s2", "s3")}
    echo = {n: h.echo_server(banner=n.encode(), name=f"echo-{n}") for n in ("s1", "s2", "s3")}
    P = {k: eslib.free_port() for k in ("http", "tcp", "qh", "qt", "id", "idt")}

    def servers(ports, extra="maxconn 2"):
        return "\n".join(f"server {n} {L}:{p} {extra}" for n, p in ports)

    o_ports = [(n, o.port) for n, o in origins.items()]
    e_ports = [(n, e.port) for n, e in echo.items()]
    cfg = eslib.http_global(sock, nbthread=1) + eslib.http_defaults(extra="timeout queue 5s")
    cfg += eslib.section("frontend fe_http", f"bind {L}:{P['http']}\ndefault_backend be_http")
    cfg += eslib.section("backend be_http", f"balance first\n{servers(o_ports)}")
    cfg += eslib.section("frontend fe_tcp", f"mode tcp\nbind {L}:{P['tcp']}\ndefault_backend be_tcp")
    cfg += eslib.section("backend be_tcp", f"mode tcp\nbalance first\n{servers(e_ports)}")
    cfg += eslib.section("frontend fe_qh", f"bind {L}:{P['qh']}\ndefault_backend be_qh")
    cfg += eslib.section("backend be_qh", f"balance first\ntimeout queue 1s\n{servers(o_ports[:1], 'maxconn 1')}")
    cfg += eslib.section("frontend fe_qt", f"mode tcp\nbind {L}:{P['qt']}\ndefault_backend be_qt")
    cfg += eslib.section("backend be_qt", f"mode tcp\nbalance first\ntimeout queue 1s\n"
                                          f"{servers(e_ports[:1], 'maxconn 1')}")
    es = eslib.start_proxy(h, cfg, ports=[P[k] for k in ("http", "tcp", "qh", "qt")], sock=sock)

    # ---- 1. idle servers: always the first one -------------------------------------------------
    got = [get(P["http"], f"/idle/{i}") for i in range(10)]
    check_eq(got, ["s1"] * 10, "1: http, idle servers: every request goes to s1")
    got = [tcp_once(es, "be_tcp", P["tcp"]) for _ in range(10)]
    check_eq(got, ["s1"] * 10, "1: tcp, idle servers: every connection goes to s1")

    # ---- 2. http: filling s1, s2, s3, then the queue --------------------------------------------
    plan = ["s1", "s1", "s2", "s2", "s3", "s3"]
    held = {i: held_request(P["http"], f"h{i}", origins, gates, want) for i, want in enumerate(plan)}
    check_eq(scur(es, "be_http", ["s1", "s2", "s3"]), [2, 2, 2], "2: http: scur with 6 held requests")
    log("2: http: held requests 1-6 landed on s1 s1 s2 s2 s3 s3")
    q = eslib.HttpClient(P["http"], timeout=10)
    q.send(eslib.http_request_bytes("GET", "/queued/1"))
    eslib.poll_until(lambda: qcur(es, "be_http") == 1, 5, what="be_http BACKEND qcur 1")
    check(eslib.nothing_arrives(q.sock, 0.5), "2: http: the 7th request gets nothing while all are full")
    check(not any("/queued/1" in o.seen() for o in origins.values()), "2: http: no origin got the 7th yet")
    release(gates, "h3", held.pop(3), "s2")
    r = q.read_response(timeout=5)
    q.close()
    check_eq((r.status, r.header("x-server")), (200, "s2"), "2: http: the queued request goes to the freed s2")
    check_eq(qcur(es, "be_http"), 0, "2: http: queue empty again")
    # all full again (s2 gets a new held one), queue one more, free a slot on s1
    held[6] = held_request(P["http"], "h6", origins, gates, "s2")
    q = eslib.HttpClient(P["http"], timeout=10)
    q.send(eslib.http_request_bytes("GET", "/queued/2"))
    eslib.poll_until(lambda: qcur(es, "be_http") == 1, 5, what="be_http BACKEND qcur 1 (again)")
    release(gates, "h0", held.pop(0), "s1")
    r = q.read_response(timeout=5)
    q.close()
    check_eq((r.status, r.header("x-server")), (200, "s1"), "2: http: the queued request goes to the freed s1")
    for i in list(held):
        release(gates, f"h{i}", held.pop(i), plan[i] if i < 6 else "s2")
    eslib.poll_until(lambda: scur(es, "be_http", ["s1", "s2", "s3"]) == [0, 0, 0], 5, what="be_http idle")

    # ---- 3. idle again: s1 ------------------------------------------------------------------------
    check_eq(get(P["http"], "/again"), "s1", "3: http: idle again -> s1")

    # ---- 2 (tcp). filling and the queue ---------------------------------------------------------
    conns = []
    for i, want in enumerate(plan):
        s, name = tcp_conn(P["tcp"])
        check_eq(name, want, f"2: tcp: connection {i + 1} lands on")
        conns.append(s)
    check_eq(scur(es, "be_tcp", ["s1", "s2", "s3"]), [2, 2, 2], "2: tcp: scur with 6 open connections")
    qs, name = tcp_conn(P["tcp"], timeout=0.5)
    check_eq(name, None, "2: tcp: the 7th connection gets no banner while all are full")
    eslib.poll_until(lambda: qcur(es, "be_tcp") == 1, 5, what="be_tcp BACKEND qcur 1")
    conns.pop(3).close()    # a connection of s2
    check_eq(tcp_name(qs), "s2", "2: tcp: the queued connection goes to the freed s2")
    conns.append(qs)
    qs, name = tcp_conn(P["tcp"], timeout=0.3)
    check_eq(name, None, "2: tcp: full again, the 8th waits")
    conns.pop(0).close()    # a connection of s1
    check_eq(tcp_name(qs), "s1", "2: tcp: the queued connection goes to the freed s1")
    qs.sendall(b"ping")
    check_eq(eslib.recv_exact(qs, 4, what="echo"), b"ping", "2: tcp: the dequeued connection echoes")
    for s in conns + [qs]:
        s.close()
    eslib.poll_until(lambda: scur(es, "be_tcp", ["s1", "s2", "s3"]) == [0, 0, 0], 5, what="be_tcp idle")
    check_eq(tcp_once(es, "be_tcp", P["tcp"]), "s1", "3: tcp: idle again -> s1")

    # ---- 4. maint / ready / drain --------------------------------------------------------------
    for be, port, is_tcp in (("be_http", P["http"], False), ("be_tcp", P["tcp"], True)):
        def one():
            if is_tcp:
                return tcp_once(es, be, port)
            return get(port, "/m")
        out = es.ctl(f"set server {be}/s1 state maint")
        check_eq(out.strip(), "", f"4: `set server {be}/s1 state maint` answers nothing")
        check_eq([one() for _ in range(4)], ["s2"] * 4, f"4: {be}: s1 in maint -> s2")
        es.ctl(f"set server {be}/s1 state ready")
        check_eq([one() for _ in range(2)], ["s1"] * 2, f"4: {be}: s1 ready -> s1")
        es.ctl(f"set server {be}/s1 state drain")
        check_eq([one() for _ in range(2)], ["s2"] * 2, f"4: {be}: s1 in drain -> s2")
        es.ctl(f"set server {be}/s1 state ready")
        check_eq(one(), "s1", f"4: {be}: ready again -> s1")

    # ---- 5. queue timeout -----------------------------------------------------------------------
    c0 = held_request(P["qh"], "qt0", origins, gates, "s1")
    t0 = time.monotonic()
    r = eslib.http_get(P["qh"], "/qtimeout", timeout=6)
    dt = time.monotonic() - t0
    check_eq(r.status, 503, f"5: http: queue timeout -> 503 ({r.brief()})")
    eslib.check_range(dt, 0.8, 3.0, "5: http: the 503 comes after `timeout queue 1s`")
    release(gates, "qt0", c0, "s1")
    t_hold, name = tcp_conn(P["qt"])
    check_eq(name, "s1", "5: tcp: the first connection")
    t0 = time.monotonic()
    s, _ = tcp_conn(P["qt"], timeout=0)
    how, data, _ = eslib.wait_eof(s, 6)
    dt = time.monotonic() - t0
    s.close()
    t_hold.close()
    check(how in ("eof", "reset") and data == b"", f"5: tcp: queue timeout closes, no byte ({how}, {data!r})")
    eslib.check_range(dt, 0.8, 3.0, "5: tcp: closed after `timeout queue 1s`")
    log(f"5: tcp queue timeout: {how} after {dt:.2f}s")

    # ---- 6. `id` orders `balance first` -------------------------------------------------------
    id_checks(h, origins, echo, gates, P)


def id_checks(h, origins, echo, gates, P):
    ids = {"s1": 3, "s2": 1, "s3": 2}
    sock = h.sock_path("id.sock")
    srv = lambda pairs: "\n".join(f"server {n} {L}:{p} maxconn 2 id {ids[n]}" for n, p in pairs)  # noqa: E731
    cfg = eslib.http_global(sock, nbthread=1) + eslib.http_defaults(extra="timeout queue 5s")
    cfg += eslib.section("frontend fe_id", f"bind {L}:{P['id']}\ndefault_backend be_id")
    cfg += eslib.section("backend be_id", "balance first\n" + srv([(n, o.port) for n, o in origins.items()]))
    cfg += eslib.section("frontend fe_idt", f"mode tcp\nbind {L}:{P['idt']}\ndefault_backend be_idt")
    cfg += eslib.section("backend be_idt", "mode tcp\nbalance first\n" + srv([(n, e.port) for n, e in echo.items()]))
    if eslib.on_edgeshard():
        path = h.write("id.cfg", cfg)
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
        if r.returncode != 0:
            # edgeshard may refuse `id`: it must then say which line and keyword
            check("id" in r.stderr and f"{path}:" in r.stderr,
                  f"6: edgeshard refuses `id`, naming the file:line and keyword: {r.stderr.strip()!r}")
            log(f"6: edgeshard refuses server `id`: {r.stderr.strip()[:200]}")
            return
    es = eslib.start_proxy(h, cfg, ports=[P["id"], P["idt"]], sock=sock, name="proxy-id")
    check_eq([get(P["id"], f"/id/{i}") for i in range(4)], ["s2"] * 4,
             "6: http: `id 1` on s2 -> s2 first, whatever the declaration order")
    order = ["s2", "s2", "s3", "s3", "s1", "s1"]
    held = [held_request(P["id"], f"id{i}", origins, gates, want) for i, want in enumerate(order)]
    log("6: http: filling order by id: s2 s2 s3 s3 s1 s1")
    for i, c in enumerate(held):
        release(gates, f"id{i}", c, order[i])
    conns = []
    for i, want in enumerate(order):
        s, name = tcp_conn(P["idt"])
        check_eq(name, want, f"6: tcp, by id: connection {i + 1}")
        conns.append(s)
    for s in conns:
        s.close()
    es.stop()


if __name__ == "__main__":
    eslib.run_http(main)
