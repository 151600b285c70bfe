// HTTP Basic authentication against userlists (RFC 7617).
//
// Cost: a hashed password is checked with crypt(3). SHA-512 crypt ($6$, 5000 rounds by default) and
// SHA-256 crypt ($5$) take about a millisecond each, yescrypt ($y$) and bcrypt ($2b$) several; a
// shard that paid that on every request would stall every connection it serves. So each thread
// keeps a small cache of credentials it has already verified: only the first request with a given
// user and password pays for crypt(3), later ones cost a keyed hash and a few compares. Only
// successes are cached (a wrong password always goes through crypt(3), and is never remembered as
// valid). The cache key is a 128-bit keyed hash (SipHash-2-4 with a random per-thread key) over
// the userlist name, the user name, the stored hash and the password given: no password is kept
// in memory, a reloaded configuration that changes a user's hash misses the cache, and the key
// cannot be predicted by a client hunting for collisions.
#include <crypt.h>
#include <sys/random.h>

#include <cstdint>
#include <cstring>
#include <ctime>

#include "edgeshard/rules/rules.hpp"

namespace es::rules {

namespace {

// ---- base64 (RFC 4648 §4), strict: canonical padding, no whitespace, zero trailing bits ----------

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Returns the decoded length, or -1 when `in` is not canonical base64 or does not fit.
long b64_decode(std::string_view in, char* out, std::size_t cap) {
    if (in.empty() || in.size() % 4 != 0) return -1;
    std::size_t pad = 0;
    if (in.back() == '=') pad = in[in.size() - 2] == '=' ? 2 : 1;
    const std::size_t n = in.size() / 4 * 3 - pad;
    if (n > cap) return -1;
    std::size_t o = 0;
    for (std::size_t i = 0; i < in.size(); i += 4) {
        const bool last = i + 4 == in.size();
        int v[4];
        for (int k = 0; k < 4; ++k) {
            const char c = in[i + static_cast<std::size_t>(k)];
            if (c == '=' && last && static_cast<std::size_t>(k) >= 4 - pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64_value(c);
            if (v[k] < 0) return -1;
        }
        const std::uint32_t w = static_cast<std::uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        if (last && pad == 2 && (w & 0xffff) != 0) return -1;  // non-zero bits after the last byte
        if (last && pad == 1 && (w & 0xff) != 0) return -1;
        out[o++] = static_cast<char>(w >> 16);
        if (!(last && pad == 2)) out[o++] = static_cast<char>(w >> 8 & 0xff);
        if (!(last && pad >= 1)) out[o++] = static_cast<char>(w & 0xff);
    }
    return static_cast<long>(o);
}

// Compares without an early exit, so the time does not tell how many leading bytes were right.
bool ct_equal(std::string_view a, std::string_view b) {
    const std::size_t n = a.size() > b.size() ? a.size() : b.size();
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

// ---- SipHash-2-4 (Aumasson, Bernstein), streamed over several pieces -----------------------------

std::uint64_t rotl(std::uint64_t x, int b) {
    return (x << b) | (x >> (64 - b));
}

class SipHash {
  public:
    SipHash(std::uint64_t k0, std::uint64_t k1)
        : v0_(k0 ^ 0x736f6d6570736575ULL),
          v1_(k1 ^ 0x646f72616e646f6dULL),
          v2_(k0 ^ 0x6c7967656e657261ULL),
          v3_(k1 ^ 0x7465646279746573ULL) {}

    void update(std::string_view s) {
        for (char c : s) {
            tail_ |= static_cast<std::uint64_t>(static_cast<unsigned char>(c)) << (8 * (len_ % 8));
            ++len_;
            if (len_ % 8 == 0) {
                block(tail_);
                tail_ = 0;
            }
        }
    }

    std::uint64_t final() {
        block(tail_ | static_cast<std::uint64_t>(len_ & 0xff) << 56);
        v2_ ^= 0xff;
        for (int i = 0; i < 4; ++i) round();
        return v0_ ^ v1_ ^ v2_ ^ v3_;
    }

  private:
    void round() {
        v0_ += v1_;
        v1_ = rotl(v1_, 13);
        v1_ ^= v0_;
        v0_ = rotl(v0_, 32);
        v2_ += v3_;
        v3_ = rotl(v3_, 16);
        v3_ ^= v2_;
        v0_ += v3_;
        v3_ = rotl(v3_, 21);
        v3_ ^= v0_;
        v2_ += v1_;
        v1_ = rotl(v1_, 17);
        v1_ ^= v2_;
        v2_ = rotl(v2_, 32);
    }
    void block(std::uint64_t m) {
        v3_ ^= m;
        round();
        round();
        v0_ ^= m;
    }

    std::uint64_t v0_, v1_, v2_, v3_;
    std::uint64_t tail_ = 0;
    std::uint64_t len_ = 0;
};

// ---- the per-thread cache of verified credentials ----------------------------------------------

struct Digest {
    std::uint64_t a = 0, b = 0;
    bool operator==(const Digest&) const = default;
};

class VerifiedCache {
  public:
    static constexpr int kEntries = 64;

    Digest key(const config::Userlist& ul, const config::User& u, std::string_view password) {
        if (!keyed_) seed();
        return {digest(k_[0], k_[1], ul, u, password), digest(k_[2], k_[3], ul, u, password)};
    }
    bool contains(const Digest& d) const {
        for (int i = 0; i < used_; ++i)
            if (entries_[i] == d) return true;
        return false;
    }
    void insert(const Digest& d) {
        if (used_ < kEntries) {
            entries_[used_++] = d;
        } else {
            entries_[next_] = d;  // round-robin replacement: a bounded cache needs no bookkeeping
            next_ = (next_ + 1) % kEntries;
        }
    }

  private:
    static std::uint64_t digest(std::uint64_t k0, std::uint64_t k1, const config::Userlist& ul,
                                const config::User& u, std::string_view password) {
        SipHash h(k0, k1);
        const char sep = '\0';
        h.update(ul.name);
        h.update({&sep, 1});
        h.update(u.name);
        h.update({&sep, 1});
        h.update(u.password);
        h.update({&sep, 1});
        h.update(password);
        return h.final();
    }
    void seed() {
        // getrandom(2) once per thread; without it, the clock and addresses still make the key
        // differ per thread and per run (collisions would need the key to be guessed).
        if (getrandom(k_, sizeof(k_), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(k_))) {
            timespec ts{};
            clock_gettime(CLOCK_MONOTONIC, &ts);
            const std::uint64_t base = static_cast<std::uint64_t>(ts.tv_nsec) ^
                                       (static_cast<std::uint64_t>(ts.tv_sec) << 32) ^
                                       reinterpret_cast<std::uintptr_t>(this);
            for (int i = 0; i < 4; ++i) k_[i] = base * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(i);
        }
        keyed_ = true;
    }

    Digest entries_[kEntries];
    int used_ = 0;
    int next_ = 0;
    std::uint64_t k_[4] = {};
    bool keyed_ = false;
};

thread_local VerifiedCache t_cache;
// crypt's work area is ~32 KiB: one per thread, zeroed once (its `initialized` field is 0).
// crypt_rn (libxcrypt) rather than crypt_r: same work, NULL on failure, and it is not among the
// functions sanitizer runtimes intercept (GCC 12's ASan interceptor for crypt_r calls a null
// function when libcrypt was loaded after it resolved its symbols).
thread_local crypt_data t_crypt_data;

bool crypt_matches(const std::string& stored, std::string_view password) {
    char pw[1024];  // crypt(3) wants NUL-terminated text
    if (password.size() >= sizeof(pw) || std::memchr(password.data(), '\0', password.size()) != nullptr)
        return false;
    std::memcpy(pw, password.data(), password.size());
    pw[password.size()] = '\0';
    const char* out = crypt_rn(pw, stored.c_str(), &t_crypt_data, int(sizeof t_crypt_data));
    explicit_bzero(pw, sizeof(pw));
    // Failure is NULL or a string starting with '*' (libxcrypt), which never equals a valid hash.
    if (out == nullptr || out[0] == '*') return false;
    return ct_equal(out, stored);
}

}  // namespace

bool check_basic_auth(const config::Userlist& ul, std::string_view value) { return basic_auth_user(ul, value) != nullptr; }

const config::User* basic_auth_user(const config::Userlist& ul, std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    constexpr std::string_view kScheme = "basic";
    if (value.size() <= kScheme.size() || !http::iequals(value.substr(0, kScheme.size()), kScheme))
        return nullptr;
    value.remove_prefix(kScheme.size());
    if (value.front() != ' ' && value.front() != '\t') return nullptr;
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);

    char decoded[768];
    const long n = b64_decode(value, decoded, sizeof(decoded));
    if (n < 0) return nullptr;
    const std::string_view cred(decoded, static_cast<std::size_t>(n));
    const std::size_t colon = cred.find(':');
    if (colon == std::string_view::npos) return nullptr;
    const std::string_view user = cred.substr(0, colon);
    const std::string_view password = cred.substr(colon + 1);

    const config::User* ok = nullptr;
    for (const config::User& u : ul.users) {
        if (u.name != user) continue;
        if (u.insecure) {
            if (ct_equal(u.password, password)) ok = &u;
        } else {
            const Digest d = t_cache.key(ul, u, password);
            if (t_cache.contains(d)) {
                ok = &u;
            } else if (crypt_matches(u.password, password)) {
                t_cache.insert(d);
                ok = &u;
            }
        }
        break;  // the first user of that name decides, as in HAProxy
    }
    explicit_bzero(decoded, sizeof(decoded));
    return ok;
}

}  // namespace es::rules
