#!/usr/bin/env python3
"""HTTP log timers in a custom `log-format`, as HAProxy 2.6 computes them (the same file runs through
HAProxy with ES_TEST_PEER=haproxy; every value asserted is what 2.6.12 logs). A frontend with a plain
and a TLS bind logs over UDP syslog (a receiver here) with
  "tag=%HP Th=%Th Ti=%Ti TR=%TR Tq=%Tq Tw=%Tw Tc=%Tc Tr=%Tr Td=%Td Ta=%Ta Tt=%Tt Tu=%Tu ST=%ST ts=%ts
   old=%Tq/%Tw/%Tc/%Tr/%Tt"
and a second frontend with the 1.x style alone ("%HP %Tq/%Tw/%Tc/%Tr/%Tt %ST"). Timings are ranges
(the box is noisy); relations within 2 ms. Definitions as observed (ms; each request of a keep-alive
connection is its own log line and its own clock):
  Th  accept -> TLS handshake end (includes waiting for the ClientHello); 0 on a plain connection
      (even a silent one) and on every request after the first.
  Ti  idle: handshake end (or the end of the previous request) -> first byte of the request.
  TR  first byte -> whole request head.            Tq = Th + Ti + TR  (the 1.x %Tq)
  Tw  time in queues; Tc connect; Tr server response head; Td the rest (body, close).
  Tt  total from the accept (1st request) or the end of the previous request (next ones): Tt = Tq +
      Tw + Tc + Tr + Td.     Ta = Tt - Th - Ti (active)      Tu = Tt - Ti (includes Th)
  %Tq/%Tw/%Tc/%Tr/%Tt print exactly the same numbers as the named variables.
Cases: (a) fresh connection, request at once, origin 200 ms: Th 0, Ti/TR/Tw/Tc/Td ~0, Tr ~200,
  Ta = Tt = Tu ~200. (b) the 2nd request 300 ms after the 1st response on the same connection: Th 0,
  Ti ~300 (the client's own measure), Ta ~0, Tu ~0, Tt = Ti + Ta; closing the idle connection
  afterwards logs nothing. (c) the head in two parts 150 ms apart: TR ~150, Ti ~0. (w) a plain
  connection silent 150 ms before its request: Ti ~150, Th 0. (k) `Connection: close`: Ta = Tt.
  (d) TLS, handshake started 150 ms after the connect: Th ~150, Ti ~0, Ta ~0, Tu = Tt; the 2nd request
  of that connection: Th 0.
  -1: `http-request deny` (403, PR): Tw Tc Tr Td -1; connection refused (`retries 0`, 503, SC): Tc
  Tr Td -1, Tw measured; `timeout server 300ms` (504, sH): Tr Td -1, Tc measured, Tt ~300; a partial
  head then close, and a connection closed without a byte (no `dontlognull`): one line each, %HP
  `<BADREQ>`, 400, CR, TR Tq Tw Tc Tr Td -1, Th Ti 0, Ta = Tu = Tt = until the close; an invalid
  request (400, PR): the same -1s. Tq is -1 whenever TR is; Td whenever an earlier phase is.
"""
import os
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
FMT = ("tag=%HP Th=%Th Ti=%Ti TR=%TR Tq=%Tq Tw=%Tw Tc=%Tc Tr=%Tr Td=%Td Ta=%Ta Tt=%Tt Tu=%Tu "
       "ST=%ST ts=%ts old=%Tq/%Tw/%Tc/%Tr/%Tt")
KEYS = ("Th", "Ti", "TR", "Tq", "Tw", "Tc", "Tr", "Td", "Ta", "Tt", "Tu")



