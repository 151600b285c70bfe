#!/usr/bin/env python3
"""`bind fd@N`: a listening socket handed to the process as descriptor N (systemd socket activation,
test harnesses), as HAProxy 2.6 takes it (the same file runs through HAProxy with ES_TEST_PEER=haproxy):
  - the test opens and listens on 127.0.0.1:P itself, starts the proxy with that socket as a descriptor and
    `bind fd@N`; with two shards, 40 requests on new connections are all answered by the frontend;
  - `stats socket fd@N`: a listening unix socket the test made, handed over the same way, answers `show info`;
    the proxy leaves the socket's file alone when it stops (it did not make it);
  - `-c` refuses a descriptor that is not open with HAProxy's words ("'bind' : cannot use file descriptor
    '<N>' : Bad file descriptor."); edgeshard also refuses a socket that is not listening and a UDP socket,
    and `sockpair@`, saying what to do instead.
"""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def main(h):
    port = eslib.free_port()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((L, port))
    ls.listen(128)
    fd = ls.fileno()
    sock = h.sock_path()
    cfg = eslib.http_global(sock, nbthread=2) + eslib.http_defaults() + eslib.section("frontend fe", f"""
        bind fd@{fd}
        http-request return status 200 content-type text/plain string "fd-ok" hdr X-Fe %[fe_name]""")
    proc = eslib.start_proxy(h, cfg, ports=[port], sock=sock, pass_fds=(fd,))
    ls.close()  # the proxy holds the socket now; the test's copy goes
    got = []
    for i in range(40):
        r = eslib.http_get(port, f"/n{i}", timeout=5)
        got.append((r.status, r.header("X-Fe"), r.body))
    check_eq(set(got), {(200, "fe", b"fd-ok")}, "40 requests on new connections to the socket given as fd@N")
    proc.stop()
    log(f"bind fd@{fd}: 40/40 answered on 127.0.0.1:{port}")

    # stats socket fd@N
    cpath = h.path("given.sock")
    cs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cs.bind(cpath)
    cs.listen(16)
    port2 = eslib.free_port()
    cfg2 = eslib.http_global(None, nbthread=1, extra=f"stats socket fd@{cs.fileno()} level admin") + \
        eslib.http_defaults() + eslib.section("frontend fe", f"""
            bind {L}:{port2}
            http-request return status 200 content-type text/plain string "ok" """)
    proc2 = eslib.start_proxy(h, cfg2, ports=[port2], pass_fds=(cs.fileno(),))
    cs.close()
    info = eslib.ctl_raw(cpath, "show info")
    check(f"\nPid: {proc2.pid}\n" in info, f"the stats socket given as fd@N answers show info: {info[:200]!r}")
    proc2.stop()
    check(os.path.exists(cpath), "the proxy leaves the given socket's file in place")
    log(f"stats socket fd@N: show info answered by PID {proc2.pid}")

    # -c refusals
    base = eslib.http_global(None, nbthread=1) + eslib.http_defaults()
    bad = base + eslib.section("frontend fe", """
        bind fd@97
        http-request return status 200""")
    eslib.check_refused(h, bad, "bind fd@97", ["'bind' : cannot use file descriptor '97' : Bad file descriptor"],
                        "-c refuses a descriptor that is not open")
    bad2 = eslib.http_global(None, nbthread=1, extra="stats socket fd@97 level admin") + eslib.http_defaults() + \
        eslib.section("frontend fe", f"""
            bind {L}:{port}
            http-request return status 200""")
    eslib.check_refused(h, bad2, "stats socket fd@97 level admin",
                        ["'stats socket' : cannot use file descriptor '97' : Bad file descriptor"],
                        "-c refuses a stats socket descriptor that is not open")
    if eslib.edgeshard_only("a socket that is not listening, a UDP socket, sockpair@"):
        for kind in ("bound", "udp"):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
            s.bind((L, 0))
            text = base + eslib.section("frontend fe", f"""
                bind fd@{s.fileno()}
                http-request return status 200""")
            path = h.write(f"{kind}.cfg", text)
            r = subprocess.run([os.environ["EDGESHARD_BIN"], "-c", "-f", path], pass_fds=(s.fileno(),),
                               capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            out = r.stdout + r.stderr
            want = "not listening" if kind == "bound" else "is not a TCP socket"
            check(r.returncode != 0 and want in out, f"-c refuses a {kind} socket given as fd@: {out!r}")
            s.close()
        text = base + eslib.section("frontend fe", """
            bind sockpair@4
            http-request return status 200""")
        eslib.check_refused(h, text, "bind sockpair@4", ["sockpair@4", "fd@N"], "-c refuses sockpair@")
        text = eslib.http_global(None, nbthread=1, extra="stats socket sockpair@4") + eslib.http_defaults() + \
            eslib.section("frontend fe", f"""
                bind {L}:{port}
                http-request return status 200""")
        eslib.check_refused(h, text, "stats socket sockpair@4", ["sockpair@4", "fd@N"],
                            "-c refuses a stats socket on sockpair@")


if __name__ == "__main__":
    eslib.run_http(main)
