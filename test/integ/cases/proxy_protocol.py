#!/usr/bin/env python3
"""The PROXY protocol (v1 and v2), received and sent, in mode http and mode tcp, as HAProxy 2.6 does it
(the same file runs through HAProxy with ES_TEST_PEER=haproxy; every value asserted is what 2.6 shows).
  A. `bind ... accept-proxy` + `option forwardfor` (mode http): the origin's X-Forwarded-For is the
     address carried by the header: v1 TCP4/TCP6, v2 TCP4 with AUTHORITY, UNIQUE_ID, NOOP and a
     correct CRC32C TLV, v2 TCP4 without TLVs, v2 TCP6; header and request in one segment; both
     requests of a keep-alive connection; `curl --haproxy-protocol` (127.0.0.1). `PROXY UNKNOWN\r\n`
     and a v2 LOCAL (with or without an address block) are accepted and the real address is used.
  B. Bad headers: closed at once (EOF or reset, within 1.5 s; HAProxy 2.6 resets every one), no
     byte back, the origin gets nothing: no header, garbage, TCP5, TCP6 with IPv4 addresses, a v1
     line without CRLF (then more bytes) or with LF only, "PROXY UNKNOWN <addresses>" (2.6 accepts
     only the bare UNKNOWN), v2 PROXY with family UNSPEC (2.6 refuses it), v2 version 1, v2 command
     2, a bad CRC32C, a TLV running past the header, a TCP4 block of 4 bytes, and truncated headers
     (v2 cut in its addresses, v2 signature cut, v1 line cut) while the client waits: 2.6 does not
     wait for the rest, it resets at once. A silent client is closed (FIN) after `timeout client`
     (1 s). Out-of-range v1 numbers (999.1.1.1, port 70000) are refused on edgeshard; HAProxy 2.6
     wraps them (231.1.1.1, 4464) and serves the request (asserted against the peer only).
  C. mode tcp + accept-proxy: the bytes after the header are echoed exactly (the header stripped):
     header and payload in one send, header then payload, 100 KB after a v2 TCP6 header, PROXY
     UNKNOWN; no header -> closed.
  D. `send-proxy` / `send-proxy-v2` (mode http and tcp) to servers that parse the header: source =
     the client socket (getsockname), destination = the frontend; the exact v1 line; behind
     accept-proxy the carried addresses (v1 and v2, TCP4 and TCP6); `proxy-v2-options
     crc32c,authority`: valid CRC32C, the client's AUTHORITY forwarded (none invented), its
     UNIQUE_ID/NOOP not forwarded. HAProxy 2.6 sends the 2nd request of a client connection over
     the same server connection (one header per server connection); another client connection
     gets its own server connection and header. A LOCAL or UNKNOWN header received is sent on as a
     PROXY header with the real addresses. All options on a plain connection: CRC32C, AUTHORITY,
     an empty UNIQUE_ID, an SSL TLV of 5 zero bytes.
  E. `tcp-request connection expect-proxy layer4 if { src 127.0.0.1 }`: v1 and v2 headers are read,
     a plain request is closed; `if { src 10.0.0.0/8 }`: plain requests work, and a PROXY line is
     then a bad request (400).
  F. Logs (a UDP syslog receiver here, log-format "%ci:%cp %fi:%fp ..."): the carried addresses
     (v1 TCP4, v2 TCP6), the real ones after LOCAL. HAProxy 2.6's lines for bad headers and the
     handshake timeout, the same on both.
  G. TLS frontend (`verify optional`) + send-proxy-v2-ssl / send-proxy-v2-ssl-cn: the SSL TLV's
     client flags (0x01, 0x07 with a client certificate), verify 0, VERSION, CN, CIPHER sub-TLVs,
     AUTHORITY = the SNI.
"""
import json
import os
import re
import shutil
import socket
import ssl
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
GET = b"GET /%s HTTP/1.1\r\nHost: test.local\r\n\r\n"
CARRIED = ("192.0.2.10", "198.51.100.1", 40000, 80)
CARRIED6 = ("2001:db8::1", "2001:db8::2", 40000, 443)

# ---------------------------------------------------------------------------------------------
# PROXY protocol: CRC32C, building headers, parsing them
# ---------------------------------------------------------------------------------------------

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data):
    """CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as in RFC 3720."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def v1(src, dst, sport, dport):
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src=None, dst=None, sport=0, dport=0, tlvs=(), crc=False, bad_crc=False, ver_cmd=0x21,
       fam=None, raw_addr=None, tail=b""):
    """A v2 header. `tlvs` [(type, bytes)]; with `crc` a CRC32C TLV is appended (right value, or
    off by one with `bad_crc`). `raw_addr` replaces the address block, `tail` is added inside the
    announced length (used for broken TLVs)."""
    if raw_addr is not None:
        addr = raw_addr
    elif src is None:
        addr = b""
    elif ":" in src:
        addr = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                + struct.pack("!HH", sport, dport))
    else:
        addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    if fam is None:
        fam = 0x00 if src is None else (0x21 if ":" in src else 0x11)
    body = addr + b"".join(struct.pack("!BH", t, len(v)) + v for t, v in tlvs)
    if crc:
        body += struct.pack("!BH", 0x03, 4) + b"\0\0\0\0"
    body += tail
    hdr = SIG + struct.pack("!BBH", ver_cmd, fam, len(body)) + body
    if crc:
        c = (crc32c(hdr) + (1 if bad_crc else 0)) & 0xFFFFFFFF
        hdr = hdr[:-4 - len(tail)] + struct.pack("!I", c) + tail
    return hdr


class Reader:
    """Buffered reads from a socket, bounded by its timeout; `n_in` counts every byte received."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.n_in = 0

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.n_in += len(chunk)
        self.buf += chunk

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def until(self, sep, limit=65536):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ValueError(f"no {sep!r} within {limit} bytes: {bytes(self.buf[:100])!r}")
            self._fill()


