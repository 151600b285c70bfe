// The runtime resolvers (dns/resolver.hpp): one Section per `resolvers` section with a UDP socket
// per name server, one Resolution per (section, name, preferred family), one Srv per server that
// resolves. HAProxy 2.6's resolution cycle (src/resolvers.c: process_resolvers,
// resolv_process_responses, resolv_get_ip_from_response; src/server.c: snr_update_srv_status).
#include "edgeshard/dns/resolver.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <random>

#include "edgeshard/dns/wire.hpp"

namespace es::dns {

namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min() / 2;

enum class Status : std::uint8_t { None, Valid, Nx, Timeout, Refused, Other, Invalid };

struct NsCounters {
    std::uint64_t sent = 0, snd_error = 0, valid = 0, update = 0, cname = 0, cname_error = 0, any_err = 0, nx = 0,
                  timeout = 0, refused = 0, other = 0, invalid = 0, too_big = 0, truncated = 0, outdated = 0;
};

struct Ns {
    const config::Nameserver* cfg = nullptr;
    int fd = -1;
    NsCounters c;
};

struct Record {
    config::SockAddr ip;  // port 0
    std::int64_t last_seen = 0;
};

struct SrvRec {
    std::string target;
    std::uint16_t port = 0, weight = 0;
    std::int64_t last_seen = 0;
    int slot = -1;  // the server holding it (index into Impl::srvs), -1: none yet
};

constexpr std::size_t kNone = std::size_t(-1);

struct Resolution {
    std::size_t section = 0;
    std::string name;
    int prefer_type = kTypeAAAA;
    std::vector<std::size_t> requesters;  // indexes into Impl::srvs, configuration order
    bool running = false;
    int query_type = kTypeAAAA;
    int tries = 0;
    std::uint16_t qid = 0;
    std::int64_t last_query = 0;
    std::int64_t last_resolution = kNever;  // end of the last one (kNever: run at once)
    std::int64_t last_valid = kNever;
    int nb_queries = 0, nb_responses = 0;
    Status status = Status::None;
    std::vector<Record> records;
    std::vector<SrvRec> srv_records;  // a SRV resolution's records, in answer order
    // its servers that hold no record, in the order they take one: configuration order at first,
    // a server freed later goes to the end (HAProxy's list of free servers of a SRV request)
    std::deque<std::size_t> free_slots;
};

struct Srv {
    std::size_t be = 0, sv = 0;
    const config::Server* cfg = nullptr;
    std::size_t section = 0;
    std::size_t res = kNone;   // the A/AAAA resolution it follows (kNone: none)
    std::size_t srvq = kNone;  // a SRV label's server: the SRV resolution it takes a record from
    std::string target;        // ... the target of the record it holds ("" : free)
    config::SockAddr cur;     // the address in use (family 0: none)
    config::SockAddr linked;  // the record the server took (family 0: none)
    bool rmaint = false;
};

bool same_ip(const config::SockAddr& a, const config::SockAddr& b) {
    if (a.family() != b.family()) return false;
    if (a.family() == AF_INET)
        return reinterpret_cast<const sockaddr_in&>(a.ss).sin_addr.s_addr ==
               reinterpret_cast<const sockaddr_in&>(b.ss).sin_addr.s_addr;
    if (a.family() == AF_INET6)
        return std::memcmp(&reinterpret_cast<const sockaddr_in6&>(a.ss).sin6_addr,
                           &reinterpret_cast<const sockaddr_in6&>(b.ss).sin6_addr, 16) == 0;
    return false;
}

bool in_net(const config::SockAddr& ip, const config::SockAddr& net, int len) {
    if (ip.family() != net.family()) return false;
    const auto* a = ip.family() == AF_INET ? reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in&>(ip.ss).sin_addr)
                                           : reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in6&>(ip.ss).sin6_addr);
    const auto* b = net.family() == AF_INET ? reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in&>(net.ss).sin_addr)
                                            : reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in6&>(net.ss).sin6_addr);
    for (int i = 0; len > 0; ++i, len -= 8) {
        const std::uint8_t mask = len >= 8 ? 0xff : std::uint8_t(0xff << (8 - len));
        if ((a[i] & mask) != (b[i] & mask)) return false;
    }
    return true;
}

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

