// `show info`'s per-second rates (HAProxy's ConnRate, SessRate, SslRate, SslFrontendKeyRate,
// SslBackendKeyRate and their maxima, BytesOutRate) and Idle_pct: the control shard samples the data
// shards' totals and their threads' CPU clocks once a second and keeps the figures of the last whole second.
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
    // `clear counters [all]`: the maxima start again from now (the rates' and the sampled peaks).
    void clear();
    // How long until the next sample is due (the loop's poll timeout at most this).
    std::int64_t next_due_ms(std::int64_t now_ms) const;
    // Absent before two samples.
    const std::optional<stats::ProcessView::Rates>& rates() const { return rates_; }
    // Each frontend's, backend's and server's rates into a snapshot (nothing before two samples), and their
    // sampled peaks of current sessions (and queue) raising the merged smax (qmax): a shard's own maximum is
    // exact, the process's is at least the largest of those and at least every sampled sum.
    void fill_objects(stats::Snapshot& snap) const;

private:
    struct Totals {
        std::uint64_t conn = 0, ssl = 0, ssl_key = 0, ssl_srv_key = 0, bytes_out = 0;
        std::int64_t cpu_ns = 0;  // the running shards' threads together
        std::size_t running = 0;
    };
    std::optional<Totals> prev_;
    std::int64_t prev_ms_ = 0;
    std::optional<stats::ProcessView::Rates> rates_;
    // per object: the totals of the last sample and the rates computed from them
    struct FeTotals {
        std::uint64_t sess = 0, req = 0, conn = 0;
    };
    std::vector<FeTotals> fe_prev_;
    std::vector<std::uint64_t> be_prev_;
    std::vector<std::vector<std::uint64_t>> srv_prev_;
    std::vector<stats::Snapshot::FrontendRates> fe_rate_;
    std::vector<stats::Snapshot::Rate> be_rate_;
    std::vector<std::vector<stats::Snapshot::Rate>> srv_rate_;
    bool objects_ready_ = false;
    // the peaks of the shards' summed scur (and a backend's qcur), sampled every kPeakMs, one flat array: the
    // frontends, the backends, the backends' queues, then each backend's servers from srv_base_[b]
    std::vector<std::int64_t> peaks_;
    std::vector<std::int64_t> levels_, srv_levels_;  // the sums being taken (members: their memory is reused)
    std::vector<std::size_t> srv_base_;
    std::size_t nfe_ = 0, nbe_ = 0;
    std::int64_t peak_ms_ = -1;
    void sample_peaks(const shard::Runtime& rt);
    std::int64_t peak(std::size_t i) const { return i < peaks_.size() ? peaks_[i] : 0; }
};

}  // namespace es::control
