#!/usr/bin/env python3
"""Memory per idle keep-alive HTTP connection, edgeshard against HAProxy (driver for idle_mem.sh).

One run (`run` mode) does, against one proxy process it starts itself:
  1. start a single-threaded keep-alive origin (this file in `origin` mode, a subprocess) on
     127.0.0.1, and the proxy with a minimal `mode http` frontend -> backend -> that origin;
  2. warm up: WARM requests over 16 keep-alive connections (the receive buffers the ring hands out
     and every code path are touched), then close them and let the proxy settle;
  3. sample the proxy's VmRSS (/proc/PID/status) and Private_Dirty (/proc/PID/smaps_rollup);
  4. open N client connections in waves of WAVE; each sends one GET, reads the whole response
     and then stays open and idle (keep-alive);
  5. wait SETTLE seconds, sample again, count the origin's established connections (what the
     proxy keeps towards the server for these N idle clients);
  6. close everything, stop the proxy and the origin by PID.
It prints one JSON line: {"proxy", "n", "rss_per_conn", "dirty_per_conn", "origin_conns", ...}.
Every wait is bounded; only 127.0.0.1 is used.
"""
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
BODY = b"x" * 64
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY
REQUEST = b"GET /idle HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: idle-mem\r\n\r\n"


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ------------------------------------------------------------------ origin

