#!/usr/bin/env python3
"""Sample converters base64, field, word, regsub, url_dec, lower, upper and their chains, as HAProxy
2.6 evaluates them (this file runs through HAProxy with ES_TEST_PEER=haproxy; facts and sources
in src/rules/README.md, "Converters"). Origin `o` (http_origin) records what it receives.
  1. fe, `http-request set-header X-O-<name> %[<fetch>,<conv>...]` rules, each group guarded by
     `{ req.hdr(x-t) -m str <group> }`, input in X-In; next to each, unless the value is written
     raw, `set-header X-F-<name> 1 if ... { <fetch>,<conv>... -m found }` tells "no sample" (the
     X-O header is then present and empty) from an empty string:
     field (empty fields count, index past the end: no sample, count 0 or negative: to the end),
     word (runs of delimiters are one, index past the end: an empty sample, count 0 / past the
     end keeps the trailing or leading delimiters), regsub (first match or g, i, \\0..\\9, \\xHH,
     empty matches, anchors with g), how commas, parentheses, spaces and quotes are written in
     converter arguments, url_dec (+ only in form mode or after '?', a bad %-escape: no sample),
     base64 (binary, empty; an integer input, 8 bytes in HAProxy, is not
     tested: edgeshard has no integer fetch such as req.hdr_cnt), lower/upper (ASCII only); control characters
     in a set-header value come out as %XX.
  2. the same fe, group ctx: converters in named ACLs (which try every value of req.hdr), in
     set-var expressions (no sample: the variable stays unset), in set-path formats, on path/url/
     query.
  3. `-c`: unknown converter, field/word index 0, missing and bad arguments, invalid regexes and
     flags, a backslash before a comma, a regex with unquoted parentheses.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
N = None  # "no sample": the header is set to "" and `-m found` is false

# group -> (fetch, [(name, converters)]); converters starting with a quote are a whole raw
# set-header value (config-level quoting), with no -m found companion rule
GROUPS = {
    "field": ("req.hdr(x-in)", [
        ("f1", "field(1,_)"), ("f2", "field(2,_)"), ("f4", "field(4,_)"), ("f5", "field(5,_)"),
        ("f6", "field(6,_)"), ("fm1", "field(-1,_)"), ("fm2", "field(-2,_)"), ("fm5", "field(-5,_)"),
        ("fm6", "field(-6,_)"), ("f2c0", "field(2,_,0)"), ("f2c2", "field(2,_,2)"),
        ("fm2c3", "field(-2,_,3)"), ("fm3c0", "field(-3,_,0)"), ("f2c9", "field(2,_,9)"),
        ("fm1cm1", "field(-1,_,-1)"), ("fm1c2", "field(-1,_,2)"), ("fd", "field(2,_.)")]),
    "word": ("req.hdr(x-in)", [
        ("w1", "word(1,_)"), ("w2", "word(2,_)"), ("w4", "word(4,_)"), ("w5", "word(5,_)"),
        ("wm1", "word(-1,_)"), ("wm4", "word(-4,_)"), ("wm5", "word(-5,_)"), ("w2c0", "word(2,_,0)"),
        ("w3c2", "word(3,_,2)"), ("wm2c3", "word(-2,_,3)"), ("wm3c0", "word(-3,_,0)"),
        ("w2c9", "word(2,_,9)"), ("wm1c0", "word(-1,_,0)"), ("wm1c2", "word(-1,_,2)"),
        ("wd", "word(2,_.)")]),
    "rx": ("req.fhdr(x-in)", [
        ("s1", "regsub(a,X)"), ("sg", "regsub(a,X,g)"), ("si", "regsub(a,X,i)"), ("sgi", "regsub(a,X,gi)"),
        ("sig", "regsub(a,X,ig)"), ("grp", r'regsub(\"^(\w+)-(\w+)$\",\2-\1)'), ("emp", "regsub(b*,-,g)"),
        ("bol", "regsub(^,>)"), ("eol", "regsub($,<)"), ("bolg", "regsub(^a,X,g)"),
        ("whole", r"regsub(a,\\0\\0)"), ("nogrp", r"regsub(a,\1)"), ("del", "regsub(a,)"),
        ("amp", "regsub(A,<&>,gi)"), ("hex", r"regsub(a,\\x41)"), ("alt", r'regsub(\"(a)|(b)\",[\1\2],g)'),
        ("nl", r"regsub(a,\\n)"), ("ci", r'regsub(\"^(API)/(v[0-9])\",\2:\1,i)')]),
    "rq": ("req.fhdr(x-in)", [
        ("dq", r'regsub(\",\",;,g)'), ("sq", "\"%[req.fhdr(x-in),regsub(',',;,g)]\""),
        ("hexre", r"regsub(\\x2c,;,g)"), ("plusg", r'regsub(\",+\",\",\",g)'), ("csub", r"regsub(;,\\x2c,g)"),
        ("fdq", r'field(2,\",\")'), ("wdq", r'word(2,\",;\")'), ("fhex", r"field(2,\\x2c)"),
        ("par", r'regsub(\"[)(]\",_,g)'), ("pesc", r'regsub(\"\\(\",<,g)'), ("sp1", r"field(2,\ )"),
        ("sp2", "\"%[req.fhdr(x-in),field(2,' ')]\""), ("sps", r'regsub(\"[\ ]+\",_,g)'),
        ("ws", r"regsub(\\s,_,g)"), ("sqgrp", r"""'%[req.fhdr(x-in),regsub("(a)(b)",\2\1,g)]'"""),
        ("doc", "\"%[req.fhdr(x-in),regsub('/+','/','g')]\""), ("sqin", r"regsub(\'a\',b,g)")]),
    "ud": ("req.hdr(x-in)", [
        ("u", "url_dec"), ("u1", "url_dec(1)"), ("u0", "url_dec(0)"), ("um", "url_dec(-5)"),
        ("ub", "url_dec,base64"), ("ul", "url_dec,lower")]),
    "bc": ("req.hdr(x-in)", [
        ("b", "base64"), ("lo", "lower"), ("up", "upper"), ("chain", "upper,field(2,_),lower")]),
}

# group -> [(X-In value or None for no header, [expected per converter, in GROUPS order])]
CASES = {
    "field": [
        ("f1_f2_f3__f5", ["f1", "f2", "", "f5", N, "f5", "", "f1", N, "f2_f3__f5", "f2_f3", "f2_f3_",
                          "f1_f2_f3", "f2_f3__f5", "f1_f2_f3__f5", "_f5", "f2"]),
        ("_a__b_", ["", "a", "b", "", N, "", "b", "", N, "a__b_", "a_", "a__b", "_a_", "a__b_", "_a__b_",
                    "b_", "a"]),
        ("a.b_c", ["a.b", "c", N, N, N, "c", "a.b", N, N, "c", "c", "a.b", N, "c", "a.b_c", "a.b_c", "b"]),
        ("", ["", N, N, N, N, "", N, N, N, N, N, N, N, N, "", "", N]),
        ("solo", ["solo", N, N, N, N, "solo", N, N, N, N, N, N, N, N, "solo", "solo", N]),
        (None, [N] * 17)],
    "word": [
        ("f1_f2_f3__f5", ["f1", "f2", "f5", "", "f5", "f1", "", "f2_f3__f5", "f3__f5", "f1_f2_f3", "f1_f2",
                          "f2_f3__f5", "f1_f2_f3__f5", "f3__f5", "f2"]),
        ("_a__b_", ["a", "b", "", "", "b", "", "", "b_", "", "_a", "", "b_", "_a__b", "a__b", "b"]),
        ("a.b_c", ["a.b", "c", "", "", "c", "", "", "c", "", "a.b", "", "c", "a.b_c", "a.b_c", "b"]),
        ("", [""] * 15),
        ("solo", ["solo", "", "", "", "solo", "", "", "", "", "", "", "", "solo", "solo", ""]),
        (None, [N] * 15)],
    "rx": [
        ("banana-Apple", ["bXnana-Apple", "bXnXnX-Apple", "bXnana-Apple", "bXnXnX-Xpple", "bXnXnX-Xpple",
                          "Apple-banana", "--a-n-a-n-a---A-p-p-l-e-", ">banana-Apple", "banana-Apple<",
                          "banana-Apple", "baanana-Apple", "bnana-Apple", "bnana-Apple", "b<&>n<&>n<&>-<&>pple",
                          "bAnana-Apple", "[b][a]n[a]n[a]-Apple", "b%0Anana-Apple", "banana-Apple"]),
        ("AaBb", ["AXBb", "AXBb", "XaBb", "XXBb", "XXBb", "AaBb", "-A-a-B--", ">AaBb", "AaBb<", "AaBb", "AaaBb",
                  "ABb", "ABb", "<&><&>Bb", "AABb", "A[a]B[b]", "A%0ABb", "AaBb"]),
        ("", ["", "", "", "", "", "", "-", ">", "<", "", "", "", "", "", "", "", "", ""]),
        ("api/V2/x", ["Xpi/V2/x", "Xpi/V2/x", "Xpi/V2/x", "Xpi/V2/x", "Xpi/V2/x", "api/V2/x",
                      "-a-p-i-/-V-2-/-x-", ">api/V2/x", "api/V2/x<", "Xpi/V2/x", "aapi/V2/x", "pi/V2/x",
                      "pi/V2/x", "<&>pi/V2/x", "Api/V2/x", "[a]pi/V2/x", "%0Api/V2/x", "V2:api/x"])],
    "rq": [
        ("a,b,,c", ["a;b;;c", "a;b;;c", "a;b;;c", "a,b,c", "a,b,,c", "b", "b", "", "a,b,,c", "a,b,,c", N, N,
                    "a,b,,c", "a,b,,c", "a,b,,c", "a,b,,c", "b,b,,c"]),
        ("x;;a,b,c ;d", ["x;;a;b;c ;d", "x;;a;b;c ;d", "x;;a;b;c ;d", "x;;a,b,c ;d", "x,,a,b,c ,d", "b", "a",
                         ";;a,b,", "x;;a,b,c ;d", "x;;a,b,c ;d", ";d", ";d", "x;;a,b,c_;d", "x;;a,b,c_;d",
                         "x;;a,b,c ;d", "x;;a,b,c ;d", "x;;b,b,c ;d"]),
        ("f(x) (y)", ["f(x) (y)"] * 5 + [N, "", ") (y)", "f_x_ _y_", "f<x) <y)", "(y)", "(y)", "f(x)_(y)",
                                         "f(x)_(y)", "f(x) (y)", "f(x) (y)", "f(x) (y)"]),
        ("abab//x///y", ["abab//x///y"] * 5 + [N, "", "///y", "abab//x///y", "abab//x///y", N, N,
                                               "abab//x///y", "abab//x///y", "baba//x///y", "abab/x/y",
                                               "bbbb//x///y"])],
    "ud": [
        ("a%2Fb+c%20d", ["a/b+c d", "a/b c d", "a/b+c d", "a/b c d", "YS9iK2MgZA==", "a/b+c d"]),
        ("a+b%2B?c+d%3f+e", ["a+b+?c d? e", "a b+?c d? e", "a+b+?c d? e", "a b+?c d? e", "YStiKz9jIGQ/IGU=",
                             "a+b+?c d? e"]),
        ("ok%zzrest", [N] * 6), ("ok%2", [N] * 6), ("ok%", [N] * 6),
        ("%0a%0D%09%7f%1f%20%00x%22%23%5d", ['%0A%0D\t%7F%1F %00x"#]'] * 4 + ["Cg0Jfx8gAHgiI10=",
                                                                            '%0A%0D\t%7F%1F %00x"#]']),
        ("%C3%A9%e9", ["\xc3\xa9\xe9"] * 4 + ["w6np", "\xc3\xa9\xe9"]),
        ("a%00b", ["a%00b"] * 4 + ["YQBi", "a%00b"]),
        ("", [""] * 6), (None, [N] * 6)],
    "bc": [
        ("", ["", "", "", N]),
        ("a", ["YQ==", "a", "A", N]),
        ("ab", ["YWI=", "ab", "AB", N]),
        ("abc", ["YWJj", "abc", "ABC", N]),
        ("\xff\xfe\x80", ["//6A", "\xff\xfe\x80", "\xff\xfe\x80", N]),
        ("MiXeD-9_\xc3\xa9", ["TWlYZUQtOV/DqQ==", "mixed-9_\xc3\xa9", "MIXED-9_\xc3\xa9", "\xc3\xa9"]),
        (None, [N, N, N, N])],
}

CTX_RULES = r"""
    acl ctx req.hdr(x-t) -m str ctx
    acl c_foo req.hdr(x-in),field(1,:) -m str foo
    acl c_low req.hdr(x-in),field(2,:),lower -m str bar
    acl c_w req.hdr(x-in),word(-1,:) -m beg ba
    acl c_reg req.hdr(x-in),regsub(o+,0,g) -m str f0:BAR
    http-request set-var(txn.c) req.hdr(x-in),field(2,:),lower if ctx
    http-request set-var(txn.f) req.hdr(x-in),field(5,:) if ctx
    http-request set-var(txn.w) req.hdr(x-in),word(5,:) if ctx
    http-request add-header X-C-acl foo if ctx c_foo
    http-request add-header X-C-acl low if ctx c_low
    http-request add-header X-C-acl w if ctx c_w
    http-request add-header X-C-acl reg if ctx c_reg
    http-request add-header X-C-acl var-f if ctx { var(txn.f) -m found }
    http-request add-header X-C-acl var-w if ctx { var(txn.w) -m found }
    http-request set-header X-C-var %[var(txn.c),upper] if ctx
    http-request set-header X-C-chain %[req.hdr(x-in),field(2,:),lower] if ctx
    http-request set-header X-C-api %[path,regsub(^/api/,/)] if ctx
    http-request set-header X-C-dd %[path,regsub(/+,/,g)] if ctx
    http-request set-header X-C-url %[url,url_dec] if ctx
    http-request set-header X-C-query %[query,url_dec] if ctx
    http-request set-path %[path,regsub(^/api/,/)] if ctx { path_beg /api/ }
    http-request set-path %[path,regsub(/+,/,g)] if ctx { path_beg /dd/ }
    http-request set-path %[path,url_dec] if ctx { path_beg /dec/ }
    http-request set-header X-C-path %[path] if ctx
