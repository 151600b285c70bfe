// user_data is a typed handle: {op, generation, object}. The object is a pointer to a pooled,
// intrusive per-connection object (x86-64 and arm64 user pointers fit in 48 bits), the op says
// which handler owns the completion, and the generation lets the loop drop completions that
// belong to an earlier life of a reused object.
#pragma once

#include <cstdint>

namespace es::shard {

struct UserData {
    std::uint8_t op;
    std::uint8_t gen;
    std::uint64_t obj;  // pointer bits or a small index

    static std::uint64_t pack(std::uint8_t op, std::uint8_t gen, const void* p) {
        return pack_raw(op, gen, reinterpret_cast<std::uint64_t>(p));
    }
    static std::uint64_t pack_raw(std::uint8_t op, std::uint8_t gen, std::uint64_t v) {
        return (std::uint64_t(op) << 56) | (std::uint64_t(gen) << 48) | (v & kObjMask);
    }
    static UserData unpack(std::uint64_t u) {
        return UserData{std::uint8_t(u >> 56), std::uint8_t(u >> 48), u & kObjMask};
    }
    template <typename T>
    T* ptr() const {
        return reinterpret_cast<T*>(obj);
    }
    static constexpr std::uint64_t kObjMask = (std::uint64_t(1) << 48) - 1;
};

}  // namespace es::shard
