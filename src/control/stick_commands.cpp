// `show table` and `clear table` (HAProxy 2.6 management.txt 9.3, its texts and formats): the
// data shards answer a stick::Query for their own tables (a message: nothing here reads a shard's
// memory); entries of one key on several shards (a key other than the client's address, which the
// listeners do not steer) are shown once, their counters added up.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include "edgeshard/control/cli.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stick/table.hpp"

namespace es::control {

namespace {

using config::StickData;
using stick::Query;

constexpr std::string_view kTypeNames[] = {"ip", "ipv6", "integer", "string", "binary"};
constexpr std::string_view kDataNames[] = {
    "server_id", "gpt0",        "gpc0",          "gpc0_rate",    "conn_cnt",      "conn_rate",
    "conn_cur",  "sess_cnt",    "sess_rate",     "http_req_cnt", "http_req_rate", "http_err_cnt",
    "http_err_rate", "bytes_in_cnt", "bytes_in_rate", "bytes_out_cnt", "bytes_out_rate", "gpc1",
    "gpc1_rate", "server_key",  "http_fail_cnt", "http_fail_rate"};
static_assert(std::size(kDataNames) == config::kStickData);

void line(std::string& out, std::string_view s) {
    out.append(s);
    out.push_back('\n');
}

int find_table(const config::Config& cfg, std::string_view name) {
    for (std::size_t i = 0; i < cfg.tables.size(); ++i)
        if (cfg.tables[i].name == name) return int(i);
    return -1;
}

// The `data.<type> <op> <value>` filters (up to 4, ANDed) from args[i..]; an error text or "".
std::string parse_filters(const config::StickTable& t, std::span<const std::string_view> args, std::size_t i,
                          Query& q) {
    int n = 0;
    while (i < args.size()) {
        if (!args[i].starts_with("data.") || n >= 4) break;
        ++n;
        const std::string prefix = "Filter entry #" + std::to_string(n) + ": ";
        const std::string_view name = args[i].substr(5);
        int d = -1;
        for (int k = 0; k < config::kStickData; ++k)
            if (kDataNames[k] == name) d = k;
        if (d < 0) return prefix + "Unknown data type";
        if (!t.stores(StickData(d))) return prefix + "Data type not stored in this table";
        Query::Filter f;
        f.d = StickData(d);
        const std::string_view op = i + 1 < args.size() ? args[i + 1] : std::string_view();
        if (op == "eq") f.cmp = Query::Cmp::Eq;
        else if (op == "ne") f.cmp = Query::Cmp::Ne;
        else if (op == "le") f.cmp = Query::Cmp::Le;
        else if (op == "ge") f.cmp = Query::Cmp::Ge;
        else if (op == "lt") f.cmp = Query::Cmp::Lt;
        else if (op == "gt") f.cmp = Query::Cmp::Gt;
        else return prefix + "Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"";  // (sic)
        const std::string_view v = i + 2 < args.size() ? args[i + 2] : std::string_view();
        std::int64_t val = 0;
        const auto r = std::from_chars(v.data(), v.data() + v.size(), val);
        if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size())
            return prefix + "Require a valid integer value to compare against";
        f.v = std::uint64_t(val);
        q.filters.push_back(f);
        i += 3;
    }
    if (i < args.size()) return "\x01";  // something else: the caller's usage text
    return {};
}

// Posts the query to every data shard and waits for their parts. False: they did not all answer
// in time. Either way the caller then drops its reference (release()).
bool ask(Context& ctx, Query& q, std::string& out) {
    if (!ctx.services.stick_query) {
        line(out, "Stick tables are not available.");
        return false;
    }
    if (!ctx.services.stick_query(q)) {
        line(out, "The tables did not answer in time; try again.");
        return false;
    }
    return true;
}

void release(Query* q) {
    if (q->pending.fetch_sub(1) == 1) delete q;
}

struct Merged {
    const Query::Row* row = nullptr;
    std::uint32_t refs = 0;
    std::int64_t exp = -1;
    std::uint64_t values[config::kStickData] = {};
};

std::string server_name(const config::Config& cfg, std::uint32_t key) {
    const std::uint32_t be = key >> 16, sv = (key & 0xffff);
    if (sv == 0 || be >= cfg.backends.size() || sv - 1 >= cfg.backends[be].servers.size()) return {};
    return cfg.backends[be].servers[sv - 1].name;
}

void head(const config::Config& cfg, int id, std::size_t used, std::string& out) {
    const config::StickTable& t = cfg.tables[std::size_t(id)];
    out += "# table: " + t.name + ", type: " + std::string(kTypeNames[int(t.type)]) +
           ", size:" + std::to_string(t.size) + ", used:" + std::to_string(used) + "\n";
}

void cmd_table(std::span<const std::string_view> args, Context& ctx, std::string& out, bool clear) {
    const auto tab = ctx.services.server_table ? ctx.services.server_table() : ServerTable{};
    if (tab.cfg == nullptr) return line(out, "Stick tables are not available.");
    const config::Config& cfg = *tab.cfg;
    constexpr std::string_view kRequired =
        "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>";
    if (clear && args.empty()) return line(out, kRequired);
    auto* q = new Query;
    q->op = clear ? Query::Op::Clear : Query::Op::Show;
    if (!args.empty()) {
        q->table = find_table(cfg, args[0]);
        if (q->table < 0) {
            delete q;
            return line(out, "No such table");
        }
        const config::StickTable& t = cfg.tables[std::size_t(q->table)];
        if (args.size() > 1 && args[1] == "key") {
            if (args.size() < 3) {
                delete q;
                return line(out, "Key value expected");
            }
            q->has_key = true;
            if (!stick::parse_key(t, args[2], q->key)) {  // matches no entry (HAProxy says nothing)
                delete q;
                return;
            }
        } else {
            const std::string err = parse_filters(t, args, 1, *q);
            if (!err.empty()) {
                delete q;
                if (err == "\x01")
                    return line(out, clear ? kRequired
                                           : "Optional argument only supports \"data.<store_data_type>\" <operator> "
                                             "<value> and key <key>");
                return line(out, err);
            }
        }
    }
    // a user-level session sees the tables' heads, not their contents (HAProxy)
    const bool contents = ctx.session.level >= Level::Operator;
    if (!contents && q->table >= 0 && !clear) q->heads_only = true;
    if (!ask(ctx, *q, out)) return release(q);
    if (q->table < 0) {  // the list of tables, the last declared first (HAProxy's order)
        for (int id = int(cfg.tables.size()) - 1; id >= 0; --id) {
            std::size_t used = 0;
            for (const Query::Part& p : q->parts)
                if (std::size_t(id) < p.used.size()) used += p.used[std::size_t(id)];
            head(cfg, id, used, out);
        }
        return release(q);
    }
    if (clear) {
        std::size_t busy = 0;
        for (const Query::Part& p : q->parts) busy += p.busy;
        if (q->has_key && busy > 0) line(out, "Entry currently in use, cannot remove");
        return release(q);
    }
    std::size_t used = 0;
    for (const Query::Part& p : q->parts)
        if (!p.used.empty()) used += p.used[0];
    // one line per key, in key order (HAProxy walks its key tree)
    std::map<std::string, Merged> rows;
    for (const Query::Part& p : q->parts) {
        for (const Query::Row& r : p.rows) {
            Merged& m = rows[std::string(reinterpret_cast<const char*>(r.raw.bytes), r.raw.len)];
            if (m.row == nullptr) m.row = &r;
            m.refs += r.refs;
            m.exp = std::max(m.exp, r.exp_ms);
            for (int d = 0; d < config::kStickData; ++d) {
                const auto sd = StickData(d);
                // what is not a count is not added up: the server, the last gpt0 set
                if (sd == StickData::ServerId || sd == StickData::ServerKey || sd == StickData::Gpt0)
                    m.values[d] = m.row == &r || m.values[d] == 0 ? r.values[d] : m.values[d];
                else
                    m.values[d] += r.values[d];
            }
        }
    }
    if (q->has_key && rows.empty()) return release(q);  // an absent key: not even the head
    const config::StickTable& t = cfg.tables[std::size_t(q->table)];
    head(cfg, q->table, used, out);
    if (!contents) {
        line(out, "# contents not dumped due to insufficient privileges");
        return release(q);
    }
    for (const auto& [key, m] : rows) {
        char addr[32];
        std::snprintf(addr, sizeof(addr), "0x%" PRIxPTR ":", m.row->addr);
        out += addr;
        out += " key=" + m.row->key + " use=" + std::to_string(m.refs) +
               " exp=" + std::to_string(m.exp < 0 ? 0 : m.exp);
        for (int d = 0; d < config::kStickData; ++d) {
            const auto sd = StickData(d);
            if (!t.stores(sd)) continue;
            out += ' ';
            out += kDataNames[d];
            if (config::stick_is_rate(sd)) out += "(" + std::to_string(t.period[d]) + ")";
            out += '=';
            if (sd == StickData::ServerKey)
                out += server_name(cfg, m.row->server_key);
            else if (sd == StickData::ServerId)
                out += std::to_string(std::int64_t(std::int32_t(std::uint32_t(m.values[d]))));
            else
                out += std::to_string(m.values[d]);
        }
        out += '\n';
    }
    release(q);
}

void cmd_show_table(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    cmd_table(args, ctx, out, false);
}

void cmd_clear_table(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    cmd_table(args, ctx, out, true);
}

}  // namespace

void register_stick_commands(CommandTable& t) {
    t.add({{"show", "table"}, "[<table> [data.<type> <op> <value>]* | [key <key>]]",
           "report table usage stats or dump this table's contents", Level::User, cmd_show_table});
    t.add({{"clear", "table"}, "<table> [data.<type> <op> <value>]* | [key <key>]",
           "remove an entry from a table", Level::Operator, cmd_clear_table});
}

// The control shard's side of a query: one message per data shard, then a bounded wait.
bool ask_shards(shard::Runtime& rt, Query& q) {
    const std::size_t n = rt.shard_count();
    q.parts.assign(n, {});
    q.pending.store(int(n) + 1);
    shard::Message m;
    m.kind = shard::Message::kStickQuery;
    m.a = reinterpret_cast<std::uintptr_t>(&q);
    for (std::size_t i = 0; i < n; ++i) {
        bool ok = rt.running(i) && rt.post(i, m);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        while (!ok && rt.running(i) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
            ok = rt.post(i, m);
        }
        if (!ok) q.pending.fetch_sub(1);  // an ended shard holds no entries
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (q.pending.load() > 1) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
}

}  // namespace es::control
