// libFuzzer target for the mode tcp payload reader (src/rules/payload.cpp): any input, and every
// prefix of it, must give Found/NeedMore/Absent without reading past its end (ASan), a server name
// inside the input of 1..255 bytes, and a prefix of an input never says Absent where the whole
// input says Found (more bytes can only complete a hello, not turn a "no" into a "yes").
// Not wired into meson; build by hand, e.g.:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//       test/fuzz/tls_hello_fuzz.cpp src/rules/payload.cpp -o tls_hello_fuzz
//   ./tls_hello_fuzz -max_len=2048 test/fuzz/corpus/tls_hello
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "edgeshard/rules/payload.hpp"

namespace {

struct Result {
    es::rules::Peek sni, type, ver;
};

Result peek(const std::uint8_t* data, std::size_t n) {
    // an exact-size copy: a read at data[n] is a heap overflow for ASan
    std::unique_ptr<char[]> copy(new char[n ? n : 1]);
    if (n) std::memcpy(copy.get(), data, n);
    const std::string_view b(copy.get(), n);
    Result r;
    std::string_view name;
    int type = 0;
    std::int64_t ver = 0;
    r.sni = es::rules::ssl_sni(b, name);
    r.type = es::rules::ssl_hello_type(b, type);
    r.ver = es::rules::ssl_record_version(b, ver);
    if (r.sni == es::rules::Peek::Found) {
        if (name.empty() || name.size() > 255) __builtin_trap();
        if (name.data() < b.data() || name.data() + name.size() > b.data() + b.size()) __builtin_trap();
    }
    if (r.type == es::rules::Peek::Found && (type < 0 || type > 255)) __builtin_trap();
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Result whole = peek(data, size);
    for (std::size_t n = 0; n < size; n += 1 + n / 8) {
        const Result part = peek(data, n);
        if (whole.sni == es::rules::Peek::Found && part.sni == es::rules::Peek::Absent) __builtin_trap();
        if (whole.type == es::rules::Peek::Found && part.type == es::rules::Peek::Absent) __builtin_trap();
        if (whole.ver == es::rules::Peek::Found && part.ver == es::rules::Peek::Absent) __builtin_trap();
    }
    return 0;
}
