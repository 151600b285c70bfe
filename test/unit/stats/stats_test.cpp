// stats room: merge rules, typed rows and every renderer, driven by hand-made counter blocks
// (no shards, no sockets).
#include <rapidjson/document.h>

#include <doctest/doctest.h>
#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "edgeshard/stats/render.hpp"

using namespace es;
using namespace es::stats;

namespace {

// frontend "web" (http, maxconn 1000) -> backend "app" (2 servers, s2 disabled)
// listen "db" = frontend "db" + backend "db" (1 server with maxconn 50)
// backend "empty" (no server)
Layout make_layout() {
    Layout c;
    Layout::Frontend web;
    web.name = "web";
    web.http = true;
    web.maxconn = 1000;
    Layout::Frontend db;
    db.name = "db";
    c.frontends = {web, db};

    Layout::Backend app;
    app.name = "app";
    app.http = true;
    app.algo = "leastconn";
    Layout::Server s1;
    s1.name = "s1";
    s1.id = 0;
    s1.addr = "10.0.0.1:8080";
    s1.weight = 10;
    Layout::Server s2;
    s2.name = "s2";
    s2.id = 1;
    s2.addr = "[::1]:8081";
    s2.weight = 5;
    s2.disabled = true;
    app.servers = {s1, s2};

    Layout::Backend dbb;
    dbb.name = "db";
    Layout::Server d1;
    d1.name = "d1";
    d1.id = 0;
    d1.addr = "10.0.0.9:5432";
    d1.maxconn = 50;
    dbb.servers = {d1};

    Layout::Backend empty;
    empty.name = "empty";
    c.backends = {app, dbb, empty};
    return c;
}

std::unique_ptr<ShardStats> make_stats(const Layout& lay, int id) {
    auto s = std::make_unique<ShardStats>();
    s->shard_id = id;
    s->cpu = id * 2;
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

struct Fixture {
    Layout layout = make_layout();
    std::vector<std::unique_ptr<ShardStats>> blocks;
    std::vector<ShardPlace> infos;
    ProcessView proc;

    explicit Fixture(int nshards = 3) {
        for (int i = 0; i < nshards; ++i) {
            blocks.push_back(make_stats(layout, i));
            auto& b = *blocks.back();
            // shard i: web scur = i+1, smax = 10*(i+1), stot = 100*(i+1), bin = 1000*(i+1)
            b.fe[0].scur.set(i + 1);
            b.fe[0].smax.set(10 * (i + 1));
            b.fe[0].stot.set(100 * std::uint64_t(i + 1));
            b.fe[0].bin.set(1000 * std::uint64_t(i + 1));
            b.fe[0].bout.set(2000 * std::uint64_t(i + 1));
            b.fe[0].ereq.set(1);
            b.fe[0].dcon.set(2);
            b.be[0].qcur.set(1);
            b.be[0].qmax.set(4);
            b.be[0].stot.set(50);
            b.be[0].econ.set(3);
            b.srv[0][0].stot.set(40);
            b.srv[0][0].scur.set(2);
            b.srv[0][0].smax.set(7);
            b.srv[0][0].econ.set(1);
            b.srv[0][1].stot.set(10);
            b.shard.conns.set(5);
            b.shard.accepts.set(1000);
            b.shard.cq_overflow.set(i);
            b.shard.enobufs.set(7);
            b.shard.accept_paused.set(1);
            ShardPlace in;
            in.numa_node = 0;
            in.tier = "full";
            in.sq_entries = 1024;
            in.cq_entries = 4096;
            in.buffers = 4096;
            in.bufsize = 16384;
            in.conn_limit = 100;
            infos.push_back(in);
        }
        proc.pid = 4242;
        proc.uptime_s = 3661;
        proc.start_wall_s = 1700000000;
        proc.version = "0.1.0";
        proc.tier = "full";
        proc.nbshards = std::size_t(nshards);
        proc.maxconn = 300;
        proc.maxpipes = 75;
    }

    std::vector<ShardView> views() const {
        std::vector<ShardView> v;
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            ShardView sv;
            sv.id = int(i);
            sv.cpu = int(i) * 2;
            sv.stats = blocks[i].get();
            sv.info = infos[i];
            sv.pools.push_back({"session", 512, 6, 2, 0, 3});
            sv.pools.push_back({"buffer", 16384, 4, 1, std::uint64_t(i), 2});
            v.push_back(std::move(sv));
        }
        return v;
    }

    Snapshot snap(bool per_shard = false) const {
        auto v = views();
        return build_snapshot(layout, proc, v, BuildOptions{per_shard});
    }
};

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

rapidjson::Document parse(const std::string& s) {
    rapidjson::Document d;
    d.Parse(s.c_str(), s.size());
    REQUIRE_FALSE(d.HasParseError());
    return d;
}

// The inner JSON array for one object, found by objType and svname.
const rapidjson::Value* find_obj(const rapidjson::Value& arr, const char* obj_type, const char* px,
                                 const char* sv, int shard = -1) {
    for (const auto& obj : arr.GetArray()) {
        std::string t, p, s;
        bool has_shard = false;
        int sh = -1;
        for (const auto& f : obj.GetArray()) {
            t = f["objType"].GetString();
            has_shard = f.HasMember("shard");
            if (has_shard) sh = f["shard"].GetInt();
            const std::string name = f["field"]["name"].GetString();
            if (name == "pxname") p = f["value"]["value"].GetString();
            if (name == "svname") s = f["value"]["value"].GetString();
        }
        if (t == obj_type && p == px && s == sv && (shard < 0 ? !has_shard : (has_shard && sh == shard)))
            return &obj;
    }
    return nullptr;
}

const rapidjson::Value* find_field(const rapidjson::Value& obj, const char* name) {
    for (const auto& f : obj.GetArray())
        if (std::strcmp(f["field"]["name"].GetString(), name) == 0) return &f;
    return nullptr;
}

}  // namespace

