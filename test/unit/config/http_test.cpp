// HTTP keywords: ACLs and conditions, use_backend rules, http-request/http-response, redirect, error
// replies (errorfile, errorfiles, http-errors, http-error, errorloc), userlists, HTTP options, balance,
// stats page, logs, HTTP tuning.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "helpers.hpp"

using es::config::Acl;
using es::config::Balance;
using es::config::Config;
using es::config::Frontend;
using es::config::HashType;
using es::config::HttpAction;
using es::config::HttpReuse;
using es::config::Mode;
using es::config::test::error_of;
using es::config::test::expect_error;
using es::config::test::has_warning;
using es::config::test::load;

namespace {

class TempDir {
  public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "es-config-http-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const auto p = (path_ / name).string();
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }

  private:
    std::filesystem::path path_;
};

// Lines 1-12; the lines under test start at line 13, inside frontend 'fe'.
const std::string kHead =
    "defaults\n"
    "    mode http\n"
    "    timeout connect 1s\n"
    "    timeout client 1s\n"
    "    timeout server 1s\n"
    "backend be\n"
    "    server s1 127.0.0.1:10002\n"
    "backend api\n"
    "    server s1 127.0.0.1:10003\n"
    "frontend fe\n"
    "    bind 127.0.0.1:10001\n"
    "    default_backend be\n";
constexpr int kLine = 13;

Config fe_cfg(const std::string& lines) {
    return load(kHead + lines);
}
const Frontend& fe_of(const Config& cfg) {
    const auto* f = cfg.find_frontend("fe");
    REQUIRE(f != nullptr);
    return *f;
}
void fe_error(const std::string& lines, int line, std::initializer_list<std::string_view> fragments) {
    expect_error(kHead + lines, line, fragments);
}

const std::string kResp503 =
    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\n\r\n<h1>down</h1>";

}  // namespace

// ---- ACLs ------------------------------------------------------------------------------------------------

TEST_CASE("acl: fetches map to fetch + match, flags apply") {
    const auto cfg = fe_cfg(
        "    acl a path_beg /api /v2\n"
        "    acl b hdr_end(Host) -i .example.com\n"
        "    acl c path -m sub admin\n"
        "    acl d src 10.0.0.0/8 192.168.1.1 172.16.0.0/255.240.0.0 ::1 2001:db8::/32\n"
        "    acl e method GET HEAD\n"
        "    acl f req.ver 1.0\n"
        "    acl g hdr(x-debug) -m found\n"
        "    acl h url_dir -- -weird\n"
        "    acl i always_true\n"
        "    acl j req.hdr(host) -m beg www.\n");
    const auto& acls = fe_of(cfg).http.acls;
    REQUIRE(acls.size() == 10);
    CHECK(acls[0].name == "a");
    CHECK(acls[0].fetch == "path");
    CHECK(acls[0].match == Acl::Match::Beg);
    CHECK(acls[0].patterns == std::vector<std::string>{"/api", "/v2"});
    CHECK(acls[0].where.line == kLine);
    CHECK(acls[1].fetch == "hdr");
    CHECK(acls[1].arg == "host");
    CHECK(acls[1].match == Acl::Match::End);
    CHECK(acls[1].icase);
    CHECK(acls[2].match == Acl::Match::Sub);
    CHECK(acls[3].fetch == "src");
    CHECK(acls[3].match == Acl::Match::Ip);
    CHECK(acls[3].patterns ==
          std::vector<std::string>{"10.0.0.0/8", "192.168.1.1", "172.16.0.0/12", "::1", "2001:db8::/32"});
    CHECK(acls[4].fetch == "method");
    CHECK(acls[4].match == Acl::Match::Str);
    CHECK(acls[5].fetch == "req.ver");
    CHECK(acls[5].patterns == std::vector<std::string>{"1.0"});
    CHECK(acls[6].match == Acl::Match::Found);
    CHECK(acls[6].patterns.empty());
    CHECK(acls[7].fetch == "url");
    CHECK(acls[7].match == Acl::Match::Dir);
    CHECK(acls[7].patterns == std::vector<std::string>{"-weird"});
    CHECK(acls[8].fetch == "always_true");
    CHECK(acls[8].match == Acl::Match::Bool);
    CHECK(acls[9].fetch == "hdr");
    CHECK(acls[9].match == Acl::Match::Beg);
    CHECK(cfg.warnings.empty());
}

TEST_CASE("acl: patterns from a file with -f; a pattern-less ACL warns as in HAProxy") {
    TempDir dir;
    const auto p = dir.write("nets.lst", "# blocked\n  10.1.0.0/16\n\n192.0.2.7\r\n");
    const auto cfg = fe_cfg("    acl bad src -f " + p +
                            " 198.51.100.0/24\n"
                            "    acl never path_beg\n");
    const auto& acls = fe_of(cfg).http.acls;
    REQUIRE(acls.size() == 2);
    CHECK(acls[0].patterns == std::vector<std::string>{"10.1.0.0/16", "192.0.2.7", "198.51.100.0/24"});
    CHECK(has_warning(cfg, {"t.cfg:14: ACL 'never': no pattern to match against"}));
    fe_error("    acl bad src -f /nonexistent/nets.lst\n", kLine,
             {"'acl -f': cannot read '/nonexistent/nets.lst'"});
}

TEST_CASE("acl: errors") {
    fe_error("    acl x path_bge /a\n", kLine,
             {"ACL 'x': unknown sample fetch 'path_bge'", "did you mean 'path_beg'?"});
    fe_error("    acl x path_reg ^/a(\n", kLine, {"ACL 'x': invalid regular expression '^/a('", "missing closing parenthesis"});
    fe_error("    acl x path_len 3x\n", kLine, {"invalid integer pattern '3x'"});
    fe_error("    acl x base_len 3\n", kLine, {"sample fetch 'base_len' is not supported"});
    fe_error("    acl x src 10.0.0.0/33\n", kLine, {"'10.0.0.0/33' is not an IPv4/IPv6 address"});
    fe_error("    acl x src www.example.com\n", kLine, {"'www.example.com' is not an IPv4/IPv6 address"});
    fe_error("    acl x src 10.0.0.0/255.0.255.0\n", kLine, {"is not an IPv4/IPv6 address"});
    fe_error("    acl x src -m str 10.0.0.1\n", kLine, {"'src' supports '-m ip'"});
    fe_error("    acl x path -m lenn 3\n", kLine, {"unknown matching method 'lenn'"});
    fe_error("    acl x path -m begg /a\n", kLine, {"unknown matching method 'begg'", "did you mean 'beg'?"});
    fe_error("    acl x path -m ip 10.0.0.1\n", kLine, {"'-m ip' applies to addresses"});
    fe_error("    acl x path -z /a\n", kLine, {"unknown flag '-z'", "'--'"});
    fe_error("    acl x hdr /a\n", kLine, {"'hdr' needs an argument"});
    fe_error("    acl x hdr(host,1) a\n", kLine, {"header occurrence arguments"});
    fe_error("    acl x path(a) /a\n", kLine, {"'path' takes no argument"});
    fe_error("    acl x path,nosuchconv /a\n", kLine,
             {"error detected while parsing ACL 'x' : unknown converter 'nosuchconv' in ACL expression 'path,nosuchconv'"});
    fe_error("    acl x path,field(0,/) /a\n", kLine, {"invalid args in converter 'field' : Unexpected value 0 for index"});
    fe_error("    acl x hdr(host /a\n", kLine, {"missing ')'"});
    fe_error("    acl x always_true 1\n", kLine, {"'always_true' takes no pattern"});
    fe_error("    acl x\n", kLine, {"ACL 'x': missing sample fetch"});
    fe_error("    acl b@d path /a\n", kLine, {"invalid ACL name 'b@d'"});
    fe_error("    acl or path /a\n", kLine, {"ACL name 'or' is reserved"});
}

// ---- conditions ------------------------------------------------------------------------------------------

TEST_CASE("conditions: AND, OR, negation, anonymous ACLs, same-name ACLs are OR-ed") {
    const auto cfg = fe_cfg(
        "    acl api path_beg /api\n"
        "    acl admin src 10.0.0.0/8\n"
        "    acl api hdr(host) api.example.com\n"
        "    http-request deny if api !admin || { method TRACE } ! admin\n"
        "    http-request allow unless admin\n");
    const auto& h = fe_of(cfg).http;
    REQUIRE(h.acls.size() == 4);
    CHECK(h.acls[3].name.front() == '{');
    CHECK(h.acls[3].fetch == "method");
    REQUIRE(h.request_rules.size() == 2);
    const auto& c = h.request_rules[0].cond;
    CHECK(c.present);
    CHECK_FALSE(c.unless);
    REQUIRE(c.any_of.size() == 2);
    REQUIRE(c.any_of[0].size() == 2);
    CHECK(c.any_of[0][0].acls == std::vector<int>{0, 2});  // both 'api' declarations
    CHECK_FALSE(c.any_of[0][0].negate);
    CHECK(c.any_of[0][1].acls == std::vector<int>{1});
    CHECK(c.any_of[0][1].negate);
    REQUIRE(c.any_of[1].size() == 2);
    CHECK(c.any_of[1][0].acls == std::vector<int>{3});
    CHECK(c.any_of[1][1].negate);  // "! admin": a separate '!' applies to the next ACL
    const auto& u = h.request_rules[1].cond;
    CHECK(u.unless);
    REQUIRE(u.any_of.size() == 1);
    CHECK(u.any_of[0][0].acls == std::vector<int>{1});
    CHECK_FALSE(h.request_rules[1].cond.any_of[0][0].negate);
    CHECK(h.request_rules[0].status == 403);
}

