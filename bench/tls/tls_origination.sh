#!/usr/bin/env bash
# TLS towards servers in mode tcp, against HAProxy on the same box: wrk sends plain HTTP to the proxy
# under test (edgeshard one shard, or HAProxy nbthread 1; `mode tcp`, `server ... ssl verify none`),
# which opens TLS to a TLS terminator (HAProxy, the same for both, `bind ... ssl` in mode tcp) in
# front of an edgeshard-bench origin. Only the proxy under test is measured: its CPU over the run.
# PIN: client, terminator and origin on CPU 0, the proxy under test on CPU 1.
#
#   bench/tls/tls_origination.sh          # ROUNDS=3 DUR=5 TESTS="ka big"
#
# Tests: ka  = keep-alive, 64 B bodies, wrk -t1 -c32  -> req/s, proxy CPU per request
#        big = keep-alive, 1 MiB bodies, wrk -t1 -c8  -> MB/s, proxy CPU per GB
# Each wrk connection is one L4 session, so one TLS connection to the terminator.
# Environment: ES_BIN, BENCH_BIN, HAPROXY_BIN, ROUNDS, DUR, TESTS, OUT.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ES_BIN="${ES_BIN:-$here/build/edgeshard}"
BENCH_BIN="${BENCH_BIN:-$here/build/tools/bench/edgeshard-bench}"
HAPROXY_BIN="${HAPROXY_BIN:-/usr/sbin/haproxy}"
ROUNDS="${ROUNDS:-3}"
DUR="${DUR:-5}"
TESTS="${TESTS:-ka big}"
OUT="${OUT:-$(mktemp -d /tmp/tls-orig.XXXXXX)}"
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true
for b in "$ES_BIN" "$BENCH_BIN" "$HAPROXY_BIN"; do [[ -x $b ]] || { echo "tls_origination: $b is not executable" >&2; exit 2; }; done
command -v wrk >/dev/null || { echo "tls_origination: wrk is missing (apt-get install wrk)" >&2; exit 2; }

. "$here/bench/lib.sh"  # bench_pids (stopped at exit), bench_cpu_ticks, bench_wait_port

bench_cert "$OUT/cert.pem" origin.test
hz=$(getconf CLK_TCK)

head_cfg() {  # global and defaults, the same for every process here
  printf 'global\n    nbthread 1\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n'
}
{ head_cfg; printf 'frontend term\n    bind 127.0.0.1:18591 ssl crt %s ciphersuites TLS_AES_128_GCM_SHA256\n' "$OUT/cert.pem"
  printf '    default_backend origin\nbackend origin\n    server o 127.0.0.1:18590\n'; } > "$OUT/term.cfg"
for p in edgeshard haproxy; do
  port=$([[ $p == edgeshard ]] && echo 18592 || echo 18593)
  { head_cfg; printf 'frontend fe\n    bind 127.0.0.1:%s\n    default_backend be\nbackend be\n' "$port"
    printf '    server t 127.0.0.1:18591 ssl verify none sni str(origin.test)\n'; } > "$OUT/$p.cfg"
done

results="$OUT/runs.tsv"
printf 'round\ttest\tproxy\trequests_per_s\tbytes_per_s\tcpu_s\tduration_s\n' > "$results"
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; out $OUT" >&2
for t in $TESTS; do
  case $t in
    ka) body=64; conns=32 ;;
    big) body=1m; conns=8 ;;
    *) echo "tls_origination: unknown test $t" >&2; exit 2 ;;
  esac
  taskset -c 0 "$BENCH_BIN" origin --http 127.0.0.1:18590 --body-size "$body" --threads 1 >"$OUT/origin.log" 2>&1 &
  origin=$!; bench_pids+=("$origin")
  taskset -c 0 "$HAPROXY_BIN" -f "$OUT/term.cfg" -db >"$OUT/term.log" 2>&1 &
  term=$!; bench_pids+=("$term")
  bench_wait_port 18590 && bench_wait_port 18591
  for r in $(seq 1 "$ROUNDS"); do
    for p in edgeshard haproxy; do
      if [[ $p == edgeshard ]]; then
        taskset -c 1 "$ES_BIN" -f "$OUT/$p.cfg" >"$OUT/$p.log" 2>&1 & px=$!; port=18592
      else
        taskset -c 1 "$HAPROXY_BIN" -f "$OUT/$p.cfg" -db >"$OUT/$p.log" 2>&1 & px=$!; port=18593
      fi
      bench_pids+=("$px")
      bench_wait_port "$port"
      taskset -c 0 wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true  # warm-up
      c0=$(bench_cpu_ticks "$px")
      w=$(taskset -c 0 wrk -t1 -c"$conns" -d"${DUR}s" "http://127.0.0.1:$port/")
      c1=$(bench_cpu_ticks "$px")
      kill "$px" 2>/dev/null || true; wait "$px" 2>/dev/null || true
      rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$w")
      tr=$(awk '/^Transfer\/sec:/{v=$2; u=substr(v,length(v)-1); n=v+0; m=(u=="GB")?1073741824:(u=="MB")?1048576:(u=="KB")?1024:1; printf "%.0f", n*m}' <<<"$w")
      cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN{printf "%.3f", (b-a)/hz}')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$p" "$rps" "$tr" "$cpu" "$DUR" | tee -a "$results" >&2
    done
  done
  kill "$origin" "$term" 2>/dev/null || true; wait "$origin" "$term" 2>/dev/null || true
done

python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault((r["test"], r["round"]), {})[r["proxy"]] = r
print("| test | edgeshard | HAProxy | rate ratio (median [min-max]) | CPU ratio |")
print("|---|---:|---:|---:|---:|")
for test in sorted({r["test"] for r in rows}):
    rs, cs, ev_, hv_ = [], [], [], []
    for (t, _), d in sorted(by.items()):
        if t != test or "edgeshard" not in d or "haproxy" not in d:
            continue
        e, h = d["edgeshard"], d["haproxy"]
        key = "requests_per_s" if test == "ka" else "bytes_per_s"
        ev, hv = float(e[key]), float(h[key])
        ec, hc = float(e["cpu_s"]) / ev, float(h["cpu_s"]) / hv
        ev_.append(ev); hv_.append(hv); rs.append(ev / hv); cs.append(ec / hc)
    unit = "req/s" if test == "ka" else "bytes/s"
    print(f"| {test} ({unit}) | {statistics.median(ev_):,.0f} | {statistics.median(hv_):,.0f} | "
          f"{statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}] | {statistics.median(cs):.2f} [{min(cs):.2f}-{max(cs):.2f}] |")
PY
