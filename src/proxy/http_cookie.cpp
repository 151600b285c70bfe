// H1Proxy: cookie persistence (`cookie NAME insert|rewrite|prefix ...`, server `cookie VALUE`,
// `option persist`), as HAProxy 2.6 does it.
//  - Request (h_cookie_request, while the outgoing head is written): the first NAME cookie whose
//    value (in prefix mode: up to '~') is a server's `cookie` names the server (H1Stream::ck_srv).
//    In insert mode with `indirect` the cookie is removed from what the server gets; in prefix mode
//    the "VALUE~" prefix is; other cookies of the header pass unchanged.
//  - Balancing (h_persist_pick): the named server takes the request while it is up (ready or
//    draining: drain keeps persistent traffic, as HAProxy's) or, with `option persist`, even DOWN
//    or in maintenance (HAProxy 2.6 does so, letter D). Otherwise the request is balanced and the
//    response carries a new cookie (insert mode).
//  - Response (h_cookie_server_set, h_cookie_insert, while the client's head is written): the
//    server's own NAME cookies are rewritten (rewrite: the value becomes the server's; prefix: "VALUE~" is put in
//    front), or deleted in insert mode with `indirect` unless `preserve`; insert mode adds
//    `Set-Cookie: NAME=VALUE; path=/[; domain=D][; HttpOnly][; Secure]` when the client did not
//    already hold the right one (`postonly`: only for POST), with `Cache-control: private` under
//    `nocache`.
//  - The log's cookie letters (%tsc, third and fourth): N I D V for the request, N I P R D for
//    the response; "--" in passive mode (no mode written), as HAProxy prints.
#include "edgeshard/proxy/h1.hpp"
#include "http_internal.hpp"

