// Whole-configuration checks, done once every file is read: the drafts become frontends and backends with
// their ids, names become indexes, and what only the whole can tell (unknown backends, mode mismatches,
// an address bound twice, nothing to serve, zero-warning) is checked.
#include <unordered_set>
#include <algorithm>
#include <map>

#include "http_internal.hpp"
#include "http_keywords.hpp"
#include "internal.hpp"
#include "sections.hpp"

namespace es::config::detail {

namespace {

const char* mode_name(Mode m) {
    return m == Mode::Http ? "http" : "tcp";
}

// Resolves a backend named by a frontend; the error points at the line that named it.
std::uint32_t resolve_backend(const Config& cfg, const Frontend& fe, const std::string& name,
                              const Location& at, std::string_view keyword) {
    const Backend* be = cfg.find_backend(name);
    if (be == nullptr) {
        std::vector<std::string_view> names;
        for (const auto& b : cfg.backends) names.push_back(b.name);
        const Frontend* same = cfg.find_frontend(name);
        fail(at, squote(keyword) + " names unknown backend " + squote(name) + " (in frontend " +
                     squote(fe.name) + ")" +
                     (same != nullptr ? "; " + squote(name) + " is a frontend, not a backend"
                                      : did_you_mean(name, names)));
    }
    // a mode tcp frontend may name a mode http backend (HAProxy upgrades the connection): resolve_routes
    // decides whether this one can
    if (be->mode != fe.mode && !(fe.mode == Mode::Tcp && be->mode == Mode::Http)) {
        fail(at, "frontend " + squote(fe.name) + " (mode " + mode_name(fe.mode) + ") cannot use backend " +
                     squote(be->name) + " (mode " + mode_name(be->mode) + ", declared at " +
                     where_text(be->where) + "): a mode http frontend passes HTTP requests, which a mode tcp backend "
                                           "cannot take (HAProxy refuses it too; a mode tcp frontend may use a mode "
                                           "http backend)");
    }
    return be->id;
}

void build_proxies(ParseState& st) {
    auto& cfg = st.cfg;
    for (auto& px : st.proxies) {
        Config::ProxySlot& slot = cfg.proxy_slots.emplace_back();
        slot.written_id = px.uuid;
        int fe_index = -1;
        if ((px.cap & kCapFe) != 0 && !px.fe.binds.empty()) {
            Frontend f = std::move(px.fe);
            f.id = static_cast<std::uint32_t>(cfg.frontends.size());
            fe_index = static_cast<int>(f.id);
            slot.fe = fe_index;
            cfg.frontends.push_back(std::move(f));
        }
        if ((px.cap & kCapBe) != 0) {
            Backend b = std::move(px.be);
            b.id = static_cast<std::uint32_t>(cfg.backends.size());
            slot.be = int(b.id);
            const std::vector<std::uint32_t> ids = config::server_ids(b);
            for (std::size_t i = 0; i < b.servers.size(); ++i) b.servers[i].puid = ids[i];
            for (std::size_t i = 0; i < b.servers.size(); ++i) {
                b.servers[i].id = static_cast<std::uint32_t>(i);
                // HAProxy 2.6 alerts and loads the file anyway, observing nothing: so do we
                if (b.servers[i].check.observe == ServerCheck::Observe::Layer7 && b.mode != Mode::Http) {
                    st.warn(b.servers[i].where, "server " + squote(b.name + "/" + b.servers[i].name) +
                                                    ": 'observe layer7' judges HTTP responses and is ignored in a "
                                                    "mode tcp backend (use 'observe layer4')");
                    b.servers[i].check.observe = ServerCheck::Observe::None;
                }
            }
            // A listen is one proxy: its frontend and backend halves share their HTTP rules.
            if (fe_index >= 0)
                cfg.frontends[static_cast<std::size_t>(fe_index)].own_backend_id = static_cast<int>(b.id);
            cfg.backends.push_back(std::move(b));
        }
    }
}

// A mode tcp frontend whose backend is mode http: HAProxy turns the connection into HTTP once that
// backend is chosen, and every request on it goes through the backend's HTTP rules. When the HTTP
// backend is its only one we serve the frontend as an HTTP frontend from its first byte
// (Frontend::tcp_to_http). When tcp-request content rules or use_backend conditions choose it (HTTP on
// one port beside other protocols), the L4 session inspects and hands the connection to the HTTP proxy
// once that backend is chosen (Frontend::tcp_upgrades).
void upgrade_to_http(ParseState& st, Frontend& f) {
    Config& cfg = st.cfg;
    if (f.mode != Mode::Tcp) return;
    // its HTTP rules act once it is served as HTTP (HAProxy runs them on the upgraded streams, though it warns
    // that they are ignored); otherwise they are ignored, and said so
    auto warn_ignored = [&] {
        const std::string px = std::string(f.own_backend_id >= 0 ? "listen " : "frontend ") + squote(f.name);
        const HttpProxy& h = f.http;
        if (!h.request_rules.empty())
            st.warn(h.request_rules.front().where, "'http-request' rules of " + px + " are ignored: they need 'mode http'");
        if (!h.response_rules.empty())
            st.warn(h.response_rules.front().where, "'http-response' rules of " + px + " are ignored: they need 'mode http'");
        if (h.after_rules.size() > h.after_own)
            st.warn(h.after_rules[h.after_own].where,
                    "'http-after-response' rules of " + px + " are ignored: they need 'mode http'");
    };
    const Backend* http_be = nullptr;
    const Location* http_at = nullptr;
    bool tcp_be = false;
    auto see = [&](int id, const Location& at) {
        if (id < 0) return;
        const Backend& b = cfg.backends[std::size_t(id)];
        if (b.mode == Mode::Http) {
            if (http_be == nullptr) {
                http_be = &b;
                http_at = &at;
            }
        } else {
            tcp_be = true;
        }
    };
    see(f.default_backend_id, f.default_backend_where);
    const UseBackendRule* dynamic = nullptr;
    for (const UseBackendRule& u : f.use_backend_rules)
        if (!u.dynamic) see(int(u.backend_id), u.where);
        else if (dynamic == nullptr) dynamic = &u;
    for (const UseBackend& u : f.use_backends) see(int(u.backend_id), u.where);
    if (http_be == nullptr && dynamic != nullptr) {
        // a name built per connection may be a mode http backend's: such a connection is upgraded then
        // (rules::select_backend), on plain binds only (tcp_session.cpp assign_backend)
        for (const Backend& b : cfg.backends)
            if (b.mode == Mode::Http) {
                for (const Bind& bd : f.binds)
                    if (bd.tls) {
                        st.warn(dynamic->where, "frontend " + squote(f.name) + " (mode tcp) builds its backend's name "
                                "per connection, and its bind at " + where_text(bd.where) + " terminates TLS: a "
                                "connection there whose name is a mode http backend's (such as " + squote(b.name) +
                                ") is closed; edgeshard hands a connection over to HTTP after its content rules "
                                "only on plain binds");
                        break;
                    }
                f.tcp_upgrades = true;
                return;
            }
    }
    if (http_be == nullptr) {
        warn_ignored();
        return;
    }
    if (tcp_be || f.tcp_inspect || f.tcp_route_cond) {
        // chosen per connection by content rules or conditions (HTTP beside other protocols on one port): the
        // L4 session inspects, then hands the connection to the HTTP proxy (proxy/tcp_session.cpp upgrade)
        for (const Bind& b : f.binds)
            if (b.tls)
                fail(*http_at, "frontend " + squote(f.name) + " (mode tcp) may pick " + squote(http_be->name) +
                                   " (mode http) by its rules, and its bind at " + where_text(b.where) +
                                   " terminates TLS: edgeshard hands a connection over to HTTP after its content "
                                   "rules only on plain binds; give the HTTPS clients a 'mode http' frontend of "
                                   "their own (another bind)");
        f.tcp_upgrades = true;
        return;
    }
    f.mode = Mode::Http;
    f.tcp_to_http = true;
}

void resolve_routes(ParseState& st) {
    auto& cfg = st.cfg;
    for (auto& f : cfg.frontends) {
        if (!f.default_backend.empty()) {
            f.default_backend_id = static_cast<int>(
                resolve_backend(cfg, f, f.default_backend, f.default_backend_where, "default_backend"));
        }
        for (auto& u : f.use_backend_rules)
            if (!u.dynamic) u.backend_id = resolve_backend(cfg, f, u.backend, u.where, "use_backend");
        for (auto& u : f.use_backends)
            u.backend_id = resolve_backend(cfg, f, u.backend, u.where, "use_backend");
        upgrade_to_http(st, f);
        const UseBackendRule* always = nullptr;
        for (const auto& u : f.use_backend_rules) {
            if (always != nullptr) {
                st.warn(u.where, "this 'use_backend' is never used: the unconditional 'use_backend' at " +
                                     where_text(always->where) + " always wins");
            } else if (!u.cond.present) {
                always = &u;
            }
        }
        // a frontend that answers by itself (a return, deny, redirect or service rule, its stats page, its monitor-uri)
        // is not missing a backend: HAProxy says nothing either, which `zero-warning` configurations rely on
        bool answers = f.stats.enabled || !f.monitor_uri.empty();
        for (const HttpRule& r : f.http.request_rules)
            answers = answers || r.action == HttpAction::Return || r.action == HttpAction::Deny ||
                      r.action == HttpAction::Redirect || r.action == HttpAction::UseService;
        if (f.default_backend.empty() && f.use_backend_rules.empty() && !answers) {
            st.warn(f.where,
                    "frontend " + squote(f.name) +
                        " has neither 'default_backend' nor 'use_backend': its connections will be closed");
        }
    }
}

void check_binds(const Config& cfg) {
    std::map<std::string, std::pair<const Frontend*, const Bind*>> seen;
    for (const auto& f : cfg.frontends) {
        for (const auto& b : f.binds) {
            const auto key = b.addr.text();
            const auto [it, fresh] = seen.emplace(key, std::make_pair(&f, &b));
            if (!fresh) {
                fail(b.where, "address " + key + " is already bound by frontend " +
                                  squote(it->second.first->name) + " at " +
                                  where_text(it->second.second->where));
            }
        }
    }
}

void check_cpu_maps(ParseState& st) {
    auto& g = st.cfg.global;
    if (g.nbthread <= 0) return;  // the shard count is known only at boot: the consumer ignores extra shards
    for (const auto& n : st.cpu_map_notes) {
        if (n.max_explicit_thread > g.nbthread) {
            st.warn(n.at, "cpu-map names thread " + std::to_string(n.max_explicit_thread) +
                              " but nbthread is " + std::to_string(g.nbthread) + ": threads above " +
                              std::to_string(g.nbthread) + " are ignored");
        }
    }
    std::erase_if(g.cpu_maps, [&](const CpuMap& m) { return m.shard >= g.nbthread; });
}

}  // namespace

// tcp-response content inspects the server's bytes on the plain copy path: a session with TLS on either side
// moves its bytes as records elsewhere, where the rules would not run (refused rather than silently skipped).
void check_tcp_response_tls(const Config& cfg) {
    auto refuse = [](const Backend& b, const std::string& why) {
        fail(b.tcp_rsp_rules.front().where, "'tcp-response content' rules of backend " + squote(b.name) + " " + why +
                                                ": rules on TLS sessions are not supported in this version");
    };
    for (const Backend& b : cfg.backends) {
        if (b.tcp_rsp_rules.empty() || b.mode != Mode::Tcp) continue;
        for (const Server& sv : b.servers)
            if (sv.tls) refuse(b, "reach server " + squote(sv.name) + " over TLS ('ssl')");
    }
    for (const Frontend& f : cfg.frontends) {
        if (f.mode != Mode::Tcp) continue;
        bool tls = false;
        for (const Bind& b : f.binds) tls = tls || b.tls != nullptr;
        if (!tls) continue;
        auto check = [&](int be) {
            if (be >= 0 && !cfg.backends[std::size_t(be)].tcp_rsp_rules.empty())
                refuse(cfg.backends[std::size_t(be)], "serve frontend " + squote(f.name) + ", which has TLS binds");
        };
        check(f.default_backend_id);
        for (const UseBackendRule& u : f.use_backend_rules) check(u.dynamic ? -1 : int(u.backend_id));
    }
}

void finalize(ParseState& st) {
    resolve_http(st);
    build_proxies(st);
    // backends alone run with a stats socket (their checks, the CLI), as in HAProxy
    if (st.cfg.frontends.empty() && st.cfg.global.stats_sockets.empty()) {
        for (const ProxyDraft& px : st.proxies)  // a frontend without bind is the likely mistake: name it
            if ((px.cap & kCapFe) != 0 && px.kind == "frontend")
                fail(px.where, "frontend " + squote(px.name) + " has no 'bind' line, and nothing else listens (no "
                               "other frontend, no 'stats socket'): there is nothing to serve");
        fail(st.end, "no frontend or listen section with a 'bind' line, and no 'stats socket': there is nothing to "
                     "serve");
    }
    resolve_routes(st);
    config::assign_proxy_ids(st.cfg);
    check_tcp_response_tls(st.cfg);
    resolve_fetch_refs(st);
    resolve_stick(st);
    for (Backend& b : st.cfg.backends) b.balance.own_hash = st.cfg.global.lb_hash_own;  // (global may come last)
    resolve_resolvers_refs(st);
    check_binds(st.cfg);
    finalize_tls(st);
    check_cpu_maps(st);
    if (st.zero_warning && !st.cfg.warnings.empty()) {
        fail(st.zero_warning_at, "'zero-warning' is set and " + std::to_string(st.cfg.warnings.size()) +
                                     " warning(s) were emitted; the first: " + st.cfg.warnings.front());
    }
}

}  // namespace es::config::detail

