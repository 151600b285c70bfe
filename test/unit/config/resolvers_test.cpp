// The resolvers section, the server keywords that use it, and server-template (HAProxy 2.6).
#include <netinet/in.h>

#include "helpers.hpp"

using namespace es::config;
using namespace es::config::test;

namespace {

const std::string kFront =
    "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
    "frontend fe\n    bind 127.0.0.1:10001\n    default_backend be\n";

}  // namespace

TEST_CASE("resolvers: every keyword, with HAProxy's defaults for what is not written") {
    const auto cfg = load(
        "resolvers dns\n"
        "    nameserver ns1 127.0.0.1:5353\n"
        "    nameserver ns2 udp@[::1]:53\n"
        "    nameserver ns3 10.0.0.3\n"
        "    resolve_retries 5\n"
        "    timeout resolve 2s\n"
        "    timeout retry 300ms\n"
        "    hold valid 7s\n"
        "    hold nx 1s\n"
        "    hold obsolete 4s\n"
        "    accepted_payload_size 8192\n"
        "resolvers other\n    nameserver a 127.0.0.1:53\n" +
        kFront + "backend be\n    server s1 127.0.0.1:80 resolvers other\n");
    REQUIRE(cfg.resolvers.size() == 2);
    const Resolvers& r = cfg.resolvers[0];
    CHECK(r.name == "dns");
    REQUIRE(r.nameservers.size() == 3);
    CHECK(r.nameservers[0].addr.text() == "127.0.0.1:5353");
    CHECK(r.nameservers[1].addr.text() == "[::1]:53");
    CHECK(r.nameservers[2].addr.text() == "10.0.0.3:53");  // the port defaults to 53
    CHECK(r.resolve_retries == 5);
    CHECK(r.timeout_resolve_ms == 2000);
    CHECK(r.timeout_retry_ms == 300);
    CHECK(r.hold_valid_ms == 7000);
    CHECK(r.hold_nx_ms == 1000);
    CHECK(r.hold_other_ms == 30000);  // not written: HAProxy's 30 s
    CHECK(r.hold_obsolete_ms == 4000);
    CHECK(r.accepted_payload_size == 8192);
    CHECK(cfg.resolvers[1].accepted_payload_size == 512);
    CHECK(cfg.backends[0].servers[0].resolvers == 1);
    CHECK(cfg.warnings.empty());
}

TEST_CASE("resolvers: a server follows its name; the section may come after it") {
    const auto cfg = load(kFront +
                          "backend be\n"
                          "    default-server resolvers dns resolve-prefer ipv4 init-addr none\n"
                          "    server s1 app.invalid:8080 resolve-opts allow-dup-ip resolve-net 10.0.0.0/8,fd00::/8\n"
                          "    server s2 app.invalid:8081\n"
                          "resolvers dns\n    nameserver ns1 127.0.0.1:53\n");
    const auto& s1 = cfg.backends[0].servers[0];
    CHECK(s1.resolvers == 0);
    CHECK(s1.resolve_family == AF_INET);
    CHECK(s1.allow_dup_ip);
    REQUIRE(s1.resolve_net.size() == 2);
    CHECK(s1.resolve_net[1].second == 8);
    CHECK(s1.unresolved);
    CHECK_FALSE(s1.disabled);  // with resolvers, a DNS answer brings it in service
    CHECK(s1.hostname == "app.invalid");
    CHECK_FALSE(cfg.backends[0].servers[1].allow_dup_ip);  // HAProxy's default: prevent-dup-ip
    CHECK(cfg.warnings.empty());  // init-addr none with resolvers is what runtime DNS is for
}

