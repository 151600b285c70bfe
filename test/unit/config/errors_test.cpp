// Every error path of the proxy sections and the whole-config checks: file:line and the key words.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>

#include "helpers.hpp"

using es::config::test::error_of;
using es::config::test::expect_error;
using es::config::test::kTail;
using es::config::test::load;

namespace {

// kTail (10 lines) followed by a frontend (line 11) whose body starts at line 12.
std::string in_frontend(const std::string& lines) {
    return kTail + "frontend f\n    bind 127.0.0.1:20000\n    default_backend tail_be\n" + lines;
}
constexpr int kFrontendLine = 14;  // first line of in_frontend's lines

// kTail followed by a backend (line 11): its lines start at line 12.
std::string in_backend(const std::string& lines) {
    return kTail + "backend b\n" + lines;
}
constexpr int kBackendLine = 12;

}  // namespace

TEST_CASE("errors: unknown keywords with a hint") {
    expect_error(in_frontend("    timout client 1s\n"), kFrontendLine,
                 {"unknown keyword 'timout' in 'frontend' section", "did you mean 'timeout'?"});
    expect_error(in_backend("    balnce roundrobin\n"), kBackendLine,
                 {"unknown keyword 'balnce' in 'backend' section", "did you mean 'balance'?"});
    expect_error("defaults\n    retires 3\n" + kTail, 2,
                 {"unknown keyword 'retires' in 'defaults' section", "did you mean 'retries'?"});
    expect_error(kTail + "listen l\n    bind 127.0.0.1:1\n    servr s 127.0.0.1:2\n", 13,
                 {"unknown keyword 'servr' in 'listen' section", "did you mean 'server'?"});
    expect_error(in_frontend("    default-backend b\n"), kFrontendLine, {"did you mean 'default_backend'?"});
    expect_error(in_frontend("    zzzzzz\n"), kFrontendLine,
                 {"unknown keyword 'zzzzzz' in 'frontend' section"});
    CHECK(error_of(in_frontend("    zzzzzz\n")).find("did you mean") == std::string::npos);
}

TEST_CASE("errors: keyword outside any section") {
    expect_error("maxconn 10\n" + kTail, 1, {"'maxconn' appears outside any section"});
    expect_error("fronted web\n" + kTail, 1,
                 {"'fronted' appears outside any section", "did you mean 'frontend'?"});
}

TEST_CASE("errors: bad values and missing arguments") {
    expect_error(in_frontend("    maxconn abc\n"), kFrontendLine,
                 {"'maxconn' expects a positive integer, got 'abc'"});
    expect_error(in_frontend("    maxconn\n"), kFrontendLine,
                 {"'maxconn' expects a positive integer, got nothing"});
    expect_error(in_frontend("    maxconn 1 2\n"), kFrontendLine,
                 {"unexpected argument '2' after 'maxconn'"});
    expect_error(in_frontend("    mode udp\n"), kFrontendLine, {"'mode' expects tcp or http, got 'udp'"});
    expect_error(in_frontend("    mode\n"), kFrontendLine, {"'mode' expects tcp or http, got nothing"});
    expect_error(in_frontend("    mode health\n"), kFrontendLine, {"'mode health' was removed"});
    // every keyword HAProxy 2.6 names as removed says so, with its replacement, and is never suggested
    expect_error(in_frontend("    reqrep ^Host:\\ x Host:\\ y\n"), kFrontendLine,
                 {"'reqrep' was removed in HAProxy 2.1", "'http-request replace-header'"});
    expect_error(in_frontend("    reqipass ^X\n"), kFrontendLine, {"'reqipass' was removed", "remove it"});
    expect_error(in_backend("    rspideny ^Server\n"), kBackendLine, {"'rspideny' was removed", "'http-response deny'"});
    expect_error(in_backend("    redispatch\n"), kBackendLine, {"'redispatch' was removed", "'option redispatch'"});
    expect_error(in_backend("    appsession JSESSIONID len 52\n"), kBackendLine, {"'appsession' was removed in HAProxy 1.6"});
    expect_error(in_frontend("    monitor-net 10.0.0.0/8\n"), kFrontendLine, {"'monitor-net' was removed in HAProxy 2.4"});
    expect_error(in_frontend("    option forceclose\n"), kFrontendLine, {"'option forceclose' was removed in HAProxy 2.0"});
    expect_error(in_frontend("    option http-tunnel\n"), kFrontendLine, {"'option http-tunnel' was removed"});
    CHECK(error_of(in_frontend("    reqadd2 X\n")).find("did you mean") == std::string::npos);
    CHECK(error_of(in_frontend("    rspdenyy X\n")).find("did you mean 'rspdeny'") == std::string::npos);
    expect_error(in_frontend("    backlog -5\n"), kFrontendLine,
                 {"'backlog' expects a positive integer, got '-5'"});
    expect_error(in_frontend("    default_backend\n"), kFrontendLine,
                 {"'default_backend' expects a backend name"});
    expect_error(in_frontend("    use_backend\n"), kFrontendLine, {"'use_backend' expects a backend name"});
    expect_error(in_backend("    retries -1\n"), kBackendLine,
                 {"'retries' expects a non-negative integer, got '-1'"});
    expect_error(in_backend("    hash-type consistant\n"), kBackendLine,
                 {"'hash-type' expects map-based or consistent", "did you mean 'consistent'?"});
    expect_error(in_backend("    hash-type consistent md5\n"), kBackendLine, {"only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions, got 'md5'"});
    expect_error(in_backend("    option redispatch x\n"), kBackendLine,
                 {"'option redispatch' expects an integer"});
    expect_error(in_backend("    no\n"), kBackendLine, {"'no' must be followed by 'option' or 'log'"});
}

