// Stick-table actions and fetches of the rules (HAProxy 2.6: track-sc*, sc-inc-gpc0/1, sc-set-gpt0,
// sc_* / sc<N>_* / src_*). The tables are the shard's (stick::Store); what a connection tracks lives
// in its stick::Refs, taken from the pool on its first track.
#include <arpa/inet.h>

#include <cstring>

#include "edgeshard/rules/payload.hpp"
#include "edgeshard/rules/rules.hpp"

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

// The key of a sample for table `tb`. *wait: the bytes that would make it may still come.
bool key_of(const config::SampleExpr& s, const Txn& t, const config::StickTable& tb, stick::Key& k, bool* wait) {
    stick::KeySource v;
    using K = stick::KeySource::Kind;
    switch (s.fetch) {
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

void sc_inc_gpc(std::uint8_t sc, int which, const Txn& t) {
    StickCtx* c = t.stick;
    if (c == nullptr || c->refs == nullptr) return;
    stick::Tracked* tr = c->store->tracked(*c->refs, sc);
    if (tr == nullptr) return;
    stick::Table& tb = c->store->table(tr->table);
    tb.add(tr->e, which == 0 ? StickData::Gpc0 : StickData::Gpc1, c->now, 1);
    tb.add(tr->e, which == 0 ? StickData::Gpc0Rate : StickData::Gpc1Rate, c->now, 1);
    tb.touch(tr->e, c->now);
}

void sc_set_gpt0(std::uint8_t sc, std::uint32_t value, const Txn& t) {
    StickCtx* c = t.stick;
    if (c == nullptr || c->refs == nullptr) return;
    stick::Tracked* tr = c->store->tracked(*c->refs, sc);
    if (tr == nullptr) return;
    stick::Table& tb = c->store->table(tr->table);
    if (std::uint32_t* p = tb.u32(tr->e, StickData::Gpt0)) *p = value;
    tb.touch(tr->e, c->now);
}

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
        const bool creates = acl.stick_op == Op::IncGpc0 || acl.stick_op == Op::IncGpc1 ||
                             acl.stick_op == Op::ClrGpc0 || acl.stick_op == Op::ClrGpc1;
        e = creates ? tb->get(k, c->now) : tb->lookup(k, c->now);
    }
    if (e == nullptr) {  // no entry: the counters read 0 (HAProxy's src_* on an unknown address)
        v = 0;
        return acl.stick_op != Op::Data || tb->stores(acl.stick_data);
    }
    std::uint64_t u = 0;
    switch (acl.stick_op) {
        case Op::Data:
            if (!tb->read(e, acl.stick_data, c->now, u)) return false;
            v = acl.stick_data == StickData::ServerId ? std::int64_t(std::int32_t(u)) : std::int64_t(u);
            return true;
        case Op::KBytes:
            if (!tb->read(e, acl.stick_data, c->now, u)) return false;
            v = std::int64_t(u >> 10);
            return true;
        case Op::Trackers:
            v = e->refs;
            return true;
        case Op::Tracked:
            v = 1;
            return true;
        case Op::IncGpc0:
        case Op::IncGpc1: {
            const bool zero = acl.stick_op == Op::IncGpc0;
            std::uint32_t* p = tb->u32(e, zero ? StickData::Gpc0 : StickData::Gpc1);
            tb->add(e, zero ? StickData::Gpc0Rate : StickData::Gpc1Rate, c->now, 1);
            if (p != nullptr) ++*p;
            tb->touch(e, c->now);
            v = p != nullptr ? *p : 0;
            return true;
        }
        case Op::ClrGpc0:
        case Op::ClrGpc1: {
            std::uint32_t* p = tb->u32(e, acl.stick_op == Op::ClrGpc0 ? StickData::Gpc0 : StickData::Gpc1);
            v = p != nullptr ? *p : 0;
            if (p != nullptr) *p = 0;
            tb->touch(e, c->now);
            return true;
        }
    }
    return false;
}

}  // namespace es::rules
