// Flag words rendered for debug output, HAProxy's *_show_flags style: "RECV|EOF", with any bit
// that has no name shown in hex rather than hidden ("RECV|0x0400").
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace es::core {

struct FlagName {
    std::uint32_t bit;
    const char* name;
};

std::string show_flags(std::uint32_t flags, std::span<const FlagName> names);

}  // namespace es::core
