#!/usr/bin/env python3
"""Buffer-ring exhaustion: with the smallest provided-buffer ring (64 buffers) and the copy path
only, 16 duplex bulk connections need far more buffers than exist. Multishot recvs end with
ENOBUFS, wait until buffers come back and re-arm; every byte still arrives exactly (sha256 both
ways), the shard counts the ENOBUFS events, and every buffer is back in the ring afterwards."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import MiB, check, check_eq, log  # noqa: E402

N = 16


def main(h):
    peers = eslib.DuplexPeers(h)
    px = fixture.proxy_to_origin(h, "tcp", peers.srv, nbthread=1, global_lines="tune.es.buffers 64\nnosplice",
                                 client="60s", server="60s", peer=False)
    fe, es = px.fe, px.proxy
    check_eq([s["buffers"] for s in es.shards()], [64], "buffers per shard")

    pairs = [peers.prepare(4 * MiB, 4 * MiB) for _ in range(N)]
    peers.run_parallel(fe, pairs, 150)
    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=5, what="sessions closed")
    sh = es.shards()[0]
    check(sh["enobufs"] > 0, f"the 64-buffer ring should have run dry (enobufs={sh['enobufs']})")
    check_eq(sh["buffers_out"], 0, "buffers held by the application once every session ended")
    check_eq(sh["splice_switches"], 0, "nosplice: no direction spliced")
    log(f"{N} x 4 MiB each way exact through 64 buffers; enobufs={sh['enobufs']}")


if __name__ == "__main__":
    eslib.run(main)
