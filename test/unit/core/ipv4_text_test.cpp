// The IPv4 formatter the access log and X-Forwarded-For use agrees with inet_ntop(3) everywhere.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "edgeshard/core/ipv4_text.hpp"

namespace {

std::string ours(std::uint32_t host_order) {
    const std::uint32_t net = htonl(host_order);
    char buf[es::core::kIpv4TextMax];
    const std::size_t n = es::core::ipv4_text(reinterpret_cast<const std::uint8_t*>(&net), buf);
    REQUIRE(n <= es::core::kIpv4TextMax);
    return std::string(buf, n);
}

std::string libc(std::uint32_t host_order) {
    const std::uint32_t net = htonl(host_order);
    char buf[INET_ADDRSTRLEN];
    REQUIRE(inet_ntop(AF_INET, &net, buf, sizeof buf) != nullptr);
    return buf;
}

}  // namespace

TEST_CASE("ipv4_text: the edges of each octet") {
    CHECK(ours(0) == "0.0.0.0");
    CHECK(ours(0xffffffffu) == "255.255.255.255");
    CHECK(ours(0x7f000001u) == "127.0.0.1");
    CHECK(ours(0x0a09630au) == "10.9.99.10");
    CHECK(ours(0xc0000207u) == "192.0.2.7");
    for (std::uint32_t v : {0u, 1u, 9u, 10u, 11u, 99u, 100u, 101u, 199u, 200u, 249u, 250u, 255u}) {
        const std::uint32_t a = v << 24 | v << 16 | v << 8 | v;
        CHECK(ours(a) == libc(a));
    }
}

TEST_CASE("ipv4_text: agrees with inet_ntop on random addresses") {
    std::mt19937 rng(5);
    for (int i = 0; i < 200000; ++i) {
        const std::uint32_t a = rng();
        REQUIRE(ours(a) == libc(a));
    }
}