TEST_CASE("stat field names sit at HAProxy's positions") {
    CHECK(kStatFieldNames[0] == "pxname");
    CHECK(kStatFieldNames[1] == "svname");
    CHECK(kStatFieldNames[4] == "scur");
    CHECK(kStatFieldNames[7] == "stot");
    CHECK(kStatFieldNames[8] == "bin");
    CHECK(kStatFieldNames[13] == "econ");
    CHECK(kStatFieldNames[17] == "status");
    CHECK(kStatFieldNames[26] == "pid");
    CHECK(kStatFieldNames[32] == "type");
    CHECK(kStatFieldNames[39] == "hrsp_1xx");
    CHECK(kStatFieldNames[49] == "cli_abrt");
    CHECK(kStatFieldNames[73] == "addr");
    CHECK(kStatFieldNames[81] == "dcon");
    CHECK(kStatFieldNames[99] == "uweight");
    std::set<std::string_view> uniq(kStatFieldNames.begin(), kStatFieldNames.end());
    CHECK(uniq.size() == kStatFieldCount);
    CHECK(uniq.count("") == 0);
    // the st:: constants agree with the table
    CHECK(kStatFieldNames[st::wredis] == "wredis");
    CHECK(kStatFieldNames[st::lbtot] == "lbtot");
    CHECK(kStatFieldNames[st::mode] == "mode");
    CHECK(kStatFieldNames[st::algo] == "algo");
    CHECK(kStatFieldNames[st::srv_abrt] == "srv_abrt");
}

TEST_CASE("merge: counters and gauges summed, maxima the largest shard's and never below current") {
    Fixture fx;
    // shard 2 read mid-update: gauge already raised above its recorded maximum
    fx.blocks[2]->fe[0].scur.set(50);
    const Snapshot s = fx.snap();
    CHECK(s.fe[0].scur == 1 + 2 + 50);
    CHECK(s.fe[0].smax == 1 + 2 + 50);  // at least the largest shard's maximum and the current total (53)
    CHECK(s.fe[0].stot == 600);
    CHECK(s.fe[0].bin == 6000);
    CHECK(s.fe[0].dcon == 6);
    CHECK(s.be[0].qcur == 3);
    CHECK(s.be[0].qmax == 4);
    CHECK(s.be[0].econ == 9);
    CHECK(s.srv[0][0].stot == 120);
    CHECK(s.srv[0][0].smax == 7);
    CHECK(s.srv[0][1].stot == 30);
    CHECK(s.shard_total.conns == 15);
    CHECK(s.shard_total.accepts == 3000);
    CHECK(s.shard_total.cq_overflow == 0 + 1 + 2);
    REQUIRE(s.shards.size() == 3);
    CHECK(s.shards[1].counters.cq_overflow == 1);
    CHECK(s.shards[1].info.cq_entries == 4096);
    CHECK(s.shards[0].fe.empty());  // per-shard object values only on request
}

