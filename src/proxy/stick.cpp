// Stick tables on the data path (stick/table.hpp): persistence (`stick on|match|store-request`) and
// the control shard's `show table` / `clear table`. Tracking and the counters are counted where the
// protocols see their events (accept.cpp, http_request.cpp, http_response.cpp, tcp_inspect.cpp).
#include "edgeshard/proxy/worker.hpp"

namespace es::proxy {

int Worker::stick_rules(std::uint32_t be, const rules::Txn& t, stick::Refs*& refs) {
    const config::Backend& b = cfg_.backends[be];
    const std::int64_t now = r_.now_ms();
    BackendLb& lb = *lbs_[be];
    int chosen = -1;
    for (const config::StickRule& r : b.stick_rules) {
        if (r.kind == config::StickRule::Kind::StoreResponse) continue;  // (stick_store_response)
        if (!rules::eval_condition(r.cond, b.http.acls, t)) continue;
        stick::Table& tb = stick_.table(r.table);
        stick::Key k;
        if (!rules::stick_key(r.key, t, tb.spec(), k)) continue;
        if (chosen < 0 && r.kind != config::StickRule::Kind::StoreRequest) {
            std::uint64_t id = 0;
            stick::Entry* e = tb.lookup(k, now);
            if (e != nullptr && tb.read(e, config::StickData::ServerId, now, id) && id != 0) {
                const int i = lb.by_puid(id);
                // a stuck client follows its server while it is not in maintenance (drain keeps it),
                // and while it is up unless `option persist` (HAProxy 2.6)
                if (i >= 0) {
                    const ServerSlot& sv = lb.server(i);
                    if (sv.admin != shard::ServerAdmin::Maint && !sv.rmaint && (!sv.down || b.persist)) chosen = i;
                }
            }
        }
        if (r.kind != config::StickRule::Kind::Match) {
            stick::Entry* e = tb.get(k, now);
            if (e == nullptr) continue;
            if (refs == nullptr) refs = stick_refs_.make();
            if (refs != nullptr) stick_.stage_store(*refs, r.table, e);
        }
    }
    return chosen;
}

void Worker::stick_commit(stick::Refs* refs, std::uint32_t be, int server) {
    if (refs == nullptr || server < 0) return;
    stick_.commit_store(*refs, lbs_[be]->puid(server), (be << 16) | std::uint32_t(server + 1), r_.now_ms());
}

void Worker::stick_store_response(std::uint32_t be, int server, const rules::Txn& t) {
    const config::Backend& b = cfg_.backends[be];
    if (server < 0) return;
    const std::int64_t now = r_.now_ms();
    for (const config::StickRule& r : b.stick_rules) {
        if (r.kind != config::StickRule::Kind::StoreResponse || !rules::eval_condition(r.cond, b.http.acls, t)) continue;
        stick::Table& tb = stick_.table(r.table);
        stick::Key k;
        if (!rules::stick_key(r.key, t, tb.spec(), k)) continue;
        stick::Entry* e = tb.get(k, now);
        if (e == nullptr) continue;
        if (std::uint32_t* p = tb.u32(e, config::StickData::ServerId)) *p = lbs_[be]->puid(server);
        if (std::uint32_t* p = tb.u32(e, config::StickData::ServerKey)) *p = (be << 16) | std::uint32_t(server + 1);
        tb.touch(e, now);
    }
}

void Worker::stick_query(stick::Query& q) {
    stick::answer(stick_, q, p_.shard_id, r_.now_ms());
    if (q.pending.fetch_sub(1) == 1) delete &q;  // the asker gave up waiting: the last one frees it
}

}  // namespace es::proxy
