// Worker: accept, connect, limits, timers and the session lifecycle. The byte-moving paths
// (copy and splice) are in transfer.cpp.
#include "edgeshard/proxy/worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/net/uring_compat.hpp"
#include "edgeshard/proxy/session.hpp"

namespace es::proxy {

using shard::UserData;

namespace {
const int kOne = 1;

std::uint64_t ud(Op op, const Session* s) { return UserData::pack(op, s->gen, s); }

config::Millis or_unset(config::Millis v) { return v > 0 ? v : config::kUnset; }
}  // namespace

Worker::Worker(const config::Config& cfg, const WorkerParams& p, shard::Reactor& r, stats::ShardStats& st)
    : cfg_(cfg),
      p_(p),
      r_(r),
      st_(st),
      sessions_("session", std::uint64_t(p.conn_limit) + 1024),
      pipes_("pipe", std::uint64_t(p.maxpipes)),
      hsessions_("http_session", std::uint64_t(p.conn_limit) + 1024),
      hconns_("http_conn"),
      heads_("head_buffer") {
    bufs_ = std::make_unique<net::BufRing>(r_.ring(), 0, unsigned(cfg.global.buffers_per_shard),
                                           unsigned(cfg.global.bufsize));
    for (const auto& l : p_.listeners) {
        Listener L;
        L.fd = l.fd;
        L.fe = l.fe;
        // `balance source` needs the client address: multishot accept cannot return one per
        // connection, so such frontends use single-shot accepts with an address buffer
        const auto& fe = cfg_.frontends[l.fe];
        auto needs_src = [&](int be) {
            return be >= 0 && cfg_.backends[std::size_t(be)].balance == config::Balance::Source;
        };
        bool src = needs_src(fe.default_backend_id);
        for (const auto& u : fe.use_backends) src = src || needs_src(int(u.backend_id));
        for (const auto& u : fe.use_backend_rules) src = src || needs_src(int(u.backend_id));
        L.multishot = !src && !frontend_needs_addr(cfg_, l.fe);
        listeners_.push_back(L);
    }
    for (std::size_t b = 0; b < cfg_.backends.size(); ++b)
        lbs_.push_back(std::make_unique<BackendLb>(cfg_.backends[b], st_.srv[b].get(), p_.nshards));
    apply_initial_server_states();
    fe_conns_.assign(cfg_.frontends.size(), 0);
    fe_pending_.assign(cfg_.frontends.size(), 0);
    queues_.resize(cfg_.backends.size());
    hqueues_.resize(cfg_.backends.size());
    housekeeping_timer_.kind = kTimerHousekeeping;
    drain_timer_.kind = kTimerDrain;
    accept_paused_ = p_.accept_paused;
    for (const auto& [name, n] : p_.pool_hints)
        for (pool::RawPool* rp : {&sessions_.raw(), &pipes_.raw(), &hsessions_.raw(), &hconns_.raw(), &heads_.raw(),
                                  &outblocks_.raw(), &notes_.raw()})
            if (rp->name() == name) rp->hint_needed(n);
    http_init();
    wall_offset_ms_ = p_.wall_offset_ms;
    fe_formats_.resize(cfg_.frontends.size());
    if (p_.log_ring) {
        for (std::size_t f = 0; f < cfg_.frontends.size(); ++f) {
            const auto& fe = cfg_.frontends[f];
            if (!fe.log_format.empty() && !fe.logs.empty()) fe_formats_[f] = std::make_unique<log::Format>(fe.log_format);
        }
    }
}

// An HTTP frontend needs each client's address (multishot accepts cannot return it) when it logs,
// adds X-Forwarded-For, or matches `src` ACLs, in itself or any backend it can route to.
bool Worker::frontend_needs_addr(const config::Config& cfg, std::uint32_t f) {
    const auto& fe = cfg.frontends[f];
    auto px_needs = [](const config::HttpProxy& px) {
        if (px.forwardfor) return true;
        for (const auto& a : px.acls)
            if (a.fetch == "src") return true;
        return false;
    };
    if (!fe.log_format.empty() && !fe.logs.empty()) return true;
    if (fe.mode != config::Mode::Http) return false;
    if (px_needs(fe.http)) return true;
    auto be_needs = [&](int b) {
        if (b < 0) return false;
        const auto& be = cfg.backends[std::size_t(b)];
        return px_needs(be.http) || be.balance == config::Balance::Source;
    };
    if (be_needs(fe.default_backend_id)) return true;
    for (const auto& u : fe.use_backend_rules)
        if (be_needs(int(u.backend_id))) return true;
    return false;
}

// One tcplog record per L4 connection, when it ends.
void Worker::tcp_log(Session* s) {
    if (!p_.log_ring || !fe_formats_[s->fe]) return;
    // option dontlognull: a connection whose client sent nothing (a health probe, a port scan)
    if (cfg_.frontends[s->fe].dontlognull && s->dir[kClient].moved == 0) return;
    const std::int64_t now = r_.now_ms();
    log::Fields f;
    f.http = false;
    f.client = s->peer;
    f.accept_epoch_ms = wall_offset_ms_ + s->t_accept;
    f.frontend = cfg_.frontends[s->fe].name;
    f.backend = s->be >= 0 ? std::string_view(cfg_.backends[std::size_t(s->be)].name) : f.frontend;
    f.server = (s->be >= 0 && s->server >= 0)
                   ? std::string_view(cfg_.backends[std::size_t(s->be)].servers[std::size_t(s->server)].name)
                   : std::string_view("<NOSRV>");
    f.Tw = s->t_connect >= 0 ? 0 : -1;
    f.Tc = s->t_connected >= 0 ? s->t_connected - s->t_connect : -1;
    f.Tt = now - s->t_accept;
    f.Ta = f.Tt;
    f.bytes_read = s->dir[kServer].moved;
    f.bytes_uploaded = s->dir[kClient].moved;
    f.actconn = conns_;
    f.feconn = fe_conns_[s->fe];
    f.beconn = s->be >= 0 ? int(st_.be[s->be].scur.get()) : 0;
    f.retries = s->tries;
    if (!log::emit(*p_.log_ring, std::uint16_t(s->fe), *fe_formats_[s->fe], f)) st_.fe[s->fe].log_drops.inc();
}

bool Worker::push_log(std::uint32_t fe, std::string_view line) {
    // record: u16 frontend id, then the line (the control shard's sink routes it to the frontend's targets)
    char rec[2 + 2048];
    const std::size_t n = std::min<std::size_t>(line.size(), sizeof rec - 2);
    rec[0] = char(fe & 0xff);
    rec[1] = char(fe >> 8);
    std::memcpy(rec + 2, line.data(), n);
    return p_.log_ring->push(std::string_view(rec, n + 2));
}

Worker::~Worker() {
    for (net::Pipe* p : idle_pipes_) pipes_.destroy(p);
    for (auto& l : listeners_)
        if (l.fd >= 0) ::close(l.fd);
}

std::vector<const pool::RawPool*> Worker::pools() const {
    return {&sessions_.raw(), &pipes_.raw(), &hsessions_.raw(), &hconns_.raw(), &heads_.raw(),
            &outblocks_.raw(), &notes_.raw()};
}

void Worker::start() {
    for (std::size_t i = 0; i < listeners_.size(); ++i) arm_accept(i);  // unless accept_paused_
    r_.timers().schedule(&housekeeping_timer_, r_.now_ms() + 1000);
}

// ---------------------------------------------------------------- dispatch

void Worker::on_cqe(const shard::Cqe& e) {
    const UserData u = UserData::unpack(e.user_data);
    switch (u.op) {
        case kOpAccept: on_accept(std::size_t(u.obj), e); return;
        case kOpCancelAccept: return;
        default: break;
    }
    if (u.op >= kHOpCliRecv) {
        http_on_cqe(u, e);
        return;
    }
    Session* s = u.ptr<Session>();
    if (s->gen != u.gen || s->released) {
        // a completion for an earlier life of this object: its buffer still goes back
        st_.shard.stale_cqes.inc();
        if (e.flags & IORING_CQE_F_BUFFER) {
            const auto bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
            bufs_->taken(bid);
            bufs_->recycle(bid);
        }
        return;
    }
    switch (u.op) {
        case kOpSocket: on_socket(s, e.res); break;
        case kOpSockopt: op_done(s); break;  // a failure shows up on the linked connect
        case kOpConnect: on_connect(s, e.res); break;
        case kOpConnTimeout: op_done(s); break;
        case kOpRecv0: on_recv(s, 0, e); break;
        case kOpRecv1: on_recv(s, 1, e); break;
        case kOpSend0: on_send(s, 0, e.res); break;
        case kOpSend1: on_send(s, 1, e.res); break;
        case kOpShut0: on_shutdown(s, 0, e.res); break;
        case kOpShut1: on_shutdown(s, 1, e.res); break;
        case kOpPollIn0: on_poll(s, 0, false, e.res); break;
        case kOpPollIn1: on_poll(s, 1, false, e.res); break;
        case kOpPollOut0: on_poll(s, 0, true, e.res); break;
        case kOpPollOut1: on_poll(s, 1, true, e.res); break;
        case kOpInstall0: on_install(s, 0, e.res); break;
        case kOpInstall1: on_install(s, 1, e.res); break;
        case kOpCancel:
        case kOpClose: op_done(s); break;
        default: ES_BUG(false, "unknown op in user_data"); break;
    }
}

void Worker::on_message(const shard::Message& m) {
    if (m.kind == shard::Message::kPageAnswer) {
        h_page_answer(m);
        return;
    }
    if (m.kind == shard::Message::kServerAdmin) {
        on_server_admin(m);
        return;
    }
    if (m.kind == shard::Message::kResumeAccept) {
        accept_paused_ = false;
        if (!draining_) update_accepting();
        return;
    }
    if (m.kind == shard::Message::kSoftStop) {
        begin_drain(reinterpret_cast<const std::vector<std::uint8_t>*>(m.a));
        return;
    }
    if (m.kind == shard::Message::kStop && !stopping_) {
        stopping_ = true;
        for (std::size_t i = 0; i < listeners_.size(); ++i) pause_accept(i);
        // hard stop: every session ends now (soft stop/drain belongs to the reload path)
        for (core::ListNode* n = all_.next; n != &all_;) {
            core::ListNode* nx = n->next;
            Session* s = reinterpret_cast<Session*>(reinterpret_cast<char*>(n) - offsetof(Session, all_node));
            close_session(s);
            n = nx;
        }
        http_stop();
        r_.timers().cancel(&housekeeping_timer_);
        r_.timers().cancel(&drain_timer_);
    }
}

void Worker::on_timer(shard::Timer* t) {
    if (t->kind == kTimerHousekeeping) {
        housekeeping();
        return;
    }
    if (t->kind == kTimerDrain) {
        drain_tick();
        return;
    }
    if (t->kind >= kHTimerClient) {
        h_on_timer(t);
        return;
    }
    Session* s = static_cast<Session*>(t->owner);
    switch (t->kind) {
        case kTimerIdle: {
            if (s->state != SessState::Established) return;
            const std::int64_t d = idle_deadline(s);
            if (d < 0) return;
            if (r_.now_ms() >= d) {
                close_session(s);  // inactivity timeout
            } else {
                r_.timers().schedule(&s->timer, d);
            }
            return;
        }
        case kTimerRetry:
            // a plain retry goes back to the server that failed (HAProxy semantics)
            if (s->state == SessState::Retrying) {
                const ServerSlot& slot = lbs_[std::size_t(s->be)]->server(s->server);
                // unless it was put in drain or maintenance meanwhile
                if (slot.usable() && slot.has_room()) connect_to(s, s->server);
                else connect_server(s, -1);  // its slot went to a queued session meanwhile
            }
            return;
        case kTimerQueue:
            if (s->state == SessState::Queued) {
                // no server slot freed in time: HAProxy answers 503 in HTTP; in TCP the client is closed
                auto& q = queues_[std::size_t(s->be)];
                q.erase(std::remove(q.begin(), q.end(), s), q.end());
                s->queued = false;
                st_.be[s->be].qcur.dec();
                st_.be[s->be].econ.inc();
                close_session(s);
            }
            return;
        default: return;
    }
}

void Worker::end_of_turn() {
    // ENOBUFS: re-arm starved recvs once a quarter of the ring is back (re-arming sooner only spins)
    if (!starved_.empty() && bufs_->available() >= bufs_->count() / 4) {
        std::vector<Session*> again;
        again.swap(starved_);
        for (Session* s : again) {
            for (int side = 0; side < 2; ++side) {
                if (!s->side[side].starved) continue;
                s->side[side].starved = false;
                if (s->state == SessState::Established) maybe_rearm(s, side);
            }
            op_done(s);  // the starved list held a reference
        }
    }
    http_end_of_turn();
    bufs_->publish();
    for (Session* s : released_) sessions_.destroy(s);
    released_.clear();
    st_.shard.buffers_out.set(std::int64_t(bufs_->out()));
}

void Worker::housekeeping() {
    if (!pipes_taken_) {
        for (std::size_t k = idle_pipes_.size() / 2 + idle_pipes_.size() % 2; k > 0; --k) {
            pipes_.destroy(idle_pipes_.back());
            idle_pipes_.pop_back();
        }
    }
    pipes_taken_ = false;
    sessions_.raw().trim_idle();
    pipes_.raw().trim_idle();
    hsessions_.raw().trim_idle();
    hconns_.raw().trim_idle();
    heads_.raw().trim_idle();
    outblocks_.raw().trim_idle();
    notes_.raw().trim_idle();
    start_pending();
    update_accepting();
    if (!stopping_) r_.timers().schedule(&housekeeping_timer_, r_.now_ms() + 1000);
}

// ---------------------------------------------------------------- drain (soft stop)
//
// After a reload commits (or on SIGUSR1) the shard stops accepting on every listener another
// process now serves, and lets its connections end on their own, never racing a client:
//  - an HTTP request in progress, or arriving on a kept-alive connection, is answered with
//    `Connection: close` and the connection then closes after the response;
//  - an HTTP connection whose client stays quiet for `es.drain-idle-after` after its last
//    response (plus its share of `close-spread-time`) is closed;
//  - L4 connections and tunnels run until they end (the control shard applies hard-stop-after);
//  - a listener no other process took (its bind was removed) keeps accepting until a check finds
//    its accept queue empty, so no connection the kernel already accepted is reset.
// The shard's loop ends once nothing is left (done()).
void Worker::begin_drain(const std::vector<std::uint8_t>* keep) {
    if (draining_ || stopping_) return;
    draining_ = true;
    accept_paused_ = false;
    drain_start_ = r_.now_ms();
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
        Listener& l = listeners_[i];
        l.keep = keep && i < keep->size() && (*keep)[i];
        if (l.keep) {
            arm_accept(i);
        } else {
            retire_listener(i);
        }
    }
    http_drain_tick();
    r_.timers().schedule(&drain_timer_, r_.now_ms() + 100);
}