class Origin:
    """Keep-alive HTTP/1.1 origin: GET /d/<ms>/... answers after <ms> ms; /hang/... never answers
    (until the connection closes)."""

    def __init__(self, h):
        self.srv = h.threaded_server(self._handle, name="origin", conn_timeout=10)
        self.port = self.srv.port

    def _handle(self, c, idx, srv):
        buf = b""
        for _ in range(1000):
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].decode()
            parts = path.split("/")
            if parts[1] == "hang":
                c.recv(1)
                return
            if parts[1] == "d":
                time.sleep(int(parts[2]) / 1000.0)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def main(h):
    sock = h.sock_path()
    ulog = eslib.UdpLog()
    h.servers.append(ulog)
    origin = Origin(h)
    pem = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
    P = {k: eslib.free_port() for k in ("plain", "tls", "old")}
    dead = eslib.free_port()
    cfg = eslib.http_global(sock, nbthread=1) + eslib.http_defaults()
    cfg += eslib.section("frontend fe", f"""
        bind {L}:{P['plain']}
        bind {L}:{P['tls']} ssl crt {pem}
        log {L}:{ulog.port} local0
        log-format "{FMT}"
        http-request deny if {{ path_beg /deny/ }}
        use_backend be_dead if {{ path_beg /dead/ }}
        use_backend be_short if {{ path_beg /hang/ }}
        default_backend be""")
    cfg += eslib.section("frontend fe_old", f"""
        bind {L}:{P['old']}
        log {L}:{ulog.port} local0
        log-format "%HP %Tq/%Tw/%Tc/%Tr/%Tt %ST"
        default_backend be""")
    cfg += eslib.section("backend be", f"server s1 {L}:{origin.port}")
    cfg += eslib.section("backend be_dead", f"retries 0\nserver s1 {L}:{dead}")
    cfg += eslib.section("backend be_short", f"timeout server 300ms\nserver s1 {L}:{origin.port}")
    eslib.start_proxy(h, cfg, ports=list(P.values()), sock=sock)

    def line(tag):
        """The one log line of `tag` (its %HP) as {Th: int, ..., ST, ts, old}."""
        got = eslib.poll_until(lambda: [x for x in ulog.lines if f"tag={tag} " in x], 5, interval=0.02,
                               what=f"the log line of {tag} (last {ulog.lines[-3:]!r})")
        return parse(got[0], tag)

    def new_lines(n0, want, timeout=5):
        return eslib.poll_until(lambda: ulog.lines[n0:] if len(ulog.lines) >= n0 + want else None, timeout,
                                interval=0.02, what=f"{want} new log line(s) (last {ulog.lines[-3:]!r})")

    # ---- (a) fresh connection, request at once, origin answers after 200 ms ------------------
    c = eslib.HttpClient(P["plain"], timeout=5)
    r = c.request("GET", "/d/200/a")
    t_resp = time.monotonic()
    check_eq(r.status, 200, "a: status")
    a = line("/d/200/a")
    relations(a, "a")
    check_eq(a["Th"], 0, "a: Th is 0 on a plain connection")
    for k in ("Ti", "TR", "Tw", "Tc", "Td"):
        check_range(a[k], 0, 50, f"a: {k} (nothing waits)")
    check_range(a["Tr"], 190, 600, "a: Tr = the origin's 200 ms")
    check_range(a["Tt"], 190, 650, "a: Tt")
    check_eq((a["ST"], a["ts"]), ("200", "--"), "a: status and termination state")

    # ---- (b) keep-alive: the 2nd request 300 ms after the 1st response -----------------------
    eslib.poll_until(lambda: time.monotonic() >= t_resp + 0.3, 1, interval=0.01, what="300 ms")
    idle = time.monotonic() - t_resp
    r = c.request("GET", "/d/0/b")
    check_eq(r.status, 200, "b: status")
    b = line("/d/0/b")
    relations(b, "b")
    check_eq(b["Th"], 0, "b: Th is 0 on the 2nd request")
    check_range(b["Ti"], 290, 600, "b: Ti = the idle time since the previous response")
    check_range(b["Ti"] - idle * 1000, -60, 30, "b: Ti matches the client's measure of the idle time")
    check_range(b["TR"], 0, 50, "b: TR")
    check_range(b["Ta"], 0, 50, "b: Ta excludes the idle time")
    check_range(b["Tu"], 0, 50, "b: Tu excludes the idle time")
    check_range(b["Tt"] - b["Ti"], 0, 50, "b: Tt counts from the end of the previous request (Tt = Ti + Ta)")
    # closing an idle keep-alive connection logs nothing more
    n0 = len(ulog.lines)
    c.close()

    # ---- (c) the head in two parts, 150 ms apart -----------------------------------------------
    c = eslib.HttpClient(P["plain"], timeout=5)
    c.send(b"GET /d/0/c HTTP/1.1\r\nHo")
    time.sleep(0.15)
    c.send(b"st: x\r\n\r\n")
    check_eq(c.read_response().status, 200, "c: status")
    cc = line("/d/0/c")
    relations(cc, "c")
    check_range(cc["TR"], 140, 600, "c: TR = the time to receive the whole head")
    check_range(cc["Ti"], 0, 50, "c: Ti (the first byte came at once)")
    check_range(cc["Ta"], 140, 650, "c: Ta includes TR")
    c.close()
    check_eq(len([x for x in ulog.lines[n0:] if "BADREQ" in x]), 0, "b: an idle keep-alive close is not logged")

    # ---- a plain connection idle 150 ms before the request: Ti, not Th -----------------------
    c = eslib.HttpClient(P["plain"], timeout=5)
    time.sleep(0.15)
    check_eq(c.request("GET", "/d/0/w").status, 200, "w: status")
    w = line("/d/0/w")
    relations(w, "w")
    check_eq(w["Th"], 0, "w: a silent plain connection: Th stays 0")
    check_range(w["Ti"], 140, 600, "w: ... the wait is idle time (Ti)")
    check_range(w["Ta"], 0, 50, "w: Ta excludes it")
    c.close()

    # ---- `Connection: close`: Ta = Tt ----------------------------------------------------------
    r = eslib.http_get(P["plain"], "/d/100/k", headers=[("Connection", "close")])
    k = line("/d/100/k")
    relations(k, "k")
    check_range(k["Tr"], 90, 500, "k: Tr")
    check_range(k["Tt"] - k["Ta"], 0, 5, "k: Ta = Tt (no handshake, no idle time)")
    check_eq(k["Tu"], k["Tt"] - k["Ti"], "k: Tu = Tt - Ti (Ti: 0, or a slow machine's millisecond)")

    # ---- (d) TLS: the handshake (started 150 ms after the TCP connect) is Th ------------------
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((L, P["tls"]), timeout=5)
    time.sleep(0.15)
    s = ctx.wrap_socket(raw, server_hostname="site.test")
    try:
        t = []
        for tag in ("/d/0/t1", "/d/0/t2"):
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % tag.encode())
            buf = b""
            while not buf.endswith(b"ok"):
                d = s.recv(4096)
                check(d, f"{tag}: the TLS connection closed early")
                buf += d
            check(buf.startswith(b"HTTP/1.1 200"), f"{tag}: {buf[:100]!r}")
            t.append(line(tag))
    finally:
        s.close()
    for x, tag in zip(t, ("t1", "t2")):
        relations(x, tag)
    check_range(t[0]["Th"], 140, 600, "d: Th = accept to handshake end (includes the 150 ms wait)")
    check_range(t[0]["Ti"], 0, 50, "d: Ti 0 on the first request (the request came right after the handshake)")
    check_range(t[0]["Ta"], 0, 50, "d: Ta excludes Th")
    check_range(t[0]["Tt"] - t[0]["Tu"], 0, 50, "d: Tu includes Th (Tu = Tt - Ti, and Ti is small here)")
    check_eq(t[1]["Th"], 0, "d: Th is 0 on the 2nd request of the TLS connection")

    # ---- -1 values ---------------------------------------------------------------------------
    check_eq(eslib.http_get(P["plain"], "/deny/x").status, 403, "deny: status")
    x = line("/deny/x")
    relations(x, "deny")
    check_eq([x[k] for k in ("Tw", "Tc", "Tr", "Td")], [-1] * 4, "deny: Tw Tc Tr Td are -1")
    check_eq((x["ST"], x["ts"]), ("403", "PR"), "deny: status and termination state")
    check_eq(eslib.http_get(P["plain"], "/dead/x").status, 503, "dead: status")
    x = line("/dead/x")
    relations(x, "dead")
    check_eq([x[k] for k in ("Tc", "Tr", "Td")], [-1] * 3, "dead server: Tc Tr Td are -1")
    check_range(x["Tw"], 0, 50, "dead server: Tw is measured")
    check_eq((x["ST"], x["ts"]), ("503", "SC"), "dead: status and termination state")
    check_eq(eslib.http_get(P["plain"], "/hang/x").status, 504, "hang: status")
    x = line("/hang/x")
    relations(x, "hang")
    check_eq([x[k] for k in ("Tr", "Td")], [-1] * 2, "server timeout: Tr Td are -1")
    check_range(x["Tc"], 0, 50, "server timeout: Tc is measured")
    check_range(x["Tt"], 280, 900, "server timeout: Tt = `timeout server 300ms`")
    check_eq((x["ST"], x["ts"]), ("504", "sH"), "hang: status and termination state")

    # (Ti, the idle time before the first byte, is 0 give or take a slow machine's millisecond)
    bad = {"Th": 0, "TR": -1, "Tq": -1, "Tw": -1, "Tc": -1, "Tr": -1, "Td": -1}
    for what, data, ts in (("partial head, then close", b"GET /partial HTTP/1.1\r\nHo", "CR"),
                           ("connect, silent, close", b"", "CR")):
        n0 = len(ulog.lines)
        c = eslib.HttpClient(P["plain"], timeout=5)
        c.send(data)
        time.sleep(0.1)
        c.close()
        x = parse(new_lines(n0, 1)[0], "<BADREQ>")
        check_eq({k: x[k] for k in bad}, bad, f"{what}: TR/Tq/Tw/Tc/Tr/Td -1, logged as <BADREQ>")
        check_range(x["Ti"], 0, 50, f"{what}: Ti")
        check_range(x["Tt"], 90, 600, f"{what}: Tt = until the client closed")
        # Ta = Tu = Tt - Ti (Ti: 0, or a slow machine's millisecond before the first byte)
        check_eq((x["Ta"], x["Tu"]), (x["Tt"] - x["Ti"], x["Tt"] - x["Ti"]), f"{what}: Ta = Tu = Tt - Ti")
        check_eq((x["ST"], x["ts"]), ("400", ts), f"{what}: status and termination state")
    n0 = len(ulog.lines)
    r, _, _ = eslib.raw_exchange(P["plain"], b"GET /bad\x01x HTTP/1.1\r\nHost: x\r\n\r\n")
    check_eq(r and r.status, 400, "invalid request: 400")
    x = parse(new_lines(n0, 1)[0], "<BADREQ>")
    check_eq({k: x[k] for k in bad}, bad, "invalid request: -1s, logged as <BADREQ>")
    check_range(x["Ti"], 0, 50, "invalid request: Ti")
    check_eq((x["ST"], x["ts"]), ("400", "PR"), "invalid request: status and termination state")

    # ---- the 1.x style alone: %Tq/%Tw/%Tc/%Tr/%Tt ----------------------------------------------
    n0 = len(ulog.lines)
    check_eq(eslib.http_get(P["old"], "/d/50/old").status, 200, "old: status")
    got = new_lines(n0, 1)[0]
    m = re.fullmatch(r"/d/50/old (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(-?\d+) 200", got)
    check(m, f"old-style line: {got!r}")
    tq, tw, tc, tr, tt = map(int, m.groups())
    check_range(tq, 0, 50, "old: Tq")
    check_range(tr, 40, 500, "old: Tr")
    check_range(tt - (tq + tw + tc + tr), 0, 5, "old: Tt = Tq + Tw + Tc + Tr + Td (Td ~ 0)")


