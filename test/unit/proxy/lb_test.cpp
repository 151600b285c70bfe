#include <doctest/doctest.h>

#include <cstdio>
#include <map>

#include "edgeshard/proxy/lb.hpp"
#include "lb_fixture.hpp"

using namespace es;

using lbtest::make_be;
using lbtest::v4;

TEST_CASE("roundrobin: exact weights over one cycle, spread out") {
    auto be = make_be(config::Balance::RoundRobin, {1, 3});
    std::vector<stats::ServerCounters> c(2);
    proxy::BackendLb lb(be, c.data(), 1);
    std::map<int, int> n;
    int last = -1, runs = 0;
    for (int i = 0; i < 40; ++i) {
        const int k = lb.pick(nullptr, -1);
        ++n[k];
        if (k == last) ++runs;
        last = k;
    }
    CHECK(n[0] == 10);
    CHECK(n[1] == 30);
    CHECK(runs <= 20);  // smooth: never 3 in a row for weights 1:3 beyond the pattern
}

TEST_CASE("roundrobin skips disabled and zero-weight servers; none usable -> kNone") {
    auto be = make_be(config::Balance::RoundRobin, {1, 1, 0});
    be.servers[0].disabled = true;
    std::vector<stats::ServerCounters> c(3);
    proxy::BackendLb lb(be, c.data(), 1);
    for (int i = 0; i < 10; ++i) CHECK(lb.pick(nullptr, -1) == 1);
    auto be2 = make_be(config::Balance::RoundRobin, {1});
    be2.servers[0].disabled = true;
    proxy::BackendLb lb2(be2, c.data(), 1);
    CHECK(lb2.pick(nullptr, -1) == proxy::BackendLb::kNone);
}

TEST_CASE("maxconn: full servers are skipped; all full -> kFull; split per shard") {
    auto be = make_be(config::Balance::RoundRobin, {1, 1});
    be.servers[0].maxconn = 4;
    be.servers[1].maxconn = 1;
    std::vector<stats::ServerCounters> c(2);
    proxy::BackendLb lb(be, c.data(), 2);  // 2 shards: limits 2 and 1 (at least one each)
    CHECK(lb.server(0).limit == 2);
    CHECK(lb.server(1).limit == 1);
    int got = 0;
    for (int i = 0; i < 3; ++i) {
        const int k = lb.pick(nullptr, -1);
        REQUIRE(k >= 0);
        ++lb.server(k).cur;
        ++got;
    }
    CHECK(got == 3);
    CHECK(lb.pick(nullptr, -1) == proxy::BackendLb::kFull);
}

TEST_CASE("redispatch exclusion: the failed server is avoided when another exists") {
    auto be = make_be(config::Balance::RoundRobin, {1, 1});
    std::vector<stats::ServerCounters> c(2);
    proxy::BackendLb lb(be, c.data(), 1);
    for (int i = 0; i < 6; ++i) CHECK(lb.pick(nullptr, 0) == 1);
    auto one = make_be(config::Balance::RoundRobin, {1});
    proxy::BackendLb lb1(one, c.data(), 1);
    CHECK(lb1.pick(nullptr, 0) == 0);  // nothing else: the same server is retried
}

TEST_CASE("leastconn: fewest connections relative to weight, ties alternate") {
    auto be = make_be(config::Balance::LeastConn, {1, 1});
    std::vector<stats::ServerCounters> c(2);
    proxy::BackendLb lb(be, c.data(), 1);
    lb.server(0).cur = 4;
    for (int i = 0; i < 4; ++i) {
        const int k = lb.pick(nullptr, -1);
        CHECK(k == 1);
        ++lb.server(k).cur;
    }
    std::map<int, int> n;
    for (int i = 0; i < 10; ++i) ++n[lb.pick(nullptr, -1)];
    CHECK(n[0] == 5);
    CHECK(n[1] == 5);
    auto w = make_be(config::Balance::LeastConn, {1, 3});
    proxy::BackendLb lw(w, c.data(), 1);
    for (int i = 0; i < 8; ++i) ++lw.server(lw.pick(nullptr, -1)).cur;
    CHECK(lw.server(0).cur == 2);
    CHECK(lw.server(1).cur == 6);
}

TEST_CASE("source: same address, same server, on every shard; spread over addresses") {
    auto be = make_be(config::Balance::Source, {1, 1, 2});
    std::vector<stats::ServerCounters> c(3);
    proxy::BackendLb a(be, c.data(), 1), b(be, c.data(), 4);
    const auto ip = v4("192.0.2.10");
    const int k = a.pick(&ip, -1);
    for (int i = 0; i < 20; ++i) {
        CHECK(a.pick(&ip, -1) == k);
        CHECK(b.pick(&ip, -1) == k);
    }
    std::map<int, int> n;
    for (int i = 0; i < 1000; ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "10.%d.%d.1", i / 250, i % 250);
        const auto x = v4(buf);
        ++n[a.pick(&x, -1)];
    }
    CHECK(n[0] > 150);
    CHECK(n[1] > 150);
    CHECK(n[2] > 350);  // weight 2
    // an excluded server moves the client to the next map entry, deterministically
    const int k2 = a.pick(&ip, k);
    CHECK(k2 != k);
    CHECK(b.pick(&ip, k) == k2);
}
