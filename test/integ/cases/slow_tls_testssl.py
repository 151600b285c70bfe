#!/usr/bin/env python3
"""The full testssl.sh scan of a default TLS bind (every check, client simulations included): no
HIGH or CRITICAL finding about the service. CI runs the short scan (tls_testssl); this one is in
the slow suite (`scripts/test.sh --slow`)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import testssl_lib  # noqa: E402


def main(h):
    testssl_lib.run_case(h, [], 1500, "full scan")


if __name__ == "__main__":
    eslib.run_http(main)
