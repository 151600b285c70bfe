// Health-check words of a proxy section: `option httpchk`, `http-check send|expect|disable-on-404|
// connect|comment`, `option allbackups`, `option log-health-checks` (HAProxy 2.6 semantics; the
// checks themselves run on the control shard, src/check/). The server words (check, inter, rise,
// fall, port, addr, backup) are in server.cpp.
#include <regex.h>

#include <algorithm>
#include <cctype>

#include "http_keywords.hpp"
#include "internal.hpp"
#include "proxy_lines.hpp"
#include "sections.hpp"

namespace es::config::detail {

namespace {

// "200", "200-399", "200,301-302": HAProxy's status list.
std::vector<std::pair<int, int>> parse_statuses(const Line& line, const std::string& text) {
    std::vector<std::pair<int, int>> out;
    std::size_t pos = 0;
    auto num = [&](std::string_view s) {
        int v = 0;
        if (s.empty() || s.size() > 3) return -1;
        for (char c : s) {
            if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
            v = v * 10 + (c - '0');
        }
        return v;
    };
    while (pos <= text.size()) {
        std::size_t comma = text.find(',', pos);
        if (comma == std::string::npos) comma = text.size();
        const std::string_view item(text.data() + pos, comma - pos);
        const std::size_t dash = item.find('-');
        const int lo = num(item.substr(0, dash));
        const int hi = dash == std::string_view::npos ? lo : num(item.substr(dash + 1));
        if (lo < 100 || hi > 999 || hi < lo)
            fail(line.at, "'http-check expect status' expects status codes or ranges (e.g. 200,301-302), got " +
                              squote(text));
        out.emplace_back(lo, hi);
        pos = comma + 1;
    }
    return out;
}

void check_regex(const Line& line, const std::string& re, std::string_view kw) {
    regex_t r;
    const int rc = regcomp(&r, re.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &r, msg, sizeof msg);
        fail(line.at, squote(std::string(kw)) + ": invalid regular expression " + squote(re) + ": " + msg +
                          " (POSIX extended syntax)");
    }
    regfree(&r);
}

void require_backend(ParseState& st, ProxyDraft& px, const Line& line, const std::string& kw, bool& skip) {
    skip = false;
    if (!has_be(px)) {
        st.warn(line.at, squote(kw) + " ignored: " + squote(px.kind) + " section has no backend side");
        skip = true;
    }
}

// `[!] <match>` of an expect line, from words[i]: sets `negate`, returns the match word (i on it).
const std::string& negation_and_match(const Line& line, std::size_t& i, bool& negate, const std::string& kw,
                                      std::string_view what) {
    if (i < line.words.size() && line.words[i] == "!") {
        negate = true;
        ++i;
    }
    return arg_or_fail(line, i, kw, what);
}

// <version> of `option httpchk` may carry headers after "\r\n" (HAProxy's old way to send a Host).
void split_version(const Line& line, const std::string& v, BackendCheck& c) {
    std::size_t end = v.find("\r\n");
    c.version = v.substr(0, end);
    c.headers.clear();
    while (end != std::string::npos) {
        const std::size_t start = end + 2;
        end = v.find("\r\n", start);
        const std::string h = v.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (h.empty()) continue;
        const std::size_t colon = h.find(':');
        if (colon == std::string::npos || colon == 0)
            fail(line.at, "'option httpchk': the header " + squote(h) + " after the version has no name");
        std::string value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        c.headers.emplace_back(h.substr(0, colon), value);
    }
}

// "0a1B..." -> bytes; false on an odd length or a non-hex digit
bool hex_decode(const std::string& h, std::string& out) {
    if (h.size() % 2) return false;
    auto v = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    out.clear();
    for (std::size_t i = 0; i < h.size(); i += 2) {
        const int a = v(h[i]), b = v(h[i + 1]);
        if (a < 0 || b < 0) return false;
        out.push_back(char(a * 16 + b));
    }
    return true;
}

// error-status names (HAProxy's), as the checker's Status values (check/checker.hpp order)
int status_code_of(const std::string& w) {
    static const std::pair<const char*, int> kNames[] = {{"L4CON", 5},  {"L6RSP", 8},  {"L7RSP", 10}, {"L7STS", 13},
                                                         {"L4TOUT", 4}, {"L6TOUT", 7}, {"L7TOUT", 9}, {"L4OK", 3},
                                                         {"L6OK", 6},   {"L7OK", 11},  {"L7OKC", 12}};
    for (const auto& [n, v] : kNames)
        if (w == n) return v;
    return -1;
}

TcpCheckStep expect_step(TcpCheckStep::Match m, std::string pattern) {
    TcpCheckStep e;
    e.kind = TcpCheckStep::Kind::Expect;
    e.match = m;
    e.pattern = std::move(pattern);
    return e;
}

TcpCheckStep send_step(std::string data) {
    TcpCheckStep e;
    e.kind = TcpCheckStep::Kind::Send;
    e.data = std::move(data);
    return e;
}

// HAProxy's built-in rulesets (its tcpcheck.c builds the same rules)
std::vector<TcpCheckStep> redis_ruleset() {
    std::vector<TcpCheckStep> v;
    v.push_back(send_step("*1\r\n$4\r\nPING\r\n"));
    TcpCheckStep e = expect_step(TcpCheckStep::Match::String, "+PONG\r\n");
    e.error_status = 13;  // L7STS
    e.on_success = "Redis server is ok";
    e.info_first_line = true;
    v.push_back(std::move(e));
    return v;
}

// smtpchk's expects: a reply code pattern on the first line; L7STS with the reply's code and text
// when `reply_status` (the 2xx checks), L7RSP for a malformed banner
TcpCheckStep smtp_expect(const char* pattern, int min_recv, bool reply_status) {
    TcpCheckStep e = expect_step(TcpCheckStep::Match::RString, pattern);
    e.min_recv = min_recv;
    e.info_first_line = true;
    e.status_from_reply = reply_status;
    if (reply_status) e.error_status = 13;  // L7STS
    return e;
}

std::vector<TcpCheckStep> smtp_ruleset(const std::string& cmd) {
    TcpCheckStep c;
    c.kind = TcpCheckStep::Kind::Connect;
    return {c,
            smtp_expect("^[0-9]{3}[ \r]", 4, false),
            smtp_expect("^2[0-9]{2}[ \r]", 4, true),
            send_step(cmd + "\r\n"),
            smtp_expect("^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]", -1, true),
            send_step("QUIT\r\n"),
            smtp_expect("^2[0-9]{2}[- \r]", 4, true)};
}

// option ldap-check: an LDAPv3 anonymous bind, answered by a bindResponse with resultCode 0
std::vector<TcpCheckStep> ldap_ruleset() {
    std::string bind;
    hex_decode("300C020101600702010304008000", bind);
    TcpCheckStep e = expect_step(TcpCheckStep::Match::RBinary, "^30");
    e.min_recv = 14;
    e.on_error = "Not LDAPv3 protocol";
    TcpCheckStep r = expect_step(TcpCheckStep::Match::String, {});
    r.custom = TcpCheckStep::Custom::LdapBind;
    return {send_step(std::move(bind)), std::move(e), std::move(r)};
}

// option mysql-check [user <name> [post-41|pre-41|post-80]]: without a user, the server's handshake
// packet alone; with one, a login packet (no password) and COM_QUIT sent at once, then the handshake
// and the server's answer to the login
std::vector<TcpCheckStep> mysql_ruleset(const std::string& user, const std::string& proto) {
    TcpCheckStep c;
    c.kind = TcpCheckStep::Kind::Connect;
    std::vector<TcpCheckStep> v{c};
    if (!user.empty()) {
        std::string body;
        auto put = [&](const char* hex) {
            std::string b;
            hex_decode(hex, b);
            body += b;
        };
        if (proto == "pre-41") {
            put("0080" "000001");  // capabilities (SECURE_CONNECTION), max packet
            body += user + '\0';
            put("00");
        } else {
            put(proto == "post-80" ? "00820800" : "00820000");  // PROTOCOL_41, SECURE_CONNECTION[, PLUGIN_AUTH]
            put("00800001" "21");                                 // max packet, utf8
            body.append(23, '\0');
            body += user + '\0';
            put("00");  // no auth response
            if (proto == "post-80") body += std::string("mysql_native_password") + '\0';
        }
        const std::size_t n = body.size();
        std::string pkt{char(n & 0xff), char((n >> 8) & 0xff), char((n >> 16) & 0xff), char(1)};
        pkt += body;
        pkt += std::string("\x01\x00\x00\x00\x01", 5);  // COM_QUIT, sequence 0
        v.push_back(send_step(std::move(pkt)));
    }
    TcpCheckStep hello = expect_step(TcpCheckStep::Match::String, {});
    hello.custom = TcpCheckStep::Custom::MysqlHello;
    v.push_back(std::move(hello));
    if (!user.empty()) {
        TcpCheckStep ok = expect_step(TcpCheckStep::Match::String, {});
        ok.custom = TcpCheckStep::Custom::MysqlOk;
        v.push_back(std::move(ok));
    }
    return v;
}

// option pgsql-check user <name>: a v3.0 StartupMessage; an ErrorResponse ('E') is L7RSP with the
// server's text, an AuthenticationOk or a password request (any method but Kerberos) is UP
std::vector<TcpCheckStep> pgsql_ruleset(const std::string& user) {
    TcpCheckStep c;
    c.kind = TcpCheckStep::Kind::Connect;
    std::string msg;
    hex_decode("00030000", msg);
    msg += std::string("user") + '\0' + user + '\0' + '\0';
    const std::size_t n = msg.size() + 4;
    std::string pkt{char((n >> 24) & 0xff), char((n >> 16) & 0xff), char((n >> 8) & 0xff), char(n & 0xff)};
    TcpCheckStep e = expect_step(TcpCheckStep::Match::RString, "^E");
    e.negate = true;
    e.min_recv = 5;
    e.error_status = 10;  // L7RSP
    e.error_payload = 6;
    TcpCheckStep a = expect_step(TcpCheckStep::Match::RBinary, "^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)");
    a.min_recv = 9;
    a.error_status = 13;  // L7STS
    a.on_success = "PostgreSQL server is ok";
    a.on_error = "PostgreSQL unknown error";
    return {c, send_step(pkt + msg), std::move(e), std::move(a)};
}

// option ssl-hello-chk: an SSLv3 ClientHello (the time at offset 11); a handshake or alert record
// back is L6OK, anything else L6RSP
std::vector<TcpCheckStep> ssl_hello_ruleset() {
    std::string body("\x03\x00", 2);   // client version SSLv3
    body.append(4, '\0');                // gmt_unix_time, filled when sent
    body += "HAPROXYSSLCHK\nHAPROXYSSLCHK\n";  // 28 bytes of "random", as HAProxy sends
    body.push_back('\0');               // no session id
    std::string suites;
    for (int c = 0x01; c <= 0x3a; ++c)  // RSA/DH suites 0x01-0x1B and 0x2F-0x3A
        if (c <= 0x1b || c >= 0x2f) suites += {'\0', char(c)};
    body += {char(suites.size() >> 8), char(suites.size() & 0xff)};
    body += suites;
    body += {'\x01', '\0'};  // one compression method: null
    std::string hs{'\x01', '\0', char(body.size() >> 8), char(body.size() & 0xff)};
    hs += body;
    std::string hello{'\x16', '\x03', '\0', char(hs.size() >> 8), char(hs.size() & 0xff)};
    hello += hs;
    TcpCheckStep s = send_step(std::move(hello));
    s.time_at = 11;
    TcpCheckStep e = expect_step(TcpCheckStep::Match::RBinary, "^1[56]");
    e.min_recv = 5;
    e.ok_status = 6;     // L6OK
    e.error_status = 8;  // L6RSP
    e.tout_status = 7;   // L6TOUT
    return {std::move(s), std::move(e)};
}

}  // namespace

