#!/usr/bin/env bash
# Reloads under load: HAProxy and edgeshard, the same load, the same config, the same number of
# reloads; counts what the clients lost. See README.md next to this script.
#
# Per system: an origin (nginx, or the Python one with ORIGIN=python) and an echo server; the proxy
# with an HTTP frontend and an L4 `listen` section; for DURATION seconds at once
#   wrk -t1 -c$WRK_KA_CONNS (keep-alive), wrk -t1 -c$WRK_CLOSE_CONNS -H 'Connection: close',
#   $L4_STREAMS paced L4 streams of $L4_MIB MiB each through the proxy to the echo server (checked
#   byte for byte; half of them start later, on another generation);
# and meanwhile $RELOADS reloads spread over the run:
#   haproxy:   haproxy -f CFG -D -p PIDFILE -x SOCK -sf $(cat PIDFILE)
#   edgeshard: edgeshard -f CFG -x SOCK -sf PID   (waits for the new process's ready line)
# Prints a Markdown table (also written to $RUN/summary.md).
#
# Everything listens on 127.0.0.1; every process started is recorded and stopped by its PID.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
EDGESHARD_BIN=${EDGESHARD_BIN:-$ROOT/build/edgeshard}
HAPROXY_BIN=${HAPROXY_BIN:-/usr/sbin/haproxy}
SYSTEMS=${SYSTEMS:-"haproxy edgeshard"}
DURATION=${DURATION:-12}            # seconds of load
RELOADS=${RELOADS:-10}
WRK_KA_CONNS=${WRK_KA_CONNS:-16}
WRK_CLOSE_CONNS=${WRK_CLOSE_CONNS:-8}
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}      # wrk's own default
L4_STREAMS=${L4_STREAMS:-4}
L4_MIB=${L4_MIB:-24}
NBTHREAD=${NBTHREAD:-1}
HARD_STOP_AFTER=${HARD_STOP_AFTER:-60s}
ORIGIN=${ORIGIN:-nginx}             # nginx | python
BASE_PORT=${BASE_PORT:-18600}       # origin, echo, HTTP, L4 = BASE_PORT .. BASE_PORT+3
KEEP_RUN=${KEEP_RUN:-0}             # 1: keep the run directory (configs, logs, wrk outputs)

ORIGIN_PORT=$BASE_PORT
ECHO_PORT=$((BASE_PORT + 1))
HTTP_PORT=$((BASE_PORT + 2))
L4_PORT=$((BASE_PORT + 3))
RUN=$(mktemp -d /tmp/es-reload-bench.XXXXXX)
STARTED=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

stop_pid() { # pid: TERM, up to 5 s, then KILL
  local pid=$1 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[i]}"; done
  STARTED=()
  if [[ $KEEP_RUN == 1 ]]; then log "run directory kept: $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

track() { STARTED+=("$1"); }

port_busy() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

wait_listen() { # port pid what
  local i
  for ((i = 0; i < 100; i++)); do
    port_busy "$1" && return 0
    [[ -n ${2:-} ]] && ! alive "$2" && die "$3 exited during start-up"
    sleep 0.1
  done
  die "$3 is not listening on port $1 after 10 s"
}

