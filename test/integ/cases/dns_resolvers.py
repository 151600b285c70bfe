#!/usr/bin/env python3
"""Runtime DNS resolution of server addresses (`resolvers` section, `server ... resolvers`,
`server-template`, SRV records, the `show resolvers` / `set server addr|fqdn` commands), as HAProxy
2.6 does it (the same file runs through HAProxy with ES_TEST_PEER=haproxy; every value asserted is
what 2.6.12 does; src/dns/README.md sums up what was read off it).

The test runs its own DNS server: dnsmasq on 127.0.0.1 at a free port, names under `svc.test`
from a hosts file (`--addn-hosts`, re-read on SIGHUP: that is how A records change), SRV records
from `--srv-host` (changed by restarting dnsmasq on the same port), `--local=/svc.test/` so that
a missing name is NXDOMAIN (without it dnsmasq answers REFUSED). Three HTTP/1.1 origins o2, o3, o4
listen on 127.0.0.2, 127.0.0.3 and 127.0.0.4 with the SAME port (each answers `X-Server: oN` and
the body `oN`), so only the DNS answer decides where a request goes; o4q is 127.0.0.4 on a second
port (only an SRV record names that port). Resolution settings: hold valid/nx/obsolete... 1s,
timeout resolve/retry 1s, so a change shows within ~1-3 s.
  1. app.svc.test 127.0.0.2 -> 127.0.0.3 while requests flow (a keep-alive connection and new
     connections alternately, one request every ~20 ms): no request fails; new connections go to
     o3 within a few seconds (HAProxy: ~0.7-1.7 s) and never back to o2; `show stat` addr and
     `show servers state` srv_addr/srv_fqdn before and after; the log line "be/s1 changed its IP
     from 127.0.0.2 to 127.0.0.3 by dns/ns1.". Only the first request of a client connection is
     checked: HAProxy 2.6 keeps using server connections opened before the change (the running
     keep-alive connection stays on o2, and its server connection, once pooled, serves later
     keep-alive requests), which an implementation may or may not copy.
  1b. Under load: wrk (8 connections, 10 s, `Connection: close`) while load.svc.test flips
     .2 -> .3 -> .2 -> .3: no socket error, no non-2xx, both addresses serve, and once the last
     change shows in `show stat` the old origin gets at most the connections already in flight.
  2. NX: the name removed -> "MAINT (resolution)" after ~hold nx (HAProxy: ~2.5 s), no address,
     clients get 503, the log lines "Server be/s1 is going DOWN for maintenance (DNS NX status).
     ..." and "backend be has no server available!"; put back -> "no check" with the address,
     200 again, "Server be/s1 ('app.svc.test') is UP/READY (resolves again).".
  3. `server-template web 3 pool.svc.test:P`, 2 A records: two slots take the two addresses, the
     third stays "MAINT (resolution)" without address; round robin over both; a 3rd A record
     fills the 3rd slot; removing one puts its slot back in maintenance ("No IP for server ");
     a slot keeps its address while it is still in the answer. Two plain servers on one name with
     one A record: one gets it, the other stays in maintenance (no duplicate IP within a backend)
     unless `resolve-opts allow-dup-ip`.
  4. `server-template srv 3 _http._tcp.svc.test` (no port): address AND port from the SRV
     records, srv_fqdn = the SRV target; a target removed from the SRV set -> its slot goes to
     maintenance ("entry removed from SRV record"); a new target without an A record -> a slot
     named after it (srv_fqdn, srv_port) but in maintenance until the name resolves.
  5. CLI: `show resolvers [dns]` format and counters; `set server be/s1 addr IP port P` (answer
     text; the address holds while DNS keeps answering the record the server was using, and
     follows DNS once the answer changes); `set server be/s1 fqdn NAME` (answer; traffic follows
     NAME and NAME's later changes); the error answers (fqdn without resolvers, on an SRV server,
     bad address, bad port, unknown backend/server).
  6. The nameserver stops (dnsmasq killed): after the retries (HAProxy: ~4 s) the server goes to
     "MAINT (resolution)", log "... (DNS timeout status). ..."; dnsmasq back -> serving again.
  7. `-c` refuses: `resolvers nosuch` on a server, an unknown keyword in `resolvers`,
     `nameserver` without address (HAProxy's words are logged; checks: refused, and the message
     names the line where HAProxy's does, or the missing section's name).
Bounded: every wait polls against a deadline; dnsmasq, HAProxy/edgeshard and the origins are
stopped by PID at the end by the harness. ~23 s against HAProxy.
"""
import os
import random
import re
import shutil
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
sys.path.append("/work/main/test/integ/lib")  # fallback: run from outside test/integ/cases
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
IP2, IP3, IP4 = "127.0.0.2", "127.0.0.3", "127.0.0.4"
ORIGIN_OF = {IP2: "o2", IP3: "o3", IP4: "o4"}
SRV = "_http._tcp.svc.test"
CLI = "'stats socket command'"
RESOLVERS = """
    nameserver ns1 127.0.0.1:{port}
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 1s
    hold nx 1s
    hold other 1s
    hold refused 1s
    hold timeout 1s
    hold obsolete 1s
    accepted_payload_size 8192
"""
COUNTERS = ["sent", "snd_error", "valid", "update", "cname", "cname_error", "any_err", "nx",
            "timeout", "refused", "other", "invalid", "too_big", "truncated", "outdated"]


# --------------------------------------------------------------------------------------------
# A minimal DNS client (to know when dnsmasq serves the new records) and dnsmasq itself
# --------------------------------------------------------------------------------------------

def _read_name(msg, off):
    labels = []
    jumped = False
    end = off
    for _ in range(128):
        n = msg[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            ptr = ((n & 0x3F) << 8) | msg[off + 1]
            if not jumped:
                end = off + 2
            jumped = True
            off = ptr
            continue
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels), (end if jumped else off)


