// Basic auth: header parsing, strict base64, plain and crypt(3) passwords, the verified cache, and
// the 401/407 challenge replies (built-in and custom errorfiles).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "edgeshard/rules/rules.hpp"

using es::config::HttpProxy;
using es::config::Reply;
using es::config::Userlist;
using es::rules::Arena;
using es::rules::auth_reply;
using es::rules::check_basic_auth;
using es::http::RequestHead;

namespace {

// Hashes made with `openssl passwd -6/-5/-1` and crypt_gensalt("$y$") when the tests were written.
constexpr const char* kSha512PaSsW0rd =  // password "pa:ss w0rd"
    "$6$Ab3dEf9hIjKlMnOp$zUNSc3aN95y8/oYxCzBzZkJ02k/LB/3xJ7NEKbDFo4L43SWygppdyH1DixVuEMUGPOqUMb5UPI/"
    "2RDgC.9KUB1";
constexpr const char* kSha256Hunter2 = "$5$saltsalt12$cCaUw9LACp/3UIYRE3O8aNzuJP.jxw2lklTr4rB7iA3";
constexpr const char* kMd5Hunter2 = "$1$md5salt$5fdLHgsZHL5s7Vqi/r.8c/";
constexpr const char* kYescrypt = "$y$j9T$SXmQSCFyIvw7/..Y06Swd0$nhI9.4Bs7uQeiNhcIOOnWvyjfxnOlDe826w6h9XQFt4";

Userlist users() {
    Userlist ul;
    ul.name = "L";
    ul.users.push_back({"alice", kSha512PaSsW0rd, false, {}});
    ul.users.push_back({"bob", kSha256Hunter2, false, {}});
    ul.users.push_back({"carol", "plain", true, {}});
    ul.users.push_back({"dave", kMd5Hunter2, false, {}});
    ul.users.push_back({"erin", kYescrypt, false, {}});
    return ul;
}

// base64 written out by hand for the cases below (checked with base64(1))
constexpr const char* kAlice = "Basic YWxpY2U6cGE6c3MgdzByZA==";       // alice:pa:ss w0rd
constexpr const char* kAliceWrong = "Basic YWxpY2U6cGE6c3MgdzByZQ==";  // alice:pa:ss w0re
constexpr const char* kBob = "Basic Ym9iOmh1bnRlcjI=";                 // bob:hunter2
constexpr const char* kCarol = "Basic Y2Fyb2w6cGxhaW4=";               // carol:plain
constexpr const char* kDave = "Basic ZGF2ZTpodW50ZXIy";                // dave:hunter2
constexpr const char* kErin = "Basic ZXJpbjp5ZXMtY3J5cHQ=";            // erin:yes-crypt

std::size_t count_ci(std::string_view hay, std::string_view needle) {
    std::string h(hay), n(needle);
    for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t count = 0;
    for (std::size_t p = h.find(n); p != std::string::npos; p = h.find(n, p + 1)) ++count;
    return count;
}

}  // namespace

TEST_CASE("basic auth: plain passwords, scheme and whitespace") {
    const Userlist ul = users();
    CHECK(check_basic_auth(ul, kCarol));
    CHECK(check_basic_auth(ul, "basic Y2Fyb2w6cGxhaW4="));
    CHECK(check_basic_auth(ul, "BASIC   Y2Fyb2w6cGxhaW4=  "));
    CHECK(check_basic_auth(ul, "  Basic\tY2Fyb2w6cGxhaW4="));
    CHECK_FALSE(check_basic_auth(ul, "BasicY2Fyb2w6cGxhaW4="));
    CHECK_FALSE(check_basic_auth(ul, "Bearer Y2Fyb2w6cGxhaW4="));
    CHECK_FALSE(check_basic_auth(ul, "Basic"));
    CHECK_FALSE(check_basic_auth(ul, ""));
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w6cGxhaW5Y"));      // carol:plainX
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w6cGxhaQ=="));      // carol:plai
    CHECK_FALSE(check_basic_auth(ul, "Basic Q2Fyb2w6cGxhaW4="));      // Carol:plain (user names are exact)
    CHECK_FALSE(check_basic_auth(ul, "Basic bWFsbG9yeTpwbGFpbg=="));  // mallory:plain
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w="));              // "carol": no colon
    CHECK(
        check_basic_auth(Userlist{"E", {{"u", "", true, {}}}, {}, {}}, "Basic dTo="));  // "u:" empty password
}

