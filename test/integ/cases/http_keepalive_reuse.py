#!/usr/bin/env python3
"""Keep-alive on both sides and server-connection reuse (http-reuse safe, the default):
  - 10 requests on one raw client connection reach the origin over ONE server connection;
  - curl with 5 URLs (one client connection, checked with %{num_connects}): requests 2..5 share
    one server connection (the first may open its own while an idle one exists);
  - 20 sequential client connections of 3 requests each: server connections <= client
    connections and < requests (the first request of a client connection may open one);
  - when the origin closes (after `Connection: close`, or an idle pooled connection after 0.3 s)
    the next request on the same client connection still gets a 200 over a new server connection;
  - a bounded wrk run (-t1 -c8 -d3s) completes >= 1000 requests with 0 errors and the origin sees
    far fewer connections than requests;
  - `show stat json`: FRONTEND req_tot and hrsp_2xx equal the requests that reached the origin
    (exactly, before the wrk run), and the server row counts connection reuse ("reuse" > 0).
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def main(h):
    origin = http_origin.start(h, name="s1")
    idle_origin = http_origin.start(h, name="idle", idle_close=0.3)
    fe, fe2 = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe", f"bind {eslib.LOCALHOST}:{fe}\ndefault_backend be")
           + eslib.section("backend be", f"http-reuse safe\nserver s1 {eslib.LOCALHOST}:{origin.port}")
           + eslib.section("frontend fe2", f"bind {eslib.LOCALHOST}:{fe2}\ndefault_backend be2")
           + eslib.section("backend be2", f"server idle {eslib.LOCALHOST}:{idle_origin.port}"))
    es = eslib.start_proxy(h, cfg, ports=[fe, fe2], sock=sock)

    # ---- 10 requests on one raw client connection -> one server connection
    c = eslib.HttpClient(fe)
    conns = set()
    for i in range(10):
        r = c.request("GET", f"/raw/{i}")
        check_eq(r.status, 200, f"raw keep-alive request {i}: status ({r.brief()})")
        check_eq(r.body, f"path /raw/{i}\n".encode(), f"raw keep-alive request {i}: body")
        conns.add(r.header("X-Conn"))
    how, extra, _ = c.wait_closed(0.2)
    check_eq((how, extra), ("timeout", b""), "the client connection after 10 keep-alive requests "
                                             "(should stay open, nothing more sent)")
    c.close()
    reqs = origin.requests()
    check_eq(len(reqs), 10, "requests that reached the origin")
    check_eq({r["conn"] for r in reqs}, {0}, "origin connections carrying the 10 requests of one "
                                             "client connection")
    check_eq(origin.accepts, 1, "connections the origin accepted for one keep-alive client connection")
    log(f"raw keep-alive: 10 requests over 1 server connection (X-Conn {conns})")

    # ---- curl with several URLs on one connection
    before = origin.request_count()
    urls = [f"http://{eslib.LOCALHOST}:{fe}/curl/{i}" for i in range(5)]
    args = []
    for u in urls:
        args += ["-o", "/dev/null", "-w", "%{http_code} %{num_connects}\\n", u]
    cp = eslib.curl(h, args)
    check_eq(cp.returncode, 0, f"curl exit status (stderr {cp.stderr!r})")
    lines = cp.stdout.split()
    codes, connects = lines[0::2], [int(x) for x in lines[1::2]]
    check_eq(codes, ["200"] * 5, "curl status codes")
    check_eq(sum(connects), 1, f"client connections curl opened for 5 URLs (per URL: {connects})")
    reqs = origin.requests()[before:]
    check_eq([r["target"] for r in reqs], [f"/curl/{i}" for i in range(5)], "targets reaching the origin")
    # http-reuse safe: the first request of the client connection may open its own server
    # connection; the following ones then share one
    check_eq(len({r["conn"] for r in reqs[1:]}), 1,
             f"server connections carrying curl's requests 2..5 (origin connection of each request: "
             f"{[r['conn'] for r in reqs]})")

    # ---- sequential client connections: server connections are reused across clients
    acc0 = origin.accepts
    before = origin.request_count()
    clients, per = 20, 3
    for k in range(clients):
        c = eslib.HttpClient(fe)
        for i in range(per):
            r = c.request("GET", f"/seq/{k}/{i}")
            check_eq(r.status, 200, f"sequential client {k} request {i} ({r.brief()})")
        c.close()
    new_conns = origin.accepts - acc0
    nreq = origin.request_count() - before
    check_eq(nreq, clients * per, "requests from the sequential clients at the origin")
    log(f"{clients} sequential clients x {per} requests: {new_conns} new server connection(s)")
    check(new_conns <= clients, f"server connections ({new_conns}) should be <= client connections ({clients})")
    check(new_conns < nreq, f"server connections ({new_conns}) should be < requests ({nreq})")

    # ---- the origin closes: after `Connection: close` from the origin, and after the origin
    # closed an idle pooled connection, the next request still succeeds on the same client
    # connection (a new server connection is opened; no 502)
    c = eslib.HttpClient(fe)
    r = c.request("GET", "/close")
    check_eq((r.status, r.body), (200, b"closing\n"), "GET /close (the origin closes after answering)")
    acc0 = origin.accepts
    r = c.request("GET", "/after-close")
    check_eq((r.status, r.body), (200, b"path /after-close\n"),
             "request on the same client connection after the origin closed its side")
    check(origin.accepts > acc0 or origin.requests()[-1]["conn"] != origin.requests()[-2]["conn"],
          "the request after the origin's close should use another server connection")
    c.close()
    c = eslib.HttpClient(fe2)
    for i in range(4):
        r = c.request("GET", f"/stale/{i}")
        check_eq(r.status, 200, f"request {i} after the origin closed the idle pooled connection "
                                f"({r.brief()})")
        # the origin closes its idle keep-alive connections after 0.3 s: wait until it did
        eslib.poll_until(lambda i=i: idle_origin.idle_closes >= i + 1, 3,
                         what=f"the origin to close idle connection {i + 1}")
    c.close()
    check_eq(idle_origin.request_count(), 4, "requests at the origin that closes idle connections")
    log(f"origin-side closes: /close and {idle_origin.idle_closes} idle closes handled, no error")

    # ---- counters so far match exactly (fe only: fe2 is not part of it)
    total = origin.request_count()
    m = es.expect_counters("fe", "FRONTEND", {"req_tot": total, "hrsp_2xx": total}, timeout=3,
                           what="frontend request counters after the sequential phase")
    log(f"FRONTEND req_tot = hrsp_2xx = {total}")

    # ---- wrk: 8 keep-alive connections, bounded
    wrk = eslib.require_tool("wrk")
    acc0 = origin.accepts
    before = origin.request_count()
    cp = h.run_cmd([wrk, "-t1", "-c8", "-d3s", "--timeout", "2s", f"http://{eslib.LOCALHOST}:{fe}/"],
                   timeout=20)
    check_eq(cp.returncode, 0, f"wrk exit status (stderr {cp.stderr!r})")
    out = cp.stdout
    mreq = re.search(r"(\d+) requests in", out)
    check(mreq, f"cannot read wrk's request count from: {out!r}")
    done = int(mreq.group(1))
    check("Socket errors" not in out, f"wrk reported socket errors:\n{out}")
    check("Non-2xx" not in out, f"wrk reported non-2xx responses:\n{out}")
    check(done >= 1000, f"wrk completed {done} requests in 3 s, expected >= 1000:\n{out}")
    wconns = origin.accepts - acc0
    wreq = origin.request_count() - before
    log(f"wrk: {done} requests, origin saw {wreq} requests over {wconns} new connection(s)")
    check(wreq >= done, f"the origin saw {wreq} requests, fewer than wrk completed ({done})")
    check(wconns <= 16 and wconns * 50 < wreq,
          f"wrk with 8 keep-alive connections: the origin accepted {wconns} connections for {wreq} "
          f"requests (expected <= 16, far fewer than requests)")

    # ---- counters after wrk: requests wrk abandoned at its deadline may lack a response
    total = origin.request_count()

    def settled():
        row = es.stats().get(("fe", "FRONTEND"), {})
        req_tot, ok = eslib.num(row.get("req_tot")), eslib.num(row.get("hrsp_2xx"))
        return (req_tot, ok) if req_tot >= total and ok >= total - 8 and req_tot - ok <= 8 else None

    req_tot, ok = eslib.poll_until(settled, 5, what=f"FRONTEND req_tot >= {total} (origin requests) "
                                                    f"and hrsp_2xx within 8 of it")
    log(f"after wrk: FRONTEND req_tot={req_tot} hrsp_2xx={ok}; origin requests={total}")
    m = es.stats()
    srow = m.get(("be", "s1"))
    check(srow is not None, "`show stat json` has no be/s1 row")
    check("reuse" in srow, f"be/s1 row has no 'reuse' field; fields: {sorted(srow)}")
    reuse = eslib.num(srow.get("reuse"))
    check(reuse > 0, f"be/s1 reuse should be > 0 after keep-alive traffic, got {srow.get('reuse')!r}")
    check(reuse >= total - origin.accepts - 8,
          f"be/s1 reuse ({reuse}) should count nearly every request sent over an existing "
          f"connection ({total} requests over {origin.accepts} connections)")
    log(f"be/s1 reuse={reuse} connect={srow.get('connect')}")


if __name__ == "__main__":
    eslib.run_http(main)
