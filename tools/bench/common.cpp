#include "common.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <mutex>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "edgeshard/config/parser.hpp"
#include "edgeshard/core/version.hpp"
#include "edgeshard/shard/topology.hpp"
#include "tls_client.hpp"

namespace es::bench {

std::int64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {

unsigned to_uint(const std::string& name, const std::string& v, unsigned lo = 0, unsigned hi = UINT32_MAX) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi)
        throw UsageError(name + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                         "], got '" + v + "'");
    return unsigned(x);
}

double to_seconds(const std::string& name, const std::string& v) {
    // "10" = 10 s; HAProxy-style units otherwise ("500ms", "2m")
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (!v.empty() && *end == '\0' && x >= 0 && std::isfinite(x)) return x;
    if (auto ms = config::parse_time_ms(v)) return double(*ms) / 1000.0;
    throw UsageError(name + ": expected a duration (10, 10s, 500ms, 2m), got '" + v + "'");
}

std::uint64_t to_size(const std::string& name, const std::string& v) {
    auto sz = config::parse_size(v);
    if (!sz || *sz < 0) throw UsageError(name + ": expected a size (1024, 16k, 1m), got '" + v + "'");
    return std::uint64_t(*sz);
}

bool to_bool(const std::string& name, const std::string& v) {
    if (v == "1" || v == "on" || v == "true" || v == "yes") return true;
    if (v == "0" || v == "off" || v == "false" || v == "no") return false;
    throw UsageError(name + ": expected on|off, got '" + v + "'");
}

std::vector<int> parse_cpu_list(const std::string& v) {
    std::vector<int> out;
    std::size_t i = 0;
    while (i < v.size()) {
        std::size_t j = v.find(',', i);
        if (j == std::string::npos) j = v.size();
        const std::string part = v.substr(i, j - i);
        const std::size_t dash = part.find('-');
        if (dash == std::string::npos) {
            out.push_back(int(to_uint("--pin", part, 0, 4095)));
        } else {
            const unsigned a = to_uint("--pin", part.substr(0, dash), 0, 4095);
            const unsigned b = to_uint("--pin", part.substr(dash + 1), a, 4095);
            for (unsigned c = a; c <= b; ++c) out.push_back(int(c));
        }
        i = j + 1;
    }
    if (out.empty()) throw UsageError("--pin: empty CPU list");
    return out;
}

bool is_loopback(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET)
        return (ntohl(reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(&a) ||
               (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
    }
    return false;
}

std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

}  // namespace

std::string client_usage() {
    return "common options (http and tcp):\n"
           "  -t, --threads N          client threads, one io_uring each (default 1)\n"
           "  -c, --connections N      connections (http) or flows (tcp) over all threads (default 10)\n"
           "  -d, --duration T         measured time: 10, 10s, 500ms, 2m (default 10s)\n"
           "      --warmup T           run this long before measuring (default 0)\n"
           "      --timeout T          a response (or a tcp flow) silent this long is a timeout (default 10s)\n"
           "      --pin none|auto|LIST pin thread i to CPU i of LIST (\"0,1\", \"2-3\"); auto = one per core\n"
           "      --ring-entries N     SQ entries per thread (CQ is 4x) (default 1024)\n"
           "      --buffers N          provided receive buffers per thread, power of two (default 1024)\n"
           "      --buffer-size SIZE   bytes per receive buffer (default 16k)\n"
           "      --registered-buffers on|off   send from a registered buffer (WRITE_FIXED / SEND_ZC fixed)\n"
           "      --batch N            completions handled per loop turn, <= 256 (default 256)\n"
           "      --busy-poll US       SO_BUSY_POLL on every socket (needs a NIC; above net.core.busy_read needs root)\n"
           "      --napi-busy-poll US  io_uring NAPI busy poll (kernel 6.9+, a NIC with NAPI)\n"
           "      --send-zc-threshold SIZE   sends of at least SIZE bytes use SEND_ZC (default 0 = never)\n"
           "      --label TEXT         names the run in JSON and reports\n"
           "      --json               print the result as JSON (result.schema.json) on stdout\n"
           "  -q, --quiet              no summary, no progress line\n";
}

