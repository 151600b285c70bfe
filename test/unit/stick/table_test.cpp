// Stick tables: HAProxy's frequency counter arithmetic, key conversions, a table's expiry, purge and
// trackers, and what Store counts at each of HAProxy's counting points.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <cstring>

#include "edgeshard/stick/table.hpp"

using namespace es;
using config::StickData;

namespace {

config::StickTable ip_table(std::uint32_t size, config::Millis expire) {
    config::StickTable t;
    t.name = "t";
    t.type = config::StickTable::Type::Ip;
    t.key_len = 4;
    t.size = size;
    t.expire = expire;
    for (StickData d : {StickData::ConnCnt, StickData::ConnCur, StickData::HttpReqCnt, StickData::Gpc0,
                        StickData::BytesInCnt, StickData::ServerId})
        t.store |= 1u << unsigned(d);
    t.store |= 1u << unsigned(StickData::HttpReqRate);
    t.period[int(StickData::HttpReqRate)] = 10000;
    return t;
}

stick::Key v4(const char* a) {
    sockaddr_storage ss{};
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, a, &sin->sin_addr);
    stick::KeySource k;
    k.kind = stick::KeySource::Kind::Addr;
    k.addr = &ss;
    config::StickTable t = ip_table(1, 0);
    stick::Key out;
    REQUIRE(stick::make_key(t, k, out));
    return out;
}

}  // namespace

TEST_CASE("freq_ctr: N events inside a fresh period read N; the previous period weighs what is left of it") {
    stick::FreqCtr f;
    const std::uint32_t p = 10000;
    std::uint32_t now = 5'000'000;
    for (int i = 0; i < 15; ++i) f.add(now, p, 1);
    CHECK(f.read(now, p) == 15);
    CHECK(f.read(now + 9999, p) == 15);
    // one period later: the 15 are the previous period, weighed by what remains of the window
    CHECK(f.read(now + p, p) == 15);           // remain = period: 15 * 1
    CHECK(f.read(now + p + p / 2, p) == 7);    // 15 * 0.5 = 7.5 -> 7
    CHECK(f.read(now + 2 * p + 1, p) == 0);    // two periods on: gone
    // events in the next period add to the weighed past
    f.add(now + p + p / 2, p, 4);
    CHECK(f.read(now + p + p / 2, p) == 11);   // 15 * 0.5 + 4
}

TEST_CASE("freq_ctr: HAProxy's flapping correction at very low rates") {
    stick::FreqCtr f;
    const std::uint32_t p = 1000, now = 100'000;
    f.add(now, p, 1);
    CHECK(f.read(now + p + 900, p) == 1);  // one event in the previous period still reads 1
}

TEST_CASE("keys: an ip table takes IPv4 and IPv4-mapped addresses, not real IPv6; text forms") {
    config::StickTable t = ip_table(10, 0);
    sockaddr_storage ss{};
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6->sin6_addr);
    stick::KeySource k;
    k.kind = stick::KeySource::Kind::Addr;
    k.addr = &ss;
    stick::Key out;
    REQUIRE(stick::make_key(t, k, out));
    CHECK(stick::key_text(t, out.bytes, out.len) == "192.0.2.7");
    inet_pton(AF_INET6, "2001:db8::1", &s6->sin6_addr);
    CHECK_FALSE(stick::make_key(t, k, out));
    config::StickTable t6 = t;
    t6.type = config::StickTable::Type::Ipv6;
    t6.key_len = 16;
    REQUIRE(stick::make_key(t6, k, out));
    CHECK(stick::key_text(t6, out.bytes, out.len) == "2001:db8::1");
    config::StickTable ts = t;
    ts.type = config::StickTable::Type::String;
    ts.key_len = 4;
    k.kind = stick::KeySource::Kind::Str;
    k.str = "abcdef";
    REQUIRE(stick::make_key(ts, k, out));
    CHECK(stick::key_text(ts, out.bytes, out.len) == "abcd");  // cut at the table's len
    CHECK(stick::parse_key(t, "10.1.2.3", out));
    CHECK_FALSE(stick::parse_key(t, "bogus", out));
}

