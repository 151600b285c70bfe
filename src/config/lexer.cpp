// Lexer: physical lines -> words (HAProxy sections 2.2 quoting/escaping and 2.3 environment variables),
// and the preprocessor directives of section 2.4 (conditional blocks, message directives).
#include <algorithm>
#include <cstdlib>
#include <cctype>

#include "internal.hpp"

namespace es::config::detail {

namespace {

bool name_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Splits on blanks; used for ${VAR[*]}.
std::vector<std::string> split_blanks(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == ' ' || c == '\t') {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

class Splitter {
  public:
    Splitter(std::string_view line, const Location& at, const Env& env, std::string_view section)
        : line_(line), at_(at), env_(env), section_(section) {}

    std::vector<std::string> run() {
        while (i_ < line_.size()) {
            const char c = line_[i_];
            if (c == '\0') fail(at_, "the line contains a NUL byte");
            if (quote_ == '\'') {  // strong quoting: nothing is interpreted
                if (c == '\'') {
                    quote_ = 0;
                } else {
                    cur_ += c;
                }
                ++i_;
                continue;
            }
            if (c == '\\') {
                escape();
                continue;
            }
            if (quote_ == '"') {  // weak quoting: escapes and environment variables
                if (c == '"') {
                    quote_ = 0;
                    ++i_;
                } else if (c == '$') {
                    variable();
                } else {
                    cur_ += c;
                    ++i_;
                }
                continue;
            }
            if (c == ' ' || c == '\t') {
                end_word();
                ++i_;
                continue;
            }
            if (c == '#') break;
            if (c == '"' || c == '\'') {
                quote_ = c;
                quote_at_ = i_;
            } else {
                cur_ += c;
            }
            in_word_ = true;
            ++i_;
        }
        if (quote_ != 0)  // HAProxy's words, then ours
            fail(at_, "unmatched quote at position " + std::to_string(quote_at_ + 1) + ": unterminated " +
                          (quote_ == '"' ? "double" : "single") + " quote");
        end_word();
        return std::move(words_);
    }

  private:
    void end_word() {
        if (!in_word_) return;
        words_.push_back(std::move(cur_));
        cur_.clear();
        in_word_ = false;
    }

    void escape() {
        if (i_ + 1 >= line_.size())
            fail(at_, "the line ends with a backslash (there is no line continuation)");
        const char n = line_[i_ + 1];
        in_word_ = true;
        switch (n) {
            case ' ':
            case '\t':
            case '\\':
            case '#':
            case '\'':
            case '"':
            case '$':
                cur_ += n;
                break;
            case 'n':
                cur_ += '\n';
                break;
            case 'r':
                cur_ += '\r';
                break;
            case 't':
                cur_ += '\t';
                break;
            case 'x': {
                const int hi = i_ + 2 < line_.size() ? hex_value(line_[i_ + 2]) : -1;
                const int lo = i_ + 3 < line_.size() ? hex_value(line_[i_ + 3]) : -1;
                if (hi < 0 || lo < 0) fail(at_, "invalid escape: '\\x' expects two hexadecimal digits");
                if (hi == 0 && lo == 0) fail(at_, "'\\x00' would put a NUL byte in a word");
                cur_ += static_cast<char>(hi * 16 + lo);
                i_ += 4;
                return;
            }
            default:  // not an escape HAProxy knows: kept as written (regular expressions rely on it)
                cur_ += '\\';
                cur_ += n;
                break;
        }
        i_ += 2;
    }

    std::optional<std::string> lookup(const std::string& name) const {
        if (name == ".FILE") return at_.file;
        if (name == ".LINE") return std::to_string(at_.line);
        if (name == ".SECTION") return std::string(section_);
        return env_.get(name);
    }

    // At '$' inside double quotes: "$NAME", "${NAME}", "${NAME-default}", "${NAME[*]}".
    void variable() {
        in_word_ = true;
        std::size_t j = i_ + 1;
        const bool braced = j < line_.size() && line_[j] == '{';
        if (braced) ++j;
        const std::size_t name_begin = j;
        if (j < line_.size() && line_[j] == '.') ++j;  // pseudo-variables: .FILE .LINE .SECTION
        if (j >= line_.size() || !name_start(line_[j])) {
            if (braced) fail(at_, "invalid variable name after '${'");
            cur_ += '$';  // a lone dollar is kept (HAProxy does the same)
            ++i_;
            return;
        }
        while (j < line_.size() && name_char(line_[j])) ++j;
        const std::string name(line_.substr(name_begin, j - name_begin));
        std::optional<std::string> fallback;
        bool split = false;
        if (braced) {
            const auto close = line_.find('}', j);
            if (close == std::string_view::npos) fail(at_, "unterminated '${' (missing '}')");
            std::string_view rest = line_.substr(j, close - j);
            if (rest == "[*]") {
                split = true;
            } else if (!rest.empty() && rest.front() == '-') {
                fallback = std::string(rest.substr(1));
            } else if (!rest.empty()) {
                fail(at_, "invalid variable reference '${" + name + std::string(rest) + "}'");
            }
            j = close + 1;
        }
        i_ = j;
        auto value = lookup(name);
        if (!value && fallback) value = fallback;
        if (!value) return;  // an unset variable expands to nothing, as in HAProxy
        if (!split) {
            cur_ += *value;
            return;
        }
        const auto parts = split_blanks(*value);
        for (std::size_t k = 0; k < parts.size(); ++k) {
            if (k > 0) {
                words_.push_back(std::move(cur_));
                cur_.clear();
            }
            cur_ += parts[k];
        }
    }

    std::string_view line_;
    const Location& at_;
    const Env& env_;
    std::string_view section_;
    std::size_t i_ = 0;
    char quote_ = 0;
    std::size_t quote_at_ = 0;
    bool in_word_ = false;
    std::string cur_;
    std::vector<std::string> words_;
};

bool is_directive(const std::string& w) {
    return w.size() > 1 && w[0] == '.';
}

std::string join_from(const std::vector<std::string>& words, std::size_t from) {
    std::string s;
    for (std::size_t i = from; i < words.size(); ++i) {
        if (i > from) s += ' ';
        s += words[i];
    }
    return s;
}

// The version whose configuration language edgeshard follows: the version predicates answer as it would.
constexpr int kLangVersion[4] = {2, 6, 12, 0};
// The build features a file may test with feature(): what HAProxy 2.6 calls them, where edgeshard has them.
constexpr std::string_view kFeatures[] = {"OPENSSL", "PCRE2", "PCRE2_JIT", "LINUX_SPLICE", "CRYPT_H", "GETADDRINFO",
                                          "THREAD", "CPU_AFFINITY", "ACCEPT4", "PROMEX", "LIBCRYPT"};

// `v` against the version followed, in HAProxy's order (a.b.c.d, then -devN < -preN < -rcN < the release <
// its commits): -1 older, 0 the same, 1 newer; 2 when `v` cannot be read (HAProxy's compare_current_version:
// "at least" then holds, "before" does not).
int compare_version(std::string_view v) {
    int parts[4] = {0, 0, 0, 0};
    std::size_t i = 0;
    int k = 0;
    for (; k < 4; ++k) {
        if (i >= v.size() || v[i] < '0' || v[i] > '9') return 2;
        int n = 0;
        while (i < v.size() && v[i] >= '0' && v[i] <= '9') n = n * 10 + (v[i++] - '0');
        parts[k] = n;
        if (i >= v.size() || v[i] != '.') break;
        ++i;
    }
    int stage = 3, stage_n = 0;  // release
    if (i < v.size() && v[i] == '-') {
        std::string_view rest = v.substr(i + 1);
        if (rest.starts_with("dev")) stage = 0, rest.remove_prefix(3);
        else if (rest.starts_with("pre")) stage = 1, rest.remove_prefix(3);
        else if (rest.starts_with("rc")) stage = 2, rest.remove_prefix(2);
        for (char c : rest) {  // the stage's number, or after a release a commit count
            if (c < '0' || c > '9') break;
            stage_n = stage_n * 10 + (c - '0');
        }
    }
    for (int j = 0; j < 4; ++j)
        if (parts[j] != kLangVersion[j]) return parts[j] < kLangVersion[j] ? -1 : 1;
    if (stage != 3) return -1;  // a development stage of this very version comes before it
    return stage_n > 0 ? 1 : 0;  // commits after the release come after it
}

// Expression of HAProxy section 2.4: integers, predicates, '!', '(', ')', '&&' (binds tighter), '||'. Parsed
// whole before it is evaluated (an error anywhere counts), HAProxy's messages with 1-based positions.
class CondParser {
  public:
    CondParser(std::string text, const Location& at, const Env& env, std::string_view directive)
        : s_(std::move(text)), at_(at), env_(env), dir_(directive) {}

    bool run() {
        skip();
        if (p_ >= s_.size()) return false;  // an empty condition is false
        const bool v = expr();
        skip();
        if (p_ < s_.size())
            fail(at_, "unexpected character " + squote(s_.substr(p_, 1)) + " at the end of conditional expression " +
                          squote(s_) + where(p_));
        return v;
    }

  private:
    std::string where(std::size_t pos) const {
        return " in " + squote(dir_) + " at position " + std::to_string(pos + 1) + ":";
    }
    [[noreturn]] void unparsable(std::size_t pos) const {
        fail(at_, "unparsable conditional expression " + squote(s_.substr(pos)) + where(pos));
    }
    void skip() {
        while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t')) ++p_;
    }
    bool eat(std::string_view tok) {
        skip();
        if (s_.compare(p_, tok.size(), tok) == 0) {
            p_ += tok.size();
            return true;
        }
        return false;
    }
    bool expr() {
        bool v = term();
        for (;;) {
            skip();
            const std::size_t op = p_;
            if (!eat("||")) return v;
            skip();
            if (p_ >= s_.size()) unparsable(op);
            v = term() || v;  // both sides parsed: an error in either counts
        }
    }
    bool term() {
        bool v = factor();
        for (;;) {
            skip();
            const std::size_t op = p_;
            if (!eat("&&")) return v;
            skip();
            if (p_ >= s_.size()) unparsable(op);
            v = factor() && v;
        }
    }
    bool factor() {
        skip();
        if (++depth_ > 64) unparsable(p_);
        bool v = false;
        const std::size_t at = p_;
        if (eat("!")) {
            v = !factor();
        } else if (eat("(")) {
            v = expr();
            if (!eat(")")) fail(at_, "expected ')' after conditional expression " + squote(s_.substr(at)) + where(at));
        } else {
            v = atom();
        }
        --depth_;
        return v;
    }
    bool atom() {
        skip();
        const std::size_t b = p_;
        if (p_ < s_.size() && (s_[p_] == '-' || s_[p_] == '+' || (s_[p_] >= '0' && s_[p_] <= '9'))) {
            // a number, read as strtol(, 0) reads it
            const std::string rest = s_.substr(p_);
            char* end = nullptr;
            const long n = std::strtol(rest.c_str(), &end, 0);
            if (end == rest.c_str()) unparsable(b);
            p_ += std::size_t(end - rest.c_str());
            return n != 0;
        }
        while (p_ < s_.size() && (name_char(s_[p_]) || s_[p_] == '-' || s_[p_] == '.')) ++p_;
        const std::string word = s_.substr(b, p_ - b);
        if (word.empty() || p_ >= s_.size() || s_[p_] != '(') unparsable(b);
        const auto close = s_.find(')', p_);
        if (close == std::string::npos) unparsable(b);
        std::vector<std::string> args;
        std::string cur;
        for (std::size_t k = p_ + 1; k < close; ++k) {
            if (s_[k] == ',') {
                args.push_back(std::move(cur));
                cur.clear();
            } else {
                cur += s_[k];
            }
        }
        args.push_back(std::move(cur));
        for (auto& a : args) {  // spaces around arguments do not count
            while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.erase(0, 1);
            while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.pop_back();
        }
        p_ = close + 1;
        return predicate(word, args, b, close);
    }
    bool predicate(const std::string& name, std::vector<std::string> args, std::size_t at, std::size_t close) {
        std::size_t want = 0;
        if (name == "defined" || name == "feature" || name == "version_atleast" || name == "version_before") want = 1;
        else if (name == "streq" || name == "strneq") want = 2;
        else unparsable(at);
        if (args.size() == 1 && args[0].empty() && want == 2) args.clear();
        if (args.size() < want)
            fail(at_, "missing arguments (got " + std::to_string(args.size()) + "/" + std::to_string(want) +
                          "), type 'string' expected in argument 1 of predicate " + squote(name) +
                          " used in conditional expression" + where(close));
        if (name == "defined") return !args[0].empty() && env_.get(args[0]).has_value();
        if (name == "streq" || name == "strneq") return (args[0] == args[1]) == (name == "streq");
        if (name == "feature")
            return std::find(std::begin(kFeatures), std::end(kFeatures), args[0]) != std::end(kFeatures);
        const int c = compare_version(args[0]);  // 1: args[0] is newer than the version followed
        return name == "version_atleast" ? c != 1 : c == 1;
    }

    std::string s_;
    const Location& at_;
    const Env& env_;
    std::string dir_;
    std::size_t p_ = 0;
    int depth_ = 0;
};

}  // namespace

std::vector<std::string> split_words(std::string_view line, const Location& at, const Env& env,
                                     std::string_view section) {
    return Splitter(line, at, env, section).run();
}

LineReader::LineReader(const std::string& text, std::string file, const Env& env, std::vector<std::string>& warnings,
                       std::vector<std::string>& notices, bool diag)
    : text_(text), file_(std::move(file)), env_(env), warnings_(warnings), notices_(notices), diag_(diag) {}

bool LineReader::active() const {
    for (const auto& b : blocks_)
        if (!b.taking) return false;
    return true;
}

bool LineReader::next(Line& out, std::string_view section) {
    while (pos_ < text_.size()) {
        auto nl = text_.find('\n', pos_);
        if (nl == std::string::npos) nl = text_.size();
        std::string_view raw(text_.data() + pos_, nl - pos_);
        pos_ = nl + 1;
        ++line_no_;
        if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
        Line line{Location{file_, line_no_}, {}};
        line.words = split_words(raw, line.at, env_, section);  // even in a dropped block, as HAProxy's
        if (line.words.empty()) continue;
        if (is_directive(line.words[0])) {
            directive(line);
            continue;
        }
        if (!active()) continue;
        out = std::move(line);
        return true;
    }
    if (!blocks_.empty()) fail(Location{file_, line_no_}, "non-terminated '.if' block.");
    return false;
}

// HAProxy's directives: the block ones wherever they are (the 100th nested .if fails even in a dropped
// block), the report ones only in a taken block, one quoted message each.
void LineReader::directive(const Line& line) {
    const auto& d = line.words[0];
    auto no_arg = [&] {
        if (line.words.size() > 1)
            fail(line.at, "Unexpected argument " + squote(line.words[1]) + " for " + squote(d) + ".");
    };
    if (d == ".if") {
        if (blocks_.size() >= 99) fail(line.at, "too many nested '.if', max is 100.");
        const bool parent = active();
        const bool v = parent && eval_condition(line);
        blocks_.push_back(Block{line.at, v, v || !parent, false});
        return;
    }
    if (d == ".elif" || d == ".else" || d == ".endif") {
        if (d != ".elif") no_arg();
        if (blocks_.empty()) fail(line.at, "lone " + squote(d) + " with no matching '.if'.");
        auto& b = blocks_.back();
        if (d == ".endif") {
            blocks_.pop_back();
            return;
        }
        if (b.seen_else) fail(line.at, squote(d) + " after '.else' is not permitted.");
        if (d == ".else") {
            b.seen_else = true;
            b.taking = !b.done;
            b.done = true;
            return;
        }
        bool parent = true;
        for (std::size_t k = 0; k + 1 < blocks_.size(); ++k) parent = parent && blocks_[k].taking;
        b.taking = false;
        if (!b.done && parent && eval_condition(line)) {
            b.taking = true;
            b.done = true;
        }
        return;
    }
    if (!active()) return;
    if (d != ".diag" && d != ".notice" && d != ".warning" && d != ".alert") fail(line.at, "unknown directive " + squote(d) + ".");
    if (line.words.size() > 2)
        fail(line.at, "Unexpected argument " + squote(line.words[2]) + " for " + squote(d) +
                          ". Use quotes if the message should contain spaces.");
    const std::string msg = line.words.size() > 1 ? line.words[1] : std::string();
    const std::string text = "parsing [" + file_ + ":" + std::to_string(line.at.line) + "]: " + squote(msg) + ".";
    if (d == ".alert") fail(line.at, ".alert " + squote(msg) + ".");  // the load fails here, nothing after is read
    if (d == ".warning") warnings_.push_back(text);
    else if (d == ".notice") notices_.push_back("[NOTICE] " + text);
    else if (diag_) notices_.push_back("[DIAG] " + text);  // HAProxy's diagnostic mode (-dD) only
}

bool LineReader::eval_condition(const Line& line) {
    return CondParser(join_from(line.words, 1), line.at, env_, line.words[0]).run();
}

}  // namespace es::config::detail
