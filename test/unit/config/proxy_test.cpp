// Proxies: typical configurations, defaults inheritance, listen expansion, servers, binds, files.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "edgeshard/net/proxy_proto.hpp"
#include "helpers.hpp"

using es::config::Balance;
using es::config::Config;
using es::config::ConfigError;
using es::config::load_files;
using es::config::Mode;
using es::config::test::error_of;
using es::config::test::expect_error;
using es::config::test::has_warning;
using es::config::test::kTail;
using es::config::test::load;

namespace {

// A private directory for file-based tests, removed when the test ends.
class TempDir {
  public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "es-config-test-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const auto p = (path_ / name).string();
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    std::string path() const { return path_.string(); }

  private:
    std::filesystem::path path_;
};

// Debian 12's /etc/haproxy/haproxy.cfg as shipped by the haproxy package (2.6), verbatim.
const std::string kDebianHaproxyCfg = R"(global
	log /dev/log	local0
	log /dev/log	local1 notice
	chroot /var/lib/haproxy
	stats socket /run/haproxy/admin.sock mode 660 level admin
	stats timeout 30s
	user haproxy
	group haproxy
	daemon

	# Default SSL material locations
	ca-base /etc/ssl/certs
	crt-base /etc/ssl/private

	# See: https://ssl-config.mozilla.org/#server=haproxy&server-version=2.0.3&config=intermediate
        ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384
        ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
        ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

defaults
	log	global
	mode	http
	option	httplog
	option	dontlognull
        timeout connect 5000
        timeout client  50000
        timeout server  50000
	errorfile 400 /etc/haproxy/errors/400.http
	errorfile 403 /etc/haproxy/errors/403.http
	errorfile 408 /etc/haproxy/errors/408.http
	errorfile 500 /etc/haproxy/errors/500.http
	errorfile 502 /etc/haproxy/errors/502.http
	errorfile 503 /etc/haproxy/errors/503.http
	errorfile 504 /etc/haproxy/errors/504.http
)";

const std::string kTcpListen =
    "\nlisten postgres\n"
    "    mode tcp\n"
    "    bind 127.0.0.1:5433\n"
    "    balance leastconn\n"
    "    option tcplog\n"
    "    server db1 127.0.0.1:5432 check inter 2s fall 3 rise 2\n"
    "    server db2 127.0.0.1:5434 check weight 2\n";

void check_debian(const Config& cfg) {
    REQUIRE(cfg.frontends.size() == 1);
    REQUIRE(cfg.backends.size() == 1);
    const auto& fe = cfg.frontends[0];
    CHECK(fe.name == "postgres");
    CHECK(fe.mode == Mode::Tcp);
    CHECK(fe.timeouts.client == 50000);
    CHECK(fe.default_backend == "postgres");
    CHECK(fe.default_backend_id == 0);
    const auto& be = cfg.backends[0];
    CHECK(be.mode == Mode::Tcp);
    CHECK(be.balance.algo == Balance::LeastConn);
    CHECK(be.timeouts.connect == 5000);
    CHECK(be.timeouts.server == 50000);
    REQUIRE(be.servers.size() == 2);
    CHECK(be.servers[1].weight == 2);
    REQUIRE(cfg.global.stats_sockets.size() == 1);
    CHECK(cfg.global.stats_sockets[0].path == "/run/haproxy/admin.sock");
    CHECK(cfg.global.stats_sockets[0].mode == 0660);
    CHECK(cfg.global.stats_sockets[0].level_admin);
    CHECK(cfg.global.stats_timeout == 30000);
    // HTTP settings inherited from the http defaults are kept on the tcp listen, and unused there.
    REQUIRE(fe.http.errors.size() == 7);
    CHECK(fe.http.errors[0].status == 400);
    CHECK(fe.http.errors[0].raw.rfind("HTTP/1.0 400 Bad request", 0) == 0);
    CHECK(be.http.errors.size() == 7);
    CHECK(fe.log_format == "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq");
    CHECK(fe.dontlognull);
    REQUIRE(fe.logs.size() == 2);
    CHECK(fe.logs[0].target == "/dev/log");
    CHECK(fe.logs[1].facility == "local1");
    CHECK(fe.logs[1].level == "notice");
    CHECK(fe.own_backend_id == 0);
    CHECK(has_warning(cfg, {"keyword 'chroot' is accepted and ignored"}));
}

}  // namespace

TEST_CASE("Debian's haproxy.cfg with a tcp listen appended is accepted unchanged") {
    const std::string& listen = kTcpListen;
    TempDir dir;
    // The errorfiles of Debian's package, written where the test can find them.
    std::string text = kDebianHaproxyCfg;
    for (const char* code : {"400", "403", "408", "500", "502", "503", "504"}) {
        dir.write(std::string(code) + ".http",
                  std::string("HTTP/1.0 ") + code + (std::string(code) == "400" ? " Bad request" : " Error") +
                      "\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n"
                      "<html><body>error</body></html>\n");
    }
    for (auto pos = text.find("/etc/haproxy/errors"); pos != std::string::npos;
         pos = text.find("/etc/haproxy/errors", pos))
        text.replace(pos, std::strlen("/etc/haproxy/errors"), dir.path());
    const auto p = dir.write("haproxy.cfg", text + listen);
    check_debian(load_files({p}));

    // The same against the machine's own file when the haproxy package is installed.
    std::ifstream sys("/etc/haproxy/haproxy.cfg");
    if (sys) {
        std::string text((std::istreambuf_iterator<char>(sys)), std::istreambuf_iterator<char>());
        check_debian(load_files({dir.write("system.cfg", text + listen)}));
    }
}

