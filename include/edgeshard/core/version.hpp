#pragma once
namespace es {
inline constexpr const char* kVersion = "0.1.0";
inline constexpr const char* kProduct = "edgeshard";
}  // namespace es
