// Stick tables in the configuration (HAProxy 2.6, configuration.txt 4.2 "stick-table", "stick on",
// 7.3.3 sc_* / src_* fetches, 4.2 "http-request track-sc0"): the `stick-table` and `stick` keywords,
// the track-sc / sc-inc-gpc / sc-set-gpt0 actions of tcp-request and http-request rules, the stick
// fetches of ACLs, and the names of tables resolved once every section is read.
#include <algorithm>
#include <optional>
#include <string>

#include "edgeshard/http/parser.hpp"
#include "http_internal.hpp"
#include "http_keywords.hpp"
#include "internal.hpp"

namespace es::config::detail {

namespace {

struct DataName {
    std::string_view name;
    StickData d;
};
constexpr DataName kData[] = {
    {"server_id", StickData::ServerId},       {"gpt0", StickData::Gpt0},
    {"gpc0", StickData::Gpc0},                {"gpc0_rate", StickData::Gpc0Rate},
    {"conn_cnt", StickData::ConnCnt},         {"conn_rate", StickData::ConnRate},
    {"conn_cur", StickData::ConnCur},         {"sess_cnt", StickData::SessCnt},
    {"sess_rate", StickData::SessRate},       {"http_req_cnt", StickData::HttpReqCnt},
    {"http_req_rate", StickData::HttpReqRate}, {"http_err_cnt", StickData::HttpErrCnt},
    {"http_err_rate", StickData::HttpErrRate}, {"bytes_in_cnt", StickData::BytesInCnt},
    {"bytes_in_rate", StickData::BytesInRate}, {"bytes_out_cnt", StickData::BytesOutCnt},
    {"bytes_out_rate", StickData::BytesOutRate}, {"gpc1", StickData::Gpc1},
    {"gpc1_rate", StickData::Gpc1Rate},       {"server_key", StickData::ServerKey},
    {"http_fail_cnt", StickData::HttpFailCnt}, {"http_fail_rate", StickData::HttpFailRate},
    {"gpt", StickData::Gpt},                  {"gpc", StickData::Gpc},
    {"gpc_rate", StickData::GpcRate},
};
static_assert(std::size(kData) == kStickData);

std::vector<std::string_view> data_names() {
    std::vector<std::string_view> v;
    for (const auto& d : kData) v.push_back(d.name);
    return v;
}

const DataName* find_data(std::string_view n) {
    for (const auto& d : kData)
        if (d.name == n) return &d;
    return nullptr;
}

}  // namespace

}  // namespace es::config::detail

namespace es::config {

std::string_view stick_data_name(StickData d) {
    return detail::kData[int(d)].name;
}

int stick_data_type(std::string_view name) {
    const detail::DataName* d = detail::find_data(name);
    return d != nullptr ? int(d->d) : -1;
}

}  // namespace es::config

