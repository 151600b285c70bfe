#!/usr/bin/env python3
"""Shard placement: one shard per CPU the process may run on (taskset is respected), `nbthread`
sets the count, `cpu-map` the CPUs; every shard thread is really pinned to its one CPU
(checked with sched_getaffinity on the process's threads), `show shards` reports the same CPUs,
traffic flows through every placement, and a cpu-map naming a CPU the process may not use is a
start-up error naming file:line."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def config(h, sock, port, echo_port, nbthread=None, extra=""):
    g = ["global", f"    stats socket {sock} mode 600 level admin"]
    if nbthread:
        g.append(f"    nbthread {nbthread}")
    g += ["    " + l.strip() for l in extra.strip().splitlines() if l.strip()]
    return ("\n".join(g) + "\n" + eslib.defaults_section() +
            eslib.simple_proxy(port, [("s1", echo_port, "")]))


def shard_threads(pid):
    """{shard id: affinity set} for the threads named es-shard-N."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            if comm.startswith("es-shard-"):
                out[int(comm[len("es-shard-"):])] = sorted(os.sched_getaffinity(int(tid)))
        except (OSError, ValueError):
            continue
    return out


def echo_through(port, n=4):
    for i in range(n):
        c = eslib.connect(port)
        msg = f"topology-{port}-{i}".encode() * 10
        c.sendall(msg)
        got = eslib.recv_exact(c, len(msg), timeout=5, what="echo through the proxy")
        check_eq(got, msg, "echoed bytes")
        c.close()


def main(h):
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2 or not {0, 1} <= set(allowed):
        raise eslib.Skip(f"needs CPUs 0 and 1 available, have {allowed}")
    echo = h.echo_server()

    # 1. explicit nbthread + cpu-map, crossed on purpose: shard 0 -> CPU 1, shard 1 -> CPU 0
    sock, port = h.sock_path("a.sock"), eslib.free_port()
    es = h.edgeshard(config(h, sock, port, echo.port, nbthread=2, extra="cpu-map 1 1\ncpu-map 2 0"),
                     ports=[port], sock=sock, name="es-cpumap")
    shards = es.shards()
    check_eq([(s["id"], s["cpu"]) for s in shards], [(0, 1), (1, 0)], "cpu-map placement in show shards")
    check_eq(shard_threads(es.pid), {0: [1], 1: [0]}, "affinity of each shard thread")
    echo_through(port)
    log(f"cpu-map: shards {[(s['id'], s['cpu']) for s in shards]}, thread affinity {shard_threads(es.pid)}")
    es.stop()

    # 2. no nbthread under `taskset -c 1`: exactly one shard, on CPU 1
    sock, port = h.sock_path("b.sock"), eslib.free_port()
    cfg = h.write("taskset.cfg", config(h, sock, port, echo.port))
    es = eslib.Edgeshard(h, ["taskset", "-c", "1", h.bin, "-f", cfg], "es-taskset", sock=sock, ports=[port])
    h.procs.append(es)
    es.wait_ready()
    shards = es.shards()
    check_eq([(s["id"], s["cpu"]) for s in shards], [(0, 1)], "one shard on the only allowed CPU")
    check_eq(shard_threads(es.pid), {0: [1]}, "the shard thread is pinned to CPU 1")
    echo_through(port)
    log("taskset -c 1: one shard on CPU 1")
    es.stop()

    # 3. default: one shard per allowed core
    sock, port = h.sock_path("c.sock"), eslib.free_port()
    es = h.edgeshard(config(h, sock, port, echo.port), ports=[port], sock=sock, name="es-default")
    cpus = sorted(s["cpu"] for s in es.shards())
    check(len(cpus) >= 1 and set(cpus) <= set(allowed) and len(set(cpus)) == len(cpus),
          f"default placement: distinct allowed CPUs, got {cpus}")
    check_eq(sorted(c for a in shard_threads(es.pid).values() for c in a), cpus,
             "each shard thread pinned to its reported CPU")
    echo_through(port)
    log(f"default: shards on CPUs {cpus}")
    es.stop()

    # 4. cpu-map naming a CPU outside the process's affinity: refused at start, with file:line
    bad = h.write("bad.cfg", config(h, h.sock_path("d.sock"), eslib.free_port(), echo.port, nbthread=1,
                                    extra="cpu-map 1 0"))
    r = h.run_cmd(["taskset", "-c", "1", h.bin, "-f", bad], timeout=10)
    check(r.returncode == 1, f"cpu-map to a forbidden CPU must fail with exit 1, got {r.returncode}")
    check("bad.cfg:" in r.stderr and "CPU 0" in r.stderr,
          f"the error names the file:line and the CPU: {r.stderr.strip()!r}")
    log(f"forbidden cpu-map refused: {r.stderr.strip()}")


if __name__ == "__main__":
    eslib.run(main)
