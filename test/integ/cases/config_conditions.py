#!/usr/bin/env python3
"""Conditional blocks in the configuration (`.if` / `.elif` / `.else` / `.endif`) and the report
directives `.diag` / `.notice` / `.warning` / `.alert`, as HAProxy 2.6 has them.

1. Run time: a configuration whose listeners and `http-request return` rules come from conditional
   blocks (nested; `defined()`, `streq()`, `strneq()`, `version_atleast()`, `version_before()`,
   `feature()` of an unknown name, numbers, `!`, `&&` over `||`, parentheses, an empty condition,
   environment variables in double quotes "$VAR" / "${VAR}"); what a dropped block holds is never
   parsed (an unknown keyword there is fine); a listener inside a false block does not exist.
2. -c: the report directives (level, file:line, the message with environment variables expanded;
   `.diag` only with -dD; `.warning` -> "Warnings were found.", still valid; `.alert` fails the load
   and stops parsing there; inside a false block they say nothing), then the errors with their
   messages and line numbers: an unterminated `.if` (reported on the file's last line), a lone
   `.else` / `.elif` / `.endif`, `.elif` / `.else` after `.else`, an argument after `.else` / `.endif`,
   unknown predicates, a bare word, trailing characters, a missing ')', a predicate missing an
   argument, an unquoted $VAR (not expanded), 100 nested levels (99 are fine), an unknown
   directive; errors inside a false block are ignored, except a line that cannot be tokenized
   (unmatched quote), and the whole condition is parsed even when `||` would short-circuit.
Exact version / feature answers of HAProxy 2.6.12 are checked against the peer only.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
ENV = {"ESC_MODE": "green", "ESC_ONE": "1", "ESC_ZERO": "0", "ESC_EMPTY": ""}


def ret(text, cond=""):
    return f'http-request return status 200 content-type text/plain string "{text}"' + (f" if {cond}" if cond else "")


def get_body(port, path="/"):
    c = eslib.HttpClient(port)
    try:
        r = c.request("GET", path)
        return r.status, r.body.decode(errors="replace")
    finally:
        c.close()


def run_check(h, text, extra_args=(), name="c.cfg"):
    """Runs `-c` on `text` (with ENV set); returns (rc, combined output)."""
    env = dict(os.environ, **ENV)
    env.pop("ESC_UNDEF", None)
    p = h.run_cmd([os.environ["EDGESHARD_BIN"], "-c", *extra_args, "-f", h.write(name, text)], timeout=30, env=env)
    return p.returncode, p.stdout + p.stderr


def has_line(out, lineno, name="c.cfg"):
    return f"{name}:{lineno}]" in out or f"{name}:{lineno}:" in out


def line_of(text, needle, nth=1):
    """1-based number of the nth line whose stripped text equals `needle`."""
    hits = [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip() == needle.strip()]
    check(len(hits) >= nth, f"test bug: {needle!r} occurs {len(hits)} times")
    return hits[nth - 1]


def main(h):
    for k, v in ENV.items():
        os.environ[k] = v  # the proxy under test inherits the environment
    os.environ.pop("ESC_UNDEF", None)
    p1, p2, p3, p4 = (eslib.free_port() for _ in range(4))
    base = eslib.http_global(None) + eslib.http_defaults() + "\n"
    cfg = base + f"""\
.if defined(ESC_MODE) && !defined(ESC_UNDEF)
listen a
    bind {L}:{p1}
  .if streq("$ESC_MODE",blue)
    {ret("blue")}
  .elif streq("${{ESC_MODE}}",green)
    .if "$ESC_ZERO"
    {ret("green-zero")}
    .elif "$ESC_ONE"
    {ret("green-one")}
    .else
    {ret("green-else")}
    .endif
  .else
    {ret("other")}
  .endif
.endif

.if defined(ESC_UNDEF)
listen b
    bind {L}:{p2}
.endif

listen c
    bind {L}:{p3}
.if 0
    {ret("zero")}
    this is not a keyword at all
    .foo "unknown directive in a dropped block"
    .alert "an alert in a dropped block"
.elif
    {ret("empty-elif")}
.elif "$ESC_EMPTY"
    {ret("empty-env")}
.elif "$ESC_UNDEF"
    {ret("undefined-env")}
.elif 0x10 && ! ! 1 && (0 || -1)
    {ret("numbers")}
.else
    {ret("else")}
.endif

listen d
    bind {L}:{p4}
.if 0 && 1 || 1 && 1 # && binds tighter than ||
    {ret("prec", "{ path /prec }")}
