// Regular expressions as HAProxy matches them (`-m reg`, `path_reg`, `hdr_reg()`...): PCRE2, as
// HAProxy is built on Debian, JIT-compiled once when the configuration loads, then shared read-only
// by every shard (the compiled pattern is immutable; each thread matches with its own match data).
// A match is a search anywhere in the subject, as HAProxy's regex_exec(): anchor with ^ and $.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace es::core {

class Regex {
public:
    Regex() = default;
    // Compiles `pattern` (caseless with `icase`). Empty: done; else PCRE2's message and the offset.
    std::string compile(std::string_view pattern, bool icase);
    // True when the pattern matches somewhere in `subject`.
    bool search(std::string_view subject) const;
    // The same, with the whole match and up to 9 groups in `groups` (an unset group: empty). `notbol`: the
    // subject does not start a line (^ does not match at its start: regsub's later rounds).
    bool match(std::string_view subject, std::vector<std::string_view>& groups, bool notbol = false) const;
    bool valid() const { return code_ != nullptr; }

private:
    std::shared_ptr<void> code_;  // pcre2_code (8-bit), freed with the last copy
    bool jit_ = false;            // JIT-compiled: matched with pcre2_jit_match
};

}  // namespace es::core
