// Log dates are broken down without localtime_r/gmtime_r (they take glibc's timezone lock): the
// arithmetic must agree with gmtime_r on every kind of date, and a local date is the UTC date of
// the same instant moved by the offset.
#include <doctest/doctest.h>
#include <time.h>

#include <cstdint>
#include <random>

#include "../../../src/log/date_cache.hpp"

using es::log::detail::broken_down;

namespace {
void check_against_gmtime(std::int64_t sec) {
    const time_t t = time_t(sec);
    tm want{};
    REQUIRE(gmtime_r(&t, &want) != nullptr);
    const tm got = broken_down(sec, 0);
    INFO("sec = " << sec);
    CHECK(got.tm_year == want.tm_year);
    CHECK(got.tm_mon == want.tm_mon);
    CHECK(got.tm_mday == want.tm_mday);
    CHECK(got.tm_hour == want.tm_hour);
    CHECK(got.tm_min == want.tm_min);
    CHECK(got.tm_sec == want.tm_sec);
    CHECK(got.tm_gmtoff == 0);
}
}  // namespace

TEST_CASE("dates agree with gmtime_r: epoch, leap days, century rules, before 1970, far ahead") {
    for (std::int64_t s : {std::int64_t(0), std::int64_t(-1), std::int64_t(86399), std::int64_t(86400),
                           std::int64_t(951782400),    // 2000-02-29 (a leap century)
                           std::int64_t(4107456000),   // 2100-02-28 (no 29th: not a leap year)
                           std::int64_t(4107542400),   // 2100-03-01
                           std::int64_t(1798761599),   // 2026-12-31 23:59:59
                           std::int64_t(-2208988800),  // 1900-01-01
                           std::int64_t(253402300799)})  // 9999-12-31 23:59:59
        check_against_gmtime(s);
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::int64_t> any(-5000000000LL, 20000000000LL);
    for (int i = 0; i < 20000; ++i) check_against_gmtime(any(rng));
}

TEST_CASE("a local date is the UTC date of the instant moved by the offset, crossing days and years") {
    const std::int64_t sec = 1798761599;  // 2026-12-31 23:59:59 UTC
    const tm east = broken_down(sec, 3600);
    CHECK(east.tm_year == 127);  // 2027
    CHECK(east.tm_mon == 0);
    CHECK(east.tm_mday == 1);
    CHECK(east.tm_hour == 0);
    CHECK(east.tm_min == 59);
    CHECK(east.tm_gmtoff == 3600);
    const tm west = broken_down(0, -5 * 3600 - 1800);  // 1970-01-01 00:00 UTC at -05:30
    CHECK(west.tm_year == 69);
    CHECK(west.tm_mon == 11);
    CHECK(west.tm_mday == 31);
    CHECK(west.tm_hour == 18);
    CHECK(west.tm_min == 30);
}
