// The resolvers section (HAProxy 2.6, doc/configuration.txt 5.3.2) and the `resolvers NAME` of
// server lines, checked once every section is read. The section is run by the control shard
// (dns/resolver.hpp).
#include <netinet/in.h>

#include <fstream>
#include <sstream>

#include "internal.hpp"
#include "sections.hpp"

namespace es::config::detail {

namespace {

constexpr std::string_view kKeywords[] = {"nameserver", "parse-resolv-conf", "resolve_retries", "timeout",
                                          "hold", "accepted_payload_size"};

// "ADDR[:PORT]" with an optional udp@/udp4@/udp6@/ipv4@/ipv6@ prefix; the port defaults to 53.
SockAddr nameserver_addr(const std::string& text, const Location& at) {
    std::string t = text;
    for (std::string_view p : {"udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"})
        if (t.rfind(p, 0) == 0) t = t.substr(p.size());
    for (std::string_view p : {"tcp@", "tcp4@", "tcp6@"})
        if (t.rfind(p, 0) == 0)
            fail(at, "nameserver " + squote(text) + ": DNS over TCP is not supported in this version; answers larger "
                     "than a datagram need 'accepted_payload_size' (EDNS0, up to 65535) over UDP");
    if (auto a = ip_only(t)) {
        a->set_port(53);
        return *a;
    }
    return addr_arg(t, at, "nameserver");
}

void add_nameserver(Resolvers& r, const std::string& name, SockAddr addr, const Location& at) {
    for (const auto& n : r.nameservers)
        if (n.name == name)
            fail(at, "resolvers " + squote(r.name) + ": nameserver " + squote(name) + " is already declared at " +
                         where_text(n.where));
    r.nameservers.push_back(Nameserver{name, addr, at});
}

// parse-resolv-conf: every `nameserver` line of /etc/resolv.conf, named as HAProxy names them.
void parse_resolv_conf(ParseState& st, Resolvers& r, const Location& at) {
    std::ifstream in("/etc/resolv.conf");
    if (!in) {
        st.warn(at, "resolvers " + squote(r.name) + ": cannot read /etc/resolv.conf: parse-resolv-conf adds nothing");
        return;
    }
    std::string line;
    int added = 0;
    while (std::getline(in, line)) {
        std::istringstream ws(line);
        std::string kw, addr;
        if (!(ws >> kw >> addr) || kw != "nameserver") continue;
        auto a = ip_only(addr);
        if (!a) {
            st.warn(at, "resolvers " + squote(r.name) + ": /etc/resolv.conf: nameserver " + squote(addr) +
                            " is not an IP address, skipped");
            continue;
        }
        a->set_port(53);
        add_nameserver(r, "resolv.conf." + std::to_string(++added), *a, at);
    }
}

}  // namespace

void start_resolvers(ParseState& st, const Line& line) {
    const auto& name = arg_or_fail(line, 1, "resolvers", "a name");
    no_more_args(line, 2, "resolvers");
    for (const auto& r : st.cfg.resolvers)
        if (r.name == name)
            fail(line.at, "resolvers section " + squote(name) + " is already declared at " + where_text(r.where));
    Resolvers r;
    r.name = name;
    r.where = line.at;
    st.cfg.resolvers.push_back(std::move(r));
}

void parse_resolvers_line(ParseState& st, const Line& line) {
    Resolvers& r = st.cfg.resolvers.back();
    const auto& kw = line.words[0];
    if (kw == "nameserver") {
        const auto& name = arg_or_fail(line, 1, kw, "a name and an address ADDR[:PORT]");
        const auto& addr = arg_or_fail(line, 2, kw + " " + name, "an address ADDR[:PORT]");
        add_nameserver(r, name, nameserver_addr(addr, line.at), line.at);
        no_more_args(line, 3, kw);
    } else if (kw == "parse-resolv-conf") {
        no_more_args(line, 1, kw);
        parse_resolv_conf(st, r, line.at);
    } else if (kw == "resolve_retries") {
        r.resolve_retries = int(int_arg(line, 1, kw, 1, 1000, "a positive integer"));
        no_more_args(line, 2, kw);
    } else if (kw == "accepted_payload_size") {
        r.accepted_payload_size = int(int_arg(line, 1, kw, 12, 65535, "a size from 12 to 65535 bytes"));
        no_more_args(line, 2, kw);
    } else if (kw == "timeout") {
        const auto& ev = arg_or_fail(line, 1, kw, "'resolve' or 'retry' and a time");
        if (ev != "resolve" && ev != "retry")
            fail(line.at, "'timeout' in a resolvers section expects 'resolve' or 'retry', got " + squote(ev) +
                              did_you_mean(ev, {"resolve", "retry"}));
        const Millis v = time_arg(line, 2, "timeout " + ev);
        if (v <= 0) fail(line.at, "'timeout " + ev + "' expects a positive time, got " + squote(line.words[2]));
        (ev == "resolve" ? r.timeout_resolve_ms : r.timeout_retry_ms) = int(v);
        no_more_args(line, 3, kw);
    } else if (kw == "hold") {
        static constexpr std::string_view kStatus[] = {"valid", "nx", "other", "refused", "timeout", "obsolete"};
        const auto& what = arg_or_fail(line, 1, kw, "a status (valid, nx, other, refused, timeout, obsolete) and a time");
        int* dst = what == "valid" ? &r.hold_valid_ms : what == "nx" ? &r.hold_nx_ms : what == "other" ? &r.hold_other_ms
                 : what == "refused" ? &r.hold_refused_ms : what == "timeout" ? &r.hold_timeout_ms
                 : what == "obsolete" ? &r.hold_obsolete_ms : nullptr;
        if (!dst)
            fail(line.at, "'hold' expects a status among valid, nx, other, refused, timeout and obsolete, got " +
                              squote(what) + did_you_mean(what, {std::begin(kStatus), std::end(kStatus)}));
        *dst = int(time_arg(line, 2, "hold " + what));
        no_more_args(line, 3, kw);
    } else {
        fail(line.at, "unknown keyword " + squote(kw) + " in resolvers section " + squote(r.name) +
                          did_you_mean(kw, {std::begin(kKeywords), std::end(kKeywords)}));
    }
}

void finish_resolvers(ParseState& st) {
    const Resolvers& r = st.cfg.resolvers.back();
    if (r.nameservers.empty())
        st.warn(r.where, "resolvers section " + squote(r.name) + " has no nameserver: its names are never resolved");
}

// server ... resolvers NAME, once every section is known.
void resolve_resolvers_refs(ParseState& st) {
    for (const auto& ref : st.resolvers_refs) {
        int idx = -1;
        for (std::size_t i = 0; i < st.cfg.resolvers.size(); ++i)
            if (st.cfg.resolvers[i].name == ref.name) idx = int(i);
        if (idx < 0) {
            std::vector<std::string_view> names;
            for (const auto& r : st.cfg.resolvers) names.push_back(r.name);
            fail(ref.at, "server " + squote(ref.proxy + "/" + ref.server) + ": unknown resolvers section " +
                             squote(ref.name) + did_you_mean(ref.name, names));
        }
        for (auto& b : st.cfg.backends) {
            if (b.name != ref.proxy) continue;
            for (auto& s : b.servers)
                if (s.name == ref.server) s.resolvers = idx;
        }
    }
}

}  // namespace es::config::detail
