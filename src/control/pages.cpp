#include "edgeshard/control/pages.hpp"

#include <string>
#include <string_view>

#include "edgeshard/stats/render.hpp"

namespace es::control {

namespace {

proxy::PageAnswer frame(int status, std::string_view reason, std::string_view ctype, const std::string& body,
                        bool head) {
    proxy::PageAnswer a;
    a.status = status;
    std::string& r = a.response;
    r.reserve(160 + (head ? 0 : body.size()));
    r += "HTTP/1.1 ";
    r += std::to_string(status);
    r += ' ';
    r += reason;
    r += "\r\ncontent-type: ";
    r += ctype;
    r += "\r\ncache-control: no-cache\r\ncontent-length: ";
    r += std::to_string(head ? 0 : body.size());
    r += "\r\n\r\n";
    if (!head) r += body;
    return a;
}

// The stats page a request is for, and its refresh (s).
const config::StatsPage& page_of(const config::Config& cfg, const proxy::PageRequest& rq, int& refresh) {
    const bool from_be = rq.backend >= 0 && std::size_t(rq.backend) < cfg.backends.size();
    const config::StatsPage& sp = from_be ? cfg.backends[std::size_t(rq.backend)].stats : cfg.frontends[rq.frontend].stats;
    refresh = 0;
    if (from_be) refresh = int(sp.refresh / 1000);
    else
        for (const auto& fe : cfg.frontends)
            if (fe.stats.enabled && fe.stats.uri == sp.uri) refresh = int(fe.stats.refresh / 1000);
    return sp;
}

}  // namespace

std::optional<proxy::PageAnswer> render_page(const stats::Snapshot& snap, const config::Config& cfg,
                                             const proxy::PageRequest& rq, std::size_t cap) {
    if (rq.frontend >= cfg.frontends.size()) return std::nullopt;
    std::string body;
    std::string_view ctype;
    if (rq.kind == proxy::PageKind::Prometheus) {
        stats::render_prometheus(snap, body);
        ctype = stats::kPrometheusContentType;
    } else {
        int refresh = 0;
        const config::StatsPage& sp = page_of(cfg, rq, refresh);
        stats::PageOptions opt;
        opt.scope = &sp.scopes;
        opt.hide_version = sp.hide_version;
        opt.admin = rq.admin;
        ctype = stats::render_stats_page(snap, sp.uri, rq.target, refresh, body, opt);
    }
    if (body.size() > cap) {
        // the page is dropped here, on the control shard: nothing of it reaches a data shard
        const std::string text = "The statistics page would be " + std::to_string(body.size()) +
                                 " bytes, over the limit of " + std::to_string(cap) + " bytes.\n";
        body.clear();
        body.shrink_to_fit();
        return frame(500, "Internal Server Error", "text/plain; charset=utf-8", text, rq.head);
    }
    return frame(200, "OK", ctype, body, rq.head);
}

std::optional<proxy::PageAnswer> admin_answer(const config::Config& cfg, const proxy::PageRequest& rq,
                                              const Services& services) {
    if (rq.frontend >= cfg.frontends.size()) return std::nullopt;
    int refresh = 0;
    const config::StatsPage& sp = page_of(cfg, rq, refresh);
    proxy::PageAnswer a;
    a.status = 303;
    a.response = stats::admin_redirect(sp.uri, rq.target, refresh, run_stats_admin(rq.body, cfg, services));
    return a;
}

}  // namespace es::control
