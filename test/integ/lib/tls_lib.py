"""TLS helpers the TLS cases share: certificates made by `openssl` for the test, and
`openssl s_client` runs (handshake summaries, session resumption)."""

import eslib
from eslib import check_eq


def make_cert(h, name, cn, sans, days=2, ca=None, extra_args=()):
    """A P-256 certificate with its key in one PEM (what `crt` loads); returns the path. Self-signed,
    or signed by `ca` (a (cert, key) pair from make_ca)."""
    key, crt, pem = h.path(f"{name}.key.tmp"), h.path(f"{name}.crt.tmp"), h.path(f"{name}.pem")
    san = ",".join(f"DNS:{s}" for s in sans)
    if ca is None:
        r = h.run_cmd(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", key, "-out", crt, "-days", str(days), "-subj", f"/CN={cn}", "-addext",
                       f"subjectAltName={san}", *extra_args], timeout=20)
        check_eq(r.returncode, 0, f"openssl req for {cn}: {r.stderr}")
    else:
        csr = h.path(f"{name}.csr.tmp")
        r = h.run_cmd(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"], timeout=20)
        check_eq(r.returncode, 0, f"openssl req (csr) for {cn}: {r.stderr}")
        ext = h.write(f"{name}.ext.tmp", f"subjectAltName={san}\n" if sans else "basicConstraints=CA:FALSE\n")
        r = h.run_cmd(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
                       "-out", crt, "-days", str(days), "-extfile", ext, *extra_args], timeout=20)
        check_eq(r.returncode, 0, f"openssl x509 -req for {cn}: {r.stderr}")
    with open(pem, "w") as out:
        out.write(open(crt).read() + open(key).read())
    return pem


def make_ca(h, name, cn):
    """A self-signed CA: returns (cert path, key path)."""
    key, crt = h.path(f"{name}.cakey"), h.path(f"{name}.ca.pem")
    r = h.run_cmd(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={cn}",
                   "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                  timeout=20)
    check_eq(r.returncode, 0, f"openssl req (CA {cn}): {r.stderr}")
    return crt, key


def s_client(h, port, extra, brief=True, stdin=None, timeout=15):
    """openssl s_client against 127.0.0.1:port; returns its output (stdout and stderr)."""
    r = h.run_cmd(["openssl", "s_client", "-connect", f"{eslib.LOCALHOST}:{port}", *(["-brief"] if brief else []),
                   *extra], timeout=timeout, input=stdin)
    return r.stdout + r.stderr


def request_bytes(host="site.test"):
    return f"GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"


def session(h, port, sess_out=None, sess_in=None, extra=(), host="site.test"):
    """One s_client connection that sends a request and reads the answer to the end (so TLS 1.3
    tickets, sent after the handshake, arrive); saves/offers a session with sess_out/sess_in.
    Returns 'Reused' or 'New' and the output."""
    args = ["-servername", host, "-ign_eof", *extra]
    if sess_out:
        args += ["-sess_out", sess_out]
    if sess_in:
        args += ["-sess_in", sess_in]
    out = s_client(h, port, args, brief=False, stdin=request_bytes(host))
    if "Reused, " in out:
        return "Reused", out
    if "New, " in out:
        return "New", out
    raise eslib.Failure(f"s_client printed neither 'New,' nor 'Reused,':\n{out[-1500:]}")


def make_client_cert(h, name, cn, ca, days=2):
    """A client certificate (subject /C=FR/O=Acme/CN=<cn>, extendedKeyUsage clientAuth) signed by
    `ca`, certificate and key in one PEM (what curl --cert/--key and s_client -cert take)."""
    key, crt, pem = h.path(f"{name}.key.tmp"), h.path(f"{name}.crt.tmp"), h.path(f"{name}.pem")
    csr = h.path(f"{name}.csr.tmp")
    r = h.run_cmd(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", csr, "-subj", f"/C=FR/O=Acme/CN={cn}"], timeout=20)
    check_eq(r.returncode, 0, f"openssl req (client csr) for {cn}: {r.stderr}")
    ext = h.write(f"{name}.ext.tmp", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    r = h.run_cmd(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
                   "-out", crt, "-days", str(days), "-extfile", ext], timeout=20)
    check_eq(r.returncode, 0, f"openssl x509 -req (client) for {cn}: {r.stderr}")
    with open(pem, "w") as out:
        out.write(open(crt).read() + open(key).read())
    return pem


def cert_serial(h, pem):
    """The certificate's serial, upper-case hex as `openssl x509 -serial` prints it."""
    r = h.run_cmd(["openssl", "x509", "-in", pem, "-noout", "-serial"], timeout=10)
    check_eq(r.returncode, 0, f"openssl x509 -serial {pem}: {r.stderr}")
    return r.stdout.strip().split("=", 1)[1]


def _ca_db(h, ca, name, valid=(), revoked=()):
    """An `openssl ca` database for `ca`: `valid` and `revoked` are (pem, subject) pairs."""
    import time
    now = time.strftime("%y%m%d%H%M%SZ", time.gmtime(time.time() - 60))
    lines = [f"V\t301231235959Z\t\t{cert_serial(h, p)}\tunknown\t{s}\n" for p, s in valid]
    lines += [f"R\t301231235959Z\t{now}\t{cert_serial(h, p)}\tunknown\t{s}\n" for p, s in revoked]
    index = h.path(f"{name}.index")
    with open(index, "w") as f:
        f.write("".join(lines))
    with open(h.path(f"{name}.crlnumber"), "w") as f:
        f.write("01\n")
    cnf = h.path(f"{name}.cnf")
    with open(cnf, "w") as f:
        f.write(f"[ca]\ndefault_ca = d\n[d]\ndatabase = {index}\ncrlnumber = {h.path(name + '.crlnumber')}\n"
                f"default_md = sha256\ndefault_crl_days = 2\ncertificate = {ca[0]}\nprivate_key = {ca[1]}\n")
    return index, cnf


def make_crl(h, name, ca, revoked):
    """A PEM CRL from `ca` revoking the certificates `revoked` ((pem, subject) pairs); returns its path."""
    _, cnf = _ca_db(h, ca, name, revoked=revoked)
    out = h.path(f"{name}.crl.pem")
    r = h.run_cmd(["openssl", "ca", "-config", cnf, "-gencrl", "-out", out, "-batch"], timeout=20)
    check_eq(r.returncode, 0, f"openssl ca -gencrl: {r.stderr}")
    return out


def make_ocsp(h, name, ca, pem, subject, days=1):
    """A DER OCSP response from `ca` (signing it itself) saying `pem` is good, written beside it as
    <pem>.ocsp; the CA goes to <pem>.issuer so the response can be matched to the certificate."""
    index, _ = _ca_db(h, ca, name, valid=[(pem, subject)])
    with open(pem + ".issuer", "w") as f:
        f.write(open(ca[0]).read())
    out = pem + ".ocsp"
    r = h.run_cmd(["openssl", "ocsp", "-index", index, "-rsigner", ca[0], "-rkey", ca[1], "-CA", ca[0],
                   "-issuer", ca[0], "-cert", pem, "-respout", out, "-ndays", str(days)], timeout=20)
    check_eq(r.returncode, 0, f"openssl ocsp -respout: {r.stdout} {r.stderr}")
    return out
