// Stick tables (HAProxy 2.6 semantics, configuration.txt 4.2 "stick-table" and 7.3.3): keys (a
// client address, a header...) with counters and rates, tracked by the rules (`track-sc0 src`), read
// by the sc_* / src_* fetches, and a server id for `stick on` persistence.
//
// Each data shard owns a Store: its own copy of every table, touched by nobody else (DESIGN §9b).
// Exact per-client counts across shards come from where connections land, not from sharing: a
// frontend that tracks the client's address steers each address to one shard (the listeners'
// reuseport program, net/listener.cpp), so one client's entries live on one shard. The control
// shard reads the tables with a message (`show table`, `clear table`: Query below).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"

namespace es::stick {

using config::StickData;

// HAProxy's frequency counter over a period (freq_ctr.h): events of the current period plus the
// previous period's, weighted by the part of it still inside the sliding window. Ticks are the
// low 32 bits of the monotonic milliseconds; the current period's start is kept even (HAProxy keeps
// its low bit as a lock, which shifts a rotation by at most one millisecond: so does this).
struct FreqCtr {
    std::uint32_t tick = 0;
    std::uint32_t curr = 0;
    std::uint32_t prev = 0;
    void add(std::uint32_t now, std::uint32_t period, std::uint32_t inc) {
        if (now - tick < period) [[likely]] {
            curr += inc;
            return;
        }
        rotate(now, period, inc);
    }
    void rotate(std::uint32_t now, std::uint32_t period, std::uint32_t inc);
    // events per period (read_freq_ctr_period)
    std::uint32_t read(std::uint32_t now, std::uint32_t period) const;
};

// One key and its data. The key bytes and the data follow the header in one allocation; the data
// layout is the table's (Table::offset).
struct Entry {
    Entry* hnext = nullptr;                         // hash chain
    Entry* older = nullptr;                         // touch order: oldest first
    Entry* newer = nullptr;
    std::int64_t expire = 0;                        // monotonic ms; 0: never
    std::uint32_t hash = 0;
    std::uint32_t refs = 0;                         // trackers holding it (`use=` in show table)
    std::uint16_t key_len = 0;
    unsigned char* key() { return reinterpret_cast<unsigned char*>(this + 1); }
    const unsigned char* key() const { return reinterpret_cast<const unsigned char*>(this + 1); }
};

// A key as the table stores it (string and binary keys are cut at the table's `len`, which the
// configuration caps at kMaxKeyLen).
struct Key {
    unsigned char bytes[256];
    std::uint16_t len = 0;
};
inline constexpr std::uint32_t kMaxKeyLen = 256;

// The value a key is made of.
struct KeySource {
    enum class Kind : std::uint8_t { None, Addr, Int, Str, Bin } kind = Kind::None;
    const sockaddr_storage* addr = nullptr;
    std::int64_t num = 0;
    std::string_view str;
};
// The table's key for a value (HAProxy's smp_to_stkey and sample casts: an IPv6 address other than
// IPv4-mapped makes no `ip` key; a string makes an `ip` key only when it is an address, an `ipv6` key only
// when it is IPv6 text, an `integer` key from its leading digits (`12abc` is 12, `abc` 0, cut to 32 bits);
// an address makes a text key for `string`, its bytes for `binary`; an integer 8 big-endian bytes for
// `binary`). False: no key (the rule does not track, the converter gives no sample).
bool make_key(const config::StickTable& t, const KeySource& v, Key& out);
// The key as `show table` prints it.
std::string key_text(const config::StickTable& t, const unsigned char* key, std::size_t len);
// Parses a key as typed on the CLI (`show table t key K`); false when it is not one of the type.
bool parse_key(const config::StickTable& t, std::string_view text, Key& out);

// The responses HAProxy counts against what a request tracks: a 4xx is the client's error
// (http_err), a 5xx but 501 and 505 a failure (http_fail).
inline bool http_err_status(int s) { return s >= 400 && s < 500; }
inline bool http_fail_status(int s) { return s >= 500 && s < 600 && s != 501 && s != 505; }

class Table {
public:
    Table(const config::StickTable& spec, int id);
    ~Table();
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;
    Table(Table&& o) noexcept;

    const config::StickTable& spec() const { return *spec_; }
    int id() const { return id_; }
    std::size_t used() const { return used_; }

    // The live entry of a key (an expired unreferenced one is removed), or null. Touches nothing.
    Entry* lookup(const Key& k, std::int64_t now);
    // The entry of a key, created when absent (a full table removes its oldest unreferenced entry
    // first, unless nopurge). Null: no room.
    Entry* get(const Key& k, std::int64_t now);
    // The entry was updated: it expires `expire` from now and is the newest.
    void touch(Entry* e, std::int64_t now);
    void ref(Entry* e) { ++e->refs; }
    void unref(Entry* e, std::int64_t now);
    // Removes expired unreferenced entries (at most `budget`); returns how many.
    std::size_t expire(std::int64_t now, std::size_t budget);
    // Removes an entry nobody tracks; false when it is tracked (left as is).
    bool erase(Entry* e);

