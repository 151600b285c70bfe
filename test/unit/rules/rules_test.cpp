// http-request / http-response rules, use_backend, built-in and configured replies, redirects,
// header edits with log-format values, url_decode.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <algorithm>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "edgeshard/rules/rules.hpp"
#include "heads.hpp"

using es::config::Acl;
using es::config::Condition;
using es::config::CondTerm;
using es::config::HttpAction;
using es::config::HttpProxy;
using es::config::HttpRule;
using es::config::Reply;
using es::rules::Arena;
using es::rules::error_reply;
using es::rules::HeaderEdits;
using es::http::RequestHead;
using es::http::ResponseHead;
using es::rules::Txn;
using es::rules::Verdict;
using Match = es::config::Acl::Match;

using rulestest::Hdrs;
using rulestest::make_req;

namespace {

// A request with its transaction state, as the proxy holds it.
struct Exchange {
    RequestHead req;
    Arena arena;
    HeaderEdits edits;
    sockaddr_storage src{};
    Txn t;
    explicit Exchange(RequestHead r) : req(r) {
        auto* s = reinterpret_cast<sockaddr_in*>(&src);
        s->sin_family = AF_INET;
        s->sin_port = htons(40001);
        inet_pton(AF_INET, "198.51.100.7", &s->sin_addr);
        t.req = &req;
        t.src = &src;
        t.arena = &arena;
        t.edits = &edits;
    }
    // the headers that would be forwarded: received ones not removed, then the added ones
    std::vector<std::string> out_headers() const {
        std::vector<std::string> v;
        for (std::uint16_t i = 0; i < req.nheaders; ++i)
            if (!req.headers[i].removed)
                v.push_back(std::string(req.headers[i].name) + ": " + std::string(req.headers[i].value));
        for (int i = 0; i < edits.nadds; ++i)
            v.push_back(std::string(edits.adds[i].name) + ": " + std::string(edits.adds[i].value));
        return v;
    }
};

HttpRule rule(HttpAction a, std::string name = "", std::string value = "") {
    HttpRule r;
    r.action = a;
    r.name = std::move(name);
    r.value = std::move(value);
    return r;
}

Condition when(int acl, bool negate = false) {
    Condition c;
    c.present = true;
    c.any_of = {{CondTerm{{acl}, negate}}};
    return c;
}

Acl path_beg(std::string p) {
    Acl a;
    a.name = "p";
    a.fetch = "path";
    a.match = Match::Beg;
    a.patterns = {std::move(p)};
    return a;
}

std::string body_of(std::string_view reply) {
    const std::size_t e = reply.find("\r\n\r\n");
    return e == std::string_view::npos ? std::string() : std::string(reply.substr(e + 4));
}

}  // namespace

// ---- replies ------------------------------------------------------------------------------------

TEST_CASE("error_reply: the built-in 503 byte for byte") {
    CHECK(error_reply(503, nullptr, nullptr) ==
          "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\n"
          "content-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\n"
          "No server is available to handle this request.\n</body></html>\n");
    CHECK(error_reply(403, nullptr, nullptr) ==
          "HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\n"
          "content-type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\n"
          "Request forbidden by administrative rules.\n</body></html>\n");
}

TEST_CASE("error_reply: every built-in page is well formed, with a right Content-Length") {
    for (int code : {400, 401, 403, 404, 405, 407, 408, 410, 413, 414, 421,
                     425, 429, 431, 500, 501, 502, 503, 504, 505, 418, 599}) {
        CAPTURE(code);
        const std::string_view r = error_reply(code, nullptr, nullptr);
        REQUIRE(!r.empty());
        CHECK(r.substr(0, 13) == "HTTP/1.1 " + std::to_string(code) + " ");
        const std::string body = body_of(r);
        CHECK(r.find("\r\ncontent-length: " + std::to_string(body.size()) + "\r\n") !=
              std::string_view::npos);
        CHECK(r.find("\r\ncache-control: no-cache\r\n") != std::string_view::npos);
        CHECK(r.find("\r\ncontent-type: text/html\r\n") != std::string_view::npos);
        CHECK(r.find("onnection") == std::string_view::npos);  // the proxy adds connection handling
        CHECK(body.find("<h1>" + std::to_string(code) + " ") != std::string::npos);
        CHECK(error_reply(code, nullptr, nullptr).data() == r.data());  // built once
    }
    CHECK(error_reply(504, nullptr, nullptr).substr(0, 34) == "HTTP/1.1 504 Gateway Time-out\r\ncon");
    CHECK(error_reply(99, nullptr, nullptr) == error_reply(500, nullptr, nullptr));
    CHECK(error_reply(600, nullptr, nullptr) == error_reply(500, nullptr, nullptr));
}

TEST_CASE("error_reply: the backend's reply, else the frontend's, else built-in") {
    HttpProxy be, fe;
    be.errors.push_back(Reply{503, "HTTP/1.1 503 BE\r\ncontent-length: 0\r\n\r\n", {}});
    fe.errors.push_back(Reply{503, "HTTP/1.1 503 FE\r\ncontent-length: 0\r\n\r\n", {}});
    fe.errors.push_back(Reply{404, "HTTP/1.1 404 FE\r\ncontent-length: 0\r\n\r\n", {}});
    CHECK(error_reply(503, &be, &fe).substr(0, 15) == "HTTP/1.1 503 BE");
    CHECK(error_reply(503, nullptr, &fe).substr(0, 15) == "HTTP/1.1 503 FE");
    CHECK(error_reply(404, &be, &fe).substr(0, 15) == "HTTP/1.1 404 FE");
    CHECK(error_reply(502, &be, &fe) == error_reply(502, nullptr, nullptr));
}

