// What protocol-check answers mean (src/check/verdict.cpp): MySQL packets, LDAP bindResponses and
// pgsql's error text, on byte strings as the servers send them.
#include <doctest/doctest.h>

#include <string>

#include "../../../src/check/verdict.hpp"

using namespace es;
using check::Status;
using config::TcpCheckStep;

namespace {

TcpCheckStep custom(TcpCheckStep::Custom c) {
    TcpCheckStep r;
    r.kind = TcpCheckStep::Kind::Expect;
    r.custom = c;
    return r;
}

std::string packet(std::uint8_t seq, const std::string& payload) {
    const std::size_t n = payload.size();
    return std::string{char(n & 0xff), char(n >> 8 & 0xff), char(n >> 16 & 0xff), char(seq)} + payload;
}

// a MariaDB-like handshake: protocol 10, the version, then the rest
const std::string kHello = packet(0, std::string("\x0a" "10.11.6-MariaDB\0" "\x01\x02\x03\x04", 21));

}  // namespace

TEST_CASE("mysql-check: a handshake passes (no detail, as HAProxy 2.6); an error packet is L7STS with its code") {
    const auto hello = custom(TcpCheckStep::Custom::MysqlHello);
    auto v = check::detail::eval_custom(hello, kHello, false);
    CHECK_FALSE(v.wait);
    CHECK(v.status == Status::L7Ok);
    CHECK(v.info.empty());  // HAProxy 2.6 shows no detail on success
    // half a packet waits, and is L7RSP once nothing more comes
    CHECK(check::detail::eval_custom(hello, kHello.substr(0, 10), false).wait);
    v = check::detail::eval_custom(hello, kHello.substr(0, 10), true);
    CHECK_FALSE(v.wait);
    CHECK(v.status == Status::L7Rsp);
    // "Host is not allowed to connect": 0xff, code 1130 little-endian, the text
    const std::string err = packet(0, std::string("\xff\x6a\x04Host '1.2.3.4' is not allowed", 32));
    v = check::detail::eval_custom(hello, err, false);
    CHECK(v.status == Status::L7Sts);
    CHECK(v.code == 1130);
    CHECK(v.info == "Host '1.2.3.4' is not allowed");
    // the answer to the login follows the handshake: OK passes, an error is L7STS
    const auto ok = custom(TcpCheckStep::Custom::MysqlOk);
    v = check::detail::eval_custom(ok, kHello + packet(2, std::string("\x00\x00\x00\x02\x00\x00\x00", 7)), false);
    CHECK(v.status == Status::L7Ok);
    v = check::detail::eval_custom(ok, kHello + packet(2, std::string("\xff\x15\x04#28000Access denied", 22)), false);
    CHECK(v.status == Status::L7Sts);
    CHECK(v.code == 1045);
    CHECK(v.info == "#28000Access denied");
    CHECK(check::detail::eval_custom(ok, kHello, false).wait);
}

TEST_CASE("ldap-check: a bindResponse with resultCode 0 passes; another code is L7STS; garbage is L7RSP") {
    const auto bind = custom(TcpCheckStep::Custom::LdapBind);
    // SEQUENCE(12) { INTEGER 1, [APPLICATION 1](7) { ENUMERATED 0, "" , "" } }
    const std::string ok("\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00", 14);
    auto v = check::detail::eval_custom(bind, ok, false);
    CHECK(v.status == Status::L7Ok);
    CHECK(v.info.empty());
    std::string bad = ok;
    bad[9] = 49;  // invalidCredentials
    v = check::detail::eval_custom(bind, bad, false);
    CHECK(v.status == Status::L7Sts);
    CHECK(v.code == 49);
    CHECK(v.info == "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9");
    // a long-form length on 4 bytes (Active Directory)
    const std::string ad("\x30\x84\x00\x00\x00\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00", 18);
    CHECK(check::detail::eval_custom(bind, ad, false).status == Status::L7Ok);
    std::string wrong = ok;
    wrong[5] = 0x65;  // not a bindResponse
    v = check::detail::eval_custom(bind, wrong, false);
    CHECK(v.status == Status::L7Rsp);
    CHECK(v.info == "Not LDAPv3 protocol");
    CHECK(check::detail::eval_custom(bind, ok.substr(0, 8), false).wait);
    CHECK(check::detail::eval_custom(bind, ok.substr(0, 8), true).status == Status::L7Rsp);
}

TEST_CASE("pgsql-check: an ErrorResponse reports the server's text from offset 6") {
    TcpCheckStep e;
    e.kind = TcpCheckStep::Kind::Expect;
    e.match = TcpCheckStep::Match::RString;
    e.pattern = "^E";
    e.negate = true;
    e.min_recv = 5;
    e.error_status = std::uint8_t(Status::L7Rsp);
    e.error_payload = 6;
    const auto re = check::detail::compile(e.pattern);
    const std::string err("E\x00\x00\x00\x50SFATAL\0VFATAL\0C28000\0Mrole \"x\" does not exist\0\0", 52);
    auto v = check::detail::eval_expect(e, re.get(), err, false, 2, false);
    CHECK(v.status == Status::L7Rsp);
    CHECK(v.info == "FATAL");
    // AuthenticationOk passes this rule
    v = check::detail::eval_expect(e, re.get(), std::string("R\0\0\0\x08\0\0\0\0", 9), false, 2, false);
    CHECK(v.status == Status::L7Ok);
}

TEST_CASE("agent answers: words in any order, the last of a kind wins, '#' starts a description") {
    using check::detail::parse_agent;
    auto a = parse_agent("75%, drain\n", false);
    CHECK_FALSE(a.wait);
    CHECK(a.weight == "75%");
    REQUIRE(a.admin);
    CHECK(*a.admin == check::Hooks::Admin::Drain);
    CHECK(a.health.empty());
    a = parse_agent("up 50% ready maint\r\n", false);
    CHECK(a.health == "up");
    CHECK(*a.admin == check::Hooks::Admin::Maint);
    a = parse_agent("DOWN #  disk full\n", false);
    CHECK(a.health == "down");
    CHECK(a.desc == "disk full");
    a = parse_agent("down#x\n", false);  // no separator before '#': one unknown word (HAProxy 2.6)
    CHECK(a.health.empty());
    CHECK(a.error == "down#x");
    a = parse_agent("weight:50% maxconn:30\n", false);  // "weight:" is not a 2.6 word
    CHECK(a.error == "weight:50%");
    CHECK(a.maxconn == "30");
    CHECK(parse_agent("up", false).wait);           // no end of line yet
    CHECK(parse_agent("up", true).incomplete);      // and none will come
    CHECK(parse_agent("stopped\n", false).health == "stopped");
}
