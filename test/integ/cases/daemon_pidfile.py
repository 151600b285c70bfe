#!/usr/bin/env python3
"""`-D -p PIDFILE`, as Debian's HAProxy init script starts it (`start-stop-daemon ... -- -f CONFIG -D -p
PIDFILE`); the same command line runs HAProxy with ES_TEST_PEER=haproxy:
  - the command returns 0 once the detached process serves; the PID file holds that process's PID, which
    answers requests and is not the command's child any more (its own session);
  - SIGTERM to that PID stops it (the port is free again);
  - a start whose listener cannot be opened (an address this host does not have) fails: the command returns
    non-zero and says why on stderr.
The detached process is stopped by the PID in its file whatever happens.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def main(h):
    port = eslib.free_port()
    cfg = h.write("d.cfg", eslib.http_global(None, nbthread=1) + eslib.http_defaults() + eslib.section("frontend fe", f"""
        bind {L}:{port}
        http-request return status 200 content-type text/plain string "daemon-ok" """))
    pidfile = h.path("d.pid")
    binary = os.environ["EDGESHARD_BIN"]
    pid = None
    try:
        r = subprocess.run([binary, "-f", cfg, "-D", "-p", pidfile], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        check_eq(r.returncode, 0, f"-D returns 0 once the process serves (stderr: {r.stderr!r})")
        check(os.path.exists(pidfile) and open(pidfile).read().strip(), "the PID file is there when -D returns")
        pid = int(open(pidfile).read().split()[0])
        check(eslib.pid_alive(pid), f"the PID in the file ({pid}) runs")
        check(os.getsid(pid) != os.getsid(0), "the daemon has its own session")
        got = eslib.http_get(port, "/", timeout=5)
        check_eq((got.status, got.body), (200, b"daemon-ok"), "the daemon serves")

        bad = h.write("bad.cfg", eslib.http_global(None, nbthread=1) + eslib.http_defaults() + eslib.section(
            "frontend fe", f"""
            bind 192.0.2.1:{port}
            http-request return status 200"""))
        r2 = subprocess.run([binary, "-f", bad, "-D", "-p", h.path("d2.pid")], capture_output=True, text=True,
                            timeout=30, stdin=subprocess.DEVNULL)
        check(r2.returncode != 0, f"a daemon that cannot bind fails (rc={r2.returncode})")
        check("192.0.2.1" in r2.stderr and "ssign requested address" in r2.stderr, f"it says why: {r2.stderr!r}")

        os.kill(pid, signal.SIGTERM)
        eslib.poll_until(lambda: not eslib.pid_alive(pid), 10, what=f"PID {pid} to exit on SIGTERM")
        pid = None
        eslib.poll_until(lambda: not eslib.is_listening(port), 5, what="the port to close")
        log(f"-D -p: returned 0, served, stopped by its PID; a start that cannot bind failed (rc={r2.returncode})")
    finally:
        if pid is not None and eslib.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        p2 = h.path("d2.pid")
        if os.path.exists(p2):
            try:
                other = int(open(p2).read().split()[0])
                if eslib.pid_alive(other):
                    os.kill(other, signal.SIGKILL)
            except (ValueError, IndexError):
                pass
        time.sleep(0)


if __name__ == "__main__":
    eslib.run_http(main)
