#!/usr/bin/env python3
"""Regular expressions in ACLs as HAProxy 2.6 matches them (PCRE2 in both; the same file runs through
HAProxy with ES_TEST_PEER=haproxy). A regex matches anywhere in the value unless anchored; `-i` makes
it caseless; `hdr_reg()` (like `hdr()`) tries each comma-separated value of each header of that name.
Origins: api, img, ex, lst, def (each answers with X-Origin: its name).
  1. `acl api path_reg ^/api/v[0-9]+/`: /api/v2/users -> api, /api/vx/ -> def, /x/api/v2/ -> def
     (anchored), /api/v2/?q=1 -> api (the path only).
  2. `acl img url_reg \\.(png|jpg)(\\?.*)?$`: /s/a.png?x=1 -> img, /s/a.PNG -> def (case-sensitive).
  3. `acl ex hdr_reg(host) -i ^(www\\.)?example\\.(com|org)$`: Host WWW.Example.ORG -> ex, example.net -> def.
  4. `acl bot hdr(user-agent) -m reg -i bot` with `http-request deny`: User-Agent GoogleBot/2.1 -> 403.
  5. `acl rw method -m reg ^(PUT|DELETE)$` with `http-request deny`: DELETE -> 403, GET -> def.
  6. `acl lst hdr_reg(x-list) ^b+$`: `X-List: a, bbb` -> lst (the second element), `X-List: abbb` -> def.
  8. `acl long path_len gt 20` (deny 410), `acl shortq url -m len 3` (deny 400): /+20 a -> 410,
     /+19 a -> def, /ab -> 400, /abcd -> def.
  7. `-c`: an invalid pattern (`path_reg ^/a(`) is refused, the message names the line.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def main(h):
    o = {n: http_origin.start(h, name=n) for n in ("api", "img", "ex", "lst", "def")}
    sock = h.sock_path()
    port = eslib.free_port()
    cfg = eslib.http_global(sock) + eslib.http_defaults()
    cfg += eslib.section("frontend fe", f"""
        bind {L}:{port}
        acl api path_reg ^/api/v[0-9]+/
        acl img url_reg \\.(png|jpg)(\\?.*)?$
        acl ex hdr_reg(host) -i ^(www\\.)?example\\.(com|org)$
        acl bot hdr(user-agent) -m reg -i bot
        acl rw method -m reg ^(PUT|DELETE)$
        acl lst hdr_reg(x-list) ^b+$
        acl long path_len gt 20
        acl shortq url -m len 3
        http-request deny deny_status 410 if long
        http-request deny deny_status 400 if shortq
        http-request deny if bot
        http-request deny if rw
        use_backend be_api if api
        use_backend be_img if img
        use_backend be_ex if ex
        use_backend be_lst if lst
        default_backend be_def""")
    for n in o:
        cfg += eslib.section(f"backend be_{n}", f"server s1 {L}:{o[n].port}")
    eslib.start_proxy(h, cfg, ports=[port], sock=sock)

    def where(target, method="GET", headers=None, host="test.local"):
        r = eslib.http_get(port, target, method=method, headers=headers, host=host)
        return r.header("x-origin") if r.status == 200 else r.status

    check_eq(where("/api/v2/users"), "api", "1: /api/v2/users")
    check_eq(where("/api/vx/"), "def", "1: /api/vx/")
    check_eq(where("/x/api/v2/"), "def", "1: /x/api/v2/ (the pattern is anchored)")
    check_eq(where("/api/v2/?q=1"), "api", "1: /api/v2/?q=1 (path_reg reads the path)")
    check_eq(where("/s/a.png?x=1"), "img", "2: url_reg on /s/a.png?x=1")
    check_eq(where("/s/a.PNG"), "def", "2: url_reg is case-sensitive without -i")
    check_eq(where("/", host="WWW.Example.ORG"), "ex", "3: hdr_reg(host) -i")
    check_eq(where("/", host="example.net"), "def", "3: example.net")
    check_eq(where("/", headers=[("User-Agent", "GoogleBot/2.1")]), 403, "4: -m reg -i on the user agent")
    check_eq(where("/", headers=[("User-Agent", "curl/8")]), "def", "4: another agent")
    check_eq(where("/x", method="DELETE"), 403, "5: method -m reg")
    check_eq(where("/x"), "def", "5: GET")
    check_eq(where("/", headers=[("X-List", "a, bbb")]), "lst", "6: hdr_reg tries each value")
    check_eq(where("/", headers=[("X-List", "abbb")]), "def", "6: one value that does not match")
    check_eq(where("/" + "a" * 20), 410, "8: path_len gt 20 on a 21-byte path")
    check_eq(where("/" + "a" * 19), "def", "8: a 20-byte path")
    check_eq(where("/ab"), 400, "8: url -m len 3")
    check_eq(where("/abcd"), "def", "8: a 5-byte url")
    log("1-6, 8: path_reg, url_reg, hdr_reg -i, -m reg -i, method -m reg, each header value, path_len, -m len")

    bad = h.write("bad.cfg", eslib.http_defaults() + eslib.section("frontend fe", f"""
        bind {L}:{eslib.free_port()}
        acl x path_reg ^/a(
        use_backend be if x
        default_backend be""") + eslib.section("backend be", f"server s1 {L}:{o['def'].port}"))
    lineno = next(i for i, l in enumerate(open(bad).read().splitlines(), 1) if "path_reg" in l)
    p = subprocess.run([os.environ["EDGESHARD_BIN"], "-c", "-f", bad], capture_output=True, text=True, timeout=30)
    rc, out = p.returncode, p.stdout + p.stderr
    check(rc != 0 and "Configuration file is valid" not in out, f"7: an invalid regex is refused: rc={rc} {out!r}")
    check(f"bad.cfg:{lineno}" in out and "missing closing parenthesis" in out,
          f"7: the message names the line and PCRE2's reason: {out!r}")
    log(f"7: -c refuses the invalid pattern: {out.strip().splitlines()[0][:160]}")


if __name__ == "__main__":
    eslib.run_http(main)
