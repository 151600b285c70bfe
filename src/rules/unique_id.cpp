// unique-id-format: HAProxy 2.6's log-format subset an id is built from (doc 8.2.4, stream.c
// stream_generate_unique_id): text, %%, flags %{+X} (for the next variable) and %{+X}o (for every
// following one), %ci %cp %fi %fp %Ts %rt %pid, and %[sample] (uuid() included). README.md "Unique ids".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "internal.hpp"

namespace es::rules {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

void put_hex(ArenaWriter& w, std::uint64_t v, int width) {
    char b[24];
    const int n = std::snprintf(b, sizeof b, "%0*llX", width, static_cast<unsigned long long>(v));
    w.add(std::string_view(b, std::size_t(n)));
}

// An address as the id writes it: its text, or with +X its bytes in hex (IPv4: 8 digits).
void put_addr(ArenaWriter& w, const sockaddr_storage* ss, bool hex) {
    if (!hex) {
        char text[64];
        w.add(std::string_view(text, addr_text(ss, text, sizeof text)));
        return;
    }
    if (ss == nullptr) return;
    if (ss->ss_family == AF_INET) {
        put_hex(w, ntohl(reinterpret_cast<const sockaddr_in*>(ss)->sin_addr.s_addr), 8);
    } else if (ss->ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(ss)->sin6_addr.s6_addr;
        for (int i = 0; i < 16; ++i) put_hex(w, a[i], 2);
    }
}

void put_num(ArenaWriter& w, std::int64_t v, bool hex) {
    if (v < 0) return;
    if (hex) put_hex(w, std::uint64_t(v), 4);
    else w.add_uint(std::uint64_t(v));
}

}  // namespace

bool render_unique_id(const Txn& t, std::string_view fmt, std::int64_t rt, std::int64_t accept_sec, ArenaWriter& w) {
    bool hex_all = false;
    // spaces are HAProxy's log-format separators: one space between two printed fields, none first
    bool last_space = true;
    auto text = [&](std::string_view s) {
        for (char c : s) {
            if (c == ' ') {
                if (!last_space) w.add(" ");
                last_space = true;
            } else {
                w.add(std::string_view(&c, 1));
                last_space = false;
            }
        }
    };
    for (std::size_t i = 0; i < fmt.size();) {
        const std::size_t pct = fmt.find('%', i);
        if (pct == std::string_view::npos) {
            text(fmt.substr(i));
            break;
        }
        text(fmt.substr(i, pct - i));
        const std::size_t before = w.mark();
        i = pct + 1;
        if (i < fmt.size() && fmt[i] == '%') {
            w.add("%");
            last_space = false;
            ++i;
            continue;
        }
        bool hex = hex_all;
        if (i < fmt.size() && fmt[i] == '{') {  // flags: +X / -X (others are accepted and do nothing here)
            const std::size_t close = fmt.find('}', i);
            if (close == std::string_view::npos) return false;
            const std::string_view flags = fmt.substr(i + 1, close - i - 1);
            for (std::size_t k = 0; k + 1 < flags.size(); k += 2)
                if (flags[k + 1] == 'X') hex = flags[k] == '+';
            i = close + 1;
            if (i < fmt.size() && fmt[i] == 'o' && (i + 1 >= fmt.size() || !is_alpha(fmt[i + 1]))) {
                hex_all = hex;
                ++i;
                continue;
            }
        }
        if (i < fmt.size() && fmt[i] == '[') {
            const std::size_t close = config::sample_item_end(fmt, i + 1, ']');
            if (close == fmt.size()) return false;
            const std::size_t m = w.mark();
            bool present = false;
            if (!detail::sample_value(t, fmt.substr(i + 1, close - i - 1), w, present)) return false;
            detail::escape_controls(w, m);
            if (w.mark() != before) last_space = false;
            i = close + 1;
            continue;
        }
        std::size_t j = i;
        while (j < fmt.size() && is_alpha(fmt[j])) ++j;
        const std::string_view var = fmt.substr(i, j - i);
        i = j;
        if (var == "ci") put_addr(w, t.src, hex);
        else if (var == "cp") put_num(w, addr_port(t.src), hex);
        else if (var == "fi") put_addr(w, t.dst, hex);
        else if (var == "fp") put_num(w, addr_port(t.dst), hex);
        else if (var == "rt") put_num(w, rt, hex);
        else if (var == "pid") put_num(w, ::getpid(), hex);
        else if (var == "Ts") {
            if (hex) put_hex(w, std::uint64_t(accept_sec), 8);
            else w.add_uint(std::uint64_t(accept_sec));
        } else {
            return false;  // the configuration refuses any other
        }
        if (w.mark() != before) last_space = false;
    }
    return true;
}

std::string_view detail::uuid4(ArenaWriter& w) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uint64_t hi = rng(), lo = rng();
    hi = (hi & ~0xF000ull) | 0x4000ull;                   // version 4
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // variant 10
    char b[40];
    const int n = std::snprintf(b, sizeof b, "%08llx-%04llx-%04llx-%04llx-%012llx",
                                static_cast<unsigned long long>(hi >> 32), static_cast<unsigned long long>((hi >> 16) & 0xFFFF),
                                static_cast<unsigned long long>(hi & 0xFFFF), static_cast<unsigned long long>(lo >> 48),
                                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    const std::size_t m = w.mark();
    w.add(std::string_view(b, std::size_t(n)));
    return w.since(m);
}

}  // namespace es::rules