TEST_CASE("conditions: predefined ACLs") {
    const auto cfg = fe_cfg(
        "    http-request deny if !METH_GET !LOCALHOST\n"
        "    http-request deny if HTTP_1.0 TRUE\n");
    const auto& h = fe_of(cfg).http;
    REQUIRE(h.acls.size() == 4);
    CHECK(h.acls[0].name == "METH_GET");
    CHECK(h.acls[0].patterns == std::vector<std::string>{"GET", "HEAD"});
    CHECK(h.acls[1].fetch == "src");
    CHECK(h.acls[1].patterns == std::vector<std::string>{"127.0.0.1/8"});
    CHECK(h.acls[2].fetch == "req.ver");
    CHECK(h.acls[3].fetch == "always_true");
    fe_error("    http-request deny if HTTP_CONTENT\n", kLine,
             {"predefined ACL 'HTTP_CONTENT' is not supported"});
}

TEST_CASE("conditions: errors name the ACL and the line") {
    fe_error("    http-request deny if nope\n", kLine, {"no such ACL 'nope' in frontend 'fe'"});
    fe_error("    acl is_api path_beg /api\n    http-request deny if is_apj\n", kLine + 1,
             {"no such ACL 'is_apj'", "did you mean 'is_api'?"});
    fe_error("    http-request deny if later\n    acl later path /x\n", kLine,
             {"no such ACL 'later'", "declared before"});
    fe_error("    http-request deny if {path /x }\n", kLine, {"'{' must be followed by a space"});
    fe_error("    http-request deny if { path /x\n", kLine, {"missing '}'"});
    fe_error("    http-request deny if { }\n", kLine, {"empty anonymous ACL"});
    fe_error("    http-request deny if { path /x}\n", kLine, {"missing '}'"});
    fe_error("    http-request deny if\n", kLine, {"missing condition after 'if'"});
    fe_error("    http-request deny if TRUE or\n", kLine, {"missing ACL after 'or'"});
    fe_error("    http-request deny if or TRUE\n", kLine, {"'or' needs an ACL on each side"});
    fe_error("    http-request deny if TRUE !\n", kLine, {"'!' must be followed by an ACL"});
    fe_error("    http-request deny if { path_bge /x }\n", kLine,
             {"anonymous ACL: unknown sample fetch 'path_bge'"});
}

TEST_CASE("conditions: a named defaults section's ACLs serve its own rules only") {
    // HAProxy refuses 'acl' in an anonymous defaults section.
    expect_error("defaults\n    mode http\n    acl a path /x\n", 3,
                 {"'acl' not allowed in anonymous 'defaults' section."});
    const std::string named =
        "defaults web\n"
        "    mode http\n"
        "    timeout connect 1s\n"
        "    timeout client 1s\n"
        "    timeout server 1s\n"
        "    acl blocked path_beg /admin\n"
        "    http-request deny if blocked\n"
        "frontend fe from web\n"
        "    bind 127.0.0.1:10001\n"
        "    acl blocked path_beg /fe\n"
        "    http-request add-header X-Fe 1 if blocked\n"
        "    default_backend be\n"
        "defaults plain\n"  // (a backend cannot share a frontend's defaults section with rules)
        "    mode http\n"
        "backend be\n"
        "    server s1 127.0.0.1:10002\n";
    const auto cfg = load(named);
    const auto& h = fe_of(cfg).http;
    REQUIRE(h.request_rules.size() == 2);
    CHECK(h.request_own == 1);  // the defaults' deny, then the frontend's own rule
    REQUIRE(h.acls.size() == 2);
    // each rule names the ACL of its own section, though both are called 'blocked'
    CHECK(h.request_rules[0].cond.any_of[0][0].acls == std::vector<int>{0});
    CHECK(h.request_rules[1].cond.any_of[0][0].acls == std::vector<int>{1});
    const std::string no_own =
        "defaults web\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "    acl blocked path_beg /admin\n"
        "frontend fe from web\n    bind 127.0.0.1:10001\n    http-request deny if blocked\n    default_backend be\n"
        "defaults plain\n    mode http\nbackend be\n    server s1 127.0.0.1:10002\n";
    expect_error(no_own, 9, {"no such ACL 'blocked'", "'defaults' section (t.cfg:6) serve that section's rules only"});
}

// ---- use_backend -----------------------------------------------------------------------------------------

TEST_CASE("use_backend: every rule in order; the unconditional ones also fill use_backends") {
    const auto cfg = fe_cfg(
        "    acl is_api path_beg /api\n"
        "    use_backend api if is_api\n"
        "    use_backend be unless { src 127.0.0.1 }\n"
        "    use_backend api\n"
        "    use_backend be\n");
    const auto& f = fe_of(cfg);
    REQUIRE(f.use_backend_rules.size() == 4);
    CHECK(f.use_backend_rules[0].backend == "api");
    CHECK(f.use_backend_rules[0].backend_id == cfg.find_backend("api")->id);
    CHECK(f.use_backend_rules[0].cond.present);
    CHECK(f.use_backend_rules[1].cond.unless);
    CHECK(f.use_backend_rules[1].backend_id == cfg.find_backend("be")->id);
    CHECK_FALSE(f.use_backend_rules[2].cond.present);
    CHECK(f.use_backend_rules[2].where.line == kLine + 3);
    REQUIRE(f.use_backends.size() == 2);
    CHECK(f.use_backends[0].backend == "api");
    CHECK(f.use_backends[0].backend_id == cfg.find_backend("api")->id);
    CHECK(has_warning(cfg, {"t.cfg:17: this 'use_backend' is never used", "t.cfg:16 always wins"}));
    CHECK_FALSE(has_warning(cfg, {"t.cfg:15:"}));
}

TEST_CASE("use_backend: unknown backend and mode mismatch") {
    fe_error("    use_backend apx if TRUE\n", kLine,
             {"'use_backend' names unknown backend 'apx'", "did you mean 'api'?"});
    fe_error("    use_backend tcpbe if TRUE\nbackend tcpbe\n    mode tcp\n    server s 127.0.0.1:1\n", kLine,
             {"cannot use backend 'tcpbe'", "which a mode tcp backend cannot take"});
    // a conditional use_backend in mode tcp is evaluated by the L4 session (tcp_rules_test.cpp); an
    // http backend chosen that way takes the connection over as HTTP (tcp_upgrades)
    const auto cfg = load(kHead + "    use_backend be if TRUE\n" + "    mode tcp\n");
    CHECK(cfg.frontends[0].tcp_upgrades);
}

// ---- http-request / http-response ------------------------------------------------------------------------

TEST_CASE("http-request: deny and return replies") {
    TempDir dir;
    const auto body = dir.write("body.json", "{\"ok\":true}");
    const auto raw = dir.write("503.http", kResp503);
    const auto cfg = fe_cfg(
        "    http-request deny if { path /a }\n"
        "    http-request deny deny_status 429 content-type text/plain string slow\\ down if { path /b }\n"
        "    http-request return if { path /c }\n"
        "    http-request return status 204 hdr X-Reason maintenance hdr Retry-After 30 if { path /d }\n"
        "    http-request return status 200 content-type application/json file " +
        body +
        " if { path /e }\n"
        "    http-request return errorfile " +
        raw +
        " if { path /f }\n"
        "    http-request deny status 404 if { path /g }\n");
    const auto& r = fe_of(cfg).http.request_rules;
    REQUIRE(r.size() == 7);
    CHECK(r[0].action == HttpAction::Deny);
    CHECK(r[0].status == 403);
    CHECK_FALSE(r[0].has_reply);
    CHECK(r[1].status == 429);
    CHECK(r[1].has_reply);
    CHECK(r[1].content_type == "text/plain");
    CHECK(r[1].reply.raw ==
          "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n"
          "cache-control: no-cache\r\n\r\nslow down");
    CHECK(r[1].reply.status == 429);
    CHECK(r[2].action == HttpAction::Return);
    CHECK(r[2].status == 200);
    CHECK(r[2].reply.raw == "HTTP/1.1 200 OK\r\ncontent-length: 0\r\ncache-control: no-cache\r\n\r\n");
    CHECK(
        r[3].reply.raw ==
        "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\ncache-control: no-cache\r\nX-Reason: maintenance\r\n"
        "Retry-After: 30\r\n\r\n");
    CHECK(r[4].reply.raw ==
          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\ncache-control: "
          "no-cache\r\n"
          "\r\n{\"ok\":true}");
    CHECK(r[5].reply.raw == kResp503);
    CHECK(r[5].status == 503);
    CHECK(r[6].status == 404);
    CHECK_FALSE(r[6].has_reply);
    CHECK(cfg.warnings.empty());
}