    // Data (element `idx` of an array): null when the table does not store it. The legacy gpt0, gpc0, gpc1,
    // gpc0_rate and gpc1_rate read elements 0 and 1 of the arrays in a table that stores those instead
    // (HAProxy 2.6's fallback in every action, fetch and converter).
    [[gnu::always_inline]] unsigned char* at(Entry* e, StickData d, unsigned idx) const {
        const int o = off_[int(d)];
        // (a stored datum has one element at least: with the constant 0 of the data path the bound check folds away)
        return o < 0 || (idx != 0 && idx >= cnt_[int(d)]) ? nullptr : data(e) + o + idx * elem_size(d);
    }
    std::uint32_t* u32(Entry* e, StickData d, unsigned idx = 0) const {
        return reinterpret_cast<std::uint32_t*>(at(e, d, idx));
    }
    std::uint64_t* u64(Entry* e, StickData d) const { return reinterpret_cast<std::uint64_t*>(at(e, d, 0)); }
    FreqCtr* frq(Entry* e, StickData d, unsigned idx = 0) const { return reinterpret_cast<FreqCtr*>(at(e, d, idx)); }
    bool stores(StickData d) const { return off_[int(d)] >= 0; }
    unsigned elements(StickData d) const { return cnt_[int(d)]; }
    std::uint32_t period(StickData d) const { return period_[int(d)]; }
    // A stored datum as a number (a rate read now); false when not stored (or past the array).
    bool read(Entry* e, StickData d, std::int64_t now, std::uint64_t& v, unsigned idx = 0) const;
    // Sets a datum (a rate's current period's count, as HAProxy's `set table` does); false: not stored.
    bool write(Entry* e, StickData d, std::int64_t now, std::uint64_t v, unsigned idx = 0) const;
    // Adds to a counter or rate if stored (cnt += inc, rate += inc). Inline: the data path calls it
    // for each datum an event touches.
    [[gnu::always_inline]] void add(Entry* e, StickData d, std::int64_t now, std::uint64_t inc, unsigned idx = 0) const {
        unsigned char* p = at(e, d, idx);
        if (p == nullptr) return;
        if (config::stick_is_rate(d))
            reinterpret_cast<FreqCtr*>(p)->add(std::uint32_t(now), period_[int(d)], std::uint32_t(inc));
        else if (d == StickData::BytesInCnt || d == StickData::BytesOutCnt)
            *reinterpret_cast<std::uint64_t*>(p) += inc;
        else
            *reinterpret_cast<std::uint32_t*>(p) += std::uint32_t(inc);
    }
    static constexpr std::size_t elem_size(StickData d) {
        return config::stick_is_rate(d) ? sizeof(FreqCtr)
               : d == StickData::BytesInCnt || d == StickData::BytesOutCnt ? 8
                                                                          : 4;
    }
    // Whether any of the byte counters is stored (the end of an exchange counts nothing otherwise).
    bool counts_bytes() const {
        return off_[int(StickData::BytesInCnt)] >= 0 || off_[int(StickData::BytesInRate)] >= 0 ||
               off_[int(StickData::BytesOutCnt)] >= 0 || off_[int(StickData::BytesOutRate)] >= 0;
    }

    // Oldest first.
    template <typename F>
    void for_each(F&& f) {
        for (Entry* e = oldest_; e != nullptr;) {
            Entry* n = e->newer;
            f(e);
            e = n;
        }
    }

private:
    unsigned char* data(Entry* e) const { return reinterpret_cast<unsigned char*>(e) + data_at_; }
    std::uint32_t hash(const unsigned char* k, std::size_t n) const;
    Entry* find(const Key& k, std::uint32_t h) const;
    void unlink(Entry* e);
    void destroy(Entry* e);
    void grow();

    const config::StickTable* spec_;
    int id_;
    std::int16_t off_[config::kStickData];
    std::uint8_t cnt_[config::kStickData] = {};
    std::uint32_t period_[config::kStickData] = {};
    std::size_t data_at_ = 0;     // offset of the data from the entry's start
    std::size_t entry_size_ = 0;
    std::vector<Entry*> buckets_;
    std::size_t used_ = 0;
    Entry* oldest_ = nullptr;
    Entry* newest_ = nullptr;
};

// What a connection or a request tracks: three counters (sc0..sc2) at each level. Session level:
// tcp-request connection (and content in mode tcp) rules, for the connection's life. Stream level:
// http-request / tcp-request content (mode http) / http-response rules, for one exchange.
struct Tracked {
    Entry* e = nullptr;
    std::int16_t table = -1;
    bool backend = false;  // tracked by a backend's rules (counts the backend's requests too)
};
struct Refs {
    Tracked sess[3];
    Tracked strm[3];
    // `stick on` / `stick store-request` of the exchange's backend: the entries that get the server
    // once one is chosen (held meanwhile)
    Tracked store[2];
};

// The tables of one shard.
class Store {
public:
    explicit Store(const config::Config& cfg);
    bool empty() const { return tables_.empty(); }
    Table& table(int id) { return tables_[std::size_t(id)]; }
    std::size_t count() const { return tables_.size(); }