def read_pp(r):
    """Reads and parses the PROXY header a proxy sent: a dict with ver, cmd, fam, src, dst, sport,
    dport, tlvs ({type: bytes}), tlv_order, crc_ok (None without a CRC32C TLV), raw."""
    first = r.exact(12)
    if first == SIG:
        rest = r.exact(4)
        ver_cmd, fam, n = struct.unpack("!BBH", rest)
        body = r.exact(n)
        raw = first + rest + body
        out = {"ver": ver_cmd >> 4, "cmd": {0: "LOCAL", 1: "PROXY"}.get(ver_cmd & 15, ver_cmd & 15),
               "famb": fam, "raw": raw, "tlvs": {}, "tlv_order": [], "crc_ok": None,
               "fam": {0x11: "TCP4", 0x21: "TCP6", 0x00: "UNSPEC"}.get(fam, hex(fam)),
               "src": None, "dst": None, "sport": None, "dport": None}
        off = 0
        if fam == 0x11:
            out["src"], out["dst"] = socket.inet_ntoa(body[0:4]), socket.inet_ntoa(body[4:8])
            out["sport"], out["dport"] = struct.unpack("!HH", body[8:12])
            off = 12
        elif fam == 0x21:
            out["src"] = socket.inet_ntop(socket.AF_INET6, body[0:16])
            out["dst"] = socket.inet_ntop(socket.AF_INET6, body[16:32])
            out["sport"], out["dport"] = struct.unpack("!HH", body[32:36])
            off = 36
        while off < len(body):
            if off + 3 > len(body):
                raise ValueError(f"TLV header cut at {off} in {body!r}")
            t, ln = struct.unpack("!BH", body[off:off + 3])
            if off + 3 + ln > len(body):
                raise ValueError(f"TLV {t:#x} of {ln} bytes runs past the header ({body!r})")
            val = body[off + 3:off + 3 + ln]
            out["tlvs"][t] = val
            out["tlv_order"].append(t)
            if t == 0x03:
                pos = 16 + off + 3
                zeroed = raw[:pos] + b"\0\0\0\0" + raw[pos + 4:]
                out["crc_ok"] = crc32c(zeroed) == struct.unpack("!I", val)[0]
            off += 3 + ln
        return out
    line = first + r.until(b"\r\n", limit=120)
    words = line[:-2].decode("latin-1").split(" ")
    out = {"ver": 1, "cmd": "PROXY", "fam": words[1] if len(words) > 1 else None, "raw": line,
           "tlvs": {}, "tlv_order": [], "crc_ok": None, "src": None, "dst": None, "sport": None, "dport": None}
    if words[0] != "PROXY":
        raise ValueError(f"not a PROXY header: {line!r}")
    if len(words) == 6:
        out.update(src=words[2], dst=words[3], sport=int(words[4]), dport=int(words[5]))
    return out


def addrs(pp):
    return (pp["fam"], pp["src"], pp["dst"], pp["sport"], pp["dport"])


# ---------------------------------------------------------------------------------------------
# Servers: an HTTP/1.1 origin (optionally behind send-proxy) and a PROXY-reading echo server
# ---------------------------------------------------------------------------------------------

class Origin:
    """Keep-alive HTTP/1.1 origin. Every response is JSON {xff, conn, seq, pp, path} (pp: the PROXY
    header of its connection, when `expect_pp`). Counts connections, requests, bytes received."""

    def __init__(self, h, name, expect_pp=False):
        self.expect_pp = expect_pp
        self.lock = threading.Lock()
        self.reqs = []
        self.pps = {}
        self.bytes_in = 0
        self.srv = h.threaded_server(self._handle, name=name, conn_timeout=10)
        self.port = self.srv.port

    @property
    def accepts(self):
        return self.srv.accepts

    def _handle(self, c, idx, srv):
        r = Reader(c)
        try:
            pp = None
            if self.expect_pp:
                pp = read_pp(r)
                with self.lock:
                    self.pps[idx] = pp
            for seq in range(1000):
                try:
                    head = r.until(b"\r\n\r\n")
                except (EOFError, ConnectionResetError):
                    return  # the proxy closed an idle server connection (HAProxy resets them)
                lines = head.decode("latin-1").split("\r\n")
                hdrs = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ":" in ln]
                xff = [v for n, v in hdrs if n.lower() == "x-forwarded-for"]
                path = lines[0].split(" ")[1] if " " in lines[0] else lines[0]
                rec = {"xff": xff, "conn": idx, "seq": seq, "path": path,
                       "pp": None if pp is None else {k: v for k, v in pp.items() if k != "raw" and k != "tlvs"}}
                with self.lock:
                    self.reqs.append(rec)
                body = json.dumps(rec).encode()
                close = any(n.lower() == "connection" and v.lower() == "close" for n, v in hdrs)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                          % (len(body), b"Connection: close\r\n" if close else b"") + body)
                if close:
                    return
        finally:
            with self.lock:
                self.bytes_in += r.n_in

    def count(self):
        with self.lock:
            return len(self.reqs)


class PPEcho:
    """mode tcp server behind send-proxy: reads the PROXY header, then echoes everything else."""

    def __init__(self, h, name):
        self.pps = {}
        self.lock = threading.Lock()
        self.srv = h.threaded_server(self._handle, name=name, conn_timeout=10)
        self.port = self.srv.port

    def _handle(self, c, idx, srv):
        r = Reader(c)
        pp = read_pp(r)
        with self.lock:
            self.pps[idx] = pp
        if r.buf:
            c.sendall(bytes(r.buf))
        for _ in range(100000):
            try:
                d = c.recv(65536)
            except ConnectionResetError:
                return
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)



