#!/usr/bin/env python3
"""Access logs to a real syslog server over UDP: Debian's rsyslogd, started here with imudp on
127.0.0.1 (no other input module) and a template that writes facility, severity, app-name and
message of every datagram it receives. edgeshard has, in `global`, and uses through `log global`:
  - `log 127.0.0.1:<port> local0` (rfc3164, HAProxy's default for a network target),
  - `log udp@127.0.0.1:<port> format rfc5424 local1`,
  - `log 127.0.0.1:<port> local2 notice` (access logs are `info`: this target gets nothing),
  - `log 127.0.0.1:<port> len 100 local3` (header + line cut at 100 bytes);
with `option httplog`. After N requests rsyslog must hold exactly N lines for local0, local1 and
local3, each at severity info from app-name edgeshard, carrying the httplog line of its request
(frontend, backend/server, status 200, the quoted request line); none for local2; the local3 lines
are the local0 lines cut to what fits in 100 bytes with their rfc3164 header.
Skipped (77) only when rsyslogd is not installed (scripts/setup.sh --test installs it).
"""
import os
import re
import shutil
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib
import http_origin  # noqa: E402
import fixture  # noqa: E402
from eslib import Skip, check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
N = 5
HTTPLOG = re.compile(r'^(?P<ip>[0-9.]+):(?P<port>\d+) \[(?P<date>[^\]]+)\] (?P<fe>\S+) (?P<be>[^/\s]+)/(?P<srv>\S+) '
                     r'(?P<timers>\S+) (?P<status>\d{3}) (?P<bytes>\+?\d+) .* "(?P<req>[^"]*)"$')


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((L, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def start_rsyslog(h):
    exe = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if os.access("/usr/sbin/rsyslogd", os.X_OK) else None)
    if not exe:
        raise Skip("rsyslogd is not installed (apt-get install rsyslog; scripts/setup.sh --test does)")
    port = free_udp_port()
    work = h.path("rsyslog")
    os.makedirs(work, exist_ok=True)
    received = os.path.join(work, "received.log")
    conf = h.write("rsyslog.conf", f"""
        global(workDirectory="{work}")
        module(load="imudp")
        input(type="imudp" address="{L}" port="{port}")
        template(name="es" type="string"
                 string="%syslogfacility-text%|%syslogseverity-text%|%app-name%|%msg%\\n")
        *.* action(type="omfile" file="{received}" template="es")
        """)
    p = h.spawn([exe, "-n", "-f", conf, "-i", os.path.join(work, "rsyslogd.pid")], "rsyslogd")
    log(f"started rsyslogd pid {p.pid} on udp {L}:{port}")

    # ready when a probe datagram has gone all the way to the file
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def ready():
        if not p.running():
            raise eslib.Failure(f"rsyslogd exited with {p.popen.returncode}:\n{p.tail(30)}")
        probe.sendto(b"<13>probe: ready", (L, port))
        return "ready" in read_lines(received, raw=True) or None

    eslib.poll_until(ready, 10, interval=0.2, what="rsyslogd to receive a probe datagram")
    probe.close()
    return port, received


def read_lines(path, raw=False):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return "" if raw else []
    if raw:
        return text
    out = []
    for line in text.splitlines():
        parts = line.split("|", 3)
        if len(parts) == 4 and parts[2] != "probe":
            fac, sev, app, msg = parts
            out.append((fac, sev, app, msg.strip()))
    return out


def main(h):
    port, received = start_rsyslog(h)
    px = fixture.proxy_to_origin(h, fe="fe_syslog", fe_lines="log global\noption httplog", global_lines=f"""
        log {L}:{port} local0
        log udp@{L}:{port} format rfc5424 local1
        log {L}:{port} local2 notice
        log {L}:{port} len 100 local3""")
    p_http, es = px.fe, px.proxy
    app = "edgeshard" if eslib.on_edgeshard() else "haproxy"

    targets = [f"/syslog/{i}?n={i}" for i in range(N)]
    for t in targets:
        r = eslib.http_get(p_http, t)
        check_eq(r.status, 200, f"GET {t} through edgeshard ({r.brief()})")

    def by_facility():
        got = {}
        for fac, sev, a, msg in read_lines(received):
            got.setdefault(fac, []).append((sev, a, msg))
        return got

    def enough():
        got = by_facility()
        return got if all(len(got.get(f, [])) >= N for f in ("local0", "local1", "local3")) else None

    # All four targets share one socket (same address), and each record's datagrams leave in the order
    # of its targets: once the last local3 line is in, a local2 line, had one been sent, would be too.
    got = eslib.poll_until(enough, 10, interval=0.1, what=f"{N} lines each for local0, local1 and local3 at rsyslog")
    log(f"rsyslog received: { {f: len(v) for f, v in got.items()} }")
    check_eq(sorted(got), ["local0", "local1", "local3"], "facilities rsyslog received (local2 is 'notice': none)")

    full = {}
    for fac in ("local0", "local1"):
        lines = got[fac]
        check_eq(len(lines), N, f"{fac} lines at rsyslog for {N} requests: {lines}")
        for sev, a, msg in lines:
            check_eq((sev, a), ("info", app), f"{fac} severity and app-name of {msg!r}")
            m = HTTPLOG.match(msg)
            check(m, f"{fac} line does not have HAProxy's httplog layout: {msg!r}")
            check_eq((m["fe"], m["be"], m["srv"], int(m["status"])), ("fe_syslog", "be", "s1", 200),
                     f"{fac} httplog fields of {msg!r}")
            if fac == "local0":
                full[m["req"]] = msg
        reqs = sorted(HTTPLOG.match(msg)["req"] for _, _, msg in lines)
        check_eq(reqs, sorted(f"GET {t} HTTP/1.1" for t in targets), f"{fac} request lines")
    log(f"local0 (rfc3164): {got['local0'][0][2]}")

    # len 100: "<158>Mmm dd hh:mm:ss tag[pid]: " + the line, cut at 100 bytes in all
    header = len("<158>") + len("Dec  6 00:27:48") + 1 + len(f"{app}[{es.pid}]: ")
    want_len = 100 - header
    cut = got["local3"]
    check_eq(len(cut), N, f"local3 lines at rsyslog: {cut}")
    for sev, a, msg in cut:
        check_eq((sev, a), ("info", app), f"local3 severity and app-name of {msg!r}")
        check_eq(len(msg), want_len, f"local3 line length with 'len 100' ({msg!r})")
        check(any(f.startswith(msg) for f in full.values()), f"local3 line {msg!r} is not the start of a local0 line")
    log(f"local3 (len 100): {cut[0][2]!r}")
    server_events(h, port, received, app)


def server_events(h, port, received, app):
    """A backend's `log` line takes its servers' state changes (HAProxy's send_log): a server that
    goes DOWN is an alert, a backend left without a server an emergency, a drain a notice; a
    target at level 'notice' gets them all, one at 'alert' the first two."""
    origin = http_origin.start(h, name="ev")
    sock = h.sock_path()
    fport = eslib.free_port()
    cfg = (eslib.http_global(sock)
           + eslib.http_defaults()
           + eslib.section("frontend fe_ev", f"bind {L}:{fport}\ndefault_backend be_ev")
           + eslib.section("backend be_ev", f"""
                log {L}:{port} local4 notice
                log {L}:{port} local5 alert
                server s1 {L}:{origin.port} check inter 100 rise 1 fall 1
                server s2 {L}:{eslib.free_port()} check inter 100 rise 1 fall 1 disabled"""))
    es = eslib.start_proxy(h, cfg, ports=[fport], sock=sock, name="events")
    check_eq(es.ctl("set server be_ev/s1 state drain"), "\n", "set server be_ev/s1 state drain")
    check_eq(es.ctl("set server be_ev/s1 state ready"), "\n", "set server be_ev/s1 state ready")
    origin.stop()

    def events():
        got = [(f, sev, msg) for f, sev, a, msg in read_lines(received) if f in ("local4", "local5")]
        return got if any(msg.startswith("Server be_ev/s1 is DOWN") for _, _, msg in got) else None

    got = eslib.poll_until(events, 10, interval=0.1, what="server events at rsyslog (local4, local5)")
    log(f"server events: {got}")
    l4 = [(sev, msg) for f, sev, msg in got if f == "local4"]
    check(any(sev == "notice" and msg.startswith("Server be_ev/s1 enters drain state") for sev, msg in l4),
          f"the drain at local4 (notice): {l4}")
    check(any(sev == "alert" and msg.startswith("Server be_ev/s1 is DOWN, reason: Layer4 connection problem")
              for sev, msg in l4), f"the DOWN line at local4 (alert): {l4}")
    # the drain left the backend without a server, and so did the DOWN: HAProxy says so at "emerg"
    # (quoted on stderr, bare in the logs)
    none_left = ("emerg", "backend be_ev has no server available!")
    check(l4.count(none_left) >= 1, f"'no server available' at local4 (emerg): {l4}")
    l5 = [(sev, msg) for f, sev, msg in got if f == "local5"]
    check(l5 and all(e == none_left or (e[0] == "alert" and e[1].startswith("Server be_ev/s1 is DOWN")) for e in l5),
          f"local5 (level alert) gets the DOWN line and the emergencies alone: {l5}")
    check("backend 'be_ev' has no server available!" in es.stderr_text(), "the alert on stderr")


if __name__ == "__main__":
    eslib.run_http(main)
