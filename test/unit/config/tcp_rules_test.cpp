// tcp-request inspect-delay / connection / content, conditional use_backend in mode tcp, and the L4
// fetches (req.ssl_sni, req.ssl_hello_type, req.ssl_ver, req.len, req.payload, src_port, dst_port)
// with their matching methods: what is stored, and every refusal at its file:line.
#include <doctest/doctest.h>

#include "helpers.hpp"

using es::config::Acl;
using es::config::TcpAction;
using es::config::test::expect_error;
using es::config::test::has_warning;
using es::config::test::kTail;
using es::config::test::load;

namespace {

// kTail (10 lines), then a tcp frontend (line 11) whose lines under test start at line 13.
std::string in_fe(const std::string& lines) {
    return kTail + "frontend f\n    bind 127.0.0.1:20000\n" + lines + "    default_backend tail_be\n";
}
constexpr int kLine = 13;

}  // namespace

TEST_CASE("tcp-request: rules, inspect-delay and the flags the L4 session reads") {
    const auto cfg =
        load(in_fe("    tcp-request inspect-delay 5s\n"
                   "    tcp-request connection reject if { src 10.0.0.0/8 } { dst_port 20000 }\n"
                   "    tcp-request content accept if { req_ssl_hello_type 1 }\n"
                   "    tcp-request content reject\n"
                   "    use_backend tail_be if { req.ssl_sni -i a.example }\n"
                   "    use_backend tail_be if { req_ssl_sni -m end .b.example } || { req.len gt 0 }\n"));
    const auto& f = *cfg.find_frontend("f");
    CHECK(f.inspect_delay == 5000);
    REQUIRE(f.tcp_conn_rules.size() == 1);
    CHECK(f.tcp_conn_rules[0].action == TcpAction::Reject);
    CHECK(f.tcp_conn_rules[0].cond.any_of.size() == 1);
    CHECK(f.tcp_conn_rules[0].cond.any_of[0].size() == 2);
    REQUIRE(f.tcp_content_rules.size() == 2);
    CHECK(f.tcp_content_rules[0].action == TcpAction::Accept);
    CHECK(f.tcp_content_rules[0].where.line == kLine + 2);
    CHECK_FALSE(f.tcp_content_rules[1].cond.present);
    CHECK(f.tcp_inspect);
    CHECK(f.tcp_route_cond);
    CHECK(f.use_backend_rules.size() == 2);
    CHECK(f.use_backends.empty());
    // the ACLs: types and parsed patterns
    const auto& acls = f.http.acls;
    auto acl_of = [&](std::string_view written) -> const Acl& {
        for (const auto& a : acls)
            if (a.fetch_written == written) return a;
        FAIL("no ACL " << written);
        return acls.front();
    };
    CHECK(acl_of("dst_port").match == Acl::Match::Int);
    REQUIRE(acl_of("dst_port").ranges.size() == 1);
    CHECK(acl_of("dst_port").ranges[0].lo == 20000);
    CHECK(acl_of("req_ssl_hello_type").fetch == "req.ssl_hello_type");
    CHECK(acl_of("req.ssl_sni").icase);
    CHECK(acl_of("req_ssl_sni").match == Acl::Match::End);
    CHECK(acl_of("req.len").ranges[0].lo == 1);  // gt 0
    CHECK_FALSE(has_warning(cfg, {"inspect-delay"}));
}

TEST_CASE("tcp-request: int, version, binary and dom patterns") {
    const auto cfg =
        load(in_fe("    acl v req.ssl_ver 3.1:3.3 ge 3.4\n"
                   "    acl l req.len :10 20: lt 5 le 6 eq 7\n"
                   "    acl p req.payload(0,3) -m bin 160301 16030A\n"
                   "    acl d req.ssl_sni -m dom example.com\n"
                   "    acl s src_port -m found\n"
                   "    tcp-request content reject if v l p d s\n"));
    const auto& acls = cfg.find_frontend("f")->http.acls;
    REQUIRE(acls.size() == 5);
    REQUIRE(acls[0].ranges.size() == 2);
    CHECK(acls[0].ranges[0].lo == 3 * 65536 + 1);
    CHECK(acls[0].ranges[0].hi == 3 * 65536 + 3);
    CHECK(acls[0].ranges[1].lo == 3 * 65536 + 4);
    REQUIRE(acls[1].ranges.size() == 5);
    CHECK(acls[1].ranges[0].hi == 10);
    CHECK(acls[1].ranges[1].lo == 20);
    CHECK(acls[1].ranges[2].hi == 4);
    CHECK(acls[1].ranges[3].hi == 6);
    CHECK(acls[1].ranges[4].lo == 7);
    CHECK(acls[1].ranges[4].hi == 7);
    CHECK(acls[2].off == 0);
    CHECK(acls[2].len == 3);
    REQUIRE(acls[2].patterns.size() == 2);
    CHECK(acls[2].patterns[0] == std::string("\x16\x03\x01", 3));
    CHECK(acls[2].patterns[1] == std::string("\x16\x03\x0a", 3));
    CHECK(acls[3].match == Acl::Match::Dom);
    CHECK(acls[4].match == Acl::Match::Found);
    // an inspect-delay is also taken from a named defaults section
    const auto named = load(
        "defaults d\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n"
        "    timeout server 1s\n    tcp-request inspect-delay 2s\n" +
        kTail.substr(kTail.find("frontend")));
    CHECK(named.find_frontend("tail_fe")->inspect_delay == 2000);
}

