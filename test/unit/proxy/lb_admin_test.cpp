// Runtime server states on one shard's BackendLb: drain and maint leave the picks, runtime weights
// drive every algorithm, and the consistent ring moves only the changed server's keys.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "edgeshard/proxy/admin.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "lb_fixture.hpp"

using namespace es;
using lbtest::make_be;
using proxy::BackendLb;
using proxy::PickInput;
using shard::ServerAdmin;

namespace {

PickInput uri(const std::string& u) {
    PickInput in;
    in.uri = u;
    return in;
}

std::string key(int i) {
    return "/cart/" + std::to_string(i) + "?v=2";
}

std::map<int, int> rr_counts(BackendLb& lb, int n) {
    std::map<int, int> m;
    for (int i = 0; i < n; ++i) ++m[lb.pick(nullptr, -1)];
    return m;
}

}  // namespace

TEST_CASE("initial state: configured weight, `disabled` starts in maint") {
    auto be = make_be(config::Balance::RoundRobin, {3, 1, 0});
    be.servers[1].disabled = true;
    std::vector<stats::ServerCounters> c(3);
    BackendLb lb(be, c.data(), 1);
    CHECK(lb.server(0).weight == 3);
    CHECK(lb.server(0).admin == ServerAdmin::Ready);
    CHECK(lb.server(0).usable());
    CHECK(lb.server(1).admin == ServerAdmin::Maint);
    CHECK_FALSE(lb.server(1).usable());
    CHECK(lb.server(2).admin == ServerAdmin::Ready);
    CHECK_FALSE(lb.server(2).usable());  // weight 0
    // `set server be/s1 state ready` brings a configured-disabled server in
    CHECK(lb.set_admin(1, ServerAdmin::Ready));
    const auto n = rr_counts(lb, 40);
    CHECK(n.at(0) == 30);
    CHECK(n.at(1) == 10);
    CHECK(n.count(2) == 0);
}

TEST_CASE("drain and maint: never picked by any algorithm; ready again: picked again") {
    for (auto algo : {config::Balance::RoundRobin, config::Balance::LeastConn, config::Balance::Random,
                      config::Balance::Uri}) {
        for (auto ht : {config::HashType::MapBased, config::HashType::Consistent}) {
            for (auto st : {ServerAdmin::Drain, ServerAdmin::Maint}) {
                INFO("algo " << int(algo) << " hash-type " << int(ht) << " state " << int(st));
                auto be = make_be(algo, {1, 2, 1});
                be.balance.hash_type = ht;
                std::vector<stats::ServerCounters> c(3);
                BackendLb lb(be, c.data(), 1, 11);
                REQUIRE(lb.set_admin(1, st));
                CHECK_FALSE(lb.server(1).usable());
                std::map<int, int> got;
                for (int i = 0; i < 600; ++i) {
                    const int s = lb.pick(uri(key(i)), -1);
                    REQUIRE(s >= 0);
                    ++got[s];
                    if (algo == config::Balance::LeastConn) ++lb.server(s).cur;
                }
                CHECK(got.count(1) == 0);
                CHECK(got.size() == 2);
                REQUIRE(lb.set_admin(1, ServerAdmin::Ready));
                for (int i = 0; i < 3; ++i) lb.server(i).cur = 0;
                got.clear();
                for (int i = 0; i < 600; ++i) ++got[lb.pick(uri(key(i)), -1)];
                CHECK(got.count(1) == 1);
                CHECK(got[1] > 150);  // about half: weight 2 of 4
            }
        }
    }
}

TEST_CASE("drain and maint of every server: kNone; redispatch exclusion lifts when the other is drained") {
    auto be = make_be(config::Balance::RoundRobin, {1, 1});
    std::vector<stats::ServerCounters> c(2);
    BackendLb lb(be, c.data(), 1);
    lb.set_admin(0, ServerAdmin::Drain);
    lb.set_admin(1, ServerAdmin::Maint);
    CHECK(lb.pick(nullptr, -1) == BackendLb::kNone);
    lb.set_admin(1, ServerAdmin::Ready);
    // server 1 failed and is the only usable one: it is retried rather than nothing
    CHECK(lb.pick(nullptr, 1) == 1);
    lb.set_admin(0, ServerAdmin::Ready);
    CHECK(lb.pick(nullptr, 1) == 0);
}