TEST_CASE("a typical tcp configuration") {
    const auto cfg = load(
        "global\n"
        "    maxconn 50000\n"
        "defaults\n"
        "    mode tcp\n"
        "    timeout connect 5s\n"
        "    timeout client 1m\n"
        "    timeout server 1m\n"
        "    retries 2\n"
        "    option redispatch\n"
        "frontend db_in\n"
        "    bind 0.0.0.0:6432,[::]:6432\n"
        "    maxconn 10000\n"
        "    default_backend pg\n"
        "frontend cache_in\n"
        "    bind :6379\n"
        "    use_backend redis\n"
        "backend pg\n"
        "    balance leastconn\n"
        "    server pg1 10.0.0.1:5432 weight 10 maxconn 100\n"
        "    server pg2 10.0.0.2:5432 weight 20\n"
        "    server pg3 10.0.0.3:5432 disabled\n"
        "backend redis\n"
        "    balance source\n"
        "    server r1 10.0.1.1:6379\n"
        "    server r2 [fd00::2]:6379 weight 0\n");
    CHECK(cfg.warnings.empty());
    REQUIRE(cfg.frontends.size() == 2);
    REQUIRE(cfg.backends.size() == 2);
    const auto& db = cfg.frontends[0];
    CHECK(db.id == 0);
    CHECK(db.maxconn == 10000);
    REQUIRE(db.binds.size() == 2);
    CHECK(db.binds[0].addr.text() == "0.0.0.0:6432");
    CHECK(db.binds[1].addr.text() == "[::]:6432");
    CHECK(db.binds[1].spec == "[::]:6432");
    CHECK(db.binds[1].where.line == 11);
    CHECK(db.default_backend_id == 0);
    CHECK(db.default_backend_where.line == 13);
    const auto& cache = cfg.frontends[1];
    CHECK(cache.id == 1);
    CHECK(cache.default_backend_id == -1);
    REQUIRE(cache.use_backends.size() == 1);
    CHECK(cache.use_backends[0].backend == "redis");
    CHECK(cache.use_backends[0].backend_id == 1);
    CHECK(cache.use_backends[0].where.line == 16);

    const auto& pg = cfg.backends[0];
    CHECK(pg.id == 0);
    CHECK(pg.balance.algo == Balance::LeastConn);
    CHECK(pg.retries == 2);
    CHECK(pg.redispatch);
    CHECK(pg.redispatch_interval == -1);
    REQUIRE(pg.servers.size() == 3);
    CHECK(pg.servers[0].id == 0);
    CHECK(pg.servers[0].weight == 10);
    CHECK(pg.servers[0].maxconn == 100);
    CHECK(pg.servers[1].id == 1);
    CHECK(pg.servers[1].weight == 20);
    CHECK(pg.servers[2].id == 2);
    CHECK(pg.servers[2].disabled);
    CHECK(pg.servers[2].weight == 1);
    const auto& redis = cfg.backends[1];
    CHECK(redis.balance.algo == Balance::Source);
    CHECK(redis.servers[1].addr.text() == "[fd00::2]:6379");
    CHECK(redis.servers[1].weight == 0);
    CHECK(redis.servers[1].where.line == 25);

    CHECK(cfg.find_backend("redis") == &cfg.backends[1]);
    CHECK(cfg.find_backend("db_in") == nullptr);
    CHECK(cfg.find_frontend("cache_in") == &cfg.frontends[1]);
    CHECK(cfg.find_frontend("pg") == nullptr);
}

TEST_CASE("defaults are inherited by the proxies that follow, the latest section wins") {
    const auto cfg = load(
        "defaults\n"
        "    mode tcp\n"
        "    balance source\n"
        "    timeout connect 3s\n"
        "    timeout client 4s\n"
        "    timeout server 5s\n"
        "    timeout tunnel 1h\n"
        "    timeout client-fin 7s\n"
        "    timeout server-fin 8s\n"
        "    timeout queue 9s\n"
        "    retries 5\n"
        "    option redispatch 2\n"
        "    maxconn 300\n"
        "    default-server weight 7 maxconn 11\n"
        "frontend f1\n"
        "    bind 127.0.0.1:1\n"
        "    default_backend b1\n"
        "backend b1\n"
        "    server s 127.0.0.1:2\n"
        "defaults\n"  // a new defaults section starts from HAProxy's built-in values
        "    timeout connect 1s\n"
        "    timeout client 1s\n"
        "    timeout server 1s\n"
        "frontend f2\n"
        "    bind 127.0.0.1:3\n"
        "    default_backend b2\n"
        "backend b2\n"
        "    server s 127.0.0.1:4\n");
    const auto& f1 = *cfg.find_frontend("f1");
    CHECK(f1.maxconn == 300);
    CHECK(f1.timeouts.client == 4000);
    CHECK(f1.timeouts.client_fin == 7000);
    const auto& b1 = *cfg.find_backend("b1");
    CHECK(b1.balance.algo == Balance::Source);
    CHECK(b1.timeouts.connect == 3000);
    CHECK(b1.timeouts.server == 5000);
    CHECK(b1.timeouts.tunnel == 3600000);
    CHECK(b1.timeouts.server_fin == 8000);
    CHECK(b1.timeouts.queue == 9000);
    CHECK(b1.retries == 5);
    CHECK(b1.redispatch);
    CHECK(b1.redispatch_interval == 2);
    CHECK(b1.servers[0].weight == 7);
    CHECK(b1.servers[0].maxconn == 11);

    const auto& f2 = *cfg.find_frontend("f2");
    CHECK(f2.maxconn == 0);
    const auto& b2 = *cfg.find_backend("b2");
    CHECK(b2.balance.algo == Balance::RoundRobin);
    CHECK(b2.timeouts.tunnel == es::config::kUnset);
    CHECK(b2.retries == 3);
    CHECK_FALSE(b2.redispatch);
    CHECK(b2.servers[0].weight == 1);
}

TEST_CASE("named defaults and 'from'") {
    const auto cfg = load(
        "defaults base\n"
        "    mode tcp\n"
        "    timeout connect 2s\n"
        "    timeout client 2s\n"
        "    timeout server 2s\n"
        "defaults other from base\n"
        "    timeout server 9s\n"
        "listen l1 from base\n"
        "    bind 127.0.0.1:1\n"
        "listen l2\n"  // the most recent defaults section: 'other'
        "    bind 127.0.0.1:2\n");
    CHECK(cfg.find_backend("l1")->timeouts.server == 2000);
    CHECK(cfg.find_backend("l2")->timeouts.server == 9000);
    CHECK(cfg.find_backend("l2")->timeouts.connect == 2000);
    expect_error("defaults base\nlisten l from nope\n    bind :1\n", 2, {"unknown defaults section 'nope'"});
    expect_error("defaults base\nlisten l from bsae\n    bind :1\n", 2, {"did you mean 'base'?"});
}