// ---- request rules ------------------------------------------------------------------------------

TEST_CASE("request rules: in order; conditions skip; allow stops; deny answers 403") {
    HttpProxy px;
    px.acls = {path_beg("/admin"), path_beg("/open")};
    px.request_rules.push_back(rule(HttpAction::Allow));
    px.request_rules.back().cond = when(1);
    px.request_rules.push_back(rule(HttpAction::Deny));
    px.request_rules.back().cond = when(0);

    Exchange open(make_req("GET", "/open/admin", {{"Host", "h"}}));
    CHECK(es::rules::run_request_rules(px, open.t).kind == Verdict::Continue);
    Exchange other(make_req("GET", "/other", {{"Host", "h"}}));
    CHECK(es::rules::run_request_rules(px, other.t).kind == Verdict::Continue);
    Exchange admin(make_req("GET", "/admin/x", {{"Host", "h"}}));
    const Verdict v = es::rules::run_request_rules(px, admin.t);
    CHECK(v.kind == Verdict::Reply);
    CHECK(v.status == 403);
    CHECK(v.denied);
    CHECK(v.bytes == error_reply(403, nullptr, nullptr));

    // allow placed after deny does not help
    HttpProxy px2;
    px2.request_rules.push_back(rule(HttpAction::Deny));
    px2.request_rules.push_back(rule(HttpAction::Allow));
    CHECK(es::rules::run_request_rules(px2, open.t).kind == Verdict::Reply);
}

TEST_CASE(
    "request rules: deny_status, custom deny reply, and error replies from the proxy then the fallback") {
    HttpProxy px;
    px.request_rules.push_back(rule(HttpAction::Deny));
    px.request_rules.back().status = 429;
    Exchange e(make_req("GET", "/", {{"Host", "h"}}));
    Verdict v = es::rules::run_request_rules(px, e.t);
    CHECK(v.status == 429);
    CHECK(v.bytes == error_reply(429, nullptr, nullptr));

    HttpProxy fe;
    fe.errors.push_back(Reply{429, "HTTP/1.1 429 FE\r\ncontent-length: 0\r\n\r\n", {}});
    e.t.fallback = &fe;
    v = es::rules::run_request_rules(px, e.t);
    CHECK(v.bytes == "HTTP/1.1 429 FE\r\ncontent-length: 0\r\n\r\n");
    px.errors.push_back(Reply{429, "HTTP/1.1 429 BE\r\ncontent-length: 0\r\n\r\n", {}});
    v = es::rules::run_request_rules(px, e.t);
    CHECK(v.bytes == "HTTP/1.1 429 BE\r\ncontent-length: 0\r\n\r\n");

    HttpProxy own;
    own.request_rules.push_back(rule(HttpAction::Deny));
    own.request_rules.back().has_reply = true;
    own.request_rules.back().reply = Reply{403, "HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno", {}};
    v = es::rules::run_request_rules(own, e.t);
    CHECK(v.denied);
    CHECK(v.status == 403);
    CHECK(v.bytes == "HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno");
}

