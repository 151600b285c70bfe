"""A qemu guest for kernel TLS (the slow suite): Debian's kernel and a static busybox, downloaded
with apt-get into a cache, an initramfs written here (newc, no root needed) holding our binaries
with the shared libraries ldd names, the modules kernel TLS needs and an /init. Used by
slow_ktls_qemu.py (the tls::Conn probe) and slow_ktls_edgeshard_qemu.py (edgeshard itself)."""
import glob
import lzma
import os
import re
import shutil
import stat
import subprocess
import time

import eslib
from eslib import Failure, Skip, check, log

CACHE = os.environ.get("EDGESHARD_KTLS_CACHE", "/var/tmp/edgeshard-ktls-cache")
# kernel TLS itself, and the crypto templates and algorithms its ciphers are built from (the guest
# has no modprobe: the kernel cannot load them on demand, so they are loaded before the tests)
MODULES = ["tls", "gcm", "ctr", "ghash-generic", "chacha20poly1305", "chacha_generic", "poly1305_generic"]


def apt(h, argv, timeout, cwd=None):
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout}s")


def ensure_qemu(h):
    qemu = shutil.which("qemu-system-x86_64")
    if qemu:
        return qemu
    if os.geteuid() != 0:
        raise Skip("qemu-system-x86_64 is not installed and this user cannot install it (apt needs root)")
    log("installing qemu-system-x86 with apt-get (once per machine)")
    r = apt(h, ["apt-get", "install", "-y", "--no-install-recommends", "qemu-system-x86"], 600)
    if r.returncode != 0:
        apt(h, ["apt-get", "update"], 300)
        r = apt(h, ["apt-get", "install", "-y", "--no-install-recommends", "qemu-system-x86"], 600)
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise Skip(f"cannot install qemu-system-x86: {r.stderr.strip()[-300:]}")
    return qemu


def download(h, pkg):
    """The .deb of `pkg` in the cache (downloaded when absent); the newest cached one when the
    mirror cannot be reached."""
    have = sorted(glob.glob(os.path.join(CACHE, f"{pkg}_*.deb")))
    if have:
        return have[-1]
    log(f"downloading {pkg} into {CACHE}")
    r = apt(h, ["apt-get", "download", pkg], 900, cwd=CACHE)
    if r.returncode != 0:
        apt(h, ["apt-get", "update"], 300)
        r = apt(h, ["apt-get", "download", pkg], 900, cwd=CACHE)
    have = sorted(glob.glob(os.path.join(CACHE, f"{pkg}_*.deb")))
    if not have:
        raise Skip(f"cannot download {pkg} from Debian's mirror: {r.stderr.strip()[-300:]}")
    return have[-1]


def kernel_package(h):
    """linux-image-amd64 is a metapackage: the real kernel package is its dependency."""
    r = apt(h, ["apt-cache", "depends", "linux-image-amd64"], 60)
    m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", r.stdout)
    if m:
        return m.group(1)
    cached = sorted(glob.glob(os.path.join(CACHE, "linux-image-[0-9]*-amd64_*.deb")))
    if cached:  # no package lists: the cached kernel
        return os.path.basename(cached[-1]).split("_")[0]
    raise Skip(f"apt-cache knows no linux-image-amd64 (no Debian package lists): {r.stderr.strip()[-200:]}")


def extract(deb):
    out = deb[:-len(".deb")]
    if not os.path.isdir(out):
        tmp = out + ".part"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True, timeout=300)
        os.rename(tmp, out)
    return out


def module_files(root):
    """name -> path of every module in the kernel package (names with '-' and '_' alike)."""
    mods = {}
    for p in glob.glob(os.path.join(root, "lib/modules/*/kernel/**/*.ko*"), recursive=True):
        name = os.path.basename(p).split(".ko")[0].replace("-", "_")
        mods[name] = p
    builtin = set()
    for b in glob.glob(os.path.join(root, "lib/modules/*/modules.builtin")):
        with open(b) as f:
            builtin.update(os.path.basename(ln.strip()).split(".ko")[0].replace("-", "_") for ln in f)
    mods["__builtin__"] = builtin
    return mods


def module_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    return lzma.decompress(data) if path.endswith(".xz") else data


def load_order(mods, wanted):
    """`wanted` and what they depend on (each module's modinfo 'depends='), dependencies first."""
    order, seen = [], set()

    def visit(name):
        name = name.replace("-", "_")
        if name in seen:
            return
        seen.add(name)
        if name not in mods:
            if name in mods.get("__builtin__", ()):
                return  # built into this kernel (6.12: ctr)
            raise Failure(f"module {name} is not in the kernel package")
        m = re.search(rb"\x00depends=([^\x00]*)\x00", module_bytes(mods[name]))
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            visit(dep)
        order.append(name)

    for w in wanted:
        visit(w)
    return order


