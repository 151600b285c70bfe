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

#include <cstdint>
#include <string>
#include <string_view>
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

// Which rows `show stat` gives (HAProxy's `show stat [{<iid>|<proxy>} <type> <sid>] [up|no-maint]`, the stats
// page's `;up` and `;no-maint`, `stats scope`).
struct StatFilter {
    const std::vector<std::string>* scope = nullptr;  // null or empty: every proxy
    std::int64_t iid = -1;   // a proxy id; -1: every proxy
    std::int64_t types = -1;  // 1 frontends, 2 backends, 4 servers, ORed; -1: all
    std::int64_t sid = -1;   // a server id; -1: every server
    bool up = false;        // only the servers that are up or not checked (the backend's status says "(up/all)")
    bool no_maint = false;  // no server in maintenance (the same status suffix)
};
// Whether server `sv` of backend `be` is UP for `up` or in maintenance for `no_maint` (HAProxy's rules).
bool stat_server_shown(const Snapshot& snap, std::size_t be, std::size_t sv, const StatFilter& f);

// per_shard requires a snapshot built with per_shard_objects (otherwise only merged rows appear).
void render_stat_csv(const Snapshot& snap, bool per_shard, std::string& out, const StatFilter& filter = {});
void render_stat_json(const Snapshot& snap, bool per_shard, std::string& out, const StatFilter& filter = {});
// `show stat typed [desc]`: HAProxy's "<obj>.<iid>.<id>.<pos>.<name>.<pid>:<tags>:<type>:<value>[:"desc"]" lines,
// each object's fields contiguous.
void render_stat_typed(const Snapshot& snap, std::string& out, const StatFilter& filter = {}, bool desc = false);
// `show info typed [desc]`: "<pos>.<name>.<pid>:<tags>:<type>:<value>[:"desc"]".
void render_info_typed(const Snapshot& snap, std::string& out, bool desc = false);
// `show schema json`: the JSON schema of `show info json` and `show stat json` (draft 4, as HAProxy's).
void render_schema_json(std::string& out);

void render_pools_text(const Snapshot& snap, std::string& out);
void render_pools_json(const Snapshot& snap, std::string& out);

void render_shards_text(const Snapshot& snap, std::string& out);
void render_shards_json(const Snapshot& snap, std::string& out);

// {"errorStr":"..."}: HAProxy's answer when a JSON command cannot complete.
void render_json_error(std::string_view msg, std::string& out);

// Prometheus text exposition format 0.0.4 with HAProxy promex's metric names: haproxy_process_*,
// then haproxy_frontend_* {proxy}, haproxy_backend_* {proxy}, haproxy_server_* {proxy,server}.
// Each family has one "# HELP" and one "# TYPE" line before its samples (families without a sample
// are left out); averages are in seconds; label values are escaped (\\, \", \n). HTTP families
// carry HTTP proxies only, like promex. Serve it with kPrometheusContentType.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";
void render_prometheus(const Snapshot& snap, std::string& out);
std::string render_prometheus(const Snapshot& snap);

// HAProxy-style `stats uri` HTML page: a process summary, then one table per proxy (FRONTEND row,
// server rows, BACKEND row) with Queue, Sessions, Bytes, Denied, Errors,
// Warnings, HTTP responses and Server columns. Self-contained (inline CSS, no script, no external
// resource); names are HTML-escaped. refresh_s > 0 adds a <meta http-equiv="refresh">. The page
// links to "<uri>;csv" and "<uri>;json".
// What a `stats uri` page shows besides the statistics: its refresh, the proxies it is limited to
// (`stats scope`: null or empty for every one), and whether the version is hidden (`stats hide-version`).
// The results of the page's admin actions: HAProxy's `;st=` codes, in its order (Init: none).
enum class AdminResult : std::uint8_t { Unkn, None, Done, Part, Errp, Excd, Deny, Ival, Init = 255 };
std::string_view admin_result_code(AdminResult r);  // "DONE"...; "UNKN" for Init
// The result a page's target asks to show (`<uri>...;st=XXXX`): Init when none, Unkn when unknown.
AdminResult admin_result_in(std::string_view uri, std::string_view target);
// Where a POST to the page sends its client: `<uri>;st=<code>`, then `;up` and `;norefresh` (with a
// refresh) when the POST's target had them, then `?scope=<s>` (HAProxy's).
std::string admin_location(std::string_view uri, std::string_view target, int refresh_s, AdminResult r);
// The whole answer to such a POST: HAProxy's 303 to admin_location, without a body.
std::string admin_redirect(std::string_view uri, std::string_view target, int refresh_s, AdminResult r);

struct PageOptions {
    int refresh_s = 0;
    const std::vector<std::string>* scope = nullptr;
    bool hide_version = false;
    // the admin level (`stats admin`): each backend with servers in a form that posts actions on them
    bool admin = false;
    AdminResult result = AdminResult::Init;  // the message to show (`;st=`)
    bool up = false, no_maint = false;        // `;up`, `;no-maint`: the servers StatFilter leaves out are not shown
};
void render_html(const Snapshot& snap, std::string_view uri, int refresh_s, std::string& out,
                 const PageOptions& opt = {});
std::string render_html(const Snapshot& snap, std::string_view uri, int refresh_s);

// The whole `stats uri` endpoint. target: the request's path and query as received; uri: the
// configured stats uri. "<uri>" -> HTML, "<uri>;csv" -> `show stat` CSV, "<uri>;json" ->
// `show stat json`; ";norefresh" drops the refresh (HAProxy's suffixes, combinable:
// "<uri>;csv;norefresh"). Appends the body to out and returns its Content-Type.
std::string_view render_stats_page(const Snapshot& snap, std::string_view uri, std::string_view target,
                                   int refresh_s, std::string& out, const PageOptions& opt = {});

}  // namespace es::stats
