#!/usr/bin/env python3
"""A sweep of malformed and ambiguous requests (request smuggling material among them): each one,
sent on its own connection in one write, gets a 4xx/5xx status from the set allowed for it
(400, 501 for an unknown transfer coding, 505 for a version we do not speak), the proxy then
closes the connection, and NOTHING reaches the origin (no connection, no byte). At the end a
well-formed request still works (the origin is reachable, so "untouched" means "rejected").
Items where HAProxy is deliberately more lenient than edgeshard are marked edgeshard-only.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

H = "Host: test.local\r\n"
B400 = {400}

# (name, raw request, allowed statuses, None if HAProxy agrees or why it is edgeshard-only)
CASES = [
    ("bare LF line endings", b"GET / HTTP/1.1\nHost: test.local\n\n", B400,
     "HAProxy accepts LF-only line endings"),
    ("NUL in a header value", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A: a\x00b\r\n\r\n", B400,
     "HAProxy 2.6 forwards NUL in header values"),
    ("bad method characters", b"G(E)T / HTTP/1.1\r\n" + H.encode() + b"\r\n", B400, None),
    ("control character in the target", b"GET /a\x01b HTTP/1.1\r\n" + H.encode() + b"\r\n", B400, None),
    ("space inside the target", b"GET /a b HTTP/1.1\r\n" + H.encode() + b"\r\n", B400, None),
    ("tab as request-line separator", b"GET\t/ HTTP/1.1\r\n" + H.encode() + b"\r\n", B400,
     "HAProxy accepts any blank run as separator"),
    ("double space in the request line", b"GET  / HTTP/1.1\r\n" + H.encode() + b"\r\n", B400,
     "HAProxy accepts any blank run as separator"),
    ("HTTP/0.9 request line (no version)", b"GET /\r\n\r\n", {400, 505}, None),
    ("lower-case version", b"GET / http/1.1\r\n" + H.encode() + b"\r\n", B400, None),
    ("HTTP/2.0 version", b"GET / HTTP/2.0\r\n" + H.encode() + b"\r\n", {505},
     "HAProxy 2.6 forwards an HTTP/2.0 request line as HTTP/1.1"),
    ("HTTP/3.0 version", b"GET / HTTP/3.0\r\n" + H.encode() + b"\r\n", {505},
     "HAProxy 2.6 forwards an HTTP/3.0 request line as HTTP/1.1"),
    ("huge chunk size", b"POST / HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
     b"FFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n", B400, None),
    ("non-hex chunk size", b"POST / HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nabc\r\n0\r\n\r\n", B400, None),
    ("chunk data not followed by CRLF", b"POST / HTTP/1.1\r\n" + H.encode() +
     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", B400, None),
    ("negative Content-Length", b"POST / HTTP/1.1\r\n" + H.encode() + b"Content-Length: -1\r\n\r\n", B400, None),
    ("Content-Length with a plus sign", b"POST / HTTP/1.1\r\n" + H.encode() + b"Content-Length: +5\r\n\r\nhello",
     B400, None),
    ("non-numeric Content-Length", b"POST / HTTP/1.1\r\n" + H.encode() + b"Content-Length: abc\r\n\r\n", B400, None),
    ("two different Content-Length headers", b"POST / HTTP/1.1\r\n" + H.encode() +
     b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", B400, None),
    ("Content-Length list", b"POST / HTTP/1.1\r\n" + H.encode() + b"Content-Length: 5, 6\r\n\r\nhello!", B400, None),
    ("Transfer-Encoding chunked plus Content-Length", b"POST / HTTP/1.1\r\n" + H.encode() +
     b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", B400,
     "HAProxy drops Content-Length and uses the chunked framing"),
    ("Transfer-Encoding: identity", b"POST / HTTP/1.1\r\n" + H.encode() +
     b"Transfer-Encoding: identity\r\n\r\n", {400, 501}, None),
    ("Transfer-Encoding not ending in chunked", b"POST / HTTP/1.1\r\n" + H.encode() +
     b"Transfer-Encoding: chunked, gzip\r\n\r\n", {400, 501}, None),
    ("Transfer-Encoding: chunked, chunked", b"POST / HTTP/1.1\r\n" + H.encode() +
     b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", B400, None),
    ("Transfer-Encoding in an HTTP/1.0 request", b"POST / HTTP/1.0\r\n" + H.encode() +
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", B400, "HAProxy accepts chunked in HTTP/1.0"),
    ("Host header twice", b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", B400, None),
    ("absolute URI with a mismatching Host", b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n",
     B400, None),
    ("missing Host in HTTP/1.1", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", B400, "HAProxy does not require Host"),
    ("space before the colon", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A : b\r\n\r\n", B400, None),
    ("header line without a colon", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A b\r\n\r\n", B400, None),
    ("empty header name", b"GET / HTTP/1.1\r\n" + H.encode() + b": b\r\n\r\n", B400, None),
    ("bad character in a header name", b"GET / HTTP/1.1\r\n" + H.encode() + b"X(A): b\r\n\r\n", B400, None),
    ("obs-fold (line folding)", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A: a\r\n b\r\n\r\n", B400,
     "HAProxy unfolds obs-fold into spaces"),
    ("bare CR in a header value", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A: a\rb\r\n\r\n", B400, None),
    ("DEL in a header value", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A: a\x7fb\r\n\r\n", B400,
     "HAProxy accepts DEL in header values"),
]


def main(h):
    px = fixture.proxy_to_origin(h)
    origin, fe = px.origin, px.fe

    problems = []
    checked = 0
    for name, raw, allowed, lenient in CASES:
        before = (origin.request_count(), origin.bytes_in, origin.accepts)
        r, how, err = eslib.raw_exchange(fe, raw, timeout=2)
        after = (origin.request_count(), origin.bytes_in, origin.accepts)
        status = r.status if r else None
        reached = after != before
        verdict = []
        if status not in allowed:
            verdict.append(f"status {status} (expected one of {sorted(allowed)})"
                           + (f"; {err}" if err and not r else ""))
        if how == "timeout":
            verdict.append("the connection stayed open after the error")
        if reached:
            reqs = origin.requests()[before[0]:]
            verdict.append(f"it reached the origin ({after[2] - before[2]} connection(s), "
                           f"{after[1] - before[1]} bytes, requests "
                           f"{[(q['method'], q['target'], q['headers']) for q in reqs]})")
        label = f"{name}: got {status}, {how}{', reached origin' if reached else ''}"
        if lenient and not eslib.on_edgeshard():
            log(f"  [{eslib.test_peer()}] edgeshard-only ({lenient}): {label}")
            continue
        checked += 1
        if verdict:
            problems.append(f"{name} {raw[:60]!r}: " + "; ".join(verdict))
            log(f"  BAD {label}")
        else:
            log(f"  ok  {label}")
    log(f"{checked} of {len(CASES)} items checked")
    check(not problems, f"{len(problems)} malformed request(s) mishandled:\n  " + "\n  ".join(problems))
    if eslib.on_edgeshard():
        check_eq(origin.untouched(), "", "what reached the origin during the sweep")

    # the origin is reachable: the rejections above were the proxy's doing
    r = eslib.http_get(fe, "/fine")
    check_eq((r.status, r.body), (200, b"path /fine\n"), "a well-formed request after the sweep")


if __name__ == "__main__":
    eslib.run_http(main)
