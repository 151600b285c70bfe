#!/usr/bin/env python3
"""Cookie persistence (`cookie NAME insert|rewrite|prefix ...`, server `cookie VALUE`), as HAProxy 2.6
does it (the same file runs through HAProxy with ES_TEST_PEER=haproxy; every string asserted is what
2.6.12 sends). Origins s1, s2, s3 answer with `X-Server: sN` and a JSON body {server, cookie: [the
Cookie header values received], method, path}; a request header `X-Want-Set-Cookie: V` (repeatable)
makes the origin answer `Set-Cookie: V`, `X-Want-Cache-Control: V` makes it answer `Cache-Control: V`.
HAProxy writes every header name in lower case on HTTP/1.1; names are compared case-insensitively
here, values and the order of the fields exactly.
  1. insert indirect nocache (3 servers, roundrobin): no cookie -> `Set-Cookie: SRV=s1; path=/`
     appended after the origin's fields, the origin saw no Cookie. `Cache-control: private` is
     appended after it only when the response is cacheable (here: the origin's
     `Cache-Control: max-age=60`, which is kept); a response without freshness information,
     `no-cache` or bare `public` gets none. `SRV=s2` -> s2, 10 times on one keep-alive connection,
     no Set-Cookie, the origin never sees SRV; other cookies are kept and the header is rewritten
     "a=1; b=2" whatever the separators were; a Cookie header holding only SRV is removed (also
     one of two Cookie headers). `SRV=zzz` -> roundrobin, removed, Set-Cookie for the chosen server.
     An origin's own `Set-Cookie: SRV=...` is dropped and replaced by the proxy's.
  2. insert without indirect: the origin sees the SRV cookie (valid or not); a valid one -> no
     Set-Cookie; an invalid one -> Set-Cookie for the chosen server. `preserve`: an origin's own
     SRV cookie is kept and none is added.
  3. `httponly secure domain .example.com`: `SRV=s1; path=/; domain=.example.com; HttpOnly; Secure`.
  4. rewrite: the origin's `JSESSIONID=abc; Path=/app` reaches the client as `JSESSIONID=s1; Path=/app`
     (in place); `JSESSIONID=s2` -> s2, which receives it unchanged.
  5. prefix nocache: `JSESSIONID=abc123; path=/` -> `JSESSIONID=s1~abc123; path=/` (in place, no
     Cache-control added even when cacheable); `JSESSIONID=s1~abc123` -> s1, which gets
     `JSESSIONID=abc123`; an unknown prefix is stripped too; a value without `~` is passed as is.
  6. `set server be_maint/s2 state maint`: `SRV=s2` goes to s1/s3 with a new Set-Cookie; `state
     ready`: back to s2; `state drain`: SRV=s2 still goes to s2, new sessions avoid it. With
     `option persist` (+ redispatch) the cookie still sends the request to s2 in maint (no new
     Set-Cookie).
  7. `option httplog` over UDP syslog, the cookie letters of the termination state: no cookie --NI,
     valid --VN, invalid --II, server in maint --DI (--DN with option persist), rewrite (server
     cookie rewritten) --NR, prefix --NR / --VN, postonly GET --NN / POST --NI, passive mode
     (`cookie SRV` without a mode) ---- whatever the cookie.
  8. `show stat` CSV column `cookie`: each server's value, the BACKEND row the cookie name.
  9. postonly: GET and PUT -> no Set-Cookie, POST -> Set-Cookie.
 10. Config: `cookie` without a name, a server `cookie` without a value, two modes, rewrite +
     indirect, an unknown option, prefix + preserve -> errors naming the line; `cookie SRV` alone
     is valid (passive: the request cookie selects the server, nothing is inserted or rewritten).
     maxidle / maxlife / dynamic: HAProxy accepts them; edgeshard refuses them, naming the keyword.
"""
import csv
import io
import json
import os
import re
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST

# What HAProxy 2.6 sends (observed)
SC_INS = "SRV={}; path=/"
SC_ATTR = "SRV={}; path=/; domain=.example.com; HttpOnly; Secure"
CC_PRIVATE = "private"
# Cookie headers as sent and as the origin receives them once SRV is removed (insert indirect)
COOKIE_REWRITES = [
    ("a=1; SRV=s2; b=2", ["a=1; b=2"]),
    ("a=1;SRV=s2;b=2", ["a=1; b=2"]),
    ("a=1 ;  SRV=s2 ;  b=2", ["a=1; b=2"]),
    ("SRV=s2; b=2", ["b=2"]),
    ("SRV=s2;b=2", ["b=2"]),
    ("a=1;SRV=s2", ["a=1"]),
    ("a=1; SRV=s2", ["a=1"]),
    ("SRV=s2", []),
]


