// Stick tables: the per-shard hash table, HAProxy's frequency counters and keys (see table.hpp).
#include "edgeshard/stick/table.hpp"

#include "edgeshard/core/int_text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <new>

namespace es::stick {

using Type = config::StickTable::Type;

// ---------------------------------------------------------------- frequency counters

void FreqCtr::rotate(std::uint32_t now, std::uint32_t period, std::uint32_t inc) {
    prev = curr;
    curr = inc;
    tick += period;
    if (now - tick >= period) {  // at least two periods went by
        prev = 0;
        tick = now;
    }
    tick &= ~1u;
}

std::uint32_t FreqCtr::read(std::uint32_t now, std::uint32_t period) const {
    if (period == 0) return curr;
    std::uint64_t c = curr, p = prev;
    std::int64_t remain = std::int64_t(std::int32_t(tick + period - now));
    if (remain < 0) {
        remain += period;
        p = remain >= 0 ? c : 0;
        c = 0;
    }
    std::uint64_t total;
    if (c == 0 && p <= 1)  // HAProxy's flapping correction at very low rates
        total = p * period;
    else
        total = p * std::uint64_t(remain < 0 ? 0 : remain) + c * period;
    return std::uint32_t(total / period);
}

// ---------------------------------------------------------------- keys

namespace {

bool addr_bytes(const sockaddr_storage* ss, unsigned char v6[16], bool& v4) {
    if (ss == nullptr) return false;
    if (ss->ss_family == AF_INET) {
        std::memset(v6, 0, 10);
        v6[10] = v6[11] = 0xff;
        std::memcpy(v6 + 12, &reinterpret_cast<const sockaddr_in*>(ss)->sin_addr, 4);
        v4 = true;
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const auto* a = &reinterpret_cast<const sockaddr_in6*>(ss)->sin6_addr;
        std::memcpy(v6, a, 16);
        v4 = IN6_IS_ADDR_V4MAPPED(a);
        return true;
    }
    return false;
}

void put_str(const config::StickTable& t, std::string_view s, Key& out) {
    const std::size_t n = s.size() < t.key_len ? s.size() : t.key_len;
    std::memcpy(out.bytes, s.data(), n);
    if (t.type == Type::Binary) {  // fixed size: padded with zeros
        std::memset(out.bytes + n, 0, t.key_len - n);
        out.len = std::uint16_t(t.key_len);
    } else {
        out.len = std::uint16_t(n);
    }
}

}  // namespace

bool make_key(const config::StickTable& t, const KeySource& v, Key& out) {
    using K = KeySource::Kind;
    switch (t.type) {
        case Type::Ip:
        case Type::Ipv6: {
            unsigned char a[16];
            bool v4 = false;
            if (v.kind == K::Addr) {
                if (!addr_bytes(v.addr, a, v4)) return false;
            } else if (v.kind == K::Str) {
                char buf[INET6_ADDRSTRLEN];
                if (v.str.empty() || v.str.size() >= sizeof(buf)) return false;
                std::memcpy(buf, v.str.data(), v.str.size());
                buf[v.str.size()] = '\0';
                std::memset(a, 0, 10);
                a[10] = a[11] = 0xff;
                if (t.type == Type::Ip && inet_pton(AF_INET, buf, a + 12) == 1) {
                    v4 = true;
                } else if (inet_pton(AF_INET6, buf, a) == 1) {
                    v4 = IN6_IS_ADDR_V4MAPPED(reinterpret_cast<const in6_addr*>(a));
                } else {
                    return false;
                }
            } else if (v.kind == K::Int) {
                if (v.num < 0 || v.num > 0xffffffffLL) return false;
                std::memset(a, 0, 10);
                a[10] = a[11] = 0xff;
                const std::uint32_t n = htonl(std::uint32_t(v.num));
                std::memcpy(a + 12, &n, 4);
                v4 = true;
            } else {
                return false;
            }
            if (t.type == Type::Ip) {
                if (!v4) return false;  // HAProxy cannot cast a real IPv6 address to ipv4
                std::memcpy(out.bytes, a + 12, 4);
                out.len = 4;
            } else {
                std::memcpy(out.bytes, a, 16);
                out.len = 16;
            }
            return true;
        }
        case Type::Integer: {
            std::int64_t n = 0;
            if (v.kind == K::Int) {
                n = v.num;
            } else if (v.kind == K::Addr) {
                unsigned char a[16];
                bool v4 = false;
                if (!addr_bytes(v.addr, a, v4) || !v4) return false;
                std::uint32_t be;
                std::memcpy(&be, a + 12, 4);
                n = ntohl(be);
            } else if (v.kind == K::Str) {
                // HAProxy's c_str2int: read_int64 (an empty string is no integer)
                if (v.str.empty()) return false;
                n = core::read_int64(v.str);
            } else {
                return false;
            }
            const std::uint32_t u = std::uint32_t(n);
            std::memcpy(out.bytes, &u, 4);
            out.len = 4;
            return true;
        }
        case Type::String:
        case Type::Binary: {
            if (v.kind == K::Str) {
                put_str(t, v.str, out);
                return true;
            }
            if (v.kind == K::Bin) {  // a string ends at the first NUL (c_bin2str)
                std::string_view b = v.str;
                if (t.type == Type::String)
                    if (const void* z = std::memchr(b.data(), 0, b.size()))
                        b = b.substr(0, std::size_t(static_cast<const char*>(z) - b.data()));
                put_str(t, b, out);
                return true;
            }
            char buf[64];
            if (v.kind == K::Int && t.type == Type::Binary) {  // 8 bytes, big-endian (c_int2bin)
                const auto u = std::uint64_t(v.num);
                for (int k = 0; k < 8; ++k) buf[k] = char(u >> (56 - 8 * k));
                put_str(t, {buf, 8}, out);
                return true;
            }
            if (v.kind == K::Int) {
                const auto r = std::to_chars(buf, buf + sizeof(buf), v.num);
                put_str(t, {buf, std::size_t(r.ptr - buf)}, out);
                return true;
            }
            if (v.kind == K::Addr && v.addr != nullptr) {
                unsigned char a[16];
                bool v4 = false;
                if (!addr_bytes(v.addr, a, v4)) return false;
                if (t.type == Type::Binary) {
                    put_str(t, {reinterpret_cast<const char*>(v4 ? a + 12 : a), v4 ? 4u : 16u}, out);
                    return true;
                }
                if (inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? a + 12 : a, buf, sizeof(buf)) == nullptr) return false;
                put_str(t, buf, out);
                return true;
            }
            return false;
        }
    }
    return false;
}

