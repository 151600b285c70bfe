// Session ticket keys: HAProxy's key file, the process's rotating keys, and their handoff text
// (see tickets.hpp).
#include "edgeshard/tls/tickets.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace es::tls {

namespace {

std::shared_ptr<const TicketKeys> g_process_keys;

std::string base64(const unsigned char* p, std::size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    const int k = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, int(n));
    out.resize(std::size_t(k));
    return out;
}

// 48 bytes: name, AES-128 key, HMAC key (16 each); 80: name (16), AES-256 key (32), HMAC key (32).
bool key_from_bytes(const std::string& b, TicketKey& k) {
    if (b.size() != 48 && b.size() != 80) return false;
    k.aes256 = b.size() == 80;
    const std::size_t kl = k.aes256 ? 32 : 16;
    std::memcpy(k.name, b.data(), 16);
    std::memset(k.aes, 0, sizeof k.aes);
    std::memset(k.hmac, 0, sizeof k.hmac);
    std::memcpy(k.aes, b.data() + 16, kl);
    std::memcpy(k.hmac, b.data() + 16 + kl, kl);
    return true;
}

std::string key_bytes(const TicketKey& k) {
    const std::size_t kl = k.aes256 ? 32 : 16;
    std::string b(reinterpret_cast<const char*>(k.name), 16);
    b.append(reinterpret_cast<const char*>(k.aes), kl);
    b.append(reinterpret_cast<const char*>(k.hmac), kl);
    return b;
}

}  // namespace

bool base64_decode(std::string_view in, std::string& out) {
    while (!in.empty() && (in.back() == '\r' || in.back() == ' ' || in.back() == '\t')) in.remove_suffix(1);
    if (in.empty() || in.size() % 4 != 0) return false;
    for (char c : in)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return false;
    out.resize(in.size() / 4 * 3);
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
    if (n < 0) return false;
    std::size_t pad = 0;
    if (in.back() == '=') ++pad;
    if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
    out.resize(std::size_t(n) - pad);
    return true;
}

bool TicketKeys::load_file(const std::string& path, TicketKeys& out, std::string& error) {
    std::ifstream f(path);
    if (!f) {
        error = "cannot open ticket key file '" + path + "': " + std::strerror(errno);
        return false;
    }
    std::vector<TicketKey> all;
    std::string line, raw;
    int no = 0;
    while (std::getline(f, line)) {
        ++no;
        std::string_view l(line);
        while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) l.remove_prefix(1);
        if (l.empty() || l.front() == '#') continue;
        TicketKey k;
        if (!base64_decode(l, raw) || !key_from_bytes(raw, k)) {
            error = "ticket key file '" + path + "' line " + std::to_string(no) +
                    ": not a base64 key of 48 or 80 bytes (make one with: openssl rand 80 | openssl base64 -A)";
            return false;
        }
        if (!all.empty() && all.front().aes256 != k.aes256) {
            error = "ticket key file '" + path + "' line " + std::to_string(no) +
                    ": mixes 48-byte (AES-128) and 80-byte (AES-256) keys";
            return false;
        }
        all.push_back(k);
    }
    if (all.size() < kKept) {
        error = "ticket key file '" + path + "' holds " + std::to_string(all.size()) + " key(s): at least " +
                std::to_string(kKept) + " are needed (the last three are used, the penultimate seals new tickets)";
        return false;
    }
    out.keys.assign(all.end() - long(kKept), all.end());
    out.enc = kKept - 2;
    return true;
}

TicketKeys TicketKeys::rotate(const TicketKeys& previous) {
    TicketKeys t;
    TicketKey k;
    unsigned char raw[80];
    if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no randomness for session ticket keys");
    key_from_bytes(std::string(reinterpret_cast<const char*>(raw), sizeof raw), k);
    OPENSSL_cleanse(raw, sizeof raw);
    t.keys.push_back(k);
    if (!previous.keys.empty()) {
        t.keys.push_back(previous.keys[previous.enc]);
        for (std::size_t i = 0; i < previous.keys.size() && t.keys.size() < kKept; ++i)
            if (i != previous.enc) t.keys.push_back(previous.keys[i]);
    }
    t.enc = 0;
    return t;
}

std::string TicketKeys::encode() const {
    std::string o = std::to_string(enc);
    for (const TicketKey& k : keys) {
        const std::string b = key_bytes(k);
        o += ' ';
        o += base64(reinterpret_cast<const unsigned char*>(b.data()), b.size());
    }
    return o;
}

bool TicketKeys::decode(std::string_view text, TicketKeys& out) {
    TicketKeys t;
    std::size_t pos = 0;
    std::vector<std::string_view> words;
    while (pos < text.size()) {
        const std::size_t sp = text.find(' ', pos);
        const std::size_t end = sp == std::string_view::npos ? text.size() : sp;
        if (end > pos) words.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    if (words.size() < 2 || words.size() > 1 + kKept) return false;
    if (words[0].size() != 1 || words[0][0] < '0' || words[0][0] > '9') return false;
    t.enc = std::size_t(words[0][0] - '0');
    std::string raw;
    for (std::size_t i = 1; i < words.size(); ++i) {
        TicketKey k;
        if (!base64_decode(words[i], raw) || !key_from_bytes(raw, k)) return false;
        t.keys.push_back(k);
    }
    if (t.enc >= t.keys.size()) return false;
    out = std::move(t);
    return true;
}

const TicketKey* TicketKeys::find(const unsigned char* name) const {
    for (const TicketKey& k : keys)
        if (std::memcmp(k.name, name, 16) == 0) return &k;
    return nullptr;
}

void set_process_ticket_keys(std::shared_ptr<const TicketKeys> keys) {
    g_process_keys = std::move(keys);
}

const std::shared_ptr<const TicketKeys>& process_ticket_keys() {
    return g_process_keys;
}

}  // namespace es::tls
