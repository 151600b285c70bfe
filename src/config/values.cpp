// Log-format strings used as values (HAProxy 8.2.4): header values of set-header/add-header, set-path,
// http-request redirect targets and the 'hdr' lines of replies. Only what the request path evaluates is
// accepted there; anything else is refused with the construct named.
#include <cctype>

#include "edgeshard/http/parser.hpp"
#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

namespace {

std::string supported_in(FmtUse use) {
    switch (use) {
        case FmtUse::Request:
            return "%[src], %[src_port], %[dst], %[dst_port], %[path], %[url], %[query], %[method], "
                   "%[hdr(<name>)], %[req.hdr(<name>)], %[req.fhdr(<name>)], %[var(<scope>.<name>)], the client certificate's %[ssl_c_*] "
                   "(see 'acl'), %ci, %cp, %fi, %fp, %f, %b, and %% for a literal '%'";
        case FmtUse::Response:
        case FmtUse::After:
            return "%[src], %[src_port], %[dst], %[dst_port], %[hdr(<name>)] and %[res.hdr(<name>)] (the "
                   "response's headers), %[status], %[var(<scope>.<name>)], %ci, %cp, %fi, %fp, %f, %b, and %% "
                   "for a literal '%'";
        case FmtUse::Log:
            return "%[var(<scope>.<name>)], %[src], %[src_port], %[dst], %[dst_port], the TLS fetches, %[unique-id], "
                   "with converters; %[method], %[status], %[capture.req.method|uri|ver], %[capture.req.hdr(<n>)] "
                   "as they are";
        case FmtUse::Reply:
            break;
    }
    return "literal text and %% for a literal '%' (the reply is built once, at start)";
}

// Why a sample expression written in a value cannot be used there; empty when it is evaluated.
std::string sample_problem(std::string_view expr, FmtUse use, bool action_arg = false) {
    if (use == FmtUse::Reply) return "sample expressions are not evaluated in replies in this version";
    // the client certificate (rules.cpp, sample()): binary fetches only through `hex`
    if (expr == "ssl_c_serial,hex" || expr == "ssl_c_sha1,hex") return {};
    // converters (rules.cpp sample(), converters.cpp): the fetch, then each converter, split where HAProxy's
    // argument lists end; a map file is read now, a regsub's regex compiled
    const std::size_t fetch_end = sample_item_end(expr, 0, ',');
    for (std::size_t at = fetch_end; at < expr.size();) {
        const std::size_t end = sample_item_end(expr, at + 1, ',');
        const std::string_view conv = expr.substr(at + 1, end - at - 1);
        const std::string_view after = expr.substr(end);
        at = end;
        if (conv.empty()) continue;  // HAProxy accepts ",," (an empty converter is none)
        if (!conv.starts_with("map")) {
            if (std::string why = converter_problem(conv, after, expr.substr(0, fetch_end)); !why.empty()) return why;
            continue;
        }
        MapMatch match{};
        bool int_out = false, has_def = false;
        std::string_view file, def;
        if (!parse_map_converter(conv, match, int_out, file, def, has_def)) {
            const std::string name(conv.substr(0, conv.find('(')));
            if (conv.find('(') == std::string_view::npos && parse_map_converter(std::string(conv) + "()", match, int_out, file, def, has_def))
                return "invalid args in converter " + squote(name) + " : failed to open pattern file <>";
            return "unknown converter " + squote(name);
        }
        if (def.find(',') != std::string_view::npos)
            return "invalid arg 2 in converter " + squote(std::string(conv.substr(0, conv.find('(')))) +
                   " : a map converter takes a file and a default value";
        if (int_out && has_def && !parse_integer(def))
            return "invalid arg 2 in converter " + squote(std::string(conv.substr(0, conv.find('(')))) +
                   " : failed to parse " + squote(def) + " as type 'integer'";
        std::size_t index = 0;
        if (std::string err = use_map(std::string(file), match, int_out, index); !err.empty())
            return "invalid args in converter " + squote(std::string(conv.substr(0, conv.find('(')))) + " : " + err;
    }
    expr = expr.substr(0, fetch_end);
    if (expr == "ssl_c_serial" || expr == "ssl_c_sha1")
        return squote(expr) + " is binary: write " + squote(std::string(expr) + ",hex") + " for its hexadecimal form";
    for (std::string_view f : {"ssl_c_used", "ssl_fc_has_crt", "ssl_c_verify", "ssl_c_err", "ssl_c_ca_err",
                               "ssl_c_notbefore", "ssl_c_notafter", "ssl_c_s_dn", "ssl_c_i_dn", "ssl_fc",
                               "ssl_fc_sni", "ssl_fc_protocol", "ssl_fc_cipher", "ssl_fc_alpn"})
        if (expr == f) return {};
    for (std::string_view f : {"ssl_c_s_dn(", "ssl_c_i_dn("}) {
        if (!expr.starts_with(f)) continue;
        if (expr.back() != ')') return "missing ')' in " + squote(expr);
        const auto arg = expr.substr(f.size(), expr.size() - f.size() - 1);
        const auto c1 = arg.find(',');
        if (c1 != std::string_view::npos && arg.find(',', c1 + 1) != std::string_view::npos)
            return "the <format> argument of " + squote(expr) + " is not supported in this version";
        if (c1 != std::string_view::npos) {
            const auto n = parse_integer(arg.substr(c1 + 1));
            if (!n) return "the occurrence in " + squote(expr) + " is not an integer";
        }
        for (char ch : arg.substr(0, c1))
            if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_')
                return "invalid DN entry name in " + squote(expr);
        return {};
    }
    if (expr == "src" || expr == "src_port" || expr == "dst" || expr == "dst_port") return {};
    // HAProxy's words for a fetch of the other direction
    // (HAProxy's two phrasings: a log-format value's, and an action's expression argument's)
    auto unavailable = [&](std::string_view needs) {
        if (action_arg)
            return "fetch method " + squote(expr) + " extracts information from '" + std::string(needs) +
                   "', none of which is available here.";
        return "sample fetch <" + std::string(expr) + "]> may not be reliably used here because it needs '" +
               std::string(needs) + "' which is not available here";
    };
    if (expr == "unique-id" || expr == "fe_name" || expr == "be_name") return {};
    if (expr == "uuid" || expr.starts_with("uuid(")) {
        if (expr == "uuid" || expr == "uuid()" || expr == "uuid(4)") return {};
        if (expr.back() != ')') return "failed to parse sample expression <" + std::string(expr) + "> : fetch method 'uuid' : expected ')'";
        return "failed to parse sample expression <" + std::string(expr) + "]> : invalid args in fetch method 'uuid' : Unsupported UUID version: '" +
               std::string(expr.substr(5, expr.size() - 6)) + "'";
    }
    if (expr == "status") {
        if (use == FmtUse::Request) return unavailable("HTTP response headers");
        return {};
    }
    if (expr.starts_with("var(")) {
        if (expr.back() != ')') return "missing ')' in " + squote(expr);
        bool sess = false;
        return var_name_problem(expr.substr(4, expr.size() - 5), sess);
    }
    if (expr == "path" || expr == "url" || expr == "query" || expr == "method") {
        if (use == FmtUse::Request) return {};
        return unavailable("HTTP request headers");
    }

    if (expr.starts_with("req.fhdr(")) {
        if (expr.back() != ')') return "missing ')' in " + squote(expr);
        if (!http::is_token(expr.substr(9, expr.size() - 10))) return "invalid header name " + squote(expr.substr(9, expr.size() - 10));
        if (use != FmtUse::Request) return unavailable("HTTP request headers");
        return {};
    }
    for (std::string_view prefix : {"hdr(", "req.hdr(", "res.hdr("}) {
        if (expr.substr(0, prefix.size()) != prefix) continue;
        if (expr.back() != ')') return "missing ')' in " + squote(expr);
        const auto name = expr.substr(prefix.size(), expr.size() - prefix.size() - 1);
        if (name.find(',') != std::string_view::npos)
            return "header occurrence arguments are not supported in this version; write " +
                   squote(std::string(prefix) + std::string(name.substr(0, name.find(','))) + ")") +
                   " (the value's last element, as HAProxy's default)";
        if (!http::is_token(name)) return "invalid header name " + squote(name);
        if (use == FmtUse::Log)
            return unavailable(prefix == "res.hdr(" ? "HTTP response headers" : "HTTP request headers");
        if (prefix == "req.hdr(" && use != FmtUse::Request)
            return unavailable("HTTP request headers") + " (use 'hdr' or 'res.hdr' for the response's headers)";
        if (prefix == "res.hdr(" && use == FmtUse::Request)
            return unavailable("HTTP response headers");
        return {};
    }
    if (std::optional<std::string> why = typed_fetch_problem(expr)) {
        // req.* (and hdr_cnt / hdr_ip, their other names) read the request, res.hdr_* the response (HAProxy 2.6's)
        const bool request = (expr.starts_with("req.") && !expr.starts_with("req.len") && !expr.starts_with("req.payload")) ||
                             expr.starts_with("hdr_") || expr.starts_with("base");
        const bool response = expr.starts_with("res.hdr");
        if (why->empty() && request && use != FmtUse::Request) return unavailable("HTTP request headers");
        if (why->empty() && response && use == FmtUse::Request) return unavailable("HTTP response headers");
        return *why;
    }
    const auto name = expr.substr(0, expr.find('('));
    {  // the stick counters (sc_*, sc<N>_*, src_*): integers read from the tables
        Acl a;
        const std::size_t paren = expr.find('(');
        if (paren != std::string_view::npos && expr.back() != ')') return "missing ')' in " + squote(expr);
        const std::string arg = paren == std::string_view::npos ? std::string() : std::string(expr.substr(paren + 1, expr.size() - paren - 2));
        if (const std::optional<std::string> why = stick_fetch_spec(std::string(name), arg, a)) {
            if (!why->empty()) return "failed to parse sample expression <" + std::string(expr) + "]> : " + *why;
            if (g_conv_st != nullptr && g_conv_st->cur_px != nullptr && g_conv_st->cur_line != nullptr && !a.arg.empty())
                g_conv_st->fetch_refs.push_back({"table:" + std::string(name) + ":" + (a.stick_sc >= 0 ? "2" : "1"), a.arg,
                                                 g_conv_st->cur_px->name,
                                                 " in " + g_conv_st->cur_line->words[0] + " expression in proxy " +
                                                     squote(g_conv_st->cur_px->name) + ".",
                                                 false, g_conv_st->cur_line->at});
            return {};
        }
    }
    // HAProxy's words for a fetch it does not know, which are also this version's for one it does not evaluate
    return "failed to parse sample expression <" + std::string(expr) + "]> : unknown fetch method " + squote(name) +
           " (sample fetch " + squote(name) + " is not evaluated in this version)";
}

}  // namespace

