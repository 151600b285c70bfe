#!/usr/bin/env bash
# Memory per idle keep-alive HTTP connection: edgeshard (one shard) against HAProxy (nbthread 1).
#
# For each proxy and each N, ROUNDS fresh runs of idle_mem.py (see its docstring): warm up, sample
# the proxy's VmRSS and Private_Dirty, open N keep-alive connections that complete one request each
# and stay idle, sample again. Prints one JSON line per run, then the median per (proxy, N) of
# (after - before) / N.
#
# Environment: ES_BIN (default ./build/edgeshard), HAPROXY_BIN (/usr/sbin/haproxy),
# NS ("5000 9000"; N is bounded by RLIMIT_NOFILE: edgeshard needs 2 * (N + 500) + 256 descriptors), ROUNDS (3), WAVE (200 connections opened at a time), WARM (6000 warm-up
# requests), SETTLE (2 s before each sample), PROXIES ("edgeshard haproxy"), OUT (a directory for
# configs, stderr and results; default a fresh one under /tmp).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ES_BIN="${ES_BIN:-$here/../../build/edgeshard}"
HAPROXY_BIN="${HAPROXY_BIN:-/usr/sbin/haproxy}"
NS="${NS:-5000 9000}"
ROUNDS="${ROUNDS:-3}"
WAVE="${WAVE:-200}"
WARM="${WARM:-6000}"
SETTLE="${SETTLE:-2}"
PROXIES="${PROXIES:-edgeshard haproxy}"
OUT="${OUT:-$(mktemp -d /tmp/idle-mem.XXXXXX)}"
mkdir -p "$OUT"

# every connection is a descriptor in the client and one or two in the proxy; edgeshard registers
# two direct descriptors per `maxconn` (N + 500 here) plus 256, which count against RLIMIT_NOFILE
max_n=0
for n in $NS; do (( n > max_n )) && max_n=$n; done
need=$(( 4 * max_n + 16384 ))
ulimit -n "$need" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
if (( $(ulimit -n) < 2 * max_n + 1256 )); then
    echo "idle_mem: ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)), need $((2 * max_n + 1256)) for N=$max_n" >&2
    exit 1
fi

echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; ulimit -n $(ulimit -n); out $OUT" >&2
results="$OUT/runs.jsonl"
: > "$results"
for proxy in $PROXIES; do
    case "$proxy" in
        edgeshard) bin="$ES_BIN" ;;
        haproxy) bin="$HAPROXY_BIN" ;;
        *) echo "idle_mem: unknown proxy $proxy" >&2; exit 2 ;;
    esac
    [[ -x "$bin" ]] || { echo "idle_mem: $bin is not executable" >&2; exit 2; }
    for n in $NS; do
        for r in $(seq 1 "$ROUNDS"); do
            timeout 300 python3 "$here/idle_mem.py" run "$proxy" "$bin" "$n" "$WAVE" "$WARM" "$SETTLE" \
                "$OUT/$proxy-$n-$r" | tee -a "$results"
        done
    done
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault((r["proxy"], r["n"]), []).append(r)
print(f"{'proxy':<10} {'N':>6} {'RSS B/conn':>11} {'Private_Dirty B/conn':>21} {'origin conns':>13}  (median of runs; all runs)")
for (p, n), rs in sorted(by.items()):
    rss = statistics.median(x["rss_per_conn"] for x in rs)
    dirty = statistics.median(x["dirty_per_conn"] for x in rs)
    oc = statistics.median(x["origin_conns"] for x in rs)
    print(f"{p:<10} {n:>6} {rss:>11.0f} {dirty:>21.0f} {oc:>13.0f}  "
          f"rss {[x['rss_per_conn'] for x in rs]} dirty {[x['dirty_per_conn'] for x in rs]}")
PY