std::string key_text(const config::StickTable& t, const unsigned char* key, std::size_t len) {
    char buf[INET6_ADDRSTRLEN];
    switch (t.type) {
        case Type::Ip:
            return inet_ntop(AF_INET, key, buf, sizeof(buf)) ? std::string(buf) : std::string();
        case Type::Ipv6:
            return inet_ntop(AF_INET6, key, buf, sizeof(buf)) ? std::string(buf) : std::string();
        case Type::Integer: {
            std::uint32_t u;
            std::memcpy(&u, key, 4);
            return std::to_string(u);
        }
        case Type::String: {  // HAProxy's dump_text: ' ', '=' and '\\' escaped, other bytes outside ASCII's print in hex
            static const char kHex[] = "0123456789ABCDEF";
            std::string s;
            for (std::size_t i = 0; i < len; ++i) {
                const unsigned char c = key[i];
                if (c == ' ' || c == '=' || c == '\\') {
                    s.push_back('\\');
                    s.push_back(char(c));
                } else if (c < 0x20 || c >= 0x7f) {
                    s += "\\x";
                    s.push_back(kHex[c >> 4]);
                    s.push_back(kHex[c & 15]);
                } else {
                    s.push_back(char(c));
                }
            }
            return s;
        }
        case Type::Binary: {
            static const char kHex[] = "0123456789ABCDEF";
            std::string s;
            for (std::size_t i = 0; i < len; ++i) {
                s.push_back(kHex[key[i] >> 4]);
                s.push_back(kHex[key[i] & 15]);
            }
            return s;
        }
    }
    return {};
}

bool parse_key(const config::StickTable& t, std::string_view text, Key& out) {
    KeySource v;
    v.kind = KeySource::Kind::Str;
    v.str = text;
    if (t.type == Type::Binary) {  // typed as hexadecimal
        if (text.size() % 2 != 0 || text.size() / 2 > t.key_len) return false;
        auto nib = [](char c) {
            return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        };
        std::memset(out.bytes, 0, t.key_len);
        for (std::size_t i = 0; i < text.size(); i += 2) {
            const int h = nib(text[i]), l = nib(text[i + 1]);
            if (h < 0 || l < 0) return false;
            out.bytes[i / 2] = static_cast<unsigned char>(h * 16 + l);
        }
        out.len = std::uint16_t(t.key_len);
        return true;
    }
    if (t.type == Type::Integer) {
        std::uint64_t n = 0;
        const auto r = std::from_chars(text.data(), text.data() + text.size(), n);
        if (r.ec != std::errc() || r.ptr != text.data() + text.size() || n > 0xffffffffULL) return false;
        v.kind = KeySource::Kind::Int;
        v.num = std::int64_t(n);
    }
    return make_key(t, v, out);
}

