// stats room: HTTP counters in `show stat`, the Prometheus exposition and the HTML stats page,
// driven by hand-made counter blocks.
// GCC 12 reports a false maybe-uninitialized inside <regex> (std::function in _State) under
// -fsanitize; the test only uses std::regex to check rendered text.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "edgeshard/stats/render.hpp"

using namespace es;
using namespace es::stats;

namespace {

// frontend "web" (http) and frontend "raw" (tcp); backend `ap"p\1` (http, servers "s<1>" and
// "s2" in maintenance) and backend "tcpb" (tcp, server "t1").
Layout http_layout() {
    Layout c;
    Layout::Frontend web;
    web.name = "web";
    web.http = true;
    Layout::Frontend raw;
    raw.name = "raw";
    c.frontends = {web, raw};

    Layout::Backend app;
    app.name = "ap\"p\\1";
    app.http = true;
    Layout::Server s1;
    s1.name = "s<1>";
    s1.id = 0;
    s1.weight = 1;
    Layout::Server s2;
    s2.name = "s2";
    s2.id = 1;
    s2.weight = 1;
    s2.disabled = true;
    app.servers = {s1, s2};

    Layout::Backend tcpb;
    tcpb.name = "tcpb";
    Layout::Server t1;
    t1.name = "t1";
    t1.id = 0;
    t1.weight = 1;
    tcpb.servers = {t1};
    c.backends = {app, tcpb};
    return c;
}

std::unique_ptr<ShardStats> blocks_for(const Layout& lay, int id) {
    auto s = std::make_unique<ShardStats>();
    s->shard_id = id;
    s->cpu = id;
    s->n_fe = lay.frontends.size();
    s->n_be = lay.backends.size();
    s->fe = std::make_unique<FrontendCounters[]>(s->n_fe);
    s->be = std::make_unique<BackendCounters[]>(s->n_be);
    for (const auto& b : lay.backends) {
        s->n_srv.push_back(b.servers.size());
        s->srv.push_back(std::make_unique<ServerCounters[]>(b.servers.size()));
    }
    return s;
}

// Two shards with different HTTP activity; every counter has a distinct value so a value in the
// wrong column shows.
struct HttpFixture {
    Layout layout = http_layout();
    std::vector<std::unique_ptr<ShardStats>> blocks;

    HttpFixture() {
        for (int i = 0; i < 2; ++i) {
            blocks.push_back(blocks_for(layout, i));
            ShardStats& b = *blocks.back();
            const std::uint64_t k = std::uint64_t(i + 1);
            FrontendCounters& fe = b.fe[0];
            fe.req_tot.set(100 * k);
            fe.hrsp_1xx.set(1 * k);
            fe.hrsp_2xx.set(80 * k);
            fe.hrsp_3xx.set(3 * k);
            fe.hrsp_4xx.set(10 * k);
            fe.hrsp_5xx.set(5 * k);
            fe.hrsp_other.set(1 * k);
            fe.dreq.set(7 * k);
            fe.dresp.set(2 * k);
            fe.intercepted.set(4 * k);
            fe.log_drops.set(9 * k);
            b.fe[1].stot.set(33);  // tcp frontend: no HTTP fields

            BackendCounters& be = b.be[0];
            be.req_tot.set(90 * k);
            be.hrsp_2xx.set(70 * k);
            be.hrsp_5xx.set(20 * k);
            be.connect.set(11 * k);
            be.reuse.set(79 * k);
            be.dreq.set(6 * k);
            be.dresp.set(1 * k);
            // shard 0: 10 samples summing 100 ms (avg 10); shard 1: 30 samples summing 900 (avg 30)
            // merged: 1000/40 = 25
            be.ctime_sum.set(i == 0 ? 100 : 900);
            be.ctime_n.set(i == 0 ? 10 : 30);
            be.ttime_sum.set(i == 0 ? 2000 : 6000);
            be.ttime_n.set(i == 0 ? 10 : 30);  // 8000/40 = 200
            be.rtime_sum.set(0);
            be.rtime_n.set(0);  // never sampled: 0

            ServerCounters& sv = b.srv[0][0];
            sv.req_tot.set(90 * k);
            sv.hrsp_2xx.set(70 * k);
            sv.hrsp_4xx.set(20 * k);
            sv.connect.set(11 * k);
            sv.reuse.set(79 * k);
            sv.dresp.set(1 * k);
            sv.qtime_sum.set(30 * k);
            sv.qtime_n.set(3 * k);  // 90/9 = 10
            sv.ctime_sum.set(i == 0 ? 100 : 900);
            sv.ctime_n.set(i == 0 ? 10 : 30);
            sv.idle_conn_cur.set(3 * std::int64_t(k));  // 3 + 6 = 9
        }
    }

