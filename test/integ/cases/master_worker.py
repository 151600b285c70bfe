#!/usr/bin/env python3
"""Master-worker mode as HAProxy's own systemd unit runs it: the command lines are read from the unit Debian's
haproxy package installs (/lib/systemd/system/haproxy.service: `ExecStart=... -Ws -f $CONFIG -p $PIDFILE
$EXTRAOPTS` with `EXTRAOPTS=-S /run/haproxy-master.sock`, `ExecReload=... -c -q` then `kill -USR2 $MAINPID`,
Type=notify, KillMode=mixed), with the binary, the paths and $MAINPID substituted as systemd would; the same
lines run HAProxy with ES_TEST_PEER=haproxy. The test plays systemd's part: NOTIFY_SOCKET is a datagram socket
it reads with SO_PASSCRED, so it sees which process speaks (NotifyAccess=main, the unit's default, only hears
the main PID).
  - start: READY=1 comes from the main PID, which is the PID in the PID file and not the worker that serves;
    the master CLI's `show proc` lists the master and one worker (a child of the master); `@1 show info`
    and `@!<pid> show info` reach that worker; an unknown target is refused;
  - `kill -USR2 <main PID>` while new connections keep coming: RELOADING=1 then READY=1 from the same main
    PID, the new configuration answers, a new worker serves, the old one exits, not one request fails;
  - a reload with a broken configuration: the unit's check step refuses it (systemd stops there); sent
    SIGUSR2 anyway, the master and the running worker stay, it keeps answering with
    the previous configuration, `show proc` counts the failure, the prompt says `master[ReloadFailed]`;
  - the master CLI's `reload` (the configuration fixed): the next one answers, the failure count starts again;
  - SIGTERM to the main PID (KillMode=mixed): every process exits, the port closes;
  - a worker that dies (SIGKILL) takes the master down with a failure status (exit-on-failure, so the
    unit's Restart= applies).
"""
import os
import shlex
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


class Notify:
    """systemd's side of sd_notify: every datagram with the PID that sent it."""

    def __init__(self, path):
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(path)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.s.settimeout(0.2)
        self.got = []  # (pid, {key: value})
        self.lock = threading.Lock()
        self.stop_flag = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stop_flag:
            try:
                data, anc, _, _ = self.s.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            except OSError:
                return
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            kv = {}
            for line in data.decode("utf-8", "replace").splitlines():
                if "=" in line:
                    k, v = line.split("=", 1)
                    kv[k] = v
            with self.lock:
                self.got.append((pid, kv))

    def wait(self, key, value, start, timeout):
        """The first message from index `start` on with key=value: (index, pid, message)."""
        dl = eslib.Deadline(timeout)
        while not dl.expired():
            with self.lock:
                for i in range(start, len(self.got)):
                    pid, kv = self.got[i]
                    if kv.get(key) == value:
                        return i, pid, kv
            time.sleep(0.02)
        with self.lock:
            raise eslib.Failure(f"no {key}={value} from systemd's point of view within {timeout}s: {self.got!r}")

    def count(self):
        with self.lock:
            return len(self.got)

    def close(self):
        self.stop_flag = True
        self.t.join(2)
        self.s.close()


UNIT = "/lib/systemd/system/haproxy.service"
# what that unit says in Debian 12's haproxy 2.6 package, used when the package's file is not there
UNIT_FALLBACK = """
Environment="CONFIG=/etc/haproxy/haproxy.cfg" "PIDFILE=/run/haproxy.pid" "EXTRAOPTS=-S /run/haproxy-master.sock"
ExecStart=/usr/sbin/haproxy -Ws -f $CONFIG -p $PIDFILE $EXTRAOPTS
ExecReload=/usr/sbin/haproxy -Ws -f $CONFIG -c -q $EXTRAOPTS
ExecReload=/bin/kill -USR2 $MAINPID
"""


