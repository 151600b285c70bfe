#!/usr/bin/env python3
"""Bulk flows switch to splice(2) after `tune.es.splice-after` bytes and the data stays exact;
with `nosplice` no direction ever switches and the data is still exact."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import MiB, DuplexPeers, check, check_eq, log  # noqa: E402

SIZE = 64 * MiB


def shard_sum(shards, key):
    total = 0
    for s in shards:
        check(key in s, f"`show shards json` object lacks {key!r}: {sorted(s)}")
        total += eslib.num(s[key])
    return total


def run_once(h, extra_global, label):
    peers = DuplexPeers(h)
    px = fixture.proxy_to_origin(h, "tcp", peers.srv, global_lines=extra_global, client="30s", server="30s",
                                 sock=f"{label}.sock", name=f"edgeshard-{label}", peer=False)
    fe, es = px.fe, px.proxy
    before = es.shards()
    check(len(before) == 2, f"`show shards json` should list 2 shards (nbthread 2), got {len(before)}")

    c2s, s2c = peers.prepare(SIZE, SIZE)
    res = {}
    t = threading.Thread(target=peers.client, args=(fe, c2s, s2c, res, label), daemon=True)
    t.start()
    t.join(180)
    check(not t.is_alive(), f"[{label}] 64 MiB each way did not finish within 180 s")
    check(res.get(label, "missing") is None, f"[{label}] {res.get(label)}")
    check(peers.srv.wait_handlers(30), f"[{label}] server handler did not finish")
    check(not peers.srv.errors, f"[{label}] server errors: {peers.srv.errors}")
    peers.check_server_side(c2s)
    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=10, what="scur == 0")
    shards = es.shards()
    sw, sb = shard_sum(shards, "splice_switches"), shard_sum(shards, "splice_bytes")
    log(f"[{label}] 64 MiB each way exact; splice_switches={sw} splice_bytes={sb} "
        f"shards={[{k: s.get(k) for k in ('id', 'accepts', 'splice_switches', 'splice_bytes')} for s in shards]}")
    m = es.stats()
    f = m[("fe", "FRONTEND")]
    check_eq(eslib.num(f.get("bin")), SIZE, f"[{label}] frontend bin (spliced bytes must be counted)")
    check_eq(eslib.num(f.get("bout")), SIZE, f"[{label}] frontend bout (spliced bytes must be counted)")
    es.stop()
    check_eq(es.returncode, 0, f"[{label}] edgeshard exit status after SIGTERM")
    return sw, sb


def main(h):
    sw, sb = run_once(h, "tune.es.splice-after 65536", "splice")
    check(sw >= 1, f"with tune.es.splice-after 65536 and 64 MiB each way, splice_switches should be "
                   f">= 1 (got {sw})")
    check(sb > 0, f"splice_bytes should be > 0 after a spliced bulk transfer (got {sb})")
    check(sb <= 2 * SIZE, f"splice_bytes ({sb}) cannot exceed the bytes transferred ({2 * SIZE})")

    sw, sb = run_once(h, "tune.es.splice-after 65536\nnosplice", "nosplice")
    check_eq(sw, 0, "splice_switches with `nosplice`")
    check_eq(sb, 0, "splice_bytes with `nosplice`")


if __name__ == "__main__":
    eslib.run(main)
