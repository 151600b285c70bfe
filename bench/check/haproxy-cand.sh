#!/usr/bin/env bash
# Candidate command for ../shared/bench/peers.sh and instr.sh: HAProxy shaped like the harness's
# haproxy-1t (nbthread 1, keep-alive both sides, http-reuse always) with words added to its server
# line (HA_SERVER_OPTS, e.g. "check observe layer7"), so HAProxy's cost of a feature is measured
# in the same run as ours (bench/check/observe.sh).
#   CAND_NAME=haproxy-obs CAND_HTTP_PORT=18106 CAND_CMD="$PWD/bench/check/haproxy-cand.sh" ...
set -euo pipefail
dir=$(mktemp -d /tmp/haproxy-cand.XXXXXX)
cat >"$dir/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 4000
defaults
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  maxconn 4000
frontend http_in
  mode http
  bind 127.0.0.1:${CAND_HTTP_PORT:-18106} backlog 4096
  option http-keep-alive
  default_backend origin_http
backend origin_http
  mode http
  http-reuse always
  server origin ${ORIGIN_HOST:-127.0.0.1}:${ORIGIN_HTTP_PORT:-18200} ${HA_SERVER_OPTS:-}
CFG
exec haproxy -db -f "$dir/haproxy.cfg"
