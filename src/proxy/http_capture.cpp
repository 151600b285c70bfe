// Worker, HTTP/1.1: captures (`capture request|response header`, `capture cookie`, `declare
// capture`, `http-request|http-response capture`), kept with the exchange's notes for its log line.
//
// A frontend's slots live in one block per exchange, taken from a pool when the exchange's first
// capture is stored (only frontends that log have notes, and only those with slots pay anything):
// per slot a 16-bit length (-1: nothing captured) and room for `len` bytes, then the two cookie
// captures. HAProxy's rules: header captures are taken when the head arrives, before any rule, the
// last occurrence of a header wins (its value without surrounding blanks, cut to `len`); a cookie
// capture takes the first request cookie (over every Cookie line) and the first Set-Cookie whose
// "name=value" starts with the configured prefix, as "name=value" cut to `len`.
#include <cstring>

#include "edgeshard/proxy/h1.hpp"
#include "edgeshard/proxy/worker.hpp"
#include "http_internal.hpp"

namespace es::proxy {

namespace {

constexpr std::size_t kSlotHead = sizeof(std::int16_t);

void store(char* slot, int cap, std::string_view v) {
    const std::int16_t n = std::int16_t(std::min<std::size_t>(v.size(), std::size_t(cap)));
    std::memcpy(slot, &n, kSlotHead);
    std::memcpy(slot + kSlotHead, v.data(), std::size_t(n));
}


}  // namespace

// Slots' places in a frontend's block, and the pool of blocks (sized for the largest frontend).
void H1Proxy::http_init_captures() {
    std::size_t biggest = 0;
    caps_.resize(cfg_.frontends.size());
    for (std::size_t f = 0; f < cfg_.frontends.size(); ++f) {
        const config::Frontend& fe = cfg_.frontends[f];
        CapLayout& l = caps_[f];
        std::uint32_t off = 0;
        for (const config::CaptureSlot& c : fe.req_caps) {
            l.req.push_back({off, c.len});
            off += std::uint32_t(kSlotHead + std::size_t(c.len));
        }
        for (const config::CaptureSlot& c : fe.rsp_caps) {
            l.rsp.push_back({off, c.len});
            off += std::uint32_t(kSlotHead + std::size_t(c.len));
        }
        if (!fe.cookie_capture.empty() && fe.mode == config::Mode::Http) {
            l.cookie_cli = off;
            off += std::uint32_t(kSlotHead + std::size_t(fe.cookie_capture_len));
            l.cookie_srv = off;
            off += std::uint32_t(kSlotHead + std::size_t(fe.cookie_capture_len));
        }
        l.size = off;
        biggest = std::max<std::size_t>(biggest, off);
    }
    if (biggest > 0) caps_pool_ = std::make_unique<pool::RawPool>("http_captures", biggest);
}

// The exchange's block, made (every slot empty) on first use; null without notes or memory.
char* H1Proxy::h_caps(H1Conn* s) {
    HttpNotes* nt = s->st->notes;
    if (!nt) return nullptr;
    if (!nt->caps) {
        const CapLayout& l = caps_[s->fe];
        nt->caps = static_cast<char*>(caps_pool_->alloc());
        if (!nt->caps) return nullptr;
        const std::int16_t none = -1;
        for (const auto* v : {&l.req, &l.rsp})
            for (const CapLayout::Slot& sl : *v) std::memcpy(nt->caps + sl.off, &none, kSlotHead);
        if (l.cookie_cli != CapLayout::kNone) {
            std::memcpy(nt->caps + l.cookie_cli, &none, kSlotHead);
            std::memcpy(nt->caps + l.cookie_srv, &none, kSlotHead);
        }
    }
    return nt->caps;
}

void H1Proxy::h_free_caps(HttpNotes* nt) {
    if (nt->caps) caps_pool_->free(nt->caps);
    nt->caps = nullptr;
}

// Cookie or Set-Cookie lines: the first "name=value" that starts with the prefix (a Set-Cookie's
// attributes after its first pair are not cookies).
namespace {
bool find_cookie(const http::MessageHead& m, std::string_view hname, std::string_view prefix, bool set,
                 std::string_view& out) {
    bool found = false;
    for (std::uint16_t i = 0; i < m.nheaders && !found; ++i) {
        const http::Header& h = m.headers[i];
        if (h.removed || !http::iequals(h.name, hname)) continue;
        bool first = true;
        for_each_pair(h.value, [&](std::string_view pair, std::string_view, std::string_view, std::size_t, std::size_t) {
            if ((!set || first) && pair.starts_with(prefix)) {
                out = pair;
                found = true;
            }
            first = false;
            return found || set;
        });
    }
    return found;
}
}  // namespace

void H1Proxy::h_capture_head(H1Conn* s, const http::MessageHead& m, bool response) {
    const CapLayout& l = caps_[s->fe];
    const auto& slots = response ? l.rsp : l.req;
    const config::Frontend& fe = cfg_.frontends[s->fe];
    const auto& conf = response ? fe.rsp_caps : fe.req_caps;
    // the block is taken on the first value stored (the parser already trimmed header values)
    for (std::uint16_t i = 0; i < m.nheaders; ++i) {
        const http::Header& h = m.headers[i];
        for (std::size_t k = 0; k < slots.size(); ++k)
            if (!conf[k].header.empty() && http::iequals(h.name, conf[k].header))
                if (char* const b = h_caps(s)) store(b + slots[k].off, slots[k].len, h.value);  // the last wins
    }
    if (l.cookie_cli != CapLayout::kNone) {
        std::string_view c;
        if (find_cookie(m, response ? "set-cookie" : "cookie", fe.cookie_capture, response, c))
            if (char* const b = h_caps(s)) store(b + (response ? l.cookie_srv : l.cookie_cli), fe.cookie_capture_len, c);
    }
}

void H1Proxy::CapWriter::capture(bool response, std::uint32_t slot, std::string_view value) {
    const CapLayout& l = p->caps_[s->fe];
    const auto& slots = response ? l.rsp : l.req;
    if (slot >= slots.size()) return;  // a backend's rule naming a slot this frontend lacks: ignored
    char* const b = p->h_caps(s);
    if (b) store(b + slots[slot].off, slots[slot].len, value);
}

// The log line's view of the block (at most kMaxLogCaps slots a direction).
void H1Proxy::h_log_caps(H1Conn* s, log::Fields& f, log::Captured* req, log::Captured* rsp) {
    const CapLayout& l = caps_[s->fe];
    const char* const b = s->st->notes ? s->st->notes->caps : nullptr;
    auto view = [&](const std::vector<CapLayout::Slot>& slots, log::Captured* out) {
        const std::size_t n = std::min(slots.size(), kMaxLogCaps);
        for (std::size_t k = 0; k < n; ++k) {
            out[k] = {};
            if (!b) continue;
            std::int16_t len;
            std::memcpy(&len, b + slots[k].off, kSlotHead);
            out[k] = {b + slots[k].off + kSlotHead, len};
        }
        return std::uint16_t(n);
    };
    f.req_caps = req;
    f.rsp_caps = rsp;
    f.n_req_caps = view(l.req, req);
    f.n_rsp_caps = view(l.rsp, rsp);
    if (b && l.cookie_cli != CapLayout::kNone) {
        for (auto [off, out] : {std::pair{l.cookie_cli, &f.cli_cookie}, std::pair{l.cookie_srv, &f.srv_cookie}}) {
            std::int16_t len;
            std::memcpy(&len, b + off, kSlotHead);
            if (len > 0) *out = std::string_view(b + off + kSlotHead, std::size_t(len));
        }
    }
}

}  // namespace es::proxy
