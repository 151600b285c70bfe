// The configuration edgeshard uses when started without -f.
#include "edgeshard/config/parser.hpp"

namespace es::config {

const char* const kEmbeddedDefault = R"(# edgeshard embedded default configuration (used when no -f is given).
#
# A self-contained demo: a TCP frontend on 127.0.0.1:8080 and an HTTP frontend on 127.0.0.1:8082 forward
# to the built-in demo origin that edgeshard itself runs on 127.0.0.1:8081 (es.demo-origin), so
# "curl http://127.0.0.1:8080/" and "curl http://127.0.0.1:8082/" work with no file and no other process.
# The HTTP frontend logs each request to stdout (option httplog) and serves its statistics at
# http://127.0.0.1:8082/stats (HTML; /stats;csv) and http://127.0.0.1:8082/metrics (Prometheus). The control socket listens on /tmp/edgeshard.sock (try
# "edgeshardctl show info"). Everything binds to loopback only. Write your own file and pass it with -f
# (HAProxy syntax; see src/config/README.md for the supported subset).
global
    stats socket /tmp/edgeshard.sock mode 600 level admin
    es.demo-origin 127.0.0.1:8081

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend demo
    bind 127.0.0.1:8080
    default_backend demo_origin

backend demo_origin
    balance roundrobin
    server origin1 127.0.0.1:8081

frontend demo_http
    mode http
    bind 127.0.0.1:8082
    log stdout format raw local0
    option httplog
    option forwardfor
    timeout http-request 10s
    stats enable
    stats uri /stats
    http-request use-service prometheus-exporter if { path /metrics }
    default_backend demo_origin_http

backend demo_origin_http
    mode http
    server origin1 127.0.0.1:8081
)";

}  // namespace es::config
