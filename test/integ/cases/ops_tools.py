#!/usr/bin/env python3
"""The operators' tools written for HAProxy work unchanged against the proxy, with HAProxy 2.6's own
configuration (a `stats socket ... level admin`, a frontend `fe`, a backend `be` with a server `s1` in front of
a real origin and a server `s_down` on a closed port, both checked every 500 ms, a `listen stats` with
`stats uri /stats`), after some requests through `fe` so the counters are not zero. Each tool is the Debian
package's own program, run as a user runs it, bounded in time; what is asserted is what it prints against
HAProxy 2.6.12 (ES_TEST_PEER=haproxy runs this same file through it):
  - hatop (curses, in a private tmux server, 200x50): its screen names the proxies fe, be and stats, the
    servers s1 (UP) and s_down (DOWN), and it keeps running (it refreshes every second) with no error or
    traceback; again with `-p be` (hatop then asks `show stat <iid> -1 -1`): only be. What hatop parses is
    also checked directly with its own code: every `show info` field it requires, `show stat` and the
    filtered `show stat <iid> -1 -1`;
  - prometheus-haproxy-exporter, on the admin socket (`unix:`) and on the CSV URL (`/stats;csv`): /metrics
    has `haproxy_up 1`, no CSV parse failure, exactly the metric families HAProxy 2.6.12 gives for this
    config (EXPORTER_FAMILIES; the URL form has all but haproxy_version_info, which only `show info`
    gives), each family for every frontend / backend / server it applies to, and the values of the
    requests made and of the two servers' states; on the socket, haproxy_version_info with a version and a
    release date;
  - munin's haproxy_ (`url=.../stats;csv;norefresh`): `config` labels one field per server (ss1, ss_down)
    and the fetch prints `ss1.value N` (the requests made) and `ss_down.value 0`; munin's haproxy_ng
    (multigraph): config and fetch print the same multigraphs as against HAProxy (MUNIN_NG_GRAPHS), a
    label for every value, every value a number, the session totals of fe, be and s1;
  - nagios check_haproxy (`-u .../stats;csv`): CRITICAL naming s_down DOWN on be, with sess_be perfdata;
    check_haproxy_stats on the socket (`-s`) and on the URL (`-U`): CRITICAL naming be:s_down DOWN (check
    status: connection error), perfdata with every frontend's and backend's session limit; OK when s_down is
    ignored (`-i`) or only fe is checked (`-p fe`); once s_down is put in maintenance on the admin socket
    (`disable server be/s_down`): check_haproxy OK (Active: 1/2), check_haproxy_stats -m OK, and without -m
    CRITICAL naming it MAINT;
  - netdata's python.d haproxy module (python.d.plugin run standalone, one job per process, on the socket
    and on the URL, for about two updates): the same charts as against HAProxy (NETDATA_CHARTS, among them
    health_idle, from `Idle_pct` in `show info` or `idle = N` on the stats page), the servers up / down per
    backend, the 2xx responses of fe and be, and no error in its log.
A tool whose Debian package is not installed is skipped (logged, with the package to install); the case is
skipped when none is. Every tool's problems are collected and reported together at the end.
"""
import importlib.machinery
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import Failure, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
REQUESTS = 6

HATOP = "/usr/bin/hatop"
EXPORTER = "/usr/bin/prometheus-haproxy-exporter"
MUNIN_HAPROXY = "/usr/share/munin/plugins/haproxy_"
MUNIN_HAPROXY_NG = "/usr/share/munin/plugins/haproxy_ng"
CHECK_HAPROXY = "/usr/lib/nagios/plugins/check_haproxy"
CHECK_HAPROXY_STATS = "/usr/lib/nagios/plugins/check_haproxy_stats"
NETDATA_PLUGIN = "/usr/lib/netdata/plugins.d/python.d.plugin"
NETDATA_HAPROXY = "/usr/lib/netdata/python.d/haproxy.chart.py"

# What each part needs: files, then perl modules, with the Debian packages that give them.
NEEDS = {
    "hatop": ([HATOP, shutil.which("tmux") or "/usr/bin/tmux"], [], "hatop tmux"),
    "exporter": ([EXPORTER], [], "prometheus-haproxy-exporter"),
    "munin": ([MUNIN_HAPROXY, MUNIN_HAPROXY_NG], ["Munin::Plugin", "LWP::UserAgent"],
              "munin-plugins-core munin-plugins-extra libwww-perl"),
    "nagios": ([CHECK_HAPROXY, CHECK_HAPROXY_STATS], ["Monitoring::Plugin", "LWP::UserAgent", "Locale::gettext"],
               "monitoring-plugins-contrib libmonitoring-plugin-perl libwww-perl liblocale-gettext-perl"),
    "netdata": ([NETDATA_PLUGIN, NETDATA_HAPROXY], [], "netdata-plugins-python"),
}

