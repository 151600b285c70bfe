"""What the health-check cases share: a server's `show stat` row once no check is in progress, and
waiting for a status (works against edgeshard and against HAProxy)."""
import time

import eslib


def srv(es, be, sv):
    """The server's `show stat` row once no check of it is in progress (the detail and the code of
    a check in progress are blank, on HAProxy too)."""
    row = {}
    for _ in range(200):
        row = es.stats()[(be, sv)]
        if not str(row.get("check_status", "")).startswith("* "):
            return row
        time.sleep(0.005)
    return row


def wait_status(es, be, sv, want, timeout, what):
    """Waits until server be/sv's `show stat` status is `want`; returns the seconds it took."""
    t0 = time.monotonic()
    last = {}

    def ok():
        last["row"] = srv(es, be, sv)
        return str(last["row"].get("status")) == want

    try:
        eslib.poll_until(ok, timeout, interval=0.02, what=what)
    except eslib.Failure:
        row = last.get("row", {})
        raise eslib.Failure(f"{what}: status {row.get('status')!r}, want {want!r} ({row.get('check_status')!r}, "
                            f"{row.get('last_chk')!r}, code {row.get('check_code')!r})")
    return time.monotonic() - t0
