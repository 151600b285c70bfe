// Time, size and address units.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "edgeshard/config/parser.hpp"

using es::config::parse_addr;
using es::config::parse_size;
using es::config::parse_time_ms;

TEST_CASE("time: every unit") {
    CHECK(parse_time_ms("0") == 0);
    CHECK(parse_time_ms("100") == 100);  // milliseconds by default
    CHECK(parse_time_ms("100ms") == 100);
    CHECK(parse_time_ms("10s") == 10000);
    CHECK(parse_time_ms("1m") == 60000);
    CHECK(parse_time_ms("2h") == 7200000);
    CHECK(parse_time_ms("1d") == 86400000);
    CHECK(parse_time_ms("24d") == 2073600000);
    CHECK(parse_time_ms("0010s") == 10000);
}

TEST_CASE("time: microseconds round up and never become zero") {
    CHECK(parse_time_ms("500us") == 1);
    CHECK(parse_time_ms("1us") == 1);
    CHECK(parse_time_ms("1000us") == 1);
    CHECK(parse_time_ms("1001us") == 2);
    CHECK(parse_time_ms("0us") == 0);
}

TEST_CASE("time: HAProxy's timer limit is 2147483647 ms") {
    CHECK(parse_time_ms("2147483647") == 2147483647);
    CHECK_FALSE(parse_time_ms("2147483648"));
    CHECK_FALSE(parse_time_ms("25d"));
    CHECK_FALSE(parse_time_ms("596524h"));
    CHECK_FALSE(parse_time_ms("99999999999999999999999999s"));
    CHECK_FALSE(parse_time_ms("18446744073709551616"));
}

TEST_CASE("time: garbage is rejected") {
    for (const char* bad : {"", "s", "ms", "-1", "+1", "1.5s", "10 s", " 10s", "10s ", "10S", "10sec", "abc",
                            "10ss", "1e3", "0x10", "10mss", "10u"}) {
        INFO(bad);
        CHECK_FALSE(parse_time_ms(bad));
    }
}

TEST_CASE("size: suffixes are 1024-based") {
    CHECK(parse_size("0") == 0);
    CHECK(parse_size("16384") == 16384);
    CHECK(parse_size("16k") == 16384);
    CHECK(parse_size("16K") == 16384);
    CHECK(parse_size("1m") == 1048576);
    CHECK(parse_size("2M") == 2097152);
    CHECK(parse_size("1g") == 1073741824);
    CHECK(parse_size("8G") == 8589934592LL);
}

TEST_CASE("size: garbage and overflow are rejected") {
    for (const char* bad : {"", "k", "-1", "+1", "1kb", "1.5k", "1t", "1 k", "abc", "0x10",
                            "9223372036854775808", "9007199254740992k", "99999999999999999999g"}) {
        INFO(bad);
        CHECK_FALSE(parse_size(bad));
    }
    CHECK(parse_size("9223372036854775807") == 9223372036854775807LL);
}

TEST_CASE("addr: IPv4, IPv6 and wildcards") {
    auto a = parse_addr("127.0.0.1:80");
    REQUIRE(a);
    CHECK(a->family() == AF_INET);
    CHECK(a->port() == 80);
    CHECK(a->text() == "127.0.0.1:80");
    CHECK(a->len == sizeof(sockaddr_in));

    auto b = parse_addr("[::1]:8080");
    REQUIRE(b);
    CHECK(b->family() == AF_INET6);
    CHECK(b->port() == 8080);
    CHECK(b->text() == "[::1]:8080");
    CHECK(b->len == sizeof(sockaddr_in6));

    CHECK(parse_addr(":80")->text() == "0.0.0.0:80");
    CHECK(parse_addr("*:80")->text() == "0.0.0.0:80");
    CHECK(parse_addr("0.0.0.0:80")->text() == "0.0.0.0:80");
    CHECK(parse_addr("[::]:443")->text() == "[::]:443");
    CHECK(parse_addr("65.66.67.68:65535")->port() == 65535);
    // HAProxy's unbracketed IPv6: the port follows the last colon.
    CHECK(parse_addr(":::80")->text() == "[::]:80");
    CHECK(parse_addr("::1:8080")->text() == "[::1]:8080");
    CHECK(parse_addr("2001:db8::1:443")->text() == "[2001:db8::1]:443");
}

TEST_CASE("addr: bad input") {
    for (const char* bad : {"",
                            "127.0.0.1",
                            "127.0.0.1:",
                            "127.0.0.1:0",
                            "127.0.0.1:65536",
                            "127.0.0.1:-1",
                            "127.0.0.1:+1",
                            "127.0.0.1:80x",
                            "127.0.0.1:8 0",
                            "localhost:80",
                            "example.com:443",
                            "[::1]80",
                            "[::1]",
                            "[::1]:",
                            "[::1:80",
                            "1.2.3:80",
                            "256.0.0.1:80",
                            "[1.2.3.4]:80",
                            "fe80::1",
                            "[fe80::1%eth0]:80",
                            "*",
                            ":",
                            "::",
                            "1.2.3.4:99999999999999999999"}) {
        INFO(bad);
        CHECK_FALSE(parse_addr(bad));
    }
}

TEST_CASE("addr: an unset SockAddr has no text and no port") {
    es::config::SockAddr a;
    CHECK(a.text().empty());
    CHECK(a.port() == 0);
}
