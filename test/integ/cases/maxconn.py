#!/usr/bin/env python3
"""maxconn (frontend, then global) with one shard is exact: 5 sessions are served, the 6th
connects at TCP level (kernel backlog) but is not served until one of the 5 closes; the listener
never refuses (a 7th connect() succeeds too) and smax never exceeds the limit."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

LIMIT = 5


def echo_ok(s, tag, timeout):
    msg = f"echo {tag}\n".encode()
    s.sendall(msg)
    got = eslib.recv_exact(s, len(msg), timeout=timeout, what=f"echo of {tag}")
    check(got == msg, f"echo of {tag} differs")


def run_limit(h, label, global_maxconn, fe_maxconn):
    px = fixture.proxy_to_origin(h, "tcp", server_name="echo", nbthread=1, maxconn=global_maxconn,
                                 fe_lines=f"maxconn {fe_maxconn}" if fe_maxconn else "",
                                 client="30s", server="30s", sock=f"{label}.sock", name=f"edgeshard-{label}",
                                 peer=False)
    echo, fe, es = px.origin, px.fe, px.proxy

    held = []
    try:
        for i in range(LIMIT):
            s = eslib.connect(fe, timeout=5)
            echo_ok(s, f"{label} held {i}", 3)
            held.append(s)
        log(f"[{label}] {LIMIT} held connections echo")

        # the 6th: TCP connect succeeds (backlog), but no session yet
        s6 = eslib.connect(fe, timeout=5)
        msg6 = f"{label} sixth\n".encode()
        s6.sendall(msg6)
        quiet = eslib.nothing_arrives(s6, 1.0)
        check(quiet, f"[{label}] the connection beyond maxconn {LIMIT} was served (or closed) "
                     f"while {LIMIT} sessions were open")
        check_eq(echo.accepts, LIMIT, f"[{label}] connections at the server while over the limit")

        # the 7th: the listener does not refuse either
        try:
            s7 = eslib.connect(fe, timeout=3)
        except OSError as e:
            raise eslib.Failure(f"[{label}] connect() beyond maxconn was refused: {e!r} "
                                f"(the listener must stay open; the connection waits in the backlog)")
        msg7 = f"{label} seventh\n".encode()
        s7.sendall(msg7)
        m = es.stats()
        f = m[("fe", "FRONTEND")]
        check_eq(eslib.num(f.get("scur")), LIMIT, f"[{label}] frontend scur at the limit")

        # close one held connection: the 6th is served (not the 7th yet)
        t0 = time.monotonic()
        held.pop(0).close()
        got = eslib.recv_exact(s6, len(msg6), timeout=2.0, what=f"[{label}] sixth's echo after a slot freed")
        check(got == msg6, f"[{label}] the sixth's echo differs")
        log(f"[{label}] sixth served {time.monotonic() - t0:.3f}s after a slot freed")
        held.append(s6)
        check(eslib.nothing_arrives(s7, 0.5), f"[{label}] the seventh was served while {LIMIT} "
                                              f"sessions were open")
        held.pop(0).close()
        got = eslib.recv_exact(s7, len(msg7), timeout=2.0, what=f"[{label}] seventh's echo")
        check(got == msg7, f"[{label}] the seventh's echo differs")
        held.append(s7)

        # still served normally, still at the limit
        for i, s in enumerate(held):
            echo_ok(s, f"{label} again {i}", 3)
        f = es.stats()[("fe", "FRONTEND")]
        check(eslib.num(f.get("smax")) <= LIMIT, f"[{label}] frontend smax {f.get('smax')} exceeds "
                                                 f"maxconn {LIMIT}")
        check(echo.peak <= LIMIT, f"[{label}] the server saw {echo.peak} concurrent connections, "
                                  f"more than maxconn {LIMIT}")
        if fe_maxconn:
            slim = f.get("slim")
            check(eslib.num(slim) == LIMIT, f"[{label}] frontend slim should be {LIMIT}, got {slim!r}")
    finally:
        for s in held:
            s.close()
    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=5, what="scur == 0")
    es.expect_counters("fe", "FRONTEND", {"stot": LIMIT + 2}, what=f"[{label}] all 7 were served")
    es.stop()
    check_eq(es.returncode, 0, f"[{label}] exit status after SIGTERM")


def main(h):
    run_limit(h, "frontend", global_maxconn=1000, fe_maxconn=LIMIT)
    run_limit(h, "global", global_maxconn=LIMIT, fe_maxconn=0)


if __name__ == "__main__":
    eslib.run(main)
