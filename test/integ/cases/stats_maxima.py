"""`smax` across shards: a process-wide maximum, not the sum of the shards' maxima. With 2 shards, 24 client
connections are held open together (keep-alive, each after one request) for 0.6 s, then closed; then 12 more
are held on their own, then closed:

  - the frontend's `smax` is 24 (the control shard samples the shards' summed sessions every 100 ms: a peak
    that lasts that long is seen whole), while each shard's own row (`show stat shards`) stays below 24 (the
    kernel spread the connections over both) and the shards' maxima add up to 24;
  - the second, smaller peak leaves it at 24 (a maximum, not a sum of peaks: the old merge, a sum of the
    shards' maxima, would stay at 24 only by chance of the spread);
  - the server's `smax` counts the requests it served at once (1 here), not the connections.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def rows(sock, cmd):
    text = eslib.ctl_raw(sock, cmd)
    lines = [x for x in text.split("\n") if x]
    header = lines[0][2:].split(",")
    return [dict(zip(header, x.split(","))) for x in lines[1:]]


def hold(port, n):
    conns = []
    for _ in range(n):
        c = eslib.HttpClient(port, timeout=5)
        r = c.request("GET", "/x")
        check_eq(r.status, 200, "a request on a held connection")
        conns.append(c)
    return conns


def main(h):
    if not eslib.on_edgeshard():
        raise eslib.Skip("edgeshard's shards only: HAProxy's threads share one counter (and has no `shards` rows)")
    origin = http_origin.start(h)
    port = eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.global_section(sock, nbthread=2) + eslib.defaults_section(connect="1s", client="5s", server="5s") +
           eslib.section("frontend fe", f"""
               mode http
               bind {L}:{port}
               default_backend be""") +
           eslib.section("backend be", f"""
               mode http
               server s1 {L}:{origin.port}"""))
    eslib.start_proxy(h, cfg, ports=[port], sock=sock)
    conns = hold(port, 24)
    eslib.poll_until(lambda: [r["scur"] for r in rows(sock, "show stat") if r["svname"] == "FRONTEND"] == ["24"], 5,
                     what="24 sessions open on the frontend")
    time.sleep(0.6)
    for c in conns:
        c.close()
    eslib.poll_until(lambda: [r["scur"] for r in rows(sock, "show stat") if r["svname"] == "FRONTEND"] == ["0"], 5,
                     what="the sessions to close")
    conns = hold(port, 12)
    time.sleep(0.3)
    for c in conns:
        c.close()
    every = rows(sock, "show stat shards")
    merged = [r for r in every if r["svname"] == "FRONTEND" and r.get("shard", "") == ""]
    per_shard = [r for r in every if r["svname"] == "FRONTEND" and r.get("shard", "") != ""]
    check_eq([r["smax"] for r in merged], ["24"], "the frontend's smax: the process's peak")
    check_eq(len(per_shard), 2, "one frontend row per shard")
    shard_max = [int(r["smax"]) for r in per_shard]
    check(all(m < 24 for m in shard_max) and sum(shard_max) >= 24,
          f"each shard saw part of the peak (its own smax below 24), together all of it: {shard_max}")
    srv = [r for r in rows(sock, "show stat") if r["svname"] == "s1"]
    check_eq([r["smax"] for r in srv], ["1"], "the server's smax: requests served at once")
    log(f"smax 24 with shard maxima {shard_max}; a later peak of 12 left it at 24")


if __name__ == "__main__":
    eslib.run_http(main)
