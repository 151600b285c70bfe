#!/usr/bin/env python3
"""TLS passthrough routed by SNI in `mode tcp` (`tcp-request inspect-delay`, `tcp-request content
accept|reject`, `use_backend ... if { req.ssl_sni ... }`), against three `openssl s_server` backends,
each with a certificate of its own, so the certificate a client sees names the backend it reached:
  - `-servername a.example` -> be_a (exact, -i), `x.b.example` -> be_b (`-m end`), no SNI and an
    unknown name -> be_def; checked with openssl s_client (the subject's CN) and Python ssl (the DER);
  - a ClientHello sent in small pieces (its record header one byte at a time, then 7-byte pieces
    with pauses) still routes on its SNI once it is whole;
  - plain bytes (not a TLS hello) are rejected at once (not after the delay) and counted as dreq;
  - a client that sends nothing is closed when a short inspect-delay (500 ms) ends, also dreq;
  - `tcp-request connection reject if { dst_port P }` refuses connections on one of two binds at
    accept, counted as dcon;
  - 32 MiB downloaded through the routed session are byte-exact (sha256);
  - a FIN right behind the first bytes is forwarded after them; half a hello and a FIN is
    rejected at once (dreq);
  - held bytes keep their order: `accept if { req.len ge 1000 }` in front of an echo server, with
    200 KB sent at once and after a 10-byte first piece (the hold, a full hold, the queue behind it
    and what arrives while connecting all come back in order).
The same configuration runs against HAProxy 2.6 with ES_TEST_PEER=haproxy.
"""
import hashlib
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

BIG = 32 * MiB