TEST_CASE("http-request: redirect, auth, header actions, set-path, use-service") {
    const auto cfg = fe_cfg(
        "    http-request redirect scheme https code 301 if !{ hdr(x-forwarded-proto) https }\n"
        "    http-request redirect location /new drop-query if { path /old }\n"
        "    http-request redirect prefix https://example.com code 308 if { path_beg /p }\n"
        "    http-request auth if { path /x }\n"
        "    http-request auth realm \"Staff only\" if { path /y }\n"
        "    http-request set-header X-Forwarded-Proto https\n"
        "    http-request add-header X-Client %[src]\n"
        "    http-request del-header Proxy\n"
        "    http-request del-header X-Secret -m str\n"
        "    http-request set-path /v2%[path] if { path_beg /v1 }\n"
        "    http-request use-service prometheus-exporter if { path /metrics }\n");
    const auto& r = fe_of(cfg).http.request_rules;
    REQUIRE(r.size() == 11);
    CHECK(r[0].action == HttpAction::Redirect);
    CHECK(r[0].redirect_kind == "scheme");
    CHECK(r[0].value == "https");
    CHECK(r[0].status == 301);
    CHECK(r[0].cond.any_of[0][0].negate);
    CHECK(r[1].redirect_kind == "location");
    CHECK(r[1].status == 302);
    CHECK(r[1].drop_query);
    CHECK(r[2].redirect_kind == "prefix");
    CHECK(r[2].status == 308);
    CHECK(r[3].action == HttpAction::Auth);
    CHECK(r[3].name == "fe");  // HAProxy's default realm: the proxy name
    CHECK(r[4].name == "Staff only");
    CHECK(r[5].action == HttpAction::SetHeader);
    CHECK(r[5].name == "X-Forwarded-Proto");
    CHECK(r[5].value == "https");
    CHECK_FALSE(r[5].cond.present);
    CHECK(r[6].action == HttpAction::AddHeader);
    CHECK(r[6].value == "%[src]");
    CHECK(r[7].action == HttpAction::DelHeader);
    CHECK(r[7].name == "Proxy");
    CHECK(r[8].name == "X-Secret");
    CHECK(r[9].action == HttpAction::SetPath);
    CHECK(r[9].value == "/v2%[path]");
    CHECK(r[10].action == HttpAction::UseService);
    CHECK(r[10].name == "prometheus-exporter");
}

TEST_CASE("log-format values: what the request path evaluates is accepted, the rest refused") {
    const auto cfg = fe_cfg(
        "    http-request set-header X-A \"%[src]:%[src_port] %ci:%cp\"\n"
        "    http-request set-header X-B \"%[path] %[url] %[query] %[method] 100%% sure\"\n"
        "    http-request add-header X-C %[hdr(host)]%[req.hdr(X-Forwarded-For)]\n"
        "    http-request set-path /v2%[path]\n"
        "    http-request redirect location https://%[hdr(host)]%[url] if { path /r }\n"
        "    http-request return status 200 hdr X-Pct \"50%% off\" if { path /ret }\n"
        "    http-response set-header X-Up \"%[res.hdr(server)] %[hdr(x-a)] %[src] %ci\"\n"
        "    redirect location /100%25%ci if { path /lit }\n");
    const auto& r = fe_of(cfg).http.request_rules;
    REQUIRE(r.size() == 7);
    CHECK(r[0].value == "%[src]:%[src_port] %ci:%cp");
    CHECK(r[4].value == "https://%[hdr(host)]%[url]");
    // a reply is built once: '%%' is written as '%'
    CHECK(r[5].reply.raw.find("\r\nX-Pct: 50% off\r\n") != std::string::npos);
    // the 'redirect' keyword takes its target as written (HAProxy): stored escaped for the rules
    CHECK(r[6].value == "/100%%25%%ci");
    CHECK(fe_of(cfg).http.response_rules.at(0).value == "%[res.hdr(server)] %[hdr(x-a)] %[src] %ci");
    CHECK(cfg.warnings.empty());

    // refused: named with file:line, the construct, and what is supported
    fe_error("    http-request set-header X-Srv %[srv_id]\n", kLine,
             {"t.cfg:13: 'http-request set-header X-Srv': '%[srv_id]' in '%[srv_id]'",
              "sample fetch 'srv_id' is not evaluated", "supported here: %[src], %[src_port], %[dst], %[dst_port], %[path]"});
    fe_error("    http-request set-header X %[src,nosuchconv]\n", kLine, {"unknown converter 'nosuchconv'"});
    fe_error("    http-request set-header X %[src,word(1)]\n", kLine,
             {"invalid arg 2 in converter 'word' : missing arguments (got 1/2), type 'string' expected"});
    fe_error("    http-request set-header X %[src,regsub(a,b,x)]\n", kLine,
             {"invalid regex flag 'x', only 'i' and 'g' are supported"});
    fe_error("    http-request set-header X %[src,lower(1)]\n", kLine,
             {"invalid arg 1 in converter 'lower' : expected ')' before '1)]'"});
    CHECK_NOTHROW(fe_cfg("    http-request set-header X %[src,upper,lower]\n"));
    fe_error("    http-request set-header X %[dst_conn]\n", kLine, {"sample fetch 'dst_conn' is not evaluated"});
    fe_error("    http-request set-header X %[req.hdr(host),lower,field(1,.),nope]\n", kLine,
             {"unknown converter 'nope'"});
    fe_error("    http-request set-header X %[hdr(Bad:Name)]\n", kLine, {"invalid header name 'Bad:Name'"});
    fe_error("    http-request set-header X %[hdr(host,1)]\n", kLine,
             {"header occurrence arguments", "write 'hdr(host)'"});
    fe_error("    http-request set-header X %[hdr(a)\n", kLine, {"missing ']'"});
    fe_error("    http-request set-header X %[res.hdr(server)]\n", kLine, {"sample fetch <res.hdr(server)]> may not be reliably used here", "'HTTP response headers'"});
    fe_error("    http-request set-header X %T\n", kLine,
             {"'%T'", "log-format variable '%T' is not evaluated"});
    fe_error("    http-request set-header X %cix\n", kLine, {"'%cix'"});
    fe_error("    http-request set-header X %{+Q}ci\n", kLine, {"'%{+Q}'", "flags"});
    fe_error("    http-request set-header X 100%\n", kLine, {"truncated after '%'", "'%%'"});
    fe_error("    http-request set-header X 5%-off\n", kLine, {"unexpected character after '%'"});
    fe_error("    http-request set-path /%[fe_id]\n", kLine,
             {"'http-request set-path'", "'fe_id' is not evaluated"});
    fe_error("    http-request redirect location /%[ssl_fc_session_id]\n", kLine,
             {"'http-request redirect location'", "'ssl_fc_session_id'"});
    fe_error("    http-request redirect prefix https://%[env(HOST)]\n", kLine, {"'env' is not evaluated"});
    fe_error("    http-response set-header X %[path]\n", kLine,
             {"'http-response set-header X'", "sample fetch <path]> may not be reliably used here because it needs 'HTTP request headers'",
              "supported here: %[src], %[src_port], %[dst], %[dst_port], %[hdr(<name>)] and %[res.hdr(<name>)]"});
    fe_error("    http-response set-header X %[method]\n", kLine, {"sample fetch <method]>", "'HTTP request headers'"});
    fe_error("    http-response add-header X %[req.hdr(host)]\n", kLine, {"sample fetch <req.hdr(host)]>", "'HTTP request headers'"});
    fe_error("    http-response set-header X %[srv_id]\n", kLine, {"'srv_id' is not evaluated"});
    fe_error("    http-request deny content-type text/plain string no hdr X %cix\n", kLine,
             {"'%cix'", "is not evaluated here"});
}

TEST_CASE("http-response conditions cannot read the request") {
    const auto ok = fe_cfg(
        "    acl local src 127.0.0.0/8\n"
        "    http-response del-header X-Powered-By if { hdr(x-powered-by) -m found } local\n");
    CHECK(fe_of(ok).http.response_rules.size() == 1);
    fe_error("    acl api path_beg /api\n    http-response set-header X y if api\n", kLine + 1,
             {"'http-response' condition: ACL 'api' (t.cfg:13) uses 'path_beg', which reads the request"});
    fe_error("    http-response set-header X y if { req.hdr(host) -m found }\n", kLine,
             {"an anonymous ACL", "'req.hdr'"});
    fe_error("    http-response set-header X y if METH_GET\n", kLine, {"'METH_GET'"});
    fe_error("    http-response deny if { method POST }\n", kLine, {"'method'"});
}

