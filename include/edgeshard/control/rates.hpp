// `show info`'s per-second rates (HAProxy's ConnRate, SessRate, SslRate, SslFrontendKeyRate,
// SslBackendKeyRate and their maxima): the control shard samples the data shards' totals once a
// second and keeps the rates of the last whole second.
#pragma once

#include <cstdint>
#include <optional>

#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace es::control {

class RateSampler {
public:
    // Samples when a second has passed since the last sample (call it every turn).
    void sample(const shard::Runtime& rt, std::int64_t now_ms);
    // Absent before two samples.
    const std::optional<stats::ProcessView::Rates>& rates() const { return rates_; }

private:
    struct Totals {
        std::uint64_t conn = 0, ssl = 0, ssl_key = 0, ssl_srv_key = 0;
    };
    std::optional<Totals> prev_;
    std::int64_t prev_ms_ = 0;
    std::optional<stats::ProcessView::Rates> rates_;
};

}  // namespace es::control
