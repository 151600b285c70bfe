#!/usr/bin/env python3
"""Replacing a certificate at run time (HAProxy's `set ssl cert` / `commit ssl cert`), on two
shards, the same commands for edgeshard and (ES_TEST_PEER=haproxy) HAProxy:
  - `show ssl cert` lists the file (and one loaded from a crt-list); `show ssl cert FILE` shows its
    subject and SHA-1 fingerprint;
  - `set ssl cert FILE <<` with a new certificate and key opens a transaction (`*FILE` listed,
    details of the transaction shown), `commit ssl cert FILE` answers Success;
  - every new handshake after the commit (12, spread over both shards) presents the new
    certificate; a keep-alive TLS connection made before keeps working;
  - under traffic: a client making new TLS connections in a loop through the commit sees no error;
  - a payload whose key does not match its certificate is refused at `set` (edgeshard; HAProxy
    refuses it at `commit`) and changes nothing;
    `abort ssl cert` ends a transaction; a file the configuration does not use is refused.
"""
import hashlib
import os
import ssl
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def fingerprint(port):
    """SHA-1 of the DER certificate the bind presents to a new connection (upper-case hex)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    import socket
    with socket.create_connection((L, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="site.test") as s:
            return hashlib.sha1(s.getpeercert(binary_form=True)).hexdigest().upper()


def pem_fingerprint(h, pem):
    r = h.run_cmd(["openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", pem])
    return r.stdout.strip().split("=", 1)[1].replace(":", "")


def main(h):
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
    new = tls_lib.make_cert(h, "new", "site.test", ["site.test", "www.site.test"])
    other = tls_lib.make_cert(h, "other", "other.test", ["other.test"])
    listed = tls_lib.make_cert(h, "listed", "listed.test", ["listed.test"])
    crt_list = h.write("certs.list", f"{listed} listed.test\n")
    port, port2 = eslib.free_port(), eslib.free_port()
    px = fixture.proxy_to_origin(h, nbthread=2, client="20s", server="20s", ports=(port, port2),
                                 fe_lines=f"bind {L}:{port} ssl crt {site}\nbind {L}:{port2} ssl crt-list {crt_list}")
    ctl = px.proxy.ctl
    old_fp, new_fp = pem_fingerprint(h, site), pem_fingerprint(h, new)
    check_eq(fingerprint(port), old_fp, "the configured certificate before any change")

    out = ctl("show ssl cert")
    check(site in out and "# filename" in out, f"show ssl cert lists the file:\n{out}")
    check(listed in out, f"show ssl cert lists a certificate loaded from a crt-list:\n{out}")
    out = ctl(f"show ssl cert {site}")
    check("Subject: /CN=site.test" in out and f"SHA1 FingerPrint: {old_fp}" in out and "Status: Used" in out,
          f"show ssl cert FILE details:\n{out}")

    # a bad payload (another certificate's key) changes nothing
    cert_only = open(new).read().split("-----BEGIN PRIVATE KEY-----")[0]
    other_key = "-----BEGIN PRIVATE KEY-----" + open(other).read().split("-----BEGIN PRIVATE KEY-----")[1]
    out = ctl(f"set ssl cert {site} <<\n{cert_only}{other_key}")
    if eslib.on_edgeshard():  # refused at `set` (HAProxy 2.6 takes it there and refuses the commit)
        check("Transaction" not in out and "does not match" in out, f"a key that does not match is refused:\n{out}")
    else:
        ctl(f"abort ssl cert {site}")
    out = ctl(f"set ssl cert /nonexistent.pem <<\n{open(new).read()}")
    check("not referenced by the configuration" in out, f"a file the configuration does not use:\n{out}")
    out = ctl(f"set ssl cert {site} <<\n{open(other).read()}")
    check(f"Transaction created for certificate {site}" in out, f"set ssl cert:\n{out}")
    out = ctl(f"abort ssl cert {site}")
    check(f"Transaction aborted for certificate '{site}'" in out, f"abort ssl cert:\n{out}")
    check_eq(fingerprint(port), old_fp, "after an abort: the configured certificate")

    # a keep-alive TLS connection from before the change
    keep = tls_lib_client(port)
    keep.send(eslib.http_request_bytes("GET", "/bytes/10", [("Host", "site.test")]))
    check_eq(keep.read_response(timeout=10).status, 200, "keep-alive connection before the change")

    # new TLS connections in a loop through the commit
    stop = threading.Event()
    errors, done = [], [0]

    def churn():
        while not stop.is_set():
            try:
                fingerprint(port)
                done[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
    t = threading.Thread(target=churn, daemon=True)
    t.start()

    out = ctl(f"set ssl cert {site} <<\n{open(new).read()}")
    check(f"Transaction created for certificate {site}" in out, f"set ssl cert:\n{out}")
    out = ctl("show ssl cert")
    check(f"*{site}" in out, f"the transaction is listed:\n{out}")
    out = ctl(f"show ssl cert *{site}")
    check(f"SHA1 FingerPrint: {new_fp}" in out, f"the transaction's details:\n{out}")
    check_eq(fingerprint(port), old_fp, "before the commit: still the configured certificate")
    out = ctl(f"commit ssl cert {site}")
    check(f"Committing {site}" in out and "Success!" in out, f"commit ssl cert:\n{out}")
    fps = {fingerprint(port) for _ in range(12)}
    check_eq(fps, {new_fp}, "every new handshake after the commit presents the new certificate")
    stop.set()
    t.join(10)
    check_eq(errors, [], f"new TLS connections during the commit ({done[0]} made)")
    keep.send(eslib.http_request_bytes("GET", "/bytes/10", [("Host", "site.test")]))
    check_eq(keep.read_response(timeout=10).status, 200, "the keep-alive connection from before still works")
    keep.close()
    out = ctl(f"show ssl cert {site}")
    check(f"SHA1 FingerPrint: {new_fp}" in out, f"show ssl cert shows the committed certificate:\n{out}")
    log(f"commit ssl cert: new handshakes present the new certificate; {done[0]} connections during the "
        "change, 0 errors; an older keep-alive connection kept working")


def tls_lib_client(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = eslib.HttpClient(port, timeout=20)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="site.test")
    return c


if __name__ == "__main__":
    eslib.run_http(main)
