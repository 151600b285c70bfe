// control room: the stats page's admin POST (run_stats_admin) over fake services: HAProxy 2.6's
// reading of the form (from the end, the last b and action win, servers named before them taken
// afterwards, a bad escape stops the reading, a 2 KiB parameter is refused) and its counting.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "edgeshard/config/parser.hpp"
#include "edgeshard/control/pages.hpp"
#include "edgeshard/proxy/admin.hpp"
#include "edgeshard/shard/runtime.hpp"
#include "edgeshard/stats/render.hpp"

using namespace es;
using namespace es::control;
using stats::AdminResult;

namespace {

struct Fake {
    config::Config cfg = config::load_text(R"(
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:10001
    default_backend be
backend be
    server s1 127.0.0.1:10002 check
    server s2 127.0.0.1:10003
backend other
    server o1 127.0.0.1:10004
)",
                                             "t.cfg");
    std::vector<std::vector<shard::ServerRuntime>> table{{{}, {}}, {{}}};
    std::vector<std::string> calls;  // "be/s1 state 2", "be/s1 health disable", "be/s2 shutdown"
    Services svc;

    Fake() {
        svc.server_table = [this] {
            ServerTable t;
            t.cfg = &cfg;
            t.servers = &table;
            return t;
        };
        auto name = [this](std::size_t b, std::size_t s) { return cfg.backends[b].name + "/" + cfg.backends[b].servers[s].name; };
        svc.set_server = [this, name](std::size_t b, std::size_t s, std::uint32_t op, std::uint32_t v) {
            calls.push_back(name(b, s) + " state " + std::to_string(v));
            if (op == proxy::kAdminOpState) table[b][s].admin = shard::ServerAdmin(v);
            return std::string();
        };
        svc.health_admin = [this, name](std::size_t b, std::size_t s, std::string_view what) {
            calls.push_back(name(b, s) + " health " + std::string(what));
            return std::string();
        };
        svc.shutdown_server = [this, name](std::size_t b, std::size_t s) {
            calls.push_back(name(b, s) + " shutdown");
            return std::string();
        };
    }
    AdminResult post(std::string_view body) {
        calls.clear();
        return run_stats_admin(body, cfg, svc);
    }
};

}  // namespace

TEST_CASE("stats admin: the actions and their result") {
    Fake f;
    CHECK(f.post("s=s1&s=s2&action=maint&b=be") == AdminResult::Done);
    // servers are taken from the last to the first
    CHECK(f.calls == std::vector<std::string>{"be/s2 state 2", "be/s1 state 2"});
    CHECK(f.post("b=be&action=ready&s=s1") == AdminResult::Done);
    CHECK(f.calls == std::vector<std::string>{"be/s1 state 0"});
    CHECK(f.post("s=s%31&action=dr%61in&b=b%65") == AdminResult::Done);
    CHECK(f.calls == std::vector<std::string>{"be/s1 state 1"});
    CHECK(f.post("s=s1&s=nosuch&action=maint&b=be") == AdminResult::Part);
    CHECK(f.post("s=nosuch&action=maint&b=be") == AdminResult::Errp);
    CHECK(f.post("s=s1&action=explode&b=be") == AdminResult::Errp);
    CHECK(f.calls.empty());
    CHECK(f.post("s=s1&action=maint&b=nobe") == AdminResult::Errp);
    CHECK(f.post("s=s1&action=maint&b=fe") == AdminResult::Errp);  // a frontend is not a backend
    CHECK(f.post("s=s1&action=maint&b=other") == AdminResult::Errp);
    CHECK(f.post("s=" + std::string(2047, 'y') + "&action=maint&b=be") == AdminResult::Errp);  // key 2049: too long
    CHECK(f.post("s=s1&action=maint") == AdminResult::None);
    CHECK(f.calls.empty());
    CHECK(f.post("") == AdminResult::None);
    CHECK(f.post("&s=s1&action=maint&b=be") == AdminResult::None);  // the first key is "&s"
    CHECK(f.post("s=s1&action=maint&b=b%zz") == AdminResult::None);  // a bad escape ends the reading
    CHECK(f.post("s=s1+&action=ready&b=be") == AdminResult::Errp);  // '+' is a space
    // the last b and action win
    CHECK(f.post("s=o1&action=drain&b=nosuch&action=ready&b=other") == AdminResult::Done);
    CHECK(f.calls == std::vector<std::string>{"other/o1 state 0"});
    // health: only a checked server counts for dhlth/ehlth; hrunn/hnolb/hdown for any
    CHECK(f.post("s=s2&action=dhlth&b=be") == AdminResult::None);
    CHECK(f.post("s=s1&s=s2&action=dhlth&b=be") == AdminResult::Done);
    CHECK(f.calls == std::vector<std::string>{"be/s1 health disable"});
    CHECK(f.post("s=s2&action=hnolb&b=be") == AdminResult::Done);
    CHECK(f.calls == std::vector<std::string>{"be/s2 health stopping"});
    CHECK(f.post("s=s1&action=dagent&b=be") == AdminResult::None);  // no agent
    CHECK(f.post("s=s1&action=arunn&b=be") == AdminResult::None);
    CHECK(f.post("s=s2&action=shutdown&b=be") == AdminResult::Done);
    CHECK(f.calls == std::vector<std::string>{"be/s2 shutdown"});
    // the former values: each counts only when it changes something
    f.table[0][0].admin = shard::ServerAdmin::Ready;
    CHECK(f.post("s=s1&action=enable&b=be") == AdminResult::None);
    CHECK(f.post("s=s1&action=disable&b=be") == AdminResult::Done);
    CHECK(f.post("s=s1&action=disable&b=be") == AdminResult::None);
}

TEST_CASE("stats admin: the Location of the answer and the page's result") {
    using stats::admin_location;
    CHECK(admin_location("/st", "/st", 0, AdminResult::Done) == "/st;st=DONE");
    CHECK(admin_location("/haproxy?stats", "/haproxy?stats", 0, AdminResult::Deny) == "/haproxy?stats;st=DENY");
    CHECK(admin_location("/st", "/st;norefresh;up", 0, AdminResult::None) == "/st;st=NONE;up");
    CHECK(admin_location("/st", "/st;norefresh;up", 5, AdminResult::None) == "/st;st=NONE;up;norefresh");
    CHECK(admin_location("/s", "/s;up?scope=abc", 0, AdminResult::Part) == "/s;st=PART;up?scope=abc");
    CHECK(admin_location("/s", "/s?scope=a.b-c_d;x", 0, AdminResult::Excd) == "/s;st=EXCD?scope=a.b-c_d");
    CHECK(admin_location("/s", "/s?scope=a%20b", 0, AdminResult::Errp) == "/s;st=ERRP");
    CHECK(admin_location("/s", "/s?scope=abcdefghijklmnopqrstuvwxyz", 0, AdminResult::None) ==
          "/s;st=NONE?scope=abcdefghijklmnopqrst");
    CHECK(stats::admin_result_in("/st", "/st;st=DONE") == AdminResult::Done);
    CHECK(stats::admin_result_in("/st", "/st;st=XXXX") == AdminResult::Unkn);
    CHECK(stats::admin_result_in("/st", "/st;st=DON") == AdminResult::Init);
    CHECK(stats::admin_result_in("/st", "/st") == AdminResult::Init);
}
