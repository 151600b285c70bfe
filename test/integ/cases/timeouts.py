#!/usr/bin/env python3
"""Idle timeouts close sessions, activity keeps them alive, and `timeout tunnel` replaces the
client/server timeouts once connected. The cases run concurrently on four frontends:
  client: `timeout client 1s`, client sends nothing, server silent      -> closed in 1..3 s
  server: `timeout server 1s`, client sends once, server never answers  -> closed in 1..3 s
  active: both 1 s, an echo every 300 ms for 2.5 s                      -> alive, then closed
  tunnel: client/server 1 s, `timeout tunnel 3s`: idle 1.5 s still alive, closed after ~3 s
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eslib  # noqa: E402
from eslib import Failure, check, log  # noqa: E402

SLACK_LO = 0.8   # fraction of a timeout before which a close is too early
SLACK_HI = 2.0   # seconds after a timeout by which the close must have happened


def silent_handler(c, idx, srv):
    """Reads and discards, never sends; records when the proxy closed the server side."""
    t0 = time.monotonic()
    how, data, secs = eslib.wait_eof(c, 20)
    with srv.lock:
        srv.results[idx] = (how, len(data), t0, time.monotonic())


def case_client_idle(port, out):
    s = eslib.connect(port, timeout=5)
    how, data, secs = eslib.wait_eof(s, 1.0 + SLACK_HI + 3)
    s.close()
    out["client"] = (how, data, secs, time.monotonic())


def case_server_idle(port, out):
    s = eslib.connect(port, timeout=5)
    s.sendall(b"ping\n")
    how, data, secs = eslib.wait_eof(s, 1.0 + SLACK_HI + 3)
    s.close()
    out["server"] = (how, data, secs, time.monotonic())


def case_active(port, out):
    s = eslib.connect(port, timeout=5)
    t0 = time.monotonic()
    rounds = 0
    last = t0
    try:
        for i in range(20):
            if i:
                # the pause between messages is the point of the case (activity every 300 ms)
                time.sleep(0.3)
            msg = f"tick {i:04d}\n".encode()
            s.sendall(msg)
            got = eslib.recv_exact(s, len(msg), timeout=1.0, what=f"echo of tick {i}")
            if got != msg:
                raise Failure(f"active: echo {i} differs")
            rounds += 1
            last = time.monotonic()
            if last - t0 >= 2.5:
                break
        alive_for = last - t0
        how, data, _ = eslib.wait_eof(s, 1.0 + SLACK_HI + 3)
        out["active"] = (None, rounds, alive_for, how, data, time.monotonic() - last)
    except Failure as e:
        out["active"] = (str(e), rounds, time.monotonic() - t0, None, b"", 0)
    finally:
        s.close()


def case_tunnel_idle(port, out):
    s = eslib.connect(port, timeout=5)
    s.sendall(b"hello\n")
    try:
        eslib.recv_exact(s, 6, timeout=2, what="tunnel echo")
    except Failure as e:
        out["tunnel_idle"] = (f"first echo: {e}", None, b"", 0)
        return
    how, data, secs = eslib.wait_eof(s, 3.0 + SLACK_HI + 3)
    s.close()
    out["tunnel_idle"] = (None, how, data, secs)


def case_tunnel_revive(port, out):
    s = eslib.connect(port, timeout=5)
    try:
        s.sendall(b"hello\n")
        eslib.recv_exact(s, 6, timeout=2, what="tunnel echo")
        quiet = eslib.nothing_arrives(s, 1.5)
        if not quiet:
            out["tunnel_revive"] = "closed (or got data) during 1.5 s of idleness under timeout tunnel 3s"
            return
        s.sendall(b"again\n")
        got = eslib.recv_exact(s, 6, timeout=2, what="echo after 1.5 s idle")
        out["tunnel_revive"] = None if got == b"again\n" else "echo after idle differs"
    except Failure as e:
        out["tunnel_revive"] = str(e)
    finally:
        s.close()


def main(h):
    p_cli, p_srv, p_act, p_tun = (eslib.free_port() for _ in range(4))
    sock = h.sock_path()
    silent_a = h.threaded_server(silent_handler, name="silentA", conn_timeout=30)
    silent_b = h.threaded_server(silent_handler, name="silentB", conn_timeout=30)
    echo = h.echo_server()
    cfg = (eslib.global_section(sock, nbthread=2)
           + eslib.defaults_section(connect="2s", client="10s", server="10s")
           + eslib.simple_proxy(p_cli, [("s", silent_a.port, "")], fe="fe_client", be="be_client",
                                fe_extra="timeout client 1s", be_extra="timeout server 10s")
           + eslib.simple_proxy(p_srv, [("s", silent_b.port, "")], fe="fe_server", be="be_server",
                                fe_extra="timeout client 10s", be_extra="timeout server 1s")
           + eslib.simple_proxy(p_act, [("s", echo.port, "")], fe="fe_active", be="be_active",
                                fe_extra="timeout client 1s", be_extra="timeout server 1s")
           + eslib.simple_proxy(p_tun, [("s", echo.port, "")], fe="fe_tunnel", be="be_tunnel",
                                fe_extra="timeout client 1s",
                                be_extra="timeout server 1s\ntimeout tunnel 3s"))
    es = h.edgeshard(cfg, ports=[p_cli, p_srv, p_act, p_tun], sock=sock)

    out = {}
    cases = [(case_client_idle, p_cli), (case_server_idle, p_srv), (case_active, p_act),
             (case_tunnel_idle, p_tun), (case_tunnel_revive, p_tun)]
    threads = [threading.Thread(target=f, args=(p, out), daemon=True) for f, p in cases]
    for t in threads:
        t.start()
    dl = eslib.Deadline(20)
    for t in threads:
        t.join(dl.left())
    check(all(not t.is_alive() for t in threads), f"timeout cases did not finish in 20 s: {sorted(out)}")

    problems = []

    # client idle
    how, data, secs, _ = out["client"]
    log(f"client idle (timeout client 1s): {how} after {secs:.2f}s")
    if how == "timeout":
        problems.append(f"client idle: session not closed within {secs:.1f}s with timeout client 1s")
    elif not (SLACK_LO <= secs <= 1.0 + SLACK_HI):
        problems.append(f"client idle: closed after {secs:.2f}s, expected 1..3 s")
    # the server side of that session must be closed too
    if silent_a.wait_handlers(5) and silent_a.results:
        show, _, t0, t1 = silent_a.results[0]
        if show == "timeout":
            problems.append("client idle: the server side was never closed")
        log(f"  server side of the idle-client session closed ({show}) {t1 - t0:.2f}s after accept")
    else:
        problems.append("client idle: the silent server did not see its connection end")

    # server silent
    how, data, secs, _ = out["server"]
    log(f"server silent (timeout server 1s): {how} after {secs:.2f}s")
    if how == "timeout":
        problems.append(f"server silent: session not closed within {secs:.1f}s with timeout server 1s")
    elif not (SLACK_LO <= secs <= 1.0 + SLACK_HI):
        problems.append(f"server silent: closed after {secs:.2f}s, expected 1..3 s")
    if silent_b.wait_handlers(5) and silent_b.results:
        show, nbytes, t0, t1 = silent_b.results[0]
        if nbytes != 5:
            problems.append(f"server silent: the server received {nbytes} bytes, expected 5")
        if show == "timeout":
            problems.append("server silent: the server side was never closed")
    else:
        problems.append("server silent: the silent server did not see its connection end")

    # active
    err, rounds, alive_for, how, data, secs = out["active"]
    log(f"active (1 s timeouts, echo every 300 ms): {rounds} rounds over {alive_for:.2f}s, "
        f"then {how} after {secs:.2f}s idle")
    if err:
        problems.append(f"active: the session was disturbed while active: {err} "
                        f"(after {rounds} rounds, {alive_for:.2f}s)")
    else:
        if alive_for < 2.0:
            problems.append(f"active: only {alive_for:.2f}s of activity")
        if how == "timeout":
            problems.append("active: not closed after going idle")
        elif not (SLACK_LO <= secs <= 1.0 + SLACK_HI):
            problems.append(f"active: closed {secs:.2f}s after going idle, expected 1..3 s")

    # tunnel
    err, how, data, secs = out["tunnel_idle"]
    if err:
        problems.append(f"tunnel idle: {err}")
    else:
        log(f"tunnel idle (tunnel 3s, client/server 1s): {how} after {secs:.2f}s")
        if how == "timeout":
            problems.append(f"tunnel idle: not closed within {secs:.1f}s with timeout tunnel 3s")
        elif secs < 3.0 * SLACK_LO:
            problems.append(f"tunnel idle: closed after {secs:.2f}s; timeout tunnel 3s should "
                            f"replace timeout client/server 1s once connected")
        elif secs > 3.0 + SLACK_HI:
            problems.append(f"tunnel idle: closed after {secs:.2f}s, expected about 3 s")
    rv = out["tunnel_revive"]
    if rv is not None:
        problems.append(f"tunnel revive: {rv}")
    else:
        log("tunnel: alive and echoing after 1.5 s idle")

    check(not problems, "; ".join(problems))
    for fe in ("fe_client", "fe_server", "fe_active", "fe_tunnel"):
        es.wait_stat(fe, "FRONTEND", "scur", lambda v: v == 0, timeout=5, what=f"{fe} scur == 0")


if __name__ == "__main__":
    eslib.run(main)