def dns_query(port, name, qtype, timeout=0.5):
    """(rcode, [answers]) from 127.0.0.1:port over UDP, or None if no answer. A answers are
    'a.b.c.d', SRV answers (priority, weight, port, target)."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (L, port))
        msg = s.recv(4096)
    except OSError:
        return None
    finally:
        s.close()
    rid, flags, qd, an, _, _ = struct.unpack_from(">HHHHHH", msg, 0)
    if rid != qid:
        return None
    off = 12
    for _ in range(qd):
        _, off = _read_name(msg, off)
        off += 4
    out = []
    for _ in range(an):
        _, off = _read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack_from(">HHIH", msg, off)
        off += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(msg[off:off + 4]))
        elif rtype == 33:
            pr, w, p = struct.unpack_from(">HHH", msg, off)
            out.append((pr, w, p, _read_name(msg, off + 6)[0]))
        off += rdlen
    return flags & 0xF, out


def dnsmasq_bin():
    return os.environ.get("ES_DNSMASQ_BIN") or shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Dns:
    """dnsmasq on 127.0.0.1:port serving `records` ({name: [ipv4...]}) from a hosts file and
    `srv` ([(service, target, port)]) as SRV records. Stopped by the harness (by PID)."""

    def __init__(self, h, records, srv):
        self.h = h
        self.exe = dnsmasq_bin()
        if not os.access(self.exe, os.X_OK):
            raise eslib.Skip("dnsmasq is not installed (needed as the test's DNS server)")
        self.port = self._free_udp_tcp_port()
        self.hosts = h.path("dns.hosts")
        self.records = {k: list(v) for k, v in records.items()}
        self.srv = list(srv)
        self.proc = None
        self.n = 0
        self._write_hosts()
        self.start()

    @staticmethod
    def _free_udp_tcp_port():
        for _ in range(50):
            p = eslib.free_port()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind((L, p))
                return p
            except OSError:
                continue
            finally:
                u.close()
        raise eslib.Failure("no free UDP+TCP port for dnsmasq")

    def _write_hosts(self):
        tmp = self.hosts + ".tmp"
        with open(tmp, "w") as f:
            for name, ips in self.records.items():
                for ip in ips:
                    f.write(f"{ip} {name}\n")
        os.rename(tmp, self.hosts)

    def start(self):
        self.n += 1
        argv = [self.exe, "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--addn-hosts={self.hosts}",
                f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--conf-file=/dev/null", "--pid-file=", "--log-queries", "--log-facility=-",
                "--local=/svc.test/", "--local-ttl=1"]
        if os.geteuid() == 0:
            argv.append("--user=root")  # else it drops to nobody, who cannot re-read the hosts file
        for service, target, port in self.srv:
            argv.append(f"--srv-host={service},{target},{port},10,10")
        self.proc = self.h.spawn(argv, f"dnsmasq{self.n}")
        log(f"started dnsmasq pid {self.proc.pid} on 127.0.0.1:{self.port} (udp+tcp)")

        def ready():
            if not self.proc.running():
                raise eslib.Failure(f"dnsmasq exited: {self.proc.stderr_text()[-800:]}")
            return dns_query(self.port, "ready.probe.svc.test", 1, 0.2) is not None

        eslib.poll_until(ready, 5, interval=0.05, what="dnsmasq to answer")

    def restart(self, srv):
        """New SRV records: dnsmasq stopped and started again on the same port."""
        self.srv = list(srv)
        self.proc.stop(timeout=3)
        self.start()
        self.wait_srv()

    def update(self, name, ips):
        """Sets the A records of `name` ([] removes it: NXDOMAIN), SIGHUP, and waits until
        dnsmasq answers the new set. Returns the time (monotonic) it does."""
        if ips:
            self.records[name] = list(ips)
        else:
            self.records.pop(name, None)
        self._write_hosts()
        self.proc.send_signal(signal.SIGHUP)
        return self.wait_a(name, ips)

    def wait_a(self, name, ips):
        def ok():
            r = dns_query(self.port, name, 1)
            if r is None:
                return False
            if not ips:
                return r[0] == 3
            return r[0] == 0 and sorted(r[1]) == sorted(ips)

        eslib.poll_until(ok, 5, interval=0.05, what=f"dnsmasq to answer {name} -> {ips or 'NXDOMAIN'}")
        return time.monotonic()

    def wait_srv(self):
        want = sorted((10, 10, p, t) for _, t, p in self.srv)
        eslib.poll_until(lambda: (dns_query(self.port, SRV, 33) or (0, []))[1] and
                         sorted((dns_query(self.port, SRV, 33) or (0, []))[1]) == want, 5,
                         interval=0.05, what=f"dnsmasq to answer the SRV records {want}")

    def queries_for(self, name):
        """dnsmasq's log lines about `name` (all its processes so far)."""
        out = []
        for p in self.h.procs:
            if p.name.startswith("dnsmasq"):
                out += [ln.split(": ", 1)[-1] for ln in (p.stderr_text() + p.stdout_text()).splitlines()
                        if f" {name} " in ln + " "]
        return out


# --------------------------------------------------------------------------------------------
# Origins and clients
# --------------------------------------------------------------------------------------------

def origin_handler(name):
    def handle(c, idx, srv):
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            close = b"\r\nconnection: close" in head.lower()
            body = name.encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nX-Server: " + body + b"\r\nContent-Length: %d\r\n" % len(body)
                      + (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)
            if close:
                return
    return handle


def start_origins(h):
    """o2/o3/o4 on 127.0.0.2-4 at one common port P, o4q on 127.0.0.4:Q; returns P, Q and the
    servers by name."""
    for _ in range(20):
        p = eslib.free_port()
        started = []
        named = {}
        try:
            for ip in (IP2, IP3, IP4):
                started.append(h.threaded_server(origin_handler(ORIGIN_OF[ip]), host=ip, port=p,
                                                 name=ORIGIN_OF[ip], conn_timeout=30))
                named[ORIGIN_OF[ip]] = started[-1]
        except OSError:
            for s in started:
                s.stop()
            continue
        q = eslib.free_port()
        h.threaded_server(origin_handler("o4q"), host=IP4, port=q, name="o4q", conn_timeout=30)
        return p, q, named
    raise eslib.Failure("could not bind the origins on 127.0.0.2-4 with one port")


def who(port, path="/"):
    """(status, X-Server) of one request on a new connection."""
    r = eslib.http_get(port, path, timeout=5)
    return r.status, r.header("x-server")


def spread(port, n):
    """{X-Server: count} over n requests, each on a new connection; all must be 200."""
    got = {}
    for i in range(n):
        st, srv = who(port, f"/spread{i}")
        check_eq(st, 200, f"request {i} through port {port}")
        got[srv] = got.get(srv, 0) + 1
    return got


def balanced(got):
    """Round robin: the counts differ by at most one."""
    return max(got.values()) - min(got.values()) <= 1


