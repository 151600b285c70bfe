#!/usr/bin/env bash
# Shard scaling on a box too small to show it directly. With 2 cores, a proxy with 2 shards shares
# a core with the load generator and the origin, so its requests/s cannot double. What can be
# measured is what scaling needs: the CPU each shard spends per request, and how the load spreads.
# A shared-nothing proxy whose per-request CPU is the same with 1 and 2 shards, and whose shards
# each carry half the load, scales by 2 x cpu_per_req(1) / cpu_per_req(2) once each shard has a
# core of its own and the load generator is not the bottleneck.
#   bench/scaling/shards.sh [SECONDS] [CONNECTIONS] [ROUNDS]
# SAMECORE=1 puts both shards of the 2-shard case on CPU 1, the core the single shard had: the
# load generator keeps CPU 0 to itself, and any cost of sharding itself (two rings, two listeners,
# the load split) shows as fewer requests/s than one shard on that core. A ratio near 1.0 there,
# with the load split evenly, is what projects to 2x on two free cores.
# Per round and shard count: edgeshard-bench origin (1 thread) and client (1 thread) on CPU 0;
# edgeshard with nbthread 1 on CPU 1, or nbthread 2 on CPUs 0-1. CPU time per shard thread comes
# from /proc/PID/task/TID/stat; responses from the client's JSON.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
secs=${1:-6}
conns=${2:-64}
rounds=${3:-3}
dir=$(mktemp -d /tmp/shards.XXXXXX)
bench_origin "$dir" 0

shard_ticks() {  # "tid:ticks ..." for the proxy's shard threads
  local pid=$1 out=""
  for t in /proc/"$pid"/task/*; do
    name=$(cat "$t/comm" 2>/dev/null || true)
    [[ $name == es-shard* ]] || continue
    out+="$(basename "$t"):$(awk '{print $14+$15}' "$t/stat") "
  done
  echo "$out"
}

for r in $(seq "$rounds"); do
  for n in 1 2; do
    port=$(bench_random_port)
    cpus=1; [[ $n == 2 && ${SAMECORE:-0} != 1 ]] && cpus=0,1
    bench_http_cfg "$port" "$oport" "$n" >"$dir/p.cfg"
    taskset -c "$cpus" "$es" -q -f "$dir/p.cfg" 2>"$dir/es.err" &
    ppid=$!
    bench_wait_port "$port"
    taskset -c 0 "$bench" http "http://127.0.0.1:$port/" -c "$conns" -d 1 -q >/dev/null   # warm-up
    before=$(shard_ticks "$ppid")
    taskset -c 0 "$bench" http "http://127.0.0.1:$port/" -c "$conns" -d "$secs" -q --json >"$dir/r$r-$n.json"
    after=$(shard_ticks "$ppid")
    kill "$ppid"; wait "$ppid" 2>/dev/null || true
    python3 - "$dir/r$r-$n.json" "$n" "$before" "$after" <<'PY'
import json, os, sys
res = json.load(open(sys.argv[1]))["results"]
n = int(sys.argv[2])
b = dict(x.split(":") for x in sys.argv[3].split())
a = dict(x.split(":") for x in sys.argv[4].split())
hz = os.sysconf("SC_CLK_TCK")
per = [(int(a[t]) - int(b[t])) / hz for t in sorted(a)]
cpu = sum(per)
print(json.dumps({"shards": n, "rps": round(res["rps"]), "responses": res["responses"],
                  "shard_cpu_s": [round(x, 2) for x in per],
                  "cpu_us_per_req": round(cpu / res["responses"] * 1e6, 3),
                  "errors": sum(res["errors"].values())}))
PY
  done
done | tee "$dir/rounds.jsonl"
python3 - "$dir/rounds.jsonl" ${SAMECORE:+samecore} <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
one = [r["cpu_us_per_req"] for r in rows if r["shards"] == 1]
two = [r["cpu_us_per_req"] for r in rows if r["shards"] == 2]
ratios = [2 * a / b for a, b in zip(one, two)]
rps = [b["rps"] / a["rps"] for a, b in zip([r for r in rows if r["shards"] == 1], [r for r in rows if r["shards"] == 2])]
print(f"requests/s, 2 shards / 1 shard ({'both shards on CPU 1' if len(sys.argv) > 2 else 'one shard shares CPU 0 with the load generator and origin'}): "
      f"median {statistics.median(rps):.2f} [{min(rps):.2f}-{max(rps):.2f}]")
split = [min(r["shard_cpu_s"]) / max(r["shard_cpu_s"]) for r in rows if r["shards"] == 2]
print(f"cpu us/req: 1 shard {statistics.median(one):.2f}, 2 shards {statistics.median(two):.2f}")
print(f"projected 2-shard scaling 2 x cpu(1)/cpu(2): median {statistics.median(ratios):.2f} "
      f"[{min(ratios):.2f}-{max(ratios):.2f}]")
print(f"load split between the 2 shards (less busy / busier CPU time): median {statistics.median(split):.2f}")
PY
