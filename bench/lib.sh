# Shared by the bench scripts: the builds they run, an edgeshard-bench origin, a minimal HTTP proxy
# config both edgeshard and HAProxy read, waiting for a port, and stopping what was started.
# Source it after setting `here` (the repository root); ES_BUILD=DIR picks another build directory.
bench=${ES_BUILD:-$here/build}/tools/bench/edgeshard-bench
es=${ES_BUILD:-$here/build}/edgeshard
bench_pids=()
bench_cleanup() { for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap bench_cleanup EXIT

# bench_origin DIR CPU [origin options...]: starts an HTTP origin on CPU, sets $oport
bench_origin() {
  local dir=$1 cpu=$2
  shift 2
  : >"$dir/origin.out"
  taskset -c "$cpu" "$bench" origin --http 127.0.0.1:0 "$@" >"$dir/origin.out" 2>&1 &
  bench_pids+=($!)
  for _ in $(seq 100); do grep -q '^listening' "$dir/origin.out" && break; sleep 0.05; done
  oport=$(awk '/^listening http/{print $NF}' "$dir/origin.out")
  [[ -n $oport ]] || { echo "origin did not start: $(cat "$dir/origin.out")" >&2; exit 1; }
}

# bench_http_cfg PORT ORIGIN_PORT NBTHREAD [GLOBAL_LINES]: keep-alive both sides, reuse always, no logs
bench_http_cfg() {
  printf 'global\n    nbthread %s\n%s\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\nfrontend fe\n    bind 127.0.0.1:%s\n    default_backend be\nbackend be\n    http-reuse always\n    server s1 127.0.0.1:%s\n' \
    "$3" "${4:-}" "$1" "$2"
}

# bench_wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT (default 5 s)
bench_wait_port() {
  local tries=$(( ${2:-5} * 20 ))
  for _ in $(seq "$tries"); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# bench_cpu_ticks PID: user + system clock ticks the process used so far (getconf CLK_TCK per second)
bench_cpu_ticks() { local f; read -r -a f < /proc/"$1"/stat; echo $(( f[13] + f[14] )); }

# Instruction counts of a proxy under callgrind: bench_callgrind_start OUT CMD... starts CMD
# (its output in OUT.log) and sets $cg_pid; once the load is done, bench_callgrind_ir OUT stops it
# and prints the Ir of the whole run.
bench_callgrind_start() {
  local out=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$out.log" 2>&1 &
  cg_pid=$!
}
bench_callgrind_ir() {
  kill -TERM "$cg_pid"; wait "$cg_pid" || true
  awk '/^summary:|^totals:/{print $2; exit}' "$1"
}

# bench_cg_proxy SYS CFG OUT PORT CLIENT...: runs proxy SYS (edgeshard|haproxy) on CFG under
# callgrind (OUT, OUT.log), pinned to CPU 1 (taskset outside valgrind: the proxy itself is traced),
# waits for PORT, runs the load command CLIENT..., stops the proxy and prints the run's Ir.
bench_cg_proxy() {
  local sys=$1 cfg=$2 out=$3 port=$4 cmd
  shift 4
  case $sys in
    edgeshard) cmd=("$es" -f "$cfg") ;;
    haproxy) cmd=(haproxy -db -f "$cfg") ;;
  esac
  taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >"$out.log" 2>&1 &
  cg_pid=$!
  bench_wait_port "$port" 60 >/dev/null
  "$@"
  bench_callgrind_ir "$out"
}

bench_random_port() { echo $((20000 + RANDOM % 20000)); }

# bench_cert OUT.pem NAME [ec|rsa]: a self-signed certificate for NAME (ECDSA P-256 or RSA 2048, 2 days)
# and its key, in one PEM file as `bind ... crt` and HAProxy read it
bench_cert() {
  local out=$1 name=$2 key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  [[ ${3:-ec} == rsa ]] && key=(-newkey rsa:2048)
  openssl req -x509 "${key[@]}" -nodes -keyout "$out.key" -out "$out.crt" -days 2 -subj "/CN=$name" \
    -addext "subjectAltName=DNS:$name" 2>/dev/null
  cat "$out.crt" "$out.key" >"$out"
}
