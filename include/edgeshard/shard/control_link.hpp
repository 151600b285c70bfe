// Messages from the data shards to the control shard (DESIGN.md §1: cross-shard work is a
// message): one bounded SPSC mailbox per data shard (that shard produces, the control thread
// consumes) and one doorbell, an eventfd the control shard's poll(2) watches.
//
// The doorbell follows mailbox.hpp's protocol, with the control shard as the receiver:
//   shard:   post(): push; seq_cst fence; write the eventfd only if the control shard sleeps.
//   control: sleep() before poll(2): sleeping = true; seq_cst fence; true when a mailbox already
//            holds a message (then poll with a zero timeout); wake() after poll(2): sleeping =
//            false and the eventfd drained.
// Either the shard sees `sleeping` and rings, or the control shard sees the message: no lost
// wake-up, and no write(2) on the data path while the control shard is busy anyway.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "edgeshard/shard/mailbox.hpp"

namespace es::shard {

class ControlLink {
public:
    // Throws std::runtime_error when the eventfd cannot be created.
    explicit ControlLink(std::size_t shards, std::uint32_t capacity_pow2 = 256);
    ~ControlLink();
    ControlLink(const ControlLink&) = delete;
    ControlLink& operator=(const ControlLink&) = delete;

    std::size_t shards() const { return boxes_.size(); }

    // Shard `shard` only (each mailbox has one producer). False when its mailbox is full: the
    // message was not taken and the caller still owns what it points to.
    bool post(std::size_t shard, const Message& m);

    // Control thread only.
    int fd() const { return fd_; }
    bool sleep();
    void wake();
    bool pop(std::size_t shard, Message& m) { return boxes_[shard]->pop(m); }

private:
    std::vector<std::unique_ptr<Mailbox>> boxes_;
    int fd_ = -1;
    alignas(64) std::atomic<bool> sleeping_{false};
};

}  // namespace es::shard
