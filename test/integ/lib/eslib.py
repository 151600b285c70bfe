"""Shared harness for the edgeshard integration tests.

Every case is a script `test/integ/cases/<name>.py` that calls `eslib.run(main)`; this module and
the other helpers live in `test/integ/lib/` (see ../README.md). The harness:
  - creates one temporary directory per test (removed at the end),
  - starts processes (edgeshard, socat, iperf3) through `Harness.spawn`, which records them and
    stops every one by its PID (SIGTERM, then SIGKILL after a timeout) when the test ends,
    whatever the outcome,
  - starts in-process Python servers (threads) that are stopped the same way,
  - turns assertion failures into exit 1 with diagnostics (edgeshard's stderr tail and the
    control socket's `show stat`), `Skip` into exit 77, success into exit 0.
Every wait is a poll against a deadline; nothing sleeps and hopes.
Only 127.0.0.1 is used; ports come from the kernel (bind to port 0), never fixed.
"""

import atexit
import errno
import hashlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback

LOCALHOST = "127.0.0.1"
EXIT_SKIP = 77


# --------------------------------------------------------------------------------------------
# Outcomes and assertions
# --------------------------------------------------------------------------------------------

class Failure(Exception):
    """An assertion about edgeshard's behaviour did not hold."""


class Skip(Exception):
    """The test cannot run here; the message says why."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_eq(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")


def check_range(value, lo, hi, what):
    if not (lo <= value <= hi):
        raise Failure(f"{what}: expected within [{lo}, {hi}], got {value!r}")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Deadline:
    """A point in time; `left()` is what remains (never negative)."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end


def poll_until(fn, timeout, interval=0.02, what="condition"):
    """Calls fn() until it returns a truthy value or `timeout` seconds pass.
    Returns the truthy value; raises Failure naming `what` (and the last value) on timeout."""
    dl = Deadline(timeout)
    last = None
    for _ in range(int(timeout / interval) + 100):
        last = fn()
        if last:
            return last
        if dl.expired():
            break
        time.sleep(min(interval, dl.left()) if dl.left() > 0 else 0)
    raise Failure(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


# --------------------------------------------------------------------------------------------
# Ports, sockets, payloads
# --------------------------------------------------------------------------------------------

_given_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read, close).
    Ports already handed out by this process are never handed out twice."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((LOCALHOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _given_ports:
            _given_ports.add(port)
            return port
    raise RuntimeError("could not find a free port")


def port_is_free(port, host=LOCALHOST):
    """True if nothing is bound/listening on host:port (TIME_WAIT leftovers do not count)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _listening_ports():
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A":
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


def is_listening(port):
    """True if some socket is in LISTEN state on `port` (read from /proc/net/tcp*, so checking
    does not create a connection that edgeshard would count)."""
    return port in _listening_ports()


def wait_listening(ports, timeout=10.0):
    ports = list(ports)
    poll_until(lambda: all(p in _listening_ports() for p in ports), timeout,
               what=f"ports {ports} to be listening")


def connect(port, timeout=5.0, host=LOCALHOST):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n, timeout=5.0, what="data"):
    """Reads exactly n bytes or raises Failure (timeout, EOF or reset before n)."""
    dl = Deadline(timeout)
    buf = bytearray()
    for _ in range(n + 10000):
        if len(buf) >= n:
            break
        if dl.expired():
            raise Failure(f"timeout reading {what}: got {len(buf)} of {n} bytes in {timeout}s")
        sock.settimeout(max(0.01, dl.left()))
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except socket.timeout:
            continue
        except OSError as e:
            raise Failure(f"error reading {what}: {e!r} after {len(buf)} of {n} bytes")
        if not chunk:
            raise Failure(f"EOF reading {what}: got {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def pid_alive(pid):
    """Whether process `pid` exists (a zombie counts until reaped)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def recv_head(sock, buf=b""):
    """Reads from `sock` until `buf` holds a whole HTTP head: (the head without its empty line, the bytes after
    it), or (None, what came) when the peer closes first."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def wait_eof(sock, timeout):
    """Waits until the peer closes. Returns (how, data, seconds) with how in
    'eof' | 'reset' | 'timeout'; data is whatever arrived before."""
    t0 = time.monotonic()
    dl = Deadline(timeout)
    data = bytearray()
    for _ in range(1000000):
        if dl.expired():
            return "timeout", bytes(data), time.monotonic() - t0
        sock.settimeout(max(0.01, dl.left()))
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return "reset", bytes(data), time.monotonic() - t0
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                return "reset", bytes(data), time.monotonic() - t0
            raise
        if not chunk:
            return "eof", bytes(data), time.monotonic() - t0
        data += chunk
    return "timeout", bytes(data), time.monotonic() - t0


def nothing_arrives(sock, seconds):
    """True if during `seconds` the socket neither receives data nor sees EOF/reset."""
    how, data, _ = wait_eof(sock, seconds)
    return how == "timeout" and not data


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def random_payload(n):
    return os.urandom(n)


def send_all_then_shut(sock, payload, chunk=1 << 18):
    mv = memoryview(payload)
    for off in range(0, len(payload), chunk):
        sock.sendall(mv[off:off + chunk])
    sock.shutdown(socket.SHUT_WR)


def send_in_background(sock, payload):
    """Starts send_all_then_shut(sock, payload) in a daemon thread; returns (thread, errors): the
    errors list holds repr() of what the send raised, if anything, once the thread is joined."""
    err = []

    def sender():
        try:
            send_all_then_shut(sock, payload)
        except Exception as e:  # recorded for the caller to check
            err.append(repr(e))

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    return t, err


def recv_hash_until_eof(sock, limit_bytes, timeout):
    """Reads to EOF hashing on the fly; returns (nbytes, sha256hex). Failure on timeout/reset or
    when more than limit_bytes arrive."""
    h = hashlib.sha256()
    n = 0
    buf = bytearray(1 << 18)
    mv = memoryview(buf)
    dl = Deadline(timeout)
    for _ in range((limit_bytes >> 10) + 100000):
        if dl.expired():
            raise Failure(f"timeout after {timeout}s reading to EOF ({n} bytes so far)")
        sock.settimeout(max(0.01, dl.left()))
        try:
            k = sock.recv_into(buf)
        except socket.timeout:
            continue
        except OSError as e:
            raise Failure(f"error {e!r} reading to EOF after {n} bytes")
        if k == 0:
            return n, h.hexdigest()
        h.update(mv[:k])
        n += k
        if n > limit_bytes:
            raise Failure(f"received more than the {limit_bytes} bytes expected")
    raise Failure("read loop bound reached")


# --------------------------------------------------------------------------------------------
# In-process servers
# --------------------------------------------------------------------------------------------

class EchoServer:
    """A selector-driven echo server in one thread: echoes everything, propagates the peer's
    EOF by closing. `banner` (bytes) is sent first on every connection (used to tell which
    server a connection landed on). Counts accepts, current and peak connections."""

    def __init__(self, port=None, banner=b"", name="echo", backlog=1024):
        self.name = name
        self.banner = banner
        self.port = port or free_port()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((LOCALHOST, self.port))
        self.lsock.listen(backlog)
        self.lsock.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.lock = threading.Lock()
        self.accepts = 0
        self.current = 0
        self.peak = 0
        self.bytes_in = 0
        self.errors = []
        self.stopping = False
        self.conns = {}
        self.thread = threading.Thread(target=self._loop, name=f"{name}-loop", daemon=True)
        self.thread.start()

    def _close(self, s):
        try:
            self.sel.unregister(s)
        except Exception:
            pass
        s.close()
        if self.conns.pop(s, None) is not None:
            with self.lock:
                self.current -= 1

    def _loop(self):
        while not self.stopping:
            try:
                events = self.sel.select(timeout=0.5)
            except Exception as e:  # pragma: no cover
                self.errors.append(repr(e))
                return
            for key, mask in events:
                s = key.fileobj
                if key.data == "wake":
                    return
                if s is self.lsock:
                    for _ in range(64):
                        try:
                            c, _ = self.lsock.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        c.setblocking(False)
                        self.conns[c] = [bytearray(self.banner), False]
                        with self.lock:
                            self.accepts += 1
                            self.current += 1
                            self.peak = max(self.peak, self.current)
                        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.banner else 0)
                        self.sel.register(c, ev, "conn")
                    continue
                st = self.conns.get(s)
                if st is None:
                    continue
                out = st[0]
                try:
                    if mask & selectors.EVENT_READ and not st[1] and len(out) < (4 << 20):
                        data = s.recv(1 << 16)
                        if not data:
                            st[1] = True
                        else:
                            with self.lock:
                                self.bytes_in += len(data)
                            out += data
                    if out:
                        try:
                            k = s.send(out)
                            del out[:k]
                        except BlockingIOError:
                            pass
                    if st[1] and not out:
                        self._close(s)
                        continue
                    readable = not st[1] and len(out) < (4 << 20)
                    want = (selectors.EVENT_READ if readable else 0) | (selectors.EVENT_WRITE if out else 0)
                    self.sel.modify(s, want, "conn")
                except (ConnectionResetError, BrokenPipeError, OSError):
                    self._close(s)

    def stop(self):
        self.stopping = True
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass
        self.thread.join(5)
        for s in list(self.conns):
            self._close(s)
        for s in (self.lsock, self.wake_r, self.wake_w):
            try:
                s.close()
            except OSError:
                pass


class UdpLog:
    """A syslog receiver on 127.0.0.1/udp, for a proxy's `log 127.0.0.1:PORT` (stopped by the
    harness once registered with h.add): keeps each datagram's message, after 'name[pid]: '."""

    def __init__(self):
        self.name = "udplog"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCALHOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.stopping = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stopping:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            s = d.decode("utf-8", "replace").rstrip("\n")
            i = s.find("]: ")
            self.lines.append(s[i + 3:] if i >= 0 else s)

    def wait_for(self, needle, timeout=5.0):
        """The first line holding `needle`, waiting for it up to `timeout` seconds."""
        return poll_until(lambda: [x for x in self.lines if needle in x], timeout, interval=0.05,
                          what=f"a log line with {needle!r} (got {self.lines[-5:]!r})")[0]

    def stop(self):
        self.stopping = True
        self.t.join(2)
        self.sock.close()


