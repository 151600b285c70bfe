// RateSampler: show info's per-second rates (see rates.hpp).
#include "edgeshard/control/rates.hpp"

#include <algorithm>
#include <vector>

namespace es::control {

namespace {
constexpr std::int64_t kPeakMs = 100;  // how often the summed current sessions are sampled for smax
}

void RateSampler::sample_peaks(const shard::Runtime& rt) {
    const std::size_t n = rt.shard_count();
    if (n == 0) return;
    const stats::ShardStats& s0 = rt.shard_stats(0);
    if (peaks_.empty() || nfe_ != s0.n_fe || nbe_ != s0.n_be) {  // the layout of the flat arrays, once
        nfe_ = s0.n_fe;
        nbe_ = s0.n_be;
        srv_base_.resize(nbe_);
        std::size_t at = nfe_ + 2 * nbe_;
        for (std::size_t b = 0; b < nbe_; ++b) {
            srv_base_[b] = at;
            at += s0.n_srv[b];
        }
        peaks_.assign(at, 0);
    }
    // the frontends, backends and queues, each shard's block read once in its own order
    const std::size_t proxies = nfe_ + 2 * nbe_;
    levels_.assign(proxies, 0);
    for (std::size_t i = 0; i < n; ++i) {
        const stats::ShardStats& st = rt.shard_stats(i);
        for (std::size_t f = 0; f < nfe_ && f < st.n_fe; ++f) levels_[f] += st.fe[f].scur.get();
        for (std::size_t b = 0; b < nbe_ && b < st.n_be; ++b) {
            levels_[nfe_ + b] += st.be[b].scur.get();
            levels_[nfe_ + nbe_ + b] += st.be[b].qcur.get();
        }
    }
    for (std::size_t i = 0; i < proxies; ++i) peaks_[i] = std::max(peaks_[i], levels_[i]);
    // a server's sessions are among its backend's: only the servers of a backend with sessions open are read
    // (an idle process reads no server)
    for (std::size_t b = 0; b < nbe_; ++b) {
        if (levels_[nfe_ + b] == 0) continue;
        const std::size_t base = srv_base_[b], ns = s0.n_srv[b];
        srv_levels_.assign(ns, 0);
        for (std::size_t i = 0; i < n; ++i) {
            const stats::ShardStats& st = rt.shard_stats(i);
            if (b >= st.n_be) continue;
            for (std::size_t k = 0; k < ns && k < st.n_srv[b]; ++k) srv_levels_[k] += st.srv[b][k].scur.get();
        }
        for (std::size_t k = 0; k < ns; ++k) peaks_[base + k] = std::max(peaks_[base + k], srv_levels_[k]);
    }
}

std::int64_t RateSampler::next_due_ms(std::int64_t now_ms) const {
    return peak_ms_ < 0 ? 0 : std::max<std::int64_t>(0, peak_ms_ + kPeakMs - now_ms);
}

void RateSampler::sample(const shard::Runtime& rt, std::int64_t now_ms) {
    if (peak_ms_ < 0 || now_ms - peak_ms_ >= kPeakMs) {
        sample_peaks(rt);
        peak_ms_ = now_ms;
    }
    if (prev_ && now_ms - prev_ms_ < 1000) return;
    // the process's and each object's totals: every shard's counters added up, each shard's block read once
    Totals cur;
    const std::size_t nfe = rt.shard_count() > 0 ? rt.shard_stats(0).n_fe : 0;
    const std::size_t nbe = rt.shard_count() > 0 ? rt.shard_stats(0).n_be : 0;
    std::vector<FeTotals> fe(nfe);
    std::vector<std::uint64_t> be(nbe, 0);
    std::vector<std::vector<std::uint64_t>> srv(nbe);
    for (std::size_t i = 0; i < rt.shard_count(); ++i) {
        const stats::ShardStats& st = rt.shard_stats(i);
        const stats::ShardCounters& c = st.shard;
        cur.conn += c.accepts.get();
        cur.ssl += c.ssl_accepts.get();
        // a key is computed for every full handshake, not for a resumed one
        cur.ssl_key += c.ssl_handshakes.get() - c.ssl_resumed.get();
        cur.ssl_srv_key += c.ssl_srv_handshakes.get() - c.ssl_srv_resumed.get();
        if (const std::int64_t ns = rt.shard_cpu_ns(i); ns >= 0) {
            cur.cpu_ns += ns;
            ++cur.running;
        }
        for (std::size_t f = 0; f < nfe && f < st.n_fe; ++f) {
            const stats::FrontendCounters& fc = st.fe[f];
            cur.bytes_out += fc.bout.get();
            fe[f].sess += fc.stot.get();
            fe[f].req += fc.req_tot.get();
            fe[f].conn += fc.stot.get() + fc.dcon.get();  // accepted connections, sessions or not
        }
        for (std::size_t b = 0; b < nbe && b < st.n_be; ++b) {
            be[b] += st.be[b].stot.get();
            srv[b].resize(st.n_srv[b], 0);
            for (std::size_t k = 0; k < st.n_srv[b]; ++k) srv[b][k] += st.srv[b][k].stot.get();
        }
    }
    if (prev_) {
        const double secs = double(now_ms - prev_ms_) / 1000.0;
        auto per_s = [&](std::uint64_t a, std::uint64_t b) {
            return b >= a ? std::uint64_t(double(b - a) / secs + 0.5) : 0;
        };
        auto step = [&](stats::Snapshot::Rate& r, std::uint64_t a, std::uint64_t b) {
            r.cur = per_s(a, b);
            r.max = std::max(r.max, r.cur);
        };
        fe_rate_.resize(nfe);
        be_rate_.resize(nbe);
        srv_rate_.resize(nbe);
        for (std::size_t f = 0; f < nfe && f < fe_prev_.size(); ++f) {
            step(fe_rate_[f].sess, fe_prev_[f].sess, fe[f].sess);
            step(fe_rate_[f].req, fe_prev_[f].req, fe[f].req);
            step(fe_rate_[f].conn, fe_prev_[f].conn, fe[f].conn);
        }
        for (std::size_t b = 0; b < nbe && b < be_prev_.size(); ++b) {
            step(be_rate_[b], be_prev_[b], be[b]);
            srv_rate_[b].resize(srv[b].size());
            for (std::size_t k = 0; k < srv[b].size() && k < srv_prev_[b].size(); ++k)
                step(srv_rate_[b][k], srv_prev_[b][k], srv[b][k]);
        }
        objects_ready_ = true;
        stats::ProcessView::Rates r = rates_.value_or(stats::ProcessView::Rates{});
        r.conn = per_s(prev_->conn, cur.conn);
        r.ssl = per_s(prev_->ssl, cur.ssl);
        r.ssl_key = per_s(prev_->ssl_key, cur.ssl_key);
        r.ssl_srv_key = per_s(prev_->ssl_srv_key, cur.ssl_srv_key);
        r.max_conn = std::max(r.max_conn, r.conn);
        r.max_ssl = std::max(r.max_ssl, r.ssl);
        r.max_ssl_key = std::max(r.max_ssl_key, r.ssl_key);
        r.max_ssl_srv_key = std::max(r.max_ssl_srv_key, r.ssl_srv_key);
        r.bytes_out = per_s(prev_->bytes_out, cur.bytes_out);
        // HAProxy's Idle_pct: the share of the last second its threads waited for work; here the shards' threads
        // (what their kernel CPU clocks did not count), averaged over them
        if (cur.running > 0 && cur.running == prev_->running && now_ms > prev_ms_) {
            const double busy = double(cur.cpu_ns - prev_->cpu_ns) / (double(now_ms - prev_ms_) * 1e6 * double(cur.running));
            r.idle_pct = std::uint64_t(std::clamp(100.0 - busy * 100.0 + 0.5, 0.0, 100.0));
        }
        rates_ = r;
    }
    prev_ = cur;
    prev_ms_ = now_ms;
    fe_prev_ = std::move(fe);
    be_prev_ = std::move(be);
    srv_prev_ = std::move(srv);
}

void RateSampler::fill_objects(stats::Snapshot& snap) const {
    for (std::size_t f = 0; f < snap.fe.size(); ++f) snap.fe[f].smax = std::max(snap.fe[f].smax, peak(f));
    for (std::size_t b = 0; b < snap.be.size(); ++b) {
        snap.be[b].smax = std::max(snap.be[b].smax, peak(nfe_ + b));
        snap.be[b].qmax = std::max(snap.be[b].qmax, peak(nfe_ + nbe_ + b));
        if (b < srv_base_.size())
            for (std::size_t k = 0; k < snap.srv[b].size(); ++k)
                snap.srv[b][k].smax = std::max(snap.srv[b][k].smax, peak(srv_base_[b] + k));
    }
    if (!objects_ready_) return;
    snap.fe_rate = fe_rate_;
    snap.be_rate = be_rate_;
    snap.srv_rate = srv_rate_;
}

void RateSampler::clear() {
    if (rates_) {
        rates_->max_conn = rates_->conn;
        rates_->max_ssl = rates_->ssl;
        rates_->max_ssl_key = rates_->ssl_key;
        rates_->max_ssl_srv_key = rates_->ssl_srv_key;
    }
    for (auto& r : fe_rate_)
        for (stats::Snapshot::Rate* x : {&r.sess, &r.req, &r.conn}) x->max = x->cur;
    for (auto& r : be_rate_) r.max = r.cur;
    for (auto& v : srv_rate_)
        for (auto& r : v) r.max = r.cur;
    std::fill(peaks_.begin(), peaks_.end(), 0);
}

}  // namespace es::control
