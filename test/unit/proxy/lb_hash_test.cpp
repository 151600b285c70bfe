// balance source | uri | hdr with hash-type map-based and consistent.
#include <doctest/doctest.h>

#include <bit>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "edgeshard/core/hash.hpp"
#include "edgeshard/proxy/lb.hpp"
#include "lb_fixture.hpp"

using namespace es;
using lbtest::make_be;
using lbtest::v4;
using proxy::BackendLb;
using proxy::PickInput;

namespace {

PickInput uri(std::string_view u) {
    PickInput in;
    in.uri = u;
    return in;
}

PickInput hdr(std::string_view v) {
    PickInput in;
    in.hdr = v;
    in.has_hdr = true;
    return in;
}

std::string key(int i) {
    return "/objects/" + std::to_string(i) + "/data.bin";
}

// Each server's share of `n` distinct keys is within `tol` (relative) of weight / total weight.
void check_shares(const std::vector<int>& counts, const std::vector<int>& weights, int n, double tol) {
    int total_w = 0;
    for (int w : weights) total_w += w;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        const double expect = double(n) * weights[i] / total_w;
        INFO("server " << i << " got " << counts[i] << ", expected " << expect);
        CHECK(counts[i] > expect * (1 - tol));
        CHECK(counts[i] < expect * (1 + tol));
    }
}

}  // namespace

TEST_CASE("hash_str: stable, sensitive to every byte and to length, avalanching") {
    CHECK(BackendLb::hash_str("/index.html") == BackendLb::hash_str("/index.html"));
    CHECK(BackendLb::hash_str("/index.html") != BackendLb::hash_str("/index.htm"));
    CHECK(BackendLb::hash_str("ab") != BackendLb::hash_str(std::string_view("ab\0", 3)));
    CHECK(BackendLb::hash_str("") != BackendLb::hash_str(std::string_view("\0", 1)));
    CHECK(BackendLb::hash_str("12345678x") != BackendLb::hash_str("x12345678"));
    // flipping one input bit flips about half of the 32 output bits
    long flipped = 0, trials = 0;
    for (int i = 0; i < 500; ++i) {
        std::string s = key(i);
        const std::uint32_t h = BackendLb::hash_str(s);
        for (std::size_t b = 0; b < s.size() * 8; b += 3) {
            std::string t = s;
            t[b / 8] = char(t[b / 8] ^ (1 << (b % 8)));
            flipped += std::popcount(h ^ BackendLb::hash_str(t));
            ++trials;
        }
    }
    const double avg = double(flipped) / double(trials);
    CHECK(avg > 15.5);
    CHECK(avg < 16.5);
}

