// http::parse_request / parse_response: every rejection with its exact status, the accepted forms,
// hop-by-hop marking, and the incremental contract (pieces, byte by byte, limits on open heads).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <string_view>

#include "edgeshard/http/parser.hpp"

using namespace es::http;
using namespace std::string_view_literals;

namespace {

// Heads are ~5 KB each (the header array); one per test keeps the stack small. The parsed bytes
// are copied to g_input so the views stay valid after a temporary argument is gone.
RequestHead g_req;
ResponseHead g_rsp;
std::string g_input;

ParseResult req(std::string_view s, const Limits& lim = {}) {
    g_input.assign(s);
    std::size_t scanned = 0;
    return parse_request(g_input.data(), g_input.size(), lim, g_req, scanned);
}

ParseResult rsp(std::string_view s, Method m = Method::Get, const Limits& lim = {}) {
    g_input.assign(s);
    std::size_t scanned = 0;
    return parse_response(g_input.data(), g_input.size(), lim, m, g_rsp, scanned);
}

// A request head with the given header lines (each without CRLF) and an optional request line.
std::string with_headers(std::initializer_list<std::string_view> lines,
                         std::string_view request_line = "GET / HTTP/1.1") {
    std::string s(request_line);
    s += "\r\n";
    for (std::string_view l : lines) {
        s += l;
        s += "\r\n";
    }
    s += "\r\n";
    return s;
}

std::uint16_t req_error(std::string_view s, const Limits& lim = {}) {
    const ParseResult r = req(s, lim);
    if (r.status != Status::Error) return 0;
    return r.error;
}

std::uint16_t rsp_error(std::string_view s, Method m = Method::Get) {
    const ParseResult r = rsp(s, m);
    if (r.status != Status::Error) return 0;
    return r.error;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Accepted requests

TEST_CASE("a typical browser request parses into method, target, path, query, host and headers") {
    const std::string s =
        "GET /search?q=edge+proxy&lang=en HTTP/1.1\r\n"
        "Host: www.example.com\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        "Accept-Language: en-US,en;q=0.5\r\n"
        "Accept-Encoding: gzip, deflate, br\r\n"
        "Connection: keep-alive\r\n"
        "Cookie: sid=31d4d96e407aad42; theme=dark\r\n"
        "Upgrade-Insecure-Requests: 1\r\n"
        "\r\n";
    const ParseResult r = req(s);
    REQUIRE(r.status == Status::Done);
    CHECK(g_req.head_len == s.size());
    CHECK(g_req.head_start == 0);
    CHECK(g_req.method == Method::Get);
    CHECK(g_req.method_text == "GET");
    CHECK(g_req.target == "/search?q=edge+proxy&lang=en");
    CHECK(g_req.path == "/search");
    CHECK(g_req.query == "q=edge+proxy&lang=en");
    CHECK(g_req.host == "www.example.com");
    CHECK(g_req.authority.empty());
    CHECK_FALSE(g_req.absolute_form);
    CHECK(g_req.version == 11);
    CHECK(g_req.nheaders == 8);
    CHECK(g_req.body == BodyKind::None);
    CHECK(g_req.conn == kConnKeepAlive);
    CHECK(g_req.wants_keep_alive());
    CHECK(g_req.headers[1].name == "User-Agent");
    CHECK(g_req.headers[1].value == "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0");
    CHECK(g_req.headers[5].hop);  // Connection
    CHECK_FALSE(g_req.headers[0].hop);
    REQUIRE(g_req.find("cookie") != nullptr);
    CHECK(g_req.find("COOKIE")->value == "sid=31d4d96e407aad42; theme=dark");
    CHECK(g_req.find("x-missing") == nullptr);
}

TEST_CASE("a curl request parses; values are trimmed of surrounding whitespace, HTAB allowed inside") {
    const ParseResult r =
        req("GET /status HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\n"
            "Accept: */*\r\nX-Pad: \t a\tb \t\r\n\r\n");
    REQUIRE(r.status == Status::Done);
    CHECK(g_req.host == "localhost:8080");
    CHECK(g_req.path == "/status");
    CHECK(g_req.query.empty());
    CHECK(g_req.find("x-pad")->value == "a\tb");
    CHECK(g_req.find("Accept")->value == "*/*");
}

TEST_CASE("an empty header value is accepted") {
    REQUIRE(req(with_headers({"Host: h", "X-Empty:", "X-Blank:   "})).status == Status::Done);
    CHECK(g_req.find("x-empty")->value.empty());
    CHECK(g_req.find("x-blank")->value.empty());
}

TEST_CASE("a pipelined second request is left untouched after head_len") {
    const std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi";
    const std::string both = first + second;
    REQUIRE(req(both).status == Status::Done);
    CHECK(g_req.head_len == first.size());
    CHECK(g_req.path == "/a");
    const std::string_view rest = std::string_view(both).substr(g_req.head_len);
    CHECK(rest == second);
    REQUIRE(req(rest).status == Status::Done);
    CHECK(g_req.method == Method::Post);
    CHECK(g_req.body == BodyKind::Length);
    CHECK(g_req.content_length == 2);
    CHECK(g_req.head_len == second.size() - 2);
}

TEST_CASE("HTTP/1.0 without Host is accepted; keep-alive only when asked for") {
    REQUIRE(req("GET /old HTTP/1.0\r\n\r\n").status == Status::Done);
    CHECK(g_req.version == 10);
    CHECK(g_req.host.empty());
    CHECK(g_req.nheaders == 0);
    CHECK_FALSE(g_req.wants_keep_alive());
    REQUIRE(req("GET /old HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").status == Status::Done);
    CHECK(g_req.wants_keep_alive());
    REQUIRE(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").status == Status::Done);
    CHECK_FALSE(g_req.wants_keep_alive());
}

TEST_CASE("a POST with Content-Length gets a Length body; Content-Length: 0 means no body") {
    REQUIRE(req(with_headers({"Host: h", "Content-Length: 1234"}, "POST /x HTTP/1.1")).status ==
            Status::Done);
    CHECK(g_req.body == BodyKind::Length);
    CHECK(g_req.content_length == 1234);
    REQUIRE(req(with_headers({"Host: h", "Content-Length: 0"}, "POST /x HTTP/1.1")).status == Status::Done);
    CHECK(g_req.body == BodyKind::None);
    CHECK(g_req.content_length == 0);
    REQUIRE(req(with_headers({"Host: h", "Content-Length: 007"}, "POST /x HTTP/1.1")).status == Status::Done);
    CHECK(g_req.content_length == 7);
    REQUIRE(
        req(with_headers({"Host: h", "Content-Length: 18446744073709551615"}, "PUT /x HTTP/1.1")).status ==
        Status::Done);
    CHECK(g_req.content_length == UINT64_MAX);
}

TEST_CASE("Transfer-Encoding: chunked (any case) gets a Chunked body and is hop-by-hop") {
    for (auto te :
         {"Transfer-Encoding: chunked"sv, "transfer-encoding: Chunked"sv, "Transfer-Encoding:  CHUNKED "sv}) {
        REQUIRE(req(with_headers({"Host: h", te}, "POST /u HTTP/1.1")).status == Status::Done);
        CHECK(g_req.body == BodyKind::Chunked);
        CHECK(g_req.headers[1].hop);
    }
}

TEST_CASE("an unknown but valid method is accepted as Other; TRACE and lowercase methods are forwarded") {
    REQUIRE(req(with_headers({"Host: h"}, "PROPFIND /dav HTTP/1.1")).status == Status::Done);
    CHECK(g_req.method == Method::Other);
    CHECK(g_req.method_text == "PROPFIND");
    REQUIRE(req(with_headers({"Host: h"}, "TRACE / HTTP/1.1")).status == Status::Done);
    CHECK(g_req.method == Method::Trace);
    REQUIRE(req(with_headers({"Host: h"}, "get / HTTP/1.1")).status == Status::Done);
    CHECK(g_req.method == Method::Other);  // methods are case-sensitive
}

TEST_CASE("method_of knows the standard methods") {
    CHECK(method_of("GET") == Method::Get);
    CHECK(method_of("HEAD") == Method::Head);
    CHECK(method_of("POST") == Method::Post);
    CHECK(method_of("PUT") == Method::Put);
    CHECK(method_of("DELETE") == Method::Delete);
    CHECK(method_of("CONNECT") == Method::Connect);
    CHECK(method_of("OPTIONS") == Method::Options);
    CHECK(method_of("TRACE") == Method::Trace);
    CHECK(method_of("PATCH") == Method::Patch);
    CHECK(method_of("PURGE") == Method::Other);
    CHECK(method_of("") == Method::Other);
}

TEST_CASE("leading empty lines before the request line are skipped and counted in head_len") {
    const std::string s = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    REQUIRE(req(s).status == Status::Done);
    CHECK(g_req.head_start == 4);
    CHECK(g_req.head_len == s.size());
    CHECK(g_req.method_text.data() == g_input.data() + 4);
    const ParseResult r = req("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK(r.status == Status::Error);
    CHECK(r.error == 400);
    CHECK(req("\r\n").status == Status::NeedMore);
    CHECK(req_error("\r\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
}

TEST_CASE("absolute-form: authority and path are parsed out, path '/' when empty") {
    REQUIRE(req("GET http://Example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n").status ==
            Status::Done);
    CHECK(g_req.absolute_form);
    CHECK(g_req.authority == "Example.com:8080");
    CHECK(g_req.path == "/a/b");
    CHECK(g_req.query == "x=1");
    CHECK(g_req.host == "example.com:8080");

    REQUIRE(req("GET https://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n").status == Status::Done);
    CHECK(g_req.path == "/");
    CHECK(g_req.query.empty());
    REQUIRE(req("GET HTTP://example.com?k=v HTTP/1.1\r\nHost: example.com\r\n\r\n").status == Status::Done);
    CHECK(g_req.path == "/");
    CHECK(g_req.query == "k=v");
    REQUIRE(req("GET http://example.com/ HTTP/1.0\r\n\r\n").status == Status::Done);
    CHECK(g_req.authority == "example.com");
    CHECK(g_req.host.empty());
}

TEST_CASE("path and query split at the first '?'") {
    REQUIRE(req(with_headers({"Host: h"}, "GET /p?a=1?b=2 HTTP/1.1")).status == Status::Done);
    CHECK(g_req.path == "/p");
    CHECK(g_req.query == "a=1?b=2");
    REQUIRE(req(with_headers({"Host: h"}, "GET /p? HTTP/1.1")).status == Status::Done);
    CHECK(g_req.path == "/p");
    CHECK(g_req.query.empty());
}

TEST_CASE("CONNECT takes an authority-form target; OPTIONS may use '*'") {
    REQUIRE(req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n").status == Status::Done);
    CHECK(g_req.method == Method::Connect);
    CHECK(g_req.authority == "example.com:443");
    CHECK(g_req.path.empty());
    REQUIRE(req("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n").status ==
            Status::Done);
    REQUIRE(req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").status == Status::Done);
    CHECK(g_req.method == Method::Options);
    CHECK(g_req.path == "*");
}

TEST_CASE("Host values: names, IPv4, IPv6 literals, ports, percent-encoding, empty") {
    for (auto host : {"Host: example.com"sv, "Host: a-b_c.example:80"sv, "Host: 192.0.2.1:8443"sv,
                      "Host: [::1]"sv, "Host: [2001:db8::7]:8080"sv, "Host: [::ffff:192.0.2.1]"sv,
                      "Host: ex%41mple.com"sv, "Host:"sv, "Host: [v1.fe]"sv}) {
        INFO(host);
        CHECK(req(with_headers({host})).status == Status::Done);
    }
}

TEST_CASE("Connection tokens set flags and make the named headers hop-by-hop") {
    REQUIRE(req(with_headers({"Host: h", "Connection: keep-alive, X-Secret", "X-Secret: 1",
                              "Keep-Alive: timeout=5", "Proxy-Connection: keep-alive", "TE: trailers",
                              "Trailer: X-Sum", "X-Kept: 2", "x-secret: 3",
                              "Proxy-Authorization: Basic Zm9vOmJhcg=="}))
                .status == Status::Done);
    CHECK(g_req.conn == (kConnKeepAlive | kConnOther));
    CHECK_FALSE(g_req.headers[0].hop);  // Host
    for (int i = 1; i <= 6; ++i) {
        INFO(g_req.headers[i].name);
        CHECK(g_req.headers[i].hop);
    }
    CHECK_FALSE(g_req.headers[7].hop);  // X-Kept
    CHECK(g_req.headers[8].hop);        // x-secret, named by the Connection option in another case
    CHECK_FALSE(g_req.headers[9].hop);  // Proxy-Authorization
}

TEST_CASE("a Connection option naming Content-Length or Host does not strip them") {
    REQUIRE(req(with_headers({"Host: h", "Connection: content-length, host", "Content-Length: 3"},
                             "POST / HTTP/1.1"))
                .status == Status::Done);
    CHECK_FALSE(g_req.find("host")->hop);
    CHECK_FALSE(g_req.find("content-length")->hop);
    CHECK(g_req.body == BodyKind::Length);
}

TEST_CASE("multiple Connection headers combine, empty list elements are ignored") {
    REQUIRE(req(with_headers({"Host: h", "Connection: ,", "Connection: close ,  , Upgrade"})).status ==
            Status::Done);
    CHECK(g_req.conn == (kConnClose | kConnUpgrade));
    CHECK_FALSE(g_req.upgrade);  // no Upgrade header
}

TEST_CASE("upgrade needs both the Connection token and an Upgrade header, on HTTP/1.1") {
    REQUIRE(req(with_headers({"Host: h", "Connection: Upgrade", "Upgrade: websocket"})).status ==
            Status::Done);
    CHECK(g_req.upgrade);
    CHECK(g_req.find("upgrade")->hop);
    REQUIRE(req(with_headers({"Host: h", "Upgrade: websocket"})).status == Status::Done);
    CHECK_FALSE(g_req.upgrade);
    REQUIRE(req(with_headers({"Connection: upgrade", "Upgrade: websocket"}, "GET / HTTP/1.0")).status ==
            Status::Done);
    CHECK_FALSE(g_req.upgrade);
}

TEST_CASE("Expect: 100-continue is recognised case-insensitively, HTTP/1.1 only") {
    REQUIRE(req(with_headers({"Host: h", "Expect: 100-Continue", "Content-Length: 10"}, "PUT / HTTP/1.1"))
                .status == Status::Done);
    CHECK(g_req.expect_continue);
    REQUIRE(req(with_headers({"Host: h", "Expect: something-else"}, "PUT / HTTP/1.1")).status ==
            Status::Done);
    CHECK_FALSE(g_req.expect_continue);
    REQUIRE(req(with_headers({"Expect: 100-continue"}, "PUT / HTTP/1.0")).status == Status::Done);
    CHECK_FALSE(g_req.expect_continue);
}

TEST_CASE("find skips headers marked removed") {
    REQUIRE(req(with_headers({"Host: h", "X-A: 1", "x-a: 2"})).status == Status::Done);
    g_req.find("X-A")->removed = true;
    REQUIRE(g_req.find("x-a") != nullptr);
    CHECK(g_req.find("x-a")->value == "2");
    const RequestHead& c = g_req;
    CHECK(c.find("x-a") == &g_req.headers[2]);
}

TEST_CASE("iequals, is_token and reason_phrase") {
    CHECK(iequals("Content-Length", "content-LENGTH"));
    CHECK_FALSE(iequals("abc", "abd"));
    CHECK_FALSE(iequals("abc", "abcd"));
    CHECK(iequals("", ""));
    CHECK_FALSE(iequals("\xC0", "\xE0"));  // no locale folding of non-ASCII
    CHECK(is_token("X-Forwarded-For"));
    CHECK(is_token("!#$%&'*+-.^_`|~09AZaz"));
    CHECK_FALSE(is_token(""));
    CHECK_FALSE(is_token("a b"));
    CHECK_FALSE(is_token("a:b"));
    CHECK_FALSE(is_token("a\"b"));
    CHECK(reason_phrase(200) == "OK");
    CHECK(reason_phrase(404) == "Not Found");
    CHECK(reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(reason_phrase(503) == "Service Unavailable");
    CHECK(reason_phrase(299).empty());
}

// ---------------------------------------------------------------------------------------------
// Rejected requests: framing

TEST_CASE("Content-Length together with Transfer-Encoding is 400") {
    CHECK(req_error(with_headers({"Host: h", "Content-Length: 5", "Transfer-Encoding: chunked"},
                                 "POST / HTTP/1.1")) == 400);
    CHECK(req_error(with_headers({"Host: h", "Transfer-Encoding: chunked", "Content-Length: 0"},
                                 "POST / HTTP/1.1")) == 400);
}

TEST_CASE("duplicate Content-Length is 400, identical values included") {
    CHECK(req_error(with_headers({"Host: h", "Content-Length: 5", "Content-Length: 6"}, "POST / HTTP/1.1")) ==
          400);
    CHECK(req_error(with_headers({"Host: h", "Content-Length: 5", "content-length: 5"}, "POST / HTTP/1.1")) ==
          400);
    const ParseResult r =
        req(with_headers({"Host: h", "Content-Length: 5", "Content-Length: 5"}, "POST / HTTP/1.1"));
    CHECK(std::string_view(r.why) == "duplicate Content-Length");
}

TEST_CASE("invalid Content-Length values are 400") {
    for (auto cl :
         {"Content-Length: 5, 5"sv, "Content-Length: -1"sv, "Content-Length: +5"sv, "Content-Length: 0x10"sv,
          "Content-Length: 1 0"sv, "Content-Length:"sv, "Content-Length: 5;"sv,
          "Content-Length: 18446744073709551616"sv, "Content-Length: 99999999999999999999999"sv}) {
        INFO(cl);
        CHECK(req_error(with_headers({"Host: h", cl}, "POST / HTTP/1.1")) == 400);
    }
}

TEST_CASE("Transfer-Encoding other than a single final chunked: 501 for codings we lack, 400 otherwise") {
    auto te = [](std::initializer_list<std::string_view> lines) {
        std::string s = "POST / HTTP/1.1\r\nHost: h\r\n";
        for (auto l : lines) (s += l) += "\r\n";
        return req_error(s + "\r\n");
    };
    CHECK(te({"Transfer-Encoding: gzip, chunked"}) == 501);
    CHECK(te({"Transfer-Encoding: gzip", "Transfer-Encoding: chunked"}) == 501);
    CHECK(te({"Transfer-Encoding: x-custom, chunked"}) == 501);
    CHECK(te({"Transfer-Encoding: chunked, gzip"}) == 501);
    CHECK(te({"Transfer-Encoding: chunked, chunked"}) == 400);
    CHECK(te({"Transfer-Encoding: chunked", "Transfer-Encoding: chunked"}) == 400);
    CHECK(te({"Transfer-Encoding: gzip"}) == 501);
    CHECK(te({"Transfer-Encoding: identity"}) == 501);  // RFC 9112 dropped "identity": unknown
    CHECK(te({"Transfer-Encoding:"}) == 400);
    CHECK(te({"Transfer-Encoding: , chunked"}) == 400);
    CHECK(te({"Transfer-Encoding: chunked;q=1"}) == 400);
    CHECK(te({"Transfer-Encoding: \"chunked\""}) == 400);
    CHECK(te({"Transfer-Encoding: chunked\x0b"}) == 400);
}

TEST_CASE("Transfer-Encoding in an HTTP/1.0 request is 400") {
    CHECK(req_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
}

TEST_CASE("CONNECT with body framing is 400") {
    CHECK(req_error("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 1\r\n\r\n") == 400);
    CHECK(req_error("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
}

TEST_CASE("Content-Length over max_body is 413; 0 means no limit") {
    Limits lim;
    lim.max_body = 1000;
    CHECK(req_error(with_headers({"Host: h", "Content-Length: 1001"}, "POST / HTTP/1.1"), lim) == 413);
    CHECK(req(with_headers({"Host: h", "Content-Length: 1000"}, "POST / HTTP/1.1"), lim).status ==
          Status::Done);
    CHECK(req(with_headers({"Host: h", "Content-Length: 99999999999"}, "POST / HTTP/1.1")).status ==
          Status::Done);
}

// ---------------------------------------------------------------------------------------------
// Rejected requests: syntax of the header section

TEST_CASE("obs-fold is 400, as is whitespace before the first field") {
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\n Host: h\r\n\r\n") == 400);
}

TEST_CASE("a bare CR anywhere in the head is 400") {
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\rHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX\r: a\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n") == 400);
}

TEST_CASE("bare LF line endings are 400 wherever they are") {
    CHECK(req_error("GET / HTTP/1.1\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\n\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\nHost: h\n\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\nb\r\n\r\n") == 400);
}

TEST_CASE("NUL and other CTLs in names or values are 400; HTAB only in values") {
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n"sv) == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX\0A: ab\r\n\r\n"sv) == 400);
    CHECK(req_error("GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n"sv) == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01z\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fz\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x1bz\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX\tA: a\r\n\r\n") == 400);
    CHECK(req("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb\r\n\r\n").status == Status::Done);
    CHECK(req("GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xc3\xa9\r\n\r\n").status == Status::Done);  // obs-text
}

TEST_CASE("whitespace before the colon is 400") {
    CHECK(req_error("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n") == 400);
    const ParseResult r = req("GET / HTTP/1.1\r\nHost: h\r\nX-A : v\r\n\r\n");
    CHECK(std::string_view(r.why) == "whitespace before colon");
}

TEST_CASE("an empty or non-token header name is 400") {
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX(A): v\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX@A: v\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nX-\xc3\xa9: v\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n") == 400);
}

TEST_CASE("a missing Host on HTTP/1.1 is 400, also with an absolute-form target") {
    CHECK(req_error("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n") == 400);
    CHECK(req_error("GET http://example.com/ HTTP/1.1\r\n\r\n") == 400);
}

TEST_CASE("a duplicated Host is 400, even identical") {
    CHECK(req_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n") == 400);
}

TEST_CASE("a Host with invalid characters or shape is 400") {
    for (auto host : {"Host: a b"sv, "Host: a/b"sv, "Host: a@b"sv, "Host: h:x"sv, "Host: h:"sv,
                      "Host: h:65536"sv, "Host: :80"sv, "Host: [::1"sv, "Host: [:::1]"sv, "Host: [1::2::3]"sv,
                      "Host: [12345::]"sv, "Host: [::1]x"sv, "Host: ex%4mple"sv, "Host: a\"b"sv,
                      "Host: h<h"sv, "Host: caf\xc3\xa9.example"sv}) {
        INFO(host);
        CHECK(req_error(with_headers({host})) == 400);
    }
}

TEST_CASE("an absolute-form target whose authority differs from Host is 400") {
    CHECK(req_error("GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n") == 400);
    CHECK(req_error("GET http://a.example:8080/ HTTP/1.1\r\nHost: a.example\r\n\r\n") == 400);
    CHECK(req("GET http://A.EXAMPLE/ HTTP/1.1\r\nHost: a.example\r\n\r\n").status == Status::Done);
}

TEST_CASE("too many header fields is 431") {
    Limits lim;
    lim.max_headers = 3;
    CHECK(req(with_headers({"Host: h", "A: 1", "B: 2"}), lim).status == Status::Done);
    CHECK(req_error(with_headers({"Host: h", "A: 1", "B: 2", "C: 3"}), lim) == 431);
    std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 101; ++i) many += "X-N: v\r\n";
    CHECK(req_error(many + "\r\n") == 431);  // default max_headers 101
}

TEST_CASE("a head over max_head is 431") {
    Limits lim;
    lim.max_head = 64;
    const std::string base = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n";
    const std::string ok =
        "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(64 - base.size(), 'v') + "\r\n\r\n";
    REQUIRE(ok.size() == 64);
    CHECK(req(ok, lim).status == Status::Done);
    const std::string over =
        "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(65 - base.size(), 'v') + "\r\n\r\n";
    CHECK(req_error(over, lim) == 431);
}

// ---------------------------------------------------------------------------------------------
// Rejected requests: request line

TEST_CASE("an invalid method token is 400") {
    CHECK(req_error("G(ET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GE\x01T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error(" GET / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("G\xc3\x89T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
}

TEST_CASE("a target with CTL, space, fragment or non-ASCII bytes is 400") {
    CHECK(req_error("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET / HTTP/1.1 \r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET /\r\nHost: h\r\n\r\n") == 400);  // HTTP/0.9 shape
}

TEST_CASE("asterisk-form only with OPTIONS, authority-form only with CONNECT") {
    CHECK(req_error("GET * HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("GET example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n") == 400);
    CHECK(req_error("CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
    CHECK(req_error("CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n") == 400);  // port required
    CHECK(req_error("CONNECT http://example.com:80/ HTTP/1.1\r\nHost: example.com\r\n\r\n") == 400);
    CHECK(req_error("CONNECT * HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
}

TEST_CASE("absolute-form needs an http(s) scheme, a host and no userinfo") {
    CHECK(req_error("GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n") == 400);
    CHECK(req_error("GET http:///p HTTP/1.1\r\nHost: \r\n\r\n") == 400);
    CHECK(req_error("GET http://user@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n") == 400);
    CHECK(req_error("GET http:example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n") == 400);
}

TEST_CASE("a request line over max_request_line is 414") {
    Limits lim;
    lim.max_request_line = 32;
    const std::string exact = "GET /" + std::string(18, 'a') + " HTTP/1.1";
    REQUIRE(exact.size() == 32);
    CHECK(req(exact + "\r\nHost: h\r\n\r\n", lim).status == Status::Done);
    const std::string over = "GET /" + std::string(19, 'a') + " HTTP/1.1";
    CHECK(req_error(over + "\r\nHost: h\r\n\r\n", lim) == 414);
    CHECK(req_error("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n") == 414);
}

TEST_CASE("HTTP/1.0 and 1.1 are accepted; other well-formed versions are 505, malformed ones 400") {
    CHECK(req("GET / HTTP/1.0\r\n\r\n").status == Status::Done);
    CHECK(req("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status == Status::Done);
    for (auto v : {"HTTP/2.0"sv, "HTTP/1.2"sv, "HTTP/3.0"sv, "HTTP/0.9"sv, "HTTP/9.9"sv}) {
        INFO(v);
        CHECK(req_error(with_headers({"Host: h"}, std::string("GET / ") + std::string(v))) == 505);
    }
    for (auto v : {"HTTP/1"sv, "http/1.1"sv, "HTTP/1.1x"sv, "HTTP/1.10"sv, "HTTP/11"sv, "HTTP/1.a"sv,
                   "HTTPS/1.1"sv, "HTTP/ 1.1"sv, "HTTP/1,1"sv}) {
        INFO(v);
        CHECK(req_error(with_headers({"Host: h"}, std::string("GET / ") + std::string(v))) == 400);
    }
}

// ---------------------------------------------------------------------------------------------
// Incremental parsing

TEST_CASE("a 2 KB head fed one byte at a time parses exactly like the one-shot parse") {
    std::string s =
        "POST /upload/path?session=1234567890 HTTP/1.1\r\nHost: upload.example.com\r\n"
        "Content-Length: 42\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n";
    for (int i = 0; s.size() < 2000; ++i)
        s += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
    s += "\r\nBODY";
    static RequestHead once;
    std::size_t sc0 = 0;
    const ParseResult r0 = parse_request(s.data(), s.size(), Limits{}, once, sc0);
    REQUIRE(r0.status == Status::Done);
    REQUIRE(once.head_len == s.size() - 4);

    static RequestHead drip;
    std::size_t scanned = 0;
    ParseResult r{};
    std::size_t n = 0;
    for (n = 1; n <= s.size(); ++n) {
        r = parse_request(s.data(), n, Limits{}, drip, scanned);
        if (r.status != Status::NeedMore) break;
        REQUIRE(scanned == n);
    }
    REQUIRE(r.status == Status::Done);
    CHECK(n == once.head_len);
    CHECK(drip.head_len == once.head_len);
    CHECK(drip.nheaders == once.nheaders);
    CHECK(drip.content_length == 42);
    CHECK(drip.conn == once.conn);
    CHECK(drip.path.data() == once.path.data());
    CHECK(drip.query == once.query);
    for (std::uint16_t i = 0; i < once.nheaders; ++i) {
        CHECK(drip.headers[i].name.data() == once.headers[i].name.data());
        CHECK(drip.headers[i].value == once.headers[i].value);
        CHECK(drip.headers[i].hop == once.headers[i].hop);
    }
}

TEST_CASE("re-calls on an open head only search the new bytes") {
    // While the new bytes cannot end the head, the head is not parsed again: `out` stays as the
    // caller left it, which shows no full pass ran.
    const std::string s = "GET /x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n";
    std::size_t scanned = 0;
    REQUIRE(parse_request(s.data(), 10, Limits{}, g_req, scanned).status == Status::NeedMore);
    CHECK(scanned == 10);
    g_req.nheaders = 77;
    REQUIRE(parse_request(s.data(), s.size(), Limits{}, g_req, scanned).status == Status::NeedMore);
    CHECK(scanned == s.size());
    CHECK(g_req.nheaders == 77);
    const std::string full = s + "\r\n";
    REQUIRE(parse_request(full.data(), full.size(), Limits{}, g_req, scanned).status == Status::Done);
    CHECK(g_req.nheaders == 2);
}

TEST_CASE("a head split at every point gives the one-shot result") {
    const std::string s =
        "\r\nPUT http://h.example/a?b HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n"
        "Connection: upgrade, x-a\r\nUpgrade: foo\r\nx-a: 1\r\n\r\n";
    static RequestHead once, split;
    std::size_t sc = 0;
    REQUIRE(parse_request(s.data(), s.size(), Limits{}, once, sc).status == Status::Done);
    for (std::size_t k = 0; k <= s.size(); ++k) {
        std::size_t scanned = 0;
        ParseResult r = parse_request(s.data(), k, Limits{}, split, scanned);
        if (r.status == Status::NeedMore) r = parse_request(s.data(), s.size(), Limits{}, split, scanned);
        INFO(k);
        REQUIRE(r.status == Status::Done);
        CHECK(split.head_len == once.head_len);
        CHECK(split.head_start == 2);
        CHECK(split.body == BodyKind::Chunked);
        CHECK(split.upgrade);
        CHECK(split.authority == "h.example");
        CHECK(split.headers[4].hop);
    }
}

TEST_CASE("a client dripping an endless header is cut with 431 as soon as max_head is crossed") {
    Limits lim;
    lim.max_head = 1024;
    std::string s = "GET / HTTP/1.1\r\nHost: h\r\nX-Endless: ";
    s += std::string(4096, 'a');
    std::size_t scanned = 0;
    ParseResult r{};
    std::size_t n = 0;
    for (n = 1; n <= s.size(); ++n) {
        r = parse_request(s.data(), n, lim, g_req, scanned);
        if (r.status != Status::NeedMore) break;
    }
    REQUIRE(r.status == Status::Error);
    CHECK(r.error == 431);
    CHECK(n == 1024);
    // the same in large pieces
    scanned = 0;
    CHECK(parse_request(s.data(), 1000, lim, g_req, scanned).status == Status::NeedMore);
    r = parse_request(s.data(), 3000, lim, g_req, scanned);
    CHECK(r.status == Status::Error);
    CHECK(r.error == 431);
}

TEST_CASE("an endless request line is cut with 414 as soon as max_request_line is crossed") {
    Limits lim;
    lim.max_request_line = 100;
    const std::string s = "GET /" + std::string(500, 'a');
    std::size_t scanned = 0;
    ParseResult r{};
    std::size_t n = 0;
    for (n = 1; n <= s.size(); ++n) {
        r = parse_request(s.data(), n, lim, g_req, scanned);
        if (r.status != Status::NeedMore) break;
    }
    REQUIRE(r.status == Status::Error);
    CHECK(r.error == 414);
    CHECK(n == 102);  // the line and its CRLF cannot fit any more
    scanned = 0;
    CHECK(req_error(s, lim) == 414);
}

TEST_CASE("an error in a dripped head is found before the head ends") {
    std::string s = "GET / HTTP/1.1\r\nHost: h\r\nX-Bad: a\x01" + std::string(5000, 'b');
    std::size_t scanned = 0;
    ParseResult r{};
    std::size_t n = 0;
    for (n = 1; n <= s.size(); ++n) {
        r = parse_request(s.data(), n, Limits{}, g_req, scanned);
        if (r.status != Status::NeedMore) break;
    }
    REQUIRE(r.status == Status::Error);
    CHECK(r.error == 400);
    CHECK(n <= 2048);
}

TEST_CASE("a different buffer shorter than scanned starts over") {
    std::size_t scanned = 500;
    const std::string s = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK(parse_request(s.data(), s.size(), Limits{}, g_req, scanned).status == Status::Done);
}

TEST_CASE("an incomplete head is NeedMore at every prefix") {
    const std::string s = "GET /a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
    for (std::size_t k = 0; k < s.size(); ++k) {
        INFO(k);
        CHECK(req(std::string_view(s).substr(0, k)).status == Status::NeedMore);
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

TEST_CASE("a response with Content-Length gets a Length body") {
    const std::string s = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
    REQUIRE(rsp(s).status == Status::Done);
    CHECK(g_rsp.status == 200);
    CHECK(g_rsp.reason == "OK");
    CHECK(g_rsp.version == 11);
    CHECK(g_rsp.body == BodyKind::Length);
    CHECK(g_rsp.content_length == 5);
    CHECK(g_rsp.head_len == s.size() - 5);
    CHECK_FALSE(g_rsp.upgrade);
}

TEST_CASE("response body kinds: chunked, other codings, none, HTTP/1.0") {
    REQUIRE(rsp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::Chunked);
    REQUIRE(rsp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::Chunked);
    REQUIRE(rsp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::UntilClose);
    REQUIRE(rsp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::UntilClose);
    REQUIRE(rsp("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::UntilClose);
    REQUIRE(rsp("HTTP/1.0 200 OK\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::UntilClose);
    CHECK(g_rsp.version == 10);
    CHECK_FALSE(g_rsp.wants_keep_alive());
    REQUIRE(rsp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::None);
}

TEST_CASE("HEAD, 1xx, 204 and 304 responses have no body whatever the headers say") {
    REQUIRE(rsp("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", Method::Head).status == Status::Done);
    CHECK(g_rsp.body == BodyKind::None);
    CHECK(g_rsp.content_length == 500);
    REQUIRE(rsp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::Head).status ==
            Status::Done);
    CHECK(g_rsp.body == BodyKind::None);
    REQUIRE(rsp("HTTP/1.1 204 No Content\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::None);
    REQUIRE(rsp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::None);
    REQUIRE(rsp("HTTP/1.1 100 Continue\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::None);
    CHECK_FALSE(g_rsp.upgrade);
    REQUIRE(rsp("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.body == BodyKind::None);
}

TEST_CASE("101 sets upgrade; a 2xx to CONNECT is a tunnel") {
    REQUIRE(
        rsp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n").status ==
        Status::Done);
    CHECK(g_rsp.upgrade);
    CHECK(g_rsp.body == BodyKind::None);
    CHECK(g_rsp.conn == kConnUpgrade);
    REQUIRE(rsp("HTTP/1.1 200 Connection established\r\n\r\n", Method::Connect).status == Status::Done);
    CHECK(g_rsp.upgrade);
    CHECK(g_rsp.body == BodyKind::None);
    REQUIRE(rsp("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\n", Method::Connect)
                .status == Status::Done);
    CHECK_FALSE(g_rsp.upgrade);
    CHECK(g_rsp.body == BodyKind::Length);
}

TEST_CASE("the reason phrase may be empty, with or without the SP") {
    REQUIRE(rsp("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.reason.empty());
    CHECK(g_rsp.status == 404);
    REQUIRE(rsp("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.reason.empty());
    REQUIRE(rsp("HTTP/1.1 500 Internal\tServer Error \xe2\x9c\x97\r\n\r\n").status == Status::Done);
    CHECK(g_rsp.reason == "Internal\tServer Error \xe2\x9c\x97");
}

TEST_CASE("a status outside 100..599 or not three digits is 502") {
    CHECK(rsp_error("HTTP/1.1 099 Low\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 600 High\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 20 Short\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 2000 Long\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 2x0 X\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1  200 OK\r\n\r\n") == 502);
    CHECK(rsp("HTTP/1.1 599 Edge\r\n\r\n").status == Status::Done);
}

TEST_CASE("response framing and syntax errors are all 502") {
    CHECK(rsp_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 OK\nServer: x\n\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 OK\r\nServer: a\rb\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 OK\r\nServer : x\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 OK\r\nX-A: \x01\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1 200 O\x01K\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/2.0 200 OK\r\n\r\n") == 502);
    CHECK(rsp_error("HTTP/1.1x 200 OK\r\n\r\n") == 502);
    CHECK(rsp_error("\r\nHTTP/1.1 200 OK\r\n\r\n") == 502);
    Limits lim;
    lim.max_headers = 1;
    std::size_t scanned = 0;
    const std::string two = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
    const ParseResult r = parse_response(two.data(), two.size(), lim, Method::Get, g_rsp, scanned);
    CHECK(r.status == Status::Error);
    CHECK(r.error == 502);
}

TEST_CASE("a response head fed byte by byte matches the one-shot parse") {
    const std::string s =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
        "Cache-Control: max-age=60\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    static ResponseHead once;
    std::size_t sc = 0;
    REQUIRE(parse_response(s.data(), s.size(), Limits{}, Method::Get, once, sc).status == Status::Done);
    std::size_t scanned = 0;
    ParseResult r{};
    std::size_t n = 0;
    for (n = 1; n <= s.size(); ++n) {
        r = parse_response(s.data(), n, Limits{}, Method::Get, g_rsp, scanned);
        if (r.status != Status::NeedMore) break;
    }
    REQUIRE(r.status == Status::Done);
    CHECK(n == once.head_len);
    CHECK(g_rsp.body == BodyKind::Chunked);
    CHECK(g_rsp.nheaders == 3);
    CHECK(g_rsp.conn == kConnKeepAlive);
}
