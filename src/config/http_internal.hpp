// Shared by the files that implement the HTTP keywords (acl.cpp, http_rules.cpp, values.cpp, replies.cpp,
// logs.cpp, userlist.cpp, http.cpp). Private to the config room; the rest of the room sees
// http_keywords.hpp only.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "internal.hpp"

namespace es::config::detail {

// ---- maps.cpp -------------------------------------------------------------------------------------------

// The configuration whose `maps` the converters met while it is read add to (null after the load).
void set_map_registry(Config* cfg);
// The configuration that regsub converters register their compiled regex in (converters.cpp).
void set_converter_registry(Config* cfg, ParseState* st);
// nbsrv(<backend>) / srv_is_up([<backend>/]<server>) found in the proxies' lines: the names exist (HAProxy's messages).
void resolve_fetch_refs(ParseState& st);
// Converters other than map*: the problem with one (its text "name[(args)]", `after` the expression's
// text that follows it, `fetch` the expression's fetch), empty when it is evaluated; a regsub's regex is compiled and registered.
std::string converter_problem(std::string_view conv, std::string_view after, std::string_view fetch);
// The typed fetches (int, str, bool, bin, req.hdr_cnt, req.hdr_ip, base, base32, base32+src, url_param,
// req.body_size): nullopt when `expr` (without converters) is none of them, else what is wrong ("": nothing).
std::optional<std::string> typed_fetch_problem(std::string_view expr);
// A map file a converter names, read on first use, with the index of `match` (and its values checked
// as integers with `int_out`): its index in Config::maps, or HAProxy's words for what is wrong.
std::string use_map(const std::string& written, MapMatch match, bool int_out, std::size_t& index);

// ---- acl.cpp --------------------------------------------------------------------------------------------

// "10.0.0.0/8", "10.0.0.0/255.0.0.0" (becomes /8), "127.0.0.1", "::1/128". nullopt when invalid.
std::optional<std::string> normalize_network(std::string_view p);
// End of a proxy section: a term lists every ACL of its name (same-name ACLs are OR-ed, a later line
// counts), and no http-response condition reads the request.
void resolve_acl_terms(ProxyDraft& px);
// Every ACL of the condition's names (several lines may declare one name: OR-ed); `lent`: how many of
// `acls` a named defaults section lent the proxy (they serve that section's rules only)
void fix_terms(const std::vector<Acl>& acls, Condition& c, std::size_t lent);
// The ACL reads the client's bytes (req.ssl_sni, req.len, req.payload...): mode tcp content inspection.
bool acl_reads_payload(const Acl& a);
// End of a proxy section, after resolve_acl_terms: tcp-request rules and L4 fetches against the mode;
// sets Frontend::tcp_inspect and tcp_route_cond.
void check_tcp_rules(ParseState& st, ProxyDraft& px);

// ---- values.cpp -----------------------------------------------------------------------------------------

// Where a log-format value is used: what the request path can evaluate there (src/rules/rules.cpp expand()).
enum class FmtUse {
    Request,   // http-request set-header/add-header, set-path, redirect: request and client known
    Response,  // http-response set-header/add-header: response headers and client known
    After,     // http-after-response: the same, on every response (the proxy's own too)
    Log,       // an access log-format's %[...]: evaluated at log time (no request or response head then)
    Reply,     // 'hdr' of return/deny/http-error: built once at start, only literal text
};
// Fails unless every '%' construct of `value` is evaluated where `use` says; what names the rule.
void check_log_format(const Line& line, const std::string& value, FmtUse use, const std::string& what);
// unique-id-format's value: text, %%, %{flags}[o], %ci %cp %fi %fp %Ts %rt %pid, %[sample] (fails with
// HAProxy's "failed to parse unique-id : ..." words).
void check_unique_id_format(const Line& line, const std::string& fmt);
// An access log-format's sample expressions %[...]: what the proxy evaluates at log time (variables, the
// connection's addresses and TLS facts, the unique id, bare method / status / capture.req.*), HAProxy's
// refusal of request and response header fetches there.
void check_log_samples(const Line& line, const std::string& fmt);
// Why a sample expression (a fetch and its converters) cannot be evaluated where `use` says; empty if it can.
// `action_arg`: the expression is an action's argument (sc-set-gpt, a track key), HAProxy words it so.
std::string sample_expr_problem(std::string_view expr, FmtUse use, bool action_arg = false);
// An ACL's expression is being checked (its converters' messages name the ACL keyword; converters.cpp).
extern thread_local bool g_conv_in_acl;
extern thread_local ParseState* g_conv_st;  // the configuration being read (deferred references)

// ---- replies.cpp ----------------------------------------------------------------------------------------

enum class ReplyKind { Deny, Return, HttpError };

struct ParsedReply {
    int status = 0;
    bool has_reply = false;
    Reply reply;
    bool lf = false;  // built per request: lf_body (with lf_has_body) and lf_hdrs are log-format strings
    bool lf_has_body = false;
    std::string lf_body;
    std::vector<std::pair<std::string, std::string>> lf_hdrs;
    std::string content_type;
    std::string section;  // errorfiles <name>: resolved at the end
};

// words [start, end) of deny / return / http-error: status, content type, payload, hdr lines.
ParsedReply parse_reply(ParseState& st, const Line& line, std::size_t start, std::size_t end, ReplyKind kind,
                        int default_status, std::string_view kw);
// After every file: the proxy's error replies (its directives in order, http-errors sections resolved)
// and the replies its rules take from http-errors sections.
void resolve_error_replies(ParseState& st, ProxyDraft& px);

// ---- logs.cpp -------------------------------------------------------------------------------------------

// A tcp frontend with 'option httplog' logs with tcplog, with HAProxy's warning.
void httplog_to_tcplog(ParseState& st, ProxyDraft& px);

// ---- userlist.cpp ---------------------------------------------------------------------------------------

// After every file: each userlist named by http_auth() exists.
void check_userlist_refs(const ParseState& st);

}  // namespace es::config::detail
