#!/usr/bin/env python3
"""Connect failures are retried `retries` times; with `option redispatch` the last retry goes to
another server, so a backend with one dead and one live server serves every client. A backend
whose only server is dead closes the client after the retries, and counts econ."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

N = 6
CONNECT_TIMEOUT = 0.5
RETRIES = 2


def echo_once(port, i, res):
    t0 = time.monotonic()
    try:
        s = eslib.connect(port, timeout=10)
        msg = f"hello {i} ".encode() * 100
        s.sendall(msg)
        got = eslib.recv_exact(s, len(msg), timeout=8, what=f"echo {i}")
        s.close()
        res[i] = None if got == msg else f"conn {i}: echo differs"
    except Exception as e:
        res[i] = f"conn {i}: {e}"
    res[f"t{i}"] = time.monotonic() - t0


def main(h):
    fe_rd, fe_dead = eslib.free_port(), eslib.free_port()
    dead1, dead2 = eslib.free_port(), eslib.free_port()   # nothing listens there
    sock = h.sock_path()
    echo = h.echo_server()
    cfg = (eslib.global_section(sock, nbthread=2)
           + eslib.defaults_section(connect="500ms", client="10s", server="10s")
           + eslib.simple_proxy(fe_rd, [("s1", dead1, ""), ("s2", echo.port, "")],
                                fe="fe_rd", be="be_rd", balance="roundrobin",
                                be_extra=f"retries {RETRIES}\noption redispatch")
           + eslib.simple_proxy(fe_dead, [("d1", dead2, "")], fe="fe_dead", be="be_dead",
                                be_extra=f"retries {RETRIES}"))
    es = h.edgeshard(cfg, ports=[fe_rd, fe_dead], sock=sock)
    check(not eslib.is_listening(dead1) and not eslib.is_listening(dead2),
          "a 'dead' server port is in use by something; cannot run")

    # ---- one dead + one live server, redispatch: every client is served
    res = {}
    threads = [threading.Thread(target=echo_once, args=(fe_rd, i, res), daemon=True) for i in range(N)]
    for t in threads:
        t.start()
    dl = eslib.Deadline(30)
    for t in threads:
        t.join(dl.left())
    check(all(not t.is_alive() for t in threads), "clients did not finish within 30 s")
    fails = [res.get(i, f"conn {i}: no result") for i in range(N) if res.get(i, "x") is not None]
    check(not fails, f"with option redispatch every connection should be served: {fails}")
    log("all redispatch clients served; times " + ", ".join(f"{res[f't{i}']:.2f}" for i in range(N)))
    check_eq(echo.accepts, N, "connections that reached the live server")

    es.wait_stat("fe_rd", "FRONTEND", "scur", lambda v: v == 0, timeout=5, what="fe_rd scur == 0")
    m = es.stats()
    b = m.get(("be_rd", "BACKEND"))
    check(b is not None, "no be_rd BACKEND row")
    log(f"be_rd: wretr={b.get('wretr')} wredis={b.get('wredis')} econ={b.get('econ')} stot={b.get('stot')}")
    check(eslib.num(b.get("wretr")) >= 1, f"be_rd wretr should be >= 1 (got {b.get('wretr')!r})")
    check(eslib.num(b.get("wredis")) >= 1, f"be_rd wredis should be >= 1 (got {b.get('wredis')!r})")
    check_eq(eslib.num(b.get("econ")), 0, "be_rd econ (every session finally connected)")
    check_eq(eslib.num(m[("be_rd", "s2")].get("stot")), N, "be_rd/s2 stot (all sessions ended there)")
    check_eq(eslib.num(m[("be_rd", "s1")].get("stot")), 0, "be_rd/s1 stot (never connected)")
    check_eq(eslib.num(m[("fe_rd", "FRONTEND")].get("stot")), N, "fe_rd stot")

    # ---- only a dead server: the client is closed after the retries
    # attempts = 1 + RETRIES on the same server, each retry after min(timeout connect, 1s)
    min_t = RETRIES * min(CONNECT_TIMEOUT, 1.0) * 0.8
    max_t = (1 + RETRIES) * CONNECT_TIMEOUT + RETRIES * 1.0 + 2.0
    econ_before = es.stat("be_dead", "BACKEND", "econ")
    wretr_before = es.stat("be_dead", "BACKEND", "wretr")
    for k in range(2):
        s = eslib.connect(fe_dead, timeout=5)
        s.sendall(b"anyone there?\n")
        how, data, secs = eslib.wait_eof(s, max_t + 3)
        s.close()
        check(how in ("eof", "reset"), f"dead backend: client connection should be closed, got "
                                       f"{how} after {secs:.2f}s")
        check(not data, f"dead backend: client received {len(data)} unexpected bytes")
        eslib.check_range(secs, min_t, max_t, f"dead backend: seconds until the client was closed "
                          f"(retries {RETRIES}, timeout connect {CONNECT_TIMEOUT}s)")
        m = es.wait_stat("be_dead", "BACKEND", "econ", lambda v, k=k: v >= econ_before + k + 1,
                         timeout=3, what=f"be_dead econ to count failure {k + 1}")
        b = m[("be_dead", "BACKEND")]
        log(f"dead backend attempt {k}: closed ({how}) after {secs:.2f}s; econ={b.get('econ')} "
            f"wretr={b.get('wretr')}")
    wretr = es.stat("be_dead", "BACKEND", "wretr")
    check(wretr - wretr_before >= 2 * RETRIES,
          f"be_dead wretr should grow by retries ({RETRIES}) per failed session: "
          f"{wretr_before} -> {wretr}")
    check_eq(es.stat("be_dead", "BACKEND", "econ") - econ_before, 2,
             "be_dead econ increase for 2 failed sessions")


if __name__ == "__main__":
    eslib.run(main)
