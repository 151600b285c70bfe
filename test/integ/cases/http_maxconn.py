#!/usr/bin/env python3
"""Frontend `maxconn` in HTTP mode: with maxconn 2 on one shard, 6 concurrent clients of a 300 ms
endpoint are all answered (none refused: the extra connections wait, accepted or in the backlog,
until a slot frees), at most 2 at a time (FRONTEND smax <= 2, total time >= 3 x 300 ms).
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

CLIENTS = 6
DELAY_MS = 300


def main(h):
    px = fixture.proxy_to_origin(h, origin_opts={"name": "origin"}, fe_lines="maxconn 2")
    origin, fe, es = px.origin, px.fe, px.proxy

    results = [None] * CLIENTS

    def client(i):
        try:
            r = eslib.http_get(fe, f"/delay/{DELAY_MS}", timeout=10, headers=[("Connection", "close")])
            results[i] = r.status
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = f"error: {e}"

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    took = time.monotonic() - t0
    log(f"{CLIENTS} clients answered in {took:.2f}s: {results}")
    check(all(r == 200 for r in results), f"every client gets 200 (none refused): {results}")
    check(took >= 3 * DELAY_MS / 1000 * 0.9, f"at most 2 at a time: {CLIENTS} x {DELAY_MS} ms took {took:.2f}s")
    smax = es.stat("fe", "FRONTEND", "smax")
    check(smax <= 2, f"FRONTEND smax {smax} <= maxconn 2")
    check_eq(origin.request_count(), CLIENTS, "requests at the origin")


if __name__ == "__main__":
    eslib.run(main)
