// edgeshard: boot only. Parse the command line, load and check the configuration, start the
// data shards, then become the control shard until SIGINT/SIGTERM.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "edgeshard/config/parser.hpp"
#include "edgeshard/http/rules.hpp"
#include "edgeshard/log/access_log.hpp"
#include "edgeshard/stats/render.hpp"
#include "edgeshard/control/control_shard.hpp"
#include "edgeshard/core/version.hpp"
#include "edgeshard/origin/demo_origin.hpp"
#include "edgeshard/shard/probe.hpp"
#include "edgeshard/shard/runtime.hpp"

namespace {

void usage(FILE* out) {
    std::fprintf(out,
                 "Usage: edgeshard [-f CONFIG]... [-c] [-v] [-q]\n"
                 "  -f FILE   load a configuration file (repeatable, read in order); without -f the\n"
                 "            embedded default configuration runs (a TCP proxy on 127.0.0.1:8080 in front of\n"
                 "            the built-in demo origin on 127.0.0.1:8081, control socket /tmp/edgeshard.sock)\n"
                 "  -c        check the configuration and exit (0 valid, 1 invalid)\n"
                 "  -v        print the version and the io_uring tier this kernel supports\n"
                 "  -q        quiet: no warnings on stderr\n"
                 "  -db, -d   accepted for HAProxy compatibility (edgeshard always runs in the foreground)\n"
                 "  -x SOCKET, -sf PID...  reserved for zero-downtime reload (not available yet)\n");
}

int fail(const std::string& msg) {
    std::fprintf(stderr, "edgeshard: %s\n", msg.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> files;
    bool check = false, quiet = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-f") {
            if (++i >= argc) return fail("-f needs a file name");
            files.emplace_back(argv[i]);
        } else if (a == "-c") {
            check = true;
        } else if (a == "-q") {
            quiet = true;
        } else if (a == "-v" || a == "-vv" || a == "--version") {
            std::printf("%s version %s\n", es::kProduct, es::kVersion);
            const es::shard::ProbeResult p = es::shard::probe_io_uring();
            if (p.ok) std::printf("io_uring tier: %s (%s)\n", p.tier.c_str(), p.details.c_str());
            else std::printf("io_uring tier: none: %s\n", p.error.c_str());
            return 0;
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else if (a == "-db" || a == "-d" || a == "-Ws" || a == "-W") {
            // foreground is the only mode
        } else if (a == "-x" || a == "-sf" || a == "-st") {
            return fail(a + " is reserved for zero-downtime reload, which this version does not provide yet");
        } else {
            usage(stderr);
            return fail("unknown option '" + a + "'");
        }
    }

    std::shared_ptr<es::config::Config> cfg;
    try {
        cfg = std::make_shared<es::config::Config>(files.empty() ? es::config::load_text(es::config::kEmbeddedDefault)
                                                                 : es::config::load_files(files));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        if (check) std::fprintf(stderr, "Configuration file has errors\n");
        return 1;
    }
    if (!quiet)
        for (const auto& w : cfg->warnings) std::fprintf(stderr, "[WARNING] %s\n", w.c_str());
    // access-log formats compile once here, so a bad one is reported with its place before anything starts
    for (const auto& fe : cfg->frontends) {
        if (fe.log_format.empty()) continue;
        try {
            es::log::Format f(fe.log_format);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s:%d: frontend '%s': log-format: %s\n", fe.where.file.c_str(), fe.where.line,
                         fe.name.c_str(), e.what());
            if (check) std::fprintf(stderr, "Configuration file has errors\n");
            return 1;
        }
        if (fe.logs.empty() && !quiet)
            std::fprintf(stderr, "[WARNING] %s:%d: frontend '%s' has a log format but no log target: nothing is logged\n",
                         fe.where.file.c_str(), fe.where.line, fe.name.c_str());
    }
    if (check) {
        std::printf("Configuration file is valid\n");
        return 0;
    }

    // SIGINT/SIGTERM are taken by the control shard through a signalfd; blocked before any thread
    // starts so every shard inherits the mask. SIGPIPE never kills us (sends use MSG_NOSIGNAL;
    // this covers splice and the control socket).
    // a shell starts background jobs with SIGINT ignored, and an ignored signal never reaches a
    // signalfd: restore the default disposition before blocking
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    const int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) return fail(std::string("signalfd: ") + std::strerror(errno));

    std::unique_ptr<es::origin::DemoOrigin> origin;
    es::shard::Runtime rt(cfg);
    try {
        if (!cfg->global.demo_origin.empty()) {
            const auto addr = es::config::parse_addr(cfg->global.demo_origin);
            if (!addr) return fail("es.demo-origin: bad address '" + cfg->global.demo_origin + "'");
            origin = std::make_unique<es::origin::DemoOrigin>(*addr);
            origin->start();
        }
        // pages served by data shards (`stats uri`, the prometheus-exporter service)
        rt.page_renderer = [&rt](int kind, std::string_view uri, std::string_view target, std::string& ctype) {
            const es::stats::Snapshot snap = es::control::runtime_snapshot(rt);
            std::string out;
            if (kind == 1) {
                es::stats::render_prometheus(snap, out);
                ctype = es::stats::kPrometheusContentType;
            } else {
                int refresh = 0;
                for (const auto& fe : rt.config().frontends)
                    if (fe.stats.enabled && fe.stats.uri == uri) refresh = int(fe.stats.refresh / 1000);
                ctype = es::stats::render_stats_page(snap, uri, target, refresh, out);
            }
            return out;
        };
        (void)es::http::error_reply(400, nullptr, nullptr);  // builds the built-in reply table before the shards run
        rt.start();
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    std::string cpus;
    for (std::size_t i = 0; i < rt.shard_count(); ++i)
        cpus += (i ? "," : "") + std::to_string(rt.shard_info(i).cpu);
    std::fprintf(stderr, "edgeshard[%d]: ready: %zu shards (CPUs %s), io_uring tier %s, maxconn %d\n", int(getpid()),
                 rt.shard_count(), cpus.c_str(), rt.tier().c_str(), rt.global_maxconn());

    int rc = 0;
    try {
        es::control::ControlShard ctl(rt);
        ctl.run(sfd);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "edgeshard: %s\n", e.what());
        rc = 1;
    }
    rt.stop();
    if (origin) origin->stop();
    close(sfd);
    return rc;
}
