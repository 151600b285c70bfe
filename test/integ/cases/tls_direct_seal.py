#!/usr/bin/env python3
"""Direct sealing (`tune.es.ssl-direct-seal`, on by default): after the handshake edgeshard seals
the records itself, straight from the response bytes into its send blocks. Judged by real clients:
  - curl downloads 8 MiB byte-exact over every suite the sealer takes (TLS 1.3 AES-128-GCM,
    AES-256-GCM, CHACHA20-POLY1305; TLS 1.2 ECDHE-ECDSA AES-128-GCM and AES-256-GCM) and over one it
    leaves to OpenSSL (TLS 1.2 AES-128-CBC-SHA256), with keep-alive (three requests on one
    connection);
  - openssl s_client asks for a key update (`K`, update_requested) between requests on one
    connection: all answers arrive and s_client reports the proxy's KeyUpdate;
  - `show info` SslDirectSealConns counts the sealed connections (not the CBC one); with
    `tune.es.ssl-direct-seal off` it stays 0 and the same downloads are byte-exact;
  - `-c` refuses a bad value, naming file and line.
The same downloads and the key update run against HAProxy with ES_TEST_PEER=haproxy (without the
edgeshard keyword).
"""
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import http_origin  # noqa: E402
import tls_lib  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

N = 8 * MiB
SUITES = [  # (name, curl arguments, sealed directly)
    ("TLS 1.3 AES-128-GCM", ["--tlsv1.3", "--tls13-ciphers", "TLS_AES_128_GCM_SHA256"], True),
    ("TLS 1.3 AES-256-GCM", ["--tlsv1.3", "--tls13-ciphers", "TLS_AES_256_GCM_SHA384"], True),
    ("TLS 1.3 CHACHA20", ["--tlsv1.3", "--tls13-ciphers", "TLS_CHACHA20_POLY1305_SHA256"], True),
    ("TLS 1.2 AES-128-GCM", ["--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"], True),
    ("TLS 1.2 AES-256-GCM", ["--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"], True),
    ("TLS 1.2 AES-128-CBC", ["--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-SHA256"], False),
]


def info(px):
    out = px.proxy.ctl("show info")
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def downloads(h, port, site):
    """Every suite: one curl, three URLs on one connection (keep-alive), each body checked."""
    want = http_origin.pattern_sha256(N)
    for name, args, _ in SUITES:
        dests = [h.path(f"d{i}.bin") for i in range(3)]
        cmd = ["curl", "-sS", "--cacert", site, "--resolve", f"site.test:{port}:{eslib.LOCALHOST}",
               "-w", "%{http_code} %{size_download} %{num_connects}\n", *args]
        for d in dests:
            cmd += ["-o", d, f"https://site.test:{port}/bytes/{N}"]
        r = h.run_cmd(cmd, timeout=120)
        check_eq(r.returncode, 0, f"{name}: curl failed: {r.stderr}")
        lines = r.stdout.split("\n")
        for i, d in enumerate(dests):
            code, size, connects = lines[i].split()
            check_eq((code, size), ("200", str(N)), f"{name}: download {i + 1}: status and size")
            if i > 0:
                check_eq(connects, "0", f"{name}: download {i + 1} reused the connection")
            with open(d, "rb") as f:
                check_eq(hashlib.sha256(f.read()).hexdigest(), want, f"{name}: download {i + 1}: sha256")
            os.unlink(d)
    log(f"{len(SUITES)} suites: 3 x {N // MiB} MiB on one connection each, byte-exact")


def key_update(h, port):
    """s_client: a request, `K` (KeyUpdate, update_requested), two more requests; all answered."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"{eslib.LOCALHOST}:{port}", "-servername",
                          "site.test", "-tls1_3", "-msg"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        def send(text):
            p.stdin.write(text.encode())
            p.stdin.flush()
            time.sleep(1.0)
        req = "GET /bytes/20000 HTTP/1.1\r\nHost: site.test\r\n\r\n"  # sealed directly (>= 8 KiB)
        send(req)
        send("K\n")
        send(req)
        send(req)
        out = p.communicate(timeout=20)[0].decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check("KEYUPDATE" in out, f"s_client did not send its key update:\n{out[-1500:]}")
    check_eq(out.count("HTTP/1.1 200"), 3, f"three answers on the connection, around the key update:\n{out[-1500:]}")
    # -msg: the proxy's own KeyUpdate arrives after the client's (handshake messages it received)
    got = [ln for ln in out.splitlines() if ln.startswith("<<<") and "KeyUpdate" in ln]
    check(len(got) >= 1, f"the proxy answered the key update request with its own:\n{out[-2500:]}")
    log("KeyUpdate requested by s_client between requests: answered with the proxy's own, all three responses arrived")


def main(h):
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
    tls_port = eslib.free_port()
    bind = (f"bind {eslib.LOCALHOST}:{tls_port} ssl crt {site} alpn http/1.1 ssl-min-ver TLSv1.2 "
            "ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA256")
    px = fixture.proxy_to_origin(h, origin_opts={"conn_timeout": 60}, client="30s", server="30s",
                                 ports=(tls_port,), fe_lines=bind)
    downloads(h, tls_port, site)
    key_update(h, tls_port)
    if not eslib.on_edgeshard():
        return
    inf = info(px)
    sealed = sum(1 for s in SUITES if s[2])  # one connection per suite
    check(int(inf.get("SslDirectSealConns", "-1")) >= sealed,
          f"SslDirectSealConns counts the sealed connections (>= {sealed}): {inf.get('SslDirectSealConns')}")
    check(int(inf["SslDirectSealConns"]) <= int(inf["SslHandshakes"]) - 1,
          f"the CBC connection is not sealed directly: {inf['SslDirectSealConns']} of {inf['SslHandshakes']}")
    log(f"show info: SslDirectSealConns {inf['SslDirectSealConns']} of SslHandshakes {inf['SslHandshakes']}")
    px.stop()

    # the same with OpenSSL's own records
    port2 = eslib.free_port()
    px2 = fixture.proxy_to_origin(h, origin_opts={"conn_timeout": 60}, client="30s", server="30s",
                                  ports=(port2,), global_lines="tune.es.ssl-direct-seal off",
                                  fe_lines=bind.replace(str(tls_port), str(port2)), sock="es2.sock")
    downloads(h, port2, site)
    inf = info(px2)
    check_eq(inf.get("SslDirectSealConns"), "0", "tune.es.ssl-direct-seal off: no connection sealed directly")
    check(int(inf["SslHandshakes"]) >= len(SUITES), f"handshakes counted: {inf['SslHandshakes']}")
    log("tune.es.ssl-direct-seal off: OpenSSL's records, the same bytes")

    # -c: a bad value names file and line
    bad = px2.config.replace("tune.es.ssl-direct-seal off", "tune.es.ssl-direct-seal maybe")
    path = h.write("bad.cfg", bad)
    r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
    line = next(i + 1 for i, text in enumerate(bad.splitlines()) if "ssl-direct-seal" in text)
    check(r.returncode != 0 and f"bad.cfg:{line}:" in r.stderr and "'on' or 'off'" in r.stderr,
          f"-c should refuse 'maybe' at bad.cfg:{line}: {r.returncode} {r.stderr.strip()}")
    log(f"-c: {r.stderr.strip().splitlines()[-1]}")


if __name__ == "__main__":
    eslib.run_http(main)
