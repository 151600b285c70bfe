#!/usr/bin/env bash
# Installs, builds and runs the whole test suite: unit tests (doctest, one binary per room),
# the integration tests (the real binary with real clients and servers on 127.0.0.1), the load
# tool's own cases (the 'bench' suite, once), and the unit tests and the integration tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer. Ends with "N passed, M failed, K skipped",
# counting every suite of both builds.
# --slow adds the 'slow' suite (test/integ/cases/slow_*: long runs and heavy peers) on the release
# build; CI runs without it.
set -uo pipefail
cd "$(dirname "$0")/.."
slow=0
[[ ${1:-} == --slow ]] && slow=1
scripts/setup.sh --test || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }

passed=0; failed=0; skipped=0
count() {  # reads a meson testlog.json
  local f=$1
  eval "$(python3 - "$f" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result")
    if r == "OK": p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(f"p={p} f={f} s={s}")
PY
)"
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

# run_suite BUILDDIR PROCESSES [meson test selection...]: runs the tests and counts them; a run
# that leaves no test log (meson itself failed) counts as one failure
run_suite() {
  local dir=$1 procs=$2
  shift 2
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$procs" "$@"
  local rc=$?
  if [[ -f $dir/meson-logs/testlog.json ]]; then
    count "$dir/meson-logs/testlog.json"
  elif ((rc != 0)); then
    failed=$((failed + 1))
  fi
}

run_suite build 2 --suite unit
run_suite build 1 --suite integ
# the load tool's cases test tools/bench, not the proxy: once, here, not again under the sanitizers
run_suite build 1 --suite bench --no-suite unit
((slow)) && run_suite build 1 --suite slow

if [[ ${EDGESHARD_SKIP_SANITIZE:-0} != 1 ]]; then
  # -O1, ASan's recommended level (finds at least what -O2 finds; the project's default -O2 used to
  # apply here), and line-table debug info (-g1: reports still name function, file and line):
  # the sanitizer build is the longest step of the run, and this halves its compile time.
  asan_opts=(-Dbuildtype=debug -Doptimization=1 -Dcpp_args=-g1 -Dsanitize_build=address_undefined -Dbenchmarks=disabled)
  if [[ -f build-asan/build.ninja ]]; then
    meson configure build-asan "${asan_opts[@]}" >/dev/null
  else
    meson setup build-asan "${asan_opts[@]}" >/dev/null
  fi
  if ninja -C build-asan; then
    # unit tests, then the integration suite against the sanitized binary (any report fails a case)
    export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
    run_suite build-asan 2 --suite unit
    run_suite build-asan 1 --suite integ
  else
    failed=$((failed + 1))
  fi
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[[ $failed == 0 ]]
