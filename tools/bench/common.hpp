// What every edgeshard-bench command shares: the settings, the command-line reader, the result
// of a run and its JSON (result.schema.json), host facts, and the thread-per-core runner.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hdr.hpp"

namespace es::bench {

inline constexpr const char* kSchema = "edgeshard-bench/1";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::int64_t mono_ns();

// Settings of the client side (and of the origin's own runtime). Every field is reported in the
// result's "settings", defaults included.
struct Settings {
    std::string scenario;  // "http" | "tcp"
    std::string target = "127.0.0.1:8080";
    sockaddr_storage addr{};
    socklen_t addrlen = 0;
    unsigned threads = 1;
    unsigned connections = 10;
    double duration_s = 10;
    double warmup_s = 0;
    unsigned timeout_ms = 10000;
    // io_uring and socket knobs
    unsigned ring_entries = 1024;
    unsigned buffers = 1024;      // provided receive buffers per thread (power of two)
    unsigned buffer_size = 16384;
    bool registered_buffers = false;  // requests and payload sent from a registered buffer
    unsigned batch = 256;             // completions reaped per loop turn
    unsigned busy_poll_us = 0;        // SO_BUSY_POLL on every socket
    unsigned napi_busy_poll_us = 0;   // io_uring NAPI busy poll (IORING_REGISTER_NAPI)
    unsigned send_zc_threshold = 0;   // sends of at least this many bytes use SEND_ZC; 0 = never
    std::string pin = "none";         // none | auto | CPU list "0,1" / "0-3"
    std::vector<int> cpus;            // resolved from pin
    // http
    std::string mode = "closed";  // closed | open
    double rate = 0;              // open loop: requests/s over all connections
    unsigned pipeline = 1;
    bool keepalive = true;
    int proxy_header = 0;         // 1, 2: a PROXY protocol v1/v2 header opens every connection
    std::string method = "GET";
    std::string path = "/";
    std::string host;
    std::vector<std::string> headers;
    std::uint64_t body_size = 0;
    // https (tls_client.hpp)
    bool tls = false;              // an https:// target
    std::string sni;               // server name sent; empty: none
    bool sni_given = false;        // --sni was given (else: the URL's host unless it is an address)
    std::string tls_version = "any";  // any | 1.2 | 1.3
    std::string ciphers, ciphersuites;  // OpenSSL lists for TLS 1.2 and 1.3; empty: OpenSSL's
    std::string alpn = "http/1.1";      // comma-separated; empty: no ALPN
    bool tls_resume = true;        // offer the thread's last session on a new connection
    // tcp
    std::string direction = "up";  // up | down | both
    unsigned chunk_size = 65536;
    // output
    std::string label;
    bool json = false;
    bool quiet = false;
    std::string command;
    std::map<std::string, std::string> proxy_settings;  // sweep: settings applied to the system under test
};

// Reads `--name value` / `-x value` options for http and tcp into s. Throws UsageError.
void parse_client_args(const std::vector<std::string>& args, Settings& s);
void resolve(Settings& s);  // target address, CPUs; throws UsageError
// One sweep variable (a settings key) applied to s; false if the key is unknown.
bool apply_setting(Settings& s, const std::string& key, const std::string& value);
std::string client_usage();

struct Skipped {
    std::string setting, reason;
};
// Settings that cannot apply here (loopback has no NAPI, SO_BUSY_POLL above the sysctl needs
// CAP_NET_ADMIN, ...): recorded and turned off so the run goes on without them.
std::vector<Skipped> check_knobs(Settings& s);

struct Second {
    std::uint64_t completed = 0, bytes = 0;
    CoarseHistogram lat;
};

struct Errors {
    std::uint64_t connect = 0, read = 0, write = 0, timeout = 0, parse = 0;
    std::uint64_t tls = 0;  // https: a connection that failed before its handshake completed, or a bad record
};

// What the TLS handshakes of an https run came to (merged over threads).
struct TlsStats {
    std::string version, cipher, alpn;  // of the first handshake that completed
    std::string error;                  // the first failure's reason, for the summary
    std::uint64_t handshakes = 0, full = 0, resumed = 0;
    Histogram handshake_ns;  // from the TCP connect's completion to the handshake's
    void merge(const TlsStats& o);
};

struct Flow {
    std::uint64_t sent = 0, received = 0;
};

struct Result {
    double elapsed_s = 0;
    std::uint64_t requests = 0, responses = 0;
    std::uint64_t bytes_sent = 0, bytes_received = 0;
    std::uint64_t status[6] = {};  // [1..5] = 1xx..5xx, [0] = other
    Errors errors;
    Histogram lat;
    std::vector<Second> timeline;
    std::vector<Flow> flows;
    std::optional<TlsStats> tls;  // https runs only
    void merge(const Result& o);
};

// The threads' results as one: counts and histograms added, elapsed = the longest.
Result merge_parts(std::vector<Result>& parts);

struct SweepPoint {
    unsigned point = 0, points = 0;
    std::vector<std::pair<std::string, std::string>> vars;
};

std::string utc_now_rfc3339();
// one result object (result.schema.json), compact, without a trailing newline
std::string result_json(const Settings& s, const std::vector<Skipped>& skipped, const Result& r,
                        const std::string& started_at, const SweepPoint* sweep);
void print_summary(std::FILE* to, const Settings& s, const std::vector<Skipped>& skipped, const Result& r);

// Runs fn(thread_index, cpu) on s.threads threads, each pinned to its CPU when s.cpus is set,
// and joins them. A thread's exception is rethrown in the caller after all have joined.
void run_threads(const Settings& s, const std::function<void(unsigned, int)>& fn);

// Live progress on stderr while a run lasts (when stderr is a terminal and not --quiet).
struct Progress {
    std::atomic<std::uint64_t> completed{0}, bytes{0}, errors{0};
};

int http_main(const std::vector<std::string>& args);
int tcp_main(const std::vector<std::string>& args);
int origin_main(const std::vector<std::string>& args);
int sweep_main(const std::vector<std::string>& args);

// Runs one http or tcp scenario as configured; prints nothing. stop, when set, ends it early.
Result run_http(const Settings& s, Progress* progress);
Result run_tcp(const Settings& s, Progress* progress);

}  // namespace es::bench
