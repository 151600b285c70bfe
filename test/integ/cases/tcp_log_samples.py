#!/usr/bin/env python3
"""Sample expressions `%[...]` in a `mode tcp` frontend's log-format, as HAProxy 2.6 prints them (`log stdout
format raw`, lines read from the proxy's stdout): what a session still knows when it is logged.
  1. variables set by `tcp-request content` (sess.* and txn.*), an unset one ("-"), the connection's
     addresses and ports, fe_name / be_name, converters (crc32 of the address, upper, a quoted +Q), ssl_fc
     on a plain connection (0), a constant; and a session that never reached a backend (rejected by a
     content rule): its variables as they were, the backend's name is the frontend's.
  2. `-c`: a bad sample expression in a tcp frontend's log-format is refused with HAProxy's words.
"""
import os
import socket
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
FMT = ("T fe=%[fe_name] be=%[be_name] b=%b src=%[src] dp=%[dst_port] s=%[var(sess.s)] t=%[var(txn.t)] "
       "u=%[var(txn.nope)] up=%[var(txn.t),upper] q=%{+Q}[var(sess.s)] h=%[src,crc32] ssl=%[ssl_fc] "
       "i=%[int(7),add(1)]")


def out_bytes(px):
    with open(px.out_path, "rb") as f:
        return f.read()


def wait_lines(px, n, what):
    def probe():
        got = [l for l in out_bytes(px).split(b"\n") if l.startswith(b"T ")]
        return got if len(got) >= n else None
    return eslib.poll_until(probe, 5, what=f"{what}: {n} log lines")


def fields(line):
    """'T k=v k=v' (values without blanks) -> dict."""
    return dict(tok.split("=", 1) for tok in line.decode("latin-1").split(" ")[1:])


def main(h):
    echo = eslib.EchoServer(name="echo")
    h.servers.append(echo)
    p = eslib.free_port()
    cfg = eslib.global_section(None, nbthread=1) + eslib.defaults_section()
    cfg += eslib.section("frontend ft", f"""
        bind {L}:{p}
        log stdout format raw local0
        log-format "{FMT}"
        tcp-request inspect-delay 2s
        tcp-request content set-var(sess.s) str(sv)
        tcp-request content set-var(txn.t) req.payload(0,3)
        tcp-request content reject if {{ req.payload(0,3) -m str BAD }}
        tcp-request content accept if {{ req.len ge 3 }}
        default_backend bk""")
    cfg += eslib.section("backend bk", f"server s1 {L}:{echo.port}")
    px = eslib.start_proxy(h, cfg, ports=[p])

    s = eslib.connect(p)
    sport = s.getsockname()[1]
    s.sendall(b"abcdef")
    got = b""
    dl = eslib.Deadline(3.0)
    while len(got) < 6 and not dl.expired():
        s.settimeout(max(0.01, dl.left()))
        try:
            d = s.recv(100)
        except socket.timeout:
            continue
        if not d:
            break
        got += d
    check_eq(got, b"abcdef", "1: echoed through the proxy")
    s.close()
    line = wait_lines(px, 1, "1: the session")[0]
    f = fields(line)
    crc = str(zlib.crc32(socket.inet_aton(L)))
    check_eq((f["fe"], f["be"], f["b"], f["src"], f["dp"]), ("ft", "bk", "bk", L, str(p)),
             f"1: names and addresses ({line!r})")
    check_eq((f["s"], f["t"], f["u"], f["up"], f["q"]), ("sv", "abc", "-", "ABC", '"sv"'),
             f"1: variables at log time ({line!r})")
    check_eq((f["h"], f["ssl"], f["i"]), (crc, "0", "8"), f"1: converters, ssl_fc, a constant ({line!r})")
    log(f"1: {line.decode()}")

    s = eslib.connect(p)
    s.sendall(b"BADx")
    how, data, _ = eslib.wait_eof(s, 3.0)
    s.close()
    check(how.split()[0] in ("eof", "reset") and not data, f"1: BAD: rejected ({how} {data!r})")
    line = wait_lines(px, 2, "1: the rejected session")[1]
    f = fields(line)
    check_eq((f["fe"], f["be"], f["b"], f["s"], f["t"]), ("ft", "ft", "ft", "sv", "BAD"),
             f"1: a rejected session: no backend (its name is the frontend's), its variables ({line!r})")
    log(f"1: {line.decode()}")

    # ------------------------------------------------------------------ 2. -c
    bad = eslib.global_section(None, nbthread=1) + eslib.defaults_section() + eslib.section("frontend ft", f"""
        bind {L}:{eslib.free_port()}
        log stdout format raw local0
        log-format "%[nosuch]"
        default_backend bk""") + eslib.section("backend bk", f"server s1 {L}:{echo.port}")
    eslib.check_refused(h, bad, 'log-format "%[nosuch]"', ["unknown fetch method 'nosuch'"], "2: an unknown fetch")
    log("2: -c refuses a bad sample expression")


if __name__ == "__main__":
    eslib.run_http(main)
