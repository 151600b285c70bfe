// Sections, files and the global section. Proxy sections are in proxy.cpp, the final checks in validate.cpp.
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "http_keywords.hpp"
#include "http_internal.hpp"
#include "internal.hpp"
#include "sections.hpp"

namespace es::config {
namespace detail {

namespace {

constexpr std::string_view kProxySections[] = {"global", "defaults", "frontend",   "backend",
                                               "listen", "userlist", "http-errors", "resolvers"};
// Sections of later rooms: their body is skipped with one warning. None of them can change traffic on its
// own: every proxy keyword that would use them (use-server with peers, http-request cache-use, email-alert,
// ...) is refused or warned about where it appears.
constexpr std::string_view kSkippedSections[] = {"ring", "peers", "cache", "program", "mailers"};

std::string_view skipped_section_why(std::string_view kw) {
    if (kw == "ring") return "'log ring@...' is refused, nothing writes to it";
    if (kw == "peers") return "stick tables are not replicated in this version: each process counts on its own";
    if (kw == "cache") return "'http-request cache-use' is refused, nothing is cached";
    if (kw == "program") return "the program is NOT started (edgeshard has no master process to run it)";
    return "no e-mail alert is ever sent ('email-alert' is ignored)";
}

// ---- global keyword tables -----------------------------------------------------------------------------

constexpr std::string_view kWhyLog = "the access log does not implement it in this version";
constexpr std::string_view kWhyProcess =
    "edgeshard stays in the foreground: run it under a service manager (deploy/edgeshard.service)";
constexpr std::string_view kWhyPrivileges =
    "edgeshard keeps the user and root directory it was started with (no chroot, no setuid in this "
    "version): start it as that unprivileged user (systemd User=, as deploy/edgeshard.service does)";
constexpr std::string_view kWhyTls =
    "not supported yet by edgeshard's TLS (see README: TLS)";
constexpr std::string_view kWhyTune = "HAProxy tuning knob; edgeshard sizes this itself";
constexpr std::string_view kWhyCheck = "external checks are not run by edgeshard";
constexpr std::string_view kWhyHttp = "edgeshard's HTTP proxy does not implement it in this version";
constexpr std::string_view kWhyNoEffect = "it has no effect in edgeshard";
constexpr std::string_view kWhyLimits =
    "edgeshard derives its limits from RLIMIT_NOFILE: raise it in the service manager (LimitNOFILE=)";

struct Ignored {
    std::string_view name;
    std::string_view why;
};

constexpr Ignored kGlobalIgnored[] = {
    {"daemon", kWhyProcess},
    {"quiet", kWhyProcess},
    {"chroot", kWhyPrivileges},
    {"user", kWhyPrivileges},
    {"group", kWhyPrivileges},
    {"uid", kWhyPrivileges},
    {"gid", kWhyPrivileges},
    {"key-base", kWhyTls},
    {"issuers-chain-path", kWhyTls},
    {"maxsslconn", kWhyTls},
    {"maxsslrate", kWhyTls},
    {"external-check", kWhyCheck},
    {"ulimit-n", kWhyLimits},
    {"fd-hard-limit", kWhyLimits},
    {"strict-limits", kWhyLimits},
    {"thread-groups", "edgeshard has a single thread group"},
    {"numa-cpu-mapping", "edgeshard places its shards with hwloc"},
    {"h1-case-adjust", "only 'option h1-case-adjust-bogus-*' uses it, and that option is refused"},
    {"h1-case-adjust-file", "only 'option h1-case-adjust-bogus-*' uses it, and that option is refused"},
    {"maxcomprate", "compression is not supported, there is nothing to limit"},
    {"maxcompcpuusage", "compression is not supported, there is nothing to limit"},
    {"maxzlibmem", "compression is not supported, there is nothing to limit"},
    {"server-state-file", "runtime server states pass to the new process in the reload handoff; no file is needed"},
    {"server-state-base", "runtime server states pass to the new process in the reload handoff; no file is needed"},
    {"localpeer", "stick tables are not replicated in this version: there is nothing for peers to share"},
    {"pp2-never-send-local", "health checks send PROXY v1 lines only, never a v2 LOCAL header"},
    {"expose-experimental-directives", kWhyNoEffect},
    {"insecure-fork-wanted", kWhyNoEffect},
    {"insecure-setuid-wanted", kWhyNoEffect},
    {"set-dumpable", kWhyNoEffect},
    {"busy-polling", kWhyNoEffect},
    {"noepoll", kWhyNoEffect},
    {"nopoll", kWhyNoEffect},
    {"noevports", kWhyNoEffect},
    {"nokqueue", kWhyNoEffect},
    {"noreuseport", "edgeshard needs SO_REUSEPORT for one listener per shard"},
    {"nogetaddrinfo", kWhyNoEffect},
    {"anonkey", kWhyNoEffect},
    {"cluster-secret", kWhyNoEffect},
    {"tune.maxaccept", kWhyTune},
    {"tune.maxpollevents", kWhyTune},
    {"tune.recv_enough", kWhyTune},
    {"tune.idletimer", kWhyTune},
    {"tune.maxrewrite", kWhyTune},
    {"tune.runqueue-depth", kWhyTune},
    {"tune.sched.low-latency", kWhyTune},
    {"tune.fd.edge-triggered", kWhyTune},
    {"tune.listener.multi-queue", kWhyTune},
    {"tune.pattern.cache-size", kWhyTune},
    {"tune.pool-low-fd-ratio", kWhyTune},
    {"tune.pool-high-fd-ratio", kWhyTune},
    {"tune.max-checks-per-thread", kWhyTune},
    {"tune.peers.max-updates-at-once", kWhyTune},
    {"tune.fail-alloc", kWhyTune},
};

// Whole families, matched by prefix (after the exact tables, so a typo in our own "tune.es." stays an error).
constexpr Ignored kGlobalIgnoredPrefixes[] = {
    {"ssl-", kWhyTls},
    {"tune.ssl.", kWhyTls},
    {"tune.http.", kWhyTune},
    {"tune.h2.", "edgeshard speaks HTTP/1.1 only"},
    {"tune.lua.", kWhyTune},
    {"tune.vars.", kWhyTune},
    {"tune.zlib.", kWhyTune},
    {"tune.comp.", kWhyTune},
    {"tune.quic.", kWhyTune},
    {"tune.rcvbuf.", kWhyTune},
    {"tune.sndbuf.", kWhyTune},
    {"tune.buffers.", kWhyTune},
    {"tune.idle-pool.", kWhyTune},
    {"profiling.", kWhyNoEffect},
    {"httpclient.", kWhyNoEffect},
};

struct Refused {
    std::string_view name;
    std::string_view why;
};

constexpr Refused kGlobalRefused[] = {
    {"nbproc", "'nbproc' was removed in HAProxy 2.5; use 'nbthread'"},
    {"lua-load", "Lua is not supported"},
    {"lua-load-per-thread", "Lua is not supported"},
    {"lua-prepend-path", "Lua is not supported"},
    {"maxconnrate",
     "connection rate limits are not supported yet (refused rather than silently not limiting)"},
    {"maxsessrate", "session rate limits are not supported yet (refused rather than silently not limiting)"},
    {"unix-bind", "'unix-bind' is not supported: give 'stats socket' a full path and a 'mode'"},
    {"set-var", "variables need the HTTP/ACL room"},
    {"set-var-fmt", "variables need the HTTP/ACL room"},
};

const Ignored* find_ignored(std::string_view kw) {
    for (const auto& e : kGlobalIgnored)
        if (e.name == kw) return &e;
    for (const auto& e : kGlobalIgnoredPrefixes)
        if (kw.substr(0, e.name.size()) == e.name) return &e;
    return nullptr;
}

// ---- cpu-map -------------------------------------------------------------------------------------------

constexpr int kMaxMappedThreads = 64;  // what HAProxy's "all" and open ranges ("1-") expand to
constexpr int kMaxCpu = 4095;

struct IdSet {
    std::vector<int> ids;  // sorted, unique
    bool open = false;     // all/odd/even/"N-": expanded to a fixed maximum, so ids beyond count are normal
};

IdSet parse_id_set(const Line& line, std::string_view text, int min, int max, int open_max,
                   std::string_view what) {
    IdSet s;
    auto bad = [&]() {
        fail(line.at, "'cpu-map' expects " + std::string(what) + " (N, N-M, N-, all, odd or even), got " +
                          squote(text));
    };
    if (text == "all" || text == "odd" || text == "even") {
        s.open = true;
        for (int i = min; i <= open_max; ++i) {
            const int rank = i - min + 1;  // odd/even count from the first id, as HAProxy's thread numbers do
            if (text == "all" || (text == "odd") == (rank % 2 == 1)) s.ids.push_back(i);
        }
        return s;
    }
    std::size_t start = 0;
    while (start <= text.size()) {
        auto comma = text.find(',', start);
        if (comma == std::string_view::npos) comma = text.size();
        const auto part = text.substr(start, comma - start);
        const auto dash = part.find('-');
        const auto lo = parse_integer(part.substr(0, dash));
        if (part.empty() || !lo || *lo < min || *lo > max) bad();
        long long hi = *lo;
        if (dash != std::string_view::npos) {
            const auto rest = part.substr(dash + 1);
            if (rest.empty()) {
                hi = open_max;
                s.open = true;
            } else {
                const auto h = parse_integer(rest);
                if (!h || *h < *lo || *h > max) bad();
                hi = *h;
            }
        }
        for (long long i = *lo; i <= hi; ++i) s.ids.push_back(static_cast<int>(i));
        start = comma + 1;
    }
    std::sort(s.ids.begin(), s.ids.end());
    s.ids.erase(std::unique(s.ids.begin(), s.ids.end()), s.ids.end());
    if (s.ids.empty()) bad();
    return s;
}

void set_cpu_map(ParseState& st, int thread, const std::vector<int>& cpus, const Location& at) {
    const int shard = thread - 1;
    for (auto& m : st.cfg.global.cpu_maps) {
        if (m.shard == shard) {  // "each cpu-map directive replaces the previous ones when they overlap"
            m.cpus = cpus;
            m.where = at;
            return;
        }
    }
    st.cfg.global.cpu_maps.push_back(CpuMap{shard, cpus, at});
}

// cpu-map [auto:]<group>[/<thread-set>] <cpu-set>...  (HAProxy)  and  cpu-map <thread-set> <cpu-set>...
// (ours: a lone number is a thread, see README.md).
void parse_cpu_map(ParseState& st, const Line& line) {
    std::string_view spec = arg_or_fail(line, 1, "cpu-map", "a thread set and a CPU set");
    if (line.words.size() < 3)
        fail(line.at, "'cpu-map' expects a CPU set after " + squote(spec) + ", got nothing");
    const bool automatic = spec.substr(0, 5) == "auto:";
    if (automatic) spec.remove_prefix(5);
    IdSet threads;
    bool bare = false;
    if (const auto slash = spec.find('/'); slash != std::string_view::npos) {
        const auto groups = parse_id_set(line, spec.substr(0, slash), 1, 64, 64, "a thread group");
        if (groups.ids != std::vector<int>{1}) {
            if (std::find(groups.ids.begin(), groups.ids.end(), 1) == groups.ids.end()) {
                st.warn(line.at, "cpu-map for thread group " + squote(spec.substr(0, slash)) +
                                     " is ignored: edgeshard has a single thread group (1)");
                return;
            }
            fail(line.at, "'cpu-map': only thread group 1 exists, got " + squote(spec.substr(0, slash)));
        }
        threads = parse_id_set(line, spec.substr(slash + 1), 1, 1024, kMaxMappedThreads, "a thread set");
    } else {
        threads = parse_id_set(line, spec, 1, 1024, kMaxMappedThreads, "a thread set");
        bare = true;
    }
    IdSet cpus;
    for (std::size_t i = 2; i < line.words.size(); ++i) {
        auto part = parse_id_set(line, line.words[i], 0, kMaxCpu, 63, "a CPU set");
        cpus.ids.insert(cpus.ids.end(), part.ids.begin(), part.ids.end());
    }
    std::sort(cpus.ids.begin(), cpus.ids.end());
    cpus.ids.erase(std::unique(cpus.ids.begin(), cpus.ids.end()), cpus.ids.end());

    // auto: one CPU per thread, both in ascending order. An open thread set ("all") is cut to the CPU count.
    // The bare form does the same when both sets have the same size (edgeshard's reading; see README.md).
    bool one_to_one = automatic;
    if (automatic) {
        if (threads.open && threads.ids.size() > cpus.ids.size()) threads.ids.resize(cpus.ids.size());
        if (threads.ids.size() != cpus.ids.size())
            fail(line.at,
                 "'cpu-map auto:' needs as many CPUs as threads: " + std::to_string(threads.ids.size()) +
                     " thread(s) for " + std::to_string(cpus.ids.size()) + " CPU(s)");
    } else if (bare && threads.ids.size() > 1 && threads.ids.size() == cpus.ids.size()) {
        one_to_one = true;
    }
    for (std::size_t i = 0; i < threads.ids.size(); ++i) {
        if (one_to_one)
            set_cpu_map(st, threads.ids[i], {cpus.ids[i]}, line.at);
        else
            set_cpu_map(st, threads.ids[i], cpus.ids, line.at);
    }
    if (!threads.open) st.cpu_map_notes.push_back(CpuMapNote{line.at, threads.ids.back()});
}

// ---- stats ---------------------------------------------------------------------------------------------

void parse_stats_socket(ParseState& st, const Line& line) {
    std::string path = arg_or_fail(line, 2, "stats socket", "a unix socket path");
    const std::string written = path;
    constexpr std::string_view kOnlyUnix =
        ": only unix socket paths are supported (the control socket speaks JSON on a unix socket)";
    StatsSocket sock;
    if (path.starts_with("fd@")) {
        // a listening unix socket given as descriptor N (systemd's socket activation, a supervisor), checked now
        const std::string n = path.substr(3);
        const auto v = parse_integer(n);
        if (!v || *v < 0 || *v > 1 << 20)
            fail(line.at, "'stats socket' : invalid file descriptor " + squote(n) + " in " + squote(written));
        sockaddr_storage ss{};
        socklen_t sl = sizeof ss;
        if (::getsockname(int(*v), reinterpret_cast<sockaddr*>(&ss), &sl) != 0)
            fail(line.at, "'stats socket' : cannot use file descriptor " + squote(n) + " : " + std::strerror(errno) + ".");
        int type = 0, listening = 0;
        socklen_t l = sizeof type;
        ::getsockopt(int(*v), SOL_SOCKET, SO_TYPE, &type, &l);
        l = sizeof listening;
        ::getsockopt(int(*v), SOL_SOCKET, SO_ACCEPTCONN, &listening, &l);
        if (ss.ss_family != AF_UNIX || type != SOCK_STREAM)
            fail(line.at, "'stats socket " + written + "': file descriptor " + n +
                              " is not a unix stream socket (the control socket speaks on a unix socket)");
        if (!listening)
            fail(line.at, "'stats socket " + written + "': file descriptor " + n +
                              " is not listening: the parent process must call listen() before handing it over");
        for (const auto& s : st.cfg.global.stats_sockets)
            if (s.fd == int(*v))
                fail(line.at, "stats socket " + squote(written) + " is already declared at " + where_text(s.where));
        sock.fd = int(*v);
        path.clear();
    } else if (path.starts_with("sockpair@")) {
        fail(line.at, "'stats socket " + written + "': sockets received over a socket pair are not supported: give "
                      "a path, or a listening unix socket as fd@N");
    }
    if (const auto at_sign = path.find('@'); sock.fd < 0 && at_sign != std::string::npos) {
        if (path.compare(0, at_sign, "unix") != 0)
            fail(line.at, "'stats socket " + written + "'" + std::string(kOnlyUnix));
        path.erase(0, at_sign + 1);
    }
    if (path.empty() && sock.fd < 0) fail(line.at, "'stats socket' expects a unix socket path, got " + squote(written));
    if (sock.fd < 0 &&
        (parse_addr(path) || (path.find('/') == std::string::npos && path.find(':') != std::string::npos)))
        fail(line.at, "'stats socket " + written + "'" + std::string(kOnlyUnix));
    if (path.size() > 107)
        fail(line.at, "'stats socket': the path is " + std::to_string(path.size()) +
                          " bytes long; a unix socket path holds at most 107");
    for (const auto& s : st.cfg.global.stats_sockets)
        if (sock.fd < 0 && s.path == path)
            fail(line.at, "stats socket " + squote(path) + " is already declared at " + where_text(s.where));

    sock.path = path;
    sock.where = line.at;
    std::vector<std::string> owner_ignored, info_ignored;
    static const std::vector<std::string_view> kOptions = {
        "mode",  "level", "expose-fd",       "process", "user", "uid",
        "group", "gid",   "severity-output", "name",    "id",   "nice"};
    for (std::size_t i = 3; i < line.words.size(); i += 2) {
        const auto& opt = line.words[i];
        if (std::find(kOptions.begin(), kOptions.end(), opt) == kOptions.end()) {
            fail(line.at, "unsupported 'stats socket' option " + squote(opt) + did_you_mean(opt, kOptions) +
                              " (supported: mode, level, expose-fd listeners; user/group/uid/gid, process, "
                              "severity-output, name are ignored)");
        }
        const auto& val = arg_or_fail(line, i + 1, "stats socket " + opt, "a value");
        if (opt == "mode") {
            const bool octal =
                !val.empty() && val.size() <= 5 &&
                std::all_of(val.begin(), val.end(), [](char c) { return c >= '0' && c <= '7'; });
            if (!octal || std::stoul(val, nullptr, 8) > 07777)
                fail(line.at, "'mode' expects an octal file mode such as 600 or 0660, got " + squote(val));
            sock.mode = static_cast<unsigned>(std::stoul(val, nullptr, 8));
        } else if (opt == "level") {
            if (val == "user")
                sock.level = StatsLevel::User;
            else if (val == "operator")
                sock.level = StatsLevel::Operator;
            else if (val == "admin")
                sock.level = StatsLevel::Admin;
            else
                fail(line.at, "'level' expects user, operator or admin, got " + squote(val));
        } else if (opt == "expose-fd") {
            if (val != "listeners") fail(line.at, "'expose-fd' expects 'listeners', got " + squote(val));
            sock.expose_fd_listeners = true;
        } else if (opt == "user" || opt == "uid" || opt == "group" || opt == "gid") {
            owner_ignored.push_back(opt + " " + val);
        } else {
            info_ignored.push_back(opt + " " + val);
        }
    }
    sock.level_admin = sock.level == StatsLevel::Admin;
    st.warn_ignored(
        line.at, owner_ignored,
        "the socket keeps the owner edgeshard runs as; restrict access with 'mode' and its directory");
    st.warn_ignored(line.at, info_ignored, "edgeshard has one process and JSON replies");
    st.cfg.global.stats_sockets.push_back(std::move(sock));
}

void parse_stats(ParseState& st, const Line& line) {
    const auto& sub = arg_or_fail(line, 1, "stats", "socket, timeout, maxconn or bind-process");
    if (sub == "socket") return parse_stats_socket(st, line);
    if (sub == "timeout") {
        st.cfg.global.stats_timeout = time_arg(line, 2, "stats timeout");
        no_more_args(line, 3, "stats timeout");
        return;
    }
    if (sub == "maxconn") {
        int_arg(line, 2, "stats maxconn", 1, std::numeric_limits<int>::max(), "a positive integer");
        st.warn_ignored(line.at, {"stats maxconn"}, "the control socket sets its own limit");
        return;
    }
    if (sub == "bind-process") {
        st.warn_ignored(line.at, {"stats bind-process"}, "edgeshard has one process");
        return;
    }
    static const std::vector<std::string_view> kSubs = {"socket", "timeout", "maxconn", "bind-process"};
    fail(line.at, "unknown keyword 'stats " + sub + "' in 'global' section" + did_you_mean(sub, kSubs) +
                      " (supported: stats socket, stats timeout)");
}

// ---- other global keywords -----------------------------------------------------------------------------

bool is_power_of_two(long long v) {
    return v > 0 && (v & (v - 1)) == 0;
}

int pow2_arg(const Line& line, std::string_view kw, int lo, int hi) {
    const std::string what = "a power of two from " + std::to_string(lo) + " to " + std::to_string(hi);
    const auto v = int_arg(line, 1, kw, lo, hi, what);
    if (!is_power_of_two(v))
        fail(line.at, squote(kw) + " expects " + what + ", got " + squote(line.words[1]));
    no_more_args(line, 2, kw);
    return static_cast<int>(v);
}

void parse_env_keyword(ParseState& st, const Line& line) {
    const auto& kw = line.words[0];
    if (kw == "setenv" || kw == "presetenv") {
        const auto& name = arg_or_fail(line, 1, kw, "a variable name and a value");
        const auto& value = arg_or_fail(line, 2, kw, "a value after the variable name");
        no_more_args(line, 3, kw);
        if (kw == "setenv" || !st.env.get(name)) st.env.set(name, value);
    } else if (kw == "unsetenv") {
        arg_or_fail(line, 1, kw, "one or more variable names");
        for (std::size_t i = 1; i < line.words.size(); ++i) st.env.unset(line.words[i]);
    } else {  // resetenv
        st.env.reset_except(std::vector<std::string>(line.words.begin() + 1, line.words.end()));
    }
}

std::vector<std::string_view> global_keywords() {
    std::vector<std::string_view> v = {"maxconn", "spread-checks", "max-spread-checks",
                                       "nbthread",
                                       "cpu-map",
                                       "stats",
                                       "nosplice",
                                       "maxpipes",
                                       "tune.bufsize",
                                       "tune.pipesize",
                                       "tune.es.ring-entries",
                                       "tune.es.buffers",
                                       "tune.es.splice-after",
                                       "tune.es.max-request-line",
                                       "tune.es.log-ring",
                                       "tune.es.max-body",
                                       "tune.es.ssl-direct-seal",
                                       "tune.es.steer-clients", "tune.es.lb-hash",
                                       "tune.es.watchdog-warn", "tune.es.watchdog-panic",
                                       "tune.http.maxhdr",
                                       "log",
                                       "log-tag",
                                       "log-send-hostname",
                                       "es.demo-origin",
                                       "hard-stop-after",
                                       "close-spread-time",
                                       "mworker-max-reloads",
                                       "master-worker",
                                       "pidfile",
                                       "node",
                                       "description",
                                       "es.drain-idle-after",
                                       "zero-warning",
                                       "setenv",
                                       "presetenv",
                                       "unsetenv",
                                       "resetenv",
                                       "crt-base",
                                       "ca-base",
                                       "ssl-default-bind-ciphers",
                                       "ssl-default-bind-ciphersuites",
                                       "ssl-default-bind-curves",
                                       "ssl-default-bind-sigalgs",
                                       "ssl-default-bind-client-sigalgs",
                                       "ssl-default-bind-options",
                                       "ssl-server-verify",
                                       "ssl-default-server-ciphers",
                                       "ssl-default-server-ciphersuites",
                                       "ssl-default-server-curves",
                                       "ssl-default-server-sigalgs",
                                       "ssl-default-server-client-sigalgs",
                                       "ssl-default-server-options",
                                       "tune.ssl.cachesize",
                                       "tune.ssl.lifetime",
                                       "tune.ssl.default-dh-param", "default-path"};
    for (const auto& e : kGlobalIgnored) v.push_back(e.name);
    for (const auto& e : kGlobalRefused) v.push_back(e.name);
    return v;
}

// The directory relative file names are read from for the file `file` (HAProxy's default-path).
void apply_default_path(ParseState& st, const std::string& file) {
    const std::size_t slash = file.rfind('/');
    const std::string dir = slash == std::string::npos ? std::string() : file.substr(0, slash == 0 ? 1 : slash);
    if (st.default_path == "config") set_relative_dir(dir);
    else if (st.default_path == "parent") set_relative_dir(dir.empty() ? ".." : dir + "/..");
    else if (st.default_path == "origin") set_relative_dir(st.default_path_origin);
    else set_relative_dir({});
}

void parse_global_line(ParseState& st, const Line& line) {
    const auto& kw = line.words[0];
    auto& g = st.cfg.global;
    constexpr int kIntMax = std::numeric_limits<int>::max();
    if (parse_global_tls(st, line)) {
        // crt-base, ca-base, ssl-default-bind-* (tls.cpp)
    } else if (kw == "default-path") {
        const auto& how = arg_or_fail(line, 1, kw, "current, config, parent or origin <path>");
        if (how == "origin") {
            st.default_path_origin = arg_or_fail(line, 2, "default-path origin", "a directory");
            no_more_args(line, 3, kw);
        } else if (how == "current" || how == "config" || how == "parent") {
            no_more_args(line, 2, kw);
        } else {
            fail(line.at, "'default-path' expects current, config, parent or origin <path>, got " + squote(how) +
                              did_you_mean(how, {"current", "config", "parent", "origin"}));
        }
        st.default_path = how;
        apply_default_path(st, line.at.file);  // at once, as HAProxy's chdir()
    } else if (kw == "maxconn") {
        g.maxconn = static_cast<int>(int_arg(line, 1, kw, 1, kIntMax, "a positive integer"));
        no_more_args(line, 2, kw);
    } else if (kw == "spread-checks") {
        g.spread_checks = static_cast<int>(int_arg(line, 1, kw, 0, 50, "a percentage from 0 to 50"));
        no_more_args(line, 2, kw);
    } else if (kw == "max-spread-checks") {
        g.max_spread_checks = static_cast<int>(time_arg(line, 1, kw));
        no_more_args(line, 2, kw);
    } else if (kw == "nbthread") {
        g.nbthread = static_cast<int>(int_arg(line, 1, kw, 1, 1024, "an integer from 1 to 1024"));
        no_more_args(line, 2, kw);
    } else if (kw == "cpu-map") {
        parse_cpu_map(st, line);
    } else if (kw == "stats") {
        parse_stats(st, line);
    } else if (kw == "hard-stop-after") {
        g.hard_stop_after = time_arg(line, 1, kw);
        no_more_args(line, 2, kw);
    } else if (kw == "close-spread-time") {
        g.close_spread_time = time_arg(line, 1, kw);
        no_more_args(line, 2, kw);
    } else if (kw == "es.drain-idle-after") {
        g.drain_idle_after = time_arg(line, 1, kw);
        no_more_args(line, 2, kw);
    } else if (kw == "master-worker") {
        // HAProxy's: as -W on the command line (src/control/master.cpp)
        g.master_worker = true;
        if (line.words.size() > 1) {
            if (line.words[1] != "no-exit-on-failure")
                fail(line.at, "'master-worker' only supports 'no-exit-on-failure', got " + squote(line.words[1]));
            g.master_exit_on_failure = false;
        }
        no_more_args(line, line.words.size() > 1 ? 2 : 1, kw);
    } else if (kw == "node") {
        g.node = arg_or_fail(line, 1, kw, "a node name");
        no_more_args(line, 2, kw);
    } else if (kw == "description") {
        arg_or_fail(line, 1, kw, "a description");
        g.description.clear();
        for (std::size_t i = 1; i < line.words.size(); ++i) {
            if (i > 1) g.description.push_back(' ');
            g.description += line.words[i];
        }
    } else if (kw == "pidfile") {
        // HAProxy's: as -p on the command line, which wins
        g.pidfile = arg_or_fail(line, 1, kw, "a file path");
        no_more_args(line, 2, kw);
    } else if (kw == "mworker-max-reloads") {
        g.max_reloads = static_cast<int>(int_arg(line, 1, kw, 0, 100000, "an integer from 0 to 100000"));
        no_more_args(line, 2, kw);
    } else if (kw == "nosplice") {
        no_more_args(line, 1, kw);
        g.splice = false;
    } else if (kw == "maxpipes") {
        g.maxpipes = static_cast<int>(int_arg(line, 1, kw, 1, kIntMax, "a positive integer"));
        no_more_args(line, 2, kw);
    } else if (kw == "tune.bufsize") {
        g.bufsize = static_cast<int>(size_arg(line, 1, kw, 1024, 16 << 20));
        no_more_args(line, 2, kw);
    } else if (kw == "tune.pipesize") {
        g.pipesize = static_cast<int>(size_arg(line, 1, kw, 4096, 1 << 30));
        no_more_args(line, 2, kw);
    } else if (kw == "tune.es.lb-hash") {
        const std::string& a = arg_or_fail(line, 1, kw, "'haproxy' or 'own'");
        if (a != "haproxy" && a != "own") fail(line.at, squote(kw) + ": expects 'haproxy' or 'own', not " + squote(a));
        no_more_args(line, 2, kw);
        g.lb_hash_own = a == "own";
    } else if (kw == "tune.es.watchdog-warn" || kw == "tune.es.watchdog-panic") {
        // the control shard's watch over the data shards' loops (control/watchdog.cpp); 0 turns it off
        const Millis t = time_arg(line, 1, kw);
        no_more_args(line, 2, kw);
        (kw == "tune.es.watchdog-warn" ? g.watchdog_warn_ms : g.watchdog_panic_ms) = t;
    } else if (kw == "tune.es.steer-clients") {
        const std::string& a = arg_or_fail(line, 1, kw, "'on' or 'off'");
        if (a != "on" && a != "off") fail(line.at, squote(kw) + ": expects 'on' or 'off', not " + squote(a));
        no_more_args(line, 2, kw);
        g.steer_clients = a == "on";
    } else if (kw == "tune.es.ring-entries") {
        g.ring_entries = pow2_arg(line, kw, 64, 32768);
    } else if (kw == "tune.es.buffers") {
        g.buffers_per_shard = pow2_arg(line, kw, 64, 32768);
    } else if (kw == "tune.es.splice-after") {
        g.splice_threshold = size_arg(line, 1, kw, 0, std::int64_t{1} << 50);
        no_more_args(line, 2, kw);
    } else if (kw == "tune.http.maxhdr") {
        g.maxhdr = static_cast<int>(int_arg(line, 1, kw, 1, 32767, "an integer from 1 to 32767"));
        no_more_args(line, 2, kw);
    } else if (kw == "tune.es.max-request-line") {
        g.max_request_line = static_cast<int>(size_arg(line, 1, kw, 256, 1 << 20));
        no_more_args(line, 2, kw);
    } else if (kw == "tune.es.log-ring") {
        g.log_ring_size = static_cast<int>(size_arg(line, 1, kw, 4096, 1 << 30));
        no_more_args(line, 2, kw);
    } else if (kw == "tune.es.max-body") {
        g.max_body = size_arg(line, 1, kw, 0, std::int64_t{1} << 50);
        no_more_args(line, 2, kw);
    } else if (kw == "log") {
        parse_global_log(st, line);
    } else if (kw == "log-tag") {
        g.log_tag = arg_or_fail(line, 1, kw, "a tag");
        no_more_args(line, 2, kw);
        check_syslog_word(line, kw, g.log_tag);
    } else if (kw == "log-send-hostname") {
        g.log_send_hostname = true;
        g.log_hostname = line.words.size() > 1 ? line.words[1] : "";
        no_more_args(line, 2, kw);
        if (!g.log_hostname.empty()) check_syslog_word(line, kw, g.log_hostname);
    } else if (kw == "no" && line.words.size() == 2 && line.words[1] == "log") {
        g.logs.clear();
    } else if (kw == "es.demo-origin") {
        const auto& a = arg_or_fail(line, 1, kw, "an address ADDR:PORT");
        g.demo_origin = addr_arg(a, line.at, kw).text();
        no_more_args(line, 2, kw);
    } else if (kw == "zero-warning") {
        no_more_args(line, 1, kw);
        st.zero_warning = true;
        st.zero_warning_at = line.at;
    } else if (kw == "setenv" || kw == "presetenv" || kw == "unsetenv" || kw == "resetenv") {
        parse_env_keyword(st, line);
    } else if (kw == "no" && line.words.size() >= 2 && find_ignored(line.words[1])) {
        st.warn_ignored(line.at, {"no " + line.words[1]}, find_ignored(line.words[1])->why);
    } else if (const auto* ign = find_ignored(kw)) {
        st.warn_ignored(line.at, {kw}, ign->why);
    } else {
        for (const auto& r : kGlobalRefused)
            if (r.name == kw) fail(line.at, squote(kw) + " is not supported: " + std::string(r.why));
        if (kw.rfind("tune.es.", 0) == 0) {
            fail(line.at,
                 "unknown keyword " + squote(kw) + " in 'global' section" +
                     did_you_mean(kw, {"tune.es.ring-entries", "tune.es.buffers", "tune.es.splice-after",
                                       "tune.es.max-request-line", "tune.es.log-ring", "tune.es.max-body",
                                       "tune.es.ssl-direct-seal", "tune.es.steer-clients", "tune.es.lb-hash",
                                       "tune.es.watchdog-warn", "tune.es.watchdog-panic"}));
        }
        fail(line.at,
             "unknown keyword " + squote(kw) + " in 'global' section" + did_you_mean(kw, global_keywords()));
    }
}

bool valid_name(const std::string& n) {
    // HAProxy's rule for proxy and server names: letters, digits, '-', '_', '.' and ':'.
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
    });
}

void finish_section(ParseState& st) {
    if (st.section == Section::Userlist) {
        finish_userlist(st);
    } else if (st.section == Section::Resolvers) {
        finish_resolvers(st);
    } else if (st.section == Section::Proxy) {
        finish_proxy(st, st.proxies.back());
    } else if (st.section == Section::Defaults && !st.defaults.name.empty()) {
        st.named_defaults[st.defaults.name] = st.defaults;
    }
    st.section = Section::None;
    st.section_name.clear();
}

// "[NAME] [from DEFAULTS]" after the section keyword. Returns the defaults the section starts from.
// A named defaults section with rules of its own to lend (ACLs alone are not: they serve its rules only).
bool defines_rules(const ProxyDraft& d) {
    const auto http = [](const HttpProxy& h) {
        return !h.request_rules.empty() || !h.response_rules.empty() || !h.after_rules.empty();
    };
    return http(d.fe.http) || http(d.be.http) || !d.fe.tcp_conn_rules.empty() || !d.fe.tcp_sess_rules.empty() ||
           !d.fe.tcp_content_rules.empty() || !d.be.tcp_content_rules.empty() || !d.be.tcp_rsp_rules.empty();
}

ProxyDraft section_header(ParseState& st, const Line& line, bool need_name, std::string& name) {
    const auto& kw = line.words[0];
    std::size_t i = 1;
    if (i < line.words.size() && line.words[i] != "from") name = line.words[i++];
    if (need_name && name.empty()) fail(line.at, squote(kw) + " section needs a name");
    if (!name.empty() && !valid_name(name))
        fail(line.at,
             "invalid " + kw + " name " + squote(name) + ": use letters, digits, '-', '_', '.' and ':' only");
    ProxyDraft base = kw == "defaults" ? builtin_defaults() : st.defaults;
    if (i < line.words.size()) {
        if (line.words[i] != "from")
            fail(line.at,
                 "unexpected argument " + squote(line.words[i]) + " after " + squote(kw + " " + name));
        const auto& from = arg_or_fail(line, i + 1, "from", "the name of a defaults section");
        const auto it = st.named_defaults.find(from);
        if (it == st.named_defaults.end()) {
            std::vector<std::string_view> names;
            for (const auto& [n, d] : st.named_defaults) names.push_back(n);
            fail(line.at, "unknown defaults section " + squote(from) + did_you_mean(from, names));
        }
        base = it->second;
        no_more_args(line, i + 2, kw);
    }
    return base;
}

void start_section(ParseState& st, const Line& line) {
    const auto& kw = line.words[0];
    finish_section(st);
    if (kw == "global") {
        no_more_args(line, 1, kw);
        if (!st.global_seen) st.cfg.global.where = line.at;
        st.global_seen = true;
        st.section = Section::Global;
        st.section_name = "global";
        return;
    }
    if (std::find(std::begin(kSkippedSections), std::end(kSkippedSections), kw) !=
        std::end(kSkippedSections)) {
        st.warn(line.at, "section " + squote(kw) + " is accepted and ignored (its body is skipped): " +
                             std::string(skipped_section_why(kw)));
        st.section = Section::Skipped;
        st.section_name = line.words.size() > 1 ? line.words[1] : kw;
        return;
    }
    if (kw == "resolvers") {
        start_resolvers(st, line);
        st.section = Section::Resolvers;
        st.section_name = line.words[1];
        return;
    }
    if (kw == "userlist" || kw == "http-errors") {
        const auto& name = arg_or_fail(line, 1, kw, "a name");
        no_more_args(line, 2, kw);
        if (kw == "userlist") {
            for (const auto& u : st.cfg.userlists)
                if (u.name == name)
                    fail(line.at,
                         "userlist " + squote(name) + " is already declared at " + where_text(u.where));
            st.userlist = UserlistDraft{};
            st.userlist.list.name = name;
            st.userlist.list.where = line.at;
            st.section = Section::Userlist;
        } else {
            for (const auto& e : st.cfg.http_errors)
                if (e.name == name)
                    fail(line.at, "http-errors section " + squote(name) + " is already declared at " +
                                      where_text(e.where));
            st.cfg.http_errors.push_back(HttpErrors{name, {}, line.at});
            st.section = Section::HttpErrors;
        }
        st.section_name = name;
        return;
    }
    std::string name;
    if (kw == "defaults") {
        ProxyDraft base = section_header(st, line, false, name);
        if (defines_rules(base))
            fail(line.at, "a defaults section cannot inherit from a defaults section defining TCP/HTTP rules "
                          "(defaults section at " + where_text(base.where) + ").");
        each_http(base, [](HttpProxy& h) { h.acls.clear(); });  // they serve that section's rules only
        base.req_delay_set = base.rsp_delay_set = false;
        if (!name.empty()) {
            if (const auto it = st.named_defaults.find(name); it != st.named_defaults.end())
                st.warn(line.at, "defaults section " + squote(name) + " replaces the one declared at " +
                                     where_text(it->second.where));
        }
        base.cap = kCapFe | kCapBe | kCapDefaults;
        base.kind = "defaults";
        base.name = name;
        base.where = line.at;
        st.defaults = std::move(base);
        st.section = Section::Defaults;
        st.section_name = name.empty() ? "defaults" : name;
        return;
    }
    ProxyDraft px = section_header(st, line, true, name);
    px.cap = kw == "frontend" ? kCapFe : kw == "backend" ? kCapBe : (kCapFe | kCapBe);
    if (defines_rules(px)) {
        // rules from a named defaults section (px.where is still that section's line): HAProxy's limits
        // (a section's rules run once per stream: one kind of proxy uses them)
        const std::string at = " (defaults section at " + where_text(px.where) + ").";
        if (kw == "listen") fail(line.at, "a listen section cannot inherit from a defaults section defining TCP/HTTP rules.");
        unsigned& used = st.rule_defaults_use[where_text(px.where)];
        if (used != 0 && used != px.cap)
            fail(line.at, "frontends and backends cannot inherit from the same defaults section if it defines "
                          "TCP/HTTP rules" + at);
        used = px.cap;
        if (kw == "backend" && (!px.fe.tcp_conn_rules.empty() || !px.fe.tcp_sess_rules.empty()))
            fail(line.at, "a backend section cannot inherit from a defaults section defining 'tcp-request connection' "
                          "or 'tcp-request session' rules" + at);
        if (kw == "frontend" && !px.be.tcp_rsp_rules.empty())
            fail(line.at, "a frontend section cannot inherit from a defaults section defining 'tcp-response content' "
                          "rules" + at);
    }
    each_http(px, [](HttpProxy& h) {
        h.request_own = h.request_rules.size();
        h.response_own = h.response_rules.size();
        h.after_own = h.after_rules.size();
    });
    px.acls_inherited = px.fe.http.acls.size();
    px.req_delay_set = px.rsp_delay_set = false;
    px.kind = kw;
    px.name = name;
    px.where = line.at;
    px.default_backend_explicit = false;
    px.balance_set = false;
    px.fe.name = px.be.name = name;
    px.fe.where = px.be.where = line.at;
    for (const auto& other : st.proxies) {
        if (other.name == name && (other.cap & px.cap & (kCapFe | kCapBe)) != 0)
            fail(line.at, kw + " " + squote(name) + " has the same name as " + other.kind + " " +
                              squote(name) + " declared at " + where_text(other.where));
    }
    st.proxies.push_back(std::move(px));
    st.section = Section::Proxy;
    st.section_name = name;
}

void parse_text(ParseState& st, const std::string& text, const std::string& name) {
    apply_default_path(st, name);  // config / parent follow each file
    LineReader reader(text, name, st.env, st.cfg.warnings, st.cfg.notices, st.load.diag);
    Line line;
    st.section = Section::None;
    st.section_name.clear();
    while (reader.next(line, st.section_name)) {
        const auto& kw = line.words[0];
        const bool is_section =
            std::find(std::begin(kProxySections), std::end(kProxySections), kw) != std::end(kProxySections) ||
            std::find(std::begin(kSkippedSections), std::end(kSkippedSections), kw) !=
                std::end(kSkippedSections);
        if (is_section) {
            start_section(st, line);
            continue;
        }
        switch (st.section) {
            case Section::None:
                fail(line.at, squote(kw) +
                                  " appears outside any section (start one with 'global', 'defaults', " +
                                  "'frontend', 'backend' or 'listen')" +
                                  did_you_mean(kw, {std::begin(kProxySections), std::end(kProxySections)}));
            case Section::Global:
                parse_global_line(st, line);
                break;
            case Section::Defaults:
                parse_proxy_line(st, st.defaults, line);
                break;
            case Section::Proxy:
                st.cur_px = &st.proxies.back();
                st.cur_line = &line;
                parse_proxy_line(st, st.proxies.back(), line);
                st.cur_px = nullptr;
                st.cur_line = nullptr;
                break;
            case Section::Userlist:
                parse_userlist_line(st, line);
                break;
            case Section::HttpErrors:
                parse_http_errors_line(st, line);
                break;
            case Section::Resolvers:
                parse_resolvers_line(st, line);
                break;
            case Section::Skipped:
                break;
        }
    }
    finish_section(st);  // sections do not continue into the next file
    st.end = Location{name, std::max(reader.last_line(), 1)};
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(Location{path, 0}, "cannot read configuration file: " + std::string(std::strerror(errno)));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) fail(Location{path, 0}, "error while reading configuration file");
    return ss.str();
}

