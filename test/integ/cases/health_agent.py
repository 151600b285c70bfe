#!/usr/bin/env python3
"""Agent checks (`agent-check`, `agent-port`, `agent-inter`, `agent-send`, `agent-addr`) against a
scripted agent (a thread on 127.0.0.1 that answers one line the test changes and records what it
received), next to two HTTP origins. The same configuration passes against HAProxy 2.6
(ES_TEST_PEER=haproxy); every value asserted below is what HAProxy 2.6 shows.
  A. Start: s1's agent answers "up": s1 UP, agent_status L7OK, agent_desc "Layer7 check passed",
     last_agt "via agent : up", agent_code 0, agent_rise/fall/health 1/1/1; the agent receives the
     `agent-send` string ("hello s1\\n", unescaped) on every connection, about every agent-inter
     (200 ms, while the regular check runs every 500 ms). s2's agent port refuses connections: not
     an error, s2 stays UP (agent_status L4CON, last_agt "Connection refused", agent_health 1,
     chkfail 0). Traffic is split evenly.
  B. Weights: "75%" -> weight/uweight 75, `show servers state` srv_uweight 75 / srv_iweight 100,
     agent_status CHECKED "No status change" with an empty last_agt; traffic follows the weights.
     "weight:50%" is not a 2.6 agent word: last_agt "agent reports an error : weight:50%" and the
     weight stays. "50%" -> 50, traffic follows.
  C. "drain" -> status "DRAIN (agent)", srv_admin_state 8, weight kept, no request to s1, log
     "enters drain state"; "ready" -> UP, admin state 0, traffic back.
  D. "maint" -> MAINT (srv_op_state 0, srv_admin_state 1), no request to s1, the agent keeps being
     polled; "ready" -> UP ("leaving forced maintenance").
  E. "down#some reason" (no separator before '#') is an error in 2.6: last_agt "agent reports an
     error : down#some", still UP. "down #some reason" -> "DOWN (agent)", agent_status L7STS,
     agent_desc "Layer7 wrong status", last_agt "via agent : down (some reason)", agent_health 0,
     HAProxy's DOWN log line, no request to s1; "up 100%" -> UP, L7OK, weight 100, UP log line.
     "up maxconn:7" sets slim 7.
  F. Runtime commands: `set server be/s1 agent down` (agent answering only "100%") -> "DOWN
     (agent)" at once and it stays so across agent checks; `agent up` -> UP; a bad state and a
     server without an agent get HAProxy's error texts. `disable agent` while the agent says
     down: agent columns blank, srv_agent_state 0x12, no agent connection, the regular check
     brings the server UP; `enable agent` -> 0x16 and DOWN (agent) again. `set server ...
     agent-send bye` reaches the agent; `set weight be/s1 50%` holds while the agent reports no
     weight ("get weight" "50 (initial 100)"), and the agent's next "100%" overrides it.
  G. `agent-addr`: a server at 127.0.0.2 (never connected to) whose agent is polled at 127.0.0.1;
     an agent without `check`: status "no check", its weight set by the agent.
  I. (edgeshard only) a reload carries the agents' verdicts: a server its agent has DOWN (and an
     agent-only server) is DOWN at once in the new process and gets no request until its agent
     says up.
  H. `agent-check` without `agent-port` is a configuration error naming file:line.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import http_origin  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

L = eslib.LOCALHOST
AGENT_INTER = 200  # ms
INTER = 500  # ms, the regular checks


class Agent:
    """A scripted agent: every connection gets `reply` at once, then everything the proxy sends
    until it closes is recorded in `got` (one bytes object per connection)."""

    def __init__(self, h, reply, name):
        self.reply = reply
        self.got = []
        self.lock = threading.Lock()
        self.srv = h.threaded_server(self._handle, name=name, conn_timeout=5)
        self.port = self.srv.port

    def _handle(self, conn, idx, server):
        data = b""
        try:
            conn.sendall(self.reply.encode())
            conn.settimeout(1.0)
            for _ in range(64):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass  # a reset after the answer is the proxy closing: what arrived is kept
        with self.lock:
            self.got.append(data)

    def set(self, reply):
        self.reply = reply

    def accepts(self):
        with self.srv.lock:
            return self.srv.accepts

    def received(self):
        with self.lock:
            return list(self.got)


def row(es, be, sv):
    """The server's `show stat` row once neither its check nor its agent check is in progress
    (the results of a check in progress are blank)."""
    r = {}
    for _ in range(200):
        r = es.stats()[(be, sv)]
        if not str(r.get("check_status", "")).startswith("* ") and \
                not str(r.get("agent_status", "")).startswith("* "):
            return r
        time.sleep(0.005)
    return r


COLS = ("status", "weight", "uweight", "check_status", "agent_status", "agent_code", "agent_desc",
        "last_agt", "agent_health", "chkfail", "chkdown")


def brief(r):
    return {k: r.get(k) for k in COLS}


def wait_row(es, be, sv, pred, timeout, what):
    """Polls the server's row until pred(row) holds; returns (row, seconds)."""
    t0 = time.monotonic()
    last = {}

    def ok():
        last["r"] = row(es, be, sv)
        return pred(last["r"])

    try:
        eslib.poll_until(ok, timeout, interval=0.02, what=what)
    except eslib.Failure:
        raise eslib.Failure(f"{what}: not reached within {timeout}s; {be}/{sv}: {brief(last.get('r', {}))}")
    return last["r"], time.monotonic() - t0


