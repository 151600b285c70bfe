// Intrusive doubly linked list: the node lives in the object, so linking never allocates.
// An object may be on as many lists as it has ListNode members.
#pragma once

#include <cstddef>

namespace es::core {

struct ListNode {
    ListNode* prev = this;
    ListNode* next = this;
    bool linked() const { return next != this; }
    void unlink() {
        prev->next = next;
        next->prev = prev;
        prev = next = this;
    }
    // links this node last in the list whose sentinel is `head`
    void link_before(ListNode& head) {
        prev = head.prev;
        next = &head;
        head.prev->next = this;
        head.prev = this;
    }
};

// The head is a sentinel; T must have a ListNode member given by `Member`.
template <typename T, ListNode T::*Member>
class IntrusiveList {
public:
    IntrusiveList() = default;
    IntrusiveList(const IntrusiveList&) = delete;
    IntrusiveList& operator=(const IntrusiveList&) = delete;

    bool empty() const { return !head_.linked(); }
    void push_back(T* t) {
        ListNode* n = &(t->*Member);
        n->prev = head_.prev;
        n->next = &head_;
        head_.prev->next = n;
        head_.prev = n;
    }
    void push_front(T* t) {
        ListNode* n = &(t->*Member);
        n->next = head_.next;
        n->prev = &head_;
        head_.next->prev = n;
        head_.next = n;
    }
    T* front() const { return empty() ? nullptr : from(head_.next); }
    T* pop_front() {
        if (empty()) return nullptr;
        ListNode* n = head_.next;
        n->unlink();
        return from(n);
    }
    static void remove(T* t) { (t->*Member).unlink(); }
    std::size_t size() const {
        std::size_t k = 0;
        for (const ListNode* n = head_.next; n != &head_; n = n->next) ++k;
        return k;
    }
    template <typename F>
    void for_each(F&& f) {
        for (ListNode* n = head_.next; n != &head_;) {
            ListNode* nx = n->next;
            f(from(n));
            n = nx;
        }
    }

private:
    static T* from(const ListNode* n) {
        // offset of the member inside T, computed without UB on a null object
        const std::size_t off = reinterpret_cast<std::size_t>(&(reinterpret_cast<T const volatile*>(0)->*Member));
        return reinterpret_cast<T*>(reinterpret_cast<char*>(const_cast<ListNode*>(n)) - off);
    }
    ListNode head_;
};

}  // namespace es::core
