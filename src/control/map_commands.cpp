// The map commands (HAProxy 2.6 management.txt 9.3: `show map`, `add map`, `set map`, `del map`,
// `clear map`, `get map`, with its texts): the control shard keeps the current version of every map;
// a change builds a new version (the old one stays whole for the shards still reading it) and sends it
// to every data shard, which puts it in place of its own (proxy::MapUpdate). The files on disk are
// never written.
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "edgeshard/control/cli.hpp"
#include "edgeshard/proxy/admin.hpp"
#include "edgeshard/rules/rules.hpp"
#include "edgeshard/shard/runtime.hpp"

namespace es::control {

namespace {

using config::MapFile;

constexpr std::string_view kUnknown = "Unknown map identifier. Please use #<id> or <file>.\n";

bool no_store(Context& ctx, std::string& out) {
    if (ctx.services.maps != nullptr) return false;
    out.append("Map commands are not available.\n");
    return true;
}

// `<file>` as the configuration writes it, or `#<id>` (the number `show map` prints): its index, -1.
int find_map(const MapStore& ms, std::string_view id) {
    if (id.starts_with("#")) {
        std::size_t n = 0;
        for (char c : id.substr(1)) {
            if (c < '0' || c > '9') return -1;
            n = n * 10 + std::size_t(c - '0');
        }
        return id.size() > 1 && n < ms.maps.size() ? int(n) : -1;
    }
    for (std::size_t i = 0; i < ms.maps.size(); ++i)
        if (ms.maps[i]->path == id) return int(i);
    return -1;
}

void append_hex(std::string& out, std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    out.append(buf);
}

// The map a command names in args[0] (its index), or -1 once the answer says there is none.
int map_arg(Context& ctx, std::span<const std::string_view> args, std::string& out) {
    const int i = args.empty() ? -1 : find_map(*ctx.services.maps, args[0]);
    if (i < 0) out.append(kUnknown);
    return i;
}

// `#0x<id>` (an entry as `show map` names it): its index in `m`, -1; not such a form: -2.
long entry_by_id(const MapFile& m, std::string_view key) {
    if (!key.starts_with("#0x")) return -2;
    std::uint64_t v = 0;
    for (char c : key.substr(3)) {
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + std::uint64_t(d);
    }
    for (std::size_t i = 0; i < m.ids.size(); ++i)
        if (m.ids[i] == v) return long(i);
    return -1;
}

// A new version of map `i` from `edit` (which changes the copy and says whether anything changed, or
// sets `err`), indexed and sent to the shards. The answer's text (empty: done).
template <typename Edit>
void change(Context& ctx, std::size_t i, Edit&& edit, std::string& out) {
    MapStore& ms = *ctx.services.maps;
    auto next = std::make_shared<MapFile>(*ms.maps[i]);
    std::string err;
    if (!edit(*next, err)) {
        out.append(err);
        return;
    }
    for (std::size_t n = 0; n < next->ids.size(); ++n)
        if (next->ids[n] == 0) next->ids[n] = ++ms.next_id;
    if (std::string bad = config::index_map(*next); !bad.empty()) {
        out.append(bad).append(".\n");
        return;
    }
    ms.maps[i] = next;
    if (ctx.services.update_map) {
        if (std::string missed = ctx.services.update_map(i, next); !missed.empty()) out.append(missed).append("\n");
    }
}

// Entries of "<key> <value>" lines (a payload), as HAProxy 2.6 reads them: the key up to the first blank,
// then blanks, the value up to the end of the line (its own blanks kept). False: a key without a value
// (`err` says which).
bool parse_lines(std::string_view text, std::vector<std::pair<std::string, std::string>>& kv, std::string& err) {
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view l = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (l.empty()) continue;
        const std::size_t k = l.find_first_of(" \t");
        if (k == std::string_view::npos) {
            err = "Missing value for key '" + std::string(l) + "'.\n";
            return false;
        }
        std::size_t v = k;
        while (v < l.size() && (l[v] == ' ' || l[v] == '\t')) ++v;
        kv.emplace_back(std::string(l.substr(0, k)), std::string(l.substr(v)));
    }
    return true;
}

void cmd_show_map(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    const MapStore& ms = *ctx.services.maps;
    if (args.empty()) {
        out.append("# id (file) description\n");
        for (std::size_t i = 0; i < ms.maps.size(); ++i) {
            const MapFile& m = *ms.maps[i];
            out.append(std::to_string(i)).append(" (").append(m.path).append(") pattern loaded from file '")
                .append(m.path).append("' used by map. curr_ver=0 next_ver=0 entry_cnt=")
                .append(std::to_string(m.entries.size())).append("\n");
        }
        return;
    }
    const int i = map_arg(ctx, args, out);
    if (i < 0) return;
    const MapFile& m = *ms.maps[std::size_t(i)];
    for (std::size_t n = 0; n < m.entries.size(); ++n) {
        append_hex(out, m.ids[n]);
        out.append(" ").append(m.entries[n].first).append(" ").append(m.entries[n].second).append("\n");
    }
}

void cmd_add_map(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    const bool payload = args.size() == 1 && !ctx.payload.empty();
    if (!payload && args.size() < 3) {
        out.append("'add map' expects three parameters (map identifier, key and value) or one parameter (map "
                   "identifier) and a payload\n");
        return;
    }
    const int i = map_arg(ctx, args, out);
    if (i < 0) return;
    std::vector<std::pair<std::string, std::string>> kv;
    if (payload) {
        std::string err;
        if (!parse_lines(ctx.payload, kv, err)) {
            out.append(err);
            return;
        }
    } else kv.emplace_back(std::string(args[1]), std::string(args[2]));  // HAProxy takes the value's first word
    change(ctx, std::size_t(i), [&](MapFile& m, std::string&) {
        for (auto& e : kv) {
            m.entries.push_back(std::move(e));
            m.lines.push_back(0);
            m.ids.push_back(0);
        }
        return true;
    }, out);
}

void cmd_set_map(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    if (args.size() < 3) {
        out.append("'set map' expects three parameters: map identifier, key and value.\n");
        return;
    }
    const int i = map_arg(ctx, args, out);
    if (i < 0) return;
    change(ctx, std::size_t(i), [&](MapFile& m, std::string& err) {
        const long byid = entry_by_id(m, args[1]);
        bool found = false;
        for (std::size_t n = 0; n < m.entries.size(); ++n)
            if (byid == -2 ? m.entries[n].first == args[1] : long(n) == byid) {
                m.entries[n].second.assign(args[2]);
                found = true;
            }
        if (!found) err = "entry not found.\n";
        return found;
    }, out);
}

void cmd_del_map(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    if (args.size() < 2) {
        out.append("This command expects two parameters: map identifier and key.\n");
        return;
    }
    const int i = map_arg(ctx, args, out);
    if (i < 0) return;
    change(ctx, std::size_t(i), [&](MapFile& m, std::string& err) {
        const long byid = entry_by_id(m, args[1]);
        std::size_t keep = 0;
        for (std::size_t n = 0; n < m.entries.size(); ++n) {
            if (byid == -2 ? m.entries[n].first == args[1] : long(n) == byid) continue;
            if (keep != n) {  // (a self-move would empty the strings)
                m.entries[keep] = std::move(m.entries[n]);
                m.lines[keep] = m.lines[n];
                m.ids[keep] = m.ids[n];
            }
            ++keep;
        }
        const bool found = keep != m.entries.size();
        m.entries.resize(keep);
        m.lines.resize(keep);
        m.ids.resize(keep);
        if (!found) err = "Key not found.\n";
        return found;
    }, out);
}

void cmd_clear_map(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    const int i = map_arg(ctx, args, out);
    if (i < 0) return;
    change(ctx, std::size_t(i), [&](MapFile& m, std::string&) {
        m.entries.clear();
        m.lines.clear();
        m.ids.clear();
        return true;
    }, out);
}

constexpr std::string_view kMatchNames[] = {"str", "beg", "sub", "dir", "dom", "end", "reg", "regm", "ip"};

void cmd_get_map(std::span<const std::string_view> args, Context& ctx, std::string& out) {
    if (no_store(ctx, out)) return;
    if (args.size() < 2) {
        out.append("Missing map identifier and/or key.\n");
        return;
    }
    const int i = map_arg(ctx, args, out);
    if (i < 0) return;
    const MapFile& m = *ctx.services.maps->maps[std::size_t(i)];
    std::vector<std::string_view> groups;
    for (config::MapMatch t : m.matches) {
        const std::string_view name = kMatchNames[std::size_t(t)];
        out.append("type=").append(name == "regm" ? "reg" : name).append(", case=sensitive, found=");
        const long n = rules::map_lookup(m, t, args[1], &groups);
        if (n < 0) {
            out.append("no\n");
            continue;
        }
        const bool tree = t == config::MapMatch::Str || t == config::MapMatch::Beg || t == config::MapMatch::Ip;
        out.append("yes, idx=").append(tree ? "tree" : "list").append(", key=\"").append(m.entries[std::size_t(n)].first)
            .append("\", value=\"").append(m.entries[std::size_t(n)].second).append("\", type=\"")
            .append(m.int_values ? "int" : "str").append("\"\n");
    }
}

}  // namespace

