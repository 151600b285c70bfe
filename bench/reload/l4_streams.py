#!/usr/bin/env python3
"""L4 side of the reload benchmark.

  l4_streams.py echo --port P
      an echo server on 127.0.0.1:P (one thread, selectors); echoes everything and closes once the
      peer has half-closed and everything was sent back. Runs until killed.

  l4_streams.py streams --port P --count N --mib M --seconds S [--stagger F] --out FILE
      N connections to 127.0.0.1:P; each sends M MiB of pseudo-random bytes at a steady pace over
      S seconds (so it stays open across the reloads), half-closes, and checks that exactly the
      same bytes come back followed by EOF. The second half of the streams start F*S seconds later
      (default 0.3) and send over the remaining time, so they open on another generation.
      Writes JSON {"count", "complete", "truncated", "corrupt", "failed", "details": [...]} to FILE:
      truncated = fewer bytes came back than were sent (reset, early EOF, or a send error),
      corrupt = as many bytes but different ones, failed = could not even connect.
"""
import argparse
import hashlib
import json
import os
import selectors
import socket
import sys
import threading
import time

HOST = "127.0.0.1"


def echo(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, port))
    ls.listen(1024)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    st = {}  # conn -> [pending bytes, peer half-closed]

    def drop(c):
        sel.unregister(c)
        st.pop(c, None)
        c.close()

    while True:
        for key, mask in sel.select(1.0):
            c = key.fileobj
            if c is ls:
                for _ in range(64):
                    try:
                        n, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    n.setblocking(False)
                    st[n] = [bytearray(), False]
                    sel.register(n, selectors.EVENT_READ)
                continue
            s = st.get(c)
            if s is None:
                continue
            try:
                if mask & selectors.EVENT_READ and not s[1] and len(s[0]) < (4 << 20):
                    data = c.recv(1 << 16)
                    if data:
                        s[0] += data
                    else:
                        s[1] = True
                if s[0]:
                    try:
                        k = c.send(s[0])
                        del s[0][:k]
                    except BlockingIOError:
                        pass
                if s[1] and not s[0]:
                    drop(c)
                    continue
                want = 0 if s[1] or len(s[0]) >= (4 << 20) else selectors.EVENT_READ
                want |= selectors.EVENT_WRITE if s[0] else 0
                if want:
                    sel.modify(c, want)
            except OSError:
                drop(c)


def one_stream(port, total, seconds, name, out):
    res = {"name": name, "sent": 0, "received": 0, "outcome": "failed", "error": ""}
    out.append(res)
    try:
        s = socket.create_connection((HOST, port), timeout=10)
    except OSError as e:
        res["error"] = f"connect: {e!r}"
        return
    seed = os.urandom(32)
    sent_h, recv_h = hashlib.sha256(), hashlib.sha256()
    rerr = []

    def reader():
        buf = bytearray(1 << 17)
        mv = memoryview(buf)
        end = time.monotonic() + seconds + 60
        try:
            while time.monotonic() < end:
                s.settimeout(max(0.05, end - time.monotonic()))
                try:
                    k = s.recv_into(buf)
                except socket.timeout:
                    continue
                if k == 0:
                    return
                recv_h.update(mv[:k])
                res["received"] += k
            rerr.append("no EOF before the deadline")
        except OSError as e:
            rerr.append(f"recv: {e!r}")

    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    chunk = 1 << 16
    pieces = (total + chunk - 1) // chunk
    t0 = time.monotonic()
    try:
        for i in range(pieces):
            n = min(chunk, total - res["sent"])
            piece = (hashlib.sha256(seed + i.to_bytes(8, "little")).digest() * (n // 32 + 1))[:n]
            s.sendall(piece)
            sent_h.update(piece)
            res["sent"] += n
            delay = t0 + seconds * (i + 1) / pieces - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        rerr.append(f"send: {e!r}")
    rt.join(seconds + 70)
    s.close()
    if res["received"] < total or rerr:
        res["outcome"] = "truncated"
        res["error"] = "; ".join(rerr)
    elif res["received"] == total and recv_h.hexdigest() == sent_h.hexdigest():
        res["outcome"] = "complete"
    else:
        res["outcome"] = "corrupt"


def streams(a):
    total = a.mib << 20
    out = []
    threads = []
    first = (a.count + 1) // 2
    t0 = time.monotonic()
    for i in range(a.count):
        if i == first:
            time.sleep(max(0.0, t0 + a.stagger * a.seconds - time.monotonic()))
        secs = a.seconds - (time.monotonic() - t0)
        t = threading.Thread(target=one_stream, args=(a.port, total, max(1.0, secs), f"stream{i}", out),
                             daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(a.seconds + 120)
    summary = {"count": a.count, "mib": a.mib, "details": out}
    for k in ("complete", "truncated", "corrupt", "failed"):
        summary[k] = sum(1 for r in out if r["outcome"] == k)
    summary["failed"] += a.count - len(out)
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"L4 streams: {summary['complete']}/{a.count} complete, {summary['truncated']} truncated, "
          f"{summary['corrupt']} corrupt, {summary['failed']} failed")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--port", type=int, required=True)
    s = sub.add_parser("streams")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, default=4)
    s.add_argument("--mib", type=int, default=24)
    s.add_argument("--seconds", type=float, default=12)
    s.add_argument("--stagger", type=float, default=0.3)
    s.add_argument("--out", required=True)
    a = p.parse_args()
    if a.cmd == "echo":
        echo(a.port)
    else:
        streams(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
