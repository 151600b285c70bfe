#!/usr/bin/env python3
"""Reloads under TLS load, nothing lost: an HTTPS frontend (`bind ... ssl crt`) and a mode tcp frontend
terminating TLS in front of the same origin, for about 8 s:
  - wrk -t1 -c16 keep-alive over TLS, and wrk -t1 -c8 with `Connection: close` (a TLS handshake per
    request, most of them resumed with the tickets every generation shares);
  - the same two loads (-c8 and -c4) on the mode tcp frontend (an L4 session per connection: the old
    generation keeps relaying the ones it has while the new one takes the new ones);
  - 5 reloads (`edgeshard -f CFG -x SOCK -sf PID`), alternating nbthread 2 and 1.
Then: neither wrk run reports socket errors (connect/read/write/timeout) or non-2xx responses; every
old process exited 0; the last generation serves; `show info` of the last generation counts resumed
handshakes (the carried ticket keys at work)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import reload_lib  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
RELOADS = 5
DURATION = 8


def config(sock, nbthread, port, port_tcp, origin_port, cert):
    return (eslib.http_global(sock, nbthread=nbthread, maxconn=4000, extra="hard-stop-after 30s")
            + eslib.http_defaults(client="30s", server="30s")
            + eslib.section("frontend fe", f"bind {L}:{port} ssl crt {cert} alpn http/1.1\ndefault_backend be")
            + eslib.section("backend be", f"server o1 {L}:{origin_port}")
            + eslib.section("frontend fe_tcp", f"mode tcp\nbind {L}:{port_tcp} ssl crt {cert}\ndefault_backend be_tcp")
            + eslib.section("backend be_tcp", f"mode tcp\nserver o1 {L}:{origin_port}"))


def main(h):
    wrk = eslib.require_tool("wrk")
    cert = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
    origin_port = eslib.free_port()
    h.spawn([sys.executable, os.path.abspath(reload_lib.__file__), "origin", str(origin_port)], "origin")
    eslib.wait_listening([origin_port], 10)
    port, port_tcp = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    cfgs = {nb: h.write(f"nbthread{nb}.cfg", config(sock, nb, port, port_tcp, origin_port, cert)) for nb in (1, 2)}
    es = h.edgeshard(None, files=[cfgs[2]], ports=[port, port_tcp], sock=sock, name="gen1")

    url = f"https://{L}:{port}/"
    common = ["-t1", f"-d{DURATION}s", "--timeout", "5s"]
    t0 = time.monotonic()
    wrk_ka = h.spawn([wrk, "-c16"] + common + [url], "wrk-keepalive")
    wrk_close = h.spawn([wrk, "-c8"] + common + ["-H", "Connection: close", url], "wrk-close")
    url_tcp = f"https://{L}:{port_tcp}/"
    wrk_tcp_ka = h.spawn([wrk, "-c8"] + common + [url_tcp], "wrk-tcp-keepalive")
    wrk_tcp_close = h.spawn([wrk, "-c4"] + common + ["-H", "Connection: close", url_tcp], "wrk-tcp-close")
    olds = []
    for i in range(1, RELOADS + 1):
        due = t0 + 0.8 + (i - 1) * (DURATION - 2.0) / (RELOADS - 1)
        time.sleep(max(0.0, due - time.monotonic()))
        prev = es
        es, g = reload_lib.reload(h, prev, [cfgs[1 if i % 2 else 2]], sock, f"gen{i + 1}", timeout=10)
        check_eq(g, i + 1, f"generation printed by reload {i}")
        olds.append(prev)
    results = {}
    for name, p in (("keep-alive", wrk_ka), ("close", wrk_close), ("mode tcp keep-alive", wrk_tcp_ka),
                    ("mode tcp close", wrk_tcp_close)):
        rc = p.wait(DURATION + 15)
        check(rc is not None, f"wrk {name} did not finish in time")
        check_eq(rc, 0, f"wrk {name} exit status (stderr {p.stderr_text()!r})")
        results[name] = r = reload_lib.parse_wrk(p.stdout_text())
        log(f"wrk {name} over TLS: {r['requests']} requests, socket errors connect {r['connect']} read "
            f"{r['read']} write {r['write']} timeout {r['timeout']}, non-2xx {r['non2xx']}")
    for name, r in results.items():
        check(not r["socket_errors_line"], f"wrk {name} reported socket errors across {RELOADS} reloads: {r}")
        check_eq(r["non2xx"], 0, f"wrk {name}: non-2xx responses")
        check(r["requests"] > 0, f"wrk {name} completed no request")
    for p in olds:
        check_eq(reload_lib.wait_exit(p, 15, f"old process {p.name}"), 0, f"exit status of {p.name}")
    info = reload_lib.show_info(sock)
    check_eq(reload_lib.info_int(info, "Generation"), RELOADS + 1, "`show info` Generation after the reloads")
    ok, _ = tls_lib.session(h, port)
    check_eq(ok, "New", "a TLS request to the last generation")
    log(f"{RELOADS} reloads under TLS load: {sum(r['requests'] for r in results.values())} requests, 0 errors; "
        f"the last generation's handshakes {info.get('SslHandshakes')}, resumed {info.get('SslResumed')}")


if __name__ == "__main__":
    eslib.run(main)
