// Typed samples: the casts between HAProxy's sample types (sample.c's sample_casts) and the converters and
// fetches that need them: the hashes (crc32, crc32c, djb2, sdbm, wt6 with their avalanche, xxh32, xxh64,
// xxh3, sha1, sha2, digest), hex / hex2i, bytes, ltrim / rtrim, concat, json, the integer operators, ipmask,
// the constants int / str / bool / bin, req.hdr_cnt, req.hdr_ip, base, base32, base32+src, req.body_size.
// A sample stays written in the arena in its text form (an integer in decimal, an address as text, bytes
// as they are) with its type beside it (g_smp_type); a converter casts its input as HAProxy's would.
// README.md "Converters" has the semantics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include <array>
#include <charconv>
#include <climits>
#include <cstring>
#include <string>
#include <unordered_map>

#include "edgeshard/core/hash.hpp"
#include "edgeshard/core/ipv4_text.hpp"
#include "internal.hpp"

namespace es::rules::detail {

thread_local SmpType g_smp_type = SmpType::Str;

namespace {

// ---- hashes: core/hash.hpp (HAProxy's, shared with the balancers) ---------------------------------------------

using core::hash::avalanche;
using core::hash::djb2;
using core::hash::sdbm;
using core::hash::wt6;
std::uint32_t crc32(std::string_view in) { return core::hash::crc32(in); }
std::uint32_t crc32c(std::string_view in) { return core::hash::crc32c(in); }

int backend_index(const config::Config& cfg, std::string_view name);

// ---- casts -------------------------------------------------------------------------------------------------

void add_int(ArenaWriter& w, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    w.add(std::string_view(buf, std::size_t(r.ptr - buf)));
}

void put_int(ArenaWriter& w, std::size_t mark, std::int64_t v) {
    w.rewind(mark);
    add_int(w, v);
    g_smp_type = SmpType::Int;
}

// An address sample: its family and bytes in network order.
struct Addr {
    int family = AF_INET;
    unsigned char b[16] = {};
};

void put_addr(ArenaWriter& w, std::size_t mark, const Addr& a) {
    char text[INET6_ADDRSTRLEN];
    std::size_t n = 0;
    if (a.family == AF_INET) n = core::ipv4_text(a.b, text);  // (inet_ntop formats with printf)
    else if (inet_ntop(a.family, a.b, text, sizeof text) != nullptr) n = std::strlen(text);
    w.rewind(mark);
    w.add(std::string_view(text, n));
    g_smp_type = a.family == AF_INET ? SmpType::Ip4 : SmpType::Ip6;
}

// HAProxy's buf2ip: a dotted quad up to the first character that is neither a digit nor a dot
bool text_ipv4(std::string_view s, unsigned char out[4]) {
    std::size_t i = 0;
    for (int k = 0; k < 4; ++k) {
        if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
        unsigned v = 0;
        std::size_t n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + unsigned(s[i] - '0');
            if (v > 255 || ++n > 3) return false;
            ++i;
        }
        out[k] = static_cast<unsigned char>(v);
        if (k < 3) {
            if (i >= s.size() || s[i] != '.') return false;
            ++i;
        }
    }
    return i >= s.size() || s[i] != '.';
}

bool text_addr(std::string_view s, Addr& a) {
    if (text_ipv4(s, a.b)) {
        a.family = AF_INET;
        return true;
    }
    char z[INET6_ADDRSTRLEN + 1];
    if (s.empty() || s.size() >= sizeof z) return false;
    std::memcpy(z, s.data(), s.size());
    z[s.size()] = '\0';
    a.family = AF_INET6;
    return inet_pton(AF_INET6, z, a.b) == 1;
}

}  // namespace

bool smp_int(std::string_view v, std::int64_t& out) {
    switch (g_smp_type) {
        case SmpType::Int:
        case SmpType::Bool:
            out = read_int64(v, nullptr);
            return true;
        case SmpType::Ip4: {
            unsigned char b[4];
            if (!text_ipv4(v, b)) return false;
            out = std::int64_t(std::uint32_t(b[0]) << 24 | std::uint32_t(b[1]) << 16 | std::uint32_t(b[2]) << 8 | b[3]);
            return true;
        }
        case SmpType::Ip6:
            return false;
        case SmpType::Bin:
        case SmpType::Str:
            break;
    }
    if (v.empty()) return false;  // c_str2int: an empty string is no integer
    out = read_int64(v, nullptr);
    return true;
}

