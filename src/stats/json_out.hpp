// Private to the stats room: rapidjson output straight into a std::string, and the clamping rule
// every JSON integer goes through.
#pragma once

#include <rapidjson/writer.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "edgeshard/stats/fields.hpp"

namespace es::stats::detail {

// rapidjson OutputStream over the caller's string: no intermediate buffer and no copy at the end.
class StringSink {
  public:
    using Ch = char;
    explicit StringSink(std::string& s) : s_(s) {}
    void Put(char c) { s_.push_back(c); }
    void Flush() {}

  private:
    std::string& s_;
};

using JsonWriter = rapidjson::Writer<StringSink>;

inline std::uint64_t clamp_json(std::uint64_t v) {
    return v > std::uint64_t(kJsonIntMax) ? std::uint64_t(kJsonIntMax) : v;
}
inline std::int64_t clamp_json(std::int64_t v) {
    return v > kJsonIntMax ? kJsonIntMax : (v < -kJsonIntMax ? -kJsonIntMax : v);
}

inline void key(JsonWriter& w, std::string_view k) {
    w.Key(k.data(), rapidjson::SizeType(k.size()));
}
inline void str(JsonWriter& w, std::string_view s) {
    w.String(s.data(), rapidjson::SizeType(s.size()));
}
inline void u64(JsonWriter& w, std::string_view k, std::uint64_t v) {
    key(w, k);
    w.Uint64(clamp_json(v));
}
inline void i64(JsonWriter& w, std::string_view k, std::int64_t v) {
    key(w, k);
    w.Int64(clamp_json(v));
}

// "tags":{...},"value":{"type":..,"value":..} of one typed field (HAProxy's member order).
void write_tags_and_value(JsonWriter& w, const Field& f);

}  // namespace es::stats::detail
