// Words, quoting, escaping, environment variables and conditional blocks.
#include <doctest/doctest.h>
#include <stdlib.h>

#include "../../../src/config/internal.hpp"
#include "helpers.hpp"

using es::config::ConfigError;
using es::config::Location;
using es::config::detail::Env;
using es::config::detail::split_words;
using es::config::test::error_of;
using es::config::test::expect_error;
using es::config::test::has_warning;
using es::config::test::kTail;
using es::config::test::load;
using Words = std::vector<std::string>;

namespace {

Words words(const std::string& line, const Env& env = Env()) {
    return split_words(line, Location{"w.cfg", 7}, env, "sect");
}

std::string split_error(const std::string& line) {
    try {
        words(line);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "<no error>";
}

}  // namespace

TEST_CASE("lexer: blanks separate words, '#' starts a comment") {
    CHECK(words("  server  s1\t127.0.0.1:80   weight 3 ") ==
          Words{"server", "s1", "127.0.0.1:80", "weight", "3"});
    CHECK(words("bind :80 # the web") == Words{"bind", ":80"});
    CHECK(words("bind :80#glued") == Words{"bind", ":80"});
    CHECK(words("   # only a comment").empty());
    CHECK(words("").empty());
}

TEST_CASE("lexer: backslash escapes") {
    CHECK(words(R"(a\ b c)") == Words{"a b", "c"});
    CHECK(words(R"(a\#b)") == Words{"a#b"});
    CHECK(words(R"(a\\b)") == Words{R"(a\b)"});
    CHECK(words(R"(\'x\")") == Words{R"('x")"});
    CHECK(words(R"(\x41\x42)") == Words{"AB"});
    CHECK(words(R"(a\tb)") == Words{"a\tb"});
    CHECK(words(R"(^\d+$)") == Words{R"(^\d+$)"});  // unknown escapes are kept for regular expressions
}

TEST_CASE("lexer: quotes group and concatenate") {
    CHECK(words(R"(description "two words" 'and three here')") ==
          Words{"description", "two words", "and three here"});
    CHECK(words(R"("a"b'c' d)") == Words{"abc", "d"});
    CHECK(words(R"(x "" y)") == Words{"x", "", "y"});
    CHECK(words(R"("# not a comment")") == Words{"# not a comment"});
    CHECK(words(R"('\n $HOME stays')") == Words{R"(\n $HOME stays)"});
    CHECK(words(R"("\"q\"")") == Words{R"("q")"});
    CHECK(words(R"("it's")") == Words{"it's"});
}

TEST_CASE("lexer: environment variables only within double quotes") {
    Env env;
    env.set("ES_T_ADDR", "10.0.0.1");
    env.set("ES_T_LIST", "a b  c");
    env.set("ES_T_EMPTY", "");
    CHECK(words(R"(x "$ES_T_ADDR:80")", env) == Words{"x", "10.0.0.1:80"});
    CHECK(words(R"(x "${ES_T_ADDR}:80")", env) == Words{"x", "10.0.0.1:80"});
    CHECK(words(R"(x $ES_T_ADDR)", env) == Words{"x", "$ES_T_ADDR"});
    CHECK(words(R"(x '$ES_T_ADDR')", env) == Words{"x", "$ES_T_ADDR"});
    CHECK(words(R"(x "\$ES_T_ADDR")", env) == Words{"x", "$ES_T_ADDR"});
    CHECK(words(R"(x "${ES_T_UNSET_VAR}")", env) == Words{"x", ""});
    CHECK(words(R"(x "${ES_T_UNSET_VAR-dflt}")", env) == Words{"x", "dflt"});
    CHECK(words(R"(x "${ES_T_EMPTY-dflt}")", env) == Words{"x", ""});  // default replaces unset only
    CHECK(words(R"(x "${ES_T_LIST[*]}" y)", env) == Words{"x", "a", "b", "c", "y"});
    CHECK(words(R"(x "cost: $5")", env) == Words{"x", "cost: $5"});
    CHECK(words(R"(x "${.FILE}:${.LINE} ${.SECTION}")", env) == Words{"x", "w.cfg:7 sect"});
}

TEST_CASE("lexer: the real environment is read, the overlay wins") {
    ::setenv("ES_T_FROM_PROCESS", "proc", 1);
    Env env;
    CHECK(words(R"("$ES_T_FROM_PROCESS")", env) == Words{"proc"});
    env.set("ES_T_FROM_PROCESS", "overlay");
    CHECK(words(R"("$ES_T_FROM_PROCESS")", env) == Words{"overlay"});
    env.unset("ES_T_FROM_PROCESS");
    CHECK(words(R"("$ES_T_FROM_PROCESS")", env) == Words{""});
    ::unsetenv("ES_T_FROM_PROCESS");
}

TEST_CASE("lexer: errors name file and line") {
    CHECK(split_error(R"(x "open)").rfind("w.cfg:7: unmatched quote at position 3: unterminated double quote", 0) == 0);
    CHECK(split_error("x 'open").rfind("w.cfg:7: unmatched quote at position 3: unterminated single quote", 0) == 0);
    CHECK(split_error("x \\").rfind("w.cfg:7: the line ends with a backslash", 0) == 0);
    CHECK(split_error(R"(x \x4)").find("two hexadecimal digits") != std::string::npos);
    CHECK(split_error(R"(x \x00)").find("NUL") != std::string::npos);
    CHECK(split_error(std::string("x\0y", 3)).find("NUL") != std::string::npos);
    CHECK(split_error(R"(x "${UNCLOSED")").find("missing '}'") != std::string::npos);
    CHECK(split_error(R"(x "${1BAD}")").find("invalid variable name") != std::string::npos);
}

TEST_CASE("lexer: CRLF line endings") {
    const auto cfg = load(
        "global\r\n    maxconn 100\r\ndefaults\r\n    timeout client 1s\r\n    timeout connect 1s\r\n"
        "    timeout server 1s\r\nlisten l\r\n    bind 127.0.0.1:1\r\n");
    CHECK(cfg.global.maxconn == 100);
}

TEST_CASE("setenv/presetenv/unsetenv/resetenv change later expansions") {
    const auto cfg = load(
        "global\n"
        "    setenv ES_T_PORT 10101\n"
        "    presetenv ES_T_PORT 1\n"  // already set: kept
        "    presetenv ES_T_OTHER 10102\n"
        "    unsetenv ES_T_GONE\n"
        "frontend f\n"
        "    bind \"127.0.0.1:${ES_T_PORT}\",\"127.0.0.1:$ES_T_OTHER\"\n"
        "    bind \"127.0.0.1:${ES_T_GONE-10103}\"\n"
        "    timeout client 1s\n"
        "    default_backend b\n"
        "backend b\n    timeout connect 1s\n    timeout server 1s\n");
    REQUIRE(cfg.frontends.size() == 1);
    REQUIRE(cfg.frontends[0].binds.size() == 3);
    CHECK(cfg.frontends[0].binds[0].addr.port() == 10101);
    CHECK(cfg.frontends[0].binds[1].addr.port() == 10102);
    CHECK(cfg.frontends[0].binds[2].addr.port() == 10103);

    ::setenv("ES_T_KEEP", "1", 1);
    ::setenv("ES_T_DROP", "1", 1);
    const auto text =
        "global\n    resetenv ES_T_KEEP\n"
        ".if defined(ES_T_DROP)\n    .alert \"dropped variable still visible\"\n.endif\n"
        ".if !defined(ES_T_KEEP)\n    .alert \"kept variable lost\"\n.endif\n" +
        kTail;
    CHECK(error_of(text) == "<no error>");
    ::unsetenv("ES_T_KEEP");
    ::unsetenv("ES_T_DROP");
}

TEST_CASE("conditional blocks") {
    const auto cfg = load(
        "global\n"
        ".if 0\n"
        "    maxconn 1\n"
        ".elif streq(a,b)\n"
        "    maxconn 2\n"
        ".elif 1 && !strneq(x,x)\n"
        "    maxconn 3\n"
        "  .if (0 || 1) && 2\n"
        "    nbthread 4\n"
        "  .else\n"
        "    nbthread 5\n"
        "  .endif\n"
        ".else\n"
        "    maxconn 4\n"
        ".endif\n"
        ".if\n"  // an empty condition is false
        "    this line is never parsed\n"
        ".endif\n"
        ".warning \"from the config\"\n" +
        kTail);
    CHECK(cfg.global.maxconn == 3);
    CHECK(cfg.global.nbthread == 4);
    CHECK(has_warning(cfg, {"parsing [t.cfg:19]: 'from the config'."}));
}

TEST_CASE("conditional blocks: errors, HAProxy's messages") {
    expect_error("global\n.alert \"stop here\"\n" + kTail, 2, {".alert 'stop here'."});
    expect_error("global\n.endif\n" + kTail, 2, {"lone '.endif' with no matching '.if'."});
    expect_error("global\n.else\n" + kTail, 2, {"lone '.else' with no matching '.if'."});
    expect_error("global\n.if 1\n" + kTail, 12, {"non-terminated '.if' block."});  // the file's last line
    expect_error("global\n.if 1\n.else\n.else\n.endif\n" + kTail, 4, {"'.else' after '.else' is not permitted."});
    expect_error("global\n.if yes\n.endif\n" + kTail, 2, {"unparsable conditional expression 'yes' in '.if' at position 1:"});
    expect_error("global\n.if (1\n.endif\n" + kTail, 2, {"expected ')' after conditional expression '(1'"});
    expect_error("global\n.if bogus(1)\n.endif\n" + kTail, 2, {"unparsable conditional expression 'bogus(1)'"});
    expect_error("global\n.if streq(a)\n.endif\n" + kTail, 2, {"missing arguments (got 1/2)", "predicate 'streq'"});
    expect_error("global\n.notice two words\n" + kTail, 2, {"Unexpected argument 'words' for '.notice'."});
    expect_error("global\n.foo\n" + kTail, 2, {"unknown directive '.foo'."});
}

TEST_CASE("conditional blocks: the version and features of the language followed (HAProxy 2.6.12)") {
    const auto cfg = load(
        "global\n"
        ".if version_atleast(2.6) && version_atleast(2.6.12) && !version_atleast(2.6.13) && version_before(2.7-dev0)\n"
        "    maxconn 1\n"
        ".endif\n"
        ".if version_atleast(garbage) && !version_before(garbage) && version_atleast(2.6.12-dev3)\n"
        "    nbthread 2\n"
        ".endif\n"
        ".if feature(OPENSSL) && !feature(openssl) && !feature(QUIC) && !feature(LUA)\n"
        ".notice \"features\"\n"
        ".endif\n" +
        kTail);
    CHECK(cfg.global.maxconn == 1);
    CHECK(cfg.global.nbthread == 2);
    REQUIRE(cfg.notices.size() == 1);
    CHECK(cfg.notices[0] == "[NOTICE] parsing [t.cfg:9]: 'features'.");
}