TEST_CASE("listen = a frontend and a backend of the same name, routed to itself") {
    const auto cfg = load(
        "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "backend other\n    server o 127.0.0.1:9\n"
        "listen both\n"
        "    mode tcp\n"
        "    bind 127.0.0.1:7000\n"
        "    maxconn 99\n"
        "    balance leastconn\n"
        "    timeout client 11s\n"
        "    timeout server 12s\n"
        "    server a 127.0.0.1:7001\n"
        "listen elsewhere\n"
        "    bind 127.0.0.1:7002\n"
        "    default_backend other\n");
    REQUIRE(cfg.frontends.size() == 2);
    REQUIRE(cfg.backends.size() == 3);
    const auto& fe = *cfg.find_frontend("both");
    const auto& be = *cfg.find_backend("both");
    CHECK(fe.maxconn == 99);
    CHECK(fe.timeouts.client == 11000);
    CHECK(fe.default_backend == "both");
    CHECK(fe.default_backend_id == static_cast<int>(be.id));
    CHECK(fe.where.line == 7);
    CHECK(be.balance.algo == Balance::LeastConn);
    CHECK(be.timeouts.server == 12000);
    CHECK(be.servers.size() == 1);
    CHECK(cfg.find_frontend("elsewhere")->default_backend_id ==
          static_cast<int>(cfg.find_backend("other")->id));
    CHECK(cfg.warnings.empty());
}

TEST_CASE("a listen without bind is used as a backend only") {
    const auto cfg = load(kTail + "listen spare\n    server s 127.0.0.1:3\n");
    CHECK(cfg.find_frontend("spare") == nullptr);
    CHECK(cfg.find_backend("spare") != nullptr);
    CHECK(has_warning(cfg, {"t.cfg:11: listen 'spare' has no 'bind' line"}));
}

TEST_CASE("default-server applies to the servers that follow") {
    const auto cfg = load(kTail +
                          "backend b\n"
                          "    server s0 127.0.0.1:1\n"
                          "    default-server weight 50 maxconn 8 disabled\n"
                          "    server s1 127.0.0.1:2\n"
                          "    server s2 127.0.0.1:3 enabled weight 3\n");
    const auto& b = *cfg.find_backend("b");
    CHECK(b.servers[0].weight == 1);
    CHECK_FALSE(b.servers[0].disabled);
    CHECK(b.servers[1].weight == 50);
    CHECK(b.servers[1].maxconn == 8);
    CHECK(b.servers[1].disabled);
    CHECK(b.servers[2].weight == 3);
    CHECK_FALSE(b.servers[2].disabled);
}

TEST_CASE("bind forms") {
    const auto cfg = load(
        "defaults\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n"
        "frontend f\n"
        "    backlog 100\n"
        "    bind 127.0.0.1:8000-8002\n"
        "    bind ipv6@:9000 v6only backlog 5\n"
        "    bind ipv4@127.0.0.2:9000,tcp@[::1]:9001 name web thread 1-2\n"
        "    bind :::9002 v4v6\n"
        "    default_backend b\n"
        "backend b\n    server s 127.0.0.1:1\n");
    const auto& binds = cfg.frontends[0].binds;
    REQUIRE(binds.size() == 7);
    CHECK(binds[0].addr.text() == "127.0.0.1:8000");
    CHECK(binds[2].addr.text() == "127.0.0.1:8002");
    CHECK(binds[2].spec == "127.0.0.1:8002");
    CHECK(binds[0].backlog == 100);
    CHECK(binds[3].addr.text() == "[::]:9000");
    CHECK(binds[3].v6only);
    CHECK(binds[3].backlog == 5);
    CHECK(binds[4].addr.text() == "127.0.0.2:9000");
    CHECK(binds[5].addr.text() == "[::1]:9001");
    CHECK(binds[6].v4v6);
    CHECK(has_warning(cfg, {"t.cfg:9: keyword 'name web' is accepted and ignored"}));
    CHECK(has_warning(cfg, {"t.cfg:9: keyword 'thread 1-2' is accepted and ignored", "every shard accepts"}));
}

TEST_CASE("timeouts land on their side; the wrong side warns as HAProxy does") {
    const auto cfg = load(
        "frontend f\n"
        "    bind 127.0.0.1:1\n"
        "    timeout client 5s\n"
        "    timeout server 6s\n"
        "    timeout http-request 7s\n"
        "    timeout http-keep-alive 8s\n"
        "    default_backend b\n"
        "backend b\n"
        "    timeout connect 1s\n"
        "    timeout server 2s\n"
        "    timeout check 3s\n"
        "    timeout client 4s\n"
        "    maxconn 5\n"
        "    server s 127.0.0.1:2\n");
    const auto& f = cfg.frontends[0];
    CHECK(f.timeouts.client == 5000);
    CHECK(f.timeouts.server == es::config::kUnset);
    CHECK(f.timeouts.http_request == 7000);
    CHECK(f.timeouts.http_keep_alive == 8000);
    const auto& b = cfg.backends[0];
    CHECK(b.timeouts.check == 3000);
    CHECK(b.timeouts.client == es::config::kUnset);
    CHECK(has_warning(
        cfg, {"t.cfg:4: 'timeout server' is ignored because frontend 'f' has no backend capability"}));
    CHECK(has_warning(
        cfg, {"t.cfg:12: 'timeout client' is ignored because backend 'b' has no frontend capability"}));
    CHECK(has_warning(cfg, {"t.cfg:13: 'maxconn' is ignored because backend 'b'"}));
}

TEST_CASE("missing timeouts warn, as in HAProxy") {
    const auto cfg = load("frontend f\n    bind 127.0.0.1:1\n    default_backend b\nbackend b\n");
    CHECK(has_warning(cfg, {"t.cfg:1: missing timeouts for frontend 'f': 'timeout client'"}));
    CHECK(
        has_warning(cfg, {"t.cfg:4: missing timeouts for backend 'b': 'timeout connect', 'timeout server'"}));
    const auto zero = load(
        "listen l\n    bind 127.0.0.1:1\n    timeout client 0\n"
        "    timeout connect 1s\n    timeout server 1s\n");
    CHECK(has_warning(zero, {"missing timeouts for listen 'l': 'timeout client'"}));
}

