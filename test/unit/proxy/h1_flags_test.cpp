// The HTTP/1 flag words: defaults of a new client connection and their renderers.
#include <doctest/doctest.h>

#include <string>

#include "edgeshard/net/conn_side.hpp"
#include "edgeshard/proxy/h1_types.hpp"

using namespace es::proxy;

TEST_CASE("a new client connection starts first-request, lingering, with no exchange") {
    H1Conn s;
    CHECK(s.has(kH1FirstReq));
    CHECK(s.has(kH1Linger));
    CHECK_FALSE(s.has(kH1CloseAfter));
    CHECK_FALSE(s.has(kH1Released));
    CHECK(s.st == nullptr);
    CHECK(show_h1_flags(s.flags) == "LINGER|FIRST");
    CHECK(s.cli.flags == 0);
    CHECK(s.cli.slot == -1);
}

TEST_CASE("a new exchange waits for its request head, unlogged, with no server") {
    H1Stream x;
    CHECK(x.req == ReqPhase::Head);
    CHECK(x.rsp == RspPhase::None);
    CHECK(x.flags == 0);
    CHECK(x.server == -1);
    CHECK(x.t_connect == -1);
    CHECK(std::string(x.term) == "--");
    x.set(kH1SQueued);
    x.set_to(kH1SExpect, true);
    x.set(kH1SLogged);
    x.clear(kH1SQueued);
    CHECK(show_h1s_flags(x.flags) == "EXP|LOGGED");
}

TEST_CASE("set_to sets and clears one flag, leaving the others") {
    H1Conn s;
    s.set_to(kH1CloseAfter, true);
    s.set_to(kH1Linger, false);
    CHECK(show_h1_flags(s.flags) == "CLOSE|FIRST");
    H1SrvConn c;
    c.set(kC1Established | kC1Reused);
    c.set_to(kC1Big, true);
    c.clear(kC1Reused);
    CHECK(show_c1_flags(c.flags) == "BIG|EST");
}

TEST_CASE("a connection side may receive only while open, idle, before EOF and not starved") {
    es::net::ConnSide side;
    CHECK_FALSE(side.can_recv());  // no socket yet
    side.slot = 3;
    CHECK(side.can_recv());
    for (std::uint16_t f : {es::net::kSideRecv, es::net::kSideEof, es::net::kSideStarved}) {
        side.set(f);
        CHECK_FALSE(side.can_recv());
        side.clear(f);
    }
    side.set(es::net::kSideRecv | es::net::kSideShut | es::net::kSideSockNonEmpty);
    CHECK(es::net::show_side_flags(side.flags) == "RECV|SHUT|MORE");
}
