// The balance and hash-type keywords, typed once for the balancers of every shard (BalanceSpec), and the
// checks of a complete backend: the tcp fallback of a layer 7 hash and what a balancer cannot take.
//
// The keyword table (proxy.cpp) calls these only for sections with a backend side.
#include <algorithm>
#include <limits>

#include "balance.hpp"
#include "edgeshard/http/parser.hpp"

namespace es::config::detail {

namespace {

constexpr int kIntMax = std::numeric_limits<int>::max();

// What is written inside 'hdr(...)': "<name> [use_domain_only]" (blanks only in a quoted word). Returns why
// a balancer cannot use it, or "": refused only once a backend is known to use it (finish_balance), so a
// defaults section whose backends all choose another algorithm stays accepted.
std::string parse_balance_hdr(const std::string& inner, BalanceSpec& b) {
    std::vector<std::string> w;
    std::size_t i = 0;
    while (i < inner.size()) {
        while (i < inner.size() && (inner[i] == ' ' || inner[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < inner.size() && inner[i] != ' ' && inner[i] != '\t') ++i;
        if (i > start) w.push_back(inner.substr(start, i - start));
    }
    if (w.empty()) return "balance hdr: a header name is required";
    if (!http::is_token(w[0])) return "balance hdr: " + squote(w[0]) + " is not a header name";
    b.hdr_name = w[0];
    for (std::size_t k = 1; k < w.size(); ++k) {
        if (w[k] != "use_domain_only")
            return "balance hdr(" + b.hdr_name + "): unknown option " + squote(w[k]) +
                   " (expected use_domain_only)";
        b.hdr_domain_only = true;
    }
    return {};
}

}  // namespace

void kw_cookie(ParseState&, ProxyDraft& px, const Line& line) {
    CookieSpec c;
    c.where = line.at;
    c.name = arg_or_fail(line, 1, "cookie", "a cookie name");
    if (!http::is_token(c.name)) fail(line.at, "'cookie': " + squote(c.name) + " is not a cookie name");
    bool mode_set = false;
    auto set_mode = [&](CookieSpec::Mode m) {
        if (mode_set) fail(line.at, "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible");
        c.mode = m;
        mode_set = true;
    };
    for (std::size_t i = 2; i < line.words.size(); ++i) {
        const std::string& w = line.words[i];
        if (w == "insert") set_mode(CookieSpec::Mode::Insert);
        else if (w == "rewrite") set_mode(CookieSpec::Mode::Rewrite);
        else if (w == "prefix") set_mode(CookieSpec::Mode::Prefix);
        else if (w == "indirect") c.indirect = true;
        else if (w == "nocache") c.nocache = true;
        else if (w == "postonly") c.postonly = true;
        else if (w == "preserve") c.preserve = true;
        else if (w == "httponly") c.httponly = true;
        else if (w == "secure") c.secure = true;
        else if (w == "domain") c.domains.push_back(arg_or_fail(line, ++i, "cookie domain", "a domain"));
        else if (w == "maxidle" || w == "maxlife" || w == "dynamic" || w == "attr")
            fail(line.at, "'cookie' option " + squote(w) + " is not supported in this version (cookies carry no "
                          "dates or generated values here): supported: insert, rewrite, prefix, indirect, nocache, "
                          "postonly, preserve, httponly, secure, domain");
        else
            fail(line.at, "unknown 'cookie' option " + squote(w) +
                              did_you_mean(w, {"insert", "rewrite", "prefix", "indirect", "nocache", "postonly",
                                               "preserve", "httponly", "secure", "domain", "maxidle", "maxlife",
                                               "dynamic", "attr"}));
    }
    // without a mode the cookie is only read: the application sets it to the server's value itself
    if (!mode_set) c.mode = CookieSpec::Mode::Passive;
    // HAProxy 2.6's own refusals, in its words
    if (c.mode == CookieSpec::Mode::Rewrite && c.indirect)
        fail(line.at, "cookie 'rewrite' and 'indirect' modes are incompatible");
    if (c.preserve && c.mode != CookieSpec::Mode::Insert && !c.indirect)
        fail(line.at, "cookie 'preserve' requires at least 'insert' or 'indirect'");
    px.be.cookie = std::move(c);
}

void kw_balance(ParseState&, ProxyDraft& px, const Line& line) {
    constexpr std::string_view kSupported =
        " (supported: roundrobin, leastconn, source, uri, hdr(<name>), random, first)";
    const auto& algo = arg_or_fail(line, 1, "balance", "an algorithm");
    BalanceSpec b;
    b.hash_type = px.be.balance.hash_type;  // set by 'hash-type', whatever the algorithm
    b.hash_fn = px.be.balance.hash_fn;
    b.hash_avalanche = px.be.balance.hash_avalanche;
    std::string problem;
    std::size_t used = 2;
    if (algo == "roundrobin") {
        b.algo = Balance::RoundRobin;
    } else if (algo == "leastconn") {
        b.algo = Balance::LeastConn;
    } else if (algo == "source") {
        b.algo = Balance::Source;
    } else if (algo == "uri") {
        b.algo = Balance::Uri;
        // uri [whole] [len <n>] [depth <n>] [path-only], in any order; a repeated limit: the last one
        for (std::size_t i = 2; i < line.words.size(); ++i) {
            const auto& w = line.words[i];
            if (w == "len" || w == "depth") {
                const auto n = static_cast<std::uint32_t>(
                    int_arg(line, ++i, "balance uri " + w, 1, kIntMax, "a positive integer"));
                (w == "len" ? b.uri_len : b.uri_depth) = n;
            } else if (w == "whole") {
                b.uri_whole = true;
            } else if (w == "path-only") {
                b.uri_path_only = true;
            } else {
                fail(line.at, "'balance uri': unknown option " + squote(w) +
                                  did_you_mean(w, {"whole", "len", "depth", "path-only"}) +
                                  " (expects whole, len <n>, depth <n>, path-only)");
            }
            used = i + 1;
        }
    } else if (algo.rfind("hdr(", 0) == 0) {
        b.algo = Balance::Hdr;
        if (algo.back() != ')' || algo.size() <= 5)
            fail(line.at, "'balance hdr' expects a header name: 'hdr(<name>)', got " + squote(algo));
        if (line.words.size() > 2 && line.words[2] == "use_domain_only")
            fail(line.at, "'balance hdr(...) use_domain_only' is not supported in this version");
        problem = parse_balance_hdr(algo.substr(4, algo.size() - 5), b);
    } else if (algo == "first") {
        b.algo = Balance::First;
    } else if (algo == "random" || algo.rfind("random(", 0) == 0) {
        b.algo = Balance::Random;
        if (algo != "random") {
            const auto inner = algo.size() > 8 && algo.back() == ')' ? algo.substr(7, algo.size() - 8) : "";
            const auto d = parse_integer(inner);
            if (!d || *d < 1 || *d > 100)
                fail(line.at, "'balance random(<draws>)' expects a number of draws from 1 to 100, got " +
                                  squote(algo));
            b.random_draws = static_cast<int>(*d);
        }
    } else {
        static const std::vector<std::string_view> kKnown = {"static-rr", "url_param", "hash",
                                                             "rdp-cookie"};
        const auto base = algo.substr(0, algo.find('('));
        const bool haproxy_algo = std::find(kKnown.begin(), kKnown.end(), base) != kKnown.end();
        fail(line.at,
             (haproxy_algo ? "balance algorithm " + squote(algo) + " is not supported"
                           : "unknown balance algorithm " + squote(algo) +
                                 did_you_mean(algo, {"roundrobin", "leastconn", "source", "uri", "random", "first"})) +
                 std::string(kSupported));
    }
    no_more_args(line, used, "balance " + algo);
    px.be.balance = std::move(b);
    px.balance_set = true;
    px.balance_at = line.at;
    px.balance_problem = std::move(problem);
}

// A layer 7 hash needs mode http: HAProxy falls back to roundrobin with a warning.
void finish_balance(ParseState& st, ProxyDraft& px) {
    BalanceSpec& b = px.be.balance;
    const bool layer7 = b.algo == Balance::Uri || b.algo == Balance::Hdr;
    if (px.be.mode == Mode::Tcp && layer7) {
        st.warn(px.where, std::string("layer 7 hash 'balance ") + (b.algo == Balance::Uri ? "uri" : "hdr") +
                              "' is not possible for " + px.kind + " " + squote(px.name) +
                              " (needs 'mode http'): falling back to roundrobin");
        BalanceSpec rr;
        rr.hash_type = b.hash_type;
        rr.hash_fn = b.hash_fn;
        rr.hash_avalanche = b.hash_avalanche;
        rr.random_draws = b.random_draws;
        b = rr;
    }
}

// Refused at the 'balance' line (hdr argument) or at the section (servers), after the section's other checks.
void check_balance(const ProxyDraft& px) {
    const BalanceSpec& b = px.be.balance;
    if (b.algo == Balance::Hdr && !px.balance_problem.empty()) fail(px.balance_at, px.balance_problem);
    if (b.hashed() && px.be.servers.size() > kMaxHashedServers)
        fail(px.where, "backend " + squote(px.name) + ": hashing algorithms support at most " +
                           std::to_string(kMaxHashedServers) + " servers");
}

void kw_hash_type(ParseState&, ProxyDraft& px, const Line& line) {
    const auto& method = arg_or_fail(line, 1, "hash-type", "map-based or consistent");
    HashType h = HashType::MapBased;
    if (method == "map-based")
        h = HashType::MapBased;
    else if (method == "consistent")
        h = HashType::Consistent;
    else
        fail(line.at, "'hash-type' expects map-based or consistent, got " + squote(method) +
                          did_you_mean(method, {"map-based", "consistent"}));
    // [<function> [avalanche]] (HAProxy 2.6's cfgparse-listen): sdbm by default, and then with avalanche for consistent
    std::size_t i = 2;
    HashFn fn = HashFn::Sdbm;
    bool aval = h == HashType::Consistent && i >= line.words.size();
    if (i < line.words.size()) {
        const auto& f = line.words[i];
        if (f == "sdbm") fn = HashFn::Sdbm;
        else if (f == "djb2") fn = HashFn::Djb2;
        else if (f == "wt6") fn = HashFn::Wt6;
        else if (f == "crc32") fn = HashFn::Crc32;
        else
            fail(line.at, "'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions, got " + squote(f) +
                              did_you_mean(f, {"sdbm", "djb2", "wt6", "crc32"}));
        ++i;
        if (i < line.words.size()) {
            if (line.words[i] != "avalanche")
                fail(line.at, "'hash-type' only supports 'avalanche' as a modifier for hash functions, got " +
                                  squote(line.words[i]));
            aval = true;
            ++i;
        }
    }
    no_more_args(line, i, "hash-type");
    px.be.balance.hash_type = h;
    px.be.balance.hash_fn = fn;
    px.be.balance.hash_avalanche = aval;
}

}  // namespace es::config::detail
