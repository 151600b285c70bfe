// tls::SessionCache: a shard's session-ID cache on OpenSSL's external cache callbacks
// (see session_cache.hpp).
#include "edgeshard/tls/session_cache.hpp"

namespace es::tls {

namespace {

int cache_index() {
    static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return idx;
}

SessionCache* cache_of(SSL_CTX* ctx) {
    return static_cast<SessionCache*>(SSL_CTX_get_ex_data(ctx, cache_index()));
}

std::string key_of(const unsigned char* id, unsigned len) {
    return std::string(reinterpret_cast<const char*>(id), len);
}

}  // namespace

SessionCache::~SessionCache() {
    for (auto& [id, e] : map_) SSL_SESSION_free(e.sess);
}

void SessionCache::attach(SSL_CTX* ctx) {
    SSL_CTX_set_ex_data(ctx, cache_index(), this);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, on_new);
    SSL_CTX_sess_set_get_cb(ctx, on_get);
    SSL_CTX_sess_set_remove_cb(ctx, on_remove);
}

int SessionCache::on_new(SSL* ssl, SSL_SESSION* sess) {
    // TLS 1.3 with stateless tickets: the session travels in the ticket and its ID is a dummy;
    // OpenSSL still reports it, there is nothing to keep
    if (SSL_version(ssl) >= TLS1_3_VERSION && !(SSL_get_options(ssl) & SSL_OP_NO_TICKET)) return 0;
    SessionCache* c = cache_of(SSL_get_SSL_CTX(ssl));
    if (!c || c->capacity_ == 0) return 0;
    unsigned len = 0;
    const unsigned char* id = SSL_SESSION_get_id(sess, &len);
    if (len == 0) return 0;
    std::string key = key_of(id, len);
    if (const auto old = c->map_.find(key); old != c->map_.end()) c->erase(old);
    while (c->map_.size() >= c->capacity_ && !c->lru_.empty()) c->erase(c->map_.find(c->lru_.back()));
    c->lru_.push_front(key);
    c->map_.emplace(std::move(key), Entry{sess, c->lru_.begin()});
    return 1;  // the reference OpenSSL gave is ours now
}

SSL_SESSION* SessionCache::on_get(SSL* ssl, const unsigned char* id, int len, int* copy) {
    *copy = 0;
    SessionCache* c = cache_of(SSL_get_SSL_CTX(ssl));
    if (!c || len <= 0) return nullptr;
    if (c->lookups_) c->lookups_->inc();
    const auto it = c->map_.find(key_of(id, unsigned(len)));
    if (it == c->map_.end()) {
        if (c->misses_) c->misses_->inc();
        return nullptr;
    }
    c->lru_.splice(c->lru_.begin(), c->lru_, it->second.lru);
    *copy = 1;  // OpenSSL takes its own reference; the cache keeps one
    return it->second.sess;
}

void SessionCache::on_remove(SSL_CTX* ctx, SSL_SESSION* sess) {
    SessionCache* c = cache_of(ctx);
    if (!c) return;
    unsigned len = 0;
    const unsigned char* id = SSL_SESSION_get_id(sess, &len);
    const auto it = c->map_.find(key_of(id, len));
    if (it != c->map_.end() && it->second.sess == sess) c->erase(it);
}

void SessionCache::erase(Map::iterator it) {
    SSL_SESSION* s = it->second.sess;
    lru_.erase(it->second.lru);
    map_.erase(it);
    SSL_SESSION_free(s);
}

}  // namespace es::tls
