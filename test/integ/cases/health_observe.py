#!/usr/bin/env python3
"""Passive checks: `observe layer4|layer7`, `error-limit`, `on-error fastinter|fail-check|sudden-death|
mark-down`, against origins that fail on purpose (`edgeshard-bench origin --fail KIND=100`, the
recording HTTP origin's /status/N). The same configuration passes against HAProxy 2.6
(ES_TEST_PEER=haproxy); every value asserted is what HAProxy 2.6 shows. The regular checks are
TCP checks that pass (a server's own port, or `port` to a listener), with `inter 60s` and
`max-spread-checks 500`: each server is checked once at start-up (full health: UP, rise 2 fall 3),
then not again during the test, so only the observation can move a server. Rows are read from the
CSV `show stat` (HAProxy 2.6 renders the duration of an observed failure, -1, as a u64 and its
JSON dump breaks on it).
  A. layer7 + mark-down (error-limit 5), every answer a 503: UP after 4 requests, DOWN right after
     the 5th; check_status HANA, check_desc "Health analyze", last_chk "Detected 5 consecutive
     errors, last one was: Wrong http response", check_code blank, check_health 0, chkfail 1,
     chkdown 1, hanafail 1, HAProxy's DOWN log line; the 6th request is the proxy's own 503; it
     stays DOWN (its next check is a minute away).
  B. fail-check: every 5 errors is one failed check: "UP 2/3" (health 3), "UP 1/3" (2), DOWN at
     15 (chkfail/hanafail 3). sudden-death: "UP 1/3" at 5, DOWN at 10. `observe layer7` alone:
     error-limit 10 and fail-check by default ("UP 2/3" at the 10th error, not before).
  C. fastinter (fastinter 300ms, httpchk to a recording origin): no check before the 5th error,
     exactly one check soon after it, the server stays UP (L7OK, hanafail 1, chkfail 0).
  D. What layer7 counts: reset -> 502 "Read error (http)", close -> 502 "Close from server (http)",
     garbage -> 502 "Invalid http response (headers)", no answer -> 504 "Read timeout (http)"
     (error-limit 2 each); 404, 499, 501, 505 are not errors, 500 is (error-limit 1); a good answer
     resets the count (503, 503, 200 four times with error-limit 3: UP, hanafail 0).
  E. A healthy server next to a failing one (roundrobin): the failing one is DOWN after its 5th
     error, the healthy one is never touched (hanafail 0) and then takes every request. With
     `retries 2` + `retry-on 503` + `option redispatch` every client gets a 200 and the retried
     503s are not observed: the failing server stays UP, hanafail 0 (HAProxy: wretr = wredis = 16,
     every request tried there first).
  F. layer4: a server whose port refuses (its check goes to a listener): with `retries 0` the 5th
     refused connection marks it DOWN ("L4 unsuccessful connection", econ 5); with `retries 2` +
     `option redispatch` clients all get 200 while it goes DOWN, its neighbour unaffected; in a
     mode tcp proxy (default retries 3) one client connection makes 4 failed attempts: DOWN,
     hanafail 2, chkfail 2, wretr 3, econ 1. layer4 ignores HTTP errors: a 503-only server with
     `observe layer4` stays UP, hanafail 0.
  G. `observe` without `check`: nothing is observed ("no check", hanafail 0). `observe layer7` in
     a mode tcp proxy (a configuration of its own): HAProxy 2.6 alerts, naming file:line
     ("'layer7' can only be used in http proxies"), `-c` exits 0, the proxy starts and the server
     is not observed (a refused connection with error-limit 1 leaves it UP, hanafail blank);
     a refusal naming file:line is accepted from edgeshard as the stricter reading (logged).
"""
import csv
import io
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import benchlib  # noqa: E402
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
CHK = "check inter 60s rise 2 fall 3"
FI_PATH = "/fi-check"