// Accepting ends for good; our descriptor closes once no accept is in flight on it (another
// process may hold the same socket: it stays open there).
void Worker::retire_listener(std::size_t li) {
    Listener& l = listeners_[li];
    l.retired = true;
    if (l.armed) {
        pause_accept(li);  // closed when the cancelled accept completes (on_accept)
    } else if (l.fd >= 0) {
        ::close(l.fd);
        l.fd = -1;
    }
}

void Worker::drain_tick() {
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
        Listener& l = listeners_[i];
        if (!l.keep || l.retired) continue;
        // tcpi_unacked of a listening socket is its accept queue length
        tcp_info ti{};
        socklen_t len = sizeof ti;
        if (getsockopt(l.fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_unacked > 0) continue;
        retire_listener(i);
    }
    http_drain_tick();
    if (!stopping_) r_.timers().schedule(&drain_timer_, r_.now_ms() + 100);
}

// ---------------------------------------------------------------- accept and limits

bool Worker::fe_has_room(std::uint32_t fe) const {
    const int lim = p_.fe_limits[fe];
    return lim == 0 || fe_conns_[fe] < lim;
}

// A multishot accept drains the whole backlog before a cancel can stop it, so it is used only
// where no limit is near: for a frontend with its own maxconn, or a shard within kNearLimit of its
// connection limit, accepts are single-shot and each one decides whether to take the next.
bool Worker::want_multishot(std::size_t li) const {
    const Listener& l = listeners_[li];
    return l.multishot && p_.fe_limits[l.fe] == 0 && (p_.conn_limit == 0 || conns_ + kNearLimit < p_.conn_limit);
}