class Traffic:
    """A client loop: one request every `interval` s, alternating a keep-alive connection and a
    new connection per request; records (t, kind, status, server, error). Bounded by `limit`."""

    def __init__(self, port, interval=0.02, limit=2000):
        self.port = port
        self.interval = interval
        self.limit = limit
        self.res = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        ka = None
        for i in range(self.limit):
            if self.stop_ev.is_set():
                break
            kind = "ka" if i % 2 == 0 else "new"
            t = time.monotonic()
            try:
                if kind == "ka":
                    if ka is None:
                        ka = eslib.HttpClient(self.port, timeout=3)
                    r = ka.request("GET", f"/t{i}", timeout=3)
                    if (r.header("connection") or "").lower() == "close":
                        ka.close()
                        ka = None
                else:
                    r = eslib.http_get(self.port, f"/t{i}", timeout=3)
                rec = (t, kind, r.status, r.header("x-server"), None)
            except (eslib.Failure, OSError) as e:
                rec = (t, kind, None, None, str(e)[:200])
                if ka is not None:
                    ka.close()
                    ka = None
            with self.lock:
                self.res.append(rec)
            self.stop_ev.wait(self.interval)
        if ka is not None:
            ka.close()

    def snapshot(self):
        with self.lock:
            return list(self.res)

    def last(self, kind, n):
        return [r for r in self.snapshot() if r[1] == kind][-n:]

    def stable_on(self, server, n=8, kinds=("ka", "new")):
        """The last n results of each kind are all 200 from `server`."""
        for kind in kinds:
            lst = self.last(kind, n)
            if len(lst) < n or any(r[2] != 200 or r[3] != server for r in lst):
                return False
        return True

    def stop(self):
        self.stop_ev.set()
        self.t.join(10)
        check(not self.t.is_alive(), "the client loop did not stop")


# --------------------------------------------------------------------------------------------
# Control socket views
# --------------------------------------------------------------------------------------------

def stat_csv(es):
    """`show stat` (CSV) -> {(pxname, svname): (row dict, raw line)}."""
    lines = es.ctl("show stat").splitlines()
    check(lines and lines[0].startswith("# "), f"show stat header: {lines[:1]!r}")
    hdr = lines[0][2:].split(",")
    out = {}
    for ln in lines[1:]:
        if ln.strip():
            v = ln.split(",")
            out[(v[0], v[1])] = (dict(zip(hdr, v)), ln)
    return out


def srv_stat(es, be, sv):
    row = stat_csv(es).get((be, sv))
    check(row is not None, f"show stat has no row {be}/{sv}")
    return row[0]


def servers_state(es, be):
    """`show servers state <be>` -> ({srv_name: row dict}, raw text)."""
    text = es.ctl(f"show servers state {be}")
    lines = text.splitlines()
    check(len(lines) >= 2 and lines[0] == "1" and lines[1].startswith("# be_id"),
          f"show servers state format: {text[:300]!r}")
    hdr = lines[1][2:].split()
    rows = {}
    for ln in lines[2:]:
        if ln.strip():
            v = ln.split()
            rows[v[3]] = dict(zip(hdr, v))
    return rows, text


def st_addr(es, be, sv):
    r = srv_stat(es, be, sv)
    return r["status"], r["addr"]


def wait_state(es, be, sv, want, timeout, what):
    """Polls `show stat` until (status, addr) of be/sv == want; returns seconds waited."""
    t0 = time.monotonic()
    eslib.poll_until(lambda: st_addr(es, be, sv) == want, timeout, interval=0.05,
                     what=f"{what}: {be}/{sv} (status, addr) == {want} (now {st_addr(es, be, sv)})")
    return time.monotonic() - t0


def log_rows(es, be, title):
    rows = stat_csv(es)
    log(f"{title}: show stat rows of {be}:")
    for (px, sv), (_, raw) in rows.items():
        if px == be:
            log(f"    {raw}")
    _, text = servers_state(es, be)
    log(f"{title}: show servers state {be}:")
    for ln in text.splitlines():
        if ln.strip():
            log(f"    {ln}")


def log_after(ulog, mark, needle, timeout=3.0):
    """The first syslog message holding `needle` among those received after the first `mark`."""
    return eslib.poll_until(lambda: [x for x in ulog.lines[mark:] if needle in x], timeout, interval=0.05,
                            what=f"a log line with {needle!r} (got {ulog.lines[mark:][-5:]!r})")[0]


def ctl_answer(es, cmd, expected, what):
    """HAProxy ends each answer with a line, then the empty line that ends any CLI answer
    ("...\n\n"); the text is compared without the trailing newlines."""
    ans = es.ctl(cmd)
    log(f"`{cmd}` -> {ans!r}")
    check(ans.endswith("\n"), f"{what}: the answer ends with a newline: {ans!r}")
    check_eq(ans.rstrip("\n"), expected.rstrip("\n"), what)
    return ans


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------

