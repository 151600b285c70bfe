#!/usr/bin/env python3
"""Runtime server states through the control socket (two shards, so every change must reach both):
  - HTTP roundrobin backend be = s1 + s2 (weight 1 each);
  - `set server be/s1 state maint`: every request goes to s2; `show servers state` shows
    op_state 0 / admin_state 1; `ready`: both serve again;
  - `drain`: no new request goes to s1, yet a request already on s1 (a slow one) completes there;
    admin_state 8, op_state 2;
  - `set weight be/s1 3`: 400 requests split about 300/100; `get weight` says "3 (initial 1)";
    `set weight be/s1 0` and `50%` of the configured weight; `set server be/s1 weight 1`;
  - `disable server` / `enable server` on a TCP backend: connections avoid the disabled server;
  - a `level user` socket reads (`show servers state`, `get weight`) but is refused every change,
    and so is an operator-level socket; errors: unknown backend/server, bad state, bad weight.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, check_range, log  # noqa: E402

L = eslib.LOCALHOST


def origins_of(port, n, per_conn=10):
    """n requests, per_conn per client connection (new connections spread over the shards)."""
    counts = {}
    done = 0
    while done < n:
        c = eslib.HttpClient(port)
        for _ in range(min(per_conn, n - done)):
            r = c.request("GET", f"/r{done}")
            check_eq(r.status, 200, f"GET /r{done}: status ({r.brief()})")
            o = r.header("X-Origin")
            counts[o] = counts.get(o, 0) + 1
            done += 1
        c.sock.close()
    return counts


def state_rows(text):
    """`show servers state` -> {(be, srv): {column: value}}; checks the version and header lines."""
    lines = text.rstrip("\n").split("\n")
    check_eq(lines[0], "1", "show servers state: version line")
    check(lines[1].startswith("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
                              "srv_uweight srv_iweight"), f"show servers state: header {lines[1]!r}")
    cols = lines[1][2:].split()
    rows = {}
    for ln in lines[2:]:
        v = ln.split()
        check_eq(len(v), len(cols), f"columns in row {ln!r}")
        row = dict(zip(cols, v))
        rows[(row["be_name"], row["srv_name"])] = row
    return rows


def sstat(es, px, sv, field):
    """A `show stat json` value as text (status and other string fields)."""
    return str(es.stats()[(px, sv)][field])


def ok(es, command):
    answer = es.ctl(command)
    check_eq(answer, "\n", f"answer to {command!r}")


def main(h):
    s1 = http_origin.start(h, name="s1")
    s2 = http_origin.start(h, name="s2")
    A = h.echo_server(banner=b"A", name="A")
    B = h.echo_server(banner=b"B", name="B")
    port = eslib.free_port()
    tport = eslib.free_port()
    sock = h.sock_path()
    usock = h.sock_path("user.sock")
    osock = h.sock_path("oper.sock")
    cfg = (eslib.http_global(sock, nbthread=2, extra=f"""
                stats socket {usock} mode 600 level user
                stats socket {osock} mode 600 level operator""")
           + eslib.http_defaults()
           + eslib.section("frontend fe", f"bind {L}:{port}\ndefault_backend be")
           + eslib.section("backend be", f"""
                balance roundrobin
                server s1 {L}:{s1.port}
                server s2 {L}:{s2.port}""")
           + eslib.section("frontend fe_tcp", f"mode tcp\nbind {L}:{tport}\ndefault_backend be_tcp")
           + eslib.section("backend be_tcp", f"""
                mode tcp
                balance roundrobin
                server A {L}:{A.port}
                server B {L}:{B.port}"""))
    es = eslib.start_proxy(h, cfg, ports=[port, tport], sock=sock)

    rows = state_rows(es.ctl("show servers state"))
    r = rows[("be", "s1")]
    check_eq((r["srv_op_state"], r["srv_admin_state"], r["srv_uweight"], r["srv_iweight"], r["srv_addr"],
              r["srv_port"]), ("2", "0", "1", "1", L, str(s1.port)), "s1 at start")
    check(("be_tcp", "B") in rows, "show servers state lists every backend")

    counts = origins_of(port, 40)
    log(f"start: {counts}")
    check(counts.get("s1", 0) > 0 and counts.get("s2", 0) > 0, f"both servers serve at start: {counts}")

    # ---- maint
    ok(es, "set server be/s1 state maint")
    r = state_rows(es.ctl("show servers state be"))[("be", "s1")]
    check_eq((r["srv_op_state"], r["srv_admin_state"]), ("0", "1"), "s1 in maint: op_state, admin_state")
    check_eq(sstat(es, "be", "s1", "status"), "MAINT", "show stat status of s1 in maint")
    check_eq(es.stat("be", "BACKEND", "act"), 1, "show stat: active servers of be with s1 in maint")
    counts = origins_of(port, 100)
    log(f"s1 maint: {counts}")
    check_eq(counts, {"s2": 100}, "with s1 in maint every request goes to s2")

    # ---- ready
    ok(es, "set server be/s1 state ready")
    r = state_rows(es.ctl("show servers state be"))[("be", "s1")]
    check_eq((r["srv_op_state"], r["srv_admin_state"]), ("2", "0"), "s1 ready again")
    counts = origins_of(port, 100)
    log(f"s1 ready: {counts}")
    check_range(counts.get("s1", 0), 40, 60, "s1's share of 100 requests after ready")

    # ---- drain: new requests avoid s1, a request already on s1 completes there
    ok(es, "set server be/s2 state maint")
    slow = {}

    def slow_request():
        c = eslib.HttpClient(port, timeout=10)
        r = c.request("GET", "/delay/1500", timeout=10)
        slow["status"] = r.status
        slow["origin"] = r.header("X-Origin")
        c.sock.close()

    t = threading.Thread(target=slow_request, daemon=True)
    t.start()
    eslib.poll_until(lambda: s1.request_count() > 0 and any(
        q["target"].startswith("/delay/") for q in s1.requests()), 5, what="the slow request reaches s1")
    # two commands on one line: two answers, each only the end-of-answer empty line
    check_eq(es.ctl("set server be/s1 state drain; set server be/s2 state ready"), "\n\n",
             "drain s1 and ready s2 on one line")
    r = state_rows(es.ctl("show servers state be"))[("be", "s1")]
    check_eq((r["srv_op_state"], r["srv_admin_state"]), ("2", "8"), "s1 draining: op_state, admin_state")
    check_eq(sstat(es, "be", "s1", "status"), "DRAIN", "show stat status of s1 draining")
    counts = origins_of(port, 60)
    log(f"s1 drain: {counts}")
    check_eq(counts, {"s2": 60}, "with s1 draining every new request goes to s2")
    t.join(10)
    check(not t.is_alive(), "the slow request on the drained server finished")
    check_eq((slow.get("status"), slow.get("origin")), (200, "s1"), "the request already on s1 completes there")

    # ---- weights
    ok(es, "set server be/s1 state ready")
    ok(es, "set weight be/s1 3")
    check_eq(es.ctl("get weight be/s1"), "3 (initial 1)\n\n", "get weight after set weight")
    r = state_rows(es.ctl("show servers state"))[("be", "s1")]
    check_eq((r["srv_uweight"], r["srv_iweight"]), ("3", "1"), "uweight / iweight")
    check_eq((sstat(es, "be", "s1", "status"), es.stat("be", "s1", "weight")), ("no check", 3),
             "show stat status and weight of s1 at weight 3")
    check_eq(es.stat("be", "BACKEND", "weight"), 4, "show stat: backend weight is the sum of runtime weights")
    counts = origins_of(port, 400)
    log(f"weights 3:1: {counts}")
    # each shard runs an exact 3:1 rotation of its own requests
    check_range(counts.get("s1", 0), 288, 312, "s1's share of 400 requests at weight 3 vs 1")
    ok(es, "set weight be/s1 0")
    check_eq(origins_of(port, 40), {"s2": 40}, "weight 0: no request to s1")
    ok(es, "set weight be/s1 50%")  # of the configured 1: 0
    check_eq(es.ctl("get weight be/s1"), "0 (initial 1)\n\n", "50% of weight 1")
    ok(es, "set server be/s1 weight 1")
    counts = origins_of(port, 40)
    check_range(counts.get("s1", 0), 16, 24, "s1's share after `set server be/s1 weight 1`")

    # ---- TCP backend: disable / enable server
    def banners(n):
        got = {}
        for _ in range(n):
            s = eslib.connect(tport, timeout=5)
            b = eslib.recv_exact(s, 1, timeout=5, what="banner").decode()
            s.close()
            got[b] = got.get(b, 0) + 1
        return got

    ok(es, "disable server be_tcp/A")
    check_eq(banners(20), {"B": 20}, "TCP: with A disabled every connection goes to B")
    ok(es, "enable server be_tcp/A")
    got = banners(20)
    check(got.get("A", 0) > 0 and got.get("B", 0) > 0, f"TCP: both serve after enable: {got}")

    # ---- levels
    for path, level in ((usock, "user"), (osock, "operator")):
        for cmd in ("set server be/s1 state maint", "set weight be/s1 2", "disable server be/s1",
                    "enable server be/s1"):
            check_eq(eslib.ctl_raw(path, cmd), "Permission denied\n\n", f"{cmd!r} on a {level} socket")
        check_eq(eslib.ctl_raw(path, "get weight be/s1"), "1 (initial 1)\n\n", f"get weight on a {level} socket")
        r = state_rows(eslib.ctl_raw(path, "show servers state be"))[("be", "s1")]
        check_eq(r["srv_admin_state"], "0", f"the refused changes did nothing ({level} socket)")
        # the socket's level is the session's: an operator clears the maxima, only an admin every counter
        check_eq(eslib.ctl_raw(path, "show cli level"), f"{level}\n\n", f"the session's level on a {level} socket")
        check_eq(eslib.ctl_raw(path, "clear counters all"), "Permission denied\n\n", f"clear counters all ({level})")
        check_eq(eslib.ctl_raw(path, "clear counters"), "\n" if level == "operator" else "Permission denied\n\n",
                 f"clear counters on a {level} socket")

    # ---- errors
    check_eq(es.ctl("set server nope/s1 state maint"), "No such backend.\n\n", "unknown backend")
    check_eq(es.ctl("set server be/nope state maint"), "No such server.\n\n", "unknown server")
    check_eq(es.ctl("set server be state maint"), "Require 'backend/server'.\n\n", "no slash")
    check_eq(es.ctl("set server be/s1 state up"),
             "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n", "bad state")
    check_eq(es.ctl("set weight be/s1 300"),
             "Absolute weight can only be between 0 and 256 inclusive.\n\n", "weight out of range")
    check_eq(es.ctl("show servers state nope"), "Can't find backend.\n\n", "show servers state <unknown>")
    counts = origins_of(port, 20)
    check_range(counts.get("s1", 0), 8, 12, "nothing changed after the refused commands")


if __name__ == "__main__":
    eslib.run(main)