void Worker::arm_accept(std::size_t li) {
    Listener& l = listeners_[li];
    if (l.armed || l.cancelling || stopping_ || l.retired || accept_paused_) return;
    io_uring_sqe* sqe = r_.sqe();
    l.armed_multishot = want_multishot(li);
    if (l.armed_multishot) {
        io_uring_prep_multishot_accept_direct(sqe, l.fd, nullptr, nullptr, 0);
    } else {
        l.peer_len = sizeof l.peer;
        net::compat::prep_accept_direct_alloc(sqe, l.fd, reinterpret_cast<sockaddr*>(&l.peer), &l.peer_len, 0);
    }
    io_uring_sqe_set_data64(sqe, UserData::pack_raw(kOpAccept, 0, li));
    l.armed = true;
    ++listener_ops_;
}

void Worker::pause_accept(std::size_t li) {
    Listener& l = listeners_[li];
    if (!l.armed || l.cancelling) return;
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_cancel64(sqe, UserData::pack_raw(kOpAccept, 0, li), 0);
    io_uring_sqe_set_data64(sqe, UserData::pack_raw(kOpCancelAccept, 0, li));
    l.cancelling = true;
}

// Accepting stops (the accept is cancelled, the listener stays open and new connections wait in
// its backlog) while this shard is at its connection limit or the listener's frontend is at its
// own; it resumes as soon as a slot frees.
void Worker::update_accepting() {
    if (stopping_) return;
    const bool shard_full = p_.conn_limit > 0 && conns_ >= p_.conn_limit;
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
        const std::uint32_t fe = listeners_[i].fe;
        const bool full = shard_full || !fe_has_room(fe) || fe_pending_[fe] > 0;
        if (full) {
            if (listeners_[i].armed && !listeners_[i].cancelling) {
                pause_accept(i);
                st_.shard.accept_paused.inc();
                st_.fe[fe].maxconn_reached.inc();
            }
        } else if (listeners_[i].armed && listeners_[i].armed_multishot && !want_multishot(i)) {
            pause_accept(i);  // re-armed single-shot when the cancel completes
        } else {
            arm_accept(i);
        }
    }
}