std::string sample_expr_problem(std::string_view expr, FmtUse use, bool action_arg) {
    return sample_problem(expr, use, action_arg);
}

void check_log_samples(const Line& line, const std::string& fmt) {
    for (std::size_t i = fmt.find("%"); i != std::string::npos; i = fmt.find('%', i + 1)) {
        std::size_t j = i + 1;
        if (j < fmt.size() && fmt[j] == '%') {
            i = j;
            continue;
        }
        if (j < fmt.size() && fmt[j] == '{') {
            const auto c = fmt.find('}', j);
            if (c == std::string::npos) return;  // the format's own compilation says what is wrong
            j = c + 1;
        }
        if (j >= fmt.size() || fmt[j] != '[') continue;
        const std::size_t close = sample_item_end(fmt, j + 1, ']');
        const std::string expr = fmt.substr(j + 1, (close >= fmt.size() ? fmt.size() : close) - j - 1);
        if (expr.empty() || expr.find(' ') != std::string::npos) continue;  // the compilation's message
        if (expr.starts_with("capture.req.hdr(") || expr.starts_with("capture.res.hdr(")) continue;
        // known at log time from what the exchange kept: bare, without converters
        for (std::string_view bare : {"method", "status", "capture.req.method", "capture.req.uri", "capture.req.ver"}) {
            if (expr == bare) goto next;
            if (expr.starts_with(std::string(bare) + ","))
                fail(line.at, "failed to parse log-format : converters on " + squote(bare) +
                                  " are not evaluated in a log format in this version");
        }
        if (std::string why = sample_problem(expr, FmtUse::Log); !why.empty()) {
            if (why.starts_with("sample fetch <") || why.starts_with("failed to parse"))
                fail(line.at, "failed to parse log-format : " + why + ".");
            fail(line.at, "failed to parse log-format : failed to parse sample expression <" + expr + "]> : " + why + ".");
        }
    next:;
    }
}