TEST_CASE("request rules: return with and without a payload") {
    Exchange e(make_req("GET", "/", {{"Host", "h"}}));
    HttpProxy px;
    px.request_rules.push_back(rule(HttpAction::Return));
    Verdict v = es::rules::run_request_rules(px, e.t);
    CHECK(v.kind == Verdict::Reply);
    CHECK_FALSE(v.denied);
    CHECK(v.status == 200);
    CHECK(v.bytes == "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");

    px.request_rules[0].status = 204;
    v = es::rules::run_request_rules(px, e.t);
    CHECK(v.bytes == "HTTP/1.1 204 No Content\r\n\r\n");

    px.request_rules[0].status = 200;
    px.request_rules[0].has_reply = true;
    px.request_rules[0].reply =
        Reply{200, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n", {}};
    v = es::rules::run_request_rules(px, e.t);
    CHECK(v.status == 200);
    CHECK(v.bytes == px.request_rules[0].reply.raw);
}

TEST_CASE("request rules: redirect location / prefix / scheme, codes, drop-query") {
    auto run = [](HttpRule r, std::string_view target) {
        Exchange e(make_req("GET", target, {{"Host", "www.example.com"}}));
        HttpProxy px;
        px.request_rules.push_back(std::move(r));
        const Verdict v = es::rules::run_request_rules(px, e.t);
        CHECK(v.kind == Verdict::Reply);
        CHECK_FALSE(v.denied);
        return std::make_pair(v.status, std::string(v.bytes));
    };
    HttpRule loc = rule(HttpAction::Redirect, "", "https://example.org/moved");
    loc.redirect_kind = "location";
    auto [s1, b1] = run(loc, "/a?b=c");
    CHECK(s1 == 302);
    CHECK(b1 ==
          "HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: https://example.org/moved\r\n"
          "cache-control: no-cache\r\n\r\n");

    HttpRule pre = rule(HttpAction::Redirect, "", "https://new.example.com");
    pre.redirect_kind = "prefix";
    pre.status = 301;
    auto [s2, b2] = run(pre, "/a/b?x=1&y=2");
    CHECK(s2 == 301);
    CHECK(b2 ==
          "HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\nlocation: "
          "https://new.example.com/a/b?x=1&y=2\r\n"
          "cache-control: no-cache\r\n\r\n");
    auto [s3, b3] = run(pre, "/a/b");
    CHECK(b3.find("location: https://new.example.com/a/b\r\n") != std::string::npos);
    pre.drop_query = true;
    auto [s4, b4] = run(pre, "/a/b?x=1");
    CHECK(b4.find("location: https://new.example.com/a/b\r\n") != std::string::npos);

    HttpRule slash = rule(HttpAction::Redirect, "", "/");
    slash.redirect_kind = "prefix";
    slash.status = 308;
    auto [s5, b5] = run(slash, "/p?q");
    CHECK(b5.find("HTTP/1.1 308 Permanent Redirect\r\n") == 0);
    CHECK(b5.find("location: /p?q\r\n") != std::string::npos);

    HttpRule sch = rule(HttpAction::Redirect, "", "https");
    sch.redirect_kind = "scheme";
    auto [s6, b6] = run(sch, "/login?next=%2F");
    CHECK(b6.find("location: https://www.example.com/login?next=%2F\r\n") != std::string::npos);
    sch.drop_query = true;
    sch.status = 303;
    auto [s7, b7] = run(sch, "/login?next=%2F");
    CHECK(s7 == 303);
    CHECK(b7.find("HTTP/1.1 303 See Other\r\n") == 0);
    CHECK(b7.find("location: https://www.example.com/login\r\n") != std::string::npos);

    HttpRule fmt = rule(HttpAction::Redirect, "", "https://%[hdr(host)]%[path]");
    fmt.redirect_kind = "location";
    fmt.status = 307;
    auto [s8, b8] = run(fmt, "/x?y");
    CHECK(b8.find("HTTP/1.1 307 Temporary Redirect\r\n") == 0);
    CHECK(b8.find("location: https://www.example.com/x\r\n") != std::string::npos);
}

TEST_CASE("request rules: auth answers 401 or 407 with the rule's realm") {
    HttpProxy px;
    px.request_rules.push_back(rule(HttpAction::Auth, "Private"));
    Exchange e(make_req("GET", "/", {{"Host", "h"}}));
    Verdict v = es::rules::run_request_rules(px, e.t);
    CHECK(v.kind == Verdict::Reply);
    CHECK(v.status == 401);
    CHECK_FALSE(v.denied);
    CHECK(v.bytes.find("\r\nwww-authenticate: Basic realm=\"Private\"\r\n") != std::string_view::npos);

    px.request_rules[0].name.clear();
    Exchange p(make_req("GET", "http://h/", {{"Host", "h"}}));
    p.req.absolute_form = true;
    v = es::rules::run_request_rules(px, p.t);
    CHECK(v.status == 407);
    CHECK(v.bytes.find("\r\nproxy-authenticate: Basic realm=\"edgeshard\"\r\n") != std::string_view::npos);
}

TEST_CASE("request rules: set-header, add-header, del-header") {
    Exchange e(make_req("GET", "/p", {{"Host", "h"}, {"X-A", "1"}, {"x-a", "2"}, {"X-B", "b"}}));
    HttpProxy px;
    px.request_rules.push_back(rule(HttpAction::AddHeader, "X-New", "n1"));
    px.request_rules.push_back(rule(HttpAction::AddHeader, "X-New", "n2"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-A", "set"));
    px.request_rules.push_back(rule(HttpAction::DelHeader, "x-b"));
    CHECK(es::rules::run_request_rules(px, e.t).kind == Verdict::Continue);
    CHECK(e.out_headers() == std::vector<std::string>{"Host: h", "X-New: n1", "X-New: n2", "X-A: set"});

    // set-header replaces headers added before it; del-header removes added ones too
    HttpProxy px2;
    px2.request_rules.push_back(rule(HttpAction::SetHeader, "x-new", "only"));
    px2.request_rules.push_back(rule(HttpAction::DelHeader, "X-A"));
    CHECK(es::rules::run_request_rules(px2, e.t).kind == Verdict::Continue);
    CHECK(e.out_headers() == std::vector<std::string>{"Host: h", "x-new: only"});
    CHECK(e.arena.used == 0);  // plain values are config data, nothing copied
}

TEST_CASE("request rules: header values are log-format strings") {
    Exchange e(make_req(
        "POST", "/api/v1?x=1",
        {{"Host", "h"}, {"X-Forwarded-For", "203.0.113.1, 10.0.0.2"}, {"X-Forwarded-For", "10.9.9.9"}}));
    HttpProxy px;
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Client", "%[src]"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Peer", "%ci:%cp"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Last-Hop", "%[hdr(x-forwarded-for)]"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Req", "%[method] %[path] 100%% %[url]"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Missing", "[%[hdr(x-none)]]"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Literal", "%[rand(10)] %T %{+Q}o %"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Copy", "%[hdr(X-Client)]!"));
    CHECK(es::rules::run_request_rules(px, e.t).kind == Verdict::Continue);
    const std::vector<std::string> want = {
        "Host: h",
        "X-Forwarded-For: 203.0.113.1, 10.0.0.2",
        "X-Forwarded-For: 10.9.9.9",
        "X-Client: 198.51.100.7",
        "X-Peer: 198.51.100.7:40001",
        "X-Last-Hop: 10.9.9.9",
        "X-Req: POST /api/v1 100% /api/v1?x=1",
        "X-Missing: []",  // HAProxy 2.6 writes nothing for a missing sample in a header
        "X-Literal: %[rand(10)] %T %{+Q}o %",
        "X-Copy: 198.51.100.7!",
    };
    CHECK(e.out_headers() == want);

    Exchange v6(make_req("GET", "/", {{"Host", "h"}}));
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&v6.src);
    v6.src = {};
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(443);
    inet_pton(AF_INET6, "2001:db8::5", &s6->sin6_addr);
    HttpProxy px6;
    px6.request_rules.push_back(rule(HttpAction::AddHeader, "X-Peer", "%ci %cp"));
    es::rules::run_request_rules(px6, v6.t);
    CHECK(v6.out_headers().back() == "X-Peer: 2001:db8::5 443");
}

TEST_CASE("request rules: set-path, use-service, and conditions see earlier edits") {
    HttpProxy px;
    Acl tagged;
    tagged.name = "tagged";
    tagged.fetch = "hdr";
    tagged.arg = "x-tag";
    tagged.match = Match::Found;
    px.acls = {tagged};
    px.request_rules.push_back(rule(HttpAction::SetPath, "", "/v2%[path]"));
    px.request_rules.push_back(rule(HttpAction::AddHeader, "X-Tag", "yes"));
    px.request_rules.push_back(rule(HttpAction::UseService, "prometheus-exporter"));
    px.request_rules.back().cond = when(0);
    Exchange e(make_req("GET", "/metrics?x", {{"Host", "h"}}));
    const Verdict v = es::rules::run_request_rules(px, e.t);
    CHECK(e.req.target == "/v2/metrics?x");
    CHECK(e.req.path == "/v2/metrics");
    CHECK(e.req.query == "x");
    CHECK(v.kind == Verdict::Service);

    // later rules and conditions see the rewritten path (HAProxy: set-path changes the message)
    HttpProxy px2;
    Acl v2;
    v2.name = "v2";
    v2.fetch = "path";
    v2.match = Match::Beg;
    v2.patterns = {"/v2/"};
    px2.acls = {v2};
    px2.request_rules.push_back(rule(HttpAction::SetPath, "", "/v2%[path]"));
    px2.request_rules.push_back(rule(HttpAction::SetHeader, "X-Path", "%[path]"));
    px2.request_rules.push_back(rule(HttpAction::AddHeader, "X-V2", "yes"));
    px2.request_rules.back().cond = when(0);
    Exchange e2(make_req("GET", "/a?q", {{"Host", "h"}}));
    CHECK(es::rules::run_request_rules(px2, e2.t).kind == Verdict::Continue);
    CHECK(e2.req.target == "/v2/a?q");
    const auto hdrs = e2.out_headers();
    CHECK(std::find(hdrs.begin(), hdrs.end(), "X-Path: /v2/a") != hdrs.end());
    CHECK(std::find(hdrs.begin(), hdrs.end(), "X-V2: yes") != hdrs.end());
    CHECK(v.service == "prometheus-exporter");
}

TEST_CASE("request rules: a rule that does not fit answers 500 (strict mode)") {
    HttpProxy px;
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Big", std::string(5000, 'a') + "%[path]"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-Big2", std::string(5000, 'b') + "%[path]"));
    Exchange e(make_req("GET", "/", {{"Host", "h"}}));
    Verdict v = es::rules::run_request_rules(px, e.t);
    CHECK(v.kind == Verdict::Reply);
    CHECK(v.status == 500);
    CHECK(e.arena.overflow);

    HttpProxy many;
    for (int i = 0; i <= HeaderEdits::kMaxAdds; ++i)
        many.request_rules.push_back(rule(HttpAction::AddHeader, "X", "y"));
    Exchange f(make_req("GET", "/", {{"Host", "h"}}));
    v = es::rules::run_request_rules(many, f.t);
    CHECK(v.status == 500);
    CHECK(f.edits.nadds == HeaderEdits::kMaxAdds);

    HttpProxy auth;
    auth.request_rules.push_back(rule(HttpAction::Auth, "R"));
    Exchange g(make_req("GET", "/", {{"Host", "h"}}));
    g.arena.used = sizeof(g.arena.buf) - 10;
    v = es::rules::run_request_rules(auth, g.t);
    CHECK(v.status == 500);  // never let the request through
}