bool apply_setting(Settings& s, const std::string& key, const std::string& v) {
    const std::string k = key.rfind("--", 0) == 0 ? key.substr(2) : key;
    auto is = [&](const char* a, const char* b = nullptr) { return k == a || (b && k == b); };
    if (is("threads", "t")) s.threads = to_uint(key, v, 1, 1024);
    else if (is("connections", "c")) s.connections = to_uint(key, v, 1, 1'000'000);
    else if (is("duration", "d")) s.duration_s = to_seconds(key, v);
    else if (is("warmup")) s.warmup_s = to_seconds(key, v);
    else if (is("timeout")) s.timeout_ms = unsigned(to_seconds(key, v) * 1000.0 + 0.5);
    else if (is("pin")) s.pin = v;
    else if (is("ring-entries", "ring_entries")) s.ring_entries = to_uint(key, v, 8, 32768);
    else if (is("buffers")) s.buffers = to_uint(key, v, 1, 32768);
    else if (is("buffer-size", "buffer_size")) s.buffer_size = unsigned(to_size(key, v));
    else if (is("registered-buffers", "registered_buffers")) s.registered_buffers = to_bool(key, v);
    else if (is("batch")) s.batch = to_uint(key, v, 1, 256);
    else if (is("busy-poll", "busy_poll_us")) s.busy_poll_us = to_uint(key, v, 0, 1'000'000);
    else if (is("napi-busy-poll", "napi_busy_poll_us")) s.napi_busy_poll_us = to_uint(key, v, 0, 1'000'000);
    else if (is("send-zc-threshold", "send_zc_threshold")) s.send_zc_threshold = unsigned(to_size(key, v));
    else if (is("rate", "R")) s.rate = double(to_uint(key, v, 0, 100'000'000));
    else if (is("pipeline", "p")) s.pipeline = to_uint(key, v, 1, 64);
    else if (is("proxy-header", "proxy_header")) {
        if (v != "v1" && v != "v2") throw UsageError("--proxy-header: expects v1 or v2, got '" + v + "'");
        s.proxy_header = v == "v1" ? 1 : 2;
    }
    else if (is("method", "m")) s.method = v;
    else if (is("path")) s.path = v;
    else if (is("host")) s.host = v;
    else if (is("header", "H")) s.headers.push_back(v);
    else if (is("body-size", "body_size")) s.body_size = to_size(key, v);
    else if (is("keepalive")) s.keepalive = to_bool(key, v);
    else if (is("direction")) s.direction = v;
    else if (is("chunk-size", "chunk_size")) s.chunk_size = unsigned(to_size(key, v));
    else if (is("sni")) {
        s.sni = v;
        s.sni_given = true;
    } else if (is("tls-version", "tls_version")) {
        if (v != "any" && v != "1.2" && v != "1.3")
            throw UsageError(key + ": 1.2, 1.3 or any, got '" + v + "'");
        s.tls_version = v;
    } else if (is("ciphers")) s.ciphers = v;
    else if (is("ciphersuites")) s.ciphersuites = v;
    else if (is("alpn")) s.alpn = v;
    else if (is("tls-resume", "tls_resume")) s.tls_resume = to_bool(key, v);
    else if (is("target")) s.target = v;
    else if (is("label")) s.label = v;
    else return false;
    return true;
}

void parse_client_args(const std::vector<std::string>& args, Settings& s) {
    bool have_target = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--json") { s.json = true; continue; }
        if (a == "-q" || a == "--quiet") { s.quiet = true; continue; }
        if (a == "--close") { s.keepalive = false; continue; }
        if (a == "--no-resume") { s.tls_resume = false; continue; }
        if (a == "--insecure" || a == "-k") continue;  // the only mode: a load generator verifies nothing
        if (a == "-h" || a == "--help") throw UsageError("");
        if (a.size() > 1 && a[0] == '-') {
            std::string key = a, val;
            const std::size_t eq = a.find('=');
            if (eq != std::string::npos && a.rfind("--", 0) == 0) {
                key = a.substr(0, eq);
                val = a.substr(eq + 1);
            } else {
                if (i + 1 >= args.size()) throw UsageError(a + ": needs a value");
                val = args[++i];
            }
            const std::string k = key.rfind("--", 0) == 0 ? key.substr(2) : key.substr(1);
            if (!apply_setting(s, k, val)) throw UsageError("unknown option " + a);
            if (k == "target") have_target = true;
            continue;
        }
        if (have_target) throw UsageError("unexpected argument '" + a + "'");
        s.target = a;
        have_target = true;
    }
}