def parse(text, tag):
    """A log line of FMT -> {Th..Tu: int, ST, ts, old}."""
    d = dict(kv.split("=", 1) for kv in text.split())
    check_eq(d.get("tag"), tag, f"the log line's %HP ({text!r})")
    out = {k: int(d[k]) for k in KEYS}
    out.update(ST=d["ST"], ts=d["ts"], old=d["old"])
    log(f"{tag}: {' '.join(f'{k}={v}' for k, v in out.items())}")
    return out


def relations(v, what, tol=2):
    """What holds between the timers of one line (2.6), whatever the case."""
    check_eq(v["old"], "/".join(str(v[k]) for k in ("Tq", "Tw", "Tc", "Tr", "Tt")),
             f"{what}: %Tq/%Tw/%Tc/%Tr/%Tt prints the same values as the named ones")
    if v["TR"] >= 0:
        check_range(v["Tq"] - (v["Th"] + v["Ti"] + v["TR"]), -tol, tol, f"{what}: Tq = Th + Ti + TR")
    else:
        check_eq(v["Tq"], -1, f"{what}: Tq is -1 when TR is")
    check_range(v["Ta"] - (v["Tt"] - v["Th"] - v["Ti"]), -tol, tol, f"{what}: Ta = Tt - Th - Ti")
    check_range(v["Tu"] - (v["Tt"] - v["Ti"]), -tol, tol, f"{what}: Tu = Tt - Ti")
    parts = [v[k] for k in ("Tq", "Tw", "Tc", "Tr")]
    if min(parts) >= 0:
        check_range(v["Td"] - (v["Tt"] - sum(parts)), -tol, tol, f"{what}: Td = Tt - (Tq + Tw + Tc + Tr)")
    else:
        check_eq(v["Td"], -1, f"{what}: Td is -1 when a phase before it is")
    for k in KEYS:
        check(v[k] >= -1, f"{what}: {k} >= -1")


def check_range(value, lo, hi, what):
    eslib.check_range(value, lo, hi, what)


if __name__ == "__main__":
    eslib.run_http(main)
