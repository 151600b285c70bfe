#!/usr/bin/env python3
"""Replies built from log-format strings, as HAProxy 2.6 builds them (validated with
ES_TEST_PEER=haproxy; the facts: src/rules/README.md, "Replies").
  1. fe, `http-request return` / `deny`: an lf-string / lf-file body is evaluated per request
     (a fetch without sample prints nothing; bytes 0x00-0x08, 0x0a-0x1f, 0x7f of a sample become
     %XX, anything else - quote, backslash, tab, '%', 0x80-0xff - is copied; `%%` is a literal '%');
     content-length is the evaluated body's length, content-type is sent only with a non-empty
     body; `hdr` values are log-format too, a `hdr` evaluating to nothing is not sent, the hdr
     lines keep their configured order (duplicates included); HEAD gets the same head and no body;
     the connection stays usable (keep-alive).
  2. be, `http-response return`: the server's response is dropped before the body is built, so
     %[status] in the lf-string prints nothing; request-side variables still work.
  3. `-c`: lf-string without content-type, unknown fetch, missing lf-file, lf-string + string,
     empty hdr value, 204 with a body, a request fetch in http-response.
Not asserted (differences allowed, see FACTS.md): header order other than among the hdr lines,
cache-control (HAProxy sends none on these replies), connection.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
IGNORED = ("connection", "cache-control")


def get(port, target, headers=(), method="GET"):
    """One request with Connection: close; the response, and nothing after it before EOF."""
    c = eslib.HttpClient(port)
    try:
        c.send(eslib.http_request_bytes(method, target, list(headers) + [("Connection", "close")]))
        r = c.read_response(method=method)
        how, extra, _ = c.wait_closed(2.0)
        check_eq((how, extra), ("eof", b""), f"{method} {target}: nothing after the response, then EOF")
        return r
    finally:
        c.close()


def expect(r, status, reason, hdrs, body, what, ctype="text/plain"):
    """Status, reason, body; content-length = body length; content-type only with a body; the
    header names (case-insensitive, connection/cache-control aside) are exactly content-length,
    content-type and `hdrs` [(name, value)], the hdr lines in their configured order."""
    check_eq((r.status, r.reason), (status, reason), f"{what}: status line")
    check_eq(r.body, body, f"{what}: body")
    check_eq(r.headers_named("content-length"), [str(len(body))], f"{what}: content-length")
    check_eq(r.headers_named("content-type"), [ctype] if body else [], f"{what}: content-type")
    names = sorted(n.lower() for n, _ in r.headers if n.lower() not in IGNORED)
    want = sorted(["content-length"] + (["content-type"] if body else []) + [n.lower() for n, _ in hdrs])
    check_eq(names, want, f"{what}: header names ({r.headers!r})")
    hn = {n.lower() for n, _ in hdrs}
    got = [(n.lower(), v) for n, v in r.headers if n.lower() in hn]
    check_eq(got, [(n.lower(), v) for n, v in hdrs], f"{what}: hdr lines, values and order")


def main(h):
    o = http_origin.start(h, name="o")
    p_fe, p_be = eslib.free_port(), eslib.free_port()
    lf_file = h.write("body.lf", "file ip=%[src] path=%[path]\nsecond line %[req.hdr(x-a)]\n")
    empty_file = h.write("empty.lf", "")
    ret = "http-request return content-type text/plain"
    cfg = eslib.http_global(None) + eslib.http_defaults()
    cfg += eslib.section("frontend fe", f"""
        bind {L}:{p_fe}
        http-request return status 200 content-type text/plain lf-string "ip=%[src] path=%[path] h=%[req.hdr(x-a)]" if {{ path /lf }}
        {ret} lf-file {lf_file} if {{ path /lff }}
        {ret} lf-file {empty_file} if {{ path /lffe }}
        {ret} string hi hdr X-Who %[src] hdr X-Path "%[path]-x" if {{ path /hs }}
        {ret} lf-string "b=%[path]" hdr X-Who %[src] hdr X-Path "%[path]-x" if {{ path /hl }}
        {ret} string hi hdr X-Plain "plain text" hdr X-Z z hdr X-A a hdr X-M 1 hdr X-M 2 if {{ path /order }}
        {ret} string hi hdr X-E %[req.hdr(x-none)] hdr X-G "[%[req.hdr(x-none)]]" if {{ path /emptyhdr }}
        http-request deny deny_status 429 content-type application/json lf-string '{{"path":"%[path]"}}' hdr Retry-After 10 if {{ path /deny }}
        {ret} lf-string "[%[req.hdr(x-none)]]" if {{ path /miss }}
        {ret} lf-string "[%[req.hdr(x-a),url_dec]]" hdr X-V %[req.hdr(x-a),url_dec] if {{ path /esc }}
        {ret} lf-string "%[req.hdr(x-none)]" if {{ path /empty }}
        http-request return status 404 content-type text/html lf-string "<p>%[path]</p>" if {{ path /404 }}
        {ret} lf-string "x%%y %%[path] %[url] %[method]" if {{ path_beg /pct }}
        default_backend be""")
    cfg += eslib.section("backend be", f"server s1 {L}:{o.port}")
    cfg += eslib.section("frontend fe_resp", f"""
        bind {L}:{p_be}
        http-request set-var(txn.p) path
        http-response return status 202 content-type text/plain lf-string "st=%[status]|p=%[var(txn.p)]" hdr X-P %[var(txn.p)] if {{ var(txn.p) -m str /resp }}
        default_backend be""")
    eslib.start_proxy(h, cfg, ports=[p_fe, p_be])

    # ------------------------------------------------------------------ 1. http-request return / deny
    r = get(p_fe, "/lf", [("X-A", "v1")])
    expect(r, 200, "OK", [], b"ip=127.0.0.1 path=/lf h=v1", "1: lf-string")
    r = get(p_fe, "/lf?q=1")
    expect(r, 200, "OK", [], b"ip=127.0.0.1 path=/lf h=", "1: lf-string, missing header prints nothing")
    r = get(p_fe, "/lff", [("X-A", "aa")])
    expect(r, 200, "OK", [], b"file ip=127.0.0.1 path=/lff\nsecond line aa\n", "1: lf-file (trailing newline kept)")
    r = get(p_fe, "/lffe")
    expect(r, 200, "OK", [], b"", "1: empty lf-file: content-length 0, no content-type")
    r = get(p_fe, "/hs")
    expect(r, 200, "OK", [("X-Who", "127.0.0.1"), ("X-Path", "/hs-x")], b"hi", "1: hdr with a string body")
    r = get(p_fe, "/hl")
    expect(r, 200, "OK", [("X-Who", "127.0.0.1"), ("X-Path", "/hl-x")], b"b=/hl", "1: hdr with an lf-string body")
    r = get(p_fe, "/order")
    expect(r, 200, "OK", [("X-Plain", "plain text"), ("X-Z", "z"), ("X-A", "a"), ("X-M", "1"), ("X-M", "2")],
           b"hi", "1: plain hdr values, several hdr lines in order")
    r = get(p_fe, "/emptyhdr")
    expect(r, 200, "OK", [("X-G", "[]")], b"hi", "1: a hdr evaluating to nothing is not sent")
    r = get(p_fe, "/deny")
    expect(r, 429, "Too Many Requests", [("Retry-After", "10")], b'{"path":"/deny"}', "1: deny lf-string",
           ctype="application/json")
    r = get(p_fe, "/miss")
    expect(r, 200, "OK", [], b"[]", "1: a fetch without sample prints nothing (not '-')")
    # control bytes come from url_dec (edgeshard's parser refuses them raw in a header value, HAProxy's takes them)
    raw = "a\"b\\c'd\te<f>&%7f%01\xe9"
    enc = "a\"b\\c'd\te<f>&%7F%01\xe9"
    r = get(p_fe, "/esc", [("X-A", raw)])
    expect(r, 200, "OK", [("X-V", enc)], b"[" + enc.encode("latin-1") + b"]",
           "1: control bytes and 0x7f %-encoded, quote/backslash/tab/0xe9 copied (body and hdr)")
    r = get(p_fe, "/empty")
    expect(r, 200, "OK", [], b"", "1: empty lf-string result: content-length 0, no content-type")
    r = get(p_fe, "/404")
    expect(r, 404, "Not Found", [], b"<p>/404</p>", "1: status 404", ctype="text/html")
    r = get(p_fe, "/pct?a=%25")
    expect(r, 200, "OK", [], b"x%y %[path] /pct?a=%25 GET", "1: %% is a literal '%'")
    log("1: lf-string / lf-file bodies, hdr values and order, deny, missing samples, encoding, empty bodies")

    r = get(p_fe, "/lf", [("X-A", "v")], method="HEAD")
    check_eq((r.status, r.headers_named("content-length"), r.headers_named("content-type")),
             (200, ["25"], ["text/plain"]), "1: HEAD: the body's content-length, content-type")
    r = get(p_fe, "/deny", method="HEAD")
    check_eq((r.status, r.header("retry-after"), r.headers_named("content-length")), (429, "10", ["16"]),
             "1: HEAD on deny lf-string")
    c = eslib.HttpClient(p_fe)
    try:
        r1 = c.request("GET", "/hl")
        r2 = c.request("GET", "/lf", headers=[("X-A", "k")])
        check_eq((r1.body, r2.body), (b"b=/hl", b"ip=127.0.0.1 path=/lf h=k"), "1: two replies on one connection")
    finally:
        c.close()
    log("1: HEAD (head only, no body bytes), keep-alive after a return")

    # ------------------------------------------------------------------ 2. http-response return
    r = get(p_be, "/resp")
    expect(r, 202, "Accepted", [("X-P", "/resp")], b"st=|p=/resp",
           "2: http-response return: %[status] prints nothing, variables work")
    r = get(p_be, "/other")
    check_eq((r.status, r.header("x-origin")), (200, "o"), "2: other paths reach the origin")
    log("2: http-response return with an lf-string")

    # ------------------------------------------------------------------ 3. -c

    def refused(rule, fragments, what):
        text = eslib.http_defaults() + eslib.section("frontend fe", f"""
            bind {L}:{eslib.free_port()}
            {rule}
            default_backend be""") + eslib.section("backend be", f"server s1 {L}:{o.port}")
        eslib.check_refused(h, text, rule, fragments, f"3: {what}")

    refused('http-request return lf-string "a %[path]"',
            ["'http-request return'", "a content type must be defined with a log-format payload"],
            "lf-string without content-type")
    refused('http-request deny deny_status 429 lf-string "a"',
            ["'http-request deny'", "a content type must be defined with a log-format payload"],
            "deny lf-string without content-type")
    refused('http-request return content-type text/plain lf-string "a %[nosuchfetch]"',
            ["failed to parse sample expression <nosuchfetch]> : unknown fetch method 'nosuchfetch'"],
            "lf-string with an unknown fetch")
    missing = h.path("missing.lf")
    refused(f"http-request return content-type text/plain lf-file {missing}",
            [f"error opening file '{missing}'"], "lf-file missing")
    refused('http-request return content-type text/plain lf-string "a" string b',
            ["unexpected 'string' argument, 'lf-string' already defined"], "lf-string then string")
    refused('http-request return content-type text/plain string b lf-string "a"',
            ["unexpected 'lf-string' argument, 'string' already defined"], "string then lf-string")
    refused('http-request return content-type text/plain string x hdr X-A ""',
            ["'hdr' expects <name> and <value> as arguments"], "hdr with an empty value")
    refused('http-request return status 204 content-type text/plain lf-string "a"',
            ["No body expected for 204 responses"], "204 with an lf-string")
    refused('http-response return content-type text/plain lf-string "a %[path]"',
            ["'http-response return'", "sample fetch <path]> may not be reliably used here because it needs "
             "'HTTP request headers' which is not available here"], "http-response return with a request fetch")
    log("3: -c refuses bad lf-string / lf-file / hdr arguments")


if __name__ == "__main__":
    eslib.run_http(main)