namespace {

// A host name and port (no address literal) to the first address the resolver gives; boot code.
std::optional<config::SockAddr> lookup(const std::string& authority) {
    const std::size_t colon = authority.rfind(':');
    if (colon == std::string::npos || colon == 0) return std::nullopt;
    const std::string host = authority.substr(0, colon), port = authority.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) return std::nullopt;
    config::SockAddr a;
    std::memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
    a.len = socklen_t(res->ai_addrlen);
    freeaddrinfo(res);
    return a;
}

}  // namespace

void resolve(Settings& s) {
    std::string t = s.target;
    std::string default_port;
    if (t.rfind("http://", 0) == 0 || t.rfind("https://", 0) == 0) {
        s.tls = t[4] == 's';
        default_port = s.tls ? "443" : "80";
        t = t.substr(s.tls ? 8 : 7);
        const std::size_t slash = t.find('/');
        if (slash != std::string::npos) {
            s.path = t.substr(slash);
            t = t.substr(0, slash);
        }
        if (!t.empty() && (t.back() == ']' || t.find(':') == std::string::npos)) t += ":" + default_port;
    } else if (t.rfind("tcp://", 0) == 0) {
        t = t.substr(6);
    }
    if (s.tls && s.scenario != "http") throw UsageError("https:// targets are for the http command");
    auto a = config::parse_addr(t);
    const bool literal = a.has_value();
    if (!a) a = lookup(t);
    if (!a)
        throw UsageError("target: expected ADDR:PORT or http(s)://HOST:PORT/path, and a host that resolves, got '" +
                         s.target + "'");
    s.addr = a->ss;
    s.addrlen = a->len;
    s.target = a->text();
    if (s.host.empty()) s.host = literal ? s.target : t;
    if (!s.sni_given) s.sni = literal ? "" : t.substr(0, t.rfind(':'));
    if (s.tls) {
        TlsClientCtx check(s, 1);  // refuses what OpenSSL would refuse on the load threads
        (void)check;
    }
    if (s.mode != "closed" && s.mode != "open") throw UsageError("mode: closed or open");
    s.mode = s.rate > 0 ? "open" : "closed";
    if (s.direction != "up" && s.direction != "down" && s.direction != "both")
        throw UsageError("--direction: up, down or both");
    if (s.buffers & (s.buffers - 1)) throw UsageError("--buffers: a power of two");
    if (s.buffer_size < 512) throw UsageError("--buffer-size: at least 512");
    if (s.duration_s <= 0) throw UsageError("--duration: more than 0");
    if (s.timeout_ms == 0) s.timeout_ms = 1;
    if (!s.keepalive) s.pipeline = 1;
    if (s.connections < s.threads) s.threads = s.connections;
    if (std::uint64_t(s.pipeline) * s.body_size > (std::uint64_t(64) << 20))
        throw UsageError("--pipeline x --body-size: at most 64 MiB in flight per connection");
    s.cpus.clear();
    if (s.pin == "none") return;
    shard::Topology topo;
    const std::vector<int> allowed = topo.allowed_cpus();
    if (s.pin == "auto") {
        s.cpus = allowed;
    } else {
        s.cpus = parse_cpu_list(s.pin);
        for (int c : s.cpus) {
            bool ok = false;
            for (int a2 : allowed) ok |= a2 == c;
            if (!ok) throw UsageError("--pin: CPU " + std::to_string(c) + " is not one this process may run on");
        }
    }
    std::string list;
    for (unsigned i = 0; i < s.threads; ++i) {
        if (i) list += ",";
        list += std::to_string(s.cpus[i % s.cpus.size()]);
    }
    s.pin = list;
}

