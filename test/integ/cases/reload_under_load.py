#!/usr/bin/env python3
"""Ten reloads under load, nothing lost. An HTTP frontend and an L4 `listen` section; for about
12 s, at the same time:
  - wrk -t1 -c16 (keep-alive) and wrk -t1 -c8 with `Connection: close` against the HTTP port
    (--timeout 5s: a request unanswered for 5 s counts as an error, not only one lost outright);
  - 4 long L4 streams (24 MiB each, sent at a steady pace through the L4 port to an echo server,
    every echoed byte checked): two start before the first reload, two after the third, so they
    stay open across several reloads and on different generations;
  - 10 reloads (`edgeshard -f CFG -x SOCK -sf PID`, about one a second, each waiting for the new
    process's ready line), alternating nbthread 2 and 1 so sockets join and leave the
    SO_REUSEPORT group.
Then: neither wrk run reports a `Socket errors` line (connect/read/write/timeout) or non-2xx
responses, and both completed requests; every L4 stream is complete and byte-exact; every old
process has exited (status 0); the last generation is 11 and serves."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import reload_lib  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
RELOADS = 10
DURATION = 12        # seconds of wrk
FIRST_RELOAD = 0.8   # seconds after the load starts
STREAM_BYTES = 24 * MiB


def config(sock, nbthread, http_port, l4_port, origin_port, echo_port):
    return (eslib.http_global(sock, nbthread=nbthread, maxconn=4000, extra="""
                hard-stop-after 40s
            """)
            + eslib.http_defaults(client="30s", server="30s")
            + eslib.section("frontend fe", f"bind {L}:{http_port}\ndefault_backend be")
            + eslib.section("backend be", f"server o1 {L}:{origin_port}")
            + eslib.section("listen l4", f"mode tcp\ntimeout client 60s\ntimeout server 60s\n"
                                         f"bind {L}:{l4_port}\nserver echo {L}:{echo_port}"))


def main(h):
    wrk = eslib.require_tool("wrk")
    origin_port = eslib.free_port()
    h.spawn([sys.executable, os.path.abspath(reload_lib.__file__), "origin", str(origin_port)], "origin")
    eslib.wait_listening([origin_port], 10)
    echo = h.echo_server(name="echo")
    p_http, p_l4 = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    cfgs = {nb: h.write(f"nbthread{nb}.cfg", config(sock, nb, p_http, p_l4, origin_port, echo.port))
            for nb in (1, 2)}
    es = h.edgeshard(None, files=[cfgs[2]], ports=[p_http, p_l4], sock=sock, name="gen1")
    check_eq(eslib.http_get(p_http, "/").status, 200, "a request before the load")

    url = f"http://{L}:{p_http}/"
    common = ["-t1", f"-d{DURATION}s", "--timeout", "5s"]
    t0 = time.monotonic()
    wrk_ka = h.spawn([wrk, "-c16"] + common + [url], "wrk-keepalive")
    wrk_close = h.spawn([wrk, "-c8"] + common + ["-H", "Connection: close", url], "wrk-close")
    streams = [reload_lib.PacedStream(p_l4, STREAM_BYTES, DURATION, f"stream{i}") for i in (0, 1)]

    olds = []
    gen = 1
    for i in range(1, RELOADS + 1):
        due = t0 + FIRST_RELOAD + (i - 1) * (DURATION - 2.0) / (RELOADS - 1)
        time.sleep(max(0.0, due - time.monotonic()))
        nb = 1 if i % 2 else 2
        prev = es
        es, g = reload_lib.reload(h, prev, [cfgs[nb]], sock, f"gen{i + 1}", timeout=10)
        check_eq(g, gen + 1, f"generation printed by reload {i}")
        gen = g
        olds.append(prev)
        if i == 3:
            left = DURATION - (time.monotonic() - t0) - 1.0
            streams += [reload_lib.PacedStream(p_l4, STREAM_BYTES, left, f"stream{j}") for j in (2, 3)]
        check(all(p.running() for p in (wrk_ka, wrk_close)), f"a wrk run ended early (after reload {i})")
    t_reloads = time.monotonic() - t0
    log(f"{RELOADS} reloads done in {t_reloads:.1f}s; waiting for the load to end")

    results = {}
    for name, p in (("keep-alive", wrk_ka), ("close", wrk_close)):
        rc = p.wait(DURATION + 15)
        check(rc is not None, f"wrk {name} did not finish in time")
        out = p.stdout_text()
        check_eq(rc, 0, f"wrk {name} exit status (stderr {p.stderr_text()!r})")
        results[name] = reload_lib.parse_wrk(out)
        log(f"wrk {name}:\n{out.rstrip()}")
    for s in streams:
        check(s.join(60), f"{s.name} did not finish within 60 s after the load")

    for name, r in results.items():
        log(f"wrk {name}: {r['requests']} requests, socket errors connect {r['connect']} read {r['read']} "
            f"write {r['write']} timeout {r['timeout']}, non-2xx {r['non2xx']}")
    bad_streams = [s.result for s in streams if s.result is not None]
    log(f"L4 streams: {len(streams) - len(bad_streams)} of {len(streams)} complete and byte-exact "
        f"({STREAM_BYTES // MiB} MiB each)")
    for name, r in results.items():
        check(not r["socket_errors_line"],
              f"wrk {name} reported socket errors across {RELOADS} reloads: connect {r['connect']}, "
              f"read {r['read']}, write {r['write']}, timeout {r['timeout']}")
        check_eq(r["non2xx"], 0, f"wrk {name}: non-2xx responses")
        check(r["requests"] > 0, f"wrk {name} completed no request")
    check(not bad_streams, f"L4 streams failed: {bad_streams}")

    for p in olds:
        rc = reload_lib.wait_exit(p, 15, f"old process {p.name}")
        check_eq(rc, 0, f"exit status of the old process {p.name}")
    info = reload_lib.show_info(sock)
    check_eq(reload_lib.info_int(info, "Pid"), es.pid, "`show info` Pid after the reloads")
    check_eq(reload_lib.info_int(info, "Generation"), RELOADS + 1, "`show info` Generation after the reloads")
    check_eq(eslib.http_get(p_http, "/").status, 200, "a request to the last generation")
    reload_lib.echo_roundtrip(p_l4, "L4 echo through the last generation")
    total = sum(r["requests"] for r in results.values())
    log(f"figures: reloads {RELOADS}, wrk requests {total} (keep-alive {results['keep-alive']['requests']}, "
        f"close {results['close']['requests']}), wrk errors 0, non-2xx 0, L4 streams {len(streams)} intact, "
        f"old processes exited {len(olds)}")


if __name__ == "__main__":
    eslib.run(main)
