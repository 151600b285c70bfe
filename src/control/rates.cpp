// RateSampler: show info's per-second rates (see rates.hpp).
#include "edgeshard/control/rates.hpp"

#include <algorithm>

namespace es::control {

void RateSampler::sample(const shard::Runtime& rt, std::int64_t now_ms) {
    if (prev_ && now_ms - prev_ms_ < 1000) return;
    Totals cur;
    for (std::size_t i = 0; i < rt.shard_count(); ++i) {
        const stats::ShardCounters& c = rt.shard_stats(i).shard;
        cur.conn += c.accepts.get();
        cur.ssl += c.ssl_accepts.get();
        // a key is computed for every full handshake, not for a resumed one
        cur.ssl_key += c.ssl_handshakes.get() - c.ssl_resumed.get();
        cur.ssl_srv_key += c.ssl_srv_handshakes.get() - c.ssl_srv_resumed.get();
    }
    if (prev_) {
        const double secs = double(now_ms - prev_ms_) / 1000.0;
        auto per_s = [&](std::uint64_t a, std::uint64_t b) {
            return b >= a ? std::uint64_t(double(b - a) / secs + 0.5) : 0;
        };
        stats::ProcessView::Rates r = rates_.value_or(stats::ProcessView::Rates{});
        r.conn = per_s(prev_->conn, cur.conn);
        r.ssl = per_s(prev_->ssl, cur.ssl);
        r.ssl_key = per_s(prev_->ssl_key, cur.ssl_key);
        r.ssl_srv_key = per_s(prev_->ssl_srv_key, cur.ssl_srv_key);
        r.max_conn = std::max(r.max_conn, r.conn);
        r.max_ssl = std::max(r.max_ssl, r.ssl);
        r.max_ssl_key = std::max(r.max_ssl_key, r.ssl_key);
        r.max_ssl_srv_key = std::max(r.max_ssl_srv_key, r.ssl_srv_key);
        rates_ = r;
    }
    prev_ = cur;
    prev_ms_ = now_ms;
}

}  // namespace es::control
