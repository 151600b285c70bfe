#!/usr/bin/env bash
# The data-path cost of passive checks (`observe layer7`), against HAProxy's own, with the shared
# harness (../shared/bench): instructions per keep-alive request (callgrind, instr.sh) for
# edgeshard without and with `check observe layer7 error-limit 10 on-error mark-down`, and for
# HAProxy with the same words (haproxy-cand.sh); then keep-alive throughput and CPU per request of
# each observing proxy against haproxy-1t in one run each (peers.sh).
# Env: ROUNDS (3), DUR (5), REPEAT (2), OUT (bench-observe-<stamp>/).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
shared=$here/../shared/bench
stamp=$(date +%Y%m%d-%H%M%S)
out=${OUT:-$PWD/bench-observe-$stamp}
mkdir -p "$out"
opts="check inter 2s observe layer7 error-limit 10 on-error mark-down"
cand_es="$here/bench/peers/edgeshard-cand.sh"
cand_ha="$here/bench/check/haproxy-cand.sh"
export ES_NBTHREAD=1  # one shard, as haproxy-1t has one thread

instr() {  # name cmd port env...
  local name=$1 cmd=$2 port=$3; shift 3
  env "$@" BENCH_OUT="$out/instr-$name" SYSCALLS=0 REPEAT="${REPEAT:-2}" CAND_NAME="$name" CAND_HTTP_PORT="$port" \
    CAND_CMD="$cmd" "$shared/instr.sh" | tee "$out/instr-$name.txt"
}
instr es-plain "$cand_es" 18105 ES_SERVER_OPTS=
instr es-observe "$cand_es" 18105 ES_SERVER_OPTS="$opts"
instr ha-observe "$cand_ha" 18106 HA_SERVER_OPTS="$opts"

peers() {  # name cmd port env...
  local name=$1 cmd=$2 port=$3; shift 3
  env "$@" BENCH_OUT="$out/peers-$name" SYSTEMS="haproxy-1t $name" TESTS=ka ROUNDS="${ROUNDS:-3}" DUR="${DUR:-5}" \
    CAND_NAME="$name" CAND_HTTP_PORT="$port" CAND_CMD="$cmd" "$shared/peers.sh" | tee "$out/peers-$name.txt"
}
peers es-observe "$cand_es" 18105 ES_SERVER_OPTS="$opts"
peers ha-observe "$cand_ha" 18106 HA_SERVER_OPTS="$opts"
echo "results in $out"
