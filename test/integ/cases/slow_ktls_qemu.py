#!/usr/bin/env python3
"""Kernel TLS, proven on a kernel that has it: tls::Conn::offload() hands the records to the kernel
and plaintext flows over send/recv, io_uring SEND/RECV and splice, every byte checked by a real
OpenSSL client, for TLS 1.3 AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305 and TLS 1.2 AES-GCM.

The machine that runs the tests may have no kernel TLS (CONFIG_TLS off), so test/ktls/ktls_probe
runs inside a qemu guest (software emulation, no KVM needed) booting Debian's own kernel
(linux-image-amd64's 6.1, whose tls.ko is a module) with an initramfs built here: a static
busybox, the probe with the shared libraries ldd names and the dynamic loader, the modules kernel
TLS and its ciphers need, and an /init that loads them, brings up lo, runs the probe and powers
off. The kernel and busybox packages are downloaded with apt-get into a cache that later runs
reuse (EDGESHARD_KTLS_CACHE, default /var/tmp/edgeshard-ktls-cache); qemu is installed with apt
when missing (here, not in scripts/setup.sh: only the slow suite needs it, CI does not pay for it).
Skips (77) only when qemu or the packages cannot be had (no Debian mirror, not root).

In the slow suite (`scripts/test.sh --slow`). EDGESHARD_KTLS_MIB sets the MiB per direction and
per path (default 2)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import ktls_guest  # noqa: E402
from eslib import check, log  # noqa: E402

BOOT_TIMEOUT = 600.0  # boot + probe + power-off under software emulation (40 s seen on a loaded machine)
BEGIN, END = "KTLS-PROBE-BEGIN", "KTLS-PROBE-END"


def build_initramfs(h, probe, busybox, mods, order, mib):
    c, seen, setup = ktls_guest.base_initramfs(busybox, mods, order)
    ktls_guest.add_binary(c, seen, probe, "ktls_probe")
    init = setup + f"""echo {BEGIN}
/ktls_probe --mib {mib}
echo KTLS-PROBE-EXIT $?
echo {END}
poweroff -f
"""
    return ktls_guest.write_initramfs(h, c, init)


def main(h):
    probe = os.environ.get("EDGESHARD_KTLS_PROBE_BIN", "")
    check(probe and os.access(probe, os.X_OK), f"EDGESHARD_KTLS_PROBE_BIN={probe!r} is not an executable")
    mib = os.environ.get("EDGESHARD_KTLS_MIB", "2")
    qemu, vmlinuz, busybox, mods, order = ktls_guest.guest_parts(h)
    initrd = build_initramfs(h, probe, busybox, mods, order, mib)
    log(f"initramfs {os.path.getsize(initrd) / 1048576:.1f} MiB")
    out, boot_s, run_s = ktls_guest.run_guest(h, qemu, vmlinuz, initrd, BEGIN, END, BOOT_TIMEOUT)
    log(f"boot {boot_s:.1f}s, probe {run_s:.1f}s, total {boot_s + run_s:.1f}s")
    body = out[out.index(BEGIN):out.index(END)]
    line = next((ln.strip() for ln in body.splitlines() if ln.strip().startswith('{"kernel"')), None)
    check(line, f"no JSON from the probe; console:\n{body[-3000:]}")
    res = json.loads(line)
    log(f"guest kernel {res['kernel']}; tier: {res['tier']}")
    check(res["probe"]["tx"] and res["probe"]["rx"], f"the guest kernel refused kernel TLS: {res['probe']}")
    check("kernel TLS available (TX/RX" in res["tier"], f"tier text: {res['tier']}")
    names = set()
    for c in res["cases"]:
        names.add(c["name"])
        log(f"  {c['name']}: offload {c['offload']}, tx_seq {c['tx_seq']}, send {c['send']}, "
            f"io_uring {c['uring_send']}/{c['uring_recv']}, splice {c['splice']}, recv {c['recv']}, "
            f"close_notify {c['close_notify']}, {c['ms']} ms {c['why']} {c['client_error']}")
        check(c["offload"] == "Done", f"{c['name']}: not offloaded: {c['why']}")
        check(c["ok"], f"{c['name']}: {c}")
    for want in ("TLSv1.3 AES-128-GCM", "TLSv1.3 AES-256-GCM", "TLSv1.3 CHACHA20-POLY1305", "TLSv1.2 AES-128-GCM",
                 "TLSv1.2 AES-256-GCM"):
        check(want in names, f"case {want} missing from the probe's results")
    check(res["ok"] and "KTLS-PROBE-EXIT 0" in body, "the probe did not exit 0")
    log(f"{res['bytes_per_path'] * 5 // 1048576} MiB per case through the kernel's records, "
        f"{len(res['cases'])} cases, all bytes checked")


if __name__ == "__main__":
    eslib.run(main)