def s1_dns_change(c):
    es, dns, P, fe, ulog = c["es"], c["dns"], c["P"], c["fe"], c["ulog"]
    log("== 1. app.svc.test 127.0.0.2 -> 127.0.0.3 while requests flow")
    wait_state(es, "be", "s1", ("no check", f"{IP2}:{P}"), 8, "first resolution")
    log_rows(es, "be", "before")
    rows, _ = servers_state(es, "be")
    check_eq((rows["s1"]["srv_addr"], rows["s1"]["srv_fqdn"], rows["s1"]["srv_port"]),
             (IP2, "app.svc.test", str(P)), "show servers state be/s1 before")
    tr = Traffic(fe["app"])
    try:
        eslib.poll_until(lambda: tr.stable_on("o2", 5), 5, what="traffic flowing to o2 first")
        mark = len(ulog.lines)
        t_dns = dns.update("app.svc.test", [IP3])
        try:
            eslib.poll_until(lambda: tr.stable_on("o3", 10, kinds=("new",)), 10, interval=0.05,
                             what="every request on a new connection to go to o3")
        finally:
            for k in ("ka", "new"):
                log(f"last {k}: {[(round(r[0] - t_dns, 2),) + r[2:] for r in tr.last(k, 6)]}")
        # HAProxy 2.6: a client keep-alive connection keeps its server connection to the old
        # address (it is not closed by the change); give it 1 s more and record what it does
        time.sleep(1.0)
    finally:
        tr.stop()
    res = tr.snapshot()
    fails = [r for r in res if r[2] != 200]
    after = [r for r in res if r[0] >= t_dns]
    first_o3 = {k: next((r[0] - t_dns for r in after if r[1] == k and r[3] == "o3"), None) for k in ("ka", "new")}
    last_o2 = {k: max([r[0] - t_dns for r in after if r[1] == k and r[3] == "o2"], default=None) for k in ("ka", "new")}
    ka_after = [r[3] for r in after if r[1] == "ka"]
    log(f"{len(res)} requests ({len(after)} after the DNS change), {len(fails)} failed; after the change: "
        f"first o3 at {first_o3} s, last o2 at {last_o2} s (keep-alive 'ka' / new connection 'new'); "
        f"the keep-alive connection got {ka_after.count('o2')} x o2 then {ka_after.count('o3')} x o3")
    check_eq(fails, [], "requests that failed while the address changed")
    check(first_o3["new"] is not None and first_o3["new"] <= 6.0,
          f"new connections go to the new address within 6 s of the DNS change (first o3 at {first_o3['new']})")
    # once a request on a new connection went to o3, no later one goes back to o2
    seq = [r[3] for r in after if r[1] == "new"]
    check("o2" not in seq[seq.index("o3"):], f"new connections: no request back to o2 after the switch: {seq}")
    # HAProxy 2.6 keeps using server connections opened before the change: the old keep-alive
    # connection above stays on o2, and once it is closed its server connection goes to the idle
    # pool, where later keep-alive requests reuse it (o2 again). Only the first request of a new
    # client connection is sure to use the new address: that is what is checked.
    kc = eslib.HttpClient(fe["app"], timeout=5)
    try:
        ka_new = [kc.request("GET", f"/ka{i}", timeout=5).header("x-server") for i in range(5)]
    finally:
        kc.close()
    log(f"a new keep-alive connection after the change, 5 requests: {ka_new}")
    check_eq(ka_new[0], "o3", "first request of a new keep-alive connection after the change")
    check_eq(st_addr(es, "be", "s1"), ("no check", f"{IP3}:{P}"), "show stat be/s1 after")
    rows, _ = servers_state(es, "be")
    check_eq((rows["s1"]["srv_addr"], rows["s1"]["srv_fqdn"]), (IP3, "app.svc.test"),
             "show servers state be/s1 after")
    log_rows(es, "be", "after")
    line = log_after(ulog, mark, "be/s1 changed its IP from 127.0.0.2")
    log(f"log: {line!r}")
    check_eq(line, "be/s1 changed its IP from 127.0.0.2 to 127.0.0.3 by dns/ns1.", "the address-change log line")


def s1b_under_load(c, h):
    """wrk (8 connections, `Connection: close`: every request picks the server's address anew) while
    load.svc.test flips 127.0.0.2 -> .3 -> .2 -> .3: no error, every address serves, and once the
    last change shows in `show stat` the old origin gets nothing more (but the connections already
    being opened: at most one per wrk connection)."""
    es, dns, P, fe = c["es"], c["dns"], c["P"], c["fe"]
    log("== 1b. load.svc.test flips three times under wrk")
    wrk = eslib.require_tool("wrk")
    wait_state(es, "bload", "s1", ("no check", f"{IP2}:{P}"), 8, "first resolution of load.svc.test")
    acc = lambda: {n: s.accepts for n, s in c["origins"].items()}  # noqa: E731
    a0 = acc()
    p = h.spawn([wrk, "-t1", "-c8", "-d10s", "--timeout", "3s", "-H", "Connection: close",
                 f"http://{L}:{fe['load']}/"], "wrk_load")
    flips = []
    for ip in (IP3, IP2, IP3):
        time.sleep(0.7)
        t_dns = dns.update("load.svc.test", [ip])
        waited = wait_state(es, "bload", "s1", ("no check", f"{ip}:{P}"), 8, f"load.svc.test -> {ip}")
        flips.append((ip, round(waited, 2)))
        log(f"load.svc.test -> {ip}: in show stat {time.monotonic() - t_dns:.2f} s after dnsmasq answered it")
    a_last = acc()
    check(p.wait(20) is not None, "wrk ended")
    out = open(p.out_path).read()
    a1 = acc()
    log(f"wrk:\n{out}")
    mreq = re.search(r"(\d+) requests in", out)
    check(mreq is not None, f"wrk's request count: {out!r}")
    done = int(mreq.group(1))
    check("Socket errors" not in out, f"no socket error under the DNS changes:\n{out}")
    check("Non-2xx" not in out, f"no non-2xx response under the DNS changes:\n{out}")
    got = {n: a1[n] - a0[n] for n in a1}
    log(f"{done} requests, origin connections {got}; after the last change showed: "
        f"{ {n: a1[n] - a_last[n] for n in a1} }")
    check(done >= 200, f"wrk completed {done} requests in 10 s")
    check(got["o2"] > 0 and got["o3"] > 0, f"both addresses served in turn: {got}")
    check(a1["o3"] - a_last["o3"] > 0, "wrk still ran after the last change (it is what is checked)")
    check(a1["o2"] - a_last["o2"] <= 8, f"once .3 showed, o2 got at most the 8 connections in flight: "
          f"{a1['o2'] - a_last['o2']}")


