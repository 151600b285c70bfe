// ACL fetches and matches, client address networks, conditions (and/or/negation/unless).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "edgeshard/rules/rules.hpp"
#include "heads.hpp"

using es::config::Acl;
using es::config::Condition;
using es::config::CondTerm;
using es::rules::eval_acl;
using es::rules::eval_condition;
using es::http::RequestHead;
using es::http::ResponseHead;
using es::rules::Txn;
using Match = es::config::Acl::Match;

using rulestest::Hdrs;
using rulestest::make_req;

namespace {

Acl acl(std::string fetch, Match m, std::vector<std::string> patterns, bool icase = false,
        std::string arg = "") {
    Acl a;
    a.name = "a";
    a.fetch = std::move(fetch);
    a.match = m;
    a.patterns = std::move(patterns);
    a.icase = icase;
    a.arg = std::move(arg);
    if (m == Match::Int) {  // "lo:hi" (an empty end: unbounded), as the configuration parses them
        for (const std::string& p : a.patterns) {
            const auto c = p.find(':');
            const std::string lo = p.substr(0, c), hi = c == std::string::npos ? lo : p.substr(c + 1);
            a.ranges.push_back({lo.empty() ? INT64_MIN : std::stoll(lo), hi.empty() ? INT64_MAX : std::stoll(hi)});
        }
    }
    return a;
}

sockaddr_storage v4(const char* ip, int port = 1234) {
    sockaddr_storage ss{};
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE(inet_pton(AF_INET, ip, &s->sin_addr) == 1);
    return ss;
}

sockaddr_storage v6(const char* ip, int port = 1234) {
    sockaddr_storage ss{};
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE(inet_pton(AF_INET6, ip, &s->sin6_addr) == 1);
    return ss;
}

struct Fixture {
    RequestHead req;
    Txn t;
    explicit Fixture(RequestHead r) : req(r) { t.req = &req; }
};

}  // namespace

TEST_CASE("acl: path matches str/beg/end/sub/dir, case-sensitive unless -i") {
    Fixture f(make_req("GET", "/Static/img/logo.PNG?v=1", {{"Host", "example.com"}}));
    CHECK(eval_acl(acl("path", Match::Str, {"/Static/img/logo.PNG"}), f.t));
    CHECK_FALSE(eval_acl(acl("path", Match::Str, {"/static/img/logo.png"}), f.t));
    CHECK(eval_acl(acl("path", Match::Str, {"/static/img/logo.png"}, true), f.t));
    CHECK(eval_acl(acl("path", Match::Beg, {"/api", "/Static/"}), f.t));
    CHECK_FALSE(eval_acl(acl("path", Match::Beg, {"/static/"}), f.t));
    CHECK(eval_acl(acl("path", Match::Beg, {"/static/"}, true), f.t));
    CHECK(eval_acl(acl("path", Match::End, {".PNG"}), f.t));
    CHECK_FALSE(eval_acl(acl("path", Match::End, {".png"}), f.t));
    CHECK(eval_acl(acl("path", Match::End, {".png"}, true), f.t));
    CHECK_FALSE(eval_acl(acl("path", Match::End, {"v=1"}), f.t));  // the query is not part of path
    CHECK(eval_acl(acl("path", Match::Sub, {"img/lo"}), f.t));
    CHECK(eval_acl(acl("path", Match::Sub, {"IMG/LO"}, true), f.t));
    CHECK_FALSE(eval_acl(acl("path", Match::Sub, {"IMG/LO"}), f.t));
    // dir: whole slash-delimited segments only
    CHECK(eval_acl(acl("path", Match::Dir, {"img"}), f.t));
    CHECK(eval_acl(acl("path", Match::Dir, {"/img/"}), f.t));
    CHECK(eval_acl(acl("path", Match::Dir, {"Static/img"}), f.t));
    CHECK(eval_acl(acl("path", Match::Dir, {"logo.PNG"}), f.t));
    CHECK_FALSE(eval_acl(acl("path", Match::Dir, {"im"}), f.t));
    CHECK_FALSE(eval_acl(acl("path", Match::Dir, {"tatic"}), f.t));
    CHECK_FALSE(eval_acl(acl("path", Match::Dir, {"static"}), f.t));
    CHECK(eval_acl(acl("path", Match::Dir, {"static"}, true), f.t));
    CHECK(eval_acl(acl("path", Match::Found, {}), f.t));
}