std::string_view smp_bin(std::string_view v, char (&buf)[16]) {
    switch (g_smp_type) {
        case SmpType::Int:
        case SmpType::Bool: {  // 8 bytes, big-endian (c_int2bin)
            const auto u = static_cast<std::uint64_t>(read_int64(v, nullptr));
            for (int k = 0; k < 8; ++k) buf[k] = char(u >> (56 - 8 * k));
            return {buf, 8};
        }
        case SmpType::Ip4:
        case SmpType::Ip6: {
            Addr a;
            if (!text_addr(v, a)) return {};
            std::memcpy(buf, a.b, 16);
            return {buf, a.family == AF_INET ? 4u : 16u};
        }
        case SmpType::Str:
        case SmpType::Bin:
            break;
    }
    return v;
}

std::string_view smp_str(std::string_view v) {
    if (g_smp_type == SmpType::Bin && !v.empty()) {  // c_bin2str: the string ends at the first NUL
        const void* z = std::memchr(v.data(), 0, v.size());
        if (z != nullptr) v = v.substr(0, std::size_t(static_cast<const char*>(z) - v.data()));
    }
    return v;
}

namespace {

bool smp_addr(std::string_view v, Addr& a) {
    if (g_smp_type == SmpType::Int || g_smp_type == SmpType::Bool) {  // c_int2ip
        const auto u = static_cast<std::uint32_t>(read_int64(v, nullptr));
        a.family = AF_INET;
        a.b[0] = u >> 24, a.b[1] = (u >> 16) & 0xff, a.b[2] = (u >> 8) & 0xff, a.b[3] = u & 0xff;
        return true;
    }
    return text_addr(smp_str(v), a);
}

void put_hex(ArenaWriter& w, std::string_view in) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    char out[64];
    std::size_t n = 0;
    for (unsigned char c : in) {
        out[n++] = kHex[c >> 4];
        out[n++] = kHex[c & 15];
        if (n == sizeof out) {
            w.add(std::string_view(out, n));
            n = 0;
        }
    }
    w.add(std::string_view(out, n));
}

// A per-thread copy of the input, so that the output may be written where it was.
std::string_view keep(std::string_view in) {
    thread_local std::string scratch;
    scratch.assign(in);
    return scratch;
}

// A digest by its OpenSSL name, fetched once per thread (an EVP_Digest with a legacy handle fetches the
// implementation on every call); null: unknown.
const EVP_MD* fetched_md(std::string_view name) {
    struct Fetched {  // a handful per thread, kept for its life
        std::unordered_map<std::string, EVP_MD*> mds;
        ~Fetched() {
            for (auto& [n, md] : mds) EVP_MD_free(md);
        }
    };
    thread_local Fetched f;
    const std::string key(name);
    if (const auto it = f.mds.find(key); it != f.mds.end()) return it->second;
    EVP_MD* md = EVP_MD_fetch(nullptr, key.c_str(), nullptr);
    f.mds.emplace(key, md);
    return md;
}

bool digest(ArenaWriter& w, std::size_t mark, const EVP_MD* md, std::string_view in) {
    struct Ctx {
        EVP_MD_CTX* c = EVP_MD_CTX_new();
        ~Ctx() { EVP_MD_CTX_free(c); }
    };
    thread_local Ctx holder;
    EVP_MD_CTX* const ctx = holder.c;
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (md == nullptr || ctx == nullptr || EVP_DigestInit_ex(ctx, md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx, in.data(), in.size()) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1)
        return false;
    w.rewind(mark);
    w.add(std::string_view(reinterpret_cast<const char*>(out), n));
    g_smp_type = SmpType::Bin;
    return true;
}

