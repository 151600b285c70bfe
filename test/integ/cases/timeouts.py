#!/usr/bin/env python3
"""Idle timeouts close sessions, activity keeps them alive, and `timeout tunnel` replaces the
client/server timeouts once connected. The cases run concurrently on four frontends:
  client: `timeout client 1s`, client sends nothing, server silent      -> closed in 1..3 s
  server: `timeout server 1s`, client sends once, server never answers  -> closed in 1..3 s
  active: both 1 s, an echo every 300 ms for 2.5 s                      -> alive, then closed
  tunnel: client/server 1 s, `timeout tunnel 3s`: idle 1.5 s still alive, closed after ~3 s
  held server: `timeout server 1s`, the server streams 24 MiB to a client that pauses 1.5 s after
          every 4 MiB: the server is held back by the client, not idle -> every byte arrives
  held client: `timeout client 1s`, the client uploads 24 MiB to a server that pauses 1.5 s after
          every 4 MiB: the client is held back by the server, not idle -> every byte arrives
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
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


HELD_TOTAL = 24 << 20
HELD_STEP = 4 << 20
HELD_PAUSE = 1.5


def source_handler(c, idx, srv):
    """Streams HELD_TOTAL bytes as fast as the proxy takes them, then closes."""
    chunk = b"s" * (64 << 10)
    sent = 0
    try:
        while sent < HELD_TOTAL:
            c.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    with srv.lock:
        srv.results[idx] = sent


def paused_sink_handler(c, idx, srv):
    """Reads until EOF, pausing HELD_PAUSE after every HELD_STEP bytes."""
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    got = 0
    mark = HELD_STEP
    try:
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            got += len(b)
            if got >= mark:
                mark += HELD_STEP
                # the pause is the point of the case: it holds the client back through the proxy
                time.sleep(HELD_PAUSE)
    except OSError:
        pass
    with srv.lock:
        srv.results[idx] = got


def case_held_server(port, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    s.settimeout(10)
    got = 0
    mark = HELD_STEP
    t0 = time.monotonic()
    try:
        s.connect((eslib.LOCALHOST, port))
        while time.monotonic() - t0 < 30:
            b = s.recv(1 << 16)
            if not b:
                break
            got += len(b)
            if got >= mark:
                mark += HELD_STEP
                time.sleep(HELD_PAUSE)  # holds the server back through the proxy
    except OSError as e:
        out["held_server"] = (f"{type(e).__name__}: {e}", got, time.monotonic() - t0)
        return
    finally:
        s.close()
    out["held_server"] = (None, got, time.monotonic() - t0)


def case_held_client(port, out):
    s = eslib.connect(port, timeout=10)
    chunk = b"c" * (64 << 10)
    sent = 0
    t0 = time.monotonic()
    try:
        while sent < HELD_TOTAL and time.monotonic() - t0 < 30:
            s.sendall(chunk)
            sent += len(chunk)
        s.shutdown(socket.SHUT_WR)
        how, _, _ = eslib.wait_eof(s, 20)
    except OSError as e:
        out["held_client"] = (f"{type(e).__name__}: {e}", sent, time.monotonic() - t0)
        return
    finally:
        s.close()
    out["held_client"] = (None if how == "eof" else f"ended by {how}", sent, time.monotonic() - t0)


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
    p_cli, p_srv, p_act, p_tun, p_hs, p_hc = (eslib.free_port() for _ in range(6))
    sock = h.sock_path()
    silent_a = h.threaded_server(silent_handler, name="silentA", conn_timeout=30)
    silent_b = h.threaded_server(silent_handler, name="silentB", conn_timeout=30)
    echo = h.echo_server()
    source = h.threaded_server(source_handler, name="source", conn_timeout=40)
    sink = h.threaded_server(paused_sink_handler, name="sink", conn_timeout=40)
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
                                be_extra="timeout server 1s\ntimeout tunnel 3s")
           + eslib.simple_proxy(p_hs, [("s", source.port, "")], fe="fe_held_srv", be="be_held_srv",
                                fe_extra="timeout client 10s", be_extra="timeout server 1s")
           + eslib.simple_proxy(p_hc, [("s", sink.port, "")], fe="fe_held_cli", be="be_held_cli",
                                fe_extra="timeout client 1s", be_extra="timeout server 10s"))
    es = h.edgeshard(cfg, ports=[p_cli, p_srv, p_act, p_tun, p_hs, p_hc], sock=sock)

    out = {}
    cases = [(case_client_idle, p_cli), (case_server_idle, p_srv), (case_active, p_act),
             (case_tunnel_idle, p_tun), (case_tunnel_revive, p_tun), (case_held_server, p_hs),
             (case_held_client, p_hc)]
    threads = [threading.Thread(target=f, args=(p, out), daemon=True) for f, p in cases]
    for t in threads:
        t.start()
    dl = eslib.Deadline(40)
    for t in threads:
        t.join(dl.left())
    check(all(not t.is_alive() for t in threads), f"timeout cases did not finish in 40 s: {sorted(out)}")

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
    # held back, not idle
    err, got, secs = out["held_server"]
    log(f"held server (timeout server 1s, client pausing {HELD_PAUSE}s per {HELD_STEP >> 20} MiB): "
        f"{got} of {HELD_TOTAL} bytes in {secs:.2f}s ({err or 'eof'})")
    if err or got != HELD_TOTAL:
        problems.append(f"held server: a server held back by a slow client was cut: {got} of {HELD_TOTAL} "
                        f"bytes after {secs:.2f}s ({err or 'eof'})")
    elif secs < 2 * HELD_PAUSE:
        problems.append(f"held server: done in {secs:.2f}s: the client's pauses did not hold the server back")
    err, sent, secs = out["held_client"]
    got = sink.results.get(0) if sink.wait_handlers(10) else None
    log(f"held client (timeout client 1s, server pausing {HELD_PAUSE}s per {HELD_STEP >> 20} MiB): "
        f"sent {sent}, the server got {got} in {secs:.2f}s ({err or 'eof'})")
    if err or got != HELD_TOTAL:
        problems.append(f"held client: a client held back by a slow server was cut: the server got {got} of "
                        f"{HELD_TOTAL} bytes after {secs:.2f}s ({err or 'eof'})")
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
