// Internals shared by every translation unit of the config room: messages, the environment overlay, the
// lexer, units and argument helpers, and the state of a parse (drafts of the sections being read). Not part
// of the room's interface. The files that implement it (units.cpp, lexer.cpp) depend on nothing else in
// the room; the keyword files build on it (http_keywords.hpp, sections.hpp), the driver (parser.cpp) on
// them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "edgeshard/config/config.hpp"
#include "edgeshard/config/parser.hpp"

namespace es::config::detail {

// ---- messages ----------------------------------------------------------------------------------------

[[noreturn]] void fail(const Location& at, const std::string& message);
std::string where_text(const Location& at);  // "file:line" (or "file" when line is 0)
std::string squote(std::string_view s);      // 'word'

// Closest candidate by edit distance, or "" when nothing is close enough to be a plausible typo.
std::string closest(std::string_view word, const std::vector<std::string_view>& candidates);
// "; did you mean 'x'?" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

// ---- environment (HAProxy section 2.3) ---------------------------------------------------------------

// The process environment seen through the global setenv/presetenv/unsetenv/resetenv keywords. Those
// change what later "$VAR" expansions see; we keep the changes in an overlay rather than calling
// setenv(3), so that parsing stays a pure function of its inputs (and tests stay independent).
class Env {
  public:
    std::optional<std::string> get(const std::string& name) const;
    void set(const std::string& name, const std::string& value) { overlay_[name] = value; }
    void unset(const std::string& name) { overlay_[name] = std::nullopt; }
    void reset_except(const std::vector<std::string>& keep);

  private:
    std::map<std::string, std::optional<std::string>> overlay_;
    bool cleared_ = false;  // after resetenv, only the overlay and kept_ are visible
    std::vector<std::string> kept_;
};

// ---- lexer (lexer.cpp) --------------------------------------------------------------------------------

struct Line {
    Location at;
    std::vector<std::string> words;  // never empty for a line handed to the parser
};

// Splits one physical line into words following HAProxy's quoting rules: blanks separate words, '#'
// starts a comment, backslash escapes, "weak" double quotes (env vars expanded), 'strong' single quotes.
// section is the value of the .SECTION pseudo-variable. Throws ConfigError.
std::vector<std::string> split_words(std::string_view line, const Location& at, const Env& env,
                                     std::string_view section);

// Walks a text line by line, applies the conditional-block directives (.if/.elif/.else/.endif) and the
// message directives (.notice/.warning/.alert/.diag) and hands back the lines that remain.
class LineReader {
  public:
    // `notices`: what .notice (and with `diag`, .diag) report, each line ready to print
    LineReader(const std::string& text, std::string file, const Env& env, std::vector<std::string>& warnings,
               std::vector<std::string>& notices, bool diag);
    // Next line with at least one word; false at the end of the text. Throws ConfigError.
    bool next(Line& out, std::string_view section);
    int last_line() const { return line_no_; }

  private:
    struct Block {
        Location at;
        bool taking;  // lines of the current branch are used
        bool done;    // a branch of this block was already taken
        bool seen_else;
    };
    bool active() const;
    void directive(const Line& line);
    bool eval_condition(const Line& line);

