// What a check's bytes mean, without any I/O (private to the check room): the HTTP request a check
// sends, the verdict on an HTTP response or on one tcp-check expect rule, HAProxy's texts for
// statuses and steps, and the compiled regexes. checker.cpp moves the bytes; this file judges them.
#pragma once

#include <regex.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edgeshard/check/checker.hpp"
#include "edgeshard/config/config.hpp"

namespace es::check::detail {

// A POSIX extended regex (null for a rule without one). The configuration compiled each pattern
// once already, so a failure here cannot happen; it would yield a pattern that never matches.
using Regex = std::unique_ptr<regex_t, void (*)(regex_t*)>;
Regex compile(const std::string& pattern);
Regex no_regex();

// A verdict: `wait` for more bytes, or a status with its code and detail (`last_chk`).
struct Verdict {
    bool wait = false;
    Status status = Status::Unknown;
    int code = 0;
    std::string info;
};

// `option httpchk` / `http-check send`: the request line, the headers, Connection: close unless a
// Connection header is configured, the body with its Content-Length.
std::string http_request(const config::BackendCheck& k);

// The response `in` (up to `last`: no more bytes will come) against the backend's expect rules;
// `regexes` is parallel to k.expects; `up`: the server is UP (disable-on-404 applies then).
Verdict eval_http(const config::BackendCheck& k, const std::vector<Regex>& regexes, const std::string& in, bool last,
                  bool up);

// One tcp-check expect rule (`step` from 0) against `in`. A pass has status L7Ok, the code (a
// reply's digits with status_from_reply) and the on-success text; a failure the rule's error
// status and HAProxy's text (`user`: a user ruleset, whose texts name the step and the pattern).
Verdict eval_expect(const config::TcpCheckStep& r, const regex_t* re, const std::string& in, bool last,
                    std::size_t step, bool user);

// A protocol check's own rule (TcpCheckStep::custom: a MySQL packet, an LDAP bindResponse).
Verdict eval_custom(const config::TcpCheckStep& r, const std::string& in, bool last);

// HAProxy's " at step N of tcp-check (...)" for a connection error or a timeout of a user ruleset:
// `connecting` while the connection (or its handshake) is not made, else at rule `step`.
std::string where(const std::vector<config::TcpCheckStep>& rules, bool connecting, std::size_t step);

// An agent's answer (agent-check), from its first line: `wait` for the end of the line;
// `incomplete` when the connection ended before it. Words are separated by spaces, tabs or commas;
// the last of a kind wins; a "#" starts the description of a health word.
struct AgentAnswer {
    bool wait = false;
    bool incomplete = false;
    std::string health;   // "up", "down", "stopped", "fail" (lower case); empty: none
    std::optional<Hooks::Admin> admin;
    std::string weight;   // "75%" (HAProxy 2.6 has no "weight:" word: it is an error there)
    std::string maxconn;  // the text after "maxconn:"
    std::string error;    // the first word not understood
    std::string desc;     // after '#'
};
AgentAnswer parse_agent(const std::string& in, bool last);

// OpenSSL's last error as text (and the error queue cleared).
std::string ssl_error_text();

// HAProxy's chunk_asciiencode for the "info" of a log line: quotes and control bytes as #HH.
std::string log_quote(const std::string& s);

}  // namespace es::check::detail
