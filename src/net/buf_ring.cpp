#include "edgeshard/net/buf_ring.hpp"

#include <sys/mman.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace es::net {

BufRing::BufRing(io_uring* ring, std::uint16_t group, unsigned count, unsigned size)
    : ring_(ring), group_(group), count_(count), size_(size), recs_(new Rec[count]) {
    if (count == 0 || (count & (count - 1)) || count > 32768)
        throw std::runtime_error("buffer ring size must be a power of two <= 32768");
    ring_bytes_ = sizeof(io_uring_buf) * count;
    void* r = mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) throw std::runtime_error(std::string("mmap buffer ring: ") + std::strerror(errno));
    br_ = static_cast<io_uring_buf_ring*>(r);
    // buffer memory is mapped by the shard thread after pinning and memory binding, so first touch
    // places it on the shard's NUMA node; pages are only faulted in when a buffer is first used
    data_bytes_ = std::size_t(count) * size;
    void* d = mmap(nullptr, data_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (d == MAP_FAILED) {
        munmap(r, ring_bytes_);
        throw std::runtime_error(std::string("mmap buffers: ") + std::strerror(errno));
    }
    base_ = static_cast<char*>(d);
    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<unsigned long>(br_);
    reg.ring_entries = count;
    reg.bgid = group;
    const int ret = io_uring_register_buf_ring(ring_, &reg, 0);
    if (ret != 0) {
        munmap(d, data_bytes_);
        munmap(r, ring_bytes_);
        throw std::runtime_error(std::string("io_uring_register_buf_ring: ") + std::strerror(-ret));
    }
    // every buffer starts on the spare stack, low ids on top; the first publish() fills the ring
    spare_.reset(new std::uint16_t[count]);
    for (unsigned i = 0; i < count; ++i) spare_[i] = std::uint16_t(count - 1 - i);
    nspare_ = count;
    publish();
}

BufRing::~BufRing() {
    io_uring_unregister_buf_ring(ring_, group_);
    munmap(base_, data_bytes_);
    munmap(br_, ring_bytes_);
}

}  // namespace es::net
