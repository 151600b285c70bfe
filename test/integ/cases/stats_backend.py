#!/usr/bin/env python3
"""The stats page declared in a BACKEND and reached through routing, as HAProxy 2.6 serves it (the
same file runs through HAProxy with ES_TEST_PEER=haproxy):

    frontend fe                        (option httplog, log to a UDP receiver)
        use_backend be_stats if { path_beg /stats }
        use_backend be_def   if { path_beg /haproxy }
        use_backend be_scope if { path_beg /scoped }
        default_backend be_app
    backend be_stats   stats enable, stats uri /stats, stats auth admin:secret, stats realm Backend\\ Stats
    backend be_def     stats enable                      (no uri: the default /haproxy?stats)
    backend be_scope   stats enable, stats uri /scoped, stats scope .
    backend be_app     server s1 <origin>
    listen ctl         the same page in a listen (the control), realm Listen\\ Stats
    frontend fe_plain  default_backend be_app            (no stats anywhere on its path)

  - no (or wrong) credentials: `HTTP/1.1 401 Unauthorized`, `WWW-Authenticate: Basic
    realm="Backend Stats"`, HAProxy's 401 page, then the connection is closed;
  - with credentials: 200 text/html naming the proxies; `;csv` -> 200 text/plain CSV; HEAD -> 200
    without a body; the uri is a prefix: /stats/x, /statsfoo and /stats?x get the page too;
  - a method other than GET/HEAD/POST is not a stats request: PUT /stats reaches be_stats as a
    normal request, which has no server -> 503; POST without `stats admin` -> 303 to
    /stats;st=DENY;
  - /other goes to the origin; GET /stats through fe_plain reaches the origin (the stats uri of a
    backend only applies to requests routed to it);
  - `stats enable` without `stats uri`: /haproxy?stats (and any URI starting with it) is the page,
    /haproxy is not (be_def has no server -> 503);
  - `stats scope .` in a backend: the page lists that backend only;
  - `show stat`: the BACKEND row of be_stats counts every stats request (stot and req_tot per
    request, also on a keep-alive connection, hrsp_* by status), the frontend's `intercepted`
    stays 0 (the listen's FRONTEND counts its pages in `intercepted`, its BACKEND row counts no
    request);
  - the httplog line of a page served by a backend names `be_stats/<STATS>` with termination
    state LR--.
"""
import base64
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def basic(cred):
    return [("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())]


GOOD = basic("admin:secret")


def ctype(r):
    return (r.header("Content-Type") or "").split(";")[0].strip()


def csv_rows(text):
    """{(pxname, svname)} of a CSV export (header line checked by the caller)."""
    return {tuple(line.split(",")[:2]) for line in text.splitlines() if line and not line.startswith("#")}


def check_page(r, what, names=()):
    check_eq(r.status, 200, f"{what}: status ({r.brief()})")
    check_eq(ctype(r), "text/html", f"{what}: Content-Type")
    html = r.body.decode("utf-8", "replace")
    check("<html" in html.lower(), f"{what}: not an HTML page: {html[:200]!r}")
    for n in names:
        check(n in html, f"{what}: the page does not name {n!r}")
    return html


def check_csv(r, what):
    check_eq(r.status, 200, f"{what}: status ({r.brief()})")
    check_eq(ctype(r), "text/plain", f"{what}: Content-Type")
    text = r.body.decode("utf-8", "replace")
    check(text.startswith("# pxname,svname,"), f"{what}: CSV header line: {text[:80]!r}")
    return csv_rows(text)


def check_401(r, realm, what):
    check_eq((r.version, r.status, r.reason), ("HTTP/1.1", 401, "Unauthorized"), f"{what}: status line")
    check_eq(r.headers_named("WWW-Authenticate"), [f'Basic realm="{realm}"'], f"{what}: WWW-Authenticate")
    check_eq(ctype(r), "text/html", f"{what}: Content-Type")
    check(b"401 Unauthorized" in r.body and b"<td" not in r.body, f"{what}: the error page, not stats: {r.body[:200]!r}")


def main(h):
    origin = http_origin.start(h, name="app")
    ulog = eslib.UdpLog()
    h.servers.append(ulog)
    sock = h.sock_path()
    p_fe, p_ctl, p_plain = eslib.free_port(), eslib.free_port(), eslib.free_port()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe", f"""
                bind {L}:{p_fe}
                log {L}:{ulog.port} local0
                option httplog
                use_backend be_stats if {{ path_beg /stats }}
                use_backend be_def if {{ path_beg /haproxy }}
                use_backend be_scope if {{ path_beg /scoped }}
                default_backend be_app""")
           + eslib.section("backend be_stats", r"""
                stats enable
                stats uri /stats
                stats auth admin:secret
                stats realm Backend\ Stats""")
           + eslib.section("backend be_def", "stats enable")
           + eslib.section("backend be_scope", """
                stats enable
                stats uri /scoped
                stats scope .""")
           + eslib.section("backend be_app", f"server s1 {L}:{origin.port}")
           + eslib.section("listen ctl", rf"""
                bind {L}:{p_ctl}
                stats enable
                stats uri /stats
                stats auth admin:secret
                stats realm Listen\ Stats""")
           + eslib.section("frontend fe_plain", f"""
                bind {L}:{p_plain}
                default_backend be_app"""))
    es = eslib.start_proxy(h, cfg, ports=[p_fe, p_ctl, p_plain], sock=sock)
    all_px = ("be_stats", "be_def", "be_scope", "be_app", "ctl", "fe_plain")
    n_stats = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}   # what be_stats served, by class

    # ---- stats auth on the backend's page: 401 with the backend's realm, then the close
    c = eslib.HttpClient(p_fe)
    r = c.request("GET", "/stats?noauth")
    check_401(r, "Backend Stats", "GET /stats without credentials")
    log(f"401 head: {r.raw_head!r}")
    how, extra, _ = c.wait_closed(3)
    check(how in ("eof", "reset") and not extra, f"after the 401 the connection is closed (got {how}, {extra[:80]!r})")
    c.close()
    r = eslib.http_get(p_fe, "/stats?wrongpw", headers=basic("admin:nope"))
    check_401(r, "Backend Stats", "GET /stats with a wrong password")
    n_stats["4xx"] += 2

    # ---- the page, its CSV export, HEAD
    check_page(eslib.http_get(p_fe, "/stats", headers=GOOD), "GET /stats (backend page)", all_px)
    r = eslib.http_get(p_fe, "/stats;csv", headers=GOOD)
    rows = check_csv(r, "GET /stats;csv")
    for row in [("fe", "FRONTEND"), ("be_stats", "BACKEND"), ("be_app", "s1"), ("be_app", "BACKEND"),
                ("ctl", "FRONTEND"), ("ctl", "BACKEND"), ("fe_plain", "FRONTEND"), ("be_def", "BACKEND")]:
        check(row in rows, f"GET /stats;csv: no {row} row; rows: {sorted(rows)}")
    check_eq({sv for px, sv in rows if px == "be_stats"}, {"BACKEND"}, "be_stats rows in the CSV (no server)")
    check_eq(r.header("Cache-Control"), "no-cache", "GET /stats;csv: Cache-Control")
    r = eslib.http_get(p_fe, "/stats", method="HEAD", headers=GOOD)
    check_eq((r.status, ctype(r), r.body), (200, "text/html", b""), "HEAD /stats: 200 text/html, no body")
    n_stats["2xx"] += 3
    log("backend page: 401 with realm \"Backend Stats\" then close; 200 HTML, CSV, HEAD with credentials")

    # ---- the stats uri is a prefix
    for target in ("/stats/x", "/statsfoo", "/stats?x"):
        check_page(eslib.http_get(p_fe, target, headers=GOOD), f"GET {target} (prefix of the stats uri)", ("be_app",))
        n_stats["2xx"] += 1
    r = eslib.http_get(p_fe, "/statsfoo?noauth")
    check_401(r, "Backend Stats", "GET /statsfoo without credentials")
    n_stats["4xx"] += 1

    # ---- three pages on one keep-alive connection
    c = eslib.HttpClient(p_fe)
    for i in range(3):
        check_csv(c.request("GET", f"/stats;csv;ka={i}", headers=GOOD), f"keep-alive page {i}")
        n_stats["2xx"] += 1
    how, _, _ = c.wait_closed(0.3)
    check_eq(how, "timeout", "the keep-alive connection stays open after the pages")
    c.close()

    # ---- methods other than GET/HEAD/POST are no stats request; POST without `stats admin`
    r = eslib.http_get(p_fe, "/stats?put", method="PUT", headers=GOOD, body=b"x=1")
    check_eq(r.status, 503, f"PUT /stats: a normal request to be_stats, which has no server ({r.brief()})")
    n_stats["5xx"] += 1
    r = eslib.http_get(p_fe, "/stats?post", method="POST", headers=GOOD + [("Content-Type", "application/x-www-form-urlencoded")],
                       body=b"s=s1&action=maint&b=be_app")
    check_eq((r.status, r.reason), (303, "See Other"), f"POST /stats without stats admin ({r.brief()})")
    check_eq(r.header("Location"), "/stats;st=DENY", "POST without stats admin: Location")
    check_eq((r.header("Content-Length"), r.body), ("0", b""), "POST without stats admin: empty body")
    n_stats["3xx"] += 1
    check_eq(es.stats()[("be_app", "s1")]["status"], "no check", "be_app/s1 is unchanged by the denied POST")

    # ---- other traffic: the origin, and the stats uri on a path without stats
    before = origin.request_count()
    r = eslib.http_get(p_fe, "/other")
    check_eq((r.status, r.header("X-Origin"), r.body), (200, "app", b"path /other\n"), "GET /other reaches the origin")
    r = eslib.http_get(p_plain, "/stats", headers=GOOD)
    check_eq((r.status, r.header("X-Origin"), r.body), (200, "app", b"path /stats\n"),
             "GET /stats through fe_plain (routed to be_app) reaches the origin")
    check_eq(origin.request_count(), before + 2, "requests at the origin: /other and fe_plain's /stats only")
    log("/stats/x, /statsfoo, /stats?x get the page; PUT -> 503; POST -> 303 st=DENY; /other and fe_plain reach the origin")

    # ---- stats enable without stats uri: /haproxy?stats
    check_page(eslib.http_get(p_fe, "/haproxy?stats"), "GET /haproxy?stats (be_def, default uri)", ("be_app",))
    check_csv(eslib.http_get(p_fe, "/haproxy?stats;csv"), "GET /haproxy?stats;csv")
    check_page(eslib.http_get(p_fe, "/haproxy?statsx"), "GET /haproxy?statsx (prefix of the default uri)")
    r = eslib.http_get(p_fe, "/haproxy")
    check_eq(r.status, 503, f"GET /haproxy: not the stats uri, be_def has no server ({r.brief()})")

    # ---- stats scope . in a backend: that backend only
    rows = check_csv(eslib.http_get(p_fe, "/scoped;csv"), "GET /scoped;csv")
    check_eq(rows, {("be_scope", "BACKEND")}, "`stats scope .` in be_scope: the CSV lists be_scope only")
    html = check_page(eslib.http_get(p_fe, "/scoped"), "GET /scoped", ("be_scope",))
    check(not any(n in html for n in ("be_app", "be_stats", "fe_plain")), "the scoped HTML page lists no other proxy")
    log("default uri /haproxy?stats served by be_def; `stats scope .` in be_scope lists be_scope only")

    # ---- the control: the same page in a listen
    r = eslib.http_get(p_ctl, "/stats")
    check_401(r, "Listen Stats", "listen: GET /stats without credentials")
    check_page(eslib.http_get(p_ctl, "/stats", headers=GOOD), "listen: GET /stats", all_px)
    check_csv(eslib.http_get(p_ctl, "/stats;csv", headers=GOOD), "listen: GET /stats;csv")

    # ---- counters: the BACKEND row of be_stats counts each stats request (stream)
    n = sum(n_stats.values())
    m = es.expect_counters("be_stats", "BACKEND", {
        "stot": n, "req_tot": n, "hrsp_2xx": n_stats["2xx"], "hrsp_3xx": n_stats["3xx"],
        "hrsp_4xx": n_stats["4xx"], "hrsp_5xx": n_stats["5xx"], "scur": 0, "lbtot": 0},
        what="be_stats BACKEND after its pages")
    log(f"be_stats BACKEND: stot={m[('be_stats', 'BACKEND')]['stot']} req_tot={m[('be_stats', 'BACKEND')]['req_tot']} "
        f"{n_stats}; status {m[('be_stats', 'BACKEND')]['status']!r}")
    check_eq(m[("be_stats", "BACKEND")]["status"], "UP", "be_stats BACKEND status (no server)")
    es.expect_counters("be_app", "BACKEND", {"stot": 2, "req_tot": 2, "hrsp_2xx": 2}, what="be_app BACKEND")
    es.expect_counters("be_app", "s1", {"stot": 2, "req_tot": 2, "hrsp_2xx": 2}, what="be_app/s1")
    n_def = 4
    n_scope = 2
    es.expect_counters("fe", "FRONTEND", {"intercepted": 0, "req_tot": n + 1 + n_def + n_scope,
                                          "hrsp_2xx": n_stats["2xx"] + 1 + 3 + n_scope},
                       what="fe FRONTEND: pages served by a backend are not `intercepted`")
    es.expect_counters("be_def", "BACKEND", {"stot": n_def, "req_tot": n_def, "hrsp_2xx": 3, "hrsp_5xx": 1},
                       what="be_def BACKEND")
    es.expect_counters("ctl", "FRONTEND", {"intercepted": 3, "req_tot": 3, "hrsp_2xx": 2, "hrsp_4xx": 1},
                       what="listen ctl FRONTEND: its pages (and its 401) are `intercepted`")
    es.expect_counters("ctl", "BACKEND", {"stot": 0, "req_tot": 0, "hrsp_2xx": 0, "hrsp_4xx": 0},
                       what="listen ctl BACKEND: counts no request")
    log("show stat: be_stats counts its pages per request; fe intercepted 0; ctl FRONTEND intercepted 3, "
        "ctl BACKEND 0")

    # ---- httplog lines
    def logline(req):
        pat = re.compile(r'^\S+ \[[^\]]+\] (\S+) (\S+) (-?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+) (\d+) (\d+) \S+ \S+ (\S{4}) '
                         r'\S+ \S+ "' + re.escape(req) + r'"$')

        def find():
            for ln in list(ulog.lines):
                mm = pat.match(ln)
                if mm:
                    return ln, mm.groups()
            return None
        return eslib.poll_until(find, 5, interval=0.05, what=f"the log line of {req!r} (last lines {ulog.lines[-3:]!r})")

    ln, g = logline("GET /stats;csv HTTP/1.1")
    log(f"log of a page: {ln}")
    check_eq((g[0], g[1], g[3], g[5]), ("fe", "be_stats/<STATS>", "200", "LR--"),
             "log of GET /stats;csv: frontend, backend/<STATS>, status, termination state")
    ln, g = logline("GET /stats?noauth HTTP/1.1")
    log(f"log of the 401: {ln}")
    check_eq((g[0], g[1], g[5]), ("fe", "be_stats/<STATS>", "LR--"), "log of the 401: names <STATS>, LR--")
    # HAProxy 2.6.12 logs status 400 (and 464 bytes) for the 401 of `stats auth`; 401 is what was sent
    check(g[3] in ("400", "401"), f"log of the 401: status {g[3]}")
    ln, g = logline("GET /other HTTP/1.1")
    check_eq((g[1], g[3], g[5]), ("be_app/s1", "200", "----"), "log of GET /other")
    ln, g = logline("PUT /stats?put HTTP/1.1")
    check_eq((g[1], g[3], g[5]), ("be_stats/<NOSRV>", "503", "SC--"), "log of PUT /stats (no stats request)")
    ln, g = logline("POST /stats?post HTTP/1.1")
    check_eq((g[1], g[3], g[5]), ("be_stats/<STATS>", "303", "LR--"), "log of the denied POST")
    ln, g = logline("GET /haproxy?stats HTTP/1.1")
    check_eq((g[1], g[3]), ("be_def/<STATS>", "200"), "log of GET /haproxy?stats")
    log("httplog: fe be_stats/<STATS> ... 200 ... LR-- for a page served by the backend")


if __name__ == "__main__":
    eslib.run_http(main)
