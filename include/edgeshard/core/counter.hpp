// Single-writer counters: the owning shard is the only writer, any thread may read.
// An update is a relaxed load + relaxed store of a std::atomic, which compiles to a plain
// mov/add/mov (no lock prefix); readers use relaxed loads and never see a torn 64-bit value on
// x86-64 or arm64. The atomic type keeps the concurrent read defined behaviour.
#pragma once

#include <atomic>
#include <cstdint>

namespace es::core {

class Counter {
public:
    void add(std::uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void inc() { add(1); }
    std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }
    void set(std::uint64_t n) { v_.store(n, std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

// A level (current sessions, used objects): goes up and down, may not go below zero by contract.
class Gauge {
public:
    void add(std::int64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void inc() { add(1); }
    void dec() { add(-1); }
    void set(std::int64_t n) { v_.store(n, std::memory_order_relaxed); }
    std::int64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> v_{0};
};

// Highest value seen (smax): updated by the writer after it raises the matching gauge.
class MaxGauge {
public:
    void update(std::int64_t n) {
        if (n > v_.load(std::memory_order_relaxed)) v_.store(n, std::memory_order_relaxed);
    }
    std::int64_t get() const { return v_.load(std::memory_order_relaxed); }
    void set(std::int64_t n) { v_.store(n, std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> v_{0};
};

}  // namespace es::core
