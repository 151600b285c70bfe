"""`show stat` and `show info` as HAProxy 2.6 gives them: one configuration (an HTTP frontend and backend with a
checked server that is down, a TCP frontend with maxconn and its backend, a TCP listen with a server maxconn, a
stats listen, and a backend with `id 40` and servers with `id` between others) runs through edgeshard, then through
the real HAProxy 2.6.12 (the test starts it; 77 without it), with the same traffic; for each:

  - `show stat`: the rows in the same order with the same `iid` and `sid` (HAProxy's numbering: the CLI's proxy
    first, an `id` written kept, the others by place); for every row, the same columns filled and the same left
    empty (all 103 of HAProxy's base columns: what scrapers index by position); the same `slim` (a frontend's
    maxconn or the global one, a backend's fullconn from the frontends that reach it);
  - `show stat typed`: the same origin/nature/scope tags and types for every field of every object;
  - `show info typed`: the same field positions and names, in the same order, with the same tags (ours types the
    cumulated counters u64 where HAProxy has u32: listed);
  - `show stat <iid> <type> <sid>` and `show stat <proxy> ...`, `up`, `no-maint`: the same rows, the backend's
    status suffix "(up/all)"; an unknown proxy: "No such proxy.";
  - the stats page's option forms (`;csv;norefresh`, `/;csv`, `;up`, `;typed`): the same rows as the CLI's;
  - `show backend`, `show env NAME` (absent), `show cli sockets`: the same answers;
  - `clear counters`: every maximum back to its current level, the totals kept; `clear counters all`: every
    counter of the frontends, backends and servers at zero (read right after, on both).
The values themselves differ (two processes, two clocks); the shapes must not.
"""
import csv
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import Skip, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
U64_OURS = {"CumConns", "CumReq", "CumSslConns", "DroppedLogs"}  # ours cannot wrap on a long-lived box


def config(p, sock):
    return (eslib.global_section(sock, nbthread=1) + "    maxconn 2000\n" +
            eslib.defaults_section(connect="1s", client="5s", server="5s") +
            eslib.section("frontend fe", f"""
                mode http
                bind {L}:{p['fe']}
                use_backend ids if {{ path_beg /ids }}
                default_backend be""") +
            eslib.section("backend be", f"""
                mode http
                server s1 {L}:{p['origin']}
                server s_down {L}:{p['closed']} check inter 300 fall 1""") +
            eslib.section("frontend tfe", f"""
                mode tcp
                bind {L}:{p['tfe']}
                maxconn 300
                default_backend tbe""") +
            eslib.section("backend tbe", f"""
                mode tcp
                server t1 {L}:{p['origin']}""") +
            eslib.section("listen lst", f"""
                mode tcp
                bind {L}:{p['lst']}
                server l1 {L}:{p['origin']} maxconn 10""") +
            eslib.section("backend ids", f"""
                mode http
                id 40
                server y {L}:{p['origin']}
                server x {L}:{p['origin']} id 7
                server z {L}:{p['origin']} disabled""") +
            eslib.section("listen stats", f"""
                mode http
                bind {L}:{p['stats']}
                stats enable
                stats uri /stats"""))


def csv_rows(text):
    lines = [x for x in text.split("\n") if x]
    check(lines and lines[0].startswith("# "), f"a CSV header: {text[:200]!r}")
    header = lines[0][2:].split(",")
    rows = []
    for x in lines[1:]:
        cells = next(csv.reader([x]))
        rows.append(dict(zip(header, cells)))
    return header, rows


def typed_tags(text, info=False):
    """key -> (tags, type) for each typed line; key: (obj, iid, sid, pos, name) or (pos, name) for info."""
    out = {}
    for x in text.split("\n"):
        if not x:
            continue
        head, tags, typ = x.split(":", 3)[:3]
        parts = head.split(".")
        key = (int(parts[0]), ".".join(parts[1:-1])) if info else (parts[0], parts[1], parts[2], int(parts[3]), parts[4])
        out[key] = (tags, typ)
    return out


