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

void line(std::string& out, std::string_view s) {
    out.append(s);
    out.push_back('\n');
}

int find_table(const config::Config& cfg, std::string_view name) {
    for (std::size_t i = 0; i < cfg.tables.size(); ++i)
        if (cfg.tables[i].name == name) return int(i);
    return -1;
}

int data_type(std::string_view name) { return config::stick_data_type(name); }

// HAProxy's strl2llrc: an optional sign then decimal digits only, within a long long
bool cli_int(std::string_view v, std::int64_t& out) {
    if (v.empty()) return false;
    const char* b = v.data() + (v[0] == '+' ? 1 : 0);
    const auto r = std::from_chars(b, v.data() + v.size(), out);
    return r.ec == std::errc() && r.ptr == v.data() + v.size();
}

// The `data.<type> <op> <value>` filters (up to 4, ANDed) from args[i..] (HAProxy's table_prepare_data_request:
// a word in a filter's place is a filter, its first five characters skipped); an error text or "".
std::string parse_filters(const config::StickTable& t, std::span<const std::string_view> args, std::size_t i,
                          Query& q) {
    auto arg = [&](std::size_t k) { return k < args.size() ? args[k] : std::string_view(); };
    int n = 0;
    for (; n < 4; ++n) {
        const std::size_t at = i + 3 * std::size_t(n);
        if (n > 0 && arg(at).empty()) break;
        const std::string prefix = "Filter entry #" + std::to_string(n + 1) + ": ";
        const std::string_view w = arg(at);
        const int d = data_type(w.size() > 5 ? w.substr(5) : std::string_view());
        if (d < 0) return prefix + "Unknown data type";
        if (!t.stores(StickData(d))) return prefix + "Data type not stored in this table";
        Query::Filter f;
        f.d = StickData(d);
        const std::string_view op = arg(at + 1);
        if (op == "eq") f.cmp = Query::Cmp::Eq;
        else if (op == "ne") f.cmp = Query::Cmp::Ne;
        else if (op == "le") f.cmp = Query::Cmp::Le;
        else if (op == "ge") f.cmp = Query::Cmp::Ge;
        else if (op == "lt") f.cmp = Query::Cmp::Lt;
        else if (op == "gt") f.cmp = Query::Cmp::Gt;
        else return prefix + "Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"";  // (sic)
        std::int64_t val = 0;
        if (!cli_int(arg(at + 2), val)) return prefix + "Require a valid integer value to compare against";
        f.v = std::uint64_t(val);
        q.filters.push_back(f);
    }
    const std::size_t at = i + 3 * std::size_t(n);
    if (!arg(at).empty()) {
        const std::size_t word = at + 3;  // HAProxy counts "show table" too, from 1, always with "th"
        return "Detected extra data in filter, " + std::to_string(word) + "th word of input, after '" +
               std::string(arg(at - 1)) + "'";
    }
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
    std::vector<std::uint64_t> arrays;
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

enum class Act { Show, Clear, Set };

void cmd_table(std::span<const std::string_view> args, Context& ctx, std::string& out, Act act) {
    const auto tab = ctx.services.server_table ? ctx.services.server_table() : ServerTable{};
    if (tab.cfg == nullptr) return line(out, "Stick tables are not available.");
    const config::Config& cfg = *tab.cfg;
    const bool clear = act != Act::Show;  // (`set table T` alone clears T; a key makes it a Set below)
    auto usage = [&] {
        line(out, act == Act::Show    ? "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>"
                  : act == Act::Clear ? "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>"
                                      : "Required arguments: <table> key <key> [data.<store_data_type> <value>]*");
    };
    if (act != Act::Show && args.empty()) return usage();
    auto q = std::make_unique<Query>();
    q->op = act == Act::Show ? Query::Op::Show : Query::Op::Clear;  // `set table T` alone empties T (HAProxy's)
    std::string after;  // an error `set table` prints once the entry is made (HAProxy makes it first)
    if (!args.empty()) {
        q->table = find_table(cfg, args[0]);
        if (q->table < 0) return line(out, "No such table");
        const config::StickTable& t = cfg.tables[std::size_t(q->table)];
        if (args.size() > 1 && args[1] == "key") {
            if (args.size() < 3 || args[2].empty()) return line(out, "Key value expected");
            if (t.type == config::StickTable::Type::Binary)
                return line(out, act == Act::Show    ? "Showing keys from tables of type other than ip, ipv6, string and integer is not supported"
                                 : act == Act::Clear ? "Removing keys from tables of type other than ip, ipv6, string and integer is not supported"
                                                     : "Inserting keys into tables of type other than ip, ipv6, string and integer is not supported");
            q->has_key = true;
            if (!stick::parse_key(t, args[2], q->key)) {
                if (t.type == config::StickTable::Type::Ipv6 || t.type == config::StickTable::Type::Integer)
                    return line(out, "Invalid key");
                if (act != Act::Set) return;  // matches no entry (HAProxy says nothing)
                return line(out, "Invalid key");
            }
            if (ctx.session.level < Level::Operator) return;  // (HAProxy: a key asks for operator rights)
            if (act == Act::Set) {
                q->op = Query::Op::Set;
                for (std::size_t i = 3; i < args.size() && !args[i].empty(); i += 2) {
                    if (!args[i].starts_with("data.")) {
                        after = "\"data.<type>\" followed by a value expected";
                        break;
                    }
                    const int d = data_type(args[i].substr(5));
                    if (d < 0) {
                        after = "Unknown data type";
                        break;
                    }
                    if (!t.stores(StickData(d))) {
                        after = "Data type not stored in this table";
                        break;
                    }
                    std::int64_t v = 0;
                    if (!cli_int(i + 1 < args.size() ? args[i + 1] : std::string_view(), v)) {
                        after = "Require a valid integer value to store";
                        break;
                    }
                    q->filters.push_back({StickData(d), Query::Cmp::Eq, std::uint64_t(v)});
                }
            }
        } else if (args.size() > 1 && args[1].starts_with("data.")) {
            if (act == Act::Set)
                return line(out, "content-based lookup is only supported with the \"show\" and \"clear\" actions");
            const std::string err = parse_filters(t, args, 1, *q);
            if (!err.empty()) return line(out, err);
        } else if (args.size() > 1 && !args[1].empty()) {
            return usage();
        }
    }
    // a user-level session sees the tables' heads, not their contents (HAProxy)
    const bool contents = ctx.session.level >= Level::Operator;
    if (!contents && q->table >= 0 && act == Act::Show) q->heads_only = true;
    if (q->op == Query::Op::Set) {
        // the shard that holds the key keeps it (a client's address lives where its connections land), else the first
        Query* find = new Query;
        find->table = q->table;
        find->has_key = true;
        find->key = q->key;
        if (!ask(ctx, *find, out)) return release(find);
        for (std::size_t i = 0; i < find->parts.size(); ++i)
            if (!find->parts[i].rows.empty()) {
                q->target = i;
                break;
            }
        release(find);
    }
    Query* qp = q.release();
    if (!ask(ctx, *qp, out)) return release(qp);
    Query& qr = *qp;
    if (qr.op == Query::Op::Set) {
        std::size_t failed = 0;
        for (const Query::Part& p : qr.parts) failed += p.busy;
        if (failed > 0) line(out, "Unable to allocate a new entry");
        else if (!after.empty()) line(out, after);
        return release(qp);
    }
    if (qr.table < 0) {  // the list of tables, the last declared first (HAProxy's order)
        for (int id = int(cfg.tables.size()) - 1; id >= 0; --id) {
            std::size_t used = 0;
            for (const Query::Part& p : qr.parts)
                if (std::size_t(id) < p.used.size()) used += p.used[std::size_t(id)];
            head(cfg, id, used, out);
        }
        return release(qp);
    }
    if (clear) {
        std::size_t busy = 0;
        for (const Query::Part& p : qr.parts) busy += p.busy;
        if (qr.has_key && busy > 0) line(out, "Entry currently in use, cannot remove");
        return release(qp);
    }
    std::size_t used = 0;
    for (const Query::Part& p : qr.parts)
        if (!p.used.empty()) used += p.used[0];
    const config::StickTable& t = cfg.tables[std::size_t(qr.table)];
    // one line per key, in key order (HAProxy walks its key tree: bytes, numbers for integer keys)
    std::map<std::string, Merged> rows;
    for (const Query::Part& p : qr.parts) {
        for (const Query::Row& r : p.rows) {
            std::string order(reinterpret_cast<const char*>(r.raw.bytes), r.raw.len);
            if (t.type == config::StickTable::Type::Integer && r.raw.len == 4) {
                std::uint32_t u;
                std::memcpy(&u, r.raw.bytes, 4);
                order = {char(u >> 24), char(u >> 16), char(u >> 8), char(u)};
            }
            Merged& m = rows[order];
            const bool first = m.row == nullptr;
            if (first) m.row = &r;
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
            if (first) m.arrays = r.arrays;
            else
                for (std::size_t k = 0; k < r.arrays.size() && k < m.arrays.size(); ++k) m.arrays[k] += r.arrays[k];
        }
    }
    if (qr.has_key && rows.empty()) return release(qp);  // an absent key: not even the head
    head(cfg, qr.table, used, out);
    if (!contents) {
        line(out, "# contents not dumped due to insufficient privileges");
        return release(qp);
    }
    for (const auto& [key, m] : rows) {
        char addr[32];
        std::snprintf(addr, sizeof(addr), "0x%" PRIxPTR ":", m.row->addr);
        out += addr;
        out += " key=" + m.row->key + " use=" + std::to_string(m.refs) +
               " exp=" + std::to_string(m.exp < 0 ? 0 : m.exp);
        std::size_t arr = 0;
        for (int d = 0; d < config::kStickData; ++d) {
            const auto sd = StickData(d);
            if (!t.stores(sd)) continue;
            if (config::stick_is_array(sd)) {  // one field per element: gpt0=, gpc1=, gpc0_rate(60000)=
                const std::string_view name = config::stick_data_name(sd);
                const std::size_t us = name.find('_');
                for (unsigned i = 0; i < t.count(sd); ++i, ++arr) {
                    out += ' ';
                    out += name.substr(0, us);
                    out += std::to_string(i);
                    if (us != std::string_view::npos) out += name.substr(us);
                    if (config::stick_is_rate(sd)) out += "(" + std::to_string(t.period[d]) + ")";
                    out += '=';
                    out += std::to_string(arr < m.arrays.size() ? m.arrays[arr] : 0);
                }
                continue;
            }
            out += ' ';
            out += config::stick_data_name(sd);
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
    release(qp);
}

void cmd_show_table(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    cmd_table(args, ctx, out, Act::Show);
}

void cmd_clear_table(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    cmd_table(args, ctx, out, Act::Clear);
}

void cmd_set_table(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    cmd_table(args, ctx, out, Act::Set);
}

}  // namespace

void register_stick_commands(CommandTable& t) {
    t.add({{"show", "table"}, "[<table> [data.<type> <op> <value>]* | [key <key>]]",
           "report table usage stats or dump this table's contents", Level::User, cmd_show_table});
    t.add({{"clear", "table"}, "<table> [data.<type> <op> <value>]* | [key <key>]",
           "remove an entry from a table", Level::Operator, cmd_clear_table});
    t.add({{"set", "table"}, "<table> key <key> [data.<data_type> <value>]*", "update or create a table entry's data",
           Level::Operator, cmd_set_table});
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
        if (!rt.post_patiently(i, m)) q.pending.fetch_sub(1);  // an ended shard holds no entries
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (q.pending.load() > 1) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
}

}  // namespace es::control
