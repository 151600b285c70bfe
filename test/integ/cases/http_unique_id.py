#!/usr/bin/env python3
"""`unique-id-format` / `unique-id-header`, the %ID log variable and the `unique-id` fetch as
HAProxy 2.6 runs them (the same file runs through HAProxy with ES_TEST_PEER=haproxy; the facts:
src/rules/README.md, "Unique ids", and src/proxy/README.md). Every frontend logs "LOG <name> [%ID] [%{+Q}ID] %rt %Ts %pid %ST".
  1. fe_rt (`%rt`): the id is the per-process request counter, decimal, 0 for the first request,
     +1 per request (also per request of a keep-alive connection); a client's own X-Unique-ID is
     kept and the generated one appended; a request denied before any use of the id still logs
     it (generated at log time); a 400 from the HTTP/1 parser logs %ID as "-".
  2. fe_doc (HAProxy's doc example `%{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid`): upper-case hex
     fields (ip 8, port 4, %Ts 8, %rt/%pid %04X); the same id in the header sent to the server,
     in %[unique-id] in http-request (first rule) and http-response, and in %ID; the header comes
     after the headers set by the frontend's and the backend's http-request rules; not in the
     response. Also `%{+X}o ... %rt` without %pid, `%Ts%rt` (decimal, concatenated), `%[uuid()]`.
  3. Generated once, at first use: `%[req.hdr(x-a)]` sees an http-request set-header X-A when
     nothing used the id before (it is generated after all http-request rules), the original
     value when an earlier rule used %[unique-id]; an empty id still adds an empty header and
     logs "-".
  4. Without unique-id-format: no header, %ID "-", %{+Q}ID '""', %[unique-id] fails (empty
     set-header value, `-m found` false). A named defaults' format and header are inherited, a
     frontend's own format overrides; `listen` works; in a backend both are ignored.
  5. `-c`: missing arguments, two arguments, unknown %variable / fetch, a response fetch, uuid(5);
     a backend's unique-id-format is accepted.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
LOG_RE = re.compile(r'^LOG (\S+) \[(.*)\] \[(.*)\] (\d+) (\d+) (\d+) (\d+)$')
HEX_DOC = re.compile(r"^([0-9A-F]{8}):([0-9A-F]{4})_([0-9A-F]{8}):([0-9A-F]{4})_([0-9A-F]{8})_([0-9A-F]{4,})"
                     r":([0-9A-F]{4,})$")
HEX_NOPID = re.compile(r"^([0-9A-F]{8}):([0-9A-F]{4})_([0-9A-F]{8}):([0-9A-F]{4})_([0-9A-F]{8})_([0-9A-F]{4,})$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def main(h):
    o = http_origin.start(h, name="o")
    sock = h.sock_path()
    names = ("rt", "doc", "nopid", "tsrt", "uuid", "none", "lazy", "early", "def", "ovr", "lis", "bef")
    P = {k: eslib.free_port() for k in names}
    hdr = "unique-id-header X-Unique-ID"
    resp = "http-response set-header X-Resp %[unique-id]"

    def fe(name, body, be="be", kind="frontend", suffix=""):
        return eslib.section(f"{kind} fe_{name}{suffix}", f"""
            bind {L}:{P[name]}
            log stdout format raw local0
            log-format "LOG {name} [%ID] [%{{+Q}}ID] %rt %Ts %pid %ST"
            {body}
            {f'default_backend {be}' if be else ''}""")

    cfg = eslib.http_global(sock) + eslib.http_defaults()
    cfg += fe("rt", f"unique-id-format %rt\n{hdr}\nhttp-request deny if {{ path /deny }}\n{resp}")
    cfg += fe("doc", f"""http-request set-header X-Before %[unique-id]
        http-request set-header X-Rule 1
        unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
        {hdr}\n{resp}""", be="be_rule")
    cfg += fe("nopid", f"unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt\n{hdr}")
    cfg += fe("tsrt", f"unique-id-format %Ts%rt\n{hdr}")
    cfg += fe("uuid", f"unique-id-format %[uuid()]\n{hdr}\n{resp}")
    cfg += fe("none", f"""{hdr}
        http-request set-header X-U %[unique-id]
        http-request set-header X-Found 1 if {{ unique-id -m found }}\n{resp}""")
    cfg += fe("lazy", f"unique-id-format %[req.hdr(x-a)]\n{hdr}\nhttp-request set-header X-A changed")
    cfg += fe("early", f"""unique-id-format %[req.hdr(x-a)]\n{hdr}
        http-request set-header X-Before %[unique-id]
        http-request set-header X-A changed""")
    cfg += eslib.section("defaults dfu", """
        mode http
        timeout connect 1s
        timeout client 5s
        timeout server 5s
        unique-id-format D%rt
        unique-id-header X-Def-ID""")
    cfg += fe("def", "", suffix=" from dfu")
    cfg += fe("ovr", "unique-id-format F%rt", suffix=" from dfu")
    cfg += eslib.http_defaults()  # the sections below do not use dfu
    cfg += fe("lis", f"unique-id-format L%rt\nunique-id-header X-Lis-ID\nserver s1 {L}:{o.port}", be=None,
              kind="listen")
    cfg += fe("bef", "", be="be_uid")
    cfg += eslib.section("backend be", f"server s1 {L}:{o.port}")
    cfg += eslib.section("backend be_rule", f"http-request set-header X-B be-rule\nserver s1 {L}:{o.port}")
    cfg += eslib.section("backend be_uid", f"""
        unique-id-format B%rt
        unique-id-header X-BE-ID
        http-request set-header X-U2 %[unique-id]
        server s1 {L}:{o.port}""")
    px = eslib.start_proxy(h, cfg, ports=list(P.values()), sock=sock)

    def logs():
        return [m.groups() for m in (LOG_RE.match(l) for l in px.stdout_text().splitlines()) if m]

    def req(name, target="/", headers=(), client=None):
        """(response, request as the origin got it or None, log line, client port)."""
        nlog, n = len(logs()), o.request_count()
        c = client or eslib.HttpClient(P[name])
        cport = c.sock.getsockname()[1]
        try:
            r = c.request("GET", target, headers=list(headers))
        finally:
            if client is None:
                c.close()
        q = o.wait_requests(n + 1)[-1] if r.header("x-origin") else None
        lg = eslib.poll_until(lambda: logs()[nlog] if len(logs()) > nlog else None, 5,
                              what=f"the log line of {name} {target}")
        check_eq(lg[0], name, f"{name} {target}: the log line's frontend")
        return r, q, {"id": lg[1], "qid": lg[2], "rt": int(lg[3]), "ts": int(lg[4]), "pid": int(lg[5]),
                      "st": int(lg[6])}, cport

    hv = http_origin.header_values

    # ------------------------------------------------------------------ 1. %rt
    rts = []
    for i in range(2):
        r, q, lg, _ = req("rt")
        check_eq((hv(q, "x-unique-id"), r.header("x-resp"), lg["id"], lg["qid"]),
                 ([str(lg["rt"])], str(lg["rt"]), str(lg["rt"]), f'"{lg["rt"]}"'), "1: %rt: header, fetch, %ID")
        rts.append(lg["rt"])
    c = eslib.HttpClient(P["rt"])
    try:
        for i in range(3):
            r, q, lg, _ = req("rt", "/ka", client=c)
            check_eq((r.header("x-req"), hv(q, "x-unique-id")), (str(i), [str(lg["rt"])]), f"1: keep-alive request {i}")
            rts.append(lg["rt"])
    finally:
        c.close()
    check_eq(rts, list(range(5)), "1: %rt: 0 for the first request, +1 per request, keep-alive included")
    r, q, lg, _ = req("rt", headers=[("X-Unique-ID", "client-val")])
    check_eq(hv(q, "x-unique-id"), ["client-val", str(lg["rt"])], "1: the client's X-Unique-ID is kept, ours appended")
    r, q, lg, _ = req("rt", "/deny")
    check_eq((r.status, q, lg["id"], lg["st"], r.header("x-unique-id")), (403, None, str(lg["rt"]), 403, None),
             "1: a denied request (id never used by a rule) still logs its id")
    nlog = len(logs())
    resp400, how, err = eslib.raw_exchange(P["rt"], b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
    check(resp400 is not None and resp400.status == 400, f"1: the parser's 400 ({how} {err})")
    lg = eslib.poll_until(lambda: logs()[nlog] if len(logs()) > nlog else None, 5, what="the 400's log line")
    check_eq((lg[0], lg[1], lg[2], lg[6]), ("rt", "-", '""', "400"), "1: a parser 400 logs %ID as - (no stream, no id)")
    log("1: %rt ids: counter from 0, +1 per request, client header kept, deny and 400 logs")

    # ------------------------------------------------------------------ 2. formats
    ids = []
    for _ in range(2):
        t0 = int(time.time())
        r, q, lg, cport = req("doc")
        t1 = int(time.time())
        uid = lg["id"]
        m = HEX_DOC.match(uid)
        check(m is not None, f"2: doc format: {uid!r} matches {HEX_DOC.pattern}")
        ci, cp, fi, fp, ts, rt, pid = m.groups()
        check_eq((ci, cp, fi, fp, rt, pid), ("7F000001", f"{cport:04X}", "7F000001", f"{P['doc']:04X}",
                                             f"{lg['rt']:04X}", f"{px.pid:04X}"), f"2: doc format fields of {uid}")
        check(t0 - 1 <= int(ts, 16) <= t1 + 1 and int(ts, 16) == lg["ts"],
              f"2: %{{+X}}Ts {ts} is the unix time {lg['ts']}")
        check_eq(lg["pid"], px.pid, "2: %pid is the proxy's process id")
        check_eq((hv(q, "x-unique-id"), hv(q, "x-before"), r.header("x-resp"), lg["qid"]),
                 ([uid], [uid], uid, f'"{uid}"'), "2: the same id in the header, the fetch (request, response), %ID")
        names_ = [n.lower() for n, _ in q["headers"]]
        check(names_.index("x-before") < names_.index("x-rule") < names_.index("x-b") < names_.index("x-unique-id"),
              f"2: X-Unique-ID after the frontend's and backend's rule headers: {names_}")
        check_eq(r.headers_named("x-unique-id"), [], "2: no X-Unique-ID in the response")
        ids.append(uid)
    check(ids[0] != ids[1], f"2: two requests, two ids: {ids}")
    r, q, lg, cport = req("nopid")
    m = HEX_NOPID.match(lg["id"])
    check(m is not None, f"2: %{{+X}}o without %pid: {lg['id']!r} matches {HEX_NOPID.pattern}")
    check_eq((m.group(2), m.group(4), m.group(6), hv(q, "x-unique-id")),
             (f"{cport:04X}", f"{P['nopid']:04X}", f"{lg['rt']:04X}", [lg["id"]]), "2: nopid fields, header")
    r, q, lg, _ = req("tsrt")
    check_eq((lg["id"], hv(q, "x-unique-id")), (f"{lg['ts']}{lg['rt']}", [f"{lg['ts']}{lg['rt']}"]),
             "2: %Ts%rt: decimal unix seconds then the decimal counter")
    uu = []
    for _ in range(2):
        r, q, lg, _ = req("uuid")
        check(UUID4.match(lg["id"]) is not None, f"2: %[uuid()]: {lg['id']!r} is a lower-case v4 UUID")
        check_eq((hv(q, "x-unique-id"), r.header("x-resp")), ([lg["id"]], lg["id"]),
                 "2: uuid generated once per request")
        uu.append(lg["id"])
    check(uu[0] != uu[1], f"2: two uuid ids differ: {uu}")
    log("2: doc format (hex fields), no-pid, %Ts%rt, %[uuid()]: header = fetch = %ID")

    # ------------------------------------------------------------------ 3. when it is generated
    r, q, lg, _ = req("lazy", headers=[("X-A", "orig")])
    check_eq((hv(q, "x-unique-id"), lg["id"]), (["changed"], "changed"),
             "3: not used by a rule: generated after the http-request rules (sees X-A: changed)")
    r, q, lg, _ = req("early", headers=[("X-A", "orig")])
    check_eq((hv(q, "x-before"), hv(q, "x-a"), hv(q, "x-unique-id"), lg["id"]),
             (["orig"], ["changed"], ["orig"], "orig"),
             "3: used by the first rule: generated then, kept for the header and the log")
    r, q, lg, _ = req("early")
    check_eq((hv(q, "x-before"), hv(q, "x-unique-id"), lg["id"], lg["qid"]), ([""], [""], "-", '""'),
             "3: an empty id: an empty header is still added, %ID logs -")
    log("3: the id is generated at first use, else after the http-request rules")

    # ------------------------------------------------------------------ 4. absent, inherited, listen, backend
    r, q, lg, _ = req("none")
    check_eq((hv(q, "x-unique-id"), hv(q, "x-u"), hv(q, "x-found"), r.header("x-resp"), lg["id"], lg["qid"]),
             ([], [""], [], "", "-", '""'), "4: no unique-id-format: no header, the fetch fails, %ID -")
    r, q, lg, _ = req("def")
    check_eq((hv(q, "x-def-id"), lg["id"]), ([f"D{lg['rt']}"], f"D{lg['rt']}"),
             "4: format and header from defaults dfu")
    r, q, lg, _ = req("ovr")
    check_eq((hv(q, "x-def-id"), lg["id"]), ([f"F{lg['rt']}"], f"F{lg['rt']}"),
             "4: the frontend's own format overrides the defaults', the header is inherited")
    r, q, lg, _ = req("lis")
    check_eq((hv(q, "x-lis-id"), lg["id"]), ([f"L{lg['rt']}"], f"L{lg['rt']}"), "4: listen section")
    r, q, lg, _ = req("bef")
    check_eq((hv(q, "x-be-id"), hv(q, "x-u2"), lg["id"]), ([], [""], "-"),
             "4: unique-id-format/header in a backend: ignored (the frontend's are used)")
    log("4: no format, defaults inheritance and override, listen, backend")

    # ------------------------------------------------------------------ 5. -c
    bin_ = os.environ["EDGESHARD_BIN"]

    def config_check(lines, in_backend=False):
        fe_body, be_body = ("", "\n".join(lines)) if in_backend else ("\n".join(lines), "")
        fe_text = f"bind {L}:{eslib.free_port()}\n{fe_body}\ndefault_backend be"
        text = (eslib.http_defaults() + eslib.section("frontend fe", fe_text)
                + eslib.section("backend be", f"{be_body}\nserver s1 {L}:{o.port}"))
        p = h.run_cmd([bin_, "-c", "-f", h.write("bad.cfg", text)], timeout=30)
        lineno = next(i + 1 for i, l in enumerate(text.splitlines()) if l.strip() == lines[0])
        return p.returncode, p.stdout + p.stderr, lineno

    def refused(line, fragments, what):
        rc, out, lineno = config_check([line])
        check(rc != 0 and "Configuration file is valid" not in out, f"5: {what}: refused (rc={rc}): {out!r}")
        # HAProxy writes "[bad.cfg:N]", edgeshard "bad.cfg:N:"
        check(f"bad.cfg:{lineno}]" in out or f"bad.cfg:{lineno}:" in out, f"5: {what}: names bad.cfg:{lineno}: {out!r}")
        for f in fragments:
            check(f in out, f"5: {what}: {f!r} in {out!r}")

    refused("unique-id-header", ["unique-id-header expects an argument."], "unique-id-header without a name")
    refused("unique-id-format", ["unique-id-format expects an argument."], "unique-id-format without argument")
    refused("unique-id-format %rt x", ["unique-id-format expects only one argument, don't forget to escape spaces!"],
            "unique-id-format with an unescaped space")
    refused("unique-id-format %zz", ["failed to parse unique-id", "no such format variable 'zz'"], "unknown %variable")
    refused("unique-id-format %[nosuchfetch]", ["failed to parse unique-id", "unknown fetch method 'nosuchfetch'"],
            "unknown fetch")
    refused("unique-id-format %[res.hdr(x)]",
            ["failed to parse unique-id", "sample fetch <res.hdr(x)]> may not be reliably used here because it "
             "needs 'HTTP response headers' which is not available here"], "response fetch")
    refused("unique-id-format %[uuid(5)]", ["failed to parse unique-id", "Unsupported UUID version: '5'"], "uuid(5)")
    rc, out, _ = config_check(["unique-id-format B%rt", "unique-id-header X-BE-ID"], in_backend=True)
    check_eq(rc, 0, f"5: unique-id-format/header in a backend are accepted: {out!r}")
    log("5: -c messages for unique-id-format/-header")


if __name__ == "__main__":
    eslib.run_http(main)
