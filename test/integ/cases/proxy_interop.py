#!/usr/bin/env python3
"""The PROXY protocol between edgeshard and a real HAProxy 2.6, both ways. The test starts HAProxy
itself (ES_HAPROXY_BIN, default /usr/sbin/haproxy; skipped, 77, when it is not installed) next to
the proxy under test (edgeshard; with ES_TEST_PEER=haproxy a second HAProxy, which validates the
test itself):
  A. client -> HAProxy (server send-proxy-v2 + proxy-v2-options crc32c, and send-proxy)
            -> proxy under test (bind accept-proxy, option forwardfor,
               http-request set-header X-Src %[src]:%[src_port], X-Dst %[dst]:%[dst_port])
            -> origin:
     the origin sees X-Forwarded-For = the client's address, X-Src = the client's socket address and
     port, X-Dst = HAProxy's frontend address, for both requests of a keep-alive connection; a
     request sent straight to the accept-proxy port (no header) is closed without an answer.
  B. client -> proxy under test (server send-proxy / send-proxy-v2 proxy-v2-options crc32c; a mode
            tcp frontend too) -> HAProxy (bind accept-proxy, `http-request return` of
            "%[src]:%[src_port] %[dst]:%[dst_port]"):
     the client reads back its own address and port and the proxy-under-test frontend's address.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import tls_lib  # noqa: E402
import http_origin  # noqa: E402
from eslib import Skip, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def echo_headers(c, path):
    """One GET /echo on HttpClient `c`; the origin's view of the request headers (name lower-cased)."""
    r = c.request(target=f"/echo?{path}")
    check_eq(r.status, 200, f"GET /echo?{path} ({r.brief()})")
    hdrs = {}
    for n, v in r.json()["headers"]:
        hdrs.setdefault(n.lower(), []).append(v)
    return hdrs


