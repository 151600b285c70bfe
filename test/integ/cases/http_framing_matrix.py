#!/usr/bin/env python3
"""Response framing matrix, differential: the same cells and the same configuration through edgeshard
(CI) and through HAProxy (`ES_TEST_PEER=haproxy`, a run that validates the assertions themselves).

Four proxy configurations, one proxy process each, run one after the other: {splice on
(`tune.es.splice-after 16384`; dropped for HAProxy, which splices nothing without `option splice-*`),
splice off (`nosplice`)} x {`nbthread 1`, `nbthread 2`}; `timeout client 5s`, `timeout server 5s`,
plus a backend `be_stall` (chosen by the path prefix /stall/) with `timeout server 1s`; `option
httplog` to stdout. In each configuration the cells run concurrently (WORKERS at a time), each on
its own client connection, against a raw-socket origin in this file that answers the path
/<server behaviour>/<framing>/<size>/<cell id> with a deterministic body (a fixed pseudo-random
pattern of prime period: the expected sha256 is known); the head leaves with the first 16 KiB.

Framings: cl (Content-Length), chunked (no trailers; chunk sizes 1 B to 64 KiB), trailers (chunked
with two trailer fields), close (HTTP/1.1 200, `Connection: close`, no length, body until the
server closes), head (HEAD, Content-Length announcing the size), 204, 304 (Content-Length
announcing the size, no body), 1xx (`100 Continue` and `103 Early Hints`, then 20 ms later a
Content-Length 200); edgeshard only: 1xxb (the same, interim and final heads and the first body
bytes in one write; HAProxy 2.6 stalls those bodies, see build_cells).
Sizes: 0, 1 B, 16 KiB, 64 KiB, 1 MiB; 64 MiB for two cells; 204 has one cell, without a size.
Server behaviours: normal (keeps the connection), close_after (closes right after its last byte,
without `Connection: close`), close_mid (half the body, then closes), reset_mid (half the body,
waits until the proxy's kernel acknowledged it all, then SO_LINGER 0 + close), stall (half the body,
then silent 2.5 s, on be_stall: timeout server 1s), overflow (the whole message, then 100 bytes that
look like a complete second response, and keeps the connection).
Client behaviours: fast; slow (SO_RCVBUF 4 KiB, 4 KiB reads, about 2 MB/s); halfclose
(shutdown(SHUT_WR) right after the request); reset (SO_LINGER 0 + close after 16 KiB of body).

Cells per configuration: 82 concurrent (87 on edgeshard) + 8 sequential samples = 90 (95); 360
(380) in all:
  - framing x size, normal server, fast client: 7 x 5 + 1 (204) = 36 (+ 5 1xxb on edgeshard);
  - 64 MiB, normal server, fast client: cl and close = 2;
  - server behaviours, fast client, at 64 KiB and 1 MiB: close_after (cl, chunked), close_mid,
    reset_mid, stall (cl, chunked, close), overflow (cl, chunked) = 2 x 13 = 26;
  - client behaviours slow, halfclose, reset, normal server: cl / chunked / close at 64 KiB and
    1 MiB = 18;
  - samples, one at a time: cl 64 KiB, trailers 16 KiB, close 64 KiB, 304, overflow cl 64 KiB,
    close_mid cl 1 MiB, stall cl 1 MiB, client reset 16 KiB into a 32 MiB cl body.
Each cell asserts:
  - its response is its own (X-Cell) with the expected final status; 1xx cells see exactly the
    interim responses 100 and 103 first, the others none; the origin got the request and sent;
  - complete cells (normal, close_after, overflow servers; fast, slow, halfclose clients): body
    byte-exact (length and sha256), message complete (length satisfied, last chunk and end of
    trailers, or EOF and not a reset), trailers forwarded, no stray byte after it; after a
    delimited response from a keep-alive server the connection stays open and a follow-up request
    on it gets its own correct answer (so an overflow server's 100 extra bytes are neither forwarded
    nor taken as the next answer); a half-closed client's connection is closed after its response;
  - truncating servers (close_mid, reset_mid, stall) with cl or chunked: the client never gets a
    message that looks complete (fewer bytes than announced / no last chunk), what it got is a
    prefix of the body, and the connection is closed; the stalled one between 0.7 and 2.3 s
    (by timeout server 1s, before the server's own close at 2.5 s); with close, a close mid-body is
    the end of the body: exactly the bytes the server sent (close_mid, stall; close_mid complete),
    a prefix of them (reset_mid);
  - client resets: what arrived before the reset is a prefix of the body;
  - access log: exactly one line per request (follow-ups too) with the status the client saw;
    for complete cells %B is the bytes the client received (exact on edgeshard, near on HAProxy);
  - counters (`show stat json`): FRONTEND req_tot, hrsp_2xx and hrsp_3xx equal the requests and the
    final statuses of all concurrent cells (a status counts once its head went out, whatever
    happens to the body); FRONTEND and BACKEND scur back to 0 at the end;
  - samples: their log line's status, %B and termination state (---- / SD / sD / CD) and their
    backend's counter deltas (hrsp_2xx or hrsp_3xx +1, srv_abrt +1 for close_mid and stall,
    cli_abrt +1 for the client reset, bout = bytes received for the complete ones);
  - edgeshard only: the shards' splice_switches grow with splice on, stay 0 with nosplice.
"""
import concurrent.futures
import errno
import fcntl
import hashlib
import os
import re
import socket
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import MiB, Failure, check, log  # noqa: E402

