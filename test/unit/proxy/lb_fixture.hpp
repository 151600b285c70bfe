// Shared helpers for the load-balancing tests: a backend with named servers and given weights.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "edgeshard/config/config.hpp"

namespace lbtest {

// `own_hash`: edgeshard's own map and ring (tune.es.lb-hash own), which most tests pin down; false: HAProxy's.
inline es::config::Backend make_be(es::config::Balance b, std::vector<int> weights, bool own_hash = true) {
    es::config::Backend be;
    be.name = "be";
    be.balance.algo = b;
    be.balance.own_hash = own_hash;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        es::config::Server s;
        s.name = "s" + std::to_string(i);
        s.id = std::uint32_t(i);
        s.weight = weights[i];
        be.servers.push_back(s);
    }
    return be;
}

inline sockaddr_storage v4(const char* ip) {
    sockaddr_storage ss{};
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &in->sin_addr);
    return ss;
}

}  // namespace lbtest