TEST_CASE("merge tolerates missing blocks and blocks sized for another config") {
    Fixture fx(2);
    fx.blocks[1]->n_fe = 1;  // as if built for a config with one frontend
    auto v = fx.views();
    v[0].stats = nullptr;
    v[0].info = ShardPlace{};
    const Snapshot s = build_snapshot(fx.layout, fx.proc, v, BuildOptions{true});
    CHECK(s.fe[0].stot == 200);
    CHECK(s.fe[1].stot == 0);
    CHECK_FALSE(s.shards[0].has_stats);
    CHECK(s.shards[0].fe.size() == 2);
    CHECK(s.shards[0].info.cq_entries == 0);
}

TEST_CASE("proxy ids: frontends first, a listen backend shares its frontend's id") {
    Fixture fx;
    std::vector<std::uint32_t> fe, be;
    assign_proxy_ids(fx.layout, fe, be);
    CHECK(fe == std::vector<std::uint32_t>{1, 2});
    CHECK(be == std::vector<std::uint32_t>{3, 2, 4});
}

TEST_CASE("uptime as HAProxy prints it") {
    CHECK(format_uptime(3661) == "0d 1h01m01s");
    CHECK(format_uptime(2 * 86400 + 5) == "2d 0h00m05s");
}

TEST_CASE("show stat CSV: header, HAProxy row order, cells") {
    Fixture fx;
    const Snapshot s = fx.snap();
    std::string out;
    render_stat_csv(s, false, out);
    const auto lines = split(out, '\n');
    // 2 frontends + 3 servers + 3 backends, plus the header
    REQUIRE(lines.size() == 1 + 8);
    REQUIRE(lines[0].rfind("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,",
                           0) == 0);
    const auto header = split(lines[0].substr(2), ',');
    REQUIRE(header.size() == kStatFieldCount);
    CHECK(header[4] == "scur");
    CHECK(header[7] == "stot");
    CHECK(header[8] == "bin");
    CHECK(header[13] == "econ");
    CHECK(header[17] == "status");
    CHECK(lines[0].back() == ',');

    // order: web FRONTEND, db FRONTEND, db/d1, db BACKEND (listen), app/s1, app/s2, app BACKEND, empty
    // BACKEND
    std::vector<std::string> keys;
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 1; i < lines.size(); ++i) {
        // split keeping empty cells: every cell is followed by ','
        std::vector<std::string> cells;
        std::string cur;
        for (char c : lines[i]) {
            if (c == ',') {
                cells.push_back(cur);
                cur.clear();
            } else {
                cur.push_back(c);
            }
        }
        CHECK(cur.empty());
        REQUIRE(cells.size() == kStatFieldCount);
        keys.push_back(cells[0] + "/" + cells[1]);
        rows.push_back(cells);
    }
    CHECK(keys == std::vector<std::string>{"web/FRONTEND", "db/FRONTEND", "db/d1", "db/BACKEND", "app/s1",
                                           "app/s2", "app/BACKEND", "empty/BACKEND"});
    const auto& web = rows[0];
    CHECK(web[2].empty());  // qcur: frontends have no queue
    CHECK(web[4] == "6");
    CHECK(web[5] == "30");
    CHECK(web[6] == "1000");
    CHECK(web[7] == "600");
    CHECK(web[10] == "0");       // dreq: an HTTP frontend counts http-request denials
    CHECK(rows[1][10] == "0");   // a TCP frontend too (tcp-request content rejects), as in HAProxy 2.6
    CHECK(web[17] == "OPEN");
    CHECK(web[26] == "1");
    CHECK(web[27] == "1");
    CHECK(web[28] == "0");
    CHECK(web[32] == "0");
    CHECK(web[75] == "http");
    CHECK(web[81] == "6");
    CHECK(rows[1][6] == std::to_string(s.process.maxconn));  // db frontend: no maxconn -> the global one

    const auto& d1 = rows[2];
    CHECK(d1[6] == "50");
    CHECK(d1[17] == "no check");
    CHECK(d1[27] == "2");  // shares the listen proxy id
    CHECK(d1[28] == "1");
    CHECK(d1[32] == "2");
    CHECK(d1[73] == "10.0.0.9:5432");
    const auto& s1 = rows[4];
    CHECK(s1[7] == "120");
    CHECK(s1[13] == "3");
    CHECK(s1[18] == "10");
    CHECK(s1[19] == "1");
    CHECK(s1[20] == "0");
    CHECK(s1[6].empty());
    const auto& s2 = rows[5];
    CHECK(s2[17] == "MAINT");
    CHECK(s2[73] == "[::1]:8081");
    const auto& app = rows[6];
    CHECK(app[17] == "UP");
    CHECK(app[18] == "10");  // only usable servers count
    CHECK(app[19] == "1");
    CHECK(app[2] == "3");
    CHECK(app[3] == "4");
    CHECK(app[32] == "1");
    CHECK(app[76] == "leastconn");
    CHECK(rows[7][17] == "UP");  // no server at all: UP, as HAProxy (a backend that only serves a stats page)
    CHECK(rows[7][19] == "0");
}