# prometheus-haproxy-exporter 0.14 (Debian 12) on HAProxy 2.6.12's admin socket with this configuration.
# A family comes from a CSV column (frontend, backend and server columns are separate families) and is left out
# when the column is empty; the URL form has the same but haproxy_version_info (from `show info`).
EXPORTER_FAMILIES = frozenset("""
    haproxy_backend_bytes_in_total haproxy_backend_bytes_out_total haproxy_backend_client_aborts_total
    haproxy_backend_compressor_bytes_bypassed_total haproxy_backend_compressor_bytes_in_total
    haproxy_backend_compressor_bytes_out_total haproxy_backend_connection_errors_total haproxy_backend_current_queue
    haproxy_backend_current_server haproxy_backend_current_session_rate haproxy_backend_current_sessions
    haproxy_backend_http_connect_time_average_seconds haproxy_backend_http_queue_time_average_seconds
    haproxy_backend_http_response_time_average_seconds haproxy_backend_http_responses_compressed_total
    haproxy_backend_http_responses_total haproxy_backend_http_total_time_average_seconds
    haproxy_backend_limit_sessions haproxy_backend_max_queue haproxy_backend_max_session_rate
    haproxy_backend_max_sessions haproxy_backend_redispatch_warnings_total haproxy_backend_response_errors_total
    haproxy_backend_retry_warnings_total haproxy_backend_server_aborts_total haproxy_backend_server_selected_total
    haproxy_backend_sessions_total haproxy_backend_up haproxy_backend_weight
    haproxy_exporter_build_info haproxy_exporter_csv_parse_failures_total haproxy_exporter_scrapes_total
    haproxy_frontend_bytes_in_total haproxy_frontend_bytes_out_total
    haproxy_frontend_compressor_bytes_bypassed_total haproxy_frontend_compressor_bytes_in_total
    haproxy_frontend_compressor_bytes_out_total haproxy_frontend_connections_total
    haproxy_frontend_current_session_rate haproxy_frontend_current_sessions haproxy_frontend_http_requests_total
    haproxy_frontend_http_responses_compressed_total haproxy_frontend_http_responses_total
    haproxy_frontend_limit_session_rate haproxy_frontend_limit_sessions haproxy_frontend_max_session_rate
    haproxy_frontend_max_sessions haproxy_frontend_request_errors_total haproxy_frontend_requests_denied_total
    haproxy_frontend_sessions_total
    haproxy_server_bytes_in_total haproxy_server_bytes_out_total haproxy_server_check_duration_seconds
    haproxy_server_check_failures_total haproxy_server_client_aborts_total haproxy_server_connection_errors_total
    haproxy_server_current_queue haproxy_server_current_session_rate haproxy_server_current_sessions
    haproxy_server_downtime_seconds_total haproxy_server_http_connect_time_average_seconds
    haproxy_server_http_queue_time_average_seconds haproxy_server_http_response_time_average_seconds
    haproxy_server_http_responses_total haproxy_server_http_total_time_average_seconds haproxy_server_max_queue
    haproxy_server_max_session_rate haproxy_server_max_sessions haproxy_server_redispatch_warnings_total
    haproxy_server_response_errors_total haproxy_server_retry_warnings_total haproxy_server_server_aborts_total
    haproxy_server_server_selected_total haproxy_server_sessions_total haproxy_server_up haproxy_server_weight
    haproxy_up haproxy_version_info
""".split())

# munin haproxy_ng's multigraphs against HAProxy 2.6.12 (one per graph, and per backend for the server graphs)
MUNIN_NG_GRAPHS = frozenset("""
    HAPActive HAPBandwidthBack HAPBandwidthBack.be HAPBandwidthBack.stats HAPBandwidthFront HAPErrorsBack
    HAPErrorsBack.be HAPErrorsBack.stats HAPErrorsFront HAPSessionRateBack HAPSessionRateBack.be
    HAPSessionRateBack.stats HAPSessionRateFront HAPSessionsBack HAPSessionsBack.be HAPSessionsBack.stats
    HAPSessionsFront HAPUptime HAPUptime.be HAPUptime.stats
""".split())

# netdata 1.37's python.d haproxy charts against HAProxy 2.6.12, the same on the socket and on the URL (a chart
# is sent once it has data: the module never computes fhrsp_total's, so that one never comes)
NETDATA_CHARTS = frozenset("""
    fbin fbout fscur fqcur fhrsp_1xx fhrsp_2xx fhrsp_3xx fhrsp_4xx fhrsp_5xx fhrsp_other
    bbin bbout bscur bqcur bhrsp_1xx bhrsp_2xx bhrsp_3xx bhrsp_4xx bhrsp_5xx bhrsp_other bhrsp_total
    bqtime bttime brtime bctime health_sup health_sdown health_bdown health_idle
""".split())


class Problems:
    """What went wrong, per tool; each part runs to its end (or to its first hard failure) and the case
    fails at the end listing all."""

    def __init__(self):
        self.items = []
        self.skipped = []

    def add(self, tool, msg):
        self.items.append((tool, msg))
        log(f"[{tool}] PROBLEM: {msg}")

    def check(self, tool, cond, msg):
        if not cond:
            self.add(tool, msg)
        return bool(cond)

    def check_eq(self, tool, actual, expected, what):
        return self.check(tool, actual == expected, f"{what}: expected {expected!r}, got {actual!r}")

    def run(self, tool, fn, *args):
        """Runs one part; a Failure (or any error) ends that part only."""
        try:
            fn(*args)
        except Failure as e:
            self.add(tool, str(e))
        except Exception as e:  # noqa: BLE001 - reported with the others
            self.add(tool, f"unexpected {type(e).__name__}: {e}")