struct Resolver::Impl {
    const config::Config& cfg;
    Hooks hooks;
    int epfd = -1;
    struct Section {
        const config::Resolvers* cfg = nullptr;
        std::vector<Ns> ns;
    };
    std::vector<Section> sections;
    std::deque<Resolution> res;  // deque: a reference stays valid while resolutions are added
    std::vector<Srv> srvs;
    std::vector<std::vector<int>> by_server;  // [be][sv] -> index into srvs, -1: not resolved
    std::mt19937 rng{std::random_device{}()};

    Impl(const config::Config& c, Hooks h) : cfg(c), hooks(std::move(h)) {}
    ~Impl() {
        for (auto& s : sections)
            for (auto& n : s.ns)
                if (n.fd >= 0) ::close(n.fd);
        if (epfd >= 0) ::close(epfd);
    }

    std::size_t resolution_for(std::size_t section, const std::string& name, int family) {
        const int type = family == 0 ? kTypeSRV : family == AF_INET ? kTypeA : kTypeAAAA;
        for (std::size_t i = 0; i < res.size(); ++i)
            if (res[i].section == section && res[i].prefer_type == type && same_name(res[i].name, name)) return i;
        Resolution r;
        r.section = section;
        r.name = name;
        r.prefer_type = r.query_type = type;
        res.push_back(std::move(r));
        return res.size() - 1;
    }

