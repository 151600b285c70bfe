// edgeshard-bench report: reading result JSON (one object or JSON Lines) with the schema's
// requirements, and the HTML/SVG page it renders: escaping, one latency line per HTTP run, and no
// NaN or infinity in any chart whatever the numbers (zero, empty, huge).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "report.hpp"

using es::bench::html_escape;
using es::bench::parse_result_text;
using es::bench::render_report;
using es::bench::ReportOptions;
using es::bench::RunView;

namespace {

const char* kHost =
    R"("host":{"hostname":"h1","kernel":"6.1.0","cpu_model":"Test CPU","cpus":8,)"
    R"("nics":[{"name":"eth0","driver":"virtio_net","rx_queues":4,"tx_queues":4,"speed_mbps":10000}]})";

const char* kSettings =
    R"("settings":{"target":"http://127.0.0.1:8080/","threads":2,"connections":16,"duration_s":5,)"
    R"("mode":"closed","rate":0,"ring_entries":256,"buffers":64,"buffer_size":4096,"registered_buffers":false,)"
    R"("batch":16,"busy_poll_us":0,"napi_busy_poll_us":0,"send_zc_threshold":0,"pin":"none"})";

// One compact (single-line) http result object.
std::string http_run(const std::string& label, const std::string& rps = "1000",
                     const std::string& lat = "1000",
                     const std::string& timeline = R"([{"t":1,"completed":1000,"bytes":100000}])") {
    return std::string(
               R"({"schema":"edgeshard-bench/1","tool":{"name":"edgeshard-bench","version":"0.1.0"},)") +
           R"("started_at":"2024-01-01T00:00:00Z","label":")" + label + R"(","scenario":"http",)" +
           kSettings + R"(,"skipped":[],)" + kHost +
           R"(,"results":{"elapsed_s":5,"requests":5000,"responses":5000,"rps":)" + rps +
           R"(,"bytes_sent":1,"bytes_received":2,"status":{"1xx":0,"2xx":5000,"3xx":0,"4xx":0,"5xx":0},)" +
           R"("errors":{"connect":0,"read":0,"write":0,"timeout":0,"parse":0},)" +
           R"("latency_us":{"count":5000,"min":10,"mean":)" + lat + R"(,"p50":)" + lat + R"(,"p90":)" + lat +
           R"(,"p99":)" + lat + R"(,"p99_9":)" + lat + R"(,"max":)" + lat + "}," +
           R"("latency_percentiles":[[0,10],[50,)" + lat + "],[99," + lat + "],[100," + lat + "]]," +
           R"("timeline":)" + timeline + "}}";
}

std::string tcp_run(const std::string& label, const std::string& flows, const std::string& gbps = "9.5") {
    return std::string(
               R"({"schema":"edgeshard-bench/1","tool":{"name":"edgeshard-bench","version":"0.1.0"},)") +
           R"("started_at":"2024-01-01T00:00:00Z","label":")" + label + R"(","scenario":"tcp",)" + kSettings +
           R"(,"skipped":[{"setting":"busy_poll_us","reason":"needs CAP_NET_ADMIN"}],)" + kHost +
           R"(,"results":{"elapsed_s":5,"bytes_sent":1000,"bytes_received":0,"gbps":)" + gbps +
           R"(,"errors":{"connect":0,"read":0,"write":0,"timeout":0,"parse":0},"timeline":[],"flows":)" +
           flows + "}}";
}

std::vector<RunView> parse_ok(const std::string& text, const std::string& name = "t.json") {
    std::vector<RunView> runs;
    std::string err;
    const bool ok = parse_result_text(text, name, runs, err);
    INFO(err);
    REQUIRE(ok);
    return runs;
}

std::string parse_err(const std::string& text, const std::string& name = "t.json") {
    std::vector<RunView> runs;
    std::string err;
    CHECK_FALSE(parse_result_text(text, name, runs, err));
    CHECK(runs.empty());
    return err;
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
    return n;
}

// The text of the chart `<svg ... data-chart="id" ...>...</svg>`, or "" if absent.
std::string chart(const std::string& html, const std::string& id) {
    const size_t at = html.find("data-chart=\"" + id + "\"");
    if (at == std::string::npos) return {};
    const size_t start = html.rfind("<svg", at);
    const size_t end = html.find("</svg>", at);
    REQUIRE(end != std::string::npos);
    return html.substr(start, end + 6 - start);
}

std::vector<std::string> all_svgs(const std::string& html) {
    std::vector<std::string> out;
    for (size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) {
        const size_t end = html.find("</svg>", p);
        REQUIRE(end != std::string::npos);
        out.push_back(html.substr(p, end + 6 - p));
    }
    return out;
}

// Every number inside the numeric attributes of an SVG parses as a finite value, and the words
// nan/inf appear nowhere.
void check_finite_svg(const std::string& svg) {
    std::string lower;
    for (char c : svg) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(lower.find("nan") == std::string::npos);
    CHECK(lower.find("inf") == std::string::npos);
    for (const char* attr : {" x=\"", " y=\"", " x1=\"", " y1=\"", " x2=\"", " y2=\"", " width=\"",
                             " height=\"", " cx=\"", " cy=\"", " points=\"", " viewBox=\""}) {
        const std::string a(attr);
        for (size_t p = svg.find(a); p != std::string::npos; p = svg.find(a, p + 1)) {
            const size_t b = p + a.size();
            const size_t e = svg.find('"', b);
            REQUIRE(e != std::string::npos);
            std::string v = svg.substr(b, e - b);
            for (char& c : v)
                if (c == ',') c = ' ';
            const char* s = v.c_str();
            char* end = nullptr;
            for (double d = std::strtod(s, &end); end != s; d = std::strtod(s, &end)) {
                CHECK(std::isfinite(d));
                CHECK(std::fabs(d) <= 1e6);
                s = end;
            }
            INFO(a << v);
            CHECK(std::string(s).find_first_not_of(' ') == std::string::npos);
        }
    }
}

ReportOptions opts() {
    ReportOptions o;
    o.title = "t";
    o.generated_at = "2024-01-01T00:00:00Z";
    return o;
}

}  // namespace

