#include "edgeshard/core/flags.hpp"

#include <cstdio>

namespace es::core {

std::string show_flags(std::uint32_t flags, std::span<const FlagName> names) {
    std::string out;
    std::uint32_t left = flags;
    for (const FlagName& n : names) {
        if (!(flags & n.bit)) continue;
        if (!out.empty()) out += '|';
        out += n.name;
        left &= ~n.bit;
    }
    if (left) {
        char hex[16];
        std::snprintf(hex, sizeof hex, "0x%04x", unsigned(left));
        if (!out.empty()) out += '|';
        out += hex;
    }
    return out;
}

}  // namespace es::core
