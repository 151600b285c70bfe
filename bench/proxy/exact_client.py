#!/usr/bin/env python3
"""An exact HTTP/1.1 client for the instruction-count benchmarks (bench/proxy/*_instr.sh): sends
N requests and reads every response whole (Content-Length framing), each a 200, else it exits with
an error. `ka`: over 8 keep-alive connections in turn; `new`: one connection per request. The
connections come from 64 source addresses (127.0.1.1-64), so per-client state (stick tables) holds
64 keys.
Usage: exact_client.py PORT ka|new N [REQUEST] (REQUEST: the bytes, with \\r\\n written as is;
default "GET / HTTP/1.1\\r\\nHost: bench\\r\\n\\r\\n")."""
import socket
import sys

port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
req = (sys.argv[4] if len(sys.argv) > 4 else "GET / HTTP/1.1\\r\\nHost: bench\\r\\n\\r\\n").replace("\\r\\n", "\r\n").encode()


def connect(i):  # from one of 64 client addresses
    s = socket.socket()
    s.bind(("127.0.1.%d" % (1 + i % 64), 0))
    s.connect(("127.0.0.1", port))
    return s


def response(s, buf):
    while True:
        h = buf.find(b"\r\n\r\n")
        if h >= 0:
            head = buf[:h].lower()
            cl = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            if len(buf) >= h + 4 + cl:
                if not head.startswith(b"http/1.1 200"):
                    raise SystemExit("not a 200: %r" % head[:40])
                return buf[h + 4 + cl:]
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed early")
        buf += d


if path == "ka":
    socks = [[connect(i), b""] for i in range(8)]
    for k in range(n):
        s = socks[k % 8]
        s[0].sendall(req)
        s[1] = response(s[0], s[1])
    for s, _ in socks:
        s.close()
else:
    for k in range(n):
        s = connect(k)
        s.sendall(req)
        response(s, b"")
        s.close()