MapStore load_map_store(const config::Config& cfg) {
    MapStore ms;
    ms.maps.assign(cfg.maps.begin(), cfg.maps.end());
    for (const auto& m : cfg.maps)
        for (std::uint64_t id : m->ids) ms.next_id = std::max(ms.next_id, id);
    return ms;
}

std::string post_map_update(shard::Runtime& rt, std::size_t index, std::shared_ptr<const config::MapFile> map) {
    const std::size_t n = rt.shard_count();
    auto* u = new proxy::MapUpdate;
    u->index = index;
    u->map = std::move(map);
    u->pending.store(int(n));
    shard::Message msg;
    msg.kind = shard::Message::kMapUpdate;
    msg.a = reinterpret_cast<std::uintptr_t>(u);
    std::string missed;
    for (std::size_t i = 0; i < n; ++i) {
        if (rt.post_patiently(i, msg)) continue;
        if (rt.running(i)) {
            if (!missed.empty()) missed.append(", ");
            missed.append(std::to_string(i));
        }
        if (u->pending.fetch_sub(1) == 1) delete u;
    }
    if (!missed.empty()) return "shard(s) " + missed + " did not take the change (mailbox full): they keep the previous map";
    return {};
}

void register_map_commands(CommandTable& t) {
    t.add({{"show", "map"}, "[<map>]", "report the list of maps, or the entries of one", Level::Operator, cmd_show_map});
    t.add({{"get", "map"}, "<map> <value>", "report the keys and values matching a sample in a map", Level::Operator,
           cmd_get_map});
    t.add({{"add", "map"}, "<map> <key> <value>", "add an entry to a map (or many from a payload)", Level::Admin,
           cmd_add_map});
    t.add({{"set", "map"}, "<map> <key|#id> <value>", "replace the value of the entries of a key", Level::Admin,
           cmd_set_map});
    t.add({{"del", "map"}, "<map> <key|#id>", "remove the entries of a key (or one entry by its id)", Level::Admin,
           cmd_del_map});
    t.add({{"clear", "map"}, "<map>", "remove every entry of a map", Level::Admin, cmd_clear_map});
}

}  // namespace es::control
