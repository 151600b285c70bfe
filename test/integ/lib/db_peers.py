"""Real database and directory servers as health-check peers, started by a case in its temp dir on
127.0.0.1 with ports from the kernel, registered with the harness (stopped by PID at the end, like
every process it spawns), each start bounded in time; and scripted peers (threads) speaking just
enough of a protocol to answer a check in a chosen way.

    slapd = db_peers.start_slapd(h)                        # OpenLDAP, anonymous bind allowed
    my = db_peers.start_mariadb(h, ["CREATE USER 'u'@'127.0.0.1'"])
    pg = db_peers.start_postgres(h, setup_sql, hba_lines)  # as the unprivileged user postgres
    tls = db_peers.start_tls_server(h, pem)                # openssl s_server
    peer.port, peer.proc, peer.start_secs

A binary that is missing fails the case (never skips it), naming its Debian package: the case is
meant to run wherever `scripts/setup.sh --test` has run.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

import eslib

L = eslib.LOCALHOST
PG_BIN = "/usr/lib/postgresql/15/bin"
START_TIMEOUT = 15.0


def need(path_or_name, package):
    """The full path of a program, or Failure naming the Debian package that provides it."""
    path = path_or_name if os.path.isabs(path_or_name) else shutil.which(path_or_name)
    if not path or not os.access(path, os.X_OK):
        raise eslib.Failure(f"{path_or_name} is missing: Debian package {package} "
                            f"(scripts/setup.sh --test installs it)")
    return path


class UserProc(eslib.Proc):
    """An eslib.Proc run as another (unprivileged) user: the PID is the program itself, so it is
    stopped like any other by the harness, with `stop_signal` first (then SIGKILL)."""

    def __init__(self, argv, name, tmpdir, user, env=None, stop_signal=signal.SIGTERM):
        self.stop_signal = stop_signal
        self.name = name
        self.argv = list(argv)
        self.out_path = os.path.join(tmpdir, f"{name}.stdout")
        self.err_path = os.path.join(tmpdir, f"{name}.stderr")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        pw = pwd.getpwnam(user)
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
                                      cwd=pw.pw_dir if os.path.isdir(pw.pw_dir) else "/", env=env,
                                      user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        self.pid = self.popen.pid
        self.returncode = None

    def stop(self, timeout=5.0, sig=None):
        return super().stop(timeout=timeout, sig=sig or self.stop_signal)


class Peer:
    """A started server: its process, port and how long it took to listen."""

    def __init__(self, name, proc, port, start_secs, **extra):
        self.name = name
        self.proc = proc
        self.port = port
        self.start_secs = start_secs
        self.__dict__.update(extra)

    def stop(self):
        return self.proc.stop()


def wait_listening(proc, port, what, timeout=START_TIMEOUT):
    """Waits (bounded) until `port` is in LISTEN state, read from /proc/net/tcp so that no
    connection reaches the server; Failure with the server's stderr if it exits first."""
    def up():
        if not proc.running():
            raise eslib.Failure(f"{what} exited with status {proc.popen.returncode} during start-up\n"
                                f"--- stdout ---\n{proc.stdout_text()[-2000:]}")
        return eslib.is_listening(port)
    try:
        eslib.poll_until(up, timeout, interval=0.02, what=f"{what} to listen on {L}:{port}")
    except eslib.Failure as e:
        raise eslib.Failure(f"{e}\n--- {what} stderr ---\n{proc.tail(30)}")


def _timed_start(h, argv, name, port, what, proc=None):
    t0 = time.monotonic()
    p = proc or h.spawn(argv, name)
    if proc is not None:
        h.procs.append(p)
    eslib.log(f"started {what} pid {p.pid}: {' '.join(p.argv)}")
    wait_listening(p, port, what)
    secs = time.monotonic() - t0
    eslib.log(f"{what} listens on {L}:{port} after {secs:.2f}s")
    return p, secs


# --------------------------------------------------------------------------------------------
# OpenLDAP
# --------------------------------------------------------------------------------------------

def start_slapd(h, port=None):
    """slapd (package slapd) with a configuration of its own that holds no database: an anonymous
    simple bind succeeds (resultCode 0), which is all `option ldap-check` asks. `port` restarts
    it where an earlier one listened."""
    slapd = need("/usr/sbin/slapd", "slapd")
    h._n += 1
    name = f"slapd{h._n}"
    d = h.path(name)
    os.makedirs(d, exist_ok=True)
    conf = h.write(f"{name}/slapd.conf", f"""
        pidfile {d}/slapd.pid
        argsfile {d}/slapd.args
        """)
    port = port or eslib.free_port()
    # -d 0: stay in the foreground (the PID is slapd's) with no debug output
    argv = [slapd, "-f", conf, "-h", f"ldap://{L}:{port}/", "-d", "0"]
    p, secs = _timed_start(h, argv, name, port, "slapd")
    return Peer(name, p, port, secs)


# --------------------------------------------------------------------------------------------
# MariaDB
# --------------------------------------------------------------------------------------------

