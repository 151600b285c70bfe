// Totals carried across a reload: extraction, the es-totals text format, sum, and application to
// a merged snapshot. Contracts and the format are in include/edgeshard/stats/carry.hpp.
//
// Every operation walks one field list per value type (visit_fields below). A list is variadic
// over the objects it visits, so the same list drives export (one object), import (one object)
// and add/apply (two objects at once): the wire names, the carried set and the combine rule of a
// field are written once.
#include "edgeshard/stats/carry.hpp"

#include <algorithm>
#include <charconv>
#include <concepts>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "edgeshard/core/assert.hpp"

namespace es::stats {

namespace {

enum class Kind { Sum, Max };

template <typename V, typename T>
concept Is = std::same_as<std::remove_const_t<V>, T>;

template <typename F, typename... V>
void visit_hrsp(F& f, V&... v) {
    f("hrsp_1xx", Kind::Sum, v.hrsp[0]...);
    f("hrsp_2xx", Kind::Sum, v.hrsp[1]...);
    f("hrsp_3xx", Kind::Sum, v.hrsp[2]...);
    f("hrsp_4xx", Kind::Sum, v.hrsp[3]...);
    f("hrsp_5xx", Kind::Sum, v.hrsp[4]...);
    f("hrsp_other", Kind::Sum, v.hrsp[5]...);
}

// Sums and sample counts both carried: the average over every generation's samples is then
// (own_sum + carried_sum) / (own_n + carried_n), the same exact mean the shard merge computes.
template <typename F, typename... V>
void visit_times(F& f, V&... v) {
    f("qtime_sum", Kind::Sum, v.qtime.sum...);
    f("qtime_n", Kind::Sum, v.qtime.n...);
    f("ctime_sum", Kind::Sum, v.ctime.sum...);
    f("ctime_n", Kind::Sum, v.ctime.n...);
    f("rtime_sum", Kind::Sum, v.rtime.sum...);
    f("rtime_n", Kind::Sum, v.rtime.n...);
    f("ttime_sum", Kind::Sum, v.ttime.sum...);
    f("ttime_n", Kind::Sum, v.ttime.n...);
}

// Frontend: every cumulative counter and smax; scur is a gauge and is left out.
template <typename F, typename... V>
requires(Is<V, FrontendValues>&&...) void visit_fields(F&& f, V&... v) {
    f("smax", Kind::Max, v.smax...);
    f("stot", Kind::Sum, v.stot...);
    f("bin", Kind::Sum, v.bin...);
    f("bout", Kind::Sum, v.bout...);
    f("dcon", Kind::Sum, v.dcon...);
    f("dses", Kind::Sum, v.dses...);
    f("ereq", Kind::Sum, v.ereq...);
    f("cli_abrt", Kind::Sum, v.cli_abrt...);
    f("maxconn_reached", Kind::Sum, v.maxconn_reached...);
    f("req_tot", Kind::Sum, v.req_tot...);
    visit_hrsp(f, v...);
    f("dreq", Kind::Sum, v.dreq...);
    f("dresp", Kind::Sum, v.dresp...);
    f("intercepted", Kind::Sum, v.intercepted...);
    f("log_drops", Kind::Sum, v.log_drops...);
    f("wrew", Kind::Sum, v.wrew...);
    f("eint", Kind::Sum, v.eint...);
}

// The traffic counters backends and servers share, in their common order.
template <typename F, typename... V>
void visit_traffic(F&& f, V&... v) {
    f("stot", Kind::Sum, v.stot...);
    f("bin", Kind::Sum, v.bin...);
    f("bout", Kind::Sum, v.bout...);
    f("econ", Kind::Sum, v.econ...);
    f("eresp", Kind::Sum, v.eresp...);
    f("wretr", Kind::Sum, v.wretr...);
    f("wredis", Kind::Sum, v.wredis...);
    f("cli_abrt", Kind::Sum, v.cli_abrt...);
    f("srv_abrt", Kind::Sum, v.srv_abrt...);
    f("lbtot", Kind::Sum, v.lbtot...);
    f("req_tot", Kind::Sum, v.req_tot...);
    visit_hrsp(f, v...);
    f("connect", Kind::Sum, v.connect...);
    f("reuse", Kind::Sum, v.reuse...);
}

// Backend: counters, smax and qmax; scur and qcur are gauges.
template <typename F, typename... V>
requires(Is<V, BackendValues>&&...) void visit_fields(F&& f, V&... v) {
    f("smax", Kind::Max, v.smax...);
    f("qmax", Kind::Max, v.qmax...);
    visit_traffic(f, v...);
    f("dreq", Kind::Sum, v.dreq...);
    f("dresp", Kind::Sum, v.dresp...);
    f("wrew", Kind::Sum, v.wrew...);
    f("eint", Kind::Sum, v.eint...);
    visit_times(f, v...);
}

// Server: counters and smax; scur, inflight and idle_conn_cur are gauges.
template <typename F, typename... V>
requires(Is<V, ServerValues>&&...) void visit_fields(F&& f, V&... v) {
    f("smax", Kind::Max, v.smax...);
    visit_traffic(f, v...);
    f("dresp", Kind::Sum, v.dresp...);
    f("wrew", Kind::Sum, v.wrew...);
    f("eint", Kind::Sum, v.eint...);
    visit_times(f, v...);
}

// Shard loop counters; conns and buffers_out are gauges.
template <typename F, typename... V>
requires(Is<V, ShardValues>&&...) void visit_fields(F&& f, V&... v) {
    f("accepts", Kind::Sum, v.accepts...);
    f("accept_paused", Kind::Sum, v.accept_paused...);
    f("loops", Kind::Sum, v.loops...);
    f("cqes", Kind::Sum, v.cqes...);
    f("submits", Kind::Sum, v.submits...);
    f("cq_overflow", Kind::Sum, v.cq_overflow...);
    f("enobufs", Kind::Sum, v.enobufs...);
    f("short_sends", Kind::Sum, v.short_sends...);
    f("sq_full", Kind::Sum, v.sq_full...);
    f("splice_switches", Kind::Sum, v.splice_switches...);
    f("splice_bytes", Kind::Sum, v.splice_bytes...);
    f("copy_bytes", Kind::Sum, v.copy_bytes...);
    f("pipe_misses", Kind::Sum, v.pipe_misses...);
    f("mailbox_msgs", Kind::Sum, v.mailbox_msgs...);
    f("wakeups", Kind::Sum, v.wakeups...);
    f("stale_cqes", Kind::Sum, v.stale_cqes...);
    f("timers_fired", Kind::Sum, v.timers_fired...);
    f("page_asks", Kind::Sum, v.page_asks...);
    f("page_timeouts", Kind::Sum, v.page_timeouts...);
    f("page_fails", Kind::Sum, v.page_fails...);
    f("ssl_accepts", Kind::Sum, v.ssl_accepts...);
    f("ssl_handshakes", Kind::Sum, v.ssl_handshakes...);
    f("ssl_resumed", Kind::Sum, v.ssl_resumed...);
    f("ssl_failures", Kind::Sum, v.ssl_failures...);
    f("pp_headers", Kind::Sum, v.pp_headers...);
    f("pp_failures", Kind::Sum, v.pp_failures...);
    f("ssl_ktls", Kind::Sum, v.ssl_ktls...);
    f("ssl_ktls_fallbacks", Kind::Sum, v.ssl_ktls_fallbacks...);
    f("ssl_direct", Kind::Sum, v.ssl_direct...);
    f("ssl_cache_lookups", Kind::Sum, v.ssl_cache_lookups...);
    f("ssl_cache_misses", Kind::Sum, v.ssl_cache_misses...);
    f("ssl_srv_handshakes", Kind::Sum, v.ssl_srv_handshakes...);
    f("ssl_srv_resumed", Kind::Sum, v.ssl_srv_resumed...);
    f("ssl_srv_failures", Kind::Sum, v.ssl_srv_failures...);
}

// Process: the shard loop counters and the frontend- and pool-derived `show info` totals.
template <typename F, typename... V>
requires(Is<V, ProcessTotals>&&...) void visit_fields(F&& f, V&... v) {
    visit_fields(f, v.shard...);
    f("req_tot", Kind::Sum, v.req_tot...);
    f("bytes_in", Kind::Sum, v.bytes_in...);
    f("bytes_out", Kind::Sum, v.bytes_out...);
    f("log_drops", Kind::Sum, v.log_drops...);
    f("pool_failed", Kind::Sum, v.pool_failed...);
}

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
    const std::uint64_t s = a + b;
    return s < a ? std::numeric_limits<std::uint64_t>::max() : s;
}

std::uint64_t sat_sub(std::uint64_t a, std::uint64_t b) {
    return a > b ? a - b : 0;
}

// a += b over the carried fields only: counters summed, maxima maxed. Gauges of `a` are untouched.
template <typename V>
void accumulate(V& a, const V& b) {
    visit_fields(
        [](std::string_view, Kind kind, auto& x, const auto& y) {
            if (kind == Kind::Max) {
                x = std::max(x, y);
            } else if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, std::uint64_t>) {
                x = sat_add(x, y);
            }
        },
        a, b);
}