def s2_nx(c):
    es, dns, P, fe, ulog = c["es"], c["dns"], c["P"], c["fe"], c["ulog"]
    log("== 2. NXDOMAIN: app.svc.test removed, then put back")
    mark = len(ulog.lines)
    t_dns = dns.update("app.svc.test", [])
    ok_before = 0
    dl = eslib.Deadline(8)
    for _ in range(1000):  # requests keep working until the server is put in maintenance
        st, _ = who(fe["app"])
        if st != 200 or dl.expired():
            break
        ok_before += 1
        time.sleep(0.05)
    wait_state(es, "be", "s1", ("MAINT (resolution)", ""), 8, "NX -> maintenance")
    secs = time.monotonic() - t_dns
    log(f"NX: s1 in MAINT (resolution) {secs:.2f} s after dnsmasq answered NXDOMAIN; "
        f"{ok_before} requests got 200 meanwhile")
    check(secs >= 0.5, f"the server is kept at least ~hold nx (1s) after the last valid answer ({secs:.2f} s)")
    log_rows(es, "be", "NX")
    rows, _ = servers_state(es, "be")
    check_eq((rows["s1"]["srv_addr"], rows["s1"]["srv_op_state"], rows["s1"]["srv_admin_state"],
              rows["s1"]["srv_fqdn"]), ("-", "0", "32", "app.svc.test"), "show servers state be/s1 in NX maintenance")
    r = eslib.http_get(fe["app"], "/nx", timeout=5)
    log(f"client during NX: {r.status} {r.reason!r} headers {r.headers!r} body {r.body!r}")
    check_eq(r.status, 503, "a request while the only server is in DNS maintenance")
    down = log_after(ulog, mark, "Server be/s1 is going DOWN")
    log(f"log: {down!r}")
    check(down.startswith("Server be/s1 is going DOWN for maintenance (DNS NX status). "
                          "0 active and 0 backup servers left."), f"the NX log line: {down!r}")
    none = log_after(ulog, mark, "backend be has no server")
    log(f"log: {none!r}")
    check_eq(none, "backend be has no server available!", "the no-server log line")
    stderr = c["es"].stderr_text()
    log("stderr: " + repr([ln for ln in stderr.splitlines() if "be/s1" in ln or "backend 'be'" in ln][-3:]))

    mark = len(ulog.lines)
    t_dns = dns.update("app.svc.test", [IP3])
    secs = wait_state(es, "be", "s1", ("no check", f"{IP3}:{P}"), 8, "name back")
    log(f"name back: s1 serving again {secs:.2f} s after dnsmasq answered it")
    st, srv = who(fe["app"], "/back")
    check_eq((st, srv), (200, "o3"), "a request once the name resolves again")
    for needle, want in (("be/s1 changed its IP from (none)", "be/s1 changed its IP from (none) to 127.0.0.3 by dns/ns1."),
                         ("Server be/s1 ('app.svc.test') is UP",
                          "Server be/s1 ('app.svc.test') is UP/READY (resolves again)."),
                         ("Server be/s1 administratively READY",
                          "Server be/s1 administratively READY thanks to valid DNS answer.")):
        line = log_after(ulog, mark, needle)
        log(f"log: {line!r}")
        check_eq(line, want, "log line when the name resolves again")
    log_rows(es, "be", "name back")


def template_addrs(es, be, names, P):
    rows = stat_csv(es)
    out = {}
    for n in names:
        r = rows[(be, n)][0]
        out[n] = (r["status"], r["addr"])
    return out


def s3_template(c):
    es, dns, P, fe, ulog = c["es"], c["dns"], c["P"], c["fe"], c["ulog"]
    log("== 3. server-template web 3 pool.svc.test: 2 then 3 then 2 A records")
    names = ["web1", "web2", "web3"]
    up = lambda ip: ("no check", f"{ip}:{P}")  # noqa: E731
    maint = ("MAINT (resolution)", "")

    def multiset(want):
        return lambda: sorted(template_addrs(es, "bt", names, P).values()) == sorted(want)

    want = [up(IP2), up(IP3), maint]
    eslib.poll_until(multiset(want), 8, interval=0.05, what=f"bt slots to be {want}")
    m0 = template_addrs(es, "bt", names, P)
    log(f"2 A records: {m0}")
    log_rows(es, "bt", "2 A records")
    rows, _ = servers_state(es, "bt")
    for n in names:
        check_eq(rows[n]["srv_fqdn"], "pool.svc.test", f"{n} srv_fqdn")
        check_eq(rows[n]["srv_addr"], m0[n][1].split(":")[0] if m0[n][1] else "-", f"{n} srv_addr")
    got = spread(fe["pool"], 12)
    log(f"12 requests: {got}")
    check_eq(sorted(got), ["o2", "o3"], "the origins serving the template backend")
    check(balanced(got), f"round robin over both addresses: {got}")

    t_dns = dns.update("pool.svc.test", [IP2, IP3, IP4])
    eslib.poll_until(multiset([up(IP2), up(IP3), up(IP4)]), 8, interval=0.05, what="the 3rd slot filled")
    log(f"3rd A record: slots filled {time.monotonic() - t_dns:.2f} s after the change")
    m1 = template_addrs(es, "bt", names, P)
    log(f"3 A records: {m1}")
    for n in names:
        if m0[n] != maint:
            check_eq(m1[n], m0[n], f"{n} keeps its address while it is still in the answer")
    got = spread(fe["pool"], 12)
    log(f"12 requests: {got}")
    check_eq(sorted(got), ["o2", "o3", "o4"], "the origins serving the template backend")
    check(balanced(got), f"round robin over 3 addresses: {got}")

    mark = len(ulog.lines)
    t_dns = dns.update("pool.svc.test", [IP3, IP4])
    eslib.poll_until(multiset([maint, up(IP3), up(IP4)]), 8, interval=0.05, what="the slot of 127.0.0.2 back in maintenance")
    log(f"127.0.0.2 removed: its slot in maintenance {time.monotonic() - t_dns:.2f} s after the change")
    m2 = template_addrs(es, "bt", names, P)
    log(f"A records .3 .4: {m2}")
    for n in names:
        want_n = maint if m1[n] == up(IP2) else m1[n]
        check_eq(m2[n], want_n, f"{n} after 127.0.0.2 left the answer")
    log_rows(es, "bt", "A records .3 .4")
    lost = next(n for n in names if m1[n] == up(IP2))
    line = log_after(ulog, mark, f"Server bt/{lost} is going DOWN")
    log(f"log: {line!r}")
    check(line.startswith(f"Server bt/{lost} is going DOWN for maintenance (No IP for server ). "
                          "2 active and 0 backup servers left."), f"the log line of the emptied slot: {line!r}")
    got = spread(fe["pool"], 8)
    log(f"8 requests: {got}")
    check_eq(sorted(got), ["o3", "o4"], "the origins serving the template backend")
    check(balanced(got), f"round robin over the 2 remaining addresses: {got}")

    log("== 3b. two servers, one name, one A record (pair.svc.test)")
    pair = template_addrs(es, "bpair", ["p1", "p2"], P)
    log(f"bpair (no resolve-opts): {pair}")
    check_eq(sorted(pair.values()), sorted([up(IP2), maint]),
             "without allow-dup-ip one server gets the address, the other stays in maintenance")
    dup = template_addrs(es, "bdup", ["d1", "d2"], P)
    log(f"bdup (resolve-opts allow-dup-ip): {dup}")
    check_eq(dup, {"d1": up(IP2), "d2": up(IP2)}, "with allow-dup-ip both servers get the address")
    log_rows(es, "bpair", "pair")
    log_rows(es, "bdup", "dup")


