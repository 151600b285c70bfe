#include "h1_harness.hpp"

#include <doctest/doctest.h>
#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <sstream>

#include "edgeshard/config/parser.hpp"
#include "edgeshard/core/assert.hpp"
#include "edgeshard/proxy/ops.hpp"
#include "edgeshard/shard/probe.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/shard/user_data.hpp"

namespace es::proxy::test {

using shard::UserData;

namespace {
// the bytes a msghdr hands the kernel (no assertion here: dump() runs inside the reporter)
std::string iov_bytes(const msghdr* m) {
    std::string out;
    for (std::size_t i = 0; m && i < std::size_t(m->msg_iovlen); ++i)
        out.append(static_cast<const char*>(m->msg_iov[i].iov_base), m->msg_iov[i].iov_len);
    return out;
}
}  // namespace

std::string kind_name(Kind k) {
    switch (k) {
        case SideOp::Recv: return "Recv";
        case SideOp::CancelRecv: return "CancelRecv";
        case SideOp::Socket: return "Socket";
        case SideOp::Connect: return "Connect";
        case SideOp::Send: return "Send";
        case SideOp::Shutdown: return "Shutdown";
        case SideOp::Poll: return "Poll";
        case SideOp::Install: return "Install";
        case SideOp::Close: return "Close";
        case SideOp::CloseSlot: return "CloseSlot";
    }
    return "?";
}

bool H1Harness::available() {
    static const bool ok = shard::probe_io_uring().ok;
    return ok;
}

std::string H1Harness::config(std::string_view backend_lines, std::string_view frontend_lines,
                              std::string_view global_lines) {
    auto indent = [](std::string_view lines) {
        std::string out;
        while (!lines.empty()) {
            const std::size_t nl = lines.find('\n');
            const std::string_view line = lines.substr(0, nl);
            if (!line.empty()) out += "    " + std::string(line) + "\n";
            lines = nl == std::string_view::npos ? std::string_view() : lines.substr(nl + 1);
        }
        return out;
    };
    return "global\n" + indent(global_lines) +
           "defaults\n"
           "    mode http\n"
           "    timeout connect 5s\n"
           "    timeout client 30s\n"
           "    timeout server 30s\n"
           "frontend fe\n"
           "    bind 127.0.0.1:8080\n"
           "    default_backend be\n" +
           indent(frontend_lines) +
           "backend be\n"
           "    server s1 127.0.0.1:9\n" +
           indent(backend_lines);
}

H1Harness::H1Harness(const std::string& cfg_text)
    : cfg_(std::make_unique<config::Config>(config::load_text(cfg_text, "h1-harness.cfg"))),
      stats_(std::make_unique<stats::ShardStats>()) {
    shard::make_stats(*stats_, *cfg_);
    shard::Reactor::Params rp;
    rp.sq_entries = unsigned(cfg_->global.ring_entries);
    rp.files = 64;
    reactor_ = std::make_unique<shard::Reactor>(rp, stats_->shard);
    params_.fe_limits.assign(cfg_->frontends.size(), 0);
    worker_ = std::make_unique<Worker>(*cfg_, params_, *reactor_, *stats_);
    worker_->set_side_recorder(this);
    bugs_at_start_ = core::bug_count();
}

H1Harness::~H1Harness() {
    if (std::uncaught_exceptions() == 0) {
        finish();
        return;
    }
    // a failed REQUIRE is unwinding: release what can be released, without more assertions
    try {
        stop_and_drain();
    } catch (...) {
    }
}

// ---------------------------------------------------------------- recording

void H1Harness::op(const SideOp& o) {
    Recorded r;
    r.op = o;
    r.seq = int(log_.size());
    if (o.kind == SideOp::Socket) r.family = o.slot;
    log_.push_back(r);
    expected_.push_back(false);
    const int q = r.seq;
    switch (o.kind) {
        case SideOp::Recv: pending_.push_back({q, o.ud, o.kind, o.slot, o.flag}); break;
        case SideOp::Connect:
            pending_.push_back({q, o.ud, o.kind, o.slot});
            if (o.ud2) pending_.push_back({q, o.ud2, o.kind, o.slot, false, true});
            break;
        case SideOp::Close:
            pending_.push_back({q, o.ud2, o.kind, o.slot, false, false, true});
            if (!o.flag) pending_.push_back({q, o.ud, o.kind, o.slot});
            break;
        case SideOp::Socket: pending_.push_back({q, o.ud, o.kind, -1}); break;
        default: pending_.push_back({q, o.ud, o.kind, o.slot}); break;
    }
}

H1Harness::Pending* H1Harness::find_pending(std::uint64_t ud, bool timeout, bool cancel_all) {
    for (Pending& p : pending_)
        if (p.ud == ud && p.timeout == timeout && p.cancel_all == cancel_all) return &p;
    return nullptr;
}

void H1Harness::drop_pending(std::uint64_t ud, bool timeout, bool cancel_all) {
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if (it->ud == ud && it->timeout == timeout && it->cancel_all == cancel_all) {
            pending_.erase(it);
            return;
        }
    }
}

