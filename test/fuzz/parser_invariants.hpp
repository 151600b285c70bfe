// Invariants of the HTTP/1.1 parsers (include/edgeshard/http/parser.hpp), checked on arbitrary
// input. Shared by the libFuzzer target (parser_fuzz.cpp, traps on a violation) and the unit test
// that replays the seed corpus under the normal build (test/unit/http/corpus_test.cpp).
//
// check_parsers(data, size) returns nullptr when every invariant holds, else a static description
// of the first one violated. What it checks, for two sets of limits (defaults and small ones):
//  - parse_request and parse_response (for a GET, a HEAD and a CONNECT) on the whole input: a
//    status from the documented set, head_len <= size, every view inside the head, the framing
//    fields consistent with the headers and with RFC 9112 §6;
//  - the same parsers fed in pieces (split points derived from the input, `scanned` carried over):
//    a verdict reached on a prefix equals the one-shot verdict (status, error, reason, every field),
//    and a head still open after the last piece is not one the one-shot parse accepted;
//  - ChunkedScanner on the whole input, in pieces and byte by byte: same status, same `used` in
//    total, same payload count, used <= size, and a Done body ends with CRLF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "edgeshard/http/parser.hpp"

namespace es::http::fuzz {

#define ES_INVARIANT(cond, msg)  \
    do {                         \
        if (!(cond)) return msg; \
    } while (0)

inline bool view_inside(std::string_view v, const char* base, std::size_t len) {
    if (v.empty()) return true;
    return v.data() >= base && v.data() + v.size() <= base + len;
}

inline bool same_view(std::string_view a, std::string_view b) {
    return a.data() == b.data() && a.size() == b.size();
}

inline bool same_result(const ParseResult& a, const ParseResult& b) {
    return a.status == b.status && a.error == b.error && std::strcmp(a.why, b.why) == 0;
}

inline bool same_message(const MessageHead& a, const MessageHead& b) {
    if (a.version != b.version || a.body != b.body || a.content_length != b.content_length ||
        a.conn != b.conn || a.head_len != b.head_len || a.head_start != b.head_start ||
        a.nheaders != b.nheaders)
        return false;
    for (std::uint16_t i = 0; i < a.nheaders; ++i) {
        const Header& x = a.headers[i];
        const Header& y = b.headers[i];
        if (!same_view(x.name, y.name) || !same_view(x.value, y.value) || x.hop != y.hop ||
            x.removed != y.removed)
            return false;
    }
    return true;
}

inline bool same_request(const RequestHead& a, const RequestHead& b) {
    return same_message(a, b) && a.method == b.method && same_view(a.method_text, b.method_text) &&
           same_view(a.target, b.target) && same_view(a.path, b.path) && same_view(a.query, b.query) &&
           same_view(a.authority, b.authority) && same_view(a.host, b.host) &&
           a.absolute_form == b.absolute_form && a.expect_continue == b.expect_continue &&
           a.upgrade == b.upgrade;
}

inline bool same_response(const ResponseHead& a, const ResponseHead& b) {
    return same_message(a, b) && a.status == b.status && same_view(a.reason, b.reason) &&
           a.upgrade == b.upgrade;
}

inline bool clean_value(std::string_view v) {
    if (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t'))
        return false;
    for (char c : v) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
    }
    return true;
}

// Fields common to both heads, once Done.
inline const char* check_message(const MessageHead& h, const char* data, std::size_t len, const Limits& lim) {
    ES_INVARIANT(h.head_len <= len, "head_len beyond the input");
    ES_INVARIANT(h.head_start + 4 <= h.head_len, "head shorter than a start line and an empty line");
    ES_INVARIANT(std::memcmp(data + h.head_len - 4, "\r\n\r\n", 4) == 0, "head does not end with CRLF CRLF");
    ES_INVARIANT(h.head_len - h.head_start <= lim.max_head, "head over max_head accepted");
    ES_INVARIANT(h.nheaders <= lim.max_headers && h.nheaders <= kMaxHeaders, "more headers than allowed");
    ES_INVARIANT(h.version == 10 || h.version == 11, "version neither 1.0 nor 1.1");
    const char* head = data + h.head_start;
    const std::size_t head_len = h.head_len - h.head_start;
    bool cl = false, te = false;
    for (std::uint16_t i = 0; i < h.nheaders; ++i) {
        const Header& x = h.headers[i];
        ES_INVARIANT(is_token(x.name), "header name is not a token");
        ES_INVARIANT(view_inside(x.name, head, head_len) && view_inside(x.value, head, head_len),
                     "header view outside the head");
        ES_INVARIANT(clean_value(x.value), "header value untrimmed or with a control character");
        ES_INVARIANT(!x.removed, "parser marked a header removed");
        if (iequals(x.name, "content-length")) {
            ES_INVARIANT(!cl, "two Content-Length accepted");
            cl = true;
        }
        if (iequals(x.name, "transfer-encoding")) {
            te = true;
            ES_INVARIANT(x.hop, "Transfer-Encoding not hop-by-hop");
        }
        if (iequals(x.name, "connection") || iequals(x.name, "keep-alive") || iequals(x.name, "upgrade"))
            ES_INVARIANT(x.hop, "Connection/Keep-Alive/Upgrade not hop-by-hop");
        if (iequals(x.name, "host") || iequals(x.name, "content-length"))
            ES_INVARIANT(!x.hop, "Host or Content-Length marked hop-by-hop");
    }
    ES_INVARIANT(!(cl && te), "Content-Length with Transfer-Encoding accepted");
    if (h.body == BodyKind::Chunked) ES_INVARIANT(te, "chunked body without Transfer-Encoding");
    if (h.body == BodyKind::Length)
        ES_INVARIANT(cl && h.content_length > 0, "Length body without Content-Length");
    if (te) ES_INVARIANT(h.version == 11, "Transfer-Encoding accepted in HTTP/1.0");
    return nullptr;
}

inline const char* check_request(const RequestHead& h, const ParseResult& r, const char* data,
                                 std::size_t len, const Limits& lim) {
    if (r.status == Status::Error) {
        const auto e = r.error;
        ES_INVARIANT(e == 400 || e == 413 || e == 414 || e == 431 || e == 501 || e == 505,
                     "request error with an unexpected status");
        ES_INVARIANT(r.why != nullptr && r.why[0] != '\0', "request error without a reason");
        return nullptr;
    }
    if (r.status == Status::NeedMore) return nullptr;
    ES_INVARIANT(r.status == Status::Done, "unknown request status");
    if (const char* m = check_message(h, data, len, lim)) return m;
    const char* head = data + h.head_start;
    const std::size_t head_len = h.head_len - h.head_start;
    ES_INVARIANT(h.method_text.data() == head && !h.method_text.empty(), "method not at the head start");
    ES_INVARIANT(is_token(h.method_text) && method_of(h.method_text) == h.method, "method inconsistent");
    ES_INVARIANT(!h.target.empty() && h.target.size() <= lim.max_request_line, "target empty or too long");
    ES_INVARIANT(view_inside(h.target, head, head_len) && view_inside(h.query, head, head_len) &&
                     view_inside(h.authority, head, head_len) && view_inside(h.host, head, head_len),
                 "request view outside the head");
    ES_INVARIANT(view_inside(h.path, head, head_len) || h.path == "/", "path outside the head");
    ES_INVARIANT(h.body != BodyKind::UntilClose, "request read until close");
    if (lim.max_body != 0) ES_INVARIANT(h.content_length <= lim.max_body, "Content-Length over max_body");
    const Header* host = h.find("host");
    if (h.version == 11) ES_INVARIANT(host != nullptr, "HTTP/1.1 request without Host accepted");
    ES_INVARIANT(host ? same_view(host->value, h.host) : h.host.empty(), "host is not the Host value");
    if (h.absolute_form) {
        ES_INVARIANT(!h.authority.empty() && !h.path.empty() && h.path[0] == '/',
                     "absolute-form without parts");
        if (host) ES_INVARIANT(iequals(host->value, h.authority), "Host differs from the authority");
    }
    if (h.target == "*") ES_INVARIANT(h.method == Method::Options, "asterisk-form with a method but OPTIONS");
    if (h.method == Method::Connect)
        ES_INVARIANT(same_view(h.authority, h.target) && h.body == BodyKind::None, "CONNECT target or body");
    if (h.upgrade)
        ES_INVARIANT(h.find("upgrade") && (h.conn & kConnUpgrade) && h.version == 11, "upgrade unfounded");
    return nullptr;
}

inline const char* check_response(const ResponseHead& h, const ParseResult& r, Method m, const char* data,
                                  std::size_t len, const Limits& lim) {
    if (r.status == Status::Error) {
        ES_INVARIANT(r.error == 502, "response error other than 502");
        ES_INVARIANT(r.why != nullptr && r.why[0] != '\0', "response error without a reason");
        return nullptr;
    }
    if (r.status == Status::NeedMore) return nullptr;
    ES_INVARIANT(r.status == Status::Done, "unknown response status");
    if (const char* e = check_message(h, data, len, lim)) return e;
    ES_INVARIANT(h.head_start == 0, "response with skipped bytes");
    ES_INVARIANT(h.status >= 100 && h.status <= 599, "status out of range");
    ES_INVARIANT(view_inside(h.reason, data, h.head_len), "reason outside the head");
    const bool tunnel = m == Method::Connect && h.status >= 200 && h.status < 300;
    if (tunnel || h.status < 200 || h.status == 204 || h.status == 304 || m == Method::Head)
        ES_INVARIANT(h.body == BodyKind::None, "body on a response that cannot have one");
    if (tunnel || h.status == 101) ES_INVARIANT(h.upgrade, "tunnel or 101 without upgrade");
    return nullptr;
}

// Split points derived from the input so the fuzzer can steer them.
inline std::size_t split_point(const std::uint8_t* data, std::size_t size, unsigned salt) {
    if (size == 0) return 0;
    std::uint32_t h = 2166136261u ^ salt;
    for (std::size_t i = 0; i < size && i < 16; ++i) h = (h ^ data[i]) * 16777619u;
    return h % (size + 1);
}

inline const char* check_request_pieces(const char* data, std::size_t size, const Limits& lim,
                                        const RequestHead& whole, const ParseResult& rw, std::size_t k1,
                                        std::size_t k2) {
    static RequestHead part;
    std::size_t scanned = 0;
    const std::size_t cuts[3] = {k1 < k2 ? k1 : k2, k1 < k2 ? k2 : k1, size};
    for (std::size_t c : cuts) {
        const ParseResult r = parse_request(data, c, lim, part, scanned);
        ES_INVARIANT(scanned <= c, "scanned beyond the input");
        if (const char* e = check_request(part, r, data, c, lim)) return e;
        if (r.status != Status::NeedMore) {
            ES_INVARIANT(same_result(r, rw), "request verdict on a prefix differs from the one-shot verdict");
            if (r.status == Status::Done)
                ES_INVARIANT(same_request(part, whole), "request fields differ when split");
            return nullptr;
        }
    }
    ES_INVARIANT(rw.status != Status::Done, "head accepted at once but still open when split");
    return nullptr;
}

inline const char* check_response_pieces(const char* data, std::size_t size, const Limits& lim, Method m,
                                         const ResponseHead& whole, const ParseResult& rw, std::size_t k1,
                                         std::size_t k2) {
    static ResponseHead part;
    std::size_t scanned = 0;
    const std::size_t cuts[3] = {k1 < k2 ? k1 : k2, k1 < k2 ? k2 : k1, size};
    for (std::size_t c : cuts) {
        const ParseResult r = parse_response(data, c, lim, m, part, scanned);
        ES_INVARIANT(scanned <= c, "scanned beyond the input");
        if (const char* e = check_response(part, r, m, data, c, lim)) return e;
        if (r.status != Status::NeedMore) {
            ES_INVARIANT(same_result(r, rw),
                         "response verdict on a prefix differs from the one-shot verdict");
            if (r.status == Status::Done)
                ES_INVARIANT(same_response(part, whole), "response fields differ when split");
            return nullptr;
        }
    }
    ES_INVARIANT(rw.status != Status::Done, "response head accepted at once but still open when split");
    return nullptr;
}

struct ChunkOutcome {
    Status status = Status::NeedMore;
    std::size_t used = 0;  // total bytes consumed over all feeds
    std::uint64_t payload = 0;
};

// Feeds data in pieces of at most `piece` bytes (0: at once); stops at Done or Error.
inline const char* run_chunked(const char* data, std::size_t size, std::size_t piece,
                               std::uint32_t max_trailers, ChunkOutcome& out) {
    ChunkedScanner sc(max_trailers);
    std::size_t off = 0;
    do {
        std::size_t n = size - off;
        if (piece != 0 && n > piece) n = piece;
        const ChunkedScanner::Step s = sc.feed(data + off, n);
        ES_INVARIANT(s.used <= n, "chunked used more than fed");
        ES_INVARIANT(s.status != Status::NeedMore || s.used == n,
                     "chunked NeedMore without using everything");
        out.used += s.used;
        out.status = s.status;
        if (s.status == Status::Error)
            ES_INVARIANT(s.why != nullptr && s.why[0] != '\0', "chunked error without why");
        if (s.status != Status::NeedMore) break;
        off += n;
    } while (off < size);
    out.payload = sc.payload();
    ES_INVARIANT(out.payload <= out.used, "more payload than bytes");
    if (out.status == Status::Done) {
        ES_INVARIANT(out.used >= 5 && std::memcmp(data + out.used - 2, "\r\n", 2) == 0,
                     "chunked Done not after CRLF");
        const ChunkedScanner::Step again = sc.feed(data, size);
        ES_INVARIANT(again.status == Status::Done && again.used == 0,
                     "chunked scanner not idempotent after Done");
    }
    return nullptr;
}

inline const char* check_chunked(const std::uint8_t* bytes, std::size_t size) {
    const char* data = reinterpret_cast<const char*>(bytes);
    for (std::uint32_t max_trailers : {16384u, 16u}) {
        ChunkOutcome whole, split, drip;
        if (const char* e = run_chunked(data, size, 0, max_trailers, whole)) return e;
        const std::size_t piece = 1 + split_point(bytes, size, 7) % 13;
        if (const char* e = run_chunked(data, size, piece, max_trailers, split)) return e;
        if (const char* e = run_chunked(data, size, 1, max_trailers, drip)) return e;
        ES_INVARIANT(
            whole.status == split.status && whole.used == split.used && whole.payload == split.payload,
            "chunked outcome depends on segmentation");
        ES_INVARIANT(whole.status == drip.status && whole.used == drip.used && whole.payload == drip.payload,
                     "chunked outcome differs when fed byte by byte");
    }
    return nullptr;
}

inline const char* check_parsers(const std::uint8_t* bytes, std::size_t size) {
    const char* data = reinterpret_cast<const char*>(bytes);
    Limits small;
    small.max_request_line = 64;
    small.max_head = 256;
    small.max_headers = 8;
    small.max_body = 1000;
    static RequestHead req;
    static ResponseHead rsp;
    const std::size_t k1 = split_point(bytes, size, 1), k2 = split_point(bytes, size, 2);
    for (const Limits& lim : {Limits{}, small}) {
        std::size_t scanned = 0;
        const ParseResult r = parse_request(data, size, lim, req, scanned);
        if (const char* e = check_request(req, r, data, size, lim)) return e;
        if (const char* e = check_request_pieces(data, size, lim, req, r, k1, k2)) return e;
        for (Method m : {Method::Get, Method::Head, Method::Connect}) {
            scanned = 0;
            const ParseResult rr = parse_response(data, size, lim, m, rsp, scanned);
            if (const char* e = check_response(rsp, rr, m, data, size, lim)) return e;
            if (const char* e = check_response_pieces(data, size, lim, m, rsp, rr, k1, k2)) return e;
        }
    }
    return check_chunked(bytes, size);
}

#undef ES_INVARIANT

}  // namespace es::http::fuzz
