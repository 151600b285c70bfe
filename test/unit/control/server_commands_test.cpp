// control room: the runtime server-state commands over a fake table (no shards): parsing, name
// resolution, HAProxy's error texts, levels and the `show servers state` / `get weight` output.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <rapidjson/document.h>

#include <doctest/doctest.h>
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/control/cli.hpp"
#include "edgeshard/control/server_admin.hpp"
#include "edgeshard/proxy/admin.hpp"
#include "edgeshard/shard/runtime.hpp"

using namespace es;
using namespace es::control;
using shard::ServerAdmin;

namespace {

config::SockAddr v4(const char* ip, int port) {
    config::SockAddr a;
    auto* in = reinterpret_cast<sockaddr_in*>(&a.ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(std::uint16_t(port));
    inet_pton(AF_INET, ip, &in->sin_addr);
    return a;
}

config::SockAddr v6(const char* ip, int port) {
    config::SockAddr a;
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(std::uint16_t(port));
    inet_pton(AF_INET6, ip, &in6->sin6_addr);
    return a;
}

struct Call {
    std::size_t be, srv;
    std::uint32_t op, value;
};

// A frontend "web" (proxy id 1) and backends "app" (2) and "web" (shares the frontend's id 1,
// as a `listen` section does), with a configured-disabled server.
struct Fake {
    config::Config cfg;
    std::vector<std::vector<shard::ServerRuntime>> table;
    std::vector<std::vector<std::int64_t>> changed;
    std::vector<std::vector<std::uint8_t>> maint_seen{{0, 0}, {0}};
    std::vector<Call> calls;
    std::string fail;  // set_server's answer when non-empty

    Fake() {
        config::Frontend fe;
        fe.name = "web";
        cfg.frontends = {fe};
        config::Backend app;
        app.name = "app";
        app.id = 0;
        config::Server s1;
        s1.name = "s1";
        s1.id = 0;
        s1.addr = v4("10.0.0.1", 8080);
        s1.weight = 10;
        config::Server s2;
        s2.name = "s2";
        s2.id = 1;
        s2.addr = v6("2001:db8::7", 9000);
        s2.weight = 3;
        s2.disabled = true;
        app.servers = {s1, s2};
        config::Backend web;
        web.name = "web";
        web.id = 1;
        config::Server w1;
        w1.name = "w1";
        w1.addr = v4("127.0.0.1", 81);
        web.servers = {w1};
        cfg.backends = {app, web};
        table = {{{10, ServerAdmin::Ready}, {3, ServerAdmin::Maint}}, {{1, ServerAdmin::Ready}}};
        changed = {{100, 40}, {0}};
    }

    Services services() {
        Services s;
        s.server_table = [this] {
            ServerTable t;
            t.cfg = &cfg;
            t.servers = &table;
            t.changed_s = &changed;
            t.maint_seen = &maint_seen;
            t.now_s = 130;
            return t;
        };
        s.set_server = [this](std::size_t be, std::size_t srv, std::uint32_t op,
                              std::uint32_t value) -> std::string {
            calls.push_back({be, srv, op, value});
            if (!fail.empty()) return fail;
            if (op == proxy::kAdminOpState) table[be][srv].admin = ServerAdmin(value);
            if (op == proxy::kAdminOpWeight) table[be][srv].weight = int(value);
            return {};
        };
        return s;
    }
};

struct Cli {
    CommandTable commands;
    Fake fake;
    Services services = fake.services();
    Session session;

    Cli() {
        register_all_commands(commands);
        session.level = Level::Admin;
    }
    std::string run(std::string_view line) {
        Context ctx{commands, services, session};
        return dispatch(line, ctx);
    }
};

}  // namespace

TEST_CASE("set server state: ready, drain, maint reach the hook with the indexes") {
    Cli cli;
    CHECK(cli.run("set server app/s1 state drain") == "\n");
    CHECK(cli.run("set server app/s2 state ready") == "\n");
    CHECK(cli.run("set server web/w1 state maint") == "\n");
    REQUIRE(cli.fake.calls.size() == 3);
    CHECK(cli.fake.calls[0].be == 0);
    CHECK(cli.fake.calls[0].srv == 0);
    CHECK(cli.fake.calls[0].op == proxy::kAdminOpState);
    CHECK(cli.fake.calls[0].value == std::uint32_t(ServerAdmin::Drain));
    CHECK(cli.fake.calls[1].srv == 1);
    CHECK(cli.fake.calls[1].value == std::uint32_t(ServerAdmin::Ready));
    CHECK(cli.fake.calls[2].be == 1);
    CHECK(cli.fake.calls[2].value == std::uint32_t(ServerAdmin::Maint));
}

TEST_CASE("enable / disable server are ready / maint") {
    Cli cli;
    CHECK(cli.run("disable server app/s1") == "\n");
    CHECK(cli.fake.table[0][0].admin == ServerAdmin::Maint);
    CHECK(cli.run("enable server app/s1") == "\n");
    CHECK(cli.fake.table[0][0].admin == ServerAdmin::Ready);
    CHECK(cli.run("enable server app/s2") == "\n");  // configured `disabled` comes up too
    CHECK(cli.fake.table[0][1].admin == ServerAdmin::Ready);
}

TEST_CASE("servers and backends by name or #id") {
    Cli cli;
    // be ids: frontend web = 1, backend app = 2, backend web = 1 (same name as the frontend)
    CHECK(cli.run("disable server #2/#2") == "\n");
    CHECK(cli.run("disable server #1/w1") == "\n");
    REQUIRE(cli.fake.calls.size() == 2);
    CHECK(cli.fake.calls[0].be == 0);
    CHECK(cli.fake.calls[0].srv == 1);
    CHECK(cli.fake.calls[1].be == 1);
    CHECK(cli.run("disable server #3/s1") == "No such backend.\n\n");
    CHECK(cli.run("disable server app/#3") == "No such server.\n\n");
    CHECK(cli.run("disable server app/#0") == "No such server.\n\n");
}

TEST_CASE("HAProxy's errors: target, subcommand, state") {
    Cli cli;
    CHECK(cli.run("set server") == "Require 'backend/server'.\n\n");
    CHECK(cli.run("set server app") == "Require 'backend/server'.\n\n");
    CHECK(cli.run("set server app/") == "Require 'backend/server'.\n\n");
    CHECK(cli.run("set server /s1 state maint") == "Require 'backend/server'.\n\n");
    CHECK(cli.run("set server nope/s1 state maint") == "No such backend.\n\n");
    CHECK(cli.run("set server app/nope state maint") == "No such server.\n\n");
    CHECK(cli.run("set server app/s1") ==
          "usage: set server <backend>/<server> state | weight | health | agent | addr | fqdn\n\n");
    CHECK(cli.run("set server app/s1 port 1") ==
          "usage: set server <backend>/<server> state | weight | health | agent | addr | fqdn\n\n");
    // without the control shard's DnsControl (control/dns.hpp) nobody owns the addresses
    CHECK(cli.run("set server app/s1 addr 1.2.3.4") == "Server addresses cannot be changed in this process.\n\n");
    CHECK(cli.run("set server app/s1 state") ==
          "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n");
    CHECK(cli.run("set server app/s1 state down") ==
          "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n");
    CHECK(cli.run("enable server") == "Require 'backend/server'.\n\n");
    CHECK(cli.run("get weight app/zz") == "No such server.\n\n");
    CHECK(cli.fake.calls.empty());
}

TEST_CASE("set weight: absolute 0-256, percent of the configured weight capped at 256") {
    Cli cli;
    CHECK(cli.run("set weight app/s1 0") == "\n");
    CHECK(cli.fake.table[0][0].weight == 0);
    CHECK(cli.run("set weight app/s1 256") == "\n");
    CHECK(cli.fake.table[0][0].weight == 256);
    CHECK(cli.run("set weight app/s1 50%") == "\n");  // configured 10
    CHECK(cli.fake.table[0][0].weight == 5);
    CHECK(cli.run("set weight app/s1 100%") == "\n");
    CHECK(cli.fake.table[0][0].weight == 10);
    CHECK(cli.run("set weight app/s1 5000%") == "\n");
    CHECK(cli.fake.table[0][0].weight == 256);
    CHECK(cli.run("set weight app/s1 99999999999999999999999%") == "\n");
    CHECK(cli.fake.table[0][0].weight == 256);
    CHECK(cli.run("set weight app/s2 33%") == "\n");  // configured 3: 0.99 rounds down
    CHECK(cli.fake.table[0][1].weight == 0);
    CHECK(cli.run("set server app/s1 weight 7") == "\n");  // the same through `set server`
    CHECK(cli.fake.table[0][0].weight == 7);
    CHECK(cli.fake.calls.back().op == proxy::kAdminOpWeight);
    CHECK(cli.fake.calls.back().value == 7);
    const std::size_t ok_calls = cli.fake.calls.size();

    CHECK(cli.run("set weight app/s1") == "Require <weight> or <weight%>.\n\n");
    CHECK(cli.run("set server app/s1 weight") == "Require <weight> or <weight%>.\n\n");
    CHECK(cli.run("set weight app/s1 257") == "Absolute weight can only be between 0 and 256 inclusive.\n\n");
    CHECK(cli.run("set weight app/s1 -1") == "Absolute weight can only be between 0 and 256 inclusive.\n\n");
    CHECK(cli.run("set weight app/s1 99999999999999999999") ==
          "Absolute weight can only be between 0 and 256 inclusive.\n\n");
    CHECK(cli.run("set weight app/s1 -5%") == "Relative weight must be positive.\n\n");
    CHECK(cli.run("set weight app/s1 12x") == "Trailing garbage in weight string\n\n");
    CHECK(cli.run("set weight app/s1 5%%") == "Trailing garbage in weight string\n\n");
    CHECK(cli.run("set weight app/s1 x5") == "Empty weight string empty or preceded by garbage\n\n");
    CHECK(cli.run("set weight app/s1 %") == "Empty weight string empty or preceded by garbage\n\n");
    CHECK(cli.run("set weight app s1 5") == "Require 'backend/server'.\n\n");
    CHECK(cli.fake.calls.size() == ok_calls);
    CHECK(cli.fake.table[0][0].weight == 7);
}

TEST_CASE("get weight: current and initial") {
    Cli cli;
    CHECK(cli.run("get weight app/s1") == "10 (initial 10)\n\n");
    cli.run("set weight app/s1 4");
    CHECK(cli.run("get weight app/s1") == "4 (initial 10)\n\n");
    CHECK(cli.run("get weight app/s2") == "3 (initial 3)\n\n");
}

TEST_CASE("a failing hook's text is the answer") {
    Cli cli;
    cli.fake.fail = "The change is recorded but shard(s) 1 did not take it";
    CHECK(cli.run("set server app/s1 state drain") ==
          "The change is recorded but shard(s) 1 did not take it\n\n");
}

TEST_CASE("levels: changes need admin; reading is for user") {
    Cli cli;
    cli.session.level = Level::User;
    for (const char* cmd : {"set server app/s1 state maint", "set weight app/s1 1", "enable server app/s1",
                            "disable server app/s1", "set server app/s1 weight 1"})
        CHECK(cli.run(cmd) == "Permission denied\n\n");
    cli.session.level = Level::Operator;
    CHECK(cli.run("disable server app/s1") == "Permission denied\n\n");
    CHECK(cli.fake.calls.empty());
    cli.session.level = Level::User;
    CHECK(cli.run("get weight app/s1") == "10 (initial 10)\n\n");
    CHECK(cli.run("show servers state").rfind("1\n# be_id ", 0) == 0);
    const std::string help = cli.run("help");
    CHECK(help.find("show servers state") != std::string::npos);
    CHECK(help.find("get weight") != std::string::npos);
    CHECK(help.find("set weight") == std::string::npos);
    CHECK(help.find("disable server") == std::string::npos);
}

TEST_CASE("show servers state: HAProxy's format 1") {
    Cli cli;
    cli.fake.table[0][0] = {7, ServerAdmin::Drain};
    const std::string header =
        "1\n"
        "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
        "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
        "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
        "srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";
    // s2 is `disabled` in the configuration: CMAINT|FMAINT, health 0, check paused
    const std::string app =
        "2 app 1 s1 10.0.0.1 2 8 7 10 30 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0\n"
        "2 app 2 s2 2001:db8::7 0 5 3 3 90 1 0 0 8 0 0 0 - 9000 - 0 0 - - 0\n";
    const std::string web = "1 web 1 w1 127.0.0.1 2 0 1 1 130 1 0 2 0 0 0 0 - 81 - 0 0 - - 0\n";
    CHECK(cli.run("show servers state") == header + app + web + "\n");
    CHECK(cli.run("show servers state app") == header + app + "\n");
    CHECK(cli.run("show servers state #1") == header + web + "\n");
    CHECK(cli.run("show servers state nope") == "Can't find backend.\n\n");
    CHECK(cli.run("show servers state app web") == "usage: show servers state [<backend>] [json]\n\n");
    // each row has the 25 columns the header names
    const std::string out = cli.run("show servers state app");
    const std::size_t row = out.find("\n2 app 1 ") + 1;
    const std::string first = out.substr(row, out.find('\n', row) - row);
    CHECK(split_words(first).size() == 25);
    // enabled at runtime, a configured-disabled server keeps CMAINT while running (as HAProxy)
    CHECK(cli.run("enable server app/s2") == "\n");
    CHECK(cli.run("show servers state app").find("\n2 app 2 s2 2001:db8::7 2 4 3 3 90 1 0 0 8 ") !=
          std::string::npos);
    // check health: 0 while in maint, and after it once the server has been in maint
    cli.fake.table[0][0].admin = ServerAdmin::Maint;
    CHECK(cli.run("show servers state app").find("\n2 app 1 s1 10.0.0.1 0 1 7 10 30 1 0 0 0 ") !=
          std::string::npos);
    cli.fake.table[0][0].admin = ServerAdmin::Ready;
    cli.fake.maint_seen[0][0] = 1;
    CHECK(cli.run("show servers state app").find("\n2 app 1 s1 10.0.0.1 2 0 7 10 30 1 0 0 0 ") !=
          std::string::npos);
}

TEST_CASE("show servers state json") {
    Cli cli;
    cli.fake.table[0][0] = {0, ServerAdmin::Ready};
    const std::string out = cli.run("show servers state app json");
    rapidjson::Document d;
    d.Parse(out.c_str(), out.size());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(d["version"].GetInt() == 1);
    const auto& rows = d["servers"];
    REQUIRE(rows.Size() == 2);
    CHECK(std::string(rows[0]["be_name"].GetString()) == "app");
    CHECK(rows[0]["be_id"].GetUint() == 2);
    CHECK(std::string(rows[0]["srv_name"].GetString()) == "s1");
    CHECK(std::string(rows[0]["srv_addr"].GetString()) == "10.0.0.1");
    CHECK(rows[0]["srv_port"].GetInt() == 8080);
    CHECK(rows[0]["srv_op_state"].GetInt() == 2);
    CHECK(rows[0]["srv_uweight"].GetInt() == 0);
    CHECK(rows[0]["srv_iweight"].GetInt() == 10);
    CHECK(std::string(rows[0]["srv_admin"].GetString()) == "ready");
    CHECK(std::string(rows[1]["srv_admin"].GetString()) == "maint");
    CHECK(rows[1]["srv_admin_state"].GetUint() == 5);
    CHECK(rows[1]["srv_op_state"].GetInt() == 0);
    CHECK(rows[1]["srv_time_since_last_change"].GetInt64() == 90);
    const std::string err = cli.run("show servers state nope json");
    CHECK(err.find("\"errorStr\":\"Can't find backend.\"") != std::string::npos);
}

TEST_CASE("without a runtime the commands say so") {
    CommandTable commands;
    register_all_commands(commands);
    Services none;
    Session session;
    session.level = Level::Admin;
    Context ctx{commands, none, session};
    CHECK(dispatch("set server app/s1 state maint", ctx) == "Runtime server states are not available.\n\n");
    CHECK(dispatch("get weight app/s1", ctx) == "Runtime server states are not available.\n\n");
    CHECK(dispatch("show servers state", ctx) == "Runtime server states are not available.\n\n");
    CHECK(dispatch("show servers state json", ctx).find("errorStr") != std::string::npos);
}

TEST_CASE("bind_server_admin over a runtime: the table changes (no shard started: nothing to post)") {
    Fake f;
    auto cfg = std::make_shared<config::Config>(f.cfg);
    shard::Runtime rt(cfg);
    REQUIRE(rt.server_runtime().size() == 2);
    CHECK(rt.server_runtime()[0][1].admin == ServerAdmin::Maint);  // `disabled`
    CHECK(rt.server_runtime()[0][0].weight == 10);
    CommandTable commands;
    register_all_commands(commands);
    Services services;
    bind_server_admin(services, rt);
    Session session;
    session.level = Level::Admin;
    Context ctx{commands, services, session};
    CHECK(dispatch("set server app/s1 state drain", ctx) == "\n");
    CHECK(rt.server_runtime()[0][0].admin == ServerAdmin::Drain);
    CHECK(dispatch("set weight app/s1 20%", ctx) == "\n");
    CHECK(rt.server_runtime()[0][0].weight == 2);
    CHECK(dispatch("get weight app/s1", ctx) == "2 (initial 10)\n\n");
    CHECK(dispatch("enable server web/w1; disable server web/w1; enable server web/w1", ctx) == "\n\n\n");
    CHECK(rt.server_runtime()[1][0].admin == ServerAdmin::Ready);
    const std::string st = dispatch("show servers state", ctx);
    // a row without its time column (which depends on the clock)
    auto row = [&](std::string_view start) {
        const std::size_t at = st.find(start);
        REQUIRE(at != std::string::npos);
        auto w = split_words(st.substr(at, st.find('\n', at + 1) - at));
        REQUIRE(w.size() == 25);
        w.erase(w.begin() + 9);
        std::string joined;
        for (const auto& x : w) joined.append(x).push_back(' ');
        return joined;
    };
    CHECK(row("\n2 app 1 ") == "2 app 1 s1 10.0.0.1 2 8 2 10 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0 ");
    // w1 went through maint: check health 0 from now on
    CHECK(row("\n1 web 1 ") == "1 web 1 w1 127.0.0.1 2 0 1 1 1 0 0 0 0 0 0 - 81 - 0 0 - - 0 ");
    // the hook checks what it is given even though the commands already did
    CHECK(services.set_server(0, 9, proxy::kAdminOpState, 0) == "No such server.");
    CHECK(services.set_server(0, 0, proxy::kAdminOpState, 3) == "Invalid server state.");
    CHECK(services.set_server(0, 0, proxy::kAdminOpWeight, 257) ==
          "Absolute weight can only be between 0 and 256 inclusive.");
    CHECK(services.set_server(0, 0, 9, 0) == "Invalid server change.");
    CHECK(rt.server_runtime()[0][0].weight == 2);
}