const H1Harness::Pending* H1Harness::armed_recv(int slot) const {
    for (const Pending& p : pending_)
        if (p.kind == SideOp::Recv && p.slot == slot) return &p;
    return nullptr;
}

std::string H1Harness::dump() const {
    std::ostringstream os;
    os << "recorded ops (* = expected already, ~ = in flight):\n";
    for (std::size_t i = 0; i < log_.size(); ++i) {
        const Recorded& r = log_[i];
        bool flight = false;
        for (const Pending& p : pending_) flight = flight || p.seq == r.seq;
        os << "  " << (expected_[i] ? '*' : ' ') << (flight ? '~' : ' ') << " #" << r.seq << ' '
           << kind_name(r.op.kind);
        if (r.op.kind == SideOp::Socket) os << " family=" << r.family;
        else os << " slot=" << r.op.slot;
        os << ' ' << op_name(UserData::unpack(r.op.ud).op);
        if (r.op.kind == SideOp::Recv) os << (r.op.flag ? " multishot" : " single");
        if (r.op.kind == SideOp::Close && r.op.flag) os << " (deferred: SHUT_WR in flight)";
        if (r.op.kind == SideOp::Send && flight) os << " " << iov_bytes(r.op.msg).size() << " bytes";
        os << '\n';
    }
    return os.str();
}

Recorded H1Harness::expect(Kind k, int slot) {
    for (std::size_t i = 0; i < log_.size(); ++i) {
        if (expected_[i] || log_[i].slot() != slot) continue;
        INFO(dump());
        REQUIRE_MESSAGE(kind_name(log_[i].op.kind) == kind_name(k), "slot ", slot, ": expected ", kind_name(k), ", next is ",
                        kind_name(log_[i].op.kind), " (#", log_[i].seq, ")");
        expected_[i] = true;
        return log_[i];
    }
    INFO(dump());
    FAIL("slot ", slot, ": expected ", kind_name(k), ", nothing new was recorded on it");
    return {};
}

Recorded H1Harness::expect_socket() {
    for (std::size_t i = 0; i < log_.size(); ++i) {
        if (expected_[i] || log_[i].op.kind != SideOp::Socket) continue;
        expected_[i] = true;
        return log_[i];
    }
    INFO(dump());
    FAIL("expected a Socket op, none was recorded");
    return {};
}

void H1Harness::expect_quiet(int slot) {
    for (std::size_t i = 0; i < log_.size(); ++i) {
        if (expected_[i] || log_[i].slot() != slot) continue;
        INFO(dump());
        FAIL("slot ", slot, ": nothing new expected, but ", kind_name(log_[i].op.kind), " (#", log_[i].seq,
             ") was recorded");
    }
}

bool H1Harness::recorded(Kind k) const {
    return std::any_of(log_.begin(), log_.end(), [k](const Recorded& r) { return r.op.kind == k; });
}

bool H1Harness::in_flight(Kind k, int slot) const {
    return std::any_of(pending_.begin(), pending_.end(),
                       [&](const Pending& p) { return p.kind == k && p.slot == slot && !p.timeout && !p.cancel_all; });
}

// ---------------------------------------------------------------- completions

void H1Harness::accept(int slot) { worker_->accept_conn(slot, 0, nullptr); }

void H1Harness::end_turn() { worker_->end_of_turn(); }

void H1Harness::cqe(std::uint64_t ud, int res, std::uint32_t flags) { worker_->on_cqe(shard::Cqe{ud, res, flags}); }

