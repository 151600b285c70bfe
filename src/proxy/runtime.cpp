// Runtime: builds and runs the data shards. It lives in the proxy room because a shard's
// application (Worker) is the proxy; the interface (shard/runtime.hpp) is what the control
// shard sees.
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/log/access_log.hpp"

#include <mimalloc.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <future>
#include <stdexcept>
#include <thread>

#include "edgeshard/core/clock.hpp"
#include "edgeshard/net/listener.hpp"
#include "edgeshard/proxy/page.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/shard/probe.hpp"
#include "edgeshard/shard/reactor.hpp"
#include "edgeshard/shard/topology.hpp"

namespace es::shard {

class Shard {
public:
    ShardInfo info;
    proxy::WorkerParams params;
    std::unique_ptr<stats::ShardStats> stats;
    std::thread thread;
    // Visits: the control thread uses this shard's reactor (post) and pools (show pools) only
    // between visiting = true and false, and only while `reactor` is set. The shard clears
    // `reactor` when its loop ends, then waits for a visit in progress to finish before anything
    // goes. Both sides store then load with seq_cst (Dekker): either the visitor sees the null, or
    // the shard sees the visit. The shard's wait is at its end only; its loop never waits.
    std::atomic<Reactor*> reactor{nullptr};
    mutable std::atomic<bool> visiting{false};
    std::vector<const pool::RawPool*> pools;  // the Worker's: set before `ready`, read during visits
    std::promise<void> ready;
    std::unique_ptr<log::Ring> log_ring;
    std::atomic<bool> finished{false};
    // per listener (same order as params.listeners): frontend, bind index, listening yet
    struct ListenerId {
        std::uint32_t fe;
        int bind;
        bool listening;
    };
    std::vector<ListenerId> lids;
};

namespace {

// Each shard's share of a limit: an even split with the remainder on the first shards, and at
// least one per shard so that no shard (and the connections the kernel hashes to it) starves.
int share(int total, int nshards, int idx) {
    if (total <= 0) return 0;
    const int s = total / nshards + (idx < total % nshards ? 1 : 0);
    return std::max(1, s);
}

void shard_main(Shard* sh, const config::Config* cfg, const Topology* topo) {
    Reactor* reactor = nullptr;
    mi_heap_t* heap = nullptr;
    try {
        // named so that top -H, perf and /proc/PID/task show which thread is which shard
        const std::string tname = "es-shard-" + std::to_string(sh->info.id);
        pthread_setname_np(pthread_self(), tname.substr(0, 15).c_str());
        const std::string pin = topo->pin_current_thread(sh->info.cpu);
        if (!pin.empty()) throw std::runtime_error("shard " + std::to_string(sh->info.id) + ": " + pin);
        // everything the shard owns is allocated here, after pinning and memory binding, so its
        // pages are first touched on the shard's own node
        sh->stats = std::make_unique<stats::ShardStats>();
        sh->stats->shard_id = sh->info.id;
        sh->stats->shard.tid.set(std::int64_t(::gettid()));
        sh->stats->cpu = sh->info.cpu;
        make_stats(*sh->stats, *cfg);
        heap = mi_heap_new();
        Reactor::Params rp;
        rp.sq_entries = unsigned(cfg->global.ring_entries);
        // two descriptors per connection, plus room for connections accepted in the same batch as
        // the limit was reached (they wait, unserved, until a slot frees)
        rp.files = unsigned(std::max(64, sh->info.conn_limit * 2 + 256));
        auto r = std::make_unique<Reactor>(rp, sh->stats->shard);
        sh->info.sq_entries = r->sq_entries();
        sh->info.cq_entries = r->cq_entries();
        proxy::Worker w(*cfg, sh->params, *r, *sh->stats);
        sh->info.buffers = w.buffers().count();
        sh->info.bufsize = w.buffers().size();
        sh->pools = w.pools();  // published by `ready` (start() returns after it)
        // the reactor and the pools die with this scope: this guard, destroyed first, ends the
        // visits however the scope is left
        struct Retire {
            Shard* sh;
            Reactor* r;
            ~Retire() {
                sh->reactor.store(nullptr, std::memory_order_seq_cst);
                while (sh->visiting.load(std::memory_order_seq_cst)) std::this_thread::yield();
                // nothing more can arrive: what did is deleted (page answers own their page)
                Message m;
                while (r->inbox().pop(m)) proxy::release_page_message(m);
            }
        } retire{sh, r.get()};
        reactor = r.get();
        sh->reactor.store(reactor, std::memory_order_seq_cst);
        w.start();
        sh->ready.set_value();
        r->run(w);

        // the Worker goes before the reactor: it unregisters nothing but closes its listeners
        (void)0;
    } catch (...) {
        if (!reactor) {
            sh->ready.set_exception(std::current_exception());
        } else {
            std::fprintf(stderr, "edgeshard: shard %d stopped on an error\n", sh->info.id);
        }
    }
    if (heap) mi_heap_delete(heap);
    sh->finished.store(true, std::memory_order_release);
}

}  // namespace

void make_stats(stats::ShardStats& st, const config::Config& cfg) {
    st.n_fe = cfg.frontends.size();
    st.n_be = cfg.backends.size();
    st.fe = std::make_unique<stats::FrontendCounters[]>(st.n_fe);
    st.be = std::make_unique<stats::BackendCounters[]>(st.n_be);
    for (const auto& b : cfg.backends) {
        st.srv.push_back(std::make_unique<stats::ServerCounters[]>(std::max<std::size_t>(1, b.servers.size())));
        st.n_srv.push_back(b.servers.size());
    }
}

Runtime::Runtime(std::shared_ptr<const config::Config> cfg) : cfg_(std::move(cfg)) {
    for (const auto& b : cfg_->backends) {
        std::vector<ServerRuntime> v;
        for (const auto& s : b.servers) {
            ServerRuntime r;
            r.weight = s.weight;
            r.admin = s.disabled ? ServerAdmin::Maint : ServerAdmin::Ready;
            r.addr = s.addr;
            r.rmaint = s.unresolved;
            v.push_back(r);
        }
        servers_.push_back(std::move(v));
    }
}

namespace {

// One visit of the control thread to shard `sh` (see Shard::visiting): f(reactor) runs only
// while the shard's loop runs, and the shard's end waits for it.
template <typename F>
auto visit(const Shard& sh, F&& f) {
    sh.visiting.store(true, std::memory_order_seq_cst);
    Reactor* r = sh.reactor.load(std::memory_order_seq_cst);
    struct Leave {
        const Shard& sh;
        ~Leave() { sh.visiting.store(false, std::memory_order_release); }
    } leave{sh};
    return f(r);
}

}  // namespace

bool Runtime::post(std::size_t shard, const Message& m) {
    return visit(*shards_[shard], [&m](Reactor* r) {
        if (!r || !r->inbox().push(m)) return false;
        r->ring_doorbell();
        return true;
    });
}

bool Runtime::post_patiently(std::size_t shard, const Message& m, int patience_ms) {
    if (!running(shard)) return false;
    if (post(shard, m)) return true;
    const std::int64_t until = core::now_ms() + patience_ms;
    while (running(shard) && core::now_ms() < until) {
        std::this_thread::yield();
        if (post(shard, m)) return true;
    }
    return false;
}

bool Runtime::running(std::size_t shard) const {
    return shards_[shard]->reactor.load(std::memory_order_acquire) != nullptr;
}

std::int64_t Runtime::shard_cpu_ns(std::size_t shard) const {
    const Shard& sh = *shards_[shard];
    if (!sh.thread.joinable() || !running(shard)) return -1;
    clockid_t cid;
    if (pthread_getcpuclockid(const_cast<std::thread&>(sh.thread).native_handle(), &cid) != 0) return -1;
    timespec ts{};
    if (clock_gettime(cid, &ts) != 0) return -1;
    return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool Runtime::signal_shard(std::size_t shard, int sig) const {
    const Shard& sh = *shards_[shard];
    if (!sh.thread.joinable()) return false;
    return pthread_kill(const_cast<std::thread&>(sh.thread).native_handle(), sig) == 0;
}

Runtime::~Runtime() {
    stop();
    // requests the control shard did not take (it ended first)
    Message m;
    if (link_)
        for (std::size_t i = 0; i < link_->shards(); ++i)
            while (link_->pop(i, m)) proxy::release_page_message(m);
}

std::size_t Runtime::shard_count() const { return shards_.size(); }
const ShardInfo& Runtime::shard_info(std::size_t i) const { return shards_[i]->info; }
const stats::ShardStats& Runtime::shard_stats(std::size_t i) const { return *shards_[i]->stats; }
void Runtime::with_shard_pools(std::size_t i,
                               const std::function<void(const std::vector<const pool::RawPool*>&)>& f) const {
    const Shard& sh = *shards_[i];
    visit(sh, [&](Reactor* r) { f(r ? sh.pools : std::vector<const pool::RawPool*>{}); });
}
std::vector<log::Ring*> Runtime::log_rings() const {
    std::vector<log::Ring*> v;
    for (const auto& sh : shards_) v.push_back(sh->log_ring.get());
    return v;
}

// Each bind of a frontend that tracks clients by address in stick tables steers every client
// address to one socket of its reuseport group (one shard), so one client's entries live on one
// shard and its limits hold exactly whatever the shard count; other binds keep the kernel's
// 4-tuple spread (a program an earlier process attached is removed). Once the sockets listen.
void Runtime::steer_listeners() {
    const config::Config& cfg = *cfg_;
    for (const auto& fe : cfg.frontends) {
        for (std::size_t bi = 0; bi < fe.binds.size(); ++bi) {
            int fd = -1;
            unsigned group = 0;
            for (const auto& sh : shards_)
                for (std::size_t k = 0; k < sh->lids.size(); ++k)
                    if (sh->lids[k].fe == fe.id && sh->lids[k].bind == int(bi) && sh->lids[k].listening) {
                        if (fd < 0) fd = sh->params.listeners[k].fd;
                        ++group;
                    }
            if (fd < 0 || fe.binds[bi].fd >= 0) continue;  // (fd@N: one socket shared by the shards, no group)
            const bool steer = cfg.global.steer_clients && fe.tracks_src && group > 1;
            if (const int err = net::steer_by_source(fd, steer ? group : 0); err != 0 && steer)
                std::fprintf(stderr,
                             "edgeshard: %s:%d: cannot steer clients to shards by address on %s (%s): stick-table "
                             "counts of a client are then split over the shards\n",
                             fe.binds[bi].where.file.c_str(), fe.binds[bi].where.line,
                             fe.binds[bi].addr.text().c_str(), std::strerror(err));
        }
    }
}

void Runtime::start(std::vector<ListenerRecord> inherited, bool paused) {
    const config::Config& cfg = *cfg_;
    const ProbeResult probe = probe_io_uring();
    if (!probe.ok) throw std::runtime_error(probe.error);
    tier_ = probe.tier;

    // direct descriptors count against RLIMIT_NOFILE when the table is registered
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    static Topology* topo = new Topology();  // lives for the process: shard threads use it
    const std::vector<CpuSlot> slots = topo->place(cfg.global);
    const int n = int(slots.size());
    link_ = std::make_unique<ControlLink>(std::size_t(n));

    maxconn_ = cfg.global.maxconn;
    if (maxconn_ <= 0) {
        // each connection needs two direct descriptors (client and server side)
        const long by_files = (long(rl.rlim_cur) - 256) / 2;
        maxconn_ = int(std::clamp<long>(by_files, 64, 65536));
    }
    int maxpipes = cfg.global.maxpipes > 0 ? cfg.global.maxpipes : std::max(1, maxconn_ / 4);

    bool logs = false;
    for (const auto& fe : cfg.frontends) logs = logs || (!fe.log_format.empty() && !fe.logs.empty());
    const std::int64_t wall_offset = core::wall_ms() - core::now_ms();
    // inherited listeners by address, in the old process's shard order
    std::sort(inherited.begin(), inherited.end(),
              [](const ListenerRecord& a, const ListenerRecord& b) { return a.seq < b.seq; });
    std::vector<bool> taken(inherited.size(), false);
    auto inherited_for = [&](const std::string& addr) {
        std::vector<std::size_t> v;
        for (std::size_t k = 0; k < inherited.size(); ++k)
            if (inherited[k].addr == addr) v.push_back(k);
        return v;
    };
    // listeners in shard order: the reuseport group index is the shard index
    for (int i = 0; i < n; ++i) {
        auto sh = std::make_unique<Shard>();
        sh->info.id = i;
        sh->info.cpu = slots[std::size_t(i)].cpu;
        sh->info.numa_node = slots[std::size_t(i)].numa_node;
        sh->info.tier = tier_;
        sh->info.conn_limit = share(maxconn_, n, i);
        proxy::WorkerParams& p = sh->params;
        p.shard_id = i;
        p.nshards = n;
        p.conn_limit = sh->info.conn_limit;
        for (const auto& fe : cfg.frontends) p.fe_limits.push_back(share(fe.maxconn, n, i));
        p.splice_ok = probe.fixed_fd_install;
        p.sockopt_ok = probe.sockopt_cmd;
        p.maxpipes = share(maxpipes, n, i);
        if (logs) {
            sh->log_ring = std::make_unique<log::Ring>(std::size_t(cfg.global.log_ring_size));
            p.log_ring = sh->log_ring.get();
        }
        p.to_control = link_.get();
        p.wall_offset_ms = wall_offset;
        p.servers = servers_;
        for (const auto& [name, total] : pool_hints_) p.pool_hints.emplace_back(name, (total + std::uint64_t(n) - 1) / std::uint64_t(n));
        p.accept_paused = paused;
        try {
            for (const auto& fe : cfg.frontends) {
                for (std::size_t bi = 0; bi < fe.binds.size(); ++bi) {
                    const auto& b = fe.binds[bi];
                    const std::vector<std::size_t> inh = inherited_for(b.addr.text());
                    bool own = true;
                    if (!inh.empty()) {
                        // K inherited sockets over n shards: shard i serves those with index = i (mod n);
                        // shards beyond K open their own, which join the group
                        for (std::size_t j = std::size_t(i); j < inh.size(); j += std::size_t(n)) {
                            const ListenerRecord& rec = inherited[inh[j]];
                            taken[inh[j]] = true;
                            adopted_.push_back(rec.seq);
                            p.listeners.push_back({rec.fd, fe.id, int(bi)});
                            sh->lids.push_back({fe.id, int(bi), true});
                            own = false;
                        }
                    }
                    if (own) {
                        // a process taking over listens only once committed (resume_accept)
                        p.listeners.push_back({net::open_listener(b, SOMAXCONN, !paused, fe.mode == config::Mode::Http),
                                               fe.id, int(bi)});
                        sh->lids.push_back({fe.id, int(bi), !paused});
                    }
                }
            }
        } catch (...) {
            for (auto& l : p.listeners) ::close(l.fd);
            for (auto& s : shards_)
                for (auto& l : s->params.listeners) ::close(l.fd);
            shards_.clear();
            for (std::size_t k = 0; k < inherited.size(); ++k)
                if (!taken[k]) ::close(inherited[k].fd);
            adopted_.clear();
            throw;
        }
        shards_.push_back(std::move(sh));
    }
    // inherited sockets no bind wants: our copies go; the old process drains and closes its own
    for (std::size_t k = 0; k < inherited.size(); ++k)
        if (!taken[k]) ::close(inherited[k].fd);
    steer_listeners();
    start_wall_s_ = core::wall_s();
    start_mono_ms_ = core::now_ms();
    std::exception_ptr err;
    for (auto& sh : shards_) {
        auto fut = sh->ready.get_future();
        sh->thread = std::thread(shard_main, sh.get(), cfg_.get(), topo);
        try {
            fut.get();
        } catch (...) {
            err = std::current_exception();
            break;
        }
    }
    if (err) {
        // shards that did start are stopped; the failed one has already returned
        stop();
        shards_.clear();
        std::rethrow_exception(err);
    }
}

void Runtime::resume_accept() {
    const config::Config& cfg = *cfg_;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        Shard& sh = *shards_[i];
        for (std::size_t k = 0; k < sh.lids.size(); ++k) {
            if (sh.lids[k].listening) continue;
            const auto& fe = cfg.frontends[sh.lids[k].fe];
            const auto& b = fe.binds[std::size_t(sh.lids[k].bind)];
            if (const int err = net::start_listening(sh.params.listeners[k].fd, b, SOMAXCONN,
                                                     fe.mode == config::Mode::Http))
                std::fprintf(stderr, "edgeshard: %s:%d: cannot listen on %s: %s\n", b.where.file.c_str(), b.where.line,
                             b.addr.text().c_str(), std::strerror(err));
            sh.lids[k].listening = true;
        }
        if (i + 1 == shards_.size()) steer_listeners();  // every socket listens: the groups are whole
        while (!post(i, Message{Message::kResumeAccept, 0, 0}) && !sh.finished.load(std::memory_order_acquire))
            std::this_thread::yield();
    }
}

std::vector<ListenerRecord> Runtime::listener_table() const {
    std::vector<ListenerRecord> v;
    int seq = 0;
    for (const auto& sh : shards_) {
        for (std::size_t k = 0; k < sh->lids.size(); ++k) {
            ListenerRecord r;
            r.seq = seq++;
            r.shard = sh->info.id;
            const auto& fe = cfg_->frontends[sh->lids[k].fe];
            r.frontend = fe.name;
            r.bind = sh->lids[k].bind;
            r.addr = fe.binds[std::size_t(r.bind)].addr.text();
            r.fd = sh->params.listeners[k].fd;
            v.push_back(std::move(r));
        }
    }
    return v;
}

void Runtime::soft_stop(const std::vector<int>& taken) {
    if (soft_stopped_) return;
    soft_stopped_ = true;
    keep_.assign(shards_.size(), {});
    int seq = 0;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        for (std::size_t k = 0; k < shards_[i]->lids.size(); ++k, ++seq)
            keep_[i].push_back(std::find(taken.begin(), taken.end(), seq) == taken.end() ? 1 : 0);
    }
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        // the vector outlives the shard (it is ours); the mailbox orders its writes before the read
        const Message m{Message::kSoftStop, reinterpret_cast<std::uint64_t>(&keep_[i]), 0};
        while (!post(i, m)) {
            if (shards_[i]->finished.load(std::memory_order_acquire)) break;
            std::this_thread::yield();
        }
    }
}

bool Runtime::all_finished() const {
    for (const auto& sh : shards_)
        if (!sh->finished.load(std::memory_order_acquire)) return false;
    return true;
}

std::int64_t Runtime::live_connections() const {
    std::int64_t n = 0;
    for (const auto& sh : shards_)
        if (sh->stats) n += sh->stats->shard.conns.get();
    return n;
}

void Runtime::stop() {
    for (std::size_t i = 0; i < shards_.size(); ++i)
        while (!post(i, Message{Message::kStop, 0, 0}) && running(i)) std::this_thread::yield();
    for (auto& sh : shards_)
        if (sh->thread.joinable()) sh->thread.join();
}

}  // namespace es::shard
