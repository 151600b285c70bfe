// shard room: the data shards' mailboxes towards the control shard and its doorbell.
#include <poll.h>

#include <doctest/doctest.h>
#include <thread>

#include "edgeshard/shard/control_link.hpp"

using es::shard::ControlLink;
using es::shard::Message;

namespace {

bool rung(const ControlLink& l) {
    pollfd p{l.fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

}  // namespace

TEST_CASE("each shard's messages arrive in order, in its own mailbox") {
    ControlLink l(2, 4);
    CHECK(l.shards() == 2);
    CHECK(l.post(0, Message{Message::kNone, 1, 10}));
    CHECK(l.post(1, Message{Message::kNone, 2, 20}));
    CHECK(l.post(0, Message{Message::kNone, 3, 30}));
    Message m;
    REQUIRE(l.pop(0, m));
    CHECK(m.a == 1);
    REQUIRE(l.pop(0, m));
    CHECK(m.a == 3);
    CHECK_FALSE(l.pop(0, m));
    REQUIRE(l.pop(1, m));
    CHECK(m.b == 20);
    CHECK_FALSE(l.pop(1, m));
}

TEST_CASE("a full mailbox refuses, and takes again once read") {
    ControlLink l(1, 2);
    CHECK(l.post(0, Message{}));
    CHECK(l.post(0, Message{}));
    CHECK_FALSE(l.post(0, Message{}));
    Message m;
    CHECK(l.pop(0, m));
    CHECK(l.post(0, Message{}));
}

TEST_CASE("the doorbell rings only while the control shard sleeps") {
    ControlLink l(1);
    CHECK_FALSE(l.sleep());  // nothing waiting: it may sleep
    l.wake();
    CHECK(l.post(0, Message{}));
    CHECK_FALSE(rung(l));  // awake: no write(2)
    CHECK(l.sleep());      // a message is waiting: do not sleep
    l.wake();
    Message m;
    CHECK(l.pop(0, m));

    CHECK_FALSE(l.sleep());
    CHECK(l.post(0, Message{}));
    CHECK(rung(l));  // asleep: rung
    l.wake();
    CHECK_FALSE(rung(l));  // wake() drains it
    CHECK(l.pop(0, m));
}

TEST_CASE("no lost wake-up: a sleeper either sees the message or is rung") {
    ControlLink l(1);
    Message m;
    for (int round = 0; round < 2000; ++round) {
        std::thread producer([&l] {
            while (!l.post(0, Message{Message::kNone, 7, 0})) std::this_thread::yield();
        });
        bool got = false;
        while (!got) {
            const bool pending = l.sleep();
            if (!pending) {
                pollfd p{l.fd(), POLLIN, 0};
                REQUIRE(::poll(&p, 1, 5000) == 1);  // a lost wake-up would time out here
            }
            l.wake();
            got = l.pop(0, m);
        }
        producer.join();
        CHECK(m.a == 7);
    }
}
