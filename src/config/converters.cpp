// Sample expressions' converters at load: where each one ends (HAProxy's argument lists, with their
// quotes), and the checks of base64, url_dec, field, word and regsub with HAProxy 2.6's messages
// (sample.c, arg.c: make_arg_list). A regsub's regex is compiled here, once, into Config::regsubs.
#include <arpa/inet.h>
#include <openssl/evp.h>

#include <charconv>
#include <optional>

#include "edgeshard/http/parser.hpp"
#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config {

std::size_t sample_item_end(std::string_view s, std::size_t from, char stop) {
    int depth = 0;
    bool sq = false, dq = false;
    for (std::size_t i = from; i < s.size(); ++i) {
        const char c = s[i];
        if (depth > 0) {  // quotes and escapes matter inside an argument list only (make_arg_list)
            if (c == '"' && !sq) {
                dq = !dq;
                continue;
            }
            if (c == '\'' && !dq) {
                sq = !sq;
                continue;
            }
            if (c == '\\' && !sq && i + 1 < s.size()) {
                ++i;
                continue;
            }
            if (sq || dq) continue;
        }
        if (c == '(') ++depth;
        else if (c == ')' && depth > 0) --depth;
        else if (c == stop && depth == 0) return i;
    }
    return s.size();
}

int read_conv_args(std::string_view in, ConvArgs& a) {
    a.n = 0;
    a.closed = false;
    std::size_t used = 0, i = 0;
    while (a.n < ConvArgs::kMax) {
        bool sq = false, dq = false;
        const std::size_t start = used;
        for (; i < in.size(); ++i) {
            const char c = in[i];
            if (c == '"' && !sq) {
                dq = !dq;
                continue;
            }
            if (c == '\'' && !dq) {
                sq = !sq;
                continue;
            }
            char out = c;
            if (c == '\\' && !sq && i + 1 < in.size()) {
                const char n = in[i + 1];
                if (n == '\\' || n == ' ' || n == '"' || n == '\'') out = n, ++i;
                else if (n == 'r') out = '\r', ++i;
                else if (n == 'n') out = '\n', ++i;
                else if (n == 't') out = '\t', ++i;
            } else if (!sq && !dq && (c == ',' || c == ')')) {
                break;
            }
            if (used >= sizeof a.buf) return -1;
            a.buf[used++] = out;
        }
        a.end[a.n] = i;
        a.v[a.n++] = std::string_view(a.buf + start, used - start);
        if (i >= in.size()) break;
        if (in[i] == ')') {
            a.closed = true;
            break;
        }
        ++i;  // the ','
    }
    return a.n;
}

}  // namespace es::config

