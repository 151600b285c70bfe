#!/usr/bin/env python3
"""The built-in database and TLS check rulesets against real servers and scripted ones, every
result as HAProxy 2.6 reports it (the same configuration passes against HAProxy 2.6 with
ES_TEST_PEER=haproxy). Servers are started by the test on 127.0.0.1 (ports from the kernel, data in
the temp dir, stopped by PID): slapd, mariadbd, PostgreSQL 15 (as the user postgres) and
`openssl s_server`; the scripted peers are threads of the test. Checks run every 200 ms with
rise 1 / fall 1 and `timeout check 300ms`.

Asserted, per server, once it has settled and over a few check intervals after: `status`,
`check_status`, `check_code` (absent where HAProxy leaves it blank: None below) and `last_chk`.
Where a check passes, HAProxy 2.6 shows an empty `last_chk` for ldap-check and mysql-check (not
"Success", nor the server's version string, which its code computes and then overwrites).
  option ldap-check (an LDAPv3 anonymous simple bind, message ID 1):
    slapd                                UP   L7OK   0    ''
    bindResponse resultCode 49           DOWN L7STS  49   'See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9'
    an HTTP answer                       DOWN L7RSP  None 'Not LDAPv3 protocol'
    reads the bind, closes               DOWN L7RSP  None 'TCPCHK got an empty response at step 2'
    never answers                        DOWN L7TOUT None ''
  option mysql-check user haproxy_check (post-41: an authentication packet, then COM_QUIT, sent
  at once without waiting for the server's handshake; the same with `post-41` spelled out):
    mariadbd, account 'haproxy_check'@'127.0.0.1' without password
                                         UP   L7OK   0    ''
    error packet 1040 instead of the handshake
                                         DOWN L7STS  1040 'Too many connections'
    handshake then nothing more          DOWN L7TOUT None ''
    reads the request, closes            DOWN L7RSP  None 'TCPCHK got an empty response at step 3'
    never answers                        DOWN L7TOUT None ''
  option mysql-check user haproxy_check pre-41: mariadbd UP L7OK 0 ''
  option mysql-check user nosuchuser: mariadbd DOWN L7STS 1045
    "#28000Access denied for user 'nosuchuser'@'127.0.0.1' (using password: NO)" (the SQL state
    marker of the ERR packet is kept in the text)
  option mysql-check (no user: sends nothing, reads the handshake):
    mariadbd                             UP   L7OK   0    ''
    a bare handshake                     UP   L7OK   0    ''
    error packet 1040                    DOWN L7STS  1040 'Too many connections'
    closes at once                       DOWN L7RSP  None 'TCPCHK got an empty response at step 2'
    half a handshake, then closes        DOWN L7RSP  None ''
    never answers                        DOWN L7TOUT None ''
  option pgsql-check user U (a StartupMessage, protocol 3.0, with only `user`):
    postgres, U trusted                  UP   L7OK   0    'PostgreSQL server is ok'
    postgres, U asked for an md5 password
                                         UP   L7OK   0    'PostgreSQL server is ok'
    postgres, U trusted but no such role UP   L7OK   0    'PostgreSQL server is ok' (the server's
                                         AuthenticationOk comes before it looks the role up)
    postgres, no pg_hba.conf line for U  DOWN L7RSP  None 'FATAL' (the ErrorResponse's first field)
    an HTTP answer                       DOWN L7STS  0    'PostgreSQL unknown error'
    reads the startup message, closes    DOWN L7RSP  None 'TCPCHK got an empty response at step 3'
    never answers                        DOWN L7TOUT None ''
  option ssl-hello-chk (an SSLv3 ClientHello):
    openssl s_server                     UP   L6OK   None ''
    a TLS alert record                   UP   L6OK   None '' (a handshake or an alert record both pass)
    an HTTP answer, an SSH banner        DOWN L6RSP  None ''
    reads the hello, closes              DOWN L6RSP  None 'TCPCHK got an empty response at step 2'
    never answers                        DOWN L6TOUT None ''
The bytes each ruleset sends are HAProxy's (recorded by the peers that never answer; the ClientHello
carries the current time), no scripted peer saw a request it could not frame, a peer that never
answers has its connection closed by the checker at the timeout and is checked again, and the
checker is never wedged by such peers: slapd stopped meanwhile goes DOWN (L4CON 'Connection
refused') and, started again on its port, UP.

Debian packages: slapd, mariadb-server, postgresql-15 (its user postgres), openssl; a missing
binary fails the case and names its package.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import db_peers  # noqa: E402
import eslib  # noqa: E402
import tls_lib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402
from health_lib import srv  # noqa: E402

L = eslib.LOCALHOST
HTTP_400 = b"HTTP/1.0 400 Bad Request\r\n\r\n"
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"

# What HAProxy 2.6 sends, byte for byte.
# LDAPMessage { messageID 1, bindRequest { version 3, name "", simple "" } }
LDAP_BIND = bytes.fromhex("300c020101600702010304008000")
MYSQL_QUIT = bytes.fromhex("0100000001")  # length 1, sequence 0, COM_QUIT
# HandshakeResponse41 (sequence 1), little-endian: capabilities 0x00008200 (SECURE_CONNECTION |
# PROTOCOL_41), max packet 0x01008000, charset 0x21, 23 zero bytes, the user, no auth data
MYSQL_AUTH41 = (bytes.fromhex("2f000001" "00820000" "00800001" "21") + bytes(23) + b"haproxy_check\x00" + b"\x00")
# HandshakeResponse320 (sequence 1), little-endian: capabilities 0x8000, max packet 0x010000 (3
# bytes), the user, no auth data
MYSQL_AUTH320 = bytes.fromhex("14000001" "0080" "000001") + b"haproxy_check\x00" + b"\x00"
# StartupMessage: length, protocol 3.0, "user" U, end of parameters
PGSQL_STARTUP = bytes.fromhex("0000001d" "00030000") + b"user\x00postgres_check\x00\x00"
# SSLv3 record + ClientHello: client version 3.0, gmt_unix_time (4 bytes, the current time),
# 28 bytes "HAPROXYSSLCHK\nHAPROXYSSLCHK\n" as the random, no session, ciphers 0x0001-0x001b and
# 0x002f-0x003a, null compression
SSL_HELLO_HEAD = bytes.fromhex("1603000079" "01000075" "0300")
SSL_HELLO_RANDOM = b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n"
SSL_HELLO_TAIL = (bytes.fromhex("00" "004e") + b"".join(i.to_bytes(2, "big") for i in range(0x01, 0x1c))
                  + b"".join(i.to_bytes(2, "big") for i in range(0x2f, 0x3b)) + bytes.fromhex("0100"))

RFC_4511 = "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9"
EMPTY2 = "TCPCHK got an empty response at step 2"
EMPTY3 = "TCPCHK got an empty response at step 3"
ACCESS_DENIED = "#28000Access denied for user 'nosuchuser'@'127.0.0.1' (using password: NO)"
PG_OK = "PostgreSQL server is ok"

# (backend, server) -> (status, check_status, check_code, last_chk), as HAProxy 2.6 shows them
EXPECT = {
    ("bldap", "slapd"): ("UP", "L7OK", 0, ""),
    ("bldap", "rc49"): ("DOWN", "L7STS", 49, RFC_4511),
    ("bldap", "http"): ("DOWN", "L7RSP", None, "Not LDAPv3 protocol"),
    ("bldap", "closer"): ("DOWN", "L7RSP", None, EMPTY2),
    ("bldap", "staller"): ("DOWN", "L7TOUT", None, ""),

    ("bmy", "mariadb"): ("UP", "L7OK", 0, ""),
    ("bmy", "err1040"): ("DOWN", "L7STS", 1040, "Too many connections"),
    ("bmy", "hsonly"): ("DOWN", "L7TOUT", None, ""),
    ("bmy", "closer"): ("DOWN", "L7RSP", None, EMPTY3),
    ("bmy", "staller"): ("DOWN", "L7TOUT", None, ""),
    ("bmy41", "mariadb"): ("UP", "L7OK", 0, ""),
    ("bmy41", "staller"): ("DOWN", "L7TOUT", None, ""),
    ("bmypre", "mariadb"): ("UP", "L7OK", 0, ""),
    ("bmypre", "staller"): ("DOWN", "L7TOUT", None, ""),
    ("bmyghost", "mariadb"): ("DOWN", "L7STS", 1045, ACCESS_DENIED),
    ("bmynouser", "mariadb"): ("UP", "L7OK", 0, ""),
    ("bmynouser", "hsonly"): ("UP", "L7OK", 0, ""),
    ("bmynouser", "err1040"): ("DOWN", "L7STS", 1040, "Too many connections"),
    ("bmynouser", "closer"): ("DOWN", "L7RSP", None, EMPTY2),
    ("bmynouser", "half"): ("DOWN", "L7RSP", None, ""),
    ("bmynouser", "staller"): ("DOWN", "L7TOUT", None, ""),

    ("bpg", "pg"): ("UP", "L7OK", 0, PG_OK),
    ("bpg", "http"): ("DOWN", "L7STS", 0, "PostgreSQL unknown error"),
    ("bpg", "closer"): ("DOWN", "L7RSP", None, EMPTY3),
    ("bpg", "staller"): ("DOWN", "L7TOUT", None, ""),
    ("bpgmd5", "pg"): ("UP", "L7OK", 0, PG_OK),
    ("bpgnorole", "pg"): ("UP", "L7OK", 0, PG_OK),
    ("bpgnohba", "pg"): ("DOWN", "L7RSP", None, "FATAL"),

    ("bssl", "tls"): ("UP", "L6OK", None, ""),
    ("bssl", "alert"): ("UP", "L6OK", None, ""),
    ("bssl", "http"): ("DOWN", "L6RSP", None, ""),
    ("bssl", "ssh"): ("DOWN", "L6RSP", None, ""),
    ("bssl", "closer"): ("DOWN", "L6RSP", None, EMPTY2),
    ("bssl", "staller"): ("DOWN", "L6TOUT", None, ""),
}


def result(row):
    """(status, check_status, check_code, last_chk) of a `show stat` row; a blank or absent code
    is None."""
    code = row.get("check_code")
    code = None if code is None or str(code).strip() == "" else eslib.num(code)
    return (str(row.get("status")), str(row.get("check_status", "")).lstrip("* "), code,
            str(row.get("last_chk") or ""))


def settle(es, key, want, timeout):
    """Waits until server `key` shows `want`; Failure with the last row otherwise."""
    last = {}

    def ok():
        last["r"] = result(srv(es, *key))
        return last["r"] == want
    try:
        eslib.poll_until(ok, timeout, interval=0.02, what=f"{key[0]}/{key[1]}")
    except eslib.Failure:
        raise eslib.Failure(f"{key[0]}/{key[1]}: got {last.get('r')!r}, want {want!r}")


def settle_all(es, expect, timeout):
    """Polls `show stat` until every server of `expect` shows its result (a row whose check is in
    progress keeps the result seen before it: its code and detail are blank meanwhile). On timeout,
    Failure listing every server that differs, so that one run shows all the differences."""
    seen = {}
    dl = eslib.Deadline(timeout)
    for _ in range(int(timeout / 0.02) + 10):
        stats = es.stats()
        for key in expect:
            row = stats.get(key)
            if row is not None and not str(row.get("check_status", "")).startswith("* "):
                seen[key] = result(row)
        if all(seen.get(k) == w for k, w in expect.items()) or dl.expired():
            break
        time.sleep(0.02)
    bad = [f"  {k[0]}/{k[1]}: got {seen.get(k, 'no settled row')!r}, want {w!r}"
           for k, w in expect.items() if seen.get(k) != w]
    if bad:
        raise eslib.Failure(f"{len(bad)} of {len(expect)} servers differ:\n" + "\n".join(bad))


def steady(es, expect, seconds):
    """Watches `show stat` for `seconds` (a few check intervals): every settled row seen must
    still show its expected result, and every server must be seen settled at least once."""
    seen, bad = set(), {}
    dl = eslib.Deadline(seconds)
    for _ in range(int(seconds / 0.02) + 10):
        stats = es.stats()
        for key, want in expect.items():
            row = stats.get(key)
            if row is not None and not str(row.get("check_status", "")).startswith("* "):
                seen.add(key)
                if result(row) != want:
                    bad.setdefault(key, result(row))
        if dl.expired():
            break
        time.sleep(0.02)
    lines = [f"  {k[0]}/{k[1]}: got {r!r}, want {expect[k]!r}" for k, r in bad.items()]
    lines += [f"  {k[0]}/{k[1]}: never seen with no check in progress" for k in expect if k not in seen]
    if lines:
        raise eslib.Failure(f"results that did not hold over {seconds}s:\n" + "\n".join(lines))


def recorded(server, what):
    """The bytes the checker sent on the first connection to a peer that never answers."""
    with server.lock:
        got = dict(server.results.get("got", {}))
    check(got, f"{what}: the checker never connected")
    return bytes(got[min(got)])


def main(h):
    # every binary first, so that a machine without them fails at once and says why
    for prog, pkg in (("/usr/sbin/slapd", "slapd"), ("mariadb-install-db", "mariadb-server"),
                      ("/usr/sbin/mariadbd", "mariadb-server"), (f"{db_peers.PG_BIN}/initdb", "postgresql-15"),
                      (f"{db_peers.PG_BIN}/postgres", "postgresql-15"), ("openssl", "openssl")):
        db_peers.need(prog, pkg)

    slapd = db_peers.start_slapd(h)
    my = db_peers.start_mariadb(h, ["CREATE USER 'haproxy_check'@'127.0.0.1'"])
    pg = db_peers.start_postgres(h, [
        "CREATE ROLE postgres_check LOGIN",
        "SET password_encryption = 'md5'",
        "CREATE ROLE md5_check LOGIN PASSWORD 'not-sent-by-the-check'",
    ], [
        "host all postgres_check 127.0.0.1/32 trust",
        "host all md5_check 127.0.0.1/32 md5",
        "host all ghost_trusted 127.0.0.1/32 trust",  # a role that does not exist
    ])
    tls = db_peers.start_tls_server(h, tls_lib.make_cert(h, "tls", "db.test", ["db.test"]))

    def peer(name, handler):
        return h.threaded_server(handler, name=name)

    # a protocol-10 handshake (MariaDB-like): version, thread id, scramble, capabilities...
    handshake = db_peers.mysql_packet(0, b"\x0a5.5.5-10.11.0-scripted\x00" + b"\x07\x00\x00\x00" + b"abcdefgh\x00"
                                      + b"\xfe\xf7\x21\x02\x00\xff\x81\x15" + bytes(10) + b"ijklmnopqrst\x00"
                                      + b"mysql_native_password\x00")
    err1040 = db_peers.mysql_error_packet(1040, "Too many connections")
    p = {
        "ldap_rc49": peer("ldap49", db_peers.replies("ldap", db_peers.ldap_bind_response(49))),
        "ldap_http": peer("ldaphttp", db_peers.replies("ldap", HTTP_400)),
        "ldap_closer": peer("ldapclose", db_peers.closes_after_request("ldap")),
        "ldap_staller": peer("ldapstall", db_peers.stalls),
        "my_err": peer("myerr", db_peers.greets(err1040)),
        "my_hs": peer("myhs", db_peers.greets(handshake)),
        "my_closer": peer("myclose", db_peers.closes_after_request("mysql")),
        "my_staller": peer("mystall", db_peers.stalls),
        "my41_staller": peer("my41stall", db_peers.stalls),
        "mypre_staller": peer("myprestall", db_peers.stalls),
        "myn_closer": peer("mynclose", db_peers.closes_at_once),
        "myn_half": peer("mynhalf", db_peers.replies("none", handshake[:14], then="close")),
        "myn_staller": peer("mynstall", db_peers.stalls),
        "pg_http": peer("pghttp", db_peers.replies("pgsql", HTTP_400)),
        "pg_closer": peer("pgclose", db_peers.closes_after_request("pgsql")),
        "pg_staller": peer("pgstall", db_peers.stalls),
        "ssl_alert": peer("sslalert", db_peers.replies("tls", bytes.fromhex("15030100020228"))),
        "ssl_http": peer("sslhttp", db_peers.replies("tls", HTTP_400)),
        "ssl_ssh": peer("sslssh", db_peers.greets(SSH_BANNER)),
        "ssl_closer": peer("sslclose", db_peers.closes_after_request("tls")),
        "ssl_staller": peer("sslstall", db_peers.stalls),
    }

    def be(name, option, servers):
        return eslib.section(f"backend {name}", f"{option}\ndefault-server inter 200 rise 1 fall 1\n"
                             + "\n".join(f"server {n} {L}:{port} check" for n, port in servers))

    sock = h.sock_path()
    fe = eslib.free_port()  # a proxy needs something to serve; the checks are what is looked at
    cfg = (eslib.http_global(sock, nbthread=2)
           + eslib.defaults_section(connect="300ms", client="5s", server="5s", mode="tcp",
                                    extra="timeout check 300ms")
           + eslib.section("frontend fe", f"bind {L}:{fe}\ndefault_backend bpg")
           + be("bldap", "option ldap-check", [
               ("slapd", slapd.port), ("rc49", p["ldap_rc49"].port), ("http", p["ldap_http"].port),
               ("closer", p["ldap_closer"].port), ("staller", p["ldap_staller"].port)])
           + be("bmy", "option mysql-check user haproxy_check", [
               ("mariadb", my.port), ("err1040", p["my_err"].port), ("hsonly", p["my_hs"].port),
               ("closer", p["my_closer"].port), ("staller", p["my_staller"].port)])
           + be("bmy41", "option mysql-check user haproxy_check post-41", [
               ("mariadb", my.port), ("staller", p["my41_staller"].port)])
           + be("bmypre", "option mysql-check user haproxy_check pre-41", [
               ("mariadb", my.port), ("staller", p["mypre_staller"].port)])
           + be("bmyghost", "option mysql-check user nosuchuser", [("mariadb", my.port)])
           + be("bmynouser", "option mysql-check", [
               ("mariadb", my.port), ("hsonly", p["my_hs"].port), ("err1040", p["my_err"].port),
               ("closer", p["myn_closer"].port), ("half", p["myn_half"].port), ("staller", p["myn_staller"].port)])
           + be("bpg", "option pgsql-check user postgres_check", [
               ("pg", pg.port), ("http", p["pg_http"].port), ("closer", p["pg_closer"].port),
               ("staller", p["pg_staller"].port)])
           + be("bpgmd5", "option pgsql-check user md5_check", [("pg", pg.port)])
           + be("bpgnorole", "option pgsql-check user ghost_trusted", [("pg", pg.port)])
           + be("bpgnohba", "option pgsql-check user no_such_role", [("pg", pg.port)])
           + be("bssl", "option ssl-hello-chk", [
               ("tls", tls.port), ("alert", p["ssl_alert"].port), ("http", p["ssl_http"].port),
               ("ssh", p["ssl_ssh"].port), ("closer", p["ssl_closer"].port), ("staller", p["ssl_staller"].port)]))
    t0 = time.monotonic()
    es = eslib.start_proxy(h, cfg, ports=[fe], sock=sock)
    settle_all(es, EXPECT, 8)
    log(f"every server showed its expected result within {time.monotonic() - t0:.2f}s of the start")
    # and it holds over a few check intervals (a steady state, not a passing one)
    steady(es, EXPECT, 1.5)

    # the requests, byte for byte
    hello = recorded(p["ssl_staller"], "ssl-hello-chk")
    gmt = int.from_bytes(hello[11:15], "big") if len(hello) >= 15 else 0
    sent = [
        ("ldap-check's bind request", recorded(p["ldap_staller"], "ldap-check").hex(), LDAP_BIND.hex()),
        ("mysql-check user haproxy_check: authentication (4.1) then QUIT",
         recorded(p["my_staller"], "mysql-check user").hex(), (MYSQL_AUTH41 + MYSQL_QUIT).hex()),
        ("mysql-check user haproxy_check post-41",
         recorded(p["my41_staller"], "mysql-check post-41").hex(), (MYSQL_AUTH41 + MYSQL_QUIT).hex()),
        ("mysql-check user haproxy_check pre-41: authentication (3.20) then QUIT",
         recorded(p["mypre_staller"], "mysql-check pre-41").hex(), (MYSQL_AUTH320 + MYSQL_QUIT).hex()),
        ("mysql-check without a user sends nothing", recorded(p["myn_staller"], "mysql-check").hex(), ""),
        ("pgsql-check's startup message", recorded(p["pg_staller"], "pgsql-check").hex(), PGSQL_STARTUP.hex()),
        ("ssl-hello-chk's ClientHello (but its gmt_unix_time)", (hello[:11] + hello[15:]).hex(),
         (SSL_HELLO_HEAD + SSL_HELLO_RANDOM + SSL_HELLO_TAIL).hex()),
    ]
    bad = [f"  {what}:\n    sent     {got}\n    expected {want}" for what, got, want in sent if got != want]
    check(not bad, "requests differ from HAProxy's:\n" + "\n".join(bad))
    check(abs(gmt - time.time()) < 120, f"ssl-hello-chk's gmt_unix_time {gmt} is the current time ({time.time():.0f})")

    # every request a scripted peer read had the framing of its protocol
    for k, s in p.items():
        with s.lock:
            errs = list(s.errors)
        check(not errs, f"scripted peer {k}: {errs[:3]}")

    # a peer that never answers: the checker closes each connection at the timeout and tries again
    for k in ("ldap_staller", "my_staller", "myn_staller", "pg_staller", "ssl_staller"):
        s = p[k]
        with s.lock:
            closed = s.results.get("closed_by_client", 0)
        check(s.accepts >= 2 and closed >= 1,
              f"{k}: the checker connected {s.accepts} times and closed {closed} stalled connections")

    # ...and it never wedges the checker: a real server that stops is seen DOWN, then UP again
    slapd.stop()
    settle(es, ("bldap", "slapd"), ("DOWN", "L4CON", None, "Connection refused"), 3)
    slapd2 = db_peers.start_slapd(h, port=slapd.port)
    settle(es, ("bldap", "slapd"), ("UP", "L7OK", 0, ""), 3)
    for key in (("bmy", "mariadb"), ("bpg", "pg"), ("bssl", "tls")):
        check_eq(result(srv(es, *key)), EXPECT[key], f"{key[0]}/{key[1]} meanwhile")

    log(f"start-up times: slapd {slapd.start_secs:.2f}s (again {slapd2.start_secs:.2f}s), "
        f"mariadb-install-db {my.install_secs:.2f}s + mariadbd {my.start_secs:.2f}s, "
        f"initdb and setup {pg.install_secs:.2f}s + postgres {pg.start_secs:.2f}s, "
        f"openssl s_server {tls.start_secs:.2f}s")


if __name__ == "__main__":
    eslib.run_http(main)
