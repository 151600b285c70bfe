// control room: the HTTP statistics pages the control shard renders for the data shards.
#include <doctest/doctest.h>
#include <string>
#include <vector>

#include "edgeshard/control/pages.hpp"
#include "edgeshard/control/stats_views.hpp"

using namespace es;
using namespace es::control;

namespace {

struct Fx {
    config::Config cfg;
    stats::Layout layout;
    stats::Snapshot snap;

    Fx() {
        config::Frontend web;
        web.name = "web";
        web.mode = config::Mode::Http;
        web.stats.enabled = true;
        web.stats.uri = "/stats";
        web.stats.refresh = 5000;
        cfg.frontends = {web};
        config::Backend app;
        app.name = "app";
        app.mode = config::Mode::Http;
        config::Server s1;
        s1.name = "s1";
        app.servers = {s1};
        cfg.backends = {app};
        layout = stats_layout(cfg);
        stats::ProcessView p;
        p.version = "1.2.3";
        snap = stats::build_snapshot(layout, p, std::vector<stats::ShardView>{});
    }
};

std::string header(const std::string& r, const std::string& name) {
    const std::string key = "\r\n" + name + ": ";
    const std::size_t at = r.find(key);
    if (at == std::string::npos) return {};
    const std::size_t from = at + key.size();
    return r.substr(from, r.find("\r\n", from) - from);
}

std::string body_of(const std::string& r) {
    const std::size_t at = r.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : r.substr(at + 4);
}

}  // namespace

TEST_CASE("the Prometheus page: 200, exposition content type, exact length") {
    Fx fx;
    proxy::PageRequest rq;
    rq.kind = proxy::PageKind::Prometheus;
    rq.target = "/metrics";
    const auto a = render_page(fx.snap, fx.cfg, rq);
    REQUIRE(a);
    CHECK(a->status == 200);
    CHECK(a->response.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(header(a->response, "content-type") == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(header(a->response, "cache-control") == "no-cache");
    const std::string body = body_of(a->response);
    CHECK(header(a->response, "content-length") == std::to_string(body.size()));
    CHECK(body.find("haproxy_process_build_info{version=\"1.2.3\"} 1\n") != std::string::npos);
}

TEST_CASE("the stats page: the target's suffix picks the format, the frontend's refresh applies") {
    Fx fx;
    proxy::PageRequest rq;
    rq.target = "/stats;csv";
    auto a = render_page(fx.snap, fx.cfg, rq);
    REQUIRE(a);
    CHECK(header(a->response, "content-type") == "text/plain; charset=utf-8");
    CHECK(body_of(a->response).starts_with("# pxname,svname,"));

    rq.target = "/stats;json";
    a = render_page(fx.snap, fx.cfg, rq);
    CHECK(header(a->response, "content-type") == "application/json");

    rq.target = "/stats";
    a = render_page(fx.snap, fx.cfg, rq);
    CHECK(header(a->response, "content-type") == "text/html; charset=utf-8");
    CHECK(body_of(a->response).find("<meta http-equiv=\"refresh\" content=\"5\">") != std::string::npos);
}

TEST_CASE("HEAD: the same headers, no body, content-length 0") {
    Fx fx;
    proxy::PageRequest rq;
    rq.target = "/stats;csv";
    rq.head = true;
    const auto a = render_page(fx.snap, fx.cfg, rq);
    REQUIRE(a);
    CHECK(a->status == 200);
    CHECK(header(a->response, "content-length") == "0");
    CHECK(a->response.ends_with("\r\n\r\n"));
}

TEST_CASE("a page over the cap is refused with a 500 that says so") {
    Fx fx;
    proxy::PageRequest rq;
    rq.kind = proxy::PageKind::Prometheus;
    const auto a = render_page(fx.snap, fx.cfg, rq, 100);
    REQUIRE(a);
    CHECK(a->status == 500);
    CHECK(a->response.starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
    const std::string body = body_of(a->response);
    CHECK(header(a->response, "content-length") == std::to_string(body.size()));
    CHECK(body.find("over the limit of 100 bytes") != std::string::npos);
    CHECK(a->response.size() < 400);
}

TEST_CASE("a request naming no frontend gets no page") {
    Fx fx;
    proxy::PageRequest rq;
    rq.frontend = 7;
    CHECK_FALSE(render_page(fx.snap, fx.cfg, rq));
}
