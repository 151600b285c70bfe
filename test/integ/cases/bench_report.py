#!/usr/bin/env python3
"""`edgeshard-bench report` turns result files into one self-contained HTML page.

- the example results in test/bench-fixtures/ (and any files named in $BENCH_REPORT_INPUTS,
  space-separated) are valid against tools/bench/result.schema.json;
- bad input (missing file, broken JSON Lines record, object without the schema marker, missing
  required field) -> exit 1 with a message naming the file (and line);
- the page parses with every element closed, has the expected number of SVG charts and one
  latency line per HTTP run, no NaN/infinity in any SVG number, and escapes input text;
- a 22-run page (20 sweep points plus an all-zero and a huge-valued run) holds up the same way;
- headless Chromium renders both pages with no console message at all (the page has no scripts,
  so any message is a problem: a CSP refusal, a parse error) and a non-trivial screenshot.
Needs python3-jsonschema and chromium; without either the case is skipped, saying which.
Env: EDGESHARD_BENCH_BIN (the binary), optional BENCH_REPORT_INPUTS, BENCH_REPORT_KEEP (a
directory to copy the pages and screenshots into, for looking at them).
"""
import copy
import html.parser
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
from eslib import Failure, Skip, check, check_eq, log  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
FIXTURES = os.path.join(ROOT, "test", "bench-fixtures")
SCHEMA = os.path.join(ROOT, "tools", "bench", "result.schema.json")
EVIL_TITLE = "Report <script>alert(1)</script> & \"friends\""

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
NUM_ATTRS = {"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height", "points", "viewbox"}


# --------------------------------------------------------------------------------------------
# Input files
# --------------------------------------------------------------------------------------------

def load_runs(path):
    """The result objects of one file: a single object, or JSON Lines."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass
    runs = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise Failure(f"{path}:{n}: not JSON: {e}")
    return runs


def validate(validator, path, runs):
    for i, run in enumerate(runs):
        errors = sorted(validator.iter_errors(run), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            where = "/".join(str(p) for p in e.path)
            raise Failure(f"{path} (record {i + 1}) is not valid against the schema at '{where}': {e.message}")


def has_latency(run):
    r = run["results"]
    return run["scenario"] == "http" and (bool(r.get("latency_percentiles"))
                                          or r.get("latency_us", {}).get("count", 0) > 0)


def expected_charts(runs):
    """chart id -> number of series polylines, as the report is specified to draw them."""
    http = [r for r in runs if r["scenario"] == "http"]
    tcp = [r for r in runs if r["scenario"] == "tcp"]
    exp = {}
    if http:
        exp["latency"] = sum(1 for r in http if has_latency(r))
        exp["timeline-http"] = sum(1 for r in http if r["results"]["timeline"])
    if tcp:
        exp["timeline-tcp"] = sum(1 for r in tcp if r["results"]["timeline"])
    if len(runs) >= 2 and len(http) >= 2:
        exp["bars-http"] = 0
    if len(runs) >= 2 and len(tcp) >= 2:
        exp["bars-tcp"] = 0
    flows = sum(1 for r in tcp if r["results"].get("flows"))
    return exp, flows


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

class PageChecker(html.parser.HTMLParser):
    """Every non-void element is closed, in order; collects SVG charts, their polylines and
    every numeric SVG attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.problems = []
        self.charts = []          # [chart id, polylines]
        self.numbers = []         # (tag, attr, value)
        self.tags = set()
        self.in_svg = 0
        self.text = []

    def _attrs(self, tag, attrs):
        self.tags.add(tag)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "srcset", "action") or k.startswith("on"):
                self.problems.append(f"<{tag} {k}=\"{v}\"> at {self.getpos()}: external reference or handler")
        if self.in_svg or tag == "svg":
            for k, v in attrs:
                if k in NUM_ATTRS and v is not None:
                    self.numbers.append((tag, k, v))

    def handle_starttag(self, tag, attrs):
        self._attrs(tag, attrs)
        if tag == "svg":
            self.in_svg += 1
            self.charts.append([dict(attrs).get("data-chart", "?"), 0])
        if tag == "polyline" and self.charts and 'series' in (dict(attrs).get("class") or ""):
            self.charts[-1][1] += 1
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))

    def handle_startendtag(self, tag, attrs):
        self._attrs(tag, attrs)
        if tag == "polyline" and self.charts and 'series' in (dict(attrs).get("class") or ""):
            self.charts[-1][1] += 1

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack:
            self.problems.append(f"</{tag}> at {self.getpos()} closes nothing")
            return
        top, pos = self.stack.pop()
        if top != tag:
            self.problems.append(f"<{top}> opened at {pos} closed by </{tag}> at {self.getpos()}")
        if tag == "svg":
            self.in_svg -= 1

    def handle_data(self, data):
        self.text.append(data)


