#include "edgeshard/net/send_queue.hpp"

#include <algorithm>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/net/conn_side.hpp"

namespace es::net {

Block* SendQueues::new_block() {
    Block* b = blocks.make();
    if (b) {
        b->len = 0;
        b->off = 0;
    }
    return b;
}

void SendQueues::push(SendQueue& q, const Seg& sg) {
    ES_ASSERT(!q.full());
    if (!q.blk) {
        q.blk = outblocks.make();
        if (!q.blk) {
            Seg lost = sg;
            free(lost);
            q.broken = true;
            return;
        }
        q.first = 0;
    }
    if (sg.hb) sg.hb->queued = true;
    q.at(q.n) = sg;
    ++q.n;
    q.bytes += sg.len;
}

void SendQueues::trim(SendQueue& q) {
    if (q.blk && q.n == 0 && !q.inflight) {
        outblocks.destroy(q.blk);
        q.blk = nullptr;
        q.first = 0;
    }
}

void SendQueues::free(Seg& sg) {
    if (sg.bid != BufRing::kNone) bufs_.recycle(sg.bid);
    if (sg.hb) {
        sg.hb->queued = false;
        if (!sg.hb->keep) blocks.destroy(sg.hb);
    }
    delete sg.str;
    sg = Seg{};
}

void SendQueues::drop(SendQueue& q) {
    while (q.n > 0) {
        free(q.at(0));
        q.first = std::uint8_t((q.first + 1) % SendQueue::kCap);
        --q.n;
    }
    q.first = 0;
    q.bytes = 0;
    trim(q);
}

bool SendQueues::send(SendQueue& q, const ConnSide& to, std::uint64_t ud, int max_segs) {
    if (q.inflight || q.n == 0 || to.slot < 0 || max_segs <= 0) return false;
    OutBlock& b = *q.blk;
    int k = 0;
    std::uint32_t total = 0;
    const int segs = std::min<int>(q.n, max_segs);
    for (; k < segs; ++k) {
        Seg& sg = q.at(k);
        b.iov[k].iov_base = const_cast<char*>(sg.p);
        b.iov[k].iov_len = sg.len;
        total += sg.len;
    }
    b.msg = msghdr{};
    b.msg.msg_iov = b.iov;
    b.msg.msg_iovlen = std::size_t(k);
    q.sending = total;
    q.sending_n = std::uint8_t(k);
    io_.sendmsg(to, &b.msg, 0, ud);
    q.inflight = true;
    return true;
}

bool SendQueues::sent(SendQueue& q, std::uint32_t sent) {
    q.inflight = false;
    const bool short_send = sent < q.sending;
    while (sent > 0 && q.n > 0) {
        Seg& sg = q.at(0);
        const std::uint32_t take = std::min(sent, sg.len);
        sg.p += take;
        sg.len -= take;
        sent -= take;
        q.bytes -= take;
        if (sg.len == 0) {
            free(sg);
            q.first = std::uint8_t((q.first + 1) % SendQueue::kCap);
            --q.n;
        }
    }
    trim(q);
    return short_send;
}

}  // namespace es::net