def missing_needs(part):
    files, modules, pkgs = NEEDS[part]
    miss = [f for f in files if not os.path.isfile(f)]
    for m in modules:
        r = subprocess.run(["perl", f"-M{m}", "-e1"], stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        if r.returncode != 0:
            miss.append(f"perl {m}")
    return miss, pkgs


def stat_csv(sock):
    """`show stat` (CSV): (the column names, [the rows' values])."""
    text = eslib.ctl_raw(sock, "show stat")
    lines = [l for l in text.splitlines() if l]
    check(lines and lines[0].startswith("# pxname,"), f"`show stat` answer: {text[:300]!r}")
    return lines[0][2:].split(","), [l.split(",") for l in lines[1:]]


def stat_rows(sock):
    """`show stat` (CSV) as {(pxname, svname): {column: value}}."""
    hdr, rows = stat_csv(sock)
    return {tuple(v[:2]): dict(zip(hdr, v)) for v in rows}


def empty_columns(sock, columns, kinds):
    """Why a tool that needs CSV columns (by index) saw nothing: '<column> on <px>/<sv>' for each one
    empty (or absent) on a row of the given types ('0' frontend, '1' backend, '2' server)."""
    hdr, rows = stat_csv(sock)
    ti = hdr.index("type") if "type" in hdr else 32
    out = []
    for c in columns:
        name = hdr[c] if c < len(hdr) else f"column {c}"
        where = [f"{v[0]}/{v[1]}" for v in rows if len(v) > ti and v[ti] in kinds and (len(v) <= c or v[c] == "")]
        if where:
            out.append(f"{name} (column {c}) empty on {', '.join(where)}")
    return "; ".join(out)


def run_tool(h, argv, env=None, timeout=20):
    t0 = time.monotonic()
    r = h.run_cmd(argv, timeout=timeout, env=env)
    log(f"  $ {' '.join(argv)}  -> rc {r.returncode} in {time.monotonic() - t0:.2f}s")
    return r


# --------------------------------------------------------------------------------------------
# hatop
# --------------------------------------------------------------------------------------------

class Tmux:
    """A private tmux server (its own socket, remain-on-exit so an exited pane keeps its last screen and
    status); stop() kills the server and whatever ran in it, by PID."""

    def __init__(self, h):
        self.name = "tmux"
        self.h = h
        self.sock = h.path("tmux.sock")
        self.conf = h.write("tmux.conf", "set -g remain-on-exit on\nset -g default-terminal screen\n"
                                         "set -g history-limit 200\n")
        self.env = dict(os.environ, TERM=os.environ.get("TERM") or "xterm")
        self.server_pid = None
        self.pane_pids = []

    def cmd(self, *args, timeout=10):
        argv = ["tmux", "-S", self.sock, "-f", self.conf] + list(args)
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout, env=self.env)
        except subprocess.TimeoutExpired:
            raise Failure(f"{argv} did not finish within {timeout}s")

    def window(self, target, command):
        if self.server_pid is None:
            r = self.cmd("new-session", "-d", "-s", "ops", "-n", target, "-x", "200", "-y", "50", command)
            check(r.returncode == 0, f"tmux new-session: {r.stderr.strip()}")
            self.server_pid = int(self.cmd("display-message", "-p", "-t", "ops", "#{pid}").stdout.strip())
        else:
            r = self.cmd("new-window", "-d", "-t", "ops", "-n", target, command)
            check(r.returncode == 0, f"tmux new-window: {r.stderr.strip()}")
        pid = self.cmd("display-message", "-p", "-t", f"ops:{target}", "#{pane_pid}").stdout.strip()
        if pid.isdigit():
            self.pane_pids.append(int(pid))
        log(f"tmux window {target} (server pid {self.server_pid}, pane pid {pid}): {command}")

    def screen(self, target):
        return self.cmd("capture-pane", "-p", "-t", f"ops:{target}").stdout

    def dead(self, target):
        """None while the pane's program runs, else its exit status."""
        out = self.cmd("display-message", "-p", "-t", f"ops:{target}", "#{pane_dead} #{pane_dead_status}").stdout
        parts = out.split()
        if parts and parts[0] == "1":
            return int(parts[1]) if len(parts) > 1 and parts[1].lstrip("-").isdigit() else -1
        return None

    def stop(self):
        if self.server_pid is None:
            return
        try:
            self.cmd("kill-server", timeout=5)
        except Failure:
            pass
        for pid in [self.server_pid] + self.pane_pids:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                dl = eslib.Deadline(2)
                while running(pid) and not dl.expired():
                    time.sleep(0.02)
                if not running(pid):
                    break
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
        self.server_pid = None


def running(pid):
    """Whether `pid` runs (a zombie does not: the tmux server is not our child, its reaper may be slow)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def load_hatop():
    """hatop's own module (its info regexes and its stat parser), from its script."""
    loader = importlib.machinery.SourceFileLoader("hatop_script", HATOP)
    spec = importlib.util.spec_from_loader("hatop_script", loader)
    mod = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loader.exec_module(mod)
    return mod


