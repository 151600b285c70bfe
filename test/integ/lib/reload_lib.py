"""Helpers shared by the reload cases (reload_basic, reload_state, reload_under_load).

  - reload(): starts `edgeshard -f ... -x SOCK -sf OLDPID` and waits for its extended ready line
    (`..., generation G, took over from PID P`); reload_fails(): the same, expecting a non-zero exit;
  - ForeignEdgeshard: a process this test did not fork (started by `edgeshardctl reload`), tracked
    and stopped by its PID like the others (its start time guards against PID reuse);
  - HandoffClient: speaks the handoff protocol v1 on the admin socket, as a new process would
    (`_handoff 1`, listening sockets received with SCM_RIGHTS, state, `end`, then `_commit` or a
    close that aborts);
  - LoopClient: a keep-alive HTTP client thread that keeps sending and reconnects only when a
    response says `Connection: close`; any other close or error is recorded as a failure;
  - PacedStream: one long L4 stream through the proxy to an echo server, sent at a fixed pace so
    it spans several reloads, every echoed byte checked;
  - wrk output parsing; `show info` / `show servers state` parsing.
"""

import errno
import hashlib
import os
import re
import signal
import socket
import threading
import time

import eslib
from eslib import Deadline, Failure, check, log

# complete lines only (a line is judged once its newline has been written)
READY_RE = re.compile(r"edgeshard\[(\d+)\]: ready: [^\n]*?generation (\d+), took over from PID (\d+)\b[^\n]*\n")
READY_ANY_RE = re.compile(r"edgeshard\[(\d+)\]: ready: ([^\n]*)\n")


# --------------------------------------------------------------------------------------------
# Starting a new process over a running one
# --------------------------------------------------------------------------------------------

def reload_argv(h, files, sock, old_pids):
    argv = [h.bin]
    for f in files:
        argv += ["-f", f]
    argv += ["-x", sock]
    if old_pids:
        argv += ["-sf"] + [str(p) for p in old_pids]
    return argv


def reload(h, old, files, sock, name, ports=(), timeout=15.0):
    """Starts a new process taking over from `old` (an eslib.Edgeshard or ForeignEdgeshard) with
    the config files `files`; waits for its ready line naming `old.pid`. Returns (new, generation).
    Failure if it exits first, prints a ready line without the takeover, or names another PID."""
    argv = reload_argv(h, files, sock, [old.pid])
    t0 = time.monotonic()
    es = eslib.Edgeshard(h, argv, name, sock=sock, ports=ports)
    h.procs.append(es)
    dl = Deadline(timeout)
    m = None
    for _ in range(int(timeout / 0.01) + 100):
        text = es.stderr_text()
        m = READY_RE.search(text)
        if m:
            break
        plain = READY_ANY_RE.search(text)
        if plain and "took over" not in plain.group(2):
            raise Failure(f"{name}: ready line without 'generation G, took over from PID P': "
                          f"{plain.group(0)!r}")
        if not es.running():
            raise Failure(f"{name} (reload over pid {old.pid}) exited with status "
                          f"{es.popen.returncode} before its ready line\n--- stderr ---\n{es.tail(60)}")
        if dl.expired():
            raise Failure(f"{name} (reload over pid {old.pid}) printed no ready line within "
                          f"{timeout}s\n--- stderr ---\n{es.tail(60)}")
        time.sleep(0.01)
    took = time.monotonic() - t0
    check(int(m.group(1)) == es.pid, f"{name}: ready line names pid {m.group(1)}, the process is {es.pid}")
    check(int(m.group(3)) == old.pid, f"{name}: ready line says it took over from PID {m.group(3)}, "
                                      f"expected {old.pid}: {m.group(0)!r}")
    gen = int(m.group(2))
    log(f"{name} pid {es.pid} ready in {took:.2f}s: generation {gen}, took over from {old.pid}")
    if ports:
        eslib.wait_listening(ports, 5)
    return es, gen