"""

# (target, X-In, target at the origin, X-C-acl list, var, chain, api, dd, url, query, path after)
CTX_CASES = [
    ("/api/v1/x?q=1", "foo:BAR", "/v1/x?q=1", ["foo", "low", "reg", "var-w"], "BAR", "bar", "/v1/x",
     "/api/v1/x", "/api/v1/x?q=1", "q=1", "/v1/x"),
    ("/dd//a///b", "foo:Bar:baz", "/dd/a/b", ["foo", "low", "w", "var-w"], "BAR", "bar", "/dd//a///b",
     "/dd/a/b", "/dd//a///b", "", "/dd/a/b"),
    ("/dec/a%2Fb%41c+d?x=a%2Fb+c", "f:b%zz", "/dec/a/bAc+d?x=a%2Fb+c", ["var-w"], "B%ZZ", "b%zz",
     "/dec/a%2Fb%41c+d", "/dec/a%2Fb%41c+d", "/dec/a/bAc+d?x=a/b c", "x=a/b+c", "/dec/a/bAc+d"),
    # an ACL tries every value of req.hdr; set-var / set-header use the last one
    ("/x", "bar:1, foo:2", "/x", ["foo", "var-w"], "2", "2", "/x", "/x", "/x", "", "/x"),
    ("/x", "x:y::::", "/x", ["var-f", "var-w"], "Y", "y", "/x", "/x", "/x", "", "/x"),
    ("/x", None, "/x", [], "", "", "/x", "/x", "/x", "", "/x"),
]


def main(h):
    o = http_origin.start(h, name="o")
    sock = h.sock_path()
    port = eslib.free_port()
    lines = []
    for g, (fetch, convs) in GROUPS.items():
        sel = f"{{ req.hdr(x-t) -m str {g} }}"
        for name, conv in convs:
            raw = conv[0] in "\"'"
            lines.append(f"http-request set-header X-O-{name} {conv if raw else f'%[{fetch},{conv}]'} if {sel}")
            if not raw:
                lines.append(f"http-request set-header X-F-{name} 1 if {sel} {{ {fetch},{conv} -m found }}")
    cfg = eslib.http_global(sock) + eslib.http_defaults()
    cfg += eslib.section("frontend fe", f"bind {L}:{port}\n" + "\n".join(lines) + CTX_RULES + "default_backend be")
    cfg += eslib.section("backend be", f"server s1 {L}:{o.port}")
    eslib.start_proxy(h, cfg, ports=[port], sock=sock)

    def send(target, tag, value):
        n = o.request_count()
        hdrs = [("X-T", tag)] + ([] if value is None else [("X-In", value)])
        r = eslib.http_get(port, target, headers=hdrs)
        check_eq((r.status, r.header("x-origin")), (200, "o"), f"[{tag}] {target} X-In={value!r}: answered by o")
        return o.wait_requests(n + 1)[-1]

    # ------------------------------------------------------------------ 1. converters in set-header
    for g, (fetch, convs) in GROUPS.items():
        for value, want in CASES[g]:
            check_eq(len(want), len(convs), f"test table {g} {value!r}")
            q = send("/", g, value)
            for (name, conv), w in zip(convs, want):
                got = http_origin.header_values(q, f"x-o-{name}")
                check_eq(got, ["" if w is None else w], f"1: [{g}] X-In={value!r}: {fetch},{conv} ({name})")
                if conv[0] not in "\"'":
                    found = http_origin.header_values(q, f"x-f-{name}")
                    what = "no sample" if w is None else "a sample"
                    check_eq(found, [] if w is None else ["1"],
                             f"1: [{g}] X-In={value!r}: {fetch},{conv} -m found ({what})")
        log(f"1: [{g}] {len(convs)} expressions x {len(CASES[g])} inputs")

    # ------------------------------------------------------------------ 2. ACL, set-var, set-path, path/url/query
    for target, value, want_target, acls, *want in CTX_CASES:
        q = send(target, "ctx", value)
        check_eq(q["target"], want_target, f"2: {target} X-In={value!r}: target at the origin (set-path)")
        check_eq(http_origin.header_values(q, "x-c-acl"), acls, f"2: {target} X-In={value!r}: matching ACLs")
        names = ("var", "chain", "api", "dd", "url", "query", "path")
        got = tuple((http_origin.header_values(q, f"x-c-{n}") or ["<absent>"])[0] for n in names)
        check_eq(got, tuple(want), f"2: {target} X-In={value!r}: {names}")
    log("2: converters in ACLs, set-var, set-path; path/url/query chains")

    # ------------------------------------------------------------------ 3. -c

    def refused(rule, fragments, what):
        text = eslib.http_defaults() + eslib.section("frontend fe", f"""
            bind {L}:{eslib.free_port()}
            {rule}
            default_backend be""") + eslib.section("backend be", f"server s1 {L}:{o.port}")
        eslib.check_refused(h, text, rule, fragments, f"3: {what}")

    sh = "http-request set-header X-O "
    refused(sh + "%[req.hdr(x-a),nosuchconv]", ["'http-request set-header", "unknown converter 'nosuchconv'"],
            "unknown converter")
    refused(sh + "%[req.hdr(x-a),field(0,:)]", ["invalid args in converter 'field' : Unexpected value 0 for index"],
            "field index 0")
    refused(sh + "%[req.hdr(x-a),word(0,:)]", ["invalid args in converter 'word' : Unexpected value 0 for index"],
            "word index 0")
    refused(sh + "%[req.hdr(x-a),field(1)]",
            ["invalid arg 2 in converter 'field' : missing arguments (got 1/2), type 'string' expected"],
            "field without delimiters")
    refused(sh + "%[req.hdr(x-a),field]",
            ["invalid arg 1 in converter 'field' : expected type 'integer' at position 1, but got nothing"],
            "field without arguments")
    refused(sh + "%[req.hdr(x-a),field(1,)]", ["invalid args in converter 'field' : Empty separators list"],
            "field with an empty delimiter list")
    refused(sh + "%[req.hdr(x-a),word(a,:)]",
            ["invalid arg 1 in converter 'word' : failed to parse 'a' as type 'integer' at position 1"],
            "word with a non-integer index")
    refused(sh + "%[req.hdr(x-a),field(1,:,z)]",
            ["invalid arg 3 in converter 'field' : failed to parse 'z' as type 'integer' at position 3"],
            "field with a non-integer count")
    refused(sh + r"%[req.hdr(x-a),regsub(\"a(\",x)]",
            ["error in regex 'a(' in arg 1 of conversion keyword 'regsub' for sample fetch keyword 'req.hdr'",
             "regex 'a(' is invalid (error=missing closing parenthesis, erroffset=2)"], "regsub invalid regex")
    refused(sh + "%[req.hdr(x-a),regsub(a,b,x)]",
            ["invalid args in converter 'regsub' : invalid regex flag 'x', only 'i' and 'g' are supported"],
            "regsub flag x")
    refused(sh + "%[req.hdr(x-a),regsub(,b)]", ["missing regex in arg 1 of conversion keyword 'regsub'"],
            "regsub empty regex")
    refused(sh + r"%[req.hdr(x-a),regsub(^(\w+)$,x)]",
            ["invalid arg 2 in converter 'regsub' : missing arguments (got 1/2), type 'string' expected"],
            "regsub with unquoted parentheses (the ')' ends the argument list)")
    no_g = ["invalid arg 3 in converter 'regsub' : expected ')' before ',g)]'"]
    refused(sh + r"%[req.hdr(x-a),regsub(\\,,;,g)]", no_g, "a backslash does not protect a comma")
    refused(sh + r"%[req.hdr(x-a),regsub(\x2c,;,g)]", no_g, "\\x2c on the config line is a plain comma")
    refused(sh + "%[req.hdr(x-a),lower(1)]", ["invalid arg 1 in converter 'lower' : expected ')' before '1)]'"],
            "lower with an argument")
    refused(sh + "%[req.hdr(x-a),url_dec(x)]",
            ["invalid arg 1 in converter 'url_dec' : failed to parse 'x' as type 'integer' at position 1"],
            "url_dec(x)")
    refused(sh + "%[req.hdr(x-a),lower", ["missing ']' after 'req.hdr(x-a),lower'"], "unterminated %[")
    refused("acl a req.hdr(x-a),field(0,:) -m str x",
            ["error detected while parsing ACL 'a'", "Unexpected value 0 for index in ACL expression "
             "'req.hdr(x-a),field(0,:)'"], "ACL field index 0")
    refused("acl a req.hdr(x-a),nosuchconv -m str x",
            ["unknown converter 'nosuchconv' in ACL expression 'req.hdr(x-a),nosuchconv'"], "ACL unknown converter")
    refused("http-request set-var(txn.x) req.hdr(x-a),word(a,:)",
            ["'http-request set-var(txn.x)'", "failed to parse 'a' as type 'integer' at position 1"],
            "set-var word non-integer")
    log("3: -c refusals")


if __name__ == "__main__":
    eslib.run_http(main)
