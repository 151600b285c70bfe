// Access logs (DESIGN.md §2 room log/): a compiled log-format, the per-request fields a shard
// fills, and the shard's log ring. A shard formats one record straight into its ring (single
// producer); the control shard drains every ring (single consumer, log/sink.hpp) and writes to the
// configured targets. A full ring drops the record and the caller counts it: logging never blocks
// a shard and never allocates on the data path.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace es::log {

// What one request (HTTP) or one connection (TCP) leaves for its log line. Times in ms; -1 = did
// not happen (HAProxy prints -1). The views must stay valid until render() returns (they point into
// the shard's buffers and the config snapshot).
// One captured value (`capture request|response header`, `capture ... id`): len -1 when nothing
// was captured, 0 for an empty value.
struct Captured {
    const char* p = nullptr;
    int len = -1;
};

struct Fields {
    sockaddr_storage client{};         // %ci %cp (AF_UNSPEC prints "-", AF_UNIX prints "unix")
    sockaddr_storage frontend_addr{};  // %fi %fp (may be unset)
    sockaddr_storage server_addr{};    // %si %sp (unset when no server was reached)
    std::int64_t accept_epoch_ms = 0;  // %t %T %Tl %Ts %ms: wall clock of the accept
    std::int64_t request_epoch_ms = 0; // %tr: wall clock of the first request byte; 0 = accept time
    std::string_view frontend;         // %f %ft
    std::string_view backend;          // %b
    std::string_view server;           // %s ("<NOSRV>" when none)
    std::int64_t TR = -1, Tw = -1, Tc = -1, Tr = -1, Ta = -1, Tt = -1;  // %TR %Tw %Tc %Tr %Ta %Tt
    std::int64_t Th = 0, Ti = 0;  // %Th handshake (first request of a connection), %Ti idle before the request
    int status = -1;                   // %ST
    std::uint64_t bytes_read = 0;      // %B (bytes sent to the client)
    std::uint64_t bytes_uploaded = 0;  // %U
    char term[5] = "----";             // %ts (first 2 chars) / %tsc (all 4)
    int actconn = 0, feconn = 0, beconn = 0, srv_conn = 0, retries = 0;  // %ac %fc %bc %sc %rc
    int srv_queue = 0, backend_queue = 0;  // %sq %bq
    std::string_view method;           // %HM
    std::string_view uri;              // %HU (target as received)
    std::string_view version;          // %HV "HTTP/1.1"
    std::string_view request_line;     // %r ("GET / HTTP/1.1"; empty prints "<BADREQ>")
    std::string_view path;             // %HP
    std::string_view query;            // %HQ, with its leading '?' as HAProxy prints it
    std::string_view unique_id;        // %ID (empty prints "-", or "" quoted)
    std::int64_t rt = -1;              // %rt: the request's counter (-1 prints "-")
    bool http = true;
    bool ssl = false;                  // %ft appends '~'
    // the frontend's capture slots of this exchange (%hr %hs %hrl %hsl, capture.req|res.hdr(N));
    // none: the blocks are not printed (no slots, or a request that never began: <BADREQ>)
    const Captured* req_caps = nullptr;
    const Captured* rsp_caps = nullptr;
    std::uint16_t n_req_caps = 0, n_rsp_caps = 0;
    std::string_view cli_cookie, srv_cookie;  // %CC %CS (`capture cookie`; "-" when empty)
    // the values of the format's sample expressions (Format::samples(), in order), evaluated by the
    // proxy at log time; an empty one prints "-"
    const std::string_view* samples = nullptr;
    std::size_t n_samples = 0;
};

// A log-format string compiled once at boot. Supported: literal text, "%%", a run of spaces
// (HAProxy's separator: one space, none after a variable that printed nothing), variables
//   %ci %cp %fi %fp %si %sp %t %tr %T %Tl %Ts %ms %pid %H %ft %f %b %s %TR %Tw %Tc %Tr %Ta %Tt
//   %Th %Ti %Tq %Td %Tu
//   %ST %B %U %ts %tsc %ac %fc %bc %sc %rc %sq %bq %HM %HU %HV %HP %HQ %r
//   %hr %hs %hrl %hsl (captures, HAProxy's #XX escaping) %CC %CS (`capture cookie`, "-" without)
//   %[capture.req.hdr(N)] %[capture.res.hdr(N)] (the only sample expressions read here)
// and flags before a variable in braces: %{+Q}r quotes, %{+X}B prints hex, %{+E}HU escapes '"',
// '\' and ']' with a backslash; "-Q"/"-X"/"-E" clear them. Strings that come from the network
// (%r %HM %HU %HV %HP %HQ) have control characters, bytes >= 0x7f, '"' and '#' written as "#XX"
// (HAProxy's encoding), so a log line never carries a line break.
class Format {
public:
    Format() = default;  // renders nothing
    // Throws std::runtime_error naming the offending variable, flag or construct.
    explicit Format(std::string_view fmt);