def hatop_parsers(P, sock, be_iid):
    """What hatop sends and parses, through hatop's own regexes and parser: every `show info` field its
    header needs (it stops with 'missing ... in info data' on the first absent one), `show stat`, and the
    filtered `show stat <iid> -1 -1` that `-p PROXY` sends."""
    tool = "hatop"
    mod = load_hatop()
    info = eslib.ctl_raw(sock, "show info")
    lines = [l.strip() for l in info.splitlines()]
    missing = [f"{key} (/{rx.pattern}/)" for key, rx in mod.HAPROXY_INFO_RE.items()
               if not any(rx.match(l) for l in lines)]
    P.check(tool, not missing, f"`show info` lacks fields hatop requires: {', '.join(missing)}")
    try:
        _, pxcount, svcount = mod.parse_stat(eslib.ctl_raw(sock, "show stat").splitlines())
        P.check_eq(tool, (pxcount, svcount), (3, 6), "hatop's parse of `show stat`: (proxies, services)")
    except RuntimeError as e:
        P.add(tool, f"hatop's parse of `show stat` fails: {e}")
    ans = eslib.ctl_raw(sock, f"show stat {be_iid} -1 -1")
    try:
        st, pxcount, svcount = mod.parse_stat(ans.splitlines())
        P.check(tool, (pxcount, svcount) == (1, 3) and be_iid in st,
                f"`show stat {be_iid} -1 -1` (hatop -p be): expected be's 3 rows, hatop parsed "
                f"{pxcount} proxies / {svcount} services from {ans[:200]!r}")
    except RuntimeError as e:
        P.add(tool, f"hatop's parse of `show stat {be_iid} -1 -1` fails: {e} (answer {ans[:200]!r})")


def hatop_screens(P, tmux, targets):
    """Waits for each hatop window to show its proxies, checks that it keeps running ~2 s after that, and
    what its screen shows."""
    tool = "hatop"
    want = {"all": [">>> fe", ">>> be", ">>> stats"], "be": [">>> be"]}
    shown = {}
    dl = eslib.Deadline(10)
    while not dl.expired() and len(shown) < len(targets):
        for t, _ in targets:
            if t in shown:
                continue
            scr = tmux.screen(t)
            if all(w in scr for w in want[t]) and "s_down" in scr or tmux.dead(t) is not None:
                shown[t] = time.monotonic()
        time.sleep(0.1)
    if shown:
        time.sleep(max(0.0, 2.2 - (time.monotonic() - min(shown.values()))))
    for t, errfile in targets:
        scr = tmux.screen(t)
        status = tmux.dead(t)
        with open(errfile, errors="replace") as f:
            err = f.read().strip()
        lines = [l.rstrip() for l in scr.splitlines() if l.strip()]
        what = f"hatop{' -p be' if t == 'be' else ''}"
        before = len(P.items)
        if not P.check(tool, status is None,
                       f"{what} exited with status {status} (stderr: {err[-300:]!r}); its last screen: "
                       f"{lines[-6:]!r}"):
            continue
        P.check(tool, t in shown, f"{what} did not show {want[t]} and s_down within 10 s; screen: {lines[:14]!r}")
        P.check(tool, not err, f"{what} wrote to stderr: {err[-400:]!r}")
        bad = [l for l in lines if "Traceback" in l or re.search(r"\berror\b", l, re.I)]
        P.check(tool, not bad, f"{what}'s screen shows errors: {bad[:4]!r}")
        P.check(tool, any(re.search(r"\S+ Version: \S+ +\(released: [0-9]", l) for l in lines),
                f"{what}'s header (<Name> Version: <version> (released: <date>...) missing: {lines[:3]!r}")
        rows = {}
        for l in lines:
            f = l.split()
            if f and f[0] in ("s1", "s_down", "FRONTEND", "BACKEND"):
                rows.setdefault(f[0], []).append(l)
        s1 = rows.get("s1", [""])[0]
        sd = rows.get("s_down", [""])[0]
        P.check(tool, re.search(r"\bUP\b", s1) and re.search(r"\bDOWN\b", sd),
                f"{what}: the s1 row says UP and the s_down row DOWN: {s1!r} / {sd!r}")
        if t == "all":
            P.check_eq(tool, (len(rows.get("FRONTEND", [])), len(rows.get("BACKEND", []))), (2, 2),
                       f"{what}: FRONTEND rows (fe, stats), BACKEND rows (be, stats)")
        else:
            P.check(tool, ">>> fe" not in scr and ">>> stats" not in scr and len(rows.get("BACKEND", [])) == 1,
                    f"{what} shows be only: {lines[:14]!r}")
        if len(P.items) == before:
            log(f"{what}: screen OK, running ({len(lines)} lines), e.g. {s1.split()[:3]} {sd.split()[:3]}")


# --------------------------------------------------------------------------------------------
# prometheus-haproxy-exporter
# --------------------------------------------------------------------------------------------

# the CSV column behind each of the exporter's families (haproxy_exporter.go 0.14: <kind>_<suffix> <- column)
EXPORTER_COLUMNS = {
    "current_queue": 2, "max_queue": 3, "current_sessions": 4, "max_sessions": 5, "limit_sessions": 6,
    "sessions_total": 7, "bytes_in_total": 8, "bytes_out_total": 9, "requests_denied_total": 10,
    "request_errors_total": 12, "connection_errors_total": 13, "response_errors_total": 14,
    "retry_warnings_total": 15, "redispatch_warnings_total": 16, "up": 17, "weight": 18, "current_server": 19,
    "check_failures_total": 21, "downtime_seconds_total": 24, "server_selected_total": 30,
    "current_session_rate": 33, "limit_session_rate": 34, "max_session_rate": 35, "check_duration_seconds": 38,
    "http_responses_total": 40, "http_requests_total": 48, "client_aborts_total": 49, "server_aborts_total": 50,
    "compressor_bytes_in_total": 51, "compressor_bytes_out_total": 52, "compressor_bytes_bypassed_total": 53,
    "http_responses_compressed_total": 54, "http_queue_time_average_seconds": 58,
    "http_connect_time_average_seconds": 59, "http_response_time_average_seconds": 60,
    "http_total_time_average_seconds": 61, "connections_total": 79,
}
EXPORTER_TYPES = {"frontend": "0", "backend": "1", "server": "2"}

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, value string)] of the samples."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if m:
            out.append((m.group(1), dict(LABEL_RE.findall(m.group(2) or "")), m.group(3)))
    return out