// json: HAProxy's sample_conv_json. A UTF-8 sequence decoded (utf8 modes): its code point and length;
// false for a bad sequence, a surrogate or a code point past U+FFFF (an overlong form only without `p`).
bool utf8_next(std::string_view s, std::size_t i, bool permissive, unsigned& cp, std::size_t& len) {
    const auto c = static_cast<unsigned char>(s[i]);
    len = 1;
    if (c < 0x80) {
        cp = c;
        return true;
    }
    std::size_t n;
    unsigned min;
    if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
    else return false;
    for (std::size_t k = 1; k < n; ++k) {
        if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
            len = k;
            return false;
        }
        cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    len = n;
    if (cp < min && !permissive) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    return cp <= 0xFFFF;
}

bool json(ArenaWriter& w, std::string_view in, std::string_view mode) {
    const bool utf8 = mode.starts_with("utf8");
    const bool skip = mode == "utf8s" || mode == "utf8ps";
    const bool permissive = mode == "utf8p" || mode == "utf8ps";
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < in.size();) {
        unsigned cp = static_cast<unsigned char>(in[i]);
        std::size_t len = 1;
        if (utf8 && !utf8_next(in, i, permissive, cp, len)) {
            if (!skip) return false;
            i += len;
            continue;
        }
        i += len;
        const char* esc = nullptr;
        switch (cp) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '/': esc = "\\/"; break;
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\r': esc = "\\r"; break;
            case '\n': esc = "\\n"; break;
            case '\t': esc = "\\t"; break;
            default: break;
        }
        if (esc != nullptr) {
            w.add(esc);
        } else if (cp < 0x20 || cp > 0x7E) {
            const char u[6] = {'\\', 'u', kHex[(cp >> 12) & 15], kHex[(cp >> 8) & 15], kHex[(cp >> 4) & 15], kHex[cp & 15]};
            w.add(std::string_view(u, 6));
        } else {
            const char ch = char(cp);
            w.add(std::string_view(&ch, 1));
        }
    }
    return true;
}

// The integer operand of add/sub/...: a variable (no sample when it is not set) or a literal.
bool operand(const Txn& t, std::string_view arg, std::int64_t& v) {
    const std::size_t dot = arg.find('.');
    if (dot != std::string_view::npos && !arg.empty() && (arg[0] < '0' || arg[0] > '9') && arg[0] != '-' && arg[0] != '+') {
        std::string_view s;
        if (!var_value(t, arg, s)) return false;
        v = read_int64(s, nullptr);
        return true;
    }
    v = read_int64(arg, nullptr);
    return true;
}

std::int64_t sat_add(std::int64_t a, std::int64_t b) {
    std::int64_t r;
    if (!__builtin_add_overflow(a, b, &r)) return r;
    return b > 0 ? LLONG_MAX : LLONG_MIN;
}

// ipmask's masks: a length or a dotted (IPv6: colon) form, in network order
bool mask_of(std::string_view s, int family, unsigned char out[16]) {
    const std::size_t n = family == AF_INET ? 4 : 16;
    std::memset(out, 0, 16);
    std::size_t used = 0;
    const std::int64_t bits = read_int64(s, &used);
    if (!s.empty() && used == s.size() && s[0] != '-' && s[0] != '+') {
        if (bits < 0 || bits > std::int64_t(n * 8)) return false;
        for (std::int64_t k = 0; k < bits; ++k) out[k / 8] |= static_cast<unsigned char>(0x80u >> (k % 8));
        return true;
    }
    Addr a;
    if (family == AF_INET) return text_ipv4(s, out) && used != s.size();
    return text_addr(s, a) && a.family == AF_INET6 && (std::memcpy(out, a.b, 16), true);
}

}  // namespace

// The typed converters by id (typed_conv_id, read once with the expression), in kTypedConvs' order.
enum TypedConv : std::uint8_t {
    kConvNone,
    kConvCrc32,
    kConvCrc32c,
    kConvDjb2,
    kConvSdbm,
    kConvWt6,
    kConvXxh32,
    kConvXxh64,
    kConvXxh3,
    kConvSha1,
    kConvSha2,
    kConvDigest,
    kConvHex,
    kConvHex2i,
    kConvBytes,
    kConvLtrim,
    kConvRtrim,
    kConvConcat,
    kConvJson,
    kConvAdd,
    kConvSub,
    kConvMul,
    kConvDiv,
    kConvMod,
    kConvAnd,
    kConvOr,
    kConvXor,
    kConvNeg,
    kConvCpl,
    kConvBool,
    kConvNot,
    kConvOdd,
    kConvEven,
    kConvNbsrv,
    kConvIpmask,
};

