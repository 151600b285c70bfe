// The global section: limits, cpu-map, stats socket, tuning, warnings, zero-warning, the embedded default.
#include <doctest/doctest.h>

#include "helpers.hpp"

using es::config::CpuMap;
using es::config::StatsLevel;
using es::config::test::error_of;
using es::config::test::expect_error;
using es::config::test::has_warning;
using es::config::test::kTail;
using es::config::test::load;

namespace {

std::vector<std::pair<int, std::vector<int>>> maps_of(const std::string& global_lines) {
    const auto cfg = load("global\n" + global_lines + kTail);
    std::vector<std::pair<int, std::vector<int>>> out;
    for (const CpuMap& m : cfg.global.cpu_maps) out.emplace_back(m.shard, m.cpus);
    return out;
}
using Maps = std::vector<std::pair<int, std::vector<int>>>;

}  // namespace

TEST_CASE("embedded default configuration") {
    const auto cfg = es::config::load_text(es::config::kEmbeddedDefault);
    CHECK(cfg.warnings.empty());
    CHECK(cfg.files == std::vector<std::string>{"<embedded>"});
    REQUIRE(cfg.global.stats_sockets.size() == 1);
    CHECK(cfg.global.stats_sockets[0].path == "/tmp/edgeshard.sock");
    CHECK(cfg.global.stats_sockets[0].mode == 0600);
    CHECK(cfg.global.stats_sockets[0].level_admin);
    CHECK(cfg.global.demo_origin == "127.0.0.1:8081");
    REQUIRE(cfg.frontends.size() == 2);
    REQUIRE(cfg.backends.size() == 2);
    const auto& fe = cfg.frontends[0];
    CHECK(fe.name == "demo");
    CHECK(fe.mode == es::config::Mode::Tcp);
    REQUIRE(fe.binds.size() == 1);
    CHECK(fe.binds[0].addr.text() == "127.0.0.1:8080");
    CHECK(fe.default_backend_id == 0);
    CHECK(fe.timeouts.client == 30000);
    const auto& be = cfg.backends[0];
    CHECK(be.name == "demo_origin");
    CHECK(be.timeouts.connect == 5000);
    CHECK(be.timeouts.server == 30000);
    REQUIRE(be.servers.size() == 1);
    CHECK(be.servers[0].addr.text() == "127.0.0.1:8081");
    // the HTTP demo: logs, forwardfor, stats page and metrics on 127.0.0.1:8082
    const auto& hf = cfg.frontends[1];
    CHECK(hf.name == "demo_http");
    CHECK(hf.mode == es::config::Mode::Http);
    REQUIRE(hf.binds.size() == 1);
    CHECK(hf.binds[0].addr.text() == "127.0.0.1:8082");
    CHECK(hf.default_backend_id == 1);
    CHECK(!hf.log_format.empty());
    REQUIRE(hf.logs.size() == 1);
    CHECK(hf.logs[0].target == "stdout");
    CHECK(hf.http.forwardfor);
    CHECK(hf.stats.enabled);
    CHECK(hf.stats.uri == "/stats");
    REQUIRE(hf.http.request_rules.size() == 1);
    CHECK(hf.http.request_rules[0].action == es::config::HttpAction::UseService);
    CHECK(cfg.backends[1].mode == es::config::Mode::Http);
    CHECK(std::string(es::config::kEmbeddedDefault).find("# edgeshard embedded default") == 0);
}

TEST_CASE("global: limits and tuning") {
    const auto cfg = load(
        "global\n"
        "    maxconn 20000\n"
        "    nbthread 4\n"
        "    nosplice\n"
        "    maxpipes 512\n"
        "    tune.bufsize 32k\n"
        "    tune.pipesize 1m\n"
        "    tune.es.ring-entries 4096\n"
        "    tune.es.buffers 8192\n"
        "    tune.es.splice-after 64k\n"
        "    es.demo-origin :9000\n"
        "    stats timeout 1m\n" +
        kTail);
    const auto& g = cfg.global;
    CHECK(g.maxconn == 20000);
    CHECK(g.nbthread == 4);
    CHECK_FALSE(g.splice);
    CHECK(g.maxpipes == 512);
    CHECK(g.bufsize == 32768);
    CHECK(g.pipesize == 1048576);
    CHECK(g.ring_entries == 4096);
    CHECK(g.buffers_per_shard == 8192);
    CHECK(g.splice_threshold == 65536);
    CHECK(g.demo_origin == "0.0.0.0:9000");
    CHECK(g.stats_timeout == 60000);
    CHECK(g.where.line == 1);
    CHECK(cfg.warnings.empty());
}