TEST_CASE("acl: url is the target with its query; method is exact unless -i; req.ver") {
    Fixture f(make_req("POST", "/search?q=a+b", {{"Host", "h"}}, 10));
    CHECK(eval_acl(acl("url", Match::Str, {"/search?q=a+b"}), f.t));
    CHECK(eval_acl(acl("url", Match::End, {"q=a+b"}), f.t));
    CHECK(eval_acl(acl("url", Match::Beg, {"/search?"}), f.t));
    CHECK(eval_acl(acl("method", Match::Str, {"GET", "POST"}), f.t));
    CHECK_FALSE(eval_acl(acl("method", Match::Str, {"post"}), f.t));
    CHECK(eval_acl(acl("method", Match::Str, {"post"}, true), f.t));
    CHECK(eval_acl(acl("req.ver", Match::Str, {"1.0"}), f.t));
    CHECK_FALSE(eval_acl(acl("req.ver", Match::Str, {"1.1"}), f.t));
    Fixture g(make_req("GET", "/", {{"Host", "h"}}));
    CHECK(eval_acl(acl("req.ver", Match::Str, {"1.1"}), g.t));
    CHECK(eval_acl(acl("always_true", Match::Bool, {}), g.t));
    CHECK_FALSE(eval_acl(acl("always_false", Match::Bool, {}), g.t));
}

TEST_CASE("acl: hdr() splits on commas outside quotes, trims, and sees every occurrence") {
    Fixture f(make_req("GET", "/",
                       {{"Host", "Example.COM"},
                        {"Accept", "text/html , application/json"},
                        {"X-Tag", "\"a,b\", c"},
                        {"x-tag", "last"},
                        {"X-Empty", ""}}));
    CHECK(eval_acl(acl("hdr", Match::Str, {"example.com"}, true, "host"), f.t));
    CHECK_FALSE(eval_acl(acl("hdr", Match::Str, {"example.com"}, false, "host"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Str, {"application/json"}, false, "accept"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Str, {"text/html"}, false, "ACCEPT"), f.t));
    CHECK_FALSE(eval_acl(acl("hdr", Match::Str, {"text/html , application/json"}, false, "accept"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Str, {"\"a,b\""}, false, "x-tag"), f.t));
    CHECK_FALSE(eval_acl(acl("hdr", Match::Str, {"\"a"}, false, "x-tag"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Str, {"last"}, false, "x-tag"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Beg, {"appl"}, false, "accept"), f.t));
    CHECK(eval_acl(acl("hdr", Match::End, {".com"}, true, "host"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Sub, {"ample"}, false, "host"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Found, {}, false, "x-empty"), f.t));
    CHECK_FALSE(eval_acl(acl("hdr", Match::Found, {}, false, "x-missing"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Str, {""}, false, "x-empty"), f.t));
}

TEST_CASE("acl: hdr() skips removed headers, sees added ones, and reads the response while it runs") {
    Fixture f(make_req("GET", "/", {{"Host", "h"}, {"X-A", "one"}}));
    es::rules::HeaderEdits edits;
    f.t.edits = &edits;
    CHECK(eval_acl(acl("hdr", Match::Found, {}, false, "x-a"), f.t));
    f.req.headers[1].removed = true;
    CHECK_FALSE(eval_acl(acl("hdr", Match::Found, {}, false, "x-a"), f.t));
    edits.adds[edits.nadds++] = {"X-A", "two"};
    CHECK(eval_acl(acl("hdr", Match::Str, {"two"}, false, "x-a"), f.t));

    ResponseHead rsp;
    rsp.status = 200;
    rsp.headers[0] = {"Content-Type", "text/html; charset=utf-8", false, false};
    rsp.nheaders = 1;
    es::rules::HeaderEdits rsp_edits;
    f.t.rsp = &rsp;
    f.t.edits = &rsp_edits;
    CHECK(eval_acl(acl("hdr", Match::Beg, {"text/html"}, false, "content-type"), f.t));
    CHECK_FALSE(eval_acl(acl("hdr", Match::Found, {}, false, "host"), f.t));
}