def collect(h, p, sock):
    """Traffic, then every view this case compares."""
    for path in ("/a", "/b", "/ids/1", "/ids/2"):
        eslib.http_get(p["fe"], path, timeout=5)
    for port in (p["tfe"], p["lst"]):
        sk = eslib.connect(port)
        sk.sendall(eslib.http_request_bytes("GET", "/t", version="HTTP/1.0"))
        eslib.wait_eof(sk, 5)
        sk.close()
    eslib.http_get(p["stats"], "/stats", timeout=5)
    eslib.poll_until(lambda: ["DOWN"] == [r["status"] for r in csv_rows(eslib.ctl_raw(sock, "show stat"))[1]
                                          if r["svname"] == "s_down"], 5, what="s_down to be DOWN")
    v = {}
    for cmd in ("show stat", "show stat typed", "show info typed", "show stat 3 -1 -1", "show stat ids 4 7",
                "show stat ids -1 -1 up", "show stat -1 2 -1 no-maint", "show stat 40 -1 -1 typed",
                "show stat nosuch 1 1"):
        v[cmd] = eslib.ctl_raw(sock, cmd)
    for form in ("/stats;csv;norefresh", "/stats/;csv", "/stats;csv;up", "/stats;typed"):
        r = eslib.http_get(p["stats"], form, timeout=5)
        check_eq(r.status, 200, f"the stats page {form}")
        v[form] = r.body.decode()
    for cmd in ("show backend", "show env NO_SUCH_VARIABLE_HERE"):
        v[cmd] = eslib.ctl_raw(sock, cmd)
    v["show cli sockets"] = eslib.ctl_raw(sock, "show cli sockets").replace(sock, "SOCK")
    # clear counters: the maxima back to the current level, the totals kept; `all`: every counter to zero
    pick = lambda t: {(r["pxname"], r["svname"]): (r["smax"], r["stot"]) for r in csv_rows(t)[1]}  # noqa: E731
    before = pick(eslib.ctl_raw(sock, "show stat"))
    v["clear counters"] = eslib.ctl_raw(sock, "clear counters")
    after = pick(eslib.ctl_raw(sock, "show stat"))
    v["cleared maxima"] = {k: (after[k][0], after[k][1] == before[k][1]) for k in (("fe", "FRONTEND"), ("be", "s1"))}
    v["clear counters all"] = eslib.ctl_raw(sock, "clear counters all")
    after = pick(eslib.ctl_raw(sock, "show stat"))
    v["cleared all"] = {k: after[k] for k in (("fe", "FRONTEND"), ("be", "BACKEND"), ("be", "s1"))}
    check(int(before[("fe", "FRONTEND")][1]) > 0, f"traffic counted before the clear: {before}")
    return v