TEST_CASE("global: defaults when nothing is said") {
    const auto cfg = load(kTail);
    const auto& g = cfg.global;
    CHECK(g.maxconn == 0);
    CHECK(g.nbthread == 0);
    CHECK(g.splice);
    CHECK(g.ring_entries == 1024);
    CHECK(g.buffers_per_shard == 4096);
    CHECK(g.stats_timeout == 10000);
    CHECK(g.stats_sockets.empty());
    CHECK(g.cpu_maps.empty());
}

TEST_CASE("global: bad values") {
    expect_error("global\n    maxconn abc\n" + kTail, 2, {"'maxconn' expects a positive integer, got 'abc'"});
    expect_error("global\n    maxconn 0\n" + kTail, 2, {"'maxconn' expects a positive integer, got '0'"});
    expect_error("global\n    maxconn\n" + kTail, 2, {"'maxconn' expects a positive integer, got nothing"});
    expect_error("global\n    maxconn 10 20\n" + kTail, 2, {"unexpected argument '20'"});
    expect_error("global\n    maxconn 99999999999\n" + kTail, 2, {"'maxconn' expects a positive integer"});
    expect_error("global\n    nbthread 0\n" + kTail, 2,
                 {"'nbthread' expects an integer from 1 to 1024, got '0'"});
    expect_error("global\n    nbthread 1025\n" + kTail, 2, {"'nbthread'", "1025"});
    expect_error("global\n    tune.es.ring-entries 1000\n" + kTail, 2,
                 {"power of two from 64 to 32768", "'1000'"});
    expect_error("global\n    tune.es.ring-entries 32\n" + kTail, 2, {"'tune.es.ring-entries'"});
    expect_error("global\n    tune.es.buffers 65536\n" + kTail, 2, {"'tune.es.buffers'", "power of two"});
    expect_error("global\n    tune.bufsize 12q\n" + kTail, 2, {"'tune.bufsize' expects a size", "'12q'"});
    expect_error("global\n    tune.bufsize 100\n" + kTail, 2, {"'tune.bufsize'", "from 1024"});
    expect_error("global\n    tune.es.splice-after -1\n" + kTail, 2, {"'tune.es.splice-after'"});
    expect_error("global\n    es.demo-origin localhost:8081\n" + kTail, 2, {"'es.demo-origin'", "no DNS"});
    expect_error("global\n    stats timeout forever\n" + kTail, 2,
                 {"'stats timeout' expects a time", "'forever'"});
    expect_error("global\n    stats timeout 30d\n" + kTail, 2, {"timer overflow", "24.8 days"});
    expect_error("global\n    nosplice now\n" + kTail, 2, {"unexpected argument 'now'"});
}

TEST_CASE("global: unknown keywords get a hint") {
    expect_error("global\n    maxcon 10\n" + kTail, 2,
                 {"unknown keyword 'maxcon' in 'global' section", "did you mean 'maxconn'?"});
    expect_error("global\n    tune.es.ring-entrys 64\n" + kTail, 2,
                 {"unknown keyword 'tune.es.ring-entrys'", "did you mean 'tune.es.ring-entries'?"});
    expect_error("global\n    frobnicate\n" + kTail, 2, {"unknown keyword 'frobnicate' in 'global' section"});
    CHECK(error_of("global\n    frobnicate\n" + kTail).find("did you mean") == std::string::npos);
    expect_error("global\n    stats sockett /x\n" + kTail, 2, {"'stats sockett'", "did you mean 'socket'?"});
}

TEST_CASE("global: refused keywords say why") {
    expect_error("global\n    nbproc 2\n" + kTail, 2, {"'nbproc'", "use 'nbthread'"});
    expect_error("global\n    lua-load /x.lua\n" + kTail, 2, {"'lua-load' is not supported", "Lua"});
    expect_error("global\n    maxconnrate 100\n" + kTail, 2, {"'maxconnrate' is not supported"});
    expect_error("global\n    unix-bind prefix /x\n" + kTail, 2, {"'unix-bind' is not supported"});
}