    // Writes one line (no trailing newline) into out and returns the bytes written; stops at cap
    // (a truncated line is still a valid prefix). Allocates nothing; the date of the current
    // second is formatted once per thread and then copied.
    std::size_t render(const Fields& f, char* out, std::size_t cap) const;

    bool empty() const { return items_.empty(); }
    bool uses_frontend_addr() const;  // %fi or %fp: the address the client connected to
    // the sample expressions %[...] the proxy evaluates at log time (all but the capture.*.hdr ones)
    const std::vector<std::string>& samples() const { return samples_; }
    const std::string& source() const { return source_; }

    enum class Var : std::uint8_t;  // defined in format.cpp

private:
    struct Item {
        Var var;
        std::uint8_t flags;
        std::uint32_t off, len;  // literal text: a slice of text_
    };
    std::vector<Item> items_;
    std::string text_;
    std::string source_;
    std::vector<std::string> samples_;
};

// HAProxy's predefined formats (option httplog / option tcplog).
extern const std::string_view kHttpLogFormat;
extern const std::string_view kTcpLogFormat;

// HAProxy's default maximum log line length ("len" on a log line).
inline constexpr std::size_t kMaxLine = 1024;

// Single-producer single-consumer byte ring of records.
//
//   buf_: | len u32 | payload ... | pad to 8 | len u32 | payload | ... | kPad u32 ...(to end) |
//           ^ tail_ (consumer)                         ^ head_ (producer)
//
// head_ and tail_ are byte positions that only grow (u64, never wrap in practice); a position
// maps to buf_[pos & mask_]. A record never straddles the end: when it would, the producer writes
// a padding marker and starts the record at offset 0. The producer publishes with a release store
// of head_, the consumer releases the space with a release store of tail_; each side reads the
// other's position with acquire and caches it, so an uncontended push touches no shared line.
class Ring {
public:
    // bytes: rounded up to a power of two, at least 4096. Boot time: allocates.
    explicit Ring(std::size_t bytes);
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    std::size_t capacity() const { return mask_ + 1; }

    // Producer. Reserves room for a payload of up to max_len bytes and returns where to write it,
    // or nullptr when the ring cannot hold it now (drop and count). At most one reservation is open.
    char* begin_record(std::size_t max_len);
    // Producer. Publishes the open reservation with len <= max_len bytes of payload.
    void commit_record(std::size_t len);
    // Producer. Copies rec in one record; false (record dropped) when it does not fit.
    bool push(std::string_view rec);

    // Consumer: calls fn(std::string_view) for every record published before the call, in order,
    // then frees their space; returns how many. The views are valid only during fn.
    template <typename Fn>
    std::size_t drain(Fn&& fn);

private:
    static constexpr std::uint32_t kPad = 0xffffffffu;
    static constexpr std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t(7); }

    std::unique_ptr<char[]> buf_;
    std::size_t mask_ = 0;
    alignas(64) std::atomic<std::uint64_t> head_{0};  // written by the producer
    std::uint64_t cached_tail_ = 0;                   // producer's last view of tail_
    std::uint64_t res_pos_ = 0;                       // open reservation: record start
    std::size_t res_max_ = 0;
    alignas(64) std::atomic<std::uint64_t> tail_{0};  // written by the consumer
    std::uint64_t cached_head_ = 0;                   // consumer's last view of head_
};

template <typename Fn>
std::size_t Ring::drain(Fn&& fn) {
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    std::uint64_t t = tail_.load(std::memory_order_relaxed);
    cached_head_ = head;
    if (t == head) return 0;  // nothing new: leave tail_'s cache line to the producer
    std::size_t n = 0;
    while (t < head) {
        const std::size_t off = std::size_t(t) & mask_;
        std::uint32_t len;
        std::memcpy(&len, buf_.get() + off, sizeof len);
        if (len == kPad) {
            t += capacity() - off;
            continue;
        }
        fn(std::string_view(buf_.get() + off + sizeof len, len));
        t += align8(sizeof len + len);
        ++n;
    }
    tail_.store(t, std::memory_order_release);
    return n;
}

// An access-log record in a ring: u16 frontend id (host order), then the rendered line.
inline constexpr std::size_t kRecordHeader = sizeof(std::uint16_t);

// Renders one record for frontend_id straight into the ring (no intermediate copy). False when the
// ring is full: the record is dropped and the caller counts it (FrontendCounters::log_drops).
// Publishes the local time's offset from UTC for the log dates of every thread (control thread:
// at boot and then every tick, so a daylight-saving change shows within a second). Data shards
// only read it: they break dates down in plain arithmetic and never call localtime_r, which takes
// glibc's timezone lock.
void publish_utc_offset();

bool emit(Ring& ring, std::uint16_t frontend_id, const Format& fmt, const Fields& f,
          std::size_t max_line = kMaxLine);

// Splits a record popped from a ring; false when it is too short to carry a frontend id.
inline bool split_record(std::string_view rec, std::uint16_t& frontend_id, std::string_view& line) {
    if (rec.size() < kRecordHeader) return false;
    std::memcpy(&frontend_id, rec.data(), kRecordHeader);
    line = rec.substr(kRecordHeader);
    return true;
}

}  // namespace es::log
