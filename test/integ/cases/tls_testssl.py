#!/usr/bin/env python3
"""testssl.sh against a default TLS bind (`bind ... ssl crt FILE`, nothing else): protocols, cipher
categories, server defaults, cipher preference and the known vulnerabilities (Heartbleed, CCS,
ROBOT, renegotiation, CRIME, BREACH-less, POODLE, SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13,
RC4...) with no HIGH or CRITICAL finding about the service (findings about the test's self-signed
certificate are not the proxy's). The full scan (client simulations, every cipher per protocol,
headers) is slow_tls_testssl. The same bind on HAProxy with ES_TEST_PEER=haproxy.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import testssl_lib  # noqa: E402


def main(h):
    testssl_lib.run_case(h, ["-p", "-s", "-S", "-P", "-U"], 240, "protocols, ciphers, defaults, vulnerabilities")


if __name__ == "__main__":
    eslib.run_http(main)
