#!/usr/bin/env python3
"""`monitor-uri` and `monitor fail`, as HAProxy 2.6 answers them (the same file runs through HAProxy
with ES_TEST_PEER=haproxy):
  - a request for exactly the monitor URI (any method) is answered by the proxy, 200 with HAProxy's
    "Service ready." page, before any http-request rule and without reaching a server; another URI
    (the same path with a query too) goes through the rules as usual;
  - `monitor fail if A || B`: 503 when either holds, 200 otherwise; `monitor fail unless C`: 503
    unless C holds;
  - monitor requests are not logged (the access log to stderr has the other requests only).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
READY = b"<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"


def main(h):
    sock = h.sock_path()
    p1, p2 = eslib.free_port(), eslib.free_port()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend f1", f"""
                bind {L}:{p1}
                log stderr format raw local0
                option httplog
                monitor-uri /health
                monitor fail if {{ hdr(x-a) -m found }} || {{ hdr(x-b) -m found }}
                http-request return status 299 content-type text/plain string other""")
           + eslib.section("frontend f2", f"""
                bind {L}:{p2}
                monitor-uri /alive
                monitor fail unless {{ hdr(x-ok) -m found }}
                http-request return status 299 content-type text/plain string other"""))
    es = eslib.start_proxy(h, cfg, ports=[p1, p2], sock=sock)

    r = eslib.http_get(p1, "/health")
    check_eq((r.status, r.body), (200, READY), "GET /health: HAProxy's ready page")
    check_eq(r.header("content-type"), "text/html", "its content type")
    check_eq(eslib.http_get(p1, "/health", method="POST").status, 200, "POST /health: the method is ignored")
    check_eq(eslib.http_get(p1, "/health?x=1").status, 299, "the URI with a query is not the monitor URI")
    check_eq(eslib.http_get(p1, "/other").status, 299, "another URI goes through the rules")
    check_eq(eslib.http_get(p1, "/health", headers=[("x-a", "1")]).status, 503, "monitor fail: the first condition")
    check_eq(eslib.http_get(p1, "/health", headers=[("x-b", "1")]).status, 503, "monitor fail: the second condition")
    check_eq(eslib.http_get(p2, "/alive").status, 503, "monitor fail unless: the condition does not hold")
    check_eq(eslib.http_get(p2, "/alive", headers=[("x-ok", "1")]).status, 200, "monitor fail unless: it holds")
    check_eq(eslib.http_get(p2, "/other").status, 299, "f2's other URIs")

    def logged():
        text = es.stderr_text()
        return text if "/other" in text else None
    text = eslib.poll_until(logged, 5, interval=0.1, what="the access log line of GET /other")
    lines = [ln for ln in text.splitlines() if "f1" in ln and "HTTP/1.1" in ln]
    log(f"access log lines: {len(lines)}")
    check(not any(" /health HTTP/" in ln for ln in lines), f"monitor requests are not logged: {lines}")
    check(any("/health?x=1" in ln for ln in lines), f"the other requests are: {lines}")


if __name__ == "__main__":
    eslib.run_http(main)
