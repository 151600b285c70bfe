#!/usr/bin/env python3
"""Handshake options of TLS binds: signature algorithms, CA names, the ECDHE curve and verify-only CAs
(HAProxy's `sigalgs`, `client-sigalgs`, `no-ca-names`, `ecdhe`, `ca-verify-file`,
`ssl-default-bind-sigalgs`, `ssl-default-bind-client-sigalgs`), judged by openssl s_client. HAProxy
2.6 (the peer, ES_TEST_PEER=haproxy) has no sigalgs keywords (they came with 2.7): it runs the rest.
  - the global `ssl-default-bind-sigalgs ECDSA+SHA384:ECDSA+SHA256` makes a TLS 1.2 handshake sign
    with SHA-384 on the binds that say nothing; a bind's own `sigalgs ECDSA+SHA256` wins on its bind;
    TLS 1.3 still works (a P-256 key signs with SHA-256 there);
  - `client-sigalgs ECDSA+SHA384` is what the CertificateRequest asks for (s_client prints it); the
    global `ssl-default-bind-client-sigalgs` on the other verifying bind;
  - `no-ca-names`: the CertificateRequest names no CA; without it the ca-file's subject is named;
  - `ecdhe secp384r1`: the key exchange uses P-384, TLS 1.2 and 1.3 (HelloRetryRequest), where the
    default bind uses X25519;
  - `ca-verify-file` with `verify required`: a client certificate from that CA is accepted, none is
    refused, and the CA is not named;
  - `force-tlsv12` / `force-tlsv13` (HAProxy's deprecated one-version forms, still in older configs): a
    client of the other version is refused, one of that version is served;
  - edgeshard only: `allow-0rtt` loads with a warning and no early data is accepted: a resumed
    `s_client -early_data` sends none (the tickets allow none) and its request after the handshake is
    served;
  - `-c` names file and line for an unknown algorithm, on a bind and on a server (edgeshard only).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, log  # noqa: E402


def main(h):
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
    ca = tls_lib.make_ca(h, "clients", "Clients Test CA")
    pa, pb, pc, pd, pe, pf12, pf13, p0 = (eslib.free_port() for _ in range(8))
    alice = tls_lib.make_client_cert(h, "alice", "alice", ca)
    L = eslib.LOCALHOST
    full = eslib.on_edgeshard()
    sig = "sigalgs ECDSA+SHA256 " if full else ""
    csig = "client-sigalgs ECDSA+SHA384 " if full else ""
    px = fixture.proxy_to_origin(
        h, ports=(pa, pb, pc, pd, pe, pf12, pf13) + ((p0,) if full else ()),
        global_lines="ssl-default-bind-sigalgs ECDSA+SHA384:ECDSA+SHA256\n"
                     "    ssl-default-bind-client-sigalgs ECDSA+SHA512:ECDSA+SHA256" if full else "",
        fe_lines=f"bind {L}:{pa} ssl crt {site}\n"
                 f"bind {L}:{pb} ssl crt {site} {sig}ca-file {ca[0]} verify optional {csig}no-ca-names\n"
                 f"bind {L}:{pc} ssl crt {site} ca-file {ca[0]} verify optional\n"
                 f"bind {L}:{pd} ssl crt {site} ecdhe secp384r1\n"
                 f"bind {L}:{pe} ssl crt {site} ca-verify-file {ca[0]} verify required\n"
                 f"bind {L}:{pf12} ssl crt {site} force-tlsv12\n"
                 f"bind {L}:{pf13} ssl crt {site} force-tlsv13"
                 + (f"\nbind {L}:{p0} ssl crt {site} allow-0rtt" if full else ""))

    def hello(port, *extra):
        return tls_lib.s_client(h, port, ["-servername", "site.test", "-ign_eof", *extra], brief=False,
                                stdin="GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")

    # ---- the server's own signature (TLS 1.2 lets a P-256 key sign with SHA-384)
    for port, digest, why in ((pa, "SHA384", "the global list"), (pb, "SHA256", "the bind's own sigalgs"),
                              (pc, "SHA384", "the global list")) if full else ():
        out = hello(port, "-tls1_2")
        check(f"Peer signing digest: {digest}" in out, f"port {port} ({why}): expected {digest}:\n{out[-2500:]}")
        check("HTTP/1.1 200" in out, f"port {port}: the request went through:\n{out[-1500:]}")
    out = hello(pa, "-tls1_3") if full else hello(pa)
    check("Protocol version: TLSv1.3" in out or "TLSv1.3" in out, f"TLS 1.3 still works:\n{out[-1500:]}")
    check("HTTP/1.1 200" in out, f"TLS 1.3 request:\n{out[-1500:]}")
    if full:
        log("sigalgs: SHA-384 from ssl-default-bind-sigalgs, SHA-256 from the bind's sigalgs (TLS 1.2); TLS 1.3 works")

    # ---- the CertificateRequest: algorithms asked for, CA names or none
    out = hello(pb, "-tls1_2")
    check(not full or "Requested Signature Algorithms: ECDSA+SHA384" in out,
          f"client-sigalgs ECDSA+SHA384 asked for:\n{out[-2500:]}")
    check("No client certificate CA names sent" in out, f"no-ca-names: no CA named:\n{out[-2500:]}")
    out = hello(pc, "-tls1_2")
    check(not full or "Requested Signature Algorithms: ECDSA+SHA512:ECDSA+SHA256" in out,
          f"ssl-default-bind-client-sigalgs asked for:\n{out[-2500:]}")
    check("Acceptable client certificate CA names" in out and "Clients Test CA" in out,
          f"the ca-file's subject named:\n{out[-2500:]}")
    log(("client-sigalgs and ssl-default-bind-client-sigalgs in the CertificateRequest; " if full else "")
        + "no-ca-names names no CA, the other bind names its ca-file's")

    # ---- ecdhe: the one curve of the key exchange
    for ver in ("-tls1_2", "-tls1_3"):
        out = hello(pd, ver)
        check("Server Temp Key: ECDH, secp384r1" in out or "Peer Temp Key: ECDH, secp384r1" in out,
              f"ecdhe secp384r1 ({ver}):\n{out[-2500:]}")
        check("HTTP/1.1 200" in out, f"ecdhe secp384r1 ({ver}): the request went through:\n{out[-1500:]}")
    out = hello(pa, "-tls1_3")
    check("X25519" in out, f"the default bind: X25519:\n{out[-2500:]}")
    log("ecdhe secp384r1: P-384 for TLS 1.2 and 1.3; the default bind uses X25519")

    # ---- ca-verify-file: verifies, not named
    out = hello(pe, "-tls1_2", "-cert", alice, "-key", alice)
    check("HTTP/1.1 200" in out, f"ca-verify-file: a client certificate from that CA is accepted:\n{out[-1500:]}")
    check("No client certificate CA names sent" in out, f"ca-verify-file: the CA is not named:\n{out[-2500:]}")
    out = hello(pe, "-tls1_2")
    check("HTTP/1.1 200" not in out, f"ca-verify-file + verify required: no certificate, no answer:\n{out[-1500:]}")
    log("ca-verify-file: verifies the client's certificate without naming its CA; none is refused")

    # ---- force-tlsv12 / force-tlsv13: one version only
    for port, good, bad in ((pf12, "-tls1_2", "-tls1_3"), (pf13, "-tls1_3", "-tls1_2")):
        out = hello(port, good)
        check("HTTP/1.1 200" in out, f"force-* ({good} on its bind): served:\n{out[-1500:]}")
        out = hello(port, bad)
        check("HTTP/1.1 200" not in out, f"force-* ({bad} on the other version's bind): refused:\n{out[-1500:]}")
    log("force-tlsv12 / force-tlsv13: only that version is served")

    # ---- allow-0rtt (edgeshard): loads, no early data
    if full:
        r = h.run_cmd([h.bin, "-c", "-f", h.write("zero.cfg", px.config)], timeout=10)
        check(r.returncode == 0 and "'allow-0rtt': 0-RTT early data is not accepted" in r.stderr,
              f"-c with allow-0rtt: loads with a warning: {r.stderr.strip()}")
        sess, early = h.path("0rtt.sess"), h.write("early.txt", "GET /early HTTP/1.1\r\nHost: site.test\r\n\r\n")
        tls_lib.s_client(h, p0, ["-servername", "site.test", "-sess_out", sess, "-ign_eof"], brief=False,
                         stdin="GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
        out = tls_lib.s_client(h, p0, ["-servername", "site.test", "-sess_in", sess, "-early_data", early,
                                       "-ign_eof"], brief=False,
                               stdin="GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
        check("Reused" in out and ("Early data was not sent" in out or "Early data was rejected" in out),
              f"allow-0rtt: resumed, no early data accepted:\n{out[-2000:]}")
        check("HTTP/1.1 200" in out, f"allow-0rtt: the request after the handshake is served:\n{out[-1500:]}")
        log("allow-0rtt: loads with a warning; a resumed client sends no early data and is served after the handshake")

    # ---- -c: an unknown algorithm names file and line
    if eslib.on_edgeshard():
        bad = px.config.replace("sigalgs ECDSA+SHA256 ca-file", "sigalgs ECDSA+NOPE ca-file")
        path = h.write("bad.cfg", bad)
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
        line = next(i + 1 for i, text in enumerate(bad.splitlines()) if "ECDSA+NOPE" in text)
        check(r.returncode != 0 and f"bad.cfg:{line}:" in r.stderr and "ECDSA+NOPE" in r.stderr
              and "unknown signature algorithm" in r.stderr, f"-c on an unknown sigalg: {r.stderr.strip()}")
        log(f"-c: {r.stderr.strip().splitlines()[0][:160]}")
        # and on a server line (TLS to servers)
        bad = px.config.replace(f"server s1 {L}:{px.origin_port}", f"server s1 {L}:{px.origin_port} ssl verify none "
                                                                    "sigalgs ECDSA+NOPE")
        check("sigalgs ECDSA+NOPE" in bad, "the server line was rewritten")
        r = h.run_cmd([h.bin, "-c", "-f", h.write("bad2.cfg", bad)], timeout=10)
        line = next(i + 1 for i, text in enumerate(bad.splitlines()) if "ECDSA+NOPE" in text)
        check(r.returncode != 0 and f"bad2.cfg:{line}:" in r.stderr and "unknown signature algorithm" in r.stderr,
              f"-c on an unknown sigalg on a server: {r.stderr.strip()}")


if __name__ == "__main__":
    eslib.run_http(main)
