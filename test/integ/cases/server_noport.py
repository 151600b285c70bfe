#!/usr/bin/env python3
"""Servers without a port (`server s1 127.0.0.2`): the proxy connects to the port the client
connected to, as HAProxy 2.6 does it (the same file runs through HAProxy with ES_TEST_PEER=haproxy;
every value asserted is what 2.6.12 does). The proxy binds 127.0.0.1:P1 and 127.0.0.1:P2 in one
frontend; the origins listen on 127.0.0.2 (any 127/8 address is local on Linux) and answer with the
address they were reached on (their getsockname): HTTP `X-Origin: 127.0.0.2:<port>`, tcp the line
`127.0.0.2:<port>\\n` in answer to the first bytes, then echo.
  1. mode http and mode tcp: requests to P1 reach 127.0.0.2:P1, to P2 reach 127.0.0.2:P2 (both
     requests of one keep-alive connection too).
  2. Port offsets: `server s1 127.0.0.2:+1` -> client's port + 1; `:-1` -> client's port - 1
     (http and tcp); `show stat` addr shows `127.0.0.2:1` for `:+1` (no sign: the offset printed as a
     signed number), `127.0.0.2:-1` for `:-1`, and `127.0.0.2:0` for a port-less server.
  3. `bind ... accept-proxy` + a PROXY v1 header whose destination port is X: the server connection
     goes to 127.0.0.2:X (the carried port, not the bound one); with `:+1`, to X+1. A header
     carrying a port where nothing listens -> 503 (http) / close (tcp), after the retries (~3 s).
  4. Config: a port-less server with `check` and no `port` -> `haproxy -c` fails (exit 1): an error
     (not a warning), 2.6: "[ALERT] ... : config : config: backend 'be': server 's1' has neither
     service port nor check port." then "Fatal errors found in configuration." (no file:line). The
     same for `:+1 check` and `:-1 check`. With `check port 80` it is valid; so are `127.0.0.2`,
     `:+1`, `:-1`, `:+0` without check.
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
O = "127.0.0.2"   # the origins' address


class Origin:
    """Listens on 127.0.0.2:port; answers HTTP (`X-Origin: addr`, keep-alive) if the first bytes
    are `GET `, else sends `addr\\n` and echoes. Stopped by the harness."""

    def __init__(self, port):
        self.name = f"origin-{port}"
        self.port = port
        self.addr = f"{O}:{port}"
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((O, port))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.accepts = 0
        self.stopping = False
        self.conns = []
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepts += 1
            c.settimeout(10)
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        me = "%s:%d" % c.getsockname()
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                if not b"GET ".startswith(buf[:4]):     # tcp mode
                    c.sendall(me.encode() + b"\n" + buf)
                    while True:
                        d = c.recv(65536)
                        if not d:
                            return
                        c.sendall(d)
                while b"\r\n\r\n" in buf:
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    c.sendall(f"HTTP/1.1 200 OK\r\nX-Origin: {me}\r\nContent-Length: 2\r\n\r\nok".encode())
        except OSError:
            return
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.lsock.close()
        self.t.join(2)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def origin_on(h, port):
    o = Origin(port)
    h.servers.append(o)
    return o


def ports_with_origin_room(n, deltas):
    """n ports free on 127.0.0.1 such that port+d is free on 127.0.0.2 for every d in deltas."""
    out = []
    for _ in range(200):
        p = eslib.free_port()
        if all(eslib.port_is_free(p + d, O) for d in deltas):
            out.append(p)
            if len(out) == n:
                return out
    raise eslib.Failure("no suitable ports")


def http_origin(port, n=1, head=b""):
    """n requests on one connection to 127.0.0.1:port (after `head`, e.g. a PROXY line);
    returns the X-Origin values (None for a non-200)."""
    c = eslib.HttpClient(port, timeout=5)
    try:
        if head:
            c.send(head)
        out = []
        for i in range(n):
            r = c.request("GET", f"/{i}")
            out.append(r.header("x-origin") if r.status == 200 else r.status)
        return out
    finally:
        c.close()


def tcp_origin(port, head=b""):
    """Sends `head` + `hello`; returns the origin's address line (None on close without it)
    after checking the echo."""
    s = eslib.connect(port, timeout=5)
    try:
        s.sendall(head + b"hello")
        buf = b""
        dl = eslib.Deadline(5)
        while b"hello" not in buf and not dl.expired():
            s.settimeout(max(0.01, dl.left()))
            try:
                d = s.recv(4096)
            except (socket.timeout, ConnectionResetError):
                break
            if not d:
                break
            buf += d
        if b"\n" not in buf:
            return None
        line, rest = buf.split(b"\n", 1)
        check_eq(rest, b"hello", "tcp: the bytes after the origin's line are the echo")
        return line.decode()
    finally:
        s.close()


def pp1(dport, src="192.0.2.1", dst="127.0.0.1", sport=40000):
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()


def main(h):
    sock = h.sock_path()
    P1, P2, P3, P4, PX = ports_with_origin_room(5, (0, 1, -1))
    orig = {p: origin_on(h, p) for p in (P1, P2, P2 + 1, P3 + 1, P4 - 1, PX + 1)}
    # accept-proxy binds
    A1, A2 = ports_with_origin_room(2, (0,))
    T1, T2, T3, T4 = ports_with_origin_room(4, (0, 1, -1))
    for p in (T1, T2, T3 + 1, T4 - 1):
        orig[p] = origin_on(h, p)
    X = P2                     # the port carried by the PROXY headers (an origin listens there)
    dead = eslib.free_port()   # nothing listens on 127.0.0.2:dead (checked below)
    check(eslib.port_is_free(dead, O) and eslib.port_is_free(dead + 1, O), "a dead port on 127.0.0.2")

    cfg = eslib.http_global(sock, nbthread=1) + eslib.http_defaults()
    cfg += eslib.section("frontend fe_h", f"bind {L}:{P1}\nbind {L}:{P2}\ndefault_backend be_h")
    cfg += eslib.section("backend be_h", f"server s1 {O}")
    cfg += eslib.section("frontend fe_hplus", f"bind {L}:{P3}\ndefault_backend be_hplus")
    cfg += eslib.section("frontend fe_hminus", f"bind {L}:{P4}\ndefault_backend be_hminus")
    cfg += eslib.section("backend be_hplus", f"server s1 {O}:+1")
    cfg += eslib.section("backend be_hminus", f"server s1 {O}:-1")
    cfg += eslib.section("frontend fe_hpp", f"bind {L}:{A1} accept-proxy\ndefault_backend be_h")
    cfg += eslib.section("frontend fe_hppoff", f"bind {L}:{PX} accept-proxy\ndefault_backend be_hplus")
    cfg += eslib.section("frontend fe_t", f"mode tcp\nbind {L}:{T1}\nbind {L}:{T2}\ndefault_backend be_t")
    cfg += eslib.section("backend be_t", f"mode tcp\nserver s1 {O}")
    cfg += eslib.section("frontend fe_tplus", f"mode tcp\nbind {L}:{T3}\ndefault_backend be_tplus")
    cfg += eslib.section("frontend fe_tminus", f"mode tcp\nbind {L}:{T4}\ndefault_backend be_tminus")
    cfg += eslib.section("backend be_tplus", f"mode tcp\nserver s1 {O}:+1")
    cfg += eslib.section("backend be_tminus", f"mode tcp\nserver s1 {O}:-1")
    cfg += eslib.section("frontend fe_tpp", f"mode tcp\nbind {L}:{A2} accept-proxy\ndefault_backend be_t")
    binds = [P1, P2, P3, P4, A1, PX, T1, T2, T3, T4, A2]
    es = eslib.start_proxy(h, cfg, ports=binds, sock=sock)

    # ---- 1. the client's port ---------------------------------------------------------------
    check_eq(http_origin(P1, 2), [f"{O}:{P1}"] * 2, "1: http: both requests to P1 reach 127.0.0.2:P1")
    check_eq(http_origin(P2, 2), [f"{O}:{P2}"] * 2, "1: http: both requests to P2 reach 127.0.0.2:P2")
    check_eq(http_origin(P1), [f"{O}:{P1}"], "1: http: P1 again")
    check_eq(tcp_origin(T1), f"{O}:{T1}", "1: tcp: a connection to T1 reaches 127.0.0.2:T1")
    check_eq(tcp_origin(T2), f"{O}:{T2}", "1: tcp: a connection to T2 reaches 127.0.0.2:T2")

    # ---- 2. offsets ---------------------------------------------------------------------------
    check_eq(http_origin(P3, 2), [f"{O}:{P3 + 1}"] * 2, "2: http: `:+1` -> the client's port + 1")
    check_eq(http_origin(P4), [f"{O}:{P4 - 1}"], "2: http: `:-1` -> the client's port - 1")
    check_eq(tcp_origin(T3), f"{O}:{T3 + 1}", "2: tcp: `:+1`")
    check_eq(tcp_origin(T4), f"{O}:{T4 - 1}", "2: tcp: `:-1`")
    st = es.stats()
    addrs = {b: st[(b, "s1")].get("addr") for b in ("be_h", "be_hplus", "be_hminus", "be_t")}
    log(f"2: show stat addr: {addrs}")
    # HAProxy 2.6 prints the offset as a signed number: `+1` shows as `:1` (like a real port 1)
    check_eq(addrs, {"be_h": f"{O}:0", "be_hplus": f"{O}:1", "be_hminus": f"{O}:-1", "be_t": f"{O}:0"},
             "2: show stat addr of port-less / offset servers")

    # ---- 3. accept-proxy: the carried destination port ---------------------------------------
    check_eq(http_origin(A1, 2, pp1(X)), [f"{O}:{X}"] * 2,
             "3: http: PROXY header with destination port X -> 127.0.0.2:X (not the bound port)")
    check_eq(http_origin(PX, 1, pp1(X)), [f"{O}:{X + 1}"], "3: http: `:+1` applies to the carried port")
    check_eq(tcp_origin(A2, pp1(T2)), f"{O}:{T2}", "3: tcp: the carried destination port")
    check_eq(tcp_origin(A2, pp1(T3 + 1)), f"{O}:{T3 + 1}", "3: tcp: another carried port")
    check_eq(http_origin(A1, 1, pp1(X, dst="198.51.100.7")), [f"{O}:{X}"],
             "3: http: only the port is taken from the header, not the address")
    t0 = time.monotonic()
    check_eq(http_origin(A1, 1, pp1(dead)), [503], "3: http: a carried port where nothing listens -> 503")
    t1 = time.monotonic()
    check_eq(tcp_origin(A2, pp1(dead)), None, "3: tcp: a carried port where nothing listens -> closed")
    t2 = time.monotonic()
    # connection refused, `retries 3` (default) with 1 s between attempts: ~3 s
    eslib.check_range(t1 - t0, 2.0, 5.0, "3: http: the 503 after the retries")
    eslib.check_range(t2 - t1, 2.0, 5.0, "3: tcp: the close after the retries")
    log(f"3: dead carried port: 503 after {t1 - t0:.2f}s (http), closed after {t2 - t1:.2f}s (tcp)")

    config_checks(h)


def config_checks(h):
    port = eslib.free_port()

    def cfg(srv):
        text = (eslib.http_defaults()
                + eslib.section("frontend fe", f"bind {L}:{port}\ndefault_backend be")
                + eslib.section("backend be", f"server s1 {srv}"))
        return text, len(text.rstrip("\n").splitlines())

    for n, srv in enumerate((f"{O} check", f"{O}:+1 check", f"{O}:-1 check inter 1s")):
        text, line = cfg(srv)
        path = h.write(f"bad{n}.cfg", text)
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
        log(f"4: `server s1 {srv}`: exit {r.returncode}: {r.stderr.strip()[:300]!r}")
        check_eq(r.returncode, 1, f"4: `-c` refuses `server s1 {srv}` without a check port")
        check("s1" in r.stderr and ("port" in r.stderr), f"4: the error names the server and the port: {r.stderr!r}")
        if not eslib.on_edgeshard():
            # 2.6 names the backend and server, not the file/line (found in the post-parsing checks)
            check("[ALERT]" in r.stderr and "config : config: backend 'be': server 's1' has neither service port "
                  "nor check port." in r.stderr and "Fatal errors found in configuration." in r.stderr,
                  f"4: HAProxy's words: {r.stderr!r}")
    for n, srv in enumerate((f"{O} check port 80", f"{O}", f"{O}:+1", f"{O}:-1", f"{O}:+0")):
        text, _ = cfg(srv)
        path = h.write(f"good{n}.cfg", text)
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
        check_eq(r.returncode, 0, f"4: `-c` accepts `server s1 {srv}` ({r.stderr.strip()!r})")


if __name__ == "__main__":
    eslib.run_http(main)
