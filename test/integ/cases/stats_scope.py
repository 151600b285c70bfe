#!/usr/bin/env python3
"""`stats scope` and `stats hide-version` on the stats page, as HAProxy 2.6 shows them (the same
file runs through HAProxy with ES_TEST_PEER=haproxy):
  - a page with `stats scope be_a` and `stats scope .` lists those two proxies only, in its CSV
    export, its JSON export and its HTML page; another page without scope lists every proxy;
  - `stats hide-version`: the HTML page does not carry the version `show info` reports; the page
    without it does;
  - a scope naming no proxy is accepted (HAProxy's rule): that page shows nothing for it;
  - `stats auth user:password` (two users) and `stats realm`: no credentials, a wrong password, an
    unknown user or a malformed header get 401 with `WWW-Authenticate: Basic realm="..."` (HAProxy's
    default realm "HAProxy Statistics" without `stats realm`) and no page; either user's credentials
    get the page.
"""
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST


def csv_proxies(text):
    return {line.split(",")[0] for line in text.splitlines() if line and not line.startswith("#")}


def main(h):
    sock = h.sock_path()
    p1, p2, p3, p4 = eslib.free_port(), eslib.free_port(), eslib.free_port(), eslib.free_port()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("listen st", f"""
                bind {L}:{p1}
                stats enable
                stats uri /st
                stats scope be_a
                stats scope .
                stats scope no_such_proxy
                stats hide-version""")
           + eslib.section("listen all", f"""
                bind {L}:{p2}
                stats enable
                stats uri /st""")
           + eslib.section("listen locked", f"""
                bind {L}:{p3}
                stats enable
                stats uri /st
                stats auth admin:s3cret
                stats auth ops:0ps:colon""")
           + eslib.section("listen realm", f"""
                bind {L}:{p4}
                stats enable
                stats uri /st
                stats realm Edge\\ stats
                stats auth admin:s3cret""")
           + eslib.section("backend be_a", "server a 127.0.0.1:9")
           + eslib.section("backend be_b", "server b 127.0.0.1:9"))
    es = eslib.start_proxy(h, cfg, ports=[p1, p2, p3, p4], sock=sock)
    info = {ln.split(":", 1)[0]: ln.split(":", 1)[1].strip() for ln in es.ctl("show info").splitlines() if ":" in ln}
    version = info.get("Version", "")
    check(version, f"show info has a Version: {info}")

    r = eslib.http_get(p1, "/st;csv")
    check_eq(r.status, 200, f"GET /st;csv ({r.brief()})")
    got = csv_proxies(r.body.decode())
    log(f"scoped CSV proxies: {sorted(got)}")
    check_eq(got, {"be_a", "st"}, "the scoped page's CSV lists be_a and its own section only")
    r = eslib.http_get(p2, "/st;csv")
    check_eq(csv_proxies(r.body.decode()), {"st", "all", "locked", "realm", "be_a", "be_b"},
             "the page without scope lists every proxy")

    r = eslib.http_get(p1, "/st")
    html = r.body.decode(errors="replace")
    check_eq(r.status, 200, f"GET /st ({r.brief()})")
    check("be_a" in html and "be_b" not in html, "the scoped HTML page shows be_a, not be_b")
    check(version not in html, f"stats hide-version: {version!r} is not on the page")
    html_all = eslib.http_get(p2, "/st").body.decode(errors="replace")
    check(version in html_all and "be_b" in html_all, f"the other page shows {version!r} and be_b")
    log(f"version {version!r}: hidden on /st of 'st', shown on 'all'")

    # stats auth: the page needs Basic credentials of one of its users
    def basic(cred):
        return [("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())]
    for what, hdrs in [("no credentials", None), ("a wrong password", basic("admin:nope")),
                       ("an unknown user", basic("root:s3cret")), ("not base64", [("Authorization", "Basic !!!")]),
                       ("another scheme", [("Authorization", "Bearer s3cret")])]:
        r = eslib.http_get(p3, "/st;csv", headers=hdrs)
        check_eq(r.status, 401, f"stats auth, {what}: status ({r.brief()})")
        check_eq(r.header("www-authenticate"), 'Basic realm="HAProxy Statistics"',
                 f"stats auth, {what}: the challenge carries HAProxy's default realm")
        check("be_a" not in r.body.decode(errors="replace"), f"stats auth, {what}: no page")
    for cred in ("admin:s3cret", "ops:0ps:colon"):
        r = eslib.http_get(p3, "/st;csv", headers=basic(cred))
        check_eq(r.status, 200, f"stats auth {cred.split(':')[0]}: the page ({r.brief()})")
        check("be_a" in r.body.decode(), "stats auth: the page lists the proxies")
    r = eslib.http_get(p4, "/st")
    check_eq((r.status, r.header("www-authenticate")), (401, 'Basic realm="Edge stats"'), "stats realm: the challenge")
    log("stats auth: 401 with the realm without valid credentials, the page with either user's")


if __name__ == "__main__":
    eslib.run_http(main)
