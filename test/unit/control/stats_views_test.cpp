// control room: the configuration and runtime turned into the stats room's plain inputs.
#include <doctest/doctest.h>
#include <optional>
#include <string>
#include <vector>

#include "edgeshard/config/parser.hpp"
#include "edgeshard/control/stats_views.hpp"

using namespace es;
using namespace es::control;

namespace {

config::SockAddr addr(const char* text) {
    const std::optional<config::SockAddr> a = config::parse_addr(text);
    REQUIRE(a);
    return *a;
}

}  // namespace

TEST_CASE("addresses are formatted numerically") {
    CHECK(format_addr(addr("127.0.0.1:80")) == "127.0.0.1:80");
    CHECK(format_addr(addr("[::1]:443")) == "[::1]:443");
    CHECK(format_addr(config::SockAddr{}).empty());
}

TEST_CASE("the layout carries every object with what the rows show") {
    const config::Config cfg = config::load_text(R"(
defaults
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend web
    mode http
    bind 127.0.0.1:10001
    maxconn 1000
    default_backend app
backend app
    mode http
    balance leastconn
    server s1 10.0.0.1:8080 weight 10
    server s2 [::1]:8081 maxconn 50 disabled
listen db
    bind 127.0.0.1:10002
    balance source
    server d1 10.0.0.9:5432
)");
    const stats::Layout l = stats_layout(cfg);
    REQUIRE(l.frontends.size() == 2);
    CHECK(l.frontends[0].name == "web");
    CHECK(l.frontends[0].http);
    CHECK(l.frontends[0].maxconn == 1000);
    CHECK(l.frontends[1].name == "db");
    CHECK_FALSE(l.frontends[1].http);
    REQUIRE(l.backends.size() == 2);
    CHECK(l.backends[0].algo == "leastconn");
    CHECK(l.backends[1].algo == "source");
    REQUIRE(l.backends[0].servers.size() == 2);
    const stats::Layout::Server& a = l.backends[0].servers[0];
    CHECK(a.name == "s1");
    CHECK(a.addr == "10.0.0.1:8080");
    CHECK(a.weight == 10);
    const stats::Layout::Server& b = l.backends[0].servers[1];
    CHECK(b.id == 1);
    CHECK(b.addr == "[::1]:8081");
    CHECK(b.maxconn == 50);
    CHECK(b.disabled);

    std::vector<std::uint32_t> fe, be;
    assign_proxy_ids(cfg, fe, be);
    // HAProxy's: each proxy in its order (web 1, app 2, db 3); "db" is a listen section: one id for both halves
    CHECK(fe == std::vector<std::uint32_t>{1, 3});
    CHECK(be == std::vector<std::uint32_t>{2, 3});
    REQUIRE(l.proxies.size() == 3);
    CHECK((l.proxies[0].fe == 0 && l.proxies[0].be == -1));
    CHECK((l.proxies[1].fe == -1 && l.proxies[1].be == 0));
    CHECK((l.proxies[2].fe == 1 && l.proxies[2].be == 1));
}

TEST_CASE("proxy and server ids as HAProxy 2.6 gives them") {
    // observed on HAProxy 2.6.12 (`show stat` iid and sid): the CLI's proxy takes 1 when there is a stats
    // socket; an `id` written is kept and the others take their place's number or the next free one
    const config::Config cfg = config::load_text(R"(
global
    stats socket /tmp/never-opened.sock
defaults
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend tmpl
    default_backend b
backend b
    id 4
    server y 127.0.0.1:2
    server x 127.0.0.1:1 id 5
    server z 127.0.0.1:3
backend c
    server x 127.0.0.1:1 id 1
    server y 127.0.0.1:2
frontend f
    bind 127.0.0.1:10001
    default_backend b
)");
    // GLOBAL 1, tmpl (no bind: numbered, not served) 2, b 4 (written), c 5 (its place, 4, is taken: the next
    // free), f 6 (the same file through HAProxy 2.6.12)
    REQUIRE(cfg.frontends.size() == 1);
    CHECK(cfg.frontends[0].uuid == 6);
    REQUIRE(cfg.backends.size() == 2);
    CHECK(cfg.backends[0].uuid == 4);
    CHECK(cfg.backends[1].uuid == 5);
    CHECK(cfg.backends[0].servers[0].puid == 1);
    CHECK(cfg.backends[0].servers[1].puid == 5);
    CHECK(cfg.backends[0].servers[2].puid == 3);
    CHECK(cfg.backends[1].servers[0].puid == 1);
    CHECK(cfg.backends[1].servers[1].puid == 2);
    const stats::Layout l = stats_layout(cfg);
    CHECK(l.backends[0].servers[2].sid == 3);
    CHECK(l.backends[0].iid == 4);
    CHECK_THROWS_WITH_AS(config::load_text("defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                                           "backend a\n    id 3\nbackend b\n    id 3\n"),
                         doctest::Contains("backend 'b' reuses the same custom ID 3 as backend 'a'"),
                         std::exception);
}

TEST_CASE("runtime server states keep their weight and admin state") {
    const std::vector<std::vector<shard::ServerRuntime>> t = {
        {{7, shard::ServerAdmin::Drain}, {0, shard::ServerAdmin::Maint}}, {{1, shard::ServerAdmin::Ready}}};
    const auto s = server_states(t);
    REQUIRE(s.size() == 2);
    CHECK(s[0][0].weight == 7);
    CHECK(s[0][0].admin == stats::ServerState::Admin::Drain);
    CHECK(s[0][1].admin == stats::ServerState::Admin::Maint);
    CHECK(s[1][0].admin == stats::ServerState::Admin::Ready);
}
