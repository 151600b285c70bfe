// http-request / http-response rules, use_backend selection, header edits, redirects.
// See README.md for the semantics and what differs from HAProxy.
#include <netinet/in.h>

#include <cstring>
#include <memory>
#include <unordered_map>

#include "edgeshard/rules/rules.hpp"
#include "internal.hpp"

namespace es::rules {

namespace {

using config::HttpAction;
using config::HttpRule;

// The last element of the last header of that name (HAProxy's hdr() in a sample expression
// returns the last occurrence): response headers while response rules run, else the request's,
// with headers added by earlier rules after the received ones.
bool last_header_element(const Txn& t, std::string_view name, std::string_view& out) {
    bool found = false;
    auto take = [&](std::string_view value) {
        std::size_t pos = 0;
        std::string_view elem;
        while (next_list_element(value, pos, elem)) out = elem;
        found = true;
    };
    const http::MessageHead* msg = t.rsp != nullptr ? static_cast<const http::MessageHead*>(t.rsp) : t.req;
    if (msg != nullptr) {
        for (std::uint16_t i = 0; i < msg->nheaders; ++i) {
            const http::Header& h = msg->headers[i];
            if (!h.removed && http::iequals(h.name, name)) take(h.value);
        }
    }
    if (t.edits != nullptr) {
        for (int i = 0; i < t.edits->nadds; ++i)
            if (http::iequals(t.edits->adds[i].name, name)) take(t.edits->adds[i].value);
    }
    return found;
}

// One sample expression of "%[...]". Returns false when the expression is not one we evaluate
// (the caller then copies the text literally; the configuration refuses such values, so only a
// hand-built rule gets here). A sample without a value writes nothing: HAProxy's header values,
// redirects and paths (log-format with LOG_OPT_HTTP) print an empty string there, not the "-" of
// its logs.
// The client certificate's facts (ssl_c_*, ssl_fc_has_crt): false when `expr` is not one of them.
// Like HAProxy: nothing in clear; on a bind that does not verify clients, 0 for the booleans and
// integers and nothing for the strings.
bool client_cert_sample(const Txn& t, std::string_view expr, ArenaWriter& w) {
    if (!expr.starts_with("ssl_c_") && expr != "ssl_fc_has_crt") return false;
    if (t.tls == nullptr) return true;
    const tls::ClientCert* cc = t.tls->client;
    auto num = [&](long long v) {
        if (v < 0) {
            w.add("-");
            v = -v;
        }
        w.add_uint(static_cast<std::uint64_t>(v));
    };
    if (expr == "ssl_c_used") return num(cc && cc->used), true;
    if (expr == "ssl_fc_has_crt") return num(cc && cc->presented), true;
    if (expr == "ssl_c_verify") return num(cc ? cc->verify : 0), true;
    if (expr == "ssl_c_err") return num(cc ? cc->err : 0), true;
    if (expr == "ssl_c_ca_err") return num(cc ? cc->ca_err : 0), true;
    if (cc == nullptr || !cc->used) return true;
    if (expr == "ssl_c_serial,hex") w.add(cc->serial);
    else if (expr == "ssl_c_sha1,hex") w.add(cc->sha1);
    else if (expr == "ssl_c_notbefore") w.add(cc->not_before);
    else if (expr == "ssl_c_notafter") w.add(cc->not_after);
    else if (expr.starts_with("ssl_c_s_dn") || expr.starts_with("ssl_c_i_dn")) {
        const std::string& dn = expr.starts_with("ssl_c_s_dn") ? cc->s_dn : cc->i_dn;
        std::string_view arg = expr.substr(10);
        if (arg.size() >= 2 && arg.front() == '(' && arg.back() == ')') arg = arg.substr(1, arg.size() - 2);
        const std::size_t comma = arg.find(',');
        int occ = 1;
        if (comma != std::string_view::npos) {
            std::string_view o = arg.substr(comma + 1);
            const bool neg = !o.empty() && o.front() == '-';
            if (neg) o.remove_prefix(1);
            occ = 0;
            for (char c : o) occ = occ * 10 + (c - '0');
            if (neg) occ = -occ;
        }
        std::string_view v;
        if (tls::dn_entry(dn, arg.substr(0, comma), occ, v)) w.add(v);
    } else {
        return false;
    }
    return true;
}

// This shard's maps (set_shard_maps), null: the configuration's.
thread_local const std::vector<std::shared_ptr<const config::MapFile>>* g_shard_maps = nullptr;

// Whether the fetch that just ran gave a sample, when it knows (an empty header value is a sample, a
// missing header none); -1: it did when it wrote something.
thread_local int g_fetch_present = -1;

bool sample_fetch(const Txn& t, std::string_view expr, ArenaWriter& w);

}  // namespace

// url_param([<name>[,<delim>]]): HAProxy's. The parameters start after the first '?' (after the first
// <delim> instead, when given) and end at '&', ';' or <delim>; the value of the first "<name>=..." as it
// is (a bare "<name>" is none); without a name, what follows the first '='.
bool url_param(std::string_view target, std::string_view name, std::string_view& out, char delim) {
    const std::size_t q = target.find(delim != 0 ? delim : '?');
    if (q == std::string_view::npos) return false;
    const std::string_view list = target.substr(q + 1);
    auto is_delim = [&](char c) { return c == '&' || c == ';' || (delim != 0 && c == delim); };
    std::size_t vstart = std::string_view::npos;
    if (name.empty()) {
        const std::size_t eq = list.find('=');
        if (eq != std::string_view::npos) vstart = eq + 1;
    } else {
        for (std::size_t i = 0; i < list.size();) {
            if (list.size() - i > name.size() && list.compare(i, name.size(), name) == 0 && list[i + name.size()] == '=') {
                vstart = i + name.size() + 1;
                break;
            }
            while (i < list.size() && !is_delim(list[i])) ++i;
            ++i;
        }
    }
    if (vstart == std::string_view::npos) return false;
    std::size_t vend = vstart;
    while (vend < list.size() && !is_delim(list[vend])) ++vend;
    out = list.substr(vstart, vend - vstart);
    return true;
}

namespace {

// A fetch's value written by `w`: `get` runs it (false: not a fetch we evaluate); `present` says whether it gave a
// sample (the fetch says so, else: it wrote something).
template <class Get>
bool fetch_with(ArenaWriter& w, bool& present, Get&& get) {
    const std::size_t mark = w.mark();
    g_fetch_present = -1;
    detail::g_smp_type = detail::SmpType::Str;
    if (!get()) return false;
    present = g_fetch_present >= 0 ? g_fetch_present != 0 : w.mark() != mark;
    return true;
}

bool fetch(const Txn& t, std::string_view expr, ArenaWriter& w, bool& present) {
    return fetch_with(w, present, [&] { return sample_fetch(t, expr, w) || detail::fetch_typed(t, expr, w, g_fetch_present); });
}

// The parsed form of a sample expression: its fetch, each converter's name and arguments, split where HAProxy's
// argument lists end. Kept per thread by the expression's text, so a request pays a lookup, not a parse: the
// configuration's text lives as long as its snapshot, its address identifies it, and the text compared on each
// lookup guards against a later snapshot reusing the address.
struct ConvStep {
    std::string_view text, name;  // into Program::text
    config::ConvArgs args;        // views into its own buffer: a step never moves (held by pointer)
    std::uint8_t typed = 0;       // detail::typed_conv_id
    bool map = false;
    detail::TableStep table;      // a table_* converter (table.conv set)
};
struct Program {
    std::string text;
    std::string_view fetch;  // the whole expression for the client certificate's `,hex` forms
    // a typed fetch (typed.cpp) with its name and arguments read: called directly, not found by name
    bool typed_fetch = false;
    std::string_view fetch_name;
    config::ConvArgs fetch_args;  // views into its own buffer: a Program never moves (held by pointer)
    std::unique_ptr<detail::StickSample> stick;  // a stick counter's fetch (sc_*, src_*), read here
    std::vector<std::unique_ptr<ConvStep>> steps;
};

// The parsed form T of configuration text, per thread: built by `parse` on first use, then found by the text's
// address and checked against the text. T has a `text` member holding its copy (its views point into it).
template <class T, class Parse>
const T& parsed(std::string_view text, Parse&& parse) {
    thread_local std::unordered_map<std::uint64_t, std::unique_ptr<T>> cache;
    const std::uint64_t key = std::uint64_t(reinterpret_cast<std::uintptr_t>(text.data())) * 1000003u + text.size();
    if (const auto it = cache.find(key); it != cache.end() && it->second->text == text) return *it->second;
    if (cache.size() >= 4096) cache.clear();  // snapshots come and go: what they left is dropped now and then
    auto p = std::make_unique<T>();
    p->text.assign(text);
    parse(*p);
    auto& slot = cache[key];
    slot = std::move(p);
    return *slot;
}

void parse_program(Program* p) {
    const std::string_view e = p->text;
    const std::size_t comma = config::sample_item_end(e, 0, ',');
    if (comma == e.size() || (e.starts_with("ssl_c_") && e.substr(comma) == ",hex")) {
        p->fetch = e;
    } else {
        p->fetch = e.substr(0, comma);
        std::string_view convs = e.substr(comma + 1);
        while (!convs.empty()) {
            const std::size_t end = config::sample_item_end(convs, 0, ',');
            const std::string_view c = convs.substr(0, end);
            convs.remove_prefix(std::min(convs.size(), end + 1));
            if (c.empty()) continue;
            auto st = std::make_unique<ConvStep>();
            st->text = c;
            const std::size_t paren = c.find('(');
            st->name = c.substr(0, paren);
            st->map = st->name.starts_with("map");
            st->typed = detail::typed_conv_id(st->name);
            st->table.conv = config::table_conv(st->name);
            if (paren != std::string_view::npos && config::read_conv_args(c.substr(paren + 1), st->args) < 0) st->args.n = -1;
            p->steps.push_back(std::move(st));
        }
    }
    const std::size_t fparen = p->fetch.find('(');
    p->fetch_name = p->fetch.substr(0, fparen);
    p->typed_fetch = detail::is_typed_fetch(p->fetch_name) &&
                     (fparen == std::string_view::npos || config::read_conv_args(p->fetch.substr(fparen + 1), p->fetch_args) >= 0);
    if (!p->typed_fetch) {
        auto sc = std::make_unique<detail::StickSample>();
        const std::string arg = fparen == std::string_view::npos || p->fetch.back() != ')'
                                    ? std::string()
                                    : std::string(p->fetch.substr(fparen + 1, p->fetch.size() - fparen - 2));
        if (const auto why = config::stick_fetch_spec(std::string(p->fetch_name), arg, sc->acl); why && why->empty())
            p->stick = std::move(sc);
    }
}

const Program& program(std::string_view expr) {
    return parsed<Program>(expr, [](Program& p) { parse_program(&p); });
}

// The expression's fetch: a stick counter's or a typed one called with what was read, the others found by name.
bool fetch(const Txn& t, const Program& p, ArenaWriter& w, bool& present) {
    if (p.stick) return fetch_with(w, present, [&] { return detail::fetch_stick(t, *p.stick, w, g_fetch_present); });
    if (!p.typed_fetch) return fetch(t, p.fetch, w, present);
    return fetch_with(w, present, [&] { return detail::fetch_typed(t, p.fetch_name, p.fetch_args, w, g_fetch_present); });
}

// A fetch's value, then its converters (`map*` here, the others in converters.cpp). `present`: the
// expression gave a sample (HAProxy's "no sample" is not an empty string: set-var, -m found tell them apart).
bool sample(const Txn& t, std::string_view expr, ArenaWriter& w, bool& present, bool raw = false) {
    const Program& prog = program(expr);
    const std::size_t mark = w.mark();
    // a binary sample written as text ends at its first NUL (HAProxy's c_bin2str)
    auto as_text = [&] {
        if (detail::g_smp_type == detail::SmpType::Bin) w.rewind(mark + detail::smp_str(w.since(mark)).size());
        return true;
    };
    if (!fetch(t, prog, w, present)) return false;
    thread_local std::vector<std::string_view> groups;
    for (const auto& step : prog.steps) {
        const std::string_view c = step->text;
        if (step->table.conv != nullptr) {
            if (step->args.n < 0) return false;
            detail::convert_table(t, step->table, step->args, w, mark, present);
            continue;
        }
        if (!step->map) {
            if (step->args.n < 0 || !detail::convert(t, step->name, step->typed, step->args, c, w, mark, present)) return false;
            continue;
        }
        config::MapMatch match{};
        bool int_out = false, has_def = false;
        std::string_view file, def;
        if (t.cfg == nullptr || !config::parse_map_converter(c, match, int_out, file, def, has_def)) return false;
        if (present && detail::g_smp_type == detail::SmpType::Bin) as_text();
        detail::g_smp_type = detail::SmpType::Str;
        const config::MapFile* m = nullptr;
        const auto* shard = g_shard_maps;
        for (std::size_t k = 0; k < t.cfg->maps.size(); ++k)
            if (t.cfg->maps[k]->path == file)
                m = shard != nullptr && k < shard->size() ? (*shard)[k].get() : t.cfg->maps[k].get();
        if (m == nullptr) return false;
        if (!present) continue;
        // the value is looked up where it was written, then overwritten; map_regm's captures point
        // into it, so that one works on a copy
        std::string keep;
        if (match == config::MapMatch::Regm) keep.assign(w.since(mark));
        const long n = map_lookup(*m, match, match == config::MapMatch::Regm ? std::string_view(keep) : w.since(mark), &groups);
        w.rewind(mark);
        if (n >= 0) {
            const std::string_view val = m->entries[std::size_t(n)].second;
            if (match != config::MapMatch::Regm) {
                w.add(val);
            } else {  // "\<digit>": that capture of the key's regex
                for (std::size_t i = 0; i < val.size(); ++i) {
                    if (val[i] == '\\' && i + 1 < val.size() && val[i + 1] >= '0' && val[i + 1] <= '9') {
                        const std::size_t g = std::size_t(val[i + 1] - '0');
                        if (g < groups.size()) w.add(groups[g]);
                        ++i;
                    } else {
                        w.add(val.substr(i, 1));
                    }
                }
            }
        } else if (n == -1 && has_def) {
            w.add(def);
        } else {
            present = false;
        }
    }
    return raw || as_text();
}

bool sample_fetch(const Txn& t, std::string_view expr, ArenaWriter& w) {
    auto value_or_missing = [&](std::string_view v) { w.add(v); };
    if (expr.starts_with("var(") && expr.back() == ')') {
        std::string_view v;
        const bool set = var_value(t, expr.substr(4, expr.size() - 5), v);
        if (set) w.add(v);
        g_fetch_present = set ? 1 : 0;
        return true;
    }
    if (client_cert_sample(t, expr, w)) return true;
    if (expr.starts_with("ssl_fc")) {  // the connection's handshake: nothing in clear (ssl_fc: 0)
        if (expr == "ssl_fc") {
            w.add(t.tls ? "1" : "0");
            return true;
        }
        if (!t.tls) return expr == "ssl_fc_sni" || expr == "ssl_fc_protocol" || expr == "ssl_fc_cipher" ||
                           expr == "ssl_fc_alpn";
        if (expr == "ssl_fc_sni") return w.add(t.tls->sni), true;
        if (expr == "ssl_fc_protocol") return w.add(t.tls->protocol), true;
        if (expr == "ssl_fc_cipher") return w.add(t.tls->cipher), true;
        if (expr == "ssl_fc_alpn") return w.add(t.tls->alpn), true;
    }
    if (expr == "src" || expr == "dst") {
        const sockaddr_storage* ss = expr == "src" ? t.src : t.dst;
        char text[INET6_ADDRSTRLEN];
        const std::size_t n = addr_text(ss, text, sizeof(text));
        w.add(std::string_view(text, n));
        if (ss != nullptr)
            detail::g_smp_type = ss->ss_family == AF_INET6 ? detail::SmpType::Ip6 : detail::SmpType::Ip4;
        return true;
    }
    if (expr == "src_port" || expr == "dst_port") {
        const int port = addr_port(expr == "src_port" ? t.src : t.dst);
        if (port >= 0) w.add_uint(static_cast<std::uint64_t>(port));
        detail::g_smp_type = detail::SmpType::Int;
        return true;
    }
    if (expr == "fe_name" || expr == "be_name") {
        std::string_view v;
        if (t.cfg != nullptr && t.fe >= 0) {
            v = t.cfg->frontends[std::size_t(t.fe)].name;
            if (expr == "be_name" && t.be >= 0) v = t.cfg->backends[std::size_t(t.be)].name;
        }
        w.add(v);
        g_fetch_present = v.empty() ? 0 : 1;
        return true;
    }
    if (expr == "unique-id") {  // the request's id (unique-id-format): built on its first use
        std::string_view v;
        const bool got = t.uid != nullptr && t.uid->unique_id(t, v);
        if (got) w.add(v);
        g_fetch_present = got ? 1 : 0;
        return true;
    }
    if (expr == "uuid" || expr == "uuid()" || expr == "uuid(4)") {
        (void)detail::uuid4(w);
        return true;
    }
    if (expr == "status") {  // the response's (http-response, http-after-response)
        if (t.rsp != nullptr) w.add_uint(t.rsp->status);
        detail::g_smp_type = detail::SmpType::Int;
        return true;
    }
    const http::RequestHead* req = t.req;
    if (expr == "path" || expr == "url" || expr == "query" || expr == "method") {
        if (req == nullptr) {
            g_fetch_present = 0;
        } else if (expr == "path") {  // rewrites change the request itself: later rules see them, as in HAProxy
            std::string_view pq;
            g_fetch_present = target_path(req->target, pq) ? 1 : 0;
            value_or_missing(req->path);
        } else if (expr == "url") {
            g_fetch_present = 1;
            value_or_missing(req->target);
        } else if (expr == "query") {  // none without a '?'
            g_fetch_present = req->target.find('?') != std::string_view::npos ? 1 : 0;
            value_or_missing(req->query);
        } else {
            g_fetch_present = 1;
            value_or_missing(req->method_text);
        }
        return true;
    }
    if (expr.starts_with("url_param") || expr.starts_with("urlp")) {
        const std::size_t paren = expr.find('(');
        const std::string_view kw = expr.substr(0, paren);
        if (kw != "url_param" && kw != "urlp") return false;
        config::ConvArgs a;
        if (paren != std::string_view::npos && config::read_conv_args(expr.substr(paren + 1), a) < 0) return false;
        std::string_view v;
        const char delim = a.n > 1 && !a.v[1].empty() ? a.v[1][0] : 0;
        g_fetch_present = req != nullptr && url_param(req->target, a.n > 0 ? a.v[0] : std::string_view(), v, delim) ? 1 : 0;
        if (g_fetch_present) w.add(v);
        return true;
    }
    // req.fhdr(<name>): the last occurrence's whole value, commas included
    if (expr.starts_with("req.fhdr(") && expr.back() == ')') {
        const std::string_view n = expr.substr(9, expr.size() - 10);
        const http::MessageHead* msg = t.req;
        std::string_view v;
        g_fetch_present = 0;
        if (msg != nullptr)
            for (std::uint16_t i = 0; i < msg->nheaders; ++i)
                if (!msg->headers[i].removed && http::iequals(msg->headers[i].name, n)) v = msg->headers[i].value, g_fetch_present = 1;
        if (t.edits != nullptr)
            for (int i = 0; i < t.edits->nadds; ++i)
                if (http::iequals(t.edits->adds[i].name, n)) v = t.edits->adds[i].value, g_fetch_present = 1;
        w.add(v);
        return true;
    }
    std::string_view name;
    for (std::string_view prefix :
         {std::string_view("hdr("), std::string_view("req.hdr("), std::string_view("res.hdr(")}) {
        if (expr.size() > prefix.size() && expr.substr(0, prefix.size()) == prefix && expr.back() == ')') {
            name = expr.substr(prefix.size(), expr.size() - prefix.size() - 1);
            break;
        }
    }
    if (name.empty() || name.find(',') != std::string_view::npos) return false;
    std::string_view v;
    if (!last_header_element(t, name, v)) v = {};
    else g_fetch_present = 1;
    value_or_missing(v);
    if (g_fetch_present < 0) g_fetch_present = 0;
    return true;
}

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

// A sample in a log-format value: control characters (but TAB) and DEL are written %XX, as HAProxy's
// http log-format encoding does (so a decoded %0A never splits a header line).
void detail::escape_controls(ArenaWriter& w, std::size_t mark) {
    auto bad = [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; };
    const std::string_view v = w.since(mark);
    std::size_t k = 0;
    // eight bytes at a time while none is below 0x20 or DEL (a TAB stops the word: the byte loop decides)
    constexpr std::uint64_t kOnes = 0x0101010101010101u, kHigh = 0x8080808080808080u;
    for (std::uint64_t x; k + 8 <= v.size(); k += 8) {
        std::memcpy(&x, v.data() + k, 8);
        const std::uint64_t low = (x - 0x20 * kOnes) & ~x & kHigh;  // a byte below 0x20
        const std::uint64_t d = x ^ (0x7f * kOnes);
        const std::uint64_t del = (d - kOnes) & ~d & kHigh;  // a DEL byte
        if ((low | del) != 0) break;
    }
    while (k < v.size() && !bad(static_cast<unsigned char>(v[k]))) ++k;
    if (k == v.size()) return;
    thread_local std::string copy;
    copy.assign(v);
    w.rewind(mark + k);
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (std::size_t j = k; j < copy.size(); ++j) {
        const auto c = static_cast<unsigned char>(copy[j]);
        if (bad(c)) {
            const char e[3] = {'%', kHex[c >> 4], kHex[c & 15]};
            w.add(std::string_view(e, 3));
        } else {
            w.add(std::string_view(&copy[j], 1));
        }
    }
}

namespace detail {

// A log-format value read once into its pieces (literal text, a sample, a variable), kept per thread as Program
// is: a request expands the pieces.
struct FmtPiece {
    enum Kind : std::uint8_t { Lit, Sample, Var } kind;
    std::string_view text;  // into Format::text: the literal, the sample expression, the fetch a variable reads
};
struct Format {
    std::string text;
    std::vector<FmtPiece> pieces;
};

void parse_format(Format* f) {
    const std::string_view s = f->text;
    auto lit = [&](std::string_view v) {
        if (v.empty()) return;
        if (!f->pieces.empty() && f->pieces.back().kind == FmtPiece::Lit &&
            f->pieces.back().text.data() + f->pieces.back().text.size() == v.data())
            f->pieces.back().text = std::string_view(f->pieces.back().text.data(), f->pieces.back().text.size() + v.size());
        else
            f->pieces.push_back({FmtPiece::Lit, v});
    };
    std::size_t i = 0;
    while (i < s.size()) {
        const std::size_t pct = s.find('%', i);
        if (pct == std::string_view::npos) {
            lit(s.substr(i));
            break;
        }
        lit(s.substr(i, pct - i));
        i = pct + 1;
        if (i < s.size() && s[i] == '%') {
            lit(s.substr(i, 1));
            ++i;
            continue;
        }
        if (i < s.size() && s[i] == '[') {
            const std::size_t close = config::sample_item_end(s, i + 1, ']');
            if (close != s.size()) {
                f->pieces.push_back({FmtPiece::Sample, s.substr(i + 1, close - i - 1)});
                i = close + 1;
                continue;
            }
            lit(s.substr(pct, 1));
            continue;
        }
        std::size_t j = i;
        while (j < s.size() && is_alpha(s[j])) ++j;
        const std::string_view var = s.substr(i, j - i);
        // %ci %cp %fi %fp %f %b: the fetches they are; the frontend's name, the backend's (the frontend's until chosen)
        const std::string_view fetch = var == "ci"  ? "src"
                                       : var == "cp" ? "src_port"
                                       : var == "fi" ? "dst"
                                       : var == "fp" ? "dst_port"
                                       : var == "f"  ? "fe_name"
                                       : var == "b"  ? "be_name"
                                                     : std::string_view();
        if (fetch.empty()) {
            lit(s.substr(pct, 1));
            continue;
        }
        f->pieces.push_back({FmtPiece::Var, fetch});
        i = j;
    }
}

const Format& format(std::string_view fmt) {
    return parsed<Format>(fmt, [](Format& f) { parse_format(&f); });
}

// Expands a log-format string. Plain text is returned as is (it is config data, stable for the
// snapshot's life); anything with '%' is built in the arena from its pieces (format()): samples with their
// converters, %ci %cp %fi %fp %f %b, %%. A sample that cannot be evaluated is written as it stands (the
// configuration refuses such values, so only a hand-built rule gets there). Returns false when the arena is full.
bool expand(const Txn& t, std::string_view fmt, std::string_view& out) {
    if (fmt.find('%') == std::string_view::npos) {
        out = fmt;
        return true;
    }
    if (t.arena == nullptr) return false;
    const Format& f = format(fmt);
    ArenaWriter w(*t.arena);
    for (const FmtPiece& p : f.pieces) {
        bool present = false;
        if (p.kind == FmtPiece::Lit) {
            w.add(p.text);
        } else if (p.kind == FmtPiece::Var) {
            sample(t, p.text, w, present);
        } else {
            const std::size_t m = w.mark();
            if (sample(t, p.text, w, present)) {
                escape_controls(w, m);
            } else {
                w.rewind(m);
                w.add("%[");
                w.add(p.text);
                w.add("]");
            }
        }
    }
    out = w.commit();
    return w.ok();
}

}  // namespace detail

using detail::expand;

void set_shard_maps(const std::vector<std::shared_ptr<const config::MapFile>>* maps) { g_shard_maps = maps; }

bool detail::sample_value(const Txn& t, std::string_view expr, ArenaWriter& w, bool& present) {
    return sample(t, expr, w, present);
}

bool eval_sample(const Txn& t, std::string_view expr, std::string_view& out, bool raw) {
    if (t.arena == nullptr) return false;
    ArenaWriter w(*t.arena);
    bool present = false;
    if (!sample(t, expr, w, present, raw)) return false;
    out = w.commit();
    return w.ok() && present;
}

namespace detail {

bool single_line(std::string_view v) {
    return std::memchr(v.data(), '\n', v.size()) == nullptr && std::memchr(v.data(), '\r', v.size()) == nullptr;
}

}  // namespace detail

namespace {

using detail::single_line;

void mark_removed(http::MessageHead* msg, std::string_view name) {
    if (msg == nullptr) return;
    for (std::uint16_t i = 0; i < msg->nheaders; ++i)
        if (http::iequals(msg->headers[i].name, name)) msg->headers[i].removed = true;
}

void drop_adds(HeaderEdits& e, std::string_view name) {
    int keep = 0;
    for (int i = 0; i < e.nadds; ++i)
        if (!http::iequals(e.adds[i].name, name)) e.adds[keep++] = e.adds[i];
    e.nadds = keep;
}

Verdict reply(int status, std::string_view bytes, bool denied = false) {
    Verdict v;
    v.kind = Verdict::Reply;
    v.status = status;
    v.bytes = bytes;
    v.denied = denied;
    return v;
}

// HAProxy's strict-mode: a rule that cannot be applied (arena or header slots exhausted, a value
// that would break the message) ends the transaction with a 500 instead of forwarding it half-done.
// An exchange the rules cannot complete (a reply or a rewrite that could not be built): HAProxy's 500, counted as
// an internal error (eint).
Verdict failed(const config::HttpProxy& px, const Txn& t) {
    Verdict v = reply(500, error_reply(500, &px, t.fallback));
    v.internal = true;
    return v;
}

// A rewrite that could not be done: counted (HAProxy's wrew); true when strict-mode makes it fail the exchange.
bool rewrite_failed(Txn& t) {
    ++t.failed_rewrites;
    return !t.soft_rewrite;
}

std::string_view reason_or_unknown(int status) {
    const std::string_view r = http::reason_phrase(status);
    return r.empty() ? std::string_view("Unknown") : r;
}

// "HTTP/1.1 <code> <reason>\r\n": the status line of a reply the rules build
void status_line(ArenaWriter& w, int code) {
    w.add("HTTP/1.1 ");
    w.add_uint(static_cast<std::uint64_t>(code));
    w.add(" ");
    w.add(reason_or_unknown(code));
    w.add("\r\n");
}

}  // namespace

// set-header / add-header / del-header on the message the rules run on.
bool detail::header_action(const HttpRule& r, http::MessageHead* msg, Txn& t) {
    if (r.action == HttpAction::DelHeader) {
        mark_removed(msg, r.name);
        if (t.edits != nullptr) drop_adds(*t.edits, r.name);
        return true;
    }
    if (t.edits == nullptr) return false;
    std::string_view value;
    if (!expand(t, r.value, value) || !single_line(value)) return false;
    if (r.action == HttpAction::SetHeader) {
        mark_removed(msg, r.name);
        drop_adds(*t.edits, r.name);
    }
    if (t.edits->nadds >= HeaderEdits::kMaxAdds) return false;
    t.edits->adds[t.edits->nadds++] = {r.name, value};
    return true;
}

namespace {

using detail::header_action;

// redirect location|prefix|scheme: the Location value, then the reply built around it.
Verdict redirect(const config::HttpProxy& px, const HttpRule& r, Txn& t) {
    if (t.arena == nullptr || t.req == nullptr) return failed(px, t);
    const int code = r.status != 0 ? r.status : 302;
    std::string_view target;
    if (!expand(t, r.value, target) || !single_line(target)) return failed(px, t);
    const http::RequestHead& req = *t.req;
    const std::string_view path = req.path;
    const bool with_query = !r.drop_query && !req.query.empty();

    ArenaWriter w(*t.arena);
    status_line(w, code);
    w.add("content-length: 0\r\nlocation: ");
    if (r.redirect_kind == "prefix") {
        // A prefix of "/" means "the same URI, relative" rather than "//path".
        if (target != "/") w.add(target);
        w.add(path);
        if (with_query) {
            w.add("?");
            w.add(req.query);
        }
    } else if (r.redirect_kind == "scheme") {
        const std::string_view host = !req.host.empty() ? req.host : req.authority;
        if (!host.empty()) {  // without a host there is no absolute URI to build: stay relative
            w.add(target);
            w.add("://");
            w.add(host);
        }
        w.add(path);
        if (with_query) {
            w.add("?");
            w.add(req.query);
        }
    } else {
        w.add(target);
    }
    w.add("\r\ncache-control: no-cache\r\n\r\n");
    const std::string_view bytes = w.commit();
    if (bytes.empty()) return failed(px, t);
    return reply(code, bytes);
}

// return status <code> without a payload: an empty response.
Verdict empty_return(const config::HttpProxy& px, int status, Txn& t) {
    if (t.arena == nullptr) return failed(px, t);
    ArenaWriter w(*t.arena);
    status_line(w, status);
    if (status >= 200 && status != 204 && status != 304) w.add("content-length: 0\r\n");
    w.add("\r\n");
    const std::string_view bytes = w.commit();
    if (bytes.empty()) return failed(px, t);
    return reply(status, bytes);
}

// A return/deny reply with log-format parts (lf-string, lf-file, hdr values): built now in the arena, in
// the shape of the static ones (status line, content-type, content-length, cache-control, hdr lines, body).
Verdict lf_reply(const config::HttpProxy& px, const HttpRule& r, const Txn& t, int status, bool denied) {
    static constexpr std::size_t kMaxHdrs = 32;
    std::string_view body, vals[kMaxHdrs];
    if (t.arena == nullptr || r.lf_hdrs.size() > kMaxHdrs) return failed(px, t);
    if (r.lf_has_body && !expand(t, r.lf_body, body)) return failed(px, t);
    for (std::size_t i = 0; i < r.lf_hdrs.size(); ++i)
        if (!expand(t, r.lf_hdrs[i].second, vals[i]) || !single_line(vals[i])) return failed(px, t);
    // HAProxy: a content type only with a body, a hdr line only with a value
    ArenaWriter w(*t.arena);
    status_line(w, status);
    if (!body.empty() && !r.content_type.empty()) {
        w.add("content-type: ");
        w.add(r.content_type);
        w.add("\r\n");
    }
    w.add("content-length: ");
    w.add_uint(body.size());
    w.add("\r\ncache-control: no-cache\r\n");
    for (std::size_t i = 0; i < r.lf_hdrs.size(); ++i) {
        if (vals[i].empty()) continue;
        w.add(r.lf_hdrs[i].first);
        w.add(": ");
        w.add(vals[i]);
        w.add("\r\n");
    }
    w.add("\r\n");
    w.add(body);
    const std::string_view bytes = w.commit();
    if (bytes.empty()) return failed(px, t);
    return reply(status, bytes, denied);
}

Verdict deny(const config::HttpProxy& px, const HttpRule& r, const Txn& t, int default_status) {
    if (r.lf_reply) [[unlikely]]
        return lf_reply(px, r, t, r.status != 0 ? r.status : default_status, true);
    if (r.has_reply) {
        const int status = r.reply.status != 0 ? r.reply.status : (r.status != 0 ? r.status : default_status);
        return reply(status, r.reply.raw, true);
    }
    const int status = r.status != 0 ? r.status : default_status;
    return reply(status, error_reply(status, &px, t.fallback), true);
}

// The actions of http-request and http-response rules that change state and let the next rules run:
// track-sc*, sc-inc-gpc*, sc-set-gpt0, set-var, unset-var.
void state_action(const HttpRule& r, const Txn& t) {
    switch (r.action) {
        case HttpAction::TrackSc: track(r.track, t, true, true); break;
        case HttpAction::ScIncGpc: sc_inc_gpc(r.track, r.status, t); break;
        case HttpAction::ScSetGpt0: sc_set_gpt(r.track, r.status, t); break;
        case HttpAction::SetVar: set_var(r.var, t); break;
        case HttpAction::UnsetVar: unset_var(r.var, t); break;
        default: break;
    }
}

Verdict do_return(const config::HttpProxy& px, const HttpRule& r, Txn& t) {
    if (r.lf_reply) [[unlikely]] return lf_reply(px, r, t, r.status != 0 ? r.status : 200, false);
    if (r.has_reply) {
        const int status = r.reply.status != 0 ? r.reply.status : (r.status != 0 ? r.status : 200);
        return reply(status, r.reply.raw);
    }
    return empty_return(px, r.status != 0 ? r.status : 200, t);
}

}  // namespace

namespace {

// capture <sample> len|id: a sample that does not exist leaves the slot as it is (HAProxy's)
void capture(const HttpRule& r, Txn& t, bool response) {
    std::string_view v;
    if (t.captures && eval_sample(t, r.value, v)) t.captures->capture(response, std::uint32_t(r.status), v);
}

}  // namespace

Verdict run_request_rules(const config::HttpProxy& px, Txn& t) {
    return run_request_rules(px, px.request_rules, t, px.request_own);
}

Verdict run_request_rules(const config::HttpProxy& px, const std::vector<HttpRule>& rules, Txn& t, std::size_t own) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
        if (i == 0 || i == own) t.soft_rewrite = false;  // strict-mode is on at the start of each list
        const HttpRule& r = rules[i];
        if (!eval_condition(r.cond, px.acls, t)) continue;
        switch (r.action) {
            case HttpAction::Allow:
                return {};
            case HttpAction::Deny:
            case HttpAction::Return: {
                Verdict v = r.action == HttpAction::Deny ? deny(px, r, t, 403) : do_return(px, r, t);
                if (r.monitor) {
                    v.monitor = true;
                    v.denied = false;
                }
                return v;
            }
            case HttpAction::Redirect:
                return redirect(px, r, t);
            case HttpAction::Auth: {
                if (t.arena == nullptr || t.req == nullptr) return failed(px, t);
                const std::string_view realm = r.name.empty() ? std::string_view("edgeshard") : r.name;
                const std::string_view bytes = auth_reply(*t.req, realm, &px, t.fallback, *t.arena);
                if (bytes.empty()) return failed(px, t);
                return reply(t.req->absolute_form ? 407 : 401, bytes);
            }
            case HttpAction::SetHeader:
            case HttpAction::AddHeader:
            case HttpAction::DelHeader:
                if (!header_action(r, t.req, t)) {
                    ++t.failed_rewrites;
                    return failed(px, t);
                }
                break;
            case HttpAction::SetPath:
            case HttpAction::SetPathq:
            case HttpAction::SetQuery:
            case HttpAction::SetUri:
            case HttpAction::SetMethod:
            case HttpAction::ReplacePath:
            case HttpAction::ReplacePathq:
            case HttpAction::ReplaceUri:
            case HttpAction::ReplaceHeader:
            case HttpAction::ReplaceValue:
            case HttpAction::StrictMode:
                if (!detail::rewrite_action(r, t, false) && rewrite_failed(t)) return failed(px, t);
                break;
            case HttpAction::SetStatus:
                break;  // response rules only
            case HttpAction::UseService: {
                Verdict v;
                v.kind = Verdict::Service;
                v.service = r.name;
                return v;
            }
            case HttpAction::Capture:
                capture(r, t, false);
                break;
            case HttpAction::TrackSc:
            case HttpAction::ScIncGpc:
            case HttpAction::ScSetGpt0:
            case HttpAction::SetVar:
            case HttpAction::UnsetVar:
                state_action(r, t);
                break;
        }
    }
    return {};
}