void H1Harness::deliver(int slot, std::string_view bytes, bool more) {
    const Pending* p = armed_recv(slot);
    INFO(dump());
    REQUIRE_MESSAGE(p != nullptr, "slot ", slot, ": no receive armed");
    REQUIRE(!bytes.empty());
    const std::uint64_t ud = p->ud;
    const bool multishot = p->multishot;
    const net::BufRing& bufs = worker_->buffers();
    while (!bytes.empty()) {
        REQUIRE_MESSAGE(next_bid_ < bufs.count(), "out of fresh buffer ids (tune.es.buffers ", bufs.count(), ")");
        const auto bid = std::uint16_t(next_bid_++);
        const std::size_t n = std::min<std::size_t>(bytes.size(), bufs.size());
        std::memcpy(bufs.data(bid), bytes.data(), n);
        bytes.remove_prefix(n);
        // a single-shot receive fills one buffer and ends
        const bool last = bytes.empty() || !multishot;
        const bool f_more = multishot && (!last || more);
        std::uint32_t flags = IORING_CQE_F_BUFFER | (std::uint32_t(bid) << IORING_CQE_BUFFER_SHIFT);
        if (f_more) flags |= IORING_CQE_F_MORE;
        if (!f_more) drop_pending(ud);
        cqe(ud, int(n), flags);
        if (!multishot) break;
    }
    REQUIRE_MESSAGE(bytes.empty(), "slot ", slot, ": a single-shot receive took one buffer, bytes are left");
}

void H1Harness::end_recv(int slot, int res) {
    const Pending* p = armed_recv(slot);
    INFO(dump());
    REQUIRE_MESSAGE(p != nullptr, "slot ", slot, ": no receive armed");
    const std::uint64_t ud = p->ud;
    drop_pending(ud);
    cqe(ud, res, 0);
}

int H1Harness::complete_socket(const Recorded& r) {
    REQUIRE(r.op.kind == SideOp::Socket);
    REQUIRE(find_pending(r.op.ud));
    drop_pending(r.op.ud);
    const int slot = next_server_slot_++;
    server_uds_.emplace_back(slot, r.op.ud);
    cqe(r.op.ud, slot, 0);
    return slot;
}

void H1Harness::complete_connect(const Recorded& r, int res) {
    REQUIRE(r.op.kind == SideOp::Connect);
    REQUIRE(find_pending(r.op.ud));
    drop_pending(r.op.ud);
    cqe(r.op.ud, res, 0);
    if (r.op.ud2 && find_pending(r.op.ud2, true)) {
        drop_pending(r.op.ud2, true);
        cqe(r.op.ud2, -ECANCELED, 0);  // the linked timeout: its connect completed first
    }
}

std::string H1Harness::sent(const Recorded& r) const {
    REQUIRE(r.op.kind == SideOp::Send);
    REQUIRE(r.op.msg != nullptr);
    return iov_bytes(r.op.msg);
}

std::string H1Harness::complete_send(const Recorded& r, int n) {
    INFO(dump());
    REQUIRE(r.op.kind == SideOp::Send);
    const Pending* p = find_pending(r.op.ud);
    REQUIRE_MESSAGE((p && p->seq == r.seq), "send #", r.seq, " is not in flight");
    std::string bytes = sent(r);
    REQUIRE(n <= int(bytes.size()));
    if (n >= 0) bytes.resize(std::size_t(n));
    drop_pending(r.op.ud);
    cqe(r.op.ud, int(bytes.size()), 0);
    return bytes;
}

void H1Harness::complete_cancel(const Recorded& r) {
    REQUIRE(r.op.kind == SideOp::CancelRecv);
    REQUIRE(find_pending(r.op.ud));
    const bool armed = find_pending(r.op.ud2) != nullptr;
    if (armed) {
        drop_pending(r.op.ud2);
        cqe(r.op.ud2, -ECANCELED, 0);
    }
    drop_pending(r.op.ud);
    cqe(r.op.ud, armed ? 0 : -ENOENT, 0);
}

