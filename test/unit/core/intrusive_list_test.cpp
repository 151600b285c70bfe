// core::IntrusiveList: order, removal from anywhere, objects on two lists at once.
#include <doctest/doctest.h>

#include <vector>

#include "edgeshard/core/intrusive_list.hpp"

using es::core::IntrusiveList;
using es::core::ListNode;

namespace {

struct Item {
    int v = 0;
    ListNode by_age;  // first member: offset 0 in the list's arithmetic
    double pad = 0;   // puts the second node at a non-zero offset
    ListNode by_idle;
    explicit Item(int x) : v(x) {}
};

using AgeList = IntrusiveList<Item, &Item::by_age>;
using IdleList = IntrusiveList<Item, &Item::by_idle>;

template <typename L>
std::vector<int> values(L& l) {
    std::vector<int> out;
    l.for_each([&](Item* it) { out.push_back(it->v); });
    return out;
}

}  // namespace

TEST_CASE("an empty list") {
    AgeList l;
    CHECK(l.empty());
    CHECK(l.size() == 0);
    CHECK(l.front() == nullptr);
    CHECK(l.pop_front() == nullptr);
    ListNode n;
    CHECK_FALSE(n.linked());
}

TEST_CASE("push_back keeps FIFO order, push_front prepends") {
    Item a(1), b(2), c(3), d(4);
    AgeList l;
    l.push_back(&a);
    l.push_back(&b);
    l.push_front(&c);
    l.push_back(&d);
    CHECK(l.size() == 4);
    CHECK(values(l) == std::vector<int>{3, 1, 2, 4});
    CHECK(l.front() == &c);
    CHECK(a.by_age.linked());
    CHECK(l.pop_front() == &c);
    CHECK_FALSE(c.by_age.linked());
    CHECK(l.pop_front() == &a);
    CHECK(l.pop_front() == &b);
    CHECK(l.pop_front() == &d);
    CHECK(l.empty());
}

TEST_CASE("remove from the head, the middle and the tail") {
    Item a(1), b(2), c(3), d(4), e(5);
    AgeList l;
    for (Item* it : {&a, &b, &c, &d, &e}) l.push_back(it);
    AgeList::remove(&c);
    CHECK_FALSE(c.by_age.linked());
    CHECK(values(l) == std::vector<int>{1, 2, 4, 5});
    AgeList::remove(&a);
    CHECK(values(l) == std::vector<int>{2, 4, 5});
    AgeList::remove(&e);
    CHECK(values(l) == std::vector<int>{2, 4});
    // unlink is idempotent on an unlinked node
    AgeList::remove(&e);
    CHECK(values(l) == std::vector<int>{2, 4});
    // a removed object can be linked again
    l.push_front(&c);
    CHECK(values(l) == std::vector<int>{3, 2, 4});
    while (l.pop_front()) {
    }
}

TEST_CASE("for_each tolerates removing the current element") {
    std::vector<Item> items;
    items.reserve(10);
    for (int i = 0; i < 10; ++i) items.emplace_back(i);
    AgeList l;
    for (Item& it : items) l.push_back(&it);
    l.for_each([](Item* it) {
        if (it->v % 2 == 0) AgeList::remove(it);
    });
    CHECK(values(l) == std::vector<int>{1, 3, 5, 7, 9});
    CHECK(l.size() == 5);
    l.for_each([](Item* it) { AgeList::remove(it); });
    CHECK(l.empty());
}

TEST_CASE("one object on two lists through two nodes") {
    Item a(1), b(2), c(3);
    AgeList age;
    IdleList idle;
    for (Item* it : {&a, &b, &c}) age.push_back(it);
    idle.push_back(&c);
    idle.push_back(&a);
    CHECK(values(age) == std::vector<int>{1, 2, 3});
    CHECK(values(idle) == std::vector<int>{3, 1});
    CHECK(idle.front() == &c);  // member at a non-zero offset maps back to the object
    IdleList::remove(&c);
    CHECK(values(age) == std::vector<int>{1, 2, 3});
    CHECK(values(idle) == std::vector<int>{1});
    AgeList::remove(&a);
    CHECK(values(idle) == std::vector<int>{1});
    CHECK(idle.pop_front() == &a);
    while (age.pop_front()) {
    }
}