def exporter_check(P, form, port, proc, sock):
    tool = f"exporter ({form})"
    eslib.poll_until(lambda: eslib.is_listening(port) or not proc.running(), 10,
                     what=f"the exporter to listen on {port}")
    check(proc.running(), f"the exporter exited ({proc.popen.returncode}): {proc.tail(10)}")
    with urllib.request.urlopen(f"http://{L}:{port}/metrics", timeout=10) as r:
        text = r.read().decode("utf-8", "replace")
    samples = parse_metrics(text)
    families = {n for n, _, _ in samples if n.startswith("haproxy_")}

    def value(name, **labels):
        for n, lab, v in samples:
            if n == name and all(lab.get(k) == x for k, x in labels.items()):
                return v
        return None

    P.check_eq(tool, value("haproxy_up"), "1", "haproxy_up")
    P.check_eq(tool, value("haproxy_exporter_csv_parse_failures_total"), "0",
               "haproxy_exporter_csv_parse_failures_total")
    errors = [l for l in proc.stderr_text().splitlines() if "level=error" in l]
    P.check(tool, not errors, f"the exporter logged errors: {errors[:3]!r}")
    expected = EXPORTER_FAMILIES if form == "unix socket" else EXPORTER_FAMILIES - {"haproxy_version_info"}
    missing, extra = sorted(expected - families), sorted(families - expected)
    if missing:
        why = []
        for fam in missing:
            kind = fam.split("_")[1]
            col = EXPORTER_COLUMNS.get(fam.split("_", 2)[2])
            if kind in EXPORTER_TYPES and col is not None:
                why.append(f"{fam} <- {empty_columns(sock, [col], EXPORTER_TYPES[kind]) or f'column {col} is filled'}")
        P.add(tool, f"{len(missing)} metric families HAProxy 2.6.12 gives are missing: {missing}; the exporter "
                    "leaves out a family whose CSV column is empty: " + " | ".join(why))
    P.check(tool, not extra, f"metric families HAProxy 2.6.12 does not give: {extra}")
    # every family for every frontend / backend / server it applies to
    kinds = {"haproxy_frontend_": ("frontend", {("fe",), ("stats",)}),
             "haproxy_backend_": ("backend", {("be",), ("stats",)}),
             "haproxy_server_": ("backend,server", {("be", "s1"), ("be", "s_down")})}
    partial = []
    for fam in sorted(families):
        for prefix, (keys, want) in kinds.items():
            if fam.startswith(prefix):
                got = {tuple(lab.get(k) for k in keys.split(",")) for n, lab, _ in samples if n == fam}
                if got != want:
                    partial.append(f"{fam}: {sorted(map('/'.join, got))}")
    P.check(tool, not partial, f"families not given for every {{frontend: fe, stats; backend: be, stats; "
                               f"server: be/s1, be/s_down}}: {partial}")
    P.check_eq(tool, value("haproxy_frontend_http_requests_total", frontend="fe"), str(REQUESTS),
               'haproxy_frontend_http_requests_total{frontend="fe"}')
    P.check_eq(tool, value("haproxy_server_sessions_total", backend="be", server="s1"), str(REQUESTS),
               'haproxy_server_sessions_total{backend="be",server="s1"}')
    P.check_eq(tool, (value("haproxy_server_up", backend="be", server="s1"),
                      value("haproxy_server_up", backend="be", server="s_down"),
                      value("haproxy_backend_up", backend="be")), ("1", "0", "1"),
               "haproxy_server_up s1, s_down; haproxy_backend_up be")
    P.check_eq(tool, value("haproxy_frontend_http_responses_total", frontend="fe", code="2xx"), str(REQUESTS),
               'haproxy_frontend_http_responses_total{frontend="fe",code="2xx"}')
    if form == "unix socket":
        vi = [lab for n, lab, _ in samples if n == "haproxy_version_info"]
        P.check(tool, vi and vi[0].get("version") and vi[0].get("release_date"),
                f"haproxy_version_info with a version and a release_date (`show info` Version:, Release_date:): {vi}")
    log(f"{tool}: {len(families)} haproxy_* families, {len(samples)} samples")
    return families


# --------------------------------------------------------------------------------------------
# munin
# --------------------------------------------------------------------------------------------

VALUE_RE = re.compile(r"^([A-Za-z0-9_]+)\.value (.*)$")


def munin_values(text):
    return {m.group(1): m.group(2) for m in map(VALUE_RE.match, text.splitlines()) if m}


def multigraphs(text):
    """{multigraph: [its lines]}"""
    out, cur = {}, None
    for l in text.splitlines():
        if l.startswith("multigraph "):
            cur = l.split(" ", 1)[1]
            out[cur] = []
        elif cur is not None and l:
            out[cur].append(l)
    return out


