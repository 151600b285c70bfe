#!/usr/bin/env python3
"""Slow clients cannot hold the proxy: with `timeout http-request 1s`, 50 concurrent clients that
drip one header byte every 200 ms (replaced as soon as they are cut, so the attack lasts) are each
cut after about 1 s (a 408, or a plain close), while a normal client makes 200 requests during the
attack (new connection every 10th), each answered under 200 ms.
`timeout http-keep-alive 500ms` closes an idle keep-alive connection after about 0.5 s.
"""
import os
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

DRIPPERS = 50
DRIP_EVERY = 0.2
NORMAL = 200
LATENCY_MAX = 0.2


class Drippers:
    """Keeps DRIPPERS slow clients connected until stop(); records how each one ended."""

    def __init__(self, port):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.ended = []      # (lifetime seconds, first bytes received, how)
        self.errors = []
        self.stopping = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _open(self):
        s = socket.create_connection((eslib.LOCALHOST, self.port), timeout=2)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: test.local\r\nX-Slow: ")
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, {"t0": time.monotonic(), "data": b""})

    def _end(self, s, st, how):
        self.sel.unregister(s)
        s.close()
        self.ended.append((time.monotonic() - st["t0"], st["data"][:40], how))

    def _loop(self):
        try:
            for _ in range(DRIPPERS):
                self._open()
            next_drip = time.monotonic() + DRIP_EVERY
            while not self.stopping.is_set():
                for key, _ in self.sel.select(timeout=max(0.0, next_drip - time.monotonic())):
                    s, st = key.fileobj, key.data
                    try:
                        data = s.recv(4096)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        self._end(s, st, "reset")
                        self._open()
                        continue
                    if data:
                        st["data"] += data
                        continue
                    self._end(s, st, "eof")
                    self._open()
                if time.monotonic() >= next_drip:
                    next_drip += DRIP_EVERY
                    for key in list(self.sel.get_map().values()):
                        try:
                            key.fileobj.send(b"a")
                        except (BlockingIOError, InterruptedError):
                            pass
                        except OSError:
                            pass  # the read side reports the end
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))

    def stop(self):
        self.stopping.set()
        self.t.join(3)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def main(h):
    px = fixture.proxy_to_origin(h, fe_lines="""
        timeout http-request 1s
        timeout http-keep-alive 500ms""")
    origin, fe = px.origin, px.fe

    # ---- idle keep-alive connection
    c = eslib.HttpClient(fe)
    r = c.request("GET", "/ka")
    check_eq(r.status, 200, f"request before going idle ({r.brief()})")
    how, extra, secs = c.wait_closed(4)
    c.close()
    log(f"idle keep-alive connection: {how} after {secs:.2f}s")
    check(how in ("eof", "reset"), f"idle keep-alive connection not closed within 4 s "
                                   f"(timeout http-keep-alive 500ms)")
    check_eq(extra, b"", "bytes received on the idle keep-alive connection")
    eslib.check_range(round(secs, 2), 0.35, 1.5, "seconds before an idle keep-alive connection closed "
                                                 "(timeout http-keep-alive 500ms)")

    # ---- the attack, and a normal client meanwhile
    d = Drippers(fe)
    time.sleep(0.1)  # let the 50 slow clients connect before measuring (the point of the case)
    lat = []
    failures = []
    c = None
    t_start = time.monotonic()
    for i in range(NORMAL):
        if c is None or i % 10 == 0:
            if c:
                c.close()
            t0 = time.monotonic()
            c = eslib.HttpClient(fe, timeout=3)
        else:
            t0 = time.monotonic()
        try:
            r = c.request("GET", f"/n/{i}", timeout=3)
            if r.status != 200:
                failures.append(f"request {i}: status {r.status}")
        except eslib.Failure as e:
            failures.append(f"request {i}: {e}")
            c.close()
            c = None
        lat.append(time.monotonic() - t0)
        time.sleep(0.008)  # pacing: spread the 200 requests over the attack
    if c:
        c.close()
    span = time.monotonic() - t_start
    # keep the attack up until every original dripper had time to be cut
    eslib.poll_until(lambda: len(d.ended) >= DRIPPERS, 5, what=f"{DRIPPERS} slow clients to be cut")
    d.stop()
    check(not d.errors, f"slow-client driver failed: {d.errors}")
    lat_sorted = sorted(lat)
    log(f"normal client: {NORMAL} requests over {span:.2f}s during the attack; latency median "
        f"{lat_sorted[len(lat) // 2] * 1000:.1f} ms, max {lat_sorted[-1] * 1000:.1f} ms")
    check(not failures, f"normal client failures during the attack: {failures[:5]}")
    slow = [round(x, 3) for x in lat if x >= LATENCY_MAX]
    check(not slow, f"{len(slow)} normal requests took >= {LATENCY_MAX * 1000:.0f} ms during the attack: {slow[:10]}")

    lifetimes = [x for x, _, _ in d.ended]
    got408 = sum(1 for _, data, _ in d.ended if data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.0 408"))
    other = [data for _, data, _ in d.ended if data and not data.split(b" ", 2)[1:2] == [b"408"]]
    log(f"slow clients cut: {len(d.ended)}, lifetimes {min(lifetimes):.2f}..{max(lifetimes):.2f}s, "
        f"{got408} with a 408")
    check(not other, f"slow clients received something other than a 408: {other[:3]}")
    eslib.check_range(round(min(lifetimes), 2), 0.8, 2.5, "shortest slow-client lifetime (timeout http-request 1s)")
    eslib.check_range(round(max(lifetimes), 2), 0.8, 2.5, "longest slow-client lifetime (timeout http-request 1s)")
    check(not any(r["target"] == "/slow" for r in origin.requests()), "a slow client's request reached the origin")
    check_eq(origin.request_count(), NORMAL + 1, "requests at the origin (the normal ones only)")


if __name__ == "__main__":
    eslib.run_http(main)
