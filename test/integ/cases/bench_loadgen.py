#!/usr/bin/env python3
"""edgeshard-bench measures what it claims, against its own origin on 127.0.0.1:
  - open loop: an origin that answers after 20 ms, loaded at 200 req/s over 10 connections, gives
    ~600 responses in 3 s with p50 within [20, 24] ms and min >= 20 ms;
  - no coordinated omission: one connection at 100 req/s against the same origin (at most 50/s
    possible) shows the queueing: latency from the intended send time grows to about a second,
    where a closed-loop tool would report 20 ms;
  - errors by kind: an origin that fails on purpose (deterministic shares: 503 10%, 404 4%, reset
    5%, close 5%, garbage 5%) gives read, parse, 4xx and 5xx counts in those proportions; an
    origin that never answers gives timeouts; a closed port gives connect errors only;
  - tcp: up to a sink, down from a source, both through an echo, per flow bytes and fairness;
  - a peer that half-closes gets everything it is owed: the echo of 4 MiB, the answer to a request;
  - a knob that needs a NIC (SO_BUSY_POLL, NAPI) against loopback is listed as skipped with its
    reason, and the run still happens.
Every JSON result validates against tools/bench/result.schema.json.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import benchlib  # noqa: E402
import eslib  # noqa: E402
from eslib import check, check_range, log  # noqa: E402


def main(h):
    benchlib.bench_bin()
    _, slow = benchlib.start_origin(h, "--http", "127.0.0.1:0", "--delay", "20ms", name="slow")
    url = f"http://127.0.0.1:{slow['http']}/"

    # ---- open loop at a rate the origin sustains
    r = benchlib.run(["http", url, "-c", "10", "--rate", "200", "-d", "3", "--json", "-q"])[0]
    benchlib.validate(r)
    res, lat = r["results"], r["results"]["latency_us"]
    log(f"open loop 200/s, 20 ms origin: {res['responses']} responses, p50 {lat['p50']:.0f} us, "
        f"p99 {lat['p99']:.0f} us, min {lat['min']:.0f} us")
    check(r["settings"]["mode"] == "open", "mode is open with --rate")
    check_range(res["responses"], 570, 600, "responses at 200/s for 3 s")
    check(lat["min"] >= 20000, f"no response faster than the origin's 20 ms delay (min {lat['min']})")
    check_range(lat["p50"], 20000, 24000, "p50 us with a 20 ms origin")
    check(lat["p99"] < 60000, f"p99 {lat['p99']} us stays near the delay when the origin keeps up")
    check_eq_errors(res, {})
    check_range(len(res["timeline"]), 3, 3, "one timeline entry per second")

    # ---- overload in open loop: latency counts from the intended send time
    r = benchlib.run(["http", url, "-c", "1", "--rate", "100", "-d", "3", "--json", "-q"])[0]
    res, lat = r["results"], r["results"]["latency_us"]
    log(f"open loop 100/s on one connection, 20 ms origin: {res['responses']} responses, "
        f"p50 {lat['p50']:.0f} us, max {lat['max']:.0f} us")
    check_range(res["responses"], 130, 155, "responses: one connection answers at most 50/s")
    check(lat["max"] > 1_000_000, f"the queue behind a slow origin shows: max {lat['max']} us > 1 s")
    check(lat["p50"] > 300_000, f"median latency includes the wait for the connection: {lat['p50']} us")

    # ---- closed loop against the same origin: 20 ms per request per connection
    r = benchlib.run(["http", url, "-c", "4", "-d", "2", "--json", "-q"])[0]
    res = r["results"]
    check_range(res["rps"], 150, 205, "closed loop rps = connections / 20 ms")

    # ---- errors by kind
    _, bad = benchlib.start_origin(h, "--http", "127.0.0.1:0", "--fail", "503=10", "--fail", "404=4",
                                   "--fail", "reset=5", "--fail", "close=5", "--fail", "garbage=5",
                                   name="failing")
    r = benchlib.run(["http", f"http://127.0.0.1:{bad['http']}/", "-c", "8", "-d", "2", "--json", "-q"])[0]
    benchlib.validate(r)
    res = r["results"]
    n = res["requests"]
    e, st = res["errors"], res["status"]
    log(f"failing origin: {n} requests, errors {e}, status {st}")
    check(n > 2000, f"enough requests to see the shares ({n})")

    def share(x, want, what):
        check_range(x / n, want - 0.01, want + 0.01, f"{what} share of requests")
    share(st["5xx"], 0.10, "5xx (503)")
    share(st["4xx"], 0.04, "4xx (404)")
    share(e["read"], 0.10, "read errors (reset + close)")
    share(e["parse"], 0.05, "parse errors (garbage)")
    check(e["connect"] == 0 and e["timeout"] == 0 and e["write"] == 0,
          f"no connect/timeout/write errors from an origin that answers: {e}")

    _, hang = benchlib.start_origin(h, "--http", "127.0.0.1:0", "--fail", "hang=100", name="hang")
    r = benchlib.run(["http", f"http://127.0.0.1:{hang['http']}/", "-c", "4", "-d", "2", "--timeout",
                      "300ms", "--json", "-q"])[0]
    e = r["results"]["errors"]
    log(f"origin that never answers: {e}")
    check_range(e["timeout"], 16, 28, "timeouts: 4 connections x 2 s / 300 ms")
    check(r["results"]["responses"] == 0 and e["read"] == 0 and e["parse"] == 0, f"only timeouts: {e}")

    closed = eslib.free_port()
    r = benchlib.run(["http", f"http://127.0.0.1:{closed}/", "-c", "2", "-d", "1", "--json", "-q"])[0]
    e = r["results"]["errors"]
    check(e["connect"] > 10, f"a closed port gives connect errors: {e}")
    check(e["read"] == e["write"] == e["timeout"] == e["parse"] == 0, f"and nothing else: {e}")

    # ---- tcp
    _, t = benchlib.start_origin(h, "--tcp-sink", "127.0.0.1:0", "--tcp-source", "127.0.0.1:0",
                                 "--tcp-echo", "127.0.0.1:0", name="tcp")
    for kind, direction in (("sink", "up"), ("source", "down"), ("echo", "both")):
        r = benchlib.run(["tcp", f"127.0.0.1:{t[kind]}", "-c", "4", "-d", "1", "--direction", direction,
                          "--json", "-q"])[0]
        benchlib.validate(r)
        res = r["results"]
        log(f"tcp {direction} ({kind}): {res['gbps']:.2f} Gbit/s, fairness {res['fairness']:.2f}")
        check(res["gbps"] > 0.1, f"tcp {direction}: {res['gbps']} Gbit/s")
        check(len(res["flows"]) == 4, "one entry per flow")
        for f in res["flows"]:
            if direction in ("up", "both"):
                check(f["bytes_sent"] > 0, f"every flow sent: {res['flows']}")
            if direction in ("down", "both"):
                check(f["bytes_received"] > 0, f"every flow received: {res['flows']}")
        check(sum(e for e in res["errors"].values()) == 0, f"no errors: {res['errors']}")

    # ---- a peer that half-closes gets everything it is owed before the origin closes
    import hashlib
    import socket
    payload = os.urandom(4 << 20)
    c = socket.create_connection(("127.0.0.1", t["echo"]), timeout=10)
    c.sendall(payload)
    c.shutdown(socket.SHUT_WR)
    got = bytearray()
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        got += b
    c.close()
    check(hashlib.sha256(got).digest() == hashlib.sha256(payload).digest(),
          f"echo after a half-close returns all {len(payload)} bytes, got {len(got)}")
    c = socket.create_connection(("127.0.0.1", slow["http"]), timeout=10)
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    c.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        b = c.recv(4096)
        if not b:
            break
        answer += b
    c.close()
    check(answer.startswith(b"HTTP/1.1 200 "), f"a request sent before a half-close is answered: {answer[:60]!r}")

    # ---- knobs that need a NIC are skipped with a reason, and the run goes on
    r = benchlib.run(["http", f"http://127.0.0.1:{slow['http']}/", "-c", "2", "-d", "1", "--busy-poll", "50",
                      "--napi-busy-poll", "50", "--registered-buffers", "on", "--send-zc-threshold", "64",
                      "--json", "-q"])[0]
    benchlib.validate(r)
    skipped = {s["setting"]: s["reason"] for s in r["skipped"]}
    check("busy_poll_us" in skipped and "napi_busy_poll_us" in skipped, f"skipped: {r['skipped']}")
    check("loopback" in skipped["busy_poll_us"], f"the reason names loopback: {skipped}")
    check(r["results"]["responses"] > 50, "the run still happened")
    check(r["settings"]["registered_buffers"] is True, "registered buffers applied")


def check_eq_errors(res, allowed):
    bad = {k: v for k, v in res["errors"].items() if v and k not in allowed}
    check(not bad, f"unexpected errors: {bad}")


if __name__ == "__main__":
    eslib.run(main)
