#!/usr/bin/env python3
"""`bind ... ssl crt ... ktls on` (HAProxy 3.x's keyword): after the handshake each client
connection's records go to the kernel when it can take them (tls/README.md, kernel TLS).
On a kernel without kernel TLS (this case's usual machine) the bind loads with one warning and
every connection stays on user-space records; on one with it, SslKtlsConns counts the handed-over
connections. Either way the same traffic must work byte-exact:
  - small responses, three requests on one connection (keep-alive), TLS 1.2 and TLS 1.3;
  - an 8 MiB download (past tune.es.splice-after: spliced to the client once the kernel encrypts);
  - `Connection: close` ends with close_notify (a clean TLS close for the client);
  - `-c` refuses `ktls yes`.
The in-kernel path itself is proven in a qemu guest: slow_ktls_edgeshard_qemu.py. Edgeshard only
(HAProxy 2.6 does not know the keyword)."""
import hashlib
import os
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import http_origin  # noqa: E402
import tls_lib  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

BIG = 8 * MiB
WARNING = "'ktls on': kernel TLS is not available"


def tls_client(port, cafile, max_version=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if max_version:
        ctx.maximum_version = max_version
    c = eslib.HttpClient(port, timeout=20)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="site.test", suppress_ragged_eofs=False)
    return c


def main(h):
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
    tls_port = eslib.free_port()
    px = fixture.proxy_to_origin(
        h, origin_opts={"conn_timeout": 120}, client="30s", server="30s", ports=(tls_port,), peer=False,
        fe_lines=f"bind {eslib.LOCALHOST}:{tls_port} ssl crt {site} alpn http/1.1 ktls on\n"
                 f"bind {eslib.LOCALHOST}:{eslib.free_port()} ssl crt {site} ktls on\n")

    def info():
        out = px.proxy.ctl("show info")
        return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)

    tier = info().get("TlsTier", "")
    has_ktls = "kernel TLS available" in tier
    warnings = px.proxy.stderr_text().count(WARNING)
    if has_ktls:
        check_eq(warnings, 0, f"kernel TLS available ({tier}): no warning")
    else:
        check_eq(warnings, 1, f"kernel TLS not available ({tier}): one warning for two `ktls on` binds:\n"
                              f"{px.proxy.stderr_text()[-1500:]}")
    log(f"`ktls on` loaded; kernel TLS {'available' if has_ktls else 'not available: warned once'}")

    for ver, name in ((None, "TLS 1.3"), (ssl.TLSVersion.TLSv1_2, "TLS 1.2")):
        c = tls_client(tls_port, site, ver)
        for i in range(3):
            c.send(eslib.http_request_bytes("GET", f"/bytes/{1000 + i}", [("Host", "site.test")]))
            resp = c.read_response(timeout=10)
            check_eq((resp.status, resp.body_len), (200, 1000 + i), f"{name}: request {i + 1} on one connection")
        c.send(eslib.http_request_bytes("GET", "/bytes/10", [("Host", "site.test"), ("Connection", "close")]))
        check_eq(c.read_response(timeout=10).status, 200, f"{name}: the last request")
        try:
            check_eq(c.sock.recv(100), b"", f"{name}: after `Connection: close`: a clean TLS close")
        except ssl.SSLEOFError as e:
            raise eslib.Failure(f"{name}: closed without close_notify: {e}")
        c.close()
    log("TLS 1.3 and 1.2: keep-alive, then close_notify after `Connection: close`")

    dest = h.path("big.bin")
    r = h.run_cmd(["curl", "-sS", "--cacert", site, "--resolve", f"site.test:{tls_port}:{eslib.LOCALHOST}",
                   "-o", dest, "-w", "%{http_code} %{size_download}",
                   f"https://site.test:{tls_port}/bytes/{BIG}"], timeout=120)
    check_eq(r.returncode, 0, f"curl {BIG} bytes: {r.stderr}")
    check_eq(r.stdout.split(), ["200", str(BIG)], "curl: status and size")
    with open(dest, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    os.unlink(dest)
    check_eq(got, http_origin.pattern_sha256(BIG), "8 MiB download: sha256")
    log("8 MiB download byte-exact")

    eslib.poll_until(lambda: info().get("CurrSslConns") == "0", 5, what="CurrSslConns back to 0")
    inf = info()
    check("SslKtlsConns" in inf, f"show info has SslKtlsConns: {sorted(inf)}")
    if has_ktls:
        check(int(inf["SslKtlsConns"]) > 0, f"connections handed to kernel TLS: {inf['SslKtlsConns']}")
    else:
        check_eq(inf["SslKtlsConns"], "0", "no kernel TLS: no connection handed over")
    check(int(inf["SslHandshakes"]) >= 3, f"handshakes counted: {inf['SslHandshakes']}")
    log(f"show info: SslKtlsConns {inf['SslKtlsConns']}, SslHandshakes {inf['SslHandshakes']}")

    bad = px.config.replace("ktls on", "ktls yes", 1)
    r = h.run_cmd([h.bin, "-c", "-f", h.write("bad.cfg", bad)], timeout=10)
    check(r.returncode != 0 and "'ktls': expects 'on' or 'off', not 'yes'" in r.stderr, f"-c with `ktls yes`: {r.stderr}")
    log("-c refuses `ktls yes`")


if __name__ == "__main__":
    eslib.run_http(main)
