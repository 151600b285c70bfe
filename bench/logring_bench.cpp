// The shard's access-log ring (log::Ring, log::emit, log::Format; src/log/README.md).
//
//   push/<bytes>          Ring::push of a prepared record (an httplog line of about 200 bytes
//                         plus the u16 frontend id), into the default 1 MiB ring
//   drain/<bytes>         Ring::drain of a full ring, each record split as the sink does
//   push_drain_1t/64      64 pushes then one drain on the same thread (an in-cache round trip)
//   render/httplog        Format::render of `option httplog` into a stack buffer (no ring)
//   emit/httplog          log::emit: the same line rendered straight into the ring (the shard's
//                         call at the end of every request)
//   2t/push_spin_drain    producer = the benchmark thread, consumer = a second thread draining
//                         in a loop; needs two CPUs (taskset -c 0,1), see bench/README.md
//   2t/push_batch_drain/U the consumer drains every U microseconds (busy-waiting in between, as
//                         the control shard's loop would be doing other work): records cross in
//                         batches, so the position lines move once per batch
//
// Single-thread cases fill the ring, then drain it outside the timed region (PauseTiming once
// per ring, about 4500 records, so the pause adds a fraction of a nanosecond per record).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "edgeshard/log/access_log.hpp"

namespace {

using namespace es::log;

constexpr std::size_t kRingBytes = 1 << 20;  // tune.es.log-ring default
constexpr std::uint16_t kFrontendId = 3;

sockaddr_storage v4(const char* ip, std::uint16_t port) {
    sockaddr_storage ss{};
    auto& a = reinterpret_cast<sockaddr_in&>(ss);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return ss;
}

// One HTTP request as Worker::h_log fills it (a typical API call through a named backend).
struct Request {
    std::string line = "GET /api/v2/catalog/items/48213?fields=name,price,stock&lang=en-US HTTP/1.1";
    Fields f;
    Request() {
        f.client = v4("192.0.2.118", 51432);
        f.accept_epoch_ms = 1795000000123;  // fixed: every record hits the per-second date cache
        f.frontend = "fe_public_https";
        f.backend = "be_catalog_api";
        f.server = "catalog-api-07";
        f.TR = 0;
        f.Tw = 0;
        f.Tc = 1;
        f.Tr = 12;
        f.Ta = 14;
        f.Tt = 14;
        f.status = 200;
        f.bytes_read = 18342;
        f.bytes_uploaded = 412;
        std::memcpy(f.term, "----", 4);
        f.actconn = 1843;
        f.feconn = 1211;
        f.beconn = 387;
        f.srv_conn = 41;
        const std::string_view rl = line;
        f.request_line = rl;
        f.method = rl.substr(0, 3);
        f.uri = rl.substr(4, rl.rfind(' ') - 4);
        f.version = rl.substr(rl.rfind(' ') + 1);
        const std::size_t q = f.uri.find('?');
        f.path = f.uri.substr(0, q);
        f.query = f.uri.substr(q + 1);
        f.http = true;
    }
};

const Format& httplog() {
    static const Format fmt(kHttpLogFormat);
    return fmt;
}

// The record a shard leaves in its ring: u16 frontend id + the rendered httplog line.
std::string sample_record() {
    Request r;
    char buf[kMaxLine];
    const std::size_t n = httplog().render(r.f, buf, sizeof buf);
    std::string rec(kRecordHeader, '\0');
    std::memcpy(rec.data(), &kFrontendId, kRecordHeader);
    rec.append(buf, n);
    return rec;
}

// What the sink does per record before formatting its syslog header: split it and read the line.
struct Consumer {
    std::uint64_t bytes = 0, records = 0, fe_sum = 0;
    void operator()(std::string_view rec) {
        std::uint16_t fe;
        std::string_view line;
        if (split_record(rec, fe, line)) {
            bytes += line.size();
            fe_sum += fe;
            ++records;
        }
    }
};

void BM_push(benchmark::State& state) {
    const std::string rec = sample_record();
    Ring ring(kRingBytes);
    Consumer c;
    std::int64_t pushed = 0;
    for (auto _ : state) {
        if (!ring.push(rec)) {
            state.PauseTiming();
            ring.drain(c);
            state.ResumeTiming();
            if (!ring.push(rec)) {
                state.SkipWithError("push failed on an empty ring");
                break;
            }
        }
        ++pushed;
        benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(std::as_const(c.bytes));
    state.SetItemsProcessed(pushed);
    state.SetBytesProcessed(pushed * std::int64_t(rec.size()));
    state.SetLabel(std::to_string(rec.size()) + " B records");
}

void BM_drain(benchmark::State& state) {
    const std::string rec = sample_record();
    Ring ring(kRingBytes);
    Consumer c;
    std::int64_t drained = 0;
    for (auto _ : state) {
        state.PauseTiming();
        while (ring.push(rec)) {
        }
        state.ResumeTiming();
        drained += std::int64_t(ring.drain(c));
        benchmark::DoNotOptimize(std::as_const(c.bytes));
    }
    state.SetItemsProcessed(drained);
    state.SetBytesProcessed(drained * std::int64_t(rec.size()));
    state.counters["records/ring"] = benchmark::Counter(double(drained), benchmark::Counter::kAvgIterations);
}

void BM_push_drain_1t(benchmark::State& state) {
    const std::string rec = sample_record();
    const auto batch = int(state.range(0));
    Ring ring(kRingBytes);
    Consumer c;
    for (auto _ : state) {
        for (int i = 0; i < batch; ++i) ring.push(rec);
        benchmark::DoNotOptimize(ring.drain(c));
    }
    if (c.records != std::uint64_t(state.iterations()) * std::uint64_t(batch))
        state.SkipWithError("records lost");
    state.SetItemsProcessed(state.iterations() * batch);
}

void BM_render(benchmark::State& state) {
    Request r;
    char buf[kMaxLine];
    std::size_t n = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(r.f);
        n = httplog().render(r.f, buf, sizeof buf);
        benchmark::DoNotOptimize(std::as_const(n));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(n) + " B line");
}

void BM_emit(benchmark::State& state) {
    Request r;
    Ring ring(kRingBytes);
    Consumer c;
    std::int64_t emitted = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(r.f);
        if (!emit(ring, kFrontendId, httplog(), r.f)) {
            state.PauseTiming();
            ring.drain(c);
            state.ResumeTiming();
            if (!emit(ring, kFrontendId, httplog(), r.f)) {
                state.SkipWithError("emit failed on an empty ring");
                break;
            }
        }
        ++emitted;
        benchmark::ClobberMemory();
    }
    ring.drain(c);
    if (c.records != std::uint64_t(emitted)) state.SkipWithError("records lost");
    state.SetItemsProcessed(emitted);
    state.SetLabel(std::to_string(c.records ? c.bytes / c.records : 0) + " B line");
}