constexpr std::string_view kTypedConvs[] = {"crc32", "crc32c", "djb2", "sdbm", "wt6", "xxh32", "xxh64", "xxh3", "sha1", "sha2", "digest", "hex", "hex2i", "bytes", "ltrim", "rtrim", "concat", "json", "add", "sub", "mul", "div", "mod", "and", "or", "xor", "neg", "cpl", "bool", "not", "odd", "even", "nbsrv", "ipmask"};

std::uint8_t typed_conv_id(std::string_view name) {
    for (std::size_t i = 0; i < std::size(kTypedConvs); ++i)
        if (kTypedConvs[i] == name) return std::uint8_t(i + 1);
    return 0;
}

bool convert_typed(const Txn& t, std::uint8_t id, const config::ConvArgs& a, ArenaWriter& w, std::size_t mark,
                   bool& present) {
    const std::string_view in0 = w.since(mark);
    auto iarg = [&](int k, std::int64_t def) { return k < a.n && !a.v[k].empty() ? read_int64(a.v[k], nullptr) : def; };
    auto none = [&] {
        w.rewind(mark);
        present = false;
        return true;
    };
    char bb[16];
    // the 32-bit hashes, their avalanche with any non-zero argument
    std::uint32_t (*h32)(std::string_view) = nullptr;
    if (id == kConvCrc32) h32 = crc32;
    else if (id == kConvCrc32c) h32 = crc32c;
    else if (id == kConvDjb2) h32 = djb2;
    else if (id == kConvSdbm) h32 = sdbm;
    else if (id == kConvWt6) h32 = wt6;
    if (h32 != nullptr) {
        if (!present) return true;
        std::uint32_t h = h32(smp_bin(in0, bb));
        if (iarg(0, 0) != 0) h = avalanche(h);
        put_int(w, mark, h);
        return true;
    }
    if (id == kConvXxh32 || id == kConvXxh64 || id == kConvXxh3) {
        if (!present) return true;
        const std::string_view in = smp_bin(in0, bb);
        const auto seed = static_cast<std::uint64_t>(iarg(0, 0));
        const std::int64_t v = id == kConvXxh32 ? std::int64_t(XXH32(in.data(), in.size(), std::uint32_t(seed)))
                                : id == kConvXxh64 ? std::int64_t(XXH64(in.data(), in.size(), seed))
                                                  : std::int64_t(XXH3_64bits_withSeed(in.data(), in.size(), seed));
        put_int(w, mark, v);
        return true;
    }
    if (id == kConvSha1 || id == kConvSha2 || id == kConvDigest) {
        if (!present) return true;
        const std::string_view in = keep(smp_bin(in0, bb));
        const EVP_MD* md = nullptr;
        if (id == kConvSha1) {
            md = fetched_md("SHA1");
        } else if (id == kConvSha2) {
            const std::int64_t bits = iarg(0, 256);
            md = fetched_md(bits == 224 ? "SHA224" : bits == 384 ? "SHA384" : bits == 512 ? "SHA512" : "SHA256");
        } else {
            md = fetched_md(a.n > 0 ? a.v[0] : std::string_view());
        }
        if (!digest(w, mark, md, in)) return none();
        return true;
    }
    if (id == kConvHex) {
        if (!present) return true;
        const std::string_view in = keep(smp_bin(in0, bb));
        w.rewind(mark);
        put_hex(w, in);
        g_smp_type = SmpType::Str;
        return true;
    }
    if (id == kConvHex2i) {
        if (!present) return true;
        const std::string_view in = smp_str(in0);
        std::uint64_t v = 0;
        for (char c : in) {
            const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) return none();
            v = v << 4 | unsigned(d);
        }
        put_int(w, mark, static_cast<std::int64_t>(v));
        return true;
    }
    if (id == kConvBytes) {
        if (!present) return true;
        const bool keep_type = g_smp_type == SmpType::Str || g_smp_type == SmpType::Bin;
        const std::string_view in = keep(smp_bin(in0, bb));
        // the arguments compared as unsigned (a negative offset is past the end, a negative length the rest)
        const auto off = static_cast<std::uint64_t>(iarg(0, 0));
        std::string_view out;
        if (off < in.size()) {
            out = in.substr(off);
            if (a.n > 1 && !a.v[1].empty() && static_cast<std::uint64_t>(iarg(1, 0)) < out.size())
                out = out.substr(0, std::size_t(iarg(1, 0)));
        }
        w.rewind(mark);
        w.add(out);
        if (!keep_type) g_smp_type = SmpType::Bin;
        return true;
    }
    if (id == kConvLtrim || id == kConvRtrim) {
        if (!present) return true;
        std::string_view in = smp_str(in0);
        const std::string_view set = a.n > 0 ? a.v[0] : std::string_view();
        auto in_set = [&](char c) { return !set.empty() && std::memchr(set.data(), c, set.size()) != nullptr; };
        std::size_t from = 0, to = in.size();
        if (id == kConvLtrim) while (from < to && in_set(in[from])) ++from;
        else while (to > from && in_set(in[to - 1])) --to;
        in = keep(in.substr(from, to - from));
        w.rewind(mark);
        w.add(in);
        g_smp_type = SmpType::Str;
        return true;
    }
    if (id == kConvConcat) {
        if (!present) return true;
        const std::string_view in = smp_str(in0);
        if (in.size() != in0.size()) {
            const std::string_view k = keep(in);
            w.rewind(mark);
            w.add(k);
        }
        if (a.n > 0) w.add(a.v[0]);
        std::string_view v;
        if (a.n > 1 && !a.v[1].empty() && var_value(t, a.v[1], v)) w.add(v);
        if (a.n > 2) w.add(a.v[2]);
        g_smp_type = SmpType::Str;
        return true;
    }
    if (id == kConvJson) {
        if (!present) return true;
        const std::string_view in = keep(smp_str(in0));
        w.rewind(mark);
        if (!json(w, in, a.n > 0 ? a.v[0] : std::string_view())) return none();
        g_smp_type = SmpType::Str;
        return true;
    }
    if (id == kConvAdd || id == kConvSub || id == kConvMul || id == kConvDiv || id == kConvMod || id == kConvAnd ||
        id == kConvOr || id == kConvXor) {
        if (!present) return true;
        std::int64_t x = 0, y = 0;
        if (!smp_int(in0, x) || !operand(t, a.n > 0 ? a.v[0] : std::string_view(), y)) return none();
        std::int64_t r = 0;
        if (id == kConvAdd) r = sat_add(x, y);
        else if (id == kConvSub) r = y == LLONG_MIN ? sat_add(sat_add(x, LLONG_MAX), 1) : sat_add(x, -y);
        else if (id == kConvMul) r = __builtin_mul_overflow(x, y, &r) ? ((x < 0) == (y < 0) ? LLONG_MAX : LLONG_MIN) : r;
        else if (id == kConvDiv) r = y == 0 || (x == LLONG_MIN && y == -1) ? LLONG_MAX : x / y;
        else if (id == kConvMod) r = y == 0 || y == -1 ? 0 : x % y;
        else if (id == kConvAnd) r = x & y;
        else if (id == kConvOr) r = x | y;
        else r = x ^ y;
        put_int(w, mark, r);
        return true;
    }
    if (id == kConvNeg || id == kConvCpl || id == kConvBool || id == kConvNot || id == kConvOdd || id == kConvEven) {
        if (!present) return true;
        std::int64_t x = 0;
        if (!smp_int(in0, x)) return none();
        if (id == kConvNeg || id == kConvCpl) {
            put_int(w, mark, id == kConvCpl ? ~x : x == LLONG_MIN ? LLONG_MAX : -x);
            return true;
        }
        const bool b = id == kConvBool ? x != 0 : id == kConvNot ? x == 0 : id == kConvOdd ? (x & 1) != 0 : (x & 1) == 0;
        w.rewind(mark);
        w.add(b ? "1" : "0");
        g_smp_type = SmpType::Bool;
        return true;
    }
    if (id == kConvNbsrv) {  // the backend named by the sample (none: no sample)
        if (!present) return true;
        const int be = t.cfg != nullptr && t.servers != nullptr ? backend_index(*t.cfg, smp_str(in0)) : -1;
        if (be < 0) return none();
        put_int(w, mark, t.servers->usable_servers(be));
        return true;
    }
    if (id == kConvIpmask) {
        if (!present) return true;
        Addr ad;
        if (!smp_addr(in0, ad)) return none();
        static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (ad.family == AF_INET6 && std::memcmp(ad.b, kMapped, 12) == 0) {  // v4-mapped: masked as IPv4
            std::memmove(ad.b, ad.b + 12, 4);
            ad.family = AF_INET;
        }
        unsigned char m[16];
        if (ad.family == AF_INET6 && a.n < 2) return none();
        if (!mask_of(ad.family == AF_INET ? a.v[0] : a.v[1], ad.family, m)) return none();
        for (int k = 0; k < 16; ++k) ad.b[k] &= m[k];
        put_addr(w, mark, ad);
        return true;
    }
    return false;
}