TEST_CASE("option redispatch forms") {
    auto backend_of = [](const std::string& lines) {
        return load(kTail + "backend b\n" + lines).find_backend("b")->redispatch_interval;
    };
    CHECK(backend_of("    option redispatch\n") == -1);
    CHECK(backend_of("    option redispatch 3\n") == 3);
    CHECK(backend_of("    option redispatch -2\n") == -2);
    const auto cfg = load(kTail +
                          "backend b\n    option redispatch\n    no option redispatch\n"
                          "backend c\n    option redispatch 0\n");
    CHECK_FALSE(cfg.find_backend("b")->redispatch);
    CHECK_FALSE(cfg.find_backend("c")->redispatch);
    const auto d = load("defaults\n    option redispatch\nlisten l\n    bind :1\n");
    CHECK(d.find_backend("l")->redispatch);
}

TEST_CASE("proxy keywords accepted with a warning") {
    const auto cfg = load(
        "defaults\n"
        "    log global\n"
        "    option httplog\n"
        "    option dontlognull\n"
        "    option spop-check\n"
        "    log-tag x\n"
        "    no option http-server-close\n"
        "    timeout tarpit 5s\n" +
        kTail +
        "backend b2\n"
        "    option httpchk GET /health\n"
        "    server s 127.0.0.1:1 check inter 2s fall 3 rise 2 init-addr none id 5\n");
    CHECK_FALSE(has_warning(cfg, {"t.cfg:2:"}));
    CHECK_FALSE(has_warning(cfg, {"t.cfg:3:"}));  // stored in a defaults section no proxy uses
    CHECK(has_warning(cfg, {"t.cfg:5: keyword 'option spop-check'", "checked by a TCP connect instead"}));
    CHECK_FALSE(has_warning(cfg, {"t.cfg:6:"}));  // log-tag is implemented
    CHECK_FALSE(has_warning(cfg, {"t.cfg:7:"}));
    CHECK(has_warning(cfg, {"t.cfg:8: keyword 'timeout tarpit'"}));
    CHECK_FALSE(has_warning(cfg, {"t.cfg:20:"}));  // option httpchk is implemented
    CHECK_FALSE(has_warning(cfg, {"'inter'"}));   // so are check, inter, fall, rise
    CHECK_FALSE(has_warning(cfg, {"t.cfg:21: keyword 'init-addr'"}));  // init-addr is implemented
    CHECK_FALSE(has_warning(cfg, {"t.cfg:21: keyword 'id'"}));  // id is read (balance first follows ids)
}

TEST_CASE("health checks: server words, default-server, option httpchk, http-check, globals") {
    const auto cfg = load(
        "global\n    spread-checks 5\n    max-spread-checks 1s\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "    option httpchk HEAD /ping HTTP/1.1\\r\\nHost:\\ www.test\n"
        "    default-server inter 3s fastinter 1s downinter 5s rise 3 fall 4\n"
        "backend b\n"
        "    option allbackups\n"
        "    http-check expect status 200,301-302\n"
        "    http-check expect ! rstring ^err\n"
        "    server a 127.0.0.1:1 check port 9 addr 127.0.0.2 check-ssl check-sni h.test\n"
        "    server b 127.0.0.1:2 check backup rise 1\n"
        "    server c 127.0.0.1:3\n"
        "backend t\n    mode tcp\n    no option httpchk\n    server x 127.0.0.1:4 check\n"
        "backend s\n    http-check send meth GET uri /h ver HTTP/1.1 hdr Host h body x\n    server y 127.0.0.1:5 check\n"
        "frontend f\n    bind 127.0.0.1:6\n    default_backend b\n");
    CHECK(cfg.global.spread_checks == 5);
    CHECK(cfg.global.max_spread_checks == 1000);
    const auto& b = *cfg.find_backend("b");
    CHECK(b.allbackups);
    CHECK(b.check.kind == es::config::CheckKind::Http);
    CHECK(b.check.method == "HEAD");
    CHECK(b.check.uri == "/ping");
    CHECK(b.check.version == "HTTP/1.1");
    REQUIRE(b.check.headers.size() == 1);
    CHECK(b.check.headers[0] == std::pair<std::string, std::string>{"Host", "www.test"});
    REQUIRE(b.check.expects.size() == 2);
    CHECK(b.check.expects[0].kind == es::config::CheckExpect::Kind::Status);
    CHECK(b.check.expects[0].statuses == std::vector<std::pair<int, int>>{{200, 200}, {301, 302}});
    CHECK(b.check.expects[1].kind == es::config::CheckExpect::Kind::RString);
    CHECK(b.check.expects[1].negate);
    const auto& a = b.servers[0];
    CHECK(a.check.enabled);
    CHECK(a.check.inter == 3000);
    CHECK(a.check.fastinter == 1000);
    CHECK(a.check.downinter == 5000);
    CHECK(a.check.rise == 3);
    CHECK(a.check.fall == 4);
    CHECK(a.check.port == 9);
    REQUIRE(a.check.addr);
    CHECK(a.check.addr->text() == "127.0.0.2:0");
    CHECK(a.check.ssl == 1);
    CHECK(a.check.sni == "h.test");
    CHECK_FALSE(a.backup);
    CHECK(b.servers[1].backup);
    CHECK(b.servers[1].check.rise == 1);
    CHECK_FALSE(b.servers[2].check.enabled);
    CHECK(b.servers[2].check.inter == 3000);  // default-server carries the timing, not `check`
    CHECK(cfg.find_backend("t")->check.kind == es::config::CheckKind::Tcp);
    const auto& s = *cfg.find_backend("s");
    CHECK(s.check.kind == es::config::CheckKind::Http);  // from the defaults' option httpchk
    CHECK(s.check.method == "GET");
    CHECK(s.check.uri == "/h");
    CHECK(s.check.body == "x");
    CHECK(s.check.headers.back() == std::pair<std::string, std::string>{"Host", "h"});
}

