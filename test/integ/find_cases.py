#!/usr/bin/env python3
"""Lists the integration cases for meson, so adding a case is adding a file.

  find_cases.py CASES_DIR
      prints the name of every case (CASES_DIR/<name>.py), sorted, one per line; exits 1 naming
      any .py file there that is not a case (it never calls eslib.run(main) or
      eslib.run_http(main)): shared code belongs in test/integ/lib/.
  find_cases.py CASES_DIR --stamp FILE --expect NAME...
      run by every build: exits 1 when the cases on disk are no longer the ones meson registered
      at configure time (a case added or removed since), so a new case cannot silently never
      run; otherwise touches FILE.
"""
import os
import re
import sys

RUNS_A_CASE = re.compile(r"^\s*eslib\.run(_http)?\(main\)", re.M)


def cases(folder):
    names, bad = [], []
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".py"):
            continue
        with open(os.path.join(folder, f), encoding="utf-8") as fh:
            (names if RUNS_A_CASE.search(fh.read()) else bad).append(f[:-3])
    return names, bad


def main(argv):
    folder = argv[1]
    names, bad = cases(folder)
    if bad:
        print(f"{folder}: not a case (no eslib.run(main) or eslib.run_http(main)): "
              f"{', '.join(b + '.py' for b in bad)}; shared code belongs in test/integ/lib/",
              file=sys.stderr)
        return 1
    if len(argv) == 2:
        print("\n".join(names))
        return 0
    if len(argv) < 5 or argv[2] != "--stamp" or argv[4] != "--expect":
        print(__doc__, file=sys.stderr)
        return 2
    stamp, expected = argv[3], set(argv[5:])
    new, gone = sorted(set(names) - expected), sorted(expected - set(names))
    if new or gone:
        print(f"{folder}: the cases changed since this build was configured "
              f"(new: {', '.join(new) or '-'}; gone: {', '.join(gone) or '-'}): "
              f"run `meson setup --reconfigure {os.getcwd()}` to register them", file=sys.stderr)
        return 1
    with open(stamp, "w") as fh:
        fh.write("\n".join(names) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
