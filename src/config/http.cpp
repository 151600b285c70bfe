// HTTP options of proxies (forwardfor, httpclose, http-server-close, http-keep-alive), the stats page, and
// what is done with the HTTP keywords once a proxy section ends and once every file is read.
//
// HAProxy 2.6 semantics; what differs is listed in README.md.
#include <tuple>

#include "edgeshard/http/parser.hpp"
#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

// ---- options ---------------------------------------------------------------------------------------------

bool http_option(ParseState&, ProxyDraft& px, const Line& line, const std::string& name, bool negated) {
    const std::size_t next = negated ? 3 : 2;
    const std::string kw = std::string(negated ? "no option " : "option ") + name;
    if (name == "forwardfor") {
        bool if_none = false;
        std::string header = "X-Forwarded-For", except;
        if (negated) {
            no_more_args(line, next, kw);
        } else {
            for (std::size_t i = next; i < line.words.size(); ++i) {
                const auto& w = line.words[i];
                if (w == "except") {
                    const auto& net = arg_or_fail(line, ++i, kw + " except", "a network");
                    const auto n = normalize_network(net);
                    if (!n)
                        fail(line.at, squote(kw + " except") + ": " + squote(net) +
                                          " is not a numeric IPv4/IPv6 network");
                    except = *n;
                } else if (w == "header") {
                    header = arg_or_fail(line, ++i, kw + " header", "a header name");
                    if (!http::is_token(header))
                        fail(line.at, squote(kw + " header") + ": invalid header name " + squote(header));
                } else if (w == "if-none") {
                    if_none = true;
                } else {
                    fail(line.at, squote(kw) + ": unknown argument " + squote(w) +
                                      did_you_mean(w, {"except", "header", "if-none"}) +
                                      " (expects except <network>, header <name>, if-none)");
                }
            }
        }
        each_http(px, [&](HttpProxy& h) {
            h.forwardfor = !negated;
            h.forwardfor_header = header;
            h.forwardfor_except = except;
            h.forwardfor_if_none = if_none;
            h.forwardfor_at = line.at;
        });
        return true;
    }
    if (name == "httpclose" || name == "http-server-close" || name == "http-keep-alive") {
        no_more_args(line, next, kw);
        each_http(px, [&](HttpProxy& h) {
            if (name == "http-keep-alive") {
                if (!negated) h.httpclose = h.server_close = false;
            } else if (name == "httpclose") {
                h.httpclose = !negated;
            } else {
                h.server_close = !negated;
            }
            h.http_keep_alive = !h.httpclose && !h.server_close;
        });
        return true;
    }
    return false;
}

// ---- stats page ------------------------------------------------------------------------------------------

