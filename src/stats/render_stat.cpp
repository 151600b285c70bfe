// `show stat` in CSV and JSON. One StatRow (fixed array) is filled per object and streamed out,
// so rendering N objects touches N rows of scratch, never the whole table at once.
#include <cmath>
#include <vector>

#include "edgeshard/stats/render.hpp"
#include "json_out.hpp"
#include "order.hpp"

namespace es::stats {

namespace detail {

void write_tags_and_value(JsonWriter& w, const Field& f) {
    key(w, "tags");
    w.StartObject();
    key(w, "origin");
    str(w, origin_name(f.origin));
    key(w, "nature");
    str(w, nature_name(f.nature));
    key(w, "scope");
    str(w, scope_name(f.scope));
    w.EndObject();
    key(w, "value");
    w.StartObject();
    key(w, "type");
    str(w, type_name(f.type));
    key(w, "value");
    switch (f.type) {
        case FieldType::S32:
        case FieldType::S64:
            w.Int64(clamp_json(f.i));
            break;
        case FieldType::U32:
        case FieldType::U64:
            w.Uint64(clamp_json(f.u));
            break;
        // rapidjson refuses NaN/Inf (JSON has no spelling for them); a float we cannot print is 0.
        case FieldType::Flt:
            w.Double(std::isfinite(f.f) ? f.f : 0.0);
            break;
        case FieldType::Str:
            str(w, f.s);
            break;
        case FieldType::Empty:
            w.Null();
            break;
    }
    w.EndObject();
}

bool in_scope(const std::vector<std::string>* scope, std::string_view pxname) {
    if (!scope || scope->empty()) return true;
    for (const auto& n : *scope)
        if (n == pxname) return true;
    return false;
}

std::vector<ObjRef> object_order(const Snapshot& snap) {
    const Layout& lay = *snap.layout;
    std::vector<ObjRef> order;
    std::size_t n = lay.frontends.size() + lay.backends.size();
    for (const auto& be : lay.backends) n += be.servers.size();
    order.reserve(n);

    std::vector<bool> done(lay.backends.size(), false);
    auto add_backend = [&](std::size_t b) {
        for (std::size_t s = 0; s < lay.backends[b].servers.size(); ++s)
            order.push_back({ObjType::Server, b, s});
        order.push_back({ObjType::Backend, b, 0});
        done[b] = true;
    };
    for (std::size_t f = 0; f < lay.frontends.size(); ++f) {
        order.push_back({ObjType::Frontend, f, 0});
        for (std::size_t b = 0; b < lay.backends.size(); ++b)
            if (!done[b] && snap.be_iid[b] == snap.fe_iid[f]) add_backend(b);
    }
    for (std::size_t b = 0; b < lay.backends.size(); ++b)
        if (!done[b]) add_backend(b);
    return order;
}

void fill_row(const Snapshot& snap, const ObjRef& o, int shard, StatRow& row) {
    switch (o.type) {
        case ObjType::Frontend:
            fill_frontend_row(snap, o.a, shard, row);
            break;
        case ObjType::Backend:
            fill_backend_row(snap, o.a, shard, row);
            break;
        case ObjType::Server:
            fill_server_row(snap, o.a, o.b, shard, row);
            break;
    }
}

}  // namespace detail

namespace {

using detail::fill_row;
using detail::JsonWriter;
using detail::object_order;
using detail::in_scope;
using detail::ObjRef;

// HAProxy's CSV encoding: a cell holding a separator, a quote or a line break is quoted, with
// quotes doubled.
void append_csv_cell(const Field& f, std::string& out) {
    if (f.type != FieldType::Str) {
        append_value_text(f, out);
        return;
    }
    if (f.s.find_first_of(",\"\r\n") == std::string_view::npos) {
        out.append(f.s);
        return;
    }
    out.push_back('"');
    for (char c : f.s) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
}

int shard_count_for(const Snapshot& snap, bool per_shard) {
    return per_shard && snap.per_shard_objects ? int(snap.shards.size()) : 0;
}

}  // namespace

void render_stat_csv(const Snapshot& snap, bool per_shard, std::string& out, const std::vector<std::string>* scope) {
    out.append("# ");
    for (std::string_view name : kStatFieldNames) {
        out.append(name);
        out.push_back(',');
    }
    if (per_shard) out.append("shard,");
    out.push_back('\n');

    const auto order = object_order(snap);
    StatRow row;
    auto emit = [&](const ObjRef& o, int shard) {
        fill_row(snap, o, shard, row);
        if (!in_scope(scope, row[st::pxname].s)) return;
        for (const Field& f : row) {
            append_csv_cell(f, out);
            out.push_back(',');
        }
        if (per_shard) {
            if (shard >= 0) out.append(std::to_string(snap.shards[std::size_t(shard)].id));
            out.push_back(',');
        }
        out.push_back('\n');
    };
    for (const auto& o : order) emit(o, -1);
    const int nshards = shard_count_for(snap, per_shard);
    for (int s = 0; s < nshards; ++s)
        for (const auto& o : order) emit(o, s);
}

void render_stat_json(const Snapshot& snap, bool per_shard, std::string& out, const std::vector<std::string>* scope) {
    detail::StringSink sink(out);
    JsonWriter w(sink);
    const auto order = object_order(snap);
    StatRow row;
    w.StartArray();
    auto emit = [&](const ObjRef& o, int shard) {
        fill_row(snap, o, shard, row);
        if (!in_scope(scope, row[st::pxname].s)) return;
        const std::uint32_t proxy_id = std::uint32_t(row[st::iid].u);
        const std::uint32_t id = o.type == ObjType::Server ? std::uint32_t(row[st::sid].u) : 0;
        w.StartArray();
        for (std::size_t pos = 0; pos < row.size(); ++pos) {
            const Field& f = row[pos];
            if (f.empty()) continue;
            w.StartObject();
            detail::key(w, "objType");
            detail::str(w, obj_type_name(o.type));
            detail::u64(w, "proxyId", proxy_id);
            detail::u64(w, "id", id);
            detail::key(w, "field");
            w.StartObject();
            detail::u64(w, "pos", pos);
            detail::key(w, "name");
            detail::str(w, kStatFieldNames[pos]);
            w.EndObject();
            detail::u64(w, "processNum", 1);
            if (shard >= 0) detail::i64(w, "shard", snap.shards[std::size_t(shard)].id);
            detail::write_tags_and_value(w, f);
            w.EndObject();
        }
        w.EndArray();
    };
    for (const auto& o : order) emit(o, -1);
    const int nshards = shard_count_for(snap, per_shard);
    for (int s = 0; s < nshards; ++s)
        for (const auto& o : order) emit(o, s);
    w.EndArray();
    out.push_back('\n');
}

}  // namespace es::stats