namespace es::config::detail {

// stick-table type <type> [len <n>] size <n> [expire <t>] [nopurge] [peers <name>] [store <data>,...]
void kw_stick_table(ParseState& st, ProxyDraft& px, const Line& line) {
    if (is_defaults(px))
        fail(line.at, "'stick-table' is not allowed in a 'defaults' section (declare it in a frontend, backend "
                      "or listen: a table is named after its section)");
    if ((has_fe(px) && px.fe.table >= 0) || (has_be(px) && px.be.table >= 0))
        fail(line.at, "only one 'stick-table' per section: " + px.kind + " " + squote(px.name) +
                          " already has one (declare the next in a section of its own, e.g. 'backend st_" +
                          px.name + "')");
    StickTable t;
    t.name = px.name;
    t.where = line.at;
    bool have_type = false, have_size = false;
    for (std::size_t i = 1; i < line.words.size(); ++i) {
        const std::string& w = line.words[i];
        auto next = [&](std::string_view what) -> const std::string& {
            if (i + 1 >= line.words.size())
                fail(line.at, "stick-table: missing argument after " + squote(w) + " (expected " + std::string(what) + ")");
            return line.words[++i];
        };
        if (w == "type") {
            const std::string& ty = next("ip, ipv6, integer, string or binary");
            if (ty == "ip") {
                t.type = StickTable::Type::Ip;
                t.key_len = 4;
            } else if (ty == "ipv6") {
                t.type = StickTable::Type::Ipv6;
                t.key_len = 16;
            } else if (ty == "integer") {
                t.type = StickTable::Type::Integer;
                t.key_len = 4;
            } else if (ty == "string" || ty == "binary") {
                t.type = ty == "string" ? StickTable::Type::String : StickTable::Type::Binary;
                t.key_len = 32;
                if (i + 1 < line.words.size() && line.words[i + 1] == "len") {
                    ++i;
                    const std::string& n = next("a length in bytes");
                    const auto v = parse_integer(n);
                    if (!v || *v < 1 || *v > stick_max_key_len())
                        fail(line.at, "stick-table: 'len' expects a length from 1 to " +
                                          std::to_string(stick_max_key_len()) + ", got " + squote(n));
                    t.key_len = std::uint32_t(*v);
                }
            } else {
                fail(line.at, "stick-table: unknown type " + squote(ty) +
                                  did_you_mean(ty, {"ip", "ipv6", "integer", "string", "binary"}) +
                                  " (expected ip, ipv6, integer, string or binary)");
            }
            have_type = true;
        } else if (w == "size") {
            const std::string& n = next("a number of entries, with an optional k, m or g suffix");
            const auto v = parse_size(n);
            if (!v || *v < 1 || *v > (std::int64_t{1} << 31))
                fail(line.at, "stick-table: 'size' expects a number of entries (k, m, g suffixes), got " + squote(n));
            t.size = std::uint32_t(*v);
            have_size = true;
        } else if (w == "expire") {
            t.expire = time_arg(line, i + 1, "stick-table expire");
            ++i;
        } else if (w == "nopurge") {
            t.nopurge = true;
        } else if (w == "peers") {
            const std::string& p = next("a peers section name");
            st.warn(line.at, "stick-table: 'peers " + p +
                                 "' is ignored: tables are not replicated to other processes or hosts in this "
                                 "version (each process counts on its own; entries start empty after a restart)");
        } else if (w == "store") {
            const std::string& list = next("data types, e.g. 'conn_cur,http_req_rate(10s)'");
            std::size_t pos = 0;
            while (pos <= list.size()) {
                // one item: name or name(arg), items separated by commas outside parentheses
                std::size_t end = pos;
                int depth = 0;
                while (end < list.size() && (list[end] != ',' || depth > 0)) {
                    if (list[end] == '(') ++depth;
                    if (list[end] == ')') --depth;
                    ++end;
                }
                const std::string item = list.substr(pos, end - pos);
                pos = end + 1;
                if (item.empty()) fail(line.at, "stick-table: empty store option in " + squote(list));
                const auto paren = item.find('(');
                const std::string name = item.substr(0, paren);
                std::string arg;
                if (paren != std::string::npos) {
                    if (item.back() != ')')
                        fail(line.at, "stick-table: missing closing parenthesis after store option " + squote(name));
                    arg = item.substr(paren + 1, item.size() - paren - 2);
                }
                const DataName* d = find_data(name);
                if (d == nullptr)
                    fail(line.at, "stick-table: unknown store option " + squote(name) + did_you_mean(name, data_names()));
                if (t.stores(d->d)) {
                    st.warn(line.at, "stick-table: store option " + squote(name) + " already enabled, ignored");
                    continue;
                }
                if (stick_is_array(d->d)) {
                    // <elements>[,<period>] (stktable_alloc_data_type: 1..100 elements; gpc_rate needs its period)
                    const std::size_t comma = arg.find(',');
                    if (arg.empty() || (d->d == StickData::GpcRate && comma == std::string::npos))
                        fail(line.at, "stick-table: missing argument to store option " + squote(name) + ".");
                    const auto n = parse_integer(arg.substr(0, comma));
                    if (!n) fail(line.at, "stick-table: error when processing store option " + squote(name) + ".");
                    if (*n < 1 || *n > 100)
                        fail(line.at, "stick-table: array size is out of allowed range (1-100) for store option " +
                                          squote(name) + ".");
                    if (comma != std::string::npos) {
                        Millis ms = 0;
                        if (d->d != StickData::GpcRate || parse_time_status(arg.substr(comma + 1), ms) != TimeStatus::Ok ||
                            ms <= 0 || ms > 0x7fffffff)
                            fail(line.at, "stick-table: error when processing store option " + squote(name) + ".");
                        t.period[int(d->d)] = std::uint32_t(ms);
                    }
                    t.elems[int(d->d)] = std::uint8_t(*n);
                } else if (stick_is_rate(d->d)) {
                    if (arg.empty())
                        fail(line.at, "stick-table: missing argument to store option " + squote(name) +
                                          " (its period, e.g. " + squote(name + "(10s)") + ")");
                    Millis ms = 0;
                    if (parse_time_status(arg, ms) != TimeStatus::Ok || ms <= 0 || ms > 0x7fffffff)
                        fail(line.at, "stick-table: invalid period " + squote(arg) + " for store option " + squote(name));
                    t.period[int(d->d)] = std::uint32_t(ms);
                } else if (!arg.empty()) {
                    fail(line.at, "stick-table: unexpected argument to store option " + squote(name));
                }
                t.store |= 1u << unsigned(d->d);
                if (end >= list.size()) break;
            }
        } else if (w == "srvkey") {
            const std::string& k = next("'name'");
            if (k != "name")
                fail(line.at, "stick-table: 'srvkey " + k + "' is not supported in this version (servers are "
                                                               "known by their name: 'srvkey name', the default)");
        } else {
            fail(line.at, "stick-table: unknown argument " + squote(w) +
                              did_you_mean(w, {"type", "size", "expire", "nopurge", "peers", "store", "srvkey"}));
        }
    }
    if (!have_size) fail(line.at, "stick-table: missing size");
    if (!have_type) fail(line.at, "stick-table: missing type");
    // an array replaces its legacy elements (HAProxy's parse_stick_table)
    auto both = [&](StickData arr, std::initializer_list<StickData> legacy, std::string_view a, std::string_view l) {
        for (StickData d : legacy)
            if (t.stores(arr) && t.stores(d))
                fail(line.at, "stick-table: simultaneous usage of '" + std::string(a) + "' and '" + std::string(l) +
                                  "' in a same table is not permitted as '" + std::string(a) + "' overrides '" +
                                  std::string(l) + "'.");
    };
    both(StickData::Gpc, {StickData::Gpc0, StickData::Gpc1}, "gpc", "gpc[0/1]");
    both(StickData::GpcRate, {StickData::Gpc0Rate, StickData::Gpc1Rate}, "gpc_rate", "gpc[0/1]_rate");
    both(StickData::Gpt, {StickData::Gpt0}, "gpt", "gpt0");
    for (const auto& other : st.cfg.tables)
        if (other.name == t.name)
            fail(line.at, "stick-table " + squote(t.name) + " is already declared at " + where_text(other.where));
    const int id = int(st.cfg.tables.size());
    st.cfg.tables.push_back(std::move(t));
    if (has_fe(px)) px.fe.table = id;
    if (has_be(px)) px.be.table = id;
}

int stick_max_key_len() {
    return 256;
}

// A stick-table key as a sample expression: `src`, `dst`, `src_port`, `dst_port`, `hdr(<name>[,<occ>])`
// (`req.hdr`, `req.fhdr`), `path`, `url`, `base`, `ssl_fc_sni`, `req.ssl_sni`. Converters are refused.
SampleExpr parse_sample_key(const Line& line, const std::string& text, const std::string& kw, bool response) {
    SampleExpr s;
    s.text = text;
    std::size_t comma = std::string::npos;  // the first comma outside parentheses: a converter
    for (std::size_t i = 0, depth = 0; i < text.size() && comma == std::string::npos; ++i) {
        if (text[i] == '(') ++depth;
        else if (text[i] == ')' && depth > 0) --depth;
        else if (text[i] == ',' && depth == 0) comma = i;
    }
    const auto paren = text.find('(');
    const auto close = paren == std::string::npos ? std::string::npos : text.find(')', paren);
    // anything but a plain fetch of the list below: a sample expression evaluated as a value's `%[...]` is
    auto expr = [&] {
        if (std::string why = sample_expr_problem(text, response ? FmtUse::Response : FmtUse::Request, true); !why.empty())
            fail(line.at, squote(kw) + ": " + why);
        s.fetch = SampleExpr::Fetch::Expr;
        return s;
    };
    if (comma != std::string::npos || response) return expr();
    if (paren != std::string::npos && (close == std::string::npos || close + 1 != text.size()))
        fail(line.at, squote(kw) + ": malformed sample " + squote(text));
    const std::string name = text.substr(0, paren);
    const std::string arg = paren == std::string::npos ? std::string() : text.substr(paren + 1, close - paren - 1);
    using F = SampleExpr::Fetch;
    struct Def {
        std::string_view n;
        F f;
        bool arg;
    };
    static constexpr Def kDefs[] = {
        {"src", F::Src, false},        {"dst", F::Dst, false},           {"src_port", F::SrcPort, false},
        {"dst_port", F::DstPort, false}, {"hdr", F::Hdr, true},          {"req.hdr", F::Hdr, true},
        {"req.fhdr", F::Hdr, true},    {"path", F::Path, false},         {"url", F::Url, false},
        {"base", F::Base, false},      {"ssl_fc_sni", F::SslFcSni, false}, {"req.ssl_sni", F::ReqSslSni, false},
        {"req_ssl_sni", F::ReqSslSni, false},
    };
    const Def* def = nullptr;
    for (const auto& d : kDefs)
        if (d.n == name) def = &d;
    if (def == nullptr) return expr();
    s.fetch = def->f;
    if (def->arg) {
        if (arg.empty()) fail(line.at, squote(kw) + ": " + squote(name) + " needs a header name, e.g. " + squote(name + "(host)"));
        const auto c = arg.find(',');
        const std::string h = arg.substr(0, c);
        if (!http::is_token(h)) fail(line.at, squote(kw) + ": invalid header name " + squote(h));
        s.arg = lower(h);
        s.full = name == "req.fhdr";
        if (c != std::string::npos) {
            const auto v = parse_integer(arg.substr(c + 1));
            if (!v || *v < -1000 || *v > 1000 || *v == 0)
                fail(line.at, squote(kw) + ": invalid occurrence " + squote(arg.substr(c + 1)) +
                                  " (a position from 1, or negative from the last)");
            s.occ = int(*v);
        }
    } else if (!arg.empty()) {
        fail(line.at, squote(kw) + ": " + squote(name) + " takes no argument");
    }
    return s;
}

// track-sc<N> <key> [table <name>] at words[i]: returns the index after it.
std::size_t parse_track(const Line& line, std::size_t i, std::size_t end, const std::string& kw, TrackSpec& t) {
    const std::string& act = line.words[i];
    if (act.size() != 9 || act[8] < '0' || act[8] > '2')
        fail(line.at, squote(kw + " " + act) + ": the sticky counter must be track-sc0, track-sc1 or track-sc2");
    t.sc = std::uint8_t(act[8] - '0');
    if (i + 1 >= end) fail(line.at, squote(kw + " " + act) + " expects a key, e.g. " + squote(act + " src"));
    t.key = parse_sample_key(line, line.words[i + 1], kw + " " + act);
    std::size_t at = i + 2;
    if (at < end && line.words[at] == "table") {
        if (at + 1 >= end) fail(line.at, squote(kw + " " + act) + ": 'table' expects a table name");
        t.table_name = line.words[at + 1];
        at += 2;
    }
    return at;
}

// sc-inc-gpc0(<N>) | sc-inc-gpc1(<N>) | sc-set-gpt0(<N>) <int|expr> | sc-inc-gpc(<idx>,<N>) | sc-set-gpt(<idx>,<N>)
// <int|expr>: the counter number into t.sc (the element into t.idx); returns the index after the action (and its
// value); `which` is 0/1 for the legacy gpc, `value` the gpt value when an integer (else t.value_expr).
std::size_t parse_sc_action(const Line& line, std::size_t i, std::size_t end, const std::string& kw, TrackSpec& t,
                            int& which, int& value, bool& is_set, bool response) {
    const std::string& act = line.words[i];
    const std::string base = act.substr(0, act.find('('));
    const bool inc = base == "sc-inc-gpc0" || base == "sc-inc-gpc1" || base == "sc-inc-gpc";
    is_set = base == "sc-set-gpt0" || base == "sc-set-gpt";
    if (!inc && !is_set)
        fail(line.at, squote(kw) + " action " + squote(act) +
                          " is not supported in this version (supported: sc-inc-gpc(<idx>,<sc>), sc-inc-gpc0(<sc>), "
                          "sc-inc-gpc1(<sc>), sc-set-gpt(<idx>,<sc>) <value>, sc-set-gpt0(<sc>) <value>)");
    t.array = base == "sc-inc-gpc" || base == "sc-set-gpt";
    which = base == "sc-inc-gpc1" ? 1 : 0;
    const std::string rest = act.substr(base.size());
    const std::string in = rest.size() >= 2 && rest.front() == '(' && rest.back() == ')' ? rest.substr(1, rest.size() - 2) : rest;
    const std::string kind = is_set ? "gpt" : "gpc";
    if (t.array) {
        // HAProxy's parse_inc_gpc / parse_set_gpt: (<idx>,<sc>)
        const auto comma = in.find(',');
        if (rest.empty() || rest.front() != '(' || rest.back() != ')')
            fail(line.at, "invalid " + kind + " ID " + squote(act) + ". Expects " + base + "(<" + (is_set ? "GPT" : "GPC") +
                              " ID>,<Track ID>).");
        if (comma == std::string::npos)
            fail(line.at, "Missing " + kind + " ID " + squote(act) + ". Expects " + base + "(<" + (is_set ? "GPT" : "GPC") +
                              " ID>,<Track ID>).");
        const auto idx = parse_integer(in.substr(0, comma));
        if (!idx || *idx < 0 || *idx > 99)
            fail(line.at, "invalid " + kind + " ID " + squote(act) + ". The max allowed ID is 99.");
        const auto sc = parse_integer(in.substr(comma + 1));
        if (!sc || *sc < 0 || *sc > 2) fail(line.at, "invalid stick table track ID " + squote(act) + ". The max allowed ID is 2.");
        t.idx = std::uint8_t(*idx);
        t.sc = std::uint8_t(*sc);
    } else {
        if (rest.size() != 3 || rest[0] != '(' || rest[2] != ')' || rest[1] < '0' || rest[1] > '2') {
            if (rest.size() >= 3 && rest[0] == '(' && rest.back() == ')' && parse_integer(in))
                fail(line.at, "invalid stick table track ID " + squote(act) + ". The max allowed ID is 2.");
            fail(line.at, squote(kw + " " + act) + ": expects the counter number, e.g. " + squote(base + "(0)"));
        }
        t.sc = std::uint8_t(rest[1] - '0');
    }
    std::size_t at = i + 1;
    if (is_set) {
        if (at >= end) fail(line.at, squote(kw + " " + act) + " expects an integer or a sample expression");
        const std::string& w = line.words[at];
        const auto v = parse_integer(w);
        if (v) {
            value = int(std::uint32_t(*v));
        } else {
            // a sample expression (HAProxy's parse_set_gpt takes one where the word is not an integer)
            if (const std::string why = sample_expr_problem(w, response ? FmtUse::Response : FmtUse::Request, true);
                !why.empty())
                fail(line.at, why);
            t.value_expr = w;
        }
        ++at;
    }
    return at;
}

// sc_<x>(<N>[,<table>]), sc<N>_<x>([<table>]), src_<x>([<table>]), and the arrays' sc_<x>(<idx>,<N>[,<table>]) and
// src_<x>(<idx>[,<table>]), into `acl`'s stick fields (the table's name in `arg`). nullopt: not a stick fetch;
// "" read; else why not.
}  // namespace es::config::detail

