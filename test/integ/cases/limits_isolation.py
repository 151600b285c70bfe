#!/usr/bin/env python3
"""Limits stay local and timeouts stay attached:
  A. a frontend at its maxconn, with a burst of connections waiting, does not stop another
     frontend of the same shard from accepting and serving at once; its own waiting connections
     are served as slots free;
  B. with a tiny ring (64 SQ entries, so the SQ fills and is flushed mid-turn) every connect still
     carries its `timeout connect`: against a backend that drops SYNs, 300 sessions all end within
     a few timeouts instead of hanging for the kernel's SYN retries (~2 min)."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def nb_connect(port):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect((eslib.LOCALHOST, port))
    except BlockingIOError:
        pass
    return s


def part_a(h):
    fa, fb = eslib.free_port(), eslib.free_port()
    sock = h.sock_path("a.sock")
    echo = h.echo_server()
    cfg = (eslib.global_section(sock, nbthread=1, maxconn=100) +
           eslib.defaults_section(client="30s", server="30s") +
           eslib.simple_proxy(fa, [("e", echo.port, "")], fe="fa", be="ba", fe_extra="maxconn 1") +
           eslib.simple_proxy(fb, [("e", echo.port, "")], fe="fb", be="bb"))
    es = h.edgeshard(cfg, ports=[fa, fb], sock=sock, name="es-isolation")
    held = [nb_connect(fa) for _ in range(30)]
    es.wait_stat("fa", "FRONTEND", "scur", lambda v: v == 1, timeout=5, what="fa at its limit")
    t0 = time.monotonic()
    b = eslib.connect(fb)
    b.sendall(b"hello from B\n")
    got = eslib.recv_exact(b, 13, timeout=2, what="frontend B's echo while A is at its limit")
    check_eq(got, b"hello from B\n", "B's echo")
    log(f"A: frontend B served in {time.monotonic() - t0:.3f}s while A is full with 29 waiting")
    b.close()
    check_eq(eslib.num(es.stat("fa", "FRONTEND", "scur")), 1, "A never exceeds maxconn 1")
    # A's waiting connections are served one by one as the previous ones close
    served = 0
    for s in held:
        s.setblocking(True)
        s.settimeout(5)
        s.sendall(b"x")
        check_eq(eslib.recv_exact(s, 1, timeout=5, what=f"A connection {served}"), b"x", "A echo")
        s.close()
        served += 1
    log(f"A: all {served} waiting connections served in turn")
    es.stop()


def part_b(h):
    ls = socket.socket()
    ls.bind((eslib.LOCALHOST, 0))
    ls.listen(0)
    dead = ls.getsockname()[1]
    fillers = [nb_connect(dead) for _ in range(3)]  # fill the accept queue: further SYNs are dropped
    time.sleep(0.3)
    fe = eslib.free_port()
    sock = h.sock_path("b.sock")
    cfg = (eslib.global_section(sock, nbthread=1, extra="tune.es.ring-entries 64") +
           eslib.defaults_section(connect="500ms", client="60s", server="60s", extra="retries 0") +
           eslib.simple_proxy(fe, [("blackhole", dead, "")]))
    es = h.edgeshard(cfg, ports=[fe], sock=sock, name="es-tinyring")
    n = 300
    cs = [nb_connect(fe) for _ in range(n)]
    es.wait_stat("be", "BACKEND", "econ", lambda v: v == n, timeout=15,
                 what=f"all {n} connects timed out (timeout connect 500ms)")
    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=5, what="no session left connecting")
    sh = es.shards()[0]
    log(f"B: {n} connects ended by timeout connect; sq_full={sh.get('sq_full')}")
    for s in cs + fillers:
        s.close()
    ls.close()
    es.stop()


def main(h):
    part_a(h)
    part_b(h)


if __name__ == "__main__":
    eslib.run(main)