bool check_option(ParseState& st, ProxyDraft& px, const Line& line, const std::string& name, bool negated) {
    const std::size_t next = negated ? 3 : 2;
    const std::string kw = (negated ? "no option " : "option ") + name;
    // the options that choose what a check is; `no option ...` goes back to a TCP connect
    if (name == "httpchk" || name == "tcp-check" || name == "redis-check" || name == "smtpchk" ||
        name == "ldap-check" || name == "mysql-check" || name == "pgsql-check" || name == "ssl-hello-chk") {
        bool skip;
        require_backend(st, px, line, kw, skip);
        if (skip) return true;
        if (negated) {
            no_more_args(line, next, kw);
            px.be.check.kind = CheckKind::Tcp;
            px.be.check.builtin.clear();
            return true;
        }
    }
    if (name == "httpchk") {
        BackendCheck& c = px.be.check;
        const std::size_t n = line.words.size() - next;
        if (n > 3) fail(line.at, "'option httpchk' expects at most <method> <uri> <version>");
        c.kind = CheckKind::Http;
        c.where = line.at;
        c.method = "OPTIONS";
        c.uri = "/";
        c.version = "HTTP/1.0";
        c.headers.clear();
        if (n == 1) c.uri = line.words[next];
        if (n >= 2) {
            c.method = line.words[next];
            c.uri = line.words[next + 1];
        }
        if (n == 3) split_version(line, line.words[next + 2], c);
        if (c.uri.empty() || (c.uri[0] != '/' && c.uri != "*" && c.uri.find("://") == std::string::npos))
            fail(line.at, "'option httpchk': the URI must start with '/', got " + squote(c.uri));
        return true;
    }
    if (name == "tcp-check" || name == "redis-check" || name == "smtpchk" || name == "ldap-check" ||
        name == "mysql-check" || name == "pgsql-check" || name == "ssl-hello-chk") {
        BackendCheck& c = px.be.check;
        c.kind = CheckKind::TcpCheck;
        c.where = line.at;
        if (name == "tcp-check") {
            no_more_args(line, next, kw);
            c.builtin.clear();
        } else if (name == "redis-check") {
            no_more_args(line, next, kw);
            c.builtin = redis_ruleset();
        } else if (name == "ldap-check") {
            no_more_args(line, next, kw);
            c.builtin = ldap_ruleset();
        } else if (name == "ssl-hello-chk") {
            no_more_args(line, next, kw);
            c.builtin = ssl_hello_ruleset();
        } else if (name == "mysql-check" || name == "pgsql-check") {
            // option mysql-check [user <name> [post-41|pre-41|post-80]]; option pgsql-check user <name>
            const bool pg = name == "pgsql-check";
            std::string user, proto = "post-41";
            if (line.words.size() > next || pg) {
                const std::string& w = arg_or_fail(line, next, kw, "'user <name>'");
                if (w != "user") fail(line.at, squote(kw) + " expects 'user <name>', got " + squote(w));
                user = arg_or_fail(line, next + 1, kw + " user", "a user name");
                if (user.empty() || user.size() > 250)
                    fail(line.at, squote(kw + " user") + " expects a name of 1 to 250 bytes");
                if (!pg && line.words.size() > next + 2) {
                    proto = line.words[next + 2];
                    if (proto != "post-41" && proto != "pre-41" && proto != "post-80")
                        fail(line.at, "'option mysql-check user' expects 'post-41', 'pre-41' or 'post-80', got " +
                                          squote(proto));
                    no_more_args(line, next + 3, kw);
                } else {
                    no_more_args(line, next + 2, kw);
                }
            }
            c.builtin = pg ? pgsql_ruleset(user) : mysql_ruleset(user, proto);
        } else {
            // option smtpchk [HELO|EHLO <domain>]
            std::string cmd = "HELO localhost";
            if (line.words.size() > next) {
                const std::string& verb = line.words[next];
                if (verb != "HELO" && verb != "EHLO")
                    fail(line.at, "'option smtpchk' expects 'HELO <domain>' or 'EHLO <domain>', got " + squote(verb));
                cmd = verb + " " + arg_or_fail(line, next + 1, "option smtpchk " + verb, "a domain");
                no_more_args(line, next + 2, kw);
            }
            c.builtin = smtp_ruleset(cmd);
        }
        return true;
    }
    if (name == "allbackups") {
        no_more_args(line, next, kw);
        bool skip;
        require_backend(st, px, line, kw, skip);
        if (!skip) px.be.allbackups = !negated;
        return true;
    }
    if (name == "log-health-checks") {
        no_more_args(line, next, kw);
        if (has_be(px)) px.be.check.log_health_checks = !negated;
        return true;
    }
    return false;
}