void Worker::on_accept(std::size_t li, const shard::Cqe& e) {
    Listener& l = listeners_[li];
    if (!(e.flags & IORING_CQE_F_MORE)) {
        l.armed = false;
        l.cancelling = false;
        --listener_ops_;
        if (l.retired && l.fd >= 0) {
            ::close(l.fd);
            l.fd = -1;
        }
    }
    if (e.res < 0) {
        // -ECANCELED: paused on purpose. Anything else (-ENFILE: direct table full, -ENOMEM,
        // -EMFILE) is retried by housekeeping rather than spinning on it here.
        if (!l.armed && e.res == -ECANCELED) update_accepting();
        return;
    }
    const int slot = e.res;
    st_.shard.accepts.inc();
    stats::FrontendCounters& fc = st_.fe[l.fe];
    fc.stot.inc();
    if (is_http_fe(l.fe)) {
        http_accept(slot, l.fe, l.armed_multishot ? nullptr : &l.peer);
        if (!l.armed && !stopping_) update_accepting();
        if (p_.conn_limit > 0 && conns_ >= p_.conn_limit) update_accepting();
        else if (!fe_has_room(l.fe)) update_accepting();
        return;
    }
    Session* s = stopping_ ? nullptr : sessions_.make();
    if (!s) {
        io_uring_sqe* sqe = r_.sqe();
        io_uring_prep_close_direct(sqe, unsigned(slot));
        io_uring_sqe_set_data64(sqe, UserData::pack_raw(kOpCancelAccept, 0, 0));
        fc.dcon.inc();
        return;
    }
    s->gen = ++gen_;
    s->fe = l.fe;
    s->side[kClient].slot = slot;
    s->side[kClient].last_ms = r_.now_ms();
    s->t_accept = s->side[kClient].last_ms;
    s->timer.owner = s;
    if (!l.multishot) s->peer = l.peer;
    ++live_;
    // all_ list: used by stop
    s->all_node.prev = all_.prev;
    s->all_node.next = &all_;
    all_.prev->next = &s->all_node;
    all_.prev = &s->all_node;

    const bool room = (p_.conn_limit == 0 || conns_ < p_.conn_limit) && fe_has_room(l.fe) && fe_pending_[l.fe] == 0;
    if (room) {
        start_session(s);
    } else {
        // accepted in the same batch as the limit was reached: it waits (unserved, like in the
        // backlog) until a slot frees; it is never refused
        s->state = SessState::Pending;
        pending_.push_back(s);
        ++fe_pending_[l.fe];
    }
    if (!l.armed && !stopping_) update_accepting();
    if (p_.conn_limit > 0 && conns_ >= p_.conn_limit) update_accepting();
    else if (!fe_has_room(l.fe)) update_accepting();
}