def csv_stats(es):
    """`show stat` (CSV) -> {(pxname, svname): {column: text}}."""
    text = es.ctl("show stat")
    lines = text.splitlines()
    check(lines and lines[0].startswith("# pxname,svname"), f"`show stat` header: {text[:200]!r}")
    names = lines[0][2:].split(",")
    out = {}
    for rec in csv.reader(io.StringIO("\n".join(lines[1:]))):
        if len(rec) >= 2:
            out[(rec[0], rec[1])] = dict(zip(names, rec))
    return out


COLS = ("status", "check_status", "check_code", "check_desc", "last_chk", "check_health", "chkfail", "chkdown",
        "hanafail", "econ", "wretr", "wredis")


def srv(es, px, sv="s"):
    """The server's CSV row once no check of it is in progress."""
    r = {}
    for _ in range(200):
        r = csv_stats(es).get((px, sv))
        check(r is not None, f"`show stat` has no row {px}/{sv}")
        if not r.get("check_status", "").startswith("* "):
            return r
        time.sleep(0.005)
    return r


def brief(r):
    return {k: r.get(k) for k in COLS}


def expect(es, px, want, what, sv="s", timeout=1.0):
    """Asserts the server's columns ({column: text}), allowing `timeout` seconds for a state change
    made while handling a request to show in `show stat`."""
    last = {}

    def ok():
        last["r"] = srv(es, px, sv)
        return all(last["r"].get(k) == v for k, v in want.items())

    try:
        eslib.poll_until(ok, timeout, interval=0.02, what=what)
    except eslib.Failure:
        r = last["r"]
        raise eslib.Failure(f"{what}: {px}/{sv} expected {want}, got {({k: r.get(k) for k in want})} "
                            f"(row {brief(r)})")
    return last["r"]


def get(port, target="/", timeout=5.0):
    """One request on its own connection: (status, Server header, X-Origin header)."""
    r = eslib.http_get(port, target, timeout=timeout)
    return r.status, r.header("Server"), r.header("X-Origin")


def fail_n(es, px, port, n, start_status="UP", what=""):
    """n requests answered by the failing origin (its 503 carries Server: edgeshard-bench); the
    server keeps `start_status` until the last one."""
    for i in range(n):
        st, server, _ = get(port)
        check_eq((st, server), (503, "edgeshard-bench"), f"{px} {what} request {i + 1}: the origin's own 503")
        if i < n - 1:
            check_eq(srv(es, px)["status"], start_status, f"{px}: status after {i + 1} errors")


def log_has(es, text, timeout=2.0):
    eslib.poll_until(lambda: text in es.stderr_text(), timeout, what=f"log line containing {text!r}")


def fi_checks(origin):
    return sum(1 for q in origin.requests() if q["target"] == FI_PATH)


