#!/usr/bin/env python3
"""Access logs (`log stdout format raw local0`, read from the proxy's stdout):
  - `option httplog`: exactly one line per request, in HAProxy's httplog layout: client ip:port
    (the client's real source port), [date], frontend, backend/server, timers, status, bytes sent
    to the client (head + body, as received), ..., and the request line quoted
    ("GET /path?query HTTP/1.1"); a 404 from the origin and a POST are logged likewise;
  - `log-format "%ST %B %HM %HP"`: exactly "<status> <bytes> <method> <path without query>";
  - `option tcplog` on a `mode tcp` frontend: one line per connection with frontend and
    backend/server and the bytes sent to the client; with `option dontlognull`, a connection that
    sends nothing gets no line;
  - `log file@<path>` (edgeshard extension): the same httplog lines appended to a file.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
HTTPLOG = re.compile(r'^(?P<ip>[0-9.]+):(?P<port>\d+) \[(?P<date>[^\]]+)\] (?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) '
                     r'(?P<timers>-?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+) (?P<status>\d{3}) (?P<bytes>\+?\d+) '
                     r'.* "(?P<req>[^"]*)"$')
TCPLOG = re.compile(r'^(?P<ip>[0-9.]+):(?P<port>\d+) \[(?P<date>[^\]]+)\] (?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) '
                    r'(?P<timers>-?\d+/-?\d+/\+?-?\d+) (?P<bytes>\+?\d+) ')


def check_bytes(logged, wire, what):
    """%B is the bytes sent to the client. HAProxy counts its internal representation of the
    message, a few bytes off the wire size, so the exact comparison is edgeshard-only."""
    if eslib.on_edgeshard():
        check_eq(logged, wire, f"{what} (bytes the client received: head + body)")
    else:
        check(abs(logged - wire) <= max(16, wire // 5), f"{what}: {logged}, the client received {wire}")


def wait_stdout(es, count, n, what):
    """Polls the proxy's stdout until count(text) >= n; returns the text."""
    def probe():
        text = es.stdout_text()
        return text if count(text) >= n else None
    return eslib.poll_until(probe, 5, what=what)


def lines_with(text, needle):
    return [l for l in text.splitlines() if needle in l]


