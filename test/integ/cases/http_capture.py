#!/usr/bin/env python3
"""Captures, as HAProxy 2.6 does them (every value asserted is what 2.6.12 logs; the same file runs
through HAProxy with ES_TEST_PEER=haproxy). Logs go over UDP syslog to a receiver started here.
  - `capture request header <name> len <n>` / `capture response header <name> len <n>` (frontend
    or listen): the value of the LAST occurrence of the header (name case-insensitive, value without
    the surrounding OWS), cut to n characters; taken when the head arrives, before any
    http-request / http-response rule (a set-header does not change what was captured).
    `option httplog` prints them as "{v0|v1|...}" (request) then "{...}" (response) between
    "%sq/%bq" and the quoted request line, in declaration order; a missing header is an empty
    field; a present header with an empty value too. With no request (response) capture declared,
    its block is not printed at all (nor its separating space). A response HAProxy made itself (deny,
    503) still prints the response block, with empty fields. A request that never became a stream
    (<BADREQ>: invalid request, or a partial head then close) prints neither block.
  - Escaping in %hr %hs %hrl %hsl: '"' '#' '{' '|' '}', bytes < 0x20 and >= 0x7f become
    #XX (uppercase hex); everything else (space, '[', '\\', ']', '%', "'", ...) is copied as is.
  - %hrl/%hsl: the values separated by spaces, a missing one as "-", an empty one as nothing;
    with +Q each one quoted ("" when missing). %hr/%hs/%hrl/%hsl print nothing in a frontend
    without captures of their direction.
  - %[capture.req.hdr(N)] / %[capture.res.hdr(N)]: slot N raw (no #XX escaping); "-" when the slot
    is empty or N is out of range.
  - `capture cookie <prefix> len <n>`: the first request cookie (over all Cookie headers) whose
    name starts with <prefix> as "name=value" cut to n (%CC), and the first such Set-Cookie
    "name=value" without its attributes (%CS); "-" when none (the httplog fields after %B).
  - `declare capture request|response len <n>`, `http-request capture <sample> len <n>` (a new slot)
    and `... id <n>`, `http-response capture <sample> id <n>` (also in a backend, on the frontend's
    slots; an id the frontend lacks is ignored): slots numbered 0.. in declaration order, mixed
    with the header captures of the same direction; a value is cut to the slot's len.
  - Each request of a keep-alive connection has its own captures.
  - Config: errors and warnings of `-c` (exact HAProxy words, with file:line where HAProxy gives it).
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
# option httplog: everything up to %sq/%bq, then the tail (%hr %hs %{+Q}r)
HTTPLOG = re.compile(r'^(?P<ip>[0-9.]+):(?P<port>\d+) \[(?P<date>[^\]]+)\] (?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) '
                     r'(?P<timers>-?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+) (?P<status>\d{3}) (?P<bytes>\+?\d+) '
                     r'(?P<cc>\S+) (?P<cs>\S+) (?P<tsc>\S{4}) (?P<conns>\d+/\d+/\d+/\d+/\+?\d+) (?P<queues>\d+/\d+) '
                     r'(?P<tail>.*)$')
FMT = ("hr=%hr hs=%hs hrl=%hrl hsl=%hsl qhrl=%{+Q}hrl c0=%[capture.req.hdr(0)] c1=%[capture.req.hdr(1)] "
       "c9=%[capture.req.hdr(9)] r0=%[capture.res.hdr(0)] cc=%CC cs=%CS end=%HP")


class ShapeOrigin:
    """Keep-alive HTTP/1.1 origin whose responses carry, as raw header lines, the values of the
    request's `X-Echo-Resp` headers (in order), after `Server: es-cap-origin`."""

    def __init__(self, h):
        self.srv = h.threaded_server(self._handle, name="shape", conn_timeout=10)
        self.port = self.srv.port

    def _handle(self, c, idx, srv):
        buf = b""
        for _ in range(1000):
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")[1:]
            extra = [l.split(b":", 1)[1].strip(b" \t") for l in lines if l.lower().startswith(b"x-echo-resp:")]
            close = any(l.lower().startswith(b"connection:") and b"close" in l.lower() for l in lines)
            c.sendall(b"HTTP/1.1 200 OK\r\nServer: es-cap-origin\r\n" + b"".join(e + b"\r\n" for e in extra)
                      + (b"Connection: close\r\n" if close else b"") + b"Content-Length: 2\r\n\r\nok")
            if close:
                return