    Snapshot snap() const {
        std::vector<ShardView> views;
        for (const auto& b : blocks) {
            ShardView v;
            v.id = b->shard_id;
            v.cpu = b->cpu;
            v.stats = b.get();
            views.push_back(std::move(v));
        }
        ProcessView p;
        p.pid = 77;
        p.version = "9.9.9";
        p.uptime_s = 42;
        p.maxconn = 1000;
        p.nbshards = views.size();
        return build_snapshot(layout, p, views);
    }
};

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string l;
    while (std::getline(in, l)) out.push_back(l);
    return out;
}

// Splits one CSV line on ',' honouring HAProxy's quoting ("" inside quotes).
std::vector<std::string> csv_cells(const std::string& line) {
    std::vector<std::string> cells;
    std::string cur;
    bool q = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (q) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                cur.push_back('"');
                ++i;
            } else if (c == '"') {
                q = false;
            } else {
                cur.push_back(c);
            }
        } else if (c == '"') {
            q = true;
        } else if (c == ',') {
            cells.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    return cells;  // every cell is followed by ',', so nothing is pending
}

// The CSV rows keyed by "pxname/svname".
std::map<std::string, std::vector<std::string>> csv_rows(const Snapshot& s) {
    std::string csv;
    render_stat_csv(s, false, csv);
    std::map<std::string, std::vector<std::string>> rows;
    const auto ls = lines_of(csv);
    for (std::size_t i = 1; i < ls.size(); ++i) {
        auto cells = csv_cells(ls[i]);
        REQUIRE(cells.size() == kStatFieldCount);
        rows[cells[0] + "/" + cells[1]] = cells;
    }
    return rows;
}

}  // namespace

TEST_CASE("show stat CSV: HTTP fields at HAProxy's positions") {
    HttpFixture fx;
    const Snapshot s = fx.snap();
    std::string csv;
    render_stat_csv(s, false, csv);
    const auto header = csv_cells(lines_of(csv)[0].substr(2));
    REQUIRE(header.size() == kStatFieldCount);
    CHECK(header[39] == "hrsp_1xx");
    CHECK(header[44] == "hrsp_other");
    CHECK(header[48] == "req_tot");
    CHECK(header[58] == "qtime");
    CHECK(header[61] == "ttime");
    CHECK(header[80] == "intercepted");
    CHECK(header[84] == "connect");
    CHECK(header[85] == "reuse");
    CHECK(header[88] == "srv_icur");
    CHECK(header[95] == "idle_conn_cur");

    auto rows = csv_rows(s);
    const auto& web = rows.at("web/FRONTEND");
    CHECK(web[10] == "21");   // dreq 7+14
    CHECK(web[11] == "6");    // dresp
    CHECK(web[39] == "3");    // 1xx
    CHECK(web[40] == "240");  // 2xx
    CHECK(web[41] == "9");
    CHECK(web[42] == "30");
    CHECK(web[43] == "15");
    CHECK(web[44] == "3");
    CHECK(web[48] == "300");  // req_tot
    CHECK(web[80] == "12");   // intercepted
    CHECK(web[58].empty());   // qtime: backends and servers only
    CHECK(web[84].empty());

    const auto& raw = rows.at("raw/FRONTEND");
    CHECK(raw[7] == "66");
    for (std::size_t pos : {39ul, 40ul, 44ul, 80ul, 86ul}) {
        CAPTURE(pos);
        CHECK(raw[pos].empty());  // a TCP frontend has no HTTP fields...
    }
    CHECK(raw[48] == "0");  // ...but req_tot, as HAProxy 2.6.12 (the requests of its upgraded connections)
    CHECK(raw[10] == "0");  // dreq, dresp: every frontend has them, as in HAProxy 2.6
    CHECK(raw[11] == "0");

    const auto& be = rows.at("ap\"p\\1/BACKEND");
    CHECK(be[10] == "18");
    CHECK(be[11] == "3");
    CHECK(be[40] == "210");
    CHECK(be[43] == "60");
    CHECK(be[48] == "270");
    CHECK(be[58] == "0");    // qtime never sampled on the backend
    CHECK(be[59] == "25");   // ctime = (100+900)/(10+30), not the mean of the shard means (20)
    CHECK(be[60] == "0");    // rtime: no sample
    CHECK(be[61] == "200");  // ttime
    CHECK(be[84] == "33");
    CHECK(be[85] == "237");
    CHECK(be[95].empty());   // idle_conn_cur: servers only

    const auto& sv = rows.at("ap\"p\\1/s<1>");
    CHECK(sv[11] == "3");
    CHECK(sv[40] == "210");
    CHECK(sv[42] == "60");
    CHECK(!sv[48].empty());  // req_tot: HAProxy 2.6 fills it for HTTP servers too
    CHECK(sv[58] == "10");
    CHECK(sv[59] == "25");
    CHECK(sv[84] == "33");
    CHECK(sv[85] == "237");
    CHECK(sv[88] == "9");
    CHECK(sv[95] == "9");

    // TCP backend and server: no HTTP fields; times (0 before a sample) and the connection counters as HAProxy
    // 2.6.12 fills them for tcp proxies too
    const auto& tb = rows.at("tcpb/BACKEND");
    for (std::size_t pos : {40ul, 48ul}) {
        CAPTURE(pos);
        CHECK(tb[pos].empty());
    }
    for (std::size_t pos : {58ul, 59ul, 84ul, 85ul}) {
        CAPTURE(pos);
        CHECK(tb[pos] == "0");
    }
    fx.blocks[0]->be[1].ctime_sum.set(40);
    fx.blocks[0]->be[1].ctime_n.set(4);
    CHECK(csv_rows(fx.snap()).at("tcpb/BACKEND")[59] == "10");
}