def s4_srv(c):
    es, dns, P, Q, fe, ulog = c["es"], c["dns"], c["P"], c["Q"], c["fe"], c["ulog"]
    log("== 4. server-template srv 3 _http._tcp.svc.test (SRV records a, b)")
    names = ["srv1", "srv2", "srv3"]
    maint = ("MAINT (resolution)", "")

    def view():
        rows, _ = servers_state(es, "bsrv")
        st = template_addrs(es, "bsrv", names, P)
        return {n: (st[n][0], st[n][1], rows[n]["srv_fqdn"], rows[n]["srv_port"], rows[n]["srvrecord"])
                for n in names}

    def multiset(want):
        return lambda: sorted(view().values()) == sorted(want)

    want = [("no check", f"{IP2}:{P}", "a.svc.test", str(P), SRV),
            ("no check", f"{IP3}:{P}", "b.svc.test", str(P), SRV),
            ("MAINT (resolution)", "", "-", "0", SRV)]
    eslib.poll_until(multiset(want), 8, interval=0.05, what=f"bsrv slots to be {want}")
    v0 = view()
    log(f"SRV a:{P} b:{P}: {v0}")
    log_rows(es, "bsrv", "SRV a, b")
    got = spread(fe["srv"], 8)
    log(f"8 requests: {got}")
    check_eq(sorted(got), ["o2", "o3"], "the origins serving the SRV backend")
    check(balanced(got), f"round robin over the SRV targets: {got}")
    log("dnsmasq log for a.svc.test: " + repr(dns.queries_for("a.svc.test")[-4:]))

    log("SRV records -> a.svc.test:P and c.svc.test:Q (c has no A record yet); dnsmasq restarted")
    mark = len(ulog.lines)
    dns.restart([(SRV, "a.svc.test", P), (SRV, "c.svc.test", Q)])
    t_dns = time.monotonic()
    want = [("no check", f"{IP2}:{P}", "a.svc.test", str(P), SRV),
            ("MAINT (resolution)", "", "c.svc.test", str(Q), SRV),
            ("MAINT (resolution)", "", "-", "0", SRV)]
    eslib.poll_until(multiset(want), 8, interval=0.05, what=f"bsrv slots to be {want}")
    v1 = view()
    log(f"SRV a:{P} c:{Q} (c unresolved), {time.monotonic() - t_dns:.2f} s after the restart: {v1}")
    log_rows(es, "bsrv", "SRV a, c (c NX)")
    a_slot = next(n for n in names if v0[n][2] == "a.svc.test")
    b_slot = next(n for n in names if v0[n][2] == "b.svc.test")
    check_eq(v1[a_slot], v0[a_slot], "the slot of a.svc.test is untouched")
    check_eq(v1[b_slot][:3], ("MAINT (resolution)", "", "-"), "the slot of b.svc.test is emptied")
    line = log_after(ulog, mark, f"Server bsrv/{b_slot} is going DOWN")
    log(f"log: {line!r}")
    check(line.startswith(f"Server bsrv/{b_slot} is going DOWN for maintenance (entry removed from SRV record)."),
          f"the log line of the removed SRV target: {line!r}")
    log("dnsmasq log for c.svc.test: " + repr(dns.queries_for("c.svc.test")[-6:]))
    check_eq(spread(fe["srv"], 4), {"o2": 4}, "only a.svc.test serves")

    t_dns = dns.update("c.svc.test", [IP4])
    want[1] = ("no check", f"{IP4}:{Q}", "c.svc.test", str(Q), SRV)
    eslib.poll_until(multiset(want), 8, interval=0.05, what=f"bsrv slots to be {want}")
    log(f"c.svc.test resolves: slot serving {time.monotonic() - t_dns:.2f} s after the change: {view()}")
    log_rows(es, "bsrv", "SRV a, c")
    got = spread(fe["srv"], 8)
    log(f"8 requests: {got}")
    check_eq(sorted(got), ["o2", "o4q"], "a.svc.test:P and c.svc.test:Q serve (the port comes from SRV)")
    check(balanced(got), f"round robin over the SRV targets: {got}")


def parse_resolvers(text):
    """`show resolvers` -> {section: {nameserver: [(counter, value string)]}}; Failure on any
    line that does not fit the format."""
    out = {}
    sec = ns = None
    for ln in text.split("\n"):
        if ln == "":
            continue
        if ln.startswith("Resolvers section "):
            sec = ln[len("Resolvers section "):]
            out[sec] = {}
        elif ln.startswith(" nameserver ") and ln.endswith(":") and sec is not None:
            ns = ln[len(" nameserver "):-1]
            out[sec][ns] = []
        elif ln.startswith("  ") and ns is not None and ":" in ln:
            k, v = ln[2:].split(":", 1)
            check_eq(ln, f"  {k + ':':<13}{v.strip()}", "a counter line: '  <name>:' padded to 13 columns, value")
            out[sec][ns].append((k, v.strip()))
        else:
            raise eslib.Failure(f"unexpected `show resolvers` line {ln!r} in {text!r}")
    return out


