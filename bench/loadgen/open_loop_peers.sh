#!/usr/bin/env bash
# Latency at a fixed request rate, HAProxy (nbthread 1) against edgeshard (one shard), measured
# with edgeshard-bench in open loop (latency from the intended send time, so a proxy that stalls
# cannot hide it). Client and origin (edgeshard-bench) on CPU 0, the proxy alone on CPU 1, both
# proxies in front of the same origin, keep-alive both sides, interleaved for ROUNDS rounds.
#   bench/loadgen/open_loop_peers.sh [RATE] [SECONDS] [CONNECTIONS] [ROUNDS] [OUT.jsonl]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
rate=${1:-20000}
secs=${2:-10}
conns=${3:-64}
rounds=${4:-3}
dir=$(mktemp -d /tmp/open-loop.XXXXXX)
out=${5:-$dir/runs.jsonl}
bench_origin "$dir" 0
: >"$out"
for r in $(seq "$rounds"); do
  for sys in haproxy edgeshard; do
    port=$(bench_random_port)
    bench_http_cfg "$port" "$oport" 1 >"$dir/$sys.cfg"
    if [[ $sys == haproxy ]]; then taskset -c 1 haproxy -q -f "$dir/$sys.cfg" & else taskset -c 1 "$es" -q -f "$dir/$sys.cfg" & fi
    ppid=$!
    bench_wait_port "$port"
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
