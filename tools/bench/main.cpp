// edgeshard-bench: load generator (http, tcp), origin, sweep and report. See tools/bench/README.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "report.hpp"

namespace es::bench {

namespace {

const char* kUsage =
    "usage: edgeshard-bench COMMAND [options]\n"
    "  http [URL] [options]     HTTP/1.1 load: closed loop, or open loop with --rate\n"
    "  tcp [ADDR:PORT] [options]  TCP streams: --direction up|down|both\n"
    "  origin --http ADDR:PORT [--tcp-sink|--tcp-echo|--tcp-source ADDR:PORT]...  a fast origin\n"
    "  sweep --set KEY=V1,V2 ... [--proxy-config TEMPLATE --proxy-bin PATH] -- http|tcp [options]\n"
    "  report [-o OUT.html] FILE.json...  one self-contained HTML page from results\n"
    "Run `edgeshard-bench COMMAND --help` for a command's options.\n";

const char* kHttpUsage =
    "http options:\n"
    "  URL or --target ADDR:PORT   http://127.0.0.1:8080/path or https://HOST:PORT/path\n"
    "  -R, --rate N             open loop: N requests/s over all connections, latency from the intended send\n"
    "  -p, --pipeline N         requests in flight per connection (default 1, at most 64)\n"
    "      --close              a new connection per request (keep-alive is the default)\n"
    "      --proxy-header v1|v2 a PROXY protocol header (192.0.2.x -> 198.51.100.1:80) opens each\n"
    "                           connection, sent on its own before the first request\n"
    "  -m, --method M           (default GET)\n"
    "      --path P             (default /)\n"
    "  -H, --header 'N: V'      extra request header, repeatable\n"
    "      --host H             Host header (default: the target)\n"
    "      --body-size SIZE     request body of SIZE bytes with Content-Length\n"
    "https (https://HOST:PORT/path; OpenSSL over memory BIOs, driven by the io_uring completions):\n"
    "      --insecure, -k       accepted; it is the only mode: the server's certificate is NOT verified\n"
    "                           (a load generator measures a server, it does not trust one)\n"
    "      --sni NAME           server name to send (default: the URL's host unless it is an address;\n"
    "                           --sni '' sends none)\n"
    "      --tls-version 1.2|1.3|any   pin one protocol version (default any)\n"
    "      --ciphers LIST       OpenSSL cipher list for TLS 1.2 and below\n"
    "      --ciphersuites LIST  OpenSSL TLS 1.3 suites\n"
    "      --alpn LIST          protocols offered, comma-separated (default http/1.1; '' offers none)\n"
    "      --no-resume          never offer a session: every handshake is full. By default each thread\n"
    "                           offers the newest session the server gave it, so --close measures\n"
    "                           resumed handshakes and --close --no-resume full ones\n";

const char* kTcpUsage =
    "tcp options:\n"
    "  ADDR:PORT or --target ADDR:PORT\n"
    "      --direction up|down|both   up: send (to a sink), down: receive (from a source), both (an echo)\n"
    "      --chunk-size SIZE    bytes per send (default 64k)\n";

const char* kOriginUsage =
    "origin options:\n"
    "  --http ADDR:PORT         HTTP origin (port 0: the kernel picks; the chosen port is printed)\n"
    "  --tcp-sink ADDR:PORT     reads and discards\n"
    "  --tcp-echo ADDR:PORT     sends back what it reads\n"
    "  --tcp-source ADDR:PORT   sends without end\n"
    "  --body-size SIZE         HTTP response body (default 64)\n"
    "  --status CODE            HTTP status (default 200)\n"
    "  --delay T                answer each request T after it arrived (20ms, 1s)\n"
    "  --fail KIND=PERCENT      fail a deterministic share of requests: a status code (503=5), reset, close,\n"
    "                           hang or garbage; repeatable, adding up to at most 100\n"
    "  --chunk-size SIZE        bytes per send of a source (default 64k)\n"
    "  --threads N, --pin, --ring-entries, --buffers, --buffer-size, --batch, --send-zc-threshold, ...\n"
    "Runs until SIGINT or SIGTERM.\n";

std::string join_command(const char* prog, const std::vector<std::string>& args) {
    std::string c = prog;
    for (const auto& a : args) {
        c += ' ';
        if (a.find_first_of(" \t'\"") != std::string::npos) c += "'" + a + "'";
        else c += a;
    }
    return c;
}

// A live progress line on stderr while a run lasts.
class ProgressLine {
public:
    ProgressLine(const Settings& s, Progress& p) : s_(s), p_(p) {
        if (s.quiet || !isatty(2)) return;
        t_ = std::thread([this] { loop(); });
    }
    ~ProgressLine() {
        stop_ = true;
        if (t_.joinable()) {
            t_.join();
            std::fprintf(stderr, "\r\033[K");
        }
    }

private:
    void loop() {
        const auto t0 = std::chrono::steady_clock::now();
        std::uint64_t last_c = 0, last_b = 0;
        const double total = s_.warmup_s + s_.duration_s;
        while (!stop_) {
            for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const std::uint64_t c = p_.completed.load(std::memory_order_relaxed);
            const std::uint64_t b = p_.bytes.load(std::memory_order_relaxed);
            if (s_.scenario == "http")
                std::fprintf(stderr, "\r\033[K[%5.1f/%.1f s] %llu responses/s, errors %llu", el, total,
                             (unsigned long long)(c - last_c), (unsigned long long)p_.errors.load());
            else
                std::fprintf(stderr, "\r\033[K[%5.1f/%.1f s] %.3f Gbit/s, errors %llu", el, total,
                             double(b - last_b) * 8 / 1e9, (unsigned long long)p_.errors.load());
            last_c = c;
            last_b = b;
        }
    }
    const Settings& s_;
    Progress& p_;
    std::atomic<bool> stop_{false};
    std::thread t_;
};

Result run_scenario(const Settings& s) {
    Progress p;
    ProgressLine line(s, p);
    return s.scenario == "http" ? run_http(s, &p) : run_tcp(s, &p);
}

int client_main(const char* scenario, const std::vector<std::string>& args) {
    Settings s;
    s.scenario = scenario;
    s.command = join_command("edgeshard-bench", [&] {
        std::vector<std::string> v{scenario};
        v.insert(v.end(), args.begin(), args.end());
        return v;
    }());
    try {
        parse_client_args(args, s);
        resolve(s);
    } catch (const UsageError& e) {
        if (*e.what()) std::fprintf(stderr, "edgeshard-bench %s: %s\n", scenario, e.what());
        std::fprintf(stderr, "%s%s", s.scenario == "http" ? kHttpUsage : kTcpUsage, client_usage().c_str());
        return *e.what() ? 1 : 0;
    }
    std::vector<Skipped> skipped = check_knobs(s);
    const std::string started = utc_now_rfc3339();
    const Result r = run_scenario(s);
    if (s.json) std::printf("%s\n", result_json(s, skipped, r, started, nullptr).c_str());
    if (!s.quiet) print_summary(s.json ? stderr : stdout, s, skipped, r);
    return 0;
}

// ---- sweep ----

struct Var {
    std::string key;
    std::vector<std::string> values;
};

std::vector<std::string> split(const std::string& v, char sep) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (true) {
        const std::size_t j = v.find(sep, i);
        out.push_back(v.substr(i, j == std::string::npos ? std::string::npos : j - i));
        if (j == std::string::npos) break;
        i = j + 1;
    }
    return out;
}

bool port_open(const Settings& s) {
    const int fd = ::socket(s.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&s.addr), s.addrlen) == 0;
    ::close(fd);
    return ok;
}

