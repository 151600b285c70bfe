#!/usr/bin/env python3
"""Statistics served over HTTP:
  - `stats uri /stats`: GET /stats -> 200 text/html naming the proxies; GET /stats;csv -> 200
    text/plain CSV whose header line starts "# pxname,svname," and whose fe_app FRONTEND row has
    req_tot equal to the requests made;
  - `http-request use-service prometheus-exporter if { path /metrics }`: 200,
    Content-Type text/plain; version=0.0.4, haproxy_frontend_http_requests_total{proxy="fe_app"}
    equal to the requests made, and every line valid text exposition format (HELP/TYPE comments,
    one TYPE per metric, samples `name{labels} value`).
Neither endpoint reaches the origin.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
N = 7


def main(h):
    p_stats = eslib.free_port()
    px = fixture.proxy_to_origin(h, fe="fe_app", ports=[p_stats], sections_after=eslib.section(
        "frontend fe_stats", f"""
            bind {L}:{p_stats}
            stats uri /stats
            http-request use-service prometheus-exporter if {{ path /metrics }}
            default_backend be"""))
    origin, p_app = px.origin, px.fe

    c = eslib.HttpClient(p_app)
    for i in range(N):
        r = c.request("GET", f"/app/{i}")
        check_eq(r.status, 200, f"app request {i} ({r.brief()})")
    c.close()
    before = origin.request_count()

    # ---- HTML
    r = eslib.http_get(p_stats, "/stats")
    check_eq(r.status, 200, f"GET /stats ({r.status} {r.headers})")
    check_eq((r.header("Content-Type") or "").split(";")[0].strip(), "text/html", "GET /stats Content-Type")
    body = r.body.decode("utf-8", "replace")
    check("<html" in body.lower() and "fe_app" in body and "be" in body,
          f"GET /stats should be an HTML page naming fe_app: {body[:300]!r}")

    # ---- CSV
    r = eslib.http_get(p_stats, "/stats;csv")
    check_eq(r.status, 200, f"GET /stats;csv ({r.status} {r.headers})")
    check_eq((r.header("Content-Type") or "").split(";")[0].strip(), "text/plain", "GET /stats;csv Content-Type")
    lines = r.body.decode("utf-8", "replace").splitlines()
    check(lines and lines[0].startswith("# pxname,svname,"), f"CSV header line: {lines[:1]!r}")
    cols = lines[0][2:].split(",")
    check("req_tot" in cols, f"CSV header has no req_tot column: {cols[:20]}")
    rows = {tuple(l.split(",")[:2]): l.split(",") for l in lines[1:] if l and not l.startswith("#")}
    row = rows.get(("fe_app", "FRONTEND"))
    check(row is not None, f"CSV has no fe_app,FRONTEND row; rows: {sorted(rows)}")
    check(("be", "s1") in rows and ("be", "BACKEND") in rows, f"CSV lacks be/s1 or be/BACKEND rows: {sorted(rows)}")
    check_eq(eslib.num(row[cols.index("req_tot")]), N, "CSV fe_app FRONTEND req_tot")
    log(f"/stats HTML ({len(body)} bytes) and /stats;csv ({len(lines)} lines) ok")

    # ---- Prometheus
    r = eslib.http_get(p_stats, "/metrics")
    check_eq(r.status, 200, f"GET /metrics ({r.status} {r.headers})")
    ctype = r.header("Content-Type") or ""
    check(ctype.split(";")[0].strip() == "text/plain" and re.search(r"version=0\.0\.4", ctype),
          f"GET /metrics Content-Type should be 'text/plain; version=0.0.4', got {ctype!r}")
    text = r.body.decode("utf-8", "replace")
    bad = eslib.prometheus_problems(text)
    check(not bad, f"{len(bad)} line(s) of /metrics are not valid exposition format: {bad[:5]}")
    m = re.search(r'^haproxy_frontend_http_requests_total\{[^}]*proxy="fe_app"[^}]*\} (\S+)$', text, re.M)
    check(m, "no haproxy_frontend_http_requests_total sample for proxy=\"fe_app\" in /metrics")
    check_eq(float(m.group(1)), float(N), "haproxy_frontend_http_requests_total{proxy=\"fe_app\"}")
    check(re.search(r"^# TYPE haproxy_frontend_http_requests_total counter$", text, re.M),
          "haproxy_frontend_http_requests_total should be declared a counter")
    nsamples = sum(1 for l in text.splitlines() if l and not l.startswith("#"))
    log(f"/metrics: {nsamples} samples, all lines valid; fe_app requests_total = {m.group(1)}")
    check_eq(origin.request_count(), before, "requests at the origin for the stats endpoints")


if __name__ == "__main__":
    eslib.run_http(main)
