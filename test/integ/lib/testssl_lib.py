"""testssl.sh (Debian's package) against a TLS bind: the findings of one scan, from its JSON file."""

import json
import shutil

import eslib
import tls_lib

# Findings about the test's own certificate (self-signed, short-lived, no revocation URL): they
# describe the file the test made, not the proxy's TLS, and are not held against it.
CERT_IDS = ("cert_", "intermediate_cert", "chain_of_trust", "OCSP_stapling", "DNS_CAArecord")


def scan(h, port, args, timeout):
    """Runs testssl on 127.0.0.1:port; returns its findings (list of dicts)."""
    binary = shutil.which("testssl") or shutil.which("testssl.sh")
    if not binary:
        raise eslib.Failure("testssl (Debian package testssl.sh) is not installed: scripts/setup.sh --test installs it")
    out = h.path(f"testssl-{port}.json")
    r = h.run_cmd([binary, "--quiet", "--color", "0", "--warnings", "off", "--ip", "one", "--jsonfile", out,
                   *args, f"{eslib.LOCALHOST}:{port}"], timeout=timeout)
    try:
        return json.load(open(out))
    except (OSError, ValueError) as e:
        raise eslib.Failure(f"testssl wrote no readable JSON ({e}); rc {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-1000:]}")


def serious(findings):
    """HIGH and CRITICAL findings that are about the TLS service, not the test certificate."""
    return [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")
            and not f.get("id", "").startswith(CERT_IDS)]


def run_case(h, args, timeout, what):
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"], days=365)
    import fixture  # noqa: E402 - the case's path set-up has run
    port = eslib.free_port()
    fixture.proxy_to_origin(h, client="10s", server="10s", ports=(port,),
                            fe_lines=f"bind {eslib.LOCALHOST}:{port} ssl crt {site}")
    findings = scan(h, port, args, timeout)
    bad = serious(findings)
    if bad:
        raise eslib.Failure(f"testssl ({what}): HIGH/CRITICAL findings on a default TLS bind:\n" +
                            "\n".join(f"{f['severity']} {f['id']}: {f['finding']}" for f in bad))
    ids = {f.get("id") for f in findings}
    eslib.check("TLS1_3" in ids and "heartbleed" in ids if "-U" in args or not args else "TLS1_3" in ids,
                f"testssl ran its checks (found ids: {sorted(ids)[:40]})")
    counts = {}
    for f in findings:
        counts[f.get("severity")] = counts.get(f.get("severity"), 0) + 1
    eslib.log(f"testssl ({what}): {len(findings)} findings {counts}; none HIGH/CRITICAL about the service")
    for f in findings:
        if f.get("severity") in ("MEDIUM", "LOW", "HIGH", "CRITICAL"):
            eslib.log(f"  {f['severity']} {f.get('id')}: {f.get('finding', '')[:160]}")
