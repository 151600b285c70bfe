#!/usr/bin/env bash
# User-space instructions (callgrind Ir) per HTTP request that one feature costs, edgeshard (one
# shard) against HAProxy 2.6 (nbthread 1) on the same configuration file, in one run, keep-alive
# path (N requests over 8 connections). FEATURE picks the pair of configurations:
#   capture  both log every request (`option httplog` to a UDP target on 127.0.0.1 nobody reads);
#            `plain` has no capture, `capture` has `capture request header Host len 32`, `capture
#            request header User-Agent len 64`, `capture response header Content-Type len 32`,
#            `capture cookie SID len 32` (the requests carry a User-Agent and a Cookie with SID);
#   map      `plain` routes with `default_backend be`, `map` with `use_backend
#            %[req.hdr(host),lower,map(<dir>/hosts.map,be)]` over a map of 1000 host names (the
#            request's `Host: Bench.Example` maps to `be`): fetch, lower, look up, resolve by name.
#   rewrite  `rewrite` adds a set of rewrites real files use on every request: `http-request
#            replace-path ^/api/(.*)$ /\1`, `set-query v=2&%[query]`, `replace-header User-Agent
#            ^capture-bench/(.*)$ bench/\1`, `replace-value Cookie ^SID=(.*)$ sid=\1`, `http-response
#            replace-value Content-Type ^text/plain$ text/plain;charset=utf-8`, `set-status 200 reason Fine`,
#            `http-after-response set-header X-Served %[status]` (requests to /api/items?x=1).
#   convert  `convert` adds typed converters and fetches real files use: `http-request set-header X-H
#            %[src,crc32]`, `X-B %[base32+src,hex]`, `X-J %[req.hdr(user-agent),json]`, `X-C
#            %[req.hdr_cnt,mul(2)]`, `X-M %[src,ipmask(24)]`, `X-S %[req.hdr(cookie),sha1,hex]`.
#   hash     both backends have four servers (the same origin); `plain` balances them roundrobin, `hash`
#            with `balance uri` + `hash-type consistent` (HAProxy's points and sdbm + avalanche), requests to
#            /objects/1234/item-5678.jpg?v=1: the key's hash and the ring's look-up per request.
#   upgrade  `upgrade` is a `mode tcp` frontend that inspects (`tcp-request inspect-delay 5s`, `tcp-request
#            content accept if HTTP`, `use_backend be if HTTP`) and hands the connection to the mode http
#            backend (HAProxy's upgrade to HTTP; edgeshard: the L4 session passes it to the HTTP proxy); `plain`
#            is the mode http frontend. Measured on the keep-alive path and with one connection per request
#            (PATHS defaults to "ka new" for it): the inspection and the hand-over are paid per connection.
# Each configuration runs under callgrind twice (N_LO and N_HI requests): Ir per request =
# (Ir(N_HI) - Ir(N_LO)) / (N_HI - N_LO), so start-up and shutdown cancel out. The client (python,
# exact counts) and the origin run on CPU 0, the proxy on CPU 1.
# Env: FEATURE=capture|map|rewrite|convert|hash|upgrade KA_LO=500 KA_HI=2000 OUT=dir SYSTEMS="edgeshard haproxy"
#      PATHS="ka" (ka and/or new; upgrade: "ka new")
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/bench/lib.sh"
KA_LO=${KA_LO:-500} KA_HI=${KA_HI:-2000} FEATURE=${FEATURE:-capture}
case $FEATURE in capture | map | rewrite | convert | hash | upgrade) ;; *) echo "FEATURE must be capture, map, rewrite, convert, hash or upgrade" >&2; exit 2 ;; esac
PATHS=${PATHS:-$([[ $FEATURE == upgrade ]] && echo "ka new" || echo ka)}
dir=${OUT:-$(mktemp -d /tmp/feature-instr.XXXXXX)}
mkdir -p "$dir"
bench_origin "$dir" 0
port=$(bench_random_port)
lport=$(bench_random_port)  # the log target: nothing listens (UDP datagrams are dropped)