Config run(const std::vector<std::pair<std::string, std::string>>& sources, const LoadOptions& opt) {
    ParseState st;
    st.load = opt;
    st.defaults = builtin_defaults();
    struct Reset {  // the next load starts from the working directory, whatever happens here
        ~Reset() {
            set_relative_dir({});
            set_map_registry(nullptr);
            set_converter_registry(nullptr, nullptr);
        }
    } reset;
    set_map_registry(&st.cfg);
    set_converter_registry(&st.cfg, &st);
    for (const auto& [name, text] : sources) {
        st.cfg.files.push_back(name);
        parse_text(st, text, name);
    }
    finalize(st);
    return std::move(st.cfg);
}

}  // namespace
}  // namespace detail

Config load_text(const std::string& text, const std::string& name, const LoadOptions& opt) {
    return detail::run({{name, text}}, opt);
}

Config load_files(const std::vector<std::string>& paths, const LoadOptions& opt) {
    if (paths.empty()) detail::fail(Location{"<command line>", 0}, "no configuration file given");
    std::vector<std::pair<std::string, std::string>> sources;
    for (const auto& p : paths) {
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            // Like haproxy -f DIR: the directory's *.cfg files in lexical order.
            std::vector<std::string> files;
            for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
                if (e.is_regular_file(ec) && e.path().extension() == ".cfg")
                    files.push_back(e.path().string());
            }
            if (ec) detail::fail(Location{p, 0}, "cannot list configuration directory: " + ec.message());
            std::sort(files.begin(), files.end());
            for (auto& f : files) sources.emplace_back(f, detail::read_file(f));
            continue;
        }
        sources.emplace_back(p, detail::read_file(p));
    }
    return detail::run(sources, opt);
}

}  // namespace es::config
