#pragma once
namespace es {
inline constexpr const char* kVersion = "0.1.0";
inline constexpr const char* kReleaseDate = "2026/12/07";  // this version's (show info Release_date)
inline constexpr const char* kProduct = "edgeshard";
}  // namespace es