TEST_CASE("global: stats socket fd@N must be an open listening unix socket") {
    expect_error("global\n    stats socket fd@97 level admin\n" + kTail, 2,
                 {"'stats socket' : cannot use file descriptor '97' : Bad file descriptor."});
    expect_error("global\n    stats socket fd@x\n" + kTail, 2, {"invalid file descriptor 'x'"});
    expect_error("global\n    stats socket sockpair@4\n" + kTail, 2, {"socket pair", "fd@N"});
}

TEST_CASE("global: master-worker and pidfile are read as -W and -p") {
    auto cfg = load("global\n    master-worker\n    pidfile /run/x.pid\n" + kTail);
    CHECK(cfg.global.master_worker);
    CHECK(cfg.global.master_exit_on_failure);
    CHECK(cfg.global.pidfile == "/run/x.pid");
    CHECK(cfg.warnings.empty());
    cfg = load("global\n    master-worker no-exit-on-failure\n" + kTail);
    CHECK(cfg.global.master_worker);
    CHECK(!cfg.global.master_exit_on_failure);
    expect_error("global\n    master-worker sometimes\n" + kTail, 2, {"'master-worker' only supports 'no-exit-on-failure'"});
}

TEST_CASE("global: accepted-and-ignored keywords are listed in warnings") {
    const auto cfg = load(
        "global\n"
        "    daemon\n"
        "    log /dev/log local0\n"
        "    chroot /var/lib/haproxy\n"
        "    user haproxy\n"
        "    ssl-default-bind-options ssl-min-ver TLSv1.2\n"
        "    tune.ssl.default-dh-param 2048\n"
        "    pidfile /run/haproxy.pid\n"
        "    no busy-polling\n"
        "    tune.maxaccept 64\n" +
        kTail);
    CHECK(cfg.warnings.size() == 5);
    CHECK(has_warning(cfg, {"t.cfg:2: keyword 'daemon' is accepted and ignored"}));
    REQUIRE(cfg.global.logs.size() == 1);
    CHECK(cfg.global.logs[0].target == "/dev/log");
    CHECK(has_warning(cfg, {"t.cfg:4: keyword 'chroot'", "no chroot, no setuid"}));
    CHECK(cfg.global.logs[0].kind == es::config::LogTarget::Kind::Unix);
    CHECK(has_warning(cfg, {"t.cfg:5: keyword 'user'", "unprivileged user"}));
    CHECK(cfg.global.ssl_bind_versions);  // ssl-default-bind-options is applied to TLS binds
    CHECK(cfg.global.ssl_bind.min_ver == es::tls::Version::Tls12);
    CHECK(cfg.global.ssl_dh_bits == 2048);  // tune.ssl.default-dh-param: the DHE group
    CHECK(cfg.global.pidfile == "/run/haproxy.pid");  // as -p
    CHECK(!has_warning(cfg, {"pidfile"}));
    CHECK(has_warning(cfg, {"t.cfg:9: keyword 'no busy-polling'"}));
    CHECK(has_warning(cfg, {"t.cfg:10: keyword 'tune.maxaccept'", "tuning"}));
}

TEST_CASE("global: reload and soft-stop keywords") {
    const auto cfg = load(
        "global\n"
        "    hard-stop-after 30s\n"
        "    close-spread-time 5s\n"
        "    es.drain-idle-after 500ms\n"
        "    mworker-max-reloads 3\n" +
        kTail);
    CHECK(cfg.warnings.empty());
    CHECK(cfg.global.hard_stop_after == 30000);
    CHECK(cfg.global.close_spread_time == 5000);
    CHECK(cfg.global.drain_idle_after == 500);
    CHECK(cfg.global.max_reloads == 3);
    const auto d = load(kTail);
    CHECK(d.global.hard_stop_after == 0);
    CHECK(d.global.drain_idle_after == 2000);
    CHECK(d.global.max_reloads == 50);
    expect_error("global\n    hard-stop-after soon\n" + kTail, 2, {"hard-stop-after"});
    expect_error("global\n    mworker-max-reloads -1\n" + kTail, 2, {"mworker-max-reloads"});
}

TEST_CASE("global: zero-warning turns warnings into an error") {
    expect_error("global\n    zero-warning\n    daemon\n" + kTail, 2,
                 {"'zero-warning' is set and 1 warning(s)", "t.cfg:3: keyword 'daemon'"});
    CHECK(error_of("global\n    zero-warning\n" + kTail) == "<no error>");
}