TEST_CASE("show stat CSV quotes cells holding separators") {
    Fixture fx;
    fx.layout.backends[0].servers[0].name = "a,\"b\"";
    const Snapshot s = fx.snap();
    std::string out;
    render_stat_csv(s, false, out);
    CHECK(out.find("app,\"a,\"\"b\"\"\",") != std::string::npos);
}

TEST_CASE("show stat JSON: HAProxy's array-of-arrays shape with typed values") {
    Fixture fx;
    const Snapshot s = fx.snap();
    std::string out;
    render_stat_json(s, false, out);
    CHECK(out.back() == '\n');
    auto d = parse(out);
    REQUIRE(d.IsArray());
    CHECK(d.Size() == 8);
    for (const auto& obj : d.GetArray()) {
        REQUIRE(obj.IsArray());
        for (const auto& f : obj.GetArray()) {
            CHECK(f.HasMember("objType"));
            CHECK(f["proxyId"].IsUint());
            CHECK(f["id"].IsUint());
            CHECK(f["field"]["pos"].IsUint());
            CHECK(f["processNum"].GetUint() == 1);
            CHECK(f["tags"]["origin"].IsString());
            CHECK(f["tags"]["nature"].IsString());
            CHECK(f["tags"]["scope"].IsString());
            CHECK(f["value"]["type"].IsString());
            CHECK_FALSE(f.HasMember("shard"));
            const auto pos = f["field"]["pos"].GetUint();
            CHECK(kStatFieldNames[pos] == f["field"]["name"].GetString());
        }
    }
    const auto* web = find_obj(d, "Frontend", "web", "FRONTEND");
    REQUIRE(web);
    CHECK(find_field(*web, "qcur") == nullptr);  // empty fields are omitted
    const auto* stot = find_field(*web, "stot");
    REQUIRE(stot);
    CHECK(std::string((*stot)["value"]["type"].GetString()) == "u64");
    CHECK((*stot)["value"]["value"].GetUint64() == 600);
    CHECK(std::string((*stot)["tags"]["nature"].GetString()) == "Counter");
    CHECK(std::string((*stot)["tags"]["origin"].GetString()) == "Metric");
    CHECK((*stot)["field"]["pos"].GetUint() == 7);
    const auto* smax = find_field(*web, "smax");
    CHECK(std::string((*smax)["value"]["type"].GetString()) == "u32");
    CHECK(std::string((*smax)["tags"]["nature"].GetString()) == "Max");
    const auto* slim = find_field(*web, "slim");
    CHECK(std::string((*slim)["tags"]["origin"].GetString()) == "Config");
    CHECK(std::string((*slim)["tags"]["nature"].GetString()) == "Limit");
    const auto* px = find_field(*web, "pxname");
    CHECK(std::string((*px)["tags"]["origin"].GetString()) == "Key");
    CHECK(std::string((*px)["tags"]["nature"].GetString()) == "Name");
    CHECK(std::string((*px)["tags"]["scope"].GetString()) == "Service");
    CHECK(std::string((*px)["value"]["type"].GetString()) == "str");

    const auto* s1 = find_obj(d, "Server", "app", "s1");
    REQUIRE(s1);
    const auto& first = (*s1)[0];
    CHECK(first["proxyId"].GetUint() == 3);
    CHECK(first["id"].GetUint() == 1);
    CHECK((*find_field(*s1, "status"))["value"]["value"].GetString() == std::string("no check"));
    const auto* app = find_obj(d, "Backend", "app", "BACKEND");
    REQUIRE(app);
    CHECK((*app)[0]["id"].GetUint() == 0);
}

