#!/usr/bin/env python3
"""`edgeshard -c` validates configurations: a good one -> exit 0 and 'Configuration file is
valid'; each bad one -> exit 1 and an error naming FILE:LINE of the offending line; `-v` prints
the version and the io_uring tier; two `-f` files are read as one configuration, in order."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

GOOD = """\
global
    nbthread 2
    maxconn 1000
    stats socket {sock} mode 600 level admin
    tune.es.splice-after 262144
    cpu-map 1 0
    cpu-map 2 1

defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s

frontend fe
    bind 127.0.0.1:{p1}
    maxconn 500
    default_backend be

backend be
    balance leastconn
    retries 3
    option redispatch
    server s1 127.0.0.1:{p2} weight 1 maxconn 100
    server s2 127.0.0.1:{p3} weight 2 disabled
"""

# (name, config text, line number of the error (1-based), acceptable alternative lines)
# The marker '<<<' is removed; it marks the line the error must point at.
BAD = [
    ("unknown_keyword", """\
        global
            nbthread 1
        defaults
            mode tcp
            timeout connect 1s
        frontend fe
            bind 127.0.0.1:{p1}
            frobnicate yes <<<
            default_backend be
        backend be
            server s1 127.0.0.1:{p2}
        """),
    ("bad_number", """\
        global
            nbthread 1
            maxconn 12abc <<<
        defaults
            mode tcp
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend be
        backend be
            server s1 127.0.0.1:{p2}
        """),
    ("unknown_backend", """\
        global
            nbthread 1
        defaults
            mode tcp
            timeout connect 1s
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend nosuchbackend <<<
        backend be
            server s1 127.0.0.1:{p2}
        """),
    ("missing_bind", """\
        global
            nbthread 1
        defaults
            mode tcp
        frontend fe <<<
            default_backend be
        backend be
            server s1 127.0.0.1:{p2}
        """),
    ("bad_time_unit", """\
        global
            nbthread 1
        defaults
            mode tcp
            timeout connect 1s
            timeout client 10parsecs <<<
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend be
        backend be
            server s1 127.0.0.1:{p2}
        """),
    ("duplicate_backend", """\
        global
            nbthread 1
        defaults
            mode tcp
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend be
        backend be
            server s1 127.0.0.1:{p2}
        backend be <<<
            server s2 127.0.0.1:{p3}
        """),
    ("bad_server_address", """\
        global
            nbthread 1
        defaults
            mode tcp
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend be
        backend be
            server s1 127.0.0.1:notaport <<<
        """),
    ("bad_balance", """\
        global
            nbthread 1
        defaults
            mode tcp
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend be
        backend be
            balance bogus-algorithm <<<
            server s1 127.0.0.1:{p2}
        """),
    # a sample expression edgeshard does not evaluate would be sent as written: refused
    ("unevaluated_sample", """\
        global
            nbthread 1
        defaults
            mode http
        frontend fe
            bind 127.0.0.1:{p1}
            http-request set-header X-Server %[srv_id] <<<
            default_backend be
        backend be
            server s1 127.0.0.1:{p2}
        """),
    # a bad log-format in defaults: the defaults line is named, not the listen that inherits it
    ("log_format_in_defaults", """\
        global
            nbthread 1
        defaults
            mode http
            log-format "%ci %[bogus_fetch]" <<<
        listen l
            bind 127.0.0.1:{p1}
            server s1 127.0.0.1:{p2}
        """),
    # a log target that nothing would ever be sent to: refused
    ("log_tcp_target", """\
        global
            nbthread 1
            log tcp@127.0.0.1:514 local0 <<<
        defaults
            mode tcp
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend be
        backend be
            server s1 127.0.0.1:{p2}
        """),
]


def marked(text, **kw):
    """Returns (config text, 1-based line of the '<<<' marker)."""
    import textwrap
    lines = textwrap.dedent(text).format(**kw).splitlines()
    line = None
    for i, l in enumerate(lines):
        if "<<<" in l:
            line = i + 1
            lines[i] = l.replace("<<<", "").rstrip()
    assert line is not None
    return "\n".join(lines) + "\n", line


def main(h):
    p1, p2, p3 = eslib.free_port(), eslib.free_port(), eslib.free_port()
    sock = h.sock_path()

    # -v
    r = h.run_cmd([h.bin, "-v"], timeout=10)
    out = r.stdout + r.stderr
    check_eq(r.returncode, 0, "`edgeshard -v` exit status")
    check(re.search(r"edgeshard version \S+", out), f"`-v` output lacks 'edgeshard version X': {out!r}")
    check("io_uring tier:" in out, f"`-v` output lacks 'io_uring tier:': {out!r}")
    log("-v ok: " + " | ".join(l.strip() for l in out.splitlines() if l.strip())[:200])

    # good config
    good = h.write("good.cfg", GOOD.format(sock=sock, p1=p1, p2=p2, p3=p3))
    r = h.run_cmd([h.bin, "-c", "-f", good], timeout=10)
    check_eq(r.returncode, 0, f"`-c` on a good config (stderr: {r.stderr.strip()!r})")
    check("Configuration file is valid" in r.stdout + r.stderr,
          f"`-c` on a good config did not print 'Configuration file is valid': "
          f"stdout={r.stdout!r} stderr={r.stderr!r}")
    check(not os.path.exists(sock), "`-c` must not create the control socket")
    check(eslib.port_is_free(p1), "`-c` must not leave anything bound on the frontend port")
    log("good config ok")

    # bad configs
    for name, text in BAD:
        cfg, line = marked(text, p1=p1, p2=p2, p3=p3)
        path = h.write(f"bad_{name}.cfg", cfg)
        r = h.run_cmd([h.bin, "-c", "-f", path], timeout=10)
        check_eq(r.returncode, 1, f"`-c` exit status on bad config '{name}' "
                                  f"(stdout={r.stdout.strip()!r} stderr={r.stderr.strip()!r})")
        want = f"{path}:{line}"
        check(re.search(re.escape(want) + r"(?!\d)", r.stderr),
              f"bad config '{name}': stderr should name {want} (the offending line: "
              f"{cfg.splitlines()[line - 1].strip()!r}); stderr was {r.stderr.strip()!r}")
        check("Configuration file is valid" not in r.stdout + r.stderr,
              f"bad config '{name}' was reported valid")
        if eslib.on_edgeshard():  # HAProxy's banner first: the version and the binary's path
            first = r.stderr.splitlines()[:2]
            check(len(first) == 2 and first[0].startswith("[NOTICE] edgeshard version is ") and
                  first[1] == f"[NOTICE] path to executable is {os.path.realpath(h.bin)}",
                  f"bad config '{name}': the version banner before the error: {first!r}")
        log(f"bad config {name}: {r.stderr.strip().splitlines()[-2 if len(r.stderr.strip().splitlines()) > 1 else 0][:160]}")

    # running (not -c) with a bad config also fails with the location and never gets ready
    cfg, line = marked(BAD[0][1], p1=p1, p2=p2, p3=p3)
    path = h.write("bad_run.cfg", cfg)
    r = h.run_cmd([h.bin, "-f", path], timeout=10)
    check(r.returncode != 0, "edgeshard -f <bad config> should exit non-zero")
    check(f"{path}:{line}" in r.stderr, f"running a bad config should name {path}:{line}: {r.stderr!r}")
    check("ready:" not in r.stderr, "edgeshard printed 'ready:' with a bad config")

    # two -f files: global (+defaults) in one, proxies in the other
    g = h.write("part1_global.cfg", f"""\
        global
            nbthread 2
            maxconn 1000
            stats socket {sock} mode 600 level admin
        defaults
            mode tcp
            timeout connect 2s
            timeout client 10s
            timeout server 10s
        """)
    px = h.write("part2_proxies.cfg", f"""\
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend be
        backend be
            balance roundrobin
            server s1 127.0.0.1:{p2}
        """)
    r = h.run_cmd([h.bin, "-c", "-f", g, "-f", px], timeout=10)
    check_eq(r.returncode, 0, f"`-c -f global.cfg -f proxies.cfg` (stderr: {r.stderr.strip()!r})")
    check("Configuration file is valid" in r.stdout + r.stderr, "two-file config not reported valid")

    # an error in the second file names the second file and its own line numbering
    px_bad = h.write("part2_bad.cfg", f"""\
        frontend fe
            bind 127.0.0.1:{p1}
            default_backend be
        backend be
            server s1 127.0.0.1:{p2}
            bogus-keyword 1
        """)
    r = h.run_cmd([h.bin, "-c", "-f", g, "-f", px_bad], timeout=10)
    check_eq(r.returncode, 1, "`-c` with an error in the second file")
    check(f"{px_bad}:6" in r.stderr, f"error in the second file should name {px_bad}:6: {r.stderr!r}")

    # a file that does not exist is an error naming it
    r = h.run_cmd([h.bin, "-c", "-f", h.path("does-not-exist.cfg")], timeout=10)
    check(r.returncode != 0, "`-c -f missing-file` should fail")
    check("does-not-exist.cfg" in r.stderr, f"missing file error should name the file: {r.stderr!r}")
    log("multi-file ok")

    # HAProxy's -dW (zero-warning): a configuration with a warning is refused, the warning printed; without
    # a warning it passes; -q silences -c's verdict on a valid file (HAProxy's unit checks with -c -q)
    warned = h.write("warned.cfg", f"""\
        frontend fe
            mode http
            bind 127.0.0.1:{p1}
            http-request return status 200
        """)
    r = h.run_cmd([h.bin, "-dW", "-c", "-f", warned], timeout=10)
    check(r.returncode == 1 and "missing timeouts" in r.stderr and "zero-warning" in r.stderr,
          f"-dW refuses a configuration with a warning: {r.returncode} {r.stderr!r}")
    r = h.run_cmd([h.bin, "-dW", "-c", "-q", "-f", good], timeout=10)
    check_eq((r.returncode, r.stdout), (0, ""), "-dW -c -q on a configuration without warnings")
    r = h.run_cmd([h.bin, "-dV", "-c", "-f", good], timeout=10)
    check(r.returncode != 0 and "ssl-server-verify none" in r.stderr, f"-dV says what to write instead: {r.stderr!r}")
    log("-dW, -q, -dV ok")


if __name__ == "__main__":
    eslib.run(main)
