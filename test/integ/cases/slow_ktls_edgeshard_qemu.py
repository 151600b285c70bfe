#!/usr/bin/env python3
"""Kernel TLS on edgeshard's data path, proven on a kernel that has it: edgeshard runs in a qemu
guest with `bind ... ssl crt ... ktls on` frontends in front of edgeshard-bench origins, and
edgeshard-bench's https client loads them (all three are our binaries, copied with their shared
libraries into the initramfs; the guest itself is built by lib/ktls_guest.py, as for
slow_ktls_qemu.py). Checked from the guest's console:
  - every run: no error of any kind, every response 2xx, the bytes the bodies should make;
  - small bodies over TLS 1.3 and TLS 1.2, keep-alive and a new connection per request;
  - 1 MiB bodies: past tune.es.splice-after, so spliced into the kernel TLS socket (SpliceSwitches);
  - a `mode tcp` frontend terminating TLS (`ktls on`) in front of the 1 MiB origin, run first: its
    sessions are handed to kernel TLS (SslKtlsConns) and their server -> client bytes spliced into
    the TLS socket (SpliceSwitches, SpliceBytes), byte counts and statuses as above;
  - `show info` (edgeshardctl): SslKtlsConns counts (nearly) every connection, TLS 1.3 ones whose
    request came with the client's Finished too, and no "kernel TLS is not available" warning.
The kernel: Debian 12's 6.12 (bookworm-security, linux-image-6.12.*+deb12-amd64): the 6.1 of
linux-image-amd64 has no IORING_OP_FIXED_FD_INSTALL (6.8), so edgeshard could get no regular fd
for setsockopt(SOL_TLS) there (nor splice). EDGESHARD_KTLS_KERNEL names another package.
In the slow suite; skips (77) when qemu or the packages cannot be had."""
import collections
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import ktls_guest  # noqa: E402
import tls_lib  # noqa: E402
from eslib import Skip, check, log  # noqa: E402

TIMEOUT = 900.0
BEGIN, END = "ES-KTLS-BEGIN", "ES-KTLS-END"
SMALL, BIG = 100, 1 << 20
CONFIG = """global
    nbthread 1
    stats socket /tmp/es.sock level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend small
    bind 127.0.0.1:8443 ssl crt /site.pem ktls on
    default_backend small
frontend big
    bind 127.0.0.1:8444 ssl crt /site.pem ktls on
    default_backend big
frontend l4
    mode tcp
    bind 127.0.0.1:8445 ssl crt /site.pem ktls on
    default_backend l4
backend l4
    mode tcp
    server s 127.0.0.1:8082
backend small
    server s 127.0.0.1:8081
backend big
    server s 127.0.0.1:8082
"""
# name, URL, bench options, body size: the mode tcp frontend's runs (first), then the HTTP ones
RUNS_L4 = [
    ("l4-tls13", "https://127.0.0.1:8445/", "-c 2 -d 3s", BIG),
    ("l4-close-tls12", "https://127.0.0.1:8445/", "-c 2 -d 3s --close --no-resume --tls-version 1.2", BIG),
    ("l4-close-tls13", "https://127.0.0.1:8445/", "-c 2 -d 3s --close --no-resume", BIG),
]
RUNS = [
    ("small-tls13", "https://127.0.0.1:8443/", "-c 4 -d 3s", SMALL),
    ("small-tls12", "https://127.0.0.1:8443/", "-c 2 -d 3s --tls-version 1.2", SMALL),
    ("small-close", "https://127.0.0.1:8443/", "-c 2 -d 3s --close --no-resume", SMALL),
    ("small-close-tls12", "https://127.0.0.1:8443/", "-c 2 -d 3s --close --no-resume --tls-version 1.2", SMALL),
    ("big-tls13", "https://127.0.0.1:8444/", "-c 2 -d 4s", BIG),
    ("big-tls12", "https://127.0.0.1:8444/", "-c 2 -d 4s --tls-version 1.2", BIG),
]