void Worker::start_session(Session* s) {
    s->counted_conn = true;
    ++conns_;
    ++fe_conns_[s->fe];
    st_.shard.conns.inc();
    stats::FrontendCounters& fc = st_.fe[s->fe];
    fc.scur.inc();
    fc.smax.update(fc.scur.get());
    const auto& fe = cfg_.frontends[s->fe];
    const int be = !fe.use_backends.empty() ? int(fe.use_backends.front().backend_id) : fe.default_backend_id;
    if (be < 0) {
        fc.dcon.inc();
        close_session(s);
        return;
    }
    s->be = be;
    s->retries_left = cfg_.backends[std::size_t(be)].retries;
    stats::BackendCounters& bc = st_.be[be];
    bc.stot.inc();
    bc.scur.inc();
    bc.smax.update(bc.scur.get());
    connect_server(s, -1);
}

void Worker::start_pending() {
    std::size_t k = 0;
    while (k < pending_.size()) {
        Session* s = pending_[k];
        if (p_.conn_limit > 0 && conns_ >= p_.conn_limit) break;
        if (!fe_has_room(s->fe)) {
            ++k;
            continue;
        }
        pending_.erase(pending_.begin() + std::ptrdiff_t(k));
        --fe_pending_[s->fe];
        start_session(s);
    }
    k = 0;
    while (k < hpending_.size()) {
        HttpSession* s = hpending_[k];
        if (p_.conn_limit > 0 && conns_ >= p_.conn_limit) break;
        if (!fe_has_room(s->fe)) {
            ++k;
            continue;
        }
        hpending_.erase(hpending_.begin() + std::ptrdiff_t(k));
        --fe_pending_[s->fe];
        s->pending = false;
        h_start(s);
    }
}

// ---------------------------------------------------------------- connect

void Worker::connect_server(Session* s, int exclude) {
    BackendLb& lb = *lbs_[std::size_t(s->be)];
    const int i = lb.pick(&s->peer, exclude);
    if (i == BackendLb::kNone) {
        st_.be[s->be].econ.inc();
        close_session(s);
        return;
    }
    if (i == BackendLb::kFull) {
        // every usable server is at its maxconn: wait in the backend queue (HAProxy's queue),
        // bounded by `timeout queue`, else `timeout connect`
        s->state = SessState::Queued;
        s->queued = true;
        queues_[std::size_t(s->be)].push_back(s);
        auto& bc = st_.be[s->be];
        bc.qcur.inc();
        bc.qmax.update(bc.qcur.get());
        const auto& t = cfg_.backends[std::size_t(s->be)].timeouts;
        const config::Millis qt = t.queue > 0 ? t.queue : (t.connect > 0 ? t.connect : 5000);
        s->timer.kind = kTimerQueue;
        r_.timers().schedule(&s->timer, r_.now_ms() + qt);
        return;
    }
    connect_to(s, i);
}

