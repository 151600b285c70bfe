// `edgeshard-bench report`: result files -> RunView records -> one self-contained HTML page.
// Reading the input is report_input.cpp; this file is the output (SVG charts, then the page) and
// the command line. Nothing here is on a data path, so it allocates freely.
#include "report.hpp"
#include "report_text.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>

namespace es::bench {

namespace {

// ---------------------------------------------------------------------------------------------
// Small text helpers
// ---------------------------------------------------------------------------------------------

using report_text::strf;

// Up to `sig` significant digits, no exponent below 1e15, "n/a" for NaN/inf.
std::string fmt_num(double v, int sig = 4) {
    if (!std::isfinite(v)) return "n/a";
    const double a = std::fabs(v);
    if (a >= 1e15) return strf("%.*g", sig, v);
    if (a >= std::pow(10.0, sig)) return strf("%.0f", v);
    return strf("%.*g", sig, v);
}

// An integer count with thousands separators ("1,234,567").
std::string fmt_count(uint64_t v) {
    std::string digits = std::to_string(v);
    std::string out;
    const size_t n = digits.size();
    for (size_t i = 0; i < n; ++i) {
        if (i > 0 && (n - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string fmt_rate(double v) {
    if (!std::isfinite(v)) return "n/a";
    if (v >= 1e15) return strf("%.4g", v);
    if (v >= 1000) return fmt_count(static_cast<uint64_t>(std::llround(v)));
    return fmt_num(v, 4);
}

// Microseconds -> "850 us", "1.23 ms", "4.5 s".
std::string fmt_us(double us) {
    if (!std::isfinite(us)) return "n/a";
    if (us < 1000) return fmt_num(us, 3) + " us";
    if (us < 1e6) return fmt_num(us / 1e3, 3) + " ms";
    return fmt_num(us / 1e6, 3) + " s";
}

// SI prefix for a scale whose largest value is `top`: divisor and prefix.
std::pair<double, const char*> si_prefix(double top) {
    if (top >= 1e18) return {1e18, "E"};
    if (top >= 1e15) return {1e15, "P"};
    if (top >= 1e12) return {1e12, "T"};
    if (top >= 1e9) return {1e9, "G"};
    if (top >= 1e6) return {1e6, "M"};
    if (top >= 1e3) return {1e3, "k"};
    return {1, ""};
}

// ---------------------------------------------------------------------------------------------
// Output: SVG charts
// ---------------------------------------------------------------------------------------------

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
constexpr size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];

// Colour by run index (the same run has the same colour in every chart); past the palette the
// lines get dashes so 20 runs stay distinguishable.
const char* colour(size_t i) {
    return kPalette[i % kPaletteSize];
}
const char* dashes(size_t i) {
    switch ((i / kPaletteSize) % 3) {
        case 0:
            return "";
        case 1:
            return " stroke-dasharray=\"7 4\"";
        default:
            return " stroke-dasharray=\"2 3\"";
    }
}

// Every coordinate written to SVG goes through here: no NaN, no infinity, no absurd magnitudes.
std::string coord(double v) {
    if (!std::isfinite(v)) v = 0;
    v = std::clamp(v, -1e6, 1e6);
    std::string s = strf("%.1f", v);
    if (s == "-0.0") s = "0.0";
    return s;
}

std::string truncate(const std::string& s, size_t max_chars) {
    // counts UTF-8 code points, cuts on a code point boundary
    size_t cps = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
        if (cps == max_chars) return s.substr(0, i) + "\xE2\x80\xA6";
        ++cps;
    }
    return s;
}

// A linear axis from `lo` to `hi` in steps of `step` (1, 2 or 5 times a power of ten).
struct Axis {
    double lo = 0;
    double hi = 1;
    double step = 1;
    std::vector<double> ticks() const {
        std::vector<double> t;
        for (int i = 0; i <= 40; ++i) {
            const double v = lo + step * i;
            if (v > hi + step * 1e-6) break;
            t.push_back(v);
        }
        return t;
    }
    // position of v in [0, 1] (clamped)
    double frac(double v) const {
        const double span = hi - lo;
        if (!std::isfinite(v) || !(span > 0) || !std::isfinite(span)) return 0;
        return std::clamp((v - lo) / span, 0.0, 1.0);
    }
};

double nice_step(double raw) {
    if (!(raw > 0) || !std::isfinite(raw)) return 1;
    const double base = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / base;
    const double n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    const double s = n * base;
    return std::isfinite(s) ? s : raw;
}

Axis make_axis(double lo, double hi, int target_ticks = 5) {
    if (!std::isfinite(lo)) lo = 0;
    if (!std::isfinite(hi)) hi = lo + 1;
    if (!(hi > lo)) hi = lo + (lo == 0 ? 1 : std::fabs(lo) * 0.1 + 1);
    Axis a;
    a.step = nice_step((hi - lo) / target_ticks);
    a.lo = std::floor(lo / a.step) * a.step;
    a.hi = std::ceil(hi / a.step) * a.step;
    if (!std::isfinite(a.lo) || !std::isfinite(a.hi) || !(a.hi > a.lo) || !std::isfinite(a.hi - a.lo)) {
        a.lo = lo;
        a.hi = hi;
        a.step = (hi - lo) / target_ticks;
        if (!std::isfinite(a.step) || !(a.step > 0)) {
            a.lo = 0;
            a.hi = 1;
            a.step = 0.2;
        }
    }
    return a;
}

// Tick label with a common divisor (unit prefix) for the whole axis.
std::string tick_label(double v, double div) {
    double x = v / div;
    if (std::fabs(x) < 1e-12) x = 0;
    if (std::fabs(x) >= 1e6) return strf("%.3g", x);  // keeps labels narrow beside the axis
    return fmt_num(x, 4);
}

// Latency unit for an axis whose top is `top_us` microseconds.
std::pair<double, const char*> latency_unit(double top_us) {
    if (top_us >= 2e6) return {1e6, "s"};
    if (top_us >= 2e3) return {1e3, "ms"};
    return {1, "us"};
}

constexpr double kWidth = 1000;

struct LegendEntry {
    std::string text;
    size_t run = 0;  // colour index
    std::string extra;
};

// Chart skeleton: plot area placement, axes, grid, titles, legend.
class Chart {
  public:
    Chart(std::string id, std::string aria, double plot_h, double bottom, size_t legend_n, double right = 30)
        : id_(std::move(id)), aria_(std::move(aria)), right_(right) {
        legend_cols_ = std::max<size_t>(1, static_cast<size_t>((kWidth - left_ - right_) / kLegendW));
        const size_t rows = legend_n == 0 ? 0 : (legend_n + legend_cols_ - 1) / legend_cols_;
        plot_h_ = plot_h;
        legend_y_ = top_ + plot_h_ + bottom;
        height_ = legend_y_ + static_cast<double>(rows) * 18 + 12;
    }
    double x0() const { return left_; }
    double y0() const { return top_; }
    double w() const { return kWidth - left_ - right_; }
    double h() const { return plot_h_; }
    double px(double f) const { return left_ + f * w(); }
    double py(double f) const { return top_ + plot_h_ - f * plot_h_; }

    void open(std::string& out) const {
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"" + id_ +
               "\" viewBox=\"0 0 " + coord(kWidth) + " " + coord(height_) + "\" width=\"" + coord(kWidth) +
               "\" height=\"" + coord(height_) + "\" role=\"img\" aria-label=\"" + html_escape(aria_) +
               "\" font-family=\"system-ui, sans-serif\" font-size=\"12\">\n";
        out += "<rect x=\"0\" y=\"0\" width=\"" + coord(kWidth) + "\" height=\"" + coord(height_) +
               "\" fill=\"#ffffff\"/>\n";
    }
    void close(std::string& out) const { out += "</svg>\n"; }

    // Horizontal grid lines and labels for a y axis; `right` puts labels on the right edge.
    void y_axis(std::string& out, const Axis& a, double div, const std::string& title,
                bool right = false) const {
        for (double v : a.ticks()) {
            const std::string y = coord(py(a.frac(v)));
            if (!right)
                out += "<line x1=\"" + coord(x0()) + "\" y1=\"" + y + "\" x2=\"" + coord(x0() + w()) +
                       "\" y2=\"" + y + "\" stroke=\"#e3e3e3\"/>\n";
            const double tx = right ? x0() + w() + 6 : x0() - 6;
            out += "<text x=\"" + coord(tx) + "\" y=\"" + y + "\" dy=\"4\" text-anchor=\"" +
                   (right ? "start" : "end") + "\">" + html_escape(tick_label(v, div)) + "</text>\n";
        }
        const double tx = right ? kWidth - 14 : 16;
        const std::string cy = coord(y0() + h() / 2);
        out += "<text x=\"" + coord(tx) + "\" y=\"" + cy + "\" text-anchor=\"middle\" transform=\"rotate(" +
               (right ? "90 " : "-90 ") + coord(tx) + " " + cy + ")\">" + html_escape(title) + "</text>\n";
    }
    void x_title(std::string& out, const std::string& title, double dy = 40) const {
        out += "<text x=\"" + coord(x0() + w() / 2) + "\" y=\"" + coord(y0() + h() + dy) +
               "\" text-anchor=\"middle\">" + html_escape(title) + "</text>\n";
    }
    void x_tick(std::string& out, double f, const std::string& label, bool grid) const {
        const std::string x = coord(px(f));
        if (grid)
            out += "<line x1=\"" + x + "\" y1=\"" + coord(y0()) + "\" x2=\"" + x + "\" y2=\"" +
                   coord(y0() + h()) + "\" stroke=\"#e3e3e3\"/>\n";
        out += "<line x1=\"" + x + "\" y1=\"" + coord(y0() + h()) + "\" x2=\"" + x + "\" y2=\"" +
               coord(y0() + h() + 5) + "\" stroke=\"#444\"/>\n";
        out += "<text x=\"" + x + "\" y=\"" + coord(y0() + h() + 18) + "\" text-anchor=\"middle\">" +
               html_escape(label) + "</text>\n";
    }
    void frame(std::string& out) const {
        out += "<path d=\"M" + coord(x0()) + " " + coord(y0()) + "V" + coord(y0() + h()) + "H" +
               coord(x0() + w()) + "\" fill=\"none\" stroke=\"#444\"/>\n";
    }
    void message(std::string& out, const std::string& text) const {
        out += "<text x=\"" + coord(x0() + w() / 2) + "\" y=\"" + coord(y0() + h() / 2) +
               "\" text-anchor=\"middle\" fill=\"#777\">" + html_escape(text) + "</text>\n";
    }
    void legend(std::string& out, const std::vector<LegendEntry>& entries) const {
        for (size_t i = 0; i < entries.size(); ++i) {
            const double x = x0() + static_cast<double>(i % legend_cols_) * kLegendW;
            const double y = legend_y_ + static_cast<double>(i / legend_cols_) * 18;
            const LegendEntry& e = entries[i];
            out += "<g class=\"legend-entry\"><title>" + html_escape(e.text + e.extra) + "</title>";
            out += "<line x1=\"" + coord(x) + "\" y1=\"" + coord(y) + "\" x2=\"" + coord(x + 22) +
                   "\" y2=\"" + coord(y) + "\" stroke=\"" + colour(e.run) + "\" stroke-width=\"3\"" +
                   dashes(e.run) + "/>";
            out +=
                "<text x=\"" + coord(x + 28) + "\" y=\"" + coord(y) + "\" dy=\"4\">" +
                html_escape(
                    truncate(e.text, e.extra.size() + 8 < kLegendChars ? kLegendChars - e.extra.size() : 8) +
                    e.extra) +
                "</text></g>\n";
        }
    }

  private:
    static constexpr double kLegendW = 235;
    static constexpr size_t kLegendChars = 30;  // what fits in kLegendW beside the swatch
    std::string id_, aria_;
    double left_ = 80, top_ = 20, right_;
    double plot_h_ = 300, legend_y_ = 0, height_ = 0;
    size_t legend_cols_ = 1;
};

std::string run_name(const RunView& r, size_t index) {
    if (!r.label.empty()) return r.label;
    if (!r.sweep_vars.empty()) {
        std::string s;
        for (const auto& kv : r.sweep_vars) s += (s.empty() ? "" : " ") + kv.key + "=" + kv.value;
        return s;
    }
    return "run " + std::to_string(index + 1);
}

double throughput(const RunView& r) {
    if (r.scenario == "http") {
        if (r.rps) return *r.rps;
        if (r.responses && r.elapsed_s > 0) return static_cast<double>(*r.responses) / r.elapsed_s;
        return 0;
    }
    if (r.gbps) return *r.gbps;
    if (r.elapsed_s > 0)
        return (static_cast<double>(r.bytes_sent) + static_cast<double>(r.bytes_received)) * 8 / r.elapsed_s /
               1e9;
    return 0;
}

// The points of run r's latency distribution: the full one if given, else the summary's quantiles.
std::vector<std::pair<double, double>> latency_points(const RunView& r) {
    if (!r.percentiles.empty()) return r.percentiles;
    if (!r.latency || r.latency->count <= 0) return {};
    const LatencySummary& l = *r.latency;
    return {{0, l.min}, {50, l.p50}, {90, l.p90}, {99, l.p99}, {99.9, l.p99_9}, {100, l.max}};
}

bool has_latency(const RunView& r) {
    return r.scenario == "http" && !latency_points(r).empty();
}

// x position of a percentile on the 1/(1-p) log scale, in decades ("nines").
double nines(double pct) {
    if (!(pct < 100)) return HUGE_VAL;
    return std::log10(100.0 / (100.0 - std::max(0.0, pct)));
}

void chart_latency(std::string& out, const std::vector<RunView>& runs) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < runs.size(); ++i)
        if (runs[i].scenario == "http") idx.push_back(i);
    // x range: at least 99.99 %, as far as the finest finite percentile given, at most 99.99999 %
    double xmax = 4;
    double ymax = 0;
    for (size_t i : idx)
        for (const auto& [p, us] : latency_points(runs[i])) {
            if (p < 100) xmax = std::max(xmax, std::ceil(nines(p) - 1e-9));
            ymax = std::max(ymax, us);
        }
    xmax = std::min(xmax, 7.0);
    const auto [div, unit] = latency_unit(make_axis(0, ymax).hi);
    const Axis ya = make_axis(0, ymax);
    std::vector<LegendEntry> legend;
    for (size_t i : idx)
        legend.push_back({run_name(runs[i], i), i, has_latency(runs[i]) ? "" : " (no latency data)"});
    Chart c("latency", "Latency by percentile", 320, 52, legend.size());
    c.open(out);
    c.y_axis(out, ya, div, std::string("latency (") + unit + ")");
    static constexpr std::pair<double, const char*> kTicks[] = {
        {0, "0%"},           {50, "50%"},           {90, "90%"},
        {99, "99%"},         {99.9, "99.9%"},       {99.99, "99.99%"},
        {99.999, "99.999%"}, {99.9999, "99.9999%"}, {99.99999, "99.99999%"}};
    for (const auto& [p, text] : kTicks)
        if (nines(p) <= xmax + 1e-9) c.x_tick(out, nines(p) / xmax, text, true);
    c.x_title(out, "percentile (log scale of 1/(1-p); the maximum is drawn at the right edge)");
    c.frame(out);
    size_t drawn = 0;
    for (size_t i : idx) {
        const auto pts = latency_points(runs[i]);
        if (pts.empty()) continue;
        std::string d;
        for (const auto& [p, us] : pts)
            d += (d.empty() ? "" : " ") + coord(c.px(std::min(nines(p), xmax) / xmax)) + "," +
                 coord(c.py(ya.frac(us)));
        out += "<polyline class=\"series\" fill=\"none\" stroke=\"" + std::string(colour(i)) +
               "\" stroke-width=\"2\" stroke-linejoin=\"round\"" + dashes(i) + " points=\"" + d +
               "\"><title>" + html_escape(run_name(runs[i], i)) + "</title></polyline>\n";
        ++drawn;
    }
    if (drawn == 0) c.message(out, "no latency data");
    c.legend(out, legend);
    c.close(out);
}

// Responses/s (http) or Gbit/s (tcp) per timeline entry, one polyline per run of `scenario`.
void chart_timeline(std::string& out, const std::vector<RunView>& runs, const std::string& scenario) {
    const bool http = scenario == "http";
    auto value = [http](const TimelinePoint& p) {
        return http ? static_cast<double>(p.completed) : static_cast<double>(p.bytes) * 8 / 1e9;
    };
    std::vector<size_t> idx;
    double tmin = 0, tmax = 0, ymax = 0;
    bool any = false;
    for (size_t i = 0; i < runs.size(); ++i) {
        if (runs[i].scenario != scenario) continue;
        idx.push_back(i);
        for (const auto& p : runs[i].timeline) {
            tmin = std::min(tmin, p.t);
            tmax = any ? std::max(tmax, p.t) : std::max(0.0, p.t);
            ymax = std::max(ymax, value(p));
            any = true;
        }
    }
    const Axis xa = make_axis(tmin, tmax > tmin ? tmax : tmin + 1, 10);
    const Axis ya = make_axis(0, ymax);
    const auto [div, prefix] = http ? si_prefix(ya.hi) : std::pair<double, const char*>{1, ""};
    std::vector<LegendEntry> legend;
    for (size_t i : idx)
        legend.push_back({run_name(runs[i], i), i, runs[i].timeline.empty() ? " (no timeline)" : ""});
    Chart c("timeline-" + scenario, http ? "Responses per second over time" : "Gbit/s over time", 260, 52,
            legend.size());
    c.open(out);
    c.y_axis(out, ya, div,
             http ? std::string("responses/s") + (*prefix ? std::string(" (") + prefix + ")" : "")
                  : std::string("Gbit/s"));
    for (double t : xa.ticks()) c.x_tick(out, xa.frac(t), tick_label(t, 1), true);
    c.x_title(out, "time (s)");
    c.frame(out);
    for (size_t i : idx) {
        const auto& tl = runs[i].timeline;
        if (tl.empty()) continue;
        std::string d;
        for (const auto& p : tl)
            d += (d.empty() ? "" : " ") + coord(c.px(xa.frac(p.t))) + "," + coord(c.py(ya.frac(value(p))));
        out += "<polyline class=\"series\" fill=\"none\" stroke=\"" + std::string(colour(i)) +
               "\" stroke-width=\"2\" stroke-linejoin=\"round\"" + dashes(i) + " points=\"" + d +
               "\"><title>" + html_escape(run_name(runs[i], i)) + "</title></polyline>\n";
        if (tl.size() == 1)
            out += "<circle cx=\"" + coord(c.px(xa.frac(tl[0].t))) + "\" cy=\"" +
                   coord(c.py(ya.frac(value(tl[0])))) + "\" r=\"4\" fill=\"" + colour(i) + "\"/>\n";
    }
    if (!any) c.message(out, "no timeline entries");
    c.legend(out, legend);
    c.close(out);
}

constexpr size_t kBarLabel = 22;  // characters of a run name under a bar

// Throughput bars per run of `scenario`; for http, p99 latency as diamonds on a right-hand axis.
void chart_bars(std::string& out, const std::vector<RunView>& runs, const std::string& scenario) {
    const bool http = scenario == "http";
    std::vector<size_t> idx;
    double vmax = 0, lmax = 0;
    size_t longest = 0;
    for (size_t i = 0; i < runs.size(); ++i) {
        if (runs[i].scenario != scenario) continue;
        idx.push_back(i);
        vmax = std::max(vmax, throughput(runs[i]));
        if (http && runs[i].latency) lmax = std::max(lmax, runs[i].latency->p99);
        longest = std::max(longest, truncate(run_name(runs[i], i), kBarLabel).size());
    }
    const size_t n = idx.size();
    const double band_guess = (kWidth - 160) / static_cast<double>(std::max<size_t>(n, 1));
    const bool rotate = static_cast<double>(longest) * 6.5 > band_guess - 6;
    const Axis ya = make_axis(0, vmax);
    const Axis la = make_axis(0, lmax);
    const auto [div, prefix] = http ? si_prefix(ya.hi) : std::pair<double, const char*>{1, ""};
    const auto [ldiv, lunit] = latency_unit(la.hi);
    Chart c("bars-" + scenario, http ? "Responses per second and p99 latency per run" : "Gbit/s per run", 280,
            rotate ? 150 : 52, 0, http ? 80 : 30);
    c.open(out);
    c.y_axis(out, ya, div,
             http ? std::string("responses/s") + (*prefix ? std::string(" (") + prefix + ")" : "")
                  : std::string("Gbit/s"));
    if (http) c.y_axis(out, la, ldiv, std::string("p99 latency (") + lunit + ")", true);
    c.frame(out);
    const double band = c.w() / static_cast<double>(std::max<size_t>(n, 1));
    for (size_t k = 0; k < n; ++k) {
        const RunView& r = runs[idx[k]];
        const double v = throughput(r);
        const double cx = c.x0() + band * (static_cast<double>(k) + 0.5);
        const double bw = std::max(1.0, band * 0.66);
        const double top = c.py(ya.frac(v));
        const std::string name = run_name(r, idx[k]);
        out += "<rect class=\"bar\" x=\"" + coord(cx - bw / 2) + "\" y=\"" + coord(top) + "\" width=\"" +
               coord(bw) + "\" height=\"" + coord(c.y0() + c.h() - top) + "\" fill=\"" + colour(idx[k]) +
               "\" fill-opacity=\"0.85\"><title>" +
               html_escape(name + ": " + (http ? fmt_rate(v) + " responses/s" : fmt_num(v) + " Gbit/s")) +
               "</title></rect>\n";
        if (n <= 12)
            out += "<text x=\"" + coord(cx) + "\" y=\"" + coord(top - 5) +
                   "\" text-anchor=\"middle\" font-size=\"11\">" +
                   html_escape(http ? fmt_num(v / div, 3) + prefix : fmt_num(v, 3)) + "</text>\n";
        const double ly = c.y0() + c.h() + 14;
        if (rotate)
            out += "<text x=\"" + coord(cx) + "\" y=\"" + coord(ly) +
                   "\" text-anchor=\"end\" transform=\"rotate(-55 " + coord(cx) + " " + coord(ly) + ")\">" +
                   html_escape(truncate(name, kBarLabel)) + "</text>\n";
        else
            out += "<text x=\"" + coord(cx) + "\" y=\"" + coord(ly + 4) + "\" text-anchor=\"middle\">" +
                   html_escape(truncate(name, kBarLabel)) + "</text>\n";
        if (http && r.latency && r.latency->count > 0) {
            const double y = c.py(la.frac(r.latency->p99));
            out += "<path class=\"p99\" d=\"M" + coord(cx) + " " + coord(y - 6) +
                   "l6 6l-6 6l-6 -6z\" fill=\"#222\" stroke=\"#fff\"><title>" +
                   html_escape(name + ": p99 " + fmt_us(r.latency->p99)) + "</title></path>\n";
        }
    }
    if (http) {
        const double y = c.y0() - 8;
        out += "<rect x=\"" + coord(c.x0()) + "\" y=\"" + coord(y - 8) +
               "\" width=\"14\" height=\"10\" fill=\"#888\"/>";
        out += "<text x=\"" + coord(c.x0() + 20) + "\" y=\"" + coord(y) + "\">responses/s (left axis)</text>";
        out +=
            "<path d=\"M" + coord(c.x0() + 220) + " " + coord(y - 9) + "l5 5l-5 5l-5 -5z\" fill=\"#222\"/>";
        out += "<text x=\"" + coord(c.x0() + 230) + "\" y=\"" + coord(y) +
               "\">p99 latency (right axis)</text>\n";
    }
    c.close(out);
}

double jain(const std::vector<FlowView>& flows) {
    double sum = 0, sq = 0;
    for (const auto& f : flows) {
        const double x = static_cast<double>(f.bytes_sent) + static_cast<double>(f.bytes_received);
        sum += x;
        sq += x * x;
    }
    if (flows.empty() || !(sq > 0) || !std::isfinite(sq)) return NAN;
    return sum * sum / (static_cast<double>(flows.size()) * sq);
}

void chart_flows(std::string& out, const RunView& r, size_t run_index) {
    double vmax = 0;
    for (const auto& f : r.flows)
        vmax = std::max(vmax, static_cast<double>(f.bytes_sent) + static_cast<double>(f.bytes_received));
    const Axis ya = make_axis(0, vmax);
    const auto [div, prefix] = si_prefix(ya.hi);
    Chart c("flows", "Bytes per flow", 240, 52, 0);
    c.open(out);
    c.y_axis(out, ya, div, std::string("bytes") + (*prefix ? std::string(" (") + prefix + "B)" : ""));
    c.frame(out);
    const size_t n = r.flows.size();
    const double band = c.w() / static_cast<double>(std::max<size_t>(n, 1));
    const size_t label_every = std::max<size_t>(1, static_cast<size_t>(std::ceil(40.0 / band)));
    for (size_t k = 0; k < n; ++k) {
        const FlowView& f = r.flows[k];
        const double cx = c.x0() + band * (static_cast<double>(k) + 0.5);
        const double bw = std::max(0.5, band * 0.7);
        const double sent = static_cast<double>(f.bytes_sent);
        const double total = sent + static_cast<double>(f.bytes_received);
        const double ys = c.py(ya.frac(sent));
        const double yt = c.py(ya.frac(total));
        const std::string tip = "flow " + std::to_string(f.id) + ": sent " + fmt_count(f.bytes_sent) +
                                " B, received " + fmt_count(f.bytes_received) + " B";
        out += "<g class=\"flow\"><title>" + html_escape(tip) + "</title>";
        out += "<rect x=\"" + coord(cx - bw / 2) + "\" y=\"" + coord(ys) + "\" width=\"" + coord(bw) +
               "\" height=\"" + coord(c.y0() + c.h() - ys) + "\" fill=\"" + colour(run_index) + "\"/>";
        out += "<rect x=\"" + coord(cx - bw / 2) + "\" y=\"" + coord(yt) + "\" width=\"" + coord(bw) +
               "\" height=\"" + coord(std::max(0.0, ys - yt)) + "\" fill=\"" + colour(run_index) +
               "\" fill-opacity=\"0.4\"/></g>\n";
        if (k % label_every == 0)
            out += "<text x=\"" + coord(cx) + "\" y=\"" + coord(c.y0() + c.h() + 18) +
                   "\" text-anchor=\"middle\">" + std::to_string(f.id) + "</text>\n";
    }
    if (n == 0) c.message(out, "no flows");
    c.x_title(out, "flow id (solid: sent, light: received)");
    c.close(out);
}

// ---------------------------------------------------------------------------------------------
// Output: the page
// ---------------------------------------------------------------------------------------------

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1240px;
 color:#1d1d1d;padding:0 16px;line-height:1.4}
h1{font-size:1.6em;margin:0 0 4px}
h2{font-size:1.25em;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:0}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #d6d6d6;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f4f6}
td.run{min-width:12em}
td.skip{min-width:18em}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.wrap{overflow-x:auto}
.warn{background:#fff4d6;border-left:4px solid #e0a400;padding:6px 10px}
.bad{color:#b00020;font-weight:600}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
figure{margin:10px 0 24px}
figcaption{color:#555;font-size:13px}
svg.chart{max-width:100%;height:auto;display:block}
details{margin:4px 0}
summary{cursor:pointer}
code{font-size:12px}
)";

std::string now_utc() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string td(const std::string& text, bool numeric = false) {
    return std::string(numeric ? "<td class=\"n\">" : "<td>") + html_escape(text) + "</td>";
}

void host_section(std::string& out, const std::vector<RunView>& runs) {
    out += "<section id=\"host\"><h2>Host</h2>\n";
    if (runs.empty()) {
        out += "<p>No runs.</p></section>\n";
        return;
    }
    const HostView& h = runs[0].host;
    out += "<table><tbody>";
    out += "<tr><th>hostname</th>" + td(h.hostname) + "</tr>";
    out += "<tr><th>kernel</th>" + td(h.kernel) + "</tr>";
    out += "<tr><th>CPU</th>" + td(h.cpu_model) + "</tr>";
    out += "<tr><th>CPUs</th>" + td(std::to_string(h.cpus)) + "</tr>";
    out += "<tr><th>tool version</th>" + td(runs[0].tool_version) + "</tr>";
    out += "</tbody></table>\n";
    if (!h.nics.empty()) {
        out +=
            "<table><thead><tr><th>NIC</th><th>driver</th><th>rx queues</th><th>tx queues</th><th>speed</th>"
            "<th>MTU</th></tr></thead><tbody>";
        for (const auto& n : h.nics)
            out += "<tr>" + td(n.name) + td(n.driver) + td(std::to_string(n.rx_queues), true) +
                   td(std::to_string(n.tx_queues), true) +
                   td(n.speed_mbps ? std::to_string(*n.speed_mbps) + " Mbit/s" : "-", true) +
                   td(n.mtu ? std::to_string(*n.mtu) : "-", true) + "</tr>";
        out += "</tbody></table>\n";
    }
    // distinct (host, kernel, CPU) across runs, with the runs that came from each
    std::vector<std::pair<std::string, std::string>> groups;
    for (size_t i = 0; i < runs.size(); ++i) {
        const HostView& x = runs[i].host;
        const std::string key = x.hostname + " / kernel " + x.kernel + " / " + x.cpu_model + " / " +
                                std::to_string(x.cpus) + " CPUs";
        auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
        if (it == groups.end()) {
            groups.push_back({key, ""});
            it = groups.end() - 1;
        }
        it->second += (it->second.empty() ? "" : ", ") + std::to_string(i + 1);
    }
    if (groups.size() > 1) {
        out +=
            "<div class=\"warn\"><p>The runs come from different hosts or kernels; compare them with "
            "care.</p><ul>";
        for (const auto& [key, list] : groups)
            out += "<li>" + html_escape(key) + ": runs " + html_escape(list) + "</li>";
        out += "</ul></div>\n";
    }
    out += "</section>\n";
}

std::string counts_text(const std::vector<NamedCount>& v, bool nonzero_only) {
    std::string s;
    for (const auto& c : v) {
        if (nonzero_only && c.count == 0) continue;
        s += (s.empty() ? "" : "; ") + c.name + " " + fmt_count(c.count);
    }
    return s.empty() ? (nonzero_only ? "0" : "-") : s;
}

void summary_section(std::string& out, const std::vector<RunView>& runs) {
    out += "<section id=\"summary\"><h2>Runs</h2>\n";
    if (runs.empty()) {
        out += "<p>No runs.</p></section>\n";
        return;
    }
    out +=
        "<div class=\"wrap\"><table><thead><tr><th>#</th><th>run</th><th>scenario</th><th>mode</th>"
        "<th>conns</th><th>threads</th><th>rate</th><th>duration</th><th>throughput</th><th>p50</th><th>p99</"
        "th>"
        "<th>p99.9</th><th>max</th><th>errors</th><th>status</th><th>fairness</th><th>skipped settings</th>"
        "</tr></thead><tbody>\n";
    for (size_t i = 0; i < runs.size(); ++i) {
        const RunView& r = runs[i];
        const bool http = r.scenario == "http";
        out += "<tr><td class=\"n\"><span class=\"swatch\" style=\"background:" + std::string(colour(i)) +
               "\"></span>" + std::to_string(i + 1) + "</td>";
        std::string name = run_name(r, i);
        if (r.sweep_point > 0)
            name += " (point " + std::to_string(r.sweep_point) + "/" + std::to_string(r.sweep_points) + ")";
        out += "<td class=\"run\">" + html_escape(name) + "</td>" + td(r.scenario) +
               td(r.mode.empty() ? "-" : r.mode);
        out += td(std::to_string(r.connections), true) + td(std::to_string(r.threads), true);
        out += td(r.rate && (*r.rate > 0 || r.mode == "open") ? fmt_rate(*r.rate) + "/s" : "-", true);
        out += td(fmt_num(r.elapsed_s, 4) + " s", true);
        const double tp = throughput(r);
        out += td(http ? fmt_rate(tp) + " rps" : fmt_num(tp, 4) + " Gbit/s", true);
        if (http && r.latency && r.latency->count > 0) {
            out += td(fmt_us(r.latency->p50), true) + td(fmt_us(r.latency->p99), true) +
                   td(fmt_us(r.latency->p99_9), true) + td(fmt_us(r.latency->max), true);
        } else {
            out += "<td class=\"n\">-</td><td class=\"n\">-</td><td class=\"n\">-</td><td class=\"n\">-</td>";
        }
        const std::string errs = counts_text(r.errors, true);
        out += errs == "0" ? td(errs) : "<td class=\"bad\">" + html_escape(errs) + "</td>";
        out += td(http ? counts_text(r.status, true) : "-");
        const double fair = r.fairness ? *r.fairness : jain(r.flows);
        out += td(r.scenario == "tcp" && std::isfinite(fair) ? fmt_num(fair, 4) : "-", true);
        std::string sk;
        for (const auto& s : r.skipped) sk += (sk.empty() ? "" : "; ") + s.key + ": " + s.value;
        out += "<td class=\"skip\">" + html_escape(sk.empty() ? "-" : sk) + "</td></tr>\n";
    }
    out += "</tbody></table></div>\n</section>\n";
}

void settings_section(std::string& out, const std::vector<RunView>& runs) {
    if (runs.empty()) return;
    out += "<section id=\"settings\"><h2>Settings</h2>\n";
    for (size_t i = 0; i < runs.size(); ++i) {
        const RunView& r = runs[i];
        out += "<details><summary>" + std::to_string(i + 1) + ". " + html_escape(run_name(r, i)) +
               "</summary>\n";
        out += "<p>Started " + html_escape(r.started_at) + " on " + html_escape(r.host.hostname) +
               " (kernel " + html_escape(r.host.kernel) + "), tool version " + html_escape(r.tool_version) +
               ", from " + html_escape(r.source) + ".</p>\n";
        if (!r.command.empty()) out += "<p><code>" + html_escape(r.command) + "</code></p>\n";
        out += "<table><tbody>";
        for (const auto& kv : r.settings)
            out += "<tr><th>" + html_escape(kv.key) + "</th>" + td(kv.value) + "</tr>";
        for (const auto& kv : r.sweep_vars)
            out += "<tr><th>sweep: " + html_escape(kv.key) + "</th>" + td(kv.value) + "</tr>";
        out += "</tbody></table></details>\n";
    }
    out += "</section>\n";
}

bool valid_utf8_at(std::string_view s, size_t i, size_t& len) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    uint32_t cp = 0;
    if (c < 0x80) {
        len = 1;
        return true;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return false;
    return true;
}

bool read_file(const std::string& path, std::string& text, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": " + std::strerror(errno);
        return false;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
        error = path + ": read error";
        return false;
    }
    text = ss.str();
    return true;
}

constexpr const char* kUsage =
    "usage: edgeshard-bench report [-o OUT.html] [--title TEXT] FILE.json...\n"
    "  Reads result files (one JSON object, or JSON Lines as `sweep --json` writes) and writes one\n"
    "  self-contained HTML page (inline CSS and SVG) to OUT.html, or to stdout.\n";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------------------------

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 16);
    for (size_t i = 0; i < s.size();) {
        size_t len = 1;
        if (!valid_utf8_at(s, i, len)) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        if (len > 1) {
            out.append(s.substr(i, len));
            i += len;
            continue;
        }
        const char c = s[i++];
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            case '\t':
            case '\n':
                out += c;
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
                    out += "\xEF\xBF\xBD";
                else
                    out += c;
        }
    }
    return out;
}

