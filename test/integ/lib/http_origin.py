"""A small threaded HTTP/1.1 test origin for the HTTP cases (pure Python: sockets and threads).

It records what reached it, so a case can assert what the proxy forwarded:
  - `accepts`: TCP connections accepted; `requests_per_conn()`: requests seen on each;
  - `requests()`: every request, in arrival order, as a dict:
        conn, seq (index on its connection), method, target, version,
        headers (list of (name, value), order and case as received), chunked (bool),
        body_len, body_sha256, body (bytes when <= KEEP_BODY, else None), trailers,
        sent_continue (it answered 100 Continue), complete (the body was read in full),
        error (what went wrong reading it, or None), t (time.monotonic() at arrival);
    a request is recorded as soon as its head is parsed, before its body is read;
  - `bytes_in`: every byte received on any connection (parsable or not).
Endpoints (query strings are ignored for routing; HEAD is answered like GET without a body):
  /                 small text body
  /bytes/N          N bytes (pattern_bytes), Content-Length
  /chunked/N/C      N bytes (pattern_bytes) in C-byte chunks
  /status/N         status N (no body for 1xx, 204, 304)
  /delay/MS         200 after MS milliseconds
  /echo             JSON {method, target, version, headers, body_len, body_sha256}
  /tcpinfo          JSON {data_segs_in, data_segs_out} of this connection (kernel TCP_INFO)
  /close            200 with Connection: close, then closes
  /ws               with Upgrade: websocket -> 101 Switching Protocols, then echoes raw bytes until
                    EOF (426 without the Upgrade header)
  anything else     200, body "path <target>\n"
Every response carries Server: es-test-origin, X-Origin: <name>, X-Conn: <connection index> and
X-Req: <sequence on the connection>. Request bodies (Content-Length or chunked, any method) are
always read and hashed; `Expect: 100-continue` gets an `HTTP/1.1 100 Continue` before the body is
read. Keep-alive and pipelining are supported; `idle_close` (seconds) closes a keep-alive
connection that stays idle that long. Bounded: daemon threads, socket timeouts, stop() closes all.
With `tls` (a server ssl.SSLContext) the origin speaks HTTPS: each accepted connection does its
handshake in its own thread; `tls_log` records (server name asked for, session reused, version,
ALPN) per connection, and `tls_errors` the handshakes that failed.
"""

import base64
import hashlib
import json
import socket
import ssl
import struct
import threading
import time

import eslib