def blank(v):
    return v is None or v == ""


def servers_state(es, be, sv):
    """`show servers state <be>` row of `sv` as {column: value} (names from the header line)."""
    lines = es.ctl(f"show servers state {be}").splitlines()
    hdr = next((ln for ln in lines if ln.startswith("#")), None)
    check(hdr is not None, f"`show servers state {be}` has no header: {lines[:3]}")
    names = hdr.lstrip("# ").split()
    for ln in lines:
        f = ln.split()
        if not ln.startswith("#") and len(f) == len(names) and f[3] == sv:
            return dict(zip(names, f))
    raise eslib.Failure(f"`show servers state {be}` has no row for {sv}: {lines}")


def spread(port, n):
    """n requests on one keep-alive connection; {X-Origin: count}."""
    got = {}
    c = eslib.HttpClient(port, timeout=5)
    try:
        for i in range(n):
            r = c.request("GET", f"/a{i}")
            check_eq(r.status, 200, f"GET /a{i} through the proxy ({r.brief()})")
            o = r.header("X-Origin")
            got[o] = got.get(o, 0) + 1
    finally:
        c.close()
    return got


def log_has(es, text, timeout=2.0):
    eslib.poll_until(lambda: text in es.stderr_text(), timeout, what=f"log line containing {text!r}")