def read_unit():
    """(environment, ExecStart words, [ExecReload words...]) of HAProxy's unit."""
    try:
        text = open(UNIT).read()
        log(f"command lines from {UNIT}")
    except OSError:
        text = UNIT_FALLBACK
        log(f"{UNIT} is not installed: Debian 12's haproxy.service lines are used")
    env, start, reload = {}, None, []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Environment="):
            for item in shlex.split(line[len("Environment="):]):
                k, v = item.split("=", 1)
                env[k] = v
        elif line.startswith("ExecStart="):
            start = line[len("ExecStart="):].split()
        elif line.startswith("ExecReload="):
            reload.append(line[len("ExecReload="):].split())
    check(start and len(reload) == 2, f"the unit has ExecStart and two ExecReload lines: {start!r} {reload!r}")
    return env, start, reload


def expand(words, env, binary):
    """systemd's expansion of $VAR (a variable alone in a word splits into words), the binary ours."""
    out = []
    for w in words:
        if w.startswith("$") and w[1:] in env:
            out.extend(env[w[1:]].split())
        else:
            out.append(w)
    if out and out[0].endswith("/haproxy"):
        out[0] = binary
    return out


def ppid_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def mcli(path, line, timeout=5.0):
    """One line to the master CLI as `echo LINE | socat - UNIX-CONNECT:PATH` sends it (then EOF); the answer
    until the master closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        how, data, _ = eslib.wait_eof(s, timeout)
        if how == "timeout":
            raise eslib.Failure(f"the master CLI did not close after {line!r} within {timeout}s: {data[:200]!r}")
        return data.decode("utf-8", "replace")
    finally:
        s.close()


def procs(path):
    """`show proc` on the master CLI: (master pid, master reloads text, [current workers], [old workers])."""
    out = mcli(path, "show proc")
    master, reloads, cur, old, section = None, None, [], [], None
    for line in out.splitlines():
        if line.startswith("# workers"):
            section = cur
        elif line.startswith("# old workers"):
            section = old
        elif line.startswith("#"):
            section = None
        elif line.strip():
            w = line.split()
            if len(w) >= 2 and w[1] == "master":
                master = int(w[0])
                reloads = line.split("master", 1)[1].strip().split("  ")[0].strip()
            elif section is not None and len(w) >= 2 and w[1] == "worker":
                section.append(int(w[0]))
    return master, reloads, cur, old, out


def config(port, body, broken=False):
    text = eslib.global_section(None, nbthread=1) + eslib.http_defaults() + eslib.section("frontend fe", f"""
        bind {L}:{port}
        http-request return status 200 content-type text/plain string "{body}" """)
    if broken:
        text += "frontend broken\n    this_is_not_a_keyword\n"
    return text


class Traffic:
    """New connections, one request each, until stopped: what a reload must not fail."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.failed = []
        self.bodies = set()
        self.stop_flag = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        dl = eslib.Deadline(60)
        while not self.stop_flag and not dl.expired():
            try:
                r = eslib.http_get(self.port, "/", timeout=5)
                if r.status == 200:
                    self.ok += 1
                    self.bodies.add(r.body)
                else:
                    self.failed.append(f"status {r.status}")
            except Exception as e:  # noqa: BLE001 (any failure is what the test counts)
                self.failed.append(repr(e))
            time.sleep(0.002)

    def stop(self):
        self.stop_flag = True
        self.t.join(10)


