#!/usr/bin/env bash
# User-space instructions (callgrind Ir) per L4 session that content rules cost, edgeshard (one shard) against
# HAProxy 2.6 (nbthread 1) on the same configuration file, in one run. A `mode tcp` frontend passes each
# connection to the bench origin (an HTTP server): the client opens a connection, sends one request, reads
# the response whole and closes, N times. Three configurations:
#   plain     `default_backend be`;
#   response  the backend holds the server's first bytes for its `tcp-response content` rules:
#             `tcp-response inspect-delay 1s`, `tcp-response content accept if { res.payload(0,5) -m str HTTP/ }`,
#             `tcp-response content reject`;
#   request   the backend's own `tcp-request content` rules on the client's bytes: `tcp-request inspect-delay 1s`,
#             `tcp-request content accept if { req.payload(0,4) -m str "GET " }`, `tcp-request content reject`.
# Each runs under callgrind twice (N_LO and N_HI sessions): Ir per session = (Ir(N_HI) - Ir(N_LO)) / (N_HI - N_LO),
# so start-up and shutdown cancel out. The client (python, exact counts) and the origin run on CPU 0, the
# proxy on CPU 1.
# Env: N_LO=300 N_HI=1200 OUT=dir SYSTEMS="edgeshard haproxy"
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
N_LO=${N_LO:-300} N_HI=${N_HI:-1200}
dir=${OUT:-$(mktemp -d /tmp/l4-rules-instr.XXXXXX)}
mkdir -p "$dir"
bench_origin "$dir" 0
port=$(bench_random_port)

cfg() {  # MODE(plain|response|request): the file both proxies read
  local rules=""
  [[ $1 == response ]] && rules='    tcp-response inspect-delay 1s\n    tcp-response content accept if { res.payload(0,5) -m str HTTP/ }\n    tcp-response content reject\n'
  [[ $1 == request ]] && rules='    tcp-request inspect-delay 1s\n    tcp-request content accept if { req.payload(0,4) -m str "GET " }\n    tcp-request content reject\n'
  printf "global\n    nbthread 1\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\nfrontend fe\n    bind 127.0.0.1:%s\n    default_backend be\nbackend be\n$rules    server s1 127.0.0.1:%s\n" \
    "$port" "$oport"
}

client() {  # N: sessions of one request each, every response read whole
  taskset -c 0 python3 - "$port" "$1" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
req = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
for k in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    if not buf.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"session {k}: unexpected answer {buf[:40]!r}")
    s.close()
PY
}

printf 'proxy\tmode\tIr_per_session\n' >"$dir/results.tsv"
for sys in ${SYSTEMS:-edgeshard haproxy}; do
  for mode in plain response request; do
    cfg "$mode" >"$dir/$sys-$mode.cfg"
    a=$(bench_cg_proxy "$sys" "$dir/$sys-$mode.cfg" "$dir/$sys-$mode-$N_LO.cg" "$port" client "$N_LO")
    b=$(bench_cg_proxy "$sys" "$dir/$sys-$mode.cfg" "$dir/$sys-$mode-$N_HI.cg" "$port" client "$N_HI")
    per=$(( (b - a) / (N_HI - N_LO) ))
    printf '%s\t%s\t%s\n' "$sys" "$mode" "$per" | tee -a "$dir/results.tsv"
  done
done
[[ ${SYSTEMS:-edgeshard haproxy} == *haproxy* && ${SYSTEMS:-edgeshard haproxy} == *edgeshard* ]] || { echo "raw: $dir"; exit 0; }
python3 - "$dir/results.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
ir = {(r["proxy"], r["mode"]): int(r["Ir_per_session"]) for r in rows}
print("\n| mode | edgeshard Ir/session | +rules | HAProxy Ir/session | +rules | cost ratio es/ha |")
print("|---|---|---|---|---|---|")
for mode in ("plain", "response", "request"):
    e, h = ir[("edgeshard", mode)], ir[("haproxy", mode)]
    de, dh = e - ir[("edgeshard", "plain")], h - ir[("haproxy", "plain")]
    ratio = f"{de / dh:.2f}" if mode != "plain" and dh > 0 else "-"
    print(f"| {mode} | {e} | {de if mode != 'plain' else '-'} | {h} | {dh if mode != 'plain' else '-'} | {ratio} |")
PY
echo "raw: $dir"
