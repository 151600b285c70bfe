// A log-linear latency histogram in the manner of HdrHistogram: values below 2^B are exact, and
// every power of two above is cut into 2^(B-1) equal buckets, so any recorded value is reported
// within 1/2^(B-1) of itself (B = 8: 0.8%) from 1 ns to 2^64 ns with fixed memory. Recording is a
// count-leading-zeros and an increment; merging is an add per bucket. (Debian has no HdrHistogram
// package; this is the part of it a load generator needs.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace es::bench {

template <unsigned B>
class LogHistogram {
public:
    static constexpr std::uint64_t kSub = std::uint64_t(1) << B;
    static constexpr std::uint64_t kHalf = kSub / 2;
    static constexpr std::size_t kBuckets = kSub + (64 - B) * kHalf;

    LogHistogram() : counts_(kBuckets, 0) {}

    static std::size_t index(std::uint64_t v) {
        if (v < kSub) return std::size_t(v);
        const unsigned msb = 63u - unsigned(__builtin_clzll(v));
        const unsigned shift = msb - (B - 1);
        return std::size_t(kSub + (shift - 1) * kHalf + ((v >> shift) - kHalf));
    }
    // the smallest and largest value that land in bucket i
    static std::uint64_t low(std::size_t i) {
        if (i < kSub) return i;
        const std::uint64_t k = i - kSub;
        const unsigned shift = unsigned(k / kHalf) + 1;
        return (k % kHalf + kHalf) << shift;
    }
    static std::uint64_t high(std::size_t i) {
        if (i < kSub) return i;
        const unsigned shift = unsigned((i - kSub) / kHalf) + 1;
        return low(i) + ((std::uint64_t(1) << shift) - 1);
    }

    void record(std::uint64_t v) {
        ++counts_[index(v)];
        ++count_;
        sum_ += v;
        if (v < min_) min_ = v;
        if (v > max_) max_ = v;
    }
    void merge(const LogHistogram& o) {
        for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
        count_ += o.count_;
        sum_ += o.sum_;
        min_ = std::min(min_, o.min_);
        max_ = std::max(max_, o.max_);
    }
    void reset() {
        std::fill(counts_.begin(), counts_.end(), 0);
        count_ = sum_ = max_ = 0;
        min_ = UINT64_MAX;
    }

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }

    // The value at percentile q (0..100): the highest value equivalent to the bucket where the
    // cumulative count first reaches ceil(q% of the count), clamped to the exact min and max.
    std::uint64_t percentile(double q) const {
        if (count_ == 0) return 0;
        if (q <= 0) return min_;
        std::uint64_t want = std::uint64_t(double(count_) * q / 100.0 + 0.999999);
        if (want == 0) want = 1;
        if (want > count_) want = count_;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= want) return std::clamp(high(i), min(), max_);
        }
        return max_;
    }

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0, sum_ = 0, max_ = 0, min_ = UINT64_MAX;
};

using Histogram = LogHistogram<8>;        // the run's latency: 0.8% resolution, 59 KiB
using CoarseHistogram = LogHistogram<5>;  // one per second of the timeline: 6% resolution, 8 KiB

}  // namespace es::bench
