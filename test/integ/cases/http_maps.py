#!/usr/bin/env python3
"""Maps and dynamic backend selection as HAProxy 2.6 does them (the same file runs through HAProxy
with ES_TEST_PEER=haproxy). Origins a, b, c, dflt and mapdef answer with their name in X-Origin;
backends be_a, be_b, be_c, be_dflt, be_mapdef hold one of them each.
  1. `use_backend %[req.hdr(host),lower,map(hosts.map,be_mapdef)]`, then `use_backend be_c if
     { path_beg /c }`, `default_backend be_dflt`. hosts.map has a comment, a blank line, an
     indented entry, a duplicate key (the first line of the file wins), a value naming no backend
     (be_ghost), a key with no value, an upper-case key, a frontend's name as value:
     a.example.com -> a; A.Example.COM -> a (lower); b.example.com -> b; dup.example.com -> a;
     unknown host -> mapdef (the map's default); UPPER.example.com -> lower -> mapdef;
     a.example.com:80 -> mapdef (the port is part of the key); ghost.example.com/c, the empty
     value /c, the frontend's name /c -> dflt: a name that resolves to no backend applies the
     default_backend and no later rule is evaluated (be_c is not used).
  2. The same map without a default, no default_backend: an unmatched host /c gets 503 (the next
     rule is not evaluated either); a.example.com -> a.
  3. `use_backend be_%[path,map_beg(paths.map)]`: the longest prefix wins whatever the file order
     (/api/v2/x -> b although /api comes first), /apix -> a (no boundary), no match -> "be_" which
     is no backend -> default_backend.
  4. `map_dom(domains.map,be_mapdef)`: the first line of the file that matches as dot-delimited
     words wins (www.sub.example.org -> a, listed before sub.example.org), the port is cut by ':'
     (example.org:8080 -> a), example.org.evil -> a, xexample.org -> mapdef.
  5. map converters in `http-request set-header` (input from header X-K, received by the origin):
     map with no match and no default -> the header is sent with an empty value; a value with inner
     spaces, a '#' inside a value, a key with no value; map_reg (first regex in file order, "\\1"
     kept literally) and map_regm ("\\1" replaced); map_end, map_sub, map_dir (first in file order);
     map_ip (longest prefix: 127.0.0.1 -> loop1 although 127.0.0.0/8 is listed first, on src and on
     a header string); map_str_int with an int default.
  6. `http-request redirect location %[path,map(redirects.map)] code 301 if { path,map(...) -m found }`
     -> 301 to the mapped location; a second redirect rule whose map misses -> 302 with an empty
     Location.
  7. CLI: `show map <file>` lists "<ptr> <key> <value>" lines in file order (ptr 0x...);
     `add map` a new host -> routed at once (by both shards); `set map` changes a key's value; a
     payload adds several; `del map` removes a key (-> the map default) or one entry by its id;
     `clear map` empties it (-> map default).
  8. `-c`: a missing map file and a use_backend naming no backend are refused.
"""
import os
import re
import subprocess
import sys

for _lib in (os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"),
             "/work/main/test/integ/lib"):
    if os.path.isdir(_lib) and _lib not in sys.path:
        sys.path.insert(0, _lib)
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST

HOSTS_MAP = (
    "# host -> backend\n"
    "\n"
    "a.example.com be_a\n"
    "   b.example.com \t  be_b   \n"
    "dup.example.com be_a\n"
    "dup.example.com be_b\n"
    "ghost.example.com be_ghost\n"
    "empty.example.com\n"
    "UPPER.example.com be_b\n"
    "fe.example.com fe_host\n"
    "space.example.com  hello   world  \n"
    "hash.example.com v # not a comment\n"
)


