#!/usr/bin/env python3
"""Stick tables (`stick-table`, `track-sc*`, `sc*_` / `src_` fetches, `sc-inc-gpc0`, `stick on`,
`stick match` + `stick store-request`) and the `show table` / `clear table` CLI, as HAProxy 2.6
does it (the same file runs through HAProxy with ES_TEST_PEER=haproxy; every value asserted is
what 2.6.12 does, src/stick/README.md holds the verbatim outputs). One proxy (nbthread
1) holds every part; HTTP origins s1 and s2 (X-Origin: s1|s2), an echo server for mode tcp.
`show table` entries are matched as `0x<hex>: key=K use=U exp=E name=value ...` (the first column
is a pointer: only its form is checked); the data fields are checked by name, value AND order
(HAProxy prints them in its internal data-type order, not in the order of the `store` list).
  A. fe_rl: `stick-table type ip size 100k expire 30s store http_req_rate(10s),http_req_cnt,
     http_err_rate(10s),http_err_cnt,conn_cur,conn_cnt,conn_rate(10s),gpc0,bytes_in_cnt,
     bytes_out_cnt`, `http-request track-sc0 src`, `deny deny_status 429 if
     { sc_http_req_rate(0) gt 10 }`. 15 requests on one keep-alive connection: 1-10 get 200,
     11-15 get 429 `Too Many Requests`, all on the same connection (a deny does not close it);
     the origin sees 10. `show table fe_rl`: header `# table: fe_rl, type: ip, size:102400,
     used:1`; entry `use=0 exp=<=30000 gpc0=0 conn_cnt=15 conn_rate(10000)=15 conn_cur=0
     http_req_cnt=15 http_req_rate(10000)=15 http_err_cnt=5 http_err_rate(10000)=5
     bytes_in_cnt=.. bytes_out_cnt=..` (HTTP-level tracking counts one "connection" per
     request; the 429s are HTTP errors; the byte counters are within 16 bytes per request of the
     bytes on the wire). A new connection from 127.0.0.1 gets 429 at once (per source, not per
     connection). 127.0.0.2 (2 requests, one of them a 404 from the origin) is not limited and
     gets its own entry (http_err_cnt=1: an origin 4xx counts; a 401 counts too, a 5xx
     does not, not asserted here). Entries are listed in key order.
  B. backend st_conn (`stick-table type ip size 1k expire 10s store conn_cur,conn_cnt,
     conn_rate(5s)` only), frontend `tcp-request connection track-sc1 src table st_conn` and
     `tcp-request connection reject if { sc1_conn_rate gt 5 }`: 3 idle connections -> use=3
     conn_cur=3; `clear table st_conn key 127.0.0.1` then says `Entry currently in use, cannot
     remove`, `clear table st_conn` answers nothing and keeps it; closed -> use=0 conn_cur=0;
     connections 4 and 5 are served, the 6th is reset (RST) before any byte; conn_cnt=6
     conn_rate(5000)=6 (rejected connections count). 127.0.0.2 is still served.
  C. fe_gpc: `sc-inc-gpc0(0) if { path_beg /bad }` then `deny if { sc0_get_gpc0 ge 3 }`:
     /bad /ok /bad /bad /ok /bad -> 200 200 200 403 403 403, gpc0=4 http_req_cnt=6.
     fe_gpc2 (no track-sc): `deny deny_status 403 if { src_get_gpc0 ge 3 }` and `deny deny_status
     410 if { path_beg /mark } { src_inc_gpc0 ge 3 }`: src_get_gpc0 creates no entry;
     /ok /mark /mark /ok /mark /ok /mark -> 200 200 200 200 410 403 403, gpc0 1,2,2,3,3,3.
  D. be_stick (roundrobin, `stick-table type ip size 1k expire 30m`, `stick on src`): 127.0.0.1
     -> s1 every time, 127.0.0.2 -> s2; entries `server_id=1 server_key=s1` / `server_id=2
     server_key=s2`, exp <= 1800000. s1 in drain: 127.0.0.1 still goes to s1, a new 127.0.0.3
     goes to s2. s1 in maint: 127.0.0.1 goes to s2 and its entry becomes server_id=2
     server_key=s2; s1 ready again: 127.0.0.1 stays on s2. be_stick2 (`stick match src` +
     `stick store-request src`): the same; both servers in maint -> 503, the entry is kept.
  E. CLI: `show table` (one `# table: NAME, type: ip, size:N, used:N` line per table, in REVERSE
     declaration order, then the empty line); `show table fe_rl data.http_req_cnt gt 5`; `key
     127.0.0.1`; a missing key -> just "\\n" (no header); `clear table fe_rl key 127.0.0.1`,
     `clear table fe_rl`; `clear table fe_rl key bogus` -> "\\n" (no error); the error texts of
     `show table nosuch`, `show table be_app` (a proxy without a table), `clear table`,
     `clear table fe_rl key`, `show table fe_rl foo`, bad `data.` filters.
  F. listen tcp_lim (mode tcp, echo origin): `tcp-request content track-sc0 src`, `tcp-request
     content reject if { sc0_conn_cur gt 2 }`: 2 connections echo, the 3rd is closed (FIN, no
     byte); use=2 conn_cnt=3 conn_cur=2, then 0 once closed; a new connection works again.
  G. fe_exp (`expire 2s`): the entry is listed with exp <= 2000, and gone (used:0) ~2 s later
     (not before 1.5 s, by 3.5 s).
  H. fe_size (`size 2`): 127.0.0.1, .2, .3 one after another -> .2 and .3 are left (the oldest
     is purged to make room).
  J. fe_sess: `tcp-request session track-sc2 src` and `tcp-request session reject if { sc2_conn_cur gt 2 }`:
     2 keep-alive sessions are served, the 3rd is closed without an answer; use=2 conn_cnt=3 conn_cur=2
     sess_cnt=2 (a rejected session is a connection, not a session) http_req_cnt=2; `show stat` dses=1.
  I. `-c`: exit 1 (and never "Configuration file is valid") for a track-sc0 naming a missing
     table, a track-sc0 with no table in its proxy, an unknown `store` type, a `stick-table`
     without `type`, `stick on` in a backend without a table; the message names the culprit
     (table name, type name, file:line, backend name: the exact HAProxy texts are in src/stick/README.md);
     a valid stick-table config -> exit 0.
"""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST

