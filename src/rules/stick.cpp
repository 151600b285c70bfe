// Stick-table actions and fetches of the rules (HAProxy 2.6: track-sc*, sc-inc-gpc0/1, sc-set-gpt0,
// sc_* / sc<N>_* / src_*). The tables are the shard's (stick::Store); what a connection tracks lives
// in its stick::Refs, taken from the pool on its first track.
#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>

#include "edgeshard/rules/payload.hpp"
#include "edgeshard/rules/rules.hpp"
#include "internal.hpp"

namespace es::rules {

namespace {

using config::StickData;
using Fetch = config::SampleExpr::Fetch;

// The value of a header for a key: occurrence `occ` (1 first, -1 last) of the values (or whole lines).
bool header_value(const config::SampleExpr& s, const Txn& t, std::string_view& out) {
    if (t.req == nullptr) return false;
    // count the values first when counting from the end
    int total = 0;
    auto each = [&](auto&& f) {
        for (std::uint16_t i = 0; i < t.req->nheaders; ++i) {
            const http::Header& h = t.req->headers[i];
            if (h.removed || !http::iequals(h.name, s.arg)) continue;
            if (s.full) {
                if (f(h.value)) return;
                continue;
            }
            std::size_t pos = 0;
            std::string_view e;
            while (next_list_element(h.value, pos, e))
                if (f(e)) return;
        }
    };
    if (s.occ < 0) each([&](std::string_view) { return ++total, false; });
    const int want = s.occ < 0 ? total + s.occ + 1 : s.occ;
    if (want <= 0) return false;
    int n = 0;
    bool found = false;
    each([&](std::string_view v) {
        if (++n != want) return false;
        out = v;
        found = true;
        return true;
    });
    return found;
}

}  // namespace

// A typed sample (its text and detail::g_smp_type) as a key's source; `ss` holds an address.
bool detail::key_source(std::string_view text, stick::KeySource& v, sockaddr_storage& ss) {
    using K = stick::KeySource::Kind;
    using detail::SmpType;
    switch (detail::g_smp_type) {
        case SmpType::Ip4:
        case SmpType::Ip6: {
            char buf[INET6_ADDRSTRLEN];
            if (text.size() >= sizeof buf) return false;
            std::memcpy(buf, text.data(), text.size());
            buf[text.size()] = '\0';
            std::memset(&ss, 0, sizeof ss);
            auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
            auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
            if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) ss.ss_family = AF_INET;
            else if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) ss.ss_family = AF_INET6;
            else return false;
            v.kind = K::Addr;
            v.addr = &ss;
            return true;
        }
        case SmpType::Int:
        case SmpType::Bool:
            v.kind = K::Int;
            v.num = detail::read_int64(text, nullptr);
            return true;
        case SmpType::Bin:
            v.kind = K::Bin;
            v.str = text;
            return true;
        case SmpType::Str:
            break;
    }
    v.kind = K::Str;
    v.str = text;
    return true;
}

