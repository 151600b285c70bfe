// Private to the stats room: HAProxy's object walk shared by the CSV/JSON, Prometheus and HTML
// renderers.
#pragma once

#include <cstddef>
#include <vector>

#include "edgeshard/stats/fields.hpp"
#include "edgeshard/stats/snapshot.hpp"

namespace es::stats::detail {

struct ObjRef {
    ObjType type;
    std::size_t a;  // frontend or backend index
    std::size_t b;  // server index (servers only)
};

// Proxies in id order; for each, its FRONTEND row, then its servers, then its BACKEND row. A
// backend sharing its frontend's id (a `listen` section) therefore follows it directly; other
// backends follow all frontends, in config order.
std::vector<ObjRef> object_order(const Snapshot& snap);

// Fills the row of one object (shard < 0: merged values).
void fill_row(const Snapshot& snap, const ObjRef& o, int shard, StatRow& row);

// `stats scope`: whether proxy `pxname` is shown (a null or empty scope shows every proxy).
bool in_scope(const std::vector<std::string>* scope, std::string_view pxname);

}  // namespace es::stats::detail
