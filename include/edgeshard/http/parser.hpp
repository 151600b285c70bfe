// HTTP/1.1 message parser (DESIGN.md §2 room http/): pure, no I/O, no allocation.
//
// Heads: parse_request()/parse_response() look at the bytes received so far for one message head
// (contiguous; the proxy copies a head that spans receive buffers into one head buffer). They
// return NeedMore until the empty line that ends the head arrives, then Done with views into the
// caller's bytes, or Error with the HTTP status to answer (400, 405, 413, 414, 431, 501, 505).
// `scanned` lets a caller that re-parses a growing head skip what was already searched, so a
// client dripping a head byte by byte costs O(n), not O(n^2).
//
// Framing is strict (RFC 9112 §6, §7; RFC 9110 §5): nothing ambiguous is ever forwarded. Rejected:
// Content-Length together with Transfer-Encoding, duplicate or invalid Content-Length (differing
// values, lists, signs, overflow), any Transfer-Encoding other than a single final `chunked`
// (requests; a response with a non-chunked coding is read until close), obs-fold, bare CR, NUL and
// other CTLs in names or values, whitespace before the colon, empty or non-token names, invalid
// methods (non-token), targets (CTL/space/non-ASCII, or a form the method does not allow) and
// versions (anything but HTTP/1.0 and HTTP/1.1 -> 505, malformed -> 400), a missing or duplicated
// Host on HTTP/1.1 (or a Host that differs from an absolute-form target's authority).
//
// Bodies: ChunkedScanner follows a chunked body across any segmentation without modifying it (the
// proxy forwards the framing as received once it is known to be valid) and says where the message
// ends, so pipelined bytes after it are kept for the next message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace es::http {

enum class Status : std::uint8_t { NeedMore, Done, Error };

enum class Method : std::uint8_t { Get, Head, Post, Put, Delete, Connect, Options, Trace, Patch, Other };

enum class BodyKind : std::uint8_t {
    None,        // no body: no framing header, Content-Length: 0, or a response that cannot have
                 // one (to HEAD, 1xx, 204, 304, a 2xx to CONNECT)
    Length,      // Content-Length bytes (content_length > 0)
    Chunked,     // Transfer-Encoding: chunked
    UntilClose,  // responses only: delimited by the server closing
};

// Connection header tokens, and the hop-by-hop headers the proxy removes (RFC 9110 §7.6.1).
enum ConnFlags : std::uint16_t {
    kConnClose = 1 << 0,      // "close" token
    kConnKeepAlive = 1 << 1,  // "keep-alive" token
    kConnUpgrade = 1 << 2,    // "upgrade" token
    kConnOther = 1 << 3,      // another token: a header of that name is hop-by-hop too (see Header::hop)
};

struct Header {
    std::string_view name;   // as received (case preserved); compare with iequals()
    std::string_view value;  // leading and trailing whitespace removed
    bool hop = false;        // hop-by-hop: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
                             // Transfer-Encoding (re-added by the proxy when it frames chunked),
                             // Upgrade (kept when the proxy forwards an upgrade), Proxy-Authorization
                             // is NOT hop (auth may read it; the proxy drops it after use), and any
                             // header named by a Connection token
    bool removed = false;    // for the caller: header ops mark headers removed instead of copying
};

struct Limits {
    std::uint32_t max_request_line = 8192;  // longer -> 414 (responses: 502 by the caller)
    std::uint32_t max_head = 16384;         // whole head incl. the empty line; more -> 431
    std::uint16_t max_headers = 101;        // HAProxy tune.http.maxhdr; more -> 431
    std::uint64_t max_body = 0;             // Content-Length over this -> 413 (0 = no limit)
};

inline constexpr std::size_t kMaxHeaders = 128;  // hard cap of the arrays below (>= Limits::max_headers)

