// stats room: totals carried across a reload (stats/carry.hpp): the es-totals format, matching by
// name, the combine rules and what the renderers show from a snapshot with carried totals.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/stats/carry.hpp"
#include "edgeshard/stats/render.hpp"

using namespace es;
using namespace es::stats;

namespace {

struct Px {
    std::string name;
    std::vector<std::string> servers;
};

Layout make_cfg(const std::vector<std::string>& fes, const std::vector<Px>& bes) {
    Layout c;
    for (const auto& n : fes) {
        Layout::Frontend f;
        f.name = n;
        f.http = true;
        c.frontends.push_back(f);
    }
    for (const auto& p : bes) {
        Layout::Backend b;
        b.name = p.name;
        b.http = true;
        for (const auto& sn : p.servers) {
            Layout::Server s;
            s.name = sn;
            s.id = int(b.servers.size());
            s.weight = 1;
            b.servers.push_back(s);
        }
        c.backends.push_back(b);
    }
    return c;
}

std::size_t fe_index(const Layout& c, const std::string& n) {
    for (std::size_t i = 0; i < c.frontends.size(); ++i)
        if (c.frontends[i].name == n) return i;
    FAIL("no frontend " << n);
    return 0;
}

std::size_t be_index(const Layout& c, const std::string& n) {
    for (std::size_t i = 0; i < c.backends.size(); ++i)
        if (c.backends[i].name == n) return i;
    FAIL("no backend " << n);
    return 0;
}

std::size_t srv_index(const Layout& c, std::size_t b, const std::string& n) {
    for (std::size_t i = 0; i < c.backends[b].servers.size(); ++i)
        if (c.backends[b].servers[i].name == n) return i;
    FAIL("no server " << n);
    return 0;
}

// One process: its objects, one counter block per shard, its pools.
struct Proc {
    Layout cfg;
    std::vector<std::unique_ptr<ShardStats>> blocks;
    std::vector<std::uint64_t> pool_failed;  // per shard

    Proc(Layout c, int nshards) : cfg(std::move(c)) {
        for (int i = 0; i < nshards; ++i) {
            auto s = std::make_unique<ShardStats>();
            s->shard_id = i;
            s->n_fe = cfg.frontends.size();
            s->n_be = cfg.backends.size();
            s->fe = std::make_unique<FrontendCounters[]>(s->n_fe);
            s->be = std::make_unique<BackendCounters[]>(s->n_be);
            for (const auto& b : cfg.backends) {
                s->n_srv.push_back(b.servers.size());
                s->srv.push_back(std::make_unique<ServerCounters[]>(b.servers.size()));
            }
            blocks.push_back(std::move(s));
            pool_failed.push_back(0);
        }
    }
    FrontendCounters& fe(int shard, const std::string& n) {
        return blocks[std::size_t(shard)]->fe[fe_index(cfg, n)];
    }
    BackendCounters& be(int shard, const std::string& n) {
        return blocks[std::size_t(shard)]->be[be_index(cfg, n)];
    }
    ServerCounters& srv(int shard, const std::string& b, const std::string& s) {
        const std::size_t bi = be_index(cfg, b);
        return blocks[std::size_t(shard)]->srv[bi][srv_index(cfg, bi, s)];
    }
    ShardCounters& shard(int i) { return blocks[std::size_t(i)]->shard; }

    Snapshot snap(const Carried* carried = nullptr, bool per_shard = false) const {
        std::vector<ShardView> views;
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            ShardView v;
            v.id = int(i);
            v.stats = blocks[i].get();
            v.pools.push_back({"buffer", 16384, 4, 1, pool_failed[i], 2});
            views.push_back(std::move(v));
        }
        ProcessView p;
        p.pid = 1;
        p.version = "0.1.0";
        p.nbshards = blocks.size();
        BuildOptions opt;
        opt.per_shard_objects = per_shard;
        opt.carried = carried;
        return build_snapshot(cfg, p, views, opt);
    }
};

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        const std::size_t nl = s.find('\n', pos);
        out.push_back(s.substr(pos, nl - pos));
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    return out;
}

