// balance random(<draws>): weighted draws, the least loaded of the draws wins.
#include <doctest/doctest.h>

#include <map>
#include <vector>

#include "edgeshard/proxy/lb.hpp"
#include "lb_fixture.hpp"

using namespace es;
using lbtest::make_be;
using proxy::BackendLb;
using proxy::PickInput;

TEST_CASE("random: draws follow the weights within 5% over 100k picks (equal load)") {
    for (int draws : {1, 2, 3}) {
        INFO("draws " << draws);
        auto be = make_be(config::Balance::Random, {1, 2, 3, 4});
        be.balance.random_draws = draws;
        std::vector<stats::ServerCounters> c(4);
        BackendLb lb(be, c.data(), 1, 5);
        std::vector<int> counts(4);
        const int n = 100000;
        for (int i = 0; i < n; ++i) ++counts[std::size_t(lb.pick(PickInput{}, -1))];
        // with every cur at 0 the first draw always wins: a plain weighted draw
        for (int s = 0; s < 4; ++s) {
            const double expect = n * (s + 1) / 10.0;
            INFO("server " << s << " got " << counts[std::size_t(s)]);
            CHECK(counts[std::size_t(s)] > expect * 0.95);
            CHECK(counts[std::size_t(s)] < expect * 1.05);
        }
    }
}

TEST_CASE("random(2) prefers the less loaded server, relative to weight") {
    auto be = make_be(config::Balance::Random, {1, 1});
    std::vector<stats::ServerCounters> c(2);
    auto share_of_1 = [&](int draws) {
        be.balance.random_draws = draws;
        BackendLb lb(be, c.data(), 1, 11);
        lb.server(0).cur = 10;
        int n1 = 0;
        for (int i = 0; i < 20000; ++i) n1 += lb.pick(PickInput{}, -1) == 1;
        return n1 / 20000.0;
    };
    // the loaded server wins only when every draw lands on it: 1/2, 1/4, 1/8
    CHECK(share_of_1(1) == doctest::Approx(0.5).epsilon(0.05));
    CHECK(share_of_1(2) == doctest::Approx(0.75).epsilon(0.05));
    CHECK(share_of_1(3) == doctest::Approx(0.875).epsilon(0.05));

    // weight-normalised: 3 connections on weight 3 are lighter than 2 on weight 1
    auto w = make_be(config::Balance::Random, {3, 1});
    w.balance.random_draws = 8;
    BackendLb lw(w, c.data(), 1);
    lw.server(0).cur = 3;
    lw.server(1).cur = 2;
    int n0 = 0;
    for (int i = 0; i < 1000; ++i) n0 += lw.pick(PickInput{}, -1) == 0;
    CHECK(n0 > 990);  // loses only when all 8 draws hit server 1: (1/4)^8
}

TEST_CASE("random(2) keeps loads closer together than random(1)") {
    // connections arrive and each ends after 20 more arrivals; the busiest server's load, averaged
    // over time and at its worst
    struct Load {
        double mean_max;
        int worst;
    };
    auto run = [](int draws) {
        auto be = make_be(config::Balance::Random, {1, 1, 1, 1, 1, 1, 1, 1});
        be.balance.random_draws = draws;
        std::vector<stats::ServerCounters> c(8);
        BackendLb lb(be, c.data(), 1, 2024);
        std::vector<int> live(20, -1);
        int worst = 0;
        long sum = 0;
        for (int i = 0; i < 20000; ++i) {
            int& slot = live[std::size_t(i % 20)];
            if (slot >= 0) --lb.server(slot).cur;
            slot = lb.pick(PickInput{}, -1);
            ++lb.server(slot).cur;
            int hi = 0;
            for (int s = 0; s < 8; ++s) hi = std::max(hi, lb.server(s).cur);
            worst = std::max(worst, hi);
            sum += hi;
        }
        return Load{double(sum) / 20000, worst};
    };
    const Load one = run(1), two = run(2);
    INFO("busiest server, mean/worst: random(1) " << one.mean_max << "/" << one.worst << ", random(2) "
                                                  << two.mean_max << "/" << two.worst);
    CHECK(two.worst < one.worst);
    CHECK(two.mean_max < one.mean_max - 0.75);
    CHECK(two.mean_max < 4.2);  // 20 connections over 8 servers: 2.5 each on average
}

TEST_CASE("random: exclude, disabled and full servers are never drawn; all full -> kFull") {
    auto be = make_be(config::Balance::Random, {1, 1, 1});
    for (auto& s : be.servers) s.maxconn = 1;
    be.servers[2].disabled = true;
    std::vector<stats::ServerCounters> c(3);
    BackendLb lb(be, c.data(), 1);
    for (int i = 0; i < 200; ++i) CHECK(lb.pick(PickInput{}, 0) == 1);
    lb.server(1).cur = 1;
    for (int i = 0; i < 200; ++i) CHECK(lb.pick(PickInput{}, -1) == 0);
    // exclusion lifts only when no other usable server exists; server 1 is usable, merely full
    CHECK(lb.pick(PickInput{}, 0) == BackendLb::kFull);
    lb.server(0).cur = 1;
    CHECK(lb.pick(PickInput{}, -1) == BackendLb::kFull);
    lb.set_admin(0, shard::ServerAdmin::Maint);
    lb.set_admin(1, shard::ServerAdmin::Maint);
    CHECK(lb.pick(PickInput{}, -1) == BackendLb::kNone);
}

TEST_CASE("random: the sequence depends on the seed; one seed replays the same picks") {
    auto be = make_be(config::Balance::Random, {1, 1, 1, 1});
    be.balance.random_draws = 1;
    std::vector<stats::ServerCounters> c(4);
    BackendLb a(be, c.data(), 1, 1), b(be, c.data(), 1, 1), d(be, c.data(), 1, 2);
    int same = 0, differ = 0;
    for (int i = 0; i < 200; ++i) {
        const int x = a.pick(PickInput{}, -1);
        same += x == b.pick(PickInput{}, -1);
        differ += x != d.pick(PickInput{}, -1);
    }
    CHECK(same == 200);
    CHECK(differ > 100);  // independent streams agree 1/4 of the time
}

TEST_CASE("random: without a seed, instances (one per shard) draw different sequences") {
    auto be = make_be(config::Balance::Random, {1, 1, 1, 1});
    be.balance.random_draws = 1;
    std::vector<stats::ServerCounters> c(4);
    BackendLb a(be, c.data(), 2), b(be, c.data(), 2);
    int differ = 0;
    for (int i = 0; i < 200; ++i) differ += a.pick(PickInput{}, -1) != b.pick(PickInput{}, -1);
    CHECK(differ > 100);
}
