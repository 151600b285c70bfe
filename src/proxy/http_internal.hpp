// The HTTP/1.1 path's shared pieces (private to src/proxy): user_data packing, timeout
// selection, queue limits, the head writer and status counting, used by the http_*.cpp files.
#pragma once

#include <cstring>
#include <string_view>

#include "edgeshard/proxy/worker.hpp"

namespace es::proxy::h1 {

using shard::UserData;

inline std::uint64_t hud(std::uint8_t op, const H1Conn* s) { return UserData::pack(op, s->gen, s); }
inline std::uint64_t cud(std::uint8_t op, const H1SrvConn* c) { return UserData::pack(op, c->gen, c); }

inline config::Millis pos(config::Millis v) { return v > 0 ? v : 0; }
// first configured (> 0) of the candidates, else 0 (no timeout)
inline config::Millis first_of(config::Millis a, config::Millis b, config::Millis c = config::kUnset) {
    if (a > 0) return a;
    if (b > 0) return b;
    return pos(c);
}

inline constexpr std::uint32_t kHighWaterBufs = 8;  // queued bytes (in buffers) that stop the feeding recv
inline constexpr std::uint16_t kInBufsMax = 4;       // unconsumed received buffers that stop a recv
// A server name's hash (TLS to servers with a per-request SNI: which pooled connection may serve
// which request). FNV-1a over the lower-cased name; never 0, which means "no SNI".
inline std::uint32_t tls_name_hash(std::string_view n) {
    std::uint32_t h = 2166136261u;
    for (char ch : n) h = (h ^ std::uint8_t(ch | 0x20)) * 16777619u;
    return h | 1;
}
inline constexpr std::int64_t kLingerMs = 1000;      // after the last response of a closing connection
inline constexpr std::int64_t kPoolIdleMs = 5000;    // an idle server connection is closed after this
inline constexpr std::int64_t kPoolMaxPerServer = 512;  // idle connections kept per server and shard

struct Writer {
    char* p;
    std::uint32_t cap;
    std::uint32_t n = 0;
    bool overflow = false;
    [[gnu::always_inline]] void put(std::string_view s) {
        if (n + s.size() > cap) {
            overflow = true;
            return;
        }
        std::memcpy(p + n, s.data(), s.size());
        n += std::uint32_t(s.size());
    }
    [[gnu::always_inline]] void header(std::string_view name, std::string_view value) {
        put(name);
        put(": ");
        put(value);
        put("\r\n");
    }
};

inline void count_status(stats::Counter& c1, stats::Counter& c2, stats::Counter& c3, stats::Counter& c4,
                  stats::Counter& c5, stats::Counter& other, int status) {
    switch (status / 100) {
        case 1: c1.inc(); break;
        case 2: c2.inc(); break;
        case 3: c3.inc(); break;
        case 4: c4.inc(); break;
        case 5: c5.inc(); break;
        default: other.inc(); break;
    }
}
template <typename C>
inline void count_status(C& c, int status) {
    count_status(c.hrsp_1xx, c.hrsp_2xx, c.hrsp_3xx, c.hrsp_4xx, c.hrsp_5xx, c.hrsp_other, status);
}

}  // namespace es::proxy::h1

namespace es::proxy {

// Bytes of a server's response forwarded to the client: the log's %B and the `bout` counters
// (bytes a server sent beyond its message are not forwarded, so not counted).
[[gnu::always_inline]] inline void H1Proxy::h_count_out(H1Conn* s, std::uint64_t n) {
    s->st->bytes_out += n;
    st_.fe[s->fe].bout.add(n);
    st_.be[s->be].bout.add(n);
    if (s->st->server >= 0) lbs_[std::size_t(s->be)]->server(s->st->server).c->bout.add(n);
}

// The cookie-pairs of one Cookie header value: "a=1; b=2" (RFC 6265; HAProxy also splits on ',').
template <typename F>
inline void for_each_pair(std::string_view v, F&& f) {
    std::size_t i = 0;
    while (i < v.size()) {
        while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ';' || v[i] == ',')) ++i;
        const std::size_t start = i;
        while (i < v.size() && v[i] != ';' && v[i] != ',') ++i;
        std::size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) --end;
        if (end > start) {
            const std::string_view pair = v.substr(start, end - start);
            const std::size_t eq = pair.find('=');
            std::string_view name = eq == std::string_view::npos ? pair : pair.substr(0, eq);
            while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
            std::string_view val = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
            while (!val.empty() && (val.front() == ' ' || val.front() == '\t')) val.remove_prefix(1);
            if (f(pair, name, val, start, end)) return;
        }
    }
}

}  // namespace es::proxy
