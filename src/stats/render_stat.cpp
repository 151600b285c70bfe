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
    if (!lay.proxies.empty()) {
        // HAProxy's: each proxy in its order, FRONTEND, its servers, BACKEND
        for (const Layout::Proxy& p : lay.proxies) {
            if (p.fe >= 0) order.push_back({ObjType::Frontend, std::size_t(p.fe), 0});
            if (p.be < 0) continue;
            for (std::size_t s = 0; s < lay.backends[std::size_t(p.be)].servers.size(); ++s)
                order.push_back({ObjType::Server, std::size_t(p.be), s});
            order.push_back({ObjType::Backend, std::size_t(p.be), 0});
        }
        return order;
    }

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

// HAProxy's typed tags: origin, nature and scope as one letter each ("MGP").
char origin_letter(Origin o) {
    switch (o) {
        case Origin::Metric: return 'M';
        case Origin::Status: return 'S';
        case Origin::Key: return 'K';
        case Origin::Config: return 'C';
        case Origin::Product: return 'P';
    }
    return '?';
}
char nature_letter(Nature n) {
    switch (n) {
        case Nature::Age: return 'A';
        case Nature::Avg: return 'a';
        case Nature::Counter: return 'C';
        case Nature::Duration: return 'D';
        case Nature::Gauge: return 'G';
        case Nature::Limit: return 'L';
        case Nature::Max: return 'M';
        case Nature::Min: return 'm';
        case Nature::Name: return 'N';
        case Nature::Output: return 'O';
        case Nature::Rate: return 'R';
        case Nature::Time: return 'T';
    }
    return '?';
}
char scope_letter(Scope sc) {
    switch (sc) {
        case Scope::Cluster: return 'C';
        case Scope::Process: return 'P';
        case Scope::Service: return 'S';
        case Scope::System: return 's';
    }
    return '?';
}

// ":<tags>:<type>:<value>" and, with desc, `:"<description>"` and the line's end.
void typed_tail(const Field& f, std::string_view desc, bool with_desc, std::string& out) {
    out.push_back(':');
    out.push_back(origin_letter(f.origin));
    out.push_back(nature_letter(f.nature));
    out.push_back(scope_letter(f.scope));
    out.push_back(':');
    out.append(type_name(f.type));
    out.push_back(':');
    append_value_text(f, out);
    if (with_desc) {
        out.append(":\"");
        out.append(desc);
        out.push_back('"');
    }
    out.push_back('\n');
}

// The objects the filter lets through, and the backend status suffix `up`/`no-maint` add ("UP (1/2)").
struct Walk {
    const Snapshot& snap;
    const StatFilter& f;
    std::string status;  // a backend's status with its suffix (its row points into it)

    // Fills `row` for object `o` (shard < 0: merged) when the filter shows it; false when it does not.
    bool fill(const ObjRef& o, int shard, StatRow& row) {
        if (!shows(o, o.type == ObjType::Frontend ? snap.fe_iid[o.a] : snap.be_iid[o.a])) return false;
        fill_row(snap, o, shard, row);
        if (!in_scope(f.scope, row[st::pxname].s)) return false;
        adjust(o, row);
        return true;
    }

    bool shows(const ObjRef& o, std::uint32_t iid) const {
        if (f.iid != -1 && iid != std::uint64_t(f.iid)) return false;
        const std::int64_t bit = o.type == ObjType::Frontend ? 1 : o.type == ObjType::Backend ? 2 : 4;
        if ((f.types & bit) == 0) return false;
        if (o.type != ObjType::Server) return true;
        const Layout::Server& cs = snap.layout->backends[o.a].servers[o.b];
        if (f.sid != -1 && cs.server_id() != std::uint64_t(f.sid)) return false;
        return stat_server_shown(snap, o.a, o.b, f);
    }
    // after the row is filled
    void adjust(const ObjRef& o, StatRow& row) {
        if (o.type != ObjType::Backend || !(f.up || f.no_maint)) return;
        const std::size_t n = snap.layout->backends[o.a].servers.size();
        std::size_t up = 0;
        StatFilter only_up;
        only_up.up = true;
        for (std::size_t k = 0; k < n; ++k) up += stat_server_shown(snap, o.a, k, only_up) ? 1 : 0;
        status.assign(row[st::status].s);
        status += " (" + std::to_string(up) + "/" + std::to_string(n) + ")";
        row[st::status].s = status;
    }
};

}  // namespace