std::string render_report(const std::vector<RunView>& runs, const ReportOptions& options) {
    const std::string generated = options.generated_at.empty() ? now_utc() : options.generated_at;
    std::string out;
    out.reserve(64 * 1024);
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    // The page loads nothing and runs nothing: the policy makes that a guarantee, not a habit.
    out +=
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
        "'unsafe-inline'\">\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    out +=
        "<title>" + html_escape(options.title) + "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n";
    std::set<std::string> files;
    for (const auto& r : runs) files.insert(r.file);
    out += "<header><h1>" + html_escape(options.title) + "</h1>\n<p class=\"meta\">Generated " +
           html_escape(generated) + " by edgeshard-bench report from " + std::to_string(runs.size()) +
           (runs.size() == 1 ? " run" : " runs") + " in " + std::to_string(files.size()) +
           (files.size() == 1 ? " file" : " files") + ".</p></header>\n";
    host_section(out, runs);
    summary_section(out, runs);

    size_t n_http = 0, n_tcp = 0;
    for (const auto& r : runs) (r.scenario == "http" ? n_http : n_tcp)++;
    out += "<section id=\"charts\"><h2>Charts</h2>\n";
    if (runs.empty()) out += "<p>No runs, no charts.</p>\n";
    if (n_http > 0) {
        out += "<figure>";
        chart_latency(out, runs);
        out +=
            "<figcaption>Latency distribution of the HTTP runs (HDR style: each step to the right adds a "
            "nine). "
            "Open-loop runs measure from the intended send time.</figcaption></figure>\n";
        out += "<figure>";
        chart_timeline(out, runs, "http");
        out += "<figcaption>Responses per second over the measured period.</figcaption></figure>\n";
    }
    if (n_tcp > 0) {
        out += "<figure>";
        chart_timeline(out, runs, "tcp");
        out +=
            "<figcaption>TCP payload Gbit/s over the measured period (both directions "
            "added).</figcaption></figure>\n";
    }
    if (runs.size() >= 2) {
        if (n_http >= 2) {
            out += "<figure>";
            chart_bars(out, runs, "http");
            out +=
                "<figcaption>Responses per second per HTTP run, with its p99 "
                "latency.</figcaption></figure>\n";
        }
        if (n_tcp >= 2) {
            out += "<figure>";
            chart_bars(out, runs, "tcp");
            out += "<figcaption>Gbit/s per TCP run.</figcaption></figure>\n";
        }
    }
    for (size_t i = 0; i < runs.size(); ++i) {
        const RunView& r = runs[i];
        if (r.scenario != "tcp" || r.flows.empty()) continue;
        const double fair = r.fairness ? *r.fairness : jain(r.flows);
        out += "<figure>";
        chart_flows(out, r, i);
        out += "<figcaption>Bytes per flow, run " + std::to_string(i + 1) + " (" +
               html_escape(run_name(r, i)) + "): Jain's fairness index " +
               (std::isfinite(fair) ? fmt_num(fair, 4) : std::string("n/a")) +
               (r.fairness ? "" : " (computed from the flows)") + ".</figcaption></figure>\n";
    }
    out += "</section>\n";
    settings_section(out, runs);
    out += "</body>\n</html>\n";
    return out;
}

