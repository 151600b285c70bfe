#!/usr/bin/env python3
"""`tcp-response inspect-delay` / `tcp-response content` rules, and `tcp-request content` rules in a backend.

A scripted TCP server answers each connection as its first line asks ("T<token> S=<ms>:<hex>,<ms>:<hex>"
= sleep ms then send the bytes, for each step), then records what it got until EOF, so every case
knows what the server sent and when, what reached it and how its connection ended.

1. mode tcp, `frontend fe` -> `backend be` (inspect-delay 1s): `accept` on "OK" lets the bytes through
   at once and the session lives on; `reject` on "ERR" closes the client with nothing sent, also when
   "E" and "RR" come 300 ms apart (the rules run again on each new piece); "O" + "K" 300 ms later is
   held and then forwarded whole; a silent server makes `reject if { res.len eq 0 }` fire when the
   delay ends (~1 s), and a server that sends "O" then pauses gets its "O" forwarded once the delay
   ends (no rule matched: default accept); `close` on "BYE" forwards the bytes already received,
   closes the client and cuts the server (its later bytes never reach the client); rejects are
   counted in `show stat` column dresp (frontend, backend and server rows), `close` is not; without
   an inspect-delay the rules decide once, at connect time, on an empty buffer.
2. `listen` in mode tcp: set-var / unset-var / sc-inc-gpc0 (stick table gpc0 via `show table`),
   res.payload_lv (a length-prefixed string, waited for when split), a rule that could still match
   holds the response until the delay ends.
3. mode http backend: `reject if { status 503 }` closes the client with no response at all (no 502),
   on a keep-alive connection too (the rules run for every response); res.len > 0; res.payload never
   matches in HTTP mode.
4. named defaults with tcp-response rules used by a backend: the defaults' rules run first, their
   `accept` ends the evaluation (the backend's rules are skipped), inspect-delay is inherited.
5. `tcp-request content` in a backend (mode tcp): run after the frontend's (they see its variables),
   wait for more client bytes under the backend's own inspect-delay (bounded by it, not by the
   frontend's), the server is connected only once they accept; without a backend inspect-delay they
   decide at once on what is there; a backend reject is counted as dreq on the frontend.
6. -c: where tcp-response is refused, messages for bad actions/conditions/delays, and the warnings
   (request fetch in a tcp-response condition, a second inspect-delay).
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


# ------------------------------------------------------------------------------------ helpers

def scripted_handler(c, idx, srv):
    """Reads the first line; 'T<token>' names the connection, 'S=ms:hex,ms:hex' are the steps to
    play (sleep, send). Then reads until EOF. Stores results[token] = dict(first, got, end, senderr,
    t_accept) when done (token 'conn<idx>' if the line has none)."""
    t_accept = time.monotonic()
    got = bytearray()
    dl = eslib.Deadline(4.0)
    end = None
    while b"\n" not in got and not dl.expired():
        c.settimeout(max(0.01, dl.left()))
        try:
            d = c.recv(4096)
        except socket.timeout:
            continue
        except OSError as e:
            end = f"reset ({e!r})"
            break
        if not d:
            end = "eof"
            break
        got += d
    first = bytes(got).split(b"\n")[0]
    m = re.search(rb"T(\w+)", first)
    token = m.group(1).decode() if m else f"conn{idx}"
    senderr = None
    m = re.search(rb"S=([0-9a-fz:,]*)", first)
    if m and end is None:
        for step in filter(None, m.group(1).decode().split(",")):
            ms, hx = step.split(":")
            time.sleep(int(ms) / 1000.0)
            try:
                if hx == "z":
                    c.shutdown(socket.SHUT_WR)
                else:
                    c.sendall(bytes.fromhex(hx))
            except OSError as e:
                senderr = repr(e)
                break
    if end is None:
        how, data, _ = eslib.wait_eof(c, 6.0)
        got += data
        end = how
    with srv.lock:
        srv.results[token] = dict(first=first, got=bytes(got), end=end, senderr=senderr, t_accept=t_accept)


def steps(*pairs):
    """steps((0, b"OK"), (300, b"K"), (0, None)) -> 'S=0:4f4b,300:4b,0:z' (None: the server shuts its side)"""
    return "S=" + ",".join(f"{ms}:{'z' if data is None else data.hex()}" for ms, data in pairs)


def exchange(port, first, more=None, shut=False, wait=4.0, shut_after=None):
    """Connects, sends `first`, then `more` = (delay s, bytes) if given, then SHUT_WR if `shut` (or once
    `shut_after` bytes have arrived, so the server's close cannot end the inspection early); reads
    until EOF/reset/`wait`. Returns dict(how, data, t_first (s after connect, None if nothing), t_end)."""
    t0 = time.monotonic()
    try:
        s = eslib.connect(port)
    except OSError as e:
        return dict(how=f"connect failed {e!r}", data=b"", t_first=None, t_end=0.0, t0=t0)
    try:
        s.sendall(first)
        if more:
            time.sleep(more[0])
            try:
                s.sendall(more[1])
            except OSError:
                pass
        if shut:
            s.shutdown(socket.SHUT_WR)
        data = bytearray()
        t_first = None
        how = "timeout"
        dl = eslib.Deadline(wait)
        while not dl.expired():
            s.settimeout(max(0.01, dl.left()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                how = "reset"
                break
            if not d:
                how = "eof"
                break
            if t_first is None:
                t_first = time.monotonic() - t0
            data += d
            if shut_after is not None and len(data) >= shut_after:
                shut_after = None
                s.shutdown(socket.SHUT_WR)
        return dict(how=how, data=bytes(data), t_first=t_first, t_end=time.monotonic() - t0, t0=t0)
    finally:
        s.close()


def show_stat_csv(p):
    """`show stat` (CSV) -> {(pxname, svname): {column: value}}."""
    text = eslib.ctl_raw(p.sock, "show stat")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    check(lines and lines[0].startswith("# "), f"show stat: CSV header expected: {text[:200]!r}")
    cols = lines[0][2:].split(",")
    out = {}
    for ln in lines[1:]:
        vals = ln.split(",")
        row = dict(zip(cols, vals))
        out[(row.get("pxname"), row.get("svname"))] = row
    return out


def counters(p, px, names, rows=("FRONTEND", "BACKEND", "s1")):
    st = show_stat_csv(p)
    res = {}
    for r in rows:
        row = st.get((px, r))
        check(row is not None, f"show stat has a row ({px}, {r})")
        res[r] = tuple(int(row.get(n) or 0) for n in names)
    return res


def check_warns(h, text, rule, fragments, what):
    """`-c` accepts `text` with a warning naming the line holding `rule` and every fragment."""
    lineno = next(i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip() == rule.strip())
    p = h.run_cmd([os.environ["EDGESHARD_BIN"], "-c", "-f", h.write("warn.cfg", text)], timeout=30)
    out = p.stdout + p.stderr
    check(p.returncode == 0 and "Configuration file is valid" in out, f"{what}: accepted (rc={p.returncode}): {out!r}")
    check(f"warn.cfg:{lineno}]" in out or f"warn.cfg:{lineno}:" in out, f"{what}: the warning names warn.cfg:{lineno}: {out!r}")
    check("WARNING" in out.upper(), f"{what}: a warning is printed: {out!r}")
    for f in fragments:
        check(f in out, f"{what}: {f!r} in {out!r}")
    return out


# ------------------------------------------------------------------------------------ the case

def main(h):
    srv = eslib.ThreadedServer(scripted_handler, name="scripted")
    h.servers.append(srv)
    o = http_origin.start(h)
    p_fe, p_li, p_h, p_d, p_d2, p_d3, p_t, p_t2, p_n = (eslib.free_port() for _ in range(9))
    sock = h.path("es.sock")
    S = f"{L}:{srv.port}"
    cfg = (eslib.global_section(sock, nbthread=1)
           + eslib.defaults_section(connect="2s", client="6s", server="6s") + "\n"
           + eslib.section("frontend fe", f"""
               bind {L}:{p_fe}
               default_backend be
               """)
           + eslib.section("backend be", f"""
               tcp-response inspect-delay 1s
               tcp-response content accept if {{ res.payload(0,2) -m str OK }}
               tcp-response content close if {{ res.payload(0,3) -m str BYE }}
               tcp-response content reject if {{ res.payload(0,3) -m str ERR }}
               tcp-response content reject if {{ res.len eq 0 }}
               server s1 {S}
               """)
           + eslib.section("listen ln", f"""
               bind {L}:{p_n}
               tcp-response content accept if {{ res.payload(0,2) -m str OK }}
               tcp-response content reject
               server s1 {S}
               """)
           + eslib.section("listen li", f"""
               bind {L}:{p_li}
               stick-table type ip size 10 store gpc0
               tcp-request content track-sc0 src
               tcp-response inspect-delay 1s
               tcp-response content set-var(txn.first) res.payload(0,3)
               tcp-response content unset-var(txn.first) if {{ res.payload(0,4) -m str CNTU }}
               tcp-response content sc-inc-gpc0(0) if {{ var(txn.first) -m str CNT }}
               tcp-response content reject if {{ var(txn.first) -m str CNT }}
               tcp-response content accept if {{ res.payload_lv(0,1) -m str hello }}
               tcp-response content reject if {{ res.payload(0,1) -m bin 03 }}
               server s1 {S}
               """)
           + eslib.section("listen lh", f"""
               mode http
               bind {L}:{p_h}
               tcp-response inspect-delay 1s
               tcp-response content set-var(txn.len) res.len
               tcp-response content set-var(txn.pl) res.payload(0,4)
               tcp-response content reject if {{ status 503 }}
               http-response set-header X-Len %[var(txn.len)]
               http-response set-header X-PL found if {{ var(txn.pl) -m found }}
               server s1 {L}:{o.port}
               """)
           + eslib.section("frontend fd", f"""
               bind {L}:{p_d}
               bind {L}:{p_d2}
               bind {L}:{p_d3}
               default_backend bd
               """)
           + eslib.section("frontend ft", f"""
               bind {L}:{p_t}
               bind {L}:{p_t2}
               tcp-request inspect-delay 3s
               tcp-request content set-var(txn.fe) str(fe)
               tcp-request content accept if {{ req.len ge 1 }}
               use_backend bt2 if {{ dst_port {p_t2} }}
               default_backend bt
               """)
           + eslib.section("backend bt", f"""
               tcp-request inspect-delay 1s
               tcp-request content reject unless {{ var(txn.fe) -m str fe }}
               tcp-request content accept if {{ req.payload(0,4) -m str GOOD }}
               tcp-request content reject if {{ req.payload(0,3) -m str BAD }}
               tcp-request content accept if {{ req.len ge 10 }}
               tcp-request content reject
               server s1 {S}
               """)
           + eslib.section("backend bt2", f"""
               tcp-request content reject if {{ req.len lt 10 }}
               server s1 {S}
               """)
           + eslib.section("defaults dr", f"""
               mode tcp
               timeout connect 2s
               timeout client 6s
               timeout server 6s
               tcp-response inspect-delay 1s
               tcp-response content reject if {{ dst_port {p_d3} }}
               tcp-response content accept if {{ dst_port {p_d2} }}
               """)
           + eslib.section("backend bd from dr", f"""
               tcp-response content reject if {{ res.payload(0,3) -m str ACC }}
               tcp-response content reject if {{ res.len eq 0 }}
               server s1 {S}
               """))
    p = eslib.start_proxy(h, cfg, ports=[p_fe, p_li, p_h, p_d, p_d2, p_d3, p_t, p_t2, p_n], sock=sock)

    def result(token, what):
        return srv.await_result(token, 8.0, what)

    DRESP = ("dresp",)

    # ------------------------------------------------------------------ 1. mode tcp backend
    r = exchange(p_fe, f"Ta1 {steps((0, b'OK hi'))}\n".encode() + b"ping\n", shut=True)
    check_eq((r["how"], r["data"]), ("eof", b"OK hi"), "1: accept on OK: the bytes reach the client, then the server's close")
    check(r["t_first"] is not None and r["t_first"] < 0.5, f"1: accept on OK: forwarded at once ({r['t_first']})")
    s = result("a1", "1: accept")
    check_eq(s["got"], b"Ta1 " + steps((0, b"OK hi")).encode() + b"\nping\n", "1: accept: the client's bytes reached the server")

    r = exchange(p_fe, f"Tr1 {steps((0, b'ERR x'))}\n".encode())
    check_eq((r["how"] == "eof", r["data"]), (True, b""), f"1: reject on ERR: closed, nothing forwarded ({r})")
    check(r["t_end"] < 0.6, f"1: reject on ERR: at once ({r['t_end']:.2f}s)")
    s = result("r1", "1: reject")
    check(s["end"] == "eof" or s["end"].startswith("reset"), f"1: reject: the server's connection was closed too: {s}")
    log(f"1: accept forwards at once; reject closes the client ({r['how']}) with nothing sent")

    r = exchange(p_fe, f"Tr2 {steps((0, b'E'), (300, b'RR x'))}\n".encode())
    check_eq(r["data"], b"", "1: 'E' then 'RR x' 300 ms later: rejected, nothing forwarded")
    check(r["how"] == "eof" and 0.2 < r["t_end"] < 0.9,
          f"1: rejected when the second piece arrives (~0.3 s, before the 1 s delay): {r['how']} {r['t_end']:.2f}")
    result("r2", "1: split reject")

    r = exchange(p_fe, f"Th1 {steps((0, b'O'), (300, b'K yes'))}\n".encode(), shut=True)
    check_eq((r["how"], r["data"]), ("eof", b"OK yes"), "1: 'O' then 'K yes': accepted, forwarded whole")
    check(0.2 < r["t_first"] < 0.9, f"1: the 'O' was held until 'K' came (~0.3 s): {r['t_first']:.2f}")
    result("h1", "1: split accept")

    r = exchange(p_fe, f"Ts1 {steps((2000, b'OK late'))}\n".encode())
    check_eq(r["data"], b"", "1: silent server: nothing forwarded")
    check(r["how"] == "eof" and 0.8 < r["t_end"] < 1.6,
          f"1: silent server: `reject if {{ res.len eq 0 }}` fires when inspect-delay (1 s) ends: {r['how']} {r['t_end']:.2f}")
    s = result("s1", "1: silent server")
    check(s["end"] in ("eof",) or s["end"].startswith("reset") or s["senderr"], f"1: silent server: its connection was closed ({s})")

    r = exchange(p_fe, f"Tp1 {steps((0, b'O'), (1800, b'K late'))}\n".encode(), shut=True)
    check_eq((r["how"], r["data"]), ("eof", b"OK late"), "1: 'O' then a pause longer than the delay: not rejected")
    check(0.8 < r["t_first"] < 1.5, f"1: the 'O' is forwarded when the delay ends (no rule matched: accept): {r['t_first']:.2f}")
    result("p1", "1: partial then pause")
    r = exchange(p_fe, f"Tf1 {steps((0, b'O'), (0, None))}\n".encode(), shut_after=1)
    check_eq((r["how"], r["data"]), ("eof", b"O"), "1: 'O' then the server's FIN: final evaluation, no rule matches: accepted")
    check(r["t_first"] < 0.5, f"1: the server's FIN ends the wait at once (not the 1 s delay): {r['t_first']:.2f}")
    result("f1", "1: partial then FIN")
    log("1: rules run again on each new piece; inspect-delay (or the server's FIN) ends the wait: final evaluation")

    before = counters(p, "be", DRESP, rows=("BACKEND", "s1"))
    r = exchange(p_fe, f"Tc1 {steps((0, b'BYE now'), (500, b'more'))}\n".encode(), wait=2.0)
    check_eq(r["data"], b"BYE now", "1: close on BYE: the bytes received so far are forwarded, 'more' never")
    check(r["how"] == "eof" and r["t_end"] < 0.5, f"1: close: the client is closed at once: {r['how']} {r['t_end']:.2f}")
    s = result("c1", "1: close")
    check(s["senderr"] is not None or s["end"] != "timeout",
          f"1: close: the server's connection was cut (its later send failed or it saw the close): {s}")
    log(f"1: close: client got the bytes then {r['how']}; server: end={s['end']} senderr={s['senderr']}")
    check_eq(counters(p, "be", DRESP, rows=("BACKEND", "s1")), before, "1: close is not counted as dresp")

    st = counters(p, "fe", ("dresp", "dreq", "eresp"), rows=("FRONTEND",))
    check_eq(st["FRONTEND"], (3, 0, 0), "1: fe FRONTEND dresp/dreq/eresp after 3 rejects (ERR, E+RR, silent)")
    st = counters(p, "be", ("dresp", "eresp", "econ"), rows=("BACKEND", "s1"))
    check_eq((st["BACKEND"], st["s1"]), ((3, 0, 0), (3, 0, 0)), "1: be BACKEND and s1 dresp/eresp/econ")
    log("1: tcp-response rejects counted in dresp (frontend, backend, server)")

    # no tcp-response inspect-delay: one final evaluation when the server connection is established
    r = exchange(p_n, f"Tn0 {steps((100, b'OK now'))}\n".encode())
    check(r["how"] == "eof" and r["data"] == b"" and r["t_end"] < 0.5,
          f"1: without inspect-delay the rules run at connect time on no data: `reject` wins over a later 'OK': {r}")
    check_eq(counters(p, "ln", DRESP, rows=("BACKEND",)), {"BACKEND": (1,)}, "1: ln dresp")
    log("1: without tcp-response inspect-delay nothing waits: the verdict comes on an empty buffer")

    # ------------------------------------------------------------------ 2. listen: vars, gpc0, payload_lv
    r = exchange(p_li, f"Tv1 {steps((0, b'CNT1'))}\n".encode())
    check_eq((r["how"] == "eof", r["data"]), (True, b""), "2: CNT: set-var then reject if var")
    r = exchange(p_li, f"Tv2 {steps((0, b'CNT2'))}\n".encode())
    check_eq(r["data"], b"", "2: CNT again: rejected")
    r = exchange(p_li, f"Tv3 {steps((0, b'CNTU'))}\n".encode(), shut_after=4)
    check_eq((r["how"], r["data"]), ("eof", b"CNTU"), "2: CNTU: unset-var removed the variable: not rejected")
    check(0.8 < r["t_first"] < 1.6,
          f"2: CNTU: held until the delay ended (payload_lv could still match with more bytes): {r['t_first']:.2f}")
    table = eslib.ctl_raw(sock, "show table li")
    m = re.search(r"key=127\.0\.0\.1 .*gpc0=(\d+)", table)
    check(m is not None and int(m.group(1)) == 2, f"2: sc-inc-gpc0(0) ran for the two CNT responses: {table!r}")
    log("2: set-var / unset-var / sc-inc-gpc0 in tcp-response content")

    lv_split = steps((0, b"\x05hel"), (300, b"lo!"))
    lv_short = steps((0, b"\x03abc"))
    r = exchange(p_li, f"Tl1 {lv_split}\n".encode(), shut=True)
    check_eq((r["how"], r["data"]), ("eof", b"\x05hello!"), "2: payload_lv(0,1) 'hello' split: accepted")
    check(0.2 < r["t_first"] < 0.9, f"2: payload_lv: waited for the announced length: {r['t_first']:.2f}")
    r = exchange(p_li, f"Tl2 {lv_short}\n".encode())
    check_eq((r["how"] == "eof", r["data"]), (True, b""), "2: length 3 'abc': rejected")
    check(r["t_end"] < 0.6, f"2: length 3 'abc': rejected at once (payload_lv is definite): {r['t_end']:.2f}")
    for t in ("v1", "v2", "v3", "l1", "l2"):
        result(t, f"2: {t}")
    st = counters(p, "li", DRESP)
    check_eq(st, {"FRONTEND": (3,), "BACKEND": (3,), "s1": (3,)}, "2: li dresp")
    log("2: res.payload_lv waits for the announced length, decides at once when complete")

    # ------------------------------------------------------------------ 3. mode http
    n = o.request_count()
    c = eslib.HttpClient(p_h)
    try:
        r1 = c.request("GET", "/")
        check_eq(r1.status, 200, "3: GET / status")
        check(r1.header("x-len", "").isdigit() and int(r1.header("x-len")) > 0, f"3: res.len > 0 in HTTP mode: {r1.brief()}")
        check_eq(r1.header("x-pl"), None, "3: res.payload never matches in HTTP mode (variable not set)")
        c.send(b"GET /status/503 HTTP/1.1\r\nHost: test.local\r\n\r\n")
        how, extra, _ = c.wait_closed(3.0)
        check(how == "eof" and extra in (b"", None), f"3: 503 on keep-alive: closed with no response ({how} {extra!r})")
    finally:
        c.close()
    resp, how, err = eslib.raw_exchange(p_h, b"GET /status/503 HTTP/1.1\r\nHost: a\r\n\r\n", timeout=3.0, close_wait=1.0)
    check(resp is None and how == "eof", f"3: reject on status 503: no response (not even a 502), closed: {resp} {how} {err}")
    check_eq(o.request_count() - n, 3, "3: the origin got the three requests (the response was rejected)")
    st = counters(p, "lh", DRESP)
    check_eq(st, {"FRONTEND": (2,), "BACKEND": (2,), "s1": (2,)}, "3: lh dresp")
    log("3: mode http: reject closes without a response; rules run for every response of a keep-alive connection")

    # ------------------------------------------------------------------ 4. named defaults
    # (only rules that decide on the first evaluation are pinned in the defaults: HAProxy 2.6 resumes
    # with the backend's own list after a wait and never returns to the defaults' list, see FACTS.md)
    r = exchange(p_d2, f"Td1 {steps((0, b'ACC'))}\n".encode(), shut_after=3)
    check_eq((r["how"], r["data"]), ("eof", b"ACC"),
             "4: the defaults' accept (dst_port) ends evaluation: the backend's `reject if ACC` is skipped")
    r = exchange(p_d3, f"Td2 {steps((0, b'OK!'))}\n".encode())
    check_eq((r["how"] == "eof", r["data"]), (True, b""), "4: the defaults' reject (dst_port)")
    r = exchange(p_d, f"Td3 {steps((0, b'ACC'))}\n".encode())
    check_eq((r["how"] == "eof", r["data"]), (True, b""), "4: no defaults' rule matches: the backend's own reject on ACC")
    r = exchange(p_d, f"Td4 {steps((1500, b'LATE'))}\n".encode())
    check(r["how"] == "eof" and r["data"] == b"" and 0.8 < r["t_end"] < 1.4,
          f"4: inherited inspect-delay (1 s): `reject if {{ res.len eq 0 }}` fires when it ends: {r}")
    for t in ("d1", "d3", "d4"):  # d2 is rejected on the first evaluation: its line may never reach the server
        result(t, f"4: {t}")
    check_eq(counters(p, "bd", DRESP, rows=("BACKEND",)), {"BACKEND": (3,)}, "4: bd dresp")
    log("4: named defaults' tcp-response rules run first; inspect-delay inherited")

    # ------------------------------------------------------------------ 5. tcp-request content in a backend
    fe_before = counters(p, "ft", ("dreq",), rows=("FRONTEND",))["FRONTEND"][0]
    acc0 = srv.accepts
    r = exchange(p_t, b"GOOD Tg1\n", shut=True)
    check_eq(r["how"], "eof", "5: GOOD: accepted by the backend")
    s = result("g1", "5: GOOD")
    check_eq(s["got"], b"GOOD Tg1\n", "5: GOOD: the server got the bytes")

    acc0 = srv.accepts
    r = exchange(p_t, b"BA", more=(0.3, b"D Tb1\n"))
    check_eq(r["data"], b"", "5: BA + D: rejected")
    check(r["how"] in ("eof", "reset") and 0.2 < r["t_end"] < 0.9,
          f"5: the backend waited for more client bytes after the frontend accepted, rejected on 'BAD': {r['how']} {r['t_end']:.2f}")
    check_eq(srv.accepts, acc0, "5: BAD: the server was never connected")
    log(f"5: backend reject seen by the client as {r['how']}")

    r = exchange(p_t, b"abcde", more=(0.5, b"fghij Ts2\n"), shut=True)
    check_eq(r["how"], "eof", "5: 5 + 5 bytes: accepted once req.len >= 10")
    s = result("s2", "5: req.len >= 10")
    check_eq(s["got"], b"abcdefghij Ts2\n", "5: the server got both pieces")
    check(s["t_accept"] - r["t0"] > 0.4,
          "5: the server connection was opened only after the second piece (the backend rules accepted)")

    acc0 = srv.accepts
    r = exchange(p_t, b"abc")
    check(r["how"] in ("eof", "reset") and r["data"] == b"" and 0.8 < r["t_end"] < 2.0,
          f"5: 3 bytes only: rejected when the backend's inspect-delay (1 s) ends, not the frontend's (3 s): {r}")
    check_eq(srv.accepts, acc0, "5: 3 bytes only: the server was never connected")

    r = exchange(p_t2, b"abc")
    check(r["how"] in ("eof", "reset") and r["data"] == b"" and r["t_end"] < 0.6,
          f"5: a backend without inspect-delay decides at once on what is there: {r}")
    check_eq(srv.accepts, acc0, "5: bt2 reject: the server was never connected")
    r = exchange(p_t2, b"abcdefghij Tn1\n", shut=True)
    check_eq(r["how"], "eof", "5: bt2: 10 bytes at once: accepted")
    check_eq(result("n1", "5: bt2 accept")["got"], b"abcdefghij Tn1\n", "5: bt2: the server got the bytes")

    st = show_stat_csv(p)
    check_eq(int(st[("ft", "FRONTEND")]["dreq"] or 0) - fe_before, 3, "5: backend tcp-request rejects counted as dreq on the frontend")
    log(f"5: backend rows after 3 rejects: bt dreq={st[('bt', 'BACKEND')]['dreq']!r} bt2 dreq={st[('bt2', 'BACKEND')]['dreq']!r}")
    check_eq((int(st[("bt", "BACKEND")]["dreq"] or 0), int(st[("bt2", "BACKEND")]["dreq"] or 0)), (0, 0),
             "5: ... and not on the backend")
    check_eq(int(st[("ft", "FRONTEND")]["dresp"] or 0), 0, "5: no dresp")
    log("5: backend tcp-request content: after the frontend's, waits under the backend's own delay")

    # ------------------------------------------------------------------ 6. -c
    def cfg_with(section, body, mode="tcp"):
        return (eslib.defaults_section(mode=mode) + "\n" + eslib.section("frontend f", f"""
                bind {L}:{eslib.free_port()}
                default_backend b
                """) + eslib.section(section, body))

    srvline = f"server s1 {L}:{srv.port}"
    refused = [
        (eslib.defaults_section() + "\n" + eslib.section("frontend f", f"""
            bind {L}:{eslib.free_port()}
            tcp-response content reject
            default_backend b
            """) + eslib.section("backend b", srvline),
         "tcp-response content reject",
         ["tcp-response content is only allowed in 'backend' sections or 'defaults' section with a name"], "content in a frontend"),
        (eslib.defaults_section() + "\n" + eslib.section("frontend f", f"""
            bind {L}:{eslib.free_port()}
            tcp-response inspect-delay 1s
            default_backend b
            """) + eslib.section("backend b", srvline),
         "tcp-response inspect-delay 1s",
         ["tcp-response inspect-delay is only allowed in 'backend' sections or 'defaults' section with a name"],
         "inspect-delay in a frontend"),
        (eslib.defaults_section(extra="tcp-response content accept") + "\n"
         + eslib.section("listen l", f"bind {L}:{eslib.free_port()}\n{srvline}"),
         "tcp-response content accept",
         ["tcp-response content is only allowed in 'backend' sections or 'defaults' section with a name"],
         "content in an anonymous defaults"),
        (eslib.defaults_section(extra="tcp-response inspect-delay 1s") + "\n"
         + eslib.section("listen l", f"bind {L}:{eslib.free_port()}\n{srvline}"),
         "tcp-response inspect-delay 1s",
         ["tcp-response inspect-delay is only allowed in 'backend' sections or 'defaults' section with a name"],
         "inspect-delay in an anonymous defaults"),
        (cfg_with("backend b", f"tcp-response content rejet\n{srvline}"), "tcp-response content rejet",
         ["'tcp-response content' expects 'accept', 'close', 'reject', ", "in backend 'b' (got 'rejet').",
          "Did you mean 'reject' maybe ?"], "unknown action"),
        (cfg_with("backend b", f"tcp-response content accept foo\n{srvline}"), "tcp-response content accept foo",
         ["'tcp-response content accept' only accepts 'if' or 'unless', in backend 'b' (got 'foo')"], "junk after the action"),
        (cfg_with("backend b", f"tcp-response connection accept\n{srvline}"), "tcp-response connection accept",
         ["'tcp-response' expects 'inspect-delay' or 'content' in backend 'b' (got 'connection')"], "tcp-response connection"),
        (cfg_with("backend b", f"tcp-response\n{srvline}"), "tcp-response",
         ["missing argument for 'tcp-response' in backend 'b'"], "tcp-response alone"),
        (cfg_with("backend b", f"tcp-response inspect-delay 1x\n{srvline}"), "tcp-response inspect-delay 1x",
         ["'tcp-response inspect-delay' expects a positive delay in milliseconds, in backend 'b' (unexpected character 'x')"],
         "bad delay"),
        (cfg_with("backend b", f"tcp-response inspect-delay\n{srvline}"), "tcp-response inspect-delay",
         ["'tcp-response inspect-delay' expects a positive delay in milliseconds, in backend 'b'"], "missing delay"),
        (cfg_with("backend b", f"tcp-request connection accept\n{srvline}"), "tcp-request connection accept",
         ["tcp-request connection is not allowed because backend b is not a frontend"], "tcp-request connection in a backend"),
        (cfg_with("backend b", f"tcp-request session accept\n{srvline}"), "tcp-request session accept",
         ["tcp-request session is not allowed because backend b is not a frontend"], "tcp-request session in a backend"),
    ]
    for text, rule, frags, what in refused:
        eslib.check_refused(h, text, rule, frags, "6: " + what)
    warned = [
        (eslib.defaults_section() + "\n" + eslib.section("listen l", f"""
            bind {L}:{eslib.free_port()}
            tcp-response content reject if {{ req.len gt 0 }}
            {srvline}
            """), "tcp-response content reject if { req.len gt 0 }",
         ["anonymous acl will never match in 'tcp-response content' because it uses keyword 'req.len' which is "
          "incompatible with 'backend tcp-response content rule'"], "request fetch in a listen"),
        (cfg_with("backend b", f"acl A req.payload(0,1) -m bin 41\ntcp-response content reject if A\n{srvline}"),
         "tcp-response content reject if A",
         ["acl 'A' will never match in 'tcp-response content' because it only involves keywords that are "
          "incompatible with 'backend tcp-response content rule'"], "named acl with a request fetch"),
        (cfg_with("backend b", f"tcp-response inspect-delay 1s\ntcp-response inspect-delay 2s\n{srvline}"),
         "tcp-response inspect-delay 2s",
         ["ignoring tcp-response inspect-delay (was already defined) in backend 'b'"], "second inspect-delay"),
        (cfg_with("backend b", f"tcp-request content reject if {{ res.len gt 0 }}\n{srvline}"),
         "tcp-request content reject if { res.len gt 0 }",
         ["anonymous acl will never match in 'tcp-request content' because it uses keyword 'res.len' which is "
          "incompatible with 'backend tcp-request content rule'"], "response fetch in a backend tcp-request content"),
        (cfg_with("backend b", f"tcp-request inspect-delay 1s\ntcp-request inspect-delay 2s\n{srvline}"),
         "tcp-request inspect-delay 2s",
         ["ignoring tcp-request inspect-delay (was already defined) in backend 'b'"], "second backend tcp-request inspect-delay"),
    ]
    for text, rule, frags, what in warned:
        check_warns(h, text, rule, frags, "6: " + what)
    ok = cfg_with("backend b", f"""
        tcp-response inspect-delay 2s
        tcp-response content set-var(txn.x) res.len
        tcp-response content unset-var(txn.x)
        tcp-response content sc-inc-gpc0(0)
        tcp-response content close if {{ res.payload(0,3) -m str BYE }}
        tcp-response content reject if {{ res.payload_lv(0,1) -m str x }} {{ src 127.0.0.1 }}
        tcp-response content accept unless {{ res.len lt 1 }}
        {srvline}
        """)
    pr = h.run_cmd([os.environ["EDGESHARD_BIN"], "-c", "-f", h.write("ok.cfg", ok)], timeout=30)
    out = pr.stdout + pr.stderr
    check(pr.returncode == 0 and "Configuration file is valid" in out and "WARNING" not in out.upper(),
          f"6: valid tcp-response rules, no warning: rc={pr.returncode} {out!r}")
    log(f"6: -c refuses {len(refused)} configurations, warns on {len(warned)}, accepts the valid rules")


if __name__ == "__main__":
    eslib.run_http(main)