namespace es::config::detail {

extern thread_local Config* g_conv_cfg;
thread_local Config* g_conv_cfg = nullptr;
thread_local ParseState* g_conv_st = nullptr;
thread_local bool g_conv_in_acl = false;


void set_converter_registry(Config* cfg, ParseState* st) {
    g_conv_cfg = cfg;
    g_conv_st = st;
}

// nbsrv / srv_is_up name proxies and servers that may be declared later: checked once all are read
void resolve_fetch_refs(ParseState& st) {
    const Config& cfg = st.cfg;
    auto backend = [&](std::string_view n) -> const Backend* {
        for (const Backend& b : cfg.backends)
            if (b.name == n) return &b;
        return nullptr;
    };
    for (const auto& r : st.fetch_refs) {
        if (r.fetch.starts_with("table:")) {  // table:<converter>:<arg>: the named table, or the proxy's own
            const std::size_t c = r.fetch.rfind(':');
            bool found = false;
            for (const StickTable& t : cfg.tables) found = found || t.name == (r.arg.empty() ? r.proxy : r.arg);
            const std::string kw = r.fetch.substr(6, c - 6);
            if (!found)
                fail(r.at, "unable to find table " + squote(r.arg.empty() ? r.proxy : r.arg) + " referenced in arg " +
                               r.fetch.substr(c + 1) + " of " + (table_conv(kw) ? "conversion" : "sample fetch") +
                               " keyword " + squote(kw) + r.kw);
            continue;
        }
        const std::string of = " referenced in arg 1 of sample fetch keyword " + squote(r.fetch);
        if (r.fetch == "nbsrv") {
            const std::string in = " in " + r.kw + " expression in proxy " + squote(r.proxy);
            if (r.arg.empty() && !r.proxy_has_be)
                fail(r.at, "proxy " + squote(r.proxy) + "," + of + in + ", has not backend capability");
            if (!r.arg.empty() && backend(r.arg) == nullptr) fail(r.at, "unable to find backend " + squote(r.arg) + of + in);
            continue;
        }
        const std::size_t slash = r.arg.find('/');
        const std::string px = slash == std::string::npos ? r.proxy : r.arg.substr(0, slash);
        const std::string srv = slash == std::string::npos ? r.arg : r.arg.substr(slash + 1);
        const Backend* b = backend(px);
        bool known_proxy = b != nullptr;
        for (const Frontend& f : cfg.frontends) known_proxy = known_proxy || f.name == px;
        if (!known_proxy) fail(r.at, "unable to find proxy " + squote(px) + of);
        bool found = false;
        if (b != nullptr)
            for (const Server& s : b->servers) found = found || s.name == srv;
        if (!found) fail(r.at, "unable to find server " + squote(srv) + " in proxy " + squote(px) + "," + of);
    }
}

// Every converter but map*: its most arguments, the fewest, and the type HAProxy names for each (I integer,
// V integer or variable, S string, R regex, 4/6 the ipmask masks, D digest name, J json mode), as make_arg_list
// reads them.
struct ConvSig {
    std::string_view name;
    unsigned max, min;
    std::string_view types;
};
constexpr ConvSig kConverters[] = {
    {"lower", 0, 0, ""},   {"upper", 0, 0, ""},   {"base64", 0, 0, ""},   {"length", 0, 0, ""},  {"url_dec", 1, 0, "I"},
    {"field", 3, 2, "ISI"}, {"word", 3, 2, "ISI"}, {"regsub", 3, 2, "RSS"},
    {"crc32", 1, 0, "I"},  {"crc32c", 1, 0, "I"}, {"djb2", 1, 0, "I"},    {"sdbm", 1, 0, "I"},  {"wt6", 1, 0, "I"},
    {"xxh32", 1, 0, "I"},  {"xxh64", 1, 0, "I"},  {"xxh3", 1, 0, "I"},    {"hex", 0, 0, ""},    {"hex2i", 0, 0, ""},
    {"bytes", 2, 1, "II"}, {"sha1", 0, 0, ""},    {"sha2", 1, 0, "I"},    {"digest", 1, 0, "D"}, {"ltrim", 1, 0, "S"},
    {"rtrim", 1, 0, "S"},  {"concat", 3, 0, "SSS"}, {"json", 1, 0, "J"},  {"add", 1, 0, "V"},   {"sub", 1, 0, "V"},
    {"mul", 1, 0, "V"},    {"div", 1, 0, "V"},    {"mod", 1, 0, "V"},     {"and", 1, 0, "V"},   {"or", 1, 0, "V"},
    {"xor", 1, 0, "V"},    {"neg", 0, 0, ""},     {"cpl", 0, 0, ""},      {"bool", 0, 0, ""},   {"not", 0, 0, ""},
    {"odd", 0, 0, ""},     {"even", 0, 0, ""},    {"ipmask", 2, 1, "46"}, {"nbsrv", 0, 0, ""},
};

std::optional<ConvSig> conv_sig(std::string_view name) {
    for (const ConvSig& c : kConverters)
        if (c.name == name) return c;
    // the table_* converters: [<idx>,]<table> (T: a table, the proxy's own when none is named)
    if (const TableConv* t = table_conv(name)) return t->indexed ? ConvSig{t->name, 2, 1, "IT"} : ConvSig{t->name, 1, 0, "T"};
    return std::nullopt;
}

// HAProxy's read_int64 over the whole argument (arg.c's ARGT_SINT: digits with an optional sign)
bool sint_arg(std::string_view s) {
    std::size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i >= s.size()) return false;
    for (; i < s.size(); ++i)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

bool scoped_var(std::string_view v) {
    bool sess = false;
    return (v.starts_with("proc.") || v.starts_with("sess.") || v.starts_with("txn.") || v.starts_with("req.") ||
            v.starts_with("res.")) && var_name_problem(v.starts_with("proc.") ? "txn." + std::string(v.substr(5)) : std::string(v), sess).empty();
}

// ipmask's masks: a length (0..32, 0..128) or a mask in address form
bool mask_arg(std::string_view s, bool v6) {
    if (sint_arg(s) && s[0] != '-' && s[0] != '+') return std::stol(std::string(s)) <= (v6 ? 128 : 32);
    unsigned char b[16];
    const std::string z(s);
    return inet_pton(v6 ? AF_INET6 : AF_INET, z.c_str(), b) == 1;
}

bool is_converter(std::string_view name) {
    return conv_sig(name).has_value();
}

// A converter's arguments against its signature, then what each one checks itself; HAProxy's messages.
std::string conv_args_problem(const ConvSig& sig, const ConvArgs& a, std::size_t nargs, const std::string& in,
                              std::string_view after, bool has_paren, std::string_view fetch) {
    const std::string name(sig.name);
    const std::string head = "invalid arg ";
    const std::string in_conv = " in converter " + squote(name) + " : ";
    if (nargs > sig.max) {
        if (sig.max == 0) return head + "1" + in_conv + "expected ')' before " + squote(in + std::string(after) + "]");
        // (make_arg_list reports the position before the last, but for a single argument: the 2nd)
        return head + std::to_string(sig.max == 1 ? 2 : sig.max) + in_conv + "expected ')' before " +
               squote(in.substr(a.end[sig.max - 1]) + std::string(after) + "]");
    }
    if (has_paren && !a.closed) return head + std::to_string(nargs) + in_conv + "expected ')'";
    auto type_name = [](char ty) {
        return ty == '4'   ? std::string("'IPv4 mask'")
               : ty == '6' ? std::string("'IPv6 mask'")
               : ty == 'R' ? std::string("'regex'")
               : ty == 'S' ? std::string("'string'")
                           : std::string("'integer'");
    };
    for (std::size_t k = 0; k < nargs; ++k) {
        const char ty = sig.types[k];
        const std::string_view v = a.v[k];
        const bool bad = (ty == 'I' && !sint_arg(v)) || (ty == '4' && !mask_arg(v, false)) || (ty == '6' && !mask_arg(v, true));
        if (bad)
            return head + std::to_string(k + 1) + in_conv + "failed to parse " + squote(v) + " as type " + type_name(ty) +
                   " at position " + std::to_string(k + 1);
    }
    if (nargs < sig.min) {
        if (nargs == 0) return head + "1" + in_conv + "expected type " + type_name(sig.types[0]) + " at position 1, but got nothing";
        return head + std::to_string(nargs + 1) + in_conv + "missing arguments (got " + std::to_string(nargs) + "/" +
               std::to_string(sig.min) + "), type " + type_name(sig.types[nargs]) + " expected";
    }
    const std::string bad_args = "invalid args" + in_conv;
    if (name == "field" || name == "word") {
        if (std::strtoll(std::string(a.v[0]).c_str(), nullptr, 10) == 0) return bad_args + "Unexpected value 0 for index";
        if (a.v[1].empty()) return bad_args + "Empty separators list";
    }
    if (name == "regsub") {
        bool icase = false, global = false;
        if (nargs == 3)
            for (char f : a.v[2]) {
                if (f == 'i') icase = true;
                else if (f == 'g') global = true;
                else return bad_args + "invalid regex flag '" + std::string(1, f) + "', only 'i' and 'g' are supported";
            }
        const std::string of = " in arg 1 of conversion keyword 'regsub' for sample fetch keyword " +
                               squote(fetch.substr(0, fetch.find('(')));
        if (a.v[0].empty()) return "missing regex" + of;
        Regsub rs;
        rs.args = in;
        rs.global = global;
        if (std::string err = rs.re.compile(a.v[0], icase); !err.empty()) {
            const auto at = err.rfind(" at offset ");
            return "error in regex " + squote(a.v[0]) + of + " : regex " + squote(a.v[0]) + " is invalid (error=" +
                   err.substr(0, at) + ", erroffset=" + (at == std::string::npos ? "0" : err.substr(at + 11)) + ")";
        }
        if (g_conv_cfg != nullptr && g_conv_cfg->find_regsub(in) == nullptr) g_conv_cfg->regsubs.push_back(std::move(rs));
    }
    if (sig.types.find('T') != std::string_view::npos && g_conv_st != nullptr && g_conv_st->cur_px != nullptr &&
        g_conv_st->cur_line != nullptr) {  // the table: known once every section is read
        const std::size_t k = sig.types.find('T');
        const ProxyDraft& px = *g_conv_st->cur_px;
        std::string where = " for sample fetch keyword " + squote(fetch.substr(0, fetch.find('('))) + " in " +
                            g_conv_st->cur_line->words[0] + " expression in proxy " + squote(px.name) + ".";
        if (g_conv_in_acl) where = " for ACL keyword " + squote(fetch.substr(0, fetch.find('('))) + " in proxy " + squote(px.name) + ".";
        g_conv_st->fetch_refs.push_back({"table:" + name + ":" + std::to_string(k + 1),
                                         k < nargs ? std::string(a.v[k]) : std::string(), px.name, where, has_be(px),
                                         g_conv_st->cur_line->at});
    }
    if (sig.types == "V" && nargs == 1 && !a.v[0].empty() && a.v[0] != "-" && !sint_arg(a.v[0]) && !scoped_var(a.v[0]))
        return bad_args + "expects an integer or a variable name";
    if (name == "sha2" && nargs == 1) {
        const long bits = std::stol(std::string(a.v[0]));
        if (bits != 224 && bits != 256 && bits != 384 && bits != 512)
            return bad_args + "Unsupported number of bits: " + squote(a.v[0]);
    }
    if (name == "digest") {
        const std::string alg = nargs == 1 ? std::string(a.v[0]) : std::string();
        EVP_MD* md = alg.empty() ? nullptr : EVP_MD_fetch(nullptr, alg.c_str(), nullptr);  // as the rules fetch it
        EVP_MD_free(md);
        if (md == nullptr) return bad_args + "algorithm must be a valid OpenSSL message digest name.";
    }
    if (name == "json" && nargs == 1) {
        const std::string_view m = a.v[0];
        if (!m.empty() && m != "ascii" && m != "utf8" && m != "utf8s" && m != "utf8p" && m != "utf8ps")
            return bad_args + "Unexpected input code type. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p' and 'utf8ps'";
    }
    if (name == "concat" && nargs >= 2 && !a.v[1].empty() && !scoped_var(a.v[1]))
        return bad_args + "failed to register variable name " + squote(a.v[1]);
    return {};
}

std::optional<std::string> typed_fetch_problem(std::string_view expr) {
    const std::size_t paren = expr.find('(');
    const std::string name(expr.substr(0, paren));
    struct FetchSig {
        std::string_view name;
        unsigned max, min;
        std::string_view types;  // I integer, S string
    };
    static constexpr FetchSig kFetches[] = {
        {"int", 1, 1, "I"},        {"str", 1, 0, "S"},        {"bool", 1, 0, "S"},     {"bin", 1, 0, "S"},
        {"req.hdr_cnt", 1, 0, "S"}, {"hdr_cnt", 1, 0, "S"},   {"req.hdr_ip", 2, 0, "SI"}, {"hdr_ip", 2, 0, "SI"},
        {"res.hdr_cnt", 1, 0, "S"}, {"res.hdr_ip", 2, 0, "SI"},
        {"base", 0, 0, ""},        {"base32", 0, 0, ""},      {"base32+src", 0, 0, ""}, {"url_param", 2, 0, "SS"},
        {"urlp", 2, 0, "SS"},      {"req.body_size", 0, 0, ""}, {"nbsrv", 1, 0, "S"},    {"srv_is_up", 1, 0, "S"},
        {"req.len", 0, 0, ""},     {"req.payload", 2, 2, "II"}, {"res.len", 0, 0, ""},  {"res.payload", 2, 2, "II"},
    };
    const FetchSig* sig = nullptr;
    for (const FetchSig& f : kFetches)
        if (f.name == name) sig = &f;
    if (sig == nullptr) return std::nullopt;
    const std::string in = paren == std::string_view::npos ? std::string() : std::string(expr.substr(paren + 1));
    ConvArgs a;
    if (paren != std::string_view::npos && read_conv_args(in, a) < 0) return "fetch method " + squote(name) + " : the arguments are too long";
    const std::size_t nargs = a.n == 1 && a.v[0].empty() && a.closed ? 0 : std::size_t(a.n);
    const std::string fm = "fetch method " + squote(name) + " : ";
    if (nargs > sig->max) {
        if (sig->max == 0) return fm + "expected ')' before " + squote(in + "]");
        return fm + "expected ')' before " + squote(in.substr(a.end[sig->max - 1]) + "]");
    }
    if (paren != std::string_view::npos && !a.closed) return fm + "expected ')'";
    for (std::size_t k = 0; k < nargs; ++k)
        if (sig->types[k] == 'I' && !sint_arg(a.v[k]))
            return fm + "failed to parse " + squote(a.v[k]) + " as type 'integer' at position " + std::to_string(k + 1);
    if (nargs < sig->min) return fm + "expected type 'integer' at position 1, but got nothing";
    const std::string bad = "invalid args in fetch method " + squote(name) + " : ";
    if (name == "bool") {
        std::string b = nargs ? std::string(a.v[0]) : std::string();
        for (char& c : b) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (b != "true" && b != "false" && b != "1" && b != "0") return bad + "Expects 'true', 'false', '0' or '1'";
    }
    if (name == "bin") {
        const std::string_view h = nargs ? a.v[0] : std::string_view();
        if (h.size() % 2 != 0) return bad + "an even number of hex digit is expected";
        for (char c : h)
            if (!std::isxdigit(static_cast<unsigned char>(c))) return bad + "invalid hex digit " + squote(std::string(1, c));
    }
    if (name == "nbsrv" || name == "srv_is_up") {
        if (name == "srv_is_up" && (nargs == 0 || a.v[0].empty() || a.v[0].back() == '/'))
            return "missing server name in arg 1 of sample fetch keyword 'srv_is_up'";
        if (g_conv_st != nullptr && g_conv_st->cur_px != nullptr && g_conv_st->cur_line != nullptr) {
            const ProxyDraft& px = *g_conv_st->cur_px;
            g_conv_st->fetch_refs.push_back({name, nargs ? std::string(a.v[0]) : std::string(), px.name,
                                             g_conv_st->cur_line->words[0], has_be(px), g_conv_st->cur_line->at});
        }
    }
    if ((name.ends_with("hdr_cnt") || name.ends_with("hdr_ip")) && nargs > 0 &&
        !http::is_token(a.v[0]))
        return "invalid header name " + squote(a.v[0]);
    return std::string();
}

std::string converter_problem(std::string_view conv, std::string_view after, std::string_view fetch) {
    const std::size_t paren = conv.find('(');
    const std::string name(conv.substr(0, paren));
    const std::optional<ConvSig> sig = conv_sig(name);
    if (!sig) return "unknown converter " + squote(name);
    const std::string in = paren == std::string_view::npos ? std::string() : std::string(conv.substr(paren + 1));
    ConvArgs a;
    if (paren != std::string_view::npos && read_conv_args(in, a) < 0)
        return "invalid args" + std::string(" in converter ") + squote(name) + " : the arguments are too long";
    const std::size_t nargs = a.n == 1 && a.v[0].empty() && a.closed ? 0 : std::size_t(a.n);
    return conv_args_problem(*sig, a, nargs, in, after, paren != std::string_view::npos, fetch);
}

}  // namespace es::config::detail
