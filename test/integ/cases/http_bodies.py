#!/usr/bin/env python3
"""Message bodies are streamed, not stored, and arrive intact:
  - a 64 MiB POST with Content-Length reaches the origin with the same sha256, while the proxy's
    RSS grows by less than 8 MiB (measured after 32 MiB warm-ups in both directions, which touch
    every buffer; a 32 MiB Content-Length response is checked on the way);
  - chunked uploads: a raw client sending 2 MiB in chunks of varying size, written in small
    segments that split chunk-size lines; curl -T - (PUT, Transfer-Encoding: chunked) of 4 MiB;
  - chunked responses: 64 MiB in 64 KiB chunks (RSS bound as above) and 100 kB in 7-byte chunks;
  - HEAD gets the GET headers (Content-Length: 1000) and no body; 204 and 304 carry no body;
    in each case the next request on the same connection works (no stray bytes).
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import http_origin  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

BIG = 64 * MiB
RSS_GROWTH_MAX_KIB = 8 * 1024


class RssSampler:
    """Samples a process's VmRSS every 10 ms in a thread; `peak` is the highest seen."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = eslib.vmrss_kib(pid)
        self.stopping = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stopping.wait(0.01):
            try:
                self.peak = max(self.peak, eslib.vmrss_kib(self.pid))
            except (OSError, eslib.Failure):
                return

    def stop(self):
        self.stopping.set()
        self.t.join(2)
        return self.peak


def post_pattern(port, n, timeout=60):
    """POST /echo with an n-byte pattern body sent in the background; returns the JSON answer."""
    c = eslib.HttpClient(port, timeout=10)
    try:
        c.send(eslib.http_request_bytes("POST", "/echo", [("Content-Length", str(n)),
                                                           ("Content-Type", "application/octet-stream")]))
        err = []

        def sender():
            try:
                off = 0
                while off < n:
                    k = min(65521, n - off)
                    c.sock.sendall(http_origin.pattern_slice(off, k))
                    off += k
            except OSError as e:
                err.append(repr(e))

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        try:
            r = c.read_response(timeout=timeout)
        except eslib.Failure as e:
            raise eslib.Failure(f"POST /echo with a {n}-byte body: {e}")
        t.join(timeout)
        check(not err, f"sending the {n}-byte body failed: {err}")
        check_eq(r.status, 200, f"POST of {n} bytes: status ({r.brief()})")
        return r.json()
    finally:
        c.close()


