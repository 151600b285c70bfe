#!/usr/bin/env python3
"""A pooled server connection that the server closes just as the proxy reuses it (the origin's
/drop-reused drops, unanswered, every request after the first on a connection). A bodiless request
is sent again on a new connection: the client gets 200, never a 502, and the backend counts the
retry (wretr). A request with a body is not replayed: 502. Requests on fresh connections are never
replayed (the origin sees each exactly once).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

N = 6


def main(h):
    px = fixture.proxy_to_origin(h, origin_opts={"name": "origin"}, be_lines="http-reuse always")
    origin, fe, es = px.origin, px.fe, px.proxy

    # a first request leaves one idle server connection in the pool
    r = eslib.http_get(fe, "/drop-reused")
    check_eq(r.status, 200, f"first request, fresh server connection ({r.brief()})")
    check_eq(origin.request_count(), 1, "origin requests after the first one")

    # each later request reuses the pooled connection, which the origin drops: replayed on a new one
    for i in range(N):
        r = eslib.http_get(fe, "/drop-reused")
        check_eq(r.status, 200, f"request {i} over a connection the server dropped ({r.brief()})")
        check("fresh connection" in r.body.decode("utf-8", "replace"),
              f"request {i}: answered on a new connection ({r.body[:80]!r})")
    # every replayed request reached the origin twice: dropped once, answered once
    check_eq(origin.request_count(), 1 + 2 * N, "origin requests (dropped + answered)")
    es.wait_stat("be", "BACKEND", "wretr", lambda v: v >= N, timeout=3, what=f"be wretr >= {N}")
    log(f"BACKEND wretr={es.stat('be', 'BACKEND', 'wretr')} after {N} replays")
    check_eq(es.stat("be", "BACKEND", "hrsp_5xx"), 0, "no 5xx while replaying")

    # a request with a body is never replayed: the client gets 502, the origin saw it once
    before = origin.request_count()
    r = eslib.http_get(fe, "/drop-reused", method="POST", body=b"x" * 100,
                       headers=[("Content-Type", "text/plain")])
    check_eq(r.status, 502, f"POST over a dropped reused connection ({r.brief()})")
    check_eq(origin.request_count(), before + 1, "the POST reached the origin once")


if __name__ == "__main__":
    eslib.run(main)