def kernel_pkg(h):
    want = os.environ.get("EDGESHARD_KTLS_KERNEL")
    if want:
        return want
    r = ktls_guest.apt(h, ["apt-cache", "pkgnames", "linux-image-6.12"], 60)
    names = sorted(n for n in r.stdout.split() if re.fullmatch(r"linux-image-6\.12\.\d+\+deb12-amd64", n))
    if names:
        return max(names, key=lambda n: int(n.split(".")[2].split("+")[0]))
    cached = sorted(glob.glob(os.path.join(ktls_guest.CACHE, "linux-image-6.12.*+deb12-amd64_*.deb")))
    if cached:
        return os.path.basename(cached[-1]).split("_")[0]
    raise Skip("no linux-image-6.12.*+deb12-amd64 known to apt (a kernel with FIXED_FD_INSTALL is needed)")


def build_initramfs(h, busybox, mods, order, site):
    bins = {n: os.environ.get(v, "") for n, v in (("edgeshard", "EDGESHARD_BIN"), ("edgeshardctl", "EDGESHARDCTL_BIN"),
                                                 ("edgeshard-bench", "EDGESHARD_BENCH_BIN"))}
    for n, p in bins.items():
        check(p and os.access(p, os.X_OK), f"{n}: {p!r} is not an executable")
    c, seen, setup = ktls_guest.base_initramfs(busybox, mods, order)
    for n, p in bins.items():
        ktls_guest.add_binary(c, seen, p, n)
    with open(site, "rb") as f:
        c.file("site.pem", f.read(), 0o600)
    c.file("es.cfg", CONFIG.encode(), 0o644)
    def script(runs):
        return "\n".join(f"/edgeshard-bench http {url} {opts} --timeout 20s --json -q > /tmp/r.json 2>/tmp/r.err\n"
                         f"echo RUN {name} $? $(cat /tmp/r.json | tr -d '\\n')\ncat /tmp/r.err"
                         for name, url, opts, _ in runs)
    init = setup + f"""echo {BEGIN}
/edgeshard-bench origin --http 127.0.0.1:8081 --body-size {SMALL} > /tmp/o1.log 2>&1 &
/edgeshard-bench origin --http 127.0.0.1:8082 --body-size {BIG} > /tmp/o2.log 2>&1 &
/edgeshard -f /es.cfg > /tmp/es.out 2> /tmp/es.err &
sleep 3
{script(RUNS_L4)}
echo INFO-L4-BEGIN
/edgeshardctl -s /tmp/es.sock 'show info'
echo INFO-L4-END
{script(RUNS)}
echo INFO-BEGIN
/edgeshardctl -s /tmp/es.sock 'show info'
echo INFO-END
echo ES-STDERR-BEGIN
cat /tmp/es.err
echo ES-STDERR-END
echo {END}
poweroff -f
"""
    return ktls_guest.write_initramfs(h, c, init)


