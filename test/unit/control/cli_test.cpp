// control room: request splitting, the command table and dispatch, with fake statistics services
// (no sockets; the real socket is covered by the integration tests).
#include <rapidjson/document.h>

#include <doctest/doctest.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgeshard/control/cli.hpp"
#include "edgeshard/control/stats_views.hpp"
#include "edgeshard/core/version.hpp"

using namespace es;
using namespace es::control;

namespace {

struct FakeStats {
    config::Config cfg;
    stats::Layout layout;
    std::unique_ptr<stats::ShardStats> block = std::make_unique<stats::ShardStats>();
    std::vector<stats::BuildOptions> calls;

    FakeStats() {
        config::Frontend fe;
        fe.name = "web";
        cfg.frontends = {fe};
        config::Backend be;
        be.name = "app";
        config::Server s;
        s.name = "s1";
        be.servers = {s};
        cfg.backends = {be};
        block->n_fe = 1;
        block->fe = std::make_unique<stats::FrontendCounters[]>(1);
        block->n_be = 1;
        block->be = std::make_unique<stats::BackendCounters[]>(1);
        block->n_srv = {1};
        block->srv.push_back(std::make_unique<stats::ServerCounters[]>(1));
        block->fe[0].stot.set(42);
        layout = stats_layout(cfg);
    }

    Services services() {
        Services s;
        s.snapshot = [this](const stats::BuildOptions& opt) {
            calls.push_back(opt);
            stats::ShardView v;
            v.stats = block.get();
            v.pools.push_back({"session", 256, 4, 1, 0, 2});
            stats::ProcessView p;
            p.version = kVersion;
            p.tier = "full";
            p.nbshards = 1;
            p.pid = 7;
            std::vector<stats::ShardView> views;
            views.push_back(std::move(v));
            return stats::build_snapshot(layout, p, views, opt);
        };
        return s;
    }
};

struct Cli {
    CommandTable table;
    FakeStats fake;
    Services services = fake.services();
    Session session;

    Cli() { register_all_commands(table); }
    std::string run(std::string_view line) {
        Context ctx{table, services, session};
        return dispatch(line, ctx);
    }
};

rapidjson::Document parse(const std::string& s) {
    rapidjson::Document d;
    d.Parse(s.c_str(), s.size());
    REQUIRE_FALSE(d.HasParseError());
    return d;
}

void admin_cmd(std::span<const std::string_view> args, Context&, std::string& out) {
    out.append("admin command done, args=").append(std::to_string(args.size()));
}

void throwing_cmd(std::span<const std::string_view>, Context&, std::string& out) {
    out.append("partial output that must not be sent");
    throw std::runtime_error("boom");
}

}  // namespace

TEST_CASE("split_commands: ';' separates, '\\;' does not") {
    CHECK(split_commands("show info") == std::vector<std::string>{"show info"});
    CHECK(split_commands("show info;show stat") == std::vector<std::string>{"show info", "show stat"});
    CHECK(split_commands("a; b;") == std::vector<std::string>{"a", " b", ""});
    CHECK(split_commands("a\\;b;c") == std::vector<std::string>{"a\\;b", "c"});
    CHECK(split_commands("a\\\\;b") == std::vector<std::string>{"a\\\\", "b"});
    CHECK(split_commands("") == std::vector<std::string>{""});
}

TEST_CASE("split_words: blanks separate, backslash escapes") {
    CHECK(split_words("show  stat\tjson ") == std::vector<std::string>{"show", "stat", "json"});
    CHECK(split_words("   ").empty());
    CHECK(split_words("set a\\ b") == std::vector<std::string>{"set", "a b"});
    CHECK(split_words("x\\;y") == std::vector<std::string>{"x;y"});
    CHECK(split_words("trailing\\") == std::vector<std::string>{"trailing\\"});
}

