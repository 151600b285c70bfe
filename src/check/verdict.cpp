// Check verdicts and texts (verdict.hpp).
#include "verdict.hpp"

#include <strings.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string_view>

namespace es::check {

namespace {

struct StatusText {
    const char* name;
    const char* desc;
};
constexpr StatusText kStatus[] = {
    {"UNK", "Unknown"},
    {"INI", "Initializing"},
    {"SOCKERR", "Socket error"},
    {"L4OK", "Layer4 check passed"},
    {"L4TOUT", "Layer4 timeout"},
    {"L4CON", "Layer4 connection problem"},
    {"L6OK", "Layer6 check passed"},
    {"L6TOUT", "Layer6 timeout"},
    {"L6RSP", "Layer6 invalid response"},
    {"L7TOUT", "Layer7 timeout"},
    {"L7RSP", "Layer7 invalid response"},
    {"L7OK", "Layer7 check passed"},
    {"L7OKC", "Layer7 check conditionally passed"},
    {"L7STS", "Layer7 wrong status"},
    {"HANA", "Health analyze"},
    {"CHECKED", "No status change"},
};

// HAProxy's analyzer texts, in shard::Observed's order
constexpr const char* kObserved[] = {
    "Unknown",
    "L4 successful connection",
    "L4 unsuccessful connection",
    "Correct http response",
    "Wrong http response",
    "Invalid http response (headers)",
    "Invalid http response",
    "Read error (http)",
    "Read timeout (http)",
    "Close from server (http)",
};

// HAProxy's dump_binary: printable bytes as they are, the others as <HH>
std::string printable(const std::string& b) {
    std::string o;
    for (unsigned char c : b) {
        if (c >= 0x20 && c < 0x7f) {
            o.push_back(char(c));
        } else {
            char h[8];
            std::snprintf(h, sizeof h, "<%02X>", c);
            o += h;
        }
    }
    return o;
}

std::string first_line(const std::string& in, std::size_t from = 0) {
    if (from >= in.size()) return {};
    const std::size_t e = in.find_first_of("\r\n", from);
    std::string l = in.substr(from, e == std::string::npos ? std::string::npos : e - from);
    l.erase(0, l.find_first_not_of(' '));
    return l;
}

void free_regex(regex_t* r) {
    if (!r) return;
    regfree(r);
    delete r;
}

}  // namespace

const char* observed_desc(Observed o) {
    return std::size_t(o) < std::size(kObserved) ? kObserved[std::size_t(o)] : kObserved[0];
}

std::string servers_left_text(int act, int bck, bool down, std::int64_t sessions) {
    return ". " + std::to_string(act) + " active and " + std::to_string(bck) +
           (down ? " backup servers left." : " backup servers online.") + (bck && !act ? " Running on backup." : "") +
           (down ? " " + std::to_string(sessions) + " sessions active, 0 requeued, 0 remaining in queue."
                 : std::string(" 0 sessions requeued, 0 total in queue."));
}

const char* status_name(Status s) { return kStatus[std::size_t(s)].name; }
const char* status_desc(Status s) { return kStatus[std::size_t(s)].desc; }

namespace detail {

Regex no_regex() { return Regex(nullptr, free_regex); }

Regex compile(const std::string& pattern) {
    Regex re(new regex_t, free_regex);
    if (regcomp(re.get(), pattern.c_str(), REG_EXTENDED | REG_NOSUB) != 0)
        regcomp(re.get(), "$^x", REG_EXTENDED | REG_NOSUB);
    return re;
}

std::string http_request(const config::BackendCheck& k) {
    std::string r = k.method + " " + k.uri + " " + k.version + "\r\n";
    bool conn = false;
    for (const auto& [n, v] : k.headers) {
        r += n + ": " + v + "\r\n";
        if (strcasecmp(n.c_str(), "connection") == 0) conn = true;
    }
    if (!conn) r += "Connection: close\r\n";
    if (!k.body.empty()) r += "Content-Length: " + std::to_string(k.body.size()) + "\r\n";
    r += "\r\n";
    r += k.body;
    return r;
}

Verdict eval_http(const config::BackendCheck& k, const std::vector<Regex>& regexes, const std::string& in, bool last,
                  bool up) {
    Verdict v;
    const std::size_t eol = in.find("\r\n");
    if (eol == std::string::npos) {
        v.wait = !last;
        v.status = Status::L7Rsp;
        return v;
    }
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (eol < 12 || in.compare(0, 7, "HTTP/1.") != 0 || in[8] != ' ' || !std::isdigit((unsigned char)in[9]) ||
        !std::isdigit((unsigned char)in[10]) || !std::isdigit((unsigned char)in[11]) || (eol > 12 && in[12] != ' ')) {
        v.status = Status::L7Rsp;
        return v;
    }
    const int code = (in[9] - '0') * 100 + (in[10] - '0') * 10 + (in[11] - '0');
    const std::string reason = eol > 13 ? in.substr(13, eol - 13) : std::string();
    bool need_body = false;
    for (const auto& e : k.expects)
        if (e.kind == config::CheckExpect::Kind::String || e.kind == config::CheckExpect::Kind::RString)
            need_body = true;
    const std::size_t hend = in.find("\r\n\r\n");
    if (need_body && !last) {
        if (hend == std::string::npos) return {true};
        // a Content-Length says when the body is complete; else read to the end
        std::size_t clen = std::string::npos;
        for (std::size_t p = 0; p < hend;) {
            const std::size_t e = in.find("\r\n", p);
            if (e - p > 15 && strncasecmp(in.c_str() + p, "content-length:", 15) == 0)
                clen = std::strtoull(in.c_str() + p + 15, nullptr, 10);
            p = e + 2;
        }
        if (clen == std::string::npos || in.size() - (hend + 4) < clen) return {true};
    }
    v.code = code;
    if (k.disable_on_404 && code == 404 && up) {
        v.status = Status::L7OkC;
        v.info = reason;
        return v;
    }
    const std::string body = hend == std::string::npos ? std::string() : in.substr(hend + 4);
    for (std::size_t r = 0; r < k.expects.size(); ++r) {
        const config::CheckExpect& e = k.expects[r];
        bool match = false;
        bool on_status = true;
        switch (e.kind) {
            case config::CheckExpect::Kind::Status:
                for (const auto& [lo, hi] : e.statuses)
                    if (code >= lo && code <= hi) match = true;
                break;
            case config::CheckExpect::Kind::RStatus:
                match = regexec(regexes[r].get(), in.substr(9, 3).c_str(), 0, nullptr, 0) == 0;
                break;
            case config::CheckExpect::Kind::String:
                on_status = false;
                match = body.find(e.pattern) != std::string::npos;
                break;
            case config::CheckExpect::Kind::RString:
                on_status = false;
                match = regexec(regexes[r].get(), body.c_str(), 0, nullptr, 0) == 0;
                break;
            case config::CheckExpect::Kind::Default:
                match = code >= 200 && code < 400;
                break;
        }
        if (e.negate) match = !match;
        if (match) continue;
        v.status = on_status ? Status::L7Sts : Status::L7Rsp;
        v.info = on_status ? reason
                 : e.negate ? "HTTP check matched unwanted content"
                            : "HTTP content check did not match";
        return v;
    }
    // without rules: a 2xx or 3xx passes; HAProxy leaves last_chk empty on success
    const bool ok = !k.expects.empty() || (code >= 200 && code < 400);
    v.status = ok ? Status::L7Ok : Status::L7Sts;
    if (!ok) v.info = reason;
    return v;
}

namespace {

std::uint32_t le(const std::string& in, std::size_t at, int n) {
    std::uint32_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = v << 8 | static_cast<unsigned char>(in[at + std::size_t(k)]);
    return v;
}

// One MySQL packet at `off`: a 3-byte little-endian length, a sequence byte, the payload. An error
// packet (0xff) is L7STS with its error code and the rest as the detail; anything else passes,
// without a detail (HAProxy records the server's version, then the end of its ruleset replaces it
// with an empty one).
Verdict mysql_packet(const std::string& in, std::size_t off, bool last) {
    Verdict v;
    if (in.size() < off + 4 || in.size() < off + 4 + le(in, off, 3)) {
        v.wait = !last;
        v.status = Status::L7Rsp;
        return v;
    }
    if (in.size() > off + 4 && static_cast<unsigned char>(in[off + 4]) == 0xff) {
        v.status = Status::L7Sts;
        v.code = in.size() >= off + 7 ? int(le(in, off + 5, 2)) : 0;
        if (in.size() > off + 7) v.info = in.substr(off + 7);
        return v;
    }
    v.status = Status::L7Ok;
    return v;
}

// An LDAPv3 bindResponse (RFC 4511 4.2.2): SEQUENCE { messageID 1, [APPLICATION 1] { resultCode ...
// } }; the first byte (0x30) was matched by the rule before. resultCode 0 passes ("Success");
// another is L7STS with that code.
Verdict ldap_bind(const std::string& in, bool last) {
    Verdict v;
    auto short_or = [&](const char* info) {
        v.status = Status::L7Rsp;
        v.wait = info == nullptr && !last;
        if (info) v.info = info;
        return v;
    };
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const std::size_t n = in.size();
    std::size_t at = 1, len = 0, lenbytes = 0;
    if (n < 2) return short_or(nullptr);
    if (p[at] & 0x80) {
        lenbytes = p[at] & 0x7f;
        if (lenbytes != 2 && lenbytes != 4) return short_or("Not LDAPv3 protocol");
        if (n < at + 1 + lenbytes) return short_or(nullptr);
        for (std::size_t k = 0; k < lenbytes; ++k) len = len << 8 | p[at + 1 + k];
    } else {
        len = p[at];
    }
    at += 1 + lenbytes;
    if (n - at < len || n - at < 4) return short_or(nullptr);
    if (std::memcmp(p + at, "\x02\x01\x01\x61", 4) != 0) return short_or("Not LDAPv3 protocol");
    at += 4;
    if (n - at < 1) return short_or(nullptr);
    const std::size_t skip = (p[at] & 0x80) ? p[at] & 0x7f : 0;
    if (n - at < 1 + skip + 2 + 1) return short_or(nullptr);
    at += 1 + skip;
    if (p[at] != 0x0a || p[at + 1] != 0x01) return short_or("Not LDAPv3 protocol");
    v.code = p[at + 2];
    if (v.code != 0) {
        v.status = Status::L7Sts;
        v.info = "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9";
        return v;
    }
    v.status = Status::L7Ok;  // "Success", which the end of the ruleset replaces with an empty detail
    return v;
}

}  // namespace

Verdict eval_custom(const config::TcpCheckStep& r, const std::string& in, bool last) {
    using Custom = config::TcpCheckStep::Custom;
    switch (r.custom) {
        case Custom::MysqlHello:
            return mysql_packet(in, 0, last);
        case Custom::MysqlOk:
            return mysql_packet(in, in.size() >= 3 ? 4 + le(in, 0, 3) : in.size(), last);
        case Custom::LdapBind:
            return ldap_bind(in, last);
        case Custom::None:
            break;
    }
    return {false, Status::L7Rsp, 0, {}};
}

Verdict eval_expect(const config::TcpCheckStep& r, const regex_t* re, const std::string& in, bool last,
                    std::size_t step, bool user) {
    using Match = config::TcpCheckStep::Match;
    if (in.empty() && last) {
        // nothing came and nothing will: HAProxy says so before any pattern or on-error text
        Verdict v;
        v.status = r.error_status ? Status(r.error_status) : Status::L7Rsp;
        v.info = "TCPCHK got an empty response at step " + std::to_string(step + 1);
        if (!r.comment.empty()) v.info += " comment: " + r.comment;
        return v;
    }
    if (!last) {
        if ((r.match == Match::String || r.match == Match::Binary) && in.size() < r.pattern.size()) return {true};
        if (r.min_recv > 0 && in.size() < std::size_t(r.min_recv)) return {true};
    }
    bool match = false;
    switch (r.match) {
        case Match::String:
        case Match::Binary:
            match = !r.pattern.empty() && in.find(r.pattern) != std::string::npos;
            break;
        case Match::RString:
            match = regexec(re, in.c_str(), 0, nullptr, 0) == 0;
            break;
        case Match::RBinary: {
            static const char kHex[] = "0123456789ABCDEF";
            std::string dump;
            dump.reserve(in.size() * 2);
            for (unsigned char ch : in) {
                dump.push_back(kHex[ch >> 4]);
                dump.push_back(kHex[ch & 15]);
            }
            match = regexec(re, dump.c_str(), 0, nullptr, 0) == 0;
            break;
        }
    }
    // HAProxy's rule: a mismatch waits for more unless min-recv is set or nothing more can come
    if (!match && !last && r.min_recv == -1) return {true};
    Verdict v;
    if (r.status_from_reply && in.size() >= 3 && std::isdigit((unsigned char)in[0]) &&
        std::isdigit((unsigned char)in[1]) && std::isdigit((unsigned char)in[2]))
        v.code = (in[0] - '0') * 100 + (in[1] - '0') * 10 + (in[2] - '0');
    if (match != r.negate) {
        v.status = Status::L7Ok;
        v.info = !r.on_success.empty() ? r.on_success : r.status_from_reply ? first_line(in, 4) : std::string();
        return v;
    }
    v.status = r.error_status ? Status(r.error_status) : Status::L7Rsp;
    if (!status_has_code(v.status)) v.code = 0;
    const std::string at = " at step " + std::to_string(step + 1);
    if (!r.on_error.empty()) {
        v.info = r.on_error;
    } else if (r.error_payload >= 0 && in.size() > std::size_t(r.error_payload)) {
        v.info = std::string(in.c_str() + r.error_payload);  // the server's text, to its first NUL
    } else if (in.empty()) {
        v.info = "TCPCHK got an empty response" + at;
    } else if (r.info_first_line) {
        v.info = first_line(in, r.status_from_reply ? 4 : 0);
    } else if (user) {
        v.info = std::string("TCPCHK ") + (match ? "matched unwanted content" : "did not match content");
        switch (r.match) {
            case Match::String:
                v.info += " '" + r.pattern + "'" + at;
                break;
            case Match::Binary:
                v.info += " (binary)" + at;
                break;
            case Match::RString:
                v.info += " (regex)" + at;
                break;
            case Match::RBinary:
                v.info += " (binary regex)" + at;
                break;
        }
    }
    if (!r.comment.empty()) v.info += " comment: " + r.comment;
    return v;
}

AgentAnswer parse_agent(const std::string& in, bool last) {
    AgentAnswer a;
    const std::size_t eol = in.find_first_of(std::string_view("\r\n\0", 3));
    if (eol == std::string::npos) {
        a.wait = !last;
        a.incomplete = last;
        return a;
    }
    const std::string line = in.substr(0, eol);
    std::size_t p = 0;
    auto is_sep = [](char c) { return c == ' ' || c == '\t' || c == ','; };
    while (p < line.size()) {
        if (is_sep(line[p])) {
            ++p;
            continue;
        }
        if (line[p] == '#') {
            a.desc = line.substr(line.find_first_not_of(" \t", p + 1) == std::string::npos
                                     ? line.size()
                                     : line.find_first_not_of(" \t", p + 1));
            break;
        }
        std::size_t e = p + 1;
        while (e < line.size() && line[e] != ' ' && line[e] != '\t' && line[e] != ',') ++e;
        const std::string w = line.substr(p, e - p);
        p = e;
        auto is = [&](const char* k) { return strcasecmp(w.c_str(), k) == 0; };
        auto starts = [&](const char* k) { return strncasecmp(w.c_str(), k, std::strlen(k)) == 0; };
        if (is("up") || is("down") || is("stopped") || is("fail")) {
            a.health = w;
            for (char& c : a.health) c = char(std::tolower(static_cast<unsigned char>(c)));
        } else if (is("ready")) {
            a.admin = Hooks::Admin::Ready;
        } else if (is("drain")) {
            a.admin = Hooks::Admin::Drain;
        } else if (is("maint")) {
            a.admin = Hooks::Admin::Maint;
        } else if (std::isdigit(static_cast<unsigned char>(w[0])) && w.find('%') != std::string::npos) {
            a.weight = w;
        } else if (starts("maxconn:")) {
            a.maxconn = w.substr(8);
        } else if (a.error.empty()) {
            a.error = w;
        }
    }
    return a;
}

std::string where(const std::vector<config::TcpCheckStep>& rules, bool connecting, std::size_t step) {
    using Kind = config::TcpCheckStep::Kind;
    const bool explicit_connect = !rules.empty() && rules[0].kind == Kind::Connect;
    if (connecting) {
        if (!explicit_connect) return " at initial connection step of tcp-check";
        return rules[0].port ? " at step 1 of tcp-check (connect port " + std::to_string(rules[0].port) + ")"
                             : std::string(" at step 1 of tcp-check (connect)");
    }
    if (step >= rules.size()) return {};
    std::string o = " at step " + std::to_string(step + 1) + " of tcp-check";
    const config::TcpCheckStep& r = rules[step];
    if (r.kind != Kind::Expect) return o;
    switch (r.match) {
        case config::TcpCheckStep::Match::String:
            return o + " (expect string '" + r.pattern + "')";
        case config::TcpCheckStep::Match::Binary:
            return o + " (expect binary '" + printable(r.pattern) + "')";
        case config::TcpCheckStep::Match::RString:
            return o + " (expect regex)";
        case config::TcpCheckStep::Match::RBinary:
            return o + " (expect binary regex)";
    }
    return o;
}

std::string log_quote(const std::string& s) {
    std::string o;
    for (unsigned char c : s) {
        if (c == '"' || c < 0x20 || c >= 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "#%02X", c);
            o += b;
        } else {
            o += char(c);
        }
    }
    return o;
}

}  // namespace detail
}  // namespace es::check
