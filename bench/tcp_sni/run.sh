#!/usr/bin/env bash
# New-connection rate through mode tcp: edgeshard without rules (plain L4), edgeshard with the SNI
# content-inspection rules of test/integ/cases/tcp_sni.py, and HAProxy 2.6 (nbthread 1) with the same
# two configurations. Each connection sends a real ClientHello (SNI a.example) and waits for its echo.
# Proxy on CPU 1, client and echo origin on CPU 0; ROUNDS rounds of DUR seconds per system, systems
# rotated per round; prints the median conns/s and the ratio to haproxy-sni.
#   bench/tcp_sni/run.sh            (BUILD=build-t DUR=4 ROUNDS=3 CONC=32)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build-t}
DUR=${DUR:-4}
ROUNDS=${ROUNDS:-3}
CONC=${CONC:-32}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
work=$(mktemp -d /tmp/es-tcpsni-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cc -O2 -Wall -o "$work/connrate" "$here/connrate.c"
python3 "$(dirname "$0")/hello.py" "$work/hello.bin"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ECHO=$(port); FE=$(port)
taskset -c 0 "$BUILD/tools/bench/edgeshard-bench" origin --http 127.0.0.1:0 --tcp-echo 127.0.0.1:$ECHO \
  >"$work/origin.log" 2>&1 &
pids+=($!)

cfg() {  # $1 = plain|sni
  cat <<CFG
global
    nbthread 1
    cpu-map 1/1 1
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:$FE
CFG
  if [[ $1 == sni ]]; then cat <<CFG
    tcp-request inspect-delay 5s
    tcp-request content accept if { req_ssl_hello_type 1 }
    tcp-request content reject
    use_backend be_a if { req.ssl_sni -i a.example }
    use_backend be_b if { req_ssl_sni -m end .b.example }
CFG
  fi
  cat <<CFG
    default_backend be_def
backend be_a
    server s 127.0.0.1:$ECHO
backend be_b
    server s 127.0.0.1:$ECHO
backend be_def
    server s 127.0.0.1:$ECHO
CFG
}
cfg plain >"$work/plain.cfg"
cfg sni >"$work/sni.cfg"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime of the whole process, in ticks

run_one() {  # $1 = system name -> prints conns/s
  local sys=$1 cmd
  case $sys in
    es-plain) cmd=("$BUILD/edgeshard" -f "$work/plain.cfg") ;;
    es-sni) cmd=("$BUILD/edgeshard" -f "$work/sni.cfg") ;;
    haproxy-plain) cmd=("$HAPROXY" -db -f "$work/plain.cfg") ;;
    haproxy-sni) cmd=("$HAPROXY" -db -f "$work/sni.cfg") ;;
  esac
  taskset -c 1 "${cmd[@]}" >"$work/$sys.log" 2>&1 &
  local p=$!
  for _ in $(seq 100); do ss -ltn | grep -q ":$FE " && break; sleep 0.05; done
  sleep 0.3
  local c0 c1 out
  c0=$(cpu_ticks "$p")
  out=$(taskset -c 0 "$work/connrate" 127.0.0.1 "$FE" "$work/hello.bin" "$DUR" "$CONC")
  c1=$(cpu_ticks "$p")
  echo "$out cpu_ticks $((c1 - c0))" | tee -a "$work/$sys.runs" >&2
  kill "$p"; wait "$p" 2>/dev/null || true
  sleep 0.5
}

systems=(es-plain es-sni haproxy-plain haproxy-sni)
for r in $(seq "$ROUNDS"); do
  n=${#systems[@]}
  for i in $(seq 0 $((n - 1))); do
    s=${systems[$(((i + r - 1) % n))]}
    echo "round $r: $s" >&2
    run_one "$s"
  done
done

python3 - "$work" "${systems[@]}" <<'PY'
import statistics, sys
work, systems = sys.argv[1], sys.argv[2:]
import os
hz = os.sysconf("SC_CLK_TCK")
med, cpu = {}, {}
for s in systems:
    rows = [l.split() for l in open(f"{work}/{s}.runs")]
    vals = [float(r[0]) for r in rows]
    # proxy CPU per connection (us): ticks over the run / connections done
    us = [int(r[-1]) / hz * 1e6 / max(1, int(r[2].lstrip("("))) for r in rows]
    med[s] = (statistics.median(vals), vals)
    cpu[s] = (statistics.median(us), us)
ref, refc = med["haproxy-sni"][0], cpu["haproxy-sni"][0]
print("| system | conns/s (median) | runs | rate vs haproxy-sni | proxy CPU us/conn (median) | runs | CPU vs haproxy-sni | CPU vs es-plain |")
print("|---|---|---|---|---|---|---|---|")
for s in systems:
    m, vals = med[s]
    c, us = cpu[s]
    print(f"| {s} | {m:.0f} | {', '.join(f'{v:.0f}' for v in vals)} | {m / ref:.2f} | {c:.1f} | "
          f"{', '.join(f'{u:.1f}' for u in us)} | {c / refc:.2f} | {c / cpu['es-plain'][0]:.2f} |")
PY