void H1Harness::complete_close(const Recorded& r) {
    REQUIRE(r.op.kind == SideOp::Close);
    REQUIRE(find_pending(r.op.ud2, false, true));
    int n = 0;
    for (;;) {  // the cancel of every op on the slot: each completes with -ECANCELED first
        auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) {
            return p.slot == r.op.slot && !p.cancel_all && p.ud != r.op.ud && p.kind != SideOp::Close &&
                   p.kind != SideOp::CloseSlot;
        });
        if (it == pending_.end()) break;
        const Pending p = *it;
        pending_.erase(it);
        ++n;
        cqe(p.ud, -ECANCELED, 0);
    }
    drop_pending(r.op.ud2, false, true);
    cqe(r.op.ud2, n > 0 ? n : -ENOENT, 0);
    if (!r.op.flag) {
        drop_pending(r.op.ud);
        cqe(r.op.ud, 0, 0);
    }
}

void H1Harness::complete(const Recorded& r, int res, std::uint32_t flags) {
    INFO(dump());
    REQUIRE_MESSAGE(find_pending(r.op.ud), kind_name(r.op.kind), " #", r.seq, " is not in flight");
    if (!(flags & IORING_CQE_F_MORE)) drop_pending(r.op.ud);
    cqe(r.op.ud, res, flags);
}

// ---------------------------------------------------------------- shortcuts

int H1Harness::open_server() {
    const Recorded so = expect_socket();
    const int slot = complete_socket(so);
    complete_connect(expect(SideOp::Connect, slot));
    const Recorded rv = expect(SideOp::Recv, slot);
    CHECK(rv.op.flag);  // multishot
    return slot;
}

std::string H1Harness::send_done(int slot) {
    return complete_send(expect(SideOp::Send, slot));
}

std::string H1Harness::drain_sends(int slot) {
    std::string out;
    while (in_flight(SideOp::Send, slot)) out += send_done(slot);
    return out;
}

H1Conn& H1Harness::session(int slot) const { return *UserData::unpack(owner_ud(slot, false)).ptr<H1Conn>(); }

H1SrvConn& H1Harness::conn(int slot) const { return *UserData::unpack(owner_ud(slot, true)).ptr<H1SrvConn>(); }

std::uint64_t H1Harness::owner_ud(int slot, bool server) const {
    const OpOwner want = server ? OpOwner::HttpServer : OpOwner::HttpClient;
    for (auto it = log_.rbegin(); it != log_.rend(); ++it)
        if (it->slot() == slot && op_owner(UserData::unpack(it->op.ud).op) == want) return it->op.ud;
    if (server)
        for (const auto& [s, ud] : server_uds_)
            if (s == slot) return ud;
    INFO(dump());
    FAIL("no ", server ? "server connection" : "client connection", " on slot ", slot);
    return 0;
}

// ---------------------------------------------------------------- the end

void H1Harness::finish() {
    if (finished_) return;
    stop_and_drain();
    INFO(dump());
    CHECK_MESSAGE(pending_.empty(), "ops still in flight after the stop");
    CHECK_MESSAGE(worker_->done(), "the worker still holds connections after the stop");
    CHECK_MESSAGE(worker_->buffers().out() == 0, "provided buffers still held: ", worker_->buffers().out());
    CHECK_MESSAGE(core::bug_count() == bugs_at_start_, "ES_BUG hit during the test");
}

// What a hard stop leaves in flight completes as the kernel completes it: receives, sends and
// connects cancelled, cancels and closes done, a socket still being made given a slot (which the
// proxy then closes), one turn at a time until nothing is left.
void H1Harness::stop_and_drain() {
    finished_ = true;
    worker_->on_message(shard::Message{shard::Message::kStop, 0, 0});
    for (int round = 0; round < 64 && !(pending_.empty() && worker_->done()); ++round) {
        const std::vector<Pending> now = pending_;
        for (const Pending& p : now) {
            if (!find_pending(p.ud, p.timeout, p.cancel_all)) continue;  // completed meanwhile
            int res = 0;
            switch (p.kind) {
                case SideOp::Recv:
                case SideOp::Send:
                case SideOp::Connect:
                case SideOp::Poll:
                case SideOp::Install: res = -ECANCELED; break;
                case SideOp::Socket: res = next_server_slot_++; break;
                default: res = 0; break;
            }
            drop_pending(p.ud, p.timeout, p.cancel_all);
            cqe(p.ud, res, 0);
        }
        end_turn();
    }
}

}  // namespace es::proxy::test