# ---------------------------------------------------------------------------------------------
# Client helpers
# ---------------------------------------------------------------------------------------------

def pp_get(port, header, paths=("a",), headers=b""):
    """Sends `header` then one GET per path on one connection; returns (JSON bodies, client socket
    address). The connection is closed at the end."""
    c = eslib.HttpClient(port, timeout=5)
    try:
        me = c.sock.getsockname()
        c.send(header)
        out = []
        for p in paths:
            c.send(b"GET /%s HTTP/1.1\r\nHost: test.local\r\n%s\r\n" % (p.encode(), headers))
            r = c.read_response(timeout=5)
            check_eq(r.status, 200, f"status of GET /{p} after header {header[:60]!r}")
            out.append(json.loads(r.body))
        return out, me
    finally:
        c.close()


def expect_closed(port, data, what, bound=1.5):
    """Sends `data` (and keeps the connection open): the proxy must close it within `bound` seconds
    without sending a byte. Returns how it closed ('eof' or 'reset')."""
    s = eslib.connect(port)
    me = s.getsockname()
    try:
        try:
            s.sendall(data)
        except OSError as e:
            return f"reset at send ({e!r})", me[1]
        how, got, secs = eslib.wait_eof(s, bound + 2)
        check(how in ("eof", "reset"), f"{what}: the proxy must close the connection, it stayed open {secs:.1f}s")
        check_eq(got, b"", f"{what}: bytes the client received before the close")
        check(secs <= bound, f"{what}: closed after {secs:.2f}s, expected at once (<= {bound}s)")
        return how, me[1]
    finally:
        s.close()


def tcp_roundtrip(port, first, payload, one_send=False, timeout=10):
    """mode tcp: sends `first` (header) then `payload` (or both at once), half-closes, reads to EOF;
    returns (what came back, client socket address)."""
    s = eslib.connect(port, timeout=timeout)
    try:
        me = s.getsockname()
        if one_send:
            t, err = eslib.send_in_background(s, first + payload)
        else:
            s.sendall(first)
            time.sleep(0.05)  # the header alone first: a separate segment
            t, err = eslib.send_in_background(s, payload)
        got = bytearray()
        how, data, _ = eslib.wait_eof(s, timeout)
        got += data
        t.join(timeout)
        check(not err, f"tcp send failed: {err}")
        check_eq(how, "eof", f"tcp: how the echo connection ended ({len(got)} bytes)")
        return bytes(got), me
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------

