#!/usr/bin/env python3
"""Client certificates, crt-list, strict-sni and OCSP stapling on TLS binds, with real clients
(curl --cert/--key, openssl s_client -cert / -status) and certificates, a CRL and an OCSP response
made by `openssl` for the test. One HTTP frontend, five TLS binds:
  - `verify required` with ca-file and crl-file: no certificate, another CA's and a revoked one
    fail the handshake (and count as handshake failures); a good one gets 200, and
    `set-header X-Client-DN %[ssl_c_s_dn]`, `%[ssl_c_s_dn(CN)]`, `%[ssl_c_serial,hex]` and an
    `ssl_c_verify 0` ACL reach the origin (its /echo shows the headers);
  - `verify optional`: a client without a certificate is served (ssl_c_used false), a good one too
    (ssl_c_used true), another CA's fails (HAProxy fails a bad presented certificate in every mode);
  - `crt-list` with filters: a plain line (the default), a line whose filters replace the
    certificate's names, a wildcard with a negative filter; s_client sees the expected subject;
  - `strict-sni`: no SNI and an unknown name are refused, a known name is served;
  - OCSP: a response made by `openssl ocsp` beside the certificate (<crt>.ocsp) is stapled to
    `s_client -status` ("OCSP Response Status: successful"); a certificate with an empty .ocsp staples
    nothing until `set ssl ocsp-response <base64>` gives it one (garbage refused, edgeshard only).
The same configuration runs against HAProxy with ES_TEST_PEER=haproxy.
"""
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def curl(h, port, path="/echo", host="site.test", cacert=None, cert=None):
    """curl over TLS; returns (exit code, status, body)."""
    args = ["curl", "-sS", "--max-time", "10", "--resolve", f"{host}:{port}:{eslib.LOCALHOST}",
            "-o", h.path("curl.out"), "-w", "%{http_code}"]
    args += ["--cacert", cacert] if cacert else ["-k"]
    if cert:
        args += ["--cert", cert, "--key", cert]
    r = h.run_cmd(args + [f"https://{host}:{port}{path}"], timeout=20)
    body = open(h.path("curl.out")).read() if os.path.exists(h.path("curl.out")) else ""
    if os.path.exists(h.path("curl.out")):
        os.unlink(h.path("curl.out"))
    return r.returncode, r.stdout.strip(), body, r.stderr


def echo_headers(body):
    import json
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