TEST_CASE("show stat JSON types the HTTP fields") {
    HttpFixture fx;
    std::string js;
    render_stat_json(fx.snap(), false, js);
    // req_tot of web: a u64 counter at position 48
    CHECK(js.find("\"field\":{\"pos\":48,\"name\":\"req_tot\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\","
                  "\"nature\":\"Counter\",\"scope\":\"Process\"},\"value\":{\"type\":\"u64\",\"value\":300}") !=
          std::string::npos);
    CHECK(js.find("\"field\":{\"pos\":59,\"name\":\"ctime\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\","
                  "\"nature\":\"Avg\",\"scope\":\"Process\"},\"value\":{\"type\":\"u32\",\"value\":25}") !=
          std::string::npos);
}

TEST_CASE("show info: CumReq and DroppedLogs") {
    HttpFixture fx;
    std::string txt;
    render_info_text(fx.snap(), txt);
    CHECK(txt.find("CumReq: 300\n") != std::string::npos);
    CHECK(txt.find("DroppedLogs: 27\n") != std::string::npos);
}

namespace {

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    std::string value;
};

// Parses a Prometheus text exposition strictly enough to catch grammar slips: returns false (with
// the reason) on any line that is not a HELP, a TYPE or a well-formed sample, on a family whose
// HELP/TYPE appear twice, a sample before its TYPE, or a family split in two.
bool parse_exposition(const std::string& text, std::vector<Sample>& samples, std::map<std::string, std::string>& types,
                      std::string& why) {
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
    static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
    static const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[+-]Inf))");
    static const std::regex label(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)\"(,|$))");
    std::set<std::string> helped, closed;
    std::string current;
    for (const std::string& l : lines_of(text)) {
        std::smatch m;
        if (std::regex_match(l, m, help)) {
            if (!helped.insert(m[1]).second) return why = "HELP twice: " + l, false;
            continue;
        }
        if (std::regex_match(l, m, type)) {
            if (types.count(m[1])) return why = "TYPE twice: " + l, false;
            if (!current.empty()) closed.insert(current);
            current = m[1];
            if (closed.count(current)) return why = "family split: " + l, false;
            types[m[1]] = m[2];
            continue;
        }
        if (!std::regex_match(l, m, sample)) return why = "bad line: " + l, false;
        Sample s;
        s.name = m[1];
        s.value = m[4];
        if (s.name != current) return why = "sample outside its family: " + l, false;
        std::string ls = m[3];
        while (!ls.empty()) {
            std::smatch lm;
            if (!std::regex_search(ls, lm, label) || lm.position(0) != 0) return why = "bad labels: " + l, false;
            std::string v = lm[2];
            std::string un;
            for (std::size_t i = 0; i < v.size(); ++i) {
                if (v[i] == '\\' && i + 1 < v.size()) {
                    ++i;
                    un.push_back(v[i] == 'n' ? '\n' : v[i]);
                } else {
                    un.push_back(v[i]);
                }
            }
            s.labels[lm[1]] = un;
            ls = lm.suffix();
        }
        samples.push_back(std::move(s));
    }
    for (const auto& [name, t] : types)
        if (!helped.count(name)) return why = "TYPE without HELP: " + name, false;
    return true;
}

