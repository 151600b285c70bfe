// proxy room: the sessions waiting for a page from the control shard, and stale answers.
#include <doctest/doctest.h>
#include <set>

#include "edgeshard/proxy/page_waits.hpp"

using es::proxy::PageWaits;

namespace {
struct Who {
    int id;
};
}  // namespace

TEST_CASE("an answer finds its waiter once") {
    PageWaits<Who> w(4);
    Who a{1}, b{2};
    const auto ha = w.add(&a);
    const auto hb = w.add(&b);
    CHECK(ha != 0);
    CHECK(hb != 0);
    CHECK(ha != hb);
    CHECK(w.size() == 2);
    CHECK(w.take(hb) == &b);
    CHECK(w.take(hb) == nullptr);  // a duplicate is stale
    CHECK(w.take(ha) == &a);
    CHECK(w.size() == 0);
}

TEST_CASE("a full list refuses; a slot comes back when its waiter leaves") {
    PageWaits<Who> w(2);
    Who a{1}, b{2}, c{3};
    const auto ha = w.add(&a);
    CHECK(w.add(&b) != 0);
    CHECK(w.add(&c) == 0);
    w.remove(PageWaits<Who>::slot_of(ha));
    CHECK(w.size() == 1);
    CHECK(w.add(&c) != 0);
}

TEST_CASE("the answer of a waiter that left is stale, even once its slot is reused") {
    PageWaits<Who> w(1);
    Who a{1}, b{2};
    const auto ha = w.add(&a);
    w.remove(PageWaits<Who>::slot_of(ha));
    CHECK(w.take(ha) == nullptr);  // the session closed: its answer is dropped
    const auto hb = w.add(&b);
    CHECK(PageWaits<Who>::slot_of(hb) == PageWaits<Who>::slot_of(ha));
    CHECK(w.take(ha) == nullptr);  // same slot, later wait: still stale
    CHECK(w.take(hb) == &b);
}

TEST_CASE("handles that name no slot are stale") {
    PageWaits<Who> w(2);
    CHECK(w.take(0) == nullptr);
    CHECK(w.take(3) == nullptr);  // slot 3 of 2
    CHECK(w.take(1) == nullptr);  // empty slot
    w.remove(0);
    w.remove(9);
    CHECK(w.size() == 0);
}

TEST_CASE("every wait gets its own handle; capacity is capped for the session's byte") {
    PageWaits<Who> w(1000);
    CHECK(w.capacity() == PageWaits<Who>::kMaxSlots);
    Who a{1};
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 1000; ++i) {
        const auto h = w.add(&a);
        CHECK(seen.insert(h).second);
        CHECK(w.take(h) == &a);
    }
}