void check_unique_id_format(const Line& line, const std::string& v) {
    auto refuse = [&](const std::string& why) { fail(line.at, "failed to parse unique-id : " + why + "."); };
    for (std::size_t i = v.find('%'); i != std::string::npos; i = v.find('%', i)) {
        std::size_t j = i + 1;
        if (j < v.size() && v[j] == '%') {
            i = j + 1;
            continue;
        }
        if (j < v.size() && v[j] == '{') {
            const auto close = v.find('}', j);
            if (close == std::string::npos) refuse("missing '}' after '%{'");
            j = close + 1;
            if (j < v.size() && v[j] == 'o' && (j + 1 >= v.size() || !std::isalpha(static_cast<unsigned char>(v[j + 1])))) {
                i = j + 1;
                continue;
            }
        }
        if (j < v.size() && v[j] == '[') {
            const auto close = sample_item_end(v, j + 1, ']');
            if (close >= v.size()) refuse("missing ']' after " + squote(v.substr(j + 1)));
            const std::string expr = v.substr(j + 1, close - j - 1);
            if (expr == "unique-id" || expr.starts_with("unique-id,"))
                refuse("the id cannot be built from itself ('unique-id' in its own format)");
            if (std::string why = sample_problem(expr, FmtUse::Request); !why.empty()) {
                if (why.starts_with("sample fetch <") || why.starts_with("failed to parse")) refuse(why);
                refuse("failed to parse sample expression <" + expr + "]> : " + why);
            }
            i = close + 1;
            continue;
        }
        std::size_t k = j;
        while (k < v.size() && std::isalpha(static_cast<unsigned char>(v[k]))) ++k;
        const std::string var = v.substr(j, k - j);
        if (var != "ci" && var != "cp" && var != "fi" && var != "fp" && var != "Ts" && var != "rt" && var != "pid") {
            if (var == "ID" || var == "ms" || var == "H" || var == "t" || var == "T")
                refuse("log-format variable '%" + var + "' is not available in a unique id in this version (use %ci "
                       "%cp %fi %fp %Ts %rt %pid and samples)");
            refuse("no such format variable " + squote(var) +
                   ". If you wanted to emit the '%' character verbatim, you need to use '%%'");
        }
        i = k;
    }
}

