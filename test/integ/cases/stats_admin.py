#!/usr/bin/env python3
"""`stats admin { if | unless } <cond>`: the stats page's admin form and its POST handler, as HAProxy
2.6 does them (the same file runs through HAProxy with ES_TEST_PEER=haproxy).

Backend `be`: s1 (an origin, `check inter 1s`) and s2 (an origin, no check); backend `bk`: k1, k2
(for `shutdown`). Pages: `listen adm` (stats admin if TRUE), `lh` (if LOCALHOST), `no` (if FALSE),
`none` (no stats admin), `auth` (stats auth + stats admin if TRUE), `ulp` (userlist: `stats
http-request auth unless { http_auth(ul) }`, `stats admin if { http_auth_group(ul) admins }`), and
a page declared in backend `be_stats` (stats admin if TRUE) reached through routing.

  - the page with admin: one `<form method="post">` per backend that has servers, holding a
    checkbox `name="s" value="<server>"` per server, `<select name=action>` with the options
    "" ready drain maint dhlth ehlth hrunn hnolb hdown dagent eagent arunn adown shutdown (labels
    as 2.6 prints them) and `<input type="hidden" name="b" value="#<iid>">` (the backend's iid in
    `show stat`); no form without admin level;
  - POST <uri> `s=s1&s=s2&action=maint&b=%23<iid>` -> `303 See Other`, `Location: /st;st=DONE`,
    Cache-Control no-cache, Content-Type text/plain, Content-Length 0, empty body; `show stat`: s1
    and s2 MAINT, the BACKEND row DOWN, traffic to `be` 503; `b=be` (by name) works too;
    ready -> UP / no check again (traffic 200); drain -> DRAIN (BACKEND DOWN, traffic 503);
    dhlth -> s1 "no check" (s2, without check, is not counted: alone it gives st=NONE); ehlth
    -> checks again; hdown/hnolb/hrunn force the health state (DOWN, NOLB, UP); dagent on a
    server without agent -> NONE; shutdown kills the sessions of the server (its client gets 502);
  - the result codes: DONE (every named server altered), PART (some unknown), ERRP (unknown
    action, unknown or empty server names only, unknown backend, a frontend or #id that is not a
    backend, a key longer than 2 KiB), NONE (nothing named: no b, no action, no s, empty body),
    EXCD (a body larger than the buffer); DENY when the admin condition does not match (FALSE,
    no `stats admin`, a user outside the admin group); `;up` and `?scope=` of the POST uri are
    kept in the Location; the page at `<uri>;st=<code>` shows the matching message;
  - a POST on a keep-alive connection leaves it usable; HTTP/1.0 gets `Connection: close`;
    `Expect: 100-continue` gets its 100 first; a chunked body and a body in two parts work.
"""
import base64
import html.parser
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import Failure, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
FORM = [("Content-Type", "application/x-www-form-urlencoded")]

OPTIONS = [("", ""),
           ("ready", "Set state to READY"),
           ("drain", "Set state to DRAIN"),
           ("maint", "Set state to MAINT"),
           ("dhlth", "Health: disable checks"),
           ("ehlth", "Health: enable checks"),
           ("hrunn", "Health: force UP"),
           ("hnolb", "Health: force NOLB"),
           ("hdown", "Health: force DOWN"),
           ("dagent", "Agent: disable checks"),
           ("eagent", "Agent: enable checks"),
           ("arunn", "Agent: force UP"),
           ("adown", "Agent: force DOWN"),
           ("shutdown", "Kill Sessions")]

# the message of the page at <uri>;st=<code>
MESSAGES = {"DONE": "Action processed successfully.",
            "NONE": "Nothing has changed.",
            "PART": "Action partially processed.",
            "ERRP": "Action not processed because of invalid parameters.",
            "EXCD": "Action not processed : the buffer couldn't store all the data.",
            "DENY": "Action denied."}


