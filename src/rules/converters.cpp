// Converters of sample expressions, besides `map*` (rules.cpp): lower, upper, base64, url_dec, field,
// word, regsub, with HAProxy 2.6's semantics (sample.c / http_conv.c; README.md "Converters").
// Arguments are read from the expression's text as HAProxy's make_arg_list reads them (the
// configuration checked them at load), into a fixed buffer: nothing is allocated per request.
#include <charconv>
#include <cstring>
#include <vector>

#include "internal.hpp"

namespace es::rules::detail {

namespace {

bool is_sep(char c, std::string_view seps) {
    return std::memchr(seps.data(), c, seps.size()) != nullptr;
}

// field(<index>,<separators>[,<count>]): HAProxy's sample_conv_field. False: no sample.
bool field(std::string_view v, long idx, std::string_view seps, long count, std::string_view& out) {
    if (idx == 0) return false;
    const char* const b = v.data();
    const char* const e = b + v.size();
    long f;
    const char *start, *end;
    if (idx < 0) {
        f = -1;
        start = end = e;
        for (; start > b; --start) {
            if (!is_sep(start[-1], seps)) continue;
            if (f == idx) {
                if (count == 1) goto found;
                if (count > 1) --count;
            } else {
                end = start - 1;
                --f;
            }
        }
    } else {
        f = 1;
        start = end = b;
        for (; end < e; ++end) {
            if (!is_sep(*end, seps)) continue;
            if (f == idx) {
                if (count == 1) goto found;
                if (count > 1) --count;
            } else {
                start = end + 1;
                ++f;
            }
        }
    }
    if (f != idx) return false;
found:
    out = std::string_view(start, std::size_t(end - start));
    return true;
}

// word(<index>,<separators>[,<count>]): HAProxy's sample_conv_word (separators in a row count as one;
// a word that is not there is an empty sample, not none).
std::string_view word(std::string_view v, long idx, std::string_view seps, long count) {
    if (idx == 0) return {};
    const char* const b = v.data();
    const char* const e = b + v.size();
    long w = 0;
    bool inword = false;
    const char *start, *end;
    if (idx < 0) {
        start = end = e;
        for (; start > b; --start) {
            const bool sep = is_sep(start[-1], seps);
            if (!inword) {
                if (!sep) {
                    if (w != idx) {
                        --w;
                        end = start;
                    }
                    inword = true;
                }
            } else if (sep) {
                if (w == idx) {
                    if (count == 1) goto found;
                    if (count > 1) --count;
                }
                inword = false;
            }
        }
    } else {
        start = end = b;
        for (; end < e; ++end) {
            const bool sep = is_sep(*end, seps);
            if (!inword) {
                if (!sep) {
                    if (w != idx) {
                        ++w;
                        start = end;
                    }
                    inword = true;
                }
            } else if (sep) {
                if (w == idx) {
                    if (count == 1) goto found;
                    if (count > 1) --count;
                }
                inword = false;
            }
        }
    }
    if (w != idx) return {};
found:
    return std::string_view(start, std::size_t(end - start));
}

long to_long(std::string_view s, long def) {
    long v = def;
    if (s.empty()) return def;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc() ? v : def;
}

// The input (the value written since `mark`, as cast), moved to a per-thread scratch so the writer can
// overwrite it.
std::string_view take(ArenaWriter& w, std::size_t mark, std::string_view input) {
    thread_local std::string scratch;
    scratch.assign(input);
    w.rewind(mark);
    return scratch;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64(ArenaWriter& w, std::string_view in) {
    char out[4];
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const unsigned x = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out[0] = kB64[x >> 18], out[1] = kB64[(x >> 12) & 63], out[2] = kB64[(x >> 6) & 63], out[3] = kB64[x & 63];
        w.add(std::string_view(out, 4));
    }
    if (i < in.size()) {
        unsigned x = (unsigned char)in[i] << 16;
        if (i + 1 < in.size()) x |= (unsigned char)in[i + 1] << 8;
        out[0] = kB64[x >> 18], out[1] = kB64[(x >> 12) & 63];
        out[2] = i + 1 < in.size() ? kB64[(x >> 6) & 63] : '=';
        out[3] = '=';
        w.add(std::string_view(out, 4));
    }
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// HAProxy's url_decode: %XX, '+' as a space in a form (or after a '?'); a bad escape: no sample.
bool url_dec(ArenaWriter& w, std::string_view in, bool form) {
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '\0') break;  // HAProxy's decoder reads a C string
        if (c == '+') {
            c = form ? ' ' : '+';
        } else if (c == '%') {
            const int hi = i + 1 < in.size() ? hexval(in[i + 1]) : -1;
            const int lo = i + 2 < in.size() ? hexval(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) return false;
            c = char(hi << 4 | lo);
            i += 2;
        } else if (c == '?') {
            form = true;
        }
        w.add(std::string_view(&c, 1));
    }
    return true;
}

// regsub(<regex>,<subst>[,<flags>]): HAProxy's sample_conv_regsub, each match (the first without `g`)
// replaced by <subst> with \0..\9 (exp_replace); later rounds do not start a line.
bool regsub(ArenaWriter& w, std::string_view in, const core::Regex& re, bool global, std::string_view subst) {
    thread_local std::vector<std::string_view> g;
    std::size_t start = 0;
    bool notbol = false;
    for (;;) {
        const bool found = (global || !notbol) && re.match(in.substr(start), g, notbol);
        const std::size_t so = found ? std::size_t(g[0].data() - (in.data() + start)) : in.size() - start;
        w.add(in.substr(start, so));
        if (!found) break;
        if (!put_replacement(w, subst, g)) return false;
        if (start >= in.size()) break;
        std::size_t eo = so + g[0].size();
        if (eo == 0) {  // an empty match at the start: keep that character and move on
            w.add(in.substr(start, 1));
            eo = 1;
        }
        start += eo;
        notbol = true;
    }
    return true;
}

}  // namespace

