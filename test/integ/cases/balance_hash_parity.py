#!/usr/bin/env python3
"""Hashing balancers pick the same server as HAProxy 2.6 for the same key, so HAProxy boxes and
edgeshard boxes behind one ECMP group send a key to one server during a migration. One configuration
file runs through the proxy under test, then through the real HAProxy (ES_HAPROXY_BIN, default
/usr/sbin/haproxy; skipped, 77, when it is not installed); the same keys are sent to both and every
answer's server must match. The servers are frontends of the same file answering their name.
  - balance uri (map-based, sdbm: HAProxy's defaults), weights 1 2 3 4 (the map of their shares)
  - balance uri + hash-type consistent, weights 1 1 2 (the chash points of each server id)
  - balance uri whole + hash-type map-based djb2 avalanche (the query is part of the key)
  - balance uri depth 2 + hash-type map-based crc32, weights 10 20 (divided by their gcd)
  - balance hdr(X-User) + hash-type consistent wt6
  - hash-type consistent with one server `disabled` (its keys go to the nearer points of the others)
  - balance source (the address's words xored): clients from 127.0.0.1-40
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import Skip, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
ORIGINS = ("o1", "o2", "o3", "o4")

BACKENDS = {  # name: (balance lines, server weights / flags)
    "map": ("balance uri", ["weight 1", "weight 2", "weight 3", "weight 4"]),
    "cons": ("balance uri\n        hash-type consistent", ["weight 1", "weight 1", "weight 2"]),
    "djb2": ("balance uri whole\n        hash-type map-based djb2 avalanche", ["", "", ""]),
    "crc": ("balance uri depth 2\n        hash-type map-based crc32", ["weight 10", "weight 20"]),
    "hdr": ("balance hdr(X-User)\n        hash-type consistent wt6", ["", "", "", ""]),
    "maint": ("balance uri\n        hash-type consistent", ["", "disabled", "", ""]),
    "src": ("balance source", ["", "", ""]),
}


def config(P, sock):
    cfg = eslib.http_global(sock, nbthread=1) + eslib.http_defaults()
    for name, (balance, servers) in BACKENDS.items():
        cfg += eslib.section(f"frontend fe_{name}", f"""
            bind {L}:{P[name]}
            default_backend be_{name}""")
        lines = "\n".join(f"server {ORIGINS[i]} {L}:{P[ORIGINS[i]]} {opt}" for i, opt in enumerate(servers))
        cfg += f"backend be_{name}\n" + "".join(f"    {ln.strip()}\n" for ln in (balance + "\n" + lines).splitlines()) + "\n"
    for o in ORIGINS:
        cfg += eslib.section(f"frontend fe_{o}", f"""
            bind {L}:{P[o]}
            http-request return status 200 hdr X-Origin {o}""")
    return cfg


def keys(name):
    if name == "map" or name == "cons" or name == "maint":
        return [f"/objects/{i}/item-{i * 7919 % 1000}.jpg?v={i}" for i in range(150)]
    if name == "djb2":
        return [f"/search?q=term{i}&page={i % 5}" for i in range(100)]
    if name == "crc":
        return [f"/a{i % 37}/b{i}/c/d?x={i}" for i in range(100)]
    if name == "hdr":
        return [f"user-{i}@example.com" for i in range(100)]
    return [f"127.0.0.{i}" for i in range(1, 41)]


def collect(proc_ports):
    """Every key of every backend -> the server that answered."""
    got = {}
    for name in BACKENDS:
        port = proc_ports[name]
        if name == "src":
            for a in keys(name):
                r = eslib.http_get(port, "/", timeout=5, source=a)
                check_eq(r.status, 200, f"{name} from {a} ({r.brief()})")
                got[(name, a)] = r.header("X-Origin")
            continue
        c = eslib.HttpClient(port)
        try:
            for k in keys(name):
                if name == "hdr":
                    r = c.request(target="/", headers=[("X-User", k)])
                else:
                    r = c.request(target=k)
                check_eq(r.status, 200, f"{name} {k} ({r.brief()})")
                got[(name, k)] = r.header("X-Origin")
        finally:
            c.close()
    return got


def main(h):
    binary = os.environ.get("ES_HAPROXY_BIN", eslib.HAPROXY_DEFAULT_BIN)
    if not os.access(binary, os.X_OK):
        raise Skip(f"HAProxy ({binary}) is not installed: apt-get install haproxy")
    P = {k: eslib.free_port() for k in list(BACKENDS) + list(ORIGINS)}
    sock = h.sock_path()
    text = config(P, sock)
    es = eslib.start_proxy(h, text, ports=list(P.values()), sock=sock)
    ours = collect(P)
    es.stop()
    ref = eslib.start_haproxy(h, config(P, h.sock_path("haproxy_ref.sock")), list(P.values()), "haproxy_ref")
    theirs = collect(P)
    ref.stop()
    for name in BACKENDS:
        mine = {k: v for (n, k), v in ours.items() if n == name}
        hap = {k: v for (n, k), v in theirs.items() if n == name}
        diff = [k for k in mine if mine[k] != hap[k]]
        spread = sorted({v for v in hap.values()})
        log(f"{name}: {len(mine)} keys over {spread}, {len(diff)} differ")
        check(len(spread) > 1, f"{name}: the keys spread over several servers: {spread}")
        check_eq(diff[:5], [], f"{name}: keys whose server differs from HAProxy's "
                               f"({len(diff)} of {len(mine)}; e.g. {[(k, mine[k], hap[k]) for k in diff[:3]]})")
    check("o2" not in {v for (n, _), v in ours.items() if n == "maint"}, "maint: the disabled server gets nothing")


if __name__ == "__main__":
    eslib.run_http(main)
