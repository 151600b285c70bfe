#!/usr/bin/env bash
# TLS termination against HAProxy on the same box: edgeshard (one shard) and HAProxy (nbthread 1)
# terminate TLS with the same certificate (ECDSA P-256), the same TLS 1.3 suite and the same origin;
# wrk drives keep-alive HTTPS. PIN=split: client and origin on CPU 0, the proxy on CPU 1.
#
#   bench/tls/tls_peers.sh                 # ROUNDS=3 DUR=5, tests "ka big"
#
# Tests: ka  = keep-alive, 64 B bodies, wrk -t1 -c64  -> req/s, proxy CPU per request
#        big = keep-alive, 1 MiB bodies, wrk -t1 -c16 -> MB/s, proxy CPU per GB
#        full-ec / full-rsa = a full handshake per request (ECDSA P-256 / RSA 2048 certificate),
#              edgeshard-bench --close --no-resume -c32 -> handshakes/s, proxy CPU per handshake
#        resumed = a resumed TLS 1.3 handshake per request (tickets), edgeshard-bench --close -c32
#        idle = memory per idle TLS keep-alive connection (N=IDLE_N, default 4000): RSS growth of the
#              proxy with N TLS connections open, each after one request
# Each round runs every proxy once per test, interleaved; the summary gives per-round ratios
# (edgeshard / HAProxy) and their median. Proxy CPU is utime+stime of its process over the run;
# for the keep-alive tests a second table splits it into user space and kernel (stime).
# Environment: ES_BIN (build/edgeshard), BENCH_BIN (build/tools/bench/edgeshard-bench),
# HAPROXY_BIN (/usr/sbin/haproxy), ROUNDS, DUR, TESTS, OUT (a directory; default a fresh one),
# PROXIES (default "edgeshard haproxy"; "es-openssl" is edgeshard with tune.es.ssl-direct-seal off:
# OpenSSL makes the records after the handshake too), MODE (http, the default, or tcp: the proxies
# terminate TLS on a mode tcp frontend and relay the plaintext HTTP to the origin as bytes).
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
ES_BIN="${ES_BIN:-$here/build/edgeshard}"
BENCH_BIN="${BENCH_BIN:-$here/build/tools/bench/edgeshard-bench}"
HAPROXY_BIN="${HAPROXY_BIN:-/usr/sbin/haproxy}"
ROUNDS="${ROUNDS:-3}"
DUR="${DUR:-5}"
TESTS="${TESTS:-ka big}"
OUT="${OUT:-$(mktemp -d /tmp/tls-peers.XXXXXX)}"
SUITE="${SUITE:-TLS_AES_128_GCM_SHA256}"
PROXIES="${PROXIES:-edgeshard haproxy}"
MODE="${MODE:-http}"
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || true
for b in "$ES_BIN" "$BENCH_BIN" "$HAPROXY_BIN"; do [[ -x $b ]] || { echo "tls_peers: $b is not executable" >&2; exit 2; }; done
command -v wrk >/dev/null || { echo "tls_peers: wrk is missing (apt-get install wrk)" >&2; exit 2; }

. "$here/bench/lib.sh"  # bench_cert (its exit trap is replaced by ours below)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

bench_cert "$OUT/cert-ec.pem" bench.test
bench_cert "$OUT/cert-rsa.pem" bench.test rsa
cp "$OUT/cert-ec.pem" "$OUT/cert.pem"
IDLE_N="${IDLE_N:-4000}"

ticks() { local f; read -r -a f < /proc/"$1"/stat; echo $(( f[13] + f[14] )); }
sys_ticks() { local f; read -r -a f < /proc/"$1"/stat; echo "${f[14]}"; }  # the kernel's part
hz=$(getconf CLK_TCK)

start_origin() { # body size -> origin port (echo), pid in ORIGIN_PID
  taskset -c 0 "$BENCH_BIN" origin --http 127.0.0.1:18490 --body-size "$1" --threads 1 >"$OUT/origin.log" 2>&1 &
  ORIGIN_PID=$!; pids+=("$ORIGIN_PID")
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18490/ && return; sleep 0.1; done
  echo "tls_peers: origin did not start" >&2; exit 1
}

