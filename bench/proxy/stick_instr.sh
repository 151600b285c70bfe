#!/usr/bin/env bash
# User-space instructions (callgrind Ir) per HTTP request that a stick-table rate limit costs,
# edgeshard (one shard) against HAProxy 2.6 (nbthread 1) on the same configuration file, in one run:
#   - keep-alive path: N requests over 8 connections;
#   - new-connection path: N connections of one request each.
# Frontends: `plain` (no table), `track` (a table `type ip size 100k expire 30s store
# http_req_rate(10s),http_req_cnt,conn_cur`, `http-request track-sc0 src` and `http-request deny
# deny_status 429 if { sc_http_req_rate(0) gt 100000000 }`: every request is tracked, looked up,
# counted and tested, none is denied), `conn` (the same limit tracked at the connection:
# `tcp-request connection track-sc0 src`). The clients come from 64 source addresses
# (127.0.1.1-64), so the table holds 64 keys. Each runs under callgrind twice (N_LO and N_HI) and
#     Ir per request = (Ir(N_HI) - Ir(N_LO)) / (N_HI - N_LO)
# so start-up and shutdown cancel out; the table's cost is a row minus the plain one.
# The client (python, exact counts) and the origin (edgeshard-bench origin) run on CPU 0, the proxy
# on CPU 1.
# Env: KA_LO=1000 KA_HI=4000 NEW_LO=500 NEW_HI=2000 OUT=dir SYSTEMS="edgeshard haproxy"
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
KA_LO=${KA_LO:-1000} KA_HI=${KA_HI:-4000} NEW_LO=${NEW_LO:-500} NEW_HI=${NEW_HI:-2000}
dir=${OUT:-$(mktemp -d /tmp/stick-instr.XXXXXX)}
mkdir -p "$dir"
bench_origin "$dir" 0
port=$(bench_random_port)

cfg() {  # MODE(plain|track|conn): the file both proxies read
  local rules=""
  local tbl='    stick-table type ip size 100k expire 30s store http_req_rate(10s),http_req_cnt,conn_cur\n'
  local deny='    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 100000000 }\n'
  [[ $1 == track ]] && rules="$tbl    http-request track-sc0 src\n$deny"
  [[ $1 == conn ]] && rules="$tbl    tcp-request connection track-sc0 src\n$deny"
  printf "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\nfrontend fe\n    bind 127.0.0.1:%s\n$rules    default_backend be\nbackend be\n    http-reuse always\n    server s1 127.0.0.1:%s\n" \
    "$port" "$oport"
}

client() {  # MODE PATH(ka|new) N: exact requests, every response read whole
  taskset -c 0 python3 - "$port" "$1" "$2" "$3" <<'PY'
import socket, struct, sys
port, mode, path, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
def connect(i):  # from one of 64 client addresses
    s = socket.socket()
    s.bind(("127.0.1.%d" % (1 + i % 64), 0))
    s.connect(("127.0.0.1", port))
    return s
def response(s, buf):
    while True:
        h = buf.find(b"\r\n\r\n")
        if h >= 0:
            head = buf[:h].lower()
            cl = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            if len(buf) >= h + 4 + cl:
                if not head.startswith(b"http/1.1 200"):
                    raise SystemExit("not a 200: %r" % head[:40])
                return buf[h + 4 + cl:]
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed early")
        buf += d
if path == "ka":
    socks = [[connect(i), b""] for i in range(8)]
    for k in range(n):
        s = socks[k % 8]
        s[0].sendall(req)
        s[1] = response(s[0], s[1])
    for s, _ in socks:
        s.close()
else:
    for k in range(n):
        s = connect(k)
        s.sendall(req)
        response(s, b"")
        s.close()
PY
}

run() {  # SYS MODE PATH N -> Ir of the whole run
  local sys=$1 mode=$2 path=$3 n=$4 cmd
  cfg "$mode" >"$dir/$sys-$mode.cfg"
  case $sys in
    edgeshard) cmd=("$es" -f "$dir/$sys-$mode.cfg") ;;
    haproxy) cmd=(haproxy -db -f "$dir/$sys-$mode.cfg") ;;
  esac
  # taskset outside valgrind: the proxy itself is traced, pinned to CPU 1
  taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$dir/$sys-$mode-$path-$n.cg" "${cmd[@]}" \
    >"$dir/$sys-$mode-$path-$n.cg.log" 2>&1 &
  cg_pid=$!
  bench_wait_port "$port" 60 >/dev/null
  client "$mode" "$path" "$n"
  bench_callgrind_ir "$dir/$sys-$mode-$path-$n.cg"
}

printf 'proxy\tpath\ttable\tIr_per_request\n' >"$dir/results.tsv"
for path in ka new; do
  if [[ $path == ka ]]; then lo=$KA_LO hi=$KA_HI; else lo=$NEW_LO hi=$NEW_HI; fi
  for sys in ${SYSTEMS:-edgeshard haproxy}; do
    for mode in plain track conn; do
      a=$(run "$sys" "$mode" "$path" "$lo")
      b=$(run "$sys" "$mode" "$path" "$hi")
      per=$(( (b - a) / (hi - lo) ))
      printf '%s\t%s\t%s\t%s\n' "$sys" "$path" "$mode" "$per" | tee -a "$dir/results.tsv"
    done
  done
done
[[ ${SYSTEMS:-edgeshard haproxy} == *haproxy* && ${SYSTEMS:-edgeshard haproxy} == *edgeshard* ]] || { echo "raw: $dir"; exit 0; }
python3 - "$dir/results.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
ir = {(r["proxy"], r["path"], r["table"]): int(r["Ir_per_request"]) for r in rows}
print("\n| path | table | edgeshard Ir/req | +table | HAProxy Ir/req | +table | cost ratio es/ha |")
print("|---|---|---|---|---|---|---|")
for path in ("ka", "new"):
    for mode in ("plain", "track", "conn"):
        e, h = ir[("edgeshard", path, mode)], ir[("haproxy", path, mode)]
        de, dh = e - ir[("edgeshard", path, "plain")], h - ir[("haproxy", path, "plain")]
        ratio = f"{de / dh:.2f}" if mode != "plain" and dh > 0 else "-"
        print(f"| {path} | {mode} | {e} | {de if mode != 'plain' else '-'} | {h} | {dh if mode != 'plain' else '-'} | {ratio} |")
PY
echo "raw: $dir"
