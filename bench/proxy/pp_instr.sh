#!/usr/bin/env bash
# User-space instructions (callgrind Ir) per HTTP request that the PROXY protocol costs, edgeshard
# (one shard) against HAProxy 2.6 (nbthread 1) on the same configuration file, in one run:
#   - keep-alive path: N requests over 8 connections, each connection opened by a PROXY header
#     (the header is parsed once per connection, its cost spread over the requests);
#   - new-connection path: N connections of one request each, every one opened by a header.
# For each proxy and path, three frontends: no header (plain bind), v1 and v2 headers
# (`bind ... accept-proxy`); each runs under callgrind twice (N_LO and N_HI requests) and
#     Ir per request = (Ir(N_HI) - Ir(N_LO)) / (N_HI - N_LO)
# so start-up and shutdown cancel out; the PROXY cost is the v1/v2 figure minus the plain one.
# The client (python, exact counts, header and request in one send as a load balancer in front
# sends them) and the origin (edgeshard-bench origin) run on CPU 0, the proxy on CPU 1.
# Env: KA_LO=1000 KA_HI=4000 NEW_LO=500 NEW_HI=2000 OUT=dir SYSTEMS="edgeshard haproxy"
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
KA_LO=${KA_LO:-1000} KA_HI=${KA_HI:-4000} NEW_LO=${NEW_LO:-500} NEW_HI=${NEW_HI:-2000}
dir=${OUT:-$(mktemp -d /tmp/pp-instr.XXXXXX)}
mkdir -p "$dir"
bench_origin "$dir" 0
port=$(bench_random_port)

cfg() {  # MODE(plain|v1|v2): the file both proxies read
  local ap=""
  [[ $1 != plain ]] && ap=" accept-proxy"
  printf 'global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\nfrontend fe\n    bind 127.0.0.1:%s%s\n    default_backend be\nbackend be\n    http-reuse always\n    server s1 127.0.0.1:%s\n' \
    "$port" "$ap" "$oport"
}

client() {  # MODE PATH(ka|new) N: exact requests, every response read whole
  taskset -c 0 python3 - "$port" "$1" "$2" "$3" <<'PY'
import socket, struct, sys
port, mode, path, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
def header(i):
    if mode == "v1":
        return b"PROXY TCP4 192.0.2.10 198.51.100.1 %d 80\r\n" % (10000 + i % 50000)
    if mode == "v2":
        addr = socket.inet_aton("192.0.2.10") + socket.inet_aton("198.51.100.1") + struct.pack("!HH", 10000 + i % 50000, 80)
        return b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack("!H", len(addr)) + addr
    return b""
def response(s, buf):
    while True:
        h = buf.find(b"\r\n\r\n")
        if h >= 0:
            head = buf[:h].lower()
            cl = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            if len(buf) >= h + 4 + cl:
                return buf[h + 4 + cl:]
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed early")
        buf += d
if path == "ka":
    socks = []
    for i in range(8):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(header(i))
        socks.append([s, b""])
    for k in range(n):
        s = socks[k % 8]
        s[0].sendall(req)
        s[1] = response(s[0], s[1])
    for s, _ in socks:
        s.close()
else:
    for k in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(header(k) + req)
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

printf 'proxy\tpath\theader\tIr_per_request\n' >"$dir/results.tsv"
for path in ka new; do
  if [[ $path == ka ]]; then lo=$KA_LO hi=$KA_HI; else lo=$NEW_LO hi=$NEW_HI; fi
  for sys in ${SYSTEMS:-edgeshard haproxy}; do
    for mode in plain v1 v2; do
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
ir = {(r["proxy"], r["path"], r["header"]): int(r["Ir_per_request"]) for r in rows}
print("\n| path | header | edgeshard Ir/req | +PROXY | HAProxy Ir/req | +PROXY | cost ratio es/ha |")
print("|---|---|---|---|---|---|---|")
for path in ("ka", "new"):
    for mode in ("plain", "v1", "v2"):
        e, h = ir[("edgeshard", path, mode)], ir[("haproxy", path, mode)]
        de, dh = e - ir[("edgeshard", path, "plain")], h - ir[("haproxy", path, "plain")]
        ratio = f"{de / dh:.2f}" if mode != "plain" and dh > 0 else "-"
        print(f"| {path} | {mode} | {e} | {de if mode != 'plain' else '-'} | {h} | {dh if mode != 'plain' else '-'} | {ratio} |")
PY
echo "raw: $dir"