wait_gone() { # seconds pid...: waits until every pid has exited; prints how many are left
  local secs=$1 left i p
  shift
  for ((i = 0; i < secs * 10; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=$((left + 1)); done
    ((left == 0)) && break
    sleep 0.1
  done
  left=0
  for p in "$@"; do alive "$p" && left=$((left + 1)); done
  echo "$left"
}

command -v wrk >/dev/null || die "wrk is not installed"
command -v python3 >/dev/null || die "python3 is not installed"
for p in $ORIGIN_PORT $ECHO_PORT $HTTP_PORT $L4_PORT; do
  port_busy "$p" && die "port $p is in use (set BASE_PORT)"
done
((RELOADS >= 1)) || die "RELOADS must be >= 1"
((DURATION >= 4)) || die "DURATION must be >= 4 (seconds)"

# ---- origins, shared by both systems
start_origin() {
  if [[ $ORIGIN == nginx ]]; then
    command -v nginx >/dev/null || die "nginx is not installed (ORIGIN=python uses a Python origin)"
    mkdir -p "$RUN/nginx/tmp" "$RUN/nginx/logs"
    cat > "$RUN/nginx/origin.conf" <<EOF
# HTTP origin for the reload benchmark: a 3-byte answer to everything, keep-alive kept open.
worker_processes 1;
daemon off;
pid $RUN/nginx/origin.pid;
error_log $RUN/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path $RUN/nginx/tmp/body;
  proxy_temp_path $RUN/nginx/tmp/proxy;
  fastcgi_temp_path $RUN/nginx/tmp/fastcgi;
  uwsgi_temp_path $RUN/nginx/tmp/uwsgi;
  scgi_temp_path $RUN/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
EOF
    nginx -t -q -p "$RUN/nginx" -e "$RUN/nginx/logs/error.log" -c "$RUN/nginx/origin.conf" \
      || die "nginx origin config rejected"
    nginx -p "$RUN/nginx" -e "$RUN/nginx/logs/error.log" -c "$RUN/nginx/origin.conf" \
      > "$RUN/nginx/logs/stdout.log" 2>&1 &
    track $!
    wait_listen "$ORIGIN_PORT" $! "nginx origin"
  else
    python3 "$ROOT/test/integ/lib/reload_lib.py" origin "$ORIGIN_PORT" > "$RUN/origin.log" 2>&1 &
    track $!
    wait_listen "$ORIGIN_PORT" $! "python origin"
  fi
  python3 "$HERE/l4_streams.py" echo --port "$ECHO_PORT" > "$RUN/echo.log" 2>&1 &
  track $!
  wait_listen "$ECHO_PORT" $! "echo server"
}

write_config() { # system -> $RUN/<system>.cfg (the same text for both, HAProxy's language)
  local sys=$1
  cat > "$RUN/$sys.cfg" <<EOF
global
    nbthread $NBTHREAD
    maxconn 4000
    stats socket $RUN/$sys.sock mode 600 level admin expose-fd listeners
    hard-stop-after $HARD_STOP_AFTER

defaults
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend fe
    mode http
    bind 127.0.0.1:$HTTP_PORT
    default_backend be

backend be
    mode http
    server o1 127.0.0.1:$ORIGIN_PORT

listen l4
    mode tcp
    bind 127.0.0.1:$L4_PORT
    server echo 127.0.0.1:$ECHO_PORT
EOF
}

# ---- per system: start, reload, report the PID of the running process in CUR_PID
CUR_PID=
OLD_PIDS=()
RELOADS_OK=0
RELOADS_FAILED=0

start_proxy() { # system
  local sys=$1 i
  case $sys in
    haproxy)
      "$HAPROXY_BIN" -c -q -f "$RUN/haproxy.cfg" || die "haproxy rejects the config"
      "$HAPROXY_BIN" -f "$RUN/haproxy.cfg" -D -p "$RUN/haproxy.pid" 2> "$RUN/haproxy-0.log" \
        || die "haproxy did not start: $(cat "$RUN/haproxy-0.log")"
      CUR_PID=$(head -1 "$RUN/haproxy.pid")
      track "$CUR_PID"
      ;;
    edgeshard)
      [[ -x $EDGESHARD_BIN ]] || die "EDGESHARD_BIN=$EDGESHARD_BIN is not executable"
      "$EDGESHARD_BIN" -f "$RUN/edgeshard.cfg" 2> "$RUN/edgeshard-0.log" &
      CUR_PID=$!
      track "$CUR_PID"
      for ((i = 0; i < 100; i++)); do
        grep -q 'ready:' "$RUN/edgeshard-0.log" && break
        alive "$CUR_PID" || die "edgeshard exited during start-up: $(cat "$RUN/edgeshard-0.log")"
        sleep 0.1
      done
      grep -q 'ready:' "$RUN/edgeshard-0.log" || die "edgeshard printed no ready line in 10 s"
      ;;
  esac
  wait_listen "$HTTP_PORT" "$CUR_PID" "$sys"
  wait_listen "$L4_PORT" "$CUR_PID" "$sys"
}