def main(h):
    srv_ca = tls_lib.make_ca(h, "srvca", "Server CA")
    cli_ca = tls_lib.make_ca(h, "clica", "Client CA")
    other_ca = tls_lib.make_ca(h, "otherca", "Other CA")
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"], ca=srv_ca)
    alice = tls_lib.make_client_cert(h, "alice", "alice", cli_ca)
    bob = tls_lib.make_client_cert(h, "bob", "bob", cli_ca)  # revoked below
    mallory = tls_lib.make_client_cert(h, "mallory", "mallory", other_ca)
    crl = tls_lib.make_crl(h, "clica-crl", cli_ca, revoked=[(bob, "/C=FR/O=Acme/CN=bob")])
    # crt-list certificates
    first = tls_lib.make_cert(h, "first", "first.test", ["first.test"])
    named = tls_lib.make_cert(h, "named", "named.test", ["named.test"])
    wild = tls_lib.make_cert(h, "wild", "wild.test", ["*.wild.test"])
    crt_list = h.path("list.txt")
    with open(crt_list, "w") as f:
        f.write(f"# the first line is the default\n{first}\n\n"
                f"{named} [alpn http/1.1] alias.test other.test\n"
                f"{wild} *.wild.test !secure.wild.test\n")
    # OCSP: a response for a CA-signed certificate, beside it
    stapled = tls_lib.make_cert(h, "stapled", "stapled.test", ["stapled.test"], ca=srv_ca)
    tls_lib.make_ocsp(h, "srvca-ocsp", srv_ca, stapled, "/CN=stapled.test")
    # and one whose response comes later, at run time (`set ssl ocsp-response`): an empty .ocsp
    # beside it at start (HAProxy's way of saying "staple when a response comes")
    later = tls_lib.make_cert(h, "later", "later.test", ["later.test"], ca=srv_ca)
    later_resp = tls_lib.make_ocsp(h, "srvca-ocsp-later", srv_ca, later, "/CN=later.test")
    with open(later_resp, "rb") as f:
        later_der = f.read()
    open(later_resp, "wb").close()

    L = eslib.LOCALHOST
    p_req, p_opt, p_list, p_strict, p_ocsp, p_later = (eslib.free_port() for _ in range(6))
    px = fixture.proxy_to_origin(
        h, client="10s", server="10s", ports=(p_req, p_opt, p_list, p_strict, p_ocsp, p_later),
        fe_lines=f"bind {L}:{p_req} ssl crt {site} ca-file {cli_ca[0]} verify required crl-file {crl}\n"
                 f"bind {L}:{p_opt} ssl crt {site} ca-file {cli_ca[0]} verify optional\n"
                 f"bind {L}:{p_list} ssl crt-list {crt_list}\n"
                 f"bind {L}:{p_strict} ssl crt {site} strict-sni\n"
                 f"bind {L}:{p_ocsp} ssl crt {stapled}\n"
                 f"bind {L}:{p_later} ssl crt {later}\n"
                 "http-request set-header X-Client-DN %[ssl_c_s_dn]\n"
                 "http-request set-header X-Client-CN %[ssl_c_s_dn(CN)]\n"
                 "http-request set-header X-Client-Issuer %[ssl_c_i_dn]\n"
                 "http-request set-header X-Client-Serial %[ssl_c_serial,hex]\n"
                 "http-request set-header X-Client-Used %[ssl_c_used]\n"
                 "http-request set-header X-Verify-Ok yes if { ssl_c_verify 0 } { ssl_c_used }\n"
                 "http-request set-header X-Has-Crt yes if { ssl_fc_has_crt }\n")

    def failures():
        if not eslib.on_edgeshard():
            return 0
        out = px.proxy.ctl("show info")
        inf = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        return int(inf.get("SslHandshakeFailures", "0"))

    # ---- verify required
    rc, status, body, err = curl(h, p_req, cacert=srv_ca[0], cert=alice)
    check_eq((rc, status), (0, "200"), f"verify required, good certificate: {err}")
    hd = echo_headers(body)
    check_eq(hd.get("x-client-dn"), "/C=FR/O=Acme/CN=alice", f"X-Client-DN at the origin: {hd}")
    check_eq(hd.get("x-client-cn"), "alice", "%[ssl_c_s_dn(CN)]")
    check_eq(hd.get("x-client-issuer"), "/CN=Client CA", "%[ssl_c_i_dn]")
    check_eq(hd.get("x-client-serial"), tls_lib.cert_serial(h, alice), "%[ssl_c_serial,hex]")
    check_eq((hd.get("x-verify-ok"), hd.get("x-has-crt"), hd.get("x-client-used")), ("yes", "yes", "1"),
             "ssl_c_verify 0, ssl_fc_has_crt, ssl_c_used")
    before = failures()
    for what, cert in (("no certificate", None), ("another CA's", mallory), ("revoked (crl-file)", bob)):
        rc, status, _, err = curl(h, p_req, cacert=srv_ca[0], cert=cert)
        check(rc != 0 and status != "200", f"verify required, {what}: should fail the handshake, got {rc} {status}")
    if eslib.on_edgeshard():
        check(failures() - before >= 3, f"the refused client certificates count as handshake failures "
                                         f"({failures() - before})")
    out = tls_lib.s_client(h, p_req, ["-servername", "site.test", "-ign_eof", "-cert", alice, "-key", alice],
                           brief=False, stdin=tls_lib.request_bytes())
    check("HTTP/1.1 200" in out,
          f"s_client -cert with a good certificate:\n{out[-800:]}")
    out = tls_lib.s_client(h, p_req, ["-servername", "site.test", "-ign_eof", "-cert", mallory, "-key", mallory],
                           brief=False, stdin=tls_lib.request_bytes())
    check("HTTP/1.1 200" not in out and ("alert" in out or "error" in out.lower()),
          f"s_client -cert with another CA's certificate is refused:\n{out[-800:]}")
    log("verify required: good certificate served with its DN; none, another CA's and a revoked one refused")

    # ---- verify optional
    rc, status, body, err = curl(h, p_opt, cacert=srv_ca[0])
    check_eq((rc, status), (0, "200"), f"verify optional, no certificate: {err}")
    hd = echo_headers(body)
    check_eq((hd.get("x-client-used"), hd.get("x-verify-ok"), hd.get("x-client-dn")), ("0", None, ""),
             f"verify optional, no certificate: ssl_c_used 0, no DN: {hd}")
    rc, status, body, err = curl(h, p_opt, cacert=srv_ca[0], cert=alice)
    check_eq((rc, status), (0, "200"), f"verify optional, good certificate: {err}")
    check_eq(echo_headers(body).get("x-client-cn"), "alice", "verify optional, good certificate: its CN")
    rc, status, _, _ = curl(h, p_opt, cacert=srv_ca[0], cert=mallory)
    check(rc != 0, f"verify optional, another CA's certificate still fails the handshake, got {rc} {status}")
    log("verify optional: no certificate and a good one served, a bad one refused")

    # ---- crt-list: filters, wildcard, negative filter, default
    for sni, cn in (("first.test", "first.test"), ("alias.test", "named.test"), ("other.test", "named.test"),
                    ("a.wild.test", "wild.test"), ("secure.wild.test", "first.test"), ("nobody.test", "first.test"),
                    (None, "first.test")):
        out = tls_lib.s_client(h, p_list, ["-servername", sni] if sni else ["-noservername"])
        check(f"CN = {cn}" in out or f"CN={cn}" in out,
              f"crt-list, SNI {sni or '(none)'}: expected {cn}; s_client said:\n{out[-800:]}")
    log("crt-list: filters replace names, a wildcard, a negative filter and the first line as default")

    # ---- strict-sni
    before = failures()
    for args in (["-noservername"], ["-servername", "nobody.test"]):
        out = tls_lib.s_client(h, p_strict, args + ["-ign_eof"], brief=False, stdin=tls_lib.request_bytes())
        check("HTTP/1.1 200" not in out and "alert" in out,
              f"strict-sni, {args}: the handshake should fail:\n{out[-600:]}")
    rc, status, _, err = curl(h, p_strict, cacert=srv_ca[0])
    check_eq((rc, status), (0, "200"), f"strict-sni, a known name: {err}")
    if eslib.on_edgeshard():
        check(failures() - before >= 2, "strict-sni refusals count as handshake failures")
    log("strict-sni: no SNI and an unknown name refused, a known name served")

    # ---- OCSP stapling
    out = tls_lib.s_client(h, p_ocsp, ["-servername", "stapled.test", "-status"], brief=False)
    check("OCSP Response Status: successful" in out, f"s_client -status: a stapled response:\n{out[-1500:]}")
    check("Cert Status: good" in out, f"s_client -status: the certificate is good:\n{out[-1500:]}")
    out = tls_lib.s_client(h, p_req, ["-servername", "site.test", "-status", "-cert", alice, "-key", alice],
                           brief=False)
    check("OCSP response: no response sent" in out, f"no .ocsp file: nothing stapled:\n{out[-1500:]}")
    log("OCSP: the response beside the certificate is stapled")

    # ---- set ssl ocsp-response: a response given at run time is stapled from then on
    out = tls_lib.s_client(h, p_later, ["-servername", "later.test", "-status"], brief=False)
    check("OCSP response: no response sent" in out, f"an empty .ocsp: nothing stapled yet:\n{out[-1500:]}")
    b64 = base64.b64encode(later_der).decode()
    answer = px.proxy.ctl(f"set ssl ocsp-response {b64}")
    check("OCSP Response updated!" in answer, f"set ssl ocsp-response: {answer!r}")
    out = tls_lib.s_client(h, p_later, ["-servername", "later.test", "-status"], brief=False)
    check("OCSP Response Status: successful" in out and "Cert Status: good" in out,
          f"after set ssl ocsp-response: the response is stapled:\n{out[-1500:]}")
    if eslib.on_edgeshard():
        answer = px.proxy.ctl("set ssl ocsp-response bm90IGEgcmVzcG9uc2U=")  # "not a response"
        check("not a DER OCSP response" in answer, f"garbage: {answer!r}")
        answer = px.proxy.ctl("set ssl ocsp-response @@@")
        check("base64" in answer, f"not base64: {answer!r}")
    log("set ssl ocsp-response: stapled from the next handshake on")

    # ---- edgeshard's own checks: -c names the lines; an expired OCSP response is refused at load
    if eslib.on_edgeshard():
        bad_list = h.path("bad-list.txt")
        with open(bad_list, "w") as f:
            f.write(f"{first}\n{named} [ocsp-update on] alias.test\n")
        bad = px.config.replace(f"crt-list {crt_list}", f"crt-list {bad_list}")
        r = h.run_cmd([h.bin, "-c", "-f", h.write("bad.cfg", bad)], timeout=10)
        line = next(i + 1 for i, text in enumerate(bad.splitlines()) if "bad-list.txt" in text)
        check(r.returncode != 0 and f"bad.cfg:{line}:" in r.stderr and "line 2" in r.stderr
              and "'ocsp-update'" in r.stderr, f"-c on a crt-list with an unbuilt option: {r.stderr.strip()}")
        bad = px.config.replace(f"ca-file {cli_ca[0]} verify required", "verify required")
        r = h.run_cmd([h.bin, "-c", "-f", h.write("bad2.cfg", bad)], timeout=10)
        check(r.returncode != 0 and "needs a 'ca-file'" in r.stderr, f"-c: verify without ca-file: {r.stderr}")
        # a response for another certificate: loaded with a warning, nothing stapled
        os.replace(stapled + ".ocsp", h.path("saved.ocsp"))
        tls_lib.make_ocsp(h, "srvca-ocsp2", srv_ca, site, "/CN=site.test")
        os.replace(site + ".ocsp", stapled + ".ocsp")
        r = h.run_cmd([h.bin, "-c", "-f", h.write("ocsp.cfg", px.config)], timeout=10)
        check(r.returncode == 0 and "ignored: it is not about this certificate" in r.stderr,
              f"-c with a mismatching OCSP response: a warning: {r.stderr.strip()}")
        log("-c: crt-list line and bind line named; verify without ca-file refused; a wrong OCSP response warned")


if __name__ == "__main__":
    eslib.run_http(main)