class ThreadedServer:
    """Accepts connections in a thread and runs `handler(conn, index, server)` for each in its
    own thread. Exceptions raised by a handler are recorded in `errors` (the test checks them).
    Results can be stored by handlers in `results` (a dict, guarded by `lock`)."""

    def __init__(self, handler, port=None, name="srv", backlog=512, conn_timeout=60.0, host=None):
        self.handler = handler
        self.name = name
        self.host = host or LOCALHOST  # another loopback address (127.0.0.2...) for tests that need several
        self.port = port or free_port()
        self.conn_timeout = conn_timeout
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((self.host, self.port))
        self.lsock.listen(backlog)
        self.lsock.settimeout(0.2)
        self.lock = threading.Lock()
        self.results = {}
        self.errors = []
        self.accepts = 0
        self.accept_times = []
        self.stopping = False
        self.conns = []
        self.threads = []
        self.thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(self.conn_timeout)
            with self.lock:
                idx = self.accepts
                self.accepts += 1
                self.accept_times.append(time.monotonic())
                self.conns.append(c)
            t = threading.Thread(target=self._run, args=(c, idx), name=f"{self.name}-{idx}", daemon=True)
            t.start()
            with self.lock:
                self.threads.append(t)  # only started threads are listed (they get joined)

    def _run(self, c, idx):
        try:
            self.handler(c, idx, self)
        except Exception as e:
            if not self.stopping:
                with self.lock:
                    self.errors.append(f"conn {idx}: {e!r}")
        finally:
            try:
                c.close()
            except OSError:
                pass

    def wait_handlers(self, timeout):
        """Waits for every handler started so far; True if all have finished."""
        dl = Deadline(timeout)
        with self.lock:
            threads = list(self.threads)
        for t in threads:
            t.join(dl.left())
        return all(not t.is_alive() for t in threads)

    def await_result(self, key, timeout, what):
        """Polls until a handler stored results[key] (returned and removed) or a handler failed
        (Failure with its error); bounded by `timeout`."""
        dl = Deadline(timeout)
        for _ in range(int(timeout / 0.01) + 10):
            with self.lock:
                if key in self.results:
                    return self.results.pop(key)
                if self.errors:
                    errs = list(self.errors)
                    self.errors.clear()
                    raise Failure(f"{what}: server handler failed: {errs}")
            if dl.expired():
                break
            time.sleep(0.01)
        raise Failure(f"{what}: the server did not complete its side within {timeout}s "
                      f"(accepted {self.accepts} connections so far)")

    def stop(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        self.thread.join(3)
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        with self.lock:
            threads = list(self.threads)
        for t in threads:
            t.join(2)


# --------------------------------------------------------------------------------------------
# Bulk duplex transfers
# --------------------------------------------------------------------------------------------

MiB = 1 << 20
TOKEN = 16


class DuplexPeers:
    """Client payloads start with a random 16-byte token; the server looks its reply payload up
    by that token, sends it concurrently with reading, then half-closes. Both ends hash."""

    def __init__(self, h, port=None):
        self.h = h
        self.replies = {}   # token -> bytes the server sends
        self.server_got = {}  # token -> (nbytes, sha) the server received
        self.lock = threading.Lock()
        self.srv = h.threaded_server(self._handle, port=port, name="duplex", conn_timeout=90)

    def _handle(self, c, idx, srv):
        head = recv_exact(c, TOKEN, timeout=30, what="token")
        token = bytes(head)
        reply = self.replies.get(token)
        if reply is None:
            raise Failure(f"server conn {idx}: unknown token {token.hex()}")
        t, err = send_in_background(c, reply)
        hsh = hashlib.sha256(token)
        n = TOKEN
        n2, _ = _recv_to_eof_update(c, hsh, 256 * MiB, 90)
        n += n2
        t.join(90)
        if err:
            raise Failure(f"server conn {idx}: send failed: {err[0]}")
        with self.lock:
            self.server_got[token] = (n, hsh.hexdigest())

    def prepare(self, c2s_len, s2c_len):
        c2s = random_payload(c2s_len)
        s2c = random_payload(s2c_len)
        self.replies[c2s[:TOKEN]] = s2c
        return c2s, s2c

    def client(self, port, c2s, s2c, result, key):
        """Runs one client; stores None on success or a failure message in result[key]."""
        try:
            s = connect(port, timeout=10)
            t, err = send_in_background(s, c2s)
            n, hx = recv_hash_until_eof(s, len(s2c) + MiB, 120)
            t.join(120)
            s.close()
            if err:
                result[key] = f"client {key}: send failed: {err[0]}"
            elif n != len(s2c):
                result[key] = f"client {key}: received {n} bytes, expected {len(s2c)}"
            elif hx != sha256(s2c):
                result[key] = f"client {key}: received data differs from what the server sent (sha256)"
            else:
                result[key] = None
        except Exception as e:
            result[key] = f"client {key}: {e!r}"

    def run_parallel(self, port, pairs, timeout):
        """One client thread per (c2s, s2c) pair, all at once; checks every client's result and
        the server side of every connection."""
        res = {}
        threads = [threading.Thread(target=self.client, args=(port, a, b, res, i), daemon=True)
                   for i, (a, b) in enumerate(pairs)]
        for t in threads:
            t.start()
        dl = Deadline(timeout)
        for t in threads:
            t.join(dl.left())
        check(all(not t.is_alive() for t in threads), f"parallel clients did not finish within {timeout} s")
        for i in range(len(pairs)):
            check(res.get(i, "missing") is None, res.get(i) or f"client {i} has no result")
        check(self.srv.wait_handlers(30), "server handlers did not finish")
        for a, _ in pairs:
            self.check_server_side(a)

    def check_server_side(self, c2s):
        token = c2s[:TOKEN]
        got = self.server_got.get(token)
        check(got is not None, f"server never completed the connection with token {token.hex()}")
        check_eq(got[0], len(c2s), f"bytes the server received on connection {token.hex()[:8]}")
        check(got[1] == sha256(c2s), "data the server received differs from what the client sent")


def _recv_to_eof_update(sock, hsh, limit, timeout):
    buf = bytearray(1 << 18)
    mv = memoryview(buf)
    n = 0
    dl = Deadline(timeout)
    for _ in range((limit >> 12) + 100000):
        if dl.expired():
            raise Failure(f"server: timeout reading to EOF after {n} bytes")
        sock.settimeout(max(0.01, dl.left()))
        try:
            k = sock.recv_into(buf)
        except socket.timeout:
            continue
        if k == 0:
            return n, None
        hsh.update(mv[:k])
        n += k
        if n > limit:
            raise Failure("server: too much data")
    raise Failure("server: read loop bound reached")



# --------------------------------------------------------------------------------------------
# Control socket and stats parsing
# --------------------------------------------------------------------------------------------

def ctl_raw(path, command, timeout=5.0):
    """Sends one line of commands to the control socket and reads the answer until the server
    closes (non-interactive mode). Raises Failure if it does not close within `timeout`."""
    s = None
    dl = Deadline(2.0)
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
            break
        except (ConnectionRefusedError, FileNotFoundError) as e:
            # only right after start-up (socket file created, listen() not yet called)
            s.close()
            if dl.expired():
                raise Failure(f"cannot connect to the control socket {path}: {e!r}")
            time.sleep(0.02)
    try:
        s.sendall(command.encode() + b"\n")
        how, data, _ = wait_eof(s, timeout)
        if how == "timeout":
            raise Failure(f"control socket did not close after answering {command!r} within "
                          f"{timeout}s (got {len(data)} bytes: {data[:200]!r})")
        return data.decode("utf-8", "replace")
    finally:
        s.close()


def ctl_json(path, command, timeout=5.0):
    text = ctl_raw(path, command, timeout)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise Failure(f"answer to {command!r} is not JSON ({e}): {text[:500]!r}")


def _is_field_obj(x):
    return isinstance(x, dict) and "field" in x and "value" in x


def _field_name(obj):
    f = obj.get("field")
    if isinstance(f, dict):
        return f.get("name")
    return f


def _field_value(obj):
    v = obj.get("value")
    if isinstance(v, dict) and "value" in v:
        return v["value"]
    return v


def field_rows(doc):
    """All 'rows' in a HAProxy-style JSON answer: lists whose elements are field objects
    ({"field":{"name"},"value":{"value"}}), found at any nesting depth. Each row becomes a dict
    {field name: value}, plus '_meta' (objType, proxyId, id, processNum, tags, and any
    shard/thread key of the first field object)."""
    rows = []

    def walk(x, depth):
        if depth > 8:
            return
        if isinstance(x, list):
            objs = [e for e in x if _is_field_obj(e)]
            if objs and len(objs) == len(x):
                row = {}
                for o in objs:
                    row[_field_name(o)] = _field_value(o)
                first = objs[0]
                meta = {k: first[k] for k in first if k not in ("field", "value")}
                row["_meta"] = meta
                rows.append(row)
                return
            for e in x:
                walk(e, depth + 1)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v, depth + 1)

    walk(doc, 0)
    return rows


