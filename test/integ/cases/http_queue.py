#!/usr/bin/env python3
"""Server `maxconn 1` queues HTTP requests:
  - 4 concurrent clients of /delay/500 all get 200; the origin sees the requests one at a time
    (each starts >= ~450 ms after the previous), total about 4 x 500 ms; `show stat` qmax >= 2;
  - with `timeout queue 300ms`, of 4 concurrent clients one is served (200) and the 3 queued get
    503 after about 300 ms; the origin sees only the one request.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

K = 4


def concurrent(port, target, k):
    """k clients send `target` at the same moment; returns [(status, seconds, error)]."""
    res = [None] * k
    go = threading.Event()

    def one(i):
        try:
            c = eslib.HttpClient(port, timeout=10)
        except OSError as e:
            res[i] = (0, 0.0, f"connect: {e!r}")
            return
        try:
            go.wait(5)
            t0 = time.monotonic()
            r = c.request("GET", target, timeout=10)
            res[i] = (r.status, time.monotonic() - t0, None)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            res[i] = (0, 0.0, repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(k)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # every client connected before the requests go (the point of the case)
    go.set()
    dl = eslib.Deadline(15)
    for t in threads:
        t.join(dl.left())
    check(all(not t.is_alive() for t in threads), "concurrent clients did not finish within 15 s")
    return res


def main(h):
    origin = http_origin.start(h, name="s1")
    origin2 = http_origin.start(h, name="s2")
    fe, fe_t = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe", f"bind {eslib.LOCALHOST}:{fe}\ndefault_backend be")
           + eslib.section("backend be", f"timeout queue 5s\nserver s1 {eslib.LOCALHOST}:{origin.port} maxconn 1")
           + eslib.section("frontend fe_t", f"bind {eslib.LOCALHOST}:{fe_t}\ndefault_backend be_t")
           + eslib.section("backend be_t", f"""
                timeout queue 300ms
                server s2 {eslib.LOCALHOST}:{origin2.port} maxconn 1"""))
    es = eslib.start_proxy(h, cfg, ports=[fe, fe_t], sock=sock)

    # ---- queued and served one at a time
    t0 = time.monotonic()
    res = concurrent(fe, "/delay/500", K)
    total = time.monotonic() - t0
    log(f"maxconn 1, {K} clients: {[(s, round(t, 2)) for s, t, _ in res]} in {total:.2f}s")
    check_eq([s for s, _, _ in res], [200] * K, f"statuses of {K} queued clients (errors: "
                                                f"{[e for _, _, e in res if e]})")
    eslib.check_range(round(total, 2), 0.9 * K * 0.5, K * 0.5 + 1.5,
                      f"seconds for {K} requests of 500 ms through maxconn 1 (serialised)")
    starts = sorted(r["t"] for r in origin.requests())
    check_eq(len(starts), K, "requests at the origin")
    gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:])]
    check(all(g >= 0.45 for g in gaps), f"requests reached the origin {gaps} s apart; with maxconn 1 "
                                        f"each must wait for the previous 500 ms response")
    m = es.stats()
    qmax = max(eslib.num(m.get(("be", "s1"), {}).get("qmax")), eslib.num(m.get(("be", "BACKEND"), {}).get("qmax")))
    check(qmax >= 2, f"qmax (be/s1 or be/BACKEND) should be >= 2 with {K} clients on maxconn 1, got {qmax}")
    srow = m.get(("be", "s1"), {})
    check(eslib.num(srow.get("smax")) <= 1, f"be/s1 smax should be <= 1 (maxconn 1), got {srow.get('smax')!r}")
    log(f"qmax={qmax} smax={srow.get('smax')}")

    # ---- timeout queue
    res = concurrent(fe_t, "/delay/500", K)
    log(f"timeout queue 300ms, {K} clients: {[(s, round(t, 2)) for s, t, _ in res]}")
    statuses = sorted(s for s, _, _ in res)
    check_eq(statuses, [200] + [503] * (K - 1),
             f"statuses with timeout queue 300ms (errors: {[e for _, _, e in res if e]})")
    for s, t, _ in res:
        if s == 503:
            eslib.check_range(round(t, 2), 0.25, 1.5, "seconds until a queued request got its 503 "
                                                      "(timeout queue 300ms)")
    check_eq(origin2.request_count(), 1, "requests at the origin behind timeout queue 300ms")


if __name__ == "__main__":
    eslib.run_http(main)
