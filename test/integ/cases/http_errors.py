#!/usr/bin/env python3
"""Error replies and the request/response rules, each checked for its exact status and headers.

fe_strict (its origin must stay untouched): malformed requests get the right status with the
built-in page (Content-Type text/html, Cache-Control no-cache, Content-Length) and the connection
is closed: CL+TE 400, two Content-Length 400 (different or equal values), bad chunk size 400,
obs-fold 400, space before colon 400, missing Host on 1.1 400, request line over the limit 414,
header block over the limit 431, body over `tune.es.max-body` 413, HTTP/2.0 505, unknown
transfer coding 501.

fe_rules: `http-request deny deny_status 403` on `path_beg /admin` (origin untouched);
`http-error status 404 ... string "nope"` used by a deny with deny_status 404;
`http-request return status 200 ... string "ok"`; `http-request redirect prefix ... code 301`
(Location keeps path and query); `redirect scheme https` (302, Location https://<host><uri>);
set-header / add-header / del-header seen at the origin (values with %[src], %[method], %[path],
%[req.hdr()] (empty when absent), %[hdr()], '%%'; %[res.hdr()] in a response); `http-response set-header / del-header`
seen at the client; `option forwardfor` adds X-Forwarded-For: 127.0.0.1; hop-by-hop headers
(Connection-listed Foo, Keep-Alive, TE, Proxy-Connection) do not reach the origin.

fe_files: `errorfiles <http-errors section>` gives the 403 of a deny; a backend whose only server
is disabled answers with its `errorfile 503` file, verbatim.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

H = b"Host: test.local\r\n"

ERR_503_BODY = b"<html>custom 503, verbatim</html>\n"
ERR_503 = (b"HTTP/1.1 503 Service Unavailable\r\n"
           b"Content-Type: text/html\r\n"
           b"Cache-Control: no-cache\r\n"
           b"X-Error-Source: errorfile-503\r\n"
           b"Content-Length: %d\r\n"
           b"\r\n" % len(ERR_503_BODY)) + ERR_503_BODY
ERR_403 = (b"HTTP/1.1 403 Forbidden\r\n"
           b"Content-Type: text/plain\r\n"
           b"X-Error-Source: http-errors-403\r\n"
           b"Content-Length: 22\r\n"
           b"\r\n"
           b"custom forbidden page\n")

# (name, raw request, status, None if HAProxy 2.6 agrees, else why the check is edgeshard-only)
STRICT = [
    ("Content-Length with Transfer-Encoding", b"POST / HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
     "HAProxy drops Content-Length and uses the chunked framing"),
    ("two different Content-Length", b"POST / HTTP/1.1\r\n" + H +
     b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, None),
    ("two equal Content-Length", b"POST / HTTP/1.1\r\n" + H +
     b"Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", 400, "HAProxy merges equal Content-Length values"),
    ("bad chunk size", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n",
     400, None),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: one\r\n two\r\n\r\n", 400,
     "HAProxy unfolds obs-fold into spaces"),
    ("space before colon", b"GET / HTTP/1.1\r\n" + H + b"X-A : one\r\n\r\n", 400, None),
    ("missing Host on HTTP/1.1", b"GET / HTTP/1.1\r\nX-A: one\r\n\r\n", 400, "HAProxy does not require Host"),
    ("request line over the limit", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414,
     "HAProxy answers 400 when the request line does not fit its buffer"),
    ("header block over the limit", b"GET / HTTP/1.1\r\n" + H +
     b"".join(b"X-Big-%d: %s\r\n" % (i, b"b" * 2000) for i in range(20)) + b"\r\n", 431,
     "HAProxy answers 400 when the headers do not fit its buffer"),
    ("body over tune.es.max-body", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2000000\r\n\r\n" +
     b"x" * 1000, 413, "tune.es.max-body is an edgeshard keyword"),
    ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505,
     "HAProxy 2.6 forwards an HTTP/2.0 request line as HTTP/1.1"),
    ("unknown transfer coding", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: foo\r\n\r\n", 501,
     "HAProxy answers 400 to a transfer coding it does not know"),
]


def check_builtin_page(r, status, what):
    """A built-in error page: the status, a text/html body whose length Content-Length gives,
    Cache-Control: no-cache."""
    check_eq(r.status, status, f"{what}: status ({r.brief()})")
    check(r.reason.strip() != "", f"{what}: empty reason phrase")
    cl = r.header("Content-Length")
    check(cl is not None and int(cl) == r.body_len, f"{what}: Content-Length {cl!r} for a "
                                                    f"{r.body_len}-byte body ({r.headers})")
    check_eq((r.header("Content-Type") or "").split(";")[0].strip(), "text/html", f"{what}: Content-Type")
    check_eq(r.header("Cache-Control"), "no-cache", f"{what}: Cache-Control")
    check(str(status).encode() in r.body, f"{what}: the page should name the status: {r.body[:200]!r}")


def strict_checks(fe, origin):
    problems = []
    for name, raw, status, lenient in STRICT:
        before = (origin.request_count(), origin.bytes_in, origin.accepts)
        r, how, err = eslib.raw_exchange(fe, raw, timeout=2)
        reached = (origin.request_count(), origin.bytes_in, origin.accepts) != before
        label = f"{name}: got {r.status if r else None}, {how}{', reached the origin' if reached else ''}"
        if lenient and not eslib.on_edgeshard():
            log(f"  [{eslib.test_peer()}] edgeshard-only ({lenient}): {label}")
            continue
        bad = []
        if r is None:
            bad.append(f"no response ({err})")
        else:
            try:
                check_builtin_page(r, status, name)
            except eslib.Failure as e:
                bad.append(str(e))
        if how == "timeout":
            bad.append("the connection stayed open after the error reply")
        if reached:
            bad.append("the request reached the origin: " + origin.untouched())
        if bad:
            problems.append(f"{name}: " + "; ".join(bad))
            log(f"  BAD {label}")
        else:
            log(f"  ok  {label}")
    check(not problems, f"{len(problems)} error reply problem(s):\n  " + "\n  ".join(problems))


def main(h):
    strict = http_origin.start(h, name="strict")
    rules = http_origin.start(h, name="rules")
    fe_strict, fe_rules, fe_files = eslib.free_port(), eslib.free_port(), eslib.free_port()
    dead = eslib.free_port()
    f503 = h.path("503.http")
    f403 = h.path("403.http")
    with open(f503, "wb") as f:
        f.write(ERR_503)
    with open(f403, "wb") as f:
        f.write(ERR_403)
    sock = h.sock_path()
    cfg = (eslib.http_global(sock, extra="tune.es.max-body 1m")
           + eslib.http_defaults()
           + eslib.section("http-errors site_errors", f"errorfile 403 {f403}")
           + eslib.section("frontend fe_strict", f"bind {eslib.LOCALHOST}:{fe_strict}\ndefault_backend be_strict")
           + eslib.section("backend be_strict", f"""
                option forwardfor except 127.0.0.0/8
                server strict {eslib.LOCALHOST}:{strict.port}""")
           + eslib.section("frontend fe_rules", f"""
                bind {eslib.LOCALHOST}:{fe_rules}
                option forwardfor except 10.0.0.0/8
                acl is_admin path_beg /admin
                http-request deny deny_status 403 if is_admin
                http-request deny deny_status 404 if {{ path_beg /hidden }}
                http-error status 404 content-type text/plain string "nope"
                http-request return status 200 content-type text/plain string "ok" if {{ path /health }}
                http-request redirect prefix https://x.example code 301 if {{ path_beg /old }}
                http-request set-header X-Set set-by-proxy
                http-request add-header X-Add added
                http-request set-header X-Expr "%[src] %[method] %[path] [%[req.hdr(x-none)]] [%[hdr(x-keep)]] 100%%"
                http-response set-header X-Resp-Expr "%[res.hdr(x-origin)]/%[src]"
                http-request del-header X-Del
                http-response set-header X-Resp yes
                http-response del-header Server
                redirect scheme https if {{ path_beg /secure }}
                default_backend be_rules""")
           + eslib.section("backend be_rules", f"server r1 {eslib.LOCALHOST}:{rules.port}")
           + eslib.section("frontend fe_files", f"""
                bind {eslib.LOCALHOST}:{fe_files}
                errorfiles site_errors
                http-request deny deny_status 403 if {{ path_beg /admin }}
                default_backend be_down""")
           + eslib.section("backend be_down", f"""
                errorfile 503 {f503}
                server d1 {eslib.LOCALHOST}:{dead} disabled"""))
    eslib.start_proxy(h, cfg, ports=[fe_strict, fe_rules, fe_files], sock=sock)

    # ---- malformed requests
    strict_checks(fe_strict, strict)

    # ---- deny / http-error / return / redirects
    n0 = rules.request_count()
    r = eslib.http_get(fe_rules, "/admin/panel")
    check_builtin_page(r, 403, "deny on path_beg /admin")
    r = eslib.http_get(fe_rules, "/hidden/x")
    check_eq((r.status, r.body), (404, b"nope"), f"deny_status 404 with http-error status 404 ({r.brief()})")
    check_eq((r.header("Content-Type") or "").split(";")[0], "text/plain", "http-error 404 Content-Type")
    r = eslib.http_get(fe_rules, "/health")
    check_eq((r.status, r.body), (200, b"ok"), f"http-request return ({r.brief()})")
    check_eq((r.header("Content-Type") or "").split(";")[0], "text/plain", "http-request return Content-Type")
    r = eslib.http_get(fe_rules, "/old/page?q=1&r=2")
    check_eq(r.status, 301, f"redirect prefix code 301 ({r.brief()})")
    check_eq(r.header("Location"), "https://x.example/old/page?q=1&r=2", "redirect prefix Location")
    r = eslib.http_get(fe_rules, "/secure/area?x=1", host="shop.example")
    check_eq(r.status, 302, f"redirect scheme https ({r.brief()})")
    check_eq(r.header("Location"), "https://shop.example/secure/area?x=1", "redirect scheme Location")
    check_eq(rules.request_count(), n0, "requests at the origin for deny/return/redirect (none should reach it)")
    log("deny 403, http-error 404, return 200, redirect prefix 301, redirect scheme 302: ok")

    # ---- header rules, forwardfor
    r = eslib.http_get(fe_rules, "/echo", headers=[("X-Set", "from-client"), ("X-Add", "mine"),
                                                   ("X-Del", "secret"), ("X-Keep", "kept")])
    check_eq(r.status, 200, f"/echo through the rules ({r.brief()})")
    req = rules.requests()[-1]
    hv = lambda n: http_origin.header_values(req, n)  # noqa: E731
    check_eq(hv("X-Set"), ["set-by-proxy"], "X-Set at the origin (set-header replaces)")
    check_eq(hv("X-Add"), ["mine", "added"], "X-Add at the origin (add-header appends)")
    check_eq(hv("X-Del"), [], "X-Del at the origin (del-header)")
    check_eq(hv("X-Keep"), ["kept"], "an untouched header at the origin")
    check_eq(hv("X-Forwarded-For"), ["127.0.0.1"],
             "X-Forwarded-For at the origin (option forwardfor except 10.0.0.0/8, client 127.0.0.1)")
    r2 = eslib.http_get(fe_strict, "/echo")
    check_eq(r2.status, 200, f"/echo through be_strict ({r2.brief()})")
    check_eq(http_origin.header_values(strict.requests()[-1], "X-Forwarded-For"), [],
             "X-Forwarded-For at the origin for a client in 'option forwardfor except 127.0.0.0/8'")
    check_eq(r.header("X-Resp"), "yes", "X-Resp at the client (http-response set-header)")
    check_eq(r.headers_named("Server"), [], "Server at the client (http-response del-header)")
    check_eq(r.header("X-Origin"), "rules", "X-Origin at the client (untouched response header)")
    # log-format values: evaluated samples, a missing one is empty (HAProxy 2.6), '%%' is '%'
    check_eq(hv("X-Expr"), ["127.0.0.1 GET /echo [] [kept] 100%"], "X-Expr at the origin (%[...] samples)")
    check_eq(r.header("X-Resp-Expr"), "rules/127.0.0.1", "X-Resp-Expr at the client (response samples)")
    log("set/add/del-header, log-format samples, forwardfor, http-response set/del-header: ok")

    # ---- hop-by-hop headers
    r = eslib.http_get(fe_rules, "/echo", headers=[("Connection", "keep-alive, Foo"), ("Foo", "bar"),
                                                   ("Keep-Alive", "timeout=5"), ("TE", "trailers"),
                                                   ("Proxy-Connection", "keep-alive"), ("X-End", "1")])
    check_eq(r.status, 200, f"/echo with hop-by-hop headers ({r.brief()})")
    req = rules.requests()[-1]
    names = [n.lower() for n, _ in req["headers"]]
    conn_vals = ",".join(http_origin.header_values(req, "Connection")).lower()
    if eslib.edgeshard_only("hop-by-hop headers are not forwarded (HAProxy 2.6 forwards Connection-listed "
                            "headers, Keep-Alive, TE and Proxy-Connection; it only drops keep-alive/close "
                            f"tokens; it sent {req['headers']})"):
        leaked = [n for n in ("foo", "keep-alive", "proxy-connection", "te") if n in names]
        check(not leaked, f"hop-by-hop headers reached the origin: {leaked} (all: {req['headers']})")
        check("foo" not in conn_vals, f"the client's Connection tokens reached the origin: {conn_vals!r}")
    check_eq(http_origin.header_values(req, "X-End"), ["1"], "an end-to-end header after the hop-by-hop ones")
    log(f"hop-by-hop request: the origin saw {req['headers']}")

    # ---- errorfiles + errorfile 503 verbatim
    r = eslib.http_get(fe_files, "/admin")
    check_eq((r.status, r.body), (403, b"custom forbidden page\n"), f"errorfiles 403 ({r.brief()})")
    check_eq(r.header("X-Error-Source"), "http-errors-403", "errorfiles 403 header")
    c = eslib.HttpClient(fe_files)
    c.send(eslib.http_request_bytes("GET", "/"))
    r = c.read_response(timeout=5)
    check_eq((r.status, r.body), (503, ERR_503_BODY),
             f"errorfile 503 with the only server disabled ({r.brief()})")
    check_eq(r.header("X-Error-Source"), "errorfile-503", "errorfile 503 header")
    if eslib.edgeshard_only("errorfile sent byte for byte (HAProxy re-encodes header names in lower case)"):
        check_eq(r.raw_head + r.body, ERR_503, "the errorfile 503 reply, byte for byte")
    c.close()
    log("errorfiles 403 and errorfile 503: ok")
    check(not strict.errors and not rules.errors, f"origin errors: {strict.errors + rules.errors}")


if __name__ == "__main__":
    eslib.run_http(main)