def stat_map(doc):
    """`show stat json` -> {(pxname, svname): {field: value}}. If a key occurs several times
    (per-shard output) the last one wins; use stat_rows() for those."""
    out = {}
    for row in field_rows(doc):
        out[(row.get("pxname"), row.get("svname"))] = row
    return out


def num(v):
    """A stat value as int (HAProxy renders empty fields as '' or absent)."""
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return int(v)
    try:
        return int(str(v).strip())
    except ValueError:
        return 0


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------

class Proc:
    """A child process, stopped by its PID at the end of the test whatever happens."""

    def __init__(self, argv, name, tmpdir, cwd=None, env=None, stdin=subprocess.DEVNULL,
                 capture_stdout=True, pass_fds=()):
        self.name = name
        self.argv = list(argv)
        self.out_path = os.path.join(tmpdir, f"{name}.stdout")
        self.err_path = os.path.join(tmpdir, f"{name}.stderr")
        self._out = open(self.out_path, "wb") if capture_stdout else subprocess.DEVNULL
        self._err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(self.argv, stdin=stdin, stdout=self._out, stderr=self._err,
                                      cwd=cwd or tmpdir, env=env, pass_fds=tuple(pass_fds))
        self.pid = self.popen.pid
        self.returncode = None

    def running(self):
        return self.popen.poll() is None

    def wait(self, timeout):
        try:
            self.returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def send_signal(self, sig):
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout=5.0, sig=signal.SIGTERM):
        """SIGTERM (or `sig`), wait up to `timeout`, then SIGKILL. Returns the exit status
        (negative = killed by that signal)."""
        if self.popen.poll() is None:
            self.send_signal(sig)
            if self.wait(timeout) is None:
                self.send_signal(signal.SIGKILL)
                self.wait(5)
        self.returncode = self.popen.poll()
        for f in (self._out, self._err):
            if hasattr(f, "close"):
                try:
                    f.close()
                except OSError:
                    pass
        return self.returncode

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout_text(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self, n=40):
        lines = self.stderr_text().splitlines()
        return "\n".join(lines[-n:])


