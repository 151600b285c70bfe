#include <doctest/doctest.h>

#include "edgeshard/core/flags.hpp"

using es::core::FlagName;
using es::core::show_flags;

namespace {
constexpr FlagName kNames[] = {{1u << 0, "A"}, {1u << 1, "B"}, {1u << 4, "E"}};
}

TEST_CASE("show_flags names set bits in table order, joined by |") {
    CHECK(show_flags(0, kNames).empty());
    CHECK(show_flags(1, kNames) == "A");
    CHECK(show_flags(0x13, kNames) == "A|B|E");
    CHECK(show_flags(0x12, kNames) == "B|E");
}

TEST_CASE("show_flags shows a bit without a name in hex instead of hiding it") {
    CHECK(show_flags(0x400, kNames) == "0x0400");
    CHECK(show_flags(0x403, kNames) == "A|B|0x0400");
}
