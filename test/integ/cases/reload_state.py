#!/usr/bin/env python3
"""What a reload carries over, and how an old process leaves:
  A. counters continue: 25 requests (20 connections, and one keep-alive connection of 5) and an
     L4 session, then a reload. The keep-alive connection keeps sending until the old process
     answers with `Connection: close`; the L4 session keeps echoing through the draining old
     process; 15 requests on new connections reach the new one. While the old one drains, the new
     one's `show stat` never reports less than what was counted before. Once it has exited the
     counters are exact, no reset and no double count: FRONTEND req_tot = 25 + the requests
     answered during the drain + 15, stot = 21 + 15, BACKEND req_tot likewise, L4 stot/bin/bout;
     and they keep counting afterwards.
  B. runtime server state survives: `set server be/s1 state maint` and `set weight be/s2 3`, then
     `edgeshardctl reload`, which prints Success=1 and the new PID (`show info` confirms it).
     `show proc` lists the old and the new process while the old one drains (an L4 session keeps
     it alive) and only the new one afterwards. In the new process: `show servers state` has s1
     in forced maintenance and s2 at weight 3, `get weight` says 3, `show stat` shows the servers'
     status and weight as the old process did, no request reaches s1 and s2:s3 get 30:10 of 40.
     `set server be/s1 state ready` then brings s1 back (it was runtime state, not configuration).
  C. SIGUSR1 is a soft stop: the ports stop listening and refuse connections, an open keep-alive
     connection is answered with `Connection: close`, an L4 session keeps working, and the
     process exits 0 once that session ends. With `hard-stop-after 1s` a session that never ends
     is cut and the process exits about 1 s after the signal."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
import reload_lib  # noqa: E402
from eslib import Deadline, check, check_eq, log  # noqa: E402
from reload_lib import info_int, show_info  # noqa: E402

L = eslib.LOCALHOST


def config(sock, http_port, l4_port, origins, echo_port, drain_idle="5s", hard_stop="20s"):
    servers = "\n".join(f"server s{i + 1} {L}:{o.port}" for i, o in enumerate(origins))
    return (eslib.http_global(sock, nbthread=1, extra=f"""
                es.drain-idle-after {drain_idle}
                hard-stop-after {hard_stop}
            """)
            + eslib.http_defaults(client="30s", server="30s")
            + eslib.section("frontend fe", f"bind {L}:{http_port}\ndefault_backend be")
            + eslib.section("backend be", f"balance roundrobin\n{servers}")
            + eslib.section("listen l4", f"mode tcp\nbind {L}:{l4_port}\nserver echo {L}:{echo_port}"))


def echo_on(s, nbytes, what):
    data = os.urandom(nbytes)
    s.sendall(data)
    check(eslib.recv_exact(s, nbytes, timeout=3, what=what) == data, f"{what}: echoed bytes differ")


def ctl_ok(sock, command):
    out = eslib.ctl_raw(sock, command).strip()
    low = out.lower()
    check(not any(w in low for w in ("unknown", "error", "no such", "usage", "denied", "not found")),
          f"`{command}` answered {out!r}")
    return out


def until_close(k, target, what, timeout=2.0):
    """Keeps sending requests on the keep-alive connection `k` (each must get a 200) until a
    response says `Connection: close`; then the connection must end. Returns how many were sent.
    (The process under test starts its drain asynchronously: a client that keeps sending is
    answered, never cut.)"""
    dl = Deadline(timeout)
    for n in range(1, 1000):
        r = k.request("GET", f"{target}/{n}")
        check_eq(r.status, 200, f"{what}: request {n} ({r.brief()})")
        if "close" in (r.header("Connection") or "").lower():
            how, extra, _ = k.wait_closed(3)
            check_eq((how, extra), ("eof", b""), f"{what}: the connection after `Connection: close`")
            k.close()
            log(f"{what}: `Connection: close` on request {n}")
            return n
        check(not dl.expired(), f"{what}: no response carried `Connection: close` within {timeout}s "
                                f"({n} requests)")
        time.sleep(0.02)
    raise eslib.Failure(f"{what}: loop bound reached")


def proc_pids(text, pids):
    """The subset of `pids` that `show proc` lists: a process is listed by a line (not a '#'
    comment) whose first field is its PID, or which has a `pid=<PID>` field."""
    listed = set()
    for line in text.splitlines():
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        for p in pids:
            if f[0] == str(p) or f"pid={p}" in f:
                listed.add(p)
    return listed


def phase_counters(h, sock, es, files, p_http, p_l4):
    for i in range(20):
        check_eq(eslib.http_get(p_http, f"/before/{i}").status, 200, f"request {i} before the reload")
    k = eslib.HttpClient(p_http, timeout=5)
    for i in range(5):
        check_eq(k.request("GET", f"/ka/{i}").status, 200, f"keep-alive request {i} before the reload")
    hold = eslib.connect(p_l4, timeout=5)
    echo_on(hold, 1000, "L4 session before the reload")
    n_req, n_sess = 25, 21
    m = es.expect_counters("fe", "FRONTEND", {"req_tot": n_req, "stot": n_sess}, what="before the reload")
    es.expect_counters("be", "BACKEND", {"req_tot": n_req}, what="before the reload")
    es.expect_counters("l4", "FRONTEND", {"stot": 1, "bin": 1000, "bout": 1000}, what="before the reload")
    be_stot0 = eslib.num(m[("be", "BACKEND")]["stot"])

    new, gen = reload_lib.reload(h, es, files, sock, "gen2", ports=[p_http, p_l4])
    check_eq(gen, 2, "generation of the first reload")
    # the keep-alive connection belongs to the old process: its next request is answered, with
    # Connection: close, and then the connection ends
    k_extra = until_close(k, "/ka/during-drain", "the old process's keep-alive connection during the drain")
    echo_on(hold, 2000, "L4 session through the draining old process")
    check(es.running(), "the old process exited while an L4 session was still open")

    lows = []

    def sample():
        row = new.stats().get(("fe", "FRONTEND"), {})
        lows.append(eslib.num(row.get("req_tot")))
        check(lows[-1] >= n_req, f"during the drain the new process reports FRONTEND req_tot {lows[-1]}, "
                                 f"less than the {n_req} counted before the reload")

    sample()
    for i in range(15):
        check_eq(eslib.http_get(p_http, f"/after/{i}").status, 200, f"request {i} after the reload")
        if i % 5 == 0:
            sample()
    eslib.poll_until(lambda: sample() or lows[-1] >= n_req + 15, 3,
                     what=f"the new process to count at least {n_req + 15} requests during the drain")
    check(es.running(), "the old process exited while an L4 session was still open")
    log(f"during the drain: FRONTEND req_tot samples {lows}")

    hold.close()
    rc = reload_lib.wait_exit(es, 10, "the old process once its L4 session ended")
    check_eq(rc, 0, "exit status of the drained old process")
    total = n_req + k_extra + 15
    m = new.expect_counters("fe", "FRONTEND", {"req_tot": total, "stot": n_sess + 15},
                            what="after the old process exited")
    new.expect_counters("be", "BACKEND", {"req_tot": total}, what="after the old process exited")
    be_stot = eslib.num(m[("be", "BACKEND")]["stot"])
    check(be_stot0 + 15 <= be_stot <= be_stot0 + 15 + k_extra,
          f"BACKEND stot {be_stot}: expected {be_stot0} before + 15 new connections (+{k_extra} if each "
          f"request counts)")
    new.expect_counters("l4", "FRONTEND", {"stot": 1, "bin": 3000, "bout": 3000}, what="after the old process exited")
    s = eslib.connect(p_l4)
    echo_on(s, 500, "L4 session to the new process")
    s.close()
    new.expect_counters("l4", "FRONTEND", {"stot": 2, "bin": 3500, "bout": 3500}, what="counting on after the reload")
    new.expect_counters("l4", "BACKEND", {"stot": 2}, what="counting on after the reload")
    new.expect_counters("l4", "echo", {"stot": 2}, what="counting on after the reload")
    log(f"counters continue: FRONTEND req_tot {total}, stot {n_sess + 15}; L4 stot 2, bin 3500")
    return new


def run_ctl_reload(h, sock):
    out_p, err_p = h.path("ctl-reload.stdout"), h.path("ctl-reload.stderr")
    # files, not pipes: the process it starts may keep inherited descriptors open
    with open(out_p, "wb") as out, open(err_p, "wb") as err:
        p = subprocess.Popen([h.ctl_bin, "-s", sock, "-t", "20", "reload"], stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, cwd=h.tmpdir)
        try:
            rc = p.wait(25)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            rc = None
    with open(out_p, "rb") as f:
        stdout = f.read().decode("utf-8", "replace")
    with open(err_p, "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    check(rc is not None, f"edgeshardctl reload did not return within 25 s; stdout {stdout!r}")
    return rc, stdout, stderr


def stat_view(es):
    """{server: (status, weight)} of backend be in `show stat`."""
    m = es.stats()
    return {sv: (str(row.get("status")), eslib.num(row.get("weight")))
            for (px, sv), row in m.items() if px == "be" and sv not in ("FRONTEND", "BACKEND")}


def phase_server_state(h, sock, es, origins, p_http, p_l4):
    o1, o2, o3 = origins
    ctl_ok(sock, "set server be/s1 state maint")
    ctl_ok(sock, "set weight be/s2 3")
    base = [o.request_count() for o in origins]
    for i in range(12):
        check_eq(eslib.http_get(p_http, f"/pre/{i}").status, 200, f"request {i} with s1 in maintenance")
    check_eq(o1.request_count(), base[0], "requests reaching s1 (maintenance) before the reload")

    view_before = stat_view(es)
    hold = eslib.connect(p_l4, timeout=5)
    echo_on(hold, 100, "L4 session holding the old process")
    rc, out, err = run_ctl_reload(h, sock)
    log(f"edgeshardctl reload: exit {rc}, stdout {out.strip()!r}")
    check_eq(rc, 0, f"edgeshardctl reload exit status (stdout {out!r}, stderr {err[-1500:]!r})")
    check("Success=1" in out, f"edgeshardctl reload should print Success=1: {out!r}")
    info = show_info(sock)
    new_pid = info_int(info, "Pid")
    check(new_pid != es.pid, f"`show info` still answers from the old process {es.pid} after the reload")
    printed = {int(x) for x in re.findall(r"\d+", out.replace("Success=1", ""))}
    check(new_pid in printed, f"edgeshardctl reload should print the new PID {new_pid}: {out!r}")
    check_eq(info_int(info, "Generation"), 3, "`show info` Generation after the second reload")
    new = reload_lib.adopt(h, new_pid, "gen3", sock)
    log(f"edgeshardctl reload: new pid {new_pid} (generation 3)")

    check(es.running(), "the old process exited while an L4 session was still open")
    procs = eslib.ctl_raw(sock, "show proc")
    check_eq(proc_pids(procs, [es.pid, new_pid]), {es.pid, new_pid},
             f"`show proc` during the drain should list the old ({es.pid}) and the new ({new_pid}) process:\n{procs}")
    # the old process stays queryable through the control socket: `@!<pid> <command>` runs there
    old_info = eslib.ctl_raw(sock, f"@!{es.pid} show info")
    check(f"Pid: {es.pid}\n" in old_info and "Stopping: 1\n" in old_info,
          f"`@!{es.pid} show info` should be answered by the draining old process:\n{old_info[:300]}")
    check_eq(info_int(show_info(sock), "OldProcesses"), 1, "`show info` OldProcesses during the drain")
    check("Can't find the process" in eslib.ctl_raw(sock, "@!1 show info"), "`@!<pid>` of no live process")
    echo_on(hold, 100, "L4 session through the draining old process")
    hold.close()
    rc = reload_lib.wait_exit(es, 10, "the old process once its L4 session ended")
    check_eq(rc, 0, "exit status of the drained old process")
    eslib.poll_until(lambda: proc_pids(eslib.ctl_raw(sock, "show proc"), [es.pid, new_pid]) == {new_pid}, 3,
                     what=f"`show proc` to list only the new process {new_pid}")

    # the runtime state came across
    st = reload_lib.servers_state(sock, "be")
    check("s1" in st and "s2" in st, f"`show servers state be` rows: {sorted(st)}")
    for col in ("srv_admin_state", "srv_uweight"):
        check(col in st["s1"], f"`show servers state` has no column {col}: {st['s1']}")
    check(int(st["s1"]["srv_admin_state"]) & 0x01,
          f"s1 should be in forced maintenance after the reload (srv_admin_state & 0x01): {st['s1']}")
    check_eq(int(st["s2"]["srv_uweight"]), 3, "s2 srv_uweight after the reload")
    check_eq(int(st["s3"]["srv_uweight"]), 1, "s3 srv_uweight after the reload")
    gw = eslib.ctl_raw(sock, "get weight be/s2")
    check(gw.split()[:1] == ["3"], f"`get weight be/s2` after the reload: {gw!r}")
    check_eq(stat_view(new), view_before, "`show stat` status and weight of be's servers, before the "
                                          "reload (old process) and after it (new process)")
    base = [o.request_count() for o in origins]
    for i in range(40):
        check_eq(eslib.http_get(p_http, f"/post/{i}").status, 200, f"request {i} after the reload")
    got = [o.request_count() - b for o, b in zip(origins, base)]
    log(f"after the reload, 40 requests: s1 {got[0]}, s2 {got[1]}, s3 {got[2]}")
    check_eq(got[0], 0, "requests reaching s1 (maintenance carried over the reload)")
    check(28 <= got[1] <= 32 and got[1] + got[2] == 40,
          f"s2 (weight 3) and s3 (weight 1) should share 40 requests 30:10, got {got[1]}:{got[2]}")

    ctl_ok(sock, "set server be/s1 state ready")
    base = o1.request_count()
    for i in range(10):
        check_eq(eslib.http_get(p_http, f"/ready/{i}").status, 200, f"request {i} with s1 ready again")
    check(o1.request_count() > base, "s1 set ready again received no request out of 10")
    return new


def phase_soft_stop(h, origins, echo):
    # C1: drains, then exits 0
    p_http, p_l4 = eslib.free_port(), eslib.free_port()
    sock = h.sock_path("usr1.sock")
    es = h.edgeshard(config(sock, p_http, p_l4, origins, echo.port), ports=[p_http, p_l4], sock=sock,
                     name="usr1")
    k = eslib.HttpClient(p_http, timeout=5)
    check_eq(k.request("GET", "/usr1/0").status, 200, "keep-alive request before SIGUSR1")
    hold = eslib.connect(p_l4, timeout=5)
    echo_on(hold, 100, "L4 session before SIGUSR1")
    es.send_signal(signal.SIGUSR1)
    eslib.poll_until(lambda: not eslib.is_listening(p_http) and not eslib.is_listening(p_l4), 3,
                     what="the ports to stop listening after SIGUSR1")
    until_close(k, "/usr1", "a keep-alive connection after SIGUSR1")
    check(reload_lib.connect_refused(p_http) and reload_lib.connect_refused(p_l4),
          "new connections should be refused after SIGUSR1")
    echo_on(hold, 100, "L4 session after SIGUSR1")
    check(es.running(), "the process exited after SIGUSR1 while an L4 session was open")
    try:
        info = show_info(sock)
        check_eq(info.get("Stopping"), "1", "`show info` Stopping of a process after SIGUSR1")
        log("after SIGUSR1: `show info` Stopping: 1")
    except eslib.Failure as e:
        if "Stopping" in str(e):
            raise
        log(f"after SIGUSR1 the control socket does not answer ({e}); Stopping not checked")
    time.sleep(0.3)
    check(es.running(), "the process exited after SIGUSR1 while an L4 session was open")
    hold.close()
    rc = reload_lib.wait_exit(es, 5, "the soft-stopped process once its L4 session ended")
    check_eq(rc, 0, "exit status after SIGUSR1 and the drain")

    # C2: hard-stop-after bounds a session that never ends
    p_http, p_l4 = eslib.free_port(), eslib.free_port()
    sock = h.sock_path("hard.sock")
    es = h.edgeshard(config(sock, p_http, p_l4, origins, echo.port, hard_stop="1s"), ports=[p_http, p_l4],
                     sock=sock, name="hardstop")
    hold = eslib.connect(p_l4, timeout=5)
    echo_on(hold, 100, "L4 session before SIGUSR1")
    t0 = time.monotonic()
    es.send_signal(signal.SIGUSR1)
    rc = reload_lib.wait_exit(es, 6, "a soft-stopped process with hard-stop-after 1s and a session open")
    took = time.monotonic() - t0
    how, _, _ = eslib.wait_eof(hold, 3)
    hold.close()
    check(how in ("eof", "reset"), f"the L4 session after hard-stop-after: {how}")
    check(took >= 0.8, f"the process exited {took:.2f}s after SIGUSR1, before hard-stop-after (1s)")
    check(rc is not None and rc >= 0, f"exit status after hard-stop-after: {rc}")
    log(f"SIGUSR1: drained and exited 0; with hard-stop-after 1s exited after {took:.2f}s ({rc})")


def main(h):
    origins = [http_origin.start(h, name=f"s{i}") for i in (1, 2, 3)]
    echo = h.echo_server(name="echo")
    p_http, p_l4 = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    files = [h.write("es.cfg", config(sock, p_http, p_l4, origins, echo.port))]
    es = h.edgeshard(None, files=files, ports=[p_http, p_l4], sock=sock, name="gen1")
    dl = Deadline(60)
    es = phase_counters(h, sock, es, files, p_http, p_l4)
    phase_server_state(h, sock, es, origins, p_http, p_l4)
    phase_soft_stop(h, origins, echo)
    for o in origins:
        check(not o.errors, f"origin {o.name} errors: {o.errors[:5]}")
    log(f"took {60 - dl.left():.1f}s")


if __name__ == "__main__":
    eslib.run(main)