def reload_fails(h, old, files, sock, name, timeout=15.0):
    """Starts a takeover that must fail: the new process exits non-zero within `timeout` without
    a ready line. Returns (exit status, stderr text)."""
    argv = reload_argv(h, files, sock, [old.pid])
    es = eslib.Edgeshard(h, argv, name, sock=sock)
    h.procs.append(es)
    rc = es.wait(timeout)
    text = es.stderr_text()
    if rc is None:
        raise Failure(f"{name}: the failing takeover did not exit within {timeout}s\n"
                      f"--- stderr ---\n{es.tail(40)}")
    check(rc != 0, f"{name}: the failing takeover exited with status 0\n--- stderr ---\n{text[-3000:]}")
    check("ready:" not in text, f"{name}: the failing takeover printed a ready line:\n{text[-3000:]}")
    log(f"{name}: exited with {rc} as expected; stderr: {text.strip()[-300:]!r}")
    return rc, text


def wait_exit(proc, timeout, what):
    """Waits for a (soft-stopped) process to exit; returns its exit status (None for a foreign
    process, whose status this test cannot read)."""
    dl = Deadline(timeout)
    for _ in range(int(timeout / 0.02) + 10):
        if not proc.running():
            rc = proc.wait(0.5)
            log(f"{what}: pid {proc.pid} exited ({rc})")
            return rc
        if dl.expired():
            break
        time.sleep(0.02)
    raise Failure(f"{what}: pid {proc.pid} still running after {timeout}s\n"
                  f"--- stderr ---\n{proc.tail(30)}")