TEST_CASE("command table: longest keyword match, duplicates refused") {
    CommandTable t;
    register_all_commands(t);
    std::vector<std::string_view> w1{"show", "stat", "json"};
    const Command* c = t.find(w1);
    REQUIRE(c);
    CHECK(c->words == std::vector<std::string_view>{"show", "stat"});
    std::vector<std::string_view> w2{"show"};
    CHECK(t.find(w2) == nullptr);
    std::vector<std::string_view> w3{"show", "statistics"};
    CHECK(t.find(w3) == nullptr);
    CHECK_THROWS_AS(register_cli_commands(t), std::logic_error);
    CHECK_THROWS_AS(t.add({{}, "", "x", Level::User, admin_cmd}), std::logic_error);

    std::vector<std::string> names;
    for (const auto& cmd : t.commands()) {
        std::string n;
        for (auto w : cmd.words) {
            if (!n.empty()) n.push_back(' ');
            n.append(w);
        }
        names.push_back(n);
    }
    CHECK(names == std::vector<std::string>{"help", "prompt", "quit", "operator", "user", "show cli level", "show proc", "show version", "show backend", "show threads", "expert-mode", "debug dev loop", "show env",
                                            "show cli sockets", "show startup-logs", "set timeout", "show info",
                                            "show stat", "clear counters", "show schema", "show pools", "show shards", "set server",
                                            "show resolvers", "set weight", "set maxconn", "get weight", "enable health", "disable health",
                                            "enable agent", "disable agent", "enable server",
                                            "disable server", "shutdown sessions server", "show servers state", "show ssl cert",
                                            "set ssl cert", "commit ssl cert", "abort ssl cert",
                                            "set ssl ocsp-response", "show table", "clear table", "set table", "show map", "get map", "add map", "set map", "del map", "clear map"});
}

TEST_CASE("every answer ends with an empty line; ';' runs several commands") {
    Cli cli;
    CHECK(cli.run("show version") == std::string(kVersion) + "\n\n");
    CHECK(cli.run("show version; show version") == std::string(kVersion) + "\n\n" + kVersion + "\n\n");
    CHECK(cli.run("show version;") == std::string(kVersion) + "\n\n");
    CHECK(cli.run("").empty());
    CHECK(cli.run("   ").empty());
}

TEST_CASE("unknown command: HAProxy's message and the commands valid at this level") {
    Cli cli;
    const std::string out = cli.run("frobnicate now");
    CHECK(out.rfind("Unknown command: 'frobnicate now'\n", 0) == 0);
    CHECK(out.find("  help [<command>]") != std::string::npos);
    CHECK(out.find("  show stat [{<iid>|<proxy>} <type> <sid>] [typed|json]") != std::string::npos);
    CHECK(out.substr(out.size() - 2) == "\n\n");
    // sharing the first word narrows the list to those commands
    const std::string show = cli.run("show foo");
    CHECK(show.rfind("Unknown command: 'show foo'\n", 0) == 0);
    CHECK(show.find("show info") != std::string::npos);
    CHECK(show.find("  quit") == std::string::npos);
}

TEST_CASE("help lists and filters") {
    Cli cli;
    const std::string all = cli.run("help");
    CHECK(all.rfind("The following commands are valid at this level:\n", 0) == 0);
    CHECK(all.find("  quit ") != std::string::npos);
    CHECK(all.find(" : disconnect\n") != std::string::npos);
    const std::string show = cli.run("help show stat");
    CHECK(show.find("show stat [{<iid>|<proxy>} <type> <sid>] [typed|json]") != std::string::npos);
    CHECK(show.find("show info") == std::string::npos);
}

TEST_CASE("levels: admin commands hidden and refused at user level") {
    Cli cli;
    cli.table.add({{"set", "fake", "knob"}, "<x> ...", "change a fake knob", Level::Admin, admin_cmd});
    CHECK(cli.run("set fake knob app/s1 state maint") == "Permission denied\n\n");
    CHECK(cli.run("help").find("set fake knob") == std::string::npos);
    cli.session.level = Level::Admin;
    CHECK(cli.run("set fake knob app/s1 state maint") == "admin command done, args=3\n\n");
    CHECK(cli.run("help").find("set fake knob") != std::string::npos);
}

TEST_CASE("operator and user lower a session's level, never raise it") {
    Cli cli;
    cli.table.add({{"set", "fake", "knob"}, "<x> ...", "change a fake knob", Level::Admin, admin_cmd});
    cli.session.level = Level::Admin;
    CHECK(cli.run("show cli level") == "admin\n\n");
    CHECK(cli.run("operator; show cli level") == "\noperator\n\n");
    CHECK(cli.run("set fake knob a b c") == "Permission denied\n\n");
    CHECK(cli.run("user; operator; show cli level") == "\n\nuser\n\n");
}

TEST_CASE("prompt toggles interactive mode, quit ends the session") {
    Cli cli;
    CHECK(cli.run("prompt") == "\n> ");
    CHECK(cli.session.interactive);
    CHECK(cli.run("show version") == std::string(kVersion) + "\n\n> ");
    CHECK(cli.run("") == "> ");
    CHECK(cli.run("quit; show version").empty());
    CHECK(cli.session.quit);

    Cli off;
    off.run("prompt");
    CHECK(off.run("prompt") == "\n");
    CHECK_FALSE(off.session.interactive);
}