def main(h):
    names = ["a", "b", "c", "dflt", "mapdef"]
    o = {n: http_origin.start(h, name=n) for n in names}
    ports = {k: eslib.free_port() for k in ("host", "nodef", "path", "dom", "hdr")}
    sock = h.sock_path()

    hosts = h.write("hosts.map", HOSTS_MAP)
    paths = h.write("paths.map", "/api a\n/api/v2 b\n/static c\n")
    doms = h.write("domains.map", "example.org be_a\nsub.example.org be_b\n")
    regs = h.write("regs.map", "^/a.* first\n^/ab.* second\n^/x/([0-9]+)$ num\\1\n")
    ends = h.write("ends.map", ".jpg img\n.png png\ng g-only\n")
    subs = h.write("subs.map", "foo sub-foo\nbar sub-bar\n")
    dirs = h.write("dirs.map", "/a/b dir-ab\n/a dir-a\n")
    ips = h.write("ips.map", "127.0.0.0/8 loop8\n127.0.0.1 loop1\n10.0.0.0/8 ten\n")
    ints = h.write("ints.map", "k1 10\nk2 -3\n")
    redirs = h.write("redirects.map", "/old /new\n/r2/x https://example.org/y\n")

    cfg = (eslib.http_global(sock, nbthread=2) + eslib.http_defaults()
           + eslib.section("frontend fe_host", f"""
                bind {L}:{ports['host']}
                use_backend %[req.hdr(host),lower,map({hosts},be_mapdef)]
                use_backend be_c if {{ path_beg /c }}
                default_backend be_dflt""")
           + eslib.section("frontend fe_nodef", f"""
                bind {L}:{ports['nodef']}
                use_backend %[req.hdr(host),lower,map({hosts})]
                use_backend be_c if {{ path_beg /c }}""")
           + eslib.section("frontend fe_path", f"""
                bind {L}:{ports['path']}
                use_backend be_%[path,map_beg({paths})]
                default_backend be_dflt""")
           + eslib.section("frontend fe_dom", f"""
                bind {L}:{ports['dom']}
                use_backend %[req.hdr(host),lower,map_dom({doms},be_mapdef)]
                default_backend be_dflt""")
           + eslib.section("frontend fe_hdr", f"""
                bind {L}:{ports['hdr']}
                http-request redirect location %[path,map({redirs})] code 301 if {{ path,map({redirs}) -m found }}
                http-request redirect location %[path,map({redirs})] if {{ path_beg /r2 }}
                http-request set-header X-Map %[req.hdr(x-k),map({hosts})]
                http-request set-header X-Mapd %[req.hdr(x-k),map_str({hosts},none)]
                http-request set-header X-Reg %[req.hdr(x-k),map_reg({regs})]
                http-request set-header X-Regm %[req.hdr(x-k),map_regm({regs})]
                http-request set-header X-End %[req.hdr(x-k),map_end({ends})]
                http-request set-header X-Sub %[req.hdr(x-k),map_sub({subs})]
                http-request set-header X-Dir %[req.hdr(x-k),map_dir({dirs})]
                http-request set-header X-Ip %[req.hdr(x-k),map_ip({ips},noip)]
                http-request set-header X-Src %[src,map_ip({ips})]
                http-request set-header X-Int %[req.hdr(x-k),map_str_int({ints},7)]
                default_backend be_dflt""")
           + "".join(eslib.section(f"backend be_{n}", f"server {n} {L}:{o[n].port}") for n in names))
    eslib.start_proxy(h, cfg, ports=list(ports.values()), sock=sock)

    def land(port, target="/", host="test.local", headers=None, want_status=200):
        r = eslib.http_get(port, target, headers=headers, host=host)
        check_eq(r.status, want_status, f"GET {target} Host {host}: status ({r.brief()})")
        return r.header("X-Origin")

    # ---- 1. host map with a default, default_backend, a later static rule
    cases = [("a.example.com", "/", "a"), ("A.Example.COM", "/", "a"), ("b.example.com", "/", "b"),
             ("dup.example.com", "/", "a"), ("unknown.example.com", "/c", "mapdef"),
             ("UPPER.example.com", "/", "mapdef"), ("a.example.com:80", "/", "mapdef"),
             ("ghost.example.com", "/c", "dflt"), ("empty.example.com", "/c", "dflt"),
             ("fe.example.com", "/c", "dflt")]
    for host, target, want in cases:
        check_eq(land(ports["host"], target, host), want, f"1: Host {host} {target}: backend chosen")
    log("1: use_backend %[req.hdr(host),lower,map(file,default)]: ok")

    # ---- 2. no map default, no default_backend
    check_eq(land(ports["nodef"], "/", "a.example.com"), "a", "2: Host a.example.com")
    r = eslib.http_get(ports["nodef"], "/c", host="unknown.example.com")
    check_eq(r.status, 503, f"2: unmatched host, no default_backend, /c: status ({r.brief()})")
    r = eslib.http_get(ports["nodef"], "/c", host="ghost.example.com")
    check_eq(r.status, 503, f"2: a value naming no backend, no default_backend: status ({r.brief()})")
    check(o["c"].request_count() == 0, f"2: be_c must not be used: {o['c'].request_count()} requests")
    log("2: no match, no default_backend -> 503, later rules not evaluated")

    # ---- 3. be_%[path,map_beg(...)]
    for target, want in (("/api/v2/x", "b"), ("/api/x", "a"), ("/apix", "a"), ("/api", "a"),
                         ("/static/img.png", "c"), ("/other", "dflt"), ("/", "dflt")):
        check_eq(land(ports["path"], target), want, f"3: be_%[path,map_beg] {target}")
    log("3: use_backend be_%[path,map_beg(file)]: longest prefix; 'be_' -> default_backend")

    # ---- 4. map_dom
    for host, want in (("www.sub.example.org", "a"), ("sub.example.org", "a"), ("example.org", "a"),
                       ("example.org:8080", "a"), ("example.org.evil", "a"), ("xexample.org", "mapdef"),
                       ("org", "mapdef")):
        check_eq(land(ports["dom"], "/", host), want, f"4: map_dom Host {host}")
    log("4: map_dom: first matching line in file order, '.'/':' delimited words")

    # ---- 5. converters in set-header
    def sent(k):
        o["dflt"].clear()
        r = eslib.http_get(ports["hdr"], "/h", headers=[("X-K", k)])
        check_eq((r.status, r.header("X-Origin")), (200, "dflt"), f"5: X-K {k!r}: status/origin ({r.brief()})")
        q = o["dflt"].requests()[-1]
        got = {}
        for n in ("x-map", "x-mapd", "x-reg", "x-regm", "x-end", "x-sub", "x-dir", "x-ip", "x-src", "x-int"):
            v = http_origin.header_values(q, n)
            check_eq(len(v), 1, f"5: X-K {k!r}: number of {n} headers received ({v!r})")
            got[n] = v[0]
        return got

    g = sent("a.example.com")
    check_eq((g["x-map"], g["x-mapd"], g["x-src"], g["x-int"]), ("be_a", "be_a", "loop1", "7"),
             "5: map hit; map_ip on src (longest prefix); map_str_int default")
    g = sent("nothere")
    check_eq((g["x-map"], g["x-mapd"], g["x-reg"], g["x-end"], g["x-ip"]), ("", "none", "", "", ""),
             "5: no match: empty header without a default, the default otherwise; map_ip on a string that "
             "is no address fails before the map (empty, not the default)")
    check_eq(sent("8.8.8.8")["x-ip"], "noip", "5: map_ip: an address with no match gets the default")
    check_eq(sent("space.example.com")["x-map"], "hello   world", "5: a value with inner spaces")
    check_eq(sent("hash.example.com")["x-map"], "v # not a comment", "5: '#' inside a value")
    g = sent("empty.example.com")
    check_eq((g["x-map"], g["x-mapd"]), ("", ""), "5: a key with no value maps to '' (not to the default)")
    check_eq(sent("dup.example.com")["x-map"], "be_a", "5: duplicate key: the first line wins")
    check_eq(sent("b.example.com")["x-map"], "be_b", "5: indented line, tab/space separators, trailing blanks")
    g = sent("/ab")
    check_eq((g["x-reg"], g["x-regm"], g["x-dir"]), ("first", "first", ""),
             "5: map_reg: the first regex in file order; map_dir: /a does not match the word 'ab'")
    check_eq(sent("/a/bc")["x-dir"], "dir-a", "5: map_dir: /a matches a '/'-delimited word")
    g = sent("/x/42")
    check_eq((g["x-reg"], g["x-regm"]), ("num\\1", "num42"), "5: map_reg keeps \\1, map_regm substitutes")
    g = sent("/a/b/c")
    check_eq(g["x-dir"], "dir-ab", "5: map_dir: the first matching line in file order")
    check_eq(sent("x.png")["x-end"], "png", "5: map_end: the first matching line in file order")
    check_eq(sent("a.foo.barx")["x-sub"], "sub-foo", "5: map_sub: the first matching line in file order")
    g = sent("127.1.2.3")
    check_eq(g["x-ip"], "loop8", "5: map_ip from a header string")
    check_eq(sent("127.0.0.1")["x-ip"], "loop1", "5: map_ip: the longest prefix")
    check_eq(sent("k2")["x-int"], "-3", "5: map_str_int")
    log("5: map, map_str, map_reg, map_regm, map_end, map_sub, map_dir, map_ip, map_str_int in set-header")

    # ---- 6. redirect with a map
    r = eslib.http_get(ports["hdr"], "/old")
    check_eq((r.status, r.header("Location")), (301, "/new"), "6: redirect location %[path,map(...)] code 301")
    r = eslib.http_get(ports["hdr"], "/r2/x")
    check_eq((r.status, r.header("Location")), (301, "https://example.org/y"), "6: the first rule matches /r2/x")
    r = eslib.http_get(ports["hdr"], "/r2/zz")
    check_eq((r.status, r.header("Location")), (302, ""), "6: a map miss in the location: 302, empty Location")
    log("6: http-request redirect location %[path,map(...)]")

    # ---- 7. CLI
    out = eslib.ctl_raw(sock, f"show map {hosts}")
    lines = [l for l in out.split("\n") if l]
    check(all(re.match(r"^0x[0-9a-f]+ ", l) for l in lines), f"7: show map lines start with a pointer: {out!r}")
    got = [l.split(" ", 1)[1] for l in lines]
    check_eq(got, ["a.example.com be_a", "b.example.com be_b", "dup.example.com be_a", "dup.example.com be_b",
                   "ghost.example.com be_ghost", "empty.example.com ", "UPPER.example.com be_b",
                   "fe.example.com fe_host", "space.example.com hello   world",
                   "hash.example.com v # not a comment"], "7: show map <file> (after the pointer)")
    check(out.endswith("\n\n"), f"7: show map <file> ends with an empty line: {out[-40:]!r}")
    listing = eslib.ctl_raw(sock, "show map")
    check(listing.startswith("# id (file) description\n"), f"7: show map header: {listing[:80]!r}")
    check(f"({hosts}) pattern loaded from file '{hosts}' used by map" in listing,
          f"7: show map lists {hosts}: {listing!r}")

    def land_all(host, want, what):
        # two shards: new connections land on either, every one must see the change
        got = [land(ports["host"], "/", host) for _ in range(6)]
        check_eq(got, [want] * 6, what)

    land_all("new.example.com", "mapdef", "7: before add map")
    check_eq(eslib.ctl_raw(sock, f"add map {hosts} new.example.com be_c"), "\n", "7: add map answer")
    land_all("new.example.com", "c", "7: after add map new.example.com be_c")
    check_eq(eslib.ctl_raw(sock, f"set map {hosts} b.example.com be_c"), "\n", "7: set map answer")
    land_all("b.example.com", "c", "7: after set map b.example.com be_c")
    # a payload adds several entries, parsed as the file is; an entry is deleted by the id show map prints
    check_eq(eslib.ctl_raw(sock, f"add map {hosts} <<\np1.example.com be_a\np2.example.com   be_b\n"), "\n",
             "7: add map with a payload")
    land_all("p2.example.com", "b", "7: after add map (payload) p2.example.com be_b")
    shown = [l for l in eslib.ctl_raw(sock, f"show map {hosts}").split("\n") if l]
    check_eq([l.split(" ", 1)[1] for l in shown[-3:]], ["new.example.com be_c", "p1.example.com be_a",
                                                      "p2.example.com be_b"], "7: runtime entries come last")
    pid = shown[-1].split(" ", 1)[0]
    check_eq(eslib.ctl_raw(sock, f"del map {hosts} #{pid}"), "\n", "7: del map #<id>")
    land_all("p2.example.com", "mapdef", "7: after del map #<id> of p2.example.com")
    check_eq(eslib.ctl_raw(sock, f"set map {hosts} absent.example.com be_c"), "entry not found.\n\n",
             "7: set map on an absent key")
    check_eq(eslib.ctl_raw(sock, f"del map {hosts} a.example.com"), "\n", "7: del map answer")
    land_all("a.example.com", "mapdef", "7: after del map a.example.com")
    check_eq(eslib.ctl_raw(sock, f"del map {hosts} a.example.com"), "Key not found.\n\n",
             "7: del map on an absent key")
    check_eq(eslib.ctl_raw(sock, "show map /no/such.map"),
             "Unknown map identifier. Please use #<id> or <file>.\n\n", "7: show map of an unknown file")
    check_eq(eslib.ctl_raw(sock, f"clear map {hosts}"), "\n", "7: clear map answer")
    check_eq(eslib.ctl_raw(sock, f"show map {hosts}"), "\n", "7: show map after clear map")
    land_all("dup.example.com", "mapdef", "7: after clear map")
    with open(hosts) as f:
        check_eq(f.read(), HOSTS_MAP, "7: the map file on disk is not changed by the CLI")
    log("7: show map, add/set/del/clear map change routing at once")

    # ---- 8. -c
    def refused(text, needle, what):
        bad = h.write("bad.cfg", eslib.http_defaults() + text
                      + eslib.section("backend be", f"server s1 {L}:{o['dflt'].port}"))
        p = subprocess.run([os.environ["EDGESHARD_BIN"], "-c", "-f", bad], capture_output=True, text=True,
                           timeout=30)
        out = p.stdout + p.stderr
        check(p.returncode != 0 and "Configuration file is valid" not in out, f"8: {what} is refused: {out!r}")
        check(needle in out, f"8: {what}: the message names {needle!r}: {out!r}")
        log(f"8: -c {what}: {out.strip().splitlines()[-2 if len(out.strip().splitlines()) > 1 else -1][:200]}")

    missing = h.path("missing.map")
    refused(eslib.section("frontend fe", f"""
                bind {L}:{eslib.free_port()}
                use_backend %[req.hdr(host),lower,map({missing},be)]
                default_backend be"""), missing, "a missing map file")
    refused(eslib.section("frontend fe", f"""
                bind {L}:{eslib.free_port()}
                use_backend be_nope
                default_backend be"""), "be_nope", "use_backend naming no backend")
    for n in names:
        check(not o[n].errors, f"origin {n} errors: {o[n].errors}")


if __name__ == "__main__":
    eslib.run_http(main)
