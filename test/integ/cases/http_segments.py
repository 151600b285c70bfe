#!/usr/bin/env python3
"""A small message crosses the proxy as one TCP segment, as it arrived: the proxy does not send a
response head and its body (or a request head and its body) in separate sends. Each extra segment
costs the peer a wake-up and a pure ACK, and on a busy box that is a large share of the cost of a
small keep-alive request. Counted by the kernel (TCP_INFO data_segs_in) on both outer sockets:
  - 200 keep-alive GETs with small bodies: the client's socket receives exactly 200 data segments;
  - 50 keep-alive POSTs with a 300-byte body, each written by the client as one segment: the
    origin's socket receives one data segment per request (head and body together);
  - the same for the responses of those POSTs at the client.
"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import http_origin  # noqa: E402
from eslib import check_eq, log  # noqa: E402


def client_data_segs_in(c):
    return http_origin.tcp_data_segs(c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256))[0]


def main(h):
    px = fixture.proxy_to_origin(h)
    fe = px.fe

    # ---- small GET responses: one segment each at the client
    c = eslib.HttpClient(fe)
    n = 200
    for i in range(n):
        r = c.request("GET", f"/p/{i}")
        check_eq((r.status, r.body), (200, f"path /p/{i}\n".encode()), f"GET {i} through the proxy")
    check_eq(client_data_segs_in(c), n, f"data segments received by the client for {n} small responses")
    log(f"{n} small responses: one segment each")

    # ---- small POSTs: head and body leave for the origin together
    body = os.urandom(300)
    m = 50
    before = client_data_segs_in(c)
    for i in range(m):
        r = c.request("POST", "/echo", [("Content-Type", "application/octet-stream")], body)
        check_eq(r.status, 200, f"POST {i} through the proxy")
        check_eq(r.json()["body_len"], len(body), f"POST {i} body length at the origin")
    check_eq(client_data_segs_in(c) - before, m, f"data segments received by the client for {m} POST responses")
    r = c.request("GET", "/tcpinfo")
    check_eq(r.status, 200, "GET /tcpinfo")
    seq = int(r.header("X-Req"))
    segs = json.loads(r.body)["data_segs_in"]
    # the origin connection carried seq + 1 requests (this one included), each one segment
    check_eq(segs, seq + 1, f"data segments received by the origin for {seq + 1} requests on one connection")
    check_eq(seq + 1 >= m, True, f"the requests shared one server connection (it carried {seq + 1})")
    log(f"{seq + 1} requests (GETs and {m} POSTs with bodies) reached the origin as one segment each")
    c.close()


if __name__ == "__main__":
    eslib.run_http(main)