std::vector<std::string> cells_of(const std::string& line) {
    std::vector<std::string> cells;
    std::string cur;
    for (char c : line) {
        if (c == ',') {
            cells.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    return cells;
}

// One cell of `show stat` CSV, by proxy, service and column name.
std::string csv_cell(const std::string& csv, const std::string& px, const std::string& sv,
                     const std::string& col) {
    const auto lines = lines_of(csv);
    REQUIRE(!lines.empty());
    const auto header = cells_of(lines[0].substr(2));
    std::size_t ci = header.size();
    for (std::size_t i = 0; i < header.size(); ++i)
        if (header[i] == col) ci = i;
    REQUIRE(ci < header.size());
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const auto cells = cells_of(lines[i]);
        if (cells.size() > ci && cells[0] == px && cells[1] == sv) return cells[ci];
    }
    FAIL("no row " << px << "/" << sv);
    return {};
}

std::string info_value(const Snapshot& s, const std::string& name) {
    std::string txt;
    render_info_text(s, txt);
    for (const auto& l : lines_of(txt))
        if (l.rfind(name + ": ", 0) == 0) return l.substr(name.size() + 2);
    return "<absent>";
}

std::string roundtrip(const Carried& c) {
    Carried back;
    std::string err;
    const std::string text = export_totals(c);
    REQUIRE_MESSAGE(import_totals(text, back, &err), err);
    return export_totals(back);
}

// The old generation: frontends web, gone; backends app(s1, s2), old(o1); shard counters.
Proc old_process() {
    Proc p(make_cfg({"web", "gone"}, {{"app", {"s1", "s2"}}, {"old", {"o1"}}}), 2);
    for (int i = 0; i < 2; ++i) {
        auto& w = p.fe(i, "web");
        w.scur.set(5);
        w.smax.set(40);
        w.stot.set(100);
        w.bin.set(1000);
        w.bout.set(2000);
        w.req_tot.set(300);
        w.hrsp_2xx.set(290);
        w.hrsp_5xx.set(10);
        w.dreq.set(3);
        w.intercepted.set(4);
        w.log_drops.set(1);
        w.maxconn_reached.set(2);
        auto& g = p.fe(i, "gone");
        g.stot.set(7);
        g.req_tot.set(70);
        g.bin.set(11);
        g.bout.set(13);
        g.log_drops.set(5);
        auto& a = p.be(i, "app");
        a.scur.set(3);
        a.qcur.set(2);
        a.qmax.set(9);
        a.smax.set(30);
        a.stot.set(90);
        a.econ.set(4);
        a.req_tot.set(290);
        a.connect.set(20);
        a.reuse.set(270);
        a.qtime_sum.set(900);
        a.qtime_n.set(30);
        a.ttime_sum.set(3000);
        a.ttime_n.set(30);
        auto& s1 = p.srv(i, "app", "s1");
        s1.scur.set(2);
        s1.inflight.set(2);
        s1.idle_conn_cur.set(6);
        s1.smax.set(12);
        s1.stot.set(60);
        s1.lbtot.set(61);
        s1.wretr.set(1);
        s1.rtime_sum.set(500);
        s1.rtime_n.set(50);
        p.srv(i, "app", "s2").stot.set(30);
        p.srv(i, "old", "o1").stot.set(8);
        auto& sh = p.shard(i);
        sh.conns.set(8);
        sh.buffers_out.set(3);
        sh.accepts.set(1000);
        sh.accept_paused.set(1);
        sh.loops.set(50000);
        sh.cq_overflow.set(2);
        sh.splice_bytes.set(123456);
        p.pool_failed[std::size_t(i)] = 4;
    }
    return p;
}

// The new generation, after a reload with a changed config: frontends reordered and one added
// (api), "gone" removed; backend app's servers reordered, s3 added; backend "old" removed.
Proc new_process() {
    Proc p(make_cfg({"api", "web"}, {{"app", {"s3", "s2", "s1"}}}), 3);
    for (int i = 0; i < 3; ++i) {
        auto& w = p.fe(i, "web");
        w.scur.set(1);
        w.smax.set(4);
        w.stot.set(10);
        w.bin.set(100);
        w.bout.set(200);
        w.req_tot.set(20);
        w.hrsp_2xx.set(20);
        p.fe(i, "api").stot.set(1);
        p.fe(i, "api").req_tot.set(1);
        auto& a = p.be(i, "app");
        a.qcur.set(1);
        a.qmax.set(2);
        a.smax.set(50);
        a.stot.set(10);
        a.req_tot.set(20);
        a.qtime_sum.set(100);
        a.qtime_n.set(10);
        a.ttime_sum.set(100);
        a.ttime_n.set(10);
        auto& s1 = p.srv(i, "app", "s1");
        s1.scur.set(1);
        s1.smax.set(3);
        s1.stot.set(5);
        s1.lbtot.set(5);
        s1.rtime_sum.set(10);
        s1.rtime_n.set(10);
        p.srv(i, "app", "s3").stot.set(2);
        auto& sh = p.shard(i);
        sh.conns.set(2);
        sh.accepts.set(10);
        sh.loops.set(100);
        p.pool_failed[std::size_t(i)] = 1;
    }
    return p;
}

}  // namespace

