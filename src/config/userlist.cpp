// The userlist section (users, groups, passwords) and the userlists named by 'http_auth(<list>)'.
//
// HAProxy 2.6 semantics; what differs is listed in README.md.
#include <algorithm>

#include "http_internal.hpp"
#include "http_keywords.hpp"

namespace es::config::detail {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto c = s.find(',', start);
        if (c == std::string::npos) c = s.size();
        if (c > start) out.push_back(s.substr(start, c - start));
        start = c + 1;
    }
    return out;
}

bool looks_like_crypt(const std::string& h) {
    if (!h.empty() && h.front() == '$') return h.find('$', 1) != std::string::npos;
    return h.size() == 13;  // traditional DES
}

}  // namespace

void parse_userlist_line(ParseState& st, const Line& line) {
    auto& ul = st.userlist;
    const auto& kw = line.words[0];
    if (kw == "user") {
        const auto& name = arg_or_fail(line, 1, "user", "a user name");
        for (const auto& u : ul.list.users) {
            if (u.name == name) {
                st.warn(line.at,
                        "ignoring duplicated user " + squote(name) + " in userlist " + squote(ul.list.name));
                return;
            }
        }
        User u;
        u.name = name;
        bool has_password = false;
        for (std::size_t i = 2; i < line.words.size(); ++i) {
            const auto& w = line.words[i];
            if (w == "password" || w == "insecure-password") {
                if (has_password) fail(line.at, "user " + squote(name) + ": only one password may be given");
                u.password = arg_or_fail(line, ++i, w, "a password");
                u.insecure = w == "insecure-password";
                has_password = true;
                if (!u.insecure && !looks_like_crypt(u.password))
                    st.warn(line.at,
                            "user " + squote(name) +
                                ": the password does not look like a crypt(3) hash ('$id$salt$hash'); "
                                "use 'insecure-password' for a clear-text password");
            } else if (w == "groups") {
                for (auto& g :
                     split_commas(arg_or_fail(line, ++i, "groups", "a comma-separated list of groups")))
                    u.groups.push_back(std::move(g));
            } else {
                fail(line.at, "user " + squote(name) + ": unknown argument " + squote(w) +
                                  did_you_mean(w, {"password", "insecure-password", "groups"}) +
                                  " (expects password <hash>, insecure-password <password>, groups <g1,g2>)");
            }
        }
        if (!has_password)
            st.warn(line.at, "user " + squote(name) + " has no password: it can never authenticate");
        ul.list.users.push_back(std::move(u));
        ul.user_at.push_back(line.at);
    } else if (kw == "group") {
        const auto& name = arg_or_fail(line, 1, "group", "a group name");
        for (const auto& g : ul.groups)
            if (g.name == name)
                fail(line.at, "group " + squote(name) + " is already declared in userlist " +
                                  squote(ul.list.name) + " at " + where_text(g.at));
        UserlistDraft::Group g{name, {}, line.at};
        for (std::size_t i = 2; i < line.words.size(); ++i) {
            if (line.words[i] != "users")
                fail(line.at, "group " + squote(name) + ": unknown argument " + squote(line.words[i]) +
                                  " (expects users <u1,u2>)");
            for (auto& u : split_commas(arg_or_fail(line, ++i, "users", "a comma-separated list of users")))
                g.users.push_back(std::move(u));
        }
        ul.groups.push_back(std::move(g));
    } else {
        fail(line.at, "unknown keyword " + squote(kw) + " in 'userlist' section" +
                          did_you_mean(kw, {"user", "group"}));
    }
}

void finish_userlist(ParseState& st) {
    auto& ul = st.userlist;
    for (std::size_t i = 0; i < ul.list.users.size(); ++i) {
        for (const auto& g : ul.list.users[i].groups) {
            const bool known =
                std::any_of(ul.groups.begin(), ul.groups.end(), [&](const auto& x) { return x.name == g; });
            if (!known)
                fail(ul.user_at[i], "userlist " + squote(ul.list.name) + ": no such group " + squote(g) +
                                        " specified in user " + squote(ul.list.users[i].name));
        }
    }
    for (const auto& g : ul.groups) {
        for (const auto& name : g.users) {
            auto it = std::find_if(ul.list.users.begin(), ul.list.users.end(),
                                   [&](const User& u) { return u.name == name; });
            if (it == ul.list.users.end())
                fail(g.at, "userlist " + squote(ul.list.name) + ": no such user " + squote(name) +
                               " specified in group " + squote(g.name));
            if (std::find(it->groups.begin(), it->groups.end(), g.name) == it->groups.end())
                it->groups.push_back(g.name);
        }
        ul.list.groups.push_back(g.name);
    }
    st.cfg.userlists.push_back(std::move(ul.list));
    st.userlist = UserlistDraft{};
}

namespace {

std::string quoted_list(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + squote(n);
    return out;
}

}  // namespace

void check_userlist_refs(const ParseState& st) {
    const auto& cfg = st.cfg;
    for (const auto& [name, at] : st.userlist_refs) {
        if (cfg.find_userlist(name) == nullptr) {
            std::vector<std::string_view> names;
            for (const auto& u : cfg.userlists) names.push_back(u.name);
            fail(at, "unknown userlist " + squote(name) + " referenced by 'http_auth'" +
                         did_you_mean(name, names));
        }
    }
    for (const auto& r : st.auth_group_refs) {
        const Userlist* ul = cfg.find_userlist(r.userlist);
        if (ul != nullptr && std::find(ul->groups.begin(), ul->groups.end(), r.group) == ul->groups.end())
            fail(r.at, "'http_auth_group(" + r.userlist + ")': invalid group " + squote(r.group) + " (userlist " +
                           squote(r.userlist) + " has " +
                           (ul->groups.empty() ? std::string("no groups") : "groups " + quoted_list(ul->groups)) + ")");
    }
}

}  // namespace es::config::detail