def main(h):
    sock = h.sock_path()
    bench = {}
    for kind in ("503", "reset", "close", "garbage", "hang"):
        _, ports = benchlib.start_origin(h, "--http", f"{L}:0", "--threads", "1", "--fail", f"{kind}=100",
                                         name=f"origin-{kind}")
        bench[kind] = ports["http"]
    good = http_origin.start(h, name="good")
    echo = h.echo_server(name="echo")
    dead = eslib.free_port()  # nothing listens there
    o503 = bench["503"]
    fe = {}
    sections = []

    def listen(name, body, mode=None):
        fe[name] = eslib.free_port()
        head = (f"mode {mode}\n" if mode else "") + f"bind {L}:{fe[name]}\n"
        sections.append(eslib.section(f"listen {name}", head + body))

    listen("md", f"server s {L}:{o503} {CHK} observe layer7 error-limit 5 on-error mark-down")
    listen("fc", f"server s {L}:{o503} {CHK} observe layer7 error-limit 5 on-error fail-check")
    listen("sd", f"server s {L}:{o503} {CHK} observe layer7 error-limit 5 on-error sudden-death")
    listen("dflt", f"server s {L}:{o503} {CHK} observe layer7")
    listen("fi", f"""option httpchk GET {FI_PATH}
        server s {L}:{o503} {CHK} port {good.port} fastinter 300 observe layer7 error-limit 5 on-error fastinter""")
    listen("rst", f"server s {L}:{bench['reset']} {CHK} observe layer7 error-limit 2 on-error mark-down")
    listen("cls", f"server s {L}:{bench['close']} {CHK} observe layer7 error-limit 2 on-error mark-down")
    listen("grb", f"server s {L}:{bench['garbage']} {CHK} observe layer7 error-limit 2 on-error mark-down")
    listen("hng", f"""timeout server 500ms
        server s {L}:{bench['hang']} {CHK} observe layer7 error-limit 2 on-error mark-down""")
    listen("codes", f"server s {L}:{good.port} {CHK} observe layer7 error-limit 1 on-error mark-down")
    listen("alt", f"server s {L}:{good.port} {CHK} observe layer7 error-limit 3 on-error mark-down")
    listen("mix", f"""balance roundrobin
        server s {L}:{o503} {CHK} observe layer7 error-limit 5 on-error mark-down
        server g {L}:{good.port} {CHK} observe layer7 error-limit 1 on-error mark-down""")
    listen("mixr", f"""balance roundrobin
        retries 2
        retry-on 503
        option redispatch
        server s {L}:{o503} {CHK} observe layer7 error-limit 5 on-error mark-down
        server g {L}:{good.port} {CHK} observe layer7 error-limit 1 on-error mark-down""")
    listen("l4", f"""retries 0
        server s {L}:{dead} {CHK} port {echo.port} observe layer4 error-limit 5 on-error mark-down""")
    listen("l4r", f"""balance roundrobin
        retries 2
        option redispatch
        server s {L}:{dead} {CHK} port {echo.port} observe layer4 error-limit 5 on-error mark-down
        server g {L}:{good.port} {CHK} observe layer4 error-limit 1 on-error mark-down""")
    listen("l4s", f"server s {L}:{o503} {CHK} observe layer4 error-limit 2 on-error mark-down")
    listen("tcp4", f"server s {L}:{dead} {CHK} port {echo.port} observe layer4 error-limit 2 on-error mark-down",
           mode="tcp")
    listen("nochk", f"server s {L}:{o503} observe layer7 error-limit 2 on-error mark-down")
    cfg = (eslib.http_global(sock, nbthread=2, extra="max-spread-checks 500")
           + eslib.http_defaults(connect="500ms")
           + "".join(sections))
    t_start = time.monotonic()
    es = eslib.start_proxy(h, cfg, ports=list(fe.values()), sock=sock)

    # ---- every checked server UP at full health once its first check passed
    checked = [(px, sv) for px in fe if px != "nochk" for sv in (("s", "g") if px in ("mix", "mixr", "l4r") else ("s",))]

    def all_up():
        m = csv_stats(es)
        return all(m[k]["status"] == "UP" and m[k]["check_status"] in ("L4OK", "L7OK") for k in checked)

    eslib.poll_until(all_up, 5, interval=0.05, what="every checked server UP after its first check")
    log(f"all {len(checked)} checked servers UP {time.monotonic() - t_start:.2f}s after start")

    # ---- A. layer7 mark-down
    fail_n(es, "md", fe["md"], 5, what="mark-down")
    r = expect(es, "md", {"status": "DOWN", "check_status": "HANA", "check_code": "", "check_desc": "Health analyze",
                          "last_chk": "Detected 5 consecutive errors, last one was: Wrong http response",
                          "check_health": "0", "chkfail": "1", "chkdown": "1", "hanafail": "1"},
               "mark-down right after the 5th error")
    log(f"md after the 5th error: {brief(r)}, check_duration {r.get('check_duration')!r}")
    log_has(es, 'Server md/s is DOWN, reason: Health analyze, info: "Detected 5 consecutive errors, last one was: '
                'Wrong http response". 0 active and 0 backup servers left.')
    st, server, _ = get(fe["md"])
    check(st == 503 and server != "edgeshard-bench", f"with its only server DOWN the proxy answers 503 itself: "
                                                     f"{st} Server={server!r}")
    time.sleep(1.0)
    check_eq(srv(es, "md")["status"], "DOWN", "md stays DOWN (no check before inter)")

    # ---- B. fail-check, sudden-death, the defaults
    fail_n(es, "fc", fe["fc"], 5, what="fail-check")
    expect(es, "fc", {"status": "UP 2/3", "check_status": "HANA", "check_health": "3", "chkfail": "1",
                      "hanafail": "1", "chkdown": "0",
                      "last_chk": "Detected 5 consecutive errors, last one was: Wrong http response"},
           "fail-check after 5 errors: one failed check")
    fail_n(es, "fc", fe["fc"], 5, start_status="UP 2/3", what="fail-check")
    expect(es, "fc", {"status": "UP 1/3", "check_health": "2", "chkfail": "2", "hanafail": "2"},
           "fail-check after 10 errors")
    fail_n(es, "fc", fe["fc"], 5, start_status="UP 1/3", what="fail-check")
    expect(es, "fc", {"status": "DOWN", "check_status": "HANA", "check_health": "0", "chkfail": "3", "hanafail": "3",
                      "chkdown": "1"}, "fail-check after 15 errors (fall 3)")
    check_eq(get(fe["fc"])[:2], (503, None), "fc DOWN: the proxy's own 503")

    fail_n(es, "sd", fe["sd"], 5, what="sudden-death")
    expect(es, "sd", {"status": "UP 1/3", "check_status": "HANA", "check_health": "2", "chkfail": "1",
                      "hanafail": "1"}, "sudden-death after 5 errors: one failure from DOWN")
    fail_n(es, "sd", fe["sd"], 5, start_status="UP 1/3", what="sudden-death")
    expect(es, "sd", {"status": "DOWN", "check_health": "0", "chkfail": "2", "hanafail": "2", "chkdown": "1"},
           "sudden-death after 10 errors")

    fail_n(es, "dflt", fe["dflt"], 10, what="default error-limit")
    expect(es, "dflt", {"status": "UP 2/3", "check_status": "HANA", "check_health": "3", "chkfail": "1",
                        "hanafail": "1",
                        "last_chk": "Detected 10 consecutive errors, last one was: Wrong http response"},
           "observe layer7 alone: error-limit 10, on-error fail-check")

    # ---- C. fastinter: one check soon after the error-limit, nothing else
    time.sleep(0.3)
    n0 = fi_checks(good)
    check(n0 >= 1, f"fi's first check reached the origin: {n0}")
    fail_n(es, "fi", fe["fi"], 4, what="fastinter")
    time.sleep(0.6)
    check_eq(fi_checks(good), n0, "no check forced before the error-limit")
    t0 = time.monotonic()
    check_eq(get(fe["fi"])[:2], (503, "edgeshard-bench"), "fi: the 5th error")
    eslib.poll_until(lambda: fi_checks(good) > n0, 2, interval=0.01, what="the check forced by on-error fastinter")
    took = time.monotonic() - t0
    log(f"fastinter: a check {took * 1000:.0f} ms after the 5th error (fastinter 300 ms)")
    check(0.2 <= took <= 1.0, f"the forced check comes after fastinter: {took:.3f}s")
    time.sleep(0.8)
    check_eq(fi_checks(good), n0 + 1, "exactly one forced check, then back to inter")
    expect(es, "fi", {"status": "UP", "check_status": "L7OK", "check_health": "4", "chkfail": "0", "hanafail": "1"},
           "on-error fastinter leaves the server UP")

    # ---- D. what layer7 counts
    for px, want_status, detail in (("rst", 502, "Read error (http)"), ("cls", 502, "Close from server (http)"),
                                    ("grb", 502, "Invalid http response (headers)"),
                                    ("hng", 504, "Read timeout (http)")):
        for i in range(2):
            check_eq(get(fe[px])[0], want_status, f"{px}: request {i + 1}")
            if i == 0:
                check_eq(srv(es, px)["status"], "UP", f"{px}: UP after one error")
        expect(es, px, {"status": "DOWN", "check_status": "HANA", "hanafail": "1",
                        "last_chk": f"Detected 2 consecutive errors, last one was: {detail}"}, f"{px}: DOWN")
    for code in (404, 499, 501, 505):
        check_eq(get(fe["codes"], f"/status/{code}")[0], code, f"codes: /status/{code}")
        expect(es, "codes", {"status": "UP", "hanafail": "0"}, f"a {code} is not an observed error")
    check_eq(get(fe["codes"], "/status/500")[0], 500, "codes: /status/500")
    expect(es, "codes", {"status": "DOWN", "hanafail": "1",
                         "last_chk": "Detected 1 consecutive errors, last one was: Wrong http response"},
           "a 500 is an observed error")
    for _ in range(4):
        check_eq([get(fe["alt"], t)[0] for t in ("/status/503", "/status/503", "/")], [503, 503, 200],
                 "alt: two 503 then a 200")
    expect(es, "alt", {"status": "UP", "check_status": "L4OK", "hanafail": "0", "chkfail": "0"},
           "a good answer resets the consecutive errors")

    # ---- E. a healthy neighbour; retried 503s
    seq = []
    c = eslib.HttpClient(fe["mix"], timeout=5)
    for i in range(16):
        r = c.request("GET", f"/m{i}")
        seq.append((r.status, r.header("X-Origin") or r.header("Server")))
    c.close()
    log(f"mix: {seq}")
    bad = [i for i, x in enumerate(seq) if x == (503, "edgeshard-bench")]
    check(len(bad) == 5 and all(x == (200, "good") for i, x in enumerate(seq) if i not in bad),
          f"mix: the failing server answers exactly 5 times, the healthy one the rest: {seq}")
    check(all(b - a == 2 for a, b in zip(bad, bad[1:])), f"mix: roundrobin until the failing server is out: {bad}")
    expect(es, "mix", {"status": "DOWN", "hanafail": "1"}, "mix: the failing server")
    expect(es, "mix", {"status": "UP", "check_status": "L4OK", "hanafail": "0", "chkfail": "0"},
           "mix: the healthy server untouched", sv="g")
    c = eslib.HttpClient(fe["mixr"], timeout=5)
    seq = [c.request("GET", f"/r{i}") for i in range(16)]
    c.close()
    check_eq([(r.status, r.header("X-Origin")) for r in seq], [(200, "good")] * 16,
             "mixr: retry-on 503 + redispatch: every client gets the healthy server's 200")
    r = expect(es, "mixr", {"status": "UP", "hanafail": "0", "chkfail": "0"},
               "mixr: 503s retried elsewhere are not observed")
    log(f"mixr failing server: {brief(r)}")
    check(eslib.num(r["wredis"]) >= 8, f"mixr: the failing server's requests were redispatched: {brief(r)}")
    expect(es, "mixr", {"status": "UP", "hanafail": "0"}, "mixr: the healthy server", sv="g")

    # ---- F. layer4
    for i in range(5):
        st, server, _ = get(fe["l4"])
        check(st == 503 and server is None, f"l4 request {i + 1}: the proxy's 503 (refused, retries 0): {st}")
        if i < 4:
            check_eq(srv(es, "l4")["status"], "UP", f"l4: UP after {i + 1} refused connections")
    expect(es, "l4", {"status": "DOWN", "check_status": "HANA", "econ": "5", "hanafail": "1",
                      "last_chk": "Detected 5 consecutive errors, last one was: L4 unsuccessful connection"},
           "l4: DOWN at the 5th refused connection")
    log_has(es, 'Server l4/s is DOWN, reason: Health analyze, info: "Detected 5 consecutive errors, last one was: '
                'L4 unsuccessful connection".')
    statuses = []
    for i in range(12):
        statuses.append(get(fe["l4r"])[0])
        if srv(es, "l4r")["status"] == "DOWN":
            break
    log(f"l4r (retries 2, redispatch): {statuses} until DOWN")
    check_eq(set(statuses), {200}, "l4r: every client gets a 200")
    expect(es, "l4r", {"status": "DOWN",
                       "last_chk": "Detected 5 consecutive errors, last one was: L4 unsuccessful connection"},
           "l4r: the refusing server DOWN")
    expect(es, "l4r", {"status": "UP", "hanafail": "0"}, "l4r: its neighbour", sv="g")
    for i in range(10):
        check_eq(get(fe["l4s"])[:2], (503, "edgeshard-bench"), f"l4s request {i + 1}")
    expect(es, "l4s", {"status": "UP", "hanafail": "0"}, "layer4 ignores HTTP errors")

    s = eslib.connect(fe["tcp4"], timeout=5)
    how, data, secs = eslib.wait_eof(s, 5)
    s.close()
    log(f"tcp4: the client connection ended ({how}, {data!r}) after {secs:.2f}s")
    check(how in ("eof", "reset") and not data, f"tcp4: the client connection is closed: {how} {data!r}")
    r = expect(es, "tcp4", {"status": "DOWN", "hanafail": "2", "chkfail": "2", "wretr": "3", "econ": "1",
                            "last_chk": "Detected 2 consecutive errors, last one was: L4 unsuccessful connection"},
               "tcp4: every failed attempt (retries 3) counts")

    # ---- G. observe without check
    for i in range(3):
        check_eq(get(fe["nochk"])[:2], (503, "edgeshard-bench"), f"nochk request {i + 1}")
    expect(es, "nochk", {"status": "no check", "hanafail": "0", "check_status": ""},
           "observe without check observes nothing")
    log(f"done {time.monotonic() - t_start:.1f}s after start")

    tcp_layer7(h, echo, dead)