TEST_CASE("export -> import round trip keeps every carried total") {
    const Proc old = old_process();
    const Snapshot s = old.snap();
    const std::string text = export_totals(s);
    CHECK(text.rfind("es-totals 1\nprocess ", 0) == 0);
    CHECK(text.size() >= 4);
    CHECK(text.substr(text.size() - 4) == "end\n");
    // gauges never leave the process
    CHECK(text.find(" scur=") == std::string::npos);
    CHECK(text.find(" qcur=") == std::string::npos);
    CHECK(text.find(" inflight=") == std::string::npos);
    CHECK(text.find(" idle_conn_cur=") == std::string::npos);
    CHECK(text.find(" conns=") == std::string::npos);
    CHECK(text.find(" buffers_out=") == std::string::npos);

    Carried c;
    std::string err;
    REQUIRE_MESSAGE(import_totals(text, c, &err), err);
    CHECK(export_totals(c) == text);  // deterministic, lossless

    REQUIRE(c.frontends.count("web") == 1);
    const FrontendValues& w = c.frontends.at("web");
    CHECK(w.stot == 200);
    CHECK(w.bin == 2000);
    CHECK(w.req_tot == 600);
    CHECK(w.hrsp[1] == 580);
    CHECK(w.hrsp[4] == 20);
    CHECK(w.dreq == 6);
    CHECK(w.intercepted == 8);
    CHECK(w.log_drops == 2);
    CHECK(w.maxconn_reached == 4);
    CHECK(w.smax == 40);  // the exporter's own merge: the largest shard maximum
    CHECK(w.scur == 0);
    const BackendValues& a = c.backends.at("app");
    CHECK(a.qmax == 9);
    CHECK(a.econ == 8);
    CHECK(a.connect == 40);
    CHECK(a.reuse == 540);
    CHECK(a.qtime.sum == 1800);
    CHECK(a.qtime.n == 60);
    CHECK(a.qcur == 0);
    const ServerValues& s1 = c.servers.at("app").at("s1");
    CHECK(s1.stot == 120);
    CHECK(s1.lbtot == 122);
    CHECK(s1.rtime.n == 100);
    CHECK(s1.inflight == 0);
    CHECK(s1.idle_conn_cur == 0);
    CHECK(c.servers.at("old").at("o1").stot == 16);
    CHECK(c.process.shard.accepts == 2000);
    CHECK(c.process.shard.loops == 100000);
    CHECK(c.process.shard.splice_bytes == 246912);
    CHECK(c.process.shard.conns == 0);
    CHECK(c.process.req_tot == 600 + 140);
    CHECK(c.process.bytes_in == 2000 + 22);
    CHECK(c.process.bytes_out == 4000 + 26);
    CHECK(c.process.log_drops == 2 + 10);
    CHECK(c.process.pool_failed == 8);
    // pool demand for the new process's hint: needed_avg summed over the old process's shards
    CHECK(text.find("\npool buffer 16384 needed_avg=4\n") != std::string::npos);
    REQUIRE(c.pool_needed.count("buffer") == 1);
    CHECK(c.pool_needed.at("buffer").at(16384) == 4);
}

TEST_CASE("names with any byte survive the round trip escaped") {
    Carried c;
    const std::vector<std::string> names = {"a b",       "x=y%z",           "line\nbreak",
                                            "tab\there", "caf\xc3\xa9",     std::string("nul\0byte", 8),
                                            "%41",       "plain-name_1.2:3"};
    for (std::size_t i = 0; i < names.size(); ++i) {
        c.frontends[names[i]].stot = i + 1;
        c.backends[names[i]].lbtot = i + 2;
        c.servers[names[i]][names[(i + 1) % names.size()]].stot = i + 3;
    }
    const std::string text = export_totals(c);
    for (const auto& l : lines_of(text))
        for (char ch : l) CHECK((ch >= 0x20 && ch < 0x7f));
    CHECK(text.find("fe plain-name_1.2:3 stot=8\n") != std::string::npos);
    CHECK(text.find("fe a%20b stot=1\n") != std::string::npos);
    CHECK(text.find("fe x%3Dy%25z stot=2\n") != std::string::npos);
    Carried back;
    std::string err;
    REQUIRE_MESSAGE(import_totals(text, back, &err), err);
    for (std::size_t i = 0; i < names.size(); ++i) {
        REQUIRE(back.frontends.count(names[i]) == 1);
        CHECK(back.frontends.at(names[i]).stot == i + 1);
        CHECK(back.backends.at(names[i]).lbtot == i + 2);
        CHECK(back.servers.at(names[i]).at(names[(i + 1) % names.size()]).stot == i + 3);
    }
    CHECK(back.frontends.count("%41") == 1);  // a literal '%' is escaped: never decoded as "A"
    CHECK(back.frontends.count("A") == 0);
}