def munin_haproxy(P, h, url, sock):
    tool = "munin haproxy_"
    env = dict(os.environ, url=url)
    cfg = run_tool(h, [MUNIN_HAPROXY, "config"], env=env)
    got = run_tool(h, [MUNIN_HAPROXY], env=env)
    for what, r in (("config", cfg), ("fetch", got)):
        P.check(tool, r.returncode == 0 and not r.stderr.strip(),
                f"{what}: rc {r.returncode}, stderr {r.stderr.strip()[-300:]!r}")
    P.check(tool, "graph_title HAProxy statistics for fe" in cfg.stdout,
            f"config: graph_title names the first frontend: {cfg.stdout[:200]!r}")
    labels = dict(re.findall(r"^([A-Za-z0-9_]+)\.label (.*)$", cfg.stdout, re.M))
    P.check_eq(tool, labels, {"ss1": "s1", "ss_down": "s_down"}, "config: a field per server (label lines)")
    vals = munin_values(got.stdout)
    if not P.check_eq(tool, vals, {"ss1": str(REQUESTS), "ss_down": "0"},
                      "fetch: sessions per server (name.value lines)"):
        # its row regex: pxname,svname,qcur+,qmax+,scur+,smax+,slim*,stot+,bin+,bout+,dreq*,dresp+
        P.add(tool, "why: the plugin's CSV regex needs qcur, qmax, scur, smax, stot, bin, bout, dresp non-empty "
                    f"on the server rows: {empty_columns(sock, [2, 3, 4, 5, 7, 8, 9, 11], '2') or 'they are not'}")
    log(f"{tool}: config {sorted(labels)}, fetch {vals}")


def munin_haproxy_ng(P, h, url):
    tool = "munin haproxy_ng"
    env = dict(os.environ, url=url, MUNIN_CAP_MULTIGRAPH="1")
    cfg = run_tool(h, [MUNIN_HAPROXY_NG, "config"], env=env)
    got = run_tool(h, [MUNIN_HAPROXY_NG], env=env)
    for what, r in (("config", cfg), ("fetch", got)):
        P.check(tool, r.returncode == 0 and not r.stderr.strip(),
                f"{what}: rc {r.returncode}, stderr {r.stderr.strip()[-300:]!r}")
    gc, gf = multigraphs(cfg.stdout), multigraphs(got.stdout)
    for what, g in (("config", gc), ("fetch", gf)):
        P.check(tool, set(g) == MUNIN_NG_GRAPHS, f"{what}: multigraphs missing {sorted(MUNIN_NG_GRAPHS - set(g))}, "
                                                 f"unexpected {sorted(set(g) - MUNIN_NG_GRAPHS)}")
    bad, unlabelled = [], []
    for name, lines in gf.items():
        labels = {l.split(".", 1)[0] for l in gc.get(name, []) if ".label " in l}
        for field, v in munin_values("\n".join(lines)).items():
            if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", v):
                bad.append(f"{name} {field}.value {v!r}")
            if field not in labels:
                unlabelled.append(f"{name} {field}")
    P.check(tool, not bad, f"fetch: values that are not numbers: {bad[:12]}")
    P.check(tool, not unlabelled, f"fetch: values without a label in config: {unlabelled[:12]}")

    def val(graph, field):
        return munin_values("\n".join(gf.get(graph, []))).get(field)

    P.check_eq(tool, (val("HAPSessionRateFront", "fe_stot"), val("HAPSessionRateBack", "be_stot"),
                      val("HAPSessionRateBack.be", "s1_stot"), val("HAPSessionRateBack.be", "s_down_stot"),
                      val("HAPActive", "be_act")),
               (str(REQUESTS), str(REQUESTS), str(REQUESTS), "0", "1"),
               "fetch: fe_stot, be_stot, s1_stot, s_down_stot, be_act")
    n = sum(len(munin_values("\n".join(v))) for v in gf.values())
    log(f"{tool}: {len(gf)} multigraphs, {n} values")


# --------------------------------------------------------------------------------------------
# nagios
# --------------------------------------------------------------------------------------------

def nagios_checks(P, h, sock, stats_port, phase):
    """phase 'down': s_down is DOWN; 'maint': s_down is in maintenance."""
    tool = "nagios"
    url = f"http://{L}:{stats_port}/stats"

    def run(argv, rc, prefix, fragments=(), perf=None):
        r = run_tool(h, argv)
        out = (r.stdout + r.stderr).strip()
        name = os.path.basename(argv[0]) + " " + " ".join(argv[1:])
        P.check(tool, r.returncode == rc and out.startswith(prefix) and all(f in out for f in fragments),
                f"{name}: expected rc {rc} and {prefix!r} with {list(fragments)}, "
                f"got rc {r.returncode}: {out[:400]!r}")
        if perf is not None:
            data = out.split("|", 1)[1] if "|" in out else ""
            labels = set(re.findall(r"([A-Za-z0-9_.-]+)=", data))
            m = re.search(r"fe-FRONTEND=[0-9]+;[0-9.]*;[0-9.]*;0;([0-9]+);", data)
            if not perf <= labels:
                P.add(tool, f"{name}: perfdata lacks {sorted(perf - labels)} (got {data!r}); it has one per row "
                            f"with a session limit: {empty_columns(sock, [6], '01') or 'slim is filled'}")
            elif "fe-FRONTEND" in perf:
                P.check(tool, m and m.group(1) == "2000",
                        f"{name}: fe-FRONTEND's session limit (slim: the global maxconn 2000) in perfdata {data!r}")
        return r

    limits = {"fe-FRONTEND", "be-BACKEND", "stats-FRONTEND", "stats-BACKEND"}
    if phase == "down":
        run([CHECK_HAPROXY, "-u", url + ";csv"], 2,
            "HAPROXY CRITICAL - Active service 's_down' is DOWN on 'be' proxy !", ["sess_be="])
        for form in (["-s", sock], ["-U", url]):
            run([CHECK_HAPROXY_STATS] + form, 2,
                "Check haproxy CRITICAL - server: be:s_down is DOWN (check status: connection error);", perf=limits)
        run([CHECK_HAPROXY_STATS, "-s", sock, "-i", "s_down"], 0, "Check haproxy OK - checked 5 proxies.",
            perf=limits)
        run([CHECK_HAPROXY_STATS, "-s", sock, "-p", "fe"], 0, "Check haproxy OK - checked proxies: fe",
            perf={"fe-FRONTEND"})
    else:
        run([CHECK_HAPROXY, "-u", url + ";csv"], 0, "HAPROXY OK -  be (Active: 1/2)", ["sess_be="])
        run([CHECK_HAPROXY_STATS, "-s", sock, "-m"], 0, "Check haproxy OK - checked 5 proxies.", perf=limits)
        run([CHECK_HAPROXY_STATS, "-s", sock], 2, "Check haproxy CRITICAL - server: be:s_down is MAINT;", perf=limits)