void Worker::connect_to(Session* s, int i) {
    ServerSlot& srv = lbs_[std::size_t(s->be)]->server(i);
    s->server = i;
    s->counted_srv = true;
    ++srv.cur;
    srv.c->inflight.inc();
    srv.c->lbtot.inc();
    st_.be[s->be].lbtot.inc();
    s->state = SessState::Connecting;
    if (s->t_connect < 0) s->t_connect = r_.now_ms();
    io_uring_sqe* sqe = r_.sqe();
    // blocking sockets: io_uring never blocks on them (it polls), and SENDMSG keeps MSG_WAITALL
    // semantics only while the file is not O_NONBLOCK
    io_uring_prep_socket_direct_alloc(sqe, srv.cfg->addr.family(), SOCK_STREAM, 0, 0);
    io_uring_sqe_set_data64(sqe, ud(kOpSocket, s));
    ++s->pending_ops;
}

void Worker::on_socket(Session* s, int res) {
    --s->pending_ops;
    if (s->state == SessState::Closing) {
        if (res >= 0) {
            io_uring_sqe* sqe = r_.sqe();
            io_uring_prep_close_direct(sqe, unsigned(res));
            io_uring_sqe_set_data64(sqe, ud(kOpClose, s));
            ++s->pending_ops;
        }
        maybe_release(s);
        return;
    }
    if (res < 0) {  // -ENFILE (table full), -ENOMEM: a local failure, handled as a connect failure
        connect_failed(s);
        return;
    }
    s->side[kServer].slot = res;
    // setsockopt -> connect -> link_timeout must reach the kernel in one submission: a chain cut
    // by an SQ-full flush would leave the connect without its timeout
    const ServerSlot& srv = lbs_[std::size_t(s->be)]->server(s->server);
    s->pending_ops += connect_chain(res, srv.cfg->addr, cfg_.backends[std::size_t(s->be)].timeouts.connect,
                                    s->connect_ts, ud(kOpSockopt, s), ud(kOpConnect, s), ud(kOpConnTimeout, s));
}

// setsockopt(TCP_NODELAY) -> connect -> link_timeout on a new direct descriptor, reserved so an
// SQ-full flush never splits the chain (a connect cut from its timeout could wait forever).
// Returns the number of operations queued.
// Cancels every op on a direct descriptor and queues its close. While a SHUTDOWN on it is in
// flight the close waits: that op is punted to io-wq and resolves its slot when issued, so the
// slot must not be closed or reused before its completion (DESIGN 5.10); `deferred` keeps the
// slot for close_deferred(). `slot` becomes -1. Returns the number of ops queued.
int Worker::cancel_and_close(int& slot, bool shut_inflight, int& deferred, std::uint64_t ud_cancel,
                             std::uint64_t ud_close) {
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_cancel_fd(sqe, slot, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
    io_uring_sqe_set_data64(sqe, ud_cancel);
    int ops = 1;
    if (shut_inflight) {
        deferred = slot;
    } else {
        sqe = r_.sqe();
        io_uring_prep_close_direct(sqe, unsigned(slot));
        io_uring_sqe_set_data64(sqe, ud_close);
        ++ops;
    }
    slot = -1;
    return ops;
}

// The close cancel_and_close() deferred, once the shutdown completed. Returns the ops queued.
int Worker::close_deferred(int& deferred, std::uint64_t ud_close) {
    if (deferred < 0) return 0;
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_close_direct(sqe, unsigned(deferred));
    io_uring_sqe_set_data64(sqe, ud_close);
    deferred = -1;
    return 1;
}

int Worker::connect_chain(int slot, const config::SockAddr& addr, config::Millis ct, __kernel_timespec& ts,
                          std::uint64_t ud_opt, std::uint64_t ud_conn, std::uint64_t ud_timeout) {
    r_.reserve(3);
    int ops = 0;
    io_uring_sqe* sqe;
    if (p_.sockopt_ok) {
        sqe = r_.sqe();
        net::compat::prep_setsockopt_fixed(sqe, slot, IPPROTO_TCP, TCP_NODELAY, &kOne);
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_sqe_set_data64(sqe, ud_opt);
        ++ops;
    }
    sqe = r_.sqe();
    io_uring_prep_connect(sqe, slot, reinterpret_cast<const sockaddr*>(&addr.ss), addr.len);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud_conn);
    ++ops;
    if (ct > 0) {
        sqe->flags |= IOSQE_IO_LINK;
        ts.tv_sec = ct / 1000;
        ts.tv_nsec = (ct % 1000) * 1000000;
        sqe = r_.sqe();
        io_uring_prep_link_timeout(sqe, &ts, 0);
        io_uring_sqe_set_data64(sqe, ud_timeout);
        ++ops;
    }
    return ops;
}

