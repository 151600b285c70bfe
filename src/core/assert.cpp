#include "edgeshard/core/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace es::core {

namespace {
std::atomic<std::uint64_t> g_bugs{0};
}

void check_failed(const char* expr, const char* file, int line) {
    std::fprintf(stderr, "edgeshard: fatal: check failed: %s at %s:%d\n", expr, file, line);
    std::abort();
}

void bug_hit(const char* expr, const char* msg, const char* file, int line) {
    // counted always, logged for the first occurrences only (rate limit by count)
    const auto n = g_bugs.fetch_add(1, std::memory_order_relaxed);
    if (n < 16) std::fprintf(stderr, "edgeshard: bug: %s (%s) at %s:%d\n", msg, expr, file, line);
}

std::uint64_t bug_count() { return g_bugs.load(std::memory_order_relaxed); }

}  // namespace es::core