def main(h):
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
    qemu, vmlinuz, busybox, mods, order = ktls_guest.guest_parts(h, kernel_pkg(h))
    initrd = build_initramfs(h, busybox, mods, order, site)
    log(f"initramfs {os.path.getsize(initrd) / 1048576:.1f} MiB")
    out, boot_s, run_s = ktls_guest.run_guest(h, qemu, vmlinuz, initrd, BEGIN, END, TIMEOUT)
    log(f"boot {boot_s:.1f}s, runs {run_s:.1f}s")
    body = out[out.index(BEGIN):out.index(END)]
    stderr = body[body.index("ES-STDERR-BEGIN"):]
    full12 = full13 = l4_conns = 0
    for name, _, opts, size in RUNS_L4 + RUNS:
        m = re.search(rf"^RUN {name} (\d+) (.*)$", body, re.M)
        check(m, f"{name}: no result; console:\n{body[-3000:]}")
        check(m.group(1) == "0", f"{name}: edgeshard-bench exited {m.group(1)}; console:\n{body[-3000:]}")
        doc = json.loads(m.group(2).strip())
        r = doc["results"][0] if isinstance(doc["results"], list) else doc["results"]
        errors = {k: v for k, v in r["errors"].items() if v}
        log(f"  {name}: {r['responses']} responses, {r['bytes_received']} bytes, errors {errors or 'none'}")
        check(r["responses"] > 0, f"{name}: no response; console:\n{body[:8000]}")
        if name.startswith("l4-"):
            l4_conns += r["responses"] if "--close" in opts else 2
        if name == "small-close-tls12":
            full12 = r["responses"]  # a full TLS 1.2 handshake each: the client speaks after our Finished
        if name == "small-close":
            full13 = r["responses"]  # a full TLS 1.3 handshake each: the request comes with the Finished
        check(not errors, f"{name}: errors {r['errors']}")
        check(r["status"]["2xx"] == r["responses"], f"{name}: statuses {r['status']}")
        check(r["bytes_received"] >= r["responses"] * size, f"{name}: {r['bytes_received']} bytes for "
                                                            f"{r['responses']} responses of {size}")
    def show_info(begin, end):
        return dict(ln.split(": ", 1) for ln in body[body.index(begin):body.index(end)].splitlines() if ": " in ln)
    l4 = show_info("INFO-L4-BEGIN", "INFO-L4-END")
    log(f"guest, after the mode tcp runs: SslKtlsConns {l4.get('SslKtlsConns')}, SslKtlsFallbacks "
        f"{l4.get('SslKtlsFallbacks')}, SslHandshakes {l4.get('SslHandshakes')}, SpliceSwitches "
        f"{l4.get('SpliceSwitches')}, SpliceBytes {l4.get('SpliceBytes')}")
    check(int(l4.get("SslKtlsConns", "0")) >= 0.9 * l4_conns,
          f"mode tcp sessions handed to kernel TLS: {l4.get('SslKtlsConns')} of {l4_conns}")
    check(int(l4.get("SpliceSwitches", "0")) > 0 and int(l4.get("SpliceBytes", "0")) >= (1 << 20),
          f"mode tcp: no server -> client bytes spliced into the kernel TLS socket: {l4}")
    info = show_info("INFO-BEGIN", "INFO-END")
    log(f"guest: TlsTier {info.get('TlsTier')!r}")
    log(f"guest: SslKtlsConns {info.get('SslKtlsConns')}, SslKtlsFallbacks {info.get('SslKtlsFallbacks')}, SslHandshakes {info.get('SslHandshakes')}, "
        f"SpliceSwitches {info.get('SpliceSwitches')}, SpliceBytes {info.get('SpliceBytes')}")
    lines = collections.Counter(ln.strip() for ln in stderr.splitlines()[1:] if ln.strip() and "ES-STDERR" not in ln)
    for ln, n in lines.most_common(8):
        log(f"guest edgeshard stderr ({n}x): {ln[:200]}")
    check("kernel TLS available" in info.get("TlsTier", ""), f"guest tier: {info.get('TlsTier')}")
    check("kernel TLS is not available" not in stderr, f"edgeshard warned:\n{stderr[:2000]}")
    # TLS 1.2 clients speak after our Finished; TLS 1.3 ones send the request with theirs, which is
    # read in user space before the kernel takes over: nearly every connection is handed over
    want = 0.9 * (full12 + full13) + int(l4.get("SslKtlsConns", "0"))
    check(int(info.get("SslKtlsConns", "0")) >= want, f"connections handed to kernel TLS: {info.get('SslKtlsConns')}, "
                                                      f"fewer than 90% of the {full12} + {full13} full TLS 1.2 and 1.3 handshakes")
    check(int(info.get("SpliceSwitches", "0")) > 0, f"no 1 MiB body spliced: {info}")


if __name__ == "__main__":
    eslib.run(main)