TEST_CASE("tcp-request: warnings where HAProxy evaluates on nothing") {
    const auto cfg =
        load(in_fe("    tcp-request content accept if { req.ssl_hello_type 1 }\n"
                   "    use_backend tail_be if { req.ssl_sni a }\n"));
    CHECK(has_warning(cfg, {"t.cfg:13:", "'tcp-request content' rule reads the request's contents",
                            "'req.ssl_hello_type'", "no 'tcp-request inspect-delay'"}));
    CHECK(has_warning(cfg, {"t.cfg:14:", "'use_backend' reads the request's contents"}));
    const auto quiet =
        load(in_fe("    tcp-request content reject if { src 10.0.0.0/8 }\n"
                   "    use_backend tail_be if { src 10.0.0.0/8 }\n"));
    CHECK_FALSE(has_warning(quiet, {"inspect-delay"}));
    CHECK(quiet.find_frontend("f")->tcp_inspect);
    const auto unreachable = load(in_fe("    tcp-request content reject\n    tcp-request content accept\n"));
    CHECK(has_warning(unreachable, {"t.cfg:14:", "never reached", "t.cfg:13"}));
}

TEST_CASE("tcp-request: errors name the file and line") {
    expect_error(in_fe("    tcp-request\n"), kLine, {"'tcp-request' expects"});
    expect_error(in_fe("    tcp-request inspect-delay\n"), kLine, {"tcp-request inspect-delay"});
    expect_error(in_fe("    tcp-request inspect-delay 5x\n"), kLine, {"tcp-request inspect-delay"});
    expect_error(in_fe("    tcp-request inspect-delay 5s 6s\n"), kLine, {"unexpected"});
    expect_error(in_fe("    tcp-request contnet accept\n"), kLine, {"did you mean 'content'?"});
    expect_error(in_fe("    tcp-request content\n"), kLine, {"an action: accept or reject"});
    // track-sc needs a table: the proxy's own, or one named
    expect_error(in_fe("    tcp-request content track-sc0 src\n"), kLine,
                 {"'tcp-request content track-sc0'", "has no stick-table"});
    expect_error(in_fe("    tcp-request connection track-sc1 src table nosuch\n"), kLine,
                 {"'tcp-request connection track-sc1'", "no stick-table named 'nosuch'"});
    expect_error(in_fe("    tcp-request connection track-sc3 src\n"), kLine, {"track-sc0, track-sc1 or track-sc2"});
    expect_error(in_fe("    stick-table type ip size 1k\n    tcp-request connection track-sc0 req.ssl_sni\n"),
                 kLine + 1, {"reads the client's data"});
    expect_error(in_fe("    stick-table type ip size 1k\n    tcp-request content track-sc0 src,nosuch(24)\n"),
                 kLine + 1, {"'tcp-request content track-sc0'", "unknown converter 'nosuch'"});
    expect_error(in_fe("    tcp-request connection set-var(sess.x) int(1)\n"), kLine,
                 {"use 'tcp-request session set-var(sess.x)'"});
    expect_error(in_fe("    tcp-request content rejekt\n"), kLine,
                 {"unknown action 'rejekt'", "did you mean 'reject'?"});
    expect_error(in_fe("    tcp-request content accept when TRUE\n"), kLine, {"unexpected 'when'"});
    expect_error(in_fe("    tcp-request content accept if\n"), kLine, {"missing condition"});
    expect_error(in_fe("    tcp-request content accept if nosuch\n"), kLine, {"no such ACL 'nosuch'"});
    // payload fetches cannot be evaluated at accept
    expect_error(in_fe("    tcp-request connection reject if { req.len gt 0 }\n"), kLine,
                 {"'tcp-request connection' rule", "'req.len'", "would never match"});
    expect_error(in_fe("    acl hello req.ssl_hello_type 1\n    tcp-request connection accept if hello\n"),
                 kLine + 1, {"ACL 'hello' (t.cfg:13, 'req.ssl_hello_type')"});
    // sections: backends, defaults, mode http
    {  // a backend's content rules are its own (run once it is chosen)
        const auto cfg = load(kTail + "backend b\n    tcp-request content reject if { src 10.0.0.0/8 }\n");
        REQUIRE(cfg.backends.back().tcp_content_rules.size() == 1);
        CHECK(cfg.frontends.front().tcp_content_rules.empty());
    }
    expect_error(kTail + "backend b\n    tcp-request connection reject\n", 12,
                 {"tcp-request connection is not allowed because backend b is not a frontend"});
    expect_error("defaults\n    tcp-request inspect-delay 1s\n" + kTail, 2,
                 {"not allowed in an anonymous 'defaults' section"});
    expect_error("defaults\n    tcp-request content reject\n" + kTail, 2,
                 {"tcp-request content is not allowed in anonymous 'defaults' sections"});
    expect_error("defaults d\n    tcp-request connection reject\n" + kTail + "backend b from d\n", 13,
                 {"a backend section cannot inherit from a defaults section defining 'tcp-request connection'"});
    // mode http: content rules run per request on what the head holds, not on raw bytes
    expect_error(in_fe("    mode http\n    tcp-request content reject if { req.len gt 0 }\n"), kLine + 1,
                 {"sample fetch 'req.len' is supported in 'mode tcp' proxies only"});
    expect_error(in_fe("    mode http\n    stick-table type string size 1k\n    tcp-request content track-sc0 req.ssl_sni\n"),
                 kLine + 2, {"'tcp-request content' rule in a 'mode http' frontend", "'req.ssl_sni'", "raw bytes"});
    expect_error(in_fe("    tcp-request content expect-proxy layer4\n"), kLine,
                 {"'expect-proxy' is a 'tcp-request connection' action"});
    expect_error(in_fe("    tcp-request connection expect-proxy layer7\n"), kLine,
                 {"'expect-proxy' expects 'layer4', got 'layer7'"});
    // fetches and matching methods
    expect_error(in_fe("    acl x dst_conn 1\n"), kLine, {"sample fetch 'dst_conn' is not supported"});
    expect_error(in_fe("    acl x req.ssl_alpn h2\n"), kLine, {"'req.ssl_alpn' is not supported"});
    expect_error(in_fe("    acl x req.len abc\n"), kLine, {"invalid integer pattern 'abc'"});
    expect_error(in_fe("    acl x req.len 5:1\n"), kLine, {"empty range '5:1'"});
    expect_error(in_fe("    acl x req.len gt\n"), kLine, {"'gt' expects a value"});
    expect_error(in_fe("    acl x req.ssl_ver 3.x\n"), kLine,
                 {"invalid integer pattern '3.x'", "MAJOR.MINOR"});
    expect_error(in_fe("    acl x req.len -m str 5\n"), kLine, {"is an integer"});
    expect_error(in_fe("    acl x req.ssl_sni -m int 5\n"), kLine, {"'-m int' applies to integer fetches"});
    expect_error(in_fe("    acl x req.ssl_sni -m bin 16\n"), kLine, {"'-m bin' applies to 'req.payload'"});
    expect_error(in_fe("    acl x req.payload(0,1) -m bin 1\n"), kLine, {"invalid binary pattern '1'"});
    expect_error(in_fe("    acl x req.payload(0,1) -m bin zz\n"), kLine, {"invalid binary pattern 'zz'"});
    expect_error(in_fe("    acl x req.payload 16\n"), kLine, {"'req.payload' needs an argument", "(0,3)"});
    expect_error(in_fe("    acl x req.payload(1) 16\n"), kLine, {"expects '(<offset>,<length>)'"});
    expect_error(in_fe("    acl x req.payload(0,99999) 16\n"), kLine, {"expects '(<offset>,<length>)'"});
    expect_error(in_fe("    acl x req.ssl_sni -m reg a.*(\n"), kLine, {"invalid regular expression"});
    // the L4 fetches in a mode http proxy
    expect_error(kTail +
                     "frontend h\n    mode http\n    bind 127.0.0.1:20001\n    acl x req.ssl_sni a\n"
                     "    default_backend hb\nbackend hb\n    mode http\n    server s 127.0.0.1:1\n",
                 14, {"'req.ssl_sni' is supported in 'mode tcp' proxies only"});
}

