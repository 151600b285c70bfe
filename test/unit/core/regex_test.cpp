// core::Regex: HAProxy's regex semantics on PCRE2 (a search anywhere unless anchored, -i caseless),
// copies sharing one compiled pattern, and the error text of a bad pattern.
#include <doctest/doctest.h>

#include <thread>

#include "edgeshard/core/regex.hpp"

using es::core::Regex;

TEST_CASE("regex: a search anywhere, anchors, caseless") {
    Regex r;
    REQUIRE(r.compile("v[0-9]+/", false).empty());
    CHECK(r.search("/api/v2/users"));
    CHECK_FALSE(r.search("/api/vx/"));
    Regex a;
    REQUIRE(a.compile("^/api/", false).empty());
    CHECK(a.search("/api/x"));
    CHECK_FALSE(a.search("/x/api/"));
    Regex i;
    REQUIRE(i.compile("^www\\.example\\.com$", true).empty());
    CHECK(i.search("WWW.Example.COM"));
    CHECK_FALSE(i.search("www.example.com.evil"));
    // binary-safe: the subject's length is given, not a NUL
    CHECK(r.search(std::string_view("x\0v1/", 5)));
}

TEST_CASE("regex: a bad pattern says why; an uncompiled one matches nothing") {
    Regex r;
    const std::string err = r.compile("^/a(", false);
    CHECK(err.find("missing closing parenthesis") != std::string::npos);
    CHECK(err.find("offset 4") != std::string::npos);
    CHECK_FALSE(r.valid());
    CHECK_FALSE(r.search("/a("));
}

TEST_CASE("regex: copies share the pattern; threads match with their own match data") {
    Regex r;
    REQUIRE(r.compile("b+$", false).empty());
    const Regex copy = r;
    bool t1 = false, t2 = true;
    std::thread a([&] { t1 = copy.search("abbb"); });
    std::thread b([&] { t2 = r.search("abba"); });
    a.join();
    b.join();
    CHECK(t1);
    CHECK_FALSE(t2);
}
