#!/bin/sh
# Builds the HTTP parser fuzzer with clang and libFuzzer (no meson): the parser sources and the
# target compiled together with ASan and UBSan.
#   test/fuzz/build.sh [output-dir]      (default: build-fuzz) -> <output-dir>/parser_fuzz
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$root/build-fuzz"}
cxx=${CXX_FUZZ:-clang++}
mkdir -p "$out"
"$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror \
    -I"$root/include" \
    "$root/test/fuzz/parser_fuzz.cpp" \
    "$root/src/http/parser.cpp" \
    "$root/src/http/chunked.cpp" \
    -o "$out/parser_fuzz"
echo "$out/parser_fuzz"
