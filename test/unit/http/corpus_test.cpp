// Replays the parser fuzzer's seed corpus (test/fuzz/corpus/http/) through the fuzzer's invariant
// checks under the normal build, so every seed and every saved crash input stays covered without
// clang. The corpus is found from the ES_FUZZ_CORPUS environment variable, the source path, the
// working directory or the test binary's location (meson's build tree); not finding it fails.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../../fuzz/parser_invariants.hpp"

namespace fs = std::filesystem;

namespace {

fs::path find_corpus() {
    std::vector<fs::path> candidates;
    if (const char* env = std::getenv("ES_FUZZ_CORPUS")) candidates.emplace_back(env);
    // __FILE__ is test/unit/http/corpus_test.cpp, absolute or relative to the build directory.
    const fs::path src = fs::path(__FILE__).parent_path();
    const fs::path rel = fs::path("..") / ".." / "fuzz" / "corpus" / "http";
    candidates.push_back(src / rel);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        // <build>/test/unit_http: the build directory is two levels up
        candidates.push_back(exe.parent_path().parent_path() / src / rel);
    }
    candidates.push_back(fs::path("test") / "fuzz" / "corpus" / "http");
    for (const fs::path& c : candidates)
        if (fs::is_directory(c, ec)) return c;
    return {};
}

}  // namespace

TEST_CASE("every fuzz corpus file passes the parser invariants") {
    const fs::path dir = find_corpus();
    REQUIRE_MESSAGE(!dir.empty(), "test/fuzz/corpus/http not found; set ES_FUZZ_CORPUS");
    int files = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        const char* violated =
            es::http::fuzz::check_parsers(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        INFO(entry.path().filename().string());
        CHECK_MESSAGE(violated == nullptr, (violated ? violated : ""));
        ++files;
    }
    CHECK(files >= 20);
}

TEST_CASE("the invariant checks catch a wrong verdict") {
    // The checks must be able to fail: an empty input passes, and a head the parser accepts is
    // accepted by the invariants only with its real fields.
    CHECK(es::http::fuzz::check_parsers(nullptr, 0) == nullptr);
    const std::string ok = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    static es::http::RequestHead h;
    std::size_t scanned = 0;
    const es::http::ParseResult r =
        es::http::parse_request(ok.data(), ok.size(), es::http::Limits{}, h, scanned);
    REQUIRE(r.status == es::http::Status::Done);
    CHECK(es::http::fuzz::check_request(h, r, ok.data(), ok.size(), es::http::Limits{}) == nullptr);
    h.head_len = static_cast<std::uint32_t>(ok.size() + 1);
    CHECK(es::http::fuzz::check_request(h, r, ok.data(), ok.size(), es::http::Limits{}) != nullptr);
    h.head_len = static_cast<std::uint32_t>(ok.size());
    h.host = "elsewhere";
    CHECK(es::http::fuzz::check_request(h, r, ok.data(), ok.size(), es::http::Limits{}) != nullptr);
}