// ---------------------------------------------------------------- the table

Table::Table(const config::StickTable& spec, int id) : spec_(&spec), id_(id) {
    for (auto& o : off_) o = -1;
    // 8-byte counters first, then 12-byte rates and 4-byte values (all 4-aligned)
    std::size_t at = 0;
    for (int d = 0; d < config::kStickData; ++d) {
        const auto sd = StickData(d);
        if (spec.stores(sd) && (sd == StickData::BytesInCnt || sd == StickData::BytesOutCnt)) {
            off_[d] = std::int16_t(at);
            cnt_[d] = 1;
            at += 8;
        }
    }
    for (int d = 0; d < config::kStickData; ++d) {
        const auto sd = StickData(d);
        if (!spec.stores(sd) || off_[d] >= 0) continue;
        off_[d] = std::int16_t(at);
        cnt_[d] = std::uint8_t(spec.count(sd));
        period_[d] = spec.period[d];
        at += elem_size(sd) * cnt_[d];
    }
    // the legacy names of the arrays' first elements (a table stores one or the other: the configuration says so)
    auto alias = [&](StickData legacy, StickData arr, unsigned idx) {
        if (off_[int(legacy)] >= 0 || off_[int(arr)] < 0 || idx >= cnt_[int(arr)]) return;
        off_[int(legacy)] = std::int16_t(off_[int(arr)] + idx * elem_size(arr));
        cnt_[int(legacy)] = 1;
        period_[int(legacy)] = period_[int(arr)];
    };
    alias(StickData::Gpt0, StickData::Gpt, 0);
    alias(StickData::Gpc0, StickData::Gpc, 0);
    alias(StickData::Gpc1, StickData::Gpc, 1);
    alias(StickData::Gpc0Rate, StickData::GpcRate, 0);
    alias(StickData::Gpc1Rate, StickData::GpcRate, 1);
    const std::size_t key_bytes = (spec.key_len + 7) & ~std::size_t(7);
    data_at_ = sizeof(Entry) + key_bytes;
    entry_size_ = data_at_ + at;
    buckets_.assign(64, nullptr);
}

Table::Table(Table&& o) noexcept
    : spec_(o.spec_), id_(o.id_), data_at_(o.data_at_), entry_size_(o.entry_size_), buckets_(std::move(o.buckets_)),
      used_(o.used_), oldest_(o.oldest_), newest_(o.newest_) {
    std::memcpy(off_, o.off_, sizeof(off_));
    std::memcpy(cnt_, o.cnt_, sizeof(cnt_));
    std::memcpy(period_, o.period_, sizeof(period_));
    o.used_ = 0;
    o.oldest_ = o.newest_ = nullptr;
}

Table::~Table() {
    for (Entry* e = oldest_; e != nullptr;) {
        Entry* n = e->newer;
        e->~Entry();
        ::operator delete(e);
        e = n;
    }
}

std::uint32_t Table::hash(const unsigned char* k, std::size_t n) const {
    if (n == 4) {  // an IPv4 address or an integer: one multiply
        std::uint32_t v;
        std::memcpy(&v, k, 4);
        return std::uint32_t((std::uint64_t(v) * 0x9E3779B97F4A7C15ULL) >> 32);
    }
    std::uint32_t h = 2166136261u;  // FNV-1a
    for (std::size_t i = 0; i < n; ++i) h = (h ^ k[i]) * 16777619u;
    return h;
}

Entry* Table::find(const Key& k, std::uint32_t h) const {
    for (Entry* e = buckets_[h & (buckets_.size() - 1)]; e != nullptr; e = e->hnext)
        if (e->hash == h && e->key_len == k.len && std::memcmp(e->key(), k.bytes, k.len) == 0) return e;
    return nullptr;
}

void Table::unlink(Entry* e) {
    Entry** p = &buckets_[e->hash & (buckets_.size() - 1)];
    while (*p != e) p = &(*p)->hnext;
    *p = e->hnext;
    (e->older ? e->older->newer : oldest_) = e->newer;
    (e->newer ? e->newer->older : newest_) = e->older;
    --used_;
}

