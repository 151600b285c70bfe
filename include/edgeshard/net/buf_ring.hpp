// The shard's provided-buffer ring (DESIGN.md §3 step 4): one ring of fixed-size buffers shared
// by every multishot recv of the shard, so an idle connection holds no buffer at all.
//
// A recv CQE names the buffer it filled (bid); the buffer belongs to the application until
// recycle(bid), which puts it on a LIFO stack; publish(), once per turn, tops the kernel-visible
// ring up from that stack with one store.
//
// The kernel takes buffers in ring order, so a ring holding every buffer would cycle through all
// of them (64 MiB with the defaults): each small receive would land in a buffer not touched for
// thousands of receives, and its copy would miss the caches and the TLB. The ring therefore holds
// only a working set: twice the most buffers taken in a recent turn plus some slack, the most
// recently returned (hot) buffers first. A turn that empties the ring doubles the working set, so
// a burst costs at most one ENOBUFS round before the ring is large enough; it decays slowly. Each buffer also carries a small side record
// (next/len/off) so a connection can queue received buffers as a linked list without allocating.
#pragma once

#include <liburing.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>

namespace es::net {

// Received buffers queued on a connection, in order, linked through the ring's side records (no
// allocation): bytes waiting to be parsed, or (L4) waiting to be sent as they came.
struct BufChain {
    static constexpr std::uint16_t kNone = 0xffff;
    std::uint16_t head = kNone;
    std::uint16_t tail = kNone;
    std::uint32_t bytes = 0;
    std::uint16_t nbufs = 0;
    bool empty() const { return head == kNone; }
};

class BufRing {
public:
    static constexpr std::uint16_t kNone = 0xffff;

    // count: power of two <= 32768; size: bytes per buffer. Throws std::runtime_error.
    BufRing(io_uring* ring, std::uint16_t group, unsigned count, unsigned size);
    ~BufRing();
    BufRing(const BufRing&) = delete;
    BufRing& operator=(const BufRing&) = delete;

    std::uint16_t group() const { return group_; }
    unsigned count() const { return count_; }
    unsigned size() const { return size_; }
    unsigned out() const { return out_; }              // held by the application
    unsigned available() const { return count_ - out_; }

    char* data(std::uint16_t bid) const { return base_ + std::size_t(bid) * size_; }
    void taken(std::uint16_t) {  // a CQE handed us this buffer
        ++out_;
        ++taken_turn_;
        if (in_ring_ > 0) --in_ring_;
    }
    void recycle(std::uint16_t bid) {
        spare_[nspare_++] = bid;
        --out_;
    }
    void publish() {
        if (in_ring_ == 0 && taken_turn_ > 0) {
            peak_ = peak_ * 2 > count_ ? count_ : peak_ * 2;  // drained this turn: grow at once
        } else if (taken_turn_ > peak_) {
            peak_ = taken_turn_;
        } else {
            peak_ -= (peak_ - taken_turn_) >> 6;
        }
        taken_turn_ = 0;
        unsigned target = 2 * peak_ + kSlack;
        if (target < kMinRing) target = kMinRing;
        if (target > count_) target = count_;
        unsigned n = 0;
        const int mask = io_uring_buf_ring_mask(count_);
        while (in_ring_ < target && nspare_ > 0) {
            const std::uint16_t bid = spare_[--nspare_];
            io_uring_buf_ring_add(br_, data(bid), size_, bid, mask, int(n));
            ++n;
            ++in_ring_;
        }
        if (n) io_uring_buf_ring_advance(br_, int(n));
    }
    unsigned in_ring() const { return in_ring_; }  // buffers the kernel may fill now

    // side records for queueing buffers per connection
    struct Rec {
        std::uint16_t next;
        std::uint32_t off;
        std::uint32_t len;
    };
    Rec& rec(std::uint16_t bid) { return recs_[bid]; }

    // Queues a buffer a CQE filled with `len` bytes at the end of `q`.
    void push(BufChain& q, std::uint16_t bid, std::uint32_t len) {
        Rec& r = recs_[bid];
        r.next = kNone;
        r.off = 0;
        r.len = len;
        if (q.tail == kNone) q.head = bid;
        else recs_[q.tail].next = bid;
        q.tail = bid;
        q.bytes += len;
        ++q.nbufs;
    }
    // Unlinks the first buffer (the caller owns it: recycle it or keep it).
    std::uint16_t pop(BufChain& q) {
        const std::uint16_t b = q.head;
        q.head = recs_[b].next;
        if (q.head == kNone) q.tail = kNone;
        q.bytes -= recs_[b].len;
        --q.nbufs;
        return b;
    }
    // Moves the first buffer of `from` to the end of `to`, with what of it is left (its offset kept).
    void move_front(BufChain& from, BufChain& to) {
        const std::uint16_t b = pop(from);
        Rec& r = recs_[b];
        r.next = kNone;
        if (to.tail == kNone) to.head = b;
        else recs_[to.tail].next = b;
        to.tail = b;
        to.bytes += r.len;
        ++to.nbufs;
    }
    void drop(BufChain& q) {
        while (!q.empty()) recycle(pop(q));
    }
    // Points up to `max` iovecs at the chain's bytes, in order; returns how many, `total` the bytes.
    int fill_iov(const BufChain& q, iovec* iov, int max, std::uint32_t& total) const {
        int n = 0;
        total = 0;
        for (std::uint16_t b = q.head; b != kNone && n < max; b = recs_[b].next) {
            const Rec& r = recs_[b];
            iov[n].iov_base = data(b) + r.off;
            iov[n].iov_len = r.len;
            total += r.len;
            ++n;
        }
        return n;
    }
    // `n` bytes from the front were sent: buffers sent whole go back to the ring, a buffer sent
    // in part keeps its unsent tail at the front (a short send resumes there).
    void consume(BufChain& q, std::uint32_t n) {
        while (n > 0 && !q.empty()) {
            Rec& r = recs_[q.head];
            const std::uint32_t take = n < r.len ? n : r.len;
            r.off += take;
            r.len -= take;
            n -= take;
            q.bytes -= take;
            if (r.len == 0) {
                const std::uint16_t b = q.head;
                q.head = r.next;
                if (q.head == kNone) q.tail = kNone;
                --q.nbufs;
                recycle(b);
            }
        }
    }

private:
    io_uring* ring_;
    io_uring_buf_ring* br_ = nullptr;
    std::size_t ring_bytes_ = 0;
    char* base_ = nullptr;
    std::size_t data_bytes_ = 0;
    std::uint16_t group_;
    unsigned count_, size_;
    unsigned out_ = 0;
    static constexpr unsigned kMinRing = 64, kSlack = 32;
    unsigned in_ring_ = 0;      // handed to the kernel and not yet taken
    unsigned taken_turn_ = 0;   // taken since the last publish()
    unsigned peak_ = kMinRing;  // recent most taken in a turn
    unsigned nspare_ = 0;
    std::unique_ptr<std::uint16_t[]> spare_;  // returned buffers, most recent on top
    std::unique_ptr<Rec[]> recs_;
};

}  // namespace es::net