TEST_CASE("basic auth: base64 is strict") {
    const Userlist ul = users();
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w6cGxhaW4"));    // padding missing
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w6cGxhaW4*"));   // invalid character
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w6cGxh aW4="));  // space inside
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fy=b2w6cGxhaW4"));   // '=' inside
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w6cGxhaW5="));   // non-zero bits after the last byte
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w6cGxhaW4==="));
    CHECK_FALSE(check_basic_auth(ul, "Basic ===="));
    CHECK_FALSE(check_basic_auth(ul, "Basic Y2Fyb2w6cGxhaW4=Y2Fy"));  // data after padding
    const std::string huge = "Basic " + std::string(4096, 'A');
    CHECK_FALSE(check_basic_auth(ul, huge));
}

TEST_CASE("basic auth: crypt(3) hashes ($6$ $5$ $1$ $y$); the password is split at the first colon") {
    const Userlist ul = users();
    CHECK(check_basic_auth(ul, kAlice));
    CHECK_FALSE(check_basic_auth(ul, kAliceWrong));
    CHECK(check_basic_auth(ul, kAlice));             // cached now
    CHECK_FALSE(check_basic_auth(ul, kAliceWrong));  // a wrong password is never served from the cache
    CHECK(check_basic_auth(ul, kBob));
    CHECK_FALSE(check_basic_auth(ul, "Basic Ym9iOmh1bnRlcjM="));  // bob:hunter3
    CHECK(check_basic_auth(ul, kDave));
    CHECK(check_basic_auth(ul, kErin));
    CHECK_FALSE(check_basic_auth(ul, "Basic ZXJpbjp5ZXMtY3J5cHU="));  // erin:yes-crypu
    // the same user name with another user's hash does not accept alice's password
    Userlist other;
    other.name = "L";
    other.users.push_back({"alice", kSha256Hunter2, false, {}});
    CHECK_FALSE(check_basic_auth(other, kAlice));
    // a broken hash never matches (crypt(3) fails and says so)
    Userlist broken;
    broken.name = "B";
    broken.users.push_back({"alice", "$6$", false, {}});
    CHECK_FALSE(check_basic_auth(broken, kAlice));
    broken.users[0].password = "";
    CHECK_FALSE(check_basic_auth(broken, kAlice));
}

TEST_CASE("basic auth: a verified credential skips crypt(3) on later checks") {
    const Userlist ul = users();
    REQUIRE(check_basic_auth(ul, kAlice));
    using clock = std::chrono::steady_clock;
    constexpr int kRounds = 20;
    const auto t0 = clock::now();
    for (int i = 0; i < kRounds; ++i) CHECK_FALSE(check_basic_auth(ul, kAliceWrong));
    const auto t1 = clock::now();
    for (int i = 0; i < kRounds; ++i) CHECK(check_basic_auth(ul, kAlice));
    const auto t2 = clock::now();
    // 20 SHA-512 crypts (~1 ms each) against 20 cache hits (~1 us each)
    CHECK((t2 - t1) * 5 < (t1 - t0));
}

TEST_CASE("basic auth: works on other threads (each with its own cache)") {
    const Userlist ul = users();
    bool ok = false, wrong = true;
    std::thread th([&] {
        ok = check_basic_auth(ul, kBob) && check_basic_auth(ul, kBob);
        wrong = check_basic_auth(ul, "Basic Ym9iOmh1bnRlcjM=");
    });
    th.join();
    CHECK(ok);
    CHECK_FALSE(wrong);
}

