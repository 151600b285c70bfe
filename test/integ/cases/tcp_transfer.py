#!/usr/bin/env python3
"""Bytes are forwarded both ways unchanged, concurrently, on one connection and on several,
with Python peers and with socat; the frontend's stot/bin/bout match exactly what crossed."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import MiB, DuplexPeers, check, check_eq, log  # noqa: E402


def main(h):
    fe_py, fe_socat, sink_port = eslib.free_port(), eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    peers = DuplexPeers(h)
    cfg = (eslib.global_section(sock, nbthread=2)
           + eslib.defaults_section(client="30s", server="30s")
           + eslib.simple_proxy(fe_py, [("py", peers.srv.port, "")], fe="fe_py", be="be_py")
           + eslib.simple_proxy(fe_socat, [("sink", sink_port, "")], fe="fe_socat", be="be_socat"))
    es = h.edgeshard(cfg, ports=[fe_py, fe_socat], sock=sock)

    sent = 0
    received = 0
    conns = 0

    # 1) one connection, 32 MiB each way at the same time
    c2s, s2c = peers.prepare(32 * MiB, 32 * MiB)
    res = {}
    peers.client(fe_py, c2s, s2c, res, "big")
    check(res["big"] is None, res["big"] or "")
    check(peers.srv.wait_handlers(30), "server handler did not finish")
    peers.check_server_side(c2s)
    sent += len(c2s)
    received += len(s2c)
    conns += 1
    log("1 x 32 MiB each way: ok")

    # 2) eight parallel connections, 4 MiB each way
    pairs = [peers.prepare(4 * MiB, 4 * MiB) for _ in range(8)]
    peers.run_parallel(fe_py, pairs, 120)
    sent += sum(len(a) for a, _ in pairs)
    received += sum(len(b) for _, b in pairs)
    conns += len(pairs)
    check(not peers.srv.errors, f"server errors: {peers.srv.errors}")
    log("8 x 4 MiB each way in parallel: ok")

    # 3) socat client -> edgeshard -> socat sink
    infile, outfile = h.path("socat.in"), h.path("socat.out")
    data = eslib.random_payload(8 * MiB + 12345)
    with open(infile, "wb") as f:
        f.write(data)
    sink = h.spawn(["socat", "-u", f"TCP-LISTEN:{sink_port},reuseaddr,bind=127.0.0.1",
                    f"OPEN:{outfile},creat"], "socat-sink")
    eslib.wait_listening([sink_port], 10)
    r = h.run_cmd(["socat", "-u", f"FILE:{infile}", f"TCP:127.0.0.1:{fe_socat}"], timeout=60)
    check_eq(r.returncode, 0, f"socat client exit status (stderr {r.stderr.strip()!r})")
    rc = sink.wait(30)
    check(rc is not None, "socat sink did not exit within 30 s after the client finished "
                          "(EOF not propagated to the server?)")
    check_eq(rc, 0, f"socat sink exit status (stderr {sink.stderr_text().strip()!r})")
    with open(outfile, "rb") as f:
        got = f.read()
    check_eq(len(got), len(data), "bytes written by the socat sink")
    check(eslib.sha256(got) == eslib.sha256(data), "socat sink received different bytes")
    log("socat -> edgeshard -> socat: ok")

    # counters, once every session is closed
    for fe in ("fe_py", "fe_socat"):
        es.wait_stat(fe, "FRONTEND", "scur", lambda v: v == 0, timeout=10, what=f"{fe} scur == 0")

    es.expect_counters("fe_py", "FRONTEND", {"stot": conns, "bin": sent, "bout": received},
                       what="fe_py (bin = bytes clients sent, bout = bytes clients received)")
    es.expect_counters("be_py", "BACKEND", {"stot": conns, "bin": sent, "bout": received},
                       what="be_py")
    es.expect_counters("fe_socat", "FRONTEND", {"stot": 1, "bin": len(data), "bout": 0},
                       what="fe_socat")
    log(f"counters ok: stot={conns} bin={sent} bout={received}")


if __name__ == "__main__":
    eslib.run(main)
