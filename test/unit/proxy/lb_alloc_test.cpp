// Picks run on the data path and must not allocate. This file replaces the global operator new
// for the whole unit_proxy binary with a counting one (malloc underneath) to check that.
#include <doctest/doctest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "edgeshard/proxy/lb.hpp"
#include "lb_fixture.hpp"

namespace {
std::size_t g_news = 0;
}

// The replacement operator delete frees what the replacement operator new allocated with malloc;
// GCC cannot see that pairing through inlined library code and warns.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
    ++g_news;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

using namespace es;
using lbtest::make_be;
using lbtest::v4;
using proxy::BackendLb;
using proxy::PickInput;

TEST_CASE("no algorithm allocates on a pick") {
    const std::vector<std::string> uris = {"/a/b/c?x=1", "/", "http://h/p?q", "/img/1.png"};
    const auto addr = v4("203.0.113.9");
    for (auto algo : {config::Balance::RoundRobin, config::Balance::LeastConn, config::Balance::Source,
                      config::Balance::Uri, config::Balance::Hdr, config::Balance::Random}) {
        for (auto ht : {config::HashType::MapBased, config::HashType::Consistent}) {
            auto be = make_be(algo, {1, 2, 3, 4, 5});
            be.balance.hash_type = ht;
            be.servers[1].maxconn = 1;
            if (algo == config::Balance::Hdr) {
                be.balance.hdr_name = "Host";
                be.balance.hdr_domain_only = true;
            }
            if (algo == config::Balance::Uri) {
                be.balance.uri_depth = 2;
                be.balance.uri_whole = true;
                be.balance.uri_path_only = true;
            }
            std::vector<stats::ServerCounters> c(5);
            BackendLb lb(be, c.data(), 1, 3);
            lb.server(1).cur = 1;
            const std::size_t before = g_news;
            int sum = 0;
            for (int i = 0; i < 1000; ++i) {
                PickInput in;
                in.src = &addr;
                in.uri = uris[std::size_t(i) % uris.size()];
                in.hdr = "www.example.com";
                in.has_hdr = (i % 3) != 0;
                sum += lb.pick(in, i % 5);
                sum += lb.pick(&addr, -1);
            }
            const std::size_t allocs = g_news - before;  // before INFO, which may allocate
            INFO("algorithm " << int(algo) << " hash-type " << int(ht));
            CHECK(allocs == 0);
            CHECK(sum > 0);
        }
    }
}
