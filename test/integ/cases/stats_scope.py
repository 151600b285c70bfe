#!/usr/bin/env python3
"""`stats scope` and `stats hide-version` on the stats page, as HAProxy 2.6 shows them (the same
file runs through HAProxy with ES_TEST_PEER=haproxy):
  - a page with `stats scope be_a` and `stats scope .` lists those two proxies only, in its CSV
    export, its JSON export and its HTML page; another page without scope lists every proxy;
  - `stats hide-version`: the HTML page does not carry the version `show info` reports; the page
    without it does;
  - a scope naming no proxy is accepted (HAProxy's rule): that page shows nothing for it.
"""
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
    p1, p2 = eslib.free_port(), eslib.free_port()
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
           + eslib.section("backend be_a", "server a 127.0.0.1:9")
           + eslib.section("backend be_b", "server b 127.0.0.1:9"))
    es = eslib.start_proxy(h, cfg, ports=[p1, p2], sock=sock)
    info = {ln.split(":", 1)[0]: ln.split(":", 1)[1].strip() for ln in es.ctl("show info").splitlines() if ":" in ln}
    version = info.get("Version", "")
    check(version, f"show info has a Version: {info}")

    r = eslib.http_get(p1, "/st;csv")
    check_eq(r.status, 200, f"GET /st;csv ({r.brief()})")
    got = csv_proxies(r.body.decode())
    log(f"scoped CSV proxies: {sorted(got)}")
    check_eq(got, {"be_a", "st"}, "the scoped page's CSV lists be_a and its own section only")
    r = eslib.http_get(p2, "/st;csv")
    check_eq(csv_proxies(r.body.decode()), {"st", "all", "be_a", "be_b"}, "the page without scope lists every proxy")

    r = eslib.http_get(p1, "/st")
    html = r.body.decode(errors="replace")
    check_eq(r.status, 200, f"GET /st ({r.brief()})")
    check("be_a" in html and "be_b" not in html, "the scoped HTML page shows be_a, not be_b")
    check(version not in html, f"stats hide-version: {version!r} is not on the page")
    html_all = eslib.http_get(p2, "/st").body.decode(errors="replace")
    check(version in html_all and "be_b" in html_all, f"the other page shows {version!r} and be_b")
    log(f"version {version!r}: hidden on /st of 'st', shown on 'all'")


if __name__ == "__main__":
    eslib.run_http(main)
