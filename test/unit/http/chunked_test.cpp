// http::ChunkedScanner: where a chunked body ends over any segmentation, extensions, trailers,
// the bytes of the next message left alone, and every framing error.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "edgeshard/http/parser.hpp"

using es::http::ChunkedScanner;
using es::http::Status;
using namespace std::string_view_literals;

namespace {

struct Outcome {
    Status status = Status::NeedMore;
    std::size_t used = 0;  // over all feeds
    std::uint64_t payload = 0;
    std::string why;
};

// Feeds `body` in pieces of `piece` bytes (0: at once), stopping at Done or Error.
Outcome scan(std::string_view body, std::size_t piece = 0, std::uint32_t max_trailers = 16384) {
    ChunkedScanner sc(max_trailers);
    Outcome o;
    std::size_t off = 0;
    do {
        std::size_t n = body.size() - off;
        if (piece != 0 && n > piece) n = piece;
        const ChunkedScanner::Step s = sc.feed(body.data() + off, n);
        o.used += s.used;
        o.status = s.status;
        o.why = s.why;
        if (s.status != Status::NeedMore) break;
        off += n;
    } while (off < body.size());
    o.payload = sc.payload();
    return o;
}

// Splits `body` at k into two feeds.
Outcome scan_split(std::string_view body, std::size_t k) {
    ChunkedScanner sc;
    Outcome o;
    ChunkedScanner::Step s = sc.feed(body.data(), k);
    o.used = s.used;
    o.status = s.status;
    if (s.status == Status::NeedMore) {
        s = sc.feed(body.data() + k, body.size() - k);
        o.used += s.used;
        o.status = s.status;
    }
    o.payload = sc.payload();
    return o;
}

constexpr std::string_view kSample =
    "4\r\nWiki\r\n"
    "5;lang=en\r\npedia\r\n"
    "E ; a = \"q\\\"uoted; x\" ; flag\r\n in\r\n\r\nchunks.\r\n"
    "000\r\n"
    "Expires: Sat, 22 Nov 2026 10:00:00 GMT\r\n"
    "X-Checksum:\tabc \r\n"
    "\r\n";

}  // namespace

TEST_CASE("a sample body scanned at once ends exactly after the final CRLF") {
    const Outcome o = scan(kSample);
    CHECK(o.status == Status::Done);
    CHECK(o.used == kSample.size());
    CHECK(o.payload == 4 + 5 + 14);
}

TEST_CASE("the sample body split at every point gives the same end and payload") {
    for (std::size_t k = 0; k <= kSample.size(); ++k) {
        INFO(k);
        const Outcome o = scan_split(kSample, k);
        CHECK(o.status == Status::Done);
        CHECK(o.used == kSample.size());
        CHECK(o.payload == 23);
    }
}

TEST_CASE("the sample body fed one byte at a time, and in odd pieces") {
    for (std::size_t piece : {1u, 2u, 3u, 7u, 16u}) {
        INFO(piece);
        const Outcome o = scan(kSample, piece);
        CHECK(o.status == Status::Done);
        CHECK(o.used == kSample.size());
        CHECK(o.payload == 23);
    }
}

TEST_CASE("bytes after the body belong to the next message") {
    const std::string s = std::string(kSample) + "GET /next HTTP/1.1\r\n";
    ChunkedScanner sc;
    const ChunkedScanner::Step st = sc.feed(s.data(), s.size());
    CHECK(st.status == Status::Done);
    CHECK(st.used == kSample.size());
    // fed after the end: still Done, nothing more used
    const ChunkedScanner::Step again = sc.feed("0\r\n\r\n", 5);
    CHECK(again.status == Status::Done);
    CHECK(again.used == 0);
    // in pieces, the segment holding the end reports only its own share
    ChunkedScanner sc2;
    CHECK(sc2.feed(s.data(), 10).status == Status::NeedMore);
    const ChunkedScanner::Step st2 = sc2.feed(s.data() + 10, s.size() - 10);
    CHECK(st2.status == Status::Done);
    CHECK(st2.used == kSample.size() - 10);
}

