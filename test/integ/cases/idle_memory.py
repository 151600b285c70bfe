#!/usr/bin/env python3
"""Memory per idle keep-alive HTTP connection (one shard, `mode http`):
  - after a warm-up of 6,000 requests (the receive buffers the shard's ring hands out, and the
    pools, are resident before the first sample), 4,000 client connections each complete one
    request and then stay open and idle;
  - edgeshard's VmRSS grows by at most 1024 bytes per idle connection (the H1Conn, the pooled
    server connections kept for them, and what pools retain from the burst);
  - the connections are really alive: `show pools` counts 4,000 http_session objects in use and
    no http_stream (an idle connection holds no exchange state), no receive buffer is held (`show shards json` buffers_out=0: an idle connection holds no buffer,
    only an armed multishot recv), and a second request on a sample of them is answered.
Skips (exit 77) when RLIMIT_NOFILE cannot be raised enough, or when the binary is sanitized (its
RSS is then mostly shadow memory and quarantine). bench/idle_mem/idle_mem.sh is the benchmark
form of this measurement (against HAProxy too).
"""
import os
import re
import resource
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

N = 4000
WAVE = 200
WARM_REQUESTS = 6000          # 2 receive buffers each (request in, response in): more than the ring holds
BYTES_PER_CONN_MAX = 1024
BODY = b"i" * 64
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY
REQUEST = b"GET /idle HTTP/1.1\r\nHost: test.local\r\n\r\n"