namespace es::config {

void assign_proxy_ids(Config& cfg) {
    std::unordered_set<std::uint32_t> written;
    for (const Config::ProxySlot& p : cfg.proxy_slots)
        if (p.written_id != 0) written.insert(p.written_id);
    std::uint32_t next_id = 1;
    auto next_free = [&] {
        while (written.count(next_id) != 0) ++next_id;
        written.insert(next_id);
        return next_id++;
    };
    if (!cfg.global.stats_sockets.empty()) next_free();  // HAProxy's GLOBAL proxy (the CLI's), first
    for (const Config::ProxySlot& p : cfg.proxy_slots) {
        const std::uint32_t id = p.written_id != 0 ? p.written_id : next_free();
        if (p.written_id != 0) ++next_id;
        if (p.fe >= 0) cfg.frontends[std::size_t(p.fe)].uuid = id;
        if (p.be >= 0) cfg.backends[std::size_t(p.be)].uuid = id;
    }
}

std::vector<std::uint32_t> server_ids(const Backend& b) {
    std::unordered_set<std::uint32_t> written;
    for (const Server& sv : b.servers)
        if (sv.puid != 0) written.insert(sv.puid);
    std::vector<std::uint32_t> ids;
    ids.reserve(b.servers.size());
    std::uint32_t next_id = 1;
    for (const Server& sv : b.servers) {
        if (sv.puid != 0) {
            ids.push_back(sv.puid);
        } else {
            while (written.count(next_id) != 0) ++next_id;
            written.insert(next_id);
            ids.push_back(next_id);
        }
        ++next_id;
    }
    return ids;
}

}  // namespace es::config
