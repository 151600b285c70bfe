#!/usr/bin/env python3
"""`edgeshard` with no arguments runs the embedded default: 127.0.0.1:8080 (TCP) and 127.0.0.1:8082 (HTTP) -> the built-in demo
origin on 127.0.0.1:8081, control socket /tmp/edgeshard.sock. This is the one test on fixed
ports (they are the contract); it is skipped when they are busy."""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import Skip, check, check_eq, log  # noqa: E402

SOCK = "/tmp/edgeshard.sock"


def sock_in_use(path):
    if not os.path.exists(path):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(path)
        return True
    except OSError:
        return False   # a stale file nobody listens on
    finally:
        s.close()


def main(h):
    busy = [f"127.0.0.1:{p}" for p in (8080, 8081, 8082) if not eslib.port_is_free(p)]
    if sock_in_use(SOCK):
        busy.append(SOCK)
    if busy:
        raise Skip(f"the embedded default needs these, which are in use: {', '.join(busy)}")
    if os.path.exists(SOCK):
        log(f"note: {SOCK} exists but nobody listens on it (stale); edgeshard should replace it")

    es = eslib.Edgeshard(h, [h.bin], "edgeshard-default", sock=SOCK, ports=[8080, 8081, 8082])
    h.procs.append(es)
    es.wait_ready()
    log("default instance ready")

    r = h.run_cmd(["curl", "-sS", "--max-time", "5", "-o", h.path("body"), "-w", "%{http_code}",
                   "http://127.0.0.1:8080/"], timeout=15)
    check_eq(r.returncode, 0, f"curl exit status (stderr {r.stderr.strip()!r})")
    check_eq(r.stdout.strip(), "200", "HTTP status through the default frontend")
    with open(h.path("body"), "rb") as f:
        body = f.read().decode("utf-8", "replace")
    check("edgeshard demo origin" in body, f"body should contain 'edgeshard demo origin': {body[:300]!r}")

    # the HTTP frontend: proxied request, then its stats page and Prometheus metrics
    r = h.run_cmd(["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", "http://127.0.0.1:8082/"], timeout=15)
    check(r.stdout.strip().endswith("200") and "edgeshard demo origin" in r.stdout,
          f"HTTP frontend on 8082 proxies to the demo origin: {r.stdout[:300]!r}")
    r = h.run_cmd(["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code} %{content_type}",
                   "http://127.0.0.1:8082/stats"], timeout=15)
    check("200 text/html" in r.stdout and "demo_http" in r.stdout, f"stats page on 8082: {r.stdout[-300:]!r}")
    r = h.run_cmd(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:8082/metrics"], timeout=15)
    check('haproxy_frontend_http_requests_total{proxy="demo_http"}' in r.stdout,
          f"metrics on 8082 carry the HTTP frontend's requests: {r.stdout[:300]!r}")

    # the origin itself answers directly too
    r = h.run_cmd(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:8081/"], timeout=15)
    check("edgeshard demo origin" in r.stdout, f"demo origin on 8081 answers directly: {r.stdout[:200]!r}")

    r = h.run_cmd([h.ctl_bin, "-s", SOCK, "show", "info"], timeout=10)
    check_eq(r.returncode, 0, f"edgeshardctl -s {SOCK} show info (stderr {r.stderr.strip()!r})")
    check(str(es.pid) in r.stdout, f"`show info` should report Pid {es.pid}: {r.stdout[:300]!r}")
    # without -s, edgeshardctl uses the same default socket
    env = {k: v for k, v in os.environ.items() if k != "EDGESHARD_SOCKET"}
    r = h.run_cmd([h.ctl_bin, "show", "info"], timeout=10, env=env)
    check_eq(r.returncode, 0, f"edgeshardctl show info with the default socket (stderr {r.stderr.strip()!r})")
    check(str(es.pid) in r.stdout, f"default-socket `show info` should report Pid {es.pid}: {r.stdout[:300]!r}")
    m = es.stats()
    fronts = [k for k in m if k[1] == "FRONTEND"]
    check(fronts, f"`show stat json` shows no frontend: {sorted(m)}")
    check(any(eslib.num(m[k].get("stot")) >= 1 for k in fronts),
          f"a frontend should have counted the curl session: {[(k, m[k].get('stot')) for k in fronts]}")

    es.send_signal(signal.SIGTERM)
    rc = es.wait(5)
    check(rc is not None, "edgeshard did not exit within 5 s of SIGTERM")
    check_eq(rc, 0, "exit status after SIGTERM")
    check(not os.path.exists(SOCK), f"{SOCK} should be removed at exit")
    check(all(eslib.port_is_free(p) for p in (8080, 8081, 8082)), "ports 8080/8081/8082 still bound after exit")


if __name__ == "__main__":
    eslib.run(main)