def raw(method_target, headers):
    """A request head as bytes (latin-1: a str char is one byte), with Connection: close."""
    out = f"{method_target} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "Connection: close\r\n\r\n"
    return out.encode("latin-1")


def main(h):
    ulog = eslib.UdpLog()
    h.servers.append(ulog)
    origin = http_origin.start(h, name="s1")
    shape = ShapeOrigin(h)
    sock = h.sock_path()
    dead = eslib.free_port()
    P = {k: eslib.free_port() for k in ("http", "none", "rs", "fmt", "act", "ck")}
    logto = f"log {L}:{ulog.port} local0"
    cfg = eslib.http_global(sock) + eslib.http_defaults()
    cfg += eslib.section("frontend fe_http", f"""
        bind {L}:{P['http']}
        {logto}
        option httplog
        capture request header Host len 32
        capture request header X-A len 5
        capture request header X-Missing len 10
        capture response header X-R len 4
        capture response header Server len 30
        http-request set-header X-A rewritten
        http-response set-header X-R rewritten
        http-request deny if {{ path_beg /deny }}
        use_backend be_dead if {{ path_beg /dead }}
        default_backend be_shape""")
    cfg += eslib.section("frontend fe_none", f"""
        bind {L}:{P['none']}
        {logto}
        option httplog
        default_backend be""")
    cfg += eslib.section("frontend fe_rs", f"""
        bind {L}:{P['rs']}
        {logto}
        option httplog
        capture response header Server len 6
        capture response header X-Origin len 10
        default_backend be""")
    cfg += eslib.section("frontend fe_fmt", f"""
        bind {L}:{P['fmt']}
        {logto}
        log-format "{FMT}"
        capture request header X-A len 5
        capture request header X-B len 10
        capture response header X-R len 4
        capture cookie SID len 12
        default_backend be_shape""")
    cfg += eslib.section("frontend fe_act", f"""
        bind {L}:{P['act']}
        {logto}
        option httplog
        declare capture request len 8
        http-request capture req.hdr(x-b) len 3
        capture request header X-A len 10
        http-request capture path len 6
        declare capture response len 6
        capture response header X-R len 10
        default_backend be_act""")
    cfg += eslib.section("listen li_ck", f"""
        bind {L}:{P['ck']}
        {logto}
        option httplog
        capture cookie SID= len 20
        capture request header X-A len 3
        server s1 {L}:{shape.port}""")
    cfg += eslib.section("backend be", f"server s1 {L}:{origin.port}")
    cfg += eslib.section("backend be_shape", f"server s1 {L}:{shape.port}")
    cfg += eslib.section("backend be_act", f"""
        http-request capture req.hdr(x-c) id 0
        http-request capture req.hdr(x-c) id 7
        http-response capture res.hdr(x-s) id 0
        server s1 {L}:{shape.port}""")
    cfg += eslib.section("backend be_dead", f"retries 0\nserver s1 {L}:{dead}")
    eslib.start_proxy(h, cfg, ports=list(P.values()), sock=sock)

    def logged(pred, what):
        got = eslib.poll_until(lambda: [x for x in ulog.lines if pred(x)], 5, interval=0.02,
                               what=f"the log line of {what} (last {ulog.lines[-3:]!r})")
        check_eq(len(got), 1, f"log lines of {what}: {got}")
        return got[0]

    def httplog(fe, target, what):
        """The httplog line of the request `GET <target>` on frontend fe, parsed."""
        line = logged(lambda x: f" {fe} " in x and x.endswith(f'"GET {target} HTTP/1.1"'), what)
        m = HTTPLOG.match(line)
        check(m, f"{what}: not HAProxy's httplog layout: {line!r}")
        log(f"{what}: {line}")
        return m

    def one(port, data, status, what):
        r, _, err = eslib.raw_exchange(port, data, close_wait=0.5)
        check_eq(r and r.status, status, f"{what}: status ({err})")

    # ---- option httplog with request and response header captures ---------------------------
    cases = [
        ("/a1", [("Host", "h.test"), ("X-A", "123456789"), ("X-Echo-Resp", "X-R: abcdefg")],
         200, '{h.test|12345|} {abcd|es-cap-origin}', "truncation to len; a missing header is empty"),
        ("/a2", [("Host", "h.test"), ("X-A", "first"), ("X-A", "second"),
                 ("X-Echo-Resp", "X-R: r1"), ("X-Echo-Resp", "X-R: r2")],
         200, '{h.test|secon|} {r2|es-cap-origin}', "the last occurrence is captured"),
        ("/a3", [("Host", "h.test"), ("X-A", "a, b"), ("x-a", "  spc  ")],
         200, '{h.test|spc|} {|es-cap-origin}', "name case-insensitive, value without OWS"),
        ("/a4", [("Host", "h.test"), ("X-A", "")],
         200, '{h.test||} {|es-cap-origin}', "an empty value"),
        # (in values a Host header cannot carry: edgeshard answers 400 to such a Host)
        ("/a5", [("Host", "h.test"), ("X-A", '"#{|}'), ("X-Missing", "a\tb"),
                 ("X-Echo-Resp", 'Server: s"#{|}\xc3\xa9[\\]%\' x')],
         200, '{h.test|#22#23#7B#7C#7D|a#09b} {|s#22#23#7B#7C#7D#C3#A9[\\]%\' x}', "#XX escaping"),
        ("/deny/x", [("Host", "h.test"), ("X-A", "den")],
         403, '{h.test|den|} {|}', "http-request deny: request captures, empty response ones"),
        ("/dead/x", [("Host", "h.test"), ("X-A", "dd")],
         503, '{h.test|dd|} {|}', "a 503 (server down): empty response captures"),
    ]
    for target, hdrs, status, want, what in cases:
        one(P["http"], raw(f"GET {target}", hdrs), status, what)
        m = httplog("fe_http", target, what)
        check_eq(m["tail"], f'{want} "GET {target} HTTP/1.1"', f"httplog captures: {what}")
        check_eq(int(m["status"]), status, f"{what}: logged status")

    # keep-alive: each request has its own captures
    c = eslib.HttpClient(P["http"])
    check_eq(c.request("GET", "/k1", headers=[("X-A", "one"), ("X-Echo-Resp", "X-R: r-one")]).status, 200, "k1")
    check_eq(c.request("GET", "/k2").status, 200, "k2")
    c.close()
    m1, m2 = httplog("fe_http", "/k1", "keep-alive 1st"), httplog("fe_http", "/k2", "keep-alive 2nd")
    check_eq(m1["port"], m2["port"], "both keep-alive requests come from one connection")
    check_eq((m1["tail"], m2["tail"]),
             ('{test.local|one|} {r-on|es-cap-origin} "GET /k1 HTTP/1.1"',
              '{test.local||} {|es-cap-origin} "GET /k2 HTTP/1.1"'),
             "keep-alive: the 2nd request's captures do not inherit the 1st's")

    # <BADREQ>: no stream, no capture blocks at all
    for what, data in (("an invalid request", b"BAD\r\n\r\n"),
                       ("a partial head, then close", b"GET /partial HTTP/1.1\r\nX-A: part")):
        n0 = len(ulog.lines)
        c = eslib.HttpClient(P["http"], timeout=5)
        c.send(data)
        if data.endswith(b"\r\n\r\n"):
            c.wait_closed(3)
        else:
            time.sleep(0.1)
        c.close()
        got = eslib.poll_until(lambda: [x for x in ulog.lines[n0:] if " fe_http " in x], 5, interval=0.02,
                               what=f"the log line of {what}")
        m = HTTPLOG.match(got[0])
        check(m, f"{what}: not the httplog layout: {got[0]!r}")
        check_eq((m["tail"], m["status"]), ('"<BADREQ>"', "400"), f"{what}: no capture blocks, 400")

    # no capture at all: no blocks, one space; response captures only: no request block
    check_eq(eslib.http_get(P["none"], "/n1").status, 200, "fe_none")
    check_eq(httplog("fe_none", "/n1", "no captures")["tail"], '"GET /n1 HTTP/1.1"',
             "httplog without captures: no {} blocks")
    check_eq(eslib.http_get(P["rs"], "/r1").status, 200, "fe_rs")
    check_eq(httplog("fe_rs", "/r1", "response captures only")["tail"], '{es-tes|s1} "GET /r1 HTTP/1.1"',
             "httplog with response captures only (http_origin's Server and X-Origin)")

    # ---- log-format: %hr %hs %hrl %hsl, capture.req/res.hdr, %CC %CS --------------------------
    fmt_cases = [
        ("/f1", [("Host", "h"), ("X-A", "123456789"), ("X-B", '"#{|} x'), ("X-Echo-Resp", "X-R: abcdefg"),
                 ("Cookie", "A=1; SIDX=abcdefghijklmnop; SID=2"), ("X-Echo-Resp", "Set-Cookie: SID=srv123; path=/")],
         'hr={12345|#22#23#7B#7C#7D x} hs={abcd} hrl=12345 #22#23#7B#7C#7D x hsl=abcd '
         'qhrl="12345" "#22#23#7B#7C#7D x" c0=12345 c1="#{|} x c9=- r0=abcd cc=SIDX=abcdefg cs=SID=srv123 end=/f1'),
        ("/f2", [("Host", "h"), ("X-B", "")],
         'hr={|} hs={} hrl=-  hsl=- qhrl="" "" c0=- c1=- c9=- r0=- cc=- cs=- end=/f2'),
        ("/f3", [("Host", "h")],
         'hr={|} hs={} hrl=- - hsl=- qhrl="" "" c0=- c1=- c9=- r0=- cc=- cs=- end=/f3'),
    ]
    for target, hdrs, want in fmt_cases:
        one(P["fmt"], raw(f"GET {target}", hdrs), 200, f"fmt {target}")
        line = logged(lambda x: x.startswith("hr=") and x.endswith(f" end={target}"), f"log-format {target}")
        log(f"log-format {target}: {line}")
        check_eq(line, want, f"log-format line of {target}")

    # ---- declare capture / http-request capture / http-response capture -----------------------
    one(P["act"], raw("GET /abcdefghij", [("Host", "h"), ("X-A", "aaa"), ("X-B", "bbbbbb"), ("X-C", "c" * 14),
                                          ("X-Echo-Resp", "X-R: rrr"), ("X-Echo-Resp", "X-S: " + "s" * 10)]),
        200, "capture actions")
    check_eq(httplog("fe_act", "/abcdefghij", "capture actions")["tail"],
             '{cccccccc|bbb|aaa|/abcde} {ssssss|rrr} "GET /abcdefghij HTTP/1.1"',
             "slots in declaration order: declare(8) <- backend id 0, capture len 3, header, capture len 6; "
             "declare response(6) <- backend http-response id 0, header (id 7: ignored)")

    # ---- capture cookie in option httplog (%CC %CS) ------------------------------------------
    for target, hdrs, cc, cs in (
            ("/c1", [("Host", "h"), ("Cookie", "SIDX=1; SID=abc"), ("Cookie", "SID=second"),
                     ("X-Echo-Resp", "Set-Cookie: A=b"), ("X-Echo-Resp", "Set-Cookie: SID=s1; Path=/"),
                     ("X-Echo-Resp", "Set-Cookie: SID=s2")], "SID=abc", "SID=s1"),
            ("/c2", [("Host", "h"), ("X-A", "abcd")], "-", "-")):
        one(P["ck"], raw(f"GET {target}", hdrs), 200, f"cookie {target}")
        m = httplog("li_ck", target, f"capture cookie {target}")
        check_eq((m["cc"], m["cs"]), (cc, cs), f"httplog %CC %CS for {target}")
    check_eq(m["tail"], '{abc} "GET /c2 HTTP/1.1"', "listen: header capture with a cookie capture")

    config_checks(h)


