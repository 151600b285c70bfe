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
    CHECK(fe == std::vector<std::uint32_t>{1, 2});
    CHECK(be == std::vector<std::uint32_t>{3, 2});  // "db" is a listen section: it shares the id
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
