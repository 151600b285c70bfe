#!/usr/bin/env python3
"""Sample expressions `%[...]` in an HTTP frontend's log-format, as HAProxy 2.6 prints them (facts:
src/proxy/README.md, "Log samples"; `log stdout format raw local0`, lines read from the proxy's stdout).
  1. fe_main: variables at log time: txn.* set by http-request / http-response, sess.* set by an
     earlier request of the same connection, req.* gone (the scope was swapped), res.* still there,
     unset and empty variables print "-" (`%{+Q}` prints ""), int variables, converters upper/lower/
     field, %[src] %[src_port] %[dst] %[dst_port] %[ssl_fc] %[unique-id] (no unique-id-format: "-"),
     `%{+Q}o` propagating +Q to the following %[...]; an http-request deny (no http-response run);
     a request the HTTP/1 parser refuses (400): everything "-" but the connection's addresses and
     sess.* variables. fe_uid: %[unique-id] with unique-id-format.
  2. fe_esc: escaping: none (space, '"', '#{|}', control bytes, DEL, non-ASCII, CR/LF are printed
     as is; a NUL ends the value), `+Q` only adds quotes, `+E` prefixes '"' '\\' ']' with '\\'.
  3. SEPARATE proxy fe_late (edgeshard may refuse these at load): request/response fetches at log
     time: HAProxy refuses path/url/req.hdr/res.hdr at load; it accepts method (only the known
     methods print), status (the server's status; "-" for HAProxy's own responses and the
     parser's 400) and capture.req.* (the captures taken during the request).
  4. `-c`: an unknown fetch, a missing ']', unknown/badly-argued converters, an empty %[], a bad
     variable scope, %{+Q} without a variable.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
MAIN = ("M t=%[var(txn.t)] x=%[var(txn.x)] y=%[var(txn.y)] s=%[var(sess.s)] r=%[var(req.r)] rr=%[var(res.r)] "
        "u=%[var(txn.nope)] e=%[var(txn.e)] el=%[var(txn.e),length] e2=%[var(txn.e2)] e2l=%[var(txn.e2),length] "
        "n=%[var(txn.n)] q=%{+Q}[var(txn.x)] qu=%{+Q}[var(txn.nope)] qe=%{+Q}[var(txn.e)] up=%[var(txn.x),upper] "
        "lo=%[var(txn.x),lower] f=%[var(txn.x),field(2,-)] src=%[src] sp=%[src_port] dst=%[dst] dp=%[dst_port] "
        "ssl=%[ssl_fc] uid=%[unique-id] %{+Q}o oq=%[var(txn.x)] ou=%[var(txn.nope)]")
ESC = "E t=%[var(txn.t)] d=%[var(txn.d)] q=%{+Q}[var(txn.d)] e=%{+E}[var(txn.d)] qe=%{+Q,+E}[var(txn.d)] end"
LATE = "L c=%[capture.req.hdr(0)] m=%[method] cm=%[capture.req.method] cu=%[capture.req.uri] st=%[status] ST=%ST"
BAD_LINE = b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n"


def out_bytes(px):
    with open(px.out_path, "rb") as f:
        return f.read()


def wait_line(px, prefix, what):
    """The single stdout line starting with `prefix` (bytes), waiting for it."""
    def probe():
        got = [l for l in out_bytes(px).split(b"\n") if l.startswith(prefix)]
        check(len(got) <= 1, f"{what}: several lines start with {prefix!r}: {got!r}")
        return got[0] if got else None
    return eslib.poll_until(probe, 5, what=f"{what}: the log line starting with {prefix!r}")


def fields(line):
    """'k=v k=v' (values without blanks) -> dict."""
    return dict(tok.split("=", 1) for tok in line.decode("latin-1").split(" ")[1:])


def main(h):
    o = http_origin.start(h, name="o")
    p_main, p_uid, p_esc, p_late = (eslib.free_port() for _ in range(4))
    cfg = eslib.http_global(None) + eslib.http_defaults()
    cfg += eslib.section("frontend fe_main", f"""
        bind {L}:{p_main}
        log stdout format raw local0
        log-format "{MAIN}"
        http-request set-var(txn.t) req.hdr(x-t)
        http-request set-var(txn.x) str(ab-CD-ef)
        http-request set-var(txn.e) str("")
        http-request set-var(txn.e2) req.hdr(x-empty)
        http-request set-var(txn.n) int(42)
        http-request set-var(req.r) str(rq)
        http-request set-var(sess.s) str(sv) if {{ path /set }}
        http-request deny if {{ path /deny }}
        http-response set-var(txn.y) res.hdr(x-origin)
        http-response set-var(res.r) str(rs)
        default_backend be""")
    cfg += eslib.section("frontend fe_uid", f"""
        bind {L}:{p_uid}
        log stdout format raw local0
        unique-id-format uid-%cp
        log-format "U uid=%[unique-id] id=%ID q=%{{+Q}}[unique-id]"
        default_backend be""")
    cfg += eslib.section("frontend fe_esc", f"""
        bind {L}:{p_esc}
        log stdout format raw local0
        log-format "{ESC}"
        http-request set-var(txn.t) req.hdr(x-t)
        http-request set-var(txn.d) url_param(d),url_dec if {{ url_param(d) -m found }}
        default_backend be""")
    be = eslib.section("backend be", f"server s1 {L}:{o.port}")
    px = eslib.start_proxy(h, cfg + be, ports=[p_main, p_uid, p_esc])

    # ------------------------------------------------------------------ 1. variables and fetches
    c = eslib.HttpClient(p_main)
    cport = c.sock.getsockname()[1]
    for t, target, hdrs in (("1", "/set", []), ("2", "/again", [("X-Empty", "")])):
        check_eq(c.request("GET", target, headers=[("X-T", t)] + hdrs).status, 200, f"1: request t={t}")
    c.send(BAD_LINE)  # the parser's 400 on the same connection: sess.s is still there
    check_eq(c.read_response().status, 400, "1: a malformed request after two on the connection")
    c.close()
    want = {"t": "1", "x": "ab-CD-ef", "y": "o", "s": "sv", "r": "-", "rr": "rs", "u": "-", "e": "-", "el": "0",
            "e2": "-", "e2l": "-", "n": "42", "q": '"ab-CD-ef"', "qu": '""', "qe": '""', "up": "AB-CD-EF",
            "lo": "ab-cd-ef", "f": "CD", "src": L, "sp": str(cport), "dst": L, "dp": str(p_main), "ssl": "0",
            "uid": "-", "oq": '"ab-CD-ef"', "ou": '""'}
    check_eq(fields(wait_line(px, b"M t=1 ", "1")), want, "1: /set (txn/req/res/sess variables, fetches)")
    want2 = dict(want, t="2", e2l="0")  # X-Empty: "" -> an empty variable: "-", its length 0
    check_eq(fields(wait_line(px, b"M t=2 ", "1")), want2, "1: /again on the same connection (sess.s kept)")
    dash = {k: "-" for k in want}
    dash.update(q='""', qu='""', qe='""', oq='""', ou='""', src=L, sp=str(cport), dst=L, dp=str(p_main), ssl="0")
    check_eq(fields(wait_line(px, b"M t=- x=- y=- s=sv ", "1")), dict(dash, s="sv"),
             "1: the parser's 400 after /set: only the addresses and sess.s")
    r = eslib.http_get(p_main, "/deny", headers=[("X-T", "d")])
    check_eq(r.status, 403, "1: /deny")
    got = fields(wait_line(px, b"M t=d ", "1"))
    check_eq(got, dict(want, t="d", y="-", s="-", rr="-", sp=got["sp"]), "1: deny: no http-response rule ran")
    resp, how, err = eslib.raw_exchange(p_main, BAD_LINE)
    check(resp is not None and resp.status == 400, f"1: the parser's 400 on a new connection ({how} {err})")
    got = fields(wait_line(px, b"M t=- x=- y=- s=- ", "1"))
    check_eq(got, dict(dash, s="-", sp=got["sp"]), "1: the parser's 400 on a new connection: all '-'")
    c = eslib.HttpClient(p_uid)
    uport = c.sock.getsockname()[1]
    check_eq(c.request("GET", "/").status, 200, "1: fe_uid request")
    c.close()
    check_eq(wait_line(px, b"U uid=u", "1"), f'U uid=uid-{uport} id=uid-{uport} q="uid-{uport}"'.encode(),
             "1: %[unique-id] with unique-id-format uid-%cp")
    eslib.raw_exchange(p_uid, BAD_LINE)
    check_eq(wait_line(px, b"U uid=-", "1"), b'U uid=- id=- q=""', "1: %[unique-id] for the parser's 400")
    log("1: variables (txn/sess/req/res, unset, empty), converters, src/dst/ssl_fc/unique-id, +Q, %o, deny, 400")

    # ------------------------------------------------------------------ 2. escaping
    cases = [("a%20b", b'a b', b'"a b"', b'a b', b'"a b"'),
             ("a%22b", b'a"b', b'"a"b"', b'a\\"b', b'"a\\"b"'),
             ("a%5Cb%5Dc", b'a\\b]c', b'"a\\b]c"', b'a\\\\b\\]c', b'"a\\\\b\\]c"'),
             ("x%01y%09z%7F", b'x\x01y\tz\x7f', b'"x\x01y\tz\x7f"', b'x\x01y\tz\x7f', b'"x\x01y\tz\x7f"'),
             ("%C3%A9%FF", b'\xc3\xa9\xff', b'"\xc3\xa9\xff"', b'\xc3\xa9\xff', b'"\xc3\xa9\xff"'),
             ("h%23i%7B%7C%7D", b'h#i{|}', b'"h#i{|}"', b'h#i{|}', b'"h#i{|}"'),
             ("n%00m", b'n', b'"n"', b'n', b'"n"'),  # the value is "n\0m" (length 3): printing stops at NUL
             (None, b'-', b'""', b'-', b'""')]
    for i, (d, plain, q, e, qe) in enumerate(cases):
        eslib.http_get(p_esc, "/" if d is None else f"/?d={d}", headers=[("X-T", str(i))])
        want = b"E t=%d d=%s q=%s e=%s qe=%s end" % (i, plain, q, e, qe)
        check_eq(wait_line(px, b"E t=%d " % i, "2"), want, f"2: escaping of d={d}")
    eslib.http_get(p_esc, "/?d=cr%0Dlf%0Aend", headers=[("X-T", "crlf")])
    if os.environ.get("ES_TEST_PEER") == "haproxy":
        eslib.poll_until(lambda: b"E t=crlf d=cr\rlf\nend q=\"cr\rlf\nend\"" in out_bytes(px), 5,
                         what="2: CR and LF printed as is (HAProxy: the line is split on stdout)")
    else:  # edgeshard keeps a log line one line: CR and LF are written #0D #0A
        eslib.poll_until(lambda: b"E t=crlf d=cr#0Dlf#0Aend q=\"cr#0Dlf#0Aend\"" in out_bytes(px), 5,
                         what="2: CR and LF written #0D #0A (a log line stays one line)")
    log("2: no escaping but +E's \\\" \\\\ \\]; +Q adds quotes only; NUL ends the value; CR/LF as is")

    # ------------------------------------------------------------------ 3. SEPARATE: request/response fetches at log time
    # edgeshard does not keep the request head until the log and may refuse these at load: this section
    # runs its own proxy so that such a refusal does not take sections 1-2 down with it.
    late = eslib.http_global(None) + eslib.http_defaults() + eslib.section("frontend fe_late", f"""
        bind {L}:{p_late}
        log stdout format raw local0
        capture request header X-T len 10
        log-format "{LATE}"
        http-request deny if {{ path /deny }}
        default_backend be""") + be
    pl = eslib.start_proxy(h, late, ports=[p_late], name="late")
    for t, target, method, want in (("l1", "/a?b", "GET", b"m=GET cm=GET cu=/a?b st=200 ST=200"),
                                    ("l2", "/status/404", "GET", b"m=GET cm=GET cu=/status/404 st=404 ST=404"),
                                    ("l3", "/h", "HEAD", b"m=HEAD cm=HEAD cu=/h st=200 ST=200"),
                                    ("l4", "/p", "PURGE", b"m=- cm=PURGE cu=/p st=200 ST=200"),
                                    ("l5", "/deny", "GET", b"m=GET cm=GET cu=/deny st=- ST=403")):
        eslib.http_get(p_late, target, method=method, headers=[("X-T", t)])
        check_eq(wait_line(pl, b"L c=%s " % t.encode(), "3"), b"L c=%s %s" % (t.encode(), want),
                 f"3: {method} {target}: method/status/captures at log time")
    eslib.raw_exchange(p_late, BAD_LINE)
    check_eq(wait_line(pl, b"L c=- ", "3"), b"L c=- m=- cm=- cu=- st=- ST=400", "3: the parser's 400")
    log("3: method (known ones only), status (server responses only), capture.req.* at log time")

    # ------------------------------------------------------------------ 4. -c
    bin_ = os.environ["EDGESHARD_BIN"]

    def refused(fmt, fragments, what):
        rule = f'log-format "{fmt}"'
        text = eslib.http_defaults() + eslib.section("frontend fe", f"""
            bind {L}:{eslib.free_port()}
            log stdout format raw local0
            {rule}
            default_backend be""") + be
        lineno = next(i + 1 for i, l in enumerate(text.splitlines()) if l.strip() == rule)
        p = h.run_cmd([bin_, "-c", "-f", h.write("bad.cfg", text)], timeout=30)
        out = p.stdout + p.stderr
        check(p.returncode != 0 and "Configuration file is valid" not in out,
              f"4: {what}: refused (rc={p.returncode}): {out!r}")
        # HAProxy writes "[bad.cfg:N]", edgeshard "bad.cfg:N:"
        check(f"bad.cfg:{lineno}]" in out or f"bad.cfg:{lineno}:" in out,
              f"4: {what}: the message names bad.cfg:{lineno}: {out!r}")
        for f in ["log-format"] + fragments:
            check(f in out, f"4: {what}: {f!r} in {out!r}")

    refused("A %[nosuch] B", ["unknown fetch method 'nosuch'"], "an unknown fetch")
    refused("A %[var(txn.x) B", ["expected ']' after 'var(txn.x)', but found ' '"], "a blank before ']'")
    refused("A %[var(txn.x)", ["missing ']' after 'var(txn.x)'"], "no ']' at the end")
    refused("A %[var(txn.x),nosuchconv] B", ["unknown converter 'nosuchconv'"], "an unknown converter")
    refused("A %[var(txn.x),field(x)] B", ["invalid arg 1 in converter 'field'", "'x' as type 'integer'"],
            "field(x)")
    refused("A %[] B", ["missing fetch method"], "an empty %[]")
    refused("A %[var(foo.x)] B", ["invalid variable name 'foo.x'"], "a variable without a known scope")
    refused("A %{+Q} B", ["parse argument modifier without variable name near '%{+Q}'"], "%{+Q} alone")
    log("4: -c refuses bad sample expressions in log-format")
    # SEPARATE (section 3's subject): request/response header fetches at log time are refused at load
    for expr, needs in (("req.hdr(host)", "HTTP request headers"), ("path", "HTTP request headers"),
                        ("url", "HTTP request headers"), ("res.hdr(x-origin)", "HTTP response headers")):
        refused(f"A %[{expr}] B", [f"sample fetch <{expr}", f"may not be reliably used here because it needs "
                                   f"'{needs}' which is not available here"], f"%[{expr}] at log time")
    log("3/4: -c refuses req.hdr/path/url/res.hdr in log-format")


if __name__ == "__main__":
    eslib.run_http(main)