# --------------------------------------------------------------------------------------------
# netdata python.d haproxy
# --------------------------------------------------------------------------------------------

def netdata_start(h, job, source):
    """python.d.plugin with only the haproxy module and one job (`source`: socket: or url: line), its
    configuration and state in the test's directory."""
    d = h.path(f"netdata-{job}")
    os.makedirs(os.path.join(d, "conf", "python.d"))
    os.makedirs(os.path.join(d, "lib"))
    with open(os.path.join(d, "conf", "python.d.conf"), "w") as f:
        f.write("enabled: yes\ndefault_run: no\nhaproxy: yes\n")
    with open(os.path.join(d, "conf", "python.d", "haproxy.conf"), "w") as f:
        f.write(f"update_every: 1\n{job}:\n  name: {job}\n  {source}\n")
    env = dict(os.environ, NETDATA_USER_CONFIG_DIR=os.path.join(d, "conf"),
               NETDATA_STOCK_CONFIG_DIR=os.path.join(d, "conf"), NETDATA_LIB_DIR=os.path.join(d, "lib"),
               NETDATA_LOCK_DIR=os.path.join(d, "lib"))
    p = h.spawn([sys.executable, NETDATA_PLUGIN, "1", "debug", "nolock", "haproxy"], f"netdata-{job}", env=env)
    log(f"started netdata python.d haproxy ({job}) pid {p.pid}: {source}")
    return p


def netdata_parse(text, job):
    charts, values, updates = set(), {}, 0
    prefix = f"haproxy_{job}."
    for l in text.splitlines():
        if l.startswith("CHART " + prefix):
            charts.add(l.split()[1][len(prefix):])
        elif l.startswith("BEGIN " + prefix + "health_sup"):
            updates += 1
        elif l.startswith("SET "):
            m = re.match(r"SET '([^']+)' = (.*)$", l)
            if m:
                values[m.group(1)] = m.group(2).strip()
    return charts, values, updates


def netdata_check(P, job, proc):
    tool = f"netdata ({job})"
    try:
        eslib.poll_until(lambda: netdata_parse(proc.stdout_text(), job)[2] >= 2 or not proc.running(), 10,
                         what=f"two updates of netdata's haproxy charts ({job})")
    finally:
        proc.stop()
    charts, values, updates = netdata_parse(proc.stdout_text(), job)
    errors = [l for l in proc.stderr_text().splitlines() if " ERROR: " in l or "Traceback" in l]
    P.check(tool, not errors, f"its log has errors: {errors[:4]!r}")
    P.check(tool, updates >= 1, f"no haproxy chart update (its log: {proc.tail(6)!r})")
    P.check(tool, charts == NETDATA_CHARTS,
            f"charts missing {sorted(NETDATA_CHARTS - charts)}, unexpected {sorted(charts - NETDATA_CHARTS)}"
            + ("" if "health_idle" in charts else " (health_idle is /Idle_pct: N/ in `show info` on the socket; on the "
               "URL, /idle = N/ in the HTML page at the URL without its ;csv;norefresh)"))
    P.check_eq(tool, tuple(values.get(k) for k in ("hsup_be", "hsdown_be", "hbdown_be")), ("1", "1", "0"),
               "servers up, servers down, backend down (be)")
    P.check_eq(tool, (values.get("frontend_hrsp_2xx_fe"), values.get("backend_hrsp_2xx_be")),
               (str(REQUESTS), str(REQUESTS)), "2xx responses of fe, of be")
    if "health_idle" in charts:
        P.check(tool, re.fullmatch(r"[0-9]+", values.get("idle") or ""), f"idle (health_idle): {values.get('idle')!r}")
    log(f"{tool}: {len(charts)} charts, {updates} updates, {len(values)} values")


# --------------------------------------------------------------------------------------------

