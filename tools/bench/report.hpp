// `edgeshard-bench report`: turns result JSON (result.schema.json) into one self-contained HTML page.
//
// The work is split in two steps that need no files, so tests can drive them directly:
//   parse_result_text()  one result file's text (one JSON object, or JSON Lines) -> RunView records,
//                        checked against what the schema requires;
//   render_report()      RunView records -> one HTML5 page with inline CSS and inline SVG charts
//                        (no scripts, fonts, images or network references).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace es::bench {

// A name and its value rendered as text (settings, sweep variables, skipped settings).
struct KeyValue {
    std::string key;
    std::string value;
};

struct NamedCount {
    std::string name;
    uint64_t count = 0;
};

struct NicView {
    std::string name;
    std::string driver;
    int64_t rx_queues = 0;
    int64_t tx_queues = 0;
    std::optional<int64_t> speed_mbps;
    std::optional<int64_t> mtu;
};

struct HostView {
    std::string hostname;
    std::string kernel;
    std::string cpu_model;
    int64_t cpus = 0;
    std::vector<NicView> nics;
};

// results.latency_us, microseconds.
struct LatencySummary {
    double count = 0, min = 0, mean = 0, p50 = 0, p90 = 0, p99 = 0, p99_9 = 0, max = 0;
};

struct TimelinePoint {
    double t = 0;
    uint64_t completed = 0;
    uint64_t bytes = 0;
    std::optional<double> p99_us;
};

struct FlowView {
    int64_t id = 0;
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
};

// One run (one result object), as the report needs it. Every string is raw input text: the
// renderer escapes it.
struct RunView {
    std::string source;  // "FILE" for a single-object file, "FILE:LINE" for a JSON Lines record
    std::string file;    // FILE as given
    size_t line = 0;     // the JSON Lines record's line, 0 for a single-object file
    std::string tool_version;
    std::string started_at;
    std::string label;
    std::string scenario;  // "http" or "tcp"
    std::string command;
    std::string target;
    std::string mode;  // "closed", "open", or empty when the run did not say
    int64_t threads = 0;
    int64_t connections = 0;
    double duration_s = 0;
    std::optional<double> rate;
    std::vector<KeyValue> settings;  // every setting in file order; non-strings as JSON text
    std::vector<KeyValue> sweep_vars;
    int64_t sweep_point = 0;  // 0 = not part of a sweep
    int64_t sweep_points = 0;
    std::vector<KeyValue> skipped;  // key = setting, value = reason
    HostView host;

    double elapsed_s = 0;
    std::optional<uint64_t> requests;
    std::optional<uint64_t> responses;
    std::optional<double> rps;
    std::optional<double> gbps;
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    std::vector<NamedCount> status;  // in file order
    std::vector<NamedCount> errors;  // in file order
    std::optional<LatencySummary> latency;
    // (percentile in percent 0..100, microseconds), sorted by percentile. A file whose
    // percentiles all lie in [0, 1] is read as fractions and scaled to percent.
    std::vector<std::pair<double, double>> percentiles;
    std::vector<TimelinePoint> timeline;
    std::vector<FlowView> flows;
    std::optional<double> fairness;
};

struct ReportOptions {
    std::string title = "edgeshard-bench report";
    std::string generated_at;  // shown in the header; empty = the current UTC time (RFC 3339)
};

// Parses the text of one result file: a single JSON object (which may span lines) or JSON Lines
// (one object per line; blank lines are ignored). `name` is used in messages and RunView::source.
// Appends the runs to `out` and returns true; on the first problem returns false, leaves `out` as
// it was, and sets `error` to "NAME[:LINE]: reason" (LINE is the JSON Lines record's line, or the
// line of a syntax error in a single-object file).
bool parse_result_text(std::string_view text, const std::string& name, std::vector<RunView>& out,
                       std::string& error);

// The whole HTML page. Accepts any number of runs (zero included); never writes NaN or infinity
// into the SVG.
std::string render_report(const std::vector<RunView>& runs, const ReportOptions& options);

// Text -> HTML text/attribute content: escapes & < > " ', replaces control characters other than
// tab and newline (and any byte sequence that is not UTF-8) with U+FFFD.
std::string html_escape(std::string_view text);

// args: the words after `report`. Returns the process exit status (0 ok, 1 usage or input error,
// with the reason on stderr).
int report_main(const std::vector<std::string>& args);

}  // namespace es::bench
