// DNS messages for the resolvers (dns/resolver.hpp): building an A or AAAA query and judging an
// answer, the way HAProxy 2.6's resolvers judge them (src/resolvers.c, resolv_validate_dns_response).
// The wire format itself is c-ares' (ares_create_query, ares_parse_a_reply, ares_parse_aaaa_reply):
// the bytes a name server sends are parsed by a library made and fuzzed for it, not by us.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edgeshard/config/config.hpp"

namespace es::dns {

inline constexpr int kTypeA = 1;
inline constexpr int kTypeAAAA = 28;
inline constexpr int kTypeSRV = 33;

// A query for `name` (type kTypeA or kTypeAAAA, recursion desired), with an EDNS0 OPT record
// announcing `payload` bytes when it is above 512. Empty when the name cannot be encoded.
std::vector<std::uint8_t> build_query(std::string_view name, int type, std::uint16_t id, int payload);

// What an answer says, in HAProxy's terms (each counted per name server in `show resolvers`).
enum class Verdict : std::uint8_t {
    Valid,      // addresses of the asked type
    Nx,         // NXDOMAIN
    Refused,    // REFUSED
    AnyErr,     // no answer record at all (NODATA)
    Truncated,  // TC set: the answer did not fit (raise accepted_payload_size)
    Invalid,    // not an answer to the question asked, or malformed
    Other,      // another RCODE, or answers without a record of the asked type
};

struct Answer {
    Verdict verdict = Verdict::Invalid;
    std::vector<config::SockAddr> addrs;  // Valid: the addresses, port 0, in the answer's order
    int cnames = 0;                       // CNAME records followed to reach them
    // A SRV answer: its records in the answer's order, and the A/AAAA records of the additional
    // section (the targets' addresses, when the server sent them)
    struct Srv {
        std::string target;  // without the trailing dot
        std::uint16_t port = 0, priority = 0, weight = 0;
    };
    std::vector<Srv> srv;
    std::vector<std::pair<std::string, config::SockAddr>> additional;
};

// The id of a message (its first two bytes); -1 when shorter.
int message_id(std::span<const std::uint8_t> msg);
// Judges `msg` as the answer to a query for `name` of `type` (kTypeA, kTypeAAAA or kTypeSRV).
Answer parse_answer(std::span<const std::uint8_t> msg, std::string_view name, int type);

}  // namespace es::dns
