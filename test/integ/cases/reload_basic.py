#!/usr/bin/env python3
"""Zero-downtime reload (`edgeshard -f CFG -x SOCK -sf PID`), one running chain of processes:
  A. unchanged config: the new process prints `generation 2, took over from PID <old>`, the old
     one exits 0, `show info` answers from the new one (Pid, Generation 2, Stopping 0), and a
     keep-alive client that never stops sending sees no error across the reload (its connection
     to the old process gets `Connection: close`, it reconnects to the new one);
  B. an added bind: the new port serves;
  C. a removed bind: once the old process has exited the port refuses connections;
  D/E. more shards (nbthread 1 -> 2) and fewer (2 -> 1): 64 new connections all get answers
     (a socket left without an accepting shard would leave some of them unanswered);
  F. a broken config: the takeover exits non-zero naming file:line; the old process still runs,
     serves and is not stopping;
  G. a new bind whose port another socket holds: the takeover exits non-zero naming the port;
     the old process keeps accepting;
  H. a new process that dies before committing (the test speaks the handoff protocol, receives
     the listening sockets, checks them, closes them and the connection): the old process still
     accepts (50 new connections succeed) and can still hand over (a last reload succeeds).
The keep-alive client runs through all of it and must see no error at all."""
import os
import time
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
import reload_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402
from reload_lib import info_int, show_info  # noqa: E402

L = eslib.LOCALHOST


def config(sock, nbthread, fe_binds, l4_port, origin_port, echo_port, fe_extra=""):
    binds = "\n".join(f"bind {L}:{p}" for p in fe_binds)
    return (eslib.http_global(sock, nbthread=nbthread, extra="""
                es.drain-idle-after 300ms
                hard-stop-after 20s
            """)
            + eslib.http_defaults()
            + eslib.section("frontend fe", f"{binds}\n{fe_extra}\ndefault_backend be")
            + eslib.section("backend be", f"server s1 {L}:{origin_port}")
            + eslib.section("listen l4", f"mode tcp\nbind {L}:{l4_port}\nserver echo {L}:{echo_port}"))


class Chain:
    """The current process and its generation; each step checks what a reload must guarantee."""

    def __init__(self, h, sock, cur, gen):
        self.h = h
        self.sock = sock
        self.cur = cur
        self.gen = gen
        self.n = 1

    def reload(self, files, ports, what, strict_gen=True):
        self.n += 1
        old = self.cur
        new, gen = reload_lib.reload(self.h, old, files, self.sock, f"gen{self.n}", ports=ports)
        if strict_gen:
            check_eq(gen, self.gen + 1, f"{what}: generation in the ready line")
        else:
            check(gen > self.gen, f"{what}: generation {gen} should be above {self.gen}")
        rc = reload_lib.wait_exit(old, 10, f"{what}: the old process")
        check_eq(rc, 0, f"{what}: exit status of the old process after draining")
        info = show_info(self.sock)
        check_eq(info_int(info, "Pid"), new.pid, f"{what}: `show info` Pid after the old process exited "
                                                 f"(the control socket must belong to the new one)")
        check_eq(info_int(info, "Generation"), gen, f"{what}: `show info` Generation")
        check_eq(info_int(info, "Stopping"), 0, f"{what}: `show info` Stopping of the new process")
        self.cur, self.gen = new, gen
        return new

    def still_serving(self, what, http_port, l4_port, n_http=20, n_l4=5):
        check(self.cur.running(), f"{what}: the running process (pid {self.cur.pid}) has exited\n"
                                  f"{self.cur.tail(20)}")
        info = show_info(self.sock)
        check_eq(info_int(info, "Pid"), self.cur.pid, f"{what}: `show info` Pid")
        check_eq(info_int(info, "Generation"), self.gen, f"{what}: `show info` Generation")
        check_eq(info_int(info, "Stopping"), 0, f"{what}: `show info` Stopping")
        reload_lib.fresh_requests(http_port, n_http, what)
        for i in range(n_l4):
            reload_lib.echo_roundtrip(l4_port, f"{what}: L4 echo {i}")


