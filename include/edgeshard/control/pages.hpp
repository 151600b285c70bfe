// The statistics pages served over HTTP, rendered on the control shard for the data shards that
// received the requests (the wire is in proxy/page.hpp; the control loop serves the mailboxes).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "edgeshard/config/config.hpp"
#include "edgeshard/control/command.hpp"
#include "edgeshard/proxy/page.hpp"
#include "edgeshard/stats/render.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace es::control {

// The complete HTTP response for one request: 200 with the page (the `stats uri` page chosen by
// the target's suffix, or the Prometheus text), `content-type`, `cache-control: no-cache` and
// `content-length` (no body for HEAD, whose content-length is 0, as the pages have always been
// served); a page over `cap` bytes becomes a 500 whose text says so. Nothing when the request
// names no frontend of `cfg` (the shard then replies 503).
std::optional<proxy::PageAnswer> render_page(const stats::Snapshot& snap, const config::Config& cfg,
                                             const proxy::PageRequest& rq, std::size_t cap = proxy::kMaxPageBytes);

// The answer to a POST of the admin form (PageRequest::post): its actions run (run_stats_admin),
// then HAProxy's 303 to `<uri>;st=<result>`. Nothing when the request names no frontend.
std::optional<proxy::PageAnswer> admin_answer(const config::Config& cfg, const proxy::PageRequest& rq,
                                              const Services& services);

// The actions of a POST to a stats page that has the admin level (HAProxy 2.6's form:
// `s=<server>`..., `action=<a>`, `b=<backend name or #iid>`, urlencoded), applied through
// `services` as the CLI's commands are, and the result the page's Location carries: NONE
// (nothing named), ERRP (an unknown action or backend, a parameter of 2 KiB or more, or no server
// altered), DONE (every server named altered) or PART.
stats::AdminResult run_stats_admin(std::string_view body, const config::Config& cfg, const Services& services);

}  // namespace es::control