namespace {

// The key of a sample for table `tb`. *wait: the bytes that would make it may still come.
bool key_of(const config::SampleExpr& s, const Txn& t, const config::StickTable& tb, stick::Key& k, bool* wait) {
    stick::KeySource v;
    using K = stick::KeySource::Kind;
    sockaddr_storage ss;
    switch (s.fetch) {
        case Fetch::Expr: {
            std::string_view text;
            if (!eval_sample(t, s.text, text, true) || !detail::key_source(text, v, ss)) return false;
            break;
        }
        case Fetch::Src:
            v.kind = K::Addr;
            v.addr = t.src;
            break;
        case Fetch::Dst:
            v.kind = K::Addr;
            v.addr = t.dst;
            break;
        case Fetch::SrcPort: {
            const int p = addr_port(t.src);
            if (p < 0) return false;
            v.kind = K::Int;
            v.num = p;
            break;
        }
        case Fetch::DstPort:
            if (t.dst_port < 0) return false;
            v.kind = K::Int;
            v.num = t.dst_port;
            break;
        case Fetch::Hdr:
            if (!header_value(s, t, v.str)) return false;
            v.kind = K::Str;
            break;
        case Fetch::Path:
            if (t.req == nullptr) return false;
            v.kind = K::Str;
            v.str = t.req->path;
            break;
        case Fetch::Url:
            if (t.req == nullptr) return false;
            v.kind = K::Str;
            v.str = t.req->target;
            break;
        case Fetch::Base: {
            // HAProxy's base: the Host header's value then the path (without the query)
            if (t.req == nullptr || t.arena == nullptr) return false;
            config::SampleExpr host;
            host.arg = "host";
            host.full = true;
            std::string_view h;
            if (!header_value(host, t, h)) h = {};
            ArenaWriter w(*t.arena);
            w.add(h);
            w.add(t.req->path);
            v.str = w.commit();
            if (v.str.empty() && !(h.empty() && t.req->path.empty())) return false;
            v.kind = K::Str;
            break;
        }
        case Fetch::SslFcSni:
            if (t.tls == nullptr || t.tls->sni.empty()) return false;
            v.kind = K::Str;
            v.str = t.tls->sni;
            break;
        case Fetch::ReqSslSni: {
            std::string_view name;
            const Peek p = ssl_sni(t.payload, name);
            if (p != Peek::Found) {
                if (wait && p == Peek::NeedMore && !t.payload_final) *wait = true;
                return false;
            }
            v.kind = K::Str;
            v.str = name;
            break;
        }
    }
    return stick::make_key(tb, v, k);
}

stick::Refs* refs_of(const Txn& t) {
    StickCtx* c = t.stick;
    if (c == nullptr || c->refs == nullptr) return nullptr;
    if (*c->refs == nullptr && c->pool != nullptr) *c->refs = c->pool->make();
    return *c->refs;
}

}  // namespace

bool stick_key(const config::SampleExpr& s, const Txn& t, const config::StickTable& tb, stick::Key& k) {
    return key_of(s, t, tb, k, nullptr);
}

bool track(const config::TrackSpec& spec, const Txn& t, bool stream, bool http) {
    StickCtx* c = t.stick;
    if (c == nullptr || c->store == nullptr || spec.table < 0) return false;
    // already tracked at this level: the first rule wins (HAProxy)
    if (c->refs != nullptr && *c->refs != nullptr) {
        const stick::Tracked& have = stream ? (*c->refs)->strm[spec.sc] : (*c->refs)->sess[spec.sc];
        if (have.e != nullptr) return false;
    }
    stick::Table& tb = c->store->table(spec.table);
    stick::Key k;
    if (!key_of(spec.key, t, tb.spec(), k, nullptr)) return false;
    stick::Entry* e = tb.get(k, c->now);
    if (e == nullptr) return false;
    stick::Refs* r = refs_of(t);
    if (r == nullptr) return false;
    c->store->track(*r, stream, spec.sc, spec.table, e, c->backend, c->now);
    if (http) {
        // HAProxy counts the request on the entry now: its own start of request came before the track
        tb.add(e, StickData::HttpReqCnt, c->now, 1);
        tb.add(e, StickData::HttpReqRate, c->now, 1);
        if (stick::http_err_status(c->status)) {
            tb.add(e, StickData::HttpErrCnt, c->now, 1);
            tb.add(e, StickData::HttpErrRate, c->now, 1);
        } else if (stick::http_fail_status(c->status)) {
            tb.add(e, StickData::HttpFailCnt, c->now, 1);
            tb.add(e, StickData::HttpFailRate, c->now, 1);
        }
    }
    return true;
}

void sc_inc_gpc(const config::TrackSpec& spec, int which, const Txn& t) {
    StickCtx* c = t.stick;
    if (c == nullptr || c->refs == nullptr) return;
    stick::Tracked* tr = c->store->tracked(*c->refs, spec.sc);
    if (tr == nullptr) return;
    stick::Table& tb = c->store->table(tr->table);
    if (spec.array) {  // an element past the arrays' sizes is nothing (HAProxy's action_inc_gpc)
        tb.add(tr->e, StickData::Gpc, c->now, 1, spec.idx);
        tb.add(tr->e, StickData::GpcRate, c->now, 1, spec.idx);
    } else {
        tb.add(tr->e, which == 0 ? StickData::Gpc0 : StickData::Gpc1, c->now, 1);
        tb.add(tr->e, which == 0 ? StickData::Gpc0Rate : StickData::Gpc1Rate, c->now, 1);
    }
    tb.touch(tr->e, c->now);
}

