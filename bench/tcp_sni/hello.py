#!/usr/bin/env python3
"""Writes a real ClientHello (SNI a.example, Python's ssl) to the file named by argv[1]: the bytes the
SNI-routing benchmarks send."""
import ssl
import sys

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(i, o, server_hostname="a.example")
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
open(sys.argv[1], "wb").write(o.read())