.endif
.if !(1 && 0) && (0 || 1)
    {ret("paren", "{ path /paren }")}
.endif
.if strneq("$ESC_MODE",blue) && !strneq(a,a) && streq(,) && streq("a b","a b")
    {ret("str", "{ path /str }")}
.endif
.if version_atleast(0.1) && version_before(1000) && !version_atleast(1000) && !version_before(0.1)
    {ret("version", "{ path /version }")}
.endif
.if feature(ES_NO_SUCH_FEATURE)
    {ret("feature", "{ path /feature }")}
.endif
.if defined(ESC_EMPTY) && !defined(ESC_UNDEF)
    {ret("defined", "{ path /defined }")}
.endif
.if 1
  .if 0
  .elif 1
    .if 1
      .if 0
      .else
    {ret("nested", "{ path /nested }")}
      .endif
    .endif
  .else
    {ret("nested-wrong", "{ path /nested }")}
  .endif
.endif
    http-request return status 404 content-type text/plain string "none"
"""
    eslib.start_proxy(h, cfg, ports=[p1, p3, p4])

    # ------------------------------------------------------------------ 1. run time
    check_eq(get_body(p1), (200, "green-one"), "1: nested .if/.elif on \"$VAR\" / \"${VAR}\": the taken branch")
    check(eslib.port_is_free(p2), "1: `listen b` inside `.if defined(ESC_UNDEF)` does not exist (its port is free)")
    check_eq(get_body(p3), (200, "numbers"),
             "1: .if 0 / empty .elif / \"\" / undefined \"$VAR\" are false, `0x10 && ! ! 1 && (0 || -1)` true")
    for path, body in (("/prec", "prec"), ("/paren", "paren"), ("/str", "str"), ("/version", "version"),
                       ("/defined", "defined"), ("/nested", "nested")):
        check_eq(get_body(p4, path), (200, body), f"1: {path}")
    check_eq(get_body(p4, "/feature"), (404, "none"), "1: feature() of an unknown name is false")
    log("1: the configuration built by the conditional blocks serves as expected")

    # ------------------------------------------------------------------ 2. -c: report directives
    tail = eslib.section("listen l", f"bind {L}:{eslib.free_port()}")
    text = base + """\