const Sample* find(const std::vector<Sample>& v, const std::string& name, std::map<std::string, std::string> labels) {
    for (const Sample& s : v)
        if (s.name == name && s.labels == labels) return &s;
    return nullptr;
}

}  // namespace

TEST_CASE("Prometheus exposition: grammar, families once, values") {
    HttpFixture fx;
    const std::string text = render_prometheus(fx.snap());
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;
    std::string why;
    REQUIRE_MESSAGE(parse_exposition(text, samples, types, why), why);
    CHECK(samples.size() > 50);
    CHECK(text.back() == '\n');

    auto value = [&](const std::string& name, std::map<std::string, std::string> labels) {
        const Sample* s = find(samples, name, labels);
        return s ? s->value : std::string("<missing>");
    };
    const std::string app = "ap\"p\\1";
    CHECK(types["haproxy_process_build_info"] == "gauge");
    CHECK(value("haproxy_process_build_info", {{"version", "9.9.9"}}) == "1");
    CHECK(value("haproxy_process_uptime_seconds", {}) == "42");
    CHECK(value("haproxy_process_requests_total", {}) == "300");
    CHECK(value("haproxy_process_dropped_logs_total", {}) == "27");
    CHECK(types["haproxy_process_requests_total"] == "counter");

    CHECK(types["haproxy_frontend_http_requests_total"] == "counter");
    CHECK(value("haproxy_frontend_http_requests_total", {{"proxy", "web"}}) == "300");
    CHECK(value("haproxy_frontend_http_responses_total", {{"proxy", "web"}, {"code", "2xx"}}) == "240");
    CHECK(value("haproxy_frontend_http_responses_total", {{"proxy", "web"}, {"code", "other"}}) == "3");
    CHECK(value("haproxy_frontend_requests_denied_total", {{"proxy", "web"}}) == "21");
    CHECK(value("haproxy_frontend_intercepted_requests_total", {{"proxy", "web"}}) == "12");
    CHECK(value("haproxy_frontend_sessions_total", {{"proxy", "raw"}}) == "66");
    CHECK(find(samples, "haproxy_frontend_http_requests_total", {{"proxy", "raw"}}) == nullptr);
    CHECK(value("haproxy_frontend_status", {{"proxy", "web"}, {"state", "UP"}}) == "1");
    CHECK(value("haproxy_frontend_status", {{"proxy", "web"}, {"state", "DOWN"}}) == "0");

    // label escaping round-trips the backend name with a quote and a backslash
    CHECK(value("haproxy_backend_http_requests_total", {{"proxy", app}}) == "270");
    CHECK(value("haproxy_backend_http_responses_total", {{"proxy", app}, {"code", "5xx"}}) == "60");
    CHECK(value("haproxy_backend_connect_time_average_seconds", {{"proxy", app}}) == "0.025");
    CHECK(value("haproxy_backend_total_time_average_seconds", {{"proxy", app}}) == "0.2");
    CHECK(value("haproxy_backend_connection_attempts_total", {{"proxy", app}}) == "33");
    CHECK(value("haproxy_backend_connection_reuses_total", {{"proxy", app}}) == "237");
    CHECK(types["haproxy_backend_connect_time_average_seconds"] == "gauge");
    CHECK(value("haproxy_backend_status", {{"proxy", app}, {"state", "UP"}}) == "1");

    CHECK(value("haproxy_server_http_responses_total", {{"proxy", app}, {"server", "s<1>"}, {"code", "4xx"}}) ==
          "60");
    CHECK(value("haproxy_server_queue_time_average_seconds", {{"proxy", app}, {"server", "s<1>"}}) == "0.01");
    CHECK(value("haproxy_server_idle_connections_current", {{"proxy", app}, {"server", "s<1>"}}) == "9");
    CHECK(value("haproxy_server_status", {{"proxy", app}, {"server", "s2"}, {"state", "MAINT"}}) == "1");
    CHECK(value("haproxy_server_status", {{"proxy", app}, {"server", "s2"}, {"state", "UP"}}) == "0");
    CHECK(value("haproxy_server_status", {{"proxy", app}, {"server", "s<1>"}, {"state", "UP"}}) == "1");
    CHECK(find(samples, "haproxy_server_connection_attempts_total", {{"proxy", "tcpb"}, {"server", "t1"}}) ==
          nullptr);
    CHECK(text.find("proxy=\"ap\\\"p\\\\1\"") != std::string::npos);
}