TEST_CASE("health checks: tcp-check rulesets, redis-check, smtpchk") {
    const auto cfg = load(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "backend r\n    option tcp-check\n"
        "    tcp-check connect port 6380 ssl\n"
        "    tcp-check send PING\\r\\n comment ping\n"
        "    tcp-check expect min-recv 5 error-status L7STS on-error down string +PONG\n"
        "    tcp-check send-binary 0a0B\n"
        "    tcp-check expect ! rbinary ^FF\n"
        "    server s 127.0.0.1:1 check\n"
        "backend redis\n    option redis-check\n    server s 127.0.0.1:2 check\n"
        "backend mail\n    option smtpchk EHLO mx.test\n    server s 127.0.0.1:3 check\n"
        "frontend f\n    bind 127.0.0.1:6\n    default_backend r\n");
    using Step = es::config::TcpCheckStep;
    const auto& r = cfg.find_backend("r")->check;
    CHECK(r.kind == es::config::CheckKind::TcpCheck);
    REQUIRE(r.steps.size() == 5);
    CHECK(r.steps[0].kind == Step::Kind::Connect);
    CHECK(r.steps[0].port == 6380);
    CHECK(r.steps[0].ssl);
    CHECK(r.steps[1].data == "PING\r\n");
    CHECK(r.steps[1].comment == "ping");
    CHECK(r.steps[2].kind == Step::Kind::Expect);
    CHECK(r.steps[2].min_recv == 5);
    CHECK(r.steps[2].error_status == 13);
    CHECK(r.steps[2].on_error == "down");
    CHECK(r.steps[2].pattern == "+PONG");
    CHECK(r.steps[3].data == std::string("\x0a\x0b"));
    CHECK(r.steps[4].negate);
    CHECK(r.steps[4].match == Step::Match::RBinary);
    const auto& redis = cfg.find_backend("redis")->check;
    CHECK(redis.kind == es::config::CheckKind::TcpCheck);
    REQUIRE(redis.builtin.size() == 2);
    CHECK(redis.builtin[0].data == "*1\r\n$4\r\nPING\r\n");
    CHECK(redis.builtin[1].pattern == "+PONG\r\n");
    const auto& mail = cfg.find_backend("mail")->check;
    REQUIRE(mail.builtin.size() == 7);
    CHECK(mail.builtin[3].data == "EHLO mx.test\r\n");
}

TEST_CASE("health checks: the protocol checks ldap, mysql, pgsql and ssl-hello build HAProxy's rules") {
    const auto cfg = load(
        kTail +
        "backend ldap\n    option ldap-check\n    server s 127.0.0.1:1 check\n"
        "backend my\n    option mysql-check user hc\n    server s 127.0.0.1:2 check\n"
        "backend my40\n    option mysql-check user hc pre-41\n    server s 127.0.0.1:2 check\n"
        "backend my0\n    option mysql-check\n    server s 127.0.0.1:2 check\n"
        "backend pg\n    option pgsql-check user pguser\n    server s 127.0.0.1:3 check\n"
        "backend tls\n    option ssl-hello-chk\n    server s 127.0.0.1:4 check\n");
    using Step = es::config::TcpCheckStep;
    const auto& ldap = cfg.find_backend("ldap")->check.builtin;
    REQUIRE(ldap.size() == 3);
    CHECK(ldap[0].data == std::string("\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00", 14));
    CHECK(ldap[2].custom == Step::Custom::LdapBind);
    const auto& my = cfg.find_backend("my")->check.builtin;
    REQUIRE(my.size() == 4);  // connect, login + quit, handshake, answer
    // post-41: length 34 + user, sequence 1, PROTOCOL_41 | SECURE_CONNECTION, the user, COM_QUIT
    CHECK(my[1].data.size() == 4 + 36 + 5);
    CHECK(my[1].data.substr(0, 4) == std::string("\x24\x00\x00\x01", 4));
    CHECK(my[1].data.substr(4, 4) == std::string("\x00\x82\x00\x00", 4));
    CHECK(my[1].data.substr(4 + 32, 3) == std::string("hc\0", 3));
    CHECK(my[1].data.substr(my[1].data.size() - 5) == std::string("\x01\x00\x00\x00\x01", 5));
    CHECK(my[2].custom == Step::Custom::MysqlHello);
    CHECK(my[3].custom == Step::Custom::MysqlOk);
    const auto& my40 = cfg.find_backend("my40")->check.builtin;
    CHECK(my40[1].data.substr(0, 4) == std::string("\x09\x00\x00\x01", 4));
    CHECK(cfg.find_backend("my0")->check.builtin.size() == 2);  // the handshake alone
    const auto& pg = cfg.find_backend("pg")->check.builtin;
    REQUIRE(pg.size() == 4);
    CHECK(pg[1].data == std::string("\x00\x00\x00\x15\x00\x03\x00\x00user\0pguser\0\0", 21));
    CHECK(pg[2].negate);
    CHECK(pg[3].on_success == "PostgreSQL server is ok");
    const auto& tls = cfg.find_backend("tls")->check.builtin;
    REQUIRE(tls.size() == 2);
    CHECK(tls[0].data.size() == 5 + 0x79);
    CHECK(tls[0].data.substr(0, 5) == std::string("\x16\x03\x00\x00\x79", 5));
    CHECK(tls[0].time_at == 11);
    CHECK(tls[1].ok_status == 6);  // L6OK
    expect_error(kTail + "backend b2\n    option pgsql-check\n", 12, {"'option pgsql-check' expects 'user <name>'"});
    expect_error(kTail + "backend b2\n    option mysql-check user u post-99\n", 12,
                 {"expects 'post-41', 'pre-41' or 'post-80'"});
    expect_error(kTail + "backend b2\n    option mysql-check admin u\n", 12, {"expects 'user <name>'"});
}