TEST_CASE("table: expiry from the last touch, trackers keep an entry, a full table purges the oldest free one") {
    config::StickTable spec = ip_table(2, 1000);
    stick::Table t(spec, 0);
    std::int64_t now = 10'000;
    stick::Entry* a = t.get(v4("10.0.0.1"), now);
    REQUIRE(a != nullptr);
    CHECK(t.get(v4("10.0.0.1"), now) == a);
    stick::Entry* b = t.get(v4("10.0.0.2"), now + 10);
    REQUIRE(b != nullptr);
    CHECK(t.used() == 2);
    // full: a third key takes the place of the oldest (10.0.0.1)
    stick::Entry* c = t.get(v4("10.0.0.3"), now + 20);
    REQUIRE(c != nullptr);
    CHECK(t.used() == 2);
    CHECK(t.lookup(v4("10.0.0.1"), now + 20) == nullptr);
    // a tracked entry is neither purged nor expired
    t.ref(b);
    t.touch(c, now + 30);
    CHECK(t.get(v4("10.0.0.4"), now + 40) != nullptr);  // purges c? no: b is older but tracked
    CHECK(t.lookup(v4("10.0.0.2"), now + 40) == b);
    CHECK(t.lookup(v4("10.0.0.3"), now + 40) == nullptr);
    CHECK(t.expire(now + 5000, 100) == 1);                // 10.0.0.4 expired; b is held
    CHECK(t.lookup(v4("10.0.0.2"), now + 5000) == b);
    t.unref(b, now + 5000);                               // released after its expiry: gone
    CHECK(t.used() == 0);
}

TEST_CASE("table: nopurge keeps the old keys and refuses new ones") {
    config::StickTable spec = ip_table(1, 0);
    spec.nopurge = true;
    stick::Table t(spec, 0);
    CHECK(t.get(v4("10.0.0.1"), 1) != nullptr);
    CHECK(t.get(v4("10.0.0.2"), 2) == nullptr);
    CHECK(t.lookup(v4("10.0.0.1"), 3) != nullptr);
}

TEST_CASE("store: HAProxy's counting points") {
    config::Config cfg;
    cfg.tables.push_back(ip_table(100, 30000));
    stick::Store s(cfg);
    stick::Table& t = s.table(0);
    const std::int64_t now = 50'000;
    stick::Entry* e = t.get(v4("10.0.0.9"), now);
    stick::Refs r;
    // a connection tracked at accept
    s.track(r, false, 0, 0, e, false, now);
    std::uint64_t v = 0;
    REQUIRE(t.read(e, StickData::ConnCur, now, v));
    CHECK(v == 1);
    CHECK(e->refs == 1);
    // two requests on it count on the session's counter
    s.count_http_req(r, now);
    s.count_http_req(r, now + 1);
    t.read(e, StickData::HttpReqCnt, now, v);
    CHECK(v == 2);
    t.read(e, StickData::HttpReqRate, now + 1, v);
    CHECK(v == 2);
    s.count_bytes(r, 100, 5000, now + 2);
    t.read(e, StickData::BytesInCnt, now, v);
    CHECK(v == 100);
    // a stream-level track of the same number wins for the counts while it lasts
    s.track(r, true, 0, 0, e, false, now + 3);
    CHECK(s.tracked(&r, 0) == &r.strm[0]);
    t.read(e, StickData::ConnCur, now, v);
    CHECK(v == 2);
    s.end_stream(r, now + 4);
    t.read(e, StickData::ConnCur, now, v);
    CHECK(v == 1);
    s.end_session(r, now + 5);
    t.read(e, StickData::ConnCur, now, v);
    CHECK(v == 0);
    CHECK(e->refs == 0);
    t.read(e, StickData::ConnCnt, now, v);
    CHECK(v == 2);
}

TEST_CASE("store: persistence staging keeps the entry until the server is known; unused new entries go") {
    config::Config cfg;
    cfg.tables.push_back(ip_table(100, 0));
    stick::Store s(cfg);
    stick::Table& t = s.table(0);
    stick::Refs r;
    stick::Entry* e = t.get(v4("10.0.0.5"), 1);
    REQUIRE(s.stage_store(r, 0, e));
    CHECK(e->refs == 1);
    s.commit_store(r, 3, (1u << 16) | 3u, 2);
    std::uint64_t v = 0;
    REQUIRE(t.read(e, StickData::ServerId, 2, v));
    CHECK(v == 3);
    CHECK(e->refs == 0);
    stick::Entry* f = t.get(v4("10.0.0.6"), 3);
    REQUIRE(s.stage_store(r, 0, f));
    s.drop_store(r, 4);  // no server was chosen: the entry made for it is not kept
    CHECK(t.lookup(v4("10.0.0.6"), 4) == nullptr);
    CHECK(t.lookup(v4("10.0.0.5"), 4) == e);
}
