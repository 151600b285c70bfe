#!/usr/bin/env python3
"""Basic authentication against a userlist: `http-request auth realm R unless { http_auth(L) }`
with a plain (`insecure-password`) user and a crypt (`password $6$...`, made with
`openssl passwd -6`) user:
  - no credentials -> 401 with exactly one `WWW-Authenticate: Basic realm="R"`, origin untouched;
  - good credentials for either user -> 200 from the origin;
  - wrong password, unknown user, garbage credentials, another scheme -> 401;
  - a proxy request (absolute-form target) -> 407 with `Proxy-Authenticate: Basic realm="R"`
    and no WWW-Authenticate; with Proxy-Authorization carrying good credentials -> 200;
  - with `errorfile 401 <file>` whose file has its own WWW-Authenticate, the reply has the file's
    body and headers and exactly ONE WWW-Authenticate: ours.
"""
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib"))
import eslib  # noqa: E402
import fixture  # noqa: E402
from eslib import check, check_eq, log  # noqa: E402

CUSTOM_BODY = b"<html>please log in (custom page)</html>\n"
CUSTOM_401 = (b"HTTP/1.1 401 Unauthorized\r\n"
              b"Content-Type: text/html\r\n"
              b"WWW-Authenticate: Basic realm=\"from-the-file\"\r\n"
              b"X-Custom-401: yes\r\n"
              b"Content-Length: %d\r\n"
              b"\r\n" % len(CUSTOM_BODY)) + CUSTOM_BODY


def basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def main(h):
    openssl = eslib.require_tool("openssl")
    cp = subprocess.run([openssl, "passwd", "-6", "secret2"], capture_output=True, text=True, timeout=10)
    check(cp.returncode == 0 and cp.stdout.startswith("$6$"), f"openssl passwd -6 failed: {cp.stderr!r}")
    bob_hash = cp.stdout.strip()
    fe_custom = eslib.free_port()
    f401 = h.path("custom401.http")
    with open(f401, "wb") as f:
        f.write(CUSTOM_401)
    px = fixture.proxy_to_origin(
        h, fe_lines="http-request auth realm R unless { http_auth(L) }", ports=[fe_custom],
        sections_before=eslib.section("userlist L", f"""
            user alice insecure-password secret1
            user bob password {bob_hash}"""),
        sections_after=eslib.section("frontend fe_custom", f"""
            bind {eslib.LOCALHOST}:{fe_custom}
            errorfile 401 {f401}
            http-request auth realm R unless {{ http_auth(L) }}
            default_backend be"""))
    origin, fe = px.origin, px.fe

    # ---- no credentials
    r = eslib.http_get(fe, "/private")
    check_eq(r.status, 401, f"no credentials ({r.brief()})")
    check_eq(r.headers_named("WWW-Authenticate"), ['Basic realm="R"'], "WWW-Authenticate headers of the 401")
    check_eq(r.headers_named("Proxy-Authenticate"), [], "Proxy-Authenticate on a 401")
    check_eq(origin.request_count(), 0, "requests at the origin without credentials")

    # ---- good credentials
    for user, pw in (("alice", "secret1"), ("bob", "secret2")):
        r = eslib.http_get(fe, f"/private/{user}", headers=[("Authorization", basic(user, pw))])
        check_eq((r.status, r.header("X-Origin")), (200, "s1"), f"good credentials for {user} ({r.brief()})")
    check_eq(origin.request_count(), 2, "requests at the origin after two authenticated requests")
    log("alice (insecure-password) and bob (crypt $6$) accepted")

    # ---- bad credentials
    bad = [("wrong password", basic("alice", "nope")), ("crypt user, wrong password", basic("bob", "secret1")),
           ("unknown user", basic("mallory", "secret1")), ("garbage", "Basic !!!notbase64"),
           ("no colon", "Basic " + base64.b64encode(b"alicesecret1").decode()),
           ("other scheme", "Bearer abc")]
    for what, value in bad:
        r = eslib.http_get(fe, "/private", headers=[("Authorization", value)])
        check_eq(r.status, 401, f"{what}: status ({r.brief()})")
        check_eq(r.headers_named("WWW-Authenticate"), ['Basic realm="R"'], f"{what}: WWW-Authenticate")
    check_eq(origin.request_count(), 2, "requests at the origin after bad credentials")
    log("bad credentials refused with 401")

    # ---- proxy request: 407
    if eslib.edgeshard_only("absolute-form request -> 407 + Proxy-Authenticate (HAProxy 2.6 answers 401 "
                            "with WWW-Authenticate to an absolute-form request)"):
        r = eslib.http_get(fe, "http://test.local/private")
        check_eq(r.status, 407, f"absolute-form request without credentials ({r.brief()})")
        check_eq(r.headers_named("Proxy-Authenticate"), ['Basic realm="R"'], "Proxy-Authenticate of the 407")
        check_eq(r.headers_named("WWW-Authenticate"), [], "WWW-Authenticate on a 407")
        r = eslib.http_get(fe, "http://test.local/private/proxy",
                           headers=[("Proxy-Authorization", basic("alice", "secret1"))])
        check_eq(r.status, 200, f"absolute-form request with Proxy-Authorization ({r.brief()})")
        log("proxy request: 407 with Proxy-Authenticate, then 200 with Proxy-Authorization")

    # ---- custom 401 page with its own challenge
    r = eslib.http_get(fe_custom, "/private")
    check_eq(r.status, 401, f"custom 401 ({r.brief()})")
    check_eq(r.body, CUSTOM_BODY, "custom 401 body")
    check_eq(r.header("X-Custom-401"), "yes", "custom 401 header from the file")
    check_eq(r.headers_named("WWW-Authenticate"), ['Basic realm="R"'],
             "WWW-Authenticate headers of the custom 401 (exactly one, the configured realm)")
    r = eslib.http_get(fe_custom, "/private/ok", headers=[("Authorization", basic("bob", "secret2"))])
    check_eq(r.status, 200, f"good credentials on the frontend with the custom 401 ({r.brief()})")
    check(not origin.errors, f"origin errors: {origin.errors}")


if __name__ == "__main__":
    eslib.run_http(main)
