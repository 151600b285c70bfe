#!/usr/bin/env python3
"""Active health checks (`server ... check`, `option httpchk`, `http-check`), run on the control
shard, against real origins on 127.0.0.1; the same configuration passes against HAProxy 2.6
(ES_TEST_PEER=haproxy). Two shards, so every state change must reach both.
  A. HTTP checks (`option httpchk GET /health`, inter 200ms, rise 2, fall 2): s1, s2 UP, backup b1
     idle; s1's origin stopped: DOWN within fall * inter (+ one check), `show stat` says DOWN /
     L4CON / "Connection refused" / chkdown 1, the log line is HAProxy's, no request reaches it;
     s2 stopped too: the backup serves ("Running on backup."); s1 restarted on its port: UP
     within rise * inter, traffic back on the active servers only.
  B. What a check expects: a 503 is L7STS with its reason; `http-check expect status 200` +
     `string`, `rstatus`, `! string` (L7RSP "HTTP check matched unwanted content"); `http-check
     send meth/uri/ver/hdr` reaches the origin as written; a backend whose servers are all DOWN
     answers 503.
  C. Hostile peers never wedge the checker: a server that stalls (L7TOUT), one that answers
     garbage (L7RSP), one that resets (SOCKERR "Connection reset by peer"); the CLI answers.
  D. TCP checks in a mode tcp backend (L4OK / L4CON) and a TLS check (`ssl verify none check`:
     L6OK over TLS, and an HTTP check through it).
  E. A server killed under load with `retries 3` + `option redispatch` (and `retry-on` the
     requests it had in flight: its connections close unanswered): no request fails, and
     the dead server gets no connection attempt once it is DOWN.
  F. Reload (edgeshard only: the handoff): a DOWN server stays DOWN in the new process, an UP
     one stays UP, and the counters carry over.
  G. Bad input: a bad regex and an unknown `http-check expect` match are file:line errors.
  I. `on-marked-down shutdown-sessions`: a server marked DOWN has its L4 session cut; a server
     without it keeps its session.
  J. `slowstart`: a server forced DOWN then UP takes a small share of the requests (throttle < 50%)
     and its full share once the ramp ends.
  H. Runtime commands: `set server ... health down|stopping|up` (DOWN, NOLB, UP at once, traffic
     follows), `disable|enable health`, maintenance pausing and resuming the checks.
"""
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from health_lib import srv, wait_status  # noqa: E402
import http_origin  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
INTER = 200  # ms


def origins_of(port, n, host="t.test"):
    got = {}
    c = eslib.HttpClient(port, timeout=5)
    for i in range(n):
        r = c.request("GET", f"/r{i}", headers=[("Host", host)])
        check_eq(r.status, 200, f"GET /r{i} ({r.brief()})")
        o = r.header("X-Origin")
        got[o] = got.get(o, 0) + 1
    c.close()
    return got


def stall_handler(conn, idx, server):
    # accepts and never answers (until the checker gives up and closes)
    conn.settimeout(10)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def garbage_handler(conn, idx, server):
    try:
        conn.recv(4096)
        conn.sendall(b"this is not HTTP at all\r\n\r\n")
    except OSError:
        pass


