// balance and hash-type (balance.cpp), as proxy.cpp calls them. Private to the config room.
#pragma once

#include "internal.hpp"

namespace es::config::detail {

void kw_balance(ParseState& st, ProxyDraft& px, const Line& line);
void kw_hash_type(ParseState& st, ProxyDraft& px, const Line& line);
// cookie NAME [insert|rewrite|prefix] [options]: persistence by a cookie (HAProxy's words)
void kw_cookie(ParseState& st, ProxyDraft& px, const Line& line);
// End of a backend side, after its HTTP part: a layer 7 hash in mode tcp falls back to roundrobin.
void finish_balance(ParseState& st, ProxyDraft& px);
// Last check of a backend side: what a balancer cannot take (hdr argument, too many servers to hash).
void check_balance(const ProxyDraft& px);

}  // namespace es::config::detail
