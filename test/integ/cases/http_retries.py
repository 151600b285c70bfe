#!/usr/bin/env python3
"""Connect failures in HTTP mode: `retries 3` + `option redispatch` with one dead server (a free
port nobody listens on) and one live one: every request succeeds (the last retry goes to the live
server); counters: BACKEND wredis >= 1 and wretr + wredis >= the dead server's share, hrsp_2xx = requests,
econ 0.
A backend whose only server is dead answers 503 with the reply configured by
`http-error status 503 ...` after the retries (timed), counting econ +1 and wretr +retries per
request. The client connection stays usable after such a 503.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

N = 8
CONNECT = 0.2
RETRIES_DEAD = 2


def main(h):
    origin = http_origin.start(h, name="live")
    fe_rd, fe_dead = eslib.free_port(), eslib.free_port()
    dead1, dead2 = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe_rd", f"bind {eslib.LOCALHOST}:{fe_rd}\ndefault_backend be_rd")
           + eslib.section("backend be_rd", f"""
                balance roundrobin
                timeout connect {int(CONNECT * 1000)}ms
                retries 3
                option redispatch
                server dead {eslib.LOCALHOST}:{dead1}
                server live {eslib.LOCALHOST}:{origin.port}""")
           + eslib.section("frontend fe_dead", f"bind {eslib.LOCALHOST}:{fe_dead}\ndefault_backend be_dead")
           + eslib.section("backend be_dead", f"""
                timeout connect {int(CONNECT * 1000)}ms
                retries {RETRIES_DEAD}
                http-error status 503 content-type "text/plain" string "no server answered"
                server d1 {eslib.LOCALHOST}:{dead2}"""))
    es = eslib.start_proxy(h, cfg, ports=[fe_rd, fe_dead], sock=sock)
    check(not eslib.is_listening(dead1) and not eslib.is_listening(dead2),
          "a 'dead' server port is in use by something; cannot run")

    # ---- one dead, one live, redispatch: all succeed
    times = []
    for i in range(N):
        t0 = time.monotonic()
        r = eslib.http_get(fe_rd, f"/r/{i}", timeout=10)
        times.append(time.monotonic() - t0)
        check_eq(r.status, 200, f"request {i} with one dead server and option redispatch ({r.brief()})")
        check_eq(r.header("X-Origin"), "live", f"request {i}: server that answered")
    log("all requests served; seconds: " + ", ".join(f"{t:.2f}" for t in times))
    check_eq(origin.request_count(), N, "requests at the live origin")
    m = es.wait_stat("be_rd", "BACKEND", "hrsp_2xx", lambda v: v == N, timeout=3,
                     what=f"be_rd hrsp_2xx == {N}")
    b = m[("be_rd", "BACKEND")]
    log(f"be_rd: wretr={b.get('wretr')} wredis={b.get('wredis')} econ={b.get('econ')} "
        f"dead econ={m[('be_rd', 'dead')].get('econ')}")
    # a failed attempt is counted as a retry, or as a redispatch when the retry changed server
    check(eslib.num(b.get("wredis")) >= 1, f"be_rd wredis should be >= 1 (got {b.get('wredis')!r})")
    check(eslib.num(b.get("wretr")) + eslib.num(b.get("wredis")) >= N // 2,
          f"be_rd wretr + wredis should count the failed attempts on the dead server (at least "
          f"{N // 2} of {N} roundrobin picks): wretr={b.get('wretr')!r} wredis={b.get('wredis')!r}")
    check_eq(eslib.num(b.get("econ")), 0, "be_rd BACKEND econ (every request finally connected)")
    check_eq(eslib.num(m[("be_rd", "live")].get("hrsp_2xx")), N, "be_rd/live hrsp_2xx")

    # ---- only dead servers: 503 with the configured reply, after the retries
    lo = RETRIES_DEAD * CONNECT * 0.8
    hi = (1 + RETRIES_DEAD) * CONNECT + RETRIES_DEAD * 1.0 + 2.0
    c = eslib.HttpClient(fe_dead, timeout=10)
    for k in range(2):
        t0 = time.monotonic()
        r = c.request("GET", f"/d/{k}", timeout=hi + 3)
        secs = time.monotonic() - t0
        check_eq(r.status, 503, f"dead backend request {k}: status ({r.brief()})")
        check_eq(r.body, b"no server answered", f"dead backend request {k}: body (the http-error reply)")
        check_eq((r.header("Content-Type") or "").split(";")[0].strip(), "text/plain",
                 f"dead backend request {k}: Content-Type")
        eslib.check_range(round(secs, 2), round(lo, 2), round(hi, 2),
                          f"seconds until the 503 (retries {RETRIES_DEAD}, timeout connect {CONNECT}s)")
        log(f"dead backend request {k}: 503 after {secs:.2f}s")
        if r.header("Connection", "").lower() == "close":
            c.close()
            c = eslib.HttpClient(fe_dead, timeout=10)
    c.close()
    m = es.wait_stat("be_dead", "BACKEND", "econ", lambda v: v >= 2, timeout=3, what="be_dead econ >= 2")
    b = m[("be_dead", "BACKEND")]
    log(f"be_dead: econ={b.get('econ')} wretr={b.get('wretr')} hrsp_5xx={b.get('hrsp_5xx')}")
    check_eq(eslib.num(b.get("econ")), 2, "be_dead BACKEND econ after 2 failed requests")
    check_eq(eslib.num(b.get("wretr")), 2 * RETRIES_DEAD, "be_dead BACKEND wretr after 2 failed requests")
    fm = es.stats()[("fe_dead", "FRONTEND")]
    check_eq(eslib.num(fm.get("hrsp_5xx")), 2, "fe_dead FRONTEND hrsp_5xx")


if __name__ == "__main__":
    eslib.run_http(main)