void Table::destroy(Entry* e) {
    unlink(e);
    e->~Entry();
    ::operator delete(e);
}

void Table::grow() {
    std::vector<Entry*> nb(buckets_.size() * 2, nullptr);
    for (Entry* e = oldest_; e != nullptr; e = e->newer) {
        Entry*& head = nb[e->hash & (nb.size() - 1)];
        e->hnext = head;
        head = e;
    }
    buckets_.swap(nb);
}

Entry* Table::lookup(const Key& k, std::int64_t now) {
    Entry* e = find(k, hash(k.bytes, k.len));
    if (e != nullptr && e->refs == 0 && e->expire != 0 && e->expire <= now) {
        destroy(e);
        return nullptr;
    }
    return e;
}

Entry* Table::get(const Key& k, std::int64_t now) {
    const std::uint32_t h = hash(k.bytes, k.len);
    if (Entry* e = find(k, h)) {
        if (e->refs == 0 && e->expire != 0 && e->expire <= now) {  // expired: starts afresh
            destroy(e);
        } else {
            return e;
        }
    }
    if (used_ >= spec_->size) {
        expire(now, 64);
        if (used_ >= spec_->size) {
            if (spec_->nopurge) return nullptr;
            Entry* victim = oldest_;
            while (victim != nullptr && victim->refs != 0) victim = victim->newer;
            if (victim == nullptr) return nullptr;
            destroy(victim);
        }
    }
    if (used_ >= buckets_.size()) grow();
    void* mem = ::operator new(entry_size_, std::nothrow);
    if (mem == nullptr) return nullptr;
    std::memset(mem, 0, entry_size_);
    Entry* e = new (mem) Entry;
    e->hash = h;
    e->key_len = k.len;
    std::memcpy(e->key(), k.bytes, k.len);
    Entry*& head = buckets_[h & (buckets_.size() - 1)];
    e->hnext = head;
    head = e;
    e->older = newest_;
    (newest_ ? newest_->newer : oldest_) = e;
    newest_ = e;
    ++used_;
    e->expire = spec_->expire > 0 ? now + spec_->expire : 0;
    return e;
}

void Table::touch(Entry* e, std::int64_t now) {
    if (spec_->expire > 0) e->expire = now + spec_->expire;
    if (e == newest_) return;
    (e->older ? e->older->newer : oldest_) = e->newer;
    e->newer->older = e->older;
    e->older = newest_;
    e->newer = nullptr;
    newest_->newer = e;
    newest_ = e;
}

void Table::unref(Entry* e, std::int64_t now) {
    if (e->refs > 0) --e->refs;
    if (e->refs == 0 && e->expire != 0 && e->expire <= now) destroy(e);
}

bool Table::erase(Entry* e) {
    if (e->refs != 0) return false;
    destroy(e);
    return true;
}

std::size_t Table::expire(std::int64_t now, std::size_t budget) {
    if (spec_->expire <= 0) return 0;
    std::size_t n = 0;
    // touch order is expiry order (every touch sets now + expire), except for entries a tracker
    // holds: those are passed over and stay
    for (Entry* e = oldest_; e != nullptr && budget > 0; --budget) {
        Entry* next = e->newer;
        if (e->expire > now) break;
        if (e->refs == 0) {
            destroy(e);
            ++n;
        }
        e = next;
    }
    return n;
}

bool Table::read(Entry* e, StickData d, std::int64_t now, std::uint64_t& v, unsigned idx) const {
    unsigned char* p = at(e, d, idx);
    if (p == nullptr) return false;
    if (config::stick_is_rate(d)) {
        v = reinterpret_cast<FreqCtr*>(p)->read(std::uint32_t(now), period_[int(d)]);
    } else if (d == StickData::BytesInCnt || d == StickData::BytesOutCnt) {
        v = *reinterpret_cast<std::uint64_t*>(p);
    } else if (d == StickData::ServerId) {
        v = std::uint64_t(std::int64_t(*reinterpret_cast<std::int32_t*>(p)));
    } else {
        v = *reinterpret_cast<std::uint32_t*>(p);
    }
    return true;
}

bool Table::write(Entry* e, StickData d, std::int64_t now, std::uint64_t v, unsigned idx) const {
    unsigned char* p = at(e, d, idx);
    if (p == nullptr) return false;
    if (config::stick_is_rate(d)) {  // a period starting now with that count (HAProxy's `set table`)
        auto* f = reinterpret_cast<FreqCtr*>(p);
        f->tick = std::uint32_t(now) & ~1u;
        f->prev = 0;
        f->curr = std::uint32_t(v);
    } else if (d == StickData::BytesInCnt || d == StickData::BytesOutCnt) {
        *reinterpret_cast<std::uint64_t*>(p) = v;
    } else {
        *reinterpret_cast<std::uint32_t*>(p) = std::uint32_t(v);
    }
    return true;
}

