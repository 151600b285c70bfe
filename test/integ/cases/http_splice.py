#!/usr/bin/env python3
"""Response bodies by splice(2) (tune.es.splice-after, default 256 KiB):
  - 1 MiB and 64 MiB Content-Length responses on one keep-alive client connection arrive byte-exact
    (length and sha256), each followed by a second request on the same connection that is answered;
    the shard's splice counters (`show shards json`: splice_switches, splice_bytes) show the bodies
    went by splice (all bytes but those received before the server recv stopped);
  - the frontend's bout and the access log's bytes_read count every body byte exactly;
  - two pipelined requests (1 MiB, then a small one) sent in one segment: both answered in order and
    byte-exact (the splice never reads past the end of a message);
  - a small body (below splice-after) is not spliced; a chunked body is not spliced;
  - an origin that closes 1.5 MiB into a 4 MiB body: the client gets a truncated body and the
    connection closes (no hang), and the next client connection is served normally;
  - an origin that stalls 1.5 MiB into a 4 MiB body: `timeout server` (500 ms) cuts the client;
  - a client that goes away 2 MiB into a 64 MiB spliced body: the proxy lets go of everything (no
    connection, pipe or server connection left in use) and serves the next request.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402


def shard_splice(es):
    sh = es.shards()[0]
    check("splice_bytes" in sh and "splice_switches" in sh, f"`show shards json` has splice counters: {sh}")
    return eslib.num(sh["splice_switches"]), eslib.num(sh["splice_bytes"])


def fe_bout(es):
    return eslib.num(es.stat("fe", "FRONTEND", "bout"))


def get(c, target, timeout=30):
    r = c.request("GET", target, timeout=timeout, keep_body=False)
    return r


def truncating_origin(h, body_len, cut_at, stall=0.0, name="cut"):
    """An origin that announces body_len bytes and closes after cut_at of them (after `stall`
    seconds of silence, when given)."""
    def handler(conn, idx, srv):
        conn.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = conn.recv(65536)
            if not d:
                return
            buf += d
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % body_len)
        sent = 0
        while sent < cut_at:
            k = min(65521, cut_at - sent)
            conn.sendall(http_origin.pattern_slice(sent, k))
            sent += k
        if stall:
            time.sleep(stall)
        conn.close()
    return h.threaded_server(handler, name=name)


def pool_used(es, name):
    import re
    m = re.search(r"Pool %s \(\d+ bytes\) : \d+ allocated \(\d+ bytes\), (\d+) used" % name, es.ctl("show pools"))
    check(m is not None, f"`show pools` has a {name} line")
    return int(m.group(1))


def main(h):
    if not eslib.on_edgeshard():
        raise eslib.Skip("edgeshard's splice counters are what this case checks")
    origin = http_origin.start(h, name="s1", conn_timeout=60)
    cut = truncating_origin(h, 4 * MiB, 3 * MiB // 2)
    stall = truncating_origin(h, 4 * MiB, 3 * MiB // 2, stall=2.0, name="stall")
    fe, fe2, fe3 = eslib.free_port(), eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    logfile = h.path("access.log")
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults(client="30s", server="30s")
           + eslib.section("frontend fe", f"""bind {eslib.LOCALHOST}:{fe}
                                              log stdout format raw local0
                                              log-format "%ST %B %HU"
                                              default_backend be""")
           + eslib.section("backend be", f"server s1 {eslib.LOCALHOST}:{origin.port}")
           + eslib.section("frontend fe2", f"bind {eslib.LOCALHOST}:{fe2}\ndefault_backend be2")
           + eslib.section("backend be2", f"server cut {eslib.LOCALHOST}:{cut.port}")
           + eslib.section("frontend fe3", f"bind {eslib.LOCALHOST}:{fe3}\ndefault_backend be3")
           + eslib.section("backend be3", f"timeout server 500ms\nserver stall {eslib.LOCALHOST}:{stall.port}"))
    del logfile
    es = h.edgeshard(cfg, ports=[fe, fe2, fe3], sock=sock)

    # ---- 1 MiB and 64 MiB on one keep-alive connection, each followed by a small request
    sw0, sb0 = shard_splice(es)
    bout0 = fe_bout(es)
    c = eslib.HttpClient(fe, timeout=30)
    total_body = 0
    total_wire = 0
    for n in (MiB, 64 * MiB, MiB):
        r = get(c, f"/bytes/{n}", timeout=60)
        check_eq((r.status, r.body_len, r.body_sha256), (200, n, http_origin.pattern_sha256(n)),
                 f"{n}-byte response: status, length, sha256")
        conn_big = r.header("X-Conn")
        r2 = c.request("GET", "/after")
        check_eq((r2.status, r2.body), (200, b"path /after\n"), f"the request after the {n}-byte response")
        check_eq(r2.header("X-Conn"), conn_big, "the small request rides the same server connection (pooled "
                                                 "cleanly after the spliced body)")
        total_body += n
    how, extra, _ = c.wait_closed(0.2)
    check_eq((how, extra), ("timeout", b""), "the keep-alive connection after the spliced responses")
    c.close()
    sw1, sb1 = shard_splice(es)
    log(f"splice: {sw1 - sw0} bodies, {sb1 - sb0} bytes spliced of {total_body} body bytes")
    check_eq(sw1 - sw0, 3, "bodies switched to splice (1 MiB, 64 MiB, 1 MiB)")
    # what arrived before the server recv stopped went on the buffer path (a recv may read ahead
    # of its cancel by several buffers); the rest by splice, never more than the bodies
    check(sb1 - sb0 >= total_body - 3 * MiB // 2 and sb1 - sb0 <= total_body,
          f"bytes moved by splice: {sb1 - sb0} for {total_body} body bytes")
    # bout: every body byte plus the heads, exactly as the buffer path counts them
    doc = origin.requests()
    check_eq(len(doc), 6, "requests that reached the origin")
    bout = fe_bout(es) - bout0
    check(total_body < bout < total_body + 6 * 1024,
          f"frontend bout {bout} for {total_body} body bytes plus six response heads")

    # ---- the access log counts the spliced bytes (%B)
    def logged():
        lines = [l for l in es.stdout_text().splitlines() if l.startswith("200 ")]
        return lines if len(lines) >= 6 else None
    lines = eslib.poll_until(logged, 5, what="six access log lines")
    sizes = sorted(int(l.split()[1]) for l in lines[:6])
    check(sizes[-1] > 64 * MiB and sizes[-1] < 64 * MiB + 1024, f"%B of the 64 MiB response: {sizes}")
    check(MiB < sizes[-2] < MiB + 1024 and MiB < sizes[-3] < MiB + 1024, f"%B of the 1 MiB responses: {sizes}")

    # ---- pipelined: 1 MiB then a small one, in one segment
    sw0, sb0 = shard_splice(es)
    c = eslib.HttpClient(fe, timeout=30)
    c.send(eslib.http_request_bytes("GET", f"/bytes/{MiB}") + eslib.http_request_bytes("GET", "/second"))
    r = c.read_response(timeout=30, keep_body=False)
    check_eq((r.status, r.body_len, r.body_sha256), (200, MiB, http_origin.pattern_sha256(MiB)),
             "pipelined 1 MiB response")
    r2 = c.read_response(timeout=10)
    check_eq((r2.status, r2.body), (200, b"path /second\n"), "the pipelined request after the 1 MiB one")
    c.close()
    sw1, sb1 = shard_splice(es)
    check_eq(sw1 - sw0, 1, "the pipelined 1 MiB body was spliced")

    # ---- small and chunked bodies stay on the buffer path
    sw0, sb0 = shard_splice(es)
    c = eslib.HttpClient(fe, timeout=30)
    r = get(c, f"/bytes/{200 * 1024}")
    check_eq((r.status, r.body_sha256), (200, http_origin.pattern_sha256(200 * 1024)), "200 KiB response")
    r = c.request("GET", f"/chunked/{4 * MiB}/65536", timeout=30, keep_body=False)
    check_eq((r.status, r.body_len, r.body_sha256), (200, 4 * MiB, http_origin.pattern_sha256(4 * MiB)),
             "4 MiB chunked response")
    c.close()
    sw1, sb1 = shard_splice(es)
    check_eq((sw1 - sw0, sb1 - sb0), (0, 0), "splices for a 200 KiB body and a chunked body")

    # ---- the origin closes inside the body: truncated response, then the connection closes
    c = eslib.HttpClient(fe2, timeout=10)
    c.send(eslib.http_request_bytes("GET", "/cut"))
    head = c.read_head(timeout=10)
    check_eq(head.status, 200, "status of the response the origin cuts")
    got = len(c.buffered())
    how, data, secs = eslib.wait_eof(c.sock, 10)
    got += len(data)
    check(how in ("eof", "reset"), f"the client connection after a cut body: {how} after {secs:.1f}s "
                                   f"({got} body bytes)")
    check(got < 4 * MiB, f"a truncated body never looks complete: {got} of {4 * MiB} bytes")
    check(got >= MiB, f"the bytes the origin sent reach the client: {got} (origin sent {3 * MiB // 2})")
    c.close()
    log(f"cut body: {got} bytes then {how} after {secs:.2f}s")
    r = eslib.http_get(fe, "/again")
    check_eq(r.status, 200, "a new client connection after the cut")

    # ---- the origin stalls inside the body: timeout server cuts the client
    c = eslib.HttpClient(fe3, timeout=10)
    c.send(eslib.http_request_bytes("GET", "/stall"))
    head = c.read_head(timeout=10)
    check_eq(head.status, 200, "status of the response the origin stalls")
    got = len(c.buffered())
    how, data, secs = eslib.wait_eof(c.sock, 4)
    got += len(data)
    check(how in ("eof", "reset") and secs < 3.5, f"the client connection after a stalled body: {how} after "
                                                   f"{secs:.1f}s ({got} body bytes; timeout server 500ms)")
    check(MiB <= got < 4 * MiB, f"a stalled body is cut, not completed: {got} of {4 * MiB} bytes")
    c.close()
    log(f"stalled body: {got} bytes then {how} after {secs:.2f}s")

    # ---- the client goes away inside a spliced body
    sw0, _ = shard_splice(es)
    c = eslib.HttpClient(fe, timeout=10)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    c.send(eslib.http_request_bytes("GET", f"/bytes/{64 * MiB}"))
    head = c.read_head(timeout=10)
    check_eq(head.status, 200, "status of the 64 MiB response the client abandons")
    got = len(c.buffered())
    while got < 2 * MiB:
        d = c.sock.recv(1 << 16)
        check(bool(d), "the 64 MiB response ended early")
        got += len(d)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.sock.close()  # a reset
    sw1, _ = shard_splice(es)
    check_eq(sw1 - sw0, 1, "the abandoned 64 MiB body was being spliced")
    eslib.poll_until(lambda: eslib.num(es.shards()[0].get("conns")) == 0, 5,
                     what="no client connection left after the client went away")
    eslib.poll_until(lambda: pool_used(es, "pipe") == 0, 5, what="no pipe left in use")
    eslib.poll_until(lambda: pool_used(es, "http_conn") <= 1, 5,
                     what="the abandoned server connection closed (at most one pooled connection left)")
    r = eslib.http_get(fe, f"/bytes/{MiB}", timeout=20)
    check_eq((r.status, r.body_sha256), (200, http_origin.pattern_sha256(MiB)), "a request after the abort")


if __name__ == "__main__":
    eslib.run_http(main)