void kw_stats(ParseState& st, ProxyDraft& px, const Line& line) {
    const auto& sub = arg_or_fail(line, 1, "stats", "enable, uri, refresh, realm or auth");
    const std::string kw = "stats " + sub;
    if (sub == "socket" || sub == "timeout" || sub == "maxconn" || sub == "bind-process")
        fail(line.at, squote(kw) + " belongs in the 'global' section");
    // a frontend or listen serves the page before routing; a backend to the requests routed to it
    auto& s = has_fe(px) ? px.fe.stats : px.be.stats;
    if (sub == "enable") {
        no_more_args(line, 2, kw);
    } else if (sub == "uri") {
        const auto& uri = arg_or_fail(line, 2, kw, "a path starting with '/'");
        if (uri.empty() || uri.front() != '/' || has_ctl(uri) || uri.find(' ') != std::string::npos)
            fail(line.at, squote(kw) + " expects a path starting with '/', got " + squote(uri));
        no_more_args(line, 3, kw);
        s.uri = uri;
    } else if (sub == "refresh") {
        s.refresh = time_arg(line, 2, kw);
        no_more_args(line, 3, kw);
    } else if (sub == "realm") {
        s.realm = arg_or_fail(line, 2, kw, "a realm");
        if (has_ctl(s.realm) || s.realm.find('"') != std::string::npos)
            fail(line.at, squote(kw) + ": the realm must not contain quotes or control characters");
        no_more_args(line, 3, kw);
    } else if (sub == "auth") {
        const auto& cred = arg_or_fail(line, 2, kw, "<user>:<password>");
        const auto colon = cred.find(':');
        if (colon == std::string::npos || colon == 0)
            fail(line.at, squote(kw) + " expects <user>:<password>, got " + squote(cred));
        no_more_args(line, 3, kw);
        User u;
        u.name = cred.substr(0, colon);
        u.password = cred.substr(colon + 1);
        u.insecure = true;  // written in clear, compared as such (HAProxy's stats auth)
        s.users.users.push_back(std::move(u));
        s.users.name = "stats auth";
    } else if (sub == "hide-version") {
        no_more_args(line, 2, kw);
        s.hide_version = true;
    } else if (sub == "scope") {
        // stats scope <proxy> | . (this section): several lines add up; checked once every proxy is known
        const auto& name = arg_or_fail(line, 2, kw, "a proxy name, or '.' for this section");
        no_more_args(line, 3, kw);
        s.scopes.push_back(name == "." ? px.name : name);
        st.stats_scope_refs.emplace_back(s.scopes.back(), line.at);
    } else if (sub == "show-legends" || sub == "show-node" || sub == "show-desc" || sub == "show-modules") {
        st.warn_ignored(line.at, {kw}, "the stats page has a fixed layout");
        return;
    } else if (sub == "admin") {
        if (is_defaults(px)) fail(line.at, "'stats admin' not allowed in 'defaults' section.");
        if (line.words.size() < 3 || (line.words[2] != "if" && line.words[2] != "unless"))
            fail(line.at, "'stats admin' requires either 'if' or 'unless' followed by a condition.");
        s.admin.push_back(parse_condition(st, px, line, 2));
    } else if (sub == "http-request") {
        if (is_defaults(px)) fail(line.at, "'stats http-request' not allowed in 'defaults' section.");
        if (!s.rules.empty() && !s.rules.back().cond.present)
            st.warn(line.at, "previous 'stats http-request' rule at " + where_text(s.rules.back().where) +
                                 " has no condition: this rule is never evaluated");
        s.rules.push_back(parse_stats_rule(st, px, line));
    } else {
        fail(line.at, "unknown keyword " + squote(kw) +
                          did_you_mean(sub, {"enable", "uri", "refresh", "realm", "auth", "hide-version",
                                             "show-legends", "show-node", "show-desc", "admin", "scope",
                                             "http-request"}) +
                          " (supported: stats enable, uri, refresh, realm, auth, hide-version, scope, admin, "
                          "http-request)");
    }
    s.enabled = true;  // every stats keyword enables the page, as in HAProxy
    s.where = line.at;
}

// ---- monitor-uri / monitor fail ----------------------------------------------------------------------------

void kw_monitor_uri(ParseState&, ProxyDraft& px, const Line& line) {
    const auto& uri = arg_or_fail(line, 1, "monitor-uri", "a URI starting with '/'");
    if (uri.empty() || uri.front() != '/' || has_ctl(uri) || uri.find(' ') != std::string::npos)
        fail(line.at, "'monitor-uri' expects a URI starting with '/', got " + squote(uri));
    no_more_args(line, 2, "monitor-uri");
    px.fe.monitor_uri = uri;
    px.fe.monitor_at = line.at;
}

void kw_monitor(ParseState&, ProxyDraft& px, const Line& line) {
    const auto& sub = arg_or_fail(line, 1, "monitor", "'fail if|unless <condition>'");
    if (sub != "fail") fail(line.at, "'monitor' expects 'fail if|unless <condition>', got " + squote(sub));
    const auto& kw = arg_or_fail(line, 2, "monitor fail", "'if' or 'unless' and a condition");
    if ((kw != "if" && kw != "unless") || line.words.size() < 4)
        fail(line.at, "'monitor fail' expects 'if' or 'unless' and a condition");
    px.monitor_fail = line;
}

