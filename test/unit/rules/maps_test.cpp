// rules room: the map converters' lookups (HAProxy 2.6's match types over a map read at load).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "edgeshard/config/parser.hpp"
#include "edgeshard/rules/rules.hpp"

using namespace es;
using config::MapMatch;

namespace {

const config::MapFile& load_map(config::Config& keep, const std::string& text, const std::string& conv) {
    const std::string path = "/tmp/es-unit-maps-" + std::to_string(::getpid()) + ".map";
    std::ofstream(path) << text;
    keep = config::load_text("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                             "frontend fe\n    bind 127.0.0.1:10001\n    http-request set-header X %[path," +
                                 conv + "(" + path + ",def)]\n    default_backend be\n"
                                        "backend be\n    server s1 127.0.0.1:10002\n",
                             "t.cfg");
    std::remove(path.c_str());
    REQUIRE(keep.maps.size() == 1);
    return *keep.maps[0];
}

long find(const config::MapFile& m, MapMatch k, std::string_view v) {
    std::vector<std::string_view> g;
    return rules::map_lookup(m, k, v, &g);
}

}  // namespace

TEST_CASE("map file: comments, blanks, key and trimmed value, key alone") {
    config::Config c;
    const auto& m = load_map(c, "# c\n\n  k1 \t v one  \n# x\n  # indented k\nk2\nk1 second\n", "map");
    REQUIRE(m.entries.size() == 4);
    CHECK((m.entries[0].first == "k1" && m.entries[0].second == "v one"));
    CHECK((m.entries[1].first == "#" && m.entries[1].second == "indented k"));
    CHECK((m.entries[2].first == "k2" && m.entries[2].second.empty()));
    CHECK(m.lines == std::vector<std::uint32_t>{3, 5, 6, 7});
    CHECK(find(m, MapMatch::Str, "k1") == 0);  // the first of duplicate keys
    CHECK(find(m, MapMatch::Str, "k3") == -1);
}

TEST_CASE("map match types: longest prefix, first in file order, words, regexes, networks") {
    config::Config c;
    const auto& b = load_map(c, "/api a\n/api/v2 b\n", "map_beg");
    CHECK(find(b, MapMatch::Beg, "/api/v2/x") == 1);
    CHECK(find(b, MapMatch::Beg, "/apix") == 0);
    CHECK(find(b, MapMatch::Beg, "/other") == -1);
    config::Config c2;
    const auto& d = load_map(c2, "example.org a\nsub.example.org b\n", "map_dom");
    CHECK(find(d, MapMatch::Dom, "www.sub.example.org") == 0);
    CHECK(find(d, MapMatch::Dom, "example.org:8080") == 0);
    CHECK(find(d, MapMatch::Dom, "xexample.org") == -1);
    config::Config c3;
    const auto& r = load_map(c3, "/a/b ab\n/a a\n", "map_dir");
    CHECK(find(r, MapMatch::Dir, "/a/b/c") == 0);
    CHECK(find(r, MapMatch::Dir, "/a/bc") == 1);
    CHECK(find(r, MapMatch::Dir, "/ab") == -1);
    config::Config c4;
    const auto& x = load_map(c4, "^/x/([0-9]+)$ num\\1\n", "map_regm");
    std::vector<std::string_view> g;
    CHECK(rules::map_lookup(x, MapMatch::Regm, "/x/42", &g) == 0);
    REQUIRE(g.size() >= 2);
    CHECK(g[1] == "42");
    config::Config c5;
    const auto& ip = load_map(c5, "127.0.0.0/8 loop8\n127.0.0.1 loop1\n", "map_ip");
    CHECK(find(ip, MapMatch::Ip, "127.0.0.1") == 1);
    CHECK(find(ip, MapMatch::Ip, "127.1.2.3") == 0);
    CHECK(find(ip, MapMatch::Ip, "8.8.8.8") == -1);
    CHECK(find(ip, MapMatch::Ip, "nothere") == -2);  // not an address: no sample
}
