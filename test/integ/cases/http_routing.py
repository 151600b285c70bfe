#!/usr/bin/env python3
"""Request routing and HTTP load balancing (every response names its origin in X-Origin):
  - `acl` + `use_backend` on path_beg, path_end, hdr(host) -i, method, src; the first matching
    rule wins; default_backend otherwise;
  - `balance uri`: the same URI always lands on the same server, and several servers are used;
  - `balance hdr(X-User)`: likewise per user;
  - `balance roundrobin` weights 3:1: 400 requests on keep-alive connections split ~300/100, and
    one client connection is balanced per request (it sees both servers);
  - `balance leastconn`: while one server holds a slow request, quick requests all go to the other;
  - `balance random(2)`: every server gets a fair share of 150 requests;
  - `hash-type consistent` (balance uri): adding a 4th server moves keys only to the new server;
    with the default map-based hashing the same change moves keys between the old servers too.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def land(c, target, headers=None, method="GET", body=b"", host="test.local"):
    r = c.request(method, target, headers, body, host=host)
    check_eq(r.status, 200, f"{method} {target}: status ({r.brief()})")
    return r.header("X-Origin")


def main(h):
    names = ["api", "img", "hostb", "post", "src", "default", "a", "b", "c", "d"]
    o = {n: http_origin.start(h, name=n) for n in names}
    ports = {k: eslib.free_port() for k in ("route", "uri", "hdr", "rr", "lc", "rand", "cons3", "map3")}
    sock = h.sock_path()

    def be(name, balance, servers, extra=""):
        lines = [f"balance {balance}"] + ([extra] if extra else [])
        lines += [f"server {s} {L}:{o[s].port} {x}".rstrip() for s, x in servers]
        return eslib.section(f"backend {name}", "\n".join(lines))

    def fe(name, port, backend):
        return eslib.section(f"frontend {name}", f"bind {L}:{port}\ndefault_backend {backend}")

    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe_route", f"""
                bind {L}:{ports['route']}
                acl is_api path_beg /api
                acl is_img path_end .jpg
                acl host_b hdr(host) -i b.example
                acl is_post method POST
                acl from_two src 127.0.0.2
                use_backend be_api if is_api
                use_backend be_img if is_img
                use_backend be_hostb if host_b
                use_backend be_post if is_post
                use_backend be_src if from_two
                default_backend be_default""")
           + "".join(be(f"be_{n}", "roundrobin", [(n, "")]) for n in ("api", "img", "hostb", "post", "src", "default"))
           + fe("fe_uri", ports["uri"], "be_uri") + be("be_uri", "uri", [("a", ""), ("b", ""), ("c", "")])
           + fe("fe_hdr", ports["hdr"], "be_hdr") + be("be_hdr", "hdr(X-User)", [("a", ""), ("b", ""), ("c", "")])
           + fe("fe_rr", ports["rr"], "be_rr") + be("be_rr", "roundrobin", [("a", "weight 3"), ("b", "weight 1")])
           + fe("fe_lc", ports["lc"], "be_lc") + be("be_lc", "leastconn", [("a", ""), ("b", "")])
           + fe("fe_rand", ports["rand"], "be_rand") + be("be_rand", "random(2)", [("a", ""), ("b", ""), ("c", "")])
           + fe("fe_cons3", ports["cons3"], "be_cons3")
           + be("be_cons3", "uri", [("a", ""), ("b", ""), ("c", "")], "hash-type consistent")
           + fe("fe_map3", ports["map3"], "be_map3")
           + be("be_map3", "uri", [("a", ""), ("b", ""), ("c", "")], "hash-type map-based"))
    eslib.start_proxy(h, cfg, ports=list(ports.values()), sock=sock)

    # ---- acl + use_backend
    c = eslib.HttpClient(ports["route"])
    cases = [("GET", "/api/users", None, "api"), ("GET", "/pics/cat.jpg", None, "img"),
             ("GET", "/api/cat.jpg", None, "api"), ("GET", "/", "b.example", "hostb"),
             ("GET", "/x", "B.Example", "hostb"), ("POST", "/form", None, "post"),
             ("GET", "/other", None, "default"), ("GET", "/other.jpeg", None, "default"),
             ("PUT", "/form", None, "default")]
    for method, target, host, want in cases:
        got = land(c, target, method=method, host=host or "test.local",
                   body=b"x=1" if method in ("POST", "PUT") else b"")
        check_eq(got, want, f"{method} {target} Host {host or 'test.local'}: backend chosen")
    c.close()
    c = eslib.HttpClient(ports["route"], source="127.0.0.2")
    check_eq(land(c, "/from-two"), "src", "GET / from 127.0.0.2: backend chosen (acl src)")
    check_eq(land(c, "/api/from-two"), "api", "GET /api from 127.0.0.2: the earlier path rule wins")
    c.close()
    log("acl routing: path_beg, path_end, hdr(host) -i, method, src, default: ok")

    # ---- balance uri / hdr(X-User)
    for key, label, mk in (("uri", "balance uri", lambda k: (f"/u/{k}?v={k * 7}", None)),
                           ("hdr", "balance hdr(X-User)", lambda k: ("/same", [("X-User", f"user{k}")]))):
        c = eslib.HttpClient(ports[key])
        where = {}
        for rnd in range(3):
            for k in range(30):
                target, hdrs = mk(k)
                s = land(c, target, hdrs)
                if rnd == 0:
                    where[k] = s
                else:
                    check_eq(s, where[k], f"{label}: key {k} request {rnd + 1} lands where the first did")
        c.close()
        used = sorted(set(where.values()))
        log(f"{label}: 30 keys x 3 stable; servers used {used}")
        check(len(used) >= 2, f"{label}: 30 keys all landed on {used}; the hash should spread them")

    # ---- roundrobin 3:1
    counts = {}
    single = set()
    for k in range(4):
        c = eslib.HttpClient(ports["rr"])
        for i in range(100):
            s = land(c, f"/rr/{k}/{i}")
            counts[s] = counts.get(s, 0) + 1
            if k == 0:
                single.add(s)
        c.close()
    log(f"roundrobin weights 3:1 over 400 requests: {counts}")
    eslib.check_range(counts.get("a", 0), 280, 320, "roundrobin 3:1: requests on the weight-3 server (of 400)")
    check_eq(counts.get("a", 0) + counts.get("b", 0), 400, "roundrobin: requests on a and b")
    check_eq(single, {"a", "b"}, "servers seen by one keep-alive client connection (balanced per request)")

    # ---- leastconn
    slow_res = {}

    def slow():
        try:
            r = eslib.http_get(ports["lc"], "/delay/1500", timeout=5)
            slow_res["s"] = r.header("X-Origin")
        except Exception as e:  # noqa: BLE001
            slow_res["err"] = repr(e)

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    eslib.poll_until(lambda: any(r["target"] == "/delay/1500" for r in o["a"].requests() + o["b"].requests()),
                     3, what="the slow request to reach a server")
    busy = "a" if any(r["target"] == "/delay/1500" for r in o["a"].requests()) else "b"
    idle = "b" if busy == "a" else "a"
    c = eslib.HttpClient(ports["lc"])
    quick = [land(c, f"/lc/{i}") for i in range(6)]
    c.close()
    t.join(5)
    check(not slow_res.get("err"), f"the slow request failed: {slow_res.get('err')}")
    check_eq(quick, [idle] * 6, f"leastconn: quick requests while {busy} holds a slow one")
    log(f"leastconn: slow request on {busy}, 6 quick ones on {idle}")

    # ---- random(2)
    counts = {}
    c = eslib.HttpClient(ports["rand"])
    for i in range(150):
        s = land(c, f"/rand/{i}")
        counts[s] = counts.get(s, 0) + 1
    c.close()
    log(f"random(2) over 150 requests: {counts}")
    for s in ("a", "b", "c"):
        check(counts.get(s, 0) >= 20, f"random(2): server {s} got {counts.get(s, 0)} of 150 requests "
                                      f"(expected a fair share, >= 20): {counts}")

    # ---- hash-type consistent: adding a server moves keys only to it
    keys = [f"/k/{i}" for i in range(120)]

    def mapping(port):
        c = eslib.HttpClient(port)
        m = {k: land(c, k) for k in keys}
        c.close()
        return m

    cons3, map3 = mapping(ports["cons3"]), mapping(ports["map3"])
    p4c, p4m = eslib.free_port(), eslib.free_port()
    sock4 = h.sock_path("es4.sock")
    cfg4 = (eslib.http_global(sock4) + eslib.http_defaults()
            + fe("fe_cons4", p4c, "be_cons4")
            + be("be_cons4", "uri", [("a", ""), ("b", ""), ("c", ""), ("d", "")], "hash-type consistent")
            + fe("fe_map4", p4m, "be_map4")
            + be("be_map4", "uri", [("a", ""), ("b", ""), ("c", ""), ("d", "")], "hash-type map-based"))
    eslib.start_proxy(h, cfg4, ports=[p4c, p4m], sock=sock4, name="four-servers")
    cons4, map4 = mapping(p4c), mapping(p4m)
    moved_c = {k: (cons3[k], cons4[k]) for k in keys if cons3[k] != cons4[k]}
    moved_m = {k: (map3[k], map4[k]) for k in keys if map3[k] != map4[k]}
    wrong = {k: v for k, v in moved_c.items() if v[1] != "d"}
    log(f"consistent: {len(moved_c)} of {len(keys)} keys moved when d was added "
        f"({len(wrong)} between old servers); map-based: {len(moved_m)} moved")
    check(not wrong, f"hash-type consistent: adding server d moved keys between the old servers: "
                     f"{dict(list(wrong.items())[:10])}")
    check(0 < len(moved_c) <= len(keys) // 2,
          f"hash-type consistent: {len(moved_c)} of {len(keys)} keys moved to the new server "
          f"(expected some, about a quarter)")
    check(any(v[1] != "d" for v in moved_m.values()),
          "hash-type map-based: adding a server should also move keys between the old servers "
          "(otherwise this case does not tell the two apart)")
    for n in names:
        check(not o[n].errors, f"origin {n} errors: {o[n].errors}")


if __name__ == "__main__":
    eslib.run_http(main)