TEST_CASE("a snapshot holding carried totals cannot be exported again") {
    const Proc old = old_process();
    Carried c;
    REQUIRE(import_totals(export_totals(old.snap()), c));
    const Proc neu = new_process();
    const Snapshot with = neu.snap(&c);
    CHECK(with.carried_applied);
    const auto bugs = core::bug_count();
    const std::string refused = export_totals(with);
    CHECK(refused.empty());
    CHECK(totals_of(with).empty());
    CHECK(core::bug_count() == bugs + 2);
    Carried untouched = c;
    std::string err;
    CHECK_FALSE(import_totals(refused, untouched, &err));
    CHECK(err.find("empty input") != std::string::npos);
    CHECK(roundtrip(untouched) == export_totals(c));

    // applying twice is refused as well and changes nothing
    Snapshot twice = neu.snap(&c);
    const std::uint64_t stot = twice.fe[fe_index(neu.cfg, "web")].stot;
    apply_carried(twice, c);
    CHECK(twice.fe[fe_index(neu.cfg, "web")].stot == stot);
    CHECK(core::bug_count() == bugs + 3);

    // the own snapshot of the same process exports its own values only
    const Snapshot own = neu.snap();
    CHECK_FALSE(own.carried_applied);
    Carried mine;
    REQUIRE(import_totals(export_totals(own), mine));
    CHECK(mine.frontends.at("web").stot == 30);
    CHECK(mine.process.shard.accepts == 30);
}

TEST_CASE("carried totals are matched by name across a changed config") {
    const Proc old = old_process();
    Carried c;
    REQUIRE(import_totals(export_totals(old.snap()), c));
    const Proc neu = new_process();
    const Snapshot own = neu.snap();
    const Snapshot s = neu.snap(&c);
    const Layout& cfg = neu.cfg;

    const std::size_t web = fe_index(cfg, "web"), api = fe_index(cfg, "api");
    CHECK(web == 1);  // reordered: the match is by name, not position
    CHECK(s.fe[web].stot == 30 + 200);
    CHECK(s.fe[web].bin == 300 + 2000);
    CHECK(s.fe[web].req_tot == 60 + 600);
    CHECK(s.fe[web].hrsp[1] == 60 + 580);
    CHECK(s.fe[web].hrsp[4] == 0 + 20);
    CHECK(s.fe[web].dreq == 6);
    CHECK(s.fe[web].maxconn_reached == 4);
    CHECK(s.fe[api].stot == own.fe[api].stot);  // a new object starts from its own values
    CHECK(s.fe[api].req_tot == 3);

    const std::size_t app = be_index(cfg, "app");
    const std::size_t s1 = srv_index(cfg, app, "s1"), s2 = srv_index(cfg, app, "s2"),
                      s3 = srv_index(cfg, app, "s3");
    CHECK(s1 == 2);
    CHECK(s.be[app].stot == 30 + 180);
    CHECK(s.be[app].econ == 8);
    CHECK(s.srv[app][s1].stot == 15 + 120);
    CHECK(s.srv[app][s1].lbtot == 15 + 122);
    CHECK(s.srv[app][s1].wretr == 2);
    CHECK(s.srv[app][s2].stot == 60);
    CHECK(s.srv[app][s3].stot == 6);  // new server: own only

    // process totals continue, including the share of objects that are gone ("gone", "old")
    CHECK(s.carried_info.req_tot == 140);  // only "gone": web's share sits in fe[web]
    CHECK(s.carried_info.bytes_in == 22);
    CHECK(s.carried_info.bytes_out == 26);
    CHECK(s.carried_info.log_drops == 10);
    CHECK(s.carried_info.shard.accepts == 2000);
    CHECK(s.carried_info.pool_failed == 8);
    // own-process views are untouched
    CHECK(s.shard_total.accepts == own.shard_total.accepts);
    CHECK(s.shard_total.loops == own.shard_total.loops);
}