// Producer on the benchmark thread, consumer on its own thread draining as fast as it can (the
// worst case for the two position lines: they bounce on every drain). A full ring makes the
// producer retry, counted as `full/rec`; the shard would drop instead.
void BM_2t_push_spin_drain(benchmark::State& state) {
    const std::string rec = sample_record();
    Ring ring(kRingBytes);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> consumed{0};
    std::thread consumer([&] {
        Consumer c;
        while (!stop.load(std::memory_order_relaxed)) ring.drain(c);
        ring.drain(c);
        consumed.store(c.records, std::memory_order_relaxed);
    });
    std::int64_t pushed = 0, full = 0;
    for (auto _ : state) {
        while (!ring.push(rec)) ++full;
        ++pushed;
    }
    stop.store(true, std::memory_order_relaxed);
    consumer.join();
    if (consumed.load() != std::uint64_t(pushed)) state.SkipWithError("records lost");
    state.SetItemsProcessed(pushed);
    state.counters["full/rec"] = benchmark::Counter(double(full), benchmark::Counter::kAvgIterations);
}

void BM_2t_push_batch_drain(benchmark::State& state) {
    const std::string rec = sample_record();
    const auto every = std::chrono::microseconds(state.range(0));
    Ring ring(kRingBytes);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> consumed{0}, drains{0};
    std::thread consumer([&] {
        Consumer c;
        std::uint64_t n = 0;
        auto next = std::chrono::steady_clock::now();
        while (!stop.load(std::memory_order_relaxed)) {
            next += every;
            while (std::chrono::steady_clock::now() < next && !stop.load(std::memory_order_relaxed)) {
            }
            ring.drain(c);
            ++n;
        }
        ring.drain(c);
        consumed.store(c.records, std::memory_order_relaxed);
        drains.store(n, std::memory_order_relaxed);
    });
    std::int64_t pushed = 0, full = 0;
    for (auto _ : state) {
        while (!ring.push(rec)) ++full;
        ++pushed;
    }
    stop.store(true, std::memory_order_relaxed);
    consumer.join();
    if (consumed.load() != std::uint64_t(pushed)) state.SkipWithError("records lost");
    state.SetItemsProcessed(pushed);
    state.counters["full/rec"] = benchmark::Counter(double(full), benchmark::Counter::kAvgIterations);
    state.counters["rec/drain"] = drains.load() ? double(pushed) / double(drains.load()) : 0.0;
}

}  // namespace

BENCHMARK(BM_push)->Name("push");
BENCHMARK(BM_drain)->Name("drain");
BENCHMARK(BM_push_drain_1t)->Name("push_drain_1t")->Arg(64);
BENCHMARK(BM_render)->Name("render/httplog");
BENCHMARK(BM_emit)->Name("emit/httplog");
BENCHMARK(BM_2t_push_spin_drain)->Name("2t/push_spin_drain")->UseRealTime();
BENCHMARK(BM_2t_push_batch_drain)->Name("2t/push_batch_drain")->Arg(20)->UseRealTime();

BENCHMARK_MAIN();
