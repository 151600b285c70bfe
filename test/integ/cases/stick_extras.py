#!/usr/bin/env python3
"""Stick-table extras as HAProxy 2.6 does them (the same file runs through HAProxy with
ES_TEST_PEER=haproxy; every value asserted is what 2.6.12 does, FACTS.md holds the verbatim outputs):
the table_* converters, non-ip keys (string, integer, ipv6, binary), the gpc/gpt arrays
(`store gpc(N),gpc_rate(N,p),gpt(N)`, `sc-inc-gpc(i,sc)`, `sc-set-gpt(i,sc)`, `sc_get_gpc`,
`sc_gpc_rate`, `sc_get_gpt`, `table_gpc`...), the `set table` / `clear table` / `show table ...
data.X op V` / `key K` CLI with its error texts, `stick store-response` + `stick match` on string
keys, and a few `-c` refusals. One proxy, nbthread 1. Rates use 60 s periods and a handful of
requests, so they equal the event counts. `show table` answers are compared in full, after the
entry pointer (`0x<hex>:`) is replaced by `P:` and each `exp=N` (checked to be in (0, expire]) by
`exp=E`.
  A. converters. backend st (`store http_req_rate(60s),http_req_cnt,conn_cur,conn_cnt,
     conn_rate(60s),gpc0,gpc0_rate(60s),http_err_rate(60s),http_err_cnt,bytes_in_rate(60s)`),
     frontend fe_conv: `track-sc0 src table st` for /t*, `sc-inc-gpc0(0)` for /t/inc, then
     `http-request return` with a body `name=%[src,table_xxx(st)] ...`. Untracked source: every
     converter gives 0 (absent key -> 0, even for a type the table does not store); a key that
     does not cast (`str(bogus)` on an ip table) -> no sample; a present key and a type not
     stored (`table_gpc1`, `table_server_id`, `table_kbytes_in`, `table_sess_cnt`) -> no sample.
     /t/1 /t/inc /t/inc /t/2: rates/counts 1..4 (the current request counted), gpc0 0 1 2 2,
     conn_cur 1, table_trackers 2 (one tracker + the converter's own reference) while
     sc_trackers(0) is 1, and 1 once nobody tracks; bytes_in_rate 0 then growing (a request's
     bytes are counted when its stream ends). fe_deny: `deny deny_status 429 if
     { src,table_http_req_rate(fe_deny) gt 3 }` -> 200 200 200 429 429; `table_http_req_cnt`
     without a table argument uses the proxy's own table.
  B. key types. fe_str `type string len 32` tracked by `req.hdr(x-user)`: keys print escaped
     (`a\\ b\\=c\\\\d`, `\\xE9`), a 40-char key is cut to 32 and a longer key sharing those 32
     chars is the same entry; no header -> nothing tracked. fe_int `type integer` tracked by
     `req.hdr(x-num)`: -1 -> 4294967295, 4294967297 -> 1, 12abc -> 12, abc -> 0; and by
     `req.hdr_cnt(x-n)` (sc1). fe_v6 `type ipv6`: an IPv4 src -> `::ffff:127.0.0.1`, a header
     `2001:db8::1` is a key, `10.1.2.3` / `junk` are not tracked. fe_bin `type binary len 8`
     tracked by `base32+src`: the key prints as 16 upper-case hex digits, equal to
     `base32+src,hex`. CLI `show table T key K` per type; `Invalid key` for int/ipv6; binary
     tables refuse keys for show/clear/set.
  C. gpc arrays: fe_gpc `store gpc(3),gpc_rate(3,60s),gpt(2)`, `track-sc1 src`, sc-inc-gpc(0|1|2|5,1),
     legacy sc-inc-gpc0(1), sc-set-gpt(0,1) 42 and sc-set-gpt(1,1) req.hdr(x-v); fetches and converters
     after each request; out-of-range index -> no sample (absent key -> 0); `show table` prints
     `gpt0= gpt1= gpc0= gpc1= gpc2= gpc0_rate(60000)= ...`.
  D. CLI: `set table` (values, rates, array element 0, negative / overflowing values, an entry is
     created even when the data part is refused, `set table T` alone clears T), its errors, data
     filters (4 at most), `clear table T data.X op V`, `clear table` by key on string tables.
  E. be_sess: `stick-table type string len 32`, `stick store-response res.hdr(x-sess)`, `stick match
     req.hdr(x-sess)`, servers o1/o2 (two frontends of the same proxy answering X-Sess: sess-o1|2).
  F. `-c` refusals (message fragments of HAProxy 2.6).
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST

ST_STORE = ("http_req_rate(60s),http_req_cnt,conn_cur,conn_cnt,conn_rate(60s),gpc0,gpc0_rate(60s),"
            "http_err_rate(60s),http_err_cnt,bytes_in_rate(60s)")

CONV = [  # (name in the body, log-format expression)
    ("req_rate", "%[src,table_http_req_rate(st)]"),
    ("req_cnt", "%[src,table_http_req_cnt(st)]"),
    ("conn_cur", "%[src,table_conn_cur(st)]"),
    ("conn_cnt", "%[src,table_conn_cnt(st)]"),
    ("conn_rate", "%[src,table_conn_rate(st)]"),
    ("gpc0", "%[src,table_gpc0(st)]"),
    ("gpc0_rate", "%[src,table_gpc0_rate(st)]"),
    ("err_rate", "%[src,table_http_err_rate(st)]"),
    ("err_cnt", "%[src,table_http_err_cnt(st)]"),
    ("bin_rate", "%[src,table_bytes_in_rate(st)]"),
    ("trackers", "%[src,table_trackers(st)]"),
    ("sc_trackers", "%[sc_trackers(0)]"),
    ("absent_rate", "%[str(10.9.9.9),table_http_req_rate(st)]"),
    ("absent_trackers", "%[str(10.9.9.9),table_trackers(st)]"),
    ("badkey", "%[str(bogus),table_http_req_rate(st)]"),
    ("strkey", "%[str(127.0.0.1),table_http_req_cnt(st)]"),
    ("trackers_1", "%[str(127.0.0.1),table_trackers(st)]"),
    ("gpc1", "%[src,table_gpc1(st)]"),
    ("absent_gpc1", "%[str(10.9.9.9),table_gpc1(st)]"),
    ("server_id", "%[src,table_server_id(st)]"),
    ("kbytes_in", "%[src,table_kbytes_in(st)]"),
    ("sess_cnt", "%[src,table_sess_cnt(st)]"),
]

GPC = [
    ("g0", "%[sc_get_gpc(0,1)]"), ("g1", "%[sc_get_gpc(1,1)]"), ("g2", "%[sc_get_gpc(2,1)]"),
    ("g5", "%[sc_get_gpc(5,1)]"), ("r1", "%[sc_gpc_rate(1,1)]"), ("t0", "%[sc_get_gpt(0,1)]"),
    ("t1", "%[sc_get_gpt(1,1)]"), ("t5", "%[sc_get_gpt(5,1)]"), ("legacy_g0", "%[sc_get_gpc0(1)]"),
    ("tg1", "%[src,table_gpc(1,fe_gpc)]"), ("tg5", "%[src,table_gpc(5,fe_gpc)]"),
    ("tg5_absent", "%[str(10.9.9.9),table_gpc(5,fe_gpc)]"), ("tr1", "%[src,table_gpc_rate(1,fe_gpc)]"),
    ("tt1", "%[src,table_gpt(1,fe_gpc)]"), ("tt0_legacy", "%[src,table_gpt0(fe_gpc)]"),
    ("src_g1", "%[src_get_gpc(1,fe_gpc)]"),
]

PTR_RE = re.compile(r"^0x[0-9a-f]+:", re.M)
EXP_RE = re.compile(r" exp=(-?\d+) ")


def body_of(expr_list):
    """`http-request return` options: a text body `name=<expr> ...` (one word for the parser)."""
    return 'content-type text/plain lf-string "' + " ".join(f"{n}={e}" for n, e in expr_list) + '"'


def values(r):
    check_eq(r.status, 200, f"response status ({r.brief()})")
    return dict(kv.split("=", 1) for kv in r.body.decode().split())


def norm(raw, exp_max, what, mask=()):
    """A `show table` answer with pointers -> `P:` and exp=N -> exp=E (0 < N <= exp_max); every
    field named in `mask` has its value replaced by `*`."""
    check(raw.endswith("\n\n") or raw == "\n", f"{what}: the answer ends with an empty line: {raw!r}")
    for m in EXP_RE.finditer(raw):
        check(0 < int(m.group(1)) <= exp_max, f"{what}: exp={m.group(1)} not in (0, {exp_max}]: {raw!r}")
    out = EXP_RE.sub(" exp=E ", PTR_RE.sub("P:", raw))
    for f in mask:
        out = re.sub(rf" {re.escape(f)}=\d+", f" {f}=*", out)
    return out


def main(h):
    sock = h.sock_path()
    P = {k: eslib.free_port() for k in ("conv", "deny", "str", "int", "v6", "bin", "gpc", "sess", "o1", "o2")}
    cfg = eslib.http_global(sock, nbthread=1) + eslib.http_defaults()
    cfg += eslib.section("backend st", f"stick-table type ip size 1k expire 60s store {ST_STORE}")
    cfg += eslib.section("frontend fe_conv", f"""
        bind {L}:{P['conv']}
        http-request track-sc0 src table st if {{ path_beg /t }}
        http-request sc-inc-gpc0(0) if {{ path_beg /t/inc }}
        http-request return status 200 {body_of(CONV)}""")
    cfg += eslib.section("frontend fe_deny", f"""
        bind {L}:{P['deny']}
        stick-table type ip size 1k expire 60s store http_req_rate(60s),http_req_cnt
        http-request track-sc0 src
        http-request deny deny_status 429 if {{ src,table_http_req_rate(fe_deny) gt 3 }}
        http-request return status 200 hdr X-R "%[src,table_http_req_rate(fe_deny)]" hdr X-C "%[src,table_http_req_cnt]" """)
    cfg += eslib.section("frontend fe_str", f"""
        bind {L}:{P['str']}
        stick-table type string len 32 size 1k expire 60s store http_req_cnt,gpc0
        http-request track-sc0 req.hdr(x-user)
        http-request return status 200 hdr X-Cnt "%[req.hdr(x-user),table_http_req_cnt(fe_str)]" hdr X-Sc "%[sc0_http_req_cnt]" """)
    cfg += eslib.section("frontend fe_int", f"""
        bind {L}:{P['int']}
        stick-table type integer size 1k expire 60s store http_req_cnt
        http-request track-sc0 req.hdr(x-num) if {{ req.hdr(x-num) -m found }}
        http-request track-sc1 req.hdr_cnt(x-n) if {{ path_beg /cnt }}
        http-request return status 200 hdr X-Cnt "%[req.hdr(x-num),table_http_req_cnt(fe_int)]" hdr X-Sc1 "%[sc1_http_req_cnt]" """)
    cfg += eslib.section("frontend fe_v6", f"""
        bind {L}:{P['v6']}
        stick-table type ipv6 size 1k expire 60s store http_req_cnt
        http-request track-sc0 src if !{{ req.hdr(x-ip) -m found }}
        http-request track-sc0 req.hdr(x-ip) if {{ req.hdr(x-ip) -m found }}
        http-request return status 200 hdr X-Cnt "%[src,table_http_req_cnt(fe_v6)]" hdr X-Sc "%[sc0_http_req_cnt]" """)
    cfg += eslib.section("frontend fe_bin", f"""
        bind {L}:{P['bin']}
        stick-table type binary len 8 size 1k expire 60s store http_req_cnt
        http-request track-sc0 base32+src
        http-request return status 200 hdr X-Cnt "%[base32+src,table_http_req_cnt(fe_bin)]" hdr X-Key "%[base32+src,hex]" """)
    cfg += eslib.section("frontend fe_gpc", f"""
        bind {L}:{P['gpc']}
        stick-table type ip size 1k expire 60s store gpc(3),gpc_rate(3,60s),gpt(2)
        http-request track-sc1 src if !{{ path_beg /none }}
        http-request sc-inc-gpc(0,1) if {{ path_beg /inc0 }}
        http-request sc-inc-gpc(1,1) if {{ path_beg /inc1 }}
        http-request sc-inc-gpc(2,1) if {{ path_beg /inc2 }}
        http-request sc-inc-gpc(5,1) if {{ path_beg /inc5 }}
        http-request sc-inc-gpc0(1) if {{ path_beg /legacy }}
        http-request sc-set-gpt(0,1) 42 if {{ path_beg /gpt }}
        http-request sc-set-gpt(1,1) req.hdr(x-v) if {{ path_beg /gpt }}
        http-request return status 200 {body_of(GPC)}""")
    cfg += eslib.section("frontend fe_sess", f"""
        bind {L}:{P['sess']}
        default_backend be_sess""")
    cfg += eslib.section("backend be_sess", f"""
        balance roundrobin
        stick-table type string len 32 size 1k expire 60s
        stick store-response res.hdr(x-sess)
        stick match req.hdr(x-sess)
        server o1 {L}:{P['o1']}
        server o2 {L}:{P['o2']}""")
    for o in ("o1", "o2"):
        cfg += eslib.section(f"frontend fe_{o}", f"""
            bind {L}:{P[o]}
            http-request return status 200 hdr X-Sess sess-{o} hdr X-Origin {o}""")
    es = eslib.start_proxy(h, cfg, ports=list(P.values()), sock=sock)

    check_eq(es.ctl("show table"),
             "# table: be_sess, type: string, size:1024, used:0\n# table: fe_gpc, type: ip, size:1024, used:0\n"
             "# table: fe_bin, type: binary, size:1024, used:0\n# table: fe_v6, type: ipv6, size:1024, used:0\n"
             "# table: fe_int, type: integer, size:1024, used:0\n# table: fe_str, type: string, size:1024, used:0\n"
             "# table: fe_deny, type: ip, size:1024, used:0\n# table: st, type: ip, size:1024, used:0\n\n",
             "`show table`: one line per table with its key type (reverse declaration order)")

    part_a(es, P)
    part_b(es, P)
    part_c(es, P)
    part_d(es, P)
    part_e(es, P)
    part_f(h)


def part_a(es, P):
    """A. the table_* converters."""
    conv = lambda path, source=None: values(eslib.http_get(P["conv"], path, timeout=5, source=source))  # noqa: E731
    v = conv("/x")
    want = {n: "0" for n, _ in CONV}
    want.update(sc_trackers="", badkey="")
    check_eq(v, want, "A: untracked source, empty table: absent keys give 0 (even for types not stored); "
                      "sc_trackers(0) untracked and a key that does not cast to ip give no sample")
    bin_rates = []
    for i, (path, gpc0) in enumerate([("/t/1", 0), ("/t/inc", 1), ("/t/inc", 2), ("/t/2", 2)]):
        n = str(i + 1)
        v = conv(path)
        bin_rates.append(int(v.pop("bin_rate")))
        check_eq(v, {"req_rate": n, "req_cnt": n, "conn_cur": "1", "conn_cnt": n, "conn_rate": n, "gpc0": str(gpc0),
                     "gpc0_rate": str(gpc0), "err_rate": "0", "err_cnt": "0", "trackers": "2", "sc_trackers": "1",
                     "absent_rate": "0", "absent_trackers": "0", "badkey": "", "strkey": n, "trackers_1": "2",
                     "gpc1": "", "absent_gpc1": "0", "server_id": "", "kbytes_in": "", "sess_cnt": ""},
                 f"A: converters during tracked request {n} {path} (types not stored -> no sample; "
                 f"table_trackers counts its own lookup: 2 for 1 tracker)")
    check_eq(bin_rates[0], 0, "A: table_bytes_in_rate during the first request (its bytes are not counted yet)")
    check(all(b > a for a, b in zip(bin_rates, bin_rates[1:])), f"A: table_bytes_in_rate grows: {bin_rates}")
    raw = es.ctl("show table st")
    check_eq(norm(raw, 60000, "A", mask=("bytes_in_rate(60000)",)),
             "# table: st, type: ip, size:1024, used:1\nP: key=127.0.0.1 use=0 exp=E gpc0=2 gpc0_rate(60000)=2 "
             "conn_cnt=4 conn_rate(60000)=4 conn_cur=0 http_req_cnt=4 http_req_rate(60000)=4 http_err_cnt=0 "
             "http_err_rate(60000)=0 bytes_in_rate(60000)=*\n\n", "A: `show table st` after 4 tracked requests")
    v = conv("/x", source="127.0.0.2")
    check_eq((v["req_cnt"], v["trackers"], v["strkey"], v["trackers_1"], v["gpc1"]), ("0", "0", "4", "1", "0"),
             "A: from 127.0.0.2 (untracked): its own key absent -> 0; the 127.0.0.1 entry read through "
             "str(127.0.0.1): req_cnt 4, table_trackers 1 with no tracker")
    v = conv("/x")
    check_eq((v["req_rate"], v["trackers"], v["sc_trackers"], v["gpc1"], v["server_id"]), ("4", "1", "", "", ""),
             "A: 127.0.0.1 untracked on /x: the entry is read (rate 4), table_trackers 1, types not stored -> no sample")
    got = []
    for i in range(5):
        r = eslib.http_get(P["deny"], "/d", timeout=5)
        got.append((r.status, r.header("X-R"), r.header("X-C")))
    check_eq(got, [(200, "1", "1"), (200, "2", "2"), (200, "3", "3"), (429, None, None), (429, None, None)],
             "A: fe_deny: `deny if { src,table_http_req_rate(fe_deny) gt 3 }` (table_http_req_cnt without a "
             "table argument reads the proxy's own table)")
    check_eq(norm(es.ctl("show table fe_deny"), 60000, "A"),
             "# table: fe_deny, type: ip, size:1024, used:1\nP: key=127.0.0.1 use=0 exp=E http_req_cnt=5 "
             "http_req_rate(60000)=5\n\n", "A: `show table fe_deny` (the denied requests count)")
    log("A: table_* converters: absent key -> 0, type not stored -> no sample, trackers = ref count + 1; deny on the 4th")


def part_b(es, P):
    """B. string, integer, ipv6 and binary keys."""
    def get(port, path, hdrs, names):
        r = eslib.http_get(port, path, headers=hdrs, timeout=5)
        check_eq(r.status, 200, f"B: GET {path} {hdrs}")
        return tuple(r.header(n) for n in names)

    x40 = "x" * 40
    plan = [("alice", ("1", "1")), ("alice", ("2", "2")), ("bob", ("1", "1")), ("a b=c\\d", ("1", "1")),
            (x40, ("1", "1")), ("x" * 32 + "yyy", ("2", "2")), (None, (None, None)), ("\xe9", ("1", "1"))]
    for user, want in plan:
        check_eq(get(P["str"], "/s", [("X-User", user)] if user is not None else None, ("X-Cnt", "X-Sc")), want,
                 f"B: fe_str X-User {user!r}: table_http_req_cnt, sc0_http_req_cnt")
    str_rows = {
        "a b=c\\d": "P: key=a\\ b\\=c\\\\d use=0 exp=E gpc0=0 http_req_cnt=1\n",
        "alice": "P: key=alice use=0 exp=E gpc0=0 http_req_cnt=2\n",
        "bob": "P: key=bob use=0 exp=E gpc0=0 http_req_cnt=1\n",
        "x": "P: key=" + "x" * 32 + " use=0 exp=E gpc0=0 http_req_cnt=2\n",
        "e9": "P: key=\\xE9 use=0 exp=E gpc0=0 http_req_cnt=1\n",
    }
    head = "# table: fe_str, type: string, size:1024, used:5\n"
    check_eq(norm(es.ctl("show table fe_str"), 60000, "B"), head + "".join(str_rows.values()) + "\n",
             "B: `show table fe_str` (string keys escaped, in key order, cut to len 32)")
    for k, row in [("alice", "alice"), (x40, "x"), ("x" * 32, "x")]:
        check_eq(norm(es.ctl(f"show table fe_str key {k}"), 60000, "B"), head + str_rows[row] + "\n",
                 f"B: `show table fe_str key {k[:12]}...` (a longer key is cut to the table's length)")
    check_eq(es.ctl("show table fe_str key nobody"), "\n", "B: `show table fe_str key <absent>`")

    for num, want in [("7", "1"), ("7", "2"), ("-1", "1"), ("4294967297", "1"), ("12abc", "1"), ("abc", "1")]:
        check_eq(get(P["int"], "/i", [("X-Num", num)], ("X-Cnt",)), (want,), f"B: fe_int X-Num {num!r}")
    check_eq(get(P["int"], "/cnt", [("X-N", "a"), ("X-N", "b")], ("X-Sc1",)), ("1",), "B: fe_int hdr_cnt key 2")
    check_eq(get(P["int"], "/cnt", None, ("X-Sc1",)), ("2",), "B: fe_int hdr_cnt key 0 (shared with `abc`)")
    int_rows = [("0", 2), ("1", 1), ("2", 1), ("7", 2), ("12", 1), ("4294967295", 1)]
    check_eq(norm(es.ctl("show table fe_int"), 60000, "B"),
             "# table: fe_int, type: integer, size:1024, used:6\n"
             + "".join(f"P: key={k} use=0 exp=E http_req_cnt={c}\n" for k, c in int_rows) + "\n",
             "B: `show table fe_int` (-1 -> 4294967295, 4294967297 -> 1, 12abc -> 12, abc -> 0; numeric order)")
    check_eq(norm(es.ctl("show table fe_int key 7"), 60000, "B"),
             "# table: fe_int, type: integer, size:1024, used:6\nP: key=7 use=0 exp=E http_req_cnt=2\n\n",
             "B: `show table fe_int key 7`")
    for k in ("abc", "-1", "4294967296"):
        check_eq(es.ctl(f"show table fe_int key {k}"), "Invalid key\n\n", f"B: `show table fe_int key {k}`")

    for hv, want in [(None, ("1", "1")), ("2001:db8::1", ("1", "1")), ("10.1.2.3", ("1", None)), ("junk", ("1", None))]:
        check_eq(get(P["v6"], "/6", [("X-Ip", hv)] if hv else None, ("X-Cnt", "X-Sc")), want,
                 f"B: fe_v6 X-Ip {hv!r} (table_http_req_cnt of src, sc0_http_req_cnt)")
    v6 = ("# table: fe_v6, type: ipv6, size:1024, used:2\nP: key=::ffff:127.0.0.1 use=0 exp=E http_req_cnt=1\n"
          "P: key=2001:db8::1 use=0 exp=E http_req_cnt=1\n\n")
    check_eq(norm(es.ctl("show table fe_v6"), 60000, "B"), v6, "B: `show table fe_v6` (IPv4 src mapped)")
    check_eq(norm(es.ctl("show table fe_v6 key ::ffff:127.0.0.1"), 60000, "B"),
             v6.split("P: key=2001")[0] + "\n", "B: `show table fe_v6 key ::ffff:127.0.0.1`")
    for k in ("127.0.0.1", "junk"):
        check_eq(es.ctl(f"show table fe_v6 key {k}"), "Invalid key\n\n", f"B: `show table fe_v6 key {k}`")

    k1 = get(P["bin"], "/b", None, ("X-Cnt", "X-Key"))
    k2 = get(P["bin"], "/b", None, ("X-Cnt", "X-Key"))
    k3 = get(P["bin"], "/b2", None, ("X-Cnt", "X-Key"))
    check_eq((k1[0], k2[0], k3[0]), ("1", "2", "1"), "B: fe_bin counts per base32+src")
    check(k1[1] == k2[1] and re.fullmatch(r"[0-9A-F]{8}7F000001", k1[1] or "") and k3[1] != k1[1]
          and k3[1].endswith("7F000001"), f"B: base32+src,hex: 4 bytes of hash then the address: {k1[1]} {k3[1]}")
    rows = sorted([(k1[1], 2), (k3[1], 1)])
    check_eq(norm(es.ctl("show table fe_bin"), 60000, "B"),
             "# table: fe_bin, type: binary, size:1024, used:2\n"
             + "".join(f"P: key={k} use=0 exp=E http_req_cnt={c}\n" for k, c in rows) + "\n",
             "B: `show table fe_bin` (binary keys in upper-case hex, the whole key length)")
    for cmd, want in [("show table fe_bin key 00", "Showing"), ("clear table fe_bin key 00", "Removing"),
                      ("set table fe_bin key 00 data.http_req_cnt 1", "Inserting")]:
        prep = "into" if want == "Inserting" else "from"
        check_eq(es.ctl(cmd), f"{want} keys {prep} tables of type other than ip, ipv6, string and integer is not "
                 "supported\n\n", f"B: `{cmd}`")
    log("B: string/integer/ipv6/binary keys tracked, printed and looked up as HAProxy 2.6")


def part_c(es, P):
    """C. gpc / gpc_rate / gpt arrays."""
    gpc = lambda path, hdrs=None: values(eslib.http_get(P["gpc"], path, headers=hdrs, timeout=5))  # noqa: E731

    def st(g0, g1, g2, t0, t1):
        return {"g0": g0, "g1": g1, "g2": g2, "g5": "", "r1": g1, "t0": t0, "t1": t1, "t5": "", "legacy_g0": g0,
                "tg1": g1, "tg5": "", "tg5_absent": "0", "tr1": g1, "tt1": t1, "tt0_legacy": t0, "src_g1": g1}
    untracked = {n: "" for n, _ in GPC}
    untracked.update(tg1="0", tg5="0", tg5_absent="0", tr1="0", tt1="0", tt0_legacy="0", src_g1="0")
    check_eq(gpc("/none"), untracked, "C: untracked, no entry: sc_* fetches give no sample, converters 0")
    steps = [("/x", None, st("0", "0", "0", "0", "0")),
             ("/inc1", None, st("0", "1", "0", "0", "0")),
             ("/inc1", None, st("0", "2", "0", "0", "0")),
             ("/inc2", None, st("0", "2", "1", "0", "0")),
             ("/inc5", None, st("0", "2", "1", "0", "0")),        # index 5 of gpc(3): silently nothing
             ("/inc0", None, st("1", "2", "1", "0", "0")),
             ("/legacy", None, st("2", "2", "1", "0", "0")),      # sc-inc-gpc0 falls back on gpc[0]
             ("/gpt", [("X-V", "7")], st("2", "2", "1", "42", "7")),
             ("/gpt", None, st("2", "2", "1", "42", "7")),        # no x-v: the expression fails, gpt1 kept
             ("/gpt", [("X-V", "abc")], st("2", "2", "1", "42", "0"))]  # "abc" as an integer is 0
    for path, hdrs, want in steps:
        check_eq(gpc(path, hdrs), want, f"C: fe_gpc {path} {hdrs or ''}")
    check_eq(norm(es.ctl("show table fe_gpc"), 60000, "C"),
             "# table: fe_gpc, type: ip, size:1024, used:1\nP: key=127.0.0.1 use=0 exp=E gpt0=42 gpt1=0 gpc0=2 gpc1=2 "
             "gpc2=1 gpc0_rate(60000)=2 gpc1_rate(60000)=2 gpc2_rate(60000)=1\n\n",
             "C: `show table fe_gpc` (arrays print one field per element: gptN, gpcN, gpcN_rate(period))")
    log("C: gpc(3)/gpc_rate(3,60s)/gpt(2): sc-inc-gpc, sc-set-gpt, sc_get_gpc, sc_gpc_rate, sc_get_gpt, table_gpc")


def part_d(es, P):
    """D. set table / clear table / show table filters."""
    def ok(cmd):
        check_eq(es.ctl(cmd), "\n", f"D: answer to `{cmd}`")

    ok("set table fe_gpc key 127.0.0.5 data.gpc 9 data.gpt 3 data.gpc_rate 4")
    errors = [
        ("set table fe_gpc key 127.0.0.6 data.gpc(1) 5", "Unknown data type\n\n"),
        ("set table fe_gpc key 127.0.0.7 data.gpc1 5", "Data type not stored in this table\n\n"),
        ("show table fe_gpc data.gpc(1) gt 1", "Filter entry #1: Unknown data type\n\n"),
    ]
    for cmd, want in errors:
        check_eq(es.ctl(cmd), want, f"D: answer to `{cmd}`")
    zero = "gpt0=0 gpt1=0 gpc0=0 gpc1=0 gpc2=0 gpc0_rate(60000)=0 gpc1_rate(60000)=0 gpc2_rate(60000)=0"
    row5 = ("P: key=127.0.0.5 use=0 exp=E gpt0=3 gpt1=0 gpc0=9 gpc1=0 gpc2=0 gpc0_rate(60000)=4 gpc1_rate(60000)=0 "
            "gpc2_rate(60000)=0\n")
    check_eq(norm(es.ctl("show table fe_gpc"), 60000, "D"),
             "# table: fe_gpc, type: ip, size:1024, used:4\nP: key=127.0.0.1 use=0 exp=E gpt0=42 gpt1=0 gpc0=2 gpc1=2 "
             "gpc2=1 gpc0_rate(60000)=2 gpc1_rate(60000)=2 gpc2_rate(60000)=1\n" + row5
             + f"P: key=127.0.0.6 use=0 exp=E {zero}\nP: key=127.0.0.7 use=0 exp=E {zero}\n\n",
             "D: `data.gpc`/`data.gpt`/`data.gpc_rate` set element 0; refused data still created the entry")
    head4 = "# table: fe_gpc, type: ip, size:1024, used:4\n"
    check_eq(norm(es.ctl("show table fe_gpc data.gpc gt 2"), 60000, "D"), head4 + row5 + "\n",
             "D: `show table fe_gpc data.gpc gt 2` (element 0)")
    check_eq(norm(es.ctl("show table fe_gpc data.gpt eq 3"), 60000, "D"), head4 + row5 + "\n",
             "D: `show table fe_gpc data.gpt eq 3`")

    ok("set table st key 10.0.0.1 data.http_req_cnt 5 data.http_req_rate 7 data.gpc0 2")
    ok("set table st key 10.0.0.10 data.http_req_cnt -3")
    ok("set table st key 10.0.0.11 data.http_req_cnt 5000000000")
    ok("set table st key 10.0.0.12")
    errors = [
        ("set table st key 10.0.0.2 data.nosuch 1", "Unknown data type\n\n"),
        ("set table st key 10.0.0.3 data.http_req_cnt abc", "Require a valid integer value to store\n\n"),
        ("set table st key 10.0.0.4 data.server_id 1", "Data type not stored in this table\n\n"),
        ("set table st key 10.0.0.5 foo 1", '"data.<type>" followed by a value expected\n\n'),
        ("set table st key 10.0.0.6 data.http_req_cnt", "Require a valid integer value to store\n\n"),
        ("set table st key", "Key value expected\n\n"),
        ("set table", "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n"),
        ("set table st foo", "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n\n"),
        ("set table nosuch key 1.2.3.4", "No such table\n\n"),
        ("set table st data.http_req_cnt gt 1",
         'content-based lookup is only supported with the "show" and "clear" actions\n\n'),
        ("set table fe_int key abc data.http_req_cnt 1", "Invalid key\n\n"),
        ("set table fe_int key 4294967296 data.http_req_cnt 1", "Invalid key\n\n"),
        ("set table fe_v6 key junk data.http_req_cnt 1", "Invalid key\n\n"),
        ("show table st key", "Key value expected\n\n"),
        ("show table st data.http_req_cnt gt 1 data.http_req_cnt lt 100 data.gpc0 ge 0 data.conn_cnt ge 0 "
         "data.conn_cur ge 0", "Detected extra data in filter, 16th word of input, after '0'\n\n"),
        ("show table st data.http_req_cnt gt 1 extra", "Filter entry #2: Unknown data type\n\n"),
        ("show table st data.http_req_cnt gt 1x", "Filter entry #1: Require a valid integer value to compare against\n\n"),
        ("clear table st data.http_req_cnt",
         'Filter entry #1: Require and operator among "eq", "ne", "le", "ge", "lt", "gt"\n\n'),
        ("clear table st data.http_req_cnt gt 1 key 10.0.0.1", "Filter entry #2: Unknown data type\n\n"),
        ("clear table fe_int key abc", "Invalid key\n\n"),
        ("clear table fe_v6 key junk", "Invalid key\n\n"),
    ]
    for cmd, want in errors:
        check_eq(es.ctl(cmd), want, f"D: answer to `{cmd}`")
    z = "gpc0_rate(60000)=0 conn_cnt=0 conn_rate(60000)=0 conn_cur=0"
    tail = "http_err_cnt=0 http_err_rate(60000)=0 bytes_in_rate(60000)=*"

    def strow(k, gpc0=0, cnt=0, rate=0):
        return f"P: key={k} use=0 exp=E gpc0={gpc0} {z} http_req_cnt={cnt} http_req_rate(60000)={rate} {tail}\n"
    row127 = ("P: key=127.0.0.1 use=0 exp=E gpc0=2 gpc0_rate(60000)=2 conn_cnt=4 conn_rate(60000)=4 conn_cur=0 "
              "http_req_cnt=4 http_req_rate(60000)=4 http_err_cnt=0 http_err_rate(60000)=0 bytes_in_rate(60000)=*\n")
    mask = ("bytes_in_rate(60000)",)
    check_eq(norm(es.ctl("show table st"), 60000, "D", mask=mask),
             "# table: st, type: ip, size:1024, used:10\n" + strow("10.0.0.1", 2, 5, 7)
             + "".join(strow(f"10.0.0.{i}") for i in (2, 3, 4, 5, 6))
             + strow("10.0.0.10", cnt=4294967293) + strow("10.0.0.11", cnt=705032704) + strow("10.0.0.12")
             + row127 + "\n",
             "D: `show table st` after the sets (a rate is set as-is, -3 and 5000000000 wrap to 32 bits, the "
             "refused data still created 10.0.0.2-6; 127.0.0.1 is left from part A)")
    check_eq(norm(es.ctl("show table st key 10.0.0.1"), 60000, "D", mask=mask),
             "# table: st, type: ip, size:1024, used:10\n" + strow("10.0.0.1", 2, 5, 7) + "\n",
             "D: `show table st key 10.0.0.1`")
    ok("clear table st data.http_req_cnt ge 5")
    check_eq(norm(es.ctl("show table st"), 60000, "D", mask=mask),
             "# table: st, type: ip, size:1024, used:7\n" + "".join(strow(f"10.0.0.{i}") for i in (2, 3, 4, 5, 6, 12))
             + row127 + "\n",
             "D: `clear table st data.http_req_cnt ge 5` removed 10.0.0.1, .10 and .11 only")
    ok("set table st")
    check_eq(es.ctl("show table st"), "# table: st, type: ip, size:1024, used:0\n\n",
             "D: `set table st` with nothing else empties the table like `clear table st`")

    ok("set table fe_str key carol data.http_req_cnt 4")
    ok("set table fe_int key 4294967295 data.http_req_cnt 9")
    ok("set table fe_v6 key 2001:db8::2 data.http_req_cnt 4")
    check_eq(norm(es.ctl("show table fe_str data.http_req_cnt ge 2"), 60000, "D"),
             "# table: fe_str, type: string, size:1024, used:6\nP: key=alice use=0 exp=E gpc0=0 http_req_cnt=2\n"
             "P: key=carol use=0 exp=E gpc0=0 http_req_cnt=4\nP: key=" + "x" * 32
             + " use=0 exp=E gpc0=0 http_req_cnt=2\n\n", "D: `show table fe_str data.http_req_cnt ge 2`")
    check_eq(norm(es.ctl("show table fe_int key 4294967295"), 60000, "D"),
             "# table: fe_int, type: integer, size:1024, used:6\nP: key=4294967295 use=0 exp=E http_req_cnt=9\n\n",
             "D: `set table fe_int key 4294967295` updates the existing entry")
    check_eq(norm(es.ctl("show table fe_v6 key 2001:db8::2"), 60000, "D"),
             "# table: fe_v6, type: ipv6, size:1024, used:3\nP: key=2001:db8::2 use=0 exp=E http_req_cnt=4\n\n",
             "D: `set table fe_v6 key 2001:db8::2`")
    ok("clear table fe_str key carol")
    ok("clear table fe_str key nobody")
    check_eq(es.ctl("show table fe_str key carol"), "\n", "D: carol is gone")
    ok("clear table fe_v6 key 2001:db8::2")
    check("used:2" in es.ctl("show table fe_v6"), "D: `clear table fe_v6 key 2001:db8::2` removed it")
    log("D: set/clear/show table with data and key arguments, and their error texts")


def part_e(es, P):
    """E. stick store-response / stick match with string keys."""
    got = []
    for hv in [None, None, "sess-o2", "sess-o2", "sess-o2", "sess-o1", "nope", "nope"]:
        r = eslib.http_get(P["sess"], "/", headers=[("X-Sess", hv)] if hv else None, timeout=5)
        check_eq(r.status, 200, f"E: GET / X-Sess {hv}")
        got.append(r.header("X-Origin"))
    check_eq(got, ["o1", "o2", "o2", "o2", "o2", "o1", "o1", "o2"],
             "E: no header -> round robin (stored from the response); sess-o2 x3 -> o2 (matched, round robin "
             "not consulted); sess-o1 -> o1; an unknown value -> round robin")
    t = ("# table: be_sess, type: string, size:1024, used:2\nP: key=sess-o1 use=0 exp=E server_id=1 server_key=o1\n"
         "P: key=sess-o2 use=0 exp=E server_id=2 server_key=o2\n\n")
    check_eq(norm(es.ctl("show table be_sess"), 60000, "E"), t, "E: `show table be_sess`")
    check_eq(norm(es.ctl("show table be_sess key sess-o1"), 60000, "E"), t.split("P: key=sess-o2")[0] + "\n",
             "E: `show table be_sess key sess-o1`")
    log("E: stick store-response res.hdr + stick match req.hdr on a string table")


def part_f(h):
    """F. `-c` refusals."""
    p1, p2 = eslib.free_port(), eslib.free_port()
    base = eslib.http_global(None, nbthread=1) + eslib.http_defaults()
    cases = [
        ("stick-table type ip size 1k store gpc(3),gpc0",
         ["stick-table: simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted"]),
        ("stick-table type ip size 1k store gpt(2),gpt0", ["simultaneous usage of 'gpt' and 'gpt0'"]),
        ("stick-table type ip size 1k store gpc", ["stick-table: missing argument to store option 'gpc'"]),
        ("stick-table type ip size 1k store gpc(101)",
         ["stick-table: array size is out of allowed range (1-100) for store option 'gpc'"]),
        ("stick-table type ip size 1k store gpc0(3)", ["stick-table: unexpected argument to store option 'gpc0'"]),
        ("stick-table type ip size 1k store gpc_rate(3)", ["missing argument to store option 'gpc_rate'"]),
        ("stick-table type foo size 1k", ["stick-table: unknown type 'foo'"]),
        ("stick-table type ip store gpc0", ["stick-table: missing size"]),
        ("http-request sc-inc-gpc(1) if TRUE",
         ["Missing gpc ID 'sc-inc-gpc(1)'. Expects sc-inc-gpc(<GPC ID>,<Track ID>)"]),
        ("http-request sc-inc-gpc(0,3)", ["invalid stick table track ID 'sc-inc-gpc(0,3)'. The max allowed ID is 2"]),
        ("http-request sc-set-gpt(0,3) 1", ["invalid stick table track ID 'sc-set-gpt(0,3)'. The max allowed ID is 2"]),
        ("http-request sc-set-gpt(0,0) res.hdr(x)",
         ["fetch method 'res.hdr(x)' extracts information from 'HTTP response headers', none of which is available here"]),
        ("http-request set-header X-R %[src,table_http_req_rate(nosuch)]",
         ["unable to find table 'nosuch' referenced in arg 1 of conversion keyword 'table_http_req_rate'"]),
        ("http-request set-header X-R %[src_http_req_cnt(nosuch)]",
         ["unable to find table 'nosuch' referenced in arg 1 of sample fetch keyword 'src_http_req_cnt'"]),
        ("http-request deny if { src,table_http_req_rate(nosuch) gt 5 }",
         ["unable to find table 'nosuch'", "for ACL keyword 'src'"]),
        ("http-request set-header X-R %[src,table_gpc(st)]",
         ["invalid arg 1 in converter 'table_gpc' : failed to parse 'st' as type 'integer'"]),
    ]
    for line, frags in cases:
        fe_table = "" if line.startswith("stick-table") else "    stick-table type ip size 1k store gpc(2),gpt(1)\n"
        text = (base + "backend st\n    stick-table type ip size 1k store http_req_cnt\n\n"
                + f"frontend fe\n    bind {L}:{p1}\n{fe_table}    {line}\n    default_backend be\n\n"
                + f"backend be\n    server s1 {L}:{p2}\n")
        out = eslib.check_refused(h, text, line, frags, f"F: -c refuses `{line}`")
        log("F: " + next((l for l in out.splitlines() if "ALERT" in l), "")[:200])
    text = (base + f"frontend fe\n    bind {L}:{p1}\n    stick-table type ip size 1k store gpc(2)\n"
            "    http-request set-header X-R %[src,table_http_req_cnt]\n    default_backend be\n\n"
            f"backend be\n    server s1 {L}:{p2}\n")
    r = h.run_cmd([os.environ["EDGESHARD_BIN"], "-c", "-f", h.write("ok.cfg", text)], timeout=30)
    check(r.returncode == 0 and "Configuration file is valid" in r.stdout + r.stderr,
          f"F: a table converter without its table argument is accepted ({(r.stdout + r.stderr).strip()!r})")


if __name__ == "__main__":
    eslib.run_http(main)