class Cpio:
    """A newc archive (what the kernel unpacks as initramfs), written directly: device nodes
    (dev/console) need no mknod and no root."""

    def __init__(self):
        self.parts, self.ino = [], 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\x00"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0))
        self.ino += 1
        blob = hdr.encode() + name_b
        blob += b"\x00" * (-len(blob) % 4) + data
        blob += b"\x00" * (-len(blob) % 4)
        self.parts.append(blob)

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o755):
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor):
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def write(self, path):
        self._entry("TRAILER!!!", 0)
        with open(path, "wb") as f:
            f.write(b"".join(self.parts))


def shared_libraries(binary):
    """The files ldd says `binary` loads, the dynamic loader included."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise Failure(f"ldd {binary}: {r.stderr.strip()}")
    libs = []
    for line in r.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
    return libs


def add_binary(c, dirs_seen, path, name):
    """`path` as /`name` in the archive `c`, with the shared libraries it loads."""
    for lib in shared_libraries(path):
        _parents(c, dirs_seen, lib)
        if lib.lstrip("/") in dirs_seen:
            continue
        dirs_seen.add(lib.lstrip("/"))
        with open(os.path.realpath(lib), "rb") as f:
            c.file(lib.lstrip("/"), f.read())
    with open(path, "rb") as f:
        c.file(name, f.read())


def _parents(c, seen, path):
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d not in seen:
            seen.add(d)
            c.dir(d)


def base_initramfs(busybox, mods, order):
    """A Cpio with busybox, /dev nodes and the modules in `order`; returns (cpio, seen paths, the
    /init lines that set the guest up: busybox applets, /proc, /sys, the modules, lo)."""
    c = Cpio()
    seen = set()
    for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "lib/modules"):
        _parents(c, seen, d + "/x")
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3)
    with open(busybox, "rb") as f:
        c.file("bin/busybox", f.read())
    c.symlink("bin/sh", "busybox")
    for name in order:
        c.file(f"lib/modules/{name}.ko", module_bytes(mods[name]), 0o644)
    insmods = "\n".join(f"insmod /lib/modules/{n}.ko || echo KTLS-INSMOD-FAILED {n}" for n in order)
    setup = f"""#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
{insmods}
ip link set lo up
"""
    return c, seen, setup


def guest_parts(h, kernel_pkg=None):
    """(qemu, vmlinuz, busybox, modules, load order) for the kernel package `kernel_pkg` (default:
    the one linux-image-amd64 depends on)."""
    os.makedirs(CACHE, exist_ok=True)
    qemu = ensure_qemu(h)
    kroot = extract(download(h, kernel_pkg or kernel_package(h)))
    broot = extract(download(h, "busybox-static"))
    busybox = os.path.join(broot, "bin/busybox")
    check(os.path.exists(busybox), f"no bin/busybox in {broot}")
    vmlinuz = sorted(glob.glob(os.path.join(kroot, "boot/vmlinuz-*")))
    check(vmlinuz, f"no boot/vmlinuz-* in {kroot}")
    mods = module_files(kroot)
    order = load_order(mods, MODULES)
    log(f"kernel {os.path.basename(vmlinuz[-1])}; modules {' '.join(order)}")
    return qemu, vmlinuz[-1], busybox, mods, order


def run_guest(h, qemu, vmlinuz, initrd, begin, end, timeout, mem_mb=1024):
    """Boots the guest and waits for `end` on its console; returns (console text, boot seconds,
    run seconds). Fails when `end` does not come within `timeout`."""
    argv = ["nice", "-n", "19", qemu, "-m", str(mem_mb), "-smp", "1", "-cpu", "max", "-nographic", "-no-reboot",
            "-net", "none", "-kernel", vmlinuz, "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1"]
    t0 = time.monotonic()
    vm = h.spawn(argv, "qemu")
    log(f"booting the guest, pid {vm.pid}")
    deadline = eslib.Deadline(timeout)
    t_begin = None
    while vm.running() and end not in vm.stdout_text():
        if t_begin is None and begin in vm.stdout_text():
            t_begin = time.monotonic()
            log(f"guest booted in {t_begin - t0:.1f}s, tests running")
        if deadline.left() <= 0:
            break
        time.sleep(0.5)
    t_end = time.monotonic()
    out = vm.stdout_text()
    vm.wait(30)  # powering off
    vm.stop()
    if end not in out:
        tail = "\n".join(out.splitlines()[-40:])
        raise Failure(f"the guest did not finish within {timeout:.0f}s; console tail:\n{tail}")
    failed_mods = re.findall(r"KTLS-INSMOD-FAILED (\S+)", out)
    check(not failed_mods, f"insmod failed in the guest: {failed_mods}")
    return out, (t_begin or t_end) - t0, t_end - (t_begin or t_end)


def write_initramfs(h, c, init):
    """The guest's /init (a shell script) into the initramfs `c` from base_initramfs(), written to
    the case's directory; returns its path for run_guest()."""
    c.file("init", init.encode())
    path = h.path("initrd.cpio")
    c.write(path)
    return path
