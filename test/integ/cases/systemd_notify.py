#!/usr/bin/env python3
"""systemd's readiness protocol (sd_notify) without systemd, as deploy/edgeshard.service uses it
(Type=notify, NotifyAccess=all). The test binds a Unix datagram socket with SO_PASSCRED (as
systemd's notify socket is) and starts every process with NOTIFY_SOCKET pointing at it:
  A. a first start sends `READY=1` and `MAINPID=<its pid>`, from its own pid, once it serves
     (the port answers and the control socket exists when the datagram is read);
  B. `edgeshard -c` (ExecStartPre) sends nothing;
  C. a reload with `-x SOCK -sf OLD`: the new process sends `READY=1` and `MAINPID=<new pid>`
     from itself (hence NotifyAccess=all: systemd would drop it from a non-main pid otherwise);
     when it arrives the control socket already answers as the new process; the old process
     drains and exits 0 without sending anything;
  D. a takeover that fails after receiving the listening sockets (a bind whose port another
     socket holds) sends nothing: systemd's MAINPID stays on the process that serves;
  E. `edgeshardctl reload` run with NOTIFY_SOCKET in its environment (as systemd runs
     ExecReload): the process it starts announces the PID that edgeshardctl prints.
Every process is stopped by its PID at the end (eslib)."""
import os
import re
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import reload_lib  # noqa: E402
from eslib import Deadline, Failure, check, check_eq, log  # noqa: E402
from reload_lib import info_int, show_info  # noqa: E402

L = eslib.LOCALHOST
UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid


