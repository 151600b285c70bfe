#!/usr/bin/env python3
"""SIGTERM and SIGINT with 20 sessions open: the process exits 0 within 5 s (not killed by a
signal, no core file), the open client connections are closed, and the port stops listening."""
import glob
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

N = 20


def run_signal(h, sig):
    label = signal.Signals(sig).name
    px = fixture.proxy_to_origin(h, "tcp", origin_opts={"name": f"echo-{label}"}, server_name="echo",
                                 client="60s", server="60s", sock=f"{label}.sock", name=f"edgeshard-{label}",
                                 peer=False)
    fe, sock, es = px.fe, px.sock, px.proxy
    conns = []
    try:
        for i in range(N):
            s = eslib.connect(fe, timeout=5)
            msg = f"{label} {i}\n".encode()
            s.sendall(msg)
            check(eslib.recv_exact(s, len(msg), timeout=5, what=f"echo {i}") == msg, f"echo {i} differs")
            conns.append(s)
        es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == N, timeout=5, what=f"scur == {N}")

        t0 = time.monotonic()
        es.send_signal(sig)
        rc = es.wait(5)
        took = time.monotonic() - t0
        check(rc is not None, f"{label}: edgeshard did not exit within 5 s with {N} sessions open\n"
                              f"stderr tail:\n{es.tail(20)}")
        check(rc >= 0, f"{label}: edgeshard was killed by signal {-rc} "
                       f"({signal.Signals(-rc).name if -rc in signal.valid_signals() else '?'})")
        check_eq(rc, 0, f"{label}: exit status")
        log(f"{label}: exited 0 in {took:.2f}s with {N} sessions open")
        cores = glob.glob(os.path.join(h.tmpdir, "core*"))
        check(not cores, f"{label}: core files in the working directory: {cores}")
        for line in es.stderr_text().splitlines():
            low = line.lower()
            check(not any(w in low for w in ("sanitizer", "segmentation fault", "assertion failed", "core dumped")),
                  f"{label}: suspicious line in stderr: {line!r}")

        # the clients see their connections end
        for i, s in enumerate(conns):
            how, data, secs = eslib.wait_eof(s, 3)
            check(how in ("eof", "reset"), f"{label}: client {i} still open {secs:.1f}s after exit")
        check(not eslib.is_listening(fe), f"{label}: port {fe} still listening after exit")
        check(not os.path.exists(sock), f"{label}: control socket {sock} left behind")
    finally:
        for s in conns:
            s.close()


def main(h):
    run_signal(h, signal.SIGTERM)
    run_signal(h, signal.SIGINT)


if __name__ == "__main__":
    eslib.run(main)