class Edgeshard(Proc):
    """One edgeshard process run from a config text written into the test's temp dir."""

    def __init__(self, h, argv, name, sock=None, ports=(), pass_fds=()):
        self.h = h
        self.sock = sock
        self.ports = list(ports)
        super().__init__(argv, name, h.tmpdir, pass_fds=pass_fds)

    def wait_ready(self, timeout=10.0):
        dl = Deadline(timeout)
        for _ in range(int(timeout / 0.02) + 10):
            if "ready:" in self.stderr_text():
                break
            if not self.running():
                raise Failure(f"{self.name} exited with status {self.popen.returncode} before "
                              f"printing 'ready:'\n--- stderr ---\n{self.tail(60)}")
            if dl.expired():
                raise Failure(f"{self.name} did not print 'ready:' within {timeout}s\n"
                              f"--- stderr ---\n{self.tail(60)}")
            time.sleep(0.02)
        if self.ports:
            wait_listening(self.ports, max(1.0, dl.left()))
        if self.sock:
            poll_until(lambda: os.path.exists(self.sock), max(1.0, dl.left()),
                       what=f"control socket {self.sock}")
        return self

    def ctl(self, command, timeout=5.0):
        check(self.sock, "this edgeshard has no control socket")
        return ctl_raw(self.sock, command, timeout)

    def ctl_json(self, command, timeout=5.0):
        check(self.sock, "this edgeshard has no control socket")
        return ctl_json(self.sock, command, timeout)

    def stats(self):
        return stat_map(self.ctl_json("show stat json"))

    def stat(self, px, sv, field):
        row = self.stats().get((px, sv))
        if row is None:
            raise Failure(f"`show stat json` has no row for ({px}, {sv})")
        if field not in row:
            raise Failure(f"`show stat json` row ({px}, {sv}) has no field {field!r}; "
                          f"fields: {sorted(k for k in row if k != '_meta')}")
        return num(row[field])

    def wait_stat(self, px, sv, field, pred, timeout=5.0, what=None):
        """Polls `show stat json` until pred(value) holds; returns the stat map at that point."""
        last = {}

        def probe():
            m = self.stats()
            last["m"] = m
            row = m.get((px, sv))
            if row is None or field not in row:
                return None
            return m if pred(num(row[field])) else None

        try:
            return poll_until(probe, timeout, interval=0.05,
                              what=what or f"{px}/{sv} {field} condition")
        except Failure:
            row = last.get("m", {}).get((px, sv))
            val = None if row is None else row.get(field)
            raise Failure(f"timed out after {timeout}s waiting for {what or field} on {px}/{sv}: "
                          f"last {field} = {val!r}")

    def expect_counters(self, px, sv, expected, timeout=3.0, what=""):
        """Polls until every field of row (px, sv) equals `expected` ({field: int}); on timeout
        fails listing each mismatch. Returns the stat map."""
        last = {}

        def probe():
            m = self.stats()
            last["m"] = m
            row = m.get((px, sv))
            if row is None:
                return None
            return m if all(num(row.get(k)) == v for k, v in expected.items()) else None

        dl = Deadline(timeout)
        for _ in range(int(timeout / 0.05) + 10):
            m = probe()
            if m:
                return m
            if dl.expired():
                break
            time.sleep(0.05)
        row = last.get("m", {}).get((px, sv))
        if row is None:
            raise Failure(f"{what}: `show stat json` has no row ({px}, {sv}); rows: "
                          f"{sorted(k for k in last.get('m', {}))}")
        bad = [f"{k}={row.get(k)!r} (expected {v})" for k, v in expected.items() if num(row.get(k)) != v]
        missing = [k for k in expected if k not in row]
        raise Failure(f"{what + ': ' if what else ''}{px}/{sv} counters differ: {', '.join(bad)}"
                      + (f"; fields missing from the row: {missing}" if missing else ""))

    def shards(self):
        doc = self.ctl_json("show shards json")
        return shard_objects(doc)


def shard_objects(doc):
    """`show shards json` -> list of per-shard dicts. Accepts a bare array of objects, an object
    holding such an array (e.g. {"shards": [...]}), or field-object rows."""
    if isinstance(doc, dict):
        for v in doc.values():
            if isinstance(v, list):
                doc = v
                break
    if isinstance(doc, list) and doc and all(isinstance(e, dict) and not _is_field_obj(e) for e in doc):
        return doc
    rows = field_rows(doc)
    if rows:
        return [{k: v for k, v in r.items() if k != "_meta"} for r in rows]
    raise Failure(f"`show shards json` has an unexpected shape: {json.dumps(doc)[:400]}")


# --------------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------------