std::vector<Skipped> check_knobs(Settings& s) {
    std::vector<Skipped> out;
    const bool lo = is_loopback(s.addr);
    if (s.tls && s.registered_buffers) {
        out.push_back({"registered_buffers",
                       "https sends the records OpenSSL made, from a buffer per connection, not the registered "
                       "request buffer"});
        s.registered_buffers = false;
    }
    if (s.tls && s.send_zc_threshold) {
        out.push_back({"send_zc_threshold",
                       "https reuses a connection's record buffer as soon as a send completes; zero-copy would "
                       "need it kept until the kernel's notification"});
        s.send_zc_threshold = 0;
    }
    if (s.napi_busy_poll_us) {
        if (lo) {
            out.push_back({"napi_busy_poll_us", "the target is on loopback: no NIC queue with NAPI to busy-poll"});
            s.napi_busy_poll_us = 0;
        }
    }
    if (s.busy_poll_us) {
        const std::string sys = read_line("/proc/sys/net/core/busy_read");
        const unsigned long limit = sys.empty() ? 0 : std::strtoul(sys.c_str(), nullptr, 10);
        if (lo) {
            out.push_back({"busy_poll_us", "the target is on loopback: SO_BUSY_POLL needs a NIC queue with NAPI"});
            s.busy_poll_us = 0;
        } else if (geteuid() != 0 && s.busy_poll_us > limit) {
            out.push_back({"busy_poll_us", "above net.core.busy_read (" + std::to_string(limit) +
                                               ") SO_BUSY_POLL needs CAP_NET_ADMIN (root)"});
            s.busy_poll_us = 0;
        }
    }
    return out;
}

void Result::merge(const Result& o) {
    requests += o.requests;
    responses += o.responses;
    bytes_sent += o.bytes_sent;
    bytes_received += o.bytes_received;
    for (int i = 0; i < 6; ++i) status[i] += o.status[i];
    errors.connect += o.errors.connect;
    errors.read += o.errors.read;
    errors.write += o.errors.write;
    errors.timeout += o.errors.timeout;
    errors.parse += o.errors.parse;
    errors.tls += o.errors.tls;
    if (o.tls) {
        if (!tls) tls.emplace();
        tls->merge(*o.tls);
    }
    lat.merge(o.lat);
    if (timeline.size() < o.timeline.size()) timeline.resize(o.timeline.size());
    for (std::size_t i = 0; i < o.timeline.size(); ++i) {
        timeline[i].completed += o.timeline[i].completed;
        timeline[i].bytes += o.timeline[i].bytes;
        timeline[i].lat.merge(o.timeline[i].lat);
    }
    flows.insert(flows.end(), o.flows.begin(), o.flows.end());
}

Result merge_parts(std::vector<Result>& parts) {
    Result r = std::move(parts[0]);
    double el = r.elapsed_s;
    for (std::size_t i = 1; i < parts.size(); ++i) {
        r.merge(parts[i]);
        el = std::max(el, parts[i].elapsed_s);
    }
    r.elapsed_s = el;
    return r;
}

void TlsStats::merge(const TlsStats& o) {
    if (version.empty()) {
        version = o.version;
        cipher = o.cipher;
        alpn = o.alpn;
    }
    if (error.empty()) error = o.error;
    handshakes += o.handshakes;
    full += o.full;
    resumed += o.resumed;
    handshake_ns.merge(o.handshake_ns);
}

std::string utc_now_rfc3339() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char b[32];
    std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return b;
}

