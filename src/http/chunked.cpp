// Chunked body framing (RFC 9112 §7.1), followed byte by byte across any segmentation. The
// scanner never copies or rewrites: it only says how many bytes of each segment belong to the body
// and whether they are valid, so the proxy can forward the segment as received. Chunk data is
// skipped in one step per segment; only the framing lines are read byte by byte.
#include <array>
#include <string>
#include <cstdint>

#include "edgeshard/http/parser.hpp"

namespace es::http {
namespace {

enum State : std::uint8_t {
    kSizeStart,  // first hex digit of a chunk-size
    kSize,       // more hex digits
    kExt,        // chunk-ext (sub-state in ext_state_)
    kSizeLf,     // LF ending the chunk-size line
    kData,       // remaining_ bytes of chunk data
    kDataCr,     // CRLF after chunk data
    kDataLf,
    kTrailerStart,  // start of a trailer field line, or CR of the final CRLF
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kFinalLf,
    kDone,
    kError,
};

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
enum ExtState : std::uint8_t {
    kExtAfterItem,   // after the size, a name or a value: ';', BWS or CR
    kExtBws,         // BWS that must lead to ';'
    kExtNameStart,   // BWS, then the first tchar of a name
    kExtName,        // tchar*, then '=', ';', BWS or CR
    kExtAfterName,   // BWS after a name: '=' or ';'
    kExtValueStart,  // BWS, then a token or a quoted-string
    kExtToken,
    kExtQuoted,
    kExtQuotedEscape,
};

// Longest chunk-size line (size plus extensions) accepted; extensions are metadata nobody needs in
// bulk, and an endless one must not pin the connection.
constexpr std::uint32_t kMaxChunkLine = 4096;

enum : std::uint8_t { kTchar = 1, kField = 2, kQdtext = 4, kQuotedPair = 8 };

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> t{};
    constexpr std::string_view delims = "!#$%&'*+-.^_`|~";
    for (int i = 0; i < 256; ++i) {
        std::uint8_t v = 0;
        const bool alnum = (i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z') || (i >= '0' && i <= '9');
        bool delim = false;
        for (char d : delims) delim = delim || i == d;
        if (alnum || delim) v |= kTchar;
        const bool vchar = (i >= 0x21 && i <= 0x7e) || i >= 0x80;  // VCHAR and obs-text
        if (vchar || i == ' ' || i == '\t') v |= kField | kQuotedPair;
        if ((vchar && i != '"' && i != '\\') || i == ' ' || i == '\t') v |= kQdtext;
        t[static_cast<std::size_t>(i)] = v;
    }
    return t;
}
constexpr std::array<std::uint8_t, 256> kClass = make_classes();

inline bool has(char c, std::uint8_t cls) {
    return (kClass[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool is_ws(char c) {
    return c == ' ' || c == '\t';
}
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

ChunkedScanner::Step ChunkedScanner::feed(const char* data, std::size_t len) {
    if (state_ == kDone) return {Status::Done, 0, ""};
    if (state_ == kError) return {Status::Error, 0, "chunked body already failed"};
    const char* why = nullptr;
    std::size_t i = 0;
    while (i < len) {
        if (state_ == kData) {
            const std::size_t avail = len - i;
            const std::size_t n = remaining_ < avail ? static_cast<std::size_t>(remaining_) : avail;
            i += n;
            remaining_ -= n;
            payload_ += n;
            if (remaining_ == 0) state_ = kDataCr;
            continue;
        }
        const char c = data[i];
        if (state_ <= kSizeLf && ++line_bytes_ > kMaxChunkLine) {
            why = "chunk size line too long";
            break;
        }
        if (state_ >= kTrailerStart && ++trailer_bytes_ > max_trailers_) {
            why = "trailer section too large";
            break;
        }
        switch (state_) {
            case kSizeStart:
            case kSize: {
                const int h = hex_value(c);
                if (h >= 0) {
                    if (remaining_ != 0 || h != 0) {  // leading zeros are not significant
                        if (size_digits_ == 16) {
                            why = "chunk size overflow";
                            break;
                        }
                        remaining_ = (remaining_ << 4) | static_cast<std::uint64_t>(h);
                        ++size_digits_;
                    }
                    state_ = kSize;
                    break;
                }
                if (state_ == kSizeStart) {
                    why = c == '\r' || c == '\n' ? "empty chunk size" : "invalid chunk size";
                    break;
                }
                if (c == '\r')
                    state_ = kSizeLf;
                else if (c == ';' || is_ws(c)) {
                    state_ = kExt;
                    ext_state_ = c == ';' ? kExtNameStart : kExtBws;
                } else
                    why = c == '\n' ? "bare LF in chunk framing" : "invalid chunk size";
                break;
            }
            case kExt:
                switch (ext_state_) {
                    case kExtAfterItem:
                        if (c == ';')
                            ext_state_ = kExtNameStart;
                        else if (is_ws(c))
                            ext_state_ = kExtBws;
                        else if (c == '\r')
                            state_ = kSizeLf;
                        else
                            why = "invalid chunk extension";
                        break;
                    case kExtBws:
                        if (c == ';')
                            ext_state_ = kExtNameStart;
                        else if (!is_ws(c))
                            why = "invalid chunk extension";
                        break;
                    case kExtNameStart:
                        if (has(c, kTchar))
                            ext_state_ = kExtName;
                        else if (!is_ws(c))
                            why = "invalid chunk extension";
                        break;
                    case kExtName:
                        if (has(c, kTchar)) break;
                        if (c == '=')
                            ext_state_ = kExtValueStart;
                        else if (c == ';')
                            ext_state_ = kExtNameStart;
                        else if (is_ws(c))
                            ext_state_ = kExtAfterName;
                        else if (c == '\r')
                            state_ = kSizeLf;
                        else
                            why = "invalid chunk extension";
                        break;
                    case kExtAfterName:
                        if (c == '=')
                            ext_state_ = kExtValueStart;
                        else if (c == ';')
                            ext_state_ = kExtNameStart;
                        else if (!is_ws(c))
                            why = "invalid chunk extension";
                        break;
                    case kExtValueStart:
                        if (has(c, kTchar))
                            ext_state_ = kExtToken;
                        else if (c == '"')
                            ext_state_ = kExtQuoted;
                        else if (!is_ws(c))
                            why = "invalid chunk extension";
                        break;
                    case kExtToken:
                        if (has(c, kTchar)) break;
                        if (c == ';')
                            ext_state_ = kExtNameStart;
                        else if (is_ws(c))
                            ext_state_ = kExtBws;
                        else if (c == '\r')
                            state_ = kSizeLf;
                        else
                            why = "invalid chunk extension";
                        break;
                    case kExtQuoted:
                        if (c == '"')
                            ext_state_ = kExtAfterItem;
                        else if (c == '\\')
                            ext_state_ = kExtQuotedEscape;
                        else if (!has(c, kQdtext))
                            why = "invalid chunk extension";
                        break;
                    case kExtQuotedEscape:
                        if (has(c, kQuotedPair))
                            ext_state_ = kExtQuoted;
                        else
                            why = "invalid chunk extension";
                        break;
                    default:
                        why = "invalid chunk extension";
                        break;
                }
                break;
            case kSizeLf:
                if (c != '\n') {
                    why = "bare CR in chunk framing";
                    break;
                }
                line_bytes_ = 0;
                size_digits_ = 0;
                if (remaining_ == 0) {
                    state_ = kTrailerStart;
                    trailer_bytes_ = 0;
                } else {
                    state_ = kData;
                }
                break;
            case kDataCr:
                if (c != '\r')
                    why = c == '\n' ? "bare LF in chunk framing" : "missing CRLF after chunk data";
                else
                    state_ = kDataLf;
                break;
            case kDataLf:
                if (c != '\n')
                    why = "bare CR in chunk framing";
                else
                    state_ = kSizeStart;
                break;
            case kTrailerStart:
                if (c == '\r')
                    state_ = kFinalLf;
                else if (has(c, kTchar))
                    state_ = kTrailerName;
                else if (is_ws(c))
                    why = "obs-fold in trailer section";
                else if (c == '\n')
                    why = "bare LF in chunk framing";
                else
                    why = c == ':' ? "empty trailer field name" : "invalid trailer field name";
                break;
            case kTrailerName:
                if (c == ':')
                    state_ = kTrailerValue;
                else if (is_ws(c))
                    why = "whitespace before colon in trailer";
                else if (!has(c, kTchar))
                    why = "invalid trailer field name";
                break;
            case kTrailerValue:
                if (c == '\r')
                    state_ = kTrailerLf;
                else if (!has(c, kField))
                    why = c == '\n' ? "bare LF in chunk framing" : "control character in trailer";
                break;
            case kTrailerLf:
                if (c != '\n')
                    why = "bare CR in trailer section";
                else
                    state_ = kTrailerStart;
                break;
            case kFinalLf:
                if (c != '\n') {
                    why = "bare CR in chunk framing";
                    break;
                }
                state_ = kDone;
                return {Status::Done, i + 1, ""};
            default:
                why = "invalid chunked scanner state";
                break;
        }
        if (why != nullptr) break;
        ++i;
    }
    if (why != nullptr) {
        state_ = kError;
        return {Status::Error, i, why};
    }
    return {Status::NeedMore, len, ""};
}

// The data of a whole chunked body the scanner accepted: sizes and data in turn, extensions and
// trailers skipped. False (out unchanged past what was decoded) when the framing is not that.
bool dechunk(std::string_view framed, std::string& out) {
    std::size_t i = 0;
    for (;;) {
        std::uint64_t size = 0;
        std::size_t digits = 0;
        for (; i < framed.size() && hex_value(framed[i]) >= 0; ++i, ++digits) {
            if (size > (std::uint64_t(1) << 58)) return false;
            size = size * 16 + std::uint64_t(hex_value(framed[i]));
        }
        if (digits == 0) return false;
        const std::size_t eol = framed.find("\r\n", i);  // past any extension
        if (eol == std::string_view::npos) return false;
        i = eol + 2;
        if (size == 0) return true;  // trailers and the last CRLF follow
        if (framed.size() - i < size + 2) return false;
        out.append(framed.substr(i, std::size_t(size)));
        i += std::size_t(size) + 2;
    }
}

}  // namespace es::http