class Harness:
    def __init__(self, name):
        self.name = name
        self.bin = os.environ.get("EDGESHARD_BIN", "")
        self.ctl_bin = os.environ.get("EDGESHARDCTL_BIN", "")
        self.tmpdir = tempfile.mkdtemp(prefix=f"es-integ-{name}-")
        self.procs = []
        self.sanitizer_reports = []
        self.servers = []
        self._n = 0

    def require_binaries(self):
        for var, path in (("EDGESHARD_BIN", self.bin), ("EDGESHARDCTL_BIN", self.ctl_bin)):
            if not path:
                raise Failure(f"{var} is not set")
            if not os.access(path, os.X_OK):
                raise Failure(f"{var}={path} is not an executable file")

    def path(self, name):
        return os.path.join(self.tmpdir, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(textwrap.dedent(text).lstrip("\n"))
        return p

    def spawn(self, argv, name, **kw):
        p = Proc(argv, name, self.tmpdir, **kw)
        self.procs.append(p)
        return p

    def run_cmd(self, argv, timeout=20.0, cwd=None, env=None, input=None):
        """Runs a short command to completion (bounded), stdin from `input` (text) or nothing;
        returns CompletedProcess."""
        try:
            if input is not None:
                return subprocess.run(argv, input=input, capture_output=True, text=True,
                                      timeout=timeout, cwd=cwd or self.tmpdir, env=env)
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, cwd=cwd or self.tmpdir, env=env)
        except subprocess.TimeoutExpired as e:
            raise Failure(f"{argv} did not finish within {timeout}s (stderr: {e.stderr!r})")

    def edgeshard(self, config, ports=(), sock=None, name=None, extra_args=(), wait=True,
                  files=None, pass_fds=()):
        """Writes `config` (a string, or None when `files` lists config files already written),
        starts `edgeshard -f ...`, waits for 'ready:', the listed ports and the control socket."""
        self._n += 1
        name = name or f"edgeshard{self._n}"
        if files is None:
            files = [self.write(f"{name}.cfg", config)]
        argv = [self.bin]
        for f in files:
            argv += ["-f", f]
        argv += list(extra_args)
        es = Edgeshard(self, argv, name, sock=sock, ports=ports, pass_fds=pass_fds)
        self.procs.append(es)
        log(f"started {name} pid {es.pid}: {' '.join(argv)}")
        if wait:
            es.wait_ready()
        return es

    def echo_server(self, **kw):
        s = EchoServer(**kw)
        self.servers.append(s)
        return s

    def threaded_server(self, handler, **kw):
        s = ThreadedServer(handler, **kw)
        self.servers.append(s)
        return s

    def sock_path(self, name="es.sock"):
        return self.path(name)

    def diagnostics(self):
        for p in self.procs:
            if not isinstance(p, Edgeshard):
                continue
            state = "running" if p.running() else f"exited with {p.popen.returncode}"
            print(f"\n===== {p.name} (pid {p.pid}, {state}) stderr tail =====", flush=True)
            print(p.tail(40), flush=True)
            if p.running() and p.sock and os.path.exists(p.sock):
                try:
                    print(f"----- {p.name} show stat -----")
                    print(ctl_raw(p.sock, "show stat", timeout=3.0), flush=True)
                except Exception as e:
                    print(f"(show stat failed: {e!r})", flush=True)

    def cleanup(self):
        for s in self.servers:
            try:
                s.stop()
            except Exception as e:
                print(f"warning: stopping server {getattr(s, 'name', s)}: {e!r}", flush=True)
        self.servers = []
        for p in reversed(self.procs):
            try:
                p.stop(timeout=5.0)
            except Exception as e:
                print(f"warning: stopping {p.name} (pid {p.pid}): {e!r}", flush=True)
            if isinstance(p, Edgeshard):
                # a sanitizer build reports to stderr (leaks at exit): any report fails the test
                try:
                    txt = p.stderr_text()
                except Exception:  # noqa: BLE001
                    txt = ""
                if any(m in txt for m in SANITIZER_MARKERS):
                    self.sanitizer_reports.append(f"{p.name} (pid {p.pid}):\n{txt[-4000:]}")
        self.procs = []
        if self.tmpdir and os.path.isdir(self.tmpdir):
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None


_current = None


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


def _atexit_cleanup():
    if _current is not None and _current.tmpdir is not None:
        _current.cleanup()


def _on_sigterm(signum, frame):
    raise SystemExit(f"test interrupted by signal {signum}")


def run(main, name=None):
    """Runs main(h) with a fresh Harness; exits 0 / 1 / 77."""
    global _current
    name = name or os.path.splitext(os.path.basename(sys.argv[0]))[0]
    h = Harness(name)
    _current = h
    atexit.register(_atexit_cleanup)
    signal.signal(signal.SIGTERM, _on_sigterm)
    code = 1
    t0 = time.monotonic()
    try:
        h.require_binaries()
        main(h)
        code = 0
        log(f"PASS {name} ({time.monotonic() - t0:.1f}s)")
    except Skip as e:
        code = EXIT_SKIP
        print(f"SKIP {name}: {e}", flush=True)
    except Failure as e:
        print(f"\nFAIL {name}: {e}", flush=True)
        h.diagnostics()
    except BaseException as e:  # noqa: BLE001 - any error is a failure with diagnostics
        print(f"\nFAIL {name}: unexpected {type(e).__name__}: {e}", flush=True)
        traceback.print_exc()
        h.diagnostics()
    finally:
        h.cleanup()
        _current = None
        if h.sanitizer_reports:
            print(f"\nFAIL {name}: sanitizer report(s) from edgeshard:", flush=True)
            for r in h.sanitizer_reports:
                print(r, flush=True)
            code = 1
    sys.stdout.flush()
    os._exit(code)


# --------------------------------------------------------------------------------------------
# Config helpers
# --------------------------------------------------------------------------------------------

def global_section(sock, nbthread=2, maxconn=2000, extra=""):
    lines = ["global", f"    nbthread {nbthread}"]
    if maxconn:
        lines.append(f"    maxconn {maxconn}")
    if sock:
        lines.append(f"    stats socket {sock} mode 600 level admin")
    for l in textwrap.dedent(extra).strip("\n").splitlines():
        if l.strip():
            lines.append("    " + l.strip())
    return "\n".join(lines) + "\n"


def defaults_section(connect="2s", client="10s", server="10s", extra="", mode="tcp"):
    lines = ["defaults", f"    mode {mode}", f"    timeout connect {connect}",
             f"    timeout client {client}", f"    timeout server {server}"]
    for l in textwrap.dedent(extra).strip("\n").splitlines():
        if l.strip():
            lines.append("    " + l.strip())
    return "\n".join(lines) + "\n"


def simple_proxy(fe_port, servers, fe="fe", be="be", balance="roundrobin", fe_extra="", be_extra=""):
    """A frontend on fe_port and a backend with `servers` = [(name, port, extra), ...]."""
    lines = [f"frontend {fe}", f"    bind {LOCALHOST}:{fe_port}"]
    for l in textwrap.dedent(fe_extra).strip("\n").splitlines():
        if l.strip():
            lines.append("    " + l.strip())
    lines += [f"    default_backend {be}", "", f"backend {be}", f"    balance {balance}"]
    for l in textwrap.dedent(be_extra).strip("\n").splitlines():
        if l.strip():
            lines.append("    " + l.strip())
    for name, port, extra in servers:
        lines.append(f"    server {name} {LOCALHOST}:{port} {extra}".rstrip())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# HTTP cases: the proxy under test and HTTP/1.1 client helpers
