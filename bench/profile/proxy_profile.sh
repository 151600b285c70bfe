#!/usr/bin/env bash
# Where a proxy's CPU goes under keep-alive HTTP load: edgeshard-bench origin and client on CPU 0,
# the proxy (edgeshard with one shard, or HAProxy with one thread) alone on CPU 1, and
# `perf record -e cpu-clock` on the proxy's PID (software clock sampling: this box's VM exposes no
# hardware counters). Prints the user/kernel split and the top kernel and user symbols.
#   bench/profile/proxy_profile.sh [edgeshard|haproxy] [SECONDS] [CONNECTIONS] [close]
# ES_GLOBAL_EXTRA adds lines to edgeshard's global section (e.g. "    tune.es.buffers 256").
# ES_BUILD=DIR uses another build directory. Needs: a release build in ./build (edgeshard, tools/bench/edgeshard-bench), linux-perf, haproxy.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
sys=${1:-edgeshard}
secs=${2:-8}
conns=${3:-50}
mode=${4:-ka}
dir=$(mktemp -d /tmp/proxy-profile.XXXXXX)
bench_origin "$dir" 0
port=$(bench_random_port)
if [[ $sys == edgeshard ]]; then
  bench_http_cfg "$port" "$oport" 1 "${ES_GLOBAL_EXTRA:-}" >"$dir/p.cfg"
  taskset -c 1 "$es" -q -f "$dir/p.cfg" &
else
  bench_http_cfg "$port" "$oport" 1 >"$dir/p.cfg"
  taskset -c 1 haproxy -q -f "$dir/p.cfg" &
fi
ppid=$!
bench_pids+=($ppid)
bench_wait_port "$port"
extra=()
[[ $mode == close ]] && extra=(--close)
taskset -c 0 "$bench" http "http://127.0.0.1:$port/" -c "$conns" -d $((secs + 2)) -q --json "${extra[@]}" >"$dir/load.json" &
lpid=$!
bench_pids+=($lpid)
sleep 1
perf record -q -e cpu-clock -F 2000 -g -p "$ppid" -o "$dir/perf.data" -- sleep "$secs" 2>/dev/null
wait "$lpid" || true
python3 - "$dir/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(f"load: {r['rps']:.0f} req/s, p99 {r['latency_us']['p99']:.0f} us, errors {sum(r['errors'].values())}")
PY
echo "== user vs kernel (samples on the proxy's PID)"
perf report -i "$dir/perf.data" --no-children -g none --sort dso -q 2>/dev/null | head -8
echo "== top symbols"
perf report -i "$dir/perf.data" --no-children -g none --sort sym -q 2>/dev/null | head -45
echo "(data in $dir)"