TEST_CASE("server-template: numbered servers on one name, with the line's options") {
    const auto cfg = load(kFront +
                          "backend be\n"
                          "    server-template web 3 app.invalid:80 resolvers dns init-addr none check\n"
                          "    server-template api 5-6 app.invalid:81 resolvers dns init-addr none weight 7\n"
                          "resolvers dns\n    nameserver ns1 127.0.0.1:53\n");
    const auto& sv = cfg.backends[0].servers;
    REQUIRE(sv.size() == 5);
    CHECK(sv[0].name == "web1");
    CHECK(sv[2].name == "web3");
    CHECK(sv[2].check.enabled);
    CHECK(sv[3].name == "api5");
    CHECK(sv[4].name == "api6");
    CHECK(sv[4].weight == 7);
    CHECK(sv[4].addr.port() == 81);
}

TEST_CASE("server-template on a SRV label: no port, no resolution at load, in maintenance until filled") {
    const auto cfg = load(kFront +
                          "backend be\n"
                          "    server-template srv 2 _http._tcp.app.invalid resolvers dns resolve-opts ignore-weight\n"
                          "resolvers dns\n    nameserver ns1 127.0.0.1:53\n");
    const auto& sv = cfg.backends[0].servers;
    REQUIRE(sv.size() == 2);
    CHECK(sv[1].srv_label);
    CHECK(sv[1].hostname == "_http._tcp.app.invalid");
    CHECK(sv[1].unresolved);
    CHECK_FALSE(sv[1].disabled);
    CHECK(sv[1].ignore_weight);
    CHECK(cfg.warnings.empty());
}

TEST_CASE("resolvers: mistakes name their line") {
    expect_error(kFront + "backend be\n    server s1 app.invalid:80 resolvers nosuch init-addr none\n"
                          "resolvers dns\n    nameserver ns1 127.0.0.1:53\n",
                 10, {"server 'be/s1'", "unknown resolvers section 'nosuch'"});
    expect_error("resolvers dns\n    nameserver ns1 127.0.0.1:53\n    bogus 1\n" + kTail, 3,
                 {"unknown keyword 'bogus' in resolvers section 'dns'"});
    expect_error("resolvers dns\n    nameserver ns1\n" + kTail, 2, {"nameserver ns1", "expects an address"});
    expect_error("resolvers dns\n    nameserver ns1 tcp@127.0.0.1:53\n" + kTail, 2, {"DNS over TCP is not supported"});
    expect_error("resolvers dns\n    nameserver ns1 127.0.0.1:53\n    nameserver ns1 127.0.0.2:53\n" + kTail, 3,
                 {"nameserver 'ns1' is already declared at t.cfg:2"});
    expect_error("resolvers dns\n    hold forever 1s\n" + kTail, 2, {"'hold' expects a status"});
    expect_error("resolvers dns\n    timeout connect 1s\n" + kTail, 2, {"'resolve' or 'retry'"});
    expect_error("resolvers dns\n    accepted_payload_size 70000\n" + kTail, 2, {"accepted_payload_size"});
    expect_error("resolvers dns\nresolvers dns\n" + kTail, 2, {"resolvers section 'dns' is already declared at t.cfg:1"});
    expect_error(kFront + "backend be\n    server s1 127.0.0.1:80 resolve-prefer ipv5\n", 10,
                 {"'resolve-prefer' expects 'ipv4' or 'ipv6'"});
    expect_error(kFront + "backend be\n    server s1 127.0.0.1:80 resolve-opts allow-dup\n", 10,
                 {"'resolve-opts'", "did you mean 'allow-dup-ip'"});
    expect_error(kFront + "backend be\n    server s1 127.0.0.1:80 resolve-net 10.0.0.0/40\n", 10, {"'resolve-net'"});
    expect_error(kFront + "backend be\n    server-template web 0 app.invalid:80\n", 10, {"server-template 'web'"});
    expect_error(kFront + "backend be\n    server-template srv 3 _http._tcp.app.invalid init-addr none\n", 10,
                 {"SRV label", "needs 'resolvers"});
    expect_error(kFront + "backend be\n    server web2 127.0.0.1:80\n    server-template web 3 127.0.0.1:81\n", 11,
                 {"server 'be/web2' is already declared at t.cfg:10"});
}
