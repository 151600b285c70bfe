// Map files (HAProxy's two-column pattern files) for the `map*` converters: read once at load, each
// with the indexes its converters need. HAProxy 2.6's reading: a line whose first byte is '#' is a
// comment; blanks before the key are skipped; the key is the first word, the value the rest of the
// line without its surrounding blanks (a key alone has the value ""); duplicate keys are kept in
// file order. Relative names are read from the working directory (or `default-path`'s).
#include <algorithm>
#include <fstream>
#include <sstream>

#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

namespace {

thread_local Config* g_maps_cfg = nullptr;  // the configuration being loaded (one load per thread)

bool blank(char c) { return c == ' ' || c == '\t'; }

std::string read_map(const std::string& written, const std::string& path, MapFile& m) {
    std::ifstream in(path);
    if (!in) return "failed to open pattern file <" + written + ">";
    std::string line;
    std::uint32_t lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line[0] == '#') continue;
        std::size_t i = 0;
        while (i < line.size() && blank(line[i])) ++i;
        if (i == line.size() || line[i] == '\r') continue;
        std::size_t k = i;
        while (k < line.size() && !blank(line[k]) && line[k] != '\r') ++k;
        std::size_t v = k;
        while (v < line.size() && blank(line[v])) ++v;
        std::size_t e = line.size();
        if (const std::size_t cr = line.find('\r', v); cr != std::string::npos) e = cr;
        while (e > v && blank(line[e - 1])) --e;
        m.entries.emplace_back(line.substr(i, k - i), line.substr(v, e - v));
        m.lines.push_back(lineno);
    }
    return {};
}

}  // namespace

void set_map_registry(Config* cfg) { g_maps_cfg = cfg; }

std::string use_map(const std::string& written, MapMatch match, bool int_out, std::size_t& index) {
    if (g_maps_cfg == nullptr) return "maps cannot be read here";
    Config& cfg = *g_maps_cfg;
    index = cfg.maps.size();
    for (std::size_t i = 0; i < cfg.maps.size(); ++i)
        if (cfg.maps[i]->path == written) index = i;
    if (index == cfg.maps.size()) {
        auto m = std::make_shared<MapFile>();
        m->path = written;
        if (std::string err = read_map(written, written.empty() ? written : in_relative_dir(written), *m); !err.empty())
            return err;
        cfg.maps.push_back(std::move(m));
    }
    MapFile& m = *cfg.maps[index];
    if (std::find(m.matches.begin(), m.matches.end(), match) == m.matches.end()) m.matches.push_back(match);
    m.want_exact |= match == MapMatch::Str;
    m.want_regs |= match == MapMatch::Reg || match == MapMatch::Regm;
    m.want_nets |= match == MapMatch::Ip;
    m.int_values |= int_out;
    return index_map(m);
}

}  // namespace es::config::detail

namespace es::config {

std::string index_map(MapFile& m) {
    auto where = [&](std::size_t n) {
        return n < m.lines.size() && m.lines[n] != 0 ? " at line " + std::to_string(m.lines[n]) + " of file '" + m.path + "'"
                                                     : " (added at run time)";
    };
    while (m.ids.size() < m.entries.size()) m.ids.push_back(m.ids.empty() ? 1 : m.ids.back() + 1);
    m.exact.clear();
    if (m.want_exact)
        for (std::uint32_t n = 0; n < m.entries.size(); ++n) m.exact.emplace(m.entries[n].first, n);  // the first wins
    m.regs.clear();
    if (m.want_regs) {
        m.regs.resize(m.entries.size());
        for (std::size_t n = 0; n < m.entries.size(); ++n)
            if (std::string err = m.regs[n].compile(m.entries[n].first, false); !err.empty())
                return "regex '" + m.entries[n].first + "' is invalid (" + err + ")" + where(n);
    }
    m.nets.clear();
    if (m.want_nets) {
        m.nets.resize(m.entries.size());
        for (std::size_t n = 0; n < m.entries.size(); ++n)
            if (!core::parse_net(m.entries[n].first, m.nets[n]))
                return "'" + m.entries[n].first + "' is not a valid IPv4 or IPv6 address" + where(n);
    }
    if (m.int_values)
        for (std::size_t n = 0; n < m.entries.size(); ++n)
            if (!detail::parse_integer(m.entries[n].second))
                return "unable to parse '" + m.entries[n].second + "'" + where(n);
    return {};
}

bool parse_map_converter(std::string_view conv, MapMatch& match, bool& int_out, std::string_view& file,
                         std::string_view& def, bool& has_def) {
    if (!conv.starts_with("map") || conv.empty() || conv.back() != ')') return false;
    const std::size_t open = conv.find('(');
    if (open == std::string_view::npos) return false;
    std::string_view name = conv.substr(0, open);
    const std::string_view args = conv.substr(open + 1, conv.size() - open - 2);
    int_out = false;
    if (name.ends_with("_int")) {
        int_out = true;
        name.remove_suffix(4);
    } else if (name.ends_with("_str") && name != "map_str") {
        name.remove_suffix(4);
    }
    static constexpr std::pair<std::string_view, MapMatch> kTypes[] = {
        {"map", MapMatch::Str},     {"map_str", MapMatch::Str}, {"map_beg", MapMatch::Beg},
        {"map_sub", MapMatch::Sub}, {"map_dir", MapMatch::Dir}, {"map_dom", MapMatch::Dom},
        {"map_end", MapMatch::End}, {"map_reg", MapMatch::Reg}, {"map_regm", MapMatch::Regm},
        {"map_ip", MapMatch::Ip},
    };
    for (const auto& [n, t] : kTypes) {
        if (n != name) continue;
        match = t;
        const std::size_t comma = args.find(',');
        file = args.substr(0, comma);
        has_def = comma != std::string_view::npos;
        def = has_def ? args.substr(comma + 1) : std::string_view();
        return true;
    }
    return false;
}

}  // namespace es::config