TEST_CASE("http-request: errors") {
    fe_error("    http-request dney\n", kLine,
             {"unknown 'http-request' action 'dney'", "did you mean 'deny'?"});
    fe_error("    http-request replace-header Host (.* \\1\n", kLine,
             {"while parsing 'http-request replace-header' rule : regex '(.*' is invalid (error=missing closing "
              "parenthesis, erroffset=3)"});
    fe_error("    http-request replace-path ^/a$\n", kLine,
             {"'http-request replace-path' rule : expects exactly 2 arguments <match-regex> and <replace-format>"});
    fe_error("    http-request set-query\n", kLine, {"'http-request set-query' rule : expects exactly 1 argument <format>"});
    fe_error("    http-request set-status 200\n", kLine, {"unknown 'http-request' action 'set-status'"});
    fe_error("    http-response set-status 99\n", kLine, {"expects an integer status code between 100 and 999"});
    fe_error("    http-response set-status 200 reason\n", kLine,
             {"'http-response set-status' expects either 'if' or 'unless' followed by a condition but found 'reason'"});
    fe_error("    http-response strict-mode maybe\n", kLine,
             {"Unexpected value 'maybe'. Only 'on' and 'off' are supported"});
    fe_error("    http-after-response set-header X %[path]\n", kLine,
             {"sample fetch <path]> may not be reliably used here because it needs 'HTTP request headers'"});
    fe_error("    http-request set-var(proc.x) str(a)\n", kLine, {"'proc' scope is not supported"});
    fe_error("    http-request set-var(txn.x)\n", kLine, {"expects an expression"});
    fe_error("    http-request set-var(txn.x) int(abc)\n", kLine, {"'int(abc)' is not an integer"});
    fe_error("    http-request set-var(txn.x) req.cook(a)\n", kLine, {"'req.cook' is not evaluated"});
    fe_error("    http-request set-var(txn.x,ifexists) str(a)\n", kLine, {"conditions on set-var"});
    fe_error("    acl v var(bad) -m found\n", kLine, {"a variable is '<scope>.<name>'"});
    fe_error("    http-request redirect location /x code 305\n", kLine,
             {"unsupported HTTP code '305'", "301, 302, 303, 307 or 308"});
    fe_error("    http-request redirect location\n", kLine,
             {"'http-request redirect location' expects a target"});
    fe_error("    http-request redirect to /x\n", kLine, {"expects location, prefix or scheme, got 'to'"});
    fe_error("    http-request redirect location /x append-slash\n", kLine,
             {"'append-slash' is not supported"});
    fe_error("    http-request return status 200 string ok\n", kLine, {"a content type must be defined"});
    fe_error("    http-request return status 99\n", kLine, {"unexpected status code '99'"});
    fe_error("    http-request deny deny_status 600\n", kLine, {"unexpected status code '600'"});
    fe_error("    http-request return content-type a/b string x file /etc/hostname\n", kLine,
             {"unexpected 'file' argument, 'string' already defined"});
    fe_error("    http-request return content-type a/b file /nonexistent/body\n", kLine,
             {"'http-request return file': cannot read '/nonexistent/body'"});
    fe_error("    http-request return errorfile /etc/hostname\n", kLine, {"does not start with 'HTTP/'"});
    fe_error("    http-request return lf-string %[path]\n", kLine,
             {"a content type must be defined with a log-format payload"});
    fe_error("    http-request return content-type text/plain lf-string %[nope]\n", kLine,
             {"'http-request return' lf-string", "'nope' is not evaluated"});
    fe_error("    http-request return content-type text/plain string a lf-string b\n", kLine,
             {"unexpected 'lf-string' argument, 'string' already defined"});
    fe_error("    http-error status 503 content-type text/plain lf-string %[path]\n", kLine,
             {"'lf-string' (a log-format body) is not supported in 'http-error'"});
    fe_error("    http-error status 503 hdr X-A %[src]\n", kLine,
             {"'http-error hdr X-A': '%[src]' in '%[src]'", "not evaluated in replies",
              "supported here: literal text and %%"});
    fe_error("    http-request return hdr Content-Length 5\n", kLine, {"set by the reply itself"});
    fe_error("    http-request deny hdr X-A b\n", kLine, {"'hdr' on a deny without a body is not supported"});
    fe_error("    http-request set-header X-A\n", kLine, {"expects exactly 2 arguments"});
    fe_error("    http-request set-header Bad:Name x\n", kLine, {"invalid header name 'Bad:Name'"});
    fe_error("    http-request del-header X-A -m beg\n", kLine, {"'-m beg' is not supported"});
    fe_error("    http-request set-path\n", kLine, {"expects exactly 1 argument"});
    fe_error("    http-request use-service lua.hello\n", kLine,
             {"unknown service 'lua.hello'", "prometheus-exporter"});
    fe_error("    http-request auth realm\n", kLine, {"expects 'realm <realm>'"});
    fe_error("    http-request allow extra\n", kLine, {"unexpected argument 'extra'"});
    expect_error("defaults\n    http-request deny\n", 2,
                 {"'http-request' not allowed in anonymous 'defaults' section."});
    expect_error("defaults\n    http-response del-header Server\n", 2,
                 {"'http-response' not allowed in anonymous 'defaults' section."});
}

TEST_CASE("http-request: a final unconditional rule makes the next ones unreachable, as HAProxy warns") {
    const auto cfg = fe_cfg("    http-request deny\n    http-request set-header X-A b\n");
    CHECK(has_warning(cfg,
                      {"t.cfg:14: previous 'http-request' rule at t.cfg:13 is final and has no condition"}));
    const auto warn_return = fe_cfg("    http-request return content-type text/plain\n");
    CHECK(
        has_warning(warn_return, {"t.cfg:13: 'http-request return': content-type 'text/plain' is ignored"}));
}

TEST_CASE("http-response: header actions and deny") {
    const auto cfg = fe_cfg(
        "    http-response set-header Strict-Transport-Security max-age=31536000\n"
        "    http-response del-header Server\n"
        "    http-response add-header X-Frame-Options DENY\n"
        "    http-response deny if { hdr(x-leak) -m found }\n"
        "    http-response deny deny_status 503 content-type text/plain string no if TRUE\n");
    const auto& r = fe_of(cfg).http.response_rules;
    REQUIRE(r.size() == 5);
    CHECK(r[0].action == HttpAction::SetHeader);
    CHECK(r[1].action == HttpAction::DelHeader);
    CHECK(r[2].action == HttpAction::AddHeader);
    CHECK(r[3].action == HttpAction::Deny);
    CHECK(r[3].status == 502);
    CHECK(r[4].reply.raw.rfind("HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n", 0) == 0);
    fe_error("    http-response redirect location /x\n", kLine,
             {"'http-response' action 'redirect' is not supported"});
    fe_error("    http-response set-method GET\n", kLine, {"unknown 'http-response' action 'set-method'"});
}

TEST_CASE("redirect keyword: conditional, evaluated after the http-request rules") {
    const auto cfg = fe_cfg(
        "    redirect scheme https code 301 if !{ hdr(host) -m beg local }\n"
        "    http-request set-header X-A b\n"
        "    redirect location /maintenance\n");
    const auto& r = fe_of(cfg).http.request_rules;
    REQUIRE(r.size() == 3);
    CHECK(r[0].action == HttpAction::SetHeader);
    CHECK(r[1].action == HttpAction::Redirect);
    CHECK(r[1].redirect_kind == "scheme");
    CHECK(r[1].status == 301);
    CHECK(r[1].cond.present);
    CHECK(r[1].where.line == kLine);
    CHECK(r[2].value == "/maintenance");
    expect_error("defaults\n    redirect location /x\n", 2,
                 {"'redirect' is not allowed in 'defaults' section"});
    fe_error("    redirect location /x code 200\n", kLine, {"'redirect': unsupported HTTP code '200'"});
}

TEST_CASE("http rules in a tcp proxy are ignored with a warning") {
    const auto cfg = load(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "listen l\n    bind 127.0.0.1:10001\n    http-request deny\n    server s 127.0.0.1:1\n");
    CHECK(
        has_warning(cfg, {"t.cfg:8: 'http-request' rules of listen 'l' are ignored: they need 'mode http'"}));
}

TEST_CASE("listen: one proxy, rules on both halves, the frontend knows its own backend") {
    const auto cfg = load(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "listen web\n    bind 127.0.0.1:10001\n    acl a path /a\n    http-request deny if a\n"
        "    server s 127.0.0.1:1\n"
        "frontend other\n    bind 127.0.0.1:10002\n    default_backend web\n");
    const auto& f = *cfg.find_frontend("web");
    const auto& b = *cfg.find_backend("web");
    CHECK(f.own_backend_id == static_cast<int>(b.id));
    CHECK(cfg.find_frontend("other")->own_backend_id == -1);
    CHECK(f.http.acls.size() == 1);
    CHECK(b.http.acls.size() == 1);
    CHECK(f.http.request_rules.size() == 1);
    CHECK(b.http.request_rules.size() == 1);
}

// ---- error replies ---------------------------------------------------------------------------------------

TEST_CASE("errorfile: defaults first, then the proxy's own; the last one for a status wins") {
    TempDir dir;
    const auto a = dir.write("a503.http", kResp503);
    const auto b = dir.write("b503.http", "HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n");
    const auto c = dir.write("c403.http", "HTTP/1.0 403 Forbidden\n\nno");
    const auto cfg = load(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "    errorfile 503 " +
        a +
        "\n"
        "    errorfile 403 " +
        c +
        "\n"
        "backend be\n    server s1 127.0.0.1:1\n    errorfile 503 " +
        b +
        "\n"
        "frontend fe\n    bind 127.0.0.1:10001\n    default_backend be\n");
    const auto& fe = fe_of(cfg).http.errors;
    REQUIRE(fe.size() == 2);
    CHECK(fe[0].status == 503);
    CHECK(fe[0].raw == kResp503);
    CHECK(fe[1].status == 403);
    const auto& be = cfg.find_backend("be")->http.errors;
    REQUIRE(be.size() == 2);
    CHECK(be[0].status == 403);
    CHECK(be[1].raw == "HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n");
    CHECK(be[1].where.line == 10);
}

TEST_CASE("errorfile: errors") {
    TempDir dir;
    const auto bad = dir.write("bad.http", "<html>oops</html>");
    const auto ok = dir.write("ok.http", kResp503);
    fe_error("    errorfile 402 " + ok + "\n", kLine, {"'errorfile': status code '402' not handled", "503"});
    fe_error("    errorfile 503 /nonexistent/503.http\n", kLine,
             {"'errorfile': cannot read '/nonexistent/503.http'"});
    fe_error("    errorfile 503 " + bad + "\n", kLine, {"does not start with 'HTTP/'"});
    fe_error("    errorfile 503\n", kLine, {"'errorfile' expects a file name"});
}