def origin(port):
    """Answers every request head (no bodies expected) with RESPONSE; keeps connections open."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    bufs = {}
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    while True:
        for key, _ in sel.select(1.0):
            if key.data is None:
                for _ in range(256):
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    bufs[c] = b""
                    sel.register(c, selectors.EVENT_READ, 1)
                continue
            c = key.fileobj
            try:
                d = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                sel.unregister(c)
                bufs.pop(c, None)
                c.close()
                continue
            b = bufs[c] + d
            out = b""
            while b"\r\n\r\n" in b:
                _, b = b.split(b"\r\n\r\n", 1)
                out += RESPONSE
            bufs[c] = b
            if out:
                try:
                    c.sendall(out)
                except OSError:
                    pass


def established(port):
    """Established TCP connections whose local port is `port` (the origin's side)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[3] == "01" and int(p[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


# ------------------------------------------------------------------ client

def exchange(port, n, wave, keep, deadline):
    """Opens n connections, WAVE at a time; each completes one request. Returns the open
    sockets when keep, else closes them as each finishes."""
    held = []
    sel = selectors.DefaultSelector()
    done = 0
    while done < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out opening connections ({done} of {n})")
        batch = min(wave, n - done)
        pending = {}
        for _ in range(batch):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect((HOST, port))
            except BlockingIOError:
                pass
            pending[s] = b""
            sel.register(s, selectors.EVENT_WRITE, "c")
        while pending:
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for responses ({len(pending)} left in a wave)")
            for key, _ in sel.select(1.0):
                s = key.fileobj
                if key.data == "c":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise SystemExit(f"connect failed: {os.strerror(err)}")
                    s.send(REQUEST)
                    sel.modify(s, selectors.EVENT_READ, "r")
                    continue
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                if not d:
                    raise SystemExit("proxy closed a connection before its response")
                b = pending[s] + d
                pending[s] = b
                if b"\r\n\r\n" in b:
                    head, body = b.split(b"\r\n\r\n", 1)
                    cl = 0
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            cl = int(v)
                    if not head.startswith(b"HTTP/1.1 200"):
                        raise SystemExit(f"unexpected response {head[:60]!r}")
                    if len(body) >= cl:
                        sel.unregister(s)
                        del pending[s]
                        done += 1
                        if keep:
                            held.append(s)
                        else:
                            s.close()
    return held


def warm(port, total, conns, deadline):
    """`total` sequential requests spread over `conns` keep-alive connections."""
    socks = exchange(port, conns, conns, True, deadline)
    sel = selectors.DefaultSelector()
    left = total - conns
    bufs = {}
    for s in socks:
        if left <= 0:
            break
        s.send(REQUEST)
        left -= 1
        bufs[s] = b""
        sel.register(s, selectors.EVENT_READ)
    while bufs:
        if time.monotonic() > deadline:
            raise SystemExit("timed out warming up")
        for key, _ in sel.select(1.0):
            s = key.fileobj
            d = s.recv(65536)
            if not d:
                raise SystemExit("proxy closed a warm-up connection")
            b = bufs[s] + d
            if len(b) >= len(RESPONSE):
                b = b[len(RESPONSE):]
                if left > 0:
                    s.send(REQUEST)
                    left -= 1
                elif not b:
                    sel.unregister(s)
                    del bufs[s]
                    continue
            bufs[s] = b
    for s in socks:
        s.close()


# ------------------------------------------------------------------ measurement

def sample(pid):
    rss = dirty = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                dirty = int(line.split()[1]) * 1024
    return rss, dirty


def ctl(path, command, timeout=5.0):
    """One command on a control socket (edgeshard's or HAProxy's); the answer as text."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        out = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            d = s.recv(65536)
            if not d:
                break
            out += d
        return out.decode("utf-8", "replace")
    except OSError as e:
        return f"({command}: {e!r})"
    finally:
        s.close()


def config(kind, fe_port, origin_port, maxconn, sock):
    g = ["global", "    nbthread 1", f"    maxconn {maxconn}", f"    stats socket {sock} mode 600 level admin"]
    return "\n".join(g + [
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 120s",
        "    timeout server 120s",
        "    timeout http-keep-alive 120s",
        "",
        "frontend fe",
        f"    bind {HOST}:{fe_port}",
        "    default_backend be",
        "",
        "backend be",
        f"    server s1 {HOST}:{origin_port}",
        "",
    ])


def wait_listening(port, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"process {proc.args[0]} exited with {proc.returncode} during start-up")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} not listening after {timeout}s")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run(kind, binary, n, wave, warm_reqs, settle, workdir):
    os.makedirs(workdir, exist_ok=True)
    oport, fport = free_port(), free_port()
    orig = subprocess.Popen([sys.executable, os.path.abspath(__file__), "origin", str(oport)])
    proxy = None
    deadline = time.monotonic() + 240
    try:
        wait_listening(oport, orig, 10)
        cfg = os.path.join(workdir, f"{kind}.cfg")
        sock = os.path.join(workdir, f"{kind}.sock")
        with open(cfg, "w") as f:
            f.write(config(kind, fport, oport, n + 500, sock))
        argv = [binary, "-f", cfg] + (["-db"] if kind == "haproxy" else [])
        err = open(os.path.join(workdir, f"{kind}.stderr"), "w")
        proxy = subprocess.Popen(argv, stdout=err, stderr=err)
        wait_listening(fport, proxy, 10)
        warm(fport, warm_reqs, 16, deadline)
        time.sleep(settle)
        rss0, dirty0 = sample(proxy.pid)
        with open(os.path.join(workdir, "pools-before.txt"), "w") as f:
            f.write(ctl(sock, "show pools"))
        t0 = time.monotonic()
        held = exchange(fport, n, wave, True, deadline)
        t_open = time.monotonic() - t0
        time.sleep(settle)
        rss1, dirty1 = sample(proxy.pid)
        oconns = established(oport)
        with open(os.path.join(workdir, "pools-after.txt"), "w") as f:
            f.write(ctl(sock, "show pools"))
        alive = proxy.poll() is None
        for s in held:
            s.close()
        if not alive:
            raise SystemExit(f"{kind} exited during the run")
        print(json.dumps({
            "proxy": kind, "n": n, "wave": wave, "settle_s": settle,
            "rss_before": rss0, "rss_after": rss1, "dirty_before": dirty0, "dirty_after": dirty1,
            "rss_per_conn": round((rss1 - rss0) / n, 1), "dirty_per_conn": round((dirty1 - dirty0) / n, 1),
            "origin_conns": oconns, "open_s": round(t_open, 2),
        }), flush=True)
    finally:
        if proxy is not None:
            stop(proxy)
        stop(orig)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "origin":
        origin(int(sys.argv[2]))
        return
    if len(sys.argv) != 9 or sys.argv[1] != "run":
        raise SystemExit("usage: idle_mem.py run KIND BINARY N WAVE WARM SETTLE WORKDIR | origin PORT")
    _, _, kind, binary, n, wave, warm_reqs, settle, workdir = sys.argv
    run(kind, binary, int(n), int(wave), int(warm_reqs), float(settle), workdir)


if __name__ == "__main__":
    main()
