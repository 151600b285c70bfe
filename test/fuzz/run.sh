#!/bin/sh
# Builds the HTTP parser fuzzer and runs it for N seconds (default 60) over the seed corpus.
#   test/fuzz/run.sh [seconds] [output-dir]
# New interesting inputs go to <output-dir>/corpus (the seed corpus in the tree is only read);
# a crash leaves crash-* in <output-dir> and makes this script exit non-zero. Add a crashing input
# to test/fuzz/corpus/http/ once it is fixed so the unit tests replay it.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
out=${2:-"$root/build-fuzz"}
"$root/test/fuzz/build.sh" "$out" >/dev/null
mkdir -p "$out/corpus"
cd "$out"
exec ./parser_fuzz -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus" "$root/test/fuzz/corpus/http"
