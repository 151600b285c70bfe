#!/usr/bin/env python3
"""TLS termination on an HTTP frontend (`bind ... ssl crt A crt B crt C alpn http/1.1`), with real
clients (curl, openssl s_client, Python's ssl) and certificates made by `openssl req` for the test:
  - SNI picks the certificate: an exact name, a one-label wildcard, the first (default) for no SNI
    and for an unknown name; s_client sees the expected subject each time;
  - TLS 1.3 and, with the client capped, TLS 1.2; ALPN agrees on http/1.1;
  - bodies byte-exact both ways through TLS: a 64 MiB download (curl, sha256 of what it wrote) and a
    64 MiB upload (Python ssl client; the origin's sha256), and three requests on one connection
    (keep-alive through the record layer);
  - a response with `Connection: close` ends with close_notify (Python sees a clean TLS close, not a
    truncation);
  - hostile handshakes: plain HTTP on the TLS port and a truncated ClientHello are closed without
    reaching the origin, and a good client is served right after;
  - `-c` names the bind line of a missing certificate (edgeshard only).
The same configuration runs against HAProxy with ES_TEST_PEER=haproxy.
"""
import hashlib
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import http_origin  # noqa: E402
import tls_lib  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

BIG = 64 * MiB


make_cert = tls_lib.make_cert
s_client = tls_lib.s_client