reload_proxy() { # system n -> updates CUR_PID, OLD_PIDS, RELOADS_OK/FAILED
  local sys=$1 n=$2 newpid i
  case $sys in
    haproxy)
      if "$HAPROXY_BIN" -f "$RUN/haproxy.cfg" -D -p "$RUN/haproxy.pid" -x "$RUN/haproxy.sock" \
           -sf "$CUR_PID" 2> "$RUN/haproxy-$n.log"; then
        newpid=$(head -1 "$RUN/haproxy.pid")
        track "$newpid"
        OLD_PIDS+=("$CUR_PID")
        CUR_PID=$newpid
        RELOADS_OK=$((RELOADS_OK + 1))
      else
        RELOADS_FAILED=$((RELOADS_FAILED + 1))
        log "haproxy reload $n failed: $(tail -3 "$RUN/haproxy-$n.log")"
      fi
      ;;
    edgeshard)
      "$EDGESHARD_BIN" -f "$RUN/edgeshard.cfg" -x "$RUN/edgeshard.sock" -sf "$CUR_PID" \
        2> "$RUN/edgeshard-$n.log" &
      newpid=$!
      track "$newpid"
      for ((i = 0; i < 100; i++)); do
        grep -q 'took over from PID' "$RUN/edgeshard-$n.log" && break
        alive "$newpid" || break
        sleep 0.05
      done
      if grep -q 'took over from PID' "$RUN/edgeshard-$n.log"; then
        OLD_PIDS+=("$CUR_PID")
        CUR_PID=$newpid
        RELOADS_OK=$((RELOADS_OK + 1))
      else
        stop_pid "$newpid"
        RELOADS_FAILED=$((RELOADS_FAILED + 1))
        log "edgeshard reload $n failed: $(tail -3 "$RUN/edgeshard-$n.log")"
      fi
      ;;
  esac
}

wrk_field() { # file what -> number (0 when wrk printed no such line)
  local f=$1 v=
  case $2 in
    requests) v=$(sed -nE 's/^ *([0-9]+) requests in .*/\1/p' "$f") ;;
    connect) v=$(sed -nE 's/.*Socket errors: connect ([0-9]+),.*/\1/p' "$f") ;;
    read) v=$(sed -nE 's/.*Socket errors: .*read ([0-9]+),.*/\1/p' "$f") ;;
    write) v=$(sed -nE 's/.*Socket errors: .*write ([0-9]+),.*/\1/p' "$f") ;;
    timeout) v=$(sed -nE 's/.*Socket errors: .*timeout ([0-9]+).*/\1/p' "$f") ;;
    non2xx) v=$(sed -nE 's/.*Non-2xx or 3xx responses: ([0-9]+).*/\1/p' "$f") ;;
  esac
  echo "${v:-0}"
}

