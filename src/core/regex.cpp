// PCRE2 behind core::Regex (see regex.hpp).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "edgeshard/core/regex.hpp"

#include <pcre2.h>

namespace es::core {

namespace {

// One match data per thread, sized for the whole match only (no captures are read).
pcre2_match_data* thread_match_data() {
    thread_local std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
        pcre2_match_data_create(1, nullptr), pcre2_match_data_free);
    return md.get();
}

}  // namespace

std::string Regex::compile(std::string_view pattern, bool icase) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     icase ? PCRE2_CASELESS : 0, &err, &off, nullptr);
    if (code == nullptr) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(err, buf, sizeof(buf));
        return std::string(reinterpret_cast<const char*>(buf)) + " at offset " + std::to_string(off);
    }
    // best effort: the interpreter matches the same; with the JIT, matches call it directly (pcre2_jit_match
    // skips pcre2_match's checks of arguments that are known good here)
    jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    code_ = std::shared_ptr<void>(code, [](void* c) { pcre2_code_free(static_cast<pcre2_code*>(c)); });
    return {};
}

bool Regex::search(std::string_view subject) const {
    if (!code_) return false;
    const auto* code = static_cast<const pcre2_code*>(code_.get());
    const auto* subj = reinterpret_cast<PCRE2_SPTR>(subject.data());
    const int rc = jit_ ? pcre2_jit_match(code, subj, subject.size(), 0, 0, thread_match_data(), nullptr)
                        : pcre2_match(code, subj, subject.size(), 0, 0, thread_match_data(), nullptr);
    return rc >= 0;
}

bool Regex::match(std::string_view subject, std::vector<std::string_view>& groups, bool notbol) const {
    groups.clear();
    if (!code_) return false;
    thread_local std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
        pcre2_match_data_create(10, nullptr), pcre2_match_data_free);
    const auto* code = static_cast<const pcre2_code*>(code_.get());
    const auto* subj = reinterpret_cast<PCRE2_SPTR>(subject.data());
    const std::uint32_t opts = notbol ? PCRE2_NOTBOL : 0;
    const int rc = jit_ ? pcre2_jit_match(code, subj, subject.size(), 0, opts, md.get(), nullptr)
                        : pcre2_match(code, subj, subject.size(), 0, opts, md.get(), nullptr);
    if (rc < 0) return false;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    for (int i = 0; i < (rc == 0 ? 10 : rc); ++i) {
        if (ov[2 * i] == PCRE2_UNSET) groups.emplace_back();
        else groups.push_back(subject.substr(ov[2 * i], ov[2 * i + 1] - ov[2 * i]));
    }
    return true;
}

}  // namespace es::core