TEST_CASE("health checks: agents, passive checks, PROXY lines on checks") {
    const auto cfg = load(
        kTail +
        "backend b2\n    mode http\n"
        "    default-server agent-inter 300ms observe layer7 error-limit 4 on-error mark-down\n"
        "    server a 127.0.0.1:1 check agent-check agent-port 9999 agent-send \"hi\\n\" agent-addr 127.0.0.2\n"
        "    server b 127.0.0.1:2 check check-send-proxy observe layer4 on-error sudden-death\n"
        "    server c 127.0.0.1:3 check no-agent-check\n"
        "backend t\n    server s 127.0.0.1:4 check observe layer7\n");
    using SC = es::config::ServerCheck;
    const auto& a = cfg.find_backend("b2")->servers[0].check;
    CHECK(a.agent);
    CHECK(a.agent_port == 9999);
    CHECK(a.agent_inter == 300);
    CHECK(a.agent_send == "hi\n");
    REQUIRE(a.agent_addr);
    CHECK(a.agent_addr->text().rfind("127.0.0.2", 0) == 0);
    CHECK(a.observe == SC::Observe::Layer7);
    CHECK(a.error_limit == 4);
    CHECK(a.on_error == SC::OnError::MarkDown);
    const auto& b = cfg.find_backend("b2")->servers[1].check;
    CHECK(b.send_proxy);
    CHECK(b.observe == SC::Observe::Layer4);
    CHECK(b.on_error == SC::OnError::SuddenDeath);
    CHECK_FALSE(b.agent);
    // observe layer7 in a mode tcp backend: HAProxy 2.6 alerts and observes nothing; so do we (a warning)
    CHECK(cfg.find_backend("t")->servers[0].check.observe == SC::Observe::None);
    CHECK(has_warning(cfg, {"'observe layer7'", "mode tcp"}));
    expect_error(kTail + "backend b2\n    server s 127.0.0.1:1 agent-check\n", 12, {"agent port"});
    expect_error(kTail + "backend b2\n    server s 127.0.0.1:1 on-error reboot\n", 12,
                 {"'on-error' expects fastinter, fail-check, sudden-death or mark-down"});
    expect_error(kTail + "backend b2\n    server s 127.0.0.1:1 observe layer3\n", 12, {"'observe' expects"});
    expect_error(kTail + "backend b2\n    option tcp-check\n    tcp-check expect ok-status L7STS string x\n", 13,
                 {"'ok-status' expects L7OK, L7OKC, L6OK or L4OK, got 'L7STS'"});
    expect_error(kTail + "backend b2\n    option tcp-check\n    tcp-check expect tout-status L7OK string x\n", 13,
                 {"'tout-status' expects L7TOUT, L6TOUT or L4TOUT"});
    expect_error(kTail + "backend b2\n    option tcp-check\n    tcp-check expect error-status L4TOUT string x\n", 13,
                 {"'error-status' expects L7RSP, L7STS, L6RSP or L4CON"});
}

TEST_CASE("server host names are resolved at load as init-addr says") {
    const std::string bad = std::string(64, 'x') + ".test";  // refused before any resolver is asked
    const auto cfg = load(kTail +
                          "backend h\n"
                          "    server a ipv4@localhost:8080\n"
                          "    server b " + bad + ":81 init-addr none\n"
                          "    server c " + bad + ":82 init-addr last,libc,10.1.2.3\n"
                          "    default-server init-addr none\n"
                          "    server d " + bad + ":83\n");
    const auto& sv = cfg.find_backend("h")->servers;
    CHECK(sv[0].addr.text() == "127.0.0.1:8080");
    CHECK(sv[0].hostname == "localhost");
    CHECK_FALSE(sv[0].disabled);
    CHECK(sv[1].disabled);  // no address: maintenance, with a warning
    CHECK(has_warning(cfg, {"server 'h/b'", "init-addr none", "maintenance"}));
    CHECK(sv[2].addr.text() == "10.1.2.3:82");
    CHECK(sv[3].disabled);  // default-server carries init-addr
    expect_error(kTail + "backend b2\n    server s " + bad + ":80 init-addr libc,bogus\n", 12,
                 {"'init-addr' expects methods among last, libc, none or an IP address, got 'bogus'"});
    // -dr: an unresolvable server starts in maintenance instead of failing the load
    es::config::LoadOptions dr;
    dr.ignore_resolve_failures = true;
    const auto ok = es::config::load_text(kTail + "backend b2\n    server s " + bad + ":80\n", "t.cfg", dr);
    CHECK(ok.find_backend("b2")->servers[0].disabled);
}

TEST_CASE("audit: options that would change what is sent or routed are refused") {
    const std::string be = kTail + "backend b2\n";
    expect_error(be + "    option prefer-last-server\n", 12,
                 {"'option prefer-last-server' is not supported", "balanced on its own"});
    expect_error(be + "    option checkcache\n", 12, {"'option checkcache' is not supported"});
    expect_error(be + "    option h1-case-adjust-bogus-server\n", 12, {"cannot be re-cased"});
    expect_error(be + "    server s 127.0.0.1:1 pool-max-conn 0\n", 12,
                 {"'pool-max-conn 0'", "http-reuse never"});
    const auto cfg =
        load(kTail +
             "backend b2\n    hash-type consistent sdbm avalanche\n"
             "    server s 127.0.0.1:1 pool-max-conn 100\n    server t 127.0.0.1:2 pool-max-conn -1\n"
             "    option accept-invalid-http-request\n");
    CHECK_FALSE(has_warning(cfg, {"t.cfg:12:"}));  // the function is HAProxy's now: nothing to warn about
    CHECK(has_warning(cfg, {"t.cfg:13: keyword 'pool-max-conn'"}));
    CHECK(has_warning(cfg, {"t.cfg:15:", "still answered with 400"}));
    CHECK(cfg.find_backend("b2")->balance.hash_type == es::config::HashType::Consistent);
    CHECK(cfg.find_backend("b2")->balance.hash_fn == es::config::HashFn::Sdbm);
    CHECK(cfg.find_backend("b2")->balance.hash_avalanche);
}

TEST_CASE("hash-type: HAProxy's functions, its defaults (consistent alone adds avalanche) and its messages") {
    auto fn = [](const std::string& line) {
        const auto cfg = load(kTail + "backend b2\n    " + line + "\n    server s 127.0.0.1:1\n");
        const auto& b = cfg.find_backend("b2")->balance;
        return std::make_tuple(b.hash_type, b.hash_fn, b.hash_avalanche);
    };
    using es::config::HashFn;
    using es::config::HashType;
    CHECK(fn("hash-type map-based") == std::make_tuple(HashType::MapBased, HashFn::Sdbm, false));
    CHECK(fn("hash-type consistent") == std::make_tuple(HashType::Consistent, HashFn::Sdbm, true));
    CHECK(fn("hash-type consistent djb2") == std::make_tuple(HashType::Consistent, HashFn::Djb2, false));
    CHECK(fn("hash-type map-based wt6 avalanche") == std::make_tuple(HashType::MapBased, HashFn::Wt6, true));
    CHECK(fn("hash-type map-based crc32") == std::make_tuple(HashType::MapBased, HashFn::Crc32, false));
    const std::string be = kTail + "backend b2\n";
    expect_error(be + "    hash-type map-based avalanche\n", 12,
                 {"'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions"});
    expect_error(be + "    hash-type map-based sdbm fast\n", 12,
                 {"'hash-type' only supports 'avalanche' as a modifier for hash functions"});
    // tune.es.lb-hash own: edgeshard's own ring and map, for every backend whatever the global section's place
    const auto own = load(kTail + "backend b2\n    balance uri\n    server s 127.0.0.1:1\nglobal\n    tune.es.lb-hash own\n");
    CHECK(own.find_backend("b2")->balance.own_hash);
    CHECK_FALSE(load(kTail + "backend b2\n    server s 127.0.0.1:1\n").find_backend("b2")->balance.own_hash);
}