// A log-format string (HAProxy 8.2.4) as a header value, redirect target or path: every '%' construct
// must be one the request path evaluates. Anything else is refused: it would be sent as written (or as
// something else), while HAProxy sends its value. what names the rule in messages.
void check_log_format(const Line& line, const std::string& value, FmtUse use, const std::string& what) {
    auto refuse = [&](const std::string& construct, const std::string& why) {
        fail(line.at, what + ": " + squote(construct) + " in " + squote(value) + ": " + why +
                          "; supported here: " + supported_in(use));
    };
    for (std::size_t i = value.find('%'); i != std::string::npos; i = value.find('%', i)) {
        if (i + 1 >= value.size()) refuse("%", "truncated after '%' (write '%%' for a literal '%')");
        const char c = value[i + 1];
        if (c == '%') {
            i += 2;
        } else if (c == '[') {
            // the expression ends at the first ']' after it (a ']' in an argument list is the argument's)
            const auto close = sample_item_end(value, i + 2, ']');
            if (close >= value.size()) refuse(value.substr(i), "missing ']' after " + squote(value.substr(i + 2)));
            const std::string expr = value.substr(i + 2, close - i - 2);
            if (const std::string why = sample_problem(expr, use); !why.empty())
                refuse(value.substr(i, close - i + 1), why);
            i = close + 1;
        } else if (c == '{') {
            const auto close = value.find('}', i + 2);
            refuse(value.substr(i, close == std::string::npos ? std::string::npos : close - i + 1),
                   "log-format flags ('%{...}') are not supported in this version");
        } else if (std::isalpha(static_cast<unsigned char>(c))) {
            std::size_t j = i + 1;
            while (j < value.size() && std::isalpha(static_cast<unsigned char>(value[j]))) ++j;
            const std::string var = value.substr(i + 1, j - i - 1);
            if (use == FmtUse::Reply || (var != "ci" && var != "cp" && var != "fi" && var != "fp" && var != "f" && var != "b"))
                refuse("%" + var, use == FmtUse::Reply
                                      ? "variables are not evaluated in replies in this version"
                                      : "log-format variable '%" + var +
                                            "' is not evaluated here in this version (write '%%' for "
                                            "a literal '%')");
            i = j;
        } else {
            refuse(value.substr(i, 2), "unexpected character after '%' (write '%%' for a literal '%')");
        }
    }
}

}  // namespace es::config::detail
