#!/usr/bin/env python3
"""Request/response rewriting rules and `http-after-response` as HAProxy 2.6 runs them (the same file
runs through HAProxy with ES_TEST_PEER=haproxy; the facts: src/rules/README.md, "Rewrites").
Origins: `o` (http_origin: records what it receives, answers X-Origin: o) and `raw` (a raw HTTP/1.1
server: fixed response heads with Set-Cookie x2, Cache-Control, X-L, X-Case; /garbage answers a
non-HTTP line; /reason answers `200 Custom Reason`).
  1. fe_req, request headers (each rule guarded by `{ req.hdr(x-t) -m str <tag> }`):
     replace-header works on each occurrence's whole value; the regex is searched (not anchored
     unless written so), case-sensitively; a match replaces the WHOLE value with the expanded
     format (\\0 = whole match, \\1.. groups, %[...] evaluated); replace-value applies it to each
     comma-separated element, a replaced element loses its surrounding blanks, elements are joined
     by a bare ","; untouched elements keep theirs. The header name is matched case-insensitively.
     replace-header on Host of an absolute-form request also rewrites the URI's authority.
  2. fe_req, the URI: replace-path / replace-pathq / replace-uri / set-path / set-pathq / set-query /
     set-uri / set-method, origin-form and absolute-form, what the origin receives (request line
     and Host), what later rules' `path`/`url`/`query`/`method` see, and that the log's
     %r/%HM/%HU/%HP/%HQ keep the request as received. No validation: set-uri "/a b" is sent as is
     (the origin answers 400), set-path "" sends an empty target.
  3. fe_after -> be_raw, http-response on server responses: replace-header per Set-Cookie,
     replace-value on Cache-Control/X-L, case-sensitive match, set-status <code> (default reason,
     replacing the server's), set-status <code> reason <str>.
  4. fe_after (`from dfe`, a named defaults with an http-after-response rule): which responses get
     http-after-response (server responses after every http-response rule; deny 403/429, redirect,
     return, auth 401, 503 without server / connection refused, 502 bad response and
     http-response deny, 504 server timeout, the stats page - which skips http-response rules)
     and which do not (a 400 from the HTTP/1 parser); order: http-response backend, frontend, then
     http-after-response backend, the frontend's defaults, the frontend; `allow` in the backend
     ends only the backend's list; set-status (default reason per class, custom reason) changes
     the logged status too; del-header, replace-value, set-var, if/unless.
  5. `-c`: invalid regexes, wrong argument counts, set-status out of range, an action
     http-after-response does not have, http-after-response in an anonymous defaults section.
"""
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST

RAW_RESP = {
    "/garbage": b"NOT HTTP AT ALL\r\n\r\n",
    "/reason": b"HTTP/1.1 200 Custom Reason\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    None: (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: C=1; path=/\r\nSet-Cookie: D=2; path=/\r\n"
           b"Cache-Control: max-age=3600, public\r\nX-L: a1, b2 ,a3\r\nX-Case: Value\r\n"
           b"Connection: close\r\n\r\nok"),
}


def raw_handler(c, idx, srv):
    """One request per connection: read the head, answer by path, close."""
    buf = b""
    for _ in range(1000):
        if b"\r\n\r\n" in buf:
            break
        d = c.recv(65536)
        if not d:
            return
        buf += d
    path = buf.split(b" ", 2)[1].decode("latin-1").split("?")[0]
    c.sendall(RAW_RESP.get(path, RAW_RESP[None]))
    try:
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    for _ in range(100):
        try:
            if not c.recv(65536):
                break
        except OSError:
            break


