// The floor of the TLS bulk path in user space: what sealing one full record (16 KiB of plaintext,
// TLS 1.3, AES-128-GCM with OpenSSL's EVP, the proxy's own Sealer) costs, with its input and output
// in cache and out of it. bench/results/tls-1mib-floor-2026-12-06.md turns it into seconds per GB
// and sets it beside both proxies' CPU per GB on 1 MiB responses.
//
// Hot:   the same plaintext and the same output block every record (L1/L2).
// Cold:  the plaintext walks 4096 x 16 KiB buffers (the default provided-buffer ring) and the
//        output walks 2048 x 32 KiB blocks, so every line comes from beyond L2 (what a turn that
//        received megabytes before sealing them sees).
// Rekey: two connections' records alternate on the thread's cipher context, so each record
//        keys it again (a shard sealing for many bulk connections at once).
#include <benchmark/benchmark.h>
#include <linux/tls.h>

#include <cstring>
#include <memory>
#include <vector>

#include "../src/tls/seal.hpp"
#include "edgeshard/tls/ktls.hpp"

namespace {

constexpr std::size_t kPlain = 16384;
constexpr std::size_t kOut = 32768;

std::unique_ptr<es::tls::Sealer> make_sealer(unsigned char salt) {
    es::tls::KtlsKeys k;
    k.version = TLS_1_3_VERSION;
    k.cipher = TLS_CIPHER_AES_GCM_128;
    k.key_len = 16;
    for (int i = 0; i < 16; ++i) k.tx.key[i] = static_cast<unsigned char>(i * 7 + salt);
    for (int i = 0; i < 12; ++i) k.tx.iv[i] = static_cast<unsigned char>(i * 3 + salt);
    unsigned char secret[32];
    std::memset(secret, salt, sizeof secret);
    auto s = std::make_unique<es::tls::Sealer>();
    if (!s->init(k, "SHA256", secret, sizeof secret)) return nullptr;
    return s;
}

void BM_SealHot(benchmark::State& st) {
    auto s = make_sealer(1);
    if (!s) {
        st.SkipWithError("AES-128-GCM refused");
        return;
    }
    std::vector<char> in(kPlain, 'x'), out(kOut);
    for (auto _ : st) benchmark::DoNotOptimize(s->seal(23, in.data(), kPlain, out.data()));
    st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(kPlain));
}
BENCHMARK(BM_SealHot);

void BM_SealCold(benchmark::State& st) {
    auto s = make_sealer(1);
    if (!s) {
        st.SkipWithError("AES-128-GCM refused");
        return;
    }
    constexpr std::size_t kIn = 4096, kBlocks = 2048;
    std::vector<char> in(kIn * kPlain, 'x'), out(kBlocks * kOut, 0);
    std::size_t i = 0, o = 0;
    for (auto _ : st) {
        benchmark::DoNotOptimize(s->seal(23, in.data() + i * kPlain, kPlain, out.data() + o * kOut));
        i = (i + 1) % kIn;
        o = (o + 1) % kBlocks;
    }
    st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(kPlain));
}
BENCHMARK(BM_SealCold);

void BM_SealRekey(benchmark::State& st) {
    auto a = make_sealer(1), b = make_sealer(2);
    if (!a || !b) {
        st.SkipWithError("AES-128-GCM refused");
        return;
    }
    std::vector<char> in(kPlain, 'x'), out(kOut);
    bool flip = false;
    for (auto _ : st) {
        benchmark::DoNotOptimize((flip ? b : a)->seal(23, in.data(), kPlain, out.data()));
        flip = !flip;
    }
    st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(kPlain));
}
BENCHMARK(BM_SealRekey);

}  // namespace

BENCHMARK_MAIN();