def check_loops(loops, what, min_new=10):
    out = [check_loop(lp, f"{what} ({lp.name} client)", min_new) for lp in loops]
    return out[0]


def check_loop(loop, what, min_new=10):
    """The keep-alive client made progress since the last look and has no error."""
    before = loop.snapshot()[0]
    eslib.poll_until(lambda: loop.snapshot()[0] >= before + min_new or loop.snapshot()[2], 5,
                     what=f"{what}: {min_new} more requests from the keep-alive client")
    n, closes, errs = loop.snapshot()
    check(not errs, f"{what}: the keep-alive client saw {len(errs)} error(s): {errs[:5]}")
    return n, closes


def main(h):
    origin = http_origin.start(h, name="s1")
    echo = h.echo_server(name="echo")
    p1, p2, p3, p4 = (eslib.free_port() for _ in range(4))
    sock = h.sock_path()

    def cfg(nbthread=1, binds=(p1,), fe_extra=""):
        return config(sock, nbthread, binds, p2, origin.port, echo.port, fe_extra)

    base = h.write("base.cfg", cfg())
    es = h.edgeshard(None, files=[base], ports=[p1, p2], sock=sock, name="gen1")
    info = show_info(sock)
    check_eq(info_int(info, "Generation"), 1, "`show info` Generation of the first process")
    check_eq(info_int(info, "Stopping"), 0, "`show info` Stopping of the first process")
    chain = Chain(h, sock, es, 1)
    loop = reload_lib.LoopClient(p1, name="ka")
    fresh = reload_lib.LoopClient(p1, name="fresh", close=True)
    loops = [loop, fresh]
    check_loops(loops, "before any reload", min_new=20)

    # ---- A. unchanged config (the same file)
    _, closes0 = check_loops(loops, "A")
    chain.reload([base], [p1, p2], "A (unchanged config)")
    n, closes = check_loops(loops, "A, after the old process exited", min_new=20)
    check(closes > closes0, "A: the keep-alive client's connection to the old process should have "
                            "been answered with `Connection: close` (no response carried it)")
    chain.still_serving("A", p1, p2)
    log(f"A: ok; keep-alive client: {n} requests, {closes} `Connection: close` so far, no error")

    # ---- B. added bind
    chain.reload([h.write("added.cfg", cfg(binds=(p1, p3)))], [p1, p2, p3], "B (added bind)")
    reload_lib.fresh_requests(p3, 10, "B: the added port")
    chain.still_serving("B", p1, p2)
    check_loops(loops, "B")
    log("B: the added bind serves")

    # ---- C. removed bind
    chain.reload([h.write("removed.cfg", cfg())], [p1, p2], "C (removed bind)")
    eslib.poll_until(lambda: not eslib.is_listening(p3), 3, what=f"port {p3} to stop listening")
    check(reload_lib.connect_refused(p3), f"C: port {p3} (bind removed) still accepts connections "
                                          f"after the old process exited")
    chain.still_serving("C", p1, p2)
    check_loops(loops, "C")
    log("C: the removed bind refuses connections")

    # ---- D. more shards, E. fewer shards
    for what, nb in (("D (nbthread 1 -> 2)", 2), ("E (nbthread 2 -> 1)", 1)):
        chain.reload([h.write(f"nbthread{nb}.cfg", cfg(nbthread=nb))], [p1, p2], what)
        info = show_info(sock)
        check_eq(info_int(info, "Nbthread"), nb, f"{what}: `show info` Nbthread")
        # spread over many source ports, so both sockets of a SO_REUSEPORT group get some
        chain.still_serving(what, p1, p2, n_http=64, n_l4=16)
        check_loops(loops, what)
        log(f"{what}: 64 HTTP and 16 L4 new connections answered")

    # ---- F. broken config: the takeover fails before touching anything
    text = cfg(fe_extra="no-such-keyword 42")
    bad = h.write("broken.cfg", text)
    lineno = text.splitlines().index("    no-such-keyword 42") + 1
    rc, err = reload_lib.reload_fails(h, chain.cur, [bad], sock, "broken")
    check(f"broken.cfg:{lineno}" in err, f"F: the error should name broken.cfg:{lineno}; stderr: {err[-1000:]!r}")
    chain.still_serving("F (after a broken config)", p1, p2)
    check_loops(loops, "F")
    log(f"F: broken config refused with status {rc}, old process untouched")

    # ---- G. a new bind whose port is held by another socket (no SO_REUSEPORT)
    hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        hold.bind((L, p4))
        hold.listen(8)
        rc, err = reload_lib.reload_fails(h, chain.cur, [h.write("held.cfg", cfg(binds=(p1, p4)))], sock,
                                          "held-port")
        check(str(p4) in err, f"G: the error should name the port {p4} it cannot bind; stderr: {err[-1000:]!r}")
    finally:
        hold.close()
    chain.still_serving("G (after a bind failure)", p1, p2, n_http=50)
    check_loops(loops, "G")
    log(f"G: takeover with an unbindable port exited {rc}; the old process keeps accepting")

    # ---- H. a new process that dies before committing
    hc = reload_lib.HandoffClient(sock)
    try:
        hc.run()
        check_eq(hc.header["pid"], chain.cur.pid, "H: pid in the handoff header")
        check_eq(hc.header["gen"], chain.gen, "H: gen in the handoff header")
        fds = hc.describe_fds()
        log(f"H: handoff header {hc.header}, listeners {hc.listeners}, descriptors (port, listening) "
            f"{fds}, state {len(hc.state)} bytes")
        check(all(acc for _, acc in fds), f"H: every received descriptor should be a listening socket: {fds}")
        for (seq, shard, bind_id, addr), (port, _) in zip(hc.listeners, fds):
            check(addr.endswith(f":{port}"), f"H: listener line {seq} says {addr!r} but its descriptor "
                                             f"is bound to port {port}")
        ports = {port for port, _ in fds}
        check({p1, p2} <= ports, f"H: the handoff should carry the sockets of ports {p1} and {p2}; got {ports}")
        check(p3 not in ports and p4 not in ports, f"H: sockets of removed/failed binds handed over: {ports}")
    finally:
        hc.abort()
    eslib.poll_until(lambda: chain.cur.running() and show_info(sock).get("Stopping") == "0", 3,
                     what="H: the old process to be running and not stopping after the aborted handoff")
    chain.still_serving("H (after an aborted handoff)", p1, p2, n_http=50)
    check_loops(loops, "H")
    log("H: aborted handoff: the old process still accepts (50 new connections answered)")
    # more aborted handoffs than the control socket has client slots: each must be forgotten, and
    # the old process must not spin on the connections they leave behind
    for _ in range(70):
        extra = reload_lib.HandoffClient(sock)
        try:
            extra.run()
        finally:
            extra.abort()
    def cpu_ticks(pid):
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return int(parts[11]) + int(parts[12])
    t0 = cpu_ticks(chain.cur.pid)
    time.sleep(1.0)
    used = (cpu_ticks(chain.cur.pid) - t0) / os.sysconf("SC_CLK_TCK")
    check(used < 0.5, f"H: the old process used {used:.2f}s of CPU in 1s after 70 aborted handoffs (spinning?)")
    check_eq(show_info(sock).get("Stopping"), "0", "H: the control socket still answers after 70 aborted handoffs")
    log(f"H: 70 more aborted handoffs: control socket answers, {used:.2f}s CPU in the following second")

    # ---- the old process can still hand over after all the failures
    chain.reload([base], [p1, p2], "last reload (after failed attempts)", strict_gen=False)
    chain.still_serving("last reload", p1, p2)
    check_loops(loops, "last reload")
    for lp in loops:
        lp.stop()
    n, closes, errs = loop.snapshot()
    check(not errs, f"keep-alive client errors: {errs[:5]}")
    nf, _, errs = fresh.snapshot()
    check(not errs, f"new-connection client errors: {errs[:5]}")
    check(not origin.errors, f"origin errors: {origin.errors[:5]}")
    log(f"across {chain.n - 1} reloads and 3 failed attempts: keep-alive client {n} requests, {closes} "
        f"reconnects on `Connection: close`; new-connection client {nf} requests; 0 errors")


if __name__ == "__main__":
    eslib.run(main)