    // Counting on what a connection tracks (HAProxy's stream_start_counters, session_count_new,
    // stream_inc_http_req_ctr, ...). A stream-level counter wins over the session one of its number.
    void track(Refs& r, bool stream, std::uint8_t sc, int table, Entry* e, bool backend, std::int64_t now);
    void count_session(Refs& r, std::int64_t now);
    void count_http_req(Refs& r, std::int64_t now) { count_event(r, StickData::HttpReqCnt, StickData::HttpReqRate, now); }
    void count_http_err(Refs& r, std::int64_t now) { count_event(r, StickData::HttpErrCnt, StickData::HttpErrRate, now); }
    void count_http_fail(Refs& r, std::int64_t now) {
        count_event(r, StickData::HttpFailCnt, StickData::HttpFailRate, now);
    }
    void count_bytes(Refs& r, std::uint64_t in, std::uint64_t out, std::int64_t now);
    // The entry counter `sc` reads (stream first, then session), or null.
    Tracked* tracked(Refs* r, std::uint8_t sc);
    // End of an exchange / of a connection: conn_cur drops, the entries are released.
    void end_stream(Refs& r, std::int64_t now);
    void end_session(Refs& r, std::int64_t now);
    // Persistence: an entry waits for the exchange's server (held), then gets its id and name key.
    bool stage_store(Refs& r, int table, Entry* e);
    void commit_store(Refs& r, std::uint32_t server_id, std::uint32_t server_key, std::int64_t now) {
        if (r.store[0].e != nullptr) [[unlikely]] commit_store_slow(r, server_id, server_key, now);
    }
    void drop_store(Refs& r, std::int64_t now) {
        if (r.store[0].e != nullptr) [[unlikely]] drop_store_slow(r, now);
    }
    // Housekeeping: removes expired entries of every table, a bounded number per call.
    void expire(std::int64_t now);

private:
    void count_event(Refs& r, StickData cnt, StickData rate, std::int64_t now);
    void commit_store_slow(Refs& r, std::uint32_t server_id, std::uint32_t server_key, std::int64_t now);
    void drop_store_slow(Refs& r, std::int64_t now);
    std::vector<Table> tables_;
};

// A `show table` / `clear table` asked of every data shard by the control shard. `pending` counts
// the references: one per shard it was posted to, and the asker's. Each shard fills its part and
// drops its reference; the asker reads the parts once only its own is left. Whoever drops the
// last reference frees it (the asker, or a late shard after the asker gave up waiting).
struct Query {
    // Set: `set table T key K [data.X V]...`: the entry of `key` made or updated on shard `target`, the values of
    // `filters` (their `v`) written
    enum class Op : std::uint8_t { Show, Clear, Set } op = Op::Show;
    std::size_t target = 0;
    int table = -1;            // -1: every table (show: the headers only)
    bool has_key = false;
    Key key;
    bool heads_only = false;   // show: the count, not the entries
    // data.<type> <op> <value> filters, all of which an entry passes (show and clear)
    enum class Cmp : std::uint8_t { Eq, Ne, Le, Lt, Ge, Gt };
    struct Filter {
        StickData d = StickData::ConnCnt;
        Cmp cmp = Cmp::Eq;
        std::uint64_t v = 0;
    };
    std::vector<Filter> filters;
    // answers, per shard
    struct Row {
        std::string key;       // as printed
        std::uintptr_t addr = 0;  // the entry's address (HAProxy prints its own)
        Key raw;
        std::uint32_t refs = 0;
        std::int64_t exp_ms = 0;  // remaining; -1: never expires
        std::uint64_t values[config::kStickData] = {};
        std::vector<std::uint64_t> arrays;  // the gpt, gpc and gpc_rate elements, in that order
        std::uint32_t server_key = 0;  // ServerKey: backend << 16 | server + 1 (0: none)
    };
    struct Part {
        std::vector<std::size_t> used;   // per table: entries (show without a table)
        std::vector<Row> rows;
        std::size_t cleared = 0;
        std::size_t busy = 0;            // clear: matching entries left because a tracker holds them
    };
    std::vector<Part> parts;           // one per shard
    std::atomic<int> pending{0};
};
// Fills `q.parts[shard]` from a shard's store (the shard's thread).
void answer(Store& s, Query& q, std::size_t shard, std::int64_t now);

}  // namespace es::stick
