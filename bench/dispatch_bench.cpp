// Completion dispatch in the shard loop (DESIGN.md §5, STYLE.md habit 3): what the typed
// user_data {op, gen, object} and a switch on the op buy over the usual alternatives.
//
//   user_data/pack, user_data/unpack   shard::UserData over 256 values
//   switch/<mix>/<objects>    Worker::on_cqe's shape: unpack, drop a stale generation (or a
//                             released object), switch on the op, call that op's handler
//   virtual/<mix>/<objects>   user_data = a completion object embedded in the session (one per op
//                             kind, with a vtable and an owner pointer); the generation is still
//                             checked, then one virtual call
//   function/<mix>/<objects>  user_data = a std::function slot embedded in the session (capturing
//                             the session and the side, so it fits std::function's small buffer
//                             and never allocates); generation check, then the call
//
// Each iteration dispatches one batch of 256 CQEs (the reactor's kBatch); items = CQEs. The
// batches (64 of them, cycled, so the branch predictor cannot learn one batch) name random
// objects of a pool of 1k or 16k objects sized like proxy::Session. <mix>: `mixed` = the ops of
// an L4 session in proportion (recv/send on both sides, some connect/shutdown/close), 1 % of
// CQEs stale; `recv` = every CQE the same op (a perfectly predicted branch).
// The handlers are the same out-of-line functions in the three designs (handlers in worker.cpp
// are large and not inlined), so the difference is the dispatch alone.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "edgeshard/proxy/tcp_types.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/shard/user_data.hpp"