TEST_CASE("counters add, maxima take the max, gauges are not carried") {
    const Proc old = old_process();
    Carried c;
    REQUIRE(import_totals(export_totals(old.snap()), c));
    const Proc neu = new_process();
    const Snapshot own = neu.snap();
    const Snapshot s = neu.snap(&c);
    const Layout& cfg = neu.cfg;
    const std::size_t web = fe_index(cfg, "web"), app = be_index(cfg, "app");
    const std::size_t s1 = srv_index(cfg, app, "s1");

    // maxima: max(own, carried), never summed across generations
    CHECK(own.fe[web].smax == 4);
    CHECK(s.fe[web].smax == 40);
    CHECK(own.be[app].smax == 50);
    CHECK(s.be[app].smax == 50);  // ours is larger: kept
    CHECK(own.be[app].qmax == 3);  // never below the current total queue
    CHECK(s.be[app].qmax == 9);
    CHECK(s.srv[app][s1].smax == 12);

    // gauges: this process's own only
    CHECK(s.fe[web].scur == own.fe[web].scur);
    CHECK(s.fe[web].scur == 3);
    CHECK(s.be[app].qcur == 3);
    CHECK(s.be[app].scur == 0);
    CHECK(s.srv[app][s1].scur == 3);
    CHECK(s.srv[app][s1].inflight == 0);
    CHECK(s.srv[app][s1].idle_conn_cur == 0);
    CHECK(info_value(s, "CurrConns") == "6");

    // add(): the same rules between generations
    Carried a, b;
    a.frontends["f"].stot = 5;
    a.frontends["f"].smax = 10;
    a.backends["b"].qmax = 3;
    a.backends["b"].qtime = {100, 4};
    a.process.shard.accepts = 7;
    b.frontends["f"].stot = 6;
    b.frontends["f"].smax = 4;
    b.frontends["g"].stot = 1;
    b.backends["b"].qmax = 8;
    b.backends["b"].qtime = {50, 1};
    b.servers["b"]["x"].lbtot = 2;
    b.process.shard.accepts = 3;
    b.process.req_tot = std::numeric_limits<std::uint64_t>::max();
    a.process.req_tot = 2;
    add(a, b);
    CHECK(a.frontends.at("f").stot == 11);
    CHECK(a.frontends.at("f").smax == 10);
    CHECK(a.frontends.at("g").stot == 1);
    CHECK(a.backends.at("b").qmax == 8);
    CHECK(a.backends.at("b").qtime.sum == 150);
    CHECK(a.backends.at("b").qtime.n == 5);
    CHECK(a.servers.at("b").at("x").lbtot == 2);
    CHECK(a.process.shard.accepts == 10);
    CHECK(a.process.req_tot == std::numeric_limits<std::uint64_t>::max());  // saturates, never wraps

    // pool demand is not a total: the larger one wins
    Carried p1, p2;
    p1.pool_needed["buffer"][16384] = 40;
    p1.pool_needed["session"][512] = 7;
    p2.pool_needed["buffer"][16384] = 25;
    p2.pool_needed["buffer"][4096] = 3;
    add(p1, p2);
    CHECK(p1.pool_needed.at("buffer").at(16384) == 40);
    CHECK(p1.pool_needed.at("buffer").at(4096) == 3);
    CHECK(p1.pool_needed.at("session").at(512) == 7);
}

TEST_CASE("averages continue over every generation's samples") {
    const Proc old = old_process();
    Carried c;
    REQUIRE(import_totals(export_totals(old.snap()), c));
    const Proc neu = new_process();
    const Snapshot own = neu.snap();
    const Snapshot s = neu.snap(&c);
    const std::size_t app = be_index(neu.cfg, "app");
    const std::size_t s1 = srv_index(neu.cfg, app, "s1");
    // backend qtime: own 300 ms over 30 samples (avg 10), carried 1800 over 60 (avg 30)
    CHECK(own.be[app].qtime.avg() == 10);
    CHECK(s.be[app].qtime.sum == 2100);
    CHECK(s.be[app].qtime.n == 90);
    CHECK(s.be[app].qtime.avg() == 2100 / 90);  // 23: the mean of all samples, not of the two means (20)
    // ttime: own 300/30, carried 6000/60 -> 6300/90 = 70
    CHECK(s.be[app].ttime.avg() == 70);
    // server rtime: own 30/30, carried 1000/100 -> 1030/130 = 7
    CHECK(s.srv[app][s1].rtime.avg() == 7);

    std::string csv;
    render_stat_csv(s, false, csv);
    CHECK(csv_cell(csv, "app", "BACKEND", "qtime") == "23");
    CHECK(csv_cell(csv, "app", "BACKEND", "ttime") == "70");
    CHECK(csv_cell(csv, "app", "s1", "rtime") == "7");
}