struct Proxy {
    pid_t pid = -1;
    ~Proxy() { stop(); }
    void stop() {
        if (pid <= 0) return;
        kill(pid, SIGTERM);
        for (int i = 0; i < 100; ++i) {
            if (waitpid(pid, nullptr, WNOHANG) == pid) {
                pid = -1;
                return;
            }
            usleep(50'000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        pid = -1;
    }
};

int sweep_main_impl(const std::vector<std::string>& args) {
    std::vector<Var> vars;
    std::string tpl_path, proxy_bin = "edgeshard", out_path;
    bool json = false, quiet = false;
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a == "--json") { json = true; continue; }
        if (a == "-q" || a == "--quiet") { quiet = true; continue; }
        if (a == "-h" || a == "--help") throw UsageError("");
        if (i + 1 >= args.size()) throw UsageError(a + ": needs a value");
        const std::string& v = args[++i];
        if (a == "--set") {
            const std::size_t eq = v.find('=');
            if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
                throw UsageError("--set KEY=V1,V2,...: got '" + v + "'");
            vars.push_back({v.substr(0, eq), split(v.substr(eq + 1), ',')});
        } else if (a == "--proxy-config") {
            tpl_path = v;
        } else if (a == "--proxy-bin") {
            proxy_bin = v;
        } else if (a == "--out") {
            out_path = v;
        } else {
            throw UsageError("unknown option " + a);
        }
    }
    if (i >= args.size() || (args[i] != "http" && args[i] != "tcp"))
        throw UsageError("sweep: the scenario follows `--`: -- http URL ... or -- tcp ADDR:PORT ...");
    if (vars.empty()) throw UsageError("sweep: at least one --set KEY=V1,V2");
    const std::string scenario = args[i];
    const std::vector<std::string> rest(args.begin() + std::ptrdiff_t(i) + 1, args.end());
    std::string tpl;
    if (!tpl_path.empty()) {
        std::ifstream f(tpl_path);
        if (!f) throw UsageError("--proxy-config: cannot read " + tpl_path);
        std::stringstream ss;
        ss << f.rdbuf();
        tpl = ss.str();
    }
    // every key must be known before anything runs
    {
        Settings probe;
        probe.scenario = scenario;
        parse_client_args(rest, probe);
        for (const Var& v : vars) {
            if (v.key.rfind("proxy.", 0) == 0) {
                if (tpl.empty()) throw UsageError("--set " + v.key + ": proxy settings need --proxy-config");
                if (tpl.find("{{" + v.key.substr(6) + "}}") == std::string::npos)
                    throw UsageError("--set " + v.key + ": the template has no {{" + v.key.substr(6) + "}}");
                continue;
            }
            for (const auto& val : v.values) {
                Settings t = probe;
                if (!apply_setting(t, v.key, val)) throw UsageError("--set: unknown setting '" + v.key + "'");
            }
        }
    }
    std::size_t points = 1;
    for (const Var& v : vars) points *= v.values.size();
    std::FILE* out = stdout;
    if (!out_path.empty()) {
        out = std::fopen(out_path.c_str(), "w");
        if (!out) throw UsageError("--out: cannot write " + out_path);
    }
    std::vector<std::string> lines;
    for (std::size_t p = 0; p < points; ++p) {
        Settings s;
        s.scenario = scenario;
        s.quiet = quiet;
        s.command = join_command("edgeshard-bench", [&] {
            std::vector<std::string> v{"sweep"};
            v.insert(v.end(), args.begin(), args.end());
            return v;
        }());
        parse_client_args(rest, s);
        SweepPoint sp;
        sp.point = unsigned(p + 1);
        sp.points = unsigned(points);
        std::size_t rem = p;
        std::string cfg = tpl;
        std::string label;
        for (std::size_t k = vars.size(); k-- > 0;) {
            const Var& v = vars[k];
            const std::string& val = v.values[rem % v.values.size()];
            rem /= v.values.size();
            sp.vars.insert(sp.vars.begin(), {v.key, val});
            if (v.key.rfind("proxy.", 0) == 0) {
                const std::string key = v.key.substr(6);
                s.proxy_settings[key] = val;
                const std::string pat = "{{" + key + "}}";
                for (std::size_t at; (at = cfg.find(pat)) != std::string::npos;) cfg.replace(at, pat.size(), val);
            } else {
                apply_setting(s, v.key, val);
            }
        }
        for (const auto& [k, v] : sp.vars) label += (label.empty() ? "" : " ") + k + "=" + v;
        if (s.label.empty()) s.label = label;
        resolve(s);
        std::vector<Skipped> skipped = check_knobs(s);
        Proxy proxy;
        char cfg_path[] = "/tmp/edgeshard-bench-XXXXXX";
        if (!tpl.empty()) {
            const int fd = mkstemp(cfg_path);
            if (fd < 0) throw std::runtime_error("mkstemp failed");
            if (::write(fd, cfg.data(), cfg.size()) != ssize_t(cfg.size())) throw std::runtime_error("write failed");
            ::close(fd);
            proxy.pid = fork();
            if (proxy.pid == 0) {
                const int devnull = open("/dev/null", O_WRONLY);
                if (devnull >= 0) dup2(devnull, 1);
                execlp(proxy_bin.c_str(), proxy_bin.c_str(), "-f", cfg_path, static_cast<char*>(nullptr));
                std::fprintf(stderr, "edgeshard-bench sweep: cannot run %s: %s\n", proxy_bin.c_str(), std::strerror(errno));
                _exit(127);
            }
            bool up = false;
            for (int t = 0; t < 200 && !up; ++t) {
                if (waitpid(proxy.pid, nullptr, WNOHANG) == proxy.pid) {
                    proxy.pid = -1;
                    unlink(cfg_path);
                    throw std::runtime_error("sweep point " + std::to_string(p + 1) + " (" + label +
                                             "): the proxy exited at start (its stderr says why)");
                }
                up = port_open(s);
                if (!up) usleep(50'000);
            }
            if (!up) {
                unlink(cfg_path);
                throw std::runtime_error("sweep point " + std::to_string(p + 1) + ": nothing listens on " + s.target +
                                         " 10 s after starting the proxy");
            }
        }
        if (!quiet) std::fprintf(stderr, "sweep point %zu/%zu: %s\n", p + 1, points, label.c_str());
        const std::string started = utc_now_rfc3339();
        const Result r = run_scenario(s);
        proxy.stop();
        if (!tpl.empty()) unlink(cfg_path);
        const std::string j = result_json(s, skipped, r, started, &sp);
        if (out != stdout) {
            std::fprintf(out, "%s\n", j.c_str());
            std::fflush(out);
        }
        if (json) {
            std::printf("%s\n", j.c_str());
            std::fflush(stdout);
        }
        if (!quiet) print_summary(json ? stderr : stdout, s, skipped, r);
    }
    if (out != stdout) std::fclose(out);
    return 0;
}

}  // namespace