namespace {

// monitor-uri as the first http-request rules (HAProxy answers it before any rule): an ACL on
// the exact URI, then `monitor fail` (the proxy's 503, as HAProxy's) and 200 "Service ready"
// with HAProxy's body. "monitor fail if A || B" becomes "... if <uri> A || <uri> B"; "unless X"
// becomes a 200 for <uri> X first, so what is left of <uri> fails.
void add_monitor_rules(ParseState& st, ProxyDraft& px) {
    const std::string uri = px.fe.monitor_uri;
    const Location at = px.fe.monitor_at;
    const std::string acl = "__monitor_uri";
    kw_acl(st, px, Line{at, {"acl", acl, "url", uri}});
    std::vector<HttpRule> kept;
    each_http(px, [&](HttpProxy& h) {
        if (kept.empty()) kept = h.request_rules;
        h.request_rules.clear();
    });
    const std::vector<std::string> ready = {"http-request", "return", "status", "200", "content-type", "text/html",
                                            "string", "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"};
    const std::vector<std::string> failing = {"http-request", "deny", "deny_status", "503"};
    auto with_cond = [&](std::vector<std::string> w, bool with_fail) {
        w.push_back("if");
        w.push_back(acl);
        if (with_fail) {
            const Line& f = *px.monitor_fail;
            int depth = 0;
            for (std::size_t i = 3; i < f.words.size(); ++i) {
                const std::string& t = f.words[i];
                w.push_back(t);
                if (t == "{") ++depth;
                if (t == "}") --depth;
                if (depth == 0 && (t == "||" || t == "or")) w.push_back(acl);
            }
        }
        return w;
    };
    if (px.monitor_fail) {
        const bool unless = px.monitor_fail->words[2] == "unless";
        kw_http_request(st, px, Line{px.monitor_fail->at, with_cond(unless ? ready : failing, true)});
        kw_http_request(st, px, Line{at, with_cond(unless ? failing : ready, false)});
    } else {
        kw_http_request(st, px, Line{at, with_cond(ready, false)});
    }
    each_http(px, [&](HttpProxy& h) {
        for (HttpRule& r : h.request_rules) r.monitor = true;
        h.request_own += h.request_rules.size();  // before the defaults' rules and the proxy's own
        h.request_rules.insert(h.request_rules.end(), kept.begin(), kept.end());
    });
}

}  // namespace

// ---- end of a proxy section and of the configuration -----------------------------------------------------