namespace es::proxy {

using h1::Writer;

namespace {

int server_by_cookie(const config::Backend& be, std::string_view v) {
    for (std::size_t i = 0; i < be.servers.size(); ++i)
        if (!be.servers[i].cookie.empty() && be.servers[i].cookie == v) return int(i);
    return -1;
}

}  // namespace

// Returns true when the request's Cookie headers must be written changed (h_cookie_write_req).
bool H1Proxy::h_cookie_request(H1Conn* s, const http::RequestHead& req) {
    const auto& be = cfg_.backends[std::size_t(s->be)];
    const config::CookieSpec& ck = be.cookie;
    H1Stream* x = s->st;
    x->ck_srv = -1;
    const bool passive = ck.mode == config::CookieSpec::Mode::Passive;
    x->ck_req = passive ? '-' : 'N';
    x->ck_rsp = passive ? '-' : 'N';
    bool change = false;
    for (std::uint16_t i = 0; i < req.nheaders && x->ck_srv < 0; ++i) {
        const http::Header& h = req.headers[i];
        if (h.removed || !http::iequals(h.name, "cookie")) continue;
        for_each_pair(h.value, [&](std::string_view, std::string_view name, std::string_view val, std::size_t,
                                   std::size_t) {
            if (name != ck.name) return false;
            std::string_view id = val;
            if (ck.mode == config::CookieSpec::Mode::Prefix) {
                const std::size_t t = val.find('~');
                if (t == std::string_view::npos) return false;  // not ours: the application's own cookie
                id = val.substr(0, t);
            }
            const int srv = server_by_cookie(be, id);
            if (!passive) x->ck_req = srv >= 0 ? 'V' : 'I';  // 'D' once the server turns out to be unusable
            x->ck_srv = std::int16_t(srv);
            change = ck.mode == config::CookieSpec::Mode::Prefix ||
                     (ck.mode == config::CookieSpec::Mode::Insert && ck.indirect);
            return true;
        });
    }
    return change;
}

// One Cookie header as the server gets it: the persistence cookie removed (insert + indirect) or
// its prefix stripped (prefix); the other pairs as they were, joined by "; ". A header left empty
// is not written.
void H1Proxy::h_cookie_write_req(Writer& w, const http::Header& h, const config::CookieSpec& ck) {
    char buf[HeadBuf::kCap];
    std::size_t n = 0;
    bool touched = false;
    auto add = [&](std::string_view a) {
        if (!a.empty() && n + a.size() <= sizeof buf) std::memcpy(buf + n, a.data(), a.size());
        n += a.size();
    };
    for_each_pair(h.value, [&](std::string_view pair, std::string_view name, std::string_view val, std::size_t,
                               std::size_t) {
        if (name == ck.name && !touched) {
            if (ck.mode == config::CookieSpec::Mode::Prefix) {
                const std::size_t t = val.find('~');
                if (t != std::string_view::npos) {
                    touched = true;
                    if (n) add("; ");
                    add(name);
                    add("=");
                    add(val.substr(t + 1));
                    return false;
                }
            } else {
                touched = true;
                return false;  // removed
            }
        }
        if (n) add("; ");
        add(pair);
        return false;
    });
    if (!touched) {
        w.header(h.name, h.value);
        return;
    }
    if (n == 0) return;
    if (n > sizeof buf) {
        w.overflow = true;
        return;
    }
    w.header(h.name, std::string_view(buf, n));
}

// The server a persistence cookie names, when it may take the request: kNone to balance instead,
// kFull to wait in the queue for it.
int H1Proxy::h_persist_pick(H1Conn* s, int exclude) {
    H1Stream* x = s->st;
    if (x->ck_srv < 0) return BackendLb::kNone;
    const auto& be = cfg_.backends[std::size_t(s->be)];
    ServerSlot& sv = lbs_[std::size_t(s->be)]->server(x->ck_srv);
    const bool up = sv.admin != shard::ServerAdmin::Maint && !sv.down;
    const bool passive = be.cookie.mode == config::CookieSpec::Mode::Passive;
    if (!up && !passive) x->ck_req = 'D';
    if ((!up && !be.persist) || x->ck_srv == exclude) {
        x->ck_srv = -1;  // balanced from here on, and a new cookie is given
        return BackendLb::kNone;
    }
    return sv.has_room() ? x->ck_srv : BackendLb::kFull;
}

// One Set-Cookie header of the server's response, as the client gets it: the persistence cookie
// rewritten in place (rewrite: the server's value; prefix: "VALUE~" in front), dropped in insert
// mode (ours replaces it) unless `preserve`, anything else as it came.
void H1Proxy::h_cookie_server_set(H1Conn* s, const http::Header& h, Writer& w) {
    const auto& be = cfg_.backends[std::size_t(s->be)];
    const config::CookieSpec& ck = be.cookie;
    H1Stream* x = s->st;
    const std::string_view v = h.value;
    const std::size_t eq = v.find('=');
    std::string_view name = v.substr(0, eq == std::string_view::npos ? v.size() : eq);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    using M = config::CookieSpec::Mode;
    if (name != ck.name || eq == std::string_view::npos || ck.mode == M::Passive) {
        w.header(h.name, h.value);
        return;
    }
    if (ck.mode == M::Insert) {
        if (ck.preserve) {
            x->set(kH1SCookieKept);
            x->ck_rsp = 'P';
            w.header(h.name, h.value);
        } else {
            x->ck_rsp = 'D';
        }
        return;
    }
    const std::string_view val = x->server >= 0 ? std::string_view(be.servers[std::size_t(x->server)].cookie)
                                                : std::string_view();
    if (val.empty()) {
        w.header(h.name, h.value);
        return;
    }
    const std::size_t vend = std::min(v.find(';', eq), v.size());
    w.put(h.name);
    w.put(": ");
    w.put(v.substr(0, eq + 1));
    w.put(val);
    if (ck.mode == M::Prefix) {
        w.put("~");
        w.put(v.substr(eq + 1, vend - eq - 1));
    }
    w.put(v.substr(vend));
    w.put("\r\n");
    x->ck_rsp = 'R';
}

namespace {

// HAProxy 2.6's reading of a response's cacheability (what `nocache` protects): a cacheable status,
// a GET or HEAD, no `no-cache`/`private`/`no-store`, and freshness (max-age, s-maxage, Expires) or
// a validator (ETag, Last-Modified).
bool cacheable(const http::ResponseHead& rsp, http::Method m) {
    if (m != http::Method::Get && m != http::Method::Head) return false;
    switch (rsp.status) {
        case 200: case 203: case 204: case 206: case 300: case 301: case 404: case 405: case 410: case 414: case 501:
            break;
        default:
            return false;
    }
    bool fresh = false;
    for (std::uint16_t i = 0; i < rsp.nheaders; ++i) {
        const http::Header& h = rsp.headers[i];
        if (http::iequals(h.name, "cache-control")) {
            const std::string_view v = h.value;
            for (std::size_t p = 0; p < v.size();) {
                while (p < v.size() && (v[p] == ' ' || v[p] == ',')) ++p;
                std::size_t e = p;
                while (e < v.size() && v[e] != ',') ++e;
                std::string_view d = v.substr(p, e - p);
                while (!d.empty() && d.back() == ' ') d.remove_suffix(1);
                const std::string_view key = d.substr(0, d.find('='));
                if (http::iequals(key, "no-cache") || http::iequals(key, "private") || http::iequals(key, "no-store"))
                    return false;
                if (http::iequals(key, "max-age") || http::iequals(key, "s-maxage")) fresh = true;
                p = e;
            }
        } else if (http::iequals(h.name, "expires") || http::iequals(h.name, "etag") ||
                   http::iequals(h.name, "last-modified")) {
            fresh = true;
        }
    }
    return fresh;
}

}  // namespace

// Insert mode: our cookie, after the other headers, unless the client holds the right one.
void H1Proxy::h_cookie_insert(H1Conn* s, const http::ResponseHead& rsp, Writer& w) {
    const auto& be = cfg_.backends[std::size_t(s->be)];
    const config::CookieSpec& ck = be.cookie;
    H1Stream* x = s->st;
    const int si = x->server;
    const std::string_view val = si >= 0 ? std::string_view(be.servers[std::size_t(si)].cookie) : std::string_view();
    if (ck.mode != config::CookieSpec::Mode::Insert || val.empty() || x->has(kH1SCookieKept)) return;
    if (x->ck_srv == si) return;  // the client holds the right one already (or `option persist` kept it)
    if (ck.postonly && x->method != http::Method::Post) return;
    w.put("Set-Cookie: ");
    w.put(ck.name);
    w.put("=");
    w.put(val);
    w.put("; path=/");
    for (const auto& d : ck.domains) {
        w.put("; domain=");
        w.put(d);
    }
    if (ck.httponly) w.put("; HttpOnly");
    if (ck.secure) w.put("; Secure");
    w.put("\r\n");
    if (ck.nocache && cacheable(rsp, x->method)) w.put("Cache-control: private\r\n");
    x->ck_rsp = 'I';
}

}  // namespace es::proxy