namespace {

// base: the first Host value and the path up to '?' (an absolute target's authority; no Host: the path)
bool base_of(const Txn& t, ArenaWriter& w) {
    const http::RequestHead* req = t.req;
    if (req == nullptr) return false;
    std::string_view host, target = req->target;
    if (req->absolute_form) {
        const std::size_t s = target.find("://");
        const std::size_t a = s == std::string_view::npos ? 0 : s + 3;
        const std::size_t e = target.find_first_of("/?", a);
        host = target.substr(a, e == std::string_view::npos ? std::string_view::npos : e - a);
        target = e == std::string_view::npos ? std::string_view() : target.substr(e);
    } else {
        for (std::uint16_t i = 0; i < req->nheaders; ++i) {
            const http::Header& h = req->headers[i];
            if (!h.removed && http::iequals(h.name, "host")) {
                std::size_t pos = 0;
                std::string_view first;
                if (next_list_element(h.value, pos, first)) host = first;
                break;
            }
        }
    }
    const std::size_t q = target.find('?');
    w.add(host);
    w.add(target.substr(0, q));
    return true;
}

// Each whole value of the request's (or the response's) headers named `name` (every header without a name), the
// added ones after, in order; `fn` returns false to stop.
template <class Fn>
void each_header(const Txn& t, std::string_view name, Fn&& fn) {
    const http::MessageHead* msg = t.rsp != nullptr ? static_cast<const http::MessageHead*>(t.rsp) : t.req;
    if (msg != nullptr)
        for (std::uint16_t i = 0; i < msg->nheaders; ++i) {
            const http::Header& h = msg->headers[i];
            if (!h.removed && (name.empty() || http::iequals(h.name, name)) && !fn(h.value)) return;
        }
    if (t.edits != nullptr)
        for (int i = 0; i < t.edits->nadds; ++i)
            if ((name.empty() || http::iequals(t.edits->adds[i].name, name)) && !fn(t.edits->adds[i].value)) return;
}

// Each comma-separated value of those headers, in order; `fn` returns false to stop.
template <class Fn>
void each_value(const Txn& t, std::string_view name, Fn&& fn) {
    each_header(t, name, [&](std::string_view v) {
        std::size_t pos = 0;
        std::string_view e;
        while (next_list_element(v, pos, e))
            if (!fn(e)) return false;
        return true;
    });
}

// req.hdr_ip's reading of a value: IPv4 with an optional valid :port, or IPv6
bool hdr_ip_value(std::string_view v, Addr& a) {
    const std::size_t colon = v.find(':');
    if (colon != std::string_view::npos && v.find(':', colon + 1) == std::string_view::npos) {
        std::size_t used = 0;
        const std::string_view port = v.substr(colon + 1);
        const std::int64_t p = read_int64(port, &used);
        if (port.empty() || used != port.size() || port[0] == '-' || port[0] == '+' || p > 65535) return false;
        v = v.substr(0, colon);
    }
    if (v.find(':') == std::string_view::npos) {
        std::size_t dots = 0;
        for (char c : v) dots += c == '.';
        return dots == 3 && text_ipv4(v, a.b) && (a.family = AF_INET, true) && v.find_first_not_of("0123456789.") == std::string_view::npos;
    }
    return text_addr(v, a) && a.family == AF_INET6;
}

int backend_index(const config::Config& cfg, std::string_view name) {
    for (std::size_t i = 0; i < cfg.backends.size(); ++i)
        if (cfg.backends[i].name == name) return int(i);
    return -1;
}

}  // namespace

