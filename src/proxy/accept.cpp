// Worker: listeners and limits (accept), and the soft stop (drain).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "edgeshard/shard/uring_compat.hpp"
#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/tcp.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/rules/rules.hpp"

namespace es::proxy {

using shard::UserData;

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
    h1_->http_drain_tick();
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
    h1_->http_drain_tick();
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
        shard::compat::prep_accept_direct_alloc(sqe, l.fd, reinterpret_cast<sockaddr*>(&l.peer), &l.peer_len, 0);
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
    const bool full_shard = shard_full();
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
        const std::uint32_t fe = listeners_[i].fe;
        const bool full = full_shard || !fe_has_room(fe) || fe_pending_[fe] > 0;
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
    // the address came with the accept when it was single-shot; the L4 path takes it only where
    // its listener asked for one
    const bool addr = is_http_fe(l.fe) ? !l.armed_multishot : !l.multishot;
    accept_conn(e.res, l.fe, addr ? &l.peer : nullptr, l.bind);
    if (!l.armed && !stopping_) update_accepting();
}

// A connection accepted on frontend `fe` (`peer`: its address, when known) becomes a session of
// its protocol; a limit it reaches pauses the accepts.
void Worker::accept_conn(int slot, std::uint32_t fe, const sockaddr_storage* peer, int bind) {
    st_.shard.accepts.inc();
    const config::Frontend& f = cfg_.frontends[fe];
    bool header = bind >= 0 && f.binds[std::size_t(bind)].accept_proxy;
    stick::Refs* trk = nullptr;  // what tcp-request connection rules track (the session's counters)
    if (__builtin_expect(!f.tcp_conn_rules.empty(), 0)) {
        // tcp-request connection: decided before anything is allocated for the connection. Only what
        // exists without data is fetched (the configuration refuses payload fetches here).
        rules::Txn t;
        t.cfg = &cfg_;
        t.src = peer;
        t.dst_port = bind >= 0 ? int(f.binds[std::size_t(bind)].addr.port()) : -1;
        // the local address, where the bind names one (a wildcard bind's is not known here)
        if (bind >= 0 && !pp_wildcard_addr(fe, bind)) t.dst = &f.binds[std::size_t(bind)].addr.ss;
        rules::StickCtx sc;
        t.stick = stick_ctx(sc, &trk, false);
        thread_local rules::Arena arena;  // an expression's value (a key with converters, an ACL's sample)
        arena.reset();
        t.arena = &arena;
        if (rules::run_tcp_rules(f.tcp_conn_rules, f.http.acls, t, &header) == rules::TcpVerdict::Reject) {
            st_.fe[fe].dcon.inc();  // HAProxy's denied connections
            stick_end(trk, 0, 0);   // counted (conn_cnt, conn_rate), then given back (conn_cur)
            // HAProxy resets a connection its tcp-request connection rules reject (no linger)
            io_.reset_slot(slot, UserData::pack_raw(kOpCancelAccept, 0, 0), UserData::pack_raw(kOpCancelAccept, 0, 0));
            return;
        }
        // the session counts once its own rules ran (tcp-request session), else now
        if (trk && f.tcp_sess_rules.empty()) stick_.count_session(*trk, r_.now_ms());
    }
    // a PROXY header to read, or the local address of a wildcard bind to learn (preface.cpp)
    if (__builtin_expect(header || fe_needs_dst_[fe], 0)) {
        if (header || pp_wildcard(fe, bind)) {
            pp_begin(slot, fe, peer, bind, header, trk);
            return;
        }
        start_conn(slot, fe, peer, bind, pp_local(fe, bind), trk);
        return;
    }
    start_conn(slot, fe, peer, bind, nullptr, trk);
}

void Worker::conn_started(std::uint32_t fe) {
    ++conns_;
    ++fe_conns_[fe];
    st_.shard.conns.inc();
    stats::FrontendCounters& fc = st_.fe[fe];
    fc.scur.inc();
    fc.smax.update(fc.scur.get());
}

void Worker::conn_ended(std::uint32_t fe) {
    --conns_;
    --fe_conns_[fe];
    st_.shard.conns.dec();
    st_.fe[fe].scur.dec();
    start_pending();
    update_accepting();
}

}  // namespace es::proxy
