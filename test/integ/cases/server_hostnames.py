#!/usr/bin/env python3
"""Server host names resolved at load, as HAProxy 2.6 does (the same file runs through HAProxy with
ES_TEST_PEER=haproxy). No resolver is ever asked: `localhost` comes from /etc/hosts, and the name
that must not resolve has a 64-byte label, which HAProxy and edgeshard refuse before any lookup.
  - `server s1 ipv4@localhost:PORT` serves (127.0.0.1), and `show stat` shows its address;
  - `init-addr none` on a name that does not resolve: the server starts in maintenance ("MAINT
    (resolution)", no address), stays there after `set server ... state ready`, and gets no request; `init-addr last,libc,127.0.0.1` falls back to the address: it serves;
  - `-c` on a server whose name does not resolve fails naming the file and line; with `-dr` the
    file is valid (the server would start in maintenance).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
BAD = "x" * 64 + ".test"


def main(h):
    o1 = http_origin.start(h, name="o1")
    o2 = http_origin.start(h, name="o2")
    sock = h.sock_path()
    port = eslib.free_port()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe", f"bind {L}:{port}\ndefault_backend be")
           + eslib.section("backend be", f"""
                balance roundrobin
                server s1 ipv4@localhost:{o1.port}
                server s2 {BAD}:{o2.port} init-addr none
                server s3 {BAD}:{o2.port} init-addr last,libc,127.0.0.1"""))
    es = eslib.start_proxy(h, cfg, ports=[port], sock=sock)
    st = es.stats()
    log(f"statuses: {[(sv, st[('be', sv)].get('status'), st[('be', sv)].get('addr')) for sv in ('s1', 's2', 's3')]}")
    check_eq(st[("be", "s1")].get("addr"), f"127.0.0.1:{o1.port}", "s1's address from localhost")
    check_eq((st[("be", "s2")].get("status"), st[("be", "s2")].get("addr") or None), ("MAINT (resolution)", None),
             "s2 (init-addr none): in maintenance without an address")
    # leaving maintenance is not possible without an address
    es.ctl("set server be/s2 state ready")
    check_eq(es.stats()[("be", "s2")].get("status"), "MAINT (resolution)", "s2 after `set server be/s2 state ready`")
    check_eq(st[("be", "s3")].get("addr"), f"127.0.0.1:{o2.port}", "s3's address from init-addr's fallback")
    lines = es.ctl("show servers state be").splitlines()
    hdr = lines[1].lstrip("# ").split()
    rows = {r.split()[3]: dict(zip(hdr, r.split())) for r in lines[2:] if r.strip()}
    check_eq((rows["s1"]["srv_fqdn"], rows["s3"]["srv_fqdn"]), ("localhost", BAD), "show servers state srv_fqdn")
    got = {}
    for i in range(12):
        r = eslib.http_get(port, f"/h{i}")
        check_eq(r.status, 200, f"request {i} ({r.brief()})")
        got[r.header("x-origin") or "?"] = got.get(r.header("x-origin") or "?", 0) + 1
    log(f"requests per origin: {got}")
    check_eq(sorted(got.values()), [6, 6], f"s1 and s3 share the requests, s2 gets none: {got}")

    bad = h.write("unresolved.cfg", eslib.http_defaults() + eslib.section("frontend f", f"bind {L}:{eslib.free_port()}\ndefault_backend b")
                  + eslib.section("backend b", f"server s {BAD}:80"))
    lineno = next(i + 1 for i, ln in enumerate(open(bad).read().splitlines()) if BAD in ln)
    rc = h.run_cmd([h.bin, "-c", "-f", bad])
    log(f"-c on an unresolvable server: exit {rc.returncode}: {rc.stderr.strip()[-200:]!r}")
    check(rc.returncode != 0 and f"unresolved.cfg:{lineno}" in rc.stderr and BAD in rc.stderr,
          f"the error names file:line and the name: {rc.stderr!r}")
    rc = h.run_cmd([h.bin, "-dr", "-c", "-f", bad])
    check_eq(rc.returncode, 0, f"with -dr the file is valid ({rc.stderr.strip()[-200:]!r})")


if __name__ == "__main__":
    eslib.run_http(main)