def tls_client(port, sni="site.test", cafile=None):
    """An eslib.HttpClient whose socket speaks TLS (verifying against `cafile`)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = cafile is not None
    if cafile is None:
        ctx.verify_mode = ssl.CERT_NONE
    c = eslib.HttpClient(port, timeout=20)
    c.sock = ctx.wrap_socket(c.sock, server_hostname=sni, suppress_ragged_eofs=False)
    return c


def upload(port, n, cafile):
    """POST /echo with an n-byte pattern body over TLS; returns the origin's JSON answer. The body is
    sent in full before the response is read: one SSL object must not be read and written from two
    threads at once (the origin answers only once it has the whole body)."""
    c = tls_client(port, cafile=cafile)
    try:
        c.send(eslib.http_request_bytes("POST", "/echo", [("Content-Length", str(n)), ("Host", "site.test")]))
        off = 0
        while off < n:
            k = min(65521, n - off)
            c.sock.sendall(http_origin.pattern_slice(off, k))
            off += k
        r = c.read_response(timeout=120)
        check_eq(r.status, 200, f"TLS POST of {n} bytes: status ({r.brief()})")
        return r.json()
    finally:
        c.close()


def main(h):
    site = make_cert(h, "site", "site.test", ["site.test"])
    other = make_cert(h, "other", "other.test", ["other.test", "www.other.test"])
    wild = make_cert(h, "wild", "wild.test", ["*.wild.test"])
    tls_port = eslib.free_port()
    px = fixture.proxy_to_origin(
        h, origin_opts={"conn_timeout": 120}, client="30s", server="30s", ports=(tls_port,),
        fe_lines=f"bind {eslib.LOCALHOST}:{tls_port} ssl crt {site} crt {other} crt {wild} alpn http/1.1\n"
                 "http-request set-header X-Forwarded-Proto https if { ssl_fc }\n"
                 "http-request set-header X-Forwarded-Proto http unless { ssl_fc }\n"
                 "http-request set-header X-Sni-Other yes if { ssl_fc_sni -i other.test }\n"
                 "http-request set-header X-Tls13 yes if { ssl_fc_protocol TLSv1.3 }\n"
                 "http-request set-header X-Tls %[ssl_fc],%[ssl_fc_protocol],%[ssl_fc_sni]\n"
                 "http-request set-header X-Alpn-H1 yes if { ssl_fc_alpn http/1.1 }\n"
                 "http-request redirect scheme https code 301 if { hdr(host) -i redirect.test } !{ ssl_fc }")
    origin = px.origin
    base_reqs = origin.request_count()

    # ---- SNI selection (s_client prints the peer certificate's subject)
    for sni, cn in (("site.test", "site.test"), ("other.test", "other.test"), ("www.other.test", "other.test"),
                    ("a.wild.test", "wild.test"), ("b.a.wild.test", "site.test"), ("unknown.test", "site.test"),
                    (None, "site.test")):
        out = s_client(h, tls_port, ["-servername", sni] if sni else ["-noservername"])
        check(f"CN = {cn}" in out or f"CN={cn}" in out,
              f"SNI {sni or '(none)'}: expected the certificate of {cn}; s_client said:\n{out[-800:]}")
    log("SNI: exact, wildcard (one label), unknown and no SNI pick the expected certificates")

    # ---- versions and ALPN
    out = s_client(h, tls_port, ["-servername", "site.test"])
    check("Protocol version: TLSv1.3" in out, f"TLS 1.3 expected by default:\n{out[-800:]}")
    out = s_client(h, tls_port, ["-servername", "site.test", "-alpn", "h2,http/1.1"], brief=False)
    check("ALPN protocol: http/1.1" in out, f"ALPN http/1.1 expected (h2 offered first):\n{out[-800:]}")
    out = s_client(h, tls_port, ["-servername", "site.test", "-tls1_2"])
    check("Protocol version: TLSv1.2" in out, f"TLS 1.2 when the client caps it:\n{out[-800:]}")

    # ---- ssl_fc and friends in rules: the same frontend has a plain and a TLS bind
    plain = eslib.http_get(px.fe, "/echo").json()["headers"]
    hdrs = {k.lower(): v for k, v in plain}
    check_eq(hdrs.get("x-forwarded-proto"), "http", "plain bind: X-Forwarded-Proto from `unless { ssl_fc }`")
    check("x-sni-other" not in hdrs and "x-tls13" not in hdrs, f"plain bind: no TLS facts: {plain}")
    check_eq(hdrs.get("x-tls"), "0,,", "plain bind: ssl_fc is 0, the other TLS values empty")
    c = tls_client(tls_port, sni="other.test")
    c.send(eslib.http_request_bytes("GET", "/echo", [("Host", "other.test")]))
    doc = c.read_response(timeout=10).json()
    c.close()
    hdrs = {k.lower(): v for k, v in doc["headers"]}
    check_eq((hdrs.get("x-forwarded-proto"), hdrs.get("x-sni-other"), hdrs.get("x-tls13")), ("https", "yes", "yes"),
             f"TLS bind, SNI other.test: headers set by ssl_fc / ssl_fc_sni / ssl_fc_protocol rules: {doc['headers']}")
    check("x-alpn-h1" not in hdrs, "no ALPN was offered by this client: ssl_fc_alpn matches nothing")
    check_eq(hdrs.get("x-tls"), "1,TLSv1.3,other.test", "ssl_fc, ssl_fc_protocol, ssl_fc_sni in a header value")
    r = eslib.http_get(px.fe, "/x?y=1", host="redirect.test")
    check_eq((r.status, r.header("location")), (301, "https://redirect.test/x?y=1"),
             "`redirect scheme https ... !{ ssl_fc }` on the plain bind")
    c = tls_client(tls_port)
    c.send(eslib.http_request_bytes("GET", "/x", [("Host", "redirect.test")]))
    check_eq(c.read_response(timeout=10).status, 200, "no redirect on the TLS bind")
    c.close()
    log("rules: ssl_fc, ssl_fc_sni, ssl_fc_protocol, ssl_fc_alpn and `redirect scheme https` behave")

    # ---- 64 MiB download with curl, verified against the site certificate
    dest = h.path("big.bin")
    r = h.run_cmd(["curl", "-sS", "--cacert", site, "--resolve", f"site.test:{tls_port}:{eslib.LOCALHOST}",
                   "-o", dest, "-w", "%{http_code} %{size_download}",
                   f"https://site.test:{tls_port}/bytes/{BIG}"], timeout=120)
    check_eq(r.returncode, 0, f"curl 64 MiB over TLS: {r.stderr}")
    check_eq(r.stdout.split(), ["200", str(BIG)], "curl 64 MiB over TLS: status and size")
    with open(dest, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    os.unlink(dest)
    check_eq(got, http_origin.pattern_sha256(BIG), "64 MiB download over TLS: sha256")
    log("64 MiB download over TLS (curl): byte-exact")

    # ---- 64 MiB upload, Python ssl client
    doc = upload(tls_port, BIG, site)
    check_eq((doc["body_len"], doc["body_sha256"]), (BIG, http_origin.pattern_sha256(BIG)),
             "64 MiB upload over TLS: length and sha256 at the origin")
    log("64 MiB upload over TLS: byte-exact at the origin")

    # ---- keep-alive through the record layer, then a close with close_notify
    c = tls_client(tls_port, cafile=site)
    for i in range(3):
        c.send(eslib.http_request_bytes("GET", f"/bytes/{1000 + i}", [("Host", "site.test")]))
        resp = c.read_response(timeout=10)
        check_eq((resp.status, resp.body_len), (200, 1000 + i), f"request {i + 1} on one TLS connection")
    c.send(eslib.http_request_bytes("GET", "/bytes/10", [("Host", "site.test"), ("Connection", "close")]))
    resp = c.read_response(timeout=10)
    check_eq(resp.status, 200, "the last request on the TLS connection")
    try:
        tail = c.sock.recv(100)
        check_eq(tail, b"", "after the response to `Connection: close`: a clean TLS close")
    except ssl.SSLEOFError as e:
        raise eslib.Failure(f"the proxy closed the TLS connection without close_notify: {e}")
    c.close()
    log("keep-alive: 3 requests on one TLS connection; `Connection: close` ends with close_notify")

    # ---- hostile handshakes: nothing reaches the origin, the next client is served
    before = origin.request_count()
    s = socket.create_connection((eslib.LOCALHOST, tls_port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    check(not data.startswith(b"HTTP/"), f"plain HTTP on the TLS port was answered in clear: {data[:60]!r}")
    s = socket.create_connection((eslib.LOCALHOST, tls_port), timeout=5)
    s.sendall(bytes.fromhex("160301020001"))  # a record header and the start of a ClientHello, then FIN
    s.shutdown(socket.SHUT_WR)
    try:
        s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    check_eq(origin.request_count(), before, "requests at the origin after hostile handshakes")
    c = tls_client(tls_port, cafile=site)
    c.send(eslib.http_request_bytes("GET", "/bytes/5", [("Host", "site.test")]))
    check_eq(c.read_response(timeout=10).status, 200, "a good TLS client after hostile handshakes")
    c.close()
    check(origin.request_count() > base_reqs, "the origin saw the TLS requests")

    # ---- `show info`: TLS connections counted, none left open (both proxies have these fields)
    def info():
        out = px.proxy.ctl("show info")
        return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    eslib.poll_until(lambda: info().get("CurrSslConns") == "0", 5, what="CurrSslConns back to 0")
    inf = info()
    check(int(inf.get("CumSslConns", "0")) >= 12, f"show info CumSslConns counts the TLS connections: {inf}")
    if eslib.on_edgeshard():
        check(int(inf["SslHandshakes"]) >= 10 and int(inf["SslHandshakeFailures"]) >= 1,
              f"show info: handshakes and the failed plain-HTTP one: {inf}")
        check(inf.get("TlsTier", "").startswith("user-space records (OpenSSL 3"),
              f"show info TlsTier names the record tier: {inf.get('TlsTier')!r}")
        r = h.run_cmd([h.bin, "-v"], timeout=10)
        check("TLS: user-space records" in r.stdout and "kernel TLS" in r.stdout,
              f"`edgeshard -v` names the TLS tier: {r.stdout!r}")
    log(f"show info: CumSslConns {inf.get('CumSslConns')}, SslFrontendSessionReuse_pct "
        f"{inf.get('SslFrontendSessionReuse_pct')}, failures {inf.get('SslHandshakeFailures', '-')}")

    # ---- `-c` names the bind line of a missing certificate (edgeshard's own check)
    if eslib.on_edgeshard():
        bad = px.config.replace(f"crt {other}", f"crt {h.path('missing.pem')}")
        path = h.write("bad.cfg", bad)
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
        check(r.returncode != 0, "`-c` accepted a bind whose certificate is missing")
        line = next(i + 1 for i, text in enumerate(bad.splitlines()) if "missing.pem" in text)
        check(f"bad.cfg:{line}:" in r.stderr and "missing.pem" in r.stderr,
              f"`-c` should name bad.cfg:{line} and the missing file; it said: {r.stderr.strip()}")
        log(f"-c: {r.stderr.strip().splitlines()[-1]}")


if __name__ == "__main__":
    eslib.run_http(main)
