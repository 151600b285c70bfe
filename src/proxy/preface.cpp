// Worker: a connection before its protocol starts (Preface). Two things may have to come first:
//  - the PROXY protocol header (`bind ... accept-proxy`, `tcp-request connection expect-proxy
//    layer4`), read as HAProxy reads it: one receive with MSG_PEEK into a provided buffer (at most
//    net::pp::kMaxHeader bytes), parsed, then exactly the header's bytes consumed by a second
//    receive, so the protocol's own receives (TLS handshake, HTTP parser, L4 copy) start on the
//    first byte after it with nothing carried over. A header that is not complete in the first
//    read fails as truncated (HAProxy 2.6 does the same: senders write it at once). Bounded by
//    `timeout client` from the accept, as HAProxy 2.6 bounds it.
//  - the local address of a wildcard bind, for frontends whose servers get PROXY headers:
//    FIXED_FD_INSTALL gives a regular fd for the direct descriptor, getsockname(2) reads it.
// Then start_conn hands the slot, the client address (the header's, or the connection's own for
// LOCAL and UNKNOWN) and the PpInfo to the frontend's protocol. Failures close the connection
// before any object of the protocol exists, counted as ProxyHeaderFailures.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/tcp.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "edgeshard/shard/uring_compat.hpp"

namespace es::proxy {

using shard::UserData;

namespace {

bool wildcard_addr(const config::SockAddr& a) {
    if (a.family() == AF_INET) return reinterpret_cast<const sockaddr_in&>(a.ss).sin_addr.s_addr == htonl(INADDR_ANY);
    if (a.family() == AF_INET6) {
        const auto& s6 = reinterpret_cast<const sockaddr_in6&>(a.ss);
        return std::memcmp(&s6.sin6_addr, &in6addr_any, sizeof s6.sin6_addr) == 0;
    }
    return false;
}

std::uint64_t pud(std::uint8_t op, const Preface* p) { return UserData::pack(op, p->gen, p); }

}  // namespace

bool Worker::pp_wildcard_addr(std::uint32_t fe, int bind) const {
    return bind >= 0 && wildcard_addr(cfg_.frontends[fe].binds[std::size_t(bind)].addr);
}

bool Worker::pp_wildcard(std::uint32_t fe, int bind) const { return fe_needs_dst_[fe] && pp_wildcard_addr(fe, bind); }

bool Worker::frontend_sends_proxy(const config::Config& cfg, std::uint32_t f) {
    return reaches_backend(cfg, f, [](const config::Backend& b) {
        for (const auto& s : b.servers)
            if (s.send_proxy) return true;
        return false;
    });
}

// A log-format text reads one end's address: %[src...] %ci %cp (client), %[dst...] %fi %fp.
bool Worker::text_reads_addr(std::string_view v, bool client) {
    static constexpr std::string_view kClient[] = {"%ci", "%cp"}, kLocal[] = {"%fi", "%fp"};
    for (std::string_view k : client ? kClient : kLocal)
        if (v.find(k) != std::string_view::npos) return true;
    // a sample naming it anywhere (src, src_port, base32+src, src_* counters...): more than needed is only a cost
    const std::size_t open = v.find("%[");
    return open != std::string_view::npos && v.find(client ? "src" : "dst", open) != std::string_view::npos;
}

// Wherever a proxy's HTTP part evaluates samples: its ACLs (with converters too), its rule values
// (headers, paths, redirect targets), capture and set-var expressions.
bool Worker::http_reads_addr(const config::HttpProxy& px, bool client) {
    const std::string_view fetch = client ? "src" : "dst";  // src, src_port...; dst, dst_port
    for (const auto& a : px.acls)
        if (a.fetch.starts_with(fetch) || (a.fetch == "sample" && a.arg.find(fetch) != std::string::npos)) return true;
    for (const auto* rules : {&px.request_rules, &px.response_rules, &px.after_rules})
        for (const auto& r : *rules) {
            if (text_reads_addr(r.value, client)) return true;
            if (r.lf_reply) {  // a reply built per request (lf-string, hdr values)
                if (text_reads_addr(r.lf_body, client)) return true;
                for (const auto& h : r.lf_hdrs)
                    if (text_reads_addr(h.second, client)) return true;
            }
            if (r.action == config::HttpAction::Capture && r.value.starts_with(fetch)) return true;
            if ((r.action == config::HttpAction::SetVar) && !r.var.literal &&
                (r.var.fmt ? text_reads_addr(r.var.expr, client) : r.var.expr.starts_with(fetch)))
                return true;
        }
    return false;
}

// The frontend's rules (or those of a backend it may route to) read the address the client
// connected to.
bool Worker::frontend_uses_dst(const config::Config& cfg, std::uint32_t f) {
    for (const auto& u : cfg.frontends[f].use_backend_rules)
        if (u.dynamic && text_reads_addr(u.backend, false)) return true;
    if (text_reads_addr(cfg.frontends[f].unique_id_format, false)) return true;
    if (text_reads_addr(cfg.frontends[f].log_format, false)) return true;  // %[dst] at log time (and %fi)
    return http_reads_addr(cfg.frontends[f].http, false) ||
           reaches_backend(cfg, f, [&](const config::Backend& b) { return http_reads_addr(b.http, false); });
}

PpInfo* Worker::pp_local(std::uint32_t fe, int bind) {
    if (bind < 0) return nullptr;
    PpInfo* pp = pp_infos_.make();
    if (!pp) return nullptr;
    pp->dst.set(cfg_.frontends[fe].binds[std::size_t(bind)].addr.ss);
    pp->has_dst = true;
    return pp;
}

void Worker::start_conn(int slot, std::uint32_t fe, const sockaddr_storage* peer, int bind, PpInfo* pp,
                        stick::Refs* trk) {
    st_.fe[fe].stot.inc();
    if (is_http_fe(fe)) {
        h1_->http_accept(slot, fe, peer, bind, pp, trk);
    } else {
        std::uint16_t dst_port = bind >= 0 ? cfg_.frontends[fe].binds[std::size_t(bind)].addr.port() : 0;
        if (pp && pp->has_dst) {
            sockaddr_storage d;
            pp->dst.get(d);
            dst_port = std::uint16_t(rules::addr_port(&d));
        }
        tcp_->accept(slot, fe, peer, dst_port, bind, pp, trk);
    }
    if (shard_full() || !fe_has_room(fe)) update_accepting();
}

void Worker::pp_begin(int slot, std::uint32_t fe, const sockaddr_storage* peer, int bind, bool header,
                      stick::Refs* trk) {
    Preface* p = stopping_ ? nullptr : prefaces_.make();
    if (!p) {
        io_.close_slot(slot, UserData::pack_raw(kOpCancelAccept, 0, 0));
        st_.fe[fe].dcon.inc();
        stick_end(trk, 0, 0);
        return;
    }
    p->trk = trk;
    p->gen = ++gen_;
    p->fe = fe;
    p->bind = bind;
    p->cli.slot = slot;
    p->want_header = header;
    if (peer) {
        p->peer = *peer;
        p->has_peer = true;
    }
    p->timer.kind = kTimerPreface;
    p->timer.owner = p;
    p->t_accept = r_.now_ms();
    p->all_node.link_before(prefaces_all_);
    ++live_;
    const config::Millis tc = cfg_.frontends[fe].timeouts.client;
    p->deadline = tc > 0 ? r_.now_ms() + tc : 0;
    if (p->deadline) r_.timers().schedule(&p->timer, p->deadline);
    if (pp_wildcard(fe, bind)) {
        p->ops += io_.install(p->cli, pud(kOpPpInstall, p));
        return;
    }
    if (fe_needs_dst_[fe]) p->pp = pp_local(fe, bind);
    pp_peek(p);  // (without a wildcard to learn, a preface is only for a header)
}

// MSG_PEEK into a provided buffer: the bytes stay in the socket until the header is known.
void Worker::pp_peek(Preface* p) {
    io_uring_sqe* sqe = r_.sqe();
    io_uring_prep_recv(sqe, p->cli.slot, nullptr, net::pp::kMaxHeader, MSG_PEEK);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = bufs_->group();
    io_uring_sqe_set_data64(sqe, pud(kOpPpPeek, p));
    ++p->ops;
}

void Worker::pp_on_cqe(const UserData& u, const shard::Cqe& e) {
    Preface* p = u.ptr<Preface>();
    --p->ops;
    std::uint16_t bid = net::BufRing::kNone;
    if (e.flags & IORING_CQE_F_BUFFER) {
        bid = std::uint16_t(e.flags >> IORING_CQE_BUFFER_SHIFT);
        bufs_->taken(bid);
    }
    switch (u.op) {
        case kOpPpInstall: {
            net::SideIo::install_done(p->cli, e.res);
            if (p->cli.fd >= 0) {
                sockaddr_storage local{};
                socklen_t len = sizeof local;
                const bool ok = ::getsockname(p->cli.fd, reinterpret_cast<sockaddr*>(&local), &len) == 0;
                ::close(p->cli.fd);
                p->cli.fd = -1;
                if (ok && !p->failed && (p->pp || (p->pp = pp_infos_.make()))) {
                    p->pp->dst.set(local);
                    p->pp->has_dst = true;
                }
            }
            if (p->failed) break;
            if (p->want_header) pp_peek(p);
            else pp_finish(p);
            return;
        }
        case kOpPpPeek: {
            if (p->failed) break;
            if (e.res == -ENOBUFS) {  // no provided buffer free this instant: look again shortly
                r_.timers().cancel(&p->timer);
                r_.timers().schedule(&p->timer, r_.now_ms() + 1);
                return;
            }
            if (e.res <= 0) {
                if (bid != net::BufRing::kNone) bufs_->recycle(bid);
                pp_fail(p, e.res == 0 ? net::pp::Err::Empty : net::pp::Err::Abort);
                return;
            }
            net::pp::Header h;
            auto* data = reinterpret_cast<std::uint8_t*>(bufs_->data(bid));
            const net::pp::Err err = net::pp::parse(data, std::size_t(e.res), h);
            if (err == net::pp::Err::None) {
                if (h.addrs) {
                    p->peer = h.src;
                    p->has_peer = true;
                }
                if (h.addrs || !h.authority.empty() || !h.unique_id.empty() || !h.alpn.empty()) {
                    if (!p->pp) p->pp = pp_infos_.make();
                    if (p->pp) {
                        if (h.addrs) {
                            p->pp->dst.set(h.dst);
                            p->pp->has_dst = true;
                        }
                        p->pp->authority.assign(h.authority);
                        p->pp->unique_id.assign(h.unique_id);
                        p->pp->alpn.assign(h.alpn);
                    }
                }
                p->hdr_len = std::uint16_t(h.len);
            }
            bufs_->recycle(bid);
            if (err != net::pp::Err::None) {
                // a header refused for its TLVs had its addresses read: HAProxy logs those
                pp_fail(p, err, h.addrs ? &h.src : nullptr);
                return;
            }
            // consume exactly the header: it is in the socket already (we just saw it)
            io_uring_sqe* sqe = r_.sqe();
            io_uring_prep_recv(sqe, p->cli.slot, pp_scratch_.get(), p->hdr_len, MSG_WAITALL);
            sqe->flags |= IOSQE_FIXED_FILE;
            io_uring_sqe_set_data64(sqe, pud(kOpPpEat, p));
            ++p->ops;
            return;
        }
        case kOpPpEat:
            if (p->failed) break;
            if (e.res != int(p->hdr_len)) {
                pp_fail(p, net::pp::Err::Abort);
                return;
            }
            st_.shard.pp_headers.inc();
            pp_finish(p);
            return;
        default:  // kOpPpCancel, kOpPpClose
            break;
    }
    if (bid != net::BufRing::kNone) bufs_->recycle(bid);
    pp_maybe_release(p);
}

void Worker::pp_on_timer(Preface* p) {
    if (p->failed) return;
    if (!p->deadline || r_.now_ms() < p->deadline) {  // the retry after ENOBUFS
        if (p->deadline) r_.timers().schedule(&p->timer, p->deadline);
        pp_peek(p);
        return;
    }
    pp_fail(p, net::pp::Err::Timeout);
}

// HAProxy's line for a connection that ended before its session ("embryonic"), when the frontend
// logs: `ci:cp [date] fe/listener: reason`, the listener named by its number in the frontend.
// With `option dontlognull`, a client that closed or timed out without sending anything is not
// logged (HAProxy 2.6).
void Worker::pp_log(const Preface* p, net::pp::Err why, const sockaddr_storage* carried) {
    const config::Frontend& f = cfg_.frontends[p->fe];
    if (!p_.log_ring || !fe_formats_[p->fe]) return;
    if (f.dontlognull && (why == net::pp::Err::Empty || why == net::pp::Err::Abort || why == net::pp::Err::Timeout))
        return;
    if (!pp_log_fmt_) pp_log_fmt_ = std::make_unique<log::Format>("%ci:%cp [%tr] %f");
    log::Fields lf;
    if (carried) lf.client = *carried;
    else if (p->has_peer) lf.client = p->peer;
    lf.accept_epoch_ms = wall_offset_ms_ + p->t_accept;
    lf.frontend = f.name;
    char line[512];
    std::size_t n = pp_log_fmt_->render(lf, line, sizeof line - 160);
    const std::string_view text = net::pp::err_text(why);
    n += std::size_t(std::snprintf(line + n, sizeof line - n, "/%d: %.*s", p->bind + 1, int(text.size()), text.data()));
    if (!push_log(p->fe, std::string_view(line, std::min(n, sizeof line - 1)))) st_.fe[p->fe].log_drops.inc();
}

void Worker::pp_fail(Preface* p, net::pp::Err why, const sockaddr_storage* carried) {
    if (why != net::pp::Err::None) {
        st_.shard.pp_failures.inc();
        pp_log(p, why, carried);
    }
    p->failed = true;
    r_.timers().cancel(&p->timer);
    p->ops += io_.close(p->cli, pud(kOpPpCancel, p), pud(kOpPpClose, p));
    pp_maybe_release(p);
}

void Worker::pp_maybe_release(Preface* p) {
    if (!p->failed || p->ops > 0) return;
    p->all_node.unlink();
    pp_free(p->pp);
    stick_end(p->trk, 0, 0);
    prefaces_.destroy(p);
    --live_;
}

// Everything before the protocol is known: the connection becomes a session of its frontend.
void Worker::pp_finish(Preface* p) {
    r_.timers().cancel(&p->timer);
    const int slot = p->cli.slot;
    const std::uint32_t fe = p->fe;
    const int bind = p->bind;
    sockaddr_storage peer = p->peer;
    const bool has_peer = p->has_peer;
    PpInfo* pp = p->pp;
    stick::Refs* trk = p->trk;
    p->all_node.unlink();
    prefaces_.destroy(p);
    --live_;
    start_conn(slot, fe, has_peer ? &peer : nullptr, bind, pp, trk);
}

std::string* Worker::pp_header(const config::Server& srv, const sockaddr_storage* src, const PpInfo* pp,
                               const tls::Facts* tls) {
    net::pp::Source s;
    sockaddr_storage dst;
    s.src = src;
    if (pp && pp->has_dst) {
        pp->dst.get(dst);
        s.dst = &dst;
    }
    if (pp && !pp->authority.empty()) s.authority = pp->authority;
    else if (tls) s.authority = tls->sni;
    if (tls) {
        s.tls = true;
        s.alpn = tls->alpn;
        s.tls_version = tls->protocol;
        s.tls_cipher = tls->cipher;
        if (tls->client && tls->client->used) {
            s.cert_sess = true;
            s.cert_conn = tls->client->presented;
            s.verify = std::uint32_t(tls->client->verify);
            std::string_view v;
            if (tls::dn_entry(tls->client->s_dn, "CN", 1, v)) s.tls_cn = v;
        }
    }
    std::uint8_t buf[net::pp::kMaxHeader];  // built here, then copied at its size (a segment owns it)
    const std::size_t n = srv.send_proxy == 1 ? net::pp::build_v1(s, reinterpret_cast<char*>(buf), sizeof buf)
                                              : net::pp::build_v2(s, srv.pp_opts, buf, sizeof buf);
    return new std::string(reinterpret_cast<const char*>(buf), n);
}

// A hard stop: connections still before their protocol are closed.
void Worker::pp_stop() {
    for (core::ListNode* n = prefaces_all_.next; n != &prefaces_all_;) {
        Preface* p = reinterpret_cast<Preface*>(reinterpret_cast<char*>(n) - offsetof(Preface, all_node));
        n = n->next;
        if (!p->failed) pp_fail(p, net::pp::Err::None);
    }
}

}  // namespace es::proxy
