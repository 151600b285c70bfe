// Variables of the rules (HAProxy's set-var / unset-var / var()): a connection's Vars (rules.hpp).
#include <cstring>

#include "edgeshard/rules/rules.hpp"
#include "internal.hpp"

namespace es::rules {

bool Vars::get(std::uint16_t id, std::string_view& v) const {
    for (int i = 0; i < n; ++i)
        if (slots[i].id == id) {
            v = std::string_view(buf + slots[i].off, slots[i].len);
            return true;
        }
    return false;
}

void Vars::unset(std::uint16_t id) {
    for (int i = 0; i < n; ++i)
        if (slots[i].id == id) {
            slots[i] = slots[--n];
            return;
        }
}

bool Vars::set(std::uint16_t id, bool sess, std::string_view v) {
    unset(id);
    if (n == kSlots || v.size() > std::size_t(kBytes)) return false;
    if (used + v.size() > std::size_t(kBytes)) {
        // compact: the values still set move to the front, in a scratch copy
        char tmp[kBytes];
        std::uint16_t at = 0;
        for (int i = 0; i < n; ++i) {
            std::memcpy(tmp + at, buf + slots[i].off, slots[i].len);
            slots[i].off = at;
            at = std::uint16_t(at + slots[i].len);
        }
        std::memcpy(buf, tmp, at);
        used = at;
        if (used + v.size() > std::size_t(kBytes)) return false;
    }
    std::memcpy(buf + used, v.data(), v.size());
    slots[n++] = Slot{id, used, std::uint16_t(v.size()), sess};
    used = std::uint16_t(used + v.size());
    return true;
}

void Vars::end_request(const config::Config& cfg) {
    for (int i = 0; i < n;)
        if (!slots[i].sess && slots[i].id < cfg.vars.size() && cfg.vars[slots[i].id].starts_with("req.")) slots[i] = slots[--n];
        else ++i;
}

void Vars::end_exchange() {
    for (int i = 0; i < n;)
        if (!slots[i].sess) slots[i] = slots[--n];
        else ++i;
    if (n == 0) used = 0;
}

namespace {
Vars* vars_of(const Txn& t, bool make) {
    if (t.vars == nullptr || t.vars->slot == nullptr) return nullptr;
    if (*t.vars->slot == nullptr && make && t.vars->pool != nullptr) *t.vars->slot = t.vars->pool->make();
    return *t.vars->slot;
}
}  // namespace

void set_var(const config::VarSet& v, const Txn& t) {
    if (v.fmt) {  // set-var-fmt: the format's result, an empty one included (but with ifnotempty)
        std::string_view value;
        if (!detail::expand(t, v.expr, value) || (v.ifnotempty && value.empty())) return;
        if (Vars* vs = vars_of(t, true)) vs->set(v.id, v.sess, value);
        return;
    }
    Vars* vs = vars_of(t, true);
    if (vs == nullptr) return;
    if (v.literal) {
        vs->set(v.id, v.sess, v.expr);
        return;
    }
    if (t.arena == nullptr) return;
    std::string_view value;  // built in the arena
    if (!eval_sample(t, v.expr, value)) return;  // no sample: the variable is not set (HAProxy)
    vs->set(v.id, v.sess, value);
}

void unset_var(const config::VarSet& v, const Txn& t) {
    if (Vars* vs = vars_of(t, false)) vs->unset(v.id);
}

bool var_value(const Txn& t, std::string_view name, std::string_view& out) {
    const Vars* vs = vars_of(t, false);
    if (vs == nullptr || t.cfg == nullptr) return false;
    for (std::size_t i = 0; i < t.cfg->vars.size(); ++i)
        if (t.cfg->vars[i] == name) return vs->get(std::uint16_t(i), out);
    return false;
}

}  // namespace es::rules