def main(h):
    origin = http_origin.start(h, name="origin")
    # ---- A. HAProxy in front of the proxy under test ------------------------------------------------
    pa_v2, pa_v1, pt_v2, pt_v1 = (eslib.free_port() for _ in range(4))
    # ---- B. the proxy under test in front of HAProxy ------------------------------------------------
    pb_v1, pb_v2, pb_tcp, ph = (eslib.free_port() for _ in range(4))
    # ---- C. the proxy under test in front of HAProxy's TLS bind: the header before the handshake --
    pc_http, pc_tcp, phs = (eslib.free_port() for _ in range(3))
    ca = tls_lib.make_ca(h, "ca", "Interop CA")
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"], ca=ca)
    hsock = h.sock_path("haproxy_ext.sock")
    ext = (eslib.http_global(hsock)
           + eslib.http_defaults()
           + eslib.section("frontend ext_a_v2", f"""
                bind {L}:{pa_v2}
                default_backend ext_to_es_v2""")
           + eslib.section("frontend ext_a_v1", f"""
                bind {L}:{pa_v1}
                default_backend ext_to_es_v1""")
           + eslib.section("backend ext_to_es_v2",
                           f"server es {L}:{pt_v2} send-proxy-v2 proxy-v2-options crc32c")
           + eslib.section("backend ext_to_es_v1", f"server es {L}:{pt_v1} send-proxy")
           + eslib.section("frontend ext_b", f"""
                bind {L}:{ph} accept-proxy
                http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port] %[dst]:%[dst_port]"
                """)
           + eslib.section("frontend ext_c", f"""
                bind {L}:{phs} accept-proxy ssl crt {site}
                http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port] %[ssl_fc]"
                """))
    hap = eslib.start_haproxy(h, ext, [pa_v2, pa_v1, ph, phs])

    sock = h.sock_path()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend pp_in_v2", f"""
                bind {L}:{pt_v2} accept-proxy
                option forwardfor
                http-request set-header X-Src "%[src]:%[src_port]"
                http-request set-header X-Dst "%[dst]:%[dst_port]"
                default_backend to_origin""")
           + eslib.section("frontend pp_in_v1", f"""
                bind {L}:{pt_v1} accept-proxy
                option forwardfor
                http-request set-header X-Src "%[src]:%[src_port]"
                http-request set-header X-Dst "%[dst]:%[dst_port]"
                default_backend to_origin""")
           + eslib.section("backend to_origin", f"server o {L}:{origin.port}")
           + eslib.section("frontend out_v1", f"""
                bind {L}:{pb_v1}
                default_backend to_haproxy_v1""")
           + eslib.section("frontend out_v2", f"""
                bind {L}:{pb_v2}
                default_backend to_haproxy_v2""")
           + eslib.section("frontend out_tcp", f"""
                mode tcp
                bind {L}:{pb_tcp}
                default_backend to_haproxy_tcp""")
           + eslib.section("backend to_haproxy_v1", f"server h {L}:{ph} send-proxy")
           + eslib.section("backend to_haproxy_v2", f"server h {L}:{ph} send-proxy-v2 proxy-v2-options crc32c")
           + eslib.section("backend to_haproxy_tcp", f"""
                mode tcp
                server h {L}:{ph} send-proxy-v2 proxy-v2-options crc32c""")
           + eslib.section("frontend out_tls", f"""
                bind {L}:{pc_http}
                default_backend to_haproxy_tls""")
           + eslib.section("frontend out_tls_tcp", f"""
                mode tcp
                bind {L}:{pc_tcp}
                default_backend to_haproxy_tls_tcp""")
           + eslib.section("backend to_haproxy_tls", f"server h {L}:{phs} ssl verify none send-proxy-v2")
           + eslib.section("backend to_haproxy_tls_tcp", f"""
                mode tcp
                server h {L}:{phs} ssl verify none send-proxy"""))
    es = eslib.start_proxy(h, cfg, ports=[pt_v2, pt_v1, pb_v1, pb_v2, pb_tcp, pc_http, pc_tcp], sock=sock)
    who = "edgeshard" if eslib.on_edgeshard() else "the HAProxy peer"

    # ---- A ----------------------------------------------------------------------------------------
    for what, port in [("send-proxy-v2 crc32c", pa_v2), ("send-proxy", pa_v1)]:
        c = eslib.HttpClient(port)
        me = c.sock.getsockname()
        try:
            for i in range(2):
                hd = echo_headers(c, f"a-{i}")
                check_eq(hd.get("x-forwarded-for"), [me[0]],
                         f"A: HAProxy {what} -> {who} accept-proxy: XFF at the origin (request {i + 1})")
                check_eq(hd.get("x-src"), [f"{me[0]}:{me[1]}"],
                         f"A: HAProxy {what} -> {who}: src:src_port is the client's socket (request {i + 1})")
                check_eq(hd.get("x-dst"), [f"{L}:{port}"],
                         f"A: HAProxy {what} -> {who}: dst:dst_port is HAProxy's frontend (request {i + 1})")
        finally:
            c.close()
        log(f"A: {what}: the origin saw the client {me[0]}:{me[1]} through HAProxy and {who}")
    before = origin.request_count()
    s = eslib.connect(pt_v2)
    s.sendall(b"GET /echo?direct HTTP/1.1\r\nHost: x\r\n\r\n")
    how, data, secs = eslib.wait_eof(s, 3)
    s.close()
    check(how in ("eof", "reset") and data == b"" and secs < 1.5,
          f"A: a request without a PROXY header to {who}'s accept-proxy port is closed at once without an "
          f"answer (got {how} after {secs:.2f}s, {data[:100]!r})")
    check_eq(origin.request_count(), before, "A: requests that reached the origin without a header")

    # ---- B ----------------------------------------------------------------------------------------
    for what, port in [("send-proxy", pb_v1), ("send-proxy-v2 crc32c", pb_v2)]:
        c = eslib.HttpClient(port)
        me = c.sock.getsockname()
        try:
            for i in range(2):
                r = c.request(target=f"/b-{i}")
                check_eq(r.status, 200, f"B: {who} {what} -> HAProxy accept-proxy: status ({r.brief()})")
                check_eq(r.body.decode(), f"{me[0]}:{me[1]} {L}:{port}",
                         f"B: {who} {what} -> HAProxy: HAProxy's src:src_port dst:dst_port (request {i + 1})")
        finally:
            c.close()
        log(f"B: {what}: HAProxy saw the client {me[0]}:{me[1]} -> {L}:{port}")
    c = eslib.HttpClient(pb_tcp)
    me = c.sock.getsockname()
    try:
        r = c.request(target="/b-tcp")
        check_eq((r.status, r.body.decode()), (200, f"{me[0]}:{me[1]} {L}:{pb_tcp}"),
                 f"B: {who} mode tcp send-proxy-v2 -> HAProxy: the client's own address back")
    finally:
        c.close()
    # ---- C ----------------------------------------------------------------------------------------
    for what, port in [("mode http, server ssl send-proxy-v2", pc_http), ("mode tcp, server ssl send-proxy", pc_tcp)]:
        c = eslib.HttpClient(port)
        me = c.sock.getsockname()
        try:
            for i in range(2 if port == pc_http else 1):
                r = c.request(target=f"/c-{i}")
                check_eq((r.status, r.body.decode()), (200, f"{me[0]}:{me[1]} 1"),
                         f"C: {who} {what} -> HAProxy accept-proxy ssl: the client's address over TLS "
                         f"(request {i + 1})")
        finally:
            c.close()
        log(f"C: {what}: HAProxy's TLS bind saw the client {me[0]}:{me[1]}")
    check(es.running() and hap.running(), "both proxies still run")


if __name__ == "__main__":
    eslib.run_http(main)
