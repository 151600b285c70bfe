#!/usr/bin/env python3
"""Pipelined requests (several requests written at once, before any response) are answered in
order, each with its own response:
  - 10 GETs in one write -> 10 responses in order (told apart by path);
  - a mix in one write: 4 GETs, a POST /echo with a 10 kB body, 5 GETs -> in order, the POST's
    body intact at the origin;
  - a slow request (/delay/300) followed by quick ones: the quick ones are not answered first;
  - pipelined requests that end with a `Connection: close` request: all answered, then closed.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def expect_paths(c, paths, what, methods=None):
    out = []
    for i, p in enumerate(paths):
        m = (methods or {}).get(i, "GET")
        r = c.read_response(method=m, timeout=5)
        out.append(r)
        check_eq(r.status, 200, f"{what}: response {i} status ({r.brief()})")
        if m == "GET":
            check_eq(r.body, f"path {p}\n".encode(), f"{what}: response {i} body (order)")
    return out


def main(h):
    px = fixture.proxy_to_origin(h)
    origin, fe = px.origin, px.fe

    # ---- 10 GETs in one write
    c = eslib.HttpClient(fe)
    paths = [f"/p/{i}" for i in range(10)]
    c.send(b"".join(eslib.http_request_bytes("GET", p) for p in paths))
    expect_paths(c, paths, "10 pipelined GETs")
    how, extra, _ = c.wait_closed(0.2)
    check_eq((how, extra), ("timeout", b""), "connection after 10 pipelined responses (open, quiet)")
    log("10 pipelined GETs answered in order")

    # ---- GETs with a POST in the middle
    body = os.urandom(10000)
    reqs = [eslib.http_request_bytes("GET", f"/m/{i}") for i in range(4)]
    reqs.append(eslib.http_request_bytes("POST", "/echo", [("Content-Type", "application/octet-stream")],
                                         body))
    reqs += [eslib.http_request_bytes("GET", f"/m/{i}") for i in range(5, 10)]
    c.send(b"".join(reqs))
    paths = [f"/m/{i}" for i in range(10)]
    rs = expect_paths(c, paths, "pipelined mix with a POST", methods={4: "POST"})
    doc = rs[4].json()
    check_eq((doc["method"], doc["body_len"], doc["body_sha256"]), ("POST", len(body), eslib.sha256(body)),
             "the pipelined POST at the origin (method, length, sha256)")
    log("pipelined mix with a 10 kB POST answered in order, body intact")

    # ---- a slow request first
    paths = ["/delay/300", "/q/1", "/q/2", "/q/3"]
    c.send(b"".join(eslib.http_request_bytes("GET", p) for p in paths))
    r = c.read_response(timeout=5)
    check_eq((r.status, r.body), (200, b"delayed 300 ms\n"), "first response after a slow request (order)")
    expect_paths(c, paths[1:], "quick requests behind a slow one")
    c.close()

    # ---- pipeline ending with Connection: close
    c = eslib.HttpClient(fe)
    data = (eslib.http_request_bytes("GET", "/c/0") + eslib.http_request_bytes("GET", "/c/1")
            + eslib.http_request_bytes("GET", "/c/2", [("Connection", "close")]))
    c.send(data)
    expect_paths(c, ["/c/0", "/c/1", "/c/2"], "pipeline ending with Connection: close")
    how, extra, secs = c.wait_closed(3)
    check(how in ("eof", "reset"), f"connection after answering a Connection: close request: {how} "
                                   f"after {secs:.2f}s")
    check_eq(extra, b"", "bytes after the last response")
    c.close()
    check(not origin.errors, f"origin errors: {origin.errors}")


if __name__ == "__main__":
    eslib.run_http(main)
