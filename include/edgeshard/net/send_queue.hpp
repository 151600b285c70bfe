// Output queues: what a connection side has to send, as a list of pieces sent with one SENDMSG
// (one send in flight per queue, a short send resumed where it stopped). A piece is a provided
// buffer (zero copy: the very buffer another side received into, back to the ring once sent), a
// pooled block (a written head, bytes carried over) or bytes the queue does not own (a configured
// reply) or owns as a string (a rendered page).
//
// An idle connection holds nothing: the pieces and the send's iovec live in an OutBlock taken
// from the shard's pool by the first push and given back once the queue is empty and no send is
// in flight (the kernel reads the iovec until the send completes).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>

#include "edgeshard/net/buf_ring.hpp"
#include "edgeshard/pool/pool.hpp"

namespace es::net {

struct ConnSide;
class SideIo;

// A pooled byte block: a message head being gathered or written, or bytes carried over to the
// next message. 32 KiB: the largest head the proxy accepts plus what rules may add.
struct Block {
    static constexpr std::uint32_t kCap = 32768;
    // user-provided: the pool's value-initialisation must not zero 32 KiB per block
    Block() {}  // NOLINT(modernize-use-equals-default)
    std::uint32_t len = 0;
    std::uint32_t off = 0;  // consumed prefix (gathering)
    bool queued = false;    // referenced by an output queue piece
    bool keep = false;      // kept after it is sent: its owner frees it (a request kept for a replay)
    char data[kCap];
};

// One piece of bytes waiting to be sent.
struct Seg {
    const char* p = nullptr;
    std::uint32_t len = 0;
    std::uint16_t bid = BufRing::kNone;  // a provided buffer: recycled when sent
    Block* hb = nullptr;                 // a block: back to its pool when sent (unless kept)
    std::string* str = nullptr;          // a rendered page: deleted when sent
};

struct OutBlock {
    static constexpr int kCap = 16;
    Seg seg[kCap];
    iovec iov[kCap];
    msghdr msg{};
};

struct SendQueue {
    static constexpr int kCap = OutBlock::kCap;
    OutBlock* blk = nullptr;    // taken by the first push, given back when empty and not sending
    std::uint32_t bytes = 0;    // queued, not yet sent
    std::uint32_t sending = 0;  // bytes of the send in flight
    std::uint8_t sending_n = 0; // pieces the send in flight reads (the first ones)
    std::uint8_t first = 0;
    std::uint8_t n = 0;
    bool inflight = false;
    bool broken = false;  // a piece could not be queued (no memory): the owner must close
    bool full() const { return n == kCap; }
    Seg& at(int i) { return blk->seg[(first + i) % kCap]; }  // requires blk (i.e. n > 0 or a push)
};

// The shard's output queues: their pools and operations.
class SendQueues {
public:
    SendQueues(BufRing& bufs, SideIo& io) : blocks("head_buffer"), outblocks("http_outq"), bufs_(bufs), io_(io) {}

    pool::ObjectPool<Block> blocks;
    pool::ObjectPool<OutBlock> outblocks;

    Block* new_block();  // empty, nullptr when the pool is at its limit or out of memory
    // A piece that cannot be queued (no memory for the queue's block) is freed at once and the
    // queue marked broken: the message it belonged to can no longer be delivered whole.
    void push(SendQueue& q, const Seg& sg);
    void free(Seg& sg);
    void drop(SendQueue& q);  // frees every piece (not while a send is in flight)
    void trim(SendQueue& q);  // an empty queue with no send in flight gives its block back
    // One SENDMSG of every queued piece to `to` (no MSG_WAITALL: each completion is progress the
    // peer made, which the inactivity timeouts count). False when nothing was queued.
    // `max_segs`: only the first pieces (TLS: the records, not the plaintext behind them).
    bool send(SendQueue& q, const ConnSide& to, std::uint64_t ud, int max_segs = SendQueue::kCap);
    // The send completed with `sent` bytes: they leave the front. True for a short send.
    bool sent(SendQueue& q, std::uint32_t sent);

private:
    BufRing& bufs_;
    SideIo& io_;
};

}  // namespace es::net