write_configs() {
  cat > "$OUT/es.cfg" <<CFG
global
    nbthread 1
defaults
    mode $MODE
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:18443 ssl crt $OUT/cert.pem alpn http/1.1 ciphersuites $SUITE
    default_backend be
backend be
    http-reuse always
    server o 127.0.0.1:18490
CFG
  sed -e 's/18443/18444/' -e 's/^global$/global\n    tune.ssl.default-dh-param 2048/' "$OUT/es.cfg" > "$OUT/haproxy.cfg"
  sed -e 's/18443/18445/' -e 's/^global$/global\n    tune.es.ssl-direct-seal off/' "$OUT/es.cfg" > "$OUT/es-openssl.cfg"
}

start_proxy() { # name -> PROXY_PID
  case $1 in
    edgeshard) taskset -c 1 "$ES_BIN" -f "$OUT/es.cfg" >"$OUT/es.log" 2>&1 & PROXY_PID=$!; PORT=18443 ;;
    es-openssl) taskset -c 1 "$ES_BIN" -f "$OUT/es-openssl.cfg" >"$OUT/es-openssl.log" 2>&1 & PROXY_PID=$!; PORT=18445 ;;
    haproxy) taskset -c 1 "$HAPROXY_BIN" -f "$OUT/haproxy.cfg" -db >"$OUT/haproxy.log" 2>&1 & PROXY_PID=$!; PORT=18444 ;;
  esac
  pids+=("$PROXY_PID")
  for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/" && return; sleep 0.1; done
  echo "tls_peers: $1 did not start (see $OUT)" >&2; exit 1
}

stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; }

results="$OUT/runs.tsv"
printf 'round\ttest\tproxy\trequests_per_s\tbytes_per_s\tcpu_s\tduration_s\tsys_s\n' > "$results"
write_configs

rss_kb() { awk '/^VmRSS:/{print $2}' /proc/"$1"/status; }
# edgeshard-bench https load: args... -> "req/s cpu_s resumed handshakes" on stdout
bench_run() {
  local json c0 c1
  c0=$(ticks "$PROXY_PID")
  json=$(taskset -c 0 "$BENCH_BIN" http "https://127.0.0.1:$PORT/" -t 1 -d "$DUR" --json "$@" 2>/dev/null)
  c1=$(ticks "$PROXY_PID")
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])["results"]
t = d.get("tls", {})
print("%.1f %.3f %d %d" % (d["rps"], (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4]), t.get("resumed", 0), t.get("handshakes", 0)))
' "$json" "$c0" "$c1" "$hz"
}
# N idle TLS keep-alive connections, one request each; prints the proxy's RSS growth in bytes per connection
idle_run() {
  python3 - "$PORT" "$IDLE_N" "$PROXY_PID" <<'PY'
import socket, ssl, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) * 1024
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
warm = []
def open_one():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="bench.test")
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, _, body = buf.partition(b"\r\n\r\n")
    clen = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < clen:
        body += s.recv(65536)
    return s
for _ in range(200):
    warm.append(open_one())
time.sleep(1.5)
base = rss()
conns = [open_one() for _ in range(n)]
time.sleep(1.5)
print(f"{(rss() - base) / n:.0f}")
for c in conns + warm:
    c.close()
PY
}
echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) CPUs; suite $SUITE; mode $MODE; out $OUT" >&2
for t in $TESTS; do
  case $t in
    ka) body=64; conns=64 ;;
    big) body=1m; conns=16 ;;
    full-ec|resumed|idle) body=64; cp "$OUT/cert-ec.pem" "$OUT/cert.pem" ;;
    full-rsa) body=64; cp "$OUT/cert-rsa.pem" "$OUT/cert.pem" ;;
    *) echo "tls_peers: unknown test $t" >&2; exit 2 ;;
  esac
  start_origin "$body"
  for r in $(seq 1 "$ROUNDS"); do
    for p in $PROXIES; do
      start_proxy "$p"
      if [[ $t == full-* || $t == resumed ]]; then
        extra=(--close -c 32); [[ $t == full-* ]] && extra+=(--no-resume)
        taskset -c 0 "$BENCH_BIN" http "https://127.0.0.1:$PORT/" -t 1 -d 1 "${extra[@]}" >/dev/null 2>&1 || true
        read -r rps cpu resumed hs < <(bench_run "${extra[@]}")
        stop_proxy
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$p" "$rps" "$resumed/$hs" "$cpu" "$DUR" | tee -a "$results" >&2
        continue
      fi
      if [[ $t == idle ]]; then
        per=$(idle_run)
        stop_proxy
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$p" "0" "$per" "0" "0" | tee -a "$results" >&2
        continue
      fi
      taskset -c 0 wrk -t1 -c"$conns" -d1s "https://127.0.0.1:$PORT/" >/dev/null 2>&1 || true  # warm-up
      c0=$(ticks "$PROXY_PID"); k0=$(sys_ticks "$PROXY_PID")
      w=$(taskset -c 0 wrk -t1 -c"$conns" -d"${DUR}s" "https://127.0.0.1:$PORT/")
      c1=$(ticks "$PROXY_PID"); k1=$(sys_ticks "$PROXY_PID")
      stop_proxy
      rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$w")
      tr=$(awk '/^Transfer\/sec:/{v=$2; u=substr(v,length(v)-1); n=v+0; m=(u=="GB")?1073741824:(u=="MB")?1048576:(u=="KB")?1024:1; printf "%.0f", n*m}' <<<"$w")
      cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN{printf "%.3f", (b-a)/hz}')
      sys=$(awk -v a="$k0" -v b="$k1" -v hz="$hz" 'BEGIN{printf "%.3f", (b-a)/hz}')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$p" "$rps" "$tr" "$cpu" "$DUR" "$sys" | tee -a "$results" >&2
    done
  done
  kill "$ORIGIN_PID" 2>/dev/null || true; wait "$ORIGIN_PID" 2>/dev/null || true
