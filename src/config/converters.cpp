// Sample expressions' converters at load: where each one ends (HAProxy's argument lists, with their
// quotes), and the checks of base64, url_dec, field, word and regsub with HAProxy 2.6's messages
// (sample.c, arg.c: make_arg_list). A regsub's regex is compiled here, once, into Config::regsubs.
#include <charconv>

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

namespace {

bool int_arg(std::string_view s, long& v) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

void set_converter_registry(Config* cfg) { g_conv_cfg = cfg; }

bool is_converter(std::string_view name) {
    return name == "lower" || name == "upper" || name == "base64" || name == "url_dec" || name == "field" ||
           name == "word" || name == "regsub" || name == "length";
}

std::string converter_problem(std::string_view conv, std::string_view after, std::string_view fetch) {
    const std::size_t paren = conv.find('(');
    const std::string name(conv.substr(0, paren));
    if (!is_converter(name)) return "unknown converter " + squote(name);
    const std::string in = paren == std::string_view::npos ? std::string() : std::string(conv.substr(paren + 1));
    ConvArgs a;
    if (paren != std::string_view::npos && read_conv_args(in, a) < 0)
        return "invalid args" + std::string(" in converter ") + squote(name) + " : the arguments are too long";
    const std::size_t nargs = a.n == 1 && a.v[0].empty() && a.closed ? 0 : std::size_t(a.n);
    const std::string head = "invalid arg ";
    const std::string in_conv = " in converter " + squote(name) + " : ";
    auto expected_paren = [&](std::size_t argno, std::size_t at) {
        return head + std::to_string(argno) + in_conv + "expected ')' before " + squote(in.substr(at) + std::string(after) + "]");
    };
    std::size_t max = 0, min = 0;
    if (name == "field" || name == "word") max = 3, min = 2;
    else if (name == "regsub") max = 3, min = 2;
    else if (name == "url_dec") max = 1;
    if (nargs > max) {
        // the arguments past the last one taken: HAProxy names the last and shows the rest
        if (max == 0) return expected_paren(1, 0);
        return expected_paren(max, a.end[max - 1]);
    }
    if (paren != std::string_view::npos && !a.closed) return head + std::to_string(nargs) + in_conv + "expected ')'";
    // HAProxy reads the arguments in order, each checked for its type, then counts them
    if (name == "field" || name == "word" || name == "url_dec") {
        long iv = 0;
        for (std::size_t k : {std::size_t(0), std::size_t(2)})
            if (k < nargs && (k == 0 || name != "url_dec") && !int_arg(a.v[k], iv))
                return head + std::to_string(k + 1) + in_conv + "failed to parse " + squote(a.v[k]) +
                       " as type 'integer' at position " + std::to_string(k + 1);
    }
    if (nargs < min) {
        if (nargs == 0)
            return head + "1" + in_conv + "expected type " + (name == "regsub" ? "'regex'" : "'integer'") +
                   " at position 1, but got nothing";
        return head + std::to_string(nargs + 1) + in_conv + "missing arguments (got " + std::to_string(nargs) + "/" +
               std::to_string(min) + "), type 'string' expected";
    }
    long v = 0;
    if (name == "url_dec") return {};
    if (name == "field" || name == "word") {
        (void)int_arg(a.v[0], v);
        if (v == 0) return "invalid args" + in_conv + "Unexpected value 0 for index";
        if (a.v[1].empty()) return "invalid args" + in_conv + "Empty separators list";
        return {};
    }
    if (name == "regsub") {
        bool icase = false, global = false;
        if (nargs == 3)
            for (char f : a.v[2]) {
                if (f == 'i') icase = true;
                else if (f == 'g') global = true;
                else return "invalid args" + in_conv + "invalid regex flag '" + std::string(1, f) + "', only 'i' and 'g' are supported";
            }
        const std::string of = " in arg 1 of conversion keyword 'regsub' for sample fetch keyword " +
                               squote(fetch.substr(0, fetch.find('(')));
        if (a.v[0].empty()) return "missing regex" + of;
        Regsub rs;
        rs.args = in;
        rs.global = global;
        if (std::string err = rs.re.compile(a.v[0], icase); !err.empty()) {
            const auto at = err.rfind(" at offset ");
            return "error in regex " + squote(a.v[0]) + of + " : regex " +
                   squote(a.v[0]) + " is invalid (error=" + err.substr(0, at) +
                   ", erroffset=" + (at == std::string::npos ? "0" : err.substr(at + 11)) + ")";
        }
        if (g_conv_cfg != nullptr && g_conv_cfg->find_regsub(in) == nullptr) g_conv_cfg->regsubs.push_back(std::move(rs));
        return {};
    }
    if (nargs > 0) return expected_paren(1, 0);  // lower, upper, base64 take none
    return {};
}

}  // namespace es::config::detail