Verdict run_response_rules(const config::HttpProxy& px, Txn& t) {
    for (std::size_t i = 0; i < px.response_rules.size(); ++i) {
        if (i == 0 || i == px.response_own) t.soft_rewrite = false;
        const HttpRule& r = px.response_rules[i];
        if (!eval_condition(r.cond, px.acls, t)) continue;
        switch (r.action) {
            case HttpAction::Allow:
                return {};
            case HttpAction::Deny:
                return deny(px, r, t, 502);
            case HttpAction::Return: {
                // HAProxy drops the server's response before it builds the reply: response fetches
                // (status, res.hdr) give nothing there
                Txn without = t;
                without.rsp = nullptr;
                return do_return(px, r, without);
            }
            case HttpAction::Redirect:
                return redirect(px, r, t);
            case HttpAction::SetHeader:
            case HttpAction::AddHeader:
            case HttpAction::DelHeader:
                if (!header_action(r, t.rsp, t)) {
                    ++t.failed_rewrites;
                    return failed(px, t);
                }
                break;
            case HttpAction::TrackSc:
            case HttpAction::ScIncGpc:
            case HttpAction::ScSetGpt0:
            case HttpAction::SetVar:
            case HttpAction::UnsetVar:
                state_action(r, t);
                break;
            case HttpAction::Capture:
                capture(r, t, true);
                break;
            case HttpAction::ReplaceHeader:
            case HttpAction::ReplaceValue:
            case HttpAction::SetStatus:
            case HttpAction::StrictMode:
                if (!detail::rewrite_action(r, t, true) && rewrite_failed(t)) return failed(px, t);
                break;
            case HttpAction::Auth:
            case HttpAction::SetPath:
            case HttpAction::SetPathq:
            case HttpAction::SetQuery:
            case HttpAction::SetUri:
            case HttpAction::SetMethod:
            case HttpAction::ReplacePath:
            case HttpAction::ReplacePathq:
            case HttpAction::ReplaceUri:
            case HttpAction::UseService:
                // request-only actions: the configuration does not accept them in http-response
                break;
        }
    }
    return {};
}

int select_backend(const config::Frontend& fe, const Txn& t) {
    for (const config::UseBackendRule& r : fe.use_backend_rules) {
        if (!eval_condition(r.cond, fe.http.acls, t)) continue;
        if (!r.dynamic) [[likely]] return static_cast<int>(r.backend_id);
        // a name known now: no such backend ends the rules, and default_backend applies (HAProxy's); a mode
        // http backend named from a mode tcp frontend upgrades the connection (HAProxy's stream_set_backend), a
        // mode tcp one named from an http frontend is an error
        std::string_view name;
        if (t.cfg == nullptr || !expand(t, r.backend, name)) return fe.default_backend_id;
        for (const config::Backend& b : t.cfg->backends)
            if (b.name == name)
                return b.mode == fe.mode || fe.mode == config::Mode::Tcp ? static_cast<int>(b.id) : -1;
        return fe.default_backend_id;
    }
    return fe.default_backend_id;
}

}  // namespace es::rules
