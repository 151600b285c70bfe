"""The watchdog: the control shard watches every data shard's loop (`tune.es.watchdog-warn 300ms`,
`tune.es.watchdog-panic 2s`, 2 shards), and `debug dev loop <ms> <shard>` (expert mode) makes a shard run one
turn that long, as a stuck one would:

  - `show threads`: both shards waiting for work, with their thread, CPU and loop counters;
  - the debug command is refused without `expert-mode on` (HAProxy's words);
  - a shard stalled for 800 ms: a warning names it with its state after 300 ms, `show threads` marks it STUCK
    while it lasts, a second line says it runs again; the process keeps serving;
  - a shard stalled past the panic threshold: the process writes a dump (every shard's state, the stuck one
    marked, its backtrace naming the function it is stuck in) to stderr and to a file, then aborts (SIGABRT);
  - the crash handler prints the aborting thread's backtrace too.
"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def main(h):
    if not eslib.on_edgeshard():
        raise eslib.Skip("edgeshard's watchdog over its shards: HAProxy has no `debug dev loop <ms> <shard>`")
    os.environ["TMPDIR"] = h.tmpdir  # the panic dump's place (inherited by the proxy)
    port = eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.global_section(sock, nbthread=2, extra="    tune.es.watchdog-warn 300ms\n"
                                                         "    tune.es.watchdog-panic 2s\n") +
           eslib.defaults_section() +
           eslib.section("frontend fe", f"""
               mode http
               bind {L}:{port}
               http-request return status 200 content-type text/plain string ok""") +
           eslib.section("backend unused", f"""
               server s1 {L}:1"""))
    es = eslib.start_proxy(h, cfg, ports=[port], sock=sock)

    threads = eslib.ctl_raw(sock, "show threads")
    check(len(re.findall(r"^ Shard \d: thread \d+ on CPU \d+, waiting for work; loops=\d+", threads, re.M)) == 2,
          f"show threads: two shards waiting for work: {threads!r}")
    check_eq(eslib.ctl_raw(sock, "debug dev loop 100 1").strip(), "This command is restricted to expert mode only.",
             "the debug command without expert mode")

    # a stall the warning sees, then the shard comes back
    eslib.ctl_raw(sock, "expert-mode on; debug dev loop 800 1")
    eslib.poll_until(lambda: "watchdog: shard 1 has run one loop turn for" in es.stderr_text(), 3,
                     what="the watchdog's warning about shard 1")
    during = eslib.ctl_raw(sock, "show threads")
    check(re.search(r"^>Shard 1 \(STUCK\): thread \d+ on CPU \d+, in a loop turn for \d+ ms", during, re.M),
          f"show threads marks the stuck shard: {during!r}")
    eslib.poll_until(lambda: "watchdog: shard 1 is running again after" in es.stderr_text(), 3,
                     what="the watchdog's note that shard 1 runs again")
    warn = [x for x in es.stderr_text().splitlines() if "has run one loop turn" in x][0]
    check("loops=" in warn and "conns=" in warn and "ring sq=" in warn, f"the warning carries the state: {warn!r}")
    check(es.running(), "the process survives a stall shorter than the panic threshold")
    check_eq(eslib.http_get(port, "/", timeout=5).status, 200, "and serves")

    # past the panic threshold: a dump, then abort
    t0 = time.monotonic()
    eslib.ctl_raw(sock, "expert-mode on; debug dev loop 6000 0")
    rc = es.wait(8)
    took = time.monotonic() - t0
    check_eq(rc, -signal.SIGABRT, f"the process aborted (after {took:.1f} s)")
    check(1.8 < took < 5, f"the panic came at the threshold (2 s), not at the stall's end (6 s): {took:.1f} s")
    err = es.stderr_text()
    check("[ALERT] watchdog: PANIC: shard 0 has run one loop turn for" in err, f"the panic line: {err[-3000:]!r}")
    check(re.search(r"^>shard 0: thread \d+ on CPU \d+, in a loop turn for \d+ ms; loops=", err, re.M) and
          re.search(r"^ shard 1: thread \d+ on CPU \d+, ", err, re.M), "every shard's state, the stuck one marked")
    check(re.search(r"Backtrace of shard 0:\n(.*\n)*.*Worker.*on_message", err),
          f"the stuck shard's backtrace names where it is: {err[-2000:]!r}")
    m = re.search(r"the dump is in (\S+)", err)
    check(m and os.path.exists(m.group(1)), f"the dump file: {m.group(1) if m else None}")
    with open(m.group(1)) as f:
        dump = f.read()
    check("PANIC: shard 0" in dump and "Backtrace of shard 0:" in dump and "on_message" in dump,
          f"the file holds the dump: {dump[:400]!r}")
    log(f"watchdog: warning after 300 ms, STUCK in show threads, panic at {took:.1f} s with a dump of "
        f"{len(dump)} bytes in {m.group(1)}")


if __name__ == "__main__":
    eslib.run_http(main)
