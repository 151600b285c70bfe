#!/usr/bin/env python3
"""A per-client rate limit holds exactly whatever the shard count (stick tables live per shard; the
listeners of a frontend that tracks `src` steer each client address to one shard).

The limit: `stick-table type ip ... store http_req_rate(1s),http_req_cnt`, `http-request
track-sc0 src`, `http-request deny deny_status 429 if { sc_http_req_rate(0) gt 20 }`. Four clients
(source addresses 127.0.0.11 .. .14) each send 120 requests, every one on a NEW connection (so
the kernel's 4-tuple spread would put a client's connections on every shard), all four at once.
HAProxy's counting (the same in edgeshard): the track counts the request before the rule, denied
requests count too, so a client sending faster than the limit gets exactly its first 20 requests
through and is then held under (its rate never falls back while it keeps sending): exactly 20 x
200 and 100 x 429 per client, a figure that does not depend on timing.
  1. nbthread 1: 20 / 100 for each client; `show table` holds the 4 keys with http_req_cnt=120.
  2. nbthread 2: the same 20 / 100 for each client, exactly (the steering keeps each client on one
     shard); `show table` holds 4 keys with http_req_cnt=120 each; both shards took connections
     (`show shards`: the clients are spread over the shards, not all sent to one).
  3. Control (edgeshard only): nbthread 2 with `tune.es.steer-clients off`: the kernel spreads
     each client's connections over both shards, each shard counts its own share, and the clients
     get more than 20 through (together more than 4 x 20 x 1.3): the check above can fail.
With ES_TEST_PEER=haproxy, parts 1 and 2 run on HAProxy 2.6 (its threads share one table).
"""
import os
import re
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
CLIENTS = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
REQUESTS = 120
LIMIT = 20


def burst(port, source, out):
    codes = []
    for i in range(REQUESTS):
        try:
            codes.append(eslib.http_get(port, f"/r{i}", timeout=5, source=source).status)
        except OSError as e:  # counted as a failure: the check below names it
            codes.append(f"error {e}")
    out[source] = codes


def run_once(h, nbthread, steer=True):
    origin = http_origin.start(h, name=f"o{nbthread}{'s' if steer else 'n'}")
    sock = h.sock_path()
    port = eslib.free_port()
    extra = "" if steer else "tune.es.steer-clients off"
    cfg = eslib.http_global(sock, nbthread=nbthread, extra=extra) + eslib.http_defaults()
    cfg += eslib.section("frontend fe", f"""
        bind {L}:{port}
        stick-table type ip size 1k expire 30s store http_req_rate(1s),http_req_cnt
        http-request track-sc0 src
        http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt {LIMIT} }}
        default_backend be""")
    cfg += eslib.section("backend be", f"server s1 {L}:{origin.port}")
    es = eslib.start_proxy(h, cfg, ports=[port], sock=sock)
    out = {}
    threads = [threading.Thread(target=burst, args=(port, c, out)) for c in CLIENTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    table = es.ctl("show table fe")
    shards = es.ctl("show shards") if eslib.on_edgeshard() else ""
    es.stop()
    return out, table, shards


def counts(codes):
    return codes.count(200), codes.count(429), [c for c in codes if c not in (200, 429)]


def main(h):
    for nbthread in (1, 2):
        out, table, shards = run_once(h, nbthread)
        for c in CLIENTS:
            ok, limited, other = counts(out.get(c, []))
            check_eq(other, [], f"nbthread {nbthread}: client {c}: answers other than 200 and 429")
            check_eq((ok, limited), (LIMIT, REQUESTS - LIMIT),
                     f"nbthread {nbthread}: client {c}: 200s and 429s (limit {LIMIT} per client, {REQUESTS} sent)")
        keys = re.findall(r"key=(\S+) use=\d+ exp=\d+ http_req_cnt=(\d+) http_req_rate\(1000\)=\d+", table)
        check_eq(sorted(keys), sorted((c, str(REQUESTS)) for c in CLIENTS),
                 f"nbthread {nbthread}: show table fe: one entry per client with every request counted:\n{table}")
        if nbthread == 2 and eslib.on_edgeshard():
            # every shard took some of the 480 connections: the steering spreads clients, it does
            # not send them all to one shard
            acc = [int(x) for x in re.findall(r"\baccepts=(\d+)", shards)]
            log(f"nbthread 2: accepts per shard {acc}")
            check(len(acc) == 2 and min(acc) >= REQUESTS, f"nbthread 2: both shards take clients: {shards}")
        log(f"nbthread {nbthread}: every client got exactly {LIMIT} x 200 then 429s")
    if not eslib.on_edgeshard():
        return
    out, table, _ = run_once(h, 2, steer=False)
    total = sum(counts(out.get(c, []))[0] for c in CLIENTS)
    log(f"steering off, nbthread 2: {total} requests passed in all (4 x {LIMIT} = {4 * LIMIT} when exact)")
    check(total > 4 * LIMIT * 1.3,
          f"steering off: each shard counts its share of a client, so more than the limit passes "
          f"(got {total}, the exact limit would be {4 * LIMIT})")


if __name__ == "__main__":
    eslib.run_http(main)
