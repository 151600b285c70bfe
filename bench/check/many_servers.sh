#!/usr/bin/env bash
# 10,000 servers checked every 2 s: what the checks cost and whether traffic notices them.
# edgeshard (one shard) and HAProxy (nbthread 1) each run a backend of N servers (all on one
# check target, an edgeshard-bench origin) with and without `check inter 2s`, next to a frontend
# whose traffic goes to another origin. The whole proxy is pinned to CPU 1 (edgeshard's control
# shard, which runs the checks, shares that CPU with its data shard: the worst case), the client
# and the origins to CPU 0. Per run: proxy CPU over the window (edgeshard: its control thread
# too), RSS, and the open-loop latency of RATE requests/s (edgeshard-bench, latency from the
# intended send time).
#   bench/check/many_servers.sh            # N=10000 INTER=2s KIND=tcp RATE=5000 SECS=10 ROUNDS=3
# KIND=http: option httpchk GET / (the check target answers 200).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
N=${N:-10000}
INTER=${INTER:-2s}
KIND=${KIND:-tcp}
RATE=${RATE:-5000}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
SETTLE=${SETTLE:-3}
dir=$(mktemp -d /tmp/many-servers.XXXXXX)
ulimit -n 65536 2>/dev/null || true
bench_origin "$dir" 0
load_port=$oport
bench_origin "$dir" 0 --body-size 2
check_port=$oport
hz=$(getconf CLK_TCK)

cfg() { # SYS PORT CHECKS(0|1)
  local sock="$dir/$1.sock"
  printf 'global\n    nbthread 1\n    stats socket %s level admin\n    maxconn 4000\n' "$sock"
  printf 'defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n'
  printf 'frontend fe\n    bind 127.0.0.1:%s\n    default_backend be\n' "$2"
  printf 'backend be\n    http-reuse always\n    server s 127.0.0.1:%s\n' "$load_port"
  printf 'backend many\n'
  [[ $KIND == http && $3 == 1 ]] && printf '    option httpchk GET /\n'
  local opt=""
  [[ $3 == 1 ]] && opt=" check inter $INTER"
  for i in $(seq 1 "$N"); do printf '    server m%s 127.0.0.1:%s%s\n' "$i" "$check_port" "$opt"; done
}

thread_ticks() { local f; read -r -a f < /proc/"$1"/task/"$1"/stat; echo $(( f[13] + f[14] )); }
rss_kb() { awk '/^VmRSS:/{print $2}' /proc/"$1"/status; }

out="$dir/runs.tsv"
printf 'round\tsys\tchecks\tcpu_s\tmain_cpu_s\trss_kb\tp50_us\tp99_us\tp999_us\terrors\trps\n' >"$out"
echo "# $(date -u +%FT%TZ) $(uname -r) N=$N INTER=$INTER KIND=$KIND RATE=$RATE SECS=$SECS; out $dir" >&2
for r in $(seq "$ROUNDS"); do
  for sys in edgeshard haproxy; do
    for checks in 0 1; do
      port=$(bench_random_port)
      cfg "$sys" "$port" "$checks" >"$dir/$sys-$checks.cfg"
      rm -f "$dir/$sys.sock"
      if [[ $sys == haproxy ]]; then taskset -c 1 haproxy -q -f "$dir/$sys-$checks.cfg" -db >"$dir/$sys.log" 2>&1 &
      else taskset -c 1 "$es" -f "$dir/$sys-$checks.cfg" >"$dir/$sys.log" 2>&1 & fi
      ppid=$!
      bench_pids+=("$ppid")
      bench_wait_port "$port" 20
      sleep "$SETTLE"  # the first checks spread over one interval
      c0=$(bench_cpu_ticks "$ppid"); m0=$(thread_ticks "$ppid")
      json=$(taskset -c 0 "$bench" http "http://127.0.0.1:$port/" -c 16 --rate "$RATE" -d "$SECS" -q --json)
      c1=$(bench_cpu_ticks "$ppid"); m1=$(thread_ticks "$ppid")
      rss=$(rss_kb "$ppid")
      if [[ $checks == 1 ]]; then
        up=$(echo "show stat" | socat - "$dir/$sys.sock" 2>/dev/null | awk -F, '$1=="many" && $2!="BACKEND" && $18 ~ /^UP/ {n++} END{print n+0}')
        [[ $up == "$N" ]] || echo "warning: $sys round $r: $up of $N servers UP" >&2
      fi
      kill "$ppid"; wait "$ppid" 2>/dev/null || true
      python3 - "$r" "$sys" "$checks" "$c0" "$c1" "$m0" "$m1" "$hz" "$rss" "$json" >>"$out" <<'PY'
import json, sys
r, s, chk, c0, c1, m0, m1, hz, rss, js = sys.argv[1:]
d = json.loads(js)["results"]
lat = d["latency_us"]
print("\t".join([r, s, chk, "%.3f" % ((int(c1) - int(c0)) / int(hz)), "%.3f" % ((int(m1) - int(m0)) / int(hz)), rss,
                 "%d" % lat["p50"], "%d" % lat["p99"], "%d" % lat["p99_9"], str(sum(d["errors"].values())), "%.0f" % d["rps"]]))
PY
      tail -1 "$out" >&2
    done
  done
done
python3 - "$out" "$SECS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
secs = float(sys.argv[2])
med = lambda xs: statistics.median(xs)
print("| proxy | checks | CPU % (whole proxy) | CPU % (edgeshard control thread) | RSS MB | p50 us | p99 us | p99.9 us | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for s in ("edgeshard", "haproxy"):
    for c in ("0", "1"):
        rs = [r for r in rows if r["sys"] == s and r["checks"] == c]
        if not rs:
            continue
        print(f"| {s} | {'on' if c == '1' else 'off'} | {med(float(r['cpu_s']) for r in rs) / secs * 100:.1f} | "
              f"{(med(float(r['main_cpu_s']) for r in rs) / secs * 100) if s == 'edgeshard' else float('nan'):.1f} | "
              f"{med(int(r['rss_kb']) for r in rs) / 1024:.1f} | {med(int(r['p50_us']) for r in rs)} | "
              f"{med(int(r['p99_us']) for r in rs)} | {med(int(r['p999_us']) for r in rs)} | "
              f"{sum(int(r['errors']) for r in rs)} |")
PY
echo "runs: $out" >&2