TEST_CASE("a bare last-chunk, hex sizes in both cases, leading zeros") {
    CHECK(scan("0\r\n\r\n").used == 5);
    CHECK(scan("0\r\n\r\n").status == Status::Done);
    const std::string big =
        "1A\r\n" + std::string(26, 'x') + "\r\naB\r\n" + std::string(0xab, 'y') + "\r\n0\r\n\r\n";
    const Outcome o = scan(big);
    CHECK(o.status == Status::Done);
    CHECK(o.payload == 26 + 0xab);
    const Outcome z = scan("00000000000000000000000001\r\nx\r\n0000\r\n\r\n");
    CHECK(z.status == Status::Done);
    CHECK(z.payload == 1);
}

TEST_CASE("sizes up to 16 significant hex digits are accepted; more is an overflow") {
    ChunkedScanner sc;
    const auto st = sc.feed("ffffffffffffffff\r\nabc", 21);
    CHECK(st.status == Status::NeedMore);
    CHECK(sc.payload() == 3);
    const Outcome o = scan("10000000000000000\r\n");
    CHECK(o.status == Status::Error);
    CHECK(o.why == "chunk size overflow");
    CHECK(o.used == 16);
    CHECK(scan("000010000000000000000\r\n").status == Status::Error);
}

TEST_CASE("payload counts data bytes across pieces of a large chunk") {
    ChunkedScanner sc;
    CHECK(sc.feed("400\r\n", 5).status == Status::NeedMore);
    const std::string part(300, 'p');
    for (int i = 0; i < 3; ++i) CHECK(sc.feed(part.data(), part.size()).status == Status::NeedMore);
    CHECK(sc.payload() == 900);
    const std::string tail = std::string(124, 'p') + "\r\n0\r\n\r\n";
    const auto st = sc.feed(tail.data(), tail.size());
    CHECK(st.status == Status::Done);
    CHECK(st.used == tail.size());
    CHECK(sc.payload() == 1024);
}

TEST_CASE("chunk extensions: tokens, quoted strings, BWS") {
    for (auto body :
         {"1;a\r\nx\r\n0\r\n\r\n"sv, "1;a=b\r\nx\r\n0\r\n\r\n"sv, "1 ;a\r\nx\r\n0\r\n\r\n"sv,
          "1;a=\"\"\r\nx\r\n0\r\n\r\n"sv, "1; a = b ;c\r\nx\r\n0\r\n\r\n"sv,
          "1;a=\"x\\\\y\\\"z\"\r\nx\r\n0\r\n\r\n"sv, "0;last=yes\r\n\r\n"sv, "1;a;b;c\r\nx\r\n0\r\n\r\n"sv}) {
        INFO(body);
        CHECK(scan(body).status == Status::Done);
    }
}

TEST_CASE("invalid chunk extensions are errors") {
    for (auto body : {"1;\r\nx\r\n0\r\n\r\n"sv, "1;=b\r\nx\r\n0\r\n\r\n"sv, "1;a=\r\nx\r\n0\r\n\r\n"sv,
                      "1;a=\"unterminated\r\nx\r\n"sv, "1;a b\r\nx\r\n"sv, "1;a=b c\r\nx\r\n"sv,
                      "1 \r\nx\r\n"sv, "1;a \r\nx\r\n"sv, "1;a=\"x\"y\r\nx\r\n"sv, "1;a=\"\x01\"\r\nx\r\n"sv,
                      "1;a@b\r\nx\r\n"sv, "1;a=\"\\\x01\"\r\nx\r\n"sv}) {
        INFO(body);
        const Outcome o = scan(body);
        CHECK(o.status == Status::Error);
    }
}