# ---------------------------------------------------------------------------------------------
# Origins and the syslog receiver
# ---------------------------------------------------------------------------------------------

class Origin:
    """Keep-alive HTTP/1.1 origin named `name`: `X-Server: name`, JSON body; records each request."""

    def __init__(self, h, name):
        self.name = name
        self.lock = threading.Lock()
        self.reqs = []
        self.srv = h.threaded_server(self._handle, name=name, conn_timeout=10)
        self.port = self.srv.port

    def _handle(self, c, idx, srv):
        buf = b""
        for _ in range(10000):
            while b"\r\n\r\n" not in buf:
                try:
                    d = c.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    return
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            hdrs = [(n.strip(), v.strip()) for n, _, v in (ln.partition(":") for ln in lines[1:])]
            want = int(next((v for n, v in hdrs if n.lower() == "content-length"), "0"))
            while len(buf) < want:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            buf = buf[want:]
            method, path = lines[0].split(" ")[:2]
            rec = {"server": self.name, "method": method, "path": path,
                   "cookie": [v for n, v in hdrs if n.lower() == "cookie"]}
            with self.lock:
                self.reqs.append(rec)
            extra = "".join(f"Set-Cookie: {v}\r\n" for n, v in hdrs if n.lower() == "x-want-set-cookie")
            extra += "".join(f"Cache-Control: {v}\r\n" for n, v in hdrs if n.lower() == "x-want-cache-control")
            body = json.dumps(rec).encode()
            c.sendall(f"HTTP/1.1 200 OK\r\nX-Server: {self.name}\r\n{extra}Content-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def seen(self):
        with self.lock:
            return list(self.reqs)



# ---------------------------------------------------------------------------------------------
# Client helpers
# ---------------------------------------------------------------------------------------------

_seq = [0]


def req(port, cookies=(), want_sc=(), want_cc=None, method="GET", body=b"", client=None):
    """One request (on `client` if given, else a new connection) to a unique path /<port>/<n>.
    `cookies`: Cookie header values (one header each). Returns (response, origin record, path)."""
    _seq[0] += 1
    path = f"/{port}/{_seq[0]}"
    hdrs = [("Cookie", c) for c in cookies] + [("X-Want-Set-Cookie", v) for v in want_sc]
    if want_cc:
        hdrs.append(("X-Want-Cache-Control", want_cc))
    c = client or eslib.HttpClient(port, timeout=5)
    try:
        r = c.request(method, path, hdrs, body)
    finally:
        if client is None:
            c.close()
    check_eq(r.status, 200, f"{method} {path} cookies={list(cookies)}: status ({r.brief()})")
    rec = r.json()
    check_eq(r.header("x-server"), rec["server"], f"{path}: X-Server matches the body")
    check_eq(rec["path"], path, f"{path}: the origin got this request")
    return r, rec, path


def names(r):
    return [n.lower() for n, _ in r.headers]


def csv_stats(es):
    """`show stat` (CSV) -> {(pxname, svname): {column: text}}."""
    text = es.ctl("show stat")
    lines = text.splitlines()
    check(lines and lines[0].startswith("# pxname,svname"), f"`show stat` header: {text[:200]!r}")
    cols = lines[0][2:].split(",")
    out = {}
    for rec in csv.reader(io.StringIO("\n".join(lines[1:]))):
        if len(rec) >= 2:
            out[(rec[0], rec[1])] = dict(zip(cols, rec))
    return out


# ---------------------------------------------------------------------------------------------
# The case
# ---------------------------------------------------------------------------------------------

BACKENDS = {
    # name: (cookie line, extra lines, servers)
    "ins": ("cookie SRV insert indirect nocache", "", 3),
    "noind": ("cookie SRV insert", "", 2),
    "pres": ("cookie SRV insert preserve indirect nocache", "", 2),
    "attr": ("cookie SRV insert indirect nocache httponly secure domain .example.com", "", 2),
    "rw": ("cookie JSESSIONID rewrite", "", 2),
    "pfx": ("cookie JSESSIONID prefix nocache", "", 2),
    "maint": ("cookie SRV insert indirect nocache", "", 3),
    "persist": ("cookie SRV insert indirect nocache", "option persist\noption redispatch", 2),
    "post": ("cookie SRV insert postonly indirect", "", 2),
    "pass": ("cookie SRV", "", 2),
}


def main(h):
    sock = h.sock_path()
    o = {n: Origin(h, n) for n in ("s1", "s2", "s3")}
    ulog = eslib.UdpLog()
    h.servers.append(ulog)
    P = {n: eslib.free_port() for n in BACKENDS}
    cfg = eslib.http_global(sock) + eslib.http_defaults()
    for n, (ck, extra, nsrv) in BACKENDS.items():
        cfg += eslib.section(f"frontend fe_{n}", f"""
            bind {L}:{P[n]}
            log {L}:{ulog.port} local0
            option httplog
            default_backend be_{n}""")
        srv = "\n".join(f"server s{i} {L}:{o[f's{i}'].port} cookie s{i}" for i in range(1, nsrv + 1))
        cfg += eslib.section(f"backend be_{n}", f"balance roundrobin\n{ck}\n{extra}\n{srv}")
    es = eslib.start_proxy(h, cfg, ports=list(P.values()), sock=sock)

    def tsc(path, method="GET"):
        """The 4 termination-state letters logged for the request to `path`."""
        pat = re.compile(r" (\S{4}) \d+/\d+/\d+/\d+/\d+ \d+/\d+ \"" + method + " " + re.escape(path) + " ")

        def find():
            for ln in list(ulog.lines):
                m = pat.search(ln)
                if m:
                    return m.group(1)
            return None
        return eslib.poll_until(find, 5, interval=0.05, what=f"the log line of {method} {path} "
                                f"(last lines {ulog.lines[-3:]!r})")

    # ---- 1. insert indirect nocache ---------------------------------------------------------
    p = P["ins"]
    r, rec, path = req(p)
    first = rec["server"]
    check_eq(first, "s1", "1: the first request (roundrobin) goes to s1")
    log(f"1: first response head: {r.raw_head!r}")
    check_eq(r.headers_named("set-cookie"), [SC_INS.format("s1")], "1: no cookie -> the inserted Set-Cookie")
    check_eq(names(r), ["x-server", "content-type", "content-length", "set-cookie"],
             "1: Set-Cookie is appended after the origin's fields; no Cache-control for a response "
             "without freshness information")
    check_eq(rec["cookie"], [], "1: the origin got no Cookie header")
    check_eq(tsc(path), "--NI", "7: log, no cookie: --NI")

    r, rec, path = req(p, want_cc="max-age=60")
    s = rec["server"]
    check_eq(s, "s2", "1: roundrobin continues with s2")
    check_eq(names(r), ["x-server", "cache-control", "content-type", "content-length", "set-cookie",
                        "cache-control"], "1: cacheable response: Set-Cookie then Cache-control appended")
    check_eq(r.headers_named("cache-control"), ["max-age=60", CC_PRIVATE],
             "1: the origin's Cache-Control is kept, `private` added after the Set-Cookie")
    check_eq(r.headers_named("set-cookie"), [SC_INS.format("s2")], "1: Set-Cookie for s2")
    for cc in ("no-cache", "public", "private"):
        r, rec, _ = req(p, want_cc=cc)
        check_eq(r.headers_named("cache-control"), [cc], f"1: origin Cache-Control {cc!r}: nothing added")
        check_eq(r.headers_named("set-cookie"), [SC_INS.format(rec["server"])], f"1: {cc!r}: Set-Cookie")

    c = eslib.HttpClient(p, timeout=5)
    try:
        for i in range(10):
            r, rec, path = req(p, cookies=["SRV=s2"], client=c, want_cc="max-age=60" if i == 0 else None)
            check_eq(rec["server"], "s2", f"1: keep-alive request {i} with SRV=s2")
            check_eq(r.headers_named("set-cookie"), [], f"1: request {i}: indirect, no Set-Cookie")
            check_eq(rec["cookie"], [], f"1: request {i}: the Cookie header holding only SRV is removed")
            if i == 0:
                check_eq(r.headers_named("cache-control"), ["max-age=60"],
                         "1: valid cookie, cacheable response: no Cache-control: private")
                check_eq(tsc(path), "--VN", "7: log, valid cookie: --VN")
        # the same connection, other servers: each request is routed on its own cookie
        for want in ("s1", "s3", "s2"):
            r, rec, _ = req(p, cookies=[f"SRV={want}"], client=c)
            check_eq(rec["server"], want, f"1: SRV={want} on the same keep-alive connection")
    finally:
        c.close()

    for sent, got in COOKIE_REWRITES:
        r, rec, _ = req(p, cookies=[sent])
        check_eq((rec["server"], rec["cookie"]), ("s2", got), f"1: Cookie {sent!r} -> s2, received as")
        check_eq(r.headers_named("set-cookie"), [], f"1: Cookie {sent!r}: no Set-Cookie")
    r, rec, _ = req(p, cookies=["a=1 ;  b=2"])
    check_eq(rec["cookie"], ["a=1 ;  b=2"], "1: a Cookie header without SRV is passed unchanged")
    check_eq(r.headers_named("set-cookie"), [SC_INS.format(rec["server"])], "1: ... and SRV is inserted")

    for hdrs, want, seen in ((["a=1", "SRV=s3"], "s3", ["a=1"]), (["SRV=s3", "a=1"], "s3", ["a=1"]),
                             (["a=1; SRV=s1", "b=2"], "s1", ["a=1", "b=2"])):
        r, rec, _ = req(p, cookies=hdrs)
        check_eq((rec["server"], rec["cookie"]), (want, seen),
                 f"1: two Cookie headers {hdrs}: the server, and what it received (a header left empty is removed)")
        check_eq(r.headers_named("set-cookie"), [], f"1: two Cookie headers {hdrs}: no Set-Cookie")

    rr = []
    for i in range(3):
        r, rec, path = req(p, cookies=["a=1; SRV=zzz; b=2"])
        rr.append(rec["server"])
        check_eq(rec["cookie"], ["a=1; b=2"], "1: an unknown SRV value is removed too")
        check_eq(r.headers_named("set-cookie"), [SC_INS.format(rec["server"])],
                 "1: unknown value -> Set-Cookie for the chosen server")
        if i == 0:
            check_eq(tsc(path), "--II", "7: log, invalid cookie: --II")
    check_eq(sorted(rr), ["s1", "s2", "s3"], "1: unknown value -> roundrobin over the 3 servers")

    r, rec, _ = req(p, want_sc=["SRV=fromapp; path=/", "other=1"])
    check_eq(r.headers_named("set-cookie"), ["other=1", SC_INS.format(rec["server"])],
             "1: the origin's own SRV Set-Cookie is dropped, the proxy's appended, others kept")
    check(not [x for x in o["s1"].seen() + o["s2"].seen() + o["s3"].seen()
               if x["path"].startswith(f"/{p}/") and any("SRV=" in v for v in x["cookie"])],
          "1: no origin ever saw SRV= behind `insert indirect`")

    # ---- 2. insert without indirect; preserve -----------------------------------------------
    p = P["noind"]
    r, rec, path = req(p)
    check_eq((rec["server"], r.headers_named("set-cookie")), ("s1", [SC_INS.format("s1")]), "2: no cookie")
    for _ in range(3):
        r, rec, path = req(p, cookies=["a=1; SRV=s2; b=2"], want_cc="max-age=60")
        check_eq((rec["server"], rec["cookie"]), ("s2", ["a=1; SRV=s2; b=2"]),
                 "2: without indirect the origin sees the SRV cookie")
        check_eq(r.headers_named("set-cookie"), [], "2: valid cookie -> no Set-Cookie")
        check_eq(r.headers_named("cache-control"), ["max-age=60"], "2: no `nocache`: nothing added")
    check_eq(tsc(path), "--VN", "7: log, valid cookie without indirect: --VN")
    r, rec, path = req(p, cookies=["SRV=zzz"])
    check_eq(rec["cookie"], ["SRV=zzz"], "2: invalid value reaches the origin unchanged")
    check_eq(r.headers_named("set-cookie"), [SC_INS.format(rec["server"])], "2: invalid -> Set-Cookie")
    check_eq(tsc(path), "--II", "7: log, invalid cookie without indirect: --II")

    p = P["pres"]
    r, rec, _ = req(p, want_sc=["SRV=fromapp; path=/"])
    check_eq(r.headers_named("set-cookie"), ["SRV=fromapp; path=/"],
             "2: preserve: the origin's own SRV cookie is kept and nothing is inserted")
    r, rec, _ = req(p)
    check_eq(r.headers_named("set-cookie"), [SC_INS.format(rec["server"])], "2: preserve, origin sets none: inserted")

    # ---- 3. attributes ----------------------------------------------------------------------
    r, rec, _ = req(P["attr"])
    check_eq(r.headers_named("set-cookie"), [SC_ATTR.format(rec["server"])], "3: httponly secure domain")

    # ---- 4. rewrite -------------------------------------------------------------------------
    p = P["rw"]
    r, rec, path = req(p, want_sc=["JSESSIONID=abc; Path=/app"])
    s = rec["server"]
    check_eq(r.headers_named("set-cookie"), [f"JSESSIONID={s}; Path=/app"], "4: rewrite: the value replaced")
    check_eq(names(r), ["x-server", "set-cookie", "content-type", "content-length"], "4: rewritten in place")
    check_eq(tsc(path), "--NR", "7: log, rewrite: --NR")
    r, rec, _ = req(p)
    check_eq(r.headers_named("set-cookie"), [], "4: the origin sets no cookie -> none added")
    r, rec, _ = req(p, want_sc=["OTHER=1"])
    check_eq(r.headers_named("set-cookie"), ["OTHER=1"], "4: another cookie passes unchanged")
    for _ in range(3):
        r, rec, path = req(p, cookies=["a=1; JSESSIONID=s2; b=2"])
        check_eq((rec["server"], rec["cookie"]), ("s2", ["a=1; JSESSIONID=s2; b=2"]),
                 "4: JSESSIONID=s2 -> s2, received unchanged")
        check_eq(r.headers_named("set-cookie"), [], "4: no Set-Cookie")
    check_eq(tsc(path), "--VN", "7: log, rewrite, valid cookie: --VN")
    r, rec, _ = req(p, cookies=["JSESSIONID=s2"], want_sc=["JSESSIONID=new; Path=/app"])
    check_eq((rec["server"], r.headers_named("set-cookie")), ("s2", ["JSESSIONID=s2; Path=/app"]),
             "4: with a valid cookie the origin's new cookie is rewritten too")

    # ---- 5. prefix --------------------------------------------------------------------------
    p = P["pfx"]
    r, rec, path = req(p, want_sc=["JSESSIONID=abc123; path=/"], want_cc="max-age=60")
    s = rec["server"]
    check_eq(r.headers_named("set-cookie"), [f"JSESSIONID={s}~abc123; path=/"], "5: prefix")
    check_eq(names(r), ["x-server", "set-cookie", "cache-control", "content-type", "content-length"],
             "5: prefixed in place; `nocache` adds nothing in prefix mode")
    check_eq(tsc(path), "--NR", "7: log, prefix, server cookie prefixed: --NR")
    for want in ("s1", "s2", "s1"):
        r, rec, path = req(p, cookies=[f"a=1; JSESSIONID={want}~abc123; b=2"])
        check_eq((rec["server"], rec["cookie"]), (want, ["a=1; JSESSIONID=abc123; b=2"]),
                 f"5: JSESSIONID={want}~abc123 -> {want}, the prefix removed")
        check_eq(r.headers_named("set-cookie"), [], "5: no Set-Cookie")
    check_eq(tsc(path), "--VN", "7: log, prefix, valid: --VN")
    r, rec, _ = req(p, cookies=["JSESSIONID=s1~abc123"])
    check_eq((rec["server"], rec["cookie"]), ("s1", ["JSESSIONID=abc123"]), "5: the brief's example")
    r, rec, _ = req(p, cookies=["JSESSIONID=zz~abc123"])
    check_eq(rec["cookie"], ["JSESSIONID=abc123"], "5: an unknown prefix is stripped as well")
    r, rec, _ = req(p, cookies=["JSESSIONID=abc123"])
    check_eq(rec["cookie"], ["JSESSIONID=abc123"], "5: a value without `~` is passed as is")
    r, rec, _ = req(p, want_sc=["OTHER=1"])
    check_eq(r.headers_named("set-cookie"), ["OTHER=1"], "5: another cookie passes unchanged")

    # ---- 6. maint ---------------------------------------------------------------------------
    p = P["maint"]
    for want in ("s1", "s2", "s3"):
        r, rec, _ = req(p, cookies=[f"SRV={want}"])
        check_eq(rec["server"], want, f"6: before maint, SRV={want}")
    out = es.ctl("set server be_maint/s2 state maint")
    check_eq(out.strip(), "", "6: `set server ... state maint` answers nothing")
    got = []
    for i in range(4):
        r, rec, path = req(p, cookies=["SRV=s2"])
        got.append(rec["server"])
        check_eq(r.headers_named("set-cookie"), [SC_INS.format(rec["server"])],
                 "6: s2 in maint -> Set-Cookie for the server chosen instead")
        check_eq(rec["cookie"], [], "6: the stale SRV cookie is still removed (indirect)")
        if i == 0:
            check_eq(tsc(path), "--DI", "7: log, server in maint: --DI")
    check("s2" not in got and set(got) == {"s1", "s3"}, f"6: s2 in maint: balanced over s1/s3: {got}")
    p2 = P["persist"]
    es.ctl("set server be_persist/s2 state maint")
    r, rec, path = req(p2, cookies=["SRV=s2"])
    check_eq((rec["server"], r.headers_named("set-cookie")), ("s2", []),
             "6: option persist: the cookie still selects s2 in maint, no new Set-Cookie")
    check_eq(tsc(path), "--DN", "7: log, option persist, cookie for a server in maint: --DN")
    es.ctl("set server be_maint/s2 state ready")
    for _ in range(3):
        r, rec, path = req(p, cookies=["SRV=s2"])
        check_eq((rec["server"], r.headers_named("set-cookie")), ("s2", []), "6: ready again: SRV=s2 -> s2")
    check_eq(tsc(path), "--VN", "7: log, back to ready: --VN")
    es.ctl("set server be_maint/s2 state drain")
    r, rec, _ = req(p, cookies=["SRV=s2"])
    check_eq((rec["server"], r.headers_named("set-cookie")), ("s2", []), "6: drain: SRV=s2 still goes to s2")
    got = [req(p)[1]["server"] for _ in range(4)]
    check("s2" not in got, f"6: drain: new sessions avoid s2: {got}")
    es.ctl("set server be_maint/s2 state ready")

    # ---- 8. show stat -----------------------------------------------------------------------
    st = csv_stats(es)
    for n, (ck, _, nsrv) in BACKENDS.items():
        for i in range(1, nsrv + 1):
            check_eq(st[(f"be_{n}", f"s{i}")].get("cookie"), f"s{i}", f"8: show stat cookie of be_{n}/s{i}")
        check_eq(st[(f"be_{n}", "BACKEND")].get("cookie"), ck.split()[1], f"8: be_{n} BACKEND cookie column")
        check_eq(st[(f"fe_{n}", "FRONTEND")].get("cookie"), "", f"8: fe_{n} FRONTEND cookie column")

    # ---- 9. postonly ------------------------------------------------------------------------
    p = P["post"]
    r, rec, path = req(p)
    check_eq(r.headers_named("set-cookie"), [], "9: postonly: GET -> no Set-Cookie")
    check_eq(tsc(path), "--NN", "7: log, postonly GET: --NN")
    r, rec, path = req(p, method="PUT", body=b"abc")
    check_eq(r.headers_named("set-cookie"), [], "9: postonly: PUT -> no Set-Cookie")
    r, rec, path = req(p, method="POST", body=b"abc")
    check_eq(r.headers_named("set-cookie"), [SC_INS.format(rec["server"])], "9: postonly: POST -> Set-Cookie")
    check_eq(tsc(path, "POST"), "--NI", "7: log, postonly POST: --NI")
    r, rec2, _ = req(p, method="POST", body=b"abc", cookies=[f"SRV={rec['server']}"])
    check_eq((rec2["server"], r.headers_named("set-cookie")), (rec["server"], []), "9: POST with a valid cookie")

    # ---- passive mode: `cookie SRV` without insert/rewrite/prefix ----------------------------
    p = P["pass"]
    r, rec, path = req(p, want_sc=["SRV=fromapp"])
    check_eq(r.headers_named("set-cookie"), ["SRV=fromapp"], "10: passive: nothing inserted or rewritten")
    check_eq(tsc(path), "----", "7: log, passive mode, no cookie: ---- (no cookie letters without a mode)")
    for _ in range(3):
        r, rec, path = req(p, cookies=["a=1; SRV=s2"])
        check_eq((rec["server"], rec["cookie"], r.headers_named("set-cookie")), ("s2", ["a=1; SRV=s2"], []),
                 "10: passive: SRV=s2 -> s2, cookie passed unchanged")
    check_eq(tsc(path), "----", "7: log, passive mode, valid cookie: ----")

    config_checks(h)


# ---------------------------------------------------------------------------------------------
# 10. Config
# ---------------------------------------------------------------------------------------------

def config_checks(h):
    port = eslib.free_port()

    def cfg(be_line, srv_extra="cookie s1"):
        text = (eslib.http_defaults()
                + eslib.section("frontend fe", f"bind {L}:{port}\ndefault_backend be")
                + eslib.section("backend be", f"{be_line}\nserver s1 {L}:1 {srv_extra}"))
        return text, len(text.rstrip("\n").splitlines())   # the server line is the last one; the cookie line just before

    def run(name, text):
        path = h.write(f"{name}.cfg", text)
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
        return path, r

    bad = [  # (name, backend line, server extra, which line, what HAProxy says)
        ("srv_no_value", "cookie SRV insert", "cookie", "srv", "'cookie' expects <value> as argument"),
        ("no_name", "cookie", "cookie s1", "be", "'cookie' expects <cookie_name> as argument"),
        ("two_modes", "cookie SRV insert rewrite", "cookie s1", "be",
         "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible"),
        ("rw_indirect", "cookie SRV rewrite indirect", "cookie s1", "be",
         "cookie 'rewrite' and 'indirect' modes are incompatible"),
        ("unknown", "cookie SRV insert bogus", "cookie s1", "be", "'cookie' supports 'rewrite', 'insert', 'prefix'"),
        ("pfx_preserve", "cookie SRV prefix preserve", "cookie s1", "be",
         "cookie 'preserve' requires at least 'insert' or 'indirect'"),
        ("domain_no_arg", "cookie SRV insert domain", "cookie s1", "be", "'domain' expects <domain> as argument"),
    ]
    for name, be_line, extra, which, msg in bad:
        text, n = cfg(be_line, extra)
        path, r = run(name, text)
        line = n if which == "srv" else n - 1
        check_eq(r.returncode, 1, f"10: `-c` on {name} ({be_line!r} / server {extra!r}): {r.stderr.strip()!r}")
        check(f"{path}:{line}" in r.stderr, f"10: {name}: stderr names {path}:{line}: {r.stderr.strip()!r}")
        check("cookie" in r.stderr or "domain" in r.stderr, f"10: {name}: stderr names the keyword")
        if not eslib.on_edgeshard():
            check(msg in r.stderr, f"10: {name}: HAProxy's words {msg!r}: {r.stderr.strip()!r}")
        log(f"10: {name}: {next((x for x in r.stderr.splitlines() if f'{path}:' in x), '')[:200]}")

    good = [("passive", "cookie SRV", "cookie s1"), ("no_srv_cookie", "cookie SRV insert", ""),
            ("srv_cookie_only", "balance roundrobin", "cookie s1"),
            ("pfx_indirect", "cookie SRV prefix indirect", "cookie s1"),
            ("all_opts", "cookie SRV insert indirect nocache postonly preserve httponly secure domain a.example.com",
             "cookie s1")]
    for name, be_line, extra in good:
        text, _ = cfg(be_line, extra)
        _, r = run(name, text)
        check_eq(r.returncode, 0, f"10: `-c` on the valid {name} ({be_line!r} / server {extra!r}): "
                                  f"{r.stderr.strip()!r}")

    for kw in ("maxidle 10m", "maxlife 1h", "dynamic"):
        text, n = cfg(f"cookie SRV insert {kw}")
        path, r = run(kw.split()[0], text)
        if eslib.on_edgeshard():
            check_eq(r.returncode, 1, f"10: edgeshard refuses `cookie ... {kw}` (stderr {r.stderr.strip()!r})")
            check(kw.split()[0] in r.stderr and f"{path}:{n - 1}" in r.stderr,
                  f"10: the error names {kw.split()[0]!r} and {path}:{n - 1}: {r.stderr.strip()!r}")
        else:
            check_eq(r.returncode, 0, f"10: HAProxy accepts `cookie ... {kw}` ({r.stderr.strip()!r})")
            log(f"[{eslib.test_peer()}] skipped (edgeshard-only): `cookie ... {kw}` is refused, naming {kw.split()[0]}")


if __name__ == "__main__":
    eslib.run_http(main)