TEST_CASE("JSON integers are clamped to 2^53-1, CSV keeps the exact value") {
    Fixture fx(1);
    const std::uint64_t big = std::uint64_t(1) << 60;
    fx.blocks[0]->fe[0].bin.set(big);
    const Snapshot s = fx.snap();
    std::string js;
    render_stat_json(s, false, js);
    auto d = parse(js);
    const auto* web = find_obj(d, "Frontend", "web", "FRONTEND");
    REQUIRE(web);
    CHECK((*find_field(*web, "bin"))["value"]["value"].GetUint64() == std::uint64_t(kJsonIntMax));
    std::string csv;
    render_stat_csv(s, false, csv);
    CHECK(csv.find("," + std::to_string(big) + ",") != std::string::npos);
    // gauges typed u32 saturate instead of wrapping when read negative mid-update
    CHECK(Field::u32(-3).u == 0);
    CHECK(Field::u32(std::int64_t(1) << 40).u == 0xffffffffu);
}

TEST_CASE("show stat ... shards: merged objects first, then each object per shard") {
    Fixture fx;
    const Snapshot s = fx.snap(true);
    std::string js;
    render_stat_json(s, true, js);
    auto d = parse(js);
    CHECK(d.Size() == 8 * (1 + 3));
    for (rapidjson::SizeType i = 0; i < d.Size(); ++i) {
        for (const auto& f : d[i].GetArray()) CHECK(f.HasMember("shard") == (i >= 8));
    }
    const auto* web1 = find_obj(d, "Frontend", "web", "FRONTEND", 1);
    REQUIRE(web1);
    CHECK((*find_field(*web1, "stot"))["value"]["value"].GetUint64() == 200);
    CHECK((*find_field(*web1, "scur"))["value"]["value"].GetUint() == 2);
    const auto* web_all = find_obj(d, "Frontend", "web", "FRONTEND");
    REQUIRE(web_all);
    CHECK((*find_field(*web_all, "stot"))["value"]["value"].GetUint64() == 600);

    std::string csv;
    render_stat_csv(s, true, csv);
    const auto lines = split(csv, '\n');
    REQUIRE(lines.size() == 1 + 8 * 4);
    CHECK(lines[0].size() > 7);
    CHECK(lines[0].substr(lines[0].size() - 7) == ",shard,");
    CHECK(lines[1].substr(lines[1].size() - 2) == ",,");  // merged row: empty shard cell
    CHECK(lines[1 + 8 + 8].rfind("web,FRONTEND,", 0) == 0);
    CHECK(lines[1 + 8 + 8].substr(lines[1 + 8 + 8].size() - 3) == ",1,");
    // without per-shard values in the snapshot only the merged rows appear
    std::string plain;
    render_stat_csv(fx.snap(false), true, plain);
    CHECK(split(plain, '\n').size() == 1 + 8);
}

