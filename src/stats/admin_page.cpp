// The stats page's admin results (HAProxy 2.6's `;st=` codes): the Location a POST is sent to and
// the message the page shows for it. The actions themselves run on the control shard
// (src/control/stats_admin.cpp).
#include <cctype>

#include "edgeshard/stats/render.hpp"

namespace es::stats {

namespace {

constexpr std::string_view kCodes[] = {"UNKN", "NONE", "DONE", "PART", "ERRP", "EXCD", "DENY", "IVAL"};

// HAProxy's invalid_char(): a scope is letters, digits and . : _ -
bool scope_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '_' || c == '-';
}

}  // namespace

std::string_view admin_result_code(AdminResult r) {
    const auto i = std::size_t(r);
    return i < std::size(kCodes) ? kCodes[i] : kCodes[0];
}

AdminResult admin_result_in(std::string_view uri, std::string_view target) {
    const std::string_view rest = target.substr(std::min(uri.size(), target.size()));
    const std::size_t at = rest.find(";st=");
    // HAProxy looks for it only where four characters follow
    if (at == std::string_view::npos || rest.size() - at < 8) return AdminResult::Init;
    const std::string_view code = rest.substr(at + 4, 4);
    for (std::size_t i = 1; i < std::size(kCodes); ++i)
        if (kCodes[i] == code) return AdminResult(i);
    return AdminResult::Unkn;
}

std::string admin_location(std::string_view uri, std::string_view target, int refresh_s, AdminResult r) {
    const std::string_view rest = target.substr(std::min(uri.size(), target.size()));
    std::string loc(uri);
    loc += ";st=";
    loc += admin_result_code(r);
    if (rest.find(";up") != std::string_view::npos) loc += ";up";
    if (refresh_s > 0 && rest.find(";norefresh") != std::string_view::npos) loc += ";norefresh";
    // `scope=<text>` anywhere after the uri: up to ';', '&' or ' ', at most 20 characters, dropped
    // when one of them is not a name's
    const std::size_t sc = rest.find("scope=");
    if (sc != std::string_view::npos && rest.size() - sc >= 8) {
        std::string_view s = rest.substr(sc + 6);
        s = s.substr(0, std::min(s.find_first_of(";& "), s.size()));
        s = s.substr(0, std::min<std::size_t>(s.size(), 20));
        bool ok = !s.empty();
        for (char c : s) ok = ok && scope_char(c);
        if (ok) {
            loc += "?scope=";
            loc += s;
        }
    }
    return loc;
}

std::string admin_redirect(std::string_view uri, std::string_view target, int refresh_s, AdminResult r) {
    std::string out =
        "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n"
        "location: ";
    out += admin_location(uri, target, refresh_s, r);
    out += "\r\n\r\n";
    return out;
}

}  // namespace es::stats
