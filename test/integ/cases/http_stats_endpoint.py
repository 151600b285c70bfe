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

Then, with two shards (nbthread 2):
  - concurrent pages: several clients at once, each on a keep-alive connection (two of them
    pipelining three requests at a time), ask for /stats, /stats;csv, HEAD /stats;csv and
    /metrics; every answer is a complete, valid 200 (edgeshard: every page was asked of the
    control shard, none timed out or failed: `show shards` page_asks/page_timeouts/page_fails);
  - edgeshard only, pages pending on a busy control shard (a client on the admin socket starts a
    handoff and does not read the state, a config with 2,000 long server names makes the state
    larger than the socket buffer, so the control shard waits in its send, up to 5 s): a page
    gets 503 after the 2 s bound (counted in page_timeouts), a client that half-closes after its
    request gets its 503 and then the close, clients that close (FIN, or reset) while their page is
    pending cost nothing (the late answers are deleted: a sanitizer build reports any leak, also
    for answers that arrive after the bound), and once the control shard is free again the page
    is served at once;
  - edgeshard only, a soft stop (SIGUSR1) while a page is pending: the page is answered, the
    connection then closes and the process exits 0;
  - edgeshard only, a reload while clients keep asking for pages: every request gets a complete
    200 (the old process's last ones with `Connection: close`, the next ones from the new process)
    and the old process exits 0.
"""
import os
import re
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
import reload_lib  # noqa: E402
from eslib import Failure, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
N = 7


def main(h):
    origin = http_origin.start(h, name="s1")
    p_app, p_stats = eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    cfg = stats_config(sock, p_app, p_stats, origin.port, nbthread=1, metrics="path /metrics",
                       defaults=eslib.http_defaults())
    eslib.start_proxy(h, cfg, ports=[p_app, p_stats], sock=sock)

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

    concurrent_pages(h, origin)
    if eslib.on_edgeshard():
        pending_pages(h)
        reload_with_pages(h, origin)


def stats_config(sock, p_app, p_stats, origin_port, nbthread=2, metrics="path_beg /metrics", servers=None,
                 defaults=None):
    """fe_app -> be (the origin), fe_stats with `stats uri /stats` and the Prometheus service where
    `metrics` matches. `servers`: the backend's server lines (default: s1, the origin)."""
    servers = servers or f"server s1 {L}:{origin_port}"
    return (eslib.http_global(sock, nbthread=nbthread)
            + (defaults or eslib.http_defaults(client="20s", server="20s"))
            + eslib.section("frontend fe_app", f"bind {L}:{p_app}\ndefault_backend be")
            + eslib.section("frontend fe_stats", f"""
                bind {L}:{p_stats}
                stats uri /stats
                http-request use-service prometheus-exporter if {{ {metrics} }}
                default_backend be""")
            + eslib.section("backend be", servers))


TARGETS = (("GET", "/stats"), ("GET", "/stats;csv"), ("HEAD", "/stats;csv"), ("GET", "/metrics"))


def check_page(r, method, target, what):
    """One answer of the stats frontend: a complete 200 of the right kind."""
    check_eq(r.status, 200, f"{what}: {method} {target} ({r.brief()})")
    ctype = (r.header("Content-Type") or "").split(";")[0].strip()
    if method == "HEAD":
        check(not r.body, f"{what}: HEAD {target} has a body of {len(r.body)} bytes")
        return
    body = r.body.decode("utf-8", "replace")
    if target == "/stats":
        check(ctype == "text/html" and "fe_app" in body, f"{what}: GET /stats: {ctype!r}, {body[:200]!r}")
    elif target == "/stats;csv":
        check(ctype == "text/plain" and body.startswith("# pxname,svname,"),
              f"{what}: GET /stats;csv: {ctype!r}, {body[:200]!r}")
    else:
        bad = eslib.prometheus_problems(body)
        check(ctype == "text/plain" and not bad and "haproxy_process_build_info" in body,
              f"{what}: GET {target}: {ctype!r}, problems {bad[:3]}")


def page_counters(es):
    """(page_asks, page_timeouts, page_fails) summed over the shards."""
    sh = es.shards()
    return tuple(sum(int(s.get(k, 0)) for s in sh) for k in ("page_asks", "page_timeouts", "page_fails"))


def concurrent_pages(h, origin):
    """Several clients ask for pages at the same time on a two-shard proxy."""
    p_app, p_stats = eslib.free_port(), eslib.free_port()
    sock = h.sock_path("conc.sock")
    es = eslib.start_proxy(h, stats_config(sock, p_app, p_stats, origin.port), ports=[p_app, p_stats],
                           sock=sock, name="conc")
    for i in range(5):
        check_eq(eslib.http_get(p_app, f"/warm/{i}").status, 200, f"app request {i}")

    clients, rounds, piped, batches = 8, 16, 2, 4
    errors = []
    done = []
    lock = threading.Lock()

    def one_by_one(k):
        try:
            c = eslib.HttpClient(p_stats, timeout=10)
            for i in range(rounds):
                method, target = TARGETS[(k + i) % len(TARGETS)]
                check_page(c.request(method, target, timeout=10), method, target, f"client {k} request {i}")
            c.close()
            with lock:
                done.append(rounds)
        except (Failure, OSError) as e:
            with lock:
                errors.append(f"client {k}: {e}")

    def pipelining(k):
        try:
            c = eslib.HttpClient(p_stats, timeout=10)
            for b in range(batches):
                reqs = [TARGETS[(k + b + j) % len(TARGETS)] for j in range(3)]
                c.send(b"".join(eslib.http_request_bytes(m, t) for m, t in reqs))
                for j, (m, t) in enumerate(reqs):
                    check_page(c.read_response(method=m, timeout=10), m, t, f"pipelining client {k} batch {b}.{j}")
            c.close()
            with lock:
                done.append(batches * 3)
        except (Failure, OSError) as e:
            with lock:
                errors.append(f"pipelining client {k}: {e}")

    threads = [threading.Thread(target=one_by_one, args=(k,)) for k in range(clients)]
    threads += [threading.Thread(target=pipelining, args=(k,)) for k in range(piped)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not errors, f"{len(errors)} concurrent client(s) failed: {errors[:3]}")
    total = sum(done)
    check_eq(total, clients * rounds + piped * batches * 3, "pages answered to the concurrent clients")
    log(f"{total} pages to {clients + piped} concurrent clients in {time.monotonic() - t0:.2f}s, all valid")
    if eslib.on_edgeshard():
        asks, timeouts, fails = page_counters(es)
        check_eq(asks, total, "show shards: page_asks (every page asked of the control shard)")
        check_eq((timeouts, fails), (0, 0), "show shards: page_timeouts, page_fails")
        per_shard = [int(s.get("page_asks", 0)) for s in es.shards()]
        log(f"page_asks per shard: {per_shard}")
    es.stop()


class ControlBlock:
    """Keeps the control shard of the process behind `sock` busy: a handoff is started on the
    admin socket and its answer (listeners and state) is not read. With a state larger than the
    socket buffer, the control shard waits in its send (up to the 5 s handoff deadline) until
    release() closes the connection."""

    def __init__(self, sock):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(sock)
        self.s.sendall(b"_handoff 1\n")
        self.t0 = time.monotonic()
        # the control shard no longer answers the CLI: it is inside the send
        for _ in range(20):
            try:
                eslib.ctl_raw(sock, "show version", timeout=0.3)
            except (Failure, OSError):
                return
            time.sleep(0.05)
        raise Failure("the control shard still answers the CLI during an unread handoff: the state fits "
                      "the socket buffer, make it larger")

    def release(self):
        self.s.close()


def pending_pages(h):
    """Pages waiting for a control shard that is busy: bounded wait, clients that go away."""
    p_app, p_stats = eslib.free_port(), eslib.free_port()
    sock = h.sock_path("pend.sock")
    long_name = "server-with-a-long-name-" + "x" * 90
    servers = "\n".join(f"server {long_name}-{i} {L}:9" for i in range(2000))
    es = eslib.start_proxy(h, stats_config(sock, p_app, p_stats, 9, servers=servers), ports=[p_app, p_stats],
                           sock=sock, name="pend")
    check_page(eslib.http_get(p_stats, "/stats;csv", timeout=10), "GET", "/stats;csv", "before the block")

    block = ControlBlock(sock)
    results = {}

    def timed(name, fn):
        t = time.monotonic()
        try:
            results[name] = (fn(), time.monotonic() - t)
        except (Failure, OSError) as e:
            results[name] = (e, time.monotonic() - t)

    def plain():
        c = eslib.HttpClient(p_stats, timeout=10)
        try:
            return c.request("GET", "/stats;csv", timeout=10)
        finally:
            c.close()

    def half_closed():
        c = eslib.HttpClient(p_stats, timeout=10)
        c.send(eslib.http_request_bytes("GET", "/stats"))
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response(timeout=10)
        how, extra, _ = c.wait_closed(5)
        return r, how, extra

    def gone(rst):
        c = eslib.HttpClient(p_stats, timeout=10)
        c.send(eslib.http_request_bytes("GET", "/metrics" if rst else "/stats"))
        time.sleep(0.3)
        if rst:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        return "closed"

    threads = [threading.Thread(target=timed, args=(n, f)) for n, f in
               (("plain", plain), ("half", half_closed), ("fin", lambda: gone(False)), ("rst", lambda: gone(True)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    block.release()

    r, secs = results["plain"]
    check(not isinstance(r, Exception), f"page during the block: {r}")
    check_eq(r.status, 503, f"page while the control shard is busy ({r.brief()})")
    check(1.8 <= secs <= 4.5, f"the 503 came after {secs:.2f}s; the bound is 2s")
    v, secs = results["half"]
    check(not isinstance(v, Exception), f"half-closed client: {v}")
    r, how, extra = v
    check_eq(r.status, 503, "half-closed client's page while the control shard is busy")
    check(how in ("eof", "reset") and not extra, f"half-closed client after its 503: {how}, extra {extra[:80]!r}")
    for n in ("fin", "rst"):
        check_eq(results[n][0], "closed", f"client closing while its page is pending ({n})")
    log(f"control shard busy: 503 after {results['plain'][1]:.2f}s; half-closed client answered then closed; "
        "two clients went away while waiting")

    # free again: pages at once, and the late answers for the sessions that went were dropped
    eslib.poll_until(lambda: eslib.http_get(p_stats, "/stats;csv", timeout=3).status == 200, 5,
                     what="a page once the control shard is free again")
    check_page(eslib.http_get(p_stats, "/metrics", timeout=10), "GET", "/metrics", "after the block")
    asks, timeouts, fails = page_counters(es)
    check(timeouts >= 2, f"page_timeouts = {timeouts}: the two sessions that waited for their answer count")
    check_eq(fails, 0, "page_fails")
    log(f"after the block: page_asks {asks}, page_timeouts {timeouts} (sessions still waiting at the bound)")

    # ---- answers that come after their clients left: the control shard is freed shortly before
    # the bound, then renders one large page after the other (2,000 servers), so the first answers
    # reach sessions whose client has closed (their send fails, the session closes) and the last
    # ones come after the bound (their session has had its 503: the answer is deleted)
    block = ControlBlock(sock)
    leavers = [threading.Thread(target=gone, args=(k % 2 == 1,)) for k in range(6)]
    for t in leavers:
        t.start()
    for t in leavers:
        t.join(10)
    time.sleep(1.5)
    block.release()
    eslib.poll_until(lambda: eslib.http_get(p_stats, "/stats;csv", timeout=3).status == 200, 10,
                     what="a page after the late answers")
    asks2, timeouts2, fails2 = page_counters(es)
    check_eq(fails2, 0, "page_fails after the late answers")
    log(f"late answers: {asks2 - asks - 1} clients left while waiting, {timeouts2 - timeouts} reached the "
        "bound first; the process serves on")

    # ---- a soft stop while a page is pending
    block = ControlBlock(sock)
    c = eslib.HttpClient(p_stats, timeout=10)
    c.send(eslib.http_request_bytes("GET", "/stats;csv"))
    time.sleep(0.3)
    es.send_signal(signal.SIGUSR1)
    time.sleep(0.2)
    block.release()
    r = c.read_response(timeout=10)
    check(r.status in (200, 503), f"page pending at the soft stop: {r.brief()}")
    if r.status == 200:
        check_page(r, "GET", "/stats;csv", "page pending at the soft stop")
    how, extra, secs = c.wait_closed(10)
    check(how in ("eof", "reset") and not extra, f"after the soft stop: the connection {how}, extra {extra[:80]!r}")
    rc = reload_lib.wait_exit(es, 15, "soft-stopped process")
    check_eq(rc, 0, "exit status after the soft stop")
    log(f"soft stop with a page pending: {r.status}, connection closed {secs:.2f}s later, exit 0")


def reload_with_pages(h, origin):
    """Clients keep asking for pages across a reload."""
    p_app, p_stats = eslib.free_port(), eslib.free_port()
    sock = h.sock_path("rel.sock")
    cfg = h.write("rel.cfg", stats_config(sock, p_app, p_stats, origin.port))
    old = h.edgeshard(None, files=[cfg], ports=[p_app, p_stats], sock=sock, name="rel1")
    loops = [reload_lib.LoopClient(p_stats, name="metrics", pause=0.01) for _ in range(4)]
    time.sleep(1.0)
    new, _ = reload_lib.reload(h, old, [cfg], sock, "rel2", ports=[p_app, p_stats])
    time.sleep(1.0)
    for lc in loops:
        lc.stop()
    total = closes = 0
    for lc in loops:
        n, cl, errs = lc.snapshot()
        check(not errs, f"{lc.name}: {len(errs)} error(s) across the reload: {errs[:3]}")
        total += n
        closes += cl
    check(total > 0, "no page answered across the reload")
    rc = reload_lib.wait_exit(old, 15, "old process after the reload")
    check_eq(rc, 0, "old process's exit status")
    check_page(eslib.http_get(p_stats, "/metrics", timeout=10), "GET", "/metrics", "new process")
    log(f"reload under page load: {total} pages, {closes} with Connection: close from the old process, "
        "old process exited 0")
    new.stop()


if __name__ == "__main__":
    eslib.run_http(main)