bool convert(const Txn& t, std::string_view name, std::uint8_t id, const config::ConvArgs& a, std::string_view c,
             ArenaWriter& w, std::size_t mark, bool& present) {
    if (id != 0) return convert_typed(t, id, a, w, mark, present);
    const std::size_t paren = c.find('(');
    if (name == "lower" || name == "upper") {
        if (present) {
            if (g_smp_type == SmpType::Bin) w.rewind(mark + smp_str(w.since(mark)).size());
            w.change_case(mark, name == "upper");
            g_smp_type = SmpType::Str;
        }
        return true;
    }
    if (name != "base64" && name != "url_dec" && name != "field" && name != "word" && name != "regsub" &&
        name != "length")
        return false;
    if (!present) return true;
    if (name == "length") {  // the value's length in bytes (an integer; bytes end at a NUL)
        const std::size_t len = smp_str(w.since(mark)).size();
        w.rewind(mark);
        w.add_uint(len);
        g_smp_type = SmpType::Int;
        return true;
    }
    char bb[16];
    const std::string_view in =
        take(w, mark, name == "base64" ? smp_bin(w.since(mark), bb) : smp_str(w.since(mark)));
    g_smp_type = SmpType::Str;
    if (name == "base64") {
        base64(w, in);
    } else if (name == "url_dec") {
        present = url_dec(w, in, a.n > 0 && to_long(a.v[0], 0) != 0);
        if (!present) w.rewind(mark);
    } else if (name == "field") {
        std::string_view out;
        present = a.n >= 2 && field(in, to_long(a.v[0], 0), a.v[1], a.n > 2 ? to_long(a.v[2], 1) : 1, out);
        if (present) w.add(out);
    } else if (name == "word") {
        if (a.n >= 2) w.add(word(in, to_long(a.v[0], 0), a.v[1], a.n > 2 ? to_long(a.v[2], 1) : 1));
    } else {  // regsub: its regex was compiled at load
        const config::Regsub* rs = t.cfg != nullptr ? t.cfg->find_regsub(c.substr(paren + 1)) : nullptr;
        if (rs == nullptr || a.n < 2) return false;
        if (!regsub(w, in, rs->re, rs->global, a.v[1])) {
            w.rewind(mark);
            present = false;
        }
    }
    return true;
}

}  // namespace es::rules::detail
