// HTTP/1.1 parser costs (DESIGN.md §3 step 5, §10): the per-request work of the data path.
//
//   request/keepalive_get   a ~300-byte browser-like GET with 8 headers, whole head in one call
//   request/post_cl         a POST with Content-Length and a JSON content type
//   request/drip_2k         a 2 KB head arriving one byte per call (the slow-client path: each
//                           call only searches the new byte until the head ends), per whole head
//   response/200_cl         a typical response head with Content-Length
//   chunked/scan_16k        ChunkedScanner over a 16 KiB body in 1 KiB chunks with a trailer, fed
//                           in 4 KiB segments (bytes/s is the figure)
//
// Bytes/s is reported so different head sizes compare; the per-call time is the number that
// matters for the request rate.
#include <benchmark/benchmark.h>

#include <string>

#include "edgeshard/http/parser.hpp"

namespace {

using namespace es::http;

const std::string kGet =
    "GET /api/v1/catalog/items?page=2&sort=price HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://shop.example.com/catalog\r\n"
    "Cookie: session=8f14e45fceea167a5a36dedd4bea2543\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const std::string kPost =
    "POST /api/v1/orders HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 348\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Date: Sat, 22 Nov 2026 10:00:00 GMT\r\n"
    "Server: origin\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 5120\r\n"
    "Cache-Control: max-age=60\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

RequestHead g_req;
ResponseHead g_rsp;

void BM_request(benchmark::State& state, const std::string* head) {
    const Limits lim;
    for (auto _ : state) {
        std::size_t scanned = 0;
        const ParseResult r = parse_request(head->data(), head->size(), lim, g_req, scanned);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(g_req.nheaders);
        benchmark::ClobberMemory();
    }
    std::size_t scanned = 0;
    if (parse_request(head->data(), head->size(), lim, g_req, scanned).status != Status::Done)
        state.SkipWithError("head did not parse");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * head->size()));
    state.counters["head_bytes"] = static_cast<double>(head->size());
    state.counters["headers"] = g_req.nheaders;
}

void BM_drip(benchmark::State& state) {
    std::string head = "GET /upload HTTP/1.1\r\nHost: h.example\r\n";
    for (int i = 0; head.size() < 2048; ++i)
        head += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
    head += "\r\n";
    const Limits lim;
    for (auto _ : state) {
        std::size_t scanned = 0;
        ParseResult r{};
        for (std::size_t n = 1; n <= head.size(); ++n) {
            r = parse_request(head.data(), n, lim, g_req, scanned);
            if (r.status != Status::NeedMore) break;
        }
        benchmark::DoNotOptimize(r);
        if (r.status != Status::Done) state.SkipWithError("drip did not parse");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * head.size()));
}

void BM_response(benchmark::State& state) {
    const Limits lim;
    for (auto _ : state) {
        std::size_t scanned = 0;
        const ParseResult r =
            parse_response(kResponse.data(), kResponse.size(), lim, Method::Get, g_rsp, scanned);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(g_rsp.nheaders);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kResponse.size()));
}

void BM_chunked(benchmark::State& state) {
    std::string body;
    for (int i = 0; i < 16; ++i)
        body += "400;n=" + std::to_string(i) + "\r\n" + std::string(1024, 'd') + "\r\n";
    body += "0\r\nX-Checksum: 0123456789abcdef\r\n\r\n";
    constexpr std::size_t kSegment = 4096;
    for (auto _ : state) {
        ChunkedScanner sc;
        ChunkedScanner::Step st{};
        for (std::size_t off = 0; off < body.size(); off += kSegment) {
            const std::size_t n = body.size() - off < kSegment ? body.size() - off : kSegment;
            st = sc.feed(body.data() + off, n);
            if (st.status != Status::NeedMore) break;
        }
        benchmark::DoNotOptimize(st);
        if (st.status != Status::Done) state.SkipWithError("body did not end");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

}  // namespace

BENCHMARK_CAPTURE(BM_request, keepalive_get, &kGet)->Name("request/keepalive_get");
BENCHMARK_CAPTURE(BM_request, post_cl, &kPost)->Name("request/post_cl");
BENCHMARK(BM_drip)->Name("request/drip_2k");
BENCHMARK(BM_response)->Name("response/200_cl");
BENCHMARK(BM_chunked)->Name("chunked/scan_16k");

BENCHMARK_MAIN();
