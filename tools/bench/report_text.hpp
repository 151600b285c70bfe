// printf into a std::string, shared by the two halves of `edgeshard-bench report`.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>

namespace es::bench::report_text {

__attribute__((format(printf, 1, 2))) inline std::string strf(const char* fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return {};
    if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
    std::string s(static_cast<size_t>(n) + 1, '\0');
    va_start(ap, fmt);
    std::vsnprintf(s.data(), s.size(), fmt, ap);
    va_end(ap);
    s.resize(static_cast<size_t>(n));
    return s;
}

}  // namespace es::bench::report_text