TEST_CASE("uri_key: default path before '?', whole, len, depth, path-only") {
    auto be = make_be(config::Balance::Uri, {1, 1});
    // the options as the configuration stores them (`balance uri [len n] [depth n] [whole] [path-only]`)
    auto uri_opts = [&](std::uint32_t len, std::uint32_t depth, bool whole, bool path_only) {
        be.balance.uri_len = len;
        be.balance.uri_depth = depth;
        be.balance.uri_whole = whole;
        be.balance.uri_path_only = path_only;
    };
    {
        std::vector<stats::ServerCounters> c(2);
        BackendLb lb(be, c.data(), 1);
        CHECK(lb.uri_key("/a/b/c?x=1") == "/a/b/c");
        CHECK(lb.uri_key("/a/b/c") == "/a/b/c");
        CHECK(lb.uri_key("/?") == "/");
        CHECK(lb.uri_key("http://h/p?q") == "http://h/p");  // without path-only: as received
    }
    std::vector<stats::ServerCounters> c(2);
    uri_opts(0, 0, true, false);
    CHECK(BackendLb(be, c.data(), 1).uri_key("/a/b?x=1") == "/a/b?x=1");
    uri_opts(4, 0, false, false);
    CHECK(BackendLb(be, c.data(), 1).uri_key("/abcdef?x") == "/abc");
    CHECK(BackendLb(be, c.data(), 1).uri_key("/a?xyz") == "/a");
    uri_opts(6, 0, true, false);
    CHECK(BackendLb(be, c.data(), 1).uri_key("/a?xyz") == "/a?xyz");
    uri_opts(0, 2, false, false);
    {
        BackendLb lb(be, c.data(), 1);
        CHECK(lb.uri_key("/a/b/c/d") == "/a/b");
        CHECK(lb.uri_key("/a/b/") == "/a/b");
        CHECK(lb.uri_key("/a/b") == "/a/b");
        CHECK(lb.uri_key("/a?x=/y/z") == "/a");
    }
    uri_opts(0, 1, false, false);
    CHECK(BackendLb(be, c.data(), 1).uri_key("/img/1.png") == "/img");
    uri_opts(5, 3, false, false);  // whichever limit comes first
    CHECK(BackendLb(be, c.data(), 1).uri_key("/a/b/c/d") == "/a/b/");
    CHECK(BackendLb(be, c.data(), 1).uri_key("/abcdefgh/i") == "/abcd");
    uri_opts(0, 0, false, true);
    {
        BackendLb lb(be, c.data(), 1);
        CHECK(lb.uri_key("http://example.com/p/q?x") == "/p/q");
        CHECK(lb.uri_key("https://example.com:8443") == "/");
        CHECK(lb.uri_key("http://example.com?x") == "/");
        CHECK(lb.uri_key("/p/q?x") == "/p/q");
        // absolute-form and origin-form land on the same server
        CHECK(lb.pick(uri("http://example.com/p/q"), -1) == lb.pick(uri("/p/q"), -1));
    }
}

TEST_CASE("uri: same key same server on every shard; query ignored unless whole; depth groups") {
    for (auto ht : {config::HashType::MapBased, config::HashType::Consistent}) {
        auto be = make_be(config::Balance::Uri, {1, 1, 1, 1});
        be.balance.hash_type = ht;
        std::vector<stats::ServerCounters> c(4);
        BackendLb a(be, c.data(), 1, 1), b(be, c.data(), 4, 99);
        std::map<int, int> spread;
        for (int i = 0; i < 200; ++i) {
            const std::string k = key(i);
            const int s = a.pick(uri(k), -1);
            REQUIRE(s >= 0);
            ++spread[s];
            CHECK(a.pick(uri(k), -1) == s);
            CHECK(b.pick(uri(k), -1) == s);
            CHECK(a.pick(uri(k + "?v=" + std::to_string(i)), -1) == s);
        }
        CHECK(spread.size() == 4);

        be.balance.uri_whole = true;
        BackendLb w(be, c.data(), 1);
        std::map<int, int> q;
        for (int i = 0; i < 100; ++i) ++q[w.pick(uri("/same?v=" + std::to_string(i)), -1)];
        CHECK(q.size() == 4);

        be.balance.uri_whole = false;
        be.balance.uri_depth = 1;
        BackendLb d(be, c.data(), 1);
        const int img = d.pick(uri("/img/1.png"), -1);
        for (int i = 0; i < 50; ++i) CHECK(d.pick(uri("/img/" + std::to_string(i) + ".png"), -1) == img);

        be.balance.uri_depth = 0;
        be.balance.uri_len = 8;
        BackendLb l(be, c.data(), 1);
        const int p = l.pick(uri("/static/x"), -1);
        for (int i = 0; i < 50; ++i) CHECK(l.pick(uri("/static/" + std::to_string(i)), -1) == p);
    }
}

