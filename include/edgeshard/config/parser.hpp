// The configuration parser: HAProxy-subset text in, a validated es::config::Config snapshot out.
// Boot-time code: it throws ConfigError on the first error; main turns that into a message and an exit code.
// What is supported, warned about or refused is listed in src/config/README.md.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"

namespace es::config {

// what() is "file:line: message" ("file: message" when no line applies, e.g. a file that cannot be read).
struct ConfigError : std::runtime_error {
    ConfigError(Location at, const std::string& message);
    Location where;
    std::string message;  // without the "file:line: " prefix
};

// What the command line changes in how a configuration is read.
struct LoadOptions {
    // -dr (HAProxy's): a server whose host name does not resolve starts in maintenance instead of
    // failing the load.
    bool ignore_resolve_failures = false;
    // -dD (HAProxy's diagnostic mode): the .diag directives speak
    bool diag = false;
};

// Parses the files in order (like haproxy -f a -f b: sections do not span files, defaults carry over),
// then validates the whole. Warnings land in Config::warnings. Throws ConfigError. Server host names
// are resolved here, at load, as HAProxy's `init-addr` says (libc: getaddrinfo).
Config load_files(const std::vector<std::string>& paths, const LoadOptions& opt = {});

// Same for text held in memory; name stands for the file in messages ("<embedded>:12: ...").
Config load_text(const std::string& text, const std::string& name = "<embedded>", const LoadOptions& opt = {});

// HAProxy time format: a decimal number and an optional unit us|ms|s|m|h|d (default ms).
// Microseconds round up to whole milliseconds (a non-zero value never becomes 0). Rejects signs,
// fractions, blanks, unknown units and anything above 2147483647 ms (HAProxy's timer limit, ~24.8 days).
std::optional<Millis> parse_time_ms(std::string_view s);

// Sizes: a decimal number of bytes with an optional k|m|g suffix (1024-based, either case).
std::optional<std::int64_t> parse_size(std::string_view s);

// Numeric socket addresses only (no DNS): "127.0.0.1:80", "[::1]:80", ":80" and "*:80" (IPv4 any),
// "0.0.0.0:80", and HAProxy's unbracketed IPv6 form where the port follows the last colon (":::80").
// The port is mandatory and must be 1..65535.
std::optional<SockAddr> parse_addr(std::string_view s);
// An IPv4 or IPv6 address alone ("10.0.0.1", "::1"), port 0; nullopt for anything else.
std::optional<SockAddr> parse_ip(const std::string& text);

// The configuration used when edgeshard starts without -f: a demo frontend on 127.0.0.1:8080 forwarding
// to the built-in demo origin on 127.0.0.1:8081, and the control socket on /tmp/edgeshard.sock.
extern const char* const kEmbeddedDefault;

}  // namespace es::config
