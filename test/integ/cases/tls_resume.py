#!/usr/bin/env python3
"""TLS session resumption on two shards, across reloads, with real `openssl s_client` clients
(-sess_out / -sess_in), the same configuration for edgeshard and (ES_TEST_PEER=haproxy) HAProxy:
  - tickets (the default): a session saved once resumes on every one of 12 new connections, TLS 1.3
    and TLS 1.2. The kernel spreads the connections over both shards (SO_REUSEPORT), so this holds
    only if every shard opens every other shard's tickets;
  - `no-tls-tickets`: resumption by session ID in the shard's cache (TLS 1.2) and stateful TLS 1.3
    tickets: `show info` counts one SslCacheLookups per offered session and one SslCacheMisses per
    connection that was not resumed (edgeshard's cache is per shard: a session resumes on the shard
    that made it; HAProxy's is shared, so there all resume);
  - `tls-ticket-keys FILE` (HAProxy's format): tickets resume; a ticket made with other keys (the
    process's, on another bind) is refused and the handshake is a full one; a file with too few keys
    or a bad line fails `-c` naming the file's line;
  - `tune.ssl.lifetime` / `tune.ssl.cachesize` load; `show info` has HAProxy's rate fields (SslRate,
    SslFrontendKeyRate and their maxima);
  - a handshake that stalls (half a ClientHello) is closed at `timeout client` from the accept,
    as HAProxy 2.6 does, while a `timeout http-request` ten times longer is set;
  - edgeshard only: the process's ticket keys are carried across reloads (`-x`): a session from
    generation 1 resumes on generations 2 and 3, not on 4 (each reload makes a new key and keeps the
    two before it); the file's keys are the file's at every generation.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
import reload_lib  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

N = 12


def info(px):
    return reload_lib.show_info(px.sock)


def resume_all(h, port, sess, extra, what):
    """Saves a session from one connection, then offers it on N new ones: ['Reused'|'New', ...]."""
    first, out = tls_lib.session(h, port, sess_out=sess, extra=extra)
    check_eq(first, "New", f"{what}: the first connection is a full handshake")
    check(os.path.getsize(sess) > 0, f"{what}: s_client saved no session:\n{out[-800:]}")
    return [tls_lib.session(h, port, sess_in=sess, extra=extra)[0] for _ in range(N)]


def main(h):
    site = tls_lib.make_cert(h, "site", "site.test", ["site.test"])
    keys = h.write("tickets.keys", "".join(
        h.run_cmd(["openssl", "rand", "-base64", "80"]).stdout.replace("\n", "") + "\n" for _ in range(4)))
    p_tickets, p_ids, p_file, p_slow = eslib.free_port(), eslib.free_port(), eslib.free_port(), eslib.free_port()
    L = eslib.LOCALHOST
    px = fixture.proxy_to_origin(
        h, nbthread=2, client="10s", server="10s", ports=(p_tickets, p_ids, p_file, p_slow), name="es1",
        sections_after=eslib.section("frontend fe_slow", f"bind {L}:{p_slow} ssl crt {site}\n"
                                     "timeout client 1500ms\ntimeout http-request 15s\ndefault_backend be"),
        global_lines="tune.ssl.lifetime 600\ntune.ssl.cachesize 1000",
        fe_lines=f"bind {L}:{p_tickets} ssl crt {site}\n"
                 f"bind {L}:{p_ids} ssl crt {site} no-tls-tickets\n"
                 f"bind {L}:{p_file} ssl crt {site} tls-ticket-keys {keys}")

    # ---- a stalled handshake ends at `timeout client`
    fails0 = int(info(px).get("SslHandshakeFailures", "0")) if eslib.on_edgeshard() else 0
    s = socket.create_connection((L, p_slow), timeout=10)
    s.sendall(bytes.fromhex("160301020001"))  # a record header and the start of a ClientHello
    t0 = time.monotonic()
    try:
        got = s.recv(100)
    except (ConnectionResetError, socket.timeout) as e:
        got = repr(e)
    took = time.monotonic() - t0
    s.close()
    check(1.2 <= took <= 5.0 and got in (b"", "ConnectionResetError(104, 'Connection reset by peer')"),
          f"a stalled handshake is closed at timeout client (1.5s): after {took:.1f}s with {got!r}")
    ok, _ = tls_lib.session(h, p_slow)
    check_eq(ok, "New", "a good client on the same bind")
    if eslib.on_edgeshard():
        check(int(info(px)["SslHandshakeFailures"]) > fails0, "the stalled handshake counts as a failure")
    log(f"stalled handshake closed after {took:.1f}s (timeout client 1.5s, http-request 15s)")

    # ---- tickets, every shard opens every shard's tickets
    for ver in ("-tls1_3", "-tls1_2"):
        got = resume_all(h, p_tickets, h.path(f"t{ver}.sess"), [ver], f"tickets {ver}")
        check_eq(got.count("Reused"), N, f"tickets {ver}: every new connection resumes ({got})")
    log(f"tickets: {N}/{N} resumed on two shards, TLS 1.3 and TLS 1.2")
    # rates: HAProxy's per-second fields, the maxima kept (a sample a second: wait for the next one)
    time.sleep(2.2)
    i = info(px)
    for k in ("ConnRate", "SslRate", "SslFrontendKeyRate", "SslBackendKeyRate"):
        check(k in i, f"show info has {k}: {sorted(i)}")
    check(int(i["MaxSslRate"]) >= 2 and int(i["SslFrontendMaxKeyRate"]) >= 1,
          f"MaxSslRate {i.get('MaxSslRate')}, SslFrontendMaxKeyRate {i.get('SslFrontendMaxKeyRate')}: "
          "TLS connections and full handshakes were made within a second")

    # ---- session IDs (no-tls-tickets): counted lookups and misses
    for ver in ("-tls1_2", "-tls1_3"):
        before = info(px)
        got = resume_all(h, p_ids, h.path(f"i{ver}.sess"), [ver], f"session IDs {ver}")
        after = info(px)
        lookups = int(after["SslCacheLookups"]) - int(before["SslCacheLookups"])
        misses = int(after["SslCacheMisses"]) - int(before["SslCacheMisses"])
        check(got.count("Reused") >= 1, f"session IDs {ver}: some connection resumes ({got})")
        check_eq(lookups, N, f"session IDs {ver}: SslCacheLookups counts each offered session ({got})")
        check_eq(misses, got.count("New"), f"session IDs {ver}: SslCacheMisses counts the full handshakes ({got})")
        log(f"session IDs {ver}: {got.count('Reused')}/{N} resumed; lookups {lookups}, misses {misses}")

    # ---- tls-ticket-keys FILE
    got = resume_all(h, p_file, h.path("f.sess"), ["-tls1_3"], "ticket key file")
    check_eq(got.count("Reused"), N, f"ticket key file: every connection resumes ({got})")
    other, out = tls_lib.session(h, p_file, sess_in=h.path("t-tls1_3.sess"), extra=["-tls1_3"])
    check_eq(other, "New", "a ticket sealed with other keys is not opened: full handshake")
    i = info(px)
    check(int(i["SslFrontendSessionReuse_pct"]) > 0, f"SslFrontendSessionReuse_pct: {i}")
    log("tls-ticket-keys: resumes with the file's keys, refuses a foreign ticket")

    if not eslib.on_edgeshard():
        return
    # ---- bad key files fail -c at the file's line
    for name, text, want in (("two.keys", "".join(open(keys).read().splitlines(True)[:2]), "at least 3"),
                             ("bad.keys", "bm90IGEga2V5\n" * 3, "line 1")):
        kf = h.write(name, text)
        cfg = h.write(f"check-{name}.cfg", px.config.replace(keys, kf))
        r = h.run_cmd([h.bin, "-c", "-f", cfg], timeout=20)
        check(r.returncode != 0 and want in r.stderr and "tls-ticket-keys" not in r.stdout,
              f"-c with {name}: expected an error naming {want!r}: rc {r.returncode}\n{r.stderr}")
        check(f"{cfg}:" in r.stderr, f"-c with {name}: the error names the config line:\n{r.stderr}")
    log("-c refuses a key file with too few keys or a bad line, naming both places")

    # ---- reloads carry the process's ticket keys (rotated), the file's stay the file's
    sess = h.path("reload.sess")
    first, _ = tls_lib.session(h, p_tickets, sess_out=sess, extra=["-tls1_3"])
    check_eq(first, "New", "reload: first connection")
    fsess = h.path("reload-file.sess")
    tls_lib.session(h, p_file, sess_out=fsess, extra=["-tls1_3"])
    cfg = h.path("es1.cfg")
    cur = px.proxy
    for gen, want in ((2, "Reused"), (3, "Reused"), (4, "New")):
        cur, g = reload_lib.reload(h, cur, [cfg], px.sock, f"gen{gen}", ports=(p_tickets,))
        check_eq(g, gen, "generation")
        got = [tls_lib.session(h, p_tickets, sess_in=sess, extra=["-tls1_3"])[0] for _ in range(4)]
        check_eq(got, [want] * 4, f"generation {gen}: a generation-1 ticket")
        got = tls_lib.session(h, p_file, sess_in=fsess, extra=["-tls1_3"])[0]
        check_eq(got, "Reused", f"generation {gen}: a ticket from the key file")
        log(f"generation {gen}: the generation-1 ticket is {want}")


if __name__ == "__main__":
    eslib.run_http(main)
