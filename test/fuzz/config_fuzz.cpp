// libFuzzer target for the configuration parser: any input must either parse or throw ConfigError,
// never crash, hang or throw anything else. Not wired into meson; build by hand, e.g.:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//       test/fuzz/config_fuzz.cpp src/config/*.cpp src/http/parser.cpp -o config_fuzz
//   ./config_fuzz -max_len=4096 test/fuzz/corpus/config
#include <cstddef>
#include <cstdint>
#include <string>

#include "edgeshard/config/parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto cfg = es::config::load_text(text, "<fuzz>");
        // A snapshot that loaded must be internally consistent: the indexes the data path will follow.
        for (const auto& f : cfg.frontends) {
            if (f.binds.empty()) __builtin_trap();
            if (f.default_backend_id >= static_cast<int>(cfg.backends.size())) __builtin_trap();
            for (const auto& u : f.use_backends)
                if (u.backend_id >= cfg.backends.size()) __builtin_trap();
        }
        for (std::size_t i = 0; i < cfg.backends.size(); ++i) {
            if (cfg.backends[i].id != i) __builtin_trap();
            for (std::size_t j = 0; j < cfg.backends[i].servers.size(); ++j)
                if (cfg.backends[i].servers[j].id != j) __builtin_trap();
        }
    } catch (const es::config::ConfigError&) {
        // rejected with a message: the expected outcome for most inputs
    }
    return 0;
}