TEST_CASE("errors: timeouts") {
    expect_error(in_frontend("    timeout clinet 1s\n"), kFrontendLine,
                 {"unknown keyword 'timeout clinet' in 'frontend' section", "did you mean 'client'?"});
    expect_error(in_frontend("    timeout client 1x\n"), kFrontendLine,
                 {"'timeout client' expects a time", "got '1x'"});
    expect_error(in_frontend("    timeout client\n"), kFrontendLine,
                 {"'timeout client' expects a time", "nothing"});
    expect_error(in_frontend("    timeout client -1s\n"), kFrontendLine, {"'timeout client' expects a time"});
    expect_error(in_frontend("    timeout client 25d\n"), kFrontendLine,
                 {"timer overflow in '25d'", "2147483647"});
    expect_error(in_frontend("    timeout\n"), kFrontendLine, {"'timeout' expects a timeout name"});
    expect_error(in_frontend("    contimeout 5s\n"), kFrontendLine,
                 {"'contimeout'", "use 'timeout connect'"});
}

TEST_CASE("errors: options") {
    expect_error(in_frontend("    option tcplgo\n"), kFrontendLine,
                 {"unknown option 'tcplgo' in 'frontend' section", "did you mean 'tcplog'?"});
    expect_error(in_frontend("    option transparent\n"), kFrontendLine,
                 {"'option transparent' is not supported"});
    expect_error(in_frontend("    option nolinger\n"), kFrontendLine, {"'option nolinger' is not supported"});
    expect_error(in_frontend("    no option bogus\n"), kFrontendLine, {"unknown option 'bogus'"});
    expect_error(in_frontend("    option\n"), kFrontendLine, {"'option' expects an option name"});
}

TEST_CASE("errors: balance") {
    expect_error(
        in_backend("    balance url_param id\n"), kBackendLine,
        {"balance algorithm 'url_param' is not supported", "supported: roundrobin, leastconn, source"});
    expect_error(in_backend("    balance hdr(host) use_domain_only\n"), kBackendLine,
                 {"use_domain_only' is not supported"});
    expect_error(in_backend("    balance hdr()\n"), kBackendLine, {"'balance hdr' expects a header name"});
    expect_error(in_backend("    balance uri depth x\n"), kBackendLine,
                 {"'balance uri depth' expects a positive"});
    expect_error(in_backend("    balance uri sideways\n"), kBackendLine,
                 {"'balance uri': unknown option 'sideways'"});
    expect_error(in_backend("    balance random(0)\n"), kBackendLine, {"number of draws from 1 to 100"});
    expect_error(in_backend("    balance static-rr\n"), kBackendLine, {"'static-rr' is not supported"});
    expect_error(in_backend("    balance roundrobbin\n"), kBackendLine,
                 {"unknown balance algorithm 'roundrobbin'", "did you mean 'roundrobin'?"});
    expect_error(in_backend("    balance\n"), kBackendLine, {"'balance' expects an algorithm"});
    expect_error(in_backend("    balance source extra\n"), kBackendLine, {"unexpected argument 'extra'"});
}