cfg() {  # MODE(plain|capture|map): the file both proxies read
  local rules="" logs=""
  [[ $FEATURE == capture ]] && logs="    log 127.0.0.1:$lport local0\n    option httplog\n"
  [[ $1 == capture ]] && rules='    capture request header Host len 32\n    capture request header User-Agent len 64\n    capture response header Content-Type len 32\n    capture cookie SID len 32\n'
  [[ $1 == map ]] && rules="    use_backend %%[req.hdr(host),lower,map($dir/hosts.map,be)]\n"
  [[ $1 == rewrite ]] && rules='    http-request replace-path ^/api/(.*)$ /\\1\n    http-request set-query v=2&%%[query]\n    http-request replace-header User-Agent ^capture-bench/(.*)$ bench/\\1\n    http-request replace-value Cookie ^SID=(.*)$ sid=\\1\n    http-response replace-value Content-Type ^text/plain$ text/plain;charset=utf-8\n    http-response set-status 200 reason Fine\n    http-after-response set-header X-Served %%[status]\n'
  [[ $1 == convert ]] && rules='    http-request set-header X-H %%[src,crc32]\n    http-request set-header X-B %%[base32+src,hex]\n    http-request set-header X-J %%[req.hdr(user-agent),json]\n    http-request set-header X-C %%[req.hdr_cnt,mul(2)]\n    http-request set-header X-M %%[src,ipmask(24)]\n    http-request set-header X-S %%[req.hdr(cookie),sha1,hex]\n'
  local balance="" servers="    server s1 127.0.0.1:$oport\n"
  [[ $FEATURE == hash ]] && servers="    server s1 127.0.0.1:$oport\n    server s2 127.0.0.1:$oport\n    server s3 127.0.0.1:$oport\n    server s4 127.0.0.1:$oport\n"
  [[ $1 == hash ]] && balance="    balance uri\n    hash-type consistent\n"
  [[ $1 == upgrade ]] && rules='    mode tcp\n    tcp-request inspect-delay 5s\n    tcp-request content accept if HTTP\n    use_backend be if HTTP\n'
  printf "global\n    nbthread 1\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\nfrontend fe\n    bind 127.0.0.1:%s\n$logs$rules    default_backend be\nbackend be\n    http-reuse always\n$balance$servers" \
    "$port"
}
target=/
[[ $FEATURE == rewrite ]] && target='/api/items?x=1'
[[ $FEATURE == hash ]] && target='/objects/1234/item-5678.jpg?v=1'
if [[ $FEATURE == map ]]; then
  for i in $(seq 1 999); do echo "host$i.example.com be_other$i"; done >"$dir/hosts.map"
  echo "bench.example be" >>"$dir/hosts.map"
fi

run() {  # SYS MODE PATH N -> Ir of the whole run (the client on CPU 0: bench/proxy/exact_client.py)
  local sys=$1 mode=$2 path=$3 n=$4
  cfg "$mode" >"$dir/$sys-$mode.cfg"
  bench_cg_proxy "$sys" "$dir/$sys-$mode.cfg" "$dir/$sys-$mode-$path-$n.cg" "$port" \
    taskset -c 0 python3 "$here/bench/proxy/exact_client.py" "$port" "$path" "$n" "GET $target HTTP/1.1\\r\\nHost: Bench.Example\\r\\nUser-Agent: capture-bench/1.0 (x86_64)\\r\\nCookie: a=1; SID=0123456789abcdef\\r\\n\\r\\n"
}

printf 'proxy\tpath\tmode\tIr_per_request\n' >"$dir/results.tsv"
for path in $PATHS; do
  for sys in ${SYSTEMS:-edgeshard haproxy}; do
    for mode in plain $FEATURE; do
      a=$(run "$sys" "$mode" "$path" "$KA_LO")
      b=$(run "$sys" "$mode" "$path" "$KA_HI")
      per=$(( (b - a) / (KA_HI - KA_LO) ))
      printf '%s\t%s\t%s\t%s\n' "$sys" "$path" "$mode" "$per" | tee -a "$dir/results.tsv"
    done
  done
done
[[ ${SYSTEMS:-edgeshard haproxy} == *haproxy* && ${SYSTEMS:-edgeshard haproxy} == *edgeshard* ]] || { echo "raw: $dir"; exit 0; }
python3 - "$dir/results.tsv" "$FEATURE" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
ir = {(r["proxy"], r["path"], r["mode"]): int(r["Ir_per_request"]) for r in rows}
feat = sys.argv[2]
print(f"\n| path | mode | edgeshard Ir/req | +{feat} | HAProxy Ir/req | +{feat} | cost ratio es/ha | total ratio es/ha |")
print("|---|---|---|---|---|---|---|---|")
for path in sorted({r["path"] for r in rows}):
    for mode in ("plain", feat):
        e, h = ir[("edgeshard", path, mode)], ir[("haproxy", path, mode)]
        de, dh = e - ir[("edgeshard", path, "plain")], h - ir[("haproxy", path, "plain")]
        ratio = f"{de / dh:.2f}" if mode != "plain" and dh > 0 else "-"
        print(f"| {path} | {mode} | {e} | {de if mode != 'plain' else '-'} | {h} | {dh if mode != 'plain' else '-'} | {ratio} | {e / h:.2f} |")
PY
echo "raw: $dir"