def main(h):
    binary = os.environ["EDGESHARD_BIN"]
    port = eslib.free_port()
    cfg = h.path("mw.cfg")
    h.write("mw.cfg", config(port, "gen-A"))
    msock = h.path("master.sock")
    pidfile = h.path("mw.pid")
    uenv, ustart, ureload = read_unit()
    # the unit's own paths, moved into the test's directory
    uenv.update(CONFIG=cfg, PIDFILE=pidfile, EXTRAOPTS=uenv.get("EXTRAOPTS", "").replace(
        "/run/haproxy-master.sock", msock))
    check(msock in uenv["EXTRAOPTS"], f"the unit's EXTRAOPTS names the master socket: {uenv['EXTRAOPTS']!r}")
    start_cmd = expand(ustart, uenv, binary)
    log(f"ExecStart: {' '.join(start_cmd)}")
    notify = Notify(h.path("notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    p = h.spawn(start_cmd, "mw", env=env)

    def exec_reload():
        """ExecReload as systemd runs it: the check, then (if it passed) kill -USR2 $MAINPID."""
        renv = dict(uenv, MAINPID=str(p.pid))
        chk = h.run_cmd(expand(ureload[0], renv, binary), timeout=30)
        if chk.returncode != 0:
            return chk
        k = h.run_cmd(expand(ureload[1], renv, binary), timeout=10)
        check_eq(k.returncode, 0, f"{ureload[1]!r} runs")
        return chk
    workers_seen = set()
    try:
        _, pid, msg = notify.wait("READY", "1", 0, 20)
        check_eq(pid, p.pid, "READY=1 comes from the main PID (NotifyAccess=main hears it)")
        if "MAINPID" in msg:
            check_eq(int(msg["MAINPID"]), p.pid, "MAINPID is the master")
        check_eq(int(open(pidfile).read().split()[0]), p.pid, "the PID file holds the master's PID")
        master, reloads, cur, old, out = procs(msock)
        check_eq(master, p.pid, f"show proc: the master line: {out!r}")
        check(reloads.startswith("0 [failed: 0]"), f"show proc: no reload yet: {reloads!r}")
        check(len(cur) == 1 and cur[0] != p.pid, f"show proc: one worker, not the master: {out!r}")
        w1 = cur[0]
        workers_seen.add(w1)
        check_eq(ppid_of(w1), p.pid, "the worker is the master's child")
        got = eslib.http_get(port, "/", timeout=5)
        check_eq((got.status, got.body), (200, b"gen-A"), "the worker serves")
        info = mcli(msock, "@1 show info")
        check(f"\nPid: {w1}\n" in info, f"@1 show info reaches the worker: {info[:300]!r}")
        info2 = mcli(msock, f"@!{w1} show info")
        check(f"\nPid: {w1}\n" in info2, f"@!{w1} show info reaches the worker: {info2[:300]!r}")
        bad_target = mcli(msock, "@9 show info")
        check("Can't find the target PID matching the prefix '@9'" in bad_target, f"@9 refused: {bad_target!r}")
        unknown = mcli(msock, "show info")
        check("Unknown command" in unknown, f"a worker command without a target is the master's: {unknown[:200]!r}")

        # ---- kill -USR2 $MAINPID under traffic
        h.write("mw.cfg", config(port, "gen-B"))
        traffic = Traffic(port)
        time.sleep(0.3)
        mark = notify.count()
        chk = exec_reload()
        check_eq(chk.returncode, 0, f"the unit's check step passes: {chk.stdout + chk.stderr!r}")
        check_eq(chk.stdout, "", "-c -q prints nothing on a valid configuration")
        i_rel, pid_rel, _ = notify.wait("RELOADING", "1", mark, 20)
        check_eq(pid_rel, p.pid, "RELOADING=1 comes from the main PID")
        _, pid_ready, _ = notify.wait("READY", "1", i_rel + 1, 30)
        check_eq(pid_ready, p.pid, "READY=1 after the reload comes from the same main PID")
        eslib.poll_until(lambda: eslib.http_get(port, "/", timeout=5).body == b"gen-B", 10,
                         what="the new configuration to answer")
        time.sleep(0.3)
        traffic.stop()
        check(not traffic.failed, f"no request failed across the reload ({traffic.ok} ok): {traffic.failed[:5]!r}")
        check(traffic.ok >= 20, f"traffic flowed during the reload ({traffic.ok} requests)")
        check_eq(traffic.bodies, {b"gen-A", b"gen-B"}, "both configurations answered during the test")
        check(p.running(), "the master is still there after the reload")
        master, reloads, cur, old, out = procs(msock)
        check_eq(master, p.pid, "the main PID did not change")
        check(reloads.startswith("1 [failed: 0]"), f"show proc counts one reload: {reloads!r} in {out!r}")
        check(len(cur) == 1 and cur[0] not in workers_seen, f"a new worker serves: {out!r}")
        w2 = cur[0]
        workers_seen.add(w2)
        eslib.poll_until(lambda: not eslib.pid_alive(w1), 15, what=f"the old worker {w1} to exit")

        # ---- a broken configuration: nothing changes
        h.write("mw.cfg", config(port, "gen-X", broken=True))
        mark = notify.count()
        chk = exec_reload()
        check(chk.returncode != 0, "the unit's check step refuses a broken configuration")
        if eslib.on_edgeshard():  # (HAProxy's -q silences its errors too)
            check("this_is_not_a_keyword" in chk.stdout + chk.stderr,
                  f"the check step names the keyword even with -q: {chk.stdout + chk.stderr!r}")
        os.kill(p.pid, signal.SIGUSR2)
        notify.wait("RELOADING", "1", mark, 20)

        def failure_counted():
            return procs(msock)[1].startswith("2 [failed: 1]")

        eslib.poll_until(failure_counted, 20, what="the failed reload to be counted")
        check(p.running(), "a failed reload leaves the master")
        master, reloads, cur, old, out = procs(msock)
        check_eq(cur, [w2], f"a failed reload leaves the worker serving: {out!r}")
        got = eslib.http_get(port, "/", timeout=5)
        check_eq(got.body, b"gen-B", "the previous configuration still answers")
        prompt = mcli(msock, "prompt")
        check("master[ReloadFailed]>" in prompt, f"the prompt says the last reload failed: {prompt!r}")

        # ---- the master CLI's reload
        h.write("mw.cfg", config(port, "gen-C"))
        mark = notify.count()
        mcli(msock, "reload", timeout=10)
        notify.wait("RELOADING", "1", mark, 20)
        eslib.poll_until(lambda: eslib.http_get(port, "/", timeout=5).body == b"gen-C", 20,
                         what="the master CLI's reload to apply")
        master, reloads, cur, old, out = procs(msock)
        check(reloads.startswith("3 [failed: 0]"),
              f"show proc counts three reloads, the failures since the last success (none): {out!r}")
        check(len(cur) == 1 and cur[0] not in workers_seen, f"another worker serves: {out!r}")
        workers_seen.add(cur[0])

        # ---- SIGTERM to the main PID (KillMode=mixed sends it there only)
        p.send_signal(signal.SIGTERM)
        rc = p.wait(15)
        check(rc is not None, "the master exits on SIGTERM")
        for w in workers_seen:
            eslib.poll_until(lambda w=w: not eslib.pid_alive(w), 10, what=f"worker {w} to exit")
        eslib.poll_until(lambda: not eslib.is_listening(port), 5, what="the port to close")
        log(f"-Ws -S -p: READY=1 and MAINPID from the master, {traffic.ok} requests across kill -USR2 with none "
            f"failed, a broken reload kept the worker, the CLI's reload applied, SIGTERM stopped all (rc={rc})")

        # ---- exit-on-failure: a worker that dies takes the master down with a failure status
        h.write("mw.cfg", config(port, "gen-D"))
        p2 = h.spawn([binary, "-W", "-f", cfg], "mw2")
        eslib.wait_listening([port], 20)
        kids = [int(x) for x in open(f"/proc/{p2.pid}/task/{p2.pid}/children").read().split()]
        check(len(kids) == 1, f"one worker under the second master: {kids!r}")
        os.kill(kids[0], signal.SIGKILL)
        rc2 = p2.wait(15)
        check(rc2 is not None and rc2 != 0, f"the master exits with a failure status when its worker dies (rc={rc2})")
        log(f"a worker killed by SIGKILL: the master exited with {rc2}")
    finally:
        notify.close()


if __name__ == "__main__":
    eslib.run_http(main)