    void open_sockets() {
        for (auto& s : sections) {
            for (auto& n : s.ns) {
                n.fd = ::socket(n.cfg->addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (n.fd < 0) continue;
                // connected: only this name server's datagrams are read from it
                if (::connect(n.fd, reinterpret_cast<const sockaddr*>(&n.cfg->addr.ss), n.cfg->addr.len) != 0) {
                    ::close(n.fd);
                    n.fd = -1;
                    continue;
                }
                if (epfd < 0) epfd = ::epoll_create1(EPOLL_CLOEXEC);
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.fd = n.fd;
                if (epfd >= 0) ::epoll_ctl(epfd, EPOLL_CTL_ADD, n.fd, &ev);
            }
        }
    }

    void send_query(Resolution& r, std::int64_t now) {
        Section& s = sections[r.section];
        r.nb_queries = r.nb_responses = 0;
        r.last_query = now;
        const auto q = build_query(r.name, r.query_type, r.qid, s.cfg->accepted_payload_size);
        if (q.empty()) return;
        for (auto& n : s.ns) {
            if (n.fd >= 0 && ::send(n.fd, q.data(), q.size(), 0) == ssize_t(q.size())) {
                ++n.c.sent;
                ++r.nb_queries;
            } else {
                ++n.c.snd_error;
            }
        }
    }

    void start(Resolution& r, std::int64_t now) {
        // a fresh id, unused by the section's running resolutions
        for (int i = 0; i < 100; ++i) {
            r.qid = std::uint16_t(rng());
            bool taken = false;
            for (const auto& o : res)
                if (&o != &r && o.running && o.section == r.section && o.qid == r.qid) taken = true;
            if (!taken) break;
        }
        r.running = true;
        r.query_type = r.prefer_type;
        r.tries = sections[r.section].cfg->resolve_retries - 1;
        send_query(r, now);
    }

    void reset(Resolution& r, std::int64_t now) {
        r.running = false;
        r.tries = 0;
        r.last_resolution = now;
        r.nb_queries = r.nb_responses = 0;
        r.query_type = r.prefer_type;
    }

    int other_type(int t) const { return t == kTypeA ? kTypeAAAA : t == kTypeAAAA ? kTypeA : t; }

    // ---- servers ------------------------------------------------------------------------------

    enum class Pick { Keep, New, NoIp };

    // resolv_get_ip_from_response: the record the server should use.
    Pick pick(Resolution& r, Srv& s, config::SockAddr& out) {
        if (s.linked.family() != 0)
            for (const auto& rec : r.records)
                if (same_ip(rec.ip, s.linked)) return Pick::Keep;  // its record lives: nothing to do
        int best = -1, max_score = -1;
        for (std::size_t i = 0; i < r.records.size(); ++i) {
            const config::SockAddr& ip = r.records[i].ip;
            int score = 0;
            if (ip.family() == s.cfg->resolve_family) score += 8;
            for (const auto& [net, len] : s.cfg->resolve_net)
                if (in_net(ip, net, len)) {
                    score += 4;
                    break;
                }
            bool used = false;
            for (std::size_t k : r.requesters) {
                const Srv& o = srvs[k];
                if (&o != &s && o.be == s.be && same_ip(o.linked, ip)) used = true;
            }
            if (used && !s.cfg->allow_dup_ip) continue;
            if (!used) score += 2;
            const bool current = same_ip(ip, s.cur);
            if (current) score += 1;
            if (score > max_score) {
                best = int(i);
                max_score = score;
                if (score == 15) break;
            }
        }
        if (best < 0) return Pick::NoIp;
        out = r.records[std::size_t(best)].ip;
        s.linked = out;
        if (max_score < 15 && r.records.size() > 1) std::rotate(r.records.begin(), r.records.begin() + 1, r.records.end());
        return same_ip(out, s.cur) ? Pick::Keep : Pick::New;
    }

    void leave(Srv& s, const std::string& reason) {
        s.cur = config::SockAddr{};
        s.linked = config::SockAddr{};
        if (s.rmaint) return;
        s.rmaint = true;
        if (hooks.set_rmaint) hooks.set_rmaint(s.be, s.sv, true, reason);
    }

    void come_back(Srv& s, std::string_view by = kByAnswer) {
        if (!s.rmaint) return;
        s.rmaint = false;
        if (hooks.set_rmaint) hooks.set_rmaint(s.be, s.sv, false, std::string(by));
    }

    // ---- SRV labels ---------------------------------------------------------------------------

    void follow(Srv& s, const std::string& name, std::int64_t now) {
        if (s.res != kNone) std::erase(res[s.res].requesters, std::size_t(&s - srvs.data()));
        s.res = kNone;
        s.linked = config::SockAddr{};
        if (name.empty()) return;
        const std::size_t r = resolution_for(s.section, name, s.cfg->resolve_family);
        s.res = r;
        res[r].requesters.push_back(std::size_t(&s - srvs.data()));
        if (!res[r].running) start(res[r], now);  // at once, as HAProxy does
    }

    void free_slot(Srv& s, std::int64_t now) {
        follow(s, {}, now);
        s.target.clear();
        res[s.srvq].free_slots.push_back(std::size_t(&s - srvs.data()));
        leave(s, "entry removed from SRV record");  // out of service before its port goes
        if (hooks.srv_target) hooks.srv_target(s.be, s.sv, {}, 0, -1);
    }

    static int ha_weight(const SrvRec& rec) { return (rec.weight + 255) / 256; }

    // resolv_check_response for SRV records: records kept, added, dropped; servers filled or freed.
    void on_srv_valid(Resolution& r, const Answer& a, std::int64_t now) {
        Section& sec = sections[r.section];
        for (const auto& s : a.srv) {
            auto it = std::find_if(r.srv_records.begin(), r.srv_records.end(), [&](const SrvRec& x) {
                return x.port == s.port && same_name(x.target, s.target);
            });
            if (it != r.srv_records.end()) {
                it->last_seen = now;
                if (it->weight != s.weight && it->slot >= 0 && !srvs[std::size_t(it->slot)].cfg->ignore_weight &&
                    hooks.srv_target) {
                    it->weight = s.weight;
                    const Srv& o = srvs[std::size_t(it->slot)];
                    hooks.srv_target(o.be, o.sv, o.target, it->port, ha_weight(*it));
                }
                it->weight = s.weight;
            } else {
                r.srv_records.push_back(SrvRec{s.target, s.port, s.weight, now, -1});
            }
        }
        const std::int64_t obsolete = sec.cfg->hold_obsolete_ms;
        for (auto& rec : r.srv_records)
            if (rec.last_seen + obsolete < now && rec.slot >= 0) free_slot(srvs[std::size_t(rec.slot)], now);
        std::erase_if(r.srv_records, [&](const SrvRec& x) { return x.last_seen + obsolete < now; });
        for (auto& rec : r.srv_records) {
            if (rec.slot < 0) {
                if (r.free_slots.empty()) continue;  // every server holds a record already
                rec.slot = int(r.free_slots.front());
                r.free_slots.pop_front();
                Srv& s = srvs[std::size_t(rec.slot)];
                s.target = rec.target;
                if (hooks.srv_target)
                    hooks.srv_target(s.be, s.sv, s.target, rec.port, s.cfg->ignore_weight ? -1 : ha_weight(rec));
            }
            Srv& s = srvs[std::size_t(rec.slot)];
            const config::SockAddr* extra = nullptr;
            for (const auto& [n, ip] : a.additional)
                if (same_name(n, rec.target) && (extra == nullptr || ip.family() == s.cfg->resolve_family)) extra = &ip;
            if (extra) {  // the answer carried the address: no query of its own
                if (s.res != kNone) follow(s, {}, now);
                if (!same_ip(*extra, s.cur)) {
                    s.cur = *extra;
                    if (hooks.set_addr) hooks.set_addr(s.be, s.sv, *extra, std::string(kBySrv));
                }
                come_back(s, kBySrv);
            } else if (s.res == kNone) {
                follow(s, rec.target, now);  // resolved on its own (it stays in maintenance until then)
            }
        }
    }

    void on_valid(Resolution& r, std::size_t ns_index) {
        Section& sec = sections[r.section];
        NsCounters* counters = &sec.ns[ns_index].c;
        for (std::size_t k : r.requesters) {
            Srv& s = srvs[k];
            config::SockAddr ip;
            const Pick p = pick(r, s, ip);
            if (p == Pick::NoIp) {
                leave(s, "No IP for server ");
            } else {
                if (p == Pick::New) {
                    const std::string by = counters ? sec.cfg->name + "/" + sec.ns[ns_index].cfg->name : "DNS cache";
                    if (counters) ++counters->update;
                    s.cur = ip;
                    if (hooks.set_addr) hooks.set_addr(s.be, s.sv, ip, by);
                }
                come_back(s);
            }
            counters = nullptr;  // the first requester is the one the name server answered
        }
    }

    void on_error(Resolution& r, std::int64_t now) {
        const config::Resolvers& rc = *sections[r.section].cfg;
        const int hold = r.status == Status::Nx        ? rc.hold_nx_ms
                         : r.status == Status::Timeout ? rc.hold_timeout_ms
                         : r.status == Status::Refused ? rc.hold_refused_ms
                                                       : rc.hold_other_ms;
        if (r.last_valid != kNever && now < r.last_valid + hold) return;  // keep the servers as they are
        const char* why = r.status == Status::Nx        ? "DNS NX status"
                          : r.status == Status::Timeout ? "DNS timeout status"
                          : r.status == Status::Refused ? "DNS refused status"
                                                        : "unspecified DNS error";
        if (r.prefer_type == kTypeSRV) {  // the SRV name fails: every server gives its record up
            for (auto& rec : r.srv_records)
                if (rec.slot >= 0) free_slot(srvs[std::size_t(rec.slot)], now);
            r.srv_records.clear();
            return;
        }
        for (std::size_t k : r.requesters) leave(srvs[k], why);
        r.records.clear();
    }

    // ---- answers --------------------------------------------------------------------------------

    void on_answer(Section& sec, std::size_t ns_index, std::span<const std::uint8_t> msg, std::int64_t now) {
        NsCounters& c = sec.ns[ns_index].c;
        if (int(msg.size()) > sec.cfg->accepted_payload_size) {
            ++c.too_big;
            return;
        }
        const int id = message_id(msg);
        Resolution* r = nullptr;
        const std::size_t si = std::size_t(&sec - sections.data());
        for (auto& o : res)
            if (o.running && o.section == si && int(o.qid) == id) r = &o;
        if (id < 0) {
            ++c.invalid;
            return;
        }
        if (!r) {
            ++c.outdated;
            return;
        }
        ++r->nb_responses;
        const Answer a = parse_answer(msg, r->name, r->query_type);
        switch (a.verdict) {
            case Verdict::Valid: break;
            case Verdict::Invalid: r->status = Status::Invalid; ++c.invalid; break;
            case Verdict::Nx: r->status = Status::Nx; ++c.nx; break;
            case Verdict::Refused: r->status = Status::Refused; ++c.refused; break;
            case Verdict::AnyErr: r->status = Status::Other; ++c.any_err; break;
            case Verdict::Truncated: r->status = Status::Other; ++c.truncated; break;
            case Verdict::Other: r->status = Status::Other; ++c.other; break;
        }
        if (a.verdict != Verdict::Valid) {
            if (r->nb_responses < r->nb_queries) return;  // the others may still answer well
            if (r->prefer_type != r->query_type) {
                if (r->tries == 0) {  // fallback done, nothing left to try
                    on_error(*r, now);
                    reset(*r, now);
                }
                return;  // else the retry timer sends the preferred type again
            }
            if (r->prefer_type == kTypeSRV) return;  // no other type to try: the retry timer sends again
            r->query_type = other_type(r->prefer_type);  // the other type, at once, for free
            send_query(*r, now);
            return;
        }
        c.cname += std::uint64_t(a.cnames);
        ++c.valid;
        r->status = Status::Valid;
        r->last_valid = now;
        if (r->prefer_type == kTypeSRV) {
            on_srv_valid(*r, a, now);
            reset(*r, now);
            return;
        }
        for (const auto& ip : a.addrs) {
            auto it = std::find_if(r->records.begin(), r->records.end(), [&](const Record& x) { return same_ip(x.ip, ip); });
            if (it != r->records.end()) it->last_seen = now;
            else r->records.push_back(Record{ip, now});
        }
        const std::int64_t obsolete = sec.cfg->hold_obsolete_ms;
        std::erase_if(r->records, [&](const Record& x) { return x.last_seen + obsolete < now; });
        on_valid(*r, ns_index);
        reset(*r, now);
    }

    void read_all(std::int64_t now) {
        static thread_local std::vector<std::uint8_t> buf(65536 + 1);
        for (auto& sec : sections) {
            for (std::size_t i = 0; i < sec.ns.size(); ++i) {
                if (sec.ns[i].fd < 0) continue;
                for (int n = 0; n < 256; ++n) {
                    const ssize_t got = ::recv(sec.ns[i].fd, buf.data(), buf.size(), 0);
                    if (got < 0) break;  // EAGAIN, or a refused port (ICMP): the retry timer covers it
                    on_answer(sec, i, std::span<const std::uint8_t>(buf.data(), std::size_t(got)), now);
                }
            }
        }
    }

    void timers(std::int64_t now) {
        for (auto& r : res) {
            if (r.requesters.empty()) continue;
            const config::Resolvers& rc = *sections[r.section].cfg;
            if (r.running) {
                if (now < r.last_query + rc.timeout_retry_ms) continue;
                if (r.tries == 0) {
                    if (r.nb_responses == 0) {
                        r.status = Status::Timeout;
                        for (auto& n : sections[r.section].ns) ++n.c.timeout;
                    }
                    on_error(r, now);
                    reset(r, now);
                    continue;
                }
                if (r.nb_responses == 0 || r.prefer_type != r.query_type || r.prefer_type == kTypeSRV) {
                    r.query_type = r.prefer_type;
                    --r.tries;
                } else {
                    r.query_type = other_type(r.prefer_type);
                }
                send_query(r, now);
                continue;
            }
            if (now >= r.last_resolution + rc.timeout_resolve_ms) start(r, now);
        }
    }
};

Resolver::Resolver(const config::Config& cfg, Hooks hooks)
    : impl_(std::make_unique<Impl>(cfg, std::move(hooks))) {
    Impl& m = *impl_;
    m.sections.resize(cfg.resolvers.size());
    for (std::size_t i = 0; i < cfg.resolvers.size(); ++i) {
        m.sections[i].cfg = &cfg.resolvers[i];
        for (const auto& n : cfg.resolvers[i].nameservers) m.sections[i].ns.push_back(Ns{&n, -1, {}});
    }
    m.by_server.resize(cfg.backends.size());
    for (std::size_t b = 0; b < cfg.backends.size(); ++b) {
        m.by_server[b].assign(cfg.backends[b].servers.size(), -1);
        for (std::size_t k = 0; k < cfg.backends[b].servers.size(); ++k) {
            const config::Server& s = cfg.backends[b].servers[k];
            if (s.resolvers < 0) continue;
            Srv srv;
            srv.be = b;
            srv.sv = k;
            srv.cfg = &s;
            srv.section = std::size_t(s.resolvers);
            srv.rmaint = s.unresolved;
            if (!s.unresolved) {
                srv.cur = s.addr;
                srv.cur.set_port(0);
            }
            if (s.srv_label) srv.srvq = m.resolution_for(srv.section, s.hostname, 0);
            else if (!s.hostname.empty()) srv.res = m.resolution_for(srv.section, s.hostname, s.resolve_family);
            m.by_server[b][k] = int(m.srvs.size());
            m.srvs.push_back(srv);
        }
    }
    for (std::size_t i = 0; i < m.srvs.size(); ++i) {
        if (m.srvs[i].res != kNone) m.res[m.srvs[i].res].requesters.push_back(i);
        if (m.srvs[i].srvq != kNone) {
            m.res[m.srvs[i].srvq].requesters.push_back(i);
            m.res[m.srvs[i].srvq].free_slots.push_back(i);
        }
    }
    if (!m.srvs.empty()) m.open_sockets();
}

Resolver::~Resolver() = default;

int Resolver::fd() const { return impl_->epfd; }

std::int64_t Resolver::next_due_ms() const {
    std::int64_t due = std::numeric_limits<std::int64_t>::max();
    for (const auto& r : impl_->res) {
        if (r.requesters.empty()) continue;
        const config::Resolvers& rc = *impl_->sections[r.section].cfg;
        due = std::min(due, r.running ? r.last_query + rc.timeout_retry_ms
                                      : (r.last_resolution == kNever ? 0 : r.last_resolution + rc.timeout_resolve_ms));
    }
    return due;
}

void Resolver::run(std::int64_t now_ms) {
    if (impl_->epfd < 0) return;
    impl_->read_all(now_ms);  // every socket, until EAGAIN: the (level-triggered) descriptor is then quiet
    impl_->timers(now_ms);
}

bool Resolver::show(std::string_view section, std::string& out) const {
    bool found = section.empty();
    for (const auto& s : impl_->sections) {
        if (!section.empty() && s.cfg->name != section) continue;
        found = true;
        out.append("Resolvers section ").append(s.cfg->name).push_back('\n');
        for (const auto& n : s.ns) {
            const NsCounters& c = n.c;
            auto line = [&](const char* k, std::uint64_t v) { out.append(k).append(std::to_string(v)).push_back('\n'); };
            out.append(" nameserver ").append(n.cfg->name).append(":\n");
            line("  sent:        ", c.sent);
            line("  snd_error:   ", c.snd_error);
            line("  valid:       ", c.valid);
            line("  update:      ", c.update);
            line("  cname:       ", c.cname);
            line("  cname_error: ", c.cname_error);
            line("  any_err:     ", c.any_err);
            line("  nx:          ", c.nx);
            line("  timeout:     ", c.timeout);
            line("  refused:     ", c.refused);
            line("  other:       ", c.other);
            line("  invalid:     ", c.invalid);
            line("  too_big:     ", c.too_big);
            line("  truncated:   ", c.truncated);
            line("  outdated:    ", c.outdated);
        }
        out.push_back('\n');
    }
    return found;
}

bool Resolver::resolves(std::size_t be, std::size_t sv) const {
    return be < impl_->by_server.size() && sv < impl_->by_server[be].size() && impl_->by_server[be][sv] >= 0;
}

std::string Resolver::set_fqdn(std::size_t be, std::size_t sv, std::string_view name, std::int64_t now_ms) {
    if (!resolves(be, sv)) return "no resolvers";
    Impl& m = *impl_;
    const std::size_t k = std::size_t(m.by_server[be][sv]);
    Srv& s = m.srvs[k];
    if (s.srvq != kNone) return "srv";
    m.follow(s, std::string(name), now_ms);
    return {};
}

void Resolver::set_current(std::size_t be, std::size_t sv, const config::SockAddr& ip) {
    if (!resolves(be, sv)) return;
    Srv& s = impl_->srvs[std::size_t(impl_->by_server[be][sv])];
    s.cur = ip;
    s.cur.set_port(0);
}

}  // namespace es::dns