# --------------------------------------------------------------------------------------------
# Developer-only switch, never set by CI: ES_TEST_PEER=haproxy runs the HTTP cases against HAProxy
# (ES_HAPROXY_BIN, default /usr/sbin/haproxy; started as `haproxy -f <cfg> -db`) instead of
# edgeshard. It exists to validate the tests themselves against a mature implementation of the
# same configuration language. Checks where edgeshard is deliberately stricter than HAProxy, or
# where a keyword is ours, are guarded by `edgeshard_only(...)` and skipped (and logged) there.
# Config lines that HAProxy does not know are dropped for the peer: lines whose keyword starts
# with "tune.es." and lines carrying the marker ES_ONLY ("# es-only").

import re  # noqa: E402 - used by the HTTP helpers below

ES_ONLY = "# es-only"
HAPROXY_DEFAULT_BIN = "/usr/sbin/haproxy"


def test_peer():
    """'edgeshard' (the default, and the only value CI uses) or 'haproxy'."""
    p = os.environ.get("ES_TEST_PEER", "").strip().lower()
    return p or "edgeshard"


def on_edgeshard():
    return test_peer() == "edgeshard"


def edgeshard_only(what):
    """True when the proxy under test is edgeshard. Against a peer, logs that the check named
    `what` is skipped there and returns False, so a case writes `if edgeshard_only(...): check`."""
    if on_edgeshard():
        return True
    log(f"[{test_peer()}] skipped (edgeshard-only): {what}")
    return False


def peer_config(text):
    """The config text as given to the proxy under test: unchanged for edgeshard; for a peer,
    without `tune.es.*` lines and lines marked ES_ONLY."""
    if on_edgeshard():
        return text
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("tune.es.") or ES_ONLY in line:
            continue
        out.append(line)
    return "\n".join(out) + "\n"


class PeerProxy(Edgeshard):
    """A peer proxy (HAProxy) run in the foreground; it prints no 'ready:' line, so readiness is
    its listening ports and its control socket."""

    def wait_ready(self, timeout=10.0):
        dl = Deadline(timeout)

        def ready():
            if not self.running():
                raise Failure(f"{self.name} exited with status {self.popen.returncode} during start-up"
                              f"\n--- stderr ---\n{self.tail(60)}")
            if self.ports and not all(p in _listening_ports() for p in self.ports):
                return False
            return not self.sock or os.path.exists(self.sock)

        poll_until(ready, max(1.0, dl.left()), what=f"{self.name} to listen on {self.ports}")
        return self


def start_proxy(h, config, ports=(), sock=None, name=None, pass_fds=()):
    """Starts the proxy under test (edgeshard, or the ES_TEST_PEER peer) with `config` and waits
    until it serves. Returns the process object (stats/ctl helpers work for both). `pass_fds`: descriptors
    the process inherits (bind fd@N)."""
    if on_edgeshard():
        return h.edgeshard(config, ports=ports, sock=sock, name=name, pass_fds=pass_fds)
    h._n += 1
    name = name or f"{test_peer()}{h._n}"
    cfg = h.write(f"{name}.cfg", peer_config(textwrap.dedent(config).lstrip("\n")))
    binary = os.environ.get("ES_HAPROXY_BIN", HAPROXY_DEFAULT_BIN)
    argv = [binary, "-f", cfg, "-db"]
    p = PeerProxy(h, argv, name, sock=sock, ports=ports, pass_fds=pass_fds)
    h.procs.append(p)
    log(f"started peer {name} pid {p.pid}: {' '.join(argv)}")
    p.wait_ready()
    return p


def start_haproxy(h, config, ports, name="haproxy_ext"):
    """Starts the real HAProxy (ES_HAPROXY_BIN, default /usr/sbin/haproxy) next to the proxy under test,
    with the config text `config`, and waits until it listens on `ports`; Skip when it is not installed."""
    binary = os.environ.get("ES_HAPROXY_BIN", HAPROXY_DEFAULT_BIN)
    if not os.access(binary, os.X_OK):
        raise Skip(f"HAProxy ({binary}) is not installed: apt-get install haproxy")
    cfg = h.write(f"{name}.cfg", config)
    p = h.spawn([binary, "-f", cfg, "-db"], name)
    log(f"started {name} pid {p.pid}: {binary} -f {cfg} -db")

    def ready():
        if not p.running():
            raise Failure(f"{name} exited with {p.popen.returncode}:\n{p.tail(40)}")
        return all(is_listening(x) for x in ports)
    poll_until(ready, 10, what=f"{name} to listen on {ports}")
    return p


def run_http(main):
    """eslib.run for the HTTP cases: with ES_TEST_PEER=haproxy the edgeshard binaries need not
    exist (the peer binary must)."""
    if not on_edgeshard():
        if test_peer() != "haproxy":
            print(f"FAIL: ES_TEST_PEER={test_peer()!r} is not supported (use 'haproxy')", flush=True)
            os._exit(1)
        binary = os.environ.get("ES_HAPROXY_BIN", HAPROXY_DEFAULT_BIN)
        if not os.access(binary, os.X_OK):
            print(f"SKIP: ES_TEST_PEER=haproxy but {binary} is not executable", flush=True)
            os._exit(EXIT_SKIP)
        os.environ["EDGESHARD_BIN"] = binary
        os.environ.setdefault("EDGESHARDCTL_BIN", binary)
        log(f"running against the peer {binary} (ES_TEST_PEER=haproxy): a test-validation run")
    run(main)


def http_global(sock, nbthread=1, maxconn=2000, extra=""):
    return global_section(sock, nbthread=nbthread, maxconn=maxconn, extra=extra)


def check_refused(h, text, rule, fragments, what):
    """`-c` refuses the configuration `text`: a non-zero exit, no "valid", the message names the line that
    holds `rule` (HAProxy writes "[bad.cfg:N]", edgeshard "bad.cfg:N:"; either passes, so the same case
    runs through both) and holds every fragment. Returns the output."""
    lineno = next(i + 1 for i, l in enumerate(text.splitlines()) if l.strip() == rule.strip())
    p = h.run_cmd([os.environ["EDGESHARD_BIN"], "-c", "-f", h.write("bad.cfg", text)], timeout=30)
    out = p.stdout + p.stderr
    check(p.returncode != 0 and "Configuration file is valid" not in out, f"{what}: refused (rc={p.returncode}): {out!r}")
    check(f"bad.cfg:{lineno}]" in out or f"bad.cfg:{lineno}:" in out, f"{what}: the message names bad.cfg:{lineno}: {out!r}")
    for f in fragments:
        check(f in out, f"{what}: {f!r} in {out!r}")
    return out


def http_defaults(connect="1s", client="5s", server="5s", extra=""):
    return defaults_section(connect=connect, client=client, server=server, extra=extra, mode="http")