TEST_CASE("acl: src matches IPv4/IPv6 networks; IPv4-mapped clients match IPv4 patterns") {
    Fixture f(make_req("GET", "/", {{"Host", "h"}}));
    auto c4 = v4("10.1.2.3");
    f.t.src = &c4;
    CHECK(eval_acl(acl("src", Match::Ip, {"10.0.0.0/8"}), f.t));
    CHECK(eval_acl(acl("src", Match::Ip, {"192.168.0.0/16", "10.1.2.3"}), f.t));
    CHECK(eval_acl(acl("src", Match::Ip, {"10.1.2.0/255.255.255.0"}), f.t));
    CHECK(eval_acl(acl("src", Match::Ip, {"0.0.0.0/0"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"10.1.2.4"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"10.1.3.0/24"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"11.0.0.0/8"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"::1", "2001:db8::/32"}), f.t));
    CHECK(eval_acl(acl("src", Match::Ip, {"10.1.2.2/31"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"10.1.2.0/31"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"10.0.0.0/33", "garbage"}), f.t));  // invalid: never match

    auto c6 = v6("2001:db8:1::42");
    f.t.src = &c6;
    CHECK(eval_acl(acl("src", Match::Ip, {"2001:db8::/32"}), f.t));
    CHECK(eval_acl(acl("src", Match::Ip, {"2001:db8:1::42"}), f.t));
    CHECK(eval_acl(acl("src", Match::Ip, {"2001:db8:1::40/126"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"2001:db8:1::40/127"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"2001:db9::/32", "0.0.0.0/0"}), f.t));

    auto mapped = v6("::ffff:192.0.2.10");
    f.t.src = &mapped;
    CHECK(eval_acl(acl("src", Match::Ip, {"192.0.2.0/24"}), f.t));
    CHECK(eval_acl(acl("src", Match::Ip, {"192.0.2.10"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"192.0.3.0/24"}), f.t));

    auto loop6 = v6("::1");
    f.t.src = &loop6;
    CHECK(eval_acl(acl("src", Match::Ip, {"::1"}), f.t));
    CHECK(eval_acl(acl("src", Match::Ip, {"::1/128"}), f.t));
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"127.0.0.1"}), f.t));

    sockaddr_storage unknown{};
    f.t.src = &unknown;
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"0.0.0.0/0"}), f.t));
    f.t.src = nullptr;
    CHECK_FALSE(eval_acl(acl("src", Match::Ip, {"0.0.0.0/0"}), f.t));
}

TEST_CASE("acl: -m ip on a header value") {
    Fixture f(make_req("GET", "/", {{"Host", "h"}, {"X-Forwarded-For", "203.0.113.9, 10.0.0.1"}}));
    CHECK(eval_acl(acl("hdr", Match::Ip, {"10.0.0.0/8"}, false, "x-forwarded-for"), f.t));
    CHECK(eval_acl(acl("hdr", Match::Ip, {"203.0.113.0/24"}, false, "x-forwarded-for"), f.t));
    CHECK_FALSE(eval_acl(acl("hdr", Match::Ip, {"192.168.0.0/16"}, false, "x-forwarded-for"), f.t));
    CHECK_FALSE(eval_acl(acl("hdr", Match::Ip, {"0.0.0.0/0"}, false, "host"), f.t));  // not an address
}

TEST_CASE("acl: http_auth reads Authorization, or Proxy-Authorization on a proxy request") {
    es::config::Config cfg;
    es::config::Userlist ul;
    ul.name = "admins";
    ul.users.push_back({"carol", "plain", true, {}});
    cfg.userlists.push_back(ul);
    const Acl a = acl("http_auth", Match::Bool, {}, false, "admins");

    Fixture ok(make_req("GET", "/", {{"Host", "h"}, {"Authorization", "Basic Y2Fyb2w6cGxhaW4="}}));
    ok.t.cfg = &cfg;
    CHECK(eval_acl(a, ok.t));
    CHECK_FALSE(eval_acl(acl("http_auth", Match::Bool, {}, false, "nosuchlist"), ok.t));
    ok.req.headers[1].removed = true;
    CHECK_FALSE(eval_acl(a, ok.t));

    Fixture bad(make_req("GET", "/", {{"Host", "h"}, {"Authorization", "Basic Y2Fyb2w6cGxhaW5Y"}}));
    bad.t.cfg = &cfg;
    CHECK_FALSE(eval_acl(a, bad.t));

    Fixture none(make_req("GET", "/", {{"Host", "h"}}));
    none.t.cfg = &cfg;
    CHECK_FALSE(eval_acl(a, none.t));

    Fixture proxy(make_req("GET", "http://h/", {{"Host", "h"}, {"Authorization", "Basic Y2Fyb2w6cGxhaW4="}}));
    proxy.req.absolute_form = true;
    proxy.t.cfg = &cfg;
    CHECK_FALSE(eval_acl(a, proxy.t));  // the origin's credentials are not the proxy's
    Fixture proxy2(
        make_req("GET", "http://h/", {{"Host", "h"}, {"Proxy-Authorization", "Basic Y2Fyb2w6cGxhaW4="}}));
    proxy2.req.absolute_form = true;
    proxy2.t.cfg = &cfg;
    CHECK(eval_acl(a, proxy2.t));
}

