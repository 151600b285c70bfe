// The TLS record header and ClientHello fetches of mode tcp rules (payload.hpp). Every read goes
// through Reader, which refuses to move past its end: a length field can only shrink what is read.
#include "edgeshard/rules/payload.hpp"

#include <cstddef>

namespace es::rules {

namespace {

constexpr std::uint8_t kHandshake = 22;
constexpr std::uint8_t kClientHello = 1;
constexpr std::uint16_t kExtServerName = 0;
constexpr std::uint8_t kNameHost = 0;

// A bounded cursor over bytes: reads fail (and stay failed) instead of running past the end.
class Reader {
  public:
    explicit Reader(std::string_view b) : b_(b) {}
    bool ok() const { return ok_; }
    std::size_t left() const { return b_.size() - pos_; }
    std::uint32_t u8() { return take(1); }
    std::uint32_t u16() { return take(2); }
    std::uint32_t u24() { return take(3); }
    void skip(std::size_t n) {
        if (!ok_ || n > left())
            ok_ = false;
        else
            pos_ += n;
    }
    // The next n bytes as a reader of their own (failed when they are not there).
    Reader sub(std::size_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return Reader(std::string_view(), false);
        }
        Reader r(b_.substr(pos_, n));
        pos_ += n;
        return r;
    }
    std::string_view bytes(std::size_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return {};
        }
        const std::string_view v = b_.substr(pos_, n);
        pos_ += n;
        return v;
    }

  private:
    Reader(std::string_view b, bool ok) : b_(b), ok_(ok) {}
    std::uint32_t take(std::size_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return 0;
        }
        std::uint32_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(b_[pos_ + i]);
        pos_ += n;
        return v;
    }

    std::string_view b_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

std::uint8_t byte_at(std::string_view b, std::size_t i) {
    return static_cast<std::uint8_t>(b[i]);
}

// The record header of a TLS handshake record: Found with its body length once the five header
// bytes are there, NeedMore before, Absent when the first bytes already rule it out.
Peek handshake_record(std::string_view b, std::uint32_t& len) {
    if (b.empty()) return Peek::NeedMore;
    if (byte_at(b, 0) != kHandshake) return Peek::Absent;
    if (b.size() >= 2 && byte_at(b, 1) != 3) return Peek::Absent;
    if (b.size() < 5) return Peek::NeedMore;
    len = (std::uint32_t(byte_at(b, 3)) << 8) | byte_at(b, 4);
    if (len == 0 || len > kMaxTlsRecord) return Peek::Absent;
    return Peek::Found;
}

}  // namespace

Peek ssl_hello_type(std::string_view b, int& type) {
    std::uint32_t rec = 0;
    if (const Peek p = handshake_record(b, rec); p != Peek::Found) return p;
    if (rec < 4) return Peek::Absent;  // too short for a handshake message header
    if (b.size() < 9) return Peek::NeedMore;
    const std::uint32_t msg =
        (std::uint32_t(byte_at(b, 6)) << 16) | (std::uint32_t(byte_at(b, 7)) << 8) | byte_at(b, 8);
    const std::uint32_t need = msg + 4 < rec ? msg + 4 : rec;  // the message, or the record it starts in
    if (b.size() < 5 + std::size_t(need)) return Peek::NeedMore;
    type = byte_at(b, 5);
    return Peek::Found;
}

Peek ssl_record_version(std::string_view b, std::int64_t& version) {
    if (b.empty()) return Peek::NeedMore;
    const std::uint8_t ct = byte_at(b, 0);
    if (ct < 20 || ct > 23) return Peek::Absent;  // not a TLS record (an SSLv2 hello among them)
    if (b.size() >= 2 && byte_at(b, 1) != 3) return Peek::Absent;
    if (b.size() < 5) return Peek::NeedMore;
    const std::uint32_t len = (std::uint32_t(byte_at(b, 3)) << 8) | byte_at(b, 4);
    if (len == 0 || len > kMaxTlsRecord) return Peek::Absent;
    if (b.size() < 5 + std::size_t(len)) return Peek::NeedMore;
    version = std::int64_t(byte_at(b, 1)) * 65536 + byte_at(b, 2);
    return Peek::Found;
}

Peek ssl_sni(std::string_view b, std::string_view& name) {
    std::uint32_t rec = 0;
    if (const Peek p = handshake_record(b, rec); p != Peek::Found) return p;
    if (b.size() >= 6 && byte_at(b, 5) != kClientHello) return Peek::Absent;
    if (b.size() < 5 + std::size_t(rec)) return Peek::NeedMore;  // the record is not all here yet

    Reader r(b.substr(5, rec));
    if (r.u8() != kClientHello) return Peek::Absent;
    const std::uint32_t msg_len = r.u24();
    if (!r.ok() || msg_len > r.left()) return Peek::Absent;  // a hello spread over records
    Reader h = r.sub(msg_len);
    h.skip(2 + 32);  // client_version, random
    h.skip(h.u8());  // legacy_session_id<0..32>
    const std::uint32_t ciphers = h.u16();
    if (ciphers % 2 != 0) return Peek::Absent;
    h.skip(ciphers);                                   // cipher_suites<2..2^16-2>
    h.skip(h.u8());                                    // legacy_compression_methods<1..2^8-1>
    if (!h.ok() || h.left() < 2) return Peek::Absent;  // no extensions: no server name
    Reader exts = h.sub(h.u16());
    while (exts.ok() && exts.left() >= 4) {
        const std::uint32_t type = exts.u16();
        Reader ext = exts.sub(exts.u16());
        if (!exts.ok()) return Peek::Absent;
        if (type != kExtServerName) continue;
        Reader list = ext.sub(ext.u16());  // ServerNameList
        while (list.ok() && list.left() >= 3) {
            const std::uint32_t kind = list.u8();
            const std::string_view host = list.bytes(list.u16());
            if (!list.ok()) return Peek::Absent;
            if (kind == kNameHost) {
                if (host.empty() || host.size() > 255) return Peek::Absent;
                name = host;
                return Peek::Found;
            }
        }
        return Peek::Absent;  // one server_name extension per hello (RFC 6066)
    }
    return Peek::Absent;
}

}  // namespace es::rules
