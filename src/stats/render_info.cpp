// `show info`, `show pools`, `show shards` and the JSON error reply.
#include <cinttypes>
#include <cstdio>

#include "edgeshard/stats/render.hpp"
#include "json_out.hpp"

namespace es::stats {

namespace {

using detail::JsonWriter;

void append_u(std::string& out, std::uint64_t v) {
    char buf[24];
    const int n = std::snprintf(buf, sizeof buf, "%" PRIu64, v);
    out.append(buf, std::size_t(n));
}

void append_i(std::string& out, std::int64_t v) {
    char buf[24];
    const int n = std::snprintf(buf, sizeof buf, "%" PRId64, v);
    out.append(buf, std::size_t(n));
}

// " key=value" pairs of `show shards` text, and the same members in JSON, from one list so the
// two formats cannot drift apart.
template <typename Emit>
void shard_members(const ShardSnapshot& s, Emit&& emit) {
    const ShardValues& c = s.counters;
    emit("accepts", c.accepts);
    emit("accept_paused", c.accept_paused);
    emit("loops", c.loops);
    emit("cqes", c.cqes);
    emit("submits", c.submits);
    emit("cq_overflow", c.cq_overflow);
    emit("enobufs", c.enobufs);
    emit("short_sends", c.short_sends);
    emit("sq_full", c.sq_full);
    emit("splice_switches", c.splice_switches);
    emit("splice_bytes", c.splice_bytes);
    emit("copy_bytes", c.copy_bytes);
    emit("pipe_misses", c.pipe_misses);
    emit("stale_cqes", c.stale_cqes);
    emit("mailbox_msgs", c.mailbox_msgs);
    emit("wakeups", c.wakeups);
    emit("timers_fired", c.timers_fired);
    emit("page_asks", c.page_asks);
    emit("page_timeouts", c.page_timeouts);
    emit("page_fails", c.page_fails);
    emit("ssl_conns", c.ssl_conns);
    emit("ssl_accepts", c.ssl_accepts);
    emit("ssl_handshakes", c.ssl_handshakes);
    emit("ssl_resumed", c.ssl_resumed);
    emit("ssl_failures", c.ssl_failures);
    emit("pp_headers", c.pp_headers);
    emit("pp_failures", c.pp_failures);
    emit("ssl_ktls", c.ssl_ktls);
    emit("ssl_ktls_fallbacks", c.ssl_ktls_fallbacks);
    emit("ssl_direct", c.ssl_direct);
    emit("ssl_cache_lookups", c.ssl_cache_lookups);
    emit("ssl_cache_misses", c.ssl_cache_misses);
    emit("ssl_srv_handshakes", c.ssl_srv_handshakes);
    emit("ssl_srv_resumed", c.ssl_srv_resumed);
    emit("ssl_srv_failures", c.ssl_srv_failures);
}

}  // namespace

void render_info_text(const Snapshot& snap, std::string& out) {
    for (const InfoField& f : info_fields(snap)) {
        if (f.value.empty()) continue;
        out.append(f.name);
        out.append(": ");
        append_value_text(f.value, out);
        out.push_back('\n');
    }
}

void render_info_json(const Snapshot& snap, std::string& out) {
    detail::StringSink sink(out);
    JsonWriter w(sink);
    w.StartArray();
    for (const InfoField& f : info_fields(snap)) {
        if (f.value.empty()) continue;
        w.StartObject();
        detail::key(w, "field");
        w.StartObject();
        detail::i64(w, "pos", f.pos);
        detail::key(w, "name");
        detail::str(w, f.name);
        w.EndObject();
        detail::u64(w, "processNum", 1);
        detail::write_tags_and_value(w, f.value);
        w.EndObject();
    }
    w.EndArray();
    out.push_back('\n');
}

void render_pools_text(const Snapshot& snap, std::string& out) {
    out.append("Dumping pools usage.\n");
    std::uint64_t total_alloc = 0, total_used = 0;
    for (const PoolSummary& p : snap.pools) {
        out.append("  - Pool ").append(p.name).append(" (");
        append_u(out, p.size);
        out.append(" bytes) : ");
        append_u(out, p.allocated);
        out.append(" allocated (");
        append_u(out, p.allocated * p.size);
        out.append(" bytes), ");
        append_u(out, p.used);
        out.append(" used, needed_avg ");
        append_u(out, p.needed_avg);
        out.append(", ");
        append_u(out, p.failed);
        out.append(" failures\n");
        for (const auto& s : p.shards) {
            out.append("      shard ");
            append_i(out, s.shard);
            out.append(": ");
            append_u(out, s.allocated);
            out.append(" allocated, ");
            append_u(out, s.used);
            out.append(" used, needed_avg ");
            append_u(out, s.needed_avg);
            out.append(", ");
            append_u(out, s.failed);
            out.append(" failures\n");
        }
        total_alloc += p.allocated * p.size;
        total_used += p.used * p.size;
    }
    out.append("Total: ");
    append_u(out, snap.pools.size());
    out.append(" pools, ");
    append_u(out, total_alloc);
    out.append(" bytes allocated, ");
    append_u(out, total_used);
    out.append(" used.\n");
}

void render_pools_json(const Snapshot& snap, std::string& out) {
    detail::StringSink sink(out);
    JsonWriter w(sink);
    std::uint64_t total_alloc = 0, total_used = 0, total_failed = 0;
    w.StartObject();
    detail::key(w, "pools");
    w.StartArray();
    for (const PoolSummary& p : snap.pools) {
        w.StartObject();
        detail::key(w, "name");
        detail::str(w, p.name);
        detail::u64(w, "size", p.size);
        detail::u64(w, "allocated", p.allocated);
        detail::u64(w, "allocated_bytes", p.allocated * p.size);
        detail::u64(w, "used", p.used);
        detail::u64(w, "used_bytes", p.used * p.size);
        detail::u64(w, "needed_avg", p.needed_avg);
        detail::u64(w, "failed", p.failed);
        detail::key(w, "shards");
        w.StartArray();
        for (const auto& s : p.shards) {
            w.StartObject();
            detail::i64(w, "shard", s.shard);
            detail::u64(w, "allocated", s.allocated);
            detail::u64(w, "used", s.used);
            detail::u64(w, "needed_avg", s.needed_avg);
            detail::u64(w, "failed", s.failed);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        total_alloc += p.allocated * p.size;
        total_used += p.used * p.size;
        total_failed += p.failed;
    }
    w.EndArray();
    detail::key(w, "total");
    w.StartObject();
    detail::u64(w, "pools", snap.pools.size());
    detail::u64(w, "allocated_bytes", total_alloc);
    detail::u64(w, "used_bytes", total_used);
    detail::u64(w, "failed", total_failed);
    w.EndObject();
    w.EndObject();
    out.push_back('\n');
}

void render_shards_text(const Snapshot& snap, std::string& out) {
    for (const ShardSnapshot& s : snap.shards) {
        const ShardPlace& in = s.info;
        out.append("shard ");
        append_i(out, s.id);
        out.append(": cpu=");
        append_i(out, s.cpu);
        out.append(" numa_node=");
        append_i(out, in.numa_node);
        out.append(" tier=").append(in.tier.empty() ? "-" : in.tier);
        out.append(" sq_entries=");
        append_u(out, in.sq_entries);
        out.append(" cq_entries=");
        append_u(out, in.cq_entries);
        out.append(" buffers=");
        append_u(out, in.buffers);
        out.append(" bufsize=");
        append_u(out, in.bufsize);
        out.append(" conn_limit=");
        append_i(out, in.conn_limit);
        out.append(" conns=");
        append_i(out, s.counters.conns);
        out.append(" buffers_out=");
        append_i(out, s.counters.buffers_out);
        shard_members(s, [&out](std::string_view k, std::uint64_t v) {
            out.push_back(' ');
            out.append(k).push_back('=');
            append_u(out, v);
        });
        out.push_back('\n');
    }
}

void render_shards_json(const Snapshot& snap, std::string& out) {
    detail::StringSink sink(out);
    JsonWriter w(sink);
    w.StartObject();
    detail::key(w, "shards");
    w.StartArray();
    for (const ShardSnapshot& s : snap.shards) {
        const ShardPlace& in = s.info;
        w.StartObject();
        detail::i64(w, "id", s.id);
        detail::i64(w, "cpu", s.cpu);
        detail::i64(w, "numa_node", in.numa_node);
        detail::key(w, "tier");
        detail::str(w, in.tier);
        detail::u64(w, "sq_entries", in.sq_entries);
        detail::u64(w, "cq_entries", in.cq_entries);
        detail::u64(w, "buffers", in.buffers);
        detail::u64(w, "bufsize", in.bufsize);
        detail::i64(w, "conn_limit", in.conn_limit);
        detail::i64(w, "conns", s.counters.conns);
        detail::i64(w, "buffers_out", s.counters.buffers_out);
        shard_members(s, [&w](std::string_view k, std::uint64_t v) { detail::u64(w, k, v); });
        w.EndObject();
    }
    w.EndArray();
    // Process-wide sums of the same counters (gauges included), for dashboards that want one line.
    ShardSnapshot total;
    total.counters = snap.shard_total;
    detail::key(w, "total");
    w.StartObject();
    detail::i64(w, "conns", total.counters.conns);
    detail::i64(w, "buffers_out", total.counters.buffers_out);
    shard_members(total, [&w](std::string_view k, std::uint64_t v) { detail::u64(w, k, v); });
    w.EndObject();
    w.EndObject();
    out.push_back('\n');
}

// The shapes render_info_json, render_stat_json and render_json_error write (HAProxy's `show schema json`
// describes the same three, with the same draft).
void render_schema_json(std::string& out) {
    out.append(R"({
  "$schema": "http://json-schema.org/draft-04/schema#",
  "oneOf": [
    {
      "title": "Info",
      "description": "show info json: one object per field",
      "type": "array",
      "items": {
        "title": "InfoItem",
        "type": "object",
        "properties": {
          "field": {"$ref": "#/definitions/field"},
          "processNum": {"$ref": "#/definitions/processNum"},
          "tags": {"$ref": "#/definitions/tags"},
          "value": {"$ref": "#/definitions/typedValue"}
        },
        "required": ["field", "processNum", "tags", "value"]
      }
    },
    {
      "title": "Stat",
      "description": "show stat json: one array per object (frontend, backend, server), one object per field",
      "type": "array",
      "items": {
        "title": "StatObject",
        "type": "array",
        "items": {
          "type": "object",
          "properties": {
            "objType": {"enum": ["Frontend", "Backend", "Listener", "Server", "Unknown"]},
            "proxyId": {"type": "integer", "minimum": 0},
            "id": {"type": "integer", "minimum": 0},
            "field": {"$ref": "#/definitions/field"},
            "processNum": {"$ref": "#/definitions/processNum"},
            "shard": {"type": "integer", "minimum": 0},
            "tags": {"$ref": "#/definitions/tags"},
            "value": {"$ref": "#/definitions/typedValue"}
          },
          "required": ["objType", "proxyId", "id", "field", "processNum", "tags", "value"]
        }
      }
    },
    {
      "title": "Error",
      "description": "a command that could not complete",
      "type": "object",
      "properties": {"errorStr": {"type": "string"}},
      "required": ["errorStr"]
    }
  ],
  "definitions": {
    "field": {
      "type": "object",
      "properties": {"pos": {"type": "integer", "minimum": 0}, "name": {"type": "string"}},
      "required": ["pos", "name"]
    },
    "processNum": {"type": "integer", "minimum": 1},
    "tags": {
      "type": "object",
      "properties": {
        "origin": {"enum": ["Metric", "Status", "Key", "Config", "Product", "Unknown"]},
        "nature": {"enum": ["Gauge", "Limit", "Min", "Max", "Rate", "Counter", "Duration", "Age", "Time", "Name",
                            "Output", "Avg", "Unknown"]},
        "scope": {"enum": ["Cluster", "Process", "Service", "System", "Unknown"]}
      },
      "required": ["origin", "nature", "scope"]
    },
    "typedValue": {
      "type": "object",
      "oneOf": [
        {"properties": {"type": {"enum": ["s32", "s64"]}, "value": {"type": "integer"}}, "required": ["type", "value"]},
        {"properties": {"type": {"enum": ["u32", "u64"]}, "value": {"type": "integer", "minimum": 0}},
         "required": ["type", "value"]},
        {"properties": {"type": {"enum": ["flt"]}, "value": {"type": "number"}}, "required": ["type", "value"]},
        {"properties": {"type": {"enum": ["str"]}, "value": {"type": "string"}}, "required": ["type", "value"]}
      ]
    }
  }
}
)");
}

void render_json_error(std::string_view msg, std::string& out) {
    detail::StringSink sink(out);
    JsonWriter w(sink);
    w.StartObject();
    detail::key(w, "errorStr");
    detail::str(w, msg);
    w.EndObject();
    out.push_back('\n');
}

}  // namespace es::stats
