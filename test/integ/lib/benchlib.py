"""Helpers for the edgeshard-bench cases: the binary, its origin, its JSON."""
import json
import os
import subprocess

import eslib
from eslib import Failure, Skip, check

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools", "bench",
                      "result.schema.json")


def bench_bin():
    b = os.environ.get("EDGESHARD_BENCH_BIN", "")
    if not b or not os.access(b, os.X_OK):
        raise Skip("EDGESHARD_BENCH_BIN is not set to the built edgeshard-bench")
    return b


def start_origin(h, *args, name="origin"):
    """Starts `edgeshard-bench origin` with the given listeners (port 0) and returns
    (proc, {kind: port}) once every listener is printed."""
    p = h.spawn([bench_bin(), "origin", *args], name)
    ports = {}

    def ready():
        for line in p.stdout_text().splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0] == "listening":
                ports[parts[1]] = int(parts[-1])
        if not p.running():
            raise Failure(f"origin exited: {p.tail()}")
        want = sum(1 for a in args if a in ("--http", "--tcp-sink", "--tcp-echo", "--tcp-source"))
        return len(ports) == want
    eslib.poll_until(ready, 10, what="edgeshard-bench origin listening")
    return p, ports


def run(args, timeout=60):
    """Runs edgeshard-bench with --json; returns the parsed result(s) (a list for JSON Lines)."""
    argv = [bench_bin(), *args]
    try:
        cp = subprocess.run(argv, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"{' '.join(argv)} did not finish within {timeout}s")
    if cp.returncode != 0:
        raise Failure(f"{' '.join(argv)} exited {cp.returncode}: {cp.stderr.decode(errors='replace')[-2000:]}")
    out = [json.loads(l) for l in cp.stdout.decode().splitlines() if l.strip()]
    check(out, f"{' '.join(argv)} printed no JSON; stderr: {cp.stderr.decode(errors='replace')[-1000:]}")
    return out


def validate(doc):
    try:
        import jsonschema
    except ImportError:
        raise Skip("python3-jsonschema is not installed")
    with open(SCHEMA) as f:
        schema = json.load(f)
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as e:
        raise Failure(f"result does not validate against result.schema.json: {e.message} at "
                      f"{list(e.absolute_path)}")