void Worker::on_connect(Session* s, int res) {
    --s->pending_ops;
    if (s->state == SessState::Closing) {
        maybe_release(s);
        return;
    }
    if (res == 0) {
        established(s);
        return;
    }
    // failed, refused or timed out (-ECANCELED by the linked timeout): drop this socket
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_close_direct(sqe, unsigned(s->side[kServer].slot));
    io_uring_sqe_set_data64(sqe, ud(kOpClose, s));
    ++s->pending_ops;
    s->side[kServer].slot = -1;
    connect_failed(s);
}

// HAProxy semantics: `retries N` more attempts after the first; with `option redispatch`
// (interval -1) the last retry goes to another server, with interval P every Pth retry does.
// A retry on the same server waits min(timeout connect, 1s) so a restarting server is not
// hammered; a redispatch goes at once.
void Worker::connect_failed(Session* s) {
    BackendLb& lb = *lbs_[std::size_t(s->be)];
    const int failed = s->server;
    ServerSlot& srv = lb.server(failed);
    --srv.cur;
    srv.c->inflight.dec();
    s->counted_srv = false;
    const auto& be = cfg_.backends[std::size_t(s->be)];
    if (s->retries_left <= 0) {
        srv.c->econ.inc();
        st_.be[s->be].econ.inc();
        server_slot_freed(s);
        close_session(s);
        return;
    }
    --s->retries_left;
    ++s->tries;
    srv.c->wretr.inc();
    st_.be[s->be].wretr.inc();
    bool redispatch = false;
    if (be.redispatch) {
        if (be.redispatch_interval < 0) redispatch = s->retries_left == -be.redispatch_interval - 1;
        else if (be.redispatch_interval > 0) redispatch = s->tries % be.redispatch_interval == 0;
    }
    server_slot_freed(s);
    if (redispatch) {
        srv.c->wredis.inc();
        st_.be[s->be].wredis.inc();
        connect_server(s, failed);
        return;
    }
    s->state = SessState::Retrying;
    s->timer.kind = kTimerRetry;
    const config::Millis ct = be.timeouts.connect;
    const config::Millis wait = (ct > 0 && ct < 1000) ? ct : 1000;
    r_.timers().schedule(&s->timer, r_.now_ms() + wait);
}

void Worker::server_slot_freed(Session* s) {
    auto& q = queues_[std::size_t(s->be)];
    if (q.empty()) return;
    Session* w = q.front();
    q.erase(q.begin());
    w->queued = false;
    st_.be[w->be].qcur.dec();
    r_.timers().cancel(&w->timer);
    connect_server(w, -1);
}

void Worker::established(Session* s) {
    s->state = SessState::Established;
    s->srv_established = true;
    s->t_connected = r_.now_ms();
    ServerSlot& srv = lbs_[std::size_t(s->be)]->server(s->server);
    srv.c->stot.inc();
    srv.c->scur.inc();
    srv.c->smax.update(srv.c->scur.get());
    const std::int64_t now = r_.now_ms();
    s->side[kClient].last_ms = now;
    s->side[kServer].last_ms = now;
    arm_recv(s, kClient);
    arm_recv(s, kServer);
    schedule_idle(s);
}

// ---------------------------------------------------------------- timers

// Inactivity deadline (-1 = none). `timeout client` bounds the client side's silence (no byte
// read from or written to it), `timeout server` the server side's, each only while that side is
// expected to act (HAProxy's meaning): to send (its read is armed, not held back because the
// other side is slow to take what it sent) or to acknowledge (bytes queued or in a pipe for it).
// A server held back by a slow client is not idle, nor a client held back by a slow server.
// `timeout tunnel`, when set, replaces both with one bound on both sides being idle. Once a side
// is half-closed the -fin variants apply when configured.
std::int64_t Worker::idle_deadline(const Session* s) const {
    const auto& ft = cfg_.frontends[s->fe].timeouts;
    const auto& bt = cfg_.backends[std::size_t(s->be)].timeouts;
    const bool half = s->side[0].eof || s->side[1].eof || s->side[0].shut_sent || s->side[1].shut_sent;
    const std::int64_t lc = s->side[kClient].last_ms, ls = s->side[kServer].last_ms;
    if (!half && or_unset(bt.tunnel) > 0) return std::max(lc, ls) + bt.tunnel;
    config::Millis tc = or_unset(ft.client), ts = or_unset(bt.server);
    if (half) {
        if (or_unset(ft.client_fin) > 0) tc = ft.client_fin;
        if (or_unset(bt.server_fin) > 0) ts = bt.server_fin;
        if (or_unset(bt.tunnel) > 0 && tc <= 0 && ts <= 0) return std::max(lc, ls) + bt.tunnel;
    }
    auto expected = [s](int x) {
        const Side& sd = s->side[x];
        const Dir& to = s->dir[1 - x];  // bytes flowing towards side x
        const bool sends = !sd.eof && (sd.recv_armed || sd.starved || sd.poll_in || s->dir[x].mode == Dir::Switching);
        const bool acks = to.qbytes > 0 || to.send_inflight || to.pipe_bytes > 0 || sd.poll_out;
        return sends || acks;
    };
    std::int64_t d = -1;
    if (tc > 0 && expected(kClient)) d = lc + tc;
    if (ts > 0 && expected(kServer)) d = d < 0 ? ls + ts : std::min(d, ls + ts);
    if (d < 0 && (tc > 0 || ts > 0)) {
        // nothing is expected of either side (a transition): still bounded, by both being idle
        d = std::max(lc, ls) + std::max(tc, ts);
    }
    return d;
}