class NotifySocket:
    """A bound AF_UNIX/SOCK_DGRAM socket that records each datagram with its sender's pid."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)

    def recv(self, timeout):
        """(sender pid, {field: value}, raw text) of the next datagram, or None after `timeout`."""
        self.sock.settimeout(max(0.01, timeout))
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= UCRED.size:
                pid = UCRED.unpack_from(payload)[0]
        text = data.decode("utf-8", "replace")
        fields = {}
        for line in text.split("\n"):
            k, sep, v = line.partition("=")
            if sep:
                fields[k] = v
        return pid, fields, text

    def expect_ready(self, pid, what, timeout=10.0):
        """Waits for the datagram that says READY=1; it must say MAINPID=<pid> and come from pid.
        Returns the datagrams received, the ready one last."""
        dl = Deadline(timeout)
        got = []
        for _ in range(1000):
            m = self.recv(dl.left())
            if m is None:
                raise Failure(f"{what}: no READY=1 datagram within {timeout}s; received {got}")
            got.append(m)
            sender, fields, text = m
            log(f"{what}: datagram from pid {sender}: {text!r}")
            if fields.get("READY") == "1":
                check_eq(fields.get("MAINPID"), str(pid), f"{what}: MAINPID= in the READY=1 datagram {text!r}")
                check_eq(sender, pid, f"{what}: sender pid of the datagram (SCM_CREDENTIALS)")
                return got
            if "MAINPID" in fields:
                check_eq(fields["MAINPID"], str(pid), f"{what}: MAINPID= before READY=1")
        raise Failure(f"{what}: datagram loop bound reached")

    def expect_nothing(self, seconds, what):
        m = self.recv(seconds)
        check(m is None, f"{what}: unexpected datagram from pid {m and m[0]}: {m and m[2]!r}")

    def close(self):
        self.sock.close()


def config(sock, port, echo_port, extra_bind=None):
    binds = f"bind {L}:{port}" + (f"\nbind {L}:{extra_bind}" if extra_bind else "")
    return (eslib.global_section(sock, nbthread=1, extra="hard-stop-after 10s")
            + eslib.defaults_section()
            + eslib.section("listen l4", f"{binds}\nserver echo {L}:{echo_port}"))


def main(h):
    echo = h.echo_server(name="echo")
    port, held_port = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    notify = NotifySocket(h.path("notify.sock"))
    # every process this test starts (and edgeshardctl's children) sees the notify socket
    os.environ["NOTIFY_SOCKET"] = notify.path
    try:
        run(h, notify, sock, port, held_port, echo.port)
    finally:
        os.environ.pop("NOTIFY_SOCKET", None)
        notify.close()


def run(h, notify, sock, port, held_port, echo_port):
    cfg = h.write("es.cfg", config(sock, port, echo_port))

    # ---- A. first start
    es = h.edgeshard(None, files=[cfg], sock=sock, name="gen1", wait=False)
    notify.expect_ready(es.pid, "A (first start)")
    # READY=1 means serving: no waiting for the port or the socket here
    check(os.path.exists(sock), "A: READY=1 arrived before the control socket existed")
    reload_lib.echo_roundtrip(port, "A: right after READY=1")
    check_eq(info_int(show_info(sock), "Pid"), es.pid, "A: `show info` Pid")
    es.wait_ready()
    log(f"A: pid {es.pid} announced itself once serving")

    # ---- B. the configuration check run as ExecStartPre
    r = h.run_cmd([h.bin, "-c", "-f", cfg])
    check_eq(r.returncode, 0, f"B: `edgeshard -c` exit status (stderr {r.stderr!r})")
    notify.expect_nothing(0.3, "B: `edgeshard -c`")
    log("B: `edgeshard -c` sent nothing")

    # ---- C. reload with -x
    new, gen = reload_lib.reload(h, es, [cfg], sock, "gen2", ports=[port])
    check_eq(gen, 2, "C: generation")
    notify.expect_ready(new.pid, "C (reload with -x)")
    check_eq(info_int(show_info(sock), "Pid"), new.pid,
             "C: `show info` Pid as soon as MAINPID=<new> is known (the next reload must reach the new process)")
    reload_lib.echo_roundtrip(port, "C: after the new process announced itself")
    rc = reload_lib.wait_exit(es, 15, "C: the old process")
    check_eq(rc, 0, "C: exit status of the old process after draining")
    notify.expect_nothing(0.3, "C: the old process while draining and exiting")
    log(f"C: pid {new.pid} announced MAINPID={new.pid}; the old pid {es.pid} drained and exited silently")

    # ---- D. a takeover that fails after taking the sockets announces nothing
    hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        hold.bind((L, held_port))
        hold.listen(8)
        bad = h.write("held.cfg", config(sock, port, echo_port, extra_bind=held_port))
        _, err = reload_lib.reload_fails(h, new, [bad], sock, "held-port")
        check(str(held_port) in err, f"D: the error should name port {held_port}; stderr {err[-600:]!r}")
    finally:
        hold.close()
    notify.expect_nothing(0.3, "D: a failed takeover")
    check(new.running(), "D: the serving process exited after a failed takeover")
    check_eq(info_int(show_info(sock), "Pid"), new.pid, "D: `show info` Pid after a failed takeover")
    reload_lib.echo_roundtrip(port, "D: after the failed takeover")
    log("D: the failed takeover sent nothing; the serving process is unchanged")

    # ---- E. edgeshardctl reload, as ExecReload runs it
    r = h.run_cmd([h.ctl_bin, "-s", sock, "-t", "30", "reload"], timeout=40)
    log(f"E: edgeshardctl reload: status {r.returncode}, stdout {r.stdout.strip()!r}")
    check_eq(r.returncode, 0, f"E: edgeshardctl reload exit status (stdout {r.stdout!r}, stderr {r.stderr!r})")
    check(r.stdout.startswith("Success=1\n"), f"E: edgeshardctl reload output: {r.stdout!r}")
    m = re.search(r"^Pid: (\d+)$", r.stdout, re.M)
    check(m, f"E: no `Pid: N` line in {r.stdout!r}")
    pid3 = int(m.group(1))
    gen3 = reload_lib.adopt(h, pid3, "gen3", sock)
    notify.expect_ready(pid3, "E (edgeshardctl reload)")
    check_eq(info_int(show_info(sock), "Pid"), pid3, "E: `show info` Pid")
    check_eq(info_int(show_info(sock), "Generation"), 3, "E: `show info` Generation")
    reload_lib.wait_exit(new, 15, "E: the process edgeshardctl replaced")
    notify.expect_nothing(0.3, "E: the replaced process while draining and exiting")
    reload_lib.echo_roundtrip(port, "E: after edgeshardctl reload")
    check(gen3.running(), "E: the process started by edgeshardctl is not running")
    log(f"E: edgeshardctl reload: pid {pid3} announced itself; pid {new.pid} exited")


if __name__ == "__main__":
    eslib.run(main)