def main(h):
    sock = h.sock_path()
    plain = Origin(h, "plain")
    o_sp1 = Origin(h, "o_sp1", expect_pp=True)
    o_sp2 = Origin(h, "o_sp2", expect_pp=True)
    o_sp2x = Origin(h, "o_sp2x", expect_pp=True)
    echo = h.echo_server(name="echo")
    e_sp1 = PPEcho(h, "e_sp1")
    e_sp2 = PPEcho(h, "e_sp2")
    ulog = eslib.UdpLog()
    h.servers.append(ulog)
    names = ["ap", "idle", "tcp_ap", "sp1", "ap_sp1", "sp2", "ap_sp2", "ap_sp2x", "tcp_sp1", "tcp_ap_sp2",
             "exp", "exp_no"]
    P = {n: eslib.free_port() for n in names}
    lf = '"%ci:%cp %fi:%fp %ft %b/%s %ST %{+Q}r"'
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults(client="5s")
           + eslib.section("frontend fe_ap", f"""
                bind {L}:{P['ap']} accept-proxy
                option forwardfor
                log {L}:{ulog.port} local0
                log-format {lf}
                default_backend be_plain""")
           + eslib.section("frontend fe_idle", f"""
                bind {L}:{P['idle']} accept-proxy
                timeout client 1s
                log {L}:{ulog.port} local0
                option httplog
                default_backend be_plain""")
           + eslib.section("frontend fe_tcp_ap", f"""
                mode tcp
                bind {L}:{P['tcp_ap']} accept-proxy
                default_backend be_echo""")
           + eslib.section("frontend fe_sp1", f"""
                bind {L}:{P['sp1']}
                default_backend be_sp1""")
           + eslib.section("frontend fe_ap_sp1", f"""
                bind {L}:{P['ap_sp1']} accept-proxy
                default_backend be_sp1""")
           + eslib.section("frontend fe_sp2", f"""
                bind {L}:{P['sp2']}
                default_backend be_sp2""")
           + eslib.section("frontend fe_ap_sp2", f"""
                bind {L}:{P['ap_sp2']} accept-proxy
                default_backend be_sp2""")
           + eslib.section("frontend fe_ap_sp2x", f"""
                bind {L}:{P['ap_sp2x']} accept-proxy
                default_backend be_sp2x""")
           + eslib.section("frontend fe_tcp_sp1", f"""
                mode tcp
                bind {L}:{P['tcp_sp1']}
                default_backend be_tcp_sp1""")
           + eslib.section("frontend fe_tcp_ap_sp2", f"""
                mode tcp
                bind {L}:{P['tcp_ap_sp2']} accept-proxy
                default_backend be_tcp_sp2""")
           + eslib.section("frontend fe_exp", f"""
                bind {L}:{P['exp']}
                tcp-request connection expect-proxy layer4 if {{ src 127.0.0.1 }}
                option forwardfor
                default_backend be_plain""")
           + eslib.section("frontend fe_exp_no", f"""
                bind {L}:{P['exp_no']}
                tcp-request connection expect-proxy layer4 if {{ src 10.0.0.0/8 }}
                option forwardfor
                default_backend be_plain""")
           + eslib.section("backend be_plain", f"server o {L}:{plain.port}")
           + eslib.section("backend be_echo", f"""
                mode tcp
                server e {L}:{echo.port}""")
           + eslib.section("backend be_sp1", f"server s {L}:{o_sp1.port} send-proxy")
           + eslib.section("backend be_sp2", f"server s {L}:{o_sp2.port} send-proxy-v2 proxy-v2-options crc32c,authority")
           + eslib.section("backend be_sp2x", f"server s {L}:{o_sp2x.port} send-proxy-v2 "
                           "proxy-v2-options crc32c,authority,ssl,ssl-cipher,cert-cn,unique-id")
           + eslib.section("backend be_tcp_sp1", f"""
                mode tcp
                server s {L}:{e_sp1.port} send-proxy""")
           + eslib.section("backend be_tcp_sp2", f"""
                mode tcp
                server s {L}:{e_sp2.port} send-proxy-v2 proxy-v2-options crc32c,authority"""))
    es = eslib.start_proxy(h, cfg, ports=list(P.values()), sock=sock)
    src4, dst4, sp4, dp4 = CARRIED
    src6, dst6, sp6, dp6 = CARRIED6
    tlvs = [(0x02, b"example.com"), (0x05, b"uid-42"), (0x04, b"\0\0\0")]

    # ---- A. accept-proxy, mode http: X-Forwarded-For is the carried address -------------------
    p = P["ap"]
    for what, hdr, want in [
            ("v1 TCP4", v1(*CARRIED), src4),
            ("v1 TCP6", v1(*CARRIED6), src6),
            ("v2 TCP4 with AUTHORITY, UNIQUE_ID, NOOP and CRC32C TLVs", v2(*CARRIED, tlvs=tlvs, crc=True), src4),
            ("v2 TCP4 without TLVs", v2(*CARRIED), src4),
            ("v2 TCP6 with CRC32C", v2(*CARRIED6, tlvs=tlvs[:1], crc=True), src6),
            ("PROXY UNKNOWN", b"PROXY UNKNOWN\r\n", L),
            ("v2 LOCAL", v2(ver_cmd=0x20), L),
            ("v2 LOCAL with TCP4 addresses (ignored)", v2(*CARRIED, ver_cmd=0x20), L),
            ] + ([] if not eslib.on_edgeshard() else [
            # the specification, where HAProxy 2.6 is stricter (see B): anything may follow UNKNOWN,
            # and a PROXY command with an unspecified family keeps the real address
            ("PROXY UNKNOWN followed by addresses", b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", L),
            ("v2 PROXY with family UNSPEC", v2(ver_cmd=0x21, fam=0x00), L),
            ]):
        bodies, me = pp_get(p, hdr)
        check_eq(bodies[0]["xff"], [want], f"accept-proxy {what}: X-Forwarded-For at the origin")
        log(f"A: {what}: XFF {bodies[0]['xff']}")
    bodies, _ = pp_get(p, v1(*CARRIED), paths=("k1", "k2"))
    check_eq([b["xff"] for b in bodies], [[src4], [src4]],
             "accept-proxy: both requests of one keep-alive connection carry the header's address")
    # header and request in a single send
    c = eslib.HttpClient(p)
    c.send(v2(*CARRIED, crc=True) + GET % b"one")
    r = c.read_response()
    c.close()
    check_eq(json.loads(r.body)["xff"], [src4], "v2 header and request in one segment")
    r = eslib.curl(h, ["--haproxy-protocol", f"http://{L}:{p}/curl"], timeout=10)
    check_eq(r.returncode, 0, f"curl --haproxy-protocol exit status (stderr {r.stderr!r})")
    check_eq(json.loads(r.stdout)["xff"], [L], "curl --haproxy-protocol: XFF is curl's real address")

    # ---- B. bad headers: closed at once, nothing reaches the origin ---------------------------
    n_acc, n_req = plain.accepts, plain.count()
    # (what, bytes, HAProxy 2.6's embryonic log message for it, see F)
    bad = [
        ("no header (plain HTTP)", GET % b"plain", NOT_PP),
        ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage garbage\r\n\r\n", NOT_PP),
        ("v1 family TCP5", b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n" + GET % b"b", UNHANDLED),
        ("v1 TCP6 with IPv4 addresses", b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n" + GET % b"b", INVALID),
        ("v1 line without CRLF, then more bytes", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2" + GET % b"b", INVALID),
        ("v1 line with LF only", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + GET % b"b", INVALID),
    ] + ([] if eslib.on_edgeshard() else [
        # HAProxy 2.6 accepts only exactly "PROXY UNKNOWN\r\n" (the spec allows anything up to CRLF)
        ("v1 UNKNOWN followed by addresses", b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n" + GET % b"b", UNHANDLED),
        # HAProxy 2.6 refuses a v2 PROXY command with family UNSPEC (the spec says: accept, use the real address)
        ("v2 PROXY with family UNSPEC", v2(ver_cmd=0x21, fam=0x00) + GET % b"b", INVALID),
    ]) + [
        ("v2 version nibble 1", v2(*CARRIED, ver_cmd=0x11) + GET % b"b", NOT_PP),
        ("v2 command 2", v2(*CARRIED, ver_cmd=0x22) + GET % b"b", INVALID),
        # these two are logged by HAProxy 2.6 with the header's addresses (set before the TLVs are read)
        ("v2 bad CRC32C", v2(*CARRIED, tlvs=tlvs[:1], crc=True, bad_crc=True) + GET % b"b", (INVALID, CARRIED)),
        ("v2 TLV length past the header", v2(*CARRIED, tail=struct.pack("!BH", 0x02, 50) + b"example.com")
         + GET % b"b", (INVALID, CARRIED)),
        ("v2 TCP4 with a 4-byte address block", v2(ver_cmd=0x21, fam=0x11, raw_addr=b"\x01\x02\x03\x04")
         + GET % b"b", INVALID),
        # truncated: the client sends part of a header and waits; HAProxy 2.6 does not wait for the rest
        ("truncated v2 (signature + 6 of 12 address bytes)", v2(*CARRIED)[:16 + 6], TRUNCATED),
        ("truncated v2 signature", SIG[:8], TRUNCATED),
        ("truncated v1 line", b"PROXY TCP4 192.0.2.10 198.", TRUNCATED),
    ]
    closed = {}
    for what, data, msg in bad:
        closed[what] = expect_closed(p, data, f"bad header: {what}") + (msg,)
    hows = {w: c[0] for w, c in closed.items()}
    log(f"B: how the proxy closed each bad header: {hows}")
    # a client that sends nothing: closed after `timeout client` (1 s on fe_idle)
    s = eslib.connect(P["idle"])
    how, got, secs = eslib.wait_eof(s, 5)
    s.close()
    check(how in ("eof", "reset") and got == b"", f"silent client: closed without data (got {how}, {got!r})")
    check(0.8 <= secs <= 2.5, f"silent client: closed after {secs:.2f}s, expected about `timeout client` 1s")
    log(f"B: silent client closed ({how}) after {secs:.2f}s")
    # barrier: a good request after them is the only thing the origin got
    bodies, _ = pp_get(p, v1(*CARRIED), paths=("barrier",))
    check_eq(plain.count() - n_req, 1, "requests at the origin during the bad headers (only the barrier)")
    check(plain.accepts - n_acc <= 1, f"origin connections during the bad headers: {plain.accepts - n_acc}")
    check_eq(plain.reqs[-1]["path"], "/barrier", "the only request that reached the origin")
    # out-of-range numbers in a v1 line
    for what, data, wrapped in [("v1 address 999.1.1.1", b"PROXY TCP4 999.1.1.1 198.51.100.1 40000 80\r\n", "231.1.1.1"),
                                ("v1 port 70000", b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n", "1.2.3.4")]:
        if eslib.edgeshard_only(f"{what} is refused (HAProxy 2.6 wraps it)"):
            expect_closed(p, data + GET % b"b", f"bad header: {what}")
        else:
            # HAProxy 2.6 reads each number without a range check and keeps the low bits: 999 -> 231
            # (999 % 256), port 70000 -> 4464 (70000 % 65536); the request goes through.
            bodies, _ = pp_get(p, data)
            check_eq(bodies[0]["xff"], [wrapped], f"HAProxy 2.6 accepts {what}, wrapped")

    # ---- C. accept-proxy, mode tcp ------------------------------------------------------------
    p = P["tcp_ap"]
    got, _ = tcp_roundtrip(p, v1(*CARRIED), b"hello tcp", one_send=True)
    check_eq(got, b"hello tcp", "mode tcp: v1 header + payload in one send, the payload echoed (header stripped)")
    got, _ = tcp_roundtrip(p, v2(*CARRIED, tlvs=tlvs, crc=True), b"after v2")
    check_eq(got, b"after v2", "mode tcp: v2 header then payload, the payload echoed")
    big = eslib.random_payload(100 * 1024)
    got, _ = tcp_roundtrip(p, v2(*CARRIED6, crc=True), big, one_send=True)
    check(got == big, f"mode tcp: 100 KB after a v2 header echoed exactly (got {len(got)} bytes)")
    got, _ = tcp_roundtrip(p, b"PROXY UNKNOWN\r\n", b"x" * 3000)
    check_eq(got, b"x" * 3000, "mode tcp: PROXY UNKNOWN then 3000 bytes")
    hows_tcp = expect_closed(p, b"hello without header", "mode tcp: no header")[0]
    log(f"C: mode tcp ok; no header -> {hows_tcp}")

    # ---- D. send-proxy (v1) in mode http --------------------------------------------------------
    p = P["sp1"]
    c = eslib.HttpClient(p)
    me = c.sock.getsockname()
    res = []
    for i in range(2):
        r = c.request(target=f"/sp1-{i}")
        check_eq(r.status, 200, f"send-proxy: GET /sp1-{i}")
        res.append(json.loads(r.body))
    c.close()
    pp1 = o_sp1.pps[res[0]["conn"]]
    check_eq(addrs(pp1), ("TCP4", me[0], L, me[1], p),
             "send-proxy v1: the header's source is the client socket, its destination the frontend")
    check_eq(pp1["raw"], f"PROXY TCP4 {me[0]} {L} {me[1]} {p}\r\n".encode(), "send-proxy v1: the exact line")
    # HAProxy 2.6: the second request of the same client connection goes over the same server
    # connection (its PROXY line is the same), so the header is sent once per server connection.
    check_eq((res[1]["conn"], res[1]["seq"]), (res[0]["conn"], 1),
             "send-proxy: the 2nd request of a client connection reuses its server connection (no 2nd header)")
    check_eq(len(o_sp1.pps), 1, "send-proxy: headers received by the origin for one client connection")
    bodies, me2 = pp_get(p, b"", paths=("sp1-other",))
    check(bodies[0]["conn"] != res[0]["conn"],
          "send-proxy: another client connection never gets the first client's server connection")
    check_eq(addrs(o_sp1.pps[bodies[0]["conn"]]), ("TCP4", L, L, me2[1], p),
             "send-proxy: the second client connection's header names that client")
    # behind accept-proxy: the carried addresses are sent on
    for what, hdr, want in [("v1 TCP4", v1(*CARRIED), ("TCP4",) + CARRIED),
                            ("v2 TCP6", v2(*CARRIED6, crc=True), ("TCP6",) + CARRIED6)]:
        bodies, me = pp_get(P["ap_sp1"], hdr)
        w = (want[0], want[1], want[2], want[3], want[4])
        check_eq(addrs(o_sp1.pps[bodies[0]["conn"]]), w, f"accept-proxy {what} -> send-proxy: the carried addresses")
    # LOCAL / UNKNOWN received -> the real addresses are sent on
    for what, hdr in [("v2 LOCAL", v2(ver_cmd=0x20)), ("PROXY UNKNOWN", b"PROXY UNKNOWN\r\n")]:
        bodies, me = pp_get(P["ap_sp1"], hdr)
        pp = o_sp1.pps[bodies[0]["conn"]]
        check_eq(pp["raw"], f"PROXY TCP4 {L} {L} {me[1]} {P['ap_sp1']}\r\n".encode(),
                 f"{what} received -> send-proxy sends the real addresses")

    # ---- D. send-proxy-v2 with crc32c,authority -------------------------------------------------
    p = P["sp2"]
    bodies, me = pp_get(p, b"", paths=("sp2-a", "sp2-b"))
    pp = o_sp2.pps[bodies[0]["conn"]]
    check_eq((pp["ver"], pp["cmd"]), (2, "PROXY"), "send-proxy-v2: version 2, command PROXY")
    check_eq(addrs(pp), ("TCP4", me[0], L, me[1], p), "send-proxy-v2: client socket -> frontend")
    check_eq(pp["crc_ok"], True, "send-proxy-v2 crc32c: the CRC32C TLV is present and right")
    check(0x02 not in pp["tlvs"], f"send-proxy-v2: no AUTHORITY without one from the client: {pp['tlvs']}")
    check_eq(pp["tlv_order"], [0x03], "send-proxy-v2 (plain client): TLVs sent")
    check_eq(bodies[1]["conn"], bodies[0]["conn"], "send-proxy-v2: 2nd request on the same server connection")
    for what, hdr, want, auth in [
            ("v2 TCP4 with AUTHORITY", v2(*CARRIED, tlvs=tlvs, crc=True), ("TCP4",) + CARRIED, b"example.com"),
            ("v2 TCP6 with AUTHORITY", v2(*CARRIED6, tlvs=[(0x02, b"www.example.org")]), ("TCP6",) + CARRIED6,
             b"www.example.org"),
            ("v1 TCP4", v1(*CARRIED), ("TCP4",) + CARRIED, None)]:
        bodies, me = pp_get(P["ap_sp2"], hdr)
        pp = o_sp2.pps[bodies[0]["conn"]]
        check_eq(addrs(pp), want, f"accept-proxy {what} -> send-proxy-v2: carried addresses")
        check_eq(pp["crc_ok"], True, f"accept-proxy {what} -> send-proxy-v2: CRC32C valid")
        check_eq(pp["tlvs"].get(0x02), auth, f"accept-proxy {what} -> send-proxy-v2 authority: AUTHORITY TLV")
        check(0x05 not in pp["tlvs"] and 0x04 not in pp["tlvs"],
              f"accept-proxy {what} -> send-proxy-v2: UNIQUE_ID / NOOP of the client are not forwarded: {pp['tlvs']}")
    bodies, me = pp_get(P["ap_sp2"], v2(ver_cmd=0x20))
    pp = o_sp2.pps[bodies[0]["conn"]]
    check_eq((pp["cmd"], addrs(pp)), ("PROXY", ("TCP4", L, L, me[1], P["ap_sp2"])),
             "v2 LOCAL received -> send-proxy-v2 sends a PROXY command with the real addresses")
    # every option: HAProxy 2.6 sends, for a plain (non-TLS) client connection without a unique-id-format:
    # AUTHORITY (from the client), CRC32C, an empty UNIQUE_ID, an SSL TLV with client flags 0 and no sub-TLV
    bodies, me = pp_get(P["ap_sp2x"], v2(*CARRIED, tlvs=tlvs, crc=True))
    pp = o_sp2x.pps[bodies[0]["conn"]]
    log(f"D: proxy-v2-options crc32c,authority,ssl,ssl-cipher,cert-cn,unique-id -> TLVs "
        f"{[(hex(t), pp['tlvs'][t]) for t in pp['tlv_order']]}")
    check_eq(pp["crc_ok"], True, "all proxy-v2-options: CRC32C valid")
    check_eq(pp["tlvs"].get(0x02), b"example.com", "all proxy-v2-options: AUTHORITY forwarded")
    check_eq(sorted(pp["tlv_order"]), sorted(SP2X_TLVS), "all proxy-v2-options, plain client: the TLV types sent")
    check_eq(pp["tlvs"].get(0x05), b"", "all proxy-v2-options: UNIQUE_ID is empty (no unique-id-format)")
    check_eq(pp["tlvs"].get(0x20), SP2X_SSL_TLV, "all proxy-v2-options: SSL TLV for a plain connection")

    # ---- D. send-proxy in mode tcp ---------------------------------------------------------------
    got, me = tcp_roundtrip(P["tcp_sp1"], b"", b"ping over tcp")
    check_eq(got, b"ping over tcp", "mode tcp send-proxy: payload echoed by the PROXY-reading server")
    pp = eslib.poll_until(lambda: list(e_sp1.pps.values()), 3, what="tcp send-proxy header")[-1]
    check_eq(pp["raw"], f"PROXY TCP4 {me[0]} {L} {me[1]} {P['tcp_sp1']}\r\n".encode(),
             "mode tcp send-proxy: the line names the client socket and the frontend")
    got, me = tcp_roundtrip(P["tcp_ap_sp2"], v2(*CARRIED, tlvs=tlvs[:1], crc=True), b"v2 over tcp" * 100,
                            one_send=True)
    check_eq(got, b"v2 over tcp" * 100, "mode tcp accept-proxy -> send-proxy-v2: payload echoed")
    pp = eslib.poll_until(lambda: list(e_sp2.pps.values()), 3, what="tcp send-proxy-v2 header")[-1]
    check_eq(addrs(pp), ("TCP4",) + CARRIED, "mode tcp accept-proxy -> send-proxy-v2: carried addresses")
    check_eq((pp["crc_ok"], pp["tlvs"].get(0x02)), (True, b"example.com"),
             "mode tcp send-proxy-v2: CRC32C valid, AUTHORITY forwarded")

    # ---- E. tcp-request connection expect-proxy layer4 ------------------------------------------
    bodies, _ = pp_get(P["exp"], v1(*CARRIED))
    check_eq(bodies[0]["xff"], [src4], "expect-proxy if { src 127.0.0.1 }: a v1 header is read, XFF carried")
    bodies, _ = pp_get(P["exp"], v2(*CARRIED6, crc=True))
    check_eq(bodies[0]["xff"], [src6], "expect-proxy if { src 127.0.0.1 }: a v2 header is read")
    n_req = plain.count()
    how = expect_closed(P["exp"], GET % b"exp-plain", "expect-proxy if { src 127.0.0.1 }: plain request")[0]
    bodies, _ = pp_get(P["exp_no"], b"", paths=("exp-no",))
    check_eq(bodies[0]["xff"], [L], "expect-proxy if { src 10.0.0.0/8 }: a plain request from 127.0.0.1 works")
    check_eq(plain.count() - n_req, 1, "the plain request to the expect-proxy frontend did not reach the origin")
    log(f"E: plain request where a header is expected -> {how}")
    c = eslib.HttpClient(P["exp_no"])
    c.send(v1(*CARRIED) + GET % b"exp-no-pp")
    r = c.read_response()
    c.close()
    check_eq(r.status, 400, "expect-proxy not applying: a PROXY line is a bad HTTP request (400)")

    # ---- F. logs ---------------------------------------------------------------------------------
    pp_get(P["ap"], v1(*CARRIED), paths=("logged4",))
    line = ulog.wait_for("/logged4")
    check(line.startswith(f"{src4}:{sp4} {dst4}:{dp4} fe_ap be_plain/o 200 "),
          f"log %ci:%cp %fi:%fp are the carried addresses (v1): {line!r}")
    pp_get(P["ap"], v2(*CARRIED6, crc=True), paths=("logged6",))
    line = ulog.wait_for("/logged6")
    check(line.startswith(f"{src6}:{sp6} {dst6}:{dp6} fe_ap "), f"log with carried TCP6 addresses: {line!r}")
    pp_get(P["ap"], v2(ver_cmd=0x20), paths=("logged_local",))
    line = ulog.wait_for("/logged_local")
    check(line.startswith(f"{L}:") and f" {L}:{P['ap']} fe_ap " in line, f"log after a LOCAL header: real addresses: {line!r}")
    errs = [x for x in ulog.lines if "/1: " in x or "fe_idle" in x]
    log("F: embryonic-error log lines seen:\n  " + "\n  ".join(errs))
    if True:
        # HAProxy 2.6 (without `option dontlognull`, with a log format set) logs each failed header as
        #   '<ci>:<cp> [<accept date>] <frontend>/<listener id>: <message>', e.g.
        #   '127.0.0.1:58282 [06/Dec/2026:20:25:05.906] fe_ap/1: Received something which does not look like a PROXY protocol header'
        # (<ci>:<cp> is the real address, or the header's one when it failed only in the TLVs).
        pat = re.compile(r"^([0-9a-f.:]+):(\d+) \[[^\]]+\] fe_ap/1: (.*)$")
        got = [(m.group(1), int(m.group(2)), m.group(3)) for m in (pat.match(x) for x in ulog.lines) if m]
        for what, (how, cport, msg) in closed.items():
            key = (L, cport) if isinstance(msg, str) else (msg[1][0], msg[1][2])
            msg = msg if isinstance(msg, str) else msg[0]
            check((key[0], key[1], msg) in got, f"HAProxy logs {key[0]}:{key[1]} ... fe_ap/1: {msg!r} for the "
                                                f"bad header {what!r}; lines: {got}")
        idle = [x for x in ulog.lines if " fe_idle/1: " in x]
        check(any(x.endswith(IDLE_MSG) for x in idle), f"HAProxy logs the silent client: {idle}")

    tls_checks(h)
    check(not plain.srv.errors and not o_sp1.srv.errors and not o_sp2.srv.errors,
          f"origin handler errors: {plain.srv.errors + o_sp1.srv.errors + o_sp2.srv.errors}")
    check(not e_sp1.srv.errors and not e_sp2.srv.errors, f"PP echo errors: {e_sp1.srv.errors + e_sp2.srv.errors}")
    es.running() or check(False, "the proxy exited")


def tls_get(port, cert=None, sni="site.test", path="tls", pp_header=b""):
    """One GET over TLS (client certificate `cert` if given, the server's not verified; `pp_header`
    sent in clear before the handshake); the JSON body."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert)
    with socket.create_connection((L, port), timeout=5) as raw:
        if pp_header:
            raw.sendall(pp_header)
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            version, cipher = s.version(), s.cipher()[0]
            s.sendall(b"GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path.encode(), sni.encode()))
            data = b""
            for _ in range(1000):
                try:
                    d = s.recv(65536)
                except (ssl.SSLError, OSError):
                    break
                if not d:
                    break
                data += d
    head, _, body = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), f"TLS GET /{path}: {data[:200]!r}")
    return json.loads(body), version, cipher


def ssl_tlv(val):
    """PP2_TYPE_SSL value: (client flags, verify, {sub-TLV type: bytes})."""
    subs, off = {}, 5
    while off + 3 <= len(val):
        t, ln = struct.unpack("!BH", val[off:off + 3])
        subs[t] = val[off + 3:off + 3 + ln]
        off += 3 + ln
    return val[0], struct.unpack("!I", val[1:5])[0], subs


def tls_checks(h):
    """G. send-proxy-v2-ssl / send-proxy-v2-ssl-cn behind a TLS frontend (`verify optional`): the SSL
    TLV's client flags, verify result and sub-TLVs, and AUTHORITY from the SNI."""
    if not shutil.which("openssl"):
        raise eslib.Skip("openssl is not installed")
    srv_ca = tls_lib.make_ca(h, "srvca", "Server CA")
    cli_ca = tls_lib.make_ca(h, "clica", "Client CA")
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"], ca=srv_ca)
    alice = tls_lib.make_client_cert(h, "alice", "alice", cli_ca)
    o_ssl = Origin(h, "o_ssl", expect_pp=True)
    o_cn = Origin(h, "o_cn", expect_pp=True)
    p_ssl, p_cn, p_ap = eslib.free_port(), eslib.free_port(), eslib.free_port()
    sock = h.sock_path("tls.sock")
    cfg = (eslib.http_global(sock) + eslib.http_defaults()
           + eslib.section("frontend fe_tls_ssl", f"""
                bind {L}:{p_ssl} ssl crt {site} ca-file {cli_ca[0]} verify optional
                default_backend be_ssl""")
           + eslib.section("frontend fe_tls_cn", f"""
                bind {L}:{p_cn} ssl crt {site} ca-file {cli_ca[0]} verify optional
                default_backend be_cn""")
           + eslib.section("frontend fe_tls_ap", f"""
                bind {L}:{p_ap} accept-proxy ssl crt {site}
                default_backend be_ssl""")
           + eslib.section("backend be_ssl", f"server s {L}:{o_ssl.port} send-proxy-v2-ssl")
           + eslib.section("backend be_cn", f"server s {L}:{o_cn.port} send-proxy-v2-ssl-cn "
                           "proxy-v2-options crc32c,authority,ssl-cipher"))
    eslib.start_proxy(h, cfg, ports=[p_ssl, p_cn, p_ap], sock=sock)
    # accept-proxy on a TLS bind: the header comes in clear, before the ClientHello
    body, version, _ = tls_get(p_ap, pp_header=v1(*CARRIED))
    pp = o_ssl.pps[body["conn"]]
    check_eq((pp["src"], pp["sport"]), (CARRIED[0], CARRIED[2]),
             "G: accept-proxy on a TLS bind: the carried client reaches the server's PROXY header")
    log(f"G: accept-proxy + ssl bind ({version}): the server saw {pp['src']}:{pp['sport']}")
    for port, origin, opts in [(p_ssl, o_ssl, "send-proxy-v2-ssl"), (p_cn, o_cn, "send-proxy-v2-ssl-cn crc32c,authority,ssl-cipher")]:
        for cert in (None, alice):
            body, version, cipher = tls_get(port, cert)
            pp = origin.pps[body["conn"]]
            with_cert = "with" if cert else "without"
            log(f"G: {opts}, client {with_cert} a certificate ({version}, {cipher}): TLVs "
                f"{[(hex(t), pp['tlvs'][t]) for t in pp['tlv_order']]}")
            check_eq(pp["fam"], "TCP4", f"G: {opts}: family")
            check(0x20 in pp["tlvs"], f"G: {opts} ({with_cert} a client certificate): an SSL TLV: {pp['tlvs']}")
            client, verify, subs = ssl_tlv(pp["tlvs"][0x20])
            want_flags = 0x07 if cert else 0x01  # PP2_CLIENT_SSL | (CERT_CONN | CERT_SESS with a certificate)
            check_eq(client, want_flags, f"G: {opts} ({with_cert} a client certificate): SSL TLV client flags")
            check_eq(verify, 0, f"G: {opts} ({with_cert} a client certificate): SSL TLV verify (0 = verified)")
            check_eq(subs.get(0x21), version.encode(), f"G: {opts}: SSL sub-TLV VERSION is the TLS version")
            if "ssl-cn" in opts:
                check_eq(subs.get(0x22), b"alice" if cert else None, f"G: {opts} ({with_cert} a certificate): CN sub-TLV")
                check_eq(subs.get(0x23), cipher.encode(), f"G: {opts}: CIPHER sub-TLV (ssl-cipher)")
                check_eq(pp["tlvs"].get(0x02), b"site.test", f"G: {opts}: AUTHORITY is the SNI")
                check_eq(pp["crc_ok"], True, f"G: {opts}: CRC32C valid")
            else:
                check(0x22 not in subs and 0x23 not in subs, f"G: {opts}: no CN, no CIPHER sub-TLV: {subs}")
                check(0x02 not in pp["tlvs"], f"G: {opts}: no AUTHORITY without the option: {pp['tlvs']}")


# What HAProxy 2.6 sends / logs (filled in from observation)
SP2X_TLVS = [0x02, 0x03, 0x05, 0x20]
SP2X_SSL_TLV = b"\x00\x00\x00\x00\x00"
NOT_PP = "Received something which does not look like a PROXY protocol header"
INVALID = "Received an invalid PROXY protocol header"
UNHANDLED = "Received an unhandled protocol in the PROXY protocol header"
TRUNCATED = "Truncated PROXY protocol header received"
IDLE_MSG = "Timeout while waiting for PROXY protocol header"

if __name__ == "__main__":
    eslib.run_http(main)