TEST_CASE("html_escape escapes markup, quotes, control bytes and broken UTF-8") {
    CHECK(html_escape("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    CHECK(html_escape("tab\there\nnewline") == "tab\there\nnewline");
    CHECK(html_escape(std::string("nul\0x", 5)) == "nul\xEF\xBF\xBDx");
    CHECK(html_escape("\x1b[31m") == "\xEF\xBF\xBD[31m");
    CHECK(html_escape("caf\xC3\xA9 \xE2\x9C\x93") == "caf\xC3\xA9 \xE2\x9C\x93");  // valid UTF-8 kept
    CHECK(html_escape("bad \xC3 end") == "bad \xEF\xBF\xBD end");                  // truncated sequence
    CHECK(html_escape("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    CHECK(html_escape("") == "");
}

TEST_CASE("a label with a script tag comes out escaped everywhere") {
    const std::string evil = R"(<script>alert(1)</script>\"&)";
    auto runs = parse_ok(http_run(evil) + "\n" + http_run("plain") + "\n");
    REQUIRE(runs.size() == 2);
    CHECK(runs[0].label == "<script>alert(1)</script>\"&");
    ReportOptions o = opts();
    o.title = "<img src=x onerror=alert(2)>";
    const std::string html = render_report(runs, o);
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("<img") == std::string::npos);
    CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;") != std::string::npos);
    CHECK(html.find("&lt;img src=x onerror=alert(2)&gt;") != std::string::npos);
    // the label reaches the summary table, the chart legends and tooltips, all escaped
    CHECK(count(html, "&lt;script&gt;") >= 4);
}

TEST_CASE("one latency polyline per http run, with a legend entry each") {
    for (size_t n_http : {1u, 3u, 20u}) {
        std::string text;
        for (size_t i = 0; i < n_http; ++i)
            text += http_run("run-" + std::to_string(i), std::to_string(1000 * (i + 1)),
                             std::to_string(100 + i)) +
                    "\n";
        text += tcp_run("tcp", R"([{"id":0,"bytes_sent":10,"bytes_received":0}])") + "\n";
        const auto runs = parse_ok(text, "sweep.jsonl");
        REQUIRE(runs.size() == n_http + 1);
        CHECK(runs.back().source == "sweep.jsonl:" + std::to_string(n_http + 1));
        const std::string html = render_report(runs, opts());
        const std::string lat = chart(html, "latency");
        REQUIRE_FALSE(lat.empty());
        CHECK(count(lat, "<polyline") == n_http);
        CHECK(count(lat, "class=\"legend-entry\"") == n_http);
        CHECK(count(chart(html, "timeline-http"), "<polyline") == n_http);
        CHECK(count(chart(html, "timeline-tcp"), "<polyline") == 0);  // the tcp timeline is empty
        // a bar chart compares 2+ http runs; the tcp run alone has none
        CHECK(chart(html, "bars-http").empty() == (n_http < 2));
        CHECK(count(chart(html, "bars-http"), "class=\"bar\"") == (n_http < 2 ? 0 : n_http));
        CHECK(chart(html, "bars-tcp").empty());
        CHECK(count(chart(html, "flows"), "class=\"flow\"") == 1);
        for (const auto& svg : all_svgs(html)) check_finite_svg(svg);
    }
}

TEST_CASE("charts stay finite for zero, empty and huge inputs") {
    SUBCASE("no runs at all") {
        const std::string html = render_report({}, opts());
        CHECK(html.find("<svg") == std::string::npos);
        CHECK(html.find("No runs") != std::string::npos);
    }
    SUBCASE("all zero, empty timelines, zero-byte flows") {
        std::string text = http_run("zero", "0", "0", "[]") + "\n" + http_run("zero2", "0", "0", "[]") +
                           "\n" + tcp_run("z", R"([{"id":0,"bytes_sent":0,"bytes_received":0}])", "0") +
                           "\n" + tcp_run("empty-flows", "[]", "0") + "\n";
        const auto runs = parse_ok(text);
        const std::string html = render_report(runs, opts());
        const auto svgs = all_svgs(html);
        CHECK(svgs.size() == 6);  // latency, 2 timelines, 2 bar charts, 1 flows chart (empty flows: none)
        for (const auto& svg : svgs) check_finite_svg(svg);
        CHECK(html.find("no timeline entries") != std::string::npos);
    }
    SUBCASE("huge values") {
        const std::string big_tl =
            R"([{"t":1e300,"completed":18446744073709551615,"bytes":18446744073709551615},)"
            R"({"t":-1e300,"completed":0,"bytes":0}])";
        std::string text =
            http_run("huge", "1.7e308", "1.7e308", big_tl) + "\n" + http_run("tiny", "1e-300", "1e-300") +
            "\n" +
            tcp_run("huge",
                    R"([{"id":9,"bytes_sent":18446744073709551615,"bytes_received":18446744073709551615}])",
                    "1.7e308") +
            "\n" + tcp_run("small", R"([{"id":1,"bytes_sent":1,"bytes_received":0}])", "0") + "\n";
        const auto runs = parse_ok(text);
        const std::string html = render_report(runs, opts());
        const auto svgs = all_svgs(html);
        CHECK(svgs.size() == 7);  // latency, 2 timelines, 2 bar charts, one flows chart per tcp run
        for (const auto& svg : svgs) check_finite_svg(svg);
    }
}

TEST_CASE("JSON Lines: a bad line is reported with its line number, and nothing is kept") {
    const std::string good = http_run("a");
    SUBCASE("syntax error") {
        const std::string err = parse_err(
            good + "\n\n" + R"({"schema": "edgeshard-bench/1", oops)" + "\n" + good + "\n", "sweep.jsonl");
        CHECK(err.rfind("sweep.jsonl:3: invalid JSON", 0) == 0);
    }
    SUBCASE("truncated last line") {
        const std::string err = parse_err(good + "\n" + good.substr(0, good.size() / 2), "s.jsonl");
        CHECK(err.rfind("s.jsonl:2: invalid JSON", 0) == 0);
    }
    SUBCASE("valid JSON but not a valid result") {
        std::string bad = good;
        bad.replace(bad.find(R"("timeline":)"), 11, R"("timelime":)");
        const std::string err = parse_err(good + "\n" + good + "\n" + bad + "\n", "s.jsonl");
        CHECK(err == "s.jsonl:3: results: missing required field \"timeline\"");
    }
    SUBCASE("blank lines and CRLF are fine") {
        const auto runs = parse_ok("\n" + good + "\r\n\r\n" + good + "\r\n", "s.jsonl");
        REQUIRE(runs.size() == 2);
        CHECK(runs[0].source == "s.jsonl:2");
        CHECK(runs[0].line == 2);
        CHECK(runs[1].source == "s.jsonl:4");
    }
}

TEST_CASE("a single object may span lines; its syntax errors name the line") {
    std::string pretty = http_run("multi");
    for (size_t p = pretty.find(",\""); p != std::string::npos; p = pretty.find(",\"", p + 3))
        pretty.insert(p + 1, "\n  ");
    const auto runs = parse_ok(pretty, "one.json");
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].source == "one.json");
    CHECK(runs[0].line == 0);
    CHECK(runs[0].label == "multi");
    CHECK(runs[0].connections == 16);
    CHECK(runs[0].mode == "closed");
    REQUIRE(runs[0].latency.has_value());
    CHECK(runs[0].latency->p99 == doctest::Approx(1000));
    CHECK(runs[0].status.size() == 5);

    const std::string err =
        parse_err("{\n  \"schema\": \"edgeshard-bench/1\",\n  \"tool\": [1,,2]\n}\n", "x.json");
    CHECK(err.rfind("x.json:3: invalid JSON", 0) == 0);
    CHECK(parse_err("", "e.json") == "e.json: no result object (the file is empty)");
    CHECK(parse_err("[1,2]", "a.json") == "a.json: a result must be a JSON object");
}

TEST_CASE("the schema marker and required fields are enforced") {
    const std::string good = http_run("a");
    auto without = [&](const std::string& piece, const std::string& replacement = "") {
        std::string s = good;
        const size_t p = s.find(piece);
        REQUIRE(p != std::string::npos);
        return s.replace(p, piece.size(), replacement);
    };
    CHECK(parse_err(without(R"("schema":"edgeshard-bench/1",)")) ==
          "t.json: not an edgeshard-bench result: missing required field \"schema\"");
    CHECK(parse_err(without(R"("schema":"edgeshard-bench/1")", R"("schema":"edgeshard-bench/2")")) ==
          "t.json: schema: must be \"edgeshard-bench/1\" (got \"edgeshard-bench/2\")");
    CHECK(parse_err(without(R"(,"pin":"none")")) == "t.json: settings: missing required field \"pin\"");
    CHECK(parse_err(without(R"("scenario":"http")", R"("scenario":"udp")")) ==
          "t.json: scenario: must be \"http\" or \"tcp\"");
    CHECK(parse_err(without(R"("p99":1000,)")) ==
          "t.json: results.latency_us: missing required field \"p99\"");
    CHECK(parse_err(without(R"("connections":16)", R"("connections":0)")) ==
          "t.json: settings.connections: must be at least 1");
    CHECK(parse_err(without(R"("bytes_sent":1)", R"("bytes_sent":-1)")) ==
          "t.json: results.bytes_sent: must not be negative");
    CHECK(parse_err(without(R"("5xx":0)", R"("5xx":"none")")) ==
          "t.json: results.status.5xx: must be a non-negative integer");
    CHECK(parse_err(without(R"("cpus":8,)")) == "t.json: host: missing required field \"cpus\"");
    CHECK(parse_err(without(R"([100,1000])", R"([150,1000])")) ==
          "t.json: results.latency_percentiles[3][0]: percentile must lie in 0..100");
    // in a JSON Lines file the line is named too
    CHECK(parse_err(good + "\n" + without(R"("tool":{"name":"edgeshard-bench","version":"0.1.0"},)") +
                    "\n") == "t.json:2: missing required field \"tool\"");
}

TEST_CASE("percentiles given as fractions are read as percent; missing rps is derived") {
    std::string s = http_run("f");
    s.replace(s.find(R"([[0,10],[50,1000],[99,1000],[100,1000]])"), 39, R"([[0.99,5],[0,1],[0.5,2],[1,9]])");
    s.replace(s.find(R"("rps":1000,)"), 11, "");
    const auto runs = parse_ok(s);
    REQUIRE(runs[0].percentiles.size() == 4);
    CHECK(runs[0].percentiles[0].first == 0);
    CHECK(runs[0].percentiles[1].first == doctest::Approx(50));
    CHECK(runs[0].percentiles[2].first == doctest::Approx(99));
    CHECK(runs[0].percentiles[3].first == doctest::Approx(100));
    CHECK_FALSE(runs[0].rps.has_value());
    const std::string html = render_report(runs, opts());
    CHECK(html.find("1,000 rps") != std::string::npos);  // 5000 responses over 5 s
}

TEST_CASE("the page is self-contained and reports differing hosts and skipped settings") {
    std::string other = tcp_run("t2", "[]");
    other.replace(other.find(R"("kernel":"6.1.0")"), 16, R"("kernel":"6.6.1")");
    const auto runs = parse_ok(http_run("a") + "\n" + other + "\n");
    const std::string html = render_report(runs, opts());
    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(html.find("default-src 'none'") != std::string::npos);
    CHECK(html.find("http-equiv") != std::string::npos);
    for (const char* ext : {"<script", "<link", "src=", "@import", "url("})
        CHECK(html.find(ext) == std::string::npos);
    CHECK(html.find("different hosts or kernels") != std::string::npos);
    CHECK(html.find("busy_poll_us: needs CAP_NET_ADMIN") != std::string::npos);
    CHECK(html.find("Generated 2024-01-01T00:00:00Z") != std::string::npos);
    CHECK(count(html, "<svg") == count(html, "</svg>"));
}

TEST_CASE("report_main: usage and input errors exit 1") {
    CHECK(es::bench::report_main({}) == 1);
    CHECK(es::bench::report_main({"--bogus", "x.json"}) == 1);
    CHECK(es::bench::report_main({"-o"}) == 1);
    CHECK(es::bench::report_main({"/nonexistent/dir/result.json"}) == 1);
}