.if 1
.notice "one"
.endif
.if 0
.notice "zero"
.warning "zero"
.elif 1
.notice "elif-one"
.else
.notice "else"
.endif
.if
.notice "empty"
.else
.notice "empty-else"
.endif
.notice "x=$ESC_ONE y=${ESC_ZERO} q='$ESC_MODE'"
.notice 'single $ESC_ONE'
.diag "diag here"
.warning "warn here"
""" + tail
    rc, out = run_check(h, text)
    check(rc == 0 and "Configuration file is valid" in out, f"2: notices/warning: valid, rc 0: rc={rc} {out!r}")
    for msg, needle, level in (("one", ".notice \"one\"", "NOTICE"), ("elif-one", ".notice \"elif-one\"", "NOTICE"),
                               ("empty-else", ".notice \"empty-else\"", "NOTICE"),
                               ("x=1 y=0 q='green'", ".notice \"x=$ESC_ONE y=${ESC_ZERO} q='$ESC_MODE'\"", "NOTICE"),
                               ("single $ESC_ONE", ".notice 'single $ESC_ONE'", "NOTICE"),
                               ("warn here", ".warning \"warn here\"", "WARNING")):
        n = line_of(text, needle)
        hit = [ln for ln in out.splitlines() if f"'{msg}'" in ln]
        check(len(hit) == 1 and has_line(hit[0], n) and level in hit[0].upper(),
              f"2: {level} '{msg}' reported once with c.cfg:{n}: {hit!r} in {out!r}")
    for msg in ("'zero'", "'else'", "'empty'", "'diag here'"):
        check(msg not in out, f"2: {msg} is not printed: {out!r}")
    check("Warnings were found." in out, f"2: `.warning` -> 'Warnings were found.': {out!r}")
    n_one = line_of(text, '.notice "one"')
    exact = f"c.cfg:{n_one}]: 'one'."
    check(exact in out, f"2: HAProxy's wording {exact!r}: {out!r}")
    rc, out = run_check(h, text, extra_args=("-dD",))
    hit = [ln for ln in out.splitlines() if "'diag here'" in ln]
    check(rc == 0 and len(hit) == 1 and has_line(hit[0], line_of(text, '.diag "diag here"')) and "DIAG" in hit[0].upper(),
          f"2: .diag printed with -dD only: {out!r}")
    log("2: .notice/.warning/.diag: level, file:line, \"$VAR\" expanded (not in single quotes)")

    text = base + '.alert "stop here"\nthis keyword is never parsed\n' + tail
    rc, out = run_check(h, text)
    check(rc != 0 and "Configuration file is valid" not in out, f"2: .alert fails the load: rc={rc} {out!r}")
    check(has_line(out, line_of(text, '.alert "stop here"')) and "'stop here'" in out and "ALERT" in out.upper(),
          f"2: .alert message with its line: {out!r}")
    check("this" not in out and "unknown keyword" not in out, f"2: parsing stops at .alert (the next line is not read): {out!r}")
    text = base + '.if 0\n.alert "not here"\n.endif\n' + tail
    rc, out = run_check(h, text)
    check(rc == 0 and "not here" not in out, f"2: .alert inside a false block: nothing: rc={rc} {out!r}")
    for d in (".alert", ".warning", ".notice", ".diag"):
        text = base + f"{d} two words\n" + tail
        rc, out = run_check(h, text)
        check(rc != 0 and has_line(out, line_of(text, f"{d} two words"))
              and f"Unexpected argument 'words' for '{d}'. Use quotes if the message should contain spaces." in out,
              f"2: {d} with two words: rc={rc} {out!r}")
    log("2: .alert fails the load and stops parsing; unquoted messages with spaces are refused")

    # ------------------------------------------------------------------ 3. -c: errors
    def refused(body, at, fragments, what, name="c.cfg"):
        """body is inserted after the defaults; `at` is a line text (first occurrence) or 'last'."""
        text = base + body + tail
        lineno = len(text.splitlines()) if at == "last" else line_of(text, at)
        rc, out = run_check(h, text, name=name)
        check(rc != 0 and "Configuration file is valid" not in out, f"3: {what}: refused (rc={rc}): {out!r}")
        check(has_line(out, lineno, name), f"3: {what}: the message names {name}:{lineno}: {out!r}")
        for f in fragments:
            check(f in out, f"3: {what}: {f!r} in {out!r}")
        return out

    refused(".if 1\n", "last", ["non-terminated '.if' block."], "unterminated .if (reported at the last line)")
    refused(".else\n", ".else", ["lone '.else' with no matching '.if'."], "lone .else")
    refused(".elif 1\n", ".elif 1", ["lone '.elif' with no matching '.if'."], "lone .elif")
    refused(".endif\n", ".endif", ["lone '.endif' with no matching '.if'."], "lone .endif")
    refused(".if 1\n.else\n.elif 1\n.endif\n", ".elif 1", ["'.elif' after '.else' is not permitted."], ".elif after .else")
    text_ee = ".if 0\n.else\n.else #2\n.endif\n"
    refused(text_ee, ".else #2", ["'.else' after '.else' is not permitted."], ".else after .else")
    refused(".else 1\n", ".else 1", ["Unexpected argument '1' for '.else'."], ".else with an argument")
    refused(".if 1\n.endif x\n", ".endif x", ["Unexpected argument 'x' for '.endif'."], ".endif with an argument")
    refused(".if foo(1)\n.endif\n", ".if foo(1)",
            ["unparsable conditional expression 'foo(1)' in '.if' at position 1:"], "unknown predicate")
    refused(".if yes\n.endif\n", ".if yes", ["unparsable conditional expression 'yes' in '.if' at position 1:"], "a bare word")
    refused(".if \"$ESC_MODE\"\n.endif\n", ".if \"$ESC_MODE\"",
            ["unparsable conditional expression 'green' in '.if' at position 1:"], "a word from \"$VAR\" (expanded)")
    refused(".if $ESC_ONE\n.endif\n", ".if $ESC_ONE",
            ["unparsable conditional expression '$ESC_ONE' in '.if' at position 1:"], "unquoted $VAR is not expanded")
    refused(".if 1 2\n.endif\n", ".if 1 2",
            ["unexpected character '2' at the end of conditional expression '1 2' in '.if' at position 3:"], "trailing characters")
    refused(".if (1\n.endif\n", ".if (1", ["expected ')' after conditional expression '(1' in '.if' at position 1:"], "missing ')'")
    refused(".if streq(a)\n.endif\n", ".if streq(a)",
            ["missing arguments (got 1/2), type 'string' expected in argument 1 of predicate 'streq' used in conditional "
             "expression in '.if' at position 8:"], "streq with one argument")
    refused(".if 1 || bogus(\n.endif\n", ".if 1 || bogus(",
            ["unparsable conditional expression 'bogus(' in '.if' at position 6:"], "parsed whole despite ||")
    refused(".if 1 &&\n.endif\n", ".if 1 &&", ["unparsable conditional expression '&&' in '.if' at position 3:"], "dangling &&")
    refused(".if 0\n.elif bogus(\n.endif\n", ".elif bogus(",
            ["unparsable conditional expression 'bogus(' in '.elif' at position 1:"], "a bad .elif that is evaluated")
    refused(".foo\n", ".foo", ["unknown directive '.foo'."], "unknown directive")
    refused(".if 0\n    bind \"unterminated\n.endif\n", "bind \"unterminated",
            ["unmatched quote at position"], "an unmatched quote inside a false block")
    deep = "".join(".if 1\n" for _ in range(100)) + "".join(".endif\n" for _ in range(100))
    text = base + deep + tail
    rc, out = run_check(h, text)
    check(rc != 0 and has_line(out, len(base.splitlines()) + 100) and "too many nested '.if', max is 100." in out,
          f"3: 100 nested .if: refused at the 100th: rc={rc} {out!r}")
    text = base + "".join(".if 0\n" for _ in range(100)) + "".join(".endif\n" for _ in range(100)) + tail
    rc, out = run_check(h, text)
    check(rc != 0 and "too many nested '.if', max is 100." in out, f"3: 100 nested .if 0 (dropped): refused too: rc={rc} {out!r}")
    text = base + "".join(".if 1\n" for _ in range(99)) + '.notice "deep"\n' + "".join(".endif\n" for _ in range(99)) + tail
    rc, out = run_check(h, text)
    check(rc == 0 and "'deep'" in out, f"3: 99 nested levels are fine: rc={rc} {out!r}")
    log("3: errors refused with HAProxy's messages and line numbers")

    for body, what in ((".if 0\n.if bogus(\n.endif\n.endif\n", "a bad .if nested in a false block is not evaluated"),
                       (".if 1\n.elif bogus(\n.endif\n", "a bad .elif after a taken branch is not evaluated"),
                       (".if 0\n.foo\nnot a keyword\n.endif\n", "unknown directive/keyword in a false block"),
                       (".if defined()\n.endif\n", "defined() with an empty name"),
                       (".if 1 # a comment\n.endif\n", "a comment after the condition"),
                       (".if feature(ES_NO_SUCH_FEATURE) || version_before(0.1)\n.endif\n", "false predicates")):
        rc, out = run_check(h, base + body + tail)
        check(rc == 0 and "Configuration file is valid" in out, f"3: {what}: valid: rc={rc} {out!r}")
    log("3: what a false block holds is not evaluated")

    # ------------------------------------------------------------------ 4. the peer's own version/features
    if not eslib.on_edgeshard():
        text = base + "".join(f'.if {c}\n.notice "{m}"\n.endif\n' for c, m in (
            ("feature(OPENSSL)", "openssl"), ("feature(OPENSS)", "partial-name"), ("feature(openssl)", "lowercase"),
            ("feature(QUIC)", "quic-disabled"), ("version_atleast(2.6)", "ge-2.6"), ("version_atleast(2.6.12)", "ge-2.6.12"),
            ("version_atleast(2.6.13)", "ge-2.6.13"), ("version_before(2.6.13)", "lt-2.6.13"), ("version_before(2.6.12)", "lt-2.6.12"),
            ("version_atleast(2.6-dev1)", "ge-dev"), ("version_atleast(2.7-dev0)", "ge-2.7-dev0"),
            ("version_atleast(garbage)", "ge-garbage"), ("version_before(garbage)", "lt-garbage"))) + tail
        rc, out = run_check(h, text)
        shown = sorted(m for m in ("openssl", "partial-name", "lowercase", "quic-disabled", "ge-2.6", "ge-2.6.12", "ge-2.6.13",
                                   "lt-2.6.13", "lt-2.6.12", "ge-dev", "ge-2.7-dev0", "ge-garbage", "lt-garbage") if f"'{m}'" in out)
        check_eq(shown, sorted(["openssl", "ge-2.6", "ge-2.6.12", "lt-2.6.13", "ge-dev", "ge-garbage"]),
                 "4: HAProxy 2.6.12's answers (feature names exact and case-sensitive; an unparsable version is "
                 "'at least' and not 'before')")
        log("4: the peer's version/feature answers")


if __name__ == "__main__":
    eslib.run_http(main)