KiB = 1024
L = eslib.LOCALHOST
SIZES = (0, 1, 16 * KiB, 64 * KiB, MiB)
SUBSET_SIZES = (64 * KiB, MiB)
HUGE = 64 * MiB
WORKERS = 12
STALL_SECS = 2.5
STALL_CUT_MAX = 2.3          # the stalled cell must be cut before the server's own close (2.5 s)
STALL_CUT_MIN = 0.7          # ... and not before `timeout server 1s`
RESET_AFTER = 16 * KiB       # a resetting client reads this much body first
SLOW_READ = 4096
SLOW_PAUSE = 0.002
CHUNK_SIZES = (1, 7, 100, 4096, 16384, 65536, 3000)
BODYLESS = ("head", "204", "304")

# 100 bytes after a complete message that look like a complete second response: a proxy that
# forwarded them, or took them as the answer to the next request, shows them to the client
_JUNK_HEAD = b"HTTP/1.1 200 OK\r\nX-Cell: smuggled\r\nContent-Length: %d\r\n\r\n"
JUNK = _JUNK_HEAD % (100 - len(_JUNK_HEAD % 10)) + b"S" * (100 - len(_JUNK_HEAD % 10))
assert len(JUNK) == 100

# ---------------------------------------------------------------------------------------------
# Deterministic bodies: a pseudo-random block of prime period; any slice of up to 1 MiB at any
# offset is a memoryview of _WIDE (no copy)
# ---------------------------------------------------------------------------------------------
_P = 65521
_BLOCK = b"".join(hashlib.sha256(b"framing-%d" % i).digest() for i in range(_P // 32 + 1))[:_P]
_WIDE = memoryview(_BLOCK * (MiB // _P + 2))
_sha_cache = {}
_sha_lock = threading.Lock()
_chunked_cache = {}


def pat(off, n):
    """Bytes [off, off+n) of the body pattern (n <= 1 MiB), as a memoryview."""
    assert n <= MiB
    o = off % _P
    return _WIDE[o:o + n]


def pattern_sha(n):
    """sha256 hex of the first n bytes of the pattern (cached)."""
    with _sha_lock:
        if n in _sha_cache:
            return _sha_cache[n]
    h = hashlib.sha256()
    off = 0
    for _ in range(n // MiB + 2):
        if off >= n:
            break
        k = min(MiB, n - off)
        h.update(pat(off, k))
        off += k
    with _sha_lock:
        _sha_cache[n] = h.hexdigest()
    return _sha_cache[n]


def chunked_wire(size, trailers):
    """(wire bytes, marks) of a chunked body of `size` pattern bytes in chunks cycling through
    CHUNK_SIZES; marks are (body offset, wire offset) of each chunk's data (cached)."""
    key = (size, trailers)
    got = _chunked_cache.get(key)
    if got:
        return got
    out = bytearray()
    marks = []
    pos = 0
    for k in range(size + 1):
        if pos >= size:
            break
        n = min(CHUNK_SIZES[k % len(CHUNK_SIZES)], size - pos)
        out += b"%x\r\n" % n
        marks.append((pos, len(out)))
        out += pat(pos, n)
        out += b"\r\n"
        pos += n
    out += b"0\r\n"
    if trailers:
        out += b"X-Trailer: yes\r\nX-Body-Sha256: %s\r\n" % pattern_sha(size).encode()
    out += b"\r\n"
    got = (bytes(out), marks)
    _chunked_cache[key] = got
    return got


def wire_offset(marks, body_off):
    """Wire offset of body byte `body_off` in a chunked_wire()."""
    for bp, wp in reversed(marks):
        if bp <= body_off:
            return wp + (body_off - bp)
    return 0


# ---------------------------------------------------------------------------------------------
# The origin
# ---------------------------------------------------------------------------------------------

class Origin:
    """Raw-socket threaded origin (eslib.ThreadedServer): reads a request head, answers per path
    /<behaviour>/<framing>/<size>/<id>, keeps the connection for the next request when the
    behaviour allows. `outcomes[id]` says what it did ('sent N', 'send failed: ...')."""

    def __init__(self, h):
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.outcomes = {}
        self.srv = h.threaded_server(self._handle, name="framing-origin", conn_timeout=30, backlog=1024)
        self.port = self.srv.port

    def wait_outcomes(self, ids, timeout=2.0):
        """Waits (bounded) until the origin recorded an outcome for each of `ids`: a client may
        have read the last byte before the origin's send returned."""
        def done():
            with self.lock:
                return all(i in self.outcomes for i in ids)
        try:
            eslib.poll_until(done, timeout, interval=0.01, what="the origin's outcomes")
        except Failure:
            pass  # judge() names the cells without one

    def errors(self):
        with self.srv.lock:
            return list(self.srv.errors)

    def stop(self):
        self.stop_ev.set()
        self.srv.stop()

    def _handle(self, conn, idx, srv):
        buf = bytearray()
        for _ in range(10000):  # requests on this connection
            dl = eslib.Deadline(30)
            for _ in range(10000):
                if b"\r\n\r\n" in buf:
                    break
                if dl.expired() or len(buf) > 65536 or self.stop_ev.is_set():
                    return
                conn.settimeout(max(0.05, min(1.0, dl.left())))
                try:
                    d = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not d:
                    return
                buf += d
            head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            buf = bytearray(rest)
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            if len(parts) != 3:
                raise Failure(f"origin: bad request line {line!r}")
            if not self._serve(conn, parts[0], parts[1]):
                return

    def _record(self, cid, what):
        with self.lock:
            self.outcomes[cid] = what

    def _linger_close(self, conn):
        """Closes without turning unread bytes into a reset: SHUT_WR, read until EOF (2 s max)."""
        try:
            conn.shutdown(socket.SHUT_WR)
            dl = eslib.Deadline(2.0)
            for _ in range(1000):
                if dl.expired():
                    break
                conn.settimeout(max(0.05, dl.left()))
                if not conn.recv(65536):
                    break
        except OSError:
            pass
        conn.close()

    def _serve(self, conn, method, target):
        p = target.split("/")
        if len(p) != 5:
            raise Failure(f"origin: unexpected target {target!r}")
        beh, framing, size, cid = p[1], p[2], int(p[3]), p[4]
        half = size // 2
        cut = beh in ("close_mid", "reset_mid", "stall")
        common = b"X-Cell: %s\r\nContent-Type: application/octet-stream\r\n" % cid.encode()
        chunked = None
        body = 0  # pattern bytes to send (cl, 1xx, close)
        conn.settimeout(10)  # a send blocked this long (the proxy stopped reading) fails
        try:
            interim = b""
            if framing in ("1xx", "1xxb"):
                interim = (b"HTTP/1.1 100 Continue\r\n\r\n"
                           b"HTTP/1.1 103 Early Hints\r\nLink: </f.css>; rel=preload\r\n\r\n")
            if framing == "1xx":
                # the final response 20 ms after the interim ones, as an early-hints server sends
                # it; right behind them is the 1xxb framing
                conn.sendall(interim)
                interim = b""
                self.stop_ev.wait(0.02)
            if framing in ("cl", "1xx", "1xxb"):
                head = interim + b"HTTP/1.1 200 OK\r\n" + common + b"Content-Length: %d\r\n\r\n" % size
                body = half if cut else size
            elif framing in ("chunked", "trailers"):
                head = b"HTTP/1.1 200 OK\r\n" + common + b"Transfer-Encoding: chunked\r\n\r\n"
                wire, marks = chunked_wire(size, framing == "trailers")
                chunked = memoryview(wire)[:wire_offset(marks, half)] if cut else memoryview(wire)
            elif framing == "close":
                head = b"HTTP/1.1 200 OK\r\n" + common + b"Connection: close\r\n\r\n"
                body = half if cut else size
            elif framing == "head":
                head = b"HTTP/1.1 200 OK\r\n" + common + b"Content-Length: %d\r\n\r\n" % size
            elif framing == "204":
                head = b"HTTP/1.1 204 No Content\r\n" + common + b"\r\n"
            elif framing == "304":
                head = b"HTTP/1.1 304 Not Modified\r\n" + common + b"ETag: \"e\"\r\nContent-Length: %d\r\n\r\n" % size
            else:
                raise Failure(f"origin: unknown framing {framing!r}")
            if framing == "head" and method != "HEAD":
                raise Failure(f"origin: {method} for a head cell")
            # the head leaves with the first 16 KiB of the body, in one segment. An overflow
            # server's extra bytes leave in the same write as the end of its message: bytes a
            # server writes later, after the proxy has read the end of the message and pooled
            # the connection, cannot be told from an answer to the next request sent on it (by
            # any proxy: a pooled-connection race), so the cell asserts the detectable case.
            extra = JUNK if beh == "overflow" else b""
            sent = min(body, 16 * KiB)
            first = head + bytes(pat(0, sent))
            if chunked is None and sent >= body:
                self._record(cid, f"sent {sent}")
                conn.sendall(first + extra)  # the whole message in one write
            else:
                conn.sendall(first)
                for _ in range(body // MiB + 2):
                    if sent >= body:
                        break
                    k = min(MiB, body - sent)
                    piece = bytes(pat(sent, k))
                    sent += k
                    if sent >= body and chunked is None:
                        self._record(cid, f"sent {sent}")
                        piece += extra  # a proxy that has it all may close at once: a failed send is fine
                    conn.sendall(piece)
                if chunked is not None:
                    for off in range(0, len(chunked), MiB):
                        piece = bytes(chunked[off:off + MiB])
                        if off + MiB >= len(chunked):
                            self._record(cid, f"sent {len(chunked)}")
                            piece += extra
                        conn.sendall(piece)
        except OSError as e:
            if beh == "overflow" and cid in self.outcomes:
                conn.close()
                return False
            self._record(cid, f"send failed: {e!r}")
            conn.close()
            return False
        if beh == "reset_mid":
            # every byte sent is acknowledged by the proxy's kernel, then a reset: what the proxy
            # may read is exactly the half (the reset discards nothing still in our send queue)
            dl = eslib.Deadline(2.0)
            for _ in range(1000):
                outq = struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
                if outq == 0 or dl.expired():
                    break
                time.sleep(0.005)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return False
        if beh == "stall":
            self.stop_ev.wait(STALL_SECS)
            self._linger_close(conn)
            return False
        if beh in ("close_after", "close_mid") or framing == "close":
            self._linger_close(conn)
            return False
        return True  # normal, overflow: keep the connection


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------

class Res:
    """What a client saw of one response."""

    def __init__(self):
        self.status = 0
        self.interim = []
        self.headers = []
        self.framing = ""      # as received: cl | chunked | close | none
        self.body_len = 0
        self.sha = ""
        self.complete = False  # length satisfied / last chunk and trailer end / EOF (not reset)
        self.closed = ""       # '' (open), 'eof', 'reset'
        self.error = ""
        self.wire = 0          # bytes of this response on the wire (interim heads included)
        self.trailers = []
        self.extra = b""       # bytes received after the message
        self.t_close = None    # seconds from the request to the close, when it closed
        self.followup = ""     # '' not done, 'ok', or what was wrong

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return None

    def brief(self):
        return (f"status={self.status} interim={self.interim} framing={self.framing} body={self.body_len} "
                f"complete={self.complete} closed={self.closed or 'no'} error={self.error!r} "
                f"x-cell={self.header('x-cell')!r} extra={self.extra[:40]!r}"
                + (f" t_close={self.t_close:.2f}s" if self.t_close is not None else "")
                + (f" followup={self.followup}" if self.followup else ""))


class ClientTimeout(Exception):
    pass


class Client:
    """One raw client connection; reads fast or slowly (small SO_RCVBUF, paced reads)."""

    def __init__(self, port, slow=False, timeout=10.0):
        self.slow = slow
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if slow:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(5)
        self.sock.connect((L, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.closed = ""
        self.t0 = time.monotonic()
        self.t_close = None
        self.dl = eslib.Deadline(timeout)

    def avail(self):
        return len(self.buf) - self.pos

    def fill(self, dl=None):
        """Receives more; False once the connection is closed (EOF or reset). ClientTimeout."""
        dl = dl or self.dl
        if self.closed:
            return False
        if self.pos and self.pos == len(self.buf):
            del self.buf[:]
            self.pos = 0
        elif self.pos > MiB:
            del self.buf[:self.pos]
            self.pos = 0
        if self.slow:
            time.sleep(SLOW_PAUSE)
        for _ in range(100000):
            if dl.expired():
                raise ClientTimeout()
            self.sock.settimeout(max(0.01, dl.left()))
            try:
                d = self.sock.recv(SLOW_READ if self.slow else 1 << 18)
            except socket.timeout:
                continue
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
                    self.closed = "reset"
                    self.t_close = time.monotonic() - self.t0
                    return False
                raise
            if not d:
                self.closed = "eof"
                self.t_close = time.monotonic() - self.t0
                return False
            self.buf += d
            return True
        raise ClientTimeout()

    def line(self):
        """The next CRLF-terminated line, or None if the connection closes first."""
        for _ in range(100000):
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                ln = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return ln
            if self.avail() > 65536:
                raise ValueError("line longer than 64 KiB")
            if not self.fill():
                return None
        return None

    def head(self):
        """(raw head without CRLFCRLF) or None if the connection closes first."""
        for _ in range(100000):
            i = self.buf.find(b"\r\n\r\n", self.pos)
            if i >= 0:
                raw = bytes(self.buf[self.pos:i])
                self.pos = i + 4
                return raw
            if self.avail() > 65536:
                raise ValueError("no end of head within 64 KiB")
            if not self.fill():
                return None
        return None

    def read_response(self, method, reset_after=None):
        """Reads one response into a Res; never raises for what the peer does (the Res says)."""
        r = Res()
        h = hashlib.sha256()
        try:
            self._read(r, h, method, reset_after)
        except ClientTimeout:
            r.error = f"timeout ({r.body_len} body bytes read)"
        except ValueError as e:
            r.error = f"protocol: {e}"
        r.sha = h.hexdigest()
        r.closed = self.closed
        r.t_close = self.t_close
        return r

    def _read(self, r, h, method, reset_after):
        for _ in range(10):
            raw = self.head()
            if raw is None:
                r.error = f"connection {self.closed} before a complete head ({self.avail()} bytes)"
                return
            r.wire += len(raw) + 4
            lines = raw.split(b"\r\n")
            sl = lines[0].decode("latin-1").split(" ", 2)
            if len(sl) < 2 or not sl[0].startswith("HTTP/1.") or not sl[1].isdigit():
                raise ValueError(f"bad status line {lines[0][:100]!r}")
            st = int(sl[1])
            hdrs = []
            for ln in lines[1:]:
                n, sep, v = ln.partition(b":")
                if not sep:
                    raise ValueError(f"bad header line {ln[:100]!r}")
                hdrs.append((n.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
            if 100 <= st < 200:
                r.interim.append(st)
                continue
            r.status, r.headers = st, hdrs
            break
        else:
            raise ValueError("more than 9 interim responses")
        te = ",".join(v for n, v in r.headers if n.lower() == "transfer-encoding").lower()
        cl = [v for n, v in r.headers if n.lower() == "content-length"]
        if method == "HEAD" or r.status in (204, 304):
            r.framing = "none"
            r.complete = True
        elif "chunked" in te:
            r.framing = "chunked"
            self._chunked(r, h, reset_after)
        elif cl:
            r.framing = "cl"
            if len(set(cl)) != 1:
                raise ValueError(f"conflicting Content-Length {cl}")
            self._counted(r, h, int(cl[0]), reset_after)
        else:
            r.framing = "close"
            self._counted(r, h, None, reset_after)
        if r.complete:
            r.extra = bytes(self.buf[self.pos:])

    def _take(self, r, h, n):
        part = self.buf[self.pos:self.pos + n]
        h.update(part)
        self.pos += n
        r.body_len += n
        r.wire += n

    def _counted(self, r, h, want, reset_after):
        for _ in range(10000000):
            k = self.avail() if want is None else min(self.avail(), want - r.body_len)
            if k:
                self._take(r, h, k)
            if want is not None and r.body_len >= want:
                r.complete = True
                return
            if reset_after is not None and r.body_len >= reset_after:
                return
            if not self.fill():
                r.complete = want is None and self.closed == "eof"
                return

    def _chunked(self, r, h, reset_after):
        for _ in range(10000000):
            ln = self.line()
            if ln is None:
                return
            r.wire += len(ln) + 2
            try:
                size = int(ln.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError(f"bad chunk size line {ln[:100]!r}")
            if size == 0:
                for _ in range(100):
                    t = self.line()
                    if t is None:
                        return
                    r.wire += len(t) + 2
                    if not t:
                        r.complete = True
                        return
                    n, _, v = t.decode("latin-1").partition(":")
                    r.trailers.append((n.strip(), v.strip()))
                raise ValueError("more than 99 trailer lines")
            for _ in range(10000000):
                k = min(self.avail(), size)
                if k:
                    self._take(r, h, k)
                    size -= k
                if size == 0:
                    break
                if reset_after is not None and r.body_len >= reset_after:
                    return
                if not self.fill():
                    return
            for _ in range(3):
                if self.avail() >= 2 or not self.fill():
                    break
            if self.avail() < 2:
                return
            if self.buf[self.pos:self.pos + 2] != b"\r\n":
                raise ValueError("chunk data not followed by CRLF")
            self.pos += 2
            r.wire += 2
            if reset_after is not None and r.body_len >= reset_after:
                return

    def wait_close(self, seconds):
        """Waits up to `seconds` for the peer to close; returns the bytes that arrived meanwhile."""
        extra = bytes(self.buf[self.pos:])
        self.pos = len(self.buf)
        dl = eslib.Deadline(seconds)
        try:
            for _ in range(100000):
                if not self.fill(dl):
                    break
                extra += bytes(self.buf[self.pos:])
                self.pos = len(self.buf)
        except ClientTimeout:
            pass
        return extra

    def reset(self):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def request(method, path):
    return f"{method} {path} HTTP/1.1\r\nHost: framing.test\r\nUser-Agent: framing-matrix\r\n\r\n".encode()


# ---------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------

class Cell:
    def __init__(self, cid, framing, size, sbeh="normal", cbeh="fast", sample=False):
        self.id = cid
        self.framing = framing
        self.size = size
        self.sbeh = sbeh
        self.cbeh = cbeh
        self.sample = sample
        self.method = "HEAD" if framing == "head" else "GET"
        self.path = f"/{sbeh}/{framing}/{size}/{cid}"
        self.status = {"204": 204, "304": 304}.get(framing, 200)
        self.full = 0 if framing in BODYLESS else size
        self.half = size // 2
        self.followup_path = f"/normal/cl/1/{cid}-2"
        self.res = None
        self.secs = 0.0
        self.requests = []  # (method, path, Res) sent on this cell's connection

    def desc(self):
        return f"{self.id} [{self.framing} {self.size}B server={self.sbeh} client={self.cbeh}]"

    def clean(self):
        """The server sends a complete message and the client reads it all."""
        return self.sbeh in ("normal", "close_after", "overflow") and self.cbeh in ("fast", "slow", "halfclose")

    def truncating(self):
        return self.sbeh in ("close_mid", "reset_mid", "stall")

    def timeout(self):
        if self.size >= 32 * MiB:
            return 40.0
        return 12.0


def build_cells(tag):
    cells = []
    n = [0]

    def add(*a, **kw):
        n[0] += 1
        c = Cell(f"{tag}{n[0]:03d}", *a, **kw)
        cells.append(c)
        return c
    # long cells first so the pool finishes early
    for fr in ("cl", "close"):
        add(fr, HUGE)
    for fr in ("cl", "chunked", "close"):
        for sz in SUBSET_SIZES:
            add(fr, sz, sbeh="stall")
    for fr in ("cl", "chunked", "close"):
        for sz in SUBSET_SIZES:
            for cb in ("slow", "halfclose", "reset"):
                add(fr, sz, cbeh=cb)
    for fr in ("cl", "chunked", "trailers", "close", "head", "304", "1xx"):
        for sz in SIZES:
            add(fr, sz)
    add("204", 0)
    if eslib.edgeshard_only("1xxb cells (interim responses, final head and body in one segment)"):
        # HAProxy 2.6.12 stalls the body of a final response that arrives right behind 1xx
        # responses (about one cell in three, then `timeout server` ends it: a peer bug, not a
        # framing rule), so the peer runs only the 1xx framing, which leaves 20 ms between them
        for sz in SIZES:
            add("1xxb", sz)
    for sz in SUBSET_SIZES:
        for fr in ("cl", "chunked"):
            add(fr, sz, sbeh="close_after")
            add(fr, sz, sbeh="overflow")
        for fr in ("cl", "chunked", "close"):
            add(fr, sz, sbeh="close_mid")
            add(fr, sz, sbeh="reset_mid")
    return cells


def sample_cells(tag):
    return [Cell(f"{tag}s1", "cl", 64 * KiB, sample=True),
            Cell(f"{tag}s2", "trailers", 16 * KiB, sample=True),
            Cell(f"{tag}s3", "close", 64 * KiB, sample=True),
            Cell(f"{tag}s4", "304", 16 * KiB, sample=True),
            Cell(f"{tag}s5", "cl", 64 * KiB, sbeh="overflow", sample=True),
            Cell(f"{tag}s6", "cl", MiB, sbeh="close_mid", sample=True),
            Cell(f"{tag}s7", "cl", MiB, sbeh="stall", sample=True),
            Cell(f"{tag}s8", "cl", 32 * MiB, cbeh="reset", sample=True)]


def run_cell(port, cell):
    """Runs one cell's client side; stores cell.res (and cell.requests)."""
    c = None
    t0 = time.monotonic()
    try:
        c = Client(port, slow=cell.cbeh == "slow", timeout=cell.timeout())
        c.sock.sendall(request(cell.method, cell.path))
        if cell.cbeh == "halfclose":
            c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response(cell.method, RESET_AFTER if cell.cbeh == "reset" else None)
        cell.res = r
        cell.requests.append((cell.method, cell.path, r))
        if cell.cbeh == "reset":
            c.reset()
            return
        if r.error or not r.complete:
            # a truncated message: the connection must end (bounded wait)
            if not c.closed:
                r.extra += c.wait_close(3.0)
                r.closed, r.t_close = c.closed, c.t_close
            return
        if cell.sbeh == "overflow":
            r.extra += c.wait_close(0.3)  # the extra bytes must not come
            r.closed, r.t_close = c.closed, c.t_close
        if cell.cbeh == "halfclose" and not c.closed:
            r.extra += c.wait_close(3.0)
            r.closed, r.t_close = c.closed, c.t_close
            return
        if c.closed or cell.sample:
            return
        # the connection is kept: it must serve the next request correctly
        try:
            c.sock.sendall(request("GET", cell.followup_path))
        except OSError as e:
            r.followup = f"sending the follow-up request failed: {e!r}"
            return
        f = c.read_response("GET")
        cell.requests.append(("GET", cell.followup_path, f))
        want = (200, f"{cell.id}-2", 1, pattern_sha(1), True)
        got = (f.status, f.header("x-cell"), f.body_len, f.sha, f.complete)
        if got != want or f.error or f.extra:
            r.followup = f"follow-up {cell.followup_path}: {f.brief()}"
        else:
            r.followup = "ok"
    except Exception as e:  # noqa: BLE001 - reported as the cell's problem
        r = cell.res or Res()
        r.error = r.error or f"client: {e!r}"
        cell.res = r
    finally:
        if c is not None:
            c.close()
        cell.secs = time.monotonic() - t0


def judge(cell, outcomes):
    """Problems (strings) with what the client saw in `cell` (`outcomes`: the origin's)."""
    r = cell.res
    bad = []
    if r is None:
        return ["no result"]
    o = outcomes.get(cell.id)
    if cell.cbeh != "reset" and not (o or "").startswith("sent"):
        # the cell did not run as designed (the origin never got the request or could not send)
        bad.append(f"origin: {o or 'no request'}")
    if r.status == 0:
        return bad + [f"no final response: {r.brief()}"]
    if r.status != cell.status:
        bad.append(f"status {r.status}, expected {cell.status}")
    if r.header("x-cell") != cell.id:
        bad.append(f"X-Cell {r.header('x-cell')!r}: not this cell's response")
    if cell.framing in ("1xx", "1xxb") and r.interim != [100, 103]:
        bad.append(f"interim responses {r.interim}, expected [100, 103]")
    if cell.framing not in ("1xx", "1xxb") and r.interim:
        bad.append(f"unexpected interim responses {r.interim}")
    if cell.cbeh == "reset":
        if r.sha != pattern_sha(r.body_len):
            bad.append(f"the {r.body_len} body bytes before the client reset are not the body's prefix")
        if r.body_len < min(RESET_AFTER, cell.full) and not r.error:
            bad.append(f"only {r.body_len} body bytes before the reset")
        if r.error:
            bad.append(r.error)
        return bad
    if cell.clean():
        if r.error:
            bad.append(r.error)
        if (r.body_len, r.sha) != (cell.full, pattern_sha(cell.full)):
            bad.append(f"body {r.body_len} bytes (sha {r.sha[:12]}), expected {cell.full} "
                       f"(sha {pattern_sha(cell.full)[:12]})")
        if not r.complete:
            bad.append("message not complete")
        if cell.framing in BODYLESS and r.framing != "none":
            bad.append(f"framing {r.framing} for a bodiless response")
        if (cell.framing == "trailers" and r.framing == "chunked"
                and ("x-trailer", "yes") not in [(n.lower(), v) for n, v in r.trailers]):
            bad.append(f"trailers not forwarded: {r.trailers}")
        if r.extra:
            bad.append(f"{len(r.extra)} stray bytes after the message: {r.extra[:60]!r}")
        if r.framing == "close" and r.closed != "eof":
            bad.append(f"close-delimited body ended by {r.closed or 'nothing'}")
        if cell.cbeh == "halfclose":
            if r.closed != "eof":
                bad.append(f"half-closed client: the connection after the response: {r.closed or 'still open'}")
        elif not cell.sample:
            if r.framing != "close" and cell.sbeh == "normal" and r.closed:
                bad.append(f"a delimited response on a keep-alive connection, yet the proxy closed it ({r.closed})")
            if not r.closed and r.followup != "ok":
                bad.append(r.followup or "no follow-up")
        return bad
    # truncating servers
    if cell.framing == "close":
        if cell.sbeh == "reset_mid":
            if r.body_len > cell.half or r.sha != pattern_sha(r.body_len):
                bad.append(f"{r.body_len} body bytes: not a prefix of the {cell.half} the server sent")
        elif (r.body_len, r.sha) != (cell.half, pattern_sha(cell.half)):
            bad.append(f"body {r.body_len} bytes, expected exactly the {cell.half} the server sent "
                       f"(sha match: {r.sha == pattern_sha(r.body_len)})")
        if not r.closed and not r.complete:
            bad.append("the response neither completed nor was the connection closed")
        if cell.sbeh == "close_mid" and not r.complete:
            bad.append(f"a close-delimited body ended by the server's close must be complete ({r.closed})")
    else:
        if r.complete:
            bad.append(f"a truncated {cell.framing} message looks complete to the client")
        if r.body_len > cell.half or r.sha != pattern_sha(r.body_len):
            bad.append(f"{r.body_len} body bytes: not a prefix of the {cell.half} the server sent")
        if not r.closed:
            bad.append(f"connection not closed after a truncated body ({r.error or 'open'})")
    if cell.sbeh == "stall" and r.closed:
        if not (STALL_CUT_MIN <= (r.t_close or 0) <= STALL_CUT_MAX):
            bad.append(f"stalled body cut after {r.t_close:.2f}s, expected by timeout server 1s "
                       f"(within [{STALL_CUT_MIN}, {STALL_CUT_MAX}] s)")
    if r.error and r.closed:
        bad.append(r.error)
    return bad


# ---------------------------------------------------------------------------------------------
# Access log and counters
# ---------------------------------------------------------------------------------------------

HTTPLOG = re.compile(r'^(?P<ip>[0-9.]+):(?P<port>\d+) \[(?P<date>[^\]]+)\] (?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) '
                     r'(?P<timers>\S+) (?P<status>-?\d+) (?P<bytes>\+?\d+) (?P<cc>\S+) (?P<cs>\S+) (?P<ts>\S+) '
                     r'.* "(?P<req>[^"]*)"$')


def log_lines(proc):
    """{request line: [match, ...]} of the httplog lines on the proxy's stdout."""
    out = {}
    for line in proc.stdout_text().splitlines():
        m = HTTPLOG.match(line)
        if m:
            out.setdefault(m["req"], []).append(m)
    return out


def bytes_ok(logged, wire):
    """%B against the bytes the client received: exact on edgeshard; HAProxy counts its internal
    representation of the message, a few bytes off the wire (as in http_access_log)."""
    if eslib.on_edgeshard():
        return logged == wire
    return abs(logged - wire) <= max(16, wire // 5)


def wait_log(proc, reqlines, timeout=2.0):
    def probe():
        got = log_lines(proc)
        return got if all(k in got for k in reqlines) else None
    try:
        return eslib.poll_until(probe, timeout, interval=0.05, what="access log lines")
    except Failure:
        return log_lines(proc)


def rows(proc):
    m = proc.stats()
    return {k: m.get(k, {}) for k in (("fe", "FRONTEND"), ("be", "BACKEND"), ("be_stall", "BACKEND"))}


def counter(rws, key, field):
    return eslib.num(rws.get(key, {}).get(field))


def splice_switches(proc):
    return sum(eslib.num(s.get("splice_switches")) for s in proc.shards())


# ---------------------------------------------------------------------------------------------
# One configuration
# ---------------------------------------------------------------------------------------------

def config_text(sock, fe, origin_port, nbthread, splice):
    extra = "tune.es.splice-after 16384" if splice else "nosplice"
    return (eslib.http_global(sock, nbthread=nbthread, extra=extra)
            + eslib.http_defaults(connect="1s", client="5s", server="5s")
            + eslib.section("frontend fe", f"""
                bind {L}:{fe}
                log stdout format raw local0
                option httplog
                acl is_stall path_beg /stall/
                use_backend be_stall if is_stall
                default_backend be""")
            + eslib.section("backend be", f"server s1 {L}:{origin_port}")
            + eslib.section("backend be_stall", f"timeout server 1s\nserver s1 {L}:{origin_port}"))


def run_config(h, origin, tag, nbthread, splice, problems):
    name = f"{'splice' if splice else 'nosplice'}-nbthread{nbthread}"
    fe = eslib.free_port()
    sock = h.sock_path(f"{tag}.sock")
    proc = eslib.start_proxy(h, config_text(sock, fe, origin.port, nbthread, splice), ports=[fe], sock=sock,
                             name=f"proxy-{tag}")
    t0 = time.monotonic()
    bad_here = []

    def fail(cell, what):
        bad_here.append(f"{name} {cell.desc() if cell else ''}: {what}")

    sw0 = splice_switches(proc) if eslib.on_edgeshard() else 0
    cells = build_cells(tag)
    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futs = [pool.submit(run_cell, fe, c) for c in cells]
        done, not_done = concurrent.futures.wait(futs, timeout=120)
    check(not not_done, f"{name}: {len(not_done)} cells did not finish within 120 s")
    origin.wait_outcomes([c.id for c in cells if c.cbeh != "reset"])
    for c in cells:
        for p in judge(c, origin.outcomes):
            fail(c, p)
    t_pool = time.monotonic() - t0
    slow = sorted(cells, key=lambda c: -c.secs)[:3]
    log(f"{name}: {len(cells)} concurrent cells in {t_pool:.1f}s; longest: "
        + ", ".join(f"{c.desc()} {c.secs:.2f}s" for c in slow))
    check(proc.running(), f"{name}: the proxy exited during the matrix")

    # ---- the access log: one line per request, with the status the client saw
    reqlines = {f"{m} {p} HTTP/1.1": (c, r) for c in cells for (m, p, r) in c.requests}
    got = wait_log(proc, reqlines)
    for rl, (c, r) in reqlines.items():
        ms = got.get(rl, [])
        if len(ms) != 1:
            fail(c, f"{len(ms)} access-log lines for {rl!r}")
            continue
        m = ms[0]
        if r.status and int(m["status"]) != r.status:
            fail(c, f"access log status {m['status']} for {rl!r}, the client saw {r.status}")
        if c.clean() and not r.error and r.complete and not bytes_ok(int(m["bytes"].lstrip("+")), r.wire):
            fail(c, f"access log %B {m['bytes']} for {rl!r}, the client received {r.wire} bytes")

    # ---- the frontend's request and status counters over all cells
    n_req = sum(len(c.requests) for c in cells)
    n_3xx = sum(1 for c in cells for (_, _, r) in c.requests if r.status == 304)
    n_2xx = n_req - n_3xx
    want = {"req_tot": n_req, "hrsp_2xx": n_2xx, "hrsp_3xx": n_3xx}
    try:
        proc.expect_counters("fe", "FRONTEND", want, timeout=2, what=f"{name}: after {len(cells)} cells")
    except Failure as e:
        fail(None, str(e))

    # ---- the sample cells, one at a time: their log line and counter deltas
    for c in sample_cells(tag):
        before = rows(proc)
        run_cell(fe, c)
        origin.wait_outcomes([c.id] if c.cbeh != "reset" else [])
        for p in judge(c, origin.outcomes):
            fail(c, p)
        r = c.res
        rl = f"{c.method} {c.path} HTTP/1.1"
        ms = wait_log(proc, [rl], timeout=1.5).get(rl, [])
        seen = "no log line"
        if len(ms) != 1:
            fail(c, f"{len(ms)} access-log lines for {rl!r}")
        else:
            m = ms[0]
            seen = f"{m['status']} {m['bytes']} {m['ts']}"
            term = {"close_mid": "SD", "stall": "sD"}.get(c.sbeh, "CD" if c.cbeh == "reset" else "--")
            if m["ts"][:2] != term:
                fail(c, f"termination state {m['ts']!r} in the log, expected {term}..")
            if int(m["status"]) != c.status:
                fail(c, f"access log status {m['status']}, expected {c.status}")
            logged = int(m["bytes"].lstrip("+"))
            if c.clean() and not bytes_ok(logged, r.wire):
                fail(c, f"access log %B {logged}, the client received {r.wire} bytes")
        be = ("be_stall" if c.sbeh == "stall" else "be", "BACKEND")
        dwant = {"hrsp_2xx": 0 if c.status == 304 else 1, "hrsp_3xx": 1 if c.status == 304 else 0,
                 "srv_abrt": 1 if c.truncating() else 0, "cli_abrt": 1 if c.cbeh == "reset" else 0}
        last = {}

        def deltas():
            after = rows(proc)
            last["d"] = {k: counter(after, be, k) - counter(before, be, k) for k in dwant}
            last["bout"] = counter(after, be, "bout") - counter(before, be, "bout")
            return last["d"] == dwant and (not c.clean() or bytes_ok(last["bout"], r.wire))
        try:
            eslib.poll_until(deltas, 1.5, interval=0.05, what="counters")
        except Failure:
            fail(c, f"{be[0]} counter deltas {last.get('d')} (expected {dwant}), bout +{last.get('bout')} "
                    f"(the client received {r.wire})")
        log(f"{name} sample {c.desc()}: {r.brief()}; log: {seen}")

    # ---- edgeshard's splice: bodies switch to splice with splice-after 16384, never with nosplice
    if eslib.edgeshard_only("shard splice counters (splice_switches)"):
        sw = splice_switches(proc) - sw0
        if splice and sw == 0:
            fail(None, "no body went by splice with tune.es.splice-after 16384")
        if not splice and sw != 0:
            fail(None, f"{sw} bodies spliced with nosplice")
        log(f"{name}: {sw} bodies switched to splice")

    # ---- nothing left: every client connection and every request is over
    try:
        eslib.poll_until(lambda: (counter(rows(proc), ("fe", "FRONTEND"), "scur") == 0
                                  and counter(rows(proc), ("be", "BACKEND"), "scur") == 0), 5,
                         interval=0.1, what="FRONTEND and BACKEND scur back to 0")
    except Failure as e:
        fail(None, str(e))
    check(proc.running(), f"{name}: the proxy exited")
    proc.stop()
    n_cells = len(cells) + len(sample_cells(tag))
    log(f"{name}: {n_cells} cells ({len(cells)} concurrent + {n_cells - len(cells)} sample), "
        f"{len(bad_here)} problems; matrix {t_pool:.1f}s, total {time.monotonic() - t0:.1f}s")
    for b in bad_here:
        log(f"  FAIL {b}")
    problems += bad_here
    return n_cells


def main(h):
    origin = Origin(h)
    t0 = time.monotonic()
    for i in (0, 1):  # warm the caches of the expected hashes and chunked bodies off the clock
        pattern_sha(HUGE if i else 32 * MiB)
    for sz in SIZES:
        pattern_sha(sz)
        pattern_sha(sz // 2)
        chunked_wire(sz, False)
        chunked_wire(sz, True)
    problems = []
    total = 0
    for tag, nbthread, splice in (("a", 1, True), ("b", 2, True), ("c", 1, False), ("d", 2, False)):
        total += run_config(h, origin, tag, nbthread, splice, problems)
    errs = origin.errors()
    origin.stop()
    check(not errs, f"origin errors: {errs[:5]}")
    log(f"{total} cells in {time.monotonic() - t0:.1f}s, {len(problems)} problems")
    if problems:
        raise Failure(f"{len(problems)} problems in the framing matrix:\n  " + "\n  ".join(problems[:60])
                      + ("\n  ..." if len(problems) > 60 else ""))


if __name__ == "__main__":
    eslib.run_http(main)