def main(h):
    origin = http_origin.start(h, name="s1")
    echo = h.echo_server()
    p_http, p_fmt, p_tcp, p_file = (eslib.free_port() for _ in range(4))
    logfile = h.path("access.log")
    sock = h.sock_path()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe_http", f"""
                bind {L}:{p_http}
                log stdout format raw local0
                option httplog
                default_backend be""")
           + eslib.section("frontend fe_fmt", f"""
                bind {L}:{p_fmt}
                log stdout format raw local0
                log-format "%ST %B %HM %HP"
                default_backend be""")
           + eslib.section("frontend fe_tcp", f"""
                bind {L}:{p_tcp}
                mode tcp
                log stdout format raw local0
                option tcplog
                option dontlognull
                default_backend be_tcp""")
           + eslib.section("frontend fe_file", f"""
                bind {L}:{p_file}
                log file@{logfile} format raw local0 {eslib.ES_ONLY}
                option httplog
                default_backend be""")
           + eslib.section("backend be", f"server s1 {L}:{origin.port}")
           + eslib.section("backend be_tcp", f"mode tcp\nserver e1 {L}:{echo.port}"))
    es = eslib.start_proxy(h, cfg, ports=[p_http, p_fmt, p_tcp, p_file], sock=sock)

    # ---- option httplog
    sent = []
    for method, target, body in (("GET", "/a/1?x=y", b""), ("GET", "/status/404", b""),
                                 ("POST", "/echo", b"z" * 3000)):
        c = eslib.HttpClient(p_http)
        cport = c.sock.getsockname()[1]
        r = c.request(method, target, body=body)
        c.close()
        sent.append((method, target, cport, r))
    out = wait_stdout(es, lambda t: len(lines_with(t, " fe_http ")), 3, "3 httplog lines on stdout")
    fe_lines = lines_with(out, " fe_http ")
    check_eq(len(fe_lines), 3, f"httplog lines for 3 requests: {fe_lines}")
    for method, target, cport, r in sent:
        reqline = f"{method} {target} HTTP/1.1"
        mine = [l for l in fe_lines if l.endswith(f'"{reqline}"')]
        check_eq(len(mine), 1, f'httplog lines ending with "{reqline}" (all: {fe_lines})')
        m = HTTPLOG.match(mine[0])
        check(m, f"httplog line does not have HAProxy's httplog layout: {mine[0]!r}")
        got = (m["ip"], int(m["port"]), m["fe"], m["be"], m["srv"], int(m["status"]))
        check_eq(got, ("127.0.0.1", cport, "fe_http", "be", "s1", r.status),
                 f"httplog fields (ip, port, frontend, backend, server, status) for {reqline}")
        check_bytes(int(m["bytes"].lstrip("+")), r.wire_len, f"httplog %B for {reqline}")
    log(f"httplog: {fe_lines[0]}")

    # ---- custom log-format
    c = eslib.HttpClient(p_fmt)
    r1 = c.request("GET", "/b/2?q=1")
    r2 = c.request("HEAD", "/bytes/10")
    c.close()
    out = wait_stdout(es, lambda t: len(re.findall(r"^\d{3} \d+ ", t, re.M)), 2, "2 log-format lines on stdout")
    fmt_lines = [l for l in out.splitlines() if re.match(r"^\d{3} \d+ [A-Z]+ ", l)]
    check_eq(len(fmt_lines), 2, f'log-format "%ST %B %HM %HP" lines: {fmt_lines}')
    for line, r, rest in ((fmt_lines[0], r1, "GET /b/2"), (fmt_lines[1], r2, "HEAD /bytes/10")):
        st, nbytes, tail = line.split(" ", 2)
        check_eq((int(st), tail), (r.status, rest), f'log-format "%ST %B %HM %HP" line {line!r}')
        check_bytes(int(nbytes), r.wire_len, f"log-format %B in {line!r}")
    log(f"log-format: {fmt_lines}")

    # ---- option tcplog (with dontlognull: a connection that sends nothing is not logged)
    null = eslib.connect(p_tcp)
    null.close()
    tcp_conns = []
    for i in range(3):
        s = eslib.connect(p_tcp)
        msg = b"hello %d\n" % i
        s.sendall(msg)
        check_eq(eslib.recv_exact(s, len(msg), timeout=3, what="tcp echo"), msg, "tcp echo")
        tcp_conns.append((s.getsockname()[1], len(msg)))
        s.close()
    out = wait_stdout(es, lambda t: len(lines_with(t, " fe_tcp ")), 3, "3 tcplog lines on stdout")
    tcp_lines = lines_with(out, " fe_tcp ")
    check_eq(len(tcp_lines), 3, f"tcplog lines for 3 connections: {tcp_lines}")
    for cport, n in tcp_conns:
        mine = [l for l in tcp_lines if l.startswith(f"127.0.0.1:{cport} ")]
        check_eq(len(mine), 1, f"tcplog lines for client port {cport} (all: {tcp_lines})")
        m = TCPLOG.match(mine[0])
        check(m, f"tcplog line does not have HAProxy's tcplog layout: {mine[0]!r}")
        check_eq((m["fe"], m["be"], m["srv"], int(m["bytes"].lstrip("+"))), ("fe_tcp", "be_tcp", "e1", n),
                 "tcplog fields (frontend, backend, server, bytes to the client)")
    log(f"tcplog: {tcp_lines[0]}")

    # ---- file@ target
    if eslib.edgeshard_only("log file@<path> (an edgeshard log target)"):
        r = eslib.http_get(p_file, "/to/file")

        def file_lines():
            try:
                with open(logfile) as f:
                    return [l.rstrip("\n") for l in f if l.strip()]
            except FileNotFoundError:
                return []

        got = eslib.poll_until(lambda: file_lines() or None, 5, what=f"a line in {logfile}")
        check_eq(len(got), 1, f"lines in the file@ log after one request: {got}")
        m = HTTPLOG.match(got[0])
        check(m, f"file@ log line does not have the httplog layout: {got[0]!r}")
        check_eq((m["fe"], int(m["status"]), m["req"]), ("fe_file", 200, "GET /to/file HTTP/1.1"),
                 "file@ log line fields")
        check_eq(lines_with(es.stdout_text(), " fe_file "), [], "fe_file lines on stdout (it logs to a file)")


if __name__ == "__main__":
    eslib.run_http(main)