def main(h):
    binary = os.environ.get("ES_HAPROXY_BIN", eslib.HAPROXY_DEFAULT_BIN)
    if not os.access(binary, os.X_OK):
        raise Skip(f"HAProxy ({binary}) is not installed: apt-get install haproxy")
    if not eslib.on_edgeshard():
        raise Skip("this case compares edgeshard with HAProxy itself: run it without ES_TEST_PEER")
    origin = http_origin.start(h)
    p = {k: eslib.free_port() for k in ("fe", "tfe", "lst", "stats", "closed")}
    p["origin"] = origin.port
    ports = [p[k] for k in ("fe", "tfe", "lst", "stats")]
    sock = h.sock_path()
    es = eslib.start_proxy(h, config(p, sock), ports=ports, sock=sock)
    ours = collect(h, p, sock)
    es.stop()
    hsock = h.sock_path("haproxy_ref.sock")
    ref = eslib.start_haproxy(h, config(p, hsock), ports, "haproxy_ref")
    theirs = collect(h, p, hsock)
    ref.stop()

    # show stat: order, ids, filled columns, slim
    hh, hrows = csv_rows(theirs["show stat"])
    eh, erows = csv_rows(ours["show stat"])
    base = hh[:hh.index("-")] if "-" in hh else hh
    check_eq(eh[:len(base)], base, "the CSV header: HAProxy's base columns at their positions")
    key = lambda r: (r["pxname"], r["svname"], r["iid"], r["sid"])  # noqa: E731
    check_eq([key(r) for r in erows], [key(r) for r in hrows], "rows, their order, iid and sid")
    for er, hr in zip(erows, hrows):
        only_h = [c for c in base if hr.get(c, "") != "" and er.get(c, "") == ""]
        only_e = [c for c in base if hr.get(c, "") == "" and er.get(c, "") != ""]
        check_eq((only_h, only_e), ([], []), f"{hr['pxname']}/{hr['svname']}: columns filled by HAProxy only, by "
                                              f"edgeshard only")
        check_eq(er["slim"], hr["slim"], f"{hr['pxname']}/{hr['svname']}: slim")
        check_eq(er["status"], hr["status"], f"{hr['pxname']}/{hr['svname']}: status")

    # typed: the same tags and types
    for cmd, info in (("show stat typed", False), ("show info typed", True)):
        ht, et = typed_tags(theirs[cmd], info), typed_tags(ours[cmd], info)
        if info:
            check_eq([k for k in et if k[0] < 72], [k for k in ht if k[0] < 72], "show info typed: positions, names")
        else:
            base_keys = [k for k in ht if k[3] < len(base)]
            check_eq(sorted(k for k in et), sorted(base_keys), "show stat typed: the same objects and fields")
        diff = [(k, ht[k], et[k]) for k in ht if k in et and ht[k] != et[k] and
                not (info and k[1] in U64_OURS and et[k] == (ht[k][0], "u64"))]
        check_eq(diff, [], f"{cmd}: tags and types")

    # filters
    for cmd in ("show stat 3 -1 -1", "show stat ids 4 7", "show stat ids -1 -1 up", "show stat -1 2 -1 no-maint"):
        sel = lambda t: [(r["pxname"], r["svname"], r["status"]) for r in csv_rows(t)[1]]  # noqa: E731
        check(sel(theirs[cmd]), f"`{cmd}` selects rows on HAProxy")
        check_eq(sel(ours[cmd]), sel(theirs[cmd]), f"`{cmd}`: the rows")
        log(f"{cmd}: {sel(ours[cmd])}")
    check_eq(sorted(typed_tags(ours["show stat 40 -1 -1 typed"])),
             sorted(k for k in typed_tags(theirs["show stat 40 -1 -1 typed"]) if k[3] < len(base)),
             "`show stat 40 -1 -1 typed`: the objects of the proxy with `id 40`")
    check_eq(ours["show stat nosuch 1 1"].strip(), theirs["show stat nosuch 1 1"].strip(), "an unknown proxy")

    # the stats page's forms
    for form in ("/stats;csv;norefresh", "/stats/;csv", "/stats;csv;up"):
        sel = lambda t: [(r["pxname"], r["svname"], r["status"]) for r in csv_rows(t)[1]]  # noqa: E731
        check_eq(sel(ours[form]), sel(theirs[form]), f"the stats page {form}: the rows")
    check_eq(sorted({k[:3] for k in typed_tags(ours["/stats;typed"])}),
             sorted({k[:3] for k in typed_tags(theirs["/stats;typed"])}), "the stats page ;typed: the objects")
    for cmd in ("show backend", "show env NO_SUCH_VARIABLE_HERE", "show cli sockets", "clear counters",
                "cleared maxima", "clear counters all", "cleared all"):
        check_eq(ours[cmd], theirs[cmd], f"`{cmd}`")
    log(f"show stat / typed / info typed / filters / page forms as HAProxy 2.6.12: {len(erows)} rows, "
        f"{len(base)} columns each filled alike")


if __name__ == "__main__":
    eslib.run_http(main)
