// The statistics pages served over HTTP (`stats uri` with its ;csv / ;json exports, and the
// prometheus-exporter service) on the wire between a data shard and the control shard.
//
// A data shard never reads another shard's counters and takes no lock: it asks the control shard,
// which owns the snapshot (it builds the same one for `show stat`), renders the page and sends the
// whole HTTP response back.
//
//   data shard -> control  Message::kPageRequest  a = PageRequest*   b = handle (48 bits)
//   control -> data shard  Message::kPageAnswer   a = std::string* (the whole response) or 0
//                                                 b = the same handle | status << 48
//
// What `a` points to is owned by the message: allocated by the sender, deleted by the receiver,
// or by whoever holds a message it cannot deliver (release_page_message). The data shard queues
// the response string as it is and deletes it once sent. The handle is the data shard's
// (PageWaits in proxy/page_waits.hpp), opaque to the control shard, which returns it unchanged:
// with it the shard finds the waiting session, or learns that it is gone and deletes the answer.
// An answer without a response means "no page" (the shard replies 503): status 0 when the request
// was past kPageWaitMs when the control shard got to it (not rendered; the shard counts a
// timeout), 503 when it could not be rendered.
//
// Bounds: at most kPageWaitSlots sessions of a shard wait (more get 503 at once); a session waits
// at most kPageWaitMs for its answer, then gets 503 (as HAProxy answers when a service is
// unavailable); a page larger than kMaxPageBytes is refused by the control shard with a 500 that
// says so. At 64 MiB, the JSON export (~7.5 KB per object) holds about
// 8,900 objects, the Prometheus page (~3.2 KB per server) about 21,000 servers, the CSV and
// HTML pages (~0.2 and ~0.4 KB per object) well over 100,000.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgeshard/shard/mailbox.hpp"

namespace es::proxy {

enum class PageKind : std::uint8_t {
    Stats = 0,       // the `stats uri` page: HTML, or an export chosen by the target's suffix
    Prometheus = 1,  // `http-request use-service prometheus-exporter`
};

struct PageRequest {
    PageKind kind = PageKind::Stats;
    bool head = false;           // a HEAD request: the same headers, no body
    std::uint32_t frontend = 0;  // the frontend that received the request (its `stats uri`)
    std::int64_t asked_ms = 0;   // core::now_ms() when asked: older than kPageWaitMs, nobody waits
    std::string target;          // the request target as received
    int backend = -1;            // >= 0: the backend whose `stats` page this is (else the frontend's)
    bool admin = false;          // the `stats admin` level: the page shows its forms
    bool post = false;           // a POST of the admin form: run `body`'s actions, answer a 303
    std::string body;            // the POST's body (its chunked framing removed)
    std::uint32_t body_room = 0;  // (the data shard's) body bytes that fit before EXCD
};

// What HAProxy keeps free in a buffer for rewrites (tune.maxrewrite, 1024) and its message
// structure (about 100 bytes): a stats POST whose head and body take more of tune.bufsize is EXCD.
inline constexpr std::size_t kPostReserve = 1120;

// What the control shard renders for one request.
struct PageAnswer {
    int status = 200;
    std::string response;  // status line, headers and body, ready to send
};

inline constexpr std::size_t kPageWaitSlots = 64;
inline constexpr std::int64_t kPageWaitMs = 2000;
inline constexpr std::size_t kMaxPageBytes = std::size_t(64) << 20;
inline constexpr std::uint64_t kPageHandleMask = (std::uint64_t(1) << 48) - 1;

// The answer message; `response` (null: no page) moves into it.
inline shard::Message page_answer(std::uint64_t handle, int status, std::string* response) {
    return shard::Message{shard::Message::kPageAnswer, reinterpret_cast<std::uint64_t>(response),
                          (handle & kPageHandleMask) | (std::uint64_t(std::uint16_t(status)) << 48)};
}
inline std::uint64_t answer_handle(const shard::Message& m) { return m.b & kPageHandleMask; }
inline int answer_status(const shard::Message& m) { return int(m.b >> 48); }

// Deletes what a page message owns (any other message owns nothing).
inline void release_page_message(const shard::Message& m) {
    if (m.kind == shard::Message::kPageRequest) delete reinterpret_cast<PageRequest*>(m.a);
    if (m.kind == shard::Message::kPageAnswer) delete reinterpret_cast<std::string*>(m.a);
}

}  // namespace es::proxy