KEEP_BODY = 1 << 20
MAX_HEAD = 64 * 1024
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Response bodies are a fixed pseudo-random byte stream with a prime period, so a shifted, lost
# or duplicated chunk changes the hash.
_PERIOD = 65521
_BLOCK = b"".join(hashlib.sha256(b"es-origin-%d" % i).digest() for i in range(_PERIOD // 32 + 1))[:_PERIOD]
_BLOCK2 = _BLOCK + _BLOCK
_sha_cache = {}


def tcp_data_segs(tcp_info):
    """(data_segs_in, data_segs_out) from a TCP_INFO getsockopt result (Linux >= 4.6 layout)."""
    return struct.unpack_from("II", tcp_info, 152)


def pattern_slice(offset, n):
    """Bytes [offset, offset+n) of the pattern stream; n <= _PERIOD."""
    o = offset % _PERIOD
    return _BLOCK2[o:o + n]


def pattern_bytes(n):
    reps = n // _PERIOD + 1
    return (_BLOCK * reps)[:n]


def pattern_sha256(n):
    """sha256 hex of pattern_bytes(n), computed in slices (cached)."""
    if n not in _sha_cache:
        h = hashlib.sha256()
        off = 0
        while off < n:
            k = min(_PERIOD, n - off)
            h.update(pattern_slice(off, k))
            off += k
        _sha_cache[n] = h.hexdigest()
    return _sha_cache[n]


class _BadRequest(Exception):
    pass


class _Closed(Exception):
    pass


class _Conn:
    """Buffered reader over one accepted socket."""

    def __init__(self, sock, origin):
        self.sock = sock
        self.origin = origin
        self.buf = bytearray()

    def fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 18)
        except socket.timeout:
            raise
        except OSError:
            raise _Closed()
        if not data:
            raise _Closed()
        with self.origin.lock:
            self.origin.bytes_in += len(data)
        self.buf += data

    def read_head(self, timeout):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise _BadRequest("head larger than 64 KiB")
            self.fill(timeout)

    def readline(self, timeout, limit=8192):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > limit:
                raise _BadRequest("line too long")
            self.fill(timeout)

    def read_into(self, n, hsh, kept, timeout):
        """Consumes exactly n bytes, hashing (and keeping up to KEEP_BODY of) them."""
        got = 0
        while got < n:
            if not self.buf:
                self.fill(timeout)
            take = min(len(self.buf), n - got)
            part = self.buf[:take]
            hsh.update(part)
            if len(kept) + take <= KEEP_BODY:  # beyond the limit only the hash is kept
                kept += part
            del self.buf[:take]
            got += take
        return got


class Origin:
    def __init__(self, port=None, name="origin", idle_close=None, conn_timeout=30.0, backlog=512, tls=None):
        self.name = name
        self.tls = tls
        if tls is not None:
            # the server name each connection asked for, kept on its socket
            tls.sni_callback = lambda sock, name, ctx: setattr(sock, "es_sni", name)
        self.tls_log = []
        self.tls_errors = []
        self.port = port or eslib.free_port()
        self.idle_close = idle_close
        self.conn_timeout = conn_timeout
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((eslib.LOCALHOST, self.port))
        self.lsock.listen(backlog)
        self.lsock.settimeout(0.2)
        self.lock = threading.Lock()
        self.failed_keys = set()  # /fail-once keys already failed
        self.stop_event = threading.Event()
        self.accepts = 0
        self.bytes_in = 0
        self.idle_closes = 0
        self.active = 0
        self.peak_active = 0
        self.errors = []
        self._requests = []
        self._per_conn = {}
        self._conns = []
        self._threads = []
        self.thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)
        self.thread.start()

    # ---- what the tests read

    def requests(self):
        with self.lock:
            return list(self._requests)

    def request_count(self):
        with self.lock:
            return len(self._requests)

    def requests_per_conn(self):
        with self.lock:
            return dict(self._per_conn)

    def clear(self):
        """Forgets the request log and resets the counters (connections stay open)."""
        with self.lock:
            self._requests.clear()
            self._per_conn = {k: 0 for k in self._per_conn}
            self.bytes_in = 0

    def wait_requests(self, n, timeout=5.0):
        eslib.poll_until(lambda: self.request_count() >= n, timeout,
                         what=f"{self.name} to have received {n} requests (has {self.request_count()})")
        return self.requests()

    def untouched(self):
        """Text describing anything that reached this origin, or '' when nothing did."""
        with self.lock:
            if not self._requests and not self.bytes_in:
                return ""
            reqs = [f"{r['method']} {r['target']} {r['version']} headers={r['headers']}"
                    for r in self._requests[:5]]
            return (f"{self.name} accepted {self.accepts} connection(s), received {self.bytes_in} "
                    f"bytes and {len(self._requests)} request(s): {reqs}")

    # ---- server side

    def _accept_loop(self):
        while not self.stop_event.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                idx = self.accepts
                self.accepts += 1
                self._per_conn[idx] = 0
                self._conns.append(c)
                self.active += 1
                self.peak_active = max(self.peak_active, self.active)
                t = threading.Thread(target=self._run, args=(c, idx), name=f"{self.name}-{idx}",
                                     daemon=True)
                self._threads.append(t)
            t.start()

    def _run(self, c, idx):
        try:
            if self.tls is not None:
                c.settimeout(10)
                try:
                    c = self.tls.wrap_socket(c, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with self.lock:
                        self.tls_errors.append(repr(e))
                    raise _Closed()
                with self.lock:
                    self.tls_log.append({"conn": idx, "sni": getattr(c, "es_sni", None),
                                         "reused": c.session_reused, "version": c.version(),
                                         "alpn": c.selected_alpn_protocol()})
            self._serve(_Conn(c, self), idx)
        except (_Closed, socket.timeout, ConnectionError, BrokenPipeError):
            pass
        except Exception as e:  # noqa: BLE001 - recorded; a case may check `errors`
            if not self.stop_event.is_set():
                with self.lock:
                    self.errors.append(f"conn {idx}: {e!r}")
        finally:
            with self.lock:
                self.active -= 1
            try:
                c.close()
            except OSError:
                pass

    def _serve(self, conn, idx):
        seq = 0
        while not self.stop_event.is_set():
            # wait for the first byte of the next request (the keep-alive idle time)
            if not conn.buf:
                idle = self.idle_close if (self.idle_close and seq) else self.conn_timeout
                try:
                    conn.fill(idle)
                except socket.timeout:
                    if self.idle_close and seq:
                        with self.lock:
                            self.idle_closes += 1
                    return
            try:
                head = conn.read_head(self.conn_timeout)
                req = self._parse_head(head, idx, seq)
            except _BadRequest as e:
                self._send(conn.sock, 400, [("Connection", "close")], b"bad request: %s\n" % str(e).encode(),
                           idx, seq)
                return
            with self.lock:
                self._requests.append(req)
                self._per_conn[idx] = self._per_conn.get(idx, 0) + 1
            seq += 1
            try:
                self._read_body(conn, req)
            except _BadRequest as e:
                req["error"] = str(e)
                self._send(conn.sock, 400, [("Connection", "close")], b"bad body\n", idx, req["seq"])
                return
            keep = self._respond(conn, req, idx)
            if not keep:
                try:
                    conn.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return

    def _parse_head(self, head, idx, seq):
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            raise _BadRequest(f"request line {lines[0][:100]!r}")
        method, target, version = (p.decode("latin-1") for p in parts)
        headers = []
        for l in lines[1:]:
            if b":" not in l:
                raise _BadRequest(f"header line {l[:100]!r}")
            n, v = l.split(b":", 1)
            headers.append((n.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        return {"conn": idx, "seq": seq, "method": method, "target": target, "version": version,
                "headers": headers, "chunked": False, "body_len": 0, "body_sha256": eslib.sha256(b""),
                "body": b"", "trailers": [], "sent_continue": False, "complete": False,
                "error": None, "t": time.monotonic()}

    @staticmethod
    def _h(req, name):
        name = name.lower()
        return [v for n, v in req["headers"] if n.lower() == name]

    def _read_body(self, conn, req):
        te = ",".join(self._h(req, "transfer-encoding")).lower().replace(" ", "")
        cl = self._h(req, "content-length")
        expect = any(v.lower() == "100-continue" for v in self._h(req, "expect"))
        hsh = hashlib.sha256()
        kept = bytearray()
        n = 0
        if te:
            if te.split(",")[-1] != "chunked":
                raise _BadRequest(f"transfer-encoding {te}")
            req["chunked"] = True
            if expect:
                self._continue(conn, req)
            while True:
                line = conn.readline(self.conn_timeout)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BadRequest(f"chunk size {line[:40]!r}")
                if size == 0:
                    while True:
                        t = conn.readline(self.conn_timeout)
                        if not t:
                            break
                        tn, _, tv = t.decode("latin-1").partition(":")
                        req["trailers"].append((tn, tv.strip()))
                    break
                n += conn.read_into(size, hsh, kept, self.conn_timeout)
                if conn.readline(self.conn_timeout) != b"":
                    raise _BadRequest("chunk not followed by CRLF")
        elif cl:
            try:
                want = int(cl[0])
            except ValueError:
                raise _BadRequest(f"content-length {cl[0]!r}")
            if want > 0:
                if expect:
                    self._continue(conn, req)
                n = conn.read_into(want, hsh, kept, self.conn_timeout)
        req["body_len"] = n
        req["body_sha256"] = hsh.hexdigest()
        req["body"] = bytes(kept) if n <= KEEP_BODY else None
        req["complete"] = True

    def _continue(self, conn, req):
        conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        req["sent_continue"] = True

    def _send(self, sock, status, headers, body, idx, seq, head_only=False, content_length=None):
        reason = eslib.HTTP_REASONS.get(status, "Status")
        out = [f"HTTP/1.1 {status} {reason}\r\n", "Server: es-test-origin\r\n",
               f"X-Origin: {self.name}\r\n", f"X-Conn: {idx}\r\n", f"X-Req: {seq}\r\n"]
        names = {n.lower() for n, _ in headers}
        for n, v in headers:
            out.append(f"{n}: {v}\r\n")
        no_body = status < 200 or status in (204, 304)
        if not no_body and "transfer-encoding" not in names and "content-length" not in names:
            out.append(f"Content-Length: {len(body) if content_length is None else content_length}\r\n")
        out.append("\r\n")
        data = "".join(out).encode("latin-1")
        if not head_only and not no_body:
            data += body
        sock.sendall(data)

    def _respond(self, conn, req, idx):
        """Sends the response; returns whether the connection stays open."""
        sock = conn.sock
        seq = req["seq"]
        method = req["method"]
        head_only = method == "HEAD"
        path = req["target"].split("?", 1)[0]
        if "://" in path:  # absolute-form: route on the path part
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        conn_tokens = ",".join(self._h(req, "connection")).lower().replace(" ", "").split(",")
        keep = "close" not in conn_tokens
        if req["version"] == "HTTP/1.0":
            keep = "keep-alive" in conn_tokens
        hdrs = [] if keep else [("Connection", "close")]
        if req["version"] == "HTTP/1.0" and keep:
            hdrs = [("Connection", "keep-alive")]
        parts = path.strip("/").split("/")
        try:
            if path == "/":
                self._send(sock, 200, hdrs + [("Content-Type", "text/plain")],
                           f"hello from {self.name}\n".encode(), idx, seq, head_only)
            elif parts[0] == "bytes" and len(parts) == 2:
                self._send_pattern(sock, int(parts[1]), hdrs, idx, seq, head_only)
            elif parts[0] == "chunked" and len(parts) == 3:
                self._send_chunked(sock, int(parts[1]), max(1, int(parts[2])), hdrs, idx, seq, head_only)
            elif parts[0] == "status" and len(parts) == 2:
                st = int(parts[1])
                self._send(sock, st, hdrs + [("Content-Type", "text/plain")], f"status {st}\n".encode(),
                           idx, seq, head_only)
            elif parts[0] == "delay" and len(parts) == 2:
                self.stop_event.wait(int(parts[1]) / 1000.0)
                self._send(sock, 200, hdrs + [("Content-Type", "text/plain")],
                           f"delayed {parts[1]} ms\n".encode(), idx, seq, head_only)
            elif path == "/echo":
                doc = {"method": method, "target": req["target"], "version": req["version"],
                       "headers": req["headers"], "body_len": req["body_len"],
                       "body_sha256": req["body_sha256"], "chunked": req["chunked"],
                       "trailers": req["trailers"], "origin": self.name}
                self._send(sock, 200, hdrs + [("Content-Type", "application/json")],
                           json.dumps(doc).encode(), idx, seq, head_only)
            elif parts[0] == "fail-once" and len(parts) == 3:
                # /fail-once/<status>/<key>: the first request for <key> fails (status 0: the
                # connection closes with no response), every later one gets 200
                with self.lock:
                    first = parts[2] not in self.failed_keys
                    self.failed_keys.add(parts[2])
                if first and int(parts[1]) == 0:
                    return False
                if first:
                    st = int(parts[1])
                    self._send(sock, st, hdrs + [("Content-Type", "text/plain")], f"failing {st}\n".encode(),
                               idx, seq, head_only)
                else:
                    self._send(sock, 200, hdrs + [("Content-Type", "text/plain")], b"recovered\n",
                               idx, seq, head_only)
            elif path == "/drop-reused":
                # a server that closed this idle keep-alive connection just as a request arrived:
                # any request after the first on a connection is dropped unanswered
                if seq > 0:
                    return False
                self._send(sock, 200, hdrs + [("Content-Type", "text/plain")], b"fresh connection\n",
                           idx, seq, head_only)
            elif path == "/tcpinfo":
                # the kernel's segment counts of this connection (struct tcp_info)
                ti = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
                doc = dict(zip(("data_segs_in", "data_segs_out"), tcp_data_segs(ti)))
                self._send(sock, 200, hdrs + [("Content-Type", "application/json")],
                           json.dumps(doc).encode(), idx, seq, head_only)
            elif path == "/close":
                self._send(sock, 200, [("Connection", "close"), ("Content-Type", "text/plain")],
                           b"closing\n", idx, seq, head_only)
                return False
            elif path == "/ws":
                return self._websocket(conn, req, idx)
            else:
                self._send(sock, 200, hdrs + [("Content-Type", "text/plain")],
                           f"path {req['target']}\n".encode(), idx, seq, head_only)
        except ValueError:
            self._send(sock, 400, [("Connection", "close")], b"bad endpoint argument\n", idx, seq)
            return False
        return keep

    def _send_pattern(self, sock, n, hdrs, idx, seq, head_only):
        self._send(sock, 200, hdrs + [("Content-Type", "application/octet-stream")], b"", idx, seq,
                   head_only=True, content_length=n)
        if head_only:
            return
        off = 0
        while off < n:
            k = min(_PERIOD, n - off)
            sock.sendall(pattern_slice(off, k))
            off += k

    def _send_chunked(self, sock, n, csize, hdrs, idx, seq, head_only):
        self._send(sock, 200, hdrs + [("Content-Type", "application/octet-stream"),
                                      ("Transfer-Encoding", "chunked")], b"", idx, seq, head_only=True)
        if head_only:
            return
        off = 0
        pending = bytearray()
        while off < n:
            k = min(csize, n - off)
            pending += b"%x\r\n" % k
            done = 0
            while done < k:
                step = min(_PERIOD, k - done)
                pending += pattern_slice(off + done, step)
                done += step
            pending += b"\r\n"
            off += k
            if len(pending) >= (1 << 18):
                sock.sendall(pending)
                pending.clear()
        pending += b"0\r\n\r\n"
        sock.sendall(pending)

    def _websocket(self, conn, req, idx):
        upgrade = ",".join(self._h(req, "upgrade")).lower()
        if "websocket" not in upgrade:
            self._send(conn.sock, 426, [("Connection", "close")], b"upgrade required\n", idx, req["seq"])
            return False
        hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
        key = self._h(req, "sec-websocket-key")
        if key:
            acc = base64.b64encode(hashlib.sha1((key[0] + WS_GUID).encode()).digest()).decode()
            hdrs.append(("Sec-WebSocket-Accept", acc))
        self._send(conn.sock, 101, hdrs, b"", idx, req["seq"])
        req["upgraded"] = True
        sock = conn.sock
        if conn.buf:
            sock.sendall(bytes(conn.buf))
            conn.buf.clear()
        while not self.stop_event.is_set():
            sock.settimeout(self.conn_timeout)
            try:
                data = sock.recv(1 << 16)
            except socket.timeout:
                break
            except OSError:
                break
            if not data:
                break
            with self.lock:
                self.bytes_in += len(data)
            sock.sendall(data)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return False

    def stop(self):
        self.stop_event.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        self.thread.join(3)
        with self.lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        for t in threads:
            t.join(2)


def start(h, **kw):
    """Starts an Origin that the harness stops at the end of the test."""
    o = Origin(**kw)
    h.servers.append(o)
    return o


def header_values(req, name):
    """All values of header `name` (case-insensitive) in a recorded request."""
    name = name.lower()
    return [v for n, v in req["headers"] if n.lower() == name]