def check_page(path, runs):
    with open(path, encoding="utf-8") as f:
        page = f.read()
    check(page.startswith("<!DOCTYPE html>"), f"{path}: no HTML5 doctype")
    p = PageChecker()
    p.feed(page)
    p.close()
    check(not p.problems, f"{path}: badly nested markup: {p.problems[:5]}")
    check(not p.stack, f"{path}: elements never closed: {p.stack[:5]}")
    for banned in ("script", "link", "img", "iframe", "object"):
        check(banned not in p.tags, f"{path}: the page has a <{banned}> element")
    for tag, attr, v in p.numbers:
        check(not re.search(r"nan|inf", v, re.I), f"{path}: <{tag} {attr}=\"{v[:60]}\"> is not a finite number")
        for tok in re.split(r"[\s,]+", v.strip()):
            if tok:
                try:
                    float(tok)
                except ValueError:
                    raise Failure(f"{path}: <{tag} {attr}=...> holds '{tok}', not a number")
    exp, flows = expected_charts(runs)
    got = {}
    n_flows = 0
    for cid, lines in p.charts:
        if cid == "flows":
            n_flows += 1
        else:
            check(cid not in got, f"{path}: chart {cid} appears twice")
            got[cid] = lines
    check_eq(sorted(got), sorted(exp), f"{path}: charts")
    for cid, lines in exp.items():
        check_eq(got[cid], lines, f"{path}: series lines in chart {cid}")
    check_eq(n_flows, flows, f"{path}: per-flow charts")
    log(f"{path}: {len(p.charts)} charts, well formed, {len(p.numbers)} numeric SVG attributes all finite")
    return page, len(p.charts), sum(n for _, n in p.charts)


# --------------------------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------------------------

