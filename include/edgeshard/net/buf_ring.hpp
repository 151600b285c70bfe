// The shard's provided-buffer ring (DESIGN.md §3 step 4): one ring of fixed-size buffers shared
// by every multishot recv of the shard, so an idle connection holds no buffer at all.
//
// A recv CQE names the buffer it filled (bid); the buffer belongs to the application until
// recycle(bid), which queues it for the kernel; publish() makes every queued buffer visible with
// one store, and the loop calls it once per turn. Each buffer also carries a small side record
// (next/len/off) so a connection can queue received buffers as a linked list without allocating.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>

namespace es::net {

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
    void taken(std::uint16_t) { ++out_; }  // a CQE handed us this buffer
    void recycle(std::uint16_t bid) {
        io_uring_buf_ring_add(br_, data(bid), size_, bid, io_uring_buf_ring_mask(count_), int(pending_));
        ++pending_;
        --out_;
    }
    void publish() {
        if (pending_) {
            io_uring_buf_ring_advance(br_, int(pending_));
            pending_ = 0;
        }
    }

    // side records for queueing buffers per connection
    struct Rec {
        std::uint16_t next;
        std::uint32_t off;
        std::uint32_t len;
    };
    Rec& rec(std::uint16_t bid) { return recs_[bid]; }

private:
    io_uring* ring_;
    io_uring_buf_ring* br_ = nullptr;
    std::size_t ring_bytes_ = 0;
    char* base_ = nullptr;
    std::size_t data_bytes_ = 0;
    std::uint16_t group_;
    unsigned count_, size_;
    unsigned out_ = 0;
    unsigned pending_ = 0;
    std::unique_ptr<Rec[]> recs_;
};

}  // namespace es::net