RL_STORE = ("http_req_rate(10s),http_req_cnt,http_err_rate(10s),http_err_cnt,conn_cur,conn_cnt,"
            "conn_rate(10s),gpc0,bytes_in_cnt,bytes_out_cnt")
# the order in which HAProxy prints those fields (its data-type order), whatever the store order
RL_FIELDS = ("gpc0", "conn_cnt", "conn_rate(10000)", "conn_cur", "http_req_cnt", "http_req_rate(10000)",
             "http_err_cnt", "http_err_rate(10000)", "bytes_in_cnt", "bytes_out_cnt")

ENTRY_RE = re.compile(r"^0x[0-9a-f]+: key=(\S+) use=(-?\d+) exp=(-?\d+)((?: [^ =]+=\S*)*)$")


# --------------------------------------------------------------------------------------------
# `show table` parsing
# --------------------------------------------------------------------------------------------

class Entry:
    def __init__(self, line):
        m = ENTRY_RE.match(line)
        check(m, f"`show table` entry line does not match `0x<hex>: key=K use=U exp=E name=value...`: {line!r}")
        self.line = line
        self.key = m.group(1)
        self.use = int(m.group(2))
        self.exp = int(m.group(3))
        self.fields = [tuple(f.split("=", 1)) for f in m.group(4).split()]

    def names(self):
        return [n for n, _ in self.fields]

    def get(self, name):
        for n, v in self.fields:
            if n == name:
                return v
        raise eslib.Failure(f"entry {self.key} has no field {name!r}: {self.line!r}")

    def num(self, name):
        return int(self.get(name))

    def __repr__(self):
        return repr(self.line)


def header(name, size, used):
    return f"# table: {name}, type: ip, size:{size}, used:{used}"


def show(es, args):
    """`show table <args>` -> (header line, [Entry]); the answer ends with the empty line."""
    raw = es.ctl(f"show table {args}")
    check(raw.endswith("\n\n"), f"`show table {args}`: the answer does not end with an empty line: {raw!r}")
    lines = raw[:-2].split("\n")
    check(lines[0].startswith("# table: "), f"`show table {args}`: no header line first: {raw!r}")
    return lines[0], [Entry(l) for l in lines[1:]]


def expect_table(es, args, head, entries, what):
    """Checks `show table <args>`: the exact header, then one entry per (key, use, exp_max,
    [(field, value)]) in this order; a value None is not compared (returned for the caller)."""
    got_head, got = show(es, args)
    check_eq(got_head, head, f"{what}: header line")
    check_eq([e.key for e in got], [k for k, *_ in entries], f"{what}: entry keys, in order (entries: {got})")
    for e, (key, use, exp_max, fields) in zip(got, entries):
        check_eq(e.use, use, f"{what}: use= of {key} ({e.line!r})")
        check_range_exp(e, exp_max, what)
        check_eq(e.names(), [n for n, _ in fields], f"{what}: data fields of {key}, in order")
        for n, v in fields:
            if v is not None:
                check_eq(e.get(n), str(v), f"{what}: {n} of {key} ({e.line!r})")
    return got


def check_range_exp(e, exp_max, what):
    check(0 < e.exp <= exp_max, f"{what}: exp= of {e.key} should be in (0, {exp_max}] ms: {e.line!r}")


def wait_entry(es, table, key, pred, what, timeout=5.0):
    """Polls `show table <table>` until the entry `key` exists and pred(entry) holds."""
    last = {}

    def probe():
        _, entries = show(es, table)
        last["e"] = entries
        for e in entries:
            if e.key == key and pred(e):
                return e
        return None
    try:
        return eslib.poll_until(probe, timeout, interval=0.02, what=what)
    except eslib.Failure:
        raise eslib.Failure(f"timed out after {timeout}s waiting for {what}: entries {last.get('e')}")


