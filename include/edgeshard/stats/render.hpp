// Renderers: stream a Snapshot into text, CSV or JSON, appending to `out`.
//
// Every renderer walks the snapshot once and fills one row of fields at a time (a fixed array),
// so the work and the scratch memory are bounded by the snapshot's size, not by any
// per-field allocation. JSON is written with rapidjson's Writer straight into `out`.
// Shapes (HAProxy's where HAProxy has the command; see src/stats/README.md):
//   show info          "Name: value" lines, HAProxy's names and order, our fields after them.
//   show info json     flat array of {"field":{pos,name},"processNum","tags","value":{type,value}}.
//   show stat          HAProxy's CSV: "# pxname,svname,..." header, one row per object, each cell
//                      followed by ','; rows: FRONTEND per frontend, then per backend its servers
//                      and its BACKEND row.
//   show stat json     array of arrays, one per object; objType/proxyId/id/field/processNum/tags/value.
//   ... shards         the merged objects first, then every object again per shard: CSV appends a
//                      `shard` column (empty on merged rows), JSON adds "shard":N to each field object.
//   show pools [json]  per pool (merged by name and size) with per-shard values, and a total.
//   show shards [json] per shard: placement, ring geometry and loop counters.
// Integers in JSON are clamped to ±(2^53-1).
#pragma once

#include <string>
#include <vector>

#include "edgeshard/stats/fields.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace es::stats {

// Rows as typed fields (what the renderers use; exposed for tests and future formats).
std::vector<InfoField> info_fields(const Snapshot& snap);
// shard < 0: merged values; otherwise the values of snap.shards[shard] (needs per_shard_objects).
void fill_frontend_row(const Snapshot& snap, std::size_t fe, int shard, StatRow& row);
void fill_backend_row(const Snapshot& snap, std::size_t be, int shard, StatRow& row);
void fill_server_row(const Snapshot& snap, std::size_t be, std::size_t sv, int shard, StatRow& row);

void render_info_text(const Snapshot& snap, std::string& out);
void render_info_json(const Snapshot& snap, std::string& out);

// per_shard requires a snapshot built with per_shard_objects (otherwise only merged rows appear).
void render_stat_csv(const Snapshot& snap, bool per_shard, std::string& out);
void render_stat_json(const Snapshot& snap, bool per_shard, std::string& out);

void render_pools_text(const Snapshot& snap, std::string& out);
void render_pools_json(const Snapshot& snap, std::string& out);

void render_shards_text(const Snapshot& snap, std::string& out);
void render_shards_json(const Snapshot& snap, std::string& out);

// {"errorStr":"..."}: HAProxy's answer when a JSON command cannot complete.
void render_json_error(std::string_view msg, std::string& out);

}  // namespace es::stats