def basic(cred):
    return [("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())]


class Forms(html.parser.HTMLParser):
    """The POST forms of a stats page: for each, its checkboxes (name, value, class), hidden inputs
    {name: value}, selects {name: [(value, label)]} and submit buttons."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.cur = None
        self.select = None
        self.option = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post":
            self.cur = {"checkboxes": [], "hidden": {}, "selects": {}, "submits": []}
            self.forms.append(self.cur)
        if self.cur is None:
            return
        if tag == "input":
            t = a.get("type", "").lower()
            if t == "checkbox" and "name" in a:
                self.cur["checkboxes"].append((a["name"], a.get("value"), a.get("class")))
            elif t == "hidden":
                self.cur["hidden"][a.get("name")] = a.get("value")
            elif t == "submit":
                self.cur["submits"].append(a.get("value"))
        elif tag == "select":
            self.select = self.cur["selects"].setdefault(a.get("name"), [])
        elif tag == "option" and self.select is not None:
            self.option = [a.get("value", ""), ""]
            self.select.append(self.option)

    def handle_data(self, data):
        if self.option is not None:
            self.option[1] += data

    def handle_endtag(self, tag):
        if tag == "option" and self.option is not None:
            self.select[-1] = (self.option[0], self.option[1].strip())
            self.option = None
        elif tag == "select":
            self.select = None
        elif tag == "form":
            self.cur = None


def main(h):
    o1 = http_origin.start(h, name="s1")
    o2 = http_origin.start(h, name="s2")
    ok = http_origin.start(h, name="k")
    sock = h.sock_path()
    P = {n: eslib.free_port() for n in ("adm", "lh", "no", "none", "auth", "ulp", "fe_be", "fe_bk", "fe_r")}
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("userlist ul", """
                group admins users admin
                user admin insecure-password secret
                user ro insecure-password ro""")
           + eslib.section("listen adm", f"bind {L}:{P['adm']}\nstats enable\nstats uri /st\nstats admin if TRUE")
           + eslib.section("listen lh", f"bind {L}:{P['lh']}\nstats enable\nstats uri /st\nstats admin if LOCALHOST")
           + eslib.section("listen no", f"bind {L}:{P['no']}\nstats enable\nstats uri /st\nstats admin if FALSE")
           + eslib.section("listen none", f"bind {L}:{P['none']}\nstats enable\nstats uri /st")
           + eslib.section("listen auth", f"""
                bind {L}:{P['auth']}
                stats enable
                stats uri /st
                stats auth admin:secret
                stats admin if TRUE""")
           + eslib.section("listen ulp", f"""
                bind {L}:{P['ulp']}
                stats enable
                stats uri /st
                stats http-request auth realm Adm unless {{ http_auth(ul) }}
                stats admin if {{ http_auth_group(ul) admins }}""")
           + eslib.section("frontend fe_be", f"bind {L}:{P['fe_be']}\ndefault_backend be")
           + eslib.section("frontend fe_bk", f"bind {L}:{P['fe_bk']}\ndefault_backend bk")
           + eslib.section("frontend fe_r", f"""
                bind {L}:{P['fe_r']}
                use_backend be_stats if {{ path_beg /stats }}
                default_backend be""")
           + eslib.section("backend be_stats", "stats enable\nstats uri /stats\nstats admin if TRUE")
           + eslib.section("backend be", f"""
                server s1 {L}:{o1.port} check inter 1s
                server s2 {L}:{o2.port}""")
           + eslib.section("backend bk", f"server k1 {L}:{ok.port}\nserver k2 {L}:{ok.port}"))
    es = eslib.start_proxy(h, cfg, ports=list(P.values()), sock=sock)

    def states(px="be"):
        m = es.stats()
        return {sv: row.get("status") for (p, sv), row in m.items() if p == px}

    def post(port, body, uri="/st", headers=None, expect=None, what=None):
        body = body.encode() if isinstance(body, str) else body
        r = eslib.http_get(port, uri, method="POST", headers=FORM + (headers or []), body=body)
        what = what or f"POST {uri} {body[:60]!r}"
        if expect is not None:
            check_eq((r.status, r.reason), (303, "See Other"), f"{what}: status ({r.brief()})")
            check_eq(r.header("Location"), expect, f"{what}: Location")
            check_eq(r.body, b"", f"{what}: body")
        return r

    def adm(body, code, **kw):
        return post(P["adm"], body, expect=f"/st;st={code}", **kw)

    def traffic(want):
        r = eslib.http_get(P["fe_be"], "/t")
        check_eq(r.status, want, f"a request to backend be ({r.brief()})")

    # ---- initial state: s1 UP with its check, s2 without
    eslib.poll_until(lambda: states().get("s1") == "UP", 5, what="s1 UP (checked)")
    check_eq(states(), {"s1": "UP", "s2": "no check", "BACKEND": "UP"}, "be before any action")

    # ---- the page with admin level: the forms
    r = eslib.http_get(P["adm"], "/st")
    check_eq(r.status, 200, f"GET /st on the admin page ({r.brief()})")
    forms = Forms(r.body.decode("utf-8", "replace")).forms
    iid = eslib.num(es.stats()[("be", "BACKEND")]["iid"])
    iid_bk = eslib.num(es.stats()[("bk", "BACKEND")]["iid"])
    check_eq(sorted(f["hidden"].get("b") for f in forms), sorted([f"#{iid}", f"#{iid_bk}"]),
             "one form per backend with servers (be, bk), each with hidden b=#<iid of show stat>")
    f_be = next(f for f in forms if f["hidden"].get("b") == f"#{iid}")
    check_eq([(n, v) for n, v, _ in f_be["checkboxes"]], [("s", "s1"), ("s", "s2")],
             "be's form: one checkbox name=s value=<server> per server")
    check_eq([c for _, _, c in f_be["checkboxes"]], ["be-checkbox", "be-checkbox"], "class of be's checkboxes")
    check_eq(list(f_be["selects"]), ["action"], "be's form: one select, named action")
    check_eq([tuple(o) for o in f_be["selects"]["action"]], OPTIONS, "the action options (value, label)")
    check_eq(f_be["submits"], ["Apply"], "the submit button")
    f_bk = next(f for f in forms if f["hidden"].get("b") == f"#{iid_bk}")
    check_eq([v for _, v, _ in f_bk["checkboxes"]], ["k1", "k2"], "bk's form: its servers")
    log(f"admin page: forms for be (#{iid}) and bk (#{iid_bk}), checkboxes s=<server>, {len(OPTIONS)} options")
    for port, what in ((P["no"], "stats admin if FALSE"), (P["none"], "no stats admin")):
        r = eslib.http_get(port, "/st")
        check_eq(r.status, 200, f"GET /st, {what}")
        check_eq(Forms(r.body.decode("utf-8", "replace")).forms, [], f"{what}: no form on the page")

    # ---- maint / ready / drain
    r = adm(f"s=s1&s=s2&action=maint&b=%23{iid}", "DONE")
    log(f"POST maint head: {r.raw_head!r}")
    check_eq(sorted((n.lower(), v) for n, v in r.headers if n.lower() != "connection"),
             sorted([("cache-control", "no-cache"), ("content-type", "text/plain"), ("content-length", "0"),
                     ("location", "/st;st=DONE")]), "the 303's header fields (any order)")
    check_eq(states(), {"s1": "MAINT", "s2": "MAINT", "BACKEND": "DOWN"}, "be after maint s1 s2 (b=#iid)")
    traffic(503)
    adm("s=s1&s=s2&action=ready&b=be", "DONE")
    st = states()
    check(st["s1"].startswith("UP") and st["s2"] == "no check" and st["BACKEND"] == "UP", f"be after ready (b=be): {st}")
    traffic(200)
    adm("s=s1&s=s2&action=drain&b=be", "DONE")
    st = states()
    check(st["s1"].startswith("DRAIN") and st["s2"] == "DRAIN" and st["BACKEND"] == "DOWN", f"be after drain: {st}")
    traffic(503)
    adm("s=s1&s=s2&action=ready&b=be", "DONE")
    traffic(200)
    log("maint -> MAINT (traffic 503), ready -> UP / no check (200), drain -> DRAIN (503), b=#iid and b=name")

    # ---- health checks: dhlth / ehlth; forced health states
    adm("s=s1&s=s2&action=dhlth&b=be", "DONE")
    check_eq(states(), {"s1": "no check", "s2": "no check", "BACKEND": "UP"}, "be after dhlth s1 s2")
    adm("s=s2&action=dhlth&b=be", "NONE", what="dhlth on a server without check")
    adm("s=s1&action=ehlth&b=be", "DONE")
    check(states()["s1"].startswith("UP"), f"s1 after ehlth: {states()}")
    adm("s=s1&action=hdown&b=be", "DONE")
    st = states()
    check(st["s1"].startswith("DOWN") and st["BACKEND"] == "UP", f"be after hdown s1: {st}")
    adm("s=s2&action=hnolb&b=be", "DONE")
    st = states()
    check(st["s1"].startswith("DOWN") and st["s2"] == "NOLB" and st["BACKEND"] == "DOWN", f"be after hnolb s2: {st}")
    adm("s=s1&s=s2&action=hrunn&b=be", "DONE")
    check_eq(states(), {"s1": "UP", "s2": "no check", "BACKEND": "UP"}, "be after hrunn s1 s2")
    adm("s=s2&action=hdown&b=be", "DONE")
    check_eq(states()["s2"], "DOWN", "s2 (no check) after hdown")
    adm("s=s2&action=hrunn&b=be", "DONE")
    check_eq(states()["s2"], "no check", "s2 after hrunn")
    adm("s=s1&action=dagent&b=be", "NONE", what="dagent on a server without agent")
    log("dhlth -> no check (s2 alone: NONE), ehlth, hdown -> DOWN, hnolb -> NOLB, hrunn -> UP, dagent -> NONE")

    # ---- result codes
    adm("s=s1&action=explode&b=be", "ERRP", what="unknown action")
    adm("s=s1&action=READY&b=be", "ERRP", what="action names are case-sensitive")
    adm("s=nosuch&action=maint&b=be", "ERRP", what="only unknown servers")
    adm("s=&action=maint&b=be", "ERRP", what="an empty server name")
    adm("s=s1&action=maint&b=nobe", "ERRP", what="unknown backend")
    adm("s=s1&action=maint&b=fe_be", "ERRP", what="b names a frontend")
    adm("s=s1&action=maint&b=%23999", "ERRP", what="b=#<an id no backend has>")
    adm("s=s1&action=maint&b=adm", "ERRP", what="b names a listen without that server")
    adm("s=" + "y" * 3000 + "&action=maint&b=be", "ERRP", what="a key longer than 2 KiB")
    check_eq(states(), {"s1": "UP", "s2": "no check", "BACKEND": "UP"}, "be after the ERRP posts: unchanged")
    adm("s=s1&action=maint", "NONE", what="no b")
    adm("s=s1&b=be", "NONE", what="no action")
    adm("action=maint&b=be", "NONE", what="no s")
    adm("", "NONE", what="an empty body")
    adm("S=s1&action=maint&b=be", "NONE", what="keys are case-sensitive")
    check_eq(states(), {"s1": "UP", "s2": "no check", "BACKEND": "UP"}, "be after the NONE posts: unchanged")
    adm("s=s1&s=nosuch&action=maint&b=be", "PART", what="one known, one unknown server")
    check_eq(states()["s1"], "MAINT", "s1 after the partial maint")
    adm("b=be&action=ready&s=s1", "DONE", what="parameters in another order")
    check(states()["s1"].startswith("UP"), f"s1 after ready: {states()}")
    adm("s=s%31&action=m%61int&b=b%65", "DONE", what="url-encoded values")
    check_eq(states()["s1"], "MAINT", "s1 after the url-encoded maint")
    adm("s=s1&action=ready&b=be&", "DONE", what="a trailing &")
    r = adm("s=s1&action=maint&b=be&" + "x" * 30000, "EXCD", what="a body larger than the buffer")
    check(states()["s1"].startswith("UP"), f"s1 unchanged by the EXCD post: {states()}")
    post(P["adm"], "s=s1&action=ready&b=be", uri="/st;up", expect="/st;st=DONE;up")
    post(P["adm"], "s=s1&action=ready&b=be", uri="/st?scope=be", expect="/st;st=DONE?scope=be")
    log("ERRP / NONE / PART / EXCD as 2.6; ;up and ?scope= kept in the Location")

    # ---- the page shows the result of <uri>;st=<code>
    for code, msg in MESSAGES.items():
        r = eslib.http_get(P["adm"], f"/st;st={code}")
        check_eq(r.status, 200, f"GET /st;st={code}")
        check(msg in r.body.decode("utf-8", "replace"), f"GET /st;st={code}: the page has {msg!r}")
    check(all(m not in eslib.http_get(P["adm"], "/st").body.decode("utf-8", "replace") for m in MESSAGES.values()),
          "GET /st (no st=): no result message")

    # ---- admin conditions
    post(P["lh"], "s=s1&action=maint&b=be", expect="/st;st=DONE", what="stats admin if LOCALHOST, from 127.0.0.1")
    check_eq(states()["s1"], "MAINT", "s1 after the LOCALHOST page's maint")
    post(P["lh"], "s=s1&action=ready&b=be", expect="/st;st=DONE")
    for port, what in ((P["no"], "stats admin if FALSE"), (P["none"], "no stats admin")):
        post(port, "s=s1&s=s2&action=maint&b=be", expect="/st;st=DENY", what=what)
    check(states()["s1"].startswith("UP") and states()["s2"] == "no check", f"be after the denied posts: {states()}")
    r = post(P["auth"], "s=s1&action=maint&b=be")
    check_eq((r.status, r.header("WWW-Authenticate")), (401, 'Basic realm="HAProxy Statistics"'),
             "stats auth + admin: POST without credentials")
    check(states()["s1"].startswith("UP"), "s1 unchanged by the unauthenticated POST")
    post(P["auth"], "s=s1&action=maint&b=be", headers=basic("admin:secret"), expect="/st;st=DONE",
         what="stats auth + admin, with credentials")
    check_eq(states()["s1"], "MAINT", "s1 after the authenticated maint")
    post(P["auth"], "s=s1&action=ready&b=be", headers=basic("admin:secret"), expect="/st;st=DONE")
    r = eslib.http_get(P["ulp"], "/st")
    check_eq((r.status, r.header("WWW-Authenticate")), (401, 'Basic realm="Adm"'), "userlist page without credentials")
    r = eslib.http_get(P["ulp"], "/st", headers=basic("ro:ro"))
    check_eq((r.status, Forms(r.body.decode("utf-8", "replace")).forms), (200, []), "user ro: the page, no form")
    post(P["ulp"], "s=s1&action=maint&b=be", headers=basic("ro:ro"), expect="/st;st=DENY", what="user ro (not admins)")
    r = eslib.http_get(P["ulp"], "/st", headers=basic("admin:secret"))
    check_eq(len(Forms(r.body.decode("utf-8", "replace")).forms), 2, "user admin: the forms")
    post(P["ulp"], "s=s1&action=maint&b=be", headers=basic("admin:secret"), expect="/st;st=DONE", what="user admin")
    check_eq(states()["s1"], "MAINT", "s1 after user admin's maint")
    post(P["ulp"], "s=s1&action=ready&b=be", headers=basic("admin:secret"), expect="/st;st=DONE")
    log("LOCALHOST: DONE; FALSE / no stats admin / user outside the group: DENY and no form; stats auth: 401 first")

    # ---- a page declared in a backend, reached through routing
    post(P["fe_r"], "s=k2&action=maint&b=bk", uri="/stats", expect="/stats;st=DONE", what="admin on be_stats")
    check_eq(states("bk")["k2"], "MAINT", "bk/k2 after the backend page's maint")
    post(P["fe_r"], "s=k2&action=ready&b=bk", uri="/stats;csv", expect="/stats;st=DONE", what="POST /stats;csv")
    check_eq(states("bk")["k2"], "no check", "bk/k2 after ready")

    # ---- the connection around a POST
    c = eslib.HttpClient(P["adm"])
    r = c.request("POST", "/st", FORM, b"s=s2&action=drain&b=be")
    check_eq((r.status, r.header("Location")), (303, "/st;st=DONE"), "keep-alive: the POST")
    r = c.request("GET", "/st;csv")
    check_eq(r.status, 200, "keep-alive: a page after the POST on the same connection")
    c.close()
    check_eq(states()["s2"], "DRAIN", "s2 after the keep-alive drain")
    r = post(P["adm"], "s=s2&action=ready&b=be", headers=None, expect="/st;st=DONE")
    c = eslib.HttpClient(P["adm"])
    c.send(eslib.http_request_bytes("POST", "/st", FORM, b"s=s2&action=maint&b=be", version="HTTP/1.0"))
    r = c.read_response()
    check_eq((r.status, r.header("Location"), (r.header("Connection") or "").lower()), (303, "/st;st=DONE", "close"),
             "HTTP/1.0 POST")
    how, _, _ = c.wait_closed(3)
    check(how in ("eof", "reset"), f"HTTP/1.0 POST: the connection closes ({how})")
    c.close()
    c = eslib.HttpClient(P["adm"])
    body = b"s=s2&action=ready&b=be"
    c.send(eslib.http_request_bytes("POST", "/st", FORM + [("Expect", "100-continue"),
                                                          ("Content-Length", str(len(body)))]))
    r = c.read_response(interim=True)
    check_eq(r.status, 100, "Expect: 100-continue: the interim response")
    c.send(body)
    r = c.read_response()
    check_eq((r.status, r.header("Location")), (303, "/st;st=DONE"), "Expect: 100-continue: the answer")
    c.close()
    check_eq(states()["s2"], "no check", "s2 after the 100-continue ready")
    body = b"s=s2&action=maint&b=be"
    post(P["adm"], eslib.chunk_encode(body, sizes=(5,)), headers=[("Transfer-Encoding", "chunked")],
         expect="/st;st=DONE", what="chunked body")
    check_eq(states()["s2"], "MAINT", "s2 after the chunked maint")
    c = eslib.HttpClient(P["adm"])
    body = b"s=s2&action=ready&b=be"
    c.send(eslib.http_request_bytes("POST", "/st", FORM + [("Content-Length", str(len(body)))]) + body[:8])
    time.sleep(0.3)
    c.send(body[8:])
    r = c.read_response()
    check_eq((r.status, r.header("Location")), (303, "/st;st=DONE"), "a body in two parts")
    c.close()
    check_eq(states()["s2"], "no check", "s2 after the two-part ready")
    log("keep-alive after the 303; HTTP/1.0 -> Connection: close; 100-continue, chunked, split body")

    # ---- shutdown: kills the sessions of a server
    adm("s=k2&action=maint&b=bk", "DONE")
    out = {}

    def slow():
        c = eslib.HttpClient(P["fe_bk"], timeout=10)
        t0 = time.monotonic()
        try:
            out["r"] = c.request("GET", "/delay/4000", timeout=8)
        except (Failure, OSError) as e:
            out["r"] = e
        out["t"] = time.monotonic() - t0
        c.close()
    t = threading.Thread(target=slow)
    t.start()
    try:
        es.wait_stat("bk", "k1", "scur", lambda v: v == 1, timeout=5, what="the slow request on bk/k1")
        t_kill = time.monotonic()
        adm("s=k1&action=shutdown&b=bk", "DONE")
    finally:
        t.join(10)
    r = out.get("r")
    check(isinstance(r, eslib.HttpResponse), f"the killed session's client: {r!r}")
    check_eq(r.status, 502, f"the client of the killed session ({r.brief()})")
    check(out["t"] < 3.0, f"the killed session ended after {out['t']:.2f}s (the origin answers after 4s)")
    es.wait_stat("bk", "k1", "scur", lambda v: v == 0, timeout=3, what="bk/k1 without session")
    check_eq(states("bk")["k1"], "no check", "shutdown leaves the server's state")
    adm("s=k1&action=shutdown&b=bk", "DONE", what="shutdown of a server without session")
    log(f"shutdown: the session on k1 got 502 {time.monotonic() - t_kill:.2f}s after the POST")

    # ---- the same on the control socket: `shutdown sessions server <b>/<s>` (prints nothing)
    out.clear()
    t = threading.Thread(target=slow)
    t.start()
    try:
        es.wait_stat("bk", "k1", "scur", lambda v: v == 1, timeout=5, what="the second slow request on bk/k1")
        check_eq(es.ctl("shutdown sessions server bk/k1").strip(), "", "shutdown sessions server: its answer")
    finally:
        t.join(10)
    r = out.get("r")
    check(isinstance(r, eslib.HttpResponse) and r.status == 502, f"the session cut by the CLI: {r!r}")
    check(out["t"] < 3.0, f"the CLI-killed session ended after {out['t']:.2f}s")
    check_eq(es.ctl("shutdown sessions server bk/nosuch").strip(), "No such server.", "shutdown sessions: unknown server")
    adm("s=k2&action=ready&b=bk", "DONE")
    log("shutdown sessions server: the session got 502; an unknown server: 'No such server.'")


if __name__ == "__main__":
    eslib.run_http(main)
