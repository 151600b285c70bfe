#!/usr/bin/env bash
# Latency at a fixed request rate, HAProxy (nbthread 1) against edgeshard (one shard), measured
# with edgeshard-bench in open loop (latency from the intended send time, so a proxy that stalls
# cannot hide it). Client and origin (edgeshard-bench) on CPU 0, the proxy alone on CPU 1, both
# proxies in front of the same origin, keep-alive both sides, interleaved for ROUNDS rounds.
#   bench/loadgen/open_loop_peers.sh [RATE] [SECONDS] [CONNECTIONS] [ROUNDS] [OUT.jsonl]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
rate=${1:-20000}
secs=${2:-10}
conns=${3:-64}
rounds=${4:-3}
dir=$(mktemp -d /tmp/open-loop.XXXXXX)
out=${5:-$dir/runs.jsonl}
bench=${ES_BUILD:-$here/build}/tools/bench/edgeshard-bench
es=${ES_BUILD:-$here/build}/edgeshard
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
touch "$dir/origin.out"
taskset -c 0 "$bench" origin --http 127.0.0.1:0 >"$dir/origin.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening' "$dir/origin.out" && break; sleep 0.05; done
oport=$(awk '/^listening http/{print $NF}' "$dir/origin.out")
cfg() {  # port -> a config both proxies read
  printf 'global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\nfrontend fe\n    bind 127.0.0.1:%s\n    default_backend be\nbackend be\n    http-reuse always\n    server s1 127.0.0.1:%s\n' "$1" "$oport"
}
: >"$out"
for r in $(seq "$rounds"); do
  for sys in haproxy edgeshard; do
    port=$((20000 + RANDOM % 20000))
    cfg "$port" >"$dir/$sys.cfg"
    if [[ $sys == haproxy ]]; then taskset -c 1 haproxy -q -f "$dir/$sys.cfg" & else taskset -c 1 "$es" -q -f "$dir/$sys.cfg" & fi
    ppid=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
    taskset -c 0 "$bench" http "http://127.0.0.1:$port/" -c "$conns" --rate "$rate" -d "$secs" --warmup 1 -q --json \
      --label "$sys round $r" >>"$out"
    kill "$ppid"; wait "$ppid" 2>/dev/null || true
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for sys_ in ("haproxy", "edgeshard"):
    rs = [r["results"] for r in rows if r["label"].startswith(sys_)]
    med = lambda k: statistics.median(r["latency_us"][k] for r in rs)
    errs = sum(sum(r["errors"].values()) for r in rs)
    print(f"{sys_:10s} rps {statistics.median(r['rps'] for r in rs):8.0f}  p50 {med('p50'):7.0f} us  "
          f"p99 {med('p99'):7.0f} us  p99.9 {med('p99_9'):7.0f} us  max {med('max'):7.0f} us  errors {errs}")
PY
echo "runs: $out"
