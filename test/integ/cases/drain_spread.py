#!/usr/bin/env python3
"""Drain of idle keep-alive connections (soft stop, as after a reload):
  - with `es.drain-idle-after 300ms` and `close-spread-time 2s`, 40 idle keep-alive connections
    are not closed before the quiet period, and their closes are spread over the window instead of
    all at once (first and last close at least a second apart; none later than the window allows);
  - a connection that keeps sending is never cut: each of its requests during the drain is
    answered, the first one with `Connection: close`, and only then does the connection end;
  - the process exits once every connection is gone.
"""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

N_IDLE = 40
QUIET_S = 0.3
SPREAD_S = 2.0


def main(h):
    px = fixture.proxy_to_origin(h, global_lines=f"es.drain-idle-after {int(QUIET_S * 1000)}ms\n"
                                                 f"close-spread-time {int(SPREAD_S * 1000)}ms",
                                 client="30s", defaults_lines="timeout http-keep-alive 30s")
    fe, es = px.fe, px.proxy

    idle = []
    for i in range(N_IDLE):
        c = eslib.HttpClient(fe, timeout=10)
        r = c.request("GET", f"/idle/{i}")
        check_eq(r.status, 200, f"idle connection {i}: first request")
        idle.append(c)
    busy = eslib.HttpClient(fe, timeout=10)
    check_eq(busy.request("GET", "/busy/0").status, 200, "busy connection: first request")

    closed_at = [None] * N_IDLE

    def watch(i, c):
        how, _, _ = c.wait_closed(SPREAD_S + QUIET_S + 5)
        if how in ("eof", "reset"):
            closed_at[i] = time.monotonic()

    threads = [threading.Thread(target=watch, args=(i, c), daemon=True) for i, c in enumerate(idle)]
    t0 = time.monotonic()
    os.kill(es.pid, signal.SIGUSR1)
    for t in threads:
        t.start()

    # the busy client keeps sending: its next answer says the connection ends, and it is answered
    r = busy.request("GET", "/busy/1")
    check_eq(r.status, 200, "busy connection: request during the drain")
    check_eq((r.header("Connection") or "").lower(), "close", "busy connection: the drain's answer says close")
    how, _, _ = busy.wait_closed(3)
    check(how in ("eof", "reset"), f"busy connection after its `Connection: close` answer: {how}")

    for t in threads:
        t.join(SPREAD_S + QUIET_S + 6)
    check(all(x is not None for x in closed_at),
          f"every idle connection closed by the drain: {sum(x is None for x in closed_at)} left open")
    rel = sorted(x - t0 for x in closed_at)
    log(f"idle closes after the soft stop: first {rel[0]:.2f}s, median {rel[len(rel) // 2]:.2f}s, last {rel[-1]:.2f}s")
    check(rel[0] >= QUIET_S - 0.05, f"no idle connection closed before the quiet period: first at {rel[0]:.2f}s")
    check(rel[-1] - rel[0] >= 1.0, f"closes spread over close-spread-time: {rel[0]:.2f}s .. {rel[-1]:.2f}s")
    check(rel[-1] <= QUIET_S + SPREAD_S + 0.6, f"last idle close within the window: {rel[-1]:.2f}s")
    for c in idle:
        c.close()
    busy.close()

    deadline = time.monotonic() + 5
    while es.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    check(not es.running(), "the soft-stopped process exits once its connections are gone")


if __name__ == "__main__":
    eslib.run_http(main)
