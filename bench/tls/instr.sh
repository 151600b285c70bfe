#!/usr/bin/env bash
# User-space instructions (callgrind Ir) per TLS keep-alive request, edgeshard (one shard; direct
# sealing on, and off: "es-openssl") and HAProxy 2.6 (nbthread 1), as bench/l4_instr.sh measures
# plain L4: each proxy runs under callgrind for N_LO and N_HI requests on one TLS 1.3 connection
# (AES-128-GCM, ECDSA P-256) and
#     Ir per request = (Ir(N_HI) - Ir(N_LO)) / (N_HI - N_LO)
# so start-up, the handshake and shutdown cancel out. OpenSSL's instructions are included (they run
# in the proxy's process). Tests: small = 64 B bodies; big = 1 MiB bodies (Ir per MiB).
# Counts, not times: read them with bench/tls/tls_peers.sh's CPU figures, which include the kernel.
# Env: BUILD=build, SMALL_LO=100 SMALL_HI=1100, BIG_LO=4 BIG_HI=20, SYSTEMS="es es-openssl haproxy",
# MODE (http, the default, or tcp: TLS terminated on a mode tcp frontend, the HTTP relayed as bytes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$root/build}
here=$root ES_BUILD=$BUILD
. "$root/bench/lib.sh"
SMALL_LO=${SMALL_LO:-100}; SMALL_HI=${SMALL_HI:-1100}; BIG_LO=${BIG_LO:-4}; BIG_HI=${BIG_HI:-20}
SYSTEMS=${SYSTEMS:-es es-openssl haproxy}
MODE=${MODE:-http}
dir=$(mktemp -d /tmp/es-tls-instr.XXXXXX)
trap 'bench_cleanup; rm -rf "$dir"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FE=$(port)
bench_cert "$dir/cert.pem" bench.test

cfg() {  # $1 = extra global line, $2 = origin port
  printf 'global\n    nbthread 1\n%s\ndefaults\n    mode %s\n    timeout connect 5s\n' "$1" "$MODE"
  printf '    timeout client 60s\n    timeout server 60s\nfrontend fe\n'
  printf '    bind 127.0.0.1:%s ssl crt %s%s ciphersuites TLS_AES_128_GCM_SHA256\n' "$FE" "$dir/cert.pem" \
    "$([[ $MODE == http ]] && echo ' alpn http/1.1')"
  printf '    default_backend be\nbackend be\n%b    server o 127.0.0.1:%s\n' \
    "$([[ $MODE == http ]] && echo '    http-reuse always\n')" "$2"
}

client() {  # n requests on one TLS connection, each response read whole
  python3 - "$FE" "$1" <<'PY'
import socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=120), server_hostname="bench.test")
req = b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n"
buf = b""
for _ in range(n):
    s.sendall(req)
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, buf = buf.partition(b"\r\n\r\n")
    clen = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(buf) < clen:
        buf += s.recv(1 << 20)
    buf = buf[clen:]
s.close()
PY
}
run() {  # system n origin-port -> Ir
  local sys=$1 n=$2 cmd
  case $sys in
    es) cfg "" "$3" >"$dir/es.cfg"; cmd=("$BUILD/edgeshard" -q -f "$dir/es.cfg") ;;
    es-openssl) cfg "    tune.es.ssl-direct-seal off" "$3" >"$dir/eso.cfg"; cmd=("$BUILD/edgeshard" -q -f "$dir/eso.cfg") ;;
    haproxy) cfg "" "$3" >"$dir/ha.cfg"; cmd=(haproxy -db -f "$dir/ha.cfg") ;;
  esac
  bench_callgrind_start "$dir/$sys-$n.cg" "${cmd[@]}"
  bench_wait_port "$FE" 60
  client "$n"
  bench_callgrind_ir "$dir/$sys-$n.cg"
}

echo "| test | system | Ir per request |"
echo "|---|---|---:|"
for t in small big; do
  if [[ $t == small ]]; then body=64; lo=$SMALL_LO; hi=$SMALL_HI; else body=1m; lo=$BIG_LO; hi=$BIG_HI; fi
  OP=$(port)
  "$BUILD/tools/bench/edgeshard-bench" origin --http 127.0.0.1:$OP --body-size $body --threads 1 >"$dir/origin.log" 2>&1 &
  opid=$!; bench_pids+=($opid)
  sleep 0.5
  for sys in $SYSTEMS; do
    a=$(run "$sys" "$lo" "$OP"); b=$(run "$sys" "$hi" "$OP")
    printf '| %s | %s | %d |\n' "$t" "$sys" $(( (b - a) / (hi - lo) ))
  done
  kill "$opid" 2>/dev/null || true; wait "$opid" 2>/dev/null || true
done