TEST_CASE("show info / stat / pools / shards through the stats services") {
    Cli cli;
    const std::string info = cli.run("show info");
    CHECK(info.rfind("Name: edgeshard\n", 0) == 0);
    CHECK(info.find("Pid: 7\n") != std::string::npos);
    CHECK(info.substr(info.size() - 2) == "\n\n");

    const std::string csv = cli.run("show stat");
    CHECK(csv.rfind("# pxname,svname,qcur,", 0) == 0);
    CHECK(csv.find("\nweb,FRONTEND,") != std::string::npos);
    CHECK(csv.find("\napp,s1,") != std::string::npos);
    CHECK(csv.find("\napp,BACKEND,") != std::string::npos);
    REQUIRE_FALSE(cli.fake.calls.empty());
    CHECK_FALSE(cli.fake.calls.back().per_shard_objects);

    auto d = parse(cli.run("show stat json"));
    CHECK(d.IsArray());
    CHECK(d.Size() == 3);

    // keyword order does not matter; shards asks the services for per-shard values
    auto ds = parse(cli.run("show stat shards json"));
    CHECK(cli.fake.calls.back().per_shard_objects);
    CHECK(ds.Size() == 3 * 2);
    CHECK(ds[3][0]["shard"].GetInt() == 0);
    const std::string csv_shards = cli.run("show stat shards");
    CHECK(csv_shards.find(",shard,\n") != std::string::npos);

    auto di = parse(cli.run("show info json"));
    CHECK(std::string(di[0]["field"]["name"].GetString()) == "Name");
    CHECK(cli.run("show pools").find("  - Pool session (256 bytes) : 4 allocated (1024 bytes), 1 used") !=
          std::string::npos);
    auto dp = parse(cli.run("show pools json"));
    CHECK(dp["pools"][0]["allocated"].GetUint() == 4);
    CHECK(cli.run("show shards").rfind("shard 0: ", 0) == 0);
    auto dsh = parse(cli.run("show shards json"));
    CHECK(dsh["shards"].Size() == 1);
}

TEST_CASE("bad arguments: errorStr in JSON, a usage line in text") {
    Cli cli;
    auto d = parse(cli.run("show stat json bogus"));
    CHECK(std::string(d["errorStr"].GetString()) ==
          "unknown argument 'bogus'; usage: show stat [{<iid>|<proxy>} <type> <sid>] [typed|json] [desc] [up|no-maint] [shards] | prometheus");
    CHECK(cli.run("show info shards") == "unknown argument 'shards'; usage: show info [typed|json] [desc] [float]\n\n");
    auto dp = parse(cli.run("show pools json shards"));
    CHECK(dp.HasMember("errorStr"));
}

TEST_CASE("no statistics service: an error answer, not a crash") {
    CommandTable t;
    register_all_commands(t);
    Services none;
    Session s;
    Context ctx{t, none, s};
    auto d = parse(dispatch("show stat json", ctx));
    CHECK(std::string(d["errorStr"].GetString()) == "statistics are not available");
    CHECK(dispatch("show info", ctx) == "statistics are not available\n\n");
}

TEST_CASE("a handler that throws costs one answer: errorStr for JSON, text otherwise") {
    Cli cli;
    cli.table.add({{"show", "boom"}, "[json]", "throws", Level::User, throwing_cmd});
    auto d = parse(cli.run("show boom json"));
    CHECK(std::string(d["errorStr"].GetString()) == "boom");
    CHECK(cli.run("show boom; show version") == "Internal error: boom\n\n" + std::string(kVersion) + "\n\n");
}