TEST_CASE("map-based: weighted shares within 5% over 100k keys (source, uri, hdr)") {
    const std::vector<int> w = {1, 2, 3, 4};
    const int n = 100000;
    for (auto algo : {config::Balance::Source, config::Balance::Uri, config::Balance::Hdr}) {
        auto be = make_be(algo, w);
        if (algo == config::Balance::Hdr) be.balance.hdr_name = "X-User";
        std::vector<stats::ServerCounters> c(4);
        BackendLb lb(be, c.data(), 1);
        std::vector<int> counts(4);
        for (int i = 0; i < n; ++i) {
            const std::string k = key(i);
            char ip[32];
            std::snprintf(ip, sizeof ip, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
            const auto addr = v4(ip);
            PickInput in = algo == config::Balance::Hdr ? hdr(k) : uri(k);
            in.src = &addr;
            const int s = lb.pick(in, -1);
            REQUIRE(s >= 0);
            ++counts[std::size_t(s)];
        }
        INFO("algorithm " << int(algo));
        check_shares(counts, w, n, 0.05);
    }
}

TEST_CASE("consistent: ring size, weighted shares within 10% over 100k keys") {
    const std::vector<int> w = {1, 2, 3, 4};
    auto be = make_be(config::Balance::Uri, w);
    be.balance.hash_type = config::HashType::Consistent;
    std::vector<stats::ServerCounters> c(4);
    BackendLb lb(be, c.data(), 1);
    CHECK(lb.ring_points() == 10 * BackendLb::kRingMaxScale);
    const int n = 100000;
    std::vector<int> counts(4);
    for (int i = 0; i < n; ++i) ++counts[std::size_t(lb.pick(uri(key(i)), -1))];
    check_shares(counts, w, n, 0.10);

    // the ring is capped for large total weights, and never below 16 points per weight unit
    auto big = make_be(config::Balance::Uri, std::vector<int>(20, 100));
    big.balance.hash_type = config::HashType::Consistent;
    std::vector<stats::ServerCounters> c20(20);
    CHECK(BackendLb(big, c20.data(), 1).ring_points() == 2000 * (BackendLb::kRingPoints / 2000));
    auto huge = make_be(config::Balance::Uri, std::vector<int>(20, 256));
    huge.balance.hash_type = config::HashType::Consistent;
    CHECK(BackendLb(huge, c20.data(), 1).ring_points() == 20 * 256 * BackendLb::kRingMinScale);
    // map-based and non-hashing algorithms build no ring
    auto mb = make_be(config::Balance::Uri, w);
    CHECK(BackendLb(mb, c.data(), 1).ring_points() == 0);
    auto rr = make_be(config::Balance::RoundRobin, w);
    rr.balance.hash_type = config::HashType::Consistent;
    CHECK(BackendLb(rr, c.data(), 1).ring_points() == 0);
}

TEST_CASE("consistent: disabling one of 5 servers moves only its keys; re-enabling moves them back") {
    auto be = make_be(config::Balance::Uri, {1, 1, 1, 1, 1});
    be.balance.hash_type = config::HashType::Consistent;
    std::vector<stats::ServerCounters> c(6);
    BackendLb lb(be, c.data(), 1);
    const int n = 100000;
    std::vector<int> before(n);
    for (int i = 0; i < n; ++i) before[std::size_t(i)] = lb.pick(uri(key(i)), -1);

    lb.set_admin(2, shard::ServerAdmin::Maint);  // `set server be/s2 state maint`
    int moved = 0, others_moved = 0;
    std::vector<int> after(n);
    for (int i = 0; i < n; ++i) {
        const int s = lb.pick(uri(key(i)), -1);
        after[std::size_t(i)] = s;
        CHECK_FALSE(s == 2);
        if (s != before[std::size_t(i)]) {
            ++moved;
            if (before[std::size_t(i)] != 2) ++others_moved;
        }
    }
    CHECK(others_moved == 0);
    CHECK(moved > n * 18 / 100);  // its share: about 1/5
    CHECK(moved < n * 22 / 100);
    // the moved keys spread over the remaining servers instead of piling onto one neighbour
    std::map<int, int> dest;
    for (int i = 0; i < n; ++i)
        if (before[std::size_t(i)] == 2) ++dest[after[std::size_t(i)]];
    CHECK(dest.size() == 4);
    for (const auto& [s, k] : dest) CHECK(k > moved / 8);

    // a process started with the server disabled in its configuration agrees
    be.servers[2].disabled = true;
    BackendLb fresh(be, c.data(), 2);
    for (int i = 0; i < n; i += 7) CHECK(fresh.pick(uri(key(i)), -1) == after[std::size_t(i)]);

    lb.set_admin(2, shard::ServerAdmin::Ready);
    for (int i = 0; i < n; ++i) CHECK(lb.pick(uri(key(i)), -1) == before[std::size_t(i)]);
}

TEST_CASE("consistent: servers keep their keys when another is added to or removed from the configuration") {
    auto be = make_be(config::Balance::Uri, {1, 1, 1, 1, 1});
    be.balance.hash_type = config::HashType::Consistent;
    std::vector<stats::ServerCounters> c(6);
    BackendLb five(be, c.data(), 1);
    // removal from the configuration: indexes shift, names (and so points) do not
    auto four = be;
    four.servers.erase(four.servers.begin() + 1);
    BackendLb lb4(four, c.data(), 1);
    // addition
    auto six = be;
    config::Server s5;
    s5.name = "s5";
    s5.id = 5;
    six.servers.push_back(s5);
    BackendLb lb6(six, c.data(), 1);
    const int n = 50000;
    int to_new = 0;
    for (int i = 0; i < n; ++i) {
        const int s = five.pick(uri(key(i)), -1);
        const int r = lb4.pick(uri(key(i)), -1);
        if (s != 1) CHECK(four.servers[std::size_t(r)].name == be.servers[std::size_t(s)].name);
        const int a = lb6.pick(uri(key(i)), -1);
        if (a != s) {
            CHECK(a == 5);
            ++to_new;
        }
    }
    CHECK(to_new > n * 14 / 100);  // about 1/6
    CHECK(to_new < n * 19 / 100);
}

TEST_CASE("hashing: exclude and full servers go to the next server, the same on every shard") {
    for (auto ht : {config::HashType::MapBased, config::HashType::Consistent}) {
        INFO("hash-type " << int(ht));
        auto be = make_be(config::Balance::Uri, {1, 1, 1, 1, 1});
        be.balance.hash_type = ht;
        for (auto& s : be.servers) s.maxconn = 2;
        std::vector<stats::ServerCounters> c(5);
        BackendLb a(be, c.data(), 1), b(be, c.data(), 1, 7);
        std::map<int, int> redispatched;
        for (int i = 0; i < 500; ++i) {
            const std::string k = key(i);
            const int s = a.pick(uri(k), -1);
            const int x = a.pick(uri(k), s);
            CHECK(x >= 0);
            CHECK(x != s);
            CHECK(b.pick(uri(k), s) == x);
            ++redispatched[x];
        }
        CHECK(redispatched.size() == 5);

        // a full server passes the key on; when every server is full the answer is kFull
        const std::string k = key(42);
        const int s = a.pick(uri(k), -1);
        a.server(s).cur = a.server(s).limit;
        const int next = a.pick(uri(k), -1);
        CHECK(next != s);
        CHECK(next >= 0);
        CHECK(a.pick(uri(k), -1) == next);
        a.server(s).cur = 0;
        CHECK(a.pick(uri(k), -1) == s);
        for (int i = 0; i < 5; ++i) a.server(i).cur = a.server(i).limit;
        CHECK(a.pick(uri(k), -1) == BackendLb::kFull);
        CHECK(a.pick(uri(k), 3) == BackendLb::kFull);
        for (int i = 0; i < 5; ++i) a.set_admin(i, shard::ServerAdmin::Maint);
        CHECK(a.pick(uri(k), -1) == BackendLb::kNone);
    }
}

TEST_CASE("hdr: hashes the header value; a missing or empty header falls back to round-robin") {
    auto be = make_be(config::Balance::Hdr, {1, 3});
    be.balance.hdr_name = "X-Tenant";
    std::vector<stats::ServerCounters> c(2);
    BackendLb lb(be, c.data(), 1);
    CHECK(lb.hdr_name() == "X-Tenant");
    const int t = lb.pick(hdr("acme"), -1);
    for (int i = 0; i < 20; ++i) CHECK(lb.pick(hdr("acme"), -1) == t);
    std::map<int, int> n;
    for (int i = 0; i < 40; ++i) ++n[lb.pick(PickInput{}, -1)];
    CHECK(n[0] == 10);  // exact weighted round-robin
    CHECK(n[1] == 30);
    n.clear();
    for (int i = 0; i < 40; ++i) ++n[lb.pick(hdr(""), -1)];
    CHECK(n[0] == 10);
    CHECK(n[1] == 30);
    // the L4 entry point has no header either
    n.clear();
    for (int i = 0; i < 40; ++i) ++n[lb.pick(nullptr, -1)];
    CHECK(n[1] == 30);

    // distinct values spread; values are hashed as sent (only header names ignore case)
    std::map<int, int> spread;
    for (int i = 0; i < 100; ++i) ++spread[lb.pick(hdr("tenant-" + std::to_string(i)), -1)];
    CHECK(spread.size() == 2);

    be.balance.hdr_name = "Host";
    be.balance.hdr_domain_only = true;
    BackendLb d(be, c.data(), 1);
    CHECK(d.hdr_name() == "Host");
    CHECK(d.hdr_key("haproxy.1wt.eu") == "1wt");
    CHECK(d.hdr_key("www.example.com:8080") == "example");
    CHECK(d.hdr_key("example.com.") == "example");
    CHECK(d.hdr_key("localhost") == "localhost");
    CHECK(d.hdr_key("localhost:80") == "localhost");
    CHECK(d.hdr_key("[::1]:80") == "[::1]:80");
    CHECK(d.pick(hdr("a.example.com"), -1) == d.pick(hdr("b.example.org:81"), -1));
}

TEST_CASE("uri: an empty target (the L4 path) falls back to round-robin") {
    auto be = make_be(config::Balance::Uri, {1, 1});
    std::vector<stats::ServerCounters> c(2);
    BackendLb lb(be, c.data(), 1);
    std::map<int, int> n;
    for (int i = 0; i < 10; ++i) ++n[lb.pick(nullptr, -1)];
    CHECK(n[0] == 5);
    CHECK(n[1] == 5);
}

TEST_CASE("source: consistent hashing, and round-robin without an IP address") {
    auto be = make_be(config::Balance::Source, {1, 1, 1});
    be.balance.hash_type = config::HashType::Consistent;
    std::vector<stats::ServerCounters> c(3);
    BackendLb a(be, c.data(), 1), b(be, c.data(), 8, 3);
    std::map<int, int> n;
    for (int i = 0; i < 3000; ++i) {
        char ip[32];
        std::snprintf(ip, sizeof ip, "198.51.%d.%d", i / 250, i % 250);
        const auto x = v4(ip);
        const int s = a.pick(&x, -1);
        CHECK(b.pick(&x, -1) == s);
        ++n[s];
    }
    for (int s = 0; s < 3; ++s) CHECK(n[s] > 800);
    sockaddr_storage unix_peer{};
    unix_peer.ss_family = AF_UNIX;
    n.clear();
    for (int i = 0; i < 9; ++i) ++n[a.pick(&unix_peer, -1)];
    CHECK(n[0] == 3);
    CHECK(n[1] == 3);
    CHECK(n[2] == 3);
}

// ---- HAProxy's hashing (the default): the same server as HAProxy 2.6 for the same key, servers and weights ----


namespace {
sockaddr_storage v4_of(std::uint32_t a) {
    sockaddr_storage ss{};
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(a);
    return ss;
}
PickInput src(const sockaddr_storage& a) {
    PickInput in;
    in.src = &a;
    return in;
}
}  // namespace

TEST_CASE("haproxy map: lb_map's table for weights 1,2,3 (and their multiples), source xor hash") {
    // recalc_server_map by hand for effective weights 1, 2, 3 (total 6): s0 s2 s1 s2 s1 s2
    const std::vector<int> want = {0, 2, 1, 2, 1, 2};
    for (const std::vector<int>& w : {std::vector<int>{1, 2, 3}, std::vector<int>{10, 20, 30}}) {
        auto be = make_be(config::Balance::Source, w, false);
        std::vector<stats::ServerCounters> c(3);
        BackendLb lb(be, c.data(), 1);
        for (std::uint32_t k = 0; k < 60; ++k) {
            const auto a = v4_of(k);  // an IPv4 source hashes to its own value
            INFO("weights " << w[0] << " hash " << k);
            CHECK(lb.pick(src(a), -1) == want[k % 6]);
        }
    }
    // avalanche applies full_hash to the xor
    auto be = make_be(config::Balance::Source, {1, 2, 3}, false);
    be.balance.hash_avalanche = true;
    std::vector<stats::ServerCounters> c(3);
    BackendLb lb(be, c.data(), 1);
    for (std::uint32_t k = 0; k < 60; ++k) {
        const auto a = v4_of(k);
        CHECK(lb.pick(src(a), -1) == want[core::hash::avalanche(k) % 6]);
    }
}

TEST_CASE("haproxy map: uri keys hash with hash-type's function (sdbm by default); a server down rebuilds the map") {
    auto hash_of = [](config::HashFn fn, std::string_view k) {
        return fn == config::HashFn::Sdbm   ? core::hash::sdbm(k)
               : fn == config::HashFn::Djb2 ? core::hash::djb2(k)
               : fn == config::HashFn::Wt6  ? core::hash::wt6(k)
                                            : core::hash::crc32(k);
    };
    for (auto fn : {config::HashFn::Sdbm, config::HashFn::Djb2, config::HashFn::Wt6, config::HashFn::Crc32}) {
        auto be = make_be(config::Balance::Uri, {1, 1, 1, 1}, false);
        be.balance.hash_fn = fn;
        std::vector<stats::ServerCounters> c(4);
        BackendLb lb(be, c.data(), 1);
        for (int i = 0; i < 200; ++i) {
            const std::string k = key(i);
            const std::uint32_t h = hash_of(fn, k);
            CHECK(lb.pick(uri(k + "?q=1"), -1) == int(h % 4));  // (the query is not hashed)
        }
        // s1 in maintenance: HAProxy's map of the three others (each once: s0 s2 s3)
        lb.set_admin(1, shard::ServerAdmin::Maint);
        const int three[] = {0, 2, 3};
        for (int i = 0; i < 200; ++i) {
            const std::string k = key(i);
            const std::uint32_t h = hash_of(fn, k);
            CHECK(lb.pick(uri(k), -1) == three[h % 3]);
        }
    }
}

TEST_CASE("haproxy consistent: points full_hash(id * 4096 + j) for j < weight x 16, the nearer point wins") {
    auto be = make_be(config::Balance::Uri, {1, 2, 1}, false);
    be.balance.hash_type = config::HashType::Consistent;
    std::vector<stats::ServerCounters> c(3);
    BackendLb lb(be, c.data(), 1);
    CHECK(lb.ring_points() == 4 * 16);
    // the reference: every point, the nearest on each side of the hash (ties to the one before)
    std::vector<std::pair<std::uint32_t, int>> pts;
    for (int s = 0; s < 3; ++s)
        for (int j = 0; j < be.servers[std::size_t(s)].weight * 16; ++j)
            pts.emplace_back(core::hash::avalanche(std::uint32_t(s + 1) * 4096u + std::uint32_t(j)), s);
    auto nearest = [&](std::uint32_t h, int skip) {
        int best = -1;
        std::uint32_t bd = 0;
        for (const auto& [p, s] : pts) {
            if (s == skip) continue;
            const std::uint32_t d = std::min(std::uint32_t(h - p), std::uint32_t(p - h));
            if (best < 0 || d < bd) best = s, bd = d;
        }
        return best;
    };
    for (int i = 0; i < 2000; ++i) {
        const std::string k = key(i);
        CHECK(lb.pick(uri(k), -1) == nearest(core::hash::sdbm(k), -1));
    }
    // a server in maintenance leaves HAProxy's tree: its keys go to the nearer point of the others
    lb.set_admin(1, shard::ServerAdmin::Maint);
    for (int i = 0; i < 2000; ++i) {
        const std::string k = key(i);
        CHECK(lb.pick(uri(k), -1) == nearest(core::hash::sdbm(k), 1));
    }
}
