#!/usr/bin/env python3
"""How fast health checks move traffic: edgeshard against HAProxy 2.6 with the same configuration
(option httpchk GET /health, inter INTER ms, rise RISE, fall FALL, retries 3, option redispatch),
in one run, rounds interleaved.

Two origins a and b (threads in this script, recording when each request arrives) behind the proxy
under test; a client sends GET /req at a steady RATE over keep-alive connections. Per round and
proxy, two events:
  1. origin a fails its health checks (its /health answers 503) but still answers requests, so
     the moment the proxy stops sending it traffic is seen at the origin itself:
       fail -> DOWN             when `show stat` first says a is DOWN (sampled every 5 ms)
       fail -> last request     the last client request (not a check) that reached a
     then /health answers 200 again:
       recover -> UP, recover -> first request
  2. origin a dies (listener and connections closed: connections refused):
       death -> DOWN            when `show stat` says DOWN
     and restarts on its port: restart -> UP, restart -> first request.
  errors: client requests not answered 200 (retries + redispatch + retry-on hide a's death).
The proxy runs on CPU 1, the origins and the client here on CPU 0.
  bench/check/failover.py [--rounds 3] [--inter 1000] [--rise 2] [--fall 3] [--rate 400]
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Origin:
    """A minimal keep-alive HTTP/1.1 origin that records (monotonic time, path) per request."""

    def __init__(self, name, port):
        self.name, self.port = name, port
        self.healthy = True
        self.log = []
        self.lock = threading.Lock()
        self.conns = []
        self.stopping = False
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(512)
        self.ls.settimeout(0.1)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.ls.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        body = f"hello from {self.name}\n".encode()
        try:
            while not self.stopping:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].split()
                path = line[1].decode() if len(line) > 1 else "?"
                with self.lock:
                    self.log.append((time.monotonic(), path))
                close = b"connection: close" in head.lower()
                status = b"200 OK" if path != "/health" or self.healthy else b"503 Service Unavailable"
                c.sendall(b"HTTP/1.1 %s\r\nContent-Length: %d\r\nX-Origin: %s\r\n%s\r\n" %
                          (status, len(body), self.name.encode(), b"Connection: close\r\n" if close else b"") + body)
                if close:
                    return
        except OSError:
            return
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.ls.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []


def ctl(sock, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(sock)
    s.sendall(cmd.encode() + b"\n")
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out.decode()


def server_row(sock, be, sv):
    text = ctl(sock, "show stat")
    lines = text.splitlines()
    hdr = lines[0].lstrip("# ").split(",")
    for ln in lines[1:]:
        f = ln.split(",")
        if len(f) > 1 and f[0] == be and f[1] == sv:
            return dict(zip(hdr, f))
    return {}


def num(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def attempts(row):
    return num(row.get("econ")) + num(row.get("wretr")) + num(row.get("wredis"))


def one_round(system, args, tmp):
    pa, pb, port = free_port(), free_port(), free_port()
    a, b = Origin("a", pa), Origin("b", pb)
    sock = os.path.join(tmp, f"{system}.sock")
    cfg = os.path.join(tmp, f"{system}.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    nbthread 1
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /health
    default-server inter {args.inter} rise {args.rise} fall {args.fall}
    server a 127.0.0.1:{pa} check
    server b 127.0.0.1:{pb} check
""")
    if system == "haproxy":
        argv = ["taskset", "-c", "1", "haproxy", "-q", "-db", "-f", cfg]
    else:
        argv = ["taskset", "-c", "1", os.environ.get("ES_BIN", os.path.join(ROOT, "build", "edgeshard")), "-f", cfg]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dl = time.monotonic() + 10
        while time.monotonic() < dl:
            try:
                if server_row(sock, "be", "a").get("status") == "UP" and server_row(sock, "be", "b").get("status") == "UP":
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{system}: servers not UP")
        stop = threading.Event()
        errors = []
        sent = [0]

        def client():
            period = 1.0 / args.rate
            conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(4)]
            nxt = time.monotonic()
            i = 0
            while not stop.is_set():
                c = conns[i % 4]
                i += 1
                try:
                    c.request("GET", "/req")
                    r = c.getresponse()
                    r.read()
                    if r.status != 200:
                        errors.append(r.status)
                except Exception as e:  # noqa: BLE001 - a failed request is the measurement
                    errors.append(repr(e))
                    conns[(i - 1) % 4] = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                sent[0] += 1
                nxt += period
                d = nxt - time.monotonic()
                if d > 0:
                    time.sleep(d)

        t = threading.Thread(target=client, daemon=True)
        t.start()
        time.sleep(1.0)
        def wait_status(want, t0, limit=10):
            while time.monotonic() - t0 < limit:
                st = server_row(sock, "be", "a").get("status")
                if st == want:
                    return time.monotonic()
                time.sleep(0.005)
            return None

        def reqs(origin):
            with origin.lock:
                return [ts for ts, path in origin.log if path == "/req"]

        # ---- 1. a fails its checks but still serves
        t_fail = time.monotonic()
        a.healthy = False
        t_down1 = wait_status("DOWN", t_fail)
        time.sleep(0.5)
        after = [ts for ts in reqs(a) if ts >= t_fail]
        t_last = max(after) if after else t_fail
        t_rec = time.monotonic()
        a.healthy = True
        t_up1 = wait_status("UP", t_rec)
        time.sleep(0.3)
        back = [ts for ts in reqs(a) if ts >= t_rec]
        # ---- 2. a dies, then restarts
        t_kill = time.monotonic()
        a.stop()
        t_down2 = wait_status("DOWN", t_kill)
        time.sleep(0.3)
        a = Origin("a", pa)
        t_restart = time.monotonic()
        t_up2 = wait_status("UP", t_restart)
        time.sleep(0.5)
        stop.set()
        t.join(5)
        first = reqs(a)
        ms = lambda t, t0: (t - t0) * 1000 if t is not None else None  # noqa: E731
        res = {
            "system": system,
            "fail_to_down_ms": ms(t_down1, t_fail),
            "fail_to_last_request_ms": ms(t_last, t_fail),
            "recover_to_up_ms": ms(t_up1, t_rec),
            "recover_to_first_request_ms": ms(min(back), t_rec) if back else None,
            "death_to_down_ms": ms(t_down2, t_kill),
            "restart_to_up_ms": ms(t_up2, t_restart),
            "restart_to_first_request_ms": ms(min(first), t_restart) if first else None,
            "requests": sent[0],
            "errors": len(errors),
        }
        return res
    finally:
        p.terminate()
        p.wait(5)
        a.stop()
        b.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inter", type=int, default=1000)
    ap.add_argument("--rise", type=int, default=2)
    ap.add_argument("--fall", type=int, default=3)
    ap.add_argument("--rate", type=int, default=400)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    os.sched_setaffinity(0, {0})
    tmp = tempfile.mkdtemp(prefix="failover.")
    rows = []
    for r in range(args.rounds):
        for system in ("edgeshard", "haproxy"):
            res = one_round(system, args, tmp)
            res["round"] = r + 1
            rows.append(res)
            print(json.dumps(res), file=sys.stderr, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    keys = ["fail_to_down_ms", "fail_to_last_request_ms", "recover_to_up_ms", "recover_to_first_request_ms",
            "death_to_down_ms", "restart_to_up_ms", "restart_to_first_request_ms"]
    print(f"inter {args.inter} ms, rise {args.rise}, fall {args.fall}, {args.rate} requests/s, {args.rounds} rounds (medians)")
    print("| measure | edgeshard | HAProxy | ratio |")
    print("|---|---:|---:|---:|")
    for k in keys:
        e = [r[k] for r in rows if r["system"] == "edgeshard" and r[k] is not None]
        h = [r[k] for r in rows if r["system"] == "haproxy" and r[k] is not None]
        if e and h:
            me, mh = statistics.median(e), statistics.median(h)
            print(f"| {k[:-3].replace('_', ' ').replace(' to ', ' -> ')} | {me:.0f} ms | {mh:.0f} ms | {me / mh:.2f} |")
    for s in ("edgeshard", "haproxy"):
        rs = [r for r in rows if r["system"] == s]
        print(f"| client errors ({s}) | {sum(r['errors'] for r in rs)} of {sum(r['requests'] for r in rs)} | | |")


if __name__ == "__main__":
    main()
