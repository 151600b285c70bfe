// Lexer: physical lines -> words (HAProxy sections 2.2 quoting/escaping and 2.3 environment variables),
// and the preprocessor directives of section 2.4 (conditional blocks, message directives).
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
            if (c == '"' || c == '\'')
                quote_ = c;
            else
                cur_ += c;
            in_word_ = true;
            ++i_;
        }
        if (quote_ != 0)
            fail(at_, std::string("unterminated ") + (quote_ == '"' ? "double" : "single") + " quote");
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
    bool in_word_ = false;
    std::string cur_;
    std::vector<std::string> words_;
};

bool is_directive(const std::string& w) {
    return w == ".if" || w == ".elif" || w == ".else" || w == ".endif" || w == ".diag" || w == ".notice" ||
           w == ".warning" || w == ".alert";
}

std::string join_from(const std::vector<std::string>& words, std::size_t from) {
    std::string s;
    for (std::size_t i = from; i < words.size(); ++i) {
        if (i > from) s += ' ';
        s += words[i];
    }
    return s;
}

// Expression of HAProxy section 2.4: integers, predicates, '!', '(', ')', '&&' (binds tighter), '||'.
class CondParser {
  public:
    CondParser(std::string text, const Location& at, const Env& env)
        : s_(std::move(text)), at_(at), env_(env) {}

    bool run() {
        skip();
        if (p_ >= s_.size()) return false;  // an empty condition is false
        const bool v = expr();
        skip();
        if (p_ < s_.size()) bad("unexpected " + squote(s_.substr(p_)));
        return v;
    }

  private:
    [[noreturn]] void bad(const std::string& why) const {
        fail(at_, "cannot evaluate condition " + squote(s_) + ": " + why);
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
        while (eat("||")) v = term() || v;  // evaluate both: errors in either side must surface
        return v;
    }
    bool term() {
        bool v = factor();
        while (eat("&&")) v = factor() && v;
        return v;
    }
    bool factor() {
        if (++depth_ > 64) bad("too deeply nested");
        bool v = false;
        if (eat("!")) {
            v = !factor();
        } else if (eat("(")) {
            v = expr();
            if (!eat(")")) bad("missing ')'");
        } else {
            v = atom();
        }
        --depth_;
        return v;
    }
    bool atom() {
        skip();
        const std::size_t b = p_;
        while (p_ < s_.size() && (name_char(s_[p_]) || s_[p_] == '-' || s_[p_] == '.')) ++p_;
        const std::string word = s_.substr(b, p_ - b);
        if (word.empty()) bad(p_ < s_.size() ? "unexpected " + squote(s_.substr(p_, 1)) : "missing term");
        if (p_ >= s_.size() || s_[p_] != '(') {
            const auto n = parse_integer(word);
            if (!n) bad(squote(word) + " is neither an integer nor a predicate");
            return *n != 0;
        }
        ++p_;
        const auto close = s_.find(')', p_);
        if (close == std::string::npos) bad("missing ')' after " + squote(word + "("));
        std::vector<std::string> args;
        std::string cur;
        for (std::size_t k = p_; k < close; ++k) {
            if (s_[k] == ',') {
                args.push_back(std::move(cur));
                cur.clear();
            } else {
                cur += s_[k];
            }
        }
        args.push_back(std::move(cur));
        p_ = close + 1;
        return predicate(word, args);
    }
    bool predicate(const std::string& name, const std::vector<std::string>& args) {
        auto want = [&](std::size_t n) {
            if (args.size() != n) bad(squote(name) + " takes " + std::to_string(n) + " argument(s)");
        };
        if (name == "defined") {
            want(1);
            return env_.get(args[0]).has_value();
        }
        if (name == "streq" || name == "strneq") {
            want(2);
            return (args[0] == args[1]) == (name == "streq");
        }
        if (name == "feature" || name == "version_atleast" || name == "version_before" || name == "enabled")
            bad(squote(name + "()") + " tests HAProxy's own build or version and edgeshard is not HAProxy; " +
                "test an environment variable with defined() or streq() instead");
        bad("unknown predicate " + squote(name) + " (supported: defined, streq, strneq)");
    }

    std::string s_;
    const Location& at_;
    const Env& env_;
    std::size_t p_ = 0;
    int depth_ = 0;
};

}  // namespace

std::vector<std::string> split_words(std::string_view line, const Location& at, const Env& env,
                                     std::string_view section) {
    return Splitter(line, at, env, section).run();
}

LineReader::LineReader(const std::string& text, std::string file, const Env& env,
                       std::vector<std::string>& warnings)
    : text_(text), file_(std::move(file)), env_(env), warnings_(warnings) {}

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
        line.words = split_words(raw, line.at, env_, section);
        if (line.words.empty()) continue;
        if (is_directive(line.words[0])) {
            directive(line);
            continue;
        }
        if (!active()) continue;
        out = std::move(line);
        return true;
    }
    if (!blocks_.empty()) fail(blocks_.back().at, "'.if' without a matching '.endif'");
    return false;
}

void LineReader::directive(const Line& line) {
    const auto& d = line.words[0];
    if (d == ".if") {
        const bool parent = active();
        const bool v = parent && eval_condition(line);
        blocks_.push_back(Block{line.at, v, v || !parent, false});
        return;
    }
    if (d == ".elif" || d == ".else" || d == ".endif") {
        if (blocks_.empty()) fail(line.at, squote(d) + " without a matching '.if'");
        auto& b = blocks_.back();
        if (d == ".endif") {
            no_more_args(line, 1, d);
            blocks_.pop_back();
            return;
        }
        if (b.seen_else) fail(line.at, squote(d) + " after '.else' (opened at " + where_text(b.at) + ")");
        if (d == ".else") {
            no_more_args(line, 1, d);
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
    const auto msg = join_from(line.words, 1);
    if (d == ".alert") fail(line.at, ".alert: " + msg);
    if (d == ".warning" || d == ".notice") warnings_.push_back(where_text(line.at) + ": " + d + ": " + msg);
    // .diag only speaks in HAProxy's diagnostic mode (-dD), which we do not have.
}

bool LineReader::eval_condition(const Line& line) {
    return CondParser(join_from(line.words, 1), line.at, env_).run();
}

}  // namespace es::config::detail
