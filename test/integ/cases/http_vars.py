#!/usr/bin/env python3
"""Variables (`set-var`, `unset-var`, `var()`) as HAProxy 2.6 keeps them (the same file runs through
HAProxy with ES_TEST_PEER=haproxy). Origins api and def (X-Origin), an echo server for mode tcp.
  1. mode http, one keep-alive connection: `http-request set-var(txn.host) req.hdr(host)`,
     `set-var(txn.tag) str(blue)`, `set-var(sess.first) path if !{ var(sess.first) -m found }`,
     `acl is_api var(txn.host) -m beg api.` routing to be_api, the values put in request headers
     (`%[var(...)]`) and `http-response set-header X-Resp-Host %[var(txn.host)]`, `set-var(txn.lhost)
     req.hdr(host),lower` and `%[var(txn.tag),upper]`:
     request 1 (Host api.Example.COM, /one) -> api, X-Host api.Example.COM, X-LHost api.example.com,
     X-Tag blue, X-Up BLUE, X-First /one; response X-Resp-Host api.Example.COM. Request 2 on the same connection (Host www.example.com,
     /two) -> def, X-Host www.example.com, X-First still /one (a sess variable lives as long as the
     connection), request 3 (/unset: `unset-var(txn.tag) if { path_beg /unset }`) -> X-Tag blue then
     X-Tag2 empty. A new connection gets its own X-First.
  2. `acl big var(txn.n) -m int gt 5` with `set-var(txn.n) req.hdr(x-n)`: X-N 7 -> 403, X-N 3 -> 200;
     the same frontend's `tcp-request content reject if { src 127.0.0.2 }` (no stick table anywhere)
     closes a request from 127.0.0.2 without an answer.
  3. mode tcp: `tcp-request session set-var(sess.who) src`, `tcp-request content reject if
     { var(sess.who) -m str 127.0.0.2 }`: 127.0.0.1 echoes, 127.0.0.2 is closed with no byte.
  4. `-c`: an unknown scope (`set-var(foo.x)`) is refused.
  5. `set-var-fmt(txn.x) "%[src]:%[path]-lit"`; an empty result still sets the variable (found), but
     not with `ifnotempty`; `fe_name` in the frontend's rules, `fe_name`/`be_name` in the backend's
     (HAProxy refuses `be_name` in a frontend's rules).
"""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def main(h):
    api = http_origin.start(h, name="api")
    dflt = http_origin.start(h, name="def")
    echo = h.echo_server(name="echo")
    sock = h.sock_path()
    port, port2, port3, tport = eslib.free_port(), eslib.free_port(), eslib.free_port(), eslib.free_port()
    cfg = eslib.http_global(sock) + eslib.http_defaults()
    cfg += eslib.section("frontend fe", f"""
        bind {L}:{port}
        http-request set-var(txn.host) req.hdr(host)
        http-request set-var(txn.tag) str(blue)
        http-request set-var(txn.lhost) req.hdr(host),lower
        http-request set-header X-LHost %[var(txn.lhost)]
        http-request set-header X-Up %[var(txn.tag),upper]
        http-request set-var(sess.first) path if !{{ var(sess.first) -m found }}
        acl is_api var(txn.host) -m beg api.
        http-request set-header X-Host %[var(txn.host)]
        http-request set-header X-Tag %[var(txn.tag)]
        http-request set-header X-First %[var(sess.first)]
        http-request unset-var(txn.tag) if {{ path_beg /unset }}
        http-request set-header X-Tag2 %[var(txn.tag)]
        http-response set-header X-Resp-Host %[var(txn.host)]
        use_backend be_api if is_api
        default_backend be_def""")
    cfg += eslib.section("frontend fe2", f"""
        bind {L}:{port2}
        tcp-request content reject if {{ src 127.0.0.2 }}
        http-request set-var(txn.n) req.hdr(x-n)
        acl big var(txn.n) -m int gt 5
        http-request deny if big
        default_backend be_def""")
    cfg += eslib.section("frontend fe_fmt", f"""
        bind {L}:{port3}
        http-request set-var-fmt(txn.x) "%[src]:%[path]-lit"
        http-request set-var-fmt(txn.e) "%[req.hdr(x-none)]"
        http-request set-var-fmt(txn.e2,ifnotempty) "%[req.hdr(x-none)]"
        http-request set-header X-V %[var(txn.x)]
        http-request set-header X-EF found if {{ var(txn.e) -m found }}
        http-request set-header X-E2F found if {{ var(txn.e2) -m found }}
        http-request set-header X-Px %[fe_name]
        default_backend be_fmt""")
    cfg += eslib.section("backend be_fmt", f"""
        http-request set-header X-Bpx %[fe_name]/%[be_name]
        server s1 {L}:{dflt.port}""")
    cfg += eslib.section("listen tcp_vars", f"""
        bind {L}:{tport}
        mode tcp
        tcp-request session set-var(sess.who) src
        tcp-request content reject if {{ var(sess.who) -m str 127.0.0.2 }}
        server e1 {L}:{echo.port}""")
    cfg += eslib.section("backend be_api", f"server s1 {L}:{api.port}")
    cfg += eslib.section("backend be_def", f"server s1 {L}:{dflt.port}")
    eslib.start_proxy(h, cfg, ports=[port, port2, port3, tport], sock=sock)

    def last(origin):
        return origin.requests()[-1]

    def hv(req, name):
        v = http_origin.header_values(req, name)
        return v[0] if v else None

    c = eslib.HttpClient(port)
    r = c.request("GET", "/one", host="api.Example.COM")
    check_eq((r.status, r.header("x-origin")), (200, "api"), "1: request 1 goes to be_api (var(txn.host) -m beg api.)")
    q = last(api)
    check_eq((hv(q, "x-host"), hv(q, "x-tag"), hv(q, "x-first")), ("api.Example.COM", "blue", "/one"),
             "1: request 1's headers from variables")
    check_eq((hv(q, "x-lhost"), hv(q, "x-up")), ("api.example.com", "BLUE"),
             "1: the lower and upper converters (in set-var and in a value)")
    check_eq(r.header("x-resp-host"), "api.Example.COM", "1: http-response reads the exchange's variable")
    r = c.request("GET", "/two", host="www.example.com")
    check_eq((r.status, r.header("x-origin")), (200, "def"), "1: request 2 goes to be_def")
    q = last(dflt)
    check_eq((hv(q, "x-host"), hv(q, "x-first")), ("www.example.com", "/one"),
             "1: request 2: a new txn.host, the connection's sess.first kept")
    r = c.request("GET", "/unset", host="www.example.com")
    q = last(dflt)
    check_eq((hv(q, "x-tag"), hv(q, "x-tag2")), ("blue", ""), "1: unset-var: X-Tag blue, then X-Tag2 empty")
    c.close()
    r = eslib.http_get(port, "/three", host="www.example.com")
    check_eq(hv(last(dflt), "x-first"), "/three", "1: a new connection has its own sess.first")
    log("1: txn and sess variables, var() in an ACL, in header values, in http-response; unset-var")

    check_eq(eslib.http_get(port2, "/", headers=[("X-N", "7")]).status, 403, "2: var(txn.n) -m int gt 5 with 7")
    check_eq(eslib.http_get(port2, "/", headers=[("X-N", "3")]).status, 200, "2: with 3")
    c2 = eslib.HttpClient(port2, source="127.0.0.2")
    try:
        c2.sock.sendall(b"GET / HTTP/1.1\r\nHost: test.local\r\n\r\n")
    except OSError:
        pass
    how, data, _ = eslib.wait_eof(c2.sock, 3)
    c2.close()
    check_eq(data, b"", f"2: a tcp-request content reject in mode http closes 127.0.0.2's connection ({how})")
    log("2: -m int on a variable; tcp-request content rules in mode http run without any stick table")

    s = socket.create_connection((L, tport), timeout=3)
    s.sendall(b"hello")
    check_eq(eslib.recv_exact(s, 5, what="echo"), b"hello", "3: 127.0.0.1 echoes")
    s.close()
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(3)
    s.connect((L, tport))
    try:
        s.sendall(b"hello")
    except OSError:
        pass
    how, data, _ = eslib.wait_eof(s, 3)
    s.close()
    check_eq(data, b"", f"3: 127.0.0.2 is closed without a byte ({how})")
    log("3: mode tcp: tcp-request session set-var, a content rule reading it")

    n = dflt.request_count()
    r = eslib.http_get(port3, "/echo")
    check_eq(r.status, 200, "5: set-var-fmt request")
    q = dflt.wait_requests(n + 1)[-1]
    hv = http_origin.header_values
    check_eq((hv(q, "x-v"), hv(q, "x-ef"), hv(q, "x-e2f"), hv(q, "x-px"), hv(q, "x-bpx")),
             ([f"{L}:/echo-lit"], ["found"], [], ["fe_fmt"], ["fe_fmt/be_fmt"]),
             "5: set-var-fmt (an empty result is still set, unless ifnotempty); fe_name, be_name in the backend")
    log("5: set-var-fmt, fe_name, be_name")

    bad = h.write("bad.cfg", eslib.http_defaults() + eslib.section("frontend fe", f"""
        bind {L}:{eslib.free_port()}
        http-request set-var(foo.x) str(1)
        default_backend be""") + eslib.section("backend be", f"server s1 {L}:{dflt.port}"))
    p = subprocess.run([os.environ["EDGESHARD_BIN"], "-c", "-f", bad], capture_output=True, text=True, timeout=30)
    out = p.stdout + p.stderr
    check(p.returncode != 0 and "Configuration file is valid" not in out, f"4: an unknown scope is refused: {out!r}")
    log(f"4: -c: {out.strip().splitlines()[-1][:160]}")


if __name__ == "__main__":
    eslib.run_http(main)
