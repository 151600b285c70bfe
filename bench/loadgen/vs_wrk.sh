#!/usr/bin/env bash
# Is edgeshard-bench itself a bottleneck? One client thread on CPU 0 against edgeshard-bench's own
# origin alone on CPU 1, keep-alive GETs of a 64-byte body, wrk -t1 against edgeshard-bench -t1
# with the same connection count, interleaved, ROUNDS rounds of SECONDS. The client's CPU is the
# limit here (the origin core is not saturated), so requests/s is requests per client core-second.
# Also records each client's CPU time per request from /proc.
#   bench/loadgen/vs_wrk.sh [SECONDS] [CONNECTIONS] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
secs=${1:-5}
conns=${2:-50}
rounds=${3:-3}
dir=$(mktemp -d /tmp/vs-wrk.XXXXXX)
bench_origin "$dir" 1 --body-size 64
port=$oport
url=http://127.0.0.1:$port/
cpu_of() { awk '{print $14+$15}' "/proc/$1/stat"; }
for r in $(seq "$rounds"); do
  taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" "$url" >"$dir/wrk$r.txt" 2>&1 &
  w=$!; sleep "$secs"; t=$(cpu_of $w); wait $w
  rps=$(awk '/Requests\/sec/{print $2}' "$dir/wrk$r.txt")
  echo "{\"client\": \"wrk\", \"round\": $r, \"rps\": $rps, \"cpu_s\": $(awk -v t="$t" 'BEGIN{print t/100}')}"
  taskset -c 0 "$bench" http "$url" -c "$conns" -d "$secs" -q --json >"$dir/esb$r.json" &
  b=$!; sleep "$secs"; t=$(cpu_of $b); wait $b
  rps=$(python3 -c "import json;print(json.load(open('$dir/esb$r.json'))['results']['rps'])")
  echo "{\"client\": \"edgeshard-bench\", \"round\": $r, \"rps\": $rps, \"cpu_s\": $(awk -v t="$t" 'BEGIN{print t/100}')}"
done | tee "$dir/rounds.jsonl"
python3 - "$dir/rounds.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
w = [r["rps"] for r in rows if r["client"] == "wrk"]
e = [r["rps"] for r in rows if r["client"] == "edgeshard-bench"]
ratios = [b / a for a, b in zip(w, e)]
print(f"requests/s with one client core: wrk {statistics.median(w):.0f}, edgeshard-bench {statistics.median(e):.0f}; "
      f"ratio median {statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]")
PY
