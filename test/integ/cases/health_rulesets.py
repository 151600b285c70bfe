#!/usr/bin/env python3
"""tcp-check rulesets and the built-in protocol checks against real servers (the same configuration
passes against HAProxy 2.6 with ES_TEST_PEER=haproxy):
  - `option redis-check` against a redis-server master and its replica: both UP
    ("Redis server is ok");
  - the classic "Redis master only" ruleset (`option tcp-check`: connect, send PING, expect +PONG,
    send info replication, expect role:master, send QUIT, expect +OK): the master UP, the replica
    DOWN ("TCPCHK did not match content 'role:master' at step 5", or the timeout at that step),
    and a mode tcp frontend's connections
    all reach the master;
  - `option smtpchk HELO` against a real SMTP server (python3-aiosmtpd): UP, L7OK code 221 "Bye"; against
    a scripted server answering 554: DOWN, L7STS code 554 with the reply's text;
  - `tcp-check send-binary` / `expect binary` / `expect rbinary` against an echo server: UP; a
    binary pattern the peer never sends: DOWN; `expect !` of what comes: DOWN with
    "matched unwanted content";
  - `tcp-check connect send-proxy` and `check-send-proxy` (with option httpchk): each check
    opens with a PROXY v1 line naming the check connection's own addresses (a scripted peer
    answers only then): UP.
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from health_lib import srv, wait_status  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
SYS_PYTHON = "/usr/bin/python3"  # Debian's, which has python3-aiosmtpd


def wait_port(port, proc, what, timeout=10):
    def up():
        if proc.poll() is not None:
            raise eslib.Failure(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection((L, port), timeout=0.2).close()
            return True
        except OSError:
            return False
    eslib.poll_until(up, timeout, interval=0.05, what=f"{what} to listen on {port}")


def smtp_554(conn, idx, server):
    try:
        conn.sendall(b"554 5.3.2 no service here\r\n")
        conn.settimeout(3)
        while conn.recv(4096):
            pass
    except OSError:
        pass


def proxy_line_peer(conn, idx, server):
    """Answers a check only after a valid PROXY v1 line naming the check connection's own
    addresses: "ok" to a tcp-check, 200 to an HTTP check (400 and "bad" otherwise)."""
    try:
        conn.settimeout(3)
        data = b""
        while b"\r\n" not in data:
            chunk = conn.recv(256)
            if not chunk:
                return
            data += chunk
        line, rest = data.split(b"\r\n", 1)
        local, peer = conn.getsockname(), conn.getpeername()
        want = f"PROXY TCP4 {peer[0]} {local[0]} {peer[1]} {local[1]}".encode()
        server.seen.append(line)
        good = line == want
        while b"\r\n" not in rest:
            chunk = conn.recv(256)
            if not chunk:
                return
            rest += chunk
        if rest.startswith(b"GET "):
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n" if good
                         else b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        else:
            conn.sendall(b"ok\r\n" if good else b"bad\r\n")
    except OSError:
        pass


def main(h):
    redis = eslib.require_tool("redis-server")
    if not os.access(SYS_PYTHON, os.X_OK) or subprocess.run(
            [SYS_PYTHON, "-c", "import aiosmtpd"], capture_output=True).returncode != 0:
        raise eslib.Failure("python3-aiosmtpd is missing (scripts/setup.sh --test installs it)")
    pm, pr, psmtp = eslib.free_port(), eslib.free_port(), eslib.free_port()
    master = subprocess.Popen([redis, "--port", str(pm), "--bind", L, "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=h.tmpdir)
    replica = subprocess.Popen([redis, "--port", str(pr), "--bind", L, "--save", "", "--appendonly", "no",
                                "--replicaof", L, str(pm)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=h.tmpdir)
    smtp = subprocess.Popen([SYS_PYTHON, "-m", "aiosmtpd", "-n", "-l", f"{L}:{psmtp}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run(h, pm, pr, psmtp, master, replica, smtp)
    finally:
        for p in (master, replica, smtp):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def run(h, pm, pr, psmtp, master, replica, smtp):
    wait_port(pm, master, "redis master")
    wait_port(pr, replica, "redis replica")
    wait_port(psmtp, smtp, "aiosmtpd")
    bad_smtp = h.threaded_server(smtp_554, name="smtp554")
    echo = h.echo_server(name="echo")
    pp = h.threaded_server(proxy_line_peer, name="proxy-line")
    pp.seen = []
    sock = h.sock_path()
    fr = eslib.free_port()
    chk = "default-server inter 200 rise 2 fall 2"
    cfg = (eslib.http_global(sock, nbthread=2)
           + eslib.defaults_section(connect="500ms", client="5s", server="5s", mode="tcp")
           + eslib.section("backend bredis", f"""
                option redis-check
                {chk}
                server m {L}:{pm} check
                server r {L}:{pr} check""")
           + eslib.section("frontend fr", f"bind {L}:{fr}\ndefault_backend bmaster")
           + eslib.section("backend bmaster", f"""
                option tcp-check
                tcp-check connect
                tcp-check send PING\\r\\n
                tcp-check expect string +PONG
                tcp-check send info\\ replication\\r\\n
                tcp-check expect string role:master
                tcp-check send QUIT\\r\\n
                tcp-check expect string +OK
                {chk}
                server m {L}:{pm} check
                server r {L}:{pr} check""")
           + eslib.section("backend bsmtp", f"""
                option smtpchk HELO edge.test
                {chk}
                server good {L}:{psmtp} check
                server bad {L}:{bad_smtp.port} check""")
           + eslib.section("backend bbin", f"""
                option tcp-check
                tcp-check send-binary 50494e470d0a
                tcp-check expect binary 50494e47
                tcp-check expect rbinary ^50494E47
                {chk}
                server e {L}:{echo.port} check""")
           + eslib.section("backend bbin2", f"""
                option tcp-check
                tcp-check send-binary 50494e470d0a
                tcp-check expect binary 504f4e47
                timeout check 300ms
                {chk}
                server e {L}:{echo.port} check""")
           + eslib.section("backend bpp", f"""
                option tcp-check
                tcp-check connect send-proxy
                tcp-check send hello\\r\\n
                tcp-check expect string ok
                {chk}
                server p {L}:{pp.port} check""")
           + eslib.section("backend bpph", f"""
                mode http
                option httpchk GET /pp
                {chk}
                server p {L}:{pp.port} check check-send-proxy""")
           + eslib.section("backend bneg", f"""
                option tcp-check
                tcp-check send hello\\r\\n
                tcp-check expect ! string hello comment no-echo-please
                {chk}
                server e {L}:{echo.port} check"""))
    es = eslib.start_proxy(h, cfg, ports=[fr], sock=sock)

    wait_status(es, "bredis", "m", "UP", 4, "redis-check on the master")
    wait_status(es, "bredis", "r", "UP", 4, "redis-check on the replica")
    r = srv(es, "bredis", "m")
    check_eq((r["check_status"].lstrip("* "), r["last_chk"]), ("L7OK", "Redis server is ok"), "redis-check result")

    wait_status(es, "bmaster", "m", "UP", 4, "master-only ruleset: the master")
    wait_status(es, "bmaster", "r", "DOWN", 4, "master-only ruleset: the replica")
    r = srv(es, "bmaster", "r")
    # the role line is not there: a timeout while waiting for more, or a mismatch once the answer
    # is complete, depending on how the replica's answer arrives (HAProxy reports both)
    check(r["check_status"].lstrip("* ") in ("L7RSP", "L7TOUT") and r["last_chk"] in (
        "TCPCHK did not match content 'role:master' at step 5",
        " at step 5 of tcp-check (expect string 'role:master')"),
        f"the replica fails at its role line: {r['check_status']!r} {r['last_chk']!r}")
    for i in range(6):
        s = eslib.connect(fr, timeout=5)
        s.sendall(b"INFO replication\r\n")
        got = b""
        dl = eslib.Deadline(5)
        while b"role:" not in got and not dl.expired():
            got += s.recv(65536)
        s.close()
        check(b"role:master" in got, f"connection {i} through the frontend reached the master: {got[:80]!r}")

    wait_status(es, "bsmtp", "good", "UP", 4, "smtpchk against aiosmtpd")
    r = srv(es, "bsmtp", "good")
    check_eq((r["check_status"].lstrip("* "), eslib.num(r["check_code"]), r["last_chk"]), ("L7OK", 221, "Bye"),
             "smtpchk passes; the code and text are QUIT's reply")
    wait_status(es, "bsmtp", "bad", "DOWN", 4, "smtpchk against a 554 banner")
    r = srv(es, "bsmtp", "bad")
    check_eq((r["check_status"].lstrip("* "), eslib.num(r["check_code"]), r["last_chk"]),
             ("L7STS", 554, "5.3.2 no service here"), "a 554 banner: L7STS, its code and text")

    wait_status(es, "bbin", "e", "UP", 4, "binary send and expects against an echo server")
    check_eq(srv(es, "bbin", "e")["last_chk"], "(tcp-check)", "a tcp-check ruleset that passes")
    wait_status(es, "bbin2", "e", "DOWN", 4, "a binary pattern that never comes")
    r = srv(es, "bbin2", "e")
    check_eq((r["check_status"].lstrip("* "), r["last_chk"]), ("L7TOUT", " at step 2 of tcp-check (expect binary 'PONG')"),
             "a pattern that never comes: L7TOUT at its step")
    wait_status(es, "bneg", "e", "DOWN", 4, "a negated expect of what comes")
    r = srv(es, "bneg", "e")
    check_eq((r["check_status"].lstrip("* "), r["last_chk"]),
             ("L7RSP", "TCPCHK matched unwanted content 'hello' at step 2 comment: no-echo-please"),
             "a negated match that matches")
    # a PROXY v1 line naming the check connection's addresses opens the check (HAProxy 2.6 does
    # the same: its own local and peer addresses)
    wait_status(es, "bpp", "p", "UP", 4, "tcp-check connect send-proxy")
    wait_status(es, "bpph", "p", "UP", 4, "check-send-proxy with option httpchk")
    check_eq(srv(es, "bpph", "p")["check_status"].lstrip("* "), "L7OK", "the HTTP check after the PROXY line")
    check(pp.seen and all(l.startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 ") for l in pp.seen),
          f"the PROXY lines the peer got: {pp.seen[:4]}")
    log(f"check PROXY lines: {pp.seen[0]!r} ({len(pp.seen)} checks)")
    log("tcp-check rulesets: redis master/replica, smtp, binary, PROXY lines: as expected")


if __name__ == "__main__":
    eslib.run_http(main)
