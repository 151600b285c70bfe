"""TCP/HTTP rules declared in named `defaults` sections (`frontend fe from d1`), and `set-var-fmt`.

1. Run time, one proxy: `fe from d1` -> `be from d2` (both defaults hold rules), `fe3` using the
   named defaults d3 implicitly. Each rule list appends its name to X-Order (request) / X-RO
   (response) or to txn.t (tcp-request content), so the origin and the client see the order:
   request d1, fe, d2, be; response d2, be, d1, fe. `allow`/`accept` in a defaults' list also ends the
   proxy's own list of that kind, not the other proxy's. A defaults' ACL serves its own rules only.
2. set-var-fmt: log-format into a variable, in tcp-request content / http-request / http-response;
   an empty result still sets the variable (unless `ifnotempty`); %ci/%cp; a missing fetch is "".
3. -c: defaults with rules, set-var-fmt parse errors. (HAProxy 2.6 accepts set-var-fmt with no format
   or "", then crashes when the rule runs: not tested.)
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
T = "mode http\ntimeout connect 1s\ntimeout client 5s\ntimeout server 5s"


def main(h):
    o = http_origin.start(h)
    p1, p2, p3, p4 = (eslib.free_port() for _ in range(4))
    cfg = eslib.http_global(None) + eslib.section("defaults d1", f"""
        {T}
        acl dacl path_beg /dacl
        tcp-request connection accept if {{ dst_port {p1} }}
        tcp-request connection reject if {{ dst_port {p3} }}
        tcp-request content set-var-fmt(txn.t) "%[var(txn.t)]d1,"
        tcp-request content accept if {{ dst_port {p2} }}
        http-request add-header X-Order d1
        http-request deny if {{ path /d-deny }}
        http-request set-header X-Dacl d1 if dacl
        http-request allow if {{ path /d-allow }}
        http-request set-var-fmt(txn.x) "%[src]:%[path]-lit"
        http-request set-header X-Px %[fe_name]/%[be_name]
        http-response add-header X-RO d1
        http-response allow if {{ status 201 }}
        http-after-response add-header X-AO d1
        http-after-response allow if {{ status 203 }}
        """) + eslib.section("defaults d2", f"""
        {T}
        tcp-request content set-var-fmt(txn.t) "%[var(txn.t)]d2,"
        http-request add-header X-Order d2
        http-request allow if {{ path /d2-allow }}
        http-request set-header X-Bpx %[fe_name]/%[be_name]
        http-response add-header X-RO d2
        http-response allow if {{ status 202 }}
        http-after-response add-header X-AO d2
        """) + eslib.section("frontend fe from d1", f"""
        bind {L}:{p1}
        bind {L}:{p2}
        bind {L}:{p3}
        tcp-request connection reject if {{ dst_port {p1} }}
        tcp-request content set-var-fmt(txn.t) "%[var(txn.t)]fe,"
        acl dacl path_beg /fe
        http-request add-header X-Order fe
        http-request set-header X-Facl fe if dacl
        http-request set-header X-V %[var(txn.x)]
        http-request set-header X-T %[var(txn.t)]
        http-request set-var-fmt(txn.e) "%[req.hdr(x-none)]"
        http-request set-header X-E "<%[var(txn.e)]>"
        http-request set-header X-EF found if {{ var(txn.e) -m found }}
        http-request set-var-fmt(txn.e2,ifnotempty) "%[req.hdr(x-none)]"
        http-request set-header X-E2F found if {{ var(txn.e2) -m found }}
        http-request set-var-fmt(txn.c) "%ci:%cp|%f|%[req.hdr(x-in),lower]"
        http-request set-header X-C %[var(txn.c)]
        http-response set-var-fmt(txn.r) "%[status]-%[var(txn.x)]"
        http-response set-header X-R %[var(txn.r)]
        http-response add-header X-RO fe
        http-after-response add-header X-AO fe
        default_backend be
        """) + eslib.section("backend be from d2", f"""
        tcp-request content set-var-fmt(txn.t) "%[var(txn.t)]be,"
        http-request add-header X-Order be
        http-request set-header X-T2 %[var(txn.t)]
        http-response add-header X-RO be
        http-after-response add-header X-AO be
        server s1 {L}:{o.port}
        """) + eslib.section("defaults d3", f"""
        {T}
        http-request add-header X-Order d3
        """) + eslib.section("frontend fe3", f"""
        bind {L}:{p4}
        http-request add-header X-Order fe3
        default_backend be
        """)
    eslib.start_proxy(h, cfg, ports=[p1, p2, p3, p4])

    def get(port, path, headers=()):
        """(response, the request as the origin got it or None, the client's source port)"""
        n = o.request_count()
        c = eslib.HttpClient(port)
        try:
            sport = c.sock.getsockname()[1]
            r = c.request("GET", path, list(headers))
        finally:
            c.close()
        reqs = o.requests()[n:]
        return r, (reqs[0] if reqs else None), sport

    def hv(req, name):
        return http_origin.header_values(req, name)

    # ------------------------------------------------------------------ 1. order, allow/accept, ACLs
    r, q, sport = get(p1, "/echo", [("X-In", "HeLLo")])
    check_eq(r.status, 200, "1: /echo status")
    check_eq(hv(q, "x-order"), ["d1", "fe", "d2", "be"], "1: http-request order: fe's defaults, fe, be's defaults, be")
    check_eq(r.headers_named("x-ro"), ["d2", "be", "d1", "fe"],
             "1: http-response order: be's defaults, be, fe's defaults, fe")
    check_eq(r.headers_named("x-ao"), ["d2", "be", "d1", "fe"],
             "1: http-after-response order: be's defaults, be, fe's defaults, fe")
    check_eq((hv(q, "x-t"), hv(q, "x-t2")), (["d1,fe,"], ["d1,fe,d2,be,"]), "1: tcp-request content order")
    check_eq((hv(q, "x-px"), hv(q, "x-bpx")), (["fe/fe"], ["fe/be"]),
             "1: fe_name/be_name seen by d1's rules (run in fe) and d2's (run in be)")
    check_eq((hv(q, "x-dacl"), hv(q, "x-facl")), ([], []), "1: no ACL matches /echo")
    log("1: order d1, fe, d2, be (request and tcp-request content); d2, be, d1, fe (response)")

    r, q, _ = get(p1, "/dacl")
    check_eq((hv(q, "x-dacl"), hv(q, "x-facl")), (["d1"], []), "1: d1's acl dacl (path_beg /dacl) in d1's rule")
    r, q, _ = get(p1, "/fe")
    check_eq((hv(q, "x-dacl"), hv(q, "x-facl")), ([], ["fe"]), "1: fe's own acl dacl (path_beg /fe) in fe's rule")

    r, q, _ = get(p1, "/d-deny")
    check_eq((r.status, q, r.headers_named("x-ro")), (403, None, []), "1: deny in d1: 403, origin not reached")
    r, q, _ = get(p1, "/d-allow")
    check_eq((r.status, hv(q, "x-order"), hv(q, "x-v")), (200, ["d1", "d2", "be"], []),
             "1: http-request allow in d1 ends fe's own http-request rules too, not the backend's")
    r, q, _ = get(p1, "/d2-allow")
    check_eq(hv(q, "x-order"), ["d1", "fe", "d2"], "1: http-request allow in d2 ends be's own rules")
    r, q, _ = get(p1, "/status/201")
    check_eq((r.status, r.headers_named("x-ro"), r.header("x-r")), (201, ["d2", "be", "d1"], None),
             "1: http-response allow in d1 ends fe's own http-response rules")
    r, q, _ = get(p1, "/status/202")
    check_eq((r.status, r.headers_named("x-ro")), (202, ["d2", "d1", "fe"]),
             "1: http-response allow in d2 ends be's own http-response rules only")
    r, q, _ = get(p1, "/status/203")
    check_eq((r.status, r.headers_named("x-ao")), (203, ["d2", "be", "d1"]),
             "1: http-after-response allow in d1 ends fe's own http-after-response rules")
    log("1: acl scope, deny, allow in a defaults' list ends the proxy's own list of that kind")

    r, q, _ = get(p2, "/echo")
    check_eq((hv(q, "x-t"), hv(q, "x-t2"), hv(q, "x-order")), (["d1,"], ["d1,d2,be,"], ["d1", "fe", "d2", "be"]),
             "1: tcp-request content accept in d1 ends fe's tcp-request content rules (not be's, not http-request)")
    n = o.request_count()
    try:  # the reset may come as early as connect() (setsockopt on a reset socket)
        s = eslib.connect(p3, timeout=2.0)
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
        how, data, _ = eslib.wait_eof(s, 2.0)
        s.close()
    except OSError as e:
        how, data = f"reset ({e!r})", b""
    check(how.split()[0] in ("eof", "reset") and not data,
          f"1: tcp-request connection reject in d1: closed ({how} {data!r})")
    check_eq(o.request_count(), n, "1: rejected connection: origin not reached")
    # p1: `tcp-request connection accept` in d1 skipped fe's `reject if { dst_port p1 }` (requests above)
    r, q, _ = get(p4, "/echo")
    check_eq(hv(q, "x-order"), ["d3", "fe3", "d2", "be"], "1: named defaults d3 used implicitly: its rules run")
    log("1: tcp-request connection accept/reject and content accept in defaults; implicit use")

    # ------------------------------------------------------------------ 2. set-var-fmt
    r, q, sport = get(p1, "/echo", [("X-In", "HeLLo")])
    check_eq(hv(q, "x-v"), ["127.0.0.1:/echo-lit"], "2: set-var-fmt(txn.x) \"%[src]:%[path]-lit\" (in d1)")
    check_eq((hv(q, "x-e"), hv(q, "x-ef"), hv(q, "x-e2f")), (["<>"], ["found"], []),
             "2: an empty result sets an empty variable; with ifnotempty it is not set")
    check_eq(hv(q, "x-c"), [f"127.0.0.1:{sport}|fe|hello"], "2: %ci:%cp|%f|%[req.hdr(x-in),lower]")
    check_eq(r.header("x-r"), "200-127.0.0.1:/echo-lit", "2: http-response set-var-fmt (status, txn var)")
    r, q, sport = get(p1, "/x")
    check_eq(hv(q, "x-c"), [f"127.0.0.1:{sport}|fe|"], "2: a missing header gives an empty string, not '-'")
    log("2: set-var-fmt in tcp-request content / http-request / http-response")

    # ------------------------------------------------------------------ 3. -c
    def d(name, body):
        return eslib.section(f"defaults {name}", T + "\n" + body)

    def px(header, fe_rule=""):
        if header.startswith("backend"):
            return eslib.section(header, f"server s1 {L}:{o.port}")
        return eslib.section(header, f"bind {L}:{eslib.free_port()}\n{fe_rule}\ndefault_backend be")

    def anon(rule="", fe_rule=""):
        return eslib.http_defaults(extra=rule) + px("frontend fe", fe_rule) + px("backend be")

    hr = "http-request set-header X-D d1"
    cases = [
        (anon(hr), hr, ["'http-request' not allowed in anonymous 'defaults' section"],
         "http-request in an anonymous defaults"),
        (anon("acl a path /a"), "acl a path /a", ["'acl' not allowed in anonymous 'defaults' section"],
         "acl in an anonymous defaults"),
        (anon("tcp-request content accept"), "tcp-request content accept",
         ["tcp-request content is not allowed in anonymous 'defaults' sections"],
         "tcp-request in an anonymous defaults"),
        (d("d1", hr) + eslib.section("listen li from d1", f"bind {L}:{eslib.free_port()}"), "listen li from d1",
         ["a listen section cannot inherit from a defaults section defining TCP/HTTP rules"],
         "listen from a defaults with rules"),
        (d("d1", "http-response set-header X-D d1") + px("frontend fe from d1") + px("backend be from d1"),
         "backend be from d1", ["frontends and backends cannot inherit from the same defaults section "
                                "if it defines TCP/HTTP rules"], "frontend and backend from the same defaults"),
        (d("d1", hr) + d("d3 from d1", "") + px("frontend fe from d3"), "defaults d3 from d1",
         ["a defaults section cannot inherit from a defaults section defining TCP/HTTP rules"],
         "defaults from a defaults with rules"),
        (d("d0", "") + d("d1", "tcp-request connection accept") + px("frontend fe from d0") + px("backend be from d1"),
         "backend be from d1", ["a backend section cannot inherit from a defaults section defining "
                                "'tcp-request connection' or 'tcp-request session' rules"],
         "backend from a defaults with tcp-request connection"),
        (d("d0", "") + d("d1", "tcp-response content accept") + px("frontend fe from d1") + px("backend be from d0"),
         "frontend fe from d1",
         ["a frontend section cannot inherit from a defaults section defining 'tcp-response content' rules"],
         "frontend from a defaults with tcp-response content"),
        (d("d0", "") + d("d1", f"acl dacl path /a\n{hr} if dacl")
         + px("frontend fe from d1", "http-request deny if dacl") + px("backend be from d0"),
         "http-request deny if dacl", ["no such ACL", "'dacl'"], "a defaults' ACL in fe"),
        (anon(fe_rule="http-request set-var-fmt(txn.x) %[nope]"), "http-request set-var-fmt(txn.x) %[nope]",
         ["'http-request set-var-fmt(txn.x)'", "unknown fetch method 'nope'"], "set-var-fmt with an unknown fetch"),
        (anon(fe_rule="http-request set-var-fmt(txn.x) %[res.hdr(x)]"), "http-request set-var-fmt(txn.x) %[res.hdr(x)]",
         ["needs 'HTTP response headers' which is not available here"], "set-var-fmt, response fetch in http-request"),
        (anon(fe_rule='http-request set-var-fmt "a"'), 'http-request set-var-fmt "a"',
         ["invalid or incomplete action 'set-var-fmt'"], "set-var-fmt without a variable"),
    ]
    for text, rule, frags, what in cases:
        eslib.check_refused(h, text, rule, frags, "3: " + what)
    log(f"3: -c refuses {len(cases)} configurations")


if __name__ == "__main__":
    eslib.run_http(main)