GOOD_HEAD = """\
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{port}
"""

# (name, extra config (after GOOD_HEAD; '<<<' marks the line named), exit status, text of the message,
#  whether the message names file:line)
CONFIGS = [
    ("req hdr in defaults", "defaults d2\n    mode http\n    capture request header Host len 15 <<<\n", 1,
     "'capture request' not allowed in 'defaults' section.", True),
    ("res hdr in defaults", "defaults d2\n    mode http\n    capture response header Server len 15 <<<\n", 1,
     "'capture response' not allowed in 'defaults' section.", True),
    ("cookie in defaults", "defaults d2\n    mode http\n    capture cookie SID len 15 <<<\n", 1,
     "'capture cookie' not allowed in 'defaults' section.", True),
    ("req hdr without len", "frontend f2\n    bind 127.0.0.1:{port2}\n    capture request header Host <<<\n", 1,
     "'capture request' expects 'header' <header_name> 'len' <len>.", True),
    ("res hdr len without value", "frontend f2\n    bind 127.0.0.1:{port2}\n    capture response header Server len <<<\n", 1,
     "'capture response' expects 'header' <header_name> 'len' <len>.", True),
    ("extra argument", "frontend f2\n    bind 127.0.0.1:{port2}\n    capture request header Host len 5 foo <<<\n", 1,
     "'capture request' cannot handle unexpected argument 'foo'.", True),
    ("unknown capture", "frontend f2\n    bind 127.0.0.1:{port2}\n    capture foo <<<\n", 1,
     "'capture' expects 'cookie' or 'request header' or 'response header'.", True),
    ("cookie without len", "frontend f2\n    bind 127.0.0.1:{port2}\n    capture cookie SID <<<\n", 1,
     "'capture' expects 'cookie' <cookie_name> 'len' <len>.", True),
    ("declare in backend", "backend b2\n    declare capture request len 10 <<<\n", 1,
     "'declare' only available in frontend or listen section", True),
    ("declare in defaults", "defaults d2\n    mode http\n    declare capture request len 10 <<<\n", 1,
     "'declare' not available in default section", True),
    ("declare without len", "frontend f2\n    bind 127.0.0.1:{port2}\n    declare capture request <<<\n", 1,
     "'declare capture' requires a capture length ('len')", True),
    ("declare len 0", "frontend f2\n    bind 127.0.0.1:{port2}\n    declare capture response len 0 <<<\n", 1,
     "length must be > 0", True),
    ("http-request capture len 0",
     "frontend f2\n    bind 127.0.0.1:{port2}\n    http-request capture req.hdr(host) len 0 <<<\n", 1,
     "error detected in frontend 'f2' while parsing 'http-request capture' rule : length must be > 0.", True),
    ("http-request capture len in a backend", "backend b2\n    http-request capture req.hdr(host) len 10 <<<\n", 1,
     "error detected in backend 'b2' while parsing 'http-request capture' rule : "
     "proxy 'b2' has no frontend capability.", True),
    ("http-response capture len",
     "frontend f2\n    bind 127.0.0.1:{port2}\n    declare capture response len 10\n"
     "    http-response capture res.hdr(server) len 10 <<<\n", 1,
     "error detected in frontend 'f2' while parsing 'http-response capture' rule : expects 'id', found 'len'.", True),
    ("http-request capture id without slot",
     "frontend f2\n    bind 127.0.0.1:{port2}\n    http-request capture req.hdr(host) id 0\n", 1,
     "Proxy 'f2': unable to find capture id '0' referenced by http-request capture rule.", False),
    ("http-response capture id without slot",
     "frontend f2\n    bind 127.0.0.1:{port2}\n    declare capture request len 4\n"
     "    http-response capture res.hdr(server) id 0\n", 1,
     "Proxy 'f2': unable to find capture id '0' referenced by http-response capture rule.", False),
    # accepted, with a warning
    ("header capture in a backend", "backend b2\n    capture request header Host len 15 <<<\n", 0,
     "'capture' ignored because backend 'b2' has no frontend capability.", True),
    ("cookie len above tune.http.cookielen",
     "frontend f2\n    bind 127.0.0.1:{port2}\n    capture cookie SID len 100\n", 0,
     "truncating capture length to 63 bytes for frontend 'f2'.", False),
    ("cookie capture in tcp mode",
     "frontend f2\n    mode tcp\n    bind 127.0.0.1:{port2}\n    capture cookie SID len 10\n", 0,
     "'capture' statement ignored for frontend 'f2' as it requires HTTP mode.", False),
    # accepted: slots used from a backend are not checked at load time
    ("ids used in a backend", "backend b2\n    http-request capture req.hdr(host) id 3\n"
     "    http-response capture res.hdr(server) id 5\n", 0, None, False),
]