// ---- response rules -----------------------------------------------------------------------------

TEST_CASE("response rules: header edits on the response; deny answers 502") {
    Exchange e(make_req("GET", "/", {{"Host", "h"}}));
    ResponseHead rsp;
    rsp.status = 200;
    rsp.headers[0] = {"Server", "origin/1.0", false, false};
    rsp.headers[1] = {"X-Powered-By", "php", false, false};
    rsp.nheaders = 2;
    HeaderEdits redits;
    e.t.rsp = &rsp;
    e.t.edits = &redits;

    HttpProxy px;
    Acl php;
    php.name = "php";
    php.fetch = "hdr";
    php.arg = "x-powered-by";
    php.match = Match::Str;
    php.patterns = {"php"};
    px.acls = {php};
    px.response_rules.push_back(rule(HttpAction::DelHeader, "server"));
    px.response_rules.push_back(rule(HttpAction::SetHeader, "Strict-Transport-Security", "max-age=63072000"));
    px.response_rules.push_back(rule(HttpAction::AddHeader, "X-Served-For", "%[src]"));
    Verdict v = es::rules::run_response_rules(px, e.t);
    CHECK(v.kind == Verdict::Continue);
    CHECK(rsp.headers[0].removed);
    CHECK_FALSE(rsp.headers[1].removed);
    REQUIRE(redits.nadds == 2);
    CHECK(redits.adds[0].value == "max-age=63072000");
    CHECK(redits.adds[1].value == "198.51.100.7");
    CHECK(e.edits.nadds == 0);

    px.response_rules.push_back(rule(HttpAction::Deny));
    px.response_rules.back().cond = when(0);
    v = es::rules::run_response_rules(px, e.t);
    CHECK(v.kind == Verdict::Reply);
    CHECK(v.status == 502);
    CHECK(v.denied);
    CHECK(v.bytes == error_reply(502, nullptr, nullptr));
    rsp.headers[1].removed = true;
    redits.reset();
    CHECK(es::rules::run_response_rules(px, e.t).kind == Verdict::Continue);
}