done

python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows:
    by.setdefault((r["test"], r["round"]), {})[r["proxy"]] = r
print("| test | proxy | value | HAProxy | ratio (median [min-max] of rounds) | CPU ratio |")
print("|---|---|---:|---:|---:|---:|")
for test, me in sorted({(r["test"], r["proxy"]) for r in rows if r["proxy"] != "haproxy"}):
    rs, cs, es_v, ha_v = [], [], [], []
    for (t, _), d in sorted(by.items()):
        if t != test or me not in d or "haproxy" not in d:
            continue
        e, h = d[me], d["haproxy"]
        if test == "idle":
            ev, hv = float(e["bytes_per_s"]), float(h["bytes_per_s"])  # bytes per idle connection
            ec = hc = 1.0
        elif test in ("ka", "full-ec", "full-rsa", "resumed"):
            ev, hv = float(e["requests_per_s"]), float(h["requests_per_s"])
            ec, hc = float(e["cpu_s"]) / (ev * float(e["duration_s"])), float(h["cpu_s"]) / (hv * float(h["duration_s"]))
        else:
            ev, hv = float(e["bytes_per_s"]) / 1e6, float(h["bytes_per_s"]) / 1e6
            ec, hc = float(e["cpu_s"]) / (ev * float(e["duration_s"])), float(h["cpu_s"]) / (hv * float(h["duration_s"]))
        es_v.append(ev); ha_v.append(hv); rs.append(ev / hv); cs.append(ec / hc)
    unit = {"ka": "req/s", "big": "MB/s", "idle": "bytes per idle TLS connection"}.get(test, "handshakes/s")
    if not rs:
        continue
    print(f"| {test} ({unit}) | {me} | {statistics.median(es_v):,.0f} | {statistics.median(ha_v):,.0f} | "
          f"{statistics.median(rs):.2f} [{min(rs):.2f}-{max(rs):.2f}] | "
          f"{statistics.median(cs):.2f} [{min(cs):.2f}-{max(cs):.2f}] |")
# keep-alive tests: the CPU per request or per GB split into user space and the kernel
split = []
for test, me in sorted({(r["test"], r["proxy"]) for r in rows if r["proxy"] != "haproxy" and r["test"] in ("ka", "big")}):
    us, ks = [], []
    for (t, _), d in sorted(by.items()):
        if t != test or me not in d or "haproxy" not in d or not d[me].get("sys_s"):
            continue
        e, h = d[me], d["haproxy"]
        key = "requests_per_s" if test == "ka" else "bytes_per_s"
        ew, hw = float(e[key]), float(h[key])  # the same duration: per unit of work
        eu, hu = (float(e["cpu_s"]) - float(e["sys_s"])) / ew, (float(h["cpu_s"]) - float(h["sys_s"])) / hw
        ek, hk = float(e["sys_s"]) / ew, float(h["sys_s"]) / hw
        us.append(eu / hu); ks.append(ek / hk)
    if us:
        split.append(f"| {test} | {me} | {statistics.median(us):.2f} [{min(us):.2f}-{max(us):.2f}] | "
                     f"{statistics.median(ks):.2f} [{min(ks):.2f}-{max(ks):.2f}] |")
if split:
    print()
    print("| test | proxy | user-space CPU ratio | kernel CPU ratio |")
    print("|---|---|---:|---:|")
    print("\n".join(split))
PY
