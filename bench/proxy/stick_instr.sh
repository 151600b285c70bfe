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

run() {  # SYS MODE PATH N -> Ir of the whole run (the client on CPU 0: bench/proxy/exact_client.py)
  local sys=$1 mode=$2 path=$3 n=$4
  cfg "$mode" >"$dir/$sys-$mode.cfg"
  bench_cg_proxy "$sys" "$dir/$sys-$mode.cfg" "$dir/$sys-$mode-$path-$n.cg" "$port" \
    taskset -c 0 python3 "$here/bench/proxy/exact_client.py" "$port" "$path" "$n"
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
