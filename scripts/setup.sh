#!/usr/bin/env bash
# Installs what edgeshard needs to build and test on Debian 12 (bookworm), then configures and
# builds it in ./build. Safe to run again: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(g++ pkg-config cmake meson ninja-build liburing-dev libmimalloc-dev libhwloc-dev rapidjson-dev
            doctest-dev libbenchmark-dev libssl-dev libcrypt-dev libc-ares-dev libpcre2-dev
            libxxhash-dev)
# python3-jsonschema checks edgeshard-bench's JSON against its schema; chromium renders its HTML report;
# rsyslog is the real syslog server of log_syslog_udp (started by the test itself, never as a service)
# testssl.sh scans the TLS binds (tls_testssl); redis-server, python3-aiosmtpd, slapd, mariadb-server and
# postgresql are the real peers of the protocol health checks (health_rulesets, health_databases: each
# started by the test itself on its own port, never as a service); haproxy (Debian's 2.6) is the peer of
# proxy_interop, which sends PROXY headers through it both ways (also started by the test itself);
# dnsmasq-base is the DNS server of dns_resolvers (records the test changes while traffic flows)
# ops_tools runs the operators' HAProxy tools: hatop (in tmux), the exporter, munin/nagios/netdata plugins, their perl libs
TEST_PKGS=(python3 python3-jsonschema socat iperf3 curl procps wrk openssl chromium rsyslog testssl.sh
           redis-server python3-aiosmtpd slapd mariadb-server postgresql haproxy dnsmasq-base
           hatop tmux prometheus-haproxy-exporter munin-plugins-core munin-plugins-extra monitoring-plugins-contrib
           libwww-perl libmonitoring-plugin-perl liblocale-gettext-perl netdata-plugins-python)
want=("${BUILD_PKGS[@]}")
[[ ${1:-} == --test ]] && want+=("${TEST_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  # servers installed for the tests must not start as services: the tests start their own
  policy=/usr/sbin/policy-rc.d; made_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null && $SUDO chmod 755 $policy && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ -n $made_policy ]]; then $SUDO rm -f $policy; fi
fi

if [[ ! -f build/build.ninja ]]; then
  meson setup build --buildtype=release >/dev/null
fi
ninja -C build