int http_main(const std::vector<std::string>& args) { return client_main("http", args); }
int tcp_main(const std::vector<std::string>& args) { return client_main("tcp", args); }

int sweep_main(const std::vector<std::string>& args) {
    try {
        return sweep_main_impl(args);
    } catch (const UsageError& e) {
        if (*e.what()) std::fprintf(stderr, "edgeshard-bench sweep: %s\n", e.what());
        std::fprintf(stderr,
                     "usage: edgeshard-bench sweep --set KEY=V1,V2 [--set ...] [--proxy-config TEMPLATE]\n"
                     "         [--proxy-bin PATH] [--json] [--out FILE.jsonl] -- http|tcp [scenario options]\n"
                     "  Runs the scenario once per point of the grid (the product of the --set lists).\n"
                     "  KEY: a client setting (threads, connections, rate, pipeline, ring_entries, buffers,\n"
                     "  buffer_size, registered_buffers, batch, busy_poll_us, napi_busy_poll_us,\n"
                     "  send_zc_threshold, pin, ...) or proxy.NAME: {{NAME}} in the --proxy-config template\n"
                     "  is replaced and the proxy (--proxy-bin, default edgeshard, run as `-f FILE`) is\n"
                     "  started for the point and stopped after it.\n");
        return *e.what() ? 1 : 0;
    }
}

}  // namespace es::bench

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0) {
        std::fputs(es::bench::kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    const std::vector<std::string> args(argv + 2, argv + argc);
    const std::string cmd = argv[1];
    try {
        if (cmd == "http") return es::bench::http_main(args);
        if (cmd == "tcp") return es::bench::tcp_main(args);
        if (cmd == "sweep") return es::bench::sweep_main(args);
        if (cmd == "report") return es::bench::report_main(args);
        if (cmd == "origin") {
            try {
                return es::bench::origin_main(args);
            } catch (const es::bench::UsageError& e) {
                if (*e.what()) std::fprintf(stderr, "edgeshard-bench origin: %s\n", e.what());
                std::fputs(es::bench::kOriginUsage, stderr);
                return *e.what() ? 1 : 0;
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "edgeshard-bench %s: %s\n", cmd.c_str(), e.what());
        return 2;
    }
    std::fprintf(stderr, "edgeshard-bench: unknown command '%s'\n%s", cmd.c_str(), es::bench::kUsage);
    return 1;
}