TEST_CASE("later-room sections are skipped with one warning each") {
    const auto cfg = load(
        "ring logs\n"
        "    size 32764\n"
        "resolvers dns\n    nameserver ns1 10.0.0.1:53\n"
        "peers p\n    peer a 127.0.0.1:10000\n"
        "cache c\n    total-max-size 4\n"
        "program p\n    command /bin/true\n"
        "mailers m\n    mailer smtp1 10.0.0.1:25\n" +
        kTail);
    CHECK(cfg.warnings.size() == 5);  // resolvers is read (resolvers_test.cpp)
    CHECK(has_warning(cfg, {"t.cfg:1: section 'ring' is accepted and ignored"}));
    CHECK(has_warning(cfg, {"section 'program' is accepted and ignored", "the program is NOT started"}));
    CHECK(has_warning(cfg, {"section 'mailers' is accepted and ignored", "no e-mail"}));
}

TEST_CASE("mode is stored on both halves") {
    const auto cfg = load(
        "defaults\n    mode http\n    timeout client 1s\n    timeout connect 1s\n    timeout server 1s\n"
        "frontend web\n    bind 127.0.0.1:80\n    default_backend app\n"
        "backend app\n    server a 127.0.0.1:8080\n");
    CHECK(cfg.frontends[0].mode == Mode::Http);
    CHECK(cfg.backends[0].mode == Mode::Http);
}

TEST_CASE("default-path: relative file names read from the file's directory, its parent, or an origin") {
    TempDir dir;
    std::filesystem::create_directories(std::filesystem::path(dir.path()) / "conf" / "errors");
    std::filesystem::create_directories(std::filesystem::path(dir.path()) / "errors");
    dir.write("conf/errors/503.http", "HTTP/1.0 503 Service Unavailable\r\nx-from: conf\r\n\r\nconf\n");
    dir.write("errors/503.http", "HTTP/1.0 503 Service Unavailable\r\nx-from: parent\r\n\r\nparent\n");
    const std::string tail =
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "    errorfile 503 errors/503.http\n"
        "frontend fe\n    bind 127.0.0.1:10001\n    default_backend be\nbackend be\n    server s1 127.0.0.1:10002\n";
    auto from = [&](const std::string& global) {
        const auto cfg = load_files({dir.write("conf/t.cfg", "global\n" + global + tail)});
        const auto& errs = cfg.find_backend("be")->http.errors;
        for (const auto& r : errs)
            if (r.status == 503) return r.raw;
        return std::string("<none>");
    };
    CHECK(from("    default-path config\n").find("x-from: conf") != std::string::npos);
    CHECK(from("    default-path parent\n").find("x-from: parent") != std::string::npos);
    CHECK(from("    default-path origin " + dir.path() + "\n").find("x-from: parent") != std::string::npos);
    // current (the default): the working directory, where there is no errors/503.http
    CHECK_THROWS_WITH_AS(load_files({dir.write("conf/t.cfg", "global\n    default-path current\n" + tail)}),
                         doctest::Contains("cannot read 'errors/503.http'"), es::config::ConfigError);
    CHECK_THROWS_WITH_AS(load_files({dir.write("conf/t.cfg", "global\n    default-path somewhere\n" + tail)}),
                         doctest::Contains("'default-path' expects current, config, parent or origin"),
                         es::config::ConfigError);
    // the next load starts from the working directory again
    CHECK_THROWS_AS(load_files({dir.write("conf/u.cfg", "global\n" + tail)}), es::config::ConfigError);
}

TEST_CASE("files: several files are read in order; defaults carry over, sections do not") {
    TempDir dir;
    const auto a = dir.write("a.cfg",
                             "global\n    maxconn 77\ndefaults\n    mode tcp\n    timeout client 2s\n"
                             "    timeout connect 2s\n    timeout server 2s\n");
    const auto b = dir.write("b.cfg", "frontend f\n    bind 127.0.0.1:1\n    default_backend bk\n");
    const auto c = dir.write("c.cfg", "backend bk\n    server s 127.0.0.1:2\n");
    const auto cfg = load_files({a, b, c});
    CHECK(cfg.files == std::vector<std::string>{a, b, c});
    CHECK(cfg.global.maxconn == 77);
    CHECK(cfg.frontends[0].timeouts.client == 2000);
    CHECK(cfg.frontends[0].where.file == b);
    CHECK(cfg.backends[0].servers[0].where.file == c);
    CHECK(cfg.frontends[0].default_backend_id == 0);

    // A file does not continue the previous file's section.
    const auto d = dir.write("d.cfg", "    server s2 127.0.0.1:3\n");
    try {
        (void)load_files({a, b, c, d});
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).rfind(d + ":1: 'server' appears outside any section", 0) == 0);
        CHECK(e.where.file == d);
        CHECK(e.where.line == 1);
    }
}

TEST_CASE("files: a directory loads its *.cfg files in lexical order") {
    TempDir dir;
    dir.write("10-global.cfg", "global\n    maxconn 5\n");
    dir.write("20-proxies.cfg", kTail);
    dir.write("30-ignored.txt", "garbage that is not read\n");
    const auto cfg = load_files({dir.path()});
    CHECK(cfg.global.maxconn == 5);
    CHECK(cfg.files.size() == 2);
}

TEST_CASE("files: errors name the file") {
    TempDir dir;
    const auto missing = dir.path() + "/missing.cfg";
    try {
        (void)load_files({missing});
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()) ==
              missing + ": cannot read configuration file: No such file or directory");
        CHECK(e.where.line == 0);
    }
    const auto bad = dir.write("bad.cfg", kTail + "frontend x\n    bnd :80\n");
    try {
        (void)load_files({bad});
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).rfind(bad + ":12: unknown keyword 'bnd' in 'frontend' section", 0) == 0);
        CHECK(e.message.rfind("unknown keyword 'bnd'", 0) == 0);
    }
    try {
        (void)load_files({});
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).find("no configuration file given") != std::string::npos);
    }
}

