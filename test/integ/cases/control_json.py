#!/usr/bin/env python3
"""The control socket: every `show ... json` answer parses with HAProxy's shapes, the CSV
header matches HAProxy's, the connection closes after an answer (non-interactive) but stays
open under `prompt`, unknown commands get an answer, counters match traffic exactly (merged
and per shard), and edgeshardctl's exit codes are 0 / 2."""
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import Failure, check, check_eq, log  # noqa: E402

K = 12          # connections
B = 10000       # bytes each way per connection
NBTHREAD = 2


def check_field_obj(o, where):
    check(isinstance(o, dict), f"{where}: element is not an object: {o!r}")
    f = o.get("field")
    check(isinstance(f, dict) and "name" in f and "pos" in f,
          f"{where}: 'field' should be {{\"pos\", \"name\"}}: {o!r}")
    check(isinstance(f["pos"], int), f"{where}: field.pos should be an integer: {o!r}")
    v = o.get("value")
    check(isinstance(v, dict) and "type" in v and "value" in v,
          f"{where}: 'value' should be {{\"type\", \"value\"}}: {o!r}")
    check("processNum" in o, f"{where}: missing processNum: {o!r}")
    check(isinstance(o.get("tags"), dict), f"{where}: 'tags' should be an object: {o!r}")