namespace es::config {

using detail::did_you_mean;
using detail::squote;
using detail::parse_integer;

std::optional<std::string> stick_fetch_spec(const std::string& fname, const std::string& arg, Acl& acl) {
    std::string rest;
    int sc = -1;
    if (fname.rfind("sc_", 0) == 0) {
        rest = fname.substr(3);
    } else if (fname.size() > 4 && fname[0] == 's' && fname[1] == 'c' && fname[2] >= '0' && fname[2] <= '2' &&
               fname[3] == '_') {
        rest = fname.substr(4);
        sc = fname[2] - '0';
    } else if (fname.rfind("src_", 0) == 0 && fname != "src_port" && fname != "src_is_local") {
        rest = fname.substr(4);
    } else {
        return std::nullopt;
    }
    using Op = Acl::StickOp;
    struct Def {
        std::string_view n;
        Op op;
        StickData d;
    };
    static constexpr Def kDefs[] = {
        {"conn_cnt", Op::Data, StickData::ConnCnt},         {"conn_cur", Op::Data, StickData::ConnCur},
        {"conn_rate", Op::Data, StickData::ConnRate},       {"sess_cnt", Op::Data, StickData::SessCnt},
        {"sess_rate", Op::Data, StickData::SessRate},       {"http_req_cnt", Op::Data, StickData::HttpReqCnt},
        {"http_req_rate", Op::Data, StickData::HttpReqRate}, {"http_err_cnt", Op::Data, StickData::HttpErrCnt},
        {"http_err_rate", Op::Data, StickData::HttpErrRate}, {"http_fail_cnt", Op::Data, StickData::HttpFailCnt},
        {"http_fail_rate", Op::Data, StickData::HttpFailRate}, {"bytes_in_rate", Op::Data, StickData::BytesInRate},
        {"bytes_out_rate", Op::Data, StickData::BytesOutRate}, {"kbytes_in", Op::KBytes, StickData::BytesInCnt},
        {"kbytes_out", Op::KBytes, StickData::BytesOutCnt}, {"get_gpc0", Op::Data, StickData::Gpc0},
        {"get_gpc1", Op::Data, StickData::Gpc1},            {"get_gpt0", Op::Data, StickData::Gpt0},
        {"gpc0_rate", Op::Data, StickData::Gpc0Rate},       {"gpc1_rate", Op::Data, StickData::Gpc1Rate},
        {"inc_gpc0", Op::IncGpc0, StickData::Gpc0},         {"inc_gpc1", Op::IncGpc1, StickData::Gpc1},
        {"clr_gpc0", Op::ClrGpc0, StickData::Gpc0},         {"clr_gpc1", Op::ClrGpc1, StickData::Gpc1},
        {"tracked", Op::Tracked, StickData::ConnCnt},       {"trackers", Op::Trackers, StickData::ConnCnt},
        // the arrays: an element index first
        {"get_gpc", Op::Data, StickData::Gpc},              {"gpc_rate", Op::Data, StickData::GpcRate},
        {"get_gpt", Op::Data, StickData::Gpt},              {"inc_gpc", Op::IncGpc, StickData::Gpc},
        {"clr_gpc", Op::ClrGpc, StickData::Gpc},
    };
    const Def* def = nullptr;
    for (const auto& d : kDefs)
        if (d.n == rest) def = &d;
    const bool array = def != nullptr && (stick_is_array(def->d) || def->op == Op::IncGpc || def->op == Op::ClrGpc);
    if (def == nullptr || (sc < 0 && fname[1] == 'r' && def->op == Op::Tracked) || (array && fname[2] != '_' && sc >= 0)) {
        std::vector<std::string_view> names;
        for (const auto& d : kDefs) names.push_back(d.n);
        return "sample fetch " + squote(fname) + " is not supported in this version" + did_you_mean(rest, names) +
               " (stick counters: conn_cnt, conn_cur, conn_rate, sess_cnt, sess_rate, http_req_cnt, "
               "http_req_rate, http_err_cnt, http_err_rate, http_fail_cnt, http_fail_rate, "
               "bytes_in_rate, bytes_out_rate, kbytes_in, kbytes_out, get_gpc0, get_gpc1, get_gpt0, "
               "gpc0_rate, gpc1_rate, inc_gpc0, inc_gpc1, clr_gpc0, clr_gpc1, trackers, and tracked "
               "for sc*; the arrays' get_gpc, gpc_rate, get_gpt, inc_gpc, clr_gpc with an index first)";
    }
    std::string a = arg;
    auto take = [&](std::string& out) {
        const auto c = a.find(',');
        out = a.substr(0, c);
        a = c == std::string::npos ? std::string() : a.substr(c + 1);
    };
    std::uint32_t idx = 0;
    if (array) {
        std::string n;
        take(n);
        const auto v = parse_integer(n);
        if (!v || *v < 0 || *v > 100)
            return "invalid arg 1 in fetch method " + squote(fname) + " : failed to parse " + squote(n) +
                   " as type 'integer' at position 1";
        idx = std::uint32_t(*v);
    }
    if (fname.rfind("sc_", 0) == 0) {
        std::string n;
        take(n);
        const auto v = parse_integer(n);
        // (the arrays' fetches take any counter number: past sc2 nothing is tracked, HAProxy's)
        if (!v || *v < 0 || (!array && *v > 2))
            return squote(fname) + " expects the counter number (0, 1 or 2), e.g. " + squote(fname + (array ? "(0,0)" : "(0)"));
        sc = int(std::min<std::int64_t>(*v, 3));
    }
    acl.fetch = "stick";
    acl.fetch_written = fname;
    acl.stick_sc = std::int8_t(sc);
    acl.stick_op = def->op;
    acl.stick_data = def->d;
    acl.stick_idx = idx;
    acl.arg = a;  // the table: resolved once every section is read
    acl.match = def->op == Op::Tracked ? Acl::Match::Bool : Acl::Match::Int;
    return std::string();
}

const TableConv* table_conv(std::string_view name) {
    using Op = Acl::StickOp;
    using D = StickData;
    static constexpr TableConv kConvs[] = {
        {"table_bytes_in_rate", Op::Data, D::BytesInRate, false}, {"table_bytes_out_rate", Op::Data, D::BytesOutRate, false},
        {"table_conn_cnt", Op::Data, D::ConnCnt, false},         {"table_conn_cur", Op::Data, D::ConnCur, false},
        {"table_conn_rate", Op::Data, D::ConnRate, false},       {"table_gpt", Op::Data, D::Gpt, true},
        {"table_gpt0", Op::Data, D::Gpt0, false},                {"table_gpc", Op::Data, D::Gpc, true},
        {"table_gpc_rate", Op::Data, D::GpcRate, true},          {"table_gpc0", Op::Data, D::Gpc0, false},
        {"table_gpc0_rate", Op::Data, D::Gpc0Rate, false},       {"table_gpc1", Op::Data, D::Gpc1, false},
        {"table_gpc1_rate", Op::Data, D::Gpc1Rate, false},       {"table_http_err_cnt", Op::Data, D::HttpErrCnt, false},
        {"table_http_err_rate", Op::Data, D::HttpErrRate, false}, {"table_http_fail_cnt", Op::Data, D::HttpFailCnt, false},
        {"table_http_fail_rate", Op::Data, D::HttpFailRate, false}, {"table_http_req_cnt", Op::Data, D::HttpReqCnt, false},
        {"table_http_req_rate", Op::Data, D::HttpReqRate, false}, {"table_kbytes_in", Op::KBytes, D::BytesInCnt, false},
        {"table_kbytes_out", Op::KBytes, D::BytesOutCnt, false}, {"table_server_id", Op::Data, D::ServerId, false},
        {"table_sess_cnt", Op::Data, D::SessCnt, false},         {"table_sess_rate", Op::Data, D::SessRate, false},
        {"table_trackers", Op::Trackers, D::ConnCnt, false},
    };
    for (const TableConv& c : kConvs)
        if (c.name == name) return &c;
    return nullptr;
}

}  // namespace es::config