def section(header, body):
    """A config section: `header` then each non-empty line of `body` indented."""
    lines = [header]
    for l in textwrap.dedent(body).strip("\n").splitlines():
        if l.strip():
            lines.append("    " + l.strip())
    return "\n".join(lines) + "\n\n"


def vmrss_kib(pid):
    """Resident set size of a process in KiB (from /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure(f"no VmRSS in /proc/{pid}/status")


def require_tool(name):
    path = shutil.which(name)
    if not path:
        raise Skip(f"{name} is not installed")
    return path


def curl(h, args, timeout=20.0, stdin=None):
    """Runs curl (-sS, bounded by --max-time) with `args`; returns CompletedProcess (text)."""
    exe = require_tool("curl")
    argv = [exe, "-sS", "--max-time", str(int(timeout))] + list(args)
    try:
        return subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout + 5, cwd=h.tmpdir)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"{argv} did not finish within {timeout + 5}s (stderr: {e.stderr!r})")


HTTP_REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
                204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
                400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                405: "Method Not Allowed", 407: "Proxy Authentication Required",
                408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
                414: "URI Too Long", 426: "Upgrade Required", 429: "Too Many Requests",
                431: "Request Header Fields Too Large", 500: "Internal Server Error",
                501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
                504: "Gateway Timeout", 505: "HTTP Version Not Supported"}


def http_request_bytes(method="GET", target="/", headers=None, body=b"", host="test.local",
                       version="HTTP/1.1"):
    """A request as bytes. `headers` is a list of (name, value); a Host header is added first
    unless host is None or headers name one; Content-Length is added for a non-empty body
    unless headers name Content-Length or Transfer-Encoding."""
    headers = list(headers or [])
    names = {n.lower() for n, _ in headers}
    out = [f"{method} {target} {version}\r\n"]
    if host is not None and "host" not in names:
        out.append(f"Host: {host}\r\n")
    for n, v in headers:
        out.append(f"{n}: {v}\r\n")
    if body and not names & {"content-length", "transfer-encoding"}:
        out.append(f"Content-Length: {len(body)}\r\n")
    out.append("\r\n")
    return "".join(out).encode("latin-1") + (body or b"")


def chunk_encode(data, sizes=(4096,), trailers=()):
    """Chunked framing of `data`, chunk sizes cycling through `sizes`; then the last chunk and
    trailers [(name, value)]."""
    out = bytearray()
    pos = 0
    k = 0
    while pos < len(data):
        n = min(sizes[k % len(sizes)], len(data) - pos)
        k += 1
        out += b"%x\r\n" % n + data[pos:pos + n] + b"\r\n"
        pos += n
    out += b"0\r\n"
    for n, v in trailers:
        out += f"{n}: {v}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


class HttpResponse:
    """One parsed response. `headers` keeps the order and case seen on the wire; `interim`
    holds the 1xx responses (other than 101) that preceded it."""

    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers = []
        self.raw_head = b""
        self.body = b""
        self.body_len = 0
        self.body_sha256 = ""
        self.chunked = False
        self.trailers = []
        self.interim = []
        self.wire_len = 0       # bytes of head + body framing as received
        self.close_delimited = False

    def header(self, name, default=None):
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return default

    def headers_named(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise Failure(f"response body is not JSON ({e}): {self.body[:300]!r}")

    def brief(self):
        return (f"{self.status} {self.reason!r} headers={self.headers!r} "
                f"body[{self.body_len}]={self.body[:200]!r}")

    def __repr__(self):
        return f"<HttpResponse {self.brief()}>"


def _parse_head(raw):
    """Status line and header fields of a response head (bytes, without the final CRLFCRLF)."""
    lines = raw.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise Failure(f"malformed status line {lines[0][:200]!r}")
    r = HttpResponse()
    r.version, r.status = parts[0], int(parts[1])
    r.reason = parts[2] if len(parts) > 2 else ""
    for l in lines[1:]:
        if b":" not in l:
            raise Failure(f"malformed response header line {l[:200]!r} in {raw[:500]!r}")
        n, v = l.split(b":", 1)
        r.headers.append((n.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
    r.raw_head = raw + b"\r\n\r\n"
    return r


class HttpClient:
    """A raw-socket HTTP/1.1 client connection: send anything, read responses one at a time
    (content-length, chunked, or close-delimited bodies), see the connection close."""

    def __init__(self, port, timeout=5.0, source=None):
        self.port = port
        if source:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind((source, 0))
            self.sock.settimeout(timeout)
            self.sock.connect((LOCALHOST, port))
        else:
            self.sock = socket.create_connection((LOCALHOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.reset = False

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", target="/", headers=None, body=b"", host="test.local",
                version="HTTP/1.1", timeout=5.0, keep_body=True):
        """Sends one request and reads its response; a failure names the request."""
        what = f"{method} {target[:80]}"
        try:
            self.send(http_request_bytes(method, target, headers, body, host, version))
        except OSError as e:
            raise Failure(f"{what}: sending the request failed: {e!r}")
        try:
            return self.read_response(method=method, timeout=timeout, keep_body=keep_body)
        except Failure as e:
            raise Failure(f"{what}: {e}")

    def _avail(self):
        return len(self.buf) - self.pos

    def _compact(self):
        if self.pos > (1 << 20) or (self.pos and self.pos == len(self.buf)):
            del self.buf[:self.pos]
            self.pos = 0

    def _fill(self, dl, what):
        """Reads more bytes; False on EOF/reset; Failure on timeout."""
        if self.eof:
            return False
        for _ in range(1000000):
            if dl.expired():
                raise Failure(f"timeout waiting for {what} ({self._avail()} bytes buffered: "
                              f"{bytes(self.buf[self.pos:self.pos + 200])!r})")
            self.sock.settimeout(max(0.01, dl.left()))
            try:
                chunk = self.sock.recv(1 << 18)
            except socket.timeout:
                continue
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                    self.eof = True
                    self.reset = True
                    return False
                raise
            if not chunk:
                self.eof = True
                return False
            self._compact()
            self.buf += chunk
            return True
        return False

    def _take(self, n):
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b

    def _line(self, dl, what, limit=65536):
        for _ in range(1000000):
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            if self._avail() > limit:
                raise Failure(f"{what}: line longer than {limit} bytes")
            if not self._fill(dl, what):
                raise Failure(f"connection closed while reading {what}")
        raise Failure("line loop bound reached")

    def read_head(self, timeout=5.0, what="response head"):
        """The next response head; Failure if the connection closes first."""
        dl = Deadline(timeout)
        for _ in range(1000000):
            i = self.buf.find(b"\r\n\r\n", self.pos)
            if i >= 0:
                raw = bytes(self.buf[self.pos:i])
                self.pos = i + 4
                r = _parse_head(raw)
                r.wire_len = len(raw) + 4
                return r
            if self._avail() > 65536:
                raise Failure(f"{what}: no end of head within 64 KiB: "
                              f"{bytes(self.buf[self.pos:self.pos + 300])!r}")
            if not self._fill(dl, what):
                got = bytes(self.buf[self.pos:self.pos + 300])
                raise Failure(f"connection {'reset' if self.reset else 'closed'} before a complete "
                              f"{what} (got {self._avail()} bytes: {got!r})")
        raise Failure("head loop bound reached")

    def read_response(self, method="GET", timeout=5.0, keep_body=True, interim=False):
        """The next final response (1xx other than 101 are collected into .interim, unless
        `interim` is True: then a 1xx is returned as it comes). keep_body=False only hashes."""
        dl = Deadline(timeout)
        pre = []
        for _ in range(100):
            r = self.read_head(dl.left(), "response head")
            if 100 <= r.status < 200 and r.status != 101 and not interim:
                pre.append(r)
                continue
            break
        r.interim = pre
        if method == "HEAD" or 100 <= r.status < 200 or r.status in (204, 304):
            r.body_sha256 = sha256(b"")
            return r
        hsh = hashlib.sha256()
        kept = bytearray()
        te = ",".join(r.headers_named("transfer-encoding")).lower()
        cls = r.headers_named("content-length")
        n = 0
        if te:
            if te.replace(" ", "").split(",")[-1] != "chunked":
                raise Failure(f"response with Transfer-Encoding {te!r} not ending in chunked")
            r.chunked = True
            for _ in range(100000000):
                line = self._line(dl, "chunk size line")
                r.wire_len += len(line) + 2
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise Failure(f"bad chunk size line in the response: {line[:100]!r}")
                if size == 0:
                    for _ in range(1000):
                        t = self._line(dl, "trailer")
                        r.wire_len += len(t) + 2
                        if not t:
                            break
                        tn, _, tv = t.decode("latin-1").partition(":")
                        r.trailers.append((tn, tv.strip()))
                    break
                for _ in range(100000000):
                    if self._avail() >= size + 2:
                        break
                    take = self._avail()
                    if take and take <= size:
                        part = self.buf[self.pos:self.pos + take]
                        hsh.update(part)
                        if keep_body:
                            kept += part
                        self.pos += take
                        size -= take
                        n += take
                        r.wire_len += take
                    if not self._fill(dl, "chunk data"):
                        raise Failure(f"connection closed inside a chunk ({n} body bytes read)")
                part = self.buf[self.pos:self.pos + size]
                hsh.update(part)
                if keep_body:
                    kept += part
                n += size
                self.pos += size
                if self.buf[self.pos:self.pos + 2] != b"\r\n":
                    raise Failure(f"chunk data not followed by CRLF: "
                                  f"{bytes(self.buf[self.pos:self.pos + 20])!r}")
                self.pos += 2
                r.wire_len += size + 2
        elif cls:
            if len(set(cls)) != 1:
                raise Failure(f"response with conflicting Content-Length values {cls}")
            want = int(cls[0])
            for _ in range(100000000):
                take = min(self._avail(), want - n)
                if take:
                    part = self.buf[self.pos:self.pos + take]
                    hsh.update(part)
                    if keep_body:
                        kept += part
                    self.pos += take
                    n += take
                if n >= want:
                    break
                if not self._fill(dl, f"response body ({n} of {want} bytes)"):
                    raise Failure(f"connection closed after {n} of {want} body bytes")
            r.wire_len += want
        else:
            r.close_delimited = True
            for _ in range(100000000):
                take = self._avail()
                if take:
                    part = self.buf[self.pos:self.pos + take]
                    hsh.update(part)
                    if keep_body:
                        kept += part
                    self.pos += take
                    n += take
                if not self._fill(dl, "close-delimited body"):
                    break
            r.wire_len += n
        self._compact()
        r.body = bytes(kept)
        r.body_len = n
        r.body_sha256 = hsh.hexdigest()
        return r

    def buffered(self):
        """Bytes received and not consumed yet."""
        return bytes(self.buf[self.pos:])

    def wait_closed(self, timeout=3.0):
        """('eof'|'reset'|'timeout', extra bytes, seconds) once the peer closes."""
        extra = self.buffered()
        self.pos = len(self.buf)
        if self.eof:
            return ("reset" if self.reset else "eof"), extra, 0.0
        how, data, secs = wait_eof(self.sock, timeout)
        return how, extra + data, secs

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_get(port, target="/", method="GET", headers=None, body=b"", host="test.local",
             version="HTTP/1.1", timeout=5.0, source=None):
    """One request on a new connection; returns the response (the connection is closed)."""
    c = HttpClient(port, timeout=timeout, source=source)
    try:
        return c.request(method, target, headers, body, host, version, timeout)
    finally:
        c.close()


def raw_exchange(port, data, timeout=3.0, close_wait=1.0):
    """Sends raw bytes on a new connection, returns (response or None, close_how, error text):
    the first response (if any arrives) and whether the proxy then closed the connection
    (within `close_wait` seconds after the response: 'eof' | 'reset' | 'timeout')."""
    c = HttpClient(port, timeout=timeout)
    try:
        try:
            c.send(data)
        except OSError as e:
            return None, "reset", f"send: {e!r}"
        try:
            r = c.read_response(timeout=timeout)
        except Failure as e:
            how, _, _ = c.wait_closed(0.2)
            return None, how, str(e)
        how, extra, _ = c.wait_closed(close_wait)
        return r, how, ""
    finally:
        c.close()


def prometheus_problems(text):
    """Lines of a Prometheus text exposition (0.0.4) that do not follow the format, as
    (line number, line): samples `name{labels} value [timestamp]`, `# HELP`, `# TYPE` (one per
    metric, with a known type)."""
    name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    value = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)|[+-]?Inf|NaN)"
    sample = re.compile(rf"^({name})(?:\{{(?:{label}(?:,{label})*,?)?\}})? {value}(?: -?[0-9]+)?$")
    help_re = re.compile(rf"^# HELP {name} .*$|^# HELP {name}$")
    type_re = re.compile(rf"^# TYPE ({name}) (counter|gauge|histogram|summary|untyped)$")
    bad = []
    typed = {}
    for i, line in enumerate(text.split("\n")):
        if line == "":
            continue
        if line.startswith("# HELP"):
            if not help_re.match(line):
                bad.append((i + 1, line))
        elif line.startswith("# TYPE"):
            m = type_re.match(line)
            if not m:
                bad.append((i + 1, line))
            elif m.group(1) in typed:
                bad.append((i + 1, line + "   <- second TYPE line for this metric"))
            else:
                typed[m.group(1)] = m.group(2)
        elif line.startswith("#"):
            continue
        elif not sample.match(line):
            bad.append((i + 1, line))
    return bad