def tcp_layer7(h, echo, dead):
    """`observe layer7` in a mode tcp proxy, in a configuration of its own. HAProxy 2.6 prints an
    alert naming file:line and starts, the server not observed (a refused connection, an error for
    layer7 too, leaves it UP with hanafail blank). Refusing the file instead, naming file:line, is
    the stricter reading and is logged as such."""
    sock = h.sock_path("tcp7.sock")
    port = eslib.free_port()
    cfg = (eslib.http_global(sock, nbthread=2, extra="max-spread-checks 500")
           + eslib.http_defaults(connect="500ms")
           + eslib.section("listen tcp7", f"""
                mode tcp
                bind {L}:{port}
                retries 0
                server s {L}:{dead} {CHK} port {echo.port} observe layer7 error-limit 1 on-error mark-down"""))
    path = h.write("tcp7.cfg", eslib.peer_config(cfg))
    lineno = next(i + 1 for i, ln in enumerate(open(path).read().splitlines()) if "observe layer7" in ln)
    rc = h.run_cmd([h.bin, "-c", "-f", path])
    msg = [ln for ln in rc.stderr.splitlines() if "layer7" in ln]
    log(f"observe layer7 in a mode tcp proxy, `-c`: exit {rc.returncode}, {msg}")
    check(len(msg) == 1 and f"tcp7.cfg:{lineno}" in msg[0],
          f"one message about layer7 naming tcp7.cfg:{lineno}: {rc.stderr!r}")
    if rc.returncode != 0:
        check(eslib.on_edgeshard(), f"HAProxy 2.6 accepts observe layer7 in a mode tcp proxy: {rc.stderr!r}")
        log("observe layer7 in a mode tcp proxy is refused (HAProxy 2.6 alerts and starts)")
        return
    if not eslib.on_edgeshard():
        check("'layer7' can only be used in http proxies" in msg[0], f"the alert's text: {msg[0]!r}")
    es = eslib.start_proxy(h, cfg, ports=[port], sock=sock, name="tcp7")
    eslib.poll_until(lambda: srv(es, "tcp7")["status"] == "UP", 5, what="tcp7/s UP after its first check")
    check(any("layer7" in ln and f".cfg:{lineno}" in ln for ln in es.stderr_text().splitlines()),
          f"the alert is printed at start-up too: {es.tail(10)}")
    s = eslib.connect(port, timeout=5)
    how, _, _ = eslib.wait_eof(s, 5)
    s.close()
    check(how in ("eof", "reset"), f"tcp7: the connection is closed ({how})")
    r = expect(es, "tcp7", {"status": "UP", "check_status": "L4OK", "hanafail": "", "econ": "1"},
               "observe layer7 in a mode tcp proxy observes nothing")
    log(f"tcp7 after a refused connection: {brief(r)}")


if __name__ == "__main__":
    eslib.run_http(main)
