#!/usr/bin/env python3
"""Many short sessions, one after another and in parallel, through 2 shards: every exchange
(server banner, client message, echo, close) completes exactly; nothing is counted as an abort;
and afterwards nothing is left held (session pool `used`, provided buffers out, shard conns).
Short sessions recycle pooled objects and direct-descriptor slots quickly; a stale operation
hitting a reused slot shows up here as a lost exchange."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

SEQ = 3000
PAR_THREADS = 8
PAR_EACH = 300


def exchange(port, i):
    """One session; returns None or a failure string."""
    try:
        s = eslib.connect(port, timeout=5)
    except OSError as e:
        return f"session {i}: connect: {e!r}"
    try:
        banner = eslib.recv_exact(s, 1, timeout=5, what="banner")
        msg = (b"%08d" % i) * 8
        s.sendall(msg)
        got = eslib.recv_exact(s, len(msg), timeout=5, what="echo")
        if got != msg:
            return f"session {i}: echo differs"
        return None if banner in (b"A", b"B") else f"session {i}: bad banner {banner!r}"
    except eslib.Failure as e:
        return f"session {i}: {e}"
    finally:
        s.close()


def main(h):
    A = h.echo_server(banner=b"A", name="A")
    B = h.echo_server(banner=b"B", name="B")
    fe = eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.global_section(sock, nbthread=2)
           + eslib.defaults_section()
           + eslib.simple_proxy(fe, [("A", A.port, ""), ("B", B.port, "")]))
    es = h.edgeshard(cfg, ports=[fe], sock=sock)

    fails = []
    for i in range(SEQ):
        r = exchange(fe, i)
        if r:
            fails.append(r)
    log(f"sequential: {SEQ - len(fails)}/{SEQ} exchanges exact")

    par_fails = []
    lock = threading.Lock()

    def worker(t):
        for k in range(PAR_EACH):
            r = exchange(fe, SEQ + t * PAR_EACH + k)
            if r:
                with lock:
                    par_fails.append(r)

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(PAR_THREADS)]
    for t in threads:
        t.start()
    dl = eslib.Deadline(120)
    for t in threads:
        t.join(dl.left())
    check(all(not t.is_alive() for t in threads), "parallel churn did not finish within 120 s")
    total = SEQ + PAR_THREADS * PAR_EACH
    log(f"parallel: {PAR_THREADS * PAR_EACH - len(par_fails)}/{PAR_THREADS * PAR_EACH} exchanges exact")

    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=10, what="scur == 0 after the churn")
    m = es.stats()
    be = m[("be", "BACKEND")]
    shards = es.shards()
    diag = (f"backend cli_abrt={be.get('cli_abrt')} srv_abrt={be.get('srv_abrt')} "
            f"eresp={be.get('eresp')} econ={be.get('econ')}; shards stale_cqes="
            f"{[s.get('stale_cqes') for s in shards]} short_sends={[s.get('short_sends') for s in shards]}")
    log(diag)
    all_fails = fails + par_fails
    check(not all_fails, f"{len(all_fails)} of {total} short sessions lost their exchange "
                         f"({len(fails)} sequential, {len(par_fails)} parallel); first: {all_fails[:3]}; {diag}")
    check_eq(eslib.num(m[("fe", "FRONTEND")].get("stot")), total, "frontend stot")
    check_eq(eslib.num(m[("be", "A")].get("stot")) + eslib.num(m[("be", "B")].get("stot")), total,
             "sum of server stot")
    check_eq(A.accepts + B.accepts, total, "sessions accepted by the servers")
    check_eq(eslib.num(be.get("srv_abrt")), 0, "backend srv_abrt (no server aborted)")
    check_eq(eslib.num(be.get("cli_abrt")), 0, "backend cli_abrt (every client closed cleanly)")

    # nothing left held once every session is closed
    def drained():
        sh = es.shards()
        conns = sum(eslib.num(s.get("conns")) for s in sh)
        out = sum(eslib.num(s.get("buffers_out")) for s in sh if "buffers_out" in s)
        pdoc = es.ctl_json("show pools json")
        pools = pdoc.get("pools", []) if isinstance(pdoc, dict) else []
        used = {p.get("name"): eslib.num(p.get("used")) for p in pools}
        state = (conns, out, used)
        drained.last = state
        return conns == 0 and out == 0 and used.get("session", 0) == 0

    drained.last = None
    try:
        eslib.poll_until(drained, 5, interval=0.1, what="resources to drain")
    except eslib.Failure:
        conns, out, used = drained.last
        check(False, f"after all sessions closed: shard conns={conns}, buffers_out={out}, "
                     f"pool used={used} (expected 0, 0 and session 0)")


if __name__ == "__main__":
    eslib.run(main)