// tcp-check connect|send|send-binary|expect|comment (HAProxy 2.6)
void kw_tcp_check(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::string& sub = arg_or_fail(line, 1, "tcp-check", "'connect', 'send', 'send-binary', 'expect' or 'comment'");
    bool skip;
    require_backend(st, px, line, "tcp-check " + sub, skip);
    if (skip) return;
    BackendCheck& c = px.be.check;
    const std::string kw = "tcp-check " + sub;
    TcpCheckStep step;
    auto comment_at = [&](std::size_t& i) {
        if (line.words[i] != "comment") return false;
        step.comment = arg_or_fail(line, ++i, "comment", "a text");
        return true;
    };
    if (sub == "comment") {
        arg_or_fail(line, 2, kw, "a text");
        return;
    } else if (sub == "connect") {
        step.kind = TcpCheckStep::Kind::Connect;
        if (!c.steps.empty())
            fail(line.at, "'tcp-check connect' after the first step is not supported in this version (one "
                          "connection per check)");
        for (std::size_t i = 2; i < line.words.size(); ++i) {
            const std::string& w = line.words[i];
            if (comment_at(i) || w == "default" || w == "linger") continue;
            if (w == "port") {
                step.port = static_cast<int>(int_arg(line, ++i, "tcp-check connect port", 1, 65535, "a port"));
            } else if (w == "ssl") {
                step.ssl = true;
            } else if (w == "send-proxy") {
                step.send_proxy = true;
            } else if (w == "via-socks4" || w == "sni" || w == "alpn" || w == "proto" ||
                       w == "addr" || w == "check-sni" || w == "send-proxy-v2") {
                fail(line.at, "'tcp-check connect " + w + "' is not supported in this version");
            } else {
                fail(line.at, "unknown 'tcp-check connect' argument " + squote(w) +
                                  did_you_mean(w, {"port", "ssl", "send-proxy", "default", "linger", "comment"}));
            }
        }
    } else if (sub == "send" || sub == "send-binary") {
        const std::string& d = arg_or_fail(line, 2, kw, sub == "send" ? "a string" : "a hexadecimal string");
        step.kind = TcpCheckStep::Kind::Send;
        if (sub == "send") {
            step.data = d;
        } else if (!hex_decode(d, step.data)) {
            fail(line.at, "'tcp-check send-binary' expects an even number of hexadecimal digits, got " + squote(d));
        }
        for (std::size_t i = 3; i < line.words.size(); ++i)
            if (!comment_at(i)) fail(line.at, "unexpected " + squote(line.words[i]) + " after " + squote(kw + " " + d));
    } else if (sub == "send-lf" || sub == "send-binary-lf") {
        fail(line.at, squote(kw) + " (a log-format) is not supported in this version: use '" +
                          sub.substr(0, sub.size() - 3) + "' with a fixed value");
    } else if (sub == "expect") {
        step.kind = TcpCheckStep::Kind::Expect;
        std::size_t i = 2;
        // error-status / ok-status / tout-status <status>: one of the statuses of that outcome
        enum class Outcome { Error, Ok, Timeout };
        auto status_word = [&](const std::string& kw, Outcome o, const char* names) {
            const std::string& v = arg_or_fail(line, ++i, kw, names);
            const int code = status_code_of(v);
            const bool tout = v.find("TOUT") != std::string::npos, ok = v.find("OK") != std::string::npos;
            const bool fits = o == Outcome::Error ? !tout && !ok : o == Outcome::Ok ? ok : tout;
            if (code < 0 || !fits) fail(line.at, squote(kw) + " expects " + names + ", got " + squote(v));
            return std::uint8_t(code);
        };
        for (; i < line.words.size(); ++i) {
            const std::string& w = line.words[i];
            if (comment_at(i)) continue;
            if (w == "min-recv") {
                step.min_recv = static_cast<int>(int_arg(line, ++i, "min-recv", -1, 1 << 20, "a byte count"));
            } else if (w == "error-status") {
                step.error_status = status_word(w, Outcome::Error, "L7RSP, L7STS, L6RSP or L4CON");
            } else if (w == "ok-status") {
                step.ok_status = status_word(w, Outcome::Ok, "L7OK, L7OKC, L6OK or L4OK");
            } else if (w == "tout-status") {
                step.tout_status = status_word(w, Outcome::Timeout, "L7TOUT, L6TOUT or L4TOUT");
            } else if (w == "on-success" || w == "on-error") {
                const std::string& v = arg_or_fail(line, ++i, w, "a text");
                if (v.find("%[") != std::string::npos || v.find("%{") != std::string::npos)
                    fail(line.at, squote(w) + " with a log-format expression is not supported in this version "
                                              "(a plain text is)");
                (w == "on-success" ? step.on_success : step.on_error) = v;
            } else if (w == "status-code") {
                fail(line.at, "'tcp-check expect " + w + "' is not supported in this version");
            } else {
                break;
            }
        }
        const std::string& m = negation_and_match(line, i, step.negate, kw, "a match: string, rstring, binary or rbinary");
        if (m != "string" && m != "rstring" && m != "binary" && m != "rbinary") {
            if (m == "string-lf" || m == "binary-lf")
                fail(line.at, "'tcp-check expect " + m + "' (a log-format) is not supported in this version");
            fail(line.at, "unknown 'tcp-check expect' match " + squote(m) +
                              did_you_mean(m, {"string", "rstring", "binary", "rbinary"}));
        }
        const std::string& pat = arg_or_fail(line, i + 1, kw + " " + m, "a pattern");
        for (std::size_t k = i + 2; k < line.words.size(); ++k)
            if (!comment_at(k)) fail(line.at, "unexpected " + squote(line.words[k]) + " after the pattern");
        if (m == "string") {
            step.match = TcpCheckStep::Match::String;
            step.pattern = pat;
        } else if (m == "binary") {
            step.match = TcpCheckStep::Match::Binary;
            if (!hex_decode(pat, step.pattern))
                fail(line.at, "'tcp-check expect binary' expects an even number of hexadecimal digits, got " + squote(pat));
        } else {
            step.match = m == "rstring" ? TcpCheckStep::Match::RString : TcpCheckStep::Match::RBinary;
            check_regex(line, pat, kw + " " + m);
            step.pattern = pat;
        }
    } else if (sub == "set-var" || sub == "unset-var" || sub == "set-var-fmt") {
        fail(line.at, squote(kw) + " is not supported in this version");
    } else {
        fail(line.at, "unknown 'tcp-check' keyword " + squote(sub) +
                          did_you_mean(sub, {"connect", "send", "send-binary", "expect", "comment"}));
    }
    c.steps.push_back(std::move(step));
}

