#!/usr/bin/env bash
# What a scrape costs the proxy with 1,000 servers: edgeshard (one shard) and HAProxy (nbthread 1) run the same
# configuration (a frontend, 10 backends of 100 servers each, no checks, a stats listen serving /metrics with
# `http-request use-service prometheus-exporter`), pinned to CPU 1; the client (socat, curl) runs on CPU 0. Per
# round and kind, K scrapes one after another: `show stat` and `show info` over the stats socket, /metrics and
# the `;csv` page over HTTP. Reported: the proxy's CPU per scrape (user + system, the whole process; edgeshard's
# control thread, which renders every answer, also alone) and the answer's size; medians over ROUNDS, and the
# ratio to HAProxy's from the same round.
#   bench/stats/scrape_cost.sh            # K=200 ROUNDS=3 BACKENDS=10 SERVERS=100
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
K=${K:-200}
ROUNDS=${ROUNDS:-3}
BACKENDS=${BACKENDS:-10}
SERVERS=${SERVERS:-100}
dir=$(mktemp -d /tmp/scrape-cost.XXXXXX)
command -v socat >/dev/null || { echo "socat is needed (apt-get install socat)" >&2; exit 1; }

cfg() { # SYS FE_PORT STATS_PORT
  printf 'global\n    nbthread 1\n    stats socket %s level admin\n    maxconn 4000\n' "$dir/$1.sock"
  printf 'defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n'
  printf 'frontend fe\n    bind 127.0.0.1:%s\n    default_backend b1\n' "$2"
  for b in $(seq 1 "$BACKENDS"); do
    printf 'backend b%s\n' "$b"
    for s in $(seq 1 "$SERVERS"); do printf '    server s%s 127.0.0.1:%s\n' "$s" $((30000 + s)); done
  done
  printf 'listen stats\n    bind 127.0.0.1:%s\n    http-request use-service prometheus-exporter if { path /metrics }\n' "$3"
  printf '    stats enable\n    stats uri /stats\n'
}

# CPU time in ns (the scheduler's run time, ns-precise: a `show info` costs less than a clock tick): the whole
# process (every thread), and its main thread (edgeshard's control shard)
proc_ns() { local t s=0; for t in /proc/"$1"/task/*/schedstat; do read -r a _ < "$t"; s=$((s + a)); done; echo "$s"; }
main_ns() { local a; read -r a _ < /proc/"$1"/task/"$1"/schedstat; echo "$a"; }

scrape() { # KIND SYS STATS_PORT -> one answer on stdout
  case $1 in
    stat) echo "show stat" | taskset -c 0 socat - "$dir/$2.sock" ;;
    info) echo "show info" | taskset -c 0 socat - "$dir/$2.sock" ;;
    metrics) taskset -c 0 curl -s "http://127.0.0.1:$3/metrics" ;;
    csv) taskset -c 0 curl -s "http://127.0.0.1:$3/stats;csv" ;;
  esac
}

out="$dir/runs.tsv"
printf 'round\tsys\tkind\tms_per_scrape\tcontrol_ms_per_scrape\tbytes\n' >"$out"
echo "# $(date -u +%FT%TZ) $(uname -r) K=$K ROUNDS=$ROUNDS servers=$((BACKENDS * SERVERS)); out $dir" >&2
for r in $(seq "$ROUNDS"); do
  for sys in edgeshard haproxy; do
    fe=$(bench_random_port); st=$(bench_random_port)
    cfg "$sys" "$fe" "$st" >"$dir/$sys.cfg"
    rm -f "$dir/$sys.sock"
    if [[ $sys == haproxy ]]; then taskset -c 1 haproxy -q -f "$dir/$sys.cfg" -db >"$dir/$sys.log" 2>&1 &
    else taskset -c 1 "$es" -f "$dir/$sys.cfg" >"$dir/$sys.log" 2>&1 & fi
    ppid=$!
    bench_pids+=("$ppid")
    bench_wait_port "$st" 20
    sleep 1
    for kind in stat info metrics csv; do
      bytes=$(scrape "$kind" "$sys" "$st" | wc -c)
      c0=$(proc_ns "$ppid"); m0=$(main_ns "$ppid")
      for _ in $(seq "$K"); do scrape "$kind" "$sys" "$st" >/dev/null; done
      c1=$(proc_ns "$ppid"); m1=$(main_ns "$ppid")
      ctl=""
      [[ $sys == edgeshard ]] && ctl=$(python3 -c "print('%.4f' % (($m1 - $m0) / 1e6 / $K))")
      printf '%s\t%s\t%s\t%.4f\t%s\t%s\n' "$r" "$sys" "$kind" \
        "$(python3 -c "print(($c1 - $c0) / 1e6 / $K)")" "$ctl" "$bytes" >>"$out"
      tail -1 "$out" >&2
    done
    kill "$ppid"; wait "$ppid" 2>/dev/null || true
  done
done
python3 - "$out" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = statistics.median
print("| scrape | edgeshard ms CPU (control thread) | HAProxy ms CPU | ratio (median of rounds) | bytes edgeshard / HAProxy |")
print("|---|---:|---:|---:|---:|")
for kind in ("stat", "info", "metrics", "csv"):
    es = [r for r in rows if r["sys"] == "edgeshard" and r["kind"] == kind]
    ha = [r for r in rows if r["sys"] == "haproxy" and r["kind"] == kind]
    if not es or not ha:
        continue
    ratios = [float(e["ms_per_scrape"]) / float(h["ms_per_scrape"]) for e, h in zip(es, ha) if float(h["ms_per_scrape"]) > 0]
    print(f"| {kind} | {med(float(r['ms_per_scrape']) for r in es):.3f} ({med(float(r['control_ms_per_scrape']) for r in es):.3f}) | "
          f"{med(float(r['ms_per_scrape']) for r in ha):.3f} | {med(ratios):.2f}x | {es[0]['bytes']} / {ha[0]['bytes']} |")
PY
echo "runs: $out" >&2