TEST_CASE("framing errors: bare LF, bare CR, missing CRLF after data, non-hex and empty sizes") {
    struct Case {
        std::string_view body;
        std::size_t at;  // bytes used before the error
    };
    for (auto c :
         {Case{"4\nWiki\r\n0\r\n\r\n", 1}, Case{"4\r\nWiki\n0\r\n\r\n", 7}, Case{"4\r\nWikiX\r\n", 7},
          Case{"4\r\nWiki\r\n0\r\n\n", 12}, Case{"4\r\nWiki\r\n0\n\r\n", 10}, Case{"4\rWiki", 2},
          Case{"g\r\n", 0}, Case{"-1\r\n", 0}, Case{"+1\r\n", 0}, Case{"0x1\r\n", 1}, Case{"\r\n", 0},
          Case{";a\r\n", 0}, Case{" 1\r\n", 0}, Case{"4\r\nWiki\r\r\n", 8}, Case{"0\r\n\rX", 4}}) {
        INFO(c.body);
        const Outcome o = scan(c.body);
        CHECK(o.status == Status::Error);
        CHECK(o.used == c.at);
        CHECK_FALSE(o.why.empty());
    }
    CHECK(scan("4\r\nWikiX\r\n").why == "missing CRLF after chunk data");
    CHECK(scan("\r\n").why == "empty chunk size");
}

TEST_CASE("an error is sticky") {
    ChunkedScanner sc;
    CHECK(sc.feed("zz", 2).status == Status::Error);
    const auto st = sc.feed("0\r\n\r\n", 5);
    CHECK(st.status == Status::Error);
    CHECK(st.used == 0);
    sc.reset();
    CHECK(sc.feed("0\r\n\r\n", 5).status == Status::Done);
}

TEST_CASE("trailer fields are validated like header fields") {
    CHECK(scan("0\r\nX-A: 1\r\nX-B:\r\n\r\n").status == Status::Done);
    for (auto body :
         {"0\r\n X-A: 1\r\n\r\n"sv, "0\r\nX-A: 1\r\n continued\r\n\r\n"sv, "0\r\nX-A : 1\r\n\r\n"sv,
          "0\r\n: 1\r\n\r\n"sv, "0\r\nX(A): 1\r\n\r\n"sv, "0\r\nX-A: \x01\r\n\r\n"sv, "0\r\nX-A: 1\n\r\n"sv,
          "0\r\nX-A: 1\rx\r\n\r\n"sv, "0\r\nNoColon\r\n\r\n"sv}) {
        INFO(body);
        CHECK(scan(body).status == Status::Error);
    }
}

TEST_CASE("the trailer section is bounded") {
    // after the last-chunk line: "X-Pad: " (7) + 100 + CRLF + the final CRLF = 111 bytes
    const std::string t = "0\r\nX-Pad: " + std::string(100, 'p') + "\r\n\r\n";
    CHECK(scan(t, 0, 111).status == Status::Done);
    const Outcome o = scan(t, 0, 110);
    CHECK(o.status == Status::Error);
    CHECK(o.why == "trailer section too large");
    std::string endless = "0\r\n";
    for (int i = 0; i < 1000; ++i) endless += "X-N: v\r\n";
    CHECK(scan(endless, 1, 4096).status == Status::Error);
}

TEST_CASE("an endless chunk-size line is cut") {
    const std::string s = "1;" + std::string(5000, 'a');
    const Outcome o = scan(s, 1);
    CHECK(o.status == Status::Error);
    CHECK(o.why == "chunk size line too long");
    CHECK(o.used == 4096);
}

TEST_CASE("dechunk: the data of an accepted body, framing, extensions and trailers dropped") {
    std::string out;
    CHECK(es::http::dechunk(kSample, out));
    CHECK(out == "Wikipedia in\r\n\r\nchunks.");
    out.clear();
    CHECK(es::http::dechunk("0\r\n\r\n", out));
    CHECK(out.empty());
    CHECK_FALSE(es::http::dechunk("5\r\nab", out));   // data cut short
    CHECK_FALSE(es::http::dechunk("zz\r\n", out));    // no size
    CHECK_FALSE(es::http::dechunk("3\r\nabc", out));  // no CRLF after the data, no last chunk
}