TEST_CASE("PROXY protocol words: accept-proxy, expect-proxy, send-proxy and proxy-v2-options") {
    namespace pp = es::net::pp;
    const auto cfg = load(kTail +
                          "frontend f\n"
                          "    bind 127.0.0.1:20001 accept-proxy\n"
                          "    bind 127.0.0.1:20002\n"
                          "    tcp-request connection expect-proxy layer4 if { src 10.0.0.0/8 }\n"
                          "    tcp-request connection reject if { src 192.0.2.0/24 }\n"
                          "    default_backend b\n"
                          "backend b\n"
                          "    default-server send-proxy-v2 proxy-v2-options crc32c,authority\n"
                          "    server s1 127.0.0.1:1\n"
                          "    server s2 127.0.0.1:2 send-proxy\n"
                          "    server s3 127.0.0.1:3 no-send-proxy-v2\n"
                          "    server s4 127.0.0.1:4 send-proxy-v2-ssl-cn proxy-v2-options ssl-cipher,unique-id\n");
    const auto& f = *cfg.find_frontend("f");
    REQUIRE(f.binds.size() == 2);
    CHECK(f.binds[0].accept_proxy);
    CHECK_FALSE(f.binds[1].accept_proxy);
    REQUIRE(f.tcp_conn_rules.size() == 2);
    CHECK(f.tcp_conn_rules[0].action == es::config::TcpAction::ExpectProxy);
    CHECK(f.tcp_conn_rules[0].cond.present);
    const auto& b = *cfg.find_backend("b");
    CHECK(b.servers[0].send_proxy == 2);
    CHECK(b.servers[0].pp_opts == (pp::kOptCrc32c | pp::kOptAuthority));
    CHECK(b.servers[1].send_proxy == 1);
    CHECK(b.servers[2].send_proxy == 0);
    CHECK(b.servers[3].send_proxy == 2);
    CHECK(b.servers[3].pp_opts == (pp::kOptCrc32c | pp::kOptAuthority | pp::kOptSsl | pp::kOptSslCn |
                                   pp::kOptSslCipher | pp::kOptUniqueId));
    // an unconditional expect-proxy decides nothing: the rule after it is reachable (no warning)
    const auto cfg2 = load(kTail + "frontend f\n    bind 127.0.0.1:20003\n"
                                   "    tcp-request connection expect-proxy layer4\n"
                                   "    tcp-request connection reject if { src 192.0.2.0/24 }\n"
                                   "    default_backend tail_be\n");
    CHECK_FALSE(has_warning(cfg2, {"never reached"}));
}

TEST_CASE("cookie persistence: the backend's cookie line, server values, option persist and HAProxy's refusals") {
    using M = es::config::CookieSpec::Mode;
    const auto cfg = load(kTail +
                          "defaults d\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                          "    cookie SRV insert indirect nocache httponly secure domain .a.example domain .b.example\n"
                          "backend b1 from d\n    option persist\n    server s1 127.0.0.1:1 cookie one\n    server s2 127.0.0.1:2\n"
                          "backend b2 from d\n    cookie JSESSIONID prefix\n    server s1 127.0.0.1:1 cookie x\n"
                          "backend b3 from d\n    cookie SRVID\n    server s1 127.0.0.1:1 cookie x\n");
    const auto& b1 = *cfg.find_backend("b1");
    CHECK(b1.cookie.mode == M::Insert);
    CHECK(b1.cookie.name == "SRV");
    CHECK(b1.cookie.indirect);
    CHECK(b1.cookie.nocache);
    CHECK(b1.cookie.httponly);
    CHECK(b1.cookie.secure);
    CHECK(b1.cookie.domains == std::vector<std::string>{".a.example", ".b.example"});
    CHECK(b1.persist);
    CHECK(b1.servers[0].cookie == "one");
    CHECK(b1.servers[1].cookie.empty());
    CHECK(cfg.find_backend("b2")->cookie.mode == M::Prefix);
    CHECK_FALSE(cfg.find_backend("b2")->persist);
    CHECK(cfg.find_backend("b3")->cookie.mode == M::Passive);  // no mode written: only read
    const std::string be = kTail + "backend b\n    mode http\n";
    expect_error(be + "    cookie SRV insert rewrite\n", 13, {"cookie 'rewrite', 'insert' and 'prefix' modes are incompatible"});
    expect_error(be + "    cookie SRV rewrite indirect\n", 13, {"cookie 'rewrite' and 'indirect' modes are incompatible"});
    expect_error(be + "    cookie SRV prefix preserve\n", 13, {"cookie 'preserve' requires at least 'insert' or 'indirect'"});
    expect_error(be + "    cookie SRV insert maxidle 10m\n", 13, {"'cookie' option 'maxidle' is not supported"});
    expect_error(be + "    cookie SRV insert indirec\n", 13, {"unknown 'cookie' option 'indirec'", "did you mean 'indirect'"});
    expect_error(be + "    server s1 127.0.0.1:1 cookie\n", 13, {"'cookie' expects"});
}

TEST_CASE("servers without a port: the client's port, or an offset from it") {
    const auto cfg = load(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
        "frontend f\n    bind 127.0.0.1:10001\n    default_backend b\n"
        "backend b\n"
        "    server a 10.0.0.1\n"
        "    server p 10.0.0.2:+10\n"
        "    server m 10.0.0.3:-1\n"
        "    server z 10.0.0.4:+0\n"
        "    server c 10.0.0.5 check port 8080\n"
        "    server n 10.0.0.6:80\n");
    const auto& s = cfg.find_backend("b")->servers;
    REQUIRE(s.size() == 6);
    CHECK((s[0].port_map && s[0].port_offset == 0 && s[0].addr.port() == 0 && s[0].addr.host() == "10.0.0.1"));
    CHECK((s[1].port_map && s[1].port_offset == 10 && s[1].addr.port() == 0));
    CHECK((s[2].port_map && s[2].port_offset == -1));
    CHECK((s[3].port_map && s[3].port_offset == 0));
    CHECK((s[4].port_map && s[4].check.enabled && s[4].check.port == 8080));
    CHECK((!s[5].port_map && s[5].addr.port() == 80));
}
