// libFuzzer target for the HTTP/1.1 parsers: parse_request, parse_response and ChunkedScanner on
// any input, whole and in pieces, with the invariants of parser_invariants.hpp. A violated
// invariant traps (the fuzzer saves the input as a crash); so do the sanitizers. Build and run
// with test/fuzz/build.sh and test/fuzz/run.sh (test/fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "parser_invariants.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (const char* violated = es::http::fuzz::check_parsers(data, size)) {
        std::fprintf(stderr, "parser invariant violated: %s\n", violated);
        __builtin_trap();
    }
    return 0;
}
