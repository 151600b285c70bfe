#!/usr/bin/env bash
# Quick start: install, build, and run edgeshard on its embedded default configuration:
# a TCP proxy on 127.0.0.1:8080 in front of the built-in demo origin on 127.0.0.1:8081, with the
# control socket at /tmp/edgeshard.sock. Try it from another terminal:
#   curl http://127.0.0.1:8080/
#   ./build/tools/edgeshardctl show stat
# Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec ./build/edgeshard "$@"