class Origin:
    """A single-threaded keep-alive origin (selectors): answers every request head with RESPONSE.
    Cheap for thousands of connections, unlike a thread per connection."""

    def __init__(self):
        self.port = eslib.free_port()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((eslib.LOCALHOST, self.port))
        self.ls.listen(4096)
        self.ls.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.ls, selectors.EVENT_READ, None)
        self.bufs = {}
        self.stopping = False
        self.t = threading.Thread(target=self._loop, name="idle-origin", daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stopping:
            for key, _ in self.sel.select(0.2):
                if key.data is None:
                    for _ in range(256):
                        try:
                            c, _ = self.ls.accept()
                        except (BlockingIOError, OSError):
                            break
                        c.setblocking(False)
                        self.bufs[c] = b""
                        self.sel.register(c, selectors.EVENT_READ, 1)
                    continue
                c = key.fileobj
                try:
                    d = c.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    self.sel.unregister(c)
                    self.bufs.pop(c, None)
                    c.close()
                    continue
                b = self.bufs[c] + d
                k = b.count(b"\r\n\r\n")
                self.bufs[c] = b[b.rfind(b"\r\n\r\n") + 4:] if k else b
                if k:
                    try:
                        c.sendall(RESPONSE * k)
                    except OSError:
                        pass

    def stop(self):
        self.stopping = True
        self.t.join(2)
        for c in list(self.bufs):
            c.close()
        self.ls.close()


def open_idle(port, n, wave, dl):
    """n connections, `wave` at a time; each completes one request and is kept open."""
    held = []
    sel = selectors.DefaultSelector()
    while len(held) < n:
        check(not dl.expired(), f"opening idle connections took too long ({len(held)} of {n})")
        pending = {}
        for _ in range(min(wave, n - len(held))):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect((eslib.LOCALHOST, port))
            except BlockingIOError:
                pass
            pending[s] = b""
            sel.register(s, selectors.EVENT_WRITE, "c")
        while pending:
            check(not dl.expired(), f"responses to a wave took too long ({len(pending)} left)")
            for key, _ in sel.select(0.5):
                s = key.fileobj
                if key.data == "c":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    check(err == 0, f"connect to the proxy failed: {os.strerror(err)}")
                    s.send(REQUEST)
                    sel.modify(s, selectors.EVENT_READ, "r")
                    continue
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                check(bool(d), "the proxy closed a connection before answering its request")
                pending[s] += d
                if len(pending[s]) >= len(RESPONSE) + 40 or pending[s].endswith(BODY):
                    check(pending[s].startswith(b"HTTP/1.1 200"), f"response {pending[s][:60]!r}")
                    sel.unregister(s)
                    del pending[s]
                    held.append(s)
    return held


def warm_up(port, total, dl):
    c = [eslib.HttpClient(port, timeout=10) for _ in range(8)]
    for i in range(total):
        check(not dl.expired(), f"warm-up took too long ({i} of {total} requests)")
        r = c[i % len(c)].request("GET", "/warm")
        check_eq(r.status, 200, "warm-up response status")
    for x in c:
        x.close()


def sanitized(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any(("libasan" in l or "libubsan" in l or "libtsan" in l) for l in f)


def main(h):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need_self = N + 1500            # the held client sockets + the origin's side of pooled connections
    need_proxy = 2 * (N + 500) + 256  # edgeshard registers two direct descriptors per maxconn
    if hard != resource.RLIM_INFINITY and hard < max(need_self, need_proxy):
        raise eslib.Skip(f"RLIMIT_NOFILE hard limit {hard} < {max(need_self, need_proxy)} "
                         f"needed for {N} idle connections")
    if soft != resource.RLIM_INFINITY and soft < max(need_self, need_proxy):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need_self, need_proxy), hard))

    origin = Origin()
    held = []
    try:
        px = fixture.proxy_to_origin(h, origin=origin, maxconn=N + 500, client="60s", server="60s",
                                     defaults_lines="timeout http-keep-alive 60s", peer=False)
        fe, es = px.fe, px.proxy
        if sanitized(es.pid):
            raise eslib.Skip("sanitized binary: its RSS is shadow memory and quarantine, not ours")
        dl = eslib.Deadline(45)
        warm_up(fe, WARM_REQUESTS, dl)
        time.sleep(1.0)
        rss0 = eslib.vmrss_kib(es.pid)
        t0 = time.monotonic()
        held = open_idle(fe, N, WAVE, dl)
        log(f"{N} idle keep-alive connections opened in {time.monotonic() - t0:.1f}s")
        time.sleep(1.0)
        rss1 = eslib.vmrss_kib(es.pid)
        per = (rss1 - rss0) * 1024 / N
        pools = es.ctl("show pools")
        shard = es.shards()[0]
        log(f"VmRSS {rss0} KiB -> {rss1} KiB: {per:.0f} bytes per idle connection")
        m = re.search(r"Pool http_session \((\d+) bytes\) : (\d+) allocated \(\d+ bytes\), (\d+) used", pools)
        check(m is not None, f"`show pools` has an http_session line:\n{pools}")
        check_eq(int(m.group(3)), N, "http_session objects in use (one per idle connection)")
        log(f"http_session object: {m.group(1)} bytes")
        ms = re.search(r"Pool http_stream \((\d+) bytes\) : (\d+) allocated \(\d+ bytes\), (\d+) used", pools)
        check(ms is not None, f"`show pools` has an http_stream line:\n{pools}")
        check_eq(int(ms.group(3)), 0, "exchange streams held by idle connections (http_stream used)")
        check("buffers_out" in shard, f"`show shards json` reports buffers_out: {shard}")
        check_eq(eslib.num(shard["buffers_out"]), 0,
                 "receive buffers held by idle connections (show shards json buffers_out)")
        check(per <= BYTES_PER_CONN_MAX,
              f"RSS growth per idle keep-alive connection: {per:.0f} bytes > {BYTES_PER_CONN_MAX} "
              f"(VmRSS {rss0} -> {rss1} KiB for {N} connections)\n{pools}")
        # the idle connections are live keep-alive connections: a second request on a sample
        for s in held[:: max(1, N // 50)]:
            s.setblocking(True)
            s.settimeout(5)
            s.sendall(REQUEST)
            got = b""
            while not got.endswith(BODY):
                d = s.recv(4096)
                check(bool(d), "an idle connection was closed by the proxy")
                got += d
            check(got.startswith(b"HTTP/1.1 200"), f"second request on an idle connection: {got[:60]!r}")
    finally:
        for s in held:
            s.close()
        origin.stop()


if __name__ == "__main__":
    eslib.run(main)