TEST_CASE("map commands: HAProxy's texts, ids, payloads, a change sent as a new version") {
    Cli cli;
    CHECK(cli.run("add map /etc/hosts.map k v") == "Permission denied\n\n");  // an admin command
    cli.session.level = Level::Admin;
    MapStore ms;
    auto m = std::make_shared<config::MapFile>();
    m->path = "/etc/hosts.map";
    m->entries = {{"a.example", "be_a"}, {"dup.example", "be_a"}, {"dup.example", "be_b"}};
    m->lines = {1, 2, 3};
    m->want_exact = true;
    m->matches = {config::MapMatch::Str};
    REQUIRE(config::index_map(*m).empty());
    ms.maps.push_back(m);
    ms.next_id = 3;
    std::vector<std::shared_ptr<const config::MapFile>> sent;
    cli.services.maps = &ms;
    cli.services.update_map = [&](std::size_t i, std::shared_ptr<const config::MapFile> v) {
        CHECK(i == 0);
        sent.push_back(std::move(v));
        return std::string();
    };
    CHECK(cli.run("show map") ==
          "# id (file) description\n0 (/etc/hosts.map) pattern loaded from file '/etc/hosts.map' used by map. "
          "curr_ver=0 next_ver=0 entry_cnt=3\n\n");
    CHECK(cli.run("show map /etc/hosts.map") == "0x1 a.example be_a\n0x2 dup.example be_a\n0x3 dup.example be_b\n\n");
    CHECK(cli.run("show map #0") == cli.run("show map /etc/hosts.map"));
    CHECK(cli.run("show map /nope") == "Unknown map identifier. Please use #<id> or <file>.\n\n");
    CHECK(cli.run("get map /etc/hosts.map dup.example") ==
          "type=str, case=sensitive, found=yes, idx=tree, key=\"dup.example\", value=\"be_a\", type=\"str\"\n\n");
    CHECK(cli.run("set map /etc/hosts.map dup.example be_c") == "\n");  // every entry of the key
    REQUIRE(sent.size() == 1);
    CHECK(sent.back()->entries[1].second == "be_c");
    CHECK(sent.back()->entries[2].second == "be_c");
    CHECK(m->entries[1].second == "be_a");  // the version the shards read until the swap is left whole
    CHECK(cli.run("set map /etc/hosts.map nope x") == "entry not found.\n\n");
    CHECK(cli.run("del map /etc/hosts.map #0x2") == "\n");  // one entry, by the id show map prints
    CHECK(cli.run("show map /etc/hosts.map") == "0x1 a.example be_a\n0x3 dup.example be_c\n\n");
    CHECK(cli.run("del map /etc/hosts.map nope") == "Key not found.\n\n");
    CHECK(cli.run("del map /etc/hosts.map") == "This command expects two parameters: map identifier and key.\n\n");
    CHECK(cli.run("add map /etc/hosts.map") ==
          "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) "
          "and a payload\n\n");
    CHECK(cli.run("add map /etc/hosts.map n.example be_n") == "\n");
    CHECK(sent.back()->exact.count("n.example") == 1);  // the new version is indexed
    CHECK(cli.run("show map /etc/hosts.map") == "0x1 a.example be_a\n0x3 dup.example be_c\n0x4 n.example be_n\n\n");
    CHECK(cli.run("clear map /etc/hosts.map") == "\n");
    CHECK(cli.run("show map /etc/hosts.map") == "\n");
    CHECK(sent.size() == 4);  // the refused commands sent nothing
}

TEST_CASE("set timeout cli: this connection's idle timeout, HAProxy's messages") {
    Cli cli;
    CHECK(cli.run("set timeout cli 30") == "\n");
    CHECK(cli.session.timeout_ms == 30000);
    CHECK(cli.run("set timeout cli 2m") == "\n");
    CHECK(cli.session.timeout_ms == 120000);
    CHECK(cli.run("set timeout cli 0") == "Invalid timeout value.\n\n");
    CHECK(cli.run("set timeout cli") == "Expects an integer value.\n\n");
    CHECK(cli.run("set timeout server 3") == "'set timeout' only supports 'cli'.\n\n");
    CHECK(cli.session.timeout_ms == 120000);
}

TEST_CASE("show backend, show env, show cli sockets, clear counters: HAProxy's answers") {
    Cli cli;
    cli.session.level = Level::Admin;
    setenv("ES_CLI_TEST_VAR", "v1", 1);
    CHECK(cli.run("show env ES_CLI_TEST_VAR") == "ES_CLI_TEST_VAR=v1\n\n");
    CHECK(cli.run("show env ES_CLI_TEST_VA") == "Variable not found\n\n");
    CHECK(cli.run("show env").find("\nES_CLI_TEST_VAR=v1\n") != std::string::npos);
    CHECK(cli.run("show cli sockets").rfind("# socket lvl processes\n", 0) == 0);
    CHECK(cli.run("show backend").rfind("# name\n", 0) == 0);
    bool cleared_all = false;
    cli.services.clear_counters = [&](bool all) {
        cleared_all = all;
        return std::string();
    };
    CHECK(cli.run("clear counters all") == "\n");
    CHECK(cleared_all);
    cli.session.level = Level::Operator;
    CHECK(cli.run("clear counters all") == "Permission denied\n\n");
    CHECK(cli.run("clear counters") == "\n");
    CHECK_FALSE(cleared_all);
    cli.session.level = Level::User;
    CHECK(cli.run("show env ES_CLI_TEST_VAR").find("ES_CLI_TEST_VAR=v1") == std::string::npos);
}