TEST_CASE("roundrobin: a runtime weight changes the shares exactly from the next pick") {
    auto be = make_be(config::Balance::RoundRobin, {1, 1});
    std::vector<stats::ServerCounters> c(2);
    BackendLb lb(be, c.data(), 1);
    auto n = rr_counts(lb, 40);
    CHECK(n[0] == 20);
    CHECK(n[1] == 20);
    lb.pick(nullptr, -1);  // leave the smooth round-robin in the middle of a cycle
    REQUIRE(lb.set_weight(0, 3));
    CHECK(lb.server(0).weight == 3);
    CHECK(lb.server(0).cfg->weight == 1);  // the configured weight is kept (`get weight` shows it)
    n = rr_counts(lb, 40);
    CHECK(n[0] == 30);
    CHECK(n[1] == 10);
    REQUIRE(lb.set_weight(1, 0));  // weight 0: no new traffic
    n = rr_counts(lb, 40);
    CHECK(n[0] == 40);
    CHECK(n.count(1) == 0);
    REQUIRE(lb.set_weight(0, 0));
    CHECK(lb.pick(nullptr, -1) == BackendLb::kNone);
    REQUIRE(lb.set_weight(1, 256));  // a weight above the configured one is allowed up to 256
    CHECK(lb.pick(nullptr, -1) == 1);
}

TEST_CASE("set_weight / set_admin / set_states refuse what is out of range") {
    auto be = make_be(config::Balance::RoundRobin, {2, 2});
    std::vector<stats::ServerCounters> c(2);
    BackendLb lb(be, c.data(), 1);
    CHECK_FALSE(lb.set_weight(-1, 1));
    CHECK_FALSE(lb.set_weight(2, 1));
    CHECK_FALSE(lb.set_weight(0, -1));
    CHECK_FALSE(lb.set_weight(0, proxy::kMaxWeight + 1));
    CHECK_FALSE(lb.set_admin(5, ServerAdmin::Maint));
    CHECK_FALSE(lb.set_admin(0, ServerAdmin(7)));
    CHECK(lb.server(0).weight == 2);
    CHECK(lb.server(0).admin == ServerAdmin::Ready);
    // a table with one bad entry changes nothing
    std::vector<shard::ServerRuntime> t(2);
    t[0] = {5, ServerAdmin::Drain};
    t[1] = {300, ServerAdmin::Ready};
    CHECK_FALSE(lb.set_states(t));
    CHECK(lb.server(0).weight == 2);
    CHECK(lb.server(0).admin == ServerAdmin::Ready);
    // a valid one applies to every entry; extra entries are ignored
    t[1] = {0, ServerAdmin::Maint};
    t.push_back({9, ServerAdmin::Drain});
    CHECK(lb.set_states(t));
    CHECK(lb.server(0).weight == 5);
    CHECK(lb.server(0).admin == ServerAdmin::Drain);
    CHECK(lb.server(1).weight == 0);
    CHECK(lb.server(1).admin == ServerAdmin::Maint);
}

TEST_CASE("leastconn and random follow the runtime weight") {
    {
        auto be = make_be(config::Balance::LeastConn, {1, 1});
        std::vector<stats::ServerCounters> c(2);
        BackendLb lb(be, c.data(), 1);
        REQUIRE(lb.set_weight(1, 3));
        // connections that never end: the loads settle at cur_0 / 1 == cur_1 / 3
        for (int i = 0; i < 400; ++i) ++lb.server(lb.pick(nullptr, -1)).cur;
        CHECK(lb.server(0).cur == 100);
        CHECK(lb.server(1).cur == 300);
    }
    {
        auto be = make_be(config::Balance::Random, {1, 1});
        be.balance.random_draws = 1;
        std::vector<stats::ServerCounters> c(2);
        BackendLb lb(be, c.data(), 1, 5);
        REQUIRE(lb.set_weight(0, 4));
        int n0 = 0;
        const int n = 100000;
        for (int i = 0; i < n; ++i) n0 += lb.pick(PickInput{}, -1) == 0;
        CHECK(n0 > n * 78 / 100);  // expected 80%
        CHECK(n0 < n * 82 / 100);
    }
}