// ---- use_backend --------------------------------------------------------------------------------

TEST_CASE("select_backend: first matching use_backend, else the default") {
    es::config::Frontend fe;
    fe.http.acls = {path_beg("/api"), path_beg("/static")};
    es::config::UseBackendRule api;
    api.backend_id = 3;
    api.cond = when(0);
    es::config::UseBackendRule stat;
    stat.backend_id = 5;
    stat.cond = when(1);
    es::config::UseBackendRule api2;
    api2.backend_id = 9;
    api2.cond = when(0);
    fe.use_backend_rules = {api, stat, api2};
    fe.default_backend_id = 1;

    Exchange a(make_req("GET", "/api/x", {{"Host", "h"}}));
    CHECK(es::rules::select_backend(fe, a.t) == 3);
    Exchange s(make_req("GET", "/static/x", {{"Host", "h"}}));
    CHECK(es::rules::select_backend(fe, s.t) == 5);
    Exchange o(make_req("GET", "/other", {{"Host", "h"}}));
    CHECK(es::rules::select_backend(fe, o.t) == 1);
    fe.default_backend_id = -1;
    CHECK(es::rules::select_backend(fe, o.t) == -1);
    es::config::UseBackendRule always;
    always.backend_id = 7;
    fe.use_backend_rules.push_back(always);
    CHECK(es::rules::select_backend(fe, o.t) == 7);
}

// ---- helpers ------------------------------------------------------------------------------------

TEST_CASE("url_decode: escapes, '+' only in queries, invalid escapes, capacity, in place") {
    char out[64];
    auto dec = [&](std::string_view in, bool query) -> std::string {
        const long n = es::rules::url_decode(in, out, sizeof(out), query);
        return n < 0 ? std::string("<err>") : std::string(out, static_cast<std::size_t>(n));
    };
    CHECK(dec("/a%2Fb", false) == "/a/b");
    CHECK(dec("%41%62%7e", false) == "Ab~");
    CHECK(dec("a+b%20c", false) == "a+b c");
    CHECK(dec("a+b%20c", true) == "a b c");
    CHECK(dec("%2B", true) == "+");
    CHECK(dec("", false).empty());
    CHECK(dec("100%", false) == "<err>");
    CHECK(dec("%4", false) == "<err>");
    CHECK(dec("%zz", false) == "<err>");
    CHECK(dec("%4g", true) == "<err>");
    CHECK(dec("%%41", false) == "<err>");
    CHECK(es::rules::url_decode("%00x", out, sizeof(out), false) == 2);
    CHECK(out[0] == '\0');
    CHECK(es::rules::url_decode("abcdef", out, 5, false) == -1);
    CHECK(es::rules::url_decode("ab%63", out, 3, false) == 3);
    char inplace[] = "x%3Dy+z";
    CHECK(es::rules::url_decode(inplace, inplace, sizeof(inplace), true) == 5);
    CHECK(std::string_view(inplace, 5) == "x=y z");
}

TEST_CASE("next_list_element: commas outside quotes, trimmed, empty elements kept") {
    auto split = [](std::string_view v) {
        std::vector<std::string> out;
        std::size_t pos = 0;
        std::string_view e;
        while (es::rules::next_list_element(v, pos, e)) out.emplace_back(e);
        return out;
    };
    CHECK(split("a, b ,c") == std::vector<std::string>{"a", "b", "c"});
    CHECK(split("") == std::vector<std::string>{""});
    CHECK(split("a,,b") == std::vector<std::string>{"a", "", "b"});
    CHECK(split("\"x,y\" , z") == std::vector<std::string>{"\"x,y\"", "z"});
    CHECK(split("\"a\\\",b\",c") == std::vector<std::string>{"\"a\\\",b\"", "c"});
}

// ---- rewrites (HAProxy 2.6: http_replace_hdrs, http_replace_req_*, exp_replace) --------------------

namespace {

HttpRule rewrite(HttpAction a, std::string name, std::string re, std::string fmt) {
    HttpRule r = rule(a, std::move(name), std::move(fmt));
    REQUIRE(r.re.compile(re, false).empty());
    return r;
}

std::vector<std::string> values_of(const RequestHead& req, std::string_view name) {
    std::vector<std::string> v;
    for (std::uint16_t i = 0; i < req.nheaders; ++i)
        if (!req.headers[i].removed && es::http::iequals(req.headers[i].name, name))
            v.emplace_back(req.headers[i].value);
    return v;
}

}  // namespace

