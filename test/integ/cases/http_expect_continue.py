#!/usr/bin/env python3
"""`Expect: 100-continue`:
  - curl (--expect100-timeout 5) POSTing 1 MiB: exactly one `100 Continue` then the final 200,
    promptly (curl does not sit out its 5 s wait), body intact at the origin;
  - a raw client sends only the head, waits for the 100, then the body: one 100, then 200 with
    the body's sha256 at the origin, and nothing else on the connection;
  - a request the rules deny gets its 403 straight away, without a 100, and never reaches the origin.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402


def main(h):
    px = fixture.proxy_to_origin(h, fe_lines="http-request deny deny_status 403 if { path_beg /denied }")
    origin, fe = px.origin, px.fe

    # ---- curl
    data = os.urandom(MiB)
    path = h.path("body.bin")
    with open(path, "wb") as f:
        f.write(data)
    t0 = time.monotonic()
    cp = eslib.curl(h, ["-v", "--expect100-timeout", "5", "-H", "Expect: 100-continue",
                        "-H", "Content-Type: application/octet-stream",
                        "--data-binary", f"@{path}", f"http://{eslib.LOCALHOST}:{fe}/echo"])
    secs = time.monotonic() - t0
    check_eq(cp.returncode, 0, f"curl exit status (stderr tail {cp.stderr[-500:]!r})")
    statuses = re.findall(r"^< HTTP/1\.[01] (\d{3})", cp.stderr, re.M)
    check_eq(statuses, ["100", "200"], "status lines curl received (exactly one 100, then 200)")
    check(secs < 3.0, f"curl took {secs:.2f}s: the 100 Continue did not come promptly "
                      f"(curl waits 5 s for it)")
    doc = json.loads(cp.stdout)
    check_eq((doc["body_len"], doc["body_sha256"]), (len(data), eslib.sha256(data)),
             "curl's body at the origin")
    log(f"curl: 100 then 200 in {secs:.2f}s, body intact")

    # ---- raw client that waits for the 100
    body = os.urandom(100000)
    c = eslib.HttpClient(fe)
    c.send(eslib.http_request_bytes("POST", "/echo", [("Content-Length", str(len(body))),
                                                       ("Expect", "100-continue")]))
    r = c.read_response(timeout=3, interim=True)
    check_eq((r.status, r.reason), (100, "Continue"), f"first response to the head alone ({r.brief()})")
    check_eq(c.buffered(), b"", "bytes after the 100 Continue before the body was sent")
    c.send(body)
    r = c.read_response(timeout=5)
    check_eq(r.status, 200, f"final response ({r.brief()})")
    check_eq(r.interim, [], f"further interim responses before the final one: {r.interim}")
    doc = r.json()
    check_eq((doc["body_len"], doc["body_sha256"]), (len(body), eslib.sha256(body)),
             "raw client's body at the origin")
    # the connection stays usable
    r = c.request("GET", "/after")
    check_eq((r.status, r.body), (200, b"path /after\n"), "request after the 100-continue exchange")
    c.close()
    log("raw client: 100, body, 200, body intact")

    # ---- denied: no 100, the 403 straight away, origin untouched
    before = origin.request_count()
    c = eslib.HttpClient(fe)
    c.send(eslib.http_request_bytes("POST", "/denied", [("Content-Length", "100000"),
                                                         ("Expect", "100-continue")]))
    r = c.read_response(timeout=3, interim=True)
    check_eq(r.status, 403, f"denied request with Expect: first response ({r.brief()})")
    c.close()
    check_eq(origin.request_count(), before, "requests reaching the origin for the denied request")
    check(not origin.errors, f"origin errors: {origin.errors}")


if __name__ == "__main__":
    eslib.run_http(main)
