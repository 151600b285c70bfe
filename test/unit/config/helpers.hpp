// Shared helpers for the config room's tests.
#pragma once

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "edgeshard/config/parser.hpp"

namespace es::config::test {

// A complete, warning-free tail: tests put the lines under test in front of it, so that their line
// numbers are easy to predict (the tail starts right after them).
inline const std::string kTail =
    "defaults\n"
    "    mode tcp\n"
    "    timeout connect 1s\n"
    "    timeout client 1s\n"
    "    timeout server 1s\n"
    "frontend tail_fe\n"
    "    bind 127.0.0.1:10001\n"
    "    default_backend tail_be\n"
    "backend tail_be\n"
    "    server s1 127.0.0.1:10002\n";

// Loads text named "t.cfg", the name every expectation of these tests uses.
inline Config load(const std::string& text) {
    return load_text(text, "t.cfg");
}

// The message of the ConfigError that loading text throws, or "<no error>".
inline std::string error_of(const std::string& text, const std::string& name = "t.cfg") {
    try {
        (void)load_text(text, name);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "<no error>";
}

// Checks that text fails at t.cfg:<line> with a message holding every fragment.
inline void expect_error(const std::string& text, int line,
                         std::initializer_list<std::string_view> fragments) {
    const auto msg = error_of(text);
    INFO("config:\n" << text << "\nerror: " << msg);
    const std::string prefix = "t.cfg:" + std::to_string(line) + ": ";
    CHECK(msg.rfind(prefix, 0) == 0);
    for (auto f : fragments) {
        INFO("missing fragment: " << f);
        CHECK(msg.find(f) != std::string::npos);
    }
}

// True when some warning holds every fragment.
inline bool has_warning(const Config& cfg, std::initializer_list<std::string_view> fragments) {
    for (const auto& w : cfg.warnings) {
        bool all = true;
        for (auto f : fragments) all = all && w.find(f) != std::string::npos;
        if (all) return true;
    }
    return false;
}

}  // namespace es::config::test
