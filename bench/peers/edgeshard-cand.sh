#!/usr/bin/env bash
# Candidate command for ../shared/bench/peers.sh: writes an edgeshard config in front of the
# harness's origin (ORIGIN_HOST/ORIGIN_TCP_PORT from its environment) and runs edgeshard in the
# foreground. The harness pins it (taskset); edgeshard takes one shard per allowed CPU.
#   CAND_NAME=edgeshard CAND_TCP_PORT=18116 CAND_CMD="$PWD/bench/peers/edgeshard-cand.sh" \
#     SYSTEMS="haproxy-1t haproxy-1t-splice edgeshard" TESTS="tcp tcpR" ../shared/bench/peers.sh
# With CAND_HTTP_PORT set, an HTTP frontend is added in front of ORIGIN_HTTP_PORT, shaped like the
# harness's HAProxy (keep-alive both sides, http-reuse always, no logs):
#   CAND_NAME=edgeshard CAND_HTTP_PORT=18105 CAND_CMD="$PWD/bench/peers/edgeshard-cand.sh" \
#     SYSTEMS="origin haproxy-1t edgeshard" TESTS="ka close big" ../shared/bench/peers.sh
# ES_NBTHREAD=N fixes the shard count (default: one per CPU the harness lets it use; set 1 under
# PIN=none to compare one shard with haproxy-1t).
# ES_SPLICE=0 runs the copy path only (nosplice); ES_PIPESIZE=N sets tune.pipesize.
# ES_SERVER_OPTS="check observe layer7" adds words to the HTTP server line (bench/check/observe.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d /tmp/edgeshard-cand.XXXXXX)
cfg=$dir/edgeshard.cfg
{
  echo "global"
  echo "    stats socket $dir/es.sock mode 600 level admin"
  [[ -n ${ES_NBTHREAD:-} ]] && echo "    nbthread ${ES_NBTHREAD}"
  [[ ${ES_SPLICE:-1} == 0 ]] && echo "    nosplice"
  [[ -n ${ES_PIPESIZE:-} ]] && echo "    tune.pipesize ${ES_PIPESIZE}"
  echo "defaults"
  echo "    mode tcp"
  echo "    timeout connect 5s"
  echo "    timeout client 60s"
  echo "    timeout server 60s"
  if [[ -n ${CAND_TCP_PORT:-} || -z ${CAND_HTTP_PORT:-} ]]; then
    echo "listen tcp_bench"
    echo "    bind 127.0.0.1:${CAND_TCP_PORT:-18116}"
    echo "    server origin ${ORIGIN_HOST:-127.0.0.1}:${ORIGIN_TCP_PORT:-18201}"
  fi
  if [[ -n ${CAND_HTTP_PORT:-} ]]; then
    echo "frontend http_bench"
    echo "    mode http"
    echo "    bind 127.0.0.1:${CAND_HTTP_PORT}"
    echo "    default_backend origin_http"
    echo "backend origin_http"
    echo "    mode http"
    echo "    http-reuse always"
    echo "    server origin ${ORIGIN_HOST:-127.0.0.1}:${ORIGIN_HTTP_PORT:-18200} ${ES_SERVER_OPTS:-}"
  fi
} >"$cfg"
exec "${EDGESHARD_BIN:-$here/build/edgeshard}" -q -f "$cfg"
