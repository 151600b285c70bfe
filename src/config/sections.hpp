// What the driver (parser.cpp) calls to read proxy sections (proxy.cpp) and to finish the configuration
// once every file is read (validate.cpp). Private to the config room.
#pragma once

#include "internal.hpp"

namespace es::config::detail {

// proxy.cpp
ProxyDraft builtin_defaults();
void parse_proxy_line(ParseState& st, ProxyDraft& px, const Line& line);
void finish_proxy(ParseState& st, ProxyDraft& px);  // checks that need the whole section

// resolvers.cpp
void start_resolvers(ParseState& st, const Line& line);
void parse_resolvers_line(ParseState& st, const Line& line);
void finish_resolvers(ParseState& st);
void resolve_resolvers_refs(ParseState& st);  // server ... resolvers NAME (finalize() calls it)

// validate.cpp
void finalize(ParseState& st);  // cross-references, ids, whole-configuration checks
// crt-base and the global ssl-default-bind-* settings applied to the TLS binds, whose certificates
// are then loaded and checked (errors at the bind's line). finalize() calls it.
void finalize_tls(ParseState& st);
// crt-base, ssl-default-bind-ciphers / -ciphersuites / -curves / -options; false for another keyword.
bool parse_global_tls(ParseState& st, const Line& line);

}  // namespace es::config::detail
