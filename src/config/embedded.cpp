// The configuration edgeshard uses when started without -f.
#include "edgeshard/config/parser.hpp"

namespace es::config {

const char* const kEmbeddedDefault = R"(# edgeshard embedded default configuration (used when no -f is given).
#
# A self-contained demo: a TCP frontend on 127.0.0.1:8080 forwards to the built-in demo origin that
# edgeshard itself runs on 127.0.0.1:8081 (es.demo-origin), so "curl http://127.0.0.1:8080/" works with
# no file and no other process. The control socket listens on /tmp/edgeshard.sock (try
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
)";

}  // namespace es::config
