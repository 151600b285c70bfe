// The HTTP keywords of proxy sections, the userlist and http-errors sections and what is resolved once every
// file is read, as the rest of the room calls them: the keyword table and the end of a proxy section
// (proxy.cpp), the global section and the section switch (parser.cpp), the final pass (validate.cpp).
// Private to the config room. Shared helpers of the files that implement it are in http_internal.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "internal.hpp"

namespace es::config::detail {

// ---- ACLs and conditions (acl.cpp) ------------------------------------------------------------------------

// "if|unless ..." starting at words[idx]; anonymous ACLs are added to the proxy. Throws ConfigError.
Condition parse_condition(ParseState& st, ProxyDraft& px, const Line& line, std::size_t idx);
// Index of the first "if"/"unless" at or after `from`, or words.size().
std::size_t condition_start(const Line& line, std::size_t from);
void kw_acl(ParseState& st, ProxyDraft& px, const Line& line);

// ---- rules (http_rules.cpp) ---------------------------------------------------------------------------

void kw_http_request(ParseState& st, ProxyDraft& px, const Line& line);
void kw_http_response(ParseState& st, ProxyDraft& px, const Line& line);
void kw_http_after_response(ParseState& st, ProxyDraft& px, const Line& line);
void kw_unique_id_format(ParseState& st, ProxyDraft& px, const Line& line);
void kw_unique_id_header(ParseState& st, ProxyDraft& px, const Line& line);
void kw_redirect(ParseState& st, ProxyDraft& px, const Line& line);
// `stats http-request allow|deny|auth ...` (words from 2): the rule, its condition's ACLs added to px
HttpRule parse_stats_rule(ParseState& st, ProxyDraft& px, const Line& line);

// ---- stick tables (stick.cpp) --------------------------------------------------------------------------

void kw_stick_table(ParseState& st, ProxyDraft& px, const Line& line);
void kw_stick(ParseState& st, ProxyDraft& px, const Line& line);
int stick_max_key_len();
// a stick-table key (`track-sc0 <key>`, `stick on <key>`)
SampleExpr parse_sample_key(const Line& line, const std::string& text, const std::string& kw, bool response = false);
// track-sc<N> <key> [table <t>] at words[i] (before `end`, where a condition starts): the index after it
std::size_t parse_track(const Line& line, std::size_t i, std::size_t end, const std::string& kw, TrackSpec& t);
// sc-inc-gpc0(<N>) / sc-inc-gpc1(<N>) / sc-set-gpt0(<N>) <value> at words[i]: the index after it
std::size_t parse_sc_action(const Line& line, std::size_t i, std::size_t end, const std::string& kw, TrackSpec& t,
                            int& which, int& value, bool& is_set, bool response = false);
// sc_* / sc<N>_* / src_* fetches of an ACL: false when `fname` is not one
bool parse_stick_fetch(const Line& line, const std::string& what, const std::string& fname, const std::string& arg,
                       Acl& acl);
// table names of rules and fetches, once every section is read
void resolve_stick(ParseState& st);

// ---- variables (vars.cpp) -------------------------------------------------------------------------------

// "<scope>.<name>": empty when valid (`sess` set for the connection's scope), else why not
std::string var_name_problem(std::string_view n, bool& sess);
// set-var(<var>) <expr> | unset-var(<var>) at words[i] (before `end`): the index after it
std::size_t parse_var_action(ParseState& st, const Line& line, std::size_t i, std::size_t end, const std::string& kw,
                             VarSet& v, bool& unset, bool response);

// ---- captures (capture.cpp) ------------------------------------------------------------------------------

void kw_capture(ParseState& st, ProxyDraft& px, const Line& line);
void kw_declare(ParseState& st, ProxyDraft& px, const Line& line);
// http-request|http-response capture <sample> len <n> | id <n> (words from 2, before `end`): the
// index after it; `len` adds a request slot to the frontend
std::size_t parse_capture_action(ParseState& st, ProxyDraft& px, const Line& line, std::size_t end, bool response,
                                 HttpRule& r);
// end of a section: a frontend's `capture ... id <n>` rules name slots it has; HAProxy's warnings
void check_captures(ParseState& st, const ProxyDraft& px);

// ---- error replies (replies.cpp) ------------------------------------------------------------------------

void kw_errorfile(ParseState& st, ProxyDraft& px, const Line& line);
void kw_errorfiles(ParseState& st, ProxyDraft& px, const Line& line);
void kw_errorloc(ParseState& st, ProxyDraft& px, const Line& line);
void kw_http_error(ParseState& st, ProxyDraft& px, const Line& line);
void parse_http_errors_line(ParseState& st, const Line& line);

// ---- logs (logs.cpp) ------------------------------------------------------------------------------------

void parse_global_log(ParseState& st, const Line& line);
void kw_log(ParseState& st, ProxyDraft& px, const Line& line);
void kw_no_log(ParseState& st, ProxyDraft& px, const Line& line);
void kw_log_format(ParseState& st, ProxyDraft& px, const Line& line);
void kw_log_tag(ParseState& st, ProxyDraft& px, const Line& line);
// A syslog header field (tag, host name): printable, no blanks. Fails naming kw.
void check_syslog_word(const Line& line, std::string_view kw, const std::string& value);
// option httplog/httpslog/tcplog/dontlognull; false when `name` is not one of them.
bool log_option(ParseState& st, ProxyDraft& px, const Line& line, const std::string& name, bool negated);

// ---- health checks (check.cpp) ---------------------------------------------------------------------------

// option httpchk / tcp-check / redis-check / smtpchk / allbackups / log-health-checks; false when `name` is not one of them.
bool check_option(ParseState& st, ProxyDraft& px, const Line& line, const std::string& name, bool negated);
void kw_http_check(ParseState& st, ProxyDraft& px, const Line& line);
void kw_tcp_check(ParseState& st, ProxyDraft& px, const Line& line);

// ---- userlist section (userlist.cpp) --------------------------------------------------------------------

void parse_userlist_line(ParseState& st, const Line& line);
void finish_userlist(ParseState& st);

// ---- options, stats page, end of a section and of the configuration (http.cpp) --------------------------

// option forwardfor/httpclose/http-server-close/http-keep-alive; false when `name` is not one of them.
bool http_option(ParseState& st, ProxyDraft& px, const Line& line, const std::string& name, bool negated);
void kw_stats(ParseState& st, ProxyDraft& px, const Line& line);
void kw_monitor_uri(ParseState& st, ProxyDraft& px, const Line& line);
void kw_monitor(ParseState& st, ProxyDraft& px, const Line& line);
void finish_proxy_http(ParseState& st, ProxyDraft& px);  // end of a proxy section
void resolve_http(ParseState& st);                       // after every file, before the drafts become proxies

}  // namespace es::config::detail