def s5_cli(c):
    es, dns, P, fe, ulog = c["es"], c["dns"], c["P"], c["fe"], c["ulog"]
    log("== 5. CLI: show resolvers")
    text = es.ctl("show resolvers dns")
    log("show resolvers dns:\n" + text + f"(ends with {text[-30:]!r})")
    check(text.startswith("Resolvers section dns\n nameserver ns1:\n  sent:        "), f"show resolvers dns head: {text[:80]!r}")
    check(text.endswith("\n"), "ends with a newline")
    one = parse_resolvers(text)
    check_eq(list(one), ["dns"], "`show resolvers dns` shows that section only")
    check_eq(list(one["dns"]), ["ns1"], "nameservers of section dns")
    check_eq([k for k, _ in one["dns"]["ns1"]], COUNTERS, "counter names, in order")
    check(all(v.isdigit() for _, v in one["dns"]["ns1"]), f"counter values are integers: {one}")
    cnt0 = {k: int(v) for k, v in one["dns"]["ns1"]}
    check(cnt0["valid"] > 0 and cnt0["sent"] >= cnt0["valid"], f"sent >= valid > 0: {cnt0}")
    check(cnt0["nx"] > 0, f"the NX answers of scenario 2 are counted: {cnt0}")
    check(cnt0["update"] > 0, f"address updates are counted: {cnt0}")
    full = es.ctl("show resolvers")
    allsec = parse_resolvers(full)
    log(f"show resolvers: sections {list(allsec)} (HAProxy adds 'default' from /etc/resolv.conf)")
    check("dns" in allsec, "`show resolvers` lists section dns")
    ctl_answer(es, "show resolvers nosuch", "Can't find that resolvers section", "`show resolvers nosuch`")
    time.sleep(1.5)  # two resolution periods (hold valid 1s)
    cnt1 = {k: int(v) for k, v in parse_resolvers(es.ctl("show resolvers dns"))["dns"]["ns1"]}
    log(f"counters after 1.5 s: {cnt1}")
    check(cnt1["sent"] > cnt0["sent"] and cnt1["valid"] > cnt0["valid"], f"sent and valid grow: {cnt0} -> {cnt1}")

    log("== 5b. set server be/s1 addr")
    check_eq(st_addr(es, "be", "s1"), ("no check", f"{IP3}:{P}"), "be/s1 before")
    ctl_answer(es, f"set server be/s1 addr {IP4} port {P}",
               f"IP changed from '{IP3}' to '{IP4}', no need to change the port by {CLI}\n", "answer to set server addr")
    check_eq(st_addr(es, "be", "s1"), ("no check", f"{IP4}:{P}"), "be/s1 right after set server addr")
    check_eq(who(fe["app"]), (200, "o4"), "a request right after set server addr")
    t0 = time.monotonic()
    seen = {}
    for _ in range(200):  # 3 s: three resolutions answering 127.0.0.3, the address set holds
        if time.monotonic() - t0 > 3.0:
            break
        st, srv = who(fe["app"])
        seen[(st, srv)] = seen.get((st, srv), 0) + 1
        time.sleep(0.05)
    log(f"3 s after set server addr while DNS still answers 127.0.0.3: {seen}")
    check_eq(list(seen), [(200, "o4")], "the address set on the CLI holds while the DNS answer does not change")
    rows, _ = servers_state(es, "be")
    check_eq((rows["s1"]["srv_addr"], rows["s1"]["srv_fqdn"]), (IP4, "app.svc.test"), "servers state after set addr")
    mark = len(ulog.lines)
    t_dns = dns.update("app.svc.test", [IP2])
    secs = wait_state(es, "be", "s1", ("no check", f"{IP2}:{P}"), 8, "DNS change after set server addr")
    log(f"DNS app.svc.test -> 127.0.0.2: the server follows DNS again {secs:.2f} s later")
    check_eq(who(fe["app"]), (200, "o2"), "a request after the DNS change")
    line = log_after(ulog, mark, f"be/s1 changed its IP from {IP4}")
    log(f"log: {line!r}")
    check_eq(line, f"be/s1 changed its IP from {IP4} to {IP2} by dns/ns1.", "log line of that change")

    log("== 5c. set server be/s1 fqdn")
    mark = len(ulog.lines)
    ctl_answer(es, "set server be/s1 fqdn other.svc.test",
               f"be/s1 changed its FQDN from app.svc.test to other.svc.test by {CLI}\n", "answer to set server fqdn")
    rows, _ = servers_state(es, "be")
    check_eq(rows["s1"]["srv_fqdn"], "other.svc.test", "servers state srv_fqdn right after set server fqdn")
    secs = wait_state(es, "be", "s1", ("no check", f"{IP4}:{P}"), 8, "traffic follows other.svc.test")
    log(f"other.svc.test (127.0.0.4) in use {secs:.2f} s after set server fqdn")
    check_eq(who(fe["app"]), (200, "o4"), "a request after set server fqdn")
    line = log_after(ulog, mark, f"be/s1 changed its IP from {IP2} to {IP4}")
    log(f"log: {line!r}")
    log_rows(es, "be", "after set server fqdn")
    ctl_answer(es, "set server be/s1 fqdn other.svc.test", f"no need to change the FDQN by {CLI}\n", "same fqdn again")
    t_dns = dns.update("other.svc.test", [IP3])
    wait_state(es, "be", "s1", ("no check", f"{IP3}:{P}"), 8, "the new name's record changes")
    check_eq(who(fe["app"]), (200, "o3"), "traffic follows the new name's record")

    log("== 5d. CLI errors")
    ctl_answer(es, "set server bnr/s1 fqdn other.svc.test",
               "set server <b>/<s> fqdn failed because no resolution is configured.\n", "fqdn on a server without resolvers")
    ctl_answer(es, "set server be/s1 addr bogus", f"Invalid addr 'bogus' by {CLI}\n", "set server addr bogus")
    ctl_answer(es, "set server be/s1 fqdn", "set server <b>/<s> fqdn requires a FQDN.\n", "set server fqdn without a name")
    ctl_answer(es, f"set server be/s1 addr {IP3} port bogus",
               f"no need to change the addr, problem converting port 'bogus' to an int by {CLI}\n", "bad port")
    ctl_answer(es, "set server be/s1 addr", "set server <b>/<s> addr requires an address and optionally a port.\n",
               "set server addr without an address")
    ctl_answer(es, "set server bsrv/srv1 fqdn x.svc.test",
               "set server <b>/<s> fqdn failed because SRV resolution is configured.\n", "fqdn on a server from SRV records")
    ctl_answer(es, "set server be/nosuch addr 127.0.0.4", "No such server.\n", "unknown server")
    ctl_answer(es, "set server nosuch/s1 addr 127.0.0.4", "No such backend.\n", "unknown backend")
    check_eq(st_addr(es, "be", "s1"), ("no check", f"{IP3}:{P}"), "be/s1 unchanged by the refused commands")


def s6_nameserver_down(c):
    es, dns, P, ulog = c["es"], c["dns"], c["P"], c["ulog"]
    log("== 6. the nameserver stops answering, then comes back")
    check_eq(st_addr(es, "be", "s1"), ("no check", f"{IP3}:{P}"), "be/s1 before")
    mark = len(ulog.lines)
    dns.proc.stop(timeout=3)
    t0 = time.monotonic()
    wait_state(es, "be", "s1", ("MAINT (resolution)", ""), 12, "nameserver down -> maintenance")
    secs = time.monotonic() - t0
    log(f"nameserver down: s1 in MAINT (resolution) after {secs:.2f} s")
    check(secs >= 1.0, f"the server is kept while the resolution retries ({secs:.2f} s)")
    line = log_after(ulog, mark, "Server be/s1 is going DOWN")
    log(f"log: {line!r}")
    check(line.startswith("Server be/s1 is going DOWN for maintenance (DNS timeout status). "
                          "0 active and 0 backup servers left."), f"the timeout log line: {line!r}")
    text = es.ctl("show resolvers dns")
    log("show resolvers dns with the nameserver down:\n" + text)
    mark = len(ulog.lines)
    dns.start()
    secs = wait_state(es, "be", "s1", ("no check", f"{IP3}:{P}"), 8, "nameserver back")
    log(f"nameserver back: s1 serving again {secs:.2f} s after dnsmasq answers")
    check_eq(who(c["fe"]["app"]), (200, "o3"), "a request once the nameserver answers again")
    line = log_after(ulog, mark, "Server be/s1 ('other.svc.test') is UP")
    log(f"log: {line!r}")


