#!/usr/bin/env python3
"""Connection upgrade (WebSocket handshake) and the tunnel that follows:
  - GET /ws with Connection: Upgrade / Upgrade: websocket reaches the origin with both headers
    (hop-by-hop headers that an upgrade must carry) and the 101 comes back with Upgrade,
    Connection: Upgrade and the origin's Sec-WebSocket-Accept;
  - bytes then flow both ways through the tunnel (1 MiB echoed, sent concurrently);
  - `timeout tunnel 2s` governs the upgraded connection: an idle second (twice `timeout client
    500ms` / `timeout server 500ms`) does not close it; about 2 s of idleness does.
"""
import base64
import hashlib
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import http_origin  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402


def main(h):
    px = fixture.proxy_to_origin(h, fe_lines="timeout client 500ms", be_lines="""
        timeout server 500ms
        timeout tunnel 2s""")
    origin, fe = px.origin, px.fe

    key = base64.b64encode(os.urandom(16)).decode()
    accept = base64.b64encode(hashlib.sha1((key + http_origin.WS_GUID).encode()).digest()).decode()
    c = eslib.HttpClient(fe)
    c.send(eslib.http_request_bytes("GET", "/ws", [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                                   ("Sec-WebSocket-Key", key),
                                                   ("Sec-WebSocket-Version", "13")]))
    r = c.read_head(timeout=3, what="101 response")
    check_eq(r.status, 101, f"upgrade response status ({r.brief()})")
    check_eq((r.header("Upgrade") or "").lower(), "websocket", f"Upgrade header of the 101 ({r.headers})")
    check("upgrade" in (r.header("Connection") or "").lower(),
          f"Connection header of the 101 should name upgrade ({r.headers})")
    check_eq(r.header("Sec-WebSocket-Accept"), accept, "Sec-WebSocket-Accept of the 101")
    reqs = origin.requests()
    check_eq(len(reqs), 1, "requests at the origin")
    got = {n.lower(): v for n, v in reqs[0]["headers"]}
    check_eq(got.get("upgrade", "").lower(), "websocket", f"Upgrade header at the origin ({reqs[0]['headers']})")
    check("upgrade" in got.get("connection", "").lower(),
          f"Connection: Upgrade at the origin ({reqs[0]['headers']})")
    check_eq(got.get("sec-websocket-key"), key, "Sec-WebSocket-Key at the origin")
    check_eq(c.buffered(), b"", "bytes after the 101 before anything was sent")

    # ---- echo through the tunnel, both directions at once
    payload = os.urandom(MiB)
    err = []

    def sender():
        try:
            for off in range(0, len(payload), 65536):
                c.sock.sendall(payload[off:off + 65536])
        except OSError as e:
            err.append(repr(e))

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    back = eslib.recv_exact(c.sock, len(payload), timeout=10, what="1 MiB echoed through the tunnel")
    t.join(10)
    check(not err, f"sending through the tunnel failed: {err}")
    check(back == payload, "the bytes echoed through the tunnel differ from those sent")
    log("1 MiB echoed through the tunnel")

    # ---- idle longer than timeout client/server: still open
    check(eslib.nothing_arrives(c.sock, 1.0),
          "the tunnel was closed (or sent data) during 1 s of idleness; `timeout tunnel 2s` should "
          "replace `timeout client 500ms` and `timeout server 500ms` once upgraded")
    c.sock.sendall(b"still there?")
    check_eq(eslib.recv_exact(c.sock, 12, timeout=2, what="echo after 1 s idle"), b"still there?",
             "echo after 1 s of idleness")
    last = time.monotonic()

    # ---- idle past timeout tunnel: closed after about 2 s
    how, data, _ = eslib.wait_eof(c.sock, 6)
    idle = time.monotonic() - last
    c.close()
    log(f"idle tunnel: {how} after {idle:.2f}s")
    check(how in ("eof", "reset"), f"idle tunnel not closed within {idle:.1f}s (timeout tunnel 2s)")
    check_eq(data, b"", "bytes received on the idle tunnel")
    eslib.check_range(round(idle, 2), 1.6, 4.0, "seconds of idleness before the tunnel closed "
                                                "(timeout tunnel 2s)")
    check(not origin.errors, f"origin errors: {origin.errors}")


if __name__ == "__main__":
    eslib.run_http(main)