void sc_set_gpt(const config::TrackSpec& spec, std::int64_t value, const Txn& t) {
    StickCtx* c = t.stick;
    if (c == nullptr || c->refs == nullptr) return;
    stick::Tracked* tr = c->store->tracked(*c->refs, spec.sc);
    if (tr == nullptr) return;
    if (!spec.value_expr.empty()) {  // no sample (or none as an integer): the value is kept (HAProxy's)
        std::string_view text;
        if (!eval_sample(t, spec.value_expr, text) || !detail::smp_int(text, value)) return;
    }
    stick::Table& tb = c->store->table(tr->table);
    if (std::uint32_t* p = tb.u32(tr->e, spec.array ? StickData::Gpt : StickData::Gpt0, spec.idx))
        *p = std::uint32_t(value);
    tb.touch(tr->e, c->now);
}

namespace {

// What a stick fetch or a table converter reads from a live entry; false: no sample (not stored, past the array).
[[gnu::always_inline]] inline bool entry_value(config::Acl::StickOp op, StickData d, std::uint32_t idx, stick::Table& tb,
                                               stick::Entry* e, std::int64_t now, std::int64_t& v) {
    using Op = config::Acl::StickOp;
    std::uint64_t u = 0;
    switch (op) {
        case Op::Data:
            if (!tb.read(e, d, now, u, idx)) return false;
            v = d == StickData::ServerId ? std::int64_t(std::int32_t(u)) : std::int64_t(u);
            return true;
        case Op::KBytes:
            if (!tb.read(e, d, now, u)) return false;
            v = std::int64_t(u >> 10);
            return true;
        case Op::Trackers:
            v = e->refs;
            return true;
        case Op::Tracked:
            v = 1;
            return true;
        case Op::IncGpc0:
        case Op::IncGpc1:
        case Op::IncGpc: {
            const StickData cnt = op == Op::IncGpc0 ? StickData::Gpc0 : op == Op::IncGpc1 ? StickData::Gpc1 : StickData::Gpc;
            const StickData rate = op == Op::IncGpc0   ? StickData::Gpc0Rate
                                   : op == Op::IncGpc1 ? StickData::Gpc1Rate
                                                       : StickData::GpcRate;
            const unsigned at = op == Op::IncGpc ? idx : 0;
            std::uint32_t* p = tb.u32(e, cnt, at);
            tb.add(e, rate, now, 1, at);
            if (p != nullptr) ++*p;
            tb.touch(e, now);
            v = p != nullptr ? *p : 0;
            return true;
        }
        case Op::ClrGpc0:
        case Op::ClrGpc1:
        case Op::ClrGpc: {
            std::uint32_t* p = op == Op::ClrGpc ? tb.u32(e, StickData::Gpc, idx)
                                                : tb.u32(e, op == Op::ClrGpc0 ? StickData::Gpc0 : StickData::Gpc1);
            v = p != nullptr ? *p : 0;
            if (p != nullptr) *p = 0;
            tb.touch(e, now);
            return true;
        }
    }
    return false;
}

}  // namespace

bool stick_fetch(const config::Acl& acl, const Txn& t, std::int64_t& v) {
    using Op = config::Acl::StickOp;
    StickCtx* c = t.stick;
    if (c == nullptr || c->store == nullptr) return false;
    stick::Table* tb = nullptr;
    stick::Entry* e = nullptr;
    if (acl.stick_sc >= 0) {
        stick::Tracked* tr = c->store->tracked(c->refs ? *c->refs : nullptr, std::uint8_t(acl.stick_sc));
        if (acl.stick_op == Op::Tracked) {
            v = tr != nullptr;
            return true;
        }
        if (tr == nullptr) return false;
        tb = &c->store->table(tr->table);
        e = tr->e;
        if (acl.stick_table >= 0 && acl.stick_table != tr->table) {
            // the tracked key, looked up in another table
            stick::Table& other = c->store->table(acl.stick_table);
            if (other.spec().type != tb->spec().type) return false;
            stick::Key k;
            k.len = e->key_len;
            std::memcpy(k.bytes, e->key(), e->key_len);
            tb = &other;
            e = other.lookup(k, c->now);
        }
    } else {
        if (acl.stick_table < 0) return false;
        tb = &c->store->table(acl.stick_table);
        config::SampleExpr src;
        stick::Key k;
        if (!key_of(src, t, tb->spec(), k, nullptr)) return false;
        const bool creates = acl.stick_op == Op::IncGpc0 || acl.stick_op == Op::IncGpc1 || acl.stick_op == Op::IncGpc ||
                             acl.stick_op == Op::ClrGpc0 || acl.stick_op == Op::ClrGpc1 || acl.stick_op == Op::ClrGpc;
        e = creates ? tb->get(k, c->now) : tb->lookup(k, c->now);
    }
    if (e == nullptr) {  // no entry: the counters read 0 (HAProxy's src_* on an unknown address)
        v = 0;
        return acl.stick_op != Op::Data || tb->stores(acl.stick_data);
    }
    return entry_value(acl.stick_op, acl.stick_data, acl.stick_idx, *tb, e, c->now, v);
}