void Worker::schedule_idle(Session* s) {
    if (s->state != SessState::Established) return;  // a closing session must not re-arm its timer
    const std::int64_t d = idle_deadline(s);
    s->timer.kind = kTimerIdle;
    if (d < 0) {
        r_.timers().cancel(&s->timer);
        return;
    }
    // lazily: an armed timer earlier than d simply re-checks when it fires
    if (!s->timer.armed() || s->timer.when_ms > d) r_.timers().schedule(&s->timer, d);
}

// ---------------------------------------------------------------- close and release

void Worker::count_abort(Session* s, int side) {
    if (s->be < 0) return;
    stats::ServerCounters* sc = s->server >= 0 ? lbs_[std::size_t(s->be)]->server(s->server).c : nullptr;
    if (side == kClient) {
        st_.fe[s->fe].cli_abrt.inc();
        st_.be[s->be].cli_abrt.inc();
        if (sc) sc->cli_abrt.inc();
    } else {
        st_.be[s->be].srv_abrt.inc();
        if (sc) sc->srv_abrt.inc();
    }
}

void Worker::close_session(Session* s) {
    if (s->state == SessState::Closing) return;
    const SessState was = s->state;
    s->state = SessState::Closing;
    r_.timers().cancel(&s->timer);
    if (was == SessState::Pending) {
        pending_.erase(std::remove(pending_.begin(), pending_.end(), s), pending_.end());
        --fe_pending_[s->fe];
    }
    if (s->queued) {
        auto& q = queues_[std::size_t(s->be)];
        q.erase(std::remove(q.begin(), q.end(), s), q.end());
        s->queued = false;
        st_.be[s->be].qcur.dec();
    }
    for (int side = 0; side < 2; ++side) {
        Side& sd = s->side[side];
        if (sd.slot >= 0)
            s->pending_ops += cancel_and_close(sd.slot, sd.shut_inflight, sd.deferred_close, ud(kOpCancel, s),
                                               ud(kOpClose, s));
        if (sd.fd >= 0) {
            ::close(sd.fd);
            sd.fd = -1;
        }
        Dir& d = s->dir[side];
        if (!d.send_inflight) drop_queue(d);  // else on_send() drops it: the send may still read them
        if (d.pipe) {
            put_pipe(d.pipe, d.pipe_bytes == 0);
            d.pipe = nullptr;
            d.pipe_bytes = 0;
        }
    }
    if (s->counted_srv && s->be >= 0) {
        ServerSlot& srv = lbs_[std::size_t(s->be)]->server(s->server);
        --srv.cur;
        srv.c->inflight.dec();
        s->counted_srv = false;
        if (s->srv_established) srv.c->scur.dec();
        server_slot_freed(s);
    }
    if (s->counted_conn) tcp_log(s);
    if (s->be >= 0 && s->counted_conn) st_.be[s->be].scur.dec();
    if (s->counted_conn) {
        s->counted_conn = false;
        --conns_;
        --fe_conns_[s->fe];
        st_.shard.conns.dec();
        st_.fe[s->fe].scur.dec();
        start_pending();
        update_accepting();
    }
    maybe_release(s);
}

void Worker::drop_queue(Dir& d) {
    while (d.qhead != net::BufRing::kNone) {
        const std::uint16_t b = d.qhead;
        d.qhead = bufs_->rec(b).next;
        bufs_->recycle(b);
    }
    d.qtail = net::BufRing::kNone;
    d.qbytes = 0;
}

void Worker::op_done(Session* s) {
    --s->pending_ops;
    ES_ASSERT(s->pending_ops >= 0);
    maybe_release(s);
}

// A closing session is released once no operation can complete on it any more; the memory goes
// back to the pool at the end of the turn, after every CQE of this batch has been dispatched.
void Worker::maybe_release(Session* s) {
    if (s->state == SessState::Closing && s->pending_ops == 0 && !s->released) release(s);
}

void Worker::release(Session* s) {
    s->released = true;
    s->all_node.unlink();
    --live_;
    released_.push_back(s);
}

}  // namespace es::proxy
