// The statistics pages served over HTTP, rendered on the control shard for the data shards that
// received the requests (the wire is in proxy/page.hpp; the control loop serves the mailboxes).
#pragma once

#include <cstddef>
#include <optional>

#include "edgeshard/config/config.hpp"
#include "edgeshard/proxy/page.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace es::control {

// The complete HTTP response for one request: 200 with the page (the `stats uri` page chosen by
// the target's suffix, or the Prometheus text), `content-type`, `cache-control: no-cache` and
// `content-length` (no body for HEAD, whose content-length is 0, as the pages have always been
// served); a page over `cap` bytes becomes a 500 whose text says so. Nothing when the request
// names no frontend of `cfg` (the shard then replies 503).
std::optional<proxy::PageAnswer> render_page(const stats::Snapshot& snap, const config::Config& cfg,
                                             const proxy::PageRequest& rq, std::size_t cap = proxy::kMaxPageBytes);

}  // namespace es::control