// ---------------------------------------------------------------- a shard's tables

Store::Store(const config::Config& cfg) {
    tables_.reserve(cfg.tables.size());
    for (std::size_t i = 0; i < cfg.tables.size(); ++i) tables_.emplace_back(cfg.tables[i], int(i));
}

void Store::track(Refs& r, bool stream, std::uint8_t sc, int table, Entry* e, bool backend, std::int64_t now) {
    Tracked& t = stream ? r.strm[sc] : r.sess[sc];
    if (t.e != nullptr) return;
    Table& tb = tables_[std::size_t(table)];
    t.e = e;
    t.table = std::int16_t(table);
    t.backend = backend;
    tb.ref(e);
    // HAProxy's stream_start_counters: one more connection on this key
    if (std::uint32_t* cur = tb.u32(e, StickData::ConnCur)) ++*cur;
    tb.add(e, StickData::ConnCnt, now, 1);
    tb.add(e, StickData::ConnRate, now, 1);
    tb.touch(e, now);
}

Tracked* Store::tracked(Refs* r, std::uint8_t sc) {
    if (r == nullptr || sc > 2) return nullptr;
    if (r->strm[sc].e) return &r->strm[sc];
    if (r->sess[sc].e) return &r->sess[sc];
    return nullptr;
}

namespace {
template <typename F>
void each_counter(Refs& r, F&& f) {
    for (int i = 0; i < 3; ++i) {
        Tracked& t = r.strm[i].e ? r.strm[i] : r.sess[i];
        if (t.e) f(t);
    }
}
}  // namespace

void Store::count_session(Refs& r, std::int64_t now) {
    for (Tracked& t : r.sess) {
        if (!t.e) continue;
        Table& tb = tables_[std::size_t(t.table)];
        tb.add(t.e, StickData::SessCnt, now, 1);
        tb.add(t.e, StickData::SessRate, now, 1);
        tb.touch(t.e, now);
    }
}

// One event on every counter tracked: its count and its rate.
void Store::count_event(Refs& r, StickData cnt, StickData rate, std::int64_t now) {
    each_counter(r, [&](Tracked& t) {
        Table& tb = tables_[std::size_t(t.table)];
        tb.add(t.e, cnt, now, 1);
        tb.add(t.e, rate, now, 1);
        tb.touch(t.e, now);
    });
}

void Store::count_bytes(Refs& r, std::uint64_t in, std::uint64_t out, std::int64_t now) {
    if (in == 0 && out == 0) return;
    each_counter(r, [&](Tracked& t) {
        Table& tb = tables_[std::size_t(t.table)];
        if (!tb.counts_bytes()) return;
        tb.add(t.e, StickData::BytesInCnt, now, in);
        tb.add(t.e, StickData::BytesInRate, now, in);
        tb.add(t.e, StickData::BytesOutCnt, now, out);
        tb.add(t.e, StickData::BytesOutRate, now, out);
        tb.touch(t.e, now);
    });
}

namespace {
void release(std::vector<Table>& tables, Tracked& t, std::int64_t now) {
    if (!t.e) return;
    Table& tb = tables[std::size_t(t.table)];
    if (std::uint32_t* cur = tb.u32(t.e, StickData::ConnCur); cur && *cur > 0) --*cur;
    tb.touch(t.e, now);
    tb.unref(t.e, now);
    t = Tracked{};
}
}  // namespace

bool Store::stage_store(Refs& r, int table, Entry* e) {
    for (Tracked& t : r.store) {  // (store[0] fills first: the inline checks read it alone)
        if (t.e == e) return true;
        if (t.e != nullptr) continue;
        t.e = e;
        t.table = std::int16_t(table);
        tables_[std::size_t(table)].ref(e);
        return true;
    }
    return false;
}

void Store::commit_store_slow(Refs& r, std::uint32_t server_id, std::uint32_t server_key, std::int64_t now) {
    for (Tracked& t : r.store) {
        if (!t.e) continue;
        Table& tb = tables_[std::size_t(t.table)];
        if (std::uint32_t* p = tb.u32(t.e, StickData::ServerId)) *p = server_id;
        if (std::uint32_t* p = tb.u32(t.e, StickData::ServerKey)) *p = server_key;
        tb.touch(t.e, now);
        tb.unref(t.e, now);
        t = Tracked{};
    }
}