TEST_CASE("show stat CSV and show info show the continued totals") {
    const Proc old = old_process();
    Carried c;
    REQUIRE(import_totals(export_totals(old.snap()), c));
    const Proc neu = new_process();
    const Snapshot own = neu.snap();
    const Snapshot s = neu.snap(&c);

    std::string csv;
    render_stat_csv(s, false, csv);
    CHECK(csv_cell(csv, "web", "FRONTEND", "stot") == "230");
    CHECK(csv_cell(csv, "web", "FRONTEND", "req_tot") == "660");
    CHECK(csv_cell(csv, "web", "FRONTEND", "hrsp_5xx") == "20");
    CHECK(csv_cell(csv, "web", "FRONTEND", "smax") == "40");
    CHECK(csv_cell(csv, "web", "FRONTEND", "scur") == "3");
    CHECK(csv_cell(csv, "web", "FRONTEND", "intercepted") == "8");
    CHECK(csv_cell(csv, "api", "FRONTEND", "stot") == "3");
    CHECK(csv_cell(csv, "app", "BACKEND", "stot") == "210");
    CHECK(csv_cell(csv, "app", "BACKEND", "qmax") == "9");
    CHECK(csv_cell(csv, "app", "BACKEND", "reuse") == "540");
    CHECK(csv_cell(csv, "app", "s1", "stot") == "135");
    CHECK(csv_cell(csv, "app", "s1", "lbtot") == "137");
    CHECK(csv_cell(csv, "app", "s3", "stot") == "6");
    CHECK(csv.find("gone,") == std::string::npos);  // objects gone from the config are not shown
    CHECK(csv.find("\nold,") == std::string::npos);

    // show info: cumulative fields continue (own + carried), gauges are own
    CHECK(info_value(own, "CumConns") == "30");
    CHECK(info_value(s, "CumConns") == "2030");
    // CumReq: own 63 (web 60 + api 3) + carried web 600 + gone 140
    CHECK(info_value(own, "CumReq") == "63");
    CHECK(info_value(s, "CumReq") == "803");
    CHECK(info_value(s, "TotalBytesIn") == std::to_string(300 + 2022));
    CHECK(info_value(s, "TotalBytesOut") == std::to_string(600 + 4026));
    CHECK(info_value(s, "DroppedLogs") == "12");
    CHECK(info_value(s, "PoolFailed") == "11");
    CHECK(info_value(s, "MaxconnReached") == "2");
    CHECK(info_value(s, "Loops") == "100300");
    CHECK(info_value(s, "CqOverflow") == "4");
    CHECK(info_value(s, "SpliceBytes") == "246912");
    CHECK(info_value(s, "CurrConns") == "6");

    // Prometheus reads the same rows and info fields
    const std::string prom = render_prometheus(s);
    CHECK(prom.find("haproxy_frontend_sessions_total{proxy=\"web\"} 230\n") != std::string::npos);
}

TEST_CASE("per-shard rows stay this process's own") {
    const Proc old = old_process();
    Carried c;
    REQUIRE(import_totals(export_totals(old.snap()), c));
    const Proc neu = new_process();
    const Snapshot s = neu.snap(&c, true);
    const std::size_t web = fe_index(neu.cfg, "web");
    CHECK(s.fe[web].stot == 230);
    std::uint64_t per_shard = 0;
    for (const auto& sh : s.shards) per_shard += sh.fe[web].stot;
    CHECK(per_shard == 30);
    std::string csv;
    render_stat_csv(s, true, csv);
    std::size_t shard_rows = 0;
    for (const auto& l : lines_of(csv)) {
        const auto cells = cells_of(l);
        if (cells.size() > 7 && cells[0] == "web" && cells[1] == "FRONTEND" && !cells.back().empty()) {
            ++shard_rows;
            CHECK(cells[7] == "10");
        }
    }
    CHECK(shard_rows == 3);
}

