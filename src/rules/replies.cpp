// Replies the proxy answers by itself: the built-in error pages, the configured ones (errorfile,
// errorfiles, http-error), and the 401/407 challenge. See README.md.
#include <cstring>
#include <string>

#include "edgeshard/rules/rules.hpp"

namespace es::rules {

std::string_view Arena::put(std::string_view s) {
    if (s.size() > sizeof(buf) - used) {
        overflow = true;
        return {};
    }
    char* p = buf + used;
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    used += s.size();
    return {p, s.size()};
}

void ArenaWriter::add(std::string_view s) {
    if (failed_) return;
    if (s.size() > sizeof(a_.buf) - pos_) {
        failed_ = true;
        return;
    }
    if (!s.empty()) std::memcpy(a_.buf + pos_, s.data(), s.size());
    pos_ += s.size();
}

void ArenaWriter::change_case(std::size_t from, bool upper) {
    for (std::size_t i = from; i < pos_ && !failed_; ++i) {
        const char c = a_.buf[i];
        if (upper && c >= 'a' && c <= 'z') a_.buf[i] = char(c - 'a' + 'A');
        if (!upper && c >= 'A' && c <= 'Z') a_.buf[i] = char(c - 'A' + 'a');
    }
}

void ArenaWriter::add_uint(std::uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    add({tmp + sizeof(tmp) - n, static_cast<std::size_t>(n)});
}

std::string_view ArenaWriter::commit() {
    if (failed_) {
        a_.overflow = true;
        return {};
    }
    a_.used = pos_;
    return {a_.buf + start_, pos_ - start_};
}

namespace {

// Status lines and messages of the built-in pages. The codes HAProxy has built-in pages for keep
// its status lines and texts, so an edgeshard error looks like the one people know. 407 uses the
// standard reason (HAProxy says "Unauthorized"), and 414, 431 and 505, which HAProxy answers with
// 400, get pages of their own because the parser reports them.
struct Builtin {
    int status;
    const char* reason;
    const char* text;
};
constexpr Builtin kBuiltins[] = {
    {200, "OK", "Service ready."},
    {400, "Bad request", "Your browser sent an invalid request."},
    {401, "Unauthorized", "You need a valid user and password to access this content."},
    {403, "Forbidden", "Request forbidden by administrative rules."},
    {404, "Not Found", "The resource could not be found."},
    {405, "Method Not Allowed",
     "A request was made of a resource using a request method not supported by that resource"},
    {407, "Proxy Authentication Required", "You need a valid user and password to access this content."},
    {408, "Request Time-out", "Your browser didn't send a complete request in time."},
    {410, "Gone", "The resource is no longer available and will not be available again."},
    {413, "Payload Too Large", "The request entity exceeds the maximum allowed."},
    {414, "URI Too Long", "The request URI is too long."},
    {421, "Misdirected Request", "Request sent to a non-authoritative server."},
    {425, "Too Early", "Your browser sent early data."},
    {429, "Too Many Requests", "You have sent too many requests in a given amount of time."},
    {431, "Request Header Fields Too Large", "The request header fields are too large."},
    {500, "Internal Server Error", "An internal server error occurred."},
    {501, "Not Implemented",
     "The server does not support the functionality required to fulfill the request."},
    {502, "Bad Gateway", "The server returned an invalid or incomplete response."},
    {503, "Service Unavailable", "No server is available to handle this request."},
    {504, "Gateway Time-out", "The server didn't respond in time."},
    {505, "HTTP Version Not Supported", "The HTTP version used in the request is not supported."},
};

constexpr int kFirstCode = 200;
constexpr int kLastCode = 599;

const Builtin* find_builtin(int status) {
    for (const Builtin& b : kBuiltins)
        if (b.status == status) return &b;
    return nullptr;
}

// Every built-in reply for 200..599, built once on first use (a function-local static: the
// initialisation is thread-safe, and later calls only index the table).
struct BuiltinTable {
    std::string replies[kLastCode - kFirstCode + 1];
    std::string heads[kLastCode - kFirstCode + 1];  // status line + headers, without the final CRLF
    std::string bodies[kLastCode - kFirstCode + 1];