TEST_CASE("errors: use_backend with an unknown ACL or a dynamic name") {
    expect_error(in_frontend("    use_backend tail_be unless local\n"), kFrontendLine,
                 {"no such ACL 'local' in frontend 'f'"});
    expect_error(in_frontend("    use_backend tail_be extra\n"), kFrontendLine,
                 {"unexpected argument 'extra' after 'use_backend tail_be'"});
    // a dynamic name is read per request; its sample expression is checked at load
    expect_error(in_frontend("    use_backend %[req.hdr(host),map_foo(x.map)]\n"), kFrontendLine,
                 {"unknown converter 'map_foo'"});
    expect_error(in_frontend("    use_backend %[req.hdr(host),map(/nonexistent/x.map)]\n"), kFrontendLine,
                 {"invalid args in converter 'map' : failed to open pattern file </nonexistent/x.map>"});
    expect_error(in_frontend("    default_backend be_%[src]\n"), kFrontendLine, {"dynamic backend names"});
}

TEST_CASE("errors: refused proxy keywords") {
    expect_error(in_frontend("    tcp-request session reject if { req.len gt 0 }\n"), kFrontendLine,
                 {"'tcp-request session' rule", "'req.len'", "would never match"});
    expect_error(in_frontend("    tcp-response content reject\n"), kFrontendLine,
                 {"tcp-response content is only allowed in 'backend' sections or 'defaults' section with a name"});
    expect_error(in_frontend("    http-after-response deny\n"), kFrontendLine,
                 {"'http-after-response' expects 'add-header', 'allow'", "but got 'deny'"});
    expect_error(in_frontend("    compression algo gzip\n"), kFrontendLine,
                 {"'compression' is not supported"});
    expect_error(in_backend("    stick-table type ip\n"), kBackendLine, {"stick-table: missing size"});
    expect_error(in_backend("    stick-table size 1m\n"), kBackendLine, {"stick-table: missing type"});
    expect_error(in_backend("    stick-table type ip size 1m store gpc(2),gpc0\n"), kBackendLine,
                 {"simultaneous usage of 'gpc' and 'gpc[0/1]'"});
    expect_error(in_backend("    stick-table type ip size 1m store gpc_rate(2)\n"), kBackendLine,
                 {"missing argument to store option 'gpc_rate'"});
    expect_error(in_backend("    stick-table type ip size 1m store http_req_rate\n"), kBackendLine,
                 {"missing argument to store option 'http_req_rate'"});
    expect_error(in_backend("    stick-table type ip size 1m store conn_cnt(10s)\n"), kBackendLine,
                 {"unexpected argument to store option 'conn_cnt'"});
    expect_error(in_backend("    stick-table type ipv4 size 1m\n"), kBackendLine, {"unknown type 'ipv4'"});
    expect_error(in_backend("    stick on src\n"), kBackendLine, {"'stick on'", "has no stick-table"});
    expect_error(in_frontend("    disabled\n"), kFrontendLine, {"'disabled' is not supported"});
    expect_error(in_backend("    stats admin TRUE\n"), kBackendLine,
                 {"'stats admin' requires either 'if' or 'unless' followed by a condition"});
    expect_error(in_backend("    source 10.0.0.1\n"), kBackendLine, {"'source' is not supported"});
    // server-template is read (resolvers_test.cpp): an unresolvable name fails at its line, as HAProxy's
    expect_error(in_backend("    server-template s 3 a.invalid:80\n"), kBackendLine,
                 {"server 'b/s1'", "could not resolve address 'a.invalid'"});
}