def reset_handler(conn, idx, server):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def main(h):
    sock = h.sock_path()
    s1 = http_origin.start(h, name="s1")
    s2 = http_origin.start(h, name="s2")
    b1 = http_origin.start(h, name="b1")
    o503 = http_origin.start(h, name="o503")
    ox = http_origin.start(h, name="ox")
    stall = h.threaded_server(stall_handler, name="stall")
    garbage = h.threaded_server(garbage_handler, name="garbage")
    reset = h.threaded_server(reset_handler, name="reset")
    echo = h.echo_server(name="echo")
    ca = tls_lib.make_ca(h, "ca", "Test CA")
    pem = tls_lib.make_cert(h, "tls", "origin.test", ["origin.test"], ca=ca)
    tctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tctx.load_cert_chain(pem)
    tls_o = http_origin.start(h, name="tlso", tls=tctx)
    dead_port = eslib.free_port()

    port, p503, pexp, pcli, ptcp, pkill, pload, pslow = (eslib.free_port() for _ in range(8))
    chk = f"default-server inter {INTER} rise 2 fall 2"
    cfg = (eslib.http_global(sock, nbthread=2)
           + eslib.http_defaults(connect="500ms", extra="retries 3\noption redispatch")
           + eslib.section("frontend fe", f"bind {L}:{port}\ndefault_backend be")
           + eslib.section("backend be", f"""
                option httpchk GET /health
                {chk}
                server s1 {L}:{s1.port} check
                server s2 {L}:{s2.port} check
                server b1 {L}:{b1.port} check backup""")
           + eslib.section("frontend fe503", f"bind {L}:{p503}\ndefault_backend b503")
           + eslib.section("backend b503", f"""
                option httpchk GET /status/503
                {chk}
                server o {L}:{o503.port} check""")
           + eslib.section("frontend fexp", f"bind {L}:{pexp}\ndefault_backend bexp")
           + eslib.section("backend bexp", f"""
                option httpchk
                http-check send meth GET uri /echo ver HTTP/1.1 hdr Host health.test hdr X-Check yes
                http-check expect status 200
                http-check expect string "origin"
                {chk}
                server x {L}:{ox.port} check""")
           + eslib.section("backend brstatus", f"""
                option httpchk GET /status/204
                http-check expect rstatus ^2[0-9]4$
                {chk}
                server x {L}:{ox.port} check""")
           + eslib.section("backend bneg", f"""
                option httpchk GET /
                http-check expect ! string hello
                {chk}
                server x {L}:{ox.port} check""")
           + eslib.section("backend bhostile", f"""
                option httpchk GET /
                timeout check 400ms
                {chk}
                server stall {L}:{stall.port} check
                server garbage {L}:{garbage.port} check
                server reset {L}:{reset.port} check""")
           + eslib.section("listen ltcp", f"""
                mode tcp
                bind {L}:{ptcp}
                {chk}
                server echo {L}:{echo.port} check
                server dead {L}:{dead_port} check""")
           + eslib.section("listen lkill", f"""
                mode tcp
                bind {L}:{pkill}
                {chk}
                server echo {L}:{echo.port} check on-marked-down shutdown-sessions""")
           + eslib.section("backend btls", f"""
                {chk}
                server t {L}:{tls_o.port} ssl verify none check""")
           + eslib.section("backend btlshttp", f"""
                option httpchk GET /health
                {chk}
                server t {L}:{tls_o.port} ssl verify none check""")
           + eslib.section("frontend fcli", f"bind {L}:{pcli}\ndefault_backend bcli")
           + eslib.section("backend bcli", f"""
                option httpchk GET /health
                default-server inter 3s rise 2 fall 2
                server x {L}:{ox.port} check
                server y {L}:{b1.port} check""")
           + eslib.section("frontend fslow", f"bind {L}:{pslow}\ndefault_backend bslow")
           + eslib.section("backend bslow", f"""
                option httpchk GET /health
                default-server inter 3s rise 2 fall 2 slowstart 4s
                server x {L}:{ox.port} check
                server y {L}:{b1.port} check""")
           + eslib.section("frontend fload", f"bind {L}:{pload}\ndefault_backend bload")
           + eslib.section("backend bload", f"""
                retry-on conn-failure empty-response response-timeout
                option httpchk GET /health
                {chk}
                server l1 {L}:{s2.port} check
                server l2 {L}:{ox.port} check"""))
    es = eslib.start_proxy(h, cfg, ports=[port, p503, pexp, pcli, ptcp, pkill, pload, pslow], sock=sock)

    # ---- A. HTTP checks, DOWN, backup, UP again
    wait_status(es, "be", "s1", "UP", 3, "s1 UP after its first checks")
    wait_status(es, "be", "s2", "UP", 3, "s2 UP")
    r = srv(es, "be", "s1")
    check_eq((r["check_status"], eslib.num(r["check_code"]), eslib.num(r["check_rise"]), eslib.num(r["check_fall"]),
              eslib.num(r["check_health"]), r["check_desc"]),
             ("L7OK", 200, 2, 2, 3, "Layer7 check passed"), "s1's check columns when UP")
    check_eq((eslib.num(r["act"]), eslib.num(r["bck"])), (1, 0), "s1 is an active server")
    check_eq((eslib.num(srv(es, "be", "b1")["act"]), eslib.num(srv(es, "be", "b1")["bck"])), (0, 1), "b1 is a backup")
    check(any(q["target"] == "/health" and q["method"] == "GET" for q in s1.requests()),
          "the checks reach s1 as GET /health")
    got = origins_of(port, 40)
    check(set(got) == {"s1", "s2"}, f"the active servers serve, the backup does not: {got}")

    s1_port = s1.port
    s1.stop()
    took = wait_status(es, "be", "s1", "DOWN", 3, "s1 DOWN after its origin stopped")
    log(f"s1 DOWN {took * 1000:.0f} ms after its origin stopped")
    check(took < (2 * INTER + INTER + 500) / 1000, f"s1 DOWN within fall * inter (+ a check): {took:.3f}s")
    r = srv(es, "be", "s1")
    check_eq((r["check_status"], r["last_chk"], r["check_desc"], eslib.num(r["chkdown"]), eslib.num(r["check_health"])),
             ("L4CON", "Connection refused", "Layer4 connection problem", 1, 0), "s1's check columns when DOWN")
    check(eslib.num(r["chkfail"]) >= 1, f"chkfail counts the failed checks: {r['chkfail']}")
    check_eq(eslib.num(es.stat("be", "BACKEND", "act")), 1, "one active server left in be")
    got = origins_of(port, 30)
    check_eq(got, {"s2": 30}, "with s1 DOWN every request goes to s2")
    eslib.poll_until(lambda: "Server be/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\""
                     in es.stderr_text(), 2, what="the DOWN log line")
    line = [ln for ln in es.stderr_text().splitlines() if "Server be/s1 is DOWN" in ln][0]
    log(f"log: {line}")
    check("1 active and 1 backup servers left." in line, f"servers left in the log line: {line!r}")

    s2_port = s2.port
    s2.stop()
    wait_status(es, "be", "s2", "DOWN", 3, "s2 DOWN")
    got = origins_of(port, 20)
    check_eq(got, {"b1": 20}, "with every active server DOWN the backup serves")
    r = srv(es, "be", "BACKEND")
    check_eq((str(r["status"]), eslib.num(r["act"]), eslib.num(r["bck"])), ("UP", 0, 1), "backend UP on its backup")
    eslib.poll_until(lambda: "Running on backup." in es.stderr_text(), 2, what="'Running on backup.' logged")

    s1 = http_origin.start(h, name="s1", port=s1_port)
    took = wait_status(es, "be", "s1", "UP", 3, "s1 UP after its origin restarted")
    log(f"s1 UP {took * 1000:.0f} ms after its origin restarted (rise 2, inter {INTER} ms)")
    check(took < (2 * INTER + INTER + 500) / 1000, f"s1 UP within rise * inter (+ a check): {took:.3f}s")
    got = origins_of(port, 20)
    check_eq(got, {"s1": 20}, "the active server back: the backup idles again")
    r = srv(es, "be", "s1")
    check(eslib.num(r["downtime"]) >= 0 and eslib.num(r["chkdown"]) == 1, f"downtime/chkdown after UP: {r}")

    # ---- B. what a check expects
    wait_status(es, "b503", "o", "DOWN", 3, "a server answering 503 goes DOWN")
    r = srv(es, "b503", "o")
    check_eq((r["check_status"], eslib.num(r["check_code"]), r["last_chk"]), ("L7STS", 503, "Service Unavailable"),
             "a 503: L7STS with its reason")
    rr = eslib.http_get(p503, "/")
    check_eq(rr.status, 503, "a backend without an UP server answers 503")
    wait_status(es, "bexp", "x", "UP", 3, "expect status 200 + string: UP")
    echo_req = [q for q in ox.requests() if q["target"] == "/echo"]
    check(echo_req, "http-check send uri /echo reached the origin")
    q = echo_req[-1]
    hdrs = {n.lower(): v for n, v in q["headers"]}
    check_eq((q["method"], q["version"], hdrs.get("host"), hdrs.get("x-check")), ("GET", "HTTP/1.1", "health.test", "yes"),
             "http-check send meth/ver/hdr as written")
    wait_status(es, "brstatus", "x", "UP", 3, "expect rstatus ^2[0-9]4$ on a 204: UP")
    wait_status(es, "bneg", "x", "DOWN", 3, "expect ! string hello on 'hello from ox': DOWN")
    r = srv(es, "bneg", "x")
    check_eq((r["check_status"], r["last_chk"]), ("L7RSP", "HTTP check matched unwanted content"),
             "a negated string match that matches")

    # ---- C. hostile peers
    wait_status(es, "bhostile", "stall", "DOWN", 4, "a stalling server goes DOWN")
    check_eq(srv(es, "bhostile", "stall")["check_status"].lstrip("* "), "L7TOUT", "a stalling server: L7TOUT")
    wait_status(es, "bhostile", "garbage", "DOWN", 3, "a garbage answer goes DOWN")
    check_eq(srv(es, "bhostile", "garbage")["check_status"].lstrip("* "), "L7RSP", "a garbage answer: L7RSP")
    wait_status(es, "bhostile", "reset", "DOWN", 3, "a resetting server goes DOWN")
    r = srv(es, "bhostile", "reset")
    check(r["check_status"].lstrip("* ") in ("SOCKERR", "L4CON"), f"a reset: {r['check_status']}")
    check_eq(r["last_chk"], "Connection reset by peer", "a reset: its detail")
    check_eq(srv(es, "bhostile", "garbage")["check_desc"], "Layer7 invalid response", "a garbage answer: its description")
    t0 = time.monotonic()
    es.ctl("show info")
    check(time.monotonic() - t0 < 1.0, "the CLI answers while hostile peers are checked")

    # ---- D. TCP and TLS checks
    wait_status(es, "ltcp", "echo", "UP", 3, "a TCP check on a listening server: UP")
    check_eq(srv(es, "ltcp", "echo")["check_status"].lstrip("* "), "L4OK", "TCP check passed")
    wait_status(es, "ltcp", "dead", "DOWN", 3, "a TCP check on a closed port: DOWN")
    data = b"ping through the checked tcp backend"
    for _ in range(6):
        c = eslib.connect(ptcp, timeout=5)
        c.sendall(data)
        check_eq(eslib.recv_exact(c, len(data), timeout=5, what="echo"), data, "L4 traffic avoids the DOWN server")
        c.close()
    wait_status(es, "btls", "t", "UP", 3, "a TLS server checked over TLS: UP")
    check_eq(srv(es, "btls", "t")["check_status"].lstrip("* "), "L6OK", "a TCP check over TLS: L6OK")
    wait_status(es, "btlshttp", "t", "UP", 3, "an HTTP check over TLS: UP")
    check_eq(srv(es, "btlshttp", "t")["check_status"].lstrip("* "), "L7OK", "an HTTP check over TLS: L7OK")

    # ---- E. a server killed under load: retries + redispatch hide it, then checks take it out
    s2 = http_origin.start(h, name="s2", port=s2_port)
    wait_status(es, "bload", "l1", "UP", 3, "l1 UP")
    wait_status(es, "bload", "l2", "UP", 3, "l2 UP")
    stop = threading.Event()
    results = {"ok": 0, "bad": []}
    lock = threading.Lock()

    def load():
        dl = eslib.Deadline(15)
        while not stop.is_set() and not dl.expired():
            try:
                c = eslib.HttpClient(pload, timeout=5)
                for _ in range(20):
                    r = c.request("GET", "/l")
                    with lock:
                        if r.status == 200:
                            results["ok"] += 1
                        else:
                            results["bad"].append(r.status)
                c.close()
            except Exception as e:  # noqa: BLE001 - a failed request is the measurement
                with lock:
                    results["bad"].append(repr(e))

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    s2.stop()
    wait_status(es, "bload", "l1", "DOWN", 3, "l1 DOWN under load")
    econ0 = eslib.num(srv(es, "bload", "l1").get("econ")) + eslib.num(srv(es, "bload", "l1").get("wretr"))
    time.sleep(0.6)
    econ1 = eslib.num(srv(es, "bload", "l1").get("econ")) + eslib.num(srv(es, "bload", "l1").get("wretr"))
    stop.set()
    for t in threads:
        t.join(10)
    log(f"under load: {results['ok']} requests answered 200, failures {results['bad'][:5]}, "
        f"l1 connection errors+retries {econ0} at DOWN, {econ1} 0.6 s later")
    check(results["ok"] > 50, f"the load ran: {results['ok']} requests")
    check_eq(results["bad"], [], "no request failed while another server was up")
    check_eq(econ1, econ0, "no connection attempt to the DOWN server")

    # ---- H. runtime commands (inter 3s: nothing but the commands moves these servers)
    wait_status(es, "bcli", "x", "UP", 5, "bcli/x UP")
    wait_status(es, "bcli", "y", "UP", 5, "bcli/y UP")

    def cmd(c, want="\n"):
        check_eq(es.ctl(c), want, f"answer to {c!r}")

    def op_state(sv):
        for ln in es.ctl("show servers state bcli").splitlines()[2:]:
            f = ln.split()
            if len(f) > 13 and f[3] == sv:
                return f[5], f[13]
        raise eslib.Failure(f"no row for bcli/{sv}")

    cmd("set server bcli/x health down")
    check_eq(str(srv(es, "bcli", "x")["status"]), "DOWN", "`health down`: DOWN at once")
    check_eq(op_state("x")[0], "0", "`health down`: srv_op_state")
    check_eq(origins_of(pcli, 10), {"b1": 10}, "`health down`: no request to x")
    cmd("set server bcli/x health stopping")
    check_eq(str(srv(es, "bcli", "x")["status"]), "NOLB", "`health stopping`: NOLB")
    check_eq(op_state("x")[0], "3", "`health stopping`: srv_op_state")
    check_eq(origins_of(pcli, 10), {"b1": 10}, "`health stopping`: no new request to x")
    cmd("set server bcli/x health up")
    check_eq(str(srv(es, "bcli", "x")["status"]), "UP", "`health up`: UP")
    got = origins_of(pcli, 10)
    check(got.get("ox", 0) > 0, f"`health up`: x serves again: {got}")
    cmd("set server bcli/x health maybe", "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n")
    cmd("disable health bcli/x")
    r = srv(es, "bcli", "x")
    check_eq((str(r["status"]), r.get("check_status", "")), ("no check", ""), "`disable health`: unchecked")
    cmd("enable health bcli/x")
    check_eq(str(srv(es, "bcli", "x")["status"]), "UP", "`enable health`: UP again")
    cmd("set server bcli/y state maint")
    check_eq((str(srv(es, "bcli", "y")["status"]), op_state("y")[1]), ("MAINT", "14"),
             "maintenance pauses the checks (check_state 0x8)")
    cmd("set server bcli/y state ready")
    check_eq(int(op_state("y")[1]) & ~1, 6, "leaving maintenance resumes the checks (0x1: one may be running)")
    wait_status(es, "bcli", "y", "UP", 5, "y UP after maintenance")

    # ---- I. on-marked-down shutdown-sessions cuts the server's sessions; without it they stay
    wait_status(es, "lkill", "echo", "UP", 3, "lkill/echo UP")
    wait_status(es, "ltcp", "echo", "UP", 3, "ltcp/echo UP")
    held = {}
    for name, p in (("kill", pkill), ("keep", ptcp)):
        c = eslib.connect(p, timeout=5)
        c.sendall(b"before")
        check_eq(eslib.recv_exact(c, 6, timeout=5, what="echo"), b"before", f"{name}: the session works")
        held[name] = c
    cmd("set server lkill/echo health down")
    cmd("set server ltcp/echo health down")
    how = eslib.wait_eof(held["kill"], 3)[0]
    check(how in ("eof", "reset"), f"on-marked-down shutdown-sessions: the session is cut ({how!r})")
    held["keep"].sendall(b"after")
    check_eq(eslib.recv_exact(held["keep"], 5, timeout=5, what="echo"), b"after",
             "without on-marked-down the session outlives the DOWN state")
    for c in held.values():
        c.close()
    cmd("set server lkill/echo health up")
    cmd("set server ltcp/echo health up")

    # ---- J. slowstart: a server back UP takes a small share first, its full share later
    wait_status(es, "bslow", "x", "UP", 5, "bslow/x UP")
    wait_status(es, "bslow", "y", "UP", 5, "bslow/y UP")
    got = origins_of(pslow, 40)
    check(15 <= got.get("ox", 0) <= 25, f"slowstart does not apply at start: {got}")
    cmd("set server bslow/x health down")
    cmd("set server bslow/x health up")
    thr = srv(es, "bslow", "x").get("throttle")
    check(thr not in (None, "") and 0 < eslib.num(thr) < 50, f"throttle right after UP: {thr!r}")
    got = origins_of(pslow, 64)
    log(f"slowstart, right after UP: {got}")
    check(got.get("ox", 0) <= 16, f"a server back UP with slowstart takes a small share first: {got}")
    eslib.poll_until(lambda: srv(es, "bslow", "x").get("throttle") in (None, ""), 8, what="the ramp to end")
    got = origins_of(pslow, 40)
    log(f"slowstart, after the ramp: {got}")
    check(15 <= got.get("ox", 0) <= 25, f"after slowstart the server takes its full share: {got}")

    # ---- F. reload keeps health (edgeshard's handoff)
    if eslib.edgeshard_only("health carried across a reload"):
        import reload_lib  # noqa: E402
        wait_status(es, "be", "s2", "DOWN", 3, "s2 DOWN before the reload")
        chkdown = eslib.num(srv(es, "be", "s2")["chkdown"])
        files = [h.write("es-reload.cfg", cfg)]
        new, gen = reload_lib.reload(h, es, files, sock, "gen2", ports=[port])
        r = srv(new, "be", "s2")
        check_eq(str(r["status"]), "DOWN", "s2 (DOWN before the reload) is DOWN at once in the new process")
        check_eq(eslib.num(r["chkdown"]), chkdown, "its chkdown carried over")
        check_eq(str(srv(new, "be", "s1")["status"]).split()[0], "UP", "s1 (UP before the reload) is UP")
        got = origins_of(port, 20)
        check_eq(got, {"s1": 20}, "right after the reload no request goes to the DOWN server")
        reload_lib.wait_exit(es, 15, "the old process")

    # ---- G. bad input
    if eslib.edgeshard_only("config errors name file:line"):
        bad = h.write("bad.cfg", eslib.http_defaults() + eslib.section("backend b", """
            option httpchk
            http-check expect rstring ([a-z""") + "\n")
        rc = h.run_cmd([h.bin, "-c", "-f", bad])
        check(rc.returncode != 0 and "bad.cfg:" in rc.stderr and "invalid regular expression" in rc.stderr,
              f"a bad regex: {rc.stderr!r}")
        bad2 = h.write("bad2.cfg", eslib.http_defaults() + eslib.section("backend b", """
            http-check expect hdre x y""") + "\n")
        rc = h.run_cmd([h.bin, "-c", "-f", bad2])
        check(rc.returncode != 0 and "bad2.cfg:" in rc.stderr and "unknown 'http-check expect' match" in rc.stderr,
              f"an unknown match: {rc.stderr!r}")


if __name__ == "__main__":
    eslib.run_http(main)