void kw_http_check(ParseState& st, ProxyDraft& px, const Line& line) {
    const std::string& sub =
        arg_or_fail(line, 1, "http-check", "'send', 'expect', 'disable-on-404', 'connect' or 'comment'");
    bool skip;
    require_backend(st, px, line, "http-check " + sub, skip);
    if (skip) return;
    BackendCheck& c = px.be.check;
    if (sub == "disable-on-404") {
        no_more_args(line, 2, "http-check disable-on-404");
        c.disable_on_404 = true;
    } else if (sub == "comment") {
        arg_or_fail(line, 2, "http-check comment", "a text");
    } else if (sub == "connect") {
        // the default connection (the server's address, or its `addr` and `port`) is the only one
        for (std::size_t i = 2; i < line.words.size(); ++i) {
            const std::string& w = line.words[i];
            if (w == "default") continue;
            if (w == "comment") {
                arg_or_fail(line, ++i, "comment", "a text");
                continue;
            }
            fail(line.at, "'http-check connect " + w +
                              "' is not supported in this version: checks connect to the server's address "
                              "(or its 'addr' and 'port')");
        }
    } else if (sub == "send") {
        for (std::size_t i = 2; i < line.words.size(); ++i) {
            const std::string& w = line.words[i];
            if (w == "meth") {
                c.method = arg_or_fail(line, ++i, "http-check send meth", "an HTTP method");
            } else if (w == "uri") {
                c.uri = arg_or_fail(line, ++i, "http-check send uri", "a URI");
                if (c.uri.empty() || c.uri[0] != '/')
                    fail(line.at, "'http-check send uri' must start with '/', got " + squote(c.uri));
            } else if (w == "ver") {
                c.version = arg_or_fail(line, ++i, "http-check send ver", "an HTTP version, e.g. HTTP/1.1");
            } else if (w == "hdr") {
                const std::string& n = arg_or_fail(line, ++i, "http-check send hdr", "a header name and a value");
                const std::string& v = arg_or_fail(line, ++i, "http-check send hdr " + n, "a value");
                c.headers.emplace_back(n, v);
            } else if (w == "body") {
                c.body = arg_or_fail(line, ++i, "http-check send body", "a string");
            } else if (w == "comment") {
                arg_or_fail(line, ++i, "comment", "a text");
            } else if (w == "uri-lf" || w == "body-lf") {
                fail(line.at, "'http-check send " + w +
                                  "' (a log-format) is not supported in this version: use '" +
                                  w.substr(0, w.size() - 3) + "' with a fixed value");
            } else {
                fail(line.at, "unknown 'http-check send' argument " + squote(w) +
                                  did_you_mean(w, {"meth", "uri", "ver", "hdr", "body", "comment"}));
            }
        }
    } else if (sub == "expect") {
        CheckExpect e;
        std::size_t i = 2;
        for (; i < line.words.size(); ++i) {
            const std::string& w = line.words[i];
            if (w == "comment") {
                arg_or_fail(line, ++i, "comment", "a text");
            } else if (w == "min-recv" || w == "ok-status" || w == "error-status" || w == "tout-status" ||
                       w == "on-success" || w == "on-error" || w == "status-code") {
                fail(line.at, "'http-check expect " + w + "' is not supported in this version");
            } else {
                break;
            }
        }
        const std::string& m =
            negation_and_match(line, i, e.negate, "http-check expect", "a match: status, rstatus, string or rstring");
        if (m != "status" && m != "rstatus" && m != "string" && m != "rstring") {
            if (m == "hdr" || m == "fhdr")
                fail(line.at, "'http-check expect " + m + "' is not supported in this version (supported: status, "
                                                          "rstatus, string, rstring)");
            fail(line.at, "unknown 'http-check expect' match " + squote(m) +
                              did_you_mean(m, {"status", "rstatus", "string", "rstring", "hdr", "fhdr"}));
        }
        const std::string& pat = arg_or_fail(line, i + 1, "http-check expect " + m, "a pattern");
        no_more_args(line, i + 2, "http-check expect " + m);
        e.pattern = pat;
        if (m == "status") {
            e.kind = CheckExpect::Kind::Status;
            e.statuses = parse_statuses(line, pat);
        } else if (m == "rstatus") {
            e.kind = CheckExpect::Kind::RStatus;
            check_regex(line, pat, "http-check expect rstatus");
        } else if (m == "string") {
            e.kind = CheckExpect::Kind::String;
        } else {
            e.kind = CheckExpect::Kind::RString;
            check_regex(line, pat, "http-check expect rstring");
        }
        c.expects.push_back(std::move(e));
    } else if (sub == "set-var" || sub == "unset-var") {
        fail(line.at, "'http-check " + sub + "' is not supported in this version");
    } else {
        fail(line.at, "unknown 'http-check' keyword " + squote(sub) +
                          did_you_mean(sub, {"send", "expect", "disable-on-404", "connect", "comment"}));
    }
}

}  // namespace es::config::detail