def interactive(path, lines_and_expect, timeout=5.0):
    """Opens one connection, sends `prompt`, then each command, reading each answer up to the
    next prompt ('> ' at the end of the buffer). Returns the answers."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    answers = []
    try:
        def read_to_prompt(what):
            buf = b""
            dl = eslib.Deadline(timeout)
            for _ in range(10000):
                if buf.endswith(b"> "):
                    return buf[:-2].decode("utf-8", "replace")
                if dl.expired():
                    raise Failure(f"interactive mode: no prompt '> ' after {what} within {timeout}s; "
                                  f"got {buf[-300:]!r}")
                s.settimeout(max(0.01, dl.left()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    raise Failure(f"interactive mode: the server closed the connection after {what} "
                                  f"(got {buf[-300:]!r})")
                buf += chunk
            raise Failure("interactive read bound reached")

        s.sendall(b"prompt\n")
        read_to_prompt("'prompt'")
        for cmd, expect in lines_and_expect:
            s.sendall(cmd.encode() + b"\n")
            ans = read_to_prompt(repr(cmd))
            check(re.search(expect, ans), f"interactive {cmd!r}: answer does not match {expect!r}: "
                                          f"{ans[:300]!r}")
            answers.append(ans)
        s.sendall(b"quit\n")
        how, data, secs = eslib.wait_eof(s, timeout)
        check(how in ("eof", "reset"), f"interactive mode: 'quit' did not close the connection "
                                       f"within {timeout}s")
    finally:
        s.close()
    return answers


def main(h):
    fe = eslib.free_port()
    sock = h.sock_path()
    e1, e2 = h.echo_server(name="e1"), h.echo_server(name="e2")
    cfg = (eslib.global_section(sock, nbthread=NBTHREAD)
           + eslib.defaults_section()
           + eslib.simple_proxy(fe, [("s1", e1.port, ""), ("s2", e2.port, "weight 2"),
                                     ("s3", eslib.free_port(), "disabled")]))
    es = h.edgeshard(cfg, ports=[fe], sock=sock)

    # ---- traffic: K connections, B bytes each way, sequential
    for i in range(K):
        s = eslib.connect(fe, timeout=5)
        msg = bytes([65 + i % 26]) * B
        s.sendall(msg)
        got = eslib.recv_exact(s, B, timeout=5, what=f"echo {i}")
        check(got == msg, f"echo {i} differs")
        s.close()
    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=5, what="scur == 0")

    # ---- help, version, unknown command
    helptext = es.ctl("help")
    check("show stat" in helptext and "show info" in helptext,
          f"`help` should list the commands (show stat, show info): {helptext[:400]!r}")
    ver = es.ctl("show version").strip()
    r = h.run_cmd([h.bin, "-v"], timeout=10)
    mv = re.search(r"edgeshard version (\S+)", r.stdout + r.stderr)
    check(mv is not None, f"`edgeshard -v` lacks the version: {r.stdout + r.stderr!r}")
    check(mv.group(1) in ver, f"`show version` ({ver!r}) should contain the version {mv.group(1)!r}")
    unk = es.ctl("frobnicate the widgets")
    check(unk.strip(), "an unknown command got an empty answer")
    check(re.search(r"unknown", unk, re.I), f"unknown command answer should say so: {unk[:300]!r}")
    log(f"help/version/unknown ok (version {ver!r}; unknown -> {unk.strip().splitlines()[0][:80]!r})")

    # ---- non-interactive: answer then close (ctl_raw fails if the server does not close)
    es.ctl("show info")

    # ---- show info json
    info = es.ctl_json("show info json")
    check(isinstance(info, list) and info, f"`show info json` should be a non-empty array: {str(info)[:300]}")
    names = {}
    for i, o in enumerate(info):
        check_field_obj(o, f"show info json[{i}]")
        names[o["field"]["name"]] = o["value"]["value"]
    for want in ("Name", "Version", "Pid", "Uptime_sec", "CurrConns", "Nbthread"):
        check(want in names, f"`show info json` lacks HAProxy field {want!r}; has {sorted(names)[:40]}")
    check_eq(eslib.num(names["Pid"]), es.pid, "show info Pid")
    check_eq(eslib.num(names["Nbthread"]), NBTHREAD, "show info Nbthread")
    check_eq(eslib.num(names["CurrConns"]), 0, "show info CurrConns with no connection open")
    log(f"show info json: {len(info)} fields")

    # ---- show stat json
    doc = es.ctl_json("show stat json")
    check(isinstance(doc, list) and doc and all(isinstance(r, list) for r in doc),
          f"`show stat json` should be an array of arrays: {json.dumps(doc)[:300]}")
    types = set()
    for ri, row in enumerate(doc):
        for fi, o in enumerate(row):
            check_field_obj(o, f"show stat json[{ri}][{fi}]")
            check(o.get("objType") in ("Frontend", "Backend", "Server"),
                  f"show stat json[{ri}][{fi}]: objType {o.get('objType')!r}")
            check("proxyId" in o and "id" in o, f"show stat json[{ri}][{fi}]: proxyId/id missing")
            types.add(o["objType"])
    check(types == {"Frontend", "Backend", "Server"}, f"objTypes present: {types}")
    m = eslib.stat_map(doc)
    for key in (("fe", "FRONTEND"), ("be", "BACKEND"), ("be", "s1"), ("be", "s2"), ("be", "s3")):
        check(key in m, f"`show stat json` has no row {key}; rows: {sorted(m)}")
    for key, row in m.items():
        for fld in ("pxname", "svname", "scur", "smax", "stot", "bin", "bout", "type"):
            check(fld in row, f"row {key} lacks field {fld!r}")
    srow = m[("be", "s1")]
    for fld in ("econ", "eresp", "wretr", "wredis", "status", "weight", "lbtot"):
        check(fld in srow, f"server row lacks field {fld!r}")

    # counters match the traffic
    fr = m[("fe", "FRONTEND")]
    check_eq(eslib.num(fr["stot"]), K, "frontend stot")
    check_eq(eslib.num(fr["bin"]), K * B, "frontend bin")
    check_eq(eslib.num(fr["bout"]), K * B, "frontend bout")
    check_eq(sum(eslib.num(m[("be", s)]["stot"]) for s in ("s1", "s2", "s3")), K, "sum of server stot")
    check_eq(sum(eslib.num(m[("be", s)]["lbtot"]) for s in ("s1", "s2", "s3")), K, "sum of server lbtot")
    check_eq(eslib.num(m[("be", "BACKEND")]["stot"]), K, "backend stot")
    check_eq(eslib.num(m[("be", "s3")]["stot"]), 0, "disabled server stot")
    check_eq(str(m[("be", "s3")]["status"]), "MAINT", "disabled server status")
    check_eq(str(m[("be", "s1")]["status"]), "no check", "server s1 status (no health checks)")
    check_eq(eslib.num(m[("be", "s2")]["weight"]), 2, "server s2 weight")
    check_eq(e1.accepts + e2.accepts, K, "connections at the echo servers")
    log(f"show stat json: stot={fr['stot']} bin={fr['bin']} bout={fr['bout']} "
        f"s1={m[('be', 's1')]['stot']} s2={m[('be', 's2')]['stot']}")

    # ---- show stat json shards: per-shard rows whose sum is the merged value
    sdoc = es.ctl_json("show stat json shards")
    rows = eslib.field_rows(sdoc)
    fe_rows = [r for r in rows if (r.get("pxname"), r.get("svname")) == ("fe", "FRONTEND")]
    # per-shard rows carry their shard (a "shard" key on each field object); a merged row may
    # come first without one
    tagged = [r for r in fe_rows if "shard" in r["_meta"]]
    if tagged:
        check_eq(sorted(eslib.num(r["_meta"]["shard"]) for r in tagged), list(range(NBTHREAD)),
                 "shards of the per-shard frontend rows in `show stat json shards`")
        per_shard = [eslib.num(r.get("stot")) for r in tagged]
        bins = [eslib.num(r.get("bin")) for r in tagged]
        merged = [r for r in fe_rows if "shard" not in r["_meta"]]
        if merged:
            check_eq(eslib.num(merged[0].get("stot")), K, "merged frontend stot in `show stat json shards`")
    else:
        # no shard key: accept exactly NBTHREAD rows, or a merged row plus NBTHREAD rows
        tot = [eslib.num(r.get("stot")) for r in fe_rows]
        per_shard, bins = None, []
        if len(fe_rows) == NBTHREAD:
            per_shard, bins = tot, [eslib.num(r.get("bin")) for r in fe_rows]
        elif len(fe_rows) == NBTHREAD + 1:
            per_shard = tot[1:]
            bins = [eslib.num(r.get("bin")) for r in fe_rows[1:]]
        check(per_shard is not None, f"`show stat json shards` should have one frontend row per shard "
                                     f"({NBTHREAD}), got {len(fe_rows)} frontend rows")
    check_eq(sum(per_shard), K, f"sum of per-shard frontend stot {per_shard}")
    check_eq(sum(bins), K * B, f"sum of per-shard frontend bin {bins}")
    log(f"show stat json shards: per-shard frontend stot {per_shard}")

    # ---- show stat CSV
    csv = es.ctl("show stat")
    first = csv.splitlines()[0] if csv else ""
    check(first.startswith("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout"),
          f"CSV header should start with HAProxy's columns: {first[:120]!r}")
    cols = first[2:].split(",")
    fe_line = [l for l in csv.splitlines() if l.startswith("fe,FRONTEND,")]
    check(len(fe_line) == 1, f"CSV should have one fe,FRONTEND line: {csv[:500]!r}")
    vals = fe_line[0].split(",")
    check_eq(eslib.num(vals[cols.index("stot")]), K, "CSV frontend stot")
    check_eq(eslib.num(vals[cols.index("bin")]), K * B, "CSV frontend bin")

    # ---- show shards json
    shards = es.shards()
    check_eq(len(shards), NBTHREAD, "number of objects in `show shards json`")
    for s in shards:
        for fld in ("id", "cpu", "conns", "accepts", "splice_switches", "splice_bytes",
                    "cq_overflow", "enobufs"):
            check(fld in s, f"`show shards json` object lacks {fld!r}: {sorted(s)}")
    check_eq(sorted(eslib.num(s["id"]) for s in shards), list(range(NBTHREAD)), "shard ids")
    check_eq(sum(eslib.num(s["accepts"]) for s in shards), K, "sum of shard accepts")
    check_eq(sum(eslib.num(s["conns"]) for s in shards), 0, "sum of shard conns with nothing open")

    # ---- show pools json
    pdoc = es.ctl_json("show pools json")
    pools = []

    def walk(x, d=0):
        if d > 6:
            return
        if isinstance(x, dict):
            if "allocated" in x and "used" in x:
                pools.append(x)
            for v in x.values():
                walk(v, d + 1)
        elif isinstance(x, list):
            for v in x:
                walk(v, d + 1)

    walk(pdoc)
    for r in eslib.field_rows(pdoc):   # tolerate a field-object rendering too
        if "allocated" in r and "used" in r:
            pools.append(r)
    check(pools, f"`show pools json` lists no pool with allocated/used: {json.dumps(pdoc)[:400]}")
    for p in pools:
        a, u = eslib.num(p["allocated"]), eslib.num(p["used"])
        check(u >= 0 and a >= u, f"pool {p.get('name', '?')}: allocated {a} < used {u}")
    log(f"show pools json: {len(pools)} pools")

    # ---- interactive mode: two commands on one connection
    answers = interactive(sock, [("show version", re.escape(mv.group(1))),
                                 ("show info", r"Pid:\s*%d" % es.pid)])
    log(f"interactive ok ({[len(a) for a in answers]} bytes)")

    # ---- edgeshardctl
    r = h.run_cmd([h.ctl_bin, "-s", sock, "show", "stat", "json"], timeout=10)
    check_eq(r.returncode, 0, f"edgeshardctl show stat json exit status (stderr {r.stderr!r})")
    m2 = eslib.stat_map(json.loads(r.stdout))
    check_eq(eslib.num(m2[("fe", "FRONTEND")]["stot"]), K, "edgeshardctl: frontend stot")
    r = h.run_cmd([h.ctl_bin, "-s", h.path("no-such.sock"), "show", "info"], timeout=10)
    check_eq(r.returncode, 2, f"edgeshardctl exit status when the socket does not exist "
                              f"(stderr {r.stderr!r})")


if __name__ == "__main__":
    eslib.run(main)
