#!/usr/bin/env python3
"""iperf3 (a real client and server from Debian) runs through the proxy in both directions;
the frontend's byte counters account for at least what iperf3 says it moved."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import Skip, check, log  # noqa: E402


def run_iperf(h, fe, reverse):
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(fe), "-t", "3", "-J", "--connect-timeout", "5000"]
    if reverse:
        argv.append("-R")
    label = "reverse (-R)" if reverse else "forward"
    r = h.run_cmd(argv, timeout=40)
    try:
        doc = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise eslib.Failure(f"iperf3 {label}: output is not JSON (exit {r.returncode}): "
                            f"stdout={r.stdout[:500]!r} stderr={r.stderr[:500]!r}")
    check("error" not in doc, f"iperf3 {label} reported an error: {doc.get('error')!r}")
    check(r.returncode == 0, f"iperf3 {label} exit status {r.returncode}")
    end = doc.get("end", {})
    sent = int(end.get("sum_sent", {}).get("bytes", 0))
    rcvd = int(end.get("sum_received", {}).get("bytes", 0))
    log(f"iperf3 {label}: sent {sent} received {rcvd} bytes "
        f"({end.get('sum_received', {}).get('bits_per_second', 0) / 1e9:.2f} Gbit/s)")
    check(rcvd > 0, f"iperf3 {label}: receiver got 0 bytes")
    check(sent > 0, f"iperf3 {label}: sender sent 0 bytes")
    return sent, rcvd


def main(h):
    if not shutil.which("iperf3"):
        raise Skip("iperf3 is not installed")
    srv_port = eslib.free_port()
    srv = h.spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(srv_port)], "iperf3-server")
    eslib.wait_listening([srv_port], 10)
    check(srv.running(), f"iperf3 server exited: {srv.stderr_text()}")
    px = fixture.proxy_to_origin(h, "tcp", srv_port, server_name="iperf", client="30s", server="30s", peer=False)
    fe, es = px.fe, px.proxy

    f_sent, f_rcvd = run_iperf(h, fe, reverse=False)
    r_sent, r_rcvd = run_iperf(h, fe, reverse=True)

    es.wait_stat("fe", "FRONTEND", "scur", lambda v: v == 0, timeout=10, what="scur == 0")
    m = es.stats()
    f = m[("fe", "FRONTEND")]
    bin_, bout, stot = eslib.num(f.get("bin")), eslib.num(f.get("bout")), eslib.num(f.get("stot"))
    log(f"frontend: stot={stot} bin={bin_} bout={bout}")
    # each iperf3 run opens a control connection and one data connection
    check(stot >= 4, f"frontend stot should count iperf3's control + data connections of two runs "
                     f"(>= 4), got {stot}")
    # forward: the client's data goes client->server (bin); reverse: server->client (bout)
    check(bin_ >= f_rcvd, f"frontend bin ({bin_}) < bytes the iperf3 server received in the "
                          f"forward run ({f_rcvd})")
    check(bout >= r_rcvd, f"frontend bout ({bout}) < bytes the iperf3 client received in the "
                          f"reverse run ({r_rcvd})")
    # nothing is invented: what crossed the proxy is bounded by what the senders sent, plus
    # control-connection chatter (small)
    slack = 1 << 20
    check(bin_ <= f_sent + slack + 2 * (1 << 16), f"frontend bin ({bin_}) exceeds what the forward "
                                                  f"sender sent ({f_sent}) by more than control traffic")
    check(bout <= r_sent + slack + 2 * (1 << 16), f"frontend bout ({bout}) exceeds what the reverse "
                                                  f"sender sent ({r_sent}) by more than control traffic")
    check(srv.running(), "iperf3 server died during the runs")


if __name__ == "__main__":
    eslib.run(main)
