// TLS on client connections, shared by HTTP/1 and mode tcp (tls_io.hpp).
#include "edgeshard/proxy/tls_io.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <new>
#include <stdexcept>
#include <string>

#include "edgeshard/core/assert.hpp"
#include "edgeshard/tls/certinfo.hpp"
#include "edgeshard/tls/ktls.hpp"

namespace es::proxy {

std::string_view server_name(std::string_view v, char* buf, std::size_t cap) {
    if (!v.empty() && v.front() == '[') return {};  // [v6]:port
    if (const std::size_t colon = v.rfind(':'); colon != std::string_view::npos) v = v.substr(0, colon);
    if (v.empty() || v.size() >= cap) return {};
    bool ip = true;
    for (char ch : v) ip = ip && ((ch >= '0' && ch <= '9') || ch == '.');
    if (ip) return {};
    std::memcpy(buf, v.data(), v.size());
    return std::string_view(buf, v.size());
}

TlsIo::TlsIo(const config::Config& cfg, int nshards, stats::ShardStats& st, net::BufRing& bufs, net::SideIo& io)
    : sendq(bufs, io), st_(st) {
    if (cfg.global.ssl_cachesize > 0) {
        // tune.ssl.cachesize is for the whole process, as in HAProxy: each shard keeps its share
        const auto n = std::size_t(std::max(1, nshards));
        cache_ = std::make_unique<tls::SessionCache>((std::size_t(cfg.global.ssl_cachesize) + n - 1) / n,
                                                         &st_.shard.ssl_cache_lookups, &st_.shard.ssl_cache_misses);
    }
    binds_.resize(cfg.frontends.size());
    std::map<const config::BindTlsOptions*, std::shared_ptr<tls::BindTls>> made;
    for (const auto& fe : cfg.frontends) {
        auto& per = binds_[fe.id];
        per.resize(fe.binds.size());
        for (std::size_t b = 0; b < fe.binds.size(); ++b) {
            const auto* o = fe.binds[b].tls.get();
            if (!o) continue;
            auto& ctx = made[o];
            if (!ctx) {
                std::string error;
                std::vector<std::string> warnings;
                ctx = tls::BindTls::make(o->o, error, warnings, cache_.get());
                if (!ctx) throw std::runtime_error(fe.binds[b].spec + ": " + error);
                // `ktls on` where the kernel cannot take the records: the configuration check
                // warned once; the connections stay on user-space records at no cost
                if (o->o.ktls && tls::ktls_support().tx && tls::ktls_support().rx) ctx->enable_ktls();
            }
            per[b] = ctx;
        }
    }
    // servers reached over TLS: this shard's client contexts (checked by the configuration already)
    up_.resize(cfg.backends.size());
    for (const auto& be : cfg.backends) {
        auto& per = up_[std::size_t(be.id)];
        per.resize(be.servers.size());
        for (std::size_t k = 0; k < be.servers.size(); ++k) {
            if (!be.servers[k].tls) continue;
            std::string error;
            std::vector<std::string> warnings;
            per[k] = tls::Upstream::make(be.servers[k].tls->o, error, warnings);
            if (!per[k]) throw std::runtime_error("server " + be.name + "/" + be.servers[k].name + ": " + error);
        }
    }
}

tls::Conn* TlsIo::accept_conn(const tls::BindTls& tb) {
    auto* c = new (std::nothrow) tls::Conn(tb);
    if (!c || !c->ok()) {
        delete c;
        return nullptr;
    }
    st_.shard.ssl_accepts.inc();
    st_.shard.ssl_conns.inc();
    return c;
}

std::size_t TlsIo::pull(tls::Conn& t, net::Block*& acc) {
    std::size_t total = 0;
    for (;;) {
        if (!acc && !(acc = sendq.new_block())) break;  // no memory now: the bytes wait in the layer
        net::Block* a = acc;
        if (a->len == net::Block::kCap) {
            if (a->off == 0) break;  // full: the reader must consume first
            std::memmove(a->data, a->data + a->off, a->len - a->off);
            a->len -= a->off;
            a->off = 0;
        }
        const std::size_t got = t.read(a->data + a->len, net::Block::kCap - a->len);
        if (got == 0) break;
        a->len += std::uint32_t(got);
        total += got;
    }
    if (acc && acc->len == acc->off) {
        sendq.blocks.destroy(acc);
        acc = nullptr;
    }
    return total;
}

void TlsIo::seal(tls::Conn& t, net::SendQueue& q, std::uint8_t& sealed) {
    // a send in flight reads only the first `sealed` pieces (SendQueues::send's max_segs): the
    // pieces behind them may be sealed meanwhile
    // the pieces leave the queue first (their bytes are copied into records below); records take
    // their places, up to the queue's capacity (what does not fit waits in the record layer)
    net::Seg pieces[net::SendQueue::kCap];
    int np = 0;
    for (int i = sealed; i < q.n; ++i) {
        pieces[np++] = q.at(i);
        q.bytes -= q.at(i).len;
    }
    q.n = sealed;
    // the block records are being moved into: the last record block when no send reads it and its
    // piece ends where the block does (records made piece after piece fill one block, not one each),
    // else a new one, queued when full or at the end
    net::Block* cur = nullptr;
    bool tail = false;  // cur is the last queued piece's block
    if (sealed > 0 && (!q.inflight || sealed > q.sending_n)) {
        net::Seg& last = q.at(sealed - 1);
        if (last.hb && !last.str && last.bid == net::BufRing::kNone && last.p + last.len == last.hb->data + last.hb->len &&
            last.hb->len < net::Block::kCap) {
            cur = last.hb;
            tail = true;
        }
    }
    const std::uint32_t tail_len = tail ? cur->len : 0;
    auto flush = [&]() {  // cur is complete: queued (or its piece grown), and no longer current
        if (tail) {
            const std::uint32_t grown = cur->len - tail_len;
            q.at(sealed - 1).len += grown;
            q.bytes += grown;
            tail = false;
        } else {
            sendq.push(q, net::Seg{cur->data, cur->len, net::BufRing::kNone, cur});  // its place was kept
        }
        cur = nullptr;
    };
    auto drain = [&]() {
        while (t.pending_out() > 0) {
            if (cur && cur->len == net::Block::kCap) flush();
            if (!cur) {
                if (q.full()) return;  // no place for another block: the rest waits in the record layer
                cur = sendq.new_block();
                if (!cur) {
                    q.broken = true;  // the record stream would have a hole: the connection must close
                    return;
                }
            }
            cur->len += std::uint32_t(t.take_out(cur->data + cur->len, net::Block::kCap - cur->len));
        }
    };
    // one write: its records go straight into the current block (the window) while they fit
    auto write = [&](const char* p, std::size_t n) {
        bool direct = t.sealing();
        if (!direct && n >= kDirectSealMin && t.direct()) {  // decided at the first large piece
            st_.shard.ssl_direct.inc();
            direct = true;
        }
        if (direct) {
            // sealed straight from the piece into blocks, block after block, while the queue has
            // places (tls/seal.hpp); what does not fit waits in the record layer, in order
            while (n > 0 && t.pending_out() == 0 && !q.broken) {
                if (!cur) {
                    if (q.full()) break;
                    cur = sendq.new_block();
                    if (!cur) {
                        q.broken = true;
                        return;
                    }
                }
                std::size_t used = cur->len;
                const std::size_t took = t.seal_into(p, n, cur->data, net::Block::kCap, used);
                cur->len = std::uint32_t(used);
                p += took;
                n -= took;
                if (t.failed()) {
                    q.broken = true;
                    return;
                }
                if (n > 0) flush();  // full
            }
            if (n > 0 && !q.broken && !t.write(p, n)) q.broken = true;
            drain();
            return;
        }
        if (t.pending_out() == 0 && !q.broken) {
            if (cur && cur->len == net::Block::kCap) flush();
            if (!cur && !q.full()) cur = sendq.new_block();
            if (cur) t.set_window(cur->data + cur->len, net::Block::kCap - cur->len);
        }
        if (!t.write(p, n)) q.broken = true;
        if (cur) cur->len += std::uint32_t(t.window_used());
        t.clear_window();
        drain();
    };
    const bool plain_ok = t.established();
    if (plain_ok) {
        // small pieces (a response head and its short body) are staged together so they leave as
        // one record: a record per piece would cost a seal and 22 bytes each, and the peer one more open
        std::size_t staged = 0;
        for (int i = 0; i < np; ++i) {
            net::Seg& sg = pieces[i];
            if (staged + sg.len > sizeof stage_ && staged > 0) {
                write(stage_, staged);
                staged = 0;
            }
            if (sg.len >= sizeof stage_) {
                write(sg.p, sg.len);
            } else {
                std::memcpy(stage_ + staged, sg.p, sg.len);
                staged += sg.len;
            }
            sendq.free(sg);
        }
        if (staged > 0) write(stage_, staged);
    }
    drain();
    if (cur && (tail || cur->len > 0)) flush();
    else if (cur) sendq.blocks.destroy(cur);
    sealed = q.n;
    if (!plain_ok) {
        for (int i = 0; i < np; ++i) {  // back behind the flights, in order
            if (q.full()) {
                q.broken = true;
                sendq.free(pieces[i]);
                continue;
            }
            sendq.push(q, pieces[i]);
        }
    }
    if (q.n == 0) sendq.trim(q);
}

void TlsIo::cert_update(tls::CertUpdate& u, int shard_id) {
    // the addresses of one bind line share its BindTls: each is updated once
    std::vector<const tls::BindTls*> done;
    for (auto& per : binds_)
        for (auto& b : per) {
            if (!b || std::find(done.begin(), done.end(), b.get()) != done.end()) continue;
            done.push_back(b.get());
            if (u.ocsp_only) {
                b->replace_ocsp(u.path, u.ocsp);
                continue;
            }
            std::string error;
            if (b->replace_cert(u.path, u.pem, error) < 0)
                std::fprintf(stderr, "edgeshard: shard %d: commit ssl cert %s: %s\n", shard_id, u.path.c_str(),
                             error.c_str());
        }
    if (u.pending.fetch_sub(1) == 1) delete &u;
}

}  // namespace es::proxy
