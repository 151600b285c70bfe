// The load generator's latency histogram: bucket arithmetic, resolution, percentiles, merging.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>

#include "hdr.hpp"

using es::bench::Histogram;
using es::bench::LogHistogram;

TEST_CASE("histogram buckets tile the value range without gaps or overlaps") {
    using H = LogHistogram<8>;
    for (std::size_t i = 0; i + 1 < H::kBuckets; ++i) {
        REQUIRE(H::low(i) <= H::high(i));
        REQUIRE(H::high(i) + 1 == H::low(i + 1));
    }
    CHECK(H::high(H::kBuckets - 1) == UINT64_MAX);
    for (std::uint64_t v : {0ull, 1ull, 255ull, 256ull, 257ull, 511ull, 512ull, 1000ull, 123456789ull,
                            (1ull << 40) + 12345, 18446744073709551615ull}) {
        const std::size_t i = H::index(v);
        CHECK(H::low(i) <= v);
        CHECK(v <= H::high(i));
    }
}

TEST_CASE("a recorded value is reported within 1/128 of itself") {
    using H = LogHistogram<8>;
    std::mt19937_64 rng(7);
    for (int k = 0; k < 100000; ++k) {
        const std::uint64_t v = rng() >> (rng() % 60);
        const std::size_t i = H::index(v);
        const double width = double(H::high(i) - H::low(i) + 1);
        CHECK(width <= double(v) / 128.0 + 1.0);
    }
}

TEST_CASE("percentiles of a known distribution") {
    Histogram h;
    for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms, uniform
    CHECK(h.count() == 100000);
    CHECK(h.min() == 1000);
    CHECK(h.max() == 100000000);
    auto near = [](std::uint64_t got, double want) { return double(got) >= want * 0.99 && double(got) <= want * 1.01; };
    CHECK(near(h.percentile(50), 50e6));
    CHECK(near(h.percentile(90), 90e6));
    CHECK(near(h.percentile(99), 99e6));
    CHECK(near(h.percentile(99.9), 99.9e6));
    CHECK(h.percentile(100) == h.max());
    CHECK(h.percentile(0) == h.min());
    CHECK(h.mean() == doctest::Approx(50000.5e3));
}

TEST_CASE("merging per-thread histograms equals recording into one") {
    Histogram a, b, all;
    std::mt19937_64 rng(11);
    for (int k = 0; k < 50000; ++k) {
        const std::uint64_t v = 1000 + rng() % 5000000;
        (k % 3 ? a : b).record(v);
        all.record(v);
    }
    a.merge(b);
    CHECK(a.count() == all.count());
    CHECK(a.min() == all.min());
    CHECK(a.max() == all.max());
    for (double q : {1.0, 25.0, 50.0, 75.0, 99.0, 99.99}) CHECK(a.percentile(q) == all.percentile(q));
    Histogram empty;
    CHECK(empty.percentile(99) == 0);
    CHECK(empty.min() == 0);
    a.reset();
    CHECK(a.count() == 0);
    CHECK(a.max() == 0);
}