TEST_CASE("map-based: shares follow runtime weights; maint rebuilds the table without the server") {
    auto be = make_be(config::Balance::Uri, {1, 1, 1, 1});
    std::vector<stats::ServerCounters> c(4);
    BackendLb lb(be, c.data(), 1);
    REQUIRE(lb.set_weight(3, 5));
    const int n = 80000;
    std::vector<int> counts(4);
    for (int i = 0; i < n; ++i) ++counts[std::size_t(lb.pick(uri(key(i)), -1))];
    // weight 5 of 8
    CHECK(counts[3] > n * 5 / 8 * 95 / 100);
    CHECK(counts[3] < n * 5 / 8 * 105 / 100);
    REQUIRE(lb.set_admin(3, ServerAdmin::Maint));
    std::fill(counts.begin(), counts.end(), 0);
    for (int i = 0; i < n; ++i) ++counts[std::size_t(lb.pick(uri(key(i)), -1))];
    CHECK(counts[3] == 0);
    for (int s = 0; s < 3; ++s) {
        CHECK(counts[std::size_t(s)] > n / 3 * 95 / 100);
        CHECK(counts[std::size_t(s)] < n / 3 * 105 / 100);
    }
    // every shard builds the same table from the same changes
    BackendLb other(be, c.data(), 2, 99);
    other.set_weight(3, 5);
    other.set_admin(3, ServerAdmin::Maint);
    for (int i = 0; i < n; i += 13) CHECK(other.pick(uri(key(i)), -1) == lb.pick(uri(key(i)), -1));
}

TEST_CASE("consistent: maint, drain and weight 0 move only that server's keys, and back") {
    for (int how = 0; how < 3; ++how) {
        INFO("how " << how);
        auto be = make_be(config::Balance::Uri, {1, 2, 1, 1, 3});
        be.balance.hash_type = config::HashType::Consistent;
        std::vector<stats::ServerCounters> c(5);
        BackendLb lb(be, c.data(), 1);
        const std::size_t points = lb.ring_points();
        const int n = 50000;
        std::vector<int> before(n);
        for (int i = 0; i < n; ++i) before[std::size_t(i)] = lb.pick(uri(key(i)), -1);
        if (how == 0) lb.set_admin(1, ServerAdmin::Maint);
        if (how == 1) lb.set_admin(1, ServerAdmin::Drain);
        if (how == 2) lb.set_weight(1, 0);
        int moved = 0;
        for (int i = 0; i < n; ++i) {
            const int s = lb.pick(uri(key(i)), -1);
            CHECK(s != 1);
            if (s != before[std::size_t(i)]) {
                CHECK(before[std::size_t(i)] == 1);  // only server 1's keys move
                ++moved;
            }
        }
        CHECK(moved > n * 2 / 8 * 85 / 100);  // its share: 2 of 8
        CHECK(moved < n * 2 / 8 * 115 / 100);
        if (how == 0) lb.set_admin(1, ServerAdmin::Ready);
        if (how == 1) lb.set_admin(1, ServerAdmin::Ready);
        if (how == 2) lb.set_weight(1, 2);
        CHECK(lb.ring_points() == points);
        for (int i = 0; i < n; ++i) CHECK(lb.pick(uri(key(i)), -1) == before[std::size_t(i)]);
    }
}

TEST_CASE("consistent: raising a weight takes keys only from the others, to that server; the scale stays") {
    auto be = make_be(config::Balance::Uri, {1, 1, 1, 1});
    be.balance.hash_type = config::HashType::Consistent;
    std::vector<stats::ServerCounters> c(4);
    BackendLb lb(be, c.data(), 1);
    const std::size_t points = lb.ring_points();
    const int n = 60000;
    std::vector<int> before(n);
    for (int i = 0; i < n; ++i) before[std::size_t(i)] = lb.pick(uri(key(i)), -1);
    REQUIRE(lb.set_weight(0, 3));
    CHECK(lb.ring_points() == points / 4 * 6);  // same points per weight unit
    int to0 = 0;
    std::vector<int> counts(4);
    for (int i = 0; i < n; ++i) {
        const int s = lb.pick(uri(key(i)), -1);
        ++counts[std::size_t(s)];
        if (s != before[std::size_t(i)]) {
            CHECK(s == 0);  // a key moves only to the server that grew
            ++to0;
        }
    }
    CHECK(to0 > 0);
    // server 0 now holds about 3/6 of the keys
    CHECK(counts[0] > n / 2 * 85 / 100);
    CHECK(counts[0] < n / 2 * 115 / 100);
    REQUIRE(lb.set_weight(0, 1));
    for (int i = 0; i < n; ++i) CHECK(lb.pick(uri(key(i)), -1) == before[std::size_t(i)]);
}

TEST_CASE("admin messages: encode and decode round-trip") {
    const proxy::ServerAdminChange in{7, 65536 + 3, proxy::kAdminOpWeight, 256};
    const shard::Message m = proxy::encode_server_admin(in);
    CHECK(m.kind == shard::Message::kServerAdmin);
    const auto out = proxy::decode_server_admin(m);
    CHECK(out.backend == 7);
    CHECK(out.server == 65536 + 3);
    CHECK(out.op == proxy::kAdminOpWeight);
    CHECK(out.value == 256);
}