TEST_CASE("rewrites: replace-header takes whole values, replace-value elements (blanks of replaced ones go)") {
    HttpProxy px;
    px.request_rules.push_back(rewrite(HttpAction::ReplaceValue, "X-A", "^a(.*)$", "b\\1"));
    Exchange e(make_req("GET", "/", {{"Host", "h"}, {"X-A", "xa , ay , xb"}, {"x-a", "a1,a2 ,  a3"}, {"X-A", ""}}));
    CHECK(es::rules::run_request_rules(px, e.t).kind == Verdict::Continue);
    CHECK(values_of(e.req, "x-a") == std::vector<std::string>{"xa ,by, xb", "b1,b2,b3", ""});

    HttpProxy px2;
    px2.request_rules.push_back(rewrite(HttpAction::ReplaceHeader, "X-A", "a", "Z\\x41\\\\\\q"));
    Exchange e2(make_req("GET", "/", {{"Host", "h"}, {"X-A", "xxaxx, yay"}, {"X-A", "bbb"}}));
    CHECK(es::rules::run_request_rules(px2, e2.t).kind == Verdict::Continue);
    CHECK(values_of(e2.req, "x-a") == std::vector<std::string>{"ZA\\q", "bbb"});

    // a lone '\' at the end of the replacement is a failed rewrite: strict-mode answers 500
    HttpProxy px3;
    px3.request_rules.push_back(rewrite(HttpAction::ReplaceHeader, "X-A", ".", "oops\\"));
    Exchange e3(make_req("GET", "/", {{"Host", "h"}, {"X-A", "v"}}));
    const Verdict v3 = es::rules::run_request_rules(px3, e3.t);
    CHECK(v3.status == 500);
    CHECK(v3.internal);                 // counted as an internal error (eint)...
    CHECK(e3.t.failed_rewrites == 1);  // ...and a failed rewrite (wrew)
    // ... unless strict-mode is off before it
    HttpRule off = rule(HttpAction::StrictMode);
    off.status = 0;
    px3.request_rules.insert(px3.request_rules.begin(), off);
    Exchange e4(make_req("GET", "/", {{"Host", "h"}, {"X-A", "v"}}));
    const Verdict v4 = es::rules::run_request_rules(px3, e4.t);
    CHECK(v4.kind == Verdict::Continue);
    CHECK_FALSE(v4.internal);
    CHECK(e4.t.failed_rewrites == 1);  // still a failed rewrite
    CHECK(values_of(e4.req, "x-a") == std::vector<std::string>{"v"});
}

TEST_CASE("rewrites: the target as HAProxy's http_replace_req_path/query/uri change it") {
    struct Case {
        HttpAction a;
        const char* re;  // for replace-*
        const char* fmt;
        const char* method;
        const char* target;
        const char* want;     // the target after the rule
        const char* path;     // what the path fetch then sees (null: untouched, the parser's)
        const char* query;
    };
    const Case cases[] = {
        {HttpAction::SetPath, "", "/c", "GET", "/a/b?k=v", "/c?k=v", "/c", "k=v"},
        {HttpAction::SetPath, "", "/c?d", "GET", "/a?k", "/c?d?k", "/c", "d?k"},
        {HttpAction::SetPath, "", "/c", "OPTIONS", "*", "/c", "/c", ""},
        {HttpAction::SetPath, "", "/c", "GET", "http://h.example/a?k", "http://h.example/c?k", "/c", "k"},
        {HttpAction::SetPathq, "", "/c", "GET", "/a/b?k=v", "/c", "/c", ""},
        {HttpAction::SetQuery, "", "a=b", "GET", "/nq", "/nq?a=b", "/nq", "a=b"},
        {HttpAction::SetQuery, "", "", "GET", "/nq", "/nq", "/nq", ""},
        {HttpAction::SetQuery, "", "", "GET", "/wq?old", "/wq?", "/wq", ""},
        {HttpAction::SetUri, "", "/new?x=1", "GET", "/a?k", "/new?x=1", "/new", "x=1"},
        {HttpAction::ReplacePath, "^/old/(.*)$", "/new/\\1", "GET", "/old/a?x=/old/y", "/new/a?x=/old/y", "/new/a",
         "x=/old/y"},
        {HttpAction::ReplacePath, "(.*)", "/pre\\1", "OPTIONS", "*", "*", nullptr, nullptr},
        {HttpAction::ReplacePathq, "^/a\\?(.*)$", "/b?z=1&\\1", "GET", "/a?c=3", "/b?z=1&c=3", "/b", "z=1&c=3"},
        {HttpAction::ReplaceUri, "^/(.*)$", "/u/\\1", "GET", "http://h.example/r?s", "http://h.example/r?s", nullptr,
         nullptr},
    };
    for (const Case& c : cases) {
        CAPTURE(c.target);
        CAPTURE(c.fmt);
        HttpProxy px;
        px.request_rules.push_back(c.re[0] ? rewrite(c.a, "", c.re, c.fmt) : rule(c.a, "", c.fmt));
        Exchange e(make_req(c.method, c.target, {{"Host", "h.example"}}));
        CHECK(es::rules::run_request_rules(px, e.t).kind == Verdict::Continue);
        CHECK(e.req.target == c.want);
        if (c.path == nullptr) continue;
        CHECK(e.req.path == c.path);
        CHECK(e.req.query == c.query);
    }
    // set-uri with an authority: Host follows; set-method leaves the method fetch alone
    HttpProxy px;
    px.request_rules.push_back(rule(HttpAction::SetUri, "", "http://other.example:8080/n?y"));
    px.request_rules.push_back(rule(HttpAction::SetMethod, "", "custom"));
    px.request_rules.push_back(rule(HttpAction::SetHeader, "X-M", "%[method]"));
    Exchange e(make_req("GET", "/a?k", {{"Host", "test.local"}}));
    CHECK(es::rules::run_request_rules(px, e.t).kind == Verdict::Continue);
    CHECK(values_of(e.req, "host") == std::vector<std::string>{"other.example:8080"});
    CHECK(e.req.authority == "other.example:8080");
    CHECK(e.edits.method_set);
    CHECK(e.edits.new_method == "custom");
    CHECK(e.out_headers().back() == "X-M: GET");
}

