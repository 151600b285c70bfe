#!/usr/bin/env python3
"""`edgeshard-bench sweep` runs a scenario once per point of a grid and reports each point:
  - a client-side grid (connections=1,4) gives two results, in order, each carrying its point, the
    grid's variables and the settings it ran with, and each valid against result.schema.json;
  - a proxy-side grid (proxy.nbthread=1,2) starts edgeshard from a config template for each
    point, loads it through the proxy, and stops it afterwards (nothing left listening); the
    shard count shows in the proxy's `show info` while the point runs (checked through the
    result: both points served traffic with no errors);
  - --out writes JSON Lines to a file;
  - an unknown key or a proxy key without a template is refused before anything runs.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import benchlib  # noqa: E402
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def main(h):
    bench = benchlib.bench_bin()
    _, o = benchlib.start_origin(h, "--http", "127.0.0.1:0", "--body-size", "128")
    url = f"http://127.0.0.1:{o['http']}/"

    # ---- client-side grid
    res = benchlib.run(["sweep", "--set", "connections=1,4", "--json", "-q", "--", "http", url, "-d", "1"])
    check_eq(len(res), 2, "results for a grid of two points")
    for i, r in enumerate(res):
        benchlib.validate(r)
        check_eq(r["sweep"]["point"], i + 1, "point number")
        check_eq(r["sweep"]["points"], 2, "points in the grid")
        check(r["results"]["responses"] > 100, f"point {i + 1} measured something: {r['results']['responses']}")
    check_eq([r["settings"]["connections"] for r in res], [1, 4], "connections per point")
    check_eq([r["sweep"]["vars"]["connections"] for r in res], ["1", "4"], "sweep vars")
    check_eq([r["label"] for r in res], ["connections=1", "connections=4"], "labels")

    # ---- two variables: 2 x 2 = 4 points, the last variable varies fastest
    out = h.path("grid.jsonl")
    res = benchlib.run(["sweep", "--set", "pipeline=1,4", "--set", "registered_buffers=off,on", "--out", out,
                        "--json", "-q", "--", "http", url, "-d", "0.5", "-c", "2"])
    check_eq(len(res), 4, "results for a 2x2 grid on stdout")
    with open(out) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    check_eq(len(lines), 4, "JSON Lines in --out")
    check_eq([(r["settings"]["pipeline"], r["settings"]["registered_buffers"]) for r in lines],
             [(1, False), (1, True), (4, False), (4, True)], "grid order")

    # ---- proxy-side grid: edgeshard started per point from a template
    fe = eslib.free_port()
    tpl = h.path("proxy.cfg.tpl")
    with open(tpl, "w") as f:
        f.write(f"""global
    nbthread {{{{nbthread}}}}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
backend be
    server s1 127.0.0.1:{o['http']}
""")
    res = benchlib.run(["sweep", "--set", "proxy.nbthread=1,2", "--proxy-config", tpl, "--proxy-bin", h.bin,
                        "--json", "-q", "--", "http", f"http://127.0.0.1:{fe}/", "-d", "1", "-c", "8"], timeout=90)
    check_eq(len(res), 2, "results for two proxy settings")
    for r, n in zip(res, ("1", "2")):
        benchlib.validate(r)
        check_eq(r["settings"].get("proxy.nbthread"), n, "proxy setting recorded")
        errs = {k: v for k, v in r["results"]["errors"].items() if v}
        check(not errs, f"no errors through the proxy with nbthread {n}: {errs}")
        check(r["results"]["responses"] > 500, f"nbthread {n}: {r['results']['responses']} responses")
        log(f"proxy nbthread={n}: {r['results']['rps']:.0f} req/s, p99 {r['results']['latency_us']['p99']:.0f} us")
    check(not eslib.is_listening(fe), "the proxy of the last point was stopped")

    # ---- refusals
    for args, why in ((["--set", "nosuch=1,2"], "unknown setting"),
                      (["--set", "proxy.nbthread=1,2"], "need --proxy-config")):
        cp = subprocess.run([bench, "sweep", *args, "--", "http", url, "-d", "1"], capture_output=True, timeout=20)
        check(cp.returncode == 1, f"sweep {args} exits 1, got {cp.returncode}")
        check(why in cp.stderr.decode(), f"sweep {args} says '{why}': {cp.stderr.decode()[:300]}")
        check(cp.stdout == b"", "nothing ran")


if __name__ == "__main__":
    eslib.run(main)
