// Addresses and networks as text ("a.b.c.d", "a.b.c.d/len", "a.b.c.d/m.m.m.m", "v6", "v6/len"),
// parsed into 16 bytes (IPv4 mapped into ::ffff:0:0/96) and a mask: the one parser behind the ACLs'
// `-m ip` patterns and the `map_ip` maps (read at load), and the test of an address against them.
#pragma once

#include <string_view>

namespace es::core {

struct Net {
    unsigned char addr[16];
    unsigned char mask[16];
    unsigned bits;  // the prefix length in those 128 bits (96 + n for an IPv4 /n)
};

// No mask means a single address (/32, /128). False when the text is not one of the forms.
bool parse_net(std::string_view text, Net& n);
// `addr` (16 bytes, as parse_net writes them) is inside `n`.
bool in_net(const unsigned char addr[16], const Net& n);

}  // namespace es::core
