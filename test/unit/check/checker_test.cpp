// The checker's state machine against loopback sockets (the only unit tests here that open
// sockets: a listener the kernel accepts for, and a closed port that refuses).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "edgeshard/check/checker.hpp"
#include "edgeshard/config/parser.hpp"
#include "edgeshard/core/clock.hpp"

using namespace es;

namespace {

struct Listener {
    int fd = -1;
    int port = 0;
    Listener() {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(fd, 64);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~Listener() { ::close(fd); }
};

int closed_port() {
    Listener l;  // bound then closed: nothing listens there any more
    return l.port;
}

config::Config one_server(int port, int rise, int fall) {
    config::Config cfg;
    config::Backend be;
    be.name = "be";
    config::Server s;
    s.name = "s";
    auto a = config::parse_addr("127.0.0.1:" + std::to_string(port));
    REQUIRE(a);
    s.addr = *a;
    s.check.enabled = true;
    s.check.inter = 20;
    s.check.rise = rise;
    s.check.fall = fall;
    be.servers.push_back(s);
    cfg.backends.push_back(be);
    return cfg;
}

// Runs the checker until `done` or 3 s.
template <typename F>
void drive(check::Checker& c, F done) {
    const std::int64_t end = core::now_ms() + 3000;
    while (!done() && core::now_ms() < end) {
        pollfd p{c.fd(), POLLIN, 0};
        const std::int64_t due = c.next_due_ms() - core::now_ms();
        ::poll(&p, 1, int(std::max<std::int64_t>(0, std::min<std::int64_t>(due, 50))));
        c.run(core::now_ms());
    }
}

}  // namespace

TEST_CASE("checker: a refused server goes DOWN at its first failure; a change the owner refused is sent again") {
    const config::Config cfg = one_server(closed_port(), 2, 3);
    std::vector<bool> calls;
    check::Hooks hooks;
    hooks.changed = [&](std::size_t, std::size_t, bool down) {
        calls.push_back(down);
        return calls.size() > 1;  // the first delivery fails (a full mailbox)
    };
    check::Checker c(cfg, hooks, core::now_ms());
    REQUIRE(c.checked() == 1);
    const check::Health* h = c.health(0, 0);
    REQUIRE(h);
    CHECK(h->up);
    CHECK(h->health == 2);  // starts UP at `rise`
    drive(c, [&] { return calls.size() >= 2; });
    REQUIRE(calls.size() >= 2);
    CHECK(calls[0]);
    CHECK(calls[1]);  // the same change, again
    CHECK_FALSE(h->up);
    CHECK(h->health == 0);
    CHECK(h->status == check::Status::L4Con);
    CHECK(h->info == "Connection refused");
    CHECK(h->down_trans == 1);
    CHECK(c.down(0, 0));
}

TEST_CASE("checker: a listening server reaches the top of its health; force, disable, maintenance") {
    Listener l;
    const config::Config cfg = one_server(l.port, 2, 2);
    std::vector<bool> calls;
    check::Hooks hooks;
    hooks.changed = [&](std::size_t, std::size_t, bool down) {
        calls.push_back(down);
        return true;
    };
    check::Checker c(cfg, hooks, core::now_ms());
    const check::Health* h = c.health(0, 0);
    drive(c, [&] { return h->health == 3; });
    CHECK(h->health == 3);  // rise + fall - 1
    CHECK(h->status == check::Status::L4Ok);
    CHECK(calls.empty());   // it never left UP

    const std::int64_t now = core::now_ms();
    CHECK(c.force(0, 0, check::Checker::Force::Stopping, now));
    CHECK(h->nolb);
    CHECK(c.down(0, 0));
    REQUIRE(calls.size() == 1);
    CHECK(calls.back());
    drive(c, [&] { return !h->nolb; });  // the next pass brings it back (HAProxy: any full pass)
    CHECK_FALSE(h->nolb);
    CHECK_FALSE(calls.back());

    CHECK(c.force(0, 0, check::Checker::Force::Down, now));
    CHECK(h->health == 0);
    CHECK_FALSE(h->up);
    CHECK(c.enable(0, 0, false, now));  // unchecked: considered UP
    CHECK(h->up);
    CHECK_FALSE(c.down(0, 0));
    CHECK_FALSE(calls.back());
    CHECK(c.enable(0, 0, true, now));
    CHECK(c.maintenance(0, 0, true, now));
    CHECK(h->paused);
    CHECK(h->health == 0);
    CHECK(c.maintenance(0, 0, false, now));
    CHECK(h->health == 2);  // leaves maintenance at `rise`, checked at once
    CHECK_FALSE(c.force(0, 1, check::Checker::Force::Up, now));  // no such checked server
}

TEST_CASE("checker: slowstart ramps a server back from DOWN from 1% to 100%") {
    Listener l;
    config::Config cfg = one_server(l.port, 2, 2);
    cfg.backends[0].servers[0].check.slowstart = 1000;
    std::vector<int> pcts;
    check::Hooks hooks;
    hooks.changed = [](std::size_t, std::size_t, bool) { return true; };
    hooks.throttle = [&](std::size_t, std::size_t, int pct) {
        pcts.push_back(pct);
        return true;
    };
    check::Checker c(cfg, hooks, core::now_ms());
    const check::Health* h = c.health(0, 0);
    CHECK(pcts.empty());  // no ramp at start (HAProxy: a server starts at full weight)
    CHECK(c.force(0, 0, check::Checker::Force::Down, core::now_ms()));
    CHECK(c.force(0, 0, check::Checker::Force::Up, core::now_ms()));
    REQUIRE(pcts.size() == 1);
    CHECK(pcts[0] == 1);
    CHECK(h->throttle == 1);
    drive(c, [&] { return !pcts.empty() && pcts.back() == 100; });
    CHECK(pcts.back() == 100);
    CHECK(h->throttle == 100);
}
