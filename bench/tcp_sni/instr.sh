#!/usr/bin/env bash
# User-space instructions (callgrind Ir) per new connection through mode tcp, with and without the SNI
# content-inspection rules, edgeshard (one shard) and HAProxy 2.6 (nbthread 1), as bench/l4_instr.sh
# measures plain L4: each proxy runs under callgrind with N_LO and N_HI connections and
#     Ir per connection = (Ir(N_HI) - Ir(N_LO)) / (N_HI - N_LO)
# so start-up and shutdown cancel out. A connection: connect, send a real ClientHello (SNI a.example,
# 517 bytes from Python's OpenSSL), read its echo back, close. Counts, not times: independent of the load
# of the box (read them with the CPU figures of run.sh, which include the kernel).
# Env: N_LO=200 N_HI=1200 RUNS=1 BUILD=build-t
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build-t}
N_LO=${N_LO:-200}; N_HI=${N_HI:-1200}; RUNS=${RUNS:-1}
dir=$(mktemp -d /tmp/es-tcpsni-instr.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ECHO=$(port); FE=$(port)

python3 "$(dirname "$0")/hello.py" "$dir/hello.bin"
"$BUILD/tools/bench/edgeshard-bench" origin --http 127.0.0.1:0 --tcp-echo 127.0.0.1:$ECHO >"$dir/origin.log" 2>&1 &
pids+=($!)

cfg() {  # $1 = plain|sni
  printf 'global\n    nbthread 1\n    maxconn 4096\ndefaults\n    mode tcp\n    timeout connect 5s\n'
  printf '    timeout client 60s\n    timeout server 60s\nfrontend fe\n    bind 127.0.0.1:%s\n' "$FE"
  if [[ $1 == sni ]]; then
    printf '    tcp-request inspect-delay 5s\n    tcp-request content accept if { req_ssl_hello_type 1 }\n'
    printf '    tcp-request content reject\n    use_backend be_a if { req.ssl_sni -i a.example }\n'
    printf '    use_backend be_b if { req_ssl_sni -m end .b.example }\n'
  fi
  printf '    default_backend be_def\n'
  for b in be_a be_b be_def; do printf 'backend %s\n    server s 127.0.0.1:%s\n' "$b" "$ECHO"; done
}
cfg plain >"$dir/plain.cfg"; cfg sni >"$dir/sni.cfg"

client() {
  python3 - "$FE" "$dir/hello.bin" "$1" <<'PY'
import socket, sys
port, hello, n = int(sys.argv[1]), open(sys.argv[2], "rb").read(), int(sys.argv[3])
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(hello); got = 0
    while got < len(hello):
        b = s.recv(65536); assert b, "EOF before the echo"; got += len(b)
    s.close()
PY
}
wait_port() { for _ in $(seq 300); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$FE),timeout=1).close()" 2>/dev/null && return 0; sleep 0.2; done; return 1; }

run() {  # system n -> Ir
  local sys=$1 n=$2 out=$dir/$1-$2.cg cmd
  case $sys in
    es-plain) cmd=("$BUILD/edgeshard" -q -f "$dir/plain.cfg") ;;
    es-sni) cmd=("$BUILD/edgeshard" -q -f "$dir/sni.cfg") ;;
    haproxy-plain) cmd=(haproxy -db -f "$dir/plain.cfg") ;;
    haproxy-sni) cmd=(haproxy -db -f "$dir/sni.cfg") ;;
  esac
  valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >"$dir/$sys.log" 2>&1 &
  local vp=$!
  wait_port
  client "$n"
  kill -TERM "$vp"; wait "$vp" || true
  awk '/^summary:|^totals:/{print $2; exit}' "$out"
}

echo "| run | system | Ir per connection |"
echo "|---|---|---:|"
for r in $(seq "$RUNS"); do
  for sys in es-plain es-sni haproxy-plain haproxy-sni; do
    a=$(run "$sys" "$N_LO"); b=$(run "$sys" "$N_HI")
    printf '| %d | %s | %d |\n' "$r" "$sys" $(( (b - a) / (N_HI - N_LO) ))
  done
done