void finish_proxy_http(ParseState& st, ProxyDraft& px) {
    if (px.monitor_fail && px.fe.monitor_uri.empty())
        st.warn(px.monitor_fail->at, "'monitor fail' without 'monitor-uri' in " + px.kind + " " + squote(px.name) +
                                         " does nothing");
    if (has_fe(px) && px.kind != "defaults" && !px.fe.monitor_uri.empty() && px.fe.mode == Mode::Http)
        add_monitor_rules(st, px);
    // The 'redirect' keyword runs after the http-request rules, as in HAProxy.
    each_http(px, [&](HttpProxy& h) {
        h.request_rules.insert(h.request_rules.end(), px.redirects.begin(), px.redirects.end());
    });
    px.redirects.clear();
    resolve_acl_terms(px);
    check_captures(st, px);
    // the stats page's conditions name the ACLs of the section that holds it
    for (auto [on, s, h] : {std::tuple{has_fe(px), &px.fe.stats, &px.fe.http}, std::tuple{has_be(px), &px.be.stats, &px.be.http}}) {
        if (!on) continue;
        const std::size_t lent = is_defaults(px) ? 0 : px.acls_inherited;
        for (Condition& c : s->admin) fix_terms(h->acls, c, lent);
        for (HttpRule& r : s->rules) fix_terms(h->acls, r.cond, lent);
        if (!s->rules.empty() && (!s->users.users.empty() || !s->realm.empty()))
            fail(s->rules.front().where, px.kind + " " + squote(px.name) +
                                             ": stats 'auth'/'realm' and 'http-request' can't be used at the same time.");
    }

    const bool fe_tcp = has_fe(px) && px.fe.mode == Mode::Tcp;
    const bool be_tcp = has_be(px) && px.be.mode == Mode::Tcp;
    check_tcp_rules(st, px);
    if (fe_tcp) {
        if (px.fe.stats.enabled)
            st.warn(px.fe.stats.where, "the stats page of " + px.kind + " " + squote(px.name) +
                                           " is ignored: it needs 'mode http'");
        httplog_to_tcplog(st, px);
    }
    if (fe_tcp) {
        // HAProxy drops these from a tcp frontend, even one whose connections an http backend turns into HTTP
        // (config/validate.cpp upgrade_to_http serves such a frontend on the HTTP path: they must not act there;
        // its http-request/response rules do act there, as in HAProxy)
        if (!px.fe.monitor_uri.empty()) {
            st.warn(px.fe.monitor_at, "'monitor-uri' of " + px.kind + " " + squote(px.name) +
                                                 " is ignored: it needs 'mode http'");
            px.fe.monitor_uri.clear();
        }
        if (px.fe.http.forwardfor) {
            st.warn(px.fe.http.forwardfor_at, "'option forwardfor' of " + px.kind + " " + squote(px.name) +
                                  " is ignored: it needs 'mode http'");
            px.fe.http.forwardfor = false;
        }
    }
    if (be_tcp && !fe_tcp) {  // (a tcp frontend's: config/validate.cpp, once its backends are known)
        const HttpProxy& h = px.be.http;
        if (!h.request_rules.empty())
            st.warn(h.request_rules.front().where, "'http-request' rules of " + px.kind + " " +
                                                       squote(px.name) +
                                                       " are ignored: they need 'mode http'");
        if (!h.response_rules.empty())
            st.warn(h.response_rules.front().where, "'http-response' rules of " + px.kind + " " +
                                                        squote(px.name) +
                                                        " are ignored: they need 'mode http'");
        if (h.after_rules.size() > h.after_own)
            st.warn(h.after_rules[h.after_own].where, "'http-after-response' rules of " + px.kind + " " +
                                                                squote(px.name) + " are ignored: they need 'mode http'");
    }
    if (fe_tcp) px.fe.stats.enabled = false;
}

void resolve_http(ParseState& st) {
    check_userlist_refs(st);
    // stats scope <proxy>: HAProxy accepts an unknown name (the page then shows nothing for it): a warning
    for (const auto& [name, at] : st.stats_scope_refs) {
        bool found = false;
        std::vector<std::string_view> names;
        for (const auto& px : st.proxies) {
            if (px.name == name) found = true;
            names.push_back(px.name);
        }
        if (!found)
            st.warn(at, "'stats scope': no proxy named " + squote(name) + ", the page shows nothing for it" +
                            did_you_mean(name, names));
    }
    for (auto& px : st.proxies) {
        resolve_error_replies(st, px);
        each_http(px, [&](HttpProxy& h) { h.max_body = st.cfg.global.max_body; });
    }
}

// unique-id-format <fmt> / unique-id-header <name>: a frontend's (or listen's, or from defaults); HAProxy
// accepts them in a backend and does nothing with them there: so does this version, with a warning.
void kw_unique_id_format(ParseState& st, ProxyDraft& px, const Line& line) {
    if (line.words.size() < 2 || line.words[1].empty()) fail(line.at, "unique-id-format expects an argument.");
    if (line.words.size() > 2)
        fail(line.at, "unique-id-format expects only one argument, don't forget to escape spaces!");
    check_unique_id_format(line, line.words[1]);
    if (!has_fe(px)) {
        st.warn(line.at, "'unique-id-format' in a backend has no effect (as in HAProxy): set it in the frontend");
        return;
    }
    px.fe.unique_id_format = line.words[1];
}

void kw_unique_id_header(ParseState& st, ProxyDraft& px, const Line& line) {
    if (line.words.size() < 2 || line.words[1].empty()) fail(line.at, "unique-id-header expects an argument.");
    if (!http::is_token(line.words[1])) fail(line.at, "unique-id-header: invalid header name " + squote(line.words[1]));
    if (!has_fe(px)) {
        st.warn(line.at, "'unique-id-header' in a backend has no effect (as in HAProxy): set it in the frontend");
        return;
    }
    px.fe.unique_id_header = line.words[1];
}

}  // namespace es::config::detail