TEST_CASE("cpu-map: one thread, one CPU") {
    CHECK(maps_of("    cpu-map 1 0\n    cpu-map 2 1\n") == Maps{{0, {0}}, {1, {1}}});
    CHECK(maps_of("    cpu-map 1/1 2\n") == Maps{{0, {2}}});
    CHECK(maps_of("    cpu-map 1/3 5\n") == Maps{{2, {5}}});
}

TEST_CASE("cpu-map: ranges") {
    // bare ranges of equal size map one-to-one (edgeshard's reading of the bare form)
    CHECK(maps_of("    cpu-map 1-2 0-1\n") == Maps{{0, {0}}, {1, {1}}});
    // auto: maps one-to-one in ascending order, whatever the order of the CPU sets
    CHECK(maps_of("    cpu-map auto:1/1-2 0-1\n") == Maps{{0, {0}}, {1, {1}}});
    CHECK(maps_of("    cpu-map auto:1/1-4 3 2 1 0\n") == Maps{{0, {0}}, {1, {1}}, {2, {2}}, {3, {3}}});
    CHECK(maps_of("    cpu-map auto:1/1-4 0-1 2-3\n") == Maps{{0, {0}}, {1, {1}}, {2, {2}}, {3, {3}}});
    // without auto:, HAProxy gives every thread of the set the whole CPU set
    CHECK(maps_of("    cpu-map 1/1-2 0-1\n") == Maps{{0, {0, 1}}, {1, {0, 1}}});
    CHECK(maps_of("    cpu-map 1 0,2,4\n") == Maps{{0, {0, 2, 4}}});
    CHECK(maps_of("    cpu-map 1-2 4-7\n") == Maps{{0, {4, 5, 6, 7}}, {1, {4, 5, 6, 7}}});
}

TEST_CASE("cpu-map: all, open ranges and nbthread") {
    auto all = maps_of("    cpu-map 1/all 0-3\n");
    CHECK(all.size() == 64);  // HAProxy's "all" is threads 1..64; shards beyond the count are ignored
    CHECK(all[0] == std::pair<int, std::vector<int>>{0, {0, 1, 2, 3}});
    CHECK(maps_of("    nbthread 2\n    cpu-map 1/all 0-3\n") == Maps{{0, {0, 1, 2, 3}}, {1, {0, 1, 2, 3}}});
    CHECK(maps_of("    nbthread 3\n    cpu-map auto:1/all 4-63\n") == Maps{{0, {4}}, {1, {5}}, {2, {6}}});
    CHECK(maps_of("    nbthread 2\n    cpu-map auto:1/odd 0-1\n") == Maps{{0, {0}}});
    const auto cfg = load("global\n    nbthread 2\n    cpu-map 1 0\n    cpu-map 3 2\n" + kTail);
    CHECK(cfg.global.cpu_maps.size() == 1);
    CHECK(has_warning(cfg, {"t.cfg:4: cpu-map names thread 3 but nbthread is 2"}));
}

TEST_CASE("cpu-map: a later mapping replaces an earlier one") {
    CHECK(maps_of("    cpu-map 1 0\n    cpu-map 1/1 3\n") == Maps{{0, {3}}});
}

TEST_CASE("cpu-map: other thread groups are ignored with a warning") {
    const auto cfg = load("global\n    cpu-map 2/1 0\n" + kTail);
    CHECK(cfg.global.cpu_maps.empty());
    CHECK(has_warning(cfg, {"t.cfg:2", "thread group '2' is ignored"}));
}

TEST_CASE("cpu-map: errors") {
    expect_error("global\n    cpu-map 1\n" + kTail, 2, {"'cpu-map' expects a CPU set after '1'"});
    expect_error("global\n    cpu-map\n" + kTail, 2, {"'cpu-map' expects a thread set"});
    expect_error("global\n    cpu-map 0 1\n" + kTail, 2, {"'cpu-map' expects a thread set", "'0'"});
    expect_error("global\n    cpu-map x 1\n" + kTail, 2, {"'cpu-map'", "'x'"});
    expect_error("global\n    cpu-map 1 a-b\n" + kTail, 2, {"'cpu-map' expects a CPU set", "'a-b'"});
    expect_error("global\n    cpu-map 1 3-1\n" + kTail, 2, {"'cpu-map' expects a CPU set", "'3-1'"});
    expect_error("global\n    cpu-map auto:1/1-4 0\n" + kTail, 2,
                 {"'cpu-map auto:' needs as many CPUs as threads"});
    expect_error("global\n    cpu-map auto:1/1 0-3\n" + kTail, 2, {"1 thread(s) for 4 CPU(s)"});
    expect_error("global\n    cpu-map 1-2/1 0\n" + kTail, 2, {"only thread group 1 exists"});
}

