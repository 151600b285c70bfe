#!/usr/bin/env python3
"""`http-reuse never`: a server connection is never shared between client connections, but it
stays with its own client connection for that client's next requests (HAProxy semantics). Two
keep-alive clients, interleaved, 3 requests each: each client's requests arrive on one server
connection of its own (X-Conn), and the origin accepts exactly 2 connections. With the default
(`safe`), a later client connection may be served by a connection another client used.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def main(h):
    px = fixture.proxy_to_origin(h, origin_opts={"name": "origin"}, be_lines="http-reuse never")
    origin, fe, es = px.origin, px.fe, px.proxy

    a, b = eslib.HttpClient(fe), eslib.HttpClient(fe)
    seen = {"a": set(), "b": set()}
    try:
        for i in range(3):
            for name, c in (("a", a), ("b", b)):
                r = c.request("GET", f"/{name}/{i}")
                check_eq(r.status, 200, f"client {name} request {i} ({r.brief()})")
                seen[name].add(r.header("X-Conn"))
    finally:
        a.close()
        b.close()
    log(f"server connections seen: a={sorted(seen['a'])} b={sorted(seen['b'])}")
    check_eq(len(seen["a"]), 1, "client a's requests share one server connection")
    check_eq(len(seen["b"]), 1, "client b's requests share one server connection")
    check(seen["a"].isdisjoint(seen["b"]), f"the two clients never share a server connection: {seen}")
    check_eq(origin.request_count(), 6, "requests at the origin")
    check_eq(es.stat("be", "s1", "connect"), 2, "server connections opened (one per client)")
    check_eq(es.stat("be", "s1", "reuse"), 4, "requests over the client's own kept connection")
    check_eq(es.stat("be", "s1", "idle_conn_cur"), 0, "nothing in the shared idle pool")


if __name__ == "__main__":
    eslib.run(main)
