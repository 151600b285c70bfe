// A shard's TLS session cache: resumption by session ID (TLS 1.2 clients that do not take
// tickets, and TLS 1.3 under `no-tls-tickets`, whose tickets are then cache references).
//
// One per shard, shared by all the shard's TLS binds (the session ID context tells binds apart:
// OpenSSL refuses a session from another bind). OpenSSL's own cache is off
// (SSL_SESS_CACHE_NO_INTERNAL): entries live here, so lookups and misses are counted where they
// happen (HAProxy's SslCacheLookups / SslCacheMisses) and the size is bounded by
// `tune.ssl.cachesize` (split between the shards; the least recently used entry goes first).
// Lifetimes (`tune.ssl.lifetime`) are OpenSSL's to check: an expired entry found here is refused
// by OpenSSL and removed through the remove callback.
// Tickets, which need no cache and work on every shard, are tickets.hpp.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>

#include "edgeshard/core/counter.hpp"

namespace es::tls {

class SessionCache {
public:
    // `lookups` / `misses`: the shard's counters (may be null in tests).
    SessionCache(std::size_t capacity, core::Counter* lookups, core::Counter* misses)
        : capacity_(capacity), lookups_(lookups), misses_(misses) {}
    ~SessionCache();
    SessionCache(const SessionCache&) = delete;
    SessionCache& operator=(const SessionCache&) = delete;

    // Makes `ctx` keep its server sessions here.
    void attach(SSL_CTX* ctx);
    std::size_t size() const { return map_.size(); }
    std::size_t capacity() const { return capacity_; }

private:
    static int on_new(SSL* ssl, SSL_SESSION* sess);
    static SSL_SESSION* on_get(SSL* ssl, const unsigned char* id, int len, int* copy);
    static void on_remove(SSL_CTX* ctx, SSL_SESSION* sess);
    struct Entry {
        SSL_SESSION* sess;
        std::list<std::string>::iterator lru;
    };
    using Map = std::unordered_map<std::string, Entry>;
    void erase(Map::iterator it);
    std::size_t capacity_;
    core::Counter* lookups_;
    core::Counter* misses_;
    Map map_;
    std::list<std::string> lru_;  // most recently used first
};

}  // namespace es::tls