def s7_config_errors(h):
    log("== 7. configuration errors (-c)")
    base = eslib.http_global(None) + eslib.http_defaults()
    fe = eslib.section("frontend fe", f"bind {L}:{eslib.free_port()}\ndefault_backend be")
    rs = "resolvers dns\n    nameserver ns1 127.0.0.1:53\n"
    cases = [
        ("unknown_resolvers", rs + "\n" + eslib.section("backend be", "server s1 app.svc.test:80 resolvers nosuch init-addr none"),
         None, "nosuch"),
        ("unknown_keyword", "resolvers dns\n    nameserver ns1 127.0.0.1:53\n    frobnicate 1\n\n"
         + eslib.section("backend be", "server s1 app.svc.test:80 resolvers dns init-addr none"), "frobnicate", "frobnicate"),
        ("nameserver_no_addr", "resolvers dns\n    nameserver ns1\n\n"
         + eslib.section("backend be", "server s1 app.svc.test:80 resolvers dns init-addr none"), "nameserver ns1", "nameserver"),
    ]
    for name, body, marker, word in cases:
        path = h.write(f"{name}.cfg", base + fe + body)
        text = open(path).read().splitlines()
        rc = h.run_cmd([h.bin, "-c", "-f", path])
        msgs = [ln for ln in (rc.stderr + rc.stdout).splitlines() if "NOTICE" not in ln]
        log(f"-c {name}: exit {rc.returncode}: {msgs}")
        check(rc.returncode != 0, f"{name}: the configuration is refused")
        check(word in rc.stderr, f"{name}: the message names {word!r}: {rc.stderr!r}")
        if marker:
            lineno = next(i + 1 for i, ln in enumerate(text) if ln.strip().startswith(marker) and
                          (marker != "nameserver ns1" or ln.strip() == "nameserver ns1"))
            check(f"{name}.cfg:{lineno}" in rc.stderr, f"{name}: the message names {name}.cfg:{lineno}: {rc.stderr!r}")


# --------------------------------------------------------------------------------------------

def main(h):
    if not os.access(dnsmasq_bin(), os.X_OK):
        raise eslib.Skip("dnsmasq is not installed (needed as the test's DNS server)")
    t_start = time.monotonic()
    P, Q, origins = start_origins(h)
    records = {"app.svc.test": [IP2], "pool.svc.test": [IP2, IP3], "pair.svc.test": [IP2],
               "a.svc.test": [IP2], "b.svc.test": [IP3], "other.svc.test": [IP4], "load.svc.test": [IP2]}
    dns = Dns(h, records, [(SRV, "a.svc.test", P), (SRV, "b.svc.test", P)])
    ulog = eslib.UdpLog()
    h.servers.append(ulog)
    sock = h.sock_path()
    fe = {k: eslib.free_port() for k in ("app", "pool", "srv", "nr", "load")}
    cfg = (eslib.http_global(sock, extra=f"log {L}:{ulog.port} local0 info")
           + eslib.http_defaults(extra="log global")
           + eslib.section("resolvers dns", RESOLVERS.format(port=dns.port))
           + eslib.section("frontend fe_app", f"bind {L}:{fe['app']}\ndefault_backend be")
           + eslib.section("frontend fe_pool", f"bind {L}:{fe['pool']}\ndefault_backend bt")
           + eslib.section("frontend fe_srv", f"bind {L}:{fe['srv']}\ndefault_backend bsrv")
           + eslib.section("frontend fe_nr", f"bind {L}:{fe['nr']}\ndefault_backend bnr")
           + eslib.section("frontend fe_load", f"bind {L}:{fe['load']}\ndefault_backend bload")
           + eslib.section("backend be", f"server s1 app.svc.test:{P} resolvers dns resolve-prefer ipv4 init-addr none")
           + eslib.section("backend bt", f"balance roundrobin\nserver-template web 3 pool.svc.test:{P} resolvers dns init-addr none")
           + eslib.section("backend bpair", f"""
                server p1 pair.svc.test:{P} resolvers dns resolve-prefer ipv4 init-addr none
                server p2 pair.svc.test:{P} resolvers dns resolve-prefer ipv4 init-addr none""")
           + eslib.section("backend bdup", f"""
                server d1 pair.svc.test:{P} resolvers dns resolve-prefer ipv4 init-addr none resolve-opts allow-dup-ip
                server d2 pair.svc.test:{P} resolvers dns resolve-prefer ipv4 init-addr none resolve-opts allow-dup-ip""")
           + eslib.section("backend bsrv", f"balance roundrobin\nserver-template srv 3 {SRV} resolvers dns init-addr none")
           + eslib.section("backend bnr", f"server s1 {IP4}:{P}")
           + eslib.section("backend bload", f"server s1 load.svc.test:{P} resolvers dns resolve-prefer ipv4 init-addr none"))
    es = eslib.start_proxy(h, cfg, ports=list(fe.values()), sock=sock)
    c = {"es": es, "dns": dns, "P": P, "Q": Q, "fe": fe, "ulog": ulog, "origins": origins}
    s1_dns_change(c)
    s1b_under_load(c, h)
    s2_nx(c)
    s3_template(c)
    s4_srv(c)
    s5_cli(c)
    s6_nameserver_down(c)
    s7_config_errors(h)
    err = es.stderr_text()
    log("proxy stderr (DNS lines):\n" + "\n".join(ln for ln in err.splitlines()
                                                  if "IP" in ln or "DNS" in ln or "resol" in ln or "SRV" in ln))
    log(f"all scenarios in {time.monotonic() - t_start:.1f} s")


if __name__ == "__main__":
    eslib.run_http(main)