TEST_CASE("Prometheus: a TCP-only config has no HTTP families at all") {
    HttpFixture fx;
    fx.layout.frontends.resize(1);
    fx.layout.frontends[0].http = false;
    fx.layout.backends[0].http = false;
    const std::string text = render_prometheus(fx.snap());
    CHECK(text.find("http_requests_total") == std::string::npos);
    CHECK(text.find("http_responses_total") == std::string::npos);
    std::vector<Sample> samples;
    std::map<std::string, std::string> types;
    std::string why;
    CHECK_MESSAGE(parse_exposition(text, samples, types, why), why);
}

TEST_CASE("HTML stats page: self-contained, escaped, one table per proxy") {
    HttpFixture fx;
    fx.layout.frontends[0].name = "w<b>&\"x\"";
    const Snapshot s = fx.snap();
    const std::string html = render_html(s, "/stats?x=<1>", 5);
    CHECK(html.starts_with("<!DOCTYPE html>"));
    CHECK(html.find("<meta http-equiv=\"refresh\" content=\"5\">") != std::string::npos);
    CHECK(html.find("w&lt;b&gt;&amp;&quot;x&quot;") != std::string::npos);
    CHECK(html.find("w<b>") == std::string::npos);
    CHECK(html.find("s&lt;1&gt;") != std::string::npos);
    CHECK(html.find("ap&quot;p\\1") != std::string::npos);
    CHECK(html.find("href=\"/stats?x=&lt;1&gt;;csv\"") != std::string::npos);
    // no external resources, no script
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("src=") == std::string::npos);
    CHECK(html.find("<link") == std::string::npos);
    CHECK(html.find("http://") == std::string::npos);
    CHECK(html.find("https://") == std::string::npos);
    // one table per proxy: web, raw, the http backend, tcpb
    std::size_t tables = 0;
    for (std::size_t p = html.find("<table class=\"px\">"); p != std::string::npos;
         p = html.find("<table class=\"px\">", p + 1))
        ++tables;
    CHECK(tables == 4);
    CHECK(html.find("<td>240</td>") != std::string::npos);  // web 2xx
    CHECK(html.find("<tr class=\"maint\"><td class=\"name\">s2</td>") != std::string::npos);
    CHECK(html.find("</html>") != std::string::npos);
    CHECK(render_html(s, "/s", 0).find("http-equiv") == std::string::npos);
}

TEST_CASE("stats page endpoint: HTML, ;csv, ;json, ;norefresh") {
    HttpFixture fx;
    const Snapshot s = fx.snap();
    std::string body;
    CHECK(render_stats_page(s, "/st", "/st", 10, body) == "text/html; charset=utf-8");
    CHECK(body.find("content=\"10\"") != std::string::npos);

    body.clear();
    CHECK(render_stats_page(s, "/st", "/st;csv", 10, body) == "text/plain; charset=utf-8");
    std::string csv;
    render_stat_csv(s, false, csv);
    CHECK(body == csv);  // the same CSV as `show stat`

    body.clear();
    CHECK(render_stats_page(s, "/st", "/st;csv;norefresh", 10, body) == "text/plain; charset=utf-8");
    CHECK(body == csv);

    body.clear();
    CHECK(render_stats_page(s, "/st", "/st;json", 10, body) == "application/json");
    CHECK(body.starts_with("[["));

    body.clear();
    render_stats_page(s, "/st", "/st;norefresh", 10, body);
    CHECK(body.find("http-equiv") == std::string::npos);

    // HAProxy looks for each option anywhere after the uri: a trailing slash, a query form, the later formats win
    body.clear();
    CHECK(render_stats_page(s, "/st", "/st/;csv", 10, body) == "text/plain; charset=utf-8");
    CHECK(body == csv);
    body.clear();
    CHECK(render_stats_page(s, "/haproxy?stats", "/haproxy?stats;csv;norefresh", 10, body) ==
          "text/plain; charset=utf-8");
    CHECK(body == csv);
    body.clear();
    CHECK(render_stats_page(s, "/st", "/st;csv;json", 10, body) == "application/json");
    body.clear();
    CHECK(render_stats_page(s, "/st", "/st;typed", 10, body) == "text/plain; charset=utf-8");
    CHECK(body.starts_with("F."));
    body.clear();
    CHECK(render_stats_page(s, "/st", "/st;json-schema", 10, body) == "application/json");
    CHECK(body.find("json-schema.org") != std::string::npos);
    // the page's process lines, in HAProxy's words (what page readers look for)
    body.clear();
    render_stats_page(s, "/st", "/st", 10, body);
    CHECK(body.find("idle = ") != std::string::npos);
    CHECK(body.find("Running tasks: ") != std::string::npos);
}