def main(h):
    sock = h.sock_path()
    s1 = http_origin.start(h, name="s1")
    s2 = http_origin.start(h, name="s2")
    ag1 = Agent(h, "up\n", "agent1")
    ag_addr = Agent(h, "down #via addr\n", "agent-addr")
    ag_nochk = Agent(h, "50%\n", "agent-nocheck")
    refused = eslib.free_port()  # nothing listens there: s2's agent is refused
    # every agent here has an agent-send: HAProxy 2.6 times out (L7TOUT) the agents without one as
    # soon as another server of the configuration has one, so the reference run needs them all
    port = eslib.free_port()
    ai = f"agent-inter {AGENT_INTER}"
    cfg = (eslib.http_global(sock, nbthread=2)
           + eslib.http_defaults(connect="500ms")
           + eslib.section("frontend fe", f"bind {L}:{port}\ndefault_backend be")
           + eslib.section("backend be", f"""
                balance roundrobin
                default-server inter {INTER} rise 2 fall 2
                server s1 {L}:{s1.port} check weight 100 agent-check agent-port {ag1.port} {ai} agent-send "hello s1\\n"
                server s2 {L}:{s2.port} check weight 100 agent-check agent-port {refused} {ai} agent-send "hello s2\\n" """)
           + eslib.section("backend bx", f"""
                server a 127.0.0.2:{s1.port} agent-check agent-addr {L} agent-port {ag_addr.port} {ai} agent-send "bx a\\n"
                server b {L}:{s2.port} weight 100 agent-check agent-port {ag_nochk.port} {ai} agent-send "bx b\\n"
                server n {L}:{s2.port} weight 100"""))
    es = eslib.start_proxy(h, cfg, ports=[port], sock=sock)

    # ---- A. start: the agent says up; an agent that refuses connections is not an error
    r, took = wait_row(es, "be", "s1", lambda r: r.get("status") == "UP" and r.get("agent_status") == "L7OK",
                       5, "s1 UP with its agent's first answer")
    log(f"s1 UP, agent L7OK after {took:.2f}s: {brief(r)}")
    check_eq((r.get("agent_status"), eslib.num(r.get("agent_code")), r.get("agent_desc"), r.get("last_agt")),
             ("L7OK", 0, "Layer7 check passed", "via agent : up"), "s1's agent columns after \"up\"")
    check_eq((eslib.num(r.get("agent_rise")), eslib.num(r.get("agent_fall")), eslib.num(r.get("agent_health"))), (1, 1, 1),
             "agent_rise/agent_fall/agent_health")
    check_eq((eslib.num(r.get("weight")), eslib.num(r.get("uweight"))), (100, 100), "s1's configured weight")
    r2, _ = wait_row(es, "be", "s2", lambda r: r.get("agent_status") == "L4CON", 5, "s2's agent refused")
    n0, t0 = ag1.accepts(), time.monotonic()
    time.sleep(1.5)
    polls = (ag1.accepts() - n0) / (time.monotonic() - t0)
    log(f"agent polled {polls:.1f} times a second (agent-inter {AGENT_INTER} ms, inter {INTER} ms)")
    check(3.5 <= polls <= 7, f"the agent is polled every agent-inter ({AGENT_INTER} ms): {polls:.1f}/s")
    r2 = row(es, "be", "s2")
    check_eq((r2.get("status"), r2.get("agent_status"), r2.get("agent_desc"), r2.get("last_agt"),
              eslib.num(r2.get("agent_health")),
              eslib.num(r2.get("chkfail")), eslib.num(r2.get("chkdown"))),
             ("UP", "L4CON", "Layer4 connection problem", "Connection refused", 1, 0, 0),
             "s2 with a refusing agent: UP, the agent failure reported but not counted")
    check(blank(r2.get("agent_code")), f"no agent_code without an answer: {r2.get('agent_code')!r}")
    got = ag1.received()
    check(len(got) >= 5, f"the agent recorded its connections: {len(got)}")
    check_eq(set(got), {b"hello s1\n"}, "what the agent received on each connection (agent-send)")
    got = spread(port, 20)
    check(9 <= got.get("s1", 0) <= 11 and 9 <= got.get("s2", 0) <= 11, f"traffic even at weight 100:100: {got}")

    # ---- B. weights
    ag1.set("75%\n")
    r, _ = wait_row(es, "be", "s1", lambda r: eslib.num(r.get("weight")) == 75, 3, "\"75%\" -> weight 75")
    check_eq((r.get("status"), eslib.num(r.get("uweight")), r.get("agent_status"), r.get("agent_desc"),
              blank(r.get("last_agt"))), ("UP", 75, "CHECKED", "No status change", True), "s1 after \"75%\"")
    check(blank(r.get("agent_code")), f"agent_code after a weight-only answer: {r.get('agent_code')!r}")
    st = servers_state(es, "be", "s1")
    check_eq((st["srv_uweight"], st["srv_iweight"]), ("75", "100"), "show servers state weights after \"75%\"")
    got = spread(port, 35)
    log(f"75:100 -> {got}")
    check(13 <= got.get("s1", 0) <= 17 and got.get("s1", 0) + got.get("s2", 0) == 35,
          f"traffic follows weights 75:100 (s1 ~15 of 35): {got}")
    ag1.set("weight:50%\n")
    r, _ = wait_row(es, "be", "s1", lambda r: r.get("last_agt") == "agent reports an error : weight:50%", 3,
                    "\"weight:50%\" reported as an agent error")
    check_eq((r.get("status"), eslib.num(r.get("weight")), r.get("agent_status")), ("UP", 75, "CHECKED"),
             "\"weight:50%\" (not a 2.6 agent word) leaves the weight")
    ag1.set("50%\n")
    wait_row(es, "be", "s1", lambda r: eslib.num(r.get("weight")) == 50 and blank(r.get("last_agt")), 3,
             "\"50%\" -> weight 50")
    got = spread(port, 30)
    log(f"50:100 -> {got}")
    check(8 <= got.get("s1", 0) <= 12, f"traffic follows weights 50:100 (s1 ~10 of 30): {got}")

    # ---- C. drain / ready
    ag1.set("drain\n")
    r, _ = wait_row(es, "be", "s1", lambda r: r.get("status") == "DRAIN (agent)", 3, "\"drain\" -> DRAIN (agent)")
    check_eq((eslib.num(r.get("weight")), eslib.num(r.get("uweight"))), (50, 50), "drain keeps the weight in show stat")
    st = servers_state(es, "be", "s1")
    check_eq((st["srv_op_state"], st["srv_admin_state"]), ("2", "8"), "drain: op state running, admin FDRAIN")
    check_eq(spread(port, 20), {"s2": 20}, "no request to a drained server")
    log_has(es, "Server be/s1 enters drain state.")
    ag1.set("ready\n")
    wait_row(es, "be", "s1", lambda r: r.get("status") == "UP", 3, "\"ready\" -> UP")
    check_eq(servers_state(es, "be", "s1")["srv_admin_state"], "0", "ready: admin state cleared")
    check(spread(port, 15).get("s1", 0) >= 3, "s1 serves again after \"ready\"")
    log_has(es, "Server be/s1 is UP (leaving forced drain).")

    # ---- D. maint / ready
    ag1.set("maint\n")
    r, _ = wait_row(es, "be", "s1", lambda r: r.get("status") == "MAINT", 3, "\"maint\" -> MAINT")
    st = servers_state(es, "be", "s1")
    check_eq((st["srv_op_state"], st["srv_admin_state"]), ("0", "1"), "maint: op state stopped, admin FMAINT")
    check_eq(spread(port, 20), {"s2": 20}, "no request to a server in maintenance")
    log_has(es, "Server be/s1 is going DOWN for maintenance.")
    n0 = ag1.accepts()
    eslib.poll_until(lambda: ag1.accepts() >= n0 + 2, 2, what="the agent polled while in maintenance")
    ag1.set("ready\n")
    wait_row(es, "be", "s1", lambda r: r.get("status") == "UP", 3, "\"ready\" after maint -> UP")
    log_has(es, "Server be/s1 is UP/READY (leaving forced maintenance).")
    check(spread(port, 15).get("s1", 0) >= 3, "s1 serves again after leaving maintenance")

    # ---- E. down / up (and what 2.6 does not parse)
    ag1.set("down#some reason\n")
    r, _ = wait_row(es, "be", "s1", lambda r: r.get("last_agt") == "agent reports an error : down#some", 3,
                    "\"down#some reason\" reported as an agent error")
    check_eq(r.get("status"), "UP", "\"down#...\" without a separator before '#' changes nothing")
    ag1.set("down #some reason\n")
    r, took = wait_row(es, "be", "s1", lambda r: r.get("status") == "DOWN (agent)", 3, "\"down #some reason\" -> DOWN")
    log(f"DOWN (agent) {took * 1000:.0f} ms after the agent's answer changed")
    check_eq((r.get("agent_status"), eslib.num(r.get("agent_code")), r.get("agent_desc"), r.get("last_agt"),
              eslib.num(r.get("agent_health")), r.get("check_status"), eslib.num(r.get("check_health"))),
             ("L7STS", 0, "Layer7 wrong status", "via agent : down (some reason)", 0, "L4OK", 3),
             "s1 DOWN by its agent: agent columns, regular check untouched")
    check_eq(servers_state(es, "be", "s1")["srv_op_state"], "0", "agent down: op state stopped")
    check_eq(spread(port, 20), {"s2": 20}, "no request to a server its agent reports down")
    log_has(es, 'Server be/s1 is DOWN, reason: Layer7 wrong status, code: 0, info: "via agent : down (some reason)"')
    ag1.set("up 100%\n")
    r, _ = wait_row(es, "be", "s1", lambda r: r.get("status") == "UP", 3, "\"up 100%\" -> UP")
    check_eq((r.get("agent_status"), r.get("agent_desc"), r.get("last_agt"), eslib.num(r.get("agent_health")),
              eslib.num(r.get("weight"))),
             ("L7OK", "Layer7 check passed", "via agent : up", 1, 100), "s1 after \"up 100%\"")
    log_has(es, 'Server be/s1 is UP, reason: Layer7 check passed, code: 0, info: "via agent : up"')
    got = spread(port, 20)
    check(9 <= got.get("s1", 0) <= 11 and 9 <= got.get("s2", 0) <= 11, f"traffic even again: {got}")
    ag1.set("up maxconn:7\n")
    wait_row(es, "be", "s1", lambda r: eslib.num(r.get("slim")) == 7, 3, "\"maxconn:7\" -> slim 7")

    # ---- F. runtime commands
    ag1.set("100%\n")  # says nothing about health from here
    wait_row(es, "be", "s1", lambda r: r.get("agent_status") == "CHECKED", 3, "the agent's neutral answer")
    check_eq(es.ctl("set server be/s1 agent down"), "\n", "answer to `set server be/s1 agent down`")
    r = row(es, "be", "s1")
    check_eq((r.get("status"), eslib.num(r.get("agent_health"))), ("DOWN (agent)", 0), "`agent down`: DOWN at once")
    log_has(es, "Server be/s1 is DOWN, changed from CLI.")
    n0 = ag1.accepts()
    eslib.poll_until(lambda: ag1.accepts() >= n0 + 3, 3, what="three agent checks after `agent down`")
    check_eq(row(es, "be", "s1")["status"], "DOWN (agent)", "an agent saying nothing about health keeps it DOWN")
    check_eq(spread(port, 10), {"s2": 10}, "`agent down`: no request to s1")
    check_eq(es.ctl("set server be/s1 agent up"), "\n", "answer to `set server be/s1 agent up`")
    check_eq(row(es, "be", "s1")["status"], "UP", "`agent up`: UP at once")
    log_has(es, "Server be/s1 is UP, changed from CLI.")
    check_eq(es.ctl("set server be/s1 agent maybe"), "'set server <srv> agent' expects 'up' or 'down'.\n\n",
             "a bad agent state")
    check_eq(es.ctl("set server bx/n agent up"), "agent checks are not enabled on this server.\n\n",
             "`agent up` on a server without an agent")

    ag1.set("down #x\n")
    wait_row(es, "be", "s1", lambda r: r.get("status") == "DOWN (agent)", 3, "the agent says down again")
    t_disable = time.monotonic()
    check_eq(es.ctl("disable agent be/s1"), "\n", "answer to `disable agent be/s1`")
    r = es.stats()[("be", "s1")]
    check(all(blank(r.get(k)) for k in ("agent_status", "agent_desc", "last_agt", "agent_health")),
          f"a disabled agent has blank columns: {brief(r)}")
    check_eq(int(servers_state(es, "be", "s1")["srv_agent_state"]) & ~1, 0x12, "srv_agent_state without ENABLED")
    wait_row(es, "be", "s1", lambda r: r.get("status") == "UP", 3,
             "the regular check brings s1 UP once its agent is disabled")
    took = time.monotonic() - t_disable
    log(f"UP {took * 1000:.0f} ms after `disable agent` (inter {INTER} ms)")
    check(took < (INTER + 500) / 1000, f"UP at the next regular check: {took:.2f}s")
    log_has(es, "Server be/s1 is UP, reason: Layer4 check passed")
    time.sleep(0.3)  # a poll started before the command may still complete
    n0 = ag1.accepts()
    time.sleep(1.0)
    check_eq(ag1.accepts() - n0, 0, "no agent connection for 1 s while the agent is disabled")
    check(spread(port, 10).get("s1", 0) >= 3, "s1 serves with its agent disabled")
    check_eq(es.ctl("enable agent be/s1"), "\n", "answer to `enable agent be/s1`")
    check_eq(int(servers_state(es, "be", "s1")["srv_agent_state"]) & ~1, 0x16, "srv_agent_state ENABLED again")
    r, _ = wait_row(es, "be", "s1", lambda r: r.get("status") == "DOWN (agent)", 3, "enabled again: the agent's down")
    check_eq(r.get("last_agt"), "via agent : down (x)", "last_agt after `enable agent`")
    ag1.set("up\n")
    wait_row(es, "be", "s1", lambda r: r.get("status") == "UP", 3, "the agent says up")

    n0 = len(ag1.received())
    check_eq(es.ctl("set server be/s1 agent-send bye"), "\n", "answer to `set server be/s1 agent-send bye`")
    eslib.poll_until(lambda: b"bye" in ag1.received()[n0:], 3, what="the new agent-send string at the agent")
    log(f"after `agent-send bye` the agent receives {ag1.received()[-1]!r}")

    check_eq(es.ctl("set weight be/s1 50%"), "\n", "answer to `set weight be/s1 50%`")
    check_eq(eslib.num(row(es, "be", "s1")["weight"]), 50, "`set weight 50%`: weight 50")
    check_eq(es.ctl("get weight be/s1"), "50 (initial 100)\n\n", "`get weight be/s1`")
    n0 = ag1.accepts()
    eslib.poll_until(lambda: ag1.accepts() >= n0 + 3, 3, what="three agent checks after `set weight`")
    check_eq(eslib.num(row(es, "be", "s1")["weight"]), 50, "an agent reporting no weight keeps the CLI's")
    ag1.set("100%\n")
    wait_row(es, "be", "s1", lambda r: eslib.num(r.get("weight")) == 100, 3, "the agent's \"100%\" overrides it")

    # ---- G. agent-addr, an agent without a regular check
    r, _ = wait_row(es, "bx", "a", lambda r: r.get("status") == "DOWN (agent)", 3, "bx/a DOWN by its agent")
    check_eq((r.get("agent_status"), r.get("last_agt")), ("L7STS", "via agent : down (via addr)"),
             "the agent at agent-addr answered for bx/a")
    check(blank(r.get("check_status")), f"bx/a has no regular check: {r.get('check_status')!r}")
    st = servers_state(es, "bx", "a")
    check_eq((st["srv_addr"], st["srv_agent_addr"], st["srv_agent_port"]), ("127.0.0.2", L, str(ag_addr.port)),
             "show servers state: server address, agent address and port")
    check(ag_addr.accepts() >= 2, f"the agent-addr agent is polled: {ag_addr.accepts()}")
    check_eq(set(ag_addr.received()), {b"bx a\n"}, "what the agent-addr agent received")
    r, _ = wait_row(es, "bx", "b", lambda r: eslib.num(r.get("weight")) == 50, 3, "bx/b weight from its agent")
    check_eq((r.get("status"), r.get("agent_status")), ("no check", "CHECKED"), "an agent without a regular check")

    # ---- I. a reload carries the agents' verdicts (edgeshard's handoff): a server its agent has
    # DOWN starts DOWN in the new process, whatever its own check says, and gets no request
    if eslib.edgeshard_only("agent state carried across a reload"):
        import reload_lib  # noqa: E402
        ag1.set("down #before the reload\n")
        wait_row(es, "be", "s1", lambda r: r.get("status") == "DOWN (agent)", 3, "s1 DOWN by its agent")
        new, _ = reload_lib.reload(h, es, [h.write("es-reload.cfg", cfg)], sock, "gen2", ports=[port])
        r = row(new, "be", "s1")
        check_eq((r.get("status"), eslib.num(r.get("agent_health"))), ("DOWN (agent)", 0),
                 "s1 DOWN by its agent at once in the new process")
        check_eq(row(new, "bx", "a").get("status"), "DOWN (agent)", "bx/a (an agent alone) DOWN at once too")
        check_eq(spread(port, 10), {"s2": 10}, "right after the reload no request goes to s1")
        time.sleep(1.0)  # its own check passes meanwhile: the agent still has it DOWN
        check_eq(row(new, "be", "s1").get("status"), "DOWN (agent)", "s1 still DOWN by its agent")
        ag1.set("up\n")
        wait_row(new, "be", "s1", lambda r: r.get("status") == "UP", 3, "s1 UP once its agent says up")
        reload_lib.wait_exit(es, 15, "the old process")
        es = new

    # ---- H. agent-check without agent-port
    bad = h.write("bad-agent.cfg", eslib.http_defaults() + eslib.section("backend b", f"""
        server v {L}:{s1.port} agent-check"""))
    lineno = next(i + 1 for i, ln in enumerate(open(bad).read().splitlines()) if "agent-check" in ln)
    rc = h.run_cmd([h.bin, "-c", "-f", bad])
    log(f"agent-check without agent-port: exit {rc.returncode}: {rc.stderr.strip()[-300:]!r}")
    check(rc.returncode != 0, "agent-check without agent-port is refused")
    check(f"bad-agent.cfg:{lineno}" in rc.stderr and "agent port" in rc.stderr,
          f"the error names file:line and the agent port: {rc.stderr!r}")


if __name__ == "__main__":
    eslib.run_http(main)