def wait_idle(es, table, timeout=5.0):
    """Polls until no entry of `table` is referenced any more (use=0 everywhere)."""
    eslib.poll_until(lambda: all(e.use == 0 for e in show(es, table)[1]), timeout, interval=0.02,
                     what=f"every entry of {table} to have use=0")


# --------------------------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------------------------

def tcp_from(port, source=None, timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(timeout)
    s.connect((L, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def attempt_http(port, path, source=None):
    """One GET with Connection: close on a new connection: ('eof'|'reset'|'timeout', bytes)."""
    try:
        s = tcp_from(port, source)
    except ConnectionResetError:
        return "reset", b""
    try:
        try:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\r\n".encode())
        except (ConnectionResetError, BrokenPipeError):
            return "reset", b""
        how, data, _ = eslib.wait_eof(s, 3)
        return how, data
    finally:
        s.close()


def status_of(port, path, source=None):
    return eslib.http_get(port, path, timeout=5, source=source).status


# --------------------------------------------------------------------------------------------
# the case
# --------------------------------------------------------------------------------------------

def main(h):
    s1 = http_origin.start(h, name="s1")
    s2 = http_origin.start(h, name="s2")
    echo = h.echo_server(name="echo")
    sock = h.sock_path()
    P = {k: eslib.free_port() for k in ("rl", "conn", "gpc", "gpc2", "stick", "tcp", "exp", "size", "sess")}
    cfg = eslib.http_global(sock, nbthread=1) + eslib.http_defaults()
    cfg += eslib.section("frontend fe_rl", f"""
        bind {L}:{P['rl']}
        stick-table type ip size 100k expire 30s store {RL_STORE}
        http-request track-sc0 src
        http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 10 }}
        default_backend be_app""")
    cfg += eslib.section("backend st_conn", "stick-table type ip size 1k expire 10s store conn_cur,conn_cnt,conn_rate(5s)")
    cfg += eslib.section("frontend fe_conn", f"""
        bind {L}:{P['conn']}
        tcp-request connection track-sc1 src table st_conn
        tcp-request connection reject if {{ sc1_conn_rate gt 5 }}
        default_backend be_app""")
    cfg += eslib.section("frontend fe_gpc", f"""
        bind {L}:{P['gpc']}
        stick-table type ip size 1k expire 30s store gpc0,http_req_cnt
        http-request track-sc0 src
        http-request sc-inc-gpc0(0) if {{ path_beg /bad }}
        http-request deny if {{ sc0_get_gpc0 ge 3 }}
        default_backend be_app""")
    cfg += eslib.section("frontend fe_gpc2", f"""
        bind {L}:{P['gpc2']}
        stick-table type ip size 1k expire 30s store gpc0
        http-request deny deny_status 403 if {{ src_get_gpc0 ge 3 }}
        http-request deny deny_status 410 if {{ path_beg /mark }} {{ src_inc_gpc0 ge 3 }}
        default_backend be_app""")
    cfg += eslib.section("frontend fe_stick", f"""
        bind {L}:{P['stick']}
        use_backend be_stick2 if {{ path_beg /v2 }}
        default_backend be_stick""")
    cfg += eslib.section("backend be_stick", f"""
        balance roundrobin
        stick-table type ip size 1k expire 30m
        stick on src
        server s1 {L}:{s1.port}
        server s2 {L}:{s2.port}""")
    cfg += eslib.section("backend be_stick2", f"""
        balance roundrobin
        stick-table type ip size 1k expire 30m
        stick match src
        stick store-request src
        server s1 {L}:{s1.port}
        server s2 {L}:{s2.port}""")
    cfg += eslib.section("backend be_app", f"server s1 {L}:{s1.port}")
    cfg += eslib.section("listen tcp_lim", f"""
        mode tcp
        bind {L}:{P['tcp']}
        stick-table type ip size 1k expire 30s store conn_cur,conn_cnt
        tcp-request content track-sc0 src
        tcp-request content reject if {{ sc0_conn_cur gt 2 }}
        server e1 {L}:{echo.port}""")
    cfg += eslib.section("frontend fe_exp", f"""
        bind {L}:{P['exp']}
        stick-table type ip size 10 expire 2s store http_req_cnt
        http-request track-sc0 src
        default_backend be_app""")
    cfg += eslib.section("frontend fe_size", f"""
        bind {L}:{P['size']}
        stick-table type ip size 2 expire 30s store http_req_cnt
        http-request track-sc0 src
        default_backend be_app""")
    cfg += eslib.section("frontend fe_sess", f"""
        bind {L}:{P['sess']}
        stick-table type ip size 1k expire 30s store conn_cur,conn_cnt,sess_cnt,http_req_cnt
        tcp-request session track-sc2 src
        tcp-request session reject if {{ sc2_conn_cur gt 2 }}
        default_backend be_app""")
    es = eslib.start_proxy(h, cfg, ports=list(P.values()), sock=sock)

    # (name, size) in declaration order; `show table` lists them in the reverse order
    tables = [("fe_rl", 102400), ("st_conn", 1024), ("fe_gpc", 1024), ("fe_gpc2", 1024), ("be_stick", 1024),
              ("be_stick2", 1024), ("tcp_lim", 1024), ("fe_exp", 10), ("fe_size", 2), ("fe_sess", 1024)]

    def table_list(used):
        return "".join(header(n, sz, used.get(n, 0)) + "\n" for n, sz in reversed(tables)) + "\n"

    # ---- E (start). the list of tables ------------------------------------------------------
    check_eq(es.ctl("show table"), table_list({}), "E: `show table` (every table, reverse declaration order)")
    log("E: `show table` lists the 10 tables in reverse declaration order, used:0")

    part_a(es, P, s1)
    part_e(es)
    part_b(es, P)
    part_c(es, P)
    part_d(es, P)
    part_f(es, P)
    part_g(es, P)
    part_h(es, P)
    part_j(es, P)

    # ---- E (end). the list again, with what is left -----------------------------------------
    used = {"fe_rl": 0, "st_conn": 2, "fe_gpc": 1, "fe_gpc2": 1, "be_stick": 3, "be_stick2": 2, "tcp_lim": 1,
            "fe_exp": 0, "fe_size": 2, "fe_sess": 1}
    check_eq(es.ctl("show table"), table_list(used), "E: `show table` at the end (used: per table)")
    log("E: `show table` at the end: " + ", ".join(f"{k}={v}" for k, v in used.items()))

    part_i(h)


def part_a(es, P, s1):
    """A. HTTP request rate limit per source."""
    before = s1.request_count()
    c = eslib.HttpClient(P["rl"], timeout=5)
    statuses = []
    wire_in = wire_out = 0
    for i in range(15):
        req = eslib.http_request_bytes("GET", f"/a{i}")
        wire_in += len(req)
        c.send(req)
        r = c.read_response(timeout=5)
        wire_out += r.wire_len
        statuses.append(r.status)
        if r.status == 429:
            check_eq(r.reason, "Too Many Requests", f"A: request {i + 1}: reason phrase of the 429")
    check_eq(statuses, [200] * 10 + [429] * 5, "A: 15 requests on one connection: 10 x 200 then 5 x 429")
    check(not c.eof, "A: the keep-alive connection is still open after the 429s")
    check_eq(s1.request_count() - before, 10, "A: requests that reached the origin (the 429s do not)")
    e = expect_table(es, "fe_rl", header("fe_rl", 102400, 1), [
        ("127.0.0.1", 0, 30000, [("gpc0", 0), ("conn_cnt", 15), ("conn_rate(10000)", 15), ("conn_cur", 0),
                                 ("http_req_cnt", 15), ("http_req_rate(10000)", 15), ("http_err_cnt", 5),
                                 ("http_err_rate(10000)", 5), ("bytes_in_cnt", None), ("bytes_out_cnt", None)])],
        "A: `show table fe_rl` after 15 requests (the connection idle, still open)")[0]
    b_in, b_out = e.num("bytes_in_cnt"), e.num("bytes_out_cnt")
    log(f"A: entry {e.line}")
    log(f"A: wire bytes: client sent {wire_in}, received {wire_out}; table: bytes_in_cnt={b_in} bytes_out_cnt={b_out}")
    eslib.check_range(b_in, wire_in - 16 * 15, wire_in + 16 * 15, "A: bytes_in_cnt (vs the request bytes sent)")
    eslib.check_range(b_out, wire_out - 16 * 15, wire_out + 16 * 15, "A: bytes_out_cnt (vs the response bytes received)")
    c.close()

    # a new connection from the same source is limited too
    check_eq(status_of(P["rl"], "/a-new"), 429, "A: a new connection from 127.0.0.1 (16th request)")
    # another source: its own entry, not limited; an origin 4xx is an HTTP error
    c2 = eslib.HttpClient(P["rl"], timeout=5, source="127.0.0.2")
    check_eq([c2.request("GET", p).status for p in ("/b1", "/status/404")], [200, 404],
             "A: 127.0.0.2 on one connection: /b1, /status/404")
    c2.close()
    wait_idle(es, "fe_rl")
    expect_table(es, "fe_rl", header("fe_rl", 102400, 2), [
        ("127.0.0.1", 0, 30000, [("gpc0", 0), ("conn_cnt", 16), ("conn_rate(10000)", 16), ("conn_cur", 0),
                                 ("http_req_cnt", 16), ("http_req_rate(10000)", 16), ("http_err_cnt", 6),
                                 ("http_err_rate(10000)", 6), ("bytes_in_cnt", None), ("bytes_out_cnt", None)]),
        ("127.0.0.2", 0, 30000, [("gpc0", 0), ("conn_cnt", 2), ("conn_rate(10000)", 2), ("conn_cur", 0),
                                 ("http_req_cnt", 2), ("http_req_rate(10000)", 2), ("http_err_cnt", 1),
                                 ("http_err_rate(10000)", 1), ("bytes_in_cnt", None), ("bytes_out_cnt", None)])],
        "A: `show table fe_rl` with 127.0.0.2")
    log("A: 10 x 200 then 429 from the 11th request; conn_cnt counts requests; 127.0.0.2 has its own entry")


def part_e(es):
    """E. show/clear table on fe_rl (entries 127.0.0.1: 16 requests, 127.0.0.2: 2)."""
    h2 = header("fe_rl", 102400, 2)
    got_head, got = show(es, "fe_rl data.http_req_cnt gt 5")
    check_eq((got_head, [x.key for x in got]), (h2, ["127.0.0.1"]), "E: `show table fe_rl data.http_req_cnt gt 5`")
    got_head, got = show(es, "fe_rl data.http_req_cnt lt 5 data.http_err_cnt eq 1")
    check_eq((got_head, [x.key for x in got]), (h2, ["127.0.0.2"]), "E: two data filters")
    got_head, got = show(es, "fe_rl data.http_req_cnt gt 100")
    check_eq((got_head, got), (h2, []), "E: a filter that matches nothing: the header only")
    got_head, got = show(es, "fe_rl key 127.0.0.1")
    check_eq((got_head, [x.key for x in got]), (h2, ["127.0.0.1"]), "E: `show table fe_rl key 127.0.0.1`")
    check_eq(got[0].num("http_req_cnt"), 16, "E: key 127.0.0.1: http_req_cnt")
    check_eq(es.ctl("show table fe_rl key 127.0.0.9"), "\n", "E: `show table fe_rl key <absent>`: nothing, not even the header")
    errors = [
        ("show table nosuch", "No such table\n\n"),
        ("show table be_app", "No such table\n\n"),     # a proxy without a stick-table
        ("clear table nosuch", "No such table\n\n"),
        ("show table fe_rl foo",
         'Optional argument only supports "data.<store_data_type>" <operator> <value> and key <key>\n\n'),
        ("show table fe_rl data.nosuch gt 5", "Filter entry #1: Unknown data type\n\n"),
        ("show table fe_rl data.server_id gt 5", "Filter entry #1: Data type not stored in this table\n\n"),
        ("show table fe_rl data.http_req_cnt xx 5",
         'Filter entry #1: Require and operator among "eq", "ne", "le", "ge", "lt", "gt"\n\n'),
        ("show table fe_rl data.http_req_cnt gt",
         "Filter entry #1: Require a valid integer value to compare against\n\n"),
        ("clear table",
         'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table> key <key>\n\n'),
        ("clear table fe_rl foo",
         'Required arguments: <table> "data.<store_data_type>" <operator> <value> or <table> key <key>\n\n'),
        ("clear table fe_rl key", "Key value expected\n\n"),
        ("clear table fe_rl data.nosuch gt 1", "Filter entry #1: Unknown data type\n\n"),
        ("clear table fe_rl key bogus", "\n"),          # an ip key that does not parse: no error, nothing removed
        ("clear table fe_rl key 127.0.0.9", "\n"),      # absent: no error
    ]
    for cmd, want in errors:
        check_eq(es.ctl(cmd), want, f"E: answer to `{cmd}`")
    check_eq(show(es, "fe_rl")[0], h2, "E: nothing removed by the failed / no-op clears")
    check_eq(es.ctl("clear table fe_rl key 127.0.0.1"), "\n", "E: answer to `clear table fe_rl key 127.0.0.1`")
    got_head, got = show(es, "fe_rl")
    check_eq((got_head, [x.key for x in got]), (header("fe_rl", 102400, 1), ["127.0.0.2"]),
             "E: after `clear table fe_rl key 127.0.0.1`")
    check_eq(es.ctl("clear table fe_rl"), "\n", "E: answer to `clear table fe_rl`")
    check_eq(es.ctl("show table fe_rl"), header("fe_rl", 102400, 0) + "\n\n", "E: after `clear table fe_rl`")
    log("E: filters, key, clear key / clear all and the error texts as HAProxy 2.6")


def part_b(es, P):
    """B. connection limits through a table held by a backend."""
    idle = [tcp_from(P["conn"]) for _ in range(3)]
    wait_entry(es, "st_conn", "127.0.0.1", lambda e: e.num("conn_cur") == 3, "st_conn conn_cur=3")
    expect_table(es, "st_conn", header("st_conn", 1024, 1), [
        ("127.0.0.1", 3, 10000, [("conn_cnt", 3), ("conn_rate(5000)", 3), ("conn_cur", 3)])],
        "B: `show table st_conn` with 3 idle connections open")
    check_eq(es.ctl("clear table st_conn key 127.0.0.1"), "Entry currently in use, cannot remove\n\n",
             "B: `clear table st_conn key 127.0.0.1` while tracked")
    check_eq(es.ctl("clear table st_conn"), "\n", "B: `clear table st_conn` while tracked: answers nothing")
    check_eq([e.key for e in show(es, "st_conn")[1]], ["127.0.0.1"], "B: the tracked entry is not removed")
    for s in idle:
        s.close()
    wait_entry(es, "st_conn", "127.0.0.1", lambda e: e.num("conn_cur") == 0, "st_conn conn_cur=0")
    expect_table(es, "st_conn", header("st_conn", 1024, 1), [
        ("127.0.0.1", 0, 10000, [("conn_cnt", 3), ("conn_rate(5000)", 3), ("conn_cur", 0)])],
        "B: `show table st_conn` once they are closed")
    for n in (4, 5):
        how, data = attempt_http(P["conn"], f"/c{n}")
        check(data.startswith(b"HTTP/1.1 200 "), f"B: connection {n} within the rate is served ({how}, {data[:60]!r})")
    how, data = attempt_http(P["conn"], "/c6")
    check_eq((how, data), ("reset", b""), "B: the 6th connection within 5 s: reset, no byte")
    how, data = attempt_http(P["conn"], "/c-other", source="127.0.0.2")
    check(data.startswith(b"HTTP/1.1 200 "), f"B: 127.0.0.2 is not limited ({how}, {data[:60]!r})")
    wait_idle(es, "st_conn")
    expect_table(es, "st_conn", header("st_conn", 1024, 2), [
        ("127.0.0.1", 0, 10000, [("conn_cnt", 6), ("conn_rate(5000)", 6), ("conn_cur", 0)]),
        ("127.0.0.2", 0, 10000, [("conn_cnt", 1), ("conn_rate(5000)", 1), ("conn_cur", 0)])],
        "B: `show table st_conn` after the rejected one (it counts)")
    log("B: conn_cur 3 -> 0; connections 4, 5 served, the 6th reset; conn_cnt=conn_rate=6")


def part_c(es, P):
    """C. gpc0 through sc-inc-gpc0 / sc0_get_gpc0 and src_inc_gpc0 / src_get_gpc0."""
    paths = ["/bad", "/ok", "/bad", "/bad", "/ok", "/bad"]
    got = [status_of(P["gpc"], p) for p in paths]
    check_eq(got, [200, 200, 200, 403, 403, 403], f"C: fe_gpc answers to {paths}")
    wait_idle(es, "fe_gpc")
    expect_table(es, "fe_gpc", header("fe_gpc", 1024, 1), [
        ("127.0.0.1", 0, 30000, [("gpc0", 4), ("http_req_cnt", 6)])],
        "C: `show table fe_gpc` (sc-inc-gpc0 runs before the deny rule, also on the denied /bad)")
    plan = [("/ok", 200, None), ("/mark", 200, 1), ("/mark", 200, 2), ("/ok", 200, 2), ("/mark", 410, 3),
            ("/ok", 403, 3), ("/mark", 403, 3)]
    for i, (p, st, g) in enumerate(plan):
        check_eq(status_of(P["gpc2"], p), st, f"C: fe_gpc2 request {i + 1} {p}")
        wait_idle(es, "fe_gpc2")
        if g is None:
            check_eq(es.ctl("show table fe_gpc2"), header("fe_gpc2", 1024, 0) + "\n\n",
                     "C: src_get_gpc0 on an unknown source creates no entry")
        else:
            expect_table(es, "fe_gpc2", header("fe_gpc2", 1024, 1), [("127.0.0.1", 0, 30000, [("gpc0", g)])],
                         f"C: `show table fe_gpc2` after request {i + 1} {p}")
    check_eq(status_of(P["gpc2"], "/ok", source="127.0.0.2"), 200, "C: fe_gpc2 from 127.0.0.2")
    check_eq([e.key for e in show(es, "fe_gpc2")[1]], ["127.0.0.1"], "C: no entry for 127.0.0.2 (src_get_gpc0 only)")
    log("C: sc-inc-gpc0: 200 200 200 403 403 403 gpc0=4; src_inc_gpc0: 410 at 3, then 403 (src_get_gpc0 ge 3)")


def part_d(es, P):
    """D. persistence: stick on src; stick match + stick store-request."""
    def where(path="/", source=None):
        r = eslib.http_get(P["stick"], path, timeout=5, source=source)
        check_eq(r.status, 200, f"D: GET {path} from {source or L} ({r.brief()})")
        return r.header("X-Origin")

    def stick(table, k1, k2, k3=None):
        rows = [("127.0.0.1", 0, 1800000, [("server_id", k1[1:]), ("server_key", k1)])]
        if k2:
            rows.append(("127.0.0.2", 0, 1800000, [("server_id", k2[1:]), ("server_key", k2)]))
        if k3:
            rows.append(("127.0.0.3", 0, 1800000, [("server_id", k3[1:]), ("server_key", k3)]))
        return rows

    def ctl_ok(cmd):
        check_eq(es.ctl(cmd), "\n", f"D: answer to `{cmd}`")

    check_eq([where() for _ in range(4)], ["s1"] * 4, "D: 127.0.0.1 always goes to s1")
    check_eq([where(source="127.0.0.2") for _ in range(2)], ["s2"] * 2, "D: 127.0.0.2 goes to s2 (next in turn)")
    wait_idle(es, "be_stick")
    expect_table(es, "be_stick", header("be_stick", 1024, 2), stick("be_stick", "s1", "s2"),
                 "D: `show table be_stick` (stick on stores server_id and server_key)")
    ctl_ok("set server be_stick/s1 state drain")
    check_eq([where() for _ in range(2)], ["s1"] * 2, "D: s1 in drain: 127.0.0.1 still goes to s1")
    check_eq(where(source="127.0.0.3"), "s2", "D: s1 in drain: a new source 127.0.0.3 goes to s2")
    ctl_ok("set server be_stick/s1 state ready")
    ctl_ok("set server be_stick/s1 state maint")
    check_eq([where() for _ in range(3)], ["s2"] * 3, "D: s1 in maint: 127.0.0.1 goes to s2")
    wait_idle(es, "be_stick")
    expect_table(es, "be_stick", header("be_stick", 1024, 3), stick("be_stick", "s2", "s2", "s2"),
                 "D: `show table be_stick` after s1 went to maint (127.0.0.1 re-stuck to s2)")
    ctl_ok("set server be_stick/s1 state ready")
    check_eq([where() for _ in range(2)], ["s2"] * 2, "D: s1 ready again: 127.0.0.1 stays on s2")

    check_eq([where("/v2", s) for s in ("127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.2")], ["s1", "s2", "s1", "s2"],
             "D: be_stick2 (stick match + store-request): .1 -> s1, .2 -> s2, and again")
    wait_idle(es, "be_stick2")
    expect_table(es, "be_stick2", header("be_stick2", 1024, 2), stick("be_stick2", "s1", "s2"),
                 "D: `show table be_stick2`")
    ctl_ok("set server be_stick2/s1 state maint")
    check_eq([where("/v2", s) for s in ("127.0.0.1", "127.0.0.2")], ["s2", "s2"], "D: be_stick2 with s1 in maint")
    ctl_ok("set server be_stick2/s2 state maint")
    r = eslib.http_get(P["stick"], "/v2", timeout=5)
    check_eq(r.status, 503, f"D: be_stick2 with both servers in maint ({r.brief()})")
    wait_idle(es, "be_stick2")
    expect_table(es, "be_stick2", header("be_stick2", 1024, 2), stick("be_stick2", "s2", "s2"),
                 "D: `show table be_stick2` after the 503 (the entry is kept)")
    ctl_ok("set server be_stick2/s1 state ready")
    ctl_ok("set server be_stick2/s2 state ready")
    log("D: stick on src: .1 -> s1, .2 -> s2; drain keeps .1 on s1; maint moves .1 to s2 for good")


def part_f(es, P):
    """F. mode tcp: concurrent connections per source."""
    conns = []
    for i in range(2):
        s = tcp_from(P["tcp"])
        s.sendall(b"ping%d" % i)
        check_eq(eslib.recv_exact(s, 5, what="echo"), b"ping%d" % i, f"F: connection {i + 1} echoes")
        conns.append(s)
    s = tcp_from(P["tcp"])
    how, data, _ = eslib.wait_eof(s, 3)
    s.close()
    check_eq((how, data), ("eof", b""), "F: the 3rd concurrent connection is closed (FIN), no byte")
    expect_table(es, "tcp_lim", header("tcp_lim", 1024, 1), [
        ("127.0.0.1", 2, 30000, [("conn_cnt", 3), ("conn_cur", 2)])],
        "F: `show table tcp_lim` with 2 connections open (the rejected one counted in conn_cnt)")
    conns[0].sendall(b"again")
    check_eq(eslib.recv_exact(conns[0], 5, what="echo"), b"again", "F: connection 1 still echoes")
    for s in conns:
        s.close()
    wait_entry(es, "tcp_lim", "127.0.0.1", lambda e: e.num("conn_cur") == 0, "tcp_lim conn_cur=0")
    expect_table(es, "tcp_lim", header("tcp_lim", 1024, 1), [
        ("127.0.0.1", 0, 30000, [("conn_cnt", 3), ("conn_cur", 0)])], "F: `show table tcp_lim` once closed")
    s = tcp_from(P["tcp"])
    s.sendall(b"later")
    check_eq(eslib.recv_exact(s, 5, what="echo"), b"later", "F: a new connection works again")
    s.close()
    wait_entry(es, "tcp_lim", "127.0.0.1", lambda e: e.num("conn_cur") == 0 and e.num("conn_cnt") == 4,
               "tcp_lim conn_cnt=4 conn_cur=0")
    log("F: 2 connections echo, the 3rd closed (FIN); conn_cur 2 -> 0")


def part_j(es, P):
    """J. tcp-request session: track-sc2 src, reject the 3rd concurrent session."""
    conns = []
    for i in range(2):
        s = tcp_from(P["sess"])
        s.sendall(b"GET /j HTTP/1.1\r\nHost: test.local\r\n\r\n")
        head = s.recv(65536)
        check(head.startswith(b"HTTP/1.1 200"), f"J: session {i + 1} is served: {head[:40]!r}")
        conns.append(s)
    s = tcp_from(P["sess"])
    s.sendall(b"GET /j HTTP/1.1\r\nHost: test.local\r\n\r\n")
    how, data, _ = eslib.wait_eof(s, 3)
    s.close()
    check_eq(data, b"", f"J: the 3rd concurrent session is closed without an answer ({how})")
    expect_table(es, "fe_sess", header("fe_sess", 1024, 1), [
        ("127.0.0.1", 2, 30000, [("conn_cnt", 3), ("conn_cur", 2), ("sess_cnt", 2), ("http_req_cnt", 2)])],
        "J: `show table fe_sess` with 2 sessions open (the rejected one counts a connection, not a session)")
    check_eq(str(es.stat("fe_sess", "FRONTEND", "dses")), "1", "J: show stat: the frontend's denied sessions (dses)")
    for s in conns:
        s.close()
    wait_entry(es, "fe_sess", "127.0.0.1", lambda e: e.num("conn_cur") == 0, "fe_sess conn_cur=0")
    log("J: tcp-request session: 2 sessions served, the 3rd closed; conn_cnt=3 sess_cnt=2 http_req_cnt=2")


def part_g(es, P):
    """G. expiry: `expire 2s`."""
    check_eq(status_of(P["exp"], "/g"), 200, "G: one request")
    t0 = time.monotonic()
    wait_idle(es, "fe_exp")
    expect_table(es, "fe_exp", header("fe_exp", 10, 1), [("127.0.0.1", 0, 2000, [("http_req_cnt", 1)])],
                 "G: `show table fe_exp` right after the request")
    gone = eslib.poll_until(lambda: show(es, "fe_exp")[0] == header("fe_exp", 10, 0) and time.monotonic(), 5,
                            interval=0.05, what="the fe_exp entry to expire")
    dt = gone - t0
    log(f"G: the entry expired {dt:.2f} s after the request")
    eslib.check_range(dt, 1.5, 3.5, "G: seconds until the `expire 2s` entry is gone")
    check_eq(es.ctl("show table fe_exp"), header("fe_exp", 10, 0) + "\n\n", "G: `show table fe_exp` once expired")


def part_h(es, P):
    """H. a full table (`size 2`) purges its oldest entry."""
    for i, src in enumerate(("127.0.0.1", "127.0.0.2", "127.0.0.3")):
        check_eq(status_of(P["size"], "/h", source=src), 200, f"H: a request from {src}")
        wait_idle(es, "fe_size")
        want = [("127.0.0.1",), ("127.0.0.2",), ("127.0.0.3",)][max(0, i - 1):i + 1]
        expect_table(es, "fe_size", header("fe_size", 2, len(want)),
                     [(k, 0, 30000, [("http_req_cnt", 1)]) for (k,) in want],
                     f"H: `show table fe_size` after {src}")
    log("H: size 2: after .1, .2, .3 the table holds .2 and .3")


def part_i(h):
    """I. `-c` on bad stick-table configurations."""
    p1, p2 = eslib.free_port(), eslib.free_port()
    base = ("global\n    maxconn 100\n\ndefaults\n    mode http\n    timeout connect 1s\n"
            "    timeout client 1s\n    timeout server 1s\n\n")
    cases = [
        # (name, frontend lines, backend lines, what the message must name: None = file:line of the marked line)
        ("track_missing_table", ["http-request track-sc0 src table nosuch_tbl"], [], "nosuch_tbl"),
        ("track_no_table", ["http-request track-sc0 src"], [], "track-sc0"),
        ("unknown_store", ["stick-table type ip size 1k expire 10s store http_req_cnt,bogus_type <<<",
                           "http-request track-sc0 src"], [], "bogus_type"),
        ("no_type", ["stick-table size 1k expire 10s store http_req_cnt <<<", "http-request track-sc0 src"], [], None),
        ("stick_on_no_table", [], ["stick on src"], "be_nostick"),
    ]
    for name, fe_lines, be_lines, token in cases:
        lines = base.splitlines() + ["frontend fe", f"    bind {L}:{p1}"] + [f"    {x}" for x in fe_lines]
        lines += ["    default_backend be_nostick", "", "backend be_nostick"] + [f"    {x}" for x in be_lines]
        lines += [f"    server s1 {L}:{p2}"]
        marked = [i + 1 for i, x in enumerate(lines) if x.endswith(" <<<")]
        text = "\n".join(x[:-4] if x.endswith(" <<<") else x for x in lines) + "\n"
        path = h.write(f"bad_{name}.cfg", text)
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
        out = r.stdout + r.stderr
        check_eq(r.returncode, 1, f"I: `-c` exit status for {name} (output {out.strip()!r})")
        check("Configuration file is valid" not in out, f"I: {name} reported valid")
        want = token if token is not None else f"{path}:{marked[0]}"
        check(want in out, f"I: {name}: the message should name {want!r}: {out.strip()!r}")
        log(f"I: {name}: " + " | ".join(l for l in r.stderr.strip().splitlines() if "NOTICE" not in l)[:220])
    good = "\n".join(base.splitlines() + [
        "frontend fe", f"    bind {L}:{p1}", "    stick-table type ip size 1k expire 10s store http_req_cnt,conn_cur",
        "    http-request track-sc0 src", "    default_backend be", "", "backend be", "    stick-table type ip size 1k",
        "    stick on src", f"    server s1 {L}:{p2}"]) + "\n"
    path = h.write("good_stick.cfg", good)
    r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
    check_eq(r.returncode, 0, f"I: `-c` on a valid stick-table config ({(r.stdout + r.stderr).strip()!r})")
    check("Configuration file is valid" in r.stdout + r.stderr, "I: the valid config: 'Configuration file is valid'")


if __name__ == "__main__":
    eslib.run_http(main)
