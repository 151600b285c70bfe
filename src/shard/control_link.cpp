#include "edgeshard/shard/control_link.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace es::shard {

ControlLink::ControlLink(std::size_t shards, std::uint32_t capacity_pow2) {
    for (std::size_t i = 0; i < shards; ++i) boxes_.push_back(std::make_unique<Mailbox>(capacity_pow2));
    fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
}

ControlLink::~ControlLink() {
    if (fd_ >= 0) ::close(fd_);
}

bool ControlLink::post(std::size_t shard, const Message& m) {
    if (!boxes_[shard]->push(m)) return false;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed)) {
        const std::uint64_t one = 1;
        const ssize_t w = ::write(fd_, &one, sizeof one);
        (void)w;  // EAGAIN: the counter is already non-zero, the control shard wakes anyway
    }
    return true;
}

bool ControlLink::sleep() {
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (const auto& b : boxes_)
        if (!b->empty_for_consumer()) return true;
    return false;
}

void ControlLink::wake() {
    sleeping_.store(false, std::memory_order_relaxed);
    std::uint64_t n;
    const ssize_t r = ::read(fd_, &n, sizeof n);
    (void)r;  // EAGAIN: nobody rang
}

}  // namespace es::shard
