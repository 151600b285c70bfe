#!/usr/bin/env python3
"""Half-close propagates both ways and promptly (long idle timeouts, so only propagation can end
the exchange in time), and the open direction keeps working, unchanged, after the other one
closed:
  A. client sends 1 MiB then shutdown(SHUT_WR); the server reads to EOF, waits 0.5 s, sends a
     2 MiB reply and closes; the client reads all of it, then EOF.
  B. the server sends a greeting and shutdown(SHUT_WR) first; the client reads it to EOF, then
     sends 1 MiB and shuts down; the server receives all of it, then EOF.
  C. the server streams 32 MiB; after the first 256 KiB the client sends 4 KiB and shuts down:
     the stream must arrive whole, then EOF, although the client's FIN crossed it.
  D. the mirror of C: the client streams, the server sends 4 KiB and shuts down mid-stream.
Everything runs twice: with the default splice threshold and with `nosplice` (copy path only).
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import MiB, Failure, check, check_eq, log  # noqa: E402

REQ = eslib.random_payload(1 * MiB)
REPLY = eslib.random_payload(2 * MiB)
GREETING = eslib.random_payload(64 * 1024)
LATE = eslib.random_payload(1 * MiB)
SMALL = eslib.random_payload(4096)
BULK = eslib.random_payload(32 * MiB)
HEAD = 256 * 1024   # bytes of the stream seen before the FIN is sent: the FIN lands mid-stream
ROUNDS = 2
BULK_ROUNDS = 3


def read_to_eof(c, limit, timeout, who):
    how, data, secs = eslib.wait_eof(c, timeout)
    if how != "eof":
        raise Failure(f"{who}: expected EOF, got {how} after {secs:.2f}s with {len(data)} bytes")
    if len(data) > limit:
        raise Failure(f"{who}: got {len(data)} bytes, more than {limit}")
    return data


def server_a(c, idx, srv):
    t0 = time.monotonic()
    data = read_to_eof(c, len(REQ), 8, "server A")
    eof_at = time.monotonic() - t0
    # the reply comes after a pause: the proxy must keep server->client open meanwhile
    time.sleep(0.5)
    c.sendall(REPLY)
    with srv.lock:
        srv.results["a"] = (data, eof_at)
    c.shutdown(socket.SHUT_WR)


def server_b(c, idx, srv):
    c.sendall(GREETING)
    c.shutdown(socket.SHUT_WR)
    data = read_to_eof(c, len(LATE), 8, "server B")
    with srv.lock:
        srv.results["b"] = data


def server_c(c, idx, srv):
    # stream BULK from the first moment, read the client's small message concurrently
    t, err = eslib.send_in_background(c, BULK)
    data = read_to_eof(c, len(SMALL), 20, "server C")
    t.join(30)
    with srv.lock:
        srv.results["c"] = (data, err[0] if err else None)


def server_d(c, idx, srv):
    head = eslib.recv_exact(c, HEAD, timeout=10, what="server D: start of the stream")
    c.sendall(SMALL)
    c.shutdown(socket.SHUT_WR)
    data = head + read_to_eof(c, len(BULK) - HEAD, 30, "server D")
    with srv.lock:
        srv.results["d"] = data


def run(h, label, extra_global):
    ports = [eslib.free_port() for _ in range(4)]
    sock = h.sock_path(f"{label}.sock")
    srvs = [h.threaded_server(f, name=f"srv{n}-{label}", conn_timeout=30)
            for n, f in zip("ABCD", (server_a, server_b, server_c, server_d))]
    # 30 s idle timeouts: every EOF below must come from propagation, not from a timer.
    cfg = eslib.global_section(sock, nbthread=2, extra=extra_global) + eslib.defaults_section(client="30s", server="30s")
    for n, p, s in zip("abcd", ports, srvs):
        cfg += eslib.simple_proxy(p, [(n, s.port, "")], fe=f"fe_{n}", be=f"be_{n}")
    es = h.edgeshard(cfg, ports=ports, sock=sock, name=f"edgeshard-{label}")
    fe_a, fe_b, fe_c, fe_d = ports
    sa, sb, sc, sd = srvs

    def session_ends(fe, what):
        es.wait_stat(fe, "FRONTEND", "scur", lambda v: v == 0, timeout=3,
                     what=f"[{label}] {what}: session to end within 3 s once both directions are shut")

    # ---- A: client half-closes first
    for rnd in range(ROUNDS):
        c = eslib.connect(fe_a, timeout=10)
        t0 = time.monotonic()
        c.sendall(REQ)
        c.shutdown(socket.SHUT_WR)
        reply = read_to_eof(c, len(REPLY), 8, f"[{label}] client A")
        took = time.monotonic() - t0
        c.close()
        check_eq(len(reply), len(REPLY), f"[{label}] A: reply bytes the client read after its own shutdown")
        check(reply == REPLY, f"[{label}] A: reply differs")
        got, eof_at = sa.await_result("a", 10, f"[{label}] A")
        check_eq(len(got), len(REQ), f"[{label}] A: bytes the server read before EOF")
        check(got == REQ, f"[{label}] A: data the server read differs from what the client sent")
        check(eof_at < 3.0, f"[{label}] A: the server saw the client's shutdown only after {eof_at:.2f}s")
        check(took < 5.0, f"[{label}] A: exchange took {took:.2f}s (EOF not propagated promptly)")
        session_ends("fe_a", "A")
        log(f"[{label}] A round {rnd}: server EOF after {eof_at:.3f}s, client got reply + EOF in {took:.3f}s")

    # ---- B: server half-closes first
    for rnd in range(ROUNDS):
        c = eslib.connect(fe_b, timeout=10)
        t0 = time.monotonic()
        greet = read_to_eof(c, len(GREETING), 8, f"[{label}] client B")
        greet_at = time.monotonic() - t0
        check(greet == GREETING, f"[{label}] B: greeting differs ({len(greet)} of {len(GREETING)} bytes)")
        check(greet_at < 3.0, f"[{label}] B: the client saw the server's shutdown only after {greet_at:.2f}s")
        c.sendall(LATE)
        c.shutdown(socket.SHUT_WR)
        got = sb.await_result("b", 10, f"[{label}] B")
        c.close()
        check_eq(len(got), len(LATE), f"[{label}] B: bytes the server received after its own shutdown")
        check(got == LATE, f"[{label}] B: data differs")
        session_ends("fe_b", "B")
        log(f"[{label}] B round {rnd}: client EOF after {greet_at:.3f}s, late data delivered")

    # ---- C: client FIN while the server streams
    for rnd in range(BULK_ROUNDS):
        c = eslib.connect(fe_c, timeout=10)
        head = eslib.recv_exact(c, HEAD, timeout=10, what=f"[{label}] C: start of the stream")
        c.sendall(SMALL)
        c.shutdown(socket.SHUT_WR)
        how, data, secs = eslib.wait_eof(c, 30)
        data = head + data
        c.close()
        got, err = sc.await_result("c", 30, f"[{label}] C")
        check(err is None, f"[{label}] C: the server's stream to the half-closed client failed: {err} "
                           f"(client got {len(data)} of {len(BULK)} bytes, then {how})")
        check(how == "eof" and len(data) == len(BULK),
              f"[{label}] C: the client should receive the whole {len(BULK)}-byte stream after its "
              f"shutdown, then EOF; got {len(data)} bytes then {how}")
        check(data == BULK, f"[{label}] C: the stream differs")
        check(got == SMALL, f"[{label}] C: the server received {len(got)} bytes, expected {len(SMALL)}")
        session_ends("fe_c", "C")
        log(f"[{label}] C round {rnd}: {len(BULK) >> 20} MiB stream intact across the client's FIN")

    # ---- D: server FIN while the client streams
    for rnd in range(BULK_ROUNDS):
        c = eslib.connect(fe_d, timeout=10)
        t, err = eslib.send_in_background(c, BULK)
        how, small, secs = eslib.wait_eof(c, 30)
        t.join(30)
        try:
            got = sd.await_result("d", 30, f"[{label}] D")
        except Failure as e:
            got = None
            if not err:
                raise
            err.append(str(e))
        c.close()
        check(not err, f"[{label}] D: the client's stream to the half-closed server failed: {err} "
                       f"(server got {len(got) if got is not None else '?'} of {len(BULK)} bytes)")
        check(how == "eof" and small == SMALL, f"[{label}] D: the client should get the server's "
                                               f"{len(SMALL)} bytes then EOF; got {len(small)} then {how}")
        check(got is not None and len(got) == len(BULK),
              f"[{label}] D: the server should receive the whole stream after its own shutdown; "
              f"got {len(got) if got is not None else 'nothing'} of {len(BULK)} bytes")
        check(got == BULK, f"[{label}] D: the stream differs")
        session_ends("fe_d", "D")
        log(f"[{label}] D round {rnd}: {len(BULK) >> 20} MiB stream intact across the server's FIN")

    es.expect_counters("fe_a", "FRONTEND", {"stot": ROUNDS, "bin": ROUNDS * len(REQ),
                                            "bout": ROUNDS * len(REPLY)}, what=f"[{label}] fe_a")
    es.expect_counters("fe_b", "FRONTEND", {"stot": ROUNDS, "bin": ROUNDS * len(LATE),
                                            "bout": ROUNDS * len(GREETING)}, what=f"[{label}] fe_b")
    es.expect_counters("fe_c", "FRONTEND", {"stot": BULK_ROUNDS, "bin": BULK_ROUNDS * len(SMALL),
                                            "bout": BULK_ROUNDS * len(BULK)}, what=f"[{label}] fe_c")
    es.expect_counters("fe_d", "FRONTEND", {"stot": BULK_ROUNDS, "bin": BULK_ROUNDS * len(BULK),
                                            "bout": BULK_ROUNDS * len(SMALL)}, what=f"[{label}] fe_d")
    es.stop()
    for s in srvs:
        s.stop()


def main(h):
    problems = []
    for label, extra in (("default", ""), ("nosplice", "nosplice")):
        try:
            run(h, label, extra)
        except Failure as e:
            # run the other mode too: which of the two paths fails is the useful diagnostic
            problems.append(str(e))
            print(f"FAIL (continuing with the other mode): {e}", flush=True)
            h.diagnostics()
    check(not problems, " | ".join(problems))


if __name__ == "__main__":
    eslib.run(main)
