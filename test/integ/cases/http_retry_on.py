#!/usr/bin/env python3
"""`retry-on` layer-7 retries for bodiless requests (HAProxy semantics): with
`retry-on 503 empty-response` and `retries 2`, a request whose first answer is a 503, or whose
connection closes with no response, is sent again on a new connection and the client gets 200;
the backend counts the retries (wretr). Without `retry-on` (default conn-failure only), the same
failures reach the client (503, then 502). A POST is never retried.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check_eq, log  # noqa: E402


def main(h):
    origin = http_origin.start(h, name="origin")
    fe_r, fe_n = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe_r", f"bind {eslib.LOCALHOST}:{fe_r}\ndefault_backend be_r")
           + eslib.section("backend be_r", f"""
                retries 2
                retry-on 503 empty-response
                server s1 {eslib.LOCALHOST}:{origin.port}""")
           + eslib.section("frontend fe_n", f"bind {eslib.LOCALHOST}:{fe_n}\ndefault_backend be_n")
           + eslib.section("backend be_n", f"server s1 {eslib.LOCALHOST}:{origin.port}"))
    es = eslib.start_proxy(h, cfg, ports=[fe_r, fe_n], sock=sock)

    r = eslib.http_get(fe_r, "/fail-once/503/a")
    check_eq(r.status, 200, f"a 503 answer is retried ({r.brief()})")
    r = eslib.http_get(fe_r, "/fail-once/0/b")
    check_eq(r.status, 200, f"a connection closed with no response is retried ({r.brief()})")
    check_eq(es.stat("be_r", "BACKEND", "wretr"), 2, "be_r retries")
    check_eq(es.stat("be_r", "BACKEND", "hrsp_5xx"), 0, "no 5xx reached the client")
    r = eslib.http_get(fe_r, "/fail-once/503/c", method="POST", body=b"body",
                       headers=[("Content-Type", "text/plain")])
    check_eq(r.status, 503, f"a request with a body is not retried ({r.brief()})")

    r = eslib.http_get(fe_n, "/fail-once/503/d")
    check_eq(r.status, 503, f"without retry-on the 503 reaches the client ({r.brief()})")
    r = eslib.http_get(fe_n, "/fail-once/0/e")
    check_eq(r.status, 502, f"without retry-on an empty response is a 502 ({r.brief()})")
    check_eq(es.stat("be_n", "BACKEND", "wretr"), 0, "be_n retries")
    log("retry-on: 503 and empty responses retried; defaults leave them to the client")


if __name__ == "__main__":
    eslib.run(main)