TEST_CASE("stats socket") {
    const auto cfg = load(
        "global\n"
        "    stats socket /run/a.sock mode 660 level admin expose-fd listeners\n"
        "    stats socket unix@/run/b.sock level user\n"
        "    stats socket /run/c.sock\n"
        "    stats socket /run/d.sock mode 0640 level operator user haproxy group haproxy process 1\n" +
        kTail);
    const auto& s = cfg.global.stats_sockets;
    REQUIRE(s.size() == 4);
    CHECK(s[0].path == "/run/a.sock");
    CHECK(s[0].mode == 0660);
    CHECK(s[0].level == StatsLevel::Admin);
    CHECK(s[0].level_admin);
    CHECK(s[0].expose_fd_listeners);
    CHECK(s[0].where.line == 2);
    CHECK(s[1].path == "/run/b.sock");
    CHECK(s[1].level == StatsLevel::User);
    CHECK_FALSE(s[1].level_admin);
    CHECK(s[2].level == StatsLevel::Operator);  // HAProxy's default level
    CHECK(s[2].mode == 0600);
    CHECK(s[3].mode == 0640);
    CHECK(has_warning(cfg, {"t.cfg:5: keywords 'user haproxy', 'group haproxy' are accepted and ignored"}));
    CHECK(has_warning(cfg, {"t.cfg:5: keyword 'process 1'"}));
}

TEST_CASE("stats socket: errors") {
    expect_error("global\n    stats socket ipv4@127.0.0.1:9999 level admin\n" + kTail, 2,
                 {"'stats socket ipv4@127.0.0.1:9999'", "only unix socket paths"});
    expect_error("global\n    stats socket 127.0.0.1:9999\n" + kTail, 2, {"only unix socket paths"});
    expect_error("global\n    stats socket :9999\n" + kTail, 2, {"only unix socket paths"});
    expect_error("global\n    stats socket abns@ctl\n" + kTail, 2, {"only unix socket paths"});
    expect_error("global\n    stats socket\n" + kTail, 2, {"'stats socket' expects a unix socket path"});
    expect_error("global\n    stats socket /" + std::string(120, 'x') + "\n" + kTail, 2, {"at most 107"});
    expect_error("global\n    stats socket /a mode 999\n" + kTail, 2,
                 {"'mode' expects an octal file mode", "'999'"});
    expect_error("global\n    stats socket /a level root\n" + kTail, 2,
                 {"'level' expects user, operator or admin, got 'root'"});
    expect_error("global\n    stats socket /a expose-fd all\n" + kTail, 2,
                 {"'expose-fd' expects 'listeners'"});
    expect_error("global\n    stats socket /a level\n" + kTail, 2, {"'stats socket level' expects a value"});
    expect_error("global\n    stats socket /a accept-proxy\n" + kTail, 2,
                 {"unsupported 'stats socket' option"});
    expect_error("global\n    stats socket /a levl admin\n" + kTail, 2, {"did you mean 'level'?"});
    expect_error("global\n    stats socket /a\n    stats socket /a\n" + kTail, 3,
                 {"already declared at t.cfg:2"});
}

TEST_CASE("global: the watchdog's thresholds, node and description") {
    const auto d = load("global\n    maxconn 10\n" + kTail);
    CHECK(d.global.watchdog_warn_ms == 1000);
    CHECK(d.global.watchdog_panic_ms == 10000);
    const auto cfg = load("global\n    tune.es.watchdog-warn 300ms\n    tune.es.watchdog-panic 0\n    node edge-7\n"
                          "    description an edge box\n" + kTail);
    CHECK(cfg.global.watchdog_warn_ms == 300);
    CHECK(cfg.global.watchdog_panic_ms == 0);
    CHECK(cfg.global.node == "edge-7");
    CHECK(cfg.global.description == "an edge box");
    expect_error("global\n    tune.es.watchdog-panic soon\n" + kTail, 2, {"tune.es.watchdog-panic"});
}