TEST_CASE("tcp-response: a backend's rules, its delay, and what is refused") {
    const auto cfg = load(kTail + "    tcp-response inspect-delay 2s\n"
                                  "    tcp-response content close if { res.payload(0,3) -m str BYE }\n"
                                  "    tcp-response content reject if { res.payload_lv(0,1) -m str x }\n"
                                  "    tcp-response content accept unless { res.len lt 1 }\n");
    const auto& be = cfg.backends.back();
    REQUIRE(be.tcp_rsp_rules.size() == 3);
    CHECK(be.tcp_rsp_rules[0].action == es::config::TcpAction::Close);
    CHECK(be.rsp_inspect_delay == 2000);
    expect_error(kTail + "frontend f2\n    bind 127.0.0.1:10003\n    tcp-response content reject\n    default_backend tail_be\n", 13,
                 {"tcp-response content is only allowed in 'backend' sections or 'defaults' section with a name"});
    // the rules run on the plain copy path: a TLS session's bytes move as records elsewhere
    expect_error("defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                 "frontend f\n    bind 127.0.0.1:10001\n    default_backend b\n"
                 "backend b\n    tcp-response content reject\n    server s1 127.0.0.1:10002 ssl verify none\n",
                 10, {"'tcp-response content' rules of backend 'b'", "over TLS", "not supported in this version"});
}
