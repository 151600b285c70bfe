// HTTP/1.1 message heads (parser.hpp). The contract that shapes this file:
//
// - One positional pass. The head is read left to right and every decision (accept a byte, reject
//   it, hit a limit) depends only on the bytes before that point. A verdict reached on a prefix is
//   therefore the verdict on any longer input, so a head delivered in pieces gets the same answer
//   as the same head delivered at once, and a limit fires as soon as the bytes cross it.
// - Re-calls are cheap. A full pass runs on the first call and whenever the bytes that arrived since
//   the last call could change the outcome: a line that ends an empty line (the head is complete),
//   a bare LF, a limit crossed, or a re-check stride crossed (so an error in an unfinished head is
//   found within a few KB rather than at the limit). Otherwise only the new bytes are searched
//   (memchr), which keeps a head arriving byte by byte O(n).
// - No allocation and no locale: character classes come from one constexpr table.
#include <array>
#include <cstring>

#include "edgeshard/http/parser.hpp"

namespace es::http {
namespace {

enum CharClass : std::uint8_t {
    kTchar = 1 << 0,    // RFC 9110 §5.6.2 tchar
    kField = 1 << 1,    // field-vchar, SP, HTAB (RFC 9110 §5.5); the reason-phrase uses the same set
    kTarget = 1 << 2,   // request-target bytes: visible ASCII except '#' (no fragment on the wire)
    kRegName = 1 << 3,  // reg-name: unreserved, sub-delims, '%' (RFC 3986 §3.2.2)
    kHex = 1 << 4,
    kDigit = 1 << 5,
};

constexpr bool in(char c, std::string_view set) {
    for (char x : set)
        if (x == c) return true;
    return false;
}

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> t{};
    for (int i = 0; i < 256; ++i) {
        const bool alpha = (i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z');
        const bool digit = i >= '0' && i <= '9';
        const char c = static_cast<char>(i);
        std::uint8_t v = 0;
        if (alpha || digit || (i < 0x80 && in(c, "!#$%&'*+-.^_`|~"))) v |= kTchar;
        if ((i >= 0x21 && i <= 0x7e) || i >= 0x80 || i == ' ' || i == '\t') v |= kField;
        if (i >= 0x21 && i <= 0x7e && i != '#') v |= kTarget;
        if (alpha || digit || (i < 0x80 && in(c, "-._~!$&'()*+,;=%"))) v |= kRegName;
        if (digit || (i >= 'a' && i <= 'f') || (i >= 'A' && i <= 'F')) v |= kHex;
        if (digit) v |= kDigit;
        t[static_cast<std::size_t>(i)] = v;
    }
    return t;
}
constexpr std::array<std::uint8_t, 256> kClass = make_classes();

constexpr std::array<unsigned char, 256> make_lower() {
    std::array<unsigned char, 256> t{};
    for (int i = 0; i < 256; ++i)
        t[static_cast<std::size_t>(i)] = static_cast<unsigned char>(i >= 'A' && i <= 'Z' ? i + 32 : i);
    return t;
}
constexpr std::array<unsigned char, 256> kLower = make_lower();

inline unsigned char uc(char c) {
    return static_cast<unsigned char>(c);
}
inline bool has(char c, std::uint8_t cls) {
    return (kClass[uc(c)] & cls) != 0;
}
inline bool is_ws(char c) {
    return c == ' ' || c == '\t';
}

// Hot loops take the buffer and index as locals: a store through a char pointer may alias any
// member, so loops on members would reload and store the index for every byte.
inline std::size_t skip_class(const char* d, std::size_t i, std::size_t end, std::uint8_t cls) {
    while (i < end && has(d[i], cls)) ++i;
    return i;
}

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHigh = 0x8080808080808080ull;
// some byte of w is below n (n <= 128); may report a false positive, never a false negative
constexpr bool any_below(std::uint64_t w, std::uint8_t n) {
    return ((w - kOnes * n) & ~w & kHigh) != 0;
}
constexpr bool any_equal(std::uint64_t w, std::uint8_t c) {
    const std::uint64_t x = w ^ (kOnes * c);
    return ((x - kOnes) & ~x & kHigh) != 0;
}
inline std::uint64_t load8(const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
}

// Field values: 8 bytes at a time while none is a CTL or DEL (HTAB takes the byte loop).
inline std::size_t skip_field_content(const char* d, std::size_t i, std::size_t end) {
    while (end - i >= 8) {
        const std::uint64_t w = load8(d + i);
        if (any_below(w, 0x20) || any_equal(w, 0x7f)) break;
        i += 8;
    }
    return skip_class(d, i, end, kField);
}

// Request targets: 8 bytes at a time while all are visible ASCII other than '#'.
inline std::size_t skip_target(const char* d, std::size_t i, std::size_t end) {
    while (end - i >= 8) {
        const std::uint64_t w = load8(d + i);
        if ((w & kHigh) != 0 || any_below(w, 0x21) || any_equal(w, 0x7f) || any_equal(w, '#')) break;
        i += 8;
    }
    return skip_class(d, i, end, kTarget);
}

// `name` (a validated token) equals `lower` (lowercase letters and '-') ignoring case. OR-ing 0x20
// folds exactly the letters here: the only other byte that folds onto '-' is CR, never in a token.
inline bool token_is(std::string_view name, std::string_view lower) {
    if (name.size() != lower.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if ((uc(name[i]) | 0x20) != uc(lower[i])) return false;
    return true;
}

std::string_view trim_ows(std::string_view s) {
    std::size_t b = 0, e = s.size();
    while (b < e && is_ws(s[b])) ++b;
    while (e > b && is_ws(s[e - 1])) --e;
    return s.substr(b, e - b);
}

// Calls f(element) for each comma-separated element (OWS trimmed, possibly empty); stops and
// returns false as soon as f does.
template <typename F>
bool each_element(std::string_view v, F&& f) {
    for (;;) {
        const std::size_t comma = v.find(',');
        if (!f(trim_ows(v.substr(0, comma)))) return false;
        if (comma == std::string_view::npos) return true;
        v.remove_prefix(comma + 1);
    }
}

// Content-Length (RFC 9110 §8.6): 1*DIGIT, nothing else (no sign, list, or whitespace inside).
bool parse_length(std::string_view v, std::uint64_t& out) {
    if (v.empty()) return false;
    std::uint64_t n = 0;
    for (char c : v) {
        if (!has(c, kDigit)) return false;
        if (__builtin_mul_overflow(n, 10u, &n) ||
            __builtin_add_overflow(n, static_cast<unsigned>(c - '0'), &n))
            return false;
    }
    out = n;
    return true;
}

bool valid_port(std::string_view p) {
    if (p.empty() || p.size() > 5) return false;
    unsigned v = 0;
    for (char c : p) {
        if (!has(c, kDigit)) return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v <= 65535;
}

bool valid_ipv4(std::string_view s) {
    int parts = 0;
    while (true) {
        std::size_t n = 0;
        unsigned v = 0;
        while (n < s.size() && n < 4 && has(s[n], kDigit)) v = v * 10 + static_cast<unsigned>(s[n++] - '0');
        if (n == 0 || n > 3 || v > 255 || (n > 1 && s[0] == '0')) return false;
        ++parts;
        s.remove_prefix(n);
        if (parts == 4) return s.empty();
        if (s.empty() || s[0] != '.') return false;
        s.remove_prefix(1);
    }
}

// IPv6address (RFC 3986 §3.2.2): up to 8 groups of 1-4 hex digits, at most one "::", optionally
// ending with a dotted IPv4 address that counts as two groups.
bool valid_ipv6(std::string_view s) {
    int groups = 0;
    bool elided = false;
    if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
        elided = true;
        s.remove_prefix(2);
        if (s.empty()) return true;
    } else if (!s.empty() && s[0] == ':') {
        return false;
    }
    while (!s.empty()) {
        std::size_t n = 0;
        while (n < s.size() && has(s[n], kHex)) ++n;
        if (n < s.size() && s[n] == '.') {
            if (!valid_ipv4(s)) return false;
            groups += 2;
            s = {};
            break;
        }
        if (n == 0 || n > 4) return false;
        ++groups;
        s.remove_prefix(n);
        if (s.empty()) break;
        if (s[0] != ':') return false;
        s.remove_prefix(1);
        if (!s.empty() && s[0] == ':') {
            if (elided) return false;
            elided = true;
            s.remove_prefix(1);
        } else if (s.empty()) {
            return false;  // trailing single ':'
        }
    }
    return elided ? groups <= 7 : groups == 8;
}

// IP-literal: "[" ( IPv6address / IPvFuture ) "]" without the brackets.
bool valid_ip_literal(std::string_view s) {
    if (!s.empty() && (s[0] == 'v' || s[0] == 'V')) {
        std::size_t i = 1;
        while (i < s.size() && has(s[i], kHex)) ++i;
        if (i == 1 || i >= s.size() || s[i] != '.' || i + 1 == s.size()) return false;
        for (++i; i < s.size(); ++i)
            if (s[i] == '%' || (!has(s[i], kRegName) && s[i] != ':')) return false;
        return true;
    }
    return valid_ipv6(s);
}

// uri-host [":" port] (Host field, absolute-form authority, CONNECT target). An empty Host is valid
// (RFC 9110 §7.2); a present ':' needs a port.
bool valid_host(std::string_view s, bool need_port) {
    if (s.empty()) return !need_port;
    std::size_t i = 0;
    if (s[0] == '[') {
        const std::size_t close = s.find(']');
        if (close == std::string_view::npos || !valid_ip_literal(s.substr(1, close - 1))) return false;
        i = close + 1;
    } else {
        while (i < s.size() && s[i] != ':') {
            if (!has(s[i], kRegName)) return false;
            if (s[i] == '%') {
                if (i + 2 >= s.size() || !has(s[i + 1], kHex) || !has(s[i + 2], kHex)) return false;
                i += 3;
            } else {
                ++i;
            }
        }
        if (i == 0) return false;
    }
    if (i == s.size()) return !need_port;
    return s[i] == ':' && valid_port(s.substr(i + 1));
}

enum class Hdr : std::uint8_t {
    Other,
    ContentLength,
    TransferEncoding,
    Host,
    Connection,
    ProxyConnection,
    KeepAlive,
    Te,
    Trailer,
    Upgrade,
    Expect,
};

Hdr classify(std::string_view n) {
    switch (n.size()) {
        case 2:
            return token_is(n, "te") ? Hdr::Te : Hdr::Other;
        case 4:
            return token_is(n, "host") ? Hdr::Host : Hdr::Other;
        case 6:
            return token_is(n, "expect") ? Hdr::Expect : Hdr::Other;
        case 7:
            if (token_is(n, "upgrade")) return Hdr::Upgrade;
            return token_is(n, "trailer") ? Hdr::Trailer : Hdr::Other;
        case 10:
            if (token_is(n, "connection")) return Hdr::Connection;
            return token_is(n, "keep-alive") ? Hdr::KeepAlive : Hdr::Other;
        case 14:
            return token_is(n, "content-length") ? Hdr::ContentLength : Hdr::Other;
        case 16:
            return token_is(n, "proxy-connection") ? Hdr::ProxyConnection : Hdr::Other;
        case 17:
            return token_is(n, "transfer-encoding") ? Hdr::TransferEncoding : Hdr::Other;
        default:
            return Hdr::Other;
    }
}

// What the fields said about framing and routing, judged once the head is complete.
struct Fields {
    bool cl = false;
    bool te = false;
    bool host = false;
    bool upgrade = false;
    bool expect100 = false;
    bool chunked_last = false;  // the last transfer coding seen is chunked
    bool other_coding = false;  // a coding other than chunked was seen
    std::uint8_t chunked = 0;   // times chunked was listed
    std::uint64_t cl_value = 0;
    std::string_view host_value;
};

constexpr ParseResult kNeedMore{Status::NeedMore, 0, ""};
constexpr ParseResult kOk{Status::Done, 0, ""};

constexpr unsigned kMaxLeadingEmptyLines = 8;
// While a head is incomplete, a full pass re-runs each time the bytes cross a multiple of this, so
// an invalid byte in a dripped head is answered within this many bytes.
constexpr std::size_t kRecheckStride = 2048;

class Scanner {
  public:
    Scanner(const char* d, std::size_t len, bool request) : d_(d), len_(len), request_(request) {}

    // Bytes at index >= cap are never looked at: needing one is the `code` error.
    void bound(std::size_t cap, std::uint16_t code, const char* why) {
        cap_ = cap;
        end_ = len_ < cap ? len_ : cap;
        cap_code_ = code;
        cap_why_ = why;
    }
    // the verdict when byte `need` (>= end_) is required
    ParseResult stop(std::size_t need) const { return need >= cap_ ? bad(cap_code_, cap_why_) : kNeedMore; }
    ParseResult bad(std::uint16_t code, const char* why) const {
        return {Status::Error, request_ ? code : std::uint16_t{502}, why};
    }

    ParseResult leading_empty_lines();
    ParseResult version(std::uint8_t& major, std::uint8_t& minor, bool line_end);
    ParseResult request_line(RequestHead& out);
    ParseResult status_line(ResponseHead& out);
    ParseResult fields(MessageHead& out, Fields& f, std::size_t max_headers);
    ParseResult field(MessageHead& out, Header& h, Fields& f) const;

    std::size_t pos() const { return pos_; }

  private:
    const char* d_;
    std::size_t len_;
    std::size_t pos_ = 0;
    std::size_t end_ = 0;
    std::size_t cap_ = 0;
    std::uint16_t cap_code_ = 0;
    const char* cap_why_ = "";
    bool request_;
};

// RFC 9112 §2.2: a server ignores at least one empty line before the request-line. A few are
// skipped; a stream of them is an error rather than an unbounded wait.
ParseResult Scanner::leading_empty_lines() {
    for (unsigned n = 0;; ++n) {
        if (pos_ >= len_) return kNeedMore;
        if (d_[pos_] == '\n') return bad(400, "bare LF line ending");
        if (d_[pos_] != '\r') return kOk;
        if (n == kMaxLeadingEmptyLines) return bad(400, "too many empty lines before the request line");
        if (pos_ + 1 >= len_) return kNeedMore;
        if (d_[pos_ + 1] != '\n') return bad(400, "bare CR");
        pos_ += 2;
    }
}

// HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive), followed by CRLF when `line_end`
// (request-line) or by SP (status-line).
ParseResult Scanner::version(std::uint8_t& major, std::uint8_t& minor, bool line_end) {
    static constexpr char kShape[] = "HTTP/0.0";
    for (std::size_t i = 0; i < 8; ++i, ++pos_) {
        if (pos_ >= end_) return stop(pos_);
        const char c = d_[pos_];
        const bool ok = (i == 5 || i == 7) ? has(c, kDigit) : c == kShape[i];
        if (!ok) return bad(400, "malformed HTTP version");
    }
    major = static_cast<std::uint8_t>(d_[pos_ - 3] - '0');
    minor = static_cast<std::uint8_t>(d_[pos_ - 1] - '0');
    if (pos_ >= end_) return stop(pos_);
    if (!line_end) {
        if (d_[pos_] != ' ') return bad(400, "malformed HTTP version");
        ++pos_;
        return kOk;
    }
    if (d_[pos_] != '\r')
        return bad(400, d_[pos_] == '\n' ? "bare LF line ending" : "malformed HTTP version");
    if (pos_ + 1 >= end_) return stop(pos_ + 1);
    if (d_[pos_ + 1] != '\n') return bad(400, "bare CR");
    pos_ += 2;
    return kOk;
}

ParseResult Scanner::request_line(RequestHead& out) {
    const std::size_t m0 = pos_;
    pos_ = skip_class(d_, pos_, end_, kTchar);
    if (pos_ >= end_) return stop(pos_);
    if (d_[pos_] != ' ' || pos_ == m0) return bad(400, "invalid method");
    out.method_text = {d_ + m0, pos_ - m0};
    out.method = method_of(out.method_text);
    const std::size_t t0 = ++pos_;
    pos_ = skip_target(d_, pos_, end_);
    if (pos_ >= end_) return stop(pos_);
    if (d_[pos_] != ' ') {
        if (d_[pos_] == '\r' || d_[pos_] == '\n') return bad(400, "missing HTTP version");
        return bad(400, "invalid character in request target");
    }
    if (pos_ == t0) return bad(400, "empty request target");
    out.target = {d_ + t0, pos_ - t0};
    ++pos_;
    std::uint8_t major = 0, minor = 0;
    if (ParseResult r = version(major, minor, true); r.status != Status::Done) return r;
    if (major != 1 || minor > 1) return bad(505, "unsupported HTTP version");
    out.version = minor == 0 ? 10 : 11;
    return kOk;
}

ParseResult Scanner::status_line(ResponseHead& out) {
    std::uint8_t major = 0, minor = 0;
    if (ParseResult r = version(major, minor, false); r.status != Status::Done) return r;
    unsigned code = 0;
    for (int i = 0; i < 3; ++i, ++pos_) {
        if (pos_ >= end_) return stop(pos_);
        if (!has(d_[pos_], kDigit)) return bad(502, "invalid status code");
        code = code * 10 + static_cast<unsigned>(d_[pos_] - '0');
    }
    if (pos_ >= end_) return stop(pos_);
    std::size_t r0 = pos_;
    if (d_[pos_] == ' ') {
        r0 = ++pos_;
        pos_ = skip_field_content(d_, pos_, end_);
        if (pos_ >= end_) return stop(pos_);
    }
    if (d_[pos_] != '\r') {
        if (d_[pos_] == '\n') return bad(502, "bare LF line ending");
        return bad(502,
                   r0 == pos_ && d_[pos_ - 1] != ' ' ? "invalid status code" : "control character in reason");
    }
    out.reason = {d_ + r0, pos_ - r0};
    if (pos_ + 1 >= end_) return stop(pos_ + 1);
    if (d_[pos_ + 1] != '\n') return bad(502, "bare CR");
    pos_ += 2;
    if (major != 1 || minor > 1) return bad(502, "unsupported HTTP version");
    if (code < 100 || code > 599) return bad(502, "invalid status code");
    out.version = minor == 0 ? 10 : 11;
    out.status = static_cast<std::uint16_t>(code);
    return kOk;
}

// The field lines up to and including the empty line (RFC 9112 §5).
ParseResult Scanner::fields(MessageHead& out, Fields& f, std::size_t max_headers) {
    for (;;) {
        if (pos_ >= end_) return stop(pos_);
        const char c = d_[pos_];
        if (c == '\r') {
            if (pos_ + 1 >= end_) return stop(pos_ + 1);
            if (d_[pos_ + 1] != '\n') return bad(400, "bare CR");
            pos_ += 2;
            return kOk;
        }
        if (c == '\n') return bad(400, "bare LF line ending");
        if (is_ws(c)) return bad(400, "obs-fold or whitespace before a field name");
        if (out.nheaders >= max_headers) return bad(431, "too many header fields");

        const std::size_t n0 = pos_;
        pos_ = skip_class(d_, pos_, end_, kTchar);
        if (pos_ >= end_) return stop(pos_);
        if (d_[pos_] != ':') {
            if (is_ws(d_[pos_])) return bad(400, "whitespace before colon");
            return bad(400, "invalid character in header name");
        }
        if (pos_ == n0) return bad(400, "empty header name");
        const std::string_view name{d_ + n0, pos_ - n0};
        ++pos_;
        std::size_t v0 = pos_;
        while (v0 < end_ && is_ws(d_[v0])) ++v0;
        pos_ = skip_field_content(d_, v0, end_);
        if (pos_ >= end_) return stop(pos_);
        if (d_[pos_] != '\r') {
            if (d_[pos_] == '\n') return bad(400, "bare LF line ending");
            return bad(400, "control character in header value");
        }
        if (pos_ + 1 >= end_) return stop(pos_ + 1);
        if (d_[pos_ + 1] != '\n') return bad(400, "bare CR");
        std::size_t v1 = pos_;
        while (v1 > v0 && is_ws(d_[v1 - 1])) --v1;
        pos_ += 2;

        Header& h = out.headers[out.nheaders++];
        h.name = name;
        h.value = {d_ + v0, v1 - v0};
        h.hop = false;
        h.removed = false;
        if (ParseResult r = field(out, h, f); r.status == Status::Error) return r;
    }
}

// Per-field rules for the fields that frame, route or are hop-by-hop.
ParseResult Scanner::field(MessageHead& out, Header& h, Fields& f) const {
    switch (classify(h.name)) {
        case Hdr::Other:
            return kOk;
        case Hdr::ContentLength:
            // RFC 9112 §6.3 allows merging identical duplicates; a proxy that did would forward a
            // message other hops may read differently, so any repetition is rejected.
            if (f.cl) return bad(400, "duplicate Content-Length");
            f.cl = true;
            if (!parse_length(h.value, f.cl_value)) return bad(400, "invalid Content-Length");
            return kOk;
        case Hdr::TransferEncoding: {
            h.hop = true;
            f.te = true;
            const bool ok = each_element(h.value, [&f](std::string_view e) {
                if (!is_token(e)) return false;  // also rejects empty elements and parameters
                if (token_is(e, "chunked")) {
                    ++f.chunked;
                    f.chunked_last = true;
                } else {
                    f.other_coding = true;
                    f.chunked_last = false;
                }
                return true;
            });
            return ok ? kOk : bad(400, "invalid Transfer-Encoding");
        }
        case Hdr::Host:
            if (!request_) return kOk;
            if (f.host) return bad(400, "duplicate Host");
            f.host = true;
            f.host_value = h.value;
            return valid_host(h.value, false) ? kOk : bad(400, "invalid Host");
        case Hdr::Connection: {
            h.hop = true;
            std::uint16_t conn = out.conn;
            const bool ok = each_element(h.value, [&conn](std::string_view e) {
                if (e.empty()) return true;
                if (!is_token(e)) return false;
                if (token_is(e, "close"))
                    conn |= kConnClose;
                else if (token_is(e, "keep-alive"))
                    conn |= kConnKeepAlive;
                else if (token_is(e, "upgrade"))
                    conn |= kConnUpgrade;
                else
                    conn |= kConnOther;
                return true;
            });
            out.conn = conn;
            return ok ? kOk : bad(400, "invalid Connection");
        }
        case Hdr::Upgrade:
            f.upgrade = true;
            [[fallthrough]];
        case Hdr::ProxyConnection:
        case Hdr::KeepAlive:
        case Hdr::Te:
        case Hdr::Trailer:
            h.hop = true;
            return kOk;
        case Hdr::Expect:
            if (iequals(h.value, "100-continue")) f.expect100 = true;
            return kOk;
    }
    return kOk;
}

// Headers named by a Connection option are hop-by-hop (RFC 9110 §7.6.1). Content-Length and Host
// are never taken out that way: they frame and route the message for every hop.
void mark_connection_options(MessageHead& out) {
    for (std::uint16_t i = 0; i < out.nheaders; ++i) {
        if (classify(out.headers[i].name) != Hdr::Connection) continue;
        each_element(out.headers[i].value, [&out](std::string_view opt) {
            if (opt.empty()) return true;
            for (std::uint16_t j = 0; j < out.nheaders; ++j) {
                Header& h = out.headers[j];
                if (!h.hop && iequals(h.name, opt)) {
                    const Hdr k = classify(h.name);
                    if (k != Hdr::ContentLength && k != Hdr::Host) h.hop = true;
                }
            }
            return true;
        });
    }
}

void reset_message(MessageHead& m) {
    m.version = 11;
    m.body = BodyKind::None;
    m.content_length = 0;
    m.conn = 0;
    m.head_len = 0;
    m.head_start = 0;
    m.nheaders = 0;
}

void reset(RequestHead& r) {
    reset_message(r);
    r.method = Method::Other;
    r.method_text = r.target = r.path = r.query = r.authority = r.host = {};
    r.absolute_form = r.expect_continue = r.upgrade = false;
}

void reset(ResponseHead& r) {
    reset_message(r);
    r.status = 0;
    r.reason = {};
    r.upgrade = false;
}

void split_path(std::string_view t, RequestHead& out) {
    const std::size_t q = t.find('?');
    if (q == std::string_view::npos) {
        out.path = t;
    } else {
        out.path = t.substr(0, q);
        out.query = t.substr(q + 1);
    }
}

// request-target forms (RFC 9112 §3.2), decided by the method.
ParseResult classify_target(const Scanner& s, RequestHead& out) {
    const std::string_view t = out.target;
    if (out.method == Method::Connect) {
        if (!valid_host(t, true)) return s.bad(400, "CONNECT needs an authority-form target");
        out.authority = t;
        return kOk;
    }
    if (t[0] == '/') {
        split_path(t, out);
        return kOk;
    }
    if (t == "*") {
        if (out.method != Method::Options) return s.bad(400, "asterisk-form is only for OPTIONS");
        out.path = t;
        return kOk;
    }
    std::size_t a0 = 0;
    if (t.size() >= 7 && iequals(t.substr(0, 7), "http://"))
        a0 = 7;
    else if (t.size() >= 8 && iequals(t.substr(0, 8), "https://"))
        a0 = 8;
    else
        return s.bad(400, "invalid request target");
    std::size_t a1 = t.find_first_of("/?", a0);
    if (a1 == std::string_view::npos) a1 = t.size();
    const std::string_view auth = t.substr(a0, a1 - a0);
    if (auth.find('@') != std::string_view::npos) return s.bad(400, "userinfo in request target");
    if (auth.empty() || !valid_host(auth, false)) return s.bad(400, "invalid authority in request target");
    out.authority = auth;
    out.absolute_form = true;
    const std::string_view rest = t.substr(a1);
    if (rest.empty() || rest[0] == '?') {
        out.path = "/";
        if (!rest.empty()) out.query = rest.substr(1);
    } else {
        split_path(rest, out);
    }
    return kOk;
}

std::size_t header_cap(const Limits& lim) {
    return lim.max_headers < kMaxHeaders ? lim.max_headers : kMaxHeaders;
}

// The bound of a start line: its CRLF must end by `start + max_line + 2`; a smaller head limit
// takes over when it comes first.
void bound_start_line(Scanner& s, std::size_t start, const Limits& lim, bool request) {
    const std::size_t line_cap = start + lim.max_request_line + 2;
    const std::size_t head_cap = start + lim.max_head;
    if (head_cap < line_cap)
        s.bound(head_cap, 431, "header section too large");
    else
        s.bound(line_cap, 414, request ? "request line too long" : "status line too long");
}

ParseResult full_request(const char* d, std::size_t len, const Limits& lim, RequestHead& out) {
    reset(out);
    Scanner s(d, len, true);
    if (ParseResult r = s.leading_empty_lines(); r.status != Status::Done) return r;
    const std::size_t start = s.pos();
    bound_start_line(s, start, lim, true);
    if (ParseResult r = s.request_line(out); r.status != Status::Done) return r;
    if (ParseResult r = classify_target(s, out); r.status != Status::Done) return r;
    s.bound(start + lim.max_head, 431, "header section too large");
    Fields f;
    if (ParseResult r = s.fields(out, f, header_cap(lim)); r.status != Status::Done) return r;

    out.head_start = static_cast<std::uint32_t>(start);
    out.head_len = static_cast<std::uint32_t>(s.pos());
    out.host = f.host_value;
    if (out.version == 11 && !f.host) return s.bad(400, "missing Host");
    if (out.absolute_form && f.host && !iequals(out.authority, f.host_value))
        return s.bad(400, "Host differs from the target authority");
    if (f.te) {
        if (out.version == 10) return s.bad(400, "Transfer-Encoding in an HTTP/1.0 request");
        if (f.cl) return s.bad(400, "both Content-Length and Transfer-Encoding");
        if (f.chunked > 1) return s.bad(400, "chunked applied more than once");
        // RFC 9112 §6.1: a coding the server does not implement is answered 501, before asking
        // whether chunked is final (a lone unknown coding is "not understood" first)
        if (f.other_coding) return s.bad(501, "unsupported transfer coding");
        if (!f.chunked_last) return s.bad(400, "chunked is not the final transfer coding");
        out.body = BodyKind::Chunked;
    } else if (f.cl) {
        out.content_length = f.cl_value;
        if (lim.max_body != 0 && f.cl_value > lim.max_body)
            return s.bad(413, "Content-Length over the limit");
        out.body = f.cl_value ? BodyKind::Length : BodyKind::None;
    }
    if (out.method == Method::Connect && (f.te || f.cl)) return s.bad(400, "CONNECT with a body");
    if (out.conn & kConnOther) mark_connection_options(out);
    // RFC 9110 §7.8 and §10.1.1: Upgrade and 100-continue are ignored in HTTP/1.0 requests.
    out.upgrade = out.version == 11 && (out.conn & kConnUpgrade) && f.upgrade;
    out.expect_continue = out.version == 11 && f.expect100;
    return kOk;
}

ParseResult full_response(const char* d, std::size_t len, const Limits& lim, Method request_method,
                          ResponseHead& out) {
    reset(out);
    Scanner s(d, len, false);
    bound_start_line(s, 0, lim, false);
    if (ParseResult r = s.status_line(out); r.status != Status::Done) return r;
    s.bound(lim.max_head, 431, "header section too large");
    Fields f;
    if (ParseResult r = s.fields(out, f, header_cap(lim)); r.status != Status::Done) return r;

    out.head_len = static_cast<std::uint32_t>(s.pos());
    out.content_length = f.cl_value;
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty; with
    // Content-Length it is a smuggling attempt whoever sent it.
    if (f.te && out.version == 10) return s.bad(502, "Transfer-Encoding in an HTTP/1.0 response");
    if (f.te && f.cl) return s.bad(502, "both Content-Length and Transfer-Encoding");
    if (f.chunked > 1) return s.bad(502, "chunked applied more than once");
    if (out.conn & kConnOther) mark_connection_options(out);

    const std::uint16_t st = out.status;
    if (request_method == Method::Connect && st >= 200 && st < 300) {
        out.upgrade = true;  // a tunnel: the bytes that follow are no longer HTTP
        out.body = BodyKind::None;
    } else if (st < 200 || st == 204 || st == 304 || request_method == Method::Head) {
        out.upgrade = st == 101;
        out.body = BodyKind::None;
    } else if (f.te) {
        // RFC 9112 §6.3: a response whose final coding is not chunked is read until close
        out.body = f.chunked_last ? BodyKind::Chunked : BodyKind::UntilClose;
    } else if (f.cl) {
        out.body = f.cl_value ? BodyKind::Length : BodyKind::None;
    } else {
        out.body = BodyKind::UntilClose;
    }
    return kOk;
}

// On a re-call: could the bytes after `scanned` change the verdict? True when a line ended with a
// bare LF or ended an empty line, when a limit or a re-check stride is crossed. The request-line
// start is found again (bounded: a few CRLF pairs) so the limits are measured from it.
bool worth_parsing(const char* d, std::size_t len, const Limits& lim, std::size_t scanned, bool request) {
    std::size_t start = 0;
    if (request) {
        while (start + 1 < len && start <= 2 * kMaxLeadingEmptyLines && d[start] == '\r' &&
               d[start + 1] == '\n')
            start += 2;
    }
    const std::size_t line_cap = start + lim.max_request_line + 2;
    if (len >= start + lim.max_head) return true;
    if (scanned < line_cap && len >= line_cap) return true;
    if (scanned / kRecheckStride != len / kRecheckStride) return true;
    for (std::size_t i = scanned; i < len;) {
        const void* p = std::memchr(d + i, '\n', len - i);
        if (p == nullptr) break;
        const std::size_t n = static_cast<std::size_t>(static_cast<const char*>(p) - d);
        if (n < 2 || d[n - 1] != '\r' || d[n - 2] == '\n') return true;
        i = n + 1;
    }
    return false;
}

}  // namespace

ParseResult parse_request(const char* data, std::size_t len, const Limits& lim, RequestHead& out,
                          std::size_t& scanned) {
    if (scanned > len) scanned = 0;  // a different buffer: start over
    if (scanned != 0 && !worth_parsing(data, len, lim, scanned, true)) {
        scanned = len;
        return kNeedMore;
    }
    const ParseResult r = full_request(data, len, lim, out);
    if (r.status == Status::NeedMore) scanned = len;
    return r;
}

ParseResult parse_response(const char* data, std::size_t len, const Limits& lim, Method request_method,
                           ResponseHead& out, std::size_t& scanned) {
    if (scanned > len) scanned = 0;
    if (scanned != 0 && !worth_parsing(data, len, lim, scanned, false)) {
        scanned = len;
        return kNeedMore;
    }
    const ParseResult r = full_response(data, len, lim, request_method, out);
    if (r.status == Status::NeedMore) scanned = len;
    return r;
}

const Header* MessageHead::find(std::string_view name) const {
    for (std::uint16_t i = 0; i < nheaders; ++i)
        if (!headers[i].removed && iequals(headers[i].name, name)) return &headers[i];
    return nullptr;
}

Header* MessageHead::find(std::string_view name) {
    return const_cast<Header*>(static_cast<const MessageHead*>(this)->find(name));
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (kLower[uc(a[i])] != kLower[uc(b[i])]) return false;
    return true;
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!has(c, kTchar)) return false;
    return true;
}

Method method_of(std::string_view m) {
    switch (m.size()) {
        case 3:
            if (m == "GET") return Method::Get;
            if (m == "PUT") return Method::Put;
            break;
        case 4:
            if (m == "POST") return Method::Post;
            if (m == "HEAD") return Method::Head;
            break;
        case 5:
            if (m == "TRACE") return Method::Trace;
            if (m == "PATCH") return Method::Patch;
            break;
        case 6:
            if (m == "DELETE") return Method::Delete;
            break;
        case 7:
            if (m == "OPTIONS") return Method::Options;
            if (m == "CONNECT") return Method::Connect;
            break;
        default:
            break;
    }
    return Method::Other;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 102:
            return "Processing";
        case 103:
            return "Early Hints";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 203:
            return "Non-Authoritative Information";
        case 204:
            return "No Content";
        case 205:
            return "Reset Content";
        case 206:
            return "Partial Content";
        case 207:
            return "Multi-Status";
        case 208:
            return "Already Reported";
        case 226:
            return "IM Used";
        case 300:
            return "Multiple Choices";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 305:
            return "Use Proxy";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 402:
            return "Payment Required";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 407:
            return "Proxy Authentication Required";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 417:
            return "Expectation Failed";
        case 418:
            return "I'm a teapot";
        case 421:
            return "Misdirected Request";
        case 422:
            return "Unprocessable Content";
        case 423:
            return "Locked";
        case 424:
            return "Failed Dependency";
        case 425:
            return "Too Early";
        case 426:
            return "Upgrade Required";
        case 428:
            return "Precondition Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 451:
            return "Unavailable For Legal Reasons";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        case 506:
            return "Variant Also Negotiates";
        case 507:
            return "Insufficient Storage";
        case 508:
            return "Loop Detected";
        case 510:
            return "Not Extended";
        case 511:
            return "Network Authentication Required";
        default:
            return "";
    }
}

}  // namespace es::http