namespace {

struct Nic {
    std::string name, driver;
    int rx = 0, tx = 0, speed = -1, mtu = 0;
};

std::vector<Nic> nics() {
    std::vector<Nic> out;
    DIR* d = opendir("/sys/class/net");
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        Nic n;
        n.name = e->d_name;
        const std::string base = std::string("/sys/class/net/") + e->d_name;
        char link[512];
        const ssize_t l = readlink((base + "/device/driver").c_str(), link, sizeof link - 1);
        if (l > 0) {
            link[l] = 0;
            const char* slash = std::strrchr(link, '/');
            n.driver = slash ? slash + 1 : link;
        } else {
            n.driver = n.name == "lo" ? "loopback" : "virtual";
        }
        if (DIR* q = opendir((base + "/queues").c_str())) {
            while (dirent* qe = readdir(q)) {
                if (std::strncmp(qe->d_name, "rx-", 3) == 0) ++n.rx;
                if (std::strncmp(qe->d_name, "tx-", 3) == 0) ++n.tx;
            }
            closedir(q);
        }
        const std::string sp = read_line(base + "/speed");
        if (!sp.empty()) n.speed = std::atoi(sp.c_str());
        n.mtu = std::atoi(read_line(base + "/mtu").c_str());
        out.push_back(n);
    }
    closedir(d);
    std::sort(out.begin(), out.end(), [](const Nic& a, const Nic& b) { return a.name < b.name; });
    return out;
}

std::string cpu_model() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("model name", 0) == 0) {
            const std::size_t c = line.find(':');
            if (c != std::string::npos) return line.substr(line.find_first_not_of(' ', c + 1));
        }
    }
    return "unknown";
}

using W = rapidjson::Writer<rapidjson::StringBuffer>;

void kv(W& w, const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str(), rapidjson::SizeType(v.size()));
}
void kv(W& w, const char* k, std::uint64_t v) {
    w.Key(k);
    w.Uint64(v);
}
void kv(W& w, const char* k, unsigned v) {
    w.Key(k);
    w.Uint(v);
}
void kv(W& w, const char* k, double v) {
    w.Key(k);
    w.Double(std::isfinite(v) ? v : 0.0);
}
void kv(W& w, const char* k, bool v) {
    w.Key(k);
    w.Bool(v);
}

double us(std::uint64_t ns) { return double(ns) / 1000.0; }

// A histogram of nanoseconds summarized in microseconds; `tail` adds p99.9 and p99.99.
template <typename W, typename H>
void hist_us(W& w, const char* key, const H& h, bool tail) {
    w.Key(key);
    w.StartObject();
    kv(w, "count", h.count());
    kv(w, "min", us(h.min()));
    kv(w, "mean", h.mean() / 1000.0);
    kv(w, "p50", us(h.percentile(50)));
    kv(w, "p90", us(h.percentile(90)));
    kv(w, "p99", us(h.percentile(99)));
    if (tail) {
        kv(w, "p99_9", us(h.percentile(99.9)));
        kv(w, "p99_99", us(h.percentile(99.99)));
    }
    kv(w, "max", us(h.max()));
    w.EndObject();
}

}  // namespace

