// What the files of the rules room share (not an interface of the room: rules.hpp is).
#pragma once

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

}  // namespace es::rules::detail