TEST_CASE("rewrites: set-status and HAProxy's reasons; http-after-response lists and allow") {
    CHECK(es::rules::haproxy_reason(302) == "Moved Temporarily");
    CHECK(es::rules::haproxy_reason(504) == "Gateway Time-out");
    CHECK(es::rules::haproxy_reason(299) == "Success");
    CHECK(es::rules::haproxy_reason(999) == "Other");
    HttpProxy be, fe;
    be.after_rules.push_back(rule(HttpAction::AddHeader, "X-O", "be-defaults"));
    be.after_rules.push_back(rule(HttpAction::AddHeader, "X-O", "be"));
    be.after_rules.push_back(rule(HttpAction::Allow));
    be.after_rules.push_back(rule(HttpAction::AddHeader, "X-O", "never"));
    be.after_own = 1;  // the defaults' and the backend's own rules: one list, the allow ends it
    HttpRule st = rule(HttpAction::SetStatus);
    st.status = 201;
    fe.after_rules.push_back(st);
    fe.after_rules.push_back(rule(HttpAction::AddHeader, "X-O", "fe-%[status]"));
    ResponseHead rsp;
    rsp.status = 200;
    rsp.reason = "Custom";
    Exchange e(make_req("GET", "/", {{"Host", "h"}}));
    e.t.rsp = &rsp;
    CHECK(es::rules::run_after_rules(be, &fe, e.t).kind == Verdict::Continue);
    CHECK(rsp.status == 201);
    CHECK(rsp.reason == "Created");
    const auto h = e.out_headers();
    CHECK(std::vector<std::string>(h.end() - 3, h.end()) ==
          std::vector<std::string>{"X-O: be-defaults", "X-O: be", "X-O: fe-201"});
}

TEST_CASE("converters: field, word, regsub, url_dec, base64 as HAProxy 2.6's (no sample vs empty)") {
    es::config::Config cfg;
    es::config::Regsub rs;
    rs.args = "b*,-,g)";
    REQUIRE(rs.re.compile("b*", false).empty());
    rs.global = true;
    cfg.regsubs.push_back(rs);
    es::config::Regsub r2;
    r2.args = "\"^(\\w+)-(\\w+)$\",\\2-\\1)";
    REQUIRE(r2.re.compile("^(\\w+)-(\\w+)$", false).empty());
    cfg.regsubs.push_back(r2);
    Exchange e(make_req("GET", "/a?b", {{"Host", "h"}, {"X-In", "_a__b_"}, {"X-R", "banana-Apple"}, {"X-U", "a%2Fb+c?d+e"},
                                        {"X-Bad", "ok%zz"}, {"X-E", ""}}));
    e.t.cfg = &cfg;
    auto val = [&](std::string_view expr) -> std::string {
        std::string_view v;
        return es::rules::eval_sample(e.t, expr, v) ? std::string(v) : std::string("<none>");
    };
    CHECK(val("req.hdr(x-in),field(2,_)") == "a");
    CHECK(val("req.hdr(x-in),field(3,_)") == "");
    CHECK(val("req.hdr(x-in),field(6,_)") == "<none>");
    CHECK(val("req.hdr(x-in),field(2,_,0)") == "a__b_");
    CHECK(val("req.hdr(x-in),field(-2,_,3)") == "a__b");
    CHECK(val("req.hdr(x-in),word(2,_)") == "b");
    CHECK(val("req.hdr(x-in),word(5,_)") == "");  // a missing word is an empty sample
    CHECK(val("req.hdr(x-in),word(2,_,0)") == "b_");
    CHECK(val("req.hdr(x-r),regsub(b*,-,g)") == "--a-n-a-n-a---A-p-p-l-e-");
    CHECK(val("req.hdr(x-r),regsub(\"^(\\w+)-(\\w+)$\",\\2-\\1)") == "Apple-banana");
    CHECK(val("req.hdr(x-u),url_dec") == "a/b+c?d e");
    CHECK(val("req.hdr(x-u),url_dec(1)") == "a/b c?d e");
    CHECK(val("req.hdr(x-bad),url_dec") == "<none>");
    CHECK(val("req.hdr(x-bad),url_dec,base64") == "<none>");
    CHECK(val("req.hdr(x-in),base64") == "X2FfX2Jf");
    CHECK(val("req.hdr(x-e),base64") == "");
    CHECK(val("req.hdr(x-e)") == "");  // an empty header is a sample
    CHECK(val("req.hdr(x-missing)") == "<none>");
    CHECK(val("query") == "b");
    CHECK(val("req.hdr(x-in),upper,field(2,_),lower") == "a");
}

TEST_CASE("unique ids: HAProxy's log-format subset (+X fields, separators, samples, uuid)") {
    Exchange e(make_req("GET", "/", {{"Host", "h"}, {"X-A", "va"}}));
    sockaddr_storage dst{};
    auto* d = reinterpret_cast<sockaddr_in*>(&dst);
    d->sin_family = AF_INET;
    d->sin_port = htons(8080);
    inet_pton(AF_INET, "10.0.0.1", &d->sin_addr);
    e.t.dst = &dst;
    auto render = [&](std::string_view fmt, std::int64_t rt) {
        Arena a;
        es::rules::ArenaWriter w(a);
        REQUIRE(es::rules::render_unique_id(e.t, fmt, rt, 1796630000, w));
        return std::string(w.commit());
    };
    CHECK(render("%{+X}o %ci:%cp_%fi:%fp_%rt", 26) == "C6336407:9C41_0A000001:1F90_001A");
    CHECK(render("%ci:%cp_%rt", 7) == "198.51.100.7:40001_7");
    CHECK(render("  a  %rt  b ", 3) == "a 3 b ");  // spaces separate fields: none first, one at most
    CHECK(render("%{+X}rt-%rt-%%", 255) == "00FF-255-%");
    CHECK(render("id-%[req.hdr(x-a)]", 0) == "id-va");
    const std::string u = render("%[uuid()]", 0);
    CHECK(u.size() == 36);
    CHECK(u[14] == '4');
    CHECK(u != render("%[uuid()]", 0));
}