TEST_CASE("auth reply: built-in 401 with exactly one WWW-Authenticate") {
    RequestHead req;
    Arena arena;
    const std::string_view r = auth_reply(req, "Admin area", nullptr, nullptr, arena);
    const std::string body =
        "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n"
        "</body></html>\n";
    const std::string expect = "HTTP/1.1 401 Unauthorized\r\ncontent-length: " + std::to_string(body.size()) +
                               "\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n"
                               "www-authenticate: Basic realm=\"Admin area\"\r\n\r\n" +
                               body;
    CHECK(r == expect);
    CHECK(arena.used == r.size());
    CHECK(count_ci(r, "authenticate:") == 1);
}

TEST_CASE("auth reply: 407 with Proxy-Authenticate for a proxy request; realm quoted") {
    RequestHead req;
    req.absolute_form = true;
    Arena arena;
    const std::string_view r = auth_reply(req, "a \"b\" \\c", nullptr, nullptr, arena);
    CHECK(r.find("HTTP/1.1 407 Proxy Authentication Required\r\n") == 0);
    CHECK(r.find("\r\nproxy-authenticate: Basic realm=\"a \\\"b\\\" \\\\c\"\r\n") != std::string_view::npos);
    CHECK(count_ci(r, "www-authenticate") == 0);
    CHECK(count_ci(r, "authenticate:") == 1);
    const std::size_t head_end = r.find("\r\n\r\n");
    REQUIRE(head_end != std::string_view::npos);
    const std::string_view body = r.substr(head_end + 4);
    CHECK(r.find("content-length: " + std::to_string(body.size()) + "\r\n") != std::string_view::npos);
    CHECK(body.find("<h1>407 Proxy Authentication Required</h1>") != std::string_view::npos);
}

TEST_CASE("auth reply: a custom 401 errorfile gets exactly one challenge, ours") {
    HttpProxy fe;
    fe.errors.push_back(Reply{401,
                              "HTTP/1.1 401 Unauthorized\r\n"
                              "WWW-Authenticate: Basic realm=\"stale\"\r\n"
                              "Content-Type: text/plain\r\n"
                              "www-authenticate: Bearer\r\n"
                              "Content-Length: 5\r\n"
                              "\r\n"
                              "go away",
                              {}});
    RequestHead req;
    Arena arena;
    std::string_view r = auth_reply(req, "R", nullptr, &fe, arena);
    CHECK(r ==
          "HTTP/1.1 401 Unauthorized\r\n"
          "www-authenticate: Basic realm=\"R\"\r\n"
          "Content-Type: text/plain\r\n"
          "Content-Length: 5\r\n"
          "\r\n"
          "go away");
    CHECK(count_ci(r, "authenticate") == 1);

    // the backend's own reply wins over the frontend's
    HttpProxy be;
    be.errors.push_back(Reply{401, "HTTP/1.1 401 Unauthorized\nContent-Length: 0\n\n", {}});
    arena.reset();
    r = auth_reply(req, "R", &be, &fe, arena);
    CHECK(r == "HTTP/1.1 401 Unauthorized\nwww-authenticate: Basic realm=\"R\"\nContent-Length: 0\n\n");

    // a 407 request does not use the 401 errorfile
    req.absolute_form = true;
    arena.reset();
    r = auth_reply(req, "R", &be, &fe, arena);
    CHECK(r.substr(0, 13) == "HTTP/1.1 407 ");
    CHECK(count_ci(r, "proxy-authenticate: Basic realm=\"R\"") == 1);
    CHECK(count_ci(r, "www-authenticate") == 0);
}

TEST_CASE("auth reply: arena overflow gives an empty view and keeps the arena") {
    RequestHead req;
    Arena arena;
    arena.used = sizeof(arena.buf) - 100;
    const std::string_view r = auth_reply(req, "R", nullptr, nullptr, arena);
    CHECK(r.empty());
    CHECK(arena.overflow);
    CHECK(arena.used == sizeof(arena.buf) - 100);
}