def main(h):
    px = fixture.proxy_to_origin(h, origin_opts={"conn_timeout": 60},
                                 global_lines="tune.es.buffers 1024", client="30s", server="30s")
    origin, fe, es = px.origin, px.fe, px.proxy

    # ---- warm-up: 32 MiB through in each direction, so every buffer of the pools has been used
    doc = post_pattern(fe, 32 * MiB)
    check_eq((doc["body_len"], doc["body_sha256"]), (32 * MiB, http_origin.pattern_sha256(32 * MiB)),
             "32 MiB POST: length and sha256 at the origin")
    c = eslib.HttpClient(fe, timeout=10)
    r = c.request("GET", f"/bytes/{32 * MiB}", timeout=30, keep_body=False)
    c.close()
    check_eq((r.status, r.body_len, r.body_sha256), (200, 32 * MiB, http_origin.pattern_sha256(32 * MiB)),
             "32 MiB Content-Length response: status, length and sha256 at the client")

    # ---- 64 MiB POST with Content-Length, RSS bounded
    base = eslib.vmrss_kib(es.pid)
    sampler = RssSampler(es.pid)
    t0 = time.monotonic()
    doc = post_pattern(fe, BIG)
    secs = time.monotonic() - t0
    peak = sampler.stop()
    check_eq((doc["body_len"], doc["body_sha256"]), (BIG, http_origin.pattern_sha256(BIG)),
             "64 MiB POST: length and sha256 at the origin")
    log(f"64 MiB POST in {secs:.2f}s; proxy RSS {base} KiB before, peak {peak} KiB "
        f"(+{peak - base} KiB)")
    check(peak - base < RSS_GROWTH_MAX_KIB,
          f"proxy RSS grew by {peak - base} KiB while streaming a 64 MiB request body "
          f"(limit {RSS_GROWTH_MAX_KIB} KiB: bodies must be streamed through bounded buffers)")

    # ---- chunked upload, raw client, chunk-size lines split across segments
    rnd = random.Random(7)
    data = os.urandom(2 * MiB)
    sizes = [rnd.randint(1, 5000) for _ in range(64)]
    framed = eslib.chunk_encode(data, sizes)
    head = eslib.http_request_bytes("POST", "/echo", [("Transfer-Encoding", "chunked")])
    c = eslib.HttpClient(fe, timeout=10)
    c.send(head)
    pos = 0
    while pos < len(framed):
        k = rnd.randint(1, 1500)
        c.send(framed[pos:pos + k])
        pos += k
    r = c.read_response(timeout=20)
    c.close()
    check_eq(r.status, 200, f"chunked upload: status ({r.brief()})")
    doc = r.json()
    check_eq((doc["body_len"], doc["body_sha256"]), (len(data), eslib.sha256(data)),
             "chunked upload in small segments: length and sha256 of the body at the origin")
    log(f"chunked upload of 2 MiB in {len(framed)} framed bytes, small segments: intact "
        f"(origin saw it {'chunked' if doc['chunked'] else 'with Content-Length'})")

    # ---- curl -T - (PUT, chunked, from stdin)
    path = h.path("upload.bin")
    data = os.urandom(4 * MiB)
    with open(path, "wb") as f:
        f.write(data)
    with open(path, "rb") as f:
        cp = eslib.curl(h, ["-T", "-", f"http://{eslib.LOCALHOST}:{fe}/echo"], stdin=f)
    check_eq(cp.returncode, 0, f"curl -T - exit status (stderr {cp.stderr!r})")
    doc = json.loads(cp.stdout)
    check_eq(doc["method"], "PUT", "curl -T - method at the origin")
    check_eq((doc["body_len"], doc["body_sha256"]), (len(data), eslib.sha256(data)),
             "curl -T - (chunked) upload: length and sha256 at the origin")

    # ---- 64 MiB chunked response, RSS bounded
    base = eslib.vmrss_kib(es.pid)
    sampler = RssSampler(es.pid)
    c = eslib.HttpClient(fe, timeout=10)
    t0 = time.monotonic()
    r = c.request("GET", f"/chunked/{BIG}/65536", timeout=60, keep_body=False)
    secs = time.monotonic() - t0
    peak = sampler.stop()
    check_eq(r.status, 200, f"64 MiB chunked response: status ({r.brief()})")
    check_eq((r.body_len, r.body_sha256), (BIG, http_origin.pattern_sha256(BIG)),
             "64 MiB chunked response: length and sha256 at the client")
    log(f"64 MiB chunked response in {secs:.2f}s ({'chunked' if r.chunked else 'not chunked'} at the "
        f"client); proxy RSS {base} KiB before, peak {peak} KiB (+{peak - base} KiB)")
    check(peak - base < RSS_GROWTH_MAX_KIB,
          f"proxy RSS grew by {peak - base} KiB while streaming a 64 MiB chunked response "
          f"(limit {RSS_GROWTH_MAX_KIB} KiB)")
    # the connection stays usable
    r = c.request("GET", "/after-big")
    check_eq((r.status, r.body), (200, b"path /after-big\n"), "request after the 64 MiB response")

    # ---- tiny chunks
    r = c.request("GET", "/chunked/100000/7")
    check_eq(r.status, 200, f"7-byte chunks: status ({r.brief()})")
    check_eq((r.body_len, r.body_sha256), (100000, http_origin.pattern_sha256(100000)),
             "100 kB in 7-byte chunks: length and sha256 at the client")

    # ---- HEAD, 204, 304: no body, connection reusable
    r = c.request("HEAD", "/bytes/1000")
    check_eq(r.status, 200, f"HEAD /bytes/1000: status ({r.brief()})")
    check_eq(r.header("Content-Length"), "1000", f"HEAD /bytes/1000: Content-Length ({r.headers})")
    r = c.request("GET", "/after-head")
    check_eq((r.status, r.body), (200, b"path /after-head\n"),
             "request after HEAD on the same connection (a body after HEAD would corrupt it)")
    r = c.request("HEAD", "/chunked/1000/100")
    check_eq(r.status, 200, f"HEAD /chunked/1000/100: status ({r.brief()})")
    r = c.request("GET", "/after-head-chunked")
    check_eq((r.status, r.body), (200, b"path /after-head-chunked\n"),
             "request after HEAD of a chunked resource on the same connection")
    for st in (204, 304):
        r = c.request("GET", f"/status/{st}")
        check_eq(r.status, st, f"/status/{st}")
        check(r.header("Transfer-Encoding") is None,
              f"a {st} response must not carry Transfer-Encoding ({r.headers})")
        r = c.request("GET", f"/after-{st}")
        check_eq((r.status, r.body), (200, f"path /after-{st}\n".encode()),
                 f"request after a {st} on the same connection")
    how, extra, _ = c.wait_closed(0.2)
    check_eq(extra, b"", "stray bytes after the last response")
    c.close()
    check(not origin.errors, f"origin errors: {origin.errors}")


if __name__ == "__main__":
    eslib.run_http(main)