TEST_CASE("generations chain: base of exited ones plus the live ones' last totals") {
    // gen1 exited (final totals in base), gen2 still draining (last totals), gen3 renders
    Proc gen1(make_cfg({"web"}, {{"app", {"s1"}}}), 1);
    gen1.fe(0, "web").stot.set(100);
    gen1.fe(0, "web").smax.set(7);
    gen1.shard(0).accepts.set(100);
    Proc gen2(make_cfg({"web"}, {{"app", {"s1"}}}), 1);
    gen2.fe(0, "web").stot.set(20);
    gen2.fe(0, "web").smax.set(9);
    gen2.shard(0).accepts.set(20);

    Carried base, live2;
    {
        Carried final1;
        REQUIRE(import_totals(export_totals(gen1.snap()), final1));
        add(base, final1);
    }
    REQUIRE(import_totals(export_totals(gen2.snap()), live2));
    // gen2 keeps serving its drained connections: a later export replaces the earlier one
    gen2.fe(0, "web").stot.set(25);
    gen2.shard(0).accepts.set(25);
    REQUIRE(import_totals(export_totals(gen2.snap()), live2));

    Carried carried = base;
    add(carried, live2);
    Proc gen3(make_cfg({"web"}, {{"app", {"s1"}}}), 1);
    gen3.fe(0, "web").stot.set(1);
    gen3.shard(0).accepts.set(1);
    const Snapshot s = gen3.snap(&carried);
    CHECK(s.fe[0].stot == 126);
    CHECK(s.fe[0].smax == 9);
    CHECK(info_value(s, "CumConns") == "126");
    // gen3's own export holds its own values only, whatever it carries
    Carried own3;
    REQUIRE(import_totals(export_totals(gen3.snap()), own3));
    CHECK(own3.frontends.at("web").stot == 1);
}

TEST_CASE("retain_objects drops objects the config no longer has") {
    const Proc old = old_process();
    Carried c;
    REQUIRE(import_totals(export_totals(old.snap()), c));
    const Proc neu = new_process();
    const Snapshot before = neu.snap(&c);
    Carried kept = c;
    retain_objects(kept, neu.cfg);
    CHECK(kept.frontends.count("gone") == 0);
    CHECK(kept.frontends.count("web") == 1);
    CHECK(kept.backends.count("old") == 0);
    CHECK(kept.servers.count("old") == 0);
    CHECK(kept.servers.at("app").count("s1") == 1);
    CHECK(kept.process.req_tot == c.process.req_tot);
    const Snapshot after = neu.snap(&kept);
    std::string a, b;
    render_stat_csv(before, false, a);
    render_stat_csv(after, false, b);
    CHECK(a == b);
    CHECK(info_value(before, "CumReq") == info_value(after, "CumReq"));
}

TEST_CASE("import: forward compatible with fields and lines it does not know") {
    Carried c;
    std::string err;
    const std::string doc =
        "es-totals 1 writer=7\n"
        "process accepts=5 future_counter=9\n"
        "fe web stot=3 some_new_field=4 smax=2\n"
        "listener web:80 conns=4\n"
        "srv app s1 stot=2\n"
        "end\n";
    REQUIRE_MESSAGE(import_totals(doc, c, &err), err);
    CHECK(c.process.shard.accepts == 5);
    CHECK(c.frontends.at("web").stot == 3);
    CHECK(c.frontends.at("web").smax == 2);
    CHECK(c.servers.at("app").at("s1").stot == 2);
    CHECK(c.backends.empty());
    // the end line may lack its final newline (a transport that strips it)
    CHECK(import_totals("es-totals 1\nend", c, &err));
    CHECK(c.empty());
    // an older reader meeting a newer incompatible version says so
    CHECK_FALSE(import_totals("es-totals 2\nend\n", c, &err));
    CHECK(err.find("newer") != std::string::npos);
}

