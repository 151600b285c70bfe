// Three assertion levels (after Envoy's ASSERT / ENVOY_BUG / RELEASE_ASSERT):
//   ES_ASSERT(c)  debug builds only: an internal invariant, free in release builds.
//   ES_BUG(c,msg) all builds: a bug we can survive; counted and logged (rate-limited), execution goes on.
//   ES_CHECK(c)   all builds: fatal; for invariants whose violation would corrupt memory or data.
// Never use any of them on what the network or the environment controls: count it and answer it.
#pragma once

#include <atomic>
#include <cstdint>

namespace es::core {

[[noreturn]] void check_failed(const char* expr, const char* file, int line);
void bug_hit(const char* expr, const char* msg, const char* file, int line);
std::uint64_t bug_count();

}  // namespace es::core

#define ES_CHECK(c) \
    do { \
        if (__builtin_expect(!(c), 0)) ::es::core::check_failed(#c, __FILE__, __LINE__); \
    } while (0)

#define ES_BUG(c, msg) \
    do { \
        if (__builtin_expect(!(c), 0)) ::es::core::bug_hit(#c, msg, __FILE__, __LINE__); \
    } while (0)

#ifdef NDEBUG
#define ES_ASSERT(c) ((void)0)
#else
#define ES_ASSERT(c) ES_CHECK(c)
#endif