int report_main(const std::vector<std::string>& args) {
    std::string out_path;
    ReportOptions opt;
    std::vector<std::string> inputs;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if ((a == "-o" || a == "--output" || a == "--title") && i + 1 >= args.size()) {
            std::fprintf(stderr, "edgeshard-bench report: %s needs a value\n%s", a.c_str(), kUsage);
            return 1;
        }
        if (a == "-o" || a == "--output") {
            out_path = args[++i];
        } else if (a == "--title") {
            opt.title = args[++i];
        } else if (a == "--") {
            inputs.insert(inputs.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        } else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "edgeshard-bench report: unknown option '%s'\n%s", a.c_str(), kUsage);
            return 1;
        } else {
            inputs.push_back(a);
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "edgeshard-bench report: no result files given\n%s", kUsage);
        return 1;
    }
    std::vector<RunView> runs;
    for (const auto& path : inputs) {
        std::string text, error;
        if (!read_file(path, text, error) || !parse_result_text(text, path, runs, error)) {
            std::fprintf(stderr, "edgeshard-bench report: %s\n", error.c_str());
            return 1;
        }
    }
    const std::string html = render_report(runs, opt);
    if (out_path.empty() || out_path == "-") {
        if (std::fwrite(html.data(), 1, html.size(), stdout) != html.size() || std::fflush(stdout) != 0) {
            std::fprintf(stderr, "edgeshard-bench report: writing stdout: %s\n", std::strerror(errno));
            return 1;
        }
        return 0;
    }
    // write beside the target, then rename: a reader never sees half a page
    const std::string tmp = out_path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) {
        std::fprintf(stderr, "edgeshard-bench report: %s: %s\n", tmp.c_str(), std::strerror(errno));
        return 1;
    }
    const bool ok = std::fwrite(html.data(), 1, html.size(), f) == html.size();
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed || std::rename(tmp.c_str(), out_path.c_str()) != 0) {
        std::fprintf(stderr, "edgeshard-bench report: writing %s: %s\n", out_path.c_str(),
                     std::strerror(errno));
        std::remove(tmp.c_str());
        return 1;
    }
    std::fprintf(stderr, "edgeshard-bench report: wrote %s (%zu runs)\n", out_path.c_str(), runs.size());
    return 0;
}

}  // namespace es::bench
