// Request heads filled by hand for the rules tests, as the parser would fill them (views into
// literals that outlive the head).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "edgeshard/http/parser.hpp"

namespace rulestest {

using Hdrs = std::initializer_list<std::pair<std::string_view, std::string_view>>;

inline es::http::RequestHead make_req(std::string_view method, std::string_view target, Hdrs hdrs,
                                      std::uint8_t version = 11) {
    es::http::RequestHead r;
    r.method_text = method;
    r.target = target;
    const std::size_t q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string_view::npos) r.query = target.substr(q + 1);
    r.version = version;
    for (const auto& [n, v] : hdrs) {
        r.headers[r.nheaders].name = n;
        r.headers[r.nheaders].value = v;
        if (n == "Host" || n == "host") r.host = v;
        ++r.nheaders;
    }
    return r;
}

}  // namespace rulestest