TEST_CASE("set-var-fmt: a log-format into a variable (an empty result too, but with ifnotempty); fe_name, be_name") {
    es::config::Config cfg;
    cfg.vars = {"txn.x", "txn.e", "txn.e2"};
    es::config::Frontend fe;
    fe.name = "fe1";
    cfg.frontends.push_back(fe);
    es::config::Backend be;
    be.name = "be1";
    cfg.backends.push_back(be);
    es::pool::ObjectPool<es::rules::Vars> pool("vars");
    es::rules::Vars* slot = nullptr;
    es::rules::VarCtx vc{&slot, &pool};
    Exchange e(make_req("GET", "/p", {{"Host", "h"}}));
    e.t.cfg = &cfg;
    e.t.vars = &vc;
    e.t.fe = 0;
    auto setfmt = [&](std::uint16_t id, std::string fmt, bool ifnotempty) {
        es::config::VarSet v;
        v.id = id;
        v.fmt = true;
        v.ifnotempty = ifnotempty;
        v.expr = std::move(fmt);
        es::rules::set_var(v, e.t);
    };
    auto get = [&](std::string_view name) -> std::string {
        std::string_view v;
        return es::rules::var_value(e.t, name, v) ? std::string(v) : std::string("<unset>");
    };
    setfmt(0, "%[path]-%[fe_name]/%[be_name]", false);
    CHECK(get("txn.x") == "/p-fe1/fe1");  // not routed yet: be_name is the frontend's
    setfmt(1, "%[req.hdr(x-none)]", false);
    CHECK(get("txn.e") == "");
    setfmt(2, "%[req.hdr(x-none)]", true);
    CHECK(get("txn.e2") == "<unset>");
    e.t.be = 0;
    setfmt(0, "%[be_name]", false);
    CHECK(get("txn.x") == "be1");
    if (slot) pool.destroy(slot);
}

TEST_CASE("variables: the request scope ends with the request's processing, the others stay") {
    es::config::Config cfg;
    cfg.vars = {"req.r", "txn.t", "res.s", "sess.s"};
    es::rules::Vars v;
    CHECK(v.set(0, false, "rq"));
    CHECK(v.set(1, false, "tx"));
    CHECK(v.set(2, false, "rs"));
    CHECK(v.set(3, true, "se"));
    v.end_request(cfg);
    std::string_view out;
    CHECK_FALSE(v.get(0, out));
    CHECK((v.get(1, out) && out == "tx"));
    CHECK((v.get(2, out) && out == "rs"));
    CHECK((v.get(3, out) && out == "se"));
}

TEST_CASE("typed samples: casts, hashes and integer operators as HAProxy 2.6's") {
    Exchange e(make_req("GET", "/p?a=1", {{"Host", "h"}, {"X-A", "1, 2"}, {"X-A", "3"}}));
    auto val = [&](std::string_view expr) -> std::string {
        std::string_view v;
        e.arena.reset();
        if (!es::rules::eval_sample(e.t, expr, v)) return "<none>";
        return std::string(v);
    };
    CHECK(val("str(abc),crc32") == "891568578");         // zlib's CRC-32
    CHECK(val("int(1),crc32") == "304476159");           // an integer hashed as 8 bytes, big-endian
    CHECK(val("str(),djb2") == "5381");
    CHECK(val("str(abc),hex") == "616263");
    CHECK(val("int(-1),hex") == "FFFFFFFFFFFFFFFF");
    CHECK(val("str(12abc),add(1)") == "13");             // read_int64: the leading digits
    CHECK(val("str(),add(1)") == "<none>");              // an empty string is no integer
    CHECK(val("int(-7),add(-3)") == "-10");
    CHECK(val("int(9223372036854775807),add(1)") == "9223372036854775807");  // saturated
    CHECK(val("int(7),div(0)") == "9223372036854775807");
    CHECK(val("int(-7),mod(3)") == "-1");
    CHECK(val("int(-7),odd") == "1");
    CHECK(val("bin(610062)") == "a");                    // bytes as text end at their first NUL
    CHECK(val("bin(610062),hex") == "610062");
    CHECK(val("str(10.1.2.3),ipmask(16)") == "10.1.0.0");
    CHECK(val("str(::ffff:192.168.1.77),ipmask(24,64)") == "192.168.1.0");
    CHECK(val("str(2001:db8::1),ipmask(24)") == "<none>");
    CHECK(val("src,add(1)") == "3325256712");            // an IPv4 address is its value
    CHECK(val("str(a/b),json") == "a\\/b");
    CHECK(val("str(ff),hex2i") == "255");
    CHECK(val("str(0x10),hex2i") == "<none>");
    CHECK(val("req.hdr_cnt(x-a)") == "3");
    CHECK(val("base") == "h/p");
    CHECK(val("url_param") == "1");
}
