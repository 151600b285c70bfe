#!/usr/bin/env python3
"""edgeshard-bench http against https:// targets: edgeshard terminating TLS (`bind ... ssl crt`, a
certificate made by `openssl req` for the test) in front of `edgeshard-bench origin`, all on
127.0.0.1, each run bounded to 1-2 s:
  - keep-alive: requests complete with no error of any kind, one full handshake per connection,
    and the result names the version, cipher and ALPN seen, and handshake percentiles;
  - --close (a new connection per request): later connections resume the sessions the server
    issued (resumed > 0), with TLS 1.3 (single-use tickets) and TLS 1.2 (--tls-version 1.2);
  - --close --no-resume: every handshake is full (resumed == 0, full == handshakes);
  - a server that does not speak TLS (the origin's plain HTTP port, or edgeshard's plain bind)
    gives `tls` errors with a reason, no responses, and a clean exit;
  - a server that takes the connection and never answers gives `tls` errors after --timeout;
  - a closed port gives connect errors only.
Every JSON result validates against tools/bench/result.schema.json.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import benchlib  # noqa: E402
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402


def make_cert(h):
    """A self-signed P-256 certificate and its key in one PEM, as `crt` loads it."""
    key, crt, pem = h.path("site.key.tmp"), h.path("site.crt.tmp"), h.path("site.pem")
    r = h.run_cmd(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=site.test", "-addext",
                   "subjectAltName=DNS:site.test"], timeout=20)
    check_eq(r.returncode, 0, f"openssl req: {r.stderr}")
    with open(pem, "w") as out:
        out.write(open(crt).read() + open(key).read())
    return pem


def bench(url, *args):
    r = benchlib.run(["http", url, *args, "--json", "-q"], timeout=30)[0]
    benchlib.validate(r)
    return r["results"]


def no_errors(res, what):
    bad = {k: v for k, v in res["errors"].items() if v and not k.startswith("status_")}
    check(not bad, f"{what}: unexpected errors {bad}")


def main(h):
    benchlib.bench_bin()
    _, origin = benchlib.start_origin(h, "--http", f"{eslib.LOCALHOST}:0", "--threads", "1", name="origin")
    pem = make_cert(h)
    tls_port = eslib.free_port()
    px = fixture.proxy_to_origin(
        h, origin=origin["http"], peer=False, ports=(tls_port,),
        fe_lines=f"bind {eslib.LOCALHOST}:{tls_port} ssl crt {pem} alpn http/1.1")
    url = f"https://{eslib.LOCALHOST}:{tls_port}/"

    # ---- keep-alive
    res = bench(url, "-c", "4", "-d", "2", "--sni", "site.test")
    t = res["tls"]
    log(f"https keep-alive: {res['responses']} responses ({res['rps']:.0f}/s), {t['version']} {t['cipher']} "
        f"alpn {t['alpn']!r}, handshakes {t['handshakes']}, p50 {t['handshake_us']['p50']:.0f} us")
    check(res["responses"] > 100, f"https keep-alive answers requests: {res['responses']}")
    no_errors(res, "https keep-alive")
    check_eq(res["status"]["2xx"], res["responses"], "every response is a 200")
    check_eq((t["version"], t["alpn"]), ("TLSv1.3", "http/1.1"), "version and ALPN of the first connection")
    check(t["cipher"].startswith("TLS_"), f"a TLS 1.3 suite: {t['cipher']}")
    check_eq((t["handshakes"], t["full"], t["resumed"]), (4, 4, 0), "one full handshake per connection")
    check(0 < t["handshake_us"]["p50"] <= t["handshake_us"]["p99"], f"handshake percentiles: {t['handshake_us']}")

    # ---- a new connection per request: resumed handshakes, then full ones
    for version in ("1.3", "1.2"):
        res = bench(url, "-c", "4", "-d", "1", "--close", "--tls-version", version)
        t = res["tls"]
        log(f"--close TLS {version}: {t['handshakes']} handshakes, {t['resumed']} resumed, {t['full']} full, "
            f"p50 {t['handshake_us']['p50']:.0f} us")
        no_errors(res, f"--close TLS {version}")
        check_eq(t["version"], "TLSv" + version, "--tls-version pins the version")
        check(t["handshakes"] > 20, f"--close makes a handshake per request: {t['handshakes']}")
        check_eq(t["full"] + t["resumed"], t["handshakes"], "handshakes = full + resumed")
        check(t["resumed"] > 0, f"--close resumes sessions (TLS {version}): {t}")
        check(t["resumed"] > t["full"], f"--close resumes most handshakes (TLS {version}): {t}")
    res = bench(url, "-c", "4", "-d", "1", "--close", "--no-resume")
    t = res["tls"]
    log(f"--close --no-resume: {t['handshakes']} handshakes, {t['resumed']} resumed")
    no_errors(res, "--close --no-resume")
    check(t["handshakes"] > 20, f"--close --no-resume makes handshakes: {t['handshakes']}")
    check_eq((t["resumed"], t["full"]), (0, t["handshakes"]), "--no-resume: every handshake is full")

    # ---- servers that do not speak TLS: counted as tls errors, not a crash
    for what, port in (("the origin's plain HTTP port", origin["http"]), ("edgeshard's plain bind", px.fe)):
        res = bench(f"https://{eslib.LOCALHOST}:{port}/", "-c", "2", "-d", "1", "--timeout", "500ms")
        e = res["errors"]
        log(f"https to {what}: errors {e}, first error {res['tls'].get('first_error')!r}")
        check(e["tls"] > 0, f"https to {what}: tls errors expected: {e}")
        check_eq(res["responses"], 0, f"https to {what}: no responses")
        check_eq(res["tls"]["failures"], e["tls"], "tls.failures = errors.tls")
        check(res["tls"].get("first_error"), f"https to {what}: a reason is given: {res['tls']}")
        check(e["parse"] == 0 and e["connect"] == 0, f"https to {what}: only tls errors: {e}")

    # a server that takes the connection and never answers the ClientHello: --timeout ends it
    import socket
    mute = socket.socket()
    mute.bind((eslib.LOCALHOST, 0))
    mute.listen(64)
    res = bench(f"https://{eslib.LOCALHOST}:{mute.getsockname()[1]}/", "-c", "2", "-d", "1", "--timeout", "300ms")
    mute.close()
    e = res["errors"]
    log(f"https to a server that never answers: errors {e}, first error {res['tls'].get('first_error')!r}")
    check(e["tls"] >= 2 and e["timeout"] == 0, f"a handshake without an answer is a tls error: {e}")
    check("timeout" in res["tls"].get("first_error", ""), f"and says it timed out: {res['tls']}")

    closed = eslib.free_port()
    res = bench(f"https://{eslib.LOCALHOST}:{closed}/", "-c", "2", "-d", "1")
    e = res["errors"]
    check(e["connect"] > 0 and e["tls"] == 0, f"https to a closed port: connect errors only: {e}")


if __name__ == "__main__":
    eslib.run(main)