    BuiltinTable() {
        for (int code = kFirstCode; code <= kLastCode; ++code) {
            const Builtin* b = find_builtin(code);
            std::string reason = b ? b->reason : std::string(reason_text(code));
            std::string body;
            body += "<html><body><h1>" + std::to_string(code) + " " + reason + "</h1>\n";
            if (b) body += std::string(b->text) + "\n";
            body += "</body></html>\n";
            std::string head = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\n";
            if (code == 204 || code == 304) {
                body.clear();  // RFC 9110 §15.3.5, §15.4.5: no content, and 204 has no Content-Length
                if (code == 304) head += "content-length: 0\r\n";
                head += "cache-control: no-cache\r\n";
            } else {
                head += "content-length: " + std::to_string(body.size()) + "\r\n";
                head += "cache-control: no-cache\r\ncontent-type: text/html\r\n";
            }
            const std::size_t i = static_cast<std::size_t>(code - kFirstCode);
            heads[i] = head;
            bodies[i] = body;
            replies[i] = head + "\r\n" + body;
        }
    }

    static std::string_view reason_text(int code) {
        std::string_view r = http::reason_phrase(code);
        return r.empty() ? std::string_view("Unknown") : r;
    }
};

const BuiltinTable& builtins() {
    static const BuiltinTable table;
    return table;
}

std::size_t builtin_index(int status) {
    if (status < kFirstCode || status > kLastCode) status = 500;
    return static_cast<std::size_t>(status - kFirstCode);
}

const config::Reply* configured(int status, const config::HttpProxy* px) {
    if (px == nullptr) return nullptr;
    for (const config::Reply& r : px->errors)
        if (r.status == status && !r.raw.empty()) return &r;
    return nullptr;
}

// `Basic realm="<realm>"` with the realm as a quoted-string (RFC 9110 §5.6.4).
void add_challenge(ArenaWriter& w, std::string_view realm) {
    w.add("Basic realm=\"");
    std::size_t from = 0;
    for (std::size_t i = 0; i < realm.size(); ++i) {
        if (realm[i] == '"' || realm[i] == '\\') {
            w.add(realm.substr(from, i - from));
            w.add("\\");
            from = i;
        }
    }
    w.add(realm.substr(from));
    w.add("\"");
}

// A configured reply (a full response as written in an errorfile) with every WWW-Authenticate and
// Proxy-Authenticate line dropped and exactly one challenge inserted after the status line. Lines
// may end in CRLF or LF; the inserted line uses the status line's ending.
std::string_view rebuild_with_challenge(std::string_view raw, std::string_view hname, std::string_view realm,
                                        Arena& arena) {
    ArenaWriter w(arena);
    std::size_t pos = 0;
    bool first = true;
    bool in_head = true;
    while (pos < raw.size()) {
        std::size_t nl = raw.find('\n', pos);
        std::size_t end = nl == std::string_view::npos ? raw.size() : nl + 1;
        std::string_view line = raw.substr(pos, end - pos);
        std::string_view content = line;
        while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
            content.remove_suffix(1);
        if (!in_head) {
            w.add(raw.substr(pos));
            break;
        }
        if (first) {
            w.add(line);
            std::string_view eol = line.size() >= 2 && line.substr(line.size() - 2) == "\r\n" ? "\r\n" : "\n";
            w.add(hname);
            w.add(": ");
            add_challenge(w, realm);
            w.add(eol);
            first = false;
        } else if (content.empty()) {
            w.add(line);
            in_head = false;
        } else {
            std::size_t colon = content.find(':');
            std::string_view name = colon == std::string_view::npos ? content : content.substr(0, colon);
            if (!http::iequals(name, "www-authenticate") && !http::iequals(name, "proxy-authenticate"))
                w.add(line);
        }
        pos = end;
    }
    return w.commit();
}

}  // namespace

std::string_view error_reply(int status, const config::HttpProxy* be, const config::HttpProxy* fe) {
    if (const config::Reply* r = configured(status, be)) return r->raw;
    if (const config::Reply* r = configured(status, fe)) return r->raw;
    return builtins().replies[builtin_index(status)];
}

std::string_view auth_reply(const http::RequestHead& req, std::string_view realm, const config::HttpProxy* be,
                            const config::HttpProxy* fe, Arena& arena) {
    const int status = req.absolute_form ? 407 : 401;
    const std::string_view hname = req.absolute_form ? "proxy-authenticate" : "www-authenticate";
    const config::Reply* custom = configured(status, be);
    if (custom == nullptr) custom = configured(status, fe);
    if (custom != nullptr) return rebuild_with_challenge(custom->raw, hname, realm, arena);

    const BuiltinTable& t = builtins();
    const std::size_t i = builtin_index(status);
    ArenaWriter w(arena);
    w.add(t.heads[i]);
    w.add(hname);
    w.add(": ");
    add_challenge(w, realm);
    w.add("\r\n\r\n");
    w.add(t.bodies[i]);
    return w.commit();
}

}  // namespace es::rules
