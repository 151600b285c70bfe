// The checker's insides (private to the check room): one probe per checked server, and one more
// per server with an agent. probe.cpp moves a probe's bytes (socket, TLS, rules, deadlines);
// state.cpp turns results into health, server state, log lines and messages; checker.cpp builds the
// probes and answers the public calls (include/edgeshard/check/checker.hpp).
#pragma once

#include <openssl/ssl.h>
#include <regex.h>
#include <sys/socket.h>

#include <cstdint>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "edgeshard/check/checker.hpp"
#include "verdict.hpp"

namespace es::check {

struct Checker::Impl {
    struct Target {
        std::size_t be = 0, sv = 0;
        const config::Backend* b = nullptr;
        const config::Server* s = nullptr;
        config::SockAddr addr;  // where the probe connects
        Health h;
        bool agent = false;   // the server's agent probe (agent-check), not its health check
        int other = -1;       // the health probe's agent probe, or the agent probe's health probe
        bool tls = false;     // checks speak TLS (check-ssl, or the server's `ssl`)
        bool proxy_line = false;  // a PROXY protocol v1 line first (check-send-proxy, connect send-proxy)
        bool fast_next = false;   // the next check waits `fastinter` (a passive check's error limit)
        int errors = 0;           // observe: the consecutive errors the shards reported
        std::string agent_send;   // an agent: what it is sent (agent-send, or `set server ... agent-send`)
        // the check in flight
        int fd = -1;
        enum class Phase : std::uint8_t { Connecting, Handshake, Sending, Reading, Rules, Agent } phase = Phase::Connecting;
        const std::vector<config::TcpCheckStep>* rules = nullptr;  // a tcp-check ruleset
        std::size_t step = 0;    // the rule being run
        bool eof = false;        // the peer ended its side (tcp-check)
        bool expected = false;   // an expect rule passed
        bool want_out = false;   // TLS: OpenSSL asked to write before it can read on
        bool resync = false;     // the owner did not take the last change: tell it again
        std::string ok_info;     // the info of the last expect that passed (on-success)
        int ok_code = 0;
        std::uint8_t ok_status = 0;  // its ok-status
        SSL* ssl = nullptr;
        bool connected = false;
        std::int64_t start = 0, conn_deadline = 0, deadline = 0;
        std::string out;
        std::size_t out_off = 0;
        std::string in;
        std::int64_t next = 0;   // the next check's start while idle
        std::uint32_t gen = 0;   // timer entries of an older generation are stale
        bool sent_down = false;  // the state the shards were last told
    };
    struct Due {
        std::int64_t at;
        std::uint32_t idx, gen;
        bool operator>(const Due& o) const { return at > o.at; }
    };
    struct Ramp {
        std::uint32_t idx;
        std::int64_t start, next;
    };

    const config::Config& cfg;
    Hooks hooks;
    std::vector<Target> targets;
    std::vector<std::vector<int>> index;  // [be][sv] -> health probe, -1
    std::vector<std::vector<int>> agents; // [be][sv] -> agent probe, -1
    std::priority_queue<Due, std::vector<Due>, std::greater<Due>> timers;
    int ep = -1;
    SSL_CTX* tls_ctx = nullptr;  // for checks over TLS: no verification, as a check only asks "is it up"
    std::size_t flying = 0;
    std::vector<std::uint32_t> resyncs;  // probes whose last change the owner did not take
    std::vector<Ramp> ramps;  // slowstart: servers taking a growing share of their weight
    std::mt19937_64 rng{std::random_device{}()};
    // compiled regexes of the http-check expect rules, by backend
    std::vector<std::vector<detail::Regex>> regexes;
    // and of the tcp-check ruleset, by backend and rule (null for the rules without one)
    std::vector<std::vector<detail::Regex>> tcp_regexes;

    Impl(const config::Config& c, Hooks hk) : cfg(c), hooks(std::move(hk)) {}
    ~Impl();

    std::uint32_t idx(const Target& t) const { return std::uint32_t(&t - targets.data()); }
    void arm(std::uint32_t i, std::int64_t at);
    std::int64_t jitter(std::int64_t inter);

    // probe.cpp: a check's bytes
    void close_check(Target& t);
    void start(std::uint32_t i, std::int64_t now);
    void want(Target& t, std::uint32_t i, std::uint32_t events);
    void wait_read(Target& t, std::uint32_t i);
    void connected_step(std::uint32_t i, std::int64_t now);
    ssize_t write_some(std::uint32_t i, std::int64_t now, const char* p, std::size_t n);
    bool read_some(std::uint32_t i, std::int64_t now);
    bool send_proxy_line(std::uint32_t i, std::int64_t now);
    void run_rules(std::uint32_t i, std::int64_t now);
    void run_agent(std::uint32_t i, std::int64_t now);
    const regex_t* rule_regex(std::size_t be, std::size_t step) const;
    void io_step(std::uint32_t i, std::int64_t now);
    void on_event(std::uint32_t i, std::uint32_t events, std::int64_t now);
    void evaluate_http(std::uint32_t i, std::int64_t now, bool last);
    void on_deadline(std::uint32_t i, std::int64_t now);
    static bool user_rules(const Target& t) { return t.rules && t.b->check.builtin.empty(); }
    static std::string where(const Target& t);

    // state.cpp: what results do
    std::pair<int, int> servers_left(std::size_t be);
    void tell(Target& t, bool down);
    static int ramp_pct(std::int64_t elapsed, std::int64_t slowstart);
    void start_ramp(Target& t, std::int64_t now);
    void update_ramps(std::int64_t now);
    std::int64_t next_ramp() const;
    void resync_all();
    void say(const Target& t, int level, const std::string& line);
    std::string reason_text(const Target& t);
    void say_change(const Target& t, const Target& why, const char* what, int level);
    void say_change(const Target& t, const std::string& reason, const char* what, int level);
    void finish(std::uint32_t i, std::int64_t now, Status st, int code, std::string info);
    void account(Target& t, Status st);
    void report(const Target& t, Status st, bool changed);
    void settle(Target& hc, const Target& why, std::int64_t now, Status st);
    void agent_result(std::uint32_t i, std::int64_t now, const detail::AgentAnswer& a);
    bool agent_down(const Target& hc) const;
    void reschedule(Target& t, std::int64_t now);
    void observed(Target& t, Observed last, std::int64_t now);
};

// the health probe of be/sv, or null
Checker::Impl::Target* target_of(Checker::Impl& m, std::size_t be, std::size_t sv);

}  // namespace es::check
