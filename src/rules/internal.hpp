// What the files of the rules room share (not an interface of the room: rules.hpp is).
#pragma once

#include <string_view>
#include <vector>

#include "edgeshard/rules/rules.hpp"

namespace es::rules::detail {

// Expands a log-format value (rules.cpp): plain text as is, anything with '%' built in the arena.
// False when the arena is full.
bool expand(const Txn& t, std::string_view fmt, std::string_view& out);
// A header value or request line part must stay one line whatever a sample brought in.
bool single_line(std::string_view v);
// set-header / add-header / del-header on `msg` (rules.cpp).
bool header_action(const config::HttpRule& r, http::MessageHead* msg, Txn& t);
// replace-header / replace-value (on the request, or the response with `response`), the request line's
// rewrites, set-status, strict-mode (rewrite.cpp). False: the rewrite failed (no room).
bool rewrite_action(const config::HttpRule& r, Txn& t, bool response);
// HAProxy's exp_replace: `fmt` with \0..\9 (the match, its groups), \xHH and \<c> (rewrite.cpp).
// False on a lone '\' at the end or a bad \x.
bool put_replacement(ArenaWriter& w, std::string_view fmt, const std::vector<std::string_view>& groups);

// A sample expression's value written by `w` (rules.cpp): false for one not evaluated; `present`: a sample.
bool sample_value(const Txn& t, std::string_view expr, ArenaWriter& w, bool& present);
// Control characters (but TAB) and DEL written since `mark` become %XX (HAProxy's http encoding).
void escape_controls(ArenaWriter& w, std::size_t mark);
// A version 4 UUID in lower-case text, written by `w` (unique_id.cpp).
std::string_view uuid4(ArenaWriter& w);

// One converter other than `map*` applied to the value written since `mark` (converters.cpp). False:
// not one of them. `present` false: no sample (then left so).
bool convert(const Txn& t, std::string_view conv, ArenaWriter& w, std::size_t mark, bool& present);

}  // namespace es::rules::detail