def pid_alive(pid):
    """True if `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, IndexError):
        return None


class _NoPopen:
    returncode = None

    def poll(self):
        return None


class ForeignEdgeshard(eslib.Edgeshard):
    """An edgeshard process this test did not fork (edgeshardctl started it). It is stopped by
    PID at the end like every other process; its exit status is unknown to us."""

    def __init__(self, h, pid, name, sock=None, ports=()):  # noqa: super().__init__ would spawn
        self.h = h
        self.sock = sock
        self.ports = list(ports)
        self.name = name
        self.pid = pid
        self.argv = []
        self.popen = _NoPopen()
        self.returncode = None
        self.start_time = _start_time(pid)
        self.out_path = self.err_path = os.devnull

    def running(self):
        return self.start_time is not None and _start_time(self.pid) == self.start_time and pid_alive(self.pid)

    def wait(self, timeout):
        dl = Deadline(timeout)
        while self.running() and not dl.expired():
            time.sleep(0.02)
        return None

    def send_signal(self, sig):
        if self.running():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=5.0, sig=signal.SIGTERM):
        if self.running():
            self.send_signal(sig)
            self.wait(timeout)
            if self.running():
                self.send_signal(signal.SIGKILL)
                self.wait(5)
        return None

    def stderr_text(self):
        return ""

    def stdout_text(self):
        return ""

    def tail(self, n=40):
        return "(started by edgeshardctl: its stderr is not captured by the test)"


def adopt(h, pid, name, sock):
    p = ForeignEdgeshard(h, pid, name, sock=sock)
    check(p.start_time is not None, f"pid {pid} ({name}) does not exist")
    h.procs.append(p)
    return p


# --------------------------------------------------------------------------------------------
# Control socket parsing
# --------------------------------------------------------------------------------------------

def show_info(path):
    """`show info` as {name: value}."""
    out = {}
    for line in eslib.ctl_raw(path, "show info").splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


def info_int(info, key):
    check(key in info, f"`show info` has no {key!r} line; keys: {sorted(info)}")
    try:
        return int(info[key])
    except ValueError:
        raise Failure(f"`show info` {key}: {info[key]!r} is not an integer")


def servers_state(path, backend):
    """`show servers state <backend>` (HAProxy's format: a version line, a '# be_id be_name ...'
    header, one line per server) as {srv_name: {column: value}}."""
    text = eslib.ctl_raw(path, f"show servers state {backend}")
    header = None
    rows = {}
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            header = s.lstrip("#").split()
            continue
        if header is None:
            continue  # the format version line
        vals = s.split()
        row = dict(zip(header, vals))
        if row.get("be_name") == backend and "srv_name" in row:
            rows[row["srv_name"]] = row
    check(header is not None and rows, f"`show servers state {backend}` has no header or no rows: "
                                       f"{text[:600]!r}")
    return rows


# --------------------------------------------------------------------------------------------
# The handoff protocol, spoken by the test as a new process would
# --------------------------------------------------------------------------------------------

class HandoffClient:
    """Connects to the admin socket and runs `_handoff 1` up to `end`. Afterwards: `header`
    ({'pid','gen','listeners'}), `listeners` ([(seq, shard, bind_id, addr)]), `fds` (in arrival
    order, one per listener line), `state` (text). Then commit() or abort()."""

    def __init__(self, path, timeout=5.0):
        self.path = path
        self.fds = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = bytearray()
        self.header = None
        self.listeners = []
        self.state = None

    def _recv(self, dl):
        if dl.expired():
            raise Failure(f"handoff: incomplete answer after the deadline: {bytes(self.buf[-300:])!r}")
        self.sock.settimeout(max(0.05, dl.left()))
        try:
            data, anc, flags, _ = self.sock.recvmsg(1 << 16, socket.CMSG_SPACE(256 * 4))
        except socket.timeout:
            return
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                n = len(payload) // 4
                self.fds += list(memoryview(payload)[:n * 4].cast("i"))
        check(not flags & socket.MSG_CTRUNC, "handoff: ancillary data truncated (MSG_CTRUNC)")
        if not data:
            raise Failure(f"handoff: the server closed the connection early; received "
                          f"{bytes(self.buf[-300:])!r}")
        self.buf += data

    def _line(self, dl):
        for _ in range(100000):
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i]).decode("utf-8", "replace")
                del self.buf[:i + 1]
                return line
            check(len(self.buf) < (1 << 20), "handoff: a line longer than 1 MiB")
            self._recv(dl)
        raise Failure("handoff: line loop bound reached")

    def run(self, timeout=5.0):
        dl = Deadline(timeout)
        self.sock.sendall(b"_handoff 1\n")
        first = self._line(dl)
        m = re.fullmatch(r"handoff 1 pid=(\d+) gen=(\d+) listeners=(\d+)", first)
        check(m, f"handoff: unexpected first line {first!r}")
        self.header = {"pid": int(m.group(1)), "gen": int(m.group(2)), "listeners": int(m.group(3))}
        for i in range(self.header["listeners"]):
            line = self._line(dl)
            parts = line.split()
            check(len(parts) == 5 and parts[0] == "L" and parts[1].isdigit() and parts[2].isdigit(),
                  f"handoff: listener line {i}: {line!r} is not 'L <seq> <shard> <bind-id> <addr>'")
            self.listeners.append((int(parts[1]), int(parts[2]), parts[3], parts[4]))
        line = self._line(dl)
        m = re.fullmatch(r"state (\d+)", line)
        check(m, f"handoff: expected 'state <nbytes>', got {line!r}")
        n = int(m.group(1))
        for _ in range(100000):
            if len(self.buf) >= n:
                break
            self._recv(dl)
        self.state = bytes(self.buf[:n]).decode("utf-8", "replace")
        del self.buf[:n]
        line = self._line(dl)
        check(line == "end", f"handoff: expected 'end', got {line!r}")
        check(len(self.fds) == self.header["listeners"],
              f"handoff: {self.header['listeners']} listener lines but {len(self.fds)} descriptors")
        return self

    def describe_fds(self):
        """[(port, accepting)] of each received descriptor, in order."""
        out = []
        for fd in self.fds:
            s = socket.socket(fileno=os.dup(fd))
            try:
                name = s.getsockname()
                acc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                out.append((name[1] if isinstance(name, tuple) else name, bool(acc)))
            finally:
                s.close()
        return out

    def close_fds(self):
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []

    def abort(self):
        """Closes the received descriptors and the connection without committing."""
        self.close_fds()
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------

class LoopClient:
    """A thread sending GET requests without pause on a keep-alive connection; it reconnects when
    a response carries `Connection: close` (and then sees the close). Anything else (error status,
    close without that header, reset, timeout, refused connect) is recorded in `errors`.
    With close=True every request goes on a new connection and says `Connection: close`."""

    def __init__(self, port, name="loop", pause=0.003, close=False):
        self.port = port
        self.name = name
        self.pause = pause
        self.close = close
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.requests = 0
        self.close_headers = 0
        self.connects = 0
        self.errors = []
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self):
        c = None
        i = 0
        while not self.stop_ev.is_set():
            try:
                if c is None:
                    c = eslib.HttpClient(self.port, timeout=3)
                    with self.lock:
                        self.connects += 1
                hdrs = [("Connection", "close")] if self.close else None
                r = c.request("GET", f"/{self.name}/{i}", headers=hdrs, timeout=3)
                i += 1
                if r.status != 200:
                    raise Failure(f"status {r.status}")
                with self.lock:
                    self.requests += 1
                if self.close or "close" in (r.header("Connection") or "").lower():
                    with self.lock:
                        self.close_headers += 1
                    how, extra, _ = c.wait_closed(3)
                    if how == "timeout" or extra:
                        raise Failure(f"after `Connection: close`: {how}, extra bytes {extra[:80]!r}")
                    c.close()
                    c = None
            except (Failure, OSError) as e:
                with self.lock:
                    self.errors.append(f"request {i} ({time.strftime('%H:%M:%S')}): {e}")
                if c is not None:
                    c.close()
                c = None
                i += 1
                time.sleep(0.05)
            if self.pause:
                time.sleep(self.pause)
        if c is not None:
            c.close()

    def snapshot(self):
        with self.lock:
            return self.requests, self.close_headers, list(self.errors)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        check(not self.thread.is_alive(), f"{self.name}: client thread did not stop")


def fresh_requests(port, n, what, timeout=3.0):
    """n requests, each on a new connection; all must answer 200. Returns the responses."""
    out = []
    for i in range(n):
        try:
            r = eslib.http_get(port, f"/{what.replace(' ', '-')}/{i}", timeout=timeout)
        except (Failure, OSError) as e:
            raise Failure(f"{what}: request {i} of {n} on a new connection failed: {e}")
        check(r.status == 200, f"{what}: request {i}: status {r.status} ({r.brief()})")
        out.append(r)
    return out


def echo_roundtrip(port, what, nbytes=4096):
    s = eslib.connect(port, timeout=3)
    try:
        data = os.urandom(nbytes)
        s.sendall(data)
        got = eslib.recv_exact(s, nbytes, timeout=3, what=what)
        check(got == data, f"{what}: echoed bytes differ")
    finally:
        s.close()


def connect_refused(port):
    """True if a connect to 127.0.0.1:port is refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((eslib.LOCALHOST, port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    finally:
        s.close()


class PacedStream:
    """One L4 connection to an echo server through the proxy: sends `total` random bytes in
    `chunk`-byte pieces spread over `seconds`, half-closes, and checks that exactly the same
    bytes come back, then EOF. Runs in two threads; `result` is None on success, else why not."""

    def __init__(self, port, total, seconds, name, chunk=1 << 16):
        self.port = port
        self.total = total
        self.seconds = seconds
        self.name = name
        self.chunk = chunk
        self.sent = 0
        self.received = 0
        self.result = "not finished"
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.result = self._stream()
        except Exception as e:  # recorded for the test to report
            self.result = f"{self.name}: {e!r} (sent {self.sent}, received {self.received} of {self.total})"

    def _stream(self):
        s = eslib.connect(self.port, timeout=5)
        seed = os.urandom(32)
        sent_hash = hashlib.sha256()
        recv_hash = hashlib.sha256()
        errors = []

        def reader():
            buf = bytearray(1 << 17)
            mv = memoryview(buf)
            dl = Deadline(self.seconds + 60)
            try:
                while not dl.expired():
                    s.settimeout(max(0.05, dl.left()))
                    try:
                        k = s.recv_into(buf)
                    except socket.timeout:
                        continue
                    if k == 0:
                        return
                    recv_hash.update(mv[:k])
                    self.received += k
                errors.append("reader: deadline reached before EOF")
            except OSError as e:
                errors.append(f"reader: {e!r}")

        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        pieces = (self.total + self.chunk - 1) // self.chunk
        t0 = time.monotonic()
        counter = 0
        while self.sent < self.total:
            n = min(self.chunk, self.total - self.sent)
            # deterministic content per piece, cheap to produce: sha256-expanded counter blocks
            block = hashlib.sha256(seed + counter.to_bytes(8, "little")).digest() * (n // 32 + 1)
            piece = block[:n]
            counter += 1
            s.sendall(piece)
            sent_hash.update(piece)
            self.sent += n
            due = t0 + self.seconds * counter / pieces
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        s.shutdown(socket.SHUT_WR)
        rt.join(self.seconds + 60)
        s.close()
        if errors:
            return f"{self.name}: {errors[0]} (received {self.received} of {self.total})"
        if rt.is_alive():
            return f"{self.name}: no EOF (received {self.received} of {self.total})"
        if self.received != self.total:
            return f"{self.name}: truncated: received {self.received} of {self.total} bytes"
        if recv_hash.hexdigest() != sent_hash.hexdigest():
            return f"{self.name}: {self.total} bytes came back but differ from what was sent"
        return None

    def join(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------

def parse_wrk(out):
    """wrk's summary -> {'requests', 'connect', 'read', 'write', 'timeout', 'non2xx', 'seconds'}.
    Missing 'Socket errors' / 'Non-2xx' lines mean zero. Failure if the request count is absent."""
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(ms|s|m)\b", out, re.M)
    check(m, f"cannot find wrk's request count in:\n{out}")
    secs = float(m.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(3)]
    res = {"requests": int(m.group(1)), "seconds": secs, "connect": 0, "read": 0, "write": 0,
           "timeout": 0, "non2xx": 0, "socket_errors_line": False}
    e = re.search(r"Socket errors:\s*connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if e:
        res.update(connect=int(e.group(1)), read=int(e.group(2)), write=int(e.group(3)),
                   timeout=int(e.group(4)), socket_errors_line=True)
    elif "Socket errors" in out:
        raise Failure(f"wrk printed a 'Socket errors' line this parser does not understand:\n{out}")
    n = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if n:
        res["non2xx"] = int(n.group(1))
    elif "Non-2xx" in out:
        raise Failure(f"wrk printed a 'Non-2xx' line this parser does not understand:\n{out}")
    return res


# --------------------------------------------------------------------------------------------
# A lean HTTP origin for load (run as a separate process: `python3 reload_lib.py origin PORT`)
# --------------------------------------------------------------------------------------------

_CL_RE = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
_CLOSE_RE = re.compile(rb"\r\nconnection:[^\r\n]*\bclose\b", re.I)


def lean_origin(port):
    """A one-thread selector HTTP/1.1 origin: every request (body by Content-Length skipped) gets
    `200 ok`; keep-alive unless the request says `Connection: close`. Runs until killed."""
    import selectors
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
    ok_close = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((eslib.LOCALHOST, port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    conns = {}

    def drop(c):
        sel.unregister(c)
        conns.pop(c, None)
        c.close()

    while True:
        for key, mask in sel.select(1.0):
            c = key.fileobj
            if c is ls:
                for _ in range(128):
                    try:
                        n, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    n.setblocking(False)
                    n.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conns[n] = [bytearray(), bytearray(), False]
                    sel.register(n, selectors.EVENT_READ, None)
                continue
            st = conns.get(c)
            if st is None:
                continue
            inb, outb, _ = st
            try:
                if mask & selectors.EVENT_READ and not st[2]:
                    data = c.recv(1 << 16)
                    if not data:
                        drop(c)
                        continue
                    inb += data
                    for _ in range(1000):
                        i = inb.find(b"\r\n\r\n")
                        if i < 0:
                            break
                        head = bytes(inb[:i + 2])
                        m = _CL_RE.search(head)
                        need = i + 4 + (int(m.group(1)) if m else 0)
                        if len(inb) < need:
                            break
                        del inb[:need]
                        if _CLOSE_RE.search(head):
                            outb += ok_close
                            st[2] = True
                            break
                        outb += ok
                if outb:
                    try:
                        k = c.send(outb)
                        del outb[:k]
                    except BlockingIOError:
                        pass
                if not outb and st[2]:
                    drop(c)
                    continue
                sel.modify(c, selectors.EVENT_READ | (selectors.EVENT_WRITE if outb else 0), None)
            except OSError:
                drop(c)


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "origin":
        lean_origin(int(sys.argv[2]))
    else:
        print("usage: reload_lib.py origin PORT", file=sys.stderr)
        sys.exit(2)