TEST_CASE("errors: keywords in the wrong section") {
    expect_error(in_backend("    bind :80\n"), kBackendLine, {"'bind' is not allowed in 'backend' section"});
    expect_error(in_backend("    use_backend x\n"), kBackendLine,
                 {"'use_backend' is not allowed in 'backend' section"});
    expect_error(in_backend("    default_backend x\n"), kBackendLine,
                 {"'default_backend' is not allowed in 'backend' section"});
    expect_error(in_frontend("    server s 127.0.0.1:1\n"), kFrontendLine,
                 {"'server' is not allowed in 'frontend' section"});
    expect_error(in_frontend("    default-server weight 2\n"), kFrontendLine,
                 {"'default-server' is not allowed in 'frontend' section"});
    expect_error("defaults\n    bind :80\n" + kTail, 2, {"'bind' is not allowed in 'defaults' section"});
    expect_error("defaults\n    server s 127.0.0.1:1\n" + kTail, 2,
                 {"'server' is not allowed in 'defaults' section"});
    expect_error("defaults\n    use_backend x\n" + kTail, 2,
                 {"'use_backend' is not allowed in 'defaults' section"});
    expect_error("global\n    bind :80\n" + kTail, 2, {"unknown keyword 'bind' in 'global' section"});
}

TEST_CASE("errors: bind") {
    // mode tcp terminates TLS too: the certificate is what is missing here
    expect_error(in_frontend("    bind :443 ssl crt /nonexistent/site.pem\n"), kFrontendLine,
                 {"cannot load certificate '/nonexistent/site.pem'"});
    expect_error(in_frontend("    bind :443 crt /etc/site.pem\n"), kFrontendLine,
                 {"TLS options without 'ssl'"});
    expect_error(in_frontend("    bind :443 ssl\n"), kFrontendLine, {"needs a certificate", "crt"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem npn h2\n"), kFrontendLine, {"'npn' is obsolete", "alpn"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem verify sometimes\n"), kFrontendLine,
                 {"'verify' expects none, optional or required, got 'sometimes'"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem ca-ignore-err X509_V_ERR_NOPE\n"), kFrontendLine,
                 {"'ca-ignore-err': unknown error ID 'X509_V_ERR_NOPE'"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem ktls yes\n"), kFrontendLine,
                 {"'ktls': expects 'on' or 'off', not 'yes'"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem ktls\n"), kFrontendLine, {"'ktls'", "'on' or 'off'"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem generate-certificates\n"), kFrontendLine,
                 {"'generate-certificates' is not supported yet"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem generate-certificates\n"), kFrontendLine,
                 {"'generate-certificates' is not supported yet"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem ssl-min-ver TLSv9\n"), kFrontendLine,
                 {"unknown version 'TLSv9'"});
    expect_error(in_frontend("    bind :443 ssl crt /x.pem alpn h2,,http/1.1\n"), kFrontendLine,
                 {"empty protocol name"});
    // an HTTP frontend loads its certificates while the configuration is checked
    expect_error(kTail + "frontend web\n    mode http\n    bind 127.0.0.1:20443 ssl crt /nonexistent/site.pem\n"
                         "    default_backend hb\nbackend hb\n    mode http\n    server s 127.0.0.1:1\n",
                 13, {"cannot load certificate '/nonexistent/site.pem'"});
    expect_error("global\n    crt-base /nonexistent-base\n" + kTail +
                     "frontend web\n    mode http\n    bind 127.0.0.1:20443 ssl crt site.pem\n"
                     "    default_backend hb\nbackend hb\n    mode http\n    server s 127.0.0.1:1\n",
                 15, {"'/nonexistent-base/site.pem'"});
    expect_error("global\n    ssl-default-bind-options no-tlsv99\n" + kTail, 2,
                 {"'ssl-default-bind-options': option 'no-tlsv99' is not supported"});
    expect_error(in_frontend("    bind :81 accept-netscaler-cip\n"), kFrontendLine,
                 {"'accept-netscaler-cip' is not supported", "NetScaler"});
    expect_error(in_frontend("    bind :81 maxconn 10\n"), kFrontendLine,
                 {"'maxconn' is not supported", "use the frontend's 'maxconn'"});
    expect_error(in_frontend("    bind :81 v6olny\n"), kFrontendLine,
                 {"unknown 'bind' option 'v6olny'", "did you mean 'v6only'?"});
    expect_error(in_frontend("    bind :81 v6only v4v6\n"), kFrontendLine, {"contradict"});
    expect_error(in_frontend("    bind :81 backlog\n"), kFrontendLine,
                 {"'backlog' expects a positive integer"});
    expect_error(in_frontend("    bind\n"), kFrontendLine, {"'bind' expects one or more addresses"});
    expect_error(in_frontend("    bind /run/web.sock\n"), kFrontendLine, {"unix socket path"});
    expect_error(in_frontend("    bind unix@web.sock\n"), kFrontendLine, {"is not a TCP address"});
    expect_error(in_frontend("    bind quic4@:443\n"), kFrontendLine,
                 {"unsupported address prefix 'quic4@'"});
    expect_error(in_frontend("    bind 127.0.0.1\n"), kFrontendLine, {"'bind': '127.0.0.1' has no port"});
    expect_error(in_frontend("    bind www.example.com:80\n"), kFrontendLine,
                 {"not a numeric IPv4 or IPv6 address", "no DNS"});
    expect_error(in_frontend("    bind 127.0.0.1:0\n"), kFrontendLine, {"invalid port '0'"});
    expect_error(in_frontend("    bind 127.0.0.1:70000\n"), kFrontendLine, {"invalid port '70000'"});
    expect_error(in_frontend("    bind 127.0.0.1:90-80\n"), kFrontendLine, {"invalid port range '90-80'"});
    expect_error(in_frontend("    bind 127.0.0.1:1-2000\n"), kFrontendLine, {"wider than 1024 ports"});
    expect_error(in_frontend("    bind :81,,:82\n"), kFrontendLine, {"empty address"});
    expect_error(in_frontend("    bind ipv4@[::1]:81\n"), kFrontendLine,
                 {"does not match its family prefix"});
}

TEST_CASE("errors: server lines") {
    expect_error(in_backend("    server s1\n"), kBackendLine, {"'server s1' expects an address ADDR:PORT"});
    expect_error(in_backend("    server\n"), kBackendLine, {"'server' expects a name and an address"});
    expect_error(in_backend("    server s1 127.0.0.1:1\n    server s1 127.0.0.1:2\n"), kBackendLine + 1,
                 {"server 'b/s1' is already declared at t.cfg:12"});
    expect_error(in_backend("    server s/1 127.0.0.1:1\n"), kBackendLine, {"invalid server name 's/1'"});
    // a name no resolver is asked for (a label of 64 bytes: HAProxy refuses it the same way)
    expect_error(in_backend("    server s1 " + std::string(64, 'a') + ".test:5432\n"), kBackendLine,
                 {"server 'b/s1': could not resolve address", "init-addr"});
    // a server without a port is reached on the client's port: checking it needs `port`
    expect_error(in_backend("    server s1 10.0.0.1 check\n"), kBackendLine,
                 {"backend 'b': server 's1' has neither service port nor check port"});
    expect_error(in_backend("    server s1 10.0.0.1:+1 check inter 1s\n"), kBackendLine,
                 {"has neither service port nor check port"});
    expect_error(in_backend("    server s1 10.0.0.1:+x\n"), kBackendLine, {"'server s1'"});
    expect_error(in_backend("    server s1 127.0.0.1:1 weight 300\n"), kBackendLine,
                 {"'weight' expects an integer from 0 to 256, got '300'"});
    expect_error(in_backend("    server s1 127.0.0.1:1 weight\n"), kBackendLine,
                 {"'weight' expects", "nothing"});
    expect_error(in_backend("    server s1 127.0.0.1:1 maxconn -1\n"), kBackendLine, {"'maxconn' expects"});
    expect_error(in_backend("    server s1 127.0.0.1:1 wieght 3\n"), kBackendLine,
                 {"unknown server option 'wieght'", "did you mean 'weight'?"});
    expect_error(in_backend("    server s1 127.0.0.1:1 check rise 0\n"), kBackendLine,
                 {"'rise' expects a positive integer, got '0'"});
    expect_error(in_backend("    server s1 127.0.0.1:1 check inter 0\n"), kBackendLine,
                 {"'inter' expects a positive time, got '0'"});
    expect_error(in_backend("    server s1 127.0.0.1:1 check addr nowhere\n"), kBackendLine,
                 {"'addr' expects an IPv4 or IPv6 address"});
    expect_error(in_backend("    server s1 127.0.0.1:1 check port 70000\n"), kBackendLine, {"'port' expects"});
    expect_error(in_backend("    http-check expect rstring ([a-z\n"), kBackendLine,
                 {"'http-check expect rstring': invalid regular expression '([a-z'"});
    expect_error(in_backend("    http-check expect status 2xx\n"), kBackendLine,
                 {"'http-check expect status' expects status codes or ranges"});
    expect_error(in_backend("    http-check expect hdr name x\n"), kBackendLine,
                 {"'http-check expect hdr' is not supported in this version"});
    expect_error(in_backend("    http-check expect stauts 200\n"), kBackendLine,
                 {"unknown 'http-check expect' match 'stauts'", "did you mean 'status'?"});
    expect_error(in_backend("    http-check send uri-lf /%[src]\n"), kBackendLine, {"'http-check send uri-lf'"});
    expect_error(in_backend("    option httpchk GET health\n"), kBackendLine, {"the URI must start with '/'"});
    expect_error(in_backend("    tcp-check send-binary 0g\n"), kBackendLine,
                 {"'tcp-check send-binary' expects an even number of hexadecimal digits"});
    expect_error(in_backend("    tcp-check expect strnig x\n"), kBackendLine,
                 {"unknown 'tcp-check expect' match 'strnig'", "did you mean 'string'?"});
    expect_error(in_backend("    tcp-check expect on-error %[res.payload(0,0)] string x\n"), kBackendLine,
                 {"'on-error' with a log-format expression is not supported"});
    expect_error(in_backend("    tcp-check send x\n    tcp-check connect port 2\n"), kBackendLine + 1,
                 {"'tcp-check connect' after the first step is not supported"});
    expect_error(in_backend("    option smtpchk FOO x\n"), kBackendLine, {"'option smtpchk' expects 'HELO <domain>'"});
    // mode tcp reaches servers over TLS too, but has no request header to take the SNI from
    expect_error(in_backend("    server s1 127.0.0.1:1 ssl verify none sni req.hdr(host)\n"), kBackendLine,
                 {"'sni req.hdr(host)' reads a request header", "'mode tcp' backend"});
    expect_error(in_backend("    server s1 127.0.0.1:1 ssl verify maybe\n"), kBackendLine,
                 {"'verify' expects 'none' or 'required', got 'maybe'"});
    expect_error(in_backend("    server s1 127.0.0.1:1 ssl verify none sni bogus(x)\n"), kBackendLine,
                 {"'sni bogus(x)'", "str(<name>), req.hdr(<name>)"});
    expect_error(in_backend("    mode http\n    server s1 127.0.0.1:1 ssl\n"), kBackendLine + 1,
                 {"needs 'ca-file", "verify none"});
    expect_error(in_backend("    mode http\n    server s1 127.0.0.1:1 ssl verify required ca-file /nonexistent/ca.pem\n"),
                 kBackendLine + 1, {"cannot load CA file '/nonexistent/ca.pem'"});
    expect_error(in_backend("    mode http\n    server s1 127.0.0.1:1 ssl verify none alpn h3\n"), kBackendLine + 1,
                 {"alpn 'h3'"});
    // force-tlsv1x is a version range of one: it loads; a misspelt one is named
    expect_error(in_backend("    server s1 127.0.0.1:1 ssl force-tlsv14\n"), kBackendLine,
                 {"unknown server option 'force-tlsv14'", "did you mean 'force-tlsv1"});
    expect_error(in_backend("    server s1 127.0.0.1:1 send-proxy-v2 proxy-v2-options crc32c,authorty\n"), kBackendLine,
                 {"'proxy-v2-options' expects", "got 'authorty'", "did you mean 'authority'"});
    expect_error(in_backend("    server s1 127.0.0.1:1 send-proxy-v2 proxy-v2-options cert-sig\n"), kBackendLine,
                 {"'proxy-v2-options cert-sig' is not supported", "supported: ssl, cert-cn"});
    expect_error(in_backend("    server s1 127.0.0.1:1 check inter soon\n"), kBackendLine,
                 {"'inter' expects a time", "'soon'"});
    expect_error(in_backend("    default-server weight 999\n"), kBackendLine,
                 {"'weight' expects an integer"});
}

TEST_CASE("errors: section headers and duplicate names") {
    expect_error("frontend\n" + kTail, 1, {"'frontend' section needs a name"});
    expect_error("backend bad/name\n" + kTail, 1, {"invalid backend name 'bad/name'"});
    expect_error("backend b extra\n" + kTail, 1, {"unexpected argument 'extra'"});
    expect_error("global extra\n" + kTail, 1, {"unexpected argument 'extra' after 'global'"});
    expect_error(kTail + "backend tail_be\n", 11,
                 {"backend 'tail_be' has the same name as backend 'tail_be' declared at t.cfg:9"});
    expect_error(kTail + "frontend tail_fe\n    bind :1\n", 11,
                 {"frontend 'tail_fe' has the same name as frontend"});
    expect_error(kTail + "listen tail_be\n    bind :1\n", 11,
                 {"listen 'tail_be' has the same name as backend"});
    // a frontend and a backend may share a name, as in HAProxy
    CHECK(error_of(kTail + "backend tail_fe\n") == "<no error>");
}

TEST_CASE("errors: references between proxies") {
    expect_error(kTail + "frontend f\n    bind :1\n    default_backend nope\n", 13,
                 {"'default_backend' names unknown backend 'nope'", "frontend 'f'"});
    expect_error(kTail + "frontend f\n    bind :1\n    default_backend tail_ba\n", 13,
                 {"unknown backend 'tail_ba'", "did you mean 'tail_be'?"});
    expect_error(kTail + "frontend f\n    bind :1\n    use_backend tail_fe\n", 13,
                 {"'use_backend' names unknown backend 'tail_fe'", "'tail_fe' is a frontend, not a backend"});
    // inherited from defaults: the error points at the defaults line that named it
    expect_error("defaults\n    default_backend ghost\nfrontend f\n    bind :1\n", 2,
                 {"unknown backend 'ghost'"});
}

TEST_CASE("errors: a frontend must use backends of its mode") {
    expect_error(kTail + "frontend web\n    mode http\n    bind :1\n    default_backend tail_be\n", 14,
                 {"frontend 'web' (mode http) cannot use backend 'tail_be' (mode tcp", "declared at t.cfg:9",
                  "which a mode tcp backend cannot take"});
    // the reverse is HAProxy's upgrade to HTTP: served when the http backend is the frontend's only one
    const auto up = load(kTail + "backend app\n    mode http\nfrontend f\n    bind :1\n    use_backend app\n");
    REQUIRE(up.frontends.size() == 2);
    CHECK(up.frontends[1].mode == es::config::Mode::Http);
    CHECK(up.frontends[1].tcp_to_http);
    CHECK_FALSE(up.frontends[0].tcp_to_http);
    // its http rules act then (HAProxy runs them on the upgraded streams): no "ignored" warning; forwardfor and
    // monitor-uri are dropped from any tcp frontend (HAProxy's), and a tcp frontend's rules are warned ignored
    const auto rules = load(kTail + "backend app\n    mode http\nfrontend f\n    bind :1\n"
                                    "    http-request set-header X-A b\n    option forwardfor\n    monitor-uri /m\n"
                                    "    use_backend app\n");
    CHECK(rules.frontends[1].http.request_rules.size() == 1);
    CHECK_FALSE(rules.frontends[1].http.forwardfor);
    CHECK(rules.frontends[1].monitor_uri.empty());
    CHECK_FALSE(es::config::test::has_warning(rules, {"'http-request' rules"}));
    CHECK(es::config::test::has_warning(rules, {"t.cfg:16: 'option forwardfor' of frontend 'f' is ignored: it needs 'mode http'"}));
    CHECK(es::config::test::has_warning(rules, {"t.cfg:17: 'monitor-uri' of frontend 'f' is ignored"}));
    const auto plain = load(kTail + "frontend f\n    bind :1\n    http-request set-header X-A b\n"
                                    "    default_backend tail_be\n");
    CHECK(es::config::test::has_warning(plain, {"t.cfg:13: 'http-request' rules of frontend 'f' are ignored: they need 'mode http'"}));
    // picked by content rules beside a tcp backend: the L4 session hands such connections over (tcp_upgrades)
    const auto dyn = load(kTail + "backend app\n    mode http\nfrontend f\n    bind :1\n    tcp-request inspect-delay 1s\n"
                                  "    tcp-request content accept if HTTP\n    use_backend app if HTTP\n"
                                  "    default_backend tail_be\n");
    CHECK(dyn.frontends[1].mode == es::config::Mode::Tcp);
    CHECK(dyn.frontends[1].tcp_upgrades);
    CHECK_FALSE(dyn.frontends[1].tcp_to_http);
    // a backend name built per connection may be an http backend's: upgraded then, so the rules act
    const auto named = load(kTail + "backend app\n    mode http\nfrontend f\n    bind :1\n"
                                    "    http-request set-header X-A b\n    use_backend %[str(app)]\n");
    CHECK(named.frontends[1].tcp_upgrades);
    CHECK(named.frontends[1].tcp_route_cond);
    CHECK_FALSE(es::config::test::has_warning(named, {"'http-request' rules"}));
    const auto tcp_only = load(kTail + "frontend f\n    bind :1\n    use_backend %[str(tail_be)]\n");
    CHECK_FALSE(tcp_only.frontends[1].tcp_upgrades);
    expect_error(kTail + "listen web\n    bind :1\n    mode http\n    default_backend tail_be\n", 14,
                 {"(mode http) cannot use backend 'tail_be' (mode tcp"});
}

TEST_CASE("errors: whole-config checks") {
    const auto lonely = load(kTail + "frontend lonely\n    mode tcp\n");  // (HAProxy loads it, serving nothing)
    CHECK(lonely.frontends.size() == 1);
    CHECK(es::config::test::has_warning(lonely, {"t.cfg:11: frontend 'lonely' has no 'bind' directive: it serves nothing"}));
    expect_error(kTail + "frontend f2\n    bind 127.0.0.1:10001\n", 12,
                 {"address 127.0.0.1:10001 is already bound by frontend 'tail_fe' at t.cfg:7"});
    expect_error("global\n    maxconn 10\nbackend b\n    server s 127.0.0.1:1\n", 4,
                 {"no frontend or listen section with a 'bind' line"});
    expect_error("", 1, {"nothing to serve"});
}

TEST_CASE("warnings from the whole-config checks") {
    const auto cfg = load(kTail +
                          "frontend f\n    bind :1\n    use_backend tail_be\n    use_backend tail_be\n"
                          "frontend nowhere\n    bind :2\n");
    CHECK(es::config::test::has_warning(cfg, {"t.cfg:14: this 'use_backend' is never used", "t.cfg:13"}));
    CHECK(es::config::test::has_warning(
        cfg, {"t.cfg:15: frontend 'nowhere' has neither 'default_backend' nor 'use_backend'"}));
}

TEST_CASE("errors: crt-list lines are named with the bind's line") {
    char tmpl[] = "/tmp/es-crtlist-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    auto write = [&](const std::string& body) {
        FILE* f = std::fopen((dir + "/list.txt").c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs(body.c_str(), f);
        std::fclose(f);
        return dir + "/list.txt";
    };
    const std::string fe = "frontend web\n    mode http\n    bind 127.0.0.1:20443 ssl crt-list ";
    const std::string be = "\n    default_backend hb\nbackend hb\n    mode http\n    server s 127.0.0.1:1\n";
    std::string list = write("# comment\n\n/nope/a.pem [no-tls-tickets] a.test\n");
    expect_error(kTail + fe + list + be, 13, {"crt-list '" + list + "' line 3: unknown option 'no-tls-tickets'"});
    list = write("/nope/a.pem [ocsp-update on] a.test\n");
    expect_error(kTail + fe + list + be, 13, {"line 1: option 'ocsp-update' is not supported in a crt-list yet"});
    list = write("/nope/a.pem [alpn http/1.1 a.test\n");
    expect_error(kTail + fe + list + be, 13, {"line 1: missing ']'"});
    list = write("/nope/a.pem [verify sometimes] a.test\n");
    expect_error(kTail + fe + list + be, 13, {"line 1: 'verify' expects none, optional or required"});
    list = write("/nope/a.pem *.a.test\n");
    expect_error(kTail + fe + list + be, 13, {list + ":1: cannot load certificate '/nope/a.pem'"});
    list = write("# nothing\n");
    expect_error(kTail + fe + list + be, 13, {"lists no certificate"});
    expect_error(kTail + fe + dir + "/missing.txt" + be, 13, {"'crt-list': cannot read"});
    std::remove((dir + "/list.txt").c_str());
    ::rmdir(dir.c_str());
}
