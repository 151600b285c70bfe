#!/usr/bin/env python3
"""TLS to servers (`server ... ssl verify ... ca-file ... sni ... alpn ...`) against HTTPS origins
made of Python's ssl (certificates made by `openssl` for the test, one CA), the same configuration
for edgeshard and (ES_TEST_PEER=haproxy) HAProxy:
  - verify required with the CA: 200; the origin saw the SNI `sni str(...)` named and ALPN http/1.1;
  - bodies byte-exact through the TLS server connection: 64 MiB down (curl, sha256), 16 MiB up;
  - keep-alive: five requests on one client connection use one TLS server connection;
  - ssl-reuse: with `http-reuse never`, each new client connection opens a new server connection,
    and every one after the first resumes the server's session;
  - a server whose certificate the CA did not sign, or whose name is not the SNI: 503, nothing
    reached its HTTP layer; with `verify none` the same server serves;
  - `sni req.hdr(host)`: the Host header is the SNI (edgeshard removes a port, which an SNI cannot
    carry; HAProxy 2.6 sends it as written); a request for another host on
    the same client connection gets a connection with its own SNI;
  - `-c` refuses `ssl` without `verify none` or a `ca-file`, naming the server line (edgeshard).
`show info` counts the server handshakes, resumptions and failures (edgeshard).
"""
import hashlib
import os
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import http_origin  # noqa: E402
import reload_lib  # noqa: E402
import tls_lib  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def https_origin(h, name, pem):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem)
    ctx.set_alpn_protocols(["http/1.1"])
    return http_origin.start(h, name=name, tls=ctx, conn_timeout=60)


def get(port, path, host="site.test", conn=None):
    c = conn or eslib.HttpClient(port, timeout=30)
    c.send(eslib.http_request_bytes("GET", path, [("Host", host)]))
    return c, c.read_response(timeout=30)


