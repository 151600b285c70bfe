"""The set-up most cases share: a client -> frontend -> backend -> origin, in one call.

    px = fixture.proxy_to_origin(h)                 # mode http: an http_origin and the proxy
    r = eslib.http_get(px.fe, "/")
    px.proxy.stat("be", "s1", "stot")

proxy_to_origin() starts the origin (an http_origin.Origin in mode http, an eslib.EchoServer in
mode tcp), or takes the server object or port it is given; takes a frontend port from the kernel;
writes this configuration

    global            nbthread, maxconn, stats socket <tmp>/<sock> level admin, global_lines
    defaults          mode, timeout connect/client/server, defaults_lines
    sections_before   (userlist, http-errors ...)
    frontend <fe>     bind 127.0.0.1:<fe port>, fe_lines, default_backend <be>
    backend <be>      balance (when given), be_lines, server <server_name> 127.0.0.1:<origin port> server_opts
    sections_after    (more frontends ...)

and starts the proxy under test, returning once it serves: through eslib.start_proxy (edgeshard,
or HAProxy when ES_TEST_PEER=haproxy), or always edgeshard with peer=False (cases that measure
edgeshard itself, or that are not peer cases). Unset timeouts and nbthread take the mode's usual
values (MODE_DEFAULTS, the same as eslib.http_defaults/http_global and
eslib.defaults_section/global_section).

Everything is registered with the harness, which stops it by PID when the test ends whatever
happens; stop(), or leaving a `with proxy_to_origin(...) as px:` block, stops the proxy (by PID)
and the origin it started earlier, for cases that run several set-ups in turn.
"""

import dataclasses

import eslib
import http_origin

L = eslib.LOCALHOST

MODE_DEFAULTS = {
    "http": {"nbthread": 1, "connect": "1s", "client": "5s", "server": "5s"},
    "tcp": {"nbthread": 2, "connect": "2s", "client": "10s", "server": "10s"},
}


@dataclasses.dataclass
class ProxyToOrigin:
    """What proxy_to_origin() started: `origin` (the server object, or None when given a port),
    `origin_port`, `fe` (the frontend port), `sock` (control socket path), `config` (the text)
    and `proxy` (the eslib.Edgeshard or peer process)."""

    origin: object
    origin_port: int
    fe: int
    sock: str
    config: str
    proxy: eslib.Edgeshard
    owns_origin: bool = False

    def stop(self):
        """Stops the proxy by its PID (SIGTERM, then SIGKILL) and the origin if it started it;
        returns the proxy's exit status."""
        status = self.proxy.stop()
        if self.owns_origin:
            self.origin.stop()
        return status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def proxy_to_origin(h, mode="http", origin=None, *, origin_opts=None, server_name="s1",
                    server_opts="", fe="fe", be="be", fe_lines="", be_lines="", balance=None,
                    nbthread=None, maxconn=2000, global_lines="", connect=None, client=None,
                    server=None, defaults_lines="", sections_before="", sections_after="",
                    ports=(), sock="es.sock", name=None, peer=True):
    """Starts origin, writes the config and starts the proxy (see the module doc). `origin`: None
    (start the mode's origin, named server_name unless origin_opts says otherwise, with
    `origin_opts`), a server object with `.port`, or a port.
    `ports`: more listening ports (of sections_after) to wait for. Returns a ProxyToOrigin."""
    if mode not in MODE_DEFAULTS:
        raise eslib.Failure(f"proxy_to_origin: mode {mode!r} is neither 'http' nor 'tcp'")
    d = MODE_DEFAULTS[mode]
    owns_origin = origin is None
    if owns_origin:
        opts = {"name": server_name, **(origin_opts or {})}  # X-Origin names the server
        origin = http_origin.start(h, **opts) if mode == "http" else h.echo_server(**opts)
    origin_port = origin if isinstance(origin, int) else origin.port
    fe_port = eslib.free_port()
    sock_path = h.sock_path(sock)
    backend = [f"balance {balance}"] if balance else []
    backend += [be_lines, f"server {server_name} {L}:{origin_port} {server_opts}".rstrip()]
    config = (eslib.global_section(sock_path, nbthread=nbthread or d["nbthread"], maxconn=maxconn,
                                   extra=global_lines)
              + eslib.defaults_section(connect=connect or d["connect"], client=client or d["client"],
                                       server=server or d["server"], extra=defaults_lines, mode=mode)
              + sections_before
              + eslib.section(f"frontend {fe}", f"bind {L}:{fe_port}\n{fe_lines}\ndefault_backend {be}")
              + eslib.section(f"backend {be}", "\n".join(backend))
              + sections_after)
    listen = [fe_port, *ports]
    if peer:
        proxy = eslib.start_proxy(h, config, ports=listen, sock=sock_path, name=name)
    else:
        proxy = h.edgeshard(config, ports=listen, sock=sock_path, name=name)
    return ProxyToOrigin(None if isinstance(origin, int) else origin, origin_port, fe_port, sock_path, config,
                         proxy, owns_origin)