namespace es::config::detail {

bool parse_stick_fetch(const Line& line, const std::string& what, const std::string& fname, const std::string& arg,
                       Acl& acl) {
    const std::optional<std::string> why = stick_fetch_spec(fname, arg, acl);
    if (!why) return false;
    if (!why->empty()) fail(line.at, what + ": " + *why);
    return true;
}

// stick on|match|store-request <key> [table <t>] [if|unless <cond>] (backend).
void kw_stick(ParseState& st, ProxyDraft& px, const Line& line) {
    if (is_defaults(px)) fail(line.at, "'stick' rules are not allowed in a 'defaults' section");
    if (!has_be(px)) fail(line.at, "'stick' rules belong to a backend or listen section (they choose its server)");
    const std::string& sub = arg_or_fail(line, 1, "stick", "'on', 'match', 'store-request' or 'store-response'");
    StickRule r;
    r.where = line.at;
    if (sub == "on") {
        r.kind = StickRule::Kind::On;
    } else if (sub == "match") {
        r.kind = StickRule::Kind::Match;
    } else if (sub == "store-request") {
        r.kind = StickRule::Kind::StoreRequest;
    } else if (sub == "store-response") {
        r.kind = StickRule::Kind::StoreResponse;
    } else {
        fail(line.at, "'stick' expects 'on', 'match', 'store-request' or 'store-response', got " + squote(sub) +
                          did_you_mean(sub, {"on", "match", "store-request", "store-response"}));
    }
    const std::size_t end = condition_start(line, 2);
    if (end < 3) fail(line.at, "'stick " + sub + "' expects a key, e.g. 'stick " + sub + " src'");
    r.key = parse_sample_key(line, line.words[2], "stick " + sub, r.kind == StickRule::Kind::StoreResponse);
    std::size_t at = 3;
    if (at < end && line.words[at] == "table") {
        if (at + 1 >= end) fail(line.at, "'stick " + sub + "': 'table' expects a table name");
        r.table_name = line.words[at + 1];
        at += 2;
    }
    if (at < end) fail(line.at, "unexpected " + squote(line.words[at]) + " after 'stick " + sub + " " + line.words[2] + "'");
    if (end < line.words.size()) r.cond = parse_condition(st, px, line, end);  // over the backend's ACLs
    if (r.kind == StickRule::Kind::StoreResponse) px.be.stores_response = true;
    px.be.stick_rules.push_back(std::move(r));
}

namespace {

int find_table(const Config& cfg, const std::string& name) {
    for (std::size_t i = 0; i < cfg.tables.size(); ++i)
        if (cfg.tables[i].name == name) return int(i);
    return -1;
}

[[noreturn]] void no_table(const Config& cfg, const Location& at, const std::string& what, const std::string& name) {
    std::vector<std::string_view> names;
    for (const auto& t : cfg.tables) names.push_back(t.name);
    fail(at, what + ": no stick-table named " + squote(name) + did_you_mean(name, names) +
                 " (a table is declared by 'stick-table' in the frontend, backend or listen section of that name)");
}

int resolve(const Config& cfg, const std::string& name, int own, const Location& at, const std::string& what,
            const std::string& proxy) {
    if (name.empty()) {
        if (own < 0)
            fail(at, what + ": " + squote(proxy) + " has no stick-table; declare one there or name one with "
                                                   "'table <name>'");
        return own;
    }
    const int id = find_table(cfg, name);
    if (id < 0) no_table(cfg, at, what, name);
    return id;
}

void resolve_acls(const Config& cfg, std::vector<Acl>& acls, int own, const std::string& proxy) {
    for (Acl& a : acls) {
        if (a.fetch != "stick") continue;
        if (a.stick_sc >= 0 && a.arg.empty()) continue;  // the tracked entry's own table
        a.stick_table = resolve(cfg, a.arg, own, a.where, "sample fetch " + squote(a.fetch_written), proxy);
    }
}

}  // namespace

void resolve_stick(ParseState& st) {
    Config& cfg = st.cfg;
    for (Frontend& fe : cfg.frontends) {
        auto track = [&](TrackSpec& t, const Location& at, std::string_view kw) {
            t.table = resolve(cfg, t.table_name, fe.table, at, "'" + std::string(kw) + char('0' + t.sc) + "'", fe.name);
            if (t.key.fetch == SampleExpr::Fetch::Src) fe.tracks_src = true;
        };
        for (TcpRule& r : fe.tcp_conn_rules)
            if (r.action == TcpAction::TrackSc) track(r.track, r.where, "tcp-request connection track-sc");
        for (TcpRule& r : fe.tcp_sess_rules)
            if (r.action == TcpAction::TrackSc) track(r.track, r.where, "tcp-request session track-sc");
        for (TcpRule& r : fe.tcp_content_rules)
            if (r.action == TcpAction::TrackSc) track(r.track, r.where, "tcp-request content track-sc");
        for (HttpRule& r : fe.http.request_rules)
            if (r.action == HttpAction::TrackSc) track(r.track, r.where, "http-request track-sc");
        for (HttpRule& r : fe.http.response_rules)
            if (r.action == HttpAction::TrackSc) track(r.track, r.where, "http-response track-sc");
        resolve_acls(cfg, fe.http.acls, fe.table, fe.name);
    }
    for (Backend& be : cfg.backends) {
        for (TcpRule& r : be.tcp_content_rules)
            if (r.action == TcpAction::TrackSc)
                r.track.table = resolve(cfg, r.track.table_name, be.table, r.where,
                                        "'tcp-request content track-sc" + std::string(1, char('0' + r.track.sc)) + "'", be.name);
        for (HttpRule& r : be.http.request_rules)
            if (r.action == HttpAction::TrackSc)
                r.track.table = resolve(cfg, r.track.table_name, be.table, r.where,
                                        "'http-request track-sc" + std::string(1, char('0' + r.track.sc)) + "'", be.name);
        for (HttpRule& r : be.http.response_rules)
            if (r.action == HttpAction::TrackSc)
                r.track.table = resolve(cfg, r.track.table_name, be.table, r.where,
                                        "'http-response track-sc" + std::string(1, char('0' + r.track.sc)) + "'", be.name);
        resolve_acls(cfg, be.http.acls, be.table, be.name);
        for (StickRule& r : be.stick_rules) {
            r.table = resolve(cfg, r.table_name, be.table, r.where, "'stick " + std::string(r.kind == StickRule::Kind::On ? "on" : r.kind == StickRule::Kind::Match ? "match" : r.kind == StickRule::Kind::StoreRequest ? "store-request" : "store-response") + "'", be.name);
            StickTable& t = cfg.tables[std::size_t(r.table)];
            // a table used for persistence stores the server (HAProxy adds both data types itself)
            t.store |= 1u << unsigned(StickData::ServerId);
            t.store |= 1u << unsigned(StickData::ServerKey);
        }
    }
    // a frontend whose backend tracks the client's address steers by it too
    for (Frontend& fe : cfg.frontends) {
        auto reach = [&](int b) {
            if (b < 0) return;
            for (const HttpRule& r : cfg.backends[std::size_t(b)].http.request_rules)
                if (r.action == HttpAction::TrackSc && r.track.key.fetch == SampleExpr::Fetch::Src) fe.tracks_src = true;
            for (const TcpRule& r : cfg.backends[std::size_t(b)].tcp_content_rules)
                if (r.action == TcpAction::TrackSc && r.track.key.fetch == SampleExpr::Fetch::Src) fe.tracks_src = true;
            for (const StickRule& r : cfg.backends[std::size_t(b)].stick_rules)
                if (r.key.fetch == SampleExpr::Fetch::Src) fe.tracks_src = true;
        };
        reach(fe.default_backend_id);
        for (const UseBackendRule& u : fe.use_backend_rules) {
            if (!u.dynamic) reach(int(u.backend_id));
            else
                for (std::size_t b = 0; b < cfg.backends.size(); ++b) reach(int(b));  // any, by its name
        }
    }
}

}  // namespace es::config::detail