namespace {

using es::shard::Cqe;
using es::shard::UserData;
namespace proxy = es::proxy;

constexpr int kBatch = 256;
constexpr int kBatches = 64;
constexpr std::size_t kObjBytes = (sizeof(proxy::Session) + 63) & ~std::size_t(63);

// What the handlers read and write, at the front of every object as in proxy::Session.
struct Core {
    std::uint8_t gen = 1;
    bool released = false;
    int pending_ops = 0;
    int errors = 0;
    int state = 0;
    std::uint64_t moved[2] = {};
    std::uint64_t sent[2] = {};
};

std::uint64_t g_stale = 0;

[[gnu::noinline]] void on_recv(Core& s, int side, const Cqe& e) {
    if (e.res > 0)
        s.moved[side] += std::uint64_t(e.res);
    else
        ++s.errors;
}
[[gnu::noinline]] void on_send(Core& s, int side, const Cqe& e) {
    if (e.res > 0)
        s.sent[side] += std::uint64_t(e.res);
    else
        ++s.errors;
}
[[gnu::noinline]] void on_connect(Core& s, const Cqe& e) {
    s.state = e.res == 0 ? 2 : 3;
}
[[gnu::noinline]] void on_shutdown(Core& s, int side, const Cqe& e) {
    s.state |= (e.res == 0 ? 4 : 8) << side;
}
[[gnu::noinline]] void op_done(Core& s) {
    --s.pending_ops;
}

// The op mix of busy L4 sessions: payload recv/send on both sides, a little setup and teardown.
struct OpWeight {
    proxy::Op op;
    int weight;
};
constexpr OpWeight kMix[] = {
    {proxy::kOpRecv0, 24}, {proxy::kOpSend1, 24},  {proxy::kOpRecv1, 22},  {proxy::kOpSend0, 22},
    {proxy::kOpSocket, 1}, {proxy::kOpSockopt, 1}, {proxy::kOpConnect, 1}, {proxy::kOpShut0, 1},
    {proxy::kOpShut1, 1},  {proxy::kOpCancel, 1},  {proxy::kOpClose, 2},
};

struct Event {
    proxy::Op op;
    std::uint32_t obj;
    bool stale;
    std::int32_t res;
};

// 64 batches of 256 events over `objects` objects; the same sequence for every design.
std::vector<Event> make_events(std::size_t objects, bool mixed) {
    std::mt19937 rng(42);
    std::vector<int> cdf;
    int sum = 0;
    for (const auto& w : kMix) cdf.push_back(sum += w.weight);
    std::uniform_int_distribution<int> pick(0, sum - 1);
    std::uniform_int_distribution<std::uint32_t> obj(0, std::uint32_t(objects - 1));
    std::uniform_int_distribution<int> pct(0, 99);
    std::vector<Event> ev(std::size_t(kBatch) * kBatches);
    for (auto& e : ev) {
        proxy::Op op = proxy::kOpRecv0;
        if (mixed) {
            const int r = pick(rng);
            std::size_t i = 0;
            while (cdf[i] <= r) ++i;
            op = kMix[i].op;
        }
        e = Event{op, obj(rng), mixed && pct(rng) == 0, op == proxy::kOpConnect ? 0 : 1448};
    }
    return ev;
}

// Objects of kObjBytes in one block, as a pool's slabs hold them.
template <typename T>
struct Objects {
    static_assert(sizeof(T) <= kObjBytes);
    std::unique_ptr<std::byte[]> mem;
    std::size_t n;
    explicit Objects(std::size_t count) : mem(new std::byte[count * kObjBytes]), n(count) {
        for (std::size_t i = 0; i < n; ++i) new (&mem[i * kObjBytes]) T();
    }
    ~Objects() {
        for (std::size_t i = 0; i < n; ++i) at(i)->~T();
    }
    T* at(std::size_t i) { return std::launder(reinterpret_cast<T*>(&mem[i * kObjBytes])); }
};

template <typename T, typename Target>
std::vector<Cqe> make_cqes(Objects<T>& objs, const std::vector<Event>& ev, Target&& target) {
    std::vector<Cqe> c;
    c.reserve(ev.size());
    for (const Event& e : ev) {
        T* o = objs.at(e.obj);
        const std::uint8_t gen = std::uint8_t(o->core.gen - (e.stale ? 1 : 0));
        c.push_back(Cqe{target(o, e.op, gen), e.res, 0});
    }
    return c;
}

// extra_bytes: what the design adds to every session (completion objects or callback slots).
void report(benchmark::State& state, std::uint64_t stale0, std::size_t extra_bytes) {
    state.SetItemsProcessed(state.iterations() * kBatch);
    state.counters["B/session"] = double(extra_bytes);
    state.counters["stale"] =
        benchmark::Counter(double(g_stale - stale0) / kBatch, benchmark::Counter::kAvgIterations);
}

// ---------------------------------------------------------------- switch on the op

struct SwitchObj {
    Core core;
};

inline void dispatch_switch(const Cqe& e) {
    const UserData u = UserData::unpack(e.user_data);
    SwitchObj* s = u.ptr<SwitchObj>();
    if (s->core.gen != u.gen || s->core.released) {
        ++g_stale;
        return;
    }
    Core& c = s->core;
    switch (u.op) {
        case proxy::kOpSocket:
            on_connect(c, e);
            break;
        case proxy::kOpSockopt:
            op_done(c);
            break;
        case proxy::kOpConnect:
            on_connect(c, e);
            break;
        case proxy::kOpConnTimeout:
            op_done(c);
            break;
        case proxy::kOpRecv0:
            on_recv(c, 0, e);
            break;
        case proxy::kOpRecv1:
            on_recv(c, 1, e);
            break;
        case proxy::kOpSend0:
            on_send(c, 0, e);
            break;
        case proxy::kOpSend1:
            on_send(c, 1, e);
            break;
        case proxy::kOpShut0:
            on_shutdown(c, 0, e);
            break;
        case proxy::kOpShut1:
            on_shutdown(c, 1, e);
            break;
        case proxy::kOpCancel:
        case proxy::kOpClose:
            op_done(c);
            break;
        default:
            break;
    }
}

void BM_switch(benchmark::State& state) {
    Objects<SwitchObj> objs(std::size_t(state.range(1)));
    const auto cqes =
        make_cqes(objs, make_events(objs.n, state.range(0) != 0),
                  [](SwitchObj* o, proxy::Op op, std::uint8_t gen) { return UserData::pack(op, gen, o); });
    const std::uint64_t stale0 = g_stale;
    std::size_t b = 0;
    for (auto _ : state) {
        const Cqe* batch = &cqes[b * kBatch];
        for (int i = 0; i < kBatch; ++i) dispatch_switch(batch[i]);
        b = (b + 1) % kBatches;
        benchmark::ClobberMemory();
    }
    report(state, stale0, 0);
}

// ---------------------------------------------------------------- virtual completion objects

// The member of a per-session object that stands for an op (the same layout in both designs).
template <typename Slot, typename Obj>
Slot* op_slot(Obj& o, proxy::Op op) {
    switch (op) {
        case proxy::kOpRecv0:
            return &o.recv[0];
        case proxy::kOpRecv1:
            return &o.recv[1];
        case proxy::kOpSend0:
            return &o.send[0];
        case proxy::kOpSend1:
            return &o.send[1];
        case proxy::kOpShut0:
            return &o.shut[0];
        case proxy::kOpShut1:
            return &o.shut[1];
        case proxy::kOpSocket:
        case proxy::kOpConnect:
            return &o.connect;
        default:
            return &o.done;
    }
}

struct VirtualObj;
struct Completion {
    VirtualObj* owner = nullptr;
    virtual void complete(Core& c, const Cqe& e) = 0;