TEST_CASE("http-errors sections, errorfiles, http-error and errorloc") {
    TempDir dir;
    const auto e503 = dir.write("503.http", kResp503);
    const auto e404 = dir.write("404.http", "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
    const auto cfg = fe_cfg(
        "    errorfiles site 503\n"
        "    http-error status 429 content-type text/plain string \"slow down\" hdr Retry-After 10\n"
        "    http-error status 500 errorfiles site\n"
        "    errorloc 502 https://status.example.com/\n"
        "    http-request return status 404 errorfiles site if { path /gone }\n"
        "http-errors site\n"
        "    errorfile 503 " +
        e503 +
        "\n"
        "    errorfile 404 " +
        e404 + "\n");
    REQUIRE(cfg.http_errors.size() == 1);
    CHECK(cfg.http_errors[0].name == "site");
    CHECK(cfg.http_errors[0].replies.size() == 2);
    const auto& h = fe_of(cfg).http;
    REQUIRE(h.errors.size() == 3);
    CHECK(h.errors[0].status == 503);
    CHECK(h.errors[0].raw == kResp503);
    CHECK(h.errors[1].status == 429);
    CHECK(h.errors[1].raw ==
          "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n"
          "cache-control: no-cache\r\nRetry-After: 10\r\n\r\nslow down");
    CHECK(h.errors[2].status == 502);
    CHECK(h.errors[2].raw.find("HTTP/1.1 302 Found\r\n") == 0);
    CHECK(h.errors[2].raw.find("location: https://status.example.com/\r\n") != std::string::npos);
    CHECK(has_warning(cfg, {"t.cfg:15: http-errors section 'site' has no errorfile for status 500"}));
    REQUIRE(h.request_rules.size() == 1);
    CHECK(h.request_rules[0].has_reply);
    CHECK(h.request_rules[0].reply.raw == "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");

    fe_error("    errorfiles nosuch\n", kLine, {"unknown http-errors section 'nosuch'"});
    fe_error("    errorfiles site 418\nhttp-errors site\n", kLine, {"status code '418' not handled"});
    fe_error("    http-request return status 500 errorfiles site if TRUE\nhttp-errors site\n", kLine,
             {"http-errors section 'site' has no errorfile for status 500"});
    fe_error("    http-error status 402\n", kLine, {"'http-error': status code '402' not handled"});
    fe_error("    http-error 503\n", kLine, {"'http-error' expects 'status <code>' first"});
    expect_error(kHead + "http-errors site\n    errorfile 503 " + e503 + "\n    errorloc 503 /x\n", 15,
                 {"unknown keyword 'errorloc' in 'http-errors' section"});
    expect_error(kHead + "http-errors site\nhttp-errors site\n", 14,
                 {"http-errors section 'site' is already declared"});
}

// ---- userlists -------------------------------------------------------------------------------------------

TEST_CASE("userlist: users, groups, and the ACL that checks them") {
    const auto cfg = fe_cfg(
        "    acl auth_ok http_auth(admins)\n"
        "    http-request auth realm Admin unless auth_ok\n"
        "userlist admins\n"
        "    group ops users alice\n"
        "    group dev\n"
        "    user alice password $6$salt$hash groups dev\n"
        "    user bob insecure-password s3cret groups ops,dev\n"
        "    user bob insecure-password again\n");
    REQUIRE(cfg.userlists.size() == 1);
    const auto* ul = cfg.find_userlist("admins");
    REQUIRE(ul != nullptr);
    CHECK(cfg.find_userlist("nobody") == nullptr);
    CHECK(ul->where.line == 15);
    CHECK(ul->groups == std::vector<std::string>{"ops", "dev"});
    REQUIRE(ul->users.size() == 2);
    CHECK(ul->users[0].name == "alice");
    CHECK(ul->users[0].password == "$6$salt$hash");
    CHECK_FALSE(ul->users[0].insecure);
    CHECK(ul->users[0].groups == std::vector<std::string>{"dev", "ops"});
    CHECK(ul->users[1].insecure);
    CHECK(ul->users[1].password == "s3cret");
    CHECK(has_warning(cfg, {"t.cfg:20: ignoring duplicated user 'bob' in userlist 'admins'"}));
    const auto& h = fe_of(cfg).http;
    CHECK(h.acls[0].fetch == "http_auth");
    CHECK(h.acls[0].arg == "admins");
    CHECK(h.acls[0].match == Acl::Match::Bool);
    CHECK(h.request_rules[0].action == HttpAction::Auth);
    CHECK(h.request_rules[0].name == "Admin");
}

TEST_CASE("userlist: errors") {
    fe_error("    http-request auth unless { http_auth(admins) }\n", kLine, {"unknown userlist 'admins'"});
    expect_error(kHead + "userlist u\n    user a insecure-password x groups g7\n", 14,
                 {"userlist 'u': no such group 'g7' specified in user 'a'"});
    expect_error(kHead + "userlist u\n    group g users a,b\n    user a insecure-password x\n", 14,
                 {"userlist 'u': no such user 'b' specified in group 'g'"});
    expect_error(kHead + "userlist u\n    user a pasword x\n", 14,
                 {"unknown argument 'pasword'", "did you mean 'password'?"});
    expect_error(kHead + "userlist u\n    usr a\n", 14,
                 {"unknown keyword 'usr' in 'userlist' section", "'user'"});
    expect_error(kHead + "userlist u\nuserlist u\n", 14, {"userlist 'u' is already declared at t.cfg:13"});
    const auto cfg = load(kHead + "userlist u\n    user a password plain\n    user b\n");
    CHECK(has_warning(cfg, {"t.cfg:14: user 'a': the password does not look like a crypt(3) hash"}));
    CHECK(has_warning(cfg, {"t.cfg:15: user 'b' has no password"}));
}

// ---- options, balance, reuse, retries -------------------------------------------------------------------

TEST_CASE("HTTP options") {
    const auto cfg = fe_cfg(
        "    option forwardfor header X-Real-IP if-none\n"
        "    option http-server-close\n"
        "backend b2\n"
        "    option httpclose\n"
        "    option forwardfor\n"
        "    server s 127.0.0.1:1\n"
        "backend b3\n"
        "    option httpclose\n"
        "    option http-keep-alive\n"
        "    server s 127.0.0.1:1\n");
    const auto& h = fe_of(cfg).http;
    CHECK(h.forwardfor);
    CHECK(h.forwardfor_except.empty());
    CHECK(h.forwardfor_header == "X-Real-IP");
    CHECK(h.forwardfor_if_none);
    CHECK(h.server_close);
    CHECK_FALSE(h.http_keep_alive);
    const auto& b2 = cfg.find_backend("b2")->http;
    CHECK(b2.httpclose);
    CHECK_FALSE(b2.http_keep_alive);
    CHECK(b2.forwardfor);
    CHECK(b2.forwardfor_header == "X-Forwarded-For");
    const auto& b3 = cfg.find_backend("b3")->http;
    CHECK_FALSE(b3.httpclose);
    CHECK(b3.http_keep_alive);
    fe_error("    option forwardfor except example.com\n", kLine, {"is not a numeric IPv4/IPv6 network"});
    CHECK(fe_of(fe_cfg("    option forwardfor except 127.0.0.0/255.0.0.0\n")).http.forwardfor_except ==
          "127.0.0.0/8");
    fe_error("    option forwardfor hedaer X\n", kLine,
             {"unknown argument 'hedaer'", "did you mean 'header'?"});
    fe_error("    option originalto\n", kLine, {"'option originalto' is not supported"});
}

TEST_CASE("balance, hash-type, http-reuse, retry-on, HTTP timeouts") {
    CHECK(error_of(kHead + "backend b1\n    retry-on 503 conn-failur\n")
              .find("did you mean 'conn-failure'?") != std::string::npos);
    const auto ok =
        load(kHead +
             "backend b1\n    balance uri depth 3 whole\n    hash-type consistent sdbm avalanche\n"
             "    http-reuse always\n    retry-on 503 empty-response connect-failure\n"
             "    timeout http-request 5s\n    timeout http-keep-alive 2s\n    timeout queue 3s\n"
             "    timeout tunnel 1h\n    server s 127.0.0.1:1\n"
             "backend b2\n    balance hdr(Host)\n    server s 127.0.0.1:1\n"
             "backend b3\n    balance random(3)\n    server s 127.0.0.1:1\n"
             "backend b4\n    balance random\n    server s 127.0.0.1:1\n");
    const auto& b1 = *ok.find_backend("b1");
    CHECK(b1.balance.algo == Balance::Uri);
    CHECK(b1.balance.uri_depth == 3);
    CHECK(b1.balance.uri_len == 0);
    CHECK(b1.balance.uri_whole);
    CHECK_FALSE(b1.balance.uri_path_only);
    CHECK(b1.balance.hash_type == HashType::Consistent);
    CHECK(b1.http_reuse == HttpReuse::Always);
    CHECK(b1.retry_on == std::vector<std::string>{"503", "empty-response", "conn-failure"});  // the old spelling: an alias
    CHECK(b1.timeouts.http_request == 5000);
    CHECK(b1.timeouts.http_keep_alive == 2000);
    CHECK(b1.timeouts.queue == 3000);
    CHECK(b1.timeouts.tunnel == 3600000);
    CHECK(ok.find_backend("b2")->balance.algo == Balance::Hdr);
    CHECK(ok.find_backend("b2")->balance.hdr_name == "Host");
    CHECK_FALSE(ok.find_backend("b2")->balance.hdr_domain_only);
    CHECK(ok.find_backend("b3")->balance.algo == Balance::Random);
    CHECK(ok.find_backend("b3")->balance.random_draws == 3);
    CHECK(ok.find_backend("b4")->balance.random_draws == 2);
    CHECK(ok.find_backend("be")->http_reuse == HttpReuse::Safe);
    CHECK(ok.find_backend("be")->retry_on == std::vector<std::string>{"conn-failure"});

    expect_error(kHead + "backend b\n    retry-on none 503\n", 14, {"'retry-on none' cannot be combined"});
    expect_error(kHead + "backend b\n    http-reuse sometimes\n", 14, {"'http-reuse' expects never, safe"});
    // A layer 7 hash in a tcp backend falls back to roundrobin, as in HAProxy.
    const auto tcp =
        load(kHead + "backend t\n    mode tcp\n    balance hdr(host)\n    server s 127.0.0.1:1\n");
    CHECK(tcp.find_backend("t")->balance.algo == Balance::RoundRobin);
    CHECK(tcp.find_backend("t")->balance.hdr_name.empty());
    CHECK(has_warning(tcp, {"t.cfg:13: layer 7 hash 'balance hdr' is not possible for backend 't'"}));
}

TEST_CASE("balance: arguments typed once, the balancer's refusals at the balance line") {
    const auto ok =
        load(kHead +
             "backend u\n    balance uri len 10 depth 2 path-only len 12\n"
             "    hash-type consistent\n    server s 127.0.0.1:1\n"
             "backend h\n    hash-type consistent\n    balance \"hdr(X-Host use_domain_only)\"\n"
             "    server s 127.0.0.1:1\n"
             "backend r\n    balance random(2)\n    balance leastconn\n    server s 127.0.0.1:1\n");
    const auto& u = ok.find_backend("u")->balance;
    CHECK(u.algo == Balance::Uri);
    CHECK(u.uri_len == 12);  // a repeated limit: the last one
    CHECK(u.uri_depth == 2);
    CHECK(u.uri_path_only);
    CHECK_FALSE(u.uri_whole);
    CHECK(u.hash_type == HashType::Consistent);
    CHECK(u.hashed());
    // hash-type before balance is kept; written inside the parentheses, use_domain_only is taken
    const auto& h = ok.find_backend("h")->balance;
    CHECK(h.algo == Balance::Hdr);
    CHECK(h.hdr_name == "X-Host");
    CHECK(h.hdr_domain_only);
    CHECK(h.hash_type == HashType::Consistent);
    const auto& r = ok.find_backend("r")->balance;
    CHECK(r.algo == Balance::LeastConn);
    CHECK(r.random_draws == 2);
    CHECK_FALSE(r.hashed());

    // what the balancer cannot take is refused at the 'balance' line
    expect_error(kHead + "backend b\n    balance hdr(a,b)\n    server s 127.0.0.1:1\n", 14,
                 {"balance hdr: 'a,b' is not a header name"});
    expect_error(kHead + "backend b\n    balance \"hdr(X-A bogus)\"\n    server s 127.0.0.1:1\n", 14,
                 {"balance hdr(X-A): unknown option 'bogus' (expected use_domain_only)"});
    expect_error(kHead + "backend b\n    balance \"hdr( )\"\n    server s 127.0.0.1:1\n", 14,
                 {"balance hdr: a header name is required"});
    // ... also when a backend takes it from its defaults section
    const std::string bad_defaults =
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
        "    timeout server 1s\n    balance hdr(a,b)\n";
    expect_error(bad_defaults + "backend b\n    server s 127.0.0.1:1\n", 6,
                 {"balance hdr: 'a,b' is not a header name"});
    // ... but not when no backend uses it: replaced, or a tcp backend (roundrobin)
    const std::string fe = "frontend f\n    bind 127.0.0.1:10001\n    default_backend b\n";
    CHECK(error_of(bad_defaults + "backend b\n    balance source\n    server s 127.0.0.1:1\n" + fe) ==
          "<no error>");
    const auto tcp = load(bad_defaults + "backend b\n    mode tcp\n    server s 127.0.0.1:1\n" + fe +
                          "    mode tcp\n");
    CHECK(tcp.find_backend("b")->balance.algo == Balance::RoundRobin);
    for (const char* bad :
         {"len", "len 0", "len -1", "len x", "depth", "depth 2x", "wholee", "len 10 bogus"}) {
        INFO(bad);
        CHECK(error_of(kHead + "backend b\n    balance uri " + bad + "\n    server s 127.0.0.1:1\n")
                  .rfind("t.cfg:14: ", 0) == 0);
    }
}

// ---- stats page ------------------------------------------------------------------------------------------

TEST_CASE("monitor-uri and monitor fail become the first http-request rules") {
    const auto cfg = fe_cfg(
        "    http-request deny\n"
        "    monitor-uri /health\n"
        "    monitor fail if { hdr(x-a) -m found } || { hdr(x-b) -m found }\n");
    const auto& rules = fe_of(cfg).http.request_rules;
    REQUIRE(rules.size() == 3);
    CHECK(rules[0].monitor);
    CHECK(rules[0].action == es::config::HttpAction::Deny);  // monitor fail: the proxy's 503
    CHECK(rules[0].status == 503);
    CHECK(rules[0].cond.any_of.size() == 2);     // <uri> A || <uri> B
    CHECK(rules[0].cond.any_of[1].size() == 2);
    CHECK(rules[1].action == es::config::HttpAction::Return);
    CHECK(rules[1].status == 200);
    CHECK(rules[2].action == es::config::HttpAction::Deny);  // the section's own rule, after them
    CHECK_FALSE(rules[2].monitor);
    fe_error("    monitor-uri health\n", kLine, {"'monitor-uri' expects a URI starting with '/'"});
    fe_error("    monitor fail\n", kLine, {"'monitor fail' expects 'if' or 'unless' and a condition"});
    fe_error("    monitor pass if TRUE\n", kLine, {"'monitor' expects 'fail if|unless <condition>'"});
}

TEST_CASE("stats page") {
    const auto cfg = fe_cfg(
        "    stats uri /admin?stats\n"
        "    stats refresh 10s\n"
        "    stats realm Haproxy\\ Statistics\n"
        "    stats auth admin:s3cret\n"
        "    stats auth ops:pw\n"
        "    stats hide-version\n");
    const auto& s = fe_of(cfg).stats;
    CHECK(s.enabled);
    CHECK(s.uri == "/admin?stats");
    CHECK(s.refresh == 10000);
    CHECK(s.realm == "Haproxy Statistics");
    REQUIRE(s.users.users.size() == 2);
    CHECK((s.users.users[0].name == "admin" && s.users.users[0].password == "s3cret" && s.users.users[0].insecure));
    CHECK((s.users.users[1].name == "ops" && s.users.users[1].password == "pw"));
    CHECK(s.hide_version);
    CHECK_FALSE(has_warning(cfg, {"t.cfg:18:"}));  // stats hide-version is implemented
    const auto on = fe_cfg("    stats enable\n");
    CHECK(fe_of(on).stats.enabled);
    CHECK(fe_of(on).stats.uri == "/haproxy?stats");
    CHECK_FALSE(fe_of(fe_cfg("")).stats.enabled);
    fe_error("    stats auth admin\n", kLine, {"'stats auth' expects <user>:<password>"});
    fe_error("    stats uri stats\n", kLine, {"'stats uri' expects a path starting with '/'"});
    fe_error("    stats socket /tmp/x\n", kLine, {"'stats socket' belongs in the 'global' section"});
    fe_error("    stats admin TRUE\n", kLine, {"'stats admin' requires either 'if' or 'unless' followed by a condition"});
    fe_error("    stats http-request tarpit\n", kLine,
             {"'stats http-request' supports 'allow', 'deny' and 'auth'", "got 'tarpit'"});
    fe_error("    stats enabel\n", kLine, {"unknown keyword 'stats enabel'", "did you mean 'enable'?"});
}

TEST_CASE("stats admin and stats http-request") {
    const auto cfg = load(
        "userlist ul\n    group admins users admin\n    user admin insecure-password pw\n    user ro insecure-password ro\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "listen adm\n    bind 127.0.0.1:10001\n    stats enable\n    stats uri /st\n"
        "    stats http-request auth realm Adm unless { http_auth(ul) }\n"
        "    stats http-request deny if { src 10.0.0.0/8 }\n"
        "    stats admin if { http_auth_group(ul) admins }\n"
        "    stats admin unless { always_false }\n");
    const auto& s = cfg.frontends[0].stats;
    CHECK(s.enabled);
    REQUIRE(s.rules.size() == 2);
    CHECK(s.rules[0].action == es::config::HttpAction::Auth);
    CHECK(s.rules[0].name == "Adm");
    CHECK(s.rules[0].cond.present);
    CHECK(s.rules[1].action == es::config::HttpAction::Deny);
    REQUIRE(s.admin.size() == 2);
    CHECK_FALSE(s.admin[0].unless);
    CHECK(s.admin[1].unless);
    // an auth rule without a realm: HAProxy's stats realm
    const auto d = fe_cfg("    stats http-request auth\n");
    REQUIRE(fe_of(d).stats.rules.size() == 1);
    CHECK(fe_of(d).stats.rules[0].name == "HAProxy Statistics");
    // HAProxy's refusals
    expect_error("defaults\n    mode http\n    stats admin if TRUE\n", 3, {"'stats admin' not allowed in 'defaults' section"});
    expect_error("defaults\n    mode http\n    stats http-request allow\n", 3,
                 {"'stats http-request' not allowed in 'defaults' section"});
    fe_error("    stats auth a:b\n    stats http-request allow\n", kLine + 1,
             {"stats 'auth'/'realm' and 'http-request' can't be used at the same time"});
    expect_error(
        "userlist ul\n    group admins users admin\n    user admin insecure-password pw\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "listen adm\n    bind 127.0.0.1:10001\n    stats admin if { http_auth_group(ul) nosuch }\n",
        11, {"'http_auth_group(ul)': invalid group 'nosuch'"});
    expect_error(
        "userlist ul\n    user admin insecure-password pw\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "listen adm\n    bind 127.0.0.1:10001\n    acl a http_auth_group(ul)\n",
        10, {"'http_auth_group': no groups specified"});
}

TEST_CASE("stats page in a backend: the backend's own, the frontend's untouched") {
    const auto cfg = load(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "frontend fe\n    bind 127.0.0.1:10001\n    use_backend be_stats if { path_beg /stats }\n    default_backend be\n"
        "backend be_stats\n    stats enable\n    stats uri /stats\n    stats auth admin:pw\n    stats scope .\n"
        "backend be\n    server s1 127.0.0.1:10002\n");
    const auto& b = *cfg.find_backend("be_stats");
    CHECK(b.stats.enabled);
    CHECK(b.stats.uri == "/stats");
    REQUIRE(b.stats.users.users.size() == 1);
    REQUIRE(b.stats.scopes.size() == 1);
    CHECK(b.stats.scopes[0] == "be_stats");  // '.': the section that holds it
    CHECK(b.servers.empty());
    CHECK_FALSE(cfg.frontends[0].stats.enabled);
    CHECK_FALSE(cfg.find_backend("be")->stats.enabled);
}

// ---- logs ------------------------------------------------------------------------------------------------

TEST_CASE("logs: global targets, log global, per-proxy targets and formats") {
    const auto cfg = load(
        "global\n"
        "    log stdout format raw local0 info\n"
        "    log file@/var/log/es.log len 4096 daemon\n"
        "    log 127.0.0.1:514 local1 notice err\n" +
        kHead +
        "    log global\n"
        "    log stderr format short user\n"
        "    option httplog\n"
        "    option dontlognull\n"
        "frontend f2\n"
        "    bind 127.0.0.1:10005\n"
        "    default_backend be\n"
        "    log global\n"
        "    no log\n"
        "    log-format \"%ci [%tr] %ST %{+Q}r\"\n"
        "frontend f3\n"
        "    bind 127.0.0.1:10006\n"
        "    default_backend be\n"
        "    option httplog clf\n"
        "    option tcplog\n");
    const auto& g = cfg.global.logs;
    REQUIRE(g.size() == 3);
    CHECK(g[0].target == "stdout");
    CHECK(g[0].format == "raw");
    CHECK(g[0].facility == "local0");
    CHECK(g[0].level == "info");
    CHECK(g[1].target == "file@/var/log/es.log");
    CHECK(g[1].len == 4096);
    CHECK(g[1].format == "rfc3164");
    CHECK(g[2].level == "notice");
    CHECK(g[2].min_level == "err");
    CHECK(g[2].kind == es::config::LogTarget::Kind::Udp);
    CHECK(g[2].addr.text() == "127.0.0.1:514");
    CHECK(g[1].kind == es::config::LogTarget::Kind::File);
    CHECK(g[1].path == "/var/log/es.log");
    CHECK(has_warning(cfg, {"t.cfg:3: 'log ... len 4096'", "cut there by the shards"}));
    CHECK(has_warning(cfg, {"t.cfg:4: 'log 127.0.0.1:514 ... notice'", "receives nothing"}));
    CHECK_FALSE(has_warning(cfg, {"dontlognull"}));  // it works: null connections are not logged
    const auto& f = fe_of(cfg);
    REQUIRE(f.logs.size() == 4);
    CHECK(f.logs[0].target == "stdout");
    CHECK(f.logs[3].target == "stderr");
    CHECK(f.logs[3].format == "short");
    CHECK(
        f.log_format ==
        "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs "
        "%{+Q}r");
    CHECK(f.dontlognull);
    const auto& f2 = *cfg.find_frontend("f2");
    CHECK(f2.logs.empty());
    CHECK(f2.log_format == "%ci [%tr] %ST %{+Q}r");
    CHECK_FALSE(f2.dontlognull);
    CHECK(cfg.find_frontend("f3")->log_format ==
          "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq");
}

TEST_CASE("logs: syslog targets, log-tag, log-send-hostname, refused targets") {
    using Kind = es::config::LogTarget::Kind;
    const auto cfg = load(
        "global\n"
        "    log 10.1.2.3 local0\n"
        "    log udp@127.0.0.1:5514 format rfc5424 local1\n"
        "    log ipv6@[::1] len 200 local2 info debug\n"
        "    log udp6@[::1]:1514 local3\n"
        "    log /dev/log local4\n"
        "    log unix@/run/syslog.sock format local local5\n"
        "    log fd@2 local6\n"
        "    log-tag edge\n"
        "    log-send-hostname edge-1\n" +
        kHead +
        "    log global\n"
        "    log-tag front\n"
        "    option httpslog\n");
    const auto& g = cfg.global.logs;
    REQUIRE(g.size() == 7);
    CHECK(g[0].kind == Kind::Udp);
    CHECK(g[0].addr.text() == "10.1.2.3:514");  // HAProxy's default syslog port
    CHECK(g[1].addr.text() == "127.0.0.1:5514");
    CHECK(g[1].format == "rfc5424");
    CHECK(g[2].kind == Kind::Udp);
    CHECK(g[2].addr.family() == AF_INET6);
    CHECK(g[2].len == 200);
    CHECK(g[3].addr.text() == "[::1]:1514");
    CHECK(g[4].kind == Kind::Unix);
    CHECK(g[4].path == "/dev/log");
    CHECK(g[5].kind == Kind::Unix);
    CHECK(g[5].path == "/run/syslog.sock");
    CHECK(g[6].kind == Kind::Stderr);
    CHECK(cfg.global.log_tag == "edge");
    CHECK(cfg.global.log_send_hostname);
    CHECK(cfg.global.log_hostname == "edge-1");
    const auto& f = fe_of(cfg);
    CHECK(f.logs.size() == 7);
    CHECK(f.log_tag == "front");
    CHECK(f.log_format.rfind("%ci:%cp [%tr] %ft", 0) == 0);  // httpslog -> httplog
    CHECK(has_warning(cfg, {"'option httpslog' falls back to 'option httplog'"}));
    const auto bare = load("global\n    log-send-hostname\n" + kHead);
    CHECK(bare.global.log_send_hostname);
    CHECK(bare.global.log_hostname.empty());

    expect_error("global\n    log tcp@127.0.0.1:514 local0\n", 2,
                 {"'log tcp@127.0.0.1:514': syslog over TCP is not supported", "use a UDP server"});
    expect_error("global\n    log ring@buf local0\n", 2, {"ring buffers are not supported"});
    expect_error("global\n    log fd@3 local0\n", 2, {"only fd@1 (stdout) and fd@2 (stderr)"});
    expect_error("global\n    log abns@sock local0\n", 2, {"unsupported target 'abns@sock'"});
    expect_error("global\n    log syslog.example.com:514 local0\n", 2,
                 {"not a numeric IPv4/IPv6 syslog address", "host names are not resolved"});
    expect_error("global\n    log ipv4@[::1]:514 local0\n", 2, {"does not match its family prefix"});
    expect_error("global\n    log 127.0.0.1:0 local0\n", 2, {"not a numeric IPv4/IPv6 syslog address"});
    expect_error("global\n    log unix@relative local0\n", 2, {"expects an absolute unix socket path"});
    expect_error("global\n    log-tag \"two words\"\n", 2,
                 {"'log-tag' expects printable ASCII without blanks"});
    fe_error("    log-tag\n", kLine, {"'log-tag' expects a tag"});
}

TEST_CASE("logs: httplog clf, log-format in a backend, errors") {
    const auto cfg =
        fe_cfg("    option httplog clf\nbackend b9\n    log-format x\n    server s 127.0.0.1:1\n");
    CHECK(fe_of(cfg).log_format.rfind("%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp", 0) == 0);
    CHECK(has_warning(cfg,
                      {"t.cfg:15: 'log-format' is ignored because backend 'b9' has no frontend capability"}));
    fe_error("    log stdout local9\n", kLine, {"'log': unknown facility 'local9'"});
    fe_error("    log stdout\n", kLine, {"'log' expects a syslog facility"});
    fe_error("    log stdout format json local0\n", kLine, {"'log format': unknown format 'json'"});
    fe_error("    log stdout len 10 local0\n", kLine, {"'log len' expects a length from 80 to 65535"});
    fe_error("    log stdout local0 loud\n", kLine, {"'log': unknown level 'loud'"});
    fe_error("    log stdout local0 info err extra\n", kLine, {"unexpected argument 'extra'"});
    fe_error("    log-format %ci %cp\n", kLine, {"'log-format' expects only one argument"});
    fe_error("    option httplog full\n", kLine, {"'option httplog' expects nothing or 'clf'"});
    expect_error("global\n    log global\n", 2, {"'log global' only applies to proxies"});
}

// ---- global HTTP tuning ----------------------------------------------------------------------------------

TEST_CASE("global: HTTP tuning") {
    const auto cfg = load(
        "global\n"
        "    tune.http.maxhdr 64\n"
        "    tune.es.max-request-line 16k\n"
        "    tune.es.log-ring 4m\n"
        "    tune.es.max-body 10m\n" +
        kHead);
    CHECK(cfg.global.maxhdr == 64);
    CHECK(cfg.global.max_request_line == 16384);
    CHECK(cfg.global.log_ring_size == 4 << 20);
    CHECK(cfg.global.max_body == 10 << 20);
    CHECK(fe_of(cfg).http.max_body == 10 << 20);
    CHECK(cfg.find_backend("api")->http.max_body == 10 << 20);
    const auto def = fe_cfg("");
    CHECK(def.global.maxhdr == 101);
    CHECK(def.global.max_body == 0);
    expect_error("global\n    tune.http.maxhdr 0\n", 2,
                 {"'tune.http.maxhdr' expects an integer from 1 to 32767"});
    expect_error("global\n    tune.es.max-bdy 1m\n", 2, {"did you mean 'tune.es.max-body'?"});
    expect_error("global\n    tune.es.log-ring 1\n", 2, {"'tune.es.log-ring' expects a size"});
}

TEST_CASE("acl: client certificate fetches: integers as ranges, DN entries, binary as hex") {
    const auto cfg = fe_cfg(
        "    acl a ssl_c_verify 0\n"
        "    acl b ssl_c_err ge 2 lt 0 3:5 :1\n"
        "    acl c ssl_c_s_dn(CN) alice\n"
        "    acl d ssl_c_i_dn(OU,-1) ops\n"
        "    acl e ssl_c_serial 0a1b\n"
        "    acl f ssl_c_used\n"
        "    acl g ssl_fc_has_crt\n"
        "    acl h ssl_c_ca_err -m found\n"
        "    http-request set-header X-DN %[ssl_c_s_dn]\n"
        "    http-request set-header X-CN %[ssl_c_s_dn(CN,2)]\n"
        "    http-request set-header X-Serial %[ssl_c_serial,hex]\n"
        "    http-request set-header X-V %[ssl_c_verify]\n");
    const auto& acls = fe_of(cfg).http.acls;
    REQUIRE(acls.size() == 8);
    CHECK(acls[0].match == Acl::Match::Int);
    REQUIRE(acls[0].ranges.size() == 1);
    CHECK((acls[0].ranges[0].lo == 0 && acls[0].ranges[0].hi == 0));
    REQUIRE(acls[1].ranges.size() == 4);
    constexpr std::int64_t kMin = INT64_MIN, kMax = INT64_MAX;
    CHECK((acls[1].ranges[0].lo == 2 && acls[1].ranges[0].hi == kMax));
    CHECK((acls[1].ranges[1].lo == kMin && acls[1].ranges[1].hi == -1));
    CHECK((acls[1].ranges[2].lo == 3 && acls[1].ranges[2].hi == 5));
    CHECK((acls[1].ranges[3].lo == kMin && acls[1].ranges[3].hi == 1));
    CHECK(acls[2].arg == "CN,1");
    CHECK(acls[3].arg == "OU,-1");
    CHECK(acls[4].icase);
    CHECK(acls[5].match == Acl::Match::Bool);
    CHECK(acls[7].match == Acl::Match::Found);
    fe_error("    acl x ssl_c_verify zero\n", kLine, {"invalid integer pattern 'zero'"});
    fe_error("    acl x ssl_c_verify -m str 0\n", kLine, {"'ssl_c_verify' is an integer"});
    fe_error("    acl x ssl_c_s_dn(CN,1,rfc2253) a\n", kLine, {"the <format> argument", "not supported"});
    fe_error("    acl x ssl_c_used(x)\n", kLine, {"takes no argument"});
    fe_error("    http-request set-header X %[ssl_c_serial]\n", kLine, {"is binary", "'ssl_c_serial,hex'"});
    fe_error("    http-request set-header X %[ssl_c_s_dn(CN,1,rfc2253)]\n", kLine, {"<format> argument"});
}

TEST_CASE("captures: slots per direction in declaration order, cookie capture, capture rules") {
    const auto cfg = load(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "frontend fe\n    bind 127.0.0.1:10001\n"
        "    declare capture request len 8\n"
        "    http-request capture req.hdr(x-b) len 3\n"
        "    capture request header X-A len 10\n"
        "    capture response header Server len 20\n"
        "    capture cookie SID len 100\n"
        "    http-response capture res.hdr(x-s) id 0\n"
        "    default_backend be\n"
        "backend be\n    http-request capture req.hdr(x-c) id 7\n    server s1 127.0.0.1:10002\n");
    const auto& fe = cfg.frontends[0];
    REQUIRE(fe.req_caps.size() == 3);
    CHECK((fe.req_caps[0].header.empty() && fe.req_caps[0].len == 8));
    CHECK((fe.req_caps[1].header.empty() && fe.req_caps[1].len == 3));
    CHECK((fe.req_caps[2].header == "x-a" && fe.req_caps[2].len == 10));
    REQUIRE(fe.rsp_caps.size() == 1);
    CHECK(fe.rsp_caps[0].header == "server");
    CHECK(fe.cookie_capture == "SID");
    CHECK(fe.cookie_capture_len == 63);  // HAProxy's tune.http.cookielen, with its warning
    CHECK(has_warning(cfg, {"truncating capture length to 63 bytes for frontend 'fe'"}));
    REQUIRE(fe.http.request_rules.size() == 1);
    CHECK(fe.http.request_rules[0].action == es::config::HttpAction::Capture);
    CHECK(fe.http.request_rules[0].status == 1);  // the slot the `len` form added
    CHECK(fe.http.request_rules[0].value == "req.hdr(x-b)");
    CHECK(fe.http.response_rules[0].status == 0);
    CHECK(cfg.find_backend("be")->http.request_rules[0].status == 7);  // a backend's: not checked at load
    fe_error("    capture request header X-A len 0\n", kLine, {"the capture length must be an integer from 1 to 65535"});
    fe_error("    http-request capture req.hdr(host) id 0\n", kLine,
             {"Proxy 'fe': unable to find capture id '0' referenced by http-request capture rule."});
}

TEST_CASE("http-after-response: named defaults lend their rules; HAProxy's limits on sharing them") {
    const std::string d1 =
        "defaults d1\n"                                       // 1
        "    mode http\n"                                     // 2
        "    timeout connect 1s\n"                            // 3
        "    timeout client 1s\n"                             // 4
        "    timeout server 1s\n"                             // 5
        "    http-after-response add-header X-D 1\n";         // 6
    const std::string be =
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "backend be\n    server s1 127.0.0.1:10002\n";
    const Config cfg = load(d1 + "frontend fe from d1\n    bind 127.0.0.1:10001\n"
                                 "    http-after-response set-status 299 if { status 200 }\n"
                                 "    default_backend be\n" + be);
    const auto& fe = cfg.frontends.at(0).http;
    REQUIRE(fe.after_rules.size() == 2);
    CHECK(fe.after_own == 1);
    CHECK(fe.after_rules[0].action == HttpAction::AddHeader);
    CHECK(fe.after_rules[1].action == HttpAction::SetStatus);
    CHECK(fe.after_rules[1].status == 299);
    CHECK(cfg.backends.at(0).http.after_rules.empty());  // the anonymous defaults after d1 lends nothing

    expect_error(d1 + "listen li from d1\n    bind 127.0.0.1:10001\n    server s1 127.0.0.1:10002\n", 7,
                 {"a listen section cannot inherit from a defaults section defining TCP/HTTP rules"});
    expect_error(d1 + "frontend fe from d1\n    bind 127.0.0.1:10001\n    default_backend b2\n"
                      "backend b2 from d1\n    server s1 127.0.0.1:10002\n",
                 10, {"frontends and backends cannot inherit from the same defaults section", "t.cfg:1"});
    expect_error("defaults\n    mode http\n    http-after-response set-header X 1\n" + es::config::test::kTail, 3,
                 {"'http-after-response' not allowed in anonymous 'defaults' section"});
}

TEST_CASE("unique-id-format / unique-id-header: HAProxy's argument checks and format errors") {
    const std::string head = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                             "frontend fe\n    bind 127.0.0.1:10001\n";  // the line under test is 8
    const std::string tail = "    default_backend be\nbackend be\n    server s1 127.0.0.1:10002\n";
    const Config cfg = es::config::test::load(head + "    unique-id-format %{+X}o\\ %ci:%cp_%rt\n    unique-id-header X-Req-ID\n" + tail);
    CHECK(cfg.frontends.at(0).unique_id_format == "%{+X}o %ci:%cp_%rt");
    CHECK(cfg.frontends.at(0).unique_id_header == "X-Req-ID");
    auto err = [&](const std::string& line, std::initializer_list<std::string_view> f) {
        es::config::test::expect_error(head + line + "\n" + tail, 8, f);
    };
    err("    unique-id-format", {"unique-id-format expects an argument."});
    err("    unique-id-format %rt x", {"unique-id-format expects only one argument, don't forget to escape spaces!"});
    err("    unique-id-header", {"unique-id-header expects an argument."});
    err("    unique-id-format %zz", {"failed to parse unique-id : no such format variable 'zz'"});
    err("    unique-id-format %[res.hdr(x)]", {"failed to parse unique-id", "needs 'HTTP response headers'"});
    err("    unique-id-format %[uuid(5)]", {"Unsupported UUID version: '5'"});
    err("    unique-id-format %[unique-id]", {"cannot be built from itself"});
}

TEST_CASE("set-var-fmt: its format checked like a value's, ifnotempty taken, a missing format refused") {
    const std::string head = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                             "frontend fe\n    bind 127.0.0.1:10001\n";  // the line under test is 8
    const std::string tail = "    default_backend be\nbackend be\n    server s1 127.0.0.1:10002\n";
    const Config cfg = es::config::test::load(head + "    http-request set-var-fmt(txn.x,ifnotempty) \"%[src]:%[path]\"\n" + tail);
    const auto& r = cfg.frontends.at(0).http.request_rules.at(0);
    CHECK(r.action == HttpAction::SetVar);
    CHECK(r.var.fmt);
    CHECK(r.var.ifnotempty);
    CHECK(r.var.expr == "%[src]:%[path]");
    auto err = [&](const std::string& line, std::initializer_list<std::string_view> f) {
        es::config::test::expect_error(head + line + "\n" + tail, 8, f);
    };
    err("    http-request set-var-fmt(txn.x)", {"expects a log-format string"});
    err("    http-request set-var-fmt(txn.x) \"\"", {"expects a log-format string"});
    err("    http-request set-var-fmt(txn.x) %[nope]", {"unknown fetch method 'nope'"});
    err("    http-request set-var-fmt(txn.x,ifexists) a", {"(but 'ifnotempty')"});
}