TEST_CASE("import: malformed documents are rejected with a reason and leave the output alone") {
    Carried keep;
    keep.frontends["web"].stot = 42;
    const std::vector<std::string> bad = {
        "",
        "\n",
        "end\n",
        "es-totals\nend\n",
        "es-totals 0\nend\n",
        "es-totals x\nend\n",
        "es-totals 1\n",
        "es-totals 1\nprocess accepts=1\n",
        "es-totals 1\nend\nfe web stot=1\n",
        "es-totals 1\nend\n\n",
        "es-totals 1\nend extra\n",
        "es-totals 1\r\nend\n",
        "ES-TOTALS 1\nend\n",
        "es-totals  1\nend\n",
        "es-totals 1\nfe  web stot=1\nend\n",
        "es-totals 1\nfe web stot=1 \nend\n",
        "es-totals 1\nfe\nend\n",
        "es-totals 1\nfe web stot\nend\n",
        "es-totals 1\nfe web stot=\nend\n",
        "es-totals 1\nfe web stot=-1\nend\n",
        "es-totals 1\nfe web stot=+1\nend\n",
        "es-totals 1\nfe web stot=0x10\nend\n",
        "es-totals 1\nfe web stot=18446744073709551616\nend\n",
        "es-totals 1\nfe web stot=99999999999999999999999\nend\n",
        "es-totals 1\nfe web smax=9223372036854775808\nend\n",
        "es-totals 1\nfe web stot=1 stot=2\nend\n",
        "es-totals 1\nfe web STOT=1\nend\n",
        "es-totals 1\nfe web =1\nend\n",
        "es-totals 1\nfe web stot=1\nfe web bin=2\nend\n",
        "es-totals 1\nprocess\nprocess\nend\n",
        "es-totals 1\nsrv app\nend\n",
        "es-totals 1\nsrv app s1 stot=1\nsrv app s1 stot=1\nend\n",
        "es-totals 1\nfe we%2 stot=1\nend\n",
        "es-totals 1\nfe we%zz stot=1\nend\n",
        "es-totals 1\nfe we% stot=1\nend\n",
        "es-totals 1\nfe w=b stot=1\nend\n",
        "es-totals 1\nfe w\x01 stot=1\nend\n",
        "es-totals 1\nfe caf\xc3\xa9 stot=1\nend\n",
        std::string("es-totals 1\nfe w\0b stot=1\nend\n", 30),
        "es-totals 1\nunknown-kind but\x7f bad byte\nend\n",
        "es-totals 1\npool buffer\nend\n",
        "es-totals 1\npool buffer big needed_avg=1\nend\n",
        "es-totals 1\npool buffer 16384 needed_avg=x\nend\n",
        "es-totals 1\npool buffer 16384 needed_avg=1\npool buffer 16384 needed_avg=2\nend\n",
    };
    for (const auto& doc : bad) {
        CAPTURE(doc);
        std::string err;
        Carried out = keep;
        CHECK_FALSE(import_totals(doc, out, &err));
        CHECK(err.rfind("es-totals line ", 0) == 0);
        CHECK(out.frontends.size() == 1);
        CHECK(out.frontends.at("web").stot == 42);
    }
}

TEST_CASE("import: truncations, mutations and random bytes never crash and never half-apply") {
    const Proc old = old_process();
    const std::string good = export_totals(old.snap());
    Carried ref;
    REQUIRE(import_totals(good, ref));
    const std::string ref_text = export_totals(ref);

    // every strict prefix is rejected, except the one that only lacks the final newline
    for (std::size_t n = 0; n < good.size(); ++n) {
        Carried out;
        out.frontends["sentinel"].stot = 1;
        std::string err;
        const bool ok = import_totals(std::string_view(good).substr(0, n), out, &err);
        CAPTURE(n);
        CHECK(ok == (n == good.size() - 1));
        if (!ok) {
            CHECK(!err.empty());
            CHECK(out.frontends.count("sentinel") == 1);
        } else {
            CHECK(export_totals(out) == ref_text);
        }
    }

    std::mt19937_64 rng(12345);
    const std::string alphabet =
        "es-totals 0123456789=%\n end process fe be srv stot smax qtime_n_ABCxyz\r\t\x7f\x80";
    std::size_t accepted = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        std::string doc;
        switch (iter % 4) {
            case 0: {  // random bytes
                const std::size_t n = rng() % 200;
                for (std::size_t i = 0; i < n; ++i) doc.push_back(char(rng() & 0xff));
                break;
            }
            case 1: {  // random tokens from the format's own alphabet
                const std::size_t n = rng() % 200;
                doc = "es-totals 1\n";
                for (std::size_t i = 0; i < n; ++i) doc.push_back(alphabet[rng() % alphabet.size()]);
                if (rng() % 2) doc += "\nend\n";
                break;
            }
            default: {  // a valid document with a few bytes changed, inserted or removed
                doc = good;
                const int edits = 1 + int(rng() % 3);
                for (int e = 0; e < edits && !doc.empty(); ++e) {
                    const std::size_t at = rng() % doc.size();
                    switch (rng() % 3) {
                        case 0:
                            doc[at] = char(rng() & 0xff);
                            break;
                        case 1:
                            doc.insert(doc.begin() + std::ptrdiff_t(at), alphabet[rng() % alphabet.size()]);
                            break;
                        default:
                            doc.erase(at, 1);
                            break;
                    }
                }
                break;
            }
        }
        Carried out;
        out.process.shard.loops = 77;
        std::string err;
        if (import_totals(doc, out, &err)) {
            ++accepted;
            // whatever was accepted re-exports into something that imports to the same totals
            CHECK(roundtrip(out) == export_totals(out));
        } else {
            CHECK(!err.empty());
            CHECK(out.process.shard.loops == 77);
        }
    }
    CHECK(accepted > 0);  // some mutations (a digit changed) are still valid documents
}