def run_bounded(h, argv, name, timeout):
    """Runs argv in its own process group; returns (rc, stdout bytes, stderr text). On timeout the
    group (led by the child's PID) is killed and the test fails."""
    out_path, err_path = h.path(name + ".out"), h.path(name + ".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=h.tmpdir,
                             start_new_session=True)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            # the browser leaves helper processes in its group; end them with it
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)
    with open(out_path, "rb") as f:
        stdout = f.read()
    with open(err_path, encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    if rc is None:
        raise Failure(f"{name}: {argv[0]} did not finish within {timeout}s; stderr tail:\n{stderr[-2000:]}")
    return rc, stdout, stderr


def chromium_argv(h, chrome, profile, extra, url):
    prof = h.path(profile)
    os.makedirs(prof, exist_ok=True)
    return [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={prof}", "--enable-logging=stderr", "--v=0"] + extra + [url]


def console_lines(stderr):
    return [l for l in stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]


def png_facts(path):
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    idat = b""
    pos = 8
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    return width, height, len(data), len(set(raw[::7]))


def render_in_chromium(h, chrome, page_path, name, expect_svgs, expect_lines, screenshot):
    url = "file://" + page_path
    rc, dom, err = run_bounded(h, chromium_argv(h, chrome, name + "-prof-dom", ["--dump-dom"], url),
                               name + "-dom", 90)
    check_eq(rc, 0, f"chromium --dump-dom exit status for {name}")
    msgs = console_lines(err)
    check(not msgs, f"chromium logged console messages for {name}:\n" + "\n".join(msgs[:10]))
    dom = dom.decode("utf-8", "replace")
    check_eq(dom.count("<svg"), expect_svgs, f"<svg> elements in the rendered DOM of {name}")
    check_eq(len(re.findall(r'<polyline class="series"', dom)), expect_lines, f"series lines in the DOM of {name}")
    check("&lt;script&gt;" in dom, f"the escaped title is missing from the DOM of {name}")
    if not screenshot:
        return
    png = h.path(name + ".png")
    rc, _, err = run_bounded(h, chromium_argv(h, chrome, name + "-prof-shot",
                                              ["--hide-scrollbars", "--window-size=1400,3000",
                                               f"--screenshot={png}"], url),
                             name + "-shot", 90)
    check_eq(rc, 0, f"chromium --screenshot exit status for {name}")
    msgs = console_lines(err)
    check(not msgs, f"chromium logged console messages for {name}:\n" + "\n".join(msgs[:10]))
    check(os.path.exists(png), f"no screenshot written for {name}")
    w, hgt, size, distinct = png_facts(png)
    check_eq((w, hgt), (1400, 3000), f"screenshot size of {name}")
    check(size > 30000 and distinct > 20, f"screenshot of {name} looks blank ({size} bytes, {distinct} byte values)")
    log(f"{name}: screenshot {w}x{hgt}, {size} bytes")
    keep = os.environ.get("BENCH_REPORT_KEEP")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(png, keep)
        shutil.copy(page_path, keep)


# --------------------------------------------------------------------------------------------
# The case
# --------------------------------------------------------------------------------------------

def stress_runs(base_http, base_tcp):
    """20 sweep points with spread-out numbers, one all-zero run and one with huge values."""
    runs = []
    for i in range(20):
        r = copy.deepcopy(base_http)
        scale = 1.0 + i * 0.37
        r["label"] = f"conns={16 * (i + 1)} <b>{i}</b>"
        r["sweep"] = {"point": i + 1, "points": 20, "vars": {"connections": 16 * (i + 1)}}
        res = r["results"]
        res["rps"] = res["rps"] * (1 + i * 0.1)
        res["latency_percentiles"] = [[p, us * scale] for p, us in res["latency_percentiles"]]
        res["latency_us"] = {k: (v if k == "count" else v * scale) for k, v in res["latency_us"].items()}
        res["timeline"] = res["timeline"][: max(0, 10 - i)]  # later points: shorter, then empty timelines
        runs.append(r)
    z = copy.deepcopy(base_http)
    z["label"] = "all zero"
    z["results"].update(rps=0, responses=0, requests=0, bytes_sent=0, bytes_received=0, elapsed_s=0,
                        latency_percentiles=[], timeline=[],
                        latency_us={k: 0 for k in z["results"]["latency_us"]})
    runs.append(z)
    t = copy.deepcopy(base_tcp)
    t["label"] = "huge"
    t["results"].update(gbps=1e300, bytes_sent=2 ** 63, timeline=[{"t": 1, "completed": 0, "bytes": 2 ** 63}],
                        flows=[{"id": 0, "bytes_sent": 2 ** 63, "bytes_received": 2 ** 63},
                               {"id": 1, "bytes_sent": 0, "bytes_received": 0}])
    runs.append(t)
    t0 = copy.deepcopy(base_tcp)
    t0["label"] = "tcp zero"
    t0["results"].update(gbps=0, bytes_sent=0, bytes_received=0, timeline=[], flows=[], fairness=0)
    runs.append(t0)
    return runs


def main(h):
    bench = os.environ.get("EDGESHARD_BENCH_BIN", "")
    check(bench != "", "EDGESHARD_BENCH_BIN is not set")
    check(os.access(bench, os.X_OK), f"EDGESHARD_BENCH_BIN={bench} is not an executable file")
    try:
        import jsonschema
    except ImportError:
        raise Skip("python3-jsonschema is not installed (needed to validate the result files)")

    with open(SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    inputs = sorted(os.path.join(FIXTURES, n) for n in os.listdir(FIXTURES)
                    if n.endswith(".json") or n.endswith(".jsonl"))
    check(len(inputs) >= 3, f"expected the example results in {FIXTURES}, found {inputs}")
    extra = os.environ.get("BENCH_REPORT_INPUTS", "").split()
    # real results from this build: an open-loop sweep of two points and a tcp run
    import benchlib
    _, o = benchlib.start_origin(h, "--http", "127.0.0.1:0", "--tcp-sink", "127.0.0.1:0", "--delay", "2ms")
    real_sweep, real_tcp = h.path("real-sweep.jsonl"), h.path("real-tcp.json")
    benchlib.run(["sweep", "--set", "connections=4,16", "--out", real_sweep, "--json", "-q", "--", "http",
                  f"http://127.0.0.1:{o['http']}/", "--rate", "1000", "-d", "2"])
    with open(real_tcp, "w") as f:
        json.dump(benchlib.run(["tcp", f"127.0.0.1:{o['sink']}", "-c", "4", "-d", "1", "--json", "-q"])[0], f)
    extra += [real_sweep, real_tcp]
    for p in extra:
        check(os.path.isfile(p), f"BENCH_REPORT_INPUTS names {p}, which is not a file")
    runs = []
    for p in inputs + extra:
        rs = load_runs(p)
        validate(validator, p, rs)
        log(f"{p}: {len(rs)} result(s) valid against the schema")
        runs += rs
    http_runs = [r for r in runs if r["scenario"] == "http"]
    tcp_runs = [r for r in runs if r["scenario"] == "tcp"]
    check(http_runs and tcp_runs, "the fixtures need both an http and a tcp run")
    check(any(r.get("sweep") for r in runs), "the fixtures need a sweep (JSON Lines)")
    check(any(r["results"].get("flows") for r in tcp_runs), "the fixtures need a tcp run with flows")

    # bad input: exit 1, the message names the file (and the line of a JSON Lines record)
    good = json.dumps(http_runs[0], separators=(",", ":"))
    bad_line = h.write("bad_line.jsonl", good + "\n" + good[: len(good) // 2] + "\n")
    no_schema = dict(http_runs[0])
    no_schema.pop("schema")
    no_schema_p = h.write("no_schema.json", json.dumps(no_schema))
    no_field = copy.deepcopy(http_runs[0])
    no_field["results"].pop("timeline")
    no_field_p = h.write("no_field.jsonl", good + "\n\n" + json.dumps(no_field, separators=(",", ":")) + "\n")
    missing = h.path("does_not_exist.json")
    for argv, want in ((["report", missing], missing + ":"),
                       (["report", bad_line], bad_line + ":2: invalid JSON"),
                       (["report", no_schema_p], no_schema_p + ": not an edgeshard-bench result"),
                       (["report", inputs[0], no_field_p], no_field_p + ":3: results: missing required field \"timeline\""),
                       (["report"], "no result files"),
                       (["report", "--frobnicate", inputs[0]], "unknown option")):
        r = h.run_cmd([bench] + argv, timeout=30)
        check_eq(r.returncode, 1, f"exit status of `edgeshard-bench {' '.join(argv)}`")
        check(want in r.stderr, f"`edgeshard-bench {' '.join(argv)}` should say '{want}', said: {r.stderr!r}")
        check(r.stdout == "", f"`edgeshard-bench {' '.join(argv)}` wrote to stdout on error")
    log("bad input is refused with a message naming the file and line")

    # the report of the example files (and any real runs given)
    page = h.path("report.html")
    r = h.run_cmd([bench, "report", "-o", page, "--title", EVIL_TITLE] + inputs + extra, timeout=60)
    check_eq(r.returncode, 0, f"report exit status (stderr: {r.stderr!r})")
    text, n_svg, n_lines = check_page(page, runs)
    check("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;friends&quot;" in text, "the title is not escaped")
    r = h.run_cmd([bench, "report", "--title", EVIL_TITLE] + inputs + extra, timeout=60)
    check_eq(r.returncode, 0, "report to stdout exit status")
    check_eq(re.sub(r"Generated \S+", "", r.stdout), re.sub(r"Generated \S+", "", text), "stdout page vs -o page")

    # many runs, zeros and huge values
    stress = stress_runs(http_runs[0], next(t for t in tcp_runs if t["results"].get("flows")))
    validate(validator, "stress runs", stress)
    stress_p = h.write("stress.jsonl", "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in stress))
    stress_page = h.path("stress.html")
    r = h.run_cmd([bench, "report", "-o", stress_page, "--title", EVIL_TITLE, stress_p], timeout=60)
    check_eq(r.returncode, 0, f"report exit status for the stress runs (stderr: {r.stderr!r})")
    _, s_svg, s_lines = check_page(stress_page, stress)

    chrome = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if not chrome:
        raise Skip("chromium is not installed (apt-get install chromium); the page checks above passed")
    # the console check must be able to see a failure: a page with a script error is caught
    canary = h.write("canary.html", "<!DOCTYPE html><html><body><script>undefined_fn_canary();</script></body></html>")
    rc, _, err = run_bounded(h, chromium_argv(h, chrome, "canary-prof", ["--dump-dom"], "file://" + canary),
                             "canary", 90)
    check(any("undefined_fn_canary" in l for l in console_lines(err)),
          "chromium's console output is not visible on stderr, so errors could not be detected")
    render_in_chromium(h, chrome, page, "report", n_svg, n_lines, screenshot=True)
    render_in_chromium(h, chrome, stress_page, "stress", s_svg, s_lines, screenshot=True)


eslib.run(main)