def start_mariadb(h, init_sql=()):
    """mariadbd (package mariadb-server) on a datadir made by mariadb-install-db in the temp dir,
    run as root (--user=root), without name resolution (a client from 127.0.0.1 matches accounts
    @'127.0.0.1'), grant tables in force. `init_sql` statements run at start-up (--init-file),
    before the server accepts connections. Returns a Peer with .install_secs (the datadir)."""
    install = need("mariadb-install-db", "mariadb-server")
    mariadbd = need("/usr/sbin/mariadbd", "mariadb-server")
    d = h.path("mariadb")
    os.makedirs(d, exist_ok=True)
    os.makedirs(f"{d}/tmp", exist_ok=True)
    # a temp dir of its own: two servers sharing /tmp for their temporary tables trip over each
    # other's files (mariadb-install-db fails now and then when cases run side by side)
    small = [f"--tmpdir={d}/tmp", "--innodb-log-file-size=8M", "--innodb-buffer-pool-size=16M"]
    t0 = time.monotonic()
    r = h.run_cmd([install, "--no-defaults", f"--datadir={d}/data", "--user=root",
                   "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
                   *small], timeout=60)
    install_secs = time.monotonic() - t0
    errors = [l for l in (r.stdout + r.stderr).splitlines() if "ERROR" in l]
    eslib.check(r.returncode == 0, f"mariadb-install-db failed ({r.returncode}): {errors[:5]}\n"
                                   f"{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
    eslib.log(f"mariadb-install-db made the datadir in {install_secs:.2f}s")
    init = h.write("mariadb/init.sql", "".join(s.rstrip(";") + ";\n" for s in init_sql))
    port = eslib.free_port()
    argv = [mariadbd, "--no-defaults", f"--datadir={d}/data", f"--socket={d}/sock", f"--port={port}",
            f"--bind-address={L}", "--user=root", f"--pid-file={d}/mariadbd.pid", "--skip-name-resolve",
            "--skip-log-bin", f"--init-file={init}", "--max-connect-errors=1000000", *small]
    p, secs = _timed_start(h, argv, "mariadbd", port, "mariadbd")
    return Peer("mariadbd", p, port, secs, install_secs=install_secs)


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------

def start_postgres(h, setup_sql=(), hba_lines=(), user="postgres"):
    """PostgreSQL 15 (package postgresql-15) as the unprivileged `user` (PostgreSQL refuses root):
    initdb in the temp dir, `setup_sql` run in single-user mode before the start, pg_hba.conf
    replaced by `hba_lines`, TCP on 127.0.0.1 only (no Unix socket). Returns a Peer with
    .install_secs (initdb and the setup)."""
    initdb = need(f"{PG_BIN}/initdb", "postgresql-15")
    postgres = need(f"{PG_BIN}/postgres", "postgresql-15")
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise eslib.Failure(f"no user {user!r} to run PostgreSQL as (the Debian package postgresql-15 creates "
                            f"it; scripts/setup.sh --test installs it)")
    # the harness' temp dir is root's (0700): let the server's user through to its own folder
    os.chmod(h.tmpdir, 0o711)
    d = h.path("pg")
    os.makedirs(d, exist_ok=True)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    data = os.path.join(d, "data")

    def as_user(argv, input=None, timeout=60):
        try:
            return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, cwd=d,
                                  user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        except subprocess.TimeoutExpired as e:
            raise eslib.Failure(f"{argv} did not finish within {timeout}s (stderr: {e.stderr!r})")

    t0 = time.monotonic()
    r = as_user([initdb, "-D", data, "-A", "trust", "-U", user, "--no-sync", "-E", "UTF8", "--locale=C"])
    eslib.check(r.returncode == 0, f"initdb failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    if setup_sql:
        r = as_user([postgres, "--single", "-D", data, "-F", "-c", "exit_on_error=true", user],
                    input="".join(s.rstrip(";") + ";\n" for s in setup_sql))
        eslib.check(r.returncode == 0 and "ERROR" not in r.stderr,
                    f"postgres --single failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    if hba_lines:
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write("".join(l + "\n" for l in hba_lines))
    install_secs = time.monotonic() - t0
    eslib.log(f"initdb and the setup took {install_secs:.2f}s")
    port = eslib.free_port()
    argv = [postgres, "-D", data, "-p", str(port), "-c", f"listen_addresses={L}",
            "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "logging_collector=off",
            "-c", "log_connections=off"]
    # SIGINT: a fast shutdown (SIGTERM's smart shutdown would wait for every client to leave)
    p = UserProc(argv, "postgres", h.tmpdir, user, stop_signal=signal.SIGINT)
    p, secs = _timed_start(h, argv, "postgres", port, "postgres", proc=p)
    return Peer("postgres", p, port, secs, install_secs=install_secs)


# --------------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------------

def start_tls_server(h, pem):
    """`openssl s_server` (package openssl) with the certificate and key in `pem`."""
    openssl = need("openssl", "openssl")
    port = eslib.free_port()
    argv = [openssl, "s_server", "-accept", f"{L}:{port}", "-cert", pem, "-quiet"]
    p, secs = _timed_start(h, argv, "s_server", port, "openssl s_server")
    return Peer("s_server", p, port, secs)


# --------------------------------------------------------------------------------------------
# Scripted peers (handlers for eslib.ThreadedServer)
# --------------------------------------------------------------------------------------------

def _drain(conn, seconds=3.0):
    """Reads (and drops) what the client sends until it closes or `seconds` pass."""
    dl = eslib.Deadline(seconds)
    try:
        while not dl.expired():
            conn.settimeout(max(0.01, dl.left()))
            try:
                if not conn.recv(4096):
                    return
            except socket.timeout:
                return
    except OSError:
        return


def mysql_packet(seq, payload):
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def mysql_error_packet(code, message, seq=0):
    """An ERR packet (0xff, code, message) without the SQL state marker: what a MySQL server sends
    instead of its initial handshake when it refuses the client outright (1040 too many
    connections, 1129 host blocked, 1130 host not allowed)."""
    return mysql_packet(seq, b"\xff" + code.to_bytes(2, "little") + message.encode())


def ldap_bind_response(result_code, msgid=1, matched=b"", diag=b""):
    """An LDAPMessage { messageID, bindResponse [APPLICATION 1] { resultCode, matchedDN,
    diagnosticMessage } } in BER (short lengths only)."""
    op = b"\x0a\x01" + bytes([result_code]) + b"\x04" + bytes([len(matched)]) + matched \
        + b"\x04" + bytes([len(diag)]) + diag
    body = b"\x02\x01" + bytes([msgid]) + b"\x61" + bytes([len(op)]) + op
    return b"\x30" + bytes([len(body)]) + body


def read_ber_message(conn, timeout=3.0):
    """One BER element (tag, length, value) as sent by an LDAP client."""
    head = eslib.recv_exact(conn, 2, timeout, "BER tag and length")
    n = head[1]
    if n & 0x80:
        k = n & 0x7f
        ext = eslib.recv_exact(conn, k, timeout, "BER long length")
        n = int.from_bytes(ext, "big")
        head += ext
    return head + eslib.recv_exact(conn, n, timeout, "BER value")


def read_request(conn, proto, timeout=3.0):
    """Reads one check request of protocol `proto` by its own framing, so that a peer which then
    closes leaves nothing unread (its close is a FIN, not a reset). Returns the bytes.
      ldap   one BER element (the bind request)
      mysql  MySQL packets up to and including a COM_QUIT (the authentication, then QUIT)
      none   nothing (a check that only reads, like mysql-check without a user)
      pgsql  one message with its 4-byte length first (the StartupMessage)
      tls    one TLS record (the ClientHello)"""
    if proto == "none":
        return b""
    if proto == "ldap":
        return read_ber_message(conn, timeout)
    if proto == "pgsql":
        head = eslib.recv_exact(conn, 4, timeout, "pgsql message length")
        return head + eslib.recv_exact(conn, int.from_bytes(head, "big") - 4, timeout, "pgsql message")
    if proto == "tls":
        head = eslib.recv_exact(conn, 5, timeout, "TLS record header")
        return head + eslib.recv_exact(conn, int.from_bytes(head[3:5], "big"), timeout, "TLS record")
    if proto == "mysql":
        out = b""
        for _ in range(4):
            head = eslib.recv_exact(conn, 4, timeout, "mysql packet header")
            payload = eslib.recv_exact(conn, int.from_bytes(head[:3], "little"), timeout, "mysql packet")
            out += head + payload
            if payload == b"\x01":
                break
        return out
    raise ValueError(f"unknown protocol {proto!r}")


def replies(proto, data, then="drain"):
    """A handler that reads the request (read_request), sends `data`, then either waits for the
    client to close (then='drain') or closes at once (then='close'). The first request it got is
    kept in server.results['request']."""
    def handler(conn, idx, server):
        req = read_request(conn, proto)
        with server.lock:
            server.results.setdefault("request", req)
        if data:
            conn.sendall(data)
        if then == "drain":
            _drain(conn)
    return handler


def closes_after_request(proto):
    """A handler that reads the request and closes without answering (a FIN)."""
    return replies(proto, b"", then="close")


def greets(data):
    """A handler that sends `data` as soon as it accepts (a banner), then reads until the client
    closes."""
    def handler(conn, idx, server):
        conn.sendall(data)
        _drain(conn)
    return handler


def closes_at_once(conn, idx, server):
    """Accepts and closes (FIN) without a byte."""
    conn.close()


def stalls(conn, idx, server):
    """Accepts, reads what comes and never answers, until the client gives up (or 30 s). Keeps
    the bytes received on each connection in server.results['got'][idx] and counts in
    server.results['closed_by_client'] the connections the client closed."""
    dl = eslib.Deadline(30)
    got = bytearray()
    with server.lock:
        server.results.setdefault("got", {})[idx] = got
    while not dl.expired() and not server.stopping:
        conn.settimeout(0.2)
        try:
            data = conn.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            data = b""
        if not data:
            with server.lock:
                server.results["closed_by_client"] = server.results.get("closed_by_client", 0) + 1
            return
        with server.lock:
            got += data