  protected:
    ~Completion() = default;
};
struct RecvC final : Completion {
    int side = 0;
    void complete(Core& c, const Cqe& e) override { on_recv(c, side, e); }
};
struct SendC final : Completion {
    int side = 0;
    void complete(Core& c, const Cqe& e) override { on_send(c, side, e); }
};
struct ShutC final : Completion {
    int side = 0;
    void complete(Core& c, const Cqe& e) override { on_shutdown(c, side, e); }
};
struct ConnectC final : Completion {
    void complete(Core& c, const Cqe& e) override { on_connect(c, e); }
};
struct DoneC final : Completion {
    void complete(Core& c, const Cqe&) override { op_done(c); }
};

struct VirtualObj {
    Core core;
    RecvC recv[2];
    SendC send[2];
    ShutC shut[2];
    ConnectC connect;
    DoneC done;
    VirtualObj() {
        for (int i = 0; i < 2; ++i) {
            recv[i].side = send[i].side = shut[i].side = i;
            recv[i].owner = send[i].owner = shut[i].owner = this;
        }
        connect.owner = done.owner = this;
    }
    Completion* slot(proxy::Op op) { return op_slot<Completion>(*this, op); }
};

inline void dispatch_virtual(const Cqe& e) {
    const UserData u = UserData::unpack(e.user_data);
    Completion* c = u.ptr<Completion>();
    VirtualObj* o = c->owner;
    if (o->core.gen != u.gen || o->core.released) {
        ++g_stale;
        return;
    }
    c->complete(o->core, e);
}

void BM_virtual(benchmark::State& state) {
    Objects<VirtualObj> objs(std::size_t(state.range(1)));
    const auto cqes = make_cqes(
        objs, make_events(objs.n, state.range(0) != 0),
        [](VirtualObj* o, proxy::Op op, std::uint8_t gen) { return UserData::pack(0, gen, o->slot(op)); });
    const std::uint64_t stale0 = g_stale;
    std::size_t b = 0;
    for (auto _ : state) {
        const Cqe* batch = &cqes[b * kBatch];
        for (int i = 0; i < kBatch; ++i) dispatch_virtual(batch[i]);
        b = (b + 1) % kBatches;
        benchmark::ClobberMemory();
    }
    report(state, stale0, sizeof(VirtualObj) - sizeof(Core));
}

// ---------------------------------------------------------------- std::function callbacks

struct FnObj;
struct FnSlot {
    FnObj* owner = nullptr;
    std::function<void(const Cqe&)> fn;
};

struct FnObj {
    Core core;
    FnSlot recv[2], send[2], shut[2], connect, done;
    FnObj() {
        for (int i = 0; i < 2; ++i) {
            recv[i] = {this, [this, i](const Cqe& e) { on_recv(core, i, e); }};
            send[i] = {this, [this, i](const Cqe& e) { on_send(core, i, e); }};
            shut[i] = {this, [this, i](const Cqe& e) { on_shutdown(core, i, e); }};
        }
        connect = {this, [this](const Cqe& e) { on_connect(core, e); }};
        done = {this, [this](const Cqe&) { op_done(core); }};
    }
    FnSlot* slot(proxy::Op op) { return op_slot<FnSlot>(*this, op); }
};

inline void dispatch_function(const Cqe& e) {
    const UserData u = UserData::unpack(e.user_data);
    FnSlot* f = u.ptr<FnSlot>();
    FnObj* o = f->owner;
    if (o->core.gen != u.gen || o->core.released) {
        ++g_stale;
        return;
    }
    f->fn(e);
}

void BM_function(benchmark::State& state) {
    Objects<FnObj> objs(std::size_t(state.range(1)));
    const auto cqes = make_cqes(
        objs, make_events(objs.n, state.range(0) != 0),
        [](FnObj* o, proxy::Op op, std::uint8_t gen) { return UserData::pack(0, gen, o->slot(op)); });
    const std::uint64_t stale0 = g_stale;
    std::size_t b = 0;
    for (auto _ : state) {
        const Cqe* batch = &cqes[b * kBatch];
        for (int i = 0; i < kBatch; ++i) dispatch_function(batch[i]);
        b = (b + 1) % kBatches;
        benchmark::ClobberMemory();
    }
    report(state, stale0, sizeof(FnObj) - sizeof(Core));
}

// ---------------------------------------------------------------- pack / unpack

struct PackInput {
    std::uint8_t op, gen;
    const void* p;
};

void BM_pack(benchmark::State& state) {
    Objects<SwitchObj> objs(kBatch);
    std::vector<PackInput> in;
    for (int i = 0; i < kBatch; ++i)
        in.push_back({std::uint8_t(proxy::kOpRecv0 + i % 4), std::uint8_t(i), objs.at(std::size_t(i))});
    std::uint64_t out[kBatch];
    for (auto _ : state) {
        for (int i = 0; i < kBatch; ++i)
            out[i] = UserData::pack(in[std::size_t(i)].op, in[std::size_t(i)].gen, in[std::size_t(i)].p);
        benchmark::DoNotOptimize(out);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_unpack(benchmark::State& state) {
    Objects<SwitchObj> objs(kBatch);
    std::vector<std::uint64_t> in;
    for (int i = 0; i < kBatch; ++i)
        in.push_back(
            UserData::pack(std::uint8_t(proxy::kOpRecv0 + i % 4), std::uint8_t(i), objs.at(std::size_t(i))));
    for (auto _ : state) {
        std::uint64_t acc = 0;
        for (int i = 0; i < kBatch; ++i) {
            const UserData u = UserData::unpack(in[std::size_t(i)]);
            acc += u.op + u.gen + u.obj;
        }
        benchmark::DoNotOptimize(std::as_const(acc));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
}

void dispatch_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"mixed", "objects"});
    for (int mixed : {1, 0})
        for (int objects : {1024, 16384}) b->Args({mixed, objects});
}

}  // namespace

BENCHMARK(BM_pack)->Name("user_data/pack");
BENCHMARK(BM_unpack)->Name("user_data/unpack");
BENCHMARK(BM_switch)->Name("switch")->Apply(dispatch_args);
BENCHMARK(BM_virtual)->Name("virtual")->Apply(dispatch_args);
BENCHMARK(BM_function)->Name("function")->Apply(dispatch_args);

BENCHMARK_MAIN();
