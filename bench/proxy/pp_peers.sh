#!/usr/bin/env bash
# Throughput and CPU per request behind a PROXY-protocol sender, edgeshard (one shard) against
# HAProxy 2.6 (nbthread 1) on the same configuration file (`bind ... accept-proxy`), alternating in
# each round: edgeshard-bench opens every connection with a PROXY header (--proxy-header), one
# request per connection (--close, the path where the header costs most) and keep-alive. The proxy
# runs on CPU 1, the client and the origin on CPU 0. Medians of ROUNDS, and their ratios.
# Env: ROUNDS=3 DUR=5 CONNS=32 HEADER=v1 OUT=dir
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
ROUNDS=${ROUNDS:-3} DUR=${DUR:-5} CONNS=${CONNS:-32} HEADER=${HEADER:-v1}
dir=${OUT:-$(mktemp -d /tmp/pp-peers.XXXXXX)}
mkdir -p "$dir"
bench_origin "$dir" 0
port=$(bench_random_port)
printf 'global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\nfrontend fe\n    bind 127.0.0.1:%s accept-proxy\n    default_backend be\nbackend be\n    http-reuse always\n    server s1 127.0.0.1:%s\n' \
  "$port" "$oport" >"$dir/proxy.cfg"
hz=$(getconf CLK_TCK)
printf 'round\ttest\tproxy\trequests_per_s\tcpu_us_per_request\n' >"$dir/results.tsv"
for r in $(seq "$ROUNDS"); do
  for test in close ka; do
    for sys in edgeshard haproxy; do
      case $sys in
        edgeshard) taskset -c 1 "$es" -f "$dir/proxy.cfg" >"$dir/$sys.log" 2>&1 & ;;
        haproxy) taskset -c 1 haproxy -db -f "$dir/proxy.cfg" >"$dir/$sys.log" 2>&1 & ;;
      esac
      pid=$!
      bench_wait_port "$port" 10
      opt=()
      [[ $test == close ]] && opt=(--close)
      t0=$(bench_cpu_ticks "$pid")
      "$bench" http "http://127.0.0.1:$port/" -c "$CONNS" -d "$DUR" --pin 0 --proxy-header "$HEADER" "${opt[@]}" \
        --json -q >"$dir/$sys-$test-$r.json"
      t1=$(bench_cpu_ticks "$pid")
      kill "$pid"; wait "$pid" 2>/dev/null || true
      python3 - "$dir/$sys-$test-$r.json" "$((t1 - t0))" "$hz" "$r" "$test" "$sys" >>"$dir/results.tsv" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["results"]
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
n = j["responses"] if "responses" in j else j["requests"]
rps = n / j["elapsed_s"]
print(f"{sys.argv[4]}\t{sys.argv[5]}\t{sys.argv[6]}\t{rps:.0f}\t{ticks / hz * 1e6 / max(n, 1):.2f}")
PY
      tail -1 "$dir/results.tsv"
    done
  done
done
python3 - "$dir/results.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("\n| test | edgeshard req/s | HAProxy req/s | ratio | edgeshard CPU us/req | HAProxy CPU us/req | ratio |")
print("|---|---|---|---|---|---|---|")
for test in ("close", "ka"):
    med = {}
    for sys_ in ("edgeshard", "haproxy"):
        rs = [r for r in rows if r["test"] == test and r["proxy"] == sys_]
        med[sys_] = (statistics.median(float(r["requests_per_s"]) for r in rs),
                     statistics.median(float(r["cpu_us_per_request"]) for r in rs))
    e, h = med["edgeshard"], med["haproxy"]
    print(f"| {test} | {e[0]:.0f} | {h[0]:.0f} | {e[0] / h[0]:.2f} | {e[1]:.2f} | {h[1]:.2f} | {e[1] / h[1]:.2f} |")
PY
echo "raw: $dir"
