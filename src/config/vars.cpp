// Variables (HAProxy 2.6 configuration.txt "set-var", "unset-var", 7.3.2 "var()"): the action's name
// and expression, interned names, and the scopes they live in.
#include <string>

#include "http_internal.hpp"
#include "http_keywords.hpp"
#include "internal.hpp"

namespace es::config::detail {

// "<scope>.<name>" checked: the scopes HAProxy has, but `proc` (one value shared by the whole
// process, which shards do not share) and `check`.
std::string var_name_problem(std::string_view n, bool& sess) {
    const auto dot = n.find('.');
    if (dot == std::string_view::npos || dot + 1 >= n.size())
        return "a variable is '<scope>.<name>' (scopes: sess, txn, req, res), got " + squote(n);
    const std::string_view scope = n.substr(0, dot);
    if (scope == "proc")
        return "the 'proc' scope is not supported in this version (each shard would hold its own value): use "
               "'sess' or 'txn'";
    if (scope != "sess" && scope != "txn" && scope != "req" && scope != "res")
        return "invalid variable name " + squote(n) + ": unknown scope " + squote(scope) + " (scopes: sess, txn, req, res)";
    for (char c : n.substr(dot + 1))
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
            return "invalid variable name " + squote(n);
    sess = scope == "sess";
    return {};
}

// set-var(<var>) <expr> | unset-var(<var>) at words[i]: the index after it. `response`: the
// expression is read while http-response rules run.
std::size_t parse_var_action(ParseState& st, const Line& line, std::size_t i, std::size_t end, const std::string& kw,
                             VarSet& v, bool& unset, bool response) {
    const std::string& act = line.words[i];
    unset = act.rfind("unset-var(", 0) == 0;
    v.fmt = act.rfind("set-var-fmt(", 0) == 0;
    const std::string base = unset ? "unset-var(" : v.fmt ? "set-var-fmt(" : "set-var(";
    if (act.rfind(base, 0) != 0 || act.back() != ')')
        fail(line.at, squote(kw + " " + act) + ": expects " + squote(base + "<scope>.<name>)"));
    std::string name = act.substr(base.size(), act.size() - base.size() - 1);
    if (v.fmt && name.ends_with(",ifnotempty")) {  // the one condition this version takes
        v.ifnotempty = true;
        name.resize(name.size() - 11);
    }
    if (name.find(',') != std::string::npos)
        fail(line.at, squote(kw + " " + act) + ": conditions on set-var ('ifexists', 'ifnotexists'...) are not "
                                                "supported in this version" + (v.fmt ? " (but 'ifnotempty')" : ""));
    if (const std::string why = var_name_problem(name, v.sess); !why.empty())
        fail(line.at, squote(kw + " " + act) + ": " + why);
    std::size_t id = 0;
    while (id < st.cfg.vars.size() && st.cfg.vars[id] != name) ++id;
    if (id == st.cfg.vars.size()) st.cfg.vars.push_back(name);
    v.id = std::uint16_t(id);
    if (unset) return i + 1;
    if (v.fmt) {
        // (HAProxy 2.6.12 accepts a missing or empty format and crashes when the rule runs)
        if (i + 1 >= end || line.words[i + 1].empty())
            fail(line.at, squote(kw + " " + act) + " expects a log-format string, e.g. '\"%[src]:%[path]\"'");
        v.expr = line.words[i + 1];
        check_log_format(line, v.expr, response ? FmtUse::Response : FmtUse::Request, squote(kw + " " + act));
        return i + 2;
    }
    if (i + 1 >= end) fail(line.at, squote(kw + " " + act) + " expects an expression, e.g. 'req.hdr(host)' or 'str(x)'");
    const std::string& e = line.words[i + 1];
    if ((e.rfind("str(", 0) == 0 || e.rfind("int(", 0) == 0) && e.back() == ')') {
        v.literal = true;
        v.expr = e.substr(4, e.size() - 5);
        if (e[0] == 'i' && !parse_integer(v.expr))
            fail(line.at, squote(kw + " " + act) + ": " + squote(e) + " is not an integer");
    } else {
        check_log_format(line, "%[" + e + "]", response ? FmtUse::Response : FmtUse::Request,
                         squote(kw + " " + act));
        v.expr = e;
    }
    return i + 2;
}

}  // namespace es::config::detail
