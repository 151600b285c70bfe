// The shard's log ring: producer side (the consumer side is the drain() template in the header).
#include <bit>

#include "edgeshard/log/access_log.hpp"

namespace es::log {

Ring::Ring(std::size_t bytes) {
    std::size_t size = std::bit_ceil(bytes < 4096 ? std::size_t(4096) : bytes);
    buf_ = std::make_unique<char[]>(size);
    mask_ = size - 1;
}

char* Ring::begin_record(std::size_t max_len) {
    const std::size_t size = capacity();
    const std::size_t need = align8(sizeof(std::uint32_t) + max_len);
    // A record larger than half the ring could starve every other one; refuse it outright.
    if (need > size / 2) return nullptr;

    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::size_t off = std::size_t(head) & mask_;
    const std::size_t to_end = size - off;
    const std::size_t pad = need > to_end ? to_end : 0;

    if (head + pad + need - cached_tail_ > size) {
        cached_tail_ = tail_.load(std::memory_order_acquire);
        if (head + pad + need - cached_tail_ > size) return nullptr;
    }
    if (pad) {
        const std::uint32_t marker = kPad;
        std::memcpy(buf_.get() + off, &marker, sizeof marker);
    }
    res_pos_ = head + pad;
    res_max_ = max_len;
    return buf_.get() + (std::size_t(res_pos_) & mask_) + sizeof(std::uint32_t);
}

void Ring::commit_record(std::size_t len) {
    if (len > res_max_) len = res_max_;
    const std::uint32_t l = std::uint32_t(len);
    std::memcpy(buf_.get() + (std::size_t(res_pos_) & mask_), &l, sizeof l);
    head_.store(res_pos_ + align8(sizeof l + len), std::memory_order_release);
    res_max_ = 0;
}

bool Ring::push(std::string_view rec) {
    char* p = begin_record(rec.size());
    if (!p) return false;
    std::memcpy(p, rec.data(), rec.size());
    commit_record(rec.size());
    return true;
}

bool emit(Ring& ring, std::uint16_t frontend_id, const Format& fmt, const Fields& f, std::size_t max_line) {
    char* p = ring.begin_record(kRecordHeader + max_line);
    if (!p) return false;
    std::memcpy(p, &frontend_id, kRecordHeader);
    const std::size_t n = fmt.render(f, p + kRecordHeader, max_line);
    ring.commit_record(kRecordHeader + n);
    return true;
}

}  // namespace es::log