TEST_CASE("show info text and JSON") {
    Fixture fx;
    const Snapshot s = fx.snap();
    std::string txt;
    render_info_text(s, txt);
    CHECK(txt.rfind("Name: edgeshard\nVersion: 0.1.0\n", 0) == 0);
    CHECK(txt.find("Nbthread: 3\n") != std::string::npos);
    CHECK(txt.find("Pid: 4242\n") != std::string::npos);
    CHECK(txt.find("Uptime: 0d 1h01m01s\n") != std::string::npos);
    CHECK(txt.find("Uptime_sec: 3661\n") != std::string::npos);
    CHECK(txt.find("Maxconn: 300\n") != std::string::npos);
    CHECK(txt.find("CurrConns: 15\n") != std::string::npos);
    CHECK(txt.find("CumConns: 3000\n") != std::string::npos);
    CHECK(txt.find("MaxconnReached: 3\n") != std::string::npos);
    CHECK(txt.find("Stopping: 0\n") != std::string::npos);
    CHECK(txt.find("Shards: 3\n") != std::string::npos);
    CHECK(txt.find("IoUringTier: full\n") != std::string::npos);
    CHECK(txt.find("CqOverflow: 3\n") != std::string::npos);
    CHECK(txt.find("Enobufs: 21\n") != std::string::npos);
    CHECK(txt.find("TotalBytesOut: 12000\n") != std::string::npos);
    // HAProxy 2.6.12's fields, every one, in its order (its `show info` without compression memory fields and
    // without a description), then ours: what hatop and the exporters read by name
    const char* const haproxy[] = {
        "Name", "Version", "Release_date", "Nbthread", "Nbproc", "Process_num", "Pid", "Uptime", "Uptime_sec",
        "Memmax_MB", "PoolAlloc_MB", "PoolUsed_MB", "PoolFailed", "Ulimit-n", "Maxsock", "Maxconn", "Hard_maxconn",
        "CurrConns", "CumConns", "CumReq", "MaxSslConns", "CurrSslConns", "CumSslConns", "Maxpipes", "PipesUsed",
        "PipesFree", "ConnRate", "ConnRateLimit", "MaxConnRate", "SessRate", "SessRateLimit", "MaxSessRate",
        "SslRate", "SslRateLimit", "MaxSslRate", "SslFrontendKeyRate", "SslFrontendMaxKeyRate",
        "SslFrontendSessionReuse_pct", "SslBackendKeyRate", "SslBackendMaxKeyRate", "SslCacheLookups",
        "SslCacheMisses", "CompressBpsIn", "CompressBpsOut", "CompressBpsRateLim", "Tasks", "Run_queue", "Idle_pct",
        "node", "Stopping", "Jobs", "Unstoppable Jobs", "Listeners", "ActivePeers", "ConnectedPeers", "DroppedLogs",
        "BusyPolling", "FailedResolutions", "TotalBytesOut", "TotalSplicdedBytesOut", "BytesOutRate",
        "DebugCommandsIssued", "CumRecvLogs", "Build info", "Memmax_bytes", "PoolAlloc_bytes", "PoolUsed_bytes",
        "Start_time_sec", "Tainted", "MaxconnReached"};
    std::size_t at = 0;
    const std::string lines = "\n" + txt;
    for (const char* n : haproxy) {
        const std::size_t line = lines.find("\n" + std::string(n) + ": ", at);
        CHECK_MESSAGE(line != std::string::npos, n);
        if (line != std::string::npos) at = line + 1;
    }
    CHECK(txt.find("PipesUsed: 0\n") != std::string::npos);  // (no splice room report yet: 0, as HAProxy idle)
    CHECK(txt.find("description") == std::string::npos);  // none configured: no line (HAProxy's)

    std::string js;
    render_info_json(s, js);
    auto d = parse(js);
    REQUIRE(d.IsArray());
    const auto& name = d[0];
    CHECK(name["field"]["pos"].GetInt() == 0);
    CHECK(std::string(name["field"]["name"].GetString()) == "Name");
    CHECK(name["processNum"].GetInt() == 1);
    CHECK(std::string(name["tags"]["origin"].GetString()) == "Product");
    CHECK(std::string(name["tags"]["nature"].GetString()) == "Output");
    CHECK(std::string(name["tags"]["scope"].GetString()) == "Service");
    CHECK(std::string(name["value"]["type"].GetString()) == "str");
    CHECK(std::string(name["value"]["value"].GetString()) == "edgeshard");
    bool saw_curr = false, saw_tier = false;
    int last_pos = -1;
    for (const auto& f : d.GetArray()) {
        const std::string n = f["field"]["name"].GetString();
        CHECK(f["field"]["pos"].GetInt() > last_pos);  // positions ascend
        last_pos = f["field"]["pos"].GetInt();
        if (n == "CurrConns") {
            saw_curr = true;
            CHECK(f["field"]["pos"].GetInt() == 17);
            CHECK(std::string(f["value"]["type"].GetString()) == "u32");
            CHECK(f["value"]["value"].GetUint() == 15);
        }
        if (n == "IoUringTier") {
            saw_tier = true;
            CHECK(f["field"]["pos"].GetInt() >= kInfoOwnBase);
        }
    }
    CHECK(saw_curr);
    CHECK(saw_tier);
}

