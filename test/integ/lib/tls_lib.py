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