def make_cert(h, name, cn):
    key, crt = h.path(f"{name}.key"), h.path(f"{name}.crt")
    r = h.run_cmd(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={cn}"], timeout=20)
    check_eq(r.returncode, 0, f"openssl req for {cn}: {r.stderr}")
    return key, crt


def s_client_cn(h, port, sni):
    """The CN of the certificate openssl s_client sees through the proxy (None: no handshake)."""
    args = ["-servername", sni] if sni else ["-noservername"]
    r = h.run_cmd(["openssl", "s_client", "-connect", f"{eslib.LOCALHOST}:{port}", *args],
                  timeout=15)
    out = r.stdout + r.stderr
    for line in out.splitlines():
        if line.startswith("subject=") and "CN" in line:
            return line.split("CN", 1)[1].lstrip(" =").split(",")[0].strip()
    return None


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def python_peer_der(port, sni):
    with socket.create_connection((eslib.LOCALHOST, port), timeout=10) as raw:
        with client_ctx().wrap_socket(raw, server_hostname=sni) as s:
            return s.getpeercert(binary_form=True)


def python_hello(sni):
    """The ClientHello record Python's OpenSSL would send for `sni`."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def slow_hello_der(port, sni):
    """Handshake over a raw socket through memory BIOs, sending the ClientHello in small pieces with
    pauses; returns the server certificate (DER) and the pieces sent."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    check(len(hello) > 40 and hello[0] == 0x16, f"a ClientHello record ({len(hello)} bytes)")
    raw = socket.create_connection((eslib.LOCALHOST, port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pieces = [hello[i:i + 1] for i in range(9)]  # record header and handshake header, byte by byte
    pieces += [hello[i:i + 7] for i in range(9, len(hello), 7)]
    for p in pieces:
        raw.sendall(p)
        time.sleep(0.004)
    dl = eslib.Deadline(10)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                raw.sendall(pending)
            check(not dl.expired(), "slow-hello handshake did not finish within 10 s")
            data = raw.recv(65536)
            check(data, "the proxy closed the slow-hello connection")
            inc.write(data)
    pending = out.read()
    if pending:
        raw.sendall(pending)
    der = obj.getpeercert(binary_form=True)
    raw.close()
    return der, len(pieces)


def expect_closed(port, payload, within, what):
    """Connects, sends `payload`, and returns how long the proxy took to close (EOF or reset; a reset
    may come before connect() returns: HAProxy resets a connection it rejects at accept)."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection((eslib.LOCALHOST, port), timeout=within)
    except ConnectionResetError:
        return time.monotonic() - t0
    with s:
        if payload:
            s.sendall(payload)
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            raise eslib.Failure(f"{what}: still open after {within}s")
        check_eq(data, b"", f"{what}: bytes received from the proxy")
    return time.monotonic() - t0


def download(port, sni, path, n):
    """GET `path` from an `openssl s_server -WWW` backend through the proxy; sha256 of the body."""
    with socket.create_connection((eslib.LOCALHOST, port), timeout=30) as raw:
        with client_ctx().wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(f"GET /{path} HTTP/1.0\r\n\r\n".encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                check(chunk, f"download: EOF before the head ({buf[:200]!r})")
                buf += chunk
            head, body = buf.split(b"\r\n\r\n", 1)
            check(head.startswith(b"HTTP/1.0 200"), f"download: status line {head[:60]!r}")
            hsh = hashlib.sha256(body)
            got = len(body)
            while True:
                try:
                    chunk = s.recv(1 << 20)
                except (ssl.SSLEOFError, ConnectionResetError):
                    break
                if not chunk:
                    break
                hsh.update(chunk)
                got += len(chunk)
            check_eq(got, n, "download: body length")
            return hsh.hexdigest()


def main(h):
    port, port_deny, port_short, port_len = (eslib.free_port(), eslib.free_port(), eslib.free_port(),
                                             eslib.free_port())
    echo = h.echo_server()
    sock = h.sock_path()
    backends = {}
    for name, cn in (("be_a", "a.test"), ("be_b", "b.test"), ("be_def", "def.test")):
        key, crt = make_cert(h, name, cn)
        root = h.path(f"www_{name}")
        os.makedirs(root, exist_ok=True)
        bport = eslib.free_port()
        h.spawn(["openssl", "s_server", "-accept", f"{eslib.LOCALHOST}:{bport}", "-cert", crt, "-key", key,
                 "-WWW", "-quiet", "-naccept", "1000"], f"s_server_{name}", cwd=root)
        with open(crt) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        backends[name] = {"port": bport, "cn": cn, "der": der, "root": root}
    eslib.wait_listening([b["port"] for b in backends.values()], 10)
    big = eslib.random_payload(BIG)
    with open(os.path.join(backends["be_a"]["root"], "big.bin"), "wb") as f:
        f.write(big)
    big_sha = hashlib.sha256(big).hexdigest()

    rules = """
        tcp-request content accept if { req_ssl_hello_type 1 }
        tcp-request content reject
        use_backend be_a if { req.ssl_sni -i a.example }
        use_backend be_b if { req_ssl_sni -m end .b.example }
        default_backend be_def
    """
    cfg = (eslib.global_section(sock, nbthread=2)
           + eslib.defaults_section(connect="2s", client="10s", server="10s")
           + eslib.section("frontend fe_sni", f"""
                bind {eslib.LOCALHOST}:{port}
                bind {eslib.LOCALHOST}:{port_deny}
                tcp-request inspect-delay 5s
                tcp-request connection reject if {{ dst_port {port_deny} }}
                {rules}
            """)
           + eslib.section("frontend fe_short", f"""
                bind {eslib.LOCALHOST}:{port_short}
                tcp-request inspect-delay 500ms
                {rules}
            """)
           + eslib.section("frontend fe_len", f"""
                bind {eslib.LOCALHOST}:{port_len}
                tcp-request inspect-delay 5s
                tcp-request content accept if {{ req.len ge 1000 }}
                tcp-request content reject
                default_backend be_echo
            """)
           + eslib.section("backend be_echo", f"server e {eslib.LOCALHOST}:{echo.port}"))
    for name, b in backends.items():
        cfg += eslib.section(f"backend {name}", f"server s1 {eslib.LOCALHOST}:{b['port']}")
    proxy = eslib.start_proxy(h, cfg, ports=[port, port_deny, port_short, port_len], sock=sock)

    # 1) SNI -> backend, as openssl s_client sees it
    for sni, be in (("a.example", "be_a"), ("A.EXAMPLE", "be_a"), ("x.b.example", "be_b"),
                    ("www.y.b.example", "be_b"), ("c.example", "be_def"), (None, "be_def"),
                    ("b.example", "be_def")):
        cn = s_client_cn(h, port, sni)
        check_eq(cn, backends[be]["cn"], f"s_client -servername {sni}: certificate CN")
    log("s_client: a.example, A.EXAMPLE -> be_a; *.b.example -> be_b; others and no SNI -> be_def")

    # 2) Python ssl: the exact certificate
    check(python_peer_der(port, "a.example") == backends["be_a"]["der"], "Python ssl a.example -> be_a")
    check(python_peer_der(port, None) == backends["be_def"]["der"], "Python ssl without SNI -> be_def")
    log("Python ssl: a.example -> be_a, no SNI -> be_def (certificates compared byte for byte)")

    # 3) a ClientHello in small pieces still routes
    t0 = time.monotonic()
    der, n = slow_hello_der(port, "z.b.example")
    check(der == backends["be_b"]["der"], "slow ClientHello for z.b.example -> be_b")
    log(f"slow ClientHello in {n} pieces over {time.monotonic() - t0:.2f}s -> be_b")

    # 4) plain bytes are rejected at once; nothing at all is closed when the delay ends
    took = expect_closed(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 3, "plain HTTP bytes")
    check(took < 2.0, f"plain bytes rejected in {took:.2f}s (expected at once, not after the 5 s delay)")
    took = expect_closed(port, b"\x16\x02\x00\x00\x04\x01\x00\x00\x00\x00", 3, "a handshake record of version 2.0")
    check(took < 2.0, f"a handshake record of version 2.0 rejected in {took:.2f}s")
    took = expect_closed(port_short, b"", 4, "silent client")
    check(0.4 <= took < 2.5, f"silent client closed after {took:.2f}s (inspect-delay 500ms)")
    log(f"plain bytes and an SSLv2-versioned record rejected at once; a silent client closed after {took:.2f}s")

    # 5) tcp-request connection reject on the second bind
    took = expect_closed(port_deny, b"", 3, "connection on the refused port")
    check(took < 1.0, f"connection reject took {took:.2f}s")
    log("tcp-request connection reject if { dst_port ... }: closed at accept")

    # 6) a large transfer through the routed session is byte-exact
    t0 = time.monotonic()
    check_eq(download(port, "a.example", "big.bin", BIG), big_sha, "sha256 of 32 MiB through be_a")
    log(f"32 MiB through be_a byte-exact ({time.monotonic() - t0:.2f}s)")

    # 7) held bytes, a full hold and the queue behind it come back in order
    for first in (None, 10):
        data = eslib.random_payload(200 * 1000)
        with socket.create_connection((eslib.LOCALHOST, port_len), timeout=10) as c:
            if first:
                c.sendall(data[:first])
                time.sleep(0.2)
                c.sendall(data[first:])
            else:
                c.sendall(data)
            got = eslib.recv_exact(c, len(data), timeout=10, what="echo through fe_len")
        check(got == data, f"200 KB echoed in order (first piece {first or 'all'})")
    log("req.len ge 1000: 200 KB at once and after a 10-byte piece come back in order")

    # 8) a FIN that comes with the first bytes is forwarded after them; a FIN in the middle of a
    #    hello ends the wait at once (nothing more can come: the hello is no hello, rejected)
    data = eslib.random_payload(3000)
    with socket.create_connection((eslib.LOCALHOST, port_len), timeout=10) as c:
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        got = eslib.recv_exact(c, len(data), timeout=10, what="echo of a half-closed client")
        check(got == data, "bytes before an early FIN echoed")
        how, rest, _ = eslib.wait_eof(c, 5)
        check(how == "eof" and rest == b"", f"the early FIN reached the echo server (EOF back): {how} {rest[:20]!r}")
    hello_half = python_hello("a.example")[:40]
    t0 = time.monotonic()
    with socket.create_connection((eslib.LOCALHOST, port), timeout=10) as c:
        c.sendall(hello_half)
        c.shutdown(socket.SHUT_WR)
        how, rest, _ = eslib.wait_eof(c, 3)
        check(how in ("eof", "reset") and rest == b"", f"half a hello and a FIN: closed ({how} {rest[:20]!r})")
    took = time.monotonic() - t0
    check(took < 2.0, f"half a hello and a FIN closed in {took:.2f}s (not after the 5 s delay)")
    log(f"early FIN forwarded after the held bytes; half a hello + FIN rejected in {took:.2f}s")

    # counters: 3 rejected requests on fe_sni, 1 on fe_short, 1 denied connection
    proxy.wait_stat("fe_sni", "FRONTEND", "scur", lambda v: v == 0, timeout=10, what="fe_sni scur == 0")
    proxy.expect_counters("fe_sni", "FRONTEND", {"dreq": 3, "dcon": 1}, what="fe_sni denials")
    proxy.expect_counters("fe_short", "FRONTEND", {"dreq": 1}, what="fe_short denials")
    proxy.expect_counters("be_a", "BACKEND", {"stot": 4}, what="be_a sessions")
    proxy.expect_counters("be_b", "BACKEND", {"stot": 3}, what="be_b sessions")
    proxy.expect_counters("be_def", "BACKEND", {"stot": 4}, what="be_def sessions")
    log("counters: fe_sni dreq=3 dcon=1, fe_short dreq=1, be_a/be_b/be_def stot 4/3/4")

    if eslib.edgeshard_only("-c warns about content rules without an inspect-delay"):
        bad = h.write("nodelay.cfg", eslib.defaults_section()
                      + eslib.section("frontend f", f"""
                            bind {eslib.LOCALHOST}:{eslib.free_port()}
                            tcp-request content accept if {{ req.ssl_hello_type 1 }}
                            default_backend b
                        """)
                      + eslib.section("backend b", f"server s {eslib.LOCALHOST}:1"))
        r = h.run_cmd([h.bin, "-c", "-f", bad], timeout=10)
        check_eq(r.returncode, 0, f"-c of a config without inspect-delay ({r.stderr})")
        with open(bad) as f:
            line = 1 + [i for i, l in enumerate(f.read().splitlines()) if "tcp-request content" in l][0]
        check(f"nodelay.cfg:{line}:" in r.stderr and "inspect-delay" in r.stderr,
              f"-c warns at the rule's line: {r.stderr!r}")
        log("-c: the rule without inspect-delay is warned about at its line")


if __name__ == "__main__":
    eslib.run_http(main)