ROWS=()
run_system() { # system
  local sys=$1 t0 due i n p wka wcl ws left l4
  log "== $sys: starting"
  write_config "$sys"
  CUR_PID= OLD_PIDS=() RELOADS_OK=0 RELOADS_FAILED=0
  start_proxy "$sys"
  local url="http://127.0.0.1:$HTTP_PORT/"
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || true) == 200 ]] \
    || die "$sys does not answer 200 before the load"

  wrk -t1 -c"$WRK_KA_CONNS" -d"${DURATION}s" --timeout "$WRK_TIMEOUT" "$url" > "$RUN/$sys-wrk-ka.txt" 2>&1 &
  wka=$!; track "$wka"
  wrk -t1 -c"$WRK_CLOSE_CONNS" -d"${DURATION}s" --timeout "$WRK_TIMEOUT" -H 'Connection: close' "$url" \
    > "$RUN/$sys-wrk-close.txt" 2>&1 &
  wcl=$!; track "$wcl"
  python3 "$HERE/l4_streams.py" streams --port "$L4_PORT" --count "$L4_STREAMS" --mib "$L4_MIB" \
    --seconds "$DURATION" --out "$RUN/$sys-l4.json" > "$RUN/$sys-l4.txt" 2>&1 &
  ws=$!; track "$ws"

  # reloads spread from 0.8 s to DURATION - 1.2 s
  t0=$(date +%s.%N)
  for ((n = 1; n <= RELOADS; n++)); do
    due=$(awk -v t0="$t0" -v n="$n" -v r="$RELOADS" -v d="$DURATION" \
      'BEGIN { step = (r > 1) ? (d - 2.0) / (r - 1) : 0; printf "%.3f\n", t0 + 0.8 + (n - 1) * step }')
    left=$(awk -v due="$due" -v now="$(date +%s.%N)" 'BEGIN { x = due - now; printf "%.3f\n", (x > 0) ? x : 0 }')
    sleep "$left"
    reload_proxy "$sys" "$n"
  done
  log "$sys: $RELOADS_OK reloads done, $RELOADS_FAILED failed, the last $(awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - t0 }') s into the load; waiting for it to end"

  for p in "$wka" "$wcl"; do
    [[ $(wait_gone $((DURATION + 15)) "$p") == 0 ]] || die "wrk (pid $p) did not finish"
  done
  [[ $(wait_gone $((DURATION + 150)) "$ws") == 0 ]] || die "the L4 streams (pid $ws) did not finish"
  left=$(wait_gone 30 "${OLD_PIDS[@]}")
  if [[ -f $RUN/$sys-l4.json ]]; then
    l4=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("%d of %d" % (d["truncated"] + d["corrupt"] + d["failed"], d["count"]))' "$RUN/$sys-l4.json")
  else
    l4="no result"
  fi
  local ka=$RUN/$sys-wrk-ka.txt cl=$RUN/$sys-wrk-close.txt
  ROWS+=("| $sys | $RELOADS_OK/$RELOADS | $(wrk_field "$ka" requests) / $(wrk_field "$cl" requests) | $(wrk_field "$ka" connect) / $(wrk_field "$cl" connect) | $(wrk_field "$ka" read) / $(wrk_field "$cl" read) | $(wrk_field "$ka" write) / $(wrk_field "$cl" write) | $(wrk_field "$ka" timeout) / $(wrk_field "$cl" timeout) | $(wrk_field "$ka" non2xx) / $(wrk_field "$cl" non2xx) | $l4 | $left |")
  log "$sys wrk keep-alive: $(grep -E 'requests in|Socket errors|Non-2xx' "$ka" | tr -s ' ' | paste -sd';')"
  log "$sys wrk close:      $(grep -E 'requests in|Socket errors|Non-2xx' "$cl" | tr -s ' ' | paste -sd';')"
  log "$sys L4: $(cat "$RUN/$sys-l4.txt")"

  stop_pid "$CUR_PID"
  for p in "${OLD_PIDS[@]}"; do stop_pid "$p"; done
  for ((i = 0; i < 50; i++)); do
    port_busy "$HTTP_PORT" || port_busy "$L4_PORT" || break
    sleep 0.1
  done
}

start_origin
for sys in $SYSTEMS; do
  case $sys in haproxy | edgeshard) run_system "$sys" ;; *) die "unknown system '$sys'" ;; esac
done

{
  echo "Reloads under load, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r)"
  echo "$("$HAPROXY_BIN" -v 2>/dev/null | head -1 | cut -d' ' -f1-3); edgeshard: $EDGESHARD_BIN"
  echo "load: ${DURATION}s, wrk -t1 -c$WRK_KA_CONNS keep-alive / -c$WRK_CLOSE_CONNS 'Connection: close'" \
    "(--timeout $WRK_TIMEOUT), $L4_STREAMS L4 streams x $L4_MIB MiB, $RELOADS reloads, nbthread $NBTHREAD," \
    "origin $ORIGIN"
  echo
  echo "| system | reloads | requests (ka / close) | connect errors | read errors | write errors | timeouts | non-2xx | L4 streams truncated | old processes left |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$RUN/summary.md"
