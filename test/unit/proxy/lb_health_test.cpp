// Health on the balancer: a DOWN server leaves every algorithm, backups serve only while no active
// server is operational (the first backup, or all of them with option allbackups), and a
// consistent ring moves only the DOWN server's keys.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "edgeshard/proxy/lb.hpp"
#include "lb_fixture.hpp"

using namespace es;

using lbtest::make_be;

namespace {

std::map<int, int> picks(proxy::BackendLb& lb, int n) {
    std::map<int, int> m;
    for (int i = 0; i < n; ++i) ++m[lb.pick(nullptr, -1)];
    return m;
}

}  // namespace

TEST_CASE("health: a DOWN server is never picked, by any algorithm; back UP it is again") {
    for (auto algo : {config::Balance::RoundRobin, config::Balance::LeastConn, config::Balance::Random,
                      config::Balance::Source, config::Balance::Uri}) {
        auto be = make_be(algo, {1, 1, 1});
        std::vector<stats::ServerCounters> c(3);
        proxy::BackendLb lb(be, c.data(), 1, 7);
        REQUIRE(lb.set_down(1, true));
        for (int i = 0; i < 60; ++i) {
            proxy::PickInput in;
            const auto addr = lbtest::v4(("10.0.0." + std::to_string(i)).c_str());
            in.src = &addr;
            const std::string uri = "/k" + std::to_string(i);
            in.uri = uri;
            CHECK(lb.pick(in, -1) != 1);
        }
        REQUIRE(lb.set_down(1, false));
        CHECK(picks(lb, 60).count(1) == 1);  // (source and uri without a key balance round-robin)
        CHECK_FALSE(lb.set_down(3, true));  // out of range
    }
}

TEST_CASE("health: backups take over only when every active server is down; first one unless allbackups") {
    auto be = make_be(config::Balance::RoundRobin, {1, 1, 1, 1});
    be.servers[2].backup = true;
    be.servers[3].backup = true;
    std::vector<stats::ServerCounters> c(4);
    proxy::BackendLb lb(be, c.data(), 1);
    CHECK_FALSE(lb.on_backup());
    auto m = picks(lb, 40);
    CHECK(m[0] == 20);
    CHECK(m[1] == 20);
    lb.set_down(0, true);
    CHECK(picks(lb, 10)[1] == 10);
    lb.set_admin(1, shard::ServerAdmin::Maint);  // an active server in maintenance counts as gone too
    CHECK(lb.on_backup());
    CHECK(picks(lb, 10)[2] == 10);  // the first backup only
    lb.set_down(2, true);
    CHECK(picks(lb, 10)[3] == 10);  // the next operational backup
    lb.set_down(3, true);
    CHECK(lb.pick(nullptr, -1) == proxy::BackendLb::kNone);
    lb.set_admin(1, shard::ServerAdmin::Ready);
    CHECK_FALSE(lb.on_backup());
    CHECK(picks(lb, 10)[1] == 10);

    be.allbackups = true;
    proxy::BackendLb all(be, c.data(), 1);
    all.set_down(0, true);
    all.set_down(1, true);
    m = picks(all, 40);
    CHECK(m[2] == 20);
    CHECK(m[3] == 20);
}

TEST_CASE("health: consistent hashing moves only the DOWN server's keys") {
    auto be = make_be(config::Balance::Uri, {1, 1, 1, 1});
    be.balance.hash_type = config::HashType::Consistent;
    std::vector<stats::ServerCounters> c(4);
    proxy::BackendLb lb(be, c.data(), 1);
    std::map<std::string, int> before;
    for (int i = 0; i < 400; ++i) {
        proxy::PickInput in;
        const std::string uri = "/obj/" + std::to_string(i);
        in.uri = uri;
        before[uri] = lb.pick(in, -1);
    }
    lb.set_down(2, true);
    int moved = 0;
    for (const auto& [uri, k] : before) {
        proxy::PickInput in;
        in.uri = uri;
        const int now = lb.pick(in, -1);
        CHECK(now != 2);
        if (k != 2) CHECK(now == k);
        if (now != k) ++moved;
    }
    CHECK(moved > 0);
    lb.set_down(2, false);
    for (const auto& [uri, k] : before) {
        proxy::PickInput in;
        in.uri = uri;
        CHECK(lb.pick(in, -1) == k);
    }
}

TEST_CASE("slowstart: a throttled server takes its share of picks, weight 1 included; the map ignores it") {
    auto be = make_be(config::Balance::RoundRobin, {1, 1});
    std::vector<stats::ServerCounters> c(2);
    proxy::BackendLb lb(be, c.data(), 1);
    REQUIRE(lb.set_throttle(0, 25));  // 4 of 16 sixteenths against 16
    auto m = picks(lb, 200);
    CHECK(m[0] == 40);
    CHECK(m[1] == 160);
    REQUIRE(lb.set_throttle(0, 100));
    m = picks(lb, 200);
    CHECK(m[0] == 100);
    CHECK_FALSE(lb.set_throttle(0, 0));
    CHECK_FALSE(lb.set_throttle(0, 101));

    auto hb = make_be(config::Balance::Uri, {1, 1});
    proxy::BackendLb map(hb, c.data(), 1);
    std::map<int, int> before, after;
    for (int i = 0; i < 100; ++i) {
        proxy::PickInput in;
        const std::string uri = "/" + std::to_string(i);
        in.uri = uri;
        ++before[map.pick(in, -1)];
    }
    map.set_throttle(0, 10);
    for (int i = 0; i < 100; ++i) {
        proxy::PickInput in;
        const std::string uri = "/" + std::to_string(i);
        in.uri = uri;
        ++after[map.pick(in, -1)];
    }
    CHECK(before == after);  // map-based hashing: static weights (HAProxy)

    auto cb = make_be(config::Balance::Uri, {1, 1});
    cb.balance.hash_type = config::HashType::Consistent;
    proxy::BackendLb ring(cb, c.data(), 1);
    ring.set_throttle(0, 10);
    std::map<int, int> shares;
    for (int i = 0; i < 1000; ++i) {
        proxy::PickInput in;
        const std::string uri = "/k" + std::to_string(i);
        in.uri = uri;
        ++shares[ring.pick(in, -1)];
    }
    CHECK(shares[0] < 250);  // about 10 / 110 of the keys
    CHECK(shares[0] > 20);
}