def main(h):
    t0 = time.monotonic()
    P = Problems()
    parts = []
    for part in NEEDS:
        miss, pkgs = missing_needs(part)
        if miss:
            P.skipped.append(part)
            log(f"[{part}] skipped: {', '.join(miss)} not installed (apt-get install {pkgs})")
        else:
            parts.append(part)
    if not parts:
        raise eslib.Skip("none of the tools is installed (scripts/setup.sh --test installs them)")

    origin = http_origin.start(h, name="origin")
    fe_port, stats_port, dead_port = eslib.free_port(), eslib.free_port(), eslib.free_port()
    sock = h.sock_path()
    cfg = (eslib.http_global(sock, nbthread=1) + "\n" +
           eslib.http_defaults(connect="1s", client="5s", server="5s") + "\n" +
           eslib.section("frontend fe", f"""
               bind {L}:{fe_port}
               default_backend be""") +
           eslib.section("backend be", f"""
               balance roundrobin
               server s1 {L}:{origin.port} check inter 500
               server s_down {L}:{dead_port} check inter 500""") +
           eslib.section("listen stats", f"""
               bind {L}:{stats_port}
               stats enable
               stats uri /stats"""))
    eslib.start_proxy(h, cfg, ports=[fe_port, stats_port], sock=sock)

    def states():
        rows = stat_rows(sock)
        return (rows.get(("be", "s1"), {}).get("status"), rows.get(("be", "s_down"), {}).get("status"))
    eslib.poll_until(lambda: states() == ("UP", "DOWN"), 10, what="s1 UP and s_down DOWN (show stat)")
    for i in range(REQUESTS):
        r = eslib.http_get(fe_port, f"/req/{i}")
        check_eq(r.status, 200, f"request {i} through fe")
    eslib.poll_until(lambda: eslib.num(stat_rows(sock).get(("fe", "FRONTEND"), {}).get("req_tot")) == REQUESTS, 3,
                     what=f"fe's req_tot = {REQUESTS}")
    be_iid = int(stat_rows(sock)[("be", "BACKEND")]["iid"])
    log(f"{REQUESTS} requests through fe, s_down DOWN; be is proxy id {be_iid}; tools: {parts}")
    csv_url = f"http://{L}:{stats_port}/stats;csv"

    # the long-running tools first: they warm up while the one-shot ones run
    tmux = exporters = None
    netdata = {}
    if "hatop" in parts:
        tmux = Tmux(h)
        h.servers.append(tmux)
        targets = []
        for t, extra in (("all", ""), ("be", " -p be")):
            err = h.path(f"hatop-{t}.stderr")
            P.run("hatop", tmux.window, t, f"exec {HATOP} -s {sock} -i 1{extra} 2>{err}")
            targets.append((t, err))
    if "exporter" in parts:
        exporters = []
        for form, uri in (("unix socket", f"unix:{sock}"), ("CSV URL", csv_url)):
            port = eslib.free_port()
            p = h.spawn([EXPORTER, f"--haproxy.scrape-uri={uri}", f"--web.listen-address={L}:{port}",
                         "--haproxy.timeout=5s"], f"exporter-{form.split()[0].lower()}")
            log(f"started prometheus-haproxy-exporter pid {p.pid} on {port}: {uri}")
            exporters.append((form, port, p))
    if "netdata" in parts:
        netdata["sock"] = netdata_start(h, "sock", f"socket: '{sock}'")
        netdata["web"] = netdata_start(h, "web", f"url: '{csv_url};norefresh'")

    if "munin" in parts:
        P.run("munin haproxy_", munin_haproxy, P, h, csv_url + ";norefresh", sock)
        P.run("munin haproxy_ng", munin_haproxy_ng, P, h, csv_url + ";norefresh")
    if "nagios" in parts:
        P.run("nagios", nagios_checks, P, h, sock, stats_port, "down")
    if "exporter" in parts:
        for form, port, p in exporters:
            P.run(f"exporter ({form})", exporter_check, P, form, port, p, sock)
            p.stop()
    if "hatop" in parts:
        P.run("hatop", hatop_screens, P, tmux, targets)
        tmux.stop()
        P.run("hatop", hatop_parsers, P, sock, be_iid)
    for job, p in netdata.items():
        P.run(f"netdata ({job})", netdata_check, P, job, p)

    if "nagios" in parts:
        ans = eslib.ctl_raw(sock, "disable server be/s_down")
        P.run("nagios", eslib.poll_until, lambda: states()[1] == "MAINT", 5,
              0.05, f"s_down in MAINT after `disable server be/s_down` (answer {ans.strip()!r})")
        P.run("nagios", nagios_checks, P, h, sock, stats_port, "maint")

    tools = sorted({t for t, _ in P.items})
    if P.items:
        listing = "\n".join(f"  - [{t}] {m}" for t, m in P.items)
        raise Failure(f"{len(P.items)} problem(s) with {', '.join(tools)} (peer {eslib.test_peer()}):\n{listing}")
    shown = {"hatop": "hatop screens (all, -p be)", "exporter": "exporter families (socket, URL)",
             "munin": "munin haproxy_/haproxy_ng config+fetch", "nagios": "nagios DOWN/ignored/MAINT",
             "netdata": "netdata charts (socket, URL)"}
    log(f"ops tools against {eslib.test_peer()}: {'; '.join(shown[p] for p in parts)} as HAProxy 2.6 gives them"
        + (f"; skipped {', '.join(P.skipped)}" if P.skipped else "") + f" ({time.monotonic() - t0:.1f}s)")


if __name__ == "__main__":
    eslib.run_http(main)