template <typename Map>
void accumulate_map(Map& into, const Map& one) {
    for (const auto& [name, v] : one) {
        auto it = into.find(name);
        if (it == into.end()) it = into.emplace(name, typename Map::mapped_type{}).first;
        if constexpr (std::is_same_v<typename Map::mapped_type, Carried::ByName<ServerValues>>) {
            accumulate_map(it->second, v);
        } else {
            accumulate(it->second, v);
        }
    }
}

// ---- writer ----

bool unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

void put_name(std::string& out, std::string_view name) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (const char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (unreserved(c)) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
}

void put_u(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// " key=value" for every carried field that is not zero (a missing field reads as 0).
template <typename V>
void put_fields(std::string& out, const V& v) {
    visit_fields(
        [&out](std::string_view name, Kind, const auto& x) {
            std::uint64_t u = 0;
            if constexpr (std::is_signed_v<std::remove_cvref_t<decltype(x)>>) {
                u = x < 0 ? 0 : std::uint64_t(x);
            } else {
                u = x;
            }
            if (u == 0) return;
            out.push_back(' ');
            out.append(name);
            out.push_back('=');
            put_u(out, u);
        },
        v);
}

// ---- reader ----

struct Token {
    std::string_view key;
    std::uint64_t value = 0;
};

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Accepts exactly what put_name writes (unreserved bytes and %XX, either hex case); non-empty.
bool decode_name(std::string_view tok, std::string& out) {
    out.clear();
    if (tok.empty()) return false;
    for (std::size_t i = 0; i < tok.size(); ++i) {
        const char c = tok[i];
        if (c == '%') {
            if (tok.size() - i < 3) return false;
            const int hi = hex_digit(tok[i + 1]), lo = hex_digit(tok[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (unreserved(static_cast<unsigned char>(c))) {
            out.push_back(c);
        } else {
            return false;
        }
    }
    return true;
}

bool parse_u64(std::string_view s, std::uint64_t& v) {
    if (s.empty() || s.size() > 20) return false;
    for (const char c : s)
        if (c < '0' || c > '9') return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

bool field_key(std::string_view k) {
    if (k.empty()) return false;
    for (const char c : k)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

std::vector<std::string_view> split_tokens(std::string_view line) {
    std::vector<std::string_view> t;
    std::size_t start = 0;
    for (;;) {
        const std::size_t sp = line.find(' ', start);
        t.push_back(line.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
        if (sp == std::string_view::npos) break;
        start = sp + 1;
    }
    return t;
}

class Reader {
  public:
    Reader(Carried& out, std::string* err) : out_(out), err_(err) {}

    bool run(std::string_view text) {
        std::size_t pos = 0;
        bool ended = false;
        while (pos < text.size()) {
            ++line_no_;
            const std::size_t nl = text.find('\n', pos);
            const std::string_view line =
                text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
            pos = nl == std::string_view::npos ? text.size() : nl + 1;
            if (ended) return fail("data after the end line");
            for (const char c : line)
                if (c < 0x20 || c > 0x7e) return fail("byte outside printable ASCII");
            const auto tok = split_tokens(line);
            for (const auto& t : tok)
                if (t.empty()) return fail("empty token (tokens are separated by exactly one space)");
            if (line_no_ == 1) {
                if (!header(tok)) return false;
                continue;
            }
            if (tok[0] == "end") {
                if (tok.size() != 1) return fail("the end line has no arguments");
                ended = true;
            } else if (tok[0] == "process") {
                if (!process(tok)) return false;
            } else if (tok[0] == "fe") {
                if (!object(tok, 1, out_.frontends, "frontend")) return false;
            } else if (tok[0] == "be") {
                if (!object(tok, 1, out_.backends, "backend")) return false;
            } else if (tok[0] == "srv") {
                if (!server(tok)) return false;
            } else if (tok[0] == "pool") {
                if (!pool(tok)) return false;
            } else {
                // A line kind from a newer writer: checked for shape above, otherwise ignored.
            }
        }
        if (line_no_ == 0) return fail("empty input");
        if (!ended) return fail("truncated: no end line");
        return true;
    }

  private:
    bool fail(std::string_view why) {
        if (err_) {
            err_->assign("es-totals line ");
            err_->append(std::to_string(line_no_));
            err_->append(": ");
            err_->append(why);
        }
        return false;
    }

    bool header(const std::vector<std::string_view>& tok) {
        if (tok[0] != "es-totals") return fail("not an es-totals document");
        std::uint64_t v = 0;
        if (tok.size() < 2 || !parse_u64(tok[1], v) || v == 0) return fail("bad version");
        if (v > std::uint64_t(kTotalsVersion))
            return fail("version " + std::to_string(v) + " is newer than ours");
        std::vector<Token> extra;
        return fields(tok, 2, extra);  // attributes a newer writer may add: well-formed, ignored
    }

    // Parses tok[from..] as key=value into `t`, sorted by key; rejects malformed and duplicate keys.
    bool fields(const std::vector<std::string_view>& tok, std::size_t from, std::vector<Token>& t) {
        t.clear();
        for (std::size_t i = from; i < tok.size(); ++i) {
            const std::size_t eq = tok[i].find('=');
            if (eq == std::string_view::npos) return fail("expected key=value");
            Token x;
            x.key = tok[i].substr(0, eq);
            if (!field_key(x.key)) return fail("bad field name");
            if (!parse_u64(tok[i].substr(eq + 1), x.value))
                return fail("bad value (unsigned decimal, < 2^64)");
            t.push_back(x);
        }
        std::sort(t.begin(), t.end(), [](const Token& a, const Token& b) { return a.key < b.key; });
        for (std::size_t i = 1; i < t.size(); ++i)
            if (t[i].key == t[i - 1].key) return fail("duplicate field");
        return true;
    }

    // Sets the known fields of v from the sorted tokens; unknown keys are ignored.
    template <typename V>
    bool assign(const std::vector<Token>& t, V& v) {
        bool ok = true;
        visit_fields(
            [&](std::string_view name, Kind, auto& x) {
                const auto it = std::lower_bound(
                    t.begin(), t.end(), name, [](const Token& a, std::string_view k) { return a.key < k; });
                if (it == t.end() || it->key != name) return;
                if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, std::int64_t>) {
                    if (it->value > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
                        ok = false;
                        return;
                    }
                    x = std::int64_t(it->value);
                } else {
                    x = it->value;
                }
            },
            v);
        return ok || fail("maximum out of range");
    }

    bool process(const std::vector<std::string_view>& tok) {
        if (seen_process_) return fail("duplicate process line");
        seen_process_ = true;
        return fields(tok, 1, toks_) && assign(toks_, out_.process);
    }

    template <typename Map>
    bool object(const std::vector<std::string_view>& tok, std::size_t nfirst, Map& map,
                std::string_view what) {
        if (tok.size() < 1 + nfirst || !decode_name(tok[1], name_))
            return fail("bad " + std::string(what) + " name");
        if (!fields(tok, 1 + nfirst, toks_)) return false;
        auto [it, fresh] = map.try_emplace(name_);
        if (!fresh) return fail("duplicate " + std::string(what) + " " + name_);
        return assign(toks_, it->second);
    }

    bool server(const std::vector<std::string_view>& tok) {
        if (tok.size() < 3 || !decode_name(tok[1], be_name_)) return fail("bad server backend name");
        if (!decode_name(tok[2], name_)) return fail("bad server name");
        if (!fields(tok, 3, toks_)) return false;
        auto& servers = out_.servers[be_name_];
        auto [it, fresh] = servers.try_emplace(name_);
        if (!fresh) return fail("duplicate server " + be_name_ + "/" + name_);
        return assign(toks_, it->second);
    }

    bool pool(const std::vector<std::string_view>& tok) {
        std::uint64_t size = 0;
        if (tok.size() < 3 || !decode_name(tok[1], name_)) return fail("bad pool name");
        if (!parse_u64(tok[2], size) || size > std::numeric_limits<std::size_t>::max())
            return fail("bad pool object size");
        if (!fields(tok, 3, toks_)) return false;
        auto [it, fresh] = out_.pool_needed[name_].try_emplace(std::size_t(size), 0);
        if (!fresh) return fail("duplicate pool " + name_);
        const auto need = std::lower_bound(toks_.begin(), toks_.end(), std::string_view("needed_avg"),
                                           [](const Token& a, std::string_view k) { return a.key < k; });
        if (need != toks_.end() && need->key == "needed_avg") it->second = need->value;
        return true;
    }

    Carried& out_;
    std::string* err_;
    std::size_t line_no_ = 0;
    bool seen_process_ = false;
    std::vector<Token> toks_;
    std::string name_, be_name_;
};

bool process_zero(const ProcessTotals& p) {
    bool zero = true;
    visit_fields([&zero](std::string_view, Kind, const auto& x) { zero = zero && x == 0; }, p);
    return zero;
}

}  // namespace

bool Carried::empty() const {
    return frontends.empty() && backends.empty() && servers.empty() && pool_needed.empty() &&
           process_zero(process);
}

Carried totals_of(const Snapshot& own) {
    Carried c;
    ES_BUG(!own.carried_applied, "totals_of: snapshot already holds carried totals (would count them twice)");
    if (own.carried_applied) return c;

    accumulate(c.process.shard, own.shard_total);  // counters only: conns and buffers_out stay 0
    for (const FrontendValues& fe : own.fe) {
        c.process.req_tot = sat_add(c.process.req_tot, fe.req_tot);
        c.process.bytes_in = sat_add(c.process.bytes_in, fe.bin);
        c.process.bytes_out = sat_add(c.process.bytes_out, fe.bout);
        c.process.log_drops = sat_add(c.process.log_drops, fe.log_drops);
    }
    for (const PoolSummary& p : own.pools) {
        c.process.pool_failed = sat_add(c.process.pool_failed, p.failed);
        if (p.name.empty()) continue;
        auto& need = c.pool_needed[p.name][p.size];
        need = sat_add(need, p.needed_avg);
    }

    if (!own.layout) return c;
    const Layout& lay = *own.layout;
    // Names that cannot be written (empty) are skipped; the config never has them.
    const std::size_t nfe = std::min(lay.frontends.size(), own.fe.size());
    for (std::size_t i = 0; i < nfe; ++i) {
        if (lay.frontends[i].name.empty()) continue;
        accumulate(c.frontends[lay.frontends[i].name], own.fe[i]);
    }
    const std::size_t nbe = std::min(lay.backends.size(), own.be.size());
    for (std::size_t b = 0; b < nbe; ++b) {
        const Layout::Backend& cb = lay.backends[b];
        if (cb.name.empty()) continue;
        accumulate(c.backends[cb.name], own.be[b]);
        if (b >= own.srv.size()) continue;
        const std::size_t ns = std::min(cb.servers.size(), own.srv[b].size());
        if (ns == 0) continue;
        auto& servers = c.servers[cb.name];
        for (std::size_t s = 0; s < ns; ++s) {
            if (cb.servers[s].name.empty()) continue;
            accumulate(servers[cb.servers[s].name], own.srv[b][s]);
        }
    }
    return c;
}

std::string export_totals(const Carried& c) {
    std::string out;
    out.reserve(256 + 160 * (c.frontends.size() + c.backends.size()));
    out.append("es-totals ");
    put_u(out, std::uint64_t(kTotalsVersion));
    out.append("\nprocess");
    put_fields(out, c.process);
    out.push_back('\n');
    for (const auto& [name, v] : c.frontends) {
        if (name.empty()) continue;
        out.append("fe ");
        put_name(out, name);
        put_fields(out, v);
        out.push_back('\n');
    }
    for (const auto& [name, v] : c.backends) {
        if (name.empty()) continue;
        out.append("be ");
        put_name(out, name);
        put_fields(out, v);
        out.push_back('\n');
    }
    for (const auto& [be, servers] : c.servers) {
        if (be.empty()) continue;
        for (const auto& [name, v] : servers) {
            if (name.empty()) continue;
            out.append("srv ");
            put_name(out, be);
            out.push_back(' ');
            put_name(out, name);
            put_fields(out, v);
            out.push_back('\n');
        }
    }
    for (const auto& [name, sizes] : c.pool_needed) {
        if (name.empty()) continue;
        for (const auto& [size, need] : sizes) {
            out.append("pool ");
            put_name(out, name);
            out.push_back(' ');
            put_u(out, size);
            out.append(" needed_avg=");
            put_u(out, need);
            out.push_back('\n');
        }
    }
    out.append("end\n");
    return out;
}

std::string export_totals(const Snapshot& own) {
    ES_BUG(!own.carried_applied,
           "export_totals: snapshot already holds carried totals (would count them twice)");
    if (own.carried_applied) return {};
    return export_totals(totals_of(own));
}

bool import_totals(std::string_view text, Carried& out, std::string* err) {
    Carried parsed;
    Reader r(parsed, err);
    if (!r.run(text)) return false;
    out = std::move(parsed);
    return true;
}

void add(Carried& into, const Carried& one) {
    accumulate(into.process, one.process);
    accumulate_map(into.frontends, one.frontends);
    accumulate_map(into.backends, one.backends);
    accumulate_map(into.servers, one.servers);
    for (const auto& [name, sizes] : one.pool_needed) {
        auto& mine = into.pool_needed[name];
        for (const auto& [size, need] : sizes) {
            auto& m = mine[size];
            m = std::max(m, need);
        }
    }
}

void retain_objects(Carried& c, const Layout& lay) {
    std::set<std::string_view> fe, be;
    for (const auto& f : lay.frontends) fe.insert(f.name);
    for (const auto& b : lay.backends) be.insert(b.name);
    std::erase_if(c.frontends, [&fe](const auto& kv) { return !fe.contains(kv.first); });
    std::erase_if(c.backends, [&be](const auto& kv) { return !be.contains(kv.first); });
    for (auto it = c.servers.begin(); it != c.servers.end();) {
        const auto b = std::find_if(lay.backends.begin(), lay.backends.end(),
                                    [&it](const Layout::Backend& x) { return x.name == it->first; });
        if (b == lay.backends.end()) {
            it = c.servers.erase(it);
            continue;
        }
        std::set<std::string_view> names;
        for (const auto& s : b->servers) names.insert(s.name);
        std::erase_if(it->second, [&names](const auto& kv) { return !names.contains(kv.first); });
        it = it->second.empty() ? c.servers.erase(it) : std::next(it);
    }
}

void apply_carried(Snapshot& snap, const Carried& c) {
    ES_BUG(!snap.carried_applied, "apply_carried: carried totals already applied to this snapshot");
    if (snap.carried_applied) return;
    snap.carried_applied = true;

    // Frontend-derived process totals: matched frontends carry their share inside snap.fe, so
    // only the share of frontends this config no longer has goes to carried_info.
    std::uint64_t m_req = 0, m_in = 0, m_out = 0, m_drops = 0;
    if (snap.layout) {
        const Layout& lay = *snap.layout;
        const std::size_t nfe = std::min(lay.frontends.size(), snap.fe.size());
        for (std::size_t i = 0; i < nfe; ++i) {
            const auto it = c.frontends.find(lay.frontends[i].name);
            if (it == c.frontends.end()) continue;
            accumulate(snap.fe[i], it->second);
            m_req = sat_add(m_req, it->second.req_tot);
            m_in = sat_add(m_in, it->second.bin);
            m_out = sat_add(m_out, it->second.bout);
            m_drops = sat_add(m_drops, it->second.log_drops);
        }
        const std::size_t nbe = std::min(lay.backends.size(), snap.be.size());
        for (std::size_t b = 0; b < nbe; ++b) {
            const Layout::Backend& cb = lay.backends[b];
            const auto it = c.backends.find(cb.name);
            if (it != c.backends.end()) accumulate(snap.be[b], it->second);
            const auto sit = c.servers.find(cb.name);
            if (sit == c.servers.end() || b >= snap.srv.size()) continue;
            const std::size_t ns = std::min(cb.servers.size(), snap.srv[b].size());
            for (std::size_t s = 0; s < ns; ++s) {
                const auto v = sit->second.find(cb.servers[s].name);
                if (v != sit->second.end()) accumulate(snap.srv[b][s], v->second);
            }
        }
    }

    CarriedInfo& ci = snap.carried_info;
    ci = CarriedInfo{};
    accumulate(ci.shard, c.process.shard);  // counters only: the gauges stay 0
    ci.req_tot = sat_sub(c.process.req_tot, m_req);
    ci.bytes_in = sat_sub(c.process.bytes_in, m_in);
    ci.bytes_out = sat_sub(c.process.bytes_out, m_out);
    ci.log_drops = sat_sub(c.process.log_drops, m_drops);
    ci.pool_failed = c.process.pool_failed;
}

}  // namespace es::stats