TEST_CASE("optional info fields appear when the process view has them") {
    Fixture fx(1);
    fx.proc.pipes_used = 3;
    fx.proc.pipes_free = 9;
    fx.proc.ulimit_n = 4096;
    fx.proc.stopping = true;
    std::string txt;
    render_info_text(fx.snap(), txt);
    CHECK(txt.find("PipesUsed: 3\nPipesFree: 9\n") != std::string::npos);
    CHECK(txt.find("Ulimit-n: 4096\n") != std::string::npos);
    CHECK(txt.find("Stopping: 1\n") != std::string::npos);
}

TEST_CASE("show pools: merged by name with per-shard values") {
    Fixture fx;
    const Snapshot s = fx.snap();
    REQUIRE(s.pools.size() == 2);
    CHECK(s.pools[0].name == "session");
    CHECK(s.pools[0].allocated == 18);
    CHECK(s.pools[0].used == 6);
    CHECK(s.pools[0].needed_avg == 9);
    CHECK(s.pools[1].failed == 0 + 1 + 2);
    CHECK(s.pools[0].shards.size() == 3);

    std::string txt;
    render_pools_text(s, txt);
    CHECK(
        txt.find(
            "  - Pool session (512 bytes) : 18 allocated (9216 bytes), 6 used, needed_avg 9, 0 failures\n") !=
        std::string::npos);
    CHECK(txt.find("      shard 1: 6 allocated, 2 used, needed_avg 3, 0 failures\n") != std::string::npos);
    CHECK(txt.find("Total: 2 pools, " + std::to_string(9216 + 12 * 16384) + " bytes allocated, " +
                   std::to_string(6 * 512 + 3 * 16384) + " used.\n") != std::string::npos);

    std::string js;
    render_pools_json(s, js);
    auto d = parse(js);
    REQUIRE(d["pools"].Size() == 2);
    const auto& p = d["pools"][1];
    CHECK(std::string(p["name"].GetString()) == "buffer");
    CHECK(p["size"].GetUint() == 16384);
    CHECK(p["allocated"].GetUint() == 12);
    CHECK(p["allocated_bytes"].GetUint64() == 12 * 16384);
    CHECK(p["failed"].GetUint() == 3);
    CHECK(p["shards"].Size() == 3);
    CHECK(p["shards"][2]["failed"].GetUint() == 2);
    CHECK(d["total"]["pools"].GetUint() == 2);
}

TEST_CASE("show shards: placement, geometry and loop counters per shard") {
    Fixture fx(2);
    fx.blocks[1]->shard.loops.set(77);
    const Snapshot s = fx.snap();
    std::string txt;
    render_shards_text(s, txt);
    const auto lines = split(txt, '\n');
    REQUIRE(lines.size() == 2);
    CHECK(lines[1].rfind("shard 1: cpu=2 numa_node=0 tier=full sq_entries=1024 cq_entries=4096 ", 0) == 0);
    CHECK(lines[1].find(" loops=77") != std::string::npos);
    CHECK(lines[1].find(" conn_limit=100") != std::string::npos);

    std::string js;
    render_shards_json(s, js);
    auto d = parse(js);
    REQUIRE(d["shards"].Size() == 2);
    const auto& sh = d["shards"][1];
    for (const char* k : {"id",          "cpu",         "numa_node",       "tier",
                          "sq_entries",  "cq_entries",  "buffers",         "bufsize",
                          "conn_limit",  "conns",       "accepts",         "loops",
                          "cqes",        "submits",     "cq_overflow",     "enobufs",
                          "short_sends", "sq_full",     "splice_switches", "splice_bytes",
                          "copy_bytes",  "pipe_misses", "stale_cqes",      "buffers_out",
                          "wakeups"})
        CHECK_MESSAGE(sh.HasMember(k), k);
    CHECK(sh["loops"].GetUint() == 77);
    CHECK(sh["cq_overflow"].GetUint() == 1);
    CHECK(d["total"]["accepts"].GetUint() == 2000);
    CHECK(d["total"]["conns"].GetInt() == 10);
}

TEST_CASE("JSON error reply") {
    std::string out;
    render_json_error("unknown argument \"x\"", out);
    auto d = parse(out);
    CHECK(std::string(d["errorStr"].GetString()) == "unknown argument \"x\"");
}