struct MessageHead {
    std::uint8_t version = 11;  // 10 or 11
    BodyKind body = BodyKind::None;
    std::uint64_t content_length = 0;
    std::uint16_t conn = 0;      // ConnFlags from every Connection header
    std::uint32_t head_len = 0;  // bytes of the head including the final CRLF CRLF
    std::uint32_t head_start = 0;  // requests: empty lines skipped before the request line (RFC 9112
                                   // §2.2); they are part of head_len but not of the head forwarded
    std::uint16_t nheaders = 0;
    Header headers[kMaxHeaders];

    // the first header of that name (case-insensitive) not marked removed, or nullptr
    const Header* find(std::string_view name) const;
    Header* find(std::string_view name);
    // keep-alive after this message by the HTTP version and Connection tokens alone
    bool wants_keep_alive() const {
        return version == 11 ? !(conn & kConnClose) : (conn & kConnKeepAlive) && !(conn & kConnClose);
    }
};

struct RequestHead : MessageHead {
    Method method = Method::Other;
    std::string_view method_text;
    std::string_view target;     // as received
    std::string_view path;       // origin-form path (absolute-form: the path part), without the query
    std::string_view query;      // after '?', without it (empty if none)
    std::string_view authority;  // absolute-form or CONNECT authority, else empty
    std::string_view host;       // the Host header value (empty on HTTP/1.0 without one)
    bool absolute_form = false;  // a proxy request ("GET http://host/..."), answered 407 by auth
    bool expect_continue = false;  // Expect: 100-continue
    bool upgrade = false;          // Connection: upgrade with an Upgrade header (websocket & co)
};

struct ResponseHead : MessageHead {
    std::uint16_t status = 0;
    std::string_view reason;
    bool upgrade = false;  // 101 Switching Protocols
};

struct ParseResult {
    Status status = Status::NeedMore;
    std::uint16_t error = 0;        // HTTP status to answer when status == Error
    const char* why = "";           // short static reason for logs and tests ("duplicate Content-Length")
};

// `scanned`: in/out, bytes already searched for the end of the head (start with 0).
ParseResult parse_request(const char* data, std::size_t len, const Limits& lim, RequestHead& out,
                          std::size_t& scanned);
// `request_method`: HEAD and CONNECT change what a response body is (RFC 9112 §6.3).
// Errors are reported with 502 (the proxy answers the client with its 502 reply).
ParseResult parse_response(const char* data, std::size_t len, const Limits& lim, Method request_method,
                           ResponseHead& out, std::size_t& scanned);

// Follows a chunked body (RFC 9112 §7.1): sizes (hex, no sign, bounded), extensions (token[=token
// or quoted-string]), CRLF after data, last-chunk, trailer fields (validated like header fields,
// bounded by Limits::max_head), final CRLF. Bare LF is rejected.
class ChunkedScanner {
public:
    struct Step {
        Status status;       // NeedMore: all `len` bytes belong to the body so far; Done: the body
                             // ended after `used` bytes; Error: invalid framing at this point
        std::size_t used;    // bytes of this segment that belong to the body
        const char* why;
    };
    explicit ChunkedScanner(std::uint32_t max_trailers = 16384) : max_trailers_(max_trailers) {}
    Step feed(const char* data, std::size_t len);
    std::uint64_t payload() const { return payload_; }  // data bytes seen (without framing)
    void reset() { *this = ChunkedScanner(max_trailers_); }

private:
    std::uint32_t max_trailers_;
    std::uint8_t state_ = 0;
    std::uint8_t size_digits_ = 0;
    std::uint64_t remaining_ = 0;
    std::uint64_t payload_ = 0;
    std::uint32_t trailer_bytes_ = 0;
    std::uint32_t line_bytes_ = 0;
    std::uint8_t ext_state_ = 0;
};

// The data of a complete chunked body that a ChunkedScanner accepted (framing, extensions and
// trailers dropped), appended to `out`; false when `framed` is not such a body.
bool dechunk(std::string_view framed, std::string& out);

// helpers shared with the rules
bool iequals(std::string_view a, std::string_view b);
bool is_token(std::string_view s);          // RFC 9110 tchar+
Method method_of(std::string_view text);    // Other for an extension method
std::string_view reason_phrase(int status);  // "Not Found"; "" for an unknown code

}  // namespace es::http