namespace detail {

namespace {
int table_by_name(const config::Config* cfg, std::string_view name) {
    if (cfg == nullptr) return -1;
    for (std::size_t i = 0; i < cfg->tables.size(); ++i)
        if (cfg->tables[i].name == name) return int(i);
    return -1;
}
// the table of the proxy whose rules run (a backend's when its rules run, else the frontend's)
int own_table(const Txn& t) {
    if (t.cfg == nullptr) return -1;
    if (t.stick != nullptr && t.stick->backend && t.be >= 0) return t.cfg->backends[std::size_t(t.be)].table;
    return t.fe >= 0 ? t.cfg->frontends[std::size_t(t.fe)].table : -1;
}

void add_sint(ArenaWriter& w, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    w.add(std::string_view(buf, std::size_t(r.ptr - buf)));
}

int named_table(const Txn& t, std::string_view name, const config::Config*& cfg, int& id) {
    if (cfg != t.cfg) {
        cfg = t.cfg;
        id = table_by_name(t.cfg, name);
    }
    return id;
}

// The table's entry for the sample (the converter's own lookup, never creating one): 1 with `v` (0 for an absent key),
// 0 for no sample (no key, a datum the table does not store).
int table_convert(const Txn& t, int table, config::Acl::StickOp op, StickData d, std::uint32_t idx, std::string_view in,
                  std::int64_t& v) {
    StickCtx* c = t.stick;
    if (c == nullptr || c->store == nullptr || table < 0 || std::size_t(table) >= c->store->count()) return 0;
    stick::Table& tb = c->store->table(table);
    stick::KeySource src;
    sockaddr_storage ss;
    stick::Key k;
    if (!key_source(in, src, ss) || !stick::make_key(tb.spec(), src, k)) return 0;
    stick::Entry* e = tb.lookup(k, c->now);
    v = 0;
    if (e == nullptr) return 1;  // an absent key reads 0, whatever the table stores (HAProxy's)
    if (op == config::Acl::StickOp::Trackers) {  // HAProxy counts the converter's own reference
        v = std::int64_t(e->refs) + 1;
        return 1;
    }
    return entry_value(op, d, idx, tb, e, c->now, v) ? 1 : 0;
}

}  // namespace

bool fetch_stick(const Txn& t, const StickSample& s, ArenaWriter& w, int& present) {
    present = 0;
    s.acl.stick_table = !s.acl.arg.empty()     ? named_table(t, s.acl.arg, s.cfg, s.named)
                        : s.acl.stick_sc < 0 ? own_table(t)
                                             : -1;
    std::int64_t v = 0;
    if (!stick_fetch(s.acl, t, v)) return true;
    add_sint(w, v);
    g_smp_type = s.acl.stick_op == config::Acl::StickOp::Tracked ? SmpType::Bool : SmpType::Int;
    present = 1;
    return true;
}

void convert_table(const Txn& t, const TableStep& s, const config::ConvArgs& a, ArenaWriter& w, std::size_t mark,
                   bool& present) {
    if (!present) return;
    const config::TableConv& c = *s.conv;
    const std::size_t n = a.n == 1 && a.v[0].empty() ? 0 : std::size_t(a.n);
    std::uint32_t idx = 0;
    std::size_t k = 0;
    if (c.indexed) idx = std::uint32_t(read_int64(k < n ? a.v[k++] : std::string_view(), nullptr));
    const int table = k < n && !a.v[k].empty() ? named_table(t, a.v[k], s.cfg, s.named) : own_table(t);
    std::int64_t v = 0;
    present = table_convert(t, table, c.op, c.d, idx, w.since(mark), v);
    w.rewind(mark);
    if (present) add_sint(w, v);
    g_smp_type = SmpType::Int;
}

}  // namespace detail

}  // namespace es::rules