TEST_CASE("show stat filters: proxy id, object types, server id, up and no-maint (HAProxy's)") {
    Fixture fx;
    const Snapshot s = fx.snap();
    auto names = [&](const StatFilter& f) {
        std::string out;
        render_stat_csv(s, false, out, f);
        std::vector<std::string> v;
        for (const auto& line : split(out, '\n'))
            if (!line.empty() && line[0] != '#') {
                const auto cells = split(line, ',');
                v.push_back(cells[0] + "/" + cells[1] + (cells[1] == "BACKEND" ? " " + cells[17] : ""));
            }
        return v;
    };
    // ids: web 1, db 2 (its backend half too), app 3, empty 4
    StatFilter app;
    app.iid = 3;
    CHECK(names(app) == std::vector<std::string>{"app/s1", "app/s2", "app/BACKEND UP"});
    app.types = 4;
    app.sid = 2;
    CHECK(names(app) == std::vector<std::string>{"app/s2"});
    StatFilter fes;
    fes.types = 1;
    CHECK(names(fes) == std::vector<std::string>{"web/FRONTEND", "db/FRONTEND"});
    StatFilter both;
    both.iid = 2;
    both.types = 3;
    CHECK(names(both) == std::vector<std::string>{"db/FRONTEND", "db/BACKEND UP"});
    // s2 is in maintenance (disabled): hidden by both; the backend's status says how many servers are up
    StatFilter up;
    up.iid = 3;
    up.up = true;
    CHECK(names(up) == std::vector<std::string>{"app/s1", "app/BACKEND UP (1/2)"});
    StatFilter nm;
    nm.iid = 3;
    nm.no_maint = true;
    CHECK(names(nm) == std::vector<std::string>{"app/s1", "app/BACKEND UP (1/2)"});
    StatFilter none;
    none.iid = 9;
    CHECK(names(none).empty());
}

TEST_CASE("show stat typed and show info typed: HAProxy's line format, descriptions") {
    Fixture fx;
    const Snapshot s = fx.snap();
    std::string out;
    StatFilter f;
    f.iid = 3;
    f.types = 4;
    f.sid = 1;
    render_stat_typed(s, out, f);
    const auto lines = split(out, '\n');
    REQUIRE(!lines.empty());
    CHECK(lines[0] == "S.3.1.0.pxname.1:KNS:str:app");
    CHECK(lines[1] == "S.3.1.1.svname.1:KNS:str:s1");
    CHECK(out.find("\nS.3.1.7.stot.1:MCP:u64:120\n") != std::string::npos);  // 40 on each of 3 shards
    CHECK(out.find("S.3.2.") == std::string::npos);
    for (const auto& l : lines)
        if (!l.empty()) CHECK(std::count(l.begin(), l.end(), ':') >= 3);

    out.clear();
    render_stat_typed(s, out, f, true);
    CHECK(out.find("S.3.1.7.stot.1:MCP:u64:120:\"") != std::string::npos);
    for (const auto& l : split(out, '\n'))
        if (!l.empty()) CHECK(l.back() == '"');

    out.clear();
    render_info_typed(s, out);
    CHECK(out.rfind("0.Name.1:POS:str:edgeshard\n1.Version.1:POS:str:0.1.0\n", 0) == 0);
    CHECK(out.find("\n17.CurrConns.1:MGP:u32:15\n") != std::string::npos);
    out.clear();
    render_info_typed(s, out, true);
    CHECK(out.find("\n49.Idle_pct.1:MaP:u32:100:\"") != std::string::npos);
    for (std::size_t pos = 0; pos < kStatFieldCount; ++pos) {
        CAPTURE(pos);
        CHECK(!stat_field_desc(pos).empty());
    }
}

TEST_CASE("show schema json is a JSON schema of the JSON outputs") {
    std::string out;
    render_schema_json(out);
    auto d = parse(out);
    REQUIRE(d.IsObject());
    CHECK(std::string(d["$schema"].GetString()) == "http://json-schema.org/draft-04/schema#");
    REQUIRE(d["oneOf"].IsArray());
    CHECK(d["oneOf"].Size() == 3);
    CHECK(d["definitions"].HasMember("typedValue"));
}