TEST_CASE("condition: or of ands, negation, same-name ACLs or-ed, unless, absent") {
    std::vector<Acl> acls = {
        acl("path", Match::Beg, {"/api"}),         // 0 true
        acl("method", Match::Str, {"POST"}),       // 1 false
        acl("hdr", Match::Found, {}, false, "x"),  // 2 false
        acl("always_true", Match::Bool, {}),       // 3 true
    };
    Fixture f(make_req("GET", "/api/v1", {{"Host", "h"}}));
    auto cond = [](std::vector<std::vector<CondTerm>> groups, bool unless = false) {
        Condition c;
        c.present = true;
        c.unless = unless;
        c.any_of = std::move(groups);
        return c;
    };
    CHECK(eval_condition(Condition{}, acls, f.t));  // unconditional
    CHECK(eval_condition(cond({{{{0}, false}}}), acls, f.t));
    CHECK_FALSE(eval_condition(cond({{{{1}, false}}}), acls, f.t));
    CHECK(eval_condition(cond({{{{1}, true}}}), acls, f.t));                       // !POST
    CHECK_FALSE(eval_condition(cond({{{{0}, false}, {{1}, false}}}), acls, f.t));  // api && POST
    CHECK(eval_condition(cond({{{{0}, false}, {{1}, true}}}), acls, f.t));         // api && !POST
    CHECK(eval_condition(cond({{{{1}, false}}, {{{0}, false}}}), acls, f.t));      // POST || api
    CHECK_FALSE(eval_condition(cond({{{{1}, false}}, {{{2}, false}}}), acls, f.t));
    CHECK(eval_condition(cond({{{{1, 2, 0}, false}}}), acls, f.t));  // same name: any of them
    CHECK_FALSE(eval_condition(cond({{{{1, 2, 0}, true}}}), acls, f.t));
    CHECK_FALSE(eval_condition(cond({{{{0}, false}}}, true), acls, f.t));  // unless api
    CHECK(eval_condition(cond({{{{1}, false}}}, true), acls, f.t));        // unless POST
    CHECK_FALSE(eval_condition(cond({{{{3}, false}, {{0}, false}}}, true), acls, f.t));
    CHECK_FALSE(eval_condition(cond({}), acls, f.t));  // present but nothing listed: no group matches
}

TEST_CASE("acl: client certificate fetches read the handshake's facts") {
    Fixture f(make_req("GET", "/", {{"Host", "a"}}));
    auto m = [&](const Acl& a) { return eval_acl(a, f.t); };
    // in clear: nothing matches
    CHECK_FALSE(m(acl("ssl_c_verify", Match::Int, {"0:0"})));
    CHECK_FALSE(m(acl("ssl_c_used", Match::Bool, {})));
    // TLS on a bind that does not verify: integers are 0, booleans false, strings absent
    es::tls::Facts facts;
    f.t.tls = &facts;
    CHECK(m(acl("ssl_c_verify", Match::Int, {"0:0"})));
    CHECK_FALSE(m(acl("ssl_c_used", Match::Bool, {})));
    CHECK_FALSE(m(acl("ssl_c_s_dn", Match::Sub, {""})));
    // a verified client
    es::tls::ClientCert cc;
    cc.used = cc.presented = true;
    cc.verify = 10;
    cc.err = 10;
    cc.s_dn = "/C=FR/OU=a/OU=b/CN=alice";
    cc.serial = "0A1B";
    facts.client = &cc;
    CHECK(m(acl("ssl_c_used", Match::Bool, {})));
    CHECK(m(acl("ssl_fc_has_crt", Match::Bool, {})));
    CHECK(m(acl("ssl_c_verify", Match::Int, {"5:"})));
    CHECK(m(acl("ssl_c_err", Match::Int, {":0", "10:10"})));
    CHECK_FALSE(m(acl("ssl_c_verify", Match::Int, {"0:0", ":9"})));
    CHECK_FALSE(m(acl("ssl_c_ca_err", Match::Int, {"1:"})));
    CHECK(m(acl("ssl_c_s_dn", Match::Str, {"/C=FR/OU=a/OU=b/CN=alice"})));
    CHECK(m(acl("ssl_c_s_dn", Match::Str, {"alice"}, false, "CN,1")));
    CHECK(m(acl("ssl_c_s_dn", Match::Str, {"b"}, false, "OU,2")));
    CHECK(m(acl("ssl_c_s_dn", Match::Str, {"a"}, false, "OU,-2")));
    CHECK_FALSE(m(acl("ssl_c_s_dn", Match::Str, {"x"}, false, "L,1")));
    CHECK(m(acl("ssl_c_serial", Match::Str, {"0a1b"}, true)));
}