def main(h):
    ca = tls_lib.make_ca(h, "ca", "Test CA")
    good = tls_lib.make_cert(h, "good", "origin.test", ["origin.test", "alt.test"], ca=ca)
    rogue = tls_lib.make_cert(h, "rogue", "origin.test", ["origin.test"])  # self-signed: not the CA's
    a = https_origin(h, "a", good)
    b = https_origin(h, "b", rogue)
    c_origin = https_origin(h, "c", good)
    cafile = ca[0]
    vr = f"ssl verify required ca-file {cafile}"
    px = fixture.proxy_to_origin(
        h, origin=a, server_opts=f"{vr} sni str(origin.test) alpn http/1.1", client="30s", server="30s",
        fe_lines="use_backend be_rogue if { path_beg /rogue }\n"
                 "use_backend be_none if { path_beg /none }\n"
                 "use_backend be_name if { path_beg /name }\n"
                 "use_backend be_host if { path_beg /host }\n"
                 "use_backend be_never if { path_beg /never }",
        sections_after=eslib.section("backend be_rogue", f"server r {L}:{b.port} {vr} sni str(origin.test)")
        + eslib.section("backend be_none", f"server n {L}:{b.port} ssl verify none")
        + eslib.section("backend be_name", f"server m {L}:{a.port} {vr} sni str(wrong.test)")
        + eslib.section("backend be_host", f"server hh {L}:{c_origin.port} ssl verify none sni req.hdr(host)")
        + eslib.section("backend be_never", f"http-reuse never\nserver nv {L}:{c_origin.port} {vr} sni str(alt.test)"))

    # ---- verified, SNI and ALPN as configured
    c, r = get(px.fe, "/echo")
    check_eq(r.status, 200, f"verify required with the CA: {r.brief()}")
    check_eq(r.header("X-Origin"), "a", "served by origin a")
    for _ in range(4):
        c, r = get(px.fe, "/bytes/100", conn=c)
        check_eq(r.status, 200, "keep-alive request")
    c.close()
    check_eq(a.accepts, 1, "five requests on one client connection: one TLS server connection")
    t = a.tls_log[0]
    check_eq((t["sni"], t["alpn"]), ("origin.test", "http/1.1"), f"SNI and ALPN the origin saw: {t}")
    log(f"verified TLS to the server: {t['version']}, SNI {t['sni']}, ALPN {t['alpn']}; 5 requests, 1 connection")

    # ---- bodies both ways, byte-exact
    big = 64 * MiB
    out = h.path("big.bin")
    r = h.run_cmd(["curl", "-s", "-o", out, "-w", "%{http_code} %{size_download}",
                   f"http://{L}:{px.fe}/bytes/{big}"], timeout=120)
    check_eq(r.stdout.split(), ["200", str(big)], "64 MiB through a TLS server connection")
    with open(out, "rb") as f:
        check_eq(hashlib.sha256(f.read()).hexdigest(), http_origin.pattern_sha256(big), "64 MiB download: sha256")
    os.unlink(out)
    up = 16 * MiB
    cl = eslib.HttpClient(px.fe, timeout=60)
    cl.send(eslib.http_request_bytes("POST", "/echo", [("Host", "site.test"), ("Content-Length", str(up))]))
    off = 0
    while off < up:
        k = min(65521, up - off)
        cl.sock.sendall(http_origin.pattern_slice(off, k))
        off += k
    doc = cl.read_response(timeout=120).json()
    cl.close()
    check_eq((doc["body_len"], doc["body_sha256"]), (up, http_origin.pattern_sha256(up)), "16 MiB upload: sha256")
    log("64 MiB down and 16 MiB up through TLS to the server, byte-exact")

    # ---- ssl-reuse: new server connections resume
    before = len(c_origin.tls_log)
    for _ in range(5):
        cc, r = get(px.fe, "/never/x")
        check_eq(r.status, 200, "http-reuse never backend")
        cc.close()
    logs = c_origin.tls_log[before:]
    check_eq(len(logs), 5, f"http-reuse never: a server connection per client connection ({logs})")
    check(all(x["reused"] for x in logs[1:]), f"ssl-reuse: connections after the first resume ({logs})")
    check_eq({x["sni"] for x in logs}, {"alt.test"}, "sni str(alt.test)")
    log("ssl-reuse: 4 of 4 later connections resumed the server's session")

    # ---- verification failures: 503, nothing reaches the HTTP layer
    reqs_b = b.request_count()
    for path, what in (("/rogue", "a certificate the CA did not sign"), ("/name", "a name that is not the SNI")):
        cc, r = get(px.fe, path)
        check_eq(r.status, 503, f"{what}: 503 ({r.brief()})")
        cc.close()
    check_eq(b.request_count(), reqs_b, "the rogue server's HTTP layer saw nothing")
    cc, r = get(px.fe, "/none")
    check_eq(r.status, 200, "verify none: the same server serves")
    cc.close()
    log("unverifiable server or wrong name: 503; verify none: 200")

    # ---- sni req.hdr(host): per-request SNI, connections not shared across names
    before = len(c_origin.tls_log)
    cc, r = get(px.fe, "/host/1", host="one.test:8443")
    check_eq(r.status, 200, "sni req.hdr(host)")
    cc, r = get(px.fe, "/host/2", host="two.test", conn=cc)
    check_eq(r.status, 200, "sni req.hdr(host), second host")
    cc, r = get(px.fe, "/host/3", host="one.test", conn=cc)
    check_eq(r.status, 200, "sni req.hdr(host), first host again")
    cc.close()
    names = [x["sni"] for x in c_origin.tls_log[before:]]
    # an SNI names a host (RFC 6066 3): edgeshard removes the port; HAProxy 2.6 sends it as written
    first = "one.test" if eslib.on_edgeshard() else "one.test:8443"
    check(names[:2] == [first, "two.test"], f"SNI from Host, one connection per name: {names}")
    log(f"sni req.hdr(host): server connections sent {names}")

    if not eslib.on_edgeshard():
        return
    info = reload_lib.show_info(px.sock)
    check(int(info["SslServerHandshakes"]) >= 8, f"SslServerHandshakes: {info.get('SslServerHandshakes')}")
    check(int(info["SslServerResumed"]) >= 4, f"SslServerResumed: {info.get('SslServerResumed')}")
    check(int(info["SslServerHandshakeFailures"]) >= 2, f"SslServerHandshakeFailures: {info.get('SslServerHandshakeFailures')}")
    log(f"show info: {info['SslServerHandshakes']} handshakes, {info['SslServerResumed']} resumed, "
        f"{info['SslServerHandshakeFailures']} failed")
    bad = h.write("noverify.cfg", px.config.replace(f"server n {L}:{b.port} ssl verify none",
                                                    f"server n {L}:{b.port} ssl"))
    r = h.run_cmd([h.bin, "-c", "-f", bad], timeout=20)
    check(r.returncode != 0 and "verify none" in r.stderr and f"{bad}:" in r.stderr,
          f"-c: 'ssl' without a CA names the line and the fix:\n{r.stderr}")
    log("-c: 'server ... ssl' without ca-file or 'verify none' is refused at its line")


if __name__ == "__main__":
    eslib.run_http(main)
