#!/usr/bin/env python3
"""Load-balancing algorithms, checked against where connections really land (each echo server
sends its name as a banner) and against the per-server stot:
  roundrobin weights 1:3, 40 sequential connections: one shard -> exactly 10/30,
      two shards -> 10/30 within 4 (each shard runs its own rotation); a disabled server gets 0
  source: 20 connections from 127.0.0.1 all land on one server (2 shards)
  leastconn (one shard): with A holding 4 more sessions than B, new sessions go to B until equal
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def which(port):
    """Connects, reads the 1-byte banner naming the server, checks an echo, returns (sock, name)."""
    s = eslib.connect(port, timeout=5)
    name = eslib.recv_exact(s, 1, timeout=5, what="server banner").decode()
    s.sendall(b"ping")
    check(eslib.recv_exact(s, 4, timeout=5, what="echo") == b"ping", "echo differs")
    return s, name


def sequential(port, n):
    counts = {}
    for _ in range(n):
        s, name = which(port)
        s.close()
        counts[name] = counts.get(name, 0) + 1
    return counts


def start(h, label, nbthread, servers, balance, extra_be=""):
    fe = eslib.free_port()
    sock = h.sock_path(f"{label}.sock")
    cfg = (eslib.global_section(sock, nbthread=nbthread)
           + eslib.defaults_section()
           + eslib.simple_proxy(fe, servers, balance=balance, be_extra=extra_be))
    return fe, h.edgeshard(cfg, ports=[fe], sock=sock, name=f"edgeshard-{label}")


def server_stot(es, names):
    m = es.stats()
    return {n: eslib.num(m[("be", n)].get("stot")) for n in names}


def main(h):
    A = h.echo_server(banner=b"A", name="A")
    B = h.echo_server(banner=b"B", name="B")
    C = h.echo_server(banner=b"C", name="C")

    # ---- roundrobin 1:3, one shard: exact
    fe, es = start(h, "rr1", 1, [("A", A.port, "weight 1"), ("B", B.port, "weight 3"),
                                 ("C", C.port, "weight 5 disabled")], "roundrobin")
    counts = sequential(fe, 40)
    log(f"roundrobin 1:3, nbthread 1: {counts}")
    check_eq((counts.get("A", 0), counts.get("B", 0)), (10, 30),
             "roundrobin weights 1:3 over 40 connections with one shard (A, B)")
    check_eq(counts.get("C", 0), 0, "connections to the disabled server")
    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=5, what="scur == 0")
    check_eq(server_stot(es, ["A", "B", "C"]), {"A": 10, "B": 30, "C": 0}, "per-server stot (rr, 1 shard)")
    check_eq(str(es.stats()[("be", "C")].get("status")), "MAINT", "status of the disabled server")
    es.stop()

    # ---- roundrobin 1:3, two shards: each shard rotates on its own
    fe, es = start(h, "rr2", 2, [("A", A.port, "weight 1"), ("B", B.port, "weight 3"),
                                 ("C", C.port, "disabled")], "roundrobin")
    counts = sequential(fe, 40)
    log(f"roundrobin 1:3, nbthread 2: {counts}")
    check(abs(counts.get("A", 0) - 10) <= 4 and abs(counts.get("B", 0) - 30) <= 4,
          f"roundrobin 1:3 with two shards should give about 10/30 (within 4): {counts}")
    check_eq(counts.get("C", 0), 0, "connections to the disabled server (2 shards)")
    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=5, what="scur == 0")
    st = server_stot(es, ["A", "B", "C"])
    check_eq(st, {"A": counts.get("A", 0), "B": counts.get("B", 0), "C": 0},
             "per-server stot equals where connections landed (rr, 2 shards)")
    es.stop()

    # ---- source: one client address -> one server, whatever the shard
    fe, es = start(h, "source", 2, [("A", A.port, ""), ("B", B.port, "")], "source")
    counts = sequential(fe, 20)
    log(f"source, nbthread 2: {counts}")
    check_eq(len(counts), 1, f"balance source: all 20 connections from 127.0.0.1 should land on one "
                             f"server, got {counts}")
    es.stop()

    # ---- leastconn, one shard
    fe, es = start(h, "leastconn", 1, [("A", A.port, ""), ("B", B.port, "")], "leastconn")
    held = []
    try:
        for _ in range(8):
            held.append(which(fe))
        names = [n for _, n in held]
        check_eq((names.count("A"), names.count("B")), (4, 4),
                 f"leastconn: 8 held connections should split 4/4 ({names})")
        # close B's four: A holds 4, B holds 0
        for s, n in [x for x in held if x[1] == "B"]:
            s.close()
        held = [x for x in held if x[1] == "A"]
        es.wait_stat("be", "B", "scur", lambda v: v == 0, timeout=5, what="server B scur == 0")
        check_eq(es.stat("be", "A", "scur"), 4, "server A scur")
        new = []
        for _ in range(4):
            x = which(fe)
            held.append(x)
            new.append(x[1])
        check_eq(new, ["B"] * 4, "leastconn: with A at 4 and B at 0, the next 4 sessions go to B")
        # now 4/4: the next two split one each
        nxt = []
        for _ in range(2):
            x = which(fe)
            held.append(x)
            nxt.append(x[1])
        check_eq(sorted(nxt), ["A", "B"], "leastconn: at 4/4 the next two sessions split one each")
        log(f"leastconn: {new} then {nxt}")
    finally:
        for s, _ in held:
            s.close()
    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=5, what="scur == 0")
    es.stop()


if __name__ == "__main__":
    eslib.run(main)