def main(h):
    o = http_origin.start(h, name="o")
    raw = h.threaded_server(raw_handler, name="raw")
    dead = eslib.free_port()  # nothing listens there
    sock = h.sock_path()
    p_req, p_after = eslib.free_port(), eslib.free_port()

    sel = lambda t: f"if {{ req.hdr(x-t) -m str {t} }}"  # noqa: E731
    cfg = eslib.http_global(sock) + eslib.http_defaults()
    cfg += eslib.section("frontend fe_req", f"""
        bind {L}:{p_req}
        log stdout format raw local0
        log-format "LOG %r|%HM|%HU|%HP|%HQ|%ST"
        http-request replace-header X-A ^a(.*)$ b\\1 {sel('rh')}
        http-request replace-header X-A a Z {sel('rh2')}
        http-request replace-header X-A ^(.*)$ [\\1] {sel('rh3')}
        http-request replace-header X-A ^.*$ %[req.hdr(x-t)]-\\0 {sel('rh4')}
        http-request replace-header X-A ^A$ up {sel('case')}
        http-request replace-value X-A ^a(.*)$ b\\1 {sel('rv')}
        http-request replace-value X-A a Z {sel('rv2')}
        http-request replace-value X-A ^(.*)$ [\\1] {sel('rv3')}
        http-request replace-header Host ^(.*)$ new.\\1 {sel('host')}
        http-request replace-path ^/old/(.*)$ /new/\\1 {sel('rp')}
        http-request replace-path (.*) /pre\\1 {sel('rp2')}
        http-request replace-pathq ^/a\\?(.*)$ /b?z=1&\\1 {sel('rpq')}
        http-request replace-uri ^http://([^/]*)(.*)$ \\2 {sel('ru')}
        http-request replace-uri ^/(.*)$ /u/\\1 {sel('ru2')}
        http-request set-query %[req.hdr(x-v)] {sel('sq')}
        http-request set-path %[req.hdr(x-v)] {sel('sp')}
        http-request set-pathq %[req.hdr(x-v)] {sel('spq')}
        http-request set-uri %[req.hdr(x-v)] {sel('su')}
        http-request set-method %[req.hdr(x-v)] {sel('sm')}
        http-request set-header X-Path %[path]
        http-request set-header X-Url %[url]
        http-request set-header X-Query %[query]
        http-request set-header X-Method %[method]
        default_backend be_plain""")
    cfg += eslib.section("defaults dfe", """
        mode http
        timeout connect 1s
        timeout client 5s
        timeout server 5s
        http-after-response add-header X-Order after-defaults""")
    cfg += eslib.section("frontend fe_after from dfe", f"""
        bind {L}:{p_after}
        log stdout format raw local0
        log-format "AFTER %HP|%ST|%b"
        stats enable
        stats uri /stats
        http-request set-var(txn.p) path
        http-request deny if {{ path /deny }}
        http-request deny deny_status 429 if {{ path /deny429 }}
        http-request redirect location /else if {{ path /redir }}
        http-request return status 200 content-type text/plain string hi hdr X-A "a, b" if {{ path_beg /ret }}
        http-request auth realm R if {{ path /auth }}
        http-response add-header X-Order resp-fe
        http-after-response add-header X-Order after-fe
        http-after-response set-header X-After %[status]-%[var(txn.p)]
        http-after-response replace-value Cache-Control ^no-cache$ no-store
        http-after-response del-header X-Kill
        http-after-response set-status 299 if {{ var(txn.p) -m str /status/202 }}
        http-after-response set-status 298 reason "Very Fine" if {{ var(txn.p) -m str /ret298 }}
        http-after-response set-status 302 if {{ var(txn.p) -m str /ret302 }}
        http-after-response set-status 502 if {{ var(txn.p) -m str /ret502 }}
        http-after-response set-status 999 if {{ var(txn.p) -m str /ret999 }}
        http-after-response replace-value X-A ^a$ %[var(txn.nothing)] if {{ var(txn.p) -m str /retempty }}
        http-after-response replace-value X-A ^(.*)$ <\\1> if {{ var(txn.p) -m str /retall }}
        http-after-response set-var(txn.st) status
        http-after-response set-header X-St %[var(txn.st)] unless {{ status 302 }}
        use_backend be_none if {{ path /none }}
        use_backend be_dead if {{ path /dead }}
        use_backend be_slow if {{ path_beg /delay }}
        use_backend be_raw if {{ path_beg /hdrs /garbage /reason }}
        default_backend be""")
    # a last anonymous defaults: the sections below must not use dfe implicitly
    cfg += eslib.http_defaults()
    cfg += eslib.section("backend be_plain", f"server s1 {L}:{o.port}")
    cfg += eslib.section("backend be", f"""
        http-response add-header X-Order resp-be
        http-response add-header X-Kill 1
        http-after-response add-header X-Order after-be
        http-after-response allow if {{ var(txn.p) -m str /allow }}
        http-after-response add-header X-Order after-be-2
        server s1 {L}:{o.port}""")
    cfg += eslib.section("backend be_none", "http-after-response add-header X-Order after-be-none")
    cfg += eslib.section("backend be_dead", f"""
        retries 0
        http-after-response add-header X-Order after-be-dead
        server s1 {L}:{dead}""")
    cfg += eslib.section("backend be_slow", f"""
        timeout server 500ms
        server s1 {L}:{o.port}""")
    cfg += eslib.section("backend be_raw", f"""
        http-response replace-header Set-Cookie ^(C=[^;]*);(.*)$ \\1;secure;\\2 if {{ var(txn.p) -m str /hdrs/rh }}
        http-response replace-header Set-Cookie ^([A-Z])=(.*)$ \\2;\\1 if {{ var(txn.p) -m str /hdrs/rh2 }}
        http-response replace-value Cache-Control ^public$ private if {{ var(txn.p) -m str /hdrs/rv }}
        http-response replace-value X-L ^a(.*)$ A\\1 if {{ var(txn.p) -m str /hdrs/rv }}
        http-response replace-header X-Case ^value$ lower if {{ var(txn.p) -m str /hdrs/rv }}
        http-response set-status 404 if {{ var(txn.p) -m str /hdrs/s404 }}
        http-response set-status 200 reason "Fine Thanks" if {{ var(txn.p) -m str /hdrs/sreason }}
        http-response set-status 201 if {{ var(txn.p) -m str /reason }}
        http-response deny if {{ var(txn.p) -m str /hdrs/rdeny }}
        server s1 {L}:{raw.port}""")
    px = eslib.start_proxy(h, cfg, ports=[p_req, p_after], sock=sock)

    # ------------------------------------------------------------------ 1. request headers
    def req(tag, target="/x?q=1", headers=(), method="GET", host="test.local"):
        n = o.request_count()
        r = eslib.http_get(p_req, target, method=method, headers=[("X-T", tag)] + list(headers), host=host)
        check_eq((r.status, r.header("x-origin")), (200, "o"), f"[{tag}] {method} {target}: answered by the origin")
        q = o.wait_requests(n + 1)[-1]
        return q

    def hv(q, name):
        return http_origin.header_values(q, name)

    q = req("rh", headers=[("X-A", "abc"), ("X-A", "xa, ay"), ("X-A", "a1, a2")])
    check_eq(hv(q, "x-a"), ["bbc", "xa, ay", "b1, a2"],
             "1: replace-header ^a(.*)$ b\\1: each occurrence's whole value, anchored regex")
    q = req("rh2", headers=[("X-A", "xxaxx")])
    check_eq(hv(q, "x-a"), ["Z"], "1: replace-header a Z: an unanchored match replaces the WHOLE value")
    q = req("rh3", headers=[("X-A", "p, q"), ("X-A", "")])
    check_eq(hv(q, "x-a"), ["[p, q]", "[]"], "1: replace-header ^(.*)$ [\\1]: commas ignored, an empty value matches")
    q = req("rh4", headers=[("X-A", "v1")])
    check_eq(hv(q, "x-a"), ["rh4-v1"], "1: replace-header: %[...] in the format, \\0 is the whole match")
    q = req("case", headers=[("X-A", "a")])
    check_eq(hv(q, "x-a"), ["a"], "1: the regex is case-sensitive (^A$ vs a)")
    q = req("case", headers=[("x-a", "A")])
    check_eq(hv(q, "x-a"), ["up"], "1: the header name is not (x-a vs X-A)")
    q = req("rv", headers=[("X-A", "abc"), ("X-A", "xa, ay"), ("X-A", "a1,a2 ,  a3"), ("X-A", "xa , ay , xb")])
    check_eq(hv(q, "x-a"), ["bbc", "xa,by", "b1,b2,b3", "xa ,by, xb"],
             "1: replace-value: per element; a replaced element loses its blanks, others keep theirs")
    q = req("rv2", headers=[("X-A", "xxaxx, yay")])
    check_eq(hv(q, "x-a"), ["Z,Z"], "1: replace-value a Z: each matching element replaced whole")
    q = req("rv3", headers=[("X-A", "p, q"), ("X-A", "")])
    check_eq(hv(q, "x-a"), ["[p],[q]", "[]"], "1: replace-value ^(.*)$ [\\1]")
    q = req("host", "/h")
    check_eq((q["target"], hv(q, "host")), ("/h", ["new.test.local"]), "1: replace-header Host (origin-form)")
    q = req("host", "http://h.example/h", host="h.example")
    check_eq((q["target"], hv(q, "host")), ("http://new.h.example/h", ["new.h.example"]),
             "1: replace-header Host of an absolute-form request rewrites the URI's authority too")
    log("1: replace-header / replace-value on requests")

    # ------------------------------------------------------------------ 2. the URI
    def uri_case(tag, target, want_line, want_fetch=None, headers=(), method="GET", host="test.local",
                 want_host="test.local"):
        q = req(tag, target, headers, method, host)
        got = (q["method"], q["target"], q["version"])
        check_eq(got, want_line, f"2: [{tag}] {method} {target} {list(headers)}: request line at the origin")
        check_eq(hv(q, "host"), [want_host], f"2: [{tag}] {target}: Host at the origin")
        if want_fetch is not None:
            f = (hv(q, "x-path")[0], hv(q, "x-url")[0], hv(q, "x-query")[0], hv(q, "x-method")[0])
            check_eq(f, want_fetch, f"2: [{tag}] {target}: path/url/query/method seen by a later rule")
        return q

    uri_case("rp", "/old/a/b?x=/old/y", ("GET", "/new/a/b?x=/old/y", "HTTP/1.1"),
             ("/new/a/b", "/new/a/b?x=/old/y", "x=/old/y", "GET"))
    uri_case("rp", "/old", ("GET", "/old", "HTTP/1.1"))  # ^/old/(.*)$ does not match: unchanged
    uri_case("rp2", "/p?q", ("GET", "/pre/p?q", "HTTP/1.1"))
    uri_case("rp2", "http://h.example/p/q?z", ("GET", "http://h.example/pre/p/q?z", "HTTP/1.1"),
             ("/pre/p/q", "http://h.example/pre/p/q?z", "z", "GET"), host="h.example", want_host="h.example")
    uri_case("rp2", "*", ("OPTIONS", "*", "HTTP/1.1"), method="OPTIONS")  # no path: nothing to match
    uri_case("rpq", "/a?c=3", ("GET", "/b?z=1&c=3", "HTTP/1.1"), ("/b", "/b?z=1&c=3", "z=1&c=3", "GET"))
    uri_case("ru", "http://h.example:81/r/s?t", ("GET", "/r/s?t", "HTTP/1.1"), host="h.example:81",
             want_host="h.example:81")
    uri_case("ru2", "/r?s", ("GET", "/u/r?s", "HTTP/1.1"))
    # replace-uri sees the whole absolute URI: ^/(.*)$ does not match it
    uri_case("ru2", "http://h.example/r?s", ("GET", "http://h.example/r?s", "HTTP/1.1"), host="h.example",
             want_host="h.example")
    uri_case("sq", "/x?q=1", ("GET", "/x?a=b", "HTTP/1.1"), headers=[("X-V", "a=b")])
    uri_case("sq", "/nq", ("GET", "/nq?a=b", "HTTP/1.1"), headers=[("X-V", "a=b")])
    uri_case("sq", "/nq", ("GET", "/nq", "HTTP/1.1"), headers=[("X-V", "")])
    uri_case("sq", "/wq?old", ("GET", "/wq?", "HTTP/1.1"), ("/wq", "/wq?", "", "GET"), headers=[("X-V", "")])
    uri_case("sq", "http://h.example/p?o", ("GET", "http://h.example/p?n", "HTTP/1.1"), headers=[("X-V", "n")],
             host="h.example", want_host="h.example")
    uri_case("sp", "/a/b?k=v", ("GET", "/c?k=v", "HTTP/1.1"), ("/c", "/c?k=v", "k=v", "GET"), headers=[("X-V", "/c")])
    uri_case("sp", "/a?k", ("GET", "/c?d?k", "HTTP/1.1"), ("/c", "/c?d?k", "d?k", "GET"), headers=[("X-V", "/c?d")])
    uri_case("sp", "/a/b?k", ("GET", "rel?k", "HTTP/1.1"), headers=[("X-V", "rel")])
    uri_case("sp", "/a/b", ("GET", "", "HTTP/1.1"), ("", "", "", "GET"), headers=[("X-V", "")])
    uri_case("sp", "http://h.example/a?k", ("GET", "http://h.example/c?k", "HTTP/1.1"), headers=[("X-V", "/c")],
             host="h.example", want_host="h.example")
    uri_case("sp", "*", ("OPTIONS", "/c", "HTTP/1.1"), headers=[("X-V", "/c")], method="OPTIONS")
    uri_case("spq", "/a/b?k=v", ("GET", "/c", "HTTP/1.1"), ("/c", "/c", "", "GET"), headers=[("X-V", "/c")])
    uri_case("spq", "http://h.example/a?k", ("GET", "http://h.example/c", "HTTP/1.1"), headers=[("X-V", "/c")],
             host="h.example", want_host="h.example")
    uri_case("su", "/a?k", ("GET", "/new?x=1", "HTTP/1.1"), ("/new", "/new?x=1", "x=1", "GET"),
             headers=[("X-V", "/new?x=1")])
    uri_case("su", "/a?k", ("GET", "http://other.example:8080/n?y", "HTTP/1.1"),
             ("/n", "http://other.example:8080/n?y", "y", "GET"),
             headers=[("X-V", "http://other.example:8080/n?y")], want_host="other.example:8080")
    uri_case("su", "http://h.example/a?k", ("GET", "/rel", "HTTP/1.1"), headers=[("X-V", "/rel")],
             host="h.example", want_host="h.example")
    # the `method` fetch keeps answering the method as parsed (txn->meth is not updated)
    uri_case("sm", "/a", ("POST", "/a", "HTTP/1.1"), ("/a", "/a", "", "GET"), headers=[("X-V", "POST")])
    uri_case("sm", "/a", ("custom", "/a", "HTTP/1.1"), ("/a", "/a", "", "GET"), headers=[("X-V", "custom")])
    # no validation of the result: the origin gets "GET /a b HTTP/1.1" and answers 400 itself
    r = eslib.http_get(p_req, "/a?k", headers=[("X-T", "su"), ("X-V", "/a b")])
    check_eq((r.status, r.header("x-origin")), (400, "o"), "2: set-uri '/a b' is forwarded as is (the origin's 400)")
    check_eq(r.body, b"bad request: request line b'GET /a b HTTP/1.1'\n", "2: set-uri '/a b': the origin's complaint")
    out = eslib.poll_until(lambda: px.stdout_text() if "|?k|400" in px.stdout_text() else None, 5,
                           what="the log line of the set-uri '/a b' request")
    logs = [l[l.index("LOG "):] for l in out.splitlines() if "LOG " in l]
    for want in ("LOG GET /old/a/b?x=/old/y HTTP/1.1|GET|/old/a/b?x=/old/y|/old/a/b|?x=/old/y|200",
                 "LOG GET http://h.example/p/q?z HTTP/1.1|GET|http://h.example/p/q?z|http://h.example/p/q|?z|200",
                 "LOG GET /a?k HTTP/1.1|GET|/a?k|/a|?k|400"):
        check(want in logs, f"2: the log keeps the request as received: {want!r} not in {logs[-40:]!r}")
    log("2: replace-path/pathq/uri, set-path/pathq/query/uri/method: origin request line, fetches, logs")

    # ------------------------------------------------------------------ 3. http-response on server responses
    def after(target, method="GET", headers=()):
        return eslib.http_get(p_after, target, method=method, headers=list(headers))

    r = after("/hdrs/rh")
    check_eq(r.headers_named("set-cookie"), ["C=1;secure; path=/", "D=2; path=/"],
             "3: replace-header Set-Cookie ^(C=[^;]*);(.*)$ \\1;secure;\\2")
    r = after("/hdrs/rh2")
    check_eq(r.headers_named("set-cookie"), ["1; path=/;C", "2; path=/;D"], "3: replace-header on every occurrence")
    r = after("/hdrs/rv")
    check_eq((r.header("cache-control"), r.header("x-l"), r.header("x-case")),
             ("max-age=3600,private", "A1, b2 ,A3", "Value"),
             "3: replace-value (replaced elements lose their blanks); ^value$ does not match Value")
    r = after("/hdrs/s404")
    check_eq((r.status, r.reason, r.body), (404, "Not Found", b"ok"), "3: set-status 404: the default reason")
    r = after("/hdrs/sreason")
    check_eq((r.status, r.reason), (200, "Fine Thanks"), "3: set-status 200 reason \"Fine Thanks\"")
    r = after("/reason")
    check_eq((r.status, r.reason), (201, "Created"), "3: set-status 201 replaces the server's own reason")
    log("3: http-response replace-header/replace-value/set-status")

    # ------------------------------------------------------------------ 4. http-after-response
    order_srv = ["resp-be", "resp-fe", "after-be", "after-be-2", "after-defaults", "after-fe"]
    order_be = ["after-be", "after-be-2", "after-defaults", "after-fe"]
    order_fe = ["after-defaults", "after-fe"]

    def expect(r, status, reason, order, x_after, what, body=None):
        got = (r.status, r.reason, r.headers_named("x-order"), r.header("x-after"), r.header("x-kill"))
        check_eq(got, (status, reason, order, x_after, None), f"4: {what}: status, reason, X-Order, X-After, X-Kill")
        if body is not None:
            check_eq(r.body, body, f"4: {what}: body")

    r = after("/")
    expect(r, 200, "OK", order_srv, "200-/", "server response", b"hello from o\n")
    check_eq(r.header("x-st"), "200", "4: set-var(txn.st) status in http-after-response, read by a later rule")
    r = after("/allow")
    expect(r, 200, "OK", ["resp-be", "resp-fe", "after-be", "after-defaults", "after-fe"], "200-/allow",
           "allow in the backend's http-after-response (ends the backend's list only)")
    r = after("/status/202")
    expect(r, 299, "Success", order_srv, "202-/status/202", "set-status 299 (default reason of the class)")
    r = after("/ret298")
    expect(r, 298, "Very Fine", order_fe, "200-/ret298", "http-request return + set-status 298 reason", b"hi")
    r = after("/ret302")
    expect(r, 302, "Moved Temporarily", order_fe, "200-/ret302", "set-status 302 on a return", b"hi")
    check_eq(r.header("x-st"), None, "4: unless { status 302 }: X-St not set")
    r = after("/ret502")
    expect(r, 502, "Bad Gateway or Proxy Error", order_fe, "200-/ret502", "set-status 502 on a return")
    r = after("/ret999")
    expect(r, 999, "Other", order_fe, "200-/ret999", "set-status 999 on a return")
    r = after("/retempty")
    check_eq(r.header("x-a"), ", b", "4: replace-value to an empty element keeps the comma")
    r = after("/retall")
    check_eq(r.header("x-a"), "<a>,<b>", "4: replace-value on a return's header")
    r = after("/deny")
    expect(r, 403, "Forbidden", order_fe, "403-/deny", "http-request deny")
    check_eq(r.header("cache-control"), "no-store", "4: replace-value on HAProxy's own error (no-cache -> no-store)")
    r = after("/deny429")
    expect(r, 429, "Too Many Requests", order_fe, "429-/deny429", "deny_status 429")
    r = after("/redir")
    expect(r, 302, "Found", order_fe, "302-/redir", "http-request redirect")
    check_eq(r.header("location"), "/else", "4: redirect Location")
    r = after("/ret")
    expect(r, 200, "OK", order_fe, "200-/ret", "http-request return", b"hi")
    r = after("/auth")
    expect(r, 401, "Unauthorized", order_fe, "401-/auth", "http-request auth")
    check_eq(r.header("www-authenticate"), 'Basic realm="R"', "4: auth realm")
    r = after("/none")
    expect(r, 503, "Service Unavailable", ["after-be-none"] + order_fe, "503-/none", "503 from a backend without server")
    r = after("/dead")
    expect(r, 503, "Service Unavailable", ["after-be-dead"] + order_fe, "503-/dead", "503 after a refused connection")
    r = after("/garbage")
    expect(r, 502, "Bad Gateway", order_fe, "502-/garbage", "502 on an invalid server response")
    check_eq(r.header("cache-control"), "no-store", "4: 502: replace-value no-cache -> no-store")
    r = after("/hdrs/rdeny")
    expect(r, 502, "Bad Gateway", order_fe, "502-/hdrs/rdeny", "http-response deny")
    r = after("/delay/1500")
    expect(r, 504, "Gateway Time-out", order_fe, "504-/delay/1500", "504 server timeout")
    r = after("/stats;csv")
    expect(r, 200, "OK", order_fe, "200-/stats;csv", "the stats page (http-response rules are not run for it)")
    check(r.body.startswith(b"# pxname,svname,"), f"4: the stats CSV: {r.body[:80]!r}")
    # a request the HTTP/1 parser refuses: its 400 gets no http-after-response rule
    resp, how, err = eslib.raw_exchange(p_after, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
    check(resp is not None, f"4: a 400 for a malformed header line ({how} {err})")
    check_eq((resp.status, resp.headers_named("x-order"), resp.header("x-after"), resp.header("connection")),
             (400, [], None, "close"), "4: the parser's 400: no http-after-response, Connection: close")
    check_eq(how, "eof", "4: the connection closes after the parser's 400")
    out = eslib.poll_until(lambda: px.stdout_text() if "AFTER /ret999|999|fe_after" in px.stdout_text() else None,
                           5, what="fe_after log lines")
    for want in ("AFTER /status/202|299|be", "AFTER /ret298|298|fe_after", "AFTER /delay/1500|504|be_slow"):
        check(want in out, f"4: the logged status is the one after http-after-response: {want!r}")
    log("4: http-after-response on server responses and on HAProxy's own, order, allow, set-status")

    # ------------------------------------------------------------------ 5. -c
    bin_ = os.environ["EDGESHARD_BIN"]

    def refused(rule, fragments, what, section_rule=True):
        if section_rule:
            text = eslib.http_defaults() + eslib.section("frontend fe", f"""
                bind {L}:{eslib.free_port()}
                {rule}
                default_backend be""") + eslib.section("backend be", f"server s1 {L}:{o.port}")
            lineno = next(i + 1 for i, l in enumerate(text.splitlines()) if l.strip() == rule)
        else:
            text = rule
            lineno = None
        path = h.write("bad.cfg", text)
        p = h.run_cmd([bin_, "-c", "-f", path], timeout=30)
        out = p.stdout + p.stderr
        check(p.returncode != 0 and "Configuration file is valid" not in out,
              f"5: {what}: refused (rc={p.returncode}): {out!r}")
        if lineno:
            # HAProxy writes "[bad.cfg:N]", edgeshard "bad.cfg:N:"
            check(f"bad.cfg:{lineno}]" in out or f"bad.cfg:{lineno}:" in out,
                  f"5: {what}: the message names bad.cfg:{lineno}: {out!r}")
        for f in fragments:
            check(f in out, f"5: {what}: {f!r} in {out!r}")

    refused(r"http-request replace-header X-A ^(a $1",
            ["'http-request replace-header'", "regex '^(a' is invalid (error=missing closing parenthesis, erroffset=3)"],
            "replace-header with an invalid regex")
    refused(r"http-request replace-path ^/a(.* /b\1",
            ["'http-request replace-path'", "failed to parse the regex : regex '^/a(.*' is invalid "
             "(error=missing closing parenthesis, erroffset=6)"], "replace-path with an invalid regex")
    refused(r"http-request replace-value X-A ^a[ b",
            ["regex '^a[' is invalid (error=missing terminating ] for character class, erroffset=3)"],
            "replace-value with an invalid regex")
    refused(r"http-request replace-header X-A ^a", ["'http-request replace-header'", "expects exactly 3 arguments"],
            "replace-header with 2 arguments")
    refused(r"http-request replace-path ^/a$", ["expects exactly 2 arguments <match-regex> and <replace-format>"],
            "replace-path with 1 argument")
    refused(r'http-request replace-path ^/a$ ""', ["expects exactly 2 arguments <match-regex> and <replace-format>"],
            "replace-path with an empty format")
    refused(r"http-request set-uri /a /b", ["'http-request set-uri'", "expects exactly 1 argument <format>"],
            "set-uri with 2 arguments")
    refused(r"http-request set-query", ["expects exactly 1 argument <format>"], "set-query without argument")
    refused(r"http-response set-status 1000", ["expects an integer status code between 100 and 999"],
            "set-status 1000")
    refused(r"http-after-response set-status 42", ["'http-after-response set-status'",
                                                   "expects an integer status code between 100 and 999"],
            "http-after-response set-status 42")
    refused(r"http-response set-status", ["expects 1 argument: <status>; or 3 arguments: <status> reason <fmt>"],
            "set-status without argument")
    refused(r"http-response set-status 200 reason",
            ["'http-response set-status' expects either 'if' or 'unless' followed by a condition but found 'reason'"],
            "set-status 200 reason (no string)")
    refused(r"http-after-response deny", ["'http-after-response' expects", "but got 'deny'"],
            "http-after-response deny")
    refused(r"http-after-response set-header X-A %[path]",
            ["sample fetch <path]> may not be reliably used here because it needs 'HTTP request headers'"],
            "http-after-response with a request fetch")
    refused(eslib.section("defaults", "mode http\nhttp-after-response set-header X-D 1")
            + eslib.section("frontend fe", f"bind {L}:{eslib.free_port()}\ndefault_backend be")
            + eslib.section("backend be", f"server s1 {L}:{o.port}"),
            ["'http-after-response' not allowed in anonymous 'defaults' section"],
            "http-after-response in an anonymous defaults", section_rule=False)
    log("5: -c refuses bad regexes, wrong argument counts, set-status out of range, unknown actions")


if __name__ == "__main__":
    eslib.run_http(main)