    const std::string& text_;
    std::string file_;
    const Env& env_;
    std::vector<std::string>& warnings_;
    std::vector<std::string>& notices_;
    bool diag_ = false;
    std::size_t pos_ = 0;
    int line_no_ = 0;
    std::vector<Block> blocks_;
};

// ---- units and argument helpers (units.cpp) -----------------------------------------------------------

enum class TimeStatus { Ok, Bad, Overflow };
TimeStatus parse_time_status(std::string_view s, Millis& out);
std::optional<long long> parse_integer(std::string_view s);  // optional '-', digits, no overflow

// Argument accessors that fail with the room's standard message: "'kw' expects <what>, got 'x'".
const std::string& arg_or_fail(const Line& line, std::size_t idx, std::string_view kw, std::string_view what);
long long int_arg(const Line& line, std::size_t idx, std::string_view kw, long long lo, long long hi,
                  std::string_view what);
Millis time_arg(const Line& line, std::size_t idx, std::string_view kw);
std::int64_t size_arg(const Line& line, std::size_t idx, std::string_view kw, std::int64_t lo,
                      std::int64_t hi);
void no_more_args(const Line& line, std::size_t count, std::string_view kw);

// Text helpers.
std::string lower(std::string s);  // ASCII lower case
bool has_ctl(std::string_view s);  // holds CR, LF or NUL: cannot be written into a message
// A whole file (acl -f, errorfile, return file...): fails with "'kw': cannot read 'path': why". A
// relative name is read from relative_dir().
std::string read_whole(const std::string& path, const Location& at, std::string_view kw);
// The directory relative file names are read from while a file is parsed (`default-path`; "" is
// the working directory), and `path` made relative to it (an absolute or empty one unchanged).
const std::string& relative_dir();
void set_relative_dir(std::string dir);
std::string in_relative_dir(const std::string& path);

// Address with an optional family prefix (ipv4@, ipv6@, tcp@, tcp4@, tcp6@). what names the keyword
// in messages. Fails with a message that explains DNS names, unix sockets and missing ports.
SockAddr addr_arg(const std::string& text, const Location& at, std::string_view what);
// "[ipv4@|ipv6@|tcp@...]NAME:PORT" where NAME is a host name (not an IP address): its parts;
// nullopt for anything else (addr_arg judges it).
struct HostPort {
    std::string host;
    std::uint16_t port = 0;
    int family = 0;  // AF_INET / AF_INET6 from a prefix, 0: either
};
// With port_optional, a name alone is one too (port 0).
std::optional<HostPort> host_port_arg(const std::string& text, bool port_optional = false);
// An IPv4 or IPv6 address alone ("10.0.0.1", "::1"), port 0; nullopt for anything else.
std::optional<SockAddr> ip_only(const std::string& text);

// ---- parser state (drafts; ParseState::warn is in units.cpp) -----------------------------------------

enum Cap : unsigned { kCapFe = 1, kCapBe = 2, kCapDefaults = 4 };

struct ServerDefaults {
    // init-addr: how a server's host name becomes an address at load, in order ("last", "libc",
    // "none" or an IP address); HAProxy's default is "last,libc"
    std::vector<std::string> init_addr = {"last", "libc"};
    int weight = 1;
    int maxconn = 0;
    bool disabled = false;
    bool backup = false;
    std::uint8_t send_proxy = 0;  // send-proxy (1), send-proxy-v2 (2)
    std::uint16_t pp_opts = 0;    // proxy-v2-options, send-proxy-v2-ssl[-cn]
    std::string cookie;           // cookie VALUE
    std::uint32_t puid = 0;       // id N
    std::string resolvers;        // resolvers NAME (checked once every section is read)
    int resolve_family = AF_INET6;  // resolve-prefer
    bool allow_dup_ip = false;    // resolve-opts allow-dup-ip
    bool ignore_weight = false;   // resolve-opts ignore-weight
    std::vector<std::pair<SockAddr, int>> resolve_net;  // resolve-net
    ServerCheck check;       // check, inter, rise, fall, port, addr...
    bool ssl = false;        // `ssl` (a default-server may set it; `no-ssl` clears it)
    ServerTlsOptions tls;    // the TLS words seen so far
};

// One defaults/frontend/backend/listen section while it is read. HAProxy keeps one proxy object with
// capabilities; we do the same and split it into a Frontend and/or a Backend at the end (validate.cpp).
// A defaults section is a draft with every capability: its fe/be halves seed the proxies that follow.
// errorfile / errorfiles / errorloc / http-error lines, in order (a proxy starts with its defaults' ones);
// they become HttpProxy::errors once every http-errors section is known (resolve_http).
struct ErrorDirective {
    bool from_section = false;  // errorfiles <name> [code...]
    Reply reply;                // !from_section: the reply for reply.status
    std::string section;
    std::vector<int> codes;  // from_section: empty = every code the section defines
    Location at;
};

// A return/deny/http-response deny reply taken from an http-errors section ("errorfiles <name>"),
// filled in once every section is known.
struct PendingReply {
    bool response = false;  // http-response rule (else http-request)
    std::size_t index = 0;  // in the rule list of every half
    std::string section;
    int status = 0;
    Location at;
};

struct ProxyDraft {
    unsigned cap = 0;
    std::uint32_t uuid = 0;  // `id N` (0: none)
    std::string kind;  // "defaults", "frontend", "backend", "listen": for messages
    std::string name;
    Location where;
    Frontend fe;
    Backend be;
    ServerDefaults default_server;
    int backlog = 0;
    bool default_backend_explicit = false;  // set in this section (not inherited from defaults)
    bool balance_set = false;
    Location balance_at;          // the 'balance' line in effect (it may be in the defaults section)
    std::string balance_problem;  // why the balancer could not use it (hdr argument): refused in a backend
    // HTTP
    std::vector<ErrorDirective> errors;
    std::vector<PendingReply> pending_replies;
    std::vector<HttpRule> redirects;         // the 'redirect' keyword: evaluated after the http-request rules
    // the ACLs at the head of fe.http.acls / be.http.acls that a named defaults section lent (they serve
    // that section's rules only: the proxy's own conditions cannot name them)
    std::size_t acls_inherited = 0;
    bool httplog = false;     // log_format came from 'option httplog' (a tcp frontend falls back to tcplog)
    bool req_delay_set = false, rsp_delay_set = false;  // tcp-request/-response inspect-delay in this very section
    std::optional<Line> monitor_fail;  // monitor fail if|unless <cond>: turned into rules at the end
};

// The TLS version after `line.words[i]` (ssl-min-ver / ssl-max-ver, on a bind or in
// ssl-default-bind-options); moves i past it, fails on a missing or unknown version.
tls::Version version_arg(const Line& line, std::size_t& i);
// `alpn <list>`: the word after words[i] split at commas (i moved to it); an empty name fails.
std::vector<std::string> alpn_arg(const Line& line, std::size_t& i);
// The mode after `line.words[i]` (`verify none|optional|required`); moves i past it.
tls::Verify verify_arg(const Line& line, std::size_t& i);

// The version words of binds, servers and the ssl-default-*-options: `ssl-min-ver V`,
// `ssl-max-ver V`, `no-sslv3` .. `no-tlsv13` and `force-sslv3` .. `force-tlsv13` (HAProxy's
// deprecated one-version form: ssl-min-ver V ssl-max-ver V), into `o` (a tls::BindOptions or a
// tls::ServerOptions). What was set (kVerMin | kVerMax | kVerNo), 0 when `line.words[i]` is none of
// them; i moves past an argument.
enum : unsigned { kVerMin = 1, kVerMax = 2, kVerNo = 4 };
template <typename Opts>
unsigned parse_version_word(const Line& line, std::size_t& i, Opts& o) {
    const std::string_view w = line.words[i];
    if (w == "ssl-min-ver") return o.min_ver = version_arg(line, i), kVerMin;
    if (w == "ssl-max-ver") return o.max_ver = version_arg(line, i), kVerMax;
    static constexpr std::pair<std::string_view, tls::Version> kNames[] = {
        {"sslv3", tls::Version::Ssl3},   {"tlsv10", tls::Version::Tls10}, {"tlsv11", tls::Version::Tls11},
        {"tlsv12", tls::Version::Tls12}, {"tlsv13", tls::Version::Tls13}};
    const bool no = w.starts_with("no-"), force = w.starts_with("force-");
    if (!no && !force) return 0;
    const std::string_view name = w.substr(no ? 3 : 6);
    for (const auto& [n, v] : kNames) {
        if (n != name) continue;
        if (no) {
            o.no_versions = std::uint8_t(o.no_versions | (1u << unsigned(v)));
            return kVerNo;
        }
        o.min_ver = o.max_ver = v;
        return kVerMin | kVerMax;
    }
    return 0;
}

inline bool has_fe(const ProxyDraft& px) {
    return (px.cap & kCapFe) != 0;
}
inline bool has_be(const ProxyDraft& px) {
    return (px.cap & kCapBe) != 0;
}
inline bool is_defaults(const ProxyDraft& px) {
    return (px.cap & kCapDefaults) != 0;
}
// Applies fn to the HttpProxy of every half the section has (both for a listen or a defaults section).
template <typename Fn>
void each_http(ProxyDraft& px, Fn&& fn) {
    if (has_fe(px)) fn(px.fe.http);
    if (has_be(px)) fn(px.be.http);
}

struct CpuMapNote {  // explicit thread numbers above nbthread deserve a warning, known only at the end
    Location at;
    int max_explicit_thread = 0;
};

enum class Section { None, Global, Defaults, Proxy, Skipped, Userlist, HttpErrors, Resolvers };

struct UserlistDraft {  // the userlist section being read; checked when it ends
    Userlist list;
    std::vector<Location> user_at;  // parallel to list.users
    struct Group {
        std::string name;
        std::vector<std::string> users;
        Location at;
    };
    std::vector<Group> groups;
};

struct ParseState {
    Config cfg;
    LoadOptions load;  // from the command line (-dr)
    Env env;
    Section section = Section::None;
    std::string section_name;  // for .SECTION and messages
    ProxyDraft defaults;       // the most recent defaults section (built-in values before any)
    std::map<std::string, ProxyDraft, std::less<>> named_defaults;
    // named defaults sections with http-after-response rules: which side (kCapFe / kCapBe) inherits them
    // (HAProxy refuses frontends and backends sharing such a section)
    std::map<std::string, unsigned> rule_defaults_use;
    std::vector<ProxyDraft> proxies;  // declaration order; the last one is being read when section==Proxy
    bool global_seen = false;
    bool zero_warning = false;
    Location zero_warning_at;
    std::vector<CpuMapNote> cpu_map_notes;
    Location end;  // last line of the last file: where end-of-input problems are reported
    UserlistDraft userlist;
    std::vector<std::pair<std::string, Location>> userlist_refs;  // http_auth(<list>): checked at the end
    // nbsrv(<backend>) / srv_is_up([<backend>/]<server>) in the proxy section being read: resolved at the end
    struct FetchRef {
        std::string fetch, arg, proxy, kw;  // kw: the line's keyword, for HAProxy's message
        bool proxy_has_be = false;
        Location at;
    };
    std::vector<FetchRef> fetch_refs;
    const ProxyDraft* cur_px = nullptr;  // the proxy section whose line is being read (null elsewhere)
    const Line* cur_line = nullptr;
    struct GroupRef {
        std::string userlist, group;
        Location at;
    };
    std::vector<GroupRef> auth_group_refs;  // http_auth_group(<list>) <group>...: checked at the end
    std::vector<std::pair<std::string, Location>> stats_scope_refs;  // stats scope <proxy>: checked at the end
    struct ResolversRef {  // server ... resolvers NAME: checked at the end (the section may come later)
        std::string proxy, server, name;
        Location at;
    };
    std::vector<ResolversRef> resolvers_refs;
    // default-path: how relative file names are read (HAProxy chdir()s while it parses a file):
    // "current" (the working directory), "config" / "parent" (the file's directory / its parent),
    // "origin" (default_path_origin). relative_dir() holds the directory for the file being read.
    std::string default_path = "current";
    std::string default_path_origin;

    void warn(const Location& at, const std::string& message);
    // "keyword 'x' is accepted and ignored: why" (several words: "keywords 'a', 'b' are ...").
    void warn_ignored(const Location& at, const std::vector<std::string>& words, std::string_view why);
};

}  // namespace es::config::detail
