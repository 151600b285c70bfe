#!/usr/bin/env python3
"""500 client connections held open at the same time through 2 shards, each echoing its own
distinct 4 KiB message exactly; the frontend sees scur == 500 while they are open and 0 after."""
import os
import selectors
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

N = 500
MSG = 4096


def open_and_echo(port, n, timeout):
    """Opens n non-blocking connections, sends each its message and reads it back.
    Returns (sockets, list of failure strings)."""
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((eslib.LOCALHOST, port))
        msg = struct.pack("!I", i) + os.urandom(MSG - 4)
        st = {"i": i, "s": s, "msg": msg, "off": 0, "got": bytearray(), "done": False, "err": None}
        conns.append(st)
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ, st)
    dl = eslib.Deadline(timeout)
    pending = n
    for _ in range(200000):
        if pending == 0 or dl.expired():
            break
        for key, mask in sel.select(timeout=min(0.5, dl.left())):
            st = key.data
            s = st["s"]
            try:
                if mask & selectors.EVENT_WRITE and st["off"] < MSG:
                    k = s.send(st["msg"][st["off"]:])
                    st["off"] += k
                if mask & selectors.EVENT_READ:
                    data = s.recv(MSG)
                    if not data:
                        st["err"] = f"conn {st['i']}: EOF after {len(st['got'])} bytes"
                    st["got"] += data
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                st["err"] = f"conn {st['i']}: {e!r}"
            if st["err"] or len(st["got"]) >= MSG:
                st["done"] = True
                pending -= 1
                sel.unregister(s)
            elif st["off"] >= MSG:
                sel.modify(s, selectors.EVENT_READ, st)
    sel.close()
    failures = []
    for st in conns:
        if st["err"]:
            failures.append(st["err"])
        elif not st["done"]:
            failures.append(f"conn {st['i']}: timeout, sent {st['off']}, got {len(st['got'])}")
        elif bytes(st["got"]) != st["msg"]:
            failures.append(f"conn {st['i']}: echo differs from the message sent")
    return [st["s"] for st in conns], failures


def main(h):
    px = fixture.proxy_to_origin(h, "tcp", origin_opts={"backlog": 2048}, server_name="echo", maxconn=4000,
                                 client="60s", server="60s", fe_lines="maxconn 2000", peer=False)
    echo, fe, es = px.origin, px.fe, px.proxy

    t0 = time.monotonic()
    socks, failures = open_and_echo(fe, N, timeout=60)
    try:
        check(not failures, f"{len(failures)} of {N} connections failed; first: {failures[:5]}")
        log(f"{N} connections echoed exactly in {time.monotonic() - t0:.2f}s")
        check_eq(echo.current, N, "connections open at the echo server while all clients are open")

        m = es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == N, timeout=5,
                         what=f"frontend scur == {N} while all are open")
        f = m[("fe", "FRONTEND")]
        check(eslib.num(f.get("smax")) >= N, f"frontend smax {f.get('smax')} < {N}")
        shards = es.shards()
        conns = sum(eslib.num(s.get("conns")) for s in shards)
        check_eq(conns, N, "sum of `show shards json` conns while all are open")
        log(f"scur={f.get('scur')} smax={f.get('smax')} per-shard conns="
            f"{[s.get('conns') for s in shards]}")
    finally:
        for s in socks:
            s.close()

    m = es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=10,
                     what="frontend scur == 0 after all clients closed")
    es.expect_counters("fe", "FRONTEND", {"stot": N, "bin": N * MSG, "bout": N * MSG},
                       what="after all connections closed")
    eslib.poll_until(lambda: echo.current == 0, 10, what="echo server connections to close")
    check_eq(echo.accepts, N, "connections accepted by the echo server")
    check(echo.peak >= N, f"echo server saw at most {echo.peak} concurrent connections, not {N}")


if __name__ == "__main__":
    eslib.run(main)
