#!/usr/bin/env bash
# l4_instr.sh - user-space instructions (callgrind Ir) per L4 connection and per MiB relayed, for
# edgeshard (one shard) and HAProxy (nbthread 1, mode tcp), same client and echo server.
#
# Method (as ../shared/bench/instr.sh does for HTTP): each proxy runs under callgrind twice, once
# with N_LO and once with N_HI units of work, and
#     per unit = (Ir(N_HI) - Ir(N_LO)) / (N_HI - N_LO)
# so start-up, configuration and shutdown cancel out. A "connection" unit is connect, 64 bytes
# each way through an echo server, close. A "MiB" unit is one MiB each way on one connection, with
# splicing off on both proxies (splice moves bytes in the kernel, which callgrind does not see).
# Counts, not times: they do not depend on the load of the box. Needs valgrind, haproxy, python3.
# Under valgrind edgeshard's shards wait in poll(2) on an eventfd registered with the ring (see
# src/shard/reactor.cpp): valgrind 3.19 would otherwise stall every thread while one sleeps in
# io_uring_enter.
# Env: N_LO=200 N_HI=1200 MB_LO=8 MB_HI=72 EDGESHARD_BIN=build/edgeshard
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N_LO=${N_LO:-200}; N_HI=${N_HI:-1200}; MB_LO=${MB_LO:-8}; MB_HI=${MB_HI:-72}
BIN=${EDGESHARD_BIN:-$here/build/edgeshard}
dir=$(mktemp -d /tmp/es-l4instr.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ECHO=$(free_port); FE=$(free_port)

# echo server (not measured): one thread per connection, echoes until EOF
python3 - "$ECHO" <<'PY' &
import socket, sys, threading
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(1024)
def h(c):
    with c:
        while True:
            b = c.recv(1 << 16)
            if not b: return
            c.sendall(b)
while True:
    c, _ = ls.accept(); threading.Thread(target=h, args=(c,), daemon=True).start()
PY
pids+=($!)

client() {  # mode n
  python3 - "$FE" "$1" "$2" <<'PY'
import socket, sys, threading
port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if mode == "conn":
    msg = b"x" * 64
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(msg); got = b""
        while len(got) < 64:
            b = s.recv(64 - len(got)); assert b, "EOF before echo"; got += b
        s.close()
else:
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    chunk = b"y" * (1 << 20); total = n << 20; got = 0
    def rd():
        global got
        while got < total:
            b = s.recv(1 << 20); assert b; got += len(b)
    t = threading.Thread(target=rd); t.start()
    for _ in range(n): s.sendall(chunk)
    t.join(); s.close()
PY
}

wait_port() { for _ in $(seq 300); do python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),timeout=1).close()" 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; return 1; }

write_cfg() {  # file extra-global-line
  cat >"$1" <<CFG
global
    nbthread 1
    $2
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen l4
    bind 127.0.0.1:$FE
    server echo 127.0.0.1:$ECHO
CFG
}
write_cfg "$dir/es.cfg" nosplice          # HAProxy copies unless told to splice
write_cfg "$dir/haproxy.cfg" "maxconn 4096"

run() {  # system mode n -> prints Ir
  local sys=$1 mode=$2 n=$3 out=$dir/$1-$2-$3.cg cmd
  case $sys in
    edgeshard) cmd=("$BIN" -q -f "$dir/es.cfg") ;;
    haproxy) cmd=(haproxy -db -f "$dir/haproxy.cfg") ;;
  esac
  valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >"$dir/$sys.log" 2>&1 &
  local vp=$!
  wait_port "$FE"
  # the port probe above is one connection; it is part of both runs, so it cancels out
  client "$mode" "$n"
  kill -TERM "$vp"; wait "$vp" || true
  awk '/^summary:|^totals:/{print $2; exit}' "$out"
}

echo "| system | Ir per connection (64 B each way) | Ir per MiB each way (copy) |"
echo "|---|---:|---:|"
for sys in haproxy edgeshard; do
  a=$(run "$sys" conn "$N_LO"); b=$(run "$sys" conn "$N_HI")
  c=$(run "$sys" bulk "$MB_LO"); d=$(run "$sys" bulk "$MB_HI")
  printf '| %s | %d | %d |\n' "$sys" $(( (b - a) / (N_HI - N_LO) )) $(( (d - c) / (MB_HI - MB_LO) ))
done