def config_checks(h):
    port, port2 = eslib.free_port(), eslib.free_port()
    for i, (name, extra, status, msg, located) in enumerate(CONFIGS):
        lines = (GOOD_HEAD + extra).format(port=port, port2=port2).splitlines()
        line = None
        for n, l in enumerate(lines):
            if "<<<" in l:
                line, lines[n] = n + 1, l.replace("<<<", "").rstrip()
        path = h.write(f"cap_{i}.cfg", "\n".join(lines) + "\n")
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=20)
        out = r.stdout + r.stderr
        check_eq(r.returncode, status, f"`-c` exit status, config '{name}' (output: {out.strip()!r})")
        if msg:
            check(msg in out, f"config '{name}': `-c` should say {msg!r}; said {out.strip()!r}")
            if located:
                # HAProxy writes "[file:line]", edgeshard "file:line:"
                where = f"{path}:{line}:" if eslib.on_edgeshard() else f"[{path}:{line}]"
                check(where in out, f"config '{name}': the message should name {where}: {out.strip()!r}")
        if status == 0:
            check("Configuration file is valid" in out, f"config '{name}' should be valid: {out.strip()!r}")
        log(f"config {name}: rc {r.returncode}: {msg}")


if __name__ == "__main__":
    eslib.run_http(main)
