#!/usr/bin/env python3
"""HTTP timeout matrix, differential: each HTTP-mode timeout set shorter and longer than the peer's
delay at each phase of an exchange, with the outcome HAProxy documents, validated against HAProxy
2.6 (`ES_TEST_PEER=haproxy python3 test/integ/cases/http_timeout_matrix.py` must pass).
T = 1 s is the short timeout; a timed event must come no sooner than 0.8 x its timeout and no later
than the timeout + 2 s (stopwatches start before the action that starts the proxy's clock).

  cell  timeouts (short one in caps)        what happens                           expected
  c1    CLIENT 1s, server 5s                server thinks 2 s before its head      200 at ~2 s (log ----)
  c2    client 5s, SERVER 1s                server thinks 2 s before its head      504 at ~1 s (sH)
  c3a   CLIENT 1s, server 5s                head, 2 s pause, then 200000 B body    200, body complete
  c3b   client 5s, SERVER 1s                head, 2 s pause, then the body         head, then closed at ~1 s
                                                                                   with the body incomplete (sD)
  c4    CLIENT 1s, server 5s                16 MiB upload (12 MiB + tcp_wmem max), 200, body intact; the
                                            server reads 512 KiB every 200 ms      client's send held > 1 s
  c5a   CLIENT 1s, server 5s                client pauses 1.6 s inside its body,   HAProxy: nothing during
                                            server answers after the whole body    the pause, then 200;
                                                                                   edgeshard: 408 + close at
                                                                                   ~1 s (edgeshard_only)
  c5b   CLIENT 1s, server 5s                server answers 200 right after the     the 200 arrives, then
                                            head; client pauses 1.6 s in its body  closed ~1 s into the pause,
                                                                                   nothing more sent (cD)
  c5c   CLIENT 1s, server 5s                client pauses 0.3 s inside its body    200, body intact
  c6a   CLIENT 1s, server 5s                client reads a 3 MiB body, 256 KiB     complete, sha256
                                            every 250 ms (3 s in all)
  c6c   SERVER 1s, client 5s                client pauses 1.4 s after every 6 MiB  complete, sha256 (the server
                                            of a 24 MiB body                       is held back, not idle)
  c6b   CLIENT 1s, server 5s                client stops reading a 1 GiB body      both sides closed ~1 s after
                                            (more than every buffer can hold)      the buffers filled (cD)
  c7a   HTTP-REQUEST 1s, client 5s          head dripped a byte every 200 ms       408 at ~1 s (cR)
  c7b   HTTP-REQUEST 1s                     head in two parts 300 ms apart         200
  c7c   HTTP-KEEP-ALIVE 1s, client 5s       idle after a response                  silent close at ~1 s
  c7d   HTTP-KEEP-ALIVE 1s                  second request after 300 ms            200 on the same connection
  c8a   QUEUE 1s, server maxconn 1          slot held 3 s by another request       503 at ~1 s (sQ)
  c8b   QUEUE 4s, server maxconn 1          slot held 1.5 s                        200 once the slot frees
  c9    CLIENT/SERVER 1s, TUNNEL 3s         after 101: idle 1.5 s, echo, idle      alive after 1.5 s idle;
                                                                                   closed ~3 s after the echo
  c10   CLIENT 1s, server 5s                Expect: 100-continue, the server       100 at ~2 s (not cut by
                                            sends its 100 after 2 s                timeout client), then 200
  c11a  CLIENT-FIN 1s, tunnel 6s            after 101 the server half-closes,      closed within client-fin
                                            the client stays silent                + 2 s (HAProxy: at once)
  c11b  SERVER-FIN 1s, tunnel 6s            after 101 the client half-closes; the  "late" reaches the client,
                                            server answers "late" 300 ms later     closed ~1 s after it (sD)
                                            and stays silent
  c11c  CLIENT 1s, CLIENT-FIN 1s, server 5s client half-closes after its request,  200 at ~2 s
                                            the server thinks 2 s
  c12   connect 500ms, retries 1            nothing listens on the server's port   503 (SC)

Not covered:
  - a connect TIMEOUT (a SYN nobody answers): on loopback a closed port answers RST at once, and a
    listener with a full backlog drops or answers SYNs depending on syncookies and kernel version,
    so it cannot be made deterministic without privileges; only the refused path is a cell (c12).
  - `timeout client-fin` / `timeout server-fin` outside a tunnel: in HTTP mode a client's FIN is not
    forwarded to the server while its response is pending (HAProxy 2.6 and edgeshard both hold it;
    the server never sees a half-closed client), and once the response is sent the proxy closes the
    client connection itself, so no half-closed phase exists to be timed. They are tested in the
    tunnel (c11a/b) and through a half-closed client waiting for its response (c11c).

All cells run concurrently against one proxy process (a frontend per combination of timeouts),
with one raw-socket origin whose behaviour the request path selects; the access log (`option
httplog` on stdout) gives the termination state of the cells listed in LOG_STATES.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import Failure, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
T = 1.0          # the short timeout of every cell
LO = 0.8         # a timeout may not fire before LO x its value
SLACK = 2.0      # ... and must have fired SLACK seconds after it
KiB = 1 << 10
MiB = 1 << 20

# Response bodies: a fixed pseudo-random stream with a prime period (a lost, shifted or doubled
# piece changes the hash).
_PERIOD = 65521
_BLOCK = b"".join(hashlib.sha256(b"matrix-%d" % i).digest() for i in range(_PERIOD // 32 + 1))[:_PERIOD]


def body_bytes(n):
    reps = n // _PERIOD + 1
    return (_BLOCK * reps)[:n]


def body_sha(n):
    return eslib.sha256(body_bytes(n))


def window(secs, timeout, what):
    """Failure unless LO*timeout <= secs <= timeout + SLACK."""
    if not (LO * timeout <= secs <= timeout + SLACK):
        raise Failure(f"{what}: after {secs:.2f}s, expected within [{LO * timeout:.1f}, "
                      f"{timeout + SLACK:.1f}] s")


# --------------------------------------------------------------------------------------------
# The origin
# --------------------------------------------------------------------------------------------
#   /think/MS[/SIZE]       reads the request (and its body), waits MS, answers 200 with SIZE bytes
#   /headpause/MS/SIZE     reads the request, sends the head (Content-Length SIZE), waits MS, the body
#   /slowread/STEP/MS      reads the body STEP bytes every MS, then 200 JSON {len, sha}
#   /echo                  reads the body, 200 JSON {len, sha}
#   /early                 200 JSON right after the head, then reads (discards) the body
#   /size/SIZE             200 with SIZE bytes (streamed), sent as fast as the proxy takes them
#   /continue/MS           waits MS, sends 100 Continue, reads the body, 200 JSON {len, sha}
#   /upgrade               101, then echoes until EOF
#   /upgrade-fin           101, echoes one message, sends "bye" and half-closes, reads until EOF
#   /upgrade-hold          101, echoes one message, reads until EOF, then stays silent and open
# `?t=TAG` names the cell: the origin records what it saw under results[TAG] (times are
# time.monotonic()).

class OConn:
    def __init__(self, sock):
        self.s = sock
        self.buf = bytearray()

    def fill(self, limit=1 << 16):
        d = self.s.recv(limit)
        if not d:
            return False
        self.buf += d
        return True

    def head(self):
        """The next request head (bytes, without the blank line), or None at EOF."""
        for _ in range(100000):
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                h = bytes(self.buf[:i])
                del self.buf[:i + 4]
                return h
            if len(self.buf) > 65536:
                raise RuntimeError("request head over 64 KiB")
            if not self.fill():
                return None
        raise RuntimeError("head loop bound")

    def body(self, n, step=0, gap=0.0):
        """Reads exactly n body bytes; with step, at most `step` bytes then a `gap` pause, so the
        socket is drained slowly. Returns (bytes read, sha256 hex)."""
        h = hashlib.sha256()
        got = 0
        first = True
        for _ in range(1000000):
            if got >= n:
                break
            if step and not first:
                time.sleep(gap)  # the slow reader is the point of the cell
            first = False
            want = min(n - got, step or n)
            for _ in range(1000000):
                if want <= 0:
                    break
                if not self.buf and not self.fill(min(want, 1 << 16)):
                    raise RuntimeError(f"EOF inside the request body after {got} of {n} bytes")
                k = min(len(self.buf), want)
                h.update(self.buf[:k])
                del self.buf[:k]
                got += k
                want -= k
        return got, h.hexdigest()


def _parse(head):
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    hdrs = {}
    for l in lines[1:]:
        n, _, v = l.partition(":")
        hdrs[n.strip().lower()] = v.strip()
    path, _, query = target.partition("?")
    tag = ""
    for kv in query.split("&"):
        if kv.startswith("t="):
            tag = kv[2:]
    return method, path, tag, hdrs


def _head(status, length, extra=()):
    reason = eslib.HTTP_REASONS.get(status, "X")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {length}"] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _resp(status, body, extra=()):
    return _head(status, len(body), extra) + body


def _json(n, sha, **kw):
    d = {"len": n, "sha": sha}
    d.update(kw)
    return _resp(200, json.dumps(d).encode(), ["Content-Type: application/json"])


def origin_handler(c, idx, srv):
    oc = OConn(c)
    for _ in range(1000):
        try:
            head = oc.head()
        except OSError:
            return  # the proxy reset a connection between requests (a cut, or an idle one dropped)
        if head is None:
            return
        t_head = time.monotonic()
        method, path, tag, hdrs = _parse(head)
        rec = {"t_head": t_head, "conn": idx, "path": path}
        cl = int(hdrs.get("content-length", "0") or 0)
        parts = path.strip("/").split("/")
        kind, args = parts[0], [int(x) for x in parts[1:] if x.isdigit()]
        try:
            if kind == "think":
                n, sha = oc.body(cl)
                time.sleep(args[0] / 1000.0)  # the server's thinking time is the cell's subject
                size = args[1] if len(args) > 1 else 1000
                c.sendall(_resp(200, body_bytes(size)))
                rec["t_sent"] = time.monotonic()
            elif kind == "headpause":
                oc.body(cl)
                ms, size = args
                c.sendall(_head(200, size))
                time.sleep(ms / 1000.0)  # the pause between head and body is the cell's subject
                rec["t_body"] = time.monotonic()
                c.sendall(body_bytes(size))
                rec["t_sent"] = time.monotonic()
            elif kind == "slowread":
                step, ms = args
                rec["t_body0"] = time.monotonic()
                n, sha = oc.body(cl, step=step, gap=ms / 1000.0)
                rec["t_body1"] = time.monotonic()
                rec["len"], rec["sha"] = n, sha
                c.sendall(_json(n, sha))
            elif kind == "echo":
                n, sha = oc.body(cl)
                rec["t_body1"] = time.monotonic()
                rec["len"], rec["sha"] = n, sha
                c.sendall(_json(n, sha))
            elif kind == "early":
                c.sendall(_json(0, "", early=True))
                rec["t_sent"] = time.monotonic()
                n, sha = oc.body(cl)
                rec["t_body1"] = time.monotonic()
                rec["len"], rec["sha"] = n, sha
            elif kind == "size":
                oc.body(cl)
                size = args[0]
                rec["how"] = "sent"
                sent = 0
                try:
                    c.sendall(_head(200, size))
                    # body_bytes(size), streamed: the stream repeats _BLOCK
                    for _ in range(size // _PERIOD):
                        c.sendall(_BLOCK)
                        sent += _PERIOD
                    c.sendall(_BLOCK[:size % _PERIOD])
                    sent = size
                except OSError as e:
                    rec["how"] = f"error {e.__class__.__name__}"
                rec["sent"] = sent
                rec["t_end"] = time.monotonic()
                if rec["how"] != "sent":
                    with srv.lock:
                        srv.results[tag] = rec
                    return
            elif kind == "continue":
                time.sleep(args[0] / 1000.0)  # the server is slow to send its 100: the subject
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                rec["t_100"] = time.monotonic()
                n, sha = oc.body(cl)
                rec["len"], rec["sha"] = n, sha
                c.sendall(_json(n, sha))
            elif kind in ("upgrade", "upgrade-fin", "upgrade-hold"):
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                          b"Upgrade: es-test\r\n\r\n")
                _tunnel(oc, kind, rec, srv)
                with srv.lock:
                    srv.results[tag] = rec
                return
            else:
                c.sendall(_resp(200, b"path " + path.encode() + b"\n"))
        except (OSError, RuntimeError) as e:
            rec["error"] = repr(e)
            rec["t_err"] = time.monotonic()
            with srv.lock:
                srv.results[tag] = rec
            return
        with srv.lock:
            srv.results[tag] = rec


def _tunnel(oc, kind, rec, srv):
    c = oc.s
    msgs = 0
    for _ in range(100000):
        if not oc.buf and not oc.fill():
            rec["t_eof"] = time.monotonic()
            break
        data = bytes(oc.buf)
        oc.buf.clear()
        c.sendall(data)
        msgs += 1
        if kind == "upgrade-fin" and msgs == 1:
            c.sendall(b"bye")
            c.shutdown(socket.SHUT_WR)
            rec["t_fin"] = time.monotonic()
            for _ in range(100000):
                try:
                    if not oc.fill():
                        break
                except OSError as e:
                    rec["read_error"] = repr(e)
                    break
                oc.buf.clear()
            rec["t_eof"] = time.monotonic()
            return
    if kind == "upgrade-hold":
        # the client half-closed: 300 ms later a last message (the other direction is still
        # open), then stay open and silent, so only the proxy can end it
        time.sleep(0.3)  # the late answer after the client's FIN is the point of the cell
        try:
            c.sendall(b"late\n")
            rec["t_late"] = time.monotonic()
        except OSError as e:
            rec["late_error"] = repr(e)
        dl = eslib.Deadline(9)
        while not dl.expired() and not srv.stopping:
            time.sleep(0.05)


def origin_result(srv, tag, timeout):
    def probe():
        with srv.lock:
            return srv.results.get(tag)
    return eslib.poll_until(probe, timeout, what=f"the origin's record of {tag}")


# --------------------------------------------------------------------------------------------
# Client helpers
# --------------------------------------------------------------------------------------------

def client(port, rcvbuf=0, sndbuf=0):
    """An HttpClient, with small socket buffers set before connecting when asked (so the proxy
    meets back-pressure early instead of filling megabytes of kernel buffers)."""
    if not rcvbuf and not sndbuf:
        return eslib.HttpClient(port, timeout=10)
    c = eslib.HttpClient.__new__(eslib.HttpClient)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.settimeout(10)
    s.connect((L, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.port, c.sock, c.buf, c.pos, c.eof, c.reset = port, s, bytearray(), 0, False, False
    return c


def req(method, target, headers=(), body=b"", cl=None):
    hdrs = list(headers)
    if cl is not None:
        hdrs.append(("Content-Length", str(cl)))
    return eslib.http_request_bytes(method, target, hdrs, body)


def read_body_to_close(c, timeout):
    """Body bytes that arrive (after the head was read) until the peer closes: (how, n, secs)."""
    how, data, secs = c.wait_closed(timeout)
    return how, len(data), secs


# --------------------------------------------------------------------------------------------
# The cells: each returns a one-line observation or raises Failure
# --------------------------------------------------------------------------------------------

def c1_think_client(m):
    c = client(m.p["c1"])
    try:
        t0 = time.monotonic()
        c.send(req("GET", "/think/2000/1000?t=c1"))
        r = c.read_response(timeout=2 + 5)
        dt = time.monotonic() - t0
    except Failure as e:
        raise Failure(f"server thinking 2 s under timeout client 1s must not be cut: {e} "
                      f"(after {time.monotonic() - t0:.2f}s)")
    finally:
        c.close()
    check_eq(r.status, 200, "status")
    check_eq(r.body_sha256, body_sha(1000), "body sha256")
    window(dt, 2.0, "response")
    return f"200 after {dt:.2f}s"


def c2_think_server(m):
    c = client(m.p["s1"])
    try:
        t0 = time.monotonic()
        c.send(req("GET", "/think/2000/1000?t=c2"))
        r = c.read_response(timeout=T + SLACK + 2)
        dt = time.monotonic() - t0
    finally:
        c.close()
    check_eq(r.status, 504, "status when timeout server 1s expires before the head")
    window(dt, T, "504")
    return f"504 after {dt:.2f}s"


def c3a_headpause_client(m):
    size = 200000
    c = client(m.p["c1"])
    try:
        t0 = time.monotonic()
        c.send(req("GET", f"/headpause/2000/{size}?t=c3a"))
        r = c.read_response(timeout=2 + 5)
        dt = time.monotonic() - t0
    except Failure as e:
        raise Failure(f"2 s pause between the server's head and body under timeout client 1s: {e} "
                      f"(after {time.monotonic() - t0:.2f}s)")
    finally:
        c.close()
    check_eq(r.status, 200, "status")
    check_eq((r.body_len, r.body_sha256), (size, body_sha(size)), "body length and sha256")
    window(dt, 2.0, "complete response")
    return f"200, {size} bytes intact after {dt:.2f}s"


def c3b_headpause_server(m):
    size = 200000
    c = client(m.p["s1"])
    try:
        t0 = time.monotonic()  # the server sends its head at once: its silence starts after t0
        c.send(req("GET", f"/headpause/2000/{size}?t=c3b"))
        r = c.read_head(timeout=3)
        check_eq(r.status, 200, "status of the head sent before the pause")
        how, n, _ = read_body_to_close(c, T + SLACK + 3)
        secs = time.monotonic() - t0
    finally:
        c.close()
    check(how in ("eof", "reset"), f"the connection was not closed {secs:.1f}s into a 2 s body "
                                   f"pause with timeout server 1s")
    check(n < size, f"{n} of {size} body bytes arrived: the message should be incomplete")
    window(secs, T, "cut of the paused body")
    return f"head 200, then {how} after {secs:.2f}s with {n}/{size} body bytes"


def _send_bg(sock, payload):
    """Sends payload in a daemon thread (no shutdown); the thread records `t_done`."""
    err = []

    def run():
        try:
            sock.sendall(payload)
        except OSError as e:
            err.append(repr(e))
        th.t_done = time.monotonic()

    th = threading.Thread(target=run, daemon=True)
    th.t_done = None
    th.start()
    return th, err


def c4_upload_slowread(m):
    # the proxy's socket to the origin autotunes its send buffer up to tcp_wmem's maximum (4 MiB
    # by default) and the proxy's receive window from the client grows to ~1 MiB: the upload must
    # exceed that for the client to be held by back-pressure
    size = 12 * MiB + _wmem_max()
    payload = os.urandom(size)
    c = client(m.p["c1"], sndbuf=64 * KiB)
    try:
        t0 = time.monotonic()
        c.send(req("POST", "/slowread/524288/200?t=c4", cl=size))
        th, err = _send_bg(c.sock, payload)
        r = c.read_response(timeout=15)
        dt = time.monotonic() - t0
        th.join(5)
    except Failure as e:
        raise Failure(f"slow-reading server ({size >> 20} MiB at 512 KiB / 200 ms) under timeout client 1s: {e} "
                      f"(after {time.monotonic() - t0:.2f}s)")
    finally:
        c.close()
    sent = f"{th.t_done - t0:.2f}s" if th.t_done else "never"
    desc = f"{r.status} after {dt:.2f}s; the client's send completed after {sent} ({err or 'no error'})"
    check_eq(r.status, 200, f"status ({desc})")
    check(not err, f"sending the body failed ({desc})")
    doc = r.json()
    check_eq((doc["len"], doc["sha"]), (size, eslib.sha256(payload)), "body at the origin")
    steps = size / (512 * KiB)
    check(dt >= 0.8 * 0.2 * steps, f"the origin reads for {0.2 * steps:.1f}s, yet the answer came after "
                                   f"{dt:.2f}s")
    sent = th.t_done - t0
    # the precondition of the cell: the client's send was held back longer than timeout client
    check(sent > T, f"the client's send completed after {sent:.2f}s: the buffers absorbed the upload, "
                    f"so the proxy never held the client back for timeout client")
    return f"200 after {dt:.2f}s, {size >> 20} MiB intact; the client's send was held {sent:.2f}s"


def _wmem_max():
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return min(int(f.read().split()[2]), 32 * MiB)
    except (OSError, ValueError, IndexError):
        return 4 * MiB


def _pause_in_body(m, tag, path, pause):
    """POSTs a 100000-byte body: head and half the body, a pause of `pause` s, the rest. Returns a
    dict: early (a response read before the pause, /early only), pause_how/pause_data (what
    happened during the pause: 'timeout' = nothing), t_pause_end (seconds from the pause's start
    to its end: the close when pause_how is eof/reset), send_err, data (everything received
    after the pause), how (how the connection ended: eof/reset/timeout), t_end (seconds from the
    pause's start to that end), payload_sha, size."""
    size = 100000
    payload = os.urandom(size)
    c = client(m.p["c1"])
    out = {"size": size, "payload_sha": eslib.sha256(payload), "early": None, "send_err": None}
    try:
        t_pause = time.monotonic()  # taken before the send: the proxy's last read comes after it
        c.send(req("POST", f"{path}?t={tag}", cl=size) + payload[:size // 2])
        if path == "/early":
            out["early"] = c.read_response(timeout=3)
        # the pause inside the body is the subject of the cell; whatever arrives meanwhile is kept
        how, data, _ = eslib.wait_eof(c.sock, max(0.0, pause - (time.monotonic() - t_pause)))
        out["pause_how"], out["pause_data"] = how, c.buffered() + data
        out["t_pause_end"] = time.monotonic() - t_pause
        try:
            c.sock.sendall(payload[size // 2:])
        except OSError as e:
            out["send_err"] = repr(e)
        how, data, _ = eslib.wait_eof(c.sock, T + SLACK + 2)
        out["how"], out["data"] = how, data
        out["t_end"] = time.monotonic() - t_pause
        return out
    finally:
        c.close()


def _status_of(data):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    return int(m.group(1)) if m else None


def c5a_body_pause(m):
    o = _pause_in_body(m, "c5a", "/echo", 1.6)
    allb = o["pause_data"] + o["data"]
    st = _status_of(allb)
    desc = (f"during the pause: {o['pause_how']} at {o['t_pause_end']:.2f}s ({len(o['pause_data'])} "
            f"bytes, status {_status_of(o['pause_data'])}); rest sent: {o['send_err'] or 'ok'}; then "
            f"{o['how']} at {o['t_end']:.2f}s; status {st}")
    if eslib.edgeshard_only("c5a: 408 and close 1 s into a 1.6 s pause inside the request body. "
                            "HAProxy 2.6 suspends timeout client while the response is awaited, even "
                            "with the request body unfinished, and answers 200 (c5b shows the client "
                            "timeout does apply to the body once the server has answered). edgeshard "
                            "keeps timeout client on a request body the client owes: a client stalling "
                            "mid-body must not hold a server connection for timeout server"):
        check_eq(st, 408, f"status ({desc})")
        check(o["pause_how"] in ("eof", "reset"), f"the connection should close during the pause ({desc})")
        window(o["t_pause_end"], T, f"408 and close ({desc})")
        return desc
    # HAProxy 2.6: nothing happens during the pause; the body completes and the server answers
    check_eq((o["pause_how"], o["pause_data"]), ("timeout", b""), f"events during the pause ({desc})")
    check_eq(st, 200, f"status ({desc})")
    body = o["data"].split(b"\r\n\r\n", 1)[1]
    doc = json.loads(body[:body.index(b"}") + 1])
    check_eq((doc["len"], doc["sha"]), (o["size"], o["payload_sha"]), "body at the origin")
    return desc


def c5b_body_pause_early(m):
    o = _pause_in_body(m, "c5b", "/early", 1.6)
    e = o["early"]
    desc = (f"early response {e.status if e else None} (Connection: "
            f"{e.header('Connection') if e else None}); during the pause: {o['pause_how']} at "
            f"{o['t_pause_end']:.2f}s ({len(o['pause_data'])} bytes); rest sent: "
            f"{o['send_err'] or 'ok'}; then {o['how']} at {o['t_end']:.2f}s")
    check(e is not None and e.status == 200, f"the early 200 reaches the client ({desc})")
    # the response is complete, the request body is not: the client owes data, so timeout client
    # governs and the connection is closed 1 s into the pause, with nothing more sent (cD)
    check(o["pause_how"] in ("eof", "reset"), f"the connection should close during the pause ({desc})")
    check_eq(o["pause_data"], b"", f"bytes sent after the early response ({desc})")
    window(o["t_pause_end"], T, f"close ({desc})")
    return desc


def c5c_body_short_pause(m):
    o = _pause_in_body(m, "c5c", "/echo", 0.3)
    check_eq((o["pause_how"], o["pause_data"]), ("timeout", b""), "events during a 0.3 s pause")
    st = _status_of(o["data"])
    check_eq(st, 200, f"status after a 0.3 s pause ({o['data'][:100]!r})")
    body = o["data"].split(b"\r\n\r\n", 1)[1]
    doc = json.loads(body[:body.index(b"}") + 1])
    check_eq((doc["len"], doc["sha"]), (o["size"], o["payload_sha"]), "body at the origin")
    return "200, body intact"


def c6a_slow_reader(m):
    size = 3 * MiB
    c = client(m.p["c1"], rcvbuf=64 * KiB)
    hsh = hashlib.sha256()
    n = 0
    gaps = []
    try:
        t0 = time.monotonic()
        c.send(req("GET", f"/size/{size}?t=c6a"))
        r = c.read_head(timeout=3)
        check_eq(r.status, 200, "status")
        pre = c.buffered()
        hsh.update(pre)
        n = len(pre)
        last = time.monotonic()
        for _ in range(1000):
            if n >= size:
                break
            time.sleep(0.25)  # steady slow reader: each gap well under timeout client 1s
            gaps.append(time.monotonic() - last)
            goal = min(size, n + 256 * KiB)
            for _ in range(100000):
                if n >= goal:
                    break
                c.sock.settimeout(3)
                try:
                    d = c.sock.recv(min(goal - n, 1 << 16))
                except (socket.timeout, OSError) as e:
                    raise Failure(f"read error {e!r} after {n} of {size} bytes, "
                                  f"{time.monotonic() - t0:.2f}s")
                if not d:
                    raise Failure(f"closed after {n} of {size} bytes, {time.monotonic() - t0:.2f}s in "
                                  f"(the client read 256 KiB every 250 ms)")
                hsh.update(d)
                n += len(d)
            last = time.monotonic()
        dt = time.monotonic() - t0
    finally:
        c.close()
    check_eq((n, hsh.hexdigest()), (size, body_sha(size)), "body length and sha256")
    check(dt > 2.0, f"the slow read took only {dt:.2f}s")
    return f"complete after {dt:.2f}s (longest gap {max(gaps):.2f}s)"


def c6c_paused_reader(m):
    """The client pauses longer than `timeout server` (but within `timeout client`) after every
    6 MiB: the server is held back by the client, not idle, and must not be cut."""
    size, step, pause = 24 * MiB, 6 * MiB, 1.4
    c = client(m.p["s1"], rcvbuf=64 * KiB)
    hsh = hashlib.sha256()
    n = 0
    try:
        t0 = time.monotonic()
        c.send(req("GET", f"/size/{size}?t=c6c"))
        r = c.read_head(timeout=3)
        check_eq(r.status, 200, "status")
        pre = c.buffered()
        hsh.update(pre)
        n = len(pre)
        mark = step
        c.sock.settimeout(3)
        for _ in range(100000):
            if n >= size:
                break
            try:
                d = c.sock.recv(min(size - n, 1 << 16))
            except (socket.timeout, OSError) as e:
                raise Failure(f"read error {e!r} after {n} of {size} bytes, {time.monotonic() - t0:.2f}s")
            if not d:
                raise Failure(f"closed after {n} of {size} bytes, {time.monotonic() - t0:.2f}s in (the client "
                              f"paused {pause}s per {step // MiB} MiB under timeout server 1s, client 5s)")
            hsh.update(d)
            n += len(d)
            if n >= mark:
                mark += step
                time.sleep(pause)  # holds the server back through the proxy, longer than timeout server
        dt = time.monotonic() - t0
    finally:
        c.close()
    check_eq((n, hsh.hexdigest()), (size, body_sha(size)), "body length and sha256")
    check(dt > 2 * pause, f"the paused read took only {dt:.2f}s")
    return f"complete in {dt:.2f}s"


def c6b_stopped_reader(m):
    # far more than every buffer on the way can hold (tcp_rmem's maximum alone is 32 MiB here):
    # the origin can only finish if the proxy keeps reading for a client that does not
    size = 1 << 30
    c = client(m.p["c1"], rcvbuf=64 * KiB)
    try:
        t_stop = time.monotonic()  # the client never reads past the head: the buffers fill after this
        c.send(req("GET", f"/size/{size}?t=c6b"))
        r = c.read_head(timeout=3)
        check_eq(r.status, 200, "status")
        # the client stops reading: the origin's record says when the proxy cut its connection
        try:
            rec = origin_result(m.origin, "c6b", T + SLACK + 2)
        except Failure:
            raise Failure("the proxy did not close the server side of a client that stopped reading "
                          "for 5 s with timeout client 1s")
        cut = rec["t_end"] - t_stop
        how, n, secs = read_body_to_close(c, 10)
    finally:
        c.close()
    desc = (f"origin: {rec['how']} after {rec['sent']} bytes, {cut:.2f}s after the client stopped; "
            f"client: {how} after {n} body bytes")
    check(rec["how"] != "sent", f"the origin sent the whole 1 GiB to a client that stopped reading ({desc})")
    check(how in ("eof", "reset"), f"the client connection was not closed ({desc})")
    check(n < size, f"the client received the whole body ({desc})")
    window(cut, T, f"server side cut after the client stopped reading ({desc})")
    return desc


def c7a_drip(m):
    c = client(m.p["hr"])
    data = b""
    try:
        t0 = time.monotonic()
        c.send(b"GET /think/0?t=c7a HTTP/1.1\r\nHost: test.local\r\nX-Drip: ")
        for _ in range(40):  # a byte every 200 ms for up to 8 s
            c.sock.settimeout(0.2)
            try:
                d = c.sock.recv(4096)
            except socket.timeout:
                try:
                    c.sock.send(b"a")
                except OSError:
                    break
                continue
            except OSError:
                break
            data += d
            if not d:
                break
        dt = time.monotonic() - t0
        how, extra, _ = eslib.wait_eof(c.sock, 2)
        data += extra
    finally:
        c.close()
    check_eq(_status_of(data), 408, f"answer to a head dripped past timeout http-request 1s ({data[:80]!r})")
    window(dt, T, "408")
    return f"408 after {dt:.2f}s"


def c7b_head_in_time(m):
    c = client(m.p["hr"])
    try:
        c.send(b"GET /think/0?t=c7b HTTP/1.1\r\nHost: test.local\r\n")
        time.sleep(0.3)  # a head in two parts, completed well within timeout http-request 1s
        c.send(b"X-Part: two\r\n\r\n")
        r = c.read_response(timeout=3)
    finally:
        c.close()
    check_eq(r.status, 200, "status")
    return "200"


def c7c_keepalive_idle(m):
    c = client(m.p["hr"])
    try:
        t0 = time.monotonic()  # the idle time starts after the response, so after t0
        r = c.request("GET", "/think/0?t=c7c", timeout=3)
        check_eq(r.status, 200, "status of the first request")
        how, extra, _ = c.wait_closed(T + SLACK + 2)
        secs = time.monotonic() - t0
    finally:
        c.close()
    check(how in ("eof", "reset"), "idle keep-alive connection not closed (timeout http-keep-alive 1s)")
    check_eq(extra, b"", "bytes sent on the idle keep-alive connection")
    window(secs, T, "keep-alive idle close")
    return f"silent {how} after {secs:.2f}s idle"


def c7d_keepalive_reuse(m):
    c = client(m.p["hr"])
    try:
        r = c.request("GET", "/think/0?t=c7d1", timeout=3)
        check_eq(r.status, 200, "status of the first request")
        check("close" not in (r.header("Connection") or "").lower(), "first response closes")
        time.sleep(0.3)  # within timeout http-keep-alive 1s
        r = c.request("GET", "/think/0?t=c7d2", timeout=3)
        check_eq(r.status, 200, "status of the second request on the same connection")
    finally:
        c.close()
    return "200, 200 on one connection"


def _queue(m, port, hold_ms, tag):
    """One client holds the only server slot for hold_ms; 0.3 s later a second asks.
    Returns (second's response or error, its seconds, first's response or error)."""
    res = {}

    def holder():
        try:
            res["hold"] = eslib.http_get(port, f"/think/{hold_ms}?t={tag}h", timeout=10)
        except Exception as e:  # noqa: BLE001 - reported by the cell
            res["hold"] = e

    th = threading.Thread(target=holder, daemon=True)
    th.start()
    time.sleep(0.3)  # the holder's request is at the server before the second one comes
    t0 = time.monotonic()
    try:
        r = eslib.http_get(port, f"/think/0?t={tag}", timeout=10)
    except Failure as e:
        r = e
    dt = time.monotonic() - t0
    th.join(12)
    return r, dt, res.get("hold")


def c8a_queue_expires(m):
    r, dt, hold = _queue(m, m.p["q1"], 3000, "c8a")
    check(isinstance(r, eslib.HttpResponse), f"queued request: {r}")
    check_eq(r.status, 503, "status of a request queued past timeout queue 1s")
    window(dt, T, "503")
    check(isinstance(hold, eslib.HttpResponse) and hold.status == 200, f"holder: {hold}")
    return f"503 after {dt:.2f}s (holder 200)"


def c8b_queue_waits(m):
    r, dt, hold = _queue(m, m.p["q4"], 1500, "c8b")
    check(isinstance(r, eslib.HttpResponse), f"queued request: {r}")
    check_eq(r.status, 200, "status of a request queued less than timeout queue 4s")
    check(0.8 <= dt <= 1.2 + SLACK, f"served after {dt:.2f}s, expected when the slot frees (~1.2 s)")
    check(isinstance(hold, eslib.HttpResponse) and hold.status == 200, f"holder: {hold}")
    return f"200 after {dt:.2f}s (slot freed at ~1.2 s)"


def _upgrade(c, tag, kind="upgrade"):
    c.send(req("GET", f"/{kind}?t={tag}", [("Connection", "Upgrade"), ("Upgrade", "es-test")]))
    r = c.read_head(timeout=3, what="101 response")
    check_eq(r.status, 101, f"upgrade status ({r.brief()})")
    check_eq(c.buffered(), b"", "bytes after the 101")


def c9_tunnel(m):
    c = client(m.p["tun"])
    try:
        _upgrade(c, "c9")
        c.send(b"hello\n")
        check_eq(eslib.recv_exact(c.sock, 6, 3, "echo"), b"hello\n", "echo")
        check(eslib.nothing_arrives(c.sock, 1.5),
              "the tunnel closed (or sent data) within 1.5 s idle: timeout tunnel 3s should replace "
              "timeout client/server 1s")
        t0 = time.monotonic()  # the last activity is the echo of this message, after t0
        c.send(b"again\n")
        check_eq(eslib.recv_exact(c.sock, 6, 3, "echo after 1.5 s idle"), b"again\n", "echo")
        how, data, _ = eslib.wait_eof(c.sock, 3 + SLACK + 2)
        secs = time.monotonic() - t0
    finally:
        c.close()
    check(how in ("eof", "reset"), "the idle tunnel was not closed")
    window(secs, 3.0, "idle tunnel close (timeout tunnel 3s)")
    return f"alive after 1.5 s idle; {how} after {secs:.2f}s idle"


def c10_continue(m):
    size = 100000
    payload = os.urandom(size)
    c = client(m.p["c1"])
    try:
        t0 = time.monotonic()
        c.send(req("POST", "/continue/2000?t=c10", [("Expect", "100-continue")], cl=size))
        try:
            r = c.read_response(timeout=5, interim=True)
        except Failure as e:
            raise Failure(f"waiting 2 s for the server's 100 under timeout client 1s: {e} "
                          f"(after {time.monotonic() - t0:.2f}s)")
        t100 = time.monotonic() - t0
        check_eq(r.status, 100, f"first response ({r.brief()})")
        c.send(payload)
        r = c.read_response(timeout=5)
    finally:
        c.close()
    check_eq(r.status, 200, "final status")
    doc = r.json()
    check_eq((doc["len"], doc["sha"]), (size, eslib.sha256(payload)), "body at the origin")
    window(t100, 2.0, "100 Continue")
    return f"100 after {t100:.2f}s, then 200, body intact"


def c11a_client_fin(m):
    c = client(m.p["fin"])
    try:
        _upgrade(c, "c11a", "upgrade-fin")
        c.send(b"hello\n")
        check_eq(eslib.recv_exact(c.sock, 9, 3, "echo and bye"), b"hello\nbye", "echo then bye")
        how, data, secs = eslib.wait_eof(c.sock, 3)
        check_eq((how, data), ("eof", b""), "the server's FIN forwarded to the client")
        # the client stays silent with its side open; the origin says when the proxy closed
        try:
            rec = origin_result(m.origin, "c11a", 6 + SLACK + 1)
        except Failure:
            raise Failure("the proxy did not close a tunnel whose server half-closed and whose "
                          "client stayed silent (timeout client-fin 1s, tunnel 6s)")
    finally:
        c.close()
    secs = rec["t_eof"] - rec["t_fin"]
    # HAProxy 2.6 ends the whole tunnel as soon as it has forwarded the server's FIN (its H1 mux
    # keeps no half-closed tunnel), which is sooner than client-fin: only the upper bound is the
    # rule, timeout tunnel 6s must not keep a half-closed tunnel
    check(secs <= T + SLACK, f"the tunnel lived {secs:.2f}s after the server's FIN (timeout client-fin 1s, "
                             f"tunnel 6s): expected a close within {T + SLACK:.1f}s")
    return f"closed {secs:.2f}s after the server's FIN"


def c11b_server_fin(m):
    c = client(m.p["fin"])
    try:
        _upgrade(c, "c11b", "upgrade-hold")
        c.send(b"hello\n")
        check_eq(eslib.recv_exact(c.sock, 6, 3, "echo"), b"hello\n", "echo")
        t0 = time.monotonic()
        c.sock.shutdown(socket.SHUT_WR)
        how, data, secs = eslib.wait_eof(c.sock, 6 + SLACK + 1)
        secs = time.monotonic() - t0
    finally:
        c.close()
    # the server answers 0.3 s after the client's FIN, then stays silent: that answer must reach
    # the client (a half-close is forwarded, the other direction stays open), and server-fin,
    # counted from the server's last byte, ends it
    check_eq(data, b"late\n", f"what the server sent after the client's FIN ({how} after {secs:.2f}s)")
    check(how in ("eof", "reset"), "tunnel not closed after the client's FIN with a silent server "
                                   "(timeout server-fin 1s, tunnel 6s)")
    window(secs - 0.3, T, "close after the server's last byte (timeout server-fin 1s, not tunnel 6s)")
    return f"late answer received, {how} {secs:.2f}s after the client's FIN"


def c11c_halfclosed_waiting(m):
    c = client(m.p["c1"])
    try:
        t0 = time.monotonic()
        c.send(req("GET", "/think/2000/1000?t=c11c"))
        c.sock.shutdown(socket.SHUT_WR)
        try:
            r = c.read_response(timeout=2 + 5)
        except Failure as e:
            raise Failure(f"half-closed client waiting 2 s for its response (timeout client 1s, "
                          f"client-fin 1s): {e} (after {time.monotonic() - t0:.2f}s)")
        dt = time.monotonic() - t0
    finally:
        c.close()
    check_eq((r.status, r.body_sha256), (200, body_sha(1000)), "status and body sha256")
    window(dt, 2.0, "response")
    return f"200 after {dt:.2f}s"


def c12_connect_refused(m):
    t0 = time.monotonic()
    r = eslib.http_get(m.p["ref"], "/think/0?t=c12", timeout=10)
    dt = time.monotonic() - t0
    check_eq(r.status, 503, "status when the server refuses every connect")
    check(dt <= 1 + SLACK + 1, f"503 after {dt:.2f}s (timeout connect 500ms, retries 1)")
    return f"503 after {dt:.2f}s"


CELLS = [c1_think_client, c2_think_server, c3a_headpause_client, c3b_headpause_server,
         c4_upload_slowread, c5a_body_pause, c5b_body_pause_early, c5c_body_short_pause,
         c6a_slow_reader, c6b_stopped_reader, c6c_paused_reader, c7a_drip, c7b_head_in_time, c7c_keepalive_idle,
         c7d_keepalive_reuse, c8a_queue_expires, c8b_queue_waits, c9_tunnel, c10_continue,
         c11a_client_fin, c11b_server_fin, c11c_halfclosed_waiting, c12_connect_refused]

# Termination states (first two letters of %tsc) where they are unambiguous.
LOG_STATES = {"c1": "--", "c2": "sH", "c3b": "sD", "c5b": "cD", "c6b": "cD", "c7a": "cR",
              "c8a": "sQ", "c11b": "sD", "c12": "SC"}
HTTPLOG = re.compile(r'^\S+ \[[^\]]+\] (?P<fe>\S+) (?P<bs>\S+) (?P<timers>\S+) (?P<status>-?\d+) '
                     r'(?P<bytes>\+?\d+) \S+ \S+ (?P<ts>\S{4}) .*"(?P<req>[^"]*)"$')


class Matrix:
    def __init__(self, origin, ports):
        self.origin = origin
        self.p = ports


def log_states(text):
    """{tag: termination state} from httplog lines; the 408 of c7a (no request line) under 'c7a'."""
    out = {}
    for line in text.splitlines():
        mm = HTTPLOG.match(line.strip())
        if not mm:
            continue
        tag = re.search(r"[?&]t=(\w+)", mm.group("req"))
        if tag:
            out[tag.group(1)] = mm.group("ts")
        elif mm.group("fe") == "fe_hr" and mm.group("status") == "408":
            out["c7a"] = mm.group("ts")
    return out


def main(h):
    origin = h.threaded_server(origin_handler, name="origin", conn_timeout=20)
    # small receive windows at the origin (inherited by accepted sockets), so a slow reader pushes
    # back on the proxy (c4) instead of megabytes vanishing into autotuned kernel buffers
    origin.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
    names = ["c1", "s1", "hr", "q1", "q4", "tun", "fin", "ref"]
    p = {n: eslib.free_port() for n in names}
    dead = eslib.free_port()  # nothing listens there
    sock = h.sock_path()
    o = f"{L}:{origin.port}"

    def fe(name, port, body, be):
        return eslib.section(f"frontend fe_{name}", f"""
            bind {L}:{port}
            log stdout format raw local0
            option httplog
            {body}
            default_backend {be}""")

    cfg = (eslib.http_global(sock)
           + eslib.http_defaults(connect="1s", client="5s", server="5s")
           + fe("c1", p["c1"], "timeout client 1s\ntimeout client-fin 1s", "be_s5")
           + fe("s1", p["s1"], "timeout client 5s", "be_s1")
           + fe("hr", p["hr"], "timeout client 5s\ntimeout http-request 1s\ntimeout http-keep-alive 1s",
                "be_s5")
           + fe("q1", p["q1"], "timeout client 5s", "be_q1")
           + fe("q4", p["q4"], "timeout client 5s", "be_q4")
           + fe("tun", p["tun"], "timeout client 1s", "be_tun")
           + fe("fin", p["fin"], "timeout client 5s\ntimeout client-fin 1s", "be_fin")
           + fe("ref", p["ref"], "timeout client 5s", "be_ref")
           + eslib.section("backend be_s5", f"timeout server 5s\nserver s {o}")
           + eslib.section("backend be_s1", f"timeout server 1s\nserver s {o}")
           + eslib.section("backend be_q1", f"timeout server 5s\ntimeout queue 1s\nserver s {o} maxconn 1")
           + eslib.section("backend be_q4", f"timeout server 5s\ntimeout queue 4s\nserver s {o} maxconn 1")
           + eslib.section("backend be_tun", f"timeout server 1s\ntimeout tunnel 3s\nserver s {o}")
           + eslib.section("backend be_fin", f"timeout server 5s\ntimeout tunnel 6s\ntimeout server-fin 1s\n"
                                             f"server s {o}")
           + eslib.section("backend be_ref", f"timeout connect 500ms\nretries 1\nserver s {L}:{dead}"))
    proxy = eslib.start_proxy(h, cfg, ports=list(p.values()), sock=sock)
    m = Matrix(origin, p)

    t0 = time.monotonic()
    results = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(CELLS))
    futs = {pool.submit(cell, m): cell.__name__ for cell in CELLS}
    try:
        for f in concurrent.futures.as_completed(futs, timeout=45):
            name = futs[f]
            try:
                results[name] = (True, f.result())
            except Failure as e:
                results[name] = (False, str(e))
            except Exception as e:  # noqa: BLE001 - a broken cell is a failed cell
                results[name] = (False, f"unexpected {type(e).__name__}: {e}")
    except concurrent.futures.TimeoutError:
        pass  # the cells still running are reported as not finished
    pool.shutdown(wait=False)
    log(f"{len(CELLS)} cells in {time.monotonic() - t0:.1f}s")
    for cell in CELLS:
        ok, what = results.get(cell.__name__, (False, "did not finish"))
        log(f"  {'ok  ' if ok else 'FAIL'} {cell.__name__}: {what}")

    # termination states in the access log
    def have_all():
        st = log_states(proxy.stdout_text())
        return st if all(k in st for k in LOG_STATES) else None
    try:
        states = eslib.poll_until(have_all, 5, what="access-log lines of the logged cells")
    except Failure:
        states = log_states(proxy.stdout_text())
    log(f"  termination states: {dict(sorted(states.items()))}")
    bad_log = [f"{k}: {states.get(k)!r} (expected {v}..)" for k, v in LOG_STATES.items()
               if (states.get(k) or "")[:2] != v]

    text = proxy.stdout_text()
    for n, (ok, _) in sorted(results.items()):
        if not ok:  # the access-log lines of a failed cell help to read its failure
            tag = n.split("_")[0]
            for line in text.splitlines():
                if re.search(rf"[?&]t={tag}[a-z0-9]*\b", line):
                    log(f"  log of {n}: {line.strip()}")
    failed = [f"{n}: {w}" for n, (ok, w) in results.items() if not ok]
    failed += [f"{c.__name__}: did not finish" for c in CELLS if c.__name__ not in results]
    if bad_log:
        failed.append("termination states: " + "; ".join(bad_log))
    with origin.lock:
        if origin.errors:
            failed.append(f"origin handler errors: {origin.errors[:3]}")
    check(not failed, f"{len(failed)} cell(s) failed:\n  " + "\n  ".join(failed))


if __name__ == "__main__":
    eslib.run_http(main)