bool is_typed_fetch(std::string_view name) {
    static constexpr std::string_view kNames[] = {"int", "str", "bool", "bin", "req.hdr_cnt", "hdr_cnt", "req.hdr_ip", "hdr_ip",
                                                  "res.hdr_cnt", "res.hdr_ip",
                                                  "base", "base32", "base32+src", "nbsrv", "srv_is_up", "req.len",
                                                  "req.payload", "res.len", "res.payload", "req.body_size"};
    for (std::string_view n : kNames)
        if (n == name) return true;
    return false;
}

bool fetch_typed(const Txn& t, std::string_view expr, ArenaWriter& w, int& present) {
    const std::size_t paren = expr.find('(');
    config::ConvArgs a;
    if (paren != std::string_view::npos && config::read_conv_args(expr.substr(paren + 1), a) < 0) return false;
    return fetch_typed(t, expr.substr(0, paren), a, w, present);
}

bool fetch_typed(const Txn& t, std::string_view name, const config::ConvArgs& a, ArenaWriter& w, int& present) {
    const std::size_t n = a.n == 1 && a.v[0].empty() ? 0 : std::size_t(a.n);
    if (name == "int") {
        add_int(w, read_int64(a.v[0], nullptr));
        g_smp_type = SmpType::Int;
        present = 1;
        return true;
    }
    if (name == "str") {
        if (n > 0) w.add(a.v[0]);
        present = 1;
        return true;
    }
    if (name == "bool") {
        const std::string_view b = a.v[0];
        w.add(b == "1" || (b.size() == 4 && (b[0] | 0x20) == 't') ? "1" : "0");
        g_smp_type = SmpType::Bool;
        present = 1;
        return true;
    }
    if (name == "bin") {
        for (std::size_t i = 0; i + 1 < a.v[0].size(); i += 2) {
            auto hv = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
            const char c = char(hv(a.v[0][i]) << 4 | hv(a.v[0][i + 1]));
            w.add(std::string_view(&c, 1));
        }
        g_smp_type = SmpType::Bin;
        present = 1;
        return true;
    }
    if (name == "req.hdr_cnt" || name == "hdr_cnt" || name == "res.hdr_cnt") {
        std::int64_t cnt = 0;
        each_header(t, n > 0 ? a.v[0] : std::string_view(), [&](std::string_view v) {
            if (v.empty() || std::memchr(v.data(), '"', v.size()) == nullptr) {  // no quoted string: its commas split it
                ++cnt;
                for (const char* p = v.data(); !v.empty() && (p = static_cast<const char*>(std::memchr(p, ',', std::size_t(v.data() + v.size() - p)))) != nullptr; ++p)
                    ++cnt;
                return true;
            }
            std::size_t pos = 0;
            std::string_view e;
            while (next_list_element(v, pos, e)) ++cnt;
            return true;
        });
        add_int(w, cnt);
        g_smp_type = SmpType::Int;
        present = 1;
        return true;
    }
    if (name == "req.hdr_ip" || name == "hdr_ip" || name == "res.hdr_ip") {
        // the occurrence: the last by default, 1 the first, -1 the last, -2 the one before...
        const std::int64_t occ = n > 1 ? read_int64(a.v[1], nullptr) : -1;
        std::string_view pick;
        bool got = false;
        std::int64_t total = 0;
        each_value(t, n > 0 ? a.v[0] : std::string_view(), [&](std::string_view) { return ++total, true; });
        const std::int64_t want = occ > 0 ? occ : occ < 0 ? total + occ + 1 : total;
        std::int64_t k = 0;
        each_value(t, n > 0 ? a.v[0] : std::string_view(), [&](std::string_view v) {
            if (++k != want) return true;
            pick = v, got = true;
            return false;
        });
        Addr ad;
        present = got && hdr_ip_value(pick, ad) ? 1 : 0;
        if (present) put_addr(w, w.mark(), ad);
        return true;
    }
    if (name == "base" || name == "base32" || name == "base32+src") {
        const std::size_t mark = w.mark();
        if (!base_of(t, w)) {
            present = 0;
            return true;
        }
        present = 1;
        if (name == "base") return true;
        const std::uint32_t h = avalanche(sdbm(w.since(mark)));
        if (name == "base32") {
            put_int(w, mark, h);
            return true;
        }
        w.rewind(mark);
        const char hb[4] = {char(h >> 24), char(h >> 16), char(h >> 8), char(h)};
        w.add(std::string_view(hb, 4));
        if (t.src != nullptr && t.src->ss_family == AF_INET) {
            const auto* s4 = reinterpret_cast<const sockaddr_in*>(t.src);
            w.add(std::string_view(reinterpret_cast<const char*>(&s4->sin_addr), 4));
        } else if (t.src != nullptr && t.src->ss_family == AF_INET6) {
            const auto* s6 = reinterpret_cast<const sockaddr_in6*>(t.src);
            w.add(std::string_view(reinterpret_cast<const char*>(&s6->sin6_addr), 16));
        }
        g_smp_type = SmpType::Bin;
        return true;
    }
    if (name == "nbsrv" || name == "srv_is_up") {
        // by name (the configuration checked them); nbsrv without one: the backend running the rules
        present = 0;
        if (t.cfg == nullptr || t.servers == nullptr) return true;
        std::string_view be_name = n > 0 ? a.v[0] : std::string_view(), srv_name;
        if (name == "srv_is_up") {
            const std::size_t slash = be_name.find('/');
            srv_name = slash == std::string_view::npos ? be_name : be_name.substr(slash + 1);
            be_name = slash == std::string_view::npos ? std::string_view() : be_name.substr(0, slash);
        }
        const int be = be_name.empty() ? t.be : backend_index(*t.cfg, be_name);
        if (be < 0) return true;
        if (name == "nbsrv") {
            add_int(w, t.servers->usable_servers(be));
            g_smp_type = SmpType::Int;
        } else {
            const auto& servers = t.cfg->backends[std::size_t(be)].servers;
            int srv = -1;
            for (std::size_t i = 0; i < servers.size(); ++i)
                if (servers[i].name == srv_name) srv = int(i);
            if (srv < 0) return true;
            w.add(t.servers->server_up(be, srv) ? "1" : "0");
            g_smp_type = SmpType::Bool;
        }
        present = 1;
        return true;
    }
    if (name == "req.len" || name == "req.payload" || name == "res.len" || name == "res.payload") {
        // the held bytes of that side (mode tcp content rules), as final: a window not all there is none
        present = 0;
        if (name.starts_with("res.") != t.payload_response) return true;
        if (name.ends_with(".len")) {
            add_int(w, std::int64_t(t.payload_http ? t.payload_size : t.payload.size()));
            g_smp_type = SmpType::Int;
            present = 1;
            return true;
        }
        if (t.payload_http) return true;
        const auto off = std::size_t(read_int64(a.v[0], nullptr)), len = std::size_t(read_int64(a.v[1], nullptr));
        if (off > t.payload.size() || (len != 0 && t.payload.size() - off < len)) return true;
        w.add(t.payload.substr(off, len == 0 ? std::string_view::npos : len));
        g_smp_type = SmpType::Bin;
        present = 1;
        return true;
    }
    if (name == "req.body_size") {
        add_int(w, t.req != nullptr ? std::int64_t(t.req->content_length) : 0);
        g_smp_type = SmpType::Int;
        present = t.req != nullptr ? 1 : 0;
        return true;
    }
    return false;
}

}  // namespace es::rules::detail
