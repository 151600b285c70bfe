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
sys=${1:-edgeshard}
secs=${2:-8}
conns=${3:-50}
mode=${4:-ka}
bench=${ES_BUILD:-$here/build}/tools/bench/edgeshard-bench
es=${ES_BUILD:-$here/build}/edgeshard
dir=$(mktemp -d /tmp/proxy-profile.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

taskset -c 0 "$bench" origin --http 127.0.0.1:0 >"$dir/origin.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening' "$dir/origin.out" && break; sleep 0.05; done
oport=$(awk '/^listening http/{print $NF}' "$dir/origin.out")
port=$((20000 + RANDOM % 20000))
if [[ $sys == edgeshard ]]; then
  cat >"$dir/p.cfg" <<CFG
global
    nbthread 1
${ES_GLOBAL_EXTRA:-}
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:$port
    default_backend be
backend be
    http-reuse always
    server s1 127.0.0.1:$oport
CFG
  taskset -c 1 "$es" -q -f "$dir/p.cfg" &
else
  cat >"$dir/p.cfg" <<CFG
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:$port
    default_backend be
backend be
    http-reuse always
    server s1 127.0.0.1:$oport
CFG
  taskset -c 1 haproxy -q -f "$dir/p.cfg" &
fi
ppid=$!
pids+=($ppid)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
extra=()
[[ $mode == close ]] && extra=(--close)
taskset -c 0 "$bench" http "http://127.0.0.1:$port/" -c "$conns" -d $((secs + 2)) -q --json "${extra[@]}" >"$dir/load.json" &
lpid=$!
pids+=($lpid)
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