void Store::drop_store_slow(Refs& r, std::int64_t now) {
    for (Tracked& t : r.store) {
        if (!t.e) continue;
        Table& tb = tables_[std::size_t(t.table)];
        tb.unref(t.e, now);
        // an entry made for this exchange that never got a server is not kept (HAProxy makes it
        // only once a server is known)
        const std::uint32_t* id = tb.u32(t.e, StickData::ServerId);
        if (t.e->refs == 0 && id != nullptr && *id == 0) tb.erase(t.e);
        t = Tracked{};
    }
}

void Store::end_stream(Refs& r, std::int64_t now) {
    for (Tracked& t : r.strm) release(tables_, t, now);
    drop_store(r, now);
}

void Store::end_session(Refs& r, std::int64_t now) {
    for (Tracked& t : r.strm) release(tables_, t, now);
    for (Tracked& t : r.sess) release(tables_, t, now);
    drop_store(r, now);
}

void Store::expire(std::int64_t now) {
    for (Table& t : tables_) t.expire(now, 1024);
}

// ---------------------------------------------------------------- the control shard's queries

namespace {
bool passes(const Table& tb, Entry* e, const Query& q, std::int64_t now) {
    if (q.has_key) {
        if (e->key_len != q.key.len || std::memcmp(e->key(), q.key.bytes, q.key.len) != 0) return false;
    }
    for (const Query::Filter& f : q.filters) {
        std::uint64_t v = 0;
        if (!tb.read(e, f.d, now, v)) return false;
        const std::int64_t a = std::int64_t(v), b = std::int64_t(f.v);
        bool ok = false;
        switch (f.cmp) {
            case Query::Cmp::Eq: ok = a == b; break;
            case Query::Cmp::Ne: ok = a != b; break;
            case Query::Cmp::Le: ok = a <= b; break;
            case Query::Cmp::Lt: ok = a < b; break;
            case Query::Cmp::Ge: ok = a >= b; break;
            case Query::Cmp::Gt: ok = a > b; break;
        }
        if (!ok) return false;
    }
    return true;
}
}  // namespace

void answer(Store& s, Query& q, std::size_t shard, std::int64_t now) {
    Query::Part& part = q.parts[shard];
    if (q.op == Query::Op::Set) {  // one shard keeps the entry (Query::target)
        if (shard != q.target || q.table < 0 || std::size_t(q.table) >= s.count()) return;
        Table& tb = s.table(q.table);
        Entry* e = tb.get(q.key, now);
        if (e == nullptr) {
            part.busy = 1;  // no room
            return;
        }
        for (const Query::Filter& f : q.filters) tb.write(e, f.d, now, f.v);
        tb.touch(e, now);
        return;
    }
    if (q.table < 0) {
        for (std::size_t i = 0; i < s.count(); ++i) {
            Table& tb = s.table(int(i));
            tb.expire(now, ~std::size_t(0));
            part.used.push_back(tb.used());
        }
        return;
    }
    if (std::size_t(q.table) >= s.count()) return;
    Table& tb = s.table(q.table);
    tb.expire(now, ~std::size_t(0));
    part.used.push_back(tb.used());
    if (q.heads_only) return;
    tb.for_each([&](Entry* e) {
        if (!passes(tb, e, q, now)) return;
        if (q.op == Query::Op::Clear) {
            if (tb.erase(e)) ++part.cleared;
            else ++part.busy;
            return;
        }
        Query::Row row;
        row.addr = reinterpret_cast<std::uintptr_t>(e);
        row.key = key_text(tb.spec(), e->key(), e->key_len);
        row.raw.len = e->key_len;
        std::memcpy(row.raw.bytes, e->key(), e->key_len);
        row.refs = e->refs;
        row.exp_ms = e->expire == 0 ? -1 : (e->expire > now ? e->expire - now : 0);
        for (int d = 0; d < config::kStickData; ++d) tb.read(e, StickData(d), now, row.values[d]);
        for (StickData d : {StickData::Gpt, StickData::Gpc, StickData::GpcRate})
            for (unsigned i = 0; i < tb.elements(d); ++i) tb.read(e, d, now, row.arrays.emplace_back(), i);
        if (const std::uint32_t* k = tb.u32(e, StickData::ServerKey)) row.server_key = *k;
        part.rows.push_back(std::move(row));
    });
}

}  // namespace es::stick