std::string result_json(const Settings& s, const std::vector<Skipped>& skipped, const Result& r,
                        const std::string& started_at, const SweepPoint* sweep) {
    rapidjson::StringBuffer sb;
    W w(sb);
    w.StartObject();
    kv(w, "schema", std::string(kSchema));
    w.Key("tool");
    w.StartObject();
    kv(w, "name", std::string("edgeshard-bench"));
    kv(w, "version", std::string(es::kVersion));
    w.EndObject();
    kv(w, "started_at", started_at);
    if (!s.label.empty()) kv(w, "label", s.label);
    kv(w, "scenario", s.scenario);
    if (!s.command.empty()) kv(w, "command", s.command);
    w.Key("settings");
    w.StartObject();
    kv(w, "target", s.target);
    kv(w, "threads", s.threads);
    kv(w, "connections", s.connections);
    kv(w, "duration_s", s.duration_s);
    kv(w, "warmup_s", s.warmup_s);
    kv(w, "timeout_ms", s.timeout_ms);
    if (s.scenario == "http") {
        kv(w, "mode", s.mode);
        kv(w, "rate", s.rate);
        kv(w, "pipeline", s.pipeline);
        kv(w, "keepalive", s.keepalive);
        kv(w, "method", s.method);
        kv(w, "path", s.path);
        w.Key("headers");
        w.StartArray();
        for (const auto& h : s.headers) w.String(h.c_str());
        w.EndArray();
        kv(w, "body_size", s.body_size);
        kv(w, "scheme", std::string(s.tls ? "https" : "http"));
        if (s.tls) {
            kv(w, "sni", s.sni);
            kv(w, "tls_version", s.tls_version);
            kv(w, "ciphers", s.ciphers);
            kv(w, "ciphersuites", s.ciphersuites);
            kv(w, "alpn", s.alpn);
            kv(w, "tls_resume", s.tls_resume);
            kv(w, "tls_verify", false);
        }
    } else {
        kv(w, "direction", s.direction);
        kv(w, "chunk_size", s.chunk_size);
    }
    kv(w, "ring_entries", s.ring_entries);
    kv(w, "buffers", s.buffers);
    kv(w, "buffer_size", s.buffer_size);
    kv(w, "registered_buffers", s.registered_buffers);
    kv(w, "batch", s.batch);
    kv(w, "busy_poll_us", s.busy_poll_us);
    kv(w, "napi_busy_poll_us", s.napi_busy_poll_us);
    kv(w, "send_zc_threshold", s.send_zc_threshold);
    kv(w, "pin", s.pin);
    for (const auto& [k, v] : s.proxy_settings) kv(w, ("proxy." + k).c_str(), v);
    w.EndObject();
    if (sweep) {
        w.Key("sweep");
        w.StartObject();
        kv(w, "point", sweep->point);
        kv(w, "points", sweep->points);
        w.Key("vars");
        w.StartObject();
        for (const auto& [k, v] : sweep->vars) kv(w, k.c_str(), v);
        w.EndObject();
        w.EndObject();
    }
    w.Key("skipped");
    w.StartArray();
    for (const auto& sk : skipped) {
        w.StartObject();
        kv(w, "setting", sk.setting);
        kv(w, "reason", sk.reason);
        w.EndObject();
    }
    w.EndArray();
    // host facts
    w.Key("host");
    w.StartObject();
    char hn[256] = "";
    gethostname(hn, sizeof hn - 1);
    kv(w, "hostname", std::string(hn));
    utsname u{};
    uname(&u);
    kv(w, "kernel", std::string(u.release));
    kv(w, "cpu_model", cpu_model());
    kv(w, "cpus", unsigned(sysconf(_SC_NPROCESSORS_ONLN)));
    w.Key("nics");
    w.StartArray();
    for (const Nic& n : nics()) {
        w.StartObject();
        kv(w, "name", n.name);
        kv(w, "driver", n.driver);
        kv(w, "rx_queues", unsigned(n.rx));
        kv(w, "tx_queues", unsigned(n.tx));
        if (n.speed > 0) {
            w.Key("speed_mbps");
            w.Int(n.speed);
        }
        w.Key("mtu");
        w.Int(n.mtu);
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    // results
    w.Key("results");
    w.StartObject();
    kv(w, "elapsed_s", r.elapsed_s);
    const double el = r.elapsed_s > 0 ? r.elapsed_s : 1;
    if (s.scenario == "http") {
        kv(w, "requests", r.requests);
        kv(w, "responses", r.responses);
        kv(w, "rps", double(r.responses) / el);
    }
    kv(w, "bytes_sent", r.bytes_sent);
    kv(w, "bytes_received", r.bytes_received);
    if (s.scenario == "tcp") {
        std::uint64_t moved = s.direction == "up" ? r.bytes_sent
                              : s.direction == "down" ? r.bytes_received
                                                      : r.bytes_sent + r.bytes_received;
        kv(w, "gbps", double(moved) * 8.0 / el / 1e9);
    }
    w.Key("status");
    w.StartObject();
    kv(w, "1xx", r.status[1]);
    kv(w, "2xx", r.status[2]);
    kv(w, "3xx", r.status[3]);
    kv(w, "4xx", r.status[4]);
    kv(w, "5xx", r.status[5]);
    kv(w, "other", r.status[0]);
    w.EndObject();
    w.Key("errors");
    w.StartObject();
    kv(w, "connect", r.errors.connect);
    kv(w, "read", r.errors.read);
    kv(w, "write", r.errors.write);
    kv(w, "timeout", r.errors.timeout);
    kv(w, "parse", r.errors.parse);
    if (s.tls) kv(w, "tls", r.errors.tls);
    kv(w, "status_4xx", r.status[4]);
    kv(w, "status_5xx", r.status[5]);
    w.EndObject();
    if (s.scenario == "http") {
        hist_us(w, "latency_us", r.lat, true);
        w.Key("latency_percentiles");
        w.StartArray();
        if (r.lat.count()) {
            // HDR-style spacing: denser towards the tail, down to one sample in the count
            for (int k = 0;; ++k) {
                const double q = 100.0 * (1.0 - std::pow(10.0, -double(k) / 10.0));
                if (k > 0 && (1.0 - q / 100.0) * double(r.lat.count()) < 1.0) break;
                w.StartArray();
                w.Double(q);
                w.Double(us(r.lat.percentile(q)));
                w.EndArray();
            }
            w.StartArray();
            w.Double(100.0);
            w.Double(us(r.lat.max()));
            w.EndArray();
        }
        w.EndArray();
    }
    if (s.tls) {
        static const TlsStats kNone;
        const TlsStats& t = r.tls ? *r.tls : kNone;
        w.Key("tls");
        w.StartObject();
        kv(w, "version", t.version);
        kv(w, "cipher", t.cipher);
        kv(w, "alpn", t.alpn);
        kv(w, "handshakes", t.handshakes);
        kv(w, "full", t.full);
        kv(w, "resumed", t.resumed);
        kv(w, "failures", r.errors.tls);
        hist_us(w, "handshake_us", t.handshake_ns, false);
        if (!t.error.empty()) kv(w, "first_error", t.error);
        w.EndObject();
    }
    w.Key("timeline");
    w.StartArray();
    for (std::size_t i = 0; i < r.timeline.size(); ++i) {
        const Second& sec = r.timeline[i];
        w.StartObject();
        kv(w, "t", double(i + 1));
        kv(w, "completed", sec.completed);
        kv(w, "bytes", sec.bytes);
        if (s.scenario == "http" && sec.lat.count()) kv(w, "p99_us", us(sec.lat.percentile(99)));
        w.EndObject();
    }
    w.EndArray();
    if (s.scenario == "tcp") {
        w.Key("flows");
        w.StartArray();
        double sum = 0, sq = 0;
        for (std::size_t i = 0; i < r.flows.size(); ++i) {
            w.StartObject();
            kv(w, "id", unsigned(i));
            kv(w, "bytes_sent", r.flows[i].sent);
            kv(w, "bytes_received", r.flows[i].received);
            w.EndObject();
            const double x = double(r.flows[i].sent + r.flows[i].received);
            sum += x;
            sq += x * x;
        }
        w.EndArray();
        const double jain = sq > 0 ? (sum * sum) / (double(r.flows.size()) * sq) : 1.0;
        kv(w, "fairness", jain);
    }
    w.EndObject();
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

void print_summary(std::FILE* to, const Settings& s, const std::vector<Skipped>& skipped, const Result& r) {
    const double el = r.elapsed_s > 0 ? r.elapsed_s : 1;
    if (s.scenario == "http") {
        std::fprintf(to, "%s %s%s: %s loop%s, %u connections, %u threads, pipeline %u, %s, %.1f s%s%s\n",
                     s.tls ? "https" : "http", s.target.c_str(), s.path.c_str(), s.mode.c_str(),
                     s.mode == "open" ? (" at " + std::to_string(std::uint64_t(s.rate)) + " req/s").c_str() : "",
                     s.connections, s.threads, s.pipeline, s.keepalive ? "keep-alive" : "new connection per request",
                     r.elapsed_s, s.label.empty() ? "" : ", ", s.label.c_str());
        std::fprintf(to, "  responses  %llu (%.0f/s), requests sent %llu\n", (unsigned long long)r.responses,
                     double(r.responses) / el, (unsigned long long)r.requests);
        std::fprintf(to, "  latency    p50 %.0f us  p90 %.0f us  p99 %.0f us  p99.9 %.0f us  max %.0f us  mean %.0f us\n",
                     us(r.lat.percentile(50)), us(r.lat.percentile(90)), us(r.lat.percentile(99)),
                     us(r.lat.percentile(99.9)), us(r.lat.max()), r.lat.mean() / 1000.0);
        std::fprintf(to, "  status     1xx %llu  2xx %llu  3xx %llu  4xx %llu  5xx %llu  other %llu\n",
                     (unsigned long long)r.status[1], (unsigned long long)r.status[2], (unsigned long long)r.status[3],
                     (unsigned long long)r.status[4], (unsigned long long)r.status[5], (unsigned long long)r.status[0]);
        if (s.tls) {
            static const TlsStats kNone;
            const TlsStats& t = r.tls ? *r.tls : kNone;
            std::fprintf(to,
                         "  tls        %s %s%s%s, handshakes %llu (full %llu, resumed %llu), "
                         "p50 %.0f us  p99 %.0f us\n",
                         t.version.empty() ? "(no handshake completed)" : t.version.c_str(), t.cipher.c_str(),
                         t.alpn.empty() ? "" : ", alpn ", t.alpn.c_str(), (unsigned long long)t.handshakes,
                         (unsigned long long)t.full, (unsigned long long)t.resumed,
                         us(t.handshake_ns.percentile(50)), us(t.handshake_ns.percentile(99)));
            if (!t.error.empty()) std::fprintf(to, "  tls error  %s\n", t.error.c_str());
        }
    } else {
        std::uint64_t moved = s.direction == "up" ? r.bytes_sent
                              : s.direction == "down" ? r.bytes_received
                                                      : r.bytes_sent + r.bytes_received;
        std::fprintf(to, "tcp %s: %s, %u flows, %u threads, %.1f s%s%s\n", s.target.c_str(), s.direction.c_str(),
                     s.connections, s.threads, r.elapsed_s, s.label.empty() ? "" : ", ", s.label.c_str());
        std::fprintf(to, "  throughput %.3f Gbit/s (%llu bytes)\n", double(moved) * 8.0 / el / 1e9,
                     (unsigned long long)moved);
        std::uint64_t lo = UINT64_MAX, hi = 0;
        for (const Flow& f : r.flows) {
            lo = std::min(lo, f.sent + f.received);
            hi = std::max(hi, f.sent + f.received);
        }
        if (!r.flows.empty())
            std::fprintf(to, "  per flow   min %.1f MB  max %.1f MB\n", double(lo) / 1e6, double(hi) / 1e6);
    }
    std::fprintf(to, "  bytes      in %.1f MB/s  out %.1f MB/s\n", double(r.bytes_received) / el / 1e6,
                 double(r.bytes_sent) / el / 1e6);
    std::fprintf(to, "  errors     connect %llu  read %llu  write %llu  timeout %llu  parse %llu%s\n",
                 (unsigned long long)r.errors.connect, (unsigned long long)r.errors.read,
                 (unsigned long long)r.errors.write, (unsigned long long)r.errors.timeout,
                 (unsigned long long)r.errors.parse,
                 s.tls ? ("  tls " + std::to_string(r.errors.tls)).c_str() : "");
    for (const auto& sk : skipped) std::fprintf(to, "  skipped    %s: %s\n", sk.setting.c_str(), sk.reason.c_str());
}

void run_threads(const Settings& s, const std::function<void(unsigned, int)>& fn) {
    std::unique_ptr<shard::Topology> topo;
    if (!s.cpus.empty()) topo = std::make_unique<shard::Topology>();
    std::mutex mu;
    std::exception_ptr first;
    std::vector<std::thread> ts;
    for (unsigned i = 0; i < s.threads; ++i) {
        const int cpu = s.cpus.empty() ? -1 : s.cpus[i % s.cpus.size()];
        ts.emplace_back([&, i, cpu] {
            try {
                if (cpu >= 0) {
                    const std::string err = topo->pin_current_thread(cpu);
                    if (!err.empty()) throw std::runtime_error("pinning to CPU " + std::to_string(cpu) + ": " + err);
                }
                fn(i, cpu);
            } catch (...) {
                std::lock_guard<std::mutex> g(mu);
                if (!first) first = std::current_exception();
            }
        });
    }
    for (auto& t : ts) t.join();
    if (first) std::rethrow_exception(first);
}

}  // namespace es::bench