bool stat_server_shown(const Snapshot& snap, std::size_t be, std::size_t sv, const StatFilter& f) {
    if (!f.up && !f.no_maint) return true;
    const Layout::Server& cs = snap.layout->backends[be].servers[sv];
    const ServerState* live =
        be < snap.srv_runtime.size() && sv < snap.srv_runtime[be].size() ? &snap.srv_runtime[be][sv] : nullptr;
    const bool maint = live ? live->admin == ServerState::Admin::Maint || live->rmaint == 1
                            : cs.disabled || cs.unresolved;
    if (maint) return false;  // (both `up` and `no-maint` hide it)
    if (!f.up) return true;
    if (!live) return true;
    // down and not coming back up: unchecked and set down, or a check (or the agent) at health 0
    const bool checked = live->check.enabled || live->agent.enabled;
    if (!checked) return !live->down;
    if (live->check.enabled && live->check.health == 0) return false;
    if (live->agent.enabled && live->agent.health == 0) return false;
    return true;
}

void render_stat_csv(const Snapshot& snap, bool per_shard, std::string& out, const StatFilter& filter) {
    out.append("# ");
    for (std::string_view name : kStatFieldNames) {
        out.append(name);
        out.push_back(',');
    }
    if (per_shard) out.append("shard,");
    out.push_back('\n');

    const auto order = object_order(snap);
    StatRow row;
    Walk walk{snap, filter, {}};
    auto emit = [&](const ObjRef& o, int shard) {
        if (!walk.fill(o, shard, row)) return;
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

void render_stat_json(const Snapshot& snap, bool per_shard, std::string& out, const StatFilter& filter) {
    detail::StringSink sink(out);
    JsonWriter w(sink);
    const auto order = object_order(snap);
    StatRow row;
    Walk walk{snap, filter, {}};
    w.StartArray();
    auto emit = [&](const ObjRef& o, int shard) {
        if (!walk.fill(o, shard, row)) return;
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

void render_stat_typed(const Snapshot& snap, std::string& out, const StatFilter& filter, bool desc) {
    const auto order = object_order(snap);
    StatRow row;
    Walk walk{snap, filter, {}};
    for (const ObjRef& o : order) {
        if (!walk.fill(o, -1, row)) continue;
        const char obj = o.type == ObjType::Frontend ? 'F' : o.type == ObjType::Backend ? 'B' : 'S';
        const std::string head = std::string(1, obj) + "." + std::to_string(row[st::iid].u) + "." +
                                 std::to_string(o.type == ObjType::Server ? row[st::sid].u : 0) + ".";
        for (std::size_t pos = 0; pos < row.size(); ++pos) {
            const Field& f = row[pos];
            if (f.empty()) continue;
            out.append(head);
            out.append(std::to_string(pos));
            out.push_back('.');
            out.append(kStatFieldNames[pos]);
            out.append(".1");
            typed_tail(f, stat_field_desc(pos), desc, out);
        }
    }
}

void render_info_typed(const Snapshot& snap, std::string& out, bool desc) {
    for (const InfoField& f : info_fields(snap)) {
        if (f.value.empty()) continue;
        out.append(std::to_string(f.pos));
        out.push_back('.');
        out.append(f.name);
        out.append(".1");
        typed_tail(f.value, info_field_desc(f.pos), desc, out);
    }
}

}  // namespace es::stats
