#include <doctest/doctest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "edgeshard/shard/mailbox.hpp"
#include "edgeshard/shard/timer_wheel.hpp"
#include "edgeshard/shard/user_data.hpp"

using es::shard::Mailbox;
using es::shard::Message;
using es::shard::Timer;
using es::shard::TimerWheel;
using es::shard::UserData;

TEST_CASE("timer wheel: fires at or after the due time, never early") {
    TimerWheel w(1000);
    Timer a, b, c;
    w.schedule(&a, 1010);
    w.schedule(&b, 1050);
    w.schedule(&c, 1000 + 10 * TimerWheel::kSlots * TimerWheel::kTickMs);  // ten laps out
    std::vector<Timer*> fired;
    auto f = [&](Timer* t) { fired.push_back(t); };
    w.advance(1009, f);
    CHECK(fired.empty());
    w.advance(1012, f);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0] == &a);
    w.advance(1049, f);
    CHECK(fired.size() == 1);
    w.advance(1060, f);
    CHECK(fired.size() == 2);
    CHECK(fired[1] == &b);
    // the far timer survives every lap until its time
    for (std::int64_t t = 1100; t < c.when_ms; t += 997) w.advance(t, f);
    CHECK(fired.size() == 2);
    CHECK(w.size() == 1);
    w.advance(c.when_ms + 4, f);
    CHECK(fired.size() == 3);
    CHECK(w.size() == 0);
}

TEST_CASE("timer wheel: cancel, reschedule from the callback, next_due_ms") {
    TimerWheel w(0);
    Timer a, b;
    CHECK(w.next_due_ms(0) == -1);
    w.schedule(&a, 100);
    w.schedule(&b, 40);
    const auto due = w.next_due_ms(0);
    CHECK(due >= 40);
    CHECK(due <= 40 + TimerWheel::kTickMs);
    w.cancel(&b);
    CHECK_FALSE(b.armed());
    CHECK(w.size() == 1);
    int fires = 0;
    w.advance(100, [&](Timer* t) {
        ++fires;
        if (fires < 3) w.schedule(t, 100 + fires * 52);  // lazy re-arm, as idle timers do
    });
    CHECK(fires == 1);
    w.advance(152, [&](Timer* t) {
        ++fires;
        w.schedule(t, 400);
    });
    CHECK(fires == 2);
    CHECK(a.armed());
    w.schedule(&a, 500);  // moving an armed timer keeps one entry
    CHECK(w.size() == 1);
    w.advance(450, [&](Timer*) { ++fires; });
    CHECK(fires == 2);
    w.advance(500, [&](Timer*) { ++fires; });
    CHECK(fires == 3);
}

TEST_CASE("timer wheel: a long sleep fires everything due exactly once") {
    TimerWheel w(0);
    std::vector<Timer> ts(3000);
    for (std::size_t i = 0; i < ts.size(); ++i) w.schedule(&ts[i], std::int64_t(i * 3 + 1));
    int fired = 0;
    w.advance(100000, [&](Timer*) { ++fired; });
    CHECK(fired == 3000);
    CHECK(w.size() == 0);
}

TEST_CASE("mailbox: FIFO, bounded, and correct across two threads") {
    Mailbox mb(8);
    Message m;
    CHECK_FALSE(mb.pop(m));
    for (int i = 0; i < 8; ++i) CHECK(mb.push(Message{Message::kStop, std::uint64_t(i), 0}));
    CHECK_FALSE(mb.push(Message{}));  // full
    for (int i = 0; i < 8; ++i) {
        REQUIRE(mb.pop(m));
        CHECK(m.a == std::uint64_t(i));
    }
    CHECK(mb.empty_for_consumer());

    Mailbox big(64);
    constexpr std::uint64_t kN = 200000;
    std::thread prod([&] {
        for (std::uint64_t i = 0; i < kN;) {
            if (big.push(Message{1, i, i * 3})) ++i;
        }
    });
    std::uint64_t expect = 0;
    while (expect < kN) {
        if (big.pop(m)) {
            REQUIRE(m.a == expect);
            REQUIRE(m.b == expect * 3);
            ++expect;
        }
    }
    prod.join();
    CHECK(expect == kN);
}

TEST_CASE("user_data packs op, generation and a 48-bit pointer") {
    int x = 0;
    const auto u = UserData::pack(42, 7, &x);
    const auto d = UserData::unpack(u);
    CHECK(d.op == 42);
    CHECK(d.gen == 7);
    CHECK(d.ptr<int>() == &x);
    const auto r = UserData::unpack(UserData::pack_raw(9, 255, 12345));
    CHECK(r.op == 9);
    CHECK(r.gen == 255);
    CHECK(r.obj == 12345);
}

TEST_CASE("timer wheel: next_due_ms finds the earliest slot wherever the wheel stands") {
    // random timers within one lap, random cancels and advances: the answer is always the first
    // live timer's tick, whichever 64-slot word it is in and however the scan wraps
    std::uint64_t x = 0x9e3779b97f4a7c15ull;
    auto rnd = [&] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    const std::int64_t lap = std::int64_t(TimerWheel::kSlots) * TimerWheel::kTickMs;
    std::int64_t now = 12345;
    TimerWheel w(now);
    std::vector<Timer> timers(300);
    for (int round = 0; round < 3000; ++round) {
        Timer& t = timers[rnd() % timers.size()];
        switch (rnd() % 3) {
        case 0:
            w.schedule(&t, now + 1 + std::int64_t(rnd() % std::uint64_t(lap - 2 * TimerWheel::kTickMs)));
            break;
        case 1:
            w.cancel(&t);
            break;
        default:
            now += std::int64_t(rnd() % 200);
            w.advance(now, [](Timer*) {});
            break;
        }
        std::int64_t first = -1;
        for (const Timer& u : timers) {
            if (!u.armed()) continue;
            const std::int64_t tick = std::max((u.when_ms + TimerWheel::kTickMs - 1) / TimerWheel::kTickMs,
                                               now / TimerWheel::kTickMs + 1);
            const std::int64_t d = std::max<std::int64_t>(tick * TimerWheel::kTickMs - now, 0);
            if (first < 0 || d < first) first = d;
        }
        const std::int64_t got = w.next_due_ms(now);
        if (first < 0) {
            REQUIRE(got == -1);
        } else {
            REQUIRE(got >= 0);
            REQUIRE(got <= first);                            // never later than the first timer
            REQUIRE(got >= first - TimerWheel::kTickMs);      // and within a tick of it
        }
    }
}
